// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Extended attributes through the mount (the kernel's xattrs.c).  Reads
 * come from the topmost real object; a change copies up first.  The
 * overlay's own names (xat_is_private) are never listed, read as absent
 * (ENODATA, as on the kernel's overlayfs) and cannot be set or removed
 * (EOPNOTSUPP): a forged redirect or origin could otherwise expose other
 * files.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs.h"
#include "xattr.h"

void lfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  size_t size)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *inode;
	char *buf = NULL;
	ssize_t n;
	int fd;

	if (xat_is_private(name)) {
		fuse_reply_err(req, ENODATA); /* hidden: as if absent */
		return;
	}
	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	inode = lfs_inode(lfs, ino);
	fd = lfs_real_get(lfs, inode);
	n = fd < 0 ? fd : xat_get(fd, name, buf, size);
	lfs_real_put(inode, fd);
	if (n < 0)
		fuse_reply_err(req, -n);
	else if (size)
		fuse_reply_buf(req, buf, n);
	else
		fuse_reply_xattr(req, n);
	free(buf);
}

void lfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *inode;
	char *list, *name, *out;
	size_t len = 0, l;
	ssize_t n;
	int fd;

	inode = lfs_inode(lfs, ino);
	fd = lfs_real_get(lfs, inode);
	n = fd < 0 ? fd : xat_list(fd, &list);
	lfs_real_put(inode, fd);
	if (n < 0) {
		fuse_reply_err(req, -n);
		return;
	}
	out = list; /* filter in place */
	for (name = list; name < list + n; name += l) {
		l = strlen(name) + 1;
		if (xat_is_private(name))
			continue;
		memmove(out + len, name, l);
		len += l;
	}
	if (!size)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, out, len);
	free(list);
}

void lfs_setxattr(fuse_req_t req, fuse_ino_t ino_, const char *name,
		  const char *value, size_t size, int flags)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	int err;

	if (xat_is_private(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	err = lfs_copy_up(lfs, ino, LFS_COPY_META);
	if (!err)
		err = xat_set(lfs_upper_fd(ino), name, value, size, flags);
	fuse_reply_err(req, -err);
}

void lfs_removexattr(fuse_req_t req, fuse_ino_t ino_, const char *name)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	int err, fd;

	if (xat_is_private(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	/* nothing to copy up for a name the file does not have */
	fd = lfs_real_get(lfs, ino);
	err = fd < 0 ? fd : (int)xat_get(fd, name, NULL, 0);
	lfs_real_put(ino, fd);
	if (err == -ENODATA || (err < 0 && fd < 0)) {
		fuse_reply_err(req, -err);
		return;
	}
	err = lfs_copy_up(lfs, ino, LFS_COPY_META);
	if (!err)
		err = xat_remove(lfs_upper_fd(ino), name);
	fuse_reply_err(req, -err);
}
