/* backend-gcs without a server: the strict JSON reader, the key, token, object, listing
 * and error parsers, and the RS256 JWT (checked with the public half of a fresh key). */
#include "config.h"

#include <inttypes.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <coffer/http.h>

#include "../plugins/backend-gcs/gcs_json.h"
#include "../plugins/backend-gcs/gcs_jwt.h"
#include "../plugins/backend-gcs/gcs_parse.h"
#include "testlib.h"

static gcs_json *parse_ok(const char *text)
{
	gcs_json *v = NULL;
	int rc = gcs_json_parse(&v, text, strlen(text));
	ck_assert_msg(rc == 0, "parsing %s failed: %s", text, coffer_error_last()->message);
	return v;
}

START_TEST(json_accepts)
{
	gcs_json *v = parse_ok(" {\"a\": [1, -0.5e+3, true, false, null, \"x\"], \"b\": {}, \"c\": [],"
	                       " \"s\": \"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\xe6\x97\xa5\"}\r\n");
	ck_assert_int_eq(v->type, GCS_JSON_OBJECT);
	ck_assert_uint_eq(v->count, 4);
	const gcs_json *a = gcs_json_get(v, "a");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->type, GCS_JSON_ARRAY);
	ck_assert_uint_eq(a->count, 6);
	ck_assert_str_eq(a->items[1]->text, "-0.5e+3");
	ck_assert_int_eq(a->items[2]->boolean, 1);
	ck_assert_int_eq(a->items[3]->type, GCS_JSON_BOOL);
	ck_assert_int_eq(a->items[3]->boolean, 0);
	ck_assert_int_eq(a->items[4]->type, GCS_JSON_NULL);
	ck_assert_str_eq(gcs_json_string(a->items[5]), "x");
	ck_assert_uint_eq(gcs_json_get(v, "b")->count, 0);
	ck_assert_str_eq(gcs_json_string(gcs_json_get(v, "s")),
	                 "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xe6\x97\xa5");
	ck_assert_ptr_null(gcs_json_get(v, "missing"));
	ck_assert_ptr_null(gcs_json_get(a, "a"));
	ck_assert_ptr_null(gcs_json_string(a));
	gcs_json_free(v);
	v = parse_ok("0");
	ck_assert_str_eq(v->text, "0");
	gcs_json_free(v);
	v = parse_ok("\"\"");
	ck_assert_str_eq(v->text, "");
	gcs_json_free(v);
}
END_TEST

static const char *const bad_json[] = {
	"", " ", "{", "}", "[1,]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{1:2}", "01", "-",
	"1.", "1e", "+1", ".5", "NaN", "tru", "nul", "falsey", "'a'", "\"abc", "\"\\x\"", "\"\\u12\"",
	"\"\\u12g4\"", "\"\x01\"", "\"\x7f\xff\"", "\"\\ud800\"", "\"\\ud800\\u0041\"", "\"\\udc00\"",
	"\"\\u0000\"", "\"\xc0\xaf\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
	"\"\xe0\x80\xaf\"", "{\"a\":1,\"a\":2}", "[] x", "{}{}", "[\"a\"]]",
};

START_TEST(json_refuses)
{
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		gcs_json *v = NULL;
		int rc = gcs_json_parse(&v, bad_json[i], strlen(bad_json[i]));
		ck_assert_msg(rc == COFFER_ECORRUPT, "accepted bad JSON #%zu", i);
		ck_assert_ptr_null(v);
		ck_assert_msg(strstr(coffer_error_last()->message, "at byte"), "%s",
		              coffer_error_last()->message);
	}
	/* a NUL inside the given length is a raw control byte */
	gcs_json *v = NULL;
	ck_assert_int_eq(gcs_json_parse(&v, "\"a\0b\"", 5), COFFER_ECORRUPT);
	/* nesting: 64 levels are fine, 65 are not */
	char deep[200];
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	v = NULL;
	ck_assert_int_eq(gcs_json_parse(&v, deep, 128), 0);
	gcs_json_free(v);
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	v = NULL;
	ck_assert_int_eq(gcs_json_parse(&v, deep, 130), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "too deep"));
	/* many members: the duplicate check is not quadratic and still finds one */
	coffer_buf big = COFFER_BUF_INIT;
	coffer_http_bufprintf(&big, "{");
	for (int i = 0; i < 20000; i++)
		coffer_http_bufprintf(&big, "%s\"k%d\":%d", i ? "," : "", i % 19999, i);
	coffer_http_bufprintf(&big, "}");
	ck_assert_int_eq(gcs_json_parse(&v, (const char *)big.data, big.len), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "duplicate"));
	coffer_buf_free(&big);
}
END_TEST

