/* Restore: writes a snapshot (or a part of it) into a destination folder. The walk runs in
 * the calling thread, creates directories, symlinks and special files, and queues regular
 * files for workers that fetch chunks and write them. Everything is done relative to open
 * directory descriptors with O_NOFOLLOW, so nothing is ever written outside the
 * destination, whatever names or symlinks the snapshot or the destination hold.
 * Directory modes and times, and hardlinks, are applied after all files are in place.
 * docs/FORMAT.md describes the behaviour in full. */
#include "config.h"

#include "restore_private.h"

#include <coffer/error.h>
#include <coffer/snapshot.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* Files queued ahead of the workers; each pins its directory's descriptor. */
#define RESTORE_QUEUE_CAPACITY 256
/* Deeper trees are refused: each level holds a descriptor during the walk. */
#define RESTORE_MAX_DEPTH 4096
/* Chunk ids remembered to spot chunks used more than once (bounds the walk's memory). */
#define RESTORE_SEEN_MAX ((size_t)1 << 20)
/* Recently read chunks that are used again are kept here. */
#define RESTORE_CACHE_SLOTS 64
#define RESTORE_CACHE_BYTES ((size_t)64 << 20)
/* Granularity at which sparse files skip zero runs. */
#define RESTORE_SPARSE_BLOCK 4096
/* Time between progress events. */
#define RESTORE_PROGRESS_NS 1000000000LL

typedef struct restore_dir {
	int fd;
	atomic_uint refs;
} restore_dir;

typedef struct restore_job {
	restore_dir *dir;
	char *path;              /* relative to the snapshot root, for messages */
	coffer_dirent entry;
	uint8_t *repeated;       /* per chunk: 1 when used earlier in this restore; NULL = none */
	atomic_int *restored;    /* first member of a hardlink group: set once in place */
} restore_job;

/* A directory to finish (owner, xattrs, mode, times) once everything inside is written. */
typedef struct dir_record {
	size_t parent;           /* SIZE_MAX for the destination itself */
	char *name;
	uint32_t depth;
	int has_meta;
	uint32_t mode, uid, gid;
	int64_t mtime_ns;
	coffer_xattr *xattrs;
	size_t xattr_count;
} dir_record;

/* First member of a hardlink group (content written there); keyed by a spread group id.
 * `restored` is set by whoever creates it (a worker for files), so the other members are
 * never linked to an older file that happened to have the same name in the destination. */
typedef struct hardlink_first {
	coffer_cid key;
	size_t record;
	char *name;
	atomic_int *restored;
} hardlink_first;

typedef struct pending_link {
	uint64_t group;
	size_t record;
	char *name;
	char *path;
} pending_link;

typedef struct cache_slot {
	coffer_cid id;
	uint8_t *data;
	size_t len;
	unsigned int refs;
	uint64_t stamp;
	int valid;
} cache_slot;

typedef struct restore_ctx {
	coffer_repo *repo;
	const coffer_restore_options *opts;
	int dest_fd;
	int as_root, do_chown;
	char temp_prefix[32];
	atomic_uint_fast64_t temp_counter;

	/* the queue of files */
	pthread_mutex_t queue_lock;
	pthread_cond_t queue_not_empty, queue_not_full;
	restore_job *queue[RESTORE_QUEUE_CAPACITY];
	size_t queue_head, queue_count;
	int queue_closed;

	/* outcome */
	atomic_int stop;                 /* a fatal error happened: stop the walk and workers */
	pthread_mutex_t error_lock;
	int fatal_code;
	char fatal_message[1024];
	int data_code;                   /* first missing or corrupt file */
	char data_message[1024];
	uint64_t damaged_files;

	atomic_uint_fast64_t files, dirs, symlinks, hardlinks, others, bytes, deleted;

	pthread_mutex_t event_lock;
	int64_t last_progress_ns;
	uint64_t total_bytes;

	/* directories, in creation (pre-)order: a parent always comes before its children */
	dir_record *records;
	size_t record_count, record_cap;

	/* hardlinks */
	coffer_cid_table hardlink_firsts;
	pending_link *links;
	size_t link_count, link_cap;

	/* chunks seen by the walk, and the cache of reused chunks */
	coffer_cid_table seen;
	pthread_mutex_t cache_lock;
	cache_slot cache[RESTORE_CACHE_SLOTS];
	size_t cache_bytes;
	uint64_t cache_clock;

	/* descriptors of the directories from the destination down to one record (phase 2) */
	int *chain_fds;
	size_t *chain_records;
	size_t chain_len;

	const char *prefix;              /* the restored part's path in the snapshot */
} restore_ctx;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec ns_to_timespec(int64_t ns)
{
	struct timespec ts;
	int64_t sec = ns / 1000000000LL, rem = ns % 1000000000LL;
	if (rem < 0) {
		rem += 1000000000LL;
		sec--;
	}
	ts.tv_sec = (time_t)sec;
	ts.tv_nsec = (long)rem;
	return ts;
}

/* ---- events and errors ---- */

static void emit(restore_ctx *ctx, coffer_event_kind kind, const char *path, const char *message)
{
	if (!ctx->opts->on_event)
		return;
	coffer_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.path = path;
	ev.message = message;
	pthread_mutex_lock(&ctx->event_lock);
	ctx->opts->on_event(&ev, ctx->opts->event_ud);
	pthread_mutex_unlock(&ctx->event_lock);
}

