// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Change sets between two views (changes.h).
 *
 * Both views are walked together, directory by directory: the names of a
 * merged directory are the union of its layer directories' names, and
 * each name is resolved in both views with the merge rule of lib/stack.
 * A subtree made of the very same directories in both views (nothing of
 * the upper in it, no redirect) is skipped unread, so a commit costs what
 * the upper holds, not what the image holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "changes.h"
#include "copy.h"
#include "fh.h"
#include "metacopy.h"
#include "oci.h"
#include "procfd.h"
#include "stack.h"
#include "table.h"
#include "walk.h"
#include "whiteout.h"
#include "xattr.h"

static int add(struct changes *c, char kind, const char *path)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct change *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n].kind = kind;
	c->v[c->n].opaque = false;
	c->v[c->n].path = strdup(path);
	if (!c->v[c->n].path)
		return -ENOMEM;
	c->n++;
	return 0;
}

void changes_free(struct changes *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->v[i].path);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool content_xattr(const char *name)
{
	return !xat_is_private(name);
}

/* The xattrs of FD that make content: sorted "name\0value" blobs. */
static int xattr_blob(int fd, char **blob, size_t *len)
{
	char *list, **names, *val, *out = NULL;
	size_t count, i, vlen, olen = 0;
	int err;

	*blob = NULL;
	*len = 0;
	err = xat_names(fd, content_xattr, &list, &names, &count);
	for (i = 0; i < count && !err; i++) {
		size_t nl = strlen(names[i]) + 1;
		char *o;

		err = xat_get_alloc(fd, names[i], &val, &vlen);
		if (err == -ENODATA) {
			err = 0;
			continue;
		}
		if (err)
			break;
		o = realloc(out, olen + nl + vlen + sizeof(vlen));
		if (!o) {
			free(val);
			err = -ENOMEM;
			break;
		}
		out = o;
		memcpy(out + olen, names[i], nl);
		memcpy(out + olen + nl, &vlen, sizeof(vlen));
		memcpy(out + olen + nl + sizeof(vlen), val, vlen);
		olen += nl + vlen + sizeof(vlen);
		free(val);
	}
	free(names);
	free(list);
	if (err) {
		free(out);
		return err;
	}
	*blob = out;
	*len = olen;
	return 0;
}

static bool same_xattrs(int a, int b)
{
	char *xa, *xb;
	size_t la, lb;
	bool same;

	if (xattr_blob(a, &xa, &la))
		return false;
	if (xattr_blob(b, &xb, &lb)) {
		free(xa);
		return false;
	}
	same = la == lb && (!la || !memcmp(xa, xb, la));
	free(xa);
	free(xb);
	return same;
}

