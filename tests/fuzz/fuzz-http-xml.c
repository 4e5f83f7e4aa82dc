// FUZZ_SOURCES: http/src/xml.c http/src/encode.c core/src/error.c core/src/alloc.c core/src/timefmt.c
// FUZZ_LIBS: -lcrypto
// FUZZ_CORPUS:
/* The XML walker behind the S3 and Azure listing parsers, on arbitrary bytes: no crash,
 * paths well formed, element text never longer than the document. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/http.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(void *ud, const char *path, const char *text, size_t len)
{
	size_t size = *(size_t *)ud;
	if (!path[0] || path[0] == '/' || path[strlen(path) - 1] == '/')
		abort();
	if (text && (len > size || strlen(text) > len))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	coffer_xml_walk((const char *)data, size, check, &size);
	return 0;
}
