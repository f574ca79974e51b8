// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket: how "layerfs commit" of a live mount pauses its
 * writes, as docker commit pauses a container.  Every request that can
 * change the upper layer holds lfs->freeze for reading (ops.c); a client
 * that sends "freeze" gets the lock for writing, so in-flight changes
 * end and new ones wait, and is answered "frozen".  The lock is given
 * back when the client sends "thaw" or goes away: a commit that dies
 * never leaves the mount frozen.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "layerfs.h"
#include "log.h"

static void serve(struct lfs *lfs, int fd)
{
	char buf[64];
	ssize_t n;
	bool frozen = false;

	while ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		if (!frozen && !strncmp(buf, "freeze", 6)) {
			pthread_rwlock_wrlock(&lfs->freeze);
			frozen = true;
			if (write(fd, "frozen\n", 7) != 7)
				break;
		} else if (frozen && !strncmp(buf, "thaw", 4)) {
			break;
		}
	}
	if (frozen)
		pthread_rwlock_unlock(&lfs->freeze);
}

static void *control_thread(void *arg)
{
	struct lfs *lfs = arg;
	int fd;

	while ((fd = accept4(lfs->control_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		serve(lfs, fd);
		close(fd);
	}
	return NULL;
}

int lfs_control_start(struct lfs *lfs, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	lfs->control_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfs->control_fd < 0)
		return -errno;
	unlink(path);
	old = umask(077); /* only the mount's owner may pause it */
	err = bind(lfs->control_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	      listen(lfs->control_fd, 4);
	umask(old);
	if (!err)
		err = pthread_create(&lfs->control_thread, NULL, control_thread,
				     lfs);
	else
		err = errno;
	if (err) {
		close(lfs->control_fd);
		lfs->control_fd = -1;
		unlink(path);
		return -err;
	}
	lfs->control_path = strdup(path);
	return 0;
}

void lfs_control_stop(struct lfs *lfs)
{
	if (lfs->control_fd < 0)
		return;
	shutdown(lfs->control_fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(lfs->control_thread, NULL);
	close(lfs->control_fd);
	lfs->control_fd = -1;
	if (lfs->control_path)
		unlink(lfs->control_path);
	free(lfs->control_path);
	lfs->control_path = NULL;
}
