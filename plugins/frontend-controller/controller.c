/* `coffer controller run | status | validate`: VolSync's ReplicationSource and
 * ReplicationDestination on a plain host (docs/controller.md). The run loop reads the
 * manifests, decides which objects are due (first sync, manual value, schedule, or
 * continuously), runs each sync as a child process, and writes status. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <coffer/snapshot.h>
#include <coffer/sys/frontend.h>

#include "controller.h"

static const char controller_usage[] =
	"usage: coffer controller run --config FILE [--once]\n"
	"       coffer controller status [--config FILE] [-n NAMESPACE] [KIND/NAME] [-o yaml|json]\n"
	"       coffer controller validate FILE|DIR...\n"
	"Runs VolSync ReplicationSource / ReplicationDestination manifests on this host\n"
	"(docs/controller.md). KIND: replicationsource (rs) or replicationdestination (rd).\n";

#define NS_PER_S 1000000000LL

typedef struct ctl_object {
	ctl_kind kind;
	char *namespace_, *name;
	const ctl_replication *spec;   /* in the current manifests; NULL once removed */
	ctl_status st;
	ctl_cron cron;
	char spec_error[1024];         /* why the object cannot run (bad schedule, missing Secret) */
	pid_t pid;                     /* the running sync, 0 if none */
	ctl_plan plan;
	int64_t started_ns;
	char *started_manual;
	char *old_image;
	int once_done;
} ctl_object;

typedef struct ctl_state {
	ctl_config cfg;
	ctl_manifests man;
	ctl_object *objs;
	size_t count;
	unsigned long long signature;
	int have_signature;
	unsigned running;
	int once;
	int errors;                    /* --once: manifest or sync errors seen */
} ctl_state;

static const char *kind_name(ctl_kind k)
{
	return k == CTL_KIND_SOURCE ? "ReplicationSource" : "ReplicationDestination";
}

/* ---------------------------------------------------------------- status helpers */

static void set_condition(ctl_status *st, const char *status, const char *reason, const char *message, int64_t now)
{
	if (!st->cond_status || strcmp(st->cond_status, status) != 0 || !st->cond_reason ||
	    strcmp(st->cond_reason, reason) != 0)
		st->cond_transition_time = now;
	ctl_status_set(&st->cond_status, status);
	ctl_status_set(&st->cond_reason, reason);
	ctl_status_set(&st->cond_message, message);
}

static void save_status(ctl_state *s, ctl_object *o)
{
	char err[1024];
	if (ctl_status_save(s->cfg.state_dir, &o->st, err, sizeof(err)) != 0)
		ctl_log(&s->cfg, CTL_LOG_ERROR, "%s %s/%s: cannot save status: %s", kind_name(o->kind), o->namespace_,
		        o->name, err);
}

static int64_t next_from_schedule(const ctl_object *o, int64_t after_ns)
{
	int64_t t = ctl_cron_next(&o->cron, after_ns / NS_PER_S);
	return t < 0 ? 0 : t * NS_PER_S;
}

static void waiting_condition(ctl_state *s, ctl_object *o, int64_t now)
{
	const ctl_replication *r = o->spec;
	if (r->paused)
		set_condition(&o->st, "False", "WaitingForManual", "Paused (spec.paused is true)", now);
	else if (r->manual && r->manual[0])
		set_condition(&o->st, "False", "WaitingForManual", "Waiting for manual trigger", now);
	else if (r->schedule)
		set_condition(&o->st, "False", "WaitingForSchedule", "Waiting for next scheduled synchronization", now);
	else
		set_condition(&o->st, "False", "WaitingForSchedule",
		              s->cfg.continuous_interval_s ? "No trigger: syncing again after continuous_interval_seconds"
		                                           : "No trigger: syncing again",
		              now);
}

/* ---------------------------------------------------------------- manifests */

