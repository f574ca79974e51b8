// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * An OCI layer tar read into a staging directory, safely.  The archive is
 * hostile until proven otherwise, so nothing of it is trusted:
 *
 * - A name is split into components and checked before any system call:
 *   no absolute path, no '..', no component over NAME_MAX, at most 4096
 *   components.
 * - It is then resolved one component at a time from the layer root with
 *   fstatat(AT_SYMLINK_NOFOLLOW) and openat(O_NOFOLLOW): a symlink that
 *   an earlier entry planted is never followed, so nothing is ever
 *   written outside the root.
 * - Nothing is replaced: an entry whose name exists already is refused
 *   (directories merge, and a whiteout of the same layer gives way), so
 *   no entry can swap a directory for a symlink under a later one.
 * - Hard links must point to an entry already extracted in this layer;
 *   device nodes need root; sizes are bounded.
 *
 * Directories get their owner, mode and times last, deepest first, once
 * nothing will be created in them any more.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci.h"
#include "whiteout.h"
#include "xattr.h"

#define MAX_DEPTH 4096

/* A name split into checked components. */
struct tpath {
	char *buf;
	char **comp;
	size_t n, cap;
};

/* Metadata of a directory, applied when the layer is complete. */
struct dir_fix {
	char *path; /* "a/b", "" for the root */
	struct archive_entry *e;
	size_t depth, seq;
};

struct untar {
	const struct layer_untar_opts *o;
	struct archive *a;
	int rootfd;
	const char *entry; /* the current entry's name, as in the archive */
	struct archive_entry *cur;
	struct tpath path, link;
	char *cache_path; /* the parent directory opened last, and its fd */
	int cache_fd;
	struct dir_fix *dirs;
	size_t ndirs, capdirs;
	uint64_t total;
};

