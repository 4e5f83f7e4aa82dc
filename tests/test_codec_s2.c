/* The S2 codec: the reference vectors in ../shared/testdata/s2 (decoding, rejection of bad
 * input, op counts), round trips of the encoder at every level in block and stream form,
 * the size bound, Snappy-compatible output, and the plugin through the core. */
#include "config.h"

#include <stdint.h>

#include <openssl/evp.h>

#include <coffer/codec.h>
#include <coffer/sys/codec.h>
#include <coffer/sys/preload.h>

#include "s2_format.h"
#include "testlib.h"

#ifndef TEST_CODEC_S2_BUILT
#define TEST_CODEC_S2_BUILT 0
#endif

/* ------------------------------------------------------------------ helpers */

typedef struct test_vector {
	char file[128];
	char kind[32];
	char sha256[72];
	size_t size;
	char decodes_to[128];
	char detail[1024];
} test_vector;

#define MAX_VECTORS 256
static test_vector vectors[MAX_VECTORS];
static size_t vector_count;
static char vector_dir[4096];

/* Reads a whole file into a buffer of exactly its size (so ASan sees any over-read). */
static uint8_t *read_whole_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	long size = ftell(f);
	ck_assert_int_ge(size, 0);
	ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
	uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(fread(data, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	*len = (size_t)size;
	return data;
}

static uint8_t *read_vector(const char *name, size_t *len)
{
	char path[8192];
	snprintf(path, sizeof(path), "%s/%s", vector_dir, name);
	return read_whole_file(path, len);
}

/* Loads MANIFEST.tsv; 0 when the test data is absent. */
static int load_manifest(void)
{
	const char *shared = test_shared_dir();
	if (!shared)
		return 0;
	snprintf(vector_dir, sizeof(vector_dir), "%s/testdata/s2", shared);
	char path[8192];
	snprintf(path, sizeof(path), "%s/MANIFEST.tsv", vector_dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[4096];
	if (!fgets(line, sizeof(line), f) || strncmp(line, "file\tkind\tsha256\tsize", 21) != 0) {
		fprintf(stderr, "%s: unexpected header line\n", path);
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f) && vector_count < MAX_VECTORS) {
		test_vector *v = &vectors[vector_count];
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%127[^\t]\t%31[^\t]\t%71[^\t]\t%zu\t%127[^\t]\t%1023[^\n]", v->file, v->kind,
		           v->sha256, &v->size, v->decodes_to, v->detail) >= 5)
			vector_count++;
	}
	fclose(f);
	return vector_count > 0;
}

static int kind_is(const test_vector *v, const char *prefix)
{
	return strncmp(v->kind, prefix, strlen(prefix)) == 0;
}

/* Deterministic xorshift64* generator for test data. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rng_next() >> 56);
}

/* Text-like data: words drawn from a small vocabulary, so there are many short matches. */
static void fill_words(uint8_t *p, size_t n)
{
	static const char *const words[] = { "backup ", "chunk ", "repository ", "snapshot ", "the ",
		                             "of ", "compression ", "s2 ", "block ", "stream ", "and ",
		                             "index\n", "pack ", "coffer ", "data ", "\t" };
	size_t i = 0;
	while (i < n) {
		const char *w = words[rng_next() % (sizeof(words) / sizeof(words[0]))];
		for (size_t j = 0; w[j] && i < n; j++)
			p[i++] = (uint8_t)w[j];
	}
}

/* Repetitive data with a short period and occasional changes. */
static void fill_repetitive(uint8_t *p, size_t n, size_t period)
{
	for (size_t i = 0; i < n; i++)
		p[i] = i < period ? (uint8_t)(rng_next() >> 56) : p[i - period];
	for (size_t i = 0; i < n / 1000; i++)
		p[rng_next() % n] ^= 0x55;
}

/* Counts of each kind of op in a block, read independently of the decoder. */
typedef struct op_counts {
	long literals, copy1, copy2, copy4, repeats;
	int well_formed;
} op_counts;

static op_counts count_ops(const uint8_t *b, size_t n)
{
	op_counts c = { 0, 0, 0, 0, 0, 0 };
	size_t s = 0;
	while (s < n && s < 5 && (b[s] & 0x80))
		s++;
	s++;
	while (s < n) {
		uint8_t tag = b[s];
		switch (tag & 3) {
		case 0: {
			size_t len = tag >> 2, extra = 0;
			if (len >= 60) {
				extra = len - 59;
				if (s + 1 + extra > n)
					return c;
				len = 0;
				for (size_t i = 0; i < extra; i++)
					len |= (size_t)b[s + 1 + i] << (8 * i);
			}
			s += 1 + extra + len + 1;
			c.literals++;
			break;
		}
		case 1:
			if (s + 2 > n)
				return c;
			if ((b[s] & 0xe0) == 0 && b[s + 1] == 0) {
				size_t code = (tag >> 2) & 7;
				c.repeats++;
				s += 2 + (code >= 5 ? code - 4 : 0);
			} else {
				c.copy1++;
				s += 2;
			}
			break;
		case 2:
			c.copy2++;
			s += 3;
			break;
		default:
			c.copy4++;
			s += 5;
			break;
		}
	}
	c.well_formed = s == n;
	return c;
}

