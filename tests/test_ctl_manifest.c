/* VolSync manifests (plugins/frontend-controller/ctl_manifest.c): the guide's examples, every
 * field, bad input naming its field, warnings, Secrets and ConfigMaps, quantities, digests,
 * folders and duplicates. */
#include "config.h"

#include <sys/stat.h>

#include "ctl_manifest.h"
#include "testlib.h"

static char *data_path(const char *name)
{
	const char *top = getenv("COFFER_TOP_SRCDIR");
	char *p = malloc(4096);
	snprintf(p, 4096, "%s/tests/data/manifests/%s", top ? top : ".", name);
	return p;
}

static void load(ctl_manifests *m, const char *name)
{
	char *p = data_path(name);
	ck_assert_int_eq(ctl_manifests_load_file(m, p), 0);
	free(p);
}

static void parse_text(ctl_manifests *m, const char *text)
{
	ck_assert_int_eq(ctl_manifests_parse(m, "t.yaml", text, strlen(text)), 0);
}

static void dump(const ctl_manifests *m)
{
	for (size_t i = 0; i < m->error_count; i++)
		fprintf(stderr, "error: %s\n", m->errors[i]);
	for (size_t i = 0; i < m->warning_count; i++)
		fprintf(stderr, "warning: %s\n", m->warnings[i]);
}

static int has_message(char **list, size_t n, const char *text)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(list[i], text))
			return 1;
	return 0;
}

#define ck_assert_error(m, text) ck_assert_msg(has_message((m)->errors, (m)->error_count, text), "no error with: %s", text)
#define ck_assert_warning(m, text)                                                                 \
	ck_assert_msg(has_message((m)->warnings, (m)->warning_count, text), "no warning with: %s", text)

static const char *kv(const ctl_data_object *d, const char *key)
{
	const ctl_kv *v = ctl_data_get(d, key);
	return v ? v->value : NULL;
}

/* ---- the guide's examples, verbatim ---- */

START_TEST(guide_secret)
{
	static const char *const files[] = { "guide-secret.yaml", "guide-secret-s3.yaml", "guide-secret-filesystem.yaml",
		                             "guide-secret-gcs.yaml", "guide-secret-azure.yaml" };
	static const char *const repos[] = { "s3://backup-bucket/my-backups", "s3://my-bucket/backups",
		                             "filesystem:///mnt/backups", "gcs://my-gcs-bucket/backups",
		                             "azure://container/backups" };
	for (size_t i = 0; i < 5; i++) {
		ctl_manifests m = { 0 };
		load(&m, files[i]);
		dump(&m);
		ck_assert_uint_eq(m.error_count, 0);
		ck_assert_uint_eq(m.warning_count, 0);
		ck_assert_uint_eq(m.data_count, 1);
		const ctl_data_object *d = ctl_manifests_find_data(&m, 1, "default", "kopia-config");
		ck_assert_ptr_nonnull(d);
		ck_assert_ptr_null(ctl_manifests_find_data(&m, 0, "default", "kopia-config"));
		ck_assert_str_eq(kv(d, "KOPIA_REPOSITORY"), repos[i]);
		ck_assert_ptr_nonnull(kv(d, "KOPIA_PASSWORD"));
		ck_assert_uint_eq(d->origin.document, 1);
		ck_assert_uint_eq(d->origin.line, 1);
		ctl_manifests_clear(&m);
	}

	ctl_manifests m = { 0 };
	load(&m, "guide-secret.yaml");
	const ctl_data_object *d = ctl_manifests_find_data(&m, 1, "default", "kopia-config");
	ck_assert_uint_eq(d->count, 5);
	ck_assert_str_eq(kv(d, "KOPIA_PASSWORD"), "my-secure-kopia-password");
	ck_assert_str_eq(kv(d, "AWS_ACCESS_KEY_ID"), "access");
	ck_assert_str_eq(kv(d, "AWS_SECRET_ACCESS_KEY"), "password");
	ck_assert_str_eq(kv(d, "AWS_S3_ENDPOINT"), "http://minio.minio.svc.cluster.local:9000");
	ck_assert_uint_eq(ctl_data_get(d, "AWS_ACCESS_KEY_ID")->len, 6);
	ck_assert_ptr_null(ctl_data_get(d, "KOPIA_CACHE_DIR"));
	ctl_manifests_clear(&m);

	load(&m, "guide-secret-gcs.yaml");
	d = ctl_manifests_find_data(&m, 1, "default", "kopia-config");
	const char *json = kv(d, "GOOGLE_APPLICATION_CREDENTIALS");
	ck_assert_ptr_nonnull(json);
	ck_assert(strncmp(json, "{\n  \"type\": \"service_account\",\n", 31) == 0);
	ck_assert(strstr(json, "\"private_key\": \"-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n\""));
	ck_assert_int_eq(json[strlen(json) - 2], '}');
	ck_assert_int_eq(json[strlen(json) - 1], '\n');
	ctl_manifests_clear(&m);
}
END_TEST

START_TEST(guide_source)
{
	ctl_manifests m = { 0 };
	load(&m, "guide-source.yaml");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(m.warning_count, 0);
	ck_assert_uint_eq(m.object_count, 1);
	const ctl_replication *r = &m.objects[0];
	ck_assert_int_eq(r->kind, CTL_KIND_SOURCE);
	ck_assert_str_eq(r->name, "mydata-backup");
	ck_assert_str_eq(r->namespace_, "default");
	ck_assert_str_eq(r->source_pvc, "mydata");
	ck_assert_str_eq(r->schedule, "*/30 * * * *");
	ck_assert_ptr_null(r->manual);
	ck_assert_int_eq(r->paused, 0);
	ck_assert_int_eq(r->maintenance_interval_days, 7);
	ck_assert_str_eq(r->repository, "kopia-config");
	ck_assert_int_eq(r->retain_hourly, 6);
	ck_assert_int_eq(r->retain_daily, 7);
	ck_assert_int_eq(r->retain_weekly, 4);
	ck_assert_int_eq(r->retain_monthly, 6);
	ck_assert_int_eq(r->retain_yearly, 2);
	ck_assert_int_eq(r->retain_latest, -1);
	ck_assert_str_eq(r->compression, "zstd");
	ck_assert_int_eq(r->parallelism, 2);
	ck_assert_int_eq(r->copy_method, CTL_COPY_CLONE);
	ck_assert_uint_eq(r->cache_capacity, 0);
	ck_assert_ptr_null(r->ca_secret);
	ck_assert_ptr_null(r->username);
	ck_assert_ptr_null(r->before_snapshot);
	ck_assert_int_eq(r->shallow, -1);
	ck_assert_int_eq(r->previous, -1);
	ck_assert_uint_eq(strlen(r->digest), 64);
	ck_assert(strstr(r->origin.file, "guide-source.yaml"));
	ck_assert_uint_eq(r->origin.document, 1);
	ck_assert_uint_eq(r->origin.line, 1);
	ctl_manifests_clear(&m);
}
END_TEST