/* Names, sizes and times of the manifest files: a change means a reload. */
static unsigned long long dir_signature(const char *dir)
{
	unsigned long long h = 1469598103934665603ULL;
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(name);
		if (name[0] != '.' && ((len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
		                       (len > 4 && strcmp(name + len - 4, ".yml") == 0))) {
			char path[4096];
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			if (stat(path, &st) == 0) {
				unsigned long long parts[4] = { (unsigned long long)st.st_size, (unsigned long long)st.st_mtim.tv_sec,
					                        (unsigned long long)st.st_mtim.tv_nsec, (unsigned long long)st.st_ino };
				for (size_t k = 0; k < len; k++)
					h = (h ^ (unsigned char)name[k]) * 1099511628211ULL;
				for (int k = 0; k < 4; k++)
					h = (h ^ parts[k]) * 1099511628211ULL;
			}
		}
		free(names[i]);
	}
	free(names);
	return n < 0 ? 0 : h;
}

static ctl_object *find_object(ctl_state *s, ctl_kind kind, const char *ns, const char *name)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->objs[i].kind == kind && strcmp(s->objs[i].namespace_, ns) == 0 && strcmp(s->objs[i].name, name) == 0)
			return &s->objs[i];
	return NULL;
}

static void object_free(ctl_object *o)
{
	free(o->namespace_);
	free(o->name);
	ctl_status_clear(&o->st);
	ctl_plan_clear(&o->plan);
	free(o->started_manual);
	free(o->old_image);
}

/* The object's schedule and anything else that stops it from running at all. */
static void check_spec(ctl_state *s, ctl_object *o, int64_t now)
{
	const ctl_replication *r = o->spec;
	char err[256];
	o->spec_error[0] = 0;
	memset(&o->cron, 0, sizeof(o->cron));
	if (r->schedule && !(r->manual && r->manual[0]) && ctl_cron_parse(r->schedule, &o->cron, err, sizeof(err)) != 0)
		snprintf(o->spec_error, sizeof(o->spec_error), "%s: document %u: spec.trigger.schedule: '%s': %s",
		         r->origin.file, r->origin.document, r->schedule, err);
	if (o->spec_error[0]) {
		ctl_log(&s->cfg, CTL_LOG_ERROR, "%s %s/%s: %s; it is not run", kind_name(o->kind), o->namespace_, o->name,
		        o->spec_error);
		set_condition(&o->st, "False", "Error", o->spec_error, now);
		s->errors++;
	}
}

