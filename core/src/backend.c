/* Backend handles: the core allocates plugin state from the size the plugin declares,
 * and keeps the last error of each handle. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/backend.h>
#include <coffer/sys/backend.h>
#include <coffer/url.h>

#include "registry_private.h"

struct coffer_backend {
	const coffer_backend_vtable *vt;
	const coffer_plugin_descriptor *descriptor;
	coffer_url *url;
	void *state;
	pthread_mutex_t error_lock;
	coffer_error last_error;
};

static int remember(coffer_backend *be, int rc)
{
	if (rc) {
		pthread_mutex_lock(&be->error_lock);
		be->last_error = *coffer_error_last();
		if (be->last_error.code == 0)
			be->last_error.code = rc;
		pthread_mutex_unlock(&be->error_lock);
	}
	return rc;
}

int coffer_backend_open(coffer_backend **out, coffer_core *core, const char *url_text,
                        const coffer_backend_options *opts)
{
	*out = NULL;
	coffer_backend_options defaults = COFFER_BACKEND_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	coffer_url *url;
	int rc = coffer_url_parse(&url, url_text);
	if (rc)
		return rc;
	const coffer_plugin_info *info;
	if ((rc = coffer_core_find(core, COFFER_PLUGIN_BACKEND, url->scheme, &info)) != 0) {
		coffer_url_free(url);
		return rc;
	}
	const coffer_plugin_descriptor *d = info->descriptor;
	const coffer_backend_vtable *vt = d->vtable;
	const coffer_config *subtree;
	if ((rc = coffer_core_plugin_config(core, d, &subtree)) != 0) {
		coffer_url_free(url);
		return rc;
	}
	coffer_backend *be = calloc(1, sizeof(*be));
	if (!be) {
		coffer_url_free(url);
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&be->error_lock, NULL);
	be->vt = vt;
	be->descriptor = d;
	be->url = url;
	be->state = calloc(1, vt->state_size ? vt->state_size : 1);
	if (!be->state) {
		coffer_backend_close(be);
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	}
	const char *ca = opts->ca_file;
	if (!ca) {
		ca = getenv("CUSTOM_CA");
		if (ca && !ca[0])
			ca = NULL;
	}
	coffer_backend_params params = {
		.version = COFFER_BACKEND_PARAMS_VERSION,
		.url = url,
		.config = subtree,
		.parallelism = opts->parallelism ? opts->parallelism : 1,
		.ca_file = ca,
		.create = opts->create,
	};
	if ((rc = vt->open(be->state, &params)) != 0) {
		free(be->state);
		be->state = NULL; /* open failed: the plugin must not be asked to close */
		coffer_backend_close(be);
		return rc;
	}
	*out = be;
	return 0;
}

void coffer_backend_close(coffer_backend *be)
{
	if (!be)
		return;
	if (be->state)
		be->vt->close(be->state);
	free(be->state);
	coffer_url_free(be->url);
	pthread_mutex_destroy(&be->error_lock);
	free(be);
}

int coffer_backend_put(coffer_backend *be, const char *name, const void *data, size_t len,
                       unsigned int flags)
{
	return remember(be, be->vt->put(be->state, name, data, len, flags));
}

int coffer_backend_get(coffer_backend *be, const char *name, uint64_t offset, uint64_t length,
                       coffer_buf *out)
{
	return remember(be, be->vt->get(be->state, name, offset, length, out));
}

int coffer_backend_stat(coffer_backend *be, const char *name, coffer_blob_info *out)
{
	memset(out, 0, sizeof(*out));
	return remember(be, be->vt->stat(be->state, name, out));
}

int coffer_backend_list(coffer_backend *be, const char *prefix, coffer_list_cb cb, void *ud)
{
	return remember(be, be->vt->list(be->state, prefix, cb, ud));
}

int coffer_backend_remove(coffer_backend *be, const char *name)
{
	return remember(be, be->vt->remove(be->state, name));
}

int coffer_backend_remove_many(coffer_backend *be, const char *const *names, size_t count,
                               int *results)
{
	if (be->vt->version >= 2 && be->vt->remove_many)
		return remember(be, be->vt->remove_many(be->state, names, count, results));
	for (size_t i = 0; i < count; i++) {
		results[i] = be->vt->remove(be->state, names[i]);
		if (results[i] && results[i] != COFFER_ENOTFOUND)
			remember(be, results[i]);
	}
	return 0;
}

int coffer_backend_describe(coffer_backend *be, coffer_buf *out)
{
	if (be->vt->describe)
		return remember(be, be->vt->describe(be->state, out));
	const char *text = be->url->text;
	return coffer_buf_append(out, text, strlen(text));
}

unsigned int coffer_backend_caps(const coffer_backend *be)
{
	return be->vt->caps;
}

const char *coffer_backend_plugin_name(const coffer_backend *be)
{
	return be->descriptor->name;
}

const coffer_error *coffer_backend_last_error(coffer_backend *be)
{
	return &be->last_error;
}
