/* backend-fs: a repository in a local directory, URL filesystem:///abs/path.
 *
 * On-disk layout (docs/FORMAT.md repeats this; change both together):
 *
 *   <root>/<L1>/<L2>/<encoded name>
 *
 *   L1 = shard_byte(namespace) and L2 = shard_byte(name), each two lower-case hex digits.
 *     namespace  = the name up to and including its first '/', or the whole name when
 *                  it has no '/' ("snapshots/src/1" -> "snapshots/"), so a listing whose
 *                  prefix contains a '/' only walks one L1 folder.
 *     shard_byte = the low byte of fmix64(fnv1a64(bytes)): FNV-1a 64-bit (offset basis
 *                  0xcbf29ce484222325, prime 0x100000001b3) followed by MurmurHash3's
 *                  64-bit finaliser, so names that differ only in their last byte spread.
 *   A leaf folder therefore holds about N / 65536 blobs of a flat name space, or N / 256
 *   of one namespace: a million blobs give ~4000 entries per folder at worst.
 *
 *   The encoded name keeps every byte except these, which become %XX (upper-case hex):
 *   '/', '%', bytes below 0x20, 0x7f, and a '.' at the start of a path segment. Bytes
 *   >= 0x80 (UTF-8) are kept as they are. An encoded name longer than 200 bytes is cut
 *   into segments (never inside an escape; not inside a UTF-8 sequence unless a segment
 *   would pass 240 bytes), each encoded on its own (so a '.' opening a segment is
 *   escaped): every segment but the last is a folder "<segment>%" (a bare trailing '%'
 *   cannot occur in an encoded name), the last is the file. Names are 1 to 1024 bytes.
 *
 *   Temporary files are ".tmp-<pid>-<tid>-<counter>-<random>" in the blob's own folder:
 *   names starting with '.' are never blobs, so list() skips them and removes those
 *   older than a day (left by a crashed writer). Shard folders are never removed.
 *
 * Puts are durable and atomic: write the temporary file, fsync it, then link(2) it to the
 * final name (write-once: the kernel refuses an existing name atomically) or rename(2)
 * it (COFFER_PUT_OVERWRITE), unlink the temporary name and fsync the folder.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* gettid, O_DIRECTORY */
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <coffer/sys/backend.h>

#define FS_NAME_MAX 1024        /* longest blob name in bytes (the object stores' limit) */
#define FS_SEGMENT_SOFT_MAX 200 /* encoded bytes per path segment before cutting */
#define FS_SEGMENT_HARD_MAX 240 /* ... even inside a run of UTF-8 continuation bytes */
#define FS_STALE_TEMP_SECONDS (24 * 60 * 60)
#define FS_TEMP_PREFIX ".tmp-"

typedef struct fs_state {
	char *root; /* absolute, normalised, no trailing '/' (except for "/" itself) */
	size_t root_len;
} fs_state;

/* Where a blob lives: `dir` is its folder, `file` the full path of the blob. */
typedef struct fs_blob_path {
	char *dir;
	char *file;
} fs_blob_path;

static atomic_ulong temp_counter;

/* ------------------------------------------------------------------ errors */

static int fs_code_for_errno(int errnum)
{
	switch (errnum) {
	case ENOENT: return COFFER_ENOTFOUND;
	case EACCES:
	case EPERM: return COFFER_EAUTH;
	case ENAMETOOLONG: return COFFER_EINVALID;
	case ENOMEM: return COFFER_ENOMEM;
	default: return COFFER_ERROR;
	}
}

/* "<what> blob 'name' at path: reason", with the code errno implies. A full disk is said
 * in words, since ENOSPC and EDQUOT read differently. */
static int fs_fail(int errnum, const char *what, const char *name, const char *path)
{
	if (errnum == ENOSPC || errnum == EDQUOT)
		return coffer_error_set_errno(COFFER_ERROR, errnum, "%s blob '%s' at %s: disk full", what,
		                              name, path);
	return coffer_error_set_errno(fs_code_for_errno(errnum), errnum, "%s blob '%s' at %s", what,
	                              name, path);
}

/* ------------------------------------------------------------------ names and layout */

