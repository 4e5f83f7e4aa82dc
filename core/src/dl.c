/* Plugin loading through libltdl: dlopen by file, or the program's preloaded list
 * (libtool -dlpreopen) so tests and static builds need no installed plugins. */
#include "config.h"

#include <ltdl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/error.h>
#include <coffer/sys/plugin.h>

#include "dl.h"

struct coffer_dl_module {
	lt_dlhandle handle;
};

static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;
static const lt_dlsymlist *preloaded_symbols;
static int preload_registered;

void coffer_dl_set_preloaded(const void *symlist)
{
	pthread_mutex_lock(&dl_lock);
	preloaded_symbols = symlist;
	pthread_mutex_unlock(&dl_lock);
}

int coffer_dl_init(void)
{
	pthread_mutex_lock(&dl_lock);
	int rc = 0;
	if (preloaded_symbols && !preload_registered) {
		lt_dlpreload_default(preloaded_symbols);
		preload_registered = 1;
	}
	if (lt_dlinit() != 0)
		rc = coffer_error_set(COFFER_ERROR, "cannot initialise the plugin loader: %s",
		                      lt_dlerror());
	pthread_mutex_unlock(&dl_lock);
	return rc;
}

void coffer_dl_exit(void)
{
	pthread_mutex_lock(&dl_lock);
	lt_dlexit();
	pthread_mutex_unlock(&dl_lock);
}

/* Each preloaded module appears in the list as an entry without an address;
 * libltdl opens it from the list when asked for "<name>.la". */
void coffer_dl_foreach_preloaded(coffer_dl_found_cb cb, void *ud)
{
	pthread_mutex_lock(&dl_lock);
	const lt_dlsymlist *list = preload_registered ? preloaded_symbols : NULL;
	pthread_mutex_unlock(&dl_lock);
	for (size_t i = 0; list && (list[i].name || list[i].address); i++) {
		const char *name = list[i].name;
		if (list[i].address || !name || strcmp(name, "@PROGRAM@") == 0)
			continue;
		/* "<name>.a" for a static module, "<name>.so" when only a shared one exists */
		const char *dot = strrchr(name, '.');
		if (!dot || (strcmp(dot, ".a") != 0 && strcmp(dot, ".so") != 0) || strlen(name) > 200)
			continue;
		char la[256], where[300];
		snprintf(la, sizeof(la), "%.*s.la", (int)(dot - name), name);
		snprintf(where, sizeof(where), "(preloaded) %s", la);
		pthread_mutex_lock(&dl_lock);
		lt_dlhandle handle = lt_dlopen(la);
		pthread_mutex_unlock(&dl_lock);
		if (!handle)
			continue;
		coffer_dl_module *mod = calloc(1, sizeof(*mod));
		if (!mod) {
			lt_dlclose(handle);
			continue;
		}
		mod->handle = handle;
		cb(mod, where, lt_dlsym(handle, COFFER_PLUGIN_SYMBOL), ud);
	}
}

/* libltdl often reports "file not found" for a file that exists but is no shared object;
 * look at the file to say what is really wrong. */
static const char *file_kind_problem(const char *path, const char *loader_error)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return "file cannot be opened";
	char head[64] = "";
	size_t n = fread(head, 1, sizeof(head) - 1, f);
	fclose(f);
	const char *dot = strrchr(path, '.');
	int is_la = dot && strcmp(dot, ".la") == 0;
	if (!is_la && (n < 4 || memcmp(head, "\x7f" "ELF", 4) != 0))
		return "not a shared object: no ELF header";
	if (is_la && !strstr(head, "libtool"))
		return "not a libtool library file";
	return loader_error[0] ? loader_error : "unknown loader error";
}

int coffer_dl_open(const char *path, coffer_dl_module **out, const void **symbol)
{
	*out = NULL;
	*symbol = NULL;
	lt_dladvise advise;
	if (lt_dladvise_init(&advise) || lt_dladvise_local(&advise))
		return coffer_error_set(COFFER_ERROR, "plugin loader: %s", lt_dlerror());
	pthread_mutex_lock(&dl_lock);
	lt_dlhandle handle = lt_dlopenadvise(path, advise);
	const char *err = handle ? NULL : lt_dlerror();
	char saved[512] = "";
	if (err)
		snprintf(saved, sizeof(saved), "%s", err);
	pthread_mutex_unlock(&dl_lock);
	lt_dladvise_destroy(&advise);
	if (!handle)
		return coffer_error_set(COFFER_EINVALID, "%s: not a loadable plugin (%s)", path,
		                        file_kind_problem(path, saved));
	coffer_dl_module *mod = calloc(1, sizeof(*mod));
	if (!mod) {
		lt_dlclose(handle);
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	}
	mod->handle = handle;
	*symbol = lt_dlsym(handle, COFFER_PLUGIN_SYMBOL);
	*out = mod;
	return 0;
}

void coffer_dl_close(coffer_dl_module *mod)
{
	if (!mod)
		return;
	pthread_mutex_lock(&dl_lock);
	lt_dlclose(mod->handle);
	pthread_mutex_unlock(&dl_lock);
	free(mod);
}
