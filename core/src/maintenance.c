/* Maintenance runs: the lease that makes one owner run at a time, the state blob that
 * remembers runs and garbage candidates, `maintenance info`, and the space report for
 * `repository status`. The collection itself is in maintenance_gc.c. */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <coffer/snapshot.h>

#include "maintenance_private.h"

/* ------------------------------------------------------------------ state blob */

/* Missing state: never run. */
static int state_load(coffer_repo *repo, coffer_maint_state *out)
{
	memset(out, 0, sizeof(*out));
	coffer_buf plain = COFFER_BUF_INIT;
	int rc = coffer_store_get_sealed(repo, COFFER_MAINT_STATE_BLOB, &plain);
	if (rc == COFFER_ENOTFOUND) {
		coffer_buf_free(&plain);
		coffer_error_clear();
		return 0;
	}
	if (rc == 0)
		rc = coffer_maint_state_parse(plain.data, plain.len, out);
	coffer_buf_free(&plain);
	if (rc)
		coffer_error_wrap("reading %s in %s", COFFER_MAINT_STATE_BLOB, repo->url);
	return rc;
}

static int state_save(coffer_repo *repo, const coffer_maint_state *s)
{
	coffer_buf plain = COFFER_BUF_INIT;
	int rc = coffer_maint_state_encode(s, &plain);
	if (rc == 0)
		rc = coffer_store_put_sealed(repo, COFFER_MAINT_STATE_BLOB, plain.data, plain.len,
		                             COFFER_PUT_OVERWRITE);
	coffer_buf_free(&plain);
	if (rc)
		coffer_error_wrap("storing %s in %s", COFFER_MAINT_STATE_BLOB, repo->url);
	return rc;
}

/* ------------------------------------------------------------------ lease blob */

static int64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec left = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };
	while (nanosleep(&left, &left) != 0 && errno == EINTR)
		;
}

typedef struct lease_listing {
	uint64_t max_generation;
	int found;
	int64_t mtime_ns;
	char **names;
	size_t count, cap;
} lease_listing;

