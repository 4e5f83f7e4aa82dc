/* backend-azure: a repository in an Azure Blob Storage container, URL
 * azure://container/prefix. Blobs are block blobs named <prefix>/<name>. Protocol, settings
 * and authorization: docs/backend-azure.md. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>

#include <coffer/http.h>
#include <coffer/sys/backend.h>

#include "azure.h"

#define AZURE_DEFAULT_SUFFIX "core.windows.net"
#define AZURE_DEFAULT_PAGE_SIZE 5000
#define AZURE_DEFAULT_BLOCK_THRESHOLD (32u << 20) /* larger puts go block by block */
#define AZURE_DEFAULT_BLOCK_SIZE (8u << 20)
#define AZURE_MAX_BLOCKS 50000
#define AZURE_MAX_NAME 1024
#define AZURE_BLOCK_UPLOAD_ATTEMPTS 16 /* a block upload lost to a concurrent commit is redone */

typedef enum azure_auth { AZURE_AUTH_SHAREDKEY, AZURE_AUTH_SAS } azure_auth;

typedef struct azure_state {
	coffer_http *http;
	char *endpoint;   /* scheme://host[:port][/path], no trailing '/' */
	char *account;
	char *container;
	char *prefix;     /* "" or ending in '/' */
	azure_auth auth;
	uint8_t *key;     /* decoded account key (Shared Key) */
	size_t key_len;
	char *sas;        /* SAS query string without '?' */
	long long page_size, block_threshold, block_size;
} azure_state;

/* ------------------------------------------------------------------ requests */

/* The service reads '\\' in a blob name as '/', so names are stored with '%' and '\\'
 * written as "%25" and "%5C" (docs/backend-azure.md, "Blob names"). Appends. */
static int azure_escape_name(const char *name, coffer_buf *out)
{
	int rc = 0;
	for (const char *p = name; *p && rc == 0;) {
		size_t run = strcspn(p, "%\\");
		rc = coffer_buf_append(out, p, run);
		p += run;
		if (rc == 0 && *p) {
			rc = coffer_buf_append(out, *p == '%' ? "%25" : "%5C", 3);
			p++;
		}
	}
	if (rc == 0)
		rc = coffer_http_bufprintf(out, "%s", "");
	return rc;
}

/* The inverse; -1 for a name this backend did not write. */
static int azure_unescape_name(char *name)
{
	char *o = name;
	for (const char *p = name; *p; p++) {
		if (*p != '%') {
			*o++ = *p;
			continue;
		}
		if (strncmp(p, "%25", 3) == 0)
			*o++ = '%';
		else if (strncmp(p, "%5C", 3) == 0)
			*o++ = '\\';
		else
			return -1;
		p += 2;
	}
	*o = '\0';
	return 0;
}

