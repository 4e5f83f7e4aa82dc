/* Index compaction and garbage collection. Quick: every index blob is merged into one.
 * Full: mark from every snapshot manifest, tombstone unreferenced chunks, repack packs that
 * are mostly garbage, and delete packs whose chunks stayed unreferenced over two runs with
 * the margins of docs/FORMAT.md ("Maintenance"), where the order of the steps below is
 * argued case by case. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/snapshot.h>

#include "maintenance_private.h"
#include "tree.h"

#define REPACK_DATA_TARGET ((size_t)16 << 20)
#define REPACK_META_TARGET ((size_t)4 << 20)
/* Backend mtimes may come from several servers: a session must be this much younger than
 * a candidate to count as started after it (never more than the margin between runs). */
#define SESSION_SLACK_NS ((int64_t)60 * 1000000000)

/* ------------------------------------------------------------------ id set */

typedef struct id_set {
	uint8_t *slots;      /* 32-byte ids; all-zero = empty (the zero id is kept aside) */
	size_t cap, count;
	int has_zero;
} id_set;

static const uint8_t zero_id[COFFER_CRYPTO_ID_SIZE];

static size_t id_slot(const id_set *s, const uint8_t *id)
{
	return (size_t)coffer_le64(id) & (s->cap - 1);
}

static int id_set_grow(id_set *s)
{
	size_t cap = s->cap ? s->cap * 2 : 4096;
	uint8_t *slots = coffer_calloc(cap, COFFER_CRYPTO_ID_SIZE);
	if (!slots)
		return COFFER_ENOMEM;
	id_set bigger = { slots, cap, 0, s->has_zero };
	for (size_t i = 0; i < s->cap; i++) {
		const uint8_t *id = s->slots + i * COFFER_CRYPTO_ID_SIZE;
		if (memcmp(id, zero_id, COFFER_CRYPTO_ID_SIZE) == 0)
			continue;
		size_t k = id_slot(&bigger, id);
		while (memcmp(slots + k * COFFER_CRYPTO_ID_SIZE, zero_id, COFFER_CRYPTO_ID_SIZE) != 0)
			k = (k + 1) & (cap - 1);
		memcpy(slots + k * COFFER_CRYPTO_ID_SIZE, id, COFFER_CRYPTO_ID_SIZE);
		bigger.count++;
	}
	coffer_free(s->slots);
	*s = bigger;
	return 0;
}

/* 1 when added, 0 when it was there, < 0 on error. */
static int id_set_add(id_set *s, const uint8_t *id)
{
	if (memcmp(id, zero_id, COFFER_CRYPTO_ID_SIZE) == 0) {
		int added = !s->has_zero;
		s->has_zero = 1;
		return added;
	}
	if ((s->count + 1) * 4 > s->cap * 3 && id_set_grow(s) != 0)
		return COFFER_ENOMEM;
	size_t k = id_slot(s, id);
	for (;;) {
		uint8_t *slot = s->slots + k * COFFER_CRYPTO_ID_SIZE;
		if (memcmp(slot, id, COFFER_CRYPTO_ID_SIZE) == 0)
			return 0;
		if (memcmp(slot, zero_id, COFFER_CRYPTO_ID_SIZE) == 0) {
			memcpy(slot, id, COFFER_CRYPTO_ID_SIZE);
			s->count++;
			return 1;
		}
		k = (k + 1) & (s->cap - 1);
	}
}

static int id_set_has(const id_set *s, const uint8_t *id)
{
	if (memcmp(id, zero_id, COFFER_CRYPTO_ID_SIZE) == 0)
		return s->has_zero;
	if (!s->cap)
		return 0;
	for (size_t k = id_slot(s, id);; k = (k + 1) & (s->cap - 1)) {
		const uint8_t *slot = s->slots + k * COFFER_CRYPTO_ID_SIZE;
		if (memcmp(slot, id, COFFER_CRYPTO_ID_SIZE) == 0)
			return 1;
		if (memcmp(slot, zero_id, COFFER_CRYPTO_ID_SIZE) == 0)
			return 0;
	}
}

