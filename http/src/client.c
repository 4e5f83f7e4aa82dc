/* The pooled libcurl client: retries with backoff and jitter, the extra CA, debug log. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "http_private.h"

#define DEFAULT_MAX_ATTEMPTS 8u
#define DEFAULT_BASE_DELAY_MS 250u
#define DEFAULT_MAX_DELAY_MS 30000u
#define DEFAULT_MAX_TOTAL_MS 300000u
#define DEFAULT_CONNECT_TIMEOUT_S 30u
#define DEFAULT_STALL_TIMEOUT_S 60u
#define DETAIL_MAX 200

struct coffer_http {
	coffer_http_options opts;
	char *ca_file, *user_agent, *name;
	STACK_OF(X509) *extra_ca;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL **pool;
	size_t pool_count, pool_cap;
	http_secrets secrets;
	int debug;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const http_secrets *http_client_secrets(const coffer_http *client)
{
	return &client->secrets;
}

const char *http_client_name(const coffer_http *client)
{
	return client && client->name ? client->name : "http";
}

/* ------------------------------------------------------------------ options */

static int env_uint(const char *var, unsigned int *out)
{
	const char *v = getenv(var);
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (*end || errno || n > 0xffffffffu || v[0] == '-')
		return coffer_error_set(COFFER_EINVALID, "environment %s=\"%s\" is not a whole number",
		                        var, v);
	*out = (unsigned int)n;
	return 0;
}

int coffer_http_options_from_config(coffer_http_options *opts, const coffer_config *config)
{
	static const struct { const char *key; size_t offset; } keys[] = {
		{ "max_attempts", offsetof(coffer_http_options, max_attempts) },
		{ "base_delay_ms", offsetof(coffer_http_options, base_delay_ms) },
		{ "max_delay_ms", offsetof(coffer_http_options, max_delay_ms) },
		{ "max_total_ms", offsetof(coffer_http_options, max_total_ms) },
		{ "connect_timeout_s", offsetof(coffer_http_options, connect_timeout_s) },
		{ "stall_timeout_s", offsetof(coffer_http_options, stall_timeout_s) },
		{ "request_timeout_s", offsetof(coffer_http_options, request_timeout_s) },
	};
	for (size_t i = 0; config && i < sizeof(keys) / sizeof(keys[0]); i++) {
		long long v;
		int rc = coffer_config_int(config, keys[i].key, &v);
		if (rc == COFFER_ENOTFOUND)
			continue;
		if (rc)
			return rc;
		if (v < 0 || v > 0xffffffffLL)
			return coffer_error_set(COFFER_EINVALID, "%s: %s = %lld is out of range (0 to %u)",
			                        coffer_config_where(config), keys[i].key, v, 0xffffffffu);
		*(unsigned int *)((char *)opts + keys[i].offset) = (unsigned int)v;
	}
	int rc;
	if ((rc = env_uint("COFFER_HTTP_MAX_ATTEMPTS", &opts->max_attempts)) ||
	    (rc = env_uint("COFFER_HTTP_BASE_DELAY_MS", &opts->base_delay_ms)) ||
	    (rc = env_uint("COFFER_HTTP_MAX_TOTAL_MS", &opts->max_total_ms)) ||
	    (rc = env_uint("COFFER_HTTP_STALL_TIMEOUT_S", &opts->stall_timeout_s)))
		return rc;
	return 0;
}

/* ------------------------------------------------------------------ extra CA */

