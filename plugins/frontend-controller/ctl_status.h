/* The status the controller keeps for each object, with VolSync's field names, stored in
 * STATE_DIR/status/<kind>/<namespace>/<name>.conf (libconfig, written atomically) and
 * printed as `kubectl get -o yaml|json` would. */
#ifndef COFFER_CTL_STATUS_H
#define COFFER_CTL_STATUS_H

#include <stdint.h>
#include <stdio.h>

#include "ctl_manifest.h"

/* Times are Unix nanoseconds, 0 = unset. Strings NULL = unset; all owned by the struct. */
typedef struct ctl_status {
	char *kind;                    /* "ReplicationSource" / "ReplicationDestination" */
	char *namespace_;
	char *name;
	int64_t last_sync_time;
	int64_t last_sync_start_time;  /* set while a sync runs */
	int64_t last_sync_duration_ns; /* printed as a Go duration, e.g. "1m2.5s" */
	int64_t next_sync_time;
	char *last_manual_sync;
	char *mover_result;            /* latestMoverStatus.result: "Successful" / "Failed" */
	char *mover_logs;              /* latestMoverStatus.logs: the last lines */
	/* conditions: one, type Synchronizing */
	char *cond_status;             /* "True" / "False" */
	char *cond_reason;             /* SyncInProgress, WaitingForSchedule, WaitingForManual, Error */
	char *cond_message;
	int64_t cond_transition_time;  /* lastTransitionTime: when status or reason last changed */
	int64_t last_maintenance;      /* status.kopia.lastMaintenance (sources) */
	char *last_snapshot;           /* the last sync's snapshot id (coffer's own field) */
	char *latest_image;            /* destinations: the directory restored into */
	/* The controller's own bookkeeping, kept under status.coffer when printed. */
	char *spec_digest;             /* ctl_replication.digest the status belongs to */
	unsigned int failures;         /* consecutive failed syncs */
	int64_t retry_time;            /* not before this time after a failure */
} ctl_status;

void ctl_status_init(ctl_status *s);
void ctl_status_clear(ctl_status *s);
/* Replaces a string field (NULL clears it). 0 or -1 out of memory. */
int ctl_status_set(char **field, const char *value);

/* The file of one object, under state_dir (malloc'd). Kind is "ReplicationSource" or
 * "ReplicationDestination"; names are checked so no path can leave state_dir. */
char *ctl_status_path(const char *state_dir, const char *kind, const char *namespace_, const char *name);
/* Loads one status; a missing file gives an empty status with kind/namespace/name filled in
 * and 0. A damaged file is -1 with a message in err naming the file and line. */
int ctl_status_load(const char *state_dir, const char *kind, const char *namespace_, const char *name,
                    ctl_status *out, char *err, size_t errlen);
/* Writes atomically (temporary file, fsync, rename), creating the folders. */
int ctl_status_save(const char *state_dir, const ctl_status *s, char *err, size_t errlen);
/* Every status under state_dir, sorted by kind, namespace, name. */
int ctl_status_load_all(const char *state_dir, ctl_status **out, size_t *count, char *err, size_t errlen);

typedef enum ctl_output { CTL_OUTPUT_YAML = 0, CTL_OUTPUT_JSON = 1 } ctl_output;
/* One object as `kubectl get KIND NAME -o yaml|json` prints it: apiVersion, kind,
 * metadata {name, namespace}, spec (when `spec` is given; from its manifest), status. */
int ctl_status_print(FILE *out, const ctl_status *s, const ctl_replication *spec, ctl_output fmt);
/* Several objects: YAML as one `apiVersion: v1, kind: List, items:` document, JSON the same. */
int ctl_status_print_list(FILE *out, const ctl_status *const *s, const ctl_replication *const *specs, size_t count,
                          ctl_output fmt);

/* "1m2.5s" style (Go's time.Duration.String). */
void ctl_format_duration(int64_t ns, char *out, size_t cap);

#endif
