/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * layerfs daemon: the map.  Shared types first, then one block of
 * prototypes per .c file, as the kernel's overlayfs.h does.
 *
 * A merged object is a struct lfs_inode.  It knows its real objects by
 * O_PATH file descriptors: at most one in the upper layer and, below it,
 * the stack of lower objects it merges (directories) or the one lower
 * object it came from (everything else).  The fuse_ino_t the kernel sees
 * is the struct's address; the root is FUSE_ROOT_ID.
 *
 * Identity.  Two lookups reach the same lfs_inode when their key is the
 * same: the (st_dev, st_ino) of the topmost lower object where there is
 * one (so copy-up keeps the inode), otherwise of the upper object.  The
 * names of a lower hard link are one inode, before and after copy-up,
 * which goes through the index (index.c), as on the kernel with
 * index=on.  st_ino shown to users is derived from
 * the key alone (lfs_ino_of_key), so it is stable across copy-up and
 * remounts.
 *
 * Locks, in the order they are taken:
 *   1. lfs->tree_lock (rwlock): every inode's parent and name.  Readers:
 *      copy-up and anything that needs a path; the writer: rename.
 *   2. ino->lock: the inode's real objects (upper, lower, redirect,
 *      deleted) and its copy-up.  A child's lock is taken before its
 *      parent's, never the other way round.
 *   3. lfs->table_lock: the identity table and every nlookup/nref.
 * Before all of them, lfs->freeze (read) is held by every request that
 * may change the upper layer (ops.c), and taken for writing to pause
 * them (control.c).
 * ino->upper is written once, under ino->lock, from -1 to a descriptor;
 * readers that only need "is there an upper" read it with
 * lfs_upper_fd() (an atomic load).
 */
#ifndef LFS_LAYERFS_H
#define LFS_LAYERFS_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fh.h"
#include "stack.h"
#include "table.h"
#include "whiteout.h"

/* Id mapping (idmap.c). */
struct lfs_idrange {
	uint32_t inner, outer, count; /* stored id, shown id, how many */
};

struct lfs_idmap {
	int n;
	struct lfs_idrange *r;
	bool squash; /* show every object as SQUASH_TO */
	uint32_t squash_to;
};

struct lfs_config {
	char **lowers;	   /* top first */
	int nlowers;
	char *upper;	   /* NULL: read-only mount */
	char *workdir;	   /* NULL: the default next to upper */
	char *mountpoint;
	bool foreground;
	bool debug;
	bool ro;
	bool volatile_;
	bool allow_other;
	bool userxattr;	   /* write user.overlay.* even as root */
	bool metacopy;	   /* metadata changes copy up metadata only */
	double timeout;	   /* entry/attr/negative cache, seconds */
	char *fsname;
	char *store;	   /* for LOWERS "@REF" */
	struct lfs_idmap uids, gids;
	char parent_id[33]; /* the store layer LOWERS came from, or "" */
	struct fuse_args fuse_args; /* what we pass on to libfuse */
};

struct lfs_layer {
	char *path; /* absolute, for messages */
	int fd;	    /* O_PATH | O_DIRECTORY of its root */
	int handle_fd; /* O_RDONLY root, for open_by_handle_at; -1 rootless */
	dev_t dev;
	uint8_t uuid[16]; /* of its filesystem, for overlay.origin */
};

struct lfs_key {
	dev_t dev;
	ino_t ino;
};

struct lfs_dir; /* readdir.c */

/* A link in the list of inodes holding a data descriptor (file.c). */
struct lfs_dlink {
	struct lfs_dlink *prev, *next;
};

struct lfs_inode {
	UT_hash_handle hh;
	struct lfs_key key;
	mode_t type;	 /* S_IFMT bits; never changes */
	uint64_t st_ino; /* what stat shows; never changes */

	uint64_t nlookup; /* table_lock: the kernel's references */
	uint64_t nref;	  /* table_lock: children and open handles */

	struct lfs_inode *parent; /* tree_lock; holds an nref on it */
	char *name;		  /* tree_lock */

	pthread_mutex_t lock;
	int upper;		 /* O_PATH or -1 */
	int nlower;
	/*
	 * Directories: the merge stack, with fds.  Other objects: the lower
	 * object they come from, by layer only (fd -1): lfs_lower_get()
	 * opens it through the parent when needed, so that a walk of a
	 * large image holds one descriptor per directory, not per file.
	 */
	struct stack_obj *lower;
	bool deleted;		 /* its last name is gone */
	bool indexed;		 /* upper is an index entry: see index.c */
	/*
	 * The upper file holds metadata only (overlay.metacopy): its data
	 * is lower[0]'s until copy-up completes it (copyup.c).  Set under
	 * lock; cleared under lock, read with lfs_is_metacopy().
	 */
	bool metacopy;

