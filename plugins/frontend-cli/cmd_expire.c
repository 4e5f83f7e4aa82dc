/* `coffer snapshot expire`: apply a keep-policy (docs/retention.md) to one source or all. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/retention.h>

#include "cli.h"

static const char expire_usage[] =
	"usage: coffer snapshot expire [SOURCE | --all] [--keep-latest N] [--keep-hourly N] [--keep-daily N]\n"
	"                [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--dry-run] [--json]\n"
	"at least one --keep-* is required; pinned snapshots and each source's newest complete\n"
	"snapshot are always kept\n"
	"plus the repository options: --repository URL, --password-file F, --cache-dir D, --ca-file PEM\n";

#define MAX_KEEP 1000000ull

typedef struct keep_option {
	const char *name;
	const char *text;
	unsigned int *count;
} keep_option;

static void print_table(const coffer_snapshot_info *snaps, const coffer_retention_decision *plan, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* coffer_snapshot_list returns sources grouped only when one is asked for: group here */
		int first_of_source = 1;
		for (size_t k = 0; k < i && first_of_source; k++)
			first_of_source = strcmp(snaps[k].source, snaps[i].source) != 0;
		if (!first_of_source)
			continue;
		printf("%s%s\n", i ? "\n" : "", snaps[i].source);
		for (size_t k = i; k < n; k++) {
			if (strcmp(snaps[k].source, snaps[i].source) != 0)
				continue;
			char t[40];
			coffer_time_format_rfc3339(snaps[k].start_time_ns, t);
			printf("  %-6s  %s  %s  ", plan[k].keep ? "KEEP" : "EXPIRE", t, snaps[k].id);
			for (size_t r = 0; r < plan[k].reason_count; r++)
				printf("%s%s", r ? ", " : "", plan[k].reasons[r].text);
			putchar('\n');
		}
	}
}

static void print_json(const coffer_snapshot_info *snaps, const coffer_retention_decision *plan, size_t n,
                       const int *deleted, int dry_run, size_t expired)
{
	coffer_json j;
	coffer_json_init(&j, stdout, 1);
	coffer_json_object_begin(&j);
	coffer_json_key(&j, "dryRun");
	coffer_json_bool(&j, dry_run);
	coffer_json_key(&j, "expired");
	coffer_json_uint(&j, expired);
	coffer_json_key(&j, "kept");
	coffer_json_uint(&j, n - expired);
	coffer_json_key(&j, "snapshots");
	coffer_json_array_begin(&j);
	for (size_t i = 0; i < n; i++) {
		char t[40];
		coffer_time_format_rfc3339(snaps[i].start_time_ns, t);
		coffer_json_object_begin(&j);
		coffer_json_key(&j, "id");
		coffer_json_string(&j, snaps[i].id);
		coffer_json_key(&j, "source");
		coffer_json_string(&j, snaps[i].source);
		coffer_json_key(&j, "startTime");
		coffer_json_string(&j, t);
		coffer_json_key(&j, "incomplete");
		coffer_json_bool(&j, snaps[i].incomplete);
		coffer_json_key(&j, "pinned");
		coffer_json_bool(&j, snaps[i].pinned);
		coffer_json_key(&j, "action");
		coffer_json_string(&j, plan[i].keep ? "keep" : "expire");
		coffer_json_key(&j, "reasons");
		coffer_json_array_begin(&j);
		for (size_t r = 0; r < plan[i].reason_count; r++)
			coffer_json_string(&j, plan[i].reasons[r].text);
		coffer_json_array_end(&j);
		coffer_json_key(&j, "deleted");
		coffer_json_bool(&j, deleted[i]);
		coffer_json_object_end(&j);
	}
	coffer_json_array_end(&j);
	coffer_json_object_end(&j);
	coffer_json_finish(&j);
}

/* Deletes the expired snapshots; a failure is reported and the others still go. Returns an
 * exit code and the number deleted. */
static int delete_expired(coffer_repo *repo, const coffer_snapshot_info *snaps,
                          const coffer_retention_decision *plan, size_t n, int *deleted, size_t *count)
{
	int status = 0;
	*count = 0;
	for (size_t i = 0; i < n; i++) {
		if (plan[i].keep)
			continue;
		int rc = coffer_snapshot_delete_listed(repo, &snaps[i]);
		if (rc == COFFER_ENOTFOUND)
			rc = 0;  /* deleted meanwhile by someone else: gone either way */
		if (rc) {
			int code = cli_fail(rc);
			if (!status)
				status = code;
			continue;
		}
		deleted[i] = 1;
		(*count)++;
	}
	return status;
}

