/* libcoffer-http: what every HTTP storage backend needs, written once on libcurl and
 * OpenSSL. The S3, GCS and Azure plugins link it; a third party's plugin may too
 * (docs/ARCHITECTURE.md, "Writing an HTTP backend").
 *
 * - A client (coffer_http) holds a pool of curl easy handles sharing DNS, TLS sessions and
 *   connections, so `parallelism` threads can each run a request at once with connection
 *   reuse. Every function here is thread-safe on one client.
 * - TLS is always verified. An extra CA (CUSTOM_CA / --ca-file, a PEM file of one or more
 *   certificates) is trusted in addition to the system's store, not instead of it.
 * - coffer_http_exec() retries transport failures (connect errors, resets, timeouts,
 *   stalls), HTTP 408, 429 and 5xx with exponential backoff and full jitter, within
 *   `max_attempts` and `max_total_ms`; then it fails with COFFER_ETRANSIENT and a message
 *   naming the request, the last status or curl error, and the attempt count. Every other
 *   status is returned to the caller, whose protocol knows what 403 or 412 means.
 * - Secrets never reach a message: the client redacts every string registered with
 *   coffer_http_add_secret() and, always, Authorization header values and the query
 *   parameters that carry signatures or tokens (see coffer_http_redact()).
 * - Proxies come from the usual environment variables (http_proxy, https_proxy, no_proxy),
 *   which libcurl reads itself.
 * - COFFER_HTTP_DEBUG=1 in the environment logs every attempt (method, redacted URL,
 *   status, bytes, time) to stderr.
 */
#ifndef COFFER_HTTP_H
#define COFFER_HTTP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <coffer/common.h>
#include <coffer/config.h>
#include <coffer/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coffer_http coffer_http;

typedef struct coffer_http_options {
	unsigned int version;          /* COFFER_HTTP_OPTIONS_VERSION */
	const char *ca_file;           /* extra CA bundle (PEM) to trust as well, or NULL */
	unsigned int max_attempts;     /* 0: 8 (first try included) */
	unsigned int base_delay_ms;    /* 0: 250; the n-th retry waits rand(0, base * 2^n) */
	unsigned int max_delay_ms;     /* 0: 30000; cap of one wait */
	unsigned int max_total_ms;     /* 0: 300000; no new attempt starts after this */
	unsigned int connect_timeout_s;/* 0: 30 */
	unsigned int stall_timeout_s;  /* 0: 60; a transfer below 1 byte/s this long is a stall */
	unsigned int request_timeout_s;/* 0: none; whole-request bound */
	const char *user_agent;        /* NULL: "coffer/<version>" */
	const char *name;              /* backend name for messages, e.g. "s3"; NULL: "http" */
} coffer_http_options;
#define COFFER_HTTP_OPTIONS_VERSION 1u
#define COFFER_HTTP_OPTIONS_INIT { COFFER_HTTP_OPTIONS_VERSION, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, NULL }

/* Reads the retry and timeout keys a backend's config subtree may hold (max_attempts,
 * base_delay_ms, max_delay_ms, max_total_ms, connect_timeout_s, stall_timeout_s,
 * request_timeout_s; integers) into `opts`, leaving the others. Then the environment
 * COFFER_HTTP_MAX_ATTEMPTS, COFFER_HTTP_BASE_DELAY_MS, COFFER_HTTP_MAX_TOTAL_MS and
 * COFFER_HTTP_STALL_TIMEOUT_S override them (tests use these). `config` may be NULL.
 * A negative or non-numeric value is COFFER_EINVALID naming the key and where. */
int coffer_http_options_from_config(coffer_http_options *opts, const coffer_config *config);
/* Those keys as coffer_option entries, to put in a plugin's option table:
 *   static const coffer_option opts[] = { { "page_size", ... }, COFFER_HTTP_CONFIG_OPTIONS,
 *                                         { NULL, 0, NULL } }; */
