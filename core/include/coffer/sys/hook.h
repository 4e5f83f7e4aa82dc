/* Hook runner plugin ABI: runs a snapshot action (beforeSnapshot / afterSnapshot). */
#ifndef COFFER_SYS_HOOK_H
#define COFFER_SYS_HOOK_H

#include <coffer/sys/plugin.h>
#include <coffer/hook.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COFFER_HOOK_VTABLE_VERSION 1u

typedef struct coffer_hook_request {
	unsigned int version;      /* COFFER_HOOK_REQUEST_VERSION */
	const char *action;        /* "beforeSnapshot", "afterSnapshot" */
	const char *command;       /* as the user wrote it */
	const char *cwd;           /* run there (the source folder) */
	const char *const *env;    /* extra "NAME=value" entries, NULL-terminated; may be NULL */
	unsigned int timeout_sec;  /* 0: no limit; COFFER_HOOK_TIMEOUT_DEFAULT: the runner's */
	void (*log)(void *ud, const char *line); /* each output line; may be NULL */
	void *log_ud;

	/* --- version 2 --- */
	const coffer_config *config; /* the runner's own config subtree, or NULL; set by
	                              * coffer_hook_run() */
} coffer_hook_request;
/* 2 added config; runners read it only when req->version >= 2. */
#define COFFER_HOOK_REQUEST_VERSION 2u

typedef struct coffer_hook_vtable {
	unsigned int version;  /* COFFER_HOOK_VTABLE_VERSION */
	/* 0 when the command ran and exited 0; COFFER_ERROR with a message naming the exit
	 * status, signal or timeout otherwise. */
	int (*run)(const coffer_hook_request *req);
} coffer_hook_vtable;

#ifdef __cplusplus
}
#endif
#endif
