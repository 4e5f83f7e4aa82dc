// FUZZ_SOURCES: plugins/frontend-controller/ctl_json.c plugins/backend-gcs/gcs_json.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* The controller's parser of the mover's last stdout line on arbitrary bytes: no crash, every
 * field terminated, and a parsed line always has a result. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../../plugins/frontend-controller/controller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ctl_mover_report r;
	if (ctl_mover_report_parse((const char *)data, size, &r) == 0) {
		if (!r.result[0] || memchr(r.result, 0, sizeof(r.result)) == NULL ||
		    memchr(r.error, 0, sizeof(r.error)) == NULL || memchr(r.source, 0, sizeof(r.source)) == NULL ||
		    memchr(r.snapshot_id, 0, sizeof(r.snapshot_id)) == NULL)
			abort();
	}
	return 0;
}
