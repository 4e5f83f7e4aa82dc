/* The merged index: every index blob of the repository folded into one sorted array of
 * fixed-size records, kept in the local cache as a file that is memory-mapped and
 * binary-searched, so memory does not grow with the repository. The file also lists the
 * index blobs it covers; a refresh fetches only new blobs and rebuilds from scratch when a
 * covered blob disappeared (maintenance compacted the index). Layout in
 * docs/FORMAT.md. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_private.h"

#define CACHE_MAGIC "COFFCACH"
#define CACHE_VERSION 1u
#define CACHE_HEADER_SIZE 64u
#define CACHE_CHECKSUM_SIZE 32u
#define CACHE_FILE_NAME "index"
#define CACHE_WRITE_BUFFER (1u << 20)
/* Index blobs are fetched and merged in batches of about this many stored bytes, so a
 * cold rebuild of a large repository holds a bounded number of records in memory. */
#define REFRESH_BATCH_BYTES ((uint64_t)32 << 20)
/* Longer names cannot be recorded in the cache file; coffer never writes them. */
#define MAX_INDEX_BLOB_NAME 1024u
#define REFRESH_ATTEMPTS 3

typedef struct index_view {
	atomic_uint refs;
	uint8_t *map;               /* the whole cache file, or NULL for an empty view */
	size_t map_len;
	const uint8_t *records;     /* count sorted 64-byte records */
	size_t count;
	char **names;               /* covered index blobs, sorted */
	size_t name_count;
} index_view;

/* Records of sessions committed by this handle that could not be written to the cache
 * file (disk full, ...): kept in memory until the handle closes. */
typedef struct index_overlay {
	uint8_t *records;
	size_t count;
	struct index_overlay *next;
} index_overlay;

struct coffer_store_index {
	pthread_rwlock_t lock;      /* guards view and overlays */
	index_view *view;
	index_overlay *overlays;
	pthread_mutex_t merge_lock; /* one refresh or session merge at a time */
	coffer_crypto_hasher *checksum;
	char path[4200];
};

/* ------------------------------------------------------------------ views */

static void free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		coffer_free(names[i]);
	coffer_free(names);
}

static void view_unref(index_view *v)
{
	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	if (v->map)
		munmap(v->map, v->map_len);
	free_names(v->names, v->name_count);
	coffer_free(v);
}

static index_view *view_empty(void)
{
	index_view *v = coffer_calloc(1, sizeof(*v));
	if (v)
		atomic_init(&v->refs, 1);
	return v;
}

/* The current view with a reference the caller drops with view_unref. */
static index_view *view_current(coffer_store_index *idx)
{
	pthread_rwlock_rdlock(&idx->lock);
	index_view *v = idx->view;
	atomic_fetch_add(&v->refs, 1);
	pthread_rwlock_unlock(&idx->lock);
	return v;
}

/* Makes v (whose reference the index takes over) the current view. */
static void view_install(coffer_store_index *idx, index_view *v)
{
	pthread_rwlock_wrlock(&idx->lock);
	index_view *old = idx->view;
	idx->view = v;
	pthread_rwlock_unlock(&idx->lock);
	view_unref(old);
}

static int record_deleted(const uint8_t *r)
{
	return (r[COFFER_INDEX_RECORD_FLAGS] & COFFER_INDEX_FLAG_DELETED) != 0;
}

