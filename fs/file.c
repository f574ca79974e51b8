// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * File I/O (the kernel's file.c).
 *
 * The kernel opens files without asking us (FUSE_CAP_NO_OPEN_SUPPORT: our
 * open answers ENOSYS once), so warm reads cost no OPEN and RELEASE
 * round trips, and every READ, WRITE and the like names an inode only.
 * Each inode therefore keeps one real descriptor for its data, opened
 * on first use: the lower file, or the upper copy once there is one, read
 * only until the first write.  The first write (or fallocate, or the
 * destination of copy_file_range) copies the file up; a truncation goes
 * through setattr, which copies up without the data.  So copy-up happens
 * at the first change rather than at open(2) for writing: what the mount
 * shows is the same, and an open that writes nothing copies nothing.
 *
 * A descriptor on the lower file is replaced by one on the upper copy at
 * the next request after a copy-up, so every reader sees every
 * acknowledged write, as on the kernel's overlayfs.  Descriptors are
 * bounded (max_data): the least recently used idle one is closed when a
 * new one would pass the bound, and reopened through the inode's O_PATH
 * (upper) or its parent directory (lower) when needed again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "layerfs.h"
#include "log.h"
#include "procfd.h"

#define DLINK_INODE(l) \
	((struct lfs_inode *)((char *)(l) - offsetof(struct lfs_inode, dlink)))

static void dlink_del(struct lfs_dlink *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = NULL;
}

static void dlink_add_head(struct lfs_dlink *head, struct lfs_dlink *l)
{
	l->next = head->next;
	l->prev = head;
	head->next->prev = l;
	head->next = l;
}

/* The bound: a quarter of what the process may open, the rest is O_PATH. */
void lfs_data_init(struct lfs *lfs)
{
	struct rlimit r;

	pthread_mutex_init(&lfs->data_lock, NULL);
	lfs->data_list.prev = lfs->data_list.next = &lfs->data_list;
	lfs->max_data = 1024;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
		lfs->max_data = r.rlim_cur / 4 > 16 ? (int)(r.rlim_cur / 4) : 16;
	if (lfs->max_data > 65536)
		lfs->max_data = 65536;
}

void lfs_data_inode_init(struct lfs_inode *ino)
{
	pthread_mutex_init(&ino->dlock, NULL);
	ino->dfd = -1;
}

/*
 * When INO is freed: nobody else can reach it but an eviction pass, and
 * a read that replied and is giving its descriptor back (data_put).
 */
void lfs_data_drop(struct lfs *lfs, struct lfs_inode *ino)
{
	while (__atomic_load_n(&ino->dio, __ATOMIC_ACQUIRE))
		sched_yield();
	/*
	 * Only an eviction pass can take it off the list meanwhile (none can
	 * put it on), so look again under the lock.
	 */
	if (ino->dlink.next) {
		pthread_mutex_lock(&lfs->data_lock);
		if (ino->dlink.next) {
			dlink_del(&ino->dlink);
			lfs->ndata--;
		}
		pthread_mutex_unlock(&lfs->data_lock);
	}
	if (ino->dfd >= 0)
		close(ino->dfd);
	ino->dfd = -1;
	lfs_listing_free(ino);
	pthread_mutex_destroy(&ino->dlock);
}

/*
 * Close idle descriptors, oldest first, until we are within the bound.
 * Caller holds data_lock.  Inodes in use, or whose dlock is busy, are
 * skipped; one used since the last pass gets a second chance.
 */
static void data_evict(struct lfs *lfs, struct lfs_inode *keep)
{
	int budget = 16;

	while (lfs->ndata > lfs->max_data && budget-- > 0) {
		struct lfs_dlink *l = lfs->data_list.prev;
		struct lfs_inode *ino = DLINK_INODE(l);

		dlink_del(l);
		if (ino == keep || pthread_mutex_trylock(&ino->dlock)) {
			dlink_add_head(&lfs->data_list, l);
			continue;
		}
		if (ino->dfd_users || ino->dfd_hot) {
			ino->dfd_hot = false;
			dlink_add_head(&lfs->data_list, l);
		} else {
			close(ino->dfd);
			ino->dfd = -1;
			lfs->ndata--;
		}
		pthread_mutex_unlock(&ino->dlock);
	}
}

