// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layerfs import: an OCI image layout (a directory or a tar, as skopeo
 * or layerfs export write them) read into the store, one store layer per
 * image layer, each the parent of the next.
 *
 * The layout is hostile input.  Each document is parsed only after its
 * digest matched, each layer is extracted only after its blob and its
 * uncompressed stream matched the manifest and the config, and the
 * extraction itself (layer_untar.c) refuses any entry that would land
 * outside the layer.  A layer is staged and published in one rename; if
 * any layer fails, the layers this import added are removed again, so a
 * failed import leaves the store as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "oci.h"
#include "store.h"

static const char import_usage[] =
	"usage: layerfs import [--store DIR] [-t TAG] IN [IMAGE-REF]\n"
	"\n"
	"Read the OCI image layout IN, a directory or a .tar file, into the\n"
	"store, one layer per image layer, and print the ID of the top one.\n"
	"When the layout holds several images, IMAGE-REF (the image's\n"
	"org.opencontainers.image.ref.name) picks one.  Every blob is checked\n"
	"against its digest, and every entry before it is written.\n"
	"\n"
	"    --store DIR        the layer store (default: $LAYERFS_STORE)\n"
	"    -t TAG             tag the image TAG (default: its ref name)\n";

#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

struct import {
	const char *in, *ref, *tag, *store_path;
	struct store s;
	int layoutfd;
	char *unpacked; /* the staging dir holding IN unpacked, if a tar */
	const char *refname; /* the image's ref name in the layout */
	json_t *index, *manifest, *config;
	json_t *layers, *diff_ids, *history; /* borrowed */
	char (*before)[STORE_ID_LEN + 1]; /* the store's layers, sorted */
	int nbefore;
	char (*added)[STORE_ID_LEN + 1]; /* new layers, for a rollback */
	int nadded;
	char top[STORE_ID_LEN + 1];
	struct oci_progress progress;
};

static int parse_args(struct import *x, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "store", required_argument, NULL, 's' },
		{ "tag", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ht:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(import_usage, stdout);
			return 1;
		case 's':
			x->store_path = optarg;
			break;
		case 't':
			x->tag = optarg;
			break;
		default:
			oci_error("%s: unknown option or missing value "
				  "(see 'layerfs import --help')",
				  argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		oci_error("usage: layerfs import [--store DIR] [-t TAG] IN "
			  "[IMAGE-REF]");
		return -EINVAL;
	}
	x->in = argv[optind];
	x->ref = argv[optind + 1];
	return 0;
}

