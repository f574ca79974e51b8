// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * File handles, origins and the index (the kernel's export.c and the
 * index parts of namei.c and copy_up.c).
 *
 * overlay.origin holds the file handle of the lower object an upper one
 * was copied from, in the kernel's struct ovl_fb form.  A lower file with
 * several names is copied up once, into WORK/index/<hex of its origin>,
 * and every name of it in the upper layer is a hard link of that copy:
 * the names stay one file across copy-up and remounts, as on the kernel
 * with index=on.  Its link count as the mount shows it is kept in
 * overlay.nlink, relative to the upper inode's own ("U-1"), because the
 * upper inode also counts the index entry and lacks the lower names not
 * linked yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fh.h"
#include "layerfs.h"
#include "procfd.h"
#include "xattr.h"

int lfs_origin_encode(struct lfs *lfs, int layer, int fd, struct fh *out)
{
	return fh_encode(fd, lfs->layers[layer].uuid, out);
}

int lfs_origin_set(struct lfs *lfs, int layer, int lower, int upper)
{
	struct fh fh;

	if (lfs_origin_encode(lfs, layer, lower, &fh))
		return 0; /* no file handles here: no origin */
	return xat_set(upper, wh_xattr(lfs->ns, "origin"), fh.buf, fh.len, 0);
}

int lfs_origin_get(int fd, struct fh *fh)
{
	ssize_t n = xat_get(fd, "trusted.overlay.origin", fh->buf,
			    sizeof(fh->buf));

	if (n < 0)
		n = xat_get(fd, "user.overlay.origin", fh->buf,
			    sizeof(fh->buf));
	if (n < (ssize_t)sizeof(struct ovl_fb) ||
	    ((struct ovl_fb *)fh->buf)->magic != OVL_FH_MAGIC ||
	    ((struct ovl_fb *)fh->buf)->len != n)
		return -ENODATA;
	fh->len = n;
	return 0;
}

bool lfs_origin_matches(const struct fh *fh, int fd)
{
	const struct ovl_fb *fb = (const struct ovl_fb *)fh->buf;
	size_t n = fb->len - sizeof(*fb);
	struct fh_handle h;

	if (fh_handle_of(fd, &h))
		return false;
	return h.fh.handle_type == fb->type && h.fh.handle_bytes == n &&
	       !memcmp(h.fh.f_handle, fb->fid, n);
}

int lfs_origin_decode(struct lfs *lfs, const struct fh *fh,
		      struct stat *st)
{
	const struct ovl_fb *fb = (const struct ovl_fb *)fh->buf;
	struct fh_handle h;
	int i, fd, err;

	h.fh.handle_bytes = fb->len - sizeof(*fb);
	h.fh.handle_type = fb->type;
	memcpy(h.fh.f_handle, fb->fid, h.fh.handle_bytes);
	for (i = lfs->has_upper; i < lfs->nlayers; i++) {
		if (lfs->layers[i].handle_fd < 0 ||
		    memcmp(lfs->layers[i].uuid, fb->uuid, 16))
			continue;
		fd = open_by_handle_at(lfs->layers[i].handle_fd, &h.fh,
				       O_PATH | O_CLOEXEC);
		if (fd < 0)
			continue;
		err = fstatat(fd, "", st, AT_EMPTY_PATH) ? -errno : 0;
		close(fd);
		if (!err && st->st_dev != lfs->layers[i].dev)
			err = -ESTALE;
		return err;
	}
	return -ESTALE;
}

/* The index entry's name: the origin in hex, as the kernel names it. */
static int index_name(struct lfs *lfs, int layer, int lower,
		      char name[2 * FH_MAX + 1])
{
	struct fh fh;
	int err;

	err = lfs_origin_encode(lfs, layer, lower, &fh);
	if (!err)
		fh_hex(&fh, name);
	return err;
}

int lfs_index_open(struct lfs *lfs, const struct stack_obj *lower)
{
	char name[2 * FH_MAX + 1];
	int fd, err;

	if (lfs->index_fd < 0)
		return -ENOENT;
	err = index_name(lfs, lower->layer, lower->fd, name);
	if (err)
		return err;
	fd = openat(lfs->index_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int lfs_index_publish(struct lfs *lfs, const struct stack_obj *lower,
		      int dirfd, const char *tmp, bool tmpfile)
{
	char name[2 * FH_MAX + 1], p[32];
	int err;

	if (lfs->index_fd < 0)
		return -EOPNOTSUPP;
	err = index_name(lfs, lower->layer, lower->fd, name);
	if (err)
		return err;
	if (tmpfile) {
		proc_fd_path(p, dirfd);
		if (linkat(AT_FDCWD, p, lfs->index_fd, name,
			   AT_SYMLINK_FOLLOW) < 0)
			return -errno;
	} else if (renameat2(dirfd, tmp, lfs->index_fd, name,
			     RENAME_NOREPLACE) < 0) {
		return -errno;
	}
	err = openat(lfs->index_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return err < 0 ? -errno : err;
}

int lfs_nlink_get(int upper, unsigned int *nlink)
{
	char buf[32];
	struct stat st;
	ssize_t n;
	long add;
	char *end;

	n = xat_get(upper, "trusted.overlay.nlink", buf, sizeof(buf) - 1);
	if (n < 0)
		n = xat_get(upper, "user.overlay.nlink", buf, sizeof(buf) - 1);
	if (n < 0)
		return n;
	buf[n] = '\0';
	/* "L" counts from the lower inode, which only metacopy uses */
	if (buf[0] != 'U' || (buf[1] != '+' && buf[1] != '-'))
		return -EINVAL;
	add = strtol(buf + 1, &end, 10);
	if (*end || fstatat(upper, "", &st, AT_EMPTY_PATH) < 0)
		return -EINVAL;
	if ((long)st.st_nlink + add < 0)
		return -EINVAL;
	*nlink = st.st_nlink + add;
	return 0;
}

int lfs_nlink_set(struct lfs *lfs, int upper, unsigned int nlink)
{
	struct stat st;
	char buf[32];
	int n;

	if (fstatat(upper, "", &st, AT_EMPTY_PATH) < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "U%+ld", (long)nlink - (long)st.st_nlink);
	return xat_set(upper, wh_xattr(lfs->ns, "nlink"), buf, n, 0);
}
