/* Verify: checks that every chunk the snapshots reference is in the index and that its
 * pack exists; with read_data every distinct chunk is downloaded and authenticated once,
 * in pack order, by parallel workers. Files hit by a bad chunk are then named through
 * on_event. The passes are described in docs/FORMAT.md. */
#include "config.h"

#include "restore_private.h"

#include <coffer/error.h>
#include <coffer/snapshot.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_MAX_DEPTH 4096
#define VERIFY_NO_PACK UINT32_MAX

enum chunk_state {
	CHUNK_PRESENT = 0,   /* in the index, pack exists; not read (yet) */
	CHUNK_OK = 1,        /* read and authenticated */
	CHUNK_MISSING = 2,
	CHUNK_CORRUPT = 3
};

typedef struct verify_chunk {
	coffer_cid id;
	uint64_t offset;
	uint32_t pack;
	uint32_t stored_length;
	uint8_t state;
} verify_chunk;

/* Why a chunk is bad; only bad chunks get one. */
typedef struct verify_bad {
	coffer_cid id;
	char *message;
} verify_bad;

typedef struct verify_pack {
	int exists;
	uint64_t size;
} verify_pack;

typedef struct verify_ctx {
	coffer_repo *repo;
	coffer_event_cb on_event;
	void *ud;
	int read_data;
	coffer_verify_result result;
	coffer_cid_table chunks;       /* verify_chunk */
	coffer_cid_table bad;          /* verify_bad */
	coffer_cid_table walked;       /* directory objects already checked */
	coffer_string_table pack_names;
	verify_pack *packs;
	size_t pack_cap;
	const char *snapshot_id;       /* the one being walked, for messages */
} verify_ctx;

static void report(verify_ctx *ctx, const char *path, const char *message)
{
	ctx->result.damaged_files++;
	if (!ctx->on_event)
		return;
	char full[1200];
	snprintf(full, sizeof(full), "snapshot %s: %s", ctx->snapshot_id, message);
	coffer_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = COFFER_EVENT_ERROR;
	ev.path = path;
	ev.message = full;
	ctx->on_event(&ev, ctx->ud);
}

static int mark_bad(verify_ctx *ctx, verify_chunk *c, int state, const char *message)
{
	c->state = (uint8_t)state;
	if (state == CHUNK_MISSING)
		ctx->result.missing_chunks++;
	else
		ctx->result.corrupt_chunks++;
	int created;
	verify_bad *b = coffer_cid_table_insert(&ctx->bad, &c->id, &created);
	if (!b)
		return COFFER_ENOMEM;
	if (created) {
		b->message = coffer_strdup(message);
		if (!b->message)
			return COFFER_ENOMEM;
	}
	return 0;
}

static int check_pack(verify_ctx *ctx, const char *name, uint32_t *index)
{
	int created;
	long i = coffer_string_table_intern(&ctx->pack_names, name, &created);
	if (i < 0)
		return COFFER_ENOMEM;
	*index = (uint32_t)i;
	if (!created)
		return 0;
	if ((size_t)i >= ctx->pack_cap) {
		size_t cap = ctx->pack_cap ? ctx->pack_cap * 2 : 64;
		verify_pack *p = coffer_realloc(ctx->packs, cap * sizeof(*p));
		if (!p)
			return COFFER_ENOMEM;
		ctx->packs = p;
		ctx->pack_cap = cap;
	}
	coffer_blob_info info;
	memset(&info, 0, sizeof(info));
	int rc = coffer_backend_stat(ctx->repo->backend, name, &info);
	if (rc == COFFER_ENOTFOUND) {
		ctx->packs[i].exists = 0;
		ctx->packs[i].size = 0;
		return 0;
	}
	if (rc < 0)
		return coffer_error_wrap("verify: checking pack %s", name);
	ctx->packs[i].exists = 1;
	ctx->packs[i].size = info.size;
	return 0;
}

