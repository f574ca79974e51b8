/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The layer store: immutable layers, content-addressed, and tags.
 *
 *   STORE/layers/ID/root/       the layer tree, in the on-disk format the
 *                               daemon reads (layerfs.5)
 *   STORE/layers/ID/meta.json   struct layer_meta
 *   STORE/tags/NAME             "ID\n": a named reference to a top layer
 *   STORE/tmp/                  staging, on the store's file system
 *   STORE/lock                  flock: shared by readers and writers of
 *                               layers, exclusive for gc and rm
 *
 * An ID is 32 hex digits: the XXH128 of the parent's ID and the layer's
 * canonical content (store_hash_tree), so committing the same change on
 * the same parent twice stores it once.  A layer is created by filling a
 * staging directory (store_stage) and publishing it with one rename
 * (store_publish): there is never a half-written layer.
 *
 * Every function returns 0 or -errno unless said otherwise; on failure
 * nothing in the store changed.
 */
#ifndef LFS_STORE_H
#define LFS_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_ID_LEN 32

struct store {
	char *path; /* absolute */
	int fd;	    /* O_PATH of STORE */
	int lock_fd;
};

struct layer_meta {
	char id[STORE_ID_LEN + 1];
	char parent[STORE_ID_LEN + 1]; /* "" for a base layer */
	int64_t created;		/* seconds since the epoch */
	char *created_by;		/* the command or "layerfs commit" */
	char *comment;			/* -m MSG; may be NULL */
	uint64_t size;			/* bytes of regular files */
	uint64_t files;			/* entries other than directories */
};

/*
 * The store at PATH, or (PATH NULL) at $LAYERFS_STORE, else
 * /var/lib/layerfs as root, else $XDG_DATA_HOME/layerfs or
 * ~/.local/share/layerfs.  CREATE makes it when missing.  Takes the
 * shared lock, or with EXCLUSIVE the exclusive one, which fails with
 * -EBUSY while a command or a mount of store layers holds the store.
 */
int store_open(struct store *s, const char *path, bool create, bool exclusive);
void store_close(struct store *s);
/* The default store path (malloc'ed), as store_open() chooses it. */
char *store_default_path(void);

/*
 * The layer ID named by REF: a tag, a full ID or a unique prefix of at
 * least 6 digits, each with or without a leading '@'.  -ENOENT when none, -EINVAL when the
 * prefix is ambiguous.
 */
int store_resolve(struct store *s, const char *ref,
		  char id[STORE_ID_LEN + 1]);

/* The chain of ID and its parents, top first: *IDS malloc'ed, N entries. */
int store_chain(struct store *s, const char *id,
		char (**ids)[STORE_ID_LEN + 1], int *n);

/* "STORE/layers/ID/root" (malloc'ed), for mounting and reading. */
char *store_layer_root(struct store *s, const char *id);
/* O_PATH fd of a layer's root. */
int store_layer_open(struct store *s, const char *id);

int store_meta_read(struct store *s, const char *id, struct layer_meta *m);
void store_meta_free(struct layer_meta *m);

/* Tags: 1 to 128 of letters, digits, '.', '_', '-', ':', not first '.' or '-'. */
bool store_tag_valid(const char *tag);
int store_tag_get(struct store *s, const char *tag,
		  char id[STORE_ID_LEN + 1]);
int store_tag_set(struct store *s, const char *tag, const char *id);
int store_tag_remove(struct store *s, const char *tag);
/* All tags, sorted: *TAGS malloc'ed array of malloc'ed names. */
int store_tags(struct store *s, char ***tags, int *n);
/* All layer IDs, sorted. */
int store_layers(struct store *s, char (**ids)[STORE_ID_LEN + 1], int *n);

/*
 * A new staging directory STORE/tmp/stage.XXXXXX with an empty root/ in
 * it; *DIR gets its path (malloc'ed), *ROOTFD an O_PATH fd of root/.
 * It is removed at exit or on SIGINT/SIGTERM unless published.
 */
int store_stage(struct store *s, char **dir, int *rootfd);
/* Remove a staging directory that will not be published. */
void store_unstage(struct store *s, const char *dir);

/*
 * The canonical content hash of the tree ROOTFD on top of PARENT (an ID
 * or ""): what a layer's ID is.  Also counts M->size and M->files.
 */
int store_hash_tree(int rootfd, const char *parent, struct layer_meta *m);

/*
 * Publish staging directory DIR as a layer with metadata M (M->id is
 * computed here).  When the store holds that layer already, DIR is
 * dropped and the existing one kept: M->id names it either way.
 */
int store_publish(struct store *s, const char *dir, struct layer_meta *m);

/* Remove layer ID (no check that nothing uses it: see gc). */
int store_layer_remove(struct store *s, const char *id);

/*
 * The layer an upper directory sits on, recorded by "layerfs mount
 * @REF" in an overlay xattr of the upper (hidden through the mount):
 * ID, or "" when none is recorded.
 */
int store_upper_parent(int upperfd, char id[STORE_ID_LEN + 1]);
int store_set_upper_parent(int upperfd, const char *id, bool user_ns);

#endif
