/* Write sessions: chunks are hashed, deduplicated against the merged index and this
 * session, compressed when that shrinks them, sealed and appended to per-worker pack
 * builders; a full pack is uploaded by the worker that filled it. Commit uploads the last
 * packs and one index blob listing every chunk the session added. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <coffer/sys/codec.h>

#include "store_private.h"

/* Pack sizes: large enough that per-blob costs vanish, small enough that a retry or a
 * partial read of a pack stays cheap (DESIGN.md: 16-32 MiB). Metadata packs are smaller
 * so a directory walk caches less unrelated data. */
#define DATA_PACK_TARGET ((size_t)16 << 20)
#define META_PACK_TARGET ((size_t)4 << 20)
/* Below this size compression is not tried: the frame overhead eats any gain. */
#define COMPRESS_MIN_SIZE 64u
/* Chunks from this size on are probed first: a few small samples spread over the chunk
 * are compressed, and when none of them shrinks by 1/32 the chunk is stored raw without
 * compressing it whole (docs/FORMAT.md has the measurements). */
#define PROBE_MIN_SIZE (128u << 10)
#define PROBE_SAMPLES 4u
#define PROBE_SAMPLE_SIZE (4u << 10)
#define PROBE_MIN_GAIN_SHIFT 5
/* The session set is split by the first id byte so workers rarely wait for each other. */
#define SESSION_STRIPES 64u
#define RECORD_PENDING 0u
#define RECORD_PLACED 1u

typedef struct session_stripe {
	pthread_mutex_t lock;
	uint8_t *records;           /* 64-byte records in insertion order; flags byte = state */
	size_t count, capacity;
	uint32_t *slots;            /* open addressing: record index + 1, 0 = empty */
	size_t slot_count;          /* power of two */
} session_stripe;

typedef struct pack_builder {
	char letter;
	size_t target;
	int started;                /* a name was drawn for the pack being filled */
	uint8_t pack_id[COFFER_PACK_ID_SIZE];
	char name[COFFER_PACK_NAME_LENGTH + 1];
	coffer_buf bytes;           /* sealed chunks so far */
	coffer_pack_entry *toc;
	size_t toc_count, toc_capacity;
} pack_builder;

typedef struct writer_worker {
	pack_builder data, meta;
	coffer_buf scratch;         /* compressed form of the current chunk */
} writer_worker;

struct coffer_store_writer {
	coffer_repo *repo;
	coffer_codec codec;
	unsigned int worker_count;
	writer_worker *workers;
	session_stripe stripes[SESSION_STRIPES];
	pthread_mutex_t failure_lock;
	int failed;                 /* a pack could not be stored: the session cannot commit */
	coffer_error failure;
	int committed;
	struct coffer_store_writer *next; /* in the repository's list of open writers */
	char session_name[64];      /* the session marker blob (docs/FORMAT.md, Maintenance) */
	pthread_mutex_t session_lock;
	int64_t session_touched_ns; /* CLOCK_MONOTONIC of the last put of the marker */
};

/* ------------------------------------------------------------ session set */

static uint64_t slot_hash(const uint8_t *id)
{
	return coffer_le64(id + 8);
}

static uint8_t *stripe_find(session_stripe *s, const uint8_t *id)
{
	if (!s->slot_count)
		return NULL;
	size_t mask = s->slot_count - 1;
	for (size_t i = (size_t)slot_hash(id) & mask;; i = (i + 1) & mask) {
		uint32_t slot = s->slots[i];
		if (!slot)
			return NULL;
		uint8_t *r = s->records + (size_t)(slot - 1) * COFFER_INDEX_RECORD_SIZE;
		if (memcmp(r, id, COFFER_CRYPTO_ID_SIZE) == 0)
			return r;
	}
}

static void stripe_place_slot(session_stripe *s, size_t record_index)
{
	size_t mask = s->slot_count - 1;
	const uint8_t *id = s->records + record_index * COFFER_INDEX_RECORD_SIZE;
	size_t i = (size_t)slot_hash(id) & mask;
	while (s->slots[i])
		i = (i + 1) & mask;
	s->slots[i] = (uint32_t)(record_index + 1);
}