START_TEST(json_integers)
{
	gcs_json *v = parse_ok("[\"123\", 456, \"9223372036854775807\", \"9223372036854775808\", -1,"
	                       " 1.5, \"01\", \"\", \"1 \", 1e3, null]");
	uint64_t n = 0;
	ck_assert_coffer_ok(gcs_json_uint64(v->items[0], &n));
	ck_assert_uint_eq(n, 123);
	ck_assert_coffer_ok(gcs_json_uint64(v->items[1], &n));
	ck_assert_uint_eq(n, 456);
	ck_assert_coffer_ok(gcs_json_uint64(v->items[2], &n));
	ck_assert_uint_eq(n, (uint64_t)INT64_MAX);
	for (size_t i = 3; i < v->count; i++)
		ck_assert_msg(gcs_json_uint64(v->items[i], &n) == COFFER_ECORRUPT, "item %zu accepted", i);
	ck_assert_int_eq(gcs_json_uint64(NULL, &n), COFFER_ECORRUPT);
	gcs_json_free(v);
}
END_TEST

START_TEST(json_writer)
{
	coffer_buf b = COFFER_BUF_INIT;
	ck_assert_coffer_ok(gcs_json_append_string(&b, "a\"b\\c\n\x01\xc3\xa9"));
	ck_assert_str_eq((const char *)b.data, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"");
	ck_assert_uint_eq(b.len, strlen((const char *)b.data));
	gcs_json *v = parse_ok((const char *)b.data);
	ck_assert_str_eq(v->text, "a\"b\\c\n\x01\xc3\xa9");
	gcs_json_free(v);
	coffer_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------------ keys and JWT */

static EVP_PKEY *test_rsa_key(void)
{
	EVP_PKEY *pkey = EVP_RSA_gen(2048);
	ck_assert_ptr_nonnull(pkey);
	return pkey;
}

static char *pem_of(EVP_PKEY *pkey, int private_part)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = private_part ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
	                      : PEM_write_bio_PUBKEY(bio, pkey);
	ck_assert_int_eq(ok, 1);
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *out = strndup(data, (size_t)n);
	BIO_free(bio);
	return out;
}

/* A service-account JSON; `drop` names a member to leave out. */
static char *key_json(const char *pem, const char *type, const char *drop)
{
	coffer_buf b = COFFER_BUF_INIT;
	coffer_http_bufprintf(&b, "{\"type\":");
	gcs_json_append_string(&b, type);
	coffer_http_bufprintf(&b, ",\"project_id\":\"p\",\"private_key_id\":\"kid-1\"");
	if (!drop || strcmp(drop, "private_key") != 0) {
		coffer_http_bufprintf(&b, ",\"private_key\":");
		gcs_json_append_string(&b, pem);
	}
	if (!drop || strcmp(drop, "client_email") != 0)
		coffer_http_bufprintf(&b, ",\"client_email\":\"backup@proj.iam.gserviceaccount.com\"");
	if (!drop || strcmp(drop, "token_uri") != 0)
		coffer_http_bufprintf(&b, ",\"token_uri\":\"http://127.0.0.1:1/token\"");
	coffer_http_bufprintf(&b, "}");
	return (char *)b.data;
}