/* Builds endpoint/container[/prefix+name][?query][&sas]; name NULL for the container. */
static int azure_url(const azure_state *st, const char *name, const char *query, char **out)
{
	coffer_buf b = COFFER_BUF_INIT, blob = COFFER_BUF_INIT;
	int rc = coffer_http_bufprintf(&b, "%s/%s", st->endpoint, st->container);
	if (rc == 0 && name) {
		rc = coffer_http_bufprintf(&blob, "%s", st->prefix);
		if (rc == 0)
			rc = azure_escape_name(name, &blob);
		if (rc == 0)
			rc = coffer_http_bufprintf(&b, "/");
		if (rc == 0)
			rc = coffer_http_urlencode((const char *)blob.data, blob.len, 1, &b);
	}
	coffer_buf_free(&blob);
	int has_query = query && query[0];
	if (rc == 0 && has_query)
		rc = coffer_http_bufprintf(&b, "?%s", query);
	if (rc == 0 && st->auth == AZURE_AUTH_SAS)
		rc = coffer_http_bufprintf(&b, "%c%s", has_query ? '&' : '?', st->sas);
	if (rc) {
		coffer_buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	return 0;
}

/* Before every attempt: a fresh x-ms-date and, with Shared Key, the signature. */
static int azure_prepare(void *ud, coffer_http_request *req, unsigned int attempt)
{
	(void)attempt;
	const azure_state *st = ud;
	char date[30];
	coffer_http_time_rfc1123((int64_t)time(NULL), date);
	int rc = coffer_http_headers_set(&req->headers, "x-ms-date", "%s", date);
	if (rc || st->auth != AZURE_AUTH_SHAREDKEY)
		return rc;
	coffer_buf sts = COFFER_BUF_INIT, auth = COFFER_BUF_INIT;
	rc = azure_sharedkey_string_to_sign(req->method, st->account, req->url, req->body_len,
	                                    &req->headers, &sts);
	if (rc == 0)
		rc = azure_sharedkey_authorization(st->account, st->key, st->key_len,
		                                   (const char *)sts.data, sts.len, &auth);
	if (rc == 0)
		rc = coffer_http_headers_set(&req->headers, "Authorization", "%s", (const char *)auth.data);
	coffer_buf_free(&sts);
	coffer_buf_free(&auth);
	return rc;
}

typedef struct azure_call {
	coffer_http_request req;
	coffer_http_response resp;
	char what[160];
} azure_call;

static int azure_call_init(azure_call *c, const azure_state *st, const char *method,
                           const char *name, const char *query, const char *what)
{
	memset(c, 0, sizeof(*c));
	c->req.method = method;
	c->req.prepare = azure_prepare;
	c->req.prepare_ud = (void *)st;
	snprintf(c->what, sizeof(c->what), "%s %.120s", what, name ? name : st->container);
	c->req.what = c->what;
	int rc = azure_url(st, name, query, &c->req.url);
	if (rc == 0)
		rc = coffer_http_headers_add(&c->req.headers, "x-ms-version", AZURE_API_VERSION);
	return rc;
}

static void azure_call_free(azure_call *c)
{
	coffer_free(c->req.url);
	coffer_http_headers_free(&c->req.headers);
	coffer_http_response_free(&c->resp);
}

/* Sets the error for an unexpected status: the service's error code and message, and for
 * a refused credential which one it was (never the credential itself). */
static int azure_fail(const azure_state *st, const azure_call *c)
{
	azure_error_body e;
	azure_parse_error((const char *)c->resp.body.data, c->resp.body.len, &e);
	char detail[640];
	if (c->resp.status == 401 || c->resp.status == 403) {
		snprintf(detail, sizeof(detail), "%s%sstorage account '%s' refused the %s%s%s",
		         e.code, e.code[0] ? ": " : "", st->account,
		         st->auth == AZURE_AUTH_SAS ? "SAS token (AZURE_STORAGE_SAS_TOKEN)"
		                                    : "shared key (AZURE_STORAGE_KEY)",
		         e.message[0] ? ": " : "", e.message);
	} else if (c->resp.status == 404 && strcmp(e.code, "ContainerNotFound") == 0) {
		snprintf(detail, sizeof(detail), "container '%s' does not exist in storage account '%s'",
		         st->container, st->account);
	} else if (e.code[0]) {
		snprintf(detail, sizeof(detail), "%s%s%s", e.code, e.message[0] ? ": " : "", e.message);
	} else {
		return coffer_http_fail(st->http, &c->req, &c->resp, c->resp.body.len ? NULL : "");
	}
	return coffer_http_fail(st->http, &c->req, &c->resp, detail);
}

/* Runs the call; 0 when the status is one of `ok` (0-terminated), else the error. */
static int azure_run(const azure_state *st, azure_call *c, const long *ok)
{
	int rc = coffer_http_exec(st->http, &c->req, &c->resp);
	if (rc)
		return rc;
	for (; *ok; ok++)
		if (c->resp.status == *ok)
			return 0;
	return azure_fail(st, c);
}

static const long azure_ok_200[] = { 200, 0 };
static const long azure_ok_201[] = { 201, 0 };
static const long azure_ok_202[] = { 202, 0 };

static int azure_check_name(const azure_state *st, const char *name)
{
	if (!name || !name[0])
		return coffer_error_set(COFFER_EINVALID, "azure: invalid blob name: empty");
	size_t len = strlen(st->prefix);
	for (const char *p = name; *p; p++)
		len += (*p == '%' || *p == '\\') ? 3 : 1;
	if (len > AZURE_MAX_NAME)
		return coffer_error_set(COFFER_EINVALID,
		                        "azure: blob name '%.64s...' is %zu bytes with the prefix "
		                        "and escapes; the limit is %d", name, len, AZURE_MAX_NAME);
	return 0;
}

/* ------------------------------------------------------------------ put */

static int azure_content_md5(const void *data, size_t len, coffer_buf *out)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	if (EVP_Digest(data, len, md, &md_len, EVP_md5(), NULL) != 1)
		return coffer_error_set(COFFER_ERROR, "azure: MD5 of the upload failed");
	return coffer_http_base64_encode(md, md_len, out);
}

