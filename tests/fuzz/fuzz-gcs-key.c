// FUZZ_SOURCES: plugins/backend-gcs/gcs_parse.c plugins/backend-gcs/gcs_json.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* The service-account key parser (GOOGLE_APPLICATION_CREDENTIALS) on arbitrary bytes:
 * no crash, no leak, an accepted key has every field it promises, and no message
 * quotes the private key. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/error.h>

#include "../../plugins/backend-gcs/gcs_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gcs_sa_key key;
	if (gcs_sa_key_parse(&key, (const char *)data, size) == 0) {
		if (!key.client_email || !key.client_email[0] || !key.token_uri ||
		    strncmp(key.private_key, "-----BEGIN ", 11) != 0)
			abort();
		gcs_sa_key_free(&key);
	} else {
		const char *msg = coffer_error_last()->message;
		if (strstr(msg, "-----BEGIN"))
			abort();
	}
	return 0;
}
