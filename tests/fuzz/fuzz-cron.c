// FUZZ_SOURCES: plugins/frontend-controller/ctl_cron.c plugins/frontend-controller/ctl_util.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* Cron schedules (spec.trigger.schedule from users' manifests) on arbitrary bytes: no crash,
 * a message for every refusal, and every next time is a later whole minute that matches. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../plugins/frontend-controller/ctl_cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int matches(const ctl_cron *c, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm))
		return 0;
	if (!((c->minutes >> tm.tm_min) & 1) || !((c->hours >> tm.tm_hour) & 1) || !((c->months >> (tm.tm_mon + 1)) & 1))
		return 0;
	int dom = (c->days >> tm.tm_mday) & 1, dow = (c->weekdays >> tm.tm_wday) & 1;
	return (c->days_star || c->weekdays_star) ? (dom && dow) : (dom || dow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *spec = malloc(size + 1);
	if (!spec)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';
	ctl_cron c;
	char err[256];
	err[0] = '\0';
	if (ctl_cron_parse(spec, &c, err, sizeof(err)) != 0) {
		if (!err[0] || strlen(err) >= sizeof(err))
			abort();
		free(spec);
		return 0;
	}
	if (!c.minutes || c.minutes >> 60 || !c.hours || c.hours >> 24 || !c.months || (c.months & 0xe001) ||
	    (c.days & 1) || (c.weekdays & 0x80))
		abort();
	static const int64_t afters[] = { 0, 1700000000, 1709164799, 4102444799, -86401 };
	for (size_t i = 0; i < sizeof(afters) / sizeof(afters[0]); i++) {
		int64_t next = ctl_cron_next(&c, afters[i]);
		if (next == -1)
			continue;
		if (next <= afters[i] || next % 60 != 0 || next - afters[i] > 9LL * 366 * 86400 || !matches(&c, next))
			abort();
		/* Nothing matches in between: the minute before the answer gives the answer again. */
		if (next - 60 > afters[i] && ctl_cron_next(&c, next - 61) != next)
			abort();
	}
	free(spec);
	return 0;
}
