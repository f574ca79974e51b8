// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Lookup across layers (the kernel's namei.c).
 *
 * A name is looked up in the upper directory first, then in each lower
 * directory of the parent's merge stack, top down.  The search stops at
 * a whiteout (the name is gone), at a non-directory (it hides everything
 * below; a non-directory under a directory just ends the stack) and
 * after an opaque directory.  A directory with an overlay.redirect
 * continues the search below under another name: relative redirects in
 * the same parents, absolute ones from the roots of the lower layers.
 *
 * An upper non-directory that was copied up carries overlay.origin, the
 * file handle of its lower object.  Its identity is that lower object's,
 * so st_ino does not change at copy-up, nor after a remount.  An upper
 * file with overlay.metacopy holds only metadata: its data is the file
 * below it (find_metacopy_data).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs.h"
#include "log.h"
#include "metacopy.h"
#include "stack.h"
#include "xattr.h"

/* Search NAME below DIR's lower layers, into F (see stack.h). */
static int find_lower(struct lfs *lfs, struct lfs_inode *dir,
		      const char *name, struct lfs_found *f,
		      struct stack_walk *w)
{
	struct stack_set set = { .n = f->nlower, .objs = f->lower };
	int err;

	err = stack_find(lfs->roots, lfs->nlayers, dir->lower, dir->nlower,
			 name, f->upper >= 0, &set, w);
	f->lower = set.objs;
	f->nlower = set.n;
	if (f->upper < 0)
		f->st = set.st;
	return err;
}

void lfs_found_free(struct lfs_found *f)
{
	int i;

	if (f->upper >= 0)
		close(f->upper);
	for (i = 0; i < f->nlower; i++)
		close(f->lower[i].fd);
	free(f->lower);
	f->upper = -1;
	f->nlower = 0;
	f->lower = NULL;
}

