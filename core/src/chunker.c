/* FastCDC content-defined chunker with a keyed gear table; see chunker.h for the interface
 * and docs/FORMAT.md for the exact definition of the cut points. */
#include "config.h"

#include "chunker.h"

#include <coffer/error.h>

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Domain label of the gear table derivation; changing it changes every boundary. */
#define CHUNKER_GEAR_LABEL "coffer chunker gear table v1"

int coffer_chunker_params_check(const coffer_chunker_params *params)
{
	uint32_t bits = 0;

	if (params == NULL)
		return coffer_error_set(COFFER_EINVALID, "chunker: no parameters");
	if (params->avg_size == 0 || (params->avg_size & (params->avg_size - 1)) != 0)
		return coffer_error_set(COFFER_EINVALID, "chunker: average size %u is not a power of two",
		                        params->avg_size);
	while ((1u << bits) < params->avg_size)
		bits++;
	if (params->min_size < COFFER_CHUNKER_MIN_SIZE_LIMIT || params->min_size >= params->avg_size ||
	    params->avg_size >= params->max_size || params->max_size > COFFER_CHUNKER_MAX_SIZE_LIMIT)
		return coffer_error_set(COFFER_EINVALID,
		                        "chunker: sizes min %u, avg %u, max %u must satisfy %u <= min < avg < max <= %u",
		                        params->min_size, params->avg_size, params->max_size,
		                        COFFER_CHUNKER_MIN_SIZE_LIMIT, COFFER_CHUNKER_MAX_SIZE_LIMIT);
	if (params->normalization > COFFER_CHUNKER_NORMALIZATION_LIMIT || bits <= params->normalization + 4)
		return coffer_error_set(COFFER_EINVALID,
		                        "chunker: normalization %u must be at most %u and leave the average size %u "
		                        "more than 16 times 2^normalization",
		                        params->normalization, COFFER_CHUNKER_NORMALIZATION_LIMIT, params->avg_size);
	return 0;
}

/* `bits` one-bits ending at bit 62. The gear hash's high bits depend on the most bytes (bit k
 * on the last k+1), so high masks see a ~40-64 byte window; bit 63 is left out because the
 * two-bytes-per-step scan checks the first byte's hash shifted left by one. */
static uint64_t chunker_mask(uint32_t bits)
{
	return ((((uint64_t)1) << bits) - 1) << (63 - bits);
}

/* gear table = SHA-256(seed || label || counter32le) for counter 0..63, read as 256
 * little-endian 64-bit words. */
static int chunker_derive_gear(uint64_t gear[256], const uint8_t seed[COFFER_CHUNKER_SEED_SIZE])
{
	uint8_t input[COFFER_CHUNKER_SEED_SIZE + sizeof(CHUNKER_GEAR_LABEL) - 1 + 4];
	uint8_t block[32];
	size_t label_len = sizeof(CHUNKER_GEAR_LABEL) - 1;
	uint32_t counter;
	int rc = 0;

	memcpy(input, seed, COFFER_CHUNKER_SEED_SIZE);
	memcpy(input + COFFER_CHUNKER_SEED_SIZE, CHUNKER_GEAR_LABEL, label_len);
	for (counter = 0; counter < 256 / 4; counter++) {
		uint8_t *tail = input + COFFER_CHUNKER_SEED_SIZE + label_len;
		size_t word, byte;

		tail[0] = (uint8_t)counter;
		tail[1] = (uint8_t)(counter >> 8);
		tail[2] = (uint8_t)(counter >> 16);
		tail[3] = (uint8_t)(counter >> 24);
		if (EVP_Digest(input, sizeof(input), block, NULL, EVP_sha256(), NULL) != 1) {
			rc = coffer_error_set(COFFER_ERROR, "chunker: SHA-256 failed while deriving the gear table");
			break;
		}
		for (word = 0; word < 4; word++) {
			uint64_t value = 0;

			for (byte = 0; byte < 8; byte++)
				value |= (uint64_t)block[word * 8 + byte] << (8 * byte);
			gear[counter * 4 + word] = value;
		}
	}
	OPENSSL_cleanse(input, sizeof(input));
	OPENSSL_cleanse(block, sizeof(block));
	return rc;
}

