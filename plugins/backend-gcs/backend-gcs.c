/* backend-gcs: Google Cloud Storage through its JSON API, URL gcs://bucket/prefix (or
 * gs://). Protocol, environment, configuration and the emulator: docs/backend-gcs.md. */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/http.h>
#include <coffer/sys/backend.h>

#include "gcs_auth.h"
#include "gcs_parse.h"

#define GCS_DEFAULT_ENDPOINT "https://storage.googleapis.com"
#define GCS_DEFAULT_PAGE_SIZE 1000
#define GCS_DEFAULT_RESUMABLE_THRESHOLD (8u * 1024 * 1024)
#define GCS_NAME_MAX 1024 /* bytes of UTF-8, prefix included */

typedef struct gcs_state {
	coffer_http *http;
	gcs_auth *auth;        /* NULL: emulator, no Authorization */
	char *endpoint;        /* scheme://host[:port], no trailing '/' */
	char *bucket;
	char *bucket_enc;
	char *prefix;          /* "" or "some/path/" */
	unsigned page_size;
	uint64_t resumable_threshold;
} gcs_state;

/* ------------------------------------------------------------------ requests */

static int gcs_prepare(void *ud, coffer_http_request *req, unsigned int attempt)
{
	gcs_state *st = ud;
	char *token = NULL;
	(void)attempt;
	int rc = gcs_auth_token(st->auth, &token);
	if (rc == 0 && coffer_http_headers_set(&req->headers, "Authorization", "Bearer %s", token) != 0)
		rc = coffer_error_set(COFFER_ENOMEM, "gcs: out of memory");
	coffer_free(token);
	return rc;
}

/* Runs a request, with the access token when not on an emulator. A 401 (token revoked or
 * expired early) drops the cached token and tries once more with a fresh one. */
static int gcs_exec(gcs_state *st, coffer_http_request *req, coffer_http_response *resp)
{
	if (st->auth) {
		req->prepare = gcs_prepare;
		req->prepare_ud = st;
	}
	int rc = coffer_http_exec(st->http, req, resp);
	if (rc == 0 && resp->status == 401 && st->auth) {
		const char *auth = coffer_http_headers_get(&req->headers, "Authorization");
		gcs_auth_invalidate(st->auth, auth && strlen(auth) > 7 ? auth + 7 : NULL);
		rc = coffer_http_exec(st->http, req, resp);
	}
	return rc;
}

/* The error for an unexpected status: the server's own message, and for 401/403 which
 * credential it refused. */
static int gcs_fail(gcs_state *st, const coffer_http_request *req, const coffer_http_response *resp)
{
	char *detail = gcs_error_detail((const char *)resp->body.data, resp->body.len);
	coffer_buf text = COFFER_BUF_INIT;
	if (resp->status == 401 || resp->status == 403)
		coffer_http_bufprintf(&text, "%s (credentials: %s%s)", detail ? detail : "access denied",
		                      st->auth ? "service account " : "none, emulator mode",
		                      st->auth ? gcs_auth_email(st->auth) : "");
	int rc = coffer_http_fail(st->http, req, resp, text.data ? (const char *)text.data : detail);
	coffer_buf_free(&text);
	coffer_free(detail);
	return rc;
}

static int gcs_nomem(void)
{
	return coffer_error_set(COFFER_ENOMEM, "gcs: out of memory");
}

/* One request: the caller builds `url` and headers, gcs_call_run sends it. */
typedef struct gcs_call {
	coffer_http_request req;
	coffer_http_response resp;
	coffer_buf url;
	coffer_buf what;
} gcs_call;
#define GCS_CALL_INIT { { 0 }, COFFER_HTTP_RESPONSE_INIT, COFFER_BUF_INIT, COFFER_BUF_INIT }

static int gcs_call_run(gcs_state *st, gcs_call *c, const char *method, const char *fmt, ...)
	COFFER_PRINTF(4, 5);
