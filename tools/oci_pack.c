// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * An OCI layout packed as one tar (what skopeo calls oci-archive:), both
 * ways.  Unpacking writes only the three kinds of files a layout is made
 * of, under names it builds itself from checked digests: an archive entry
 * never names a path that reaches a system call.
 */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci.h"
#include "walk.h"

/* --- packing ------------------------------------------------------------ */

struct pack {
	struct archive *a;
	struct archive_entry *e;
	int64_t mtime;
	const char *tarpath;
};

static int pack_fail(struct pack *p, const char *name)
{
	oci_error("%s: %s: %s", p->tarpath, name,
		  oci_why(archive_error_string(p->a)));
	return -EIO;
}

static int pack_header(struct pack *p, const char *name, mode_t type,
		       int64_t size)
{
	archive_entry_clear(p->e);
	archive_entry_copy_pathname(p->e, name);
	archive_entry_set_filetype(p->e, type);
	archive_entry_set_perm(p->e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_mtime(p->e, p->mtime, 0);
	archive_entry_set_size(p->e, size);
	if (archive_write_header(p->a, p->e) != ARCHIVE_OK)
		return pack_fail(p, name);
	return 0;
}

static int pack_file(struct pack *p, int dirfd, const char *name,
		     const char *path)
{
	char buf[1 << 16];
	struct stat st;
	ssize_t n;
	int fd, err;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		oci_error("%s: %s", path, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	err = pack_header(p, path, AE_IFREG, st.st_size);
	while (!err && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			err = -errno;
			oci_error("%s: %s", path, strerror(-err));
		} else if (archive_write_data(p->a, buf, n) != n) {
			err = pack_fail(p, path);
		}
	}
	close(fd);
	return err;
}

/* The blob names in LAYOUT/blobs/sha256, sorted, dot files left out. */
static int blob_names(int layoutfd, char ***names, size_t *n)
{
	size_t i, j;
	int fd, err;

	fd = openat(layoutfd, "blobs/sha256",
		    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = walk_names(fd, names, n);
	close(fd);
	if (err)
		return err;
	for (i = j = 0; i < *n; i++) {
		if ((*names)[i][0] == '.')
			free((*names)[i]);
		else
			(*names)[j++] = (*names)[i];
	}
	*n = j;
	return 0;
}

static int pack_blobs(struct pack *p, int layoutfd)
{
	char **names = NULL, *path;
	size_t n = 0, i;
	int dirfd, err;

	err = blob_names(layoutfd, &names, &n);
	if (err) {
		oci_error("blobs/sha256: %s", strerror(-err));
		return err;
	}
	dirfd = openat(layoutfd, "blobs/sha256",
		       O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		err = -errno;
	for (i = 0; i < n; i++) {
		if (!err && asprintf(&path, "blobs/sha256/%s", names[i]) < 0)
			err = -ENOMEM;
		else if (!err) {
			err = pack_file(p, dirfd, names[i], path);
			free(path);
		}
		free(names[i]);
	}
	free(names);
	if (dirfd >= 0)
		close(dirfd);
	return err;
}

int oci_pack(int layoutfd, const char *tarpath, int64_t mtime)
{
	struct pack p = { .mtime = mtime, .tarpath = tarpath };
	int err;

	p.a = archive_write_new();
	p.e = archive_entry_new();
	if (!p.a || !p.e) {
		err = -ENOMEM;
		goto out;
	}
	archive_write_set_format_pax_restricted(p.a);
	archive_write_set_bytes_in_last_block(p.a, 1);
	if (archive_write_open_filename(p.a, tarpath) != ARCHIVE_OK) {
		err = pack_fail(&p, "open");
		goto out;
	}
	err = pack_file(&p, layoutfd, "oci-layout", "oci-layout");
	if (!err)
		err = pack_file(&p, layoutfd, "index.json", "index.json");
	if (!err)
		err = pack_header(&p, "blobs", AE_IFDIR, 0);
	if (!err)
		err = pack_header(&p, "blobs/sha256", AE_IFDIR, 0);
	if (!err)
		err = pack_blobs(&p, layoutfd);
	if (!err && archive_write_close(p.a) != ARCHIVE_OK)
		err = pack_fail(&p, "close");
out:
	archive_entry_free(p.e);
	archive_write_free(p.a);
	return err;
}

/* --- unpacking ---------------------------------------------------------- */

/*
 * The name under DIRFD that archive path NAME may be written to, or NULL
 * when the entry is not part of a layout.  Sets *BAD when NAME tries to
 * leave the directory (absolute, '..').
 */
static const char *layout_name(const char *name, bool *bad)
{
	const char *p = name;

	*bad = name[0] == '/' || !strcmp(name, "..") ||
	       !strncmp(name, "../", 3) || strstr(name, "/../") ||
	       (strlen(name) >= 3 && !strcmp(name + strlen(name) - 3, "/.."));
	if (*bad)
		return NULL;
	while (!strncmp(p, "./", 2))
		p += 2;
	if (!strcmp(p, "oci-layout") || !strcmp(p, "index.json"))
		return p;
	if (!strncmp(p, "blobs/sha256/", 13)) {
		char digest[OCI_DIGEST_LEN + 1];

		snprintf(digest, sizeof(digest), "sha256:%s", p + 13);
		if (strlen(p + 13) == 64 && oci_digest_ok(digest))
			return p;
	}
	return NULL;
}

static int unpack_data(struct archive *a, int fd, const char *tarpath,
		       const char *name)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	while ((r = archive_read_data_block(a, &buf, &len, &off)) ==
	       ARCHIVE_OK) {
		if (pwrite(fd, buf, len, off) != (ssize_t)len) {
			oci_error("%s: %s: %s", tarpath, name, strerror(errno));
			return -errno;
		}
	}
	if (r != ARCHIVE_EOF) {
		oci_error("%s: %s: %s", tarpath, name,
			  oci_why(archive_error_string(a)));
		return -EIO;
	}
	return 0;
}

static int unpack_entry(struct archive *a, struct archive_entry *e,
			int dirfd, const char *tarpath)
{
	const char *raw = archive_entry_pathname(e), *name;
	int fd, err;
	bool bad;

	if (!raw) {
		oci_error("%s: an entry has no name", tarpath);
		return -EINVAL;
	}
	name = layout_name(raw, &bad);
	if (bad) {
		oci_error("%s: %s: path leaves the layout", tarpath, raw);
		return -EINVAL;
	}
	if (!name)
		return 0; /* directories and whatever is not ours */
	if (archive_entry_filetype(e) != AE_IFREG ||
	    archive_entry_hardlink(e)) {
		oci_error("%s: %s: not a regular file", tarpath, raw);
		return -EINVAL;
	}
	if (archive_entry_size(e) < 0 ||
	    (uint64_t)archive_entry_size(e) > OCI_SIZE_MAX) {
		oci_error("%s: %s: absurd size", tarpath, raw);
		return -EINVAL;
	}
	fd = openat(dirfd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		if (err == -EEXIST)
			oci_error("%s: %s: appears twice", tarpath, raw);
		else
			oci_error("%s: %s: %s", tarpath, raw, strerror(-err));
		return err;
	}
	err = unpack_data(a, fd, tarpath, raw);
	if (!err && ftruncate(fd, archive_entry_size(e)) < 0)
		err = -errno;
	close(fd);
	return err;
}

int oci_unpack(const char *tarpath, int dirfd)
{
	struct archive_entry *e;
	struct archive *a;
	int r, err = 0;

	if (mkdirat(dirfd, "blobs", 0755) < 0 ||
	    mkdirat(dirfd, "blobs/sha256", 0755) < 0) {
		err = -errno;
		oci_error("%s: %s", tarpath, strerror(-err));
		return err;
	}
	a = archive_read_new();
	if (!a)
		return -ENOMEM;
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, tarpath, 1 << 16) != ARCHIVE_OK) {
		oci_error("%s: %s", tarpath, oci_why(archive_error_string(a)));
		archive_read_free(a);
		return -EIO;
	}
	while (!err && (r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			oci_error("%s: %s", tarpath,
				  oci_why(archive_error_string(a)));
			err = -EIO;
			break;
		}
		err = unpack_entry(a, e, dirfd, tarpath);
	}
	archive_read_free(a);
	return err;
}
