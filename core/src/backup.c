/* coffer_backup: stores a folder as a snapshot. The calling thread walks the tree in name
 * order, depth first, compares each file with the previous snapshot of the source and
 * queues the files that must be read (opened, with the kernel asked to prefetch them);
 * worker threads read, chunk and store them. A directory's listing is stored by whichever
 * thread finishes its last child, so listings are written bottom-up while the walk goes on.
 * The rules (what is read again, what makes a snapshot incomplete, file systems, hard
 * links) are in docs/FORMAT.md. */
#include "config.h"

#include <coffer/error.h>
#include <coffer/snapshot.h>

#include "backup_private.h"
#include "chunker.h"
#include "crypto.h"
#include "store.h"
#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Files opened by the walker and waiting for a worker; each holds a descriptor. */
#define BACKUP_QUEUE_FILES 512
/* Bytes the kernel is asked to prefetch for one queued file, and for the whole queue. */
#define BACKUP_PREFETCH_FILE_BYTES ((uint64_t)4 << 20)
#define BACKUP_PREFETCH_QUEUE_BYTES ((uint64_t)256 << 20)
/* A worker's read buffer (at least twice the largest chunk). */
#define BACKUP_READ_BUFFER ((size_t)8 << 20)
/* Files at least this big hand chunks to idle workers so one big file uses every core. */
#define BACKUP_SHARE_MIN_FILE ((uint64_t)16 << 20)
/* Bytes of chunks waiting for another worker. */
#define BACKUP_SHARE_QUEUE_BYTES ((size_t)64 << 20)
#define BACKUP_PROGRESS_INTERVAL_NS 500000000
#define BACKUP_MAX_WORKERS 256
/* Marks an entry left out of the listing (vanished, unreadable). */
#define BACKUP_ENTRY_DROPPED ((coffer_entry_type)0)

typedef struct backup_state backup_state;

/* A directory whose listing is being built. */
typedef struct backup_dir {
	struct backup_dir *parent;
	size_t slot;                 /* its entry in the parent's listing */
	char *path;                  /* relative to the root ("" for the root), for messages */
	coffer_dir listing;          /* in name order; dropped entries are removed when stored */
	atomic_size_t pending;       /* unfinished children, + 1 while the walker is in it */
} backup_dir;

/* An inode with several names: the first name in walk order is read, the others wait. */
typedef enum link_state { LINK_PENDING, LINK_DONE, LINK_FAILED } link_state;

typedef struct link_waiter {
	backup_dir *dir;
	size_t slot;
	struct link_waiter *next;
} link_waiter;

typedef struct backup_link {
	dev_t dev;
	ino_t ino;
	uint64_t group;
	link_state state;
	int cached;                  /* the content came from the previous snapshot */
	uint64_t size;
	coffer_object content;
	link_waiter *waiters;
	struct backup_link *next;    /* hash chain */
} backup_link;

#define LINK_BUCKETS 4096

/* A file to read, and its state while it is read. */
typedef struct backup_file {
	backup_dir *dir;
	size_t slot;
	int fd;                      /* opened by the walker */
	uint64_t expected_size;      /* from the walk's lstat */
	int64_t expected_mtime_ns;
	backup_link *link;           /* when it leads a hard-link group */
	struct backup_file *next;    /* queue */
	pthread_mutex_t lock;        /* chunk list vs. chunks stored by other workers */
	coffer_object object;
	size_t capacity;
	atomic_size_t pending;       /* the reader + chunks handed to other workers */
	uint64_t bytes_read;
	int failed;                  /* unreadable: the entry is dropped */
} backup_file;

/* A chunk of a big file handed to another worker. */
typedef struct backup_chunk {
	backup_file *file;
	size_t index;
	size_t len;
	struct backup_chunk *next;
	uint8_t data[];
} backup_chunk;

typedef struct backup_worker {
	backup_state *state;
	unsigned int index;          /* store writer worker index */
	pthread_t thread;
	int started;
	coffer_chunker chunker;
	uint8_t *buffer;
	size_t buffer_size;
	coffer_buf listing;          /* encoding buffer for directory listings */
} backup_worker;

typedef struct backup_counters {
	atomic_uint_fast64_t files, dirs, symlinks, others, bytes, read_bytes, new_bytes, stored_bytes,
	        cached_files, errors;
} backup_counters;

struct backup_state {
	coffer_repo *repo;
	const coffer_backup_options *opts;
	coffer_store_writer *writer;
	unsigned int worker_count;   /* reading threads; the walker stores as worker_count */
	backup_worker *workers;      /* worker_count + 1 (the last is the walker's) */
	char *root_path;
	int proc_paths;              /* /proc/self/fd/N/name reaches entries */
	uid_t euid;                  /* asked once: it decides O_NOATIME for every file */
	int force_hash;

	int have_previous;
	int64_t previous_start_ns, previous_end_ns;
	uint64_t previous_bytes;

	pthread_mutex_t lock;
	pthread_cond_t work_ready;
	pthread_cond_t space_ready;
	pthread_cond_t root_ready;
	backup_file *files_head, *files_tail;
	size_t files_queued;
	size_t files_queue_limit;
	uint64_t prefetch_queued;
	backup_chunk *chunks_head, *chunks_tail;
	size_t chunks_queued_bytes;
	atomic_uint idle_workers;
	int stopping;
	int root_done;
	coffer_object root_object;
	int error_code;
	char error_message[1024];
	atomic_int failed;

	pthread_mutex_t link_lock;
	backup_link **links;
	uint64_t next_link_group;

	pthread_mutex_t event_lock;
	int64_t next_progress_ns;
	uint64_t discovered_bytes;   /* walker: sizes of the files it has seen */
	int walk_finished;
	backup_counters count;
	atomic_int incomplete;

	backup_name_cache *names;
};

static int64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return backup_timespec_ns(&ts);
}

/* Records the first fatal error (with this thread's message); everything then winds down. */
static void backup_fail(backup_state *s, int code)
{
	pthread_mutex_lock(&s->lock);
	if (!atomic_load(&s->failed)) {
		s->error_code = code < 0 ? code : COFFER_ERROR;
		snprintf(s->error_message, sizeof(s->error_message), "%s", coffer_error_last()->message);
		atomic_store(&s->failed, 1);
		pthread_cond_broadcast(&s->space_ready);
		pthread_cond_broadcast(&s->work_ready);
	}
	pthread_mutex_unlock(&s->lock);
}

static void backup_emit(backup_state *s, const coffer_event *ev)
{
	if (!s->opts->on_event)
		return;
	pthread_mutex_lock(&s->event_lock);
	s->opts->on_event(ev, s->opts->event_ud);
	pthread_mutex_unlock(&s->event_lock);
}

/* "dir/name", or "name" in the root. */
static char *backup_join(const char *dir, const char *name)
{
	size_t dir_len = strlen(dir), name_len = strlen(name);
	char *path = coffer_malloc(dir_len + name_len + 2);
	if (!path)
		return NULL;
	if (dir_len) {
		memcpy(path, dir, dir_len);
		path[dir_len] = '/';
		dir_len++;
	}
	memcpy(path + dir_len, name, name_len + 1);
	return path;
}

