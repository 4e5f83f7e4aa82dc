// FUZZ_SOURCES: core/src/url.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* The repository URL parser on arbitrary bytes: no crash, and a parsed URL is consistent. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/url.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	coffer_url *url = NULL;
	if (coffer_url_parse_n(&url, (const char *)data, size) == 0) {
		if (!url->scheme[0] || strlen(url->text) != size || memcmp(url->text, data, size) != 0)
			abort();
		if (url->path[0] && url->path[0] != '/')
			abort();
		coffer_url_free(url);
	} else if (url) {
		abort();
	}
	return 0;
}
