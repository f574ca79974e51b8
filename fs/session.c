// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The daemon's life (the kernel's super.c): check the layers, prepare
 * the work directory, build the root inode, mount, serve, unmount.
 *
 * Every check runs before anything is created, so a bad command line
 * leaves the filesystem as it found it: one line naming the path and
 * the reason, exit status 1, nothing mounted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layerfs.h"
#include "log.h"
#include "mounts.h"
#include "procfd.h"
#include "store.h"
#include "walk.h"

struct checked {
	const char *what; /* "lowerdir", "upperdir", ... for messages */
	const char *arg;  /* as given */
	char *real;	  /* realpath */
	struct stat st;
};

static int check_dir(struct checked *c, const char *what, const char *arg)
{
	c->what = what;
	c->arg = arg;
	c->real = realpath(arg, NULL);
	if (!c->real) {
		error("%s: %s", arg, strerror(errno));
		return -1;
	}
	if (stat(c->real, &c->st) < 0) {
		error("%s: %s", arg, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(c->st.st_mode)) {
		error("%s: not a directory", arg);
		return -1;
	}
	return 0;
}

/* Is A inside B (or B itself)? */
static bool path_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (!strcmp(b, "/"))
		return true;
	return !strncmp(a, b, n) && (a[n] == '/' || a[n] == '\0');
}

static bool same_dir(const struct checked *a, const struct checked *b)
{
	return a->st.st_dev == b->st.st_dev && a->st.st_ino == b->st.st_ino;
}

/*
 * A work dir may be reused when it holds nothing but what a layerfs or
 * kernel overlay mount leaves there.
 */
