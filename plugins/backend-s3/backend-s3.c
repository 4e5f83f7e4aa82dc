/* backend-s3: blobs in an S3 bucket, URL s3://bucket/prefix. The protocol (signing,
 * addressing, listing, multipart, batch delete, write-once, errors) is described in
 * docs/backend-s3.md; HTTP, retries and redaction come from libcoffer-http. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include <coffer/http.h>
#include <coffer/sys/backend.h>

#include "s3_xml.h"
#include "sigv4.h"

#define S3_MIB (1024ULL * 1024ULL)
#define S3_MIN_PART (5 * S3_MIB)         /* S3's smallest part but the last */
#define S3_MAX_PART (5 * 1024 * S3_MIB)  /* and its largest */
#define S3_MAX_PARTS 10000
#define S3_DEFAULT_THRESHOLD (32 * S3_MIB)
#define S3_DEFAULT_PART (16 * S3_MIB)
#define S3_MAX_PAGE 1000                 /* ListObjectsV2 and DeleteObjects maximum */
#define S3_KEY_MAX 1024
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct s3_state {
	coffer_http *http;
	char *endpoint;      /* "https://host[:port]", for messages and URLs */
	char *host;          /* the Host header: "[bucket.]host[:port]" */
	char *base_path;     /* "/bucket" (path style) or "" (virtual-host style) */
	char *bucket;
	char *prefix;        /* "" or ending in '/' */
	size_t prefix_len;
	char *region;
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL when not set */
	int virtual_host;
	unsigned int page_size;
	unsigned int delete_batch;
	uint64_t multipart_threshold;
	uint64_t part_size;
} s3_state;

/* One request: what the signer needs on every attempt, and the response. */
typedef struct s3_call {
	const s3_state *st;
	const char *method;
	coffer_buf uri;          /* canonical URI, as sent */
	coffer_buf query;        /* canonical query, as sent */
	char payload_hash[65];
	char range[64];          /* "bytes=a-b" or "" */
	char content_md5[32];    /* base64, or "" */
	char what[96];           /* "GET <name>" for messages */
	coffer_http_request req;
	coffer_http_response resp;
} s3_call;

/* ------------------------------------------------------------------ small helpers */

static int s3_nomem(void)
{
	return coffer_error_set(COFFER_ENOMEM, "s3: out of memory");
}

static int s3_env_true(const char *name)
{
	const char *v = getenv(name);
	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
	             strcasecmp(v, "on") == 0);
}

/* The first of the variables that is set and not empty, or NULL. */
static const char *s3_env(const char *a, const char *b)
{
	const char *v = getenv(a);
	if ((!v || !v[0]) && b)
		v = getenv(b);
	return v && v[0] ? v : NULL;
}

static int s3_check_name(const char *name)
{
	if (!name || !name[0])
		return coffer_error_set(COFFER_EINVALID, "s3: invalid blob name: empty");
	return 0;
}

/* ------------------------------------------------------------------ requests */

static int s3_call_init(s3_call *c, const s3_state *st, const char *method, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->st = st;
	c->method = method;
	memcpy(c->payload_hash, S3_EMPTY_SHA256, sizeof(c->payload_hash));
	snprintf(c->what, sizeof(c->what), "%s %.80s", method, name ? name : st->bucket);
	int rc = coffer_http_bufprintf(&c->uri, "%s", st->base_path);
	if (rc == 0 && name) {
		rc = coffer_http_bufprintf(&c->uri, "/");
		if (rc == 0)
			rc = coffer_http_urlencode(st->prefix, st->prefix_len, 1, &c->uri);
		if (rc == 0)
			rc = coffer_http_urlencode(name, strlen(name), 1, &c->uri);
		if (rc == 0 && st->prefix_len + strlen(name) > S3_KEY_MAX)
			rc = coffer_error_set(COFFER_EINVALID,
			                      "s3: blob name '%.64s...' makes a key longer than %d bytes",
			                      name, S3_KEY_MAX);
	} else if (rc == 0) {
		rc = coffer_http_bufprintf(&c->uri, "/");
	}
	if (rc == 0)
		rc = coffer_http_bufprintf(&c->query, "%s", "");
	return rc;
}

static void s3_call_free(s3_call *c)
{
	coffer_buf_free(&c->uri);
	coffer_buf_free(&c->query);
	coffer_free(c->req.url);
	coffer_http_headers_free(&c->req.headers);
	coffer_http_response_free(&c->resp);
}

static int s3_call_query(s3_call *c, const s3_sigv4_pair *params, size_t count)
{
	c->query.len = 0;
	return s3_sigv4_query(params, count, &c->query);
}

static void s3_call_body(s3_call *c, const void *body, size_t len)
{
	c->req.body = body;
	c->req.body_len = len;
	coffer_http_sha256_hex(body ? body : "", len, c->payload_hash);
}

/* Signs the request afresh (date and signature) before every attempt. */
static int s3_prepare(void *ud, coffer_http_request *req, unsigned int attempt)
{
	(void)attempt;
	s3_call *c = ud;
	const s3_state *st = c->st;
	char amz_date[17];
	coffer_http_time_amz((int64_t)time(NULL), amz_date);
	s3_sigv4_pair h[8];
	size_t n = 0;
	h[n++] = (s3_sigv4_pair){ "host", st->host };
	h[n++] = (s3_sigv4_pair){ "x-amz-content-sha256", c->payload_hash };
	h[n++] = (s3_sigv4_pair){ "x-amz-date", amz_date };
	if (st->session_token)
		h[n++] = (s3_sigv4_pair){ "x-amz-security-token", st->session_token };
	if (c->range[0])
		h[n++] = (s3_sigv4_pair){ "range", c->range };
	if (c->content_md5[0])
		h[n++] = (s3_sigv4_pair){ "content-md5", c->content_md5 };
	s3_sigv4_input in = { c->method, (const char *)c->uri.data, (const char *)c->query.data,
		              h, n, c->payload_hash, amz_date, st->region, "s3", st->access_key,
		              st->secret_key };
	coffer_buf authz = COFFER_BUF_INIT;
	char signature[65];
	int rc = s3_sigv4_authorization(&in, &authz, signature);
	coffer_http_headers_clear(&req->headers);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = coffer_http_headers_add(&req->headers, h[i].name, "%s", h[i].value);
	if (rc == 0)
		rc = coffer_http_headers_add(&req->headers, "Authorization", "%s",
		                             (const char *)authz.data);
	if (authz.data)
		memset(authz.data, 0, authz.len);
	coffer_buf_free(&authz);
	memset(signature, 0, sizeof(signature));
	return rc;
}

