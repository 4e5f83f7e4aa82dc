/* Running snapshot actions through a hook-runner plugin. See docs/hooks.md. */
#ifndef COFFER_HOOK_H
#define COFFER_HOOK_H

#include <stdint.h>
#include <coffer/core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A timeout_sec asking for the runner's configured default (hook-shell: 300 s). */
#define COFFER_HOOK_TIMEOUT_DEFAULT 0xffffffffu

struct coffer_hook_request;
/* Runs req with the hook plugin `runner` (e.g. "shell"), handing the plugin its own
 * config subtree. */
int coffer_hook_run(coffer_core *core, const char *runner, const struct coffer_hook_request *req);

/* beforeSnapshot / afterSnapshot around one snapshot, for every front-end. */
typedef struct coffer_snapshot_hooks {
	unsigned int version;      /* COFFER_SNAPSHOT_HOOKS_VERSION */
	const char *runner;        /* hook runner name; NULL: "shell" */
	const char *before;        /* beforeSnapshot command, or NULL */
	const char *after;         /* afterSnapshot command, or NULL */
	const char *source_path;   /* the folder backed up: the commands' working directory */
	const char *source;        /* user@host:/path, or NULL */
	unsigned int timeout_sec;  /* per command; COFFER_HOOK_TIMEOUT_DEFAULT: the runner's */
	/* each output line of a command; may be NULL */
	void (*log)(void *ud, const char *action, const char *line);
	void *log_ud;
} coffer_snapshot_hooks;
#define COFFER_SNAPSHOT_HOOKS_VERSION 1u

typedef struct coffer_hook_step {
	int ran;               /* the command was handed to the runner */
	int rc;                /* 0 or COFFER_E* */
	char *error;           /* message when rc != 0 (coffer_free) */
	uint64_t duration_ns;
} coffer_hook_step;

typedef struct coffer_hook_outcome {
	coffer_hook_step before, after;
	int snapshot_ran;      /* the body was called */
	int snapshot_rc;       /* its result */
	char *snapshot_error;  /* its message when snapshot_rc != 0 (coffer_free) */
	char snapshot_id[72];  /* what the body reported, "" if none */
} coffer_hook_outcome;

/* Takes the snapshot: returns 0 or COFFER_E*, and on success writes the new snapshot's
 * id to id (id_size bytes) for the afterSnapshot environment. */
typedef int (*coffer_hook_body)(void *ud, char *id, size_t id_size);

/* Runs hooks->before (if any); when it succeeds, body; then hooks->after whenever the
 * before command ran, failed or not (or there is none), so whatever it quiesced is always
 * resumed. Returns 0 when all succeeded, else the first failure's code with its message
 * set: the before command's (nothing was recorded), the body's, or the after command's
 * (the snapshot stays). `out` says what ran; free it with coffer_hook_outcome_clear. */
int coffer_snapshot_with_hooks(coffer_core *core, const coffer_snapshot_hooks *hooks, coffer_hook_body body,
                               void *ud, coffer_hook_outcome *out);
void coffer_hook_outcome_clear(coffer_hook_outcome *out);

#ifdef __cplusplus
}
#endif
#endif