START_TEST(guide_restore)
{
	ctl_manifests m = { 0 };
	load(&m, "guide-restore.yaml");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(m.warning_count, 1);
	ck_assert(strstr(m.warnings[0], "guide-restore.yaml: document 1 (PersistentVolumeClaim default/datavol): "
	                                "kind PersistentVolumeClaim is not handled by coffer; skipped"));
	ck_assert_uint_eq(m.object_count, 1);
	const ctl_replication *r = &m.objects[0];
	ck_assert_int_eq(r->kind, CTL_KIND_DESTINATION);
	ck_assert_str_eq(r->name, "datavol-dest");
	ck_assert_str_eq(r->namespace_, "default");
	ck_assert_str_eq(r->manual, "restore-once");
	ck_assert_ptr_null(r->schedule);
	ck_assert_str_eq(r->repository, "kopia-config");
	ck_assert_str_eq(r->destination_pvc, "datavol");
	ck_assert_int_eq(r->copy_method, CTL_COPY_DIRECT);
	ck_assert_ptr_null(r->restore_as_of);
	ck_assert_int_eq(r->enable_file_deletion, 0);
	ck_assert_uint_eq(r->origin.document, 2);
	ck_assert_uint_eq(r->origin.line, 13);
	ctl_manifests_clear(&m);
}
END_TEST

/* The guide's customCA examples omit the other fields, so as written they lack exactly
 * sourcePVC and repository; completed, they give the CA reference. */
START_TEST(guide_custom_ca)
{
	static const char *const files[] = { "guide-customca-secret.yaml", "guide-customca-configmap.yaml" };
	for (int i = 0; i < 2; i++) {
		ctl_manifests m = { 0 };
		load(&m, files[i]);
		dump(&m);
		ck_assert_uint_eq(m.error_count, 2);
		ck_assert_uint_eq(m.warning_count, 0);
		ck_assert_uint_eq(m.object_count, 0);
		ck_assert(strstr(m.errors[0], "document 1 (ReplicationSource default/mydata-backup-with-customca): "
		                              "spec.sourcePVC: required"));
		ck_assert(strstr(m.errors[1], "(ReplicationSource default/mydata-backup-with-customca): "
		                              "spec.kopia.repository: required"));
		ctl_manifests_clear(&m);
	}
	static const char *const completed[] = {
		"apiVersion: volsync.backube/v1alpha1\nkind: ReplicationSource\nmetadata:\n  name: mydata-backup-with-customca\n"
		"spec:\n  sourcePVC: mydata\n  kopia:\n    repository: kopia-config\n"
		"    customCA:\n      secretName: tls-secret\n      key: ca.crt\n",
		"apiVersion: volsync.backube/v1alpha1\nkind: ReplicationSource\nmetadata:\n  name: mydata-backup-with-customca\n"
		"spec:\n  sourcePVC: mydata\n  kopia:\n    repository: kopia-config\n"
		"    customCA:\n      configMapName: tls-configmap-name\n      key: ca.crt\n",
	};
	for (int i = 0; i < 2; i++) {
		ctl_manifests m = { 0 };
		parse_text(&m, completed[i]);
		dump(&m);
		ck_assert_uint_eq(m.error_count, 0);
		ck_assert_uint_eq(m.object_count, 1);
		const ctl_replication *r = &m.objects[0];
		ck_assert_str_eq(r->ca_key, "ca.crt");
		if (i == 0) {
			ck_assert_str_eq(r->ca_secret, "tls-secret");
			ck_assert_ptr_null(r->ca_configmap);
		} else {
			ck_assert_str_eq(r->ca_configmap, "tls-configmap-name");
			ck_assert_ptr_null(r->ca_secret);
		}
		ctl_manifests_clear(&m);
	}
}
END_TEST

/* The guide's troubleshooting and feature snippets (`kopia:` blocks), verbatim, placed in a
 * source or destination spec. */
static const struct {
	int destination;
	const char *snippet;
	const char *warning;
} guide_snippets[] = {
	{ 0, "kopia:\n  cacheCapacity: 5Gi  # Increase from default 1Gi\n", NULL },
	{ 0, "kopia:\n  parallelism: 4  # Default is 1\n", NULL },
	{ 0,
	  "kopia:\n  moverResources:\n    limits:\n      cpu: \"2\"\n      memory: 4Gi\n    requests:\n"
	  "      cpu: \"1\"\n      memory: 2Gi\n",
	  "spec.kopia.moverResources has no effect on a host (ignored)" },
	{ 0,
	  "kopia:\n  actions:\n    beforeSnapshot: \"sync && echo 3 > /proc/sys/vm/drop_caches\"\n"
	  "    # For databases, use appropriate flush/lock commands\n"
	  "    # beforeSnapshot: \"mysqldump --single-transaction --all-databases > /data/backup.sql\"\n",
	  NULL },
	{ 0, "kopia:\n  maintenanceIntervalDays: 3  # Run maintenance more frequently\n", NULL },
	{ 1, "kopia:\n  restoreAsOf: \"2024-01-15T18:30:00Z\"  # Must use RFC-3339 format\n", NULL },
	{ 0, "kopia:\n  compression: zstd\n", NULL },
	{ 0, "kopia:\n  parallelism: 4  # Use 4 parallel upload streams\n", NULL },
	{ 0,
	  "kopia:\n  actions:\n    beforeSnapshot: \"mysqldump --single-transaction --routines --triggers "
	  "--all-databases > /data/mysql-dump.sql\"\n    afterSnapshot: \"rm -f /data/mysql-dump.sql\"\n",
	  NULL },
};

/* Indents a snippet under spec: and adds what a complete object needs. */
static char *wrap_snippet(int destination, const char *snippet)
{
	char *out = malloc(8192);
	int n = snprintf(out, 8192, "apiVersion: volsync.backube/v1alpha1\nkind: %s\nmetadata:\n  name: snippet\nspec:\n%s",
	                 destination ? "ReplicationDestination" : "ReplicationSource",
	                 destination ? "" : "  sourcePVC: mydata\n");
	for (const char *line = snippet; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		n += snprintf(out + n, 8192 - (size_t)n, "  %.*s\n", (int)len, line);
		if (strncmp(line, "kopia:", 6) == 0)
			n += snprintf(out + n, 8192 - (size_t)n, "    repository: kopia-config\n");
		line += len + (nl != NULL);
	}
	return out;
}

START_TEST(guide_snippets_parse)
{
	const char *text_in = guide_snippets[_i].snippet;
	char *text = wrap_snippet(guide_snippets[_i].destination, text_in);
	ctl_manifests m = { 0 };
	parse_text(&m, text);
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(m.object_count, 1);
	if (guide_snippets[_i].warning) {
		ck_assert_uint_eq(m.warning_count, 1);
		ck_assert_warning(&m, guide_snippets[_i].warning);
	} else {
		ck_assert_uint_eq(m.warning_count, 0);
	}
	const ctl_replication *r = &m.objects[0];
	switch (_i) {
	case 0:
		ck_assert_uint_eq(r->cache_capacity, 5ULL << 30);
		break;
	case 1:
	case 7:
		ck_assert_int_eq(r->parallelism, 4);
		break;
	case 3:
		ck_assert_str_eq(r->before_snapshot, "sync && echo 3 > /proc/sys/vm/drop_caches");
		ck_assert_ptr_null(r->after_snapshot);
		break;
	case 4:
		ck_assert_int_eq(r->maintenance_interval_days, 3);
		break;
	case 5:
		ck_assert_str_eq(r->restore_as_of, "2024-01-15T18:30:00Z");
		ck_assert_int_eq(r->restore_as_of_ns, 1705343400LL * 1000000000LL);
		break;
	case 6:
		ck_assert_str_eq(r->compression, "zstd");
		break;
	case 8:
		ck_assert_str_eq(r->after_snapshot, "rm -f /data/mysql-dump.sql");
		break;
	default:
		break;
	}
	ctl_manifests_clear(&m);
	free(text);
}
END_TEST

/* ---- every field ---- */

