/* Site configuration on libconfig. Nodes wrap libconfig settings; child nodes are owned
 * by the root and freed with it. */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <string.h>

#include <coffer/config.h>
#include <coffer/error.h>

struct coffer_config {
	config_t *lib;              /* only set on the root */
	config_setting_t *setting;
	struct coffer_config *root;
	struct coffer_config *next_child; /* list of all nodes, kept on the root */
	char where[300];
};

static void set_where(struct coffer_config *node)
{
	const char *file = config_setting_source_file(node->setting);
	snprintf(node->where, sizeof(node->where), "%s:%u", file ? file : "(config)",
	         config_setting_source_line(node->setting));
}

static int finish_root(coffer_config **out, config_t *lib)
{
	struct coffer_config *root = coffer_calloc(1, sizeof(*root));
	if (!root) {
		config_destroy(lib);
		coffer_free(lib);
		return COFFER_ENOMEM;
	}
	root->lib = lib;
	root->setting = config_root_setting(lib);
	root->root = root;
	set_where(root);
	*out = root;
	return 0;
}

int coffer_config_load(coffer_config **out, const char *path)
{
	*out = NULL;
	config_t *lib = coffer_malloc(sizeof(*lib));
	if (!lib)
		return COFFER_ENOMEM;
	config_init(lib);
	if (!config_read_file(lib, path)) {
		int rc;
		if (config_error_type(lib) == CONFIG_ERR_FILE_IO)
			rc = coffer_error_set_errno(errno == ENOENT ? COFFER_ENOTFOUND : COFFER_ERROR, errno,
			                            "cannot read configuration %s", path);
		else
			rc = coffer_error_set(COFFER_EINVALID, "%s:%d: %s", path, config_error_line(lib),
			                      config_error_text(lib));
		config_destroy(lib);
		coffer_free(lib);
		return rc;
	}
	return finish_root(out, lib);
}

int coffer_config_parse(coffer_config **out, const char *text, const char *origin)
{
	*out = NULL;
	config_t *lib = coffer_malloc(sizeof(*lib));
	if (!lib)
		return COFFER_ENOMEM;
	config_init(lib);
	if (!config_read_string(lib, text)) {
		int rc = coffer_error_set(COFFER_EINVALID, "%s:%d: %s", origin ? origin : "(config)",
		                          config_error_line(lib), config_error_text(lib));
		config_destroy(lib);
		coffer_free(lib);
		return rc;
	}
	return finish_root(out, lib);
}

void coffer_config_free(coffer_config *cfg)
{
	if (!cfg)
		return;
	struct coffer_config *root = cfg->root;
	struct coffer_config *node = root->next_child;
	while (node) {
		struct coffer_config *next = node->next_child;
		coffer_free(node);
		node = next;
	}
	config_destroy(root->lib);
	coffer_free(root->lib);
	coffer_free(root);
}

int coffer_config_group(const coffer_config *cfg, const char *name, const coffer_config **out)
{
	*out = NULL;
	if (!cfg)
		return 0;
	config_setting_t *child = config_setting_get_member(cfg->setting, name);
	if (!child)
		return 0;
	if (!config_setting_is_group(child))
		return coffer_error_set(COFFER_EINVALID, "%s: '%s' must be a group { ... }", cfg->where,
		                        name);
	struct coffer_config *root = cfg->root;
	for (struct coffer_config *n = root->next_child; n; n = n->next_child)
		if (n->setting == child) {
			*out = n;
			return 0;
		}
	struct coffer_config *node = coffer_calloc(1, sizeof(*node));
	if (!node)
		return COFFER_ENOMEM;
	node->setting = child;
	node->root = root;
	set_where(node);
	node->next_child = root->next_child;
	root->next_child = node;
	*out = node;
	return 0;
}

static config_setting_t *member(const coffer_config *cfg, const char *name)
{
	return cfg ? config_setting_get_member(cfg->setting, name) : NULL;
}

static int wrong_type(const config_setting_t *s, const char *name, const char *want)
{
	const char *file = config_setting_source_file(s);
	return coffer_error_set(COFFER_EINVALID, "%s:%u: '%s' must be %s", file ? file : "(config)",
	                        config_setting_source_line(s), name, want);
}

