/* The controller's cron schedules: parsing, error messages, and the next run time, checked
 * against a table and against a minute-by-minute search. */
#include "config.h"

#include <time.h>

#include "testlib.h"

#include "ctl_cron.h"

static int64_t at(const char *rfc3339)
{
	int64_t ns;
	ck_assert_msg(coffer_time_parse_rfc3339(rfc3339, &ns) == 0, "bad test time %s", rfc3339);
	return ns / 1000000000LL;
}

static char *show(int64_t t, char buf[40])
{
	if (t < 0) {
		snprintf(buf, 40, "-1");
	} else {
		time_t tt = (time_t)t;
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(buf, 40, "%Y-%m-%dT%H:%M:%SZ %a", &tm);
	}
	return buf;
}

static ctl_cron parse_ok(const char *spec)
{
	ctl_cron c;
	char err[256] = "";
	ck_assert_msg(ctl_cron_parse(spec, &c, err, sizeof(err)) == 0, "'%s': %s", spec, err);
	return c;
}

static const struct {
	const char *spec, *after, *next; /* next NULL: none (-1) */
} next_cases[] = {
	/* the guide's example */
	{ "*/30 * * * *", "2024-01-01T00:00:00Z", "2024-01-01T00:30:00Z" },
	{ "*/30 * * * *", "2024-01-01T00:29:59Z", "2024-01-01T00:30:00Z" },
	{ "*/30 * * * *", "2024-01-01T00:30:00Z", "2024-01-01T01:00:00Z" },
	{ "*/30 * * * *", "2024-12-31T23:45:00Z", "2025-01-01T00:00:00Z" },
	{ "* * * * *", "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z" },
	{ "* * * * *", "2024-01-01T00:00:59Z", "2024-01-01T00:01:00Z" },
	{ "* * * * *", "1969-12-31T23:59:30Z", "1970-01-01T00:00:00Z" },
	/* month ends and leap years */
	{ "0 0 29 2 *", "2025-01-01T00:00:00Z", "2028-02-29T00:00:00Z" },
	{ "0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z" },
	{ "0 0 30 2 *", "2025-01-01T00:00:00Z", NULL },
	{ "0 0 31 2,4,6,9,11 *", "2025-01-01T00:00:00Z", NULL },
	{ "0 0 31 * *", "2024-04-01T00:00:00Z", "2024-05-31T00:00:00Z" },
	{ "0 0 * * *", "2024-02-28T12:00:00Z", "2024-02-29T00:00:00Z" },
	{ "0 0 * * *", "2023-02-28T12:00:00Z", "2023-03-01T00:00:00Z" },
	{ "0 0 * * *", "2100-02-28T12:00:00Z", "2100-03-01T00:00:00Z" },
	{ "59 23 31 12 *", "2024-12-31T23:59:00Z", "2025-12-31T23:59:00Z" },
	{ "0 0 1 1 *", "2024-12-31T23:59:59Z", "2025-01-01T00:00:00Z" },
	/* descriptors */
	{ "@hourly", "2024-01-01T10:15:00Z", "2024-01-01T11:00:00Z" },
	{ "@daily", "2024-01-01T10:15:00Z", "2024-01-02T00:00:00Z" },
	{ "@midnight", "2024-01-01T10:15:00Z", "2024-01-02T00:00:00Z" },
	{ "@weekly", "2024-01-01T10:00:00Z", "2024-01-07T00:00:00Z" },
	{ "@monthly", "2024-01-31T00:00:00Z", "2024-02-01T00:00:00Z" },
	{ "@yearly", "2024-06-01T00:00:00Z", "2025-01-01T00:00:00Z" },
	{ "@annually", "2024-06-01T00:00:00Z", "2025-01-01T00:00:00Z" },
	{ "  @Daily  ", "2024-01-01T10:15:00Z", "2024-01-02T00:00:00Z" },
	/* steps and ranges */
	{ "10-20/5 * * * *", "2024-01-01T00:16:00Z", "2024-01-01T00:20:00Z" },
	{ "10-20/5 * * * *", "2024-01-01T00:20:00Z", "2024-01-01T01:10:00Z" },
	{ "5/15 * * * *", "2024-01-01T00:50:00Z", "2024-01-01T01:05:00Z" },
	{ "0 9-17/4 * * *", "2024-01-01T13:00:00Z", "2024-01-01T17:00:00Z" },
	{ "0 9-17/4 * * *", "2024-01-01T17:00:00Z", "2024-01-02T09:00:00Z" },
	{ "0 22/5 * * *", "2024-01-01T12:00:00Z", "2024-01-01T22:00:00Z" },
	{ "0 0 1 */5 *", "2024-02-01T00:00:00Z", "2024-06-01T00:00:00Z" },
	/* names */
	{ "0 0 1 JAN,jul *", "2024-02-01T00:00:00Z", "2024-07-01T00:00:00Z" },
	{ "0 0 1 Mar-May *", "2024-06-01T00:00:00Z", "2025-03-01T00:00:00Z" },
	{ "0 8 * * MON-fri", "2024-01-05T09:00:00Z", "2024-01-08T08:00:00Z" },
	{ "0 0 * * 7", "2024-01-01T00:00:00Z", "2024-01-07T00:00:00Z" },
	{ "0 0 * * 5-7", "2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z" },
	{ "0 0 * * 6-7", "2024-01-06T00:00:00Z", "2024-01-07T00:00:00Z" },
	{ "30 2 * * SUN", "2024-01-07T02:30:30Z", "2024-01-14T02:30:00Z" },
	{ "0 0 ? * MON", "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z" },
	/* day-of-month and day-of-week: AND when either is '*', OR when both are restricted */
	{ "0 0 * * 1-5", "2024-01-05T01:00:00Z", "2024-01-08T00:00:00Z" },
	{ "0 12 13 * 5", "2024-10-12T00:00:00Z", "2024-10-13T12:00:00Z" },
	{ "0 12 13 * 5", "2024-10-13T13:00:00Z", "2024-10-18T12:00:00Z" },
	{ "0 0 */2 * 0", "2024-01-01T01:00:00Z", "2024-01-03T00:00:00Z" },
	{ "0 0 29 2 1", "2025-03-01T00:00:00Z", "2026-02-02T00:00:00Z" },
	{ "0 0 13 * */1", "2024-01-01T00:00:00Z", "2024-01-13T00:00:00Z" },
	{ "0 0 1,15 * *", "2024-01-02T00:00:00Z", "2024-01-15T00:00:00Z" },
	{ "0 0 30 * 3", "2024-02-01T00:00:00Z", "2024-02-07T00:00:00Z" },
};

