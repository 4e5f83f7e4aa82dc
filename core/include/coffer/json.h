/* A small streaming JSON writer for front-ends' --json output. */
#ifndef COFFER_JSON_H
#define COFFER_JSON_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coffer_json {
	FILE *out;
	int depth;
	int pretty;
	unsigned char need_comma[64];
	int after_key;
} coffer_json;

void coffer_json_init(coffer_json *j, FILE *out, int pretty);
void coffer_json_object_begin(coffer_json *j);
void coffer_json_object_end(coffer_json *j);
void coffer_json_array_begin(coffer_json *j);
void coffer_json_array_end(coffer_json *j);
void coffer_json_key(coffer_json *j, const char *key);
/* Strings are escaped; bytes that are not valid UTF-8 come out as \u00XX of each byte. */
void coffer_json_string(coffer_json *j, const char *s);
void coffer_json_string_n(coffer_json *j, const char *s, size_t n);
void coffer_json_int(coffer_json *j, int64_t v);
void coffer_json_uint(coffer_json *j, uint64_t v);
void coffer_json_double(coffer_json *j, double v);
void coffer_json_bool(coffer_json *j, int v);
void coffer_json_null(coffer_json *j);
/* Ends the document with a newline. */
void coffer_json_finish(coffer_json *j);

#ifdef __cplusplus
}
#endif
#endif
