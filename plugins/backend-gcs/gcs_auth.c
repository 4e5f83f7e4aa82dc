/* Service-account token exchange and cache; see gcs_auth.h and docs/backend-gcs.md. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <coffer/error.h>

#include "gcs_auth.h"
#include "gcs_jwt.h"
#include "gcs_parse.h"

#define GCS_KEY_FILE_MAX (1024 * 1024)
#define GCS_REFRESH_MARGIN_MS 300000 /* refresh 5 minutes early, or at 3/4 of a short life */

struct gcs_auth {
	coffer_http *http;
	gcs_sa_key key;
	EVP_PKEY *pkey;
	char *scope;
	pthread_mutex_t lock;
	char *token;           /* cached access token or NULL */
	int64_t refresh_at_ms; /* monotonic time after which it is replaced */
};

static int64_t auth_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int auth_read_file(const char *path, coffer_buf *out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return coffer_error_set_errno(COFFER_EAUTH, errno,
		                              "GOOGLE_APPLICATION_CREDENTIALS: cannot open %s", path);
	char chunk[8192];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (out->len + n > GCS_KEY_FILE_MAX) {
			rc = coffer_error_set(COFFER_EINVALID,
			                      "GOOGLE_APPLICATION_CREDENTIALS: %s is larger than 1 MiB", path);
			break;
		}
		if (coffer_buf_append(out, chunk, n) != 0) {
			rc = coffer_error_set(COFFER_ENOMEM, "GOOGLE_APPLICATION_CREDENTIALS: out of memory");
			break;
		}
	}
	if (rc == 0 && ferror(f))
		rc = coffer_error_set_errno(COFFER_EAUTH, errno,
		                            "GOOGLE_APPLICATION_CREDENTIALS: cannot read %s", path);
	explicit_bzero(chunk, sizeof(chunk));
	fclose(f);
	return rc;
}

/* The PEM and each of its lines, so no piece of the key can reach a message. */
static int auth_register_key(coffer_http *http, const char *pem)
{
	int rc = coffer_http_add_secret(http, pem);
	for (const char *line = pem; rc == 0 && *line;) {
		size_t n = strcspn(line, "\n");
		if (n > 16 && strncmp(line, "-----", 5) != 0) {
			char piece[128];
			size_t m = n < sizeof(piece) - 1 ? n : sizeof(piece) - 1;
			memcpy(piece, line, m);
			piece[m] = '\0';
			rc = coffer_http_add_secret(http, piece);
			explicit_bzero(piece, sizeof(piece));
		}
		line += n + (line[n] == '\n');
	}
	return rc;
}

int gcs_auth_open(gcs_auth **out, coffer_http *http, const char *credentials, const char *scope)
{
	*out = NULL;
	gcs_auth *a = coffer_calloc(1, sizeof(*a));
	if (!a)
		return coffer_error_set(COFFER_ENOMEM, "gcs: out of memory");
	a->http = http;
	pthread_mutex_init(&a->lock, NULL);
	coffer_buf file = COFFER_BUF_INIT;
	const char *text = credentials + strspn(credentials, " \t\r\n");
	size_t len = strlen(text);
	int rc = 0;
	if (*text != '{') {
		rc = auth_read_file(credentials, &file);
		text = (const char *)file.data;
		len = file.len;
	}
	if (rc == 0 && (rc = gcs_sa_key_parse(&a->key, text ? text : "", len)) != 0)
		coffer_error_wrap("GOOGLE_APPLICATION_CREDENTIALS");
	if (file.data)
		explicit_bzero(file.data, file.len);
	coffer_buf_free(&file);
	if (rc == 0)
		rc = auth_register_key(http, a->key.private_key);
	if (rc == 0)
		rc = gcs_jwt_load_key(&a->pkey, &a->key);
	if (rc == 0 && !(a->scope = coffer_strdup(scope)))
		rc = coffer_error_set(COFFER_ENOMEM, "gcs: out of memory");
	if (rc) {
		gcs_auth_close(a);
		return rc;
	}
	*out = a;
	return 0;
}

void gcs_auth_close(gcs_auth *a)
{
	if (!a)
		return;
	EVP_PKEY_free(a->pkey);
	gcs_sa_key_free(&a->key);
	coffer_free(a->scope);
	coffer_free(a->token);
	pthread_mutex_destroy(&a->lock);
	coffer_free(a);
}

