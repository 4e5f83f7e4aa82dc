/* The retention planner (coffer_retention_plan), table-driven: fixed UTC start times, every
 * rule alone and combined, ISO week and year boundaries, pins, incomplete snapshots, the
 * newest complete snapshot, several sources. Each table is also planned in reverse input
 * order: the answer may not depend on it. */
#include "config.h"

#include <coffer/retention.h>

#include "testlib.h"

#define A "app@host:/data"
#define B "db@host:/var/lib/db"

/* flags: "p" pinned, "i" incomplete. expect: "KEEP: reason, reason" or "EXPIRE: reason". */
typedef struct snap_row {
	const char *source, *time, *flags, *expect;
} snap_row;

typedef struct plan_case {
	const char *what;
	coffer_retention_policy policy;
	const snap_row *rows;
	size_t n;
} plan_case;

#define POLICY(l, h, d, w, m, y) { COFFER_RETENTION_POLICY_VERSION, l, h, d, w, m, y }
#define ROWS(r) r, sizeof(r) / sizeof(r[0])

static const snap_row latest_rows[] = {
	{ A, "2026-11-25T10:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T11:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T12:00:00Z", "", "KEEP: latest #3" },
	{ A, "2026-11-25T13:00:00Z", "", "KEEP: latest #2" },
	{ A, "2026-11-25T14:00:00Z", "", "KEEP: latest #1, newest complete snapshot" },
};

/* An hourly burst: the newest of each hour wins; hour 12 holds nothing, so it is not counted. */
static const snap_row hourly_rows[] = {
	{ A, "2026-11-25T10:05:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T10:20:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T10:59:59Z", "", "KEEP: hourly 2026-11-25T10" },
	{ A, "2026-11-25T11:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T11:30:00Z", "", "KEEP: hourly 2026-11-25T11" },
	{ A, "2026-11-25T13:59:00Z", "", "KEEP: hourly 2026-11-25T13, newest complete snapshot" },
};

/* Days with gaps: the 3 most recent days that have a snapshot, not the last 3 calendar days. */
static const snap_row daily_rows[] = {
	{ A, "2026-11-01T23:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-20T08:00:00Z", "", "KEEP: daily 2026-11-20" },
	{ A, "2026-11-24T23:59:59Z", "", "KEEP: daily 2026-11-24" },
	{ A, "2026-11-25T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T14:00:00Z", "", "KEEP: daily 2026-11-25, newest complete snapshot" },
};

/* ISO weeks across a year end: 2026 has 53 weeks; 2026-12-31 and 2027-01-01..03 are in
 * 2026-W53, 2026-12-27 (a Sunday) in W52, 2027-01-04 (a Monday) starts 2027-W01. */
static const snap_row weekly_rows[] = {
	{ A, "2026-12-20T12:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-12-27T23:59:59Z", "", "KEEP: weekly 2026-W52" },
	{ A, "2026-12-28T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-12-31T12:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-01-01T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-01-03T23:59:59Z", "", "KEEP: weekly 2026-W53" },
	{ A, "2027-01-04T00:00:00Z", "", "KEEP: weekly 2027-W01, newest complete snapshot" },
};

/* Weeks whose ISO year is not the calendar year: 2024-12-30 is 2025-W01, 2021-01-03 is 2020-W53. */
static const snap_row iso_year_rows[] = {
	{ A, "2020-12-31T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2021-01-03T10:00:00Z", "", "KEEP: weekly 2020-W53" },
	{ A, "2021-01-04T10:00:00Z", "", "KEEP: weekly 2021-W01" },
	{ A, "2024-12-29T10:00:00Z", "", "KEEP: weekly 2024-W52" },
	{ A, "2024-12-30T10:00:00Z", "", "KEEP: weekly 2025-W01, newest complete snapshot" },
};

static const snap_row monthly_rows[] = {
	{ A, "2026-09-30T23:59:59Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-10-01T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-10-31T23:59:59Z", "", "KEEP: monthly 2026-10" },
	{ A, "2026-12-01T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-12-31T23:59:59Z", "", "KEEP: monthly 2026-12, newest complete snapshot" },
};

