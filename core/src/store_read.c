/* Reading the store: content ids, lookups, chunk reads (with the local cache of metadata
 * chunks), sealed small blobs and pack tables of contents. */
#include "config.h"

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

#include <coffer/sys/codec.h>

#include "store_private.h"

/* A cached metadata chunk read again is touched so trimming keeps it, but at most this
 * often: a utimensat per read of a hot directory would cost more than it saves. */
#define META_CACHE_TOUCH_INTERVAL_S 3600
/* Trimming goes below the capacity so it does not run again at the next close. */
#define META_CACHE_TRIM_PERCENT 90
/* Other processes sharing the cache may have filled it: an open rescans this often. */
#define META_CACHE_TRIM_INTERVAL_S 3600

int coffer_store_id(coffer_repo *repo, const void *data, size_t len, coffer_cid *out)
{
	return coffer_crypto_hasher_id(repo->hasher, data, len, out->bytes);
}

void coffer_store_record_to_location(const uint8_t record[COFFER_INDEX_RECORD_SIZE],
                                     coffer_chunk_location *loc)
{
	memset(loc, 0, sizeof(*loc));
	coffer_pack_name_format(loc->pack, (char)record[COFFER_INDEX_RECORD_PACK],
	                        record + COFFER_INDEX_RECORD_PACK + 1);
	loc->offset = coffer_le32(record + COFFER_INDEX_RECORD_OFFSET);
	loc->stored_length = coffer_le32(record + COFFER_INDEX_RECORD_STORED);
	loc->raw_length = coffer_le32(record + COFFER_INDEX_RECORD_RAW);
	loc->codec = record[COFFER_INDEX_RECORD_CODEC];
	loc->kind = record[COFFER_INDEX_RECORD_KIND];
}

static void id_hex(char out[2 * COFFER_CRYPTO_ID_SIZE + 1], const coffer_cid *id)
{
	coffer_crypto_hex_encode(out, id->bytes, COFFER_CRYPTO_ID_SIZE);
}

int coffer_store_lookup(coffer_repo *repo, const coffer_cid *id, coffer_chunk_location *out)
{
	uint8_t record[COFFER_INDEX_RECORD_SIZE];
	if (coffer_store_index_find(repo, id->bytes, record) != 0 &&
	    coffer_store_writers_find(repo, id->bytes, record) != 0) {
		char hex[2 * COFFER_CRYPTO_ID_SIZE + 1];
		id_hex(hex, id);
		return coffer_error_set(COFFER_ENOTFOUND, "chunk %s is not in the index of %s", hex, repo->url);
	}
	coffer_store_record_to_location(record, out);
	return 0;
}

typedef struct foreach_context {
	coffer_store_chunk_cb cb;
	void *ud;
} foreach_context;

static int foreach_record(const uint8_t record[COFFER_INDEX_RECORD_SIZE], void *ud)
{
	foreach_context *ctx = ud;
	coffer_cid id;
	coffer_chunk_location loc;
	memcpy(id.bytes, record, COFFER_CRYPTO_ID_SIZE);
	coffer_store_record_to_location(record, &loc);
	return ctx->cb(&id, &loc, ctx->ud);
}

int coffer_store_foreach(coffer_repo *repo, coffer_store_chunk_cb cb, void *ud)
{
	foreach_context ctx = { cb, ud };
	return coffer_store_index_foreach(repo, foreach_record, &ctx);
}

/* ------------------------------------------------------ metadata chunk cache */

static void meta_cache_path(coffer_repo *repo, const coffer_cid *id, char *out, size_t cap)
{
	char hex[2 * COFFER_CRYPTO_ID_SIZE + 1];
	id_hex(hex, id);
	snprintf(out, cap, "%s/%s", coffer_store_state_of(repo)->meta_cache_dir, hex);
}

