// SPDX-License-Identifier: GPL-2.0-or-later
/* The data of metadata-only copies (metacopy.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metacopy.h"
#include "procfd.h"
#include "whiteout.h"

/*
 * Apply the redirect of the file FD, if it has one, to the name searched:
 * *WHERE (NULL: the file's own name) and *ABSOLUTE.  A relative redirect
 * is a name in the same directory, the one searched so far.
 */
static int redirect(int fd, char **where, bool *absolute)
{
	char *r, *slash, *p;
	int err = wh_get_redirect(fd, &r);

	if (err == -ENODATA)
		return 0;
	if (err)
		return err;
	if (r[0] == '/') {
		free(*where);
		*where = r;
		*absolute = true;
		return 0;
	}
	if (!r[0] || strchr(r, '/') || !strcmp(r, ".") || !strcmp(r, "..")) {
		free(r);
		return -EINVAL; /* the kernel refuses it too */
	}
	if (!*absolute) {
		free(*where);
		*where = r;
		return 0;
	}
	slash = strrchr(*where, '/');
	if (asprintf(&p, "%.*s/%s", (int)(slash - *where), *where, r) < 0) {
		free(r);
		return -ENOMEM;
	}
	free(r);
	free(*where);
	*where = p;
	return 0;
}

int metacopy_find(const int *roots, int nroots, const struct stack_obj *dirs,
		  int n, const char *name, const struct stack_obj *file,
		  struct stack_obj *data, struct stat *st)
{
	struct stack_obj cur = *file;
	char *where = NULL;
	bool absolute = false;
	int err = 0, i;

	data->fd = -1;
	for (;;) {
		struct stack_set set = { 0 };
		struct stack_walk w = { 0 };

		err = redirect(cur.fd, &where, &absolute);
		if (err)
			break;
		if (absolute) {
			/* from the roots of the layers below */
			w.redirect = strdup(where);
			if (!w.redirect) {
				err = -ENOMEM;
				break;
			}
			w.absolute = true;
			w.next_layer = cur.layer + 1;
			err = stack_find(roots, nroots, NULL, 0, "", false, &set,
					 &w);
		} else {
			/* in the parent's layer directories below */
			for (i = 0; i < n && dirs[i].layer <= cur.layer; i++)
				;
			err = stack_find(roots, nroots, dirs + i, n - i,
					 where ? where : name, false, &set, &w);
		}
		free(w.redirect);
		if (!err && (!set.n || !S_ISREG(set.st.st_mode)))
			err = -ENODATA;
		if (err) {
			stack_set_free(&set);
			break;
		}
		/* a regular file ends the search: it is alone in SET */
		if (cur.fd != file->fd)
			close(cur.fd);
		cur = set.objs[0];
		*st = set.st;
		free(set.objs);
		if (!wh_is_metacopy(cur.fd)) {
			*data = cur;
			free(where);
			return 0;
		}
	}
	if (cur.fd != file->fd)
		close(cur.fd);
	free(where);
	return err;
}

int metacopy_lookup(const int *roots, int nroots, const char *path,
		    const struct stack_obj *file, struct stack_obj *data,
		    struct stat *st)
{
	const char *slash = strrchr(path, '/');
	struct stack_set dir;
	char *parent;
	int r;

	data->fd = -1;
	parent = slash ? strndup(path, slash - path) : strdup("");
	if (!parent)
		return -ENOMEM;
	r = stack_lookup(roots, nroots, parent, &dir);
	free(parent);
	if (r < 0)
		return r;
	if (!r || !S_ISDIR(dir.st.st_mode)) {
		stack_set_free(&dir);
		return -ENODATA;
	}
	r = metacopy_find(roots, nroots, dir.objs, dir.n,
			  slash ? slash + 1 : path, file, data, st);
	stack_set_free(&dir);
	return r;
}

int metacopy_open(const int *roots, int nroots, const char *path,
		  const struct stack_obj *file)
{
	struct stack_obj data = *file;
	struct stat st;
	int fd, err;

	if (wh_is_metacopy(file->fd)) {
		err = metacopy_lookup(roots, nroots, path, file, &data, &st);
		if (err)
			return err;
	}
	fd = proc_fd_open(data.fd, O_RDONLY);
	err = fd < 0 ? -errno : 0;
	if (data.fd != file->fd)
		close(data.fd);
	return fd < 0 ? err : fd;
}
