// FUZZ_SOURCES: plugins/codec/s2_format.c
// FUZZ_LIBS:
// FUZZ_CORPUS: ../shared/testdata/s2
/* The S2 encoder on arbitrary input: every level, S2 and Snappy-compatible, block and
 * stream form, must stay within its bound and decode back to the input. The first byte
 * picks the level, mode and stream block size; the rest is the data. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/codec/s2_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_INPUT_MAX ((size_t)64 << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int level = COFFER_S2_LEVEL_MIN + data[0] % (COFFER_S2_LEVEL_MAX - COFFER_S2_LEVEL_MIN + 1);
	unsigned int flags = (data[0] >> 2) & 1 ? COFFER_S2_SNAPPY_COMPATIBLE : 0;
	/* Small stream blocks, so short inputs still span several chunks. */
	size_t block_size = (size_t)1 << (6 + ((data[0] >> 3) & 7));
	const uint8_t *input = data + 1;
	size_t n = size - 1;
	/* The seed corpus holds MiB-sized files; their first part exercises the same code and
	 * keeps each run short. */
	if (n > FUZZ_INPUT_MAX)
		n = FUZZ_INPUT_MAX;

	size_t bound = coffer_s2_block_bound(n), len = 0, back_len = 0;
	uint8_t *encoded = malloc(bound);
	uint8_t *back = malloc(n > 0 ? n : 1);
	if (!encoded || !back)
		abort();
	if (coffer_s2_block_encode(level, flags, input, n, encoded, bound, &len) != COFFER_S2_OK ||
	    len > bound)
		abort();
	if (coffer_s2_block_decode(encoded, len, back, n, &back_len) != COFFER_S2_OK || back_len != n ||
	    (n > 0 && memcmp(back, input, n) != 0))
		abort();
	if (flags & COFFER_S2_SNAPPY_COMPATIBLE) {
		/* Snappy has no repeat codes: no copy1 op may carry offset 0. */
		size_t s = 0;
		while (encoded[s] & 0x80)
			s++;
		for (s++; s < len;) {
			uint8_t tag = encoded[s];
			if ((tag & 3) == 0) {
				size_t lit = tag >> 2, extra = lit >= 60 ? lit - 59 : 0;
				if (extra) {
					lit = 0;
					for (size_t i = 0; i < extra; i++)
						lit |= (size_t)encoded[s + 1 + i] << (8 * i);
				}
				s += 1 + extra + lit + 1;
			} else if ((tag & 3) == 1) {
				if ((tag & 0xe0) == 0 && encoded[s + 1] == 0)
					abort();
				s += 2;
			} else {
				s += (tag & 3) == 2 ? 3 : 5;
			}
		}
	}
	free(encoded);

	size_t stream_bound = coffer_s2_stream_bound(n, flags, block_size);
	uint8_t *stream = malloc(stream_bound > 0 ? stream_bound : 1);
	if (!stream)
		abort();
	if (coffer_s2_stream_encode(level, flags, block_size, input, n, stream, stream_bound, &len) !=
	        COFFER_S2_OK || len > stream_bound)
		abort();
	if (coffer_s2_stream_decode(stream, len, back, n, &back_len) != COFFER_S2_OK || back_len != n ||
	    (n > 0 && memcmp(back, input, n) != 0))
		abort();
	free(stream);
	free(back);
	return 0;
}
