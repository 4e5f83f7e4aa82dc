/* Using a storage backend through the core. */
#ifndef COFFER_BACKEND_H
#define COFFER_BACKEND_H

#include <coffer/common.h>
#include <coffer/error.h>
#include <coffer/core.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COFFER_WHOLE UINT64_MAX
#define COFFER_PUT_OVERWRITE 1u

#define COFFER_BACKEND_CAP_RANGE 1u        /* ranged reads are cheap */
#define COFFER_BACKEND_CAP_SERVER_TIME 2u  /* mtimes come from the server's clock */
#define COFFER_BACKEND_CAP_ATOMIC_CREATE 4u/* write-once is enforced atomically by the store */
#define COFFER_BACKEND_CAP_LOCAL 8u        /* a request costs no network round trip */

typedef struct coffer_blob_info {
	const char *name;     /* set by list(); NULL from stat() */
	uint64_t size;
	int64_t mtime_ns;     /* modification time, ns since the epoch (UTC) */
} coffer_blob_info;

typedef int (*coffer_list_cb)(const coffer_blob_info *info, void *ud);

typedef struct coffer_backend coffer_backend;

typedef struct coffer_backend_options {
	unsigned int version;      /* COFFER_BACKEND_OPTIONS_VERSION */
	unsigned int parallelism;  /* 0 means 1 */
	const char *ca_file;       /* NULL: from $CUSTOM_CA when set */
	int create;
} coffer_backend_options;
#define COFFER_BACKEND_OPTIONS_VERSION 1u
#define COFFER_BACKEND_OPTIONS_INIT { COFFER_BACKEND_OPTIONS_VERSION, 1, NULL, 0 }

/* Opens the backend that serves the URL's scheme. An unknown scheme is COFFER_ENOTFOUND
 * with a message listing the installed schemes. */
int coffer_backend_open(coffer_backend **out, coffer_core *core, const char *url,
                        const coffer_backend_options *opts);
void coffer_backend_close(coffer_backend *be);

int coffer_backend_put(coffer_backend *be, const char *name, const void *data, size_t len,
                       unsigned int flags);
int coffer_backend_get(coffer_backend *be, const char *name, uint64_t offset, uint64_t length,
                       coffer_buf *out);
int coffer_backend_stat(coffer_backend *be, const char *name, coffer_blob_info *out);
int coffer_backend_list(coffer_backend *be, const char *prefix, coffer_list_cb cb, void *ud);
int coffer_backend_remove(coffer_backend *be, const char *name);
/* Removes `count` blobs, in batches where the backend can. results[i] receives 0 or the
 * COFFER_E* code for names[i] (COFFER_ENOTFOUND for a missing one). Returns 0 when every
 * name has a result (look at them), else the code that stopped the call. */
int coffer_backend_remove_many(coffer_backend *be, const char *const *names, size_t count,
                               int *results);
int coffer_backend_describe(coffer_backend *be, coffer_buf *out);
unsigned int coffer_backend_caps(const coffer_backend *be);
const char *coffer_backend_plugin_name(const coffer_backend *be);
/* The last error any call on this handle failed with (copied from the failing thread). */
const coffer_error *coffer_backend_last_error(coffer_backend *be);

#ifdef __cplusplus
}
#endif
#endif