const char *gcs_auth_email(const gcs_auth *a)
{
	return a->key.client_email;
}

static int auth_refused(gcs_auth *a, const coffer_http_response *resp)
{
	char *detail = gcs_error_detail((const char *)resp->body.data, resp->body.len);
	coffer_buf text = COFFER_BUF_INIT;
	coffer_http_redact(a->http, detail ? detail : "no error description", &text);
	int rc = coffer_error_set(COFFER_EAUTH,
	                          "gcs: the token endpoint %s refused service account %s: HTTP %ld: %s",
	                          a->key.token_uri, a->key.client_email, resp->status,
	                          text.data ? (const char *)text.data : "");
	coffer_buf_free(&text);
	coffer_free(detail);
	return rc;
}

/* POSTs a fresh JWT to token_uri and caches the answer. Called with the lock held. */
static int auth_exchange(gcs_auth *a)
{
	coffer_buf jwt = COFFER_BUF_INIT, body = COFFER_BUF_INIT, what = COFFER_BUF_INIT;
	coffer_http_request req = { 0 };
	coffer_http_response resp = COFFER_HTTP_RESPONSE_INIT;
	char *token = NULL;
	uint64_t expires_in = 0;
	int rc = gcs_jwt_build(&jwt, a->pkey, &a->key, a->scope, (int64_t)time(NULL));
	if (rc == 0)
		rc = coffer_http_add_secret(a->http, (const char *)jwt.data);
	if (rc == 0)
		rc = coffer_http_bufprintf(&body, "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type"
		                                  "%%3Ajwt-bearer&assertion=%s", (const char *)jwt.data);
	if (rc == 0)
		rc = coffer_http_bufprintf(&what, "POST %s (token for %s)", a->key.token_uri,
		                           a->key.client_email);
	if (rc == 0)
		rc = coffer_http_headers_add(&req.headers, "Content-Type",
		                             "application/x-www-form-urlencoded");
	if (rc == 0) {
		req.method = "POST";
		req.url = a->key.token_uri;
		req.body = body.data;
		req.body_len = body.len;
		req.what = (const char *)what.data;
		rc = coffer_http_exec(a->http, &req, &resp);
	}
	if (rc == 0 && resp.status != 200)
		rc = resp.status >= 400 && resp.status < 500 ? auth_refused(a, &resp)
		                                             : coffer_http_fail(a->http, &req, &resp, NULL);
	if (rc == 0 && (rc = gcs_token_response_parse((const char *)resp.body.data, resp.body.len,
	                                              &token, &expires_in)) != 0)
		coffer_error_wrap("gcs: %s", a->key.token_uri);
	if (rc == 0)
		rc = coffer_http_add_secret(a->http, token);
	if (rc == 0) {
		int64_t life_ms = expires_in > 86400 ? 86400000 : (int64_t)expires_in * 1000;
		int64_t margin = life_ms / 4 < GCS_REFRESH_MARGIN_MS ? life_ms / 4 : GCS_REFRESH_MARGIN_MS;
		coffer_free(a->token);
		a->token = token;
		token = NULL;
		a->refresh_at_ms = auth_now_ms() + life_ms - margin;
	}
	coffer_free(token);
	coffer_http_headers_free(&req.headers);
	coffer_http_response_free(&resp);
	coffer_buf_free(&jwt);
	coffer_buf_free(&body);
	coffer_buf_free(&what);
	return rc;
}

int gcs_auth_token(gcs_auth *a, char **out)
{
	int rc = 0;
	*out = NULL;
	pthread_mutex_lock(&a->lock);
	if (!a->token || auth_now_ms() >= a->refresh_at_ms)
		rc = auth_exchange(a);
	if (rc == 0 && !(*out = coffer_strdup(a->token)))
		rc = coffer_error_set(COFFER_ENOMEM, "gcs: out of memory");
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void gcs_auth_invalidate(gcs_auth *a, const char *token)
{
	pthread_mutex_lock(&a->lock);
	if (a->token && token && strcmp(a->token, token) == 0) {
		coffer_free(a->token);
		a->token = NULL;
	}
	pthread_mutex_unlock(&a->lock);
}
