/* `coffer repository create|status|change-password`. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char repo_usage[] =
	"usage: coffer repository create [--compression NAME] [common options]\n"
	"       coffer repository status [--json] [common options]\n"
	"       coffer repository change-password [--new-password-file F] [common options]\n"
	"common options: --repository URL (or KOPIA_REPOSITORY), --password-file F (or KOPIA_PASSWORD),\n"
	"  --cache-dir D (or KOPIA_CACHE_DIR), --cache-capacity MiB, --ca-file PEM, --parallel N\n";

static int repo_create(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	const char *compression = NULL;
	cli_option opts[] = { CLI_REPO_OPTIONS(&a), { "--compression", &compression, NULL, NULL, NULL },
		              { NULL, NULL, NULL, NULL, NULL } };
	char *pos[1];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 0, repo_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (compression) {
		coffer_codec c;
		if ((rc = coffer_codec_lookup(core, compression, &c)) != 0)
			return cli_fail(rc);
	}
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 1, compression, &repo)) != 0)
		return rc;
	coffer_repo_status st;
	if ((rc = coffer_repo_status_get(repo, &st)) != 0) {
		coffer_repo_close(repo);
		return cli_fail(rc);
	}
	if (a.json) {
		coffer_json j;
		coffer_json_init(&j, stdout, 1);
		coffer_json_object_begin(&j);
		coffer_json_key(&j, "created");
		coffer_json_bool(&j, 1);
		coffer_json_key(&j, "uniqueId");
		coffer_json_string(&j, st.unique_id);
		coffer_json_key(&j, "compression");
		coffer_json_string(&j, st.compression);
		coffer_json_object_end(&j);
		coffer_json_finish(&j);
	} else {
		printf("created repository %s (compression %s, hash %s, cipher %s)\n", st.backend, st.compression,
		       st.hash, st.cipher);
	}
	coffer_repo_close(repo);
	return 0;
}

static void ratio(char out[32], uint64_t a, uint64_t b)
{
	if (b == 0)
		snprintf(out, 32, "-");
	else
		snprintf(out, 32, "%.2f", (double)a / (double)b);
}

static int repo_status(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	cli_option opts[] = { CLI_REPO_OPTIONS(&a), { NULL, NULL, NULL, NULL, NULL } };
	char *pos[1];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 0, repo_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	coffer_repo_status st;
	rc = coffer_repo_status_get(repo, &st);
	if (rc) {
		coffer_repo_close(repo);
		return cli_fail(rc);
	}
	/* logical bytes: what the snapshots hold; dedup: logical / distinct raw; compression:
	 * distinct raw / stored. */
	uint64_t logical = 0;
	coffer_snapshot_info *snaps = NULL;
	size_t nsnaps = 0;
	if ((rc = coffer_snapshot_list(repo, NULL, &snaps, &nsnaps)) != 0) {
		coffer_repo_close(repo);
		return cli_fail(rc);
	}
	for (size_t i = 0; i < nsnaps; i++)
		logical += snaps[i].stats.bytes;
	char dedup[32], comp[32];
	ratio(dedup, logical, st.content_raw_bytes);
	ratio(comp, st.content_raw_bytes, st.content_stored_bytes);
	if (a.json) {
		coffer_json j;
		coffer_json_init(&j, stdout, 1);
		coffer_json_object_begin(&j);
		coffer_json_key(&j, "backend");
		coffer_json_string(&j, st.backend);
		coffer_json_key(&j, "uniqueId");
		coffer_json_string(&j, st.unique_id);
		coffer_json_key(&j, "formatVersion");
		coffer_json_uint(&j, st.format_version);
		coffer_json_key(&j, "compression");
		coffer_json_string(&j, st.compression);
		coffer_json_key(&j, "hash");
		coffer_json_string(&j, st.hash);
		coffer_json_key(&j, "cipher");
		coffer_json_string(&j, st.cipher);
		coffer_json_key(&j, "chunker");
		coffer_json_object_begin(&j);
		coffer_json_key(&j, "min");
		coffer_json_uint(&j, st.chunk_min);
		coffer_json_key(&j, "avg");
		coffer_json_uint(&j, st.chunk_avg);
		coffer_json_key(&j, "max");
		coffer_json_uint(&j, st.chunk_max);
		coffer_json_object_end(&j);
		coffer_json_key(&j, "snapshots");
		coffer_json_uint(&j, nsnaps);
		coffer_json_key(&j, "logicalBytes");
		coffer_json_uint(&j, logical);
		coffer_json_key(&j, "contentCount");
		coffer_json_uint(&j, st.content_count);
		coffer_json_key(&j, "contentRawBytes");
		coffer_json_uint(&j, st.content_raw_bytes);
		coffer_json_key(&j, "storedBytes");
		coffer_json_uint(&j, st.content_stored_bytes);
		coffer_json_key(&j, "packCount");
		coffer_json_uint(&j, st.pack_count);
		coffer_json_key(&j, "packBytes");
		coffer_json_uint(&j, st.pack_bytes);
		coffer_json_key(&j, "indexBlobCount");
		coffer_json_uint(&j, st.index_blob_count);
		coffer_json_key(&j, "dedupRatio");
		coffer_json_double(&j, st.content_raw_bytes ? (double)logical / (double)st.content_raw_bytes : 0);
		coffer_json_key(&j, "compressionRatio");
		coffer_json_double(&j, st.content_stored_bytes
		                               ? (double)st.content_raw_bytes / (double)st.content_stored_bytes
		                               : 0);
		coffer_json_key(&j, "cacheDir");
		coffer_json_string(&j, st.cache_dir);
		coffer_json_object_end(&j);
		coffer_json_finish(&j);
	} else {
		char b1[32], b2[32], b3[32], b4[32];
		cli_format_bytes(logical, b1);
		cli_format_bytes(st.content_raw_bytes, b2);
		cli_format_bytes(st.content_stored_bytes, b3);
		cli_format_bytes(st.pack_bytes, b4);
		printf("Repository:     %s\n", st.backend);
		printf("Unique id:      %s\n", st.unique_id);
		printf("Format version: %u\n", st.format_version);
		printf("Compression:    %s\n", st.compression);
		printf("Content hash:   %s\n", st.hash);
		printf("Encryption:     %s\n", st.cipher);
		printf("Chunking:       FastCDC min %u, avg %u, max %u bytes\n", st.chunk_min, st.chunk_avg,
		       st.chunk_max);
		printf("Key derivation: scrypt N=%llu r=%u p=%u\n", (unsigned long long)st.scrypt_n, st.scrypt_r,
		       st.scrypt_p);
		printf("Snapshots:      %zu\n", nsnaps);
		printf("Logical bytes:  %s\n", b1);
		printf("Unique content: %llu chunks, %s\n", (unsigned long long)st.content_count, b2);
		printf("Stored bytes:   %s\n", b3);
		printf("Dedup ratio:    %s\n", dedup);
		printf("Compression:    %s\n", comp);
		printf("Packs:          %llu (%s)\n", (unsigned long long)st.pack_count, b4);
		printf("Index blobs:    %llu\n", (unsigned long long)st.index_blob_count);
		printf("Cache:          %s\n", st.cache_dir);
	}
	coffer_snapshot_info_free_array(snaps, nsnaps);
	coffer_repo_close(repo);
	return 0;
}