/* Reports a problem with one entry; `unreadable` marks the snapshot incomplete. */
static void backup_warn(backup_state *s, const backup_dir *dir, const char *name, int unreadable,
                        const char *fmt, ...) COFFER_PRINTF(5, 6);
static void backup_warn(backup_state *s, const backup_dir *dir, const char *name, int unreadable,
                        const char *fmt, ...)
{
	char message[1200];
	va_list ap;

	atomic_fetch_add(&s->count.errors, 1);
	if (unreadable)
		atomic_store(&s->incomplete, 1);
	if (!s->opts->on_event)
		return;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	char *path = name ? backup_join(dir->path, name) : NULL;
	coffer_event ev = { .kind = COFFER_EVENT_WARNING, .path = path ? path : dir->path, .message = message };
	backup_emit(s, &ev);
	coffer_free(path);
}

static void backup_stats_snapshot(backup_state *s, coffer_snapshot_stats *st)
{
	st->files = atomic_load(&s->count.files);
	st->dirs = atomic_load(&s->count.dirs);
	st->symlinks = atomic_load(&s->count.symlinks);
	st->others = atomic_load(&s->count.others);
	st->bytes = atomic_load(&s->count.bytes);
	st->read_bytes = atomic_load(&s->count.read_bytes);
	st->new_bytes = atomic_load(&s->count.new_bytes);
	st->stored_bytes = atomic_load(&s->count.stored_bytes);
	st->cached_files = atomic_load(&s->count.cached_files);
	st->errors = atomic_load(&s->count.errors);
}

/* Called by the walker thread only (it is also the thread that waits at the end). */
static void backup_progress(backup_state *s, int force)
{
	int64_t now = clock_ns(CLOCK_MONOTONIC);
	coffer_snapshot_stats stats;

	if (!s->opts->on_event || (!force && now < s->next_progress_ns))
		return;
	s->next_progress_ns = now + BACKUP_PROGRESS_INTERVAL_NS;
	backup_stats_snapshot(s, &stats);
	coffer_event ev = { .kind = COFFER_EVENT_PROGRESS, .stats = &stats };
	ev.total_bytes = s->discovered_bytes;
	if (!s->walk_finished && s->previous_bytes > ev.total_bytes)
		ev.total_bytes = s->previous_bytes;
	backup_emit(s, &ev);
}

static int backup_object_copy(coffer_object *dst, const coffer_object *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->count == 0)
		return 0;
	dst->chunks = coffer_malloc(src->count * sizeof(*dst->chunks));
	dst->sizes = coffer_malloc(src->count * sizeof(*dst->sizes));
	if (!dst->chunks || !dst->sizes) {
		coffer_free(dst->chunks);
		coffer_free(dst->sizes);
		dst->chunks = NULL;
		dst->sizes = NULL;
		return COFFER_ENOMEM;
	}
	memcpy(dst->chunks, src->chunks, src->count * sizeof(*dst->chunks));
	memcpy(dst->sizes, src->sizes, src->count * sizeof(*dst->sizes));
	dst->count = src->count;
	return 0;
}

/* Stores a chunk and counts what it added. */
static int backup_store_chunk(backup_state *s, unsigned int worker, coffer_chunk_kind kind, const void *data,
                              size_t len, coffer_cid *id)
{
	coffer_store_write_result result = { 0, 0 };
	int rc = coffer_store_write(s->writer, worker, kind, data, len, id, &result);
	if (rc < 0)
		return rc;
	if (result.is_new)
		atomic_fetch_add(&s->count.new_bytes, len);
	atomic_fetch_add(&s->count.stored_bytes, result.stored_bytes);
	return 0;
}

/* Stores a finished listing cut exactly as coffer_dir_store cuts it (so the same listing
 * gives the same chunks either way), counting what the chunks add. */
static int backup_store_listing(backup_state *s, backup_worker *wk, const coffer_dir *d, coffer_object *out)
{
	coffer_buf *buf = &wk->listing;
	size_t *ends = NULL, count = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	buf->len = 0;
	if ((rc = coffer_dir_encode_pieces(d, buf, &ends, &count)) < 0)
		return rc;
	out->chunks = coffer_calloc(count, sizeof(*out->chunks));
	out->sizes = coffer_calloc(count, sizeof(*out->sizes));
	if (!out->chunks || !out->sizes)
		rc = COFFER_ENOMEM;
	for (size_t i = 0, at = 0; i < count && rc == 0; at = ends[i], i++) {
		size_t len = ends[i] - at;
		if ((rc = backup_store_chunk(s, wk->index, COFFER_CHUNK_META, buf->data + at, len, &out->chunks[i])) < 0)
			break;
		out->sizes[i] = (uint32_t)len;
		out->count = i + 1;
	}
	if (rc < 0)
		coffer_object_clear(out);
	coffer_free(ends);
	return rc;
}

/* Removes dropped entries, counts the rest and stores the listing (unless the backup failed). */
static void backup_dir_finish(backup_state *s, backup_dir *dir, backup_worker *wk, coffer_object *out)
{
	coffer_dir *d = &dir->listing;
	size_t kept = 0;
	uint64_t files = 0, dirs = 0, symlinks = 0, others = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < d->count; i++) {
		coffer_dirent *e = &d->entries[i];
		if (e->type == BACKUP_ENTRY_DROPPED) {
			coffer_dirent_clear(e);
			continue;
		}
		switch (e->type) {
		case COFFER_ENTRY_FILE: files++; break;
		case COFFER_ENTRY_DIR: dirs++; break;
		case COFFER_ENTRY_SYMLINK: symlinks++; break;
		default: others++; break;
		}
		if (kept != i)
			d->entries[kept] = *e;
		kept++;
	}
	d->count = kept;
	atomic_fetch_add(&s->count.files, files);
	atomic_fetch_add(&s->count.dirs, dirs);
	atomic_fetch_add(&s->count.symlinks, symlinks);
	atomic_fetch_add(&s->count.others, others);
	if (!atomic_load(&s->failed)) {
		int rc = backup_store_listing(s, wk, d, out);
		if (rc < 0) {
			coffer_error_wrap("storing the listing of /%s", dir->path);
			backup_fail(s, rc);
		}
	}
	coffer_dir_clear(d);
}

/* Drops one reference; the thread that drops the last stores the listing and passes the
 * result up, possibly finishing the parent too. */
static void backup_dir_release(backup_state *s, backup_dir *dir, backup_worker *wk)
{
	while (dir && atomic_fetch_sub_explicit(&dir->pending, 1, memory_order_acq_rel) == 1) {
		backup_dir *parent = dir->parent;
		coffer_object object;

		backup_dir_finish(s, dir, wk, &object);
		if (parent) {
			parent->listing.entries[dir->slot].content = object;
		} else {
			pthread_mutex_lock(&s->lock);
			s->root_object = object;
			s->root_done = 1;
			s->stopping = 1;
			pthread_cond_broadcast(&s->root_ready);
			pthread_cond_broadcast(&s->work_ready);
			pthread_mutex_unlock(&s->lock);
		}
		coffer_free(dir->path);
		coffer_free(dir);
		dir = parent;
	}
}

