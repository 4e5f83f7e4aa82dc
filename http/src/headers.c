/* Header lists: "Name: value" lines, looked up case-insensitively. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_private.h"

static char *header_line(const char *name, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return NULL;
	size_t name_len = strlen(name);
	char *line = coffer_malloc(name_len + 2 + (size_t)n + 1);
	if (!line)
		return NULL;
	memcpy(line, name, name_len);
	memcpy(line + name_len, ": ", 2);
	vsnprintf(line + name_len + 2, (size_t)n + 1, fmt, ap);
	return line;
}

static int headers_push(coffer_http_headers *h, char *line)
{
	if (h->count == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 16;
		char **lines = coffer_realloc(h->lines, cap * sizeof(*lines));
		if (!lines) {
			coffer_free(line);
			return coffer_error_set(COFFER_ENOMEM, "out of memory for HTTP headers");
		}
		h->lines = lines;
		h->cap = cap;
	}
	h->lines[h->count++] = line;
	return 0;
}

/* Does `line` carry header `name`? */
static int line_is(const char *line, const char *name)
{
	size_t n = strlen(name);
	return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

int coffer_http_headers_add(coffer_http_headers *h, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *line = header_line(name, fmt, ap);
	va_end(ap);
	if (!line)
		return coffer_error_set(COFFER_ENOMEM, "out of memory for HTTP header %s", name);
	return headers_push(h, line);
}

int coffer_http_headers_set(coffer_http_headers *h, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *line = header_line(name, fmt, ap);
	va_end(ap);
	if (!line)
		return coffer_error_set(COFFER_ENOMEM, "out of memory for HTTP header %s", name);
	size_t kept = 0;
	for (size_t i = 0; i < h->count; i++) {
		if (line_is(h->lines[i], name))
			coffer_free(h->lines[i]);
		else
			h->lines[kept++] = h->lines[i];
	}
	h->count = kept;
	return headers_push(h, line);
}

const char *coffer_http_headers_get(const coffer_http_headers *h, const char *name)
{
	for (size_t i = 0; i < h->count; i++)
		if (line_is(h->lines[i], name)) {
			const char *v = h->lines[i] + strlen(name) + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	return NULL;
}

void coffer_http_headers_clear(coffer_http_headers *h)
{
	for (size_t i = 0; i < h->count; i++)
		coffer_free(h->lines[i]);
	h->count = 0;
}

void coffer_http_headers_free(coffer_http_headers *h)
{
	coffer_http_headers_clear(h);
	coffer_free(h->lines);
	h->lines = NULL;
	h->cap = 0;
}