#define COFFER_HTTP_CONFIG_OPTIONS \
	{ "max_attempts", COFFER_OPT_INT, "HTTP attempts per request, the first included (8)" }, \
	{ "base_delay_ms", COFFER_OPT_INT, "first retry waits up to this, doubling (250)" }, \
	{ "max_delay_ms", COFFER_OPT_INT, "longest wait between attempts (30000)" }, \
	{ "max_total_ms", COFFER_OPT_INT, "no retry starts after this long (300000)" }, \
	{ "connect_timeout_s", COFFER_OPT_INT, "TCP+TLS connect timeout (30)" }, \
	{ "stall_timeout_s", COFFER_OPT_INT, "a transfer below 1 byte/s this long is retried (60)" }, \
	{ "request_timeout_s", COFFER_OPT_INT, "whole-request time limit, 0 = none (0)" }

int coffer_http_create(coffer_http **out, const coffer_http_options *opts);
void coffer_http_destroy(coffer_http *client);

/* Registers a secret (a key, token, signature, SAS string): it never appears in any
 * message or log line this client makes; it is replaced by "[REDACTED]". Strings
 * shorter than 4 bytes are ignored. Copied. */
int coffer_http_add_secret(coffer_http *client, const char *secret);
/* Appends `text` to `out` with the client's secrets (client may be NULL) and these
 * always redacted: the rest of the line after "Authorization:" (any case), and the values
 * of the query parameters sig, signature, x-amz-signature, x-amz-security-token,
 * x-amz-credential, access_token, assertion and token (names in any case).
 * NUL-terminates `out`. */
int coffer_http_redact(const coffer_http *client, const char *text, coffer_buf *out);

/* ------------------------------------------------------------------ requests */

/* A header list: "Name: value" lines. */
typedef struct coffer_http_headers {
	char **lines;
	size_t count, cap;
} coffer_http_headers;
#define COFFER_HTTP_HEADERS_INIT { NULL, 0, 0 }

int coffer_http_headers_add(coffer_http_headers *h, const char *name, const char *fmt, ...)
	COFFER_PRINTF(3, 4);
/* Replaces every header named `name` (case-insensitive) with one line, or adds it. */
int coffer_http_headers_set(coffer_http_headers *h, const char *name, const char *fmt, ...)
	COFFER_PRINTF(3, 4);
/* The value of the first header named `name` (case-insensitive), or NULL. */
const char *coffer_http_headers_get(const coffer_http_headers *h, const char *name);
void coffer_http_headers_clear(coffer_http_headers *h);
void coffer_http_headers_free(coffer_http_headers *h);

typedef struct coffer_http_request coffer_http_request;

/* Called before every attempt (attempt counts from 0), so a signature or a date is
 * fresh on each retry: typically it clears req->headers and signs the request anew.
 * A nonzero return (a COFFER_E* code after coffer_error_set) stops the request. */
typedef int (*coffer_http_prepare_fn)(void *ud, coffer_http_request *req, unsigned int attempt);

struct coffer_http_request {
	const char *method;            /* "GET", "PUT", "HEAD", "POST", "DELETE" */
	char *url;                     /* full URL, already percent-encoded; owned by caller */
	coffer_http_headers headers;   /* sent as given; the client adds no Content-Type */
	const void *body;              /* request body or NULL; sent with Content-Length */
	size_t body_len;
	coffer_http_prepare_fn prepare;/* optional */
	void *prepare_ud;
	const char *what;              /* for messages: "PUT packs/p1234"; NULL: method + path */
	/* Statuses that are final even though they are normally retried (e.g. 503 that a
	 * protocol defines as permanent); 0-terminated; NULL: none. */
	const long *no_retry_status;
};

typedef struct coffer_http_response {
	long status;                   /* HTTP status of the last attempt */
	coffer_buf body;               /* response body, NUL-terminated when not empty (HEAD: empty) */
	coffer_http_headers headers;   /* response headers of the last attempt */
	unsigned int attempts;         /* attempts made */
} coffer_http_response;
#define COFFER_HTTP_RESPONSE_INIT { 0, COFFER_BUF_INIT, COFFER_HTTP_HEADERS_INIT, 0 }

/* Runs the request with retries (see the top of this file). Returns 0 when a response
 * with a final status arrived (any status: 200, 404, 403 ... are the caller's to read),
 * COFFER_ETRANSIENT when retries ran out, COFFER_EINVALID for a malformed URL, and
 * COFFER_EAUTH when TLS verification of the server failed (message says so and names
 * the CA setting). `resp` is reset at the start; free it with coffer_http_response_free
 * either way. */