START_TEST(next_table)
{
	const char *spec = next_cases[_i].spec;
	ctl_cron c = parse_ok(spec);
	int64_t after = at(next_cases[_i].after);
	int64_t want = next_cases[_i].next ? at(next_cases[_i].next) : -1;
	int64_t got = ctl_cron_next(&c, after);
	char a[40], b[40];
	ck_assert_msg(got == want, "'%s' after %s: got %s, want %s", spec, next_cases[_i].after, show(got, a),
	              show(want, b));
}
END_TEST

/* The obvious search, one minute at a time. */
static int64_t brute_next(const char *spec, int64_t after, int64_t limit)
{
	ctl_cron c = parse_ok(spec);
	for (int64_t t = (after / 60 + 1) * 60; t <= limit; t += 60) {
		time_t tt = (time_t)t;
		struct tm tm;
		gmtime_r(&tt, &tm);
		if (!((c.minutes >> tm.tm_min) & 1) || !((c.hours >> tm.tm_hour) & 1) || !((c.months >> (tm.tm_mon + 1)) & 1))
			continue;
		int dom = (c.days >> tm.tm_mday) & 1, dow = (c.weekdays >> tm.tm_wday) & 1;
		if ((c.days_star || c.weekdays_star) ? (dom && dow) : (dom || dow))
			return t;
	}
	return -1;
}

