/* backend-flatdir: an example THIRD-PARTY storage backend for coffer, built outside the
 * coffer tree against the installed headers only. URL: flatdir:///absolute/folder.
 *
 * What a third party does to add a backend:
 *   1. Include <coffer/sys/backend.h> (found with `pkg-config --cflags coffer`) and
 *      implement the callbacks of coffer_backend_vtable: open, close, put, get, stat, list,
 *      remove and, optionally, describe. Keep every function and variable `static`.
 *   2. Export exactly one symbol, the descriptor, with COFFER_PLUGIN_DEFINE(modname), where
 *      modname is the module's file name without ".so" and with '-' turned into '_':
 *      backend-flatdir.so -> COFFER_PLUGIN_DEFINE(backend_flatdir). The descriptor names
 *      the URL schemes served ({"flatdir", NULL}) and carries the ABI magic and version
 *      from the headers; the core refuses a module built for another ABI, saying so.
 *   3. Report errors as `return coffer_error_set(COFFER_E..., "message naming the blob");`
 *      and hand memory across the boundary only through coffer_buf / coffer_malloc.
 *   4. Build a shared module linked with `pkg-config --libs coffer`, exporting only the
 *      descriptor (see exports.map), and install it into
 *      `pkg-config --variable=plugindir coffer` or any folder listed in
 *      $COFFER_PLUGIN_PATH. `coffer plugins` then lists it, and any flatdir:// URL uses it.
 *   5. Run coffer's backend conformance suite against it (tests/conformance_runner in a
 *      coffer build tree, or tests/test_third_party_plugin.sh, which does all of this).
 *
 * Storage: every blob is one file in the repository folder, named by the lower-case hex of
 * the blob name (so names up to 120 bytes). A put writes ".tmp-..." in the same folder,
 * fsyncs it, then link(2)s it to its name (write-once: the kernel refuses an existing name
 * atomically) or rename(2)s it over (overwrite), and fsyncs the folder. Fine for small
 * repositories; coffer's own backend-fs shards folders for millions of blobs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <coffer/sys/backend.h>

#define FLATDIR_NAME_MAX 120

typedef struct flatdir {
	char *dir;
} flatdir;

static atomic_ulong flatdir_counter;

static int flatdir_errno_code(int err)
{
	switch (err) {
	case ENOENT: return COFFER_ENOTFOUND;
	case EACCES:
	case EPERM: return COFFER_EAUTH;
	case ENOMEM: return COFFER_ENOMEM;
	default: return COFFER_ERROR;
	}
}

static int flatdir_fail(int err, const char *what, const char *name, const char *path)
{
	return coffer_error_set_errno(flatdir_errno_code(err), err, "flatdir: %s blob '%s' (%s)%s",
	                              what, name, path, err == ENOSPC ? ": disk full" : "");
}

/* The path of a blob: <dir>/<hex of name>; NULL with the error set. */
static char *flatdir_path(const flatdir *fd, const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > FLATDIR_NAME_MAX) {
		coffer_error_set(COFFER_EINVALID, "flatdir: blob name '%.40s' must be 1 to %d bytes", name,
		                 FLATDIR_NAME_MAX);
		return NULL;
	}
	size_t dir_len = strlen(fd->dir);
	char *path = coffer_malloc(dir_len + 1 + 2 * len + 1);
	if (!path)
		return NULL;
	memcpy(path, fd->dir, dir_len);
	path[dir_len] = '/';
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		path[dir_len + 1 + 2 * i] = hex[(unsigned char)name[i] >> 4];
		path[dir_len + 2 + 2 * i] = hex[(unsigned char)name[i] & 15];
	}
	path[dir_len + 1 + 2 * len] = '\0';
	return path;
}

/* Decodes a file name written by flatdir_path(); -1 for anything else. */
static int flatdir_decode(const char *file, char *name)
{
	size_t len = strlen(file);
	if (len == 0 || len % 2 || len / 2 > FLATDIR_NAME_MAX)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = file[i + k];
			int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
			if (d < 0)
				return -1;
			v = v * 16 + d;
		}
		if (v == 0)
			return -1;
		name[i / 2] = (char)v;
	}
	name[len / 2] = '\0';
	return 0;
}

