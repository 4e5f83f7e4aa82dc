/* VolSync manifests: libyaml documents checked against the ReplicationSource,
 * ReplicationDestination, Secret and ConfigMap schemas (docs/controller.md lists the fields).
 * Scalars are typed as Kubernetes' YAML decoder types them, so what the API server would
 * reject is an error here too. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <yaml.h>

#include <coffer/error.h>
#include <coffer/snapshot.h>

#include "ctl_manifest.h"

#define VOLSYNC_API "volsync.backube/v1alpha1"
#define MAX_FILE_SIZE (64u << 20)
#define SHOWN_VALUE_MAX 60
/* Aliases can make a small text expand without bound, or refer to themselves. */
#define CANON_MAX_DEPTH 64
#define CANON_MAX_BYTES (16u << 20)

/* ---- growable string ---- */

typedef struct strbuf {
	char *p;
	size_t len, cap;
	int oom;
} strbuf;

static void sb_addn(strbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_add(strbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void sb_vprintf(strbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void sb_vprintf(strbuf *b, const char *fmt, va_list ap)
{
	char small[256];
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		sb_addn(b, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->oom = 1;
		return;
	}
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	sb_addn(b, big, (size_t)n);
	free(big);
}

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(b, fmt, ap);
	va_end(ap);
}

/* User text for a message: control bytes become '?', long text is cut. */
static void sanitize(char *dst, size_t cap, const char *src, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 4 < cap; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (o + 4 >= cap && len > o) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/* ---- result lists ---- */

/* Arrays grow by doubling: capacity is the next power of two at or above count. */
static int grow(void **array, size_t count, size_t size)
{
	if (count && (count & (count - 1)))
		return 0;
	size_t cap = count ? count * 2 : 1;
	void *p = realloc(*array, cap * size);
	if (!p)
		return -1;
	*array = p;
	return 0;
}

static int push_message(char ***list, size_t *count, char *msg)
{
	if (grow((void **)list, *count, sizeof(char *))) {
		free(msg);
		return -1;
	}
	(*list)[(*count)++] = msg;
	return 0;
}

/* ---- one document ---- */

typedef enum seen_flag {
	SEEN_KOPIA = 1,
	SEEN_CUSTOM_CA = 2,
	SEEN_SOURCE_IDENTITY = 4
} seen_flag;

typedef struct doc_ctx {
	ctl_manifests *m;
	const char *file;
	unsigned int doc_no;
	unsigned int line;
	yaml_document_t *doc;
	char kind[64];           /* for the message prefix, "" until known */
	char who[320];           /* "NAMESPACE/NAME", "" until known */
	int hide_values;         /* Secret/ConfigMap contents never go into messages */
	unsigned int errors;
	int oom;
	unsigned int seen;       /* seen_flag */
	const char *other_mover; /* first non-kopia mover block */
	char other_mover_path[32];
} doc_ctx;

static void report(doc_ctx *c, int is_error, const yaml_node_t *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report(doc_ctx *c, int is_error, const yaml_node_t *at, const char *fmt, ...)
{
	strbuf b = { 0 };
	sb_printf(&b, "%s: document %u", c->file, c->doc_no);
	if (c->kind[0]) {
		sb_printf(&b, " (%s", c->kind);
		if (c->who[0])
			sb_printf(&b, " %s", c->who);
		sb_add(&b, ")");
	}
	sb_add(&b, ": ");
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(&b, fmt, ap);
	va_end(ap);
	if (at)
		sb_printf(&b, " (line %zu)", at->start_mark.line + 1);
	if (b.oom) {
		free(b.p);
		c->oom = 1;
		return;
	}
	int rc = is_error ? push_message(&c->m->errors, &c->m->error_count, b.p)
	                  : push_message(&c->m->warnings, &c->m->warning_count, b.p);
	if (rc)
		c->oom = 1;
	if (is_error)
		c->errors++;
}

static char *dup_text(doc_ctx *c, const char *s)
{
	char *d = strdup(s);
	if (!d)
		c->oom = 1;
	return d;
}

static yaml_node_t *node_at(doc_ctx *c, int index)
{
	return yaml_document_get_node(c->doc, index);
}

static const char *scalar_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* ---- scalar typing (YAML 1.1 as Kubernetes' decoder resolves plain scalars) ---- */

typedef enum scalar_class {
	SC_NULL,
	SC_BOOL,
	SC_INT,
	SC_FLOAT,
	SC_STRING
} scalar_class;

static int is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static int all_digits(const char *s, const char *allowed_extra)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(*s >= '0' && *s <= '9') && !strchr(allowed_extra, *s))
			return 0;
	return 1;
}

/* Leading zeros are left out: Kubernetes' decoder reads 010 as octal. */
static int is_decimal_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	return all_digits(s, "") && (s[0] != '0' || s[1] == '\0');
}

static int looks_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return s[2] && strspn(s + 2, "0123456789abcdefABCDEF_") == strlen(s + 2);
	if (s[0] == '0' && (s[1] == 'b' || s[1] == 'o'))
		return all_digits(s + 2, "_");
	return all_digits(s, "_");
}

static int looks_float(const char *s)
{
	static const char *const special[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
		                               "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", NULL };
	if (is_one_of(s, special))
		return 1;
	if (*s == '-' || *s == '+')
		s++;
	size_t digits = 0;
	while ((*s >= '0' && *s <= '9') || *s == '_')
		s++, digits++;
	if (*s == '.') {
		s++;
		while ((*s >= '0' && *s <= '9') || *s == '_')
			s++, digits++;
	}
	if (!digits)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!all_digits(s, ""))
			return 0;
		return 1;
	}
	return *s == '\0';
}

static scalar_class classify(const yaml_node_t *n, int *bool_value)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On",
		                             "ON", "y", "Y", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off",
		                              "OFF", "n", "N", NULL };
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return SC_STRING;
	const char *s = scalar_text(n);
	if (strlen(s) != n->data.scalar.length)
		return SC_STRING;
	if (is_one_of(s, nulls))
		return SC_NULL;
	if (is_one_of(s, trues) || is_one_of(s, falses)) {
		if (bool_value)
			*bool_value = is_one_of(s, trues);
		return SC_BOOL;
	}
	if (looks_int(s))
		return SC_INT;
	if (looks_float(s))
		return SC_FLOAT;
	return SC_STRING;
}

static int is_null(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && classify(n, NULL) == SC_NULL;
}

/* "got ..." for a message: the value when it may be shown, else what it is. */
static void describe(doc_ctx *c, const yaml_node_t *n, char *out, size_t cap)
{
	if (n->type == YAML_MAPPING_NODE) {
		snprintf(out, cap, "a mapping");
		return;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		snprintf(out, cap, "a list");
		return;
	}
	scalar_class sc = classify(n, NULL);
	if (c->hide_values) {
		static const char *const names[] = { "null", "a boolean", "an integer", "a number", "a string" };
		snprintf(out, cap, "%s", names[sc]);
		return;
	}
	char shown[SHOWN_VALUE_MAX + 8];
	sanitize(shown, sizeof(shown), scalar_text(n), n->data.scalar.length);
	if (sc == SC_STRING)
		snprintf(out, cap, "\"%s\"", shown);
	else
		snprintf(out, cap, "%s", shown);
}

/* A string value, or NULL after reporting why it is not one. */
static const char *want_string_n(doc_ctx *c, const yaml_node_t *n, const char *path, int allow_nul)
{
	char got[SHOWN_VALUE_MAX + 32];
	describe(c, n, got, sizeof(got));
	if (n->type != YAML_SCALAR_NODE) {
		report(c, 1, n, "%s: expected a string, got %s", path, got);
		return NULL;
	}
	scalar_class sc = classify(n, NULL);
	if (sc != SC_STRING && sc != SC_NULL) {
		report(c, 1, n, "%s: expected a string, got %s (put it in quotes)", path, got);
		return NULL;
	}
	if (!allow_nul && strlen(scalar_text(n)) != n->data.scalar.length) {
		report(c, 1, n, "%s: the value contains a NUL character", path);
		return NULL;
	}
	return scalar_text(n);
}

