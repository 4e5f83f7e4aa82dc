/* libcoffer-http: encodings, redaction, the XML walker, and the client against a local
 * server that fails on request (tests/servers/http-fault-server.py): retries of 5xx, 429,
 * resets and stalls, the give-up bound, status mapping, redacted messages, parallel use. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <coffer/http.h>

#include "testlib.h"

static pid_t server_pid;
static char server_base[64];

static void server_start(void)
{
	if (server_pid)
		return;
	const char *top = getenv("COFFER_TOP_SRCDIR");
	char script[4096];
	snprintf(script, sizeof(script), "%s/tests/servers/http-fault-server.py", top ? top : ".");
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	server_pid = fork();
	ck_assert_int_ge(server_pid, 0);
	if (server_pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execlp("python3", "python3", script, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char port[16] = { 0 };
	size_t got = 0;
	while (got < sizeof(port) - 1 && !strchr(port, '\n')) {
		ssize_t n = read(fds[0], port + got, sizeof(port) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	int saved = errno;
	close(fds[0]);
	ck_assert_msg(strchr(port, '\n'), "the fault server (%s) did not start (%s)", script,
	              strerror(saved));
	port[strcspn(port, "\n")] = 0;
	snprintf(server_base, sizeof(server_base), "http://127.0.0.1:%s", port);
}

static void server_stop(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
}

static coffer_http *client_new(unsigned attempts, unsigned total_ms, unsigned stall_s)
{
	coffer_http_options o = COFFER_HTTP_OPTIONS_INIT;
	o.max_attempts = attempts;
	o.base_delay_ms = 10;
	o.max_delay_ms = 200;
	o.max_total_ms = total_ms;
	o.stall_timeout_s = stall_s;
	o.name = "test";
	coffer_http *c;
	ck_assert_coffer_ok(coffer_http_create(&c, &o));
	return c;
}

/* Runs METHOD on server_base + path; returns exec's code, response in *resp. */
static int run(coffer_http *c, const char *method, const char *path, const void *body, size_t len,
               coffer_http_response *resp)
{
	char url[512];
	snprintf(url, sizeof(url), "%s%s", server_base, path);
	coffer_http_request req = { .method = method, .url = url, .body = body, .body_len = len };
	int rc = coffer_http_exec(c, &req, resp);
	coffer_http_headers_free(&req.headers);
	return rc;
}

/* ------------------------------------------------------------------ encodings */

START_TEST(base64_vectors)
{
	/* RFC 4648 section 10 */
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	for (int i = 0; i < 7; i++) {
		coffer_buf b = COFFER_BUF_INIT, d = COFFER_BUF_INIT;
		ck_assert_coffer_ok(coffer_http_base64_encode(plain[i], strlen(plain[i]), &b));
		ck_assert_str_eq(b.data ? (char *)b.data : "", coded[i]);
		ck_assert_coffer_ok(coffer_http_base64_decode(coded[i], strlen(coded[i]), &d));
		ck_assert_uint_eq(d.len, strlen(plain[i]));
		ck_assert(d.len == 0 || memcmp(d.data, plain[i], d.len) == 0);
		coffer_buf_free(&b);
		coffer_buf_free(&d);
	}
	coffer_buf u = COFFER_BUF_INIT, d = COFFER_BUF_INIT;
	ck_assert_coffer_ok(coffer_http_base64url_encode("\xfb\xff\xfe", 3, &u));
	ck_assert_str_eq((char *)u.data, "-__-");
	ck_assert_int_eq(coffer_http_base64_decode("Zm9v!", 5, &d), COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "offset 4"));
	d.len = 0;
	ck_assert_int_eq(coffer_http_base64_decode("Zm9vY", 5, &d), COFFER_EINVALID);
	d.len = 0;
	ck_assert_int_eq(coffer_http_base64_decode("Zg==Zg", 6, &d), COFFER_EINVALID);
	coffer_buf_free(&u);
	coffer_buf_free(&d);
}
END_TEST

