/* Shared Key authorization of Blob service requests (docs/backend-azure.md, "Shared Key"). */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure.h"

/* The standard headers of the string-to-sign, in order (Content-Length is handled apart). */
static const char *const azure_signed_headers[] = {
	"Content-Encoding", "Content-Language", NULL /* Content-Length */, "Content-MD5",
	"Content-Type", "Date", "If-Modified-Since", "If-Match", "If-None-Match",
	"If-Unmodified-Since", "Range",
};

typedef struct azure_pair {
	char *name;
	char *value;
} azure_pair;

static int azure_pair_cmp(const void *a, const void *b)
{
	const azure_pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

static void azure_pairs_free(azure_pair *pairs, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		coffer_free(pairs[i].name);
		coffer_free(pairs[i].value);
	}
	coffer_free(pairs);
}

char *azure_percent_decode(const char *text, size_t len, int lower)
{
	char *out = coffer_malloc(len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c == '%' && i + 2 < len && isxdigit((unsigned char)text[i + 1]) &&
		    isxdigit((unsigned char)text[i + 2])) {
			char hex[3] = { text[i + 1], text[i + 2], '\0' };
			c = (char)strtol(hex, NULL, 16);
			i += 2;
		}
		out[o++] = lower ? (char)tolower((unsigned char)c) : c;
	}
	out[o] = '\0';
	return out;
}

/* A copy of a header value with surrounding whitespace trimmed and inner runs folded. */
static char *azure_fold_value(const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	char *out = coffer_malloc(strlen(v) + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	int space = 0;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
			space = 1;
			continue;
		}
		if (space && o > 0)
			out[o++] = ' ';
		space = 0;
		out[o++] = *v;
	}
	out[o] = '\0';
	return out;
}

static int azure_append_canonical_headers(const coffer_http_headers *headers, coffer_buf *out)
{
	azure_pair *pairs = coffer_calloc(headers->count + 1, sizeof(*pairs));
	if (!pairs)
		return COFFER_ENOMEM;
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; i < headers->count && rc == 0; i++) {
		const char *line = headers->lines[i];
		const char *colon = strchr(line, ':');
		if (!colon || strncasecmp(line, "x-ms-", 5) != 0)
			continue;
		size_t name_len = (size_t)(colon - line);
		while (name_len > 0 && (line[name_len - 1] == ' ' || line[name_len - 1] == '\t'))
			name_len--;
		pairs[n].name = azure_percent_decode(line, name_len, 1);
		pairs[n].value = azure_fold_value(colon + 1);
		n++;
		if (!pairs[n - 1].name || !pairs[n - 1].value)
			rc = COFFER_ENOMEM;
	}
	if (rc == 0) {
		qsort(pairs, n, sizeof(*pairs), azure_pair_cmp);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = coffer_http_bufprintf(out, "%s:%s\n", pairs[i].name, pairs[i].value);
	}
	azure_pairs_free(pairs, n);
	return rc;
}

/* "/<account><path>" and "\n<name>:<values>" for each query parameter. */
static int azure_append_canonical_resource(const char *account, const char *url, coffer_buf *out)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	p += strcspn(p, "/?");
	size_t path_len = strcspn(p, "?");
	int rc = coffer_http_bufprintf(out, "/%s%s%.*s", account, path_len ? "" : "/", (int)path_len,
	                               p);
	if (rc || p[path_len] != '?')
		return rc;
	const char *query = p + path_len + 1;
	size_t max_pairs = 1;
	for (const char *q = query; *q; q++)
		max_pairs += *q == '&';
	azure_pair *pairs = coffer_calloc(max_pairs, sizeof(*pairs));
	if (!pairs)
		return COFFER_ENOMEM;
	size_t n = 0;
	for (const char *q = query; *q && rc == 0;) {
		size_t item = strcspn(q, "&");
		const char *eq = memchr(q, '=', item);
		size_t name_len = eq ? (size_t)(eq - q) : item;
		if (item > 0) {
			pairs[n].name = azure_percent_decode(q, name_len, 1);
			pairs[n].value = eq ? azure_percent_decode(eq + 1, item - name_len - 1, 0) : coffer_strdup("");
			n++;
			if (!pairs[n - 1].name || !pairs[n - 1].value)
				rc = COFFER_ENOMEM;
		}
		q += item;
		if (*q == '&')
			q++;
	}
	if (rc == 0) {
		qsort(pairs, n, sizeof(*pairs), azure_pair_cmp);
		for (size_t i = 0; i < n && rc == 0; i++) {
			/* A repeated name lists its values, sorted, after one "name:". */
			if (i > 0 && strcmp(pairs[i].name, pairs[i - 1].name) == 0)
				rc = coffer_http_bufprintf(out, ",%s", pairs[i].value);
			else
				rc = coffer_http_bufprintf(out, "\n%s:%s", pairs[i].name, pairs[i].value);
		}
	}
	azure_pairs_free(pairs, n);
	return rc;
}

int azure_sharedkey_string_to_sign(const char *method, const char *account, const char *url,
                                   size_t content_length, const coffer_http_headers *headers,
                                   coffer_buf *out)
{
	int rc = coffer_http_bufprintf(out, "%s\n", method);
	for (size_t i = 0; rc == 0 && i < sizeof(azure_signed_headers) / sizeof(azure_signed_headers[0]);
	     i++) {
		if (!azure_signed_headers[i]) {
			if (content_length > 0)
				rc = coffer_http_bufprintf(out, "%zu\n", content_length);
			else
				rc = coffer_http_bufprintf(out, "\n");
			continue;
		}
		const char *v = coffer_http_headers_get(headers, azure_signed_headers[i]);
		rc = coffer_http_bufprintf(out, "%s\n", v ? v : "");
	}
	if (rc == 0)
		rc = azure_append_canonical_headers(headers, out);
	if (rc == 0)
		rc = azure_append_canonical_resource(account, url, out);
	return rc;
}

int azure_sharedkey_authorization(const char *account, const uint8_t *key, size_t key_len,
                                  const char *string_to_sign, size_t len, coffer_buf *out)
{
	uint8_t mac[32];
	coffer_http_hmac_sha256(key, key_len, string_to_sign, len, mac);
	int rc = coffer_http_bufprintf(out, "SharedKey %s:", account);
	if (rc == 0)
		rc = coffer_http_base64_encode(mac, sizeof(mac), out);
	return rc;
}
