/* hook-shell through the real core: exit statuses, captured output, environment and
 * working directory, timeouts that kill a whole process group, no zombies, and the
 * beforeSnapshot / afterSnapshot orchestration of coffer_snapshot_with_hooks. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#include <coffer/sys/hook.h>
#include <coffer/sys/preload.h>

#include "testlib.h"

static coffer_core *core;          /* kill_grace_s = 1 */
static coffer_core *core_short;    /* default_timeout_s = 1 as well */
static char *tmpdir;

typedef struct captured {
	char lines[64][5000];
	int count;
} captured;

static void capture(void *ud, const char *line)
{
	captured *c = ud;
	if (c->count < 64)
		snprintf(c->lines[c->count++], sizeof(c->lines[0]), "%s", line);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_in(coffer_core *c, const char *command, unsigned timeout, const char *const *env, captured *out)
{
	coffer_hook_request req = { .version = COFFER_HOOK_REQUEST_VERSION,
		                    .action = "beforeSnapshot",
		                    .command = command,
		                    .cwd = tmpdir,
		                    .env = env,
		                    .timeout_sec = timeout,
		                    .log = capture,
		                    .log_ud = out };
	return coffer_hook_run(c, "shell", &req);
}

static int run(const char *command, unsigned timeout, captured *out)
{
	return run_in(core, command, timeout, NULL, out);
}

/* The test process has no child left: the shell was reaped. */
static void assert_no_children(void)
{
	int st;
	pid_t p = waitpid(-1, &st, WNOHANG);
	ck_assert_msg(p == -1 && errno == ECHILD, "a child is left (waitpid gave %d)", (int)p);
}

/* Gone, or a zombie waiting for init: it no longer runs. */
static int process_running(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static long read_pid_file(const char *name)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "r");
	long pid = -1;
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return pid;
}

/* The process whose pid the hook wrote to `pid_file` no longer runs, and the shell was reaped. */
static void assert_gone(const char *pid_file)
{
	long pid = read_pid_file(pid_file);
	ck_assert_msg(pid > 0, "the hook did not write %s", pid_file);
	ck_assert_msg(!process_running(pid), "process %ld of the hook survived", pid);
	assert_no_children();
}

START_TEST(exit_zero)
{
	captured c = { .count = 0 };
	ck_assert_coffer_ok(run("true", 10, &c));
	ck_assert_int_eq(c.count, 0);
	assert_no_children();
}
END_TEST

START_TEST(nonzero_exit_is_named)
{
	captured c = { .count = 0 };
	int rc = run("echo failing; exit 3", 10, &c);
	ck_assert_int_eq(rc, COFFER_ERROR);
	const char *m = coffer_error_last()->message;
	ck_assert_msg(strstr(m, "beforeSnapshot") && strstr(m, "exit status 3") && strstr(m, "echo failing"),
	              "message: %s", m);
	ck_assert_int_eq(c.count, 1);
	ck_assert_str_eq(c.lines[0], "failing");
	rc = run("kill -KILL $$", 10, &c);
	ck_assert_int_eq(rc, COFFER_ERROR);
	ck_assert_msg(strstr(coffer_error_last()->message, "signal 9"), "message: %s", coffer_error_last()->message);
	rc = run("no-such-command-for-coffer", 10, &c);
	ck_assert_msg(rc == COFFER_ERROR && strstr(coffer_error_last()->message, "127"), "message: %s",
	              coffer_error_last()->message);
	assert_no_children();
}
END_TEST

START_TEST(long_command_is_truncated)
{
	char cmd[400];
	memset(cmd, 'x', sizeof(cmd) - 1);
	cmd[0] = ':';
	cmd[1] = ' ';
	cmd[sizeof(cmd) - 1] = '\0';
	strcpy(cmd + 300, "; exit 1");
	captured c = { .count = 0 };
	ck_assert_int_eq(run(cmd, 10, &c), COFFER_ERROR);
	const char *m = coffer_error_last()->message;
	ck_assert_msg(strstr(m, "...") && strlen(m) < 250, "message: %s", m);
}
END_TEST

