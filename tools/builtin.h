/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The commands of the layerfs binary.  Each cmd_NAME(argc, argv) gets
 * argv[0] == "NAME" and returns the process exit status.
 */
#ifndef LFS_BUILTIN_H
#define LFS_BUILTIN_H

struct cmd_struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help; /* one line for "layerfs --help" */
};

int cmd_mount(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_squash(int argc, char **argv);
int cmd_which(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_gc(int argc, char **argv);

#endif