/* Put Blob, or Put Block List, with the write-once precondition unless overwriting. */
static int azure_put_request(const azure_state *st, azure_call *c, const char *name,
                             const void *body, size_t len, const char *content_type,
                             unsigned int flags, int *blocks_lost)
{
	coffer_buf md5 = COFFER_BUF_INIT;
	int rc = coffer_http_headers_add(&c->req.headers, "Content-Type", "%s", content_type);
	if (rc == 0)
		rc = azure_content_md5(body, len, &md5);
	if (rc == 0)
		rc = coffer_http_headers_add(&c->req.headers, "Content-MD5", "%s", (const char *)md5.data);
	if (rc == 0 && !(flags & COFFER_PUT_OVERWRITE))
		rc = coffer_http_headers_add(&c->req.headers, "If-None-Match", "*");
	coffer_buf_free(&md5);
	if (rc)
		return rc;
	c->req.body = body;
	c->req.body_len = len;
	rc = coffer_http_exec(st->http, &c->req, &c->resp);
	if (rc)
		return rc;
	if (c->resp.status == 201)
		return 0;
	azure_error_body e;
	azure_parse_error((const char *)c->resp.body.data, c->resp.body.len, &e);
	if ((c->resp.status == 409 || c->resp.status == 412) &&
	    (strcmp(e.code, "BlobAlreadyExists") == 0 || strcmp(e.code, "ConditionNotMet") == 0 ||
	     (c->resp.status == 412 && !e.code[0])))
		return coffer_error_set(COFFER_EEXISTS,
		                        "azure: blob '%s%s' already exists in container '%s'",
		                        st->prefix, name, st->container);
	if (c->resp.status == 400 && strcmp(e.code, "InvalidBlockList") == 0 && blocks_lost) {
		/* Committing a blob discards every uncommitted block of that name, also ours. */
		*blocks_lost = 1;
		return coffer_error_set(COFFER_ETRANSIENT,
		                        "azure: blob '%s%s': a concurrent writer of the same name "
		                        "committed first and its commit discarded this upload's blocks",
		                        st->prefix, name);
	}
	return azure_fail(st, c);
}

static int azure_put_single(const azure_state *st, const char *name, const void *data,
                            size_t len, unsigned int flags)
{
	azure_call c;
	int rc = azure_call_init(&c, st, "PUT", name, NULL, "Put Blob");
	if (rc == 0)
		rc = coffer_http_headers_add(&c.req.headers, "x-ms-blob-type", "BlockBlob");
	if (rc == 0)
		rc = azure_put_request(st, &c, name, data, len, "application/octet-stream", flags,
		                       NULL);
	azure_call_free(&c);
	return rc;
}

/* Block ids: base64 of "<16 hex digits of this upload>-<6 digit index>", one length for all,
 * unique per upload so a concurrent writer of the same name never commits our blocks. */
static int azure_block_id(uint64_t upload, unsigned index, coffer_buf *out)
{
	char raw[32];
	int n = snprintf(raw, sizeof(raw), "%016llx-%06u", (unsigned long long)upload, index);
	return coffer_http_base64_encode(raw, (size_t)n, out);
}

static int azure_put_blocks(const azure_state *st, const char *name, const uint8_t *data,
                            size_t len, unsigned int flags, int *blocks_lost)
{
	size_t block = (size_t)st->block_size;
	size_t count = (len + block - 1) / block;
	if (count > AZURE_MAX_BLOCKS)
		block = (len + AZURE_MAX_BLOCKS - 1) / AZURE_MAX_BLOCKS, count = (len + block - 1) / block;
	uint64_t upload = 0;
	if (getrandom(&upload, sizeof(upload), 0) != sizeof(upload))
		upload = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)data << 16);
	coffer_buf list = COFFER_BUF_INIT;
	int rc = coffer_http_bufprintf(&list, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
	for (size_t i = 0; rc == 0 && i < count; i++) {
		coffer_buf id = COFFER_BUF_INIT, query = COFFER_BUF_INIT;
		rc = azure_block_id(upload, (unsigned)i, &id);
		if (rc == 0)
			rc = coffer_http_bufprintf(&query, "comp=block&blockid=");
		if (rc == 0)
			rc = coffer_http_urlencode((const char *)id.data, id.len, 0, &query);
		if (rc == 0)
			rc = coffer_http_bufprintf(&list, "<Latest>%s</Latest>", (const char *)id.data);
		azure_call c;
		if (rc == 0)
			rc = azure_call_init(&c, st, "PUT", name, (const char *)query.data, "Put Block");
		else
			memset(&c, 0, sizeof(c));
		if (rc == 0) {
			size_t off = i * block, n = len - off < block ? len - off : block;
			coffer_buf md5 = COFFER_BUF_INIT;
			rc = azure_content_md5(data + off, n, &md5);
			if (rc == 0)
				rc = coffer_http_headers_add(&c.req.headers, "Content-MD5", "%s",
				                             (const char *)md5.data);
			if (rc == 0)
				rc = coffer_http_headers_add(&c.req.headers, "Content-Type",
				                             "application/octet-stream");
			coffer_buf_free(&md5);
			c.req.body = data + off;
			c.req.body_len = n;
			if (rc == 0)
				rc = azure_run(st, &c, azure_ok_201);
		}
		azure_call_free(&c);
		coffer_buf_free(&id);
		coffer_buf_free(&query);
	}
	if (rc == 0)
		rc = coffer_http_bufprintf(&list, "</BlockList>");
	if (rc == 0) {
		/* Uncommitted blocks are invisible and the service drops them within a week. */
		azure_call c;
		rc = azure_call_init(&c, st, "PUT", name, "comp=blocklist", "Put Block List");
		if (rc == 0)
			rc = coffer_http_headers_add(&c.req.headers, "x-ms-blob-content-type",
			                             "application/octet-stream");
		if (rc == 0)
			rc = azure_put_request(st, &c, name, list.data, list.len, "application/xml", flags,
			                       blocks_lost);
		azure_call_free(&c);
	}
	coffer_buf_free(&list);
	return rc;
}

