// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layerfs which: copy-on-write made visible.  For one path, each layer
 * of a stack, top down, with what it holds there, and the layer the
 * view serves it from.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "log.h"
#include "metacopy.h"
#include "mounts.h"
#include "stack.h"
#include "view.h"
#include "whiteout.h"

static const char usage[] =
	"usage: layerfs which [--store DIR] [-u UPPER] REF PATH\n"
	"   or: layerfs which MOUNTPOINT/PATH\n"
	"\n"
	"For PATH in the image REF (with the upper directory UPPER on top,\n"
	"if given), or in a live layerfs mount: each layer, top first, with\n"
	"what it holds there (file, directory, whiteout, opaque directory,\n"
	"nothing), and the layer the view shows.\n"
	"\n"
	"    --store DIR        the layer store\n"
	"    -u, --upper UPPER  an upper directory on top of REF\n";

/* What layer directory ROOT holds at PATH, by that path alone. */
static const char *holds(int root, const char *path)
{
	char *copy = strdup(path), *comp, *save = NULL;
	int dir = dup(root), fd = -1, r = 0, flags;
	const char *what = "nothing";
	struct stat st;

	for (comp = strtok_r(copy, "/", &save); comp && dir >= 0;
	     comp = strtok_r(NULL, "/", &save)) {
		r = stack_find_one(dir, comp, &fd, &st);
		close(dir);
		dir = -1;
		if (r == -ENOENT) {
			what = "whiteout";
			break;
		}
		if (r <= 0)
			break;
		dir = fd;
	}
	if (dir >= 0 && r > 0) {
		flags = S_ISDIR(st.st_mode) ? wh_dir_flags(dir) : 0;
		what = S_ISDIR(st.st_mode) ?
			       (flags > 0 && (flags & WH_DIR_OPAQUE) ?
					"opaque directory" :
					flags > 0 && (flags & WH_DIR_REDIRECT) ?
					"directory (renamed: redirect)" :
					"directory") :
		       S_ISLNK(st.st_mode) ? "symlink" :
		       !S_ISREG(st.st_mode) ? "special file" :
		       wh_is_metacopy(dir) ? "file (metadata only)" :
					     "file";
	}
	if (dir >= 0)
		close(dir);
	free(copy);
	return what;
}

/* The layers of the live mount holding ARG, and PATH inside it. */
static void of_mount(const char *arg, struct view *v, char ***names,
		     char **path)
{
	char *copy = strdup(arg), *real = NULL, *slash;
	struct mount_state ms;
	struct stat st;
	size_t n;
	int i;

	if (!copy)
		die("out of memory");
	/* the path itself may be gone (a whiteout): its directory is not */
	if (lstat(copy, &st) == 0) {
		real = realpath(copy, NULL);
	} else {
		slash = strrchr(copy, '/');
		if (slash)
			*slash = '\0';
		if (stat(slash ? copy : ".", &st) < 0)
			die("%s: %s", arg, strerror(errno));
		real = realpath(slash ? copy : ".", NULL);
		if (real && asprintf(&slash, "%s/%s", real,
				     strrchr(arg, '/') ? strrchr(arg, '/') + 1 :
							 arg) >= 0) {
			free(real);
			real = slash;
		}
	}
	if (!real || mounts_lookup(st.st_dev, &ms))
		die("%s: not in a live layerfs mount", arg);
	n = strlen(ms.mountpoint);
	if (strncmp(real, ms.mountpoint, n) || (real[n] && real[n] != '/'))
		die("%s: not in a live layerfs mount", arg);
	*path = strdup(real + n + (real[n] == '/'));
	v->index_fd = -1;
	v->n = ms.nlayers;
	v->roots = calloc(v->n, sizeof(*v->roots));
	*names = calloc(v->n, sizeof(**names));
	if (!v->roots || !*names || !*path)
		die("out of memory");
	for (i = 0; i < v->n; i++) {
		v->roots[i] = open(ms.layers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (v->roots[i] < 0)
			die("%s: %s", ms.layers[i], strerror(errno));
		(*names)[i] = strdup(i == 0 && ms.has_upper ? "upper" :
							     ms.layers[i]);
	}
	mounts_free(&ms);
	free(real);
	free(copy);
}

/* The layers of store image REF, with UPPER on top if given. */
static void of_image(const char *storepath, const char *ref,
		     const char *upper, struct view *v, char ***names)
{
	char id[STORE_ID_LEN + 1], (*ids)[STORE_ID_LEN + 1];
	int top = upper ? 1 : 0, n, i, err;
	struct store s;

	view_open_store(&s, storepath, false, false);
	view_resolve(&s, ref, id);
	if ((err = store_chain(&s, id, &ids, &n)) ||
	    (err = view_of_chain(&s, id, top, v)))
		die("%s: %s", ref, strerror(-err));
	if (upper) {
		v->roots[0] = open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (v->roots[0] < 0)
			die("%s: %s", upper, strerror(errno));
	}
	*names = calloc(v->n, sizeof(**names));
	if (!*names)
		die("out of memory");
	for (i = 0; i < v->n; i++)
		(*names)[i] = strndup(i < top ? "upper" : ids[i - top], 12);
	free(ids);
	store_close(&s);
}

int cmd_which(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "upper", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *storepath = NULL, *upper = NULL;
	struct stack_set set;
	char **names, *path;
	struct view v;
	int c, i, err;

	while ((c = getopt_long(argc, argv, "u:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': storepath = optarg; break;
		case 'u': upper = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default:
			die("%s: unknown option (see 'layerfs which --help')",
			    argv[optind - 1]);
		}
	}
	if (argc - optind == 1 && !upper) {
		of_mount(argv[optind], &v, &names, &path);
	} else if (argc - optind == 2) {
		of_image(storepath, argv[optind], upper, &v, &names);
		path = argv[optind + 1];
		while (*path == '/')
			path++;
		path = strdup(path);
	} else {
		die("wrong number of arguments (see 'layerfs which --help')");
	}
	err = stack_lookup(v.roots, v.n, path, &set);
	if (err < 0)
		die("/%s: %s", path, strerror(-err));
	printf("/%s\n", path);
	for (i = 0; i < v.n; i++) {
		bool serves = err > 0 && set.objs[0].layer == i;

		printf("  %s %-12s  %s\n", serves ? "=>" : "  ", names[i],
		       holds(v.roots[i], path));
	}
	if (err == 0)
		printf("  the view shows nothing there\n");
	if (err > 0 && S_ISREG(set.st.st_mode) &&
	    wh_is_metacopy(set.objs[0].fd)) {
		struct stack_obj data;
		struct stat st;
		int r = metacopy_lookup(v.roots, v.n, path, &set.objs[0], &data,
					&st);

		if (!r) {
			printf("  the data comes from %s\n", names[data.layer]);
			close(data.fd);
		} else {
			printf("  the data is missing: %s\n",
			       r == -ENODATA ? "in no layer below" :
					       strerror(-r));
		}
	}
	if (err > 0)
		stack_set_free(&set);
	for (i = 0; i < v.n; i++)
		free(names[i]);
	free(names);
	free(path);
	view_close(&v);
	return 0;
}
