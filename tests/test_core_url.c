/* The repository URL parser. */
#include "config.h"

#include "testlib.h"

static coffer_url *parse_ok(const char *text)
{
	coffer_url *url = NULL;
	int rc = coffer_url_parse(&url, text);
	ck_assert_msg(rc == 0, "%s: %s", text, coffer_error_last()->message);
	return url;
}

static void parse_bad(const char *text, const char *needle)
{
	coffer_url *url = (coffer_url *)1;
	int rc = coffer_url_parse(&url, text);
	ck_assert_msg(rc == COFFER_EINVALID, "'%s' should be refused, got %d", text, rc);
	ck_assert_ptr_null(url);
	ck_assert_msg(strstr(coffer_error_last()->message, needle) != NULL, "'%s': message '%s' lacks '%s'",
	              text, coffer_error_last()->message, needle);
}

START_TEST(filesystem_url)
{
	coffer_url *u = parse_ok("filesystem:///srv/backup/repo");
	ck_assert_str_eq(u->scheme, "filesystem");
	ck_assert_str_eq(u->host, "");
	ck_assert_str_eq(u->path, "/srv/backup/repo");
	ck_assert_ptr_null(u->query);
	ck_assert_str_eq(u->text, "filesystem:///srv/backup/repo");
	coffer_url_free(u);
}
END_TEST

START_TEST(bucket_urls)
{
	coffer_url *u = parse_ok("S3://my-bucket/some/prefix?region=eu");
	ck_assert_str_eq(u->scheme, "s3");
	ck_assert_str_eq(u->host, "my-bucket");
	ck_assert_str_eq(u->path, "/some/prefix");
	ck_assert_str_eq(u->query, "region=eu");
	coffer_url_free(u);
	u = parse_ok("gs://b");
	ck_assert_str_eq(u->host, "b");
	ck_assert_str_eq(u->path, "");
	coffer_url_free(u);
	u = parse_ok("azure://container/a%20b%2Fc");
	ck_assert_str_eq(u->path, "/a b/c");
	coffer_url_free(u);
	u = parse_ok("x-y.z+w://h");
	ck_assert_str_eq(u->scheme, "x-y.z+w");
	coffer_url_free(u);
}
END_TEST

START_TEST(bad_urls)
{
	parse_bad("", "empty");
	parse_bad("/srv/repo", "scheme");
	parse_bad("1s3://b", "scheme");
	parse_bad("s3:/bucket", "://");
	parse_bad("s3bucket", "://");
	parse_bad("s3://b/%zz", "escape");
	parse_bad("s3://b/%4", "escape");
	parse_bad("s3://b/%", "escape");
	parse_bad("s3://b/a%00b", "%00");
	parse_bad("s3://b/a\nb", "control");
	parse_bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa://x", "32");
}
END_TEST

START_TEST(length_bounded)
{
	coffer_url *u = NULL;
	const char text[] = "filesystem:///a/bGARBAGE";
	ck_assert_coffer_ok(coffer_url_parse_n(&u, text, strlen("filesystem:///a/b")));
	ck_assert_str_eq(u->path, "/a/b");
	coffer_url_free(u);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core-url");
	TCase *tc = tcase_create("url");
	tcase_add_test(tc, filesystem_url);
	tcase_add_test(tc, bucket_urls);
	tcase_add_test(tc, bad_urls);
	tcase_add_test(tc, length_bounded);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
