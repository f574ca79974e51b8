// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fsop: one system call from the command line, for tests that need the
 * exact error number (as unionmount-testsuite's fs-op).  Prints "ok" (or
 * the result) on success, the errno name on failure; exit 0 either way
 * unless the arguments are wrong (exit 2).
 *
 *   fsop rename2 OLD NEW [noreplace|exchange|whiteout]
 *   fsop open PATH FLAGS[,FLAGS] [MODE]   flags: rdonly wronly rdwr creat
 *                                         excl trunc append directory nofollow
 *   fsop link OLD NEW | symlink TARGET NEW | unlink PATH | rmdir PATH
 *   fsop mkdir PATH MODE | mknod PATH fifo|sock|chr|blk MODE [MAJ MIN]
 *   fsop truncate PATH LEN | chmod PATH MODE | readlink PATH
 *   fsop setxattr PATH NAME VALUE | getxattr PATH NAME | listxattr PATH
 *   fsop removexattr PATH NAME | stat PATH | dirents DIR
 *   fsop seekdir DIR      read half, telldir, read on, seekdir back, read:
 *                         prints both tails (they must be equal)
 *   fsop unlinked PATH    open, unlink, fstat: prints nlink and size
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "helper.h"

static int result(int r)
{
	if (r < 0)
		printf("%s\n", errname(errno));
	else
		printf("ok\n");
	return 0;
}

static int parse_flags(const char *s)
{
	static const struct {
		const char *name;
		int flag;
	} tab[] = {
		{ "rdonly", O_RDONLY },	  { "wronly", O_WRONLY },
		{ "rdwr", O_RDWR },	  { "creat", O_CREAT },
		{ "excl", O_EXCL },	  { "trunc", O_TRUNC },
		{ "append", O_APPEND },	  { "directory", O_DIRECTORY },
		{ "nofollow", O_NOFOLLOW },
	};
	char *copy = strdup(s), *tok, *save = NULL;
	int flags = 0;
	size_t i;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(tab) / sizeof(*tab); i++)
			if (!strcmp(tok, tab[i].name))
				break;
		if (i == sizeof(tab) / sizeof(*tab)) {
			fprintf(stderr, "fsop: unknown flag %s\n", tok);
			exit(2);
		}
		flags |= tab[i].flag;
	}
	free(copy);
	return flags;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int do_dirents(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char *lines[65536];
	size_t n = 0, i;

	if (!d)
		return result(-1);
	while ((de = readdir(d)) && n < 65536) {
		struct stat st;
		char *l;

		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			if (asprintf(&l, "%s type=%d d_ino=%llu stat=%s",
				     de->d_name, de->d_type,
				     (unsigned long long)de->d_ino,
				     errname(errno)) < 0)
				exit(1);
		} else if (asprintf(&l, "%s type=%d ino=%s mode=%o", de->d_name,
				    de->d_type,
				    de->d_ino == st.st_ino ? "same" : "DIFFERS",
				    (st.st_mode & S_IFMT) >> 12) < 0) {
			exit(1);
		}
		lines[n++] = l;
	}
	closedir(d);
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (i = 0; i < n; i++) {
		puts(lines[i]);
		free(lines[i]);
	}
	return 0;
}

static int do_seekdir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	long pos;
	int half = 0, total = 0;
	char a[65536] = "", b[65536] = "";

	if (!d)
		return result(-1);
	while (readdir(d))
		total++;
	rewinddir(d);
	while (half < total / 2 && readdir(d))
		half++;
	pos = telldir(d);
	while ((de = readdir(d)))
		if (strlen(a) + strlen(de->d_name) + 2 < sizeof(a))
			strcat(strcat(a, de->d_name), " ");
	seekdir(d, pos);
	while ((de = readdir(d)))
		if (strlen(b) + strlen(de->d_name) + 2 < sizeof(b))
			strcat(strcat(b, de->d_name), " ");
	closedir(d);
	printf("%s\n%s\n", a, b);
	return 0;
}

