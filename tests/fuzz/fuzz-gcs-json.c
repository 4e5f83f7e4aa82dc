// FUZZ_SOURCES: plugins/backend-gcs/gcs_json.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* backend-gcs's strict JSON reader on arbitrary bytes: no crash, no leak, and every
 * accepted string re-encodes and parses back to itself. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../../plugins/backend-gcs/gcs_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_strings(const gcs_json *v)
{
	if (v->type == GCS_JSON_STRING || v->key) {
		const char *s = v->type == GCS_JSON_STRING ? v->text : v->key;
		coffer_buf b = COFFER_BUF_INIT;
		gcs_json *back = NULL;
		if (v->type == GCS_JSON_STRING && strlen(s) != v->text_len)
			abort();
		if (gcs_json_append_string(&b, s) != 0 || gcs_json_parse(&back, (const char *)b.data, b.len) != 0 ||
		    back->type != GCS_JSON_STRING || strcmp(back->text, s) != 0)
			abort();
		gcs_json_free(back);
		coffer_buf_free(&b);
	}
	for (size_t i = 0; i < v->count; i++)
		check_strings(v->items[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gcs_json *v = NULL;
	if (gcs_json_parse(&v, (const char *)data, size) == 0) {
		check_strings(v);
		uint64_t n;
		(void)gcs_json_uint64(v, &n);
		(void)gcs_json_get(v, "items");
		gcs_json_free(v);
	} else if (v) {
		abort();
	}
	return 0;
}
