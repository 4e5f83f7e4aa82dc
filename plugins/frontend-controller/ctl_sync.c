/* One sync of one object: the plan (identity, environment, folders, CA file) worked out from
 * the manifests and the site configuration, then a child process in its own process group
 * that takes the point-in-time copy (copyMethod), runs `coffer mover backup|restore`, and
 * removes the copy again. The controller only waits for it (docs/controller.md). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/btrfs.h>
#include <linux/magic.h>

#include <coffer/snapshot.h>

#include "ctl_util.h"
#include "controller.h"

extern char **environ;

static const char *kind_dir(ctl_kind k)
{
	return k == CTL_KIND_SOURCE ? "source" : "destination";
}

static char *fmt(const char *format, ...) COFFER_PRINTF(1, 2);
static char *fmt(const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	char *s = NULL;
	if (vasprintf(&s, format, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* mkdir -p for the folder that will hold `path` (with leaf: `path` itself too). */
static int make_dirs(const char *path, int leaf, mode_t mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	if (!leaf) {
		char *slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			return 0;
		*slash = 0;
	}
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == 0) {
			char saved = *p;
			*p = 0;
			if (mkdir(buf, mode) != 0 && errno != EEXIST)
				return -1;
			*p = saved;
			if (!saved)
				break;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- identity */

/* VolSync's builder: letters, digits and '-', plus '_' in user names and '.' in host names;
 * '_' becomes '-' in host names; no separator first or last; user names at most 50. */
static void sanitize(const char *in, int host, char *out, size_t cap)
{
	size_t n = 0, max = host ? cap - 1 : (cap - 1 < 50 ? cap - 1 : 50);
	for (const char *p = in; *p && n < max; p++) {
		char ch = *p;
		if (host && ch == '_')
			ch = '-';
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		         (!host && ch == '_') || (host && ch == '.');
		if (ok && !(n == 0 && (ch == '-' || ch == '_' || ch == '.')))
			out[n++] = ch;
	}
	while (n > 0 && (out[n - 1] == '-' || out[n - 1] == '_' || out[n - 1] == '.'))
		n--;
	out[n] = 0;
	if (n == 0)
		snprintf(out, cap, "volsync-default");
}

static const ctl_replication *find_source(const ctl_manifests *m, const char *ns, const char *name)
{
	for (size_t i = 0; i < m->object_count; i++)
		if (m->objects[i].kind == CTL_KIND_SOURCE && strcmp(m->objects[i].namespace_, ns) == 0 &&
		    strcmp(m->objects[i].name, name) == 0)
			return &m->objects[i];
	return NULL;
}

/* user, host and path of the snapshots; 0 with user "" when a destination restores from the
 * repository's only source. */
static void identity(const ctl_manifests *m, const ctl_replication *s, char *user, char *host, size_t cap,
                     const char **path)
{
	*path = "/data";
	if (s->kind == CTL_KIND_SOURCE) {
		snprintf(user, cap, "%s", s->username ? s->username : "");
		snprintf(host, cap, "%s", s->hostname ? s->hostname : "");
		if (!s->username)
			sanitize(s->name, 0, user, cap);
		if (!s->hostname)
			sanitize(s->namespace_, 1, host, cap);
		if (s->source_path_override)
			*path = s->source_path_override;
		return;
	}
	user[0] = host[0] = 0;
	const char *ns = s->src_namespace ? s->src_namespace : s->namespace_;
	const ctl_replication *rs = s->src_name ? find_source(m, ns, s->src_name) : NULL;
	if (rs) {
		identity(m, rs, user, host, cap, path);
	} else if (s->src_name) {
		sanitize(s->src_name, 0, user, cap);
		sanitize(ns, 1, host, cap);
	}
	if (s->username && s->hostname) {
		snprintf(user, cap, "%s", s->username);
		snprintf(host, cap, "%s", s->hostname);
	}
	if (s->src_path_override)
		*path = s->src_path_override;
}

/* ---------------------------------------------------------------- environment */

static int env_set(ctl_plan *p, const char *name, const char *value)
{
	size_t nlen = strlen(name);
	char *entry = fmt("%s=%s", name, value);
	if (!entry)
		return -1;
	for (size_t i = 0; i < p->env_count; i++)
		if (strncmp(p->env[i], name, nlen) == 0 && p->env[i][nlen] == '=') {
			free(p->env[i]);
			p->env[i] = entry;
			return 0;
		}
	char **grown = realloc(p->env, (p->env_count + 2) * sizeof(*grown));
	if (!grown) {
		free(entry);
		return -1;
	}
	p->env = grown;
	p->env[p->env_count++] = entry;
	p->env[p->env_count] = NULL;
	return 0;
}

static int env_set_ll(ctl_plan *p, const char *name, long long v)
{
	char num[32];
	snprintf(num, sizeof(num), "%lld", v);
	return v < 0 ? 0 : env_set(p, name, num);
}

/* Variables the mover reads come only from the Secret and the spec, never from the
 * controller's own environment. */
static int mover_variable(const char *entry)
{
	static const char *const prefixes[] = { "KOPIA_", "AWS_", "GOOGLE_", "AZURE_", "DATA_DIR=", "CUSTOM_CA=",
		                                "COFFER_RESTORE_SINGLE_SOURCE=", "COFFER_CONFIG=" };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(entry, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

static int env_name_ok(const char *k)
{
	if (!k[0] || (k[0] >= '0' && k[0] <= '9'))
		return 0;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

static int base_env(const ctl_config *c, ctl_plan *p)
{
	p->env = calloc(1, sizeof(*p->env));
	if (!p->env)
		return -1;
	for (char **e = environ; *e; e++) {
		if (mover_variable(*e))
			continue;
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		char name[256];
		if ((size_t)(eq - *e) >= sizeof(name))
			continue;
		memcpy(name, *e, (size_t)(eq - *e));
		name[eq - *e] = 0;
		if (env_set(p, name, eq + 1) != 0)
			return -1;
	}
	return env_set(p, "COFFER_CONFIG", c->config_file);
}

/* The Secret's name: the object's own, or (a destination, as VolSync) its source's. */
static const char *repository_secret(const ctl_manifests *m, const ctl_replication *s)
{
	if (s->repository || s->kind == CTL_KIND_SOURCE || !s->src_name)
		return s->repository;
	const ctl_replication *rs = find_source(m, s->src_namespace ? s->src_namespace : s->namespace_, s->src_name);
	return rs && !strcmp(rs->namespace_, s->namespace_) ? rs->repository : NULL;
}

static int secret_env(const ctl_manifests *m, const ctl_replication *s, ctl_plan *p, char *err, size_t errlen)
{
	const char *repo = repository_secret(m, s);
	if (!repo)
		return ctl_errf(err, errlen, "spec.kopia.repository is not set and no ReplicationSource %s/%s in the manifests "
		                         "(sourceIdentity) names one",
		            s->src_namespace ? s->src_namespace : s->namespace_, s->src_name ? s->src_name : "(none)");
	const ctl_data_object *sec = ctl_manifests_find_data(m, 1, s->namespace_, repo);
	if (!sec)
		return ctl_errf(err, errlen, "spec.kopia.repository: Secret %s/%s was not found in the manifests", s->namespace_,
		            repo);
	for (size_t i = 0; i < sec->count; i++) {
		const ctl_kv *kv = &sec->items[i];
		if (!env_name_ok(kv->key))
			continue;
		if (memchr(kv->value, 0, kv->len))
			return ctl_errf(err, errlen, "Secret %s/%s: %s holds a NUL byte and cannot be an environment variable",
			            s->namespace_, repo, kv->key);
		if (env_set(p, kv->key, kv->value) != 0)
			return ctl_errf(err, errlen, "out of memory");
	}
	static const char *const required[] = { "KOPIA_REPOSITORY", "KOPIA_PASSWORD" };
	for (size_t i = 0; i < 2; i++) {
		const ctl_kv *kv = ctl_data_get(sec, required[i]);
		if (!kv || !kv->len)
			return ctl_errf(err, errlen, "Secret %s/%s has no %s", s->namespace_, repo, required[i]);
	}
	return 0;
}

static int write_file(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	if (n != (ssize_t)len || close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int custom_ca(const ctl_config *c, const ctl_manifests *m, const ctl_replication *s, ctl_plan *p, char *err,
                     size_t errlen)
{
	if (!s->ca_secret && !s->ca_configmap)
		return 0;
	if (!s->ca_key)
		return ctl_errf(err, errlen, "spec.kopia.customCA.key is required with %s", s->ca_secret ? "secretName" : "configMapName");
	int secret = s->ca_secret != NULL;
	const char *name = secret ? s->ca_secret : s->ca_configmap;
	const ctl_data_object *d = ctl_manifests_find_data(m, secret, s->namespace_, name);
	if (!d)
		return ctl_errf(err, errlen, "spec.kopia.customCA: %s %s/%s was not found in the manifests",
		            secret ? "Secret" : "ConfigMap", s->namespace_, name);
	const ctl_kv *kv = ctl_data_get(d, s->ca_key);
	if (!kv || !kv->len)
		return ctl_errf(err, errlen, "spec.kopia.customCA: %s %s/%s has no key '%s'", secret ? "Secret" : "ConfigMap",
		            s->namespace_, name, s->ca_key);
	p->ca_file = fmt("%s/ca/%s/%s/%s.pem", c->state_dir, kind_dir(s->kind), s->namespace_, s->name);
	if (!p->ca_file)
		return ctl_errf(err, errlen, "out of memory");
	if (make_dirs(p->ca_file, 0, 0700) != 0 || write_file(p->ca_file, kv->value, kv->len) != 0)
		return ctl_errf(err, errlen, "cannot write the custom CA to %s: %s", p->ca_file, strerror(errno));
	return env_set(p, "CUSTOM_CA", p->ca_file) ? ctl_errf(err, errlen, "out of memory") : 0;
}

/* ---------------------------------------------------------------- btrfs */

static int on_btrfs_subvolume(const char *dir, char *why, size_t cap)
{
	struct statfs fs;
	struct stat st;
	if (statfs(dir, &fs) != 0 || stat(dir, &st) != 0) {
		snprintf(why, cap, "%s: %s", dir, strerror(errno));
		return 0;
	}
	if ((unsigned long)fs.f_type != (unsigned long)BTRFS_SUPER_MAGIC) {
		snprintf(why, cap, "%s is not on btrfs (filesystem type 0x%lx)", dir, (unsigned long)fs.f_type);
		return 0;
	}
	/* The root of a btrfs subvolume always has inode 256. */
	if (st.st_ino != 256) {
		snprintf(why, cap, "%s is on btrfs but is not the root of a subvolume", dir);
		return 0;
	}
	return 1;
}

/* Opens the folder holding `path` and points *leaf at its last component. */
static int open_parent(const char *path, const char **leaf)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash || (size_t)(slash - path) >= sizeof(parent) || strlen(slash + 1) >= BTRFS_PATH_NAME_MAX) {
		errno = EINVAL;
		return -1;
	}
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = 0;
	*leaf = slash + 1;
	return open(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* One ioctl on the parent of `path` with the vol_args naming it (create, destroy). */
static int btrfs_named(const char *path, unsigned long request)
{
	const char *leaf;
	int pfd = open_parent(path, &leaf);
	if (pfd < 0)
		return -1;
	struct btrfs_ioctl_vol_args args;
	memset(&args, 0, sizeof(args));
	snprintf(args.name, sizeof(args.name), "%s", leaf);
	int rc = ioctl(pfd, request, &args);
	int saved = errno;
	close(pfd);
	errno = saved;
	return rc;
}

/* A new, empty subvolume at `path` (whose parent exists). */
static int btrfs_subvolume_create(const char *path)
{
	return btrfs_named(path, BTRFS_IOC_SUBVOL_CREATE);
}

static int btrfs_destroy(const char *path)
{
	return btrfs_named(path, BTRFS_IOC_SNAP_DESTROY);
}

/* A snapshot of the subvolume `src` at `dst` (whose parent exists). */
static int btrfs_snapshot(const char *src, const char *dst, int readonly)
{
	const char *leaf;
	int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int pfd = sfd >= 0 ? open_parent(dst, &leaf) : -1;
	int rc = -1;
	if (pfd >= 0) {
		struct btrfs_ioctl_vol_args_v2 args;
		memset(&args, 0, sizeof(args));
		args.fd = sfd;
		args.flags = readonly ? BTRFS_SUBVOL_RDONLY : 0;
		snprintf(args.name, sizeof(args.name), "%s", leaf);
		rc = ioctl(pfd, BTRFS_IOC_SNAP_CREATE_V2, &args);
	}
	int saved = errno;
	if (sfd >= 0)
		close(sfd);
	if (pfd >= 0)
		close(pfd);
	errno = saved;
	return rc;
}

/* ---------------------------------------------------------------- plan */

static int spec_env(const ctl_replication *s, ctl_plan *p)
{
	int rc = 0;
	if (s->kind == CTL_KIND_SOURCE) {
		if (s->compression)
			rc |= env_set(p, "KOPIA_COMPRESSION", s->compression);
		rc |= env_set_ll(p, "KOPIA_PARALLELISM", s->parallelism);
		rc |= env_set_ll(p, "KOPIA_RETAIN_LATEST", s->retain_latest);
		rc |= env_set_ll(p, "KOPIA_RETAIN_HOURLY", s->retain_hourly);
		rc |= env_set_ll(p, "KOPIA_RETAIN_DAILY", s->retain_daily);
		rc |= env_set_ll(p, "KOPIA_RETAIN_WEEKLY", s->retain_weekly);
		rc |= env_set_ll(p, "KOPIA_RETAIN_MONTHLY", s->retain_monthly);
		rc |= env_set_ll(p, "KOPIA_RETAIN_YEARLY", s->retain_yearly);
		rc |= env_set_ll(p, "KOPIA_MAINTENANCE_INTERVAL_DAYS", s->maintenance_interval_days);
		if (s->before_snapshot)
			rc |= env_set(p, "KOPIA_BEFORE_SNAPSHOT", s->before_snapshot);
		if (s->after_snapshot)
			rc |= env_set(p, "KOPIA_AFTER_SNAPSHOT", s->after_snapshot);
	} else {
		if (s->restore_as_of)
			rc |= env_set(p, "KOPIA_RESTORE_AS_OF", s->restore_as_of);
		rc |= env_set_ll(p, "KOPIA_SHALLOW", s->shallow);
		rc |= env_set_ll(p, "KOPIA_PREVIOUS", s->previous);
		rc |= env_set(p, "KOPIA_ENABLE_FILE_DELETION", s->enable_file_deletion ? "true" : "false");
	}
	if (s->cache_capacity)
		rc |= env_set_ll(p, "KOPIA_CACHE_CAPACITY", (long long)((s->cache_capacity + (1u << 20) - 1) >> 20));
	return rc;
}

static int plan_dirs(const ctl_config *c, const ctl_replication *s, ctl_plan *p, char *err, size_t errlen)
{
	if (s->kind == CTL_KIND_SOURCE) {
		const char *vol = ctl_config_volume(c, s->namespace_, s->source_pvc);
		if (!vol)
			return ctl_errf(err, errlen, "spec.sourcePVC: volume '%s' is not in the site configuration's volumes", s->source_pvc);
		struct stat st;
		if (stat(vol, &st) != 0 || !S_ISDIR(st.st_mode))
			return ctl_errf(err, errlen, "spec.sourcePVC: volume '%s' is %s, which is not a directory", s->source_pvc, vol);
		p->volume_dir = strdup(vol);
		if (s->copy_method == CTL_COPY_DIRECT) {
			p->data_dir = strdup(vol);
		} else {
			char why[PATH_MAX + 100];
			if (s->copy_method == CTL_COPY_SNAPSHOT && !on_btrfs_subvolume(vol, why, sizeof(why)))
				return ctl_errf(err, errlen,
				            "spec.kopia.copyMethod: Snapshot needs a filesystem with snapshots (a btrfs subvolume): "
				            "%s; use Clone or Direct",
				            why);
			/* A btrfs snapshot must stay on the volume's filesystem: next to the volume. */
			if (s->copy_method == CTL_COPY_SNAPSHOT)
				p->copy_dir = fmt("%.*s/.volsync-%s-%s-src", (int)(strrchr(vol, '/') - vol), vol, s->namespace_,
				                  s->name);
			else
				p->copy_dir = fmt("%s/copies/%s/volsync-%s-src", c->state_dir, s->namespace_, s->name);
			p->data_dir = p->copy_dir ? strdup(p->copy_dir) : NULL;
		}
	} else {
		const char *vol = NULL;
		if (s->destination_pvc && !(vol = ctl_config_volume(c, s->namespace_, s->destination_pvc)))
			return ctl_errf(err, errlen, "spec.kopia.destinationPVC: volume '%s' is not in the site configuration's volumes",
			            s->destination_pvc);
		p->data_dir = vol ? strdup(vol) : fmt("%s/destinations/%s/volsync-%s-dest", c->state_dir, s->namespace_, s->name);
		struct stat st;
		/* A new destination for Snapshot is a subvolume when its folder is on btrfs. */
		if (p->data_dir && !vol && s->copy_method == CTL_COPY_SNAPSHOT && stat(p->data_dir, &st) != 0 &&
		    make_dirs(p->data_dir, 0, 0755) == 0 && btrfs_subvolume_create(p->data_dir) == 0)
			chmod(p->data_dir, 0755);
		if (p->data_dir && make_dirs(p->data_dir, 1, 0755) != 0)
			return ctl_errf(err, errlen, "cannot create the destination %s: %s", p->data_dir, strerror(errno));
		if (s->copy_method == CTL_COPY_SNAPSHOT) {
			char why[PATH_MAX + 100];
			if (!on_btrfs_subvolume(p->data_dir, why, sizeof(why)))
				return ctl_errf(err, errlen,
				            "spec.kopia.copyMethod: Snapshot needs a filesystem with snapshots (a btrfs subvolume): "
				            "%s; use Direct",
				            why);
			char stamp[32];
			time_t now = (time_t)(ctl_now_ns() / 1000000000);
			struct tm tm;
			strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
			/* Images stay on the destination's filesystem, next to it (VolSync: <pvc>-<time>). */
			p->image_dir = fmt("%.*s/.volsync-%s-%s-%s", (int)(strrchr(p->data_dir, '/') - p->data_dir), p->data_dir,
			                   s->namespace_, s->name, stamp);
		}
	}
	p->cache_dir = fmt("%s/%s/%s/%s", c->cache_dir, kind_dir(s->kind), s->namespace_, s->name);
	p->out_path = fmt("%s/logs/%s/%s/%s.json", c->state_dir, kind_dir(s->kind), s->namespace_, s->name);
	p->log_path = fmt("%s/logs/%s/%s/%s.log", c->state_dir, kind_dir(s->kind), s->namespace_, s->name);
	if (!p->data_dir || (!p->volume_dir && s->kind == CTL_KIND_SOURCE) || !p->cache_dir || !p->out_path || !p->log_path)
		return ctl_errf(err, errlen, "out of memory");
	if (make_dirs(p->log_path, 0, 0700) != 0 || make_dirs(p->cache_dir, 1, 0700) != 0 ||
	    (p->copy_dir && make_dirs(p->copy_dir, 0, 0700) != 0) || (p->image_dir && make_dirs(p->image_dir, 0, 0755) != 0))
		return ctl_errf(err, errlen, "cannot create folders under %s: %s", c->state_dir, strerror(errno));
	return 0;
}

int ctl_plan_build(const ctl_config *c, const ctl_manifests *m, const ctl_replication *s, ctl_plan *p, char *err,
                   size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->spec = s;
	char user[256], host[256];
	const char *path;
	if (base_env(c, p) != 0)
		return ctl_errf(err, errlen, "out of memory");
	if (secret_env(m, s, p, err, errlen) != 0 || custom_ca(c, m, s, p, err, errlen) != 0 ||
	    plan_dirs(c, s, p, err, errlen) != 0)
		return -1;
	identity(m, s, user, host, sizeof(user), &path);
	int rc = spec_env(s, p) | env_set(p, "DATA_DIR", p->data_dir) | env_set(p, "KOPIA_CACHE_DIR", p->cache_dir);
	if (user[0]) {
		rc |= env_set(p, "KOPIA_OVERRIDE_USERNAME", user) | env_set(p, "KOPIA_OVERRIDE_HOSTNAME", host) |
		      env_set(p, "KOPIA_SOURCE_PATH_OVERRIDE", path);
		p->identity = fmt("%s@%s:%s", user, host, path);
		rc |= !p->identity;
	} else {
		rc |= env_set(p, "COFFER_RESTORE_SINGLE_SOURCE", "true");
	}
	return rc ? ctl_errf(err, errlen, "out of memory") : 0;
}

void ctl_plan_clear(ctl_plan *p)
{
	for (size_t i = 0; i < p->env_count; i++)
		free(p->env[i]);
	free(p->env);
	free(p->data_dir);
	free(p->volume_dir);
	free(p->copy_dir);
	free(p->image_dir);
	free(p->ca_file);
	free(p->cache_dir);
	free(p->out_path);
	free(p->log_path);
	free(p->identity);
	memset(p, 0, sizeof(*p));
}

/* ---------------------------------------------------------------- the child */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		fprintf(stderr, "WARNING: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

void ctl_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (on_btrfs_subvolume(path, (char[8]){ 0 }, 8) && btrfs_destroy(path) == 0)
		return;
	nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static volatile sig_atomic_t child_stop;
static void on_stop(int sig)
{
	(void)sig;
	child_stop = 1;
}

static int run_wait(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "ERROR: the mover was killed by signal %d (%s)\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
	return 128 + WTERMSIG(status);
}

static int run_cp(const char *from, const char *to)
{
	char src[PATH_MAX + 4];
	snprintf(src, sizeof(src), "%s/.", from);
	pid_t pid = fork();
	if (pid == 0) {
		execlp("cp", "cp", "-a", "--reflink=auto", "--", src, to, (char *)NULL);
		fprintf(stderr, "ERROR: cannot run cp: %s\n", strerror(errno));
		_exit(127);
	}
	return pid < 0 ? 1 : run_wait(pid);
}

static void child_fail_json(const char *op, const char *msg)
{
	printf("{\"result\":\"failure\",\"operation\":\"%s\",\"error\":\"", op);
	for (const char *p = msg; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	printf("\"}\n");
	fflush(stdout);
}

static int child_main(const ctl_config *c, const ctl_plan *p)
{
	const ctl_replication *s = p->spec;
	const char *op = s->kind == CTL_KIND_SOURCE ? "backup" : "restore";
	int in = open("/dev/null", O_RDONLY);
	int out = open(p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int log = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || out < 0 || log < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(log, 2) < 0)
		return 1;
	close(in);
	close(out);
	close(log);
	char msg[PATH_MAX * 2 + 200];
	if (p->copy_dir) {
		ctl_remove_tree(p->copy_dir);
		int rc;
		if (s->copy_method == CTL_COPY_CLONE) {
			fprintf(stderr, "INFO: copyMethod Clone: copying %s to %s (reflinks where the filesystem has them)\n",
			        p->volume_dir, p->copy_dir);
			rc = mkdir(p->copy_dir, 0700) != 0 || run_cp(p->volume_dir, p->copy_dir) != 0;
		} else {
			fprintf(stderr, "INFO: copyMethod Snapshot: btrfs snapshot of %s at %s\n", p->volume_dir, p->copy_dir);
			rc = btrfs_snapshot(p->volume_dir, p->copy_dir, 0) != 0;
		}
		if (rc) {
			snprintf(msg, sizeof(msg), "copyMethod %s: cannot copy %s to %s%s%s",
			         s->copy_method == CTL_COPY_CLONE ? "Clone" : "Snapshot", p->volume_dir, p->copy_dir,
			         s->copy_method == CTL_COPY_CLONE ? "" : ": ", s->copy_method == CTL_COPY_CLONE ? "" : strerror(errno));
			fprintf(stderr, "ERROR: %s\n", msg);
			ctl_remove_tree(p->copy_dir);
			child_fail_json(op, msg);
			return 1;
		}
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		execve(c->coffer_binary, (char *[]){ c->coffer_binary, (char *)"mover", (char *)op, NULL }, p->env);
		fprintf(stderr, "ERROR: cannot run %s: %s\n", c->coffer_binary, strerror(errno));
		_exit(127);
	}
	int status = pid < 0 ? 1 : run_wait(pid);
	if (p->copy_dir) {
		fprintf(stderr, "INFO: removing the point-in-time copy %s\n", p->copy_dir);
		ctl_remove_tree(p->copy_dir);
	}
	if (status == 0 && p->image_dir && !child_stop) {
		if (btrfs_snapshot(p->data_dir, p->image_dir, 1) != 0) {
			snprintf(msg, sizeof(msg), "copyMethod Snapshot: cannot snapshot %s at %s: %s", p->data_dir, p->image_dir,
			         strerror(errno));
			fprintf(stderr, "ERROR: %s\n", msg);
			child_fail_json(op, msg);
			return 1;
		}
		fprintf(stderr, "INFO: copyMethod Snapshot: image %s\n", p->image_dir);
	}
	return status;
}

int ctl_plan_start(const ctl_config *c, const ctl_plan *p, pid_t *out, char *err, size_t errlen)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return ctl_errf(err, errlen, "cannot start the sync: fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		_exit(child_main(c, p));
	}
	setpgid(pid, pid);
	*out = pid;
	return 0;
}

/* ---------------------------------------------------------------- results */

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n + 4096 > cap) {
			char *g = realloc(buf, cap = cap * 2 + 8192);
			if (!g)
				break;
			buf = g;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	if (buf)
		buf[n] = 0;
	*len = n;
	return buf;
}

void ctl_plan_collect(const ctl_config *c, const ctl_plan *p, ctl_mover_report *report, char **logs)
{
	memset(report, 0, sizeof(*report));
	*logs = NULL;
	size_t len = 0;
	char *out = read_all(p->out_path, &len);
	if (out) {
		while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
			out[--len] = 0;
		char *last = strrchr(out, '\n');
		last = last ? last + 1 : out;
		if (ctl_mover_report_parse(last, strlen(last), report) != 0)
			memset(report, 0, sizeof(*report));
		free(out);
	}
	char *log = read_all(p->log_path, &len);
	if (!log)
		return;
	while (len && log[len - 1] == '\n')
		log[--len] = 0;
	/* The last log_lines lines, as VolSync keeps the tail of the mover's log. */
	size_t start = len;
	unsigned lines = 0;
	while (start > 0 && lines < c->log_lines) {
		start--;
		if (start == 0 || log[start - 1] == '\n') {
			lines++;
		}
	}
	if (c->log_lines == 0)
		start = len;
	*logs = strdup(log + start);
	free(log);
}