static backup_link *backup_link_find(backup_state *s, dev_t dev, ino_t ino)
{
	size_t bucket = (size_t)(((uint64_t)ino * 0x9E3779B97F4A7C15ull + (uint64_t)dev) >> 52) % LINK_BUCKETS;
	backup_link *link;

	for (link = s->links[bucket]; link; link = link->next)
		if (link->dev == dev && link->ino == ino)
			return link;
	return NULL;
}

static backup_link *backup_link_add(backup_state *s, dev_t dev, ino_t ino)
{
	size_t bucket = (size_t)(((uint64_t)ino * 0x9E3779B97F4A7C15ull + (uint64_t)dev) >> 52) % LINK_BUCKETS;
	backup_link *link = coffer_calloc(1, sizeof(*link));

	if (!link)
		return NULL;
	link->dev = dev;
	link->ino = ino;
	link->group = ++s->next_link_group;
	link->state = LINK_PENDING;
	pthread_mutex_lock(&s->link_lock);
	link->next = s->links[bucket];
	s->links[bucket] = link;
	pthread_mutex_unlock(&s->link_lock);
	return link;
}

/* The leader of a hard-link group is done (content set) or failed: serve the waiters. */
static void backup_link_settle(backup_state *s, backup_link *link, const coffer_dirent *leader, int ok,
                               int cached, backup_worker *wk)
{
	link_waiter *waiters;

	pthread_mutex_lock(&s->link_lock);
	if (ok && backup_object_copy(&link->content, &leader->content) < 0) {
		backup_fail(s, COFFER_ENOMEM);
		ok = 0;
	}
	link->state = ok ? LINK_DONE : LINK_FAILED;
	link->cached = cached;
	link->size = ok ? leader->size : 0;
	waiters = link->waiters;
	link->waiters = NULL;
	pthread_mutex_unlock(&s->link_lock);

	while (waiters) {
		link_waiter *w = waiters;
		coffer_dirent *e = &w->dir->listing.entries[w->slot];
		waiters = w->next;
		if (ok) {
			if (backup_object_copy(&e->content, &link->content) < 0)
				backup_fail(s, COFFER_ENOMEM);
			e->size = link->size;
			if (cached)
				atomic_fetch_add(&s->count.cached_files, 1);
		} else {
			if (!atomic_load(&s->failed))
				backup_warn(s, w->dir, e->name, 1, "not stored: its hard link partner could not be read");
			e->type = BACKUP_ENTRY_DROPPED;
		}
		backup_dir_release(s, w->dir, wk);
		coffer_free(w);
	}
}

static void backup_file_free(backup_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	coffer_object_clear(&f->object);
	pthread_mutex_destroy(&f->lock);
	coffer_free(f);
}

/* All of a file's chunks are stored (or it failed): record it and release its directory. */
static void backup_file_finish(backup_state *s, backup_file *f, backup_worker *wk)
{
	coffer_dirent *e = &f->dir->listing.entries[f->slot];
	int ok = !f->failed && !atomic_load(&s->failed);

	if (ok) {
		e->content = f->object;
		memset(&f->object, 0, sizeof(f->object));
		e->size = f->bytes_read;
		atomic_fetch_add(&s->count.bytes, f->bytes_read);
	} else {
		e->type = BACKUP_ENTRY_DROPPED;
	}
	if (f->link)
		backup_link_settle(s, f->link, e, ok, 0, wk);
	backup_dir_release(s, f->dir, wk);
	backup_file_free(f);
}

static void backup_file_unref(backup_state *s, backup_file *f, backup_worker *wk)
{
	if (atomic_fetch_sub_explicit(&f->pending, 1, memory_order_acq_rel) == 1)
		backup_file_finish(s, f, wk);
}

