/* `coffer restore ID|latest DEST ...`: selection (VolSync semantics) and restore. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char restore_usage[] =
	"usage: coffer restore ID|latest DEST [--source user@host:/path] [--as-of RFC3339] [--previous N]\n"
	"                [--shallow N] [--delete-extra] [--no-owner] [--parallel N] [--json]\n"
	"plus the repository options: --repository URL, --password-file F, --cache-dir D, --ca-file PEM\n";

/* The single source in the repository, for `latest` without --source. */
static int only_source(coffer_repo *repo, char **out)
{
	*out = NULL;
	coffer_snapshot_info *snaps = NULL;
	size_t n = 0;
	int rc = coffer_snapshot_list(repo, NULL, &snaps, &n);
	if (rc)
		return cli_fail(rc);
	for (size_t i = 0; i < n; i++) {
		if (!*out) {
			*out = strdup(snaps[i].source);
		} else if (strcmp(*out, snaps[i].source) != 0) {
			fprintf(stderr, "coffer: the repository holds snapshots of several sources; choose one with --source:\n");
			for (size_t k = 0; k < n; k++) {
				int seen = 0;
				for (size_t m = 0; m < k; m++)
					seen |= strcmp(snaps[m].source, snaps[k].source) == 0;
				if (!seen)
					fprintf(stderr, "  %s\n", snaps[k].source);
			}
			free(*out);
			*out = NULL;
			coffer_snapshot_info_free_array(snaps, n);
			return COFFER_EXIT_USAGE;
		}
	}
	coffer_snapshot_info_free_array(snaps, n);
	return 0;
}

int cli_restore(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	const char *source = NULL, *as_of = NULL, *previous = NULL, *shallow = NULL;
	int delete_extra = 0, no_owner = 0;
	cli_option opts[] = { CLI_REPO_OPTIONS(&a),
		              { "--source", &source, NULL, NULL, NULL },
		              { "--as-of", &as_of, NULL, NULL, NULL },
		              { "--previous", &previous, NULL, NULL, NULL },
		              { "--shallow", &shallow, NULL, NULL, NULL },
		              { "--delete-extra", NULL, &delete_extra, NULL, NULL },
		              { "--no-owner", NULL, &no_owner, NULL, NULL },
		              { NULL, NULL, NULL, NULL, NULL } };
	char *pos[2];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 2, restore_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (npos != 2) {
		fprintf(stderr, "coffer: restore needs a snapshot (ID or latest) and a destination\n%s", restore_usage);
		return COFFER_EXIT_USAGE;
	}
	const char *id = pos[0], *dest = pos[1];
	int selecting = strcmp(id, "latest") == 0;
	if (!selecting && (as_of || previous || shallow || source)) {
		fprintf(stderr, "coffer: --source, --as-of, --previous and --shallow select a snapshot; use them with 'latest', not an id\n");
		return COFFER_EXIT_USAGE;
	}
	coffer_selection sel = { 0 };
	unsigned long long v;
	if (previous) {
		if (cli_uint("--previous", previous, 1u << 30, &v))
			return COFFER_EXIT_USAGE;
		sel.previous = (unsigned)v;
	}
	if (shallow) {
		if (cli_uint("--shallow", shallow, 1u << 30, &v))
			return COFFER_EXIT_USAGE;
		sel.shallow = (unsigned)v;
	}
	if (as_of && (rc = coffer_time_parse_rfc3339(as_of, &sel.as_of_ns)) != 0)
		return cli_fail(rc);

	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	coffer_snapshot_info chosen = { 0 };
	char *found_source = NULL;
	int status = 0;
	if (selecting) {
		if (!source) {
			if ((status = only_source(repo, &found_source)) != 0)
				goto out;
			source = found_source;
		}
		if (!source) {
			printf("no eligible snapshot: the repository holds no snapshots; nothing restored\n");
			goto out;
		}
		sel.source = source;
		rc = coffer_snapshot_select(repo, &sel, &chosen);
		if (rc == COFFER_ENOTFOUND) {
			/* VolSync semantics: nothing eligible is not a failure, and DEST stays as it is. */
			printf("%s; nothing restored\n", coffer_error_last()->message);
			goto out;
		}
	} else {
		rc = coffer_snapshot_find(repo, id, &chosen);
	}
	if (rc) {
		status = cli_fail(rc);
		goto out;
	}
	coffer_restore_options ro = { .version = COFFER_RESTORE_OPTIONS_VERSION };
	ro.dest = dest;
	ro.delete_extra = delete_extra;
	ro.no_owner = no_owner;
	ro.on_event = cli_progress_event;
	if (a.parallel && cli_uint("--parallel", a.parallel, 1024, &v) == 0)
		ro.parallelism = (unsigned)v;
	coffer_restore_stats st = { 0 };
	rc = coffer_restore(repo, chosen.id, &ro, &st);
	cli_progress_done();
	if (rc) {
		status = cli_fail(rc);
		goto out;
	}
	if (a.json) {
		coffer_json j;
		coffer_json_init(&j, stdout, 1);
		coffer_json_object_begin(&j);
		coffer_json_key(&j, "snapshot");
		cli_json_snapshot(&j, &chosen);
		coffer_json_key(&j, "restored");
		coffer_json_object_begin(&j);
		coffer_json_key(&j, "files");
		coffer_json_uint(&j, st.files);
		coffer_json_key(&j, "dirs");
		coffer_json_uint(&j, st.dirs);
		coffer_json_key(&j, "symlinks");
		coffer_json_uint(&j, st.symlinks);
		coffer_json_key(&j, "hardlinks");
		coffer_json_uint(&j, st.hardlinks);
		coffer_json_key(&j, "others");
		coffer_json_uint(&j, st.others);
		coffer_json_key(&j, "bytes");
		coffer_json_uint(&j, st.bytes);
		coffer_json_key(&j, "deleted");
		coffer_json_uint(&j, st.deleted);
		coffer_json_object_end(&j);
		coffer_json_key(&j, "destination");
		coffer_json_string(&j, dest);
		coffer_json_object_end(&j);
		coffer_json_finish(&j);
	} else {
		char b[32];
		cli_format_bytes(st.bytes, b);
		printf("restored snapshot %s of %s into %s: %llu files, %llu dirs, %s%s\n", chosen.id, chosen.source, dest,
		       (unsigned long long)st.files, (unsigned long long)st.dirs, b, "");
		if (st.deleted)
			printf("deleted %llu extra entries\n", (unsigned long long)st.deleted);
	}
out:
	free(found_source);
	coffer_snapshot_info_clear(&chosen);
	coffer_repo_close(repo);
	return status;
}
