/* AWS Signature Version 4 for request headers; see docs/backend-s3.md, "Signing". */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/http.h>

#include "sigv4.h"

/* A header as it enters the canonical request: lower-case name, trimmed value. */
typedef struct sigv4_header {
	char *name;
	char *value;
} sigv4_header;

typedef struct sigv4_headers {
	sigv4_header h[S3_SIGV4_MAX_HEADERS];
	size_t count;
} sigv4_headers;

static int sigv4_nomem(void)
{
	return coffer_error_set(COFFER_ENOMEM, "s3: out of memory while signing a request");
}

static char *sigv4_lower(const char *s)
{
	char *out = coffer_strdup(s);
	if (out)
		for (char *p = out; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	return out;
}

/* Leading and trailing blanks dropped, inner runs of blanks made one space. */
static char *sigv4_trim(const char *s)
{
	char *out = coffer_malloc(strlen(s) + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	int blank = 0;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t') {
			blank = o > 0;
			continue;
		}
		if (blank)
			out[o++] = ' ';
		blank = 0;
		out[o++] = *s;
	}
	out[o] = '\0';
	return out;
}

static int sigv4_header_cmp(const void *a, const void *b)
{
	return strcmp(((const sigv4_header *)a)->name, ((const sigv4_header *)b)->name);
}

static void sigv4_headers_free(sigv4_headers *hs)
{
	for (size_t i = 0; i < hs->count; i++) {
		coffer_free(hs->h[i].name);
		coffer_free(hs->h[i].value);
	}
	hs->count = 0;
}

/* Normalised and sorted; headers of the same name are joined with ','. */
static int sigv4_headers_make(const s3_sigv4_input *in, sigv4_headers *hs)
{
	hs->count = 0;
	if (in->header_count > S3_SIGV4_MAX_HEADERS)
		return coffer_error_set(COFFER_EINVALID, "s3: %zu headers to sign, at most %d",
		                        in->header_count, S3_SIGV4_MAX_HEADERS);
	for (size_t i = 0; i < in->header_count; i++) {
		sigv4_header *h = &hs->h[hs->count++];
		h->name = sigv4_lower(in->headers[i].name);
		h->value = sigv4_trim(in->headers[i].value ? in->headers[i].value : "");
		if (!h->name || !h->value) {
			sigv4_headers_free(hs);
			return sigv4_nomem();
		}
	}
	qsort(hs->h, hs->count, sizeof(hs->h[0]), sigv4_header_cmp);
	size_t o = 0;
	for (size_t i = 0; i < hs->count; i++) {
		if (o > 0 && strcmp(hs->h[o - 1].name, hs->h[i].name) == 0) {
			sigv4_header *keep = &hs->h[o - 1];
			size_t a = strlen(keep->value), b = strlen(hs->h[i].value);
			char *joined = coffer_realloc(keep->value, a + b + 2);
			if (!joined) {
				sigv4_headers_free(hs);
				return sigv4_nomem();
			}
			joined[a] = ',';
			memcpy(joined + a + 1, hs->h[i].value, b + 1);
			keep->value = joined;
			coffer_free(hs->h[i].name);
			coffer_free(hs->h[i].value);
		} else {
			hs->h[o++] = hs->h[i];
		}
	}
	hs->count = o;
	return 0;
}

/* ------------------------------------------------------------------ query */

typedef struct sigv4_param {
	char *name;
	char *value;
} sigv4_param;

