/* `coffer mover backup`: skip an empty DATA_DIR, open or create the repository, snapshot
 * between the hooks, apply retention, run maintenance when due. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/maintenance.h>

#include "mover.h"

/* Empty as VolSync counts it: nothing but lost+found. */
static int data_dir_is_empty(const char *dir, mover_result *r, int *empty)
{
	DIR *d = opendir(dir);
	if (!d)
		return mover_fail(r, COFFER_EXIT_FAILURE, "cannot read DATA_DIR '%s': %s", dir, strerror(errno));
	*empty = 1;
	struct dirent *de;
	while (*empty && (de = readdir(d)) != NULL)
		*empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, "lost+found");
	closedir(d);
	return 0;
}

typedef struct backup_job {
	coffer_repo *repo;
	const coffer_backup_options *bo;
	coffer_snapshot_info info;
} backup_job;

static int backup_body(void *ud, char *id, size_t id_size)
{
	backup_job *job = ud;
	mover_log("INFO", "Creating snapshot of %s as %s", job->bo->path, job->bo->source);
	int rc = coffer_backup(job->repo, job->bo, &job->info);
	if (rc == 0)
		snprintf(id, id_size, "%s", job->info.id);
	return rc;
}

static void hook_log(void *ud, const char *action, const char *line)
{
	(void)ud;
	mover_log("INFO", "hook %s: %s", action, line);
}

static void log_retention_policy(const coffer_retention_policy *p, const char *source)
{
	char text[256];
	snprintf(text, sizeof(text), "latest %u, hourly %u, daily %u, weekly %u, monthly %u, yearly %u", p->keep_latest,
	         p->keep_hourly, p->keep_daily, p->keep_weekly, p->keep_monthly, p->keep_yearly);
	mover_log("INFO", "Applying retention to %s (%s)", source, text);
}

