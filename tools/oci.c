// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * OCI layouts: digests, descriptors, blobs, JSON documents, times and the
 * progress line (oci.h).  A blob is written to a temporary name and
 * renamed to its digest once complete, so a layout never holds a blob
 * whose name lies about its content; a blob is read only after its size
 * was checked, and a JSON blob is parsed only after its digest was.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "oci.h"

/* The progress line on the terminal, if any: cleared before a message. */
static struct oci_progress *progress_shown;
static unsigned errors;

void oci_error(const char *fmt, ...)
{
	char msg[4096], *p;
	va_list ap;

	errors++;
	if (progress_shown)
		oci_progress_end(progress_shown);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* names from archives and JSON may hold anything: one line it is */
	for (p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	error("%s", msg);
}

unsigned oci_error_count(void)
{
	return errors;
}

const char *oci_shown(const char *name, char buf[OCI_SHOWN])
{
	size_t n = strlen(name);
	char *p;

	if (n < OCI_SHOWN)
		snprintf(buf, OCI_SHOWN, "%s", name);
	else
		snprintf(buf, OCI_SHOWN, "%.100s...(%zu bytes)...%s", name, n,
			 name + n - 40);
	for (p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return buf;
}

/* --- sha256 ------------------------------------------------------------- */

int oci_hash_init(struct oci_hash *h)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	h->ctx = ctx;
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		oci_hash_free(h);
		oci_error("sha256: cannot initialise OpenSSL");
		return -ENOMEM;
	}
	return 0;
}

void oci_hash_update(struct oci_hash *h, const void *buf, size_t len)
{
	EVP_DigestUpdate(h->ctx, buf, len);
}