/* Looks a chunk up the first time it is referenced: index entry, pack, pack size. */
static int note_chunk(verify_ctx *ctx, const coffer_cid *id)
{
	int created;
	verify_chunk *c = coffer_cid_table_insert(&ctx->chunks, id, &created);
	if (!c)
		return COFFER_ENOMEM;
	if (!created)
		return 0;
	ctx->result.chunks++;
	c->pack = VERIFY_NO_PACK;
	coffer_chunk_location loc;
	memset(&loc, 0, sizeof(loc));
	int rc = coffer_store_lookup(ctx->repo, id, &loc);
	char hex[2 * COFFER_CRYPTO_ID_SIZE + 1];
	char message[512];
	if (rc == COFFER_ENOTFOUND) {
		coffer_restore_cid_hex(id, hex);
		snprintf(message, sizeof(message), "chunk %s is not in the index", hex);
		return mark_bad(ctx, c, CHUNK_MISSING, message);
	}
	if (rc < 0)
		return rc;
	loc.pack[sizeof(loc.pack) - 1] = '\0';
	uint32_t pack;
	/* the table of chunks does not move while packs are checked */
	rc = check_pack(ctx, loc.pack, &pack);
	if (rc < 0)
		return rc;
	c->pack = pack;
	c->offset = loc.offset;
	c->stored_length = loc.stored_length;
	coffer_restore_cid_hex(id, hex);
	if (!ctx->packs[pack].exists) {
		snprintf(message, sizeof(message), "chunk %s: pack %s is missing", hex, loc.pack);
		return mark_bad(ctx, c, CHUNK_MISSING, message);
	}
	if (loc.offset > ctx->packs[pack].size || loc.stored_length > ctx->packs[pack].size - loc.offset) {
		snprintf(message, sizeof(message),
		         "chunk %s: pack %s is truncated (%llu bytes, the chunk ends at %llu)", hex, loc.pack,
		         (unsigned long long)ctx->packs[pack].size,
		         (unsigned long long)(loc.offset + loc.stored_length));
		return mark_bad(ctx, c, CHUNK_CORRUPT, message);
	}
	return 0;
}

/* One key per directory object, so a listing shared by snapshots is checked once. */
static int object_key(verify_ctx *ctx, const coffer_object *obj, coffer_cid *key)
{
	if (obj->count == 1) {
		*key = obj->chunks[0];
		return 0;
	}
	return coffer_store_id(ctx->repo, obj->chunks, obj->count * sizeof(*obj->chunks), key);
}

/* Pass 1: every listing is loaded (which authenticates its chunks), every chunk looked up. */
static int check_tree(verify_ctx *ctx, const coffer_object *obj, coffer_buf *path, unsigned int depth)
{
	if (obj->count == 0)
		return 0;
	coffer_cid key;
	int rc = object_key(ctx, obj, &key);
	if (rc < 0)
		return rc;
	if (coffer_cid_table_find(&ctx->walked, &key))
		return 0;
	if (depth > VERIFY_MAX_DEPTH) {
		report(ctx, (const char *)path->data, "directories nested too deep to check");
		return 0;
	}
	for (size_t i = 0; i < obj->count; i++)
		if ((rc = note_chunk(ctx, &obj->chunks[i])) < 0)
			return rc;
	coffer_dir listing;
	memset(&listing, 0, sizeof(listing));
	rc = coffer_dir_load(ctx->repo, obj, &listing);
	if (rc == COFFER_ENOTFOUND || rc == COFFER_ECORRUPT) {
		char message[1100];
		snprintf(message, sizeof(message), "directory listing unreadable: %s",
		         coffer_error_last()->message);
		report(ctx, (const char *)path->data, message);
		return 0;
	}
	if (rc < 0)
		return coffer_error_wrap("verify: reading directory %s", (const char *)path->data);
	int created;
	if (!coffer_cid_table_insert(&ctx->walked, &key, &created)) {
		coffer_dir_clear(&listing);
		return COFFER_ENOMEM;
	}
	/* the load authenticated these */
	for (size_t i = 0; i < obj->count; i++) {
		verify_chunk *c = coffer_cid_table_find(&ctx->chunks, &obj->chunks[i]);
		if (c && c->state == CHUNK_PRESENT)
			c->state = CHUNK_OK;
	}
	size_t base = path->len - 1;  /* without the NUL */
	for (size_t i = 0; i < listing.count && rc == 0; i++) {
		coffer_dirent *e = &listing.entries[i];
		if (e->type == COFFER_ENTRY_FILE) {
			ctx->result.files++;
			for (size_t k = 0; k < e->content.count && rc == 0; k++)
				rc = note_chunk(ctx, &e->content.chunks[k]);
		} else if (e->type == COFFER_ENTRY_DIR) {
			path->len = base;
			if ((base && coffer_buf_append(path, "/", 1) < 0) ||
			    coffer_buf_append(path, e->name, e->name_len) < 0 || coffer_buf_append(path, "", 1) < 0) {
				rc = COFFER_ENOMEM;
				break;
			}
			rc = check_tree(ctx, &e->content, path, depth + 1);
			path->len = base;
			if (coffer_buf_append(path, "", 1) < 0)
				rc = COFFER_ENOMEM;
		}
	}
	coffer_dir_clear(&listing);
	return rc;
}

