/* Write throughput of coffer_store_write on 1 MiB chunks of text-like and random data,
 * with 1 and 2 threads, into a filesystem repository (including the final commit, so every
 * pack is uploaded and fsync'ed), plus the cost of each step of the write path alone.
 * Not a pass/fail test: `make check` builds it; run it by hand.
 *
 *   tests/test_store_bench [FOLDER [MIB [CODEC]]]
 *
 * FOLDER holds the repository and cache (default $TMPDIR or /tmp; use /dev/shm to leave
 * the disk out), MIB the data written per run (default 256), CODEC the compression
 * ("zstd" = zstd level 1, the default). */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <coffer/coffer.h>
#include <coffer/repo.h>
#include <coffer/sys/preload.h>

#include "store.h"

#define CHUNK (1u << 20)

static coffer_core *core;
static uint8_t *text_corpus;
static size_t text_corpus_len;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, coffer_error_last()->message);
	exit(1);
}

/* Text-like data: real text files of this system when present (licenses, C headers),
 * else generated words. */
static void load_text_corpus(void)
{
	size_t cap = 16u << 20;
	text_corpus = malloc(cap);
	FILE *p = popen("cat /usr/share/common-licenses/* /usr/include/*.h /usr/include/*/*.h 2>/dev/null", "r");
	if (p) {
		size_t n;
		while (text_corpus_len < cap && (n = fread(text_corpus + text_corpus_len, 1, cap - text_corpus_len, p)) > 0)
			text_corpus_len += n;
		pclose(p);
	}
	if (text_corpus_len < 4 * CHUNK) {
		static const char *words[] = { "the ", "backup ", "of ", "data ", "and ", "restore\n", "file ",
		                               "system ", "with ", "a " };
		uint64_t x = 88172645463325252ull;
		text_corpus_len = 0;
		while (text_corpus_len + 16 < cap) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			const char *w = words[x % 10];
			size_t l = strlen(w);
			memcpy(text_corpus + text_corpus_len, w, l);
			text_corpus_len += l;
		}
	}
}

/* Chunk i of a kind: distinct for every i (no dedup). */
static void make_chunk(uint8_t *buf, uint64_t i, int text)
{
	if (text) {
		size_t off = (size_t)((i * 7919u * 4096u) % (text_corpus_len - CHUNK));
		memcpy(buf, text_corpus + off, CHUNK);
	} else {
		uint64_t x = 0x9e3779b97f4a7c15ull * (i + 12345);
		for (size_t k = 0; k < CHUNK; k += 8) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(buf + k, &x, 8);
		}
	}
	memcpy(buf, &i, sizeof(i)); /* unique even when the corpus repeats */
}

typedef struct worker_arg {
	coffer_store_writer *w;
	unsigned worker, workers;
	uint64_t chunks;
	int text;
	uint8_t **prepared;
	uint64_t stored;
} worker_arg;

static void *worker_main(void *opaque)
{
	worker_arg *a = opaque;
	for (uint64_t i = a->worker; i < a->chunks; i += a->workers) {
		coffer_store_write_result r;
		coffer_cid id;
		if (coffer_store_write(a->w, a->worker, COFFER_CHUNK_DATA, a->prepared[i], CHUNK, &id, &r) != 0)
			die("coffer_store_write");
		a->stored += r.stored_bytes;
	}
	return NULL;
}