static int flatdir_sync_dir(const flatdir *fd)
{
	int dfd = open(fd->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	int rc = fsync(dfd);
	close(dfd);
	return rc;
}

/* Does the path have a "." or ".." segment? */
static int flatdir_has_dot_segment(const char *path)
{
	for (const char *p = path; (p = strchr(p, '/')) != NULL; p++) {
		size_t n = strcspn(p + 1, "/");
		if ((n == 1 && p[1] == '.') || (n == 2 && p[1] == '.' && p[2] == '.'))
			return 1;
	}
	return 0;
}

static int flatdir_open(void *state, const coffer_backend_params *params)
{
	flatdir *fd = state;
	const coffer_url *url = params->url;
	if (url->host[0] || url->path[0] != '/' || url->query || flatdir_has_dot_segment(url->path))
		return coffer_error_set(COFFER_EINVALID,
		                        "flatdir: invalid URL '%s': write flatdir:///absolute/folder",
		                        url->text);
	fd->dir = coffer_strdup(url->path);
	if (!fd->dir)
		return COFFER_ENOMEM;
	if (params->create && mkdir(fd->dir, 0700) != 0 && errno != EEXIST) {
		int err = errno;
		coffer_free(fd->dir);
		return coffer_error_set_errno(flatdir_errno_code(err), err,
		                              "flatdir: cannot create %s for %s", url->path, url->text);
	}
	struct stat sb;
	if (stat(fd->dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		int err = errno;
		coffer_free(fd->dir);
		if (err == ENOENT)
			return coffer_error_set(COFFER_ENOTFOUND, "no repository at %s: %s does not exist",
			                        url->text, url->path);
		return coffer_error_set(COFFER_EINVALID, "flatdir: %s is not a usable folder", url->path);
	}
	return 0;
}

static void flatdir_close(void *state)
{
	flatdir *fd = state;
	coffer_free(fd->dir);
}

static int flatdir_put(void *state, const char *name, const void *data, size_t len,
                       unsigned int flags)
{
	flatdir *fd = state;
	char *path = flatdir_path(fd, name);
	if (!path)
		return coffer_error_last()->code;
	char temp[4200];
	snprintf(temp, sizeof(temp), "%s/.tmp-%ld-%ld-%lu-%ld", fd->dir, (long)getpid(),
	         (long)gettid(), atomic_fetch_add(&flatdir_counter, 1), (long)time(NULL));
	int rc = 0;
	int file = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (file < 0) {
		rc = flatdir_fail(errno, "cannot create a temporary file for", name, temp);
		goto out;
	}
	for (size_t done = 0; done < len;) {
		ssize_t n = write(file, (const char *)data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = flatdir_fail(errno, "cannot write", name, temp);
			break;
		}
		done += (size_t)n;
	}
	if (!rc && fsync(file) != 0)
		rc = flatdir_fail(errno, "cannot write", name, temp);
	close(file);
	if (!rc && (flags & COFFER_PUT_OVERWRITE) && rename(temp, path) != 0)
		rc = flatdir_fail(errno, "cannot store", name, path);
	if (!rc && !(flags & COFFER_PUT_OVERWRITE) && link(temp, path) != 0) {
		if (errno == EEXIST)
			rc = coffer_error_set(COFFER_EEXISTS, "flatdir: blob '%s' already exists (%s)",
			                      name, path);
		else
			rc = flatdir_fail(errno, "cannot store", name, path);
	}
	unlink(temp);
	if (!rc && flatdir_sync_dir(fd) != 0)
		rc = flatdir_fail(errno, "cannot sync the folder of", name, fd->dir);
out:
	coffer_free(path);
	return rc;
}

static int flatdir_get(void *state, const char *name, uint64_t offset, uint64_t length,
                       coffer_buf *out)
{
	flatdir *fd = state;
	char *path = flatdir_path(fd, name);
	if (!path)
		return coffer_error_last()->code;
	int rc = 0;
	struct stat sb;
	int file = open(path, O_RDONLY | O_CLOEXEC);
	if (file < 0 || fstat(file, &sb) != 0) {
		rc = flatdir_fail(errno, "cannot read", name, path);
		goto out;
	}
	uint64_t size = (uint64_t)sb.st_size;
	if (offset > size || (length != COFFER_WHOLE && length > size - offset)) {
		rc = coffer_error_set(COFFER_EINVALID, "flatdir: range past the end of blob '%s' (%llu bytes)",
		                      name, (unsigned long long)size);
		goto out;
	}
	if (length == COFFER_WHOLE)
		length = size - offset;
	if ((rc = coffer_buf_reserve(out, (size_t)length)) != 0)
		goto out;
	for (uint64_t done = 0; done < length;) {
		ssize_t n = pread(file, out->data + out->len + done, (size_t)(length - done),
		                  (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? flatdir_fail(errno, "cannot read", name, path)
			           : coffer_error_set(COFFER_ECORRUPT, "flatdir: blob '%s' is truncated", name);
			goto out;
		}
		done += (uint64_t)n;
	}
	out->len += (size_t)length;
out:
	if (file >= 0)
		close(file);
	coffer_free(path);
	return rc;
}

static int flatdir_stat(void *state, const char *name, coffer_blob_info *out)
{
	flatdir *fd = state;
	char *path = flatdir_path(fd, name);
	if (!path)
		return coffer_error_last()->code;
	struct stat sb;
	int rc = 0;
	if (stat(path, &sb) != 0) {
		rc = flatdir_fail(errno, "cannot stat", name, path);
	} else {
		out->size = (uint64_t)sb.st_size;
		out->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
	}
	coffer_free(path);
	return rc;
}

static int flatdir_list(void *state, const char *prefix, coffer_list_cb cb, void *ud)
{
	flatdir *fd = state;
	DIR *d = opendir(fd->dir);
	if (!d)
		return coffer_error_set_errno(flatdir_errno_code(errno), errno, "flatdir: cannot list %s",
		                              fd->dir);
	size_t prefix_len = strlen(prefix);
	int rc = 0;
	struct dirent *ent;
	while (!rc && (ent = readdir(d)) != NULL) {
		char name[FLATDIR_NAME_MAX + 1];
		struct stat sb;
		if (ent->d_name[0] == '.' || flatdir_decode(ent->d_name, name) != 0 ||
		    strncmp(name, prefix, prefix_len) != 0)
			continue;
		if (fstatat(dirfd(d), ent->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
			continue; /* removed meanwhile, or not ours */
		coffer_blob_info info = { name, (uint64_t)sb.st_size,
		                          (int64_t)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec };
		rc = cb(&info, ud);
	}
	closedir(d);
	return rc;
}

static int flatdir_remove(void *state, const char *name)
{
	flatdir *fd = state;
	char *path = flatdir_path(fd, name);
	if (!path)
		return coffer_error_last()->code;
	int rc = 0;
	if (unlink(path) != 0)
		rc = flatdir_fail(errno, "cannot remove", name, path);
	else if (flatdir_sync_dir(fd) != 0)
		rc = flatdir_fail(errno, "cannot sync the folder of", name, fd->dir);
	coffer_free(path);
	return rc;
}

static int flatdir_describe(void *state, coffer_buf *out)
{
	flatdir *fd = state;
	int rc = coffer_buf_append(out, "flatdir ", 8);
	return rc ? rc : coffer_buf_append(out, fd->dir, strlen(fd->dir));
}

static const coffer_backend_vtable flatdir_vtable = {
	.version = COFFER_BACKEND_VTABLE_VERSION,
	.state_size = sizeof(flatdir),
	.caps = COFFER_BACKEND_CAP_RANGE | COFFER_BACKEND_CAP_ATOMIC_CREATE,
	.open = flatdir_open,
	.close = flatdir_close,
	.put = flatdir_put,
	.get = flatdir_get,
	.stat = flatdir_stat,
	.list = flatdir_list,
	.remove = flatdir_remove,
	.describe = flatdir_describe,
};

static const char *const flatdir_schemes[] = { "flatdir", NULL };

COFFER_PLUGIN_DEFINE(backend_flatdir) = {
	COFFER_PLUGIN_MAGIC,
	COFFER_ABI_VERSION,
	COFFER_PLUGIN_BACKEND,
	"backend-flatdir",
	"example third-party backend: one folder, hex-named files (flatdir:///abs/path)",
	flatdir_schemes,
	NULL,
	&flatdir_vtable,
};
