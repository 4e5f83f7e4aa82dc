/* Status files and their kubectl-style printing.
 * File: libconfig, one top-level setting per struct field under the struct's own name;
 * times (and the duration) are 64-bit integers of Unix nanoseconds (`123L`), unset values
 * are left out. Unknown settings are ignored, so a newer controller's file still loads. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>
#include <yaml.h>

#include <coffer/json.h>
#include <coffer/snapshot.h>

#include "ctl_util.h"
#include "ctl_status.h"

#define NS_PER_SECOND 1000000000LL
#define NAME_MAX_LEN 253
#define STATUS_FILE_MAX (16u << 20)

void ctl_status_init(ctl_status *s)
{
	memset(s, 0, sizeof(*s));
}

enum field_type { FIELD_STRING, FIELD_INT64, FIELD_UINT };

static const struct status_field {
	const char *key;
	enum field_type type;
	size_t offset;
} status_fields[] = {
#define STRING_FIELD(f) { #f, FIELD_STRING, offsetof(ctl_status, f) }
#define INT64_FIELD(f) { #f, FIELD_INT64, offsetof(ctl_status, f) }
	STRING_FIELD(kind),
	{ "namespace", FIELD_STRING, offsetof(ctl_status, namespace_) },
	STRING_FIELD(name),
	INT64_FIELD(last_sync_time),
	INT64_FIELD(last_sync_start_time),
	INT64_FIELD(last_sync_duration_ns),
	INT64_FIELD(next_sync_time),
	STRING_FIELD(last_manual_sync),
	STRING_FIELD(mover_result),
	STRING_FIELD(mover_logs),
	STRING_FIELD(cond_status),
	STRING_FIELD(cond_reason),
	STRING_FIELD(cond_message),
	INT64_FIELD(cond_transition_time),
	INT64_FIELD(last_maintenance),
	STRING_FIELD(last_snapshot),
	STRING_FIELD(latest_image),
	STRING_FIELD(spec_digest),
	{ "failures", FIELD_UINT, offsetof(ctl_status, failures) },
	INT64_FIELD(retry_time),
#undef STRING_FIELD
#undef INT64_FIELD
};
#define STATUS_FIELD_COUNT (sizeof(status_fields) / sizeof(status_fields[0]))

#define FIELD_PTR(s, f, type) ((type *)(void *)((char *)(s) + (f)->offset))

void ctl_status_clear(ctl_status *s)
{
	for (size_t i = 0; i < STATUS_FIELD_COUNT; i++)
		if (status_fields[i].type == FIELD_STRING)
			free(*FIELD_PTR(s, &status_fields[i], char *));
	ctl_status_init(s);
}

int ctl_status_set(char **field, const char *value)
{
	char *copy = NULL;
	if (value && !(copy = strdup(value)))
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

/* ------------------------------------------------------------------ paths */

static int kind_ok(const char *kind)
{
	return kind && (strcmp(kind, "ReplicationSource") == 0 || strcmp(kind, "ReplicationDestination") == 0);
}

/* A namespace or object name that stays one path component: no '/', no "..", not hidden
 * (our temporary files start with '.'), no control characters, 1-253 bytes. */
static int name_ok(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > NAME_MAX_LEN || name[0] == '.' || strchr(name, '/') || strstr(name, ".."))
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static char *join(const char *a, const char *b, const char *c, const char *d, const char *suffix)
{
	size_t len = strlen(a) + strlen(b) + strlen(c) + strlen(d) + strlen(suffix) + 5;
	char *out = malloc(len);
	if (out)
		snprintf(out, len, "%s%s%s%s%s%s%s%s", a, *b ? "/" : "", b, *c ? "/" : "", c, *d ? "/" : "", d, suffix);
	return out;
}

char *ctl_status_path(const char *state_dir, const char *kind, const char *namespace_, const char *name)
{
	if (!state_dir || !*state_dir || !kind_ok(kind) || !name_ok(namespace_) || !name_ok(name))
		return NULL;
	size_t len = strlen(state_dir) + strlen(kind) + strlen(namespace_) + strlen(name) + 32;
	char *out = malloc(len);
	if (out)
		snprintf(out, len, "%s/status/%s/%s/%s.conf", state_dir, kind, namespace_, name);
	return out;
}

static int check_names(const char *state_dir, const char *kind, const char *namespace_, const char *name, char *err,
                       size_t errlen)
{
	if (!state_dir || !*state_dir)
		return ctl_errf(err, errlen, "status: the state folder is not set");
	if (!kind_ok(kind))
		return ctl_errf(err, errlen, "status: unknown kind \"%.60s\" (ReplicationSource or ReplicationDestination)",
		            kind ? kind : "");
	if (!name_ok(namespace_))
		return ctl_errf(err, errlen, "status: namespace \"%.60s\" cannot be a file name", namespace_ ? namespace_ : "");
	if (!name_ok(name))
		return ctl_errf(err, errlen, "status: name \"%.60s\" cannot be a file name", name ? name : "");
	return 0;
}

