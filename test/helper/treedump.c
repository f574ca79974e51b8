/*
 * treedump: print a canonical description of the tree below DIR, one line
 * per entry, sorted by path, so that two trees compare with diff(1).
 *
 * The walk is fd-relative (openat/fdopendir) and never follows symlinks.
 * Nothing that differs between two filesystems holding the same content is
 * printed: no inode numbers, no device numbers of the filesystem, no times
 * (unless -m), no directory sizes or directory link counts.  Hard links are
 * shown as a group tag: the first path (in dump order) of the entries that
 * share an inode.
 *
 * Line format (fields after the path are separated by one space):
 *   PATH TYPE MODE uid=U gid=G [size=S] [nlink=N] [rdev=MAJ:MIN]
 *        [target=T] [xxh64=H] [mtime_ns=NS] [link=P] [xattr:NAME=HEX]...
 * TYPE is one of f d l c b p s.  PATH is "." for DIR itself.  Bytes outside
 * 0x21..0x7e and backslash are written as \xHH in paths, targets and names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "helper.h"

static const char usage_str[] = "usage: treedump [-m] [-x] DIR\n"
				"  -m  also print mtime (ns) of non-directories\n"
				"  -x  also print trusted.overlay.* and "
				"user.overlay.* xattrs\n";

struct entry {
	char *path; /* relative path, "" for the root */
	char *head; /* description up to (excluding) the link tag */
	char *tail; /* xattr part, may be empty */
	dev_t dev;
	ino_t ino;
	int linked; /* non-directory with st_nlink > 1 */
	const char *tag;
};

static struct {
	const char *top; /* DIR as given, for error messages */
	int opt_mtime;
	int opt_overlay_xattrs;
	struct entry *ents;
	size_t nents, alloc;
} td;

static void die_path(const char *rel, int err)
{
	if (rel && *rel)
		fprintf(stderr, "treedump: %s/%s: %s\n", td.top, rel,
			strerror(err));
	else
		fprintf(stderr, "treedump: %s: %s\n", td.top, strerror(err));
	exit(1);
}

static void die_oom(void)
{
	fprintf(stderr, "treedump: out of memory\n");
	exit(1);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die_oom();
	return p;
}

static void put_escaped(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == '\\')
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static char *join_path(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p = xrealloc(NULL, dl + nl + 2);

	if (dl) {
		memcpy(p, dir, dl);
		p[dl++] = '/';
	}
	memcpy(p + dl, name, nl + 1);
	return p;
}

/* Hash the content of regular file NAME in DFD; dies on error. */
static uint64_t hash_file(int dfd, const char *name, const char *rel)
{
	static char buf[1 << 16];
	XXH64_state_t *st = XXH64_createState();
	int fd;
	uint64_t h;

	if (!st)
		die_oom();
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		die_path(rel, errno);
	XXH64_reset(st, 0);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die_path(rel, errno);
		}
		if (n == 0)
			break;
		XXH64_update(st, buf, (size_t)n);
	}
	close(fd);
	h = XXH64_digest(st);
	XXH64_freeState(st);
	return h;
}