/* The same real directories, so the same subtree? */
static bool same_dirs(const struct stack_set *n, const struct stack_set *o,
		      int shift)
{
	struct stat a, b;
	int i;

	if (n->n != o->n)
		return false;
	for (i = 0; i < n->n; i++) {
		if (n->objs[i].layer != o->objs[i].layer + shift)
			return false;
		if (fstatat(n->objs[i].fd, "", &a, AT_EMPTY_PATH) ||
		    fstatat(o->objs[i].fd, "", &b, AT_EMPTY_PATH) ||
		    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
			return false;
	}
	return true;
}

/* The names of a merged directory: its layer directories' names. */
static int dir_names(const struct stack_set *set, char ***out, size_t *n)
{
	char **all = NULL, **names;
	size_t count = 0, k, i, j;
	int s, err = 0;

	for (s = 0; set && s < set->n && !err; s++) {
		err = walk_names(set->objs[s].fd, &names, &k);
		if (err)
			break;
		if (!k) {
			free(names);
			continue;
		}
		char **na = realloc(all, (count + k) * sizeof(*all));

		if (!na) {
			for (i = 0; i < k; i++)
				free(names[i]);
			free(names);
			err = -ENOMEM;
			break;
		}
		all = na;
		for (i = 0; i < k; i++) {
			if (wh_is_marker_name(names[i]))
				free(names[i]);
			else
				all[count++] = names[i];
		}
		free(names);
	}
	if (err) {
		while (count)
			free(all[--count]);
		free(all);
		return err;
	}
	if (count)
		qsort(all, count, sizeof(*all), cmp_strp);
	for (i = j = 0; i < count; i++) {
		if (j && !strcmp(all[j - 1], all[i]))
			free(all[i]);
		else
			all[j++] = all[i];
	}
	*out = all;
	*n = j;
	return 0;
}

/* An object of the new view with several names, and whether it changed. */
struct linked {
	UT_hash_handle hh;
	struct {
		dev_t dev;
		ino_t ino;
	} key;
	bool changed;
	struct changes same; /* its names that did not change */
};

struct ctx {
	const struct view *new, *old;
	struct changes *out;
	char *path;
	size_t len, cap;
	struct linked *links;
};

static bool same_data(int fa, int fb)
{
	char ba[1 << 15], bb[1 << 15];
	bool same = fa >= 0 && fb >= 0;
	ssize_t na, nb;

	while (same) {
		na = read(fa, ba, sizeof(ba));
		nb = read(fb, bb, sizeof(bb));
		if (na != nb || na < 0 || memcmp(ba, bb, na))
			same = false;
		else if (na == 0)
			break;
	}
	return same;
}

/*
 * An fd open for reading of the data of the regular file SET, NAME in
 * the merged directory DIR of view V: a metadata-only copy's is below.
 * Its stat goes to *ST.  -errno on failure.
 */
static int open_data(const struct view *v, const struct stack_set *dir,
		     const char *name, const struct stack_set *set,
		     struct stat *st)
{
	struct stack_obj data = set->objs[0];
	int fd, err;

	*st = set->st;
	if (wh_is_metacopy(data.fd)) {
		err = metacopy_find(v->roots, v->n, dir->objs, dir->n, name,
				    &set->objs[0], &data, st);
		if (err)
			return err;
	}
	fd = proc_fd_open(data.fd, O_RDONLY);
	err = fd < 0 ? -errno : fd;
	if (data.fd != set->objs[0].fd)
		close(data.fd);
	return err;
}

/*
 * Do the regular files N and O, NAME in the directories ND and OD of
 * the new and the old view, hold the same data?
 */
static bool same_content(const struct ctx *c, const struct stack_set *nd,
			 const struct stack_set *od, const char *name,
			 const struct stack_set *n, const struct stack_set *o)
{
	struct stat sa, sb;
	int fa = open_data(c->new, nd, name, n, &sa);
	int fb = open_data(c->old, od, name, o, &sb);
	bool same = fa >= 0 && fb >= 0;

	/* a metadata-only copy of the very file */
	if (same && (sa.st_dev != sb.st_dev || sa.st_ino != sb.st_ino))
		same = same_data(fa, fb);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

/*
 * Are the objects N and O (the topmost of each set), NAME in the
 * directories ND and OD of the new and the old view, equal?
 */
static bool same_object(const struct ctx *c, const struct stack_set *nd,
			const struct stack_set *od, const char *name,
			const struct stack_set *n, const struct stack_set *o)
{
	const struct stat *a = &n->st, *b = &o->st;
	int fa = n->objs[0].fd, fb = o->objs[0].fd;
	char *ta = NULL, *tb = NULL;
	bool same;

	if (a->st_dev == b->st_dev && a->st_ino == b->st_ino)
		return true;
	if (a->st_mode != b->st_mode || a->st_uid != b->st_uid ||
	    a->st_gid != b->st_gid || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	    a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)
		return false;
	switch (a->st_mode & S_IFMT) {
	case S_IFDIR:
		return same_xattrs(fa, fb);
	case S_IFREG:
		return a->st_size == b->st_size && same_xattrs(fa, fb) &&
		       same_content(c, nd, od, name, n, o);
	case S_IFLNK:
		same = !copy_readlink(fa, &ta) && !copy_readlink(fb, &tb) &&
		       !strcmp(ta, tb);
		free(ta);
		free(tb);
		return same;
	default:
		return a->st_rdev == b->st_rdev && same_xattrs(fa, fb);
	}
}

/*
 * Note a name of a multiply linked object of the new view.  When one of
 * its names changes, the unchanged ones must go into the layer too, or
 * the layer would split the link.
 */
static int note_link(struct ctx *c, const struct stack_set *set, bool changed)
{
	struct linked *l, key;

	if (S_ISDIR(set->st.st_mode) || set->st.st_nlink < 2)
		return 0;
	memset(&key, 0, sizeof(key));
	key.key.dev = set->st.st_dev;
	key.key.ino = set->st.st_ino;
	HASH_FIND(hh, c->links, &key.key, sizeof(key.key), l);
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l)
			return -ENOMEM;
		l->key = key.key;
		HASH_ADD(hh, c->links, key, sizeof(l->key), l);
	}
	l->changed |= changed;
	return changed ? 0 : add(&l->same, 'C', c->path);
}

