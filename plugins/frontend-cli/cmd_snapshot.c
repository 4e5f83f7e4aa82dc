/* `coffer snapshot create|list|delete|verify|pin|unpin`. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char snap_usage[] =
	"usage: coffer snapshot create PATH [--source user@host:/path] [--tag k=v]... [--parallel N]\n"
	"                [--compression NAME] [--force-hash] [--start-time RFC3339] [--json]\n"
	"                [--before-snapshot CMD] [--after-snapshot CMD] [--hook-timeout SECONDS]\n"
	"       coffer snapshot list [SOURCE | --all] [--json]\n"
	"       coffer snapshot delete ID...\n"
	"       coffer snapshot verify [ID...] [--read-data] [--json]\n"
	"       coffer snapshot pin ID... | unpin ID...\n"
	"       coffer snapshot expire [SOURCE | --all] --keep-latest|hourly|daily|weekly|monthly|yearly N...\n"
	"                [--dry-run] [--json]\n"
	"plus the repository options: --repository URL, --password-file F, --cache-dir D, --ca-file PEM\n";

typedef struct tag_list {
	coffer_tag tags[64];
	size_t count;
	int bad;
} tag_list;

static void add_tag(void *ud, const char *arg)
{
	tag_list *t = ud;
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || t->count >= 64) {
		fprintf(stderr, "coffer: --tag wants KEY=VALUE (at most 64), got '%s'\n", arg);
		t->bad = 1;
		return;
	}
	t->tags[t->count].key = strndup(arg, (size_t)(eq - arg));
	t->tags[t->count].value = strdup(eq + 1);
	t->count++;
}

static void print_stats_line(const coffer_snapshot_info *s)
{
	char bytes[32], stored[32];
	cli_format_bytes(s->stats.bytes, bytes);
	cli_format_bytes(s->stats.stored_bytes, stored);
	double secs = (double)(s->end_time_ns - s->start_time_ns) / 1e9;
	fprintf(stderr, "snapshot %s of %s: %llu files, %llu dirs, %s (%llu files unchanged), %s uploaded, %.1f s%s\n",
	        s->id, s->source, (unsigned long long)s->stats.files, (unsigned long long)s->stats.dirs, bytes,
	        (unsigned long long)s->stats.cached_files, stored, secs,
	        s->incomplete ? ", INCOMPLETE (see warnings)" : "");
}

/* The snapshot itself, run between the beforeSnapshot and afterSnapshot hooks. */
typedef struct create_job {
	coffer_repo *repo;
	const coffer_backup_options *bo;
	coffer_snapshot_info info;
} create_job;

static int create_body(void *ud, char *id, size_t id_size)
{
	create_job *job = ud;
	int rc = coffer_backup(job->repo, job->bo, &job->info);
	cli_progress_done();
	if (rc == 0)
		snprintf(id, id_size, "%s", job->info.id);
	return rc;
}

static void create_hook_log(void *ud, const char *action, const char *line)
{
	(void)ud;
	fprintf(stderr, "hook %s: %s\n", action, line);
}

static void json_hook_step(coffer_json *j, const char *action, const char *command, const coffer_hook_step *s)
{
	if (!command)
		return;
	coffer_json_key(j, action);
	coffer_json_object_begin(j);
	coffer_json_key(j, "command");
	coffer_json_string(j, command);
	coffer_json_key(j, "ran");
	coffer_json_bool(j, s->ran);
	if (s->ran) {
		coffer_json_key(j, "ok");
		coffer_json_bool(j, s->rc == 0);
		coffer_json_key(j, "seconds");
		coffer_json_double(j, (double)s->duration_ns / 1e9);
	}
	if (s->error) {
		coffer_json_key(j, "error");
		coffer_json_string(j, s->error);
	}
	coffer_json_object_end(j);
}

/* With hooks: {"snapshot": {...} or null, "hooks": {...}, "error": "..." when failed}. */
static void json_create_with_hooks(const coffer_snapshot_hooks *h, const create_job *job,
                                   const coffer_hook_outcome *o, int rc)
{
	coffer_json j;
	coffer_json_init(&j, stdout, 1);
	coffer_json_object_begin(&j);
	coffer_json_key(&j, "snapshot");
	if (o->snapshot_ran && o->snapshot_rc == 0)
		cli_json_snapshot(&j, &job->info);
	else
		coffer_json_null(&j);
	coffer_json_key(&j, "hooks");
	coffer_json_object_begin(&j);
	json_hook_step(&j, "beforeSnapshot", h->before, &o->before);
	json_hook_step(&j, "afterSnapshot", h->after, &o->after);
	coffer_json_object_end(&j);
	if (rc) {
		coffer_json_key(&j, "error");
		coffer_json_string(&j, coffer_error_last()->message);
	}
	coffer_json_object_end(&j);
	coffer_json_finish(&j);
}

