// FUZZ_SOURCES: plugins/backend-gcs/gcs_parse.c plugins/backend-gcs/gcs_json.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* What a GCS server (or anything posing as one) answers: listing pages, object
 * resources, token responses and error bodies. No crash, no leak. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../../plugins/backend-gcs/gcs_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_object(const gcs_object_info *obj, void *ud)
{
	size_t *n = ud;
	if (!obj->name || obj->size > (uint64_t)INT64_MAX)
		abort();
	return ++*n == 1000 ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t n = 0;
	char *next = NULL, *token = NULL;
	uint64_t expires = 0;
	if (gcs_list_parse(text, size, count_object, &n, &next) == 0 && next && !next[0])
		abort();
	coffer_free(next);
	(void)gcs_object_parse(text, size, count_object, &n);
	if (gcs_token_response_parse(text, size, &token, &expires) == 0 && (!token || !token[0] || !expires))
		abort();
	coffer_free(token);
	coffer_free(gcs_error_detail(text, size));
	return 0;
}
