/* The zstd, gzip and none codecs through the core: name and level resolution, round trips
 * at every range end, refusal of small buffers, truncated, damaged and oversized input,
 * many threads at once, and output that Debian's zstd and gzip read (and the reverse).
 * Built once per codec (tests/codec.am defines TEST_CODEC_*); a program whose plugin was
 * not built reports skip. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>

#include <coffer/codec.h>
#include <coffer/sys/codec.h>
#include <coffer/sys/plugin.h>
#include <coffer/sys/preload.h>

#include "testlib.h"

#ifndef TEST_CODEC_BUILT
#define TEST_CODEC_BUILT 0
#endif

#if defined(TEST_CODEC_ZSTD)
#define CODEC_NAME "zstd"
#define CODEC_MODULE "codec-zstd"
#define CODEC_ID COFFER_CODEC_ID_ZSTD
#define CODEC_DEFAULT_LEVEL 1
#define CODEC_TOOL "zstd"
#define CODEC_CHECKS_INTEGRITY 1
#if TEST_CODEC_BUILT
/* The plugin must offer exactly the range of the libzstd it runs with. */
#include <zstd.h>
#define CODEC_MIN_LEVEL (ZSTD_minCLevel())
#define CODEC_MAX_LEVEL (ZSTD_maxCLevel())
#else
#define CODEC_MIN_LEVEL 1 /* unused: the program only reports skip */
#define CODEC_MAX_LEVEL 1
#endif
static const coffer_codec_variant expected_variants[] = {
	{ "zstd-fastest", 1 }, { "zstd-better-compression", 7 }, { "zstd-best-compression", 11 }, { NULL, 0 },
};
#elif defined(TEST_CODEC_GZIP)
#define CODEC_NAME "gzip"
#define CODEC_MODULE "codec-gzip"
#define CODEC_ID COFFER_CODEC_ID_GZIP
#define CODEC_DEFAULT_LEVEL 6
#define CODEC_TOOL "gzip"
#define CODEC_CHECKS_INTEGRITY 1
#define CODEC_MIN_LEVEL 1
#define CODEC_MAX_LEVEL 9
static const coffer_codec_variant expected_variants[] = {
	{ "gzip-best-speed", 1 }, { "gzip-best-compression", 9 }, { NULL, 0 },
};
#elif defined(TEST_CODEC_NONE)
#define CODEC_NAME "none"
#define CODEC_MODULE "codec-none"
#define CODEC_ID COFFER_CODEC_ID_NONE
#define CODEC_DEFAULT_LEVEL 0
#define CODEC_TOOL NULL /* no command-line counterpart */
#define CODEC_CHECKS_INTEGRITY 0 /* stored bytes carry no structure to check */
#define CODEC_MIN_LEVEL 0
#define CODEC_MAX_LEVEL 0
static const coffer_codec_variant expected_variants[] = { { NULL, 0 } };
#else
#error "define TEST_CODEC_ZSTD, TEST_CODEC_GZIP or TEST_CODEC_NONE"
#endif

#define BIG_SIZE (8 * 1024 * 1024 + 13) /* >= 8 MiB and not a multiple of any block size */

/* ------------------------------------------------------------------ data */

static uint64_t prng_state;

static uint64_t prng_next(void)
{
	/* xorshift64*: reproducible data without depending on libc's rand(). */
	prng_state ^= prng_state >> 12;
	prng_state ^= prng_state << 25;
	prng_state ^= prng_state >> 27;
	return prng_state * 0x2545F4914F6CDD1DULL;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	prng_state = seed | 1;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(prng_next() >> 56);
}

/* Words drawn at random from a small vocabulary: compresses like prose, about 3:1. */
static void fill_text(uint8_t *p, size_t n, uint64_t seed)
{
	static const char *const words[] = {
		"backup", "chunk", "repository", "snapshot", "the", "of", "and", "pack", "index",
		"restore", "volume", "a", "to", "encrypted", "deduplicated", "policy", "retention",
		"maintenance", "is", "with", "compression", "blob", "manifest", "writer", "\n",
	};
	prng_state = seed | 1;
	size_t i = 0;
	while (i < n) {
		const char *w = words[prng_next() % (sizeof(words) / sizeof(words[0]))];
		for (size_t j = 0; w[j] && i < n; j++)
			p[i++] = (uint8_t)w[j];
		if (i < n)
			p[i++] = ' ';
	}
}

