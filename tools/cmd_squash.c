// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layerfs squash: fold the top layers of an image into one layer that
 * holds what they show together: whiteouts and opaque directories are
 * applied, and what they hide is dropped.  The result mounts to the
 * same tree.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "log.h"
#include "view.h"

static const char usage[] =
	"usage: layerfs squash [--store DIR] [-n N] [-t TAG] REF\n"
	"\n"
	"Fold the top N layers of REF (all by default) into one new layer on\n"
	"top of the rest, and print its ID.\n"
	"\n"
	"    --store DIR        the layer store\n"
	"    -n, --layers N     how many layers to fold\n"
	"    -t, --tag TAG      point TAG at the new layer\n";

int cmd_squash(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "layers", required_argument, NULL, 'n' },
		{ "tag", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *storepath = NULL, *tag = NULL;
	char id[STORE_ID_LEN + 1], (*ids)[STORE_ID_LEN + 1], *end;
	struct layer_meta m = { 0 }, lm;
	unsigned long long before = 0;
	struct view new, old;
	struct changes ch;
	struct store s;
	int c, n, fold = 0, i, err;

	while ((c = getopt_long(argc, argv, "n:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': storepath = optarg; break;
		case 't': tag = optarg; break;
		case 'n':
			fold = strtol(optarg, &end, 10);
			if (*end || fold < 1)
				die("-n %s: not a number of layers", optarg);
			break;
		case 'h': fputs(usage, stdout); return 0;
		default:
			die("%s: unknown option (see 'layerfs squash --help')",
			    argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		die("wrong number of arguments (see 'layerfs squash --help')");
	if (tag && !store_tag_valid(tag))
		die("%s: not a valid tag name (letters, digits, . _ - :)", tag);
	view_open_store(&s, storepath, false, false);
	view_resolve(&s, argv[optind], id);
	if ((err = store_chain(&s, id, &ids, &n)))
		die("%s: %s", argv[optind], strerror(-err));
	if (!fold || fold > n)
		fold = n;
	for (i = 0; i < fold; i++) {
		if ((err = store_meta_read(&s, ids[i], &lm)))
			die("%s: layer %s: %s", argv[optind], ids[i],
			    strerror(-err));
		before += lm.size;
		store_meta_free(&lm);
	}
	snprintf(m.parent, sizeof(m.parent), "%s", fold < n ? ids[fold] : "");
	if ((err = view_of_chain(&s, id, 0, &new)) ||
	    (err = view_of_chain(&s, m.parent, 0, &old)) ||
	    (err = changes_compute(&new, &old, &ch)))
		die("%s: %s", argv[optind], strerror(-err));
	if (asprintf(&m.created_by, "layerfs squash of %d layer%s", fold,
		     fold == 1 ? "" : "s") < 0)
		die("out of memory");
	view_publish(&s, &new, &ch, &m, tag, argv[optind], "squashing");
	printf("%s\n", m.id);
	fprintf(stderr, "%d layer%s, %llu bytes -> 1 layer, %llu bytes\n",
		fold, fold == 1 ? "" : "s", before, (unsigned long long)m.size);
	store_meta_free(&m);
	changes_free(&ch);
	view_close(&new);
	view_close(&old);
	free(ids);
	store_close(&s);
	return 0;
}