	/*
	 * The kernel opens files without telling us (no_open), so reads and
	 * writes name the inode only: file.c keeps one real descriptor per
	 * inode, a bounded number of them in all.  Directories keep their
	 * merged listing here between two READDIRs (readdir.c).  dlock
	 * guards both.  A file's is taken after every other lock but
	 * data_lock; a directory's before all of them (readdir holds it
	 * while it looks names up).
	 */
	pthread_mutex_t dlock;
	int dfd;	     /* the data descriptor, or -1 */
	bool dfd_upper;	     /* it is the upper file's */
	bool dfd_rw;	     /* opened for writing */
	bool dfd_hot;	     /* used since the last eviction pass */
	int dfd_users;	     /* requests using it now */
	int dio;	     /* requests between data_get and data_put */
	struct lfs_dlink dlink; /* lfs->data_lock */
	struct lfs_dir *listing;
	uint64_t dir_gen;    /* bumped by each change of its names */
};

struct lfs {
	struct lfs_config *cfg;
	struct lfs_layer *layers; /* [0] is the upper when has_upper */
	int *roots;		  /* layers[i].fd, for stack_find() */
	int nlayers;
	bool has_upper;
	int work_fd;  /* WORKDIR/work: copy-up staging */
	int index_fd; /* WORKDIR/index: copies of lower hard links */
	enum wh_ns ns;
	int xino_bits; /* 0: all layers on one filesystem */
	dev_t *fs_devs;
	int nfs;
	double timeout;
	uint64_t tmp_seq;
	unsigned long freed; /* inodes freed since the last malloc_trim */

	pthread_rwlock_t tree_lock;
	pthread_mutex_t table_lock;
	pthread_rwlock_t freeze; /* read: a change to the upper; write: paused */
	int control_fd;		 /* control.c */
	pthread_t control_thread;
	char *control_path;
	struct lfs_inode *table;
	struct lfs_inode root;

	bool no_open;		 /* the kernel opens files without us */
	bool no_opendir;	 /* and directories */
	pthread_mutex_t data_lock; /* the list of data descriptors */
	struct lfs_dlink data_list; /* most recent first */
	int ndata, max_data;
	struct fuse_session *se;
};

/* What a lookup found for one name: the real objects, not yet an inode. */
struct lfs_found {
	int upper;     /* O_PATH or -1 */
	struct stat st; /* of the topmost object */
	int nlower;
	struct stack_obj *lower;
	struct lfs_key key;
	bool redirected;
	bool indexed;
	bool metacopy; /* upper is metadata only, lower[0] has the data */
};

static inline struct lfs *lfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline int lfs_upper_fd(struct lfs_inode *ino)
{
	return __atomic_load_n(&ino->upper, __ATOMIC_ACQUIRE);
}

/* DIR's names changed: a listing made before is stale (readdir.c). */
static inline void lfs_dir_changed(struct lfs_inode *dir)
{
	__atomic_add_fetch(&dir->dir_gen, 1, __ATOMIC_RELEASE);
}

static inline bool lfs_is_metacopy(struct lfs_inode *ino)
{
	return __atomic_load_n(&ino->metacopy, __ATOMIC_ACQUIRE);
}

/* opts.c */
int lfs_opts_parse(int argc, char **argv, struct lfs_config *cfg);
void lfs_opts_free(struct lfs_config *cfg);
void lfs_mount_usage(FILE *out);

/* idmap.c */
int lfs_idmap_parse(const char *opt, const char *val, struct lfs_idmap *map);
uint32_t lfs_idmap_show(const struct lfs_idmap *map, uint32_t id);
uint32_t lfs_idmap_store(const struct lfs_idmap *map, uint32_t id);

/* session.c */
int lfs_main(struct lfs_config *cfg);

/* control.c */
int lfs_control_start(struct lfs *lfs, const char *path);
void lfs_control_stop(struct lfs *lfs);

/* ops.c */
extern const struct fuse_lowlevel_ops lfs_ops;

/* inode.c */
struct lfs_inode *lfs_inode(struct lfs *lfs, fuse_ino_t ino);
uint64_t lfs_ino_of_key(struct lfs *lfs, const struct lfs_key *key);
struct lfs_inode *lfs_inode_get(struct lfs *lfs, struct lfs_inode *parent,
				const char *name, struct lfs_found *f);
void lfs_inode_ref(struct lfs *lfs, struct lfs_inode *ino);
void lfs_inode_unref(struct lfs *lfs, struct lfs_inode *ino);
void lfs_inode_forget(struct lfs *lfs, struct lfs_inode *ino, uint64_t n);
int lfs_real_get(struct lfs *lfs, struct lfs_inode *ino);
int lfs_lower_get(struct lfs *lfs, struct lfs_inode *ino);
void lfs_real_put(struct lfs_inode *ino, int fd);
int lfs_inode_stat(struct lfs *lfs, struct lfs_inode *ino, int fd,
		   struct stat *st);
