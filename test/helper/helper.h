/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the test helpers share: how they name errors and file types. */
#ifndef LFS_TEST_HELPER_H
#define LFS_TEST_HELPER_H

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* "ENOENT" for ENOENT; "E123" for a number glibc has no name for. */
static inline const char *errname(int e)
{
	static char buf[32];
	const char *n = strerrorname_np(e);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* One letter per file type, as in treedump and randops output. */
static inline char type_char(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return 'f';
	case S_IFDIR:
		return 'd';
	case S_IFLNK:
		return 'l';
	case S_IFCHR:
		return 'c';
	case S_IFBLK:
		return 'b';
	case S_IFIFO:
		return 'p';
	case S_IFSOCK:
		return 's';
	}
	return '?';
}

#endif
