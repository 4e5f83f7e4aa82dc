/* The CLI front-end: command table and shared helpers. */
#ifndef COFFER_CLI_H
#define COFFER_CLI_H

#include <coffer/coffer.h>
#include <coffer/json.h>

typedef struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(coffer_core *core, int argc, char **argv);
} cli_command;

int cli_plugins(coffer_core *core, int argc, char **argv);

/* Prints "coffer: <message>" for the last error and returns its exit code. */
int cli_fail(int rc);

#endif
