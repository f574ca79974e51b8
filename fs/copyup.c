// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Copy-up (the kernel's copy_up.c): the first change to an object that
 * lives only in a lower layer makes a copy of it in the upper layer.
 *
 * The copy is built in the work directory and published with one
 * linkat/rename, so the upper layer never shows a partial file, not even
 * when the daemon is killed: a regular file is an O_TMPFILE until it is
 * linked in, anything else a "#lfs.*" temp that the next mount removes.
 * Order, as the kernel's: data, then owner and mode (chown clears the
 * setuid bits and file capabilities), then xattrs, then timestamps.  The
 * parent's timestamps are put back afterwards: a copy-up is not a change
 * of the directory.
 *
 * Parents go first: an object is copied up only into a parent that
 * already has its upper directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copy.h"
#include "layerfs.h"
#include "log.h"
#include "procfd.h"
#include "xattr.h"

int lfs_tmpname(struct lfs *lfs, char buf[32])
{
	unsigned long n = __atomic_add_fetch(&lfs->tmp_seq, 1, __ATOMIC_RELAXED);

	snprintf(buf, 32, "#lfs.%d.%lu", (int)getpid(), n);
	return 0;
}

/*
 * Data, owner and mode, xattrs, times: into the open regular file OUT.
 * With LEN LFS_COPY_META only the size: OUT becomes a metadata-only
 * copy (overlay.metacopy) whose data stays below, as on the kernel's
 * overlayfs with metacopy=on.
 */
static int fill_regular(struct lfs *lfs, struct stack_obj *src,
			const struct stat *st, int out, off_t len)
{
	bool meta = len == LFS_COPY_META;
	int in, err;

	in = proc_fd_open(src->fd, O_RDONLY);
	if (in < 0)
		return -errno;
	if (len < 0 || len > st->st_size)
		len = st->st_size;
	if (meta)
		err = ftruncate(out, st->st_size) < 0 ? -errno : 0;
	else
		err = copy_data(in, out, len);
	if (!err)
		err = copy_owner_mode(out, "", st);
	if (!err)
		err = xat_copy(in, out);
	if (!err)
		lfs_origin_set(lfs, src->layer, src->fd, out);
	if (!err && meta)
		err = xat_set(out, wh_xattr(lfs->ns, "metacopy"), "", 0, 0);
	if (!err)
		err = copy_times(out, "", st);
	close(in);
	return err;
}

/* Owner, mode, xattrs and times for the staged object TMP in the work dir. */
static int fill_other(struct lfs *lfs, struct stack_obj *src,
		      const struct stat *st, const char *tmp)
{
	int fd, err;

	err = copy_owner_mode(lfs->work_fd, tmp, st);
	if (err)
		return err;
	fd = openat(lfs->work_fd, tmp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = xat_copy(src->fd, fd);
	/* user.* xattrs cannot be set on symlinks: rootless they get none */
	if (!err && (!S_ISLNK(st->st_mode) || lfs->ns == WH_NS_TRUSTED))
		lfs_origin_set(lfs, src->layer, src->fd, fd);
	close(fd);
	if (!err)
		err = copy_times(lfs->work_fd, tmp, st);
	return err;
}

/* Stage a copy of a non-regular SRC as TMP in the work dir. */
static int stage_other(struct stack_obj *src, const struct stat *st,
		       int work, const char *tmp)
{
	char *target = NULL;
	int err = 0;

	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		if (mkdirat(work, tmp, 0700) < 0)
			err = -errno;
		break;
	case S_IFLNK:
		err = copy_readlink(src->fd, &target);
		if (err)
			break;
		if (symlinkat(target, work, tmp) < 0)
			err = -errno;
		free(target);
		break;
	default:
		if (mknodat(work, tmp, st->st_mode & (S_IFMT | 0600),
			    st->st_rdev) < 0)
			err = -errno;
		break;
	}
	return err;
}

/*
 * Link the new index entry FD as NAME in UDIR too, when that works: the
 * index alone already makes the copy visible under every lower name.
 */
static void link_name(int fd, int udir, const char *name)
{
	char p[32];

	proc_fd_path(p, fd);
	linkat(AT_FDCWD, p, udir, name, AT_SYMLINK_FOLLOW);
}

