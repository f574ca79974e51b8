// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The merged directory listing (the kernel's readdir.c).
 *
 * A listing is made when a READDIR finds none, or one older than the
 * last change of the directory, and is dropped when read to its end
 * (see do_readdir).  Its entries are in the order of cookies made from
 * their names (dir_number), so a directory read while it changes lists
 * each name once, and telldir/seekdir work.  Layers are
 * read top down; a name seen once hides the same name below, whiteouts
 * of every dialect hide it without being listed, and markers (.wh.*)
 * never show.  d_ino is what stat gives: for names that exist in the
 * upper layer it comes from a full lookup (copy-up keeps the lower
 * identity), for the others from the layer itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "layerfs.h"
#include "log.h"
#include "xattr.h"

struct lfs_dirent {
	char *name;
	uint64_t ino;
	uint64_t off; /* the cookie: see dir_number() */
	mode_t type;  /* S_IFMT */
};

struct lfs_dir {
	struct lfs_dirent *ents;
	size_t n, cap;
	uint64_t gen; /* the directory's dir_gen it was made from */
};

struct seen {
	UT_hash_handle hh;
	char name[];
};

static int seen_add(struct seen **set, const char *name)
{
	size_t len = strlen(name);
	struct seen *s = malloc(sizeof(*s) + len + 1);

	if (!s)
		return -ENOMEM;
	memcpy(s->name, name, len + 1);
	HASH_ADD_KEYPTR(hh, *set, s->name, len, s);
	return 0;
}

static bool seen_has(struct seen *set, const char *name)
{
	struct seen *s;

	HASH_FIND_STR(set, name, s);
	return s != NULL;
}

static void seen_free(struct seen **set)
{
	struct seen *s, *tmp;

	HASH_ITER(hh, *set, s, tmp) {
		HASH_DEL(*set, s);
		free(s);
	}
}

static void dir_clear(struct lfs_dir *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->ents[i].name);
	free(d->ents);
	d->ents = NULL;
	d->n = d->cap = 0;
}

static int dir_add(struct lfs_dir *d, const char *name, uint64_t ino,
		   mode_t type)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 32;
		struct lfs_dirent *e = realloc(d->ents, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		d->ents = e;
		d->cap = cap;
	}
	d->ents[d->n].name = strdup(name);
	if (!d->ents[d->n].name)
		return -ENOMEM;
	d->ents[d->n].ino = ino;
	d->ents[d->n].type = type;
	d->n++;
	return 0;
}

static mode_t dtype_to_mode(unsigned char t)
{
	return (mode_t)t << 12;
}

/*
 * Add the visible entries of one layer directory FD to D.  UPPER says
 * whether it is the upper layer (whose names need a full lookup for
 * their identity); DEV is the layer's device.
 */