START_TEST(next_matches_brute_force)
{
	static const char *const specs[] = {
		"*/7 */5 * * *", "3,17 4-6 */9 * 2",  "0 0 13 * 5", "15 10 * 2-4 SAT,SUN", "0 0 31 * *",
		"*/13 3 1-7 * 1", "45 23 28-31 2 *", "0 */6 15 * */3", "20/20 1/11 5/9 6/2 *", "0 0 ? 11 4",
	};
	uint64_t seed = 12345;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		for (int k = 0; k < 4; k++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			int64_t after = 1700000000 + (int64_t)((seed >> 20) % (3 * 365 * 86400));
			int64_t limit = after + 400 * 86400;
			ctl_cron c = parse_ok(specs[i]);
			int64_t fast = ctl_cron_next(&c, after);
			int64_t slow = brute_next(specs[i], after, limit);
			char a[40], b[40];
			if (slow >= 0)
				ck_assert_msg(fast == slow, "'%s' after %lld: got %s, want %s", specs[i], (long long)after,
				              show(fast, a), show(slow, b));
			else
				ck_assert_msg(fast == -1 || fast > limit, "'%s' after %lld: got %s before %s", specs[i],
				              (long long)after, show(fast, a), show(limit, b));
		}
	}
}
END_TEST

START_TEST(parsed_bits)
{
	ctl_cron c = parse_ok("*/30 * * * *");
	ck_assert_uint_eq(c.minutes, ((uint64_t)1 << 0) | ((uint64_t)1 << 30));
	ck_assert_uint_eq(c.hours, 0xffffffu);
	ck_assert_uint_eq(c.days, 0xfffffffeu);
	ck_assert_uint_eq(c.months, 0x1ffeu);
	ck_assert_uint_eq(c.weekdays, 0x7fu);
	ck_assert_int_eq(c.days_star, 1);
	ck_assert_int_eq(c.weekdays_star, 1);

	c = parse_ok("0 0 */2 * 7");
	ck_assert_int_eq(c.days_star, 0); /* a step other than 1 restricts the field (robfig/cron) */
	ck_assert_uint_eq(c.weekdays, 1u); /* 7 is Sunday */
	ck_assert_int_eq(c.weekdays_star, 0);

	c = parse_ok("0 0 ? * */1");
	ck_assert_int_eq(c.days_star, 1);
	ck_assert_int_eq(c.weekdays_star, 1);

	c = parse_ok("0 0 1 * 3/2");
	ck_assert_uint_eq(c.weekdays, (1u << 3) | (1u << 5)); /* a/n runs to Saturday, not to 7 */

	c = parse_ok("0\t0\t1\tdec\tsat");
	ck_assert_uint_eq(c.months, 1u << 12);
	ck_assert_uint_eq(c.weekdays, 1u << 6);

	c = parse_ok("@weekly");
	ck_assert_uint_eq(c.minutes, 1);
	ck_assert_uint_eq(c.hours, 1);
	ck_assert_uint_eq(c.weekdays, 1);
	ck_assert_int_eq(c.days_star, 1);
	ck_assert_int_eq(c.weekdays_star, 0);
}
END_TEST