START_TEST(full_objects)
{
	ctl_manifests m = { 0 };
	load(&m, "full-source.yaml");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(m.object_count, 2);
	ck_assert_uint_eq(m.warning_count, 2);
	ck_assert(strstr(m.warnings[0], "full-source.yaml: document 1 (ReplicationSource prod/app-data): "
	                                "spec.kopia.storageClassName has no effect on a host (ignored) (line 39)"));
	ck_assert_warning(&m, "spec.kopia.moverResources has no effect on a host (ignored)");

	const ctl_replication *s = &m.objects[0];
	ck_assert_str_eq(s->namespace_, "prod");
	ck_assert_str_eq(s->schedule, "@daily");
	ck_assert_str_eq(s->ca_secret, "tls-secret");
	ck_assert_str_eq(s->ca_key, "ca.crt");
	ck_assert_int_eq(s->retain_hourly, 24);
	ck_assert_int_eq(s->retain_monthly, 12);
	ck_assert_int_eq(s->retain_yearly, 3);
	ck_assert_int_eq(s->retain_latest, 10);
	ck_assert_str_eq(s->compression, "s2");
	ck_assert_int_eq(s->copy_method, CTL_COPY_SNAPSHOT);
	ck_assert_str_eq(s->after_snapshot, "rm -f /data/mysql-dump.sql");
	ck_assert_uint_eq(s->cache_capacity, 5ULL << 30);
	ck_assert_str_eq(s->username, "app-user");
	ck_assert_str_eq(s->hostname, "host.example");
	ck_assert_str_eq(s->source_path_override, "/srv/app");

	const ctl_replication *d = &m.objects[1];
	ck_assert_int_eq(d->kind, CTL_KIND_DESTINATION);
	ck_assert_str_eq(d->name, "app-restore");
	ck_assert_int_eq(d->paused, 1);
	ck_assert_str_eq(d->ca_configmap, "tls-configmap-name");
	ck_assert_uint_eq(d->cache_capacity, 1610612736ULL);
	ck_assert_int_eq(d->copy_method, CTL_COPY_DIRECT);
	ck_assert_str_eq(d->destination_pvc, "restored");
	ck_assert_str_eq(d->restore_as_of, "2024-01-15T18:30:00-05:00");
	ck_assert_int_eq(d->restore_as_of_ns, (1705343400LL + 5 * 3600) * 1000000000LL);
	ck_assert_int_eq(d->shallow, 3);
	ck_assert_int_eq(d->previous, 1);
	ck_assert_int_eq(d->cleanup_cache_pvc, 1);
	ck_assert_int_eq(d->enable_file_deletion, 1);
	ck_assert_str_eq(d->src_name, "app-data");
	ck_assert_str_eq(d->src_namespace, "prod");
	ck_assert_str_eq(d->src_pvc_name, "app-data");
	ck_assert_str_eq(d->src_path_override, "/srv/app");
	ck_assert_str_eq(d->username, "app-user");
	ck_assert_str_eq(d->hostname, "prod");
	ck_assert_uint_eq(d->origin.document, 2);
	ck_assert_uint_eq(d->origin.line, 44);
	ck_assert_str_ne(s->digest, d->digest);
	ctl_manifests_clear(&m);
}
END_TEST

/* ---- bad input: each names its field ---- */

#define META "metadata:\n  name: t\n"
#define SRC "apiVersion: volsync.backube/v1alpha1\nkind: ReplicationSource\n"
#define DST "apiVersion: volsync.backube/v1alpha1\nkind: ReplicationDestination\n"
#define SRC_SPEC SRC META "spec:\n  sourcePVC: data\n"
#define SRC_KOPIA SRC_SPEC "  kopia:\n    repository: kopia-config\n"
#define DST_KOPIA DST META "spec:\n  kopia:\n    repository: kopia-config\n"
#define SRC_WHO "t.yaml: document 1 (ReplicationSource default/t): "
#define DST_WHO "t.yaml: document 1 (ReplicationDestination default/t): "