START_TEST(hashes_and_escapes)
{
	char hex[65];
	coffer_http_sha256_hex("", 0, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* RFC 4231 test case 2 */
	uint8_t mac[32];
	coffer_http_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
	coffer_http_hex(mac, 32, hex);
	ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	coffer_buf e = COFFER_BUF_INIT;
	ck_assert_coffer_ok(coffer_http_urlencode("a b/c~d%é", strlen("a b/c~d%é"), 1, &e));
	ck_assert_str_eq((char *)e.data, "a%20b/c~d%25%C3%A9");
	e.len = 0;
	ck_assert_coffer_ok(coffer_http_urlencode("a/b", 3, 0, &e));
	ck_assert_str_eq((char *)e.data, "a%2Fb");
	coffer_buf_free(&e);
}
END_TEST

START_TEST(dates)
{
	int64_t ns;
	ck_assert_coffer_ok(coffer_http_parse_time("2009-10-12T17:50:30.000Z", &ns));
	ck_assert_int_eq(ns, 1255369830LL * 1000000000LL);
	ck_assert_coffer_ok(coffer_http_parse_time("Sun, 06 Nov 1994 08:49:37 GMT", &ns));
	ck_assert_int_eq(ns, 784111777LL * 1000000000LL);
	ck_assert_int_eq(coffer_http_parse_time("Sun, 06 Nov 1994 08:49:37 PST", &ns), COFFER_EINVALID);
	ck_assert_int_eq(coffer_http_parse_time("yesterday", &ns), COFFER_EINVALID);
	char amz[17], rfc[30];
	coffer_http_time_amz(1369353600, amz);
	ck_assert_str_eq(amz, "20130524T000000Z");
	coffer_http_time_rfc1123(784111777, rfc);
	ck_assert_str_eq(rfc, "Sun, 06 Nov 1994 08:49:37 GMT");
}
END_TEST

START_TEST(header_lists)
{
	coffer_http_headers h = COFFER_HTTP_HEADERS_INIT;
	ck_assert_coffer_ok(coffer_http_headers_add(&h, "X-One", "%d", 1));
	ck_assert_coffer_ok(coffer_http_headers_add(&h, "x-two", "two"));
	ck_assert_coffer_ok(coffer_http_headers_set(&h, "X-ONE", "uno"));
	ck_assert_uint_eq(h.count, 2);
	ck_assert_str_eq(coffer_http_headers_get(&h, "x-one"), "uno");
	ck_assert_str_eq(coffer_http_headers_get(&h, "X-Two"), "two");
	ck_assert_ptr_null(coffer_http_headers_get(&h, "X-Tw"));
	coffer_http_headers_free(&h);
}
END_TEST

START_TEST(redaction)
{
	coffer_http *c = client_new(1, 1000, 5);
	ck_assert_coffer_ok(coffer_http_add_secret(c, "s3cr3t-KEY/value"));
	static const struct { const char *in, *out; } cases[] = {
		{ "key s3cr3t-KEY/value here", "key [REDACTED] here" },
		{ "Authorization: AWS4-HMAC-SHA256 Credential=x, Signature=y\nnext",
		  "Authorization: [REDACTED]\nnext" },
		{ "GET /b/o?sv=2020&sig=abc%2Fdef&sp=r", "GET /b/o?sv=2020&sig=[REDACTED]&sp=r" },
		{ "u?X-Amz-Signature=0123&X-Amz-Credential=AK/2024 end",
		  "u?X-Amz-Signature=[REDACTED]&X-Amz-Credential=[REDACTED] end" },
		{ "{\"access_token\": \"ya29.abc\\\"def\", \"expires_in\": 3599}",
		  "{\"access_token\": \"[REDACTED]\", \"expires_in\": 3599}" },
		{ "token=abc", "token=[REDACTED]" },
		{ "design=x&resignature=1", "design=x&resignature=1" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		coffer_buf out = COFFER_BUF_INIT;
		ck_assert_coffer_ok(coffer_http_redact(c, cases[i].in, &out));
		ck_assert_msg(strcmp((char *)out.data, cases[i].out) == 0, "redact(%s) = %s, want %s",
		              cases[i].in, (char *)out.data, cases[i].out);
		coffer_buf_free(&out);
	}
	coffer_http_destroy(c);
}
END_TEST

/* ------------------------------------------------------------------ XML */

typedef struct xml_seen {
	char text[2048];
} xml_seen;

static int xml_collect(void *ud, const char *path, const char *text, size_t len)
{
	xml_seen *s = ud;
	size_t used = strlen(s->text);
	if (text)
		snprintf(s->text + used, sizeof(s->text) - used, "%s=%.*s;", path, (int)len, text);
	else
		snprintf(s->text + used, sizeof(s->text) - used, "<%s>", path);
	return 0;
}

START_TEST(xml_listing)
{
	const char *doc =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<!-- a comment with <tags> -->\n  <Name>b</Name><IsTruncated/>"
		"<Contents><Key>a&amp;b &lt;&#x263A;&#65;</Key><Size>12</Size></Contents>"
		"<Contents><Key><![CDATA[x<y]]></Key></Contents>"
		"</ListBucketResult>";
	xml_seen s = { "" };
	ck_assert_coffer_ok(coffer_xml_walk("\xef\xbb\xbf<a>b</a>", 11, xml_collect, &s));
	ck_assert_str_eq(s.text, "<a>a=b;");
	s.text[0] = 0;
	ck_assert_coffer_ok(coffer_xml_walk(doc, strlen(doc), xml_collect, &s));
	ck_assert_str_eq(s.text, "<ListBucketResult><ListBucketResult/Name>ListBucketResult/Name=b;"
	                         "<ListBucketResult/IsTruncated>ListBucketResult/IsTruncated=;"
	                         "<ListBucketResult/Contents><ListBucketResult/Contents/Key>"
	                         "ListBucketResult/Contents/Key=a&b <\xe2\x98\xba" "A;"
	                         "<ListBucketResult/Contents/Size>ListBucketResult/Contents/Size=12;"
	                         "<ListBucketResult/Contents><ListBucketResult/Contents/Key>"
	                         "ListBucketResult/Contents/Key=x<y;");
}
END_TEST

START_TEST(xml_malformed)
{
	static const char *const bad[] = {
		"", "   ", "<a>", "<a></b>", "<a>x</a><b/>", "text<a/>", "<a>&bogus;</a>", "<a>&#0;</a>",
		"<a>&#x110000;</a>", "<a b=\"x>", "<a><!-- x</a>", "<a><![CDATA[x</a>", "</a>", "<>",
		"<a>&#xD800;</a>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		xml_seen s = { "" };
		int rc = coffer_xml_walk(bad[i], strlen(bad[i]), xml_collect, &s);
		ck_assert_msg(rc == COFFER_ECORRUPT, "'%s' gave %d, not COFFER_ECORRUPT", bad[i], rc);
		ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "at byte"));
	}
	char deep[32 * 3 + 32 * 4 + 8] = "";
	for (int i = 0; i < 33; i++)
		strcat(deep, "<a>");
	xml_seen s = { "" };
	ck_assert_int_eq(coffer_xml_walk(deep, strlen(deep), xml_collect, &s), COFFER_ECORRUPT);
}
END_TEST

