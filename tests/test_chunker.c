/* Content-defined chunker: pinned format vectors (computed by an independent Python model of
 * the definition in docs/FORMAT.md), agreement with a plain byte-at-a-time reference, streaming
 * in arbitrary pieces, size bounds, shift resistance, keyed boundaries, parameter checks. */
#include "config.h"

#include <openssl/evp.h>

#include "testlib.h"
#include "../core/src/chunker.h"

/* xorshift64*, bytes little-endian: the same generator as the Python model. */
static void xorshift_fill(uint8_t *out, size_t len, uint64_t state)
{
	size_t i = 0;

	while (i < len) {
		uint64_t v;
		int b;

		state ^= state >> 12;
		state ^= state << 25;
		state ^= state >> 27;
		v = state * UINT64_C(2685821657736338717);
		for (b = 0; b < 8 && i < len; b++, i++)
			out[i] = (uint8_t)(v >> (8 * b));
	}
}

static uint8_t *random_data(size_t len, uint64_t seed)
{
	uint8_t *data = malloc(len);

	ck_assert_ptr_nonnull(data);
	xorshift_fill(data, len, seed);
	return data;
}

/* Chunk end offsets of a whole file, collected from the streaming interface fed in pieces of
 * at most `piece` bytes (0: one buffer). Sizes vary when pieces_seed is nonzero. */
typedef struct cut_list {
	size_t *ends;
	size_t count;
} cut_list;

static cut_list chunk_file(coffer_chunker *chunker, const uint8_t *data, size_t len, size_t piece,
                           uint64_t pieces_seed)
{
	cut_list list = { malloc(sizeof(size_t) * (len / COFFER_CHUNKER_MIN_SIZE_LIMIT + 2)), 0 };
	size_t offset = 0;
	uint64_t rng = pieces_seed;

	ck_assert_ptr_nonnull(list.ends);
	coffer_chunker_reset(chunker);
	ck_assert_uint_eq(coffer_chunker_pending(chunker), 0);
	while (offset < len) {
		size_t block = len - offset;

		if (piece > 0) {
			size_t want = piece;

			if (pieces_seed != 0) {
				rng = rng * UINT64_C(6364136223846793005) + 1442695040888963407u;
				want = 1 + (size_t)(rng >> 33) % piece;
			}
			if (want < block)
				block = want;
		}
		/* Hand the piece over like a reader would: consume it fully, cut by cut. The
		 * contract is checked without ck_assert here: Check reports every assertion to its
		 * parent process, far too slow for one call per byte. */
		while (block > 0) {
			int cut = -1;
			size_t pending_before = coffer_chunker_pending(chunker);
			size_t n = coffer_chunker_next(chunker, data + offset, block, &cut);

			if ((cut != 0 && cut != 1) || n == 0 || n > block || (!cut && n != block) ||
			    coffer_chunker_pending(chunker) != (cut ? 0 : pending_before + n))
				ck_abort_msg("chunker_next broke its contract at offset %zu (n %zu of %zu, cut %d)", offset,
				             n, block, cut);
			offset += n;
			block -= n;
			if (cut)
				list.ends[list.count++] = offset;
		}
	}
	/* What is left is the file's last chunk, shorter than a full one. */
	if (coffer_chunker_pending(chunker) > 0) {
		ck_assert_uint_eq(coffer_chunker_pending(chunker), len - (list.count ? list.ends[list.count - 1] : 0));
		list.ends[list.count++] = len;
	}
	return list;
}

static void assert_same_cuts(const cut_list *a, const cut_list *b, const char *what)
{
	size_t i;

	ck_assert_msg(a->count == b->count, "%s: %zu chunks vs %zu", what, a->count, b->count);
	for (i = 0; i < a->count && a->ends[i] == b->ends[i]; i++)
		;
	if (i < a->count)
		ck_abort_msg("%s: chunk %zu ends at %zu vs %zu", what, i, a->ends[i], b->ends[i]);
}

/* The definition, byte at a time over a whole buffer, with the table and masks derived here
 * from the specification rather than taken from the chunker. */
