// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The table of FUSE operations, and init, which asks the kernel for
 * what makes a union of immutable layers fast: splice, readdirplus,
 * parallel directory operations, cached symlinks, large requests.
 */
#include "layerfs.h"

static void lfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* we do open(O_TRUNC) ourselves, copying up without the data */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
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

const struct fuse_lowlevel_ops lfs_ops = {
	.init = lfs_init,
	.lookup = lfs_lookup,
	.forget = lfs_forget,
	.forget_multi = lfs_forget_multi,
	.getattr = lfs_getattr,
	.setattr = lfs_setattr,
	.readlink = lfs_readlink,
	.mknod = lfs_mknod,
	.mkdir = lfs_mkdir,
	.unlink = lfs_unlink,
	.rmdir = lfs_rmdir,
	.symlink = lfs_symlink,
	.rename = lfs_rename,
	.link = lfs_link,
	.open = lfs_open,
	.read = lfs_read,
	.write_buf = lfs_write_buf,
	.flush = lfs_flush,
	.release = lfs_release,
	.fsync = lfs_fsync,
	.opendir = lfs_opendir,
	.readdir = lfs_readdir,
	.readdirplus = lfs_readdirplus,
	.releasedir = lfs_releasedir,
	.fsyncdir = lfs_fsyncdir,
	.statfs = lfs_statfs,
	.setxattr = lfs_setxattr,
	.getxattr = lfs_getxattr,
	.listxattr = lfs_listxattr,
	.removexattr = lfs_removexattr,
	.create = lfs_create,
	.fallocate = lfs_fallocate,
	.lseek = lfs_lseek,
	.copy_file_range = lfs_copy_file_range,
};
