/* Runs snapshot actions through the hook-runner plugin the caller names. */
#include "config.h"

#include <coffer/hook.h>
#include <coffer/sys/hook.h>

int coffer_hook_run(coffer_core *core, const char *runner, const coffer_hook_request *req)
{
	const coffer_plugin_info *info;
	int rc = coffer_core_find(core, COFFER_PLUGIN_HOOK, runner, &info);
	if (rc)
		return rc;
	const coffer_hook_vtable *vt = info->descriptor->vtable;
	return vt->run(req);
}
