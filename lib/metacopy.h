/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where the data of a metadata-only copy is, for the tools.
 *
 * A regular file with {trusted,user}.overlay.metacopy (wh_is_metacopy)
 * holds only metadata: owner, mode, times, xattrs and size are its own,
 * its blocks are not.  Its data is the regular file that the lookup of
 * its name finds further down the stack, with the merge rule of
 * lib/stack.h: in the layer directories of its parent below its own
 * layer, or, when it carries an overlay.redirect, under that name there
 * (a relative redirect) or under that path from the roots of the layers
 * below (an absolute one).  A file found there that is a metadata-only
 * copy itself is passed over for the next one down, following its own
 * redirect in turn, as the kernel's lookup does.
 *
 * Every function returns 0 (or an fd) or -errno; -ENODATA says that the
 * layers below hold no data for the file: nothing, a whiteout, or
 * something other than a regular file.
 */
#ifndef LFS_METACOPY_H
#define LFS_METACOPY_H

#include <sys/stat.h>

#include "stack.h"

/*
 * FILE is a metadata-only copy found as NAME in the merged directory
 * DIRS (N layer directories, top down, as stack_lookup() or stack_find()
 * found them) of the stack ROOTS (NROOTS layers, top first).  *DATA gets
 * its data file: the layer and an O_PATH fd, which the caller closes; *ST
 * the data file's stat (its size may differ: FILE's is the one that
 * counts).
 */
int metacopy_find(const int *roots, int nroots, const struct stack_obj *dirs,
		  int n, const char *name, const struct stack_obj *file,
		  struct stack_obj *data, struct stat *st);

/* The same for FILE at PATH ("a/b") of the stack. */
int metacopy_lookup(const int *roots, int nroots, const char *path,
		    const struct stack_obj *file, struct stack_obj *data,
		    struct stat *st);

/*
 * An fd open for reading (O_RDONLY) of the data of the regular file FILE
 * at PATH of the stack: FILE itself, or its data file when FILE is a
 * metadata-only copy.
 */
int metacopy_open(const int *roots, int nroots, const char *path,
		  const struct stack_obj *file);

/* The message for -ENODATA from the functions above. */
#define METACOPY_NO_DATA                                                   \
	"a metadata-only copy (overlay.metacopy) whose data is in no layer " \
	"below"

#endif
