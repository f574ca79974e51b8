// SPDX-License-Identifier: GPL-2.0-or-later
/* The merge rule of a stack of layers (stack.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stack.h"
#include "whiteout.h"

void stack_set_free(struct stack_set *set)
{
	int i;

	for (i = 0; i < set->n; i++)
		close(set->objs[i].fd);
	free(set->objs);
	set->objs = NULL;
	set->n = 0;
}

static int push_obj(struct stack_set *set, int layer, int fd)
{
	struct stack_obj *o;

	o = realloc(set->objs, (set->n + 1) * sizeof(*o));
	if (!o) {
		close(fd);
		return -ENOMEM;
	}
	set->objs = o;
	o[set->n].layer = layer;
	o[set->n].fd = fd;
	o[set->n].hints = 0;
	set->n++;
	return 0;
}

/* stack_find_one() in a directory with the STACK_HINT_* HINTS. */
static int find_one(int dirfd, int hints, const char *name, int *fd,
		    struct stat *st)
{
	bool known = hints & STACK_HINT_KNOWN;
	int dflags;

	*fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0) {
		if (errno != ENOENT)
			return errno == ENOTDIR ? 0 : -errno;
		if (known && (hints & STACK_HINT_NO_WH))
			return 0;
		return wh_has_wh_file(dirfd, name) ? -ENOENT : 0;
	}
	if (fstatat(*fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = -errno;

		close(*fd);
		return err;
	}
	dflags = 0;
	if (S_ISREG(st->st_mode) && st->st_size == 0) {
		dflags = known ? hints >> STACK_HINT_DFLAGS_SHIFT :
				 wh_dir_flags(dirfd);
		if (dflags < 0)
			dflags = 0;
	}
	if (wh_is_whiteout(*fd, st, dflags)) {
		close(*fd);
		return -ENOENT;
	}
	return 1;
}

int stack_find_one(int dirfd, const char *name, int *fd, struct stat *st)
{
	return find_one(dirfd, 0, name, fd, st);
}

/*
 * Walk the absolute redirect PATH from the root of a layer, one
 * component at a time and never through a symlink.  Same returns as
 * stack_find_one(); *STOP is set when a directory on the way is opaque
 * in this layer, which ends the search below it.
 */
static int find_path(int rootfd, const char *path, int *fd, struct stat *st,
		     bool *stop)
{
	char *copy = strdup(path), *comp, *save = NULL;
	int dir = -1, r = 0;

	if (!copy)
		return -ENOMEM;
	*fd = -1;
	for (comp = strtok_r(copy, "/", &save); comp;
	     comp = strtok_r(NULL, "/", &save)) {
		int parent = dir >= 0 ? dir : rootfd;

		if (*fd >= 0) {
			/* the previous component must be a directory */
			if (!S_ISDIR(st->st_mode)) {
				r = 0;
				close(*fd);
				*fd = -1;
				break;
			}
			if (dir >= 0)
				close(dir);
			dir = *fd;
			parent = dir;
			*fd = -1;
			if (wh_dir_flags(dir) & WH_DIR_OPAQUE)
				*stop = true;
		}
		r = stack_find_one(parent, comp, fd, st);
		if (r <= 0) {
			*fd = -1;
			break;
		}
	}
	if (dir >= 0)
		close(dir);
	free(copy);
	if (r <= 0 && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return r;
}

/*
 * Take the object FD found in LAYER into SET.  Returns 1 when the
 * search must stop below, 0 to go on, or -errno.
 */
static int take(struct stack_set *set, bool above, int layer, int fd,
		const struct stat *st, struct stack_walk *w)
{
	bool have = above || set->n;
	int flags, err;

	if (have && !S_ISDIR(st->st_mode)) {
		close(fd); /* a non-directory under a directory ends it */
		return 1;
	}
	if (!have)
		set->st = *st;
	err = push_obj(set, layer, fd);
	if (err)
		return err;
	if (!S_ISDIR(st->st_mode))
		return 1;
	flags = wh_dir_flags(fd);
	if (flags > 0 && (flags & WH_DIR_REDIRECT)) {
		char *r;

		if (!wh_get_redirect(fd, &r)) {
			free(w->redirect);
			w->redirect = r;
			w->absolute = r[0] == '/';
			w->next_layer = layer + 1;
		}
	}
	return flags > 0 && (flags & WH_DIR_OPAQUE);
}

int stack_find(const int *roots, int nroots, const struct stack_obj *dirs,
	       int n, const char *name, bool above, struct stack_set *set,
	       struct stack_walk *w)
{
	struct stat st;
	int i, fd, r;

	for (i = 0; i < n && !w->absolute; i++) {
		r = find_one(dirs[i].fd,
			     __atomic_load_n(&dirs[i].hints, __ATOMIC_RELAXED),
			     w->redirect ? w->redirect : name, &fd, &st);
		if (r == -ENOENT) {
			w->whiteout = true;
			return 0;
		}
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		r = take(set, above, dirs[i].layer, fd, &st, w);
		if (r)
			return r < 0 ? r : 0;
	}
	if (!w->absolute)
		return 0;
	for (i = w->next_layer; i < nroots; i++) {
		bool stop = false;

		r = find_path(roots[i], w->redirect, &fd, &st, &stop);
		if (r == -ENOENT) {
			w->whiteout = true;
			return 0;
		}
		if (r < 0)
			return r;
		if (r > 0) {
			r = take(set, above, i, fd, &st, w);
			if (r)
				return r < 0 ? r : 0;
			if (!w->absolute)
				return 0; /* a relative redirect below: rare */
		}
		if (stop)
			return 0;
	}
	return 0;
}

int stack_lookup(const int *roots, int nroots, const char *path,
		 struct stack_set *set)
{
	char *copy = strdup(path), *comp, *save = NULL;
	struct stack_set dirs = { 0 };
	int i, err = 0, fd;

	memset(set, 0, sizeof(*set));
	if (!copy)
		return -ENOMEM;
	for (i = 0; i < nroots && !err; i++) {
		fd = openat(roots[i], ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		err = fd < 0 ? -errno : push_obj(&dirs, i, fd);
	}
	if (!err && fstatat(roots[0], "", &dirs.st, AT_EMPTY_PATH) < 0)
		err = -errno;
	for (comp = strtok_r(copy, "/", &save); comp && !err;
	     comp = strtok_r(NULL, "/", &save)) {
		struct stack_set next = { 0 };
		struct stack_walk w = { 0 };

		if (!dirs.n || !S_ISDIR(dirs.st.st_mode)) {
			stack_set_free(&dirs);
			break; /* not found */
		}
		err = stack_find(roots, nroots, dirs.objs, dirs.n, comp, false,
				 &next, &w);
		free(w.redirect);
		stack_set_free(&dirs);
		dirs = next;
	}
	free(copy);
	if (err) {
		stack_set_free(&dirs);
		return err;
	}
	*set = dirs;
	return set->n > 0;
}
