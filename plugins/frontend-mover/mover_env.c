/* The mover's environment: every variable read and checked up front (docs/mover.md). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mover.h"

/* VolSync treats an empty value as unset. */
static const char *env_get(const char *name)
{
	const char *v = getenv(name);
	return v && v[0] ? v : NULL;
}

static int env_uint(mover_result *r, const char *name, unsigned long long min, unsigned long long max,
                    unsigned long long *out, int *set)
{
	const char *text = env_get(name);
	*set = text != NULL;
	if (!text)
		return 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (*end || errno || text[0] == '-' || text[0] == '+' || text[0] == ' ' || v < min || v > max)
		return mover_fail(r, COFFER_EXIT_USAGE, "%s='%s' is not a whole number from %llu to %llu", name, text,
		                  min, max);
	*out = v;
	return 0;
}

static int env_bool(mover_result *r, const char *name, int *out)
{
	static const char *const yes[] = { "true", "1", "yes", "on" }, *const no[] = { "false", "0", "no", "off" };
	const char *text = env_get(name);
	*out = 0;
	if (!text)
		return 0;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0)
			return 0;
	}
	return mover_fail(r, COFFER_EXIT_USAGE, "%s='%s' is not a boolean (true or false)", name, text);
}

/* VolSync's pattern for usernames and hostnames, which also keeps '@' and ':' out. */
static int env_identity_part(mover_result *r, const char *name, const char *fallback, const char **out)
{
	const char *text = env_get(name);
	*out = text ? text : fallback;
	if (!text)
		return 0;
	size_t n = strlen(text);
	int ok = n <= 253;
	for (size_t i = 0; ok && i < n; i++) {
		char c = text[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     ((c == '.' || c == '_' || c == '-') && i > 0 && i + 1 < n);
	}
	if (!ok)
		return mover_fail(r, COFFER_EXIT_USAGE,
		                  "%s='%s' is not a valid name: letters, digits, '.', '_' and '-' (not first or last), "
		                  "at most 253 characters",
		                  name, text);
	return 0;
}

static int env_source(mover_result *r, mover_env *e)
{
	const char *user, *host, *path = env_get("KOPIA_SOURCE_PATH_OVERRIDE");
	int rc;
	if ((rc = env_identity_part(r, "KOPIA_OVERRIDE_USERNAME", MOVER_DEFAULT_USERNAME, &user)) != 0 ||
	    (rc = env_identity_part(r, "KOPIA_OVERRIDE_HOSTNAME", MOVER_DEFAULT_HOSTNAME, &host)) != 0)
		return rc;
	if (path) {
		int ok = path[0] == '/' && strlen(path) < 4096;
		for (const char *p = path; ok && *p; p++)
			ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
		if (!ok)
			return mover_fail(r, COFFER_EXIT_USAGE,
			                  "KOPIA_SOURCE_PATH_OVERRIDE='%s' is not an absolute path (it must start with '/')",
			                  path);
	} else {
		path = MOVER_DEFAULT_PATH;
	}
	size_t len = strlen(user) + strlen(host) + strlen(path) + 3;
	if (!(e->source = malloc(len)))
		return mover_fail(r, COFFER_EXIT_FAILURE, "out of memory");
	snprintf(e->source, len, "%s@%s:%s", user, host, path);
	return 0;
}

static int env_repository(mover_result *r, mover_env *e)
{
	e->repository = env_get("KOPIA_REPOSITORY");
	e->password = env_get("KOPIA_PASSWORD");
	if (!e->repository)
		return mover_fail(r, COFFER_EXIT_USAGE, "KOPIA_REPOSITORY is not set (e.g. s3://bucket/prefix, "
		                                       "filesystem:///srv/backup)");
	coffer_url *url;
	if (coffer_url_parse(&url, e->repository) != 0)
		return mover_fail(r, COFFER_EXIT_USAGE, "KOPIA_REPOSITORY is not a valid repository URL: %s",
		                  coffer_error_last()->message);
	size_t len = strlen(url->scheme) + strlen(url->host) + strlen(url->path) + 4;
	if ((e->repository_shown = malloc(len)) != NULL)
		snprintf(e->repository_shown, len, "%s://%s%s", url->scheme, url->host, url->path);
	coffer_url_free(url);
	if (!e->repository_shown)
		return mover_fail(r, COFFER_EXIT_FAILURE, "out of memory");
	if (!e->password)
		return mover_fail(r, COFFER_EXIT_USAGE, "KOPIA_PASSWORD is not set");
	return 0;
}

static int env_paths(mover_result *r, mover_env *e)
{
	struct stat st;
	e->data_dir = env_get("DATA_DIR");
	if (!e->data_dir)
		return mover_fail(r, COFFER_EXIT_USAGE, "DATA_DIR is not set (the folder to back up or restore into)");
	if (stat(e->data_dir, &st) != 0)
		return mover_fail(r, COFFER_EXIT_USAGE, "DATA_DIR='%s' cannot be used: %s", e->data_dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return mover_fail(r, COFFER_EXIT_USAGE, "DATA_DIR='%s' is not a directory", e->data_dir);
	e->cache_dir = env_get("KOPIA_CACHE_DIR");
	e->ca_file = env_get("CUSTOM_CA");
	if (e->ca_file && access(e->ca_file, R_OK) != 0)
		return mover_fail(r, COFFER_EXIT_USAGE, "CUSTOM_CA='%s' cannot be read: %s", e->ca_file, strerror(errno));
	return 0;
}

static int env_numbers(mover_result *r, mover_env *e)
{
	unsigned long long v = 0;
	int set, rc;
	if ((rc = env_uint(r, "KOPIA_CACHE_CAPACITY", 1, 1ull << 30, &v, &set)) != 0)
		return rc;
	e->cache_capacity = set ? v << 20 : 0;
	if ((rc = env_uint(r, "KOPIA_PARALLELISM", 1, 1024, &v, &set)) != 0)
		return rc;
	e->parallelism = set ? (unsigned)v : 0;
	if ((rc = env_uint(r, "KOPIA_MAINTENANCE_INTERVAL_DAYS", 0, 36500, &v, &set)) != 0)
		return rc;
	e->maintenance_days = set ? (unsigned)v : MOVER_DEFAULT_MAINTENANCE_DAYS;
	if ((rc = env_uint(r, "KOPIA_PREVIOUS", 0, 1u << 30, &v, &set)) != 0)
		return rc;
	e->selection.previous = set ? (unsigned)v : 0;
	if ((rc = env_uint(r, "KOPIA_SHALLOW", 0, 1u << 30, &v, &set)) != 0)
		return rc;
	e->selection.shallow = set ? (unsigned)v : 0;

	static const char *const names[] = { "KOPIA_RETAIN_LATEST", "KOPIA_RETAIN_HOURLY", "KOPIA_RETAIN_DAILY",
		                             "KOPIA_RETAIN_WEEKLY", "KOPIA_RETAIN_MONTHLY", "KOPIA_RETAIN_YEARLY" };
	unsigned int *counts[] = { &e->retain.keep_latest,  &e->retain.keep_hourly,  &e->retain.keep_daily,
		                   &e->retain.keep_weekly,  &e->retain.keep_monthly, &e->retain.keep_yearly };
	e->retain.version = COFFER_RETENTION_POLICY_VERSION;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((rc = env_uint(r, names[i], 0, 1000000, &v, &set)) != 0)
			return rc;
		*counts[i] = set ? (unsigned)v : 0;
		e->retain_any |= set && v > 0;
	}
	return 0;
}

int mover_env_load(coffer_core *core, mover_env *e, mover_result *r)
{
	memset(e, 0, sizeof(*e));
	int rc;
	if ((rc = env_repository(r, e)) != 0 || (rc = env_source(r, e)) != 0 || (rc = env_paths(r, e)) != 0 ||
	    (rc = env_numbers(r, e)) != 0 || (rc = env_bool(r, "KOPIA_ENABLE_FILE_DELETION", &e->file_deletion)) != 0 ||
	    (rc = env_bool(r, "COFFER_RESTORE_SINGLE_SOURCE", &e->single_source)) != 0)
		return rc;
	if (e->single_source && (env_get("KOPIA_OVERRIDE_USERNAME") || env_get("KOPIA_OVERRIDE_HOSTNAME")))
		return mover_fail(r, COFFER_EXIT_USAGE, "COFFER_RESTORE_SINGLE_SOURCE cannot be combined with "
		                                       "KOPIA_OVERRIDE_USERNAME / KOPIA_OVERRIDE_HOSTNAME");
	e->selection.source = e->source;
	const char *as_of = env_get("KOPIA_RESTORE_AS_OF");
	if (as_of && coffer_time_parse_rfc3339(as_of, &e->selection.as_of_ns) != 0)
		return mover_fail(r, COFFER_EXIT_USAGE, "KOPIA_RESTORE_AS_OF='%s' is not an RFC 3339 time: %s", as_of,
		                  coffer_error_last()->message);
	e->compression = env_get("KOPIA_COMPRESSION");
	coffer_codec codec;
	if (e->compression && coffer_codec_lookup(core, e->compression, &codec) != 0)
		return mover_fail(r, COFFER_EXIT_USAGE, "KOPIA_COMPRESSION='%s': %s", e->compression,
		                  coffer_error_last()->message);
	e->before = env_get("KOPIA_BEFORE_SNAPSHOT");
	e->after = env_get("KOPIA_AFTER_SNAPSHOT");
	return 0;
}

void mover_env_clear(mover_env *e)
{
	free(e->source);
	free(e->repository_shown);
	memset(e, 0, sizeof(*e));
}

void mover_repo_options(const mover_env *e, coffer_repo_options *opts)
{
	coffer_repo_options init = COFFER_REPO_OPTIONS_INIT;
	*opts = init;
	opts->cache_dir = e->cache_dir;
	opts->cache_capacity = e->cache_capacity;
	opts->ca_file = e->ca_file;
	opts->parallelism = e->parallelism;
	opts->compression = e->compression;
	const char *scrypt_n = getenv("COFFER_TEST_SCRYPT_N"); /* documented test knob, as in the CLI */
	if (scrypt_n)
		opts->scrypt_n = strtoull(scrypt_n, NULL, 10);
}

int mover_open_repo(coffer_core *core, const mover_env *e, int create, mover_result *r, coffer_repo **out)
{
	coffer_repo_options opts;
	mover_repo_options(e, &opts);
	int rc = coffer_repo_open(out, core, e->repository, e->password, &opts);
	if (rc == COFFER_ENOTFOUND && !create)
		return 0;
	if (rc == COFFER_ENOTFOUND) {
		/* Only a backend that answered "no format blob here" gets a new repository. */
		mover_log("INFO", "No repository at %s: creating it", e->repository_shown);
		rc = coffer_repo_create(out, core, e->repository, e->password, &opts);
		if (rc == COFFER_EEXISTS) {
			mover_log("INFO", "Another writer created the repository meanwhile: opening it");
			rc = coffer_repo_open(out, core, e->repository, e->password, &opts);
		} else if (rc == 0) {
			r->repository_created = 1;
			mover_log("INFO", "Repository created at %s", e->repository_shown);
		}
		if (rc)
			return mover_fail_core(r, rc, "creating the repository");
		return 0;
	}
	if (rc) {
		const char *hint = rc == COFFER_EAUTH        ? " (check KOPIA_PASSWORD and the backend credentials)"
		                   : rc == COFFER_ETRANSIENT ? " (the backend could not be reached)"
		                                             : "";
		return mover_fail(r, coffer_exit_code(rc), "cannot open the repository: %s; nothing was created%s",
		                  coffer_error_last()->message, hint);
	}
	mover_log("INFO", "Repository connected: %s", e->repository_shown);
	return 0;
}
