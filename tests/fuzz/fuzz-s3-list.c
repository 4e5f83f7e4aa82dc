// FUZZ_SOURCES: plugins/backend-s3/s3_xml.c http/src/xml.c http/src/encode.c core/src/timefmt.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS: -lcrypto
// FUZZ_CORPUS:
/* The S3 backend's ListObjectsV2 reader on arbitrary bytes: no crash, no leak, and a page
 * it accepts is consistent (keys non-empty without NUL, a truncated page has a token). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../../plugins/backend-s3/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	s3_xml_list_page page;
	if (s3_xml_list_parse((const char *)data, size, &page) != 0)
		return 0;
	for (size_t i = 0; i < page.count; i++) {
		const s3_xml_object *o = &page.objects[i];
		if (!o->key || o->key_len == 0 || strlen(o->key) != o->key_len)
			abort();
	}
	if (page.truncated && (!page.next_token || !page.next_token[0]))
		abort();
	s3_xml_list_free(&page);
	return 0;
}