/* Pass 3: names the files that reference a bad chunk. */
static int report_tree(verify_ctx *ctx, const coffer_object *obj, coffer_buf *path, unsigned int depth)
{
	if (obj->count == 0 || depth > VERIFY_MAX_DEPTH)
		return 0;
	coffer_cid key;
	int rc = object_key(ctx, obj, &key);
	if (rc < 0)
		return rc;
	int created;
	if (!coffer_cid_table_insert(&ctx->walked, &key, &created))
		return COFFER_ENOMEM;
	if (!created)
		return 0;
	coffer_dir listing;
	memset(&listing, 0, sizeof(listing));
	rc = coffer_dir_load(ctx->repo, obj, &listing);
	if (rc == COFFER_ENOTFOUND || rc == COFFER_ECORRUPT)
		return 0;  /* reported by pass 1 */
	if (rc < 0)
		return rc;
	size_t base = path->len - 1;
	for (size_t i = 0; i < listing.count && rc == 0; i++) {
		coffer_dirent *e = &listing.entries[i];
		if (e->type != COFFER_ENTRY_FILE && e->type != COFFER_ENTRY_DIR)
			continue;
		path->len = base;
		if ((base && coffer_buf_append(path, "/", 1) < 0) ||
		    coffer_buf_append(path, e->name, e->name_len) < 0 || coffer_buf_append(path, "", 1) < 0) {
			rc = COFFER_ENOMEM;
			break;
		}
		if (e->type == COFFER_ENTRY_DIR) {
			rc = report_tree(ctx, &e->content, path, depth + 1);
		} else {
			size_t bad_count = 0;
			const verify_bad *first = NULL;
			uint64_t first_offset = 0, offset = 0;
			for (size_t k = 0; k < e->content.count; k++) {
				const verify_bad *b = coffer_cid_table_find(&ctx->bad, &e->content.chunks[k]);
				if (b) {
					if (!first) {
						first = b;
						first_offset = offset;
					}
					bad_count++;
				}
				offset += e->content.sizes[k];
			}
			if (first) {
				char message[1100];
				snprintf(message, sizeof(message), "%zu of %zu chunks damaged; at offset %llu: %s",
				         bad_count, e->content.count, (unsigned long long)first_offset, first->message);
				report(ctx, (const char *)path->data, message);
			}
		}
		path->len = base;
		if (coffer_buf_append(path, "", 1) < 0)
			rc = COFFER_ENOMEM;
	}
	coffer_dir_clear(&listing);
	return rc;
}

/* ---- pass 2: read every chunk ---- */

typedef struct read_item {
	coffer_cid id;
	uint32_t pack;
	uint64_t offset;
	uint8_t state;
	int code;
	char *message;
} read_item;

typedef struct read_pool {
	coffer_repo *repo;
	read_item *items;
	size_t count;
	atomic_size_t next;
	atomic_int stop;
	atomic_uint_fast64_t bytes;
	pthread_mutex_t lock;
	int fatal_code;
	char fatal_message[1024];
} read_pool;

static int compare_items(const void *a, const void *b)
{
	const read_item *x = a, *y = b;
	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset ? 1 : 0;
}

