/* The registry: finds plugin modules, checks their ABI, and maps names (URL schemes,
 * codec names, front-end names) to them. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <coffer/core.h>
#include <coffer/sys/backend.h>
#include <coffer/sys/codec.h>
#include <coffer/sys/frontend.h>
#include <coffer/sys/hook.h>
#include <coffer/sys/plugin.h>

#include <coffer/sys/preload.h>

#include "registry_private.h"

#ifndef COFFER_PKGLIBDIR
#define COFFER_PKGLIBDIR "/usr/local/lib/coffer"
#endif

void coffer_core_set_preloaded(const void *symlist)
{
	coffer_dl_set_preloaded(symlist);
}

const char *coffer_plugin_kind_name(int kind)
{
	switch (kind) {
	case COFFER_PLUGIN_BACKEND: return "backend";
	case COFFER_PLUGIN_CODEC: return "codec";
	case COFFER_PLUGIN_HOOK: return "hook";
	case COFFER_PLUGIN_FRONTEND: return "frontend";
	default: return "unknown";
	}
}

static unsigned supported_vtable_version(int kind)
{
	switch (kind) {
	case COFFER_PLUGIN_BACKEND: return COFFER_BACKEND_VTABLE_VERSION;
	case COFFER_PLUGIN_CODEC: return COFFER_CODEC_VTABLE_VERSION;
	case COFFER_PLUGIN_HOOK: return COFFER_HOOK_VTABLE_VERSION;
	case COFFER_PLUGIN_FRONTEND: return COFFER_FRONTEND_VTABLE_VERSION;
	default: return 0;
	}
}

static void add_problem(coffer_core *core, const char *fmt, ...) COFFER_PRINTF(2, 3);
static void add_problem(coffer_core *core, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (core->problem_count == core->problem_cap) {
		size_t cap = core->problem_cap ? core->problem_cap * 2 : 8;
		char **p = realloc(core->problems, cap * sizeof(*p));
		if (!p)
			return;
		core->problems = p;
		core->problem_cap = cap;
	}
	char *copy = strdup(msg);
	if (copy)
		core->problems[core->problem_count++] = copy;
}

/* The load-time ABI check: a distinct message for each kind of mismatch. */
static int check_descriptor(coffer_core *core, const char *where, const void *symbol)
{
	const coffer_plugin_descriptor *d = symbol;
	if (!d) {
		add_problem(core, "%s: exports no '%s' descriptor; not a coffer plugin", where,
		            COFFER_PLUGIN_SYMBOL);
		return -1;
	}
	if (d->magic != COFFER_PLUGIN_MAGIC) {
		add_problem(core, "%s: descriptor has magic 0x%08x, expected 0x%08x; not a coffer plugin",
		            where, (unsigned)d->magic, (unsigned)COFFER_PLUGIN_MAGIC);
		return -1;
	}
	if (d->abi_version != COFFER_ABI_VERSION) {
		add_problem(core,
		            "%s: plugin built for coffer plugin ABI version %u, but this coffer uses ABI "
		            "version %u; rebuild the plugin against this coffer",
		            where, d->abi_version, COFFER_ABI_VERSION);
		return -1;
	}
	unsigned supported = supported_vtable_version(d->kind);
	if (!supported) {
		add_problem(core, "%s: unknown plugin kind %d", where, (int)d->kind);
		return -1;
	}
	if (!d->name || !d->names || !d->names[0] || !d->vtable) {
		add_problem(core, "%s: descriptor lacks a name, served names or a vtable", where);
		return -1;
	}
	unsigned vt_version = *(const unsigned int *)d->vtable;
	if (vt_version == 0 || vt_version > supported) {
		add_problem(core,
		            "%s: %s vtable version %u is not supported by this coffer (supports 1 to %u)",
		            where, coffer_plugin_kind_name(d->kind), vt_version, supported);
		return -1;
	}
	for (size_t i = 0; i < core->plugin_count; i++)
		if (strcmp(core->plugins[i].info.descriptor->name, d->name) == 0) {
			add_problem(core, "%s: plugin '%s' is already loaded from %s; this copy is ignored",
			            where, d->name, core->plugins[i].file);
			return -1;
		}
	return 0;
}