/* ------------------------------------------------------------------ load */

static char *read_whole_file(const char *path, int *error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error = errno;
		return NULL;
	}
	struct stat st;
	*error = fstat(fd, &st) != 0                        ? errno
	         : !S_ISREG(st.st_mode)                     ? EISDIR
	         : (uint64_t)st.st_size > STATUS_FILE_MAX ? EFBIG
	                                                  : 0;
	if (*error) {
		close(fd);
		return NULL;
	}
	size_t size = (size_t)st.st_size, used = 0;
	char *buf = malloc(size + 1);
	if (!buf) {
		*error = ENOMEM;
		close(fd);
		return NULL;
	}
	while (used < size) {
		ssize_t n = read(fd, buf + used, size - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error = n < 0 ? errno : EIO;
			free(buf);
			close(fd);
			return NULL;
		}
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	if (strlen(buf) != used) {
		free(buf);
		*error = EILSEQ;
		return NULL;
	}
	return buf;
}

/* libconfig would follow "@include" lines; a status file never has one. */
static unsigned int include_line(const char *text)
{
	unsigned int line = 1;
	for (const char *p = text; *p;) {
		p += strspn(p, " \t\r");
		if (strncmp(p, "@include", 8) == 0)
			return line;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
		line++;
	}
	return 0;
}

static int load_setting(const char *path, config_setting_t *set, const struct status_field *f, ctl_status *out,
                        char *err, size_t errlen)
{
	int type = config_setting_type(set);
	unsigned int line = config_setting_source_line(set);
	switch (f->type) {
	case FIELD_STRING:
		if (type != CONFIG_TYPE_STRING)
			return ctl_errf(err, errlen, "%s:%u: %s must be a string", path, line, f->key);
		if (ctl_status_set(FIELD_PTR(out, f, char *), config_setting_get_string(set)) != 0)
			return ctl_errf(err, errlen, "%s: out of memory", path);
		return 0;
	case FIELD_INT64:
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
			return ctl_errf(err, errlen, "%s:%u: %s must be an integer (nanoseconds)", path, line, f->key);
		*FIELD_PTR(out, f, int64_t) = (int64_t)config_setting_get_int64(set);
		return 0;
	case FIELD_UINT: {
		long long v = (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) ? config_setting_get_int64(set) : -1;
		if (v < 0 || v > UINT_MAX)
			return ctl_errf(err, errlen, "%s:%u: %s must be an integer from 0 to %u", path, line, f->key, UINT_MAX);
		*FIELD_PTR(out, f, unsigned int) = (unsigned int)v;
		return 0;
	}
	}
	return 0;
}

static int load_text(const char *path, const char *text, ctl_status *out, char *err, size_t errlen)
{
	unsigned int bad = include_line(text);
	if (bad)
		return ctl_errf(err, errlen, "%s:%u: @include is not allowed in a status file", path, bad);
	config_t cfg;
	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		ctl_errf(err, errlen, "%s:%d: %s", path, config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		return -1;
	}
	config_setting_t *root = config_root_setting(&cfg);
	int rc = 0;
	for (int i = 0; rc == 0 && i < config_setting_length(root); i++) {
		config_setting_t *set = config_setting_get_elem(root, (unsigned int)i);
		const char *key = config_setting_name(set);
		for (size_t k = 0; key && k < STATUS_FIELD_COUNT; k++)
			if (strcmp(key, status_fields[k].key) == 0)
				rc = load_setting(path, set, &status_fields[k], out, err, errlen);
	}
	config_destroy(&cfg);
	return rc;
}

int ctl_status_load(const char *state_dir, const char *kind, const char *namespace_, const char *name,
                    ctl_status *out, char *err, size_t errlen)
{
	ctl_status_init(out);
	if (check_names(state_dir, kind, namespace_, name, err, errlen) != 0)
		return -1;
	char *path = ctl_status_path(state_dir, kind, namespace_, name);
	if (!path)
		return ctl_errf(err, errlen, "status: out of memory");
	int error = 0, rc = 0;
	char *text = read_whole_file(path, &error);
	if (text) {
		rc = load_text(path, text, out, err, errlen);
		free(text);
	} else if (error == EILSEQ) {
		rc = ctl_errf(err, errlen, "%s: holds a NUL byte, not a status file", path);
	} else if (error == EFBIG) {
		rc = ctl_errf(err, errlen, "%s: larger than %u bytes, not a status file", path, STATUS_FILE_MAX);
	} else if (error != ENOENT) {
		rc = ctl_errf(err, errlen, "%s: %s", path, strerror(error));
	}
	free(path);
	/* The file's location, not its content, says which object it belongs to. */
	if (rc == 0 && (ctl_status_set(&out->kind, kind) != 0 || ctl_status_set(&out->namespace_, namespace_) != 0 ||
	                ctl_status_set(&out->name, name) != 0))
		rc = ctl_errf(err, errlen, "status: out of memory");
	if (rc != 0)
		ctl_status_clear(out);
	return rc;
}