static void *read_worker(void *arg)
{
	read_pool *pool = arg;
	coffer_buf buf = COFFER_BUF_INIT;
	for (;;) {
		if (atomic_load(&pool->stop))
			break;
		size_t i = atomic_fetch_add(&pool->next, 1);
		if (i >= pool->count)
			break;
		read_item *item = &pool->items[i];
		buf.len = 0;
		int rc = coffer_store_read(pool->repo, &item->id, &buf);
		if (rc == 0) {
			item->state = CHUNK_OK;
			atomic_fetch_add(&pool->bytes, buf.len);
			continue;
		}
		if (rc == COFFER_ENOTFOUND || rc == COFFER_ECORRUPT) {
			item->state = rc == COFFER_ENOTFOUND ? CHUNK_MISSING : CHUNK_CORRUPT;
			item->message = strdup(coffer_error_last()->message);
			continue;
		}
		pthread_mutex_lock(&pool->lock);
		if (!pool->fatal_code) {
			pool->fatal_code = rc;
			snprintf(pool->fatal_message, sizeof(pool->fatal_message), "%s", coffer_error_last()->message);
		}
		pthread_mutex_unlock(&pool->lock);
		atomic_store(&pool->stop, 1);
	}
	coffer_buf_free(&buf);
	return NULL;
}

static int read_all_chunks(verify_ctx *ctx)
{
	size_t count = 0;
	for (size_t i = 0; i < ctx->chunks.capacity; i++) {
		const verify_chunk *c = coffer_cid_table_slot(&ctx->chunks, i);
		if (c && c->state == CHUNK_PRESENT)
			count++;
	}
	if (count == 0)
		return 0;
	read_pool pool;
	memset(&pool, 0, sizeof(pool));
	pool.repo = ctx->repo;
	pool.items = coffer_calloc(count, sizeof(*pool.items));
	if (!pool.items)
		return COFFER_ENOMEM;
	for (size_t i = 0; i < ctx->chunks.capacity; i++) {
		const verify_chunk *c = coffer_cid_table_slot(&ctx->chunks, i);
		if (c && c->state == CHUNK_PRESENT) {
			read_item *item = &pool.items[pool.count++];
			item->id = c->id;
			item->pack = c->pack;
			item->offset = c->offset;
		}
	}
	/* pack order: neighbouring chunks come from the same pack, which caches and remote
	 * stores read best */
	qsort(pool.items, pool.count, sizeof(*pool.items), compare_items);
	pthread_mutex_init(&pool.lock, NULL);
	unsigned int workers = ctx->repo->parallelism ? ctx->repo->parallelism : 2;
	if (workers > 64)
		workers = 64;
	pthread_t threads[64];
	unsigned int started = 0;
	for (; started < workers; started++)
		if (pthread_create(&threads[started], NULL, read_worker, &pool) != 0)
			break;
	if (started == 0)
		read_worker(&pool);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&pool.lock);
	ctx->result.bytes_read += atomic_load(&pool.bytes);

	int rc = 0;
	for (size_t i = 0; i < pool.count; i++) {
		read_item *item = &pool.items[i];
		verify_chunk *c = coffer_cid_table_find(&ctx->chunks, &item->id);
		if (item->state == CHUNK_OK) {
			c->state = CHUNK_OK;
		} else if (item->state != CHUNK_PRESENT && rc == 0) {
			char hex[2 * COFFER_CRYPTO_ID_SIZE + 1];
			char message[1200];
			coffer_restore_cid_hex(&item->id, hex);
			snprintf(message, sizeof(message), "chunk %s: %s", hex,
			         item->message ? item->message : "unreadable");
			rc = mark_bad(ctx, c, item->state, message);
		}
		free(item->message);
	}
	coffer_free(pool.items);
	if (pool.fatal_code)
		return coffer_error_set(pool.fatal_code, "verify: reading chunks: %s", pool.fatal_message);
	return rc;
}

/* ---- entry point ---- */

static void verify_ctx_free(verify_ctx *ctx)
{
	for (size_t i = 0; i < ctx->bad.capacity; i++) {
		verify_bad *b = coffer_cid_table_slot(&ctx->bad, i);
		if (b)
			coffer_free(b->message);
	}
	coffer_cid_table_free(&ctx->chunks);
	coffer_cid_table_free(&ctx->bad);
	coffer_cid_table_free(&ctx->walked);
	coffer_string_table_free(&ctx->pack_names);
	coffer_free(ctx->packs);
}

