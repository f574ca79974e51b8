// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Namespace changes (the kernel's dir.c): create, link, unlink, rmdir,
 * rename, and when each leaves a whiteout or marks a directory opaque.
 *
 * The rules:
 * - Removing a name that exists in a lower layer leaves a whiteout in
 *   the upper directory; otherwise the upper entry just goes.
 * - Creating over an upper whiteout replaces it in one rename, staged in
 *   the work dir; a new directory there is made opaque first, so the
 *   lower directory it replaces never shows through.
 * - Renaming a directory that has lower layers records where they are
 *   (overlay.redirect, absolute, as the kernel's redirect_dir=on does),
 *   so it keeps its contents wherever it goes; a purely upper directory
 *   moved onto a name that exists below is made opaque instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copy.h"
#include "layerfs.h"
#include "log.h"
#include "procfd.h"
#include "xattr.h"

/* What the upper directory holds under a name we are about to create. */
enum upper_slot { SLOT_FREE, SLOT_WHITEOUT, SLOT_WH_FILE, SLOT_BUSY };

static int upper_slot(int udir, const char *name, enum upper_slot *slot)
{
	struct stat st;
	int fd, dflags;

	fd = openat(udir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		*slot = wh_has_wh_file(udir, name) ? SLOT_WH_FILE : SLOT_FREE;
		return 0;
	}
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		close(fd);
		return -errno;
	}
	dflags = wh_dir_flags(udir);
	*slot = wh_is_whiteout(fd, &st, dflags < 0 ? 0 : dflags) ?
			SLOT_WHITEOUT : SLOT_BUSY;
	close(fd);
	return 0;
}

static void unlink_wh_file(int udir, const char *name)
{
	size_t len = strlen(name);
	char *wh = malloc(WH_PREFIX_LEN + len + 1);

	if (!wh)
		return;
	memcpy(wh, WH_PREFIX, WH_PREFIX_LEN);
	memcpy(wh + WH_PREFIX_LEN, name, len + 1);
	unlinkat(udir, wh, 0);
	free(wh);
}

/*
 * Owner of a new object NAME in DIRFD: the caller's, with the group of a
 * setgid parent (PST), whose setgid bit directories inherit.  Then the
 * exact mode: chown may have cleared setuid/setgid bits.
 */
static int set_owner(fuse_req_t req, int dirfd, const char *name,
		     const struct stat *pst, mode_t mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct lfs_config *cfg = lfs_of(req)->cfg;
	uid_t uid = lfs_idmap_store(&cfg->uids, ctx->uid);
	gid_t gid = (pst->st_mode & S_ISGID) ?
			    pst->st_gid :
			    lfs_idmap_store(&cfg->gids, ctx->gid);

	if (S_ISDIR(mode) && (pst->st_mode & S_ISGID))
		mode |= S_ISGID;
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	    geteuid() == 0)
		return -errno;
	if (!S_ISLNK(mode) && fchmodat(dirfd, name, mode & 07777, 0) < 0)
		return -errno;
	return 0;
}

struct new_obj {
	mode_t mode; /* type and permissions */
	dev_t rdev;
	const char *link; /* symlink target */
	int oflags;	  /* regular files: open flags; the fd is returned */
	int fd;
};

static int make_obj(int dirfd, const char *name, struct new_obj *o)
{
	switch (o->mode & S_IFMT) {
	case S_IFREG:
		o->fd = openat(dirfd, name,
			       (o->oflags & ~(O_TRUNC | O_NOFOLLOW)) | O_CREAT |
				       O_EXCL | O_CLOEXEC,
			       0600);
		return o->fd < 0 ? -errno : 0;
	case S_IFDIR:
		return mkdirat(dirfd, name, 0700) < 0 ? -errno : 0;
	case S_IFLNK:
		return symlinkat(o->link, dirfd, name) < 0 ? -errno : 0;
	default:
		return mknodat(dirfd, name, (o->mode & S_IFMT) | 0600,
			       o->rdev) < 0 ?
			       -errno :
			       0;
	}
}