static int azure_stat(void *state, const char *name, coffer_blob_info *out);

static int azure_put(void *state, const char *name, const void *data, size_t len,
                     unsigned int flags)
{
	azure_state *st = state;
	int rc = azure_check_name(st, name);
	if (rc)
		return rc;
	if (len <= (size_t)st->block_threshold)
		return azure_put_single(st, name, data, len, flags);
	/* Every lost round has a winner, so racers finish; the jitter spreads their commits. */
	for (unsigned attempt = 0; attempt < AZURE_BLOCK_UPLOAD_ATTEMPTS; attempt++) {
		int blocks_lost = 0;
		rc = azure_put_blocks(st, name, data, len, flags, &blocks_lost);
		if (!blocks_lost)
			break;
		coffer_blob_info info;
		if (!(flags & COFFER_PUT_OVERWRITE) && azure_stat(st, name, &info) == 0)
			return coffer_error_set(COFFER_EEXISTS,
			                        "azure: blob '%s%s' already exists in container '%s'",
			                        st->prefix, name, st->container);
		uint32_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)time(NULL);
		struct timespec pause = { 0, (long)(r % (20u << (attempt < 5 ? attempt : 5))) * 1000000L };
		nanosleep(&pause, NULL);
	}
	return rc;
}

/* ------------------------------------------------------------------ get / stat / remove */

static int azure_header_u64(const coffer_http_headers *h, const char *name, uint64_t *out)
{
	const char *v = coffer_http_headers_get(h, name);
	if (!v)
		return -1;
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	if (end == v || (*end && *end != ' ' && *end != '\r'))
		return -1;
	*out = n;
	return 0;
}

static int azure_stat(void *state, const char *name, coffer_blob_info *out)
{
	azure_state *st = state;
	int rc = azure_check_name(st, name);
	if (rc)
		return rc;
	azure_call c;
	rc = azure_call_init(&c, st, "HEAD", name, NULL, "Get Blob Properties");
	if (rc == 0)
		rc = azure_run(st, &c, azure_ok_200);
	if (rc == 0) {
		out->name = NULL;
		if (azure_header_u64(&c.resp.headers, "Content-Length", &out->size) != 0)
			rc = coffer_error_set(COFFER_ECORRUPT, "azure: %s: no Content-Length in the answer",
			                      c.what);
		const char *lm = coffer_http_headers_get(&c.resp.headers, "Last-Modified");
		out->mtime_ns = 0;
		if (rc == 0 && lm && coffer_http_parse_time(lm, &out->mtime_ns) != 0)
			out->mtime_ns = 0;
	}
	azure_call_free(&c);
	return rc;
}

static int azure_range_error(const char *name, uint64_t offset, uint64_t length, uint64_t size)
{
	return coffer_error_set(COFFER_EINVALID,
	                        "azure: cannot read blob '%s': range at %llu of %llu bytes is past "
	                        "its end (%llu bytes)", name, (unsigned long long)offset,
	                        (unsigned long long)length, (unsigned long long)size);
}

