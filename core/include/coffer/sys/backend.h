/* Storage backend plugin ABI. A backend stores immutable, opaquely named blobs. */
#ifndef COFFER_SYS_BACKEND_H
#define COFFER_SYS_BACKEND_H

#include <coffer/sys/plugin.h>
#include <coffer/url.h>
#include <coffer/backend.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2 added remove_many; the core still loads version 1 plugins (and never reads past
 * their describe member). */
#define COFFER_BACKEND_VTABLE_VERSION 2u

/* What the core hands to open(). Grows only at the end; check `version`. */
typedef struct coffer_backend_params {
	unsigned int version;          /* COFFER_BACKEND_PARAMS_VERSION */
	const coffer_url *url;         /* parsed repository URL */
	const coffer_config *config;   /* the plugin's own config subtree, or NULL */
	unsigned int parallelism;      /* how many threads may call at once */
	const char *ca_file;           /* extra CA bundle (PEM) to trust, or NULL */
	int create;                    /* nonzero: the caller is creating a repository here */
} coffer_backend_params;
#define COFFER_BACKEND_PARAMS_VERSION 1u

/* All callbacks get the plugin state (state_size bytes, zeroed, allocated by the core).
 * Every callback except open/close may be called from `parallelism` threads at once.
 * They return 0 or a COFFER_E* code after coffer_error_set(). Names are relative to the
 * repository root and may contain '/'. */
typedef struct coffer_backend_vtable {
	unsigned int version;          /* COFFER_BACKEND_VTABLE_VERSION */
	size_t state_size;
	unsigned int caps;             /* COFFER_BACKEND_CAP_* */

	int (*open)(void *state, const coffer_backend_params *params);
	void (*close)(void *state);

	/* Stores the whole blob. Without COFFER_PUT_OVERWRITE an existing name is refused
	 * with COFFER_EEXISTS (write-once). A reader never sees a partial blob. */
	int (*put)(void *state, const char *name, const void *data, size_t len, unsigned int flags);
	/* Appends bytes [offset, offset+length) to `out`; length COFFER_WHOLE reads to the end.
	 * A range past the end is COFFER_EINVALID; a missing blob COFFER_ENOTFOUND. */
	int (*get)(void *state, const char *name, uint64_t offset, uint64_t length, coffer_buf *out);
	int (*stat)(void *state, const char *name, coffer_blob_info *out);
	/* Calls cb for every blob whose name starts with `prefix`, in any order. A nonzero
	 * return from cb stops the listing and is returned. */
	int (*list)(void *state, const char *prefix, coffer_list_cb cb, void *ud);
	/* Deleting a missing blob is COFFER_ENOTFOUND. */
	int (*remove)(void *state, const char *name);
	/* Optional: appends a one-line description (kind, endpoint, bucket) for status,
	 * without secrets. */
	int (*describe)(void *state, coffer_buf *out);

	/* --- version 2 --- */
	/* Optional: removes many blobs in few requests (S3 DeleteObjects). results[i] gets 0
	 * or a COFFER_E* code for names[i] (a missing blob is COFFER_ENOTFOUND); returns 0 when
	 * every result was filled in, else a code for the call as a whole. NULL: the core
	 * calls remove() for each name. */
	int (*remove_many)(void *state, const char *const *names, size_t count, int *results);
} coffer_backend_vtable;

#ifdef __cplusplus
}
#endif
#endif
