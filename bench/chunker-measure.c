/* Measurements behind the crypto and chunker defaults in docs/FORMAT.md.
 *
 *   chunker-measure crypto                 content-id hashes, AES-256-GCM and scrypt speed
 *   chunker-measure speed [MiB]            chunker throughput on random data
 *   chunker-measure dedup [options] DIR... dedup after small inserts, chunk counts
 *       --limit-mib N   read at most N MiB of files (default 1024)
 *       --edits N       insertions per file (default 3), each of 1..16 random bytes
 *       --seed N        PRNG seed for file order, edit places and bytes (default 1)
 *
 * Everything is single-threaded and deterministic for a given seed and corpus; speeds are bytes
 * per second of this thread's CPU time (best of several runs). */
#include "config.h"

#include "../core/src/chunker.h"
#include "../core/src/crypto.h"

#include <coffer/error.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define MIB ((size_t)1 << 20)

typedef struct named_params {
	const char *name;
	coffer_chunker_params params;
} named_params;

static const named_params parameter_sets[] = {
	{ "64K/256K/1M", { 64u << 10, 256u << 10, 1u << 20, 2 } },
	{ "128K/512K/2M", { 128u << 10, 512u << 10, 2u << 20, 2 } },
	{ "256K/1M/4M", { 256u << 10, 1u << 20, 4u << 20, 2 } },
	{ "256K/1M/4M nc1", { 256u << 10, 1u << 20, 4u << 20, 1 } },
	{ "512K/1M/8M", { 512u << 10, 1u << 20, 8u << 20, 2 } },
	{ "512K/2M/8M", { 512u << 10, 2u << 20, 8u << 20, 2 } },
	{ "1M/4M/16M", { 1u << 20, 4u << 20, 16u << 20, 2 } },
};
#define PARAMETER_SET_COUNT (sizeof(parameter_sets) / sizeof(parameter_sets[0]))

/* CPU time of this thread, not wall time: the numbers then describe the code rather than how
 * busy the (shared) machine was. */
static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: reproducible test data and edit positions, not for secrets. */
static uint64_t prng_state = 1;

static uint64_t prng_next(void)
{
	prng_state ^= prng_state >> 12;
	prng_state ^= prng_state << 25;
	prng_state ^= prng_state >> 27;
	return prng_state * UINT64_C(2685821657736338717);
}

static void prng_fill(uint8_t *out, size_t len)
{
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = prng_next();
		memcpy(out + i, &v, 8);
	}
	for (; i < len; i++)
		out[i] = (uint8_t)prng_next();
}

static void die(const char *what)
{
	fprintf(stderr, "chunker-measure: %s: %s\n", what, coffer_error_last()->message);
	exit(1);
}

/* ---------------------------------------------------------------- crypto */

/* Repetitions of every timing; the best is reported, since other work on the machine only
 * ever makes a run slower. */
#define TIMING_REPEATS 5

static void measure_hash(const char *label, coffer_crypto_hash_algorithm algorithm, const uint8_t *buf,
                         size_t len, size_t rounds)
{
	coffer_crypto_hasher *hasher;
	uint8_t key[32], id[32];
	double best = 1e30;
	size_t i;
	int repeat;

	memset(key, 7, sizeof(key));
	if (coffer_crypto_hasher_new(&hasher, algorithm, key, sizeof(key)) < 0)
		die("hasher");
	coffer_crypto_hasher_id(hasher, buf, len, id); /* warm up: first use copies the context */
	for (repeat = 0; repeat < TIMING_REPEATS; repeat++) {
		double start = now_seconds(), seconds;

		for (i = 0; i < rounds; i++) {
			if (coffer_crypto_hasher_id(hasher, buf, len, id) < 0)
				die("hash");
		}
		seconds = now_seconds() - start;
		if (seconds < best)
			best = seconds;
	}
	printf("  %-26s %8.0f MB/s  (best of %d x %zu x %zu KiB)\n", label, (double)len * rounds / best / 1e6,
	       TIMING_REPEATS, rounds, len >> 10);
	coffer_crypto_hasher_free(hasher);
}

/* Unkeyed OpenSSL digest of the same buffers: shows what the keyed forms cost on top. */
static void measure_plain_digest(const char *label, const char *digest_name, const uint8_t *buf, size_t len,
                                 size_t rounds)
{
	EVP_MD *md = EVP_MD_fetch(NULL, digest_name, NULL);
	uint8_t out[64];
	double best = 1e30;
	size_t i;
	int repeat;

	if (md == NULL)
		return;
	for (repeat = 0; repeat < TIMING_REPEATS; repeat++) {
		double start = now_seconds(), seconds;

		for (i = 0; i < rounds; i++)
			EVP_Digest(buf, len, out, NULL, md, NULL);
		seconds = now_seconds() - start;
		if (seconds < best)
			best = seconds;
	}
	printf("  %-26s %8.0f MB/s  (reference, unkeyed)\n", label, (double)len * rounds / best / 1e6);
	EVP_MD_free(md);
}