/* Appends a slot for the next chunk of f; returns its index. */
static int backup_file_add_chunk(backup_file *f, size_t len, size_t *index)
{
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (f->object.count == f->capacity) {
		size_t cap = f->capacity ? f->capacity * 2 : 4;
		coffer_cid *chunks = coffer_realloc(f->object.chunks, cap * sizeof(*chunks));
		if (chunks)
			f->object.chunks = chunks;
		uint32_t *sizes = chunks ? coffer_realloc(f->object.sizes, cap * sizeof(*sizes)) : NULL;
		if (sizes)
			f->object.sizes = sizes;
		if (!chunks || !sizes)
			rc = COFFER_ENOMEM;
		else
			f->capacity = cap;
	}
	if (rc == 0) {
		*index = f->object.count++;
		f->object.sizes[*index] = (uint32_t)len;
		memset(&f->object.chunks[*index], 0, sizeof(coffer_cid));
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* Hands a chunk to an idle worker when one is waiting; 1 when it did. */
static int backup_share_chunk(backup_state *s, backup_file *f, size_t index, const uint8_t *data, size_t len)
{
	if (atomic_load_explicit(&s->idle_workers, memory_order_relaxed) == 0)
		return 0;
	backup_chunk *c = malloc(sizeof(*c) + len);
	if (!c)
		return 0;
	c->file = f;
	c->index = index;
	c->len = len;
	c->next = NULL;
	memcpy(c->data, data, len);
	pthread_mutex_lock(&s->lock);
	if (s->chunks_queued_bytes + len > BACKUP_SHARE_QUEUE_BYTES) {
		pthread_mutex_unlock(&s->lock);
		free(c);
		return 0;
	}
	atomic_fetch_add(&f->pending, 1);
	if (s->chunks_tail)
		s->chunks_tail->next = c;
	else
		s->chunks_head = c;
	s->chunks_tail = c;
	s->chunks_queued_bytes += len;
	pthread_cond_signal(&s->work_ready);
	pthread_mutex_unlock(&s->lock);
	return 1;
}

static int backup_emit_chunk(backup_state *s, backup_worker *wk, backup_file *f, int share, const uint8_t *data,
                             size_t len)
{
	coffer_cid id;
	size_t index;
	int rc;

	if ((rc = backup_file_add_chunk(f, len, &index)) < 0)
		return rc;
	if (share && backup_share_chunk(s, f, index, data, len))
		return 0;
	if ((rc = backup_store_chunk(s, wk->index, COFFER_CHUNK_DATA, data, len, &id)) < 0)
		return rc;
	pthread_mutex_lock(&f->lock);
	f->object.chunks[index] = id;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void backup_run_chunk(backup_state *s, backup_worker *wk, backup_chunk *c)
{
	backup_file *f = c->file;

	if (!atomic_load(&s->failed)) {
		coffer_cid id;
		int rc = backup_store_chunk(s, wk->index, COFFER_CHUNK_DATA, c->data, c->len, &id);
		if (rc < 0) {
			backup_fail(s, rc);
		} else {
			pthread_mutex_lock(&f->lock);
			f->object.chunks[c->index] = id;
			pthread_mutex_unlock(&f->lock);
		}
	}
	free(c);
	backup_file_unref(s, f, wk);
}

/* Reads a file in large blocks, cuts it into chunks and stores them. The chunk being built
 * always fits in the buffer (at least twice the largest chunk). */
static void backup_read_file(backup_state *s, backup_worker *wk, backup_file *f)
{
	const char *name = f->dir->listing.entries[f->slot].name;
	uint8_t *buf = wk->buffer;
	const size_t cap = wk->buffer_size;
	size_t start = 0, scan = 0, fill = 0;
	int share = f->expected_size >= BACKUP_SHARE_MIN_FILE && s->worker_count > 1;
	struct stat end;
	int have_end = 0;
	int rc = 0;

	if (atomic_load(&s->failed)) {
		f->failed = 1;
		goto done;
	}
	if (f->expected_size > cap)
		posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	coffer_chunker_reset(&wk->chunker);
	for (;;) {
		if (fill == cap) {
			memmove(buf, buf + start, fill - start);
			fill -= start;
			scan -= start;
			start = 0;
		}
		ssize_t n = read(f->fd, buf + fill, cap - fill);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			backup_warn(s, f->dir, name, 1, "not stored: read failed: %s", strerror(errno));
			f->failed = 1;
			break;
		}
		if (n == 0)
			break;
		fill += (size_t)n;
		f->bytes_read += (uint64_t)n;
		atomic_fetch_add(&s->count.read_bytes, (uint64_t)n);
		while (scan < fill) {
			int cut;
			scan += coffer_chunker_next(&wk->chunker, buf + scan, fill - scan, &cut);
			if (cut) {
				if ((rc = backup_emit_chunk(s, wk, f, share, buf + start, scan - start)) < 0)
					break;
				start = scan;
			}
		}
		if (rc < 0 || atomic_load(&s->failed))
			break;
		/* Skip the read that would only say end of file when the size is reached and the
		 * file has not grown; the same fstat checks for changes below. */
		if (f->bytes_read == f->expected_size) {
			have_end = fstat(f->fd, &end) == 0;
			if (have_end && (uint64_t)end.st_size == f->bytes_read)
				break;
			have_end = 0;
		}
	}
	if (rc == 0 && !f->failed && !atomic_load(&s->failed) && scan > start)
		rc = backup_emit_chunk(s, wk, f, share, buf + start, scan - start);
	if (rc < 0) {
		coffer_error_wrap("storing /%s/%s", f->dir->path, name);
		backup_fail(s, rc);
		f->failed = 1;
	}
	if (!f->failed && !atomic_load(&s->failed)) {
		if (!have_end)
			have_end = fstat(f->fd, &end) == 0;
		if (have_end &&
		    ((uint64_t)end.st_size != f->bytes_read || f->bytes_read != f->expected_size ||
		     backup_timespec_ns(&end.st_mtim) != f->expected_mtime_ns))
			backup_warn(s, f->dir, name, 0, "changed while it was read (stored %llu bytes as read)",
			            (unsigned long long)f->bytes_read);
	}
done:
	close(f->fd);
	f->fd = -1;
	backup_file_unref(s, f, wk);
}

static void *backup_worker_main(void *arg)
{
	backup_worker *wk = arg;
	backup_state *s = wk->state;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (s->chunks_head) {
			backup_chunk *c = s->chunks_head;
			s->chunks_head = c->next;
			if (!s->chunks_head)
				s->chunks_tail = NULL;
			s->chunks_queued_bytes -= c->len;
			pthread_mutex_unlock(&s->lock);
			backup_run_chunk(s, wk, c);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->files_head) {
			backup_file *f = s->files_head;
			s->files_head = f->next;
			if (!s->files_head)
				s->files_tail = NULL;
			s->files_queued--;
			s->prefetch_queued -= f->expected_size < BACKUP_PREFETCH_FILE_BYTES ? f->expected_size
			                                                                   : BACKUP_PREFETCH_FILE_BYTES;
			pthread_cond_signal(&s->space_ready);
			pthread_mutex_unlock(&s->lock);
			backup_read_file(s, wk, f);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->stopping)
			break;
		atomic_fetch_add(&s->idle_workers, 1);
		pthread_cond_wait(&s->work_ready, &s->lock);
		atomic_fetch_sub(&s->idle_workers, 1);
	}
	pthread_mutex_unlock(&s->lock);
	coffer_crypto_thread_cleanup();
	return NULL;
}

/* Queues a file for the workers, waiting (and reporting progress) while the queue is full. */
static void backup_queue_file(backup_state *s, backup_file *f)
{
	uint64_t prefetch = f->expected_size < BACKUP_PREFETCH_FILE_BYTES ? f->expected_size : BACKUP_PREFETCH_FILE_BYTES;

	pthread_mutex_lock(&s->lock);
	while ((s->files_queued >= s->files_queue_limit ||
	        (s->files_queued > 0 && s->prefetch_queued + prefetch > BACKUP_PREFETCH_QUEUE_BYTES))) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += BACKUP_PROGRESS_INTERVAL_NS;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&s->space_ready, &s->lock, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&s->lock);
			backup_progress(s, 0);
			pthread_mutex_lock(&s->lock);
		}
	}
	f->next = NULL;
	if (s->files_tail)
		s->files_tail->next = f;
	else
		s->files_head = f;
	s->files_tail = f;
	s->files_queued++;
	s->prefetch_queued += prefetch;
	pthread_cond_signal(&s->work_ready);
	pthread_mutex_unlock(&s->lock);
}

/* O_NOATIME keeps reads from dirtying inodes; only the owner (or root) may use it. */
static int backup_open_file(backup_state *s, int dir_fd, const char *name, const struct stat *st)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

	if (s->euid == 0 || s->euid == st->st_uid) {
		int fd = openat(dir_fd, name, flags | O_NOATIME);
		if (fd >= 0 || errno != EPERM)
			return fd;
	}
	return openat(dir_fd, name, flags);
}

/* Whether the previous snapshot's entry still describes the file: same size, mtime, mode
 * and owner. A file whose mtime falls inside the previous backup's run may have changed
 * after it was read there, so it is read again. */
static int backup_can_reuse(const backup_state *s, const coffer_dirent *prev, const coffer_dirent *e)
{
	uint64_t total = 0;

	if (!prev || s->force_hash || prev->type != COFFER_ENTRY_FILE || prev->size != e->size ||
	    prev->mtime_ns != e->mtime_ns || prev->mode != e->mode || prev->uid != e->uid || prev->gid != e->gid)
		return 0;
	for (size_t i = 0; i < prev->content.count; i++)
		total += prev->content.sizes[i];
	if (total != e->size)
		return 0;
	if (e->size > 0 && s->have_previous && prev->mtime_ns >= s->previous_start_ns &&
	    prev->mtime_ns <= s->previous_end_ns)
		return 0;
	return 1;
}

