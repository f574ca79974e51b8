// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "view.h"

int view_of_chain(struct store *s, const char *id, int top, struct view *v)
{
	char (*ids)[STORE_ID_LEN + 1] = NULL;
	int n = 0, i, err;

	memset(v, 0, sizeof(*v));
	v->index_fd = -1;
	if (*id) {
		err = store_chain(s, id, &ids, &n);
		if (err)
			return err;
	}
	v->roots = malloc((n + top + 1) * sizeof(*v->roots));
	if (!v->roots) {
		free(ids);
		return -ENOMEM;
	}
	v->n = top + n;
	for (i = 0; i < v->n; i++)
		v->roots[i] = -1;
	for (i = 0; i < n; i++) {
		v->roots[top + i] = store_layer_open(s, ids[i]);
		if (v->roots[top + i] < 0) {
			err = v->roots[top + i];
			free(ids);
			view_close(v);
			return err;
		}
	}
	free(ids);
	return 0;
}

void view_close(struct view *v)
{
	int i;

	for (i = 0; i < v->n; i++)
		if (v->roots[i] >= 0)
			close(v->roots[i]);
	free(v->roots);
	if (v->index_fd >= 0)
		close(v->index_fd);
	memset(v, 0, sizeof(*v));
	v->index_fd = -1;
}

void view_open_store(struct store *s, const char *path, bool create,
		     bool exclusive)
{
	char *p = path ? strdup(path) : store_default_path();
	int err = store_open(s, p, create, exclusive);

	if (err)
		die("%s: cannot open the store: %s", p ? p : "(no HOME)",
		    strerror(-err));
	free(p);
}

void view_resolve(struct store *s, const char *ref, char id[STORE_ID_LEN + 1])
{
	int err = store_resolve(s, ref, id);

	if (err == -EINVAL)
		die("%s: ambiguous or malformed reference", ref);
	if (err)
		die("%s: no such layer or tag in %s", ref, s->path);
}

void view_publish(struct store *s, const struct view *new,
		  const struct changes *ch, struct layer_meta *m,
		  const char *tag, const char *what, const char *verb)
{
	char *dir, *why = NULL;
	int rootfd, err;

	err = store_stage(s, &dir, &rootfd);
	if (err)
		die("%s/tmp: %s", s->path, strerror(-err));
	err = changes_write_layer(new, ch, rootfd, verb, &why);
	close(rootfd);
	if (err) {
		store_unstage(s, dir);
		die("%s: writing the layer: %s", what,
		    why ? why : strerror(-err));
	}
	err = store_publish(s, dir, m);
	if (err) {
		store_unstage(s, dir);
		die("%s: publishing the layer: %s", s->path, strerror(-err));
	}
	free(dir);
	if (tag && (err = store_tag_set(s, tag, m->id)))
		die("%s: tag %s: %s", s->path, tag, strerror(-err));
}