static void id_set_free(id_set *s)
{
	coffer_free(s->slots);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------ name lists */

typedef struct blob_entry {
	char *name;
	uint64_t size;
	int64_t mtime_ns;
} blob_entry;

typedef struct blob_vec {
	blob_entry *items;
	size_t count, cap;
} blob_vec;

static int blob_vec_add(const coffer_blob_info *info, void *ud)
{
	blob_vec *v = ud;
	if (v->count == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 64;
		blob_entry *items = coffer_realloc(v->items, cap * sizeof(*items));
		if (!items)
			return COFFER_ENOMEM;
		v->items = items;
		v->cap = cap;
	}
	blob_entry *e = &v->items[v->count];
	if (!(e->name = coffer_strdup(info->name)))
		return COFFER_ENOMEM;
	e->size = info->size;
	e->mtime_ns = info->mtime_ns;
	v->count++;
	return 0;
}

static void blob_vec_free(blob_vec *v)
{
	for (size_t i = 0; i < v->count; i++)
		coffer_free(v->items[i].name);
	coffer_free(v->items);
	memset(v, 0, sizeof(*v));
}

static int compare_blob_entries(const void *a, const void *b)
{
	return strcmp(((const blob_entry *)a)->name, ((const blob_entry *)b)->name);
}

static int list_sorted(coffer_repo *repo, const char *prefix, blob_vec *out)
{
	memset(out, 0, sizeof(*out));
	int rc = coffer_backend_list(repo->backend, prefix, blob_vec_add, out);
	if (rc == 0 && out->count > 1)
		qsort(out->items, out->count, sizeof(blob_entry), compare_blob_entries);
	if (rc)
		coffer_error_wrap("listing %s in %s", prefix, repo->url);
	return rc;
}

/* ------------------------------------------------------------------ packs */

typedef struct pack_info {
	char name[COFFER_PACK_NAME_LENGTH + 1];
	uint64_t size;
	int64_t mtime_ns;
	uint64_t live_bytes;   /* sealed bytes of referenced chunks whose chosen copy is here */
	int used;              /* holds the chosen copy of a referenced chunk */
	int live_entry;        /* some index blob lists a chunk here without a tombstone */
	int repack;            /* its referenced chunks were copied to a new pack this run */
	int deletable;
	const coffer_maint_candidate *candidate;
} pack_info;

typedef struct gc {
	coffer_maint_run *run;
	coffer_repo *repo;
	blob_vec index_blobs;
	uint8_t *records;      /* every entry of every index blob, sorted by id */
	size_t record_count;
	pack_info *packs;      /* sorted by name */
	size_t pack_count;
	id_set referenced;
	id_set walked;         /* listings already walked (by the id of their chunk list) */
	int64_t old_before;    /* packs with an mtime up to this are old enough to collect */
	int64_t *sessions;     /* mtimes of live session markers */
	size_t session_count;
	uint8_t *compacted;    /* the records of the new index blob */
	size_t compacted_count, compacted_cap;
	int changed;           /* the compacted index differs from the blobs it replaces */
} gc;

static void record_pack_name(const uint8_t *r, char out[COFFER_PACK_NAME_LENGTH + 1])
{
	coffer_pack_name_format(out, (char)r[COFFER_INDEX_RECORD_PACK], r + COFFER_INDEX_RECORD_PACK + 1);
}

static int compare_pack_key(const void *key, const void *item)
{
	return strcmp((const char *)key, ((const pack_info *)item)->name);
}

static pack_info *pack_of(gc *g, const uint8_t *record)
{
	char name[COFFER_PACK_NAME_LENGTH + 1];
	record_pack_name(record, name);
	if (!g->pack_count)
		return NULL;
	return bsearch(name, g->packs, g->pack_count, sizeof(pack_info), compare_pack_key);
}

static int record_deleted(const uint8_t *r)
{
	return (r[COFFER_INDEX_RECORD_FLAGS] & COFFER_INDEX_FLAG_DELETED) != 0;
}

/* ------------------------------------------------------------------ step: read the index */

typedef struct fetch_all {
	coffer_repo *repo;
	blob_vec *blobs;
	uint8_t **records;
	size_t *counts;
} fetch_all;

static int fetch_one(void *arg, size_t i)
{
	fetch_all *f = arg;
	return coffer_store_index_blob_fetch(f->repo, f->blobs->items[i].name, &f->records[i], &f->counts[i]);
}

static int compare_records_by_id(const void *a, const void *b)
{
	return memcmp(a, b, COFFER_CRYPTO_ID_SIZE);
}

static int read_index(gc *g)
{
	int rc = list_sorted(g->repo, COFFER_INDEX_BLOB_PREFIX, &g->index_blobs);
	if (rc)
		return rc;
	size_t n = g->index_blobs.count;
	g->run->result->index_blobs_before = n;
	if (n == 0)
		return 0;
	uint8_t **records = coffer_calloc(n, sizeof(uint8_t *));
	size_t *counts = coffer_calloc(n, sizeof(size_t));
	if (!records || !counts) {
		coffer_free(records);
		coffer_free(counts);
		return COFFER_ENOMEM;
	}
	fetch_all f = { g->repo, &g->index_blobs, records, counts };
	rc = coffer_store_run_parallel(g->repo->parallelism, n, fetch_one, &f);
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += counts[i];
	if (rc == 0 && total && !(g->records = coffer_malloc(total * COFFER_INDEX_RECORD_SIZE)))
		rc = COFFER_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && counts[i]) {
			memcpy(g->records + g->record_count * COFFER_INDEX_RECORD_SIZE, records[i],
			       counts[i] * COFFER_INDEX_RECORD_SIZE);
			g->record_count += counts[i];
		}
		coffer_free(records[i]);
	}
	coffer_free(records);
	coffer_free(counts);
	if (rc == 0 && g->record_count > 1)
		qsort(g->records, g->record_count, COFFER_INDEX_RECORD_SIZE, compare_records_by_id);
	if (rc)
		coffer_error_wrap("maintenance: reading the index of %s", g->repo->url);
	return rc;
}