START_TEST(output_lines_in_order)
{
	captured c = { .count = 0 };
	ck_assert_coffer_ok(run("echo one; echo two >&2; printf 'thr\\033ee\\r\\n'; echo; printf 'last'", 10, &c));
	ck_assert_int_eq(c.count, 5);
	ck_assert_str_eq(c.lines[0], "one");
	ck_assert_str_eq(c.lines[1], "two");
	ck_assert_str_eq(c.lines[2], "thr?ee"); /* no terminal escapes, no \r */
	ck_assert_str_eq(c.lines[3], "");
	ck_assert_str_eq(c.lines[4], "last"); /* unterminated last line */
	/* an endless line comes out in pieces */
	c.count = 0;
	ck_assert_coffer_ok(run("head -c 10000 /dev/zero | tr '\\0' a", 10, &c));
	ck_assert_int_eq(c.count, 3);
	ck_assert_uint_eq(strlen(c.lines[0]), 4096);
	ck_assert_uint_eq(strlen(c.lines[2]), 10000 - 2 * 4096);
}
END_TEST

START_TEST(environment_cwd_stdin_fds)
{
	char real[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(tmpdir, real));
	setenv("KOPIA_PASSWORD", "not-for-hooks", 1);
	setenv("COFFER_TEST_INHERITED", "inherited", 1);
	/* no O_CLOEXEC: the runner must not pass it on */
	int leak = open("/dev/null", O_RDONLY);
	ck_assert_int_eq(dup2(leak, 57), 57);
	close(leak);
	leak = 57;
	const char *env[] = { "COFFER_EXTRA=extra value", "COFFER_TEST_INHERITED=overridden", NULL };
	captured c = { .count = 0 };
	ck_assert_coffer_ok(run_in(core, "echo \"$COFFER_ACTION\"; echo \"$COFFER_SOURCE_PATH\"; pwd -P; "
	                                 "echo \"$COFFER_EXTRA\"; echo \"$COFFER_TEST_INHERITED\"; "
	                                 "echo \"${KOPIA_PASSWORD-unset}\"; cat; "
	                                 "if [ -e /proc/$$/fd/57 ]; then echo leaked; else echo closed; fi",
	                           10, env, &c));
	close(leak);
	unsetenv("KOPIA_PASSWORD");
	ck_assert_int_eq(c.count, 7);
	ck_assert_str_eq(c.lines[0], "beforeSnapshot");
	ck_assert_str_eq(c.lines[1], tmpdir);
	ck_assert_str_eq(c.lines[2], real);
	ck_assert_str_eq(c.lines[3], "extra value");
	ck_assert_str_eq(c.lines[4], "overridden");
	ck_assert_str_eq(c.lines[5], "unset");
	ck_assert_str_eq(c.lines[6], "closed"); /* and cat read /dev/null */
}
END_TEST

START_TEST(missing_cwd_is_an_error)
{
	coffer_hook_request req = { .version = COFFER_HOOK_REQUEST_VERSION,
		                    .action = "afterSnapshot",
		                    .command = "true",
		                    .cwd = "/nonexistent/coffer-hook-dir",
		                    .timeout_sec = 10 };
	ck_assert_int_eq(coffer_hook_run(core, "shell", &req), COFFER_ERROR);
	const char *m = coffer_error_last()->message;
	ck_assert_msg(strstr(m, "afterSnapshot") && strstr(m, "/nonexistent/coffer-hook-dir"), "message: %s", m);
	assert_no_children();
}
END_TEST

