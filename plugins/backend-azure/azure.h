/* backend-azure internals: Shared Key signing and the XML bodies the Blob service sends.
 * The protocol is described in docs/backend-azure.md. */
#ifndef COFFER_BACKEND_AZURE_H
#define COFFER_BACKEND_AZURE_H

#include <stddef.h>
#include <stdint.h>

#include <coffer/common.h>
#include <coffer/http.h>

/* x-ms-version sent with every request. */
#define AZURE_API_VERSION "2021-08-06"

/* The Shared Key string-to-sign of a request: the verb, eleven standard headers (from
 * `headers`, Content-Length from `content_length`, empty when 0), the x-ms-* headers
 * lower-cased and sorted, then "/<account><URL path>" and the query parameters, names
 * lower-cased and sorted, values percent-decoded. `url` is the full URL as sent. */
int azure_sharedkey_string_to_sign(const char *method, const char *account, const char *url,
                                   size_t content_length, const coffer_http_headers *headers,
                                   coffer_buf *out);
/* "SharedKey <account>:<base64 HMAC-SHA256 of the string-to-sign with the decoded key>". */
int azure_sharedkey_authorization(const char *account, const uint8_t *key, size_t key_len,
                                  const char *string_to_sign, size_t len, coffer_buf *out);

/* A NUL-terminated copy of text[0, len) with %XX escapes decoded (a malformed one stays as
 * it is), lower-cased when `lower`; NULL when memory runs out. */
char *azure_percent_decode(const char *text, size_t len, int lower);

/* One page of List Blobs. */
typedef struct azure_blob_entry {
	char *name;          /* full blob name, as in the container */
	uint64_t size;
	int64_t mtime_ns;    /* Last-Modified; 0 when absent */
} azure_blob_entry;

typedef struct azure_listing {
	azure_blob_entry *blobs;
	size_t count, cap;
	char *next_marker;   /* NULL or "" on the last page */
} azure_listing;

/* Parses an EnumerationResults document. A Blob without Name, or with a Content-Length
 * that is not a number, makes the page COFFER_ECORRUPT. */
int azure_parse_listing(const char *doc, size_t len, azure_listing *out);
void azure_listing_free(azure_listing *listing);

/* The Code and the first line of the Message of an <Error> body; empty strings when the
 * body is not one. Other elements (AuthenticationErrorDetail holds the signature the
 * server computed) are ignored. */
typedef struct azure_error_body {
	char code[64];
	char message[256];
} azure_error_body;
void azure_parse_error(const char *doc, size_t len, azure_error_body *out);

#endif