static int parse_generation(const char *name, uint64_t *out)
{
	const char *p = name + strlen(COFFER_MAINT_LEASE_PREFIX);
	if (strlen(p) != 16)
		return -1;
	uint64_t g = 0;
	for (int i = 0; i < 16; i++) {
		char c = p[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		g = g << 4 | (uint64_t)v;
	}
	*out = g;
	return 0;
}

static int list_lease(const coffer_blob_info *info, void *ud)
{
	lease_listing *l = ud;
	uint64_t g;
	if (parse_generation(info->name, &g) != 0)
		return 0;
	if (l->count == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		char **names = coffer_realloc(l->names, cap * sizeof(char *));
		if (!names)
			return COFFER_ENOMEM;
		l->names = names;
		l->cap = cap;
	}
	if (!(l->names[l->count] = coffer_strdup(info->name)))
		return COFFER_ENOMEM;
	l->count++;
	if (!l->found || g > l->max_generation) {
		l->found = 1;
		l->max_generation = g;
		l->mtime_ns = info->mtime_ns;
	}
	return 0;
}

static void lease_listing_clear(lease_listing *l)
{
	for (size_t i = 0; i < l->count; i++)
		coffer_free(l->names[i]);
	coffer_free(l->names);
	memset(l, 0, sizeof(*l));
}

static void lease_name(char *out, size_t cap, uint64_t generation)
{
	snprintf(out, cap, "%s%016llx", COFFER_MAINT_LEASE_PREFIX, (unsigned long long)generation);
}

/* The current lease (the highest generation), if any. */
static int lease_read(coffer_repo *repo, lease_listing *listing, coffer_maint_lease *lease)
{
	memset(listing, 0, sizeof(*listing));
	int rc = coffer_backend_list(repo->backend, COFFER_MAINT_LEASE_PREFIX, list_lease, listing);
	if (rc || !listing->found)
		return rc;
	char name[128];
	lease_name(name, sizeof(name), listing->max_generation);
	coffer_buf plain = COFFER_BUF_INIT;
	rc = coffer_store_get_sealed(repo, name, &plain);
	if (rc == 0)
		rc = coffer_maint_lease_parse(plain.data, plain.len, lease);
	coffer_buf_free(&plain);
	if (rc)
		coffer_error_wrap("reading the maintenance lease %s in %s", name, repo->url);
	return rc;
}

/* Puts this run's lease generation; *put_done_ns (if not NULL) is the monotonic time the
 * put returned, before the stat that moves run->now_ns to the blob's mtime. */
static int lease_put(coffer_maint_run *run, unsigned int flags, int64_t *put_done_ns)
{
	char name[128];
	lease_name(name, sizeof(name), run->lease_generation);
	coffer_buf plain = COFFER_BUF_INIT;
	int rc = coffer_maint_lease_encode(&run->lease, &plain);
	if (rc == 0)
		rc = coffer_store_put_sealed(run->repo, name, plain.data, plain.len, flags);
	coffer_buf_free(&plain);
	if (put_done_ns)
		*put_done_ns = monotonic_ns();
	coffer_blob_info info;
	if (rc == 0 && (rc = coffer_backend_stat(run->repo->backend, name, &info)) == 0)
		run->now_ns = info.mtime_ns;
	return rc;
}

typedef enum lease_holder {
	LEASE_OURS,       /* the highest generation is this run's, with its instance */
	LEASE_REPLACED,   /* our generation holds another run's instance, or vanished */
	LEASE_TAKEN_OVER  /* a higher generation exists */
} lease_holder;

/* Who holds the lease now; owner receives the user@host in our generation or a higher
 * one, else "" (vanished). */
static int lease_holder_get(coffer_maint_run *run, lease_holder *out, char owner[256])
{
	lease_listing listing;
	coffer_maint_lease current;
	int rc = lease_read(run->repo, &listing, &current);
	owner[0] = 0;
	if (rc == 0) {
		if (listing.found && listing.max_generation >= run->lease_generation)
			snprintf(owner, sizeof(current.owner), "%s", current.owner);
		if (listing.found && listing.max_generation > run->lease_generation)
			*out = LEASE_TAKEN_OVER;
		else if (!listing.found || listing.max_generation < run->lease_generation ||
		         memcmp(current.instance, run->lease.instance, 16) != 0)
			*out = LEASE_REPLACED;
		else
			*out = LEASE_OURS;
	}
	lease_listing_clear(&listing);
	return rc;
}

static int lease_lost_race(coffer_maint_run *run)
{
	return coffer_error_set(COFFER_EEXISTS, "another maintenance run of %s took the lease at the same moment",
	                        run->repo->url);
}

int coffer_maint_lease_renew(coffer_maint_run *run, int running)
{
	lease_holder holder;
	char owner[256];
	int rc = lease_holder_get(run, &holder, owner);
	if (rc == 0 && holder != LEASE_OURS)
		rc = coffer_error_set(COFFER_EEXISTS, "the maintenance lease of %s was taken over by %s; this run stops",
		                      run->repo->url, owner[0] ? owner : "nobody (it vanished)");
	if (rc)
		return rc;
	run->lease.running = running;
	if ((rc = lease_put(run, COFFER_PUT_OVERWRITE, NULL)) != 0)
		coffer_error_wrap("renewing the maintenance lease of %s", run->repo->url);
	return rc;
}

/* "user@host" of this process. */
static void default_owner(char *out, size_t cap)
{
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "unknown-host");
	const char *user = getenv("USER");
	struct passwd pw, *found = NULL;
	char buf[1024];
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &found) == 0 && found)
		user = found->pw_name;
	snprintf(out, cap, "%s@%s", user && user[0] ? user : "unknown", host);
}

