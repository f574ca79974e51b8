/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What changed between two views of a layer stack, in `docker diff`'s
 * terms, and the layer that records it.  A view is the union of some
 * layers (lib/stack.h); the new view of an upper directory is the upper
 * on top of the old one.  Used by commit, diff and squash.
 */
#ifndef LFS_CHANGES_H
#define LFS_CHANGES_H

#include <stdbool.h>
#include <stddef.h>

struct view {
	int n;
	int *roots; /* O_PATH fds of the layer roots, top first */
	/*
	 * An upper's work dir index (layerfs.5), or -1: a lower file with
	 * several names shows its copy there, as in the mount.
	 */
	int index_fd;
};

struct change {
	char kind;   /* 'A' added, 'C' changed, 'D' deleted */
	bool opaque; /* a directory that replaces the old one entirely */
	char *path;  /* "a/b" */
};

struct changes {
	struct change *v;
	size_t n, cap;
};

/*
 * The changes from OLD to NEW, sorted by path: a directory that holds a
 * change is itself 'C' (or 'A'); an object whose content and metadata
 * are equal in both (a copy-up that changed nothing) is no change.  The
 * content of a metadata-only copy is its data file's, below it.
 * 0 or -errno.
 */
int changes_compute(const struct view *new, const struct view *old,
		    struct changes *out);
void changes_free(struct changes *c);

/*
 * Write the changes C of NEW into the empty layer directory ROOTFD, in
 * the on-disk format of layerfs.5: added and changed objects with their
 * metadata and xattrs, char 0/0 whiteouts for deletions.  A file is
 * written whole: a metadata-only copy (overlay.metacopy) gets the data
 * of its data file below (lib/metacopy.h), and no overlay xattr is ever
 * copied.  Names already staged as hard links of one file stay links.
 * Shows progress on a terminal, as VERB ("committing").  0 or -errno,
 * -ENODATA for a metadata-only copy whose data is in no layer below; on
 * error *WHY (if WHY) is "PATH: REASON", malloc'ed, and the caller drops
 * the directory.
 */
int changes_write_layer(const struct view *new, const struct changes *c,
			int rootfd, const char *verb, char **why);

/* Bytes of regular files in the change set (for messages). */
unsigned long long changes_bytes(const struct view *new,
				 const struct changes *c);

#endif