/* Reads the cached sealed bytes of a metadata chunk into out; nonzero when absent. */
static int meta_cache_get(coffer_repo *repo, const coffer_cid *id, size_t stored_length, coffer_buf *out)
{
	char path[4400];
	meta_cache_path(repo, id, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	int ok = fstat(fd, &st) == 0 && (uint64_t)st.st_size == stored_length &&
	         coffer_buf_reserve(out, stored_length) == 0;
	size_t done = 0;
	while (ok && done < stored_length) {
		ssize_t n = read(fd, out->data + out->len + done, stored_length - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ok = 0;
		else
			done += (size_t)n;
	}
	if (ok && time(NULL) - st.st_mtime > META_CACHE_TOUCH_INTERVAL_S)
		futimens(fd, NULL);
	close(fd);
	if (!ok) {
		unlink(path);
		return -1;
	}
	out->len += stored_length;
	return 0;
}

static void meta_cache_scan(coffer_repo *repo);

/* Best effort: a cache that cannot be written only costs downloads. */
static void meta_cache_put(coffer_repo *repo, const coffer_cid *id, const uint8_t *data, size_t len)
{
	char path[4400], tmp[4500];
	meta_cache_path(repo, id, path, sizeof(path));
	uint8_t random[4] = { 0 };
	coffer_crypto_random(random, sizeof(random));
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%02x%02x%02x%02x", path, (long)getpid(), random[0], random[1],
	         random[2], random[3]);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (close(fd) != 0 || done != len || rename(tmp, path) != 0) {
		unlink(tmp);
		return;
	}
	coffer_store_state *state = coffer_store_state_of(repo);
	atomic_fetch_add(&state->meta_cache_added, len);
	uint64_t total = atomic_fetch_add(&state->meta_cache_total, len) + len;
	if (!atomic_load(&state->meta_cache_total_known) || total > state->cache_capacity)
		meta_cache_scan(repo);
}

typedef struct cached_file {
	char *name;
	uint64_t size;
	int64_t mtime;
} cached_file;

static int compare_cached_by_age(const void *a, const void *b)
{
	const cached_file *x = a, *y = b;
	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* "<meta>/.trimmed": when the folder was last scanned (mtime) and for which capacity. */
static int meta_cache_trim_due(coffer_store_state *state, const char *stamp)
{
	struct stat st;
	char text[32] = "";
	FILE *fp = fopen(stamp, "r");
	if (!fp)
		return 1;
	int ok = fstat(fileno(fp), &st) == 0 && fgets(text, sizeof(text), fp) != NULL;
	fclose(fp);
	if (!ok || time(NULL) - st.st_mtime > META_CACHE_TRIM_INTERVAL_S || time(NULL) < st.st_mtime)
		return 1;
	return strtoull(text, NULL, 10) > state->cache_capacity;
}

/* Measures the cache folder and, above the capacity, deletes the least recently used
 * chunks down to META_CACHE_TRIM_PERCENT of it. One thread at a time; a thread that
 * finds a scan under way leaves it to that one. */
static void meta_cache_scan(coffer_repo *repo)
{
	coffer_store_state *state = coffer_store_state_of(repo);
	if (pthread_mutex_trylock(&state->meta_trim_lock) != 0)
		return;
	char stamp[4300];
	snprintf(stamp, sizeof(stamp), "%s/.trimmed", state->meta_cache_dir);
	FILE *fp = fopen(stamp, "w");
	if (fp) {
		fprintf(fp, "%llu\n", (unsigned long long)state->cache_capacity);
		fclose(fp);
	}
	DIR *dir = opendir(state->meta_cache_dir);
	if (!dir) {
		pthread_mutex_unlock(&state->meta_trim_lock);
		return;
	}
	cached_file *files = NULL;
	size_t count = 0, capacity = 0;
	uint64_t total = 0;
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
			continue;
		/* Leftovers of an interrupted write. */
		if (strstr(de->d_name, ".tmp.") && now - st.st_mtime > 3600) {
			unlinkat(dirfd(dir), de->d_name, 0);
			continue;
		}
		if (count == capacity) {
			size_t cap = capacity ? capacity * 2 : 256;
			cached_file *grown = realloc(files, cap * sizeof(*files));
			if (!grown)
				break;
			files = grown;
			capacity = cap;
		}
		files[count].name = strdup(de->d_name);
		if (!files[count].name)
			break;
		files[count].size = (uint64_t)st.st_size;
		files[count].mtime = (int64_t)st.st_mtime;
		total += files[count].size;
		count++;
	}
	if (total > state->cache_capacity) {
		uint64_t goal = state->cache_capacity / 100 * META_CACHE_TRIM_PERCENT;
		qsort(files, count, sizeof(*files), compare_cached_by_age);
		for (size_t i = 0; i < count && total > goal; i++)
			if (unlinkat(dirfd(dir), files[i].name, 0) == 0)
				total -= files[i].size;
	}
	for (size_t i = 0; i < count; i++)
		free(files[i].name);
	free(files);
	closedir(dir);
	atomic_store(&state->meta_cache_total, total);
	atomic_store(&state->meta_cache_total_known, 1);
	pthread_mutex_unlock(&state->meta_trim_lock);
}

void coffer_store_meta_cache_trim(coffer_repo *repo, int at_close)
{
	coffer_store_state *state = coffer_store_state_of(repo);
	if (!state->meta_cache_dir[0])
		return;
	char stamp[4300];
	snprintf(stamp, sizeof(stamp), "%s/.trimmed", state->meta_cache_dir);
	if (at_close ? atomic_load(&state->meta_cache_added) == 0 : !meta_cache_trim_due(state, stamp))
		return;
	meta_cache_scan(repo);
}

/* On a cache miss the whole metadata pack is fetched and every metadata chunk in it cached:
 * listings are read together (a walk, a restore, an incremental backup), and one GET of a
 * pack of at most 4 MiB replaces hundreds of small ranged GETs on a remote store. Leaves
 * the requested chunk's sealed bytes in sealed; nonzero (no error kept) when the pack could
 * not be used, and the caller reads the chunk's range instead. */
static int meta_pack_fill(coffer_repo *repo, const coffer_chunk_location *loc, coffer_buf *sealed)
{
	coffer_buf pack = COFFER_BUF_INIT;
	int rc = coffer_backend_get(repo->backend, loc->pack, 0, COFFER_WHOLE, &pack);
	if (rc || pack.len < (uint64_t)loc->offset + loc->stored_length) {
		coffer_buf_free(&pack);
		coffer_error_clear();
		return -1;
	}
	uint64_t toc_offset;
	uint32_t toc_length;
	uint8_t *plain = NULL;
	coffer_pack_entry *entries = NULL;
	size_t count = 0;
	if (pack.len >= COFFER_PACK_TRAILER_SIZE &&
	    coffer_pack_trailer_parse(pack.data + pack.len - COFFER_PACK_TRAILER_SIZE, pack.len, &toc_offset,
	                              &toc_length) == 0 &&
	    (plain = coffer_malloc(toc_length - COFFER_CRYPTO_SEAL_OVERHEAD)) != NULL &&
	    coffer_crypto_open(plain, repo->meta_key, (const uint8_t *)loc->pack, strlen(loc->pack),
	                       pack.data + toc_offset, toc_length) == 0 &&
	    coffer_pack_toc_parse(plain, toc_length - COFFER_CRYPTO_SEAL_OVERHEAD, toc_offset, &entries, &count) == 0) {
		for (size_t i = 0; i < count; i++) {
			if (entries[i].kind != COFFER_CHUNK_META || entries[i].offset == loc->offset)
				continue; /* the requested chunk is cached once it authenticated */
			coffer_cid other;
			char path[4400];
			memcpy(other.bytes, entries[i].id, COFFER_CRYPTO_ID_SIZE);
			meta_cache_path(repo, &other, path, sizeof(path));
			if (access(path, F_OK) != 0)
				meta_cache_put(repo, &other, pack.data + entries[i].offset, entries[i].stored_length);
		}
	}
	coffer_free(entries);
	coffer_free(plain);
	coffer_error_clear();
	sealed->len = 0;
	rc = coffer_buf_append(sealed, pack.data + loc->offset, loc->stored_length);
	coffer_buf_free(&pack);
	return rc;
}

/* ------------------------------------------------------------ chunk reads */

/* Opens, decompresses and checks one sealed chunk, appending the plaintext to out. */
static int open_chunk(coffer_repo *repo, const coffer_cid *id, const coffer_chunk_location *loc,
                      const uint8_t *sealed, coffer_buf *out)
{
	char hex[2 * COFFER_CRYPTO_ID_SIZE + 1];
	size_t payload_len = loc->stored_length - COFFER_CRYPTO_SEAL_OVERHEAD;
	size_t start = out->len;
	int rc = coffer_buf_reserve(out, (size_t)loc->raw_length + 1);
	if (rc)
		return rc;
	uint8_t *scratch = NULL;
	uint8_t *target = out->data + start;
	if (loc->codec != COFFER_CODEC_ID_NONE) {
		if (!(scratch = coffer_malloc(payload_len ? payload_len : 1)))
			return COFFER_ENOMEM;
		target = scratch;
	}
	id_hex(hex, id);
	if (coffer_crypto_open(target, repo->data_key, id->bytes, COFFER_CRYPTO_ID_SIZE, sealed,
	                       loc->stored_length) != 0) {
		coffer_free(scratch);
		return coffer_error_set(COFFER_ECORRUPT,
		                        "chunk %s in pack %s at offset %llu of %s is corrupt: authentication failed",
		                        hex, loc->pack, (unsigned long long)loc->offset, repo->url);
	}
	size_t produced = payload_len;
	if (scratch) {
		coffer_codec codec;
		rc = coffer_codec_by_id(repo->core, loc->codec, &codec);
		if (rc == 0)
			rc = coffer_codec_decompress(&codec, scratch, payload_len, out->data + start, loc->raw_length,
			                             &produced);
		coffer_free(scratch);
		if (rc == COFFER_ENOTFOUND)
			return coffer_error_wrap("reading chunk %s in pack %s", hex, loc->pack);
		if (rc)
			return coffer_error_set(COFFER_ECORRUPT,
			                        "chunk %s in pack %s at offset %llu of %s is corrupt: %s", hex, loc->pack,
			                        (unsigned long long)loc->offset, repo->url, coffer_error_last()->message);
	}
	if (produced != loc->raw_length)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "chunk %s in pack %s at offset %llu of %s is corrupt: %zu bytes instead of %u",
		                        hex, loc->pack, (unsigned long long)loc->offset, repo->url, produced,
		                        loc->raw_length);
	coffer_cid check;
	if ((rc = coffer_store_id(repo, out->data + start, produced, &check)) != 0)
		return rc;
	if (coffer_crypto_equal(check.bytes, id->bytes, COFFER_CRYPTO_ID_SIZE) != 0)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "chunk %s in pack %s at offset %llu of %s is corrupt: its contents hash "
		                        "to another id",
		                        hex, loc->pack, (unsigned long long)loc->offset, repo->url);
	out->len = start + produced;
	return 0;
}