int coffer_http_exec(coffer_http *client, coffer_http_request *req, coffer_http_response *resp);
void coffer_http_response_free(coffer_http_response *resp);

/* Sets a COFFER_E* error for an unexpected final status and returns its code:
 * 401/403 → COFFER_EAUTH, 404 → COFFER_ENOTFOUND, 409/412 → COFFER_EEXISTS,
 * 400/405/411/413/414/416 → COFFER_EINVALID, anything else → COFFER_ERROR. The message is
 * "<name>: <what>: HTTP <status>: <detail>" with `detail` (the protocol's own error text,
 * or NULL for the first 200 bytes of the body) redacted. */
int coffer_http_fail(const coffer_http *client, const coffer_http_request *req,
                     const coffer_http_response *resp, const char *detail);

/* ------------------------------------------------------------------ helpers */

/* Lower-case hex SHA-256 of data (65 bytes with the NUL). */
void coffer_http_sha256_hex(const void *data, size_t len, char out[65]);
/* Raw HMAC-SHA256. */
void coffer_http_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                             uint8_t out[32]);
void coffer_http_hex(const uint8_t *data, size_t len, char *out); /* 2*len+1 bytes */
/* Standard base64 with padding; appends and NUL-terminates. */
int coffer_http_base64_encode(const void *data, size_t len, coffer_buf *out);
/* url-safe alphabet, no padding (JWT). */
int coffer_http_base64url_encode(const void *data, size_t len, coffer_buf *out);
/* Decodes standard base64 (padding optional, whitespace skipped); COFFER_EINVALID with
 * the offset of a bad byte. Appends. */
int coffer_http_base64_decode(const char *text, size_t len, coffer_buf *out);
/* RFC 3986 percent-encoding: unreserved bytes (A-Z a-z 0-9 - . _ ~) stay, and '/' too
 * when keep_slash; everything else becomes %XX (upper-case). Appends, NUL-terminates. */
int coffer_http_urlencode(const char *s, size_t len, int keep_slash, coffer_buf *out);
/* A NUL-terminated copy of len bytes (coffer_malloc), or NULL when out of memory. */
char *coffer_http_strndup(const char *s, size_t len);
/* A decimal size as servers write it: digits only (no sign, space or empty text), within
 * 64 bits. 0, or -1 (no error set) when the text is not one. */
int coffer_http_parse_u64(const char *text, size_t len, uint64_t *out);
/* Appends formatted text and keeps `out` NUL-terminated (len excludes the NUL). */
int coffer_http_bufprintf(coffer_buf *out, const char *fmt, ...) COFFER_PRINTF(2, 3);
/* Parses "2009-10-12T17:50:30.000Z" (RFC 3339, any offset) or an RFC 1123 date
 * ("Sun, 06 Nov 1994 08:49:37 GMT") to ns since the epoch. */
int coffer_http_parse_time(const char *text, int64_t *out_ns);
/* Formats the current time: "20130524T000000Z" (basic) or RFC 1123 (http). */
void coffer_http_time_amz(int64_t unix_s, char out[17]);
void coffer_http_time_rfc1123(int64_t unix_s, char out[30]);

/* ------------------------------------------------------------------ XML (S3, Azure) */

/* A forgiving reader for the flat listing documents S3 and Azure return: it walks
 * elements in document order; for each element with text content it calls
 * cb(ud, path, text, text_len) with `path` the slash-joined element names from the
 * root ("ListBucketResult/Contents/Key") and `text` with entities (&amp; &lt; &gt;
 * &quot; &apos; &#N; &#xN;) decoded; for each element start cb gets text NULL.
 * A leading UTF-8 byte order mark is skipped. Comments, processing instructions and
 * CDATA are handled; a malformed document is
 * COFFER_ECORRUPT with the byte offset. Nesting deeper than 32 is refused. A nonzero
 * cb return stops the walk and is returned. */
typedef int (*coffer_xml_cb)(void *ud, const char *path, const char *text, size_t text_len);
int coffer_xml_walk(const char *doc, size_t len, coffer_xml_cb cb, void *ud);

#ifdef __cplusplus
}
#endif
#endif
