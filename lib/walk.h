/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Walking and removing directory trees, fd-relative, at any depth: no
 * PATH_MAX buffers, never through a symlink.
 */
#ifndef LFS_WALK_H
#define LFS_WALK_H

#include <sys/stat.h>

struct walk_entry {
	int dirfd;	  /* the directory holding it (a real fd) */
	const char *name; /* its name there */
	const char *path; /* from the root, "a/b/c" */
	struct stat st;
	int depth;	  /* 1 for the root's entries */
};

/*
 * Called for each entry, directories before what they hold, names in
 * strcmp order.  Return 0 to go on, WALK_SKIP to leave a directory's
 * contents out, or -errno to stop the walk with that error.
 */
#define WALK_SKIP 1
typedef int (*walk_fn)(const struct walk_entry *e, void *arg);

/* Walk everything below the directory ROOTFD (any fd, O_PATH too). */
int walk_tree(int rootfd, walk_fn fn, void *arg);

/*
 * The names in directory DIRFD but . and .., sorted: *NAMES malloc'ed,
 * each malloc'ed, *N of them.
 */
int walk_names(int dirfd, char ***names, size_t *n);

/* Remove NAME in DIRFD and everything below it.  0 or -errno. */
int walk_remove(int dirfd, const char *name);
/* Remove everything in the directory DIRFD, which stays. */
int walk_remove_contents(int dirfd);

#endif