/* The value after "key=" in a manifest detail, or -1. */
static long detail_value(const char *detail, const char *key)
{
	char pattern[64];
	snprintf(pattern, sizeof(pattern), "%s=", key);
	const char *p = strstr(detail, pattern);
	if (!p)
		return -1;
	/* "copy1=" must not match inside another key */
	while (p && p != detail && p[-1] != ' ' && p[-1] != ';')
		p = strstr(p + 1, pattern);
	return p ? strtol(p + strlen(pattern), NULL, 10) : -1;
}

/* Encodes at a level and mode as a block into a buffer of exactly the bound, checks the
 * size bound and the repeat codes, decodes into a buffer of exactly n, compares. */
static void check_block_round_trip(const uint8_t *data, size_t n, int level, unsigned int flags,
                                   const char *what)
{
	size_t bound = coffer_s2_block_bound(n);
	ck_assert_uint_gt(bound, n);
	uint8_t *encoded = malloc(bound);
	uint8_t *decoded = malloc(n > 0 ? n : 1);
	ck_assert_ptr_nonnull(encoded);
	ck_assert_ptr_nonnull(decoded);
	size_t encoded_len = 0, decoded_len = 0;
	int rc = coffer_s2_block_encode(level, flags, data, n, encoded, bound, &encoded_len);
	ck_assert_msg(rc == COFFER_S2_OK, "%s: level %d flags %u: encode failed: %s", what, level, flags,
	              coffer_s2_strerror(rc));
	ck_assert_uint_le(encoded_len, bound);
	op_counts ops = count_ops(encoded, encoded_len);
	ck_assert_msg(ops.well_formed, "%s: level %d: ops do not end at the block end", what, level);
	if (flags & COFFER_S2_SNAPPY_COMPATIBLE)
		ck_assert_msg(ops.repeats == 0, "%s: level %d snappy mode emitted %ld repeat codes", what,
		              level, ops.repeats);
	rc = coffer_s2_block_decode(encoded, encoded_len, decoded, n, &decoded_len);
	ck_assert_msg(rc == COFFER_S2_OK, "%s: level %d flags %u: decoding our block failed: %s", what,
	              level, flags, coffer_s2_strerror(rc));
	ck_assert_uint_eq(decoded_len, n);
	ck_assert_msg(n == 0 || memcmp(decoded, data, n) == 0, "%s: level %d flags %u: round trip differs",
	              what, level, flags);
	free(encoded);
	free(decoded);
}

/* Walks a stream's chunks and checks the identifier and the block size limit. */
static void check_stream_layout(const uint8_t *s, size_t n, unsigned int flags)
{
	const char *id = (flags & COFFER_S2_SNAPPY_COMPATIBLE) ? "sNaPpY" : "S2sTwO";
	size_t max_block = (flags & COFFER_S2_SNAPPY_COMPATIBLE) ? COFFER_S2_SNAPPY_MAX_BLOCK
	                                                         : COFFER_S2_STREAM_DEFAULT_BLOCK;
	ck_assert_uint_ge(n, 10);
	ck_assert_int_eq(s[0], 0xff);
	ck_assert_int_eq(memcmp(s + 4, id, 6), 0);
	size_t pos = 10;
	while (pos < n) {
		ck_assert_uint_ge(n - pos, 8);
		size_t len = s[pos + 1] | (size_t)s[pos + 2] << 8 | (size_t)s[pos + 3] << 16;
		ck_assert_msg(s[pos] == 0x00 || s[pos] == 0x01, "unexpected chunk type 0x%02x", s[pos]);
		ck_assert_uint_le(pos + 4 + len, n);
		size_t block_len = len - 4;
		if (s[pos] == 0x00)
			ck_assert_int_eq(coffer_s2_block_decoded_length(s + pos + 8, len - 4, &block_len), 0);
		ck_assert_uint_le(block_len, max_block);
		pos += 4 + len;
	}
}

static void check_stream_round_trip(const uint8_t *data, size_t n, int level, unsigned int flags,
                                    const char *what)
{
	size_t bound = coffer_s2_stream_bound(n, flags, 0);
	uint8_t *encoded = malloc(bound > 0 ? bound : 1);
	uint8_t *decoded = malloc(n > 0 ? n : 1);
	ck_assert_ptr_nonnull(encoded);
	ck_assert_ptr_nonnull(decoded);
	size_t encoded_len = 0, decoded_len = 0;
	int rc = coffer_s2_stream_encode(level, flags, 0, data, n, encoded, bound, &encoded_len);
	ck_assert_msg(rc == COFFER_S2_OK, "%s: level %d flags %u: stream encode failed: %s", what, level,
	              flags, coffer_s2_strerror(rc));
	ck_assert_uint_le(encoded_len, bound);
	if (n == 0)
		ck_assert_uint_eq(encoded_len, 0);
	else
		check_stream_layout(encoded, encoded_len, flags);
	rc = coffer_s2_stream_decode(encoded, encoded_len, decoded, n, &decoded_len);
	ck_assert_msg(rc == COFFER_S2_OK, "%s: level %d flags %u: decoding our stream failed: %s", what,
	              level, flags, coffer_s2_strerror(rc));
	ck_assert_uint_eq(decoded_len, n);
	ck_assert_msg(n == 0 || memcmp(decoded, data, n) == 0, "%s: stream round trip differs", what);
	free(encoded);
	free(decoded);
}