static void measure_aead(const uint8_t *buf, size_t len, size_t rounds)
{
	uint8_t key[32], aad[32];
	uint8_t *sealed = malloc(len + COFFER_CRYPTO_SEAL_OVERHEAD);
	uint8_t *opened = malloc(len);
	double seal_best = 1e30, open_best = 1e30;
	size_t i;
	int repeat;

	if (sealed == NULL || opened == NULL)
		exit(1);
	memset(key, 3, sizeof(key));
	memset(aad, 5, sizeof(aad));
	for (repeat = 0; repeat < TIMING_REPEATS; repeat++) {
		double start = now_seconds(), seconds;

		for (i = 0; i < rounds; i++) {
			if (coffer_crypto_seal(sealed, key, aad, sizeof(aad), buf, len) < 0)
				die("seal");
		}
		seconds = now_seconds() - start;
		if (seconds < seal_best)
			seal_best = seconds;
		start = now_seconds();
		for (i = 0; i < rounds; i++) {
			if (coffer_crypto_open(opened, key, aad, sizeof(aad), sealed,
			                       len + COFFER_CRYPTO_SEAL_OVERHEAD) < 0)
				die("open");
		}
		seconds = now_seconds() - start;
		if (seconds < open_best)
			open_best = seconds;
	}
	if (memcmp(opened, buf, len) != 0) {
		fprintf(stderr, "chunker-measure: AES-GCM round trip mismatch\n");
		exit(1);
	}
	printf("  AES-256-GCM %4zu KiB        seal %5.2f GB/s, open %5.2f GB/s\n", len >> 10,
	       (double)len * rounds / seal_best / 1e9, (double)len * rounds / open_best / 1e9);
	free(sealed);
	free(opened);
}

static int measure_crypto(void)
{
	size_t len = 4 * MIB;
	uint8_t *buf = malloc(len);
	uint8_t key[32], salt[32];
	double start;

	if (buf == NULL)
		return 1;
	prng_fill(buf, len);
	printf("keyed content hash, single thread, 1 MiB buffers:\n");
	measure_hash("HMAC-SHA256", COFFER_CRYPTO_HASH_HMAC_SHA256, buf, MIB, 256);
	measure_hash("BLAKE2b-256 (keyed)", COFFER_CRYPTO_HASH_BLAKE2B_256, buf, MIB, 256);
	measure_plain_digest("SHA-256", "SHA256", buf, MIB, 256);
	measure_plain_digest("BLAKE2b-512", "BLAKE2B-512", buf, MIB, 256);
	printf("small buffers (metadata), 4 KiB:\n");
	measure_hash("HMAC-SHA256", COFFER_CRYPTO_HASH_HMAC_SHA256, buf, 4096, 50000);
	measure_hash("BLAKE2b-256 (keyed)", COFFER_CRYPTO_HASH_BLAKE2B_256, buf, 4096, 50000);
	printf("AEAD, single thread:\n");
	measure_aead(buf, MIB, 512);
	measure_aead(buf, 4 * MIB, 128);
	measure_aead(buf, 4096, 50000);
	memset(salt, 1, sizeof(salt));
	start = now_seconds();
	if (coffer_crypto_scrypt(key, sizeof(key), "correct horse", 13, salt, sizeof(salt),
	                         COFFER_CRYPTO_SCRYPT_DEFAULT_N, COFFER_CRYPTO_SCRYPT_DEFAULT_R,
	                         COFFER_CRYPTO_SCRYPT_DEFAULT_P) < 0)
		die("scrypt");
	printf("scrypt N=%u r=%u p=%u: %.0f ms\n", COFFER_CRYPTO_SCRYPT_DEFAULT_N, COFFER_CRYPTO_SCRYPT_DEFAULT_R,
	       COFFER_CRYPTO_SCRYPT_DEFAULT_P, (now_seconds() - start) * 1e3);
	coffer_crypto_thread_cleanup();
	free(buf);
	return 0;
}

/* ---------------------------------------------------------------- chunker speed */