static int gcs_call_run(gcs_state *st, gcs_call *c, const char *method, const char *fmt, ...)
{
	char what[GCS_NAME_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (coffer_http_bufprintf(&c->what, "%s", what) != 0)
		return gcs_nomem();
	c->req.method = method;
	c->req.url = (char *)c->url.data;
	c->url.data = NULL;
	c->req.what = (const char *)c->what.data;
	return gcs_exec(st, &c->req, &c->resp);
}

static void gcs_call_free(gcs_call *c)
{
	coffer_free(c->req.url);
	coffer_http_headers_free(&c->req.headers);
	coffer_http_response_free(&c->resp);
	coffer_buf_free(&c->url);
	coffer_buf_free(&c->what);
}

/* An unexpected status: 404 is the blob missing. */
static int gcs_call_fail(gcs_state *st, const gcs_call *c, const char *name)
{
	if (c->resp.status == 404)
		return coffer_error_set(COFFER_ENOTFOUND, "gcs: %s: no such blob", name);
	return gcs_fail(st, &c->req, &c->resp);
}

/* Object names are UTF-8 without CR or LF, at most 1024 bytes with the prefix. */
static int gcs_check_name(const gcs_state *st, const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len + strlen(st->prefix) > GCS_NAME_MAX)
		return coffer_error_set(COFFER_EINVALID, "gcs: blob name of %zu bytes: must be 1 to %zu bytes",
		                        len, GCS_NAME_MAX - strlen(st->prefix));
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p == '\r' || *p == '\n')
			return coffer_error_set(COFFER_EINVALID, "gcs: blob names cannot hold CR or LF");
		if (*p < 0x80)
			continue;
		int n = *p >= 0xf0 && *p <= 0xf4 ? 3 : *p >= 0xe0 ? 2 : *p >= 0xc2 && *p < 0xe0 ? 1 : -1;
		if (*p >= 0xf5)
			n = -1;
		for (int i = 1; n > 0 && i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				n = -1;
		if (n < 0)
			return coffer_error_set(COFFER_EINVALID, "gcs: blob name is not valid UTF-8");
		p += n;
	}
	return 0;
}

/* {endpoint}/{kind}/storage/v1/b/{bucket}/o{/object}{?query}; kind is "" or "upload". */
static int gcs_url(const gcs_state *st, coffer_buf *url, const char *kind, const char *name)
{
	int rc = coffer_http_bufprintf(url, "%s%s/storage/v1/b/%s/o", st->endpoint, kind, st->bucket_enc);
	if (rc == 0 && name) {
		coffer_buf full = COFFER_BUF_INIT;
		rc = coffer_http_bufprintf(&full, "%s%s", st->prefix, name);
		if (rc == 0)
			rc = coffer_http_bufprintf(url, "/");
		if (rc == 0)
			rc = coffer_http_urlencode((const char *)full.data, full.len, 0, url);
		coffer_buf_free(&full);
	}
	return rc ? gcs_nomem() : 0;
}

static int gcs_query_name(const gcs_state *st, coffer_buf *url, const char *key, const char *name)
{
	coffer_buf full = COFFER_BUF_INIT;
	int rc = coffer_http_bufprintf(&full, "%s%s", st->prefix, name);
	if (rc == 0)
		rc = coffer_http_bufprintf(url, "%s=", key);
	if (rc == 0)
		rc = coffer_http_urlencode((const char *)full.data, full.len, 0, url);
	coffer_buf_free(&full);
	return rc ? gcs_nomem() : 0;
}

/* A request on the object resource itself (stat, delete). */
static int gcs_object_call(gcs_state *st, gcs_call *c, const char *method, const char *verb,
                           const char *name)
{
	int rc = gcs_check_name(st, name);
	if (rc == 0)
		rc = gcs_url(st, &c->url, "", name);
	if (rc == 0)
		rc = gcs_call_run(st, c, method, "%s %s", verb, name);
	return rc;
}

/* ------------------------------------------------------------------ stat */

typedef struct gcs_stat_ud {
	coffer_blob_info *out;
} gcs_stat_ud;

static int gcs_time(const char *updated, int64_t *out_ns)
{
	*out_ns = 0;
	if (updated && coffer_http_parse_time(updated, out_ns) != 0)
		return coffer_error_set(COFFER_ECORRUPT, "gcs: object time \"%.40s\" is not RFC 3339", updated);
	return 0;
}

static int gcs_stat_cb(const gcs_object_info *obj, void *ud)
{
	coffer_blob_info *out = ud;
	out->name = NULL;
	out->size = obj->size;
	return gcs_time(obj->updated, &out->mtime_ns);
}