static int load_ca(coffer_http *c, const char *path)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return coffer_error_set_errno(COFFER_EINVALID, errno, "CA file %s (CUSTOM_CA / --ca-file)",
		                              path);
	c->extra_ca = sk_X509_new_null();
	if (!c->extra_ca) {
		fclose(fp);
		return coffer_error_set(COFFER_ENOMEM, "out of memory loading CA file %s", path);
	}
	X509 *cert;
	while ((cert = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(c->extra_ca, cert)) {
			X509_free(cert);
			fclose(fp);
			return coffer_error_set(COFFER_ENOMEM, "out of memory loading CA file %s", path);
		}
	fclose(fp);
	ERR_clear_error();
	if (sk_X509_num(c->extra_ca) == 0)
		return coffer_error_set(COFFER_EINVALID, "CA file %s (CUSTOM_CA / --ca-file) holds no PEM "
		                        "certificate (expected -----BEGIN CERTIFICATE-----)", path);
	return 0;
}

/* Adds the extra CA certificates to the store OpenSSL verifies with, beside the system's. */
static CURLcode add_extra_ca(CURL *curl, void *ssl_ctx, void *ud)
{
	(void)curl;
	const coffer_http *c = ud;
	X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)ssl_ctx);
	for (int i = 0; i < sk_X509_num(c->extra_ca); i++)
		X509_STORE_add_cert(store, sk_X509_value(c->extra_ca, i));
	ERR_clear_error();
	return CURLE_OK;
}

/* ------------------------------------------------------------------ client */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
	(void)h;
	(void)access;
	pthread_mutex_lock(&((coffer_http *)ud)->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	(void)h;
	pthread_mutex_unlock(&((coffer_http *)ud)->share_locks[data]);
}

static char *dup_or_null(const char *s)
{
	return s ? coffer_strdup(s) : NULL;
}