/* ------------------------------------------------------------------ client */

START_TEST(echo_methods_and_body)
{
	server_start();
	coffer_http *c = client_new(3, 10000, 5);
	size_t len = 3 * 1024 * 1024 + 17;
	uint8_t *body = malloc(len);
	for (size_t i = 0; i < len; i++)
		body[i] = (uint8_t)(i * 7 + (i >> 11));
	char want[65];
	coffer_http_sha256_hex(body, len, want);
	coffer_http_response resp = COFFER_HTTP_RESPONSE_INIT;
	char url[256];
	snprintf(url, sizeof(url), "%s/echo/obj", server_base);
	coffer_http_request req = { .method = "PUT", .url = url, .body = body, .body_len = len };
	ck_assert_coffer_ok(coffer_http_headers_add(&req.headers, "X-Test", "yes"));
	ck_assert_coffer_ok(coffer_http_exec(c, &req, &resp));
	ck_assert_int_eq(resp.status, 200);
	const char *doc = (const char *)resp.body.data;
	char expect[128];
	snprintf(expect, sizeof(expect), "\"sha256\": \"%s\"", want);
	ck_assert_msg(strstr(doc, expect), "server saw another body: %s", doc);
	ck_assert_ptr_nonnull(strstr(doc, "\"method\": \"PUT\""));
	ck_assert_ptr_nonnull(strstr(doc, "\"x-test\": \"yes\""));
	ck_assert_ptr_null(strstr(doc, "content-type"));
	ck_assert_ptr_null(strstr(doc, "expect"));
	ck_assert_ptr_nonnull(coffer_http_headers_get(&resp.headers, "content-length"));
	coffer_http_headers_free(&req.headers);
	static const char *const methods[] = { "GET", "DELETE", "POST", "HEAD" };
	for (int i = 0; i < 4; i++) {
		ck_assert_coffer_ok(run(c, methods[i], "/echo/m", NULL, 0, &resp));
		ck_assert_int_eq(resp.status, 200);
		if (i < 3) {
			snprintf(expect, sizeof(expect), "\"method\": \"%s\"", methods[i]);
			ck_assert_ptr_nonnull(strstr((char *)resp.body.data, expect));
		} else {
			ck_assert_uint_eq(resp.body.len, 0);
		}
	}
	coffer_http_response_free(&resp);
	free(body);
	coffer_http_destroy(c);
}
END_TEST