static int gcs_stat(void *state, const char *name, coffer_blob_info *out)
{
	gcs_state *st = state;
	gcs_call c = GCS_CALL_INIT;
	int rc = gcs_object_call(st, &c, "GET", "stat", name);
	if (rc == 0 && c.resp.status != 200)
		rc = gcs_call_fail(st, &c, name);
	if (rc == 0 && (rc = gcs_object_parse((const char *)c.resp.body.data, c.resp.body.len,
	                                      gcs_stat_cb, out)) != 0)
		coffer_error_wrap("gcs: stat %s", name);
	gcs_call_free(&c);
	return rc;
}

/* ------------------------------------------------------------------ get */

/* "bytes A-B/TOTAL" → A and TOTAL. */
static int gcs_content_range(const char *v, uint64_t *first, uint64_t *total)
{
	unsigned long long a, b, t;
	char extra;
	if (!v || sscanf(v, "bytes %llu-%llu/%llu%c", &a, &b, &t, &extra) != 3 || b < a || b >= t)
		return coffer_error_set(COFFER_ECORRUPT, "gcs: ranged read without a valid Content-Range");
	*first = a;
	*total = t;
	return 0;
}

static int gcs_range_invalid(const char *name, uint64_t offset, uint64_t length, uint64_t size)
{
	return coffer_error_set(COFFER_EINVALID,
	                        "gcs: %s: range at %" PRIu64 " of %" PRIu64 " bytes is past the end of "
	                        "the %" PRIu64 "-byte blob", name, offset,
	                        length == COFFER_WHOLE ? size - (offset < size ? offset : size) : length,
	                        size);
}

/* Checks [offset, offset+length) against a blob of `size` bytes. */
static int gcs_range_check(const char *name, uint64_t offset, uint64_t length, uint64_t size)
{
	if (offset > size || (length != COFFER_WHOLE && length > size - offset))
		return gcs_range_invalid(name, offset, length, size);
	return 0;
}

/* An empty range, or one the server refused (416): only the size decides. */
static int gcs_get_by_size(gcs_state *st, const char *name, uint64_t offset, uint64_t length)
{
	coffer_blob_info info;
	int rc = gcs_stat(st, name, &info);
	if (rc == 0)
		rc = gcs_range_check(name, offset, length, info.size);
	return rc;
}

/* Appends the requested bytes of a 200 (whole object: the server ignored the Range, as
 * the emulator does for one past the end) or 206 answer. */
static int gcs_get_take(const char *name, const coffer_http_response *resp, uint64_t offset,
                        uint64_t length, coffer_buf *out)
{
	uint64_t first = 0, total = resp->body.len, have = resp->body.len;
	if (resp->status == 206) {
		int rc = gcs_content_range(coffer_http_headers_get(&resp->headers, "Content-Range"), &first,
		                           &total);
		if (rc)
			return rc;
		if (first != offset)
			return coffer_error_set(COFFER_ECORRUPT, "gcs: %s: asked for bytes from %" PRIu64
			                        ", got them from %" PRIu64, name, offset, first);
	} else {
		first = 0;
	}
	int rc = gcs_range_check(name, offset, length, total);
	if (rc)
		return rc;
	uint64_t want = length == COFFER_WHOLE ? total - offset : length;
	uint64_t skip = offset - first;
	if (skip > have || want > have - skip)
		return coffer_error_set(COFFER_ECORRUPT, "gcs: %s: the server sent %" PRIu64 " bytes, "
		                        "%" PRIu64 " expected", name, have, want);
	if (coffer_buf_append(out, resp->body.data + skip, (size_t)want) != 0)
		return gcs_nomem();
	return 0;
}