/* Retention on this run's source only: other sources in the repository are not ours. */
static int apply_retention(coffer_repo *repo, const mover_env *e, mover_result *r)
{
	log_retention_policy(&e->retain, e->source);
	coffer_snapshot_info *snaps = NULL;
	size_t n = 0;
	/* the strict listing: an unreadable manifest must stop retention (docs/retention.md) */
	int rc = coffer_snapshot_list(repo, e->source, &snaps, &n);
	if (rc)
		return mover_fail_core(r, rc, "retention: listing the snapshots");
	coffer_retention_decision *plan = calloc(n ? n : 1, sizeof(*plan));
	int status = 0;
	size_t expired = 0;
	if (!plan) {
		status = mover_fail(r, COFFER_EXIT_FAILURE, "retention: out of memory");
	} else if ((rc = coffer_retention_plan(snaps, n, &e->retain, plan)) != 0) {
		status = mover_fail_core(r, rc, "retention");
	} else {
		for (size_t i = 0; i < n; i++) {
			if (plan[i].keep)
				continue;
			char t[40];
			coffer_time_format_rfc3339(snaps[i].start_time_ns, t);
			rc = coffer_snapshot_delete_listed(repo, &snaps[i]);
			if (rc == COFFER_ENOTFOUND)
				rc = 0; /* deleted meanwhile by someone else */
			if (rc) {
				int code = mover_fail_core(r, rc, "retention: deleting a snapshot");
				status = status ? status : code;
				continue;
			}
			expired++;
			mover_log("INFO", "Retention: expired snapshot %s of %s (%s)", snaps[i].id, t,
			          plan[i].reason_count ? plan[i].reasons[0].text : "no rule keeps it");
		}
		mover_log("INFO", "Retention: kept %zu of %zu snapshots of %s, expired %zu", n - expired, n, e->source,
		          expired);
	}
	free(plan);
	coffer_snapshot_info_free_array(snaps, n);
	return status;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Full maintenance (compaction and garbage collection) when KOPIA_MAINTENANCE_INTERVAL_DAYS
 * have passed since the last run recorded in the repository, or there was none. Another
 * live owner's lease is not a failure: that owner is doing the work. */
static int run_maintenance(coffer_repo *repo, const mover_env *e, mover_result *r)
{
	if (e->maintenance_days == 0) {
		mover_log("INFO", "Maintenance: disabled (KOPIA_MAINTENANCE_INTERVAL_DAYS=0)");
		return 0;
	}
	int64_t last = 0, interval = (int64_t)e->maintenance_days * 86400 * 1000000000;
	int rc = coffer_maintenance_last_run(repo, &last);
	if (rc)
		return mover_fail_core(r, rc, "maintenance: reading the last run");
	r->last_maintenance_ns = last;
	char t[40];
	if (last && now_ns() - last < interval) {
		coffer_time_format_rfc3339(last, t);
		mover_log("INFO", "Maintenance: not due (last run %s, interval %u days)", t, e->maintenance_days);
		return 0;
	}
	/* the lease owner is this run's user@host, so two identities never hold it at once */
	char owner[256];
	snprintf(owner, sizeof(owner), "%.*s", (int)(strchr(e->source, ':') - e->source), e->source);
	coffer_maintenance_options mo = COFFER_MAINTENANCE_OPTIONS_INIT;
	mo.full = 1;
	mo.owner = owner;
	coffer_maintenance_result res;
	memset(&res, 0, sizeof(res));
	mover_log("INFO", "Maintenance: due (interval %u days), running it as %s", e->maintenance_days, owner);
	rc = coffer_maintenance_run(repo, &mo, &res);
	if (rc == COFFER_EEXISTS) {
		mover_log("INFO", "Maintenance: skipped, %s", coffer_error_last()->message);
		return 0;
	}
	if (rc)
		return mover_fail_core(r, rc, "maintenance");
	r->last_maintenance_ns = res.end_ns ? res.end_ns : now_ns();
	mover_log("INFO",
	          "Maintenance completed: %llu snapshots, %llu packs deleted, %llu repacked, %llu bytes reclaimed, "
	          "%llu index blobs compacted to %llu",
	          (unsigned long long)res.snapshots, (unsigned long long)res.packs_deleted,
	          (unsigned long long)res.packs_repacked, (unsigned long long)res.bytes_reclaimed,
	          (unsigned long long)res.index_blobs_before, (unsigned long long)res.index_blobs_after);
	return 0;
}

int mover_backup(coffer_core *core, const mover_env *e, mover_result *r)
{
	int empty = 0, status;
	if ((status = data_dir_is_empty(e->data_dir, r, &empty)) != 0)
		return status;
	if (empty) {
		mover_log("INFO", "Directory is empty, skipping backup: DATA_DIR %s holds nothing (lost+found aside)",
		          e->data_dir);
		r->result = "skipped";
		return 0;
	}
	coffer_repo *repo = NULL;
	if ((status = mover_open_repo(core, e, 1, r, &repo)) != 0)
		return status;

	coffer_backup_options bo = { .version = COFFER_BACKUP_OPTIONS_VERSION };
	bo.path = e->data_dir;
	bo.source = e->source;
	bo.parallelism = e->parallelism;
	bo.compression = e->compression;
	bo.on_event = mover_engine_event;
	/* lost+found belongs to the filesystem, not the application (restore keeps it too). */
	static const char *const excluded[] = { "lost+found" };
	bo.exclude_top = excluded;
	bo.exclude_top_count = 1;
	coffer_snapshot_hooks hooks = { .version = COFFER_SNAPSHOT_HOOKS_VERSION,
		                        .before = e->before,
		                        .after = e->after,
		                        .source_path = e->data_dir,
		                        .source = e->source,
		                        .timeout_sec = COFFER_HOOK_TIMEOUT_DEFAULT,
		                        .log = hook_log };
	backup_job job = { .repo = repo, .bo = &bo };
	coffer_hook_outcome outcome;
	int rc = coffer_snapshot_with_hooks(core, &hooks, backup_body, &job, &outcome);
	if (rc) {
		status = mover_fail_core(r, rc, "backup");
		/* a hook's failure is the run's failure (exit 1), whatever its code */
		if (outcome.before.rc || (outcome.after.rc && outcome.snapshot_rc == 0))
			status = COFFER_EXIT_FAILURE;
		if (outcome.snapshot_rc && outcome.after.error)
			mover_log("ERROR", "%s", outcome.after.error);
	}
	if (outcome.snapshot_ran && outcome.snapshot_rc == 0) {
		const coffer_snapshot_info *s = &job.info;
		snprintf(r->snapshot_id, sizeof(r->snapshot_id), "%s", s->id);
		r->bytes = s->stats.bytes;
		r->files = s->stats.files;
		mover_log("INFO",
		          "Snapshot created successfully: %s of %s: %llu files, %llu dirs, %llu bytes (%llu files "
		          "unchanged), %llu bytes uploaded%s",
		          s->id, s->source, (unsigned long long)s->stats.files, (unsigned long long)s->stats.dirs,
		          (unsigned long long)s->stats.bytes, (unsigned long long)s->stats.cached_files,
		          (unsigned long long)s->stats.stored_bytes, s->incomplete ? ", INCOMPLETE (see warnings)" : "");
		/* the snapshot stays even when afterSnapshot failed, so retention still applies */
		if (e->retain_any) {
			int rs = apply_retention(repo, e, r);
			status = status ? status : rs;
		} else {
			mover_log("INFO", "Retention: no KOPIA_RETAIN_* set, keeping every snapshot");
		}
		if (status == 0)
			status = run_maintenance(repo, e, r);
	} else if (outcome.before.rc) {
		mover_log("ERROR", "beforeSnapshot failed: no snapshot was taken");
	}
	coffer_hook_outcome_clear(&outcome);
	coffer_snapshot_info_clear(&job.info);
	coffer_repo_close(repo);
	return status;
}