static int sigv4_param_cmp(const void *a, const void *b)
{
	const sigv4_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

static char *sigv4_encode(const char *s)
{
	coffer_buf b = COFFER_BUF_INIT;
	if (coffer_http_urlencode(s ? s : "", s ? strlen(s) : 0, 0, &b) != 0 ||
	    coffer_buf_append(&b, "", 1) != 0) {
		coffer_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

int s3_sigv4_query(const s3_sigv4_pair *params, size_t count, coffer_buf *out)
{
	sigv4_param *p = coffer_calloc(count ? count : 1, sizeof(*p));
	if (!p)
		return sigv4_nomem();
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		p[i].name = sigv4_encode(params[i].name);
		p[i].value = sigv4_encode(params[i].value);
		if (!p[i].name || !p[i].value)
			rc = sigv4_nomem();
	}
	if (rc == 0) {
		qsort(p, count, sizeof(*p), sigv4_param_cmp);
		rc = coffer_http_bufprintf(out, "%s", "");
		for (size_t i = 0; i < count && rc == 0; i++)
			rc = coffer_http_bufprintf(out, "%s%s=%s", i ? "&" : "", p[i].name, p[i].value);
	}
	for (size_t i = 0; i < count; i++) {
		coffer_free(p[i].name);
		coffer_free(p[i].value);
	}
	coffer_free(p);
	return rc;
}

/* ------------------------------------------------------------------ signing */

static int sigv4_signed_names(const sigv4_headers *hs, coffer_buf *out)
{
	int rc = coffer_http_bufprintf(out, "%s", "");
	for (size_t i = 0; i < hs->count && rc == 0; i++)
		rc = coffer_http_bufprintf(out, "%s%s", i ? ";" : "", hs->h[i].name);
	return rc;
}

static int sigv4_canonical(const s3_sigv4_input *in, const sigv4_headers *hs, coffer_buf *out)
{
	int rc = coffer_http_bufprintf(out, "%s\n%s\n%s\n", in->method, in->canonical_uri,
	                               in->canonical_query ? in->canonical_query : "");
	for (size_t i = 0; i < hs->count && rc == 0; i++)
		rc = coffer_http_bufprintf(out, "%s:%s\n", hs->h[i].name, hs->h[i].value);
	if (rc == 0)
		rc = coffer_http_bufprintf(out, "\n");
	if (rc == 0)
		rc = sigv4_signed_names(hs, out);
	if (rc == 0)
		rc = coffer_http_bufprintf(out, "\n%s", in->payload_hash);
	return rc;
}

int s3_sigv4_canonical_request(const s3_sigv4_input *in, coffer_buf *out)
{
	sigv4_headers hs;
	int rc = sigv4_headers_make(in, &hs);
	if (rc)
		return rc;
	rc = sigv4_canonical(in, &hs, out);
	sigv4_headers_free(&hs);
	return rc;
}

static int sigv4_check_date(const char *amz_date)
{
	if (!amz_date || strlen(amz_date) != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z')
		return coffer_error_set(COFFER_EINVALID, "s3: bad x-amz-date '%s'",
		                        amz_date ? amz_date : "(null)");
	return 0;
}

int s3_sigv4_string_to_sign(const s3_sigv4_input *in, coffer_buf *out)
{
	int rc = sigv4_check_date(in->amz_date);
	if (rc)
		return rc;
	coffer_buf creq = COFFER_BUF_INIT;
	if ((rc = s3_sigv4_canonical_request(in, &creq)) == 0) {
		char hash[65];
		coffer_http_sha256_hex(creq.data, creq.len, hash);
		rc = coffer_http_bufprintf(out, "%s\n%s\n%.8s/%s/%s/aws4_request\n%s",
		                           S3_SIGV4_ALGORITHM, in->amz_date, in->amz_date, in->region,
		                           in->service, hash);
	}
	coffer_buf_free(&creq);
	return rc;
}

int s3_sigv4_authorization(const s3_sigv4_input *in, coffer_buf *out, char signature[65])
{
	coffer_buf sts = COFFER_BUF_INIT, names = COFFER_BUF_INIT, secret = COFFER_BUF_INIT;
	sigv4_headers hs;
	int rc = s3_sigv4_string_to_sign(in, &sts);
	if (rc) {
		coffer_buf_free(&sts);
		return rc;
	}
	if ((rc = sigv4_headers_make(in, &hs)) != 0) {
		coffer_buf_free(&sts);
		return rc;
	}
	rc = sigv4_signed_names(&hs, &names);
	sigv4_headers_free(&hs);
	if (rc == 0)
		rc = coffer_http_bufprintf(&secret, "AWS4%s", in->secret_key);
	if (rc == 0) {
		/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
		uint8_t key[32], next[32], sig[32];
		coffer_http_hmac_sha256(secret.data, secret.len, in->amz_date, 8, key);
		coffer_http_hmac_sha256(key, 32, in->region, strlen(in->region), next);
		coffer_http_hmac_sha256(next, 32, in->service, strlen(in->service), key);
		coffer_http_hmac_sha256(key, 32, "aws4_request", 12, next);
		coffer_http_hmac_sha256(next, 32, sts.data, sts.len, sig);
		coffer_http_hex(sig, 32, signature);
		rc = coffer_http_bufprintf(out,
		                           "%s Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
		                           "Signature=%s",
		                           S3_SIGV4_ALGORITHM, in->access_key, in->amz_date, in->region,
		                           in->service, (const char *)names.data, signature);
		memset(key, 0, sizeof(key));
		memset(next, 0, sizeof(next));
	}
	if (secret.data)
		memset(secret.data, 0, secret.len);
	coffer_buf_free(&secret);
	coffer_buf_free(&names);
	coffer_buf_free(&sts);
	return rc;
}