static int cmp_change(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->path,
		      ((const struct change *)b)->path);
}

/* Add the unchanged names of changed linked objects; free the table. */
static int finish_links(struct ctx *c)
{
	struct linked *l, *tmp;
	size_t i, before = c->out->n;
	int err = 0;

	HASH_ITER(hh, c->links, l, tmp) {
		for (i = 0; !err && l->changed && i < l->same.n; i++)
			err = add(c->out, 'C', l->same.v[i].path);
		HASH_DEL(c->links, l);
		changes_free(&l->same);
		free(l);
	}
	if (err || c->out->n == before)
		return err;
	/* their directories hold a change now */
	size_t added = c->out->n - before;
	char **paths = calloc(added, sizeof(*paths));

	if (!paths)
		return -ENOMEM;
	for (i = 0; i < added; i++)
		paths[i] = c->out->v[before + i].path;
	for (i = 0; !err && i < added; i++) {
		char *dir = strdup(paths[i]), *slash;
		struct change key = { 0 };
		bool seen;

		if (!dir)
			return -ENOMEM;
		while (!err && (slash = strrchr(dir, '/'))) {
			*slash = '\0';
			key.path = dir;
			qsort(c->out->v, c->out->n, sizeof(*c->out->v),
			      cmp_change);
			seen = bsearch(&key, c->out->v, c->out->n,
				       sizeof(*c->out->v), cmp_change) != NULL;
			if (!seen)
				err = add(c->out, 'C', dir);
		}
		free(dir);
	}
	free(paths);
	qsort(c->out->v, c->out->n, sizeof(*c->out->v), cmp_change);
	return err;
}

static int path_push(struct ctx *c, const char *name, size_t *old)
{
	size_t n = strlen(name), need = c->len + n + 2;

	if (need > c->cap) {
		char *p = realloc(c->path, 2 * need);

		if (!p)
			return -ENOMEM;
		c->path = p;
		c->cap = 2 * need;
	}
	*old = c->len;
	if (c->len)
		c->path[c->len++] = '/';
	memcpy(c->path + c->len, name, n + 1);
	c->len += n;
	return 0;
}

/*
 * A lower file with several names that the mount copied up shows its
 * copy in the index (fs/index.c): put that in SET in its place.
 */
