/* The core: plugin registry and site configuration. */
#ifndef COFFER_CORE_H
#define COFFER_CORE_H

#include <coffer/common.h>
#include <coffer/error.h>
#include <coffer/config.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Process exit codes shared by every front-end (documented in docs/cli.md). */
#define COFFER_EXIT_OK 0
#define COFFER_EXIT_FAILURE 1
#define COFFER_EXIT_USAGE 2
#define COFFER_EXIT_AUTH 3
#define COFFER_EXIT_NOTFOUND 4
#define COFFER_EXIT_CORRUPT 5
#define COFFER_EXIT_TRANSIENT 6
/* Maps a COFFER_E* code to the exit code above. */
int coffer_exit_code(int err);

typedef struct coffer_core coffer_core;
struct coffer_plugin_descriptor;

typedef struct coffer_core_options {
	unsigned int version;        /* COFFER_CORE_OPTIONS_VERSION */
	const char *plugin_path;     /* NULL: $COFFER_PLUGIN_PATH, then pkglibdir */
	int no_default_path;         /* nonzero: do not search pkglibdir */
	const char *config_file;     /* libconfig site configuration, or NULL */
} coffer_core_options;
#define COFFER_CORE_OPTIONS_VERSION 1u
#define COFFER_CORE_OPTIONS_INIT { COFFER_CORE_OPTIONS_VERSION, NULL, 0, NULL }

/* Creates the core and scans for plugins: preloaded modules first, then each directory
 * of the search path. Files that are not valid plugins are recorded as load problems
 * (coffer_core_problem) rather than failing the whole scan. */
int coffer_core_new(coffer_core **out, const coffer_core_options *opts);
void coffer_core_free(coffer_core *core);

typedef struct coffer_plugin_info {
	const struct coffer_plugin_descriptor *descriptor;
	const char *file;   /* path it was loaded from, or "(preloaded)" */
} coffer_plugin_info;

size_t coffer_core_plugin_count(const coffer_core *core);
const coffer_plugin_info *coffer_core_plugin(const coffer_core *core, size_t i);
/* Plugins that were found but refused (bad ABI, not a shared object, ...). */
size_t coffer_core_problem_count(const coffer_core *core);
const char *coffer_core_problem(const coffer_core *core, size_t i);

/* Finds the plugin of `kind` (coffer_plugin_kind) serving `name` (scheme, codec name or
 * front-end name). COFFER_ENOTFOUND lists what is installed of that kind. */
int coffer_core_find(coffer_core *core, int kind, const char *name,
                     const coffer_plugin_info **out);
/* The site configuration (may be NULL), and the subtree for a plugin after checking
 * its keys against the plugin's declared options: `plugins = { backend-s3 = {...}; };` */
const coffer_config *coffer_core_config(const coffer_core *core);
int coffer_core_plugin_config(coffer_core *core, const struct coffer_plugin_descriptor *d,
                              const coffer_config **out);
/* The search path actually used, ':'-separated. */
const char *coffer_core_search_path(const coffer_core *core);

#ifdef __cplusplus
}
#endif
#endif