static int gcs_get(void *state, const char *name, uint64_t offset, uint64_t length, coffer_buf *out)
{
	gcs_state *st = state;
	gcs_call c = GCS_CALL_INIT;
	int rc = gcs_check_name(st, name);
	if (rc)
		return rc;
	if (length != COFFER_WHOLE && offset > UINT64_MAX - length)
		return gcs_range_invalid(name, offset, length, 0);
	if (length == 0)
		return gcs_get_by_size(st, name, offset, length);
	rc = gcs_url(st, &c.url, "", name);
	if (rc == 0 && coffer_http_bufprintf(&c.url, "?alt=media") != 0)
		rc = gcs_nomem();
	if (rc == 0 && (offset > 0 || length != COFFER_WHOLE)) {
		rc = length == COFFER_WHOLE
		         ? coffer_http_headers_add(&c.req.headers, "Range", "bytes=%" PRIu64 "-", offset)
		         : coffer_http_headers_add(&c.req.headers, "Range", "bytes=%" PRIu64 "-%" PRIu64,
		                                   offset, offset + length - 1);
		if (rc)
			rc = gcs_nomem();
	}
	if (rc == 0)
		rc = gcs_call_run(st, &c, "GET", "GET %s", name);
	if (rc == 0) {
		if (c.resp.status == 200 || c.resp.status == 206)
			rc = gcs_get_take(name, &c.resp, offset, length, out);
		else if (c.resp.status == 416)
			rc = gcs_get_by_size(st, name, offset, length);
		else
			rc = gcs_call_fail(st, &c, name);
	}
	gcs_call_free(&c);
	return rc;
}

/* ------------------------------------------------------------------ put */

/* POST .../upload/...?uploadType=KIND&name=N[&ifGenerationMatch=0] */
static int gcs_upload_url(const gcs_state *st, coffer_buf *url, const char *kind, const char *name,
                          int write_once)
{
	int rc = gcs_url(st, url, "/upload", NULL);
	if (rc == 0 && coffer_http_bufprintf(url, "?uploadType=%s&", kind) != 0)
		rc = gcs_nomem();
	if (rc == 0)
		rc = gcs_query_name(st, url, "name", name);
	if (rc == 0 && write_once && coffer_http_bufprintf(url, "&ifGenerationMatch=0") != 0)
		rc = gcs_nomem();
	return rc;
}

static int gcs_put_status(gcs_state *st, const char *name, const gcs_call *c)
{
	if (c->resp.status == 200 || c->resp.status == 201)
		return 0;
	if (c->resp.status == 412)
		return coffer_error_set(COFFER_EEXISTS, "gcs: %s already exists (write-once)", name);
	return gcs_fail(st, &c->req, &c->resp);
}

/* Starts a resumable session; *session gets its URL (the Location header). */
static int gcs_resumable_start(gcs_state *st, const char *name, size_t len, int write_once,
                               char **session)
{
	gcs_call c = GCS_CALL_INIT;
	int rc = gcs_upload_url(st, &c.url, "resumable", name, write_once);
	if (rc == 0 && (coffer_http_headers_add(&c.req.headers, "Content-Type", "application/json; charset=UTF-8") != 0 ||
	                coffer_http_headers_add(&c.req.headers, "X-Upload-Content-Type", "application/octet-stream") != 0 ||
	                coffer_http_headers_add(&c.req.headers, "X-Upload-Content-Length", "%zu", len) != 0))
		rc = gcs_nomem();
	c.req.body = "{}";
	c.req.body_len = 2;
	if (rc == 0)
		rc = gcs_call_run(st, &c, "POST", "PUT %s (starting a resumable upload)", name);
	if (rc == 0)
		rc = gcs_put_status(st, name, &c);
	if (rc == 0) {
		const char *location = coffer_http_headers_get(&c.resp.headers, "Location");
		if (!location || strncmp(location, "http", 4) != 0)
			rc = coffer_error_set(COFFER_ECORRUPT, "gcs: %s: resumable upload started without "
			                      "a session URL", name);
		else if (!(*session = coffer_strdup(location)))
			rc = gcs_nomem();
	}
	gcs_call_free(&c);
	return rc;
}

static int gcs_upload(gcs_state *st, const char *name, const void *data, size_t len, int write_once)
{
	gcs_call c = GCS_CALL_INIT;
	int resumable = len >= st->resumable_threshold;
	int rc = 0;
	if (resumable) {
		char *session = NULL;
		rc = gcs_resumable_start(st, name, len, write_once, &session);
		if (rc == 0)
			rc = coffer_http_bufprintf(&c.url, "%s", session) ? gcs_nomem() : 0;
		coffer_free(session);
	} else {
		rc = gcs_upload_url(st, &c.url, "media", name, write_once);
	}
	if (rc == 0 && coffer_http_headers_add(&c.req.headers, "Content-Type", "application/octet-stream") != 0)
		rc = gcs_nomem();
	c.req.body = data;
	c.req.body_len = len;
	if (rc == 0)
		rc = gcs_call_run(st, &c, resumable ? "PUT" : "POST", "PUT %s%s", name,
		                  resumable ? " (resumable)" : "");
	if (rc == 0)
		rc = gcs_put_status(st, name, &c);
	gcs_call_free(&c);
	return rc;
}

