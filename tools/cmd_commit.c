// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layerfs commit: turn an upper directory's changes into a new layer of
 * the store, on top of the layer it was mounted on.
 *
 * The layer holds what the mount shows differently from its parent
 * (changes.c): whole added and changed objects, whiteouts for deletions,
 * nothing for copy-ups that changed nothing.  It is built in the store's
 * staging area and published in one rename; only then is the upper
 * emptied, so a failure or a kill leaves the upper untouched and no
 * half-written layer.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "builtin.h"
#include "log.h"
#include "mounts.h"
#include "store.h"
#include "view.h"
#include "walk.h"

static const char usage[] =
	"usage: layerfs commit [--store DIR] [-m MESSAGE] [-t TAG] [-p REF] [-w DIR] UPPER\n"
	"\n"
	"Record the changes in the upper directory UPPER as a new layer on top\n"
	"of the layer it was mounted on (layerfs mount @REF), and print the\n"
	"new layer's ID.  An unmounted UPPER is emptied; a mounted one is\n"
	"paused while its changes are read, and keeps them.\n"
	"\n"
	"    --store DIR        the layer store (default: $LAYERFS_STORE, or\n"
	"                       /var/lib/layerfs as root, else\n"
	"                       $XDG_DATA_HOME/layerfs or ~/.local/share/layerfs)\n"
	"    -m, --message MSG  the layer's comment\n"
	"    -t, --tag TAG      point TAG at the new layer\n"
	"    -p, --parent REF   the layer UPPER sits on, if not recorded\n"
	"    -w, --workdir DIR  UPPER's work directory (default: beside it)\n";

/*
 * UPPER is mounted: pause the mount's changes through its daemon's
 * control socket (fs/control.c) and return the connection, which keeps
 * it paused until it is closed.  Dies when that cannot be done.
 */
static int pause_mount(const char *up)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *real = realpath(up, NULL), buf[16];
	struct mount_state ms;
	int fd, mfd;
	ssize_t n;

	if (!real || mounts_find_upper(real, &ms) || !ms.control ||
	    strlen(ms.control) >= sizeof(sa.sun_path))
		die("%s: in use by a mount that cannot be paused; unmount it "
		    "first", up);
	/* what programs wrote is in the upper before the pause */
	mfd = open(ms.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd >= 0) {
		syncfs(mfd);
		close(mfd);
	}
	strcpy(sa.sun_path, ms.control);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, "freeze\n", 7) != 7 ||
	    (n = read(fd, buf, sizeof(buf) - 1)) < 6 ||
	    strncmp(buf, "frozen", 6))
		die("%s: cannot pause its mount at %s: %s", up, ms.mountpoint,
		    strerror(errno ? errno : EPROTO));
	mounts_free(&ms);
	free(real);
	return fd;
}

int cmd_commit(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "message", required_argument, NULL, 'm' },
		{ "tag", required_argument, NULL, 't' },
		{ "parent", required_argument, NULL, 'p' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *storepath = NULL, *msg = NULL, *tag = NULL, *pref = NULL;
	char *work = NULL, *index = NULL;
	char parent[STORE_ID_LEN + 1] = "";
	struct layer_meta m = { 0 };
	struct changes ch;
	struct view new, old;
	struct store s;
	int c, upper, err, wfd, control = -1;
	const char *up;

	while ((c = getopt_long(argc, argv, "m:t:p:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': storepath = optarg; break;
		case 'm': msg = optarg; break;
		case 't': tag = optarg; break;
		case 'p': pref = optarg; break;
		case 'w': work = strdup(optarg); break;
		case 'h': fputs(usage, stdout); return 0;
		default:
			die("%s: unknown option (see 'layerfs commit --help')",
			    argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		die("wrong number of arguments (see 'layerfs commit --help')");
	up = argv[optind];
	upper = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (upper < 0)
		die("%s: %s", up, strerror(errno));
	/* a running daemon holds this lock (layerfs-mount.1) */
	if (flock(upper, LOCK_EX | LOCK_NB) < 0)
		control = pause_mount(up);
	if (!work)
		work = mounts_default_workdir(up);
	if (work && asprintf(&index, "%s/index", work) < 0)
		index = NULL;

	if (tag && !store_tag_valid(tag))
		die("%s: not a valid tag name (letters, digits, . _ - :)", tag);
	view_open_store(&s, storepath, true, false);
	if (pref)
		view_resolve(&s, pref, parent);
	else if ((err = store_upper_parent(upper, parent)))
		die("%s: %s", up, strerror(-err));
	if (*parent && (err = store_meta_read(&s, parent, &m)))
		die("%s: parent layer %s: %s", up, parent, strerror(-err));
	store_meta_free(&m);

	err = view_of_chain(&s, parent, 1, &new);
	if (!err)
		err = view_of_chain(&s, parent, 0, &old);
	if (err)
		die("%s: layers of %s: %s", up, parent, strerror(-err));
	new.roots[0] = dup(upper);
	/* lower hard links the mount copied up are in its index */
	if (index)
		new.index_fd = open(index, O_PATH | O_DIRECTORY | O_CLOEXEC);
	err = new.roots[0] < 0 ? -errno : changes_compute(&new, &old, &ch);
	if (err)
		die("%s: %s", up, strerror(-err));

	memset(&m, 0, sizeof(m));
	snprintf(m.parent, sizeof(m.parent), "%s", parent);
	m.created_by = strdup("layerfs commit");
	m.comment = msg ? strdup(msg) : NULL;
	view_publish(&s, &new, &ch, &m, tag, up, "committing");

	if (control >= 0) {
		/* a live mount keeps its changes, as after docker commit */
		close(control); /* thaws it */
		printf("%s\n", m.id);
		goto out;
	}
	/* the changes are safe in the store: the upper starts afresh */
	err = walk_remove_contents(upper);
	if (!err && work && (wfd = open(work, O_PATH | O_DIRECTORY)) >= 0) {
		walk_remove(wfd, "work");
		walk_remove(wfd, "index"); /* its copies are in the layer */
		close(wfd);
	}
	if (!err)
		err = store_set_upper_parent(upper, m.id, geteuid() != 0);
	if (err)
		die("%s: emptying it after commit: %s", up, strerror(-err));
	printf("%s\n", m.id);
out:
	store_meta_free(&m);
	changes_free(&ch);
	view_close(&new);
	view_close(&old);
	store_close(&s);
	free(work);
	free(index);
	close(upper);
	return 0;
}