/* Runs the request; 0 when a final status arrived (the caller reads c->resp.status). */
static int s3_exec(s3_call *c)
{
	const s3_state *st = c->st;
	coffer_free(c->req.url);
	c->req.url = NULL;
	coffer_buf url = COFFER_BUF_INIT;
	int rc = coffer_http_bufprintf(&url, "%s%s%s%s", st->endpoint, (const char *)c->uri.data,
	                               c->query.len ? "?" : "", (const char *)c->query.data);
	if (rc) {
		coffer_buf_free(&url);
		return rc;
	}
	c->req.url = (char *)url.data;
	c->req.method = c->method;
	c->req.prepare = s3_prepare;
	c->req.prepare_ud = c;
	c->req.what = c->what;
	return coffer_http_exec(st->http, &c->req, &c->resp);
}

/* ------------------------------------------------------------------ errors */

/* The error for a final status that is not success: the S3 error code decides; rejected
 * credentials name the one at fault (the access key id may be named, never the secret). */
static int s3_fail(const s3_call *c)
{
	const s3_state *st = c->st;
	s3_xml_error_info e;
	int parsed = c->resp.body.len &&
	             s3_xml_error_parse((const char *)c->resp.body.data, c->resp.body.len, &e);
	if (!parsed)
		memset(&e, 0, sizeof(e));
	long status = c->resp.status;
	coffer_buf msg = COFFER_BUF_INIT;
	coffer_http_redact(st->http, e.message, &msg);
	const char *server_msg = msg.data ? (const char *)msg.data : "";
	int rc;
	if (strcmp(e.code, "SignatureDoesNotMatch") == 0) {
		rc = coffer_error_set(COFFER_EAUTH,
		                      "s3: %s: the server rejected the signature made for access key id "
		                      "'%s' (SignatureDoesNotMatch): the secret access key "
		                      "(AWS_SECRET_ACCESS_KEY) is wrong for it",
		                      c->what, st->access_key);
	} else if (strcmp(e.code, "InvalidAccessKeyId") == 0) {
		rc = coffer_error_set(COFFER_EAUTH,
		                      "s3: %s: the server does not know the access key id '%s' "
		                      "(AWS_ACCESS_KEY_ID; InvalidAccessKeyId)",
		                      c->what, st->access_key);
	} else if (strcmp(e.code, "InvalidToken") == 0 || strcmp(e.code, "ExpiredToken") == 0 ||
	           strcmp(e.code, "TokenRefreshRequired") == 0) {
		rc = coffer_error_set(COFFER_EAUTH,
		                      "s3: %s: the session token (AWS_SESSION_TOKEN) for access key id "
		                      "'%s' was rejected (%s)", c->what, st->access_key, e.code);
	} else if (strcmp(e.code, "RequestTimeTooSkewed") == 0) {
		rc = coffer_error_set(COFFER_EAUTH,
		                      "s3: %s: the server refused the request time (RequestTimeTooSkewed): "
		                      "this machine's clock is off", c->what);
	} else if (status == 401 || status == 403) {
		rc = coffer_error_set(COFFER_EAUTH,
		                      "s3: %s: access key id '%s' was refused at %s bucket '%s' "
		                      "(HTTP %ld%s%s%s%s)",
		                      c->what, st->access_key, st->endpoint, st->bucket, status,
		                      e.code[0] ? " " : "", e.code, server_msg[0] ? ": " : "", server_msg);
	} else if (strcmp(e.code, "NoSuchBucket") == 0) {
		rc = coffer_error_set(COFFER_ENOTFOUND, "s3: %s: bucket '%s' does not exist at %s",
		                      c->what, st->bucket, st->endpoint);
	} else if (status == 404) {
		rc = coffer_error_set(COFFER_ENOTFOUND, "s3: %s: no such blob in bucket '%s'", c->what,
		                      st->bucket);
	} else {
		coffer_buf detail = COFFER_BUF_INIT;
		if (e.code[0])
			coffer_http_bufprintf(&detail, "%s%s%s", e.code, server_msg[0] ? ": " : "",
			                      server_msg);
		rc = coffer_http_fail(st->http, &c->req, &c->resp,
		                      detail.data ? (const char *)detail.data : NULL);
		coffer_buf_free(&detail);
	}
	coffer_buf_free(&msg);
	return rc;
}

static int s3_is_success(long status)
{
	return status >= 200 && status <= 299;
}

/* ------------------------------------------------------------------ stat and HEAD */

static int s3_head(s3_state *st, const char *name, coffer_blob_info *out)
{
	s3_call c;
	int rc = s3_call_init(&c, st, "HEAD", name);
	if (rc == 0)
		rc = s3_exec(&c);
	if (rc == 0 && s3_is_success(c.resp.status)) {
		const char *len = coffer_http_headers_get(&c.resp.headers, "Content-Length");
		const char *mod = coffer_http_headers_get(&c.resp.headers, "Last-Modified");
		char *end = NULL;
		unsigned long long size = len ? strtoull(len, &end, 10) : 0;
		out->name = NULL;
		out->size = size;
		if (!len || end == len || !mod || coffer_http_parse_time(mod, &out->mtime_ns) != 0)
			rc = coffer_error_set(COFFER_ECORRUPT,
			                      "s3: HEAD %s: the response lacks a readable Content-Length or "
			                      "Last-Modified", name);
	} else if (rc == 0) {
		rc = s3_fail(&c);
	}
	s3_call_free(&c);
	return rc;
}

static int s3_stat(void *state, const char *name, coffer_blob_info *out)
{
	int rc = s3_check_name(name);
	return rc ? rc : s3_head(state, name, out);
}