/* The repository's clock without a lease: the mtime of a blob written now. */
static int repository_now(coffer_repo *repo, int64_t *out)
{
	int rc = coffer_backend_put(repo->backend, COFFER_MAINT_CLOCK_BLOB, "clock", 5, COFFER_PUT_OVERWRITE);
	coffer_blob_info info;
	if (rc == 0 && (rc = coffer_backend_stat(repo->backend, COFFER_MAINT_CLOCK_BLOB, &info)) == 0)
		*out = info.mtime_ns;
	return rc;
}

/* Gives up a lease put too slowly: removes our generation while it still holds our
 * instance, so a transient failure does not lock maintenance out for a lease duration. */
static void lease_abandon(coffer_maint_run *run)
{
	lease_holder holder;
	char owner[256], name[128];
	coffer_error saved = *coffer_error_last();
	lease_name(name, sizeof(name), run->lease_generation);
	if (lease_holder_get(run, &holder, owner) == 0 && holder == LEASE_OURS)
		coffer_backend_remove(run->repo->backend, name);
	coffer_error_set(saved.code, "%s", saved.message);
}

/* Without an atomic write-once two runs may both have put the same generation; the last
 * put wins. docs/FORMAT.md, "Taking the lease without atomic create", argues why
 * bound, wait and read-back suffice. */
static int lease_settle(coffer_maint_run *run, int64_t read_start_ns, int64_t put_done_ns)
{
	int64_t took = put_done_ns - read_start_ns;
	if (took > run->opts.lease_settle_ns) {
		coffer_error_set(COFFER_ETRANSIENT,
		                 "taking the maintenance lease of %s took %.1f s, longer than the %.1f s bound that "
		                 "makes it safe on a backend without atomic create; retry",
		                 run->repo->url, (double)took / 1e9, (double)run->opts.lease_settle_ns / 1e9);
		lease_abandon(run);
		return COFFER_ETRANSIENT;
	}
	sleep_ns(run->opts.lease_settle_wait_ns);
	lease_holder holder;
	char owner[256];
	int rc = lease_holder_get(run, &holder, owner);
	if (rc == 0 && holder == LEASE_REPLACED)
		rc = lease_lost_race(run);
	else if (rc == 0 && holder == LEASE_TAKEN_OVER)
		rc = coffer_error_set(COFFER_EEXISTS,
		                      "the maintenance lease of %s was taken over by %s while this run waited for "
		                      "it to settle; this run stops",
		                      run->repo->url, owner);
	return rc;
}

static int lease_acquire(coffer_maint_run *run)
{
	coffer_repo *repo = run->repo;
	lease_listing listing;
	coffer_maint_lease current;
	int64_t now = 0;
	int64_t read_start_ns = monotonic_ns(), put_done_ns = 0;
	int rc = lease_read(repo, &listing, &current);
	if (rc == 0)
		rc = repository_now(repo, &now);
	if (rc) {
		lease_listing_clear(&listing);
		return rc;
	}
	if (listing.found && !run->opts.force_owner) {
		int64_t expiry = listing.mtime_ns + current.duration_ns;
		int other_owner = strcmp(current.owner, run->lease.owner) != 0;
		if (expiry > now && (other_owner || current.running)) {
			char when[40];
			coffer_time_format_rfc3339(expiry, when);
			lease_listing_clear(&listing);
			return coffer_error_set(COFFER_EEXISTS,
			                        "maintenance of %s is owned by %s%s until %s; wait for the lease to "
			                        "expire or take it over with --force-owner",
			                        repo->url, current.owner, current.running ? " (a run is in progress)" : "",
			                        when);
		}
	}
	/* Write-once: of two runs that take over at the same moment only one wins, at once
	 * where the backend creates atomically, else after the settle step. */
	run->lease_generation = listing.found ? listing.max_generation + 1 : 1;
	run->lease.running = 1;
	rc = lease_put(run, 0, &put_done_ns);
	if (rc == COFFER_EEXISTS)
		rc = lease_lost_race(run);
	if (rc == 0 && !(coffer_backend_caps(repo->backend) & COFFER_BACKEND_CAP_ATOMIC_CREATE))
		rc = lease_settle(run, read_start_ns, put_done_ns);
	/* Older generations are history; a failure to remove them costs nothing. */
	for (size_t i = 0; i < listing.count && rc == 0; i++) {
		uint64_t g;
		if (parse_generation(listing.names[i], &g) == 0 && g < run->lease_generation &&
		    coffer_backend_remove(repo->backend, listing.names[i]) != 0)
			coffer_error_clear();
	}
	lease_listing_clear(&listing);
	return rc;
}

