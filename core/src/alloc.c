/* The one allocator used on both sides of the plugin boundary. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/common.h>
#include <coffer/error.h>

void *coffer_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		coffer_error_set(COFFER_ENOMEM, "out of memory allocating %zu bytes", n);
	return p;
}

void *coffer_calloc(size_t count, size_t n)
{
	void *p = calloc(count ? count : 1, n ? n : 1);
	if (!p)
		coffer_error_set(COFFER_ENOMEM, "out of memory allocating %zu x %zu bytes", count, n);
	return p;
}

void *coffer_realloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);
	if (!p)
		coffer_error_set(COFFER_ENOMEM, "out of memory allocating %zu bytes", n);
	return p;
}

char *coffer_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = coffer_malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

void coffer_free(void *p)
{
	free(p);
}

int coffer_buf_reserve(coffer_buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len)
		return coffer_error_set(COFFER_ENOMEM, "buffer size overflow");
	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = coffer_realloc(b->data, cap);
	if (!p)
		return COFFER_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int coffer_buf_append(coffer_buf *b, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	int rc = coffer_buf_reserve(b, n);
	if (rc)
		return rc;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	return 0;
}

void coffer_buf_free(coffer_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

const char *coffer_version(void)
{
	return PACKAGE_VERSION;
}