static cut_list reference_cuts(const coffer_chunker_params *params, const uint8_t seed[32], const uint8_t *data,
                               size_t len)
{
	static const char label[] = "coffer chunker gear table v1";
	cut_list list = { malloc(sizeof(size_t) * (len / COFFER_CHUNKER_MIN_SIZE_LIMIT + 2)), 0 };
	uint64_t gear[256], strict, loose;
	uint8_t input[32 + sizeof(label) - 1 + 4], digest[32];
	unsigned bits = 0, k, w, b;
	size_t start = 0;

	ck_assert_ptr_nonnull(list.ends);
	memcpy(input, seed, 32);
	memcpy(input + 32, label, sizeof(label) - 1);
	for (k = 0; k < 64; k++) {
		input[sizeof(input) - 4] = (uint8_t)k;
		input[sizeof(input) - 3] = input[sizeof(input) - 2] = input[sizeof(input) - 1] = 0;
		ck_assert_int_eq(EVP_Digest(input, sizeof(input), digest, NULL, EVP_sha256(), NULL), 1);
		for (w = 0; w < 4; w++) {
			gear[k * 4 + w] = 0;
			for (b = 0; b < 8; b++)
				gear[k * 4 + w] |= (uint64_t)digest[w * 8 + b] << (8 * b);
		}
	}
	while ((1u << bits) < params->avg_size)
		bits++;
	strict = ((UINT64_C(1) << (bits + params->normalization)) - 1) << (63 - bits - params->normalization);
	loose = ((UINT64_C(1) << (bits - params->normalization)) - 1) << (63 - bits + params->normalization);
	while (start < len) {
		size_t remaining = len - start, limit, i, end;
		uint64_t hash = 0;

		if (remaining <= params->min_size) {
			list.ends[list.count++] = len;
			break;
		}
		limit = remaining < params->max_size ? remaining : params->max_size;
		end = start + limit;
		for (i = params->min_size; i < limit; i++) {
			hash = (hash << 1) + gear[data[start + i]];
			if ((hash & (i < params->avg_size ? strict : loose)) == 0) {
				end = start + i + 1;
				break;
			}
		}
		list.ends[list.count++] = end;
		start = end;
	}
	return list;
}

static const uint8_t test_seed[32] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                       16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };

START_TEST(pinned_format_vectors)
{
	/* Values from an independent Python model of the definition (docs/FORMAT.md); if these
	 * change, every existing repository's dedup against new backups breaks. */
	static const size_t first_ends[12] = { 10142, 13832, 19262, 33553, 43610, 55861,
	                                       63680, 70332, 78676, 87604, 97907, 106952 };
	static const size_t last_ends[3] = { 1031786, 1039081, 1048576 };
	const coffer_chunker_params params = { 2048, 8192, 32768, 2 };
	const coffer_chunker_params params_nc1 = { 2048, 8192, 32768, 1 };
	const uint8_t zero_seed[32] = { 0 };
	const size_t len = 1u << 20;
	uint8_t *data = random_data(len, 1);
	coffer_chunker chunker;
	cut_list cuts;
	size_t i, sum = 0;

	ck_assert_coffer_ok(coffer_chunker_init(&chunker, &params, test_seed));
	ck_assert_uint_eq(chunker.gear[0], UINT64_C(0x8fda6505e017bf5d));
	ck_assert_uint_eq(chunker.gear[1], UINT64_C(0x473cbf9fe2701522));
	ck_assert_uint_eq(chunker.gear[255], UINT64_C(0x6928eca06d06522d));
	cuts = chunk_file(&chunker, data, len, 0, 0);
	ck_assert_uint_eq(cuts.count, 118);
	for (i = 0; i < 12; i++)
		ck_assert_uint_eq(cuts.ends[i], first_ends[i]);
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(cuts.ends[cuts.count - 3 + i], last_ends[i]);
	for (i = 0; i < cuts.count; i++)
		sum += cuts.ends[i];
	ck_assert_uint_eq(sum, 62688323);
	free(cuts.ends);

	ck_assert_coffer_ok(coffer_chunker_init(&chunker, &params_nc1, zero_seed));
	cuts = chunk_file(&chunker, data, len, 0, 0);
	ck_assert_uint_eq(cuts.count, 104);
	ck_assert_uint_eq(cuts.ends[0], 3648);
	ck_assert_uint_eq(cuts.ends[1], 11526);
	for (i = 0, sum = 0; i < cuts.count; i++)
		sum += cuts.ends[i];
	ck_assert_uint_eq(sum, 56165242);
	free(cuts.ends);
	coffer_chunker_clear(&chunker);
	free(data);
}
END_TEST

