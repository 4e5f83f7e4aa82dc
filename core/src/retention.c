/* The retention planner: per source, newest first, each rule keeps the newest complete
 * snapshot of each of its N most recent periods that hold one (docs/retention.md). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coffer/common.h>
#include <coffer/error.h>
#include <coffer/retention.h>

#define NS_PER_SECOND 1000000000LL
#define PERIOD_RULES 5
#define SECONDS_PER_DAY 86400

typedef struct period_rule {
	coffer_retention_rule rule;
	const char *name;
} period_rule;

static const period_rule period_rules[PERIOD_RULES] = {
	{ COFFER_RETAIN_HOURLY, "hourly" }, { COFFER_RETAIN_DAILY, "daily" },   { COFFER_RETAIN_WEEKLY, "weekly" },
	{ COFFER_RETAIN_MONTHLY, "monthly" }, { COFFER_RETAIN_YEARLY, "yearly" },
};

typedef struct rule_state {
	unsigned int limit, used;
	char last[24];           /* label of the last period that kept a snapshot */
} rule_state;

static void add_reason(coffer_retention_decision *d, coffer_retention_rule rule, const char *text)
{
	if (d->reason_count >= COFFER_RETENTION_MAX_REASONS)
		return;
	coffer_retention_reason *r = &d->reasons[d->reason_count++];
	r->rule = rule;
	snprintf(r->text, sizeof(r->text), "%s", text);
}

/* The UTC period holding start_ns: "2026-11-25T14", "2026-11-25", "2026-W48", "2026-11", "2026". */
static void period_label(int64_t start_ns, coffer_retention_rule rule, char out[24])
{
	int64_t secs = start_ns / NS_PER_SECOND;
	if (start_ns % NS_PER_SECOND < 0)
		secs--;  /* floor, so a time just before a boundary stays in the earlier period */
	time_t t = (time_t)secs;
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, 24, "?");
		return;
	}
	int year = tm.tm_year + 1900;
	switch (rule) {
	case COFFER_RETAIN_HOURLY:
		snprintf(out, 24, "%04d-%02d-%02dT%02d", year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
		break;
	case COFFER_RETAIN_DAILY:
		snprintf(out, 24, "%04d-%02d-%02d", year, tm.tm_mon + 1, tm.tm_mday);
		break;
	case COFFER_RETAIN_WEEKLY: {
		/* ISO 8601: a week belongs to the year of its Thursday and is numbered from there */
		int from_monday = (tm.tm_wday + 6) % 7;
		time_t thursday = t + (time_t)(3 - from_monday) * SECONDS_PER_DAY;
		struct tm th;
		if (!gmtime_r(&thursday, &th))
			snprintf(out, 24, "?");
		else
			snprintf(out, 24, "%04d-W%02d", th.tm_year + 1900, th.tm_yday / 7 + 1);
		break;
	}
	case COFFER_RETAIN_MONTHLY:
		snprintf(out, 24, "%04d-%02d", year, tm.tm_mon + 1);
		break;
	default:
		snprintf(out, 24, "%04d", year);
		break;
	}
}

/* Order of coffer_snapshot_list within one source: start time descending, then id descending. */
static int by_source_newest_first(const void *a, const void *b)
{
	const coffer_snapshot_info *x = *(const coffer_snapshot_info *const *)a;
	const coffer_snapshot_info *y = *(const coffer_snapshot_info *const *)b;
	int c = strcmp(x->source ? x->source : "", y->source ? y->source : "");
	if (c)
		return c;
	if (x->start_time_ns != y->start_time_ns)
		return x->start_time_ns < y->start_time_ns ? 1 : -1;
	return -strcmp(x->id, y->id);
}