/* ------------------------------------------------------------ read windows */

#define COFFER_READ_WINDOWS 8
#define READ_WINDOW_DEFAULT ((size_t)4 << 20)

typedef struct coffer_read_window {
	char pack[COFFER_PACK_NAME_LENGTH + 1];
	uint64_t start;
	coffer_buf data;
	uint64_t used; /* window_clock at the last hit, for LRU */
} coffer_read_window;

int coffer_store_windows_init(coffer_repo *repo)
{
	coffer_store_state *state = coffer_store_state_of(repo);
	size_t size = READ_WINDOW_DEFAULT;
	const char *env = getenv("COFFER_READ_WINDOW_KIB");
	int forced = 0;
	if (env && *env) {
		char *end;
		unsigned long long kib = strtoull(env, &end, 10);
		if (*end || kib > (1ull << 20))
			return coffer_error_set(COFFER_EINVALID, "COFFER_READ_WINDOW_KIB=\"%s\" is not a size in "
			                        "KiB from 0 (off) to 1048576", env);
		size = (size_t)kib << 10;
		forced = 1;
	}
	/* a local store reads a chunk as cheaply as a window: only remote ones get windows,
	 * unless the environment asks (tests) */
	if (!forced && (coffer_backend_caps(repo->backend) & COFFER_BACKEND_CAP_LOCAL))
		size = 0;
	state->read_window = size;
	pthread_mutex_init(&state->windows_lock, NULL);
	if (size && !(state->windows = coffer_calloc(COFFER_READ_WINDOWS, sizeof(*state->windows))))
		state->read_window = 0;
	return 0;
}

