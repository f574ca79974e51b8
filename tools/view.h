/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Views of store layers and upper directories, for the commands. */
#ifndef LFS_VIEW_H
#define LFS_VIEW_H

#include "changes.h"
#include "store.h"

/*
 * The view of layer ID and its parents (ID "" : the empty view), with
 * TOP free slots on top (roots[0..TOP-1] set to -1 for the caller).
 */
int view_of_chain(struct store *s, const char *id, int top, struct view *v);
void view_close(struct view *v);

/* Open the store for a command, dying with a message on failure. */
void view_open_store(struct store *s, const char *path, bool create,
		     bool exclusive);
/* Resolve REF in S, dying with a message naming it on failure. */
void view_resolve(struct store *s, const char *ref,
		  char id[STORE_ID_LEN + 1]);

/*
 * Write the changes CH of NEW as a layer with metadata M (the caller
 * sets parent, created_by and comment), publish it and point TAG (if
 * any) at it; M->id then names it.  Dies with a message naming WHAT on
 * failure, leaving no half-written layer.
 */
void view_publish(struct store *s, const struct view *new,
		  const struct changes *ch, struct layer_meta *m,
		  const char *tag, const char *what, const char *verb);

#endif