/* IN as a layout directory fd; a tar is unpacked into a staging dir. */
static int open_layout(struct import *x)
{
	struct stat st;
	int err;

	if (stat(x->in, &st) < 0) {
		oci_error("%s: %s", x->in, strerror(errno));
		return -errno;
	}
	if (S_ISDIR(st.st_mode)) {
		x->layoutfd = open(x->in, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (x->layoutfd < 0) {
			oci_error("%s: %s", x->in, strerror(errno));
			return -errno;
		}
	} else if (S_ISREG(st.st_mode)) {
		err = store_stage(&x->s, &x->unpacked, &x->layoutfd);
		if (err) {
			oci_error("%s/tmp: %s", x->s.path, strerror(-err));
			return err;
		}
		err = oci_unpack(x->in, x->layoutfd);
		if (err)
			return err;
	} else {
		oci_error("%s: neither a directory nor a tar file", x->in);
		return -EINVAL;
	}
	return oci_layout_check(x->layoutfd, x->in);
}

static const char *ref_name(json_t *desc)
{
	return json_string_value(json_object_get(
		json_object_get(desc, "annotations"), OCI_REF_NAME));
}

/* "a, b, c": the names of the images in LIST, for a message. */
static void list_names(json_t *list, char *buf, size_t size)
{
	size_t i, len = 0;
	const char *name;
	json_t *m;

	buf[0] = '\0';
	json_array_foreach(list, i, m) {
		name = ref_name(m);
		if (len < size)
			len += snprintf(buf + len, size - len, "%s%s",
					len ? ", " : "",
					name ? name : "(unnamed)");
	}
}

static bool platform_ok(json_t *desc)
{
	json_t *p = json_object_get(desc, "platform");
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch =
		json_string_value(json_object_get(p, "architecture"));
	char mine[OCI_ARCH_LEN];

	return os && arch && !strcmp(os, "linux") &&
	       !strcmp(arch, oci_arch(mine));
}

/*
 * The one descriptor of LIST that IMAGE-REF names (NESTED: this
 * machine's platform), or the only one there is.
 */
static json_t *pick(struct import *x, json_t *list, bool nested)
{
	json_t *m, *found = NULL;
	char names[512];
	char arch[OCI_ARCH_LEN];
	int count = 0;
	size_t i;

	json_array_foreach(list, i, m) {
		if (nested ? platform_ok(m) :
		    x->ref ? ref_name(m) && !strcmp(ref_name(m), x->ref) :
			     true) {
			found = found ? found : m;
			count++;
		}
	}
	if (nested && !count && json_array_size(list) == 1)
		return json_array_get(list, 0);
	if (count == 1 || (count && (nested || x->ref)))
		return found;
	list_names(list, names, sizeof(names));
	if (nested)
		oci_error("%s: no image for linux/%s in the image index",
			  x->in, oci_arch(arch));
	else if (!json_array_size(list))
		oci_error("%s: the layout holds no image", x->in);
	else if (x->ref)
		oci_error("%s: no image named '%s' (it has: %s)", x->in,
			  x->ref, names);
	else
		oci_error("%s: holds %zu images; name one of: %s", x->in,
			  json_array_size(list), names);
	return NULL;
}

static bool is_index(const char *mt)
{
	return !strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
}

/* Read the manifest or image index DESC points to; *IDX: an index. */
static int load(struct import *x, json_t *desc, json_t **doc, bool *idx)
{
	struct oci_desc d;
	const char *mt;
	int err;

	err = oci_desc_parse(desc, &d, x->in);
	if (!err)
		err = oci_blob_json(x->layoutfd, &d, x->in, doc);
	if (!err) {
		mt = *d.media_type ? d.media_type :
				     json_string_value(json_object_get(
					     *doc, "mediaType"));
		*idx = mt ? is_index(mt) :
			    json_object_get(*doc, "manifests") != NULL;
		if (mt && !*idx && strcmp(mt, OCI_MT_MANIFEST) &&
		    strcmp(mt, MT_DOCKER_MANIFEST)) {
			oci_error("%s: %s: unsupported manifest type %.80s",
				  x->in, d.digest, mt);
			err = -EINVAL;
		}
	}
	oci_desc_free(&d);
	return err;
}

/* index.json -> the manifest, following one image index if need be. */
static int read_manifest(struct import *x)
{
	json_t *desc, *nested;
	bool idx = false;
	int err;

	err = oci_json_file(x->layoutfd, "index.json", x->in, &x->index);
	if (err)
		return err;
	desc = pick(x, json_object_get(x->index, "manifests"), false);
	if (!desc)
		return -EINVAL;
	x->refname = ref_name(desc);
	err = load(x, desc, &x->manifest, &idx);
	if (err || !idx)
		return err;
	nested = x->manifest;
	x->manifest = NULL;
	desc = pick(x, json_object_get(nested, "manifests"), true);
	err = desc ? load(x, desc, &x->manifest, &idx) : -EINVAL;
	if (!err && idx) {
		oci_error("%s: an image index inside an image index", x->in);
		err = -EINVAL;
	}
	json_decref(nested);
	return err;
}

/* The manifest's config, and the lists the layers are read from. */
static int read_config(struct import *x)
{
	struct oci_desc d;
	json_t *cdesc = json_object_get(x->manifest, "config");
	size_t i;
	json_t *v;
	int err;

	x->layers = json_object_get(x->manifest, "layers");
	if (!cdesc || !json_is_array(x->layers)) {
		oci_error("%s: the manifest has no config or no layers", x->in);
		return -EINVAL;
	}
	err = oci_desc_parse(cdesc, &d, x->in);
	if (!err)
		err = oci_blob_json(x->layoutfd, &d, x->in, &x->config);
	oci_desc_free(&d);
	if (err)
		return err;
	x->diff_ids = json_object_get(json_object_get(x->config, "rootfs"),
				      "diff_ids");
	x->history = json_object_get(x->config, "history");
	if (!json_array_size(x->layers)) {
		oci_error("%s: the image has no layers", x->in);
		return -EINVAL;
	}
	if (json_array_size(x->diff_ids) != json_array_size(x->layers)) {
		oci_error("%s: the config lists %zu DiffIDs for %zu layers",
			  x->in, json_array_size(x->diff_ids),
			  json_array_size(x->layers));
		return -EINVAL;
	}
	json_array_foreach(x->diff_ids, i, v) {
		if (json_is_string(v) && oci_digest_ok(json_string_value(v)))
			continue;
		oci_error("%s: the config's DiffID %zu is malformed", x->in,
			  i + 1);
		return -EINVAL;
	}
	return 0;
}

/* The tag to set, checked before any work: the store's rules. */
static int check_tag(struct import *x)
{
	char id[STORE_ID_LEN + 1];
	const char *tag = x->tag ? x->tag : x->refname;

	if (!tag)
		return 0;
	if (store_tag_get(&x->s, tag, id) == -EINVAL) {
		oci_error("%s: not a valid tag (letters, digits, '.', '_', "
			  "'-', ':')%s",
			  tag, x->tag ? "" : "; give one with -t TAG");
		return -EINVAL;
	}
	x->tag = tag;
	return 0;
}

static bool layer_type_ok(const char *mt)
{
	/* the compression is detected from the data, whatever it says */
	return (!strncmp(mt, "application/vnd.oci.image.layer.", 32) ||
		!strncmp(mt, "application/vnd.docker.image.rootfs.", 36)) &&
	       !strstr(mt, "encrypted");
}

/* History entry of layer I: entries with empty_layer make no layer. */
static json_t *history_of(const struct import *x, size_t i)
{
	size_t k, n = 0;
	json_t *h;

	json_array_foreach(x->history, k, h) {
		if (json_is_true(json_object_get(h, "empty_layer")))
			continue;
		if (n++ == i)
			return h;
	}
	return NULL;
}

static void meta_from_history(const struct import *x, size_t i,
			      struct layer_meta *m)
{
	json_t *h = history_of(x, i);
	const char *s;
	int64_t t = 0;

	s = json_string_value(json_object_get(h, "created"));
	if (!s)
		s = json_string_value(json_object_get(x->config, "created"));
	if (s && !oci_time_parse(s, &t))
		m->created = t;
	s = json_string_value(json_object_get(h, "created_by"));
	m->created_by = strdup(s ? s : "layerfs import");
	s = json_string_value(json_object_get(h, "comment"));
	m->comment = s ? strdup(s) : NULL;
}

static bool known_before(const struct import *x, const char *id)
{
	int i;

	for (i = 0; i < x->nbefore; i++)
		if (!strcmp(x->before[i], id))
			return true;
	for (i = 0; i < x->nadded; i++)
		if (!strcmp(x->added[i], id))
			return true;
	return false;
}

static int note_added(struct import *x, const char *id)
{
	void *v;

	if (known_before(x, id))
		return 0;
	v = realloc(x->added, (x->nadded + 1) * sizeof(*x->added));
	if (!v)
		return -ENOMEM;
	x->added = v;
	memcpy(x->added[x->nadded++], id, STORE_ID_LEN + 1);
	return 0;
}

/* Extract the verified blob FD into a staging dir and publish it. */
static int stage_layer(struct import *x, size_t i, int fd,
		       const struct layer_untar_opts *o)
{
	struct layer_meta m = { 0 };
	char *dir = NULL;
	int rootfd = -1, err;

	err = store_stage(&x->s, &dir, &rootfd);
	if (err) {
		oci_error("%s/tmp: %s", x->s.path, strerror(-err));
		return err;
	}
	oci_progress_layer(&x->progress, "importing", i + 1,
			   json_array_size(x->layers));
	err = layer_untar(fd, rootfd, o);
	oci_progress_end(&x->progress);
	close(rootfd);
	memcpy(m.parent, x->top, sizeof(m.parent));
	meta_from_history(x, i, &m);
	if (!err && !m.created_by)
		err = -ENOMEM;
	if (!err) {
		err = store_publish(&x->s, dir, &m);
		if (err)
			oci_error("%s: publishing: %s", o->name,
				  strerror(-err));
	}
	if (err)
		store_unstage(&x->s, dir);
	if (!err)
		err = note_added(x, m.id);
	if (!err)
		memcpy(x->top, m.id, sizeof(x->top));
	store_meta_free(&m);
	free(dir);
	return err;
}

static int import_layer(struct import *x, size_t i)
{
	struct layer_untar_opts o = { .progress = &x->progress };
	const char *diffid = json_string_value(json_array_get(x->diff_ids, i));
	char name[256];
	struct oci_desc d;
	int fd = -1, err;

	o.root = geteuid() == 0;
	o.ns = o.root ? WH_NS_TRUSTED : WH_NS_USER;
	snprintf(name, sizeof(name), "%s: layer %zu", x->in, i + 1);
	err = oci_desc_parse(json_array_get(x->layers, i), &d, name);
	if (err)
		return err;
	snprintf(name, sizeof(name), "layer %.19s", d.digest);
	o.name = name;
	if (!layer_type_ok(d.media_type)) {
		oci_error("%s: unsupported media type '%.80s'", name,
			  d.media_type);
		err = -EINVAL;
	}
	if (!err)
		err = oci_blob_open(x->layoutfd, &d, x->in, &fd);
	if (!err) {
		oci_progress_layer(&x->progress, "verifying", i + 1,
				   json_array_size(x->layers));
		err = layer_verify(fd, d.digest, diffid, &o);
		oci_progress_end(&x->progress);
	}
	if (!err)
		err = stage_layer(x, i, fd, &o);
	if (fd >= 0)
		close(fd);
	oci_desc_free(&d);
	return err;
}

/* A failed import leaves the store as it was: drop what it added. */
static void rollback(struct import *x)
{
	int i, err;

	for (i = x->nadded - 1; i >= 0; i--) {
		err = store_layer_remove(&x->s, x->added[i]);
		if (err)
			oci_error("layer %s: cannot remove it again: %s",
				  x->added[i], strerror(-err));
	}
}

static int import_image(struct import *x)
{
	size_t i;
	int err;

	err = store_layers(&x->s, &x->before, &x->nbefore);
	if (err) {
		oci_error("%s: %s", x->s.path, strerror(-err));
		return err;
	}
	for (i = 0; i < json_array_size(x->layers); i++) {
		err = import_layer(x, i);
		if (err) {
			rollback(x);
			return err;
		}
	}
	if (x->tag) {
		err = store_tag_set(&x->s, x->tag, x->top);
		if (err) {
			oci_error("%s: %s", x->tag, strerror(-err));
			rollback(x);
			return err;
		}
	}
	printf("%s\n", x->top);
	return 0;
}

int cmd_import(int argc, char **argv)
{
	struct import x = { .layoutfd = -1 };
	int err;

	err = parse_args(&x, argc, argv);
	if (err)
		return err > 0 ? 0 : 1;
	oci_progress_init(&x.progress);
	err = store_open(&x.s, x.store_path, true, false);
	if (err)
		oci_error("%s: %s", x.store_path ? x.store_path : "store",
			  strerror(-err));
	if (!err)
		err = open_layout(&x);
	if (!err)
		err = read_manifest(&x);
	if (!err)
		err = read_config(&x);
	if (!err)
		err = check_tag(&x);
	if (!err)
		err = import_image(&x);
	if (err < 0 && oci_error_count() == 0)
		oci_error("%s: %s", x.in, strerror(-err));
	if (x.layoutfd >= 0)
		close(x.layoutfd);
	if (x.unpacked)
		store_unstage(&x.s, x.unpacked);
	free(x.unpacked);
	json_decref(x.config);
	json_decref(x.manifest);
	json_decref(x.index);
	free(x.before);
	free(x.added);
	if (x.s.path)
		store_close(&x.s);
	return err ? 1 : 0;
}
