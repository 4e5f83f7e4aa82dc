/* `coffer mover backup|restore`: dispatch, log lines and the final JSON line. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <coffer/json.h>
#include <coffer/sys/frontend.h>

#include "mover.h"

static const char mover_usage[] =
	"usage: coffer mover backup | restore\n"
	"One VolSync-style run configured by the environment: KOPIA_REPOSITORY, KOPIA_PASSWORD,\n"
	"DATA_DIR, KOPIA_* options (docs/mover.md). Log lines go to stderr; the last line on\n"
	"stdout is a JSON summary.\n";

void mover_log(const char *level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int mover_fail(mover_result *r, int exit_code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	r->result = "failure";
	mover_log("ERROR", "%s", r->error);
	return exit_code;
}

int mover_fail_core(mover_result *r, int rc, const char *context)
{
	const coffer_error *e = coffer_error_last();
	return mover_fail(r, coffer_exit_code(rc), "%s: %s", context, e->message[0] ? e->message : coffer_error_name(rc));
}

void mover_engine_event(const coffer_event *ev, void *ud)
{
	(void)ud;
	if (ev->kind == COFFER_EVENT_WARNING || ev->kind == COFFER_EVENT_ERROR)
		mover_log(ev->kind == COFFER_EVENT_ERROR ? "ERROR" : "WARNING", "%s%s%s", ev->path ? ev->path : "",
		          ev->path ? ": " : "", ev->message ? ev->message : "");
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void json_string_or_null(coffer_json *j, const char *key, const char *value)
{
	coffer_json_key(j, key);
	if (value && value[0])
		coffer_json_string(j, value);
	else
		coffer_json_null(j);
}

/* The controller parses this line: keep it one line, last on stdout (docs/mover.md). */
static void print_result(const mover_result *r)
{
	fflush(stderr);
	coffer_json j;
	coffer_json_init(&j, stdout, 0);
	coffer_json_object_begin(&j);
	coffer_json_key(&j, "result");
	coffer_json_string(&j, r->result);
	json_string_or_null(&j, "operation", r->operation);
	json_string_or_null(&j, "source", r->source);
	json_string_or_null(&j, "snapshotId", r->snapshot_id);
	coffer_json_key(&j, "bytes");
	coffer_json_uint(&j, r->bytes);
	coffer_json_key(&j, "files");
	coffer_json_uint(&j, r->files);
	coffer_json_key(&j, "repositoryCreated");
	coffer_json_bool(&j, r->repository_created);
	char t[40] = "";
	if (r->last_maintenance_ns)
		coffer_time_format_rfc3339(r->last_maintenance_ns, t);
	json_string_or_null(&j, "lastMaintenance", t);
	coffer_json_key(&j, "durationSeconds");
	coffer_json_double(&j, seconds_since(&r->start));
	json_string_or_null(&j, "error", r->error);
	coffer_json_object_end(&j);
	coffer_json_finish(&j);
	fflush(stdout);
}

static int mover_main(coffer_core *core, int argc, char **argv)
{
	mover_result r;
	memset(&r, 0, sizeof(r));
	clock_gettime(CLOCK_MONOTONIC, &r.start);
	r.result = "failure";
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(mover_usage, stdout);
		return COFFER_EXIT_OK;
	}
	int backup = argc == 2 && strcmp(argv[1], "backup") == 0;
	int restore = argc == 2 && strcmp(argv[1], "restore") == 0;
	if (!backup && !restore) {
		fputs(mover_usage, stderr);
		int status = mover_fail(&r, COFFER_EXIT_USAGE, "coffer mover needs one operation, backup or restore%s%s%s",
		                        argc > 1 ? " (got '" : "", argc > 1 ? argv[1] : "", argc > 1 ? "')" : "");
		print_result(&r);
		return status;
	}
	r.operation = backup ? "backup" : "restore";
	mover_env env;
	int status = mover_env_load(core, &env, &r);
	if (status == 0) {
		r.source = env.source;
		mover_log("INFO", "coffer %s mover %s of %s, repository %s, DATA_DIR %s", coffer_version(), r.operation,
		          env.source, env.repository_shown, env.data_dir);
		status = backup ? mover_backup(core, &env, &r) : mover_restore(core, &env, &r);
	}
	if (status == 0 && !strcmp(r.result, "failure"))
		r.result = "success";
	mover_log(status ? "ERROR" : "INFO", "=== %s %s: %s (exit %d) ===", r.operation,
	          status ? "failed" : "finished", r.result, status);
	print_result(&r);
	mover_env_clear(&env);
	return status;
}

static const coffer_frontend_vtable mover_vtable = {
	.version = COFFER_FRONTEND_VTABLE_VERSION,
	.main = mover_main,
};

static const char *const mover_names[] = { "mover", NULL };

COFFER_PLUGIN_DEFINE(frontend_mover) = {
	COFFER_PLUGIN_MAGIC, COFFER_ABI_VERSION, COFFER_PLUGIN_FRONTEND, "frontend-mover",
	"VolSync-style mover: one backup or restore configured by KOPIA_* environment variables",
	mover_names, NULL, &mover_vtable,
};