static void check_all_round_trips(const uint8_t *data, size_t n, const char *what)
{
	for (int level = COFFER_S2_LEVEL_MIN; level <= COFFER_S2_LEVEL_MAX; level++) {
		for (unsigned int flags = 0; flags <= COFFER_S2_SNAPPY_COMPATIBLE; flags++) {
			check_block_round_trip(data, n, level, flags, what);
			check_stream_round_trip(data, n, level, flags, what);
		}
	}
}

/* ------------------------------------------------------------------ reference vectors */

START_TEST(manifest_files_intact)
{
	size_t raws = 0, blocks = 0, streams = 0, bad = 0;
	for (size_t i = 0; i < vector_count; i++) {
		const test_vector *v = &vectors[i];
		size_t len;
		uint8_t *data = read_vector(v->file, &len);
		ck_assert_msg(len == v->size, "%s: %zu bytes, manifest says %zu", v->file, len, v->size);
		unsigned char digest[EVP_MAX_MD_SIZE];
		unsigned int digest_len = 0;
		ck_assert_int_eq(EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL), 1);
		char hex[2 * EVP_MAX_MD_SIZE + 1];
		for (unsigned int j = 0; j < digest_len; j++)
			snprintf(hex + 2 * j, 3, "%02x", digest[j]);
		ck_assert_msg(strcmp(hex, v->sha256) == 0, "%s: sha256 %s, manifest says %s", v->file, hex,
		              v->sha256);
		free(data);
		raws += strcmp(v->kind, "raw") == 0;
		blocks += kind_is(v, "block-");
		streams += kind_is(v, "stream-");
		bad += kind_is(v, "bad-");
	}
	/* A truncated manifest must not pass quietly. */
	ck_assert_uint_ge(raws, 11);
	ck_assert_uint_ge(blocks, 44);
	ck_assert_uint_ge(streams, 22);
	ck_assert_uint_ge(bad, 20);
}
END_TEST

START_TEST(block_vectors_decode)
{
	size_t checked = 0;
	for (size_t i = 0; i < vector_count; i++) {
		const test_vector *v = &vectors[i];
		if (!kind_is(v, "block-"))
			continue;
		size_t len, raw_len, declared = 0, out_len = 0;
		uint8_t *block = read_vector(v->file, &len);
		uint8_t *raw = read_vector(v->decodes_to, &raw_len);
		uint8_t *out = malloc(raw_len > 0 ? raw_len : 1);
		ck_assert_int_eq(coffer_s2_block_decoded_length(block, len, &declared), 0);
		ck_assert_uint_eq(declared, raw_len);
		int rc = coffer_s2_block_decode(block, len, out, raw_len, &out_len);
		ck_assert_msg(rc == 0, "%s: %s", v->file, coffer_s2_strerror(rc));
		ck_assert_uint_eq(out_len, raw_len);
		ck_assert_msg(raw_len == 0 || memcmp(out, raw, raw_len) == 0, "%s differs from %s", v->file,
		              v->decodes_to);
		if (raw_len > 0) {
			rc = coffer_s2_block_decode(block, len, out, raw_len - 1, &out_len);
			ck_assert_int_eq(rc, COFFER_S2_ETOOLARGE);
			ck_assert_uint_eq(out_len, 0);
		}
		free(block);
		free(raw);
		free(out);
		checked++;
	}
	ck_assert_uint_ge(checked, 44);
}
END_TEST

/* Our independent op walker agrees with the counts the reference tooling recorded; this
 * also proves the Snappy-mode vectors carry no repeat codes. */
START_TEST(block_vector_op_counts)
{
	for (size_t i = 0; i < vector_count; i++) {
		const test_vector *v = &vectors[i];
		if (!kind_is(v, "block-"))
			continue;
		size_t len;
		uint8_t *block = read_vector(v->file, &len);
		op_counts c = count_ops(block, len);
		ck_assert_msg(c.well_formed, "%s: ops do not end at the block end", v->file);
		ck_assert_msg(c.literals == detail_value(v->detail, "literals"), "%s: %ld literals", v->file,
		              c.literals);
		ck_assert_msg(c.copy1 == detail_value(v->detail, "copy1"), "%s: %ld copy1", v->file, c.copy1);
		ck_assert_msg(c.copy2 == detail_value(v->detail, "copy2"), "%s: %ld copy2", v->file, c.copy2);
		ck_assert_msg(c.copy4 == detail_value(v->detail, "copy4"), "%s: %ld copy4", v->file, c.copy4);
		ck_assert_msg(c.repeats == detail_value(v->detail, "repeats"), "%s: %ld repeats", v->file,
		              c.repeats);
		if (strcmp(v->kind, "block-snappy") == 0)
			ck_assert_int_eq(c.repeats, 0);
		free(block);
	}
}
END_TEST