/* ------------------------------------------------------------------ step: list packs */

static int list_packs(gc *g)
{
	blob_vec all[2];
	int rc = list_sorted(g->repo, "p", &all[0]);
	if (rc == 0)
		rc = list_sorted(g->repo, "q", &all[1]);
	else
		memset(&all[1], 0, sizeof(all[1]));
	size_t n = all[0].count + all[1].count;
	if (rc == 0 && n && !(g->packs = coffer_calloc(n, sizeof(pack_info))))
		rc = COFFER_ENOMEM;
	for (int k = 0; k < 2 && rc == 0; k++)
		for (size_t i = 0; i < all[k].count; i++) {
			char letter;
			uint8_t id[COFFER_PACK_ID_SIZE];
			const blob_entry *e = &all[k].items[i];
			if (coffer_pack_name_parse(e->name, &letter, id) != 0)
				continue;
			pack_info *p = &g->packs[g->pack_count++];
			snprintf(p->name, sizeof(p->name), "%s", e->name);
			p->size = e->size;
			p->mtime_ns = e->mtime_ns;
			p->candidate = coffer_maint_state_find(&g->run->state, p->name);
		}
	/* 'p' sorts before 'q', and each listing is sorted: the array is sorted. */
	blob_vec_free(&all[0]);
	blob_vec_free(&all[1]);
	g->run->result->packs_total = g->pack_count;
	return rc;
}

/* ------------------------------------------------------------------ step: sessions */

static int read_sessions(gc *g)
{
	blob_vec v;
	int rc = list_sorted(g->repo, COFFER_SESSION_PREFIX, &v);
	if (rc)
		return rc;
	int64_t oldest_alive = g->run->now_ns - g->run->opts.session_expiry_ns;
	if (v.count && !(g->sessions = coffer_calloc(v.count, sizeof(int64_t)))) {
		blob_vec_free(&v);
		return COFFER_ENOMEM;
	}
	for (size_t i = 0; i < v.count; i++) {
		if (v.items[i].mtime_ns < oldest_alive) {
			/* A writer that stopped rewriting its marker long ago is dead. */
			int r = coffer_backend_remove(g->repo->backend, v.items[i].name);
			if (r == 0 || r == COFFER_ENOTFOUND)
				g->run->result->sessions_expired++;
			coffer_error_clear();
			continue;
		}
		g->sessions[g->session_count++] = v.items[i].mtime_ns;
	}
	g->run->result->sessions_live = g->session_count;
	blob_vec_free(&v);
	return 0;
}

