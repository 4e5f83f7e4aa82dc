// FUZZ_SOURCES: core/src/store_format.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* The format blob parsers on arbitrary bytes: the plaintext header (which an attacker who
 * can write to the bucket controls, including the scrypt parameters) and the body's
 * structure after decryption. No crash; what parses re-encodes to the same bytes. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	coffer_format_header h;
	if (coffer_format_header_parse(data, size, &h) == 0) {
		if (size != COFFER_FORMAT_HEADER_SIZE + h.body_length)
			abort();
		if (coffer_format_check_scrypt(h.scrypt_n, h.scrypt_r, h.scrypt_p) != 0)
			abort();
		/* The scrypt memory the header may ask for is bounded. */
		if ((uint64_t)128 * h.scrypt_r * h.scrypt_n > COFFER_CRYPTO_SCRYPT_MAX_MEMORY)
			abort();
		uint8_t again[COFFER_FORMAT_HEADER_SIZE];
		coffer_format_header_encode(&h, again);
		if (memcmp(again, data, COFFER_FORMAT_HEADER_SIZE) != 0)
			abort();
	}
	coffer_format_body b;
	if (coffer_format_body_parse(data, size, &b) == 0) {
		uint8_t again[COFFER_FORMAT_BODY_MAX_SIZE];
		int n = coffer_format_body_encode(&b, again, sizeof(again));
		if (n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
			abort();
		if (strlen(b.compression) == 0 || b.chunker.max_size > COFFER_CHUNKER_MAX_SIZE_LIMIT)
			abort();
	}
	return 0;
}
