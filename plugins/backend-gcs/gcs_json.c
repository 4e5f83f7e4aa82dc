/* Strict JSON reader; see gcs_json.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/error.h>

#include "gcs_json.h"

typedef struct json_parser {
	const unsigned char *p;
	size_t pos, len;
	int depth;
} json_parser;

static int json_fail(const json_parser *jp, const char *what)
{
	return coffer_error_set(COFFER_ECORRUPT, "JSON: %s at byte %zu", what, jp->pos);
}

void gcs_json_free(gcs_json *value)
{
	if (!value)
		return;
	for (size_t i = 0; i < value->count; i++)
		gcs_json_free(value->items[i]);
	coffer_free(value->items);
	coffer_free(value->key);
	coffer_free(value->text);
	coffer_free(value);
}

static void json_skip_space(json_parser *jp)
{
	while (jp->pos < jp->len) {
		unsigned char c = jp->p[jp->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		jp->pos++;
	}
}

static gcs_json *json_node(gcs_json_type type)
{
	gcs_json *v = coffer_calloc(1, sizeof(*v));
	if (v)
		v->type = type;
	return v;
}

static int json_nomem(void)
{
	return coffer_error_set(COFFER_ENOMEM, "JSON: out of memory");
}

static int json_push(gcs_json *parent, gcs_json *child, size_t *cap)
{
	if (parent->count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		gcs_json **n = coffer_realloc(parent->items, ncap * sizeof(*n));
		if (!n)
			return json_nomem();
		parent->items = n;
		*cap = ncap;
	}
	parent->items[parent->count++] = child;
	return 0;
}

static int json_hex4(json_parser *jp, unsigned *out)
{
	if (jp->len - jp->pos < 4)
		return json_fail(jp, "truncated \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char c = jp->p[jp->pos + (size_t)i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return json_fail(jp, "bad hex digit in \\u escape");
		v = v * 16 + d;
	}
	jp->pos += 4;
	*out = v;
	return 0;
}

static int json_put_utf8(coffer_buf *b, unsigned cp)
{
	uint8_t u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | (cp >> 6));
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | (cp >> 12));
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | (cp >> 18));
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return coffer_buf_append(b, u, n) == 0 ? 0 : json_nomem();
}

static int json_escape(json_parser *jp, coffer_buf *b)
{
	if (jp->pos >= jp->len)
		return json_fail(jp, "truncated escape");
	unsigned char c = jp->p[jp->pos++];
	const char *simple = strchr("\"\\/bfnrt", c);
	if (c && simple) {
		static const char decoded[] = "\"\\/\b\f\n\r\t";
		return coffer_buf_append(b, &decoded[simple - "\"\\/bfnrt"], 1) == 0 ? 0 : json_nomem();
	}
	if (c != 'u')
		return json_fail(jp, "unknown escape");
	unsigned cp, low;
	int rc = json_hex4(jp, &cp);
	if (rc)
		return rc;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return json_fail(jp, "unpaired low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (jp->len - jp->pos < 2 || jp->p[jp->pos] != '\\' || jp->p[jp->pos + 1] != 'u')
			return json_fail(jp, "unpaired high surrogate");
		jp->pos += 2;
		if ((rc = json_hex4(jp, &low)) != 0)
			return rc;
		if (low < 0xdc00 || low > 0xdfff)
			return json_fail(jp, "unpaired high surrogate");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
	}
	if (cp == 0)
		return json_fail(jp, "\\u0000 in a string");
	return json_put_utf8(b, cp);
}

/* Length of a valid UTF-8 sequence starting at p[0] (a byte >= 0x80), or 0. */
static size_t json_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* At the opening quote; leaves the decoded text NUL-terminated in *out. */
static int json_string(json_parser *jp, char **out, size_t *out_len)
{
	coffer_buf b = COFFER_BUF_INIT;
	int rc = 0;
	jp->pos++;
	for (;;) {
		if (jp->pos >= jp->len) {
			rc = json_fail(jp, "unterminated string");
			break;
		}
		unsigned char c = jp->p[jp->pos];
		if (c == '"') {
			jp->pos++;
			break;
		}
		if (c < 0x20) {
			rc = json_fail(jp, "control byte in a string");
			break;
		}
		if (c == '\\') {
			jp->pos++;
			if ((rc = json_escape(jp, &b)) != 0)
				break;
			continue;
		}
		size_t run = 1;
		if (c >= 0x80 && (run = json_utf8_len(jp->p + jp->pos, jp->len - jp->pos)) == 0) {
			rc = json_fail(jp, "invalid UTF-8 in a string");
			break;
		}
		if (coffer_buf_append(&b, jp->p + jp->pos, run) != 0) {
			rc = json_nomem();
			break;
		}
		jp->pos += run;
	}
	if (rc == 0 && coffer_buf_append(&b, "", 1) != 0)
		rc = json_nomem();
	if (rc) {
		coffer_buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	*out_len = b.len - 1;
	return 0;
}

static size_t json_digits(json_parser *jp)
{
	size_t start = jp->pos;
	while (jp->pos < jp->len && jp->p[jp->pos] >= '0' && jp->p[jp->pos] <= '9')
		jp->pos++;
	return jp->pos - start;
}

static int json_number(json_parser *jp, gcs_json *v)
{
	size_t start = jp->pos;
	if (jp->p[jp->pos] == '-')
		jp->pos++;
	if (jp->pos < jp->len && jp->p[jp->pos] == '0') {
		jp->pos++;
		if (jp->pos < jp->len && jp->p[jp->pos] >= '0' && jp->p[jp->pos] <= '9')
			return json_fail(jp, "leading zero in a number");
	} else if (json_digits(jp) == 0) {
		return json_fail(jp, "digit expected");
	}
	if (jp->pos < jp->len && jp->p[jp->pos] == '.') {
		jp->pos++;
		if (json_digits(jp) == 0)
			return json_fail(jp, "digit expected after '.'");
	}
	if (jp->pos < jp->len && (jp->p[jp->pos] == 'e' || jp->p[jp->pos] == 'E')) {
		jp->pos++;
		if (jp->pos < jp->len && (jp->p[jp->pos] == '+' || jp->p[jp->pos] == '-'))
			jp->pos++;
		if (json_digits(jp) == 0)
			return json_fail(jp, "digit expected in exponent");
	}
	v->text_len = jp->pos - start;
	v->text = coffer_malloc(v->text_len + 1);
	if (!v->text)
		return json_nomem();
	memcpy(v->text, jp->p + start, v->text_len);
	v->text[v->text_len] = '\0';
	return 0;
}

static int json_literal(json_parser *jp, const char *word)
{
	size_t n = strlen(word);
	if (jp->len - jp->pos < n || memcmp(jp->p + jp->pos, word, n) != 0)
		return json_fail(jp, "unexpected byte");
	jp->pos += n;
	return 0;
}

static int json_key_cmp(const void *a, const void *b)
{
	return strcmp((*(gcs_json *const *)a)->key, (*(gcs_json *const *)b)->key);
}

static int json_check_unique(json_parser *jp, const gcs_json *obj)
{
	if (obj->count < 2)
		return 0;
	gcs_json **sorted = coffer_malloc(obj->count * sizeof(*sorted));
	if (!sorted)
		return json_nomem();
	memcpy(sorted, obj->items, obj->count * sizeof(*sorted));
	qsort(sorted, obj->count, sizeof(*sorted), json_key_cmp);
	int dup = 0;
	for (size_t i = 1; i < obj->count && !dup; i++)
		dup = strcmp(sorted[i - 1]->key, sorted[i]->key) == 0;
	coffer_free(sorted);
	return dup ? json_fail(jp, "duplicate member name in the object ending") : 0;
}

static int json_value(json_parser *jp, gcs_json **out);

/* At '[' or '{'. */
static int json_container(json_parser *jp, gcs_json *v)
{
	const int is_object = v->type == GCS_JSON_OBJECT;
	const unsigned char close = is_object ? '}' : ']';
	size_t cap = 0;
	int rc;
	if (++jp->depth > GCS_JSON_MAX_DEPTH)
		return json_fail(jp, "nesting too deep");
	jp->pos++;
	json_skip_space(jp);
	if (jp->pos < jp->len && jp->p[jp->pos] == close) {
		jp->pos++;
		jp->depth--;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		size_t key_len;
		gcs_json *child = NULL;
		json_skip_space(jp);
		if (is_object) {
			if (jp->pos >= jp->len || jp->p[jp->pos] != '"')
				return json_fail(jp, "member name expected");
			if ((rc = json_string(jp, &key, &key_len)) != 0)
				return rc;
			json_skip_space(jp);
			if (jp->pos >= jp->len || jp->p[jp->pos] != ':') {
				coffer_free(key);
				return json_fail(jp, "':' expected");
			}
			jp->pos++;
		}
		if ((rc = json_value(jp, &child)) != 0) {
			coffer_free(key);
			return rc;
		}
		child->key = key;
		if ((rc = json_push(v, child, &cap)) != 0) {
			gcs_json_free(child);
			return rc;
		}
		json_skip_space(jp);
		if (jp->pos >= jp->len)
			return json_fail(jp, is_object ? "unterminated object" : "unterminated array");
		if (jp->p[jp->pos] == ',') {
			jp->pos++;
			continue;
		}
		if (jp->p[jp->pos] != close)
			return json_fail(jp, is_object ? "',' or '}' expected" : "',' or ']' expected");
		jp->pos++;
		jp->depth--;
		return is_object ? json_check_unique(jp, v) : 0;
	}
}

static int json_value(json_parser *jp, gcs_json **out)
{
	json_skip_space(jp);
	if (jp->pos >= jp->len)
		return json_fail(jp, "value expected");
	unsigned char c = jp->p[jp->pos];
	gcs_json_type type;
	switch (c) {
	case '{': type = GCS_JSON_OBJECT; break;
	case '[': type = GCS_JSON_ARRAY; break;
	case '"': type = GCS_JSON_STRING; break;
	case 't':
	case 'f': type = GCS_JSON_BOOL; break;
	case 'n': type = GCS_JSON_NULL; break;
	default:
		if (c != '-' && (c < '0' || c > '9'))
			return json_fail(jp, "value expected");
		type = GCS_JSON_NUMBER;
	}
	gcs_json *v = json_node(type);
	if (!v)
		return json_nomem();
	int rc;
	switch (type) {
	case GCS_JSON_OBJECT:
	case GCS_JSON_ARRAY: rc = json_container(jp, v); break;
	case GCS_JSON_STRING: rc = json_string(jp, &v->text, &v->text_len); break;
	case GCS_JSON_NUMBER: rc = json_number(jp, v); break;
	case GCS_JSON_BOOL:
		v->boolean = c == 't';
		rc = json_literal(jp, v->boolean ? "true" : "false");
		break;
	default: rc = json_literal(jp, "null"); break;
	}
	if (rc) {
		gcs_json_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

int gcs_json_parse(gcs_json **out, const char *text, size_t len)
{
	json_parser jp = { (const unsigned char *)text, 0, len, 0 };
	gcs_json *v = NULL;
	*out = NULL;
	int rc = json_value(&jp, &v);
	if (rc)
		return rc;
	json_skip_space(&jp);
	if (jp.pos != jp.len) {
		gcs_json_free(v);
		return json_fail(&jp, "trailing bytes after the value");
	}
	*out = v;
	return 0;
}

const gcs_json *gcs_json_get(const gcs_json *obj, const char *key)
{
	if (!obj || obj->type != GCS_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->count; i++)
		if (strcmp(obj->items[i]->key, key) == 0)
			return obj->items[i];
	return NULL;
}

const char *gcs_json_string(const gcs_json *v)
{
	return v && v->type == GCS_JSON_STRING ? v->text : NULL;
}

int gcs_json_uint64(const gcs_json *v, uint64_t *out)
{
	if (!v || (v->type != GCS_JSON_NUMBER && v->type != GCS_JSON_STRING) || v->text_len == 0 ||
	    v->text_len > 19 || (v->text_len > 1 && v->text[0] == '0'))
		return coffer_error_set(COFFER_ECORRUPT, "JSON: a non-negative integer expected");
	uint64_t n = 0;
	for (size_t i = 0; i < v->text_len; i++) {
		if (v->text[i] < '0' || v->text[i] > '9')
			return coffer_error_set(COFFER_ECORRUPT, "JSON: a non-negative integer expected");
		n = n * 10 + (uint64_t)(v->text[i] - '0');
	}
	if (n > (uint64_t)INT64_MAX)
		return coffer_error_set(COFFER_ECORRUPT, "JSON: integer out of range");
	*out = n;
	return 0;
}

int gcs_json_append_string(coffer_buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	if (coffer_buf_append(out, "\"", 1) != 0)
		return json_nomem();
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[7];
		size_t n = 0;
		if (*p == '"' || *p == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)*p;
		} else if (*p < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			n = 6;
		} else {
			esc[n++] = (char)*p;
		}
		if (coffer_buf_append(out, esc, n) != 0)
			return json_nomem();
	}
	if (coffer_buf_append(out, "\"", 2) != 0)
		return json_nomem();
	out->len--; /* keep the NUL outside len */
	return 0;
}