/*
 * Copy INO up as NAME into the upper directory UDIR (-1 for a file that
 * has no name left: then only an O_TMPFILE or the index gets it).  A
 * lower file with several names goes into the index (index.c) and is
 * linked from there.  LEN limits how much data is copied (-1: all).
 * Caller holds tree_lock (read) and ino->lock.
 */
static int copy_up_one(struct lfs *lfs, struct lfs_inode *ino, int udir,
		       const char *name, off_t len)
{
	struct stack_obj lower = { ino->lower[0].layer, -1 }, *src = &lower;
	struct stat st, pst;
	char tmp[32] = "", p[32];
	int out = -1, fd, err;
	struct timespec pts[2];
	bool reg, index;

	lower.fd = lfs_lower_get(lfs, ino);
	if (lower.fd < 0)
		return lower.fd;
	if (fstatat(src->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ||
	    (udir >= 0 && fstat(udir, &pst) < 0)) {
		err = -errno;
		goto out_cleanup;
	}
	reg = S_ISREG(st.st_mode);
	index = !S_ISDIR(st.st_mode) && st.st_nlink > 1 && lfs->index_fd >= 0;
	/* metadata only: a file with one name, with metacopy=on, not empty */
	if (len == LFS_COPY_META &&
	    (!reg || index || !lfs->cfg->metacopy || st.st_size == 0))
		len = -1;
	if (udir < 0 && !reg && !index) {
		err = -ENOENT;
		goto out_cleanup;
	}

	/* stage the copy in the work dir */
	if (reg) {
		out = openat(lfs->work_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
			     0600);
		err = out < 0 ? -errno : fill_regular(lfs, src, &st, out, len);
	} else {
		lfs_tmpname(lfs, tmp);
		err = stage_other(src, &st, lfs->work_fd, tmp);
		if (err)
			tmp[0] = '\0'; /* nothing staged */
		else
			err = fill_other(lfs, src, &st, tmp);
	}
	if (err)
		goto out_cleanup;

	/* publish it in one step */
	if (index) {
		fd = lfs_index_publish(lfs, src, reg ? out : lfs->work_fd, tmp,
				       reg);
		if (fd >= 0)
			tmp[0] = '\0'; /* it is the index entry now */
		else if (fd == -EEXIST) /* copied up by another mount */
			fd = lfs_index_open(lfs, src);
		if (fd < 0) {
			err = fd;
			goto out_cleanup;
		}
		if (udir >= 0)
			link_name(fd, udir, name);
		lfs_nlink_set(lfs, fd, st.st_nlink);
		ino->indexed = true;
	} else if (reg) {
		proc_fd_path(p, out);
		if (udir >= 0 &&
		    linkat(AT_FDCWD, p, udir, name, AT_SYMLINK_FOLLOW) < 0) {
			err = -errno;
			goto out_cleanup;
		}
		fd = udir >= 0 ? openat(udir, name,
					O_PATH | O_NOFOLLOW | O_CLOEXEC) :
				 proc_fd_open(out, O_PATH);
	} else {
		if (renameat2(lfs->work_fd, tmp, udir, name,
			      RENAME_NOREPLACE) < 0) {
			err = -errno;
			goto out_cleanup;
		}
		tmp[0] = '\0';
		fd = openat(udir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		err = -errno;
		goto out_cleanup;
	}
	if (udir >= 0) {
		/* best effort: the copy is in place whatever this says */
		pts[0] = pst.st_atim;
		pts[1] = pst.st_mtim;
		proc_fd_path(p, udir);
		utimensat(AT_FDCWD, p, pts, 0);
	}
	if (len == LFS_COPY_META)
		__atomic_store_n(&ino->metacopy, true, __ATOMIC_RELEASE);
	__atomic_store_n(&ino->upper, fd, __ATOMIC_RELEASE);
	lfs_debug("copy-up %s%s%s", name, index ? " (index)" : "",
		  len == LFS_COPY_META ? " (metadata)" : "");
	err = 0;
out_cleanup:
	if (tmp[0])
		unlinkat(lfs->work_fd, tmp, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
	if (out >= 0)
		close(out);
	lfs_real_put(ino, lower.fd);
	return err;
}

/*
 * Complete the metadata-only copy of INO with its first LEN bytes of
 * data (-1: all), in place, as the kernel does: until overlay.metacopy
 * is removed, which comes last, the data read is still the lower
 * file's, so a daemon killed halfway leaves nothing half-copied in
 * view.  The upper file's times are kept: a copy-up is no change.
 */
static int copy_up_data(struct lfs *lfs, struct lfs_inode *ino, off_t len)
{
	struct timespec ts[2];
	struct stat st, ust;
	int in = -1, out = -1, low, err = 0;

	pthread_mutex_lock(&ino->lock);
	if (!ino->metacopy)
		goto out;
	low = lfs_lower_get(lfs, ino);
	if (low < 0) {
		err = low == -ENOENT ? -EIO : low;
		goto out;
	}
	in = proc_fd_open(low, O_RDONLY);
	lfs_real_put(ino, low);
	out = proc_fd_open(ino->upper, O_WRONLY);
	if (in < 0 || out < 0 || fstat(in, &st) < 0 || fstat(out, &ust) < 0) {
		err = -errno;
		goto out;
	}
	if (len < 0 || len > st.st_size)
		len = st.st_size;
	err = copy_data(in, out, len);
	if (!err && len < ust.st_size && ftruncate(out, ust.st_size) < 0)
		err = -errno; /* the size is the upper's, not the lower's */
	if (!err && !lfs->cfg->volatile_ && fdatasync(out) < 0)
		err = -errno;
	if (err)
		goto out;
	ts[0] = ust.st_atim;
	ts[1] = ust.st_mtim;
	futimens(out, ts);
	xat_remove(out, "trusted.overlay.metacopy");
	xat_remove(out, "user.overlay.metacopy");
	if (wh_is_metacopy(out)) {
		err = -EIO;
		goto out;
	}
	__atomic_store_n(&ino->metacopy, false, __ATOMIC_RELEASE);
	lfs_debug("copy-up of the data of %s", ino->name);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	pthread_mutex_unlock(&ino->lock);
	if (!err && lfs->se) /* its blocks changed */
		fuse_lowlevel_notify_inval_inode(lfs->se, (uintptr_t)ino, -1, 0);
	return err;
}

/*
 * Give INO an upper object, copying up its parents first.  LEN: how
 * much data to copy (-1 all, 0 none: the caller truncates; a shorter
 * truncation needs only what stays), or LFS_COPY_META for a change of
 * metadata, which copies no data with metacopy=on.  An upper file that
 * holds only metadata gets its data unless LEN is LFS_COPY_META.  0 or
 * -errno; on failure nothing new is visible in the upper layer.
 */
int lfs_copy_up(struct lfs *lfs, struct lfs_inode *ino, off_t len)
{
	struct lfs_inode *parent;
	bool copied;
	int err, udir;

	if (!lfs->has_upper)
		return -EROFS;
	for (;;) {
		if (lfs_upper_fd(ino) >= 0) {
			if (len != LFS_COPY_META && lfs_is_metacopy(ino))
				return copy_up_data(lfs, ino, len);
			return 0;
		}
		pthread_rwlock_rdlock(&lfs->tree_lock);
		parent = ino->parent;
		if (!parent) { /* the root always has its upper */
			pthread_rwlock_unlock(&lfs->tree_lock);
			return -EIO;
		}
		udir = lfs_upper_fd(parent);
		if (udir < 0) {
			lfs_inode_ref(lfs, parent);
			pthread_rwlock_unlock(&lfs->tree_lock);
			err = lfs_copy_up(lfs, parent, -1);
			lfs_inode_unref(lfs, parent);
			if (err)
				return err;
			continue;
		}
		pthread_mutex_lock(&ino->lock);
		err = 0;
		copied = ino->upper < 0;
		if (copied)
			err = copy_up_one(lfs, ino, ino->deleted ? -1 : udir,
					  ino->name, len);
		pthread_mutex_unlock(&ino->lock);
		pthread_rwlock_unlock(&lfs->tree_lock);
		/*
		 * The copy has its own link count (a lower hard link is
		 * broken), blocks and ctime: the kernel's cached attributes
		 * are stale.  Only attributes: no lock is needed for that.
		 */
		if (copied && !err && lfs->se)
			fuse_lowlevel_notify_inval_inode(lfs->se,
							 (uintptr_t)ino, -1, 0);
		return err;
	}
}