/* ------------------------------------------------------------------ save */

/* mkdir -p for the part of `dir` below `base` (base is created too when missing). */
static int make_dirs(char *dir, size_t base_len, char *err, size_t errlen)
{
	for (size_t i = base_len;; i++) {
		if (dir[i] == '/' || dir[i] == '\0') {
			char c = dir[i];
			dir[i] = '\0';
			int rc = mkdir(dir, 0700);
			int e = errno;
			if (rc != 0 && e == ENOENT && i == base_len) {
				/* state_dir's own parents: create them the same way. */
				char *slash = strrchr(dir, '/');
				if (slash && slash != dir) {
					*slash = '\0';
					rc = make_dirs(dir, 1, err, errlen);
					*slash = '/';
					if (rc != 0) {
						dir[i] = c;
						return -1;
					}
					rc = mkdir(dir, 0700);
					e = errno;
				}
			}
			if (rc != 0 && e != EEXIST) {
				ctl_errf(err, errlen, "%s: cannot create the folder: %s", dir, strerror(e));
				dir[i] = c;
				return -1;
			}
			dir[i] = c;
			if (c == '\0')
				return 0;
		}
	}
}

static int fill_config(config_t *cfg, const ctl_status *s)
{
	config_setting_t *root = config_root_setting(cfg);
	for (size_t i = 0; i < STATUS_FIELD_COUNT; i++) {
		const struct status_field *f = &status_fields[i];
		config_setting_t *set;
		if (f->type == FIELD_STRING) {
			const char *v = *FIELD_PTR(s, f, char *const);
			if (v && (!(set = config_setting_add(root, f->key, CONFIG_TYPE_STRING)) ||
			          !config_setting_set_string(set, v)))
				return -1;
			continue;
		}
		long long v = f->type == FIELD_INT64 ? (long long)*FIELD_PTR(s, f, const int64_t)
		                                     : (long long)*FIELD_PTR(s, f, const unsigned int);
		if (v && (!(set = config_setting_add(root, f->key, CONFIG_TYPE_INT64)) || !config_setting_set_int64(set, v)))
			return -1;
	}
	return 0;
}

int ctl_status_save(const char *state_dir, const ctl_status *s, char *err, size_t errlen)
{
	if (check_names(state_dir, s->kind, s->namespace_, s->name, err, errlen) != 0)
		return -1;
	char *path = ctl_status_path(state_dir, s->kind, s->namespace_, s->name);
	char *dir = path ? join(state_dir, "status", s->kind, s->namespace_, "") : NULL;
	char *tmp = NULL;
	size_t tlen = dir ? strlen(dir) + strlen(s->name) + 24 : 0;
	int rc = -1, fd = -1;
	FILE *f = NULL;
	config_t cfg;
	config_init(&cfg);
	if (!path || !dir || !(tmp = malloc(tlen))) {
		ctl_errf(err, errlen, "status: out of memory");
		goto done;
	}
	snprintf(tmp, tlen, "%s/.%s.conf.XXXXXX", dir, s->name);
	if (make_dirs(dir, strlen(state_dir), err, errlen) != 0)
		goto done;
	if (fill_config(&cfg, s) != 0) {
		ctl_errf(err, errlen, "%s: cannot build the status (out of memory)", path);
		goto done;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		ctl_errf(err, errlen, "%s: cannot create a temporary file: %s", dir, strerror(errno));
		goto done;
	}
	if (!(f = fdopen(fd, "w"))) {
		ctl_errf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto done;
	}
	config_write(&cfg, f);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
		ctl_errf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		goto done;
	}
	if (fclose(f) != 0) {
		ctl_errf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
		unlink(tmp);
		goto done;
	}
	if (rename(tmp, path) != 0) {
		ctl_errf(err, errlen, "%s: cannot replace: %s", path, strerror(errno));
		unlink(tmp);
		goto done;
	}
	/* The rename itself must survive a crash too. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	rc = 0;
done:
	config_destroy(&cfg);
	free(tmp);
	free(dir);
	free(path);
	return rc;
}

/* ------------------------------------------------------------------ load_all */

