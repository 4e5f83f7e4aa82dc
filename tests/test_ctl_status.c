/* The controller's status files (libconfig, atomic writes, damaged files, paths that cannot
 * leave the state folder) and their kubectl-style YAML and JSON, read back with libyaml. */
#include "config.h"

#include <dirent.h>
#include <sys/stat.h>
#include <yaml.h>

#include "testlib.h"

#include "ctl_status.h"

#define SEC 1000000000LL

static const char *const tricky_logs = "line one\n  indented: \"quoted\" 'single' \\backslash\n"
                                       "tab\there, unicode: h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x93\xa6\n"
                                       "- not a list\n# not a comment\n";

static char *state;

static void setup(void)
{
	state = test_tmpdir("ctl-status");
}

static void teardown(void)
{
	test_rmtree(state);
	free(state);
}

static void fill(ctl_status *s)
{
	ctl_status_init(s);
	ck_assert_int_eq(ctl_status_set(&s->kind, "ReplicationSource"), 0);
	ck_assert_int_eq(ctl_status_set(&s->namespace_, "default"), 0);
	ck_assert_int_eq(ctl_status_set(&s->name, "app"), 0);
	s->last_sync_time = 1714979289 * SEC + 123456789;    /* 2024-05-06T07:08:09.123456789Z */
	s->last_sync_start_time = -5 * SEC;                 /* before 1970 */
	s->last_sync_duration_ns = 62500000000LL;           /* 1m2.5s */
	s->next_sync_time = 1714981200 * SEC;               /* 2024-05-06T07:40:00Z */
	ck_assert_int_eq(ctl_status_set(&s->last_manual_sync, "true"), 0);
	ck_assert_int_eq(ctl_status_set(&s->mover_result, "Successful"), 0);
	ck_assert_int_eq(ctl_status_set(&s->mover_logs, tricky_logs), 0);
	ck_assert_int_eq(ctl_status_set(&s->cond_status, "False"), 0);
	ck_assert_int_eq(ctl_status_set(&s->cond_reason, "WaitingForSchedule"), 0);
	ck_assert_int_eq(ctl_status_set(&s->cond_message, ": x"), 0);
	s->cond_transition_time = 1714979290 * SEC;
	s->last_maintenance = INT64_MAX;
	ck_assert_int_eq(ctl_status_set(&s->last_snapshot, "123"), 0);
	ck_assert_int_eq(ctl_status_set(&s->latest_image, "/srv/restore/app"), 0);
	ck_assert_int_eq(ctl_status_set(&s->spec_digest, "ab12"), 0);
	s->failures = 4000000000u;
	s->retry_time = INT64_MIN;
}

static void assert_str_same(const char *a, const char *b, const char *what)
{
	if (!a || !b)
		ck_assert_msg(a == b, "%s: %s vs %s", what, a ? a : "(null)", b ? b : "(null)");
	else
		ck_assert_msg(strcmp(a, b) == 0, "%s: '%s' vs '%s'", what, a, b);
}

static void assert_same(const ctl_status *a, const ctl_status *b)
{
	assert_str_same(a->kind, b->kind, "kind");
	assert_str_same(a->namespace_, b->namespace_, "namespace");
	assert_str_same(a->name, b->name, "name");
	ck_assert_int_eq(a->last_sync_time, b->last_sync_time);
	ck_assert_int_eq(a->last_sync_start_time, b->last_sync_start_time);
	ck_assert_int_eq(a->last_sync_duration_ns, b->last_sync_duration_ns);
	ck_assert_int_eq(a->next_sync_time, b->next_sync_time);
	assert_str_same(a->last_manual_sync, b->last_manual_sync, "last_manual_sync");
	assert_str_same(a->mover_result, b->mover_result, "mover_result");
	assert_str_same(a->mover_logs, b->mover_logs, "mover_logs");
	assert_str_same(a->cond_status, b->cond_status, "cond_status");
	assert_str_same(a->cond_reason, b->cond_reason, "cond_reason");
	assert_str_same(a->cond_message, b->cond_message, "cond_message");
	ck_assert_int_eq(a->cond_transition_time, b->cond_transition_time);
	ck_assert_int_eq(a->last_maintenance, b->last_maintenance);
	assert_str_same(a->last_snapshot, b->last_snapshot, "last_snapshot");
	assert_str_same(a->latest_image, b->latest_image, "latest_image");
	assert_str_same(a->spec_digest, b->spec_digest, "spec_digest");
	ck_assert_uint_eq(a->failures, b->failures);
	ck_assert_int_eq(a->retry_time, b->retry_time);
}