static const struct {
	const char *yaml;
	const char *error; /* the whole message starts with this */
} bad_inputs[] = {
	{ SRC_KOPIA "    retain:\n      daily: abc\n", SRC_WHO "spec.kopia.retain.daily: expected an integer, got \"abc\" (line 10)" },
	{ SRC_KOPIA "    retain:\n      hourly: -1\n", SRC_WHO "spec.kopia.retain.hourly: must not be negative, got -1" },
	{ SRC_KOPIA "    retain:\n      weekly: 1.5\n", SRC_WHO "spec.kopia.retain.weekly: expected an integer, got 1.5" },
	{ SRC_KOPIA "    retain:\n      monthly: 010\n", SRC_WHO "spec.kopia.retain.monthly: expected a decimal integer" },
	{ SRC_KOPIA "    retain: [1, 2]\n", SRC_WHO "spec.kopia.retain: expected a mapping, got a list" },
	{ SRC_KOPIA "    parallelism: 2147483648\n",
	  SRC_WHO "spec.kopia.parallelism: out of range (at most 2147483647), got 2147483648" },
	{ SRC_KOPIA "    parallelism: 99999999999999999999999\n", SRC_WHO "spec.kopia.parallelism: out of range" },
	{ SRC_KOPIA "    parallelism: \"5\"\n",
	  SRC_WHO "spec.kopia.parallelism: expected an integer, got \"5\" (a quoted string; remove the quotes)" },
	{ SRC_KOPIA "    maintenanceIntervalDays: 0x10\n", SRC_WHO "spec.kopia.maintenanceIntervalDays: expected a decimal" },
	{ SRC_KOPIA "    maintenanceIntervalDays: true\n",
	  SRC_WHO "spec.kopia.maintenanceIntervalDays: expected an integer, got true" },
	{ SRC_KOPIA "    compression: {zstd: 1}\n", SRC_WHO "spec.kopia.compression: expected a string, got a mapping" },
	{ SRC_KOPIA "    compression: 5\n", SRC_WHO "spec.kopia.compression: expected a string, got 5 (put it in quotes)" },
	{ SRC_KOPIA "    copyMethod: Copy\n",
	  SRC_WHO "spec.kopia.copyMethod: must be one of Direct, None, Clone, Snapshot, got \"Copy\"" },
	{ SRC_KOPIA "    copyMethod: direct\n", SRC_WHO "spec.kopia.copyMethod: must be one of" },
	{ SRC_KOPIA "    cacheCapacity: 5 GB\n", SRC_WHO "spec.kopia.cacheCapacity: expected a Kubernetes quantity" },
	{ SRC_KOPIA "    cacheCapacity: -1Gi\n", SRC_WHO "spec.kopia.cacheCapacity: expected a Kubernetes quantity" },
	{ SRC_KOPIA "    cacheCapacity: 0\n", SRC_WHO "spec.kopia.cacheCapacity: must be more than 0" },
	{ SRC_KOPIA "    sourcePathOverride: data\n",
	  SRC_WHO "spec.kopia.sourcePathOverride: must be an absolute path starting with '/', got \"data\"" },
	{ SRC_KOPIA "    username: -bad\n", SRC_WHO "spec.kopia.username: must match" },
	{ SRC_KOPIA "    hostname: \"host name\"\n", SRC_WHO "spec.kopia.hostname: must match" },
	{ SRC_KOPIA "    actions:\n      beforeSnapshot: [a]\n",
	  SRC_WHO "spec.kopia.actions.beforeSnapshot: expected a string, got a list" },
	{ SRC_KOPIA "    customCA:\n      secretName: tls\n",
	  SRC_WHO "spec.kopia.customCA.key: required with secretName" },
	{ SRC_KOPIA "    customCA:\n      secretName: tls\n      configMapName: tls\n      key: ca.crt\n",
	  SRC_WHO "spec.kopia.customCA: give secretName or configMapName, not both" },
	{ SRC_KOPIA "    customCA:\n      key: ca.crt\n", SRC_WHO "spec.kopia.customCA: key is given but neither" },
	{ SRC_KOPIA "    repository: again\n", SRC_WHO "spec.kopia.repository: the key appears more than once (line 9)" },
	{ SRC_KOPIA "    copyMethod: Clone\n  restic:\n    repository: r\n",
	  SRC_WHO "spec.restic: only one mover may be given, and coffer runs only the Kopia mover" },
	{ SRC_KOPIA "  paused: maybe\n", SRC_WHO "spec.paused: expected true or false, got \"maybe\"" },
	{ SRC_KOPIA "  paused: \"true\"\n", SRC_WHO "spec.paused: expected true or false, got \"true\"" },
	{ SRC_KOPIA "  trigger: daily\n", SRC_WHO "spec.trigger: expected a mapping, got \"daily\"" },
	{ SRC_KOPIA "  trigger:\n    schedule: 5\n", SRC_WHO "spec.trigger.schedule: expected a string, got 5" },
	{ SRC_KOPIA "  trigger:\n    manual: 2024\n", SRC_WHO "spec.trigger.manual: expected a string, got 2024" },
	{ SRC_SPEC, SRC_WHO "spec.kopia is required (coffer runs only the Kopia mover)" },
	{ SRC_SPEC "  restic:\n    repository: restic-config\n",
	  SRC_WHO "spec.kopia is required (coffer runs only the Kopia mover); found spec.restic instead" },
	{ SRC_SPEC "  rsyncTLS: {}\n", SRC_WHO "spec.kopia is required (coffer runs only the Kopia mover); found spec.rsyncTLS" },
	{ SRC_SPEC "  kopia: {}\n", SRC_WHO "spec.kopia.repository: required" },
	{ SRC META "spec:\n  kopia:\n    repository: r\n", SRC_WHO "spec.sourcePVC: required" },
	{ SRC META, SRC_WHO "spec: required" },
	{ SRC META "spec: [a]\n", SRC_WHO "spec: expected a mapping, got a list" },
	{ SRC "metadata:\n  namespace: prod\n", "t.yaml: document 1 (ReplicationSource): metadata.name: required" },
	{ SRC "metadata:\n  name: My_Backup\n",
	  "t.yaml: document 1 (ReplicationSource): metadata.name: must be a DNS-1123 subdomain" },
	{ SRC "metadata:\n  name: ok\n  namespace: a.b\n",
	  "t.yaml: document 1 (ReplicationSource): metadata.namespace: must be a DNS-1123 label" },
	{ SRC "metadata: x\n", "t.yaml: document 1 (ReplicationSource): metadata: expected a mapping, got \"x\"" },
	{ "apiVersion: volsync.backube/v1\nkind: ReplicationSource\n" META,
	  "t.yaml: document 1 (ReplicationSource): apiVersion: expected volsync.backube/v1alpha1 for ReplicationSource, "
	  "got \"volsync.backube/v1\"" },
	{ "kind: ReplicationSource\n" META, "t.yaml: document 1 (ReplicationSource): apiVersion: required" },
	{ "apiVersion: v1\n" META, "t.yaml: document 1: kind: required" },
	{ "apiVersion: v1\nkind: [Secret]\n", "t.yaml: document 1: kind: expected a string, got a list" },
	{ "- a\n- b\n", "t.yaml: document 1: expected a Kubernetes object (a mapping with apiVersion, kind, metadata), got a list" },
	{ "apiVersion: v1\nkind: Secret\n" META "? [a]\n: b\n", "t.yaml: document 1 (Secret default/t): a key must be a string, got a list (line 5)" },
	{ DST_KOPIA "    copyMethod: Clone\n",
	  DST_WHO "spec.kopia.copyMethod: Clone is not allowed for a ReplicationDestination" },
	{ DST_KOPIA "    restoreAsOf: \"2024-01-15 18:30:00Z\"\n",
	  DST_WHO "spec.kopia.restoreAsOf: invalid time \"2024-01-15 18:30:00Z\": date and time must be separated by 'T'" },
	{ DST_KOPIA "    restoreAsOf: yesterday\n", DST_WHO "spec.kopia.restoreAsOf: invalid time" },
	{ DST_KOPIA "    shallow: -3\n", DST_WHO "spec.kopia.shallow: must not be negative, got -3" },
	{ DST_KOPIA "    previous: \"1\"\n", DST_WHO "spec.kopia.previous: expected an integer, got \"1\"" },
	{ DST_KOPIA "    enableFileDeletion: 1\n", DST_WHO "spec.kopia.enableFileDeletion: expected true or false, got 1" },
	{ DST_KOPIA "    cleanupCachePVC: {}\n", DST_WHO "spec.kopia.cleanupCachePVC: expected true or false, got a mapping" },
	{ DST_KOPIA "    username: restorer\n",
	  DST_WHO "spec.kopia.hostname: required with spec.kopia.username (VolSync takes both or neither)" },
	{ DST_KOPIA "    hostname: somehost\n", DST_WHO "spec.kopia.username: required with spec.kopia.hostname" },
	{ DST_KOPIA "    sourceIdentity:\n      sourceNamespace: prod\n",
	  DST_WHO "spec.kopia.sourceIdentity.sourceName: required" },
	{ DST_KOPIA "    sourceIdentity:\n      sourceName: a\n      sourcePathOverride: rel/path\n",
	  DST_WHO "spec.kopia.sourceIdentity.sourcePathOverride: must be an absolute path" },
	{ DST META "spec:\n  rclone: {}\n", DST_WHO "spec.kopia is required (coffer runs only the Kopia mover); found spec.rclone" },
	{ "apiVersion: v1\nkind: Secret\n" META "data:\n  KEY: not base64!\n",
	  "t.yaml: document 1 (Secret default/t): data.KEY: the value is not valid base64" },
	{ "apiVersion: v1\nkind: Secret\n" META "data:\n  KEY: aGVsbG8\n",
	  "t.yaml: document 1 (Secret default/t): data.KEY: the value is not valid base64" },
	{ "apiVersion: v1\nkind: Secret\n" META "data:\n  KEY: aGVsbG8=x\n",
	  "t.yaml: document 1 (Secret default/t): data.KEY: the value is not valid base64" },
	{ "apiVersion: v1\nkind: Secret\n" META "data:\n  KEY: a===\n",
	  "t.yaml: document 1 (Secret default/t): data.KEY: the value is not valid base64" },
	{ "apiVersion: v1\nkind: Secret\n" META "stringData:\n  PORT: 5432\n",
	  "t.yaml: document 1 (Secret default/t): stringData.PORT: expected a string, got an integer (put it in quotes)" },
	{ "apiVersion: v1\nkind: Secret\n" META "stringData:\n  bad/key: x\n",
	  "t.yaml: document 1 (Secret default/t): stringData.bad/key: a key may hold only letters" },
	{ "apiVersion: v1\nkind: Secret\n" META "stringData: [a]\n",
	  "t.yaml: document 1 (Secret default/t): stringData: expected a mapping of keys to values, got a list" },
	{ "apiVersion: v1\nkind: Secret\n" META "type: {a: b}\n",
	  "t.yaml: document 1 (Secret default/t): type: expected a string, got a mapping" },
	{ "apiVersion: v2\nkind: Secret\n" META, "t.yaml: document 1 (Secret): apiVersion: expected v1 for Secret, got \"v2\"" },
	{ "apiVersion: v1\nkind: ConfigMap\n" META "data:\n  a: x\nbinaryData:\n  a: eA==\n",
	  "t.yaml: document 1 (ConfigMap default/t): binaryData.a: the key is in both data and binaryData" },
	{ "apiVersion: v1\nkind: ConfigMap\n" META "binaryData:\n  a: '*'\n",
	  "t.yaml: document 1 (ConfigMap default/t): binaryData.a: the value is not valid base64" },
	{ "apiVersion: v1\nkind: ConfigMap\n" META "immutable: maybe\n",
	  "t.yaml: document 1 (ConfigMap default/t): immutable: expected true or false, got a string" },
};