/* The folders (want_dirs) or the *.conf files, without ".conf", in base/child, whose path is
 * returned in *path; hidden names and names a status cannot have are skipped. */
static int list_dir(const char *base, const char *child, int want_dirs, char **path, char ***names, size_t *count,
                    char *err, size_t errlen)
{
	*names = NULL;
	*count = 0;
	if (!(*path = join(base, child, "", "", "")))
		return ctl_errf(err, errlen, "status: out of memory");
	DIR *d = opendir(*path);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return ctl_errf(err, errlen, "%s: %s", *path, strerror(errno));
	}
	size_t cap = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		size_t len = strlen(n);
		if (n[0] == '.')
			continue;
		char *item;
		if (want_dirs) {
			item = strdup(n);
		} else {
			if (len <= 5 || strcmp(n + len - 5, ".conf") != 0)
				continue;
			item = strndup(n, len - 5);
		}
		if (item && *count == cap) {
			cap = cap ? cap * 2 : 16;
			char **grown = realloc(*names, cap * sizeof(**names));
			if (!grown) {
				free(item);
				item = NULL;
			} else {
				*names = grown;
			}
		}
		if (!item) {
			rc = ctl_errf(err, errlen, "%s: out of memory", *path);
			break;
		}
		if (!name_ok(item)) {
			free(item);
			continue;
		}
		(*names)[(*count)++] = item;
	}
	closedir(d);
	return rc;
}

static void free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

static int compare_status(const void *a, const void *b)
{
	const ctl_status *x = a, *y = b;
	int c = strcmp(x->kind, y->kind);
	if (!c)
		c = strcmp(x->namespace_, y->namespace_);
	return c ? c : strcmp(x->name, y->name);
}

int ctl_status_load_all(const char *state_dir, ctl_status **out, size_t *count, char *err, size_t errlen)
{
	static const char *const kinds[] = { "ReplicationDestination", "ReplicationSource" };
	ctl_status *items = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	*out = NULL;
	*count = 0;
	char *status_dir = join(state_dir, "status", "", "", "");
	if (!status_dir)
		return ctl_errf(err, errlen, "status: out of memory");
	for (size_t k = 0; rc == 0 && k < 2; k++) {
		char *kind_dir = NULL, **spaces = NULL;
		size_t space_count = 0;
		rc = list_dir(status_dir, kinds[k], 1, &kind_dir, &spaces, &space_count, err, errlen);
		for (size_t i = 0; rc == 0 && i < space_count; i++) {
			char *ns_dir = NULL, **names = NULL;
			size_t name_count = 0;
			rc = list_dir(kind_dir, spaces[i], 0, &ns_dir, &names, &name_count, err, errlen);
			for (size_t j = 0; rc == 0 && j < name_count; j++) {
				if (n == cap) {
					size_t ncap = cap ? cap * 2 : 16;
					ctl_status *grown = realloc(items, ncap * sizeof(*items));
					if (!grown) {
						rc = ctl_errf(err, errlen, "status: out of memory");
						break;
					}
					items = grown;
					cap = ncap;
				}
				rc = ctl_status_load(state_dir, kinds[k], spaces[i], names[j], &items[n], err, errlen);
				if (rc == 0)
					n++;
			}
			free_names(names, name_count);
			free(ns_dir);
		}
		free_names(spaces, space_count);
		free(kind_dir);
	}
	free(status_dir);
	if (rc != 0) {
		for (size_t i = 0; i < n; i++)
			ctl_status_clear(&items[i]);
		free(items);
		return -1;
	}
	if (n)
		qsort(items, n, sizeof(*items), compare_status);
	*out = items;
	*count = n;
	return 0;
}

/* ------------------------------------------------------------------ durations */

/* Go's fmtFrac: the fraction of v with prec digits, trailing zeros dropped. */
static char *put_frac(char *p, char *start, uint64_t *v, int prec)
{
	int print = 0;
	for (int i = 0; i < prec; i++) {
		unsigned int digit = (unsigned int)(*v % 10);
		print = print || digit != 0;
		if (print && p > start)
			*--p = (char)('0' + digit);
		*v /= 10;
	}
	if (print && p > start)
		*--p = '.';
	return p;
}