static int gcs_put(void *state, const char *name, const void *data, size_t len, unsigned int flags)
{
	gcs_state *st = state;
	int write_once = !(flags & COFFER_PUT_OVERWRITE);
	int rc = gcs_check_name(st, name);
	if (rc == 0 && write_once) {
		/* ifGenerationMatch=0 is the real guard; this check is for servers that ignore
		 * it (the emulator), and is not atomic */
		coffer_blob_info info;
		rc = gcs_stat(st, name, &info);
		if (rc == 0)
			return coffer_error_set(COFFER_EEXISTS, "gcs: %s already exists (write-once)", name);
		if (rc != COFFER_ENOTFOUND)
			return rc;
		coffer_error_clear();
		rc = 0;
	}
	if (rc == 0)
		rc = gcs_upload(st, name, data, len, write_once);
	return rc;
}

/* ------------------------------------------------------------------ list */

typedef struct gcs_list_ud {
	const gcs_state *st;
	coffer_list_cb cb;
	void *ud;
	int stopped;
} gcs_list_ud;

static int gcs_list_cb(const gcs_object_info *obj, void *ud)
{
	gcs_list_ud *l = ud;
	size_t plen = strlen(l->st->prefix);
	if (strncmp(obj->name, l->st->prefix, plen) != 0 || !obj->name[plen])
		return 0; /* the prefix itself ("dir/" placeholder) or a server quirk */
	coffer_blob_info info = { obj->name + plen, obj->size, 0 };
	int rc = gcs_time(obj->updated, &info.mtime_ns);
	if (rc)
		return rc;
	rc = l->cb(&info, l->ud);
	if (rc)
		l->stopped = 1;
	return rc;
}

static int gcs_list_page(gcs_state *st, const char *prefix, const char *page_token, gcs_list_ud *l,
                         char **next)
{
	gcs_call c = GCS_CALL_INIT;
	int rc = gcs_url(st, &c.url, "", NULL);
	if (rc == 0 && coffer_http_bufprintf(&c.url, "?") != 0)
		rc = gcs_nomem();
	if (rc == 0)
		rc = gcs_query_name(st, &c.url, "prefix", prefix);
	if (rc == 0 && coffer_http_bufprintf(&c.url, "&maxResults=%u&fields=items(name%%2Csize%%2Cupdated)"
	                                           "%%2CnextPageToken", st->page_size) != 0)
		rc = gcs_nomem();
	if (rc == 0 && page_token && (coffer_http_bufprintf(&c.url, "&pageToken=") != 0 ||
	                              coffer_http_urlencode(page_token, strlen(page_token), 0, &c.url) != 0))
		rc = gcs_nomem();
	if (rc == 0)
		rc = gcs_call_run(st, &c, "GET", "list %s%s", st->prefix, prefix);
	if (rc == 0 && c.resp.status != 200)
		rc = gcs_fail(st, &c.req, &c.resp);
	if (rc == 0) {
		rc = gcs_list_parse((const char *)c.resp.body.data, c.resp.body.len, gcs_list_cb, l, next);
		if (rc && !l->stopped)
			coffer_error_wrap("gcs: list %s%s", st->prefix, prefix);
	}
	gcs_call_free(&c);
	return rc;
}

static int gcs_list(void *state, const char *prefix, coffer_list_cb cb, void *ud)
{
	gcs_state *st = state;
	gcs_list_ud l = { st, cb, ud, 0 };
	char *token = NULL;
	int rc;
	do {
		char *next = NULL;
		rc = gcs_list_page(st, prefix, token, &l, &next);
		coffer_free(token);
		token = next;
	} while (rc == 0 && token);
	coffer_free(token);
	return rc;
}

/* ------------------------------------------------------------------ remove */

static int gcs_remove(void *state, const char *name)
{
	gcs_state *st = state;
	gcs_call c = GCS_CALL_INIT;
	int rc = gcs_object_call(st, &c, "DELETE", "DELETE", name);
	if (rc == 0 && c.resp.status != 204 && c.resp.status != 200)
		rc = gcs_call_fail(st, &c, name);
	gcs_call_free(&c);
	return rc;
}