int cli_snapshot_expire(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	int all = 0, dry_run = 0;
	coffer_retention_policy policy = { .version = COFFER_RETENTION_POLICY_VERSION };
	keep_option keeps[] = {
		{ "--keep-latest", NULL, &policy.keep_latest },   { "--keep-hourly", NULL, &policy.keep_hourly },
		{ "--keep-daily", NULL, &policy.keep_daily },     { "--keep-weekly", NULL, &policy.keep_weekly },
		{ "--keep-monthly", NULL, &policy.keep_monthly }, { "--keep-yearly", NULL, &policy.keep_yearly },
	};
	cli_option opts[] = { CLI_REPO_OPTIONS(&a),
		              { "--all", NULL, &all, NULL, NULL },
		              { "--dry-run", NULL, &dry_run, NULL, NULL },
		              { keeps[0].name, &keeps[0].text, NULL, NULL, NULL },
		              { keeps[1].name, &keeps[1].text, NULL, NULL, NULL },
		              { keeps[2].name, &keeps[2].text, NULL, NULL, NULL },
		              { keeps[3].name, &keeps[3].text, NULL, NULL, NULL },
		              { keeps[4].name, &keeps[4].text, NULL, NULL, NULL },
		              { keeps[5].name, &keeps[5].text, NULL, NULL, NULL },
		              { NULL, NULL, NULL, NULL, NULL } };
	char *pos[1];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 1, expire_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((npos == 1) == (all == 1)) {
		fprintf(stderr, "coffer: snapshot expire needs a SOURCE or --all (not both)\n%s", expire_usage);
		return COFFER_EXIT_USAGE;
	}
	int any_rule = 0;
	for (size_t i = 0; i < sizeof(keeps) / sizeof(keeps[0]); i++) {
		unsigned long long v;
		if (!keeps[i].text)
			continue;
		if (cli_uint(keeps[i].name, keeps[i].text, MAX_KEEP, &v))
			return COFFER_EXIT_USAGE;
		*keeps[i].count = (unsigned int)v;
		any_rule |= v > 0;
	}
	if (!any_rule) {
		fprintf(stderr, "coffer: snapshot expire needs at least one --keep-* count above 0 "
		                "(it would otherwise expire everything but the newest snapshot)\n%s",
		        expire_usage);
		return COFFER_EXIT_USAGE;
	}

	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	coffer_snapshot_info *snaps = NULL;
	size_t n = 0;
	/* the strict listing: a manifest that cannot be read stops expire (docs/FORMAT.md) */
	if ((rc = coffer_snapshot_list(repo, npos ? pos[0] : NULL, &snaps, &n)) != 0) {
		rc = cli_fail(rc);
		coffer_repo_close(repo);
		return rc;
	}
	coffer_retention_decision *plan = calloc(n ? n : 1, sizeof(*plan));
	int *deleted = calloc(n ? n : 1, sizeof(*deleted));
	int status = 0;
	size_t expired = 0, removed = 0;
	if (!plan || !deleted) {
		status = cli_fail(coffer_error_set(COFFER_ENOMEM, "out of memory"));
		goto done;
	}
	if ((rc = coffer_retention_plan(snaps, n, &policy, plan)) != 0) {
		status = cli_fail(rc);
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		expired += !plan[i].keep;
	if (!dry_run)
		status = delete_expired(repo, snaps, plan, n, deleted, &removed);

	if (a.json) {
		print_json(snaps, plan, n, deleted, dry_run, dry_run ? expired : removed);
	} else {
		print_table(snaps, plan, n);
		if (n == 0)
			fprintf(stderr, "no snapshots%s%s\n", npos ? " of " : "", npos ? pos[0] : "");
		else if (dry_run)
			printf("would expire %zu of %zu snapshots, keeping %zu (dry run: nothing deleted)\n", expired, n,
			       n - expired);
		else
			printf("expired %zu of %zu snapshots, kept %zu%s\n", removed, n, n - expired,
			       removed < expired ? " (some deletions failed, see above)" : "");
	}
done:
	free(deleted);
	free(plan);
	coffer_snapshot_info_free_array(snaps, n);
	coffer_repo_close(repo);
	return status;
}