/* Entry for the new upper object NAME in DIR, raising its nlookup. */
static int new_entry(struct lfs *lfs, struct lfs_inode *dir, int udir,
		     const char *name, struct fuse_entry_param *e)
{
	struct lfs_found f = { .upper = -1 };
	int err;

	f.upper = openat(udir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (f.upper < 0)
		return -errno;
	if (fstatat(f.upper, "", &f.st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		err = -errno;
		lfs_found_free(&f);
		return err;
	}
	f.key.dev = f.st.st_dev;
	f.key.ino = f.st.st_ino;
	return lfs_entry(lfs, dir, name, &f, e);
}

/*
 * Create O as NAME in DIR and fill E.  Over an upper whiteout the object
 * is built in the work dir and renamed over it.  0 or -errno, and then
 * nothing was created.
 */
static int create_obj(fuse_req_t req, struct lfs_inode *dir,
		      const char *name, struct new_obj *o,
		      struct fuse_entry_param *e)
{
	struct lfs *lfs = lfs_of(req);
	enum upper_slot slot;
	const char *tname = name;
	char tmp[32];
	struct stat pst;
	int udir, tdir, err;

	o->fd = -1;
	if (wh_is_marker_name(name))
		return -EINVAL; /* it would read back as a marker */
	err = lfs_name_ok(name);
	if (!err)
		err = lfs_copy_up(lfs, dir, -1);
	if (err)
		return err;
	pthread_rwlock_rdlock(&lfs->tree_lock);
	udir = lfs_upper_fd(dir);
	if (fstat(udir, &pst) < 0) {
		err = -errno;
		goto unlock;
	}
	err = upper_slot(udir, name, &slot);
	if (err)
		goto unlock;
	if (slot == SLOT_BUSY) {
		err = -EEXIST;
		goto unlock;
	}
	tdir = udir;
	if (slot == SLOT_WHITEOUT) {
		lfs_tmpname(lfs, tmp);
		tdir = lfs->work_fd;
		tname = tmp;
	}
	err = make_obj(tdir, tname, o);
	if (err)
		goto unlock;
	err = set_owner(req, tdir, tname, &pst, o->mode);
	/*
	 * A new directory over a whiteout must hide what is below; in any
	 * merged directory the kernel marks it opaque too, which saves
	 * looking below it.
	 */
	if (!err && S_ISDIR(o->mode) && (slot != SLOT_FREE || dir->nlower)) {
		int fd = openat(tdir, tname, O_PATH | O_DIRECTORY | O_CLOEXEC);

		err = fd < 0 ? -errno : wh_set_opaque(fd, lfs->ns);
		if (fd >= 0)
			close(fd);
	}
	if (!err && slot == SLOT_WHITEOUT) {
		if (S_ISDIR(o->mode)) {
			/* a directory cannot replace the char device */
			if (renameat2(tdir, tname, udir, name,
				      RENAME_EXCHANGE) < 0)
				err = -errno;
			else
				unlinkat(tdir, tname, 0);
		} else if (renameat2(tdir, tname, udir, name, 0) < 0) {
			err = -errno;
		}
	}
	if (err) {
		if (o->fd >= 0)
			close(o->fd);
		o->fd = -1;
		unlinkat(tdir, tname, S_ISDIR(o->mode) ? AT_REMOVEDIR : 0);
		goto unlock;
	}
	if (slot == SLOT_WH_FILE)
		unlink_wh_file(udir, name);
	lfs_dir_changed(dir);
	err = new_entry(lfs, dir, udir, name, e);
unlock:
	pthread_rwlock_unlock(&lfs->tree_lock);
	return err;
}

void lfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, dev_t rdev)
{
	struct lfs *lfs = lfs_of(req);
	struct new_obj o = { .mode = mode, .rdev = rdev };
	struct fuse_entry_param e;
	int err;

	/* a char device 0/0 would read back as a whiteout */
	if (S_ISCHR(mode) && rdev == 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (S_ISREG(mode))
		o.oflags = O_WRONLY;
	err = create_obj(req, lfs_inode(lfs, parent), name, &o, &e);
	if (o.fd >= 0)
		close(o.fd);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_entry(req, &e);
}

void lfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode)
{
	lfs_mknod(req, parent, name, S_IFDIR | (mode & 07777), 0);
}

void lfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		 const char *name)
{
	struct lfs *lfs = lfs_of(req);
	struct new_obj o = { .mode = S_IFLNK | 0777, .link = link };
	struct fuse_entry_param e;
	int err;

	err = create_obj(req, lfs_inode(lfs, parent), name, &o, &e);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_entry(req, &e);
}

