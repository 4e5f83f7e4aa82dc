/* The content store (internal): format blob and keys, packs, index, local cache, sealed
 * blobs. Everything above it (snapshots, trees) goes through these calls. The byte
 * layouts are in docs/FORMAT.md. */
#ifndef COFFER_STORE_H
#define COFFER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <coffer/codec.h>
#include <coffer/repo.h>

#include "chunker.h"
#include "crypto.h"

/* A content id: the keyed hash of a chunk's plaintext. */
typedef struct coffer_cid {
	uint8_t bytes[COFFER_CRYPTO_ID_SIZE];
} coffer_cid;

/* What a chunk holds; data and metadata go to separate packs. */
typedef enum coffer_chunk_kind {
	COFFER_CHUNK_DATA = 0,  /* file contents */
	COFFER_CHUNK_META = 1   /* directory listings and other tree objects */
} coffer_chunk_kind;

/* Where a chunk lives. */
typedef struct coffer_chunk_location {
	char pack[80];          /* pack blob name */
	uint64_t offset;        /* of the sealed chunk inside the pack */
	uint32_t stored_length; /* sealed bytes */
	uint32_t raw_length;    /* plaintext bytes */
	uint8_t codec;          /* codec id the chunk was compressed with */
	uint8_t kind;           /* coffer_chunk_kind */
} coffer_chunk_location;

/* Repository internals shared by the engine's files. */
struct coffer_repo {
	coffer_core *core;
	coffer_backend *backend;
	coffer_repo_options options;
	unsigned int parallelism;
	char url[4096];
	/* keys, all derived from the master key (docs/FORMAT.md) */
	uint8_t master_key[COFFER_CRYPTO_KEY_SIZE];
	uint8_t data_key[COFFER_CRYPTO_KEY_SIZE];     /* seals chunks */
	uint8_t meta_key[COFFER_CRYPTO_KEY_SIZE];     /* seals pack tables, index blobs, manifests */
	uint8_t gear_seed[COFFER_CHUNKER_SEED_SIZE];
	coffer_crypto_hasher *hasher;
	coffer_chunker_params chunker_params;
	coffer_codec codec;                           /* default compression */
	char compression[64];
	unsigned char unique_id[32];
	char unique_id_hex[65];
	char cache_dir[4096];
	struct coffer_store_index *index;             /* merged view of all index blobs */
	void *store_private;                          /* owned by store.c */
};

/* The content id of a plaintext chunk under this repository's key. */
int coffer_store_id(coffer_repo *repo, const void *data, size_t len, coffer_cid *out);

/* Looks a chunk up in the merged index (and in the index of writers opened on this repo
 * handle). 0 and *out filled; COFFER_ENOTFOUND when absent. Thread-safe. */
int coffer_store_lookup(coffer_repo *repo, const coffer_cid *id, coffer_chunk_location *out);

/* Reads a chunk: ranged get of its pack, authenticate (the id is the associated data),
 * decompress, and check that the plaintext hashes to id. Appends to out. COFFER_ECORRUPT
 * names the pack and offset; COFFER_ENOTFOUND when the chunk or its pack is missing. */
int coffer_store_read(coffer_repo *repo, const coffer_cid *id, coffer_buf *out);

/* Re-reads the index blobs in the repository (after other writers committed). */
int coffer_store_refresh(coffer_repo *repo);

/* Calls cb for every chunk in the merged index. */
typedef int (*coffer_store_chunk_cb)(const coffer_cid *id, const coffer_chunk_location *loc, void *ud);
int coffer_store_foreach(coffer_repo *repo, coffer_store_chunk_cb cb, void *ud);

/* A write session: chunks are packed per worker; commit uploads the last packs and one
 * index blob naming every chunk this session added. A session that is never committed
 * leaves only unreferenced packs behind (garbage for maintenance, never corruption). */
typedef struct coffer_store_writer coffer_store_writer;

typedef struct coffer_store_write_result {
	int is_new;              /* 1 when the chunk was not in the repository before */
	uint64_t stored_bytes;   /* sealed bytes added (0 when it deduplicated) */
} coffer_store_write_result;

int coffer_store_writer_new(coffer_store_writer **out, coffer_repo *repo, unsigned int workers,
                            const coffer_codec *codec);
/* Stores one chunk (hash, dedup against the index and this session, compress unless it
 * does not shrink, seal, append to the worker's pack, upload a full pack). `worker` is
 * 0..workers-1 and each worker index is used by one thread at a time. Thread-safe across
 * different workers. */
int coffer_store_write(coffer_store_writer *w, unsigned int worker, coffer_chunk_kind kind,
                       const void *data, size_t len, coffer_cid *id_out,
                       coffer_store_write_result *result);
/* Same, when the caller already computed the id with coffer_store_id. */
int coffer_store_write_with_id(coffer_store_writer *w, unsigned int worker, coffer_chunk_kind kind,
                               const coffer_cid *id, const void *data, size_t len,
                               coffer_store_write_result *result);
int coffer_store_writer_commit(coffer_store_writer *w);
/* Frees the writer; an uncommitted one abandons its packs. */
void coffer_store_writer_free(coffer_store_writer *w);

/* Sealed small blobs (manifests, maintenance state): AES-256-GCM with the metadata key and
 * the blob name as associated data, so a blob cannot be swapped for another. */
int coffer_store_put_sealed(coffer_repo *repo, const char *name, const void *data, size_t len,
                            unsigned int flags);
int coffer_store_get_sealed(coffer_repo *repo, const char *name, coffer_buf *out);

/* Added by the store part: the table of contents a pack carries at its end, read back
 * from the pack alone (to rebuild an index or check a pack). *out is coffer_malloc'ed. */
typedef struct coffer_store_pack_entry {
	coffer_cid id;
	coffer_chunk_location location;
} coffer_store_pack_entry;
int coffer_store_pack_toc(coffer_repo *repo, const char *pack, coffer_store_pack_entry **out,
                          size_t *count);

#endif