/* 1 when the blob exists, 0 when not, or a COFFER_E* code. */
static int s3_exists(s3_state *st, const char *name)
{
	coffer_blob_info info;
	int rc = s3_head(st, name, &info);
	if (rc == COFFER_ENOTFOUND) {
		coffer_error_clear();
		return 0;
	}
	return rc ? rc : 1;
}

/* ------------------------------------------------------------------ get */

/* "bytes A-B/TOTAL" or "bytes * /TOTAL" → TOTAL. */
static int s3_content_range_total(const coffer_http_response *resp, uint64_t *total)
{
	const char *v = coffer_http_headers_get(&resp->headers, "Content-Range");
	const char *slash = v ? strrchr(v, '/') : NULL;
	if (!slash || slash[1] < '0' || slash[1] > '9')
		return -1;
	char *end;
	*total = strtoull(slash + 1, &end, 10);
	return 0;
}

/* Moves (or appends) the response body to `out`. */
static int s3_take_body(s3_call *c, coffer_buf *out)
{
	if (out->len == 0) {
		coffer_buf_free(out);
		*out = c->resp.body;
		memset(&c->resp.body, 0, sizeof(c->resp.body));
		return 0;
	}
	return coffer_buf_append(out, c->resp.body.data, c->resp.body.len) ? s3_nomem() : 0;
}

static int s3_range_past_end(const char *name, uint64_t offset, uint64_t length, uint64_t size)
{
	if (length == COFFER_WHOLE)
		return coffer_error_set(COFFER_EINVALID,
		                        "s3: get '%s' from offset %llu: the blob has only %llu bytes", name,
		                        (unsigned long long)offset, (unsigned long long)size);
	return coffer_error_set(COFFER_EINVALID,
	                        "s3: get '%s' bytes %llu+%llu: past the end of the %llu-byte blob",
	                        name, (unsigned long long)offset, (unsigned long long)length,
	                        (unsigned long long)size);
}

/* An empty range (or one the server refused with 416): the size decides. */
static int s3_get_empty(s3_state *st, const char *name, uint64_t offset, uint64_t length)
{
	coffer_blob_info info;
	int rc = s3_head(st, name, &info);
	if (rc)
		return rc;
	if (offset > info.size || (length != COFFER_WHOLE && length > 0))
		return s3_range_past_end(name, offset, length, info.size);
	return 0;
}

static int s3_get(void *state, const char *name, uint64_t offset, uint64_t length, coffer_buf *out)
{
	s3_state *st = state;
	int rc = s3_check_name(name);
	if (rc)
		return rc;
	if (length != COFFER_WHOLE && length > UINT64_MAX - offset)
		return coffer_error_set(COFFER_EINVALID, "s3: get '%s': offset %llu + length %llu overflows",
		                        name, (unsigned long long)offset, (unsigned long long)length);
	if (length == 0)
		return s3_get_empty(st, name, offset, 0);
	s3_call c;
	if ((rc = s3_call_init(&c, st, "GET", name)) != 0) {
		s3_call_free(&c);
		return rc;
	}
	int ranged = offset > 0 || length != COFFER_WHOLE;
	if (length == COFFER_WHOLE)
		snprintf(c.range, sizeof(c.range), "bytes=%llu-", (unsigned long long)offset);
	else
		snprintf(c.range, sizeof(c.range), "bytes=%llu-%llu", (unsigned long long)offset,
		         (unsigned long long)(offset + length - 1));
	if (!ranged)
		c.range[0] = '\0';
	rc = s3_exec(&c);
	if (rc == 0 && c.resp.status == 416) {
		rc = s3_get_empty(st, name, offset, length);
	} else if (rc == 0 && c.resp.status == 206) {
		uint64_t total;
		if (s3_content_range_total(&c.resp, &total) != 0)
			rc = coffer_error_set(COFFER_ECORRUPT, "s3: GET %s: a partial answer without a "
			                      "readable Content-Range", name);
		else if (length != COFFER_WHOLE && offset + length > total)
			rc = s3_range_past_end(name, offset, length, total);
		else if (c.resp.body.len != (length == COFFER_WHOLE ? total - offset : length))
			rc = coffer_error_set(COFFER_ECORRUPT,
			                      "s3: GET %s: asked for %s, got %zu bytes of a %llu-byte blob",
			                      name, c.range, c.resp.body.len, (unsigned long long)total);
		else
			rc = s3_take_body(&c, out);
	} else if (rc == 0 && c.resp.status == 200) {
		/* a whole-object answer: either asked for, or a server that ignores Range */
		uint64_t total = c.resp.body.len;
		if (offset > total || (length != COFFER_WHOLE && offset + length > total)) {
			rc = s3_range_past_end(name, offset, length, total);
		} else if (ranged) {
			size_t n = (size_t)(length == COFFER_WHOLE ? total - offset : length);
			rc = coffer_buf_append(out, c.resp.body.data + offset, n) ? s3_nomem() : 0;
		} else {
			rc = s3_take_body(&c, out);
		}
	} else if (rc == 0) {
		rc = s3_fail(&c);
	}
	s3_call_free(&c);
	return rc;
}

/* ------------------------------------------------------------------ put */

static int s3_put_simple(s3_state *st, const char *name, const void *data, size_t len)
{
	s3_call c;
	int rc = s3_call_init(&c, st, "PUT", name);
	if (rc == 0) {
		s3_call_body(&c, data, len);
		rc = s3_exec(&c);
	}
	if (rc == 0 && !s3_is_success(c.resp.status))
		rc = s3_fail(&c);
	s3_call_free(&c);
	return rc;
}

/* Runs `method` on the object with query `params` and an optional body; on success the
 * response stays in *c for the caller (who frees it). */
static int s3_object_call(s3_call *c, s3_state *st, const char *method, const char *name,
                          const s3_sigv4_pair *params, size_t count, const void *body,
                          size_t body_len)
{
	int rc = s3_call_init(c, st, method, name);
	if (rc == 0)
		rc = s3_call_query(c, params, count);
	if (rc == 0) {
		s3_call_body(c, body, body_len);
		rc = s3_exec(c);
	}
	if (rc == 0 && !s3_is_success(c->resp.status))
		rc = s3_fail(c);
	return rc;
}

