/* Content-defined chunking (FastCDC: gear rolling hash, normalized chunking with two masks)
 * as a streaming interface, so a file is cut while it is read in blocks and never copied
 * whole. The gear table is derived from a per-repository secret seed, so chunk boundaries
 * reveal nothing to someone who knows a file's contents but not the seed.
 *
 * Usage, per file:
 *     coffer_chunker_reset(&ch);
 *     for each block read:
 *         while (len > 0) {
 *             size_t n = coffer_chunker_next(&ch, buf, len, &cut);
 *             append buf[0..n) to the current chunk;
 *             if (cut) finish the current chunk;
 *             buf += n; len -= n;
 *         }
 *     at end of file, finish the current chunk if it holds any bytes.
 * A chunk never spans files: the caller resets at each file start. */
#ifndef COFFER_CHUNKER_H
#define COFFER_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define COFFER_CHUNKER_SEED_SIZE 32
/* Bounds enforced by coffer_chunker_params_check (the parameters come from a repository
 * header, so they are validated like any input). */
#define COFFER_CHUNKER_MIN_SIZE_LIMIT 64u
#define COFFER_CHUNKER_MAX_SIZE_LIMIT (64u << 20)
#define COFFER_CHUNKER_NORMALIZATION_LIMIT 3u

typedef struct coffer_chunker_params {
	uint32_t min_size;       /* no cut before this many bytes (the last chunk of a file may be shorter) */
	uint32_t avg_size;       /* power of two: the target; below it the stricter mask is used */
	uint32_t max_size;       /* forced cut at this many bytes */
	uint32_t normalization;  /* FastCDC level: masks have log2(avg) +/- this many bits (0..3) */
} coffer_chunker_params;

/* Defaults chosen by measurement (bench/chunker-measure.c, docs/FORMAT.md): on files >= 8 MiB
 * each small insert costs ~1.25 MiB of new data and a TiB needs ~0.9 million index entries;
 * 256 KiB averages would quarter the cost per edit but quadruple the index. */
#define COFFER_CHUNKER_PARAMS_DEFAULT { 512u << 10, 1u << 20, 8u << 20, 2u }

typedef struct coffer_chunker {
	uint64_t gear[256];          /* keyed gear table */
	uint64_t gear_shifted[256];  /* gear[i] << 1: lets the scan advance two bytes per step */
	uint64_t mask_strict;        /* used while the chunk is shorter than avg_size */
	uint64_t mask_loose;         /* used from avg_size to max_size */
	coffer_chunker_params params;
	uint64_t hash;               /* rolling hash of the current chunk */
	size_t position;             /* bytes of the current chunk seen so far */
} coffer_chunker;

/* 0 when the parameters are usable, else COFFER_EINVALID naming the problem. */
int coffer_chunker_params_check(const coffer_chunker_params *params);

/* Checks params and derives the gear table from seed (use a per-repository key, e.g. from
 * coffer_crypto_derive_key(master, "chunker-gear")). Leaves the chunker at a file start. */
int coffer_chunker_init(coffer_chunker *chunker, const coffer_chunker_params *params,
                        const uint8_t seed[COFFER_CHUNKER_SEED_SIZE]);

/* Starts a new file: the current chunk is dropped and the next byte begins a chunk. */
void coffer_chunker_reset(coffer_chunker *chunker);

/* Consumes bytes of buf that belong to the current chunk and returns their number n
 * (0 only when len is 0). *cut is set to 1 when the chunk ends after those n bytes (the
 * chunker then starts a new one), else to 0 and n == len. */
size_t coffer_chunker_next(coffer_chunker *chunker, const uint8_t *buf, size_t len, int *cut);

/* Bytes in the current, unfinished chunk: what the caller must still emit at end of file. */
size_t coffer_chunker_pending(const coffer_chunker *chunker);

/* Wipes the keyed table. */
void coffer_chunker_clear(coffer_chunker *chunker);

#endif
