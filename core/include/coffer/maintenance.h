/* Repository maintenance: index compaction (quick) and garbage collection (full), run by
 * one owner at a time under a lease stored in the repository. Safe beside running
 * writers; the rules and why they are safe are in docs/FORMAT.md, "Maintenance". */
#ifndef COFFER_MAINTENANCE_H
#define COFFER_MAINTENANCE_H

#include <coffer/repo.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum coffer_maintenance_safety {
	COFFER_SAFETY_FULL = 0,  /* margins that protect writers hours slow (the default) */
	COFFER_SAFETY_NONE = 1   /* every margin zero: nobody else writes to the repository */
} coffer_maintenance_safety;

/* Margins, ns; COFFER_MAINTENANCE_DEFAULT takes the value of the safety level. */
#define COFFER_MAINTENANCE_DEFAULT (-1)

/* Defaults of COFFER_SAFETY_FULL (docs/FORMAT.md argues each). */
#define COFFER_MAINTENANCE_MIN_AGE_NS ((int64_t)4 * 3600 * 1000000000)
#define COFFER_MAINTENANCE_RUN_MARGIN_NS ((int64_t)1 * 3600 * 1000000000)
#define COFFER_MAINTENANCE_SESSION_EXPIRY_NS ((int64_t)48 * 3600 * 1000000000)
#define COFFER_MAINTENANCE_LEASE_NS ((int64_t)1 * 3600 * 1000000000)
/* Taking the lease on a backend without an atomic write-once: the bound B and the wait
 * (default 2 B) of the settle-and-verify step (docs/FORMAT.md, "Lease"). */
#define COFFER_MAINTENANCE_LEASE_SETTLE_NS ((int64_t)10 * 1000000000)
/* When the next run is due (info only). */
#define COFFER_MAINTENANCE_QUICK_INTERVAL_NS ((int64_t)1 * 3600 * 1000000000)
#define COFFER_MAINTENANCE_FULL_INTERVAL_NS ((int64_t)24 * 3600 * 1000000000)

typedef struct coffer_maintenance_options {
	unsigned int version;      /* COFFER_MAINTENANCE_OPTIONS_VERSION */
	int full;                  /* 0: quick (index compaction); 1: also garbage collection */
	coffer_maintenance_safety safety;
	int force_owner;           /* take the lease even when another owner holds it */
	/* Unreferenced chunks and packs younger than this are never touched. */
	int64_t min_age_ns;
	/* A pack is deleted only when its chunks were unreferenced in two full runs at least
	 * this far apart. */
	int64_t run_margin_ns;
	/* A session marker older than this (not rewritten) belongs to a dead writer. */
	int64_t session_expiry_ns;
	/* How long the lease holds without renewal. */
	int64_t lease_ns;
	/* Packs with at least this percentage of garbage bytes are repacked (0 = default 50,
	 * > 100 = never). */
	unsigned int repack_percent;
	const char *owner;         /* NULL: "<user>@<host>" */
	/* Version 2. Only on backends without COFFER_BACKEND_CAP_ATOMIC_CREATE: reading the
	 * lease and putting the next generation must take at most this long, else the run
	 * stops with COFFER_ETRANSIENT; the same at every safety level. */
	int64_t lease_settle_ns;
	/* Then the run waits this long (DEFAULT: twice lease_settle_ns) and reads the lease
	 * back; another run's id there means it lost (COFFER_EEXISTS). */
	int64_t lease_settle_wait_ns;
} coffer_maintenance_options;
#define COFFER_MAINTENANCE_OPTIONS_VERSION 2u
#define COFFER_MAINTENANCE_OPTIONS_INIT                                                            \
	{ COFFER_MAINTENANCE_OPTIONS_VERSION, 0, COFFER_SAFETY_FULL, 0, COFFER_MAINTENANCE_DEFAULT,  \
	  COFFER_MAINTENANCE_DEFAULT, COFFER_MAINTENANCE_DEFAULT, COFFER_MAINTENANCE_DEFAULT, 0, NULL, \
	  COFFER_MAINTENANCE_DEFAULT, COFFER_MAINTENANCE_DEFAULT }

typedef struct coffer_maintenance_result {
	int full;
	uint64_t index_blobs_before, index_blobs_after;
	uint64_t snapshots;              /* manifests marked from (full) */
	uint64_t chunks_live, chunks_tombstoned, chunks_undeleted;
	uint64_t packs_total, packs_deleted, packs_repacked, packs_candidates;
	uint64_t packs_deferred;         /* deletable but held back by a margin or a session */
	uint64_t sessions_live, sessions_expired;
	uint64_t bytes_reclaimed;        /* stored bytes of the packs deleted */
	uint64_t bytes_reclaimable;      /* stored bytes of unreferenced chunks left */
	int64_t start_ns, end_ns;        /* the repository's clock */
} coffer_maintenance_result;

/* Runs maintenance. COFFER_EEXISTS (message naming the owner and the lease's expiry) when
 * another live owner holds the lease, or when another run took it at the same moment;
 * COFFER_ETRANSIENT when taking it was too slow to be safe (see lease_settle_ns). */
int coffer_maintenance_run(coffer_repo *repo, const coffer_maintenance_options *opts,
                           coffer_maintenance_result *out);

typedef struct coffer_maintenance_info {
	int has_lease;
	char owner[256];                 /* "user@host" of the lease holder */
	char instance[33];               /* random id of the run that took it */
	int running;                     /* the holder was in a run when it last renewed */
	int64_t lease_expiry_ns;         /* the repository's clock */
	int64_t last_quick_ns, last_full_ns;   /* 0: never */
	int64_t next_quick_ns, next_full_ns;
	uint64_t last_bytes_reclaimed;
	uint64_t bytes_reclaimable;      /* as found by the last full run */
	uint64_t candidates;             /* packs waiting for their second run */
	int64_t now_ns;                  /* the repository's clock when asked (0: unknown) */
} coffer_maintenance_info;

/* Reads the lease and the maintenance state. Writes nothing. */
int coffer_maintenance_info_get(coffer_repo *repo, coffer_maintenance_info *out);

/* The time of the last maintenance run of any kind (0 when none), ns since the epoch. */
int coffer_maintenance_last_run(coffer_repo *repo, int64_t *out_ns);

/* Space use for `repository status`. */
typedef struct coffer_repo_usage {
	uint64_t snapshots;
	uint64_t logical_bytes;     /* sum of the file bytes of every snapshot */
	uint64_t unique_raw_bytes;  /* distinct chunks, plaintext */
	uint64_t stored_bytes;      /* distinct chunks, compressed and sealed */
	uint64_t pack_count, pack_bytes, index_blob_count;
	double dedup_ratio;         /* logical / unique raw (0 when empty) */
	double compression_ratio;   /* unique raw / stored (0 when empty) */
} coffer_repo_usage;

int coffer_repo_usage_get(coffer_repo *repo, coffer_repo_usage *out);

#ifdef __cplusplus
}
#endif
#endif
