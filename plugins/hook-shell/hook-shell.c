/* hook-shell: runs a snapshot action with /bin/sh -c in its own process group, captures
 * its output line by line and kills the whole group on timeout. See docs/hooks.md. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <coffer/sys/hook.h>

extern char **environ;

#define HOOK_DEFAULT_TIMEOUT_S 300
#define HOOK_DEFAULT_GRACE_S 10
/* After SIGKILL, how long to wait for the group to vanish (processes in D state). */
#define HOOK_KILL_WAIT_MS 5000
#define HOOK_TICK_MS 50
#define HOOK_LINE_MAX 4096
#define HOOK_COMMAND_SHOWN 80
#define HOOK_CONFIG_MAX_S 604800

/* Variables holding repository secrets; a hook command has no business seeing them. */
static const char *const secret_env[] = {
	"KOPIA_PASSWORD", "COFFER_NEW_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_ACCOUNT_KEY", NULL
};

typedef struct hook_limits {
	long long timeout_ms; /* 0: none */
	long long grace_ms;
} hook_limits;

typedef struct line_reader {
	char buf[HOOK_LINE_MAX + 1];
	size_t len;
	const coffer_hook_request *req;
} line_reader;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int config_seconds(const coffer_hook_request *req, const char *key, long long dflt, long long *out)
{
	*out = dflt;
	if (req->version < 2 || !req->config)
		return 0;
	long long v;
	int rc = coffer_config_int(req->config, key, &v);
	if (rc == COFFER_ENOTFOUND)
		return 0;
	if (rc)
		return coffer_error_set(rc, "hook-shell: %s at %s must be an integer", key,
		                        coffer_config_where(req->config));
	if (v < 0 || v > HOOK_CONFIG_MAX_S)
		return coffer_error_set(COFFER_EINVALID, "hook-shell: %s at %s is %lld; it must be 0 to %d seconds",
		                        key, coffer_config_where(req->config), v, HOOK_CONFIG_MAX_S);
	*out = v;
	return 0;
}

static int hook_limits_get(const coffer_hook_request *req, hook_limits *out)
{
	long long timeout_s, grace_s;
	int rc = config_seconds(req, "default_timeout_s", HOOK_DEFAULT_TIMEOUT_S, &timeout_s);
	if (!rc)
		rc = config_seconds(req, "kill_grace_s", HOOK_DEFAULT_GRACE_S, &grace_s);
	if (rc)
		return rc;
	if (req->timeout_sec != COFFER_HOOK_TIMEOUT_DEFAULT)
		timeout_s = req->timeout_sec;
	out->timeout_ms = timeout_s * 1000;
	out->grace_ms = grace_s * 1000;
	return 0;
}

static size_t env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');
	return eq ? (size_t)(eq - entry) : strlen(entry);
}

static int env_listed(const char *entry, const char *const *list)
{
	size_t n = env_name_len(entry);
	for (size_t i = 0; list && list[i]; i++)
		if (env_name_len(list[i]) == n && strncmp(list[i], entry, n) == 0)
			return 1;
	return 0;
}

/* The inherited environment without secrets and without names set again in `set`, then `set`. */
static char **env_build(char *const *set, size_t nset)
{
	size_t n = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	char **env = calloc(n + nset + 1, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (char **e = environ; e && *e; e++) {
		if (env_listed(*e, secret_env))
			continue;
		int overridden = 0;
		for (size_t i = 0; i < nset && !overridden; i++)
			overridden = env_name_len(set[i]) == env_name_len(*e) &&
			             strncmp(set[i], *e, env_name_len(*e)) == 0;
		if (!overridden)
			env[k++] = *e;
	}
	for (size_t i = 0; i < nset; i++) {
		int later = 0; /* the last setting of a name wins */
		for (size_t j = i + 1; j < nset && !later; j++)
			later = env_name_len(set[j]) == env_name_len(set[i]) &&
			        strncmp(set[j], set[i], env_name_len(set[i])) == 0;
		if (!later)
			env[k++] = set[i];
	}
	env[k] = NULL;
	return env;
}

static void line_emit(line_reader *r)
{
	r->buf[r->len] = '\0';
	if (r->len && r->buf[r->len - 1] == '\r')
		r->buf[--r->len] = '\0';
	for (size_t i = 0; i < r->len; i++) {
		unsigned char c = (unsigned char)r->buf[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			r->buf[i] = '?'; /* no terminal escapes in the log */
	}
	if (r->req->log)
		r->req->log(r->req->log_ud, r->buf);
	r->len = 0;
}

static void line_feed(line_reader *r, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (data[i] == '\n') {
			line_emit(r);
			continue;
		}
		r->buf[r->len++] = data[i];
		if (r->len == HOOK_LINE_MAX)
			line_emit(r);
	}
}

/* Reads what is available; returns 1 at end of file. */
static int pipe_drain(int fd, line_reader *r)
{
	char chunk[4096];
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof(chunk));
		if (got > 0) {
			line_feed(r, chunk, (size_t)got);
			continue;
		}
		if (got == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
	}
}

