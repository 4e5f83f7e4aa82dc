/* Hashes, hex, base64, percent-encoding, dates: the small encodings the HTTP protocols
 * (SigV4, Shared Key, JWT) are built from. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <coffer/snapshot.h>

#include "http_private.h"

int http_buf_add(coffer_buf *b, const void *data, size_t n)
{
	if (coffer_buf_reserve(b, n + 1))
		return COFFER_ENOMEM;
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int coffer_http_bufprintf(coffer_buf *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return coffer_error_set(COFFER_EINVALID, "bad format string");
	if (coffer_buf_reserve(out, (size_t)n + 1))
		return COFFER_ENOMEM;
	va_start(ap, fmt);
	vsnprintf((char *)out->data + out->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	out->len += (size_t)n;
	return 0;
}

char *coffer_http_strndup(const char *s, size_t len)
{
	char *out = coffer_malloc(len + 1);
	if (out) {
		memcpy(out, s, len);
		out[len] = 0;
	}
	return out;
}

int coffer_http_parse_u64(const char *text, size_t len, uint64_t *out)
{
	if (len == 0 || len > 20)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		unsigned d = (unsigned)(text[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

void coffer_http_hex(const uint8_t *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = 0;
}

void coffer_http_sha256_hex(const void *data, size_t len, char out[65])
{
	uint8_t md[32];
	unsigned int md_len = 0;
	EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
	coffer_http_hex(md, 32, out);
}

void coffer_http_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                             uint8_t out[32])
{
	unsigned int out_len = 32;
	HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len);
}

static int base64_encode_with(const void *data, size_t len, coffer_buf *out, const char *alphabet,
                              int pad)
{
	const uint8_t *in = data;
	if (coffer_buf_reserve(out, (len + 2) / 3 * 4 + 1))
		return COFFER_ENOMEM;
	char *o = (char *)out->data + out->len;
	size_t i = 0, n = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		o[n++] = alphabet[v >> 18];
		o[n++] = alphabet[(v >> 12) & 63];
		o[n++] = alphabet[(v >> 6) & 63];
		o[n++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		o[n++] = alphabet[v >> 18];
		o[n++] = alphabet[(v >> 12) & 63];
		if (pad) {
			o[n++] = '=';
			o[n++] = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		o[n++] = alphabet[v >> 18];
		o[n++] = alphabet[(v >> 12) & 63];
		o[n++] = alphabet[(v >> 6) & 63];
		if (pad)
			o[n++] = '=';
	}
	o[n] = 0;
	out->len += n;
	return 0;
}

int coffer_http_base64_encode(const void *data, size_t len, coffer_buf *out)
{
	return base64_encode_with(data, len, out,
	                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 1);
}

int coffer_http_base64url_encode(const void *data, size_t len, coffer_buf *out)
{
	return base64_encode_with(data, len, out,
	                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 0);
}

static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int coffer_http_base64_decode(const char *text, size_t len, coffer_buf *out)
{
	if (coffer_buf_reserve(out, len / 4 * 3 + 4))
		return COFFER_ENOMEM;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t pad = 0, used = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int v = base64_value(c);
		if (v < 0 || pad)
			return coffer_error_set(COFFER_EINVALID, "invalid base64 at offset %zu: %s", i,
			                        pad ? "data after '=' padding" : "not a base64 character");
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		used++;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (uint8_t)(acc >> bits);
		}
	}
	if (used % 4 == 1 || pad > 2 || (pad && (used + pad) % 4))
		return coffer_error_set(COFFER_EINVALID, "invalid base64: truncated or badly padded (%zu "
		                        "characters)", used + pad);
	out->data[out->len] = 0;
	return 0;
}

int coffer_http_urlencode(const char *s, size_t len, int keep_slash, coffer_buf *out)
{
	static const char digits[] = "0123456789ABCDEF";
	if (coffer_buf_reserve(out, 3 * len + 1))
		return COFFER_ENOMEM;
	char *o = (char *)out->data + out->len;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
			o[n++] = (char)c;
		} else {
			o[n++] = '%';
			o[n++] = digits[c >> 4];
			o[n++] = digits[c & 15];
		}
	}
	o[n] = 0;
	out->len += n;
	return 0;
}

static const char *const month_names[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const day_names[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

void coffer_http_time_amz(int64_t unix_s, char out[17])
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, 17, "%04d%02d%02dT%02d%02d%02dZ", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void coffer_http_time_rfc1123(int64_t unix_s, char out[30])
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, 30, "%s, %02d %s %04d %02d:%02d:%02d GMT", day_names[tm.tm_wday % 7], tm.tm_mday,
	         month_names[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min,
	         tm.tm_sec);
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static int parse_rfc1123(const char *text, int64_t *out_ns)
{
	char day[4], mon[4], zone[4];
	int mday, year, hour, minute, second, consumed = 0;
	if (sscanf(text, "%3[A-Za-z], %d %3[A-Za-z] %d %d:%d:%d %3[A-Z]%n", day, &mday, mon, &year, &hour,
	           &minute, &second, zone, &consumed) != 8 ||
	    text[consumed] || strcmp(zone, "GMT") != 0)
		return -1;
	int month = -1;
	for (int i = 0; i < 12; i++)
		if (strcmp(mon, month_names[i]) == 0)
			month = i + 1;
	if (month < 0 || year < 1970 || year > 9999 || hour > 23 || minute > 59 || second > 60 ||
	    mday < 1 || mday > 31 || hour < 0 || minute < 0 || second < 0)
		return -1;
	char rfc3339[40];
	snprintf(rfc3339, sizeof(rfc3339), "%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, mday, hour,
	         minute, second);
	return coffer_time_parse_rfc3339(rfc3339, out_ns) ? -1 : 0;
}

int coffer_http_parse_time(const char *text, int64_t *out_ns)
{
	if (!text)
		return coffer_error_set(COFFER_EINVALID, "no time given");
	if (text[0] >= '0' && text[0] <= '9')
		return coffer_time_parse_rfc3339(text, out_ns);
	if (parse_rfc1123(text, out_ns) == 0)
		return 0;
	return coffer_error_set(COFFER_EINVALID, "invalid HTTP date \"%.64s\" (expected RFC 3339 or "
	                        "RFC 1123, e.g. Sun, 06 Nov 1994 08:49:37 GMT)", text);
}
