// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A layer blob checked before anything of it is extracted: the blob must
 * hash to its descriptor's digest and its uncompressed stream to the
 * config's DiffID.  One pass: libarchive reads the blob through a
 * callback that hashes the compressed bytes, and its "raw" format hands
 * back the decompressed stream, hashed in turn.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci.h"

struct vread {
	int fd;
	struct oci_hash blob;
	char buf[1 << 16];
};

/* Feeds libarchive the blob, hashing the bytes as they go by. */
static la_ssize_t vread(struct archive *a, void *arg, const void **buf)
{
	struct vread *v = arg;
	ssize_t n;

	do
		n = read(v->fd, v->buf, sizeof(v->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	oci_hash_update(&v->blob, v->buf, n);
	*buf = v->buf;
	return n;
}

/* Decompress the whole stream through the "raw" format into DIFF. */
static int hash_stream(struct archive *a, struct oci_hash *diff,
		 const struct layer_untar_opts *o)
{
	struct archive_entry *e;
	uint64_t total = 0;
	char buf[1 << 16];
	la_ssize_t n;
	int r;

	r = archive_read_next_header(a, &e);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r != ARCHIVE_OK)
		return -EIO;
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
		oci_hash_update(diff, buf, n);
		total += n;
		if (total > OCI_SIZE_MAX)
			return -EFBIG;
		oci_progress_add(o->progress, 0, n);
	}
	return n < 0 ? -EIO : 0;
}

int layer_verify(int fd, const char *digest, const char *diffid,
		 const struct layer_untar_opts *o)
{
	char got_blob[OCI_DIGEST_LEN + 1], got_diff[OCI_DIGEST_LEN + 1];
	struct oci_hash diff = { 0 };
	struct vread *v = calloc(1, sizeof(*v));
	struct archive *a = archive_read_new();
	const void *rest;
	int err;

	if (!v || !a) {
		err = -ENOMEM;
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		err = -errno;
		oci_error("%s: %s", o->name, strerror(errno));
		goto out;
	}
	v->fd = fd;
	err = oci_hash_init(&v->blob);
	if (!err)
		err = oci_hash_init(&diff);
	if (err)
		goto out;
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open(a, v, NULL, vread, NULL) != ARCHIVE_OK)
		err = -EIO;
	if (!err)
		err = hash_stream(a, &diff, o);
	/* the rest of the blob: after the stream, or where it broke off */
	while (vread(a, v, &rest) > 0)
		;
	oci_hash_final(&v->blob, got_blob);
	oci_hash_final(&diff, got_diff);
	if (strcmp(got_blob, digest)) {
		oci_error("%s: content does not match its digest (it is %s)",
			  o->name, got_blob);
		err = -EINVAL;
	} else if (err) {
		oci_error("%s: cannot decompress: %s", o->name,
			  err == -EFBIG ? "absurd size" :
					  oci_why(archive_error_string(a)));
	} else if (strcmp(got_diff, diffid)) {
		oci_error("%s: uncompressed content does not match the "
			  "config's DiffID %s (it is %s)",
			  o->name, diffid, got_diff);
		err = -EINVAL;
	}
out:
	if (a)
		archive_read_free(a);
	if (v)
		oci_hash_free(&v->blob);
	oci_hash_free(&diff);
	free(v);
	if (err == -ENOMEM)
		oci_error("%s: out of memory", o->name);
	return err;
}