static const char *want_string(doc_ctx *c, const yaml_node_t *n, const char *path)
{
	return want_string_n(c, n, path, 0);
}

static int want_bool(doc_ctx *c, const yaml_node_t *n, const char *path, int *out)
{
	if (n->type == YAML_SCALAR_NODE && classify(n, out) == SC_BOOL)
		return 0;
	char got[SHOWN_VALUE_MAX + 32];
	describe(c, n, got, sizeof(got));
	report(c, 1, n, "%s: expected true or false, got %s", path, got);
	return -1;
}

/* A non-negative int32, as Kubernetes' *int32 fields take. */
static int want_count(doc_ctx *c, const yaml_node_t *n, const char *path, long long *out)
{
	char got[SHOWN_VALUE_MAX + 32];
	describe(c, n, got, sizeof(got));
	if (n->type != YAML_SCALAR_NODE || classify(n, NULL) != SC_INT) {
		const char *hint = n->type == YAML_SCALAR_NODE && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE
		                           ? " (a quoted string; remove the quotes)"
		                           : "";
		report(c, 1, n, "%s: expected an integer, got %s%s", path, got, hint);
		return -1;
	}
	const char *s = scalar_text(n);
	if (!is_decimal_int(s)) {
		report(c, 1, n, "%s: expected a decimal integer without leading zeros, got %s", path, got);
		return -1;
	}
	if (*s == '-') {
		report(c, 1, n, "%s: must not be negative, got %s", path, got);
		return -1;
	}
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno == ERANGE || v > INT32_MAX) {
		report(c, 1, n, "%s: out of range (at most %d), got %s", path, INT32_MAX, got);
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- schema ---- */

typedef enum field_type {
	F_STRING,        /* char *; "" is stored as NULL (unset) */
	F_BOOL,          /* int */
	F_COUNT,         /* long long, 0..INT32_MAX */
	F_QUANTITY,      /* uint64_t bytes */
	F_TIME,          /* restore_as_of + restore_as_of_ns */
	F_ABS_PATH,      /* char *, must start with '/' */
	F_IDENTITY,      /* char *, Kopia user or host name */
	F_COPY_SOURCE,   /* ctl_copy_method: Direct|None|Clone|Snapshot */
	F_COPY_DEST,     /* ctl_copy_method: Direct|None|Snapshot */
	F_MAP,           /* nested fields in `sub` */
	F_OTHER_MOVER,   /* restic, rsync, ...: reported after the spec is read */
	F_NO_EFFECT,     /* a VolSync field that means nothing on a host */
	F_IGNORED,       /* accepted silently (labels, status, ...) */
	F_CHECK_STRING,  /* a string, not kept */
	F_CHECK_BOOL     /* a boolean, not kept */
} field_type;

typedef struct field {
	const char *key;
	field_type type;
	size_t offset;
	const struct field *sub;
	unsigned int seen;       /* seen_flag set when present and not null */
} field;

#define R(member) offsetof(ctl_replication, member)

static const field trigger_fields[] = {
	{ "schedule", F_STRING, R(schedule), NULL, 0 },
	{ "manual", F_STRING, R(manual), NULL, 0 },
	{ NULL, F_IGNORED, 0, NULL, 0 },
};

static const field custom_ca_fields[] = {
	{ "secretName", F_STRING, R(ca_secret), NULL, 0 },
	{ "configMapName", F_STRING, R(ca_configmap), NULL, 0 },
	{ "key", F_STRING, R(ca_key), NULL, 0 },
	{ NULL, F_IGNORED, 0, NULL, 0 },
};

static const field retain_fields[] = {
	{ "hourly", F_COUNT, R(retain_hourly), NULL, 0 },
	{ "daily", F_COUNT, R(retain_daily), NULL, 0 },
	{ "weekly", F_COUNT, R(retain_weekly), NULL, 0 },
	{ "monthly", F_COUNT, R(retain_monthly), NULL, 0 },
	{ "yearly", F_COUNT, R(retain_yearly), NULL, 0 },
	{ "latest", F_COUNT, R(retain_latest), NULL, 0 },
	{ NULL, F_IGNORED, 0, NULL, 0 },
};

static const field actions_fields[] = {
	{ "beforeSnapshot", F_STRING, R(before_snapshot), NULL, 0 },
	{ "afterSnapshot", F_STRING, R(after_snapshot), NULL, 0 },
	{ NULL, F_IGNORED, 0, NULL, 0 },
};

static const field source_identity_fields[] = {
	{ "sourceName", F_STRING, R(src_name), NULL, 0 },
	{ "sourceNamespace", F_STRING, R(src_namespace), NULL, 0 },
	{ "sourcePVCName", F_STRING, R(src_pvc_name), NULL, 0 },
	{ "sourcePathOverride", F_ABS_PATH, R(src_path_override), NULL, 0 },
	{ NULL, F_IGNORED, 0, NULL, 0 },
};

/* Volume options, MoverConfig and cache placement: Kubernetes scheduling and storage. */
#define NO_EFFECT_FIELDS                                                                           \
	{ "cacheStorageClassName", F_NO_EFFECT, 0, NULL, 0 },                                      \
	{ "cacheAccessModes", F_NO_EFFECT, 0, NULL, 0 },                                           \
	{ "storageClassName", F_NO_EFFECT, 0, NULL, 0 },                                           \
	{ "volumeSnapshotClassName", F_NO_EFFECT, 0, NULL, 0 },                                    \
	{ "capacity", F_NO_EFFECT, 0, NULL, 0 },                                                   \
	{ "accessModes", F_NO_EFFECT, 0, NULL, 0 },                                                \
	{ "moverResources", F_NO_EFFECT, 0, NULL, 0 },                                             \
	{ "moverSecurityContext", F_NO_EFFECT, 0, NULL, 0 },                                       \
	{ "moverServiceAccount", F_NO_EFFECT, 0, NULL, 0 },                                        \
	{ "moverPodLabels", F_NO_EFFECT, 0, NULL, 0 },                                             \
	{ "moverAffinity", F_NO_EFFECT, 0, NULL, 0 },                                              \
	{ "moverVolumes", F_NO_EFFECT, 0, NULL, 0 },                                               \
	{ "metadataCacheSizeLimitMB", F_NO_EFFECT, 0, NULL, 0 },                                   \
	{ "contentCacheSizeLimitMB", F_NO_EFFECT, 0, NULL, 0 },                                    \
	{ "policyConfig", F_NO_EFFECT, 0, NULL, 0 },                                               \
	{ "additionalArgs", F_NO_EFFECT, 0, NULL, 0 }

static const field source_kopia_fields[] = {
	{ "repository", F_STRING, R(repository), NULL, 0 },
	{ "customCA", F_MAP, 0, custom_ca_fields, SEEN_CUSTOM_CA },
	{ "retain", F_MAP, 0, retain_fields, 0 },
	{ "compression", F_STRING, R(compression), NULL, 0 },
	{ "parallelism", F_COUNT, R(parallelism), NULL, 0 },
	{ "copyMethod", F_COPY_SOURCE, R(copy_method), NULL, 0 },
	{ "maintenanceIntervalDays", F_COUNT, R(maintenance_interval_days), NULL, 0 },
	{ "actions", F_MAP, 0, actions_fields, 0 },
	{ "cacheCapacity", F_QUANTITY, R(cache_capacity), NULL, 0 },
	{ "username", F_IDENTITY, R(username), NULL, 0 },
	{ "hostname", F_IDENTITY, R(hostname), NULL, 0 },
	{ "sourcePathOverride", F_ABS_PATH, R(source_path_override), NULL, 0 },
	NO_EFFECT_FIELDS,
	{ NULL, F_IGNORED, 0, NULL, 0 },
};

static const field destination_kopia_fields[] = {
	{ "repository", F_STRING, R(repository), NULL, 0 },
	{ "customCA", F_MAP, 0, custom_ca_fields, SEEN_CUSTOM_CA },
	{ "cacheCapacity", F_QUANTITY, R(cache_capacity), NULL, 0 },
	{ "copyMethod", F_COPY_DEST, R(copy_method), NULL, 0 },
	{ "destinationPVC", F_STRING, R(destination_pvc), NULL, 0 },
	{ "restoreAsOf", F_TIME, R(restore_as_of), NULL, 0 },
	{ "shallow", F_COUNT, R(shallow), NULL, 0 },
	{ "previous", F_COUNT, R(previous), NULL, 0 },
	{ "cleanupCachePVC", F_BOOL, R(cleanup_cache_pvc), NULL, 0 },
	{ "enableFileDeletion", F_BOOL, R(enable_file_deletion), NULL, 0 },
	{ "sourceIdentity", F_MAP, 0, source_identity_fields, SEEN_SOURCE_IDENTITY },
	{ "username", F_IDENTITY, R(username), NULL, 0 },
	{ "hostname", F_IDENTITY, R(hostname), NULL, 0 },
	{ "cleanupTempPVC", F_NO_EFFECT, 0, NULL, 0 },
	NO_EFFECT_FIELDS,
	{ NULL, F_IGNORED, 0, NULL, 0 },
};

#define OTHER_MOVERS                                                                               \
	{ "rsync", F_OTHER_MOVER, 0, NULL, 0 }, { "rsyncTLS", F_OTHER_MOVER, 0, NULL, 0 },         \
	{ "rclone", F_OTHER_MOVER, 0, NULL, 0 }, { "restic", F_OTHER_MOVER, 0, NULL, 0 },          \
	{ "external", F_OTHER_MOVER, 0, NULL, 0 }, { "syncthing", F_OTHER_MOVER, 0, NULL, 0 }

static const field source_spec_fields[] = {
	{ "sourcePVC", F_STRING, R(source_pvc), NULL, 0 },
	{ "trigger", F_MAP, 0, trigger_fields, 0 },
	{ "paused", F_BOOL, R(paused), NULL, 0 },
	{ "kopia", F_MAP, 0, source_kopia_fields, SEEN_KOPIA },
	OTHER_MOVERS,
	{ NULL, F_IGNORED, 0, NULL, 0 },
};

static const field destination_spec_fields[] = {
	{ "trigger", F_MAP, 0, trigger_fields, 0 },
	{ "paused", F_BOOL, R(paused), NULL, 0 },
	{ "kopia", F_MAP, 0, destination_kopia_fields, SEEN_KOPIA },
	OTHER_MOVERS,
	{ NULL, F_IGNORED, 0, NULL, 0 },
};

/* ObjectMeta: name and namespace are read first; the rest is Kubernetes bookkeeping. */
static const field metadata_fields[] = {
	{ "name", F_IGNORED, 0, NULL, 0 },
	{ "namespace", F_IGNORED, 0, NULL, 0 },
	{ "labels", F_IGNORED, 0, NULL, 0 },
	{ "annotations", F_IGNORED, 0, NULL, 0 },
	{ "uid", F_IGNORED, 0, NULL, 0 },
	{ "resourceVersion", F_IGNORED, 0, NULL, 0 },
	{ "generation", F_IGNORED, 0, NULL, 0 },
	{ "generateName", F_IGNORED, 0, NULL, 0 },
	{ "creationTimestamp", F_IGNORED, 0, NULL, 0 },
	{ "deletionTimestamp", F_IGNORED, 0, NULL, 0 },
	{ "deletionGracePeriodSeconds", F_IGNORED, 0, NULL, 0 },
	{ "finalizers", F_IGNORED, 0, NULL, 0 },
	{ "ownerReferences", F_IGNORED, 0, NULL, 0 },
	{ "managedFields", F_IGNORED, 0, NULL, 0 },
	{ "selfLink", F_IGNORED, 0, NULL, 0 },
	{ NULL, F_IGNORED, 0, NULL, 0 },
};

/* apiVersion and kind are checked before the walk; status (kubectl output) is ignored. */
#define OBJECT_FIELDS(spec_fields)                                                                 \
	{ { "apiVersion", F_IGNORED, 0, NULL, 0 }, { "kind", F_IGNORED, 0, NULL, 0 },              \
	  { "metadata", F_MAP, 0, metadata_fields, 0 }, { "spec", F_MAP, 0, spec_fields, 0 },       \
	  { "status", F_IGNORED, 0, NULL, 0 }, { NULL, F_IGNORED, 0, NULL, 0 } }

static const field source_fields[] = OBJECT_FIELDS(source_spec_fields);
static const field destination_fields[] = OBJECT_FIELDS(destination_spec_fields);

/* ---- mappings ---- */

typedef struct key_ref {
	const char *key;
	size_t len;
	size_t index;
} key_ref;

static int key_ref_cmp(const void *a, const void *b)
{
	const key_ref *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Checks the keys of a mapping: each a string, each once (Kubernetes rejects duplicates).
 * Returns a per-pair array, 1 for pairs to skip; NULL when out of memory or empty. */
static unsigned char *check_keys(doc_ctx *c, const yaml_node_t *map, const char *path)
{
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	if (!n)
		return NULL;
	unsigned char *skip = calloc(n, 1);
	key_ref *refs = calloc(n, sizeof(*refs));
	if (!skip || !refs) {
		free(skip);
		free(refs);
		c->oom = 1;
		return NULL;
	}
	size_t nrefs = 0;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *k = node_at(c, map->data.mapping.pairs.start[i].key);
		if (!k || k->type != YAML_SCALAR_NODE) {
			report(c, 1, k, "%s%sa key must be a string, got %s", path, path[0] ? ": " : "",
			       k && k->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
			skip[i] = 1;
			continue;
		}
		refs[nrefs++] = (key_ref){ scalar_text(k), k->data.scalar.length, i };
	}
	if (nrefs > 1)
		qsort(refs, nrefs, sizeof(*refs), key_ref_cmp);
	for (size_t i = 1; i < nrefs; i++) {
		if (refs[i].len == refs[i - 1].len && memcmp(refs[i].key, refs[i - 1].key, refs[i].len) == 0) {
			size_t later = refs[i].index;
			char shown[SHOWN_VALUE_MAX + 8];
			sanitize(shown, sizeof(shown), refs[i].key, refs[i].len);
			yaml_node_t *k = node_at(c, map->data.mapping.pairs.start[later].key);
			report(c, 1, k, "%s%s%s: the key appears more than once", path, path[0] ? "." : "", shown);
			skip[later] = 1;
		}
	}
	free(refs);
	return skip;
}

static void child_path(char *out, size_t cap, const char *parent, const char *key, size_t key_len)
{
	char shown[SHOWN_VALUE_MAX + 8];
	sanitize(shown, sizeof(shown), key, key_len);
	snprintf(out, cap, "%s%s%s", parent, parent[0] ? "." : "", shown);
}

static const field *find_field(const field *fields, const char *key)
{
	for (; fields->key; fields++)
		if (strcmp(fields->key, key) == 0)
			return fields;
	return NULL;
}

static void walk_map(doc_ctx *c, const yaml_node_t *map, const char *path, const field *fields, void *obj);

static int is_identity(const char *s)
{
	size_t n = strlen(s);
	if (n < 2)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || i == n - 1 || !strchr("._-", ch)))
			return 0;
	}
	return 1;
}

