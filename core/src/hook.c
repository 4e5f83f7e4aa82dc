/* Runs snapshot actions through the hook-runner plugin the caller names. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <coffer/hook.h>
#include <coffer/sys/hook.h>

int coffer_hook_run(coffer_core *core, const char *runner, const coffer_hook_request *req)
{
	if (!req || req->version == 0 || req->version > COFFER_HOOK_REQUEST_VERSION)
		return coffer_error_set(COFFER_EUNSUPPORTED, "hook request version %u is not supported (1 to %u)",
		                        req ? req->version : 0, COFFER_HOOK_REQUEST_VERSION);
	const coffer_plugin_info *info;
	int rc = coffer_core_find(core, COFFER_PLUGIN_HOOK, runner, &info);
	if (rc)
		return rc;
	const coffer_config *cfg = NULL;
	if ((rc = coffer_core_plugin_config(core, info->descriptor, &cfg)) != 0)
		return rc;
	/* field by field: a version 1 caller's struct ends before config */
	coffer_hook_request r = { .version = COFFER_HOOK_REQUEST_VERSION,
		                  .action = req->action,
		                  .command = req->command,
		                  .cwd = req->cwd,
		                  .env = req->env,
		                  .timeout_sec = req->timeout_sec,
		                  .log = req->log,
		                  .log_ud = req->log_ud,
		                  .config = cfg };
	const coffer_hook_vtable *vt = info->descriptor->vtable;
	return vt->run(&r);
}

typedef struct hook_log_adapter {
	const coffer_snapshot_hooks *hooks;
	const char *action;
} hook_log_adapter;

static void hook_log_line(void *ud, const char *line)
{
	hook_log_adapter *a = ud;
	a->hooks->log(a->hooks->log_ud, a->action, line);
}

static uint64_t hook_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char *hook_message(int rc)
{
	const coffer_error *e = coffer_error_last();
	return coffer_strdup(e->message[0] ? e->message : coffer_error_name(rc));
}

/* One action with the environment scripts written for kopia's actions also expect. */
static void hook_step(coffer_core *core, const coffer_snapshot_hooks *hooks, const char *runner, int after,
                      const coffer_hook_outcome *so_far, coffer_hook_step *step)
{
	const char *action = after ? "afterSnapshot" : "beforeSnapshot";
	char source[4200], path[4200], snap_path[4200], id[128], kopia_id[128];
	const char *env[8];
	size_t n = 0;
	if (hooks->source) {
		snprintf(source, sizeof(source), "COFFER_SOURCE=%s", hooks->source);
		env[n++] = source;
	}
	snprintf(path, sizeof(path), "KOPIA_SOURCE_PATH=%s", hooks->source_path);
	snprintf(snap_path, sizeof(snap_path), "KOPIA_SNAPSHOT_PATH=%s", hooks->source_path);
	env[n++] = path;
	env[n++] = snap_path;
	env[n++] = after ? "KOPIA_ACTION=after-snapshot-root" : "KOPIA_ACTION=before-snapshot-root";
	if (after) {
		env[n++] = !so_far->snapshot_ran       ? "COFFER_SNAPSHOT_RESULT=skipped"
		           : so_far->snapshot_rc == 0 ? "COFFER_SNAPSHOT_RESULT=ok"
		                                      : "COFFER_SNAPSHOT_RESULT=failed";
		if (so_far->snapshot_id[0]) {
			snprintf(id, sizeof(id), "COFFER_SNAPSHOT_ID=%s", so_far->snapshot_id);
			snprintf(kopia_id, sizeof(kopia_id), "KOPIA_SNAPSHOT_ID=%s", so_far->snapshot_id);
			env[n++] = id;
			env[n++] = kopia_id;
		}
	}
	env[n] = NULL;
	hook_log_adapter adapter = { hooks, action };
	coffer_hook_request req = { .version = COFFER_HOOK_REQUEST_VERSION,
		                    .action = action,
		                    .command = after ? hooks->after : hooks->before,
		                    .cwd = hooks->source_path,
		                    .env = env,
		                    .timeout_sec = hooks->timeout_sec,
		                    .log = hooks->log ? hook_log_line : NULL,
		                    .log_ud = &adapter };
	uint64_t start = hook_now_ns();
	step->ran = 1;
	step->rc = coffer_hook_run(core, runner, &req);
	step->duration_ns = hook_now_ns() - start;
	if (step->rc)
		step->error = hook_message(step->rc);
}

int coffer_snapshot_with_hooks(coffer_core *core, const coffer_snapshot_hooks *hooks, coffer_hook_body body,
                               void *ud, coffer_hook_outcome *out)
{
	memset(out, 0, sizeof(*out));
	if (!hooks || hooks->version == 0 || hooks->version > COFFER_SNAPSHOT_HOOKS_VERSION)
		return coffer_error_set(COFFER_EUNSUPPORTED, "snapshot hooks version %u is not supported (1 to %u)",
		                        hooks ? hooks->version : 0, COFFER_SNAPSHOT_HOOKS_VERSION);
	if (!hooks->source_path)
		return coffer_error_set(COFFER_EINVALID, "snapshot hooks need the source path");
	const char *runner = hooks->runner ? hooks->runner : "shell";
	if (hooks->before || hooks->after) {
		const coffer_plugin_info *info; /* before anything runs, so nothing is left quiesced */
		int rc = coffer_core_find(core, COFFER_PLUGIN_HOOK, runner, &info);
		if (rc)
			return coffer_error_wrap("cannot run snapshot hooks");
	}
	if (hooks->before)
		hook_step(core, hooks, runner, 0, out, &out->before);
	if (out->before.rc == 0) {
		out->snapshot_ran = 1;
		out->snapshot_rc = body(ud, out->snapshot_id, sizeof(out->snapshot_id));
		if (out->snapshot_rc) {
			out->snapshot_error = hook_message(out->snapshot_rc);
			out->snapshot_id[0] = '\0';
		} else {
			out->snapshot_id[sizeof(out->snapshot_id) - 1] = '\0';
		}
	}
	if (hooks->after)
		hook_step(core, hooks, runner, 1, out, &out->after);

	if (out->before.rc)
		return coffer_error_set(out->before.rc, "%s; no snapshot was taken", out->before.error);
	if (out->snapshot_rc)
		return coffer_error_set(out->snapshot_rc, "%s", out->snapshot_error);
	if (out->after.rc)
		return coffer_error_set(out->after.rc, "%s; snapshot %s was kept", out->after.error, out->snapshot_id);
	return 0;
}

void coffer_hook_outcome_clear(coffer_hook_outcome *out)
{
	coffer_free(out->before.error);
	coffer_free(out->after.error);
	coffer_free(out->snapshot_error);
	memset(out, 0, sizeof(*out));
}
