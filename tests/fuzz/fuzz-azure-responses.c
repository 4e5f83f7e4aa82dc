// FUZZ_SOURCES: plugins/backend-azure/azure_xml.c http/src/xml.c http/src/encode.c core/src/timefmt.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS: -lcrypto
// FUZZ_CORPUS:
/* The Azure backend's readers of what the service sends, on arbitrary bytes: List Blobs
 * pages (every accepted entry has a non-empty name without NUL) and <Error> bodies (code
 * and message are bounded, one line, no control bytes). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../../plugins/backend-azure/azure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	azure_listing page;
	if (azure_parse_listing((const char *)data, size, &page) == 0) {
		for (size_t i = 0; i < page.count; i++)
			if (!page.blobs[i].name || !page.blobs[i].name[0])
				abort();
		azure_listing_free(&page);
	} else if (page.count || page.blobs || page.next_marker) {
		abort();
	}
	azure_error_body e;
	azure_parse_error((const char *)data, size, &e);
	check_line(e.code, sizeof(e.code));
	check_line(e.message, sizeof(e.message));
	return 0;
}
