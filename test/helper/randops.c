/*
 * randops: a seeded, deterministic generator of file-system operations.
 *
 *   randops -s SEED -n COUNT [-k START] [-b BATCH] [-R] [-L] DIR
 *
 * Performs operations START..COUNT-1 of the sequence that SEED defines on the
 * tree below DIR and prints one line per operation:
 *
 *   NUM OP ARGS... = RESULT
 *
 * RESULT is "ok" (plus, for reads and stats, what was read) or the errno
 * name.  Nothing nondeterministic is printed (no inode numbers, no times
 * except those just set by utimens, no directory sizes or link counts), so
 * two runs on filesystems that start with the same tree and have the same
 * semantics print byte-identical logs.
 *
 * Each operation draws exactly NDRAW numbers from the PRNG whatever the state
 * of the tree, so "-k START" (skip the first START operations) continues a
 * sequence exactly where an earlier "-n START" run stopped.  The "hold" ops
 * keep fds open across operations (fdread, fdwrite, fdstat and close use
 * them); all held fds are closed, silently, before every operation whose
 * number is a multiple of FD_EPOCH (64), so START must be such a multiple.
 *
 * Paths come from a small name space (names a..f, depth 1..3), and half the
 * time the first path (a quarter of the time the second one) is instead an
 * entry that exists in the tree (found by a sorted walk), so that
 * operations often hit existing and lower entries.  Symlink targets are such
 * relative paths without "..", so nothing resolves outside DIR as long as DIR
 * holds no symlink that points outside.  Opens use O_NONBLOCK so that fifos
 * never block.  Renames of directories (source, or target of an exchange)
 * are only attempted with -R; without it they are logged as "skip-dir".
 * -L makes a writable open that writes nothing a change (lazy_touch()).
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
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "helper.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static const char usage_str[] =
	"usage: randops -s SEED -n COUNT [-k START] [-b BATCH] [-R] [-L] DIR\n"
	"  -s SEED   PRNG seed (decimal or 0x hex)\n"
	"  -n COUNT  operation numbers 0..COUNT-1 make up the run\n"
	"  -k START  skip operations before START, a multiple of 64\n"
	"  -b BATCH  print '# batch K' and flush after every BATCH operations\n"
	"  -R        also rename directories\n";

#define NDRAW 8
#define NSLOT 4
#define FD_EPOCH 64 /* held fds are closed before ops 0, 64, 128, ... */
#define MAXDATA (1 << 17)
#define NAMES "abcdef"
#define NNAMES 6
#define MAXDEPTH 3
#define MAXNAME 32
#define PATHBUF (MAXDEPTH * (MAXNAME + 1) + 1)

static struct {
	int opt_dir_rename;
	int opt_lazy; /* -L: see lazy_touch() */
	int slot[NSLOT];
	unsigned char buf[MAXDATA + 16];
} ro;