static char *read_link(int dfd, const char *name, const char *rel,
		       size_t hint, size_t *lenp)
{
	size_t sz = hint + 2;

	for (;;) {
		char *buf = xrealloc(NULL, sz);
		ssize_t n = readlinkat(dfd, name, buf, sz);

		if (n < 0)
			die_path(rel, errno);
		if ((size_t)n < sz) {
			*lenp = (size_t)n;
			return buf;
		}
		free(buf);
		sz *= 2;
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int xattr_hidden(const char *name)
{
	if (!strncmp(name, "security.", 9))
		return 1;
	if (td.opt_overlay_xattrs)
		return 0;
	return !strncmp(name, "trusted.overlay.", 16) ||
	       !strncmp(name, "user.overlay.", 13);
}

/*
 * Write " xattr:NAME=HEX" for each visible xattr of NAME in DFD, sorted.
 * Uses an O_PATH fd and /proc/self/fd/N, which reaches symlinks and special
 * files too (Linux has no *at() form of the xattr calls that glibc wraps).
 */
static void dump_xattrs(FILE *f, int dfd, const char *name, const char *rel)
{
	char proc[64];
	char *list = NULL, **names = NULL;
	ssize_t len;
	size_t nnames = 0;
	int fd;

	fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		die_path(rel, errno);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (;;) {
		len = listxattr(proc, NULL, 0);
		if (len < 0) {
			if (errno == ENOTSUP || errno == ENOSYS)
				goto out;
			die_path(rel, errno);
		}
		list = xrealloc(list, (size_t)len);
		len = listxattr(proc, list, (size_t)len);
		if (len >= 0)
			break;
		if (errno != ERANGE)
			die_path(rel, errno);
	}
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1) {
		if (!list[i] || xattr_hidden(list + i))
			continue;
		names = xrealloc(names, (nnames + 1) * sizeof(*names));
		names[nnames++] = list + i;
	}
	if (nnames)
		qsort(names, nnames, sizeof(*names), cmp_str);
	for (size_t i = 0; i < nnames; i++) {
		unsigned char *val = NULL;
		ssize_t vl;

		for (;;) {
			vl = getxattr(proc, names[i], NULL, 0);
			if (vl < 0) {
				if (errno == ENODATA) /* raced away */
					break;
				die_path(rel, errno);
			}
			val = xrealloc(val, (size_t)vl);
			vl = getxattr(proc, names[i], val, (size_t)vl);
			if (vl >= 0 || errno != ERANGE)
				break;
		}
		if (vl < 0 && errno != ENODATA)
			die_path(rel, errno);
		if (vl >= 0) {
			fputs(" xattr:", f);
			put_escaped(f, names[i], strlen(names[i]));
			fputc('=', f);
			for (ssize_t k = 0; k < vl; k++)
				fprintf(f, "%02x", val[k]);
		}
		free(val);
	}
out:
	free(names);
	free(list);
	close(fd);
}

static void walk(int dfd, const char *rel);

/* Describe entry NAME of DFD (REL is its path from DIR); recurse into dirs. */
static void dump_entry(int dfd, const char *name, const char *rel)
{
	struct stat st;
	struct entry *e;
	char *head = NULL, *tail = NULL;
	size_t hl, tl;
	FILE *f;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		die_path(rel, errno);

	f = open_memstream(&head, &hl);
	if (!f)
		die_oom();
	if (*rel)
		put_escaped(f, rel, strlen(rel));
	else
		fputc('.', f);
	fprintf(f, " %c %04o uid=%u gid=%u", type_char(st.st_mode),
		(unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
		(unsigned)st.st_gid);
	if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
		fprintf(f, " size=%jd", (intmax_t)st.st_size);
	if (!S_ISDIR(st.st_mode))
		fprintf(f, " nlink=%ju", (uintmax_t)st.st_nlink);
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		fprintf(f, " rdev=%u:%u", major(st.st_rdev), minor(st.st_rdev));
	if (S_ISLNK(st.st_mode)) {
		size_t tlen;
		char *t = read_link(dfd, name, rel, (size_t)st.st_size, &tlen);

		fputs(" target=", f);
		put_escaped(f, t, tlen);
		free(t);
	}
	if (S_ISREG(st.st_mode))
		fprintf(f, " xxh64=%016" PRIx64, hash_file(dfd, name, rel));
	if (td.opt_mtime && !S_ISDIR(st.st_mode))
		fprintf(f, " mtime_ns=%jd%09ld", (intmax_t)st.st_mtim.tv_sec,
			(long)st.st_mtim.tv_nsec);
	if (fclose(f))
		die_oom();

	f = open_memstream(&tail, &tl);
	if (!f)
		die_oom();
	dump_xattrs(f, dfd, name, rel);
	if (fclose(f))
		die_oom();

	if (td.nents == td.alloc) {
		td.alloc = td.alloc ? 2 * td.alloc : 256;
		td.ents = xrealloc(td.ents, td.alloc * sizeof(*td.ents));
	}
	e = &td.ents[td.nents++];
	e->path = strdup(rel);
	if (!e->path)
		die_oom();
	e->head = head;
	e->tail = tail;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->linked = !S_ISDIR(st.st_mode) && st.st_nlink > 1;
	e->tag = NULL;

	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dfd, name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0)
			die_path(rel, errno);
		walk(fd, rel);
	}
}

/* List directory FD (takes ownership), then dump each entry in name order. */
static void walk(int fd, const char *rel)
{
	DIR *d = fdopendir(fd);
	char **names = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;

	if (!d)
		die_path(rel, errno);
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				die_path(rel, errno);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 16;
			names = xrealloc(names, alloc * sizeof(*names));
		}
		names[n] = strdup(de->d_name);
		if (!names[n++])
			die_oom();
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char *child = join_path(rel, names[i]);

		dump_entry(dirfd(d), names[i], child);
		free(child);
		free(names[i]);
	}
	free(names);
	closedir(d);
}

static int cmp_entry_path(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

static int cmp_entry_ino(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a;
	const struct entry *y = *(struct entry *const *)b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return strcmp(x->path, y->path);
}

static void tag_links(void)
{
	struct entry **v = xrealloc(NULL, td.nents * sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < td.nents; i++)
		if (td.ents[i].linked)
			v[n++] = &td.ents[i];
	qsort(v, n, sizeof(*v), cmp_entry_ino);
	for (size_t i = 0; i < n; i++) {
		if (i && v[i]->dev == v[i - 1]->dev &&
		    v[i]->ino == v[i - 1]->ino)
			v[i]->tag = v[i - 1]->tag;
		else
			v[i]->tag = v[i]->path;
	}
	free(v);
}

int main(int argc, char **argv)
{
	int opt, fd;

	while ((opt = getopt(argc, argv, "mxh")) != -1) {
		switch (opt) {
		case 'm':
			td.opt_mtime = 1;
			break;
		case 'x':
			td.opt_overlay_xattrs = 1;
			break;
		case 'h':
			fputs(usage_str, stdout);
			return 0;
		default:
			fputs(usage_str, stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage_str, stderr);
		return 2;
	}
	td.top = argv[optind];

	fd = open(td.top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die_path("", errno);
	dump_entry(fd, ".", "");
	close(fd);

	qsort(td.ents, td.nents, sizeof(*td.ents), cmp_entry_path);
	tag_links();
	for (size_t i = 0; i < td.nents; i++) {
		struct entry *e = &td.ents[i];

		fputs(e->head, stdout);
		if (e->tag) {
			fputs(" link=", stdout);
			if (*e->tag)
				put_escaped(stdout, e->tag, strlen(e->tag));
			else
				fputc('.', stdout);
		}
		fputs(e->tail, stdout);
		fputc('\n', stdout);
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "treedump: write error: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