static void set_string(doc_ctx *c, void *obj, size_t offset, const char *value)
{
	char **slot = (char **)((char *)obj + offset);
	free(*slot);
	*slot = value[0] ? dup_text(c, value) : NULL;
}

static void apply_copy_method(doc_ctx *c, const yaml_node_t *v, const char *path, int for_source, void *obj)
{
	const char *s = want_string(c, v, path);
	if (!s)
		return;
	ctl_copy_method *slot = (ctl_copy_method *)((char *)obj + offsetof(ctl_replication, copy_method));
	if (strcmp(s, "Direct") == 0 || strcmp(s, "None") == 0)
		*slot = CTL_COPY_DIRECT;
	else if (strcmp(s, "Snapshot") == 0)
		*slot = CTL_COPY_SNAPSHOT;
	else if (strcmp(s, "Clone") == 0 && for_source)
		*slot = CTL_COPY_CLONE;
	else if (strcmp(s, "Clone") == 0)
		report(c, 1, v, "%s: Clone is not allowed for a ReplicationDestination (use Direct, None or Snapshot)",
		       path);
	else {
		char got[SHOWN_VALUE_MAX + 32];
		describe(c, v, got, sizeof(got));
		report(c, 1, v, "%s: must be one of %s, got %s", path,
		       for_source ? "Direct, None, Clone, Snapshot" : "Direct, None, Snapshot", got);
	}
}

