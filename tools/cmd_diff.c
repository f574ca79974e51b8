// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layerfs diff: what an upper directory (or a store layer) changes in
 * the view of its parent layers, one line per path, as `docker diff`:
 * A added, C changed (directories holding changes too), D deleted.
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
#include "mounts.h"
#include "view.h"

static const char usage[] =
	"usage: layerfs diff [--store DIR] [-p REF] [-w DIR] UPPER\n"
	"   or: layerfs diff [--store DIR] REF\n"
	"\n"
	"List what the upper directory UPPER, or the store layer REF, changes\n"
	"in the view of the layers below it: one line per path, A added,\n"
	"C changed, D deleted.\n"
	"\n"
	"    --store DIR        the layer store\n"
	"    -p, --parent REF   the layer UPPER sits on, if not recorded\n"
	"    -w, --workdir DIR  UPPER's work directory (default: beside it)\n";

int cmd_diff(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "parent", required_argument, NULL, 'p' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *storepath = NULL, *pref = NULL, *workdir = NULL, *arg;
	char parent[STORE_ID_LEN + 1] = "", id[STORE_ID_LEN + 1];
	struct layer_meta m;
	struct view new, old;
	struct changes ch;
	struct store s;
	int c, err, top;
	bool is_upper;
	size_t i;

	while ((c = getopt_long(argc, argv, "p:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': storepath = optarg; break;
		case 'p': pref = optarg; break;
		case 'w': workdir = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default:
			die("%s: unknown option (see 'layerfs diff --help')",
			    argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		die("wrong number of arguments (see 'layerfs diff --help')");
	arg = argv[optind];
	view_open_store(&s, storepath, false, false);
	top = open(arg, O_PATH | O_DIRECTORY | O_CLOEXEC);
	is_upper = top >= 0;
	if (is_upper) { /* an upper directory */
		if (pref)
			view_resolve(&s, pref, parent);
		else if ((err = store_upper_parent(top, parent)))
			die("%s: %s", arg, strerror(-err));
	} else {	/* a store layer against its parent */
		view_resolve(&s, arg, id);
		if ((err = store_meta_read(&s, id, &m)))
			die("%s: %s", arg, strerror(-err));
		memcpy(parent, m.parent, sizeof(parent));
		store_meta_free(&m);
		top = store_layer_open(&s, id);
		if (top < 0)
			die("%s: %s", arg, strerror(-top));
	}
	err = view_of_chain(&s, parent, 1, &new);
	if (!err)
		err = view_of_chain(&s, parent, 0, &old);
	if (err)
		die("%s: layers below: %s", arg, strerror(-err));
	new.roots[0] = top;
	if (is_upper) {
		/* lower hard links the mount copied up are in its index */
		char *work = workdir ? strdup(workdir) :
				       mounts_default_workdir(arg), *index;

		if (work && asprintf(&index, "%s/index", work) >= 0) {
			new.index_fd = open(index, O_PATH | O_DIRECTORY |
							   O_CLOEXEC);
			free(index);
		}
		free(work);
	}
	err = changes_compute(&new, &old, &ch);
	if (err)
		die("%s: %s", arg, strerror(-err));
	for (i = 0; i < ch.n; i++)
		printf("%c /%s\n", ch.v[i].kind, ch.v[i].path);
	changes_free(&ch);
	view_close(&new);
	view_close(&old);
	store_close(&s);
	return 0;
}