START_TEST(stream_vectors_decode)
{
	size_t checked = 0;
	for (size_t i = 0; i < vector_count; i++) {
		const test_vector *v = &vectors[i];
		if (!kind_is(v, "stream-"))
			continue;
		size_t len, raw_len, out_len = 0;
		uint8_t *stream = read_vector(v->file, &len);
		uint8_t *raw = read_vector(v->decodes_to, &raw_len);
		uint8_t *out = malloc(raw_len > 0 ? raw_len : 1);
		int rc = coffer_s2_stream_decode(stream, len, out, raw_len, &out_len);
		ck_assert_msg(rc == 0, "%s: %s", v->file, coffer_s2_strerror(rc));
		ck_assert_uint_eq(out_len, raw_len);
		ck_assert_msg(raw_len == 0 || memcmp(out, raw, raw_len) == 0, "%s differs from %s", v->file,
		              v->decodes_to);
		if (raw_len > 0)
			ck_assert_int_eq(coffer_s2_stream_decode(stream, len, out, raw_len - 1, &out_len),
			                 COFFER_S2_ETOOLARGE);
		free(stream);
		free(raw);
		free(out);
		checked++;
	}
	ck_assert_uint_ge(checked, 22);
}
END_TEST

START_TEST(bad_vectors_rejected)
{
	/* Room for anything the bad inputs declare up to the 16 MiB one: only the format
	 * rules may reject them, not a small buffer. */
	size_t cap = (size_t)17 << 20;
	uint8_t *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	size_t checked = 0;
	for (size_t i = 0; i < vector_count; i++) {
		const test_vector *v = &vectors[i];
		if (!kind_is(v, "bad-"))
			continue;
		size_t len, out_len = 12345;
		uint8_t *input = read_vector(v->file, &len);
		int rc;
		if (strcmp(v->kind, "bad-block") == 0)
			rc = coffer_s2_block_decode(input, len, out, cap, &out_len);
		else
			rc = coffer_s2_stream_decode(input, len, out, cap, &out_len);
		ck_assert_msg(rc < 0, "%s was accepted (%s)", v->file, v->detail);
		ck_assert_msg(out_len == 0, "%s: failed but reported %zu bytes", v->file, out_len);
		if (strstr(v->detail, "crc mismatch"))
			ck_assert_int_eq(rc, COFFER_S2_ECRC);
		else if (strstr(v->detail, "unsupported input"))
			ck_assert_int_eq(rc, COFFER_S2_EUNSUPPORTED);
		else
			ck_assert_msg(rc == COFFER_S2_ECORRUPT, "%s: %s", v->file, coffer_s2_strerror(rc));
		free(input);
		checked++;
	}
	free(out);
	ck_assert_uint_ge(checked, 20);
}
END_TEST

/* Every strict prefix of a valid block is invalid: the ops fall short of the length. */
START_TEST(block_prefixes_rejected)
{
	for (size_t i = 0; i < vector_count; i++) {
		const test_vector *v = &vectors[i];
		if (!kind_is(v, "block-"))
			continue;
		size_t len, raw_len, out_len;
		uint8_t *block = read_vector(v->file, &len);
		uint8_t *raw = read_vector(v->decodes_to, &raw_len);
		uint8_t *out = malloc(raw_len > 0 ? raw_len : 1);
		size_t step = len > 4096 ? len / 257 : 1;
		for (size_t cut = 0; cut < len; cut += step) {
			uint8_t *prefix = malloc(cut > 0 ? cut : 1);
			memcpy(prefix, block, cut);
			ck_assert_msg(coffer_s2_block_decode(prefix, cut, out, raw_len, &out_len) < 0,
			              "%s cut to %zu bytes was accepted", v->file, cut);
			free(prefix);
		}
		free(block);
		free(raw);
		free(out);
	}
}
END_TEST

/* Damaged blocks never crash or overrun (ASan watches): they fail, or decode to exactly
 * their declared length. */
START_TEST(damaged_blocks_are_safe)
{
	rng_state = 0x5eed5eed;
	for (size_t i = 0; i < vector_count; i++) {
		const test_vector *v = &vectors[i];
		if (!kind_is(v, "block-") && !kind_is(v, "stream-"))
			continue;
		size_t len, raw_len;
		uint8_t *input = read_vector(v->file, &len);
		uint8_t *raw = read_vector(v->decodes_to, &raw_len);
		if (len == 0 || len > 200000) {
			free(input);
			free(raw);
			continue;
		}
		size_t cap = raw_len + 64;
		uint8_t *out = malloc(cap);
		for (int round = 0; round < 40; round++) {
			uint8_t *copy = malloc(len);
			memcpy(copy, input, len);
			int flips = 1 + (int)(rng_next() % 4);
			for (int f = 0; f < flips; f++)
				copy[rng_next() % len] ^= (uint8_t)(1u << (rng_next() % 8));
			size_t out_len = 0, declared = 0;
			int rc;
			if (kind_is(v, "block-")) {
				rc = coffer_s2_block_decode(copy, len, out, cap, &out_len);
				if (rc == 0) {
					rc = coffer_s2_block_decoded_length(copy, len, &declared);
					ck_assert_int_eq(rc, 0);
					ck_assert_uint_eq(out_len, declared);
				}
			} else {
				rc = coffer_s2_stream_decode(copy, len, out, cap, &out_len);
			}
			if (rc != 0)
				ck_assert_uint_eq(out_len, 0);
			free(copy);
		}
		free(out);
		free(input);
		free(raw);
	}
}
END_TEST