static void warn(restore_ctx *ctx, const char *path, int errnum, const char *fmt, ...) COFFER_PRINTF(4, 5);
static void warn(restore_ctx *ctx, const char *path, int errnum, const char *fmt, ...)
{
	char message[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (errnum && n >= 0 && (size_t)n < sizeof(message))
		snprintf(message + n, sizeof(message) - (size_t)n, ": %s", strerror(errnum));
	emit(ctx, COFFER_EVENT_WARNING, path, message);
}

/* Stops the restore; the first fatal error is the one returned. */
static void fail(restore_ctx *ctx, int code, const char *message)
{
	pthread_mutex_lock(&ctx->error_lock);
	if (!ctx->fatal_code) {
		ctx->fatal_code = code;
		snprintf(ctx->fatal_message, sizeof(ctx->fatal_message), "%s", message);
	}
	pthread_mutex_unlock(&ctx->error_lock);
	atomic_store(&ctx->stop, 1);
}

static void fail_errno(restore_ctx *ctx, int errnum, const char *what, const char *path)
{
	char message[1024];
	snprintf(message, sizeof(message), "restore: %s %s: %s", what, path && path[0] ? path : ".",
	         strerror(errnum));
	fail(ctx, errnum == EACCES || errnum == EPERM ? COFFER_EAUTH : COFFER_ERROR, message);
}

/* Takes the failing call's thread-local error. */
static void fail_last(restore_ctx *ctx, int code, const char *context)
{
	char message[1024];
	snprintf(message, sizeof(message), "%s: %s", context, coffer_error_last()->message);
	fail(ctx, code, message);
}

/* A file whose content is missing or damaged in the repository: reported, counted, and the
 * restore goes on with the others. */
static void damaged(restore_ctx *ctx, int code, const char *path, const char *message)
{
	char full[1024];
	snprintf(full, sizeof(full), "%s: %s", path && path[0] ? path : ".", message);
	pthread_mutex_lock(&ctx->error_lock);
	ctx->damaged_files++;
	if (!ctx->data_code) {
		ctx->data_code = code;
		snprintf(ctx->data_message, sizeof(ctx->data_message), "restore: %s", full);
	}
	pthread_mutex_unlock(&ctx->error_lock);
	emit(ctx, COFFER_EVENT_ERROR, path, message);
}

static int is_data_error(int code)
{
	return code == COFFER_ENOTFOUND || code == COFFER_ECORRUPT;
}

static void progress(restore_ctx *ctx, int force)
{
	if (!ctx->opts->on_event)
		return;
	int64_t now = now_ns();
	if (!force && now - ctx->last_progress_ns < RESTORE_PROGRESS_NS)
		return;
	ctx->last_progress_ns = now;
	coffer_snapshot_stats stats;
	memset(&stats, 0, sizeof(stats));
	stats.files = atomic_load(&ctx->files) + atomic_load(&ctx->hardlinks);
	stats.dirs = atomic_load(&ctx->dirs);
	stats.symlinks = atomic_load(&ctx->symlinks);
	stats.others = atomic_load(&ctx->others);
	stats.bytes = atomic_load(&ctx->bytes);
	pthread_mutex_lock(&ctx->error_lock);
	stats.errors = ctx->damaged_files;
	pthread_mutex_unlock(&ctx->error_lock);
	coffer_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = COFFER_EVENT_PROGRESS;
	ev.stats = &stats;
	ev.total_bytes = ctx->total_bytes;
	pthread_mutex_lock(&ctx->event_lock);
	ctx->opts->on_event(&ev, ctx->opts->event_ud);
	pthread_mutex_unlock(&ctx->event_lock);
}

/* ---- small filesystem helpers ---- */

static void temp_name(restore_ctx *ctx, char out[64])
{
	uint64_t n = atomic_fetch_add(&ctx->temp_counter, 1);
	snprintf(out, 64, "%s%llu", ctx->temp_prefix, (unsigned long long)n);
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
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

static int pwrite_all(int fd, const uint8_t *data, size_t len, uint64_t offset)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, data, len, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

static int block_is_zero(const uint8_t *p, size_t len)
{
	static const uint8_t zeros[RESTORE_SPARSE_BLOCK];
	return memcmp(p, zeros, len) == 0;
}

/* Writes only the non-zero blocks, leaving holes for the zero runs. */
static int write_sparse(int fd, const uint8_t *data, size_t len, uint64_t offset)
{
	size_t run_start = 0, i = 0;
	int in_run = 0;
	while (i < len) {
		size_t n = len - i < RESTORE_SPARSE_BLOCK ? len - i : RESTORE_SPARSE_BLOCK;
		int zero = block_is_zero(data + i, n);
		if (!zero && !in_run) {
			run_start = i;
			in_run = 1;
		} else if (zero && in_run) {
			if (pwrite_all(fd, data + run_start, i - run_start, offset + run_start) < 0)
				return -1;
			in_run = 0;
		}
		i += n;
	}
	if (in_run && pwrite_all(fd, data + run_start, len - run_start, offset + run_start) < 0)
		return -1;
	return 0;
}

/* Removes a file or a whole directory tree at parent_fd/name without following symlinks. */
static int remove_tree_at(restore_ctx *ctx, int parent_fd, const char *name, unsigned int depth)
{
	if (unlinkat(parent_fd, name, 0) == 0) {
		atomic_fetch_add(&ctx->deleted, 1);
		return 0;
	}
	if (errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth > RESTORE_MAX_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES && !ctx->as_root) {
		/* our own directory without read or search permission: open it up first */
		if (fchmodat(parent_fd, name, 0700, AT_SYMLINK_NOFOLLOW) < 0)
			return -1;
		fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	if (!ctx->as_root) {
		struct stat st;
		if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
			(void)fchmod(fd, (st.st_mode & 07777) | 0700);
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (remove_tree_at(ctx, dirfd(d), de->d_name, depth + 1) < 0) {
			rc = -1;
			break;
		}
		errno = 0;
	}
	int saved = errno;
	if (rc == 0 && saved != 0)
		rc = -1;
	closedir(d);
	if (rc < 0) {
		errno = saved;
		return -1;
	}
	if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0)
		return -1;
	atomic_fetch_add(&ctx->deleted, 1);
	return 0;
}

/* Puts temp in place of name, replacing what was there (a directory is removed first). */
static int replace_with(restore_ctx *ctx, int dir_fd, const char *temp, const char *name)
{
	if (renameat(dir_fd, temp, dir_fd, name) == 0)
		return 0;
	if (errno != EISDIR && errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR)
		return -1;
	if (remove_tree_at(ctx, dir_fd, name, 0) < 0)
		return -1;
	return renameat(dir_fd, temp, dir_fd, name);
}

/* lsetxattr needs a path: reach the entry through our directory descriptor in /proc, so
 * only the last component is looked up and it is not followed. */
static int set_xattrs_at(int dir_fd, const char *name, const coffer_xattr *xattrs, size_t count,
                         const char **failed)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dir_fd, name) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		*failed = count ? xattrs[0].name : "";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (lsetxattr(path, xattrs[i].name, xattrs[i].value, xattrs[i].value_len, 0) < 0) {
			*failed = xattrs[i].name;
			return -1;
		}
	}
	return 0;
}

static int set_xattrs_fd(int fd, const coffer_xattr *xattrs, size_t count, const char **failed)
{
	for (size_t i = 0; i < count; i++) {
		if (fsetxattr(fd, xattrs[i].name, xattrs[i].value, xattrs[i].value_len, 0) < 0) {
			*failed = xattrs[i].name;
			return -1;
		}
	}
	return 0;
}

/* ---- chunk cache for chunks that several files share ---- */

static cache_slot *cache_get(restore_ctx *ctx, const coffer_cid *id)
{
	cache_slot *found = NULL;
	pthread_mutex_lock(&ctx->cache_lock);
	for (size_t i = 0; i < RESTORE_CACHE_SLOTS; i++) {
		cache_slot *s = &ctx->cache[i];
		if (s->valid && memcmp(s->id.bytes, id->bytes, sizeof(id->bytes)) == 0) {
			s->refs++;
			s->stamp = ++ctx->cache_clock;
			found = s;
			break;
		}
	}
	pthread_mutex_unlock(&ctx->cache_lock);
	return found;
}

static void cache_release(restore_ctx *ctx, cache_slot *s)
{
	pthread_mutex_lock(&ctx->cache_lock);
	s->refs--;
	pthread_mutex_unlock(&ctx->cache_lock);
}