START_TEST(bad_input_names_field)
{
	ctl_manifests m = { 0 };
	parse_text(&m, bad_inputs[_i].yaml);
	if (m.error_count != 1 || strncmp(m.errors[0], bad_inputs[_i].error, strlen(bad_inputs[_i].error)) != 0) {
		fprintf(stderr, "input:\n%s", bad_inputs[_i].yaml);
		dump(&m);
		ck_abort_msg("case %d: expected one error starting with: %s", _i, bad_inputs[_i].error);
	}
	ck_assert_uint_eq(m.object_count, 0);
	ck_assert_uint_eq(m.data_count, 0);
	ctl_manifests_clear(&m);
}
END_TEST

/* A Secret's values never appear in a message, even a bad one. */
START_TEST(secret_values_not_shown)
{
	ctl_manifests m = { 0 };
	parse_text(&m, "apiVersion: v1\nkind: Secret\n" META "data:\n  KOPIA_PASSWORD: hunter2-secret!\n"
	               "stringData:\n  OTHER: [hunter3-secret]\n  THIRD: {k: hunter4-secret}\ntype: [hunter5-secret]\n");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 4);
	for (size_t i = 0; i < m.error_count; i++)
		ck_assert_ptr_null(strstr(m.errors[i], "hunter"));
	ck_assert_error(&m, "data.KOPIA_PASSWORD: the value is not valid base64");
	ck_assert_error(&m, "stringData.OTHER: expected a string, got a list");
	ctl_manifests_clear(&m);
}
END_TEST

/* Several problems in one object are all reported; the object is dropped. */
START_TEST(all_problems_reported)
{
	ctl_manifests m = { 0 };
	parse_text(&m, SRC META "spec:\n  paused: 3\n  kopia:\n    retain:\n      daily: x\n      weekly: -2\n"
	               "    copyMethod: Move\n");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 6);
	ck_assert_error(&m, "spec.paused: expected true or false");
	ck_assert_error(&m, "spec.kopia.retain.daily: expected an integer");
	ck_assert_error(&m, "spec.kopia.retain.weekly: must not be negative");
	ck_assert_error(&m, "spec.kopia.copyMethod: must be one of");
	ck_assert_error(&m, "spec.sourcePVC: required");
	ck_assert_error(&m, "spec.kopia.repository: required");
	ck_assert_uint_eq(m.object_count, 0);
	ctl_manifests_clear(&m);
}
END_TEST

/* ---- warnings ---- */

START_TEST(unknown_fields_warn)
{
	ctl_manifests m = { 0 };
	parse_text(&m, SRC "metadata:\n  name: t\n  labels: {a: b}\n  nickname: x\n"
	               "spec:\n  sourcePVC: data\n  frobnicate: 1\n  trigger:\n    schedule: \"@hourly\"\n    jitter: 5\n"
	               "  kopia:\n    repository: kopia-config\n    foo: bar\n    retain:\n      daily: 1\n      within: 3d\n"
	               "    accessModes: [ReadWriteOnce]\n    cacheStorageClassName: fast\n    additionalArgs: [--x]\n"
	               "    policyConfig: {secretName: p}\n"
	               "status:\n  lastSyncTime: x\nextra: 1\n");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(m.object_count, 1);
	ck_assert_warning(&m, SRC_WHO "unknown field metadata.nickname (ignored) (line 6)");
	ck_assert_warning(&m, SRC_WHO "unknown field spec.frobnicate (ignored)");
	ck_assert_warning(&m, SRC_WHO "unknown field spec.trigger.jitter (ignored)");
	ck_assert_warning(&m, SRC_WHO "unknown field spec.kopia.foo (ignored)");
	ck_assert_warning(&m, SRC_WHO "unknown field spec.kopia.retain.within (ignored)");
	ck_assert_warning(&m, SRC_WHO "unknown field extra (ignored)");
	ck_assert_warning(&m, SRC_WHO "spec.kopia.accessModes has no effect on a host (ignored)");
	ck_assert_warning(&m, SRC_WHO "spec.kopia.cacheStorageClassName has no effect on a host (ignored)");
	ck_assert_warning(&m, SRC_WHO "spec.kopia.additionalArgs has no effect on a host (ignored)");
	ck_assert_warning(&m, SRC_WHO "spec.kopia.policyConfig has no effect on a host (ignored)");
	ck_assert_uint_eq(m.warning_count, 10);
	ck_assert_int_eq(m.objects[0].retain_daily, 1);
	ctl_manifests_clear(&m);

	/* Fields of the other kind are unknown, and destination-only no-effect fields warn. */
	parse_text(&m, DST_KOPIA "    retain:\n      daily: 1\n    cleanupTempPVC: true\n    moverServiceAccount: sa\n");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_warning(&m, DST_WHO "unknown field spec.kopia.retain (ignored)");
	ck_assert_warning(&m, DST_WHO "spec.kopia.cleanupTempPVC has no effect on a host (ignored)");
	ck_assert_warning(&m, DST_WHO "spec.kopia.moverServiceAccount has no effect on a host (ignored)");
	ck_assert_uint_eq(m.warning_count, 3);
	ctl_manifests_clear(&m);

	parse_text(&m, "apiVersion: v1\nkind: Secret\n" META "stringData:\n  A: b\nimmutable: true\ntype: Opaque\nsecret: x\n");
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(m.warning_count, 1);
	ck_assert_warning(&m, "t.yaml: document 1 (Secret default/t): unknown field secret (ignored)");
	ctl_manifests_clear(&m);
}
END_TEST

START_TEST(other_kinds_skipped)
{
	ctl_manifests m = { 0 };
	parse_text(&m, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\n---\n"
	               "apiVersion: volsync.backube/v1alpha1\nkind: ReplicationSourceX\n---\n"
	               "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: datavol\n");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(m.warning_count, 3);
	ck_assert_str_eq(m.warnings[0],
	                 "t.yaml: document 1 (Deployment prod/web): kind Deployment is not handled by coffer; skipped");
	ck_assert_str_eq(m.warnings[1],
	                 "t.yaml: document 2 (ReplicationSourceX): kind ReplicationSourceX is not handled by coffer; skipped");
	ck_assert_str_eq(m.warnings[2], "t.yaml: document 3 (PersistentVolumeClaim default/datavol): kind "
	                                "PersistentVolumeClaim is not handled by coffer; skipped");
	ctl_manifests_clear(&m);
}
END_TEST

/* ---- scalars ---- */

