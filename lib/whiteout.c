// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Markers in layer directories.  Reading accepts every dialect that the
 * kernel, fuse-overlayfs and OCI tools write; the xattr names are looked
 * at through one listxattr call per directory, so a directory with no
 * xattrs costs a single syscall.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "whiteout.h"
#include "xattr.h"

static const char *const opaque_names[] = {
	"trusted.overlay.opaque",
	"user.overlay.opaque",
	"user.fuseoverlayfs.opaque",
};

static const char *const redirect_names[] = {
	"trusted.overlay.redirect",
	"user.overlay.redirect",
};

static const char *const whiteout_names[] = {
	"trusted.overlay.whiteout",
	"user.overlay.whiteout",
};

static const char *const metacopy_names[] = {
	"trusted.overlay.metacopy",
	"user.overlay.metacopy",
};

const char *wh_xattr(enum wh_ns ns, const char *what)
{
	static const char *const names[][2] = {
		{ "trusted.overlay.opaque", "user.overlay.opaque" },
		{ "trusted.overlay.redirect", "user.overlay.redirect" },
		{ "trusted.overlay.whiteout", "user.overlay.whiteout" },
		{ "trusted.overlay.origin", "user.overlay.origin" },
		{ "trusted.overlay.nlink", "user.overlay.nlink" },
		{ "trusted.overlay.metacopy", "user.overlay.metacopy" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (!strcmp(names[i][0] + 16, what))
			return names[i][ns];
	return NULL;
}

bool wh_has_wh_file(int dirfd, const char *name)
{
	size_t len = strlen(name);
	char *wh;
	bool found;

	wh = malloc(WH_PREFIX_LEN + len + 1);
	if (!wh)
		return false;
	memcpy(wh, WH_PREFIX, WH_PREFIX_LEN);
	memcpy(wh + WH_PREFIX_LEN, name, len + 1);
	found = !faccessat(dirfd, wh, F_OK, AT_SYMLINK_NOFOLLOW);
	free(wh);
	return found;
}

bool wh_is_whiteout(int fd, const struct stat *st, int dirflags)
{
	size_t i;

	if (wh_is_chr_whiteout(st))
		return true;
	if (!(dirflags & WH_DIR_XWHITEOUTS) || !S_ISREG(st->st_mode) ||
	    st->st_size != 0)
		return false;
	for (i = 0; i < sizeof(whiteout_names) / sizeof(*whiteout_names); i++)
		if (xat_get(fd, whiteout_names[i], NULL, 0) >= 0)
			return true;
	return false;
}

static bool opaque_value(int fd, const char *name, int *flags)
{
	char v[2];
	ssize_t n = xat_get(fd, name, v, sizeof(v));

	if (n == 1 && v[0] == 'y') {
		*flags |= WH_DIR_OPAQUE;
		return true;
	}
	if (n == 1 && v[0] == 'x')
		*flags |= WH_DIR_XWHITEOUTS;
	return false;
}

int wh_dir_flags(int fd)
{
	char *list, *name;
	ssize_t n;
	size_t i;
	int flags = 0;

	n = xat_list(fd, &list);
	if (n < 0)
		return n;
	for (name = list; list && name < list + n; name += strlen(name) + 1) {
		for (i = 0; i < sizeof(opaque_names) / sizeof(*opaque_names);
		     i++)
			if (!strcmp(name, opaque_names[i]))
				opaque_value(fd, name, &flags);
		for (i = 0;
		     i < sizeof(redirect_names) / sizeof(*redirect_names); i++)
			if (!strcmp(name, redirect_names[i]))
				flags |= WH_DIR_REDIRECT;
	}
	free(list);
	if (!(flags & WH_DIR_OPAQUE) &&
	    !faccessat(fd, WH_OPQ_NAME, F_OK, AT_SYMLINK_NOFOLLOW))
		flags |= WH_DIR_OPAQUE;
	return flags;
}

int wh_make(int dirfd, const char *name)
{
	if (mknodat(dirfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
		return -errno;
	return 0;
}

int wh_set_opaque(int fd, enum wh_ns ns)
{
	return xat_set(fd, opaque_names[ns], "y", 1, 0);
}

bool wh_is_metacopy(int fd)
{
	size_t i;

	for (i = 0; i < sizeof(metacopy_names) / sizeof(*metacopy_names); i++)
		if (xat_get(fd, metacopy_names[i], NULL, 0) >= 0)
			return true;
	return false;
}

int wh_get_redirect(int fd, char **out)
{
	size_t i;
	int err = -ENODATA;

	for (i = 0; i < sizeof(redirect_names) / sizeof(*redirect_names);
	     i++) {
		err = xat_get_alloc(fd, redirect_names[i], out, NULL);
		if (err != -ENODATA)
			return err;
	}
	return err;
}