/* Adds a pending record for id; returns its index or a negative error. */
static int64_t stripe_add(session_stripe *s, const uint8_t *id)
{
	if (s->count >= UINT32_MAX - 1)
		return coffer_error_set(COFFER_EINVALID, "too many chunks in one write session");
	if (s->count == s->capacity) {
		size_t capacity = s->capacity ? s->capacity * 2 : 256;
		uint8_t *records = coffer_realloc(s->records, capacity * COFFER_INDEX_RECORD_SIZE);
		if (!records)
			return COFFER_ENOMEM;
		s->records = records;
		s->capacity = capacity;
	}
	/* Keep the table at most 3/4 full. */
	if ((s->count + 1) * 4 > s->slot_count * 3) {
		size_t slot_count = s->slot_count ? s->slot_count * 2 : 512;
		uint32_t *slots = coffer_calloc(slot_count, sizeof(uint32_t));
		if (!slots)
			return COFFER_ENOMEM;
		coffer_free(s->slots);
		s->slots = slots;
		s->slot_count = slot_count;
		for (size_t i = 0; i < s->count; i++)
			stripe_place_slot(s, i);
	}
	uint8_t *r = s->records + s->count * COFFER_INDEX_RECORD_SIZE;
	memset(r, 0, COFFER_INDEX_RECORD_SIZE);
	memcpy(r, id, COFFER_CRYPTO_ID_SIZE);
	r[COFFER_INDEX_RECORD_FLAGS] = RECORD_PENDING;
	stripe_place_slot(s, s->count);
	return (int64_t)s->count++;
}

static session_stripe *stripe_of(coffer_store_writer *w, const uint8_t *id)
{
	return &w->stripes[id[0] % SESSION_STRIPES];
}

int coffer_store_writers_find(coffer_repo *repo, const uint8_t id[COFFER_CRYPTO_ID_SIZE],
                              uint8_t record[COFFER_INDEX_RECORD_SIZE])
{
	coffer_store_state *state = coffer_store_state_of(repo);
	int rc = COFFER_ENOTFOUND;
	pthread_mutex_lock(&state->writers_lock);
	for (coffer_store_writer *w = state->writers; w && rc; w = w->next) {
		session_stripe *s = stripe_of(w, id);
		pthread_mutex_lock(&s->lock);
		const uint8_t *r = stripe_find(s, id);
		if (r && r[COFFER_INDEX_RECORD_FLAGS] == RECORD_PLACED) {
			memcpy(record, r, COFFER_INDEX_RECORD_SIZE);
			record[COFFER_INDEX_RECORD_FLAGS] = 0;
			rc = 0;
		}
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&state->writers_lock);
	return rc;
}

/* ------------------------------------------------------------ failures */

static int writer_fail(coffer_store_writer *w, int rc)
{
	pthread_mutex_lock(&w->failure_lock);
	if (!w->failed) {
		w->failed = 1;
		w->failure = *coffer_error_last();
		if (w->failure.code == 0)
			w->failure.code = rc;
	}
	pthread_mutex_unlock(&w->failure_lock);
	return rc;
}

static int writer_check(coffer_store_writer *w)
{
	if (w->committed)
		return coffer_error_set(COFFER_EINVALID, "this write session was already committed");
	pthread_mutex_lock(&w->failure_lock);
	int failed = w->failed;
	coffer_error failure = w->failure;
	pthread_mutex_unlock(&w->failure_lock);
	if (failed)
		return coffer_error_set(failure.code, "an earlier write in this session failed: %s", failure.message);
	return 0;
}

/* ------------------------------------------------------------ packs */

static void builder_init(pack_builder *b, char letter, size_t target)
{
	memset(b, 0, sizeof(*b));
	b->letter = letter;
	b->target = target;
}

