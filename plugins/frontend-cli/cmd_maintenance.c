/* `coffer maintenance run|info`: index compaction and garbage collection under the
 * repository's maintenance lease (docs/FORMAT.md, Maintenance). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/maintenance.h>

#include "cli.h"

static const char maintenance_usage[] =
	"usage: coffer maintenance run [--full] [--safety full|none] [--force-owner] [--json]\n"
	"                              [--min-age SECONDS] [--run-margin SECONDS]\n"
	"                              [--session-expiry SECONDS] [--lease SECONDS] [--repack-percent N]\n"
	"                              [--lease-settle SECONDS]\n"
	"       coffer maintenance info [--json]\n"
	"run: quick (compact the index) or --full (also collect garbage); margins default to the\n"
	"safety level (full: 4 h min-age, 1 h between runs, 48 h session expiry; none: all zero);\n"
	"--lease-settle (default 10): on S3 and GCS taking the lease must take at most this long,\n"
	"then the run waits twice as long and checks it still holds the lease\n"
	"plus the repository options: --repository URL, --password-file F, --cache-dir D, --ca-file PEM\n";

#define MAX_SECONDS (100ull * 365 * 24 * 3600)

static int seconds_option(const char *name, const char *text, int64_t *out)
{
	unsigned long long v;
	if (!text)
		return 0;
	if (cli_uint(name, text, MAX_SECONDS, &v))
		return COFFER_EXIT_USAGE;
	*out = (int64_t)v * 1000000000;
	return 0;
}

static void json_time(coffer_json *j, const char *key, int64_t ns)
{
	coffer_json_key(j, key);
	if (!ns) {
		coffer_json_null(j);
		return;
	}
	char t[40];
	coffer_time_format_rfc3339(ns, t);
	coffer_json_string(j, t);
}

static void print_run_json(const coffer_maintenance_result *r)
{
	coffer_json j;
	coffer_json_init(&j, stdout, 1);
	coffer_json_object_begin(&j);
	coffer_json_key(&j, "kind");
	coffer_json_string(&j, r->full ? "full" : "quick");
	json_time(&j, "start", r->start_ns);
	json_time(&j, "end", r->end_ns);
	const struct {
		const char *key;
		uint64_t value;
	} fields[] = {
		{ "indexBlobsBefore", r->index_blobs_before }, { "indexBlobsAfter", r->index_blobs_after },
		{ "snapshots", r->snapshots },                 { "chunksLive", r->chunks_live },
		{ "chunksTombstoned", r->chunks_tombstoned },  { "chunksUndeleted", r->chunks_undeleted },
		{ "packs", r->packs_total },                   { "packsDeleted", r->packs_deleted },
		{ "packsRepacked", r->packs_repacked },        { "packsCandidates", r->packs_candidates },
		{ "packsDeferred", r->packs_deferred },        { "sessionsLive", r->sessions_live },
		{ "sessionsExpired", r->sessions_expired },    { "bytesReclaimed", r->bytes_reclaimed },
		{ "bytesReclaimable", r->bytes_reclaimable },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		coffer_json_key(&j, fields[i].key);
		coffer_json_uint(&j, fields[i].value);
	}
	coffer_json_object_end(&j);
	coffer_json_finish(&j);
}

static void print_run_text(const coffer_maintenance_result *r)
{
	char reclaimed[32], reclaimable[32];
	cli_format_bytes(r->bytes_reclaimed, reclaimed);
	cli_format_bytes(r->bytes_reclaimable, reclaimable);
	printf("%s maintenance: index blobs %llu -> %llu\n", r->full ? "full" : "quick",
	       (unsigned long long)r->index_blobs_before, (unsigned long long)r->index_blobs_after);
	if (!r->full)
		return;
	printf("snapshots marked: %llu, live chunks: %llu, newly unreferenced: %llu, referenced again: %llu\n",
	       (unsigned long long)r->snapshots, (unsigned long long)r->chunks_live,
	       (unsigned long long)r->chunks_tombstoned, (unsigned long long)r->chunks_undeleted);
	printf("packs: %llu, deleted %llu, repacked %llu, waiting for a later run %llu (held back now: %llu)\n",
	       (unsigned long long)r->packs_total, (unsigned long long)r->packs_deleted,
	       (unsigned long long)r->packs_repacked, (unsigned long long)r->packs_candidates,
	       (unsigned long long)r->packs_deferred);
	printf("write sessions running: %llu, expired markers removed: %llu\n", (unsigned long long)r->sessions_live,
	       (unsigned long long)r->sessions_expired);
	printf("reclaimed %s; unreferenced data left: %s\n", reclaimed, reclaimable);
}

static int maintenance_run(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	int full = 0, force = 0;
	const char *safety = NULL, *min_age = NULL, *margin = NULL, *expiry = NULL, *lease = NULL,
	           *repack = NULL, *settle = NULL;
	cli_option opts[] = { CLI_REPO_OPTIONS(&a),
		              { "--full", NULL, &full, NULL, NULL },
		              { "--force-owner", NULL, &force, NULL, NULL },
		              { "--safety", &safety, NULL, NULL, NULL },
		              { "--min-age", &min_age, NULL, NULL, NULL },
		              { "--run-margin", &margin, NULL, NULL, NULL },
		              { "--session-expiry", &expiry, NULL, NULL, NULL },
		              { "--lease", &lease, NULL, NULL, NULL },
		              { "--repack-percent", &repack, NULL, NULL, NULL },
		              { "--lease-settle", &settle, NULL, NULL, NULL },
		              { NULL, NULL, NULL, NULL, NULL } };
	char *pos[1];
	int npos, rc = cli_parse(argc, argv, 2, opts, pos, &npos, 0, maintenance_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	coffer_maintenance_options o = COFFER_MAINTENANCE_OPTIONS_INIT;
	o.full = full;
	o.force_owner = force;
	if (safety && strcmp(safety, "none") == 0) {
		o.safety = COFFER_SAFETY_NONE;
	} else if (safety && strcmp(safety, "full") != 0) {
		fprintf(stderr, "coffer: --safety is full or none, not '%s'\n%s", safety, maintenance_usage);
		return COFFER_EXIT_USAGE;
	}
	if (seconds_option("--min-age", min_age, &o.min_age_ns) ||
	    seconds_option("--run-margin", margin, &o.run_margin_ns) ||
	    seconds_option("--session-expiry", expiry, &o.session_expiry_ns) ||
	    seconds_option("--lease", lease, &o.lease_ns) ||
	    seconds_option("--lease-settle", settle, &o.lease_settle_ns))
		return COFFER_EXIT_USAGE;
	if (repack) {
		unsigned long long v;
		if (cli_uint("--repack-percent", repack, 1000, &v))
			return COFFER_EXIT_USAGE;
		o.repack_percent = v ? (unsigned int)v : 1000; /* 0: never */
	}
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	coffer_maintenance_result r;
	rc = coffer_maintenance_run(repo, &o, &r);
	if (rc)
		rc = cli_fail(rc);
	else if (a.json)
		print_run_json(&r);
	else
		print_run_text(&r);
	coffer_repo_close(repo);
	return rc;
}