/* For file.c: create and open a regular file.  *FD gets the open fd. */
int lfs_create_file(fuse_req_t req, struct lfs_inode *dir, const char *name,
		    mode_t mode, int oflags, int *fd,
		    struct fuse_entry_param *e)
{
	struct new_obj o = { .mode = S_IFREG | (mode & 07777),
			     .oflags = oflags };
	int err = create_obj(req, dir, name, &o, e);

	*fd = o.fd;
	return err;
}

void lfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct lfs *lfs = lfs_of(req);
	char *target;
	int err;

	struct lfs_inode *inode = lfs_inode(lfs, ino);
	int fd = lfs_real_get(lfs, inode);

	err = fd < 0 ? fd : copy_readlink(fd, &target);
	lfs_real_put(inode, fd);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	fuse_reply_readlink(req, target);
	free(target);
}

/*
 * A lower file with several names goes into the index before one of its
 * names changes, so that its other names can count the change (index.c;
 * the kernel does the same with index=on).
 */
static int prepare_hardlink(struct lfs *lfs, struct lfs_inode *ino)
{
	struct stat st;
	int fd, r;

	if (S_ISDIR(ino->type) || lfs_upper_fd(ino) >= 0 || !ino->nlower ||
	    lfs->index_fd < 0)
		return 0;
	fd = lfs_lower_get(lfs, ino);
	if (fd < 0)
		return fd;
	r = fstatat(fd, "", &st, AT_EMPTY_PATH);
	lfs_real_put(ino, fd);
	if (r < 0)
		return -errno;
	return st.st_nlink > 1 ? lfs_copy_up(lfs, ino, -1) : 0;
}

/* The link count an indexed INO shows (0 when it is not indexed). */
static unsigned int index_nlink(struct lfs_inode *ino)
{
	unsigned int n;

	if (!ino->indexed || lfs_nlink_get(lfs_upper_fd(ino), &n))
		return 0;
	return n;
}

static void index_count(struct lfs *lfs, struct lfs_inode *ino,
			unsigned int nlink)
{
	if (ino->indexed)
		lfs_nlink_set(lfs, lfs_upper_fd(ino), nlink);
}

/*
 * Link the upper copy of indexed INO as NAME in DIR, where only the
 * index showed it so far: a rename needs the name in the upper layer.
 */
static int link_up(struct lfs *lfs, struct lfs_inode *dir, const char *name,
		   struct lfs_inode *ino)
{
	unsigned int n = index_nlink(ino);
	struct stat st;
	char p[32];

	if (!ino->indexed ||
	    !fstatat(lfs_upper_fd(dir), name, &st, AT_SYMLINK_NOFOLLOW))
		return 0;
	if (errno != ENOENT)
		return -errno;
	proc_fd_path(p, lfs_upper_fd(ino));
	if (linkat(AT_FDCWD, p, lfs_upper_fd(dir), name, AT_SYMLINK_FOLLOW))
		return -errno;
	index_count(lfs, ino, n);
	return 0;
}

