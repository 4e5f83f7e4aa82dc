// FUZZ_SOURCES: core/src/tree.c core/src/timefmt.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* The snapshot manifest decoder, the manifest blob-name parser and the RFC 3339 parser
 * (restoreAsOf comes from a user's manifest) on arbitrary bytes: no crash, no leak, a
 * decoded manifest re-encodes canonically, and a parsed time formats back to itself. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_manifest(const uint8_t *data, size_t size)
{
	coffer_manifest m, again;
	coffer_buf encoded = COFFER_BUF_INIT;
	size_t skipped = 0;

	if (coffer_manifest_decode_ex(data, size, &m, &skipped) != 0)
		return;
	if (coffer_manifest_encode(&m, &encoded) != 0)
		abort();
	if (skipped == 0 && (encoded.len != size || memcmp(encoded.data, data, size) != 0))
		abort();
	if (coffer_manifest_decode(encoded.data, encoded.len, &again) != 0)
		abort();
	if (strcmp(again.info.id, m.info.id) != 0 || strcmp(again.info.source, m.info.source) != 0 ||
	    again.info.start_time_ns != m.info.start_time_ns || again.root.count != m.root.count)
		abort();
	coffer_manifest_clear(&again);
	coffer_manifest_clear(&m);
	coffer_buf_free(&encoded);
}

static void check_text(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char key[COFFER_MANIFEST_SOURCE_KEY_HEX + 1], id[COFFER_SNAPSHOT_ID_HEX + 1], name[160];
	char formatted[40];
	int64_t ns, back;

	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (coffer_manifest_name_parse(text, key, &ns, id) == 0) {
		if (coffer_manifest_name_format(name, sizeof(name), key, ns, id) != 0 || strcmp(name, text) != 0)
			abort();
	}
	if (coffer_time_parse_rfc3339(text, &ns) == 0) {
		coffer_time_format_rfc3339(ns, formatted);
		if (coffer_time_parse_rfc3339(formatted, &back) != 0 || back != ns)
			abort();
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_manifest(data, size);
	check_text(data, size);
	return 0;
}