void coffer_store_windows_free(coffer_repo *repo)
{
	coffer_store_state *state = coffer_store_state_of(repo);
	if (state->windows)
		for (int i = 0; i < COFFER_READ_WINDOWS; i++)
			coffer_buf_free(&state->windows[i].data);
	coffer_free(state->windows);
	state->windows = NULL;
	pthread_mutex_destroy(&state->windows_lock);
}

/* Copies the sealed chunk at loc from a window into out; nonzero when no window holds it. */
static int window_hit(coffer_store_state *state, const coffer_chunk_location *loc, coffer_buf *out)
{
	int rc = -1;
	pthread_mutex_lock(&state->windows_lock);
	for (int i = 0; i < COFFER_READ_WINDOWS; i++) {
		coffer_read_window *w = &state->windows[i];
		if (w->data.len && strcmp(w->pack, loc->pack) == 0 && loc->offset >= w->start &&
		    loc->offset + loc->stored_length <= w->start + w->data.len) {
			rc = coffer_buf_append(out, w->data.data + (loc->offset - w->start), loc->stored_length);
			w->used = ++state->window_clock;
			break;
		}
	}
	pthread_mutex_unlock(&state->windows_lock);
	return rc;
}

/* Reads the chunk at loc with up to a window of the bytes after it, keeps them (replacing
 * the least recently used window) and copies the chunk into out. */
