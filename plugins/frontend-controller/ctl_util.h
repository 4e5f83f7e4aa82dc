/* Small helpers shared by the controller's modules (and linked into their unit tests). */
#ifndef COFFER_CTL_UTIL_H
#define COFFER_CTL_UTIL_H

#include <stddef.h>

/* Formats a message into err (when err and errlen are nonzero) and returns -1. */
int ctl_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
