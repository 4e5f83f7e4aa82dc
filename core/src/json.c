/* Streaming JSON writer. */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include <coffer/json.h>

void coffer_json_init(coffer_json *j, FILE *out, int pretty)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->pretty = pretty;
}

static void indent(coffer_json *j)
{
	if (!j->pretty)
		return;
	fputc('\n', j->out);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->out);
}

/* Before any value: a comma when needed, unless it follows a key. */
static void before_value(coffer_json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->depth > 0 && j->depth < 64) {
		if (j->need_comma[j->depth])
			fputc(',', j->out);
		j->need_comma[j->depth] = 1;
		indent(j);
	}
}

static void open_container(coffer_json *j, char c)
{
	before_value(j);
	fputc(c, j->out);
	j->depth++;
	if (j->depth < 64)
		j->need_comma[j->depth] = 0;
}

static void close_container(coffer_json *j, char c)
{
	int had_members = j->depth < 64 && j->need_comma[j->depth];
	j->depth--;
	if (had_members)
		indent(j);
	fputc(c, j->out);
}

void coffer_json_object_begin(coffer_json *j) { open_container(j, '{'); }
void coffer_json_object_end(coffer_json *j) { close_container(j, '}'); }
void coffer_json_array_begin(coffer_json *j) { open_container(j, '['); }
void coffer_json_array_end(coffer_json *j) { close_container(j, ']'); }

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void coffer_json_string_n(coffer_json *j, const char *s, size_t n)
{
	before_value(j);
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', j->out);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			fputc('\\', j->out);
			fputc(c, j->out);
			i++;
		} else if (c == '\n') {
			fputs("\\n", j->out);
			i++;
		} else if (c == '\t') {
			fputs("\\t", j->out);
			i++;
		} else if (c == '\r') {
			fputs("\\r", j->out);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(j->out, "\\u%04x", c);
			i++;
		} else {
			size_t len = utf8_sequence(p + i, n - i);
			if (len == 0) {
				fprintf(j->out, "\\u%04x", c);
				i++;
			} else {
				fwrite(p + i, 1, len, j->out);
				i += len;
			}
		}
	}
	fputc('"', j->out);
}

void coffer_json_string(coffer_json *j, const char *s)
{
	if (!s) {
		coffer_json_null(j);
		return;
	}
	coffer_json_string_n(j, s, strlen(s));
}

void coffer_json_key(coffer_json *j, const char *key)
{
	coffer_json_string(j, key);
	fputs(j->pretty ? ": " : ":", j->out);
	j->after_key = 1;
}

void coffer_json_int(coffer_json *j, int64_t v)
{
	before_value(j);
	fprintf(j->out, "%" PRId64, v);
}

void coffer_json_uint(coffer_json *j, uint64_t v)
{
	before_value(j);
	fprintf(j->out, "%" PRIu64, v);
}

void coffer_json_double(coffer_json *j, double v)
{
	before_value(j);
	if (isfinite(v))
		fprintf(j->out, "%.6g", v);
	else
		fputs("null", j->out);
}

void coffer_json_bool(coffer_json *j, int v)
{
	before_value(j);
	fputs(v ? "true" : "false", j->out);
}

void coffer_json_null(coffer_json *j)
{
	before_value(j);
	fputs("null", j->out);
}

void coffer_json_finish(coffer_json *j)
{
	fputc('\n', j->out);
	fflush(j->out);
}