/* splitmix64: tiny, well mixed, and its whole state is one counter. */
static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* FNV-1a 64: content fingerprint for reads. */
static uint64_t fnv_update(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

static void put_escaped(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* End a line with "= ERRNAME" (rc < 0, errno set) or "= ok". */
static void res(int rc)
{
	if (rc < 0)
		printf(" = %s\n", errname(errno));
	else
		printf(" = ok\n");
}

static void res_err(int e)
{
	printf(" = %s\n", errname(e));
}

/* A path of 1..3 components from the name space (depth weighted 4:4:2). */
static void gen_path(uint64_t r, char *p)
{
	unsigned depth = (unsigned)(r % 10) < 4 ? 1 : (r % 10) < 8 ? 2 : 3;

	r /= 10;
	for (unsigned i = 0; i < depth; i++) {
		if (i)
			*p++ = '/';
		*p++ = NAMES[r % NNAMES];
		r /= NNAMES;
	}
	*p = '\0';
}

/* Sizes: mostly small, sometimes crossing page and request boundaries. */
static size_t gen_len(uint64_t r)
{
	switch (r % 10) {
	case 0:
		return 0;
	case 1:
	case 2:
	case 3:
	case 4:
	case 5:
		return (size_t)((r >> 8) % 512);
	case 6:
	case 7:
	case 8:
		return (size_t)((r >> 8) % 8192);
	}
	return (size_t)((r >> 8) % MAXDATA);
}

static off_t gen_off(uint64_t r)
{
	switch (r % 4) {
	case 0:
		return 0;
	case 1:
		return (off_t)((r >> 8) % 1024);
	case 2:
		return (off_t)((r >> 8) % 16384);
	}
	return (off_t)((r >> 8) % (MAXDATA + 8192));
}

static const unsigned char *gen_data(uint64_t seed, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = splitmix(&seed);

		memcpy(ro.buf + i, &v, 8);
	}
	return ro.buf;
}

static int write_all(int fd, const unsigned char *p, size_t n, off_t off,
		     int positional)
{
	while (n) {
		ssize_t w = positional ? pwrite(fd, p, n, off) : write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static void print_stat(const struct stat *st)
{
	printf(" = ok %c %04o uid=%u gid=%u", type_char(st->st_mode),
	       (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid,
	       (unsigned)st->st_gid);
	if (!S_ISDIR(st->st_mode))
		printf(" size=%jd nlink=%ju", (intmax_t)st->st_size,
		       (uintmax_t)st->st_nlink);
	putchar('\n');
}

/* Read FD to the end (from OFF with pread, or sequentially) and print it. */
static void read_and_print(int fd, int positional)
{
	uint64_t h = FNV_INIT;
	uintmax_t total = 0;
	off_t off = 0;

	for (;;) {
		ssize_t n = positional ? pread(fd, ro.buf, MAXDATA, off)
				       : read(fd, ro.buf, MAXDATA);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			res(-1);
			return;
		}
		if (n == 0)
			break;
		h = fnv_update(h, ro.buf, (size_t)n);
		total += (uintmax_t)n;
		off += n;
	}
	printf(" = ok size=%ju fnv=%016" PRIx64 "\n", total, h);
}

/* After a successful write: "= ok size=N", or the write's errno. */
static void finish_write(int fd, int rc)
{
	struct stat st;

	if (rc < 0) {
		res(-1);
		return;
	}
	if (fstat(fd, &st) < 0) {
		res(-1);
		return;
	}
	printf(" = ok size=%jd\n", (intmax_t)st.st_size);
}

static const mode_t file_modes[] = { 0644, 0600, 0755, 0444, 04755, 02755,
				     0640, 0700 };
static const mode_t dir_modes[] = { 0755, 0700, 0777, 02755, 01777, 0750 };
static const mode_t chmod_modes[] = { 0644, 0600, 0755, 0444, 04755, 02755,
				      01777, 0000, 02775, 0711 };
static const int owners[] = { 0, 1, 2, 1000, -1 };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(a, r) ((a)[(r) % NELEM(a)])

enum op {
	OP_CREATE,
	OP_TRUNCW,
	OP_APPEND,
	OP_PWRITE,
	OP_TRUNCATE,
	OP_READ,
	OP_MKDIR,
	OP_RMDIR,
	OP_UNLINK,
	OP_RENAME,
	OP_LINK,
	OP_SYMLINK,
	OP_READLINK,
	OP_MKFIFO,
	OP_CHMOD,
	OP_CHOWN,
	OP_UTIMENS,
	OP_SETXATTR,
	OP_RMXATTR,
	OP_GETXATTR,
	OP_LISTXATTR,
	OP_STAT,
	OP_READDIR,
	OP_HOLD,
	OP_FDREAD,
	OP_FDWRITE,
	OP_FDSTAT,
	OP_CLOSE,
	OP_NR
};

static const unsigned op_weight[OP_NR] = {
	[OP_CREATE] = 8,   [OP_TRUNCW] = 5,   [OP_APPEND] = 6,
	[OP_PWRITE] = 6,   [OP_TRUNCATE] = 5, [OP_READ] = 8,
	[OP_MKDIR] = 7,	   [OP_RMDIR] = 5,    [OP_UNLINK] = 7,
	[OP_RENAME] = 9,   [OP_LINK] = 4,     [OP_SYMLINK] = 4,
	[OP_READLINK] = 2, [OP_MKFIFO] = 2,   [OP_CHMOD] = 4,
	[OP_CHOWN] = 3,	   [OP_UTIMENS] = 3,  [OP_SETXATTR] = 4,
	[OP_RMXATTR] = 3,  [OP_GETXATTR] = 2, [OP_LISTXATTR] = 2,
	[OP_STAT] = 6,	   [OP_READDIR] = 6,  [OP_HOLD] = 5,
	[OP_FDREAD] = 2,   [OP_FDWRITE] = 2,  [OP_FDSTAT] = 2,
	[OP_CLOSE] = 1,
};

static enum op pick_op(uint64_t r)
{
	unsigned total = 0, x;

	for (int i = 0; i < OP_NR; i++)
		total += op_weight[i];
	x = (unsigned)(r % total);
	for (int i = 0; i < OP_NR; i++) {
		if (x < op_weight[i])
			return (enum op)i;
		x -= op_weight[i];
	}
	return OP_STAT;
}

static int is_dir_nofollow(const char *p)
{
	struct stat st;

	return !fstatat(AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) &&
	       S_ISDIR(st.st_mode);
}

/*
 * With -L: layerfs copies a file up at its first change, the kernel's
 * overlayfs when it is opened for writing.  An open for writing that
 * would change nothing truncates the file to its own size, a change
 * both count, so that their upper dirs stay comparable.
 */
static void lazy_touch(int fd)
{
	struct stat st;

	if (ro.opt_lazy && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		(void)!ftruncate(fd, st.st_size);
}

static void op_open_write(const char *p, int flags,
			  mode_t mode, size_t len, uint64_t dseed, off_t off,
			  int positional)
{
	int fd = openat(AT_FDCWD, p, flags | O_NONBLOCK | O_CLOEXEC, mode);

	if (fd < 0) {
		res(-1);
		return;
	}
	if (len == 0 && !(flags & O_TRUNC))
		lazy_touch(fd);
	finish_write(fd, write_all(fd, gen_data(dseed, len), len, off,
				   positional));
	close(fd);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void op_readdir(const char *p)
{
	DIR *d = opendir(p);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;

	if (!d) {
		res(-1);
		return;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (!names || !(names[n] = strdup(de->d_name))) {
			fprintf(stderr, "randops: out of memory\n");
			exit(2);
		}
		n++;
	}
	if (errno) {
		int e = errno;

		res_err(e);
	} else {
		if (n)
			qsort(names, n, sizeof(*names), cmp_str);
		printf(" = ok [");
		for (size_t i = 0; i < n; i++) {
			if (i)
				putchar(' ');
			put_escaped(names[i], strlen(names[i]));
		}
		printf("]\n");
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
}

static void op_listxattr(const char *p)
{
	char list[4096];
	const char *names[256];
	size_t n = 0;
	ssize_t len = llistxattr(p, list, sizeof(list));

	if (len < 0) {
		res(-1);
		return;
	}
	for (ssize_t i = 0; i < len && n < NELEM(names);
	     i += (ssize_t)strlen(list + i) + 1)
		if (list[i] && strncmp(list + i, "security.", 9))
			names[n++] = list + i;
	qsort(names, n, sizeof(*names), cmp_str);
	printf(" = ok [");
	for (size_t i = 0; i < n; i++) {
		if (i)
			putchar(' ');
		put_escaped(names[i], strlen(names[i]));
	}
	printf("]\n");
}

/*
 * Appends the entries below DIR (DEPTH levels down) to *V, only regular
 * files if REG_ONLY; never follows symlinks.
 */
static void collect(const char *dir, int depth, int reg_only, char ***v,
		    size_t *n)
{
	DIR *d = opendir(depth ? dir : ".");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[PATHBUF];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    strlen(de->d_name) > MAXNAME)
			continue;
		if (snprintf(path, sizeof(path), "%s%s%s", depth ? dir : "",
			     depth ? "/" : "", de->d_name) >= (int)sizeof(path))
			continue;
		if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (!reg_only || S_ISREG(st.st_mode)) {
			*v = realloc(*v, (*n + 1) * sizeof(**v));
			if (!*v || !((*v)[*n] = strdup(path))) {
				fprintf(stderr, "randops: out of memory\n");
				exit(2);
			}
			(*n)++;
		}
		if (depth + 1 < MAXDEPTH && S_ISDIR(st.st_mode))
			collect(path, depth + 1, reg_only, v, n);
	}
	closedir(d);
}

/*
 * Replaces P by the (R mod n)-th of the n entries (regular files if
 * REG_ONLY) up to MAXDEPTH deep, in sorted order; keeps P if there are none.  The choice depends on the
 * tree but consumes no PRNG draws, so -k replay stays exact.
 */
static void pick_existing(uint64_t r, int reg_only, char *p)
{
	char **v = NULL;
	size_t n = 0;

	collect(".", 0, reg_only, &v, &n);
	if (n) {
		qsort(v, n, sizeof(*v), cmp_str);
		snprintf(p, PATHBUF, "%s", v[r % n]);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * The slot an fd op uses: the (R mod n)-th of the n slots in use, or
 * R mod NSLOT if none is (the op then reports EBADF).
 */
static unsigned pick_slot(uint64_t r)
{
	unsigned used[NSLOT], n = 0;

	for (unsigned i = 0; i < NSLOT; i++)
		if (ro.slot[i] >= 0)
			used[n++] = i;
	return n ? used[r % n] : (unsigned)(r % NSLOT);
}

static void run_op(uint64_t num, const uint64_t *r)
{
	char p[PATHBUF], q[PATHBUF];
	enum op op = pick_op(r[0]);
	int rc;

	gen_path(r[1], p);
	gen_path(r[2], q);
	if (op == OP_HOLD && r[7] % 4 != 3)
		pick_existing(r[7] >> 8, 1, p);
	else if (r[7] % 2 == 0)
		pick_existing(r[7] >> 8, 0, p);
	if ((r[7] >> 1) % 4 == 0)
		pick_existing(r[7] >> 32, 0, q);
	printf("%" PRIu64 " ", num);

	switch (op) {
	case OP_CREATE: {
		int excl = (r[3] & 3) != 0;
		mode_t mode = PICK(file_modes, r[4]);
		size_t len = gen_len(r[5]);

		printf("create %s %s %04o len=%zu", p, excl ? "excl" : "trunc",
		       (unsigned)mode, len);
		op_open_write(p,
			      O_WRONLY | O_CREAT | (excl ? O_EXCL : O_TRUNC),
			      mode, len, r[6], 0, 0);
		break;
	}
	case OP_TRUNCW: {
		size_t len = gen_len(r[5]);

		printf("truncwrite %s len=%zu", p, len);
		op_open_write(p, O_WRONLY | O_TRUNC, 0, len,
			      r[6], 0, 0);
		break;
	}
	case OP_APPEND: {
		size_t len = gen_len(r[5]);

		printf("append %s len=%zu", p, len);
		op_open_write(p, O_WRONLY | O_APPEND, 0, len, r[6],
			      0, 0);
		break;
	}
	case OP_PWRITE: {
		size_t len = gen_len(r[5]);
		off_t off = gen_off(r[4]);

		printf("pwrite %s off=%jd len=%zu", p, (intmax_t)off, len);
		op_open_write(p, O_WRONLY, 0, len, r[6], off, 1);
		break;
	}
	case OP_TRUNCATE: {
		off_t len = gen_off(r[4]);

		printf("truncate %s %jd", p, (intmax_t)len);
		res(truncate(p, len));
		break;
	}
	case OP_READ: {
		int fd;

		printf("read %s", p);
		fd = openat(AT_FDCWD, p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			res(-1);
			break;
		}
		read_and_print(fd, 0);
		close(fd);
		break;
	}
	case OP_MKDIR: {
		mode_t mode = PICK(dir_modes, r[4]);

		printf("mkdir %s %04o", p, (unsigned)mode);
		res(mkdirat(AT_FDCWD, p, mode));
		break;
	}
	case OP_RMDIR:
		printf("rmdir %s", p);
		res(unlinkat(AT_FDCWD, p, AT_REMOVEDIR));
		break;
	case OP_UNLINK:
		printf("unlink %s", p);
		res(unlinkat(AT_FDCWD, p, 0));
		break;
	case OP_RENAME: {
		static const unsigned flags[] = { 0, 0, RENAME_NOREPLACE,
						  RENAME_EXCHANGE };
		static const char *const fname[] = { "plain", "plain",
						     "noreplace", "exchange" };
		unsigned fi = (unsigned)(r[3] % 4);

		printf("rename %s %s %s", p, q, fname[fi]);
		if (!ro.opt_dir_rename &&
		    (is_dir_nofollow(p) ||
		     (flags[fi] == RENAME_EXCHANGE && is_dir_nofollow(q)))) {
			printf(" = skip-dir\n");
			break;
		}
		res(renameat2(AT_FDCWD, p, AT_FDCWD, q, flags[fi]));
		break;
	}
	case OP_LINK:
		printf("link %s %s", p, q);
		res(linkat(AT_FDCWD, p, AT_FDCWD, q, 0));
		break;
	case OP_SYMLINK:
		/* q is the target: relative, inside the name space */
		printf("symlink %s -> %s", p, q);
		res(symlinkat(q, AT_FDCWD, p));
		break;
	case OP_READLINK: {
		char t[256];
		ssize_t n;

		printf("readlink %s", p);
		n = readlinkat(AT_FDCWD, p, t, sizeof(t));
		if (n < 0) {
			res(-1);
			break;
		}
		printf(" = ok ");
		put_escaped(t, (size_t)n);
		putchar('\n');
		break;
	}
	case OP_MKFIFO: {
		mode_t mode = (r[4] & 1) ? 0644 : 0600;

		printf("mkfifo %s %04o", p, (unsigned)mode);
		res(mknodat(AT_FDCWD, p, S_IFIFO | mode, 0));
		break;
	}
	case OP_CHMOD: {
		mode_t mode = PICK(chmod_modes, r[4]);

		printf("chmod %s %04o", p, (unsigned)mode);
		res(fchmodat(AT_FDCWD, p, mode, 0));
		break;
	}
	case OP_CHOWN: {
		int uid = PICK(owners, r[4]), gid = PICK(owners, r[5]);
		int nofollow = r[3] & 1;

		printf("chown %s %d:%d%s", p, uid, gid,
		       nofollow ? " nofollow" : "");
		res(fchownat(AT_FDCWD, p, (uid_t)uid, (gid_t)gid,
			     nofollow ? AT_SYMLINK_NOFOLLOW : 0));
		break;
	}
	case OP_UTIMENS: {
		struct timespec ts[2];
		int nofollow = r[3] & 1;
		int fl = nofollow ? AT_SYMLINK_NOFOLLOW : 0;
		struct stat st;

		ts[0].tv_sec = 1500000000 + (time_t)(r[4] % 100000000);
		ts[0].tv_nsec = (r[4] >> 40) % 4 ? (long)((r[4] >> 32) %
							   1000000000)
						 : UTIME_OMIT;
		ts[1].tv_sec = 1500000000 + (time_t)(r[5] % 100000000);
		ts[1].tv_nsec = (long)((r[5] >> 32) % 1000000000);
		printf("utimens %s%s mtime=%jd.%09ld", p,
		       nofollow ? " nofollow" : "", (intmax_t)ts[1].tv_sec,
		       ts[1].tv_nsec);
		if (ts[0].tv_nsec == UTIME_OMIT)
			printf(" atime=omit");
		rc = utimensat(AT_FDCWD, p, ts, fl);
		if (rc < 0) {
			res(-1);
			break;
		}
		if (fstatat(AT_FDCWD, p, &st, fl) < 0) {
			res(-1);
			break;
		}
		printf(" = ok mtime=%jd.%09ld\n", (intmax_t)st.st_mtim.tv_sec,
		       st.st_mtim.tv_nsec);
		break;
	}
	case OP_SETXATTR: {
		static const int xflags[] = { 0, 0, XATTR_CREATE,
					      XATTR_REPLACE };
		static const char *const xfname[] = { "any", "any", "create",
						      "replace" };
		char name[16];
		size_t len = (size_t)(r[5] % 40);
		const unsigned char *val = gen_data(r[6], len);
		unsigned fi = (unsigned)(r[3] % 4);

		snprintf(name, sizeof(name), "user.%c", NAMES[r[4] % 3]);
		printf("setxattr %s %s len=%zu %s", p, name, len, xfname[fi]);
		res(lsetxattr(p, name, val, len, xflags[fi]));
		break;
	}
	case OP_RMXATTR: {
		char name[16];

		snprintf(name, sizeof(name), "user.%c", NAMES[r[4] % 3]);
		printf("removexattr %s %s", p, name);
		res(lremovexattr(p, name));
		break;
	}
	case OP_GETXATTR: {
		char name[16];
		unsigned char val[256];
		ssize_t n;

		snprintf(name, sizeof(name), "user.%c", NAMES[r[4] % 3]);
		printf("getxattr %s %s", p, name);
		n = lgetxattr(p, name, val, sizeof(val));
		if (n < 0) {
			res(-1);
			break;
		}
		printf(" = ok ");
		for (ssize_t i = 0; i < n; i++)
			printf("%02x", val[i]);
		putchar('\n');
		break;
	}
	case OP_LISTXATTR:
		printf("listxattr %s", p);
		op_listxattr(p);
		break;
	case OP_STAT: {
		struct stat st;
		int follow = r[3] & 1;

		if (r[4] % 8 == 0)
			strcpy(p, ".");
		printf("%s %s", follow ? "stat" : "lstat", p);
		if (fstatat(AT_FDCWD, p, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW))
			res(-1);
		else
			print_stat(&st);
		break;
	}
	case OP_READDIR:
		if (r[4] % 6 == 0)
			strcpy(p, ".");
		printf("readdir %s", p);
		op_readdir(p);
		break;
	case OP_HOLD: {
		unsigned s = (unsigned)(r[3] % NSLOT);
		int rw = (r[4] & 3) != 0;

		if (ro.slot[s] >= 0)
			close(ro.slot[s]);
		printf("hold %u %s %s", s, p, rw ? "rw" : "ro");
		ro.slot[s] = openat(AT_FDCWD, p,
				    (rw ? O_RDWR : O_RDONLY) | O_NONBLOCK |
					    O_CLOEXEC);
		if (rw && ro.slot[s] >= 0)
			lazy_touch(ro.slot[s]);
		res(ro.slot[s]);
		break;
	}
	case OP_FDREAD: {
		unsigned s = pick_slot(r[3]);

		printf("fdread %u", s);
		if (ro.slot[s] < 0)
			res_err(EBADF);
		else
			read_and_print(ro.slot[s], 1);
		break;
	}
	case OP_FDWRITE: {
		unsigned s = pick_slot(r[3]);
		size_t len = gen_len(r[5]);
		off_t off = gen_off(r[4]);

		printf("fdwrite %u off=%jd len=%zu", s, (intmax_t)off, len);
		if (ro.slot[s] < 0)
			res_err(EBADF);
		else
			finish_write(ro.slot[s],
				     write_all(ro.slot[s], gen_data(r[6], len),
					       len, off, 1));
		break;
	}
	case OP_FDSTAT: {
		unsigned s = pick_slot(r[3]);
		struct stat st;

		printf("fdstat %u", s);
		if (ro.slot[s] < 0)
			res_err(EBADF);
		else if (fstat(ro.slot[s], &st) < 0)
			res(-1);
		else
			print_stat(&st);
		break;
	}
	case OP_CLOSE: {
		unsigned s = pick_slot(r[3]);

		printf("close %u", s);
		if (ro.slot[s] < 0) {
			res_err(EBADF);
			break;
		}
		rc = close(ro.slot[s]);
		ro.slot[s] = -1;
		res(rc);
		break;
	}
	case OP_NR:
		break;
	}
}

static void close_slots(void)
{
	for (int i = 0; i < NSLOT; i++) {
		if (ro.slot[i] >= 0)
			close(ro.slot[i]);
		ro.slot[i] = -1;
	}
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || !*s || *end || *s == '-' ? -1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t seed = 0, count = 0, start = 0, batch = 0, state;
	int opt, have_seed = 0, have_count = 0;

	while ((opt = getopt(argc, argv, "s:n:k:b:RLh")) != -1) {
		uint64_t *dst = NULL;

		switch (opt) {
		case 's':
			dst = &seed;
			have_seed = 1;
			break;
		case 'n':
			dst = &count;
			have_count = 1;
			break;
		case 'k':
			dst = &start;
			break;
		case 'b':
			dst = &batch;
			break;
		case 'R':
			ro.opt_dir_rename = 1;
			break;
		case 'L':
			ro.opt_lazy = 1;
			break;
		case 'h':
			fputs(usage_str, stdout);
			return 0;
		default:
			fputs(usage_str, stderr);
			return 2;
		}
		if (dst && parse_u64(optarg, dst)) {
			fprintf(stderr, "randops: bad number for -%c: %s\n",
				opt, optarg);
			return 2;
		}
	}
	if (!have_seed || !have_count || optind != argc - 1) {
		fputs(usage_str, stderr);
		return 2;
	}
	if (start % FD_EPOCH) {
		fprintf(stderr, "randops: -k must be a multiple of %d\n",
			FD_EPOCH);
		return 2;
	}
	if (chdir(argv[optind]) < 0) {
		fprintf(stderr, "randops: %s: %s\n", argv[optind],
			strerror(errno));
		return 2;
	}
	umask(0);
	for (int i = 0; i < NSLOT; i++)
		ro.slot[i] = -1;

	/* splitmix64's state is a counter: skipping is one multiplication. */
	state = seed + start * NDRAW * 0x9e3779b97f4a7c15ULL;
	for (uint64_t num = start; num < count; num++) {
		uint64_t r[NDRAW];

		if (num % FD_EPOCH == 0)
			close_slots();
		for (int i = 0; i < NDRAW; i++)
			r[i] = splitmix(&state);
		run_op(num, r);
		if (batch && (num + 1) % batch == 0) {
			printf("# batch %" PRIu64 "\n", (num + 1) / batch);
			fflush(stdout);
		}
	}
	close_slots();
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "randops: write error: %s\n", strerror(errno));
		return 2;
	}
	return 0;
}