static void on_module(coffer_dl_module *mod, const char *where, const void *symbol, void *ud)
{
	coffer_core *core = ud;
	if (check_descriptor(core, where, symbol) != 0) {
		coffer_dl_close(mod);
		return;
	}
	if (core->plugin_count == core->plugin_cap) {
		size_t cap = core->plugin_cap ? core->plugin_cap * 2 : 16;
		coffer_plugin_entry *p = realloc(core->plugins, cap * sizeof(*p));
		if (!p) {
			coffer_dl_close(mod);
			return;
		}
		core->plugins = p;
		core->plugin_cap = cap;
	}
	coffer_plugin_entry *e = &core->plugins[core->plugin_count++];
	e->module = mod;
	e->file = strdup(where);
	e->info.descriptor = symbol;
	e->info.file = e->file;
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_directory(coffer_core *core, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		add_problem(core, "plugin directory %s: %s", dir, strerror(errno));
		return;
	}
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *ent;
	while ((ent = readdir(d)) != NULL) {
		const char *n = ent->d_name;
		if (n[0] == '.' || !(has_suffix(n, ".la") || has_suffix(n, ".so")))
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 32;
			char **p = realloc(names, cap * sizeof(*p));
			if (!p)
				break;
			names = p;
		}
		names[count] = strdup(n);
		if (names[count])
			count++;
	}
	closedir(d);
	qsort(names, count, sizeof(*names), compare_names);
	for (size_t i = 0; i < count; i++) {
		/* An installed module usually comes as both x.la and x.so: load it once. */
		if (has_suffix(names[i], ".so")) {
			size_t stem = strlen(names[i]) - 3;
			int has_la = 0;
			for (size_t j = 0; j < count; j++)
				if (strlen(names[j]) == stem + 3 && strncmp(names[j], names[i], stem) == 0 &&
				    has_suffix(names[j], ".la"))
					has_la = 1;
			if (has_la)
				continue;
		}
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		coffer_dl_module *mod;
		const void *symbol;
		if (coffer_dl_open(path, &mod, &symbol) != 0) {
			add_problem(core, "%s", coffer_error_last()->message);
			continue;
		}
		on_module(mod, path, symbol, core);
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

static int build_search_path(coffer_core *core, const coffer_core_options *opts)
{
	const char *user = opts && opts->plugin_path ? opts->plugin_path : getenv("COFFER_PLUGIN_PATH");
	int with_default = !(opts && opts->no_default_path);
	size_t n = (user ? strlen(user) : 0) + strlen(COFFER_PKGLIBDIR) + 2;
	core->search_path = malloc(n);
	if (!core->search_path)
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	snprintf(core->search_path, n, "%s%s%s", user ? user : "",
	         user && user[0] && with_default ? ":" : "", with_default ? COFFER_PKGLIBDIR : "");
	return 0;
}

int coffer_core_new(coffer_core **out, const coffer_core_options *opts)
{
	*out = NULL;
	if (opts && (opts->version == 0 || opts->version > COFFER_CORE_OPTIONS_VERSION))
		return coffer_error_set(COFFER_EINVALID, "coffer_core_options version %u not supported",
		                        opts->version);
	coffer_core *core = calloc(1, sizeof(*core));
	if (!core)
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	int rc = coffer_dl_init();
	if (rc) {
		free(core);
		return rc;
	}
	if ((rc = build_search_path(core, opts)) != 0)
		goto fail;
	const char *config_file = opts && opts->config_file ? opts->config_file : getenv("COFFER_CONFIG");
	if (config_file && config_file[0] && (rc = coffer_config_load(&core->config, config_file)) != 0)
		goto fail;

	coffer_dl_foreach_preloaded(on_module, core);
	char *path = strdup(core->search_path);
	if (!path) {
		rc = coffer_error_set(COFFER_ENOMEM, "out of memory");
		goto fail;
	}
	char *save = NULL;
	for (char *dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		struct stat st;
		/* The compiled-in default may legitimately be absent in a build tree. */
		if (strcmp(dir, COFFER_PKGLIBDIR) == 0 && stat(dir, &st) != 0)
			continue;
		scan_directory(core, dir);
	}
	free(path);
	*out = core;
	return 0;
fail:
	coffer_core_free(core);
	return rc;
}

void coffer_core_free(coffer_core *core)
{
	if (!core)
		return;
	for (size_t i = 0; i < core->plugin_count; i++) {
		coffer_dl_close(core->plugins[i].module);
		free(core->plugins[i].file);
	}
	free(core->plugins);
	for (size_t i = 0; i < core->problem_count; i++)
		free(core->problems[i]);
	free(core->problems);
	coffer_config_free(core->config);
	free(core->search_path);
	free(core);
	coffer_dl_exit();
}

size_t coffer_core_plugin_count(const coffer_core *core)
{
	return core->plugin_count;
}

const coffer_plugin_info *coffer_core_plugin(const coffer_core *core, size_t i)
{
	return i < core->plugin_count ? &core->plugins[i].info : NULL;
}

size_t coffer_core_problem_count(const coffer_core *core)
{
	return core->problem_count;
}

const char *coffer_core_problem(const coffer_core *core, size_t i)
{
	return i < core->problem_count ? core->problems[i] : NULL;
}

const char *coffer_core_search_path(const coffer_core *core)
{
	return core->search_path;
}

const coffer_config *coffer_core_config(const coffer_core *core)
{
	return core->config;
}

void coffer_core_describe_kind(const coffer_core *core, int kind, char *buf, size_t cap)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < core->plugin_count && used < cap; i++) {
		const coffer_plugin_descriptor *d = core->plugins[i].info.descriptor;
		if ((int)d->kind != kind)
			continue;
		for (const char *const *n = d->names; *n && used < cap; n++)
			used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", *n);
	}
	if (!buf[0])
		snprintf(buf, cap, "nothing");
}