/* A regular file met by the walker: reuse, wait for a hard-link partner, or queue it. */
static void backup_walk_file(backup_state *s, backup_dir *dir, size_t slot, int dir_fd, coffer_dirent *prev,
                             const struct stat *st)
{
	coffer_dirent *e = &dir->listing.entries[slot];
	backup_link *link = NULL;

	if (st->st_nlink > 1) {
		pthread_mutex_lock(&s->link_lock);
		link = backup_link_find(s, st->st_dev, st->st_ino);
		if (link && link->state != LINK_FAILED) {
			e->hardlink_group = link->group;
			if (link->state == LINK_DONE) {
				int rc = backup_object_copy(&e->content, &link->content);
				e->size = link->size;
				if (link->cached)
					atomic_fetch_add(&s->count.cached_files, 1);
				pthread_mutex_unlock(&s->link_lock);
				if (rc < 0)
					backup_fail(s, rc);
				return;
			}
			link_waiter *w = coffer_malloc(sizeof(*w));
			if (!w) {
				pthread_mutex_unlock(&s->link_lock);
				backup_fail(s, COFFER_ENOMEM);
				return;
			}
			w->dir = dir;
			w->slot = slot;
			w->next = link->waiters;
			link->waiters = w;
			atomic_fetch_add(&dir->pending, 1);
			pthread_mutex_unlock(&s->link_lock);
			return;
		}
		if (link) {
			/* The first name could not be read: this one leads the group now. */
			link->state = LINK_PENDING;
		}
		pthread_mutex_unlock(&s->link_lock);
		if (!link && !(link = backup_link_add(s, st->st_dev, st->st_ino))) {
			backup_fail(s, COFFER_ENOMEM);
			return;
		}
		e->hardlink_group = link->group;
	}
	s->discovered_bytes += e->size;

	int reuse = backup_can_reuse(s, prev, e);
	if (reuse || e->size == 0) {
		/* Nothing to read: unchanged since the previous snapshot, or empty. */
		if (reuse) {
			atomic_fetch_add(&s->count.cached_files, 1);
			e->content = prev->content;
			memset(&prev->content, 0, sizeof(prev->content));
		}
		atomic_fetch_add(&s->count.bytes, e->size);
		if (link)
			backup_link_settle(s, link, e, 1, reuse, &s->workers[s->worker_count]);
		return;
	}

	int fd = backup_open_file(s, dir_fd, e->name, st);
	struct stat now;
	if (fd >= 0 && (fstat(fd, &now) != 0 || !S_ISREG(now.st_mode) || now.st_ino != st->st_ino ||
	                now.st_dev != st->st_dev)) {
		close(fd);
		fd = -1;
		errno = ESTALE;
	}
	if (fd < 0) {
		int err = errno;
		if (err == ENOENT)
			backup_warn(s, dir, e->name, 0, "vanished before it was read");
		else if (err == ESTALE || err == ELOOP || err == ENXIO || err == EWOULDBLOCK)
			backup_warn(s, dir, e->name, 0, "replaced by another file before it was read");
		else
			backup_warn(s, dir, e->name, 1, "not stored: %s", strerror(err));
		e->type = BACKUP_ENTRY_DROPPED;
		if (link)
			backup_link_settle(s, link, e, 0, 0, &s->workers[s->worker_count]);
		return;
	}
	backup_file *f = coffer_calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		backup_fail(s, COFFER_ENOMEM);
		return;
	}
	f->dir = dir;
	f->slot = slot;
	f->fd = fd;
	f->expected_size = e->size;
	f->expected_mtime_ns = e->mtime_ns;
	f->link = link;
	pthread_mutex_init(&f->lock, NULL);
	atomic_init(&f->pending, 1);
	/* Start the disk reading now so the workers find the data in memory. */
	posix_fadvise(fd, 0, (off_t)(e->size < BACKUP_PREFETCH_FILE_BYTES ? e->size : BACKUP_PREFETCH_FILE_BYTES),
	              POSIX_FADV_WILLNEED);
	atomic_fetch_add(&dir->pending, 1);
	backup_queue_file(s, f);
}

typedef struct backup_name_entry {
	char *name;
	size_t len;
} backup_name_entry;

static int backup_name_entry_compare(const void *a, const void *b)
{
	const backup_name_entry *x = a, *y = b;
	return backup_name_compare(x->name, x->len, y->name, y->len);
}

/* Every name in the directory but . and .., unsorted. */
static int backup_read_names(int fd, backup_name_entry **out, size_t *count, int *err)
{
	backup_name_entry *names = NULL;
	size_t n = 0, cap = 0;
	int copy = dup(fd);
	DIR *d;

	*err = 0;
	if (copy < 0 || !(d = fdopendir(copy))) {
		*err = errno;
		if (copy >= 0)
			close(copy);
		return 0;
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			*err = errno;
			break;
		}
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (n == cap) {
			size_t new_cap = cap ? cap * 2 : 32;
			backup_name_entry *bigger = coffer_realloc(names, new_cap * sizeof(*names));
			if (!bigger)
				goto nomem;
			names = bigger;
			cap = new_cap;
		}
		names[n].len = strlen(de->d_name);
		if (!(names[n].name = coffer_malloc(names[n].len + 1)))
			goto nomem;
		memcpy(names[n].name, de->d_name, names[n].len + 1);
		n++;
	}
	closedir(d);
	*out = names;
	*count = n;
	return 0;
nomem:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		coffer_free(names[i].name);
	coffer_free(names);
	return COFFER_ENOMEM;
}

static coffer_dirent *backup_previous_match(coffer_dir *previous, size_t *cursor, const coffer_dirent *e)
{
	if (!previous)
		return NULL;
	while (*cursor < previous->count) {
		coffer_dirent *p = &previous->entries[*cursor];
		int c = backup_name_compare(p->name, p->name_len, e->name, e->name_len);
		if (c == 0)
			return p;
		if (c > 0)
			return NULL;
		(*cursor)++;
	}
	return NULL;
}

typedef struct backup_walk_stat {
	dev_t dev;
	ino_t ino;
	nlink_t nlink;
	uid_t uid;
} backup_walk_stat;

static void backup_walk_dir(backup_state *s, backup_dir *dir, int fd, coffer_dir *previous);