static void fill_repetitive(uint8_t *p, size_t n)
{
	static const char pattern[] = "coffer keeps every chunk once; ";
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)pattern[i % (sizeof(pattern) - 1)];
}

/* Alternating stretches of random and text-like bytes of uneven lengths, so codecs that
 * decide per segment switch often and at awkward offsets. */
static void fill_mixed(uint8_t *p, size_t n, uint64_t seed)
{
	size_t i = 0;
	for (int stretch = 0; i < n; stretch++) {
		size_t len = 4096 + (size_t)(stretch * 7919) % (150 * 1024);
		if (len > n - i)
			len = n - i;
		if (stretch % 2)
			fill_random(p + i, len, seed + (uint64_t)stretch);
		else
			fill_text(p + i, len, seed + (uint64_t)stretch);
		i += len;
	}
}

static uint8_t *big_random, *big_text, *big_repetitive, *big_mixed;

static void make_big_inputs(void)
{
	big_random = malloc(BIG_SIZE);
	big_text = malloc(BIG_SIZE);
	big_repetitive = malloc(BIG_SIZE);
	big_mixed = malloc(BIG_SIZE);
	if (!big_random || !big_text || !big_repetitive || !big_mixed) {
		fprintf(stderr, "out of memory making test data\n");
		exit(EXIT_FAILURE);
	}
	fill_random(big_random, BIG_SIZE, 1);
	fill_text(big_text, BIG_SIZE, 2);
	fill_repetitive(big_repetitive, BIG_SIZE);
	fill_mixed(big_mixed, BIG_SIZE, 3);
}

/* ------------------------------------------------------------------ helpers */

static coffer_core *open_core(void)
{
	coffer_core *core = NULL;
	coffer_core_options opts = COFFER_CORE_OPTIONS_INIT;
	opts.plugin_path = "";
	opts.no_default_path = 1;
	ck_assert_coffer_ok(coffer_core_new(&core, &opts));
	return core;
}

static coffer_codec lookup(coffer_core *core, const char *spec)
{
	coffer_codec codec;
	ck_assert_coffer_ok(coffer_codec_lookup(core, spec, &codec));
	return codec;
}

static coffer_codec lookup_level(coffer_core *core, int level)
{
	char spec[64];
	/* "none" takes no level; its only level is the default. */
	if (CODEC_MIN_LEVEL == CODEC_MAX_LEVEL)
		snprintf(spec, sizeof(spec), "%s", CODEC_NAME);
	else
		snprintf(spec, sizeof(spec), "%s:%d", CODEC_NAME, level);
	coffer_codec codec = lookup(core, spec);
	ck_assert_int_eq(codec.level, level);
	return codec;
}

/* Compresses into a buffer of exactly bound() bytes, so ASan sees any overrun. */
static uint8_t *compress_exact(const coffer_codec *codec, const void *src, size_t n, size_t *out_len)
{
	size_t bound = coffer_codec_bound(codec, n);
	ck_assert_uint_ge(bound, n);
	uint8_t *dst = malloc(bound ? bound : 1);
	ck_assert_ptr_nonnull(dst);
	ck_assert_coffer_ok(coffer_codec_compress(codec, src, n, dst, bound, out_len));
	ck_assert_uint_le(*out_len, bound);
	return dst;
}

/* Decompresses into a buffer of exactly `cap` bytes; returns the codec's result. */
static int decompress_exact(const coffer_codec *codec, const void *src, size_t n, size_t cap,
                            uint8_t **out, size_t *out_len)
{
	*out = malloc(cap ? cap : 1);
	ck_assert_ptr_nonnull(*out);
	*out_len = (size_t)-1;
	return coffer_codec_decompress(codec, src, n, *out, cap, out_len);
}

static void check_round_trip(const coffer_codec *codec, const uint8_t *data, size_t n, const char *what)
{
	size_t packed_len, restored_len;
	uint8_t *packed = compress_exact(codec, data, n, &packed_len);
	uint8_t *restored;
	int rc = decompress_exact(codec, packed, packed_len, n, &restored, &restored_len);
	ck_assert_msg(rc == 0, "%s level %d, %s (%zu bytes): decompress failed: %s", codec->name,
	              codec->level, what, n, coffer_error_last()->message);
	ck_assert_msg(restored_len == n, "%s level %d, %s: %zu bytes came back, not %zu", codec->name,
	              codec->level, what, restored_len, n);
	ck_assert_msg(n == 0 || memcmp(restored, data, n) == 0, "%s level %d, %s: content differs",
	              codec->name, codec->level, what);
	free(packed);
	free(restored);
}

