// FUZZ_SOURCES: core/src/store_format.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* The index blob parser (the plaintext after decryption) on arbitrary bytes. What parses
 * is sorted and consistent, and survives an encode/parse round trip unchanged. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/common.h>

#include "store_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *records;
	size_t count;
	if (coffer_index_blob_parse(data, size, &records, &count) != 0)
		return 0;
	for (size_t i = 0; i < count; i++) {
		const uint8_t *r = records + i * COFFER_INDEX_RECORD_SIZE;
		if (i > 0 && memcmp(r - COFFER_INDEX_RECORD_SIZE, r, COFFER_CRYPTO_ID_SIZE) >= 0)
			abort();
		if (r[COFFER_INDEX_RECORD_PACK] < 'a' || r[COFFER_INDEX_RECORD_PACK] > 'z' ||
		    r[COFFER_INDEX_RECORD_KIND] > 1)
			abort();
	}
	coffer_buf again = COFFER_BUF_INIT;
	if (coffer_index_blob_encode(records, count, &again) != 0)
		abort();
	uint8_t *back;
	size_t back_count;
	if (coffer_index_blob_parse(again.data, again.len, &back, &back_count) != 0 || back_count != count ||
	    (count && memcmp(back, records, count * COFFER_INDEX_RECORD_SIZE) != 0))
		abort();
	coffer_free(back);
	coffer_free(records);
	coffer_buf_free(&again);
	return 0;
}
