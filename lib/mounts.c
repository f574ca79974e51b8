// SPDX-License-Identifier: GPL-2.0-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mounts.h"

static char *state_dir(void)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	char *p = NULL;

	if (geteuid() == 0)
		return strdup("/run/layerfs");
	if (run && *run) {
		if (asprintf(&p, "%s/layerfs", run) < 0)
			p = NULL;
	} else if (asprintf(&p, "/tmp/layerfs-%u", (unsigned)geteuid()) < 0) {
		p = NULL;
	}
	return p;
}

static char *state_file(dev_t dev)
{
	char *dir = state_dir(), *p = NULL;

	if (dir && asprintf(&p, "%s/%u:%u.json", dir, major(dev),
			    minor(dev)) < 0)
		p = NULL;
	free(dir);
	return p;
}

/* The device of the newest mount at MOUNTPOINT, from mountinfo. */
static int dev_of(const char *mountpoint, dev_t *dev)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL, mp[4096];
	unsigned maj, min;
	size_t len = 0;
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &len, f) > 0) {
		char *s, *d;

		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min, mp) != 3)
			continue;
		/* undo mountinfo's octal escapes (\040 for a space) */
		for (s = d = mp; *s; d++) {
			if (s[0] == '\\' && s[1] && s[2] && s[3]) {
				*d = (char)strtol((char[4]){ s[1], s[2], s[3], 0 },
						  NULL, 8);
				s += 4;
			} else {
				*d = *s++;
			}
		}
		*d = '\0';
		if (!strcmp(mp, mountpoint)) {
			*dev = makedev(maj, min);
			found = 0;
		}
	}
	free(line);
	fclose(f);
	return found;
}

int mounts_record(const char *mountpoint, struct mount_state *ms,
		  char **path)
{
	char *dir = state_dir(), *tmp = NULL, *file;
	json_t *o, *arr;
	dev_t dev;
	int i, err;

	*path = NULL;
	err = dev_of(mountpoint, &dev);
	if (err || !dir) {
		free(dir);
		return err ? err : -ENOMEM;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		err = -errno;
		free(dir);
		return err;
	}
	free(dir);
	file = state_file(dev);
	/* the daemon's control socket, named after the state file */
	if (file && !ms->control &&
	    asprintf(&ms->control, "%.*s.sock", (int)strlen(file) - 5, file) < 0)
		ms->control = NULL;
	arr = json_array();
	for (i = 0; i < ms->nlayers; i++)
		json_array_append_new(arr, json_string(ms->layers[i]));
	o = json_pack("{s:s, s:s?, s:b, s:o}", "mountpoint", mountpoint,
		      "control", ms->control, "upper", ms->has_upper, "layers",
		      arr);
	if (!file || !o || asprintf(&tmp, "%s.tmp", file) < 0) {
		json_decref(o);
		free(file);
		return -ENOMEM;
	}
	err = json_dump_file(o, tmp, JSON_INDENT(2)) ? -EIO : 0;
	json_decref(o);
	if (!err && rename(tmp, file) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		free(file);
	} else {
		*path = file;
	}
	free(tmp);
	return err;
}

static int load(const char *file, struct mount_state *ms)
{
	json_error_t jerr;
	json_t *o, *arr;
	const char *ctl;
	size_t i;

	memset(ms, 0, sizeof(*ms));
	o = json_load_file(file, 0, &jerr);
	if (!o)
		return -ENOENT;
	ctl = json_string_value(json_object_get(o, "control"));
	ms->control = ctl ? strdup(ctl) : NULL;
	arr = json_object_get(o, "layers");
	ms->mountpoint = strdup(json_string_value(json_object_get(o,
				"mountpoint")) ?: "");
	ms->has_upper = json_is_true(json_object_get(o, "upper"));
	ms->nlayers = json_array_size(arr);
	ms->layers = calloc(ms->nlayers + 1, sizeof(*ms->layers));
	for (i = 0; ms->layers && i < (size_t)ms->nlayers; i++)
		ms->layers[i] = strdup(json_string_value(json_array_get(arr, i)) ?: "");
	json_decref(o);
	if (!ms->layers || !ms->mountpoint) {
		mounts_free(ms);
		return -ENOMEM;
	}
	return 0;
}

int mounts_lookup(dev_t dev, struct mount_state *ms)
{
	char *file = state_file(dev);
	int err;

	memset(ms, 0, sizeof(*ms));
	if (!file)
		return -ENOMEM;
	err = load(file, ms);
	free(file);
	return err;
}

int mounts_find_upper(const char *upper, struct mount_state *ms)
{
	char *dir = state_dir(), *file;
	struct dirent *de;
	int err = -ENOENT;
	DIR *d;

	memset(ms, 0, sizeof(*ms));
	d = dir ? opendir(dir) : NULL;
	while (d && err && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") ||
		    asprintf(&file, "%s/%s", dir, de->d_name) < 0)
			continue;
		if (!load(file, ms)) {
			if (ms->has_upper && ms->nlayers &&
			    !strcmp(ms->layers[0], upper))
				err = 0;
			else
				mounts_free(ms);
		}
		free(file);
	}
	if (d)
		closedir(d);
	free(dir);
	return err;
}

void mounts_free(struct mount_state *ms)
{
	int i;

	for (i = 0; ms->layers && i < ms->nlayers; i++)
		free(ms->layers[i]);
	free(ms->layers);
	free(ms->mountpoint);
	free(ms->control);
	memset(ms, 0, sizeof(*ms));
}

char *mounts_default_workdir(const char *upper)
{
	char *real = realpath(upper, NULL), *slash, *w = NULL;

	if (!real)
		return NULL;
	slash = strrchr(real, '/');
	if (slash && slash != real) {
		*slash = '\0';
		if (asprintf(&w, "%s/.%s.layerfs-work", real, slash + 1) < 0)
			w = NULL;
	}
	free(real);
	return w;
}
