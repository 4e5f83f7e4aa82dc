/* backend-azure's pure parts: the Shared Key string-to-sign and signature, checked against
 * Microsoft's documented format ("Authorize with Shared Key": the header order, the
 * Content-Length rule, canonicalized headers and resource) with signatures computed
 * independently by `openssl dgst -sha256 -mac HMAC`; and the List Blobs / Error parsers. */
#include "config.h"

#include "testlib.h"

#include "../plugins/backend-azure/azure.h"

/* Azurite's well-known development key (public, documented by Microsoft). */
static const char dev_key_b64[] =
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

static void check_signature(const char *account, const char *sts, const char *want)
{
	coffer_buf key = COFFER_BUF_INIT, auth = COFFER_BUF_INIT;
	ck_assert_int_eq(coffer_http_base64_decode(dev_key_b64, strlen(dev_key_b64), &key), 0);
	ck_assert_int_eq(key.len, 64);
	ck_assert_int_eq(azure_sharedkey_authorization(account, key.data, key.len, sts, strlen(sts),
	                                               &auth), 0);
	ck_assert_str_eq((const char *)auth.data, want);
	coffer_buf_free(&key);
	coffer_buf_free(&auth);
}

static char *string_to_sign(const char *method, const char *account, const char *url,
                            size_t content_length, const char *const *lines)
{
	coffer_http_headers h = COFFER_HTTP_HEADERS_INIT;
	for (; *lines; lines += 2)
		ck_assert_int_eq(coffer_http_headers_add(&h, lines[0], "%s", lines[1]), 0);
	coffer_buf out = COFFER_BUF_INIT;
	ck_assert_int_eq(azure_sharedkey_string_to_sign(method, account, url, content_length, &h, &out),
	                 0);
	coffer_http_headers_free(&h);
	return (char *)out.data;
}

/* The documentation's Get Container Metadata example, path-style as the emulator is
 * addressed: the canonicalized resource names the account twice. */
START_TEST(documented_get_container_metadata)
{
	static const char *const headers[] = {
		"x-ms-version", "2009-09-19",
		"x-ms-date", "Sun, 11 Oct 2009 21:49:13 GMT",
		NULL,
	};
	char *sts = string_to_sign("GET", "myaccount",
	                           "http://127.0.0.1:10000/myaccount/mycontainer"
	                           "?restype=container&comp=metadata&timeout=20", 0, headers);
	ck_assert_str_eq(sts, "GET\n\n\n\n\n\n\n\n\n\n\n\n"
	                      "x-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\n"
	                      "x-ms-version:2009-09-19\n"
	                      "/myaccount/myaccount/mycontainer\n"
	                      "comp:metadata\nrestype:container\ntimeout:20");
	check_signature("myaccount", sts, "SharedKey myaccount:Su5rvibNeMxB7A4I87rOtEgCDtdICsL8v5H+yJs0W+M=");
	coffer_free(sts);
}
END_TEST

/* Every standard header in its slot, Content-Length as a number, x-ms-* names lower-cased,
 * sorted and values folded, the encoded path kept encoded and query values decoded,
 * unrelated headers (Authorization, User-Agent) left out. */
START_TEST(put_block_all_fields)
{
	static const char *const headers[] = {
		"X-MS-Version", "2009-09-19",
		"Content-Type", "text/plain; charset=UTF-8",
		"Authorization", "SharedKey stale",
		"If-None-Match", "*",
		"Range", "bytes=0-10",
		"x-ms-meta-a", "  b    c  ",
		"User-Agent", "coffer",
		"x-ms-date", "Sun, 11 Oct 2009 21:49:13 GMT",
		"x-ms-blob-type", "BlockBlob",
		NULL,
	};
	char *sts = string_to_sign("PUT", "myaccount",
	                           "https://myaccount.blob.core.windows.net/mycontainer/dir/"
	                           "h%C3%A9llo%20world.txt?comp=block&blockid=YWJj%2F%2B%3D%3D",
	                           11, headers);
	ck_assert_str_eq(sts, "PUT\n\n\n11\n\ntext/plain; charset=UTF-8\n\n\n\n*\n\nbytes=0-10\n"
	                      "x-ms-blob-type:BlockBlob\n"
	                      "x-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\n"
	                      "x-ms-meta-a:b c\n"
	                      "x-ms-version:2009-09-19\n"
	                      "/myaccount/mycontainer/dir/h%C3%A9llo%20world.txt\n"
	                      "blockid:YWJj/+==\ncomp:block");
	check_signature("myaccount", sts, "SharedKey myaccount:DkSNNJfliJhhwQ/ZAMaJ8JTldTa8vGYQD94xHQg1QbM=");
	coffer_free(sts);
}
END_TEST

/* The documentation's canonicalized-resource examples: repeated parameters become one
 * line with sorted values; a URL without a path is "/account/". */