static int list_layer(struct lfs *lfs, struct lfs_inode *ino, int fd,
		      bool upper, dev_t dev, int *hints, struct lfs_dir *d,
		      struct seen **seen)
{
	struct seen *hidden = NULL, *s, *tmp;
	struct dirent *de;
	struct stat st;
	int dfd, dflags, err = 0;
	bool markers = false;
	DIR *dp;

	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	dp = fdopendir(dfd);
	if (!dp) {
		close(dfd);
		return -errno;
	}
	dflags = wh_dir_flags(fd);
	if (dflags < 0)
		dflags = 0;
	while (!err && (errno = 0, de = readdir(dp))) {
		const char *name = de->d_name;
		mode_t type = dtype_to_mode(de->d_type);
		struct lfs_key key = { dev, de->d_ino };

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (wh_is_marker_name(name)) {
			markers = true;
			if (strcmp(name, WH_OPQ_NAME) && name[WH_PREFIX_LEN])
				err = seen_add(&hidden, name + WH_PREFIX_LEN);
			continue;
		}
		if (seen_has(*seen, name))
			continue;
		err = seen_add(seen, name);
		if (err)
			break;
		if (upper) {
			struct lfs_found f;

			if (lfs_find(lfs, ino, name, &f))
				continue; /* a whiteout, or gone meanwhile */
			type = f.st.st_mode & S_IFMT;
			key = f.key;
			lfs_found_free(&f);
		} else if (de->d_type == DT_UNKNOWN || de->d_type == DT_CHR ||
			   (de->d_type == DT_REG &&
			    (dflags & WH_DIR_XWHITEOUTS))) {
			int efd = openat(dfd, name,
					 O_PATH | O_NOFOLLOW | O_CLOEXEC);

			if (efd < 0)
				continue;
			if (fstatat(efd, "", &st,
				    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ||
			    wh_is_whiteout(efd, &st, dflags)) {
				close(efd);
				continue;
			}
			close(efd);
			type = st.st_mode & S_IFMT;
		}
		err = dir_add(d, name, lfs_ino_of_key(lfs, &key), type);
	}
	if (!err && errno)
		err = -errno;
	closedir(dp);
	/* read whole: lookups in this lower directory may skip probes */
	if (!err && hints)
		__atomic_store_n(hints,
				 STACK_HINT_KNOWN |
					 (markers ? 0 : STACK_HINT_NO_WH) |
					 dflags << STACK_HINT_DFLAGS_SHIFT,
				 __ATOMIC_RELAXED);
	/* .wh.NAME hides NAME in the layers below this one */
	HASH_ITER(hh, hidden, s, tmp) {
		if (!err && !seen_has(*seen, s->name))
			err = seen_add(seen, s->name);
	}
	seen_free(&hidden);
	return err;
}

static int dir_load(struct lfs *lfs, struct lfs_inode *ino, struct lfs_dir *d)
{
	struct seen *seen = NULL;
	struct lfs_inode *parent;
	uint64_t pino;
	int i, upper = lfs_upper_fd(ino), err = 0;

	dir_clear(d);
	pthread_rwlock_rdlock(&lfs->tree_lock);
	parent = ino->parent ? ino->parent : ino;
	pino = parent->st_ino;
	pthread_rwlock_unlock(&lfs->tree_lock);
	err = dir_add(d, ".", ino->st_ino, S_IFDIR);
	if (!err)
		err = dir_add(d, "..", pino, S_IFDIR);
	if (ino->deleted) /* removed while open: nothing is left in it */
		return err;
	if (!err && upper >= 0)
		err = list_layer(lfs, ino, upper, true,
				 lfs->layers[0].dev, NULL, d, &seen);
	for (i = 0; !err && i < ino->nlower; i++)
		err = list_layer(lfs, ino, ino->lower[i].fd, false,
				 lfs->layers[ino->lower[i].layer].dev,
				 &ino->lower[i].hints, d, &seen);
	seen_free(&seen);
	if (err)
		dir_clear(d);
	return err;
}

static int cmp_off(const void *a, const void *b)
{
	const struct lfs_dirent *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * Give each entry of D its cookie, the offset a READDIR resumes after:
 * 1 and 2 for . and .., a 63-bit hash of the name for the others, and
 * sort D by it.  A name keeps its cookie when the listing is made again
 * after a change, so a reader that goes on in a new listing neither
 * sees a name twice nor misses one that stayed, whichever listing the
 * kernel's cache served it the beginning from.  (Cookies of colliding
 * names are made unique by order, the one case where that can fail.)
 */
static void dir_number(struct lfs_dir *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		const char *name = d->ents[i].name;

		if (!strcmp(name, "."))
			d->ents[i].off = 1;
		else if (!strcmp(name, ".."))
			d->ents[i].off = 2;
		else
			d->ents[i].off = (XXH3_64bits(name, strlen(name)) >> 1) | 4;
	}
	qsort(d->ents, d->n, sizeof(*d->ents), cmp_off);
	for (i = 1; i < d->n; i++)
		if (d->ents[i].off <= d->ents[i - 1].off)
			d->ents[i].off = d->ents[i - 1].off + 1;
}

