// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The inode table: one lfs_inode per merged object, found by identity
 * key, counted by the kernel's lookups (nlookup) and by our own
 * references (nref: a child's parent pointer, an open handle).  An
 * inode is freed when both reach zero; the root is never freed.
 *
 * Also here: getattr, setattr (which copies up first) and statfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "layerfs.h"
#include "log.h"
#include "procfd.h"

struct lfs_inode *lfs_inode(struct lfs *lfs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &lfs->root;
	return (struct lfs_inode *)(uintptr_t)ino;
}

/*
 * st_ino from the key.  On one filesystem the real inode number is
 * unique already; across filesystems the index of the filesystem goes
 * into the top bits, as the kernel's xino does.
 */
uint64_t lfs_ino_of_key(struct lfs *lfs, const struct lfs_key *key)
{
	uint64_t ino = key->ino;
	int i;

	if (!lfs->xino_bits)
		return ino;
	for (i = 0; i < lfs->nfs; i++)
		if (lfs->fs_devs[i] == key->dev)
			break;
	return ino | ((uint64_t)i << (64 - lfs->xino_bits));
}

static void inode_free(struct lfs *lfs, struct lfs_inode *ino)
{
	int i;

	__atomic_add_fetch(&lfs->freed, 1, __ATOMIC_RELAXED);
	lfs_data_drop(lfs, ino);
	if (ino->upper >= 0)
		close(ino->upper);
	for (i = 0; i < ino->nlower; i++)
		if (ino->lower[i].fd >= 0)
			close(ino->lower[i].fd);
	free(ino->lower);
	free(ino->name);
	pthread_mutex_destroy(&ino->lock);
	free(ino);
}

/* Caller holds table_lock.  Returns the parent to unref, if any. */
static struct lfs_inode *inode_maybe_free(struct lfs *lfs,
					  struct lfs_inode *ino)
{
	struct lfs_inode *parent;

	if (ino == &lfs->root || ino->nlookup || ino->nref)
		return NULL;
	HASH_DEL(lfs->table, ino);
	/* No one can reach ino any more: its parent field is ours. */
	parent = ino->parent;
	inode_free(lfs, ino);
	return parent;
}

void lfs_inode_ref(struct lfs *lfs, struct lfs_inode *ino)
{
	pthread_mutex_lock(&lfs->table_lock);
	ino->nref++;
	pthread_mutex_unlock(&lfs->table_lock);
}

void lfs_inode_unref(struct lfs *lfs, struct lfs_inode *ino)
{
	pthread_mutex_lock(&lfs->table_lock);
	while (ino) {
		if (ino->nref == 0) {
			fuse_log(FUSE_LOG_ERR,
				 "layerfs: INTERNAL ERROR: negative nref\n");
			abort();
		}
		ino->nref--;
		ino = inode_maybe_free(lfs, ino);
	}
	pthread_mutex_unlock(&lfs->table_lock);
}

void lfs_inode_forget(struct lfs *lfs, struct lfs_inode *ino, uint64_t n)
{
	struct lfs_inode *parent;

	pthread_mutex_lock(&lfs->table_lock);
	if (ino->nlookup < n) {
		fuse_log(FUSE_LOG_ERR,
			 "layerfs: INTERNAL ERROR: negative lookup count\n");
		abort();
	}
	ino->nlookup -= n;
	parent = inode_maybe_free(lfs, ino);
	pthread_mutex_unlock(&lfs->table_lock);
	if (parent)
		lfs_inode_unref(lfs, parent);
}

/*
 * Give INO the name NAME in PARENT.  Caller holds tree_lock for writing,
 * or INO is not yet visible to anyone else.
 */
void lfs_inode_set_parent(struct lfs *lfs, struct lfs_inode *ino,
			  struct lfs_inode *parent, const char *name)
{
	struct lfs_inode *old = ino->parent;
	char *dup = strdup(name);

	if (!dup)
		return; /* keep the old name: copy-up still finds the object */
	lfs_inode_ref(lfs, parent);
	free(ino->name);
	ino->name = dup;
	ino->parent = parent;
	if (old)
		lfs_inode_unref(lfs, old);
}

/*
 * The inode for F, found as NAME in PARENT: the existing one with F's
 * key, or a new one that takes over F's descriptors.  Either way F is
 * emptied, and the inode's nlookup is raised by one.  NULL on ENOMEM.
 */
struct lfs_inode *lfs_inode_get(struct lfs *lfs, struct lfs_inode *parent,
				const char *name, struct lfs_found *f)
{
	struct lfs_inode *ino, *fresh;

	pthread_mutex_lock(&lfs->table_lock);
	HASH_FIND(hh, lfs->table, &f->key, sizeof(f->key), ino);
	if (ino) {
		ino->nlookup++;
		pthread_mutex_unlock(&lfs->table_lock);
		lfs_found_free(f);
		return ino;
	}
	pthread_mutex_unlock(&lfs->table_lock);

	fresh = calloc(1, sizeof(*fresh));
	if (!fresh) {
		lfs_found_free(f);
		return NULL;
	}
	fresh->key = f->key;
	fresh->type = f->st.st_mode & S_IFMT;
	fresh->st_ino = lfs_ino_of_key(lfs, &f->key);
	fresh->upper = f->upper;
	fresh->indexed = f->indexed;
	fresh->metacopy = f->metacopy;
	fresh->nlower = f->nlower;
	fresh->lower = f->lower;
	pthread_mutex_init(&fresh->lock, NULL);
	lfs_data_inode_init(fresh);
	/* the data of a metadata-only copy may be under another name */
	if (!S_ISDIR(fresh->type) && fresh->nlower && !fresh->metacopy) {
		close(fresh->lower[0].fd); /* see lfs_lower_get() */
		fresh->lower[0].fd = -1;
	}
	f->upper = -1;
	f->nlower = 0;
	f->lower = NULL;
	lfs_inode_set_parent(lfs, fresh, parent, name);
	if (!fresh->name) {
		inode_free(lfs, fresh);
		return NULL;
	}

	pthread_mutex_lock(&lfs->table_lock);
	/* Another thread may have added the same object meanwhile. */
	HASH_FIND(hh, lfs->table, &fresh->key, sizeof(fresh->key), ino);
	if (!ino) {
		HASH_ADD(hh, lfs->table, key, sizeof(fresh->key), fresh);
		ino = fresh;
		fresh = NULL;
	}
	ino->nlookup++;
	pthread_mutex_unlock(&lfs->table_lock);
	if (fresh) {
		lfs_inode_unref(lfs, fresh->parent);
		fresh->parent = NULL;
		inode_free(lfs, fresh);
	}
	return ino;
}

/*
 * An O_PATH fd of INO's lower object, or -errno.  A directory keeps its
 * own; any other object is opened through its parent's directory in
 * the same layer, under the name it was found by (lower layers do not
 * change, and a lower object never moves without being copied up).
 * Release it with lfs_real_put().
 */
int lfs_lower_get(struct lfs *lfs, struct lfs_inode *ino)
{
	struct lfs_inode *p;
	int i, fd = -ESTALE;

	if (!ino->nlower)
		return -ENOENT;
	if (ino->lower[0].fd >= 0)
		return ino->lower[0].fd;
	pthread_rwlock_rdlock(&lfs->tree_lock);
	p = ino->parent;
	for (i = 0; p && i < p->nlower; i++)
		if (p->lower[i].layer == ino->lower[0].layer) {
			fd = openat(p->lower[i].fd, ino->name,
				    O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				fd = -errno;
			break;
		}
	pthread_rwlock_unlock(&lfs->tree_lock);
	return fd;
}

/* An O_PATH fd to read INO through: its upper object, else its lower. */
int lfs_real_get(struct lfs *lfs, struct lfs_inode *ino)
{
	int fd = lfs_upper_fd(ino);

	return fd >= 0 ? fd : lfs_lower_get(lfs, ino);
}

void lfs_real_put(struct lfs_inode *ino, int fd)
{
	if (fd >= 0 && fd != lfs_upper_fd(ino) &&
	    !(ino->nlower && fd == ino->lower[0].fd))
		close(fd);
}

/* ST, the real object's stat, as the mount shows INO. */
static void inode_show(struct lfs *lfs, struct lfs_inode *ino, struct stat *st)
{
	int upper = lfs_upper_fd(ino);

	st->st_ino = ino->st_ino;
	st->st_uid = lfs_idmap_show(&lfs->cfg->uids, st->st_uid);
	st->st_gid = lfs_idmap_show(&lfs->cfg->gids, st->st_gid);
	if (S_ISDIR(st->st_mode)) {
		/* A merged directory cannot count its subdirectories. */
		if ((upper >= 0 && ino->nlower) || ino->nlower > 1)
			st->st_nlink = 1;
	} else if (lfs_is_metacopy(ino)) {
		struct stat d;
		int low = lfs_lower_get(lfs, ino);

		/* the blocks are those of the data, as on the kernel */
		if (low >= 0 && fstat(low, &d) == 0)
			st->st_blocks = d.st_blocks;
		lfs_real_put(ino, low);
	} else if (ino->indexed && upper >= 0) {
		unsigned int nlink;

		if (!lfs_nlink_get(upper, &nlink))
			st->st_nlink = nlink;
	} else if (ino->deleted && upper < 0) {
		st->st_nlink = 0;
	}
}

/*
 * Attributes of INO as the mount shows them, read through FD (an open
 * handle's fd) or else through the topmost real object.
 */
int lfs_inode_stat(struct lfs *lfs, struct lfs_inode *ino, int fd,
		   struct stat *st)
{
	int own = -1, r;

	if (fd < 0) {
		fd = own = lfs_real_get(lfs, ino);
		if (fd < 0)
			return fd;
	}
	r = fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	lfs_real_put(ino, own);
	if (r < 0)
		return -errno;
	inode_show(lfs, ino, st);
	return 0;
}

void lfs_fill_entry(struct lfs *lfs, struct lfs_inode *ino,
		    const struct stat *st, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = (uintptr_t)ino;
	e->attr = *st;
	e->attr_timeout = lfs->timeout;
	e->entry_timeout = lfs->timeout;
}

/*
 * The reply to a lookup of NAME in DIR that found F: the inode (its
 * nlookup raised) and its attributes, in E.  F is emptied.  0 or -errno.
 */
int lfs_entry(struct lfs *lfs, struct lfs_inode *dir, const char *name,
	      struct lfs_found *f, struct fuse_entry_param *e)
{
	bool lower_only = f->upper < 0;
	struct stat st = f->st;
	struct lfs_inode *ino;
	int err;

	ino = lfs_inode_get(lfs, dir, name, f);
	if (!ino)
		return -ENOMEM;
	/* what the lookup found is what a stat would read again */
	if (lower_only && lfs_upper_fd(ino) < 0) {
		inode_show(lfs, ino, &st);
		err = 0;
	} else {
		err = lfs_inode_stat(lfs, ino, -1, &st);
	}
	if (err) {
		lfs_inode_forget(lfs, ino, 1);
		return err;
	}
	lfs_fill_entry(lfs, ino, &st, e);
	return 0;
}

void lfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct stat st;
	int err;

	(void)fi; /* the kernel opens files without us: no handle */
	err = lfs_inode_stat(lfs, lfs_inode(lfs, ino), -1, &st);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, lfs->timeout);
}

