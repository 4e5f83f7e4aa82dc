/* A small XML walker for the listing and error documents of S3 and Azure: elements,
 * text with entities, comments, processing instructions, CDATA, DOCTYPE. No DTDs, no
 * namespaces (names are reported as written), no attribute values. */
#include "config.h"

#include <string.h>

#include "http_private.h"

#define XML_MAX_DEPTH 32

typedef struct xml_walk {
	const char *doc;
	size_t len, pos;
	coffer_buf path;          /* "A/B/C", NUL-terminated */
	size_t marks[XML_MAX_DEPTH + 1]; /* path length before each level's name */
	int has_child[XML_MAX_DEPTH + 1];
	unsigned depth;
	coffer_buf text;          /* decoded text of the current element */
	int seen_root;
} xml_walk;

static int xml_bad(const xml_walk *w, const char *why)
{
	return coffer_error_set(COFFER_ECORRUPT, "malformed XML response at byte %zu: %s", w->pos, why);
}

static int starts(const xml_walk *w, const char *s)
{
	size_t n = strlen(s);
	return w->len - w->pos >= n && memcmp(w->doc + w->pos, s, n) == 0;
}

/* Skips to just past `end`; fails when it never comes. */
static int skip_past(xml_walk *w, const char *end, const char *what)
{
	const char *hit = memmem(w->doc + w->pos, w->len - w->pos, end, strlen(end));
	if (!hit)
		return xml_bad(w, what);
	w->pos = (size_t)(hit - w->doc) + strlen(end);
	return 0;
}

static int put_utf8(coffer_buf *b, unsigned long cp)
{
	uint8_t u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | cp >> 18);
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return http_buf_add(b, u, n);
}

/* Decodes the entity at w->pos ('&') into w->text. */
static int take_entity(xml_walk *w)
{
	static const struct { const char *name; char c; } named[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' }
	};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (starts(w, named[i].name)) {
			w->pos += strlen(named[i].name);
			return http_buf_add(&w->text, &named[i].c, 1);
		}
	if (!starts(w, "&#"))
		return xml_bad(w, "unknown entity (only &amp; &lt; &gt; &quot; &apos; and &#N; are known)");
	size_t p = w->pos + 2;
	int hex = p < w->len && (w->doc[p] == 'x' || w->doc[p] == 'X');
	if (hex)
		p++;
	unsigned long cp = 0;
	size_t digits = 0;
	for (; p < w->len && w->doc[p] != ';'; p++, digits++) {
		char c = w->doc[p];
		int v = c >= '0' && c <= '9' ? c - '0'
		        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0 || digits >= 8)
			return xml_bad(w, "bad character reference");
		cp = cp * (hex ? 16 : 10) + (unsigned long)v;
	}
	if (p >= w->len || digits == 0 || cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return xml_bad(w, "bad character reference");
	w->pos = p + 1;
	return put_utf8(&w->text, cp);
}

static int is_name_end(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/' || c == '>';
}

/* Skips attributes up to '>' or "/>"; sets *empty for "/>". */
static int skip_attributes(xml_walk *w, int *empty)
{
	while (w->pos < w->len) {
		char c = w->doc[w->pos];
		if (c == '"' || c == '\'') {
			const char *q = memchr(w->doc + w->pos + 1, c, w->len - w->pos - 1);
			if (!q)
				return xml_bad(w, "unterminated attribute value");
			w->pos = (size_t)(q - w->doc) + 1;
		} else if (c == '>') {
			w->pos++;
			*empty = 0;
			return 0;
		} else if (c == '/' && w->pos + 1 < w->len && w->doc[w->pos + 1] == '>') {
			w->pos += 2;
			*empty = 1;
			return 0;
		} else if (c == '<') {
			return xml_bad(w, "'<' inside a tag");
		} else {
			w->pos++;
		}
	}
	return xml_bad(w, "document ends inside a tag");
}

static int end_element(xml_walk *w, coffer_xml_cb cb, void *ud)
{
	int rc = 0;
	if (!w->has_child[w->depth])
		rc = cb(ud, (const char *)w->path.data, w->text.data ? (const char *)w->text.data : "",
		        w->text.len);
	w->text.len = 0;
	if (w->text.data)
		w->text.data[0] = 0;
	w->path.len = w->marks[w->depth];
	w->path.data[w->path.len] = 0;
	w->depth--;
	return rc;
}

