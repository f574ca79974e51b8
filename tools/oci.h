/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * OCI image layouts (image-spec 1.1) for "layerfs export" and "layerfs
 * import": digests, descriptors and content-addressed blobs (oci.c), the
 * layout packed as one tar (oci_pack.c), a store layer written as an OCI
 * layer tar (layer_tar.c), and an OCI layer tar checked (layer_verify.c)
 * and read into a staging directory (layer_untar.c).
 *
 * Everything read comes from outside and is hostile until checked: a
 * blob is used only after its sha256 matched its descriptor, JSON
 * documents and files have size limits, and no name from an archive
 * reaches a system call before it was split and checked component by
 * component.
 *
 * Error convention of these modules: 0 or -errno, and a function that
 * fails has already printed the one line that explains it (oci_error():
 * "layerfs: CMD: PATH: reason"), so its callers only pass the error up.
 */
#ifndef LFS_OCI_H
#define LFS_OCI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "whiteout.h"

#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP OCI_MT_LAYER "+gzip"
#define OCI_MT_LAYER_ZSTD OCI_MT_LAYER "+zstd"
#define OCI_REF_NAME "org.opencontainers.image.ref.name"

/* "sha256:" and 64 lower-case hex digits: the only algorithm we accept */
#define OCI_DIGEST_LEN 71
/* No JSON document (index, manifest, config) may be larger. */
#define OCI_JSON_MAX (8 << 20)
/* No blob, file or layer may be larger: a size beyond is an attack. */
#define OCI_SIZE_MAX ((uint64_t)1 << 40)

/* oci.c ------------------------------------------------------------------ */

/* error(), after clearing a progress line that may be on the terminal. */
void oci_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A libarchive error string, which may be NULL, fit for a message. */
static inline const char *oci_why(const char *s)
{
	return s ? s : "damaged archive";
}

/* How many messages oci_error() printed: did a failure say why? */
unsigned oci_error_count(void);

/*
 * NAME fit for a one-line message: control characters as "?", and only
 * its two ends when it is long.  Returns BUF.
 */
#define OCI_SHOWN 192
const char *oci_shown(const char *name, char buf[OCI_SHOWN]);

/* A running sha256 (OpenSSL EVP). */
struct oci_hash {
	void *ctx;
};
int oci_hash_init(struct oci_hash *h);
void oci_hash_update(struct oci_hash *h, const void *buf, size_t len);
/* "sha256:HEX" into DIGEST; the hash is freed. */
void oci_hash_final(struct oci_hash *h, char digest[OCI_DIGEST_LEN + 1]);
void oci_hash_free(struct oci_hash *h);

/* Is S "sha256:" followed by exactly 64 lower-case hex digits? */
bool oci_digest_ok(const char *s);

/* A content descriptor. */
struct oci_desc {
	char *media_type; /* malloc'ed */
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t size;
	json_t *json; /* the descriptor as read, borrowed; NULL when made */
};
void oci_desc_free(struct oci_desc *d);
/* {mediaType, digest, size}, a new reference. */
json_t *oci_desc_json(const struct oci_desc *d);
/* Check and copy descriptor J; WHERE names it in messages. */
int oci_desc_parse(json_t *j, struct oci_desc *d, const char *where);

/*
 * A blob being written: a temporary file in LAYOUT/blobs/sha256, hashed
 * as it is written, renamed to its digest by oci_blob_finish().  WHERE
 * names LAYOUT in messages.
 */
struct oci_blob {
	const char *where; /* LAYOUT, for messages */
	int dirfd; /* LAYOUT/blobs/sha256 */
	int fd;
	char tmp[32];
	struct oci_hash hash;
	uint64_t size;
};
int oci_blob_create(struct oci_blob *b, int layoutfd, const char *where);
int oci_blob_write(struct oci_blob *b, const void *buf, size_t len);
/* Publish the blob; D gets its digest and size (media type untouched). */
int oci_blob_finish(struct oci_blob *b, struct oci_desc *d);
/* Drop an unfinished blob.  Safe to call twice and after finish. */
void oci_blob_abort(struct oci_blob *b);
/* Store DOC, canonically serialised, as a blob of media type MT. */
int oci_blob_put_json(int layoutfd, const char *where, json_t *doc,
		      const char *mt, struct oci_desc *d);

/*
 * Open the blob of D read-only; it must be a regular file of D->size
 * bytes (its content is not checked here).  WHERE names the layout.
 */
int oci_blob_open(int layoutfd, const struct oci_desc *d, const char *where,
		  int *fd);
/* Read, check (size, sha256) and parse the JSON blob of D. */
int oci_blob_json(int layoutfd, const struct oci_desc *d, const char *where,
		  json_t **out);
/* Parse the file NAME in DIRFD (at most OCI_JSON_MAX bytes). */
int oci_json_file(int dirfd, const char *name, const char *where,
		  json_t **out);
/*
 * Write DOC to NAME in DIRFD atomically (a temporary file, renamed);
 * WHERE names DIRFD in messages.
 */
int oci_json_write(int dirfd, const char *where, const char *name,
		   json_t *doc);