static const uint8_t *records_search(const uint8_t *records, size_t count, const uint8_t *id)
{
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const uint8_t *r = records + mid * COFFER_INDEX_RECORD_SIZE;
		int c = memcmp(r, id, COFFER_CRYPTO_ID_SIZE);
		if (c == 0)
			return r;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int name_covered(const index_view *v, const char *name)
{
	size_t lo = 0, hi = v->name_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v->names[mid], name);
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* ---------------------------------------------------------- the cache file */

/* Maps and checks the cache file. COFFER_ENOTFOUND (no message) when there is none,
 * COFFER_ECORRUPT when it is damaged (the caller deletes it and rebuilds). */
static int view_load(coffer_store_index *idx, index_view **out)
{
	*out = NULL;
	int fd = open(idx->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return COFFER_ENOTFOUND;
		return coffer_error_set_errno(COFFER_ERROR, errno, "cannot read the local index cache %s",
		                              idx->path);
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return coffer_error_set_errno(COFFER_ERROR, e, "cannot read the local index cache %s", idx->path);
	}
	size_t size = (size_t)st.st_size;
	if ((uint64_t)st.st_size < CACHE_HEADER_SIZE + CACHE_CHECKSUM_SIZE) {
		close(fd);
		return coffer_error_set(COFFER_ECORRUPT, "local index cache %s is truncated", idx->path);
	}
	uint8_t *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (map == MAP_FAILED)
		return coffer_error_set_errno(COFFER_ERROR, e, "cannot map the local index cache %s", idx->path);
	const char *problem = NULL;
	uint64_t count = coffer_le64(map + 16), name_count = coffer_le64(map + 24),
	         names_bytes = coffer_le64(map + 32);
	uint8_t sum[COFFER_CRYPTO_ID_SIZE];
	if (memcmp(map, CACHE_MAGIC, 8) != 0 || coffer_le32(map + 8) != CACHE_VERSION ||
	    coffer_le32(map + 12) != COFFER_INDEX_RECORD_SIZE)
		problem = "has an unknown header";
	else if (count > size / COFFER_INDEX_RECORD_SIZE || names_bytes > size ||
	         CACHE_HEADER_SIZE + count * COFFER_INDEX_RECORD_SIZE + names_bytes + CACHE_CHECKSUM_SIZE != size)
		problem = "has the wrong size (truncated?)";
	else if (coffer_crypto_hasher_id(idx->checksum, map, size - CACHE_CHECKSUM_SIZE, sum) != 0 ||
	         memcmp(sum, map + size - CACHE_CHECKSUM_SIZE, CACHE_CHECKSUM_SIZE) != 0)
		problem = "fails its checksum";
	index_view *v = NULL;
	if (!problem) {
		v = coffer_calloc(1, sizeof(*v));
		if (!v || (name_count && !(v->names = coffer_calloc(name_count, sizeof(char *))))) {
			coffer_free(v);
			munmap(map, size);
			return COFFER_ENOMEM;
		}
		atomic_init(&v->refs, 1);
		v->map = map;
		v->map_len = size;
		v->records = map + CACHE_HEADER_SIZE;
		v->count = count;
		const uint8_t *p = v->records + count * COFFER_INDEX_RECORD_SIZE, *end = p + names_bytes;
		for (uint64_t i = 0; i < name_count && !problem; i++) {
			size_t len = (size_t)(end - p) >= 2 ? coffer_le16(p) : 0;
			if (len == 0 || len > MAX_INDEX_BLOB_NAME || (size_t)(end - p - 2) < len ||
			    memchr(p + 2, 0, len)) {
				problem = "has a damaged list of index blobs";
				break;
			}
			v->names[i] = coffer_malloc(len + 1);
			if (!v->names[i]) {
				view_unref(v);
				return COFFER_ENOMEM;
			}
			memcpy(v->names[i], p + 2, len);
			v->names[i][len] = '\0';
			v->name_count = i + 1;
			if (i > 0 && strcmp(v->names[i - 1], v->names[i]) >= 0)
				problem = "has an unsorted list of index blobs";
			p += 2 + len;
		}
		if (!problem && p != end)
			problem = "has trailing bytes after its list of index blobs";
		if (problem) {
			view_unref(v);
			map = NULL;
		}
	}
	if (problem) {
		if (map)
			munmap(map, size);
		return coffer_error_set(COFFER_ECORRUPT, "local index cache %s %s", idx->path, problem);
	}
	*out = v;
	return 0;
}

typedef struct cache_writer {
	int fd;
	uint8_t *buffer;
	size_t used;
	int error;
} cache_writer;

static int cache_flush(cache_writer *w)
{
	size_t done = 0;
	while (done < w->used && !w->error) {
		ssize_t n = write(w->fd, w->buffer + done, w->used - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			w->error = n < 0 ? errno : EIO;
		else
			done += (size_t)n;
	}
	w->used = 0;
	return w->error;
}

static int cache_write(cache_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0 && !w->error) {
		if (w->used == CACHE_WRITE_BUFFER && cache_flush(w))
			break;
		size_t n = CACHE_WRITE_BUFFER - w->used;
		if (n > len)
			n = len;
		memcpy(w->buffer + w->used, p, n);
		w->used += n;
		p += n;
		len -= n;
	}
	return w->error;
}

static int pwrite_all(int fd, const uint8_t *data, size_t len, off_t offset)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, data, len, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		data += n;
		len -= (size_t)n;
		offset += n;
	}
	return 0;
}

