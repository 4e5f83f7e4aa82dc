/* Internals of the core handle shared by the core's own files. */
#ifndef COFFER_REGISTRY_PRIVATE_H
#define COFFER_REGISTRY_PRIVATE_H

#include <coffer/core.h>
#include <coffer/sys/plugin.h>

#include "dl.h"

typedef struct coffer_plugin_entry {
	coffer_plugin_info info;
	coffer_dl_module *module;
	char *file;
} coffer_plugin_entry;

struct coffer_core {
	coffer_plugin_entry *plugins;
	size_t plugin_count, plugin_cap;
	char **problems;
	size_t problem_count, problem_cap;
	coffer_config *config;
	char *search_path;
};

const char *coffer_plugin_kind_name(int kind);
/* Appends "name (plugin), ..." for every plugin of `kind` to buf. */
void coffer_core_describe_kind(const coffer_core *core, int kind, char *buf, size_t cap);

#endif