/* Opens a subdirectory, walks it with its previous listing, and releases it. */
static void backup_walk_subdir(backup_state *s, backup_dir *dir, size_t slot, int dir_fd, const coffer_dirent *prev,
                               const backup_walk_stat *ws)
{
	coffer_dirent *e = &dir->listing.entries[slot];
	backup_worker *walker = &s->workers[s->worker_count];
	coffer_dir prev_listing = { NULL, 0 };
	int have_prev = 0;

	int fd = openat(dir_fd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_ino != ws->ino || st.st_dev != ws->dev)) {
		close(fd);
		fd = -1;
		errno = ESTALE;
	}
	int open_error = fd < 0 ? errno : 0;
	if (open_error == ENOENT || open_error == ENOTDIR || open_error == ELOOP || open_error == ESTALE) {
		backup_warn(s, dir, e->name, 0, open_error == ENOENT ? "vanished before it was read"
		                                                      : "replaced by another file before it was read");
		e->type = BACKUP_ENTRY_DROPPED;
		return;
	}

	backup_dir *child = coffer_calloc(1, sizeof(*child));
	char *path = child ? backup_join(dir->path, e->name) : NULL;
	if (!path) {
		coffer_free(child);
		if (fd >= 0)
			close(fd);
		backup_fail(s, COFFER_ENOMEM);
		return;
	}
	child->parent = dir;
	child->slot = slot;
	child->path = path;
	atomic_init(&child->pending, 1);
	atomic_fetch_add(&dir->pending, 1);
	if (fd < 0) {
		/* Kept, with an empty listing, so its owner and mode are restored. */
		backup_warn(s, dir, e->name, 1, "contents not stored: %s", strerror(open_error));
	} else {
		if (prev && prev->type == COFFER_ENTRY_DIR && !s->force_hash) {
			int rc = coffer_dir_load(s->repo, &prev->content, &prev_listing);
			if (rc == 0)
				have_prev = 1;
			else if (s->opts->on_event) {
				coffer_event ev = { .kind = COFFER_EVENT_WARNING, .path = path,
					            .message = coffer_error_last()->message };
				backup_emit(s, &ev);
			}
		}
		backup_walk_dir(s, child, fd, have_prev ? &prev_listing : NULL);
		close(fd);
		if (have_prev)
			coffer_dir_clear(&prev_listing);
	}
	backup_dir_release(s, child, walker);
}

/* Removes the names the options exclude from the root listing; returns the new count. A
 * version 1 caller's struct ends before the exclude list. */
static size_t backup_drop_excluded(const coffer_backup_options *opts, backup_name_entry *names, size_t n)
{
	if (opts->version < 2 || !opts->exclude_top_count)
		return n;
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		int drop = 0;
		for (size_t k = 0; k < opts->exclude_top_count && !drop; k++)
			drop = opts->exclude_top[k] && strcmp(opts->exclude_top[k], names[i].name) == 0;
		if (drop)
			coffer_free(names[i].name);
		else
			names[kept++] = names[i];
	}
	return kept;
}

/* Lists a directory: names, then every entry's metadata (so its listing is complete before
 * any file of it is read), then files are reused or queued and subdirectories walked, in
 * name order. */
static void backup_walk_dir(backup_state *s, backup_dir *dir, int fd, coffer_dir *previous)
{
	backup_name_entry *names = NULL;
	backup_walk_stat *stats = NULL;
	size_t n = 0, cursor = 0;
	char proc_prefix[64];
	char problem[512];
	char *full_path = NULL;
	int err, rc;

	if ((rc = backup_read_names(fd, &names, &n, &err)) < 0) {
		backup_fail(s, rc);
		return;
	}
	if (err) {
		backup_warn(s, dir, NULL, 1, "listing not complete: %s", strerror(err));
	}
	if (!dir->path[0])
		n = backup_drop_excluded(s->opts, names, n);
	if (n == 0) {
		coffer_free(names);
		return;
	}
	qsort(names, n, sizeof(*names), backup_name_entry_compare);
	dir->listing.entries = coffer_calloc(n, sizeof(coffer_dirent));
	stats = coffer_calloc(n, sizeof(*stats));
	if (!dir->listing.entries || !stats) {
		for (size_t i = 0; i < n; i++)
			coffer_free(names[i].name);
		coffer_free(names);
		coffer_free(stats);
		backup_fail(s, COFFER_ENOMEM);
		return;
	}
	dir->listing.count = n;
	for (size_t i = 0; i < n; i++) {
		dir->listing.entries[i].name = names[i].name;
		dir->listing.entries[i].name_len = names[i].len;
	}
	coffer_free(names);
	snprintf(proc_prefix, sizeof(proc_prefix), "/proc/self/fd/%d", fd);

	for (size_t i = 0; i < n && !atomic_load(&s->failed); i++) {
		coffer_dirent *e = &dir->listing.entries[i];
		backup_entry_status status;
		struct stat st;

		if (fstatat(fd, e->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				backup_warn(s, dir, e->name, 0, "vanished before it was read");
			else
				backup_warn(s, dir, e->name, 1, "not stored: %s", strerror(errno));
			e->type = BACKUP_ENTRY_DROPPED;
			continue;
		}
		if (!s->proc_paths) {
			coffer_free(full_path);
			char *rel = backup_join(dir->path, e->name);
			full_path = rel ? backup_join(s->root_path, rel) : NULL;
			coffer_free(rel);
			if (!full_path) {
				backup_fail(s, COFFER_ENOMEM);
				break;
			}
		}
		backup_entry_place place = { fd, e->name, s->proc_paths ? proc_prefix : NULL, full_path };
		if ((rc = backup_entry_describe(e, &st, &place, s->names, &status, problem, sizeof(problem))) < 0) {
			backup_fail(s, rc);
			break;
		}
		if (status != BACKUP_ENTRY_OK) {
			if (status == BACKUP_ENTRY_VANISHED)
				backup_warn(s, dir, e->name, 0, "vanished before it was read");
			else
				backup_warn(s, dir, e->name, 1, "not stored: %s", problem);
			e->type = BACKUP_ENTRY_DROPPED;
			continue;
		}
		stats[i].dev = st.st_dev;
		stats[i].ino = st.st_ino;
		stats[i].nlink = st.st_nlink;
		stats[i].uid = st.st_uid;
		backup_progress(s, 0);
	}
	coffer_free(full_path);

	for (size_t i = 0; i < n && !atomic_load(&s->failed); i++) {
		coffer_dirent *e = &dir->listing.entries[i];
		coffer_dirent *prev;

		if (e->type == BACKUP_ENTRY_DROPPED)
			continue;
		prev = backup_previous_match(previous, &cursor, e);
		if (e->type == COFFER_ENTRY_FILE) {
			struct stat st;
			memset(&st, 0, sizeof(st));
			st.st_dev = stats[i].dev;
			st.st_ino = stats[i].ino;
			st.st_nlink = stats[i].nlink;
			st.st_uid = stats[i].uid;
			backup_walk_file(s, dir, i, fd, prev, &st);
		} else if (e->type == COFFER_ENTRY_DIR) {
			backup_walk_subdir(s, dir, i, fd, prev, &stats[i]);
		} else if (stats[i].nlink > 1 && e->type != COFFER_ENTRY_DIR) {
			/* Other names of one special file or symlink share a group too. */
			pthread_mutex_lock(&s->link_lock);
			backup_link *link = backup_link_find(s, stats[i].dev, stats[i].ino);
			pthread_mutex_unlock(&s->link_lock);
			if (!link && !(link = backup_link_add(s, stats[i].dev, stats[i].ino))) {
				backup_fail(s, COFFER_ENOMEM);
				break;
			}
			link->state = LINK_DONE;
			e->hardlink_group = link->group;
		}
		backup_progress(s, 0);
	}
	coffer_free(stats);
}

/* "user@host:/real/path" of the caller. */
static char *backup_default_source(const char *real_path)
{
	char host[256] = "localhost";
	char user[256];
	char buffer[16384];
	struct passwd pw, *found = NULL;

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (getpwuid_r(geteuid(), &pw, buffer, sizeof(buffer), &found) == 0 && found)
		snprintf(user, sizeof(user), "%s", pw.pw_name);
	else if (getenv("USER"))
		snprintf(user, sizeof(user), "%s", getenv("USER"));
	else
		snprintf(user, sizeof(user), "%u", (unsigned)geteuid());
	size_t len = strlen(user) + strlen(host) + strlen(real_path) + 3;
	char *source = coffer_malloc(len);
	if (source)
		snprintf(source, len, "%s@%s:%s", user, host, real_path);
	return source;
}

/* The newest complete snapshot of the source (else the newest at all) and its root listing. */
static int backup_load_previous(backup_state *s, const char *source, coffer_dir *root)
{
	coffer_snapshot_info *infos = NULL;
	size_t n = 0, pick;
	coffer_manifest manifest;
	int rc;

	rc = coffer_snapshot_list(s->repo, source, &infos, &n);
	if (rc == COFFER_ENOTFOUND || (rc == 0 && n == 0)) {
		coffer_snapshot_info_free_array(infos, n);
		coffer_error_clear();
		return 0;
	}
	if (rc < 0)
		return coffer_error_wrap("finding the previous snapshot of %s", source);
	for (pick = 0; pick < n && infos[pick].incomplete; pick++)
		;
	if (pick == n)
		pick = 0;
	memset(&manifest, 0, sizeof(manifest));
	rc = coffer_manifest_load(s->repo, infos[pick].blob_name, &manifest);
	if (rc == 0) {
		rc = coffer_dir_load(s->repo, &manifest.root, root);
		if (rc == 0) {
			s->have_previous = 1;
			s->previous_start_ns = manifest.info.start_time_ns;
			s->previous_end_ns = manifest.info.end_time_ns;
			s->previous_bytes = manifest.info.stats.bytes;
		}
		coffer_manifest_clear(&manifest);
	}
	if (rc < 0)
		coffer_error_wrap("reading the previous snapshot %s of %s", infos[pick].id, source);
	coffer_snapshot_info_free_array(infos, n);
	return rc;
}

static int backup_copy_tags(coffer_snapshot_info *info, const coffer_tag *tags, size_t count)
{
	if (count == 0)
		return 0;
	info->tags = coffer_calloc(count, sizeof(*info->tags));
	if (!info->tags)
		return COFFER_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		if (!tags[i].key || !tags[i].value)
			return coffer_error_set(COFFER_EINVALID, "backup: tag %zu has no key or value", i);
		info->tags[i].key = coffer_strdup(tags[i].key);
		info->tags[i].value = coffer_strdup(tags[i].value);
		info->tag_count = i + 1;
		if (!info->tags[i].key || !info->tags[i].value)
			return COFFER_ENOMEM;
	}
	return 0;
}