/* The optimised two-bytes-per-step scan agrees with the reference on random data, on data
 * with long runs (zeros and a repeated pattern) and over several parameter sets. */
START_TEST(matches_reference)
{
	static const coffer_chunker_params sets[] = {
		{ 64, 256, 1024, 0 }, { 64, 512, 4096, 3 }, { 1000, 4096, 5000, 2 },
		{ 2048, 8192, 65536, 1 }, { 16384, 65536, 262144, 2 }, { 4095, 4096, 4097, 2 },
	};
	const size_t len = 3u << 20;
	uint8_t *data = random_data(len, 7);
	size_t s, i;

	/* 256 KiB of zeros and 256 KiB of a short repeated pattern in the middle. */
	memset(data + (1u << 20), 0, 256u << 10);
	for (i = 0; i < (256u << 10); i++)
		data[(1u << 20) + (256u << 10) + i] = (uint8_t)"abcabcabd"[i % 9];
	for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		coffer_chunker chunker;
		uint8_t seed[32];
		cut_list got, expected;

		memset(seed, (int)(s * 37 + 1), sizeof(seed));
		ck_assert_coffer_ok(coffer_chunker_init(&chunker, &sets[s], seed));
		got = chunk_file(&chunker, data, len, 0, 0);
		expected = reference_cuts(&sets[s], seed, data, len);
		assert_same_cuts(&got, &expected, "optimised vs reference");
		/* Odd lengths exercise the single-byte tail of the two-byte scan. */
		free(got.ends);
		free(expected.ends);
		got = chunk_file(&chunker, data + 1, len - 3, 0, 0);
		expected = reference_cuts(&sets[s], seed, data + 1, len - 3);
		assert_same_cuts(&got, &expected, "odd length");
		free(got.ends);
		free(expected.ends);
	}
	free(data);
}
END_TEST

START_TEST(streaming_in_any_pieces)
{
	const coffer_chunker_params params = { 4096, 16384, 65536, 2 };
	static const size_t pieces[] = { 1, 2, 3, 63, 4096, 16385, 1u << 20 };
	const size_t len = 2u << 20;
	uint8_t *data = random_data(len, 11);
	coffer_chunker chunker;
	cut_list whole;
	size_t p;

	ck_assert_coffer_ok(coffer_chunker_init(&chunker, &params, test_seed));
	whole = chunk_file(&chunker, data, len, 0, 0);
	ck_assert_uint_gt(whole.count, 50);
	for (p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
		cut_list fixed = chunk_file(&chunker, data, len, pieces[p], 0);
		cut_list varied = chunk_file(&chunker, data, len, pieces[p], 1000 + p);

		assert_same_cuts(&fixed, &whole, "fixed-size pieces");
		assert_same_cuts(&varied, &whole, "random-size pieces");
		free(fixed.ends);
		free(varied.ends);
	}
	free(whole.ends);
	free(data);
}
END_TEST

START_TEST(sizes_within_bounds)
{
	const coffer_chunker_params params = { 8192, 32768, 131072, 2 };
	const size_t len = 4u << 20;
	uint8_t *data = random_data(len, 13);
	coffer_chunker chunker;
	int variant;

	ck_assert_coffer_ok(coffer_chunker_init(&chunker, &params, test_seed));
	/* Random data, then all zeros (no content-defined cut: every chunk ends at max_size). */
	for (variant = 0; variant < 2; variant++) {
		cut_list cuts;
		size_t i, previous = 0, at_max = 0;

		if (variant == 1)
			memset(data, 0, len);
		cuts = chunk_file(&chunker, data, len - 1000, 7777, 5);
		for (i = 0; i < cuts.count; i++) {
			size_t size = cuts.ends[i] - previous;

			ck_assert_uint_le(size, params.max_size);
			if (i + 1 < cuts.count)
				ck_assert_uint_ge(size, params.min_size);
			at_max += size == params.max_size;
			previous = cuts.ends[i];
		}
		ck_assert_uint_eq(previous, len - 1000);
		if (variant == 0) {
			double mean = (double)(len - 1000) / (double)cuts.count;

			/* Normalized chunking keeps the mean near the target. */
			ck_assert_msg(mean > 0.8 * params.avg_size && mean < 1.6 * params.avg_size, "mean %.0f", mean);
			ck_assert_uint_lt(at_max, cuts.count / 10 + 1);
		} else {
			ck_assert_uint_eq(at_max, cuts.count - 1);
		}
		free(cuts.ends);
	}
	/* A file shorter than min_size is one chunk; an empty file none. */
	{
		cut_list small = chunk_file(&chunker, data, 100, 0, 0);
		cut_list empty = chunk_file(&chunker, data, 0, 0, 0);
		int cut = 5;

		ck_assert_uint_eq(small.count, 1);
		ck_assert_uint_eq(small.ends[0], 100);
		ck_assert_uint_eq(empty.count, 0);
		ck_assert_uint_eq(coffer_chunker_next(&chunker, data, 0, &cut), 0);
		ck_assert_int_eq(cut, 0);
		free(small.ends);
		free(empty.ends);
	}
	free(data);
}
END_TEST