int lfs_name_ok(const char *name)
{
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * The identity of the upper non-directory F->upper: its origin's, when
 * it has one that can be found.  The same name below is tried first
 * (cheap, and works without privileges); then, as root, the handle is
 * decoded on each lower filesystem.  A copy of a lower hard link that is
 * not in the index (made by the kernel without index=on) is a file of
 * its own: it keeps its upper identity, as on the kernel.
 */
static void resolve_origin(struct lfs *lfs, struct lfs_inode *dir,
			   const char *name, struct lfs_found *f)
{
	struct lfs_found low = { .upper = -1 };
	struct stack_walk w = { 0 };
	unsigned int nlink;
	struct fh fh;
	struct stat st;

	if (lfs_origin_get(f->upper, &fh) < 0)
		return;
	f->indexed = lfs_nlink_get(f->upper, &nlink) == 0;
	if (!find_lower(lfs, dir, name, &low, &w) && low.nlower &&
	    !S_ISDIR(low.st.st_mode) && lfs_origin_matches(&fh, low.lower[0].fd)) {
		f->lower = low.lower;
		f->nlower = 1;
		free(w.redirect);
		return; /* lfs_find() makes the key */
	}
	lfs_found_free(&low);
	free(w.redirect);
	if (!lfs_origin_decode(lfs, &fh, &st) &&
	    (st.st_mode & S_IFMT) == (f->st.st_mode & S_IFMT) &&
	    (st.st_nlink == 1 || f->indexed)) {
		f->key.dev = st.st_dev;
		f->key.ino = st.st_ino;
	}
}

/*
 * The data of the metadata-only upper file F->upper, NAME in DIR: the
 * regular file below it, by the kernel's rule (lib/metacopy.h: its own
 * redirect if it has one, and past metacopy files further down).  -EIO
 * when there is none, as on the kernel.
 */
static int find_metacopy_data(struct lfs *lfs, struct lfs_inode *dir,
			      const char *name, struct lfs_found *f)
{
	struct stack_obj file = { 0, f->upper }, data;
	struct stat st;
	int err, i;

	err = metacopy_find(lfs->roots, lfs->nlayers, dir->lower, dir->nlower,
			    name, &file, &data, &st);
	if (err) {
		fuse_log(FUSE_LOG_WARNING, "layerfs: %s: %s\n", name,
			 err == -ENODATA ? METACOPY_NO_DATA : strerror(-err));
		return err == -ENODATA ? -EIO : err;
	}
	for (i = 0; i < f->nlower; i++) /* what resolve_origin() found */
		close(f->lower[i].fd);
	free(f->lower);
	f->lower = malloc(sizeof(*f->lower));
	if (!f->lower) {
		close(data.fd);
		f->nlower = 0;
		return -ENOMEM;
	}
	f->lower[0] = data;
	f->nlower = 1;
	f->metacopy = true;
	return 0;
}

/*
 * Find NAME in directory DIR.  On success F holds the real objects and
 * the key; the caller owns them (lfs_found_free or lfs_inode_get).
 * -ENOENT when the name is absent or hidden.
 */
int lfs_find(struct lfs *lfs, struct lfs_inode *dir, const char *name,
	     struct lfs_found *f)
{
	struct stack_walk w = { 0 };
	int udir = lfs_upper_fd(dir), err, r, flags;

	memset(f, 0, sizeof(*f));
	f->upper = -1;
	if (wh_is_marker_name(name))
		return -ENOENT;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;

	if (udir >= 0) {
		r = stack_find_one(udir, name, &f->upper, &f->st);
		if (r < 0) {
			f->upper = -1;
			return r;
		}
		if (r == 0) {
			f->upper = -1;
		} else if (!S_ISDIR(f->st.st_mode)) {
			resolve_origin(lfs, dir, name, f);
			if (S_ISREG(f->st.st_mode) && f->st.st_size > 0 &&
			    wh_is_metacopy(f->upper)) {
				err = find_metacopy_data(lfs, dir, name, f);
				if (err) {
					lfs_found_free(f);
					return err;
				}
			}
			goto done;
		} else {
			flags = wh_dir_flags(f->upper);
			if (flags > 0 && (flags & WH_DIR_OPAQUE))
				goto done;
			if (flags > 0 && (flags & WH_DIR_REDIRECT) &&
			    !wh_get_redirect(f->upper, &w.redirect)) {
				w.absolute = w.redirect[0] == '/';
				w.next_layer = lfs->has_upper;
				f->redirected = true;
			}
		}
	}
	err = find_lower(lfs, dir, name, f, &w);
	free(w.redirect);
	if (err) {
		lfs_found_free(f);
		return err;
	}
done:
	if (f->upper < 0 && !f->nlower)
		return -ENOENT;
	/* a lower file with several names may have its copy in the index */
	if (f->upper < 0 && f->nlower && !S_ISDIR(f->st.st_mode) &&
	    f->st.st_nlink > 1) {
		int fd = lfs_index_open(lfs, &f->lower[0]);

		if (fd >= 0) {
			f->upper = fd;
			f->indexed = true;
		}
	}
	if (f->key.ino == 0) {
		struct stat st;

		if (!f->nlower || f->upper < 0)
			st = f->st;
		else if (fstatat(f->lower[0].fd, "", &st, AT_EMPTY_PATH) < 0) {
			err = -errno;
			lfs_found_free(f);
			return err;
		}
		/* a copy of a lower hard link outside the index: its own */
		if (f->nlower && f->upper >= 0 && !S_ISDIR(st.st_mode) &&
		    st.st_nlink > 1 && !f->indexed)
			st = f->st;
		f->key.dev = st.st_dev;
		f->key.ino = st.st_ino;
	}
	return 0;
}

/*
 * What DIR's lower layers hold under NAME, whatever the upper holds:
 * LOWER_POSITIVE, LOWER_WHITEOUT (a whiteout hides it) or LOWER_ABSENT.
 */
int lfs_lower_state(struct lfs *lfs, struct lfs_inode *dir, const char *name)
{
	struct lfs_found f = { .upper = -1 };
	struct stack_walk w = { 0 };
	int state;

	if (find_lower(lfs, dir, name, &f, &w))
		state = LOWER_POSITIVE; /* when in doubt, hide it */
	else if (f.nlower)
		state = LOWER_POSITIVE;
	else
		state = w.whiteout ? LOWER_WHITEOUT : LOWER_ABSENT;
	lfs_found_free(&f);
	free(w.redirect);
	return state;
}

/*
 * Look NAME up in DIR and fill E for the kernel, raising the inode's
 * lookup count.  0 or -errno.
 */
int lfs_lookup_inode(struct lfs *lfs, struct lfs_inode *dir, const char *name,
		     struct fuse_entry_param *e)
{
	struct lfs_found f;
	int err;

	err = lfs_find(lfs, dir, name, &f);
	if (err)
		return err;
	return lfs_entry(lfs, dir, name, &f, e);
}

void lfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lfs *lfs = lfs_of(req);
	struct fuse_entry_param e;
	int err;

	err = lfs_name_ok(name);
	if (!err)
		err = lfs_lookup_inode(lfs, lfs_inode(lfs, parent), name, &e);
	if (err == -ENOENT) {
		/* a cached miss: the kernel drops it when it creates NAME */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = lfs->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_entry(req, &e);
}
