/* Site configuration: parsing, lookups, per-plugin key checking. */
#include "config.h"

#include "testlib.h"

static const char site[] =
	"state_dir = \"/var/lib/coffer\";\n"
	"concurrency = 4;\n"
	"debug = true;\n"
	"volumes = { data-pvc = \"/srv/data\"; other = \"/srv/other\"; };\n"
	"plugins = {\n"
	"  backend-s3 = { endpoint = \"http://127.0.0.1:9000\"; retries = 5; };\n"
	"};\n";

START_TEST(lookups)
{
	coffer_config *cfg;
	ck_assert_coffer_ok(coffer_config_parse(&cfg, site, "site.conf"));
	const char *s;
	long long n;
	int b;
	ck_assert_coffer_ok(coffer_config_string(cfg, "state_dir", &s));
	ck_assert_str_eq(s, "/var/lib/coffer");
	ck_assert_coffer_ok(coffer_config_int(cfg, "concurrency", &n));
	ck_assert_int_eq(n, 4);
	ck_assert_coffer_ok(coffer_config_bool(cfg, "debug", &b));
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(coffer_config_string(cfg, "missing", &s), COFFER_ENOTFOUND);
	ck_assert_int_eq(coffer_config_int(cfg, "state_dir", &n), COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, ":1"));

	const coffer_config *vols;
	ck_assert_coffer_ok(coffer_config_group(cfg, "volumes", &vols));
	ck_assert_int_eq(coffer_config_count(vols), 2);
	ck_assert_str_eq(coffer_config_member_name(vols, 0), "data-pvc");
	ck_assert_str_eq(coffer_config_member_string(vols, 0), "/srv/data");
	ck_assert_str_eq(coffer_config_member_name(vols, 1), "other");

	const coffer_config *again;
	ck_assert_coffer_ok(coffer_config_group(cfg, "volumes", &again));
	ck_assert_ptr_eq(vols, again);
	const coffer_config *absent;
	ck_assert_coffer_ok(coffer_config_group(cfg, "nothing", &absent));
	ck_assert_ptr_null(absent);
	ck_assert_int_eq(coffer_config_group(cfg, "state_dir", &absent), COFFER_EINVALID);
	coffer_config_free(cfg);
}
END_TEST

START_TEST(check_keys)
{
	coffer_config *cfg;
	ck_assert_coffer_ok(coffer_config_parse(&cfg, site, "site.conf"));
	const coffer_config *plugins, *s3;
	ck_assert_coffer_ok(coffer_config_group(cfg, "plugins", &plugins));
	ck_assert_coffer_ok(coffer_config_group(plugins, "backend-s3", &s3));
	static const coffer_option full[] = {
		{ "endpoint", COFFER_OPT_STRING, "" }, { "retries", COFFER_OPT_INT, "" }, { NULL, 0, NULL } };
	ck_assert_coffer_ok(coffer_config_check(s3, full, "backend-s3"));
	static const coffer_option partial[] = { { "endpoint", COFFER_OPT_STRING, "" }, { NULL, 0, NULL } };
	ck_assert_int_eq(coffer_config_check(s3, partial, "backend-s3"), COFFER_EINVALID);
	const char *msg = coffer_error_last()->message;
	ck_assert_ptr_nonnull(strstr(msg, "unknown key 'retries'"));
	ck_assert_ptr_nonnull(strstr(msg, "backend-s3"));
	ck_assert_ptr_nonnull(strstr(msg, "site.conf:6") ? msg : strstr(msg, ":6"));
	static const coffer_option wrong_type[] = {
		{ "endpoint", COFFER_OPT_INT, "" }, { "retries", COFFER_OPT_INT, "" }, { NULL, 0, NULL } };
	ck_assert_int_eq(coffer_config_check(s3, wrong_type, "backend-s3"), COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "must be an integer"));
	coffer_config_free(cfg);
}
END_TEST

START_TEST(syntax_errors_name_line)
{
	coffer_config *cfg = NULL;
	ck_assert_int_eq(coffer_config_parse(&cfg, "a = 1;\nb = ;\n", "bad.conf"), COFFER_EINVALID);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "bad.conf:2"));
	ck_assert_int_eq(coffer_config_load(&cfg, "/nonexistent/coffer.conf"), COFFER_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "/nonexistent/coffer.conf"));
}
END_TEST

START_TEST(load_file)
{
	char *dir = test_tmpdir("config");
	char path[4200];
	snprintf(path, sizeof(path), "%s/site.conf", dir);
	FILE *f = fopen(path, "w");
	fputs(site, f);
	fclose(f);
	coffer_config *cfg;
	ck_assert_coffer_ok(coffer_config_load(&cfg, path));
	ck_assert_ptr_nonnull(strstr(coffer_config_where(cfg), "site.conf"));
	coffer_config_free(cfg);
	test_rmtree(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core-config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, lookups);
	tcase_add_test(tc, check_keys);
	tcase_add_test(tc, syntax_errors_name_line);
	tcase_add_test(tc, load_file);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