/* Make FD, opened with RW on the upper copy or not, INO's data fd. */
static void data_install(struct lfs *lfs, struct lfs_inode *ino, int fd,
			 bool upper, bool rw)
{
	if (ino->dfd >= 0)
		close(ino->dfd);
	ino->dfd = fd;
	ino->dfd_upper = upper;
	ino->dfd_rw = rw;
	ino->dfd_hot = true;
	if (!ino->dlink.next) {
		pthread_mutex_lock(&lfs->data_lock);
		dlink_add_head(&lfs->data_list, &ino->dlink);
		lfs->ndata++;
		data_evict(lfs, ino);
		pthread_mutex_unlock(&lfs->data_lock);
	}
}

/*
 * A descriptor for INO's data, for writing when WRITE (INO is copied up
 * first), or -errno.  Give it back with data_put().
 */
static int data_get(struct lfs *lfs, struct lfs_inode *ino, bool write)
{
	int fd, real, upper;

	if (!S_ISREG(ino->type))
		return S_ISDIR(ino->type) ? -EISDIR : -EINVAL;
	__atomic_add_fetch(&ino->dio, 1, __ATOMIC_ACQUIRE);
	if (write) {
		int err = lfs_copy_up(lfs, ino, -1);

		if (err) {
			__atomic_sub_fetch(&ino->dio, 1, __ATOMIC_RELEASE);
			return err;
		}
	}
	upper = lfs_upper_fd(ino);
	if (upper >= 0 && lfs_is_metacopy(ino))
		upper = -1; /* the data is still below */
	pthread_mutex_lock(&ino->dlock);
	if (ino->dfd >= 0 && ino->dfd_upper == (upper >= 0) &&
	    (ino->dfd_rw || !write)) {
		ino->dfd_users++;
		ino->dfd_hot = true;
		fd = ino->dfd;
		goto out;
	}
	real = upper >= 0 ? upper : lfs_lower_get(lfs, ino);
	fd = real < 0 ? real : proc_fd_open(real, write ? O_RDWR : O_RDONLY);
	if (real >= 0 && fd < 0)
		fd = -errno;
	if (upper < 0)
		lfs_real_put(ino, real);
	/* An upper file we may only read (a running program, say) is fine. */
	if (fd >= 0 && ino->dfd_users == 0) {
		data_install(lfs, ino, fd, upper >= 0, write);
		ino->dfd_users++;
	}
out:
	pthread_mutex_unlock(&ino->dlock);
	if (fd < 0)
		__atomic_sub_fetch(&ino->dio, 1, __ATOMIC_RELEASE);
	return fd;
}

/*
 * Done with FD: the inode's descriptor, or a private one made because
 * the inode's was in use by a request that still needed the old file.
 * This may come after the reply (a read splices from FD while it
 * replies), when the kernel may already have forgotten INO: freeing it
 * waits for dio to drop (lfs_data_drop), the last thing done here.
 */
static void data_put(struct lfs_inode *ino, int fd)
{
	if (fd < 0)
		return;
	pthread_mutex_lock(&ino->dlock);
	if (fd == ino->dfd)
		ino->dfd_users--;
	else
		close(fd);
	pthread_mutex_unlock(&ino->dlock);
	__atomic_sub_fetch(&ino->dio, 1, __ATOMIC_RELEASE);
}

/*
 * Reached only when the kernel cannot open without us (before Linux
 * 4.20): do what it would, and copy up at open for writing.
 */