static int check_workdir_contents(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int ok = 0;

	if (!d) {
		error("%s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "work") || !strcmp(de->d_name, "index"))
			continue;
		error("%s: not empty and not a work directory (holds '%s')",
		      path, de->d_name);
		ok = -1;
		break;
	}
	closedir(d);
	return ok;
}

struct layout {
	struct checked *lowers;
	struct checked upper, work, mnt;
	char *workpath;
	bool work_exists;
	bool work_created; /* by this mount: removed if it fails */
};

static int check_layout(struct lfs_config *cfg, struct layout *l)
{
	struct checked *all[512 + 3];
	struct stat wst;
	char *parent;
	int i, j, n = 0;

	if (access("/dev/fuse", R_OK | W_OK) < 0) {
		error("/dev/fuse: %s", strerror(errno));
		return -1;
	}
	if (cfg->nlowers > 512) {
		error("lowerdir: %d layers, at most 512", cfg->nlowers);
		return -1;
	}
	l->lowers = calloc(cfg->nlowers, sizeof(*l->lowers));
	if (!l->lowers)
		return -1;
	for (i = 0; i < cfg->nlowers; i++) {
		if (check_dir(&l->lowers[i], "lowerdir", cfg->lowers[i]))
			return -1;
		all[n++] = &l->lowers[i];
	}
	if (check_dir(&l->mnt, "mountpoint", cfg->mountpoint))
		return -1;
	if (cfg->upper) {
		if (check_dir(&l->upper, "upperdir", cfg->upper))
			return -1;
		all[n++] = &l->upper;
		l->workpath = cfg->workdir ? strdup(cfg->workdir) :
					     mounts_default_workdir(l->upper.real);
		if (!l->workpath)
			return -1;
		if (stat(l->workpath, &wst) == 0) {
			if (check_dir(&l->work, "workdir", l->workpath))
				return -1;
			l->work_exists = true;
			all[n++] = &l->work;
		} else if (errno != ENOENT) {
			error("%s: %s", l->workpath, strerror(errno));
			return -1;
		} else {
			char *copy = strdup(l->workpath);

			parent = copy ? realpath(dirname(copy), NULL) : NULL;
			free(copy);
			if (!parent || stat(parent, &wst) < 0) {
				error("%s: parent directory: %s", l->workpath,
				      strerror(errno));
				free(parent);
				return -1;
			}
			l->work.what = "workdir";
			l->work.arg = l->workpath;
			if (asprintf(&l->work.real, "%s/%s", parent,
				     basename(l->workpath)) < 0)
				l->work.real = NULL;
			free(parent);
			if (!l->work.real)
				return -1;
			l->work.st.st_dev = wst.st_dev;
		}
		if (l->work.st.st_dev != l->upper.st.st_dev) {
			error("%s: not on the filesystem of upperdir %s%s",
			      l->workpath, cfg->upper,
			      cfg->workdir ? "" : " (give -o workdir=)");
			return -1;
		}
	}

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (all[i]->st.st_ino && all[j]->st.st_ino &&
			    same_dir(all[i], all[j])) {
				error("%s: given twice (as %s and as %s)",
				      all[j]->arg, all[i]->what, all[j]->what);
				return -1;
			}
	if (!cfg->upper)
		return 0;
	for (i = 0; i < cfg->nlowers; i++) {
		const char *low = l->lowers[i].real;

		if (path_within(l->upper.real, low) ||
		    path_within(low, l->upper.real)) {
			error("%s: upperdir and lowerdir %s overlap",
			      cfg->upper, l->lowers[i].arg);
			return -1;
		}
		if (path_within(l->work.real, low)) {
			error("%s: workdir is inside lowerdir %s", l->workpath,
			      l->lowers[i].arg);
			return -1;
		}
	}
	if (path_within(l->upper.real, l->mnt.real)) {
		error("%s: upperdir is inside the mount point %s", cfg->upper,
		      cfg->mountpoint);
		return -1;
	}
	if (path_within(l->work.real, l->mnt.real)) {
		error("%s: workdir is inside the mount point %s", l->workpath,
		      cfg->mountpoint);
		return -1;
	}
	if (path_within(l->work.real, l->upper.real) ||
	    path_within(l->upper.real, l->work.real)) {
		error("%s: workdir and upperdir %s overlap", l->workpath,
		      cfg->upper);
		return -1;
	}
	if (l->work_exists && check_workdir_contents(l->work.real))
		return -1;
	if (l->work_exists) {
		char *vol;

		if (asprintf(&vol, "%s/work/incompat/volatile", l->work.real) <
		    0)
			return -1;
		if (access(vol, F_OK) == 0) {
			error("%s: left by a volatile mount that did not end "
			      "cleanly; the upper layer may be incomplete "
			      "(remove it to mount anyway)",
			      vol);
			free(vol);
			return -1;
		}
		free(vol);
	}
	return 0;
}

static void layout_free(struct layout *l, int nlowers)
{
	int i;

	for (i = 0; l->lowers && i < nlowers; i++)
		free(l->lowers[i].real);
	free(l->lowers);
	free(l->upper.real);
	free(l->work.real);
	free(l->mnt.real);
	free(l->workpath);
}

static int open_layer(struct lfs_layer *layer, const char *real)
{
	struct stat st;

	layer->path = strdup(real);
	layer->fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!layer->path || layer->fd < 0 || fstat(layer->fd, &st) < 0) {
		error("%s: %s", real, strerror(errno));
		return -1;
	}
	layer->dev = st.st_dev;
	fh_fs_uuid(layer->fd, layer->uuid);
	/* decoding file handles needs CAP_DAC_READ_SEARCH and a real fd */
	layer->handle_fd = -1;
	if (geteuid() == 0)
		layer->handle_fd = open(real, O_RDONLY | O_DIRECTORY |
						      O_CLOEXEC);
	return 0;
}

/*
 * One mount at a time per upper and work dir, as the kernel's "inuse"
 * flag: a flock held by the daemon for its life.
 */
static int lock_dir(const char *path, const char *what)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		error("%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		error("%s: %s", path,
		      errno == EWOULDBLOCK ?
			      (!strcmp(what, "upperdir") ?
				       "upperdir in use by another mount" :
				       "workdir in use by another mount") :
			      strerror(errno));
		close(fd);
		return -1;
	}
	return fd; /* kept open: the lock goes with the daemon */
}