/* ------------------------------------------------------------------ run */

static void resolve_margin(int64_t *value, int64_t full_default, coffer_maintenance_safety safety)
{
	if (*value < 0)
		*value = safety == COFFER_SAFETY_NONE ? 0 : full_default;
}

int coffer_maintenance_run(coffer_repo *repo, const coffer_maintenance_options *opts,
                           coffer_maintenance_result *out)
{
	memset(out, 0, sizeof(*out));
	if (!opts || opts->version == 0 || opts->version > COFFER_MAINTENANCE_OPTIONS_VERSION)
		return coffer_error_set(COFFER_EINVALID, "maintenance: options version %u is not supported",
		                        opts ? opts->version : 0);
	if (opts->safety != COFFER_SAFETY_FULL && opts->safety != COFFER_SAFETY_NONE)
		return coffer_error_set(COFFER_EINVALID, "maintenance: unknown safety level %d", (int)opts->safety);
	coffer_maint_run run;
	memset(&run, 0, sizeof(run));
	run.repo = repo;
	/* A version 1 caller's struct ends before the settle fields: those keep their defaults. */
	coffer_maintenance_options defaults = COFFER_MAINTENANCE_OPTIONS_INIT;
	run.opts = defaults;
	memcpy(&run.opts, opts,
	       opts->version >= 2 ? sizeof(*opts) : offsetof(coffer_maintenance_options, lease_settle_ns));
	run.result = out;
	resolve_margin(&run.opts.min_age_ns, COFFER_MAINTENANCE_MIN_AGE_NS, opts->safety);
	resolve_margin(&run.opts.run_margin_ns, COFFER_MAINTENANCE_RUN_MARGIN_NS, opts->safety);
	resolve_margin(&run.opts.session_expiry_ns, COFFER_MAINTENANCE_SESSION_EXPIRY_NS, opts->safety);
	/* The lease is the one margin "none" keeps: it guards against a second run, not a writer. */
	if (run.opts.lease_ns < 0)
		run.opts.lease_ns = COFFER_MAINTENANCE_LEASE_NS;
	if (run.opts.lease_settle_ns < 0)
		run.opts.lease_settle_ns = COFFER_MAINTENANCE_LEASE_SETTLE_NS;
	if (run.opts.lease_settle_wait_ns < 0)
		run.opts.lease_settle_wait_ns = 2 * run.opts.lease_settle_ns;
	if (run.opts.repack_percent == 0)
		run.opts.repack_percent = 50;
	if (opts->owner && opts->owner[0])
		snprintf(run.lease.owner, sizeof(run.lease.owner), "%s", opts->owner);
	else
		default_owner(run.lease.owner, sizeof(run.lease.owner));
	run.lease.duration_ns = run.opts.lease_ns;
	int rc = coffer_crypto_random(run.lease.instance, sizeof(run.lease.instance));
	if (rc == 0)
		rc = lease_acquire(&run);
	if (rc)
		return rc;
	out->full = opts->full ? 1 : 0;
	out->start_ns = run.now_ns;
	if ((rc = state_load(repo, &run.state)) == 0 && (rc = coffer_store_refresh(repo)) == 0)
		rc = coffer_maint_collect(&run);
	if (rc == 0)
		rc = coffer_maint_lease_renew(&run, 1);
	if (rc == 0) {
		run.state.last_quick_ns = run.now_ns;
		if (opts->full) {
			run.state.last_full_ns = run.now_ns;
			run.state.last_bytes_reclaimed = out->bytes_reclaimed;
			run.state.bytes_reclaimable = out->bytes_reclaimable;
		}
		rc = state_save(repo, &run.state);
	}
	out->end_ns = run.now_ns;
	/* Keep ownership, not the run: the same owner may run again at once, others wait. */
	if (rc == 0)
		rc = coffer_maint_lease_renew(&run, 0);
	coffer_maint_state_clear(&run.state);
	return rc;
}