static void apply_field(doc_ctx *c, const field *f, const yaml_node_t *v, const char *path, void *obj)
{
	char got[SHOWN_VALUE_MAX + 32];
	const char *s;

	if (f->type == F_IGNORED)
		return;
	if (is_null(v))
		return; /* null is "not set", as in Kubernetes */
	switch (f->type) {
	case F_MAP:
		if (v->type != YAML_MAPPING_NODE) {
			describe(c, v, got, sizeof(got));
			report(c, 1, v, "%s: expected a mapping, got %s", path, got);
			return;
		}
		c->seen |= f->seen;
		walk_map(c, v, path, f->sub, obj);
		return;
	case F_STRING:
		if ((s = want_string(c, v, path)))
			set_string(c, obj, f->offset, s);
		return;
	case F_CHECK_STRING:
		(void)want_string(c, v, path);
		return;
	case F_BOOL:
		(void)want_bool(c, v, path, (int *)((char *)obj + f->offset));
		return;
	case F_CHECK_BOOL: {
		int ignored;
		(void)want_bool(c, v, path, &ignored);
		return;
	}
	case F_COUNT:
		(void)want_count(c, v, path, (long long *)((char *)obj + f->offset));
		return;
	case F_QUANTITY: {
		uint64_t bytes;
		/* A quantity may be written as a number or as a string. */
		if (v->type != YAML_SCALAR_NODE || ctl_parse_quantity(scalar_text(v), &bytes)) {
			describe(c, v, got, sizeof(got));
			report(c, 1, v, "%s: expected a Kubernetes quantity such as 5Gi, 500M or 1073741824, got %s",
			       path, got);
		} else if (bytes == 0) {
			report(c, 1, v, "%s: must be more than 0", path);
		} else {
			*(uint64_t *)((char *)obj + f->offset) = bytes;
		}
		return;
	}
	case F_TIME: {
		int64_t ns;
		if (!(s = want_string(c, v, path)))
			return;
		if (coffer_time_parse_rfc3339(s, &ns)) {
			report(c, 1, v, "%s: %s", path, coffer_error_last()->message);
			coffer_error_clear();
			return;
		}
		ctl_replication *r = obj;
		set_string(c, obj, f->offset, s);
		r->restore_as_of_ns = ns;
		return;
	}
	case F_ABS_PATH:
		if (!(s = want_string(c, v, path)))
			return;
		if (s[0] != '/') {
			describe(c, v, got, sizeof(got));
			report(c, 1, v, "%s: must be an absolute path starting with '/', got %s", path, got);
			return;
		}
		set_string(c, obj, f->offset, s);
		return;
	case F_IDENTITY:
		if (!(s = want_string(c, v, path)))
			return;
		if (!is_identity(s)) {
			describe(c, v, got, sizeof(got));
			report(c, 1, v,
			       "%s: must match ^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$ (letters, digits, '.', '_', '-'; "
			       "at least 2 characters), got %s",
			       path, got);
			return;
		}
		set_string(c, obj, f->offset, s);
		return;
	case F_COPY_SOURCE:
	case F_COPY_DEST:
		apply_copy_method(c, v, path, f->type == F_COPY_SOURCE, obj);
		return;
	case F_OTHER_MOVER:
		if (!c->other_mover) {
			c->other_mover = f->key;
			snprintf(c->other_mover_path, sizeof(c->other_mover_path), "%s", path);
		}
		return;
	case F_NO_EFFECT:
		report(c, 0, v, "%s has no effect on a host (ignored)", path);
		return;
	case F_IGNORED:
		return;
	}
}

static void walk_map(doc_ctx *c, const yaml_node_t *map, const char *path, const field *fields, void *obj)
{
	unsigned char *skip = check_keys(c, map, path);
	if (!skip)
		return;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	for (size_t i = 0; i < n && !c->oom; i++) {
		if (skip[i])
			continue;
		yaml_node_t *k = node_at(c, map->data.mapping.pairs.start[i].key);
		yaml_node_t *v = node_at(c, map->data.mapping.pairs.start[i].value);
		char sub[512];
		child_path(sub, sizeof(sub), path, scalar_text(k), k->data.scalar.length);
		const field *f = find_field(fields, scalar_text(k));
		if (!f || strlen(scalar_text(k)) != k->data.scalar.length)
			report(c, 0, k, "unknown field %s (ignored)", sub);
		else if (v)
			apply_field(c, f, v, sub, obj);
	}
	free(skip);
}

/* The value of `key` in a mapping (first occurrence), or NULL. */
static yaml_node_t *map_get(doc_ctx *c, const yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);
		if (k && k->type == YAML_SCALAR_NODE && strcmp(scalar_text(k), key) == 0 &&
		    strlen(scalar_text(k)) == k->data.scalar.length)
			return node_at(c, p->value);
	}
	return NULL;
}

/* ---- names ---- */

static int is_dns_label_part(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
		if (!alnum && (ch != '-' || i == 0 || i == n - 1))
			return 0;
	}
	return 1;
}

/* DNS-1123 subdomain: dot-separated labels, at most 253 characters in all. */
static int is_dns_subdomain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return 0;
	const char *p = s;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t part = dot ? (size_t)(dot - p) : strlen(p);
		if (!is_dns_label_part(p, part, 253))
			return 0;
		if (!dot)
			return 1;
		p = dot + 1;
	}
}