static const struct {
	const char *spec, *message;
} error_cases[] = {
	{ "", "the schedule is empty" },
	{ "   \t ", "the schedule is empty" },
	{ "0 24 * * *", "field 2 (hour): 24 is out of range 0-23" },
	{ "60 * * * *", "field 1 (minute): 60 is out of range 0-59" },
	{ "0 0 0 * *", "field 3 (day-of-month): 0 is out of range 1-31" },
	{ "0 0 32 * *", "field 3 (day-of-month): 32 is out of range 1-31" },
	{ "0 0 * 13 *", "field 4 (month): 13 is out of range 1-12" },
	{ "0 0 * * 8", "field 5 (day-of-week): 8 is out of range 0-7" },
	{ "0 0 1-40/2 * *", "field 3 (day-of-month): 40 is out of range 1-31" },
	{ "* * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 3" },
	{ "* * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6" },
	{ "0 0 * FOO *", "field 4 (month): \"FOO\" is not a number or month name (JAN-DEC)" },
	{ "0 0 * JANUARY *", "field 4 (month): \"JANUARY\" is not a number or month name (JAN-DEC)" },
	{ "0 0 * * MONDAY", "field 5 (day-of-week): \"MONDAY\" is not a number or day name (SUN-SAT)" },
	{ "0 MON * * *", "field 2 (hour): \"MON\" is not a number" },
	{ "a * * * *", "field 1 (minute): \"a\" is not a number" },
	{ "1a * * * *", "field 1 (minute): \"1a\" is not a number" },
	{ "*/0 * * * *", "field 1 (minute): the step must be at least 1" },
	{ "*/x * * * *", "field 1 (minute): the step \"x\" is not a number" },
	{ "*/ * * * *", "field 1 (minute): the step after '/' is missing in \"*/\"" },
	{ "5-1 * * * *", "field 1 (minute): the range \"5-1\" ends before it starts" },
	{ "1,,2 * * * *", "field 1 (minute): empty element in \"1,,2\"" },
	{ "1- * * * *", "field 1 (minute): a value is missing" },
	{ "-1 * * * *", "field 1 (minute): a value is missing" },
	{ "0 0 * * 1-2-3", "field 5 (day-of-week): \"2-3\" is not a number" },
	{ "99999999999999999999 * * * *", "field 1 (minute): 99999999999999999999 is out of range 0-59" },
	{ "@every 5m", "unknown descriptor \"@every\"" },
	{ "@daily 0", "unexpected text after @daily" },
	{ "@", "unknown descriptor \"@\"" },
};

START_TEST(errors)
{
	ctl_cron c;
	char err[256] = "";
	const char *spec = error_cases[_i].spec;
	ck_assert_msg(ctl_cron_parse(spec, &c, err, sizeof(err)) == -1, "'%s' should be refused", spec);
	ck_assert_msg(strncmp(err, error_cases[_i].message, strlen(error_cases[_i].message)) == 0,
	              "'%s': message '%s', want '%s'", spec, err, error_cases[_i].message);
}
END_TEST

START_TEST(small_error_buffer)
{
	ctl_cron c;
	char err[8];
	ck_assert_int_eq(ctl_cron_parse("0 24 * * *", &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "field 2");
	ck_assert_int_eq(ctl_cron_parse(NULL, &c, NULL, 0), -1);
}
END_TEST

START_TEST(far_times)
{
	ctl_cron c = parse_ok("* * * * *");
	ck_assert_int_eq(ctl_cron_next(&c, INT64_MAX), -1);
	ck_assert_int_eq(ctl_cron_next(&c, INT64_MIN), -1);
	ck_assert_int_eq(ctl_cron_next(&c, 253402214400LL), -1); /* 9999-12-31 */
	ck_assert_int_eq(ctl_cron_next(&c, 253402214400LL - 9LL * 366 * 86400), 253402214400LL - 9LL * 366 * 86400 + 60);
	ctl_cron empty;
	memset(&empty, 0, sizeof(empty));
	ck_assert_int_eq(ctl_cron_next(&empty, 0), -1);
	/* An impossible schedule answers quickly, not after a minute-by-minute walk. */
	c = parse_ok("59 23 31 2 *");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(ctl_cron_next(&c, 1700000000 + i * 86400), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(seconds < 2.0, "100 impossible schedules took %.2f s", seconds);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl_cron");
	TCase *tc = tcase_create("cron");
	tcase_add_loop_test(tc, next_table, 0, (int)(sizeof(next_cases) / sizeof(next_cases[0])));
	tcase_add_test(tc, next_matches_brute_force);
	tcase_add_test(tc, parsed_bits);
	tcase_add_loop_test(tc, errors, 0, (int)(sizeof(error_cases) / sizeof(error_cases[0])));
	tcase_add_test(tc, small_error_buffer);
	tcase_add_test(tc, far_times);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