void lfs_open(fuse_req_t req, fuse_ino_t ino_, struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	int err = 0;

	if (lfs->no_open) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		err = lfs_copy_up(lfs, ino, (fi->flags & O_TRUNC) ? 0 : -1);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	fi->fh = 0;
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
	else
		fi->keep_cache = 1; /* we are the only writer */
	fuse_reply_open(req, fi);
}

void lfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino;
	struct fuse_entry_param e;
	int fd, err;

	err = lfs_create_file(req, lfs_inode(lfs, parent), name, mode,
			      O_RDWR | O_CLOEXEC, &fd, &e);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	ino = lfs_inode(lfs, e.ino);
	pthread_mutex_lock(&ino->dlock);
	if (ino->dfd_users == 0)
		data_install(lfs, ino, fd, true, true);
	else
		close(fd);
	pthread_mutex_unlock(&ino->dlock);
	fi->fh = 0;
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
	else
		fi->keep_cache = 1;
	fuse_reply_create(req, &e, fi);
}

void lfs_read(fuse_req_t req, fuse_ino_t ino_, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	int fd = data_get(lfs, ino, false);

	(void)fi;
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
	data_put(ino, fd);
}

void lfs_write_buf(fuse_req_t req, fuse_ino_t ino_, struct fuse_bufvec *in,
		   off_t off, struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	int fd = data_get(lfs, ino, true);
	ssize_t n;

	(void)fi;
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	if (n > 0)
		lfs_kill_suid(req, ino, fd);
	data_put(ino, fd);
	if (n < 0)
		fuse_reply_err(req, -n);
	else
		fuse_reply_write(req, n);
}

/* Only files made by create(2) have a handle to release; it holds nothing. */
void lfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

void lfs_fsync(fuse_req_t req, fuse_ino_t ino_, int datasync,
	       struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	int fd, err = 0;

	(void)fi;
	if (lfs->cfg->volatile_ || lfs_upper_fd(ino) < 0) {
		fuse_reply_err(req, 0); /* nothing of ours to make durable */
		return;
	}
	fd = data_get(lfs, ino, false);
	if (fd < 0)
		err = -fd;
	else if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
		err = errno;
	data_put(ino, fd);
	fuse_reply_err(req, err);
}

void lfs_fallocate(fuse_req_t req, fuse_ino_t ino_, int mode, off_t offset,
		   off_t length, struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	int fd = data_get(lfs, ino, true), err = 0;

	(void)fi;
	if (fd < 0)
		err = -fd;
	else if (fallocate(fd, mode, offset, length) < 0)
		err = errno;
	else
		lfs_kill_suid(req, ino, fd);
	data_put(ino, fd);
	fuse_reply_err(req, err);
}

void lfs_lseek(fuse_req_t req, fuse_ino_t ino_, off_t off, int whence,
	       struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	int fd = data_get(lfs, ino, false), err;
	off_t r;

	(void)fi;
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	r = lseek(fd, off, whence);
	err = r < 0 ? errno : 0;
	data_put(ino, fd);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_lseek(req, r);
}

void lfs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			 off_t off_out, struct fuse_file_info *fi_out,
			 size_t len, int flags)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *in = lfs_inode(lfs, ino_in);
	struct lfs_inode *out = lfs_inode(lfs, ino_out);
	loff_t pin = off_in, pout = off_out;
	int ofd, ifd, err;
	ssize_t n;

	(void)fi_in;
	(void)fi_out;
	/* the destination first: its copy-up may be the source's too */
	ofd = data_get(lfs, out, true);
	if (ofd < 0) {
		fuse_reply_err(req, -ofd);
		return;
	}
	ifd = data_get(lfs, in, false);
	if (ifd < 0) {
		data_put(out, ofd);
		fuse_reply_err(req, -ifd);
		return;
	}
	n = copy_file_range(ifd, &pin, ofd, &pout, len, flags);
	err = n < 0 ? errno : 0;
	if (n > 0)
		lfs_kill_suid(req, out, ofd);
	data_put(in, ifd);
	data_put(out, ofd);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, n);
}