static void print_info_json(const coffer_maintenance_info *m)
{
	coffer_json j;
	coffer_json_init(&j, stdout, 1);
	coffer_json_object_begin(&j);
	coffer_json_key(&j, "owner");
	if (m->has_lease)
		coffer_json_string(&j, m->owner);
	else
		coffer_json_null(&j);
	coffer_json_key(&j, "running");
	coffer_json_bool(&j, m->has_lease && m->running && m->lease_expiry_ns > m->now_ns);
	json_time(&j, "leaseExpiry", m->has_lease ? m->lease_expiry_ns : 0);
	json_time(&j, "lastQuick", m->last_quick_ns);
	json_time(&j, "lastFull", m->last_full_ns);
	json_time(&j, "nextQuickDue", m->next_quick_ns);
	json_time(&j, "nextFullDue", m->next_full_ns);
	coffer_json_key(&j, "lastBytesReclaimed");
	coffer_json_uint(&j, m->last_bytes_reclaimed);
	coffer_json_key(&j, "bytesReclaimable");
	coffer_json_uint(&j, m->bytes_reclaimable);
	coffer_json_key(&j, "candidatePacks");
	coffer_json_uint(&j, m->candidates);
	coffer_json_object_end(&j);
	coffer_json_finish(&j);
}

static void print_time_line(const char *label, int64_t ns, const char *never)
{
	char t[40];
	if (ns)
		coffer_time_format_rfc3339(ns, t);
	printf("%-22s %s\n", label, ns ? t : never);
}

static int maintenance_info(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	cli_option opts[] = { CLI_REPO_OPTIONS(&a), { NULL, NULL, NULL, NULL, NULL } };
	char *pos[1];
	int npos, rc = cli_parse(argc, argv, 2, opts, pos, &npos, 0, maintenance_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	coffer_maintenance_info m;
	rc = coffer_maintenance_info_get(repo, &m);
	if (rc) {
		rc = cli_fail(rc);
	} else if (a.json) {
		print_info_json(&m);
	} else {
		char reclaimable[32], reclaimed[32];
		cli_format_bytes(m.bytes_reclaimable, reclaimable);
		cli_format_bytes(m.last_bytes_reclaimed, reclaimed);
		printf("%-22s %s%s\n", "owner:", m.has_lease ? m.owner : "none",
		       m.has_lease && m.running && m.lease_expiry_ns > m.now_ns ? " (a run is in progress)" : "");
		print_time_line("lease expiry:", m.has_lease ? m.lease_expiry_ns : 0, "-");
		print_time_line("last quick run:", m.last_quick_ns, "never");
		print_time_line("last full run:", m.last_full_ns, "never");
		print_time_line("next quick run due:", m.next_quick_ns, "now");
		print_time_line("next full run due:", m.next_full_ns, "now");
		printf("%-22s %s\n", "last reclaimed:", reclaimed);
		printf("%-22s %s (%llu packs waiting for a second run)\n", "reclaimable:", reclaimable,
		       (unsigned long long)m.candidates);
	}
	coffer_repo_close(repo);
	return rc;
}

int cli_maintenance(coffer_core *core, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return maintenance_run(core, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "info") == 0)
		return maintenance_info(core, argc, argv);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(maintenance_usage, stdout);
		return 0;
	}
	fprintf(stderr, "coffer: maintenance needs run or info\n%s", maintenance_usage);
	return COFFER_EXIT_USAGE;
}
