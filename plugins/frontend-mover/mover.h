/* The VolSync-style mover front-end: one backup or restore configured by environment
 * variables (docs/mover.md). */
#ifndef COFFER_MOVER_H
#define COFFER_MOVER_H

#include <stdint.h>
#include <time.h>

#include <coffer/coffer.h>
#include <coffer/retention.h>

/* Identity used when KOPIA_OVERRIDE_USERNAME / KOPIA_OVERRIDE_HOSTNAME are unset: VolSync's
 * fallback name and Kubernetes' default namespace; the path is always /data by default. */
#define MOVER_DEFAULT_USERNAME "volsync-default"
#define MOVER_DEFAULT_HOSTNAME "default"
#define MOVER_DEFAULT_PATH "/data"
#define MOVER_DEFAULT_MAINTENANCE_DAYS 7u

/* Everything the environment says, checked before anything is done. */
typedef struct mover_env {
	const char *repository;   /* KOPIA_REPOSITORY */
	char *repository_shown;   /* scheme://host/path, without the query (may hold a SAS) */
	const char *password;     /* KOPIA_PASSWORD */
	const char *data_dir;     /* DATA_DIR */
	const char *cache_dir;    /* KOPIA_CACHE_DIR or NULL */
	uint64_t cache_capacity;  /* bytes, 0 = the core's default */
	const char *ca_file;      /* CUSTOM_CA or NULL */
	char *source;             /* user@host:/path */
	const char *compression;  /* KOPIA_COMPRESSION or NULL */
	unsigned int parallelism; /* KOPIA_PARALLELISM, 0 = number of cores */
	coffer_retention_policy retain;
	int retain_any;           /* some KOPIA_RETAIN_* is above 0 */
	const char *before, *after;
	unsigned int maintenance_days;
	coffer_selection selection;
	int file_deletion;        /* KOPIA_ENABLE_FILE_DELETION */
	int single_source;        /* COFFER_RESTORE_SINGLE_SOURCE: restore the repository's only identity */
} mover_env;

/* What the last JSON line reports. */
typedef struct mover_result {
	const char *operation;    /* "backup", "restore" or NULL */
	const char *result;       /* "success", "failure", "skipped", "no-snapshot" */
	const char *source;
	char source_buf[600];     /* the source found with COFFER_RESTORE_SINGLE_SOURCE */
	char snapshot_id[72];
	uint64_t bytes, files;
	int repository_created;
	int64_t last_maintenance_ns; /* the repository's last maintenance run, 0: none/unknown */
	char error[1024];
	struct timespec start;
} mover_result;

/* "INFO", "WARNING" or "ERROR" lines on stderr. */
void mover_log(const char *level, const char *fmt, ...) COFFER_PRINTF(2, 3);
/* Logs the error, records it for the JSON line and returns exit_code. */
int mover_fail(mover_result *r, int exit_code, const char *fmt, ...) COFFER_PRINTF(3, 4);
/* As mover_fail for a core error rc with the last error's message after `context`. */
int mover_fail_core(mover_result *r, int rc, const char *context);
/* Warnings from the engine (files that changed, vanished, could not be read). */
void mover_engine_event(const coffer_event *ev, void *ud);

/* Reads and checks the environment; on a bad value returns COFFER_EXIT_USAGE (the error
 * names the variable and its value) and nothing was done. */
int mover_env_load(coffer_core *core, mover_env *env, mover_result *r);
void mover_env_clear(mover_env *env);
/* Repository options from the environment (cache, CA, parallelism; compression for create). */
void mover_repo_options(const mover_env *env, coffer_repo_options *opts);

/* Opens the repository; with create, makes one when the backend says none is there (never
 * after a wrong password or an unreachable backend). Without create a missing repository
 * gives 0 and *out NULL. Returns an exit code. */
int mover_open_repo(coffer_core *core, const mover_env *env, int create, mover_result *r, coffer_repo **out);

int mover_backup(coffer_core *core, const mover_env *env, mover_result *r);
int mover_restore(coffer_core *core, const mover_env *env, mover_result *r);

#endif