static int reload(ctl_state *s, int force)
{
	unsigned long long sig = dir_signature(s->cfg.manifests_dir);
	if (!force && s->have_signature && sig == s->signature)
		return 0;
	s->signature = sig;
	s->have_signature = 1;
	ctl_manifests nm;
	memset(&nm, 0, sizeof(nm));
	if (ctl_manifests_load_dir(&nm, s->cfg.manifests_dir) != 0) {
		ctl_log(&s->cfg, CTL_LOG_ERROR, "reading the manifests in %s: out of memory", s->cfg.manifests_dir);
		ctl_manifests_clear(&nm);
		return -1;
	}
	for (size_t i = 0; i < nm.warning_count; i++)
		ctl_log(&s->cfg, CTL_LOG_WARNING, "%s", nm.warnings[i]);
	for (size_t i = 0; i < nm.error_count; i++)
		ctl_log(&s->cfg, CTL_LOG_ERROR, "%s", nm.errors[i]);
	s->errors += (int)nm.error_count;
	int64_t now = ctl_now_ns();
	for (size_t i = 0; i < s->count; i++)
		s->objs[i].spec = NULL;
	for (size_t i = 0; i < nm.object_count; i++) {
		const ctl_replication *r = &nm.objects[i];
		ctl_object *o = find_object(s, r->kind, r->namespace_, r->name);
		if (!o) {
			ctl_object *grown = realloc(s->objs, (s->count + 1) * sizeof(*grown));
			if (!grown)
				continue;
			s->objs = grown;
			o = &s->objs[s->count];
			memset(o, 0, sizeof(*o));
			o->kind = r->kind;
			o->namespace_ = strdup(r->namespace_);
			o->name = strdup(r->name);
			char err[1024];
			if (ctl_status_load(s->cfg.state_dir, kind_name(r->kind), r->namespace_, r->name, &o->st, err,
			                    sizeof(err)) != 0) {
				ctl_log(&s->cfg, CTL_LOG_WARNING, "%s; starting from an empty status", err);
				ctl_status_clear(&o->st);
				ctl_status_init(&o->st);
				ctl_status_set(&o->st.kind, kind_name(r->kind));
				ctl_status_set(&o->st.namespace_, r->namespace_);
				ctl_status_set(&o->st.name, r->name);
			}
			s->count++;
			ctl_log(&s->cfg, CTL_LOG_INFO, "%s %s/%s: loaded from %s", kind_name(r->kind), r->namespace_, r->name,
			        r->origin.file);
		}
		o->spec = r;
		int changed = !o->st.spec_digest || strcmp(o->st.spec_digest, r->digest) != 0;
		check_spec(s, o, now);
		if (changed) {
			ctl_status_set(&o->st.spec_digest, r->digest);
			o->st.failures = 0;
			o->st.retry_time = 0;
			o->st.next_sync_time = 0;
			if (!o->spec_error[0] && r->schedule && !(r->manual && r->manual[0]) && o->st.last_sync_time)
				o->st.next_sync_time = next_from_schedule(o, o->st.last_sync_time);
			if (!o->spec_error[0] && !o->pid && o->st.last_sync_time)
				waiting_condition(s, o, now);
			save_status(s, o);
		}
	}
	/* Objects gone from the manifests: dropped once their sync ended. */
	for (size_t i = 0; i < s->count;) {
		ctl_object *o = &s->objs[i];
		if (!o->spec && !o->pid) {
			ctl_log(&s->cfg, CTL_LOG_INFO, "%s %s/%s: no longer in the manifests", kind_name(o->kind), o->namespace_,
			        o->name);
			object_free(o);
			s->objs[i] = s->objs[--s->count];
			continue;
		}
		i++;
	}
	ctl_manifests_clear(&s->man);
	s->man = nm;
	return 0;
}

/* ---------------------------------------------------------------- scheduling */

static int is_due(ctl_state *s, ctl_object *o, int64_t now)
{
	const ctl_replication *r = o->spec;
	if (!r || o->pid || r->paused || o->spec_error[0] || (s->once && o->once_done))
		return 0;
	if (o->st.failures && now < o->st.retry_time)
		return 0;
	if (!o->st.last_sync_time)
		return 1; /* the first sync runs at creation, as in VolSync */
	if (r->manual && r->manual[0])
		return !o->st.last_manual_sync || strcmp(o->st.last_manual_sync, r->manual) != 0;
	if (r->schedule)
		return o->st.next_sync_time && now >= o->st.next_sync_time;
	return now >= o->st.last_sync_time + s->cfg.continuous_interval_s * NS_PER_S;
}

/* When something may next become due (for the wait). */
static int64_t next_wake(ctl_state *s, int64_t now)
{
	int64_t wake = now + s->cfg.poll_s * NS_PER_S;
	for (size_t i = 0; i < s->count; i++) {
		ctl_object *o = &s->objs[i];
		const ctl_replication *r = o->spec;
		if (!r || o->pid || r->paused || o->spec_error[0])
			continue;
		int64_t t = 0;
		if (o->st.failures)
			t = o->st.retry_time;
		else if (r->schedule && !(r->manual && r->manual[0]))
			t = o->st.next_sync_time;
		else if (!(r->manual && r->manual[0]) && o->st.last_sync_time)
			t = o->st.last_sync_time + s->cfg.continuous_interval_s * NS_PER_S;
		if (t > 0 && t < wake)
			wake = t;
	}
	return wake < now ? now : wake;
}

