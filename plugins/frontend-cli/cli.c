/* The human command-line front-end: dispatch by command word. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <coffer/sys/frontend.h>

#include "cli.h"

static const cli_command commands[] = {
	{ "plugins", "list installed plugins", cli_plugins },
	{ "repository", "create a repository, show its status, change its password", cli_repository },
	{ "snapshot", "create, list, delete, verify, pin and unpin snapshots", cli_snapshot },
	{ "restore", "restore a snapshot (by id, or the latest eligible) into a directory", cli_restore },
	{ "ls", "list a directory of a snapshot", cli_ls },
	{ "cat", "print a file of a snapshot", cli_cat },
	{ "diff", "compare two snapshots", cli_diff },
	{ "maintenance", "compact the index and collect garbage (run, info)", cli_maintenance },
};

static void cli_usage(FILE *out)
{
	fprintf(out, "usage: coffer COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

static int cli_main(coffer_core *core, int argc, char **argv)
{
	/* Reached as `coffer cli COMMAND ...` or directly as `coffer COMMAND ...`. */
	if (argc > 0 && strcmp(argv[0], "cli") == 0) {
		argc--;
		argv++;
	}
	if (argc < 1) {
		cli_usage(stderr);
		return COFFER_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			return commands[i].run(core, argc, argv);
	fprintf(stderr, "coffer: unknown command '%s'\n", argv[0]);
	cli_usage(stderr);
	return COFFER_EXIT_USAGE;
}

static const coffer_frontend_vtable cli_vtable = {
	.version = COFFER_FRONTEND_VTABLE_VERSION,
	.main = cli_main,
};

static const char *const cli_names[] = { "cli", "plugins", "repository", "snapshot", "restore", "ls",
	                                  "cat", "diff", "maintenance", NULL };

COFFER_PLUGIN_DEFINE(frontend_cli) = {
	COFFER_PLUGIN_MAGIC, COFFER_ABI_VERSION, COFFER_PLUGIN_FRONTEND, "frontend-cli",
	"command-line interface: repository, snapshot, restore, ...", cli_names, NULL, &cli_vtable,
};