void lfs_link(fuse_req_t req, fuse_ino_t ino_, fuse_ino_t newparent,
	      const char *newname)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	struct lfs_inode *dir = lfs_inode(lfs, newparent);
	struct fuse_entry_param e;
	enum upper_slot slot;
	unsigned int nlink;
	struct stat st;
	char p[32], tmp[32];
	int udir, err;

	if (S_ISDIR(ino->type)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	err = wh_is_marker_name(newname) ? -EINVAL : lfs_name_ok(newname);
	if (!err)
		err = lfs_copy_up(lfs, ino, -1);
	if (!err)
		err = lfs_copy_up(lfs, dir, -1);
	if (err)
		goto out;
	pthread_rwlock_rdlock(&lfs->tree_lock);
	nlink = index_nlink(ino);
	udir = lfs_upper_fd(dir);
	err = upper_slot(udir, newname, &slot);
	if (!err && slot == SLOT_BUSY)
		err = -EEXIST;
	if (!err) {
		proc_fd_path(p, lfs_upper_fd(ino));
		lfs_tmpname(lfs, tmp);
		if (slot == SLOT_WHITEOUT) {
			if (linkat(AT_FDCWD, p, lfs->work_fd, tmp,
				   AT_SYMLINK_FOLLOW) < 0)
				err = -errno;
			else if (renameat2(lfs->work_fd, tmp, udir, newname,
					   0) < 0) {
				err = -errno;
				unlinkat(lfs->work_fd, tmp, 0);
			}
		} else if (linkat(AT_FDCWD, p, udir, newname,
				  AT_SYMLINK_FOLLOW) < 0) {
			err = -errno;
		}
		if (!err && slot == SLOT_WH_FILE)
			unlink_wh_file(udir, newname);
		if (!err)
			index_count(lfs, ino, nlink + 1);
	}
	lfs_dir_changed(dir);
	pthread_rwlock_unlock(&lfs->tree_lock);
	if (err)
		goto out;
	pthread_mutex_lock(&ino->lock);
	ino->deleted = false;
	pthread_mutex_unlock(&ino->lock);
	pthread_mutex_lock(&lfs->table_lock);
	ino->nlookup++;
	pthread_mutex_unlock(&lfs->table_lock);
	err = lfs_inode_stat(lfs, ino, -1, &st);
	if (err) {
		lfs_inode_forget(lfs, ino, 1);
		goto out;
	}
	lfs_fill_entry(lfs, ino, &st, &e);
out:
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_entry(req, &e);
}

/*
 * Make the whiteout NAME in DIRFD.  As the kernel does, it is a hard
 * link to one whiteout kept in the work dir, which costs no new inode
 * (a fresh one when that one has too many links); a char device of its
 * own where links cannot be made.
 */
static int make_whiteout(struct lfs *lfs, int dirfd, const char *name)
{
	static const char shared[] = "#lfs.whiteout";
	char tmp[32];
	int tries;

	for (tries = 0; tries < 2; tries++) {
		if (linkat(lfs->work_fd, shared, dirfd, name, 0) == 0)
			return 0;
		if (errno != ENOENT && errno != EMLINK)
			break;
		lfs_tmpname(lfs, tmp);
		if (wh_make(lfs->work_fd, tmp) < 0)
			break;
		if (renameat(lfs->work_fd, tmp, lfs->work_fd, shared) < 0) {
			unlinkat(lfs->work_fd, tmp, 0);
			break;
		}
	}
	return wh_make(dirfd, name);
}

/*
 * Remove the upper entry NAME of DIR (if any) and leave a whiteout when
 * a lower layer has NAME (BELOW: the caller's lookup found it there
 * already).  With RENAME_WHITEOUT both happen in one step: the entry
 * moves to the work dir and a whiteout takes its place.
 */
