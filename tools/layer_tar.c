// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A store layer written as an OCI layer: a tar changeset in pax format,
 * maybe compressed, hashed twice on the way out.
 *
 *   walk (sorted) -> tar writer -> [sha256: DiffID] -> compressor
 *                                       -> [sha256: digest] -> blob file
 *
 * The tar writer's output callback feeds the DiffID hash and then a
 * second libarchive writer in "raw" format whose only job is the gzip or
 * zstd filter; its output callback feeds the blob.  Both hashes are
 * therefore of exactly the bytes written, in one pass.
 *
 * What the markers become (FACTS 4): a whiteout in any dialect is an
 * empty ".wh.NAME"; an opaque directory gets its entry, then
 * "DIR/.wh..wh..opq"; overlay xattrs never leave; a redirect cannot be
 * said in OCI at all.  The output is a function of the tree alone:
 * names in strcmp order, no user or group names, no atime or ctime,
 * xattrs sorted, times clamped to SOURCE_DATE_EPOCH when asked.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "copy.h"
#include "metacopy.h"
#include "oci.h"
#include "table.h"
#include "walk.h"
#include "whiteout.h"
#include "xattr.h"

/* First path seen of each multiply-linked inode. */
struct link {
	ino_t ino;
	char *path;
	UT_hash_handle hh;
};

struct ltar {
	const struct layer_tar_opts *o;
	int rootfd;
	struct archive *tar, *z; /* z: the compressor, NULL for "none" */
	struct archive_entry *e;
	struct oci_hash diffid;
	struct oci_blob blob;
	int *dirflags; /* wh_dir_flags of the open directory at each depth */
	int ndirflags;
	struct link *links;
	char *name; /* scratch for "DIR/.wh.NAME" */
	size_t namecap;
	bool out_failed; /* an output callback failed, and said why */
};

/* --- output chain ------------------------------------------------------- */

static la_ssize_t z_out(struct archive *a, void *arg, const void *buf,
			size_t len)
{
	struct ltar *t = arg;

	(void)a;
	if (t->blob.fd < 0)
		return len;
	if (oci_blob_write(&t->blob, buf, len)) {
		t->out_failed = true;
		return -1;
	}
	return len;
}

static la_ssize_t tar_out(struct archive *a, void *arg, const void *buf,
			  size_t len)
{
	struct ltar *t = arg;

	(void)a;
	if (t->blob.fd < 0)
		return len; /* failed already: freeing the writer flushes */
	oci_hash_update(&t->diffid, buf, len);
	if (!t->z)
		return z_out(a, arg, buf, len);
	if (archive_write_data(t->z, buf, len) != (la_ssize_t)len) {
		if (!t->out_failed)
			oci_error("%s: compressing: %s", t->o->name,
				  oci_why(archive_error_string(t->z)));
		t->out_failed = true;
		return -1;
	}
	return len;
}

static int open_compressor(struct ltar *t)
{
	struct archive_entry *e;
	int r;

	t->z = archive_write_new();
	if (!t->z)
		return -ENOMEM;
	archive_write_set_format_raw(t->z);
	if (t->o->compress == OCI_COMPRESS_GZIP) {
		r = archive_write_add_filter_gzip(t->z);
		/* no time stamp in the gzip header: reproducible */
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(t->z, "gzip",
							    "timestamp", NULL);
	} else {
		r = archive_write_add_filter_zstd(t->z);
	}
	/* an unblocked stream: padding would change the digest */
	archive_write_set_bytes_per_block(t->z, 0);
	archive_write_set_bytes_in_last_block(t->z, 1);
	if (r == ARCHIVE_OK)
		r = archive_write_open(t->z, t, NULL, z_out, NULL);
	e = archive_entry_new();
	if (r == ARCHIVE_OK && e) {
		archive_entry_set_pathname(e, "layer");
		archive_entry_set_filetype(e, AE_IFREG);
		r = archive_write_header(t->z, e);
	}
	archive_entry_free(e);
	if (r != ARCHIVE_OK || !e) {
		oci_error("%s: compressor: %s", t->o->name,
			  e ? oci_why(archive_error_string(t->z)) :
			      "out of memory");
		return -EIO;
	}
	return 0;
}