START_TEST(raw_vectors_round_trip)
{
	size_t checked = 0;
	for (size_t i = 0; i < vector_count; i++) {
		const test_vector *v = &vectors[i];
		if (strcmp(v->kind, "raw") != 0 || strncmp(v->file, "crafted-", 8) == 0)
			continue;
		size_t len;
		uint8_t *raw = read_vector(v->file, &len);
		check_all_round_trips(raw, len, v->file);
		free(raw);
		checked++;
	}
	ck_assert_uint_ge(checked, 11);
}
END_TEST

/* Our encoder finds what the reference's better level finds in longdist700k: one match
 * 512000 bytes back covering the repeated 200 KiB. */
START_TEST(long_distance_match_found)
{
	size_t len;
	uint8_t *raw = read_vector("longdist700k.raw", &len);
	size_t bound = coffer_s2_block_bound(len), out_len;
	uint8_t *encoded = malloc(bound);
	for (int level = COFFER_S2_LEVEL_BETTER; level <= COFFER_S2_LEVEL_MAX; level++) {
		ck_assert_int_eq(coffer_s2_block_encode(level, 0, raw, len, encoded, bound, &out_len), 0);
		ck_assert_msg(out_len < 512100, "level %d: %zu bytes", level, out_len);
	}
	free(encoded);
	free(raw);
}
END_TEST

/* ------------------------------------------------------------------ generated data */