/* One nanosecond before midnight is still the old year. */
static const snap_row yearly_rows[] = {
	{ A, "2024-06-01T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2025-01-01T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2025-12-31T23:59:59.999999999Z", "", "KEEP: yearly 2025" },
	{ A, "2026-01-01T00:00:00Z", "", "KEEP: yearly 2026, newest complete snapshot" },
};

/* Pinned snapshots stay whatever their age, and still count for the rules. */
static const snap_row pinned_rows[] = {
	{ A, "2020-01-01T00:00:00Z", "p", "KEEP: pinned" },
	{ A, "2026-11-24T10:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T10:00:00Z", "p", "KEEP: latest #2, pinned" },
	{ A, "2026-11-25T11:00:00Z", "", "KEEP: latest #1, newest complete snapshot" },
};

/* Incomplete snapshots do not count: the day holding only one is skipped, and a newer
 * incomplete snapshot does not take its day from an older complete one. The newest snapshot
 * of the source stays even when incomplete. */
static const snap_row incomplete_rows[] = {
	{ A, "2026-11-01T10:00:00Z", "", "KEEP: daily 2026-11-01" },
	{ A, "2026-11-02T10:00:00Z", "i", "EXPIRE: incomplete: rules count only complete snapshots" },
	{ A, "2026-11-02T11:00:00Z", "pi", "KEEP: pinned" },
	{ A, "2026-11-03T10:00:00Z", "", "KEEP: daily 2026-11-03, newest complete snapshot" },
	{ A, "2026-11-03T12:00:00Z", "i", "EXPIRE: incomplete: rules count only complete snapshots" },
	{ A, "2026-11-03T13:00:00Z", "i", "KEEP: newest snapshot (incomplete)" },
};

/* A source with no complete snapshot keeps its newest one. */
static const snap_row only_incomplete_rows[] = {
	{ A, "2026-11-01T10:00:00Z", "i", "EXPIRE: incomplete: rules count only complete snapshots" },
	{ A, "2026-11-02T10:00:00Z", "i", "KEEP: newest snapshot (incomplete)" },
};