static int repo_change_password(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	const char *new_file = NULL;
	cli_option opts[] = { CLI_REPO_OPTIONS(&a),
		              { "--new-password-file", &new_file, NULL, NULL, NULL },
		              { NULL, NULL, NULL, NULL, NULL } };
	char *pos[1];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 0, repo_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	char newpw[1024] = "";
	if (new_file) {
		FILE *f = fopen(new_file, "r");
		if (!f || !fgets(newpw, sizeof(newpw), f)) {
			if (f)
				fclose(f);
			fprintf(stderr, "coffer: cannot read the new password from %s\n", new_file);
			return COFFER_EXIT_USAGE;
		}
		fclose(f);
	} else if (getenv("COFFER_NEW_PASSWORD")) {
		snprintf(newpw, sizeof(newpw), "%s", getenv("COFFER_NEW_PASSWORD"));
	} else {
		fprintf(stderr, "coffer: give the new password with --new-password-file F or COFFER_NEW_PASSWORD\n");
		return COFFER_EXIT_USAGE;
	}
	newpw[strcspn(newpw, "\r\n")] = '\0';
	if (!newpw[0]) {
		fprintf(stderr, "coffer: the new password must not be empty\n");
		return COFFER_EXIT_USAGE;
	}
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	rc = coffer_repo_change_password(repo, newpw);
	memset(newpw, 0, sizeof(newpw));
	coffer_repo_close(repo);
	if (rc)
		return cli_fail(rc);
	printf("password changed\n");
	return 0;
}

int cli_repository(coffer_core *core, int argc, char **argv)
{
	if (argc < 2) {
		fputs(repo_usage, stderr);
		return COFFER_EXIT_USAGE;
	}
	if (strcmp(argv[1], "create") == 0)
		return repo_create(core, argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return repo_status(core, argc - 1, argv + 1);
	if (strcmp(argv[1], "change-password") == 0)
		return repo_change_password(core, argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0) {
		fputs(repo_usage, stdout);
		return 0;
	}
	fprintf(stderr, "coffer: unknown repository command '%s'\n%s", argv[1], repo_usage);
	return COFFER_EXIT_USAGE;
}