static const uint8_t bench_seed[COFFER_CHUNKER_SEED_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* Chunks buf as one file read in 4 MiB blocks; returns the number of chunks. */
static size_t chunk_whole(coffer_chunker *chunker, const uint8_t *buf, size_t len)
{
	size_t offset = 0, chunks = 0;

	coffer_chunker_reset(chunker);
	while (offset < len) {
		size_t block = len - offset < 4 * MIB ? len - offset : 4 * MIB;
		const uint8_t *p = buf + offset;

		offset += block;
		while (block > 0) {
			int cut;
			size_t n = coffer_chunker_next(chunker, p, block, &cut);

			p += n;
			block -= n;
			chunks += (size_t)cut;
		}
	}
	return chunks + (coffer_chunker_pending(chunker) > 0);
}

static int measure_speed(size_t mib)
{
	size_t len = mib * MIB, i;
	uint8_t *buf = malloc(len);

	if (buf == NULL)
		return 1;
	prng_fill(buf, len);
	printf("chunker throughput on %zu MiB of random data, one file, 4 MiB reads, single thread:\n", mib);
	for (i = 0; i < PARAMETER_SET_COUNT; i++) {
		coffer_chunker chunker;
		double start, best = 1e9;
		size_t chunks = 0;
		int round;

		if (coffer_chunker_init(&chunker, &parameter_sets[i].params, bench_seed) < 0)
			die("chunker init");
		for (round = 0; round < 3; round++) {
			double seconds;

			start = now_seconds();
			chunks = chunk_whole(&chunker, buf, len);
			seconds = now_seconds() - start;
			if (seconds < best)
				best = seconds;
		}
		printf("  %-16s %5.2f GB/s  %6zu chunks, mean %7.0f KiB\n", parameter_sets[i].name,
		       (double)len / best / 1e9, chunks, (double)len / chunks / 1024);
	}
	free(buf);
	return 0;
}

/* ---------------------------------------------------------------- dedup after inserts */

typedef struct file_entry {
	char *path;
	size_t size;
} file_entry;

typedef struct file_list {
	file_entry *files;
	size_t count, cap;
} file_list;

static void collect_files(file_list *list, const char *dir, int depth)
{
	DIR *d;
	struct dirent *entry;

	if (depth > 24 || (d = opendir(dir)) == NULL)
		return;
	while ((entry = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;

		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name) >= sizeof(path))
			continue;
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			collect_files(list, path, depth + 1);
		} else if (S_ISREG(st.st_mode) && st.st_size > 0) {
			if (list->count == list->cap) {
				list->cap = list->cap ? 2 * list->cap : 4096;
				list->files = realloc(list->files, list->cap * sizeof(*list->files));
				if (list->files == NULL)
					exit(1);
			}
			list->files[list->count].path = strdup(path);
			list->files[list->count].size = (size_t)st.st_size;
			list->count++;
		}
	}
	closedir(d);
}

static int read_file(const char *path, uint8_t *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	close(fd);
	return 0;
}

/* Open-addressing set of 16-byte chunk ids (truncated HMAC-SHA256 of the chunk). */
typedef struct id_set {
	uint8_t (*slots)[16];
	uint8_t *used;
	size_t cap, count;
} id_set;

static int id_set_insert(id_set *set, const uint8_t id[16]);

static void id_set_grow(id_set *set)
{
	id_set bigger;
	size_t i;

	bigger.cap = set->cap ? 2 * set->cap : 1 << 16;
	bigger.count = 0;
	bigger.slots = calloc(bigger.cap, 16);
	bigger.used = calloc(bigger.cap, 1);
	if (bigger.slots == NULL || bigger.used == NULL)
		exit(1);
	for (i = 0; i < set->cap; i++) {
		if (set->used[i])
			id_set_insert(&bigger, set->slots[i]);
	}
	free(set->slots);
	free(set->used);
	*set = bigger;
}

/* 1 when the id was new. */
static int id_set_insert(id_set *set, const uint8_t id[16])
{
	uint64_t h;
	size_t i;

	if (2 * (set->count + 1) > set->cap)
		id_set_grow(set);
	memcpy(&h, id, 8);
	for (i = h & (set->cap - 1); set->used[i]; i = (i + 1) & (set->cap - 1)) {
		if (memcmp(set->slots[i], id, 16) == 0)
			return 0;
	}
	set->used[i] = 1;
	memcpy(set->slots[i], id, 16);
	set->count++;
	return 1;
}

/* Files are reported by size class: small files are one chunk whatever the parameters, so
 * they would hide the differences that matter for large files (volumes, databases, images). */
#define SIZE_CLASS_COUNT 3
static const char *const size_class_names[SIZE_CLASS_COUNT] = { "< 1 MiB", "1-8 MiB", ">= 8 MiB" };

static int size_class(size_t size)
{
	return size < MIB ? 0 : size < 8 * MIB ? 1 : 2;
}

