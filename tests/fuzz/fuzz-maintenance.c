// FUZZ_SOURCES: core/src/maintenance_format.c core/src/store_format.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* The maintenance state and lease parsers (plaintexts after decryption) on arbitrary bytes.
 * What parses survives an encode/parse round trip unchanged. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../../core/src/maintenance_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	coffer_maint_state st;
	if (coffer_maint_state_parse(data, size, &st) == 0) {
		coffer_buf again = COFFER_BUF_INIT;
		if (coffer_maint_state_encode(&st, &again) != 0 || again.len != size ||
		    memcmp(again.data, data, size) != 0)
			abort();
		for (size_t i = 0; i < st.candidate_count; i++)
			if (coffer_maint_state_find(&st, st.candidates[i].pack) != &st.candidates[i])
				abort();
		coffer_buf_free(&again);
		coffer_maint_state_clear(&st);
	}
	coffer_maint_lease lease;
	if (coffer_maint_lease_parse(data, size, &lease) == 0) {
		coffer_buf again = COFFER_BUF_INIT;
		if (coffer_maint_lease_encode(&lease, &again) != 0 || again.len != size ||
		    memcmp(again.data, data, size) != 0)
			abort();
		coffer_buf_free(&again);
	}
	return 0;
}