static void cache_put(restore_ctx *ctx, const coffer_cid *id, const uint8_t *data, size_t len)
{
	if (len > RESTORE_CACHE_BYTES / 4)
		return;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return;
	memcpy(copy, data, len);
	pthread_mutex_lock(&ctx->cache_lock);
	for (;;) {
		cache_slot *free_slot = NULL, *oldest = NULL;
		for (size_t i = 0; i < RESTORE_CACHE_SLOTS; i++) {
			cache_slot *s = &ctx->cache[i];
			if (s->valid && memcmp(s->id.bytes, id->bytes, sizeof(id->bytes)) == 0)
				goto done;  /* another worker cached it meanwhile */
			if (!s->valid) {
				if (!free_slot)
					free_slot = s;
			} else if (s->refs == 0 && (!oldest || s->stamp < oldest->stamp)) {
				oldest = s;
			}
		}
		if (free_slot && ctx->cache_bytes + len <= RESTORE_CACHE_BYTES) {
			free_slot->id = *id;
			free_slot->data = copy;
			free_slot->len = len;
			free_slot->refs = 0;
			free_slot->stamp = ++ctx->cache_clock;
			free_slot->valid = 1;
			ctx->cache_bytes += len;
			copy = NULL;
			break;
		}
		if (!oldest)
			break;  /* everything is in use: do not cache this one */
		free(oldest->data);
		ctx->cache_bytes -= oldest->len;
		memset(oldest, 0, sizeof(*oldest));
	}
done:
	pthread_mutex_unlock(&ctx->cache_lock);
	free(copy);
}

/* ---- the queue of files ---- */

static void dir_release(restore_dir *d)
{
	if (atomic_fetch_sub(&d->refs, 1) == 1) {
		close(d->fd);
		free(d);
	}
}

static void job_free(restore_job *job)
{
	if (job->dir)
		dir_release(job->dir);
	coffer_dirent_clear(&job->entry);
	free(job->path);
	free(job->repeated);
	free(job);
}

static void queue_push(restore_ctx *ctx, restore_job *job)
{
	pthread_mutex_lock(&ctx->queue_lock);
	while (ctx->queue_count == RESTORE_QUEUE_CAPACITY)
		pthread_cond_wait(&ctx->queue_not_full, &ctx->queue_lock);
	ctx->queue[(ctx->queue_head + ctx->queue_count) % RESTORE_QUEUE_CAPACITY] = job;
	ctx->queue_count++;
	pthread_cond_signal(&ctx->queue_not_empty);
	pthread_mutex_unlock(&ctx->queue_lock);
}

static restore_job *queue_pop(restore_ctx *ctx)
{
	restore_job *job = NULL;
	pthread_mutex_lock(&ctx->queue_lock);
	while (ctx->queue_count == 0 && !ctx->queue_closed)
		pthread_cond_wait(&ctx->queue_not_empty, &ctx->queue_lock);
	if (ctx->queue_count > 0) {
		job = ctx->queue[ctx->queue_head];
		ctx->queue_head = (ctx->queue_head + 1) % RESTORE_QUEUE_CAPACITY;
		ctx->queue_count--;
		pthread_cond_signal(&ctx->queue_not_full);
	}
	pthread_mutex_unlock(&ctx->queue_lock);
	return job;
}

static void queue_close(restore_ctx *ctx)
{
	pthread_mutex_lock(&ctx->queue_lock);
	ctx->queue_closed = 1;
	pthread_cond_broadcast(&ctx->queue_not_empty);
	pthread_mutex_unlock(&ctx->queue_lock);
}

/* ---- regular files (workers) ---- */

/* The plaintext of one chunk: from the cache when another file used it recently. */
static int fetch_chunk(restore_ctx *ctx, const coffer_cid *id, int repeated, coffer_buf *buf,
                       const uint8_t **data, size_t *len, cache_slot **held)
{
	*held = NULL;
	if (repeated) {
		cache_slot *s = cache_get(ctx, id);
		if (s) {
			*held = s;
			*data = s->data;
			*len = s->len;
			return 0;
		}
	}
	buf->len = 0;
	int rc = coffer_store_read(ctx->repo, id, buf);
	if (rc < 0)
		return rc;
	if (repeated)
		cache_put(ctx, id, buf->data, buf->len);
	*data = buf->data;
	*len = buf->len;
	return 0;
}

/* Owner, xattrs, mode and times of a file we hold open (owner first: chown clears setuid). */
static void apply_file_metadata(restore_ctx *ctx, int fd, const coffer_dirent *e, const char *path)
{
	if (ctx->do_chown && fchown(fd, e->uid, e->gid) < 0)
		warn(ctx, path, errno, "cannot set owner %u:%u", e->uid, e->gid);
	const char *failed = NULL;
	if (e->xattr_count && set_xattrs_fd(fd, e->xattrs, e->xattr_count, &failed) < 0)
		warn(ctx, path, errno, "cannot set extended attribute %s", failed);
	if (fchmod(fd, e->mode & 07777) < 0)
		warn(ctx, path, errno, "cannot set mode %o", e->mode & 07777);
	struct timespec times[2];
	times[0].tv_sec = 0;
	times[0].tv_nsec = UTIME_OMIT;
	times[1] = ns_to_timespec(e->mtime_ns);
	if (futimens(fd, times) < 0)
		warn(ctx, path, errno, "cannot set modification time");
}