static int64_t backoff_ns(const ctl_config *c, unsigned failures)
{
	int64_t d = c->retry_initial_s;
	for (unsigned i = 1; i < failures && d < c->retry_max_s; i++)
		d *= 2;
	return (d > c->retry_max_s ? c->retry_max_s : d) * NS_PER_S;
}

static void fail_sync(ctl_state *s, ctl_object *o, const char *message, int64_t now)
{
	o->st.failures++;
	o->st.retry_time = now + backoff_ns(&s->cfg, o->st.failures);
	set_condition(&o->st, "False", "Error", message, now);
	char when[40];
	coffer_time_format_rfc3339(o->st.retry_time / NS_PER_S * NS_PER_S, when);
	ctl_log(&s->cfg, CTL_LOG_ERROR, "%s %s/%s: sync failed (%u in a row): %s; retrying after %s", kind_name(o->kind),
	        o->namespace_, o->name, o->st.failures, message, s->once ? "the next run" : when);
	s->errors++;
}

static void start_sync(ctl_state *s, ctl_object *o, int64_t now)
{
	char err[2048];
	o->once_done = 1;
	if (ctl_plan_build(&s->cfg, &s->man, o->spec, &o->plan, err, sizeof(err)) != 0 ||
	    ctl_plan_start(&s->cfg, &o->plan, &o->pid, err, sizeof(err)) != 0) {
		ctl_plan_clear(&o->plan);
		o->pid = 0;
		fail_sync(s, o, err, now);
		save_status(s, o);
		return;
	}
	s->running++;
	o->started_ns = now;
	free(o->started_manual);
	o->started_manual = o->spec->manual ? strdup(o->spec->manual) : NULL;
	free(o->old_image);
	o->old_image = o->st.latest_image ? strdup(o->st.latest_image) : NULL;
	o->st.last_sync_start_time = now;
	set_condition(&o->st, "True", "SyncInProgress", "Synchronization in-progress", now);
	save_status(s, o);
	ctl_log(&s->cfg, CTL_LOG_INFO, "%s %s/%s: sync started (pid %ld): %s %s %s", kind_name(o->kind), o->namespace_,
	        o->name, (long)o->pid, o->kind == CTL_KIND_SOURCE ? "backup of" : "restore into", o->plan.data_dir,
	        o->plan.identity ? o->plan.identity : "(the repository's only source)");
}

static int report_ok(const ctl_mover_report *r)
{
	return !strcmp(r->result, "success") || !strcmp(r->result, "skipped") || !strcmp(r->result, "no-snapshot");
}

