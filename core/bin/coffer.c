/* The coffer executable: start the core, pick the front-end named by the first argument
 * (a front-end also answers to its command words, so `coffer snapshot ...` reaches the
 * CLI), and hand it argv. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <coffer/core.h>
#include <coffer/sys/frontend.h>
#include <coffer/sys/plugin.h>
#include <coffer/sys/preload.h>

static void usage(FILE *out, coffer_core *core)
{
	fprintf(out, "usage: coffer [--version] [--help] COMMAND [ARGS...]\n\ncommands:\n");
	if (!core)
		return;
	for (size_t i = 0; i < coffer_core_plugin_count(core); i++) {
		const coffer_plugin_descriptor *d = coffer_core_plugin(core, i)->descriptor;
		if (d->kind != COFFER_PLUGIN_FRONTEND)
			continue;
		fprintf(out, "  %-12s", d->name);
		for (const char *const *n = d->names; *n; n++)
			fprintf(out, " %s", *n);
		fprintf(out, "\n");
	}
	fprintf(out, "\nRun `coffer COMMAND --help` for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("coffer %s (plugin ABI %u)\n", coffer_version(), COFFER_ABI_VERSION);
		return COFFER_EXIT_OK;
	}
	COFFER_SET_PRELOADED_PLUGINS();
	coffer_core *core;
	coffer_core_options opts = COFFER_CORE_OPTIONS_INIT;
	int rc = coffer_core_new(&core, &opts);
	if (rc) {
		fprintf(stderr, "coffer: %s\n", coffer_error_last()->message);
		return coffer_exit_code(rc);
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout, core);
		coffer_core_free(core);
		return argc < 2 ? COFFER_EXIT_USAGE : COFFER_EXIT_OK;
	}
	const coffer_plugin_info *info;
	rc = coffer_core_find(core, COFFER_PLUGIN_FRONTEND, argv[1], &info);
	if (rc) {
		fprintf(stderr, "coffer: unknown command '%s': %s\n", argv[1], coffer_error_last()->message);
		for (size_t i = 0; i < coffer_core_problem_count(core); i++)
			fprintf(stderr, "coffer: warning: %s\n", coffer_core_problem(core, i));
		coffer_core_free(core);
		return COFFER_EXIT_USAGE;
	}
	const coffer_frontend_vtable *vt = info->descriptor->vtable;
	int status = vt->main(core, argc - 1, argv + 1);
	coffer_core_free(core);
	return status;
}