static int remove_entry(struct lfs *lfs, struct lfs_inode *dir,
			const char *name, bool isdir, bool below)
{
	bool positive = below ||
			lfs_lower_state(lfs, dir, name) == LOWER_POSITIVE;
	int udir = lfs_upper_fd(dir), flag = isdir ? AT_REMOVEDIR : 0;
	struct stat st;
	char tmp[32];

	if (udir < 0)
		return -EIO;
	if (fstatat(udir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -errno;
		return positive ? make_whiteout(lfs, udir, name) : 0;
	}
	if (!positive)
		return unlinkat(udir, name, flag) < 0 ? -errno : 0;
	lfs_tmpname(lfs, tmp);
	if (renameat2(udir, name, lfs->work_fd, tmp, RENAME_WHITEOUT) == 0) {
		if (unlinkat(lfs->work_fd, tmp, flag) < 0) {
			int err = -errno;

			/* put it back rather than lose it */
			renameat2(lfs->work_fd, tmp, udir, name,
				  RENAME_EXCHANGE);
			unlinkat(lfs->work_fd, tmp, 0);
			return err;
		}
		return 0;
	}
	if (errno != EINVAL && errno != EPERM && errno != EOPNOTSUPP)
		return -errno;
	if (unlinkat(udir, name, flag) < 0)
		return -errno;
	return make_whiteout(lfs, udir, name);
}

static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name,
		      bool isdir)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *dir = lfs_inode(lfs, parent), *ino;
	struct fuse_entry_param e;
	struct lfs_found f;
	unsigned int nlink;
	struct stat st;
	bool below = false;
	int err;

	err = lfs_find(lfs, dir, name, &f);
	if (!err) {
		/* found under NAME below: the removal needs a whiteout */
		below = f.nlower && !f.redirected && !f.metacopy;
		err = lfs_entry(lfs, dir, name, &f, &e);
	}
	if (err)
		goto out;
	ino = lfs_inode(lfs, e.ino);
	if (isdir && !S_ISDIR(ino->type))
		err = -ENOTDIR;
	else if (!isdir && S_ISDIR(ino->type))
		err = -EISDIR;
	else if (isdir) {
		err = lfs_dir_is_empty(lfs, ino);
		err = err < 0 ? err : err ? 0 : -ENOTEMPTY;
	}
	if (!err && !isdir)
		err = prepare_hardlink(lfs, ino);
	if (!err)
		err = lfs_copy_up(lfs, dir, -1);
	if (err)
		goto forget;

	pthread_rwlock_rdlock(&lfs->tree_lock);
	pthread_mutex_lock(&ino->lock);
	nlink = index_nlink(ino);
	if (isdir)
		err = lfs_clear_whiteouts(lfs, ino);
	if (!err)
		err = remove_entry(lfs, dir, name, isdir, below);
	lfs_dir_changed(dir);
	if (!err) {
		int upper = lfs_upper_fd(ino);

		if (ino->indexed) {
			index_count(lfs, ino, nlink ? nlink - 1 : 0);
			ino->deleted = nlink <= 1;
		} else if (isdir || upper < 0) {
			int fd = isdir ? -1 : lfs_lower_get(lfs, ino);

			ino->deleted = isdir || fd < 0 ||
				       (fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 &&
					st.st_nlink <= 1);
			lfs_real_put(ino, fd);
		}
		else {
			ino->deleted = fstatat(upper, "", &st,
					       AT_EMPTY_PATH) == 0 &&
				       st.st_nlink == 0;
		}
	}
	pthread_mutex_unlock(&ino->lock);
	pthread_rwlock_unlock(&lfs->tree_lock);
forget:
	lfs_inode_forget(lfs, ino, 1);
out:
	fuse_reply_err(req, -err);
}

void lfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, false);
}

void lfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, true);
}

/*
 * Where the lower layers of directory INO are: "/a/b" from the layer
 * roots ("" for the root).  Caller holds tree_lock.  NULL on ENOMEM.
 */
