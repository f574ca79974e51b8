// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layerfs export: an image of the store (a top layer and its parents) as
 * an OCI image layout, a directory or one tar file, that skopeo, umoci
 * and container engines read.  One OCI layer per store layer, bottom
 * first; config, manifest and index as image-spec 1.1 has them.
 *
 * Everything is built in OUT.tmp-PID and appears at OUT in one rename
 * (git's lockfile): a failed or interrupted export leaves nothing, and
 * a reader of OUT never sees half a layout.  Adding a tag to an existing
 * layout builds the new layout beside it (old blobs hard-linked) and
 * swaps the two with RENAME_EXCHANGE.
 *
 * The output is a function of the layers and SOURCE_DATE_EPOCH alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "copy.h"
#include "log.h"
#include "oci.h"
#include "store.h"
#include "walk.h"

static const char export_usage[] =
	"usage: layerfs export [--store DIR] [--compress gzip|zstd|none] REF -o OUT\n"
	"\n"
	"Write the image REF of the store (a tag, @TAG, or a layer ID) with\n"
	"the layers below it as an OCI image layout: the directory OUT, or\n"
	"the tar file OUT when its name ends in .tar.  The image is named\n"
	"after the tag (\"latest\" for a layer ID); an existing layout OUT\n"
	"gets the image added.  SOURCE_DATE_EPOCH clamps every time.\n"
	"\n"
	"    --store DIR        the layer store (default: $LAYERFS_STORE)\n"
	"    --compress ALGO    compression of the layers: gzip (default),\n"
	"                       zstd or none\n"
	"    -o OUT             the layout directory or .tar file to write\n";

/* Paths removed if the command dies: a signal must not leave them. */
static char *doomed[2];

static void remove_doomed(void)
{
	size_t i;

	for (i = 0; i < sizeof(doomed) / sizeof(*doomed); i++)
		if (doomed[i]) {
			walk_remove(AT_FDCWD, doomed[i]);
			free(doomed[i]);
			doomed[i] = NULL;
		}
}

static void doomed_on_signal(int sig)
{
	remove_doomed();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void doom(int slot, const char *path)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
	struct sigaction sa = { .sa_handler = doomed_on_signal };
	size_t i;

	for (i = 0; i < sizeof(sigs) / sizeof(*sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	free(doomed[slot]);
	doomed[slot] = path ? strdup(path) : NULL;
}

struct export {
	const char *ref, *store_path;
	char *out; /* without trailing slashes: OUT.tmp-PID is its sibling */
	const char *tag; /* the image's name in the layout */
	enum oci_compress compress;
	bool tar, add;	 /* OUT is a .tar; OUT is a layout to add to */
	bool clamp;
	int64_t epoch;
	struct store s;
	char (*ids)[STORE_ID_LEN + 1]; /* top first */
	int *roots; /* their O_PATH fds, for the data of metadata-only copies */
	int n;
	char *tmp, *tmptar;
	int tmpfd;
	struct oci_progress progress;
};

static int parse_args(struct export *x, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "store", required_argument, NULL, 's' },
		{ "compress", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	size_t len;
	int c;

	x->compress = OCI_COMPRESS_GZIP;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(export_usage, stdout);
			return 1;
		case 's':
			x->store_path = optarg;
			break;
		case 'o':
			free(x->out);
			x->out = strdup(optarg);
			if (!x->out)
				return -ENOMEM;
			len = strlen(x->out);
			while (len > 1 && x->out[len - 1] == '/')
				x->out[--len] = '\0';
			break;
		case 'c':
			if (!strcmp(optarg, "gzip"))
				x->compress = OCI_COMPRESS_GZIP;
			else if (!strcmp(optarg, "zstd"))
				x->compress = OCI_COMPRESS_ZSTD;
			else if (!strcmp(optarg, "none"))
				x->compress = OCI_COMPRESS_NONE;
			else {
				oci_error("--compress %s: not gzip, zstd or none",
					  optarg);
				return -EINVAL;
			}
			break;
		default:
			oci_error("%s: unknown option or missing value "
				  "(see 'layerfs export --help')",
				  argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind != argc - 1 || !x->out || !*x->out) {
		oci_error("usage: layerfs export [--store DIR] "
			  "[--compress gzip|zstd|none] REF -o OUT");
		return -EINVAL;
	}
	x->ref = argv[optind];
	return 0;
}

/* The image: REF's chain, and the name it gets in the layout. */
static int find_image(struct export *x)
{
	char id[STORE_ID_LEN + 1], tid[STORE_ID_LEN + 1];
	int err, i;

	err = store_open(&x->s, x->store_path, false, false);
	if (err) {
		oci_error("%s: %s", x->store_path ? x->store_path : "store",
			  strerror(-err));
		return err;
	}
	err = store_resolve(&x->s, x->ref, id);
	if (err) {
		oci_error("%s: %s", x->ref,
			  err == -ENOENT ? "no such tag or layer in the store" :
			  err == -EINVAL ? "ambiguous or invalid reference" :
					   strerror(-err));
		return err;
	}
	if (x->ref[0] == '@')
		x->tag = x->ref + 1;
	else if (!store_tag_get(&x->s, x->ref, tid))
		x->tag = x->ref;
	else
		x->tag = "latest";
	err = store_chain(&x->s, id, &x->ids, &x->n);
	if (err) {
		oci_error("%s: reading its layers: %s", x->ref, strerror(-err));
		return err;
	}
	x->roots = malloc(x->n * sizeof(*x->roots));
	if (!x->roots)
		return -ENOMEM;
	for (i = 0; i < x->n; i++)
		x->roots[i] = -1;
	for (i = 0; i < x->n && !err; i++) {
		x->roots[i] = store_layer_open(&x->s, x->ids[i]);
		if (x->roots[i] < 0) {
			err = x->roots[i];
			oci_error("layer %.12s: %s", x->ids[i], strerror(-err));
		}
	}
	return err;
}

static bool is_empty_dir(const char *path)
{
	char **names;
	size_t n = 1, i;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0 && !walk_names(fd, &names, &n)) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	if (fd >= 0)
		close(fd);
	return n == 0;
}

/* What OUT is now decides how the result gets there. */
static int check_out(struct export *x)
{
	size_t len = strlen(x->out);
	char *layout;
	struct stat st;

	x->tar = len > 4 && !strcmp(x->out + len - 4, ".tar");
	if (lstat(x->out, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		oci_error("%s: %s", x->out, strerror(errno));
		return -errno;
	}
	if (x->tar) {
		if (!S_ISREG(st.st_mode)) {
			oci_error("%s: exists and is not a regular file", x->out);
			return -EEXIST;
		}
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		oci_error("%s: exists and is not a directory", x->out);
		return -EEXIST;
	}
	if (is_empty_dir(x->out))
		return 0;
	if (asprintf(&layout, "%s/oci-layout", x->out) < 0)
		return -ENOMEM;
	x->add = !faccessat(AT_FDCWD, layout, F_OK, AT_SYMLINK_NOFOLLOW);
	free(layout);
	if (!x->add) {
		oci_error("%s: exists, and is neither empty nor an OCI image layout",
			  x->out);
		return -EEXIST;
	}
	return 0;
}

/* OUT.tmp-PID, with blobs/sha256 and oci-layout in it. */
static int make_tmp(struct export *x)
{
	int err;

	if (asprintf(&x->tmp, "%s.tmp-%d", x->out, (int)getpid()) < 0 ||
	    asprintf(&x->tmptar, "%s.tar", x->tmp) < 0)
		return -ENOMEM;
	doom(0, x->tmp);
	if (mkdir(x->tmp, 0755) < 0) {
		err = -errno;
		oci_error("%s: %s", x->tmp, strerror(-err));
		doom(0, NULL);
		return err;
	}
	x->tmpfd = open(x->tmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (x->tmpfd < 0) {
		oci_error("%s: %s", x->tmp, strerror(errno));
		return -errno;
	}
	return oci_layout_init(x->tmpfd, x->tmp);
}

/* Link (or copy) the blobs of the layout OUT into the new one. */
static int take_old_blobs(struct export *x, int outfd)
{
	int from = -1, to = -1, err = 0;
	char **names = NULL;
	size_t n = 0, i;

	from = openat(outfd, "blobs/sha256",
		      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	to = openat(x->tmpfd, "blobs/sha256",
		    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (from < 0 || to < 0 || (err = walk_names(from, &names, &n))) {
		err = err ? err : -errno;
		oci_error("%s/blobs/sha256: %s", x->out, strerror(-err));
	}
	for (i = 0; i < n; i++) {
		struct stat st;
		int s = -1, d = -1;

		if (!err && linkat(from, names[i], to, names[i], 0) < 0 &&
		    !fstatat(from, names[i], &st, AT_SYMLINK_NOFOLLOW) &&
		    S_ISREG(st.st_mode)) {
			s = openat(from, names[i], O_RDONLY | O_NOFOLLOW |
							   O_CLOEXEC);
			d = openat(to, names[i], O_WRONLY | O_CREAT | O_EXCL |
							 O_CLOEXEC, 0644);
			err = s < 0 || d < 0 ? -errno :
					       copy_data(s, d, st.st_size);
			if (err)
				oci_error("%s/blobs/sha256/%s: %s", x->out,
					  names[i], strerror(-err));
		}
		if (s >= 0)
			close(s);
		if (d >= 0)
			close(d);
		free(names[i]);
	}
	free(names);
	if (from >= 0)
		close(from);
	if (to >= 0)
		close(to);
	return err;
}

/* The index of OUT less the image named TAG, or a new one. */
static int start_index(struct export *x, json_t **index)
{
	json_t *old = NULL, *list, *m, *kept;
	const char *name;
	int outfd, err;
	size_t i;

	*index = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2,
			   "mediaType", OCI_MT_INDEX, "manifests");
	if (!*index)
		return -ENOMEM;
	if (!x->add)
		return 0;
	outfd = open(x->out, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (outfd < 0) {
		oci_error("%s: %s", x->out, strerror(errno));
		return -errno;
	}
	err = oci_layout_check(outfd, x->out);
	if (!err)
		err = oci_json_file(outfd, "index.json", x->out, &old);
	if (!err)
		err = take_old_blobs(x, outfd);
	close(outfd);
	list = json_object_get(old, "manifests");
	kept = json_object_get(*index, "manifests");
	json_array_foreach(list, i, m) {
		name = json_string_value(json_object_get(
			json_object_get(m, "annotations"), OCI_REF_NAME));
		if (!name || strcmp(name, x->tag))
			json_array_append(kept, m);
	}
	json_decref(old);
	return err;
}

static int64_t clamp(const struct export *x, int64_t t)
{
	return x->clamp && t > x->epoch ? x->epoch : t;
}

/* The history entry of layer M, as docker history shows it. */
static json_t *history_entry(const struct export *x,
			     const struct layer_meta *m)
{
	char when[32];
	json_t *h;

	oci_time_format(clamp(x, m->created), when);
	h = json_pack("{s:s, s:s}", "created", when, "created_by",
		      m->created_by ? m->created_by : "");
	if (h && m->comment && *m->comment)
		json_object_set_new(h, "comment", json_string(m->comment));
	return h;
}

/* Layer I of the chain (0 = top) as a blob; its DiffID and history. */
static int export_layer(struct export *x, int i, json_t *layers,
			json_t *diff_ids, json_t *history, int64_t *created)
{
	struct layer_tar_opts o = { .compress = x->compress,
				    .clamp = x->clamp,
				    .epoch = x->epoch,
				    .layout = x->tmp,
				    .progress = &x->progress,
				    .roots = x->roots + i,
				    .nroots = x->n - i };
	char diffid[OCI_DIGEST_LEN + 1], name[STORE_ID_LEN + 8];
	struct oci_desc blob = { 0 };
	struct layer_meta m;
	int err;

	snprintf(name, sizeof(name), "layer %.12s", x->ids[i]);
	o.name = name;
	err = store_meta_read(&x->s, x->ids[i], &m);
	if (err) {
		oci_error("%s: meta.json: %s", name, strerror(-err));
		return err;
	}
	err = layer_tar_write(x->roots[i], x->tmpfd, &o, &blob, diffid);
	if (!err && (json_array_append_new(layers, oci_desc_json(&blob)) ||
		     json_array_append_new(diff_ids, json_string(diffid)) ||
		     json_array_append_new(history, history_entry(x, &m))))
		err = -ENOMEM;
	*created = m.created;
	oci_desc_free(&blob);
	store_meta_free(&m);
	return err;
}

/* Every layer, the config and the manifest; *MANIFEST its descriptor. */
static int export_image(struct export *x, struct oci_desc *manifest)
{
	json_t *layers = json_array(), *diff_ids = json_array();
	json_t *history = json_array(), *config = NULL, *doc = NULL;
	struct oci_desc cdesc = { 0 };
	char when[32], arch[OCI_ARCH_LEN];
	int64_t created = 0;
	int i, err = 0;

	if (!layers || !diff_ids || !history)
		err = -ENOMEM;
	for (i = x->n - 1; i >= 0 && !err; i--) {
		oci_progress_layer(&x->progress, "exporting", x->n - i, x->n);
		err = export_layer(x, i, layers, diff_ids, history, &created);
	}
	oci_progress_end(&x->progress);
	oci_time_format(clamp(x, created), when);
	if (!err && !(config = json_pack(
			      "{s:s, s:s, s:s, s:{}, s:{s:s, s:O}, s:O}",
			      "created", when, "architecture", oci_arch(arch),
			      "os", "linux", "config", "rootfs", "type",
			      "layers", "diff_ids", diff_ids, "history",
			      history)))
		err = -ENOMEM;
	if (!err)
		err = oci_blob_put_json(x->tmpfd, x->tmp, config, OCI_MT_CONFIG,
					&cdesc);
	if (!err && !(doc = json_pack("{s:i, s:s, s:o, s:O}", "schemaVersion",
				      2, "mediaType", OCI_MT_MANIFEST,
				      "config", oci_desc_json(&cdesc),
				      "layers", layers)))
		err = -ENOMEM;
	if (!err)
		err = oci_blob_put_json(x->tmpfd, x->tmp, doc, OCI_MT_MANIFEST,
					manifest);
	oci_desc_free(&cdesc);
	json_decref(doc);
	json_decref(config);
	json_decref(layers);
	json_decref(diff_ids);
	json_decref(history);
	return err;
}

static int write_index(struct export *x, json_t *index,
		       const struct oci_desc *manifest)
{
	json_t *d = oci_desc_json(manifest);
	int fd, err;

	if (!d)
		return -ENOMEM;
	if (json_object_set_new(d, "annotations",
				json_pack("{s:s}", OCI_REF_NAME, x->tag)) ||
	    json_array_append_new(json_object_get(index, "manifests"), d))
		return -ENOMEM;
	err = oci_json_write(x->tmpfd, x->tmp, "index.json", index);
	if (err)
		return err;
	/* all on disk before the layout appears under its name */
	fd = openat(x->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0) {
		err = -errno;
		oci_error("%s: sync: %s", x->tmp, strerror(-err));
	}
	if (fd >= 0)
		close(fd);
	return err;
}

/* OUT.tmp-PID becomes OUT, in one rename. */
static int publish(struct export *x)
{
	unsigned said = oci_error_count();
	int err = 0;

	if (x->tar) {
		doom(1, x->tmptar);
		err = oci_pack(x->tmpfd, x->tmptar,
			       x->clamp ? x->epoch : time(NULL));
		if (!err && rename(x->tmptar, x->out) < 0)
			err = -errno;
	} else if (x->add) {
		if (renameat2(AT_FDCWD, x->tmp, AT_FDCWD, x->out,
			      RENAME_EXCHANGE) < 0)
			err = -errno;
		/* x->tmp now holds the old layout: still doomed */
	} else if (rename(x->tmp, x->out) < 0) {
		err = -errno;
	} else {
		doom(0, NULL);
	}
	if (err && oci_error_count() == said)
		oci_error("%s: %s", x->out, strerror(-err));
	if (!err)
		doom(1, NULL);
	return err;
}

int cmd_export(int argc, char **argv)
{
	struct export x = { .tmpfd = -1 };
	struct oci_desc manifest = { 0 };
	json_t *index = NULL;
	int err;

	err = parse_args(&x, argc, argv);
	if (err) {
		free(x.out);
		return err > 0 ? 0 : 1;
	}
	oci_progress_init(&x.progress);
	err = oci_source_date_epoch(&x.epoch);
	x.clamp = err > 0;
	if (err >= 0)
		err = find_image(&x);
	if (!err)
		err = check_out(&x);
	if (!err)
		err = make_tmp(&x);
	if (!err)
		err = start_index(&x, &index);
	if (!err)
		err = export_image(&x, &manifest);
	if (!err)
		err = write_index(&x, index, &manifest);
	if (!err)
		err = publish(&x);
	if (err < 0 && oci_error_count() == 0)
		oci_error("%s", strerror(-err));
	remove_doomed();
	if (x.tmpfd >= 0)
		close(x.tmpfd);
	oci_desc_free(&manifest);
	json_decref(index);
	free(x.tmp);
	free(x.tmptar);
	free(x.out);
	for (int i = 0; x.roots && i < x.n; i++)
		if (x.roots[i] >= 0)
			close(x.roots[i]);
	free(x.roots);
	free(x.ids);
	if (x.s.path)
		store_close(&x.s);
	return err ? 1 : 0;
}
