/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File handles in the kernel overlay's stored form (struct ovl_fb): the
 * value of overlay.origin, and in hex the name of an index entry
 * (layerfs.5).  Shared by the daemon and the tools.
 */
#ifndef LFS_FH_H
#define LFS_FH_H

#include <fcntl.h>
#include <stdint.h>

#define FH_MAX (21 + MAX_HANDLE_SZ)
#define OVL_FH_MAGIC 0xfb

/* The kernel's struct ovl_fb: what struct fh's buffer holds. */
struct ovl_fb {
	uint8_t version;
	uint8_t magic;
	uint8_t len;
	uint8_t flags;
	uint8_t type;
	uint8_t uuid[16];
	uint8_t fid[];
} __attribute__((packed));

/* A file handle as name_to_handle_at(2) returns it. */
struct fh_handle {
	struct file_handle fh;
	unsigned char bytes[MAX_HANDLE_SZ];
};

/* The handle of FD (any fd, O_PATH too).  0 or -errno. */
int fh_handle_of(int fd, struct fh_handle *h);

struct fh {
	int len;
	uint8_t buf[FH_MAX];
};

/* The handle of FD (any fd, O_PATH too) on a file system with UUID. */
int fh_encode(int fd, const uint8_t uuid[16], struct fh *out);
/* The UUID of FD's file system (zeros when it has none).  0 or -errno. */
int fh_fs_uuid(int fd, uint8_t uuid[16]);
/* FH in lower-case hex into OUT (2 * FH_MAX + 1 bytes). */
void fh_hex(const struct fh *fh, char *out);

#endif