/* One line naming the layer, the entry and the reason; -EINVAL. */
static int refuse(struct untar *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int refuse(struct untar *u, const char *fmt, ...)
{
	char why[512], buf[OCI_SHOWN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	oci_error("%s: %s: %s", u->o->name, oci_shown(u->entry, buf), why);
	return -EINVAL;
}

/* The same for a failed system call: -errno. */
static int sys_fail(struct untar *u, const char *what, int err)
{
	char buf[OCI_SHOWN];

	oci_error("%s: %s: %s: %s", u->o->name, oci_shown(u->entry, buf), what,
		  strerror(-err));
	return err;
}

/* --- names -------------------------------------------------------------- */

static int split(struct untar *u, const char *raw, const char *what,
		 struct tpath *p)
{
	char *s, *c;

	p->n = 0;
	if (!raw || !*raw)
		return refuse(u, "empty %s", what);
	if (strlen(raw) > (size_t)MAX_DEPTH * (NAME_MAX + 1))
		return refuse(u, "%s of %zu bytes is absurd", what, strlen(raw));
	if (raw[0] == '/')
		return refuse(u, "absolute %s: refusing to leave the layer", what);
	free(p->buf);
	p->buf = strdup(raw);
	if (!p->buf)
		return -ENOMEM;
	for (s = p->buf; s; s = c) {
		c = strchr(s, '/');
		if (c)
			*c++ = '\0';
		if (!*s || !strcmp(s, "."))
			continue;
		if (!strcmp(s, ".."))
			return refuse(u, "'..' in the %s: refusing to leave the layer",
				      what);
		if (strlen(s) > NAME_MAX)
			return refuse(u, "a name of %zu bytes in the %s (the limit is %d)",
				      strlen(s), what, NAME_MAX);
		if (p->n == MAX_DEPTH)
			return refuse(u, "%s deeper than %d components", what,
				      MAX_DEPTH);
		if (p->n == p->cap) {
			size_t cap = p->cap ? 2 * p->cap : 16;
			char **v = realloc(p->comp, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			p->comp = v;
			p->cap = cap;
		}
		p->comp[p->n++] = s;
	}
	return 0;
}

/* Components [0, N) of P joined with '/', malloc'ed. */
static char *join(const struct tpath *p, size_t n)
{
	size_t len = 1, i;
	char *s, *q;

	for (i = 0; i < n; i++)
		len += strlen(p->comp[i]) + 1;
	s = q = malloc(len);
	if (!s)
		return NULL;
	*q = '\0';
	for (i = 0; i < n; i++)
		q += sprintf(q, "%s%s", i ? "/" : "", p->comp[i]);
	return s;
}

/* --- directories -------------------------------------------------------- */

static int note_dir(struct untar *u, char *path, size_t depth,
		    struct archive_entry *e)
{
	if (u->ndirs == u->capdirs) {
		size_t cap = u->capdirs ? 2 * u->capdirs : 64;
		struct dir_fix *v = realloc(u->dirs, cap * sizeof(*v));

		if (!v) {
			free(path);
			archive_entry_free(e);
			return -ENOMEM;
		}
		u->dirs = v;
		u->capdirs = cap;
	}
	u->dirs[u->ndirs] = (struct dir_fix){ path, e, depth, u->ndirs };
	u->ndirs++;
	return 0;
}

/* A directory the archive did not list: root's, 0755, the entry's time. */
static int note_implicit(struct untar *u, size_t depth)
{
	struct archive_entry *cur = u->cur;
	struct archive_entry *e = archive_entry_new();
	char *path = join(&u->path, depth);

	if (!e || !path) {
		archive_entry_free(e);
		free(path);
		return -ENOMEM;
	}
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_mtime(e, archive_entry_mtime(cur),
				archive_entry_mtime_nsec(cur));
	return note_dir(u, path, depth, e);
}

/* One step down from DIRFD into directory NAME, made when missing. */
static int step(struct untar *u, int dirfd, const char *name, bool create,
		size_t depth, int *out)
{
	struct stat st;
	int err;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT && !create)
			return refuse(u, "'%s' is not in the layer", name);
		if (errno != ENOENT)
			return sys_fail(u, name, -errno);
		if (mkdirat(dirfd, name, 0755) < 0)
			return sys_fail(u, name, -errno);
		err = note_implicit(u, depth);
		if (err)
			return err;
	} else if (S_ISLNK(st.st_mode)) {
		return refuse(u, "'%s' is a symbolic link: refusing to write through it",
			      name);
	} else if (!S_ISDIR(st.st_mode)) {
		return refuse(u, "'%s' is not a directory", name);
	}
	*out = openat(dirfd, name,
		      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return *out < 0 ? sys_fail(u, name, -errno) : 0;
}

/*
 * An fd (the caller's to close) of the directory that holds the last
 * component of P.  With CREATE (the entry's own path) missing directories
 * are made and the result is cached: archives list siblings together.
 */
static int open_parent(struct untar *u, const struct tpath *p, bool create,
		       int *out)
{
	char *key = join(p, p->n - 1);
	int fd, next = -1, err = 0;
	size_t i;

	if (!key)
		return -ENOMEM;
	if (create && u->cache_path && !strcmp(key, u->cache_path)) {
		free(key);
		*out = fcntl(u->cache_fd, F_DUPFD_CLOEXEC, 0);
		return *out < 0 ? sys_fail(u, "dup", -errno) : 0;
	}
	fd = fcntl(u->rootfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		err = sys_fail(u, "dup", -errno);
	for (i = 0; !err && i + 1 < p->n; i++) {
		err = step(u, fd, p->comp[i], create, i + 1, &next);
		close(fd);
		fd = err ? -1 : next;
	}
	if (err) {
		free(key);
		return err;
	}
	if (create) {
		if (u->cache_path)
			close(u->cache_fd);
		free(u->cache_path);
		u->cache_path = key;
		u->cache_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (u->cache_fd < 0) {
			free(u->cache_path);
			u->cache_path = NULL;
		}
	} else {
		free(key);
	}
	*out = fd;
	return 0;
}

/* --- metadata ----------------------------------------------------------- */

/* What an image may carry; overlay's own xattrs would plant markers. */
static bool imported_xattr(const char *name)
{
	return (!strncmp(name, "user.", 5) && !xat_is_private(name)) ||
	       !strcmp(name, "security.capability");
}

static int set_xattrs(struct untar *u, int fd, struct archive_entry *e)
{
	const char *name;
	const void *val;
	size_t len;
	int err;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK) {
		if (!imported_xattr(name))
			continue;
		err = xat_set(fd, name, val, len, 0);
		if (err == -EOPNOTSUPP ||
		    (!u->o->root && (err == -EPERM || err == -EACCES)))
			continue;
		if (err)
			return sys_fail(u, name, err);
	}
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
}

/*
 * Owner (as root; rootless keeps its own), mode (after chown, which
 * clears set-id bits), xattrs, then times, on the open file FD.
 */
static int meta_fd(struct untar *u, int fd, struct archive_entry *e)
{
	struct timespec ts[2];
	int err;

	if (u->o->root &&
	    fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) < 0)
		return sys_fail(u, "chown", -errno);
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return sys_fail(u, "chmod", -errno);
	err = set_xattrs(u, fd, e);
	if (err)
		return err;
	entry_times(e, ts);
	return futimens(fd, ts) < 0 ? sys_fail(u, "utimes", -errno) : 0;
}

/*
 * The same for NAME in DIRFD, a symlink, a device or a FIFO: no xattrs,
 * as Linux keeps user.* for files and directories.
 */
static int meta_at(struct untar *u, int dirfd, const char *name,
		   struct archive_entry *e)
{
	bool lnk = archive_entry_filetype(e) == AE_IFLNK;
	struct timespec ts[2];

	if (u->o->root && fchownat(dirfd, name, archive_entry_uid(e),
				   archive_entry_gid(e),
				   AT_SYMLINK_NOFOLLOW) < 0)
		return sys_fail(u, "chown", -errno);
	/* NAME is what this entry just made: no symlink is followed */
	if (!lnk && fchmodat(dirfd, name, archive_entry_perm(e) & 07777, 0) < 0)
		return sys_fail(u, "chmod", -errno);
	entry_times(e, ts);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sys_fail(u, "utimes", -errno);
	return 0;
}

/* --- entries ------------------------------------------------------------ */

/*
 * NAME exists already.  A whiteout that an earlier ".wh.NAME" of this
 * layer made gives way (1: try again): OCI whiteouts hide only what the
 * layers below hold, and the new entry hides that anyway.  Anything else
 * is a name given twice: refused.
 */
static int exists(struct untar *u, int dirfd, const char *name)
{
	struct stat st;

	if (!fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) &&
	    wh_is_chr_whiteout(&st) && !unlinkat(dirfd, name, 0))
		return 1;
	return refuse(u, "'%s' appears twice in the layer", name);
}

