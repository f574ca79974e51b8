/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one place that includes <uthash.h>: keys hash with XXH3, and an
 * allocation failure sets a flag instead of calling exit(), which a
 * daemon must never do in the middle of a request.
 */
#ifndef LFS_TABLE_H
#define LFS_TABLE_H

#include <xxhash.h>

#define HASH_FUNCTION(keyptr, keylen, hashv) \
	((hashv) = (unsigned)XXH3_64bits((keyptr), (keylen)))
#define HASH_NONFATAL_OOM 1

#include <uthash.h>

#endif
