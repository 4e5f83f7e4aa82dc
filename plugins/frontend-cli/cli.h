/* The CLI front-end: command table and shared helpers. */
#ifndef COFFER_CLI_H
#define COFFER_CLI_H

#include <stdio.h>

#include <coffer/coffer.h>
#include <coffer/json.h>

typedef struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(coffer_core *core, int argc, char **argv);
} cli_command;

/* One accepted option. Exactly one of value / flag / add is set. */
typedef struct cli_option {
	const char *name;          /* "--repository" */
	const char **value;        /* takes an argument: stored here */
	int *flag;                 /* no argument: set to 1 */
	void (*add)(void *ud, const char *arg); /* repeatable, takes an argument */
	void *add_ud;
} cli_option;

/* Options every repository command accepts. */
typedef struct cli_repo_args {
	const char *repository;
	const char *password_file;
	const char *cache_dir;
	const char *cache_capacity;
	const char *ca_file;
	const char *parallel;
	int json;
} cli_repo_args;

#define CLI_REPO_OPTIONS(a)                                                           \
	{ "--repository", &(a)->repository, NULL, NULL, NULL },                        \
	{ "--password-file", &(a)->password_file, NULL, NULL, NULL },                  \
	{ "--cache-dir", &(a)->cache_dir, NULL, NULL, NULL },                          \
	{ "--cache-capacity", &(a)->cache_capacity, NULL, NULL, NULL },                \
	{ "--ca-file", &(a)->ca_file, NULL, NULL, NULL },                              \
	{ "--parallel", &(a)->parallel, NULL, NULL, NULL },                            \
	{ "--json", NULL, &(a)->json, NULL, NULL }

/* Parses argv[first..]: options from `opts` (NULL name ends the table) in any position,
 * "--name value" or "--name=value"; the rest are positionals (pointers into argv). Prints
 * the problem and `usage` and returns COFFER_EXIT_USAGE on a bad option; "--help" prints
 * usage and returns -1. */
int cli_parse(int argc, char **argv, int first, const cli_option *opts, char **positional, int *npos,
              int max_pos, const char *usage);

/* Opens (or, with create, creates) the repository the arguments name. Returns an exit code. */
int cli_open_repo(coffer_core *core, const cli_repo_args *a, int create, const char *compression,
                  coffer_repo **out);
/* Parses a non-negative integer argument; prints an error naming the option. */
int cli_uint(const char *option, const char *text, unsigned long long max, unsigned long long *out);

/* Prints "coffer: <message>" for the last error and returns its exit code. */
int cli_fail(int rc);

/* Human-readable byte count ("1.5 GiB"). */
void cli_format_bytes(uint64_t n, char out[32]);

/* Progress line on a tty; nothing otherwise. */
void cli_progress_event(const coffer_event *ev, void *ud);
void cli_progress_done(void);

int cli_plugins(coffer_core *core, int argc, char **argv);
int cli_repository(coffer_core *core, int argc, char **argv);
int cli_snapshot(coffer_core *core, int argc, char **argv);
int cli_snapshot_expire(coffer_core *core, int argc, char **argv);
int cli_restore(coffer_core *core, int argc, char **argv);
int cli_ls(coffer_core *core, int argc, char **argv);
int cli_cat(coffer_core *core, int argc, char **argv);
int cli_diff(coffer_core *core, int argc, char **argv);
int cli_maintenance(coffer_core *core, int argc, char **argv);

void cli_json_snapshot(coffer_json *j, const coffer_snapshot_info *s);

#endif