START_TEST(sa_key)
{
	EVP_PKEY *pkey = test_rsa_key();
	char *pem = pem_of(pkey, 1);
	char *json = key_json(pem, "service_account", NULL);
	gcs_sa_key key;
	ck_assert_coffer_ok(gcs_sa_key_parse(&key, json, strlen(json)));
	ck_assert_str_eq(key.client_email, "backup@proj.iam.gserviceaccount.com");
	ck_assert_str_eq(key.private_key, pem);
	ck_assert_str_eq(key.private_key_id, "kid-1");
	ck_assert_str_eq(key.token_uri, "http://127.0.0.1:1/token");
	gcs_sa_key_free(&key);
	coffer_free(json);

	json = key_json(pem, "service_account", "token_uri");
	ck_assert_coffer_ok(gcs_sa_key_parse(&key, json, strlen(json)));
	ck_assert_str_eq(key.token_uri, GCS_DEFAULT_TOKEN_URI);
	gcs_sa_key_free(&key);
	coffer_free(json);

	static const struct {
		const char *type, *drop;
		int code;
		const char *says;
	} bad[] = {
		{ "authorized_user", NULL, COFFER_EUNSUPPORTED, "authorized_user" },
		{ "service_account", "client_email", COFFER_EINVALID, "client_email" },
		{ "service_account", "private_key", COFFER_EINVALID, "private_key" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json = key_json(pem, bad[i].type, bad[i].drop);
		ck_assert_int_eq(gcs_sa_key_parse(&key, json, strlen(json)), bad[i].code);
		ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, bad[i].says));
		ck_assert_ptr_null(strstr(coffer_error_last()->message, "PRIVATE KEY"));
		coffer_free(json);
	}
	/* a truncated key file: the message gives an offset, never the text */
	json = key_json(pem, "service_account", NULL);
	size_t cut = strstr(json, "BEGIN") - json + 40;
	ck_assert_int_eq(gcs_sa_key_parse(&key, json, cut), COFFER_ECORRUPT);
	ck_assert_ptr_null(strstr(coffer_error_last()->message, "BEGIN"));
	ck_assert_int_eq(gcs_sa_key_parse(&key, "[]", 2), COFFER_ECORRUPT);
	coffer_free(json);

	/* a key that is PEM but not RSA is refused by the loader, naming the account */
	json = key_json("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	                "service_account", NULL);
	ck_assert_coffer_ok(gcs_sa_key_parse(&key, json, strlen(json)));
	EVP_PKEY *loaded = NULL;
	ck_assert_int_eq(gcs_jwt_load_key(&loaded, &key), COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "backup@proj"));
	gcs_sa_key_free(&key);
	coffer_free(json);
	free(pem);
	EVP_PKEY_free(pkey);
}
END_TEST

/* base64url without padding → bytes (via the standard decoder). */
static void b64url_decode(const char *s, size_t n, coffer_buf *out)
{
	coffer_buf std = COFFER_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		char c = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
		ck_assert_msg(s[i] != '=' && s[i] != '+' && s[i] != '/', "not base64url");
		coffer_buf_append(&std, &c, 1);
	}
	while (std.len % 4)
		coffer_buf_append(&std, "=", 1);
	ck_assert_coffer_ok(coffer_http_base64_decode((const char *)std.data, std.len, out));
	coffer_buf_free(&std);
}

