/* Named error codes. Functions return 0 or a negative COFFER_E* code; the message for the
 * last failure is kept per thread (libgit2's model) and on the handle that failed. The
 * library never prints. */
#ifndef COFFER_ERROR_H
#define COFFER_ERROR_H

#include <coffer/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum coffer_error_code {
	COFFER_OK = 0,
	COFFER_ERROR = -1,       /* generic failure */
	COFFER_ENOTFOUND = -2,   /* blob, snapshot, plugin or file does not exist */
	COFFER_EEXISTS = -3,     /* write-once name already taken */
	COFFER_EAUTH = -4,       /* wrong password, rejected credential, permission denied */
	COFFER_ECORRUPT = -5,    /* authentication tag, checksum or structure check failed */
	COFFER_ETRANSIENT = -6,  /* network/server trouble that may pass; retry later */
	COFFER_EUNSUPPORTED = -7,/* feature or version not supported */
	COFFER_EINVALID = -8,    /* bad argument, URL, config or input */
	COFFER_ENOMEM = -9       /* out of memory */
} coffer_error_code;

typedef struct coffer_error {
	int code;
	char message[1024];
} coffer_error;

/* Records an error for the calling thread and returns `code`, so plugins can write
 * `return coffer_error_set(COFFER_EINVALID, "bad thing %s", x);` */
int coffer_error_set(int code, const char *fmt, ...) COFFER_PRINTF(2, 3);
/* Like coffer_error_set, appending ": strerror(errnum)". */
int coffer_error_set_errno(int code, int errnum, const char *fmt, ...) COFFER_PRINTF(3, 4);
/* Prepends context to the current message ("opening repository: <old message>"). */
int coffer_error_wrap(const char *fmt, ...) COFFER_PRINTF(1, 2);
/* The last error recorded on this thread; never NULL (code 0 and "" when none). */
const coffer_error *coffer_error_last(void);
void coffer_error_clear(void);
/* "not found", "exists", ... for a code. */
const char *coffer_error_name(int code);

#ifdef __cplusplus
}
#endif
#endif