static void finish_sync(ctl_state *s, ctl_object *o, int wstatus, const char *interrupted)
{
	int64_t now = ctl_now_ns();
	ctl_mover_report rep;
	char *logs = NULL;
	ctl_plan_collect(&s->cfg, &o->plan, &rep, &logs);
	int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	int ok = code == 0 && report_ok(&rep) && !interrupted;
	ctl_status_set(&o->st.mover_result, ok ? "Successful" : "Failed");
	ctl_status_set(&o->st.mover_logs, logs ? logs : "");
	if (rep.last_maintenance[0]) {
		int64_t t;
		if (coffer_time_parse_rfc3339(rep.last_maintenance, &t) == 0)
			o->st.last_maintenance = t;
		else
			coffer_error_clear();
	}
	if (ok) {
		o->st.last_sync_time = now;
		o->st.last_sync_duration_ns = now - o->started_ns;
		o->st.last_sync_start_time = 0;
		o->st.failures = 0;
		o->st.retry_time = 0;
		if (o->started_manual)
			ctl_status_set(&o->st.last_manual_sync, o->started_manual);
		ctl_status_set(&o->st.last_snapshot, rep.snapshot_id[0] ? rep.snapshot_id : NULL);
		o->st.next_sync_time = 0;
		if (o->spec && o->spec->schedule && !(o->spec->manual && o->spec->manual[0]) && !o->spec_error[0])
			o->st.next_sync_time = next_from_schedule(o, now);
		if (o->kind == CTL_KIND_DESTINATION) {
			const char *image = o->plan.image_dir ? o->plan.image_dir : o->plan.data_dir;
			if (o->plan.image_dir && o->old_image && strcmp(o->old_image, image) != 0) {
				ctl_log(&s->cfg, CTL_LOG_INFO, "%s %s/%s: removing the previous image %s", kind_name(o->kind),
				        o->namespace_, o->name, o->old_image);
				ctl_remove_tree(o->old_image);
			}
			ctl_status_set(&o->st.latest_image, image);
			if (o->spec && o->spec->cleanup_cache_pvc)
				ctl_remove_tree(o->plan.cache_dir);
		}
		if (o->spec)
			waiting_condition(s, o, now);
		char dur[64];
		ctl_format_duration(o->st.last_sync_duration_ns, dur, sizeof(dur));
		ctl_log(&s->cfg, CTL_LOG_INFO, "%s %s/%s: sync finished in %s: %s%s%s", kind_name(o->kind), o->namespace_,
		        o->name, dur, rep.result, rep.snapshot_id[0] ? ", snapshot " : "", rep.snapshot_id);
	} else {
		char msg[1400];
		if (interrupted)
			snprintf(msg, sizeof(msg), "%s", interrupted);
		else if (rep.error[0])
			snprintf(msg, sizeof(msg), "%s", rep.error);
		else {
			/* The log's last line says why (e.g. the mover was killed by a signal). */
			const char *last = logs ? strrchr(logs, '\n') : NULL;
			last = last ? last + 1 : logs;
			snprintf(msg, sizeof(msg), "the sync %s %d without a result: %s (log: %s)",
			         WIFEXITED(wstatus) ? "exited with status" : "was killed by signal",
			         WIFEXITED(wstatus) ? code : WTERMSIG(wstatus), last && last[0] ? last : "no log", o->plan.log_path);
		}
		fail_sync(s, o, msg, now);
	}
	free(logs);
	save_status(s, o);
	ctl_plan_clear(&o->plan);
	o->pid = 0;
	s->running--;
}

static void reap(ctl_state *s, const char *interrupted)
{
	int wstatus;
	pid_t pid;
	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		for (size_t i = 0; i < s->count; i++)
			if (s->objs[i].pid == pid)
				finish_sync(s, &s->objs[i], wstatus, interrupted);
	}
}

/* ---------------------------------------------------------------- run */

static void stop_all(ctl_state *s, sigset_t *set)
{
	if (!s->running)
		return;
	ctl_log(&s->cfg, CTL_LOG_INFO, "stopping: sending SIGTERM to %u running sync(s)", s->running);
	for (size_t i = 0; i < s->count; i++)
		if (s->objs[i].pid)
			kill(-s->objs[i].pid, SIGTERM);
	int64_t deadline = ctl_now_ns() + s->cfg.stop_timeout_s * NS_PER_S;
	while (s->running && ctl_now_ns() < deadline) {
		struct timespec ts = { 0, 200000000 };
		sigtimedwait(set, NULL, &ts);
		reap(s, "interrupted: the controller was stopped during the sync");
	}
	for (size_t i = 0; i < s->count; i++)
		if (s->objs[i].pid) {
			ctl_log(&s->cfg, CTL_LOG_WARNING, "%s %s/%s: killing the sync after %llds", kind_name(s->objs[i].kind),
			        s->objs[i].namespace_, s->objs[i].name, (long long)s->cfg.stop_timeout_s);
			kill(-s->objs[i].pid, SIGKILL);
		}
	while (s->running) {
		struct timespec ts = { 0, 200000000 };
		sigtimedwait(set, NULL, &ts);
		reap(s, "interrupted: the controller was stopped during the sync");
	}
}

