/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reaching an object through the /proc/self/fd link of an fd: to reopen
 * an O_PATH fd for I/O, or to name it to a call that takes a path.
 */
#ifndef LFS_PROCFD_H
#define LFS_PROCFD_H

#include <fcntl.h>
#include <stdio.h>

#define PROC_FD_LEN 32

/* "/proc/self/fd/FD" in BUF, which is returned. */
static inline char *proc_fd_path(char buf[PROC_FD_LEN], int fd)
{
	snprintf(buf, PROC_FD_LEN, "/proc/self/fd/%d", fd);
	return buf;
}

/* open(2) of what FD refers to, with FLAGS | O_CLOEXEC. */
static inline int proc_fd_open(int fd, int flags)
{
	char p[PROC_FD_LEN];

	return open(proc_fd_path(p, fd), flags | O_CLOEXEC);
}

#endif