static uint64_t fs_hash(const char *bytes, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)bytes[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static size_t fs_namespace_len(const char *name, size_t len)
{
	const char *slash = memchr(name, '/', len);
	return slash ? (size_t)(slash - name) + 1 : len;
}

static int fs_needs_escape(unsigned char c, int at_segment_start)
{
	return c == '/' || c == '%' || c < 0x20 || c == 0x7f || (c == '.' && at_segment_start);
}

static int fs_is_utf8_continuation(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

static int fs_check_name(const char *name)
{
	if (!name || !name[0])
		return coffer_error_set(COFFER_EINVALID, "invalid blob name: empty");
	size_t len = strlen(name);
	if (len > FS_NAME_MAX)
		return coffer_error_set(COFFER_EINVALID,
		                        "invalid blob name '%.64s...': %zu bytes, the limit is %d", name,
		                        len, FS_NAME_MAX);
	return 0;
}

/* Builds the folder and file path of a blob (see the layout at the top). */
static int fs_blob_path_make(const fs_state *st, const char *name, fs_blob_path *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(name);
	uint8_t l1 = (uint8_t)fs_hash(name, fs_namespace_len(name, len));
	uint8_t l2 = (uint8_t)fs_hash(name, len);
	/* Worst case: every byte escaped (3x) plus a '/' and '%' per segment. */
	size_t cap = st->root_len + 8 + 3 * len + 2 * (len / (FS_SEGMENT_SOFT_MAX / 3) + 2) + 1;
	char *path = coffer_malloc(cap);
	if (!path)
		return COFFER_ENOMEM;
	size_t o = (size_t)snprintf(path, cap, "%s/%02x/%02x/", st->root_len == 1 ? "" : st->root,
	                            l1, l2);
	size_t segment_start = o, last_segment_start = o;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		int escape = fs_needs_escape(c, o == segment_start);
		size_t width = escape ? 3 : 1;
		/* Cut before this byte when the segment is full, unless it continues a character. */
		size_t grown = o - segment_start + width;
		if (o > segment_start && (grown > FS_SEGMENT_HARD_MAX ||
		                          (grown > FS_SEGMENT_SOFT_MAX && !fs_is_utf8_continuation(c)))) {
			path[o++] = '%';
			path[o++] = '/';
			segment_start = last_segment_start = o;
			escape = fs_needs_escape(c, 1);
		}
		if (escape) {
			path[o++] = '%';
			path[o++] = hex[c >> 4];
			path[o++] = hex[c & 15];
		} else {
			path[o++] = (char)c;
		}
	}
	path[o] = '\0';
	char *dir = coffer_malloc(last_segment_start);
	if (!dir) {
		coffer_free(path);
		return COFFER_ENOMEM;
	}
	memcpy(dir, path, last_segment_start - 1);
	dir[last_segment_start - 1] = '\0';
	out->dir = dir;
	out->file = path;
	return 0;
}

static void fs_blob_path_free(fs_blob_path *p)
{
	coffer_free(p->dir);
	coffer_free(p->file);
	p->dir = p->file = NULL;
}

static int fs_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one encoded path segment and appends it to name[*len]; -1 when the text is not
 * something fs_blob_path_make() produces (a foreign file), so list() skips it. */
static int fs_decode_segment(const char *text, size_t text_len, char *name, size_t *len)
{
	if (text_len == 0)
		return -1;
	for (size_t i = 0; i < text_len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '%') {
			if (i + 2 >= text_len)
				return -1;
			int hi = fs_hex_value((unsigned char)text[i + 1]);
			int lo = hi < 0 ? -1 : fs_hex_value((unsigned char)text[i + 2]);
			if (lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			if (c == 0 || !fs_needs_escape(c, i == 0))
				return -1; /* only one spelling per name, so list never reports twins */
			i += 2;
		} else if (fs_needs_escape(c, i == 0)) {
			return -1;
		}
		if (*len >= FS_NAME_MAX)
			return -1;
		name[(*len)++] = (char)c;
	}
	return 0;
}

static int fs_is_shard_name(const char *n)
{
	static const char digits[] = "0123456789abcdef";
	return n[0] && n[1] && !n[2] && strchr(digits, n[0]) && strchr(digits, n[1]);
}

/* ------------------------------------------------------------------ file helpers */

static int fs_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* mkdir -p for the part of `dir` below the repository root, which exists. New folders are
 * made durable by syncing their parent. Returns 0 or -1 with errno set. */
static int fs_make_dirs(const fs_state *st, char *dir)
{
	size_t len = strlen(dir);
	for (size_t i = st->root_len + 1; i <= len; i++) {
		if (dir[i] != '/' && dir[i] != '\0')
			continue;
		char saved = dir[i];
		dir[i] = '\0';
		int rc = mkdir(dir, 0700);
		int err = errno;
		if (rc == 0) {
			char *slash = strrchr(dir, '/');
			*slash = '\0';
			rc = fs_fsync_dir(slash == dir ? "/" : dir);
			err = errno;
			*slash = '/';
		} else if (err == EEXIST) {
			rc = 0;
		}
		dir[i] = saved;
		if (rc != 0) {
			errno = err;
			return -1;
		}
	}
	return 0;
}

static int fs_write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		size_t chunk = len > (1u << 30) ? (1u << 30) : len;
		ssize_t n = write(fd, data, chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A name no other writer (process, thread or earlier call) can pick, in `dir`. */
static char *fs_temp_name(const char *dir)
{
	uint64_t random_part = 0;
	if (getrandom(&random_part, sizeof(random_part), GRND_NONBLOCK) != sizeof(random_part)) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		random_part = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 30);
	}
	unsigned long counter = atomic_fetch_add(&temp_counter, 1);
	size_t cap = strlen(dir) + 96;
	char *temp = coffer_malloc(cap);
	if (temp)
		snprintf(temp, cap, "%s/" FS_TEMP_PREFIX "%ld-%ld-%lu-%016llx", dir, (long)getpid(),
		         (long)gettid(), counter, (unsigned long long)random_part);
	return temp;
}