static int window_fill(coffer_repo *repo, const coffer_chunk_location *loc, coffer_buf *out)
{
	coffer_store_state *state = coffer_store_state_of(repo);
	coffer_buf data = COFFER_BUF_INIT;
	int rc = coffer_backend_get(repo->backend, loc->pack, loc->offset, state->read_window, &data);
	if (rc == COFFER_EINVALID) {
		/* the window passes the end of the pack: read to the end instead */
		data.len = 0;
		coffer_error_clear();
		rc = coffer_backend_get(repo->backend, loc->pack, loc->offset, COFFER_WHOLE, &data);
	}
	if (rc || data.len < loc->stored_length) {
		coffer_buf_free(&data);
		return rc ? rc : -1;
	}
	rc = coffer_buf_append(out, data.data, loc->stored_length);
	pthread_mutex_lock(&state->windows_lock);
	coffer_read_window *victim = &state->windows[0];
	for (int i = 1; i < COFFER_READ_WINDOWS; i++)
		if (state->windows[i].used < victim->used)
			victim = &state->windows[i];
	coffer_buf_free(&victim->data);
	victim->data = data;
	snprintf(victim->pack, sizeof(victim->pack), "%s", loc->pack);
	victim->start = loc->offset;
	victim->used = ++state->window_clock;
	pthread_mutex_unlock(&state->windows_lock);
	return rc;
}

/* A data chunk through the windows, when they are on and the chunk is small enough. */
static int read_sealed(coffer_repo *repo, const coffer_chunk_location *loc, coffer_buf *sealed)
{
	coffer_store_state *state = coffer_store_state_of(repo);
	if (state->read_window && loc->kind == COFFER_CHUNK_DATA &&
	    loc->stored_length <= state->read_window / 2 && strlen(loc->pack) <= COFFER_PACK_NAME_LENGTH) {
		if (window_hit(state, loc, sealed) == 0)
			return 0;
		sealed->len = 0;
		int rc = window_fill(repo, loc, sealed);
		if (rc != -1)
			return rc;
		sealed->len = 0;
	}
	return coffer_backend_get(repo->backend, loc->pack, loc->offset, loc->stored_length, sealed);
}

