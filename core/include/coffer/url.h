/* Repository URLs: scheme://host/path, e.g. filesystem:///srv/repo, s3://bucket/prefix. */
#ifndef COFFER_URL_H
#define COFFER_URL_H

#include <coffer/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coffer_url {
	char *scheme;  /* lower-case, e.g. "s3" */
	char *host;    /* authority: bucket, container or "" (filesystem:///...) */
	char *path;    /* "" or starting with '/', percent-decoded */
	char *query;   /* raw text after '?', or NULL */
	char *text;    /* the URL as given */
} coffer_url;

/* Strict parser: scheme [a-z][a-z0-9+.-]*, "://", no control bytes, valid %XX escapes,
 * no NUL after decoding. Errors say what is wrong and at which offset. */
int coffer_url_parse(coffer_url **out, const char *text);
int coffer_url_parse_n(coffer_url **out, const char *text, size_t len);
void coffer_url_free(coffer_url *url);

#ifdef __cplusplus
}
#endif
#endif