START_TEST(retries_until_success)
{
	server_start();
	coffer_http *c = client_new(6, 20000, 1);
	coffer_http_response resp = COFFER_HTTP_RESPONSE_INIT;
	ck_assert_coffer_ok(run(c, "GET", "/flaky/k503/3/503", NULL, 0, &resp));
	ck_assert_int_eq(resp.status, 200);
	ck_assert_uint_eq(resp.attempts, 4);
	ck_assert_coffer_ok(run(c, "PUT", "/flaky/k500/2/500", "abc", 3, &resp));
	ck_assert_uint_eq(resp.attempts, 3);
	ck_assert_coffer_ok(run(c, "GET", "/retry-after/k429/1", NULL, 0, &resp));
	ck_assert_int_eq(resp.status, 200);
	ck_assert_uint_eq(resp.attempts, 2);
	ck_assert_coffer_ok(run(c, "GET", "/reset/kreset/2", NULL, 0, &resp));
	ck_assert_int_eq(resp.status, 200);
	/* curl itself retries once when a reused connection dies before an answer */
	ck_assert_uint_ge(resp.attempts, 2);
	ck_assert_coffer_ok(run(c, "GET", "/count/kreset", NULL, 0, &resp));
	ck_assert_str_eq((char *)resp.body.data, "3");
	/* a stalled transfer is given up after stall_timeout_s and retried */
	ck_assert_coffer_ok(run(c, "GET", "/stall/kstall/1", NULL, 0, &resp));
	ck_assert_int_eq(resp.status, 200);
	ck_assert_str_eq((char *)resp.body.data, "ok");
	ck_assert_uint_eq(resp.attempts, 2);
	/* a 4xx is final at once */
	ck_assert_coffer_ok(run(c, "GET", "/flaky/k404/5/404", NULL, 0, &resp));
	ck_assert_int_eq(resp.status, 404);
	ck_assert_uint_eq(resp.attempts, 1);
	coffer_http_response_free(&resp);
	coffer_http_destroy(c);
}
END_TEST

START_TEST(gives_up_within_bounds)
{
	server_start();
	coffer_http *c = client_new(3, 20000, 5);
	ck_assert_coffer_ok(coffer_http_add_secret(c, "abcdEFGH1234"));
	coffer_http_response resp = COFFER_HTTP_RESPONSE_INIT;
	ck_assert_int_eq(run(c, "GET", "/flaky/kfail/100/503", NULL, 0, &resp), COFFER_ETRANSIENT);
	ck_assert_uint_eq(resp.attempts, 3);
	const char *msg = coffer_error_last()->message;
	ck_assert_msg(strstr(msg, "gave up after 3 attempts") && strstr(msg, "HTTP 503"), "%s", msg);
	ck_assert_msg(strstr(msg, "GET ") && strstr(msg, "/flaky/kfail"), "%s", msg);
	coffer_http_destroy(c);

	/* nothing listens: connection refused is retried, then transient */
	c = client_new(100, 600, 5);
	coffer_http_request req = { .method = "GET", .url = "http://127.0.0.1:1/x" };
	ck_assert_int_eq(coffer_http_exec(c, &req, &resp), COFFER_ETRANSIENT);
	ck_assert_uint_ge(resp.attempts, 2);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "gave up"));
	coffer_http_response_free(&resp);
	coffer_http_destroy(c);
}
END_TEST