START_TEST(crc32c_known_values)
{
	/* RFC 3720 appendix B.4 and the usual check value. */
	uint8_t buf[32];
	ck_assert_uint_eq(coffer_s2_crc32c(0, "123456789", 9), 0xe3069283u);
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(coffer_s2_crc32c(0, buf, sizeof(buf)), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(coffer_s2_crc32c(0, buf, sizeof(buf)), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(coffer_s2_crc32c(0, buf, sizeof(buf)), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(coffer_s2_crc32c(0, buf, sizeof(buf)), 0x113fdb5cu);
	/* Continuing a CRC equals computing it at once, at every split and alignment. */
	uint8_t data[100];
	rng_state = 99;
	fill_random(data, sizeof(data));
	for (size_t start = 0; start < 8; start++) {
		uint32_t whole = coffer_s2_crc32c(0, data + start, sizeof(data) - start);
		for (size_t split = start; split <= sizeof(data); split++) {
			uint32_t part = coffer_s2_crc32c(0, data + start, split - start);
			part = coffer_s2_crc32c(part, data + split, sizeof(data) - split);
			ck_assert_uint_eq(part, whole);
		}
	}
	/* The masked form of the empty string, as in the stream vectors' empty chunks. */
	ck_assert_uint_eq(coffer_s2_masked_crc("", 0), 0xa282ead8u);
}
END_TEST

START_TEST(small_inputs_round_trip)
{
	uint8_t data[300];
	char what[64];
	rng_state = 12345;
	for (size_t n = 0; n <= 80; n++) {
		fill_random(data, n);
		snprintf(what, sizeof(what), "random %zu", n);
		check_all_round_trips(data, n, what);
		memset(data, 'x', n);
		snprintf(what, sizeof(what), "constant %zu", n);
		check_all_round_trips(data, n, what);
		fill_repetitive(data, n, 3);
		snprintf(what, sizeof(what), "period 3, %zu", n);
		check_all_round_trips(data, n, what);
	}
	fill_words(data, sizeof(data));
	check_all_round_trips(data, sizeof(data), "words 300");
	static const uint8_t one = 'A';
	check_all_round_trips(&one, 1, "one byte");
	check_all_round_trips(NULL, 0, "empty");
}
END_TEST

START_TEST(boundary_sizes_round_trip)
{
	/* Sizes around the literal header forms and the stream block limits. */
	static const size_t sizes[] = { 60, 61, 255, 256, 257, 65535, 65536, 65537, 100000,
		                        (1 << 20) - 1, (1 << 20), (1 << 20) + 1 };
	char what[64];
	rng_state = 777;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		uint8_t *data = malloc(n);
		fill_words(data, n);
		snprintf(what, sizeof(what), "words %zu", n);
		check_all_round_trips(data, n, what);
		fill_random(data, n);
		snprintf(what, sizeof(what), "random %zu", n);
		check_block_round_trip(data, n, COFFER_S2_LEVEL_FAST, 0, what);
		check_stream_round_trip(data, n, COFFER_S2_LEVEL_FAST, 0, what);
		free(data);
	}
}
END_TEST

START_TEST(large_inputs_round_trip)
{
	size_t n = ((size_t)8 << 20) + 12345;
	uint8_t *data = malloc(n);
	rng_state = 42;
	fill_random(data, n);
	check_all_round_trips(data, n, "random 8 MiB");
	fill_repetitive(data, n, 1000);
	check_all_round_trips(data, n, "repetitive 8 MiB");
	/* Mixed: text, zeros and random segments, so matches span all offset sizes. */
	for (size_t pos = 0; pos < n;) {
		size_t seg = 1 + rng_next() % 70000;
		if (seg > n - pos)
			seg = n - pos;
		uint64_t pick = rng_next() % 10;
		if (pick < 6)
			fill_words(data + pos, seg);
		else if (pick < 9)
			memset(data + pos, 0, seg);
		else
			fill_random(data + pos, seg);
		pos += seg;
	}
	check_all_round_trips(data, n, "mixed 8 MiB");
	/* A copy of the first MiB near the end: an offset above 4 MiB, copy4 territory. */
	memcpy(data + n - (1 << 20), data, 1 << 20);
	check_block_round_trip(data, n, COFFER_S2_LEVEL_BETTER, 0, "far copy");
	free(data);
}
END_TEST

START_TEST(compression_is_effective)
{
	/* Not a fixed expected size: just sanity that each level compresses, in order. */
	size_t n = 1 << 20;
	uint8_t *data = malloc(n);
	rng_state = 2024;
	fill_words(data, n);
	size_t bound = coffer_s2_block_bound(n), sizes[4] = { 0 };
	uint8_t *encoded = malloc(bound);
	for (int level = COFFER_S2_LEVEL_MIN; level <= COFFER_S2_LEVEL_MAX; level++)
		ck_assert_int_eq(coffer_s2_block_encode(level, 0, data, n, encoded, bound, &sizes[level]), 0);
	ck_assert_uint_lt(sizes[1], n / 2);
	ck_assert_uint_le(sizes[2], sizes[1]);
	ck_assert_uint_le(sizes[3], sizes[2]);
	/* Zeros shrink to a few bytes with repeat codes, and far less without them. */
	memset(data, 0, n);
	size_t s2_len, snappy_len;
	ck_assert_int_eq(coffer_s2_block_encode(1, 0, data, n, encoded, bound, &s2_len), 0);
	ck_assert_int_eq(coffer_s2_block_encode(1, COFFER_S2_SNAPPY_COMPATIBLE, data, n, encoded, bound,
	                                        &snappy_len), 0);
	ck_assert_uint_lt(s2_len, 32);
	ck_assert_uint_gt(snappy_len, n / 64);
	free(encoded);
	free(data);
}
END_TEST

START_TEST(small_capacity_never_overruns)
{
	size_t n = 5000;
	uint8_t *data = malloc(n);
	rng_state = 31337;
	fill_words(data, n);
	memset(data + 2000, 0, 1000);
	size_t full = 0, bound = coffer_s2_block_bound(n);
	uint8_t *tmp = malloc(bound);
	ck_assert_int_eq(coffer_s2_block_encode(2, 0, data, n, tmp, bound, &full), 0);
	free(tmp);
	for (size_t cap = 0; cap <= bound; cap += (cap < 50 ? 1 : 97)) {
		uint8_t *out = malloc(cap > 0 ? cap : 1);
		size_t out_len = 99;
		int rc = coffer_s2_block_encode(2, 0, data, n, out, cap, &out_len);
		if (rc == 0) {
			/* The same ops as with room to spare, or the whole input as one literal. */
			ck_assert_uint_le(out_len, cap);
			ck_assert(out_len == full || out_len == bound);
			size_t dl;
			uint8_t *back = malloc(n);
			ck_assert_int_eq(coffer_s2_block_decode(out, out_len, back, n, &dl), 0);
			ck_assert_int_eq(memcmp(back, data, n), 0);
			free(back);
		} else {
			/* Only a buffer below the bound may be too small. */
			ck_assert_int_eq(rc, COFFER_S2_ETOOLARGE);
			ck_assert_uint_lt(cap, bound);
		}
		free(out);
	}
	/* Stream encoding into less than its bound fails cleanly too. */
	size_t sbound = coffer_s2_stream_bound(n, 0, 1024);
	for (size_t cap = 0; cap < sbound; cap += 211) {
		uint8_t *out = malloc(cap > 0 ? cap : 1);
		size_t out_len;
		int rc = coffer_s2_stream_encode(1, 0, 1024, data, n, out, cap, &out_len);
		ck_assert(rc == 0 || rc == COFFER_S2_ETOOLARGE);
		free(out);
	}
	free(data);
}
END_TEST

START_TEST(invalid_arguments_refused)
{
	uint8_t in[32] = { 0 }, out[64];
	size_t len;
	ck_assert_int_eq(coffer_s2_block_encode(0, 0, in, sizeof(in), out, sizeof(out), &len),
	                 COFFER_S2_EINVALID);
	ck_assert_int_eq(coffer_s2_block_encode(4, 0, in, sizeof(in), out, sizeof(out), &len),
	                 COFFER_S2_EINVALID);
	ck_assert_int_eq(coffer_s2_block_encode(1, 0x80, in, sizeof(in), out, sizeof(out), &len),
	                 COFFER_S2_EINVALID);
	ck_assert_int_eq(coffer_s2_stream_encode(1, COFFER_S2_SNAPPY_COMPATIBLE, 65537, in, sizeof(in),
	                                         out, sizeof(out), &len),
	                 COFFER_S2_EINVALID);
	ck_assert_int_eq(coffer_s2_stream_encode(1, 0, COFFER_S2_STREAM_MAX_BLOCK + 1, in, sizeof(in),
	                                         out, sizeof(out), &len),
	                 COFFER_S2_EINVALID);
#if SIZE_MAX > 0xffffffffu
	ck_assert_uint_eq(coffer_s2_block_bound((size_t)1 << 32), 0);
#endif
	ck_assert_uint_eq(coffer_s2_block_bound(0xffffffffu), (size_t)0xffffffffu + 5 + 5);
	ck_assert_uint_eq(coffer_s2_block_bound(0), 1);
}
END_TEST

/* Streams: concatenation, padding and skippable chunks, and a skippable chunk before the
 * identifier (rejected, as by the reference). */
START_TEST(stream_chunk_handling)
{
	uint8_t a[3000], b[70000];
	rng_state = 5;
	fill_words(a, sizeof(a));
	fill_words(b, sizeof(b));
	size_t cap = 200000, la, lb, out_len;
	uint8_t *sa = malloc(cap), *sb = malloc(cap), *joined = malloc(2 * cap + 64);
	uint8_t *out = malloc(sizeof(a) + sizeof(b));
	ck_assert_int_eq(coffer_s2_stream_encode(1, 0, 0, a, sizeof(a), sa, cap, &la), 0);
	ck_assert_int_eq(coffer_s2_stream_encode(2, COFFER_S2_SNAPPY_COMPATIBLE, 0, b, sizeof(b), sb, cap,
	                                         &lb), 0);
	/* a's stream, a padding chunk, an index-like 0x99 chunk, then b's stream. */
	size_t pos = 0;
	memcpy(joined, sa, la);
	pos += la;
	static const uint8_t padding[] = { 0xfe, 3, 0, 0, 0, 0, 0 };
	static const uint8_t index_chunk[] = { 0x99, 2, 0, 0, 'x', 'y' };
	memcpy(joined + pos, padding, sizeof(padding));
	pos += sizeof(padding);
	memcpy(joined + pos, index_chunk, sizeof(index_chunk));
	pos += sizeof(index_chunk);
	memcpy(joined + pos, sb, lb);
	pos += lb;
	ck_assert_int_eq(coffer_s2_stream_decode(joined, pos, out, sizeof(a) + sizeof(b), &out_len), 0);
	ck_assert_uint_eq(out_len, sizeof(a) + sizeof(b));
	ck_assert_int_eq(memcmp(out, a, sizeof(a)), 0);
	ck_assert_int_eq(memcmp(out + sizeof(a), b, sizeof(b)), 0);
	/* Skippable chunk first: no identifier yet. */
	memcpy(joined, padding, sizeof(padding));
	memcpy(joined + sizeof(padding), sa, la);
	ck_assert_int_eq(coffer_s2_stream_decode(joined, sizeof(padding) + la, out, sizeof(a), &out_len),
	                 COFFER_S2_ECORRUPT);
	/* A stream cut at a chunk boundary is a valid shorter stream; cut inside one, not. */
	ck_assert_int_eq(coffer_s2_stream_decode(sa, 10, out, sizeof(a), &out_len), 0);
	ck_assert_uint_eq(out_len, 0);
	ck_assert_int_eq(coffer_s2_stream_decode(sa, la - 1, out, sizeof(a), &out_len), COFFER_S2_ECORRUPT);
	free(sa);
	free(sb);
	free(joined);
	free(out);
}
END_TEST

/* ------------------------------------------------------------------ through the core */

static coffer_core *preloaded_core(void)
{
	coffer_core_options opts = COFFER_CORE_OPTIONS_INIT;
	opts.plugin_path = "";
	opts.no_default_path = 1;
	coffer_core *core = NULL;
	ck_assert_coffer_ok(coffer_core_new(&core, &opts));
	return core;
}

START_TEST(codec_through_core)
{
	coffer_core *core = preloaded_core();
	coffer_codec codec;
	ck_assert_coffer_ok(coffer_codec_lookup(core, "s2", &codec));
	ck_assert_str_eq(codec.name, "s2");
	ck_assert_uint_eq(codec.vt->id, COFFER_CODEC_ID_S2);
	ck_assert_int_eq(codec.level, COFFER_S2_LEVEL_FAST);

	static const struct {
		const char *spec;
		int level;
	} names[] = { { "s2-default", 1 }, { "s2-better", 2 }, { "s2-best", 3 }, { "s2-parallel-4", 1 },
		      { "s2-parallel-8", 1 }, { "s2:2", 2 }, { "s2:3", 3 } };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		coffer_codec c;
		ck_assert_coffer_ok(coffer_codec_lookup(core, names[i].spec, &c));
		ck_assert_int_eq(c.level, names[i].level);
		ck_assert_str_eq(c.name, "s2");
	}
	coffer_codec bad;
	ck_assert_int_eq(coffer_codec_lookup(core, "s2:4", &bad), COFFER_EINVALID);
	ck_assert_int_eq(coffer_codec_lookup(core, "s2:0", &bad), COFFER_EINVALID);

	coffer_codec by_id;
	ck_assert_coffer_ok(coffer_codec_by_id(core, COFFER_CODEC_ID_S2, &by_id));
	ck_assert_ptr_eq(by_id.vt, codec.vt);

	/* Round trip at each level through the core's calls. */
	size_t n = 300000;
	uint8_t *data = malloc(n);
	rng_state = 8;
	fill_words(data, n);
	for (int level = 1; level <= 3; level++) {
		coffer_codec c = codec;
		c.level = level;
		size_t bound = coffer_codec_bound(&c, n), len, back_len;
		ck_assert_uint_eq(bound, coffer_s2_block_bound(n));
		uint8_t *packed = malloc(bound), *back = malloc(n);
		ck_assert_coffer_ok(coffer_codec_compress(&c, data, n, packed, bound, &len));
		ck_assert_uint_lt(len, n / 2);
		ck_assert_coffer_ok(coffer_codec_decompress(&c, packed, len, back, n, &back_len));
		ck_assert_uint_eq(back_len, n);
		ck_assert_int_eq(memcmp(back, data, n), 0);
		/* A buffer below the bound is refused, not overrun. */
		ck_assert_int_eq(coffer_codec_compress(&c, data, n, packed, bound - 1, &len),
		                 COFFER_EINVALID);
		/* Less room than the block declares, and damage, are corruption. */
		ck_assert_int_eq(coffer_codec_decompress(&c, packed, len, back, n - 1, &back_len),
		                 COFFER_ECORRUPT);
		ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "s2:"));
		ck_assert_int_eq(coffer_codec_decompress(&c, packed, len - 1, back, n, &back_len),
		                 COFFER_ECORRUPT);
		ck_assert_int_eq(coffer_codec_decompress(&c, packed, 0, back, n, &back_len), COFFER_ECORRUPT);
		free(packed);
		free(back);
	}
	coffer_codec out_of_range = codec;
	out_of_range.level = 9;
	size_t len;
	uint8_t small[64];
	ck_assert_int_eq(coffer_codec_compress(&out_of_range, "abc", 3, small, sizeof(small), &len),
	                 COFFER_EINVALID);

	/* The reference's blocks decode through the plugin too. */
	if (vector_count > 0) {
		size_t block_len, raw_len, out_len;
		uint8_t *block = read_vector("mix4m.s2block.better", &block_len);
		uint8_t *raw = read_vector("mix4m.raw", &raw_len);
		uint8_t *out = malloc(raw_len);
		ck_assert_coffer_ok(
		        coffer_codec_decompress(&codec, block, block_len, out, raw_len, &out_len));
		ck_assert_uint_eq(out_len, raw_len);
		ck_assert_int_eq(memcmp(out, raw, raw_len), 0);
		free(block);
		free(raw);
		free(out);
	}
	free(data);
	coffer_core_free(core);
}
END_TEST

