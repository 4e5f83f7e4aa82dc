/* The controller's site configuration (libconfig, through the core's config API) and its
 * log lines. Every key is in docs/controller.md and coffer.conf.example. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <coffer/config.h>
#include <coffer/snapshot.h>

#include "controller.h"

static const coffer_option root_options[] = {
	{ "state_dir", COFFER_OPT_STRING, "folder for status, logs, caches and copies" },
	{ "manifests_dir", COFFER_OPT_STRING, "folder of VolSync *.yaml / *.yml manifests" },
	{ "volumes", COFFER_OPT_GROUP, "PVC name = directory; or namespace = { name = directory; }" },
	{ "cache_dir", COFFER_OPT_STRING, "metadata caches (default STATE_DIR/cache)" },
	{ "concurrency", COFFER_OPT_INT, "syncs running at once (default 2)" },
	{ "log_level", COFFER_OPT_STRING, "error, warning, info (default) or debug" },
	{ "retry_initial_seconds", COFFER_OPT_INT, "first retry delay after a failed sync (default 10)" },
	{ "retry_max_seconds", COFFER_OPT_INT, "longest retry delay (default 3600)" },
	{ "poll_seconds", COFFER_OPT_INT, "how often the manifests folder is checked (default 10)" },
	{ "continuous_interval_seconds", COFFER_OPT_INT, "gap between syncs without a trigger (default 10)" },
	{ "stop_timeout_seconds", COFFER_OPT_INT, "how long running syncs get on SIGTERM (default 60)" },
	{ "log_lines", COFFER_OPT_INT, "mover log lines kept in latestMoverStatus (default 20)" },
	{ "coffer_binary", COFFER_OPT_STRING, "the coffer program run as the mover (default: this one)" },
	{ "plugins", COFFER_OPT_GROUP, "plugin options (docs/ARCHITECTURE.md)" },
	{ NULL, 0, NULL },
};

int64_t ctl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The level is compared against the config; before one is loaded (NULL) info is shown. */
void ctl_log(const ctl_config *c, int level, const char *fmt, ...)
{
	if (level > (c ? c->log_level : CTL_LOG_INFO))
		return;
	static const char *const names[] = { "ERROR", "WARNING", "INFO", "DEBUG" };
	char when[40];
	coffer_time_format_rfc3339(ctl_now_ns() / 1000000000 * 1000000000, when);
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s %s: %s\n", when, names[level], line);
	fflush(stderr);
}

static char *dup_or_fail(const char *s, int *rc)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*rc = coffer_error_set(COFFER_ENOMEM, "out of memory");
	return d;
}

static int absolute_dir(const coffer_config *root, const char *key, const char *value, int required, char **out,
                        int *rc)
{
	if (*rc)
		return *rc;
	if (!value) {
		if (required)
			*rc = coffer_error_set(COFFER_EINVALID, "%s: '%s' is required", coffer_config_where(root), key);
		return *rc;
	}
	if (value[0] != '/')
		return *rc = coffer_error_set(COFFER_EINVALID, "%s: '%s' must be an absolute path (got '%s')",
		                              coffer_config_where(root), key, value);
	*out = dup_or_fail(value, rc);
	return *rc;
}

static int get_int(const coffer_config *root, const char *key, long long min, long long max, long long def,
                   long long *out)
{
	int rc = coffer_config_int(root, key, out);
	if (rc == COFFER_ENOTFOUND) {
		coffer_error_clear();
		*out = def;
		return 0;
	}
	if (rc)
		return rc;
	if (*out < min || *out > max)
		return coffer_error_set(COFFER_EINVALID, "%s: '%s' = %lld is out of range %lld to %lld",
		                        coffer_config_where(root), key, *out, min, max);
	return 0;
}

static int add_volume(ctl_config *c, const char *key, const char *dir, const char *where)
{
	if (!dir || dir[0] != '/')
		return coffer_error_set(COFFER_EINVALID, "%s: volumes.%s must be an absolute directory path", where, key);
	char **k = realloc(c->volume_keys, (c->volume_count + 1) * sizeof(*k));
	if (k)
		c->volume_keys = k;
	char **d = realloc(c->volume_dirs, (c->volume_count + 1) * sizeof(*d));
	if (d)
		c->volume_dirs = d;
	if (!k || !d)
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	c->volume_keys[c->volume_count] = strdup(key);
	c->volume_dirs[c->volume_count] = strdup(dir);
	c->volume_count++;
	if (!c->volume_keys[c->volume_count - 1] || !c->volume_dirs[c->volume_count - 1])
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	return 0;
}

/* volumes = { mydata = "/srv/mydata"; team-a = { db = "/srv/a/db"; }; } */
static int load_volumes(ctl_config *c, const coffer_config *root)
{
	const coffer_config *vols = NULL;
	int rc = coffer_config_group(root, "volumes", &vols);
	if (rc || !vols)
		return rc;
	int n = coffer_config_count(vols);
	for (int i = 0; i < n && rc == 0; i++) {
		const char *name = coffer_config_member_name(vols, i);
		const char *dir = coffer_config_member_string(vols, i);
		if (dir) {
			rc = add_volume(c, name, dir, coffer_config_where(vols));
			continue;
		}
		const coffer_config *ns = NULL;
		if ((rc = coffer_config_group(vols, name, &ns)) != 0)
			return coffer_error_set(COFFER_EINVALID, "%s: volumes.%s must be a directory path or a group of them",
			                        coffer_config_where(vols), name);
		int m = coffer_config_count(ns);
		for (int k = 0; k < m && rc == 0; k++) {
			char key[600];
			const char *pvc = coffer_config_member_name(ns, k);
			snprintf(key, sizeof(key), "%s/%s", name, pvc);
			rc = add_volume(c, key, coffer_config_member_string(ns, k), coffer_config_where(ns));
		}
	}
	return rc;
}