static int azure_get(void *state, const char *name, uint64_t offset, uint64_t length,
                     coffer_buf *out)
{
	azure_state *st = state;
	int rc = azure_check_name(st, name);
	if (rc)
		return rc;
	if (length != COFFER_WHOLE && length > UINT64_MAX - offset)
		return azure_range_error(name, offset, length, 0);
	if (length == 0 || (offset > 0 && length == COFFER_WHOLE)) {
		/* The service has no empty range, and refuses one starting at the end: ask the size. */
		coffer_blob_info info;
		if ((rc = azure_stat(st, name, &info)) != 0)
			return rc;
		if (offset > info.size || (length != COFFER_WHOLE && length > info.size - offset))
			return azure_range_error(name, offset, length, info.size);
		if (offset == info.size)
			return 0;
		if (length == 0)
			return 0;
	}
	azure_call c;
	rc = azure_call_init(&c, st, "GET", name, NULL, "Get Blob");
	if (rc == 0 && (offset > 0 || length != COFFER_WHOLE)) {
		if (length == COFFER_WHOLE)
			rc = coffer_http_headers_add(&c.req.headers, "x-ms-range", "bytes=%llu-",
			                             (unsigned long long)offset);
		else
			rc = coffer_http_headers_add(&c.req.headers, "x-ms-range", "bytes=%llu-%llu",
			                             (unsigned long long)offset,
			                             (unsigned long long)(offset + length - 1));
	}
	if (rc == 0)
		rc = coffer_http_exec(st->http, &c.req, &c.resp);
	if (rc == 0 && c.resp.status == 416) {
		uint64_t size = 0;
		const char *cr = coffer_http_headers_get(&c.resp.headers, "Content-Range");
		const char *slash = cr ? strchr(cr, '/') : NULL;
		if (slash)
			size = strtoull(slash + 1, NULL, 10);
		rc = azure_range_error(name, offset, length, size);
	} else if (rc == 0 && c.resp.status != 200 && c.resp.status != 206) {
		rc = azure_fail(st, &c);
	} else if (rc == 0 && length != COFFER_WHOLE && c.resp.body.len < length) {
		/* A range running past the end is answered with what exists. */
		rc = azure_range_error(name, offset, length, offset + c.resp.body.len);
	} else if (rc == 0 && length != COFFER_WHOLE && c.resp.body.len > length) {
		rc = coffer_error_set(COFFER_ECORRUPT, "azure: %s: asked for %llu bytes, got %zu",
		                      c.what, (unsigned long long)length, c.resp.body.len);
	} else if (rc == 0) {
		rc = coffer_buf_append(out, c.resp.body.data, c.resp.body.len);
	}
	azure_call_free(&c);
	return rc;
}

static int azure_remove(void *state, const char *name)
{
	azure_state *st = state;
	int rc = azure_check_name(st, name);
	if (rc)
		return rc;
	azure_call c;
	rc = azure_call_init(&c, st, "DELETE", name, NULL, "Delete Blob");
	if (rc == 0)
		rc = azure_run(st, &c, azure_ok_202);
	azure_call_free(&c);
	return rc;
}

/* ------------------------------------------------------------------ list */

static int azure_list(void *state, const char *prefix, coffer_list_cb cb, void *ud)
{
	azure_state *st = state;
	if (!prefix)
		prefix = "";
	size_t skip = strlen(st->prefix);
	char *marker = NULL;
	coffer_buf escaped = COFFER_BUF_INIT;
	int rc = azure_escape_name(prefix, &escaped);
	while (rc == 0) {
		coffer_buf query = COFFER_BUF_INIT;
		rc = coffer_http_bufprintf(&query, "restype=container&comp=list&maxresults=%lld&prefix=",
		                           st->page_size);
		if (rc == 0)
			rc = coffer_http_urlencode(st->prefix, skip, 0, &query);
		if (rc == 0)
			rc = coffer_http_urlencode((const char *)escaped.data, escaped.len, 0, &query);
		if (rc == 0 && marker) {
			rc = coffer_http_bufprintf(&query, "&marker=");
			if (rc == 0)
				rc = coffer_http_urlencode(marker, strlen(marker), 0, &query);
		}
		coffer_free(marker);
		marker = NULL;
		azure_call c;
		if (rc == 0)
			rc = azure_call_init(&c, st, "GET", NULL, (const char *)query.data, "List Blobs in");
		else
			memset(&c, 0, sizeof(c));
		coffer_buf_free(&query);
		if (rc == 0)
			rc = azure_run(st, &c, azure_ok_200);
		azure_listing page;
		memset(&page, 0, sizeof(page));
		if (rc == 0 &&
		    (rc = azure_parse_listing((const char *)c.resp.body.data, c.resp.body.len, &page)) != 0)
			coffer_error_wrap("azure: %s", c.what);
		azure_call_free(&c);
		for (size_t i = 0; rc == 0 && i < page.count; i++) {
			azure_blob_entry *e = &page.blobs[i];
			if (strncmp(e->name, st->prefix, skip) != 0 || !e->name[skip] ||
			    azure_unescape_name(e->name + skip) != 0)
				continue; /* outside the prefix (never sent), or not written by coffer */
			coffer_blob_info info = { e->name + skip, e->size, e->mtime_ns };
			rc = cb(&info, ud);
		}
		if (rc == 0 && page.next_marker && page.next_marker[0]) {
			marker = page.next_marker;
			page.next_marker = NULL;
		}
		azure_listing_free(&page);
		if (!marker)
			break;
	}
	coffer_free(marker);
	coffer_buf_free(&escaped);
	return rc;
}