static void restore_file(restore_ctx *ctx, restore_job *job, coffer_buf *buf)
{
	const coffer_dirent *e = &job->entry;
	int dir_fd = job->dir->fd;
	char temp[64];
	int fd;
	for (;;) {
		temp_name(ctx, temp);
		fd = openat(dir_fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		fail_errno(ctx, errno, "creating", job->path);
		return;
	}
	int sparse = (e->flags & COFFER_DIRENT_SPARSE) != 0;
	uint64_t position = 0;
	char message[512];
	for (size_t i = 0; i < e->content.count; i++) {
		if (atomic_load(&ctx->stop))
			goto discard;
		const uint8_t *data;
		size_t len;
		cache_slot *held;
		int rc = fetch_chunk(ctx, &e->content.chunks[i], job->repeated && job->repeated[i], buf,
		                     &data, &len, &held);
		if (rc < 0) {
			if (is_data_error(rc)) {
				damaged(ctx, rc, job->path, coffer_error_last()->message);
			} else {
				snprintf(message, sizeof(message), "restore: reading %s", job->path);
				fail_last(ctx, rc, message);
			}
			goto discard;
		}
		if (len != e->content.sizes[i] || len > e->size - position) {
			if (held)
				cache_release(ctx, held);
			snprintf(message, sizeof(message),
			         "chunk %zu holds %zu bytes where the listing says %u (file size %llu)", i,
			         len, e->content.sizes[i], (unsigned long long)e->size);
			damaged(ctx, COFFER_ECORRUPT, job->path, message);
			goto discard;
		}
		int wrc = sparse ? write_sparse(fd, data, len, position) : write_all(fd, data, len);
		int saved = errno;
		if (held)
			cache_release(ctx, held);
		if (wrc < 0) {
			fail_errno(ctx, saved, "writing", job->path);
			goto discard;
		}
		position += len;
	}
	if (position != e->size) {
		snprintf(message, sizeof(message), "content is %llu bytes where the listing says %llu",
		         (unsigned long long)position, (unsigned long long)e->size);
		damaged(ctx, COFFER_ECORRUPT, job->path, message);
		goto discard;
	}
	if (sparse && ftruncate(fd, (off_t)e->size) < 0) {
		fail_errno(ctx, errno, "writing", job->path);
		goto discard;
	}
	apply_file_metadata(ctx, fd, e, job->path);
	if (close(fd) < 0) {
		fd = -1;
		fail_errno(ctx, errno, "writing", job->path);
		goto discard;
	}
	fd = -1;
	if (replace_with(ctx, dir_fd, temp, e->name) < 0) {
		fail_errno(ctx, errno, "putting in place", job->path);
		goto discard;
	}
	atomic_fetch_add(&ctx->files, 1);
	atomic_fetch_add(&ctx->bytes, e->size);
	if (job->restored)
		atomic_store(job->restored, 1);
	return;
discard:
	if (fd >= 0)
		close(fd);
	unlinkat(dir_fd, temp, 0);
}

static void *worker_main(void *arg)
{
	restore_ctx *ctx = arg;
	coffer_buf buf = COFFER_BUF_INIT;
	restore_job *job;
	while ((job = queue_pop(ctx)) != NULL) {
		if (!atomic_load(&ctx->stop))
			restore_file(ctx, job, &buf);
		job_free(job);
	}
	coffer_buf_free(&buf);
	return NULL;
}

/* ---- the walk (calling thread) ---- */

typedef struct walk_path {
	char *data;
	size_t len, cap;
} walk_path;

/* Appends "/name" (or "name" at the top); returns the previous length to pop back to. */
static size_t path_push(walk_path *p, const char *name, size_t name_len)
{
	size_t old = p->len;
	size_t need = p->len + 1 + name_len + 1;
	if (need > p->cap) {
		size_t cap = p->cap ? p->cap : 256;
		while (cap < need)
			cap *= 2;
		char *data = realloc(p->data, cap);
		if (!data)
			abort();  /* a path of a few KiB: out of memory is beyond recovery here */
		p->data = data;
		p->cap = cap;
	}
	if (p->len)
		p->data[p->len++] = '/';
	memcpy(p->data + p->len, name, name_len);
	p->len += name_len;
	p->data[p->len] = '\0';
	return old;
}

static void path_pop(walk_path *p, size_t old)
{
	p->len = old;
	if (p->data)
		p->data[old] = '\0';
}

static coffer_cid hardlink_key(uint64_t group)
{
	coffer_cid key;
	memset(&key, 0, sizeof(key));
	uint64_t h = group;  /* splitmix64 finaliser: spreads sequential group numbers */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	memcpy(key.bytes, &h, sizeof(h));
	memcpy(key.bytes + 8, &group, sizeof(group));
	return key;
}

static int add_record(restore_ctx *ctx, size_t parent, const char *name, uint32_t depth,
                      coffer_dirent *meta, size_t *out)
{
	if (ctx->record_count == ctx->record_cap) {
		size_t cap = ctx->record_cap ? ctx->record_cap * 2 : 256;
		dir_record *r = realloc(ctx->records, cap * sizeof(*r));
		if (!r)
			return coffer_error_set(COFFER_ENOMEM, "out of memory");
		ctx->records = r;
		ctx->record_cap = cap;
	}
	dir_record *r = &ctx->records[ctx->record_count];
	memset(r, 0, sizeof(*r));
	r->parent = parent;
	r->depth = depth;
	r->name = strdup(name);
	if (!r->name)
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	if (meta) {
		r->has_meta = 1;
		r->mode = meta->mode;
		r->uid = meta->uid;
		r->gid = meta->gid;
		r->mtime_ns = meta->mtime_ns;
		/* taken over from the listing entry */
		r->xattrs = meta->xattrs;
		r->xattr_count = meta->xattr_count;
		meta->xattrs = NULL;
		meta->xattr_count = 0;
	}
	*out = ctx->record_count++;
	return 0;
}

/* Creates or reuses the directory parent_fd/name and opens it without following symlinks;
 * whatever else has that name is removed first. */
static int make_directory(restore_ctx *ctx, int parent_fd, const char *name, const char *path)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int created = mkdirat(parent_fd, name, 0700) == 0;
		if (!created && errno != EEXIST) {
			fail_errno(ctx, errno, "creating directory", path);
			return -1;
		}
		int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == EACCES && !created && !ctx->as_root &&
		    fchmodat(parent_fd, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
			fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			if (!created && !ctx->as_root) {
				/* an existing directory we may not be able to fill yet */
				struct stat st;
				if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
					(void)fchmod(fd, (st.st_mode & 07777) | 0700);
			}
			return fd;
		}
		if (created || (errno != ENOTDIR && errno != ELOOP)) {
			fail_errno(ctx, errno, "opening directory", path);
			return -1;
		}
		/* a file or symlink stands where the directory goes: replace it, never follow it */
		if (remove_tree_at(ctx, parent_fd, name, 0) < 0) {
			fail_errno(ctx, errno, "removing", path);
			return -1;
		}
	}
	fail_errno(ctx, EEXIST, "creating directory", path);
	return -1;
}

/* Removes what the destination directory holds beyond the listing (delete_extra). */
static int delete_extra(restore_ctx *ctx, int dir_fd, const coffer_dir *listing, int top,
                        walk_path *path)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fail_errno(ctx, errno, "listing", path->data);
		return -1;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		fail_errno(ctx, errno, "listing", path->data);
		close(fd);
		return -1;
	}
	char **extra = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || (top && strcmp(n, "lost+found") == 0) ||
		    coffer_restore_find_name(listing, n, strlen(n)) >= 0) {
			errno = 0;
			continue;
		}
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			char **bigger = realloc(extra, cap * sizeof(*bigger));
			if (!bigger)
				abort();
			extra = bigger;
		}
		extra[count] = strdup(n);
		if (!extra[count])
			abort();
		count++;
		errno = 0;
	}
	if (errno) {
		fail_errno(ctx, errno, "listing", path->data);
		rc = -1;
	}
	closedir(d);
	for (size_t i = 0; i < count; i++) {
		if (rc == 0 && remove_tree_at(ctx, dir_fd, extra[i], 0) < 0) {
			size_t old = path_push(path, extra[i], strlen(extra[i]));
			fail_errno(ctx, errno, "removing", path->data);
			path_pop(path, old);
			rc = -1;
		}
		free(extra[i]);
	}
	free(extra);
	return rc;
}