static int open_tar(struct ltar *t)
{
	t->tar = archive_write_new();
	t->e = archive_entry_new();
	if (!t->tar || !t->e)
		return -ENOMEM;
	archive_write_set_format_pax(t->tar);
	/* Go's archive/tar (skopeo, umoci, containers/storage) reads these */
	archive_write_set_format_option(t->tar, "pax", "xattrheader",
					"SCHILY");
	archive_write_set_bytes_in_last_block(t->tar, 1);
	if (archive_write_open(t->tar, t, NULL, tar_out, NULL) != ARCHIVE_OK) {
		oci_error("%s: tar: %s", t->o->name,
			  oci_why(archive_error_string(t->tar)));
		return -EIO;
	}
	return 0;
}

/* A libarchive failure on PATH; the output callback may have said why. */
static int tar_fail(struct ltar *t, struct archive *a, const char *path)
{
	if (!t->out_failed)
		oci_error("%s: %s: %s", t->o->name, path,
			  oci_why(archive_error_string(a)));
	t->out_failed = true;
	return -EIO;
}

/* Flush both writers, in order; 0 or -EIO after a message. */
static int close_chain(struct ltar *t)
{
	if (archive_write_close(t->tar) != ARCHIVE_OK)
		return tar_fail(t, t->tar, "tar");
	if (t->z && archive_write_close(t->z) != ARCHIVE_OK)
		return tar_fail(t, t->z, "compressing");
	return 0;
}

/* --- entries ------------------------------------------------------------ */

static void set_time(struct ltar *t, const struct stat *st)
{
	time_t s = st->st_mtim.tv_sec;
	long ns = st->st_mtim.tv_nsec;

	if (t->o->clamp && s >= t->o->epoch) {
		s = t->o->epoch;
		ns = 0;
	}
	archive_entry_set_mtime(t->e, s, ns);
}

/* The entry header, from scratch: nothing of the last entry may leak. */
static void entry_start(struct ltar *t, const char *path,
			const struct stat *st)
{
	archive_entry_clear(t->e);
	archive_entry_copy_pathname(t->e, path);
	archive_entry_set_mode(t->e, st->st_mode);
	archive_entry_set_uid(t->e, st->st_uid);
	archive_entry_set_gid(t->e, st->st_gid);
	set_time(t, st);
}

static int write_header(struct ltar *t, const char *path)
{
	int r = archive_write_header(t->tar, t->e);

	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return tar_fail(t, t->tar, path);
	return 0;
}

static bool exported_xattr(const char *name)
{
	return (!strncmp(name, "user.", 5) && !xat_is_private(name)) ||
	       !strcmp(name, "security.capability");
}

/* The xattrs that belong in an image, sorted, onto the entry. */
static int add_xattrs(struct ltar *t, int fd, const char *path)
{
	char *list, **names, *val;
	size_t n, i, len;
	int err;

	err = xat_names(fd, exported_xattr, &list, &names, &n);
	for (i = 0; i < n && !err; i++) {
		err = xat_get_alloc(fd, names[i], &val, &len);
		if (err == -ENODATA) {
			err = 0;
			continue;
		}
		if (!err)
			archive_entry_xattr_add_entry(t->e, names[i], val, len);
		free(val);
	}
	if (err)
		oci_error("%s: %s: xattr: %s", t->o->name, path,
			  strerror(-err));
	free(names);
	free(list);
	return err;
}

/*
 * An fd open for reading of the data of the regular file FD at PATH: a
 * metadata-only copy's is in the layers below.
 */
static int open_data(struct ltar *t, int fd, const char *path)
{
	struct stack_obj file = { .layer = 0, .fd = fd };
	int data;

	data = metacopy_open(t->o->nroots ? t->o->roots : &t->rootfd,
			     t->o->nroots ? t->o->nroots : 1, path, &file);
	if (data < 0)
		oci_error("%s: %s: %s", t->o->name, path,
			  data == -ENODATA ? METACOPY_NO_DATA :
					     strerror(-data));
	return data;
}