/* ------------------------------------------------------------------ open / close */

static void azure_close(void *state)
{
	azure_state *st = state;
	if (st->http)
		coffer_http_destroy(st->http);
	if (st->key)
		OPENSSL_cleanse(st->key, st->key_len);
	coffer_free(st->key);
	coffer_free(st->endpoint);
	coffer_free(st->account);
	coffer_free(st->container);
	coffer_free(st->prefix);
	if (st->sas)
		OPENSSL_cleanse(st->sas, strlen(st->sas));
	coffer_free(st->sas);
	memset(st, 0, sizeof(*st));
}

/* A setting from the environment, else the config key; NULL when neither is set. */
static const char *azure_setting(const coffer_config *config, const char *env, const char *key)
{
	const char *v = getenv(env);
	if (v && v[0])
		return v;
	v = NULL;
	if (config && coffer_config_string(config, key, &v) == 0 && v && v[0])
		return v;
	return NULL;
}

static int azure_int_setting(const coffer_config *config, const char *key, long long min,
                             long long max, long long *out)
{
	long long v;
	int rc = config ? coffer_config_int(config, key, &v) : COFFER_ENOTFOUND;
	if (rc == COFFER_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (v < min || v > max)
		return coffer_error_set(COFFER_EINVALID, "azure: %s = %lld in %s is out of range (%lld..%lld)",
		                        key, v, coffer_config_where(config), min, max);
	*out = v;
	return 0;
}

/* Container names: 3-63 of a-z 0-9 '-', starting and ending with a letter or digit, no "--". */
static int azure_valid_container(const char *c)
{
	size_t len = strlen(c);
	if (len < 3 || len > 63 || c[0] == '-' || c[len - 1] == '-' || strstr(c, "--"))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '-'))
			return 0;
	return 1;
}

static int azure_parse_url(azure_state *st, const coffer_url *url)
{
	const char *text = url->text ? url->text : "(null)";
	if (url->query)
		return coffer_error_set(COFFER_EINVALID,
		                        "invalid repository URL '%s': an azure URL takes no '?' options",
		                        text);
	if (!url->host || !azure_valid_container(url->host))
		return coffer_error_set(COFFER_EINVALID,
		                        "invalid repository URL '%s': write azure://container/prefix with "
		                        "a container name of 3 to 63 lower-case letters, digits and "
		                        "single hyphens", text);
	const char *path = url->path ? url->path : "";
	if (strpbrk(path, "\\%"))
		return coffer_error_set(COFFER_EINVALID,
		                        "invalid repository URL '%s': the prefix may not contain '\\' "
		                        "or '%%'", text);
	while (*path == '/')
		path++;
	size_t len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		len--;
	st->container = coffer_strdup(url->host);
	st->prefix = coffer_malloc(len + 2);
	if (!st->container || !st->prefix)
		return COFFER_ENOMEM;
	memcpy(st->prefix, path, len);
	if (len)
		st->prefix[len++] = '/';
	st->prefix[len] = '\0';
	return 0;
}