int main(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "";
	char buf[65536];
	struct stat st;
	ssize_t n;
	int fd;

#define NEED(k)                                                  \
	do {                                                     \
		if (argc < (k) + 2) {                            \
			fprintf(stderr, "fsop %s: arguments\n", op); \
			return 2;                                \
		}                                                \
	} while (0)
	if (!strcmp(op, "rename2")) {
		unsigned int flags = 0;

		NEED(2);
		if (argc > 4 && !strcmp(argv[4], "noreplace"))
			flags = 1;
		else if (argc > 4 && !strcmp(argv[4], "exchange"))
			flags = 2;
		else if (argc > 4 && !strcmp(argv[4], "whiteout"))
			flags = 4;
		return result(syscall(SYS_renameat2, AT_FDCWD, argv[2],
				      AT_FDCWD, argv[3], flags));
	}
	if (!strcmp(op, "open")) {
		NEED(2);
		fd = open(argv[2], parse_flags(argv[3]),
			  argc > 4 ? (mode_t)strtol(argv[4], NULL, 8) : 0644);
		if (fd >= 0)
			close(fd);
		return result(fd);
	}
	if (!strcmp(op, "link")) {
		NEED(2);
		return result(link(argv[2], argv[3]));
	}
	if (!strcmp(op, "symlink")) {
		NEED(2);
		return result(symlink(argv[2], argv[3]));
	}
	if (!strcmp(op, "unlink")) {
		NEED(1);
		return result(unlink(argv[2]));
	}
	if (!strcmp(op, "rmdir")) {
		NEED(1);
		return result(rmdir(argv[2]));
	}
	if (!strcmp(op, "mkdir")) {
		NEED(2);
		return result(mkdir(argv[2], strtol(argv[3], NULL, 8)));
	}
	if (!strcmp(op, "mknod")) {
		mode_t type = S_IFIFO;
		dev_t dev = 0;

		NEED(3);
		if (!strcmp(argv[3], "sock"))
			type = S_IFSOCK;
		else if (!strcmp(argv[3], "chr"))
			type = S_IFCHR;
		else if (!strcmp(argv[3], "blk"))
			type = S_IFBLK;
		if (argc > 6)
			dev = makedev(atoi(argv[5]), atoi(argv[6]));
		return result(mknod(argv[2], type | strtol(argv[4], NULL, 8),
				    dev));
	}
	if (!strcmp(op, "truncate")) {
		NEED(2);
		return result(truncate(argv[2], atoll(argv[3])));
	}
	if (!strcmp(op, "chmod")) {
		NEED(2);
		return result(chmod(argv[2], strtol(argv[3], NULL, 8)));
	}
	if (!strcmp(op, "readlink")) {
		NEED(1);
		n = readlink(argv[2], buf, sizeof(buf) - 1);
		if (n < 0)
			return result(-1);
		buf[n] = '\0';
		printf("%s\n", buf);
		return 0;
	}
	if (!strcmp(op, "setxattr")) {
		NEED(3);
		return result(setxattr(argv[2], argv[3], argv[4],
				       strlen(argv[4]), 0));
	}
	if (!strcmp(op, "getxattr")) {
		NEED(2);
		n = getxattr(argv[2], argv[3], buf, sizeof(buf) - 1);
		if (n < 0)
			return result(-1);
		buf[n] = '\0';
		printf("%s\n", buf);
		return 0;
	}
	if (!strcmp(op, "removexattr")) {
		NEED(2);
		return result(removexattr(argv[2], argv[3]));
	}
	if (!strcmp(op, "listxattr")) {
		char *p;

		NEED(1);
		n = listxattr(argv[2], buf, sizeof(buf));
		if (n < 0)
			return result(-1);
		for (p = buf; p < buf + n; p += strlen(p) + 1)
			printf("%s\n", p);
		return 0;
	}
	if (!strcmp(op, "stat")) {
		NEED(1);
		if (lstat(argv[2], &st) < 0)
			return result(-1);
		printf("ino=%llu nlink=%lu mode=%o uid=%u gid=%u size=%lld\n",
		       (unsigned long long)st.st_ino,
		       (unsigned long)st.st_nlink, st.st_mode, st.st_uid,
		       st.st_gid, (long long)st.st_size);
		return 0;
	}
	if (!strcmp(op, "dirents")) {
		NEED(1);
		return do_dirents(argv[2]);
	}
	if (!strcmp(op, "seekdir")) {
		NEED(1);
		return do_seekdir(argv[2]);
	}
	if (!strcmp(op, "unlinked")) {
		NEED(1);
		fd = open(argv[2], O_RDONLY);
		if (fd < 0)
			return result(-1);
		if (unlink(argv[2]) < 0 || fstat(fd, &st) < 0)
			return result(-1);
		n = read(fd, buf, sizeof(buf));
		printf("nlink=%lu size=%lld read=%zd\n",
		       (unsigned long)st.st_nlink, (long long)st.st_size, n);
		close(fd);
		return 0;
	}
	fprintf(stderr, "fsop: unknown operation '%s'\n", op);
	return 2;
}
