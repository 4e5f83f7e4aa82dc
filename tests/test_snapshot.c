/* Restore selection (VolSync restoreAsOf / previous / shallow) over a snapshot list, and the
 * RFC 3339 parser and formatter. No repository needed. */
#include "config.h"

#include <stdint.h>

#include "testlib.h"
#include "../core/src/tree.h"

#define S 1000000000LL

/* ---------------------------------------------------------------- selection */

/* Ten snapshots, newest first, started at 10000 s, 9000 s, ..., 1000 s. */
static coffer_snapshot_info infos[10];

static void setup_infos(void)
{
	memset(infos, 0, sizeof(infos));
	for (size_t i = 0; i < 10; i++) {
		snprintf(infos[i].id, sizeof(infos[i].id), "%032zx", 10 - i);
		infos[i].start_time_ns = (int64_t)(10 - i) * 1000 * S;
	}
}

typedef struct select_case {
	const char *what;
	int64_t as_of_ns;
	unsigned int previous, shallow;
	long expected;          /* index into infos, or -1 for "no eligible snapshot" */
	const char *message;    /* for -1: part of the message */
} select_case;

static const select_case select_cases[] = {
	{ "newest by default", 0, 0, 0, 0, NULL },
	{ "previous 1", 0, 1, 0, 1, NULL },
	{ "previous 9 is the oldest", 0, 9, 0, 9, NULL },
	{ "previous equal to the count", 0, 10, 0, -1, "previous=10 needs at least 11" },
	{ "previous far beyond the count (e2e 9999)", 0, 9999, 0, -1, "found 10 eligible of 10" },
	{ "as_of before all", 999 * S, 0, 0, -1, "none of the 10 snapshots" },
	{ "as_of negative (before 1970)", -5 * S, 0, 0, -1, "none of the 10 snapshots" },
	{ "as_of after all", 20000 * S, 0, 0, 0, NULL },
	{ "as_of exactly a start time is inclusive", 5000 * S, 0, 0, 5, NULL },
	{ "as_of one ns before a start time", 5000 * S - 1, 0, 0, 6, NULL },
	{ "as_of between", 5500 * S, 0, 0, 5, NULL },
	{ "as_of between, previous 2", 5500 * S, 2, 0, 7, NULL },
	{ "as_of between, previous 4 is the oldest", 5500 * S, 4, 0, 9, NULL },
	{ "as_of between, previous beyond what is left", 5500 * S, 5, 0, -1,
	  "found 5 eligible of 10: started at or before 1970-01-01T01:31:40Z" },
	{ "shallow 3", 0, 0, 3, 0, NULL },
	{ "shallow 3, previous 2", 0, 2, 3, 2, NULL },
	{ "shallow smaller than previous", 0, 3, 3, -1, "among the 3 newest" },
	{ "shallow 1, previous 1", 0, 1, 1, -1, "found 1 eligible of 10: among the 1 newest" },
	{ "shallow larger than the count", 0, 9, 9999, 9, NULL },
	{ "shallow (e2e 9999) alone restores the newest", 0, 0, 9999, 0, NULL },
	{ "as_of, shallow counts from the first before as_of", 7500 * S, 1, 2, 4, NULL },
	{ "as_of, shallow 2, previous 2 is outside", 7500 * S, 2, 2, -1,
	  "started at or before 1970-01-01T02:05:00Z, among the 2 newest" },
	{ "as_of, shallow reaching past the oldest", 2500 * S, 1, 5, 9, NULL },
	{ "as_of, shallow, previous past the oldest", 2500 * S, 2, 5, -1, "found 2 eligible of 10" },
	{ "as_of before all with shallow and previous", 1 * S, 0, 5, -1, "none of the 10 snapshots" },
};

START_TEST(selection_table)
{
	const select_case *c = &select_cases[_i];
	coffer_selection sel = { "rs@ns:/data", c->as_of_ns, c->previous, c->shallow };
	size_t index = 12345;
	int rc;

	setup_infos();
	coffer_error_clear();
	rc = coffer_snapshot_select_index(infos, 10, &sel, &index);
	if (c->expected >= 0) {
		ck_assert_msg(rc == 0, "%s: rc %d (%s)", c->what, rc, coffer_error_last()->message);
		ck_assert_msg(index == (size_t)c->expected, "%s: picked %zu, expected %ld", c->what, index, c->expected);
	} else {
		ck_assert_msg(rc == COFFER_ENOTFOUND, "%s: rc %d, index %zu", c->what, rc, index);
		const char *msg = coffer_error_last()->message;
		ck_assert_msg(strncmp(msg, "no eligible snapshot", 20) == 0, "%s: message \"%s\"", c->what, msg);
		ck_assert_msg(strstr(msg, c->message), "%s: message \"%s\" lacks \"%s\"", c->what, msg, c->message);
		ck_assert_msg(strstr(msg, "rs@ns:/data"), "%s: message \"%s\" lacks the source", c->what, msg);
		ck_assert_uint_eq(index, 12345);
	}
}
END_TEST