/* order[0..count) are one source's snapshots, newest first; snaps[i]'s decision is out[i]. */
static void plan_source(const coffer_snapshot_info *snaps, const coffer_snapshot_info *const *order, size_t count,
                        const coffer_retention_policy *policy, coffer_retention_decision *out)
{
	rule_state latest = { policy->keep_latest, 0, "" };
	rule_state periods[PERIOD_RULES] = {
		{ policy->keep_hourly, 0, "" }, { policy->keep_daily, 0, "" }, { policy->keep_weekly, 0, "" },
		{ policy->keep_monthly, 0, "" }, { policy->keep_yearly, 0, "" },
	};
	int seen_complete = 0;

	for (size_t k = 0; k < count; k++) {
		const coffer_snapshot_info *s = order[k];
		coffer_retention_decision *d = &out[s - snaps];
		char label[24];

		if (!s->incomplete) {
			if (latest.used < latest.limit) {
				snprintf(label, sizeof(label), "latest #%u", ++latest.used);
				add_reason(d, COFFER_RETAIN_LATEST, label);
			}
			for (size_t r = 0; r < PERIOD_RULES; r++) {
				rule_state *st = &periods[r];
				if (st->used >= st->limit)
					continue;
				period_label(s->start_time_ns, period_rules[r].rule, label);
				if (st->used && strcmp(label, st->last) == 0)
					continue;  /* a newer snapshot already holds this period */
				st->used++;
				memcpy(st->last, label, sizeof(label));
				char text[40];
				snprintf(text, sizeof(text), "%s %s", period_rules[r].name, label);
				add_reason(d, period_rules[r].rule, text);
			}
		}
		if (s->pinned)
			add_reason(d, COFFER_RETAIN_PINNED, "pinned");
		if (!s->incomplete && !seen_complete)
			add_reason(d, COFFER_RETAIN_NEWEST_COMPLETE, "newest complete snapshot");
		else if (s->incomplete && k == 0)
			add_reason(d, COFFER_RETAIN_NEWEST_INCOMPLETE, "newest snapshot (incomplete)");
		seen_complete |= !s->incomplete;

		d->keep = d->reason_count > 0;
		if (!d->keep && s->incomplete)
			add_reason(d, COFFER_EXPIRE_INCOMPLETE, "incomplete: rules count only complete snapshots");
		else if (!d->keep)
			add_reason(d, COFFER_EXPIRE_NO_RULE, "no rule keeps it");
	}
}

int coffer_retention_plan(const coffer_snapshot_info *snaps, size_t n, const coffer_retention_policy *policy,
                          coffer_retention_decision *out)
{
	if (!policy || policy->version == 0 || policy->version > COFFER_RETENTION_POLICY_VERSION)
		return coffer_error_set(COFFER_EINVALID, "retention policy version %u is not supported (this is %u)",
		                        policy ? policy->version : 0u, COFFER_RETENTION_POLICY_VERSION);
	if (!policy->keep_latest && !policy->keep_hourly && !policy->keep_daily && !policy->keep_weekly &&
	    !policy->keep_monthly && !policy->keep_yearly)
		return coffer_error_set(COFFER_EINVALID,
		                        "the retention policy keeps nothing: set at least one of latest, hourly, "
		                        "daily, weekly, monthly, yearly");
	if (n == 0)
		return 0;
	memset(out, 0, n * sizeof(*out));
	const coffer_snapshot_info **order = coffer_calloc(n, sizeof(*order));
	if (!order)
		return coffer_error_set(COFFER_ENOMEM, "out of memory planning retention of %zu snapshots", n);
	for (size_t i = 0; i < n; i++)
		order[i] = &snaps[i];
	qsort(order, n, sizeof(*order), by_source_newest_first);

	for (size_t first = 0; first < n;) {
		size_t end = first + 1;
		const char *src = order[first]->source ? order[first]->source : "";
		while (end < n && strcmp(order[end]->source ? order[end]->source : "", src) == 0)
			end++;
		plan_source(snaps, order + first, end - first, policy, out);
		first = end;
	}
	coffer_free(order);
	return 0;
}
