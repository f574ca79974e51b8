// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Id mapping, as container engines ask for it (uidmapping=, gidmapping=,
 * squash_to_uid=, squash_to_gid=).  The layers hold container ids; the
 * mount shows host ids.  A mapping "C:H:N" shows container ids C..C+N-1
 * as host ids H..H+N-1, and ids written through the mount go back the
 * same way; ids outside every range show as the overflow id 65534.
 * Squashing shows every object as one id and leaves the stored ids alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs.h"
#include "log.h"

#define OVERFLOW_ID 65534

/*
 * Parse "C:H:N[:C:H:N...]" (a leading ':' as containers/storage writes
 * it is fine) into MAP.  0, or -EINVAL after a message naming OPT.
 */
int lfs_idmap_parse(const char *opt, const char *val, struct lfs_idmap *map)
{
	char *copy = strdup(val), *tok, *save = NULL, *end;
	unsigned long v[3];
	int i = 0;

	if (!copy)
		return -ENOMEM;
	free(map->r);
	map->r = NULL;
	map->n = 0;
	for (tok = strtok_r(copy, ":", &save); tok;
	     tok = strtok_r(NULL, ":", &save)) {
		v[i] = strtoul(tok, &end, 10);
		if (*end || !*tok || v[i] > 0xffffffffUL)
			goto bad;
		if (++i < 3)
			continue;
		struct lfs_idrange *r = realloc(map->r,
						(map->n + 1) * sizeof(*r));

		if (!r)
			goto bad;
		map->r = r;
		if (!v[2])
			goto bad;
		r[map->n].inner = v[0];
		r[map->n].outer = v[1];
		r[map->n].count = v[2];
		map->n++;
		i = 0;
	}
	if (i || !map->n)
		goto bad;
	free(copy);
	return 0;
bad:
	error("-o %s=%s: not a list of CONTAINER:HOST:COUNT ranges", opt, val);
	free(copy);
	return -EINVAL;
}

/* The id the mount shows for stored id ID. */
uint32_t lfs_idmap_show(const struct lfs_idmap *map, uint32_t id)
{
	int i;

	if (map->squash)
		return map->squash_to;
	if (!map->n)
		return id;
	for (i = 0; i < map->n; i++)
		if (id >= map->r[i].inner && id - map->r[i].inner < map->r[i].count)
			return map->r[i].outer + (id - map->r[i].inner);
	return OVERFLOW_ID;
}

/* The id to store for id ID written through the mount (-1 stays -1). */
uint32_t lfs_idmap_store(const struct lfs_idmap *map, uint32_t id)
{
	int i;

	if (id == (uint32_t)-1 || !map->n)
		return id;
	for (i = 0; i < map->n; i++)
		if (id >= map->r[i].outer && id - map->r[i].outer < map->r[i].count)
			return map->r[i].inner + (id - map->r[i].outer);
	return OVERFLOW_ID;
}