START_TEST(timeout_kills_process_group)
{
	captured c = { .count = 0 };
	double start = now_s();
	/* the grandchild ignores SIGTERM (and so does its sleep): only SIGKILL ends it */
	int rc = run("sh -c 'trap \"\" TERM; echo $$ > grandchild.pid; exec sleep 100' & "
	             "while [ ! -s grandchild.pid ]; do sleep 0.05; done; echo started; sleep 100",
	             1, &c);
	double took = now_s() - start;
	ck_assert_int_eq(rc, COFFER_ERROR);
	const char *m = coffer_error_last()->message;
	ck_assert_msg(strstr(m, "timed out after 1 s") && strstr(m, "SIGKILL"), "message: %s", m);
	ck_assert_msg(took >= 1.0 && took < 6.0, "took %.1f s (timeout 1 s + grace 1 s)", took);
	ck_assert_int_ge(c.count, 1);
	ck_assert_str_eq(c.lines[0], "started");
	assert_gone("grandchild.pid");
}
END_TEST

START_TEST(background_leftovers_are_ended)
{
	captured c = { .count = 0 };
	double start = now_s();
	int rc = run("sh -c 'trap \"\" TERM; echo $$ > leftover.pid; exec sleep 100' & "
	             "while [ ! -s leftover.pid ]; do sleep 0.05; done; echo done", 0, &c);
	double took = now_s() - start;
	ck_assert_coffer_ok(rc);
	ck_assert_msg(took < 6.0, "took %.1f s", took);
	ck_assert_int_eq(c.count, 2);
	ck_assert_str_eq(c.lines[0], "done");
	ck_assert_msg(strstr(c.lines[1], "outlived the shell"), "line: %s", c.lines[1]);
	assert_gone("leftover.pid");
}
END_TEST

START_TEST(configured_default_timeout)
{
	captured c = { .count = 0 };
	double start = now_s();
	int rc = run_in(core_short, "sleep 30", COFFER_HOOK_TIMEOUT_DEFAULT, NULL, &c);
	ck_assert_int_eq(rc, COFFER_ERROR);
	ck_assert_msg(strstr(coffer_error_last()->message, "timed out after 1 s"), "message: %s",
	              coffer_error_last()->message);
	/* sleep dies of SIGTERM: no grace period needed */
	ck_assert_msg(now_s() - start < 3.0, "took %.1f s", now_s() - start);
	/* an explicit timeout beats the configured default */
	ck_assert_coffer_ok(run_in(core_short, "sleep 1.5", 5, NULL, &c));
	assert_no_children();
}
END_TEST

typedef struct parallel_job {
	int index;
	int rc;
	captured out;
} parallel_job;

static void *parallel_run(void *ud)
{
	parallel_job *j = ud;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "for i in 1 2 3; do echo job%d-$i; sleep 0.1; done", j->index);
	j->rc = run(cmd, 10, &j->out);
	return NULL;
}

START_TEST(threads_run_at_once)
{
	parallel_job jobs[4];
	pthread_t th[4];
	double start = now_s();
	for (int i = 0; i < 4; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].index = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, parallel_run, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(jobs[i].rc, 0);
		ck_assert_int_eq(jobs[i].out.count, 3);
		char want[32];
		snprintf(want, sizeof(want), "job%d-3", i);
		ck_assert_str_eq(jobs[i].out.lines[2], want);
	}
	ck_assert_msg(now_s() - start < 1.2 * 4 * 0.3 + 1.0, "the runs did not overlap");
	assert_no_children();
}
END_TEST

/* ---------------------------------------------------------- orchestration */

typedef struct fake_snapshot {
	int calls;
	int rc;
} fake_snapshot;

static int fake_body(void *ud, char *id, size_t id_size)
{
	fake_snapshot *f = ud;
	f->calls++;
	if (f->rc)
		return coffer_error_set(f->rc, "fake snapshot failed");
	snprintf(id, id_size, "%s", "0123abcd");
	return 0;
}

static captured hook_lines;
static void capture_action(void *ud, const char *action, const char *line)
{
	char both[5000];
	snprintf(both, sizeof(both), "%s: %s", action, line);
	capture(ud, both);
}

