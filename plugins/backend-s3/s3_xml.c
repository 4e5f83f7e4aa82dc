/* Reading and writing the S3 XML documents; see s3_xml.h and docs/backend-s3.md. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/http.h>

#include "s3_xml.h"

static int s3_xml_nomem(void)
{
	return coffer_error_set(COFFER_ENOMEM, "s3: out of memory reading a response");
}

static int s3_xml_hex(unsigned char c)
{
	static const char digits[] = "0123456789abcdef";
	const char *p = c ? strchr(digits, tolower(c)) : NULL;
	return p ? (int)(p - digits) : -1;
}

int s3_xml_url_decode(const char *s, size_t len, char **out, size_t *out_len)
{
	char *d = coffer_malloc(len + 1);
	if (!d)
		return s3_xml_nomem();
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 2 < len ? s3_xml_hex((unsigned char)s[i + 1]) : -1;
			int lo = hi < 0 ? -1 : s3_xml_hex((unsigned char)s[i + 2]);
			if (lo < 0) {
				coffer_free(d);
				return coffer_error_set(COFFER_ECORRUPT,
				                        "s3: listing holds a badly URL-encoded key");
			}
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0) {
			coffer_free(d);
			return coffer_error_set(COFFER_ECORRUPT, "s3: listing holds a key with a NUL byte");
		}
		d[o++] = (char)c;
	}
	d[o] = '\0';
	*out = d;
	*out_len = o;
	return 0;
}

/* ------------------------------------------------------------------ listings */

#define S3_XML_LIST "ListBucketResult"
#define S3_XML_CONTENTS S3_XML_LIST "/Contents"

typedef struct s3_list_walk {
	s3_xml_list_page *page;
	int root_ok;
	int url_encoded;
	int truncated_seen;
	/* per object, which fields were seen (bit 0 key, 1 size, 2 mtime) */
	unsigned char *seen;
	size_t seen_cap;
} s3_list_walk;

static int s3_list_add(s3_list_walk *w)
{
	s3_xml_list_page *p = w->page;
	if (p->count == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		s3_xml_object *grown = coffer_realloc(p->objects, cap * sizeof(*grown));
		if (!grown)
			return s3_xml_nomem();
		p->objects = grown;
		p->cap = cap;
		unsigned char *seen = coffer_realloc(w->seen, cap);
		if (!seen)
			return s3_xml_nomem();
		w->seen = seen;
		w->seen_cap = cap;
	}
	memset(&p->objects[p->count], 0, sizeof(p->objects[0]));
	w->seen[p->count] = 0;
	p->count++;
	return 0;
}

static int s3_list_cb(void *ud, const char *path, const char *text, size_t text_len)
{
	s3_list_walk *w = ud;
	if (!w->root_ok) {
		if (strcmp(path, S3_XML_LIST) != 0)
			return coffer_error_set(COFFER_ECORRUPT,
			                        "s3: expected a ListBucketResult, got <%.40s>", path);
		w->root_ok = 1;
		return 0;
	}
	s3_xml_list_page *p = w->page;
	if (!text) {
		if (strcmp(path, S3_XML_CONTENTS) == 0)
			return s3_list_add(w);
		return 0;
	}
	if (strncmp(path, S3_XML_CONTENTS "/", sizeof(S3_XML_CONTENTS)) == 0) {
		if (p->count == 0)
			return 0;
		s3_xml_object *o = &p->objects[p->count - 1];
		const char *field = path + sizeof(S3_XML_CONTENTS);
		if (strcmp(field, "Key") == 0 && !(w->seen[p->count - 1] & 1)) {
			if (!(o->key = coffer_http_strndup(text, text_len)))
				return s3_xml_nomem();
			o->key_len = text_len;
			w->seen[p->count - 1] |= 1;
		} else if (strcmp(field, "Size") == 0) {
			if (coffer_http_parse_u64(text, text_len, &o->size) != 0)
				return coffer_error_set(COFFER_ECORRUPT, "s3: listing holds a bad Size '%.30s'",
				                        text);
			w->seen[p->count - 1] |= 2;
		} else if (strcmp(field, "LastModified") == 0) {
			if (coffer_http_parse_time(text, &o->mtime_ns) != 0)
				return coffer_error_set(COFFER_ECORRUPT,
				                        "s3: listing holds a bad LastModified '%.40s'", text);
			w->seen[p->count - 1] |= 4;
		}
	} else if (strcmp(path, S3_XML_LIST "/IsTruncated") == 0) {
		w->truncated_seen = 1;
		p->truncated = text_len == 4 && memcmp(text, "true", 4) == 0;
	} else if (strcmp(path, S3_XML_LIST "/NextContinuationToken") == 0) {
		coffer_free(p->next_token);
		if (!(p->next_token = coffer_http_strndup(text, text_len)))
			return s3_xml_nomem();
	} else if (strcmp(path, S3_XML_LIST "/EncodingType") == 0) {
		w->url_encoded = text_len == 3 && memcmp(text, "url", 3) == 0;
	}
	return 0;
}

