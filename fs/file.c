// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * File I/O (the kernel's file.c).  Opening for writing, or with O_TRUNC,
 * copies the file up first; reads are served from whichever layer holds
 * the file.  A handle opened read-only on a lower file moves to the
 * upper copy the first time it is read after a copy-up, so that every
 * reader sees every acknowledged write, as on the kernel's overlayfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "layerfs.h"
#include "log.h"

struct lfs_file {
	int fd;
	int old_fd; /* the lower fd a read-only handle left behind */
	bool upper;
	pthread_mutex_t lock;
};

static struct lfs_file *file_of(struct fuse_file_info *fi)
{
	return (struct lfs_file *)(uintptr_t)fi->fh;
}

int lfs_file_fd(struct fuse_file_info *fi)
{
	return __atomic_load_n(&file_of(fi)->fd, __ATOMIC_ACQUIRE);
}

static int open_real(int fd, int flags)
{
	char p[32];

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	fd = open(p, flags);
	return fd < 0 ? -errno : fd;
}

static int file_new(struct fuse_file_info *fi, int fd, bool upper)
{
	struct lfs_file *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->fd = fd;
	f->old_fd = -1;
	f->upper = upper;
	pthread_mutex_init(&f->lock, NULL);
	fi->fh = (uintptr_t)f;
	return 0;
}

/* Flags for our own open of the real file. */
static int real_flags(int flags)
{
	return (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW |
			  O_DIRECT)) |
	       O_CLOEXEC;
}

static void set_cache(struct lfs *lfs, struct fuse_file_info *fi)
{
	(void)lfs;
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
	else
		fi->keep_cache = 1; /* we are the only writer */
}

void lfs_open(fuse_req_t req, fuse_ino_t ino_, struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	bool write = (fi->flags & O_ACCMODE) != O_RDONLY ||
		     (fi->flags & O_TRUNC);
	int fd, err = 0, upper, real;

	if (write)
		err = lfs_copy_up(lfs, ino, (fi->flags & O_TRUNC) ? 0 : -1);
	if (err)
		goto out;
	upper = lfs_upper_fd(ino);
	real = lfs_real_get(lfs, ino);
	fd = real < 0 ? real : open_real(real, real_flags(fi->flags));
	lfs_real_put(ino, real);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	err = file_new(fi, fd, upper >= 0);
	if (err) {
		close(fd);
		goto out;
	}
	set_cache(lfs, fi);
out:
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_open(req, fi);
}

void lfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct fuse_entry_param e;
	int fd, err;

	err = lfs_create_file(req, lfs_inode(lfs, parent), name, mode,
			      real_flags(fi->flags), &fd, &e);
	if (!err) {
		err = file_new(fi, fd, true);
		if (err) {
			close(fd);
			lfs_inode_forget(lfs, lfs_inode(lfs, e.ino), 1);
		}
	}
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	set_cache(lfs, fi);
	fuse_reply_create(req, &e, fi);
}

/*
 * The fd to read through: a read-only handle on a lower file that has
 * since been copied up reopens the upper copy.
 */
static int read_fd(struct lfs_inode *ino, struct lfs_file *f)
{
	int upper, fd;

	if (__atomic_load_n(&f->upper, __ATOMIC_ACQUIRE))
		return f->fd;
	upper = lfs_upper_fd(ino);
	if (upper < 0)
		return f->fd;
	pthread_mutex_lock(&f->lock);
	if (!f->upper) {
		fd = open_real(upper, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			f->old_fd = f->fd;
			__atomic_store_n(&f->fd, fd, __ATOMIC_RELEASE);
			__atomic_store_n(&f->upper, true, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&f->lock);
	return f->fd;
}

void lfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = read_fd(lfs_inode(lfs, ino), file_of(fi));
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void lfs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
		   off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	(void)ino;
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = lfs_file_fd(fi);
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	if (n < 0)
		fuse_reply_err(req, -n);
	else
		fuse_reply_write(req, n);
}

void lfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs_file *f = file_of(fi);

	(void)ino;
	close(f->fd);
	if (f->old_fd >= 0)
		close(f->old_fd);
	pthread_mutex_destroy(&f->lock);
	free(f);
	fuse_reply_err(req, 0);
}

void lfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	       struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	int fd = lfs_file_fd(fi), r = 0;

	(void)ino;
	if (!lfs->cfg->volatile_)
		r = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

void lfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		   off_t length, struct fuse_file_info *fi)
{
	(void)ino;
	if (fallocate(lfs_file_fd(fi), mode, offset, length) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_err(req, 0);
}

void lfs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	       struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	off_t r = lseek(read_fd(lfs_inode(lfs, ino), file_of(fi)), off, whence);

	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

void lfs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			 off_t off_out, struct fuse_file_info *fi_out,
			 size_t len, int flags)
{
	struct lfs *lfs = lfs_of(req);
	loff_t in = off_in, out = off_out;
	ssize_t n;

	(void)ino_out;
	n = copy_file_range(read_fd(lfs_inode(lfs, ino_in), file_of(fi_in)),
			    &in, lfs_file_fd(fi_out), &out, len, flags);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, n);
}