static int snap_create(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	const char *source = NULL, *compression = NULL, *start_time = NULL;
	const char *before = NULL, *after = NULL, *hook_timeout = NULL;
	int force_hash = 0;
	tag_list tags = { .count = 0 };
	cli_option opts[] = { CLI_REPO_OPTIONS(&a),
		              { "--source", &source, NULL, NULL, NULL },
		              { "--compression", &compression, NULL, NULL, NULL },
		              { "--start-time", &start_time, NULL, NULL, NULL },
		              { "--force-hash", NULL, &force_hash, NULL, NULL },
		              { "--tag", NULL, NULL, add_tag, &tags },
		              { "--before-snapshot", &before, NULL, NULL, NULL },
		              { "--after-snapshot", &after, NULL, NULL, NULL },
		              { "--hook-timeout", &hook_timeout, NULL, NULL, NULL },
		              { NULL, NULL, NULL, NULL, NULL } };
	char *pos[1];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 1, snap_usage);
	if (rc || tags.bad)
		return rc < 0 ? 0 : COFFER_EXIT_USAGE;
	if (npos != 1) {
		fprintf(stderr, "coffer: snapshot create needs the PATH to back up\n%s", snap_usage);
		return COFFER_EXIT_USAGE;
	}
	coffer_backup_options bo = { .version = COFFER_BACKUP_OPTIONS_VERSION };
	bo.path = pos[0];
	bo.source = source;
	bo.tags = tags.tags;
	bo.tag_count = tags.count;
	bo.compression = compression;
	bo.force_hash = force_hash;
	bo.on_event = cli_progress_event;
	coffer_snapshot_hooks hooks = { .version = COFFER_SNAPSHOT_HOOKS_VERSION,
		                        .before = before,
		                        .after = after,
		                        .source_path = pos[0],
		                        .source = source,
		                        .timeout_sec = COFFER_HOOK_TIMEOUT_DEFAULT,
		                        .log = create_hook_log };
	if (hook_timeout) {
		unsigned long long v;
		if (cli_uint("--hook-timeout", hook_timeout, 604800, &v))
			return COFFER_EXIT_USAGE;
		hooks.timeout_sec = (unsigned)v;
	}
	if (start_time && (rc = coffer_time_parse_rfc3339(start_time, &bo.start_time_ns)) != 0)
		return cli_fail(rc);
	if (compression) {
		coffer_codec c;
		if ((rc = coffer_codec_lookup(core, compression, &c)) != 0)
			return cli_fail(rc);
	}
	/* warm the tree's metadata while the key derivation keeps a core busy */
	coffer_prefetch *prefetch = NULL;
	if (coffer_prefetch_start(&prefetch, pos[0], 0) != 0)
		prefetch = NULL;
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0) {
		coffer_prefetch_stop(prefetch);
		return rc;
	}
	if (a.parallel) {
		unsigned long long v;
		cli_uint("--parallel", a.parallel, 1024, &v);
		bo.parallelism = (unsigned)v;
	}
	create_job job = { .repo = repo, .bo = &bo };
	coffer_hook_outcome outcome;
	rc = coffer_snapshot_with_hooks(core, &hooks, create_body, &job, &outcome);
	coffer_prefetch_stop(prefetch);
	for (size_t i = 0; i < tags.count; i++) {
		free(tags.tags[i].key);
		free(tags.tags[i].value);
	}
	int status = 0;
	int have_snapshot = outcome.snapshot_ran && outcome.snapshot_rc == 0;
	if (a.json && (before || after)) {
		json_create_with_hooks(&hooks, &job, &outcome, rc);
	} else if (a.json && have_snapshot) {
		coffer_json j;
		coffer_json_init(&j, stdout, 1);
		cli_json_snapshot(&j, &job.info);
		coffer_json_finish(&j);
	} else if (have_snapshot) {
		print_stats_line(&job.info);
		printf("%s\n", job.info.id);
	}
	if (rc) {
		status = cli_fail(rc);
		/* a failed snapshot's message is the one above; the afterSnapshot result too */
		if (outcome.snapshot_rc && outcome.after.error)
			fprintf(stderr, "coffer: %s\n", outcome.after.error);
		if (outcome.before.rc || outcome.after.rc)
			status = outcome.snapshot_rc ? status : COFFER_EXIT_FAILURE;
	}
	coffer_hook_outcome_clear(&outcome);
	coffer_snapshot_info_clear(&job.info);
	coffer_repo_close(repo);
	return status;
}