START_TEST(booleans)
{
	static const char *const trues[] = { "true", "True", "TRUE", "yes", "on" };
	static const char *const falses[] = { "false", "False", "FALSE", "no", "off" };
	for (int i = 0; i < 10; i++) {
		char text[512];
		snprintf(text, sizeof(text), SRC_KOPIA "  paused: %s\n", i < 5 ? trues[i] : falses[i - 5]);
		ctl_manifests m = { 0 };
		parse_text(&m, text);
		ck_assert_uint_eq(m.error_count, 0);
		ck_assert_int_eq(m.objects[0].paused, i < 5);
		ctl_manifests_clear(&m);
	}
}
END_TEST

/* Null is "not set", as in Kubernetes; so is an empty optional string. */
START_TEST(nulls_are_unset)
{
	ctl_manifests m = { 0 };
	parse_text(&m, SRC_KOPIA "    compression: ~\n    parallelism: null\n    retain:\n    customCA:\n"
	                         "    username: \n    hostname: \"\"\n  trigger:\n    manual: \"\"\n");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 1); /* hostname "" is not a valid identity */
	ck_assert_error(&m, "spec.kopia.hostname: must match");
	ctl_manifests_clear(&m);

	parse_text(&m, SRC_KOPIA "    compression: ~\n    parallelism: null\n    retain:\n    customCA:\n"
	                         "    username:\n  trigger:\n    manual: \"\"\n  paused: ~\n");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	const ctl_replication *r = &m.objects[0];
	ck_assert_ptr_null(r->compression);
	ck_assert_int_eq(r->parallelism, -1);
	ck_assert_int_eq(r->retain_daily, -1);
	ck_assert_ptr_null(r->username);
	ck_assert_ptr_null(r->manual);
	ck_assert_int_eq(r->paused, 0);
	ctl_manifests_clear(&m);
}
END_TEST

START_TEST(int32_limits)
{
	ctl_manifests m = { 0 };
	parse_text(&m, SRC_KOPIA "    parallelism: 2147483647\n    retain:\n      daily: 0\n      weekly: +3\n");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_int_eq(m.objects[0].parallelism, 2147483647);
	ck_assert_int_eq(m.objects[0].retain_daily, 0);
	ck_assert_int_eq(m.objects[0].retain_weekly, 3);
	ctl_manifests_clear(&m);
}
END_TEST

/* ---- documents ---- */

START_TEST(multi_document)
{
	ctl_manifests m = { 0 };
	load(&m, "multi.yaml");
	dump(&m);
	ck_assert_uint_eq(m.object_count, 1);
	ck_assert_uint_eq(m.data_count, 2);
	ck_assert_uint_eq(m.error_count, 1);
	ck_assert(strstr(m.errors[0], "multi.yaml: document 5 (ReplicationDestination apps/broken): "
	                              "spec.kopia.previous: expected an integer, got \"many\" (line 48)"));
	ck_assert_uint_eq(m.warning_count, 1);
	ck_assert(strstr(m.warnings[0], "multi.yaml: document 3 (PersistentVolumeClaim apps/data): kind"));

	const ctl_replication *r = &m.objects[0];
	ck_assert_str_eq(r->name, "data-backup");
	ck_assert_str_eq(r->namespace_, "apps");
	ck_assert_uint_eq(r->origin.document, 4);
	ck_assert_uint_eq(r->origin.line, 29);

	const ctl_data_object *s = ctl_manifests_find_data(&m, 1, "apps", "kopia-config");
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(ctl_manifests_find_data(&m, 1, "default", "kopia-config"));
	ck_assert_uint_eq(s->origin.document, 2);
	ck_assert_uint_eq(s->origin.line, 3);
	ck_assert_uint_eq(s->count, 4);
	ck_assert_str_eq(kv(s, "KOPIA_REPOSITORY"), "filesystem:///srv/backups");
	ck_assert_str_eq(kv(s, "KOPIA_PASSWORD"), "from-string-data"); /* stringData wins */
	ck_assert_str_eq(kv(s, "WRAPPED"), "hello world");
	const ctl_kv *bin = ctl_data_get(s, "BINARY");
	ck_assert_uint_eq(bin->len, 4);
	ck_assert(memcmp(bin->value, "\x00\x01\x02\xff", 5) == 0);

	const ctl_data_object *c = ctl_manifests_find_data(&m, 0, "apps", "tls-configmap-name");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->is_secret, 0);
	ck_assert_str_eq(kv(c, "ca.crt"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
	ck_assert_uint_eq(ctl_data_get(c, "blob.bin")->len, 2);
	ck_assert(memcmp(ctl_data_get(c, "blob.bin")->value, "\x00\xff", 3) == 0);
	ctl_manifests_clear(&m);
}
END_TEST

START_TEST(empty_documents)
{
	static const char *const texts[] = { "", "\n", "# only a comment\n", "---\n", "---\n---\n...\n", "~\n", "--- null\n" };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		ctl_manifests m = { 0 };
		parse_text(&m, texts[i]);
		ck_assert_uint_eq(m.error_count, 0);
		ck_assert_uint_eq(m.warning_count, 0);
		ck_assert_uint_eq(m.object_count + m.data_count, 0);
		ctl_manifests_clear(&m);
	}
	ctl_manifests m = { 0 };
	ck_assert_int_eq(ctl_manifests_parse(&m, "t.yaml", NULL, 0), 0);
	ck_assert_uint_eq(m.error_count, 0);
	ctl_manifests_clear(&m);
}
END_TEST

/* Documents before a syntax error are kept, nothing after it. */
START_TEST(syntax_error_stops_file)
{
	ctl_manifests m = { 0 };
	parse_text(&m, SRC_KOPIA "---\n" "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
	                         "stringData: {A: [b}\n---\n" DST_KOPIA);
	dump(&m);
	ck_assert_uint_eq(m.object_count, 1);
	ck_assert_uint_eq(m.data_count, 0);
	ck_assert_uint_eq(m.error_count, 1);
	ck_assert(strncmp(m.errors[0], "t.yaml: document 2: YAML syntax error at line 14, column 19: ", 61) == 0);
	ck_assert(strstr(m.errors[0], "; the rest of the file is not used"));
	ctl_manifests_clear(&m);

	parse_text(&m, "a: b\n\tc: d\n");
	ck_assert_uint_eq(m.error_count, 1);
	ck_assert(strncmp(m.errors[0], "t.yaml: document 1: YAML syntax error at line 2, column 1: ", 59) == 0);
	ctl_manifests_clear(&m);

	/* Bytes that are not UTF-8 are a reader error with an offset. */
	parse_text(&m, "a: \xff\xfe\n");
	ck_assert_uint_eq(m.error_count, 1);
	ck_assert(strstr(m.errors[0], "t.yaml: document 1: YAML error at byte 3: "));
	ctl_manifests_clear(&m);

	parse_text(&m, "a: *nope\n");
	ck_assert_uint_eq(m.error_count, 1);
	ck_assert(strstr(m.errors[0], "found undefined alias"));
	ctl_manifests_clear(&m);
}
END_TEST