/* min, max, default, each named level, and -1 and 1 where the range has them. */
static size_t interesting_levels(int *levels)
{
	size_t count = 0;
	int candidates[16] = { CODEC_MIN_LEVEL, CODEC_MAX_LEVEL, CODEC_DEFAULT_LEVEL, -1, 1 };
	size_t candidate_count = 5;
	for (const coffer_codec_variant *v = expected_variants; v->name; v++)
		candidates[candidate_count++] = v->level;
	for (size_t i = 0; i < candidate_count; i++) {
		int level = candidates[i], seen = 0;
		if (level < CODEC_MIN_LEVEL || level > CODEC_MAX_LEVEL)
			continue;
		for (size_t j = 0; j < count; j++)
			seen |= levels[j] == level;
		if (!seen)
			levels[count++] = level;
	}
	return count;
}

/* A compressed message of a few KiB for the damage tests. */
static uint8_t *small_message(coffer_core *core, size_t *n, size_t *packed_len, uint8_t **plain)
{
	*n = 6000;
	*plain = malloc(*n);
	ck_assert_ptr_nonnull(*plain);
	fill_text(*plain, *n, 42);
	coffer_codec codec = lookup(core, CODEC_NAME);
	return compress_exact(&codec, *plain, *n, packed_len);
}