START_TEST(final_status_errors_redacted)
{
	server_start();
	coffer_http *c = client_new(3, 5000, 5);
	ck_assert_coffer_ok(coffer_http_add_secret(c, "denied;"));
	coffer_http_response resp = COFFER_HTTP_RESPONSE_INIT;
	static const struct { const char *path; int code; } cases[] = {
		{ "/status/403", COFFER_EAUTH }, { "/status/401", COFFER_EAUTH },
		{ "/status/404", COFFER_ENOTFOUND }, { "/status/412", COFFER_EEXISTS },
		{ "/status/400", COFFER_EINVALID }, { "/status/418", COFFER_ERROR },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char url[256];
		snprintf(url, sizeof(url), "%s%s?sig=SECRETSIG", server_base, cases[i].path);
		coffer_http_request req = { .method = "GET", .url = url };
		ck_assert_coffer_ok(coffer_http_exec(c, &req, &resp));
		ck_assert_int_eq(coffer_http_fail(c, &req, &resp, NULL), cases[i].code);
		const char *msg = coffer_error_last()->message;
		ck_assert_msg(strstr(msg, "test: GET ") && strstr(msg, cases[i].path), "%s", msg);
		ck_assert_msg(!strstr(msg, "SECRETSIG") && !strstr(msg, "abcdEFGH1234") &&
		              !strstr(msg, "denied;"), "secret in: %s", msg);
		ck_assert_msg(strstr(msg, "[REDACTED]"), "%s", msg);
	}
	coffer_http_response_free(&resp);
	coffer_http_destroy(c);
}
END_TEST

typedef struct prep_state {
	unsigned calls, last_attempt;
} prep_state;

static int prep(void *ud, coffer_http_request *req, unsigned attempt)
{
	prep_state *p = ud;
	p->calls++;
	p->last_attempt = attempt;
	coffer_http_headers_clear(&req->headers);
	return coffer_http_headers_add(&req->headers, "X-Attempt", "%u", attempt);
}

START_TEST(prepare_runs_per_attempt)
{
	server_start();
	coffer_http *c = client_new(5, 10000, 5);
	prep_state p = { 0, 0 };
	char url[256];
	snprintf(url, sizeof(url), "%s/flaky/kprep/2/502", server_base);
	coffer_http_request req = { .method = "GET", .url = url, .prepare = prep, .prepare_ud = &p };
	coffer_http_response resp = COFFER_HTTP_RESPONSE_INIT;
	ck_assert_coffer_ok(coffer_http_exec(c, &req, &resp));
	ck_assert_uint_eq(p.calls, 3);
	ck_assert_uint_eq(p.last_attempt, 2);
	/* a status the protocol calls final is not retried */
	static const long final_502[] = { 502, 0 };
	snprintf(url, sizeof(url), "%s/flaky/kfinal/5/502", server_base);
	req.no_retry_status = final_502;
	ck_assert_coffer_ok(coffer_http_exec(c, &req, &resp));
	ck_assert_int_eq(resp.status, 502);
	ck_assert_uint_eq(resp.attempts, 1);
	coffer_http_headers_free(&req.headers);
	coffer_http_response_free(&resp);
	coffer_http_destroy(c);
}
END_TEST

typedef struct par_arg {
	coffer_http *c;
	int index, failures;
} par_arg;

static void *par_worker(void *arg)
{
	par_arg *a = arg;
	coffer_http_response resp = COFFER_HTTP_RESPONSE_INIT;
	for (int i = 0; i < 40; i++) {
		char path[64], body[64];
		snprintf(path, sizeof(path), "/echo/t%d/%d", a->index, i);
		int n = snprintf(body, sizeof(body), "thread %d request %d", a->index, i);
		char want[65], expect[100];
		coffer_http_sha256_hex(body, (size_t)n, want);
		snprintf(expect, sizeof(expect), "\"sha256\": \"%s\"", want);
		if (run(a->c, "PUT", path, body, (size_t)n, &resp) || resp.status != 200 ||
		    !strstr((char *)resp.body.data, expect))
			a->failures++;
	}
	coffer_http_response_free(&resp);
	return NULL;
}