/* Anchors and aliases work; one that contains itself or expands without bound is refused. */
START_TEST(aliases)
{
	ctl_manifests m = { 0 };
	parse_text(&m, SRC_SPEC "  kopia:\n    repository: &repo kopia-config\n    retain: &r {daily: 3}\n"
	                        "    compression: *repo\n");
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_str_eq(m.objects[0].compression, "kopia-config");
	ctl_manifests_clear(&m);

	parse_text(&m, SRC_KOPIA "    moverAffinity: &a [*a]\n");
	ck_assert_uint_eq(m.object_count, 0);
	ck_assert_uint_eq(m.error_count, 1);
	ck_assert_error(&m, "nests deeper than");
	ctl_manifests_clear(&m);

	char *text = malloc(4096);
	int n = snprintf(text, 4096, "%s", SRC_KOPIA "    moverVolumes:\n      a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 10; i++)
		n += snprintf(text + n, 4096 - (size_t)n, "      a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
		              i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	parse_text(&m, text);
	ck_assert_uint_eq(m.object_count, 0);
	ck_assert_error(&m, "expands beyond");
	ctl_manifests_clear(&m);
	free(text);
}
END_TEST

/* ---- base64 ---- */

START_TEST(base64_values)
{
	static const struct {
		const char *in;
		const char *out;
		size_t len;
	} good[] = {
		{ "\"\"", "", 0 },
		{ "Zg==", "f", 1 },
		{ "Zm8=", "fo", 2 },
		{ "Zm9v", "foo", 3 },
		{ "Zm9vYg==", "foob", 4 },
		{ "Zm9vYmE=", "fooba", 5 },
		{ "Zm9vYmFy", "foobar", 6 },
		{ "AA==", "\0", 1 },
		{ "+/+/", "\xfb\xff\xbf", 3 },
		{ "|\n    Zm9v\n    YmFy", "foobar", 6 },
	};
	static const char *const bad[] = { "Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm9v-A==", "Zm9v_A==",
		                           "Zm 9v", "\"Zm9v\\t\"", "Zm9vYg=a" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "apiVersion: v1\nkind: Secret\n" META "data:\n  K: %s\n", good[i].in);
		ctl_manifests m = { 0 };
		parse_text(&m, text);
		dump(&m);
		ck_assert_uint_eq(m.error_count, 0);
		const ctl_kv *v = ctl_data_get(&m.data[0], "K");
		ck_assert_ptr_nonnull(v);
		ck_assert_uint_eq(v->len, good[i].len);
		ck_assert(memcmp(v->value, good[i].out, good[i].len + 1) == 0);
		ctl_manifests_clear(&m);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "apiVersion: v1\nkind: Secret\n" META "data:\n  K: %s\n", bad[i]);
		ctl_manifests m = { 0 };
		parse_text(&m, text);
		ck_assert_msg(m.error_count == 1, "accepted %s", bad[i]);
		ck_assert_error(&m, "(Secret default/t): data.K: the value is not valid base64");
		ck_assert_uint_eq(m.data_count, 0);
		ctl_manifests_clear(&m);
	}
}
END_TEST

/* stringData wins over data whichever comes first; a key in both of a ConfigMap's sections
 * is an error. */
START_TEST(string_data_wins)
{
	ctl_manifests m = { 0 };
	parse_text(&m, "apiVersion: v1\nkind: Secret\n" META "stringData:\n  A: plain\ndata:\n  A: Zm9v\n  B: YmFy\n");
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_str_eq(kv(&m.data[0], "A"), "plain");
	ck_assert_str_eq(kv(&m.data[0], "B"), "bar");
	ck_assert_uint_eq(m.data[0].count, 2);
	ctl_manifests_clear(&m);

	parse_text(&m, "apiVersion: v1\nkind: Secret\n" META "data:\n  A: Zm9v\nstringData:\n  A: \"with\\0nul\"\n");
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(ctl_data_get(&m.data[0], "A")->len, 8);
	ck_assert(memcmp(kv(&m.data[0], "A"), "with\0nul", 9) == 0);
	ctl_manifests_clear(&m);
}
END_TEST

/* ---- quantities ---- */

static const struct {
	const char *text;
	uint64_t bytes;
} good_quantities[] = {
	{ "0", 0 },
	{ "1024", 1024 },
	{ "+5", 5 },
	{ "1k", 1000 },
	{ "500M", 500000000ULL },
	{ "2G", 2000000000ULL },
	{ "3T", 3000000000000ULL },
	{ "1P", 1000000000000000ULL },
	{ "1E", 1000000000000000000ULL },
	{ "1Ki", 1024 },
	{ "1Mi", 1048576 },
	{ "5Gi", 5368709120ULL },
	{ "1Ti", 1ULL << 40 },
	{ "1Pi", 1ULL << 50 },
	{ "15Ei", 15ULL << 60 },
	{ "1.5Gi", 1610612736ULL },
	{ ".5Ki", 512 },
	{ "1.Ki", 1024 },
	{ "0.5", 1 },              /* Kubernetes rounds up to whole units */
	{ "1.0000000000000000001", 2 },
	{ "1.25k", 1250 },
	{ "0.001Ki", 2 },
	{ "1e3", 1000 },
	{ "1E3", 1000 },
	{ "2e+2", 200 },
	{ "1e-3", 1 },
	{ "12e-1", 2 },
	{ "18446744073709551615", UINT64_MAX },
	{ "16383.999999999999999Pi", UINT64_MAX },
	{ "16383.999999999999Pi", 18446744073709551615ULL - 1124 },
};

START_TEST(quantity_good)
{
	uint64_t v = 12345;
	int rc = ctl_parse_quantity(good_quantities[_i].text, &v);
	ck_assert_msg(rc == 0, "rejected %s", good_quantities[_i].text);
	ck_assert_msg(v == good_quantities[_i].bytes, "%s gave %llu, want %llu", good_quantities[_i].text,
	              (unsigned long long)v, (unsigned long long)good_quantities[_i].bytes);
}
END_TEST

static const char *const bad_quantities[] = {
	"", "-1", "-1Gi", "Gi", "1GB", "1gi", "1m", "1 Gi", " 1", "1 ", "1.5.5", "1..5", ".", "+", "1e", "1e+",
	"1e99", "1ee3", "1Gi3", "0x10", "abc", "1,5Gi", "18446744073709551616", "16Ei", "99999999999999999999999",
	"18446744073709551615k", "1e19", "NaN", "inf",
};

START_TEST(quantity_bad)
{
	uint64_t v = 7;
	ck_assert_msg(ctl_parse_quantity(bad_quantities[_i], &v) == -1, "accepted \"%s\"", bad_quantities[_i]);
	ck_assert_uint_eq(v, 7);
}
END_TEST

/* ---- digest ---- */

static char *digest_of(const char *file)
{
	ctl_manifests m = { 0 };
	load(&m, file);
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(m.object_count, 1);
	char *d = strdup(m.objects[0].digest);
	ctl_manifests_clear(&m);
	return d;
}

START_TEST(digest_stable)
{
	char *a = digest_of("reformatted-a.yaml");
	char *b = digest_of("reformatted-b.yaml");
	ck_assert_uint_eq(strlen(a), 64);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 64);
	ck_assert_str_eq(a, b);

	/* Any value change shows. */
	static const char *const changes[][2] = {
		{ "daily: 7", "daily: 8" },
		{ "paused: true", "paused: false" },
		{ "compression: zstd", "compression: s2" },
		{ "echo done", "echo Done" },
		{ "name: mydata-backup", "name: mydata-backup2" },
		{ "    retain:\n", "    retain:\n      weekly: 1\n" },
		{ "daily: 7", "daily: \"7\"" }, /* a type change, rejected anyway */
	};
	char *path = data_path("reformatted-a.yaml");
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	char orig[4096];
	size_t n = fread(orig, 1, sizeof(orig) - 1, f);
	orig[n] = '\0';
	fclose(f);
	free(path);
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		char text[4200];
		char *at = strstr(orig, changes[i][0]);
		ck_assert_ptr_nonnull(at);
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - orig), orig, changes[i][1], at + strlen(changes[i][0]));
		ctl_manifests m = { 0 };
		parse_text(&m, text);
		if (i == 6) {
			ck_assert_uint_eq(m.object_count, 0);
		} else {
			ck_assert_uint_eq(m.error_count, 0);
			ck_assert_str_ne(m.objects[0].digest, a);
		}
		ctl_manifests_clear(&m);
	}
	/* The same text gives the same digest in another namespace only if the namespace is the same. */
	ctl_manifests m = { 0 };
	parse_text(&m, orig);
	ck_assert_str_eq(m.objects[0].digest, a);
	ctl_manifests_clear(&m);
	free(a);
	free(b);
}
END_TEST

