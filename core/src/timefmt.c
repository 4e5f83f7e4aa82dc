/* RFC 3339 times <-> ns since the epoch (UTC), for restoreAsOf and snapshot listings.
 * Parsing normalizes any offset to an instant, so times are compared as numbers, never as
 * strings (the VolSync kopia mover's bug). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <coffer/error.h>
#include <coffer/snapshot.h>

#define NS_PER_SECOND 1000000000LL
#define SECONDS_PER_DAY 86400LL

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Exactly n decimal digits at *p; advances past them. */
static int take_digits(const char **p, unsigned n, unsigned *out)
{
	unsigned v = 0;
	for (unsigned i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (unsigned)(c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int take_char(const char **p, char a, char b)
{
	if (**p != a && **p != b)
		return -1;
	(*p)++;
	return 0;
}

static int bad_time(const char *text, const char *why)
{
	return coffer_error_set(COFFER_EINVALID,
	                        "invalid time \"%s\": %s (expected RFC 3339, e.g. 2024-01-02T03:04:05Z or "
	                        "2024-01-02T03:04:05.5-08:00)",
	                        text, why);
}

int coffer_time_parse_rfc3339(const char *text, int64_t *out_ns)
{
	unsigned year, month, day, hour, minute, second, off_hour = 0, off_minute = 0;
	int64_t fraction_ns = 0, offset_seconds = 0;
	const char *p = text;

	if (!text || !out_ns)
		return coffer_error_set(COFFER_EINVALID, "no time given");
	if (take_digits(&p, 4, &year) || take_char(&p, '-', '-') || take_digits(&p, 2, &month) ||
	    take_char(&p, '-', '-') || take_digits(&p, 2, &day))
		return bad_time(text, "the date is not YYYY-MM-DD");
	if (take_char(&p, 'T', 't'))
		return bad_time(text, "date and time must be separated by 'T'");
	if (take_digits(&p, 2, &hour) || take_char(&p, ':', ':') || take_digits(&p, 2, &minute) ||
	    take_char(&p, ':', ':') || take_digits(&p, 2, &second))
		return bad_time(text, "the time of day is not hh:mm:ss");
	if (*p == '.') {
		int64_t scale = NS_PER_SECOND / 10;
		p++;
		if (*p < '0' || *p > '9')
			return bad_time(text, "no digits after the decimal point");
		/* Digits beyond nanoseconds are dropped (truncated toward the earlier instant). */
		for (; *p >= '0' && *p <= '9'; p++) {
			fraction_ns += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		p++;
		if (take_digits(&p, 2, &off_hour) || take_char(&p, ':', ':') || take_digits(&p, 2, &off_minute))
			return bad_time(text, "the UTC offset is not +hh:mm or -hh:mm");
		if (off_hour > 23 || off_minute > 59)
			return bad_time(text, "UTC offset out of range");
		offset_seconds = sign * (int64_t)(off_hour * 3600 + off_minute * 60);
	} else {
		return bad_time(text, "missing time zone ('Z' or an offset such as +05:30)");
	}
	if (*p)
		return bad_time(text, "unexpected text after the time");
	if (month < 1 || month > 12)
		return bad_time(text, "month out of range");
	if (day < 1 || day > days_in_month(year, month))
		return bad_time(text, "day out of range for the month");
	if (hour > 23 || minute > 59)
		return bad_time(text, "hour or minute out of range");
	/* 60 is a leap second; it counts as the first second of the next minute. */
	if (second > 60)
		return bad_time(text, "second out of range");

	int64_t seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 +
	                  second - offset_seconds;
	int64_t ns;
	/* Before the epoch, borrow a second so the product stays in range down to INT64_MIN. */
	if (seconds < 0 && fraction_ns > 0) {
		seconds++;
		fraction_ns -= NS_PER_SECOND;
	}
	if (__builtin_mul_overflow(seconds, NS_PER_SECOND, &ns) || __builtin_add_overflow(ns, fraction_ns, &ns))
		return bad_time(text, "outside the representable range (years 1678 to 2261)");
	*out_ns = ns;
	return 0;
}

void coffer_time_format_rfc3339(int64_t ns, char out[40])
{
	int64_t seconds = ns / NS_PER_SECOND, fraction = ns % NS_PER_SECOND;
	int64_t year;
	unsigned month, day;

	if (fraction < 0) {
		fraction += NS_PER_SECOND;
		seconds--;
	}
	int64_t days = seconds / SECONDS_PER_DAY, second_of_day = seconds % SECONDS_PER_DAY;
	if (second_of_day < 0) {
		second_of_day += SECONDS_PER_DAY;
		days--;
	}
	civil_from_days(days, &year, &month, &day);
	int n = snprintf(out, 40, "%04lld-%02u-%02uT%02u:%02u:%02u", (long long)year, month, day,
	                 (unsigned)(second_of_day / 3600), (unsigned)(second_of_day / 60 % 60),
	                 (unsigned)(second_of_day % 60));
	/* The fraction is printed only when there is one, without trailing zeros, so that
	 * parsing the text gives back exactly the same instant. */
	if (fraction && n > 0 && n < 28) {
		char digits[10];
		int len = 9;
		snprintf(digits, sizeof(digits), "%09lld", (long long)fraction);
		while (len > 0 && digits[len - 1] == '0')
			len--;
		n += snprintf(out + n, 40 - (size_t)n, ".%.*s", len, digits);
	}
	if (n > 0 && n < 39)
		snprintf(out + n, 40 - (size_t)n, "Z");
}
