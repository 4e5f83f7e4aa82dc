/* libcoffer-http internals shared by its source files. */
#ifndef COFFER_HTTP_PRIVATE_H
#define COFFER_HTTP_PRIVATE_H

#include <pthread.h>

#include <coffer/http.h>

/* Appends `n` bytes and keeps the buffer NUL-terminated (len excludes the NUL). */
int http_buf_add(coffer_buf *b, const void *data, size_t n);

/* The client's secrets, for redaction (redact.c reads them under the lock). */
typedef struct http_secrets {
	pthread_mutex_t lock;
	char **items;
	size_t count, cap;
} http_secrets;

const http_secrets *http_client_secrets(const coffer_http *client);
const char *http_client_name(const coffer_http *client);

#endif