/* Gives the finished temporary file its final name unless that name exists; atomic
 * either way. link(2) is the classic; renameat2(RENAME_NOREPLACE) covers file systems
 * without hard links. Returns 0 or -1 with errno set (EEXIST: the name is taken). */
static int fs_publish_once(const char *temp, const char *file)
{
	if (link(temp, file) == 0) {
		unlink(temp);
		return 0;
	}
	int err = errno;
	if (err == EPERM || err == EOPNOTSUPP || err == ENOSYS || err == EMLINK) {
		if (renameat2(AT_FDCWD, temp, AT_FDCWD, file, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS)
			err = errno;
	}
	unlink(temp);
	errno = err;
	return -1;
}

/* ------------------------------------------------------------------ open / close */

/* Checks the URL and stores the normalised root path: absolute, no '.' or '..'
 * segments (a repository must not move depending on symlinks or the working folder). */
static int fs_parse_root(fs_state *st, const coffer_url *url)
{
	const char *text = url->text ? url->text : "(null)";
	if (url->host && url->host[0])
		return coffer_error_set(COFFER_EINVALID,
		                        "invalid repository URL '%s': a filesystem URL has no host, "
		                        "write filesystem:///absolute/path (three slashes)", text);
	if (url->query)
		return coffer_error_set(COFFER_EINVALID,
		                        "invalid repository URL '%s': a filesystem URL takes no '?' options",
		                        text);
	const char *path = url->path ? url->path : "";
	if (path[0] != '/')
		return coffer_error_set(COFFER_EINVALID,
		                        "invalid repository URL '%s': the path must be absolute "
		                        "(filesystem:///absolute/path)", text);
	size_t len = strlen(path);
	char *root = coffer_malloc(len + 1);
	if (!root)
		return COFFER_ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		while (path[i] == '/')
			i++;
		size_t start = i;
		while (i < len && path[i] != '/')
			i++;
		size_t seg = i - start;
		if (seg == 0)
			break;
		if ((seg == 1 && path[start] == '.') ||
		    (seg == 2 && path[start] == '.' && path[start + 1] == '.')) {
			coffer_free(root);
			return coffer_error_set(COFFER_EINVALID,
			                        "invalid repository URL '%s': the path may not contain "
			                        "'.' or '..' segments", text);
		}
		root[o++] = '/';
		memcpy(root + o, path + start, seg);
		o += seg;
	}
	if (o == 0)
		root[o++] = '/';
	root[o] = '\0';
	st->root = root;
	st->root_len = o;
	return 0;
}