/* Queue depth within the descriptor limit: each queued file holds one, each directory on
 * the walk's path another. */
static size_t backup_queue_limit(void)
{
	struct rlimit rl;
	size_t limit = BACKUP_QUEUE_FILES;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		size_t usable = rl.rlim_cur > 256 ? (size_t)(rl.rlim_cur - 128) / 2 : 16;
		if (usable < limit)
			limit = usable;
	}
	return limit;
}

static void backup_state_free(backup_state *s)
{
	if (s->workers) {
		for (unsigned int i = 0; i <= s->worker_count; i++) {
			coffer_free(s->workers[i].buffer);
			coffer_buf_free(&s->workers[i].listing);
			coffer_chunker_clear(&s->workers[i].chunker);
		}
		coffer_free(s->workers);
	}
	if (s->links) {
		for (size_t i = 0; i < LINK_BUCKETS; i++) {
			backup_link *link = s->links[i];
			while (link) {
				backup_link *next = link->next;
				coffer_object_clear(&link->content);
				coffer_free(link);
				link = next;
			}
		}
		coffer_free(s->links);
	}
	backup_name_cache_free(s->names);
	coffer_object_clear(&s->root_object);
	coffer_free(s->root_path);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->link_lock);
	pthread_mutex_destroy(&s->event_lock);
	pthread_cond_destroy(&s->work_ready);
	pthread_cond_destroy(&s->space_ready);
	pthread_cond_destroy(&s->root_ready);
}

static int backup_start_workers(backup_state *s)
{
	const coffer_chunker_params *params = &s->repo->chunker_params;
	size_t buffer_size = BACKUP_READ_BUFFER;
	unsigned int started = 0;
	int rc;

	if (buffer_size < 2 * (size_t)params->max_size)
		buffer_size = 2 * (size_t)params->max_size;
	s->workers = coffer_calloc(s->worker_count + 1, sizeof(*s->workers));
	if (!s->workers)
		return COFFER_ENOMEM;
	for (unsigned int i = 0; i <= s->worker_count; i++) {
		s->workers[i].state = s;
		s->workers[i].index = i;
	}
	for (unsigned int i = 0; i < s->worker_count; i++) {
		backup_worker *wk = &s->workers[i];
		if ((rc = coffer_chunker_init(&wk->chunker, params, s->repo->gear_seed)) < 0)
			return rc;
		if (!(wk->buffer = coffer_malloc(buffer_size)))
			return COFFER_ENOMEM;
		wk->buffer_size = buffer_size;
	}
	for (unsigned int i = 0; i < s->worker_count; i++) {
		if (pthread_create(&s->workers[i].thread, NULL, backup_worker_main, &s->workers[i]) != 0)
			break;
		s->workers[i].started = 1;
		started++;
	}
	if (started == 0)
		return coffer_error_set(COFFER_ERROR, "backup: cannot start worker threads");
	return 0;
}

static void backup_stop_workers(backup_state *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->work_ready);
	pthread_mutex_unlock(&s->lock);
	for (unsigned int i = 0; i < s->worker_count; i++)
		if (s->workers && s->workers[i].started)
			pthread_join(s->workers[i].thread, NULL);
}

/* Walks the tree from the root and waits until every listing is stored. */
static void backup_run(backup_state *s, int root_fd, coffer_dir *previous_root)
{
	backup_dir *root = coffer_calloc(1, sizeof(*root));
	backup_worker *walker = &s->workers[s->worker_count];

	if (!root || !(root->path = coffer_strdup(""))) {
		coffer_free(root);
		backup_fail(s, COFFER_ENOMEM);
		return;
	}
	atomic_init(&root->pending, 1);
	backup_walk_dir(s, root, root_fd, s->have_previous ? previous_root : NULL);
	s->walk_finished = 1;
	backup_dir_release(s, root, walker);

	pthread_mutex_lock(&s->lock);
	while (!s->root_done) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += BACKUP_PROGRESS_INTERVAL_NS;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&s->root_ready, &s->lock, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&s->lock);
			backup_progress(s, 0);
			pthread_mutex_lock(&s->lock);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static int backup_check_options(const coffer_backup_options *opts)
{
	if (!opts)
		return coffer_error_set(COFFER_EINVALID, "backup: no options");
	if (opts->version == 0 || opts->version > COFFER_BACKUP_OPTIONS_VERSION)
		return coffer_error_set(COFFER_EUNSUPPORTED, "backup: options version %u (this library knows 1..%u)",
		                        opts->version, COFFER_BACKUP_OPTIONS_VERSION);
	if (!opts->path || !opts->path[0])
		return coffer_error_set(COFFER_EINVALID, "backup: no path to back up");
	if (opts->source && !opts->source[0])
		return coffer_error_set(COFFER_EINVALID, "backup: empty source name");
	return 0;
}

