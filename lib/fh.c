// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <linux/ioctl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fh.h"

/* linux/fs.h of Linux 6.5; Debian 12's headers predate it. */
struct fh_fsuuid2 {
	uint8_t len;
	uint8_t uuid[16];
};
#ifndef FS_IOC_GETFSUUID
#define FS_IOC_GETFSUUID _IOR(0x15, 0, struct fh_fsuuid2)
#endif

int fh_handle_of(int fd, struct fh_handle *h)
{
	int mount_id;

	h->fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", &h->fh, &mount_id, AT_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

int fh_encode(int fd, const uint8_t uuid[16], struct fh *out)
{
	struct ovl_fb *fb = (struct ovl_fb *)out->buf;
	struct fh_handle h;
	int err;

	err = fh_handle_of(fd, &h);
	if (err)
		return err;
	memset(fb, 0, sizeof(*fb));
	fb->magic = OVL_FH_MAGIC;
	fb->len = sizeof(*fb) + h.fh.handle_bytes;
	fb->type = h.fh.handle_type;
	memcpy(fb->uuid, uuid, 16);
	memcpy(fb->fid, h.fh.f_handle, h.fh.handle_bytes);
	out->len = fb->len;
	return 0;
}

int fh_fs_uuid(int fd, uint8_t uuid[16])
{
	struct fh_fsuuid2 u = { .len = 16 };
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	memset(uuid, 0, 16);
	if (dfd < 0)
		return -errno;
	if (ioctl(dfd, FS_IOC_GETFSUUID, &u) == 0 && u.len == 16)
		memcpy(uuid, u.uuid, 16);
	else if (errno != ENOTTY && errno != EOPNOTSUPP && errno != EINVAL)
		err = -errno;
	close(dfd);
	return err;
}

void fh_hex(const struct fh *fh, char *out)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < fh->len; i++) {
		out[2 * i] = hex[fh->buf[i] >> 4];
		out[2 * i + 1] = hex[fh->buf[i] & 15];
	}
	out[2 * fh->len] = '\0';
}