/* metadata.name and metadata.namespace; copies them on success. */
static int read_metadata(doc_ctx *c, const yaml_node_t *root, char **name_out, char **ns_out)
{
	const yaml_node_t *meta = map_get(c, root, "metadata");
	const char *name = NULL, *ns = "default";
	char got[SHOWN_VALUE_MAX + 32];
	if (!meta || is_null(meta)) {
		report(c, 1, NULL, "metadata.name: required");
		return -1;
	}
	if (meta->type != YAML_MAPPING_NODE) {
		describe(c, meta, got, sizeof(got));
		report(c, 1, meta, "metadata: expected a mapping, got %s", got);
		return -1;
	}
	const yaml_node_t *n = map_get(c, meta, "name");
	if (!n || is_null(n)) {
		report(c, 1, meta, "metadata.name: required");
		return -1;
	}
	if (!(name = want_string(c, n, "metadata.name")))
		return -1;
	if (!is_dns_subdomain(name)) {
		describe(c, n, got, sizeof(got));
		report(c, 1, n,
		       "metadata.name: must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', "
		       "starting and ending with a letter or digit, at most 253 characters), got %s",
		       got);
		return -1;
	}
	const yaml_node_t *nsn = map_get(c, meta, "namespace");
	if (nsn && !is_null(nsn)) {
		if (!(ns = want_string(c, nsn, "metadata.namespace")))
			return -1;
		if (!is_dns_label_part(ns, strlen(ns), 63)) {
			describe(c, nsn, got, sizeof(got));
			report(c, 1, nsn,
			       "metadata.namespace: must be a DNS-1123 label (lower-case letters, digits and '-', "
			       "at most 63 characters), got %s",
			       got);
			return -1;
		}
	}
	snprintf(c->who, sizeof(c->who), "%s/%s", ns, name);
	*name_out = dup_text(c, name);
	*ns_out = dup_text(c, ns);
	return c->oom ? -1 : 0;
}

/* ---- canonical form and digest ---- */

typedef struct canon_ctx {
	doc_ctx *c;
	strbuf out;
	size_t spent;            /* bytes written to all buffers, keys included */
	int too_big;
} canon_ctx;

static void canon_node(canon_ctx *k, const yaml_node_t *n, unsigned int depth, strbuf *out);

static void canon_scalar(const yaml_node_t *n, strbuf *out)
{
	int b = 0;
	const char *s = scalar_text(n);
	size_t len = n->data.scalar.length;
	switch (classify(n, &b)) {
	case SC_NULL:
		sb_add(out, "n");
		return;
	case SC_BOOL:
		sb_add(out, b ? "t" : "f");
		return;
	case SC_INT:
		if (is_decimal_int(s)) {
			int neg = *s == '-';
			if (*s == '-' || *s == '+')
				s++;
			while (s[0] == '0' && s[1])
				s++;
			sb_printf(out, "i%s%zu:%s", neg && strcmp(s, "0") ? "-" : "", strlen(s), s);
			return;
		}
		break;
	case SC_FLOAT:
	case SC_STRING:
		break;
	}
	sb_printf(out, "s%zu:", len);
	sb_addn(out, s, len);
}

typedef struct canon_pair {
	strbuf key;
	size_t index;
} canon_pair;

static int canon_pair_cmp(const void *a, const void *b)
{
	const canon_pair *x = a, *y = b;
	key_ref kx = { x->key.p ? x->key.p : "", x->key.len, x->index };
	key_ref ky = { y->key.p ? y->key.p : "", y->key.len, y->index };
	return key_ref_cmp(&kx, &ky);
}

static void canon_node(canon_ctx *k, const yaml_node_t *n, unsigned int depth, strbuf *out)
{
	if (k->too_big || out->oom)
		return;
	if (!n) {
		sb_add(out, "n");
		return;
	}
	k->spent += 32 + (n->type == YAML_SCALAR_NODE ? n->data.scalar.length : 0);
	if (depth > CANON_MAX_DEPTH || k->spent > CANON_MAX_BYTES) {
		k->too_big = 1;
		return;
	}
	if (n->type == YAML_SCALAR_NODE) {
		canon_scalar(n, out);
	} else if (n->type == YAML_SEQUENCE_NODE) {
		size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
		sb_printf(out, "a%zu[", count);
		for (size_t i = 0; i < count && !k->too_big; i++)
			canon_node(k, node_at(k->c, n->data.sequence.items.start[i]), depth + 1, out);
		sb_add(out, "]");
	} else if (n->type == YAML_MAPPING_NODE) {
		size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
		canon_pair *pairs = count ? calloc(count, sizeof(*pairs)) : NULL;
		if (count && !pairs) {
			out->oom = 1;
			return;
		}
		for (size_t i = 0; i < count; i++) {
			pairs[i].index = i;
			canon_node(k, node_at(k->c, n->data.mapping.pairs.start[i].key), depth + 1, &pairs[i].key);
			if (pairs[i].key.oom)
				out->oom = 1;
		}
		if (!k->too_big && !out->oom) {
			if (count)
				qsort(pairs, count, sizeof(*pairs), canon_pair_cmp);
			sb_printf(out, "m%zu{", count);
			for (size_t i = 0; i < count && !k->too_big; i++) {
				sb_addn(out, pairs[i].key.p ? pairs[i].key.p : "", pairs[i].key.len);
				k->spent += pairs[i].key.len;
				canon_node(k, node_at(k->c, n->data.mapping.pairs.start[pairs[i].index].value),
				           depth + 1, out);
			}
			sb_add(out, "}");
		}
		for (size_t i = 0; i < count; i++)
			free(pairs[i].key.p);
		free(pairs);
	}
}