int coffer_store_read(coffer_repo *repo, const coffer_cid *id, coffer_buf *out)
{
	coffer_chunk_location loc;
	int rc = coffer_store_lookup(repo, id, &loc);
	if (rc)
		return rc;
	if (!coffer_chunk_lengths_valid(loc.stored_length, loc.raw_length, loc.codec))
		return coffer_error_set(COFFER_ECORRUPT, "index entry of a chunk in pack %s has invalid lengths",
		                        loc.pack);
	coffer_buf sealed = COFFER_BUF_INIT;
	int cacheable = loc.kind == COFFER_CHUNK_META && coffer_store_state_of(repo)->meta_cache_dir[0];
	if (cacheable && meta_cache_get(repo, id, loc.stored_length, &sealed) == 0) {
		size_t before = out->len;
		rc = open_chunk(repo, id, &loc, sealed.data, out);
		coffer_buf_free(&sealed);
		if (rc == 0)
			return 0;
		/* A damaged cache file: drop it and read the pack. */
		out->len = before;
		char path[4400];
		meta_cache_path(repo, id, path, sizeof(path));
		unlink(path);
	}
	if (cacheable && meta_pack_fill(repo, &loc, &sealed) == 0)
		rc = 0;
	else
		rc = read_sealed(repo, &loc, &sealed);
	if (rc == 0 && sealed.len != loc.stored_length)
		rc = coffer_error_set(COFFER_ECORRUPT, "got %zu bytes instead of %u", sealed.len, loc.stored_length);
	if (rc) {
		char hex[2 * COFFER_CRYPTO_ID_SIZE + 1];
		id_hex(hex, id);
		/* A range past the end means the pack is shorter than the index says. */
		if (rc == COFFER_EINVALID || rc == COFFER_ECORRUPT)
			rc = coffer_error_set(COFFER_ECORRUPT,
			                      "chunk %s in pack %s at offset %llu of %s cannot be read (pack truncated?): %s",
			                      hex, loc.pack, (unsigned long long)loc.offset, repo->url,
			                      coffer_error_last()->message);
		else
			coffer_error_wrap("reading chunk %s from pack %s at offset %llu", hex, loc.pack,
			                  (unsigned long long)loc.offset);
		coffer_buf_free(&sealed);
		return rc;
	}
	size_t before = out->len;
	rc = open_chunk(repo, id, &loc, sealed.data, out);
	if (rc == 0 && cacheable)
		meta_cache_put(repo, id, sealed.data, sealed.len);
	if (rc)
		out->len = before;
	coffer_buf_free(&sealed);
	return rc;
}

/* ------------------------------------------------------------ sealed blobs */

int coffer_store_put_sealed(coffer_repo *repo, const char *name, const void *data, size_t len,
                            unsigned int flags)
{
	if (len > SIZE_MAX - COFFER_CRYPTO_SEAL_OVERHEAD)
		return coffer_error_set(COFFER_EINVALID, "blob %s is too large", name);
	uint8_t *sealed = coffer_malloc(len + COFFER_CRYPTO_SEAL_OVERHEAD);
	if (!sealed)
		return COFFER_ENOMEM;
	int rc = coffer_crypto_seal(sealed, repo->meta_key, (const uint8_t *)name, strlen(name), data, len);
	if (rc == 0)
		rc = coffer_backend_put(repo->backend, name, sealed, len + COFFER_CRYPTO_SEAL_OVERHEAD, flags);
	coffer_free(sealed);
	return rc;
}