typedef struct dedup_totals {
	size_t chunks[SIZE_CLASS_COUNT];     /* chunks of the original files (what the index must hold) */
	size_t new_bytes[SIZE_CLASS_COUNT];  /* bytes of edited files' chunks not already stored */
	size_t new_chunks;
	double seconds;                      /* chunking time only */
} dedup_totals;

/* Adds one chunk's id to the set; returns its length when it was new, else 0. */
static size_t store_chunk(const coffer_crypto_hasher *hasher, id_set *set, const uint8_t *chunk, size_t len,
                          size_t *chunks, size_t *new_chunks)
{
	uint8_t id[COFFER_CRYPTO_ID_SIZE];

	if (coffer_crypto_hasher_id(hasher, chunk, len, id) < 0)
		die("hash");
	(*chunks)++;
	if (!id_set_insert(set, id))
		return 0;
	(*new_chunks)++;
	return len;
}

/* Chunks buf as one file read in 4 MiB blocks and stores every chunk; returns the bytes of
 * chunks that were not stored before. */
static size_t chunk_into_set(coffer_chunker *chunker, const coffer_crypto_hasher *hasher, id_set *set,
                             const uint8_t *buf, size_t len, size_t *chunks, size_t *new_chunks,
                             double *seconds)
{
	size_t offset = 0, start = 0, new_bytes = 0;

	coffer_chunker_reset(chunker);
	while (offset < len) {
		size_t block = len - offset < 4 * MIB ? len - offset : 4 * MIB;
		double t0 = now_seconds();
		int cut;

		offset += coffer_chunker_next(chunker, buf + offset, block, &cut);
		*seconds += now_seconds() - t0;
		if (cut) {
			new_bytes += store_chunk(hasher, set, buf + start, offset - start, chunks, new_chunks);
			start = offset;
		}
	}
	if (start < len)
		new_bytes += store_chunk(hasher, set, buf + start, len - start, chunks, new_chunks);
	return new_bytes;
}

