// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The layer store (store.h).  Layers never change once published: a
 * layer is filled in STORE/tmp and renamed into STORE/layers in one
 * step, and removed by renaming it back out first.  Staging directories
 * of a command that dies are removed at exit or on a signal, and
 * whatever a kill -9 leaves in STORE/tmp goes at the next gc.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "copy.h"
#include "store.h"
#include "walk.h"
#include "whiteout.h"
#include "xattr.h"

char *store_default_path(void)
{
	const char *env = getenv("LAYERFS_STORE");
	char *p = NULL;

	if (env && *env)
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/var/lib/layerfs");
	env = getenv("XDG_DATA_HOME");
	if (env && *env) {
		if (asprintf(&p, "%s/layerfs", env) < 0)
			p = NULL;
		return p;
	}
	env = getenv("HOME");
	if (!env || !*env)
		return NULL;
	if (asprintf(&p, "%s/.local/share/layerfs", env) < 0)
		p = NULL;
	return p;
}

static int mkdir_p(const char *path)
{
	char *copy = strdup(path), *p;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (p = copy + 1; !err; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST)
			err = -errno;
		*p = c;
		if (!c)
			break;
	}
	free(copy);
	return err;
}

int store_open(struct store *s, const char *path, bool create, bool exclusive)
{
	static const char *const subdirs[] = { "layers", "tags", "tmp" };
	char *p = path ? strdup(path) : store_default_path();
	size_t i;
	int err;

	memset(s, 0, sizeof(*s));
	s->fd = s->lock_fd = -1;
	if (!p)
		return -ENOMEM;
	if (create && (err = mkdir_p(p))) {
		free(p);
		return err;
	}
	s->path = realpath(p, NULL);
	free(p);
	if (!s->path)
		return -errno;
	s->fd = open(s->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->fd < 0)
		goto fail;
	for (i = 0; i < sizeof(subdirs) / sizeof(*subdirs); i++)
		if (mkdirat(s->fd, subdirs[i], 0755) < 0 && errno != EEXIST &&
		    (create || errno != EACCES))
			goto fail;
	s->lock_fd = openat(s->fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0)
		s->lock_fd = openat(s->fd, "lock", O_RDONLY | O_CLOEXEC);
	if (s->lock_fd < 0)
		goto fail;
	if (flock(s->lock_fd, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH) < 0) {
		if (errno == EWOULDBLOCK)
			errno = EBUSY; /* a mount or command is using it */
		goto fail;
	}
	return 0;
fail:
	err = -errno;
	store_close(s);
	return err;
}

void store_close(struct store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	s->path = NULL;
	s->fd = s->lock_fd = -1;
}