/* The index of the first entry of D after cookie OFF. */
static size_t dir_seek(const struct lfs_dir *d, uint64_t off)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->ents[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* 1 when DIR lists nothing but . and .., 0 when it does, or -errno. */
int lfs_dir_is_empty(struct lfs *lfs, struct lfs_inode *dir)
{
	struct lfs_dir d = { 0 };
	int err = dir_load(lfs, dir, &d);

	if (err)
		return err;
	err = d.n <= 2;
	dir_clear(&d);
	return err;
}

/*
 * Remove the whiteouts and markers from DIR's upper directory, which the
 * merged view shows as empty, so that it can be removed or replaced.
 */
int lfs_clear_whiteouts(struct lfs *lfs, struct lfs_inode *dir)
{
	int upper = lfs_upper_fd(dir), dfd, err = 0;
	struct dirent *de;
	DIR *dp;

	(void)lfs;
	if (upper < 0)
		return 0;
	dfd = openat(upper, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	dp = fdopendir(dfd);
	if (!dp) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(dp))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!wh_is_marker_name(de->d_name) && !wh_is_chr_whiteout(&st) &&
		    !(S_ISREG(st.st_mode) && st.st_size == 0))
			continue;
		if (S_ISREG(st.st_mode) && !wh_is_marker_name(de->d_name)) {
			int fd = openat(dfd, de->d_name,
					O_PATH | O_NOFOLLOW | O_CLOEXEC);
			bool wh = fd >= 0 &&
				  wh_is_whiteout(fd, &st, WH_DIR_XWHITEOUTS);

			if (fd >= 0)
				close(fd);
			if (!wh)
				continue;
		}
		if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT) {
			err = -errno;
			break;
		}
	}
	closedir(dp);
	return err;
}

/*
 * Like files, directories are opened without us (no_opendir), so the
 * listing being read lives in the inode: made when a READDIR finds none
 * or a stale one, kept while readers go on, and dropped when a READDIR
 * reaches its end.  The kernel caches what we send.
 */
void lfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);

	(void)ino;
	if (lfs->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->fh = 0;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

void lfs_listing_free(struct lfs_inode *dir)
{
	if (dir->listing) {
		dir_clear(dir->listing);
		free(dir->listing);
		dir->listing = NULL;
	}
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino_, size_t size,
		       off_t off, bool plus)
{
	struct lfs *lfs = lfs_of(req);
	struct lfs_inode *ino = lfs_inode(lfs, ino_);
	struct lfs_dir *d;
	char *buf, *p;
	size_t rem = size, i;
	uint64_t gen;
	int err = 0;

	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&ino->dlock);
	gen = __atomic_load_n(&ino->dir_gen, __ATOMIC_ACQUIRE);
	d = ino->listing;
	if (!d) {
		d = ino->listing = calloc(1, sizeof(*d));
		if (!d)
			err = -ENOMEM;
	}
	if (!err && (!d->ents || d->gen != gen)) {
		err = dir_load(lfs, ino, d);
		dir_number(d);
		d->gen = gen;
	}
	p = buf;
	for (i = err ? 0 : dir_seek(d, off); !err && i < d->n; i++) {
		struct lfs_dirent *de = &d->ents[i];
		struct stat st = { .st_ino = de->ino, .st_mode = de->type };
		size_t n;

		if (!plus) {
			n = fuse_add_direntry(req, p, rem, de->name, &st,
					      de->off);
			if (n > rem)
				break;
		} else {
			struct fuse_entry_param e = { .attr = st };
			bool dot = !strcmp(de->name, ".") ||
				   !strcmp(de->name, "..");

			n = fuse_add_direntry_plus(req, NULL, 0, de->name, NULL,
						   0);
			if (n > rem)
				break;
			if (!dot && lfs_lookup_inode(lfs, ino, de->name, &e))
				continue; /* gone since the listing was made */
			n = fuse_add_direntry_plus(req, p, rem, de->name, &e,
						   de->off);
		}
		p += n;
		rem -= n;
	}
	if (err || (off > 0 && p == buf))
		lfs_listing_free(ino); /* read to its end */
	pthread_mutex_unlock(&ino->dlock);
	if (err && p == buf)
		fuse_reply_err(req, -err);
	else
		fuse_reply_buf(req, buf, p - buf);
	free(buf);
}

void lfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

void lfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

void lfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

void lfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi)
{
	struct lfs *lfs = lfs_of(req);
	int upper = lfs_upper_fd(lfs_inode(lfs, ino)), fd, err = 0;

	(void)fi;
	if (upper >= 0 && !lfs->cfg->volatile_) {
		fd = openat(upper, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || (datasync ? fdatasync(fd) : fsync(fd)) < 0)
			err = errno;
		if (fd >= 0)
			close(fd);
	}
	fuse_reply_err(req, err);
}
