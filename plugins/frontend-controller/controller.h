/* The VolSync-style controller front-end (docs/controller.md): site configuration, the
 * objects it drives, and the sync of one object as a `coffer mover` child process. */
#ifndef COFFER_CONTROLLER_H
#define COFFER_CONTROLLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <coffer/coffer.h>

#include "ctl_cron.h"
#include "ctl_manifest.h"
#include "ctl_status.h"

enum { CTL_LOG_ERROR = 0, CTL_LOG_WARNING = 1, CTL_LOG_INFO = 2, CTL_LOG_DEBUG = 3 };

/* The site configuration file (libconfig), every key in docs/controller.md. */
typedef struct ctl_config {
	char *config_file;           /* absolute path; children get it as COFFER_CONFIG */
	char *state_dir;
	char *manifests_dir;
	char *cache_dir;             /* default STATE_DIR/cache */
	char **volume_keys;          /* "name" (any namespace) or "namespace/name" */
	char **volume_dirs;
	size_t volume_count;
	unsigned int concurrency;    /* syncs at once, default 2 */
	int log_level;
	int64_t retry_initial_s;     /* first backoff after a failure, default 10 s */
	int64_t retry_max_s;         /* backoff cap, default 3600 s */
	int64_t poll_s;              /* how often the manifests folder is checked, default 10 s */
	int64_t continuous_interval_s; /* gap between syncs without a trigger, default 10 s */
	int64_t stop_timeout_s;      /* SIGTERM: how long running syncs get, default 60 s */
	unsigned int log_lines;      /* latestMoverStatus.logs: last lines kept, default 20 */
	char *coffer_binary;         /* default: this program (/proc/self/exe) */
} ctl_config;

int ctl_config_load(const char *path, ctl_config *out);
void ctl_config_clear(ctl_config *c);
/* The directory of a PVC name in a namespace ("namespace/name" first, then "name"), or NULL. */
const char *ctl_config_volume(const ctl_config *c, const char *namespace_, const char *name);

void ctl_log(const ctl_config *c, int level, const char *fmt, ...) COFFER_PRINTF(3, 4);
int64_t ctl_now_ns(void);

/* What the mover's last stdout line says (docs/mover.md, "Output"). */
typedef struct ctl_mover_report {
	char result[32];             /* success, failure, skipped, no-snapshot */
	char operation[16];
	char source[300];
	char snapshot_id[80];
	char last_maintenance[40];
	char error[1024];
	uint64_t bytes, files;
	int repository_created;
	double duration_s;
} ctl_mover_report;
/* Parses one JSON object line; 0, or -1 when it is not the mover's object. */
int ctl_mover_report_parse(const char *line, size_t len, ctl_mover_report *out);

/* Everything one sync needs, worked out before anything is started. */
typedef struct ctl_plan {
	const ctl_replication *spec;
	char **env;                  /* NULL-terminated "NAME=VALUE" for the mover */
	size_t env_count;
	char *data_dir;              /* the folder backed up (source) or restored into */
	char *volume_dir;            /* the source volume itself (Clone/Snapshot copy it) */
	char *copy_dir;              /* Clone/Snapshot: the point-in-time copy, removed afterwards */
	char *image_dir;             /* destination Snapshot: where the image goes */
	char *ca_file;
	char *cache_dir;
	char *out_path, *log_path;   /* the mover's stdout and stderr */
	char *identity;              /* user@host:/path, or NULL (single source) */
} ctl_plan;

/* Checks the object against the Secrets, ConfigMaps and volumes and builds the plan. On a
 * problem returns -1 with a message for the Error condition in err. */
int ctl_plan_build(const ctl_config *c, const ctl_manifests *m, const ctl_replication *spec, ctl_plan *out,
                   char *err, size_t errlen);
void ctl_plan_clear(ctl_plan *p);
/* Forks the sync: its own process group, copy step, `coffer mover`, clean-up. */
int ctl_plan_start(const ctl_config *c, const ctl_plan *p, pid_t *pid, char *err, size_t errlen);
/* After the child ended: fills the report from its stdout (report->result "" when there is
 * no JSON line) and the last log lines into *logs (malloc'd). */
void ctl_plan_collect(const ctl_config *c, const ctl_plan *p, ctl_mover_report *report, char **logs);

/* rm -rf that stays on one filesystem (a btrfs subvolume is destroyed as one). */
void ctl_remove_tree(const char *path);

#endif
