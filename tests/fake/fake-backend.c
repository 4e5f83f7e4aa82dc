/* A fake backend that keeps blobs in memory and counts every call, so tests can see
 * exactly what the core asked of it (reported through describe()). */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/sys/backend.h>

typedef struct fake_blob {
	char *name;
	coffer_buf data;
	struct fake_blob *next;
} fake_blob;

typedef struct fake_state {
	pthread_mutex_t lock;
	fake_blob *blobs;
	char greeting[64];
	unsigned opens, puts, gets, stats, lists, removes;
} fake_state;

static int fake_open(void *state, const coffer_backend_params *p)
{
	fake_state *st = state;
	pthread_mutex_init(&st->lock, NULL);
	st->opens++;
	const char *greeting = "none";
	coffer_config_string(p->config, "greeting", &greeting);
	snprintf(st->greeting, sizeof(st->greeting), "%s", greeting);
	if (strcmp(p->url->host, "refuse") == 0)
		return coffer_error_set(COFFER_EAUTH, "fake: host 'refuse' rejects the credential");
	return 0;
}

static void fake_close(void *state)
{
	fake_state *st = state;
	fake_blob *b = st->blobs;
	while (b) {
		fake_blob *next = b->next;
		free(b->name);
		coffer_buf_free(&b->data);
		free(b);
		b = next;
	}
	pthread_mutex_destroy(&st->lock);
}

static fake_blob *find(fake_state *st, const char *name)
{
	for (fake_blob *b = st->blobs; b; b = b->next)
		if (strcmp(b->name, name) == 0)
			return b;
	return NULL;
}

static int fake_put(void *state, const char *name, const void *data, size_t len, unsigned flags)
{
	fake_state *st = state;
	pthread_mutex_lock(&st->lock);
	st->puts++;
	fake_blob *b = find(st, name);
	if (b && !(flags & COFFER_PUT_OVERWRITE)) {
		pthread_mutex_unlock(&st->lock);
		return coffer_error_set(COFFER_EEXISTS, "fake: %s exists", name);
	}
	if (!b) {
		b = calloc(1, sizeof(*b));
		b->name = strdup(name);
		b->next = st->blobs;
		st->blobs = b;
	}
	b->data.len = 0;
	coffer_buf_append(&b->data, data, len);
	pthread_mutex_unlock(&st->lock);
	return 0;
}

static int fake_get(void *state, const char *name, uint64_t off, uint64_t len, coffer_buf *out)
{
	fake_state *st = state;
	pthread_mutex_lock(&st->lock);
	st->gets++;
	fake_blob *b = find(st, name);
	int rc = 0;
	if (!b)
		rc = coffer_error_set(COFFER_ENOTFOUND, "fake: %s not found", name);
	else if (off > b->data.len || (len != COFFER_WHOLE && len > b->data.len - off))
		rc = coffer_error_set(COFFER_EINVALID, "fake: range past end of %s", name);
	else
		rc = coffer_buf_append(out, b->data.data + off, len == COFFER_WHOLE ? b->data.len - off : len);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int fake_stat(void *state, const char *name, coffer_blob_info *out)
{
	fake_state *st = state;
	pthread_mutex_lock(&st->lock);
	st->stats++;
	fake_blob *b = find(st, name);
	if (b)
		out->size = b->data.len;
	pthread_mutex_unlock(&st->lock);
	return b ? 0 : coffer_error_set(COFFER_ENOTFOUND, "fake: %s not found", name);
}

static int fake_list(void *state, const char *prefix, coffer_list_cb cb, void *ud)
{
	fake_state *st = state;
	pthread_mutex_lock(&st->lock);
	st->lists++;
	int rc = 0;
	for (fake_blob *b = st->blobs; b && !rc; b = b->next)
		if (strncmp(b->name, prefix, strlen(prefix)) == 0) {
			coffer_blob_info info = { b->name, b->data.len, 0 };
			rc = cb(&info, ud);
		}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int fake_remove(void *state, const char *name)
{
	fake_state *st = state;
	pthread_mutex_lock(&st->lock);
	st->removes++;
	for (fake_blob **p = &st->blobs; *p; p = &(*p)->next)
		if (strcmp((*p)->name, name) == 0) {
			fake_blob *b = *p;
			*p = b->next;
			free(b->name);
			coffer_buf_free(&b->data);
			free(b);
			pthread_mutex_unlock(&st->lock);
			return 0;
		}
	pthread_mutex_unlock(&st->lock);
	return coffer_error_set(COFFER_ENOTFOUND, "fake: %s not found", name);
}

static int fake_describe(void *state, coffer_buf *out)
{
	fake_state *st = state;
	char text[256];
	pthread_mutex_lock(&st->lock);
	int n = snprintf(text, sizeof(text), "fake greeting=%s open=%u put=%u get=%u stat=%u list=%u remove=%u",
	                 st->greeting, st->opens, st->puts, st->gets, st->stats, st->lists, st->removes);
	pthread_mutex_unlock(&st->lock);
	return coffer_buf_append(out, text, (size_t)n);
}

static const coffer_backend_vtable fake_vtable = {
	.version = COFFER_BACKEND_VTABLE_VERSION,
	.state_size = sizeof(fake_state),
	.caps = COFFER_BACKEND_CAP_RANGE,
	.open = fake_open,
	.close = fake_close,
	.put = fake_put,
	.get = fake_get,
	.stat = fake_stat,
	.list = fake_list,
	.remove = fake_remove,
	.describe = fake_describe,
};

static const char *const fake_names[] = { "fake", "fake2", NULL };
static const coffer_option fake_options[] = {
	{ "greeting", COFFER_OPT_STRING, "a word shown by describe()" },
	{ NULL, 0, NULL },
};

COFFER_PLUGIN_DEFINE(fake_backend) = {
	COFFER_PLUGIN_MAGIC, COFFER_ABI_VERSION, COFFER_PLUGIN_BACKEND, "fake-backend",
	"in-memory backend that counts calls", fake_names, fake_options, &fake_vtable,
};