int coffer_http_create(coffer_http **out, const coffer_http_options *opts)
{
	*out = NULL;
	if (!opts || opts->version == 0 || opts->version > COFFER_HTTP_OPTIONS_VERSION)
		return coffer_error_set(COFFER_EINVALID, "coffer_http_options version %u is not supported "
		                        "(1 to %u)", opts ? opts->version : 0, COFFER_HTTP_OPTIONS_VERSION);
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return coffer_error_set(COFFER_ERROR, "libcurl did not initialise: %s",
		                        curl_easy_strerror(global_rc));
	coffer_http *c = coffer_calloc(1, sizeof(*c));
	if (!c)
		return coffer_error_set(COFFER_ENOMEM, "out of memory for an HTTP client");
	c->opts = *opts;
	c->opts.max_attempts = opts->max_attempts ? opts->max_attempts : DEFAULT_MAX_ATTEMPTS;
	c->opts.base_delay_ms = opts->base_delay_ms ? opts->base_delay_ms : DEFAULT_BASE_DELAY_MS;
	c->opts.max_delay_ms = opts->max_delay_ms ? opts->max_delay_ms : DEFAULT_MAX_DELAY_MS;
	c->opts.max_total_ms = opts->max_total_ms ? opts->max_total_ms : DEFAULT_MAX_TOTAL_MS;
	c->opts.connect_timeout_s = opts->connect_timeout_s ? opts->connect_timeout_s
	                                                    : DEFAULT_CONNECT_TIMEOUT_S;
	c->opts.stall_timeout_s = opts->stall_timeout_s ? opts->stall_timeout_s
	                                                : DEFAULT_STALL_TIMEOUT_S;
	pthread_mutex_init(&c->pool_lock, NULL);
	pthread_mutex_init(&c->secrets.lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	char ua[64];
	snprintf(ua, sizeof(ua), "coffer/%s", coffer_version());
	c->user_agent = coffer_strdup(opts->user_agent ? opts->user_agent : ua);
	c->name = coffer_strdup(opts->name ? opts->name : "http");
	c->ca_file = dup_or_null(opts->ca_file);
	c->opts.user_agent = c->user_agent;
	c->opts.name = c->name;
	c->opts.ca_file = c->ca_file;
	const char *debug = getenv("COFFER_HTTP_DEBUG");
	c->debug = debug && *debug && strcmp(debug, "0") != 0;
	int rc = 0;
	if (!c->user_agent || !c->name || (opts->ca_file && !c->ca_file))
		rc = coffer_error_set(COFFER_ENOMEM, "out of memory for an HTTP client");
	if (!rc && c->ca_file && c->ca_file[0])
		rc = load_ca(c, c->ca_file);
	if (!rc) {
		c->share = curl_share_init();
		if (!c->share ||
		    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
		    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
		    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
		    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
		    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
			rc = coffer_error_set(COFFER_ERROR, "libcurl share setup failed");
	}
	if (rc) {
		coffer_http_destroy(c);
		return rc;
	}
	*out = c;
	return 0;
}

void coffer_http_destroy(coffer_http *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->pool_count; i++)
		curl_easy_cleanup(c->pool[i]);
	coffer_free(c->pool);
	if (c->share)
		curl_share_cleanup(c->share);
	if (c->extra_ca)
		sk_X509_pop_free(c->extra_ca, X509_free);
	for (size_t i = 0; i < c->secrets.count; i++) {
		memset(c->secrets.items[i], 0, strlen(c->secrets.items[i]));
		coffer_free(c->secrets.items[i]);
	}
	coffer_free(c->secrets.items);
	pthread_mutex_destroy(&c->secrets.lock);
	pthread_mutex_destroy(&c->pool_lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	coffer_free(c->ca_file);
	coffer_free(c->user_agent);
	coffer_free(c->name);
	coffer_free(c);
}

int coffer_http_add_secret(coffer_http *c, const char *secret)
{
	if (!secret || strlen(secret) < 4)
		return 0;
	pthread_mutex_lock(&c->secrets.lock);
	int rc = 0;
	for (size_t i = 0; i < c->secrets.count; i++)
		if (strcmp(c->secrets.items[i], secret) == 0)
			goto done;
	if (c->secrets.count == c->secrets.cap) {
		size_t cap = c->secrets.cap ? 2 * c->secrets.cap : 8;
		char **items = coffer_realloc(c->secrets.items, cap * sizeof(*items));
		if (!items) {
			rc = coffer_error_set(COFFER_ENOMEM, "out of memory registering a secret");
			goto done;
		}
		c->secrets.items = items;
		c->secrets.cap = cap;
	}
	char *copy = coffer_strdup(secret);
	if (!copy) {
		rc = coffer_error_set(COFFER_ENOMEM, "out of memory registering a secret");
		goto done;
	}
	c->secrets.items[c->secrets.count++] = copy;
done:
	pthread_mutex_unlock(&c->secrets.lock);
	return rc;
}

/* ------------------------------------------------------------------ handle pool */

static CURL *pool_take(coffer_http *c)
{
	CURL *h = NULL;
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_count)
		h = c->pool[--c->pool_count];
	pthread_mutex_unlock(&c->pool_lock);
	return h ? h : curl_easy_init();
}

static void pool_give(coffer_http *c, CURL *h)
{
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_count == c->pool_cap) {
		size_t cap = c->pool_cap ? 2 * c->pool_cap : 8;
		CURL **pool = coffer_realloc(c->pool, cap * sizeof(*pool));
		if (!pool) {
			pthread_mutex_unlock(&c->pool_lock);
			curl_easy_cleanup(h);
			return;
		}
		c->pool = pool;
		c->pool_cap = cap;
	}
	c->pool[c->pool_count++] = h;
	pthread_mutex_unlock(&c->pool_lock);
}

/* ------------------------------------------------------------------ one attempt */

