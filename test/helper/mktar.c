// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mktar: write a pax tar whose entries say exactly what the command line
 * says, however hostile: "../x", absolute paths, links anywhere, device
 * nodes, names of any length, sizes the archive does not hold.  For the
 * import tests; nothing is read from the file system.
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

static const char usage_str[] =
	"usage: mktar OUT.tar SPEC...\n"
	"  f:PATH[:DATA]    regular file (mode 0644)\n"
	"  d:PATH           directory (0755)\n"
	"  l:PATH:TARGET    symbolic link\n"
	"  h:PATH:TARGET    hard link\n"
	"  c:PATH:MAJ:MIN   character device\n"
	"  b:PATH:SIZE      regular file of SIZE bytes, cut off after the\n"
	"                   header (must be last)\n";

static void fail(struct archive *a, const char *what)
{
	fprintf(stderr, "mktar: %s: %s\n", what, archive_error_string(a));
	exit(1);
}

/* Splits "K:A:B" in place: *A after the first ':', *B after the second. */
static char kind_of(char *spec, char **a, char **b)
{
	char *p;

	if (strlen(spec) < 3 || spec[1] != ':')
		return 0;
	*a = spec + 2;
	*b = NULL;
	p = strchr(*a, ':');
	if (p) {
		*p = '\0';
		*b = p + 1;
	}
	return spec[0];
}

static void add(struct archive *a, struct archive_entry *e, char *spec)
{
	char *path, *arg, *min;
	const char *data = "";

	archive_entry_clear(e);
	archive_entry_set_mtime(e, 1600000000, 0);
	switch (kind_of(spec, &path, &arg)) {
	case 'f':
		data = arg ? arg : "";
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, strlen(data));
		break;
	case 'b':
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, strtoll(arg ? arg : "0", NULL, 0));
		break;
	case 'd':
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, 0755);
		break;
	case 'l':
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_perm(e, 0777);
		archive_entry_copy_symlink(e, arg ? arg : "");
		break;
	case 'h':
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_copy_hardlink(e, arg ? arg : "");
		break;
	case 'c':
		min = arg ? strchr(arg, ':') : NULL;
		archive_entry_set_filetype(e, AE_IFCHR);
		archive_entry_set_perm(e, 0600);
		archive_entry_set_rdev(e, makedev(atoi(arg ? arg : "0"),
						  atoi(min ? min + 1 : "0")));
		break;
	default:
		fprintf(stderr, "mktar: bad spec '%s'\n%s", spec, usage_str);
		exit(2);
	}
	archive_entry_copy_pathname(e, path);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		fail(a, path);
	if (spec[0] == 'b') {
		/* nothing more is written: the archive lies about the size */
		archive_write_fail(a);
		return;
	}
	if (*data && archive_write_data(a, data, strlen(data)) < 0)
		fail(a, path);
}

int main(int argc, char **argv)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	int i;

	if (argc < 3) {
		fputs(usage_str, stderr);
		return 2;
	}
	archive_write_set_format_pax(a);
	archive_write_set_bytes_per_block(a, 0);
	if (archive_write_open_filename(a, argv[1]) != ARCHIVE_OK)
		fail(a, argv[1]);
	for (i = 2; i < argc; i++)
		add(a, e, argv[i]);
	if (archive_write_close(a) != ARCHIVE_OK && argv[argc - 1][0] != 'b')
		fail(a, "close");
	archive_entry_free(e);
	archive_write_free(a);
	return 0;
}