int coffer_chunker_init(coffer_chunker *chunker, const coffer_chunker_params *params,
                        const uint8_t seed[COFFER_CHUNKER_SEED_SIZE])
{
	uint32_t bits = 0;
	size_t i;
	int rc;

	memset(chunker, 0, sizeof(*chunker));
	if ((rc = coffer_chunker_params_check(params)) < 0)
		return rc;
	if ((rc = chunker_derive_gear(chunker->gear, seed)) < 0)
		return rc;
	for (i = 0; i < 256; i++)
		chunker->gear_shifted[i] = chunker->gear[i] << 1;
	while ((1u << bits) < params->avg_size)
		bits++;
	chunker->mask_strict = chunker_mask(bits + params->normalization);
	chunker->mask_loose = chunker_mask(bits - params->normalization);
	chunker->params = *params;
	coffer_chunker_reset(chunker);
	return 0;
}

void coffer_chunker_reset(coffer_chunker *chunker)
{
	chunker->hash = 0;
	chunker->position = 0;
}

size_t coffer_chunker_pending(const coffer_chunker *chunker)
{
	return chunker->position;
}

void coffer_chunker_clear(coffer_chunker *chunker)
{
	OPENSSL_cleanse(chunker, sizeof(*chunker));
}

/* Rolls the gear hash over data[0..len) and stops after the first byte whose hash has all
 * `mask` bits clear. Returns the bytes consumed; *found tells whether it stopped on a cut.
 * Two bytes per step shorten the dependency chain: hash' = (hash << 2) + 2*g[a] + g[b], with
 * the intermediate hash after `a` checked as (hash << 2) + 2*g[a] against mask << 1. */
static size_t chunker_scan(const coffer_chunker *chunker, uint64_t mask, uint64_t *hash,
                           const uint8_t *data, size_t len, int *found)
{
	const uint64_t *gear = chunker->gear;
	const uint64_t *gear_shifted = chunker->gear_shifted;
	const uint64_t mask_shifted = mask << 1;
	uint64_t h = *hash;
	size_t i = 0;

	for (; i + 2 <= len; i += 2) {
		uint64_t first = (h << 2) + gear_shifted[data[i]];

		if ((first & mask_shifted) == 0) {
			*hash = first >> 1;
			*found = 1;
			return i + 1;
		}
		h = first + gear[data[i + 1]];
		if ((h & mask) == 0) {
			*hash = h;
			*found = 1;
			return i + 2;
		}
	}
	for (; i < len; i++) {
		h = (h << 1) + gear[data[i]];
		if ((h & mask) == 0) {
			*hash = h;
			*found = 1;
			return i + 1;
		}
	}
	*hash = h;
	*found = 0;
	return len;
}

size_t coffer_chunker_next(coffer_chunker *chunker, const uint8_t *buf, size_t len, int *cut)
{
	const size_t min_size = chunker->params.min_size;
	const size_t avg_size = chunker->params.avg_size;
	const size_t max_size = chunker->params.max_size;
	size_t used = 0;

	*cut = 0;
	while (used < len) {
		size_t position = chunker->position;
		size_t available = len - used;
		size_t region_end, step, consumed;
		uint64_t mask;
		int found = 0;

		if (position < min_size) {
			/* Nothing before min_size can be a cut point, so those bytes are not hashed. */
			step = min_size - position < available ? min_size - position : available;
			chunker->position += step;
			used += step;
			continue;
		}
		if (position < avg_size) {
			region_end = avg_size;
			mask = chunker->mask_strict;
		} else {
			region_end = max_size;
			mask = chunker->mask_loose;
		}
		step = region_end - position < available ? region_end - position : available;
		consumed = chunker_scan(chunker, mask, &chunker->hash, buf + used, step, &found);
		used += consumed;
		chunker->position += consumed;
		if (found || chunker->position >= max_size) {
			*cut = 1;
			coffer_chunker_reset(chunker);
			return used;
		}
	}
	return used;
}