static void s3_multipart_abort(s3_state *st, const char *name, const char *upload_id)
{
	const s3_sigv4_pair q[] = { { "uploadId", upload_id } };
	s3_call c;
	coffer_error saved = *coffer_error_last();
	(void)s3_object_call(&c, st, "DELETE", name, q, 1, NULL, 0);
	s3_call_free(&c);
	coffer_error_set(saved.code, "%s", saved.message); /* keep the error that made us abort */
}

static int s3_multipart_complete(s3_state *st, const char *name, const char *upload_id,
                                 const coffer_buf *xml, size_t len)
{
	const s3_sigv4_pair q[] = { { "uploadId", upload_id } };
	s3_call c;
	int rc = s3_object_call(&c, st, "POST", name, q, 1, xml->data, xml->len);
	s3_xml_error_info e;
	if (rc == 0 && s3_xml_error_parse((const char *)c.resp.body.data, c.resp.body.len, &e)) {
		/* S3 may answer 200 and report the failure in the body */
		rc = coffer_error_set(COFFER_ETRANSIENT, "s3: completing the upload of '%s' failed: %s %s",
		                      name, e.code, e.message);
	} else if (rc == COFFER_ENOTFOUND && c.resp.attempts > 1) {
		/* an earlier attempt may have completed it, and its answer was lost */
		coffer_blob_info info;
		if (s3_head(st, name, &info) == 0 && info.size == len)
			rc = 0;
		else
			rc = coffer_error_set(COFFER_ETRANSIENT,
			                      "s3: completing the upload of '%s': the upload vanished", name);
	}
	s3_call_free(&c);
	return rc;
}