/* Create blobs/sha256 and oci-layout in the empty directory LAYOUTFD. */
int oci_layout_init(int layoutfd, const char *where);
/* Is LAYOUTFD an OCI image layout (oci-layout says version 1.x)? */
int oci_layout_check(int layoutfd, const char *where);

/*
 * SOURCE_DATE_EPOCH: 1 and *T when set, 0 when not, -EINVAL (after a
 * message) when it is not a number of seconds.
 */
int oci_source_date_epoch(int64_t *t);
/* T as RFC 3339 UTC ("2024-05-01T12:00:00Z"). */
void oci_time_format(int64_t t, char buf[32]);
/* RFC 3339 with optional fraction and offset; -EINVAL if malformed. */
int oci_time_parse(const char *s, int64_t *t);

/* The OCI name of this machine's architecture ("amd64", "arm64"...). */
#define OCI_ARCH_LEN 65
const char *oci_arch(char buf[OCI_ARCH_LEN]);

/*
 * Progress of long work: one line on stderr, rewritten in place, and
 * only when stderr is a terminal.
 */
struct oci_progress {
	bool on;
	const char *verb; /* "exporting", "importing", ... */
	int layer, nlayers;
	uint64_t files, bytes;
	struct timespec last;
};
void oci_progress_init(struct oci_progress *p);
/* Begin layer N of M. */
void oci_progress_layer(struct oci_progress *p, const char *verb, int n,
			int m);
/* Count FILES more entries and BYTES more bytes; redraws at most 10/s. */
void oci_progress_add(struct oci_progress *p, uint64_t files, uint64_t bytes);
/* Clear the line. */
void oci_progress_end(struct oci_progress *p);

/* oci_pack.c ------------------------------------------------------------- */

/*
 * Pack the layout LAYOUTFD into the new file TARPATH (oci-layout,
 * index.json, then the blobs, sorted; times MTIME, owner 0:0).
 */
int oci_pack(int layoutfd, const char *tarpath, int64_t mtime);
/*
 * Unpack the layout tar TARPATH into the empty directory DIRFD.  Only
 * oci-layout, index.json and blobs/sha256/HEX are written; any other
 * entry is skipped, and one that tries to leave DIRFD is refused.
 */
int oci_unpack(const char *tarpath, int dirfd);

/* layer_tar.c ------------------------------------------------------------ */

enum oci_compress { OCI_COMPRESS_NONE, OCI_COMPRESS_GZIP, OCI_COMPRESS_ZSTD };

struct layer_tar_opts {
	enum oci_compress compress;
	bool clamp;	/* clamp every time to EPOCH */
	int64_t epoch;
	const char *name; /* the layer, for messages */
	const char *layout; /* the layout's path, for messages */
	struct oci_progress *progress;
	/*
	 * The layer and those below it, top first (roots[0] is the layer):
	 * where the data of a metadata-only copy in it is.  NROOTS 0: the
	 * layer alone.
	 */
	const int *roots;
	int nroots;
};

/*
 * Write the layer tree ROOTFD as an OCI layer blob into LAYOUTFD: *BLOB
 * gets its media type, digest and size, DIFFID the sha256 of the
 * uncompressed tar.  A directory with an overlay redirect cannot be
 * expressed in OCI and fails with -EINVAL.  A metadata-only copy
 * (overlay.metacopy) goes in whole, with the data of its data file in
 * O->roots; -ENODATA when there is none.
 */
int layer_tar_write(int rootfd, int layoutfd, const struct layer_tar_opts *o,
		    struct oci_desc *blob, char diffid[OCI_DIGEST_LEN + 1]);

/* layer_untar.c ---------------------------------------------------------- */

/* How a layer is read, for layer_untar() and layer_verify(). */
struct layer_untar_opts {
	const char *name;	/* the blob, for messages */
	enum wh_ns ns;		/* namespace of the opaque xattrs we write */
	bool root;		/* keep owners, make device nodes */
	struct oci_progress *progress;
};

/*
 * Extract the OCI layer blob FD (tar, maybe compressed) into the empty
 * directory ROOTFD in the on-disk format of layerfs.5: .wh.NAME becomes
 * a char 0/0 whiteout, .wh..wh..opq an opaque xattr on its directory.
 * Refuses, naming the entry: paths that leave ROOTFD ('..', absolute,
 * through a symlink), names over NAME_MAX, paths deeper than 4096,
 * hard links to what is not in the layer, device nodes unless O->root,
 * sizes over OCI_SIZE_MAX, entries given twice.  On failure ROOTFD is
 * left half-filled: the caller drops it.
 */
int layer_untar(int fd, int rootfd, const struct layer_untar_opts *o);

/* layer_verify.c --------------------------------------------------------- */

/*
 * Check that the blob FD hashes to DIGEST and decompresses to a stream
 * that hashes to DIFFID, without extracting anything.  O as for
 * layer_untar() (name and progress only).
 */
int layer_verify(int fd, const char *digest, const char *diffid,
		 const struct layer_untar_opts *o);

#endif