/* The manifest blob names to check: the given snapshots or all of them. */
static int collect_snapshots(coffer_repo *repo, const char *const *ids, size_t n,
                             coffer_snapshot_info **out, size_t *count)
{
	if (n == 0)
		return coffer_snapshot_list(repo, NULL, out, count);
	coffer_snapshot_info *infos = coffer_calloc(n, sizeof(*infos));
	if (!infos)
		return COFFER_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rc = coffer_snapshot_find(repo, ids[i], &infos[i]);
		if (rc < 0) {
			coffer_snapshot_info_free_array(infos, i);
			return rc;
		}
	}
	*out = infos;
	*count = n;
	return 0;
}

static int walk_snapshots(verify_ctx *ctx, coffer_snapshot_info *infos, size_t count, int reporting)
{
	coffer_buf path = COFFER_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		ctx->snapshot_id = infos[i].id;
		coffer_manifest m;
		memset(&m, 0, sizeof(m));
		rc = coffer_manifest_load(ctx->repo, infos[i].blob_name, &m);
		if (rc == COFFER_ENOTFOUND || rc == COFFER_ECORRUPT) {
			if (!reporting) {
				char message[1100];
				snprintf(message, sizeof(message), "manifest unreadable: %s",
				         coffer_error_last()->message);
				report(ctx, "", message);
			}
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		if (!reporting)
			ctx->result.snapshots++;
		path.len = 0;
		if (coffer_buf_append(&path, "", 1) < 0)
			rc = COFFER_ENOMEM;
		else if (reporting)
			rc = report_tree(ctx, &m.root, &path, 0);
		else
			rc = check_tree(ctx, &m.root, &path, 0);
		coffer_manifest_clear(&m);
	}
	coffer_buf_free(&path);
	return rc;
}

int coffer_verify(coffer_repo *repo, const char *const *snapshot_ids, size_t n, int read_data,
                  coffer_event_cb on_event, void *ud, coffer_verify_result *result)
{
	if (result)
		memset(result, 0, sizeof(*result));
	if (!repo || (n && !snapshot_ids))
		return coffer_error_set(COFFER_EINVALID, "verify: no repository or snapshot list");
	coffer_snapshot_info *infos = NULL;
	size_t count = 0;
	int rc = collect_snapshots(repo, snapshot_ids, n, &infos, &count);
	if (rc < 0)
		return rc;

	verify_ctx ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.repo = repo;
	ctx.on_event = on_event;
	ctx.ud = ud;
	ctx.read_data = read_data;
	if (coffer_cid_table_init(&ctx.chunks, sizeof(verify_chunk), 4096) < 0 ||
	    coffer_cid_table_init(&ctx.bad, sizeof(verify_bad), 64) < 0 ||
	    coffer_cid_table_init(&ctx.walked, sizeof(coffer_cid), 1024) < 0) {
		verify_ctx_free(&ctx);
		coffer_snapshot_info_free_array(infos, count);
		return COFFER_ENOMEM;
	}
	rc = walk_snapshots(&ctx, infos, count, 0);
	if (rc == 0 && read_data)
		rc = read_all_chunks(&ctx);
	if (rc == 0 && ctx.bad.count > 0) {
		coffer_cid_table_free(&ctx.walked);
		rc = coffer_cid_table_init(&ctx.walked, sizeof(coffer_cid), 1024);
		if (rc == 0)
			rc = walk_snapshots(&ctx, infos, count, 1);
	}
	if (result)
		*result = ctx.result;
	if (rc == 0 && (ctx.result.damaged_files || ctx.result.missing_chunks || ctx.result.corrupt_chunks))
		rc = coffer_error_set(COFFER_ECORRUPT,
		                      "verify: %llu damaged files, %llu missing chunks, %llu corrupt chunks",
		                      (unsigned long long)ctx.result.damaged_files,
		                      (unsigned long long)ctx.result.missing_chunks,
		                      (unsigned long long)ctx.result.corrupt_chunks);
	verify_ctx_free(&ctx);
	coffer_snapshot_info_free_array(infos, count);
	return rc;
}
