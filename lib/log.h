/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Messages.  Tools speak as "layerfs: <cmd>: <path>: <reason>" on one
 * line; the daemon logs through lfs_log() and never exits from a request.
 */
#ifndef LFS_LOG_H
#define LFS_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* The command name used as message prefix ("mount", "commit", ...). */
void log_set_cmd(const char *cmd);

/* Print "layerfs: CMD: MSG\n" to stderr.  Never fails. */
void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* error(), then exit(1).  Tools only: the daemon must not call it. */
void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Debug trace for the daemon (-d); a no-op unless log_debug is set. */
extern bool log_debug;
void lfs_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
