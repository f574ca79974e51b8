// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layerfs history: the layers of an image, top first, with what each
 * costs and how much of it later layers hide (shadowed or deleted bytes
 * still ship), in the spirit of `docker history` and dive.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "log.h"
#include "stack.h"
#include "view.h"
#include "walk.h"

static const char usage[] =
	"usage: layerfs history [--store DIR] [--json] REF\n"
	"\n"
	"Show the layers of REF, top first: ID, when and how each was made,\n"
	"its size, and the bytes of it that layers above hide (shadowed or\n"
	"deleted: they still ship).  The totals give the bytes wasted and an\n"
	"efficiency score.\n"
	"\n"
	"    --store DIR   the layer store\n"
	"    --json        one JSON document, for scripts\n";

struct usage_ctx {
	const struct view *v;
	int layer; /* the layer walked: index in v->roots */
	unsigned long long size, hidden, files;
};

/* Is the file at E->path in layer C->layer what the view above shows? */
static int count_one(const struct walk_entry *e, void *arg)
{
	struct usage_ctx *c = arg;
	struct stack_set set;
	int r;

	if (!S_ISREG(e->st.st_mode))
		return 0;
	c->size += e->st.st_size;
	c->files++;
	/* only the layers down to this one decide */
	r = stack_lookup(c->v->roots, c->layer + 1, e->path, &set);
	if (r < 0)
		return r;
	if (!r || set.objs[0].layer != c->layer ||
	    set.st.st_ino != e->st.st_ino || set.st.st_dev != e->st.st_dev)
		c->hidden += e->st.st_size;
	stack_set_free(&set);
	return 0;
}

static void human(char *buf, size_t len, unsigned long long n)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = n;
	int u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void bar(char *buf, unsigned long long size, unsigned long long hidden,
		unsigned long long max, bool tty)
{
	int width = 20, full = max ? (int)(size * width / max) : 0;
	int gone = size ? (int)(hidden * full / size) : 0, i;
	const char *on = tty ? "\u2588" : "#", *off = tty ? "\u2591" : ".";

	buf[0] = '\0';
	if (size && !full)
		full = 1;
	for (i = 0; i < width; i++)
		strcat(buf, i < full - gone ? on : i < full ? off : " ");
}

int cmd_history(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *storepath = NULL;
	char id[STORE_ID_LEN + 1], (*ids)[STORE_ID_LEN + 1];
	unsigned long long total = 0, wasted = 0, max = 0;
	struct usage_ctx *u;
	struct store s;
	struct view v;
	bool json = false, tty = isatty(1);
	json_t *arr = NULL;
	int c, n, i, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': storepath = optarg; break;
		case 'j': json = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default:
			die("%s: unknown option (see 'layerfs history --help')",
			    argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		die("wrong number of arguments (see 'layerfs history --help')");
	view_open_store(&s, storepath, false, false);
	view_resolve(&s, argv[optind], id);
	if ((err = store_chain(&s, id, &ids, &n)) ||
	    (err = view_of_chain(&s, id, 0, &v)))
		die("%s: %s", argv[optind], strerror(-err));
	u = calloc(n, sizeof(*u));
	if (!u)
		die("out of memory");
	for (i = 0; i < n; i++) {
		u[i].v = &v;
		u[i].layer = i;
		err = walk_tree(v.roots[i], count_one, &u[i]);
		if (err)
			die("%s: layer %s: %s", argv[optind], ids[i],
			    strerror(-err));
		total += u[i].size;
		wasted += u[i].hidden;
		if (u[i].size > max)
			max = u[i].size;
	}
	if (json)
		arr = json_array();
	else
		printf("%-12s  %-16s  %9s  %9s  %-20s  %s\n", "LAYER",
		       "CREATED", "SIZE", "HIDDEN", "", "CREATED BY");
	for (i = 0; i < n; i++) {
		struct layer_meta m;
		char when[32] = "", sz[16], hd[16], b[128];
		time_t t;

		if ((err = store_meta_read(&s, ids[i], &m)))
			die("%s: layer %s: %s", argv[optind], ids[i],
			    strerror(-err));
		t = m.created;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", gmtime(&t));
		if (json) {
			json_array_append_new(arr, json_pack(
				"{s:s, s:s, s:I, s:s, s:s?, s:I, s:I, s:I}",
				"id", m.id, "parent", m.parent, "created",
				(json_int_t)m.created, "created_by",
				m.created_by ? m.created_by : "", "comment",
				m.comment, "size", (json_int_t)u[i].size,
				"hidden", (json_int_t)u[i].hidden, "files",
				(json_int_t)u[i].files));
		} else {
			human(sz, sizeof(sz), u[i].size);
			human(hd, sizeof(hd), u[i].hidden);
			bar(b, u[i].size, u[i].hidden, max, tty);
			printf("%.12s  %-16s  %9s  %9s  %s  %s%s%s\n", m.id,
			       when, sz, hd, b,
			       m.created_by ? m.created_by : "",
			       m.comment ? ": " : "",
			       m.comment ? m.comment : "");
		}
		store_meta_free(&m);
	}
	if (json) {
		json_t *o = json_pack("{s:s, s:o, s:I, s:I, s:f}", "ref",
				      argv[optind], "layers", arr, "total",
				      (json_int_t)total, "wasted",
				      (json_int_t)wasted, "efficiency",
				      total ? 1.0 - (double)wasted / total : 1.0);

		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		char tt[16], ww[16];

		human(tt, sizeof(tt), total);
		human(ww, sizeof(ww), wasted);
		printf("\ntotal %s in %d layer%s; hidden by later layers "
		       "(wasted) %s; efficiency %.1f%%\n",
		       tt, n, n == 1 ? "" : "s", ww,
		       total ? 100.0 * (1.0 - (double)wasted / total) : 100.0);
	}
	free(u);
	free(ids);
	view_close(&v);
	store_close(&s);
	return 0;
}