/* Names in a folder that start with '.' (temporary files). */
static int hidden_files(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void save_ok(const ctl_status *s)
{
	char err[512] = "";
	ck_assert_msg(ctl_status_save(state, s, err, sizeof(err)) == 0, "%s", err);
}

static void save_named(const char *kind, const char *ns, const char *name)
{
	ctl_status s;
	ctl_status_init(&s);
	ctl_status_set(&s.kind, kind);
	ctl_status_set(&s.namespace_, ns);
	ctl_status_set(&s.name, name);
	s.failures = 1;
	save_ok(&s);
	ctl_status_clear(&s);
}

START_TEST(paths)
{
	char *p = ctl_status_path("/var/lib/coffer", "ReplicationSource", "default", "app");
	ck_assert_str_eq(p, "/var/lib/coffer/status/ReplicationSource/default/app.conf");
	free(p);
	p = ctl_status_path("st", "ReplicationDestination", "ns-1", "db.example");
	ck_assert_str_eq(p, "st/status/ReplicationDestination/ns-1/db.example.conf");
	free(p);
	char long_name[256];
	memset(long_name, 'a', 253);
	long_name[253] = '\0';
	p = ctl_status_path("st", "ReplicationSource", "default", long_name);
	ck_assert_ptr_nonnull(p);
	free(p);
	long_name[253] = 'a';
	long_name[254] = '\0';
	ck_assert_ptr_null(ctl_status_path("st", "ReplicationSource", "default", long_name));
	static const char *const bad[] = { "", "a/b", "/", "..", "../x", "x/..", "a..b", ".hidden", "tab\tname", NULL };
	for (int i = 0; bad[i]; i++) {
		ck_assert_msg(!ctl_status_path("st", "ReplicationSource", "default", bad[i]), "name '%s'", bad[i]);
		ck_assert_msg(!ctl_status_path("st", "ReplicationSource", bad[i], "app"), "namespace '%s'", bad[i]);
	}
	ck_assert_ptr_null(ctl_status_path("st", "Secret", "default", "app"));
	ck_assert_ptr_null(ctl_status_path("st", "../ReplicationSource", "default", "app"));
	ck_assert_ptr_null(ctl_status_path("st", NULL, "default", "app"));
	ck_assert_ptr_null(ctl_status_path("st", "ReplicationSource", NULL, "app"));
	ck_assert_ptr_null(ctl_status_path("", "ReplicationSource", "default", "app"));

	/* load and save refuse them too, naming the bad part */
	ctl_status s;
	char err[256];
	ck_assert_int_eq(ctl_status_load(state, "ReplicationSource", "default", "../../etc/passwd", &s, err, sizeof(err)),
	                 -1);
	ck_assert_msg(strstr(err, "cannot be a file name") != NULL, "%s", err);
	ck_assert_ptr_null(s.name);
	ctl_status_init(&s);
	ctl_status_set(&s.kind, "ReplicationSource");
	ctl_status_set(&s.namespace_, "..");
	ctl_status_set(&s.name, "app");
	ck_assert_int_eq(ctl_status_save(state, &s, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "namespace \"..\"") != NULL, "%s", err);
	ctl_status_clear(&s);
}
END_TEST

START_TEST(round_trip)
{
	ctl_status s, back;
	char err[512] = "";
	fill(&s);
	save_ok(&s);
	ck_assert_msg(ctl_status_load(state, "ReplicationSource", "default", "app", &back, err, sizeof(err)) == 0, "%s",
	              err);
	assert_same(&s, &back);
	ctl_status_clear(&back);

	char dir[4096], *path = ctl_status_path(state, "ReplicationSource", "default", "app");
	snprintf(dir, sizeof(dir), "%s/status/ReplicationSource/default", state);
	struct stat st;
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	snprintf(dir, sizeof(dir), "%s/status", state);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s/status/ReplicationSource/default", state);
	ck_assert_int_eq(hidden_files(dir), 0);

	/* Times are 64-bit integers in the file. */
	FILE *f = fopen(path, "r");
	char text[8192];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	ck_assert_msg(strstr(text, "last_sync_time = 1714979289123456789L;") != NULL, "%s", text);

	/* Saving again replaces the file; fields now unset come back unset. */
	ctl_status_set(&s.mover_logs, NULL);
	s.last_maintenance = 0;
	s.failures = 0;
	save_ok(&s);
	ck_assert_int_eq(hidden_files(dir), 0);
	ck_assert_int_eq(ctl_status_load(state, "ReplicationSource", "default", "app", &back, err, sizeof(err)), 0);
	assert_same(&s, &back);
	ck_assert_ptr_null(back.mover_logs);
	ctl_status_clear(&back);
	ctl_status_clear(&s);
	free(path);
}
END_TEST

START_TEST(state_dir_created)
{
	char sub[4096];
	snprintf(sub, sizeof(sub), "%s/a/b/state", state);
	ctl_status s;
	char err[512] = "";
	fill(&s);
	ck_assert_msg(ctl_status_save(sub, &s, err, sizeof(err)) == 0, "%s", err);
	struct stat st;
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	ctl_status_clear(&s);

	/* A folder that cannot be created is an error naming it. */
	snprintf(sub, sizeof(sub), "%s/file", state);
	write_text(sub, "x");
	fill(&s);
	ck_assert_int_eq(ctl_status_save(sub, &s, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, sub) != NULL && strstr(err, "cannot create the folder") != NULL, "%s", err);
	ctl_status_clear(&s);
}
END_TEST

START_TEST(missing_file)
{
	ctl_status s;
	char err[256] = "";
	ck_assert_int_eq(ctl_status_load(state, "ReplicationDestination", "ns", "db", &s, err, sizeof(err)), 0);
	ck_assert_str_eq(s.kind, "ReplicationDestination");
	ck_assert_str_eq(s.namespace_, "ns");
	ck_assert_str_eq(s.name, "db");
	ck_assert_int_eq(s.last_sync_time, 0);
	ck_assert_ptr_null(s.mover_logs);
	ck_assert_uint_eq(s.failures, 0);
	ctl_status_clear(&s);
}
END_TEST

static void load_text(const char *text, int want_rc, const char *needle)
{
	char dir[4096], err[512] = "";
	snprintf(dir, sizeof(dir), "mkdir -p '%s/status/ReplicationSource/ns'", state);
	ck_assert_int_eq(system(dir), 0);
	char *path = ctl_status_path(state, "ReplicationSource", "ns", "obj");
	write_text(path, text);
	ctl_status s;
	int rc = ctl_status_load(state, "ReplicationSource", "ns", "obj", &s, err, sizeof(err));
	ck_assert_msg(rc == want_rc, "'%s': rc %d (%s)", text, rc, err);
	if (rc == 0) {
		ck_assert_str_eq(s.name, "obj");
		ctl_status_clear(&s);
	} else {
		ck_assert_msg(strstr(err, path) != NULL, "'%s': message '%s' lacks the file", text, err);
		ck_assert_msg(strstr(err, needle) != NULL, "'%s': message '%s' lacks '%s'", text, err, needle);
		ck_assert_ptr_null(s.name);
	}
	free(path);
}

START_TEST(damaged_files)
{
	load_text("last_sync_time = ;\n", -1, ":1: ");
	load_text("mover_result = \"Failed\";\n\nlast_sync_time = \"yesterday\";\n", -1,
	          ":3: last_sync_time must be an integer");
	load_text("mover_logs = 12;\n", -1, ":1: mover_logs must be a string");
	load_text("failures = -1;\n", -1, ":1: failures must be an integer from 0 to");
	load_text("failures = 5000000000L;\n", -1, "failures must be an integer");
	load_text("cond_status = \"True;\n", -1, "syntax error");
	load_text("a = 1;\nb = {\n", -1, ":3: ");
	load_text("x = 1;\n  @include \"/etc/passwd\"\n", -1, ":2: @include is not allowed");
	/* Unknown settings are ignored; plain (32-bit) integers are fine for times. */
	load_text("future_field = 5;\nnested = { a = 1; b = [1, 2]; };\nlast_sync_time = 17;\nname = \"other\";\n", 0,
	          "");
	/* A NUL byte is not a status file. */
	char *path = ctl_status_path(state, "ReplicationSource", "ns", "obj");
	FILE *f = fopen(path, "w");
	fwrite("a = 1;\0", 1, 7, f);
	fclose(f);
	ctl_status s;
	char err[512];
	ck_assert_int_eq(ctl_status_load(state, "ReplicationSource", "ns", "obj", &s, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) && strstr(err, "NUL"), "%s", err);
	/* A folder where the file should be. */
	unlink(path);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(ctl_status_load(state, "ReplicationSource", "ns", "obj", &s, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
	free(path);
}
END_TEST

START_TEST(load_all_sorted)
{
	ctl_status *all;
	size_t count = 99;
	char err[512] = "";
	ck_assert_int_eq(ctl_status_load_all(state, &all, &count, err, sizeof(err)), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_ptr_null(all);

	save_named("ReplicationSource", "ns-b", "a");
	save_named("ReplicationSource", "ns-a", "b");
	save_named("ReplicationDestination", "ns-z", "z");
	save_named("ReplicationSource", "ns-a", "a");
	save_named("ReplicationSource", "ns-a", "a-1");
	/* Not statuses: temporary files, other names, unknown kinds. */
	char path[4096];
	snprintf(path, sizeof(path), "%s/status/ReplicationSource/ns-a/.a.conf.Xy12Ab", state);
	write_text(path, "broken");
	snprintf(path, sizeof(path), "%s/status/ReplicationSource/ns-a/notes.txt", state);
	write_text(path, "broken");
	snprintf(path, sizeof(path), "%s/status/Other", state);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/status/Other/x.conf", state);
	write_text(path, "broken");

	ck_assert_msg(ctl_status_load_all(state, &all, &count, err, sizeof(err)) == 0, "%s", err);
	static const char *const want[][3] = {
		{ "ReplicationDestination", "ns-z", "z" }, { "ReplicationSource", "ns-a", "a" },
		{ "ReplicationSource", "ns-a", "a-1" },    { "ReplicationSource", "ns-a", "b" },
		{ "ReplicationSource", "ns-b", "a" },
	};
	ck_assert_uint_eq(count, 5);
	for (size_t i = 0; i < count; i++) {
		ck_assert_str_eq(all[i].kind, want[i][0]);
		ck_assert_str_eq(all[i].namespace_, want[i][1]);
		ck_assert_str_eq(all[i].name, want[i][2]);
		ck_assert_uint_eq(all[i].failures, 1);
		ctl_status_clear(&all[i]);
	}
	free(all);

	/* One damaged file fails the listing with its name. */
	snprintf(path, sizeof(path), "%s/status/ReplicationSource/ns-b/bad.conf", state);
	write_text(path, "failures = \"many\";\n");
	ck_assert_int_eq(ctl_status_load_all(state, &all, &count, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
	ck_assert_ptr_null(all);
	ck_assert_uint_eq(count, 0);
}
END_TEST

/* ------------------------------------------------------------ printing */

static char *print_to_string(const ctl_status *s, const ctl_replication *spec, ctl_output fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_int_eq(ctl_status_print(f, s, spec, fmt), 0);
	fclose(f);
	return buf;
}

static void load_yaml(const char *text, yaml_document_t *doc)
{
	yaml_parser_t parser;
	ck_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	int ok = yaml_parser_load(&parser, doc);
	ck_assert_msg(ok, "libyaml cannot read the output: %s at line %zu\n%s", parser.problem ? parser.problem : "?",
	              parser.problem_mark.line + 1, text);
	ck_assert_ptr_nonnull(yaml_document_get_root_node(doc));
	yaml_parser_delete(&parser);
}

/* The node at a dotted path ("status.conditions.0.type"), or NULL. */
static yaml_node_t *find(yaml_document_t *doc, const char *path)
{
	yaml_node_t *n = yaml_document_get_root_node(doc);
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *part = strtok_r(buf, ".", &save); part && n; part = strtok_r(NULL, ".", &save)) {
		yaml_node_t *next = NULL;
		if (n->type == YAML_SEQUENCE_NODE) {
			long i = strtol(part, NULL, 10);
			if (i >= 0 && i < n->data.sequence.items.top - n->data.sequence.items.start)
				next = yaml_document_get_node(doc, n->data.sequence.items.start[i]);
		} else if (n->type == YAML_MAPPING_NODE) {
			for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
				yaml_node_t *k = yaml_document_get_node(doc, p->key);
				if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, part) == 0)
					next = yaml_document_get_node(doc, p->value);
			}
		}
		n = next;
	}
	return n;
}

static void expect_scalar(yaml_document_t *doc, const char *path, const char *value, int quoted)
{
	yaml_node_t *n = find(doc, path);
	ck_assert_msg(n && n->type == YAML_SCALAR_NODE, "%s is missing", path);
	ck_assert_msg(strcmp((char *)n->data.scalar.value, value) == 0, "%s: '%s', want '%s'", path,
	              (char *)n->data.scalar.value, value);
	if (quoted >= 0)
		ck_assert_msg((n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) == quoted, "%s '%s': %s", path, value,
		              quoted ? "should be quoted" : "should be plain");
}

static void fill_spec(ctl_replication *r)
{
	memset(r, 0, sizeof(*r));
	r->kind = CTL_KIND_SOURCE;
	r->namespace_ = "default";
	r->name = "app";
	r->schedule = "*/30 * * * *";
	r->source_pvc = "data";
	r->repository = "kopia-config";
	r->retain_hourly = r->retain_weekly = r->retain_monthly = r->retain_yearly = -1;
	r->retain_daily = 7;
	r->retain_latest = 0;
	r->compression = "zstd";
	r->parallelism = -1;
	r->copy_method = CTL_COPY_CLONE;
	r->maintenance_interval_days = -1;
	r->before_snapshot = "sync; echo 'about to snapshot'";
	r->cache_capacity = 8ULL << 30;
	r->shallow = r->previous = -1;
	r->ca_secret = "ca";
	r->ca_key = "ca.crt";
}

START_TEST(yaml_output)
{
	ctl_status s;
	ctl_replication r;
	fill(&s);
	fill_spec(&r);
	ctl_status_set(&s.cond_message, ": x");
	ctl_status_set(&s.latest_image, "bad \xff utf8");
	char *text = print_to_string(&s, &r, CTL_OUTPUT_YAML);

	static const char *const lines[] = {
		"apiVersion: volsync.backube/v1alpha1\nkind: ReplicationSource\nmetadata:\n  name: app\n  namespace: default\nspec:\n",
		"\n  kopia:\n    actions:\n      beforeSnapshot: sync; echo 'about to snapshot'\n    cacheCapacity: 8Gi\n",
		"\n    copyMethod: Clone\n    customCA:\n      key: ca.crt\n      secretName: ca\n",
		"\n    retain:\n      daily: 7\n      latest: 0\n  sourcePVC: data\n  trigger:\n    schedule: '*/30 * * * *'\n",
		"\nstatus:\n  coffer:\n    failures: 4000000000\n    lastSnapshot: \"123\"\n",
		"\n  conditions:\n  - lastTransitionTime: \"2024-05-06T07:08:10Z\"\n    message: ': x'\n"
		"    reason: WaitingForSchedule\n    status: \"False\"\n    type: Synchronizing\n",
		"\n  kopia:\n    lastMaintenance: \"2262-04-11T23:47:16Z\"\n",
		"\n  lastManualSync: \"true\"\n  lastSyncDuration: 1m2.5s\n  lastSyncStartTime: \"1969-12-31T23:59:55Z\"\n"
		"  lastSyncTime: \"2024-05-06T07:08:09Z\"\n  latestMoverStatus:\n    logs: \"line one\\n  indented: \\\"quoted\\\"",
		"\n    result: Successful\n  nextSyncTime: \"2024-05-06T07:40:00Z\"\n",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		ck_assert_msg(strstr(text, lines[i]) != NULL, "missing:\n%s\nin:\n%s", lines[i], text);
	ck_assert_msg(!strstr(text, "parallelism") && !strstr(text, "hourly") && !strstr(text, "paused") &&
	                  !strstr(text, "restoreAsOf") && !strstr(text, "specDigest"),
	              "unset fields printed:\n%s", text);

	yaml_document_t doc;
	load_yaml(text, &doc);
	expect_scalar(&doc, "apiVersion", "volsync.backube/v1alpha1", 0);
	expect_scalar(&doc, "spec.trigger.schedule", "*/30 * * * *", 1);
	expect_scalar(&doc, "spec.kopia.retain.daily", "7", 0);
	expect_scalar(&doc, "status.latestMoverStatus.logs", tricky_logs, 1);
	expect_scalar(&doc, "status.lastManualSync", "true", 1);
	expect_scalar(&doc, "status.conditions.0.message", ": x", 1);
	expect_scalar(&doc, "status.conditions.0.status", "False", 1);
	expect_scalar(&doc, "status.conditions.0.type", "Synchronizing", 0);
	expect_scalar(&doc, "status.coffer.lastSnapshot", "123", 1);
	expect_scalar(&doc, "status.coffer.latestImage", "bad \xef\xbf\xbd utf8", -1);
	expect_scalar(&doc, "status.coffer.retryTime", "1677-09-21T00:12:43Z", 1);
	yaml_document_delete(&doc);
	free(text);

	/* Strings that would read back as another type, or need quoting for other reasons. */
	static const char *const tricky[] = { "",     "true", "False", "yes",   "~",     "null",     "123",  "-1.5",
		                              "0x1f", "1e3",  "1:30",  ".inf",  "2024-01-01", ": x", "- x",  "# x",
		                              "*a",   "&a",   "!a",    "a: b",  "a #b",  " lead",    "trail ", "%x",
		                              "@x",   "`x",   "'",     "\"",    "{a}",   "[a]",      "a\tb",  "\x7f", "control \x01 byte\nx",
		                              "\xc2\x85", "\xef\xbb\xbf", "line\n", "\nlead", "x\r\ny", "  \n  ",
		                              NULL };
	for (int i = 0; tricky[i]; i++) {
		ctl_status t;
		ctl_status_init(&t);
		ctl_status_set(&t.kind, "ReplicationDestination");
		ctl_status_set(&t.namespace_, "ns");
		ctl_status_set(&t.name, "n");
		ctl_status_set(&t.cond_message, tricky[i]);
		text = print_to_string(&t, NULL, CTL_OUTPUT_YAML);
		load_yaml(text, &doc);
		yaml_node_t *n = find(&doc, "status.conditions.0.message");
		ck_assert_msg(n && n->type == YAML_SCALAR_NODE, "'%s' is missing:\n%s", tricky[i], text);
		ck_assert_msg(strcmp((char *)n->data.scalar.value, tricky[i]) == 0, "'%s' came back as '%s':\n%s",
		              tricky[i], (char *)n->data.scalar.value, text);
		if (i < 14)
			ck_assert_msg(n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE, "'%s' is not quoted:\n%s", tricky[i],
			              text);
		ck_assert_ptr_null(find(&doc, "spec"));
		yaml_document_delete(&doc);
		free(text);
		ctl_status_clear(&t);
	}
	/* Plain where kubectl prints plain. */
	static const char *const plain[] = { "Successful", "1m2.5s", "0 0 * * *", "a-b", "abc123", "x:y", NULL };
	for (int i = 0; plain[i]; i++) {
		ctl_status t;
		ctl_status_init(&t);
		ctl_status_set(&t.mover_result, plain[i]);
		text = print_to_string(&t, NULL, CTL_OUTPUT_YAML);
		load_yaml(text, &doc);
		expect_scalar(&doc, "status.latestMoverStatus.result", plain[i], 0);
		yaml_document_delete(&doc);
		free(text);
		ctl_status_clear(&t);
	}
	ctl_status_clear(&s);
}
END_TEST

/* Multi-line logs as a literal block when libyaml allows one (tabs, control characters and
 * characters beyond the BMP make it use an escaped double-quoted string instead). */
START_TEST(yaml_literal_logs)
{
	static const struct {
		const char *logs, *yaml;
	} cases[] = {
		{ "line one\n  indented: \"q\" 'x' \\b\nh\xc3\xa9llo \xe2\x9c\x93\n- item\n# hash\n",
		  "    logs: |\n      line one\n        indented: \"q\" 'x' \\b\n      h\xc3\xa9llo \xe2\x9c\x93\n      - item\n"
		  "      # hash\n    result: Failed\n" },
		{ "a\nb", "    logs: |-\n      a\n      b\n    result: Failed\n" },
		{ "a\nb\n\n", "    logs: |+\n      a\n      b\n\n" },
		{ "  lead\nb\n", "    logs: |2\n        lead\n      b\n    result: Failed\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ctl_status t;
		ctl_status_init(&t);
		ctl_status_set(&t.mover_logs, cases[i].logs);
		ctl_status_set(&t.mover_result, "Failed");
		char *text = print_to_string(&t, NULL, CTL_OUTPUT_YAML);
		ck_assert_msg(strstr(text, cases[i].yaml) != NULL, "missing:\n%s\nin:\n%s", cases[i].yaml, text);
		yaml_document_t doc;
		load_yaml(text, &doc);
		expect_scalar(&doc, "status.latestMoverStatus.logs", cases[i].logs, 1);
		yaml_document_delete(&doc);
		free(text);
		ctl_status_clear(&t);
	}
}
END_TEST

START_TEST(yaml_empty_status)
{
	/* Empty logs are left out (omitempty), as is the whole latestMoverStatus without a result. */
	ctl_status e;
	ctl_status_init(&e);
	ctl_status_set(&e.mover_logs, "");
	char *out = print_to_string(&e, NULL, CTL_OUTPUT_YAML);
	ck_assert_msg(strstr(out, "\nstatus: {}\n") != NULL, "%s", out);
	free(out);
	ctl_status_set(&e.mover_result, "Successful");
	out = print_to_string(&e, NULL, CTL_OUTPUT_YAML);
	ck_assert_msg(strstr(out, "\nstatus:\n  latestMoverStatus:\n    result: Successful\n") != NULL, "%s", out);
	free(out);
	ctl_status_clear(&e);

	ctl_status s;
	ctl_status_init(&s);
	ctl_status_set(&s.kind, "ReplicationSource");
	ctl_status_set(&s.namespace_, "default");
	ctl_status_set(&s.name, "fresh");
	char *text = print_to_string(&s, NULL, CTL_OUTPUT_YAML);
	ck_assert_str_eq(text, "apiVersion: volsync.backube/v1alpha1\nkind: ReplicationSource\nmetadata:\n"
	                       "  name: fresh\n  namespace: default\nstatus: {}\n");
	free(text);
	ctl_status_clear(&s);
}
END_TEST

/* python3's json module when there is one (the strictest JSON reader at hand). */
static void check_json_with_python(const char *text, const char *logs_start)
{
	if (system("python3 -c 'import json' >/dev/null 2>&1") != 0)
		return;
	char *dir = test_tmpdir("ctl-json");
	char path[4200], cmd[8500];
	snprintf(path, sizeof(path), "%s/out.json", dir);
	write_text(path, text);
	snprintf(cmd, sizeof(cmd), "python3 -m json.tool '%s' >/dev/null", path);
	ck_assert_msg(system(cmd) == 0, "python3 -m json.tool refused:\n%s", text);
	if (logs_start) {
		snprintf(cmd, sizeof(cmd),
		         "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
		         "sys.exit(0 if d[\"status\"][\"latestMoverStatus\"][\"logs\"].startswith(sys.argv[2]) else 1)' "
		         "'%s' '%s'",
		         path, logs_start);
		ck_assert_msg(system(cmd) == 0, "python3 reads other logs:\n%s", text);
	}
	test_rmtree(dir);
	free(dir);
}

START_TEST(json_output)
{
	ctl_status s;
	ctl_replication r;
	fill(&s);
	fill_spec(&r);
	r.kind = CTL_KIND_DESTINATION;
	r.source_pvc = NULL;
	r.destination_pvc = "restore";
	r.previous = 2;
	r.enable_file_deletion = 1;
	r.src_name = "app";
	r.schedule = NULL;
	r.manual = "first";
	ctl_status_set(&s.kind, "ReplicationDestination");
	char *text = print_to_string(&s, &r, CTL_OUTPUT_JSON);
	ck_assert_msg(text[0] == '{' && text[strlen(text) - 1] == '\n', "%s", text);
	static const char *const parts[] = {
		"\"apiVersion\": \"volsync.backube/v1alpha1\"", "\"kind\": \"ReplicationDestination\"",
		"\"destinationPVC\": \"restore\"",               "\"enableFileDeletion\": true",
		"\"previous\": 2",                               "\"manual\": \"first\"",
		"\"sourceName\": \"app\"",                       "\"lastSyncDuration\": \"1m2.5s\"",
		"\"failures\": 4000000000",                      "\"lastSyncTime\": \"2024-05-06T07:08:09Z\"",
		"\"type\": \"Synchronizing\"",                   "\"lastManualSync\": \"true\"",
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		ck_assert_msg(strstr(text, parts[i]) != NULL, "missing %s in:\n%s", parts[i], text);
	/* JSON is YAML: libyaml reads it back with the same values. */
	yaml_document_t doc;
	load_yaml(text, &doc);
	expect_scalar(&doc, "status.latestMoverStatus.logs", tricky_logs, -1);
	expect_scalar(&doc, "spec.kopia.cacheCapacity", "8Gi", -1);
	expect_scalar(&doc, "status.conditions.0.message", ": x", -1);
	yaml_document_delete(&doc);
	check_json_with_python(text, "line one\n  indented:");
	free(text);
	ctl_status_clear(&s);
}
END_TEST

START_TEST(list_output)
{
	ctl_status a, b;
	fill(&a);
	ctl_status_init(&b);
	ctl_status_set(&b.kind, "ReplicationDestination");
	ctl_status_set(&b.namespace_, "other");
	ctl_status_set(&b.name, "db");
	const ctl_status *items[2] = { &a, &b };
	for (int fmt = 0; fmt < 2; fmt++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		ck_assert_int_eq(ctl_status_print_list(f, items, NULL, 2, (ctl_output)fmt), 0);
		fclose(f);
		if (fmt == CTL_OUTPUT_YAML) {
			ck_assert_msg(strncmp(buf, "apiVersion: v1\nitems:\n- apiVersion: volsync.backube/v1alpha1\n", 61) == 0,
			              "%s", buf);
			ck_assert_msg(strstr(buf, "\nkind: List\nmetadata:\n  resourceVersion: \"\"\n") != NULL, "%s", buf);
		} else {
			check_json_with_python(buf, NULL);
		}
		yaml_document_t doc;
		load_yaml(buf, &doc);
		expect_scalar(&doc, "kind", "List", -1);
		expect_scalar(&doc, "items.0.metadata.name", "app", -1);
		expect_scalar(&doc, "items.1.metadata.name", "db", -1);
		expect_scalar(&doc, "items.1.metadata.namespace", "other", -1);
		expect_scalar(&doc, "metadata.resourceVersion", "", -1);
		ck_assert_ptr_null(find(&doc, "items.2"));
		yaml_document_delete(&doc);
		free(buf);
	}
	/* An empty list */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_int_eq(ctl_status_print_list(f, NULL, NULL, 0, CTL_OUTPUT_YAML), 0);
	fclose(f);
	ck_assert_str_eq(buf, "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n");
	free(buf);
	ctl_status_clear(&a);
	ctl_status_clear(&b);
}
END_TEST

static const struct {
	int64_t ns;
	const char *text;
} durations[] = {
	{ 0, "0s" },
	{ 1, "1ns" },
	{ 999, "999ns" },
	{ 1000, "1\xc2\xb5s" },
	{ 1500, "1.5\xc2\xb5s" },
	{ 1000000, "1ms" },
	{ 350000000, "350ms" },
	{ 1234567, "1.234567ms" },
	{ 1000000000, "1s" },
	{ 1500000000, "1.5s" },
	{ 1000000001, "1.000000001s" },
	{ 62500000000LL, "1m2.5s" },
	{ 123000000000LL, "2m3s" },
	{ 3600000000000LL, "1h0m0s" },
	{ 360000000000000LL, "100h0m0s" },
	{ 3723000000000LL, "1h2m3s" },
	{ -1500000000LL, "-1.5s" },
	{ -350000000LL, "-350ms" },
	{ INT64_MAX, "2562047h47m16.854775807s" },
	{ INT64_MIN, "-2562047h47m16.854775808s" },
};

START_TEST(duration_format)
{
	char out[64];
	ctl_format_duration(durations[_i].ns, out, sizeof(out));
	ck_assert_msg(strcmp(out, durations[_i].text) == 0, "%lld: '%s', want '%s'", (long long)durations[_i].ns, out,
	              durations[_i].text);
}
END_TEST

START_TEST(duration_small_buffer)
{
	char out[4];
	ctl_format_duration(62500000000LL, out, sizeof(out));
	ck_assert_str_eq(out, "1m2");
	ctl_format_duration(1, out, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl_status");
	TCase *files = tcase_create("files");
	tcase_add_checked_fixture(files, setup, teardown);
	tcase_add_test(files, paths);
	tcase_add_test(files, round_trip);
	tcase_add_test(files, state_dir_created);
	tcase_add_test(files, missing_file);
	tcase_add_test(files, damaged_files);
	tcase_add_test(files, load_all_sorted);
	suite_add_tcase(s, files);
	TCase *print = tcase_create("print");
	tcase_add_test(print, yaml_output);
	tcase_add_test(print, yaml_literal_logs);
	tcase_add_test(print, yaml_empty_status);
	tcase_add_test(print, json_output);
	tcase_add_test(print, list_output);
	tcase_add_loop_test(print, duration_format, 0, (int)(sizeof(durations) / sizeof(durations[0])));
	tcase_add_test(print, duration_small_buffer);
	suite_add_tcase(s, print);
	return test_run_suite(s);
}