START_TEST(selection_from_nothing)
{
	coffer_selection sel = { "a@b:/c", 0, 0, 0 };
	size_t index = 7;

	ck_assert_int_eq(coffer_snapshot_select_index(NULL, 0, &sel, &index), COFFER_ENOTFOUND);
	ck_assert_str_eq(coffer_error_last()->message, "no eligible snapshot: a@b:/c has no snapshots");
	sel.as_of_ns = 5;
	sel.previous = 3;
	ck_assert_int_eq(coffer_snapshot_select_index(NULL, 0, &sel, &index), COFFER_ENOTFOUND);
	ck_assert_str_eq(coffer_error_last()->message, "no eligible snapshot: a@b:/c has no snapshots");
	ck_assert_uint_eq(index, 7);
}
END_TEST

/* Same start time: the list order (id) decides, and previous steps through them. */
START_TEST(selection_with_equal_start_times)
{
	coffer_selection sel = { "a@b:/c", 5000 * S, 1, 0 };
	size_t index;

	setup_infos();
	infos[6].start_time_ns = infos[5].start_time_ns;
	ck_assert_coffer_ok(coffer_snapshot_select_index(infos, 10, &sel, &index));
	ck_assert_uint_eq(index, 6);
}
END_TEST

/* ---------------------------------------------------------------- RFC 3339 */

typedef struct time_case {
	const char *text;
	int64_t ns;
} time_case;

static const time_case good_times[] = {
	{ "2024-01-02T03:04:05Z", 1704164645 * S },
	{ "2024-01-02t03:04:05z", 1704164645 * S },
	{ "2024-01-02T03:04:05.5Z", 1704164645 * S + 500000000 },
	{ "2024-01-02T03:04:05.123456789Z", 1704164645 * S + 123456789 },
	{ "2024-01-02T03:04:05.000000001Z", 1704164645 * S + 1 },
	{ "2024-01-02T03:04:05.1234567899999Z", 1704164645 * S + 123456789 },
	{ "2024-01-02T08:34:05+05:30", 1704164645 * S },
	{ "2024-01-01T19:04:05-08:00", 1704164645 * S },
	{ "2024-01-02T03:04:05+00:00", 1704164645 * S },
	{ "2024-01-02T03:04:05-00:00", 1704164645 * S },
	{ "2024-01-02T03:04:05.25+01:00", 1704161045 * S + 250000000 },
	{ "1980-08-10T23:59:59-04:00", 334814399 * S },
	{ "1970-01-01T00:00:00Z", 0 },
	{ "1969-12-31T23:59:59.999999999Z", -1 },
	{ "1969-12-31T23:59:59Z", -S },
	{ "2000-02-29T12:00:00Z", 951825600 * S },
	{ "2016-12-31T23:59:60Z", 1483228800 * S },  /* leap second: the next instant */
	{ "2262-04-11T23:47:16.854775807Z", INT64_MAX },
	{ "1677-09-21T00:12:43.145224192Z", INT64_MIN },
	{ "2024-02-29T23:59:59+23:59", 1709251199 * S - 86340 * S },
};

START_TEST(parses_rfc3339)
{
	const time_case *c = &good_times[_i];
	int64_t ns = 42;

	ck_assert_msg(coffer_time_parse_rfc3339(c->text, &ns) == 0, "%s: %s", c->text, coffer_error_last()->message);
	ck_assert_msg(ns == c->ns, "%s: %lld, expected %lld", c->text, (long long)ns, (long long)c->ns);
}
END_TEST

typedef struct bad_time_case {
	const char *text;
	const char *why;
} bad_time_case;