/* Make WORK/work, empty it, and choose the xattr namespace. */
static int prepare_work(struct lfs *lfs, struct layout *l)
{
	struct lfs_config *cfg = lfs->cfg;
	int wfd, err;

	if (lock_dir(l->upper.real, "upperdir") < 0)
		return -1;
	if (!l->work_exists) {
		if (mkdir(l->work.real, 0700) < 0) {
			error("%s: %s", l->workpath, strerror(errno));
			return -1;
		}
		l->work_created = true;
	}
	if (lock_dir(l->work.real, "workdir") < 0)
		return -1;
	wfd = open(l->work.real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (wfd < 0 || (mkdirat(wfd, "work", 0700) < 0 && errno != EEXIST)) {
		error("%s: %s", l->workpath, strerror(errno));
		if (wfd >= 0)
			close(wfd);
		return -1;
	}
	lfs->work_fd = openat(wfd, "work", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (lfs->work_fd < 0) {
		error("%s/work: %s", l->workpath, strerror(errno));
		close(wfd);
		return -1;
	}
	/* the index outlives mounts: copies of lower hard links (index.c) */
	if (mkdirat(wfd, "index", 0700) < 0 && errno != EEXIST) {
		error("%s/index: %s", l->workpath, strerror(errno));
		close(wfd);
		return -1;
	}
	lfs->index_fd = openat(wfd, "index", O_PATH | O_DIRECTORY | O_CLOEXEC);
	close(wfd);
	if (lfs->index_fd < 0) {
		error("%s/index: %s", l->workpath, strerror(errno));
		return -1;
	}
	/* what an earlier, killed daemon left behind */
	err = walk_remove_contents(lfs->work_fd);
	if (err) {
		error("%s/work: cannot empty it: %s", l->workpath,
		      strerror(-err));
		return -1;
	}
	if (cfg->volatile_ && (mkdirat(lfs->work_fd, "incompat", 0700) < 0 ||
			       mkdirat(lfs->work_fd, "incompat/volatile",
				       0700) < 0)) {
		error("%s/work/incompat/volatile: %s", l->workpath,
		      strerror(errno));
		return -1;
	}

	lfs->ns = WH_NS_USER;
	if (geteuid() == 0 && !cfg->userxattr) {
		char p[64];

		proc_fd_path(p, lfs->work_fd);
		if (setxattr(p, "trusted.overlay.layerfs-probe", "", 0, 0) ==
		    0) {
			removexattr(p, "trusted.overlay.layerfs-probe");
			lfs->ns = WH_NS_TRUSTED;
		}
	}
	return 0;
}

static int setup_layers(struct lfs *lfs, struct layout *l)
{
	struct lfs_config *cfg = lfs->cfg;
	int i, j, n = 0;

	lfs->has_upper = cfg->upper != NULL;
	lfs->nlayers = cfg->nlowers + lfs->has_upper;
	lfs->layers = calloc(lfs->nlayers, sizeof(*lfs->layers));
	lfs->roots = calloc(lfs->nlayers, sizeof(*lfs->roots));
	lfs->fs_devs = calloc(lfs->nlayers, sizeof(*lfs->fs_devs));
	if (!lfs->layers || !lfs->roots || !lfs->fs_devs)
		return -1;
	for (i = 0; i < lfs->nlayers; i++)
		lfs->layers[i].fd = lfs->layers[i].handle_fd = -1;
	if (lfs->has_upper && open_layer(&lfs->layers[n++], l->upper.real))
		return -1;
	for (i = 0; i < cfg->nlowers; i++)
		if (open_layer(&lfs->layers[n++], l->lowers[i].real))
			return -1;
	for (i = 0; i < lfs->nlayers; i++) {
		lfs->roots[i] = lfs->layers[i].fd;
		for (j = 0; j < lfs->nfs; j++)
			if (lfs->fs_devs[j] == lfs->layers[i].dev)
				break;
		if (j == lfs->nfs)
			lfs->fs_devs[lfs->nfs++] = lfs->layers[i].dev;
	}
	lfs->xino_bits = 0;
	if (lfs->nfs > 1)
		while ((1 << lfs->xino_bits) < lfs->nfs)
			lfs->xino_bits++;
	return 0;
}

static int setup_root(struct lfs *lfs)
{
	struct lfs_inode *root = &lfs->root;
	struct stat st;
	int i, first = lfs->has_upper;

	root->type = S_IFDIR;
	root->upper = -1;
	root->nlookup = 1;
	pthread_mutex_init(&root->lock, NULL);
	root->name = strdup("");
	if (lfs->has_upper)
		root->upper = dup(lfs->layers[0].fd);
	root->nlower = lfs->nlayers - first;
	root->lower = calloc(root->nlower + 1, sizeof(*root->lower));
	if (!root->lower || !root->name)
		return -1;
	for (i = 0; i < root->nlower; i++) {
		root->lower[i].layer = first + i;
		root->lower[i].fd = dup(lfs->layers[first + i].fd);
	}
	if (fstat(lfs->layers[0].fd, &st) < 0)
		return -1;
	root->key.dev = st.st_dev;
	root->key.ino = st.st_ino;
	root->st_ino = lfs_ino_of_key(lfs, &root->key);
	return 0;
}

/*
 * One descriptor per real object the kernel remembers: as many as we may
 * have.  Root may go past the hard limit, up to fs.nr_open.
 */
static void raise_fd_limit(void)
{
	struct rlimit r;
	unsigned long nr_open = 0;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &r))
		return;
	f = fopen("/proc/sys/fs/nr_open", "r");
	if (f) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 0;
		fclose(f);
	}
	if (geteuid() == 0 && nr_open > r.rlim_max) {
		struct rlimit big = { nr_open, nr_open };

		if (setrlimit(RLIMIT_NOFILE, &big) == 0)
			return;
	}
	r.rlim_cur = r.rlim_max;
	setrlimit(RLIMIT_NOFILE, &r);
}

