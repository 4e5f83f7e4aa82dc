/* Site configuration (libconfig). Each plugin sees only its own subtree, and the core
 * rejects keys the plugin did not declare. */
#ifndef COFFER_CONFIG_H
#define COFFER_CONFIG_H

#include <coffer/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum coffer_option_type {
	COFFER_OPT_STRING = 1,
	COFFER_OPT_INT = 2,
	COFFER_OPT_BOOL = 3,
	COFFER_OPT_GROUP = 4,  /* a nested group; the plugin validates its members itself */
	COFFER_OPT_LIST = 5    /* a list or array of strings */
} coffer_option_type;

typedef struct coffer_option {
	const char *name;   /* NULL name ends the table */
	coffer_option_type type;
	const char *help;
} coffer_option;

/* A node of the site configuration: the root, or a subtree handed to a plugin. */
typedef struct coffer_config coffer_config;

/* Loads a libconfig file. Errors name the file and line. */
int coffer_config_load(coffer_config **out, const char *path);
/* Parses libconfig text (for tests and `--config-string`). */
int coffer_config_parse(coffer_config **out, const char *text, const char *origin);
void coffer_config_free(coffer_config *cfg);

/* A child group; *out is NULL (and 0 returned) when absent. The child belongs to `cfg`. */
int coffer_config_group(const coffer_config *cfg, const char *name, const coffer_config **out);
/* Scalar lookups; return COFFER_ENOTFOUND when absent, COFFER_EINVALID on wrong type. */
int coffer_config_string(const coffer_config *cfg, const char *name, const char **out);
int coffer_config_int(const coffer_config *cfg, const char *name, long long *out);
int coffer_config_bool(const coffer_config *cfg, const char *name, int *out);
/* Number of members of a group, and the name/string value of the i-th (for maps such as
 * `volumes = { pvc = "/dir"; }`). */
int coffer_config_count(const coffer_config *cfg);
const char *coffer_config_member_name(const coffer_config *cfg, int i);
const char *coffer_config_member_string(const coffer_config *cfg, int i);
/* Where the node came from: "file:line", for messages. */
const char *coffer_config_where(const coffer_config *cfg);
/* Checks every member against `allowed`; the error names the unknown key and where it is. */
int coffer_config_check(const coffer_config *cfg, const coffer_option *allowed, const char *owner);

#ifdef __cplusplus
}
#endif
#endif
