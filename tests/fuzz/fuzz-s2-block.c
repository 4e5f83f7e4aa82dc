// FUZZ_SOURCES: plugins/codec/s2_format.c
// FUZZ_LIBS:
// FUZZ_CORPUS: ../shared/testdata/s2
/* The S2 block decoder on arbitrary bytes: no crash or overrun, success only with exactly
 * the declared length, and the declared length never above the capacity. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/codec/s2_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Enough for what small inputs can expand to; larger declared lengths must fail cleanly. */
#define FUZZ_OUTPUT_CAP ((size_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t declared = 0, out_len = 0;
	int header_ok = coffer_s2_block_decoded_length(data, size, &declared) == COFFER_S2_OK;
	size_t cap = header_ok && declared < FUZZ_OUTPUT_CAP ? declared : FUZZ_OUTPUT_CAP;
	/* One buffer for all runs; the output window ends at its end, so ASan catches a write
	 * one past cap. */
	static uint8_t *buffer;
	if (!buffer && !(buffer = malloc(FUZZ_OUTPUT_CAP)))
		return 0;
	uint8_t *out = buffer + FUZZ_OUTPUT_CAP - cap;
	int rc = coffer_s2_block_decode(data, size, out, cap, &out_len);
	if (rc == COFFER_S2_OK) {
		if (!header_ok || out_len != declared || out_len > cap)
			abort();
		/* A block that decodes re-encodes and decodes to the same bytes. */
		size_t bound = coffer_s2_block_bound(out_len), len = 0, back_len = 0;
		uint8_t *encoded = malloc(bound), *back = malloc(out_len > 0 ? out_len : 1);
		if (encoded && back) {
			if (coffer_s2_block_encode(COFFER_S2_LEVEL_FAST, 0, out, out_len, encoded, bound,
			                           &len) != 0 ||
			    coffer_s2_block_decode(encoded, len, back, out_len, &back_len) != 0 ||
			    back_len != out_len || (out_len > 0 && memcmp(back, out, out_len) != 0))
				abort();
		}
		free(encoded);
		free(back);
	} else {
		if (out_len != 0)
			abort();
		if (header_ok && declared > cap && rc != COFFER_S2_ETOOLARGE)
			abort();
		if (rc != COFFER_S2_ECORRUPT && rc != COFFER_S2_ETOOLARGE)
			abort();
	}
	return 0;
}
