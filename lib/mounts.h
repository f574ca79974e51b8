/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What each live layerfs mount stacks, for the tools ("layerfs which
 * MOUNTPOINT/PATH"): the daemon records its layers in a small file named
 * after the mount's device, in /run/layerfs (root) or
 * $XDG_RUNTIME_DIR/layerfs, and removes it when it ends.
 */
#ifndef LFS_MOUNTS_H
#define LFS_MOUNTS_H

#include <stdbool.h>
#include <sys/types.h>

struct mount_state {
	char *mountpoint;
	char *control;	/* the daemon's control socket (fs/control.c) */
	bool has_upper; /* layers[0] is the upper */
	int nlayers;
	char **layers; /* top first */
};

/*
 * Record the mount at MOUNTPOINT (live now) and its layers; *PATH gets
 * the file to remove at the end, MS->control (when NULL) the path for
 * the daemon's control socket.  0 or -errno.
 */
int mounts_record(const char *mountpoint, struct mount_state *ms,
		  char **path);
/* The state of the mount whose device is DEV.  0, -ENOENT or -errno. */
int mounts_lookup(dev_t dev, struct mount_state *ms);
/* The state of the live mount whose upper layer is UPPER (a realpath). */
int mounts_find_upper(const char *upper, struct mount_state *ms);
void mounts_free(struct mount_state *ms);

/*
 * The work dir layerfs mount uses for UPPER when none is given:
 * .NAME.layerfs-work beside it (malloc'ed; NULL when UPPER is missing
 * or the root).
 */
char *mounts_default_workdir(const char *upper);

#endif