/* Owner, xattrs, mode and times of a symlink or special file, by name in dir_fd. */
static void apply_node_metadata(restore_ctx *ctx, int dir_fd, const char *name, const coffer_dirent *e,
                                const char *path)
{
	if (ctx->do_chown && fchownat(dir_fd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		warn(ctx, path, errno, "cannot set owner %u:%u", e->uid, e->gid);
	const char *failed = NULL;
	if (e->xattr_count && set_xattrs_at(dir_fd, name, e->xattrs, e->xattr_count, &failed) < 0)
		warn(ctx, path, errno, "cannot set extended attribute %s", failed);
	if (e->type != COFFER_ENTRY_SYMLINK &&
	    fchmodat(dir_fd, name, e->mode & 07777, AT_SYMLINK_NOFOLLOW) < 0)
		warn(ctx, path, errno, "cannot set mode %o", e->mode & 07777);
	struct timespec times[2];
	times[0].tv_sec = 0;
	times[0].tv_nsec = UTIME_OMIT;
	times[1] = ns_to_timespec(e->mtime_ns);
	if (utimensat(dir_fd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
		warn(ctx, path, errno, "cannot set modification time");
}

static int create_node(int dir_fd, const char *name, const coffer_dirent *e)
{
	switch (e->type) {
	case COFFER_ENTRY_SYMLINK:
		return symlinkat(e->link_target, dir_fd, name);
	case COFFER_ENTRY_FIFO:
		return mkfifoat(dir_fd, name, 0600);
	case COFFER_ENTRY_CHARDEV:
		return mknodat(dir_fd, name, S_IFCHR | 0600, (dev_t)e->rdev);
	case COFFER_ENTRY_BLOCKDEV:
		return mknodat(dir_fd, name, S_IFBLK | 0600, (dev_t)e->rdev);
	case COFFER_ENTRY_SOCKET:
		return mknodat(dir_fd, name, S_IFSOCK | 0600, 0);
	default:
		errno = EINVAL;
		return -1;
	}
}

/* Symlinks, fifos, devices and sockets: created in place, or under a temporary name and
 * renamed over whatever the destination holds. Returns 1 when created. */
static int restore_node(restore_ctx *ctx, int dir_fd, coffer_dirent *e, const char *path)
{
	if (e->type == COFFER_ENTRY_SYMLINK && (!e->link_target || !e->link_target[0])) {
		warn(ctx, path, 0, "symlink without a target: skipped");
		return 0;
	}
	if ((e->type == COFFER_ENTRY_CHARDEV || e->type == COFFER_ENTRY_BLOCKDEV) && !ctx->as_root) {
		warn(ctx, path, 0, "device node not restored: only root can create it");
		return 0;
	}
	const char *name = e->name;
	char temp[64];
	if (create_node(dir_fd, name, e) < 0) {
		if (errno == EPERM && e->type != COFFER_ENTRY_SYMLINK) {
			warn(ctx, path, errno, "special file not restored");
			return 0;
		}
		if (errno != EEXIST) {
			fail_errno(ctx, errno, "creating", path);
			return -1;
		}
		for (;;) {
			temp_name(ctx, temp);
			if (create_node(dir_fd, temp, e) == 0)
				break;
			if (errno != EEXIST) {
				fail_errno(ctx, errno, "creating", path);
				return -1;
			}
		}
		name = temp;
	}
	apply_node_metadata(ctx, dir_fd, name, e, path);
	if (name == temp && replace_with(ctx, dir_fd, temp, e->name) < 0) {
		fail_errno(ctx, errno, "putting in place", path);
		unlinkat(dir_fd, temp, 0);
		return -1;
	}
	return 1;
}

static int note_pending_link(restore_ctx *ctx, uint64_t group, size_t record, const char *name,
                             const char *path)
{
	if (ctx->link_count == ctx->link_cap) {
		size_t cap = ctx->link_cap ? ctx->link_cap * 2 : 64;
		pending_link *l = realloc(ctx->links, cap * sizeof(*l));
		if (!l)
			return coffer_error_set(COFFER_ENOMEM, "out of memory");
		ctx->links = l;
		ctx->link_cap = cap;
	}
	pending_link *l = &ctx->links[ctx->link_count];
	l->group = group;
	l->record = record;
	l->name = strdup(name);
	l->path = strdup(path);
	if (!l->name || !l->path) {
		free(l->name);
		free(l->path);
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	}
	ctx->link_count++;
	return 0;
}

/* Marks the chunks of a file that this restore used before, so workers consult the cache. */
static uint8_t *mark_repeated_chunks(restore_ctx *ctx, const coffer_object *content)
{
	uint8_t *repeated = NULL;
	for (size_t i = 0; i < content->count; i++) {
		int created = 0;
		const void *rec;
		if (ctx->seen.count < RESTORE_SEEN_MAX)
			rec = coffer_cid_table_insert(&ctx->seen, &content->chunks[i], &created);
		else
			rec = coffer_cid_table_find(&ctx->seen, &content->chunks[i]);
		if (rec && !created) {
			if (!repeated)
				repeated = calloc(content->count, 1);
			if (!repeated)
				return NULL;
			repeated[i] = 1;
		}
	}
	return repeated;
}

static int walk_directory(restore_ctx *ctx, restore_dir *dir, size_t record, coffer_dir *listing,
                          walk_path *path, uint32_t depth);

static void walk_subdirectory(restore_ctx *ctx, restore_dir *dir, size_t record, coffer_dirent *e,
                              walk_path *path, uint32_t depth)
{
	if (depth >= RESTORE_MAX_DEPTH) {
		char message[512];
		snprintf(message, sizeof(message), "restore: %s: directories nested deeper than %d levels",
		         path->data, RESTORE_MAX_DEPTH);
		fail(ctx, COFFER_EUNSUPPORTED, message);
		return;
	}
	coffer_dir child;
	memset(&child, 0, sizeof(child));
	int rc = coffer_dir_load(ctx->repo, &e->content, &child);
	if (rc < 0) {
		if (is_data_error(rc)) {
			char message[1024];
			snprintf(message, sizeof(message), "directory listing unreadable: %s",
			         coffer_error_last()->message);
			damaged(ctx, rc, path->data, message);
		} else {
			char context[512];
			snprintf(context, sizeof(context), "restore: reading directory %s", path->data);
			fail_last(ctx, rc, context);
		}
		return;
	}
	int fd = make_directory(ctx, dir->fd, e->name, path->data);
	if (fd < 0) {
		coffer_dir_clear(&child);
		return;
	}
	size_t child_record;
	if (add_record(ctx, record, e->name, depth + 1, e, &child_record) < 0) {
		fail_last(ctx, COFFER_ENOMEM, "restore");
		close(fd);
		coffer_dir_clear(&child);
		return;
	}
	atomic_fetch_add(&ctx->dirs, 1);
	restore_dir *node = malloc(sizeof(*node));
	if (!node) {
		fail(ctx, COFFER_ENOMEM, "restore: out of memory");
		close(fd);
		coffer_dir_clear(&child);
		return;
	}
	node->fd = fd;
	atomic_init(&node->refs, 1);
	if (!ctx->opts->delete_extra || delete_extra(ctx, fd, &child, 0, path) == 0)
		walk_directory(ctx, node, child_record, &child, path, depth + 1);
	dir_release(node);
	coffer_dir_clear(&child);
}

static int walk_directory(restore_ctx *ctx, restore_dir *dir, size_t record, coffer_dir *listing,
                          walk_path *path, uint32_t depth)
{
	for (size_t i = 0; i < listing->count && !atomic_load(&ctx->stop); i++) {
		coffer_dirent *e = &listing->entries[i];
		atomic_int *restored = NULL;
		size_t old = path_push(path, e->name ? e->name : "", e->name ? e->name_len : 0);
		if (!e->name || strlen(e->name) != e->name_len || !coffer_restore_name_is_safe(e->name, e->name_len)) {
			char message[1024];
			snprintf(message, sizeof(message),
			         "restore: refusing an unsafe name in directory %s (entry %zu)",
			         record == 0 && path->len == 0 ? "." : path->data, i);
			fail(ctx, COFFER_ECORRUPT, message);
			path_pop(path, old);
			break;
		}
		progress(ctx, 0);
		if (e->type == COFFER_ENTRY_DIR) {
			walk_subdirectory(ctx, dir, record, e, path, depth);
			path_pop(path, old);
			continue;
		}
		if (e->hardlink_group) {
			coffer_cid key = hardlink_key(e->hardlink_group);
			hardlink_first *first = coffer_cid_table_find(&ctx->hardlink_firsts, &key);
			if (first) {
				if (note_pending_link(ctx, e->hardlink_group, record, e->name, path->data) < 0)
					fail_last(ctx, COFFER_ENOMEM, "restore");
				path_pop(path, old);
				continue;
			}
			int created;
			first = coffer_cid_table_insert(&ctx->hardlink_firsts, &key, &created);
			if (!first || !(first->name = strdup(e->name)) ||
			    !(first->restored = calloc(1, sizeof(*first->restored)))) {
				fail(ctx, COFFER_ENOMEM, "restore: out of memory");
				path_pop(path, old);
				break;
			}
			first->record = record;
			restored = first->restored;
		}
		switch (e->type) {
		case COFFER_ENTRY_FILE: {
			restore_job *job = calloc(1, sizeof(*job));
			if (!job || !(job->path = strdup(path->data))) {
				free(job);
				fail(ctx, COFFER_ENOMEM, "restore: out of memory");
				break;
			}
			job->repeated = mark_repeated_chunks(ctx, &e->content);
			job->restored = restored;
			coffer_restore_take_entry(listing, i, &job->entry);
			atomic_fetch_add(&dir->refs, 1);
			job->dir = dir;
			queue_push(ctx, job);
			break;
		}
		case COFFER_ENTRY_SYMLINK:
		case COFFER_ENTRY_FIFO:
		case COFFER_ENTRY_CHARDEV:
		case COFFER_ENTRY_BLOCKDEV:
		case COFFER_ENTRY_SOCKET:
			if (restore_node(ctx, dir->fd, e, path->data) > 0) {
				atomic_fetch_add(e->type == COFFER_ENTRY_SYMLINK ? &ctx->symlinks : &ctx->others, 1);
				if (restored)
					atomic_store(restored, 1);
			}
			break;
		default:
			warn(ctx, path->data, 0, "entry of unknown type %d: skipped", (int)e->type);
			break;
		}
		path_pop(path, old);
	}
	return atomic_load(&ctx->stop) ? -1 : 0;
}

/* ---- after the walk: hardlinks and directory metadata ---- */

/* Opens the directory of a record by walking down from the destination, reusing what is
 * already open from the previous call. The descriptor stays owned by the chain. */
static int chain_open(restore_ctx *ctx, size_t record)
{
	const dir_record *r = &ctx->records[record];
	size_t want = (size_t)r->depth + 1;
	/* ancestors, root first */
	size_t ancestors[RESTORE_MAX_DEPTH + 2];
	size_t k = record;
	for (size_t i = want; i-- > 0;) {
		ancestors[i] = k;
		k = ctx->records[k].parent;
	}
	size_t common = 0;
	while (common < ctx->chain_len && common < want && ctx->chain_records[common] == ancestors[common])
		common++;
	while (ctx->chain_len > common) {
		ctx->chain_len--;
		if (ctx->chain_len > 0)
			close(ctx->chain_fds[ctx->chain_len]);
	}
	if (ctx->chain_len == 0) {
		ctx->chain_fds[0] = ctx->dest_fd;
		ctx->chain_records[0] = 0;
		ctx->chain_len = 1;
	}
	while (ctx->chain_len < want) {
		size_t next = ancestors[ctx->chain_len];
		int fd = openat(ctx->chain_fds[ctx->chain_len - 1], ctx->records[next].name,
		                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -1;
		ctx->chain_fds[ctx->chain_len] = fd;
		ctx->chain_records[ctx->chain_len] = next;
		ctx->chain_len++;
	}
	return ctx->chain_fds[want - 1];
}

static void chain_close(restore_ctx *ctx)
{
	while (ctx->chain_len > 1)
		close(ctx->chain_fds[--ctx->chain_len]);
	ctx->chain_len = 0;
}

/* The snapshot-relative path of a directory record, for messages. */
static void record_path(const restore_ctx *ctx, size_t record, char *out, size_t cap)
{
	size_t stack[64], n = 0;
	size_t len = (size_t)snprintf(out, cap, "%s", ctx->prefix);
	if (len >= cap)
		len = cap - 1;
	for (size_t k = record; k != 0 && k != SIZE_MAX && n < 64; k = ctx->records[k].parent)
		stack[n++] = k;
	while (n-- > 0) {
		int w = snprintf(out + len, cap - len, "%s%s", len ? "/" : "", ctx->records[stack[n]].name);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
	if (!out[0])
		snprintf(out, cap, ".");
}

static void make_links(restore_ctx *ctx)
{
	for (size_t i = 0; i < ctx->link_count && !atomic_load(&ctx->stop); i++) {
		pending_link *l = &ctx->links[i];
		coffer_cid key = hardlink_key(l->group);
		const hardlink_first *first = coffer_cid_table_find(&ctx->hardlink_firsts, &key);
		if (!atomic_load(first->restored)) {
			/* its content could not be written (reported) or the entry was skipped (warned) */
			warn(ctx, l->path, 0, "hardlink not restored: the entry it shares its inode with was not");
			continue;
		}
		int src = chain_open(ctx, first->record);
		if (src < 0 || (src = dup(src)) < 0) {
			fail_errno(ctx, errno, "opening the directory of the hardlink", l->path);
			return;
		}
		int dst = chain_open(ctx, l->record);
		if (dst < 0) {
			fail_errno(ctx, errno, "opening the directory of", l->path);
			close(src);
			return;
		}
		int rc = linkat(src, first->name, dst, l->name, 0);
		if (rc < 0 && errno == EEXIST) {
			struct stat a, b;
			if (fstatat(src, first->name, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
			    fstatat(dst, l->name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
			    a.st_ino == b.st_ino) {
				rc = 0;  /* already this very file */
			} else {
				char temp[64];
				do {
					temp_name(ctx, temp);
					rc = linkat(src, first->name, dst, temp, 0);
				} while (rc < 0 && errno == EEXIST);
				if (rc == 0 && (rc = replace_with(ctx, dst, temp, l->name)) < 0) {
					int saved = errno;
					unlinkat(dst, temp, 0);
					errno = saved;
				}
			}
		}
		if (rc < 0) {
			if (errno == EPERM || errno == EMLINK || errno == EXDEV) {
				warn(ctx, l->path, errno, "hardlink not restored");
			} else {
				fail_errno(ctx, errno, "linking", l->path);
			}
		} else {
			atomic_fetch_add(&ctx->hardlinks, 1);
		}
		close(src);
	}
}

static void finish_directories(restore_ctx *ctx)
{
	char path[PATH_MAX];
	for (size_t i = ctx->record_count; i-- > 0 && !atomic_load(&ctx->stop);) {
		const dir_record *r = &ctx->records[i];
		if (!r->has_meta)
			continue;
		int fd = chain_open(ctx, i);
		if (fd < 0) {
			record_path(ctx, i, path, sizeof(path));
			warn(ctx, path, errno, "cannot open directory to set its metadata");
			continue;
		}
		/* owner first (chown may clear setgid), mode after xattrs (ACLs touch it), times last */
		const char *failed = NULL;
		if (ctx->do_chown && fchown(fd, r->uid, r->gid) < 0) {
			record_path(ctx, i, path, sizeof(path));
			warn(ctx, path, errno, "cannot set owner %u:%u", r->uid, r->gid);
		}
		if (r->xattr_count && set_xattrs_fd(fd, r->xattrs, r->xattr_count, &failed) < 0) {
			record_path(ctx, i, path, sizeof(path));
			warn(ctx, path, errno, "cannot set extended attribute %s", failed);
		}
		if (fchmod(fd, r->mode & 07777) < 0) {
			record_path(ctx, i, path, sizeof(path));
			warn(ctx, path, errno, "cannot set mode %o", r->mode & 07777);
		}
		struct timespec times[2];
		times[0].tv_sec = 0;
		times[0].tv_nsec = UTIME_OMIT;
		times[1] = ns_to_timespec(r->mtime_ns);
		if (futimens(fd, times) < 0) {
			record_path(ctx, i, path, sizeof(path));
			warn(ctx, path, errno, "cannot set modification time");
		}
	}
	chain_close(ctx);
}

/* ---- entry point ---- */

static int open_destination(const char *dest)
{
	int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOTDIR)
		return coffer_error_set(COFFER_EINVALID, "restore: %s is not a directory", dest);
	if (errno != ENOENT)
		return coffer_error_set_errno(errno == EACCES ? COFFER_EAUTH : COFFER_ERROR, errno,
		                              "restore: opening %s", dest);
	/* create it, with any missing parents */
	char *copy = strdup(dest);
	if (!copy)
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
			int saved = errno;
			int rc = coffer_error_set_errno(COFFER_ERROR, saved, "restore: creating %s", copy);
			free(copy);
			return rc;
		}
		*p = '/';
	}
	free(copy);
	if (mkdir(dest, 0755) < 0 && errno != EEXIST)
		return coffer_error_set_errno(COFFER_ERROR, errno, "restore: creating %s", dest);
	fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return coffer_error_set_errno(errno == ENOTDIR ? COFFER_EINVALID : COFFER_ERROR, errno,
		                              "restore: opening %s", dest);
	return fd;
}

static unsigned int worker_count(const coffer_repo *repo, const coffer_restore_options *opts)
{
	if (opts->parallelism)
		return opts->parallelism > 256 ? 256 : opts->parallelism;
	/* file creation waits on the filesystem as much as on the CPU: use more workers than
	 * cores (measured in docs/FORMAT.md) */
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int n = cores > 0 ? (unsigned int)cores * 2 : 4;
	if (repo->parallelism && repo->parallelism * 2 > n)
		n = repo->parallelism * 2;
	return n < 4 ? 4 : n > 64 ? 64 : n;
}

static void ctx_free(restore_ctx *ctx)
{
	for (size_t i = 0; i < ctx->record_count; i++) {
		free(ctx->records[i].name);
		for (size_t j = 0; j < ctx->records[i].xattr_count; j++) {
			coffer_free(ctx->records[i].xattrs[j].name);
			coffer_free(ctx->records[i].xattrs[j].value);
		}
		coffer_free(ctx->records[i].xattrs);
	}
	free(ctx->records);
	for (size_t i = 0; i < ctx->hardlink_firsts.capacity; i++) {
		hardlink_first *f = coffer_cid_table_slot(&ctx->hardlink_firsts, i);
		if (f) {
			free(f->name);
			free(f->restored);
		}
	}
	coffer_cid_table_free(&ctx->hardlink_firsts);
	for (size_t i = 0; i < ctx->link_count; i++) {
		free(ctx->links[i].name);
		free(ctx->links[i].path);
	}
	free(ctx->links);
	coffer_cid_table_free(&ctx->seen);
	for (size_t i = 0; i < RESTORE_CACHE_SLOTS; i++)
		free(ctx->cache[i].data);
	free(ctx->chain_fds);
	free(ctx->chain_records);
	pthread_mutex_destroy(&ctx->queue_lock);
	pthread_cond_destroy(&ctx->queue_not_empty);
	pthread_cond_destroy(&ctx->queue_not_full);
	pthread_mutex_destroy(&ctx->error_lock);
	pthread_mutex_destroy(&ctx->event_lock);
	pthread_mutex_destroy(&ctx->cache_lock);
}

/* The listing DEST receives and the metadata DEST itself gets: a directory's own listing,
 * or a one-entry listing for anything else. */
static int prepare_top(coffer_repo *repo, const coffer_manifest *m, const char *subpath,
                       coffer_dir *top, coffer_dirent *top_meta, int *has_meta, char **prefix)
{
	coffer_dirent entry;
	char *normalized = NULL;
	int rc = coffer_restore_resolve(repo, m, subpath, &entry, &normalized);
	if (rc < 0)
		return rc;
	memset(top, 0, sizeof(*top));
	memset(top_meta, 0, sizeof(*top_meta));
	if (entry.type == COFFER_ENTRY_DIR) {
		rc = coffer_dir_load(repo, &entry.content, top);
		if (rc < 0) {
			coffer_error_wrap("reading directory /%s of the snapshot", normalized);
			coffer_dirent_clear(&entry);
			coffer_free(normalized);
			return rc;
		}
		*top_meta = entry;
		*has_meta = 1;
		*prefix = normalized;
		return 0;
	}
	top->entries = coffer_calloc(1, sizeof(*top->entries));
	if (!top->entries) {
		coffer_dirent_clear(&entry);
		coffer_free(normalized);
		return COFFER_ENOMEM;
	}
	top->entries[0] = entry;
	top->count = 1;
	*has_meta = 0;
	/* messages name entries relative to the snapshot root: keep the parent part */
	char *slash = strrchr(normalized, '/');
	if (slash)
		*slash = '\0';
	else
		normalized[0] = '\0';
	*prefix = normalized;
	return 0;
}

int coffer_restore(coffer_repo *repo, const char *snapshot_id, const coffer_restore_options *opts,
                   coffer_restore_stats *stats)
{
	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (!repo || !opts)
		return coffer_error_set(COFFER_EINVALID, "restore: no repository or options");
	if (opts->version == 0 || opts->version > COFFER_RESTORE_OPTIONS_VERSION)
		return coffer_error_set(COFFER_EUNSUPPORTED,
		                        "restore: options version %u is not supported (this library: %u)",
		                        opts->version, COFFER_RESTORE_OPTIONS_VERSION);
	if (!opts->dest || !opts->dest[0])
		return coffer_error_set(COFFER_EINVALID, "restore: no destination given");

	/* everything that can fail in the repository is read before the destination changes */
	coffer_manifest manifest;
	int rc = coffer_restore_load_manifest(repo, snapshot_id, &manifest);
	if (rc < 0)
		return rc;
	coffer_dir top;
	coffer_dirent top_meta;
	int top_has_meta = 0;
	char *prefix = NULL;
	rc = prepare_top(repo, &manifest, opts->subpath, &top, &top_meta, &top_has_meta, &prefix);
	uint64_t total_bytes = manifest.info.stats.bytes;
	coffer_manifest_clear(&manifest);
	if (rc < 0)
		return rc;
	int dest_fd = open_destination(opts->dest);
	if (dest_fd < 0) {
		coffer_dir_clear(&top);
		coffer_dirent_clear(&top_meta);
		coffer_free(prefix);
		return dest_fd;
	}

	restore_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		close(dest_fd);
		coffer_dir_clear(&top);
		coffer_dirent_clear(&top_meta);
		coffer_free(prefix);
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	}
	ctx->repo = repo;
	ctx->opts = opts;
	ctx->dest_fd = dest_fd;
	ctx->as_root = geteuid() == 0;
	ctx->do_chown = ctx->as_root && !opts->no_owner;
	ctx->prefix = prefix;
	ctx->total_bytes = opts->subpath && opts->subpath[0] ? 0 : total_bytes;
	pthread_mutex_init(&ctx->queue_lock, NULL);
	pthread_cond_init(&ctx->queue_not_empty, NULL);
	pthread_cond_init(&ctx->queue_not_full, NULL);
	pthread_mutex_init(&ctx->error_lock, NULL);
	pthread_mutex_init(&ctx->event_lock, NULL);
	pthread_mutex_init(&ctx->cache_lock, NULL);
	uint8_t random[8] = { 0 };
	if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random)) {
		uint64_t t = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
		memcpy(random, &t, sizeof(random));
	}
	snprintf(ctx->temp_prefix, sizeof(ctx->temp_prefix), ".coffer-%02x%02x%02x%02x%02x%02x-",
	         random[0], random[1], random[2], random[3], random[4], random[5]);
	ctx->chain_fds = malloc((RESTORE_MAX_DEPTH + 2) * sizeof(*ctx->chain_fds));
	ctx->chain_records = malloc((RESTORE_MAX_DEPTH + 2) * sizeof(*ctx->chain_records));
	size_t root_record = 0;
	if (!ctx->chain_fds || !ctx->chain_records ||
	    coffer_cid_table_init(&ctx->seen, sizeof(coffer_cid), 1024) < 0 ||
	    coffer_cid_table_init(&ctx->hardlink_firsts, sizeof(hardlink_first), 64) < 0 ||
	    add_record(ctx, SIZE_MAX, "", 0, top_has_meta ? &top_meta : NULL, &root_record) < 0) {
		rc = coffer_error_set(COFFER_ENOMEM, "out of memory");
		ctx_free(ctx);
		free(ctx);
		close(dest_fd);
		coffer_dir_clear(&top);
		coffer_dirent_clear(&top_meta);
		coffer_free(prefix);
		return rc;
	}

	walk_path path = { NULL, 0, 0 };
	path_push(&path, "", 0);
	if (prefix[0])
		path_push(&path, prefix, strlen(prefix));

	unsigned int nworkers = worker_count(repo, opts);
	pthread_t *threads = calloc(nworkers, sizeof(*threads));
	unsigned int started = 0;
	if (threads) {
		for (; started < nworkers; started++) {
			if (pthread_create(&threads[started], NULL, worker_main, ctx) != 0)
				break;
		}
	}
	if (started == 0) {
		fail(ctx, COFFER_ERROR, "restore: cannot start worker threads");
	} else {
		restore_dir *root = malloc(sizeof(*root));
		int root_fd = root ? dup(dest_fd) : -1;
		if (!root || root_fd < 0) {
			free(root);
			fail(ctx, COFFER_ERROR, "restore: out of memory or descriptors");
		} else {
			root->fd = root_fd;
			atomic_init(&root->refs, 1);
			if (!opts->delete_extra || delete_extra(ctx, dest_fd, &top, 1, &path) == 0)
				walk_directory(ctx, root, root_record, &top, &path, 0);
			dir_release(root);
		}
	}
	queue_close(ctx);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	free(path.data);

	if (!atomic_load(&ctx->stop))
		make_links(ctx);
	if (!atomic_load(&ctx->stop))
		finish_directories(ctx);
	progress(ctx, 1);

	if (stats) {
		stats->files = atomic_load(&ctx->files);
		stats->dirs = atomic_load(&ctx->dirs);
		stats->symlinks = atomic_load(&ctx->symlinks);
		stats->hardlinks = atomic_load(&ctx->hardlinks);
		stats->others = atomic_load(&ctx->others);
		stats->bytes = atomic_load(&ctx->bytes);
		stats->deleted = atomic_load(&ctx->deleted);
	}
	if (ctx->fatal_code) {
		rc = coffer_error_set(ctx->fatal_code, "%s", ctx->fatal_message);
	} else if (ctx->data_code) {
		if (ctx->damaged_files > 1)
			rc = coffer_error_set(ctx->data_code, "%s (and %llu more damaged files)", ctx->data_message,
			                      (unsigned long long)(ctx->damaged_files - 1));
		else
			rc = coffer_error_set(ctx->data_code, "%s", ctx->data_message);
	} else {
		rc = 0;
	}
	ctx_free(ctx);
	free(ctx);
	close(dest_fd);
	coffer_dir_clear(&top);
	coffer_dirent_clear(&top_meta);
	coffer_free(prefix);
	return rc;
}