static int run_loop(ctl_state *s)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, &old);
	/* sigtimedwait needs SIGCHLD to be delivered, not discarded. */
	signal(SIGCHLD, SIG_DFL);
	int stop = 0;
	int64_t next_poll = 0;
	int force = 1;
	while (!stop) {
		int64_t now = ctl_now_ns();
		if (force || now >= next_poll) {
			reload(s, force);
			force = 0;
			next_poll = now + s->cfg.poll_s * NS_PER_S;
		}
		reap(s, NULL);
		now = ctl_now_ns();
		for (size_t i = 0; i < s->count && s->running < s->cfg.concurrency; i++)
			if (is_due(s, &s->objs[i], now))
				start_sync(s, &s->objs[i], now);
		if (s->once) {
			int pending = 0;
			for (size_t i = 0; i < s->count; i++)
				pending |= is_due(s, &s->objs[i], now);
			if (!s->running && !pending)
				break;
		}
		int64_t wake = s->once ? now + NS_PER_S : next_wake(s, now);
		if (wake > next_poll && !s->once)
			wake = next_poll;
		int64_t wait = wake - now;
		if (wait < 1000000)
			wait = 1000000;
		struct timespec ts = { (time_t)(wait / NS_PER_S), (long)(wait % NS_PER_S) };
		siginfo_t info;
		int sig = sigtimedwait(&set, &info, &ts);
		if (sig == SIGHUP) {
			ctl_log(&s->cfg, CTL_LOG_INFO, "SIGHUP: reading the manifests again");
			force = 1;
		} else if (sig == SIGTERM || sig == SIGINT) {
			ctl_log(&s->cfg, CTL_LOG_INFO, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			stop = 1;
		}
	}
	stop_all(s, &set);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}

static int cmd_run(coffer_core *core, int argc, char **argv)
{
	(void)core;
	const char *config = NULL;
	ctl_state s;
	memset(&s, 0, sizeof(s));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
		else if (strcmp(argv[i], "--once") == 0)
			s.once = 1;
		else {
			fprintf(stderr, "coffer controller run: unknown argument '%s'\n%s", argv[i], controller_usage);
			return COFFER_EXIT_USAGE;
		}
	}
	if (!config && !(config = getenv("COFFER_CONFIG"))) {
		fprintf(stderr, "coffer controller run: --config FILE is required\n%s", controller_usage);
		return COFFER_EXIT_USAGE;
	}
	if (ctl_config_load(config, &s.cfg) != 0) {
		ctl_log(NULL, CTL_LOG_ERROR, "%s", coffer_error_last()->message);
		return COFFER_EXIT_USAGE;
	}
	struct stat st;
	if (stat(s.cfg.manifests_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		ctl_log(NULL, CTL_LOG_ERROR, "%s: manifests_dir %s is not a directory", config, s.cfg.manifests_dir);
		ctl_config_clear(&s.cfg);
		return COFFER_EXIT_USAGE;
	}
	if (mkdir(s.cfg.state_dir, 0700) != 0 && errno != EEXIST) {
		ctl_log(NULL, CTL_LOG_ERROR, "%s: cannot create state_dir %s: %s", config, s.cfg.state_dir, strerror(errno));
		ctl_config_clear(&s.cfg);
		return COFFER_EXIT_FAILURE;
	}
	ctl_log(&s.cfg, CTL_LOG_INFO, "coffer %s controller%s: manifests %s, state %s, %u at once", coffer_version(),
	        s.once ? " (--once)" : "", s.cfg.manifests_dir, s.cfg.state_dir, s.cfg.concurrency);
	run_loop(&s);
	int errors = s.errors;
	for (size_t i = 0; i < s.count; i++)
		object_free(&s.objs[i]);
	free(s.objs);
	ctl_manifests_clear(&s.man);
	ctl_config_clear(&s.cfg);
	return s.once && errors ? COFFER_EXIT_FAILURE : COFFER_EXIT_OK;
}

/* ---------------------------------------------------------------- validate */