/* ------------------------------------------------------------------ info */

int coffer_maintenance_info_get(coffer_repo *repo, coffer_maintenance_info *out)
{
	memset(out, 0, sizeof(*out));
	lease_listing listing;
	coffer_maint_lease lease;
	int rc = lease_read(repo, &listing, &lease);
	if (rc == 0 && listing.found) {
		out->has_lease = 1;
		snprintf(out->owner, sizeof(out->owner), "%s", lease.owner);
		coffer_crypto_hex_encode(out->instance, lease.instance, sizeof(lease.instance));
		out->running = lease.running;
		out->lease_expiry_ns = listing.mtime_ns + lease.duration_ns;
	}
	lease_listing_clear(&listing);
	if (rc)
		return rc;
	coffer_maint_state state;
	if ((rc = state_load(repo, &state)) != 0)
		return rc;
	out->last_quick_ns = state.last_quick_ns;
	out->last_full_ns = state.last_full_ns;
	out->last_bytes_reclaimed = state.last_bytes_reclaimed;
	out->bytes_reclaimable = state.bytes_reclaimable;
	out->candidates = state.candidate_count;
	out->next_quick_ns = state.last_quick_ns ? state.last_quick_ns + COFFER_MAINTENANCE_QUICK_INTERVAL_NS : 0;
	out->next_full_ns = state.last_full_ns ? state.last_full_ns + COFFER_MAINTENANCE_FULL_INTERVAL_NS : 0;
	coffer_maint_state_clear(&state);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	out->now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return 0;
}

int coffer_maintenance_last_run(coffer_repo *repo, int64_t *out_ns)
{
	*out_ns = 0;
	coffer_maint_state state;
	int rc = state_load(repo, &state);
	if (rc)
		return rc;
	*out_ns = state.last_quick_ns > state.last_full_ns ? state.last_quick_ns : state.last_full_ns;
	coffer_maint_state_clear(&state);
	return 0;
}

/* ------------------------------------------------------------------ usage */

int coffer_repo_usage_get(coffer_repo *repo, coffer_repo_usage *out)
{
	memset(out, 0, sizeof(*out));
	coffer_repo_status *status = coffer_malloc(sizeof(*status));
	if (!status)
		return COFFER_ENOMEM;
	int rc = coffer_repo_status_get(repo, status);
	if (rc == 0) {
		out->unique_raw_bytes = status->content_raw_bytes;
		out->stored_bytes = status->content_stored_bytes;
		out->pack_count = status->pack_count;
		out->pack_bytes = status->pack_bytes;
		out->index_blob_count = status->index_blob_count;
	}
	coffer_free(status);
	if (rc)
		return rc;
	coffer_snapshot_info *infos = NULL;
	size_t n = 0;
	if ((rc = coffer_snapshot_list(repo, NULL, &infos, &n)) != 0)
		return rc;
	out->snapshots = n;
	for (size_t i = 0; i < n; i++)
		out->logical_bytes += infos[i].stats.bytes;
	coffer_snapshot_info_free_array(infos, n);
	if (out->unique_raw_bytes)
		out->dedup_ratio = (double)out->logical_bytes / (double)out->unique_raw_bytes;
	if (out->stored_bytes)
		out->compression_ratio = (double)out->unique_raw_bytes / (double)out->stored_bytes;
	return 0;
}
