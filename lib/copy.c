// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "copy.h"

static int copy_rw(int src, int dst, off_t off, off_t end)
{
	char buf[1 << 16];

	while (off < end) {
		size_t want = end - off < (off_t)sizeof(buf) ?
				      (size_t)(end - off) :
				      sizeof(buf);
		ssize_t n = pread(src, buf, want, off), w;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n; done += w) {
			w = pwrite(dst, buf + done, n - done, off + done);
			if (w < 0) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				return -errno;
			}
		}
		off += n;
	}
	return 0;
}

/* Copy [off, end) with copy_file_range, falling back to read/write. */
static int copy_range(int src, int dst, off_t off, off_t end, bool *cfr_ok)
{
	while (*cfr_ok && off < end) {
		loff_t in = off, out = off;
		ssize_t n = copy_file_range(src, &in, dst, &out, end - off, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EXDEV && errno != EINVAL &&
			    errno != EOPNOTSUPP && errno != ENOSYS)
				return -errno;
			*cfr_ok = false;
			break;
		}
		if (n == 0)
			return 0;
		off += n;
	}
	return copy_rw(src, dst, off, end);
}

int copy_data(int src, int dst, off_t size)
{
	bool cfr_ok = true;
	off_t data = 0, hole;
	int err;

	if (size == 0)
		return 0;
	if (ioctl(dst, FICLONE, src) == 0)
		return 0;

	while (data < size) {
		data = lseek(src, data, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO) /* only a hole is left */
				break;
			/* no SEEK_DATA: copy everything */
			data = 0;
			hole = size;
		} else {
			hole = lseek(src, data, SEEK_HOLE);
			if (hole < 0 || hole > size)
				hole = size;
		}
		err = copy_range(src, dst, data, hole, &cfr_ok);
		if (err)
			return err;
		data = hole;
	}
	if (ftruncate(dst, size) < 0)
		return -errno;
	return 0;
}

int copy_owner_mode(int dirfd, const char *name, const struct stat *st)
{
	int flags = *name ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH;

	if (fchownat(dirfd, name, st->st_uid, st->st_gid, flags) < 0 &&
	    !(errno == EPERM && geteuid() != 0))
		return -errno;
	if (S_ISLNK(st->st_mode))
		return 0;
	if (*name ? fchmodat(dirfd, name, st->st_mode & 07777, 0) :
		    fchmod(dirfd, st->st_mode & 07777))
		return -errno;
	return 0;
}

int copy_times(int dirfd, const char *name, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	int r;

	if (*name)
		r = utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
	else
		r = futimens(dirfd, ts);
	return r < 0 ? -errno : 0;
}

int copy_readlink(int fd, char **out)
{
	size_t size = 256;
	char *buf = NULL;
	ssize_t n;

	for (;;) {
		char *nb = realloc(buf, size);

		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		n = readlinkat(fd, "", buf, size);
		if (n < 0) {
			free(buf);
			return -errno;
		}
		if ((size_t)n < size)
			break;
		size *= 2;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}
