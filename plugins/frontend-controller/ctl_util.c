/* Small helpers shared by the controller's modules. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "ctl_util.h"

int ctl_errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}