/* ------------------------------------------------------------------ open/close */

static int gcs_describe(void *state, coffer_buf *out)
{
	gcs_state *st = state;
	int rc = coffer_http_bufprintf(out, "gcs endpoint=%s bucket=%s prefix=%s auth=%s%s", st->endpoint,
	                               st->bucket, st->prefix[0] ? st->prefix : "(none)",
	                               st->auth ? "service-account " : "emulator",
	                               st->auth ? gcs_auth_email(st->auth) : "");
	return rc ? gcs_nomem() : 0;
}

static void gcs_close(void *state)
{
	gcs_state *st = state;
	gcs_auth_close(st->auth);
	coffer_http_destroy(st->http);
	coffer_free(st->endpoint);
	coffer_free(st->bucket);
	coffer_free(st->bucket_enc);
	coffer_free(st->prefix);
	memset(st, 0, sizeof(*st));
}

/* Bucket names: 3-222 bytes of a-z 0-9 - _ . (Google's rules, loosely). */
static int gcs_check_bucket(const char *bucket)
{
	size_t n = strlen(bucket);
	if (n < 3 || n > 222 || strspn(bucket, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != n)
		return coffer_error_set(COFFER_EINVALID,
		                        "gcs: bucket name \"%.230s\": 3 to 222 characters of a-z, 0-9, '-', "
		                        "'_' and '.' expected (URL gcs://bucket/prefix)", bucket);
	return 0;
}

/* "" or the URL path without its leading and trailing '/', plus one '/'. */
static char *gcs_prefix_from(const char *path)
{
	while (*path == '/')
		path++;
	size_t n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	char *p = coffer_malloc(n + 2);
	if (!p)
		return NULL;
	memcpy(p, path, n);
	p[n] = '/';
	p[n ? n + 1 : 0] = '\0';
	return p;
}

/* The endpoint: an http(s) URL as given (trailing '/' removed), or a bare host:port
 * taken as http:// (STORAGE_EMULATOR_HOST's convention). */
static char *gcs_endpoint_from(const char *text)
{
	coffer_buf b = COFFER_BUF_INIT;
	int has_scheme = strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0;
	if (coffer_http_bufprintf(&b, "%s%s", has_scheme ? "" : "http://", text) != 0)
		return NULL;
	while (b.len > 8 && b.data[b.len - 1] == '/')
		b.data[--b.len] = '\0';
	return (char *)b.data;
}

static int gcs_config_uint(const coffer_config *cfg, const char *key, long long min, long long max,
                           long long *value)
{
	int rc = cfg ? coffer_config_int(cfg, key, value) : COFFER_ENOTFOUND;
	if (rc == COFFER_ENOTFOUND) {
		coffer_error_clear();
		return 0;
	}
	if (rc == 0 && (*value < min || *value > max))
		rc = coffer_error_set(COFFER_EINVALID, "gcs: %s = %lld at %s: must be %lld to %lld", key,
		                      *value, coffer_config_where(cfg), min, max);
	return rc;
}

static int gcs_open_config(gcs_state *st, const coffer_config *cfg, const char **endpoint)
{
	long long page = GCS_DEFAULT_PAGE_SIZE, threshold = GCS_DEFAULT_RESUMABLE_THRESHOLD;
	int rc = gcs_config_uint(cfg, "page_size", 1, 1000, &page);
	if (rc == 0)
		rc = gcs_config_uint(cfg, "resumable_threshold", 1, (long long)1 << 40, &threshold);
	st->page_size = (unsigned)page;
	st->resumable_threshold = (uint64_t)threshold;
	if (rc == 0 && cfg && (rc = coffer_config_string(cfg, "endpoint", endpoint)) == COFFER_ENOTFOUND) {
		coffer_error_clear();
		rc = 0;
	}
	return rc;
}

static int gcs_open(void *state, const coffer_backend_params *params)
{
	gcs_state *st = state;
	const coffer_url *url = params->url;
	const char *emulator = getenv("STORAGE_EMULATOR_HOST");
	const char *endpoint = NULL;
	if (emulator && !emulator[0])
		emulator = NULL;
	if (url->query)
		return coffer_error_set(COFFER_EINVALID, "gcs: %s: the URL takes no query", url->text);
	int rc = gcs_check_bucket(url->host);
	if (rc == 0)
		rc = gcs_open_config(st, params->config, &endpoint);
	if (rc)
		return rc;
	if (!endpoint)
		endpoint = getenv("GCS_ENDPOINT");
	if (!endpoint || !endpoint[0])
		endpoint = emulator ? emulator : GCS_DEFAULT_ENDPOINT;
	coffer_buf enc = COFFER_BUF_INIT;
	st->bucket = coffer_strdup(url->host);
	st->prefix = gcs_prefix_from(url->path);
	st->endpoint = gcs_endpoint_from(endpoint);
	if (coffer_http_urlencode(url->host, strlen(url->host), 0, &enc) == 0)
		st->bucket_enc = (char *)enc.data;
	if (!st->bucket || !st->prefix || !st->endpoint || !st->bucket_enc) {
		gcs_close(st);
		return gcs_nomem();
	}
	coffer_http_options opts = COFFER_HTTP_OPTIONS_INIT;
	opts.ca_file = params->ca_file;
	opts.name = "gcs";
	rc = coffer_http_options_from_config(&opts, params->config);
	if (rc == 0)
		rc = coffer_http_create(&st->http, &opts);
	if (rc == 0 && !emulator) {
		const char *credentials = getenv("GOOGLE_APPLICATION_CREDENTIALS");
		if (!credentials || !credentials[0])
			rc = coffer_error_set(COFFER_EAUTH,
			                      "gcs: no credentials: set GOOGLE_APPLICATION_CREDENTIALS to a "
			                      "service-account key (its JSON text or a file path), or "
			                      "STORAGE_EMULATOR_HOST for an emulator");
		else
			rc = gcs_auth_open(&st->auth, st->http, credentials, GCS_SCOPE_READ_WRITE);
	}
	if (rc)
		gcs_close(st);
	return rc;
}

static const char *const gcs_schemes[] = { "gcs", "gs", NULL };

static const coffer_option gcs_options[] = {
	{ "endpoint", COFFER_OPT_STRING, "JSON API endpoint URL (default https://storage.googleapis.com; "
	                                 "env GCS_ENDPOINT, or STORAGE_EMULATOR_HOST)" },
	{ "page_size", COFFER_OPT_INT, "objects per listing request (maxResults), 1-1000, default 1000" },
	{ "resumable_threshold", COFFER_OPT_INT, "blobs of this many bytes or more use a resumable "
	                                         "upload, default 8 MiB" },
	{ "max_attempts", COFFER_OPT_INT, "HTTP attempts per request, first included (default 8)" },
	{ "base_delay_ms", COFFER_OPT_INT, "first retry backoff bound in ms (default 250)" },
	{ "max_delay_ms", COFFER_OPT_INT, "longest single backoff in ms (default 30000)" },
	{ "max_total_ms", COFFER_OPT_INT, "no new attempt after this many ms (default 300000)" },
	{ "connect_timeout_s", COFFER_OPT_INT, "connect timeout in s (default 30)" },
	{ "stall_timeout_s", COFFER_OPT_INT, "a transfer stalled this long is retried (default 60)" },
	{ "request_timeout_s", COFFER_OPT_INT, "whole-request bound in s (default none)" },
	{ NULL, 0, NULL }
};

static const coffer_backend_vtable gcs_vtable = {
	COFFER_BACKEND_VTABLE_VERSION,
	sizeof(gcs_state),
	COFFER_BACKEND_CAP_RANGE | COFFER_BACKEND_CAP_SERVER_TIME,
	gcs_open,
	gcs_close,
	gcs_put,
	gcs_get,
	gcs_stat,
	gcs_list,
	gcs_remove,
	gcs_describe,
	NULL,
};

COFFER_PLUGIN_DEFINE(backend_gcs) = {
	COFFER_PLUGIN_MAGIC,
	COFFER_ABI_VERSION,
	COFFER_PLUGIN_BACKEND,
	"backend-gcs",
	"Google Cloud Storage, JSON API (gcs://bucket/prefix, gs://bucket/prefix)",
	gcs_schemes,
	gcs_options,
	&gcs_vtable,
};