/* Fraction of b's chunks (by content) that also occur in a. */
static double shared_fraction(const uint8_t *a_data, const cut_list *a, const uint8_t *b_data, const cut_list *b)
{
	size_t i, j, shared = 0, a_start, b_start = 0;

	for (i = 0; i < b->count; i++) {
		size_t b_len = b->ends[i] - b_start;

		a_start = 0;
		for (j = 0; j < a->count; j++) {
			size_t a_len = a->ends[j] - a_start;

			if (a_len == b_len && memcmp(a_data + a_start, b_data + b_start, a_len) == 0) {
				shared++;
				break;
			}
			a_start = a->ends[j];
		}
		b_start = b->ends[i];
	}
	return (double)shared / (double)b->count;
}

START_TEST(shift_resistance)
{
	const coffer_chunker_params params = { 4096, 16384, 65536, 2 };
	const size_t len = 4u << 20;
	static const size_t insert_at[] = { 10, 1000, 2u << 20 };
	uint8_t *original = random_data(len, 17);
	uint8_t *edited = malloc(len + 7);
	coffer_chunker chunker;
	cut_list before;
	size_t k;

	ck_assert_coffer_ok(coffer_chunker_init(&chunker, &params, test_seed));
	before = chunk_file(&chunker, original, len, 1u << 20, 0);
	for (k = 0; k < sizeof(insert_at) / sizeof(insert_at[0]); k++) {
		size_t at = insert_at[k];
		cut_list after;
		size_t i, j, threshold, resync = 0;
		double fraction;

		memcpy(edited, original, at);
		memcpy(edited + at, "INSERT!", 7);
		memcpy(edited + at + 7, original + at, len - at);
		after = chunk_file(&chunker, edited, len + 7, 1u << 20, 0);
		/* All but the chunks around the edit come back unchanged... */
		fraction = shared_fraction(original, &before, edited, &after);
		ck_assert_msg(fraction * (double)after.count >= (double)after.count - 3,
		              "insert at %zu: only %.1f%% of %zu chunks reused", at, 100 * fraction, after.count);
		/* ...and a little after the edit the boundaries are exactly the old ones moved by 7. */
		threshold = at + 7 + 2 * params.max_size;
		for (i = 0, j = 0; i < after.count; i++) {
			if (after.ends[i] <= threshold)
				continue;
			while (j < before.count && before.ends[j] + 7 <= threshold)
				j++;
			ck_assert_msg(j < before.count && before.ends[j] + 7 == after.ends[i],
			              "insert at %zu: boundary %zu did not resynchronise", at, after.ends[i]);
			j++;
			resync++;
		}
		ck_assert_uint_eq(j, before.count);
		ck_assert_uint_gt(resync, 50);
		free(after.ends);
	}
	free(before.ends);
	free(original);
	free(edited);
}
END_TEST