int main(void)
{
	if (!TEST_CODEC_S2_BUILT) {
		fprintf(stderr, "the codec-s2 plugin was not built (see configure's summary): test "
		                "skipped\n");
		return 77;
	}
	COFFER_SET_PRELOADED_PLUGINS();
	int have_vectors = load_manifest();
	Suite *s = suite_create("codec-s2");

	TCase *generated = tcase_create("generated");
	tcase_set_timeout(generated, 600);
	tcase_add_test(generated, crc32c_known_values);
	tcase_add_test(generated, small_inputs_round_trip);
	tcase_add_test(generated, boundary_sizes_round_trip);
	tcase_add_test(generated, large_inputs_round_trip);
	tcase_add_test(generated, compression_is_effective);
	tcase_add_test(generated, small_capacity_never_overruns);
	tcase_add_test(generated, invalid_arguments_refused);
	tcase_add_test(generated, stream_chunk_handling);
	tcase_add_test(generated, codec_through_core);
	suite_add_tcase(s, generated);

	if (have_vectors) {
		TCase *reference = tcase_create("reference-vectors");
		tcase_set_timeout(reference, 600);
		tcase_add_test(reference, manifest_files_intact);
		tcase_add_test(reference, block_vectors_decode);
		tcase_add_test(reference, block_vector_op_counts);
		tcase_add_test(reference, stream_vectors_decode);
		tcase_add_test(reference, bad_vectors_rejected);
		tcase_add_test(reference, block_prefixes_rejected);
		tcase_add_test(reference, damaged_blocks_are_safe);
		tcase_add_test(reference, raw_vectors_round_trip);
		tcase_add_test(reference, long_distance_match_found);
		suite_add_tcase(s, reference);
	}
	int status = test_run_suite(s);
	if (status == EXIT_SUCCESS && !have_vectors) {
		/* The generated-data tests passed, but the vectors were not checked: report skip. */
		fprintf(stderr, "testdata/s2 not found (COFFER_SHARED_DIR): reference vector tests "
		                "skipped\n");
		return 77;
	}
	return status;
}