static int copy_data(struct untar *u, int fd, int64_t size)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	while ((r = archive_read_data_block(u->a, &buf, &len, &off)) ==
	       ARCHIVE_OK) {
		if (off < 0 || off + (int64_t)len > size)
			return refuse(u, "data beyond the declared size");
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(fd, (const char *)buf + done,
					   len - done, off + done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return sys_fail(u, "write", -errno);
			done += n;
		}
		oci_progress_add(u->o->progress, 0, len);
	}
	if (r != ARCHIVE_EOF)
		return refuse(u, "%s", oci_why(archive_error_string(u->a)));
	return ftruncate(fd, size) < 0 ? sys_fail(u, "truncate", -errno) : 0;
}

static int do_file(struct untar *u, int dirfd, const char *name,
		   struct archive_entry *e)
{
	int fd, err;

	fd = openat(dirfd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? exists(u, dirfd, name) :
					 sys_fail(u, "create", -errno);
	err = copy_data(u, fd, archive_entry_size(e));
	if (!err)
		err = meta_fd(u, fd, e);
	close(fd);
	return err;
}

static int do_dir(struct untar *u, int dirfd, const char *name,
		  struct archive_entry *e)
{
	struct archive_entry *copy;
	struct stat st;
	char *path;

	/* private until complete: the mode comes last */
	if (mkdirat(dirfd, name, 0700) < 0) {
		if (errno != EEXIST)
			return sys_fail(u, "mkdir", -errno);
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			return exists(u, dirfd, name);
	}
	copy = archive_entry_clone(e);
	path = join(&u->path, u->path.n);
	if (!copy || !path) {
		archive_entry_free(copy);
		free(path);
		return -ENOMEM;
	}
	return note_dir(u, path, u->path.n, copy);
}

static int do_node(struct untar *u, int dirfd, const char *name,
		   struct archive_entry *e)
{
	mode_t type = archive_entry_filetype(e);
	const char *target;
	int r;