static int cmd_validate(int argc, char **argv)
{
	if (argc < 2) {
		fputs(controller_usage, stderr);
		return COFFER_EXIT_USAGE;
	}
	ctl_manifests m;
	memset(&m, 0, sizeof(m));
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			ctl_manifests_load_dir(&m, argv[i]);
		else
			ctl_manifests_load_file(&m, argv[i]);
	}
	size_t errors = m.error_count;
	for (size_t i = 0; i < m.warning_count; i++)
		printf("warning: %s\n", m.warnings[i]);
	for (size_t i = 0; i < m.error_count; i++)
		printf("error: %s\n", m.errors[i]);
	for (size_t i = 0; i < m.object_count; i++) {
		const ctl_replication *r = &m.objects[i];
		ctl_cron cron;
		char err[256];
		if (r->schedule && ctl_cron_parse(r->schedule, &cron, err, sizeof(err)) != 0) {
			printf("error: %s: document %u (%s %s/%s): spec.trigger.schedule: '%s': %s\n", r->origin.file,
			       r->origin.document, kind_name(r->kind), r->namespace_, r->name, r->schedule, err);
			errors++;
			continue;
		}
		printf("ok: %s %s/%s (%s, document %u)\n", kind_name(r->kind), r->namespace_, r->name, r->origin.file,
		       r->origin.document);
	}
	printf("%zu object(s), %zu Secret(s)/ConfigMap(s), %zu error(s), %zu warning(s)\n", m.object_count, m.data_count,
	       errors, m.warning_count);
	ctl_manifests_clear(&m);
	return errors ? COFFER_EXIT_FAILURE : COFFER_EXIT_OK;
}

/* ---------------------------------------------------------------- status */

static int parse_kind(const char *text, size_t len, ctl_kind *out)
{
	static const struct {
		const char *name;
		ctl_kind kind;
	} names[] = {
		{ "replicationsource", CTL_KIND_SOURCE }, { "replicationsources", CTL_KIND_SOURCE }, { "rs", CTL_KIND_SOURCE },
		{ "replicationdestination", CTL_KIND_DESTINATION }, { "replicationdestinations", CTL_KIND_DESTINATION },
		{ "rd", CTL_KIND_DESTINATION },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == len && strncasecmp(names[i].name, text, len) == 0) {
			*out = names[i].kind;
			return 0;
		}
	return -1;
}