static void builder_clear(pack_builder *b)
{
	coffer_buf_free(&b->bytes);
	coffer_free(b->toc);
	memset(b, 0, sizeof(*b));
}

static int builder_start(pack_builder *b)
{
	int rc = coffer_crypto_random(b->pack_id, sizeof(b->pack_id));
	if (rc)
		return rc;
	coffer_pack_name_format(b->name, b->letter, b->pack_id);
	b->started = 1;
	b->bytes.len = 0;
	b->toc_count = 0;
	if (b->bytes.cap < b->target + (64u << 10))
		return coffer_buf_reserve(&b->bytes, b->target + (64u << 10));
	return 0;
}

/* Seals the table of contents, appends it and the trailer, and stores the pack. */
static int builder_upload(coffer_repo *repo, pack_builder *b)
{
	size_t toc_size = coffer_pack_toc_size(b->toc_count);
	uint8_t *toc = coffer_malloc(toc_size);
	if (!toc)
		return COFFER_ENOMEM;
	coffer_pack_toc_encode(toc, b->toc, b->toc_count);
	size_t sealed = toc_size + COFFER_CRYPTO_SEAL_OVERHEAD;
	int rc = coffer_buf_reserve(&b->bytes, sealed + COFFER_PACK_TRAILER_SIZE);
	if (rc == 0)
		rc = coffer_crypto_seal(b->bytes.data + b->bytes.len, repo->meta_key, (const uint8_t *)b->name,
		                        strlen(b->name), toc, toc_size);
	coffer_free(toc);
	if (rc)
		return rc;
	b->bytes.len += sealed;
	coffer_pack_trailer_encode(b->bytes.data + b->bytes.len, (uint32_t)sealed);
	b->bytes.len += COFFER_PACK_TRAILER_SIZE;
	rc = coffer_backend_put(repo->backend, b->name, b->bytes.data, b->bytes.len, 0);
	if (rc)
		return coffer_error_wrap("storing pack %s in %s", b->name, repo->url);
	b->started = 0;
	b->bytes.len = 0;
	b->toc_count = 0;
	return 0;
}

/* ------------------------------------------------------------ session marker */

static int64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Puts (or rewrites, so its mtime moves on) the marker that tells maintenance this
 * session is running: it protects what the session may still reference. */
static int session_marker_put(coffer_store_writer *w, unsigned int flags)
{
	char text[512];
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	int n = snprintf(text, sizeof(text), "coffer write session on %s, pid %ld", host, (long)getpid());
	int rc = coffer_store_put_sealed(w->repo, w->session_name, text, (size_t)n, flags);
	if (rc == 0)
		w->session_touched_ns = monotonic_ns();
	return rc;
}

/* Called after each pack upload: rewrites the marker every COFFER_SESSION_TOUCH_NS so a
 * long session is never taken for a dead one. A failure is not fatal: the marker expires
 * only after COFFER_SESSION_TOUCH_NS many times over. */
static void session_marker_touch(coffer_store_writer *w)
{
	pthread_mutex_lock(&w->session_lock);
	if (monotonic_ns() - w->session_touched_ns >= COFFER_SESSION_TOUCH_NS &&
	    session_marker_put(w, COFFER_PUT_OVERWRITE) != 0)
		coffer_error_clear();
	pthread_mutex_unlock(&w->session_lock);
}

/* ------------------------------------------------------------ the writer */