/* Two sources, interleaved in time, are planned independently. */
static const snap_row two_sources_rows[] = {
	{ A, "2026-11-20T10:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ B, "2026-11-21T10:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-22T10:00:00Z", "", "KEEP: daily 2026-11-22" },
	{ B, "2026-11-22T11:00:00Z", "", "KEEP: daily 2026-11-22" },
	{ A, "2026-11-23T10:00:00Z", "", "KEEP: latest #1, daily 2026-11-23, newest complete snapshot" },
	{ B, "2026-11-23T09:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ B, "2026-11-23T09:30:00Z", "", "KEEP: latest #1, daily 2026-11-23, newest complete snapshot" },
};

/* Equal start times: the higher id counts as newer (the order of coffer_snapshot_list). */
static const snap_row same_time_rows[] = {
	{ A, "2026-11-25T10:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T10:00:00Z", "", "KEEP: daily 2026-11-25, newest complete snapshot" },
};

/* Counts larger than the number of periods keep everything once. */
static const snap_row generous_rows[] = {
	{ A, "2026-11-25T10:00:00Z", "", "KEEP: latest #2, hourly 2026-11-25T10" },
	{ A, "2026-11-25T11:00:00Z", "", "KEEP: latest #1, hourly 2026-11-25T11, daily 2026-11-25, weekly 2026-W48, "
	                                 "monthly 2026-11, yearly 2026, newest complete snapshot" },
};

/* Forty snapshots over two years, every rule at once (expectations worked out by hand and
 * with Python's datetime for the ISO weeks). */
static const snap_row two_years_mixed_rows[] = {
	{ A, "2025-06-15T08:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2025-09-01T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2025-12-31T23:59:59Z", "", "KEEP: yearly 2025" },
	{ A, "2026-01-01T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-03-10T12:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-06-30T23:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-07-01T01:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-09-15T10:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-24T09:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T02:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T14:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-12-27T18:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-12-28T06:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-12-31T22:00:00Z", "", "KEEP: monthly 2026-12, yearly 2026" },
	{ A, "2027-01-01T03:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-01-03T23:30:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-01-04T00:30:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-01-10T12:00:00Z", "", "KEEP: monthly 2027-01" },
	{ A, "2027-02-14T12:00:00Z", "", "KEEP: monthly 2027-02" },
	{ A, "2027-03-31T23:59:00Z", "", "KEEP: monthly 2027-03" },
	{ A, "2027-04-01T00:01:00Z", "", "KEEP: daily 2027-04-01, weekly 2027-W13" },
	{ A, "2027-04-20T08:00:00Z", "", "KEEP: daily 2027-04-20, weekly 2027-W16, monthly 2027-04" },
	{ A, "2027-05-09T22:00:00Z", "", "KEEP: daily 2027-05-09, weekly 2027-W18" },
	{ A, "2027-05-10T09:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T09:15:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T09:45:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T10:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T10:30:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T11:59:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T12:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T12:01:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T13:00:00Z", "", "KEEP: hourly 2027-05-10T13" },
	{ A, "2027-05-10T14:05:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T14:10:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T14:20:00Z", "", "KEEP: hourly 2027-05-10T14" },
	{ A, "2027-05-10T16:00:00Z", "", "KEEP: hourly 2027-05-10T16" },
	{ A, "2027-05-10T17:30:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T17:45:00Z", "", "KEEP: latest #3, hourly 2027-05-10T17" },
	{ A, "2027-05-10T18:00:00Z", "", "KEEP: latest #2" },
	{ A, "2027-05-10T18:30:00Z", "", "KEEP: latest #1, hourly 2027-05-10T18, daily 2027-05-10, weekly 2027-W19, monthly 2027-05, yearly 2027, newest complete snapshot" },
};

/* The same forty with a long weekly rule: reaches across 2026-W53. */
static const snap_row two_years_weekly_rows[] = {
	{ A, "2025-06-15T08:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2025-09-01T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2025-12-31T23:59:59Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-01-01T00:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-03-10T12:00:00Z", "", "KEEP: weekly 2026-W11" },
	{ A, "2026-06-30T23:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-07-01T01:00:00Z", "", "KEEP: weekly 2026-W27" },
	{ A, "2026-09-15T10:00:00Z", "", "KEEP: weekly 2026-W38" },
	{ A, "2026-11-24T09:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T02:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-11-25T14:00:00Z", "", "KEEP: weekly 2026-W48" },
	{ A, "2026-12-27T18:00:00Z", "", "KEEP: weekly 2026-W52" },
	{ A, "2026-12-28T06:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2026-12-31T22:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-01-01T03:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-01-03T23:30:00Z", "", "KEEP: weekly 2026-W53" },
	{ A, "2027-01-04T00:30:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-01-10T12:00:00Z", "", "KEEP: weekly 2027-W01" },
	{ A, "2027-02-14T12:00:00Z", "", "KEEP: weekly 2027-W06" },
	{ A, "2027-03-31T23:59:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-04-01T00:01:00Z", "", "KEEP: weekly 2027-W13" },
	{ A, "2027-04-20T08:00:00Z", "", "KEEP: weekly 2027-W16" },
	{ A, "2027-05-09T22:00:00Z", "", "KEEP: weekly 2027-W18" },
	{ A, "2027-05-10T09:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T09:15:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T09:45:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T10:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T10:30:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T11:59:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T12:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T12:01:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T13:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T14:05:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T14:10:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T14:20:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T16:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T17:30:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T17:45:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T18:00:00Z", "", "EXPIRE: no rule keeps it" },
	{ A, "2027-05-10T18:30:00Z", "", "KEEP: weekly 2027-W19, newest complete snapshot" },
};

static const plan_case plan_cases[] = {
	{ "latest 3", POLICY(3, 0, 0, 0, 0, 0), ROWS(latest_rows) },
	{ "hourly 3", POLICY(0, 3, 0, 0, 0, 0), ROWS(hourly_rows) },
	{ "daily 3", POLICY(0, 0, 3, 0, 0, 0), ROWS(daily_rows) },
	{ "weekly 3 across 2026-W53", POLICY(0, 0, 0, 3, 0, 0), ROWS(weekly_rows) },
	{ "weekly 4 where ISO year differs", POLICY(0, 0, 0, 4, 0, 0), ROWS(iso_year_rows) },
	{ "monthly 2", POLICY(0, 0, 0, 0, 2, 0), ROWS(monthly_rows) },
	{ "yearly 2", POLICY(0, 0, 0, 0, 0, 2), ROWS(yearly_rows) },
	{ "pinned", POLICY(2, 0, 0, 0, 0, 0), ROWS(pinned_rows) },
	{ "incomplete", POLICY(0, 0, 2, 0, 0, 0), ROWS(incomplete_rows) },
	{ "only incomplete", POLICY(5, 5, 5, 5, 5, 5), ROWS(only_incomplete_rows) },
	{ "two sources", POLICY(1, 0, 2, 0, 0, 0), ROWS(two_sources_rows) },
	{ "same start time", POLICY(0, 0, 1, 0, 0, 0), ROWS(same_time_rows) },
	{ "two years, every rule", POLICY(3, 5, 4, 4, 6, 3), ROWS(two_years_mixed_rows) },
	{ "two years, weekly 12", POLICY(0, 0, 0, 12, 0, 0), ROWS(two_years_weekly_rows) },
	{ "more kept than exist", POLICY(100, 100, 100, 100, 100, 100), ROWS(generous_rows) },
};
#define PLAN_CASES (sizeof(plan_cases) / sizeof(plan_cases[0]))

static coffer_snapshot_info *make_infos(const plan_case *c, int reversed)
{
	coffer_snapshot_info *infos = calloc(c->n, sizeof(*infos));
	ck_assert_ptr_nonnull(infos);
	for (size_t k = 0; k < c->n; k++) {
		size_t i = reversed ? c->n - 1 - k : k;
		const snap_row *r = &c->rows[i];
		/* ids grow with the row number, so rows with equal times order by row */
		snprintf(infos[k].id, sizeof(infos[k].id), "%032zx", i + 1);
		infos[k].source = (char *)r->source;
		ck_assert_coffer_ok(coffer_time_parse_rfc3339(r->time, &infos[k].start_time_ns));
		infos[k].end_time_ns = infos[k].start_time_ns + 1000000000LL;
		infos[k].pinned = strchr(r->flags, 'p') != NULL;
		infos[k].incomplete = strchr(r->flags, 'i') != NULL;
	}
	return infos;
}

static void describe(const coffer_retention_decision *d, char *out, size_t cap)
{
	size_t used = (size_t)snprintf(out, cap, "%s: ", d->keep ? "KEEP" : "EXPIRE");
	for (size_t r = 0; r < d->reason_count && used < cap; r++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s", r ? ", " : "", d->reasons[r].text);
}

static void check_case(const plan_case *c, int reversed)
{
	coffer_snapshot_info *infos = make_infos(c, reversed);
	coffer_retention_decision *plan = calloc(c->n, sizeof(*plan));
	ck_assert_ptr_nonnull(plan);
	ck_assert_coffer_ok(coffer_retention_plan(infos, c->n, &c->policy, plan));
	for (size_t k = 0; k < c->n; k++) {
		size_t i = reversed ? c->n - 1 - k : k;
		char got[512];
		describe(&plan[k], got, sizeof(got));
		ck_assert_msg(strcmp(got, c->rows[i].expect) == 0, "%s%s: %s %s: expected \"%s\", got \"%s\"", c->what,
		              reversed ? " (reversed input)" : "", c->rows[i].source, c->rows[i].time,
		              c->rows[i].expect, got);
		ck_assert_int_eq(plan[k].keep, strncmp(c->rows[i].expect, "KEEP", 4) == 0);
	}
	free(plan);
	free(infos);
}

START_TEST(test_plan_table)
{
	check_case(&plan_cases[_i], 0);
	check_case(&plan_cases[_i], 1);
}
END_TEST

/* Reason kinds, not only texts: a front-end may switch on them. */
START_TEST(test_reason_rules)
{
	const plan_case *c = &plan_cases[8];  /* incomplete */
	coffer_snapshot_info *infos = make_infos(c, 0);
	coffer_retention_decision plan[6];
	ck_assert_coffer_ok(coffer_retention_plan(infos, c->n, &c->policy, plan));
	ck_assert_int_eq(plan[0].reasons[0].rule, COFFER_RETAIN_DAILY);
	ck_assert_int_eq(plan[1].reasons[0].rule, COFFER_EXPIRE_INCOMPLETE);
	ck_assert_int_eq(plan[2].reasons[0].rule, COFFER_RETAIN_PINNED);
	ck_assert_int_eq(plan[3].reasons[1].rule, COFFER_RETAIN_NEWEST_COMPLETE);
	ck_assert_int_eq(plan[5].reasons[0].rule, COFFER_RETAIN_NEWEST_INCOMPLETE);
	free(infos);

	c = &plan_cases[0];  /* latest */
	infos = make_infos(c, 0);
	ck_assert_coffer_ok(coffer_retention_plan(infos, c->n, &c->policy, plan));
	ck_assert_int_eq(plan[0].reasons[0].rule, COFFER_EXPIRE_NO_RULE);
	ck_assert_int_eq(plan[4].reasons[0].rule, COFFER_RETAIN_LATEST);
	free(infos);
}
END_TEST

/* Every reason at once stays within COFFER_RETENTION_MAX_REASONS. */
START_TEST(test_all_reasons)
{
	coffer_snapshot_info info = { .source = (char *)A, .pinned = 1 };
	coffer_retention_policy p = POLICY(1, 1, 1, 1, 1, 1);
	coffer_retention_decision d;
	ck_assert_coffer_ok(coffer_time_parse_rfc3339("2026-11-25T14:00:00Z", &info.start_time_ns));
	ck_assert_coffer_ok(coffer_retention_plan(&info, 1, &p, &d));
	char got[512];
	describe(&d, got, sizeof(got));
	ck_assert_str_eq(got, "KEEP: latest #1, hourly 2026-11-25T14, daily 2026-11-25, weekly 2026-W48, "
	                      "monthly 2026-11, yearly 2026, pinned, newest complete snapshot");
}
END_TEST

START_TEST(test_policy_refused)
{
	coffer_snapshot_info info = { .source = (char *)A, .start_time_ns = 1 };
	coffer_retention_decision d;
	coffer_retention_policy none = POLICY(0, 0, 0, 0, 0, 0);
	ck_assert_int_eq(coffer_retention_plan(&info, 1, &none, &d), COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "keeps nothing"));
	coffer_retention_policy old = POLICY(1, 0, 0, 0, 0, 0);
	old.version = 0;
	ck_assert_int_eq(coffer_retention_plan(&info, 1, &old, &d), COFFER_EINVALID);
	old.version = COFFER_RETENTION_POLICY_VERSION + 1;
	ck_assert_int_eq(coffer_retention_plan(&info, 1, &old, &d), COFFER_EINVALID);
	ck_assert_int_eq(coffer_retention_plan(&info, 1, NULL, &d), COFFER_EINVALID);
	coffer_retention_policy one = POLICY(1, 0, 0, 0, 0, 0);
	ck_assert_coffer_ok(coffer_retention_plan(NULL, 0, &one, NULL));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("retention");
	TCase *tc = tcase_create("plan");
	tcase_add_loop_test(tc, test_plan_table, 0, (int)PLAN_CASES);
	tcase_add_test(tc, test_reason_rules);
	tcase_add_test(tc, test_all_reasons);
	tcase_add_test(tc, test_policy_refused);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