int coffer_store_get_sealed(coffer_repo *repo, const char *name, coffer_buf *out)
{
	coffer_buf sealed = COFFER_BUF_INIT;
	int rc = coffer_backend_get(repo->backend, name, 0, COFFER_WHOLE, &sealed);
	if (rc) {
		coffer_buf_free(&sealed);
		return rc;
	}
	if (sealed.len < COFFER_CRYPTO_SEAL_OVERHEAD) {
		coffer_buf_free(&sealed);
		return coffer_error_set(COFFER_ECORRUPT, "blob %s in %s is truncated (%zu bytes)", name, repo->url,
		                        sealed.len);
	}
	size_t plain_len = sealed.len - COFFER_CRYPTO_SEAL_OVERHEAD;
	rc = coffer_buf_reserve(out, plain_len + 1);
	if (rc == 0 && coffer_crypto_open(out->data + out->len, repo->meta_key, (const uint8_t *)name,
	                                  strlen(name), sealed.data, sealed.len) != 0)
		rc = coffer_error_set(COFFER_ECORRUPT,
		                      "blob %s in %s failed authentication (damaged, or not written under this "
		                      "name by this repository)",
		                      name, repo->url);
	if (rc == 0)
		out->len += plain_len;
	coffer_buf_free(&sealed);
	return rc;
}

/* ------------------------------------------------------------ pack contents */

int coffer_store_pack_toc(coffer_repo *repo, const char *pack, coffer_store_pack_entry **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	coffer_blob_info info;
	int rc = coffer_backend_stat(repo->backend, pack, &info);
	if (rc)
		return rc;
	coffer_buf buf = COFFER_BUF_INIT;
	if (info.size < COFFER_PACK_TRAILER_SIZE)
		return coffer_error_set(COFFER_ECORRUPT, "pack %s in %s is too short (%llu bytes)", pack, repo->url,
		                        (unsigned long long)info.size);
	rc = coffer_backend_get(repo->backend, pack, info.size - COFFER_PACK_TRAILER_SIZE, COFFER_PACK_TRAILER_SIZE,
	                        &buf);
	uint64_t toc_offset = 0;
	uint32_t toc_length = 0;
	if (rc == 0 && buf.len != COFFER_PACK_TRAILER_SIZE)
		rc = coffer_error_set(COFFER_ECORRUPT, "short read of the trailer");
	if (rc == 0)
		rc = coffer_pack_trailer_parse(buf.data, info.size, &toc_offset, &toc_length);
	buf.len = 0;
	if (rc == 0)
		rc = coffer_backend_get(repo->backend, pack, toc_offset, toc_length, &buf);
	if (rc == 0 && buf.len != toc_length)
		rc = coffer_error_set(COFFER_ECORRUPT, "short read of the table of contents");
	uint8_t *plain = NULL;
	if (rc == 0 && !(plain = coffer_malloc(toc_length - COFFER_CRYPTO_SEAL_OVERHEAD)))
		rc = COFFER_ENOMEM;
	if (rc == 0 && coffer_crypto_open(plain, repo->meta_key, (const uint8_t *)pack, strlen(pack), buf.data,
	                                  toc_length) != 0)
		rc = coffer_error_set(COFFER_ECORRUPT, "table of contents failed authentication");
	coffer_pack_entry *entries = NULL;
	size_t n = 0;
	if (rc == 0)
		rc = coffer_pack_toc_parse(plain, toc_length - COFFER_CRYPTO_SEAL_OVERHEAD, toc_offset, &entries, &n);
	coffer_free(plain);
	coffer_buf_free(&buf);
	if (rc)
		return coffer_error_wrap("pack %s in %s", pack, repo->url);
	coffer_store_pack_entry *result = NULL;
	if (n && !(result = coffer_calloc(n, sizeof(*result)))) {
		coffer_free(entries);
		return COFFER_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(result[i].id.bytes, entries[i].id, COFFER_CRYPTO_ID_SIZE);
		snprintf(result[i].location.pack, sizeof(result[i].location.pack), "%s", pack);
		result[i].location.offset = entries[i].offset;
		result[i].location.stored_length = entries[i].stored_length;
		result[i].location.raw_length = entries[i].raw_length;
		result[i].location.codec = entries[i].codec;
		result[i].location.kind = entries[i].kind;
	}
	coffer_free(entries);
	*out = result;
	*count = n;
	return 0;
}
