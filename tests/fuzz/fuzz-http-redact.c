// FUZZ_SOURCES: http/src/redact.c http/src/encode.c core/src/error.c core/src/alloc.c core/src/timefmt.c
// FUZZ_LIBS: -lcrypto
// FUZZ_CORPUS:
/* Redaction of arbitrary text (server error bodies end up in messages): no crash, and a
 * query parameter named sig= never keeps its value. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/http.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* redact.c asks the client for its secrets and name; with no client it never does. */
const void *http_client_secrets(const void *client);
const void *http_client_secrets(const void *client)
{
	(void)client;
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	coffer_buf out = COFFER_BUF_INIT;
	if (coffer_http_redact(NULL, text, &out) == 0) {
		const char *hit = strstr((const char *)out.data, "?sig=");
		if (hit && strncmp(hit + 5, "[REDACTED]", 10) != 0)
			abort();
	}
	coffer_buf_free(&out);
	free(text);
	return 0;
}