int coffer_store_writer_new(coffer_store_writer **out, coffer_repo *repo, unsigned int workers,
                            const coffer_codec *codec)
{
	*out = NULL;
	coffer_store_state *state = coffer_store_state_of(repo);
	if (workers == 0)
		workers = 1;
	if (!codec) {
		if (!state->codec_ok)
			return coffer_error_set(state->codec_error.code ? state->codec_error.code : COFFER_ENOTFOUND,
			                        "cannot write to %s: %s", repo->url, state->codec_error.message);
		codec = &repo->codec;
	}
	if (!codec->vt) {
		/* A copy of repo->codec taken when the repository's codec is not installed. */
		if (!state->codec_ok && state->codec_error.code)
			return coffer_error_set(state->codec_error.code, "cannot write to %s: %s", repo->url,
			                        state->codec_error.message);
		return coffer_error_set(COFFER_EINVALID, "cannot write to %s: no compression codec given", repo->url);
	}
	if (codec->vt->id > 255)
		return coffer_error_set(COFFER_EUNSUPPORTED, "codec %s has the id %u; chunks can record ids up to 255",
		                        codec->name, codec->vt->id);
	coffer_store_writer *w = coffer_calloc(1, sizeof(*w));
	if (!w)
		return COFFER_ENOMEM;
	w->workers = coffer_calloc(workers, sizeof(writer_worker));
	if (!w->workers) {
		coffer_free(w);
		return COFFER_ENOMEM;
	}
	w->repo = repo;
	w->codec = *codec;
	w->worker_count = workers;
	for (unsigned int i = 0; i < workers; i++) {
		builder_init(&w->workers[i].data, COFFER_PACK_LETTER_DATA, DATA_PACK_TARGET);
		builder_init(&w->workers[i].meta, COFFER_PACK_LETTER_META, META_PACK_TARGET);
	}
	for (unsigned int i = 0; i < SESSION_STRIPES; i++)
		pthread_mutex_init(&w->stripes[i].lock, NULL);
	pthread_mutex_init(&w->failure_lock, NULL);
	pthread_mutex_init(&w->session_lock, NULL);
	/* The marker first, then a fresh index view: every reference this session takes from
	 * the index is younger than its marker (the maintenance safety rule depends on it). */
	uint8_t session_id[16];
	char hex[33];
	int rc = coffer_crypto_random(session_id, sizeof(session_id));
	if (rc == 0) {
		coffer_crypto_hex_encode(hex, session_id, sizeof(session_id));
		snprintf(w->session_name, sizeof(w->session_name), "%s%s", COFFER_SESSION_PREFIX, hex);
		if ((rc = session_marker_put(w, 0)) != 0)
			coffer_error_wrap("starting a write session in %s", repo->url);
	}
	if (rc == 0 && (rc = coffer_store_refresh(repo)) != 0)
		coffer_backend_remove(repo->backend, w->session_name);
	if (rc) {
		w->session_name[0] = '\0';
		coffer_store_writer_free(w);
		return rc;
	}
	pthread_mutex_lock(&state->writers_lock);
	w->next = state->writers;
	state->writers = w;
	pthread_mutex_unlock(&state->writers_lock);
	*out = w;
	return 0;
}

