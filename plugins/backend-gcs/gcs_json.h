/* A small strict JSON reader (RFC 8259) for what the GCS backend reads: service-account
 * keys, token responses, object metadata and listings. The document becomes a tree. */
#ifndef COFFER_GCS_JSON_H
#define COFFER_GCS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <coffer/common.h>

typedef enum gcs_json_type {
	GCS_JSON_NULL,
	GCS_JSON_BOOL,
	GCS_JSON_NUMBER,
	GCS_JSON_STRING,
	GCS_JSON_ARRAY,
	GCS_JSON_OBJECT
} gcs_json_type;

typedef struct gcs_json gcs_json;
struct gcs_json {
	gcs_json_type type;
	char *key;         /* member name inside an object, else NULL */
	char *text;        /* STRING: decoded UTF-8; NUMBER: the literal; else NULL */
	size_t text_len;
	int boolean;       /* BOOL */
	gcs_json **items;  /* ARRAY elements or OBJECT members, in document order */
	size_t count;
};

#define GCS_JSON_MAX_DEPTH 64

/* Parses exactly one JSON value (surrounding whitespace allowed). Refused, with
 * COFFER_ECORRUPT and a message "JSON: <what> at byte N" that never quotes the input:
 * invalid UTF-8 (overlong forms, surrogates, > U+10FFFF), unpaired \u surrogates, \u0000,
 * raw control bytes in strings, leading zeros, duplicate member names, nesting deeper than
 * GCS_JSON_MAX_DEPTH and trailing bytes. */
int gcs_json_parse(gcs_json **out, const char *text, size_t len);
void gcs_json_free(gcs_json *value);

/* The member `key` of an object, or NULL (also when `obj` is NULL or not an object). */
const gcs_json *gcs_json_get(const gcs_json *obj, const char *key);
/* The string's text, or NULL when `v` is NULL or not a string. */
const char *gcs_json_string(const gcs_json *v);
/* A non-negative integer given as a JSON number without fraction or exponent, or as a
 * string of decimal digits (how Google's JSON APIs encode int64). COFFER_ECORRUPT when it
 * is anything else or above INT64_MAX. */
int gcs_json_uint64(const gcs_json *v, uint64_t *out);

/* Appends `s` as a JSON string literal (quotes, escapes); NUL-terminates `out`. */
int gcs_json_append_string(coffer_buf *out, const char *s);

#endif