static int copy_file_data(struct ltar *t, int srcfd, const char *path,
			  off_t size)
{
	char buf[1 << 16];
	off_t done = 0;
	ssize_t n;
	int fd, err = 0;

	fd = open_data(t, srcfd, path);
	if (fd < 0)
		return fd;
	while (done < size) {
		n = read(fd, buf, size - done < (off_t)sizeof(buf) ?
					  (size_t)(size - done) :
					  sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			oci_error("%s: %s: %s", t->o->name, path,
				  n < 0 ? strerror(errno) :
					  "file shrank while exported");
			break;
		}
		if (archive_write_data(t->tar, buf, n) != n) {
			err = tar_fail(t, t->tar, path);
			break;
		}
		done += n;
		oci_progress_add(t->o->progress, 0, n);
	}
	close(fd);
	return err;
}

/* t->name = the first DLEN bytes of PATH, then A, then B. */
static int make_name(struct ltar *t, const char *path, size_t dlen,
		     const char *a, const char *b)
{
	size_t need = dlen + strlen(a) + strlen(b) + 1;

	if (need > t->namecap) {
		char *p = realloc(t->name, need);

		if (!p)
			return -ENOMEM;
		t->name = p;
		t->namecap = need;
	}
	memcpy(t->name, path, dlen);
	snprintf(t->name + dlen, need - dlen, "%s%s", a, b);
	return 0;
}

/*
 * An empty file that says "NAME is deleted" (".wh.NAME" beside PATH) or,
 * NAME NULL, "directory PATH is opaque" ("PATH/.wh..wh..opq").
 */
static int put_marker(struct ltar *t, const char *path, const char *name,
		      const struct stat *st)
{
	struct stat wst = { .st_mode = S_IFREG | 0644, .st_mtim = st->st_mtim };
	const char *slash = strrchr(path, '/');
	int err;

	if (name)
		err = make_name(t, path, slash ? (size_t)(slash - path + 1) : 0,
				WH_PREFIX, name);
	else
		err = make_name(t, path, strlen(path), "/", WH_OPQ_NAME);
	if (err)
		return err;
	entry_start(t, t->name, &wst);
	archive_entry_set_size(t->e, 0);
	return write_header(t, t->name);
}