static int self_path(char **out)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return coffer_error_set(COFFER_ERROR, "cannot find this program (/proc/self/exe): %s; set coffer_binary",
		                        strerror(errno));
	buf[n] = 0;
	/* A libtool build tree runs .libs/lt-coffer; the wrapper next to .libs sets it up. */
	char *slash = strrchr(buf, '/');
	if (slash && strncmp(slash + 1, "lt-", 3) == 0 && slash - buf >= 6 && strncmp(slash - 6, "/.libs", 6) == 0) {
		char wrapper[PATH_MAX];
		snprintf(wrapper, sizeof(wrapper), "%.*s/%s", (int)(slash - 6 - buf), buf, slash + 4);
		if (access(wrapper, X_OK) == 0)
			snprintf(buf, sizeof(buf), "%s", wrapper);
	}
	if (!(*out = strdup(buf)))
		return coffer_error_set(COFFER_ENOMEM, "out of memory");
	return 0;
}

int ctl_config_load(const char *path, ctl_config *c)
{
	memset(c, 0, sizeof(*c));
	coffer_config *root = NULL;
	int rc = coffer_config_load(&root, path);
	if (rc)
		return rc;
	if ((rc = coffer_config_check(root, root_options, "the controller")) != 0)
		goto out;
	char abs[PATH_MAX];
	if (!realpath(path, abs)) {
		rc = coffer_error_set(COFFER_ERROR, "%s: %s", path, strerror(errno));
		goto out;
	}
	c->config_file = dup_or_fail(abs, &rc);
	const char *s;
#define STR(key) (coffer_config_string(root, key, &s) == 0 ? s : (coffer_error_clear(), (const char *)NULL))
	absolute_dir(root, "state_dir", STR("state_dir"), 1, &c->state_dir, &rc);
	absolute_dir(root, "manifests_dir", STR("manifests_dir"), 1, &c->manifests_dir, &rc);
	absolute_dir(root, "cache_dir", STR("cache_dir"), 0, &c->cache_dir, &rc);
	absolute_dir(root, "coffer_binary", STR("coffer_binary"), 0, &c->coffer_binary, &rc);
	const char *level = STR("log_level");
#undef STR
	if (rc)
		goto out;
	c->log_level = CTL_LOG_INFO;
	if (level) {
		static const char *const levels[] = { "error", "warning", "info", "debug" };
		c->log_level = -1;
		for (int i = 0; i < 4; i++)
			if (strcmp(level, levels[i]) == 0)
				c->log_level = i;
		if (c->log_level < 0) {
			rc = coffer_error_set(COFFER_EINVALID, "%s: log_level '%s' is not error, warning, info or debug",
			                      coffer_config_where(root), level);
			goto out;
		}
	}
	long long v;
	if ((rc = get_int(root, "concurrency", 1, 256, 2, &v)) != 0)
		goto out;
	c->concurrency = (unsigned)v;
	if ((rc = get_int(root, "retry_initial_seconds", 1, 86400, 10, &v)) != 0)
		goto out;
	c->retry_initial_s = v;
	if ((rc = get_int(root, "retry_max_seconds", 1, 7 * 86400, 3600, &v)) != 0)
		goto out;
	c->retry_max_s = v < c->retry_initial_s ? c->retry_initial_s : v;
	if ((rc = get_int(root, "poll_seconds", 1, 3600, 10, &v)) != 0)
		goto out;
	c->poll_s = v;
	if ((rc = get_int(root, "continuous_interval_seconds", 0, 86400, 10, &v)) != 0)
		goto out;
	c->continuous_interval_s = v;
	if ((rc = get_int(root, "stop_timeout_seconds", 0, 86400, 60, &v)) != 0)
		goto out;
	c->stop_timeout_s = v;
	if ((rc = get_int(root, "log_lines", 0, 10000, 20, &v)) != 0)
		goto out;
	c->log_lines = (unsigned)v;
	if ((rc = load_volumes(c, root)) != 0)
		goto out;
	if (!c->cache_dir) {
		size_t len = strlen(c->state_dir) + sizeof("/cache");
		if (!(c->cache_dir = malloc(len))) {
			rc = coffer_error_set(COFFER_ENOMEM, "out of memory");
			goto out;
		}
		snprintf(c->cache_dir, len, "%s/cache", c->state_dir);
	}
	if (!c->coffer_binary)
		rc = self_path(&c->coffer_binary);
out:
	coffer_config_free(root);
	if (rc)
		ctl_config_clear(c);
	return rc;
}

void ctl_config_clear(ctl_config *c)
{
	for (size_t i = 0; i < c->volume_count; i++) {
		free(c->volume_keys[i]);
		free(c->volume_dirs[i]);
	}
	free(c->volume_keys);
	free(c->volume_dirs);
	free(c->config_file);
	free(c->state_dir);
	free(c->manifests_dir);
	free(c->cache_dir);
	free(c->coffer_binary);
	memset(c, 0, sizeof(*c));
}

const char *ctl_config_volume(const ctl_config *c, const char *namespace_, const char *name)
{
	char key[600];
	snprintf(key, sizeof(key), "%s/%s", namespace_, name);
	for (size_t i = 0; i < c->volume_count; i++)
		if (strcmp(c->volume_keys[i], key) == 0)
			return c->volume_dirs[i];
	for (size_t i = 0; i < c->volume_count; i++)
		if (strcmp(c->volume_keys[i], name) == 0)
			return c->volume_dirs[i];
	return NULL;
}
