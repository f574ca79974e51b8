// SPDX-License-Identifier: GPL-2.0-or-later
/* layerfs mount: parse the command line, then run the daemon. */
#include "builtin.h"
#include "layerfs.h"

int cmd_mount(int argc, char **argv)
{
	struct lfs_config cfg = { .fuse_args = FUSE_ARGS_INIT(0, NULL) };
	int r, ret;

	r = lfs_opts_parse(argc, argv, &cfg);
	if (r) {
		lfs_opts_free(&cfg);
		return r > 0 ? 0 : 1;
	}
	ret = lfs_main(&cfg);
	lfs_opts_free(&cfg);
	return ret;
}