static void fs_close(void *state)
{
	fs_state *st = state;
	coffer_free(st->root);
	st->root = NULL;
}

static int fs_open(void *state, const coffer_backend_params *params)
{
	fs_state *st = state;
	if (!params || params->version < 1 || !params->url)
		return coffer_error_set(COFFER_EINVALID, "backend-fs: no repository URL given");
	const char *text = params->url->text;
	if (params->url->scheme && strcmp(params->url->scheme, "filesystem") != 0)
		return coffer_error_set(COFFER_EINVALID, "backend-fs cannot open '%s': not a filesystem URL",
		                        text);
	int rc = fs_parse_root(st, params->url);
	if (rc)
		return rc;
	struct stat sb;
	if (stat(st->root, &sb) != 0) {
		int err = errno;
		if (err == ENOENT && params->create) {
			char *dir = coffer_strdup(st->root);
			if (!dir) {
				fs_close(st);
				return COFFER_ENOMEM;
			}
			/* mkdir -p from "/"; existing parents are fine. */
			for (char *p = dir + 1;; p++) {
				if (*p != '/' && *p != '\0')
					continue;
				char saved = *p;
				*p = '\0';
				if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
					err = errno;
					*p = saved;
					coffer_free(dir);
					rc = coffer_error_set_errno(fs_code_for_errno(err), err,
					                            "cannot create repository folder %s for %s",
					                            st->root, text);
					fs_close(st);
					return rc;
				}
				*p = saved;
				if (!saved)
					break;
			}
			coffer_free(dir);
			if (stat(st->root, &sb) != 0) {
				err = errno;
				rc = coffer_error_set_errno(fs_code_for_errno(err), err,
				                            "cannot create repository folder %s for %s",
				                            st->root, text);
				fs_close(st);
				return rc;
			}
		} else if (err == ENOENT) {
			rc = coffer_error_set(COFFER_ENOTFOUND,
			                      "no repository at %s: directory %s does not exist", text,
			                      st->root);
			fs_close(st);
			return rc;
		} else {
			rc = coffer_error_set_errno(fs_code_for_errno(err), err,
			                            "cannot open repository %s (folder %s)", text, st->root);
			fs_close(st);
			return rc;
		}
	}
	if (!S_ISDIR(sb.st_mode)) {
		rc = coffer_error_set(COFFER_EINVALID, "cannot open repository %s: %s is not a directory",
		                      text, st->root);
		fs_close(st);
		return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ blobs */

static int fs_put(void *state, const char *name, const void *data, size_t len, unsigned int flags)
{
	fs_state *st = state;
	int rc = fs_check_name(name);
	if (rc)
		return rc;
	fs_blob_path where;
	if ((rc = fs_blob_path_make(st, name, &where)) != 0)
		return rc;
	char *temp = fs_temp_name(where.dir);
	if (!temp) {
		fs_blob_path_free(&where);
		return COFFER_ENOMEM;
	}
	int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		if (fs_make_dirs(st, where.dir) != 0) {
			rc = fs_fail(errno, "cannot create the folder for", name, where.dir);
			goto out;
		}
		fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		rc = fs_fail(errno, "cannot create a temporary file for", name, temp);
		goto out;
	}
	if (fs_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		rc = fs_fail(errno, "cannot write", name, temp);
		close(fd);
		unlink(temp);
		goto out;
	}
	if (close(fd) != 0) {
		rc = fs_fail(errno, "cannot write", name, temp);
		unlink(temp);
		goto out;
	}
	if (flags & COFFER_PUT_OVERWRITE) {
		if (rename(temp, where.file) != 0) {
			rc = fs_fail(errno, "cannot store", name, where.file);
			unlink(temp);
			goto out;
		}
	} else if (fs_publish_once(temp, where.file) != 0) {
		if (errno == EEXIST)
			rc = coffer_error_set(COFFER_EEXISTS, "blob '%s' already exists at %s", name,
			                      where.file);
		else
			rc = fs_fail(errno, "cannot store", name, where.file);
		goto out;
	}
	if (fs_fsync_dir(where.dir) != 0)
		rc = fs_fail(errno, "cannot sync the folder of", name, where.dir);
out:
	coffer_free(temp);
	fs_blob_path_free(&where);
	return rc;
}

