/* Cron schedules as VolSync accepts them: five fields (minute hour day-of-month month
 * day-of-week, with *, lists, ranges, steps, month and day names) or @hourly, @daily,
 * @midnight, @weekly, @monthly, @yearly, @annually. Evaluated in UTC. */
#ifndef COFFER_CTL_CRON_H
#define COFFER_CTL_CRON_H

#include <stddef.h>
#include <stdint.h>

typedef struct ctl_cron {
	uint64_t minutes;      /* bit m: minute m (0-59) */
	uint32_t hours;        /* bit h (0-23) */
	uint32_t days;         /* bit d: day of month d (1-31) */
	uint16_t months;       /* bit m: month m (1-12) */
	uint8_t weekdays;      /* bit d: 0 Sunday .. 6 Saturday (7 is also Sunday) */
	int days_star;         /* the day-of-month field was '*' (or '?') */
	int weekdays_star;     /* the day-of-week field was '*' (or '?') */
} ctl_cron;

/* 0, or -1 with a message in err that names the field and the text ("field 2 (hour): 24 is
 * out of range 0-23"). */
int ctl_cron_parse(const char *spec, ctl_cron *out, char *err, size_t errlen);
/* The first matching minute strictly after `after` (Unix seconds, UTC), as Unix seconds;
 * -1 when none within the next 8 years (e.g. "0 0 30 2 *"). Day-of-month and day-of-week
 * combine as in Vixie cron: when both are restricted, either may match. */
int64_t ctl_cron_next(const ctl_cron *c, int64_t after);

#endif
