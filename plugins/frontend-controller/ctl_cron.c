/* Cron schedules with robfig/cron's standard parser semantics (what VolSync uses): a field
 * counts as '*' for the day-of-month/day-of-week rule only when it is '*' or '?' with no
 * step above 1, and "a/n" means a through the field's maximum. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ctl_util.h"
#include "ctl_cron.h"

typedef struct cron_field {
	const char *name;
	unsigned int min, max;      /* values accepted */
	unsigned int star_max;      /* where '*' and "a/n" end (6 for day-of-week, 7 is Sunday too) */
	const char *const *names;   /* three-letter names for min.., or NULL */
} cron_field;

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
	                                   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL };
static const char *const day_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL };

static const cron_field fields[5] = {
	{ "minute", 0, 59, 59, NULL },
	{ "hour", 0, 23, 23, NULL },
	{ "day-of-month", 1, 31, 31, NULL },
	{ "month", 1, 12, 12, month_names },
	{ "day-of-week", 0, 7, 6, day_names },
};

static const struct {
	const char *name;
	const char *spec;
} descriptors[] = {
	{ "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },  { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

/* A number or (where the field has them) a name, exactly the text [s, s+len). */
static int parse_value(const cron_field *f, unsigned int index, const char *s, size_t len, unsigned int *out,
                       char *err, size_t errlen)
{
	int shown = len > 40 ? 40 : (int)len;
	if (len == 0)
		return ctl_errf(err, errlen, "field %u (%s): a value is missing", index + 1, f->name);
	if (isdigit((unsigned char)s[0])) {
		unsigned long v = 0;
		for (size_t i = 0; i < len; i++) {
			if (!isdigit((unsigned char)s[i]))
				return ctl_errf(err, errlen, "field %u (%s): \"%.*s\" is not a number", index + 1, f->name,
				            shown, s);
			if (v < 1000000)
				v = v * 10 + (unsigned long)(s[i] - '0');
		}
		if (v < f->min || v > f->max)
			return ctl_errf(err, errlen, "field %u (%s): %.*s is out of range %u-%u", index + 1, f->name, shown,
			            s, f->min, f->max);
		*out = (unsigned int)v;
		return 0;
	}
	if (f->names && len == 3) {
		for (unsigned int i = 0; f->names[i]; i++) {
			if (strncasecmp(s, f->names[i], 3) == 0) {
				*out = f->min + i;
				return 0;
			}
		}
	}
	return ctl_errf(err, errlen, "field %u (%s): \"%.*s\" is not %s", index + 1, f->name, shown, s,
	            f->names == month_names ? "a number or month name (JAN-DEC)"
	            : f->names == day_names ? "a number or day name (SUN-SAT)"
	                                    : "a number");
}

/* One element of a list: '*', '?', a, a-b, each optionally /step. Sets bits in *bits. */
static int parse_element(const cron_field *f, unsigned int index, const char *s, size_t len, uint64_t *bits,
                         int *star, char *err, size_t errlen)
{
	const char *slash = memchr(s, '/', len);
	size_t range_len = slash ? (size_t)(slash - s) : len;
	unsigned int lo, hi, step = 1;
	int is_star = 0;

	if (range_len == 1 && (s[0] == '*' || s[0] == '?')) {
		lo = f->min;
		hi = f->star_max;
		is_star = 1;
	} else {
		const char *dash = memchr(s, '-', range_len);
		if (parse_value(f, index, s, dash ? (size_t)(dash - s) : range_len, &lo, err, errlen) != 0)
			return -1;
		hi = lo;
		if (dash) {
			if (parse_value(f, index, dash + 1, range_len - (size_t)(dash + 1 - s), &hi, err, errlen) != 0)
				return -1;
			if (hi < lo)
				return ctl_errf(err, errlen, "field %u (%s): the range \"%.*s\" ends before it starts",
				            index + 1, f->name, (int)range_len, s);
		} else if (slash) {
			hi = f->star_max > lo ? f->star_max : lo;
		}
	}
	if (slash) {
		const char *p = slash + 1;
		size_t n = len - range_len - 1;
		unsigned long v = 0;
		if (n == 0)
			return ctl_errf(err, errlen, "field %u (%s): the step after '/' is missing in \"%.*s\"", index + 1,
			            f->name, (int)len, s);
		for (size_t i = 0; i < n; i++) {
			if (!isdigit((unsigned char)p[i]))
				return ctl_errf(err, errlen, "field %u (%s): the step \"%.*s\" is not a number", index + 1,
				            f->name, (int)(n > 40 ? 40 : n), p);
			if (v < 1000000)
				v = v * 10 + (unsigned long)(p[i] - '0');
		}
		if (v == 0)
			return ctl_errf(err, errlen, "field %u (%s): the step must be at least 1", index + 1, f->name);
		step = v > 1000 ? 1000 : (unsigned int)v;
	}
	for (unsigned int v = lo; v <= hi; v += step)
		*bits |= (uint64_t)1 << v;
	if (is_star && step == 1)
		*star = 1;
	return 0;
}

static int parse_field(unsigned int index, const char *s, size_t len, uint64_t *bits, int *star, char *err,
                       size_t errlen)
{
	const cron_field *f = &fields[index];
	*bits = 0;
	*star = 0;
	for (size_t start = 0;;) {
		const char *comma = memchr(s + start, ',', len - start);
		size_t end = comma ? (size_t)(comma - s) : len;
		if (end == start)
			return ctl_errf(err, errlen, "field %u (%s): empty element in \"%.*s\"", index + 1, f->name,
			            (int)(len > 60 ? 60 : len), s);
		if (parse_element(f, index, s + start, end - start, bits, star, err, errlen) != 0)
			return -1;
		if (!comma)
			break;
		start = end + 1;
	}
	return 0;
}

int ctl_cron_parse(const char *spec, ctl_cron *out, char *err, size_t errlen)
{
	const char *start[6];
	size_t len[6];
	unsigned int count = 0;
	uint64_t bits[5];
	int star[5];

	memset(out, 0, sizeof(*out));
	if (!spec)
		return ctl_errf(err, errlen, "the schedule is empty");
	while (isspace((unsigned char)*spec))
		spec++;
	if (!*spec)
		return ctl_errf(err, errlen, "the schedule is empty");
	if (*spec == '@') {
		size_t n = strcspn(spec, " \t\r\n\v\f");
		for (size_t i = 0; i < sizeof(descriptors) / sizeof(descriptors[0]); i++) {
			if (strlen(descriptors[i].name) != n || strncasecmp(spec, descriptors[i].name, n) != 0)
				continue;
			for (const char *p = spec + n; *p; p++)
				if (!isspace((unsigned char)*p))
					return ctl_errf(err, errlen, "unexpected text after %s", descriptors[i].name);
			return ctl_cron_parse(descriptors[i].spec, out, err, errlen);
		}
		return ctl_errf(err, errlen,
		            "unknown descriptor \"%.*s\" (known: @yearly, @annually, @monthly, @weekly, @daily, "
		            "@midnight, @hourly)",
		            (int)(n > 40 ? 40 : n), spec);
	}
	for (const char *p = spec; *p;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, " \t\r\n\v\f");
		if (count < 6) {
			start[count] = p;
			len[count] = n;
		}
		count++;
		p += n;
	}
	if (count != 5)
		return ctl_errf(err, errlen,
		            "expected 5 fields (minute hour day-of-month month day-of-week), found %u", count);
	for (unsigned int i = 0; i < 5; i++)
		if (parse_field(i, start[i], len[i], &bits[i], &star[i], err, errlen) != 0)
			return -1;
	if (bits[4] & (1u << 7))
		bits[4] = (bits[4] & 0x7f) | 1;
	out->minutes = bits[0];
	out->hours = (uint32_t)bits[1];
	out->days = (uint32_t)bits[2];
	out->months = (uint16_t)bits[3];
	out->weekdays = (uint8_t)bits[4];
	out->days_star = star[2];
	out->weekdays_star = star[4];
	return 0;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Day of week (0 Sunday) of a proleptic Gregorian date, Sakamoto's method. */
static int weekday(int y, int m, int d)
{
	static const int t[12] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };
	if (m < 3)
		y--;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

static int day_matches(const ctl_cron *c, int y, int m, int d)
{
	int dom = (c->days >> d) & 1;
	int dow = (c->weekdays >> weekday(y, m, d)) & 1;
	if (c->days_star || c->weekdays_star)
		return dom && dow;
	return dom || dow;
}

static void next_day(int *year, int *month, int *day)
{
	if (++*day > month_days(*year, *month)) {
		*day = 1;
		if (++*month > 12)
			*month = 1, ++*year;
	}
}

/* Years after `after` to search; 8 covers Feb 29 across a skipped leap year (2100). */
#define SEARCH_YEARS 8

int64_t ctl_cron_next(const ctl_cron *c, int64_t after)
{
	/* Only Gregorian years 1..9999, so struct tm and the arithmetic below never overflow. */
	if (after < -62135596800LL || after > 253402300799LL - (int64_t)SEARCH_YEARS * 366 * 86400)
		return -1;
	if (!c->minutes || !c->hours || !c->months || (!c->days && !(c->weekdays & 0x7f)))
		return -1;

	int64_t t = after - ((after % 60) + 60) % 60 + 60; /* next whole minute, strictly after */
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm))
		return -1;
	int year = tm.tm_year + 1900, month = tm.tm_mon + 1, day = tm.tm_mday, hour = tm.tm_hour, minute = tm.tm_min;
	const int last_year = year + SEARCH_YEARS;

	/* Each step skips a whole unit (month, day, hour) that cannot match, then starts the
	 * smaller units again from their beginning. */
	for (;;) {
		if (year > last_year)
			return -1;
		if (!((c->months >> month) & 1)) {
			day = 1, hour = 0, minute = 0;
			if (++month > 12)
				month = 1, year++;
			continue;
		}
		if (!day_matches(c, year, month, day)) {
			hour = 0, minute = 0;
			next_day(&year, &month, &day);
			continue;
		}
		if (!((c->hours >> hour) & 1)) {
			minute = 0;
			if (++hour > 23) {
				hour = 0;
				next_day(&year, &month, &day);
			}
			continue;
		}
		while (minute < 60 && !((c->minutes >> minute) & 1))
			minute++;
		if (minute < 60)
			break;
		minute = 0;
		if (++hour > 23) {
			hour = 0;
			next_day(&year, &month, &day);
		}
	}
	struct tm r = { 0 };
	r.tm_year = year - 1900;
	r.tm_mon = month - 1;
	r.tm_mday = day;
	r.tm_hour = hour;
	r.tm_min = minute;
	return (int64_t)timegm(&r);
}