static size_t on_body(char *data, size_t size, size_t count, void *ud)
{
	coffer_http_response *resp = ud;
	size_t n = size * count;
	return http_buf_add(&resp->body, data, n) ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t count, void *ud)
{
	coffer_http_response *resp = ud;
	size_t n = size * count;
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue): forget the previous headers */
		coffer_http_headers_clear(&resp->headers);
		return n;
	}
	const char *colon = memchr(data, ':', n);
	if (!colon)
		return n;
	size_t name_len = (size_t)(colon - data);
	const char *v = colon + 1;
	const char *end = data + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	char name[128];
	if (name_len == 0 || name_len >= sizeof(name))
		return n;
	memcpy(name, data, name_len);
	name[name_len] = 0;
	return coffer_http_headers_add(&resp->headers, name, "%.*s", (int)(end - v), v) ? 0 : n;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void setup_attempt(coffer_http *c, CURL *h, coffer_http_request *req,
                          coffer_http_response *resp, struct curl_slist *headers, char *errbuf)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->extra_ca) {
		curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, add_extra_ca);
		curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, c);
	}
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)c->opts.connect_timeout_s);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)c->opts.stall_timeout_s);
	if (c->opts.request_timeout_s)
		curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->opts.request_timeout_s);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body || strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : (const void *)"");
		}
	}
}

/* The headers to send: the request's, plus suppressing curl's own Expect and form
 * Content-Type, which no protocol here signs. */
static struct curl_slist *build_headers(const coffer_http_request *req, int *oom)
{
	struct curl_slist *list = NULL, *next;
	*oom = 0;
	for (size_t i = 0; i < req->headers.count; i++) {
		if (!(next = curl_slist_append(list, req->headers.lines[i])))
			goto fail;
		list = next;
	}
	if (!(next = curl_slist_append(list, "Expect:")))
		goto fail;
	list = next;
	if (!coffer_http_headers_get(&req->headers, "Content-Type")) {
		if (!(next = curl_slist_append(list, "Content-Type:")))
			goto fail;
		list = next;
	}
	return list;
fail:
	curl_slist_free_all(list);
	*oom = 1;
	return NULL;
}

typedef enum attempt_kind { ATTEMPT_FINAL, ATTEMPT_RETRY, ATTEMPT_TLS, ATTEMPT_FATAL } attempt_kind;

static attempt_kind classify_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK: return ATTEMPT_FINAL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return ATTEMPT_TLS;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_WRITE_ERROR:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return ATTEMPT_FATAL;
	default:
		/* connect failures, resolver hiccups, resets, timeouts, stalls, short reads */
		return ATTEMPT_RETRY;
	}
}