static int set_dirflags(struct ltar *t, int depth, int flags)
{
	if (depth >= t->ndirflags) {
		int n = depth + 16, *p = realloc(t->dirflags, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->dirflags = p;
		t->ndirflags = n;
	}
	t->dirflags[depth] = flags;
	return 0;
}

/* A directory: refuse redirects, note its flags, mark it opaque. */
static int put_dir(struct ltar *t, const struct walk_entry *e, int fd)
{
	int flags = wh_dir_flags(fd), err;

	if (flags < 0) {
		oci_error("%s: %s: %s", t->o->name, e->path, strerror(-flags));
		return flags;
	}
	if (flags & WH_DIR_REDIRECT) {
		oci_error("%s: %s: a renamed directory (overlay redirect) "
			  "cannot be expressed in an OCI layer; "
			  "flatten the image with 'layerfs squash' first",
			  t->o->name, e->path);
		return -EINVAL;
	}
	err = set_dirflags(t, e->depth, flags);
	if (err)
		return err;
	entry_start(t, e->path, &e->st);
	err = add_xattrs(t, fd, e->path);
	if (!err)
		err = write_header(t, e->path);
	if (!err && (flags & WH_DIR_OPAQUE))
		err = put_marker(t, e->path, NULL, &e->st);
	return err;
}

/* A hard link to a path already written?  Then *IS_LINK. */
static int check_link(struct ltar *t, const struct walk_entry *e,
		      bool *is_link)
{
	struct link *l;

	*is_link = false;
	if (e->st.st_nlink < 2)
		return 0;
	HASH_FIND(hh, t->links, &e->st.st_ino, sizeof(ino_t), l);
	if (l) {
		archive_entry_copy_hardlink(t->e, l->path);
		archive_entry_set_size(t->e, 0);
		*is_link = true;
		return 0;
	}
	l = calloc(1, sizeof(*l));
	if (!l || !(l->path = strdup(e->path))) {
		free(l);
		return -ENOMEM;
	}
	l->ino = e->st.st_ino;
	HASH_ADD(hh, t->links, ino, sizeof(ino_t), l);
	return 0;
}

static int put_other(struct ltar *t, const struct walk_entry *e, int fd)
{
	const struct stat *st = &e->st;
	char *target = NULL;
	bool is_link;
	int err;

	entry_start(t, e->path, st);
	err = check_link(t, e, &is_link);
	if (err || is_link)
		return err ? err : write_header(t, e->path);
	if (S_ISLNK(st->st_mode)) {
		err = copy_readlink(fd, &target);
		if (err) {
			oci_error("%s: %s: %s", t->o->name, e->path,
				  strerror(-err));
			return err;
		}
		archive_entry_copy_symlink(t->e, target);
		free(target);
	} else {
		err = add_xattrs(t, fd, e->path);
		if (err)
			return err;
	}
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		archive_entry_set_rdev(t->e, st->st_rdev);
	if (S_ISREG(st->st_mode))
		archive_entry_set_size(t->e, st->st_size);
	err = write_header(t, e->path);
	if (!err && S_ISREG(st->st_mode))
		err = copy_file_data(t, fd, e->path, st->st_size);
	return err;
}

static int put_entry(const struct walk_entry *e, void *arg)
{
	struct ltar *t = arg;
	int parent = t->dirflags[e->depth - 1], fd, err;

	if (!strcmp(e->name, WH_OPQ_NAME))
		/* put_dir() said it, right after the directory */
		return S_ISDIR(e->st.st_mode) ? WALK_SKIP : 0;
	if (S_ISSOCK(e->st.st_mode))
		return 0; /* tar has no sockets; images never hold them */
	oci_progress_add(t->o->progress, 1, 0);
	if (wh_is_marker_name(e->name)) {
		err = put_marker(t, e->path, e->name + WH_PREFIX_LEN, &e->st);
		return err ? err : S_ISDIR(e->st.st_mode) ? WALK_SKIP : 0;
	}
	fd = openat(e->dirfd, e->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		oci_error("%s: %s: %s", t->o->name, e->path, strerror(-err));
		return err;
	}
	if (S_ISDIR(e->st.st_mode))
		err = put_dir(t, e, fd);
	else if (!wh_is_whiteout(fd, &e->st, parent))
		err = put_other(t, e, fd);
	else if (wh_has_wh_file(e->dirfd, e->name))
		err = 0; /* the .wh.NAME file says it, once */
	else
		err = put_marker(t, e->path, e->name, &e->st);
	close(fd);
	return err;
}

/* --- the whole layer ---------------------------------------------------- */

static void ltar_free(struct ltar *t)
{
	struct link *l, *tmp;

	HASH_ITER(hh, t->links, l, tmp) {
		HASH_DEL(t->links, l);
		free(l->path);
		free(l);
	}
	if (t->tar)
		archive_write_free(t->tar);
	if (t->z)
		archive_write_free(t->z);
	archive_entry_free(t->e);
	oci_hash_free(&t->diffid);
	free(t->dirflags);
	free(t->name);
}

static const char *media_type(enum oci_compress c)
{
	return c == OCI_COMPRESS_GZIP ? OCI_MT_LAYER_GZIP :
	       c == OCI_COMPRESS_ZSTD ? OCI_MT_LAYER_ZSTD :
					OCI_MT_LAYER;
}

int layer_tar_write(int rootfd, int layoutfd, const struct layer_tar_opts *o,
		    struct oci_desc *blob, char diffid[OCI_DIGEST_LEN + 1])
{
	struct ltar t = { .o = o, .rootfd = rootfd };
	unsigned said = oci_error_count();
	int err, flags;

	t.blob.fd = t.blob.dirfd = -1;
	flags = wh_dir_flags(rootfd);
	err = flags < 0 ? flags : set_dirflags(&t, 0, flags);
	if (!err)
		err = oci_hash_init(&t.diffid);
	if (!err)
		err = oci_blob_create(&t.blob, layoutfd, o->layout);
	if (!err && o->compress != OCI_COMPRESS_NONE)
		err = open_compressor(&t);
	if (!err)
		err = open_tar(&t);
	if (!err)
		err = walk_tree(rootfd, put_entry, &t);
	if (!err)
		err = close_chain(&t);
	if (!err) {
		oci_hash_final(&t.diffid, diffid);
		err = oci_blob_finish(&t.blob, blob);
	}
	if (!err && !(blob->media_type = strdup(media_type(o->compress))))
		err = -ENOMEM;
	if (err)
		oci_blob_abort(&t.blob);
	ltar_free(&t);
	if (err && oci_error_count() == said)
		oci_error("%s: %s", o->name, strerror(-err));
	return err;
}