static char *lower_path(struct lfs_inode *ino)
{
	char *redirect = NULL, *ppath, *path;
	int upper = lfs_upper_fd(ino);

	if (!ino->parent)
		return strdup("");
	if (upper >= 0 && !wh_get_redirect(upper, &redirect) &&
	    redirect[0] == '/')
		return redirect;
	ppath = lower_path(ino->parent);
	if (!ppath || asprintf(&path, "%s/%s", ppath,
			       redirect ? redirect : ino->name) < 0)
		path = NULL;
	free(ppath);
	free(redirect);
	return path;
}

/*
 * Before directory INO moves from DIR to NEWDIR: one with lower layers
 * records where they are, as the kernel does: the old name when it stays
 * in DIR, the absolute lower path otherwise.  A purely upper directory
 * moving into a merged directory becomes opaque, so that nothing below
 * its new name shows through.  Caller holds tree_lock for writing.
 */
static int prepare_dir_move(struct lfs *lfs, struct lfs_inode *ino,
			    struct lfs_inode *dir, struct lfs_inode *newdir)
{
	int upper = lfs_upper_fd(ino), err;
	char *path = NULL, *old = NULL;

	if (ino->nlower) {
		if (wh_get_redirect(upper, &old) == -ENODATA)
			old = NULL;
		if (dir == newdir && (!old || old[0] != '/'))
			path = old ? strdup(old) : strdup(ino->name);
		else
			path = lower_path(ino);
		free(old);
		if (!path)
			return -ENOMEM;
		err = xat_set(upper, wh_xattr(lfs->ns, "redirect"), path,
			      strlen(path), 0);
		free(path);
		return err;
	}
	if (lfs_upper_fd(newdir) >= 0 && newdir->nlower &&
	    !(wh_dir_flags(upper) & WH_DIR_OPAQUE))
		return wh_set_opaque(upper, lfs->ns);
	return 0;
}

struct rename_ctx {
	struct lfs_inode *dir, *newdir, *src, *dst;
	const char *name, *newname;
	unsigned int flags;
};

static int rename_locked(struct lfs *lfs, struct rename_ctx *c)
{
	int udir = lfs_upper_fd(c->dir), unew = lfs_upper_fd(c->newdir);
	bool positive = lfs_lower_state(lfs, c->dir, c->name) == LOWER_POSITIVE;
	enum upper_slot slot;
	unsigned int how = 0;
	int err;

	if (S_ISDIR(c->src->type)) {
		err = prepare_dir_move(lfs, c->src, c->dir, c->newdir);
		if (err)
			return err;
	}
	if (!S_ISDIR(c->src->type)) {
		err = link_up(lfs, c->dir, c->name, c->src);
		if (err)
			return err;
	}
	if (c->flags & RENAME_EXCHANGE) {
		if (!S_ISDIR(c->dst->type)) {
			err = link_up(lfs, c->newdir, c->newname, c->dst);
			if (err)
				return err;
		}
		if (S_ISDIR(c->dst->type)) {
			err = prepare_dir_move(lfs, c->dst, c->newdir, c->dir);
			if (err)
				return err;
		}
		if (renameat2(udir, c->name, unew, c->newname,
			      RENAME_EXCHANGE) < 0)
			return -errno;
		return 0;
	}
	err = upper_slot(unew, c->newname, &slot);
	if (err)
		return err;
	if (c->dst && S_ISDIR(c->dst->type) && slot == SLOT_BUSY) {
		err = lfs_clear_whiteouts(lfs, c->dst);
		if (err)
			return err;
	}
	if (slot == SLOT_WHITEOUT && S_ISDIR(c->src->type)) {
		/* a directory cannot replace the char device: swap them */
		if (renameat2(udir, c->name, unew, c->newname,
			      RENAME_EXCHANGE) < 0)
			return -errno;
		if (!positive && unlinkat(udir, c->name, 0) < 0)
			return -errno;
		return 0;
	}
	if (positive)
		how = RENAME_WHITEOUT;
	if (renameat2(udir, c->name, unew, c->newname, how) < 0) {
		if (!how || (errno != EINVAL && errno != EPERM))
			return -errno;
		if (renameat2(udir, c->name, unew, c->newname, 0) < 0)
			return -errno;
		err = make_whiteout(lfs, udir, c->name);
		if (err)
			return err;
	}
	if (slot == SLOT_WH_FILE)
		unlink_wh_file(unew, c->newname);
	return 0;
}