static int tool_available(const char *tool)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s > /dev/null 2>&1", tool);
	return system(cmd) == 0;
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	long size = ftell(f);
	ck_assert_int_ge(size, 0);
	ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
	uint8_t *data = malloc(size ? (size_t)size : 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(fread(data, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	*n = (size_t)size;
	return data;
}

static int run_shell(const char *cmd)
{
	int status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ------------------------------------------------------------------ names and levels */

START_TEST(plugin_is_registered)
{
	coffer_core *core = open_core();
	const coffer_plugin_info *info;
	ck_assert_coffer_ok(coffer_core_find(core, COFFER_PLUGIN_CODEC, CODEC_NAME, &info));
	const coffer_plugin_descriptor *d = info->descriptor;
	ck_assert_str_eq(d->name, CODEC_MODULE);
	ck_assert_uint_eq(d->magic, COFFER_PLUGIN_MAGIC);
	ck_assert_uint_eq(d->abi_version, COFFER_ABI_VERSION);
	ck_assert_str_eq(d->names[0], CODEC_NAME);
	ck_assert_ptr_null(d->names[1]);
	const coffer_codec_vtable *vt = d->vtable;
	ck_assert_uint_eq(vt->version, COFFER_CODEC_VTABLE_VERSION);
	ck_assert_uint_eq(vt->id, CODEC_ID);
	ck_assert_int_eq(vt->min_level, CODEC_MIN_LEVEL);
	ck_assert_int_eq(vt->max_level, CODEC_MAX_LEVEL);
	ck_assert_int_eq(vt->default_level, CODEC_DEFAULT_LEVEL);
	coffer_core_free(core);
}
END_TEST

START_TEST(names_resolve_to_levels)
{
	coffer_core *core = open_core();
	coffer_codec plain = lookup(core, CODEC_NAME);
	ck_assert_str_eq(plain.name, CODEC_NAME);
	ck_assert_int_eq(plain.level, CODEC_DEFAULT_LEVEL);

	coffer_codec by_id;
	ck_assert_coffer_ok(coffer_codec_by_id(core, CODEC_ID, &by_id));
	ck_assert_ptr_eq(by_id.vt, plain.vt);
	ck_assert_str_eq(by_id.name, CODEC_NAME);

	size_t variant_count = 0;
	for (const coffer_codec_variant *v = expected_variants; v->name; v++, variant_count++) {
		coffer_codec c = lookup(core, v->name);
		ck_assert_msg(c.vt == plain.vt && c.level == v->level, "%s resolved to %s level %d, not %d",
		              v->name, c.name, c.level, v->level);
		ck_assert_str_eq(c.name, CODEC_NAME);
	}
	size_t listed = 0;
	for (const coffer_codec_variant *v = plain.vt->variants; v && v->name; v++)
		listed++;
	ck_assert_uint_eq(listed, variant_count);

	if (CODEC_MIN_LEVEL != CODEC_MAX_LEVEL) {
		char spec[64];
		for (int level = CODEC_MIN_LEVEL < -10 ? -10 : CODEC_MIN_LEVEL; level <= CODEC_MAX_LEVEL; level++)
			lookup_level(core, level);
		lookup_level(core, CODEC_MIN_LEVEL);
		lookup_level(core, CODEC_MAX_LEVEL);
		/* A named level with an explicit level: the explicit one wins. */
		if (expected_variants[0].name) {
			snprintf(spec, sizeof(spec), "%s:%d", expected_variants[0].name, CODEC_MAX_LEVEL);
			ck_assert_int_eq(lookup(core, spec).level, CODEC_MAX_LEVEL);
		}
	}
	coffer_core_free(core);
}
END_TEST

START_TEST(bad_names_and_levels_fail)
{
	coffer_core *core = open_core();
	coffer_codec c;
	char spec[64];
	snprintf(spec, sizeof(spec), "%s:%d", CODEC_NAME, CODEC_MAX_LEVEL + 1);
	ck_assert_int_eq(coffer_codec_lookup(core, spec, &c), COFFER_EINVALID);
	ck_assert_msg(strstr(coffer_error_last()->message, "out of range") != NULL, "message: %s",
	              coffer_error_last()->message);
	snprintf(spec, sizeof(spec), "%s:%d", CODEC_NAME, CODEC_MIN_LEVEL - 1);
	ck_assert_int_eq(coffer_codec_lookup(core, spec, &c), COFFER_EINVALID);
	snprintf(spec, sizeof(spec), "%s:fast", CODEC_NAME);
	ck_assert_int_eq(coffer_codec_lookup(core, spec, &c), COFFER_EINVALID);
	snprintf(spec, sizeof(spec), "%s:", CODEC_NAME);
	ck_assert_int_eq(coffer_codec_lookup(core, spec, &c), COFFER_EINVALID);
	snprintf(spec, sizeof(spec), "%s-turbo", CODEC_NAME);
	ck_assert_int_eq(coffer_codec_lookup(core, spec, &c), COFFER_ENOTFOUND);
	/* The answer to an unknown name lists what is installed. */
	ck_assert_msg(strstr(coffer_error_last()->message, CODEC_NAME) != NULL, "message: %s",
	              coffer_error_last()->message);
	ck_assert_int_eq(coffer_codec_lookup(core, "ZSTD", &c), COFFER_ENOTFOUND);
	ck_assert_int_eq(coffer_codec_lookup(core, "", &c), COFFER_EINVALID);
	ck_assert_int_eq(coffer_codec_by_id(core, 127, &c), COFFER_ENOTFOUND);

	/* The plugin refuses levels itself too, for callers that bypass the lookup. */
	coffer_codec out_of_range = lookup(core, CODEC_NAME);
	out_of_range.level = CODEC_MAX_LEVEL + 1;
	uint8_t src[16] = { 0 }, dst[1024];
	size_t len;
	if (CODEC_MIN_LEVEL != CODEC_MAX_LEVEL)
		ck_assert_int_eq(coffer_codec_compress(&out_of_range, src, sizeof(src), dst, sizeof(dst), &len),
		                 COFFER_EINVALID);
	coffer_core_free(core);
}
END_TEST

/* ------------------------------------------------------------------ round trips */

START_TEST(small_inputs_round_trip)
{
	coffer_core *core = open_core();
	int levels[16];
	size_t level_count = interesting_levels(levels);
	static const size_t sizes[] = { 0, 1, 2, 3, 17, 255, 4096, 65535, 65536, 65537, 200000 };
	uint8_t *data = malloc(200000);
	ck_assert_ptr_nonnull(data);
	for (size_t l = 0; l < level_count; l++) {
		coffer_codec codec = lookup_level(core, levels[l]);
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			fill_random(data, sizes[s], sizes[s]);
			check_round_trip(&codec, data, sizes[s], "random");
			fill_text(data, sizes[s], sizes[s]);
			check_round_trip(&codec, data, sizes[s], "text");
			fill_repetitive(data, sizes[s]);
			check_round_trip(&codec, data, sizes[s], "repetitive");
		}
	}
	free(data);
	coffer_core_free(core);
}
END_TEST

START_TEST(big_inputs_round_trip)
{
	coffer_core *core = open_core();
	int levels[16];
	size_t level_count = interesting_levels(levels);
	for (size_t l = 0; l < level_count; l++) {
		coffer_codec codec = lookup_level(core, levels[l]);
		check_round_trip(&codec, big_random, BIG_SIZE, "8 MiB random");
		check_round_trip(&codec, big_repetitive, BIG_SIZE, "8 MiB repetitive");
		check_round_trip(&codec, big_mixed, BIG_SIZE, "8 MiB mixed");
		/* The slowest levels only get the cheap inputs above. */
		if (levels[l] <= 12)
			check_round_trip(&codec, big_text, BIG_SIZE, "8 MiB text");
	}
	coffer_core_free(core);
}
END_TEST

START_TEST(compression_is_effective)
{
	coffer_core *core = open_core();
	coffer_codec codec = lookup(core, CODEC_NAME);
	size_t len;
	uint8_t *packed = compress_exact(&codec, big_repetitive, BIG_SIZE, &len);
	free(packed);
	if (CODEC_ID == COFFER_CODEC_ID_NONE)
		ck_assert_uint_eq(len, BIG_SIZE);
	else
		ck_assert_msg(len < BIG_SIZE / 100, "repetitive data only shrank to %zu bytes", len);

	packed = compress_exact(&codec, big_text, BIG_SIZE, &len);
	free(packed);
	if (CODEC_ID != COFFER_CODEC_ID_NONE)
		ck_assert_msg(len < BIG_SIZE / 2, "text-like data only shrank to %zu bytes", len);

	/* Random data cannot shrink; it must not grow beyond a stored form either. */
	packed = compress_exact(&codec, big_random, BIG_SIZE, &len);
	free(packed);
	ck_assert_msg(len <= BIG_SIZE + BIG_SIZE / 1000 + 64, "random data grew to %zu bytes", len);

	/* Half random, half text: the text half must still be compressed. */
	packed = compress_exact(&codec, big_mixed, BIG_SIZE, &len);
	free(packed);
	if (CODEC_ID != COFFER_CODEC_ID_NONE)
		ck_assert_msg(len < BIG_SIZE / 4 * 3, "mixed data only shrank to %zu bytes", len);
	coffer_core_free(core);
}
END_TEST

/* ------------------------------------------------------------------ buffer limits */

START_TEST(small_output_buffer_refused)
{
	coffer_core *core = open_core();
	coffer_codec codec = lookup(core, CODEC_NAME);
	size_t n = 100000;
	uint8_t *data = malloc(n);
	ck_assert_ptr_nonnull(data);
	fill_text(data, n, 5);
	size_t bound = coffer_codec_bound(&codec, n);
	ck_assert_uint_ge(bound, n);
	uint8_t *dst = malloc(bound);
	ck_assert_ptr_nonnull(dst);
	size_t len = 12345;
	/* The contract: cap below bound is refused up front, even if the output would fit. */
	ck_assert_int_eq(coffer_codec_compress(&codec, data, n, dst, n - 1, &len), COFFER_EINVALID);
	if (CODEC_ID != COFFER_CODEC_ID_NONE)
		ck_assert_int_eq(coffer_codec_compress(&codec, data, n, dst, bound - 1, &len), COFFER_EINVALID);
	ck_assert_coffer_ok(coffer_codec_compress(&codec, data, n, dst, bound, &len));
	free(dst);
	free(data);
	coffer_core_free(core);
}
END_TEST

START_TEST(output_larger_than_cap_refused)
{
	coffer_core *core = open_core();
	coffer_codec codec = lookup(core, CODEC_NAME);
	static const size_t sizes[] = { 1, 1000, 65536, 300000 };
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		uint8_t *data = malloc(n);
		ck_assert_ptr_nonnull(data);
		fill_text(data, n, n);
		size_t packed_len, restored_len;
		uint8_t *packed = compress_exact(&codec, data, n, &packed_len), *restored;

		ck_assert_int_eq(decompress_exact(&codec, packed, packed_len, n - 1, &restored, &restored_len),
		                 COFFER_ECORRUPT);
		ck_assert_msg(coffer_error_last()->message[0] != '\0', "no message for an oversized output");
		free(restored);
		ck_assert_int_eq(decompress_exact(&codec, packed, packed_len, 0, &restored, &restored_len),
		                 COFFER_ECORRUPT);
		free(restored);
		/* Exactly enough, and more than enough, both work. */
		ck_assert_coffer_ok(decompress_exact(&codec, packed, packed_len, n, &restored, &restored_len));
		ck_assert_uint_eq(restored_len, n);
		free(restored);
		ck_assert_coffer_ok(decompress_exact(&codec, packed, packed_len, 2 * n, &restored, &restored_len));
		ck_assert_uint_eq(restored_len, n);
		ck_assert_mem_eq(restored, data, n);
		free(restored);
		free(packed);
		free(data);
	}
	coffer_core_free(core);
}
END_TEST

/* ------------------------------------------------------------------ damaged input */

START_TEST(truncated_input_fails)
{
	if (!CODEC_CHECKS_INTEGRITY)
		return;
	coffer_core *core = open_core();
	coffer_codec codec = lookup(core, CODEC_NAME);
	size_t n, packed_len, restored_len;
	uint8_t *plain, *restored;
	uint8_t *packed = small_message(core, &n, &packed_len, &plain);
	for (size_t cut = 0; cut < packed_len; cut++) {
		/* An exact-size copy, so reading past the cut is an ASan error. */
		uint8_t *prefix = malloc(cut ? cut : 1);
		memcpy(prefix, packed, cut);
		int rc = decompress_exact(&codec, prefix, cut, n, &restored, &restored_len);
		ck_assert_msg(rc == COFFER_ECORRUPT, "a prefix of %zu of %zu bytes gave %d, not corrupt", cut,
		              packed_len, rc);
		ck_assert_msg(strstr(coffer_error_last()->message, CODEC_NAME) != NULL,
		              "message does not name the codec: %s", coffer_error_last()->message);
		free(restored);
		free(prefix);
	}
	free(packed);
	free(plain);
	coffer_core_free(core);
}
END_TEST

START_TEST(damaged_input_fails_or_is_harmless)
{
	if (!CODEC_CHECKS_INTEGRITY)
		return;
	coffer_core *core = open_core();
	coffer_codec codec = lookup(core, CODEC_NAME);
	size_t n, packed_len, restored_len;
	uint8_t *plain, *restored;
	uint8_t *packed = small_message(core, &n, &packed_len, &plain);
	size_t harmless = 0;
	for (size_t bit = 0; bit < packed_len * 8; bit++) {
		packed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = decompress_exact(&codec, packed, packed_len, n, &restored, &restored_len);
		/* Either an error, or a bit the format ignores (gzip's mtime, zstd's unused flag):
		 * never different data passed off as good. */
		if (rc == 0) {
			ck_assert_msg(restored_len == n && memcmp(restored, plain, n) == 0,
			              "flipping bit %zu gave different data without an error", bit);
			harmless++;
		} else {
			ck_assert_msg(rc == COFFER_ECORRUPT, "flipping bit %zu gave %d, not corrupt", bit, rc);
		}
		free(restored);
		packed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* Only header bits can be harmless: a few dozen at most. */
	ck_assert_uint_le(harmless, 64);
	free(packed);
	free(plain);
	coffer_core_free(core);
}
END_TEST

START_TEST(trailing_data_and_garbage_fail)
{
	if (!CODEC_CHECKS_INTEGRITY)
		return;
	coffer_core *core = open_core();
	coffer_codec codec = lookup(core, CODEC_NAME);
	size_t n, packed_len, restored_len;
	uint8_t *plain, *restored;
	uint8_t *packed = small_message(core, &n, &packed_len, &plain);

	/* Two whole members or frames back to back: exactly one is accepted. */
	uint8_t *twice = malloc(2 * packed_len);
	memcpy(twice, packed, packed_len);
	memcpy(twice + packed_len, packed, packed_len);
	ck_assert_int_eq(decompress_exact(&codec, twice, 2 * packed_len, 2 * n, &restored, &restored_len),
	                 COFFER_ECORRUPT);
	free(restored);
	/* One stray byte after the end. */
	twice[packed_len] = 0;
	ck_assert_int_eq(decompress_exact(&codec, twice, packed_len + 1, n, &restored, &restored_len),
	                 COFFER_ECORRUPT);
	free(restored);
	free(twice);

	uint8_t garbage[4096];
	fill_random(garbage, sizeof(garbage), 9);
	ck_assert_int_eq(decompress_exact(&codec, garbage, sizeof(garbage), n, &restored, &restored_len),
	                 COFFER_ECORRUPT);
	free(restored);
	memset(garbage, 0, sizeof(garbage));
	ck_assert_int_eq(decompress_exact(&codec, garbage, sizeof(garbage), n, &restored, &restored_len),
	                 COFFER_ECORRUPT);
	free(restored);
	free(packed);
	free(plain);
	coffer_core_free(core);
}
END_TEST

/* ------------------------------------------------------------------ threads */

typedef struct thread_job {
	coffer_codec codec;
	uint64_t seed;
	int failures;
	char message[256];
} thread_job;

static void *round_trips_in_thread(void *arg)
{
	thread_job *job = arg;
	size_t n = 300000;
	uint8_t *data = malloc(n), *restored = malloc(n);
	size_t bound = coffer_codec_bound(&job->codec, n);
	uint8_t *packed = malloc(bound);
	if (!data || !restored || !packed) {
		job->failures++;
		snprintf(job->message, sizeof(job->message), "out of memory");
	}
	for (int round = 0; round < 20 && !job->failures; round++) {
		if (round % 2)
			fill_text(data, n, job->seed + (uint64_t)round);
		else
			fill_mixed(data, n, job->seed + (uint64_t)round);
		size_t packed_len, restored_len;
		if (coffer_codec_compress(&job->codec, data, n, packed, bound, &packed_len) != 0 ||
		    coffer_codec_decompress(&job->codec, packed, packed_len, restored, n, &restored_len) != 0) {
			job->failures++;
			snprintf(job->message, sizeof(job->message), "%s", coffer_error_last()->message);
		} else if (restored_len != n || memcmp(restored, data, n) != 0) {
			job->failures++;
			snprintf(job->message, sizeof(job->message), "round %d came back different", round);
		}
	}
	free(data);
	free(restored);
	free(packed);
	return NULL;
}

START_TEST(threads_share_the_codec)
{
	coffer_core *core = open_core();
	enum { THREADS = 6 };
	pthread_t threads[THREADS];
	thread_job jobs[THREADS];
	int levels[16];
	size_t level_count = interesting_levels(levels);
	for (int t = 0; t < THREADS; t++) {
		memset(&jobs[t], 0, sizeof(jobs[t]));
		/* Different levels at once: each thread's cached context must follow its own. */
		jobs[t].codec = lookup_level(core, levels[(size_t)t % level_count] >= 16 ? CODEC_DEFAULT_LEVEL
		                                                                          : levels[(size_t)t % level_count]);
		jobs[t].seed = (uint64_t)t * 1000;
		ck_assert_int_eq(pthread_create(&threads[t], NULL, round_trips_in_thread, &jobs[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
		ck_assert_msg(jobs[t].failures == 0, "thread %d: %s", t, jobs[t].message);
	}
	coffer_core_free(core);
}
END_TEST

/* ------------------------------------------------------------------ the real tools */

/* What we write, the command-line tool reads; what it writes, we read. */
START_TEST(command_line_tool_interoperates)
{
	const char *const tool = CODEC_TOOL;
	if (!tool)
		return;
	if (!tool_available(tool)) {
		fprintf(stderr, "SKIP command_line_tool_interoperates: `%s` is not installed "
		                "(apt-get install %s)\n", tool, tool);
		return;
	}
	coffer_core *core = open_core();
	char *dir = test_tmpdir("codec-" CODEC_NAME);
	char packed_path[4200], plain_path[4200], cmd[9000];
	snprintf(packed_path, sizeof(packed_path), "%s/data.%s", dir, CODEC_ID == COFFER_CODEC_ID_ZSTD ? "zst" : "gz");
	snprintf(plain_path, sizeof(plain_path), "%s/data", dir);
	size_t n = 3 * 1024 * 1024 + 7;
	int levels[16];
	size_t level_count = interesting_levels(levels);
	for (size_t l = 0; l < level_count; l++) {
		coffer_codec codec = lookup_level(core, levels[l]);
		size_t packed_len, got_len;
		uint8_t *packed = compress_exact(&codec, big_mixed, n, &packed_len);
		write_file(packed_path, packed, packed_len);
		free(packed);
		snprintf(cmd, sizeof(cmd), "%s -d -q -c '%s' > '%s'", tool, packed_path, plain_path);
		ck_assert_msg(run_shell(cmd) == 0, "`%s` failed on level %d output", cmd, levels[l]);
		uint8_t *got = read_file(plain_path, &got_len);
		ck_assert_msg(got_len == n && memcmp(got, big_mixed, n) == 0,
		              "%s -d gave different data for level %d", tool, levels[l]);
		free(got);
	}

	/* The tool's own output, at its fastest and strongest settings, decodes here. */
	static const char *const tool_flags[] = { "-1", "-9", "-19", NULL };
	write_file(plain_path, big_mixed, n);
	coffer_codec codec = lookup(core, CODEC_NAME);
	for (const char *const *flag = tool_flags; *flag; flag++) {
		if (CODEC_ID == COFFER_CODEC_ID_GZIP && strcmp(*flag, "-19") == 0)
			continue;
		snprintf(cmd, sizeof(cmd), "%s %s -q -c '%s' > '%s'", tool, *flag, plain_path, packed_path);
		ck_assert_msg(run_shell(cmd) == 0, "`%s` failed", cmd);
		size_t packed_len, restored_len;
		uint8_t *packed = read_file(packed_path, &packed_len), *restored;
		int rc = decompress_exact(&codec, packed, packed_len, n, &restored, &restored_len);
		ck_assert_msg(rc == 0, "output of `%s %s` did not decode: %s", tool, *flag,
		              coffer_error_last()->message);
		ck_assert_uint_eq(restored_len, n);
		ck_assert_mem_eq(restored, big_mixed, n);
		free(restored);
		free(packed);
	}
	/* A zstd frame without a content checksum is refused: a damaged header could have
	 * dropped it, and coffer never writes one. */
	if (CODEC_ID == COFFER_CODEC_ID_ZSTD) {
		snprintf(cmd, sizeof(cmd), "%s --no-check -1 -q -c '%s' > '%s'", tool, plain_path, packed_path);
		ck_assert_msg(run_shell(cmd) == 0, "`%s` failed", cmd);
		size_t packed_len, restored_len;
		uint8_t *packed = read_file(packed_path, &packed_len), *restored;
		ck_assert_int_eq(decompress_exact(&codec, packed, packed_len, n, &restored, &restored_len),
		                 COFFER_ECORRUPT);
		ck_assert_msg(strstr(coffer_error_last()->message, "checksum") != NULL, "message: %s",
		              coffer_error_last()->message);
		free(restored);
		free(packed);
	}
	test_rmtree(dir);
	free(dir);
	coffer_core_free(core);
}
END_TEST

int main(void)
{
	if (!TEST_CODEC_BUILT) {
		fprintf(stderr, "the %s plugin was not built (see configure's summary): test skipped\n",
		        CODEC_MODULE);
		return 77;
	}
	COFFER_SET_PRELOADED_PLUGINS();
	make_big_inputs();

	Suite *s = suite_create("codec-" CODEC_NAME);
	TCase *names = tcase_create("names");
	tcase_add_test(names, plugin_is_registered);
	tcase_add_test(names, names_resolve_to_levels);
	tcase_add_test(names, bad_names_and_levels_fail);
	suite_add_tcase(s, names);

	TCase *data = tcase_create("data");
	tcase_set_timeout(data, 600);
	tcase_add_test(data, small_inputs_round_trip);
	tcase_add_test(data, big_inputs_round_trip);
	tcase_add_test(data, compression_is_effective);
	tcase_add_test(data, small_output_buffer_refused);
	tcase_add_test(data, output_larger_than_cap_refused);
	tcase_add_test(data, threads_share_the_codec);
	suite_add_tcase(s, data);

	TCase *damage = tcase_create("damage");
	tcase_set_timeout(damage, 600);
	tcase_add_test(damage, truncated_input_fails);
	tcase_add_test(damage, damaged_input_fails_or_is_harmless);
	tcase_add_test(damage, trailing_data_and_garbage_fail);
	suite_add_tcase(s, damage);

	TCase *tools = tcase_create("tools");
	tcase_set_timeout(tools, 600);
	tcase_add_test(tools, command_line_tool_interoperates);
	suite_add_tcase(s, tools);
	return test_run_suite(s);
}