START_TEST(documented_canonical_resources)
{
	static const char *const none[] = { NULL };
	char *sts = string_to_sign("GET", "myaccount",
	                           "https://myaccount.blob.core.windows.net/mycontainer?restype=container"
	                           "&comp=list&include=snapshots&include=metadata&include=uncommittedblobs",
	                           0, none);
	const char *want = "\n/myaccount/mycontainer\ncomp:list\n"
	                   "include:metadata,snapshots,uncommittedblobs\nrestype:container";
	ck_assert_msg(strlen(sts) > strlen(want) && strcmp(sts + strlen(sts) - strlen(want), want) == 0,
	              "got %s", sts);
	coffer_free(sts);
	sts = string_to_sign("GET", "myaccount", "https://myaccount.blob.core.windows.net?comp=list", 0,
	                     none);
	ck_assert_str_eq(sts, "GET\n\n\n\n\n\n\n\n\n\n\n\n/myaccount/\ncomp:list");
	coffer_free(sts);
	/* A query value with an encoded '&' and '=' stays one parameter. */
	sts = string_to_sign("GET", "a", "http://h/a/c?restype=container&comp=list&prefix=x%26y%3Dz&marker=",
	                     0, none);
	ck_assert_str_eq(sts, "GET\n\n\n\n\n\n\n\n\n\n\n\n/a/a/c\ncomp:list\nmarker:\nprefix:x&y=z\n"
	                      "restype:container");
	coffer_free(sts);
}
END_TEST

START_TEST(listing_pages)
{
	static const char doc[] =
		"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>"
		"<EnumerationResults ServiceEndpoint=\"http://x/\" ContainerName=\"c\">"
		"<Prefix>p/</Prefix><MaxResults>2</MaxResults><Blobs>"
		"<Blob><Name>p/a &amp; b</Name><Properties><Last-Modified>Sun, 06 Nov 1994 08:49:37 GMT"
		"</Last-Modified><Content-Length>12</Content-Length><BlobType>BlockBlob</BlobType>"
		"</Properties></Blob>"
		"<Blob><Name>p/\xc3\xbc</Name><Properties><Content-Length>0</Content-Length></Properties>"
		"<Metadata><Name>not the blob name</Name></Metadata></Blob>"
		"</Blobs><NextMarker>2!8!cC_8-</NextMarker></EnumerationResults>";
	azure_listing l;
	ck_assert_int_eq(azure_parse_listing(doc, sizeof(doc) - 1, &l), 0);
	ck_assert_uint_eq(l.count, 2);
	ck_assert_str_eq(l.blobs[0].name, "p/a & b");
	ck_assert_uint_eq(l.blobs[0].size, 12);
	ck_assert(l.blobs[0].mtime_ns == 784111777LL * 1000000000LL);
	ck_assert_str_eq(l.blobs[1].name, "p/\xc3\xbc");
	ck_assert_uint_eq(l.blobs[1].size, 0);
	ck_assert_str_eq(l.next_marker, "2!8!cC_8-");
	azure_listing_free(&l);

	static const char last[] = "<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>";
	ck_assert_int_eq(azure_parse_listing(last, sizeof(last) - 1, &l), 0);
	ck_assert_uint_eq(l.count, 0);
	ck_assert(!l.next_marker || !l.next_marker[0]);
	azure_listing_free(&l);

	static const char *const bad[] = {
		"<EnumerationResults><Blobs><Blob><Properties/></Blob></Blobs></EnumerationResults>",
		"<EnumerationResults><Blobs><Blob><Name>x</Name><Properties><Content-Length>-1"
		"</Content-Length></Properties></Blob></Blobs></EnumerationResults>",
		"<EnumerationResults><Blobs><Blob><Name>x</Name>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = azure_parse_listing(bad[i], strlen(bad[i]), &l);
		ck_assert_msg(rc == COFFER_ECORRUPT, "bad listing %zu gave %d", i, rc);
		ck_assert_uint_eq(l.count, 0);
	}
}
END_TEST

START_TEST(error_bodies)
{
	static const char doc[] =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code>"
		"<Message>Server failed to authenticate the request.\nRequestId:1\nTime:x</Message>"
		"<AuthenticationErrorDetail>The MAC signature found in the HTTP request 'c2VjcmV0' is "
		"not the same</AuthenticationErrorDetail></Error>";
	azure_error_body e;
	azure_parse_error(doc, sizeof(doc) - 1, &e);
	ck_assert_str_eq(e.code, "AuthenticationFailed");
	ck_assert_str_eq(e.message, "Server failed to authenticate the request.");
	azure_parse_error("<html>oops", 10, &e);
	ck_assert_str_eq(e.code, "");
	azure_parse_error(NULL, 0, &e);
	ck_assert_str_eq(e.message, "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backend-azure-sharedkey");
	TCase *tc = tcase_create("sharedkey");
	tcase_add_test(tc, documented_get_container_metadata);
	tcase_add_test(tc, put_block_all_fields);
	tcase_add_test(tc, documented_canonical_resources);
	tcase_add_test(tc, listing_pages);
	tcase_add_test(tc, error_bodies);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
