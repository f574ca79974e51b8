/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Copying file contents and attributes, as copy-up, commit and squash do.
 * All functions return 0 or -errno.
 */
#ifndef LFS_COPY_H
#define LFS_COPY_H

#include <sys/stat.h>
#include <sys/types.h>

/*
 * Copy SIZE bytes of regular file SRC to the empty regular file DST
 * (both opened for I/O).  Tries a reflink first, then copy_file_range()
 * over the data extents only (holes stay holes), then read/write.
 * DST ends up exactly SIZE bytes long.
 */
int copy_data(int src, int dst, off_t size);

/*
 * Give NAME in DIRFD (NAME "" with DIRFD an open fd: that object) the
 * owner, mode and timestamps of ST, in that order: chown clears the
 * setuid bits, so the mode follows it; the times go last because the
 * other changes touch ctime only, but callers set xattrs between
 * copy_owner_mode() and copy_times().  Symlinks get no mode.
 */
int copy_owner_mode(int dirfd, const char *name, const struct stat *st);
int copy_times(int dirfd, const char *name, const struct stat *st);

/*
 * The target of the symlink FD (O_PATH) as a malloc'ed string in *OUT,
 * whatever its length.
 */
int copy_readlink(int fd, char **out);

#endif
