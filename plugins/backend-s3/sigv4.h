/* AWS Signature Version 4, header form (docs/backend-s3.md, "Signing"). Pure functions:
 * the caller supplies the time, the headers and the payload hash. */
#ifndef COFFER_S3_SIGV4_H
#define COFFER_S3_SIGV4_H

#include <stddef.h>

#include <coffer/common.h>

#define S3_SIGV4_MAX_HEADERS 16
#define S3_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

typedef struct s3_sigv4_pair {
	const char *name;
	const char *value;
} s3_sigv4_pair;

typedef struct s3_sigv4_input {
	const char *method;
	const char *canonical_uri;    /* the request path, percent-encoded as sent */
	const char *canonical_query;  /* from s3_sigv4_query(), or "" */
	const s3_sigv4_pair *headers; /* every signed header, host and x-amz-date included */
	size_t header_count;          /* at most S3_SIGV4_MAX_HEADERS */
	const char *payload_hash;     /* lower-case hex SHA-256 of the body */
	const char *amz_date;         /* "20130524T000000Z" */
	const char *region;
	const char *service;          /* "s3" */
	const char *access_key;
	const char *secret_key;
} s3_sigv4_input;

/* Builds "a=1&b=x%2Fy" from pairs: names and values RFC 3986-encoded ('/' too), sorted by
 * name then value; a NULL value counts as "". The same text is the URL's query and the
 * canonical query. Appends to `out` and NUL-terminates. */
int s3_sigv4_query(const s3_sigv4_pair *params, size_t count, coffer_buf *out);

/* The canonical request (method, URI, query, headers, signed header names, payload hash). */
int s3_sigv4_canonical_request(const s3_sigv4_input *in, coffer_buf *out);

/* "AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex sha256 of the canonical request>". */
int s3_sigv4_string_to_sign(const s3_sigv4_input *in, coffer_buf *out);

/* The Authorization header value; `signature` (65 bytes) receives the bare signature so
 * the caller can register it as a secret. */
int s3_sigv4_authorization(const s3_sigv4_input *in, coffer_buf *out, char signature[65]);

#endif