/* Writes a new cache file: base and add merged (both sorted; add may hold ids twice or
 * ids of base, which are dropped) and the covered names, then maps it as a view and
 * renames it into place. */
static int view_write(coffer_store_index *idx, const uint8_t *base, size_t base_count, const uint8_t *add,
                      size_t add_count, char **names, size_t name_count, index_view **out)
{
	*out = NULL;
	char tmp[4300];
	uint8_t random[4];
	if (coffer_crypto_random(random, sizeof(random)) != 0)
		return coffer_error_last()->code;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%02x%02x%02x%02x", idx->path, (long)getpid(), random[0],
	         random[1], random[2], random[3]);
	cache_writer w = { -1, NULL, 0, 0 };
	w.buffer = coffer_malloc(CACHE_WRITE_BUFFER);
	if (!w.buffer)
		return COFFER_ENOMEM;
	w.fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w.fd < 0) {
		int e = errno;
		coffer_free(w.buffer);
		return coffer_error_set_errno(COFFER_ERROR, e,
		                              "cannot write the local index cache in %s (set the cache folder "
		                              "with the cache_dir option or KOPIA_CACHE_DIR)",
		                              idx->path);
	}
	uint8_t header[CACHE_HEADER_SIZE] = { 0 };
	cache_write(&w, header, sizeof(header));
	size_t i = 0, j = 0, count = 0;
	uint8_t last[COFFER_INDEX_RECORD_SIZE];
	int have_last = 0;
	while ((i < base_count || j < add_count) && !w.error) {
		const uint8_t *a = j < add_count ? add + j * COFFER_INDEX_RECORD_SIZE : NULL;
		const uint8_t *b = i < base_count ? base + i * COFFER_INDEX_RECORD_SIZE : NULL;
		int c = !a ? -1 : !b ? 1 : memcmp(b, a, COFFER_CRYPTO_ID_SIZE);
		/* Equal ids: a live entry wins over a tombstone (a writer stored the chunk again). */
		if (c == 0 && record_deleted(b) && !record_deleted(a))
			c = 1;
		const uint8_t *pick = c <= 0 ? b : a;
		if (c <= 0)
			i++;
		else
			j++;
		if (have_last && memcmp(pick, last, COFFER_CRYPTO_ID_SIZE) == 0)
			continue;
		cache_write(&w, pick, COFFER_INDEX_RECORD_SIZE);
		memcpy(last, pick, COFFER_INDEX_RECORD_SIZE);
		have_last = 1;
		count++;
	}
	uint64_t names_bytes = 0;
	for (size_t k = 0; k < name_count && !w.error; k++) {
		size_t len = strlen(names[k]);
		uint8_t prefix[2];
		coffer_put_le16(prefix, (uint16_t)len);
		cache_write(&w, prefix, 2);
		cache_write(&w, names[k], len);
		names_bytes += 2 + len;
	}
	cache_flush(&w);
	coffer_free(w.buffer);
	size_t total = CACHE_HEADER_SIZE + count * COFFER_INDEX_RECORD_SIZE + names_bytes;
	memcpy(header, CACHE_MAGIC, 8);
	coffer_put_le32(header + 8, CACHE_VERSION);
	coffer_put_le32(header + 12, COFFER_INDEX_RECORD_SIZE);
	coffer_put_le64(header + 16, count);
	coffer_put_le64(header + 24, name_count);
	coffer_put_le64(header + 32, names_bytes);
	int e = w.error;
	if (!e)
		e = pwrite_all(w.fd, header, sizeof(header), 0);
	if (!e && ftruncate(w.fd, (off_t)(total + CACHE_CHECKSUM_SIZE)) != 0)
		e = errno;
	uint8_t *map = MAP_FAILED;
	if (!e) {
		map = mmap(NULL, total + CACHE_CHECKSUM_SIZE, PROT_READ, MAP_SHARED, w.fd, 0);
		if (map == MAP_FAILED)
			e = errno;
	}
	uint8_t sum[COFFER_CRYPTO_ID_SIZE];
	if (!e && coffer_crypto_hasher_id(idx->checksum, map, total, sum) != 0)
		e = EIO;
	if (!e)
		e = pwrite_all(w.fd, sum, sizeof(sum), (off_t)total);
	if (!e && rename(tmp, idx->path) != 0)
		e = errno;
	close(w.fd);
	index_view *v = NULL;
	if (!e) {
		v = coffer_calloc(1, sizeof(*v));
		if (v && name_count && !(v->names = coffer_calloc(name_count, sizeof(char *)))) {
			coffer_free(v);
			v = NULL;
		}
		if (!v)
			e = ENOMEM;
	}
	if (e) {
		if (map != MAP_FAILED)
			munmap(map, total + CACHE_CHECKSUM_SIZE);
		unlink(tmp);
		if (e == ENOMEM)
			return coffer_error_set(COFFER_ENOMEM, "out of memory");
		return coffer_error_set_errno(COFFER_ERROR, e,
		                              "cannot write the local index cache %s (it is only a cache: free "
		                              "space or point the cache_dir option or KOPIA_CACHE_DIR elsewhere)",
		                              idx->path);
	}
	atomic_init(&v->refs, 1);
	v->map = map;
	v->map_len = total + CACHE_CHECKSUM_SIZE;
	v->records = map + CACHE_HEADER_SIZE;
	v->count = count;
	for (size_t k = 0; k < name_count; k++) {
		if (!(v->names[k] = coffer_strdup(names[k]))) {
			view_unref(v);
			return COFFER_ENOMEM;
		}
		v->name_count = k + 1;
	}
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ refresh */

