/* Redaction: no key, signature, token or SAS string reaches a message or a log line. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_private.h"

#define REDACTED "[REDACTED]"

/* Query parameters whose values are credentials (SigV4 presigning, SAS, OAuth). */
static const char *const secret_params[] = { "sig", "signature", "x-amz-signature",
	                                          "x-amz-security-token", "x-amz-credential",
	                                          "access_token", "assertion", "token", NULL };
/* JSON members whose values are credentials (token responses, service-account keys). */
static const char *const secret_members[] = { "\"access_token\"", "\"id_token\"",
	                                           "\"refresh_token\"", "\"private_key\"",
	                                           "\"assertion\"", NULL };

static int is_value_end(char c)
{
	return c == 0 || c == '&' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' ||
	       c == '\'' || c == '<' || c == '>' || c == '#' || c == ',' || c == ';';
}

/* Length of the parameter name starting a query parameter at `p` that must be hidden, or 0. */
static size_t secret_param_at(const char *p)
{
	for (int i = 0; secret_params[i]; i++) {
		size_t n = strlen(secret_params[i]);
		if (strncasecmp(p, secret_params[i], n) == 0 && p[n] == '=')
			return n + 1;
	}
	return 0;
}

/* Replaces the patterns that are always secret: Authorization values, credential query
 * parameters and JSON members. */
static int redact_patterns(const char *text, coffer_buf *out)
{
	const char *p = text;
	while (*p) {
		if (strncasecmp(p, "authorization:", 14) == 0) {
			if (http_buf_add(out, p, 14) || http_buf_add(out, " " REDACTED, strlen(REDACTED) + 1))
				return COFFER_ENOMEM;
			p += 14;
			while (*p && *p != '\n' && *p != '\r')
				p++;
			continue;
		}
		if (*p == '?' || *p == '&' || p == text) {
			const char *name = *p == '?' || *p == '&' ? p + 1 : p;
			size_t n = secret_param_at(name);
			if (n) {
				if (http_buf_add(out, p, (size_t)(name - p) + n) ||
				    http_buf_add(out, REDACTED, strlen(REDACTED)))
					return COFFER_ENOMEM;
				p = name + n;
				while (!is_value_end(*p))
					p++;
				continue;
			}
		}
		if (*p == '"') {
			int hit = 0;
			for (int i = 0; secret_members[i] && !hit; i++) {
				size_t n = strlen(secret_members[i]);
				if (strncmp(p, secret_members[i], n) != 0)
					continue;
				const char *q = p + n;
				while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
					q++;
				if (*q != ':')
					continue;
				q++;
				while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
					q++;
				if (*q != '"')
					continue;
				if (http_buf_add(out, p, (size_t)(q + 1 - p)) ||
				    http_buf_add(out, REDACTED, strlen(REDACTED)))
					return COFFER_ENOMEM;
				q++;
				while (*q && *q != '"') {
					if (*q == '\\' && q[1])
						q++;
					q++;
				}
				p = q;
				hit = 1;
			}
			if (hit)
				continue;
		}
		if (http_buf_add(out, p, 1))
			return COFFER_ENOMEM;
		p++;
	}
	return 0;
}

/* Replaces every occurrence of each registered secret in `b` (in place, growing it). */
static int redact_secrets(const coffer_http *client, coffer_buf *b, size_t start)
{
	if (!client)
		return 0;
	const http_secrets *s = http_client_secrets(client);
	pthread_mutex_t *lock = (pthread_mutex_t *)&s->lock;
	pthread_mutex_lock(lock);
	int rc = 0;
	for (size_t i = 0; i < s->count && !rc; i++) {
		const char *secret = s->items[i];
		size_t n = strlen(secret);
		char *hit;
		size_t from = start;
		while ((hit = memmem(b->data + from, b->len - from, secret, n)) != NULL) {
			size_t at = (size_t)((uint8_t *)hit - b->data);
			size_t tail = b->len - at - n;
			size_t r = strlen(REDACTED);
			if (r > n && coffer_buf_reserve(b, r - n + 1)) {
				rc = COFFER_ENOMEM;
				break;
			}
			memmove(b->data + at + r, b->data + at + n, tail + 1);
			memcpy(b->data + at, REDACTED, r);
			b->len = b->len - n + r;
			from = at + r;
		}
	}
	pthread_mutex_unlock(lock);
	return rc;
}

int coffer_http_redact(const coffer_http *client, const char *text, coffer_buf *out)
{
	size_t start = out->len;
	if (http_buf_add(out, "", 0))
		return COFFER_ENOMEM;
	if (!text)
		return 0;
	/* Registered secrets first: a secret may itself contain a pattern's prefix. */
	coffer_buf tmp = COFFER_BUF_INIT;
	int rc = http_buf_add(&tmp, text, strlen(text));
	if (!rc)
		rc = redact_secrets(client, &tmp, 0);
	if (!rc)
		rc = redact_patterns((const char *)tmp.data, out);
	coffer_buf_free(&tmp);
	if (rc) {
		out->len = start;
		out->data[start] = 0;
		return coffer_error_set(COFFER_ENOMEM, "out of memory while redacting a message");
	}
	return 0;
}
