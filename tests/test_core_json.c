/* The JSON writer: structure, escaping, invalid UTF-8. */
#include "config.h"

#include <coffer/json.h>

#include "testlib.h"

static char *render(void (*fn)(coffer_json *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	coffer_json j;
	coffer_json_init(&j, f, 0);
	fn(&j);
	fclose(f);
	return buf;
}

static void doc(coffer_json *j)
{
	coffer_json_object_begin(j);
	coffer_json_key(j, "a");
	coffer_json_int(j, -5);
	coffer_json_key(j, "list");
	coffer_json_array_begin(j);
	coffer_json_string(j, "x\"y\\z\n");
	coffer_json_bool(j, 1);
	coffer_json_null(j);
	coffer_json_array_end(j);
	coffer_json_key(j, "empty");
	coffer_json_object_begin(j);
	coffer_json_object_end(j);
	coffer_json_key(j, "u");
	coffer_json_uint(j, 18446744073709551615ull);
	coffer_json_object_end(j);
}

static void bytes(coffer_json *j)
{
	coffer_json_string(j, "caf\xc3\xa9 \xff\x01 \xe6\x97\xa5");
}

START_TEST(structure)
{
	char *s = render(doc);
	ck_assert_str_eq(s, "{\"a\":-5,\"list\":[\"x\\\"y\\\\z\\n\",true,null],\"empty\":{},"
	                    "\"u\":18446744073709551615}");
	free(s);
}
END_TEST

START_TEST(utf8)
{
	char *s = render(bytes);
	ck_assert_str_eq(s, "\"caf\xc3\xa9 \\u00ff\\u0001 \xe6\x97\xa5\"");
	free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core-json");
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, structure);
	tcase_add_test(tc, utf8);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