typedef struct listed_blob {
	char *name;
	uint64_t size;
	uint8_t *records;
	size_t count;
} listed_blob;

typedef struct blob_list {
	listed_blob *items;
	size_t count, capacity;
} blob_list;

static void blob_list_free(blob_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		coffer_free(l->items[i].name);
		coffer_free(l->items[i].records);
	}
	coffer_free(l->items);
	memset(l, 0, sizeof(*l));
}

static int list_index_blob(const coffer_blob_info *info, void *ud)
{
	blob_list *l = ud;
	if (strlen(info->name) > MAX_INDEX_BLOB_NAME)
		return 0; /* never written by coffer; cannot be recorded in the cache */
	if (l->count == l->capacity) {
		size_t capacity = l->capacity ? 2 * l->capacity : 64;
		listed_blob *items = coffer_realloc(l->items, capacity * sizeof(*items));
		if (!items)
			return COFFER_ENOMEM;
		l->items = items;
		l->capacity = capacity;
	}
	listed_blob *b = &l->items[l->count];
	memset(b, 0, sizeof(*b));
	if (!(b->name = coffer_strdup(info->name)))
		return COFFER_ENOMEM;
	b->size = info->size;
	l->count++;
	return 0;
}

static int compare_listed(const void *a, const void *b)
{
	return strcmp(((const listed_blob *)a)->name, ((const listed_blob *)b)->name);
}

/* By id, and a live entry before a tombstone of the same id (the merge keeps the first). */
static int compare_records(const void *a, const void *b)
{
	int c = memcmp(a, b, COFFER_CRYPTO_ID_SIZE);
	if (c == 0)
		c = record_deleted(a) - record_deleted(b);
	return c;
}

typedef struct fetch_job {
	coffer_repo *repo;
	listed_blob *blobs;
} fetch_job;