START_TEST(jwt_rs256)
{
	EVP_PKEY *pkey = test_rsa_key();
	char *pem = pem_of(pkey, 1);
	char *json = key_json(pem, "service_account", NULL);
	gcs_sa_key key;
	EVP_PKEY *loaded = NULL;
	ck_assert_coffer_ok(gcs_sa_key_parse(&key, json, strlen(json)));
	ck_assert_coffer_ok(gcs_jwt_load_key(&loaded, &key));
	coffer_buf jwt = COFFER_BUF_INIT;
	ck_assert_coffer_ok(gcs_jwt_build(&jwt, loaded, &key, "https://www.googleapis.com/auth/devstorage.read_write",
	                                  1700000000));
	const char *t = (const char *)jwt.data;
	ck_assert_uint_eq(strlen(t), jwt.len);
	const char *dot1 = strchr(t, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	ck_assert_ptr_nonnull(dot2);
	ck_assert_ptr_null(strchr(dot2 + 1, '.'));

	coffer_buf header = COFFER_BUF_INIT, claims = COFFER_BUF_INIT, sig = COFFER_BUF_INIT;
	b64url_decode(t, (size_t)(dot1 - t), &header);
	b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &claims);
	b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig);
	gcs_json *h = NULL, *c = NULL;
	ck_assert_coffer_ok(gcs_json_parse(&h, (const char *)header.data, header.len));
	ck_assert_coffer_ok(gcs_json_parse(&c, (const char *)claims.data, claims.len));
	ck_assert_str_eq(gcs_json_string(gcs_json_get(h, "alg")), "RS256");
	ck_assert_str_eq(gcs_json_string(gcs_json_get(h, "typ")), "JWT");
	ck_assert_str_eq(gcs_json_string(gcs_json_get(h, "kid")), "kid-1");
	ck_assert_str_eq(gcs_json_string(gcs_json_get(c, "iss")), "backup@proj.iam.gserviceaccount.com");
	ck_assert_str_eq(gcs_json_string(gcs_json_get(c, "aud")), "http://127.0.0.1:1/token");
	ck_assert_str_eq(gcs_json_string(gcs_json_get(c, "scope")),
	                 "https://www.googleapis.com/auth/devstorage.read_write");
	uint64_t iat, exp;
	ck_assert_coffer_ok(gcs_json_uint64(gcs_json_get(c, "iat"), &iat));
	ck_assert_coffer_ok(gcs_json_uint64(gcs_json_get(c, "exp"), &exp));
	ck_assert_uint_eq(iat, 1700000000);
	ck_assert_uint_eq(exp, 1700000000 + 3600);

	/* RS256 = RSASSA-PKCS1-v1_5 with SHA-256 over "header.claims", checked with the
	 * public half only */
	char *pub_pem = pem_of(pkey, 0);
	BIO *bio = BIO_new_mem_buf(pub_pem, -1);
	EVP_PKEY *pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ck_assert_ptr_nonnull(pub);
	ck_assert_uint_eq(sig.len, 256);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
	ck_assert_int_eq(EVP_DigestVerify(md, sig.data, sig.len, (const uint8_t *)t, (size_t)(dot2 - t)), 1);
	/* one changed byte of the claims fails */
	EVP_MD_CTX_reset(md);
	char *tampered = strdup(t);
	tampered[dot1 - t + 3] ^= 1;
	ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
	ck_assert_int_ne(EVP_DigestVerify(md, sig.data, sig.len, (const uint8_t *)tampered,
	                                  (size_t)(dot2 - t)), 1);
	/* PKCS#1 v1.5 is deterministic: the same input signs the same */
	coffer_buf again = COFFER_BUF_INIT;
	ck_assert_coffer_ok(gcs_jwt_build(&again, loaded, &key, "https://www.googleapis.com/auth/devstorage.read_write",
	                                  1700000000));
	ck_assert_str_eq((const char *)again.data, t);

	free(tampered);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	free(pub_pem);
	coffer_buf_free(&again);
	gcs_json_free(h);
	gcs_json_free(c);
	coffer_buf_free(&header);
	coffer_buf_free(&claims);
	coffer_buf_free(&sig);
	coffer_buf_free(&jwt);
	EVP_PKEY_free(loaded);
	gcs_sa_key_free(&key);
	coffer_free(json);
	free(pem);
	EVP_PKEY_free(pkey);
}
END_TEST

/* ------------------------------------------------------------------ responses */

START_TEST(token_responses)
{
	char *token = NULL;
	uint64_t expires = 0;
	const char *ok = "{\"access_token\":\"ya29.abc\",\"expires_in\":3599,\"token_type\":\"Bearer\"}";
	ck_assert_coffer_ok(gcs_token_response_parse(ok, strlen(ok), &token, &expires));
	ck_assert_str_eq(token, "ya29.abc");
	ck_assert_uint_eq(expires, 3599);
	coffer_free(token);
	const char *bare = "{\"access_token\":\"t\"}";
	ck_assert_coffer_ok(gcs_token_response_parse(bare, strlen(bare), &token, &expires));
	ck_assert_uint_eq(expires, 3600);
	coffer_free(token);
	static const char *const bad[] = {
		"{\"expires_in\":3599}", "{\"access_token\":\"\"}", "{\"access_token\":5}",
		"{\"access_token\":\"t\",\"token_type\":\"MAC\"}", "{\"access_token\":\"t\",\"expires_in\":0}",
		"{\"access_token\":\"t\",\"expires_in\":-5}", "{\"access_token\":\"t\",\"expires_in\":1.5}",
		"[\"access_token\"]", "not json",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(gcs_token_response_parse(bad[i], strlen(bad[i]), &token, &expires) ==
		                  COFFER_ECORRUPT, "accepted %s", bad[i]);
		ck_assert_ptr_null(token);
	}
}
END_TEST