int coffer_config_string(const coffer_config *cfg, const char *name, const char **out)
{
	config_setting_t *s = member(cfg, name);
	if (!s)
		return COFFER_ENOTFOUND;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return wrong_type(s, name, "a string");
	*out = config_setting_get_string(s);
	return 0;
}

int coffer_config_int(const coffer_config *cfg, const char *name, long long *out)
{
	config_setting_t *s = member(cfg, name);
	if (!s)
		return COFFER_ENOTFOUND;
	int type = config_setting_type(s);
	if (type == CONFIG_TYPE_INT)
		*out = config_setting_get_int(s);
	else if (type == CONFIG_TYPE_INT64)
		*out = config_setting_get_int64(s);
	else
		return wrong_type(s, name, "an integer");
	return 0;
}

int coffer_config_bool(const coffer_config *cfg, const char *name, int *out)
{
	config_setting_t *s = member(cfg, name);
	if (!s)
		return COFFER_ENOTFOUND;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return wrong_type(s, name, "true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

int coffer_config_count(const coffer_config *cfg)
{
	return cfg ? config_setting_length(cfg->setting) : 0;
}

const char *coffer_config_member_name(const coffer_config *cfg, int i)
{
	config_setting_t *s = cfg ? config_setting_get_elem(cfg->setting, (unsigned)i) : NULL;
	return s ? config_setting_name(s) : NULL;
}

const char *coffer_config_member_string(const coffer_config *cfg, int i)
{
	config_setting_t *s = cfg ? config_setting_get_elem(cfg->setting, (unsigned)i) : NULL;
	return s && config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
}

const char *coffer_config_where(const coffer_config *cfg)
{
	return cfg ? cfg->where : "(no config)";
}

static int type_matches(int libtype, coffer_option_type want)
{
	switch (want) {
	case COFFER_OPT_STRING: return libtype == CONFIG_TYPE_STRING;
	case COFFER_OPT_INT: return libtype == CONFIG_TYPE_INT || libtype == CONFIG_TYPE_INT64;
	case COFFER_OPT_BOOL: return libtype == CONFIG_TYPE_BOOL;
	case COFFER_OPT_GROUP: return libtype == CONFIG_TYPE_GROUP;
	case COFFER_OPT_LIST: return libtype == CONFIG_TYPE_LIST || libtype == CONFIG_TYPE_ARRAY;
	}
	return 0;
}

static const char *type_name(coffer_option_type t)
{
	switch (t) {
	case COFFER_OPT_STRING: return "a string";
	case COFFER_OPT_INT: return "an integer";
	case COFFER_OPT_BOOL: return "true or false";
	case COFFER_OPT_GROUP: return "a group { ... }";
	case COFFER_OPT_LIST: return "a list ( ... )";
	}
	return "?";
}

int coffer_config_check(const coffer_config *cfg, const coffer_option *allowed, const char *owner)
{
	int n = coffer_config_count(cfg);
	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(cfg->setting, (unsigned)i);
		const char *name = config_setting_name(s);
		const char *file = config_setting_source_file(s);
		unsigned line = config_setting_source_line(s);
		const coffer_option *opt = NULL;
		for (const coffer_option *o = allowed; o && o->name; o++)
			if (name && strcmp(o->name, name) == 0)
				opt = o;
		if (!opt) {
			char known[512] = "";
			size_t used = 0;
			for (const coffer_option *o = allowed; o && o->name && used < sizeof(known); o++)
				used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
				                         used ? ", " : "", o->name);
			return coffer_error_set(COFFER_EINVALID, "%s:%u: unknown key '%s' for %s (known: %s)",
			                        file ? file : "(config)", line, name ? name : "?", owner,
			                        known[0] ? known : "none");
		}
		if (!type_matches(config_setting_type(s), opt->type))
			return coffer_error_set(COFFER_EINVALID, "%s:%u: '%s' for %s must be %s",
			                        file ? file : "(config)", line, name, owner,
			                        type_name(opt->type));
	}
	return 0;
}
