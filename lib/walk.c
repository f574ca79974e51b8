// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tree walks.  The path of each entry is kept in one growing buffer,
 * for messages and listings only: every system call goes through the
 * directory's fd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walk.h"

struct walk {
	walk_fn fn;
	void *arg;
	char *path;
	size_t len, cap;
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int walk_names(int dirfd, char ***names, size_t *n)
{
	size_t cap = 0, count = 0;
	char **v = NULL;
	struct dirent *de;
	int fd, err = 0;
	DIR *d;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (count == cap) {
			char **nv = realloc(v, (cap = cap ? 2 * cap : 64) *
						       sizeof(*v));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[count] = strdup(de->d_name);
		if (!v[count]) {
			err = -ENOMEM;
			break;
		}
		count++;
	}
	if (!err && errno)
		err = -errno;
	closedir(d);
	if (err) {
		while (count)
			free(v[--count]);
		free(v);
		return err;
	}
	if (count)
		qsort(v, count, sizeof(*v), cmp_names);
	*names = v;
	*n = count;
	return 0;
}

static int path_push(struct walk *w, const char *name, size_t *old)
{
	size_t n = strlen(name), need = w->len + n + 2;

	if (need > w->cap) {
		char *p = realloc(w->path, need * 2);

		if (!p)
			return -ENOMEM;
		w->path = p;
		w->cap = need * 2;
	}
	*old = w->len;
	if (w->len)
		w->path[w->len++] = '/';
	memcpy(w->path + w->len, name, n + 1);
	w->len += n;
	return 0;
}

static int walk_dir(struct walk *w, int dirfd, int depth)
{
	char **names;
	size_t n, i, old;
	int err, fd;

	err = walk_names(dirfd, &names, &n);
	if (err)
		return err;
	for (i = 0; i < n && !err; i++) {
		struct walk_entry e = { .dirfd = dirfd, .name = names[i],
					.depth = depth };

		if (fstatat(dirfd, names[i], &e.st, AT_SYMLINK_NOFOLLOW) < 0) {
			err = -errno;
			break;
		}
		err = path_push(w, names[i], &old);
		if (err)
			break;
		e.path = w->path;
		err = w->fn(&e, w->arg);
		if (err == WALK_SKIP)
			err = 0;
		else if (!err && S_ISDIR(e.st.st_mode)) {
			fd = openat(dirfd, names[i],
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					    O_CLOEXEC);
			if (fd < 0) {
				err = -errno;
			} else {
				err = walk_dir(w, fd, depth + 1);
				close(fd);
			}
		}
		w->len = old;
		w->path[old] = '\0';
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

int walk_tree(int rootfd, walk_fn fn, void *arg)
{
	struct walk w = { .fn = fn, .arg = arg };
	int fd, err;

	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	w.path = calloc(1, 64);
	w.cap = w.path ? 64 : 0;
	err = w.path ? walk_dir(&w, fd, 1) : -ENOMEM;
	close(fd);
	free(w.path);
	return err;
}

int walk_remove_contents(int dirfd)
{
	char **names;
	size_t n, i;
	int err;

	err = walk_names(dirfd, &names, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (!err)
			err = walk_remove(dirfd, names[i]);
		free(names[i]);
	}
	free(names);
	return err;
}

int walk_remove(int dirfd, const char *name)
{
	int fd, err;

	if (!unlinkat(dirfd, name, 0) || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	fd = openat(dirfd, name,
		    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = walk_remove_contents(fd);
	close(fd);
	if (!err && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		err = -errno;
	return err;
}
