// FUZZ_SOURCES: plugins/codec/s2_format.c
// FUZZ_LIBS:
// FUZZ_CORPUS: ../shared/testdata/s2
/* The S2 framed-stream decoder on arbitrary bytes: no crash or overrun, only the
 * documented errors, and output that never exceeds the capacity. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "../../plugins/codec/s2_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_OUTPUT_MAX ((size_t)8 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One buffer for all runs (a fresh 8 MiB allocation per run is slow under ASan). The
	 * output window ends at the buffer's end, so ASan still sees a write past cap. */
	static uint8_t *buffer;
	if (!buffer && !(buffer = malloc(FUZZ_OUTPUT_MAX)))
		return 0;
	/* A small input can still declare 4 MiB blocks; vary the capacity with the input so
	 * both "fits" and "too large" paths run. */
	size_t cap = size > 0 && (data[size - 1] & 1) ? FUZZ_OUTPUT_MAX : size * 4;
	if (cap > FUZZ_OUTPUT_MAX)
		cap = FUZZ_OUTPUT_MAX;
	uint8_t *out = buffer + FUZZ_OUTPUT_MAX - cap;
	size_t out_len = 0;
	int rc = coffer_s2_stream_decode(data, size, out, cap, &out_len);
	switch (rc) {
	case COFFER_S2_OK:
		if (out_len > cap)
			abort();
		break;
	case COFFER_S2_ECORRUPT:
	case COFFER_S2_ECRC:
	case COFFER_S2_EUNSUPPORTED:
	case COFFER_S2_ETOOLARGE:
		if (out_len != 0)
			abort();
		break;
	default:
		abort();
	}
	return 0;
}
