// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Mount options (the kernel's params.c): the command line of
 * "layerfs mount", of a container engine's mount_program call
 * ("layerfs -o lowerdir=...,upperdir=...,workdir=... TARGET") and of
 * mount.fuse3 ("layerfs SOURCE TARGET -o rw,dev,..."), all into one
 * struct lfs_config.  Unknown options are an error; the options mount(8)
 * and fstab add, and the kernel overlay's tuning options, are accepted
 * and ignored (listed in layerfs-mount.1).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs.h"
#include "log.h"
#include "store.h"

static const char mount_usage[] =
	"usage: layerfs mount [-f] [-d] [-o OPTIONS] LOWERS [UPPER] MOUNTPOINT\n"
	"   or: layerfs -o lowerdir=LOWERS[,upperdir=UPPER,workdir=WORK] MOUNTPOINT\n"
	"\n"
	"Stack the read-only layer directories LOWERS (top:...:bottom) and the\n"
	"writable directory UPPER into one view at MOUNTPOINT.  Without UPPER\n"
	"the view is read-only.  LOWERS may be @REF: a layer of the store and\n"
	"its parents.\n"
	"\n"
	"    -f                 stay in the foreground\n"
	"    -d                 log every request to stderr (implies -f)\n"
	"    -o OPTIONS         comma-separated mount options:\n"
	"       lowerdir=LOWERS    the lower layers, top first, ':'-separated\n"
	"       upperdir=UPPER     the writable layer\n"
	"       workdir=WORK       copy-up staging dir on UPPER's filesystem\n"
	"                          (default: .NAME.layerfs-work beside UPPER)\n"
	"       ro                 mount read-only\n"
	"       volatile           skip fsync; the next mount refuses WORK\n"
	"                          if the daemon did not exit cleanly\n"
	"       userxattr          write user.overlay.* xattrs, even as root\n"
	"       metacopy=SWITCH    on: chmod, chown, utimes and xattr changes\n"
	"                          copy up metadata only (default: off)\n"
	"       allow_other        let other users in (default as root)\n"
	"       timeout=SECONDS    kernel cache timeout (default 86400)\n"
	"       fsname=NAME        source name shown in /proc/mounts\n"
	"       store=DIR          the layer store for @REF lowers\n"
	"       uidmapping=MAP     show stored uids through MAP, C:H:N[:C:H:N..]:\n"
	"                          C..C+N-1 as H..H+N-1, and store back\n"
	"       gidmapping=MAP     the same for gids\n"
	"       squash_to_uid=ID   show every object as owned by ID\n"
	"       squash_to_gid=ID   show every object's group as ID\n"
	"       debug              as -d\n";

void lfs_mount_usage(FILE *out)
{
	fputs(mount_usage, out);
}

/* Options mount(8), fstab and mount.fuse3 pass, handed to libfuse. */
static const char *const passed_on[] = {
	"ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec",
	"sync", "async", "atime", "noatime", "dirsync", NULL,
};

/* Accepted and ignored (see layerfs-mount.1). */
static const char *const ignored[] = {
	"defaults", "auto", "noauto", "user", "nouser", "users", "owner",
	"_netdev", "nofail", "relatime", "norelatime", "strictatime",
	"nostrictatime", "diratime", "nodiratime", "lazytime", "nolazytime",
	"silent", "loud", "default_permissions", "redirect_dir", "index",
	"xino", "uuid", "nfs_export", "redirect_always_follow",
	"subtype", NULL,
};

static bool in_list(const char *const *list, const char *key, size_t klen)
{
	for (; *list; list++)
		if (strlen(*list) == klen && !strncmp(*list, key, klen))
			return true;
	return false;
}

static int set_str(char **dst, const char *val)
{
	free(*dst);
	*dst = strdup(val);
	return *dst ? 0 : -ENOMEM;
}

/*
 * Split LIST ("a:b\:c") at unescaped colons into *OUT.  Empty entries
 * are an error.
 */