static int s3_put_multipart(s3_state *st, const char *name, const uint8_t *data, size_t len)
{
	const s3_sigv4_pair init_q[] = { { "uploads", NULL } };
	s3_call c;
	char *upload_id = NULL;
	int rc = s3_object_call(&c, st, "POST", name, init_q, 1, NULL, 0);
	if (rc == 0)
		rc = s3_xml_upload_id((const char *)c.resp.body.data, c.resp.body.len, &upload_id);
	s3_call_free(&c);
	if (rc)
		return rc;

	coffer_buf xml = COFFER_BUF_INIT;
	rc = coffer_http_bufprintf(&xml, "<CompleteMultipartUpload>");
	size_t parts = (size_t)((len + st->part_size - 1) / st->part_size);
	for (size_t i = 0; rc == 0 && i < parts; i++) {
		size_t off = (size_t)(i * st->part_size);
		size_t n = len - off < st->part_size ? len - off : (size_t)st->part_size;
		char number[24];
		snprintf(number, sizeof(number), "%zu", i + 1);
		const s3_sigv4_pair q[] = { { "partNumber", number }, { "uploadId", upload_id } };
		rc = s3_object_call(&c, st, "PUT", name, q, 2, data + off, n);
		const char *etag = rc ? NULL : coffer_http_headers_get(&c.resp.headers, "ETag");
		if (rc == 0 && (!etag || !etag[0]))
			rc = coffer_error_set(COFFER_ECORRUPT, "s3: part %zu of '%s' was stored without "
			                      "an ETag", i + 1, name);
		if (rc == 0)
			rc = coffer_http_bufprintf(&xml, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
		if (rc == 0)
			rc = s3_xml_escape(etag, &xml);
		if (rc == 0)
			rc = coffer_http_bufprintf(&xml, "</ETag></Part>");
		s3_call_free(&c);
	}
	if (rc == 0)
		rc = coffer_http_bufprintf(&xml, "</CompleteMultipartUpload>");
	if (rc == 0)
		rc = s3_multipart_complete(st, name, upload_id, &xml, len);
	if (rc)
		s3_multipart_abort(st, name, upload_id);
	coffer_buf_free(&xml);
	coffer_free(upload_id);
	return rc;
}

static int s3_put(void *state, const char *name, const void *data, size_t len, unsigned int flags)
{
	s3_state *st = state;
	int rc = s3_check_name(name);
	if (rc)
		return rc;
	if (!(flags & COFFER_PUT_OVERWRITE)) {
		/* write-once by looking first: S3-compatible stores without conditional PUT
		 * (Swift's s3api) leave no atomic way; see docs/backend-s3.md */
		int exists = s3_exists(st, name);
		if (exists < 0)
			return exists;
		if (exists)
			return coffer_error_set(COFFER_EEXISTS, "s3: blob '%s' already exists in bucket '%s'",
			                        name, st->bucket);
	}
	if (len > st->multipart_threshold)
		return s3_put_multipart(st, name, data, len);
	return s3_put_simple(st, name, data, len);
}

/* ------------------------------------------------------------------ list */

/* Called with each full key (prefix included) in order; nonzero stops. */
typedef int (*s3_key_fn)(void *ud, const s3_xml_object *obj);

static int s3_list_keys(s3_state *st, const char *key_prefix, const char *start_after,
                        s3_key_fn fn, void *ud)
{
	char max_keys[16];
	snprintf(max_keys, sizeof(max_keys), "%u", st->page_size);
	char *token = NULL;
	int rc = 0;
	for (;;) {
		s3_sigv4_pair q[6];
		size_t n = 0;
		q[n++] = (s3_sigv4_pair){ "list-type", "2" };
		q[n++] = (s3_sigv4_pair){ "prefix", key_prefix };
		q[n++] = (s3_sigv4_pair){ "max-keys", max_keys };
		q[n++] = (s3_sigv4_pair){ "encoding-type", "url" };
		if (token)
			q[n++] = (s3_sigv4_pair){ "continuation-token", token };
		else if (start_after && start_after[0])
			q[n++] = (s3_sigv4_pair){ "start-after", start_after };
		s3_call c;
		if ((rc = s3_call_init(&c, st, "GET", NULL)) == 0) {
			snprintf(c.what, sizeof(c.what), "list '%.80s'", key_prefix);
			rc = s3_call_query(&c, q, n);
		}
		if (rc == 0)
			rc = s3_exec(&c);
		if (rc == 0 && c.resp.status != 200)
			rc = s3_fail(&c);
		s3_xml_list_page page;
		memset(&page, 0, sizeof(page));
		if (rc == 0)
			rc = s3_xml_list_parse((const char *)c.resp.body.data, c.resp.body.len, &page);
		s3_call_free(&c);
		for (size_t i = 0; rc == 0 && i < page.count; i++)
			rc = fn(ud, &page.objects[i]);
		if (rc == 0 && page.truncated) {
			if (token && strcmp(token, page.next_token) == 0)
				rc = coffer_error_set(COFFER_ECORRUPT,
				                      "s3: list '%s': the server repeated its continuation token",
				                      key_prefix);
			coffer_free(token);
			token = page.next_token;
			page.next_token = NULL;
		}
		int more = rc == 0 && page.truncated;
		s3_xml_list_free(&page);
		if (!more)
			break;
	}
	coffer_free(token);
	return rc;
}

typedef struct s3_list_ctx {
	const s3_state *st;
	coffer_list_cb cb;
	void *ud;
} s3_list_ctx;

static int s3_list_one(void *ud, const s3_xml_object *obj)
{
	s3_list_ctx *l = ud;
	if (obj->key_len <= l->st->prefix_len ||
	    memcmp(obj->key, l->st->prefix, l->st->prefix_len) != 0)
		return 0; /* not ours (a server that ignored the prefix) */
	coffer_blob_info info = { obj->key + l->st->prefix_len, obj->size, obj->mtime_ns };
	return l->cb(&info, l->ud);
}

static int s3_list(void *state, const char *prefix, coffer_list_cb cb, void *ud)
{
	s3_state *st = state;
	coffer_buf key_prefix = COFFER_BUF_INIT;
	int rc = coffer_http_bufprintf(&key_prefix, "%s%s", st->prefix, prefix ? prefix : "");
	s3_list_ctx l = { st, cb, ud };
	if (rc == 0)
		rc = s3_list_keys(st, (const char *)key_prefix.data, NULL, s3_list_one, &l);
	coffer_buf_free(&key_prefix);
	return rc;
}

/* ------------------------------------------------------------------ remove */

static int s3_delete_object(s3_state *st, const char *name)
{
	s3_call c;
	int rc = s3_call_init(&c, st, "DELETE", name);
	if (rc == 0)
		rc = s3_exec(&c);
	if (rc == 0 && !s3_is_success(c.resp.status))
		rc = s3_fail(&c);
	s3_call_free(&c);
	return rc;
}

static int s3_remove(void *state, const char *name)
{
	s3_state *st = state;
	int rc = s3_check_name(name);
	if (rc)
		return rc;
	/* S3 answers 204 for a missing key too; the contract wants ENOTFOUND */
	int exists = s3_exists(st, name);
	if (exists < 0)
		return exists;
	if (!exists)
		return coffer_error_set(COFFER_ENOTFOUND, "s3: cannot remove blob '%s': not found", name);
	return s3_delete_object(st, name);
}

/* A name of the caller's array and its index there; a batch is sorted by name. */
typedef struct s3_sorted {
	const char *name;
	size_t idx;
} s3_sorted;

typedef struct s3_batch {
	s3_state *st;
	s3_sorted *order; /* sorted by name */
	int *results;
	size_t first, count; /* the slice being worked on */
	size_t next;         /* merge position while listing */
} s3_batch;

static int s3_sorted_cmp(const void *a, const void *b)
{
	return strcmp(((const s3_sorted *)a)->name, ((const s3_sorted *)b)->name);
}

/* Listing merged with the sorted batch: a listed key marks its name as present (result 0
 * for now); names passed over are missing. Stops after the greatest name. */
static int s3_batch_mark(void *ud, const s3_xml_object *obj)
{
	s3_batch *b = ud;
	size_t plen = b->st->prefix_len;
	if (obj->key_len < plen || memcmp(obj->key, b->st->prefix, plen) != 0)
		return 0;
	const char *key_name = obj->key + plen;
	size_t end = b->first + b->count;
	while (b->next < end) {
		int cmp = strcmp(b->order[b->next].name, key_name);
		if (cmp > 0)
			break;
		if (cmp == 0)
			b->results[b->order[b->next].idx] = 0;
		b->next++;
	}
	return b->next >= end ? 1 : 0; /* 1: past the slice's last name, stop listing */
}

static int s3_delete_error(void *ud, const char *key, const char *code, const char *message)
{
	s3_batch *b = ud;
	const s3_state *st = b->st;
	if (strncmp(key, st->prefix, st->prefix_len) != 0)
		return 0;
	const char *name = key + st->prefix_len;
	size_t lo = b->first, hi = b->first + b->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(b->order[mid].name, name);
		if (cmp == 0) {
			int err;
			if (strcmp(code, "NoSuchKey") == 0)
				err = COFFER_ENOTFOUND;
			else if (strcmp(code, "AccessDenied") == 0)
				err = COFFER_EAUTH;
			else
				err = COFFER_ERROR;
			coffer_error_set(err, "s3: removing '%s': %s %s", name, code, message);
			/* the same name may appear more than once in the batch */
			for (size_t i = mid; i > b->first && strcmp(b->order[i - 1].name, name) == 0; i--)
				b->results[b->order[i - 1].idx] = err;
			for (size_t i = mid; i < b->first + b->count && strcmp(b->order[i].name, name) == 0; i++)
				b->results[b->order[i].idx] = err;
			return 0;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int s3_md5_base64(const void *data, size_t len, char out[32])
{
	unsigned char md[16];
	unsigned int md_len = 0;
	if (!EVP_Digest(data, len, md, &md_len, EVP_md5(), NULL) || md_len != 16)
		return coffer_error_set(COFFER_ERROR, "s3: MD5 is not available from OpenSSL");
	coffer_buf b64 = COFFER_BUF_INIT;
	int rc = coffer_http_base64_encode(md, 16, &b64);
	if (rc == 0)
		snprintf(out, 32, "%.*s", (int)b64.len, (const char *)b64.data);
	coffer_buf_free(&b64);
	return rc;
}

/* DeleteObjects for the present names of the slice. */
static int s3_delete_batch(s3_batch *b)
{
	size_t first = b->first, count = b->count;
	s3_state *st = b->st;
	coffer_buf xml = COFFER_BUF_INIT;
	size_t sent = 0;
	int rc = coffer_http_bufprintf(&xml, "<Delete><Quiet>true</Quiet>");
	for (size_t i = first; rc == 0 && i < first + count; i++) {
		size_t idx = b->order[i].idx;
		if (b->results[idx] != 0 || (i > first && strcmp(b->order[i - 1].name, b->order[i].name) == 0))
			continue;
		rc = coffer_http_bufprintf(&xml, "<Object><Key>");
		if (rc == 0)
			rc = s3_xml_escape(st->prefix, &xml);
		if (rc == 0)
			rc = s3_xml_escape(b->order[i].name, &xml);
		if (rc == 0)
			rc = coffer_http_bufprintf(&xml, "</Key></Object>");
		sent++;
	}
	if (rc == 0)
		rc = coffer_http_bufprintf(&xml, "</Delete>");
	if (rc == 0 && sent > 0) {
		const s3_sigv4_pair q[] = { { "delete", NULL } };
		s3_call c;
		if ((rc = s3_call_init(&c, st, "POST", NULL)) == 0) {
			snprintf(c.what, sizeof(c.what), "delete %zu blobs", sent);
			rc = s3_call_query(&c, q, 1);
		}
		if (rc == 0)
			rc = s3_md5_base64(xml.data, xml.len, c.content_md5);
		if (rc == 0) {
			s3_call_body(&c, xml.data, xml.len);
			rc = s3_exec(&c);
		}
		if (rc == 0 && !s3_is_success(c.resp.status))
			rc = s3_fail(&c);
		if (rc == 0)
			rc = s3_xml_delete_result((const char *)c.resp.body.data, c.resp.body.len,
			                          s3_delete_error, b);
		s3_call_free(&c);
	}
	coffer_buf_free(&xml);
	return rc;
}

/* The longest common prefix of the first and last name of a sorted slice. */
static size_t s3_common_prefix(const char *a, const char *b)
{
	size_t n = 0;
	while (a[n] && a[n] == b[n])
		n++;
	return n;
}

/* The length of `s` without its last UTF-8 character. */
static size_t s3_without_last_char(const char *s)
{
	size_t n = strlen(s);
	while (n > 0 && ((unsigned char)s[n - 1] & 0xc0) == 0x80)
		n--;
	return n > 0 ? n - 1 : 0;
}

static int s3_remove_slice(s3_batch *b, size_t first, size_t count)
{
	s3_state *st = b->st;
	const char *lo = b->order[first].name;
	const char *hi = b->order[first + count - 1].name;
	b->first = first;
	b->count = count;
	b->next = first;
	for (size_t i = first; i < first + count; i++)
		b->results[b->order[i].idx] = COFFER_ENOTFOUND;
	/* Which names exist: one listing of the slice's key range, since DeleteObjects reports
	 * a missing key as deleted. It starts after the smallest name minus its last
	 * character and stops after the greatest name. */
	coffer_buf key_prefix = COFFER_BUF_INIT, start_after = COFFER_BUF_INIT;
	int rc = coffer_http_bufprintf(&key_prefix, "%s%.*s", st->prefix,
	                               (int)s3_common_prefix(lo, hi), lo);
	if (rc == 0)
		rc = coffer_http_bufprintf(&start_after, "%s%.*s", st->prefix,
		                           (int)s3_without_last_char(lo), lo);
	if (rc == 0) {
		rc = s3_list_keys(st, (const char *)key_prefix.data, (const char *)start_after.data,
		                  s3_batch_mark, b);
		if (rc == 1)
			rc = 0;
	}
	coffer_buf_free(&key_prefix);
	coffer_buf_free(&start_after);
	if (rc == 0)
		rc = s3_delete_batch(b);
	return rc;
}

static int s3_remove_many(void *state, const char *const *names, size_t count, int *results)
{
	s3_state *st = state;
	for (size_t i = 0; i < count; i++) {
		int rc = s3_check_name(names[i]);
		if (rc)
			return rc;
	}
	if (count == 0)
		return 0;
	s3_sorted *order = coffer_malloc(count * sizeof(*order));
	if (!order)
		return s3_nomem();
	for (size_t i = 0; i < count; i++)
		order[i] = (s3_sorted){ names[i], i };
	qsort(order, count, sizeof(*order), s3_sorted_cmp);
	s3_batch b = { st, order, results, 0, 0, 0 };
	int rc = 0;
	for (size_t first = 0; rc == 0 && first < count; first += st->delete_batch) {
		size_t n = count - first < st->delete_batch ? count - first : st->delete_batch;
		rc = s3_remove_slice(&b, first, n);
	}
	coffer_free(order);
	return rc;
}

/* ------------------------------------------------------------------ open, describe */

static int s3_describe(void *state, coffer_buf *out)
{
	const s3_state *st = state;
	return coffer_http_bufprintf(out, "s3 endpoint=%s bucket=%s prefix=%s region=%s addressing=%s",
	                             st->endpoint, st->bucket, st->prefix[0] ? st->prefix : "/",
	                             st->region, st->virtual_host ? "virtual-host" : "path");
}

static void s3_close(void *state)
{
	s3_state *st = state;
	if (st->http)
		coffer_http_destroy(st->http);
	if (st->secret_key)
		memset(st->secret_key, 0, strlen(st->secret_key));
	if (st->session_token)
		memset(st->session_token, 0, strlen(st->session_token));
	coffer_free(st->endpoint);
	coffer_free(st->host);
	coffer_free(st->base_path);
	coffer_free(st->bucket);
	coffer_free(st->prefix);
	coffer_free(st->region);
	coffer_free(st->access_key);
	coffer_free(st->secret_key);
	coffer_free(st->session_token);
	memset(st, 0, sizeof(*st));
}

/* An integer config key within [lo, hi]; *out keeps its default when the key is absent. */
static int s3_config_uint(const coffer_config *cfg, const char *key, uint64_t lo, uint64_t hi,
                          uint64_t *out)
{
	long long v;
	int rc = coffer_config_int(cfg, key, &v);
	if (rc == COFFER_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (v < 0 || (uint64_t)v < lo || (uint64_t)v > hi)
		return coffer_error_set(COFFER_EINVALID, "%s: s3: %s = %lld is out of range (%llu to %llu)",
		                        coffer_config_where(cfg), key, v, (unsigned long long)lo,
		                        (unsigned long long)hi);
	*out = (uint64_t)v;
	return 0;
}

static const char *s3_config_str(const coffer_config *cfg, const char *key)
{
	const char *v = NULL;
	return coffer_config_string(cfg, key, &v) == 0 && v && v[0] ? v : NULL;
}

static int s3_is_ip_literal(const char *host)
{
	if (host[0] == '[')
		return 1;
	for (const char *p = host; *p && *p != ':'; p++)
		if ((*p < '0' || *p > '9') && *p != '.')
			return 0;
	return 1;
}

static int s3_ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

/* Endpoint, addressing and Host; see docs/backend-s3.md, "Endpoint and addressing". */
static int s3_setup_endpoint(s3_state *st, const coffer_config *cfg)
{
	const char *endpoint = s3_env("AWS_S3_ENDPOINT", "KOPIA_S3_ENDPOINT");
	if (!endpoint)
		endpoint = s3_config_str(cfg, "endpoint");
	int disable_tls = s3_env_true("KOPIA_S3_DISABLE_TLS") || s3_env_true("AWS_S3_DISABLE_TLS");
	int cfg_flag;
	if (coffer_config_bool(cfg, "disable_tls", &cfg_flag) == 0 && cfg_flag)
		disable_tls = 1;
	int custom = endpoint != NULL;
	coffer_buf aws = COFFER_BUF_INIT;
	if (!endpoint) {
		if (coffer_http_bufprintf(&aws, "s3.%s.amazonaws.com", st->region))
			return s3_nomem();
		endpoint = (const char *)aws.data;
	}
	const char *scheme = disable_tls ? "http" : "https";
	const char *hostport = endpoint;
	if (strncasecmp(endpoint, "http://", 7) == 0) {
		scheme = "http";
		hostport = endpoint + 7;
	} else if (strncasecmp(endpoint, "https://", 8) == 0) {
		scheme = "https";
		hostport = endpoint + 8;
	}
	size_t hlen = strcspn(hostport, "/?#");
	int rc = 0;
	if (hlen == 0 || strspn(hostport + hlen, "/") != strlen(hostport + hlen) ||
	    strpbrk(hostport, " @\t\r\n"))
		rc = coffer_error_set(COFFER_EINVALID,
		                      "s3: endpoint '%s' is not [http://|https://]host[:port]", endpoint);
	const char *addressing = s3_config_str(cfg, "addressing");
	if (rc == 0) {
		int aws_host = s3_ends_with(hostport, hlen, ".amazonaws.com") ||
		               s3_ends_with(hostport, hlen, ".amazonaws.com.cn");
		int dns_bucket = strchr(st->bucket, '.') == NULL && strchr(st->bucket, '_') == NULL;
		for (const char *p = st->bucket; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				dns_bucket = 0;
		if (!addressing || strcmp(addressing, "auto") == 0)
			st->virtual_host = (!custom || aws_host) && !s3_is_ip_literal(hostport) && dns_bucket;
		else if (strcmp(addressing, "virtual-host") == 0)
			st->virtual_host = 1;
		else if (strcmp(addressing, "path") == 0)
			st->virtual_host = 0;
		else
			rc = coffer_error_set(COFFER_EINVALID, "%s: s3: addressing = \"%s\": use \"auto\", "
			                      "\"path\" or \"virtual-host\"", coffer_config_where(cfg),
			                      addressing);
	}
	/* Host header: curl leaves out a default port, and so do we */
	size_t host_len = hlen;
	if ((strcmp(scheme, "http") == 0 && s3_ends_with(hostport, hlen, ":80")) ||
	    (strcmp(scheme, "https") == 0 && s3_ends_with(hostport, hlen, ":443")))
		host_len = (size_t)(strrchr(hostport, ':') - hostport);
	coffer_buf b = COFFER_BUF_INIT;
	if (rc == 0)
		rc = coffer_http_bufprintf(&b, "%s%s%.*s", st->virtual_host ? st->bucket : "",
		                           st->virtual_host ? "." : "", (int)host_len, hostport);
	if (rc == 0) {
		st->host = (char *)b.data;
		memset(&b, 0, sizeof(b));
		rc = coffer_http_bufprintf(&b, "%s://%s", scheme, st->host);
	}
	if (rc == 0) {
		st->endpoint = (char *)b.data;
		memset(&b, 0, sizeof(b));
		rc = coffer_http_bufprintf(&b, "%s%s", st->virtual_host ? "" : "/",
		                           st->virtual_host ? "" : st->bucket);
	}
	if (rc == 0)
		st->base_path = (char *)b.data;
	else
		coffer_buf_free(&b);
	coffer_buf_free(&aws);
	return rc;
}

static int s3_setup_location(s3_state *st, const coffer_url *url)
{
	const char *bucket = url->host;
	size_t blen = strlen(bucket);
	if (blen < 3 || blen > 63 || strspn(bucket, "abcdefghijklmnopqrstuvwxyz"
	                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != blen)
		return coffer_error_set(COFFER_EINVALID,
		                        "s3: '%s' is not a bucket name (3 to 63 letters, digits, '.', "
		                        "'-'): use s3://bucket/prefix", bucket);
	if (url->query)
		return coffer_error_set(COFFER_EINVALID, "s3: URL '%s' has a query; use s3://bucket/prefix",
		                        url->text);
	const char *p = url->path;
	while (*p == '/')
		p++;
	size_t plen = strlen(p);
	while (plen > 0 && p[plen - 1] == '/')
		plen--;
	coffer_buf prefix = COFFER_BUF_INIT;
	int rc = coffer_http_bufprintf(&prefix, "%.*s%s", (int)plen, p, plen ? "/" : "");
	if (rc)
		return rc;
	st->prefix = (char *)prefix.data;
	st->prefix_len = prefix.len;
	if (!(st->bucket = coffer_strdup(bucket)))
		return s3_nomem();
	return 0;
}

static int s3_setup_credentials(s3_state *st)
{
	const char *id = s3_env("AWS_ACCESS_KEY_ID", NULL);
	const char *secret = s3_env("AWS_SECRET_ACCESS_KEY", NULL);
	const char *token = s3_env("AWS_SESSION_TOKEN", NULL);
	if (!id)
		return coffer_error_set(COFFER_EAUTH, "s3: AWS_ACCESS_KEY_ID is not set");
	if (!secret)
		return coffer_error_set(COFFER_EAUTH,
		                        "s3: AWS_SECRET_ACCESS_KEY is not set (access key id '%s')", id);
	if (!(st->access_key = coffer_strdup(id)) || !(st->secret_key = coffer_strdup(secret)) ||
	    (token && !(st->session_token = coffer_strdup(token))))
		return s3_nomem();
	return 0;
}

/* One small listing: finds a missing bucket and rejected credentials at open, with the
 * error code in the body (a HEAD's 403 has none). */
static int s3_probe(s3_state *st)
{
	const s3_sigv4_pair q[] = { { "list-type", "2" }, { "max-keys", "1" },
		                    { "prefix", st->prefix } };
	s3_call c;
	int rc = s3_call_init(&c, st, "GET", NULL);
	if (rc == 0) {
		snprintf(c.what, sizeof(c.what), "list bucket '%.60s'", st->bucket);
		rc = s3_call_query(&c, q, 3);
	}
	if (rc == 0)
		rc = s3_exec(&c);
	if (rc == 0 && c.resp.status != 200)
		rc = s3_fail(&c);
	s3_call_free(&c);
	return rc;
}

static int s3_open(void *state, const coffer_backend_params *params)
{
	s3_state *st = state;
	const coffer_config *cfg = params->config;
	uint64_t page = S3_MAX_PAGE, batch = S3_MAX_PAGE;
	uint64_t threshold = S3_DEFAULT_THRESHOLD, part = S3_DEFAULT_PART;
	int rc;
	if ((rc = s3_config_uint(cfg, "page_size", 1, S3_MAX_PAGE, &page)) ||
	    (rc = s3_config_uint(cfg, "delete_batch", 1, S3_MAX_PAGE, &batch)) ||
	    (rc = s3_config_uint(cfg, "multipart_threshold", 1, UINT64_MAX >> 1, &threshold)) ||
	    (rc = s3_config_uint(cfg, "multipart_part_size", S3_MIN_PART, S3_MAX_PART, &part)))
		return rc;
	st->page_size = (unsigned int)page;
	st->delete_batch = (unsigned int)batch;
	st->multipart_threshold = threshold;
	st->part_size = part;

	const char *region = s3_env("AWS_REGION", "AWS_DEFAULT_REGION");
	if (!region)
		region = s3_config_str(cfg, "region");
	if (!(st->region = coffer_strdup(region ? region : "us-east-1")))
		return s3_nomem();
	if ((rc = s3_setup_location(st, params->url)) || (rc = s3_setup_credentials(st)) ||
	    (rc = s3_setup_endpoint(st, cfg))) {
		s3_close(st);
		return rc;
	}
	coffer_http_options opts = COFFER_HTTP_OPTIONS_INIT;
	opts.ca_file = params->ca_file;
	opts.name = "s3";
	if ((rc = coffer_http_options_from_config(&opts, cfg)) ||
	    (rc = coffer_http_create(&st->http, &opts)) ||
	    (rc = coffer_http_add_secret(st->http, st->secret_key)) ||
	    (st->session_token && (rc = coffer_http_add_secret(st->http, st->session_token))) ||
	    (rc = s3_probe(st))) {
		s3_close(st);
		return rc;
	}
	return 0;
}

static const coffer_backend_vtable s3_vtable = {
	.version = COFFER_BACKEND_VTABLE_VERSION,
	.state_size = sizeof(s3_state),
	.caps = COFFER_BACKEND_CAP_RANGE | COFFER_BACKEND_CAP_SERVER_TIME,
	.open = s3_open,
	.close = s3_close,
	.put = s3_put,
	.get = s3_get,
	.stat = s3_stat,
	.list = s3_list,
	.remove = s3_remove,
	.describe = s3_describe,
	.remove_many = s3_remove_many,
};

static const char *const s3_schemes[] = { "s3", NULL };

static const coffer_option s3_options[] = {
	{ "endpoint", COFFER_OPT_STRING, "S3 endpoint, [http://|https://]host[:port] (env wins)" },
	{ "region", COFFER_OPT_STRING, "region to sign for (AWS_REGION wins; default us-east-1)" },
	{ "addressing", COFFER_OPT_STRING, "\"auto\" (default), \"path\" or \"virtual-host\"" },
	{ "disable_tls", COFFER_OPT_BOOL, "plain http for an endpoint given without a scheme" },
	{ "page_size", COFFER_OPT_INT, "keys per ListObjectsV2 page (1-1000, default 1000)" },
	{ "delete_batch", COFFER_OPT_INT, "keys per DeleteObjects request (1-1000, default 1000)" },
	{ "multipart_threshold", COFFER_OPT_INT, "blobs above this many bytes go multipart" },
	{ "multipart_part_size", COFFER_OPT_INT, "bytes per part (5 MiB to 5 GiB, default 16 MiB)" },
	{ "max_attempts", COFFER_OPT_INT, "HTTP attempts per request, the first included" },
	{ "base_delay_ms", COFFER_OPT_INT, "first retry waits up to this long" },
	{ "max_delay_ms", COFFER_OPT_INT, "cap of one wait between retries" },
	{ "max_total_ms", COFFER_OPT_INT, "no new attempt after this long" },
	{ "connect_timeout_s", COFFER_OPT_INT, "connect timeout" },
	{ "stall_timeout_s", COFFER_OPT_INT, "a transfer stalled this long is retried" },
	{ "request_timeout_s", COFFER_OPT_INT, "whole-request bound (0: none)" },
	{ NULL, 0, NULL },
};

COFFER_PLUGIN_DEFINE(backend_s3) = {
	COFFER_PLUGIN_MAGIC,
	COFFER_ABI_VERSION,
	COFFER_PLUGIN_BACKEND,
	"backend-s3",
	"Amazon S3 and S3-compatible stores (s3://bucket/prefix)",
	s3_schemes,
	s3_options,
	&s3_vtable,
};