static int rename_checks(struct lfs *lfs, struct rename_ctx *c)
{
	int r;

	if (c->flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (wh_is_marker_name(c->newname))
		return -EINVAL;
	if (!c->dst)
		return (c->flags & RENAME_EXCHANGE) ? -ENOENT : 0;
	if (c->flags & RENAME_NOREPLACE)
		return -EEXIST;
	if (c->flags & RENAME_EXCHANGE)
		return 0;
	if (S_ISDIR(c->src->type) && !S_ISDIR(c->dst->type))
		return -ENOTDIR;
	if (!S_ISDIR(c->src->type) && S_ISDIR(c->dst->type))
		return -EISDIR;
	if (S_ISDIR(c->dst->type)) {
		r = lfs_dir_is_empty(lfs, c->dst);
		if (r <= 0)
			return r < 0 ? r : -ENOTEMPTY;
	}
	return 0;
}

void lfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct lfs *lfs = lfs_of(req);
	struct rename_ctx c = { .dir = lfs_inode(lfs, parent),
				.newdir = lfs_inode(lfs, newparent),
				.name = name,
				.newname = newname,
				.flags = flags };
	struct fuse_entry_param e;
	unsigned int nlink;
	struct stat st;
	int err;

	err = lfs_name_ok(newname);
	if (!err)
		err = lfs_lookup_inode(lfs, c.dir, name, &e);
	if (err)
		goto out;
	c.src = lfs_inode(lfs, e.ino);
	err = lfs_lookup_inode(lfs, c.newdir, newname, &e);
	if (!err)
		c.dst = lfs_inode(lfs, e.ino);
	else if (err != -ENOENT)
		goto put;
	err = rename_checks(lfs, &c);
	if (err || c.src == c.dst)
		goto put;
	err = lfs_copy_up(lfs, c.dir, -1);
	if (!err)
		err = lfs_copy_up(lfs, c.newdir, -1);
	if (!err)
		err = lfs_copy_up(lfs, c.src, -1);
	if (!err && (flags & RENAME_EXCHANGE))
		err = lfs_copy_up(lfs, c.dst, -1);
	else if (!err && c.dst)
		err = prepare_hardlink(lfs, c.dst);
	if (err)
		goto put;

	pthread_rwlock_wrlock(&lfs->tree_lock);
	nlink = c.dst ? index_nlink(c.dst) : 0;
	err = rename_locked(lfs, &c);
	lfs_dir_changed(c.dir);
	lfs_dir_changed(c.newdir);
	if (!err) {
		lfs_inode_set_parent(lfs, c.src, c.newdir, newname);
		if (c.dst && (flags & RENAME_EXCHANGE)) {
			lfs_inode_set_parent(lfs, c.dst, c.dir, name);
		} else if (c.dst && c.dst->indexed) {
			index_count(lfs, c.dst, nlink ? nlink - 1 : 0);
			c.dst->deleted = nlink <= 1;
		} else if (c.dst) {
			int upper = lfs_upper_fd(c.dst);

			c.dst->deleted =
				S_ISDIR(c.dst->type) || upper < 0 ||
				(fstatat(upper, "", &st, AT_EMPTY_PATH) == 0 &&
				 st.st_nlink == 0);
		}
	}
	pthread_rwlock_unlock(&lfs->tree_lock);
put:
	if (c.dst)
		lfs_inode_forget(lfs, c.dst, 1);
	lfs_inode_forget(lfs, c.src, 1);
out:
	fuse_reply_err(req, -err);
}
