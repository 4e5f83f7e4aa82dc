/* Per-thread last error, as libgit2 keeps it: the library records, the caller prints. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <coffer/core.h>
#include <coffer/error.h>

static _Thread_local coffer_error last_error;

static int set_va(int code, int errnum, const char *fmt, va_list ap)
{
	char msg[sizeof(last_error.message)];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (errnum) {
		size_t used = strlen(msg);
		snprintf(msg + used, sizeof(msg) - used, ": %s", strerror(errnum));
	}
	last_error.code = code;
	memcpy(last_error.message, msg, sizeof(msg));
	return code;
}

int coffer_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_va(code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int coffer_error_set_errno(int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_va(code, errnum, fmt, ap);
	va_end(ap);
	return code;
}

int coffer_error_wrap(const char *fmt, ...)
{
	char prefix[512];
	char old[sizeof(last_error.message)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, last_error.message, sizeof(old));
	snprintf(last_error.message, sizeof(last_error.message), "%s: %s", prefix, old);
	if (last_error.code == 0)
		last_error.code = COFFER_ERROR;
	return last_error.code;
}

const coffer_error *coffer_error_last(void)
{
	return &last_error;
}

void coffer_error_clear(void)
{
	last_error.code = 0;
	last_error.message[0] = '\0';
}

const char *coffer_error_name(int code)
{
	switch (code) {
	case COFFER_OK: return "ok";
	case COFFER_ENOTFOUND: return "not found";
	case COFFER_EEXISTS: return "exists";
	case COFFER_EAUTH: return "authentication";
	case COFFER_ECORRUPT: return "corrupt";
	case COFFER_ETRANSIENT: return "transient";
	case COFFER_EUNSUPPORTED: return "unsupported";
	case COFFER_EINVALID: return "invalid";
	case COFFER_ENOMEM: return "out of memory";
	default: return "error";
	}
}

int coffer_exit_code(int err)
{
	switch (err) {
	case COFFER_OK: return COFFER_EXIT_OK;
	case COFFER_EINVALID: return COFFER_EXIT_USAGE;
	case COFFER_EAUTH: return COFFER_EXIT_AUTH;
	case COFFER_ENOTFOUND: return COFFER_EXIT_NOTFOUND;
	case COFFER_ECORRUPT: return COFFER_EXIT_CORRUPT;
	case COFFER_ETRANSIENT: return COFFER_EXIT_TRANSIENT;
	default: return COFFER_EXIT_FAILURE;
	}
}