static int fuse_options(struct lfs *lfs)
{
	struct lfs_config *cfg = lfs->cfg;
	char *o = NULL;
	int err;

	if (asprintf(&o, "fsname=%s,subtype=layerfs,default_permissions%s%s",
		     cfg->fsname ? cfg->fsname : "layerfs",
		     cfg->allow_other || geteuid() == 0 ? ",allow_other" : "",
		     lfs->has_upper ? "" : ",ro") < 0)
		return -1;
	err = fuse_opt_add_arg(&cfg->fuse_args, "-o") ||
	      fuse_opt_add_arg(&cfg->fuse_args, o);
	free(o);
	if (!err && cfg->debug)
		err = fuse_opt_add_arg(&cfg->fuse_args, "-d");
	return err ? -1 : 0;
}

static void teardown(struct lfs *lfs)
{
	int i;

	lfs_inode_table_free(lfs);
	lfs_data_drop(lfs, &lfs->root);
	if (lfs->root.upper >= 0)
		close(lfs->root.upper);
	for (i = 0; i < lfs->root.nlower; i++)
		close(lfs->root.lower[i].fd);
	free(lfs->root.lower);
	free(lfs->root.name);
	for (i = 0; i < lfs->nlayers; i++) {
		if (lfs->layers[i].fd >= 0)
			close(lfs->layers[i].fd);
		if (lfs->layers[i].handle_fd >= 0)
			close(lfs->layers[i].handle_fd);
		free(lfs->layers[i].path);
	}
	free(lfs->layers);
	free(lfs->roots);
	free(lfs->fs_devs);
	if (lfs->work_fd >= 0)
		close(lfs->work_fd);
	if (lfs->index_fd >= 0)
		close(lfs->index_fd);
}

/* Tell the tools what this mount stacks (lib/mounts.h); best effort. */
static void record_mount(struct lfs *lfs, const char *mnt, char **state)
{
	struct mount_state ms = { .has_upper = lfs->has_upper,
				  .nlayers = lfs->nlayers };
	int i;

	ms.layers = calloc(lfs->nlayers, sizeof(*ms.layers));
	if (!ms.layers)
		return;
	for (i = 0; i < lfs->nlayers; i++)
		ms.layers[i] = lfs->layers[i].path;
	mounts_record(mnt, &ms, state);
	free(ms.layers);
	lfs->control_path = ms.control; /* started after daemonizing */
}

/*
 * Mount CFG and serve it until it is unmounted.  Returns the exit
 * status: 0 after a clean unmount, 1 when the mount could not be made.
 */
