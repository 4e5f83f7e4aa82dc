/* Running snapshot actions through a hook-runner plugin. */
#ifndef COFFER_HOOK_H
#define COFFER_HOOK_H

#include <coffer/core.h>

#ifdef __cplusplus
extern "C" {
#endif

struct coffer_hook_request;
/* Runs req with the hook plugin `runner` (e.g. "shell"). */
int coffer_hook_run(coffer_core *core, const char *runner, const struct coffer_hook_request *req);

#ifdef __cplusplus
}
#endif
#endif
