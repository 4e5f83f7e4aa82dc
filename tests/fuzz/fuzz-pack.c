// FUZZ_SOURCES: core/src/store_format.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* The pack trailer and table-of-contents parsers (the TOC after decryption) on arbitrary
 * bytes. Input: 8 bytes of pack size, 16 bytes of trailer, then the TOC plaintext. What
 * parses must describe chunks laid out back to back inside the pack and re-encode to the
 * same bytes. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 24)
		return 0;
	uint64_t pack_size = coffer_le64(data);
	uint64_t toc_offset;
	uint32_t toc_length;
	if (coffer_pack_trailer_parse(data + 8, pack_size, &toc_offset, &toc_length) == 0) {
		if (toc_offset + toc_length + COFFER_PACK_TRAILER_SIZE != pack_size)
			abort();
	} else {
		toc_offset = coffer_le32(data + 8);
	}
	const uint8_t *toc = data + 24;
	size_t toc_len = size - 24;
	coffer_pack_entry *entries;
	size_t count;
	if (coffer_pack_toc_parse(toc, toc_len, toc_offset, &entries, &count) == 0) {
		uint64_t end = 0;
		for (size_t i = 0; i < count; i++) {
			if (entries[i].offset != end || entries[i].kind > 1 ||
			    !coffer_chunk_lengths_valid(entries[i].stored_length, entries[i].raw_length, entries[i].codec))
				abort();
			end += entries[i].stored_length;
		}
		if (end != toc_offset || coffer_pack_toc_size(count) != toc_len)
			abort();
		uint8_t *again = malloc(toc_len);
		coffer_pack_toc_encode(again, entries, count);
		if (memcmp(again, toc, toc_len) != 0)
			abort();
		free(again);
		coffer_free(entries);
	}
	return 0;
}