static int measure_dedup(int argc, char **argv)
{
	size_t limit = 1024 * MIB, edits = 3, total_bytes = 0, used_files = 0, i, p;
	size_t class_bytes[SIZE_CLASS_COUNT] = { 0 }, class_files[SIZE_CLASS_COUNT] = { 0 };
	uint64_t seed = 1;
	file_list list = { NULL, 0, 0 };
	dedup_totals totals[PARAMETER_SET_COUNT];
	coffer_chunker chunkers[PARAMETER_SET_COUNT];
	id_set sets[PARAMETER_SET_COUNT];
	coffer_crypto_hasher *hasher;
	uint8_t key[32] = { 9 };
	size_t buf_cap = 0;
	uint8_t *original = NULL, *edited = NULL;
	int arg;

	for (arg = 0; arg < argc; arg++) {
		if (strcmp(argv[arg], "--limit-mib") == 0 && arg + 1 < argc)
			limit = strtoull(argv[++arg], NULL, 10) * MIB;
		else if (strcmp(argv[arg], "--edits") == 0 && arg + 1 < argc)
			edits = strtoull(argv[++arg], NULL, 10);
		else if (strcmp(argv[arg], "--seed") == 0 && arg + 1 < argc)
			seed = strtoull(argv[++arg], NULL, 10);
		else
			collect_files(&list, argv[arg], 0);
	}
	if (list.count == 0) {
		fprintf(stderr, "chunker-measure dedup: no files found\n");
		return 1;
	}
	prng_state = seed ? seed : 1;
	/* Shuffle so a byte budget samples the whole tree rather than its first directories. */
	for (i = list.count - 1; i > 0; i--) {
		size_t j = prng_next() % (i + 1);
		file_entry t = list.files[i];
		list.files[i] = list.files[j];
		list.files[j] = t;
	}
	if (coffer_crypto_hasher_new(&hasher, COFFER_CRYPTO_HASH_HMAC_SHA256, key, sizeof(key)) < 0)
		die("hasher");
	memset(totals, 0, sizeof(totals));
	memset(sets, 0, sizeof(sets));
	for (p = 0; p < PARAMETER_SET_COUNT; p++) {
		if (coffer_chunker_init(&chunkers[p], &parameter_sets[p].params, bench_seed) < 0)
			die("chunker init");
	}
	for (i = 0; i < list.count && total_bytes < limit; i++) {
		size_t size = list.files[i].size, edited_len = 0, last = 0, e;
		size_t positions[64], lengths[64];
		uint8_t inserted[64][16];
		size_t edit_count = edits < 64 ? edits : 64;

		if (size > 512 * MIB || size > limit - total_bytes)
			continue;
		if (size + 64 * 16 > buf_cap) {
			buf_cap = size + 64 * 16;
			original = realloc(original, buf_cap);
			edited = realloc(edited, buf_cap);
			if (original == NULL || edited == NULL)
				exit(1);
		}
		if (read_file(list.files[i].path, original, size) < 0)
			continue;
		/* Sorted random insert positions, each 1..16 random bytes. */
		for (e = 0; e < edit_count; e++) {
			positions[e] = prng_next() % (size + 1);
			lengths[e] = 1 + prng_next() % 16;
			prng_fill(inserted[e], lengths[e]);
		}
		for (e = 1; e < edit_count; e++) {
			size_t k = e, pos = positions[e], l = lengths[e];
			while (k > 0 && positions[k - 1] > pos) {
				positions[k] = positions[k - 1];
				lengths[k] = lengths[k - 1];
				k--;
			}
			positions[k] = pos;
			lengths[k] = l;
		}
		for (e = 0; e < edit_count; e++) {
			memcpy(edited + edited_len, original + last, positions[e] - last);
			edited_len += positions[e] - last;
			memcpy(edited + edited_len, inserted[e], lengths[e]);
			edited_len += lengths[e];
			last = positions[e];
		}
		memcpy(edited + edited_len, original + last, size - last);
		edited_len += size - last;

		for (p = 0; p < PARAMETER_SET_COUNT; p++) {
			size_t discard = 0;
			int c = size_class(size);

			chunk_into_set(&chunkers[p], hasher, &sets[p], original, size, &totals[p].chunks[c], &discard,
			               &totals[p].seconds);
			totals[p].new_bytes[c] += chunk_into_set(&chunkers[p], hasher, &sets[p], edited, edited_len,
			                                         &discard, &totals[p].new_chunks, &totals[p].seconds);
		}
		class_bytes[size_class(size)] += size;
		class_files[size_class(size)]++;
		total_bytes += size;
		used_files++;
	}
	printf("dedup after %zu random insertions (1-16 bytes each) in every file: %zu files, %.1f MiB\n", edits,
	       used_files, (double)total_bytes / MIB);
	printf("new %% = bytes of the edited files' chunks not already stored / original bytes\n");
	printf("  %-16s %18s %19s %19s %19s\n", "", "all files", size_class_names[0], size_class_names[1],
	       size_class_names[2]);
	printf("  %-16s %9zu %8.0f %9zu %9.0f %9zu %9.0f %9zu %9.0f   (files, MiB)\n", "", used_files,
	       (double)total_bytes / MIB, class_files[0], (double)class_bytes[0] / MIB, class_files[1],
	       (double)class_bytes[1] / MIB, class_files[2], (double)class_bytes[2] / MIB);
	printf("  %-16s %9s %8s %9s %9s %9s %9s %9s %9s %7s\n", "min/avg/max", "chunks", "new %", "chunks",
	       "new %", "chunks", "new %", "chunks", "new %", "GB/s");
	for (p = 0; p < PARAMETER_SET_COUNT; p++) {
		size_t all_chunks = 0, all_new = 0;
		int c;

		for (c = 0; c < SIZE_CLASS_COUNT; c++) {
			all_chunks += totals[p].chunks[c];
			all_new += totals[p].new_bytes[c];
		}
		printf("  %-16s %9zu %8.2f", parameter_sets[p].name, all_chunks, 100.0 * all_new / total_bytes);
		for (c = 0; c < SIZE_CLASS_COUNT; c++)
			printf(" %9zu %9.2f", totals[p].chunks[c],
			       class_bytes[c] ? 100.0 * totals[p].new_bytes[c] / class_bytes[c] : 0.0);
		printf(" %7.2f\n", 2.0 * total_bytes / totals[p].seconds / 1e9);
		free(sets[p].slots);
		free(sets[p].used);
	}
	coffer_crypto_hasher_free(hasher);
	coffer_crypto_thread_cleanup();
	for (i = 0; i < list.count; i++)
		free(list.files[i].path);
	free(list.files);
	free(original);
	free(edited);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "crypto") == 0)
		return measure_crypto();
	if (argc >= 2 && strcmp(argv[1], "speed") == 0)
		return measure_speed(argc >= 3 ? strtoull(argv[2], NULL, 10) : 512);
	if (argc >= 2 && strcmp(argv[1], "dedup") == 0)
		return measure_dedup(argc - 2, argv + 2);
	fprintf(stderr, "usage: %s crypto | speed [MiB] | dedup [--limit-mib N] [--edits N] [--seed N] DIR...\n",
	        argv[0]);
	return 2;
}