static int spawn_shell(const coffer_hook_request *req, char **env, int out_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	int err = posix_spawn_file_actions_init(&fa);
	if (err)
		return err;
	if ((err = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return err;
	}
	if (!err)
		err = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	/* fds other threads opened without O_CLOEXEC must not leak into the hook */
	if (!err)
		err = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
#endif
	if (!err && req->cwd)
		err = posix_spawn_file_actions_addchdir_np(&fa, req->cwd);
	if (!err)
		err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
		                                              POSIX_SPAWN_SETSIGDEF);
	if (!err)
		err = posix_spawnattr_setpgroup(&attr, 0);
	if (!err)
		err = posix_spawnattr_setsigmask(&attr, &none);
	if (!err)
		err = posix_spawnattr_setsigdefault(&attr, &all);
	if (!err) {
		char *argv[] = { (char *)"sh", (char *)"-c", (char *)req->command, NULL };
		err = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, env);
	}
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return err;
}

/* Whether process group `pgid` has a member that is not a zombie. Orphaned zombies wait
 * for init to reap them, which some container inits never do; they no longer run. */
static int group_alive(pid_t pgid)
{
	if (kill(-pgid, 0) != 0)
		return errno == EPERM;
	DIR *proc = opendir("/proc");
	if (!proc)
		return 1;
	int alive = 0;
	struct dirent *de;
	while (!alive && (de = readdir(proc)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char path[64], stat[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, stat, sizeof(stat) - 1);
		close(fd);
		if (n <= 0)
			continue;
		stat[n] = '\0';
		/* "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses */
		char *rp = strrchr(stat, ')');
		char state;
		long ppid, pgrp;
		if (rp && sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == (long)pgid &&
		    state != 'Z' && state != 'X')
			alive = 1;
	}
	closedir(proc);
	return alive;
}

typedef struct hook_wait {
	int status;          /* from waitpid, valid when reaped */
	int reaped;
	int timed_out;
	int group_killed;    /* SIGKILL was needed */
	int group_stuck;     /* members survived SIGKILL */
	int leftovers;       /* background members outlived the shell */
} hook_wait;

/* Waits for the shell and the rest of its process group while reading its output.
 * The shell is reaped first; its pid stays reserved as a process group id as long as
 * any member lives, so signalling -pid never reaches a stranger. */
static void wait_group(pid_t pid, int fd, const hook_limits *lim, line_reader *r, hook_wait *w)
{
	long long start = now_ms(), deadline = lim->timeout_ms ? start + lim->timeout_ms : 0;
	long long phase_end = 0;
	enum { RUNNING, TERMINATING, KILLED } phase = RUNNING;
	int eof = 0;
	for (;;) {
		long long now = now_ms();
		if (!w->reaped) {
			pid_t got = waitpid(pid, &w->status, WNOHANG);
			if (got == pid)
				w->reaped = 1;
		}
		if (w->reaped && phase == RUNNING) {
			if (!group_alive(pid))
				break;
			w->leftovers = 1;
			if (r->req->log)
				r->req->log(r->req->log_ud, "(background processes outlived the shell: "
				                            "terminating its process group)");
			kill(-pid, SIGTERM);
			phase = TERMINATING;
			phase_end = now + lim->grace_ms;
		} else if (phase == RUNNING && deadline && now >= deadline) {
			w->timed_out = 1;
			kill(-pid, SIGTERM);
			phase = TERMINATING;
			phase_end = now + lim->grace_ms;
		}
		if (phase != RUNNING && w->reaped && !group_alive(pid))
			break;
		if (phase == TERMINATING && now >= phase_end) {
			kill(-pid, SIGKILL);
			w->group_killed = 1;
			phase = KILLED;
			phase_end = now + HOOK_KILL_WAIT_MS;
		} else if (phase == KILLED && now >= phase_end) {
			w->group_stuck = 1;
			break;
		}
		int tick = HOOK_TICK_MS;
		if (phase == RUNNING && deadline && deadline - now < tick)
			tick = (int)(deadline - now > 0 ? deadline - now : 0);
		if (eof) {
			struct timespec ts = { 0, (long)tick * 1000000L };
			nanosleep(&ts, NULL);
			continue;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ready = poll(&p, 1, tick);
		if (ready > 0)
			eof = pipe_drain(fd, r);
	}
	if (!w->reaped && waitpid(pid, &w->status, 0) == pid)
		w->reaped = 1;
	if (!eof)
		pipe_drain(fd, r);
	if (r->len)
		line_emit(r);
}

static void command_shown(const char *command, char out[HOOK_COMMAND_SHOWN + 4])
{
	size_t n = strcspn(command, "\n");
	int cut = n > HOOK_COMMAND_SHOWN || command[n] != '\0';
	if (n > HOOK_COMMAND_SHOWN)
		n = HOOK_COMMAND_SHOWN;
	memcpy(out, command, n);
	strcpy(out + n, cut ? "..." : "");
}

static int hook_result(const coffer_hook_request *req, const char *action, const hook_limits *lim,
                       const hook_wait *w)
{
	char shown[HOOK_COMMAND_SHOWN + 4];
	command_shown(req->command, shown);
	const char *stuck = w->group_stuck ? "; some of its processes survived SIGKILL" : "";
	if (w->timed_out)
		return coffer_error_set(COFFER_ERROR,
		                        "%s hook '%s' failed: timed out after %lld s; its process group was %s%s",
		                        action, shown, lim->timeout_ms / 1000,
		                        w->group_killed ? "killed (SIGTERM, then SIGKILL)" : "terminated (SIGTERM)",
		                        stuck);
	if (!w->reaped)
		return coffer_error_set(COFFER_ERROR, "%s hook '%s' failed: lost track of the shell", action, shown);
	if (WIFSIGNALED(w->status))
		return coffer_error_set(COFFER_ERROR, "%s hook '%s' failed: killed by signal %d (%s)%s", action,
		                        shown, WTERMSIG(w->status), strsignal(WTERMSIG(w->status)), stuck);
	int code = WIFEXITED(w->status) ? WEXITSTATUS(w->status) : -1;
	if (code != 0)
		return coffer_error_set(COFFER_ERROR, "%s hook '%s' failed: exit status %d%s%s", action, shown,
		                        code, code == 127 ? " (command not found)" : "", stuck);
	if (w->group_stuck)
		return coffer_error_set(COFFER_ERROR, "%s hook '%s' failed%s", action, shown, stuck);
	return 0;
}

static int hook_shell_run(const coffer_hook_request *req)
{
	if (!req || req->version == 0 || req->version > COFFER_HOOK_REQUEST_VERSION)
		return coffer_error_set(COFFER_EUNSUPPORTED, "hook-shell: request version %u is not supported (1 to %u)",
		                        req ? req->version : 0, COFFER_HOOK_REQUEST_VERSION);
	const char *action = req->action ? req->action : "hook";
	if (!req->command || !req->command[0])
		return coffer_error_set(COFFER_EINVALID, "%s hook: empty command", action);
	hook_limits lim;
	int rc = hook_limits_get(req, &lim);
	if (rc)
		return rc;

	size_t nextra = 0;
	while (req->env && req->env[nextra])
		nextra++;
	char **set = calloc(nextra + 2, sizeof(*set));
	char *action_var = NULL, *path_var = NULL;
	if (set && asprintf(&action_var, "COFFER_ACTION=%s", action) >= 0 &&
	    asprintf(&path_var, "COFFER_SOURCE_PATH=%s", req->cwd ? req->cwd : "") >= 0) {
		set[0] = action_var;
		set[1] = path_var;
		for (size_t i = 0; i < nextra; i++)
			set[2 + i] = (char *)req->env[i];
	} else {
		free(set);
		set = NULL;
	}
	char **env = set ? env_build(set, nextra + 2) : NULL;
	int fds[2] = { -1, -1 };
	if (!env) {
		rc = coffer_error_set(COFFER_ENOMEM, "%s hook: out of memory", action);
		goto out;
	}
	if (pipe2(fds, O_CLOEXEC) != 0) {
		rc = coffer_error_set_errno(COFFER_ERROR, errno, "%s hook: pipe", action);
		goto out;
	}
	pid_t pid;
	int err = spawn_shell(req, env, fds[1], &pid);
	close(fds[1]);
	if (err) {
		rc = coffer_error_set_errno(COFFER_ERROR, err, "%s hook failed: cannot start /bin/sh in '%s'", action,
		                            req->cwd ? req->cwd : ".");
		goto out;
	}
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
	line_reader *reader = malloc(sizeof(*reader));
	if (!reader) {
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		rc = coffer_error_set(COFFER_ENOMEM, "%s hook: out of memory", action);
		goto out;
	}
	reader->len = 0;
	reader->req = req;
	hook_wait w = { 0 };
	wait_group(pid, fds[0], &lim, reader, &w);
	free(reader);
	rc = hook_result(req, action, &lim, &w);
out:
	if (fds[0] >= 0)
		close(fds[0]);
	free(env);
	free(set);
	free(action_var);
	free(path_var);
	return rc;
}

static const coffer_hook_vtable hook_shell_vtable = {
	.version = COFFER_HOOK_VTABLE_VERSION,
	.run = hook_shell_run,
};

static const char *const hook_shell_names[] = { "shell", NULL };

static const coffer_option hook_shell_options[] = {
	{ "default_timeout_s", COFFER_OPT_INT, "seconds a command may run when the caller sets no timeout (300; 0: none)" },
	{ "kill_grace_s", COFFER_OPT_INT, "seconds between SIGTERM and SIGKILL to the process group (10)" },
	{ NULL, 0, NULL }
};

COFFER_PLUGIN_DEFINE(hook_shell) = {
	COFFER_PLUGIN_MAGIC, COFFER_ABI_VERSION, COFFER_PLUGIN_HOOK, "hook-shell",
	"runs snapshot actions with /bin/sh -c, output to the log, process group killed on timeout",
	hook_shell_names, hook_shell_options, &hook_shell_vtable,
};