static void from_index(const struct view *v, struct stack_set *set)
{
	char name[2 * FH_MAX + 1];
	uint8_t uuid[16];
	struct fh fh;
	int fd, layer;

	if (v->index_fd < 0 || !set->n || S_ISDIR(set->st.st_mode) ||
	    set->st.st_nlink < 2 || set->objs[0].layer == 0)
		return;
	layer = set->objs[0].layer;
	if (fh_fs_uuid(v->roots[layer], uuid) ||
	    fh_encode(set->objs[0].fd, uuid, &fh))
		return;
	fh_hex(&fh, name);
	fd = openat(v->index_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstatat(fd, "", &set->st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		close(fd);
		return;
	}
	close(set->objs[0].fd);
	set->objs[0].fd = fd;
	/* the copy is the upper's: a metadata-only one has its data below */
	set->objs[0].layer = 0;
}

/* stack_lookup() of the new view, index included. */
static int lookup(const struct view *v, const char *path,
		  struct stack_set *set)
{
	int r = stack_lookup(v->roots, v->n, path, set);

	if (r > 0)
		from_index(v, set);
	return r;
}

static int find(const struct view *v, const struct stack_set *dir,
		const char *name, struct stack_set *set)
{
	struct stack_walk w = { 0 };
	int err;

	memset(set, 0, sizeof(*set));
	if (!dir || !dir->n || !S_ISDIR(dir->st.st_mode))
		return 0;
	err = stack_find(v->roots, v->n, dir->objs, dir->n, name, false, set,
			 &w);
	free(w.redirect);
	if (!err)
		from_index(v, set);
	return err;
}

static int diff_dir(struct ctx *c, const struct stack_set *n,
		    const struct stack_set *o, bool *changed);

/*
 * Does directory N of the new view come from the new layers alone, so
 * that it hides the old one entirely (an opaque directory)?
 */
static bool replaces(const struct ctx *c, const struct stack_set *n)
{
	int fresh = c->new->n - c->old->n;

	return n->n && n->objs[n->n - 1].layer < fresh;
}

/*
 * N replaces the old directory O: in the layer it is opaque and holds
 * all of N; the listing also says which of O's names went.
 */
static int diff_replaced(struct ctx *c, const struct stack_set *n,
			 const struct stack_set *o, bool *changed)
{
	char **names;
	size_t count, i, old;
	int err;

	err = add(c->out, 'C', c->path);
	if (err)
		return err;
	c->out->v[c->out->n - 1].opaque = true;
	err = diff_dir(c, n, NULL, changed);
	if (!err)
		err = dir_names(o, &names, &count);
	if (err)
		return err;
	for (i = 0; i < count; i++) {
		struct stack_set cn, co;

		if (!err)
			err = find(c->new, n, names[i], &cn);
		if (!err && !cn.n && !(err = find(c->old, o, names[i], &co))) {
			if (co.n && !(err = path_push(c, names[i], &old))) {
				err = add(c->out, 'D', c->path);
				c->len = old;
				c->path[old] = '\0';
			}
			stack_set_free(&co);
		}
		if (!err)
			stack_set_free(&cn);
		free(names[i]);
	}
	free(names);
	*changed = true;
	return err;
}

/*
 * Compare directory N of the new view with O of the old one (O may be
 * empty: everything is new).  *CHANGED: something below differs.
 */
static int diff_dir(struct ctx *c, const struct stack_set *n,
		    const struct stack_set *o, bool *changed)
{
	char **names;
	size_t count, i, old;
	int err;

	*changed = false;
	err = dir_names(n, &names, &count);
	if (!err && o && o->n) {
		char **more, **all;
		size_t m;

		err = dir_names(o, &more, &m);
		if (!err && !m) {
			free(more);
		} else if (!err) {
			all = realloc(names, (count + m) * sizeof(*all));
			if (!all) {
				err = -ENOMEM;
				for (i = 0; i < m; i++)
					free(more[i]);
			} else {
				names = all;
				memcpy(names + count, more, m * sizeof(*more));
				count += m;
				qsort(names, count, sizeof(*names), cmp_strp);
			}
			free(more);
		}
	}
	if (err)
		return err;
	for (i = 0; i < count && !err; i++) {
		struct stack_set cn, co;
		bool inner;

		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		err = find(c->new, n, names[i], &cn);
		if (!err)
			err = find(c->old, o, names[i], &co);
		if (!err)
			err = path_push(c, names[i], &old);
		if (err)
			break;
		if (!cn.n && co.n) {
			err = add(c->out, 'D', c->path);
			*changed = true;
		} else if (cn.n && !co.n) {
			err = add(c->out, 'A', c->path);
			if (!err && S_ISDIR(cn.st.st_mode))
				err = diff_dir(c, &cn, NULL, &inner);
			if (!err)
				err = note_link(c, &cn, true);
			*changed = true;
		} else if (cn.n && S_ISDIR(cn.st.st_mode) &&
			   S_ISDIR(co.st.st_mode)) {
			size_t at = c->out->n;

			if (same_dirs(&cn, &co, c->new->n - c->old->n))
				inner = false;
			else if (replaces(c, &cn))
				err = diff_replaced(c, &cn, &co, &inner);
			else if (!(err = add(c->out, 'C', c->path)))
				err = diff_dir(c, &cn, &co, &inner);
			if (!err && !inner && at < c->out->n &&
			    same_object(c, n, o, names[i], &cn, &co)) {
				free(c->out->v[at].path); /* nothing changed */
				c->out->n = at;
			}
			*changed |= c->out->n > at;
		} else if (cn.n && !same_object(c, n, o, names[i], &cn, &co)) {
			err = add(c->out, 'C', c->path);
			if (!err && S_ISDIR(cn.st.st_mode))
				err = diff_dir(c, &cn, NULL, &inner);
			if (!err)
				err = note_link(c, &cn, true);
			*changed = true;
		} else if (cn.n) {
			err = note_link(c, &cn, false);
		}
		stack_set_free(&cn);
		stack_set_free(&co);
		c->len = old;
		c->path[old] = '\0';
	}
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return err;
}

int changes_compute(const struct view *new, const struct view *old,
		    struct changes *out)
{
	struct ctx c = { .new = new, .old = old, .out = out };
	struct stack_set n, o;
	bool changed;
	int err;

	memset(out, 0, sizeof(*out));
	c.path = calloc(1, 64);
	if (!c.path)
		return -ENOMEM;
	c.cap = 64;
	err = stack_lookup(new->roots, new->n, "", &n);
	if (err < 0)
		goto out;
	err = old->n ? stack_lookup(old->roots, old->n, "", &o) : 0;
	if (err < 0) {
		stack_set_free(&n);
		goto out;
	}
	if (!old->n)
		memset(&o, 0, sizeof(o));
	err = diff_dir(&c, &n, old->n ? &o : NULL, &changed);
	if (!err)
		err = finish_links(&c);
	/* replaced directories listed their deletions after their contents */
	if (!err && out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_change);
	stack_set_free(&n);
	stack_set_free(&o);
out:
	free(c.path);
	if (err < 0)
		changes_free(out);
	return err < 0 ? err : 0;
}

/* Is PATH inside directory DIR (NULL: none)? */
static bool under(const char *dir, const char *path)
{
	size_t n = dir ? strlen(dir) : 0;

	return dir && !strncmp(path, dir, n) && path[n] == '/';
}

/* Hard links already written: source (dev, ino) to staged path. */
struct link {
	UT_hash_handle hh;
	struct {
		dev_t dev;
		ino_t ino;
	} key;
	char *path;
};

static int parent_of(int rootfd, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!slash) {
		*name = path;
		return openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	*name = slash + 1;
	dir = strndup(path, slash - path);
	if (!dir)
		return -1;
	fd = openat(rootfd, dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	free(dir);
	return fd;
}

static int copy_xattrs(int src, int dstdir, const char *name)
{
	int fd = openat(dstdir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = xat_copy(src, fd);
	close(fd);
	return err;
}

/*
 * Write object SET, PATH of view V, as NAME in DIRFD: a file whole, with
 * the data of a metadata-only copy.
 */
static int write_object(const struct view *v, const char *path,
			const struct stack_set *set, int dirfd,
			const char *name)
{
	const struct stat *st = &set->st;
	int src = set->objs[0].fd, in, out, err = 0;
	char *target;

	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		if (mkdirat(dirfd, name, 0700) < 0)
			return -errno;
		break;
	case S_IFREG:
		in = metacopy_open(v->roots, v->n, path, &set->objs[0]);
		if (in < 0)
			return in;
		out = openat(dirfd, name,
			     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0) {
			err = -errno;
			close(in);
			return err;
		}
		err = copy_data(in, out, st->st_size);
		/* a clone takes the data file's size: the copy's counts */
		if (!err && ftruncate(out, st->st_size) < 0)
			err = -errno;
		close(in);
		close(out);
		break;
	case S_IFLNK:
		err = copy_readlink(src, &target);
		if (err)
			return err;
		if (symlinkat(target, dirfd, name) < 0)
			err = -errno;
		free(target);
		break;
	default:
		if (mknodat(dirfd, name, st->st_mode & (S_IFMT | 0600),
			    st->st_rdev) < 0)
			return -errno;
	}
	if (!err)
		err = copy_owner_mode(dirfd, name, st);
	if (!err)
		err = copy_xattrs(src, dirfd, name);
	if (!err && !S_ISDIR(st->st_mode))
		err = copy_times(dirfd, name, st);
	return err;
}

int changes_write_layer(const struct view *new, const struct changes *c,
			int rootfd, const char *verb, char **why)
{
	struct link *links = NULL, *l, *tmp;
	struct oci_progress progress;
	struct stack_set set;
	const char *name, *opaque = NULL, *failed = NULL;
	size_t i;
	int err = 0, dirfd;

	oci_progress_init(&progress);
	oci_progress_layer(&progress, verb, 1, 1);

	for (i = 0; i < c->n && !err; i++) {
		const struct change *ch = &c->v[i];

		failed = ch->path;
		dirfd = parent_of(rootfd, ch->path, &name);
		if (dirfd < 0) {
			err = -errno;
			break;
		}
		if (ch->kind == 'D') {
			/* under an opaque directory nothing needs hiding */
			if (!under(opaque, ch->path))
				err = wh_make(dirfd, name);
			close(dirfd);
			continue;
		}
		err = lookup(new, ch->path, &set);
		if (err <= 0) {
			err = err ? err : -ENOENT; /* changed under us */
			close(dirfd);
			break;
		}
		err = 0;
		if (!S_ISDIR(set.st.st_mode) && set.st.st_nlink > 1) {
			struct link key = { 0 };

			key.key.dev = set.st.st_dev;
			key.key.ino = set.st.st_ino;
			HASH_FIND(hh, links, &key.key, sizeof(key.key), l);
			if (l) {
				if (linkat(rootfd, l->path, dirfd, name, 0) < 0)
					err = -errno;
				goto next;
			}
			l = calloc(1, sizeof(*l));
			if (!l || !(l->path = strdup(ch->path))) {
				free(l);
				err = -ENOMEM;
				goto next;
			}
			l->key = key.key;
			HASH_ADD(hh, links, key, sizeof(l->key), l);
		}
		err = write_object(new, ch->path, &set, dirfd, name);
		if (!err && ch->opaque) {
			int fd = openat(dirfd, name, O_PATH | O_CLOEXEC);

			err = fd < 0 ? -errno :
				       wh_set_opaque(fd, geteuid() ? WH_NS_USER :
								  WH_NS_TRUSTED);
			if (fd >= 0)
				close(fd);
			opaque = ch->path;
		}
		oci_progress_add(&progress, 1,
				 S_ISREG(set.st.st_mode) ? set.st.st_size : 0);
next:
		stack_set_free(&set);
		close(dirfd);
	}
	/* directory times last: writing into them changed them */
	for (i = c->n; i-- > 0 && !err;) {
		const struct change *ch = &c->v[i];

		if (ch->kind == 'D')
			continue;
		if (lookup(new, ch->path, &set) <= 0)
			continue;
		failed = ch->path;
		if (S_ISDIR(set.st.st_mode)) {
			dirfd = parent_of(rootfd, ch->path, &name);
			if (dirfd >= 0) {
				err = copy_times(dirfd, name, &set.st);
				close(dirfd);
			}
		}
		stack_set_free(&set);
	}
	HASH_ITER(hh, links, l, tmp) {
		HASH_DEL(links, l);
		free(l->path);
		free(l);
	}
	oci_progress_end(&progress);
	if (err && why &&
	    asprintf(why, "%s: %s", failed ? failed : ".",
		     err == -ENODATA ? METACOPY_NO_DATA : strerror(-err)) < 0)
		*why = NULL;
	return err;
}

unsigned long long changes_bytes(const struct view *new,
				 const struct changes *c)
{
	unsigned long long bytes = 0;
	struct stack_set set;
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->v[i].kind == 'D' ||
		    lookup(new, c->v[i].path, &set) <= 0)
			continue;
		if (S_ISREG(set.st.st_mode))
			bytes += set.st.st_size;
		stack_set_free(&set);
	}
	return bytes;
}