static int split_lowers(const char *list, char ***out, int *n)
{
	char **v = NULL, *cur;
	const char *p;
	size_t len;
	int count = 0;

	for (p = list;;) {
		char **nv = realloc(v, (count + 2) * sizeof(*v));

		if (!nv)
			goto nomem;
		v = nv;
		cur = malloc(strlen(p) + 1);
		if (!cur)
			goto nomem;
		for (len = 0; *p && *p != ':'; p++) {
			if (*p == '\\' && p[1])
				p++;
			cur[len++] = *p;
		}
		cur[len] = '\0';
		v[count++] = cur;
		v[count] = NULL;
		if (!len) {
			error("lowerdir=%s: empty layer in the list", list);
			goto fail;
		}
		if (!*p)
			break;
		p++;
	}
	*out = v;
	*n = count;
	return 0;
nomem:
	error("out of memory");
fail:
	while (count)
		free(v[--count]);
	free(v);
	return -EINVAL;
}

static int add_fuse_opt(struct lfs_config *cfg, const char *opt)
{
	return fuse_opt_add_arg(&cfg->fuse_args, "-o") ||
			       fuse_opt_add_arg(&cfg->fuse_args, opt) ?
		       -ENOMEM :
		       0;
}

/* One comma-separated -o string.  0, or -EINVAL after a message. */
static int parse_o(struct lfs_config *cfg, const char *arg)
{
	char *copy = strdup(arg), *opt, *save = NULL;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (opt = strtok_r(copy, ",", &save); opt && !err;
	     opt = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(opt, '=');
		size_t klen = eq ? (size_t)(eq - opt) : strlen(opt);
		const char *val = eq ? eq + 1 : "";

#define IS(k) (klen == strlen(k) && !strncmp(opt, k, klen))
		if (IS("lowerdir")) {
			while (cfg->nlowers)
				free(cfg->lowers[--cfg->nlowers]);
			free(cfg->lowers);
			err = split_lowers(val, &cfg->lowers, &cfg->nlowers);
		} else if (IS("upperdir")) {
			err = set_str(&cfg->upper, val);
		} else if (IS("workdir")) {
			err = set_str(&cfg->workdir, val);
		} else if (IS("volatile")) {
			cfg->volatile_ = true;
		} else if (IS("userxattr")) {
			cfg->userxattr = true;
		} else if (IS("metacopy")) {
			cfg->metacopy = !strcmp(val, "on");
			if (strcmp(val, "on") && strcmp(val, "off")) {
				error("-o metacopy=%s: not on or off", val);
				err = -EINVAL;
			}
		} else if (IS("allow_other")) {
			cfg->allow_other = true;
		} else if (IS("debug")) {
			cfg->debug = cfg->foreground = true;
		} else if (IS("uidmapping")) {
			err = lfs_idmap_parse("uidmapping", val, &cfg->uids);
		} else if (IS("gidmapping")) {
			err = lfs_idmap_parse("gidmapping", val, &cfg->gids);
		} else if (IS("squash_to_uid") || IS("squash_to_gid")) {
			struct lfs_idmap *m = IS("squash_to_uid") ? &cfg->uids :
								    &cfg->gids;
			char *end;

			m->squash_to = strtoul(val, &end, 10);
			m->squash = true;
			if (!*val || *end) {
				error("-o %.*s=%s: not an id", (int)klen, opt,
				      val);
				err = -EINVAL;
			}
		} else if (IS("store")) {
			err = set_str(&cfg->store, val);
		} else if (IS("fsname")) {
			err = set_str(&cfg->fsname, val);
		} else if (IS("timeout")) {
			char *end;

			cfg->timeout = strtod(val, &end);
			if (!*val || *end || !isfinite(cfg->timeout) ||
			    cfg->timeout < 0) {
				error("-o timeout=%s: not a number of seconds",
				      val);
				err = -EINVAL;
			}
		} else if (!eq && in_list(passed_on, opt, klen)) {
			if (IS("ro"))
				cfg->ro = true;
			else if (IS("rw"))
				cfg->ro = false;
			err = add_fuse_opt(cfg, opt);
		} else if (in_list(ignored, opt, klen) ||
			   !strncmp(opt, "x-", 2) || !strncmp(opt, "comment=", 8)) {
			continue;
		} else {
			error("-o %.*s: unknown option (see layerfs-mount(1))",
			      (int)klen, opt);
			err = -EINVAL;
		}
#undef IS
	}
	free(copy);
	return err;
}