void s3_xml_list_free(s3_xml_list_page *page)
{
	for (size_t i = 0; i < page->count; i++)
		coffer_free(page->objects[i].key);
	coffer_free(page->objects);
	coffer_free(page->next_token);
	memset(page, 0, sizeof(*page));
}

static int s3_list_finish(s3_list_walk *w)
{
	s3_xml_list_page *p = w->page;
	if (!w->root_ok)
		return coffer_error_set(COFFER_ECORRUPT, "s3: empty listing response");
	if (p->truncated && (!p->next_token || !p->next_token[0]))
		return coffer_error_set(COFFER_ECORRUPT,
		                        "s3: truncated listing without a NextContinuationToken");
	for (size_t i = 0; i < p->count; i++) {
		s3_xml_object *o = &p->objects[i];
		if (w->seen[i] != 7)
			return coffer_error_set(COFFER_ECORRUPT,
			                        "s3: listing entry %zu lacks its Key, Size or LastModified",
			                        i);
		if (w->url_encoded) {
			char *decoded;
			size_t decoded_len;
			int rc = s3_xml_url_decode(o->key, o->key_len, &decoded, &decoded_len);
			if (rc)
				return rc;
			coffer_free(o->key);
			o->key = decoded;
			o->key_len = decoded_len;
		} else if (memchr(o->key, '\0', o->key_len)) {
			return coffer_error_set(COFFER_ECORRUPT, "s3: listing holds a key with a NUL byte");
		}
		if (o->key_len == 0)
			return coffer_error_set(COFFER_ECORRUPT, "s3: listing holds an empty key");
	}
	return 0;
}

int s3_xml_list_parse(const char *doc, size_t len, s3_xml_list_page *page)
{
	memset(page, 0, sizeof(*page));
	s3_list_walk w;
	memset(&w, 0, sizeof(w));
	w.page = page;
	int rc = coffer_xml_walk(doc, len, s3_list_cb, &w);
	if (rc == 0)
		rc = s3_list_finish(&w);
	coffer_free(w.seen);
	if (rc)
		s3_xml_list_free(page);
	return rc;
}

/* ------------------------------------------------------------------ errors */

typedef struct s3_error_walk {
	s3_xml_error_info *info;
	int root; /* 0 unseen, 1 Error, -1 something else */
} s3_error_walk;

static void s3_copy_clean(char *dst, size_t cap, const char *src, size_t len)
{
	size_t n = len < cap - 1 ? len : cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[n] = '\0';
}

static int s3_error_cb(void *ud, const char *path, const char *text, size_t text_len)
{
	s3_error_walk *w = ud;
	if (w->root == 0) {
		w->root = strcmp(path, "Error") == 0 ? 1 : -1;
		return w->root == 1 ? 0 : 1; /* stop: not an error document */
	}
	if (!text)
		return 0;
	if (strcmp(path, "Error/Code") == 0)
		s3_copy_clean(w->info->code, sizeof(w->info->code), text, text_len);
	else if (strcmp(path, "Error/Message") == 0)
		s3_copy_clean(w->info->message, sizeof(w->info->message), text, text_len);
	return 0;
}