static const bad_time_case bad_times[] = {
	{ "", "YYYY-MM-DD" },
	{ "now", "YYYY-MM-DD" },
	{ "2024-01-02", "separated by 'T'" },
	{ "2024-01-02 03:04:05Z", "separated by 'T'" },
	{ "2024-1-02T03:04:05Z", "YYYY-MM-DD" },
	{ "24-01-02T03:04:05Z", "YYYY-MM-DD" },
	{ "+2024-01-02T03:04:05Z", "YYYY-MM-DD" },
	{ " 2024-01-02T03:04:05Z", "YYYY-MM-DD" },
	{ "2024-01-02T03:04Z", "hh:mm:ss" },
	{ "2024-01-02T3:04:05Z", "hh:mm:ss" },
	{ "2024-01-02T03:04:05", "missing time zone" },
	{ "2024-01-02T03:04:05UTC", "missing time zone" },
	{ "2024-01-02T03:04:05+0530", "+hh:mm" },
	{ "2024-01-02T03:04:05+05", "+hh:mm" },
	{ "2024-01-02T03:04:05+24:00", "offset out of range" },
	{ "2024-01-02T03:04:05+05:60", "offset out of range" },
	{ "2024-01-02T03:04:05.Z", "no digits after the decimal point" },
	{ "2024-01-02T03:04:05,5Z", "missing time zone" },
	{ "2024-01-02T03:04:05Z ", "unexpected text" },
	{ "2024-01-02T03:04:05Zjunk", "unexpected text" },
	{ "2024-13-01T00:00:00Z", "month out of range" },
	{ "2024-00-01T00:00:00Z", "month out of range" },
	{ "2024-01-00T00:00:00Z", "day out of range" },
	{ "2024-01-32T00:00:00Z", "day out of range" },
	{ "2023-02-29T00:00:00Z", "day out of range" },
	{ "2100-02-29T00:00:00Z", "day out of range" },
	{ "2024-04-31T00:00:00Z", "day out of range" },
	{ "2024-01-02T24:00:00Z", "hour or minute" },
	{ "2024-01-02T23:60:00Z", "hour or minute" },
	{ "2024-01-02T23:59:61Z", "second out of range" },
	{ "2262-04-11T23:47:16.854775808Z", "representable range" },
	{ "2262-04-12T00:00:00Z", "representable range" },
	{ "1677-09-21T00:12:43.145224191Z", "representable range" },
	{ "0000-01-01T00:00:00Z", "representable range" },
	{ "9999-12-31T23:59:59Z", "representable range" },
};

START_TEST(rejects_bad_times)
{
	const bad_time_case *c = &bad_times[_i];
	int64_t ns = 42;

	ck_assert_msg(coffer_time_parse_rfc3339(c->text, &ns) == COFFER_EINVALID, "accepted \"%s\"", c->text);
	const char *msg = coffer_error_last()->message;
	ck_assert_msg(strstr(msg, c->why), "\"%s\": message \"%s\" lacks \"%s\"", c->text, msg, c->why);
	ck_assert_ptr_nonnull(strstr(msg, "invalid time \""));
	ck_assert(ns == 42);
}
END_TEST

START_TEST(rejects_null)
{
	int64_t ns;
	ck_assert_int_eq(coffer_time_parse_rfc3339(NULL, &ns), COFFER_EINVALID);
}
END_TEST

START_TEST(formats_utc_exactly)
{
	static const time_case cases[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1969-12-31T23:59:59.999999999Z", -1 },
		{ "1969-12-31T23:59:59Z", -S },
		{ "2024-01-02T03:04:05Z", 1704164645 * S },
		{ "2024-01-02T03:04:05.5Z", 1704164645 * S + 500000000 },
		{ "2024-01-02T03:04:05.00000001Z", 1704164645 * S + 10 },
		{ "2262-04-11T23:47:16.854775807Z", INT64_MAX },
		{ "1677-09-21T00:12:43.145224192Z", INT64_MIN },
		{ "2000-02-29T12:00:00Z", 951825600 * S },
	};
	char out[40];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		coffer_time_format_rfc3339(cases[i].ns, out);
		ck_assert_str_eq(out, cases[i].text);
	}
}
END_TEST

/* parse(format(t)) == t: a time copied from a listing selects that very snapshot. */
START_TEST(format_then_parse_is_exact)
{
	uint64_t state = 0x9e3779b97f4a7c15ull;
	char out[40];

	for (int i = 0; i < 200000; i++) {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		int64_t ns = (int64_t)state;
		if (i % 4 == 1)
			ns -= ns % S;  /* whole seconds */
		else if (i % 4 == 2)
			ns %= 4000000000LL * S;  /* around the epoch */
		int64_t back = 0;
		coffer_time_format_rfc3339(ns, out);
		ck_assert_msg(coffer_time_parse_rfc3339(out, &back) == 0, "%s: %s", out, coffer_error_last()->message);
		ck_assert_msg(back == ns, "%lld -> %s -> %lld", (long long)ns, out, (long long)back);
	}
}
END_TEST

static Suite *snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("select");
	tcase_add_loop_test(tc, selection_table, 0, (int)(sizeof(select_cases) / sizeof(select_cases[0])));
	tcase_add_test(tc, selection_from_nothing);
	tcase_add_test(tc, selection_with_equal_start_times);
	suite_add_tcase(s, tc);
	tc = tcase_create("time");
	tcase_add_loop_test(tc, parses_rfc3339, 0, (int)(sizeof(good_times) / sizeof(good_times[0])));
	tcase_add_loop_test(tc, rejects_bad_times, 0, (int)(sizeof(bad_times) / sizeof(bad_times[0])));
	tcase_add_test(tc, rejects_null);
	tcase_add_test(tc, formats_utc_exactly);
	tcase_add_test(tc, format_then_parse_is_exact);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(snapshot_suite());
}
