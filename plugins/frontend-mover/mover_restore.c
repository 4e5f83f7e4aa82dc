/* `coffer mover restore`: choose a snapshot of the identity (as-of, shallow, previous) and
 * restore it into DATA_DIR; with none eligible, say so and leave DATA_DIR untouched. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mover.h"

/* When the identity has no snapshot at all, the sources that do help find a typo. */
static void log_available_identities(coffer_repo *repo)
{
	coffer_snapshot_info *snaps = NULL;
	size_t n = 0;
	if (coffer_snapshot_list_ex(repo, NULL, mover_engine_event, NULL, &snaps, &n) != 0 || n == 0) {
		coffer_snapshot_info_free_array(snaps, n);
		return;
	}
	mover_log("INFO", "Available identities in the repository:");
	for (size_t i = 0; i < n; i++) {
		size_t count = 0;
		int seen = 0;
		for (size_t k = 0; k < n; k++) {
			seen |= k < i && strcmp(snaps[k].source, snaps[i].source) == 0;
			count += strcmp(snaps[k].source, snaps[i].source) == 0;
		}
		if (!seen)
			mover_log("INFO", "  %s (%zu snapshots)", snaps[i].source, count);
	}
	coffer_snapshot_info_free_array(snaps, n);
}

static int no_snapshot(mover_result *r, const char *why)
{
	mover_log("INFO", "No eligible snapshots found: %s", why);
	mover_log("INFO", "=== No data will be restored ===");
	r->result = "no-snapshot";
	return 0;
}

static void describe_selection(const mover_env *e)
{
	char as_of[40] = "none";
	if (e->selection.as_of_ns)
		coffer_time_format_rfc3339(e->selection.as_of_ns, as_of);
	mover_log("INFO", "Selecting a snapshot of %s: restoreAsOf %s, shallow %u, previous %u", e->source, as_of,
	          e->selection.shallow, e->selection.previous);
}

/* The data must be on disk before the run reports success (VolSync runs `sync -f`). */
static int sync_data_dir(const char *dir, mover_result *r)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) != 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return mover_fail(r, COFFER_EXIT_FAILURE, "cannot flush DATA_DIR '%s' to disk: %s", dir, strerror(err));
	}
	close(fd);
	return 0;
}

/* COFFER_RESTORE_SINGLE_SOURCE: the repository's one identity; several are an error naming
 * them (the caller must say which), none leaves *source NULL. */
static int single_source(coffer_repo *repo, mover_result *r, char **source)
{
	coffer_snapshot_info *snaps = NULL;
	size_t n = 0;
	*source = NULL;
	int rc = coffer_snapshot_list(repo, NULL, &snaps, &n);
	if (rc)
		return mover_fail_core(r, rc, "listing the snapshots");
	char names[800] = "";
	size_t distinct = 0, used = 0;
	for (size_t i = 0; i < n; i++) {
		int seen = 0;
		for (size_t k = 0; k < i; k++)
			seen |= strcmp(snaps[k].source, snaps[i].source) == 0;
		if (seen)
			continue;
		if (distinct++ == 0)
			*source = strdup(snaps[i].source);
		if (used < sizeof(names))
			used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", used ? ", " : "", snaps[i].source);
	}
	coffer_snapshot_info_free_array(snaps, n);
	if (distinct > 1) {
		free(*source);
		*source = NULL;
		return mover_fail(r, COFFER_EXIT_FAILURE,
		                  "the repository holds snapshots of %zu sources (%s); name one (sourceIdentity, or "
		                  "KOPIA_OVERRIDE_USERNAME and KOPIA_OVERRIDE_HOSTNAME)",
		                  distinct, names);
	}
	if (distinct == 1 && !*source)
		return mover_fail(r, COFFER_EXIT_FAILURE, "out of memory");
	return 0;
}

int mover_restore(coffer_core *core, const mover_env *e_in, mover_result *r)
{
	mover_env copy = *e_in;
	const mover_env *e = &copy;
	char *only = NULL;
	coffer_repo *repo = NULL;
	int status = mover_open_repo(core, e, 0, r, &repo);
	if (status)
		return status;
	if (!repo)
		return no_snapshot(r, "there is no repository at the URL yet (nothing was backed up there)");
	if (e->single_source) {
		if ((status = single_source(repo, r, &only)) != 0 || !only) {
			free(only);
			coffer_repo_close(repo);
			return status ? status : no_snapshot(r, "the repository holds no snapshots");
		}
		snprintf(r->source_buf, sizeof(r->source_buf), "%s", only);
		free(only);
		mover_log("INFO", "The repository holds snapshots of one source, %s: restoring from it", r->source_buf);
		copy.source = r->source_buf;
		copy.selection.source = r->source_buf;
		r->source = r->source_buf;
	}
	describe_selection(e);
	coffer_snapshot_info chosen;
	memset(&chosen, 0, sizeof(chosen));
	int rc = coffer_snapshot_select(repo, &e->selection, &chosen);
	if (rc == COFFER_ENOTFOUND) {
		char why[1024];
		snprintf(why, sizeof(why), "%s", coffer_error_last()->message);
		coffer_snapshot_info *mine = NULL;
		size_t n = 0;
		if (coffer_snapshot_list(repo, e->source, &mine, &n) == 0 && n == 0)
			log_available_identities(repo);
		coffer_snapshot_info_free_array(mine, n);
		coffer_repo_close(repo);
		return no_snapshot(r, why);
	}
	if (rc) {
		status = mover_fail_core(r, rc, "selecting the snapshot");
		coffer_repo_close(repo);
		return status;
	}
	char t[40];
	coffer_time_format_rfc3339(chosen.start_time_ns, t);
	mover_log("INFO", "Selected snapshot %s of %s, taken %s", chosen.id, chosen.source, t);
	snprintf(r->snapshot_id, sizeof(r->snapshot_id), "%s", chosen.id);
	if (e->file_deletion)
		mover_log("INFO", "KOPIA_ENABLE_FILE_DELETION: entries of %s that the snapshot lacks are deleted "
		                  "(lost+found is kept)",
		          e->data_dir);

	coffer_restore_options ro = { .version = COFFER_RESTORE_OPTIONS_VERSION };
	ro.dest = e->data_dir;
	ro.delete_extra = e->file_deletion;
	ro.parallelism = e->parallelism;
	ro.on_event = mover_engine_event;
	coffer_restore_stats st;
	memset(&st, 0, sizeof(st));
	rc = coffer_restore(repo, chosen.id, &ro, &st);
	if (rc) {
		status = mover_fail_core(r, rc, "restore");
	} else if ((status = sync_data_dir(e->data_dir, r)) == 0) {
		r->bytes = st.bytes;
		r->files = st.files;
		mover_log("INFO",
		          "Snapshot restore completed: %s into %s: %llu files, %llu dirs, %llu symlinks, %llu bytes, "
		          "%llu extra entries deleted",
		          chosen.id, e->data_dir, (unsigned long long)st.files, (unsigned long long)st.dirs,
		          (unsigned long long)st.symlinks, (unsigned long long)st.bytes, (unsigned long long)st.deleted);
	}
	coffer_snapshot_info_clear(&chosen);
	coffer_repo_close(repo);
	return status;
}