	switch (type) {
	case AE_IFLNK:
		target = archive_entry_symlink(e);
		if (!target || !*target)
			return refuse(u, "symbolic link without a target");
		if (strlen(target) >= PATH_MAX)
			return refuse(u, "symbolic link target of %zu bytes",
				      strlen(target));
		r = symlinkat(target, dirfd, name);
		break;
	case AE_IFCHR:
	case AE_IFBLK:
		if (!u->o->root)
			return refuse(u, "device node: only root may import one");
		r = mknodat(dirfd, name, type | 0600, archive_entry_rdev(e));
		break;
	case AE_IFIFO:
		r = mkfifoat(dirfd, name, 0600);
		break;
	default:
		return refuse(u, "unsupported entry type (mode %06o)",
			      (unsigned)archive_entry_mode(e));
	}
	if (r < 0)
		return errno == EEXIST ? exists(u, dirfd, name) :
					 sys_fail(u, "create", -errno);
	return meta_at(u, dirfd, name, e);
}

static int do_hardlink(struct untar *u, int dirfd, const char *name,
		       struct archive_entry *e)
{
	const char *target = archive_entry_hardlink(e);
	struct stat st;
	char buf[OCI_SHOWN];
	int tdir, err;

	err = split(u, target, "hard link target", &u->link);
	if (err)
		return err;
	if (!u->link.n)
		return refuse(u, "hard link to the layer root");
	err = open_parent(u, &u->link, false, &tdir);
	if (err)
		return err;
	if (fstatat(tdir, u->link.comp[u->link.n - 1], &st,
		    AT_SYMLINK_NOFOLLOW) < 0)
		err = refuse(u, "hard link to '%s', which is not in the layer",
			     oci_shown(target, buf));
	else if (S_ISDIR(st.st_mode))
		err = refuse(u, "hard link to the directory '%s'",
			     oci_shown(target, buf));
	else if (linkat(tdir, u->link.comp[u->link.n - 1], dirfd, name, 0) < 0)
		err = errno == EEXIST ? exists(u, dirfd, name) :
					sys_fail(u, "link", -errno);
	close(tdir);
	return err;
}

/* ".wh.NAME": NAME is deleted; ".wh..wh..opq": the directory is opaque. */
static int do_marker(struct untar *u, int dirfd, const char *name,
		     struct archive_entry *e)
{
	const char *victim = name + WH_PREFIX_LEN;
	struct timespec ts[2];
	int err;