static int azure_setup_endpoint(azure_state *st, const coffer_config *config)
{
	const char *endpoint = azure_setting(config, "AZURE_STORAGE_ENDPOINT", "endpoint");
	if (endpoint) {
		if (strncmp(endpoint, "https://", 8) != 0 && strncmp(endpoint, "http://", 7) != 0)
			return coffer_error_set(COFFER_EINVALID,
			                        "azure: the endpoint '%s' must start with https:// or http://",
			                        endpoint);
		st->endpoint = coffer_strdup(endpoint);
		if (!st->endpoint)
			return COFFER_ENOMEM;
		size_t len = strlen(st->endpoint);
		while (len > 0 && st->endpoint[len - 1] == '/')
			st->endpoint[--len] = '\0';
		return 0;
	}
	const char *suffix = azure_setting(config, "AZURE_STORAGE_ENDPOINT_SUFFIX", "endpoint_suffix");
	if (!suffix)
		suffix = AZURE_DEFAULT_SUFFIX;
	while (*suffix == '.')
		suffix++;
	coffer_buf b = COFFER_BUF_INIT;
	int rc = coffer_http_bufprintf(&b, "https://%s.blob.%s", st->account, suffix);
	if (rc) {
		coffer_buf_free(&b);
		return rc;
	}
	st->endpoint = (char *)b.data;
	return 0;
}

static int azure_setup_auth(azure_state *st)
{
	const char *key = getenv("AZURE_STORAGE_KEY");
	const char *sas = getenv("AZURE_STORAGE_SAS_TOKEN");
	if (key && key[0]) {
		coffer_buf raw = COFFER_BUF_INIT;
		int rc = coffer_http_base64_decode(key, strlen(key), &raw);
		if (rc || raw.len == 0) {
			if (raw.data)
				OPENSSL_cleanse(raw.data, raw.len);
			coffer_buf_free(&raw);
			return coffer_error_set(COFFER_EAUTH,
			                        "azure: AZURE_STORAGE_KEY for storage account '%s' is not "
			                        "valid base64", st->account);
		}
		st->auth = AZURE_AUTH_SHAREDKEY;
		st->key = raw.data;
		st->key_len = raw.len;
		return coffer_http_add_secret(st->http, key);
	}
	if (sas && sas[0]) {
		if (sas[0] == '?')
			sas++;
		st->auth = AZURE_AUTH_SAS;
		st->sas = coffer_strdup(sas);
		if (!st->sas)
			return COFFER_ENOMEM;
		int rc = coffer_http_add_secret(st->http, st->sas);
		/* The signature alone too, as sent and percent-decoded. */
		for (const char *p = st->sas; rc == 0 && p && *p; p = strchr(p, '&'), p = p ? p + 1 : p) {
			if (strncasecmp(p, "sig=", 4) != 0)
				continue;
			size_t n = strcspn(p + 4, "&");
			char *sig = coffer_malloc(n + 1);
			char *decoded = azure_percent_decode(p + 4, n, 0);
			if (!sig || !decoded) {
				coffer_free(sig);
				coffer_free(decoded);
				return COFFER_ENOMEM;
			}
			memcpy(sig, p + 4, n);
			sig[n] = '\0';
			rc = coffer_http_add_secret(st->http, sig);
			if (rc == 0)
				rc = coffer_http_add_secret(st->http, decoded);
			OPENSSL_cleanse(sig, n);
			OPENSSL_cleanse(decoded, strlen(decoded));
			coffer_free(sig);
			coffer_free(decoded);
		}
		return rc;
	}
	return coffer_error_set(COFFER_EAUTH,
	                        "azure: no credential for storage account '%s': set AZURE_STORAGE_KEY "
	                        "(Shared Key) or AZURE_STORAGE_SAS_TOKEN", st->account);
}

/* Creating a repository in a container that does not exist yet creates the container. */
static int azure_ensure_container(azure_state *st)
{
	azure_call c;
	int rc = azure_call_init(&c, st, "GET", NULL, "restype=container&comp=list&maxresults=1",
	                         "List Blobs in");
	if (rc == 0)
		rc = coffer_http_exec(st->http, &c.req, &c.resp);
	int missing = rc == 0 && c.resp.status == 404;
	if (rc == 0 && !missing && c.resp.status != 200)
		rc = azure_fail(st, &c);
	azure_call_free(&c);
	if (rc || !missing)
		return rc;
	rc = azure_call_init(&c, st, "PUT", NULL, "restype=container", "Create Container");
	if (rc == 0)
		rc = coffer_http_exec(st->http, &c.req, &c.resp);
	if (rc == 0 && c.resp.status != 201 && c.resp.status != 409)
		rc = azure_fail(st, &c);
	azure_call_free(&c);
	return rc;
}

