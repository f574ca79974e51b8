/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Extended attributes on file descriptors, including O_PATH ones (which
 * the f*xattr() calls refuse): those go through /proc/self/fd/N, as
 * libfuse's passthrough_ll does.  Every function returns 0 (or a length)
 * on success and -errno on failure.
 */
#ifndef LFS_XATTR_H
#define LFS_XATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Value of NAME into BUF (SIZE 0 asks for the length). */
ssize_t xat_get(int fd, const char *name, void *buf, size_t size);
/* Set NAME; FLAGS as setxattr(2) (XATTR_CREATE, XATTR_REPLACE). */
int xat_set(int fd, const char *name, const void *val, size_t len, int flags);
int xat_remove(int fd, const char *name);
/*
 * All names of FD into *LIST (malloc'ed, NUL-separated, caller frees).
 * Returns the total length, 0 (and *LIST NULL) when there are none.
 */
ssize_t xat_list(int fd, char **list);
/* Value of NAME as a malloc'ed NUL-terminated string in *VAL. */
int xat_get_alloc(int fd, const char *name, char **val, size_t *len);

/*
 * The names of FD's xattrs that KEEP accepts (all with KEEP NULL), in
 * strcmp order: *NAMES points into *LIST; the caller frees both.
 */
int xat_names(int fd, bool (*keep)(const char *name), char **list,
	      char ***names, size_t *n);

/*
 * Overlay bookkeeping names that must never be listed, read or written
 * through a mount: trusted.overlay.*, user.overlay.*, user.fuseoverlayfs.*
 */
bool xat_is_private(const char *name);

/*
 * Copy every non-private xattr of SRC to DST.  Names the destination
 * filesystem does not support (EOPNOTSUPP) are skipped, as the kernel's
 * copy-up does; any other failure is returned.
 */
int xat_copy(int src, int dst);

#endif
