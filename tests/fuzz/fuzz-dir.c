// FUZZ_SOURCES: core/src/tree.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* The directory listing decoder on arbitrary bytes: no crash, no leak, and whatever it
 * accepts is a valid listing that encodes again, to the very same bytes when no unknown
 * optional field was skipped (the encoding is canonical). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	coffer_dir dir, again;
	coffer_buf encoded = COFFER_BUF_INIT, reencoded = COFFER_BUF_INIT;
	size_t skipped = 0, *ends = NULL, piece_count = 0;

	if (coffer_dir_decode_ex(data, size, &dir, &skipped) != 0) {
		if (dir.entries || dir.count)
			abort();
		return 0;
	}
	if (coffer_dir_encode_pieces(&dir, &encoded, &ends, &piece_count) != 0)
		abort();
	if (piece_count == 0 || ends[piece_count - 1] != encoded.len)
		abort();
	if (skipped == 0 && (encoded.len != size || memcmp(encoded.data, data, size) != 0))
		abort();
	if (skipped > 0) {
		/* Unknown fields are dropped: the result is shorter and canonical. */
		if (encoded.len >= size || coffer_dir_decode(encoded.data, encoded.len, &again) != 0)
			abort();
		if (coffer_dir_encode(&again, &reencoded) != 0 || reencoded.len != encoded.len ||
		    memcmp(reencoded.data, encoded.data, encoded.len) != 0)
			abort();
		coffer_dir_clear(&again);
	}
	coffer_free(ends);
	coffer_buf_free(&encoded);
	coffer_buf_free(&reencoded);
	coffer_dir_clear(&dir);
	return 0;
}
