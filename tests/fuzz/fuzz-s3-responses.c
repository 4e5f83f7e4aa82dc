// FUZZ_SOURCES: plugins/backend-s3/s3_xml.c http/src/xml.c http/src/encode.c core/src/timefmt.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS: -lcrypto
// FUZZ_CORPUS:
/* The S3 backend's other response readers on arbitrary bytes: error bodies, the
 * multipart UploadId, DeleteObjects results, and the EncodingType=url key decoder. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../../plugins/backend-s3/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_delete_error(void *ud, const char *key, const char *code, const char *message)
{
	size_t *n = ud;
	if (!key || !code || !message || strlen(code) >= 64 || strlen(message) >= 256)
		abort();
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *doc = (const char *)data;
	s3_xml_error_info info;
	if (s3_xml_error_parse(doc, size, &info)) {
		for (const char *p = info.message; *p; p++)
			if ((unsigned char)*p < 0x20)
				abort();
	} else if (info.code[0] || info.message[0]) {
		abort();
	}
	char *id = NULL;
	if (s3_xml_upload_id(doc, size, &id) == 0) {
		if (!id || !id[0])
			abort();
		coffer_free(id);
	}
	size_t errors = 0;
	(void)s3_xml_delete_result(doc, size, on_delete_error, &errors);
	char *key = NULL;
	size_t key_len = 0;
	if (s3_xml_url_decode(doc, size, &key, &key_len) == 0) {
		if (key_len > size || strlen(key) != key_len)
			abort();
		coffer_free(key);
	}
	return 0;
}