/* LOWERS "@REF": the layers of REF in the store, top first. */
static int resolve_store_ref(struct lfs_config *cfg)
{
	char (*ids)[STORE_ID_LEN + 1] = NULL, id[STORE_ID_LEN + 1];
	const char *ref = cfg->lowers[0];
	struct store s;
	char **v;
	int n, i, err;

	err = store_open(&s, cfg->store, false, false);
	if (err) {
		error("%s: cannot open the layer store: %s", ref, strerror(-err));
		return -1;
	}
	err = store_resolve(&s, ref, id);
	if (!err)
		err = store_chain(&s, id, &ids, &n);
	if (err) {
		error("%s: %s in %s", ref,
		      err == -ENOENT ? "no such layer or tag" : strerror(-err),
		      s.path);
		store_close(&s);
		return -1;
	}
	v = calloc(n + 1, sizeof(*v));
	for (i = 0; v && i < n; i++)
		if (!(v[i] = store_layer_root(&s, ids[i])))
			break;
	/* the daemon keeps the shared lock: no gc under a mount */
	if (dup(s.lock_fd) < 0)
		i = -1;
	store_close(&s);
	free(ids);
	if (!v || i != n) {
		while (v && i > 0)
			free(v[--i]);
		free(v);
		return -1;
	}
	while (cfg->nlowers)
		free(cfg->lowers[--cfg->nlowers]);
	free(cfg->lowers);
	cfg->lowers = v;
	cfg->nlowers = n;
	memcpy(cfg->parent_id, id, sizeof(cfg->parent_id));
	return 0;
}

/*
 * Parse ARGV (ARGV[0] is "mount", or the program itself for the
 * implicit forms).  0 on success, 1 when help was printed, -EINVAL after
 * a message.
 */
int lfs_opts_parse(int argc, char **argv, struct lfs_config *cfg)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	char **pos;
	int c, npos, err;

	cfg->timeout = 86400;
	if (fuse_opt_add_arg(&cfg->fuse_args, "layerfs"))
		return -ENOMEM;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "fdo:hs", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			cfg->foreground = true;
			break;
		case 'd':
			cfg->debug = cfg->foreground = true;
			break;
		case 'o':
			err = parse_o(cfg, optarg);
			if (err)
				return err;
			break;
		case 's': /* single-threaded: accepted for fuse compatibility */
			break;
		case 'h':
			lfs_mount_usage(stdout);
			return 1;
		default:
			error("%s: unknown option (see 'layerfs mount --help')",
			      argv[optind - 1]);
			return -EINVAL;
		}
	}
	pos = argv + optind;
	npos = argc - optind;
	if (cfg->nlowers) {
		/* lowerdir= given: [SOURCE] MOUNTPOINT (mount.fuse3 form) */
		if (npos == 2 && !cfg->fsname)
			err = set_str(&cfg->fsname, pos[0]);
		if (npos < 1 || npos > 2)
			goto usage;
		cfg->mountpoint = strdup(pos[npos - 1]);
	} else {
		if (npos < 2 || npos > 3)
			goto usage;
		if (split_lowers(pos[0], &cfg->lowers, &cfg->nlowers))
			return -EINVAL;
		if (npos == 3 && set_str(&cfg->upper, pos[1]))
			return -ENOMEM;
		cfg->mountpoint = strdup(pos[npos - 1]);
	}
	if (!cfg->mountpoint)
		return -ENOMEM;
	if (cfg->nlowers == 1 && cfg->lowers[0][0] == '@' &&
	    resolve_store_ref(cfg))
		return -EINVAL;
	if (cfg->ro && cfg->upper) {
		/* read-only: the upper is just the topmost layer */
		char **v = realloc(cfg->lowers,
				   (cfg->nlowers + 2) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memmove(v + 1, v, (cfg->nlowers + 1) * sizeof(*v));
		v[0] = cfg->upper;
		cfg->lowers = v;
		cfg->nlowers++;
		cfg->upper = NULL;
		free(cfg->workdir);
		cfg->workdir = NULL;
	}
	if (!cfg->upper && cfg->workdir) {
		error("workdir=%s: a work directory needs upperdir=",
		      cfg->workdir);
		return -EINVAL;
	}
	return 0;
usage:
	error("%s (see 'layerfs mount --help')",
	      npos ? "wrong number of arguments" : "no layers given");
	return -EINVAL;
}

void lfs_opts_free(struct lfs_config *cfg)
{
	while (cfg->nlowers)
		free(cfg->lowers[--cfg->nlowers]);
	free(cfg->lowers);
	free(cfg->upper);
	free(cfg->workdir);
	free(cfg->mountpoint);
	free(cfg->fsname);
	free(cfg->store);
	free(cfg->uids.r);
	free(cfg->gids.r);
	fuse_opt_free_args(&cfg->fuse_args);
}