static char *put_int(char *p, char *start, uint64_t v)
{
	do {
		if (p > start)
			*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

void ctl_format_duration(int64_t ns, char *out, size_t cap)
{
	char buf[40];
	char *end = buf + sizeof(buf), *p = end;
	uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

	if (!cap)
		return;
	if (u < (uint64_t)NS_PER_SECOND) {
		/* Below a second: ns, µs or ms with a fraction. */
		int prec = 0;
		const char *unit;
		if (u == 0) {
			snprintf(out, cap, "0s");
			return;
		} else if (u < 1000) {
			unit = "ns";
		} else if (u < 1000000) {
			prec = 3;
			unit = "\xc2\xb5s";
		} else {
			prec = 6;
			unit = "ms";
		}
		size_t ulen = strlen(unit);
		p -= ulen;
		memcpy(p, unit, ulen);
		p = put_frac(p, buf, &u, prec);
		p = put_int(p, buf, u);
	} else {
		*--p = 's';
		p = put_frac(p, buf, &u, 9);
		p = put_int(p, buf, u % 60);
		u /= 60;
		if (u > 0) {
			*--p = 'm';
			p = put_int(p, buf, u % 60);
			u /= 60;
			if (u > 0) {
				*--p = 'h';
				p = put_int(p, buf, u);
			}
		}
	}
	if (ns < 0)
		*--p = '-';
	snprintf(out, cap, "%.*s", (int)(end - p), p);
}

/* ------------------------------------------------------------------ printing */

/* The object is first built as a small tree whose maps keep their keys sorted (kubectl
 * prints keys in byte order), then written as YAML with libyaml or as JSON. */
enum node_type { NODE_MAP, NODE_SEQ, NODE_STRING, NODE_INT, NODE_BOOL };

typedef struct node {
	enum node_type type;
	const char *key;           /* in a map: a static string */
	char *text;                /* NODE_STRING: valid UTF-8 */
	int64_t number;
	struct node *first, *next;
} node;

typedef struct tree {
	int failed;
} tree;

static void node_free(node *n)
{
	while (n) {
		node *next = n->next;
		node_free(n->first);
		free(n->text);
		free(n);
		n = next;
	}
}

/* Appends to a sequence, or inserts into a map in key order. */
static node *node_add(tree *t, node *parent, const char *key, enum node_type type)
{
	if (!parent)
		return NULL;
	node *n = calloc(1, sizeof(*n));
	if (!n) {
		t->failed = 1;
		return NULL;
	}
	n->type = type;
	n->key = key;
	node **at = &parent->first;
	if (parent->type == NODE_MAP)
		while (*at && strcmp((*at)->key, key) < 0)
			at = &(*at)->next;
	else
		while (*at)
			at = &(*at)->next;
	n->next = *at;
	*at = n;
	return n;
}

/* Copies s, replacing bytes that are not UTF-8 with U+FFFD as Go's encoders do. */
static char *utf8_copy(const char *s)
{
	size_t len = strlen(s);
	char *out = malloc(len * 3 + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s;
	if (!out)
		return NULL;
	while (*p) {
		size_t n = 0;
		uint32_t cp = 0;
		if (*p < 0x80) {
			n = 1;
		} else if (*p >= 0xc2 && *p <= 0xdf) {
			n = 2, cp = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			n = 3, cp = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			n = 4, cp = *p & 0x07;
		}
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80) {
				n = 0;
				break;
			}
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			n = 0;
		if (n == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		} else {
			memcpy(o, p, n);
			o += n;
			p += n;
		}
	}
	*o = '\0';
	return out;
}

static void add_string(tree *t, node *parent, const char *key, const char *value)
{
	if (!value)
		return;
	node *n = node_add(t, parent, key, NODE_STRING);
	if (n && !(n->text = utf8_copy(value)))
		t->failed = 1;
}

static void add_int(tree *t, node *parent, const char *key, int64_t value)
{
	node *n = node_add(t, parent, key, NODE_INT);
	if (n)
		n->number = value;
}

static void add_bool(tree *t, node *parent, const char *key, int value)
{
	node *n = node_add(t, parent, key, NODE_BOOL);
	if (n)
		n->number = value != 0;
}

/* metav1.Time: RFC 3339 in UTC, whole seconds. 0 is unset. */
static void add_time(tree *t, node *parent, const char *key, int64_t ns)
{
	if (!ns)
		return;
	char text[40];
	coffer_time_format_rfc3339(ns, text);
	/* The instant is floored to whole seconds already; drop the fraction. */
	char *dot = strchr(text, '.');
	if (dot)
		memcpy(dot, "Z", 2);
	add_string(t, parent, key, text);
}

static void add_set_string(tree *t, node *parent, const char *key, const char *value)
{
	if (value && *value)
		add_string(t, parent, key, value);
}

static void add_number(tree *t, node *parent, const char *key, long long value)
{
	if (value >= 0)
		add_int(t, parent, key, value);
}

/* A byte count as Kubernetes writes a quantity: "8Gi", "500M", "1234". */
static void add_quantity(tree *t, node *parent, const char *key, uint64_t bytes)
{
	static const char *const binary[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
	static const char *const decimal[] = { "", "k", "M", "G", "T", "P", "E" };
	char text[32];
	unsigned int b = 0, d = 0;
	uint64_t vb = bytes, vd = bytes;
	if (!bytes)
		return;
	while (b < 6 && vb % 1024 == 0)
		vb /= 1024, b++;
	while (d < 6 && vd % 1000 == 0)
		vd /= 1000, d++;
	if (d > 0 && (b == 0 || vd < vb))
		snprintf(text, sizeof(text), "%" PRIu64 "%s", vd, decimal[d]);
	else
		snprintf(text, sizeof(text), "%" PRIu64 "%s", vb, binary[b]);
	add_string(t, parent, key, text);
}

/* A map of the strings that are set, left out when none is. */
static void add_string_map(tree *t, node *parent, const char *key, size_t n, const char *const keys[],
                           const char *const values[])
{
	node *map = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!values[i])
			continue;
		if (!map)
			map = node_add(t, parent, key, NODE_MAP);
		add_string(t, map, keys[i], values[i]);
	}
}

/* Only what the manifest set, with VolSync's field names. */
static void add_spec(tree *t, node *object, const ctl_replication *r)
{
	static const char *const copy_methods[] = { "Direct", "Clone", "Snapshot" };
	node *spec = node_add(t, object, "spec", NODE_MAP);
	if (r->paused > 0)
		add_bool(t, spec, "paused", 1);
	add_string(t, spec, "sourcePVC", r->source_pvc);
	add_string_map(t, spec, "trigger", 2, (const char *const[]){ "schedule", "manual" },
	               (const char *const[]){ r->schedule, r->manual });
	node *k = node_add(t, spec, "kopia", NODE_MAP);
	add_string(t, k, "repository", r->repository);
	add_string_map(t, k, "customCA", 3, (const char *const[]){ "secretName", "configMapName", "key" },
	               (const char *const[]){ r->ca_secret, r->ca_configmap, r->ca_key });
	const long long retain[6] = { r->retain_hourly,  r->retain_daily,  r->retain_weekly,
		                      r->retain_monthly, r->retain_yearly, r->retain_latest };
	static const char *const retain_keys[6] = { "hourly", "daily", "weekly", "monthly", "yearly", "latest" };
	node *ret = NULL;
	for (int i = 0; i < 6; i++) {
		if (retain[i] < 0)
			continue;
		if (!ret)
			ret = node_add(t, k, "retain", NODE_MAP);
		add_int(t, ret, retain_keys[i], retain[i]);
	}
	add_string(t, k, "compression", r->compression);
	add_number(t, k, "parallelism", r->parallelism);
	if ((unsigned int)r->copy_method < 3)
		add_string(t, k, "copyMethod", copy_methods[r->copy_method]);
	add_number(t, k, "maintenanceIntervalDays", r->maintenance_interval_days);
	add_string_map(t, k, "actions", 2, (const char *const[]){ "beforeSnapshot", "afterSnapshot" },
	               (const char *const[]){ r->before_snapshot, r->after_snapshot });
	add_quantity(t, k, "cacheCapacity", r->cache_capacity);
	add_string(t, k, "username", r->username);
	add_string(t, k, "hostname", r->hostname);
	add_string(t, k, "sourcePathOverride", r->source_path_override);
	add_string(t, k, "destinationPVC", r->destination_pvc);
	add_string(t, k, "restoreAsOf", r->restore_as_of);
	add_number(t, k, "shallow", r->shallow);
	add_number(t, k, "previous", r->previous);
	if (r->cleanup_cache_pvc > 0)
		add_bool(t, k, "cleanupCachePVC", 1);
	if (r->enable_file_deletion > 0)
		add_bool(t, k, "enableFileDeletion", 1);
	add_string_map(t, k, "sourceIdentity", 4,
	               (const char *const[]){ "sourceName", "sourceNamespace", "sourcePathOverride", "sourcePVCName" },
	               (const char *const[]){ r->src_name, r->src_namespace, r->src_path_override, r->src_pvc_name });
}

static void add_status(tree *t, node *object, const ctl_status *s)
{
	node *st = node_add(t, object, "status", NODE_MAP);
	if (s->cond_status || s->cond_reason || s->cond_message) {
		node *list = node_add(t, st, "conditions", NODE_SEQ);
		node *c = node_add(t, list, NULL, NODE_MAP);
		add_time(t, c, "lastTransitionTime", s->cond_transition_time);
		add_string(t, c, "message", s->cond_message ? s->cond_message : "");
		add_string(t, c, "reason", s->cond_reason);
		add_string(t, c, "status", s->cond_status ? s->cond_status : "Unknown");
		add_string(t, c, "type", "Synchronizing");
	}
	add_set_string(t, st, "lastManualSync", s->last_manual_sync);
	if (s->last_sync_duration_ns) {
		char text[40];
		ctl_format_duration(s->last_sync_duration_ns, text, sizeof(text));
		add_string(t, st, "lastSyncDuration", text);
	}
	add_time(t, st, "lastSyncStartTime", s->last_sync_start_time);
	add_time(t, st, "lastSyncTime", s->last_sync_time);
	/* logs and lastManualSync are omitempty in VolSync's types */
	add_string_map(t, st, "latestMoverStatus", 2, (const char *const[]){ "logs", "result" },
	               (const char *const[]){ s->mover_logs && *s->mover_logs ? s->mover_logs : NULL, s->mover_result });
	add_time(t, st, "nextSyncTime", s->next_sync_time);
	if (s->last_maintenance)
		add_time(t, node_add(t, st, "kopia", NODE_MAP), "lastMaintenance", s->last_maintenance);
	if (s->last_snapshot || s->failures || s->retry_time || s->latest_image) {
		node *c = node_add(t, st, "coffer", NODE_MAP);
		add_string(t, c, "lastSnapshot", s->last_snapshot);
		if (s->failures)
			add_int(t, c, "failures", s->failures);
		add_time(t, c, "retryTime", s->retry_time);
		add_string(t, c, "latestImage", s->latest_image);
	}
}

static void add_object(tree *t, node *object, const ctl_status *s, const ctl_replication *spec)
{
	const char *kind = s->kind, *ns = s->namespace_, *name = s->name;
	if (spec) {
		kind = kind ? kind : spec->kind == CTL_KIND_DESTINATION ? "ReplicationDestination" : "ReplicationSource";
		ns = ns ? ns : spec->namespace_;
		name = name ? name : spec->name;
	}
	add_string(t, object, "apiVersion", "volsync.backube/v1alpha1");
	add_string(t, object, "kind", kind);
	node *meta = node_add(t, object, "metadata", NODE_MAP);
	add_string(t, meta, "name", name);
	add_string(t, meta, "namespace", ns);
	if (spec)
		add_spec(t, object, spec);
	add_status(t, object, s);
}

/* Would a plain scalar with this text read back as something other than a string under
 * YAML 1.1 (null, bool, number, timestamp)? Then it is double-quoted, as go-yaml does. */
static int resolves_as_non_string(const char *s)
{
	static const char *const words[] = { "~",     "null", "Null", "NULL", "y",     "Y",     "yes",   "Yes",
		                             "YES",   "n",    "N",    "no",   "No",    "NO",    "true",  "True",
		                             "TRUE",  "false", "False", "FALSE", "on",  "On",    "ON",    "off",
		                             "Off",   "OFF",  "<<",   "=",    ".inf",  ".Inf",  ".INF",  ".nan",
		                             ".NaN",  ".NAN", NULL };
	if (!*s)
		return 1;
	for (size_t i = 0; words[i]; i++)
		if (strcmp(s, words[i]) == 0)
			return 1;
	const char *p = s + (*s == '+' || *s == '-');
	if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0)
		return 1;
	/* Numbers in any YAML 1.1 notation (0x1f, 0o17, 0b101, 1_000, 1:30, 1.5e3, .5): a digit
	 * first (or '.' and a digit), then only characters such numbers use. */
	if ((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9')) {
		if (strspn(p, "0123456789abcdefABCDEFxXoO_.:+-") == strlen(p))
			return 1;
		/* Timestamps: yyyy-m-d... */
		if (strspn(p, "0123456789") == 4 && p[4] == '-' && p[5] >= '0' && p[5] <= '9')
			return 1;
	}
	return 0;
}

typedef struct yaml_out {
	yaml_emitter_t emitter;
	yaml_event_t event;
	int failed;
} yaml_out;

static int write_file(void *data, unsigned char *buffer, size_t size)
{
	return fwrite(buffer, 1, size, data) == size;
}

static void yaml_emit(yaml_out *y)
{
	if (y->failed || !yaml_emitter_emit(&y->emitter, &y->event))
		y->failed = 1;
}

static void yaml_scalar(yaml_out *y, const char *text, yaml_scalar_style_t style)
{
	if (y->failed || !yaml_scalar_event_initialize(&y->event, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), 1,
	                                                1, style)) {
		y->failed = 1;
		return;
	}
	yaml_emit(y);
}