int coffer_store_index_blob_fetch(coffer_repo *repo, const char *name, uint8_t **records, size_t *count)
{
	*records = NULL;
	*count = 0;
	coffer_buf sealed = COFFER_BUF_INIT;
	int rc = coffer_backend_get(repo->backend, name, 0, COFFER_WHOLE, &sealed);
	if (rc) {
		coffer_buf_free(&sealed);
		if (rc == COFFER_ENOTFOUND)
			return coffer_error_set(COFFER_ENOTFOUND, "index blob %s disappeared while reading it", name);
		return rc;
	}
	if (sealed.len < COFFER_CRYPTO_SEAL_OVERHEAD) {
		coffer_buf_free(&sealed);
		return coffer_error_set(COFFER_ECORRUPT, "index blob %s in %s is truncated (%zu bytes)", name,
		                        repo->url, sealed.len);
	}
	size_t plain_len = sealed.len - COFFER_CRYPTO_SEAL_OVERHEAD;
	uint8_t *plain = coffer_malloc(plain_len ? plain_len : 1);
	if (!plain) {
		coffer_buf_free(&sealed);
		return COFFER_ENOMEM;
	}
	rc = coffer_crypto_open(plain, repo->meta_key, (const uint8_t *)name, strlen(name), sealed.data,
	                        sealed.len);
	coffer_buf_free(&sealed);
	if (rc) {
		coffer_free(plain);
		return coffer_error_set(COFFER_ECORRUPT, "index blob %s in %s failed authentication (damaged or "
		                        "not written by this repository)", name, repo->url);
	}
	rc = coffer_index_blob_parse(plain, plain_len, records, count);
	coffer_free(plain);
	if (rc)
		return coffer_error_wrap("index blob %s in %s", name, repo->url);
	return 0;
}

static int fetch_index_blob(void *arg, size_t i)
{
	fetch_job *job = arg;
	listed_blob *b = &job->blobs[i];
	return coffer_store_index_blob_fetch(job->repo, b->name, &b->records, &b->count);
}

/* Sorted union of two sorted name lists (borrowed pointers). */
static char **merge_names(char **a, size_t na, char **b, size_t nb, size_t *count)
{
	char **out = coffer_malloc((na + nb + 1) * sizeof(char *));
	if (!out)
		return NULL;
	size_t i = 0, j = 0, n = 0;
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
		if (c <= 0) {
			out[n++] = a[i++];
			if (c == 0)
				j++;
		} else {
			out[n++] = b[j++];
		}
	}
	*count = n;
	return out;
}

/* Merges blobs [first, last) of the list into base, installs the result and returns it
 * (referenced) in *out. */
