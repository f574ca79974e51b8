// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layerfs: the one binary.  "layerfs <command> ..." runs a command from
 * commands[]; every other form is an implicit mount, as container
 * engines ("layerfs -o lowerdir=... TARGET") and mount.fuse3
 * ("layerfs SOURCE TARGET -o OPTS") call it.
 *
 * To add a command: write tools/cmd_NAME.c with cmd_NAME(), declare it
 * in builtin.h, list it in commands[] below, and give it a man page
 * man/layerfs-NAME.1 (t0010 checks that --help and the page agree).
 */
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "log.h"

#ifndef LAYERFS_VERSION
#define LAYERFS_VERSION "0.1.0"
#endif

static const struct cmd_struct commands[] = {
	{ "mount", cmd_mount, "stack layer directories into one view" },
	{ "commit", cmd_commit, "record an upper directory as a new layer" },
	{ "diff", cmd_diff, "list what an upper directory or layer changes" },
	{ "history", cmd_history, "show the layers of an image and their cost" },
	{ "which", cmd_which, "show which layer serves a path" },
	{ "squash", cmd_squash, "fold layers into one" },
	{ "export", cmd_export, "write an image as an OCI layout" },
	{ "import", cmd_import, "read an OCI layout into the store" },
	{ "ls", cmd_ls, "list tags and layers" },
	{ "rm", cmd_rm, "remove tags or layers" },
	{ "gc", cmd_gc, "remove layers nothing refers to" },
};

static void usage(FILE *out)
{
	size_t i;

	fputs("usage: layerfs <command> [<args>]\n"
	      "   or: layerfs -o lowerdir=LOWERS[,upperdir=UPPER,workdir=WORK] "
	      "MOUNTPOINT\n"
	      "   or: layerfs --version | --help\n"
	      "\n"
	      "commands:\n",
	      out);
	for (i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		fprintf(out, "    %-10s %s\n", commands[i].name,
			commands[i].help);
	fputs("\n'layerfs <command> --help' describes a command.\n", out);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("layerfs version %s\n", LAYERFS_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (!strcmp(argv[1], commands[i].name)) {
			log_set_cmd(commands[i].name);
			return commands[i].fn(argc - 1, argv + 1);
		}
	/* mount_program and mount.fuse3 forms: both carry -o */
	for (i = 1; i < (size_t)argc; i++)
		if (!strncmp(argv[i], "-o", 2))
			break;
	if (argv[1][0] != '-' && i == (size_t)argc) {
		error("'%s' is not a layerfs command (see 'layerfs --help')",
		      argv[1]);
		return 1;
	}
	log_set_cmd("mount");
	return cmd_mount(argc, argv);
}