/* ---- folders ---- */

START_TEST(load_dir_filters)
{
	ctl_manifests m = { 0 };
	char *dir = data_path("dir");
	ck_assert_int_eq(ctl_manifests_load_dir(&m, dir), 0);
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(m.warning_count, 0);
	ck_assert_uint_eq(m.data_count, 1);
	ck_assert_uint_eq(m.object_count, 2);
	/* Files in name order, documents in file order. */
	ck_assert(strstr(m.data[0].origin.file, "/dir/10-secret.yaml"));
	ck_assert_str_eq(m.objects[0].name, "b-backup");
	ck_assert_str_eq(m.objects[1].name, "a-backup");
	ck_assert(strstr(m.objects[1].origin.file, "/dir/20-source.yml"));
	ck_assert_uint_eq(m.objects[1].origin.document, 2);
	ctl_manifests_clear(&m);
	free(dir);
}
END_TEST

START_TEST(load_dir_duplicates)
{
	ctl_manifests m = { 0 };
	char *dir = data_path("dup");
	ck_assert_int_eq(ctl_manifests_load_dir(&m, dir), 0);
	dump(&m);
	ck_assert_uint_eq(m.error_count, 2);
	ck_assert_uint_eq(m.object_count, 3);
	ck_assert_uint_eq(m.data_count, 2);
	ck_assert(strstr(m.errors[0], "/dup/b.yaml: document 1 (ReplicationSource default/app): ReplicationSource default/app "
	                              "is already defined in "));
	ck_assert(strstr(m.errors[0], "/dup/a.yaml document 2 (line 7); this one is ignored"));
	ck_assert(strstr(m.errors[1], "/dup/b.yaml: document 2 (Secret default/kopia-config): Secret default/kopia-config "
	                              "is already defined in "));
	ck_assert(strstr(m.errors[1], "/dup/a.yaml document 1 (line 1); this one is ignored"));
	ck_assert_str_eq(m.objects[0].source_pvc, "app");
	ck_assert_str_eq(kv(ctl_manifests_find_data(&m, 1, "default", "kopia-config"), "KOPIA_PASSWORD"), "first");
	ck_assert_ptr_nonnull(ctl_manifests_find_data(&m, 0, "default", "kopia-config"));
	ctl_manifests_clear(&m);
	free(dir);

	/* The same within one text. */
	parse_text(&m, SRC_KOPIA "---\n" SRC_KOPIA);
	ck_assert_uint_eq(m.object_count, 1);
	ck_assert_uint_eq(m.error_count, 1);
	ck_assert_error(&m, "t.yaml: document 2 (ReplicationSource default/t): ReplicationSource default/t is already "
	                    "defined in t.yaml document 1 (line 1)");
	ctl_manifests_clear(&m);
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(load_dir_edge_cases)
{
	char *dir = test_tmpdir("manifests");
	char sub[4200];
	snprintf(sub, sizeof(sub), "%s/folder.yaml", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	write_file(dir, "a.yaml", SRC_KOPIA);
	write_file(dir, ".a.yaml", "not: [valid");
	write_file(dir, "b.yaml.swp", "not: [valid");
	write_file(dir, "yaml", "not: [valid");
	write_file(dir, ".yaml", "not: [valid");
	write_file(dir, "c.YAML", "not: [valid");
	ctl_manifests m = { 0 };
	char with_slash[4200];
	snprintf(with_slash, sizeof(with_slash), "%s/", dir);
	ck_assert_int_eq(ctl_manifests_load_dir(&m, with_slash), 0);
	dump(&m);
	ck_assert_uint_eq(m.error_count, 0);
	ck_assert_uint_eq(m.object_count, 1);
	ck_assert(strstr(m.objects[0].origin.file, "/a.yaml") && !strstr(m.objects[0].origin.file, "//"));
	ctl_manifests_clear(&m);

	/* A folder or file that cannot be read is an error, not a failure. */
	snprintf(sub, sizeof(sub), "%s/missing", dir);
	ck_assert_int_eq(ctl_manifests_load_dir(&m, sub), 0);
	ck_assert_uint_eq(m.error_count, 1);
	ck_assert(strstr(m.errors[0], "/missing: cannot open the manifests folder: "));
	ck_assert_int_eq(ctl_manifests_load_file(&m, sub), 0);
	ck_assert_uint_eq(m.error_count, 2);
	ck_assert(strstr(m.errors[1], "/missing: cannot open: "));
	ctl_manifests_clear(&m);
	ctl_manifests_clear(&m); /* twice is harmless */
	test_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(lookup_helpers)
{
	ck_assert_ptr_null(ctl_manifests_find_data(NULL, 1, "default", "x"));
	ck_assert_ptr_null(ctl_data_get(NULL, "x"));
	uint64_t v;
	ck_assert_int_eq(ctl_parse_quantity(NULL, &v), -1);
	ck_assert_int_eq(ctl_parse_quantity("1", NULL), -1);
	ctl_manifests_clear(NULL);
}
END_TEST

static Suite *manifest_suite(void)
{
	Suite *s = suite_create("ctl_manifest");
	TCase *t = tcase_create("guide");
	tcase_add_test(t, guide_secret);
	tcase_add_test(t, guide_source);
	tcase_add_test(t, guide_restore);
	tcase_add_test(t, guide_custom_ca);
	tcase_add_loop_test(t, guide_snippets_parse, 0, (int)(sizeof(guide_snippets) / sizeof(guide_snippets[0])));
	tcase_add_test(t, full_objects);
	suite_add_tcase(s, t);

	t = tcase_create("errors");
	tcase_add_loop_test(t, bad_input_names_field, 0, (int)(sizeof(bad_inputs) / sizeof(bad_inputs[0])));
	tcase_add_test(t, secret_values_not_shown);
	tcase_add_test(t, all_problems_reported);
	tcase_add_test(t, unknown_fields_warn);
	tcase_add_test(t, other_kinds_skipped);
	suite_add_tcase(s, t);

	t = tcase_create("values");
	tcase_add_test(t, booleans);
	tcase_add_test(t, nulls_are_unset);
	tcase_add_test(t, int32_limits);
	tcase_add_test(t, base64_values);
	tcase_add_test(t, string_data_wins);
	tcase_add_loop_test(t, quantity_good, 0, (int)(sizeof(good_quantities) / sizeof(good_quantities[0])));
	tcase_add_loop_test(t, quantity_bad, 0, (int)(sizeof(bad_quantities) / sizeof(bad_quantities[0])));
	tcase_add_test(t, digest_stable);
	suite_add_tcase(s, t);

	t = tcase_create("documents");
	tcase_add_test(t, multi_document);
	tcase_add_test(t, empty_documents);
	tcase_add_test(t, syntax_error_stops_file);
	tcase_add_test(t, aliases);
	tcase_add_test(t, load_dir_filters);
	tcase_add_test(t, load_dir_duplicates);
	tcase_add_test(t, load_dir_edge_cases);
	tcase_add_test(t, lookup_helpers);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return test_run_suite(manifest_suite());
}