START_TEST(seed_changes_boundaries)
{
	const coffer_chunker_params params = { 2048, 8192, 32768, 2 };
	const size_t len = 1u << 20;
	uint8_t *data = random_data(len, 19);
	uint8_t other_seed[32];
	coffer_chunker a, b;
	cut_list cuts_a, cuts_b, again;
	size_t i, j, common = 0;

	memcpy(other_seed, test_seed, 32);
	other_seed[31] ^= 1;
	ck_assert_coffer_ok(coffer_chunker_init(&a, &params, test_seed));
	ck_assert_coffer_ok(coffer_chunker_init(&b, &params, other_seed));
	ck_assert_int_ne(memcmp(a.gear, b.gear, sizeof(a.gear)), 0);
	cuts_a = chunk_file(&a, data, len, 0, 0);
	cuts_b = chunk_file(&b, data, len, 0, 0);
	again = chunk_file(&a, data, len, 0, 0);
	assert_same_cuts(&cuts_a, &again, "same seed, same data");
	/* Independent tables: only chance coincidences of boundaries (the file end always). */
	for (i = 0; i < cuts_b.count; i++) {
		for (j = 0; j < cuts_a.count; j++)
			common += cuts_a.ends[j] == cuts_b.ends[i];
	}
	ck_assert_msg(common < cuts_b.count / 10, "%zu of %zu boundaries shared across seeds", common, cuts_b.count);
	free(cuts_a.ends);
	free(cuts_b.ends);
	free(again.ends);
	free(data);
}
END_TEST

START_TEST(reset_starts_a_new_file)
{
	const coffer_chunker_params params = { 2048, 8192, 32768, 2 };
	const size_t len = 300000;
	uint8_t *first = random_data(len, 23), *second = random_data(len, 29);
	coffer_chunker chunker;
	cut_list fresh, after_partial;
	int cut;

	ck_assert_coffer_ok(coffer_chunker_init(&chunker, &params, test_seed));
	fresh = chunk_file(&chunker, second, len, 0, 0);
	/* Half a chunk of another file, then a new file: nothing of the first may carry over. */
	coffer_chunker_reset(&chunker);
	ck_assert_uint_eq(coffer_chunker_next(&chunker, first, 5000, &cut), 5000);
	ck_assert_int_eq(cut, 0);
	ck_assert_uint_eq(coffer_chunker_pending(&chunker), 5000);
	after_partial = chunk_file(&chunker, second, len, 0, 0);
	assert_same_cuts(&after_partial, &fresh, "after reset");
	free(fresh.ends);
	free(after_partial.ends);
	free(first);
	free(second);
}
END_TEST

START_TEST(parameter_checks)
{
	static const coffer_chunker_params bad[] = {
		{ 2048, 6000, 32768, 2 },           /* avg not a power of two */
		{ 32, 8192, 32768, 2 },             /* min below 64 */
		{ 8192, 8192, 32768, 2 },           /* min == avg */
		{ 2048, 8192, 8192, 2 },            /* avg == max */
		{ 2048, 8192, 4096, 2 },            /* max < avg */
		{ 1u << 20, 1u << 24, 1u << 27, 2 },/* max above the limit */
		{ 2048, 8192, 32768, 4 },           /* normalization above 3 */
		{ 64, 128, 256, 3 },                /* loose mask would have too few bits */
		{ 0, 0, 0, 0 },
	};
	const coffer_chunker_params defaults = COFFER_CHUNKER_PARAMS_DEFAULT;
	coffer_chunker chunker;
	size_t i;

	ck_assert_coffer_ok(coffer_chunker_params_check(&defaults));
	ck_assert_coffer_ok(coffer_chunker_init(&chunker, &defaults, test_seed));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(coffer_chunker_params_check(&bad[i]) == COFFER_EINVALID, "bad set %zu accepted", i);
		ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "chunker"));
		ck_assert_int_eq(coffer_chunker_init(&chunker, &bad[i], test_seed), COFFER_EINVALID);
	}
	ck_assert_int_eq(coffer_chunker_params_check(NULL), COFFER_EINVALID);
}
END_TEST

static Suite *chunker_suite(void)
{
	Suite *s = suite_create("chunker");
	TCase *tc = tcase_create("fastcdc");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, pinned_format_vectors);
	tcase_add_test(tc, matches_reference);
	tcase_add_test(tc, streaming_in_any_pieces);
	tcase_add_test(tc, sizes_within_bounds);
	tcase_add_test(tc, shift_resistance);
	tcase_add_test(tc, seed_changes_boundaries);
	tcase_add_test(tc, reset_starts_a_new_file);
	tcase_add_test(tc, parameter_checks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(chunker_suite());
}
