// FUZZ_SOURCES: plugins/frontend-controller/ctl_manifest.c core/src/timefmt.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS: -lyaml -lcrypto
// FUZZ_CORPUS: tests/data/manifests
/* The controller's VolSync manifest reader on arbitrary YAML: no crash, no leak, no hang on
 * aliases; every kept object is complete and every message names its origin. The first line
 * also goes through the Kubernetes quantity parser. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../../plugins/frontend-controller/ctl_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_messages(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(list[i], "fuzz.yaml: ", 11) != 0)
			abort();
}

static void check_quantity(const uint8_t *data, size_t size)
{
	char text[64];
	size_t n = 0;
	while (n < size && n < sizeof(text) - 1 && data[n] != '\n')
		n++;
	memcpy(text, data, n);
	text[n] = '\0';
	uint64_t v = 0;
	int rc = ctl_parse_quantity(text, &v);
	if (rc != 0 && rc != -1)
		abort();
	/* Plain digits mean bytes exactly. */
	if (n && strspn(text, "0123456789") == n && n < 20 && (rc != 0 || v != strtoull(text, NULL, 10)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ctl_manifests m = { 0 };
	if (ctl_manifests_parse(&m, "fuzz.yaml", (const char *)data, size) != 0) {
		ctl_manifests_clear(&m);
		return 0;
	}
	for (size_t i = 0; i < m.object_count; i++) {
		const ctl_replication *r = &m.objects[i];
		if (!r->name || !r->namespace_ || (r->kind == CTL_KIND_SOURCE && !r->repository))
			abort();
		if (r->kind == CTL_KIND_SOURCE && !r->source_pvc)
			abort();
		if (strlen(r->digest) != 64 || strspn(r->digest, "0123456789abcdef") != 64)
			abort();
		if (strcmp(r->origin.file, "fuzz.yaml") != 0 || r->origin.document == 0 || r->origin.line == 0)
			abort();
		if (r->source_path_override && r->source_path_override[0] != '/')
			abort();
		for (size_t j = 0; j < i; j++)
			if (m.objects[j].kind == r->kind && strcmp(m.objects[j].name, r->name) == 0 &&
			    strcmp(m.objects[j].namespace_, r->namespace_) == 0)
				abort();
	}
	for (size_t i = 0; i < m.data_count; i++) {
		const ctl_data_object *d = &m.data[i];
		if (ctl_manifests_find_data(&m, d->is_secret, d->namespace_, d->name) != d)
			abort();
		for (size_t j = 0; j < d->count; j++) {
			if (d->items[j].value[d->items[j].len] != '\0')
				abort();
			if (ctl_data_get(d, d->items[j].key) != &d->items[j])
				abort();
		}
	}
	check_messages(m.errors, m.error_count);
	check_messages(m.warnings, m.warning_count);
	ctl_manifests_clear(&m);
	check_quantity(data, size);
	return 0;
}
