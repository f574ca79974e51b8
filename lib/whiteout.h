/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The on-disk format of layers: the single source of truth for what a
 * whiteout and an opaque directory are.  The daemon and every tool read
 * markers through this module, so they can never disagree.
 *
 * Read, in every dialect (layerfs.5):
 *   whiteout  char device 0/0 NAME; empty regular file .wh.NAME; 0-size
 *             regular file with {trusted,user}.overlay.whiteout in a
 *             directory whose overlay.opaque is "x"
 *   opaque    {trusted,user}.overlay.opaque=y, user.fuseoverlayfs.opaque=y,
 *             a file .wh..wh..opq in the directory
 *   redirect  {trusted,user}.overlay.redirect on a directory (and on a
 *             metacopy file, naming where its data is)
 *   metacopy  {trusted,user}.overlay.metacopy on a regular file (any
 *             value: empty, or the kernel's versioned struct): only its
 *             metadata is here, its data is the same path (or its
 *             redirect) in the layers below, the first that is not
 *             metacopy itself
 * Written: char 0/0 whiteouts, overlay.opaque=y and overlay.redirect in
 * the namespace chosen at mount (trusted as root, user otherwise).
 */
#ifndef LFS_WHITEOUT_H
#define LFS_WHITEOUT_H

#include <stdbool.h>
#include <sys/stat.h>

#define WH_PREFIX ".wh."
#define WH_PREFIX_LEN 4
#define WH_OPQ_NAME ".wh..wh..opq"

/* Namespace of the overlay xattrs we write. */
enum wh_ns { WH_NS_TRUSTED, WH_NS_USER };

/* Directory flags read by wh_dir_flags(). */
enum {
	WH_DIR_OPAQUE = 1 << 0,	  /* nothing below this dir shows */
	WH_DIR_XWHITEOUTS = 1 << 1, /* may hold xattr whiteouts ("x") */
	WH_DIR_REDIRECT = 1 << 2, /* carries an overlay.redirect */
};

/* A char device 0/0: the kernel's whiteout. */
static inline bool wh_is_chr_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == 0;
}

/* NAME is an AUFS/OCI marker (".wh.X" or ".wh..wh..opq"). */
static inline bool wh_is_marker_name(const char *name)
{
	return name[0] == '.' && name[1] == 'w' && name[2] == 'h' &&
	       name[3] == '.';
}

/*
 * Does the object FD (any kind of fd, O_PATH included) with stat ST,
 * found in a directory with flags DIRFLAGS, hide what lies below?
 * Covers the char 0/0 and the xattr forms; .wh.NAME is a name lookup
 * (wh_has_wh_file).
 */
bool wh_is_whiteout(int fd, const struct stat *st, int dirflags);

/* Does DIRFD hold an OCI whiteout file ".wh.NAME"? */
bool wh_has_wh_file(int dirfd, const char *name);

/* Opaque/xattr-whiteout/redirect flags of directory FD, or -errno. */
int wh_dir_flags(int fd);

/* Make a char 0/0 whiteout NAME in DIRFD.  0 or -errno. */
int wh_make(int dirfd, const char *name);

/* Mark directory FD opaque in namespace NS.  0 or -errno. */
int wh_set_opaque(int fd, enum wh_ns ns);

/* The full xattr name "<ns>.overlay.<what>" for writing. */
const char *wh_xattr(enum wh_ns ns, const char *what);

/* Is the regular file FD a metadata-only copy (see above)? */
bool wh_is_metacopy(int fd);

/*
 * The redirect of directory FD (either namespace) as a malloc'ed string
 * in *OUT; -ENODATA when it has none.
 */
int wh_get_redirect(int fd, char **out);

#endif