static int with_hooks(const char *before, const char *after, fake_snapshot *f, coffer_hook_outcome *o)
{
	memset(&hook_lines, 0, sizeof(hook_lines));
	coffer_snapshot_hooks h = { .version = COFFER_SNAPSHOT_HOOKS_VERSION,
		                    .before = before,
		                    .after = after,
		                    .source_path = tmpdir,
		                    .source = "app@host:/data",
		                    .timeout_sec = 10,
		                    .log = capture_action,
		                    .log_ud = &hook_lines };
	return coffer_snapshot_with_hooks(core, &h, fake_body, f, o);
}

START_TEST(orchestration_all_ok)
{
	fake_snapshot f = { 0, 0 };
	coffer_hook_outcome o;
	ck_assert_coffer_ok(with_hooks("echo quiesce", "echo \"$COFFER_SNAPSHOT_RESULT $COFFER_SNAPSHOT_ID $COFFER_SOURCE\"",
	                               &f, &o));
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(hook_lines.count, 2);
	ck_assert_str_eq(hook_lines.lines[0], "beforeSnapshot: quiesce");
	ck_assert_str_eq(hook_lines.lines[1], "afterSnapshot: ok 0123abcd app@host:/data");
	ck_assert(o.before.ran && o.after.ran && o.snapshot_ran);
	coffer_hook_outcome_clear(&o);
}
END_TEST

START_TEST(orchestration_before_fails)
{
	fake_snapshot f = { 0, 0 };
	coffer_hook_outcome o;
	int rc = with_hooks("exit 4", "echo \"resumed $COFFER_SNAPSHOT_RESULT\"", &f, &o);
	ck_assert_int_eq(rc, COFFER_ERROR);
	ck_assert_int_eq(f.calls, 0); /* nothing recorded */
	ck_assert_msg(strstr(coffer_error_last()->message, "no snapshot was taken"), "message: %s",
	              coffer_error_last()->message);
	ck_assert(o.after.ran && o.after.rc == 0);
	ck_assert_int_eq(hook_lines.count, 1);
	ck_assert_str_eq(hook_lines.lines[0], "afterSnapshot: resumed skipped");
	coffer_hook_outcome_clear(&o);
}
END_TEST

START_TEST(orchestration_snapshot_fails)
{
	fake_snapshot f = { 0, COFFER_ETRANSIENT };
	coffer_hook_outcome o;
	int rc = with_hooks(NULL, "echo \"$COFFER_SNAPSHOT_RESULT ${COFFER_SNAPSHOT_ID-none}\"", &f, &o);
	ck_assert_int_eq(rc, COFFER_ETRANSIENT);
	ck_assert_str_eq(coffer_error_last()->message, "fake snapshot failed");
	ck_assert_int_eq(hook_lines.count, 1);
	ck_assert_str_eq(hook_lines.lines[0], "afterSnapshot: failed none");
	coffer_hook_outcome_clear(&o);
}
END_TEST

START_TEST(orchestration_after_fails)
{
	fake_snapshot f = { 0, 0 };
	coffer_hook_outcome o;
	int rc = with_hooks("true", "exit 2", &f, &o);
	ck_assert_int_eq(rc, COFFER_ERROR);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(o.snapshot_rc, 0);
	ck_assert_str_eq(o.snapshot_id, "0123abcd");
	const char *m = coffer_error_last()->message;
	ck_assert_msg(strstr(m, "afterSnapshot") && strstr(m, "exit status 2") && strstr(m, "0123abcd was kept"),
	              "message: %s", m);
	coffer_hook_outcome_clear(&o);
}
END_TEST