static int snap_list(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	int all = 0;
	cli_option opts[] = { CLI_REPO_OPTIONS(&a), { "--all", NULL, &all, NULL, NULL },
		              { NULL, NULL, NULL, NULL, NULL } };
	char *pos[1];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 1, snap_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	coffer_snapshot_info *snaps = NULL;
	size_t n = 0;
	/* damaged manifests are shown as warnings rather than hiding every other snapshot */
	rc = coffer_snapshot_list_ex(repo, npos ? pos[0] : NULL, cli_progress_event, NULL, &snaps, &n);
	if (rc) {
		rc = cli_fail(rc);
		coffer_repo_close(repo);
		return rc;
	}
	if (a.json) {
		coffer_json j;
		coffer_json_init(&j, stdout, 1);
		coffer_json_array_begin(&j);
		for (size_t i = 0; i < n; i++)
			cli_json_snapshot(&j, &snaps[i]);
		coffer_json_array_end(&j);
		coffer_json_finish(&j);
	} else {
		const char *last_source = NULL;
		for (size_t i = 0; i < n; i++) {
			/* grouped by source when listing everything */
			if (!npos && (!last_source || strcmp(last_source, snaps[i].source) != 0)) {
				int seen = 0;
				for (size_t k = 0; k < i; k++)
					seen |= strcmp(snaps[k].source, snaps[i].source) == 0;
				if (!seen) {
					printf("%s%s\n", i ? "\n" : "", snaps[i].source);
					for (size_t k = i; k < n; k++) {
						if (strcmp(snaps[k].source, snaps[i].source) != 0)
							continue;
						char t[40], b[32];
						coffer_time_format_rfc3339(snaps[k].start_time_ns, t);
						cli_format_bytes(snaps[k].stats.bytes, b);
						printf("  %s  %s  %10s  %llu files%s%s\n", t, snaps[k].id, b,
						       (unsigned long long)snaps[k].stats.files,
						       snaps[k].incomplete ? "  incomplete" : "",
						       snaps[k].pinned ? "  pinned" : "");
					}
				}
				last_source = snaps[i].source;
			} else if (npos) {
				char t[40], b[32];
				coffer_time_format_rfc3339(snaps[i].start_time_ns, t);
				cli_format_bytes(snaps[i].stats.bytes, b);
				printf("%s  %s  %10s  %llu files%s%s\n", t, snaps[i].id, b,
				       (unsigned long long)snaps[i].stats.files,
				       snaps[i].incomplete ? "  incomplete" : "", snaps[i].pinned ? "  pinned" : "");
			}
		}
		if (n == 0)
			fprintf(stderr, "no snapshots%s%s\n", npos ? " of " : "", npos ? pos[0] : "");
	}
	coffer_snapshot_info_free_array(snaps, n);
	coffer_repo_close(repo);
	return 0;
}

static int snap_each_id(coffer_core *core, int argc, char **argv, const char *what)
{
	cli_repo_args a = { 0 };
	cli_option opts[] = { CLI_REPO_OPTIONS(&a), { NULL, NULL, NULL, NULL, NULL } };
	char *pos[256];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 256, snap_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (npos == 0) {
		fprintf(stderr, "coffer: snapshot %s needs at least one snapshot id\n", what);
		return COFFER_EXIT_USAGE;
	}
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	int status = 0;
	for (int i = 0; i < npos; i++) {
		if (strcmp(what, "delete") == 0)
			rc = coffer_snapshot_delete(repo, pos[i]);
		else
			rc = coffer_snapshot_set_pinned(repo, pos[i], strcmp(what, "pin") == 0);
		if (rc)
			status = cli_fail(rc);
		else
			printf("%s %s\n", strcmp(what, "delete") == 0 ? "deleted" : what[0] == 'p' ? "pinned" : "unpinned",
			       pos[i]);
	}
	coffer_repo_close(repo);
	return status;
}

