// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layerfs ls, rm and gc: the tags and layers of the store.  Tags are
 * the roots: gc keeps every layer a tag reaches through its parents and
 * removes the rest, and whatever a killed command left in STORE/tmp.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "log.h"
#include "view.h"
#include "walk.h"

static const char ls_usage[] =
	"usage: layerfs ls [--store DIR] [-a]\n"
	"\n"
	"List the tags of the store, with the layer each names; with -a, also\n"
	"every layer: ID, parent, size in bytes and how it was made.\n"
	"\n"
	"    --store DIR   the layer store\n"
	"    -a, --all     list the layers too\n";

static const char rm_usage[] =
	"usage: layerfs rm [--store DIR] REF...\n"
	"\n"
	"Remove tags; a layer given by ID is removed when no tag and no other\n"
	"layer uses it.  'layerfs gc' removes what no tag reaches any more.\n"
	"\n"
	"    --store DIR   the layer store\n";

static const char gc_usage[] =
	"usage: layerfs gc [--store DIR]\n"
	"\n"
	"Remove the layers that no tag reaches, and leftovers of interrupted\n"
	"commands.\n"
	"\n"
	"    --store DIR   the layer store\n";

/* --store and --help for the three commands. */
static const char *parse(int argc, char **argv, const char *usage, bool *all)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *store = NULL;
	int c;

	while ((c = getopt_long(argc, argv, all ? "ah" : "h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'a':
			if (!all)
				die("--all: unknown option (see 'layerfs %s "
				    "--help')", argv[0]);
			*all = true;
			break;
		case 'h': fputs(usage, stdout); exit(0);
		default:
			die("%s: unknown option (see 'layerfs %s --help')",
			    argv[optind - 1], argv[0]);
		}
	}
	return store;
}

int cmd_ls(int argc, char **argv)
{
	char (*ids)[STORE_ID_LEN + 1], id[STORE_ID_LEN + 1], **tags;
	bool all = false;
	const char *path = parse(argc, argv, ls_usage, &all);
	struct layer_meta m;
	struct store s;
	int n, i, err;

	if (optind != argc)
		die("wrong number of arguments (see 'layerfs ls --help')");
	view_open_store(&s, path, false, false);
	if ((err = store_tags(&s, &tags, &n)))
		die("%s: %s", s.path, strerror(-err));
	for (i = 0; i < n; i++) {
		if (store_tag_get(&s, tags[i], id))
			snprintf(id, sizeof(id), "?");
		printf("%-24s %s\n", tags[i], id);
		free(tags[i]);
	}
	free(tags);
	if (!all)
		goto out;
	if ((err = store_layers(&s, &ids, &n)))
		die("%s: %s", s.path, strerror(-err));
	printf("\n%-32s %-12s %12s  %s\n", "LAYER", "PARENT", "SIZE",
	       "CREATED BY");
	for (i = 0; i < n; i++) {
		if (store_meta_read(&s, ids[i], &m))
			continue;
		printf("%s %-12.12s %12llu  %s\n", m.id,
		       m.parent[0] ? m.parent : "-",
		       (unsigned long long)m.size,
		       m.created_by ? m.created_by : "");
		store_meta_free(&m);
	}
	free(ids);
out:
	store_close(&s);
	return 0;
}

/* Mark in KEEP (parallel to IDS) every layer that a tag reaches. */
static void reachable(struct store *s, char (*ids)[STORE_ID_LEN + 1], int n,
		      bool *keep, const char *skip_tag)
{
	char (*chain)[STORE_ID_LEN + 1], id[STORE_ID_LEN + 1], **tags;
	int nt, nc, i, j, k;

	if (store_tags(s, &tags, &nt))
		die("%s: cannot list the tags", s->path);
	for (i = 0; i < nt; i++) {
		if ((!skip_tag || strcmp(tags[i], skip_tag)) &&
		    !store_tag_get(s, tags[i], id) &&
		    !store_chain(s, id, &chain, &nc)) {
			for (j = 0; j < nc; j++)
				for (k = 0; k < n; k++)
					if (!strcmp(chain[j], ids[k]))
						keep[k] = true;
			free(chain);
		}
		free(tags[i]);
	}
	free(tags);
}

int cmd_rm(int argc, char **argv)
{
	const char *path = parse(argc, argv, rm_usage, NULL);
	char id[STORE_ID_LEN + 1], (*ids)[STORE_ID_LEN + 1];
	struct layer_meta m;
	struct store s;
	int i, j, n, err, ret = 0;

	if (optind == argc)
		die("no tag or layer given (see 'layerfs rm --help')");
	view_open_store(&s, path, false, true);
	for (i = optind; i < argc; i++) {
		const char *ref = argv[i][0] == '@' ? argv[i] + 1 : argv[i];

		if (!store_tag_remove(&s, ref))
			continue;
		if (store_resolve(&s, ref, id)) {
			error("%s: no such tag or layer", argv[i]);
			ret = 1;
			continue;
		}
		/* a layer: only when nothing stands on it */
		if ((err = store_layers(&s, &ids, &n)))
			die("%s: %s", s.path, strerror(-err));
		bool *keep = calloc(n + 1, sizeof(*keep)), used = false;

		reachable(&s, ids, n, keep, NULL);
		for (j = 0; j < n; j++) {
			if (!strcmp(ids[j], id) && keep[j])
				used = true;
			if (!store_meta_read(&s, ids[j], &m)) {
				used |= !strcmp(m.parent, id);
				store_meta_free(&m);
			}
		}
		free(keep);
		free(ids);
		if (used) {
			error("%s: layer in use by a tag or another layer",
			      argv[i]);
			ret = 1;
		} else if ((err = store_layer_remove(&s, id))) {
			error("%s: %s", argv[i], strerror(-err));
			ret = 1;
		}
	}
	store_close(&s);
	return ret;
}

int cmd_gc(int argc, char **argv)
{
	const char *path = parse(argc, argv, gc_usage, NULL);
	char (*ids)[STORE_ID_LEN + 1];
	unsigned long long freed = 0;
	struct layer_meta m;
	struct store s;
	bool *keep;
	int n, i, err, removed = 0, tmp;

	if (optind != argc)
		die("wrong number of arguments (see 'layerfs gc --help')");
	/* exclusive: no commit or mount of the store runs meanwhile */
	view_open_store(&s, path, false, true);
	if ((err = store_layers(&s, &ids, &n)))
		die("%s: %s", s.path, strerror(-err));
	keep = calloc(n + 1, sizeof(*keep));
	if (!keep)
		die("out of memory");
	reachable(&s, ids, n, keep, NULL);
	for (i = 0; i < n; i++) {
		if (keep[i])
			continue;
		if (!store_meta_read(&s, ids[i], &m)) {
			freed += m.size;
			store_meta_free(&m);
		}
		if ((err = store_layer_remove(&s, ids[i])))
			die("%s: layer %s: %s", s.path, ids[i], strerror(-err));
		removed++;
	}
	tmp = openat(s.fd, "tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tmp >= 0) {
		walk_remove_contents(tmp);
		close(tmp);
	}
	printf("removed %d layers, %llu bytes\n", removed, freed);
	free(keep);
	free(ids);
	store_close(&s);
	return 0;
}