static int compute_digest(doc_ctx *c, const yaml_node_t *root, char hex[65])
{
	canon_ctx k = { .c = c };
	canon_node(&k, root, 0, &k.out);
	if (k.out.oom) {
		free(k.out.p);
		c->oom = 1;
		return -1;
	}
	if (k.too_big) {
		free(k.out.p);
		report(c, 1, root,
		       "the document nests deeper than %d levels or expands beyond %u MiB (YAML aliases?)",
		       CANON_MAX_DEPTH, CANON_MAX_BYTES >> 20);
		return -1;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	int ok = EVP_Digest(k.out.p ? k.out.p : "", k.out.len, md, &md_len, EVP_sha256(), NULL);
	free(k.out.p);
	if (!ok || md_len != 32) {
		c->oom = 1; /* only an allocation can make SHA-256 fail */
		return -1;
	}
	for (unsigned int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* ---- ReplicationSource / ReplicationDestination ---- */

static void replication_free(ctl_replication *r)
{
	free(r->namespace_);
	free(r->name);
	free(r->origin.file);
	free(r->schedule);
	free(r->manual);
	free(r->source_pvc);
	free(r->repository);
	free(r->ca_secret);
	free(r->ca_configmap);
	free(r->ca_key);
	free(r->compression);
	free(r->before_snapshot);
	free(r->after_snapshot);
	free(r->username);
	free(r->hostname);
	free(r->source_path_override);
	free(r->destination_pvc);
	free(r->restore_as_of);
	free(r->src_name);
	free(r->src_namespace);
	free(r->src_path_override);
	free(r->src_pvc_name);
}

static void replication_init(ctl_replication *r, ctl_kind kind)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->copy_method = CTL_COPY_DIRECT;
	r->retain_hourly = r->retain_daily = r->retain_weekly = r->retain_monthly = r->retain_yearly =
		r->retain_latest = -1;
	r->parallelism = -1;
	r->maintenance_interval_days = -1;
	r->shallow = r->previous = -1;
}

static void check_replication(doc_ctx *c, ctl_replication *r, const yaml_node_t *root)
{
	const yaml_node_t *spec = map_get(c, root, "spec");
	int have_spec = spec && spec->type == YAML_MAPPING_NODE;

	if (!spec || is_null(spec)) {
		report(c, 1, NULL, "spec: required");
		return;
	}
	if (!have_spec)
		return; /* already reported as the wrong type */
	if (r->kind == CTL_KIND_SOURCE && !r->source_pvc)
		report(c, 1, spec, "spec.sourcePVC: required (the volume to back up)");
	if (!(c->seen & SEEN_KOPIA)) {
		if (c->other_mover)
			report(c, 1, spec, "spec.kopia is required (coffer runs only the Kopia mover); found %s instead",
			       c->other_mover_path);
		else
			report(c, 1, spec, "spec.kopia is required (coffer runs only the Kopia mover)");
		return;
	}
	if (c->other_mover)
		report(c, 1, map_get(c, spec, c->other_mover),
		       "%s: only one mover may be given, and coffer runs only the Kopia mover", c->other_mover_path);
	const yaml_node_t *kopia = map_get(c, spec, "kopia");
	if (r->kind == CTL_KIND_SOURCE && !r->repository)
		report(c, 1, kopia,
		       "spec.kopia.repository: required (the name of the Secret with KOPIA_REPOSITORY and "
		       "KOPIA_PASSWORD)");
	if (c->seen & SEEN_CUSTOM_CA) {
		const yaml_node_t *ca = map_get(c, kopia, "customCA");
		if (r->ca_secret && r->ca_configmap)
			report(c, 1, ca, "spec.kopia.customCA: give secretName or configMapName, not both");
		else if ((r->ca_secret || r->ca_configmap) && !r->ca_key)
			report(c, 1, ca, "spec.kopia.customCA.key: required with %s (VolSync would silently ignore "
			       "the CA)", r->ca_secret ? "secretName" : "configMapName");
		else if (!r->ca_secret && !r->ca_configmap && r->ca_key)
			report(c, 1, ca, "spec.kopia.customCA: key is given but neither secretName nor configMapName");
	}
	if (r->kind == CTL_KIND_DESTINATION) {
		if (!!r->username != !!r->hostname)
			report(c, 1, kopia, "spec.kopia.%s: required with spec.kopia.%s (VolSync takes both or neither)",
			       r->username ? "hostname" : "username", r->username ? "username" : "hostname");
		if ((c->seen & SEEN_SOURCE_IDENTITY) && !r->src_name)
			report(c, 1, map_get(c, kopia, "sourceIdentity"), "spec.kopia.sourceIdentity.sourceName: required");
	}
}

static int same_object(const char *ns1, const char *name1, const char *ns2, const char *name2)
{
	return strcmp(ns1, ns2) == 0 && strcmp(name1, name2) == 0;
}

static void report_duplicate(doc_ctx *c, const ctl_origin *first)
{
	report(c, 1, NULL, "%s %s is already defined in %s document %u (line %u); this one is ignored", c->kind, c->who,
	       first->file, first->document, first->line);
}

static void parse_replication(doc_ctx *c, const yaml_node_t *root, ctl_kind kind)
{
	ctl_replication r;
	replication_init(&r, kind);
	if (read_metadata(c, root, &r.name, &r.namespace_) == 0) {
		walk_map(c, root, "", kind == CTL_KIND_SOURCE ? source_fields : destination_fields, &r);
		check_replication(c, &r, root);
	}
	if (!c->errors && !c->oom)
		compute_digest(c, root, r.digest);
	if (!c->errors && !c->oom) {
		for (size_t i = 0; i < c->m->object_count; i++) {
			const ctl_replication *o = &c->m->objects[i];
			if (o->kind == kind && same_object(o->namespace_, o->name, r.namespace_, r.name)) {
				report_duplicate(c, &o->origin);
				break;
			}
		}
	}
	if (!c->errors && !c->oom) {
		r.origin = (ctl_origin){ dup_text(c, c->file), c->doc_no, c->line };
		if (!c->oom && grow((void **)&c->m->objects, c->m->object_count, sizeof(r)) == 0) {
			c->m->objects[c->m->object_count++] = r;
			return;
		}
		c->oom = 1;
	}
	replication_free(&r);
}

/* ---- Secret / ConfigMap ---- */

static void data_object_free(ctl_data_object *d)
{
	for (size_t i = 0; i < d->count; i++) {
		free(d->items[i].key);
		free(d->items[i].value);
	}
	free(d->items);
	free(d->namespace_);
	free(d->name);
	free(d->origin.file);
}

static ctl_kv *data_find(ctl_data_object *d, const char *key)
{
	for (size_t i = 0; i < d->count; i++)
		if (strcmp(d->items[i].key, key) == 0)
			return &d->items[i];
	return NULL;
}

/* Takes ownership of value. */
static void data_put(doc_ctx *c, ctl_data_object *d, const char *key, char *value, size_t len)
{
	ctl_kv *kv = data_find(d, key);
	if (kv) {
		free(kv->value);
		kv->value = value;
		kv->len = len;
		return;
	}
	char *k = dup_text(c, key);
	if (!k || grow((void **)&d->items, d->count, sizeof(*d->items))) {
		free(k);
		free(value);
		c->oom = 1;
		return;
	}
	d->items[d->count++] = (ctl_kv){ k, value, len };
}

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Standard alphabet with padding; line breaks are skipped as Go's decoder skips them.
 * Returns a NUL-terminated buffer, or NULL with *bad set when the text is not base64. */
static char *base64_decode(const char *in, size_t in_len, size_t *out_len, int *bad)
{
	char *out = malloc(in_len / 4 * 3 + 4);
	if (!out)
		return NULL;
	unsigned int acc = 0;
	size_t quad = 0, o = 0, pad = 0;
	*bad = 0;
	for (size_t i = 0; i < in_len; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch == '\r' || ch == '\n')
			continue;
		if (ch == '=') {
			if (quad < 2 || pad + quad >= 4) {
				*bad = 1;
				break;
			}
			pad++;
			if (quad + pad == 4) {
				if (pad == 1) {
					out[o++] = (char)(acc >> 10);
					out[o++] = (char)(acc >> 2);
				} else {
					out[o++] = (char)(acc >> 4);
				}
				quad = 0;
				acc = 0;
			}
			continue;
		}
		int v = b64_value(ch);
		if (v < 0 || pad) {
			*bad = 1;
			break;
		}
		acc = acc << 6 | (unsigned int)v;
		if (++quad == 4) {
			out[o++] = (char)(acc >> 16);
			out[o++] = (char)(acc >> 8);
			out[o++] = (char)acc;
			quad = 0;
			acc = 0;
		}
	}
	/* Left-over characters, or padding that never completed its group. */
	if (quad != 0)
		*bad = 1;
	if (*bad) {
		free(out);
		return NULL;
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

static int is_data_key(const char *k, size_t len)
{
	if (len == 0 || len > 253 || strlen(k) != len || strcmp(k, ".") == 0 || strcmp(k, "..") == 0)
		return 0;
	return strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == len;
}

typedef enum data_section {
	SECTION_SECRET_DATA,     /* base64; stringData wins */
	SECTION_STRING_DATA,     /* as written; wins */
	SECTION_CONFIG_DATA,     /* as written */
	SECTION_BINARY_DATA      /* base64; a key also in data is an error */
} data_section;

static void read_data_section(doc_ctx *c, ctl_data_object *d, const yaml_node_t *map, const char *section,
                              data_section kind)
{
	char got[SHOWN_VALUE_MAX + 32];
	if (is_null(map))
		return;
	if (map->type != YAML_MAPPING_NODE) {
		describe(c, map, got, sizeof(got));
		report(c, 1, map, "%s: expected a mapping of keys to values, got %s", section, got);
		return;
	}
	unsigned char *skip = check_keys(c, map, section);
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	for (size_t i = 0; i < n && skip && !c->oom; i++) {
		if (skip[i])
			continue;
		yaml_node_t *k = node_at(c, map->data.mapping.pairs.start[i].key);
		yaml_node_t *v = node_at(c, map->data.mapping.pairs.start[i].value);
		const char *key = scalar_text(k);
		char path[512];
		child_path(path, sizeof(path), section, key, k->data.scalar.length);
		if (!is_data_key(key, k->data.scalar.length)) {
			report(c, 1, k, "%s: a key may hold only letters, digits, '-', '_' and '.'", path);
			continue;
		}
		if (!v || is_null(v))
			continue;
		const char *text = want_string_n(c, v, path, 1);
		if (!text)
			continue;
		size_t len = v->data.scalar.length, out_len = 0;
		char *value;
		if (kind == SECTION_SECRET_DATA || kind == SECTION_BINARY_DATA) {
			int bad = 0;
			value = base64_decode(text, len, &out_len, &bad);
			if (bad) {
				report(c, 1, v, "%s: the value is not valid base64 (standard alphabet with '=' padding)",
				       path);
				continue;
			}
		} else {
			value = malloc(len + 1);
			if (value) {
				memcpy(value, text, len);
				value[len] = '\0';
				out_len = len;
			}
		}
		if (!value) {
			c->oom = 1;
			break;
		}
		ctl_kv *existing = data_find(d, key);
		if (existing && kind == SECTION_SECRET_DATA) {
			free(value); /* stringData came first and wins */
			continue;
		}
		if (existing && (kind == SECTION_BINARY_DATA || kind == SECTION_CONFIG_DATA)) {
			report(c, 1, k, "%s: the key is in both data and binaryData", path);
			free(value);
			continue;
		}
		data_put(c, d, key, value, out_len);
	}
	free(skip);
}

static void parse_data_object(doc_ctx *c, const yaml_node_t *root, int is_secret)
{
	static const field secret_fields[] = {
		{ "apiVersion", F_IGNORED, 0, NULL, 0 }, { "kind", F_IGNORED, 0, NULL, 0 },
		{ "metadata", F_MAP, 0, metadata_fields, 0 }, { "data", F_IGNORED, 0, NULL, 0 },
		{ "stringData", F_IGNORED, 0, NULL, 0 }, { "type", F_CHECK_STRING, 0, NULL, 0 },
		{ "immutable", F_CHECK_BOOL, 0, NULL, 0 }, { NULL, F_IGNORED, 0, NULL, 0 },
	};
	static const field configmap_fields[] = {
		{ "apiVersion", F_IGNORED, 0, NULL, 0 }, { "kind", F_IGNORED, 0, NULL, 0 },
		{ "metadata", F_MAP, 0, metadata_fields, 0 }, { "data", F_IGNORED, 0, NULL, 0 },
		{ "binaryData", F_IGNORED, 0, NULL, 0 }, { "immutable", F_CHECK_BOOL, 0, NULL, 0 },
		{ NULL, F_IGNORED, 0, NULL, 0 },
	};
	ctl_data_object d = { .is_secret = is_secret };
	if (read_metadata(c, root, &d.name, &d.namespace_) == 0) {
		c->hide_values = 1;
		walk_map(c, root, "", is_secret ? secret_fields : configmap_fields, NULL);
		const yaml_node_t *v;
		if (is_secret) {
			if ((v = map_get(c, root, "stringData")))
				read_data_section(c, &d, v, "stringData", SECTION_STRING_DATA);
			if ((v = map_get(c, root, "data")))
				read_data_section(c, &d, v, "data", SECTION_SECRET_DATA);
		} else {
			if ((v = map_get(c, root, "data")))
				read_data_section(c, &d, v, "data", SECTION_CONFIG_DATA);
			if ((v = map_get(c, root, "binaryData")))
				read_data_section(c, &d, v, "binaryData", SECTION_BINARY_DATA);
		}
	}
	if (!c->errors && !c->oom) {
		for (size_t i = 0; i < c->m->data_count; i++) {
			const ctl_data_object *o = &c->m->data[i];
			if (o->is_secret == is_secret && same_object(o->namespace_, o->name, d.namespace_, d.name)) {
				report_duplicate(c, &o->origin);
				break;
			}
		}
	}
	if (!c->errors && !c->oom) {
		d.origin = (ctl_origin){ dup_text(c, c->file), c->doc_no, c->line };
		if (!c->oom && grow((void **)&c->m->data, c->m->data_count, sizeof(d)) == 0) {
			c->m->data[c->m->data_count++] = d;
			return;
		}
		c->oom = 1;
	}
	data_object_free(&d);
}

/* ---- documents ---- */

static void parse_document(doc_ctx *c, const yaml_node_t *root)
{
	char got[SHOWN_VALUE_MAX + 32];
	if (is_null(root))
		return; /* an empty document, e.g. a lone "---" */
	if (root->type != YAML_MAPPING_NODE) {
		describe(c, root, got, sizeof(got));
		report(c, 1, root, "expected a Kubernetes object (a mapping with apiVersion, kind, metadata), got %s",
		       got);
		return;
	}
	const yaml_node_t *kind_node = map_get(c, root, "kind");
	const yaml_node_t *api_node = map_get(c, root, "apiVersion");
	if (!kind_node || is_null(kind_node)) {
		report(c, 1, root, "kind: required");
		return;
	}
	const char *kind = want_string(c, kind_node, "kind");
	if (!kind)
		return;
	sanitize(c->kind, sizeof(c->kind), kind, strlen(kind));

	static const struct {
		const char *kind, *api;
	} handled[] = {
		{ "ReplicationSource", VOLSYNC_API },
		{ "ReplicationDestination", VOLSYNC_API },
		{ "Secret", "v1" },
		{ "ConfigMap", "v1" },
	};
	size_t which = 0;
	while (which < 4 && strcmp(handled[which].kind, kind) != 0)
		which++;
	if (which == 4) {
		const yaml_node_t *meta = map_get(c, root, "metadata");
		const yaml_node_t *name = map_get(c, meta, "name");
		if (name && name->type == YAML_SCALAR_NODE) {
			const yaml_node_t *ns = map_get(c, meta, "namespace");
			char sn[128], sns[80];
			sanitize(sn, sizeof(sn), scalar_text(name), name->data.scalar.length);
			if (ns && ns->type == YAML_SCALAR_NODE && !is_null(ns))
				sanitize(sns, sizeof(sns), scalar_text(ns), ns->data.scalar.length);
			else
				snprintf(sns, sizeof(sns), "default");
			snprintf(c->who, sizeof(c->who), "%s/%s", sns, sn);
		}
		report(c, 0, NULL, "kind %s is not handled by coffer; skipped", c->kind);
		return;
	}
	const char *api = NULL;
	if (!api_node || is_null(api_node)) {
		report(c, 1, root, "apiVersion: required (%s for %s)", handled[which].api, kind);
		return;
	}
	if (!(api = want_string(c, api_node, "apiVersion")))
		return;
	if (strcmp(api, handled[which].api) != 0) {
		describe(c, api_node, got, sizeof(got));
		report(c, 1, api_node, "apiVersion: expected %s for %s, got %s", handled[which].api, kind, got);
		return;
	}
	switch (which) {
	case 0:
		parse_replication(c, root, CTL_KIND_SOURCE);
		break;
	case 1:
		parse_replication(c, root, CTL_KIND_DESTINATION);
		break;
	default:
		parse_data_object(c, root, which == 2);
		break;
	}
}

static int syntax_error(ctl_manifests *m, const char *origin_name, unsigned int doc_no, const yaml_parser_t *p)
{
	doc_ctx c = { .m = m, .file = origin_name, .doc_no = doc_no };
	const char *problem = p->problem ? p->problem : "unknown problem";
	if (p->error == YAML_READER_ERROR)
		report(&c, 1, NULL, "YAML error at byte %zu: %s; the rest of the file is not used", p->problem_offset,
		       problem);
	else if (p->context)
		report(&c, 1, NULL, "YAML syntax error at line %zu, column %zu: %s %s (line %zu); the rest of the file is not used",
		       p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
		       p->context_mark.line + 1);
	else
		report(&c, 1, NULL, "YAML syntax error at line %zu, column %zu: %s; the rest of the file is not used",
		       p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
	return c.oom ? -1 : 0;
}

int ctl_manifests_parse(ctl_manifests *m, const char *origin_name, const char *text, size_t len)
{
	yaml_parser_t parser;
	int rc = 0;
	if (!yaml_parser_initialize(&parser))
		return -1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), text ? len : 0);
	for (unsigned int doc_no = 1;; doc_no++) {
		yaml_document_t doc;
		if (!yaml_parser_load(&parser, &doc)) {
			if (parser.error == YAML_MEMORY_ERROR)
				rc = -1;
			else
				rc = syntax_error(m, origin_name, doc_no, &parser);
			break;
		}
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break;
		}
		doc_ctx c = { .m = m, .file = origin_name, .doc_no = doc_no, .doc = &doc };
		c.line = (unsigned int)doc.start_mark.line + 1;
		parse_document(&c, root);
		yaml_document_delete(&doc);
		if (c.oom) {
			rc = -1;
			break;
		}
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* ---- files ---- */

static int file_error(ctl_manifests *m, const char *path, const char *what, int errnum)
{
	strbuf b = { 0 };
	sb_printf(&b, "%s: %s%s%s", path, what, errnum ? ": " : "", errnum ? strerror(errnum) : "");
	if (b.oom) {
		free(b.p);
		return -1;
	}
	return push_message(&m->errors, &m->error_count, b.p);
}

int ctl_manifests_load_file(ctl_manifests *m, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return file_error(m, path, "cannot open", errno);
	strbuf b = { 0 };
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		sb_addn(&b, chunk, n);
		if (b.oom || b.len > MAX_FILE_SIZE)
			break;
	}
	int read_error = ferror(f) ? errno : 0;
	fclose(f);
	int rc;
	if (b.oom)
		rc = -1;
	else if (read_error)
		rc = file_error(m, path, "cannot read", read_error);
	else if (b.len > MAX_FILE_SIZE)
		rc = file_error(m, path, "larger than 64 MiB; not a manifest", 0);
	else
		rc = ctl_manifests_parse(m, path, b.p, b.len);
	free(b.p);
	return rc;
}

static int has_manifest_suffix(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ctl_manifests_load_dir(ctl_manifests *m, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return file_error(m, dir, "cannot open the manifests folder", errno);
	char **names = NULL;
	size_t count = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !has_manifest_suffix(e->d_name))
			continue;
		char *name = strdup(e->d_name);
		if (!name || grow((void **)&names, count, sizeof(*names))) {
			free(name);
			rc = -1;
			break;
		}
		names[count++] = name;
	}
	closedir(d);
	if (count)
		qsort(names, count, sizeof(*names), name_cmp);
	for (size_t i = 0; i < count; i++) {
		if (rc == 0) {
			strbuf path = { 0 };
			sb_printf(&path, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
			struct stat st;
			if (path.oom)
				rc = -1;
			else if (stat(path.p, &st) == 0 && !S_ISREG(st.st_mode))
				; /* a folder or device named *.yaml */
			else
				rc = ctl_manifests_load_file(m, path.p);
			free(path.p);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

void ctl_manifests_clear(ctl_manifests *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->object_count; i++)
		replication_free(&m->objects[i]);
	free(m->objects);
	for (size_t i = 0; i < m->data_count; i++)
		data_object_free(&m->data[i]);
	free(m->data);
	for (size_t i = 0; i < m->error_count; i++)
		free(m->errors[i]);
	free(m->errors);
	for (size_t i = 0; i < m->warning_count; i++)
		free(m->warnings[i]);
	free(m->warnings);
	memset(m, 0, sizeof(*m));
}

const ctl_data_object *ctl_manifests_find_data(const ctl_manifests *m, int is_secret, const char *namespace_,
                                               const char *name)
{
	if (!m || !namespace_ || !name)
		return NULL;
	for (size_t i = 0; i < m->data_count; i++) {
		const ctl_data_object *d = &m->data[i];
		if (!!d->is_secret == !!is_secret && same_object(d->namespace_, d->name, namespace_, name))
			return d;
	}
	return NULL;
}

const ctl_kv *ctl_data_get(const ctl_data_object *d, const char *key)
{
	if (!d || !key)
		return NULL;
	for (size_t i = 0; i < d->count; i++)
		if (strcmp(d->items[i].key, key) == 0)
			return &d->items[i];
	return NULL;
}

/* ---- quantities ---- */

typedef unsigned __int128 u128;

static u128 pow10_u128(unsigned int e)
{
	u128 v = 1;
	while (e--)
		v *= 10;
	return v;
}

int ctl_parse_quantity(const char *text, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} suffixes[] = {
		{ "", 1 },
		{ "k", 1000ULL },
		{ "M", 1000000ULL },
		{ "G", 1000000000ULL },
		{ "T", 1000000000000ULL },
		{ "P", 1000000000000000ULL },
		{ "E", 1000000000000000000ULL },
		{ "Ki", 1ULL << 10 },
		{ "Mi", 1ULL << 20 },
		{ "Gi", 1ULL << 30 },
		{ "Ti", 1ULL << 40 },
		{ "Pi", 1ULL << 50 },
		{ "Ei", 1ULL << 60 },
	};
	if (!text || !out)
		return -1;
	const char *p = text;
	if (*p == '+')
		p++;
	/* value = whole + frac / 10^frac_digits, digits beyond 18 decimals only round up */
	u128 whole = 0;
	uint64_t frac = 0;
	unsigned int frac_digits = 0, digits = 0;
	int sticky = 0;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		whole = whole * 10 + (unsigned)(*p - '0');
		if (whole > UINT64_MAX)
			return -1;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
			if (frac_digits < 18) {
				frac = frac * 10 + (unsigned)(*p - '0');
				frac_digits++;
			} else if (*p != '0') {
				sticky = 1;
			}
		}
	}
	if (!digits)
		return -1;
	u128 mult = 1;
	unsigned int divide_digits = frac_digits;
	if ((*p == 'e' || *p == 'E') &&
	    ((p[1] >= '0' && p[1] <= '9') || ((p[1] == '+' || p[1] == '-') && p[2] >= '0' && p[2] <= '9'))) {
		int neg = 0;
		unsigned int e = 0;
		p++;
		if (*p == '+' || *p == '-')
			neg = *p++ == '-';
		for (; *p >= '0' && *p <= '9'; p++) {
			e = e * 10 + (unsigned)(*p - '0');
			if (e > 18)
				return -1;
		}
		if (*p)
			return -1;
		if (neg)
			divide_digits += e;
		else
			mult = pow10_u128(e);
	} else {
		size_t i = 0;
		while (i < sizeof(suffixes) / sizeof(suffixes[0]) && strcmp(p, suffixes[i].suffix) != 0)
			i++;
		if (i == sizeof(suffixes) / sizeof(suffixes[0]))
			return -1;
		mult = suffixes[i].mult;
	}
	/* Split whole into what the divisor leaves whole and a remainder (negative exponents). */
	u128 divisor = pow10_u128(divide_digits);
	u128 scale = pow10_u128(divide_digits - frac_digits);
	u128 q = whole / scale, r = whole % scale;
	u128 value = q * mult;
	if (value > UINT64_MAX)
		return -1;
	/* Below 2^121: either r is 0 and mult at most 2^60, or mult is 1 and r below 10^18. */
	u128 rest = (r * pow10_u128(frac_digits) + frac) * mult;
	value += rest / divisor + (rest % divisor != 0 || sticky);
	if (value > UINT64_MAX)
		return -1;
	*out = (uint64_t)value;
	return 0;
}