static int azure_open(void *state, const coffer_backend_params *params)
{
	azure_state *st = state;
	if (!params || params->version < 1 || !params->url)
		return coffer_error_set(COFFER_EINVALID, "backend-azure: no repository URL given");
	const coffer_config *config = params->config;
	st->page_size = AZURE_DEFAULT_PAGE_SIZE;
	st->block_threshold = AZURE_DEFAULT_BLOCK_THRESHOLD;
	st->block_size = AZURE_DEFAULT_BLOCK_SIZE;
	int rc = azure_parse_url(st, params->url);
	if (rc == 0)
		rc = azure_int_setting(config, "page_size", 1, 5000, &st->page_size);
	if (rc == 0)
		rc = azure_int_setting(config, "block_threshold", 1, 5000LL << 20, &st->block_threshold);
	if (rc == 0)
		rc = azure_int_setting(config, "block_size", 1, 4000LL << 20, &st->block_size);
	const char *account = azure_setting(config, "AZURE_STORAGE_ACCOUNT", "account");
	if (rc == 0 && !account)
		rc = coffer_error_set(COFFER_EINVALID,
		                      "azure: no storage account: set AZURE_STORAGE_ACCOUNT for %s",
		                      params->url->text);
	if (rc == 0 && !(st->account = coffer_strdup(account)))
		rc = COFFER_ENOMEM;
	if (rc == 0)
		rc = azure_setup_endpoint(st, config);
	coffer_http_options opts = COFFER_HTTP_OPTIONS_INIT;
	opts.ca_file = params->ca_file;
	opts.name = "azure";
	if (rc == 0)
		rc = coffer_http_options_from_config(&opts, config);
	if (rc == 0)
		rc = coffer_http_create(&st->http, &opts);
	if (rc == 0)
		rc = azure_setup_auth(st);
	if (rc == 0 && params->create)
		rc = azure_ensure_container(st);
	if (rc)
		azure_close(st);
	return rc;
}

static int azure_describe(void *state, coffer_buf *out)
{
	azure_state *st = state;
	return coffer_http_bufprintf(out, "azure endpoint=%s account=%s container=%s prefix=%s auth=%s",
	                             st->endpoint, st->account, st->container, st->prefix,
	                             st->auth == AZURE_AUTH_SAS ? "sas" : "sharedkey");
}

/* If-None-Match: * is checked and applied in one step by the service (and by Azurite). */
static const coffer_backend_vtable azure_vtable = {
	.version = COFFER_BACKEND_VTABLE_VERSION,
	.state_size = sizeof(azure_state),
	.caps = COFFER_BACKEND_CAP_RANGE | COFFER_BACKEND_CAP_SERVER_TIME |
	        COFFER_BACKEND_CAP_ATOMIC_CREATE,
	.open = azure_open,
	.close = azure_close,
	.put = azure_put,
	.get = azure_get,
	.stat = azure_stat,
	.list = azure_list,
	.remove = azure_remove,
	.describe = azure_describe,
};

static const char *const azure_schemes[] = { "azure", NULL };

static const coffer_option azure_options[] = {
	{ "endpoint", COFFER_OPT_STRING, "Blob service URL (AZURE_STORAGE_ENDPOINT wins)" },
	{ "endpoint_suffix", COFFER_OPT_STRING, "e.g. core.chinacloudapi.cn (AZURE_STORAGE_ENDPOINT_SUFFIX wins)" },
	{ "account", COFFER_OPT_STRING, "storage account (AZURE_STORAGE_ACCOUNT wins)" },
	{ "page_size", COFFER_OPT_INT, "List Blobs maxresults, 1..5000 (default 5000)" },
	{ "block_threshold", COFFER_OPT_INT, "bytes above which a put uses Put Block (default 32 MiB)" },
	{ "block_size", COFFER_OPT_INT, "bytes per block of such a put (default 8 MiB)" },
	{ "max_attempts", COFFER_OPT_INT, "HTTP attempts per request, first included" },
	{ "base_delay_ms", COFFER_OPT_INT, "first retry backoff" },
	{ "max_delay_ms", COFFER_OPT_INT, "longest retry backoff" },
	{ "max_total_ms", COFFER_OPT_INT, "no retry starts after this" },
	{ "connect_timeout_s", COFFER_OPT_INT, "TCP/TLS connect timeout" },
	{ "stall_timeout_s", COFFER_OPT_INT, "abort a transfer stalled this long" },
	{ "request_timeout_s", COFFER_OPT_INT, "whole-request bound (0: none)" },
	{ NULL, 0, NULL },
};

COFFER_PLUGIN_DEFINE(backend_azure) = {
	COFFER_PLUGIN_MAGIC,
	COFFER_ABI_VERSION,
	COFFER_PLUGIN_BACKEND,
	"backend-azure",
	"Azure Blob Storage container (azure://container/prefix)",
	azure_schemes,
	azure_options,
	&azure_vtable,
};