static int status_is_retried(const coffer_http_request *req, long status)
{
	if (req->no_retry_status)
		for (const long *s = req->no_retry_status; *s; s++)
			if (*s == status)
				return 0;
	return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

/* The URL without its query, redacted: what messages and the debug log show. */
static void describe_url(const coffer_http *c, const char *url, int with_query, coffer_buf *out)
{
	coffer_buf tmp = COFFER_BUF_INIT;
	size_t n = with_query ? strlen(url) : strcspn(url, "?");
	if (http_buf_add(&tmp, url, n) == 0)
		coffer_http_redact(c, (const char *)tmp.data, out);
	coffer_buf_free(&tmp);
}

static void what_text(const coffer_http *c, const coffer_http_request *req, coffer_buf *out)
{
	if (req->what) {
		coffer_http_redact(c, req->what, out);
		return;
	}
	coffer_http_bufprintf(out, "%s ", req->method);
	describe_url(c, req->url, 0, out);
}

/* Milliseconds the server asked us to wait (Retry-After in seconds), or -1. */
static long retry_after_ms(const coffer_http_response *resp)
{
	const char *v = coffer_http_headers_get(&resp->headers, "Retry-After");
	if (!v || *v < '0' || *v > '9')
		return -1;
	long s = strtol(v, NULL, 10);
	return s > 3600 ? 3600000 : s * 1000;
}

static void backoff_sleep(const coffer_http *c, unsigned attempt, long hint_ms, int64_t deadline)
{
	uint64_t cap = c->opts.base_delay_ms;
	for (unsigned i = 0; i < attempt && cap < c->opts.max_delay_ms; i++)
		cap *= 2;
	if (cap > c->opts.max_delay_ms)
		cap = c->opts.max_delay_ms;
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)now_ms() * 2654435761u;
	/* full jitter, but never less than a tenth of the cap so a storm still spreads */
	uint64_t wait = cap / 10 + (uint64_t)r % (cap - cap / 10 + 1);
	if (hint_ms >= 0 && (uint64_t)hint_ms > wait)
		wait = (uint64_t)hint_ms > c->opts.max_delay_ms ? c->opts.max_delay_ms : (uint64_t)hint_ms;
	int64_t left = deadline - now_ms();
	if (left <= 0)
		return;
	if ((int64_t)wait > left)
		wait = (uint64_t)left;
	struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static void debug_log(const coffer_http *c, const coffer_http_request *req,
                      const coffer_http_response *resp, CURLcode cc, const char *errbuf,
                      unsigned attempt, int64_t ms)
{
	coffer_buf url = COFFER_BUF_INIT;
	describe_url(c, req->url, 1, &url);
	coffer_buf err = COFFER_BUF_INIT;
	if (cc != CURLE_OK)
		coffer_http_redact(c, errbuf[0] ? errbuf : curl_easy_strerror(cc), &err);
	fprintf(stderr, "[coffer-http] %s %s %s -> %s%ld%s%s, %zu bytes up, %zu down, %lld ms, attempt %u\n",
	        c->name, req->method, url.data ? (const char *)url.data : "",
	        cc == CURLE_OK ? "HTTP " : "error ", cc == CURLE_OK ? resp->status : (long)cc,
	        cc == CURLE_OK ? "" : ": ", cc == CURLE_OK ? "" : (const char *)err.data,
	        req->body_len, resp->body.len, (long long)ms, attempt + 1);
	coffer_buf_free(&url);
	coffer_buf_free(&err);
}

static void response_reset(coffer_http_response *resp)
{
	resp->status = 0;
	resp->body.len = 0;
	if (resp->body.data)
		resp->body.data[0] = 0;
	coffer_http_headers_clear(&resp->headers);
}

int coffer_http_exec(coffer_http *c, coffer_http_request *req, coffer_http_response *resp)
{
	response_reset(resp);
	resp->attempts = 0;
	CURL *h = pool_take(c);
	if (!h)
		return coffer_error_set(COFFER_ENOMEM, "%s: cannot create a libcurl handle", c->name);
	int64_t start = now_ms(), deadline = start + c->opts.max_total_ms;
	char errbuf[CURL_ERROR_SIZE];
	CURLcode cc = CURLE_OK;
	int rc = 0;
	for (unsigned attempt = 0;; attempt++) {
		response_reset(resp);
		errbuf[0] = 0;
		if (req->prepare && (rc = req->prepare(req->prepare_ud, req, attempt)) != 0)
			break;
		int oom;
		struct curl_slist *headers = build_headers(req, &oom);
		if (oom) {
			rc = coffer_error_set(COFFER_ENOMEM, "%s: out of memory for request headers", c->name);
			break;
		}
		setup_attempt(c, h, req, resp, headers, errbuf);
		int64_t t0 = now_ms();
		cc = curl_easy_perform(h);
		curl_slist_free_all(headers);
		resp->attempts = attempt + 1;
		if (cc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		if (c->debug)
			debug_log(c, req, resp, cc, errbuf, attempt, now_ms() - t0);
		attempt_kind kind = classify_curl(cc);
		if (kind == ATTEMPT_FINAL && !status_is_retried(req, resp->status))
			break;
		if (kind == ATTEMPT_TLS || kind == ATTEMPT_FATAL) {
			coffer_buf what = COFFER_BUF_INIT, err = COFFER_BUF_INIT;
			what_text(c, req, &what);
			coffer_http_redact(c, errbuf[0] ? errbuf : curl_easy_strerror(cc), &err);
			if (kind == ATTEMPT_TLS)
				rc = coffer_error_set(COFFER_EAUTH,
				                      "%s: %s: TLS: the server's certificate was not verified "
				                      "(%s); if a private CA signed it, give that CA's PEM file "
				                      "with CUSTOM_CA or --ca-file%s%s%s",
				                      c->name, (const char *)what.data, (const char *)err.data,
				                      c->ca_file ? " (given now: " : "",
				                      c->ca_file ? c->ca_file : "", c->ca_file ? ")" : "");
			else
				rc = coffer_error_set(cc == CURLE_OUT_OF_MEMORY || cc == CURLE_WRITE_ERROR
				                          ? COFFER_ENOMEM : COFFER_EINVALID,
				                      "%s: %s: %s", c->name, (const char *)what.data,
				                      (const char *)err.data);
			coffer_buf_free(&what);
			coffer_buf_free(&err);
			break;
		}
		int64_t now = now_ms();
		if (attempt + 1 >= c->opts.max_attempts || now >= deadline) {
			coffer_buf what = COFFER_BUF_INIT, last = COFFER_BUF_INIT;
			what_text(c, req, &what);
			if (cc != CURLE_OK) {
				coffer_http_redact(c, errbuf[0] ? errbuf : curl_easy_strerror(cc), &last);
			} else {
				coffer_buf body = COFFER_BUF_INIT;
				http_buf_add(&body, resp->body.data, resp->body.len > DETAIL_MAX ? DETAIL_MAX
				                                                                 : resp->body.len);
				coffer_http_bufprintf(&last, "HTTP %ld ", resp->status);
				coffer_http_redact(c, body.data ? (const char *)body.data : "", &last);
				coffer_buf_free(&body);
			}
			rc = coffer_error_set(COFFER_ETRANSIENT,
			                      "%s: %s: gave up after %u attempts in %.1f s; last: %s", c->name,
			                      (const char *)what.data, attempt + 1, (double)(now - start) / 1000,
			                      last.data ? (const char *)last.data : "");
			coffer_buf_free(&what);
			coffer_buf_free(&last);
			break;
		}
		backoff_sleep(c, attempt, cc == CURLE_OK ? retry_after_ms(resp) : -1, deadline);
	}
	if (rc && cc != CURLE_OK) {
		/* a broken connection must not be reused */
		curl_easy_cleanup(h);
	} else {
		pool_give(c, h);
	}
	return rc;
}

void coffer_http_response_free(coffer_http_response *resp)
{
	coffer_buf_free(&resp->body);
	coffer_http_headers_free(&resp->headers);
	resp->status = 0;
}

int coffer_http_fail(const coffer_http *c, const coffer_http_request *req,
                     const coffer_http_response *resp, const char *detail)
{
	long s = resp->status;
	int code = s == 401 || s == 403 ? COFFER_EAUTH
	           : s == 404 ? COFFER_ENOTFOUND
	           : s == 409 || s == 412 ? COFFER_EEXISTS
	           : s == 400 || s == 405 || s == 411 || s == 413 || s == 414 || s == 416
	               ? COFFER_EINVALID
	               : COFFER_ERROR;
	coffer_buf what = COFFER_BUF_INIT, text = COFFER_BUF_INIT, raw = COFFER_BUF_INIT;
	what_text(c, req, &what);
	if (detail) {
		coffer_http_redact(c, detail, &text);
	} else {
		size_t n = resp->body.len > DETAIL_MAX ? DETAIL_MAX : resp->body.len;
		http_buf_add(&raw, resp->body.data, n);
		for (size_t i = 0; i < raw.len; i++)
			if (raw.data[i] < 0x20 || raw.data[i] == 0x7f)
				raw.data[i] = ' ';
		coffer_http_redact(c, raw.data ? (const char *)raw.data : "", &text);
	}
	coffer_error_set(code, "%s: %s: HTTP %ld%s%s", http_client_name(c),
	                 what.data ? (const char *)what.data : "", s,
	                 text.len ? ": " : "", text.len ? (const char *)text.data : "");
	coffer_buf_free(&what);
	coffer_buf_free(&text);
	coffer_buf_free(&raw);
	return code;
}