/* Whether every live session started after `since` (with slack for clocks). */
static int sessions_after(const gc *g, int64_t since)
{
	int64_t slack = g->run->opts.run_margin_ns < SESSION_SLACK_NS ? g->run->opts.run_margin_ns : SESSION_SLACK_NS;
	for (size_t i = 0; i < g->session_count; i++)
		if (g->sessions[i] <= since + slack)
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ step: mark */

static int mark_object(gc *g, const coffer_object *obj)
{
	for (size_t i = 0; i < obj->count; i++)
		if (id_set_add(&g->referenced, obj->chunks[i].bytes) < 0)
			return COFFER_ENOMEM;
	return 0;
}

/* The walked-set key of a listing: its chunk id, or the keyed hash of its chunk list. */
static int listing_key(gc *g, const coffer_object *obj, coffer_cid *key)
{
	if (obj->count == 1) {
		*key = obj->chunks[0];
		return 0;
	}
	return coffer_store_id(g->repo, obj->chunks, obj->count * sizeof(coffer_cid), key);
}

static int mark_tree(gc *g, const coffer_object *root)
{
	/* Depth-first with an explicit stack of listings still to walk. */
	coffer_object *stack = NULL;
	size_t depth = 0, cap = 0;
	int rc = mark_object(g, root);
	coffer_cid key;
	if (rc == 0 && root->count && (rc = listing_key(g, root, &key)) == 0 &&
	    (rc = id_set_add(&g->walked, key.bytes)) == 1) {
		rc = 0;
		if (!(stack = coffer_malloc(sizeof(*stack) * (cap = 16))))
			return COFFER_ENOMEM;
		memset(&stack[0], 0, sizeof(stack[0]));
		if (!(stack[0].chunks = coffer_malloc(root->count * sizeof(coffer_cid))) ||
		    !(stack[0].sizes = coffer_malloc(root->count * sizeof(uint32_t))))
			rc = COFFER_ENOMEM;
		else {
			memcpy(stack[0].chunks, root->chunks, root->count * sizeof(coffer_cid));
			memcpy(stack[0].sizes, root->sizes, root->count * sizeof(uint32_t));
			stack[0].count = root->count;
		}
		depth = 1;
	} else if (rc > 0) {
		rc = 0;
	}
	while (depth > 0 && rc == 0) {
		coffer_object obj = stack[--depth];
		coffer_dir dir;
		rc = coffer_dir_load(g->repo, &obj, &dir);
		coffer_object_clear(&obj);
		if (rc)
			break;
		for (size_t i = 0; i < dir.count && rc == 0; i++) {
			coffer_dirent *e = &dir.entries[i];
			if (e->type != COFFER_ENTRY_FILE && e->type != COFFER_ENTRY_DIR)
				continue;
			if ((rc = mark_object(g, &e->content)) != 0)
				break;
			if (e->type != COFFER_ENTRY_DIR || e->content.count == 0)
				continue;
			if ((rc = listing_key(g, &e->content, &key)) != 0)
				break;
			int added = id_set_add(&g->walked, key.bytes);
			if (added < 0) {
				rc = added;
				break;
			}
			if (!added)
				continue;
			if (depth == cap) {
				coffer_object *bigger = coffer_realloc(stack, sizeof(*stack) * cap * 2);
				if (!bigger) {
					rc = COFFER_ENOMEM;
					break;
				}
				stack = bigger;
				cap *= 2;
			}
			stack[depth++] = e->content; /* taken over */
			memset(&e->content, 0, sizeof(e->content));
		}
		coffer_dir_clear(&dir);
	}
	while (depth > 0)
		coffer_object_clear(&stack[--depth]);
	coffer_free(stack);
	return rc;
}

/* Marks every chunk reachable from every manifest (incomplete snapshots too). A manifest
 * that cannot be read stops the run: its chunks would look unreferenced. */
static int mark(gc *g)
{
	blob_vec manifests;
	int rc = list_sorted(g->repo, "snapshots/", &manifests);
	/* Their chunks were committed before they were written: see them in the index. */
	if (rc == 0)
		rc = coffer_store_refresh(g->repo);
	for (size_t i = 0; i < manifests.count && rc == 0; i++) {
		char key[COFFER_MANIFEST_SOURCE_KEY_HEX + 1], id[COFFER_SNAPSHOT_ID_HEX + 1];
		int64_t start;
		if (coffer_manifest_name_parse(manifests.items[i].name, key, &start, id) != 0) {
			coffer_error_clear();
			continue; /* reserved names */
		}
		coffer_manifest m;
		rc = coffer_manifest_load(g->repo, manifests.items[i].name, &m);
		if (rc == COFFER_ENOTFOUND) {
			/* deleted since the listing: a snapshot no more */
			coffer_error_clear();
			rc = 0;
			continue;
		}
		if (rc) {
			coffer_error_wrap("maintenance: reading snapshot manifest %s", manifests.items[i].name);
			break;
		}
		rc = mark_tree(g, &m.root);
		if (rc)
			coffer_error_wrap("maintenance: walking snapshot %s (%s)", m.info.id,
			                  m.info.source ? m.info.source : "?");
		coffer_manifest_clear(&m);
		g->run->result->snapshots++;
	}
	blob_vec_free(&manifests);
	return rc;
}

/* ------------------------------------------------------------------ plan */

/* Of the copies [first, end) of one id, the one the new index keeps: a copy in a pack that
 * exists and is not to be deleted, preferring packs that are not candidates, then live
 * entries, then the smaller pack name. NULL when every copy is gone or to be deleted. */
static const uint8_t *choose_copy(gc *g, const uint8_t *first, const uint8_t *end, int honour_deletable)
{
	const uint8_t *best = NULL;
	int best_rank = 0;
	char best_name[COFFER_PACK_NAME_LENGTH + 1] = "";
	for (const uint8_t *r = first; r < end; r += COFFER_INDEX_RECORD_SIZE) {
		pack_info *p = pack_of(g, r);
		if (!p || (honour_deletable && p->deletable))
			continue;
		int rank = (p->candidate || p->repack ? 0 : 2) + (record_deleted(r) ? 0 : 1);
		char name[COFFER_PACK_NAME_LENGTH + 1];
		record_pack_name(r, name);
		if (!best || rank > best_rank || (rank == best_rank && strcmp(name, best_name) < 0)) {
			best = r;
			best_rank = rank;
			memcpy(best_name, name, sizeof(name));
		}
	}
	return best;
}

static const uint8_t *group_end(const gc *g, const uint8_t *first)
{
	const uint8_t *end = g->records + g->record_count * COFFER_INDEX_RECORD_SIZE, *r = first;
	while (r < end && memcmp(r, first, COFFER_CRYPTO_ID_SIZE) == 0)
		r += COFFER_INDEX_RECORD_SIZE;
	return r;
}

/* Which packs hold live data, which are garbage, and which may go now. */
static void plan(gc *g)
{
	coffer_maint_run *run = g->run;
	const uint8_t *end = g->records + g->record_count * COFFER_INDEX_RECORD_SIZE;
	for (const uint8_t *r = g->records; r < end; r += COFFER_INDEX_RECORD_SIZE) {
		pack_info *p = pack_of(g, r);
		if (p && !record_deleted(r))
			p->live_entry = 1;
	}
	for (const uint8_t *first = g->records; first < end;) {
		const uint8_t *next = group_end(g, first);
		if (id_set_has(&g->referenced, first)) {
			const uint8_t *k = choose_copy(g, first, next, 0);
			pack_info *p = k ? pack_of(g, k) : NULL;
			if (p) {
				p->used = 1;
				p->live_bytes += coffer_le32(k + COFFER_INDEX_RECORD_STORED);
			}
		}
		first = next;
	}
	for (size_t i = 0; i < g->pack_count; i++) {
		pack_info *p = &g->packs[i];
		if (p->mtime_ns > g->old_before)
			continue; /* young: a writer may be about to name it */
		if (p->used) {
			uint64_t garbage = p->size > p->live_bytes ? p->size - p->live_bytes : 0;
			if (run->opts.repack_percent <= 100 && p->size &&
			    garbage * 100 >= (uint64_t)run->opts.repack_percent * p->size)
				p->repack = 1;
			continue;
		}
		if (!p->candidate || p->live_entry)
			continue; /* becomes a candidate this run */
		if (run->now_ns - p->candidate->since_ns < run->opts.run_margin_ns ||
		    !sessions_after(g, p->candidate->since_ns)) {
			run->result->packs_deferred++;
			continue;
		}
		p->deletable = 1;
	}
}

/* ------------------------------------------------------------------ repack */

typedef struct repacker {
	gc *g;
	char letter;
	size_t target;
	coffer_buf bytes;
	coffer_pack_entry *toc;
	size_t toc_count, toc_cap;
	uint8_t pack_id[COFFER_PACK_ID_SIZE];
	uint8_t **pending;     /* compacted-record slots to point at this pack once stored */
} repacker;

static int compacted_add(gc *g, const uint8_t *record, size_t *index)
{
	if (g->compacted_count == g->compacted_cap) {
		size_t cap = g->compacted_cap ? 2 * g->compacted_cap : 1024;
		uint8_t *bigger = coffer_realloc(g->compacted, cap * COFFER_INDEX_RECORD_SIZE);
		if (!bigger)
			return COFFER_ENOMEM;
		g->compacted = bigger;
		g->compacted_cap = cap;
	}
	memcpy(g->compacted + g->compacted_count * COFFER_INDEX_RECORD_SIZE, record, COFFER_INDEX_RECORD_SIZE);
	if (index)
		*index = g->compacted_count;
	g->compacted_count++;
	return 0;
}

/* Stores the pack being built: sealed chunks as they were (the id is their associated
 * data, so they move unchanged), then the sealed table of contents and the trailer. */
static int repacker_flush(repacker *rp)
{
	if (rp->toc_count == 0)
		return 0;
	char name[COFFER_PACK_NAME_LENGTH + 1];
	coffer_pack_name_format(name, rp->letter, rp->pack_id);
	size_t toc_size = coffer_pack_toc_size(rp->toc_count);
	uint8_t *toc = coffer_malloc(toc_size);
	int rc = toc ? 0 : COFFER_ENOMEM;
	if (rc == 0) {
		coffer_pack_toc_encode(toc, rp->toc, rp->toc_count);
		rc = coffer_buf_reserve(&rp->bytes, toc_size + COFFER_CRYPTO_SEAL_OVERHEAD + COFFER_PACK_TRAILER_SIZE);
	}
	if (rc == 0)
		rc = coffer_crypto_seal(rp->bytes.data + rp->bytes.len, rp->g->repo->meta_key, (const uint8_t *)name,
		                        strlen(name), toc, toc_size);
	coffer_free(toc);
	if (rc == 0) {
		rp->bytes.len += toc_size + COFFER_CRYPTO_SEAL_OVERHEAD;
		coffer_pack_trailer_encode(rp->bytes.data + rp->bytes.len,
		                           (uint32_t)(toc_size + COFFER_CRYPTO_SEAL_OVERHEAD));
		rp->bytes.len += COFFER_PACK_TRAILER_SIZE;
		rc = coffer_backend_put(rp->g->repo->backend, name, rp->bytes.data, rp->bytes.len, 0);
		if (rc)
			coffer_error_wrap("maintenance: storing repacked pack %s", name);
	}
	rp->bytes.len = 0;
	rp->toc_count = 0;
	return rc;
}

/* Appends one sealed chunk; the compacted record at `slot` is pointed at the new pack. */
static int repacker_add(repacker *rp, const uint8_t *sealed, const uint8_t *record, size_t slot)
{
	uint32_t stored = coffer_le32(record + COFFER_INDEX_RECORD_STORED);
	if (rp->toc_count && rp->bytes.len + stored > rp->target) {
		int rc = repacker_flush(rp);
		if (rc)
			return rc;
	}
	if (rp->toc_count == 0) {
		int rc = coffer_crypto_random(rp->pack_id, sizeof(rp->pack_id));
		if (rc)
			return rc;
	}
	if (rp->toc_count == rp->toc_cap) {
		size_t cap = rp->toc_cap ? 2 * rp->toc_cap : 64;
		coffer_pack_entry *toc = coffer_realloc(rp->toc, cap * sizeof(*toc));
		if (!toc)
			return COFFER_ENOMEM;
		rp->toc = toc;
		rp->toc_cap = cap;
	}
	coffer_pack_entry *e = &rp->toc[rp->toc_count++];
	memcpy(e->id, record, COFFER_CRYPTO_ID_SIZE);
	e->offset = (uint32_t)rp->bytes.len;
	e->stored_length = stored;
	e->raw_length = coffer_le32(record + COFFER_INDEX_RECORD_RAW);
	e->codec = record[COFFER_INDEX_RECORD_CODEC];
	e->kind = record[COFFER_INDEX_RECORD_KIND];
	int rc = coffer_buf_append(&rp->bytes, sealed, stored);
	if (rc)
		return rc;
	uint8_t *r = rp->g->compacted + slot * COFFER_INDEX_RECORD_SIZE;
	r[COFFER_INDEX_RECORD_PACK] = (uint8_t)rp->letter;
	memcpy(r + COFFER_INDEX_RECORD_PACK + 1, rp->pack_id, COFFER_PACK_ID_SIZE);
	coffer_put_le32(r + COFFER_INDEX_RECORD_OFFSET, e->offset);
	r[COFFER_INDEX_RECORD_FLAGS] = 0;
	return 0;
}

/* ------------------------------------------------------------------ the new index */

/* Builds the records of the compacted index: one copy per id; with `full`, referenced
 * chunks live, unreferenced old ones tombstoned, copies only in deletable packs dropped,
 * and the referenced chunks of repacked packs moved. */
static int build_compacted(gc *g, int full)
{
	coffer_maint_run *run = g->run;
	const uint8_t *end = g->records + g->record_count * COFFER_INDEX_RECORD_SIZE;
	repacker rp[2];
	memset(rp, 0, sizeof(rp));
	rp[0].g = rp[1].g = g;
	rp[0].letter = COFFER_PACK_LETTER_DATA;
	rp[0].target = REPACK_DATA_TARGET;
	rp[1].letter = COFFER_PACK_LETTER_META;
	rp[1].target = REPACK_META_TARGET;
	coffer_buf pack_bytes = COFFER_BUF_INIT;
	char loaded[COFFER_PACK_NAME_LENGTH + 1] = "";
	int rc = 0;
	for (const uint8_t *first = g->records; first < end && rc == 0;) {
		const uint8_t *next = group_end(g, first);
		const uint8_t *k;
		if (!full) {
			k = first; /* live copies sort first only by chance: choose explicitly */
			for (const uint8_t *r = first; r < next; r += COFFER_INDEX_RECORD_SIZE)
				if (record_deleted(k) && !record_deleted(r))
					k = r;
		} else {
			k = choose_copy(g, first, next, 1);
			if (!k) {
				/* Every copy is in a pack that goes now, or gone: the id leaves the index
				 * unless its pack is missing altogether (damage verify must still see). */
				int any_listed = 0;
				for (const uint8_t *r = first; r < next; r += COFFER_INDEX_RECORD_SIZE)
					any_listed |= pack_of(g, r) != NULL;
				if (any_listed) {
					g->changed = 1;
					first = next;
					continue;
				}
				k = first;
			}
		}
		uint8_t record[COFFER_INDEX_RECORD_SIZE];
		memcpy(record, k, sizeof(record));
		g->changed |= next - first != COFFER_INDEX_RECORD_SIZE;
		pack_info *p = full ? pack_of(g, k) : NULL;
		int referenced = full && id_set_has(&g->referenced, first);
		if (full && p) {
			if (referenced) {
				if (record_deleted(record))
					run->result->chunks_undeleted++;
				record[COFFER_INDEX_RECORD_FLAGS] &= (uint8_t)~COFFER_INDEX_FLAG_DELETED;
				run->result->chunks_live++;
			} else if (p->mtime_ns <= g->old_before) {
				if (!record_deleted(record))
					run->result->chunks_tombstoned++;
				record[COFFER_INDEX_RECORD_FLAGS] |= COFFER_INDEX_FLAG_DELETED;
				run->result->bytes_reclaimable += coffer_le32(record + COFFER_INDEX_RECORD_STORED);
			}
		}
		size_t slot;
		g->changed |= record[COFFER_INDEX_RECORD_FLAGS] != k[COFFER_INDEX_RECORD_FLAGS] || (p && p->repack);
		if ((rc = compacted_add(g, record, &slot)) != 0)
			break;
		if (full && p && p->repack && referenced) {
			if (strcmp(loaded, p->name) != 0) {
				pack_bytes.len = 0;
				loaded[0] = '\0';
				if ((rc = coffer_backend_get(g->repo->backend, p->name, 0, COFFER_WHOLE, &pack_bytes)) != 0) {
					coffer_error_wrap("maintenance: reading pack %s to repack it", p->name);
					break;
				}
				snprintf(loaded, sizeof(loaded), "%s", p->name);
			}
			uint64_t offset = coffer_le32(record + COFFER_INDEX_RECORD_OFFSET);
			uint32_t stored = coffer_le32(record + COFFER_INDEX_RECORD_STORED);
			if (offset + stored > pack_bytes.len) {
				rc = coffer_error_set(COFFER_ECORRUPT, "maintenance: pack %s is shorter than its index says",
				                      p->name);
				break;
			}
			/* Copy only what authenticates: never spread damage into a new pack. */
			uint8_t *plain = coffer_malloc(stored);
			if (!plain) {
				rc = COFFER_ENOMEM;
				break;
			}
			rc = coffer_crypto_open(plain, g->repo->data_key, first, COFFER_CRYPTO_ID_SIZE,
			                        pack_bytes.data + offset, stored);
			coffer_free(plain);
			if (rc) {
				rc = coffer_error_set(COFFER_ECORRUPT,
				                      "maintenance: chunk at offset %llu of pack %s fails authentication; "
				                      "run snapshot verify --read-data",
				                      (unsigned long long)offset, p->name);
				break;
			}
			repacker *r = record[COFFER_INDEX_RECORD_KIND] == COFFER_CHUNK_META ? &rp[1] : &rp[0];
			rc = repacker_add(r, pack_bytes.data + offset, record, slot);
		}
		first = next;
	}
	for (int i = 0; i < 2; i++) {
		if (rc == 0)
			rc = repacker_flush(&rp[i]);
		coffer_buf_free(&rp[i].bytes);
		coffer_free(rp[i].toc);
	}
	coffer_buf_free(&pack_bytes);
	for (size_t i = 0; i < g->pack_count && full && rc == 0; i++)
		if (g->packs[i].repack)
			run->result->packs_repacked++;
	return rc;
}

/* Puts the compacted index as a new blob, then removes the blobs it replaces. A reader
 * listing in between sees both: the same ids twice, which merging allows. */
static int replace_index(gc *g, int *all_removed)
{
	*all_removed = 1;
	coffer_repo *repo = g->repo;
	int rc = 0;
	if (g->compacted_count) {
		coffer_buf plain = COFFER_BUF_INIT;
		uint8_t sid[16];
		char hex[33], name[64];
		rc = coffer_index_blob_encode(g->compacted, g->compacted_count, &plain);
		if (rc == 0)
			rc = coffer_crypto_random(sid, sizeof(sid));
		if (rc == 0) {
			coffer_crypto_hex_encode(hex, sid, sizeof(sid));
			snprintf(name, sizeof(name), "%s%s", COFFER_INDEX_BLOB_PREFIX, hex);
			rc = coffer_store_put_sealed(repo, name, plain.data, plain.len, 0);
			if (rc)
				coffer_error_wrap("maintenance: storing the compacted index %s", name);
		}
		coffer_buf_free(&plain);
		if (rc)
			return rc;
	}
	size_t n = g->index_blobs.count;
	if (n == 0)
		return 0;
	const char **names = coffer_calloc(n, sizeof(char *));
	int *results = coffer_calloc(n, sizeof(int));
	if (!names || !results) {
		coffer_free(names);
		coffer_free(results);
		return COFFER_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		names[i] = g->index_blobs.items[i].name;
	rc = coffer_backend_remove_many(repo->backend, names, n, results);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (results[i] != 0 && results[i] != COFFER_ENOTFOUND)
			*all_removed = 0;
	if (rc)
		*all_removed = 0;
	coffer_error_clear();
	coffer_free(names);
	coffer_free(results);
	return 0;
}

static int compare_candidates(const void *a, const void *b)
{
	return strcmp(((const coffer_maint_candidate *)a)->pack, ((const coffer_maint_candidate *)b)->pack);
}

/* The candidates after this run: every old pack without referenced chunks that is still
 * there; its time stays when its chunks were already tombstoned everywhere. */
static int update_candidates(gc *g, int64_t visible_ns)
{
	coffer_maint_state *s = &g->run->state;
	coffer_maint_candidate *next = g->pack_count ? coffer_calloc(g->pack_count, sizeof(*next)) : NULL;
	if (g->pack_count && !next)
		return COFFER_ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < g->pack_count; i++) {
		pack_info *p = &g->packs[i];
		int garbage = p->mtime_ns <= g->old_before && (!p->used || p->repack);
		if (!garbage || p->deletable)
			continue;
		snprintf(next[n].pack, sizeof(next[n].pack), "%s", p->name);
		next[n].since_ns = p->candidate && !p->live_entry && !p->repack ? p->candidate->since_ns : visible_ns;
		n++;
	}
	if (n > 1)
		qsort(next, n, sizeof(*next), compare_candidates);
	coffer_free(s->candidates);
	s->candidates = next;
	s->candidate_count = n;
	g->run->result->packs_candidates = n;
	return 0;
}

static int delete_packs(gc *g)
{
	size_t n = 0;
	for (size_t i = 0; i < g->pack_count; i++)
		n += g->packs[i].deletable != 0;
	if (n == 0)
		return 0;
	const char **names = coffer_calloc(n, sizeof(char *));
	int *results = coffer_calloc(n, sizeof(int));
	size_t *which = coffer_calloc(n, sizeof(size_t));
	int rc = names && results && which ? 0 : COFFER_ENOMEM;
	for (size_t i = 0, k = 0; i < g->pack_count && rc == 0; i++)
		if (g->packs[i].deletable) {
			which[k] = i;
			names[k++] = g->packs[i].name;
		}
	if (rc == 0)
		rc = coffer_backend_remove_many(g->repo->backend, names, n, results);
	for (size_t k = 0; k < n && rc == 0; k++) {
		pack_info *p = &g->packs[which[k]];
		if (results[k] == 0 || results[k] == COFFER_ENOTFOUND) {
			g->run->result->packs_deleted++;
			g->run->result->bytes_reclaimed += results[k] == 0 ? p->size : 0;
		} else {
			p->deletable = 0; /* stays a candidate: tried again next run */
		}
	}
	coffer_free(names);
	coffer_free(results);
	coffer_free(which);
	return rc;
}

static void gc_free(gc *g)
{
	blob_vec_free(&g->index_blobs);
	coffer_free(g->records);
	coffer_free(g->packs);
	id_set_free(&g->referenced);
	id_set_free(&g->walked);
	coffer_free(g->sessions);
	coffer_free(g->compacted);
}

int coffer_maint_collect(coffer_maint_run *run)
{
	gc g;
	memset(&g, 0, sizeof(g));
	g.run = run;
	g.repo = run->repo;
	g.old_before = run->now_ns - run->opts.min_age_ns;
	int full = run->opts.full;
	/* Order matters (docs/FORMAT.md, Maintenance): index, packs and sessions are read
	 * before the manifests, so a session missing from the list started after this point
	 * and sees this run's tombstones. */
	int rc = read_index(&g);
	if (rc == 0 && full)
		rc = list_packs(&g);
	if (rc == 0 && full)
		rc = read_sessions(&g);
	if (rc == 0 && full)
		rc = mark(&g);
	if (rc == 0 && full)
		plan(&g);
	int compact = full || g.index_blobs.count > 1;
	if (rc == 0 && compact)
		rc = build_compacted(&g, full);
	/* One blob that would be rewritten unchanged stays: readers keep their caches. */
	if (rc == 0 && g.index_blobs.count == 1 && !g.changed)
		compact = 0;
	if (rc == 0 && compact)
		rc = coffer_maint_lease_renew(run, 1);
	int all_removed = 1;
	if (rc == 0 && compact)
		rc = replace_index(&g, &all_removed);
	run->result->index_blobs_after = compact ? (g.compacted_count ? 1 : 0) + (all_removed ? 0 : g.index_blobs.count)
	                                         : g.index_blobs.count;
	/* Tombstones written above are visible to every session that starts from now on. */
	if (rc == 0 && full)
		rc = coffer_maint_lease_renew(run, 1);
	if (rc == 0 && full && !all_removed)
		for (size_t i = 0; i < g.pack_count; i++)
			g.packs[i].deletable = 0; /* an old blob may still name them */
	if (rc == 0 && full)
		rc = delete_packs(&g);
	if (rc == 0 && full)
		rc = update_candidates(&g, run->now_ns);
	gc_free(&g);
	return rc;
}
