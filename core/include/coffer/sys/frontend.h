/* Front-end plugin ABI: `coffer NAME args...` hands argv to the front-end called NAME. */
#ifndef COFFER_SYS_FRONTEND_H
#define COFFER_SYS_FRONTEND_H

#include <coffer/sys/plugin.h>
#include <coffer/core.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COFFER_FRONTEND_VTABLE_VERSION 1u

typedef struct coffer_frontend_vtable {
	unsigned int version;  /* COFFER_FRONTEND_VTABLE_VERSION */
	/* argv[0] is the front-end's name. Returns the process exit code (COFFER_EXIT_*). */
	int (*main)(coffer_core *core, int argc, char **argv);
} coffer_frontend_vtable;

#ifdef __cplusplus
}
#endif
#endif