void coffer_store_writer_free(coffer_store_writer *w)
{
	if (!w)
		return;
	/* The caller saved its manifest (or gave up): the session protects nothing any more.
	 * A marker left behind by a crash expires (maintenance deletes it). */
	if (w->session_name[0] && coffer_backend_remove(w->repo->backend, w->session_name) != 0)
		coffer_error_clear();
	pthread_mutex_destroy(&w->session_lock);
	coffer_store_state *state = coffer_store_state_of(w->repo);
	pthread_mutex_lock(&state->writers_lock);
	for (coffer_store_writer **p = &state->writers; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	pthread_mutex_unlock(&state->writers_lock);
	for (unsigned int i = 0; i < w->worker_count; i++) {
		builder_clear(&w->workers[i].data);
		builder_clear(&w->workers[i].meta);
		coffer_buf_free(&w->workers[i].scratch);
	}
	coffer_free(w->workers);
	for (unsigned int i = 0; i < SESSION_STRIPES; i++) {
		coffer_free(w->stripes[i].records);
		coffer_free(w->stripes[i].slots);
		pthread_mutex_destroy(&w->stripes[i].lock);
	}
	pthread_mutex_destroy(&w->failure_lock);
	coffer_free(w);
}

int coffer_store_write(coffer_store_writer *w, unsigned int worker, coffer_chunk_kind kind,
                       const void *data, size_t len, coffer_cid *id_out,
                       coffer_store_write_result *result)
{
	coffer_cid id;
	int rc = coffer_store_id(w->repo, data, len, &id);
	if (rc)
		return rc;
	if (id_out)
		*id_out = id;
	return coffer_store_write_with_id(w, worker, kind, &id, data, len, result);
}

/* Whether any of a few samples of the chunk shrinks noticeably. A codec error counts as
 * "compressible" so the whole chunk is tried and the error reported from there. */
static int looks_compressible(coffer_store_writer *w, uint8_t *scratch, size_t cap, const uint8_t *data,
                              size_t len)
{
	size_t stride = (len - PROBE_SAMPLE_SIZE) / (PROBE_SAMPLES - 1);
	for (size_t i = 0; i < PROBE_SAMPLES; i++) {
		size_t out_len = 0;
		if (coffer_codec_compress(&w->codec, data + i * stride, PROBE_SAMPLE_SIZE, scratch, cap, &out_len) != 0 ||
		    out_len < PROBE_SAMPLE_SIZE - (PROBE_SAMPLE_SIZE >> PROBE_MIN_GAIN_SHIFT))
			return 1;
	}
	return 0;
}

/* Compresses into the worker's scratch buffer when that helps; returns the payload. */
static int compress_chunk(coffer_store_writer *w, writer_worker *wk, const void *data, size_t len,
                          const uint8_t **payload, size_t *payload_len, uint8_t *codec_id)
{
	*payload = data;
	*payload_len = len;
	*codec_id = COFFER_CODEC_ID_NONE;
	if (len < COMPRESS_MIN_SIZE || w->codec.vt->id == COFFER_CODEC_ID_NONE)
		return 0;
	size_t bound = coffer_codec_bound(&w->codec, len);
	if (bound == 0)
		return 0;
	wk->scratch.len = 0;
	int rc = coffer_buf_reserve(&wk->scratch, bound);
	if (rc)
		return rc;
	size_t out_len = 0;
	if (len >= PROBE_MIN_SIZE && !looks_compressible(w, wk->scratch.data, bound, data, len))
		return 0;
	rc = coffer_codec_compress(&w->codec, data, len, wk->scratch.data, bound, &out_len);
	if (rc)
		return coffer_error_wrap("compressing a chunk of %zu bytes with %s", len, w->codec.name);
	if (out_len < len) {
		*payload = wk->scratch.data;
		*payload_len = out_len;
		*codec_id = (uint8_t)w->codec.vt->id;
	}
	return 0;
}

int coffer_store_write_with_id(coffer_store_writer *w, unsigned int worker, coffer_chunk_kind kind,
                               const coffer_cid *id, const void *data, size_t len,
                               coffer_store_write_result *result)
{
	coffer_store_write_result ignored;
	if (!result)
		result = &ignored;
	result->is_new = 0;
	result->stored_bytes = 0;
	int rc = writer_check(w);
	if (rc)
		return rc;
	if (worker >= w->worker_count)
		return coffer_error_set(COFFER_EINVALID, "worker %u out of range (the writer has %u)", worker,
		                        w->worker_count);
	if (kind != COFFER_CHUNK_DATA && kind != COFFER_CHUNK_META)
		return coffer_error_set(COFFER_EINVALID, "unknown chunk kind %d", (int)kind);
	if (len > COFFER_STORE_MAX_CHUNK)
		return coffer_error_set(COFFER_EINVALID, "chunk of %zu bytes is larger than the limit of %u", len,
		                        COFFER_STORE_MAX_CHUNK);
	uint8_t record[COFFER_INDEX_RECORD_SIZE];
	/* A tombstoned chunk may be deleted by maintenance: store it again instead. */
	if (coffer_store_index_find(w->repo, id->bytes, record) == 0 &&
	    !(record[COFFER_INDEX_RECORD_FLAGS] & COFFER_INDEX_FLAG_DELETED))
		return 0;
	/* Claim the id for this worker; another worker that meets it now deduplicates. */
	session_stripe *s = stripe_of(w, id->bytes);
	pthread_mutex_lock(&s->lock);
	if (stripe_find(s, id->bytes)) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	int64_t record_index = stripe_add(s, id->bytes);
	pthread_mutex_unlock(&s->lock);
	if (record_index < 0)
		return writer_fail(w, (int)record_index);

	writer_worker *wk = &w->workers[worker];
	const uint8_t *payload;
	size_t payload_len;
	uint8_t codec_id;
	if ((rc = compress_chunk(w, wk, data, len, &payload, &payload_len, &codec_id)) != 0)
		return writer_fail(w, rc);
	size_t sealed = payload_len + COFFER_CRYPTO_SEAL_OVERHEAD;
	pack_builder *b = kind == COFFER_CHUNK_DATA ? &wk->data : &wk->meta;
	size_t projected = b->bytes.len + sealed + coffer_pack_toc_size(b->toc_count + 1) +
	                   COFFER_CRYPTO_SEAL_OVERHEAD + COFFER_PACK_TRAILER_SIZE;
	if (b->started && b->toc_count > 0 && projected > b->target &&
	    (rc = builder_upload(w->repo, b)) != 0)
		return writer_fail(w, rc);
	if (b->started == 0)
		session_marker_touch(w);
	if (!b->started && (rc = builder_start(b)) != 0)
		return writer_fail(w, rc);
	if (b->toc_count == b->toc_capacity) {
		size_t capacity = b->toc_capacity ? b->toc_capacity * 2 : 64;
		coffer_pack_entry *toc = coffer_realloc(b->toc, capacity * sizeof(*toc));
		if (!toc)
			return writer_fail(w, COFFER_ENOMEM);
		b->toc = toc;
		b->toc_capacity = capacity;
	}
	if ((rc = coffer_buf_reserve(&b->bytes, sealed)) != 0)
		return writer_fail(w, rc);
	size_t offset = b->bytes.len;
	rc = coffer_crypto_seal(b->bytes.data + offset, w->repo->data_key, id->bytes, COFFER_CRYPTO_ID_SIZE,
	                        payload, payload_len);
	if (rc)
		return writer_fail(w, rc);
	b->bytes.len += sealed;
	coffer_pack_entry *e = &b->toc[b->toc_count++];
	memcpy(e->id, id->bytes, COFFER_CRYPTO_ID_SIZE);
	e->offset = (uint32_t)offset;
	e->stored_length = (uint32_t)sealed;
	e->raw_length = (uint32_t)len;
	e->codec = codec_id;
	e->kind = (uint8_t)kind;

	pthread_mutex_lock(&s->lock);
	uint8_t *r = s->records + (size_t)record_index * COFFER_INDEX_RECORD_SIZE;
	r[COFFER_INDEX_RECORD_PACK] = (uint8_t)b->letter;
	memcpy(r + COFFER_INDEX_RECORD_PACK + 1, b->pack_id, COFFER_PACK_ID_SIZE);
	r[COFFER_INDEX_RECORD_CODEC] = codec_id;
	r[COFFER_INDEX_RECORD_KIND] = (uint8_t)kind;
	coffer_put_le32(r + COFFER_INDEX_RECORD_OFFSET, (uint32_t)offset);
	coffer_put_le32(r + COFFER_INDEX_RECORD_STORED, (uint32_t)sealed);
	coffer_put_le32(r + COFFER_INDEX_RECORD_RAW, (uint32_t)len);
	r[COFFER_INDEX_RECORD_FLAGS] = RECORD_PLACED;
	pthread_mutex_unlock(&s->lock);
	result->is_new = 1;
	result->stored_bytes = sealed;
	return 0;
}

/* ------------------------------------------------------------ commit */

typedef struct upload_job {
	coffer_repo *repo;
	pack_builder **builders;
} upload_job;

static int upload_one(void *arg, size_t i)
{
	upload_job *job = arg;
	return builder_upload(job->repo, job->builders[i]);
}

static int compare_records(const void *a, const void *b)
{
	return memcmp(a, b, COFFER_CRYPTO_ID_SIZE);
}

int coffer_store_writer_commit(coffer_store_writer *w)
{
	coffer_repo *repo = w->repo;
	int rc = writer_check(w);
	if (rc)
		return rc;
	/* 1. The packs still being filled. */
	pack_builder **pending = coffer_calloc(2 * (size_t)w->worker_count + 1, sizeof(*pending));
	if (!pending)
		return COFFER_ENOMEM;
	size_t pending_count = 0;
	for (unsigned int i = 0; i < w->worker_count; i++) {
		if (w->workers[i].data.started && w->workers[i].data.toc_count)
			pending[pending_count++] = &w->workers[i].data;
		if (w->workers[i].meta.started && w->workers[i].meta.toc_count)
			pending[pending_count++] = &w->workers[i].meta;
	}
	upload_job job = { repo, pending };
	rc = coffer_store_run_parallel(repo->parallelism, pending_count, upload_one, &job);
	coffer_free(pending);
	if (rc)
		return writer_fail(w, rc);

	/* 2. The index blob: every chunk of the session, sorted by id. */
	size_t total = 0;
	for (unsigned int i = 0; i < SESSION_STRIPES; i++)
		total += w->stripes[i].count;
	uint8_t *records = NULL;
	if (total) {
		if (!(records = coffer_malloc(total * COFFER_INDEX_RECORD_SIZE)))
			return COFFER_ENOMEM;
		size_t at = 0;
		for (unsigned int i = 0; i < SESSION_STRIPES; i++) {
			session_stripe *s = &w->stripes[i];
			pthread_mutex_lock(&s->lock);
			for (size_t k = 0; k < s->count; k++) {
				uint8_t *src = s->records + k * COFFER_INDEX_RECORD_SIZE;
				if (src[COFFER_INDEX_RECORD_FLAGS] != RECORD_PLACED)
					continue; /* a write that failed before sealing (the session is failed then) */
				uint8_t *dst = records + at++ * COFFER_INDEX_RECORD_SIZE;
				memcpy(dst, src, COFFER_INDEX_RECORD_SIZE);
				dst[COFFER_INDEX_RECORD_FLAGS] = 0;
			}
			pthread_mutex_unlock(&s->lock);
		}
		total = at;
		qsort(records, total, COFFER_INDEX_RECORD_SIZE, compare_records);
	}
	if (total == 0) {
		w->committed = 1;
		coffer_free(records);
		return 0;
	}
	coffer_buf plain = COFFER_BUF_INIT;
	rc = coffer_index_blob_encode(records, total, &plain);
	uint8_t session_id[16];
	char name[64];
	if (rc == 0)
		rc = coffer_crypto_random(session_id, sizeof(session_id));
	uint8_t *sealed = NULL;
	if (rc == 0) {
		char hex[33];
		coffer_crypto_hex_encode(hex, session_id, sizeof(session_id));
		snprintf(name, sizeof(name), "%s%s", COFFER_INDEX_BLOB_PREFIX, hex);
		if (!(sealed = coffer_malloc(plain.len + COFFER_CRYPTO_SEAL_OVERHEAD)))
			rc = COFFER_ENOMEM;
	}
	if (rc == 0)
		rc = coffer_crypto_seal(sealed, repo->meta_key, (const uint8_t *)name, strlen(name), plain.data,
		                        plain.len);
	if (rc == 0) {
		rc = coffer_backend_put(repo->backend, name, sealed, plain.len + COFFER_CRYPTO_SEAL_OVERHEAD, 0);
		if (rc)
			coffer_error_wrap("storing index blob %s in %s", name, repo->url);
	}
	coffer_free(sealed);
	coffer_buf_free(&plain);
	if (rc) {
		coffer_free(records);
		return writer_fail(w, rc);
	}
	w->committed = 1;
	/* 3. This process and the next run see the new chunks without fetching the blob. */
	coffer_store_index_add_session(repo, name, records, total);
	coffer_free(records);
	return 0;
}
