/* Retention: which snapshots a keep-policy keeps and which it expires (docs/retention.md). */
#ifndef COFFER_RETENTION_H
#define COFFER_RETENTION_H

#include <coffer/snapshot.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How many snapshots each rule keeps; 0 turns the rule off. At least one must be set. */
typedef struct coffer_retention_policy {
	unsigned int version;    /* COFFER_RETENTION_POLICY_VERSION */
	unsigned int keep_latest, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
} coffer_retention_policy;
#define COFFER_RETENTION_POLICY_VERSION 1u

typedef enum coffer_retention_rule {
	COFFER_RETAIN_LATEST = 1,           /* "latest #2" */
	COFFER_RETAIN_HOURLY = 2,           /* "hourly 2026-11-25T14" */
	COFFER_RETAIN_DAILY = 3,            /* "daily 2026-11-25" */
	COFFER_RETAIN_WEEKLY = 4,           /* "weekly 2026-W48" (ISO 8601 week) */
	COFFER_RETAIN_MONTHLY = 5,          /* "monthly 2026-11" */
	COFFER_RETAIN_YEARLY = 6,           /* "yearly 2026" */
	COFFER_RETAIN_PINNED = 7,           /* "pinned" */
	COFFER_RETAIN_NEWEST_COMPLETE = 8,  /* "newest complete snapshot" */
	COFFER_RETAIN_NEWEST_INCOMPLETE = 9,/* "newest snapshot (incomplete)" */
	COFFER_EXPIRE_NO_RULE = 10,         /* "no rule keeps it" */
	COFFER_EXPIRE_INCOMPLETE = 11       /* "incomplete: rules count only complete snapshots" */
} coffer_retention_rule;

typedef struct coffer_retention_reason {
	coffer_retention_rule rule;
	char text[64];
} coffer_retention_reason;

#define COFFER_RETENTION_MAX_REASONS 9

/* keep is 1 or 0; reasons lists every reason it is kept, or the one reason it goes. */
typedef struct coffer_retention_decision {
	int keep;
	size_t reason_count;
	coffer_retention_reason reasons[COFFER_RETENTION_MAX_REASONS];
} coffer_retention_decision;

/* Decides for each of the n snapshots (any order, any mix of sources; each source is planned
 * on its own) and writes the decision for snaps[i] to out[i]. Pure: reads no repository.
 * COFFER_EINVALID when the policy keeps nothing or has a wrong version. */
int coffer_retention_plan(const coffer_snapshot_info *snaps, size_t n, const coffer_retention_policy *policy,
                          coffer_retention_decision *out);

#ifdef __cplusplus
}
#endif
#endif
