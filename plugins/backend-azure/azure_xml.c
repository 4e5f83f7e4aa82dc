/* The XML bodies of the Blob service: List Blobs pages and <Error> documents. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "azure.h"

#define AZURE_BLOB_PATH "EnumerationResults/Blobs/Blob"

typedef struct azure_listing_walk {
	azure_listing *out;
	int in_blob;        /* a <Blob> is open and has a slot in out->blobs */
	int have_name;
} azure_listing_walk;

static int azure_listing_finish_blob(azure_listing_walk *w)
{
	if (w->in_blob && !w->have_name)
		return coffer_error_set(COFFER_ECORRUPT, "azure: a listing entry has no Name");
	w->in_blob = 0;
	return 0;
}

static int azure_listing_cb(void *ud, const char *path, const char *text, size_t text_len)
{
	azure_listing_walk *w = ud;
	azure_listing *l = w->out;
	if (!text) {
		if (strcmp(path, AZURE_BLOB_PATH) != 0)
			return 0;
		int rc = azure_listing_finish_blob(w);
		if (rc)
			return rc;
		if (l->count == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			azure_blob_entry *grown = coffer_realloc(l->blobs, cap * sizeof(*grown));
			if (!grown)
				return COFFER_ENOMEM;
			l->blobs = grown;
			l->cap = cap;
		}
		memset(&l->blobs[l->count++], 0, sizeof(l->blobs[0]));
		w->in_blob = 1;
		w->have_name = 0;
		return 0;
	}
	if (strcmp(path, "EnumerationResults/NextMarker") == 0) {
		coffer_free(l->next_marker);
		l->next_marker = coffer_http_strndup(text, text_len);
		return l->next_marker ? 0 : COFFER_ENOMEM;
	}
	if (!w->in_blob || strncmp(path, AZURE_BLOB_PATH "/", sizeof(AZURE_BLOB_PATH)) != 0)
		return 0;
	azure_blob_entry *e = &l->blobs[l->count - 1];
	const char *field = path + sizeof(AZURE_BLOB_PATH);
	if (strcmp(field, "Name") == 0) {
		if (w->have_name || text_len == 0 || memchr(text, '\0', text_len))
			return coffer_error_set(COFFER_ECORRUPT, "azure: a listing entry has a bad Name");
		e->name = coffer_http_strndup(text, text_len);
		if (!e->name)
			return COFFER_ENOMEM;
		w->have_name = 1;
	} else if (strcmp(field, "Properties/Content-Length") == 0) {
		if (coffer_http_parse_u64(text, text_len, &e->size) != 0)
			return coffer_error_set(COFFER_ECORRUPT,
			                        "azure: a listing entry has a bad Content-Length '%.*s'",
			                        (int)(text_len > 40 ? 40 : text_len), text);
	} else if (strcmp(field, "Properties/Last-Modified") == 0) {
		char *copy = coffer_http_strndup(text, text_len);
		if (!copy)
			return COFFER_ENOMEM;
		int64_t ns = 0;
		if (coffer_http_parse_time(copy, &ns) == 0)
			e->mtime_ns = ns;
		coffer_free(copy);
	}
	return 0;
}

/* The service starts its documents with a UTF-8 byte order mark. */
static void azure_skip_bom(const char **doc, size_t *len)
{
	if (*len >= 3 && memcmp(*doc, "\xef\xbb\xbf", 3) == 0) {
		*doc += 3;
		*len -= 3;
	}
}

int azure_parse_listing(const char *doc, size_t len, azure_listing *out)
{
	memset(out, 0, sizeof(*out));
	azure_skip_bom(&doc, &len);
	azure_listing_walk w = { out, 0, 0 };
	int rc = coffer_xml_walk(doc, len, azure_listing_cb, &w);
	if (rc == 0)
		rc = azure_listing_finish_blob(&w);
	if (rc)
		azure_listing_free(out);
	return rc;
}

void azure_listing_free(azure_listing *listing)
{
	for (size_t i = 0; i < listing->count; i++)
		coffer_free(listing->blobs[i].name);
	coffer_free(listing->blobs);
	coffer_free(listing->next_marker);
	memset(listing, 0, sizeof(*listing));
}

/* Copies text up to its first line break, without control bytes, into dst[0, cap). */
static void azure_copy_line(char *dst, size_t cap, const char *text, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\n' || c == '\r')
			break;
		dst[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[o] = '\0';
}

static int azure_error_cb(void *ud, const char *path, const char *text, size_t text_len)
{
	azure_error_body *e = ud;
	if (!text)
		return 0;
	if (strcmp(path, "Error/Code") == 0)
		azure_copy_line(e->code, sizeof(e->code), text, text_len);
	else if (strcmp(path, "Error/Message") == 0)
		azure_copy_line(e->message, sizeof(e->message), text, text_len);
	return 0;
}

void azure_parse_error(const char *doc, size_t len, azure_error_body *out)
{
	memset(out, 0, sizeof(*out));
	if (!doc || len == 0)
		return;
	azure_skip_bom(&doc, &len);
	if (coffer_xml_walk(doc, len, azure_error_cb, out) != 0)
		memset(out, 0, sizeof(*out)); /* not an <Error> document: the caller shows the status */
}