	if (!strcmp(name, WH_OPQ_NAME)) {
		err = wh_set_opaque(dirfd, u->o->ns);
		/* root of a user namespace may not write trusted.* */
		if (err == -EPERM && u->o->ns == WH_NS_TRUSTED)
			err = wh_set_opaque(dirfd, WH_NS_USER);
		return err ? sys_fail(u, "set opaque xattr", err) : 0;
	}
	if (wh_is_marker_name(victim))
		return 0; /* AUFS bookkeeping (.wh..wh.plnk): not content */
	if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
		return refuse(u, "whiteout of '%s'", victim);
	err = wh_make(dirfd, victim);
	if (err)
		return err == -EEXIST ? 0 : sys_fail(u, "mknod whiteout", err);
	entry_times(e, ts);
	if (utimensat(dirfd, victim, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sys_fail(u, "utimes", -errno);
	return 0;
}

static int check_size(struct untar *u, struct archive_entry *e)
{
	int64_t size = archive_entry_size(e);

	if (archive_entry_filetype(e) == AE_IFREG &&
	    !archive_entry_hardlink(e) && !archive_entry_size_is_set(e))
		return refuse(u, "regular file without a size");
	if (size < 0 || (uint64_t)size > OCI_SIZE_MAX ||
	    u->total + size > OCI_SIZE_MAX)
		return refuse(u, "absurd size %lld", (long long)size);
	u->total += size;
	return 0;
}

/* NAME in DIRFD as entry E says; 1 when it should be tried again. */
static int create(struct untar *u, int dirfd, const char *name,
		  struct archive_entry *e)
{
	if (archive_entry_hardlink(e))
		return do_hardlink(u, dirfd, name, e);
	if (wh_is_marker_name(name))
		return do_marker(u, dirfd, name, e);
	if (archive_entry_filetype(e) == AE_IFREG)
		return do_file(u, dirfd, name, e);
	if (archive_entry_filetype(e) == AE_IFDIR)
		return do_dir(u, dirfd, name, e);
	return do_node(u, dirfd, name, e);
}

static int do_entry(struct untar *u, struct archive_entry *e)
{
	const char *name;
	int dirfd, err;

	u->cur = e;
	u->entry = archive_entry_pathname(e);
	if (!u->entry)
		u->entry = "(no name)";
	err = split(u, archive_entry_pathname(e), "path", &u->path);
	if (!err)
		err = check_size(u, e);
	if (err)
		return err;
	oci_progress_add(u->o->progress, 1, 0);
	if (!u->path.n) { /* "./": the layer root itself */
		if (archive_entry_filetype(e) != AE_IFDIR)
			return refuse(u, "the layer root must be a directory");
		return do_dir(u, u->rootfd, ".", e);
	}
	name = u->path.comp[u->path.n - 1];
	err = open_parent(u, &u->path, true, &dirfd);
	if (err)
		return err;
	err = create(u, dirfd, name, e);
	if (err == 1) /* a whiteout gave way */
		err = create(u, dirfd, name, e);
	if (err == 1)
		err = sys_fail(u, "create", -EEXIST);
	close(dirfd);
	return err;
}

/* --- directories, last -------------------------------------------------- */

/* Deepest first, so no directory is closed before its contents are done. */
static int cmp_fix(const void *a, const void *b)
{
	const struct dir_fix *x = a, *y = b;

	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int fix_dir(struct untar *u, struct dir_fix *f)
{
	int dirfd, fd, err;

	u->entry = *f->path ? f->path : ".";
	err = split(u, u->entry, "path", &u->path);
	if (err)
		return err;
	if (!u->path.n) {
		fd = openat(u->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		err = open_parent(u, &u->path, false, &dirfd);
		if (err)
			return err;
		fd = openat(dirfd, u->path.comp[u->path.n - 1],
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dirfd);
	}
	if (fd < 0)
		return sys_fail(u, "open", -errno);
	err = meta_fd(u, fd, f->e);
	close(fd);
	return err;
}

static int fix_dirs(struct untar *u)
{
	size_t i;
	int err = 0;

	if (u->ndirs)
		qsort(u->dirs, u->ndirs, sizeof(*u->dirs), cmp_fix);
	for (i = 0; i < u->ndirs && !err; i++)
		err = fix_dir(u, &u->dirs[i]);
	return err;
}

static void untar_free(struct untar *u)
{
	size_t i;

	for (i = 0; i < u->ndirs; i++) {
		free(u->dirs[i].path);
		archive_entry_free(u->dirs[i].e);
	}
	free(u->dirs);
	free(u->path.buf);
	free(u->path.comp);
	free(u->link.buf);
	free(u->link.comp);
	if (u->cache_path)
		close(u->cache_fd);
	free(u->cache_path);
	if (u->a)
		archive_read_free(u->a);
}

int layer_untar(int fd, int rootfd, const struct layer_untar_opts *o)
{
	struct untar u = { .o = o, .rootfd = rootfd, .entry = "(start)" };
	unsigned said = oci_error_count();
	struct archive_entry *e;
	char last[OCI_SHOWN];
	int r, err = 0;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return sys_fail(&u, "seek", -errno);
	u.a = archive_read_new();
	if (!u.a)
		return -ENOMEM;
	archive_read_support_filter_all(u.a);
	archive_read_support_format_tar(u.a);
	if (archive_read_open_fd(u.a, fd, 1 << 16) != ARCHIVE_OK)
		err = refuse(&u, "%s", oci_why(archive_error_string(u.a)));
	while (!err) {
		/* the entry's name does not outlive the next header */
		u.entry = oci_shown(u.entry, last);
		r = archive_read_next_header(u.a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			err = refuse(&u, "the next entry is unreadable: %s",
				     oci_why(archive_error_string(u.a)));
			break;
		}
		err = do_entry(&u, e);
	}
	if (!err)
		err = fix_dirs(&u);
	untar_free(&u);
	if (err && oci_error_count() == said)
		oci_error("%s: %s", o->name, strerror(-err));
	return err;
}