static int cmd_status(int argc, char **argv)
{
	const char *config = getenv("COFFER_CONFIG"), *ns = "default", *which = NULL;
	ctl_output fmt = CTL_OUTPUT_YAML;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if ((strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "--namespace") == 0) && i + 1 < argc)
			ns = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
			const char *o = argv[++i];
			if (strcmp(o, "yaml") == 0)
				fmt = CTL_OUTPUT_YAML;
			else if (strcmp(o, "json") == 0)
				fmt = CTL_OUTPUT_JSON;
			else {
				fprintf(stderr, "coffer controller status: -o %s: use yaml or json\n", o);
				return COFFER_EXIT_USAGE;
			}
		} else if (argv[i][0] != '-' && !which)
			which = argv[i];
		else {
			fprintf(stderr, "coffer controller status: unknown argument '%s'\n%s", argv[i], controller_usage);
			return COFFER_EXIT_USAGE;
		}
	}
	if (!config) {
		fprintf(stderr, "coffer controller status: --config FILE (or COFFER_CONFIG) is required\n");
		return COFFER_EXIT_USAGE;
	}
	ctl_kind kind = CTL_KIND_SOURCE;
	const char *name = NULL;
	if (which) {
		const char *slash = strchr(which, '/');
		if (!slash || parse_kind(which, (size_t)(slash - which), &kind) != 0 || !slash[1]) {
			fprintf(stderr, "coffer controller status: '%s' is not KIND/NAME (KIND: replicationsource, rs, "
			                "replicationdestination, rd)\n", which);
			return COFFER_EXIT_USAGE;
		}
		name = slash + 1;
	}
	ctl_config cfg;
	if (ctl_config_load(config, &cfg) != 0) {
		fprintf(stderr, "coffer controller status: %s\n", coffer_error_last()->message);
		return COFFER_EXIT_USAGE;
	}
	ctl_manifests m;
	memset(&m, 0, sizeof(m));
	ctl_manifests_load_dir(&m, cfg.manifests_dir);
	char err[1024];
	int status = COFFER_EXIT_OK;
	ctl_status *all = NULL;
	size_t n = 0;
	if (name) {
		ctl_status one;
		ctl_status_init(&one);
		const ctl_replication *spec = NULL;
		for (size_t i = 0; i < m.object_count; i++)
			if (m.objects[i].kind == kind && !strcmp(m.objects[i].namespace_, ns) && !strcmp(m.objects[i].name, name))
				spec = &m.objects[i];
		char *path = ctl_status_path(cfg.state_dir, kind_name(kind), ns, name);
		struct stat st;
		int known = path && stat(path, &st) == 0;
		free(path);
		if (!spec && !known) {
			fprintf(stderr, "coffer controller status: %s %s/%s not found (not in %s, no status in %s)\n",
			        kind_name(kind), ns, name, cfg.manifests_dir, cfg.state_dir);
			status = COFFER_EXIT_NOTFOUND;
		} else if (ctl_status_load(cfg.state_dir, kind_name(kind), ns, name, &one, err, sizeof(err)) != 0) {
			fprintf(stderr, "coffer controller status: %s\n", err);
			status = COFFER_EXIT_CORRUPT;
		} else {
			ctl_status_print(stdout, &one, spec, fmt);
		}
		ctl_status_clear(&one);
	} else if (ctl_status_load_all(cfg.state_dir, &all, &n, err, sizeof(err)) != 0) {
		fprintf(stderr, "coffer controller status: %s\n", err);
		status = COFFER_EXIT_CORRUPT;
	} else {
		const ctl_status **ss = calloc(n + 1, sizeof(*ss));
		const ctl_replication **specs = calloc(n + 1, sizeof(*specs));
		for (size_t i = 0; ss && specs && i < n; i++) {
			ss[i] = &all[i];
			for (size_t k = 0; k < m.object_count; k++)
				if (!strcmp(kind_name(m.objects[k].kind), all[i].kind) &&
				    !strcmp(m.objects[k].namespace_, all[i].namespace_) && !strcmp(m.objects[k].name, all[i].name))
					specs[i] = &m.objects[k];
		}
		if (ss && specs)
			ctl_status_print_list(stdout, ss, specs, n, fmt);
		free(ss);
		free(specs);
		for (size_t i = 0; i < n; i++)
			ctl_status_clear(&all[i]);
		free(all);
	}
	ctl_manifests_clear(&m);
	ctl_config_clear(&cfg);
	return status;
}

static int controller_main(coffer_core *core, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(controller_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? COFFER_EXIT_USAGE : COFFER_EXIT_OK;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(core, argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (strcmp(argv[1], "validate") == 0)
		return cmd_validate(argc - 1, argv + 1);
	fprintf(stderr, "coffer controller: unknown command '%s'\n%s", argv[1], controller_usage);
	return COFFER_EXIT_USAGE;
}

static const coffer_frontend_vtable controller_vtable = {
	.version = COFFER_FRONTEND_VTABLE_VERSION,
	.main = controller_main,
};

static const char *const controller_names[] = { "controller", NULL };

COFFER_PLUGIN_DEFINE(frontend_controller) = {
	COFFER_PLUGIN_MAGIC, COFFER_ABI_VERSION, COFFER_PLUGIN_FRONTEND, "frontend-controller",
	"VolSync-style controller: runs ReplicationSource / ReplicationDestination manifests on this host",
	controller_names, NULL, &controller_vtable,
};