START_TEST(orchestration_unknown_runner)
{
	fake_snapshot f = { 0, 0 };
	coffer_hook_outcome o;
	coffer_snapshot_hooks h = { .version = COFFER_SNAPSHOT_HOOKS_VERSION, .runner = "no-such-runner",
		                    .before = "true", .source_path = tmpdir };
	ck_assert_int_eq(coffer_snapshot_with_hooks(core, &h, fake_body, &f, &o), COFFER_ENOTFOUND);
	ck_assert_int_eq(f.calls, 0);
	coffer_hook_outcome_clear(&o);
}
END_TEST

static coffer_core *core_with(const char *config_text)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/coffer-%d.cfg", tmpdir, (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(config_text, f);
	fclose(f);
	coffer_core_options opts = COFFER_CORE_OPTIONS_INIT;
	opts.plugin_path = "";
	opts.no_default_path = 1;
	opts.config_file = path;
	coffer_core *c = NULL;
	if (coffer_core_new(&c, &opts) != 0) {
		fprintf(stderr, "coffer_core_new: %s\n", coffer_error_last()->message);
		return NULL;
	}
	unlink(path);
	return c;
}

START_TEST(bad_config_is_refused)
{
	captured c = { .count = 0 };
	coffer_core *bad = core_with("plugins = { hook-shell = { kill_grace_s = -1; }; };");
	ck_assert_ptr_nonnull(bad);
	ck_assert_int_eq(run_in(bad, "true", 10, NULL, &c), COFFER_EINVALID);
	ck_assert_msg(strstr(coffer_error_last()->message, "kill_grace_s"), "message: %s",
	              coffer_error_last()->message);
	coffer_core_free(bad);
	bad = core_with("plugins = { hook-shell = { timeout = 3; }; };");
	ck_assert_ptr_nonnull(bad);
	ck_assert_int_eq(run_in(bad, "true", 10, NULL, &c), COFFER_EINVALID);
	ck_assert_msg(strstr(coffer_error_last()->message, "timeout"), "message: %s", coffer_error_last()->message);
	coffer_core_free(bad);
}
END_TEST

int main(void)
{
	COFFER_SET_PRELOADED_PLUGINS();
	tmpdir = test_tmpdir("hook-shell");
	core = core_with("plugins = { hook-shell = { kill_grace_s = 1; }; };");
	core_short = core_with("plugins = { hook-shell = { kill_grace_s = 1; default_timeout_s = 1; }; };");
	const coffer_plugin_info *info;
	if (!core || !core_short || coffer_core_find(core, COFFER_PLUGIN_HOOK, "shell", &info) != 0) {
		fprintf(stderr, "hook-shell is not preloaded: %s\n", coffer_error_last()->message);
		return EXIT_FAILURE;
	}
	Suite *s = suite_create("hook-shell");
	TCase *tc = tcase_create("runner");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, exit_zero);
	tcase_add_test(tc, nonzero_exit_is_named);
	tcase_add_test(tc, long_command_is_truncated);
	tcase_add_test(tc, output_lines_in_order);
	tcase_add_test(tc, environment_cwd_stdin_fds);
	tcase_add_test(tc, missing_cwd_is_an_error);
	tcase_add_test(tc, timeout_kills_process_group);
	tcase_add_test(tc, background_leftovers_are_ended);
	tcase_add_test(tc, configured_default_timeout);
	tcase_add_test(tc, threads_run_at_once);
	tcase_add_test(tc, bad_config_is_refused);
	suite_add_tcase(s, tc);
	TCase *orch = tcase_create("orchestration");
	tcase_set_timeout(orch, 60);
	tcase_add_test(orch, orchestration_all_ok);
	tcase_add_test(orch, orchestration_before_fails);
	tcase_add_test(orch, orchestration_snapshot_fails);
	tcase_add_test(orch, orchestration_after_fails);
	tcase_add_test(orch, orchestration_unknown_runner);
	suite_add_tcase(s, orch);
	int status = test_run_suite(s);
	coffer_core_free(core);
	coffer_core_free(core_short);
	test_rmtree(tmpdir);
	free(tmpdir);
	return status;
}