int s3_xml_error_parse(const char *doc, size_t len, s3_xml_error_info *out)
{
	memset(out, 0, sizeof(*out));
	s3_error_walk w = { out, 0 };
	int rc = coffer_xml_walk(doc, len, s3_error_cb, &w);
	if (rc < 0 || w.root != 1) {
		memset(out, 0, sizeof(*out));
		coffer_error_clear();
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ multipart */

typedef struct s3_upload_walk {
	char *id;
	int root_ok;
} s3_upload_walk;

static int s3_upload_cb(void *ud, const char *path, const char *text, size_t text_len)
{
	s3_upload_walk *w = ud;
	if (!w->root_ok) {
		if (strcmp(path, "InitiateMultipartUploadResult") != 0)
			return coffer_error_set(COFFER_ECORRUPT,
			                        "s3: expected an InitiateMultipartUploadResult, got <%.40s>",
			                        path);
		w->root_ok = 1;
		return 0;
	}
	if (text && strcmp(path, "InitiateMultipartUploadResult/UploadId") == 0 && !w->id) {
		if (text_len == 0 || memchr(text, '\0', text_len))
			return coffer_error_set(COFFER_ECORRUPT, "s3: empty or bad UploadId");
		if (!(w->id = coffer_http_strndup(text, text_len)))
			return s3_xml_nomem();
	}
	return 0;
}

int s3_xml_upload_id(const char *doc, size_t len, char **out)
{
	s3_upload_walk w = { NULL, 0 };
	int rc = coffer_xml_walk(doc, len, s3_upload_cb, &w);
	if (rc == 0 && !w.id)
		rc = coffer_error_set(COFFER_ECORRUPT, "s3: multipart upload started without an UploadId");
	if (rc) {
		coffer_free(w.id);
		return rc;
	}
	*out = w.id;
	return 0;
}

/* ------------------------------------------------------------------ batch delete */

typedef struct s3_delete_walk {
	s3_xml_delete_error_fn cb;
	void *ud;
	int root_ok;
	int in_error;
	char *key;
	char code[64];
	char message[256];
} s3_delete_walk;

static int s3_delete_flush(s3_delete_walk *w)
{
	int rc = 0;
	if (w->in_error) {
		if (!w->key)
			rc = coffer_error_set(COFFER_ECORRUPT, "s3: DeleteResult error entry without a Key");
		else
			rc = w->cb(w->ud, w->key, w->code, w->message);
	}
	coffer_free(w->key);
	w->key = NULL;
	w->code[0] = w->message[0] = '\0';
	w->in_error = 0;
	return rc;
}

static int s3_delete_cb(void *ud, const char *path, const char *text, size_t text_len)
{
	s3_delete_walk *w = ud;
	if (!w->root_ok) {
		if (strcmp(path, "DeleteResult") != 0)
			return coffer_error_set(COFFER_ECORRUPT, "s3: expected a DeleteResult, got <%.40s>",
			                        path);
		w->root_ok = 1;
		return 0;
	}
	if (!text) {
		if (strcmp(path, "DeleteResult/Error") == 0 || strcmp(path, "DeleteResult/Deleted") == 0) {
			int rc = s3_delete_flush(w);
			w->in_error = path[13] == 'E';
			return rc;
		}
		return 0;
	}
	if (!w->in_error)
		return 0;
	if (strcmp(path, "DeleteResult/Error/Key") == 0 && !w->key) {
		if (memchr(text, '\0', text_len))
			return coffer_error_set(COFFER_ECORRUPT, "s3: DeleteResult key with a NUL byte");
		if (!(w->key = coffer_http_strndup(text, text_len)))
			return s3_xml_nomem();
	} else if (strcmp(path, "DeleteResult/Error/Code") == 0) {
		s3_copy_clean(w->code, sizeof(w->code), text, text_len);
	} else if (strcmp(path, "DeleteResult/Error/Message") == 0) {
		s3_copy_clean(w->message, sizeof(w->message), text, text_len);
	}
	return 0;
}

int s3_xml_delete_result(const char *doc, size_t len, s3_xml_delete_error_fn cb, void *ud)
{
	s3_delete_walk w;
	memset(&w, 0, sizeof(w));
	w.cb = cb;
	w.ud = ud;
	int rc = coffer_xml_walk(doc, len, s3_delete_cb, &w);
	if (rc == 0 && !w.root_ok)
		rc = coffer_error_set(COFFER_ECORRUPT, "s3: empty DeleteObjects response");
	if (rc == 0)
		rc = s3_delete_flush(&w);
	coffer_free(w.key);
	return rc;
}

/* ------------------------------------------------------------------ writing */

int s3_xml_escape(const char *s, coffer_buf *out)
{
	int rc = 0;
	for (const char *p = s; *p && rc == 0; p++) {
		unsigned char c = (unsigned char)*p;
		switch (c) {
		case '&': rc = coffer_http_bufprintf(out, "&amp;"); break;
		case '<': rc = coffer_http_bufprintf(out, "&lt;"); break;
		case '>': rc = coffer_http_bufprintf(out, "&gt;"); break;
		case '"': rc = coffer_http_bufprintf(out, "&quot;"); break;
		case '\'': rc = coffer_http_bufprintf(out, "&apos;"); break;
		case '\t':
		case '\n':
		case '\r': rc = coffer_http_bufprintf(out, "&#%d;", c); break;
		default:
			if (c < 0x20 || c == 0x7f)
				return coffer_error_set(COFFER_EINVALID,
				                        "s3: name '%.64s' holds control byte 0x%02x, which an "
				                        "S3 XML request cannot carry", s, c);
			rc = coffer_http_bufprintf(out, "%c", c);
		}
	}
	return rc;
}