static int fs_get(void *state, const char *name, uint64_t offset, uint64_t length, coffer_buf *out)
{
	fs_state *st = state;
	int rc = fs_check_name(name);
	if (rc)
		return rc;
	fs_blob_path where;
	if ((rc = fs_blob_path_make(st, name, &where)) != 0)
		return rc;
	int fd = open(where.file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = fs_fail(errno, "cannot read", name, where.file);
		goto out;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		rc = fs_fail(errno, "cannot read", name, where.file);
		goto out_close;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = coffer_error_set(COFFER_ECORRUPT, "blob '%s' at %s is not a regular file", name,
		                      where.file);
		goto out_close;
	}
	uint64_t size = (uint64_t)sb.st_size;
	if (offset > size || (length != COFFER_WHOLE && length > size - offset)) {
		rc = coffer_error_set(COFFER_EINVALID,
		                      "cannot read blob '%s' at %s: range at %llu of %llu bytes is past "
		                      "its end (%llu bytes)", name, where.file, (unsigned long long)offset,
		                      (unsigned long long)length, (unsigned long long)size);
		goto out_close;
	}
	if (length == COFFER_WHOLE)
		length = size - offset;
	if (length > SIZE_MAX) {
		rc = coffer_error_set(COFFER_ENOMEM, "cannot read blob '%s': %llu bytes do not fit in memory",
		                      name, (unsigned long long)length);
		goto out_close;
	}
	if ((rc = coffer_buf_reserve(out, (size_t)length)) != 0)
		goto out_close;
	uint64_t done = 0;
	while (done < length) {
		ssize_t n = pread(fd, out->data + out->len + done, (size_t)(length - done),
		                  (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fs_fail(errno, "cannot read", name, where.file);
			goto out_close;
		}
		if (n == 0) {
			/* Blobs are immutable; a shorter file means something outside coffer cut it. */
			rc = coffer_error_set(COFFER_ECORRUPT,
			                      "blob '%s' at %s shrank while being read (%llu of %llu bytes)",
			                      name, where.file, (unsigned long long)done,
			                      (unsigned long long)length);
			goto out_close;
		}
		done += (uint64_t)n;
	}
	out->len += (size_t)length;
out_close:
	close(fd);
out:
	fs_blob_path_free(&where);
	return rc;
}

static int64_t fs_mtime_ns(const struct stat *sb)
{
	return (int64_t)sb->st_mtim.tv_sec * 1000000000LL + (int64_t)sb->st_mtim.tv_nsec;
}

static int fs_stat(void *state, const char *name, coffer_blob_info *out)
{
	fs_state *st = state;
	int rc = fs_check_name(name);
	if (rc)
		return rc;
	fs_blob_path where;
	if ((rc = fs_blob_path_make(st, name, &where)) != 0)
		return rc;
	struct stat sb;
	if (lstat(where.file, &sb) != 0) {
		rc = fs_fail(errno, "cannot stat", name, where.file);
	} else if (!S_ISREG(sb.st_mode)) {
		rc = coffer_error_set(COFFER_ECORRUPT, "blob '%s' at %s is not a regular file", name,
		                      where.file);
	} else {
		out->name = NULL;
		out->size = (uint64_t)sb.st_size;
		out->mtime_ns = fs_mtime_ns(&sb);
	}
	fs_blob_path_free(&where);
	return rc;
}

static int fs_remove(void *state, const char *name)
{
	fs_state *st = state;
	int rc = fs_check_name(name);
	if (rc)
		return rc;
	fs_blob_path where;
	if ((rc = fs_blob_path_make(st, name, &where)) != 0)
		return rc;
	if (unlink(where.file) != 0)
		rc = fs_fail(errno, "cannot remove", name, where.file);
	else if (fs_fsync_dir(where.dir) != 0)
		rc = fs_fail(errno, "cannot sync the folder of removed", name, where.dir);
	fs_blob_path_free(&where);
	return rc;
}

/* ------------------------------------------------------------------ list */

typedef struct fs_walk {
	const fs_state *st;
	const char *prefix;
	size_t prefix_len;
	coffer_list_cb cb;
	void *ud;
	char name[FS_NAME_MAX + 1]; /* the name decoded so far */
	char path[8192];            /* the folder being read */
	int64_t stale_before_ns;
} fs_walk;

static int fs_walk_fail(int errnum, const char *what, const char *path)
{
	return coffer_error_set_errno(fs_code_for_errno(errnum), errnum, "cannot list %s %s", what,
	                              path);
}

/* Could a name that starts with name[0, len) still start with the prefix? */
static int fs_walk_compatible(const fs_walk *w, size_t len)
{
	size_t n = len < w->prefix_len ? len : w->prefix_len;
	return memcmp(w->name, w->prefix, n) == 0;
}

/* Appends "/entry" to w->path; returns the old length to restore, or -1 when too long. */
static long fs_walk_push(fs_walk *w, const char *entry)
{
	size_t used = strlen(w->path);
	int n = snprintf(w->path + used, sizeof(w->path) - used, "/%s", entry);
	if (n < 0 || (size_t)n >= sizeof(w->path) - used) {
		w->path[used] = '\0';
		return -1;
	}
	return (long)used;
}

/* Is w->path the place where fs_blob_path_make() puts w->name? Foreign files that merely
 * decode (wrong shard, odd segment cuts) are not reported, so list and get always agree. */
static int fs_walk_is_canonical(const fs_walk *w)
{
	fs_blob_path where;
	if (fs_blob_path_make(w->st, w->name, &where) != 0)
		return 0;
	int same = strcmp(where.file, w->path) == 0;
	fs_blob_path_free(&where);
	return same;
}

/* Opens `entry` below the folder `parent` (never through a symlink); NULL and *err set
 * on failure. */
static DIR *fs_walk_open(int parent, const char *entry, int *err)
{
	int fd = openat(parent, entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		return NULL;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		*err = errno;
		close(fd);
	}
	return d;
}

/* A leaf folder: blobs, continuation folders ("...%") and temporary files. */
static int fs_walk_leaf(fs_walk *w, DIR *d, size_t name_len)
{
	int rc = 0;
	for (;;) {
		errno = 0;
		struct dirent *ent = readdir(d);
		if (!ent) {
			if (errno)
				rc = fs_walk_fail(errno, "folder", w->path);
			break;
		}
		const char *entry = ent->d_name;
		struct stat sb;
		if (entry[0] == '.') {
			if (strncmp(entry, FS_TEMP_PREFIX, strlen(FS_TEMP_PREFIX)) == 0 &&
			    fstatat(dirfd(d), entry, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
			    fs_mtime_ns(&sb) < w->stale_before_ns)
				unlinkat(dirfd(d), entry, 0); /* left by a crashed writer */
			continue;
		}
		size_t entry_len = strlen(entry);
		int is_continuation = entry[entry_len - 1] == '%';
		size_t len = name_len;
		if (fs_decode_segment(entry, entry_len - (is_continuation ? 1 : 0), w->name, &len) != 0)
			continue; /* not written by this backend */
		if (!fs_walk_compatible(w, len))
			continue;
		long saved = fs_walk_push(w, entry);
		if (saved < 0)
			continue;
		if (is_continuation) {
			int err = 0;
			DIR *sub = fs_walk_open(dirfd(d), entry, &err);
			if (sub) {
				rc = fs_walk_leaf(w, sub, len);
				closedir(sub);
			} else if (err != ENOENT && err != ENOTDIR && err != ELOOP) {
				rc = fs_walk_fail(err, "folder", w->path);
			}
		} else if (len >= w->prefix_len) {
			w->name[len] = '\0';
			if (fstatat(dirfd(d), entry, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
				if (errno != ENOENT) /* ENOENT: removed while we listed */
					rc = fs_walk_fail(errno, "blob file", w->path);
			} else if (S_ISREG(sb.st_mode) && fs_walk_is_canonical(w)) {
				coffer_blob_info info = { w->name, (uint64_t)sb.st_size, fs_mtime_ns(&sb) };
				rc = w->cb(&info, w->ud);
			}
		}
		w->path[saved] = '\0';
		if (rc)
			break;
	}
	return rc;
}

/* A shard folder (the root at depth 0, an L1 folder at depth 1): walks its two-hex-digit
 * sub-folders, or only the one named `only`. */
static int fs_walk_shards(fs_walk *w, DIR *d, int depth, const char *only)
{
	int rc = 0;
	for (;;) {
		errno = 0;
		struct dirent *ent = readdir(d);
		if (!ent) {
			if (errno)
				rc = fs_walk_fail(errno, "folder", w->path);
			break;
		}
		const char *entry = ent->d_name;
		if (!fs_is_shard_name(entry) || (only && strcmp(entry, only) != 0))
			continue;
		long saved = fs_walk_push(w, entry);
		if (saved < 0)
			continue;
		int err = 0;
		DIR *sub = fs_walk_open(dirfd(d), entry, &err);
		if (sub) {
			rc = depth == 0 ? fs_walk_shards(w, sub, 1, NULL) : fs_walk_leaf(w, sub, 0);
			closedir(sub);
		} else if (err != ENOENT && err != ENOTDIR && err != ELOOP) {
			rc = fs_walk_fail(err, "folder", w->path);
		}
		w->path[saved] = '\0';
		if (rc)
			break;
	}
	return rc;
}

static int fs_list(void *state, const char *prefix, coffer_list_cb cb, void *ud)
{
	fs_state *st = state;
	if (!prefix)
		prefix = "";
	fs_walk *w = coffer_calloc(1, sizeof(*w));
	if (!w)
		return COFFER_ENOMEM;
	w->st = st;
	w->prefix = prefix;
	w->prefix_len = strlen(prefix);
	w->cb = cb;
	w->ud = ud;
	snprintf(w->path, sizeof(w->path), "%s", st->root_len == 1 ? "" : st->root);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	w->stale_before_ns = ((int64_t)now.tv_sec - FS_STALE_TEMP_SECONDS) * 1000000000LL;

	/* A prefix containing '/' fixes the namespace, hence the one L1 folder to read. */
	char only[3] = "";
	if (memchr(prefix, '/', w->prefix_len))
		snprintf(only, sizeof(only), "%02x",
		         (unsigned)(uint8_t)fs_hash(prefix, fs_namespace_len(prefix, w->prefix_len)));
	int err = 0, rc = 0;
	DIR *d = fs_walk_open(AT_FDCWD, st->root, &err);
	if (!d) {
		rc = fs_walk_fail(err, "repository folder", st->root);
	} else {
		rc = fs_walk_shards(w, d, 0, only[0] ? only : NULL);
		closedir(d);
	}
	coffer_free(w);
	return rc;
}

static int fs_describe(void *state, coffer_buf *out)
{
	fs_state *st = state;
	static const char kind[] = "filesystem ";
	int rc = coffer_buf_append(out, kind, sizeof(kind) - 1);
	return rc ? rc : coffer_buf_append(out, st->root, st->root_len);
}

static const coffer_backend_vtable fs_vtable = {
	.version = COFFER_BACKEND_VTABLE_VERSION,
	.state_size = sizeof(fs_state),
	.caps = COFFER_BACKEND_CAP_RANGE | COFFER_BACKEND_CAP_ATOMIC_CREATE | COFFER_BACKEND_CAP_LOCAL,
	.open = fs_open,
	.close = fs_close,
	.put = fs_put,
	.get = fs_get,
	.stat = fs_stat,
	.list = fs_list,
	.remove = fs_remove,
	.describe = fs_describe,
};

static const char *const fs_schemes[] = { "filesystem", NULL };

COFFER_PLUGIN_DEFINE(backend_fs) = {
	COFFER_PLUGIN_MAGIC,
	COFFER_ABI_VERSION,
	COFFER_PLUGIN_BACKEND,
	"backend-fs",
	"repository in a local directory (filesystem:///abs/path)",
	fs_schemes,
	NULL,
	&fs_vtable,
};