typedef struct verify_report {
	coffer_json *json;
	int damaged;
} verify_report;

static void on_verify_event(const coffer_event *ev, void *ud)
{
	verify_report *r = ud;
	if (ev->kind == COFFER_EVENT_ERROR)
		r->damaged++;
	if (r->json && ev->kind == COFFER_EVENT_ERROR) {
		coffer_json_object_begin(r->json);
		coffer_json_key(r->json, "path");
		coffer_json_string(r->json, ev->path);
		coffer_json_key(r->json, "error");
		coffer_json_string(r->json, ev->message);
		coffer_json_object_end(r->json);
	} else if (!r->json) {
		cli_progress_event(ev, NULL);
	}
}

static int snap_verify(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	int read_data = 0;
	cli_option opts[] = { CLI_REPO_OPTIONS(&a), { "--read-data", NULL, &read_data, NULL, NULL },
		              { NULL, NULL, NULL, NULL, NULL } };
	char *pos[256];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 256, snap_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	coffer_json j;
	verify_report report = { a.json ? &j : NULL, 0 };
	if (a.json) {
		coffer_json_init(&j, stdout, 1);
		coffer_json_object_begin(&j);
		coffer_json_key(&j, "damaged");
		coffer_json_array_begin(&j);
	}
	coffer_verify_result res = { 0 };
	rc = coffer_verify(repo, (const char *const *)pos, (size_t)npos, read_data, on_verify_event, &report, &res);
	int status = 0;
	if (rc && rc != COFFER_ECORRUPT)
		status = cli_fail(rc);
	else if (rc == COFFER_ECORRUPT)
		status = COFFER_EXIT_CORRUPT;
	if (a.json) {
		coffer_json_array_end(&j);
		coffer_json_key(&j, "ok");
		coffer_json_bool(&j, rc == 0);
		coffer_json_key(&j, "snapshots");
		coffer_json_uint(&j, res.snapshots);
		coffer_json_key(&j, "files");
		coffer_json_uint(&j, res.files);
		coffer_json_key(&j, "chunks");
		coffer_json_uint(&j, res.chunks);
		coffer_json_key(&j, "bytesRead");
		coffer_json_uint(&j, res.bytes_read);
		coffer_json_key(&j, "damagedFiles");
		coffer_json_uint(&j, res.damaged_files);
		coffer_json_key(&j, "missingChunks");
		coffer_json_uint(&j, res.missing_chunks);
		coffer_json_key(&j, "corruptChunks");
		coffer_json_uint(&j, res.corrupt_chunks);
		coffer_json_object_end(&j);
		coffer_json_finish(&j);
	} else if (rc == 0 || rc == COFFER_ECORRUPT) {
		printf("verified %llu snapshots, %llu files, %llu chunks%s: %s\n", (unsigned long long)res.snapshots,
		       (unsigned long long)res.files, (unsigned long long)res.chunks,
		       read_data ? " (data read and authenticated)" : "",
		       rc == 0 ? "OK" : "DAMAGED");
		if (rc)
			printf("%llu damaged files, %llu missing and %llu corrupt chunks\n",
			       (unsigned long long)res.damaged_files, (unsigned long long)res.missing_chunks,
			       (unsigned long long)res.corrupt_chunks);
	}
	coffer_repo_close(repo);
	return status;
}

int cli_snapshot(coffer_core *core, int argc, char **argv)
{
	if (argc < 2) {
		fputs(snap_usage, stderr);
		return COFFER_EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "create") == 0)
		return snap_create(core, argc - 1, argv + 1);
	if (strcmp(sub, "list") == 0)
		return snap_list(core, argc - 1, argv + 1);
	if (strcmp(sub, "delete") == 0 || strcmp(sub, "pin") == 0 || strcmp(sub, "unpin") == 0)
		return snap_each_id(core, argc - 1, argv + 1, sub);
	if (strcmp(sub, "verify") == 0)
		return snap_verify(core, argc - 1, argv + 1);
	if (strcmp(sub, "expire") == 0)
		return cli_snapshot_expire(core, argc - 1, argv + 1);
	if (strcmp(sub, "--help") == 0) {
		fputs(snap_usage, stdout);
		return 0;
	}
	fprintf(stderr, "coffer: unknown snapshot command '%s'\n%s", sub, snap_usage);
	return COFFER_EXIT_USAGE;
}