/* Writes the manifest and hands its info to the caller. */
static int backup_save_manifest(backup_state *s, const char *source, int64_t start_ns, const struct stat *root_st,
                                coffer_snapshot_info *out)
{
	coffer_manifest m;
	uint8_t id[COFFER_SNAPSHOT_ID_HEX / 2];
	int rc;

	memset(&m, 0, sizeof(m));
	if ((rc = coffer_crypto_random(id, sizeof(id))) < 0)
		return rc;
	coffer_crypto_hex_encode(m.info.id, id, sizeof(id));
	m.info.start_time_ns = start_ns;
	m.info.end_time_ns = clock_ns(CLOCK_REALTIME);
	if (m.info.end_time_ns < start_ns)
		m.info.end_time_ns = start_ns;
	m.info.incomplete = atomic_load(&s->incomplete);
	backup_stats_snapshot(s, &m.info.stats);
	m.root = s->root_object;
	memset(&s->root_object, 0, sizeof(s->root_object));
	m.root_mode = (uint32_t)(root_st->st_mode & 07777);
	m.root_uid = (uint32_t)root_st->st_uid;
	m.root_gid = (uint32_t)root_st->st_gid;
	m.root_mtime_ns = backup_timespec_ns(&root_st->st_mtim);
	if (!(m.info.source = coffer_strdup(source)) || !(m.info.tool_version = coffer_strdup(coffer_version()))) {
		rc = COFFER_ENOMEM;
		goto out;
	}
	if ((rc = backup_copy_tags(&m.info, s->opts->tags, s->opts->tag_count)) < 0)
		goto out;
	if ((rc = coffer_manifest_save(s->repo, &m)) < 0)
		goto out;
	if (out) {
		*out = m.info;
		memset(&m.info, 0, sizeof(m.info));
	}
out:
	coffer_manifest_clear(&m);
	return rc;
}

int coffer_backup(coffer_repo *repo, const coffer_backup_options *opts, coffer_snapshot_info *out)
{
	backup_state state, *s = &state;
	coffer_dir previous_root = { NULL, 0 };
	coffer_codec codec;
	struct stat root_st;
	char *source = NULL;
	char proc_check[64];
	int64_t start_ns;
	int root_fd = -1;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!repo)
		return coffer_error_set(COFFER_EINVALID, "backup: no repository");
	if ((rc = backup_check_options(opts)) < 0)
		return rc;
	start_ns = opts->start_time_ns ? opts->start_time_ns : clock_ns(CLOCK_REALTIME);

	memset(s, 0, sizeof(*s));
	s->repo = repo;
	s->opts = opts;
	s->force_hash = opts->force_hash;
	s->euid = geteuid();
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->link_lock, NULL);
	pthread_mutex_init(&s->event_lock, NULL);
	pthread_cond_init(&s->work_ready, NULL);
	pthread_cond_init(&s->space_ready, NULL);
	pthread_cond_init(&s->root_ready, NULL);
	s->files_queue_limit = backup_queue_limit();

	if (!(s->root_path = realpath(opts->path, NULL))) {
		rc = coffer_error_set_errno(errno == ENOENT ? COFFER_ENOTFOUND : COFFER_ERROR, errno,
		                            "backup: cannot resolve %s", opts->path);
		goto out;
	}
	root_fd = open(s->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0 || fstat(root_fd, &root_st) != 0) {
		rc = coffer_error_set_errno(errno == ENOENT ? COFFER_ENOTFOUND : errno == EACCES ? COFFER_EAUTH : COFFER_ERROR,
		                            errno, "backup: cannot open the folder %s", s->root_path);
		goto out;
	}
	snprintf(proc_check, sizeof(proc_check), "/proc/self/fd/%d", root_fd);
	s->proc_paths = access(proc_check, F_OK) == 0;
	if (!(source = opts->source ? coffer_strdup(opts->source) : backup_default_source(s->root_path))) {
		rc = COFFER_ENOMEM;
		goto out;
	}
	if (opts->compression) {
		if ((rc = coffer_codec_lookup(repo->core, opts->compression, &codec)) < 0)
			goto out;
	} else {
		codec = repo->codec;
	}
	s->worker_count = opts->parallelism;
	if (s->worker_count == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		s->worker_count = cpus > 0 ? (unsigned int)cpus : 1;
	}
	if (s->worker_count > BACKUP_MAX_WORKERS)
		s->worker_count = BACKUP_MAX_WORKERS;
	if ((rc = backup_name_cache_new(&s->names)) < 0)
		goto out;
	if (!(s->links = coffer_calloc(LINK_BUCKETS, sizeof(*s->links)))) {
		rc = COFFER_ENOMEM;
		goto out;
	}
	/* the session marker first: from then on maintenance will not delete what the
	 * previous snapshot references, even if that snapshot is deleted meanwhile */
	if ((rc = coffer_store_writer_new(&s->writer, repo, s->worker_count + 1, &codec)) < 0)
		goto out;
	if (!s->force_hash && (rc = backup_load_previous(s, source, &previous_root)) < 0)
		goto out;
	if ((rc = backup_start_workers(s)) < 0) {
		backup_stop_workers(s);
		goto out;
	}

	s->next_progress_ns = clock_ns(CLOCK_MONOTONIC) + BACKUP_PROGRESS_INTERVAL_NS;
	backup_run(s, root_fd, &previous_root);
	backup_stop_workers(s);
	coffer_dir_clear(&previous_root);
	memset(&previous_root, 0, sizeof(previous_root));
	backup_progress(s, 1);

	if (atomic_load(&s->failed)) {
		rc = coffer_error_set(s->error_code, "backup of %s: %s", s->root_path, s->error_message);
		goto out;
	}
	if ((rc = coffer_store_writer_commit(s->writer)) < 0) {
		coffer_error_wrap("backup of %s: committing", s->root_path);
		goto out;
	}
	if ((rc = backup_save_manifest(s, source, start_ns, &root_st, out)) < 0)
		coffer_error_wrap("backup of %s: saving the snapshot", s->root_path);

out:
	if (s->writer)
		coffer_store_writer_free(s->writer);
	coffer_dir_clear(&previous_root);
	if (root_fd >= 0)
		close(root_fd);
	coffer_free(source);
	backup_state_free(s);
	return rc;
}