/*
 * The kernel leaves dropping the setuid and setgid bits to us
 * (FUSE_CAP_HANDLE_KILLPRIV, which saves a GETATTR at every chown):
 * a write or truncation by anyone but root drops them, as the kernel's
 * notify_change() would for a caller without CAP_FSETID.  A chown
 * drops them by itself, in the upper file system.  FD: any fd of the
 * upper file, O_PATH included.
 */
int lfs_kill_suid(fuse_req_t req, struct lfs_inode *ino, int fd)
{
	struct lfs *lfs = lfs_of(req);
	struct stat st;
	mode_t kill = 0;
	char p[32];

	if (fuse_req_ctx(req)->uid == 0 ||
	    fstatat(fd, "", &st, AT_EMPTY_PATH) < 0)
		return 0;
	if (st.st_mode & S_ISUID)
		kill |= S_ISUID;
	if ((st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		kill |= S_ISGID;
	if (!kill)
		return 0;
	proc_fd_path(p, fd);
	if (fchmodat(AT_FDCWD, p, st.st_mode & 07777 & ~kill, 0) < 0)
		return -errno;
	if (lfs->se) /* its cached mode is stale */
		fuse_lowlevel_notify_inval_inode(lfs->se, (uintptr_t)ino, -1, 0);
	return 0;
}

void lfs_setattr(fuse_req_t req, fuse_ino_t ino_, struct stat *attr,
		 int to_set, struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	char p[32];
	struct stat st;
	int fd, err = 0;

	(void)fi;
	if ((to_set & FUSE_SET_ATTR_SIZE) && !S_ISREG(ino->type)) {
		err = -EISDIR;
		goto out;
	}
	/* Truncating to 0 or shrinking needs only what stays. */
	err = lfs_copy_up(lfs, ino,
			  (to_set & FUSE_SET_ATTR_SIZE) ? attr->st_size :
							  LFS_COPY_META);
	if (err)
		goto out;
	fd = lfs_upper_fd(ino);
	proc_fd_path(p, fd);

	if (to_set & FUSE_SET_ATTR_MODE) {
		if (fchmodat(AT_FDCWD, p, attr->st_mode & 07777, 0) < 0) {
			err = -errno;
			goto out;
		}
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ?
				    lfs_idmap_store(&lfs->cfg->uids, attr->st_uid) :
				    (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ?
				    lfs_idmap_store(&lfs->cfg->gids, attr->st_gid) :
				    (gid_t)-1;

		if (fchownat(fd, "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			err = -errno;
			goto out;
		}
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (truncate(p, attr->st_size) < 0) {
			err = -errno;
			goto out;
		}
		if (!(to_set & FUSE_SET_ATTR_MODE))
			err = lfs_kill_suid(req, ino, fd);
		if (err)
			goto out;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
					  { .tv_nsec = UTIME_OMIT } };

		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		if (utimensat(AT_FDCWD, p, ts, 0) < 0) {
			err = -errno;
			goto out;
		}
	}
out:
	if (!err)
		err = lfs_inode_stat(lfs, ino, -1, &st);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, lfs->timeout);
}

/*
 * After the kernel forgot many inodes (drop_caches, memory pressure),
 * give the freed memory back: malloc keeps it otherwise, and the
 * daemon's RSS would stay at its peak.
 */
static void maybe_trim(struct lfs *lfs)
{
	if (__atomic_load_n(&lfs->freed, __ATOMIC_RELAXED) < 16384)
		return;
	__atomic_store_n(&lfs->freed, 0, __ATOMIC_RELAXED);
	malloc_trim(0);
}

void lfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct lfs *lfs = lfs_of(req);

	lfs_inode_forget(lfs, lfs_inode(lfs, ino), nlookup);
	fuse_reply_none(req);
	maybe_trim(lfs);
}

void lfs_forget_multi(fuse_req_t req, size_t count,
		      struct fuse_forget_data *forgets)
{
	struct lfs *lfs = lfs_of(req);
	size_t i;

	for (i = 0; i < count; i++)
		lfs_inode_forget(lfs, lfs_inode(lfs, forgets[i].ino),
				 forgets[i].nlookup);
	fuse_reply_none(req);
	maybe_trim(lfs);
}

void lfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct lfs *lfs = lfs_of(req);
	struct statvfs sv;

	(void)ino;
	if (fstatvfs(lfs->layers[0].fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* At unmount: drop every inode the kernel did not forget. */
void lfs_inode_table_free(struct lfs *lfs)
{
	struct lfs_inode *ino, *tmp;

	HASH_ITER(hh, lfs->table, ino, tmp) {
		HASH_DEL(lfs->table, ino);
		inode_free(lfs, ino);
	}
}
