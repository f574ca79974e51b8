/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The merge rule of a stack of layers, shared by the daemon (per
 * directory, fs/lookup.c) and the tools (per path, stack_lookup): one
 * implementation of what a union of layers shows.
 *
 * A name is searched in each layer directory, top down.  The search
 * stops at a whiteout (the name is gone), at a non-directory (it hides
 * everything below; under a directory it just ends the stack) and after
 * an opaque directory.  A directory with an overlay.redirect continues
 * the search below under another name: relative redirects in the same
 * parents, absolute ones from the roots of the layers below.
 */
#ifndef LFS_STACK_H
#define LFS_STACK_H

#include <stdbool.h>
#include <sys/stat.h>

/* A real object in a layer. */
struct stack_obj {
	int layer; /* index: 0 is the topmost layer of the stack */
	int fd;	   /* O_PATH */
	int hints; /* a lower directory: STACK_HINT_*, 0 when unknown */
};

/*
 * What is known of a lower directory, which never changes: whoever read
 * it whole (the daemon's readdir) may say so, and lookups in it then
 * skip probes.  Read and written with atomic loads and stores.
 */
enum {
	STACK_HINT_KNOWN = 1 << 0, /* the bits below are valid */
	STACK_HINT_NO_WH = 1 << 1, /* it holds no ".wh." name */
};
#define STACK_HINT_DFLAGS_SHIFT 8 /* and up: its wh_dir_flags() */

/* What a search found: the objects, top down, and the topmost's stat. */
struct stack_set {
	struct stat st;
	int n;
	struct stack_obj *objs;
};

/* Redirect state of a search going down the layers. */
struct stack_walk {
	char *redirect; /* NULL: the plain name */
	bool absolute;
	int next_layer; /* with an absolute redirect: first layer to try */
	bool whiteout;	/* the search ended at a whiteout */
};

/*
 * Search NAME in the directories DIRS (N of them, top down); ROOTS are
 * the root fds of all NROOTS layers, for absolute redirects.  ABOVE
 * says a directory was found above these (a non-directory then ends the
 * search unseen).  Appends to SET; W carries redirects (start it zeroed,
 * or with a redirect found above).  0 or -errno; absence is not an error.
 */
int stack_find(const int *roots, int nroots, const struct stack_obj *dirs,
	       int n, const char *name, bool above, struct stack_set *set,
	       struct stack_walk *w);

/*
 * Open NAME in the layer directory DIRFD: 1 with *FD and *ST for a
 * visible object, 0 when absent, -ENOENT when it is whited out there,
 * or another -errno.
 */
int stack_find_one(int dirfd, const char *name, int *fd, struct stat *st);

/*
 * Resolve PATH ("a/b", "" for the root) in the union of the layers
 * ROOTS (top first).  1 with SET for a visible object, 0 when absent or
 * hidden, or -errno.  For the tools.
 */
int stack_lookup(const int *roots, int nroots, const char *path,
		 struct stack_set *set);

void stack_set_free(struct stack_set *set);

#endif
