// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The table of FUSE operations, and init, which asks the kernel for
 * what makes a union of immutable layers fast: opens without us,
 * splice, readdirplus, parallel directory operations, cached symlinks,
 * large requests.
 */
#include "layerfs.h"

static void lfs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct lfs *lfs = userdata;

	/*
	 * Opens cost a round trip each and layers never change under us:
	 * let the kernel open files and directories alone (file.c).
	 */
	lfs->no_open = conn->capable & FUSE_CAP_NO_OPEN_SUPPORT;
	lfs->no_opendir = conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT;
	/*
	 * Without an open of ours, open(O_TRUNC) must reach us as a
	 * truncation (setattr), which copies up without the data.  The
	 * kernel drops it when it thinks open did it (atomic_o_trunc).
	 */
	if (!lfs->no_open && (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC))
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	else
		conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* we drop setuid and setgid bits ourselves (lfs_kill_suid) */
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV)
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* permission checks honour ACLs, as on the kernel's overlayfs */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	/* the kernel must not cache data of a file across our copy-up */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
}

/*
 * Requests that may change the upper layer run under lfs->freeze (read),
 * so that a commit of the live mount can pause them (control.c).
 */
#define PAUSABLE(op, params, args)                        \
	static void paused_##op params                      \
	{                                                   \
		struct lfs *lfs = lfs_of(req);              \
                                                            \
		pthread_rwlock_rdlock(&lfs->freeze);        \
		lfs_##op args;                              \
		pthread_rwlock_unlock(&lfs->freeze);        \
	}

PAUSABLE(setattr, (fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi),
	 (req, ino, attr, to_set, fi))
PAUSABLE(mknod, (fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev),
	 (req, parent, name, mode, rdev))
PAUSABLE(mkdir, (fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode),
	 (req, parent, name, mode))
PAUSABLE(unlink, (fuse_req_t req, fuse_ino_t parent, const char *name),
	 (req, parent, name))
PAUSABLE(rmdir, (fuse_req_t req, fuse_ino_t parent, const char *name),
	 (req, parent, name))
PAUSABLE(symlink, (fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name),
	 (req, link, parent, name))
PAUSABLE(rename, (fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname,
		  unsigned int flags),
	 (req, parent, name, newparent, newname, flags))
PAUSABLE(link, (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname),
	 (req, ino, newparent, newname))
PAUSABLE(open, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	 (req, ino, fi))
PAUSABLE(create, (fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi),
	 (req, parent, name, mode, fi))
PAUSABLE(write_buf, (fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *buf,
		     off_t off, struct fuse_file_info *fi),
	 (req, ino, buf, off, fi))
PAUSABLE(fallocate, (fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		     off_t length, struct fuse_file_info *fi),
	 (req, ino, mode, offset, length, fi))
PAUSABLE(setxattr, (fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags),
	 (req, ino, name, value, size, flags))
PAUSABLE(removexattr, (fuse_req_t req, fuse_ino_t ino, const char *name),
	 (req, ino, name))
PAUSABLE(copy_file_range, (fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			   off_t off_out, struct fuse_file_info *fi_out,
			   size_t len, int flags),
	 (req, ino_in, off_in, fi_in, ino_out, off_out, fi_out, len, flags))

/*
 * No .flush: locks are the kernel's own (no .lock/.flock here) and
 * writes reach the upper file at once, so a flush has nothing to do;
 * without it the kernel stops sending one at every close(2).
 */
const struct fuse_lowlevel_ops lfs_ops = {
	.init = lfs_init,
	.lookup = lfs_lookup,
	.forget = lfs_forget,
	.forget_multi = lfs_forget_multi,
	.getattr = lfs_getattr,
	.setattr = paused_setattr,
	.readlink = lfs_readlink,
	.mknod = paused_mknod,
	.mkdir = paused_mkdir,
	.unlink = paused_unlink,
	.rmdir = paused_rmdir,
	.symlink = paused_symlink,
	.rename = paused_rename,
	.link = paused_link,
	.open = paused_open,
	.read = lfs_read,
	.write_buf = paused_write_buf,
	.release = lfs_release,
	.fsync = lfs_fsync,
	.opendir = lfs_opendir,
	.readdir = lfs_readdir,
	.readdirplus = lfs_readdirplus,
	.releasedir = lfs_releasedir,
	.fsyncdir = lfs_fsyncdir,
	.statfs = lfs_statfs,
	.setxattr = paused_setxattr,
	.getxattr = lfs_getxattr,
	.listxattr = lfs_listxattr,
	.removexattr = paused_removexattr,
	.create = paused_create,
	.fallocate = paused_fallocate,
	.lseek = lfs_lseek,
	.copy_file_range = paused_copy_file_range,
};
