/* Maintenance internals shared by maintenance.c (lease, state, run) and
 * maintenance_gc.c (index compaction and garbage collection). Blob layouts are in
 * docs/FORMAT.md, "Maintenance". */
#ifndef COFFER_MAINTENANCE_PRIVATE_H
#define COFFER_MAINTENANCE_PRIVATE_H

#include <coffer/maintenance.h>

#include "store_private.h"

#define COFFER_MAINT_STATE_BLOB "maintenance/state"
#define COFFER_MAINT_LEASE_PREFIX "maintenance/lease/"
#define COFFER_MAINT_CLOCK_BLOB "maintenance/clock"

/* A pack waiting for its second run: since `since_ns` (the repository's clock) none of
 * its chunks was referenced and the index showed them only as tombstones. */
typedef struct coffer_maint_candidate {
	char pack[COFFER_PACK_NAME_LENGTH + 1];
	int64_t since_ns;
} coffer_maint_candidate;

typedef struct coffer_maint_state {
	int64_t last_quick_ns, last_full_ns;
	uint64_t last_bytes_reclaimed, bytes_reclaimable;
	coffer_maint_candidate *candidates;   /* sorted by pack name */
	size_t candidate_count;
} coffer_maint_state;

void coffer_maint_state_clear(coffer_maint_state *s);
int coffer_maint_state_encode(const coffer_maint_state *s, coffer_buf *out);
/* Parses a decrypted state blob (fuzzed: tests/fuzz/fuzz-maintenance.c). */
int coffer_maint_state_parse(const uint8_t *data, size_t len, coffer_maint_state *out);
/* The candidate entry of pack, or NULL. */
const coffer_maint_candidate *coffer_maint_state_find(const coffer_maint_state *s, const char *pack);

typedef struct coffer_maint_lease {
	char owner[256];             /* user@host */
	uint8_t instance[16];        /* random per run */
	int running;
	int64_t duration_ns;         /* expiry = blob mtime + duration */
} coffer_maint_lease;

int coffer_maint_lease_encode(const coffer_maint_lease *l, coffer_buf *out);
int coffer_maint_lease_parse(const uint8_t *data, size_t len, coffer_maint_lease *out);

/* One maintenance run in progress: margins resolved, the lease held. */
typedef struct coffer_maint_run {
	coffer_repo *repo;
	coffer_maintenance_options opts;     /* margins resolved (no DEFAULT left) */
	coffer_maint_lease lease;
	uint64_t lease_generation;
	int64_t now_ns;                      /* the repository's clock at the last renewal */
	coffer_maint_state state;
	coffer_maintenance_result *result;
} coffer_maint_run;

/* Rewrites the lease (running or not) and returns the repository's clock in run->now_ns.
 * COFFER_EEXISTS when another run took the lease over: the caller stops at once. */
int coffer_maint_lease_renew(coffer_maint_run *run, int running);

/* Quick: merges every index blob into one. Full (run->opts.full): garbage collection as
 * well. Updates run->state and run->result. */
int coffer_maint_collect(coffer_maint_run *run);

#endif
