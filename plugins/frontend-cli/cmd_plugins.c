/* `coffer plugins [--json]`: every installed plugin, and files that failed to load. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <coffer/sys/plugin.h>
#include <coffer/sys/backend.h>
#include <coffer/sys/codec.h>
#include <coffer/sys/frontend.h>
#include <coffer/sys/hook.h>

#include "cli.h"

static const char *kind_name(int kind)
{
	switch (kind) {
	case COFFER_PLUGIN_BACKEND: return "backend";
	case COFFER_PLUGIN_CODEC: return "codec";
	case COFFER_PLUGIN_HOOK: return "hook";
	case COFFER_PLUGIN_FRONTEND: return "frontend";
	default: return "unknown";
	}
}

static unsigned vtable_version(const coffer_plugin_descriptor *d)
{
	return *(const unsigned int *)d->vtable;
}

int cli_plugins(coffer_core *core, int argc, char **argv)
{
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: coffer plugins [--json]\n");
			return COFFER_EXIT_OK;
		} else {
			fprintf(stderr, "coffer plugins: unknown option '%s'\n", argv[i]);
			return COFFER_EXIT_USAGE;
		}
	}
	size_t n = coffer_core_plugin_count(core);
	if (json) {
		coffer_json j;
		coffer_json_init(&j, stdout, 1);
		coffer_json_object_begin(&j);
		coffer_json_key(&j, "abiVersion");
		coffer_json_uint(&j, COFFER_ABI_VERSION);
		coffer_json_key(&j, "searchPath");
		coffer_json_string(&j, coffer_core_search_path(core));
		coffer_json_key(&j, "plugins");
		coffer_json_array_begin(&j);
		for (size_t i = 0; i < n; i++) {
			const coffer_plugin_info *info = coffer_core_plugin(core, i);
			const coffer_plugin_descriptor *d = info->descriptor;
			coffer_json_object_begin(&j);
			coffer_json_key(&j, "kind");
			coffer_json_string(&j, kind_name(d->kind));
			coffer_json_key(&j, "name");
			coffer_json_string(&j, d->name);
			coffer_json_key(&j, "names");
			coffer_json_array_begin(&j);
			for (const char *const *nm = d->names; *nm; nm++)
				coffer_json_string(&j, *nm);
			if (d->kind == COFFER_PLUGIN_CODEC) {
				const coffer_codec_vtable *vt = d->vtable;
				for (const coffer_codec_variant *v = vt->variants; v && v->name; v++)
					coffer_json_string(&j, v->name);
			}
			coffer_json_array_end(&j);
			if (d->kind == COFFER_PLUGIN_CODEC) {
				const coffer_codec_vtable *vt = d->vtable;
				coffer_json_key(&j, "codecId");
				coffer_json_uint(&j, vt->id);
				coffer_json_key(&j, "levels");
				coffer_json_object_begin(&j);
				coffer_json_key(&j, "min");
				coffer_json_int(&j, vt->min_level);
				coffer_json_key(&j, "max");
				coffer_json_int(&j, vt->max_level);
				coffer_json_key(&j, "default");
				coffer_json_int(&j, vt->default_level);
				coffer_json_object_end(&j);
			}
			coffer_json_key(&j, "abiVersion");
			coffer_json_uint(&j, d->abi_version);
			coffer_json_key(&j, "vtableVersion");
			coffer_json_uint(&j, vtable_version(d));
			coffer_json_key(&j, "description");
			coffer_json_string(&j, d->description);
			coffer_json_key(&j, "file");
			coffer_json_string(&j, info->file);
			coffer_json_object_end(&j);
		}
		coffer_json_array_end(&j);
		coffer_json_key(&j, "problems");
		coffer_json_array_begin(&j);
		for (size_t i = 0; i < coffer_core_problem_count(core); i++)
			coffer_json_string(&j, coffer_core_problem(core, i));
		coffer_json_array_end(&j);
		coffer_json_object_end(&j);
		coffer_json_finish(&j);
		return COFFER_EXIT_OK;
	}
	printf("%-9s %-20s %-34s %-4s %s\n", "KIND", "NAME", "SERVES", "ABI", "FILE");
	for (size_t i = 0; i < n; i++) {
		const coffer_plugin_info *info = coffer_core_plugin(core, i);
		const coffer_plugin_descriptor *d = info->descriptor;
		char serves[256];
		size_t used = 0;
		serves[0] = '\0';
		for (const char *const *nm = d->names; *nm && used < sizeof(serves); nm++)
			used += (size_t)snprintf(serves + used, sizeof(serves) - used, "%s%s%s", used ? "," : "",
			                         *nm, d->kind == COFFER_PLUGIN_BACKEND ? "://" : "");
		printf("%-9s %-20s %-34s %-4u %s\n", kind_name(d->kind), d->name, serves, d->abi_version,
		       info->file);
	}
	for (size_t i = 0; i < coffer_core_problem_count(core); i++)
		fprintf(stderr, "warning: %s\n", coffer_core_problem(core, i));
	return COFFER_EXIT_OK;
}