void lfs_inode_set_parent(struct lfs *lfs, struct lfs_inode *ino,
			  struct lfs_inode *parent, const char *name);
void lfs_fill_entry(struct lfs *lfs, struct lfs_inode *ino,
		    const struct stat *st, struct fuse_entry_param *e);
int lfs_entry(struct lfs *lfs, struct lfs_inode *dir, const char *name,
	      struct lfs_found *f, struct fuse_entry_param *e);
void lfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		 int to_set, struct fuse_file_info *fi);
int lfs_kill_suid(fuse_req_t req, struct lfs_inode *ino, int fd);
void lfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void lfs_forget_multi(fuse_req_t req, size_t count,
		      struct fuse_forget_data *forgets);
void lfs_statfs(fuse_req_t req, fuse_ino_t ino);
void lfs_inode_table_free(struct lfs *lfs);

/* lookup.c */
int lfs_find(struct lfs *lfs, struct lfs_inode *dir, const char *name,
	     struct lfs_found *f);
void lfs_found_free(struct lfs_found *f);
enum { LOWER_ABSENT, LOWER_WHITEOUT, LOWER_POSITIVE };
int lfs_lower_state(struct lfs *lfs, struct lfs_inode *dir, const char *name);
int lfs_name_ok(const char *name);
int lfs_lookup_inode(struct lfs *lfs, struct lfs_inode *dir, const char *name,
		     struct fuse_entry_param *e);
void lfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);

/* index.c */
int lfs_origin_encode(struct lfs *lfs, int layer, int fd, struct fh *out);
/* Record in UPPER that it was copied from LOWER (layer LAYER); best effort. */
int lfs_origin_set(struct lfs *lfs, int layer, int lower, int upper);
/* 0 with *FH, or -ENODATA when FD has no (valid) origin. */
int lfs_origin_get(int fd, struct fh *fh);
bool lfs_origin_matches(const struct fh *fh, int fd);
/* Stat of the lower object FH names (root only), or -ESTALE. */
int lfs_origin_decode(struct lfs *lfs, const struct fh *fh,
		      struct stat *st);
/* O_PATH fd of LOWER's index entry, or -ENOENT. */
int lfs_index_open(struct lfs *lfs, const struct stack_obj *lower);
/*
 * Move the staged copy of LOWER into the index: TMP in DIRFD, or with
 * TMPFILE the O_TMPFILE DIRFD itself.  Returns an O_PATH fd of the entry
 * or -errno (-EEXIST: there is one already).
 */
int lfs_index_publish(struct lfs *lfs, const struct stack_obj *lower,
		      int dirfd, const char *tmp, bool tmpfile);
/* The link count the mount shows for an indexed UPPER. */
int lfs_nlink_get(int upper, unsigned int *nlink);
int lfs_nlink_set(struct lfs *lfs, int upper, unsigned int nlink);

/* readdir.c */
int lfs_dir_is_empty(struct lfs *lfs, struct lfs_inode *dir);
int lfs_clear_whiteouts(struct lfs *lfs, struct lfs_inode *dir);
void lfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void lfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
void lfs_releasedir(fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi);
void lfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi);
void lfs_listing_free(struct lfs_inode *dir);

/* copyup.c */
/* LEN for lfs_copy_up(): a metadata change, which needs no data. */
#define LFS_COPY_META ((off_t)-2)
int lfs_copy_up(struct lfs *lfs, struct lfs_inode *ino, off_t len);
int lfs_tmpname(struct lfs *lfs, char buf[32]);

/* dir.c */
void lfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, dev_t rdev);
void lfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode);
void lfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		 const char *name);
void lfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	      const char *newname);
void lfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void lfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void lfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		fuse_ino_t newparent, const char *newname, unsigned int flags);
void lfs_readlink(fuse_req_t req, fuse_ino_t ino);
int lfs_create_file(fuse_req_t req, struct lfs_inode *dir, const char *name,
		    mode_t mode, int oflags, int *fd,
		    struct fuse_entry_param *e);

/* file.c */
void lfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, struct fuse_file_info *fi);
void lfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lfs_data_init(struct lfs *lfs);
void lfs_data_inode_init(struct lfs_inode *ino);
void lfs_data_drop(struct lfs *lfs, struct lfs_inode *ino);
void lfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	      struct fuse_file_info *fi);
void lfs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *buf,
		   off_t off, struct fuse_file_info *fi);
void lfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	       struct fuse_file_info *fi);
void lfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		   off_t length, struct fuse_file_info *fi);
void lfs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	       struct fuse_file_info *fi);
void lfs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			 off_t off_out, struct fuse_file_info *fi_out,
			 size_t len, int flags);

/* xattr.c */
void lfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  size_t size);
void lfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void lfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  const char *value, size_t size, int flags);
void lfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
