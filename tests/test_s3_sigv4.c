/* The S3 backend's SigV4 signer against AWS's published vectors: the Signature Version 4
 * test suite (get-vanilla, get-vanilla-query-order-key-case, post-vanilla; credentials
 * AKIDEXAMPLE, 20150830T123600Z, service "service") and the four examples of the S3 API
 * reference, "Signature Calculations for the Authorization Header" (AKIAIOSFODNN7EXAMPLE,
 * 20130524T000000Z). */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/http.h>

#include "../plugins/backend-s3/sigv4.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SUITE_DATE "20150830T123600Z"
#define S3_DATE "20130524T000000Z"
#define S3_HOST "examplebucket.s3.amazonaws.com"

static s3_sigv4_input suite_input(const char *method, const char *query,
                                  const s3_sigv4_pair *headers, size_t count)
{
	s3_sigv4_input in = { method, "/", query, headers, count, EMPTY_SHA256, SUITE_DATE,
		              "us-east-1", "service", "AKIDEXAMPLE",
		              "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
	return in;
}

static s3_sigv4_input s3_input(const char *method, const char *uri, const char *query,
                               const s3_sigv4_pair *headers, size_t count, const char *hash)
{
	s3_sigv4_input in = { method, uri, query, headers, count, hash, S3_DATE, "us-east-1", "s3",
		              "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
	return in;
}

/* Signs and compares the string to sign's last line (the canonical request's hash, when
 * given) and the signature; returns nothing, fails the test on a mismatch. */
static void expect_signature(const s3_sigv4_input *in, const char *creq_hash,
                             const char *signature)
{
	coffer_buf sts = COFFER_BUF_INIT, authz = COFFER_BUF_INIT;
	char sig[65];
	ck_assert_int_eq(s3_sigv4_string_to_sign(in, &sts), 0);
	if (creq_hash) {
		const char *last = strrchr((const char *)sts.data, '\n');
		ck_assert_ptr_nonnull(last);
		ck_assert_str_eq(last + 1, creq_hash);
	}
	ck_assert_int_eq(s3_sigv4_authorization(in, &authz, sig), 0);
	ck_assert_str_eq(sig, signature);
	const char *text = (const char *)authz.data;
	ck_assert_msg(strncmp(text, "AWS4-HMAC-SHA256 Credential=", 28) == 0, "%s", text);
	ck_assert_msg(strstr(text, signature) != NULL, "%s", text);
	ck_assert_msg(strstr(text, in->secret_key) == NULL, "the secret leaked: %s", text);
	coffer_buf_free(&sts);
	coffer_buf_free(&authz);
}

START_TEST(suite_get_vanilla)
{
	const s3_sigv4_pair h[] = { { "Host", "example.amazonaws.com" }, { "X-Amz-Date", SUITE_DATE } };
	s3_sigv4_input in = suite_input("GET", "", h, 2);
	coffer_buf creq = COFFER_BUF_INIT, authz = COFFER_BUF_INIT;
	ck_assert_int_eq(s3_sigv4_canonical_request(&in, &creq), 0);
	ck_assert_str_eq((const char *)creq.data,
	                 "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
	                 "host;x-amz-date\n" EMPTY_SHA256);
	expect_signature(&in, "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
	                 "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	char sig[65];
	ck_assert_int_eq(s3_sigv4_authorization(&in, &authz, sig), 0);
	ck_assert_str_eq((const char *)authz.data,
	                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	                 "aws4_request, SignedHeaders=host;x-amz-date, "
	                 "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	coffer_buf_free(&creq);
	coffer_buf_free(&authz);
}
END_TEST

START_TEST(suite_get_vanilla_query_order_key_case)
{
	const s3_sigv4_pair q[] = { { "Param2", "value2" }, { "Param1", "value1" } };
	coffer_buf query = COFFER_BUF_INIT;
	ck_assert_int_eq(s3_sigv4_query(q, 2, &query), 0);
	ck_assert_str_eq((const char *)query.data, "Param1=value1&Param2=value2");
	const s3_sigv4_pair h[] = { { "X-Amz-Date", SUITE_DATE }, { "Host", "example.amazonaws.com" } };
	s3_sigv4_input in = suite_input("GET", (const char *)query.data, h, 2);
	expect_signature(&in, NULL, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
	coffer_buf_free(&query);
}
END_TEST

START_TEST(suite_post_vanilla)
{
	const s3_sigv4_pair h[] = { { "Host", "example.amazonaws.com" }, { "X-Amz-Date", SUITE_DATE } };
	s3_sigv4_input in = suite_input("POST", "", h, 2);
	expect_signature(&in, NULL, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}
END_TEST

START_TEST(s3_get_object_range)
{
	const s3_sigv4_pair h[] = { { "Host", S3_HOST },
		                    { "Range", "bytes=0-9" },
		                    { "x-amz-content-sha256", EMPTY_SHA256 },
		                    { "x-amz-date", S3_DATE } };
	s3_sigv4_input in = s3_input("GET", "/test.txt", "", h, 4, EMPTY_SHA256);
	coffer_buf creq = COFFER_BUF_INIT;
	ck_assert_int_eq(s3_sigv4_canonical_request(&in, &creq), 0);
	ck_assert_str_eq((const char *)creq.data,
	                 "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
	                 "x-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
	                 "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256);
	coffer_buf_free(&creq);
	coffer_buf sts = COFFER_BUF_INIT;
	ck_assert_int_eq(s3_sigv4_string_to_sign(&in, &sts), 0);
	ck_assert_str_eq((const char *)sts.data,
	                 "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
	                 "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	coffer_buf_free(&sts);
	expect_signature(&in, NULL, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}
END_TEST

START_TEST(s3_put_object)
{
	const char *body = "Welcome to Amazon S3.";
	char hash[65];
	coffer_http_sha256_hex(body, strlen(body), hash);
	ck_assert_str_eq(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	/* the key "test$file.text", encoded as the backend encodes keys */
	coffer_buf uri = COFFER_BUF_INIT;
	ck_assert_int_eq(coffer_http_bufprintf(&uri, "/"), 0);
	ck_assert_int_eq(coffer_http_urlencode("test$file.text", 14, 1, &uri), 0);
	ck_assert_str_eq((const char *)uri.data, "/test%24file.text");
	const s3_sigv4_pair h[] = { { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		                    { "Host", S3_HOST },
		                    { "x-amz-content-sha256", hash },
		                    { "x-amz-date", S3_DATE },
		                    { "x-amz-storage-class", "REDUCED_REDUNDANCY" } };
	s3_sigv4_input in = s3_input("PUT", (const char *)uri.data, "", h, 5, hash);
	expect_signature(&in, "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
	                 "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	coffer_buf_free(&uri);
}
END_TEST

START_TEST(s3_get_bucket_lifecycle)
{
	const s3_sigv4_pair q[] = { { "lifecycle", NULL } };
	coffer_buf query = COFFER_BUF_INIT;
	ck_assert_int_eq(s3_sigv4_query(q, 1, &query), 0);
	ck_assert_str_eq((const char *)query.data, "lifecycle=");
	const s3_sigv4_pair h[] = { { "Host", S3_HOST },
		                    { "x-amz-content-sha256", EMPTY_SHA256 },
		                    { "x-amz-date", S3_DATE } };
	s3_sigv4_input in = s3_input("GET", "/", (const char *)query.data, h, 3, EMPTY_SHA256);
	expect_signature(&in, "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
	                 "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	coffer_buf_free(&query);
}
END_TEST

START_TEST(s3_list_objects)
{
	const s3_sigv4_pair q[] = { { "prefix", "J" }, { "max-keys", "2" } };
	coffer_buf query = COFFER_BUF_INIT;
	ck_assert_int_eq(s3_sigv4_query(q, 2, &query), 0);
	ck_assert_str_eq((const char *)query.data, "max-keys=2&prefix=J");
	const s3_sigv4_pair h[] = { { "Host", S3_HOST },
		                    { "x-amz-content-sha256", EMPTY_SHA256 },
		                    { "x-amz-date", S3_DATE } };
	s3_sigv4_input in = s3_input("GET", "/", (const char *)query.data, h, 3, EMPTY_SHA256);
	expect_signature(&in, NULL, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	coffer_buf_free(&query);
}
END_TEST

START_TEST(query_encoding)
{
	const s3_sigv4_pair q[] = { { "prefix", "a/b c+d%e~" }, { "continuation-token", "x=y&z" },
		                    { "list-type", "2" }, { "uploads", "" } };
	coffer_buf query = COFFER_BUF_INIT;
	ck_assert_int_eq(s3_sigv4_query(q, 4, &query), 0);
	ck_assert_str_eq((const char *)query.data,
	                 "continuation-token=x%3Dy%26z&list-type=2&prefix=a%2Fb%20c%2Bd%25e~&uploads=");
	coffer_buf_free(&query);
}
END_TEST

START_TEST(header_values_normalised)
{
	const s3_sigv4_pair h[] = { { "My-Header1", "  a   b   c  " },
		                    { "host", "example.amazonaws.com" },
		                    { "My-Header2", "\"a   b   c\"" },
		                    { "x-amz-date", SUITE_DATE },
		                    { "my-header1", "second" } };
	s3_sigv4_input in = suite_input("GET", "", h, 5);
	coffer_buf creq = COFFER_BUF_INIT;
	ck_assert_int_eq(s3_sigv4_canonical_request(&in, &creq), 0);
	ck_assert_str_eq((const char *)creq.data,
	                 "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:a b c,second\n"
	                 "my-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n"
	                 "host;my-header1;my-header2;x-amz-date\n" EMPTY_SHA256);
	coffer_buf_free(&creq);
}
END_TEST

START_TEST(bad_input_refused)
{
	const s3_sigv4_pair h[] = { { "host", "example.amazonaws.com" } };
	s3_sigv4_input in = suite_input("GET", "", h, 1);
	in.amz_date = "2015-08-30";
	coffer_buf out = COFFER_BUF_INIT;
	char sig[65];
	ck_assert_int_eq(s3_sigv4_authorization(&in, &out, sig), COFFER_EINVALID);
	in.amz_date = SUITE_DATE;
	in.header_count = S3_SIGV4_MAX_HEADERS + 1;
	ck_assert_int_eq(s3_sigv4_canonical_request(&in, &out), COFFER_EINVALID);
	coffer_buf_free(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3 sigv4");
	TCase *tc = tcase_create("vectors");
	tcase_add_test(tc, suite_get_vanilla);
	tcase_add_test(tc, suite_get_vanilla_query_order_key_case);
	tcase_add_test(tc, suite_post_vanilla);
	tcase_add_test(tc, s3_get_object_range);
	tcase_add_test(tc, s3_put_object);
	tcase_add_test(tc, s3_get_bucket_lifecycle);
	tcase_add_test(tc, s3_list_objects);
	tcase_add_test(tc, query_encoding);
	tcase_add_test(tc, header_values_normalised);
	tcase_add_test(tc, bad_input_refused);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