static int merge_batch(coffer_repo *repo, index_view *base, listed_blob *blobs, size_t n, index_view **out)
{
	coffer_store_index *idx = repo->index;
	fetch_job job = { repo, blobs };
	int rc = coffer_store_run_parallel(repo->parallelism, n, fetch_index_blob, &job);
	if (rc)
		return rc;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += blobs[i].count;
	uint8_t *add = NULL;
	if (total) {
		if (!(add = coffer_malloc(total * COFFER_INDEX_RECORD_SIZE)))
			return COFFER_ENOMEM;
		size_t at = 0;
		for (size_t i = 0; i < n; i++) {
			if (blobs[i].count)
				memcpy(add + at * COFFER_INDEX_RECORD_SIZE, blobs[i].records,
				       blobs[i].count * COFFER_INDEX_RECORD_SIZE);
			at += blobs[i].count;
			coffer_free(blobs[i].records);
			blobs[i].records = NULL;
		}
		/* Each blob is sorted already; one sort of the batch is simpler than a k-way merge
		 * and costs well under a second for a full batch. */
		if (n > 1)
			qsort(add, total, COFFER_INDEX_RECORD_SIZE, compare_records);
	}
	char **batch_names = coffer_malloc((n + 1) * sizeof(char *));
	if (!batch_names) {
		coffer_free(add);
		return COFFER_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		batch_names[i] = blobs[i].name;
	size_t name_count;
	char **names = merge_names(base->names, base->name_count, batch_names, n, &name_count);
	coffer_free(batch_names);
	if (!names) {
		coffer_free(add);
		return COFFER_ENOMEM;
	}
	index_view *v;
	rc = view_write(idx, base->records, base->count, add, total, names, name_count, &v);
	coffer_free(names);
	coffer_free(add);
	if (rc)
		return rc;
	atomic_fetch_add(&v->refs, 1);
	view_install(idx, v);
	*out = v;
	return 0;
}

static int refresh_once(coffer_repo *repo)
{
	coffer_store_index *idx = repo->index;
	blob_list listed = { NULL, 0, 0 };
	int rc = coffer_backend_list(repo->backend, COFFER_INDEX_BLOB_PREFIX, list_index_blob, &listed);
	if (rc) {
		blob_list_free(&listed);
		return rc;
	}
	if (listed.count > 1) /* qsort with a NULL base is undefined even for 0 items */
		qsort(listed.items, listed.count, sizeof(listed_blob), compare_listed);
	index_view *current = view_current(idx);
	/* A covered blob that is gone was replaced by maintenance: start over. */
	int rebuild = current->map == NULL;
	for (size_t i = 0; i < current->name_count && !rebuild; i++) {
		listed_blob key = { current->names[i], 0, NULL, 0 };
		rebuild = bsearch(&key, listed.items, listed.count, sizeof(listed_blob), compare_listed) == NULL;
	}
	index_view *base = current;
	if (rebuild) {
		base = view_empty();
		if (!base) {
			view_unref(current);
			blob_list_free(&listed);
			return COFFER_ENOMEM;
		}
		view_unref(current);
	}
	/* Keep only blobs the base does not cover, in name order. */
	size_t kept = 0;
	for (size_t i = 0; i < listed.count; i++) {
		if (name_covered(base, listed.items[i].name)) {
			coffer_free(listed.items[i].name);
			continue;
		}
		listed.items[kept++] = listed.items[i];
	}
	listed.count = kept;
	if (listed.count == 0 && !rebuild) {
		view_unref(base);
		blob_list_free(&listed);
		return 0;
	}
	if (listed.count == 0) {
		/* Nothing in the repository yet, or everything gone: an empty cache file records that. */
		index_view *v;
		rc = view_write(idx, NULL, 0, NULL, 0, NULL, 0, &v);
		view_unref(base);
		blob_list_free(&listed);
		if (rc == 0)
			view_install(idx, v);
		return rc;
	}
	size_t first = 0;
	while (first < listed.count && rc == 0) {
		size_t last = first;
		uint64_t bytes = 0;
		while (last < listed.count && (last == first || bytes + listed.items[last].size <= REFRESH_BATCH_BYTES))
			bytes += listed.items[last++].size;
		index_view *next;
		rc = merge_batch(repo, base, listed.items + first, last - first, &next);
		if (rc == 0) {
			view_unref(base);
			base = next;
		}
		first = last;
	}
	view_unref(base);
	blob_list_free(&listed);
	return rc;
}

int coffer_store_refresh(coffer_repo *repo)
{
	coffer_store_index *idx = repo->index;
	pthread_mutex_lock(&idx->merge_lock);
	int rc = 0;
	/* An index blob can vanish between LIST and GET when maintenance compacts; list again. */
	for (int attempt = 0; attempt < REFRESH_ATTEMPTS; attempt++) {
		rc = refresh_once(repo);
		if (rc != COFFER_ENOTFOUND)
			break;
	}
	pthread_mutex_unlock(&idx->merge_lock);
	if (rc)
		coffer_error_wrap("reading the index of %s", repo->url);
	return rc;
}

/* --------------------------------------------------------- open / lookups */

int coffer_store_index_open(coffer_repo *repo)
{
	coffer_store_index *idx = coffer_calloc(1, sizeof(*idx));
	if (!idx)
		return COFFER_ENOMEM;
	pthread_rwlock_init(&idx->lock, NULL);
	pthread_mutex_init(&idx->merge_lock, NULL);
	snprintf(idx->path, sizeof(idx->path), "%s/%s", repo->cache_dir, CACHE_FILE_NAME);
	uint8_t key[COFFER_CRYPTO_KEY_SIZE];
	int rc = coffer_crypto_derive_key(key, repo->master_key, "local-cache");
	if (rc == 0)
		rc = coffer_crypto_hasher_new(&idx->checksum, COFFER_CRYPTO_HASH_HMAC_SHA256, key, sizeof(key));
	coffer_crypto_cleanse(key, sizeof(key));
	index_view *v = NULL;
	if (rc == 0) {
		rc = view_load(idx, &v);
		if (rc == COFFER_ECORRUPT) {
			/* The cache is disposable: drop the damaged file and rebuild it. */
			unlink(idx->path);
			rc = COFFER_ENOTFOUND;
		}
		if (rc == COFFER_ENOTFOUND) {
			coffer_error_clear();
			v = view_empty();
			rc = v ? 0 : COFFER_ENOMEM;
		}
	}
	idx->view = v;
	repo->index = idx;
	if (rc)
		return rc;
	return coffer_store_refresh(repo);
}

void coffer_store_index_close(coffer_repo *repo)
{
	coffer_store_index *idx = repo->index;
	if (!idx)
		return;
	view_unref(idx->view);
	while (idx->overlays) {
		index_overlay *o = idx->overlays;
		idx->overlays = o->next;
		coffer_free(o->records);
		coffer_free(o);
	}
	coffer_crypto_hasher_free(idx->checksum);
	pthread_rwlock_destroy(&idx->lock);
	pthread_mutex_destroy(&idx->merge_lock);
	coffer_free(idx);
	repo->index = NULL;
}

int coffer_store_index_find(coffer_repo *repo, const uint8_t id[COFFER_CRYPTO_ID_SIZE],
                            uint8_t record[COFFER_INDEX_RECORD_SIZE])
{
	coffer_store_index *idx = repo->index;
	pthread_rwlock_rdlock(&idx->lock);
	const uint8_t *r = records_search(idx->view->records, idx->view->count, id);
	for (index_overlay *o = idx->overlays; !r && o; o = o->next)
		r = records_search(o->records, o->count, id);
	if (r)
		memcpy(record, r, COFFER_INDEX_RECORD_SIZE);
	pthread_rwlock_unlock(&idx->lock);
	return r ? 0 : COFFER_ENOTFOUND;
}

void coffer_store_index_add_session(coffer_repo *repo, const char *blob_name, const uint8_t *records,
                                    size_t count)
{
	coffer_store_index *idx = repo->index;
	pthread_mutex_lock(&idx->merge_lock);
	index_view *base = view_current(idx);
	char *name = (char *)blob_name;
	size_t name_count;
	char **names = merge_names(base->names, base->name_count, &name, 1, &name_count);
	int rc = names ? 0 : COFFER_ENOMEM;
	index_view *v = NULL;
	/* Only a cache that is complete up to now may claim to cover the new blob. */
	if (rc == 0 && base->map)
		rc = view_write(idx, base->records, base->count, records, count, names, name_count, &v);
	coffer_free(names);
	view_unref(base);
	if (rc == 0 && v) {
		view_install(idx, v);
	} else if (count > 0) {
		index_overlay *o = coffer_calloc(1, sizeof(*o));
		uint8_t *copy = coffer_malloc(count * COFFER_INDEX_RECORD_SIZE);
		if (o && copy) {
			memcpy(copy, records, count * COFFER_INDEX_RECORD_SIZE);
			o->records = copy;
			o->count = count;
			pthread_rwlock_wrlock(&idx->lock);
			o->next = idx->overlays;
			idx->overlays = o;
			pthread_rwlock_unlock(&idx->lock);
		} else {
			/* Without memory the chunks are only missed by dedup until the next open. */
			coffer_free(o);
			coffer_free(copy);
		}
	}
	pthread_mutex_unlock(&idx->merge_lock);
}

int coffer_store_index_foreach(coffer_repo *repo, coffer_store_record_cb cb, void *ud)
{
	coffer_store_index *idx = repo->index;
	pthread_rwlock_rdlock(&idx->lock);
	index_view *v = idx->view;
	atomic_fetch_add(&v->refs, 1);
	index_overlay *overlays = idx->overlays; /* the list only grows at its head */
	pthread_rwlock_unlock(&idx->lock);
	int rc = 0;
	for (size_t i = 0; i < v->count && rc == 0; i++)
		rc = cb(v->records + i * COFFER_INDEX_RECORD_SIZE, ud);
	for (index_overlay *o = overlays; o && rc == 0; o = o->next)
		for (size_t i = 0; i < o->count && rc == 0; i++) {
			const uint8_t *r = o->records + i * COFFER_INDEX_RECORD_SIZE;
			if (!records_search(v->records, v->count, r))
				rc = cb(r, ud);
		}
	view_unref(v);
	return rc;
}