int lfs_main(struct lfs_config *cfg)
{
	struct lfs lfs = { .cfg = cfg, .work_fd = -1, .index_fd = -1,
			   .control_fd = -1 };
	struct layout l = { 0 };
	struct fuse_loop_config *loop;
	bool mounted = false;
	char *state = NULL;
	int ret = 1;

	log_debug = cfg->debug;
	pthread_rwlock_init(&lfs.tree_lock, NULL);
	{
		pthread_rwlockattr_t a;

		/* a pause must not wait behind an endless stream of writes */
		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setkind_np(
			&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&lfs.freeze, &a);
		pthread_rwlockattr_destroy(&a);
	}
	pthread_mutex_init(&lfs.table_lock, NULL);
	lfs_data_inode_init(&lfs.root);
	lfs.timeout = cfg->timeout;

	if (check_layout(cfg, &l))
		goto out;
	if (cfg->upper && prepare_work(&lfs, &l))
		goto out;
	if (cfg->upper && cfg->parent_id[0]) {
		/* what "layerfs commit" puts the changes on */
		int fd = open(l.upper.real, O_PATH | O_DIRECTORY | O_CLOEXEC);
		int err = fd < 0 ? -errno :
				   store_set_upper_parent(fd, cfg->parent_id,
							  lfs.ns == WH_NS_USER);

		if (fd >= 0)
			close(fd);
		if (err) {
			error("%s: cannot record its layer: %s", cfg->upper,
			      strerror(-err));
			goto out;
		}
	}
	if (setup_layers(&lfs, &l) || setup_root(&lfs))
		goto out;
	raise_fd_limit();
	lfs_data_init(&lfs);
	umask(0);
	if (fuse_options(&lfs))
		goto out;

	lfs.se = fuse_session_new(&cfg->fuse_args, &lfs_ops, sizeof(lfs_ops),
				  &lfs);
	if (!lfs.se) {
		error("%s: cannot start a FUSE session", cfg->mountpoint);
		goto out;
	}
	if (fuse_set_signal_handlers(lfs.se))
		goto out_destroy;
	if (fuse_session_mount(lfs.se, l.mnt.real)) {
		error("%s: mount failed", cfg->mountpoint);
		goto out_signals;
	}
	mounted = true;
	record_mount(&lfs, l.mnt.real, &state);
	/* The mount is live: now detach, closing stdio (podman waits). */
	if (fuse_daemonize(cfg->foreground))
		goto out_unmount;
	if (lfs.control_path && lfs.has_upper) {
		char *path = lfs.control_path;

		lfs.control_path = NULL;
		lfs_control_start(&lfs, path); /* best effort: commit says */
		free(path);
	}
	loop = fuse_loop_cfg_create();
	if (!loop)
		goto out_unmount;
	fuse_loop_cfg_set_clone_fd(loop, 0);
	fuse_loop_cfg_set_idle_threads(loop, 16);
	ret = fuse_session_loop_mt(lfs.se, loop) ? 1 : 0;
	fuse_loop_cfg_destroy(loop);
	if (cfg->volatile_ && lfs.has_upper) {
		/* a clean end: what was written is safe now */
		int fd = open(lfs.layers[0].path,
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0 && syncfs(fd) == 0)
			unlinkat(lfs.work_fd, "incompat/volatile",
				 AT_REMOVEDIR);
		if (fd >= 0)
			close(fd);
	}
out_unmount:
	lfs_control_stop(&lfs);
	free(lfs.control_path);
	if (state) {
		unlink(state);
		free(state);
	}
	fuse_session_unmount(lfs.se);
out_signals:
	fuse_remove_signal_handlers(lfs.se);
out_destroy:
	fuse_session_destroy(lfs.se);
out:
	if (!mounted && lfs.work_fd >= 0) {
		/* the mount failed: take back what it created */
		unlinkat(lfs.work_fd, "incompat/volatile", AT_REMOVEDIR);
		unlinkat(lfs.work_fd, "incompat", AT_REMOVEDIR);
		if (l.work_created)
			walk_remove(AT_FDCWD, l.work.real);
	}
	teardown(&lfs);
	layout_free(&l, cfg->nlowers);
	return ret;
}