static void run(const char *folder, unsigned threads, int text, uint64_t mib, const char *codec_name)
{
	char dir[4096], url[4200], cache[4200], cmd[4400];
	snprintf(dir, sizeof(dir), "%s/coffer-store-bench-%ld", folder, (long)getpid());
	snprintf(url, sizeof(url), "filesystem://%s/repo", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	coffer_repo_options o = COFFER_REPO_OPTIONS_INIT;
	o.scrypt_n = 1024;
	o.cache_dir = cache;
	o.parallelism = threads;
	o.compression = codec_name;
	coffer_repo *repo;
	if (coffer_repo_create(&repo, core, url, "bench", &o) != 0)
		die("coffer_repo_create");
	uint64_t chunks = mib;
	/* Prepared up front so generating data is not measured. */
	uint8_t **prepared = malloc(chunks * sizeof(*prepared));
	for (uint64_t i = 0; i < chunks; i++) {
		prepared[i] = malloc(CHUNK);
		make_chunk(prepared[i], i, text);
	}
	coffer_store_writer *w;
	if (coffer_store_writer_new(&w, repo, threads, NULL) != 0)
		die("coffer_store_writer_new");
	worker_arg args[16];
	pthread_t tids[16];
	double t0 = now_s(), c0 = cpu_s();
	for (unsigned t = 0; t < threads; t++) {
		args[t] = (worker_arg){ w, t, threads, chunks, text, prepared, 0 };
		pthread_create(&tids[t], NULL, worker_main, &args[t]);
	}
	uint64_t stored = 0;
	for (unsigned t = 0; t < threads; t++) {
		pthread_join(tids[t], NULL);
		stored += args[t].stored;
	}
	if (coffer_store_writer_commit(w) != 0)
		die("commit");
	double t1 = now_s(), c1 = cpu_s();
	coffer_store_writer_free(w);
	coffer_repo_close(repo);
	double mb = (double)(chunks * CHUNK) / 1e6;
	/* MB per CPU-second is the figure that survives a busy machine. */
	printf("%-6s %u thread%s %-5s: %7.1f MB/s wall, %7.1f MB per CPU-s  (%.0f MB in %.2f s, stored %.0f MB, "
	       "ratio %.2f)\n",
	       text ? "text" : "random", threads, threads > 1 ? "s" : " ", codec_name, mb / (t1 - t0),
	       mb / (c1 - c0), mb, t1 - t0, (double)stored / 1e6, (double)(chunks * CHUNK) / (double)stored);
	for (uint64_t i = 0; i < chunks; i++)
		free(prepared[i]);
	free(prepared);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

typedef struct small_arg {
	coffer_store_writer *w;
	unsigned worker, workers;
	uint64_t chunks;
} small_arg;

static void *small_main(void *opaque)
{
	small_arg *a = opaque;
	uint8_t buf[100];
	for (uint64_t i = a->worker; i < a->chunks; i += a->workers) {
		uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
		for (size_t k = 0; k < sizeof(buf); k += 4) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(buf + k, &x, 4);
		}
		coffer_store_write_result r;
		if (coffer_store_write(a->w, a->worker, COFFER_CHUNK_DATA, buf, sizeof(buf), NULL, &r) != 0)
			die("coffer_store_write");
	}
	return NULL;
}

/* Many tiny chunks (small files): the per-chunk costs, session set and locks included. */
static void run_small(const char *folder, unsigned threads, uint64_t chunks)
{
	char dir[4096], url[4200], cache[4200], cmd[4400];
	snprintf(dir, sizeof(dir), "%s/coffer-store-bench-small-%ld", folder, (long)getpid());
	snprintf(url, sizeof(url), "filesystem://%s/repo", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	coffer_repo_options o = COFFER_REPO_OPTIONS_INIT;
	o.scrypt_n = 1024;
	o.cache_dir = cache;
	o.parallelism = threads;
	coffer_repo *repo;
	coffer_store_writer *w;
	if (coffer_repo_create(&repo, core, url, "bench", &o) != 0 || coffer_store_writer_new(&w, repo, threads, NULL) != 0)
		die("setup");
	small_arg args[16];
	pthread_t tids[16];
	double t0 = now_s(), c0 = cpu_s();
	for (unsigned t = 0; t < threads; t++) {
		args[t] = (small_arg){ w, t, threads, chunks };
		pthread_create(&tids[t], NULL, small_main, &args[t]);
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(tids[t], NULL);
	if (coffer_store_writer_commit(w) != 0)
		die("commit");
	double t1 = now_s(), c1 = cpu_s();
	coffer_store_writer_free(w);
	coffer_repo_close(repo);
	printf("small  %u thread%s 100 B: %7.0f chunks/s wall, %7.0f chunks per CPU-s (%llu chunks)\n", threads,
	       threads > 1 ? "s" : " ", (double)chunks / (t1 - t0), (double)chunks / (c1 - c0),
	       (unsigned long long)chunks);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* Each step of the write path alone, one thread, on 64 chunks (CPU time). */
static void steps(const char *codec_name)
{
	coffer_codec codec;
	if (coffer_codec_lookup(core, codec_name, &codec) != 0)
		die("codec");
	uint8_t *in = malloc(CHUNK), *out = malloc(coffer_codec_bound(&codec, CHUNK) + 64);
	uint8_t key[32] = { 1 };
	coffer_crypto_hasher *h;
	coffer_crypto_hasher_new(&h, COFFER_CRYPTO_HASH_DEFAULT, key, 32);
	for (int text = 1; text >= 0; text--) {
		double t0 = cpu_s();
		for (int i = 0; i < 64; i++) {
			make_chunk(in, (uint64_t)i, text);
			uint8_t id[32];
			coffer_crypto_hasher_id(h, in, CHUNK, id);
		}
		double t1 = cpu_s();
		size_t total = 0;
		for (int i = 0; i < 64; i++) {
			make_chunk(in, (uint64_t)i, text);
			size_t n;
			coffer_codec_compress(&codec, in, CHUNK, out, coffer_codec_bound(&codec, CHUNK), &n);
			total += n;
		}
		double t2 = cpu_s();
		for (int i = 0; i < 64; i++) {
			make_chunk(in, (uint64_t)i, text);
			coffer_crypto_seal(out, key, key, 32, in, CHUNK);
		}
		double t3 = cpu_s();
		for (int i = 0; i < 64; i++)
			make_chunk(in, (uint64_t)i, text);
		double t4 = cpu_s();
		double gen = t4 - t3, mb = 64.0 * CHUNK / 1e6;
		printf("steps %-6s: id %6.0f MB/s, %s %6.0f MB/s (ratio %.2f), seal %6.0f MB/s\n",
		       text ? "text" : "random", mb / (t1 - t0 - gen), codec_name, mb / (t2 - t1 - gen),
		       64.0 * CHUNK / (double)total, mb / (t3 - t2 - gen));
	}
	coffer_crypto_hasher_free(h);
	free(in);
	free(out);
}

int main(int argc, char **argv)
{
	COFFER_SET_PRELOADED_PLUGINS();
	coffer_core_options co = COFFER_CORE_OPTIONS_INIT;
	co.plugin_path = "";
	co.no_default_path = 1;
	if (coffer_core_new(&core, &co) != 0)
		die("coffer_core_new");
	const char *tmp = getenv("TMPDIR");
	const char *folder = argc > 1 ? argv[1] : tmp && tmp[0] ? tmp : "/tmp";
	uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 256;
	const char *codec_name = argc > 3 ? argv[3] : "zstd";
	load_text_corpus();
	printf("folder %s, %llu MiB per run, 1 MiB chunks, %ld online CPUs\n", folder, (unsigned long long)mib,
	       sysconf(_SC_NPROCESSORS_ONLN));
	steps(codec_name);
	for (int text = 1; text >= 0; text--)
		for (unsigned threads = 1; threads <= 2; threads++)
			run(folder, threads, text, mib, codec_name);
	for (unsigned threads = 1; threads <= 2; threads++)
		run_small(folder, threads, 400000);
	free(text_corpus);
	coffer_core_free(core);
	return 0;
}
