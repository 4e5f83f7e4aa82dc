/* The mover's last stdout line, a flat JSON object (docs/mover.md, "Output"), read with the
 * strict JSON reader backend-gcs already has (plugins/backend-gcs/gcs_json.c, linked in).
 * Unknown keys are skipped; anything that is not an object with a "result" string is not
 * the mover's line. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/error.h>

#include "../backend-gcs/gcs_json.h"
#include "controller.h"

static void copy_string(const gcs_json *obj, const char *key, char *out, size_t cap)
{
	const char *s = gcs_json_string(gcs_json_get(obj, key));
	snprintf(out, cap, "%s", s ? s : "");
}

int ctl_mover_report_parse(const char *line, size_t len, ctl_mover_report *r)
{
	memset(r, 0, sizeof(*r));
	gcs_json *doc = NULL;
	if (gcs_json_parse(&doc, line, len) != 0) {
		coffer_error_clear();
		return -1;
	}
	int rc = -1;
	if (doc->type == GCS_JSON_OBJECT && gcs_json_string(gcs_json_get(doc, "result"))) {
		copy_string(doc, "result", r->result, sizeof(r->result));
		copy_string(doc, "operation", r->operation, sizeof(r->operation));
		copy_string(doc, "source", r->source, sizeof(r->source));
		copy_string(doc, "snapshotId", r->snapshot_id, sizeof(r->snapshot_id));
		copy_string(doc, "lastMaintenance", r->last_maintenance, sizeof(r->last_maintenance));
		copy_string(doc, "error", r->error, sizeof(r->error));
		if (gcs_json_uint64(gcs_json_get(doc, "bytes"), &r->bytes) != 0 ||
		    gcs_json_uint64(gcs_json_get(doc, "files"), &r->files) != 0)
			coffer_error_clear();
		const gcs_json *created = gcs_json_get(doc, "repositoryCreated");
		r->repository_created = created && created->type == GCS_JSON_BOOL && created->boolean;
		const gcs_json *duration = gcs_json_get(doc, "durationSeconds");
		if (duration && duration->type == GCS_JSON_NUMBER)
			r->duration_s = strtod(duration->text, NULL);
		rc = r->result[0] ? 0 : -1;
	}
	gcs_json_free(doc);
	return rc;
}
