/* Strict repository URL parser: scheme://host/path[?query]. Untrusted input (config,
 * environment), so every byte is checked and errors give the offset. */
#include "config.h"

#include <string.h>

#include <coffer/error.h>
#include <coffer/url.h>

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes text[start, end) into a new string; rejects bad escapes and %00. */
static int decode_part(char **out, const char *text, size_t start, size_t end, const char *part)
{
	char *dst = coffer_malloc(end - start + 1);
	if (!dst)
		return COFFER_ENOMEM;
	size_t o = 0;
	for (size_t i = start; i < end; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '%') {
			int hi = -1, lo = -1;
			if (i + 2 < end) {
				hi = hex_value((unsigned char)text[i + 1]);
				lo = hex_value((unsigned char)text[i + 2]);
			}
			if (hi < 0 || lo < 0) {
				coffer_free(dst);
				return coffer_error_set(COFFER_EINVALID,
				                        "invalid URL: bad %%-escape in %s at offset %zu", part, i);
			}
			unsigned char v = (unsigned char)(hi * 16 + lo);
			if (v == 0) {
				coffer_free(dst);
				return coffer_error_set(COFFER_EINVALID,
				                        "invalid URL: %%00 in %s at offset %zu", part, i);
			}
			dst[o++] = (char)v;
			i += 2;
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	*out = dst;
	return 0;
}

void coffer_url_free(coffer_url *url)
{
	if (!url)
		return;
	coffer_free(url->scheme);
	coffer_free(url->host);
	coffer_free(url->path);
	coffer_free(url->query);
	coffer_free(url->text);
	coffer_free(url);
}

int coffer_url_parse_n(coffer_url **out, const char *text, size_t len)
{
	*out = NULL;
	if (len == 0)
		return coffer_error_set(COFFER_EINVALID, "invalid URL: empty (expected scheme://...)");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 || c == 0x7f)
			return coffer_error_set(COFFER_EINVALID,
			                        "invalid URL: control byte 0x%02x at offset %zu", c, i);
	}
	size_t i = 0;
	if (!is_alpha((unsigned char)text[0]))
		return coffer_error_set(COFFER_EINVALID,
		                        "invalid URL '%.*s': must start with a scheme such as filesystem:// or s3://",
		                        (int)(len > 200 ? 200 : len), text);
	while (i < len && (is_alpha((unsigned char)text[i]) || is_digit((unsigned char)text[i]) ||
	                   text[i] == '+' || text[i] == '-' || text[i] == '.'))
		i++;
	size_t scheme_end = i;
	if (len - i < 3 || memcmp(text + i, "://", 3) != 0)
		return coffer_error_set(COFFER_EINVALID,
		                        "invalid URL '%.*s': expected '://' after the scheme at offset %zu",
		                        (int)(len > 200 ? 200 : len), text, i);
	if (scheme_end > 32)
		return coffer_error_set(COFFER_EINVALID, "invalid URL: scheme longer than 32 characters");
	i += 3;
	size_t host_start = i;
	while (i < len && text[i] != '/' && text[i] != '?')
		i++;
	size_t host_end = i;
	while (i < len && text[i] != '?')
		i++;
	size_t path_end = i;

	coffer_url *url = coffer_calloc(1, sizeof(*url));
	if (!url)
		return COFFER_ENOMEM;
	int rc = COFFER_ENOMEM;
	url->scheme = coffer_malloc(scheme_end + 1);
	url->text = coffer_malloc(len + 1);
	if (!url->scheme || !url->text)
		goto fail;
	for (size_t k = 0; k < scheme_end; k++) {
		char c = text[k];
		url->scheme[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	url->scheme[scheme_end] = '\0';
	memcpy(url->text, text, len);
	url->text[len] = '\0';
	if ((rc = decode_part(&url->host, text, host_start, host_end, "host")) != 0)
		goto fail;
	if ((rc = decode_part(&url->path, text, host_end, path_end, "path")) != 0)
		goto fail;
	if (path_end < len) {
		rc = COFFER_ENOMEM;
		url->query = coffer_malloc(len - path_end);
		if (!url->query)
			goto fail;
		memcpy(url->query, text + path_end + 1, len - path_end - 1);
		url->query[len - path_end - 1] = '\0';
	}
	*out = url;
	return 0;
fail:
	coffer_url_free(url);
	return rc;
}

int coffer_url_parse(coffer_url **out, const char *text)
{
	return coffer_url_parse_n(out, text, strlen(text));
}
