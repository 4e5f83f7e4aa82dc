/* VolSync manifests for the controller: ReplicationSource, ReplicationDestination, Secret and
 * ConfigMap documents read with libyaml from the user's *.yaml / *.yml files
 * (docs/controller.md lists every field). */
#ifndef COFFER_CTL_MANIFEST_H
#define COFFER_CTL_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

typedef enum ctl_kind {
	CTL_KIND_SOURCE = 1,       /* ReplicationSource */
	CTL_KIND_DESTINATION = 2   /* ReplicationDestination */
} ctl_kind;

typedef enum ctl_copy_method {
	CTL_COPY_DIRECT = 0,       /* Direct, or its deprecated alias None (the default) */
	CTL_COPY_CLONE = 1,
	CTL_COPY_SNAPSHOT = 2
} ctl_copy_method;

/* Where a document came from, for every message about it. */
typedef struct ctl_origin {
	char *file;                /* path as found in the manifests folder */
	unsigned int document;     /* 1-based index of the document in the file */
	unsigned int line;         /* 1-based line where the document starts */
} ctl_origin;

/* One key of a Secret or ConfigMap: `data` (base64-decoded) or `stringData` / ConfigMap
 * `data` (as written). A key in both stringData and data takes the stringData value, as
 * Kubernetes does. Values may hold NUL bytes (binary Secrets): use len. */
typedef struct ctl_kv {
	char *key;
	char *value;               /* NUL-terminated copy, len bytes before the NUL */
	size_t len;
} ctl_kv;

typedef struct ctl_data_object {
	int is_secret;             /* 1 Secret, 0 ConfigMap */
	char *namespace_;          /* "default" when metadata.namespace is absent */
	char *name;
	ctl_kv *items;
	size_t count;
	ctl_origin origin;
} ctl_data_object;

/* Unset numbers are -1, unset strings NULL. */
typedef struct ctl_replication {
	ctl_kind kind;
	char *namespace_;
	char *name;
	ctl_origin origin;
	int paused;                        /* spec.paused */
	char *schedule;                    /* spec.trigger.schedule (not yet checked as cron) */
	char *manual;                      /* spec.trigger.manual */

	char *source_pvc;                  /* source: spec.sourcePVC (required) */

	/* spec.kopia */
	char *repository;                  /* name of the Secret (required) */
	char *ca_secret, *ca_configmap;    /* customCA.secretName / configMapName */
	char *ca_key;                      /* customCA.key */
	long long retain_hourly, retain_daily, retain_weekly, retain_monthly, retain_yearly,
	          retain_latest;           /* source: retain.* */
	char *compression;                 /* source */
	long long parallelism;             /* source */
	ctl_copy_method copy_method;
	long long maintenance_interval_days; /* source */
	char *before_snapshot, *after_snapshot; /* source: actions.* */
	uint64_t cache_capacity;           /* bytes from a Kubernetes quantity ("5Gi"); 0 unset */
	char *username, *hostname;
	char *source_path_override;        /* source */

	/* destination */
	char *destination_pvc;
	char *restore_as_of;               /* RFC 3339, checked */
	int64_t restore_as_of_ns;
	long long shallow, previous;
	int cleanup_cache_pvc;
	int enable_file_deletion;
	char *src_name, *src_namespace, *src_path_override; /* sourceIdentity.* */
	char *src_pvc_name;                /* sourceIdentity.sourcePVCName */

	/* A digest of the whole document (hex SHA-256 of its canonical form), so the
	 * controller sees when an object changed. */
	char digest[65];
} ctl_replication;

typedef struct ctl_manifests {
	ctl_replication *objects;
	size_t object_count;
	ctl_data_object *data;             /* Secrets and ConfigMaps */
	size_t data_count;
	/* Messages, each complete: "FILE: document N (KIND NAMESPACE/NAME): FIELD: what is wrong".
	 * An object with an error is not in `objects`; warnings (unknown fields, kinds that are
	 * not handled) do not stop it. */
	char **errors;
	size_t error_count;
	char **warnings;
	size_t warning_count;
} ctl_manifests;

/* Parses every document of one YAML text and appends what it finds. `origin_name` names the
 * text in messages. Returns 0, or -1 only when out of memory; bad input is recorded in
 * m->errors and the rest of the text is still used where the YAML itself can be read. */
int ctl_manifests_parse(ctl_manifests *m, const char *origin_name, const char *text, size_t len);
/* Reads one file (any name). A file that cannot be read is an error in m->errors. */
int ctl_manifests_load_file(ctl_manifests *m, const char *path);
/* Every *.yaml and *.yml in `dir` (not recursive, sorted by name, hidden files skipped).
 * Then checks across files: a second object of the same kind, namespace and name is an
 * error naming both places. */
int ctl_manifests_load_dir(ctl_manifests *m, const char *dir);
void ctl_manifests_clear(ctl_manifests *m);

const ctl_data_object *ctl_manifests_find_data(const ctl_manifests *m, int is_secret, const char *namespace_,
                                               const char *name);
const ctl_kv *ctl_data_get(const ctl_data_object *d, const char *key);

/* Kubernetes quantity ("1Gi", "500M", "1.5Gi", "1024") to bytes. 0 or -1 (bad). */
int ctl_parse_quantity(const char *text, uint64_t *out);

#endif