START_TEST(parallel_requests)
{
	server_start();
	coffer_http *c = client_new(3, 10000, 5);
	pthread_t t[8];
	par_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (par_arg){ c, i, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, par_worker, &args[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(args[i].failures, 0);
	}
	coffer_http_destroy(c);
}
END_TEST

/* The proxy variables are libcurl's own: a host that does not resolve is reached through
 * http_proxy, and no_proxy turns that off again. */
START_TEST(proxy_from_environment)
{
	server_start();
	setenv("http_proxy", server_base, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	coffer_http *c = client_new(2, 3000, 5);
	coffer_http_response resp = COFFER_HTTP_RESPONSE_INIT;
	coffer_http_request req = { .method = "GET", .url = "http://coffer-proxy-test.invalid/echo/p" };
	ck_assert_coffer_ok(coffer_http_exec(c, &req, &resp));
	ck_assert_int_eq(resp.status, 200);
	ck_assert_msg(strstr((char *)resp.body.data, "\"proxied\": true") &&
	              strstr((char *)resp.body.data, "coffer-proxy-test.invalid"),
	              "not through the proxy: %s", (char *)resp.body.data);
	coffer_http_destroy(c);
	setenv("no_proxy", "coffer-proxy-test.invalid", 1);
	c = client_new(2, 300, 5);
	ck_assert_int_eq(coffer_http_exec(c, &req, &resp), COFFER_ETRANSIENT);
	unsetenv("no_proxy");
	unsetenv("http_proxy");
	coffer_http_response_free(&resp);
	coffer_http_destroy(c);
}
END_TEST

START_TEST(options_and_ca_errors)
{
	coffer_http_options o = COFFER_HTTP_OPTIONS_INIT;
	coffer_config *cfg;
	ck_assert_coffer_ok(coffer_config_parse(&cfg, "max_attempts = 4; stall_timeout_s = 9;", "t"));
	unsetenv("COFFER_HTTP_MAX_ATTEMPTS");
	ck_assert_coffer_ok(coffer_http_options_from_config(&o, cfg));
	ck_assert_uint_eq(o.max_attempts, 4);
	ck_assert_uint_eq(o.stall_timeout_s, 9);
	setenv("COFFER_HTTP_MAX_ATTEMPTS", "2", 1);
	ck_assert_coffer_ok(coffer_http_options_from_config(&o, cfg));
	ck_assert_uint_eq(o.max_attempts, 2);
	setenv("COFFER_HTTP_MAX_ATTEMPTS", "lots", 1);
	ck_assert_int_eq(coffer_http_options_from_config(&o, cfg), COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "COFFER_HTTP_MAX_ATTEMPTS"));
	unsetenv("COFFER_HTTP_MAX_ATTEMPTS");
	coffer_config_free(cfg);
	ck_assert_coffer_ok(coffer_config_parse(&cfg, "max_attempts = -1;", "t"));
	ck_assert_int_eq(coffer_http_options_from_config(&o, cfg), COFFER_EINVALID);
	coffer_config_free(cfg);

	coffer_http *c;
	o = (coffer_http_options)COFFER_HTTP_OPTIONS_INIT;
	o.ca_file = "/nonexistent/ca.pem";
	ck_assert_int_eq(coffer_http_create(&c, &o), COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "/nonexistent/ca.pem"));
	char *dir = test_tmpdir("http-ca");
	char path[4200];
	snprintf(path, sizeof(path), "%s/empty.pem", dir);
	FILE *fp = fopen(path, "w");
	fputs("not a certificate\n", fp);
	fclose(fp);
	o.ca_file = path;
	ck_assert_int_eq(coffer_http_create(&c, &o), COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "no PEM certificate"));
	test_rmtree(dir);
	free(dir);
	o.ca_file = NULL;
	o.version = 99;
	ck_assert_int_eq(coffer_http_create(&c, &o), COFFER_EINVALID);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("libcoffer-http");
	TCase *offline = tcase_create("offline");
	tcase_add_test(offline, base64_vectors);
	tcase_add_test(offline, hashes_and_escapes);
	tcase_add_test(offline, dates);
	tcase_add_test(offline, header_lists);
	tcase_add_test(offline, redaction);
	tcase_add_test(offline, xml_listing);
	tcase_add_test(offline, xml_malformed);
	tcase_add_test(offline, options_and_ca_errors);
	suite_add_tcase(s, offline);
	TCase *client = tcase_create("client");
	tcase_set_timeout(client, 120);
	tcase_add_test(client, echo_methods_and_body);
	tcase_add_test(client, retries_until_success);
	tcase_add_test(client, gives_up_within_bounds);
	tcase_add_test(client, final_status_errors_redacted);
	tcase_add_test(client, prepare_runs_per_attempt);
	tcase_add_test(client, parallel_requests);
	tcase_add_test(client, proxy_from_environment);
	suite_add_tcase(s, client);
	/* one server for the whole run: no fork mode, so the tests share it */
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	server_stop();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