START_TEST(error_details)
{
	const char *oauth = "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}";
	char *d = gcs_error_detail(oauth, strlen(oauth));
	ck_assert_str_eq(d, "invalid_grant: Invalid JWT Signature.");
	coffer_free(d);
	const char *api = "{\"error\":{\"code\":403,\"message\":\"x@y does not have storage.objects.get\","
	                  "\"errors\":[]}}";
	d = gcs_error_detail(api, strlen(api));
	ck_assert_str_eq(d, "x@y does not have storage.objects.get");
	coffer_free(d);
	ck_assert_ptr_null(gcs_error_detail("<html>", 6));
	ck_assert_ptr_null(gcs_error_detail("{}", 2));
	ck_assert_int_eq(coffer_error_last()->code, 0);
}
END_TEST

typedef struct collected {
	char names[8][64];
	uint64_t sizes[8];
	int count, stop_at;
} collected;

static int collect(const gcs_object_info *obj, void *ud)
{
	collected *c = ud;
	if (c->count == c->stop_at)
		return 42;
	snprintf(c->names[c->count], sizeof(c->names[0]), "%s", obj->name);
	c->sizes[c->count++] = obj->size;
	return 0;
}

START_TEST(listings)
{
	const char *page = "{\"kind\":\"storage#objects\",\"nextPageToken\":\"CgNhL2I=\",\"items\":["
	                   "{\"name\":\"r/a\",\"size\":\"5\",\"updated\":\"2024-01-02T03:04:05.678Z\"},"
	                   "{\"name\":\"r/\\u00e9\",\"size\":\"0\"}]}";
	collected c = { .stop_at = -1 };
	char *next = NULL;
	ck_assert_coffer_ok(gcs_list_parse(page, strlen(page), collect, &c, &next));
	ck_assert_int_eq(c.count, 2);
	ck_assert_str_eq(c.names[0], "r/a");
	ck_assert_uint_eq(c.sizes[0], 5);
	ck_assert_str_eq(c.names[1], "r/\xc3\xa9");
	ck_assert_str_eq(next, "CgNhL2I=");
	coffer_free(next);

	const char *last = "{\"kind\":\"storage#objects\"}";
	c.count = 0;
	ck_assert_coffer_ok(gcs_list_parse(last, strlen(last), collect, &c, &next));
	ck_assert_int_eq(c.count, 0);
	ck_assert_ptr_null(next);

	c.count = 0;
	c.stop_at = 1;
	ck_assert_int_eq(gcs_list_parse(page, strlen(page), collect, &c, &next), 42);
	ck_assert_ptr_null(next);

	static const char *const bad[] = {
		"{\"items\":{}}", "{\"items\":[{\"size\":\"1\"}]}", "{\"items\":[{\"name\":\"a\"}]}",
		"{\"items\":[{\"name\":\"a\",\"size\":\"-1\"}]}", "{\"nextPageToken\":7}", "[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.count = 0;
		c.stop_at = -1;
		ck_assert_msg(gcs_list_parse(bad[i], strlen(bad[i]), collect, &c, &next) == COFFER_ECORRUPT,
		              "accepted %s", bad[i]);
	}

	const char *object = "{\"name\":\"r/a\",\"size\":\"1234\",\"updated\":\"2024-01-02T03:04:05Z\"}";
	c.count = 0;
	ck_assert_coffer_ok(gcs_object_parse(object, strlen(object), collect, &c));
	ck_assert_uint_eq(c.sizes[0], 1234);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gcs-json");
	TCase *tc = tcase_create("gcs");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, json_accepts);
	tcase_add_test(tc, json_refuses);
	tcase_add_test(tc, json_integers);
	tcase_add_test(tc, json_writer);
	tcase_add_test(tc, sa_key);
	tcase_add_test(tc, jwt_rs256);
	tcase_add_test(tc, token_responses);
	tcase_add_test(tc, error_details);
	tcase_add_test(tc, listings);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