static bool is_id(const char *s, size_t min)
{
	size_t n = strlen(s), i;

	if (n < min || n > STORE_ID_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

bool store_tag_valid(const char *tag)
{
	size_t n = strlen(tag), i;

	if (!n || n > 128 || tag[0] == '.' || tag[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)tag[i]) && !strchr("._-:", tag[i]))
			return false;
	return true;
}

int store_tag_get(struct store *s, const char *tag, char id[STORE_ID_LEN + 1])
{
	char buf[STORE_ID_LEN + 2];
	ssize_t n;
	int fd;

	if (!store_tag_valid(tag))
		return -EINVAL;
	fd = openat(s->fd, "tags", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = openat(fd, tag, O_RDONLY | O_CLOEXEC);
	close(fd);
	if (n < 0)
		return -errno;
	fd = n;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != STORE_ID_LEN + 1 || buf[STORE_ID_LEN] != '\n')
		return -EINVAL;
	buf[STORE_ID_LEN] = '\0';
	if (!is_id(buf, STORE_ID_LEN))
		return -EINVAL;
	memcpy(id, buf, STORE_ID_LEN + 1);
	return 0;
}

static int layers_fd(struct store *s)
{
	int fd = openat(s->fd, "layers", O_PATH | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

int store_layers(struct store *s, char (**ids)[STORE_ID_LEN + 1], int *n)
{
	char (*v)[STORE_ID_LEN + 1] = NULL;
	int fd, dfd, count = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	fd = layers_fd(s);
	if (fd < 0)
		return fd;
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		int err = -errno;

		if (dfd >= 0)
			close(dfd);
		return err;
	}
	while ((de = readdir(d))) {
		if (!is_id(de->d_name, STORE_ID_LEN))
			continue;
		if (count == cap) {
			void *nv = realloc(v, (cap = cap ? 2 * cap : 32) *
						      sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		memcpy(v[count++], de->d_name, STORE_ID_LEN + 1);
	}
	closedir(d);
	if (count)
		qsort(v, count, sizeof(*v), cmp_ids);
	*ids = v;
	*n = count;
	return 0;
}

int store_resolve(struct store *s, const char *ref, char id[STORE_ID_LEN + 1])
{
	char (*ids)[STORE_ID_LEN + 1];
	int n, i, found = 0, err;

	if (ref[0] == '@')
		ref++;
	err = store_tag_get(s, ref, id);
	if (err != -ENOENT && err != -EINVAL)
		return err;
	if (!is_id(ref, 6))
		return -ENOENT;
	err = store_layers(s, &ids, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		if (!strncmp(ids[i], ref, strlen(ref))) {
			if (found++)
				break;
			memcpy(id, ids[i], STORE_ID_LEN + 1);
		}
	free(ids);
	return found == 1 ? 0 : found ? -EINVAL : -ENOENT;
}

static int meta_fd(struct store *s, const char *id)
{
	char *p;
	int fd;

	if (!is_id(id, STORE_ID_LEN) ||
	    asprintf(&p, "layers/%s/meta.json", id) < 0)
		return -EINVAL;
	fd = openat(s->fd, p, O_RDONLY | O_CLOEXEC);
	free(p);
	return fd < 0 ? -errno : fd;
}

static char *json_strdup(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? strdup(v) : NULL;
}

int store_meta_read(struct store *s, const char *id, struct layer_meta *m)
{
	json_error_t jerr;
	const char *parent;
	json_t *o;
	int fd;

	memset(m, 0, sizeof(*m));
	fd = meta_fd(s, id);
	if (fd < 0)
		return fd;
	o = json_loadfd(fd, 0, &jerr);
	close(fd);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
	parent = json_string_value(json_object_get(o, "parent"));
	if (parent && *parent && !is_id(parent, STORE_ID_LEN)) {
		json_decref(o);
		return -EINVAL;
	}
	memcpy(m->id, id, STORE_ID_LEN + 1);
	snprintf(m->parent, sizeof(m->parent), "%s", parent ? parent : "");
	m->created = json_integer_value(json_object_get(o, "created"));
	m->created_by = json_strdup(o, "created_by");
	m->comment = json_strdup(o, "comment");
	m->size = json_integer_value(json_object_get(o, "size"));
	m->files = json_integer_value(json_object_get(o, "files"));
	json_decref(o);
	return 0;
}

void store_meta_free(struct layer_meta *m)
{
	free(m->created_by);
	free(m->comment);
	m->created_by = m->comment = NULL;
}

int store_chain(struct store *s, const char *id,
		char (**ids)[STORE_ID_LEN + 1], int *n)
{
	char (*v)[STORE_ID_LEN + 1] = NULL;
	char cur[STORE_ID_LEN + 1];
	struct layer_meta m;
	int count = 0, err = 0;

	snprintf(cur, sizeof(cur), "%s", id);
	while (cur[0]) {
		void *nv;

		if (count >= 4096) { /* a loop, or absurd */
			err = -ELOOP;
			break;
		}
		err = store_meta_read(s, cur, &m);
		if (err)
			break;
		nv = realloc(v, (count + 1) * sizeof(*v));
		if (!nv) {
			store_meta_free(&m);
			err = -ENOMEM;
			break;
		}
		v = nv;
		memcpy(v[count++], cur, STORE_ID_LEN + 1);
		memcpy(cur, m.parent, sizeof(cur));
		store_meta_free(&m);
	}
	if (err) {
		free(v);
		return err;
	}
	*ids = v;
	*n = count;
	return 0;
}

char *store_layer_root(struct store *s, const char *id)
{
	char *p;

	if (!is_id(id, STORE_ID_LEN) ||
	    asprintf(&p, "%s/layers/%s/root", s->path, id) < 0)
		return NULL;
	return p;
}

int store_layer_open(struct store *s, const char *id)
{
	char *p;
	int fd;

	if (!is_id(id, STORE_ID_LEN) || asprintf(&p, "layers/%s/root", id) < 0)
		return -EINVAL;
	fd = openat(s->fd, p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(p);
	return fd < 0 ? -errno : fd;
}

int store_tag_set(struct store *s, const char *tag, const char *id)
{
	char tmp[64], buf[STORE_ID_LEN + 2];
	int tfd, fd, err = 0;

	if (!store_tag_valid(tag) || !is_id(id, STORE_ID_LEN))
		return -EINVAL;
	tfd = openat(s->fd, "tags", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return -errno;
	snprintf(tmp, sizeof(tmp), ".tag.%d", (int)getpid());
	snprintf(buf, sizeof(buf), "%s\n", id);
	fd = openat(tfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, STORE_ID_LEN + 1) != STORE_ID_LEN + 1 ||
	    fsync(fd) < 0)
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (!err && renameat(tfd, tmp, tfd, tag) < 0)
		err = -errno;
	if (err)
		unlinkat(tfd, tmp, 0);
	close(tfd);
	return err;
}

int store_tag_remove(struct store *s, const char *tag)
{
	int tfd, err = 0;

	if (!store_tag_valid(tag))
		return -EINVAL;
	tfd = openat(s->fd, "tags", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return -errno;
	if (unlinkat(tfd, tag, 0) < 0)
		err = -errno;
	close(tfd);
	return err;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_tags(struct store *s, char ***tags, int *n)
{
	char **v = NULL;
	int dfd, count = 0;
	struct dirent *de;
	DIR *d;

	dfd = openat(s->fd, "tags", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		int err = -errno;

		if (dfd >= 0)
			close(dfd);
		return err;
	}
	while ((de = readdir(d))) {
		char **nv;

		if (!store_tag_valid(de->d_name))
			continue;
		nv = realloc(v, (count + 1) * sizeof(*v));
		if (!nv || !(nv[count] = strdup(de->d_name))) {
			v = nv ? nv : v;
			while (count)
				free(v[--count]);
			free(v);
			closedir(d);
			return -ENOMEM;
		}
		v = nv;
		count++;
	}
	closedir(d);
	if (count)
		qsort(v, count, sizeof(*v), cmp_strp);
	*tags = v;
	*n = count;
	return 0;
}

/*
 * Staging directories of this process, removed at exit and on signals
 * unless published: a dying command leaves no half-written layer.
 */
#define MAX_STAGED 16
static char *staged[MAX_STAGED];

static void unstage_all(void)
{
	int i;

	for (i = 0; i < MAX_STAGED; i++)
		if (staged[i]) {
			walk_remove(AT_FDCWD, staged[i]);
			free(staged[i]);
			staged[i] = NULL;
		}
}

static void unstage_on_signal(int sig)
{
	unstage_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void forget_staged(const char *dir)
{
	int i;

	for (i = 0; i < MAX_STAGED; i++)
		if (staged[i] && !strcmp(staged[i], dir)) {
			free(staged[i]);
			staged[i] = NULL;
		}
}

int store_stage(struct store *s, char **dir, int *rootfd)
{
	static bool registered;
	char *p;
	int i, err;

	if (asprintf(&p, "%s/tmp/stage.XXXXXX", s->path) < 0)
		return -ENOMEM;
	if (!mkdtemp(p)) {
		err = -errno;
		free(p);
		return err;
	}
	for (i = 0; i < MAX_STAGED && staged[i]; i++)
		;
	if (i == MAX_STAGED || !(staged[i] = strdup(p))) {
		rmdir(p);
		free(p);
		return -ENOMEM;
	}
	if (!registered) {
		registered = true;
		atexit(unstage_all);
		signal(SIGINT, unstage_on_signal);
		signal(SIGTERM, unstage_on_signal);
		signal(SIGHUP, unstage_on_signal);
	}
	*rootfd = -1;
	{
		int dfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0 || mkdirat(dfd, "root", 0755) < 0 ||
		    (*rootfd = openat(dfd, "root",
				      O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			err = -errno;
		else
			err = 0;
		if (dfd >= 0)
			close(dfd);
	}
	if (err) {
		store_unstage(s, p);
		free(p);
		return err;
	}
	*dir = p;
	return 0;
}

void store_unstage(struct store *s, const char *dir)
{
	(void)s;
	walk_remove(AT_FDCWD, dir);
	forget_staged(dir);
}

/* Bookkeeping that does not make a layer's content (layerfs.5). */
static bool hash_skip_xattr(const char *name)
{
	static const char *const skip[] = { "origin", "impure", "nlink",
					    "uuid",   "upper",	"metacopy" };
	const char *what;
	size_t i;

	if (!strncmp(name, "trusted.overlay.", 16))
		what = name + 16;
	else if (!strncmp(name, "user.overlay.", 13))
		what = name + 13;
	else
		return false;
	for (i = 0; i < sizeof(skip) / sizeof(*skip); i++)
		if (!strcmp(what, skip[i]))
			return true;
	return false;
}

struct hash_ctx {
	XXH3_state_t *st;
	struct layer_meta *m;
};

static bool hash_keep_xattr(const char *name)
{
	return !hash_skip_xattr(name);
}

static int hash_xattrs(XXH3_state_t *st, int fd)
{
	char *list, **names, *val;
	size_t count, i, len;
	int err;

	err = xat_names(fd, hash_keep_xattr, &list, &names, &count);
	for (i = 0; !err && i < count; i++) {
		err = xat_get_alloc(fd, names[i], &val, &len);
		if (err == -ENODATA) {
			err = 0;
			continue;
		}
		if (err)
			break;
		XXH3_128bits_update(st, names[i], strlen(names[i]) + 1);
		XXH3_128bits_update(st, &len, sizeof(len));
		XXH3_128bits_update(st, val, len);
		free(val);
	}
	free(names);
	free(list);
	return err;
}

static int hash_content(XXH3_state_t *st, int dirfd, const char *name)
{
	char buf[1 << 16];
	ssize_t n;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		XXH3_128bits_update(st, buf, n);
	close(fd);
	return n < 0 ? -errno : 0;
}

static int hash_one(const struct walk_entry *e, void *arg)
{
	struct hash_ctx *c = arg;
	const struct stat *st = &e->st;
	uint64_t rec[7] = { st->st_mode, st->st_uid, st->st_gid,
			    S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0,
			    st->st_rdev, st->st_mtim.tv_sec,
			    st->st_mtim.tv_nsec };
	char *target;
	int fd, err;

	XXH3_128bits_update(c->st, e->path, strlen(e->path) + 1);
	XXH3_128bits_update(c->st, &rec, sizeof(rec));
	if (!S_ISDIR(st->st_mode))
		c->m->files++;
	if (S_ISREG(st->st_mode)) {
		c->m->size += st->st_size;
		err = hash_content(c->st, e->dirfd, e->name);
		if (err)
			return err;
	}
	fd = openat(e->dirfd, e->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (S_ISLNK(st->st_mode)) {
		err = copy_readlink(fd, &target);
		if (!err) {
			XXH3_128bits_update(c->st, target, strlen(target) + 1);
			free(target);
		}
	} else {
		err = hash_xattrs(c->st, fd);
	}
	close(fd);
	return err;
}

int store_hash_tree(int rootfd, const char *parent, struct layer_meta *m)
{
	struct hash_ctx c = { .m = m };
	XXH128_canonical_t canon;
	int err, i;

	c.st = XXH3_createState();
	if (!c.st)
		return -ENOMEM;
	XXH3_128bits_reset(c.st);
	XXH3_128bits_update(c.st, "layerfs-layer-v1", 17);
	XXH3_128bits_update(c.st, parent, strlen(parent) + 1);
	m->size = m->files = 0;
	err = hash_xattrs(c.st, rootfd);
	if (!err)
		err = walk_tree(rootfd, hash_one, &c);
	if (!err) {
		XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(c.st));
		for (i = 0; i < 16; i++)
			snprintf(m->id + 2 * i, 3, "%02x", canon.digest[i]);
	}
	XXH3_freeState(c.st);
	return err;
}

static int meta_write(int dirfd, const struct layer_meta *m)
{
	json_t *o = json_object();
	char *text = NULL;
	int fd, err = 0;
	size_t len;

	if (!o)
		return -ENOMEM;
	json_object_set_new(o, "id", json_string(m->id));
	json_object_set_new(o, "parent", json_string(m->parent));
	json_object_set_new(o, "created", json_integer(m->created));
	json_object_set_new(o, "created_by",
			    json_string(m->created_by ? m->created_by : ""));
	if (m->comment)
		json_object_set_new(o, "comment", json_string(m->comment));
	json_object_set_new(o, "size", json_integer(m->size));
	json_object_set_new(o, "files", json_integer(m->files));
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	fd = openat(dirfd, "meta.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1)
		err = fd < 0 || errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	free(text);
	return err;
}

int store_publish(struct store *s, const char *dir, struct layer_meta *m)
{
	int dfd, rootfd, lfd, err;
	char *layer;

	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	rootfd = openat(dfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
	err = rootfd < 0 ? -errno : store_hash_tree(rootfd, m->parent, m);
	if (rootfd >= 0)
		close(rootfd);
	if (!m->created)
		m->created = time(NULL);
	if (!err)
		err = meta_write(dfd, m);
	close(dfd);
	if (err)
		return err;
	/* everything on disk before the layer appears */
	lfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd >= 0) {
		syncfs(lfd);
		close(lfd);
	}
	if (asprintf(&layer, "layers/%s", m->id) < 0)
		return -ENOMEM;
	lfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (renameat(AT_FDCWD, dir, s->fd, layer) < 0) {
		err = -errno;
		if (err == -EEXIST || err == -ENOTEMPTY) {
			/* the store has this layer already */
			store_unstage(s, dir);
			err = 0;
		}
	} else {
		forget_staged(dir);
	}
	if (lfd >= 0)
		close(lfd);
	free(layer);
	return err;
}

int store_layer_remove(struct store *s, const char *id)
{
	char *layer, *tmp;
	int err = 0;

	if (!is_id(id, STORE_ID_LEN))
		return -EINVAL;
	if (asprintf(&layer, "layers/%s", id) < 0)
		return -ENOMEM;
	if (asprintf(&tmp, "tmp/rm.%s.%d", id, (int)getpid()) < 0) {
		free(layer);
		return -ENOMEM;
	}
	/* out of sight first: a layer is whole or gone */
	if (renameat(s->fd, layer, s->fd, tmp) < 0)
		err = -errno;
	else
		err = walk_remove(s->fd, tmp);
	free(layer);
	free(tmp);
	return err;
}

/* Where "layerfs mount @REF" records the layer an upper sits on. */
static const char *const parent_xattr[] = {
	"trusted.overlay.layerfs.parent",
	"user.overlay.layerfs.parent",
};

int store_upper_parent(int upperfd, char id[STORE_ID_LEN + 1])
{
	ssize_t n = -ENODATA;
	size_t i;

	for (i = 0; i < 2 && n < 0; i++)
		n = xat_get(upperfd, parent_xattr[i], id, STORE_ID_LEN);
	if (n == STORE_ID_LEN) {
		id[STORE_ID_LEN] = '\0';
		return is_id(id, STORE_ID_LEN) ? 0 : -EINVAL;
	}
	id[0] = '\0';
	return n < 0 && n != -ENODATA ? (int)n : 0;
}

int store_set_upper_parent(int upperfd, const char *id, bool user_ns)
{
	return xat_set(upperfd, parent_xattr[user_ns], id, strlen(id), 0);
}
