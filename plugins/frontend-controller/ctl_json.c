/* The mover's last stdout line, a flat JSON object (docs/mover.md, "Output"). The parser
 * accepts any JSON object whose values are scalars, skips unknown keys, and fills only what
 * fits; anything else (nested values, bad escapes, trailing bytes) is not the mover's line. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "controller.h"

typedef struct cursor {
	const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Appends the UTF-8 form of a code point, if it fits. */
static void put_utf8(char *out, size_t cap, size_t *n, unsigned cp)
{
	char b[4];
	size_t len;
	if (cp < 0x80) {
		b[0] = (char)cp;
		len = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		len = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		len = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		len = 4;
	}
	if (*n + len < cap) {
		memcpy(out + *n, b, len);
		*n += len;
	}
}

static int read_hex4(cursor *c, unsigned *out)
{
	if (c->end - c->p < 4)
		return -1;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(c->p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	c->p += 4;
	*out = v;
	return 0;
}

/* A string into out (truncated to cap - 1 bytes, always terminated; out may be NULL). */
static int read_string(cursor *c, char *out, size_t cap)
{
	char scratch[1];
	if (!out) {
		out = scratch;
		cap = 1;
	}
	size_t n = 0;
	if (c->p >= c->end || *c->p != '"')
		return -1;
	c->p++;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p++;
		if (ch < 0x20)
			return -1;
		if (ch != '\\') {
			if (n + 1 < cap)
				out[n++] = (char)ch;
			continue;
		}
		if (c->p >= c->end)
			return -1;
		char e = *c->p++;
		unsigned cp;
		switch (e) {
		case '"': case '\\': case '/': cp = (unsigned char)e; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (read_hex4(c, &cp) != 0)
				return -1;
			if (cp >= 0xD800 && cp < 0xDC00) {
				unsigned lo;
				if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u')
					return -1;
				c->p += 2;
				if (read_hex4(c, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp < 0xE000) {
				return -1;
			}
			if (cp == 0)
				cp = '?';
			break;
		default: return -1;
		}
		put_utf8(out, cap, &n, cp);
	}
	if (c->p >= c->end)
		return -1;
	c->p++;
	out[n] = 0;
	return 0;
}

/* A JSON number; its text goes to out. */
static int read_number(cursor *c, char *out, size_t cap)
{
	const char *start = c->p;
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p >= c->end || *c->p < '0' || *c->p > '9')
		return -1;
	while (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e' || *c->p == 'E' ||
	                         *c->p == '+' || *c->p == '-'))
		c->p++;
	size_t len = (size_t)(c->p - start);
	if (len >= cap)
		return -1;
	memcpy(out, start, len);
	out[len] = 0;
	return 0;
}

static int read_literal(cursor *c, const char *word)
{
	size_t len = strlen(word);
	if ((size_t)(c->end - c->p) < len || memcmp(c->p, word, len) != 0)
		return -1;
	c->p += len;
	return 0;
}

typedef struct field {
	const char *key;
	char *text;
	size_t cap;
} field;

int ctl_mover_report_parse(const char *line, size_t len, ctl_mover_report *r)
{
	memset(r, 0, sizeof(*r));
	char bytes[32] = "", files[32] = "", duration[64] = "";
	field fields[] = {
		{ "result", r->result, sizeof(r->result) },
		{ "operation", r->operation, sizeof(r->operation) },
		{ "source", r->source, sizeof(r->source) },
		{ "snapshotId", r->snapshot_id, sizeof(r->snapshot_id) },
		{ "lastMaintenance", r->last_maintenance, sizeof(r->last_maintenance) },
		{ "error", r->error, sizeof(r->error) },
		{ "bytes", bytes, sizeof(bytes) },
		{ "files", files, sizeof(files) },
		{ "durationSeconds", duration, sizeof(duration) },
	};
	cursor c = { line, line + len };
	skip_ws(&c);
	if (c.p >= c.end || *c.p++ != '{')
		return -1;
	skip_ws(&c);
	int first = 1;
	while (c.p < c.end && *c.p != '}') {
		if (!first) {
			if (*c.p++ != ',')
				return -1;
			skip_ws(&c);
		}
		first = 0;
		char key[64];
		if (read_string(&c, key, sizeof(key)) != 0)
			return -1;
		skip_ws(&c);
		if (c.p >= c.end || *c.p++ != ':')
			return -1;
		skip_ws(&c);
		field *f = NULL;
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strcmp(fields[i].key, key) == 0)
				f = &fields[i];
		char scratch[64];
		char *text = f ? f->text : scratch;
		size_t cap = f ? f->cap : sizeof(scratch);
		int rc;
		if (c.p >= c.end)
			return -1;
		if (*c.p == '"')
			rc = read_string(&c, text, cap);
		else if (*c.p == 't')
			rc = read_literal(&c, "true");
		else if (*c.p == 'f')
			rc = read_literal(&c, "false");
		else if (*c.p == 'n')
			rc = read_literal(&c, "null");
		else
			rc = read_number(&c, text, cap);
		if (rc != 0)
			return -1;
		if (strcmp(key, "repositoryCreated") == 0)
			r->repository_created = c.p[-1] == 'e' && c.p[-2] == 'u';
		skip_ws(&c);
	}
	if (c.p >= c.end)
		return -1;
	c.p++;
	skip_ws(&c);
	if (c.p != c.end || !r->result[0])
		return -1;
	r->bytes = strtoull(bytes, NULL, 10);
	r->files = strtoull(files, NULL, 10);
	r->duration_s = strtod(duration, NULL);
	return 0;
}