static void yaml_string(yaml_out *y, const char *text)
{
	yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
	if (strchr(text, '\n'))
		style = YAML_LITERAL_SCALAR_STYLE;
	else if (resolves_as_non_string(text))
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	yaml_scalar(y, text, style);
}

static void yaml_node(yaml_out *y, const node *n)
{
	char number[32];
	switch (n->type) {
	case NODE_MAP:
	case NODE_SEQ:
		if (y->failed)
			return;
		if (n->type == NODE_MAP)
			yaml_mapping_start_event_initialize(&y->event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		else
			yaml_sequence_start_event_initialize(&y->event, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		yaml_emit(y);
		for (const node *c = n->first; c; c = c->next) {
			if (n->type == NODE_MAP)
				yaml_string(y, c->key);
			yaml_node(y, c);
		}
		if (y->failed)
			return;
		if (n->type == NODE_MAP)
			yaml_mapping_end_event_initialize(&y->event);
		else
			yaml_sequence_end_event_initialize(&y->event);
		yaml_emit(y);
		break;
	case NODE_STRING:
		yaml_string(y, n->text);
		break;
	case NODE_INT:
		snprintf(number, sizeof(number), "%" PRId64, n->number);
		yaml_scalar(y, number, YAML_PLAIN_SCALAR_STYLE);
		break;
	case NODE_BOOL:
		yaml_scalar(y, n->number ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
		break;
	}
}

static int print_yaml(FILE *out, const node *root)
{
	yaml_out y = { .failed = 0 };
	if (!yaml_emitter_initialize(&y.emitter))
		return -1;
	yaml_emitter_set_output(&y.emitter, write_file, out);
	yaml_emitter_set_unicode(&y.emitter, 1);
	yaml_emitter_set_indent(&y.emitter, 2);
	yaml_emitter_set_width(&y.emitter, -1);
	yaml_stream_start_event_initialize(&y.event, YAML_UTF8_ENCODING);
	yaml_emit(&y);
	if (!y.failed)
		yaml_document_start_event_initialize(&y.event, NULL, NULL, NULL, 1);
	yaml_emit(&y);
	yaml_node(&y, root);
	if (!y.failed)
		yaml_document_end_event_initialize(&y.event, 1);
	yaml_emit(&y);
	if (!y.failed)
		yaml_stream_end_event_initialize(&y.event);
	yaml_emit(&y);
	if (!y.failed && !yaml_emitter_flush(&y.emitter))
		y.failed = 1;
	yaml_emitter_delete(&y.emitter);
	return y.failed ? -1 : 0;
}

static void json_node(coffer_json *j, const node *n)
{
	switch (n->type) {
	case NODE_MAP:
		coffer_json_object_begin(j);
		for (const node *c = n->first; c; c = c->next) {
			coffer_json_key(j, c->key);
			json_node(j, c);
		}
		coffer_json_object_end(j);
		break;
	case NODE_SEQ:
		coffer_json_array_begin(j);
		for (const node *c = n->first; c; c = c->next)
			json_node(j, c);
		coffer_json_array_end(j);
		break;
	case NODE_STRING:
		coffer_json_string(j, n->text);
		break;
	case NODE_INT:
		coffer_json_int(j, n->number);
		break;
	case NODE_BOOL:
		coffer_json_bool(j, (int)n->number);
		break;
	}
}

static int print_tree(FILE *out, tree *t, node *root, ctl_output fmt)
{
	int rc = -1;
	if (!t->failed) {
		if (fmt == CTL_OUTPUT_JSON) {
			coffer_json j;
			coffer_json_init(&j, out, 1);
			json_node(&j, root);
			coffer_json_finish(&j);
			rc = 0;
		} else {
			rc = print_yaml(out, root);
		}
	}
	node_free(root);
	if (fflush(out) != 0 || ferror(out))
		rc = -1;
	return rc;
}

int ctl_status_print(FILE *out, const ctl_status *s, const ctl_replication *spec, ctl_output fmt)
{
	tree t = { 0 };
	node *root = calloc(1, sizeof(*root));
	if (!root)
		return -1;
	root->type = NODE_MAP;
	add_object(&t, root, s, spec);
	return print_tree(out, &t, root, fmt);
}

int ctl_status_print_list(FILE *out, const ctl_status *const *s, const ctl_replication *const *specs, size_t count,
                          ctl_output fmt)
{
	tree t = { 0 };
	node *root = calloc(1, sizeof(*root));
	if (!root)
		return -1;
	root->type = NODE_MAP;
	add_string(&t, root, "apiVersion", "v1");
	node *items = node_add(&t, root, "items", NODE_SEQ);
	for (size_t i = 0; i < count; i++)
		add_object(&t, node_add(&t, items, NULL, NODE_MAP), s[i], specs ? specs[i] : NULL);
	add_string(&t, root, "kind", "List");
	add_string(&t, node_add(&t, root, "metadata", NODE_MAP), "resourceVersion", "");
	return print_tree(out, &t, root, fmt);
}