int coffer_core_find(coffer_core *core, int kind, const char *name, const coffer_plugin_info **out)
{
	*out = NULL;
	for (size_t i = 0; i < core->plugin_count; i++) {
		const coffer_plugin_descriptor *d = core->plugins[i].info.descriptor;
		if ((int)d->kind != kind)
			continue;
		for (const char *const *n = d->names; *n; n++)
			if (strcmp(*n, name) == 0) {
				*out = &core->plugins[i].info;
				return 0;
			}
	}
	char installed[1024];
	coffer_core_describe_kind(core, kind, installed, sizeof(installed));
	const char *what = kind == COFFER_PLUGIN_BACKEND ? "storage backend for URL scheme"
	                   : kind == COFFER_PLUGIN_CODEC ? "compression codec"
	                   : kind == COFFER_PLUGIN_HOOK  ? "hook runner"
	                                                 : "front-end";
	if (core->problem_count)
		return coffer_error_set(COFFER_ENOTFOUND,
		                        "no %s '%s' is installed (installed: %s; %zu plugin file(s) could "
		                        "not be loaded, first: %s)",
		                        what, name, installed, core->problem_count, core->problems[0]);
	return coffer_error_set(COFFER_ENOTFOUND, "no %s '%s' is installed (installed: %s; search path: %s)",
	                        what, name, installed, core->search_path);
}

int coffer_core_plugin_config(coffer_core *core, const coffer_plugin_descriptor *d,
                              const coffer_config **out)
{
	*out = NULL;
	const coffer_config *plugins = NULL;
	int rc = coffer_config_group(core->config, "plugins", &plugins);
	if (rc || !plugins)
		return rc;
	if ((rc = coffer_config_group(plugins, d->name, out)) != 0 || !*out)
		return rc;
	return coffer_config_check(*out, d->options, d->name);
}