void oci_hash_final(struct oci_hash *h, char digest[OCI_DIGEST_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_DigestFinal_ex(h->ctx, md, &n);
	memcpy(digest, "sha256:", 7);
	for (i = 0; i < n && i < 32; i++)
		snprintf(digest + 7 + 2 * i, 3, "%02x", md[i]);
	oci_hash_free(h);
}

void oci_hash_free(struct oci_hash *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

bool oci_digest_ok(const char *s)
{
	size_t i;

	if (strncmp(s, "sha256:", 7) || strlen(s) != OCI_DIGEST_LEN)
		return false;
	for (i = 7; i < OCI_DIGEST_LEN; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

/* --- descriptors -------------------------------------------------------- */

void oci_desc_free(struct oci_desc *d)
{
	free(d->media_type);
	d->media_type = NULL;
}

json_t *oci_desc_json(const struct oci_desc *d)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type,
			 "digest", d->digest, "size", (json_int_t)d->size);
}

int oci_desc_parse(json_t *j, struct oci_desc *d, const char *where)
{
	const char *mt = NULL, *digest = NULL;
	json_int_t size = -1;

	memset(d, 0, sizeof(*d));
	if (json_unpack(j, "{s?s, s:s, s:I}", "mediaType", &mt, "digest",
			&digest, "size", &size)) {
		oci_error("%s: malformed descriptor (needs digest and size)",
			  where);
		return -EINVAL;
	}
	if (!oci_digest_ok(digest)) {
		oci_error("%s: unsupported or malformed digest '%.80s'", where,
			  digest);
		return -EINVAL;
	}
	if (size < 0 || (uint64_t)size > OCI_SIZE_MAX) {
		oci_error("%s: %s: absurd size %lld", where, digest,
			  (long long)size);
		return -EINVAL;
	}
	d->media_type = strdup(mt ? mt : "");
	if (!d->media_type) {
		oci_error("%s: out of memory", where);
		return -ENOMEM;
	}
	memcpy(d->digest, digest, OCI_DIGEST_LEN + 1);
	d->size = size;
	d->json = j;
	return 0;
}

/* --- writing blobs ------------------------------------------------------ */

int oci_blob_create(struct oci_blob *b, int layoutfd, const char *where)
{
	static unsigned seq;
	int err;

	memset(b, 0, sizeof(*b));
	b->where = where;
	b->fd = -1;
	b->dirfd = openat(layoutfd, "blobs/sha256",
			  O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (b->dirfd < 0)
		goto fail;
	snprintf(b->tmp, sizeof(b->tmp), ".tmp-%d-%u", (int)getpid(), seq++);
	b->fd = openat(b->dirfd, b->tmp,
		       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		       0644);
	if (b->fd < 0)
		goto fail;
	err = oci_hash_init(&b->hash);
	if (err) {
		oci_blob_abort(b);
		return err;
	}
	return 0;
fail:
	err = -errno;
	oci_error("%s/blobs/sha256: %s", where, strerror(-err));
	oci_blob_abort(b);
	return err;
}

int oci_blob_write(struct oci_blob *b, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	oci_hash_update(&b->hash, buf, len);
	b->size += len;
	while (len) {
		n = write(b->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			oci_error("%s/blobs/sha256/%s: %s", b->where, b->tmp,
				  strerror(errno));
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int oci_blob_finish(struct oci_blob *b, struct oci_desc *d)
{
	int err = 0;

	oci_hash_final(&b->hash, d->digest);
	d->size = b->size;
	/* the layout is renamed into place after a syncfs of it */
	if (close(b->fd) < 0)
		err = -errno;
	b->fd = -1;
	if (!err && renameat(b->dirfd, b->tmp, b->dirfd, d->digest + 7) < 0)
		err = -errno;
	if (err) {
		oci_error("%s/blobs/sha256/%s: %s", b->where, d->digest + 7,
			  strerror(-err));
		oci_blob_abort(b);
		return err;
	}
	b->tmp[0] = '\0';
	close(b->dirfd);
	b->dirfd = -1;
	return 0;
}

void oci_blob_abort(struct oci_blob *b)
{
	if (b->fd >= 0)
		close(b->fd);
	if (b->dirfd >= 0 && b->tmp[0])
		unlinkat(b->dirfd, b->tmp, 0);
	if (b->dirfd >= 0)
		close(b->dirfd);
	oci_hash_free(&b->hash);
	b->fd = b->dirfd = -1;
	b->tmp[0] = '\0';
}

/* Canonical text: sorted keys, no spaces, so equal documents hash equal. */
static char *json_text(json_t *doc)
{
	return json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
}

int oci_blob_put_json(int layoutfd, const char *where, json_t *doc,
		      const char *mt, struct oci_desc *d)
{
	struct oci_blob b;
	char *text = json_text(doc);
	int err;

	if (!text) {
		oci_error("JSON: out of memory");
		return -ENOMEM;
	}
	err = oci_blob_create(&b, layoutfd, where);
	if (!err)
		err = oci_blob_write(&b, text, strlen(text));
	if (!err)
		err = oci_blob_finish(&b, d);
	else
		oci_blob_abort(&b);
	free(text);
	if (!err && !(d->media_type = strdup(mt)))
		err = -ENOMEM;
	return err;
}

/* --- reading blobs ------------------------------------------------------ */

int oci_blob_open(int layoutfd, const struct oci_desc *d, const char *where,
		  int *fd)
{
	struct stat st;
	char *path;
	int err;

	if (asprintf(&path, "blobs/sha256/%s", d->digest + 7) < 0)
		return -ENOMEM;
	/* blobs/ and sha256/ may be symlinks in a layout someone copied */
	*fd = openat(layoutfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0) {
		err = -errno;
		oci_error("%s: %s: %s", where, path, strerror(-err));
		free(path);
		return err;
	}
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != d->size) {
		if (S_ISREG(st.st_mode))
			oci_error("%s: %s: %lld bytes, the descriptor says %llu",
				  where, path, (long long)st.st_size,
				  (unsigned long long)d->size);
		else
			oci_error("%s: %s: not a regular file", where, path);
		close(*fd);
		*fd = -1;
		free(path);
		return -EINVAL;
	}
	free(path);
	return 0;
}

/* Read all of FD (at most MAX bytes) into *BUF. */
static int read_all(int fd, size_t max, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *p = malloc(cap);
	ssize_t r;

	if (!p)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			char *np;

			if (cap > max) {
				free(p);
				return -EFBIG;
			}
			np = realloc(p, cap *= 2);
			if (!np) {
				free(p);
				return -ENOMEM;
			}
			p = np;
		}
		r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(p);
			return -errno;
		}
		if (r == 0)
			break;
		n += r;
	}
	if (n > max) {
		free(p);
		return -EFBIG;
	}
	*buf = p;
	*len = n;
	return 0;
}

static int parse_json(const char *buf, size_t len, const char *where,
		      const char *name, json_t **out)
{
	json_error_t jerr;

	*out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out || !json_is_object(*out)) {
		oci_error("%s: %s: not a JSON object (%s)", where, name,
			  *out ? "other type" : jerr.text);
		json_decref(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

int oci_blob_json(int layoutfd, const struct oci_desc *d, const char *where,
		  json_t **out)
{
	char digest[OCI_DIGEST_LEN + 1];
	struct oci_hash h;
	size_t len;
	char *buf;
	int fd, err;

	if (d->size > OCI_JSON_MAX) {
		oci_error("%s: %s: JSON document of %llu bytes is too large",
			  where, d->digest, (unsigned long long)d->size);
		return -EFBIG;
	}
	err = oci_blob_open(layoutfd, d, where, &fd);
	if (err)
		return err;
	err = read_all(fd, OCI_JSON_MAX, &buf, &len);
	close(fd);
	if (err) {
		oci_error("%s: %s: %s", where, d->digest, strerror(-err));
		return err;
	}
	err = oci_hash_init(&h);
	if (err) {
		free(buf);
		return err;
	}
	oci_hash_update(&h, buf, len);
	oci_hash_final(&h, digest);
	if (len != d->size || strcmp(digest, d->digest)) {
		oci_error("%s: blob %s: content does not match its digest",
			  where, d->digest);
		free(buf);
		return -EINVAL;
	}
	err = parse_json(buf, len, where, d->digest, out);
	free(buf);
	return err;
}

int oci_json_file(int dirfd, const char *name, const char *where,
		  json_t **out)
{
	size_t len;
	char *buf;
	int fd, err;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		oci_error("%s: %s: %s", where, name, strerror(-err));
		return err;
	}
	err = read_all(fd, OCI_JSON_MAX, &buf, &len);
	close(fd);
	if (err) {
		oci_error("%s: %s: %s", where, name, strerror(-err));
		return err;
	}
	err = parse_json(buf, len, where, name, out);
	free(buf);
	return err;
}

int oci_json_write(int dirfd, const char *where, const char *name,
		   json_t *doc)
{
	char *text = json_text(doc), tmp[64];
	size_t len;
	int fd, err = 0;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	snprintf(tmp, sizeof(tmp), ".%s.tmp-%d", name, (int)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
					O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1)
		err = fd < 0 || errno ? -errno : -EIO;
	if (fd >= 0 && close(fd) < 0 && !err)
		err = -errno;
	if (!err && renameat(dirfd, tmp, dirfd, name) < 0)
		err = -errno;
	if (err) {
		unlinkat(dirfd, tmp, 0);
		oci_error("%s/%s: %s", where, name, strerror(-err));
	}
	free(text);
	return err;
}

/* --- layouts ------------------------------------------------------------ */

int oci_layout_init(int layoutfd, const char *where)
{
	json_t *doc;
	int err = 0;

	if (mkdirat(layoutfd, "blobs", 0755) < 0 ||
	    mkdirat(layoutfd, "blobs/sha256", 0755) < 0) {
		err = -errno;
		oci_error("%s/blobs/sha256: %s", where, strerror(-err));
		return err;
	}
	doc = json_pack("{s:s}", "imageLayoutVersion", "1.0.0");
	if (!doc)
		return -ENOMEM;
	err = oci_json_write(layoutfd, where, "oci-layout", doc);
	json_decref(doc);
	return err;
}

int oci_layout_check(int layoutfd, const char *where)
{
	const char *v;
	json_t *doc;
	int err;

	err = oci_json_file(layoutfd, "oci-layout", where, &doc);
	if (err)
		return err;
	v = json_string_value(json_object_get(doc, "imageLayoutVersion"));
	if (!v || strncmp(v, "1.", 2)) {
		oci_error("%s: oci-layout: unsupported imageLayoutVersion '%.40s'",
			  where, v ? v : "");
		err = -EINVAL;
	}
	json_decref(doc);
	return err;
}

/* --- times -------------------------------------------------------------- */

int oci_source_date_epoch(int64_t *t)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0) {
		oci_error("SOURCE_DATE_EPOCH: '%.40s' is not a number of seconds",
			  s);
		return -EINVAL;
	}
	*t = v;
	return 1;
}

void oci_time_format(int64_t t, char buf[32])
{
	time_t tt = t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm))
		memset(&tm, 0, sizeof(tm));
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int oci_time_parse(const char *s, int64_t *t)
{
	int y, mo, d, h, mi, sec, n = 0, oh, om;
	struct tm tm = { 0 };
	const char *p;
	int64_t v;

	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
		   &sec, &n) != 6 || !n)
		return -EINVAL;
	p = s + n;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	v = timegm(&tm);
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') &&
		   sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 && strlen(p) == 6) {
		v -= (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	/* Go's zero time and other pre-epoch dates mean "unknown" */
	*t = v < 0 ? 0 : v;
	return 0;
}

const char *oci_arch(char buf[OCI_ARCH_LEN])
{
	static const char *const map[][2] = {
		{ "x86_64", "amd64" },	 { "aarch64", "arm64" },
		{ "i386", "386" },	 { "i686", "386" },
		{ "armv7l", "arm" },	 { "armv6l", "arm" },
		{ "ppc64le", "ppc64le" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" },
	};
	struct utsname u;
	size_t i;

	if (uname(&u) < 0)
		snprintf(u.machine, sizeof(u.machine), "x86_64");
	snprintf(buf, OCI_ARCH_LEN, "%s", u.machine);
	for (i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (!strcmp(u.machine, map[i][0]))
			snprintf(buf, OCI_ARCH_LEN, "%s", map[i][1]);
	return buf;
}

/* --- progress ----------------------------------------------------------- */

void oci_progress_init(struct oci_progress *p)
{
	memset(p, 0, sizeof(*p));
	p->on = isatty(STDERR_FILENO);
}

static void progress_draw(struct oci_progress *p)
{
	fprintf(stderr, "\r%s layer %d/%d: %llu files, %.1f MiB\033[K",
		p->verb, p->layer, p->nlayers, (unsigned long long)p->files,
		p->bytes / 1048576.0);
	fflush(stderr);
	progress_shown = p;
}

void oci_progress_layer(struct oci_progress *p, const char *verb, int n,
			int m)
{
	p->verb = verb;
	p->layer = n;
	p->nlayers = m;
	p->files = p->bytes = 0;
	if (p->on) {
		clock_gettime(CLOCK_MONOTONIC, &p->last);
		progress_draw(p);
	}
}

void oci_progress_add(struct oci_progress *p, uint64_t files, uint64_t bytes)
{
	struct timespec now;

	p->files += files;
	p->bytes += bytes;
	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - p->last.tv_sec) * 1000 +
		    (now.tv_nsec - p->last.tv_nsec) / 1000000 <
	    100)
		return;
	p->last = now;
	progress_draw(p);
}

void oci_progress_end(struct oci_progress *p)
{
	if (p->on && progress_shown == p) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	if (progress_shown == p)
		progress_shown = NULL;
}
