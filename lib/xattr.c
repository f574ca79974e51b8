// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xattr access by fd.  A regular fd takes the f*xattr() calls; an O_PATH
 * fd (EBADF there) is retried through its /proc/self/fd link.  The link
 * is followed, which lands on the object itself, symlinks included.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "procfd.h"
#include "xattr.h"

static bool is_opath(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl != -1 && (fl & O_PATH);
}

ssize_t xat_get(int fd, const char *name, void *buf, size_t size)
{
	char p[PROC_FD_LEN];
	ssize_t n;

	if (!is_opath(fd)) {
		n = fgetxattr(fd, name, buf, size);
	} else {
		proc_fd_path(p, fd);
		n = getxattr(p, name, buf, size);
	}
	return n < 0 ? -errno : n;
}

int xat_set(int fd, const char *name, const void *val, size_t len, int flags)
{
	char p[PROC_FD_LEN];
	int r;

	if (!is_opath(fd)) {
		r = fsetxattr(fd, name, val, len, flags);
	} else {
		proc_fd_path(p, fd);
		r = setxattr(p, name, val, len, flags);
	}
	return r < 0 ? -errno : 0;
}

int xat_remove(int fd, const char *name)
{
	char p[PROC_FD_LEN];
	int r;

	if (!is_opath(fd)) {
		r = fremovexattr(fd, name);
	} else {
		proc_fd_path(p, fd);
		r = removexattr(p, name);
	}
	return r < 0 ? -errno : 0;
}

static ssize_t xat_list_raw(int fd, char *buf, size_t size)
{
	char p[PROC_FD_LEN];
	ssize_t n;

	if (!is_opath(fd)) {
		n = flistxattr(fd, buf, size);
	} else {
		proc_fd_path(p, fd);
		n = listxattr(p, buf, size);
	}
	return n < 0 ? -errno : n;
}

ssize_t xat_list(int fd, char **list)
{
	char *buf = NULL;
	ssize_t n;

	*list = NULL;
	for (;;) {
		n = xat_list_raw(fd, NULL, 0);
		if (n <= 0)
			return n == -ENOTSUP ? 0 : n;
		free(buf);
		buf = malloc(n);
		if (!buf)
			return -ENOMEM;
		n = xat_list_raw(fd, buf, n);
		if (n != -ERANGE)
			break;
	}
	if (n <= 0) {
		free(buf);
		return n;
	}
	*list = buf;
	return n;
}

int xat_get_alloc(int fd, const char *name, char **val, size_t *len)
{
	char *buf = NULL;
	ssize_t n;

	*val = NULL;
	for (;;) {
		n = xat_get(fd, name, NULL, 0);
		if (n < 0)
			return n;
		free(buf);
		buf = malloc(n + 1);
		if (!buf)
			return -ENOMEM;
		n = xat_get(fd, name, buf, n);
		if (n != -ERANGE)
			break;
	}
	if (n < 0) {
		free(buf);
		return n;
	}
	buf[n] = '\0';
	*val = buf;
	if (len)
		*len = n;
	return 0;
}

bool xat_is_private(const char *name)
{
	return !strncmp(name, "trusted.overlay.", 16) ||
	       !strncmp(name, "user.overlay.", 13) ||
	       !strncmp(name, "user.fuseoverlayfs.", 19);
}

int xat_copy(int src, int dst)
{
	char *list, *name, *val;
	size_t len;
	ssize_t n;
	int err = 0;

	n = xat_list(src, &list);
	if (n <= 0)
		return n;
	for (name = list; name < list + n; name += strlen(name) + 1) {
		if (xat_is_private(name))
			continue;
		err = xat_get_alloc(src, name, &val, &len);
		if (err == -ENODATA) {
			err = 0;
			continue;
		}
		if (err)
			break;
		err = xat_set(dst, name, val, len, 0);
		free(val);
		if (err == -EOPNOTSUPP)
			err = 0;
		if (err)
			break;
	}
	free(list);
	return err;
}

static int cmp_namep(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int xat_names(int fd, bool (*keep)(const char *name), char **list,
	      char ***names, size_t *n)
{
	char *name, **v;
	size_t count = 0;
	ssize_t len;

	*list = NULL;
	*names = NULL;
	*n = 0;
	len = xat_list(fd, list);
	if (len <= 0)
		return len == -EOPNOTSUPP ? 0 : len;
	for (name = *list; name < *list + len; name += strlen(name) + 1)
		count++;
	v = calloc(count, sizeof(*v));
	if (!v) {
		free(*list);
		*list = NULL;
		return -ENOMEM;
	}
	count = 0;
	for (name = *list; name < *list + len; name += strlen(name) + 1)
		if (!keep || keep(name))
			v[count++] = name;
	if (count)
		qsort(v, count, sizeof(*v), cmp_namep);
	*names = v;
	*n = count;
	return 0;
}