static int start_element(xml_walk *w, coffer_xml_cb cb, void *ud)
{
	size_t name_start = ++w->pos;
	while (w->pos < w->len && !is_name_end(w->doc[w->pos]))
		w->pos++;
	size_t name_len = w->pos - name_start;
	if (name_len == 0)
		return xml_bad(w, "element without a name");
	for (size_t i = 0; i < name_len; i++) {
		char c = w->doc[name_start + i];
		if (c == 0 || c == '<' || c == '&' || c == '"' || c == '\'' || c == '=')
			return xml_bad(w, "bad character in an element name");
	}
	if (w->depth == 0 && w->seen_root)
		return xml_bad(w, "a second root element");
	if (w->depth >= XML_MAX_DEPTH)
		return xml_bad(w, "elements nested deeper than 32");
	w->has_child[w->depth] = 1;
	w->depth++;
	w->seen_root = 1;
	w->has_child[w->depth] = 0;
	w->marks[w->depth] = w->path.len;
	if ((w->depth > 1 && http_buf_add(&w->path, "/", 1)) ||
	    http_buf_add(&w->path, w->doc + name_start, name_len))
		return COFFER_ENOMEM;
	w->text.len = 0;
	w->text.data[0] = 0;
	int empty = 0, rc = skip_attributes(w, &empty);
	if (rc)
		return rc;
	if ((rc = cb(ud, (const char *)w->path.data, NULL, 0)) != 0)
		return rc;
	return empty ? end_element(w, cb, ud) : 0;
}

static int close_element(xml_walk *w, coffer_xml_cb cb, void *ud)
{
	size_t name_start = w->pos + 2;
	const char *gt = memchr(w->doc + name_start, '>', w->len - name_start);
	if (!gt)
		return xml_bad(w, "document ends inside a closing tag");
	size_t name_len = (size_t)(gt - w->doc) - name_start;
	while (name_len && is_name_end(w->doc[name_start + name_len - 1]))
		name_len--;
	if (w->depth == 0)
		return xml_bad(w, "closing tag without an open element");
	const char *open = (const char *)w->path.data + w->marks[w->depth] + (w->depth > 1);
	if (strlen(open) != name_len || memcmp(open, w->doc + name_start, name_len) != 0)
		return xml_bad(w, "closing tag does not match the open element");
	w->pos = (size_t)(gt - w->doc) + 1;
	return end_element(w, cb, ud);
}

static int walk(xml_walk *w, coffer_xml_cb cb, void *ud)
{
	int rc;
	while (w->pos < w->len) {
		char c = w->doc[w->pos];
		if (c == '<') {
			if (starts(w, "<?"))
				rc = skip_past(w, "?>", "unterminated processing instruction");
			else if (starts(w, "<!--"))
				rc = skip_past(w, "-->", "unterminated comment");
			else if (starts(w, "<![CDATA[")) {
				if (w->depth == 0)
					return xml_bad(w, "CDATA outside the root element");
				size_t from = w->pos + 9;
				if ((rc = skip_past(w, "]]>", "unterminated CDATA section")) == 0)
					rc = http_buf_add(&w->text, w->doc + from, w->pos - 3 - from);
			} else if (starts(w, "<!"))
				rc = skip_past(w, ">", "unterminated declaration");
			else if (starts(w, "</"))
				rc = close_element(w, cb, ud);
			else
				rc = start_element(w, cb, ud);
		} else if (c == '&') {
			if (w->depth == 0)
				return xml_bad(w, "text outside the root element");
			rc = take_entity(w);
		} else {
			if (w->depth == 0 && !(c == ' ' || c == '\t' || c == '\r' || c == '\n'))
				return xml_bad(w, c ? "text outside the root element" : "NUL byte");
			if (c == 0)
				return xml_bad(w, "NUL byte");
			size_t from = w->pos;
			while (w->pos < w->len && w->doc[w->pos] != '<' && w->doc[w->pos] != '&' &&
			       w->doc[w->pos] != 0)
				w->pos++;
			rc = w->depth ? http_buf_add(&w->text, w->doc + from, w->pos - from) : 0;
		}
		if (rc)
			return rc;
	}
	if (w->depth)
		return xml_bad(w, "document ends inside an element");
	if (!w->seen_root)
		return xml_bad(w, "no root element");
	return 0;
}

int coffer_xml_walk(const char *doc, size_t len, coffer_xml_cb cb, void *ud)
{
	xml_walk w;
	memset(&w, 0, sizeof(w));
	w.doc = doc;
	w.len = len;
	/* Azure (and some S3 servers) open with a UTF-8 byte order mark */
	if (len >= 3 && memcmp(doc, "\xef\xbb\xbf", 3) == 0)
		w.pos = 3;
	int rc = http_buf_add(&w.path, "", 0);
	if (!rc)
		rc = http_buf_add(&w.text, "", 0);
	if (!rc)
		rc = walk(&w, cb, ud);
	coffer_buf_free(&w.path);
	coffer_buf_free(&w.text);
	return rc == COFFER_ENOMEM ? coffer_error_set(rc, "out of memory reading XML") : rc;
}
