/* The storage backend conformance suite; see backend_conformance.h for how to run it.
 * The contract checked here is the one in coffer/sys/backend.h, made precise:
 *   - put/get round-trip any bytes, including empty blobs and blobs of tens of MiB;
 *   - get appends to the caller's buffer and leaves it unchanged on failure;
 *   - a range inside or ending exactly at the end of a blob (also of length 0) reads;
 *     any range reaching past the end is COFFER_EINVALID; a missing blob COFFER_ENOTFOUND;
 *   - names are opaque bytes (UTF-8, '/', spaces, '%', URL delimiters) and come back
 *     from list() exactly as stored; list() returns every blob under a prefix exactly
 *     once, however many there are, and stops when the callback returns nonzero;
 *   - write-once: a second put without COFFER_PUT_OVERWRITE is COFFER_EEXISTS and the
 *     first content stays; with the flag the new content replaces it;
 *   - concurrent callers on one handle are safe; racing write-once puts of one name have
 *     exactly one winner when the backend claims COFFER_BACKEND_CAP_ATOMIC_CREATE;
 *     racing overwrites never leave a mixture. */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend_conformance.h"

#define CONF_DEFAULT_MAX_NAME 1000
#define CONF_DEFAULT_LARGE ((size_t)40 * 1024 * 1024 + 4099)
#define CONF_DEFAULT_MANY 1234u
#define CONF_DEFAULT_THREADS 8u
#define CONF_MAX_THREADS 64u
#define CONF_DAY_NS (24LL * 3600 * 1000000000LL)

/* The target, set before the runner forks (one per process). */
static struct {
	coffer_core *core;
	const char *url;
	coffer_conformance_options opts;
	char run_prefix[128];
} conf;

/* ------------------------------------------------------------------ helpers */

typedef struct conf_ctx {
	coffer_backend *be;
	char prefix[256]; /* run prefix + test name + '/' */
} conf_ctx;

static const char *conf_error(conf_ctx *ctx)
{
	return coffer_backend_last_error(ctx->be)->message;
}

#define conf_assert_ok(ctx, expr)                                                              \
	do {                                                                                   \
		int rc_ = (expr);                                                              \
		ck_assert_msg(rc_ == 0, "%s failed with %d (%s): %s", #expr, rc_,              \
		              coffer_error_name(rc_), conf_error(ctx));                        \
	} while (0)

#define conf_assert_code(ctx, expr, want)                                                      \
	do {                                                                                   \
		int rc_ = (expr);                                                              \
		ck_assert_msg(rc_ == (want), "%s returned %d (%s), expected %d (%s); error: %s",  \
		              #expr, rc_, coffer_error_name(rc_), (want), coffer_error_name(want), \
		              rc_ ? conf_error(ctx) : "none");                                 \
	} while (0)

/* Deterministic bytes from a seed (xorshift64*), so content is checkable without storing it. */
static void conf_fill(uint8_t *dst, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
	size_t i = 0;
	while (i < len) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint64_t v = x * 0x2545f4914f6cdd1dULL;
		for (int k = 0; k < 8 && i < len; k++, v >>= 8)
			dst[i++] = (uint8_t)v;
	}
}

static uint8_t *conf_pattern(size_t len, uint64_t seed)
{
	uint8_t *p = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(p);
	conf_fill(p, len, seed);
	return p;
}

/* A full blob name under the test's prefix; the caller frees it. */
static char *conf_name(const conf_ctx *ctx, const char *rel)
{
	size_t n = strlen(ctx->prefix) + strlen(rel) + 1;
	char *s = malloc(n);
	ck_assert_ptr_nonnull(s);
	snprintf(s, n, "%s%s", ctx->prefix, rel);
	return s;
}

static void conf_begin(conf_ctx *ctx, const char *test)
{
	coffer_backend_options o = COFFER_BACKEND_OPTIONS_INIT;
	o.create = 1;
	o.parallelism = CONF_MAX_THREADS;
	int rc = coffer_backend_open(&ctx->be, conf.core, conf.url, &o);
	ck_assert_msg(rc == 0, "opening %s failed with %d: %s", conf.url, rc, coffer_error_last()->message);
	snprintf(ctx->prefix, sizeof(ctx->prefix), "%s%s/", conf.run_prefix, test);
}

static void conf_put(conf_ctx *ctx, const char *rel, const void *data, size_t len, unsigned flags)
{
	char *name = conf_name(ctx, rel);
	int rc = coffer_backend_put(ctx->be, name, data, len, flags);
	ck_assert_msg(rc == 0, "put '%s' (%zu bytes) failed with %d: %s", name, len, rc, conf_error(ctx));
	free(name);
}

static void conf_expect_content(conf_ctx *ctx, const char *name, const void *data, size_t len)
{
	coffer_buf buf = COFFER_BUF_INIT;
	int rc = coffer_backend_get(ctx->be, name, 0, COFFER_WHOLE, &buf);
	ck_assert_msg(rc == 0, "get '%s' failed with %d: %s", name, rc, conf_error(ctx));
	ck_assert_msg(buf.len == len, "get '%s' returned %zu bytes, expected %zu", name, buf.len, len);
	ck_assert_msg(len == 0 || memcmp(buf.data, data, len) == 0, "get '%s' returned other bytes",
	              name);
	coffer_buf_free(&buf);
}

/* ---- listing into a sorted array */

typedef struct conf_entry {
	char *name;
	uint64_t size;
	int64_t mtime_ns;
} conf_entry;

typedef struct conf_listing {
	conf_entry *entries;
	size_t count, cap;
	size_t stop_after; /* 0: never stop */
} conf_listing;

static int conf_list_cb(const coffer_blob_info *info, void *ud)
{
	conf_listing *l = ud;
	if (l->count == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->entries = realloc(l->entries, l->cap * sizeof(*l->entries));
		if (!l->entries)
			abort();
	}
	conf_entry *e = &l->entries[l->count++];
	e->name = strdup(info->name ? info->name : "(null)");
	e->size = info->size;
	e->mtime_ns = info->mtime_ns;
	if (l->stop_after && l->count == l->stop_after)
		return 4242;
	return 0;
}

static int conf_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const conf_entry *)a)->name, ((const conf_entry *)b)->name);
}

static void conf_listing_free(conf_listing *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->entries[i].name);
	free(l->entries);
	memset(l, 0, sizeof(*l));
}

/* Lists prefix + rel_prefix, sorted; asserts success and that no name repeats. */
static void conf_list(conf_ctx *ctx, const char *rel_prefix, conf_listing *out)
{
	memset(out, 0, sizeof(*out));
	char *prefix = conf_name(ctx, rel_prefix);
	int rc = coffer_backend_list(ctx->be, prefix, conf_list_cb, out);
	ck_assert_msg(rc == 0, "list '%s' failed with %d: %s", prefix, rc, conf_error(ctx));
	if (out->count)
		qsort(out->entries, out->count, sizeof(*out->entries), conf_entry_cmp);
	for (size_t i = 0; i < out->count; i++) {
		ck_assert_msg(strncmp(out->entries[i].name, prefix, strlen(prefix)) == 0,
		              "list '%s' returned '%s', which lacks the prefix", prefix,
		              out->entries[i].name);
		ck_assert_msg(i == 0 || strcmp(out->entries[i - 1].name, out->entries[i].name) != 0,
		              "list '%s' returned '%s' twice", prefix, out->entries[i].name);
	}
	free(prefix);
}

/* Asserts that listing rel_prefix returns exactly the relative names in `want` (any order). */
static void conf_expect_listing(conf_ctx *ctx, const char *rel_prefix, const char *const *want,
                                size_t want_count)
{
	conf_listing l;
	conf_list(ctx, rel_prefix, &l);
	ck_assert_msg(l.count == want_count, "list '%s%s' returned %zu names, expected %zu",
	              ctx->prefix, rel_prefix, l.count, want_count);
	for (size_t i = 0; i < want_count; i++) {
		char *full = conf_name(ctx, want[i]);
		conf_entry key = { full, 0, 0 };
		ck_assert_msg(bsearch(&key, l.entries, l.count, sizeof(*l.entries), conf_entry_cmp),
		              "list '%s%s' lacks '%s'", ctx->prefix, rel_prefix, full);
		free(full);
	}
	conf_listing_free(&l);
}

typedef struct conf_remover {
	conf_ctx *ctx;
	const conf_listing *listing;
	unsigned index, threads;
	int failed_rc;
	char failed[1024];
} conf_remover;

static void *conf_remove_share(void *arg)
{
	conf_remover *r = arg;
	for (size_t i = r->index; i < r->listing->count; i += r->threads) {
		const char *name = r->listing->entries[i].name;
		int rc = coffer_backend_remove(r->ctx->be, name);
		if (rc && !r->failed_rc) {
			r->failed_rc = rc;
			snprintf(r->failed, sizeof(r->failed), "removing '%s' failed with %d: %s", name, rc,
			         coffer_error_last()->message);
		}
	}
	return NULL;
}

/* Removes everything under the test's prefix (from several threads: each remove is a
 * round trip or an fsync), then checks nothing is left. */
static void conf_end(conf_ctx *ctx)
{
	conf_listing l;
	conf_list(ctx, "", &l);
	unsigned threads = conf.opts.threads;
	conf_remover removers[CONF_MAX_THREADS];
	pthread_t tids[CONF_MAX_THREADS];
	for (unsigned t = 0; t < threads; t++) {
		removers[t] = (conf_remover){ .ctx = ctx, .listing = &l, .index = t, .threads = threads };
		ck_assert_int_eq(pthread_create(&tids[t], NULL, conf_remove_share, &removers[t]), 0);
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(tids[t], NULL);
	for (unsigned t = 0; t < threads; t++)
		ck_assert_msg(removers[t].failed_rc == 0, "%s", removers[t].failed);
	conf_listing_free(&l);
	conf_list(ctx, "", &l);
	ck_assert_msg(l.count == 0, "%zu blobs remain under %s after removing them all", l.count,
	              ctx->prefix);
	conf_listing_free(&l);
	coffer_backend_close(ctx->be);
	ctx->be = NULL;
}

static unsigned conf_threads(void)
{
	return conf.opts.threads;
}

/* ------------------------------------------------------------------ basic blobs */

START_TEST(put_get_small_and_empty)
{
	conf_ctx ctx;
	conf_begin(&ctx, "small");
	static const char hello[] = "hello, coffer";
	conf_put(&ctx, "hello", hello, sizeof(hello) - 1, 0);
	conf_put(&ctx, "empty", "", 0, 0);
	uint8_t all_bytes[256];
	for (int i = 0; i < 256; i++)
		all_bytes[i] = (uint8_t)i;
	conf_put(&ctx, "all-bytes", all_bytes, sizeof(all_bytes), 0);

	char *name = conf_name(&ctx, "hello");
	conf_expect_content(&ctx, name, hello, sizeof(hello) - 1);
	free(name);
	name = conf_name(&ctx, "all-bytes");
	conf_expect_content(&ctx, name, all_bytes, sizeof(all_bytes));
	free(name);

	name = conf_name(&ctx, "empty");
	conf_expect_content(&ctx, name, "", 0);
	coffer_blob_info info;
	conf_assert_ok(&ctx, coffer_backend_stat(ctx.be, name, &info));
	ck_assert_uint_eq(info.size, 0);
	free(name);

	/* get appends to what the buffer holds already */
	name = conf_name(&ctx, "hello");
	coffer_buf buf = COFFER_BUF_INIT;
	ck_assert_int_eq(coffer_buf_append(&buf, "XY", 2), 0);
	conf_assert_ok(&ctx, coffer_backend_get(ctx.be, name, 0, COFFER_WHOLE, &buf));
	ck_assert_uint_eq(buf.len, 2 + sizeof(hello) - 1);
	ck_assert(memcmp(buf.data, "XYhello, coffer", buf.len) == 0);
	coffer_buf_free(&buf);
	free(name);
	conf_end(&ctx);
}
END_TEST

START_TEST(missing_blobs)
{
	conf_ctx ctx;
	conf_begin(&ctx, "missing");
	char *name = conf_name(&ctx, "never-written");
	coffer_buf buf = COFFER_BUF_INIT;
	conf_assert_code(&ctx, coffer_backend_get(ctx.be, name, 0, COFFER_WHOLE, &buf), COFFER_ENOTFOUND);
	ck_assert_uint_eq(buf.len, 0);
	conf_assert_code(&ctx, coffer_backend_get(ctx.be, name, 10, 5, &buf), COFFER_ENOTFOUND);
	coffer_blob_info info;
	conf_assert_code(&ctx, coffer_backend_stat(ctx.be, name, &info), COFFER_ENOTFOUND);
	conf_assert_code(&ctx, coffer_backend_remove(ctx.be, name), COFFER_ENOTFOUND);
	ck_assert_msg(strlen(conf_error(&ctx)) > 0, "a failure must come with a message");
	coffer_buf_free(&buf);
	free(name);
	conf_end(&ctx);
}
END_TEST

START_TEST(ranged_get)
{
	conf_ctx ctx;
	conf_begin(&ctx, "range");
	const size_t size = 1000;
	uint8_t *data = conf_pattern(size, 7);
	conf_put(&ctx, "blob", data, size, 0);
	char *name = conf_name(&ctx, "blob");
	static const struct {
		uint64_t offset, length, expect;
	} ok_cases[] = {
		{ 0, 10, 10 },      /* start */
		{ 500, 100, 100 },  /* middle */
		{ 990, 10, 10 },    /* ends exactly at the end */
		{ 995, COFFER_WHOLE, 5 },
		{ 0, COFFER_WHOLE, 1000 },
		{ 0, 1000, 1000 },
		{ 123, 0, 0 },      /* empty ranges inside and at the end are fine */
		{ 1000, 0, 0 },
		{ 1000, COFFER_WHOLE, 0 },
	};
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		coffer_buf buf = COFFER_BUF_INIT;
		int rc = coffer_backend_get(ctx.be, name, ok_cases[i].offset, ok_cases[i].length, &buf);
		ck_assert_msg(rc == 0, "get at %" PRIu64 " length %" PRIu64 " failed with %d: %s",
		              ok_cases[i].offset, ok_cases[i].length, rc, conf_error(&ctx));
		ck_assert_msg(buf.len == ok_cases[i].expect,
		              "get at %" PRIu64 " length %" PRIu64 " gave %zu bytes, expected %" PRIu64,
		              ok_cases[i].offset, ok_cases[i].length, buf.len, ok_cases[i].expect);
		ck_assert(buf.len == 0 || memcmp(buf.data, data + ok_cases[i].offset, buf.len) == 0);
		coffer_buf_free(&buf);
	}
	static const struct {
		uint64_t offset, length;
	} bad_cases[] = {
		{ 995, 10 },  /* runs past the end */
		{ 1000, 1 },
		{ 1001, 0 },  /* starts past the end */
		{ 1001, COFFER_WHOLE },
		{ 5000, 10 },
		{ UINT64_MAX - 2, 5 }, /* offset + length overflows */
	};
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		coffer_buf buf = COFFER_BUF_INIT;
		ck_assert_int_eq(coffer_buf_append(&buf, "keep", 4), 0);
		int rc = coffer_backend_get(ctx.be, name, bad_cases[i].offset, bad_cases[i].length, &buf);
		ck_assert_msg(rc == COFFER_EINVALID,
		              "get at %" PRIu64 " length %" PRIu64 " of a 1000-byte blob returned %d, "
		              "expected COFFER_EINVALID", bad_cases[i].offset, bad_cases[i].length, rc);
		ck_assert_msg(buf.len == 4 && memcmp(buf.data, "keep", 4) == 0,
		              "a failed get must leave the buffer as it was");
		coffer_buf_free(&buf);
	}
	free(name);
	free(data);
	conf_end(&ctx);
}
END_TEST

START_TEST(stat_blob)
{
	conf_ctx ctx;
	conf_begin(&ctx, "stat");
	uint8_t *data = conf_pattern(4321, 3);
	struct timespec before;
	clock_gettime(CLOCK_REALTIME, &before);
	conf_put(&ctx, "s", data, 4321, 0);
	char *name = conf_name(&ctx, "s");
	coffer_blob_info info;
	memset(&info, 0xa5, sizeof(info));
	conf_assert_ok(&ctx, coffer_backend_stat(ctx.be, name, &info));
	ck_assert_uint_eq(info.size, 4321);
	/* Backends may use the server's clock: allow a day of skew, but it must be real. */
	int64_t now_ns = (int64_t)before.tv_sec * 1000000000LL + before.tv_nsec;
	ck_assert_msg(info.mtime_ns > now_ns - CONF_DAY_NS && info.mtime_ns < now_ns + CONF_DAY_NS,
	              "stat mtime %" PRId64 " ns is more than a day from now (%" PRId64 " ns)",
	              info.mtime_ns, now_ns);

	conf_listing l;
	conf_list(&ctx, "s", &l);
	ck_assert_uint_eq(l.count, 1);
	ck_assert_uint_eq(l.entries[0].size, 4321);
	ck_assert_msg(llabs(l.entries[0].mtime_ns - info.mtime_ns) < 2000000000LL,
	              "list and stat disagree on the mtime");
	conf_listing_free(&l);
	free(name);
	free(data);
	conf_end(&ctx);
}
END_TEST

/* ------------------------------------------------------------------ listing */

START_TEST(list_prefixes)
{
	conf_ctx ctx;
	conf_begin(&ctx, "list");
	static const char *const names[] = {
		"a/1", "a/2", "a/sub/3", "a/sub/deeper/4", "ab", "abc/5", "b/1", "b", "c",
	};
	const size_t n = sizeof(names) / sizeof(names[0]);
	for (size_t i = 0; i < n; i++)
		conf_put(&ctx, names[i], names[i], strlen(names[i]), 0);

	conf_expect_listing(&ctx, "", names, n);
	static const char *const under_a_slash[] = { "a/1", "a/2", "a/sub/3", "a/sub/deeper/4" };
	conf_expect_listing(&ctx, "a/", under_a_slash, 4);
	static const char *const under_a[] = { "a/1", "a/2", "a/sub/3", "a/sub/deeper/4", "ab", "abc/5" };
	conf_expect_listing(&ctx, "a", under_a, 6);
	static const char *const under_ab[] = { "ab", "abc/5" };
	conf_expect_listing(&ctx, "ab", under_ab, 2);
	static const char *const under_sub[] = { "a/sub/3", "a/sub/deeper/4" };
	conf_expect_listing(&ctx, "a/sub/", under_sub, 2);
	conf_expect_listing(&ctx, "a/su", under_sub, 2);
	static const char *const exactly_b[] = { "b/1", "b" };
	conf_expect_listing(&ctx, "b", exactly_b, 2);
	static const char *const one[] = { "a/sub/deeper/4" };
	conf_expect_listing(&ctx, "a/sub/deeper/4", one, 1);
	conf_expect_listing(&ctx, "zzz-nothing", NULL, 0);
	conf_expect_listing(&ctx, "a/nothing/", NULL, 0);
	conf_expect_listing(&ctx, "a/1/", NULL, 0);

	/* sizes come with the listing */
	conf_listing l;
	conf_list(&ctx, "", &l);
	for (size_t i = 0; i < l.count; i++)
		ck_assert_uint_eq(l.entries[i].size, strlen(l.entries[i].name) - strlen(ctx.prefix));
	conf_listing_free(&l);

	/* a nonzero callback result stops the listing and is returned */
	memset(&l, 0, sizeof(l));
	l.stop_after = 3;
	char *prefix = conf_name(&ctx, "");
	int rc = coffer_backend_list(ctx.be, prefix, conf_list_cb, &l);
	ck_assert_int_eq(rc, 4242);
	ck_assert_uint_eq(l.count, 3);
	conf_listing_free(&l);
	free(prefix);
	conf_end(&ctx);
}
END_TEST

typedef struct conf_worker {
	conf_ctx *ctx;
	unsigned index, threads;
	unsigned first, count; /* blobs [first, first+count) */
	const char *stem;      /* relative names are stem + the blob number in 5 digits */
	int failed_rc;
	char failed_name[512];
	char failed_message[1024];
} conf_worker;

static void conf_worker_fail(conf_worker *w, int rc, const char *name)
{
	if (w->failed_rc)
		return;
	w->failed_rc = rc;
	snprintf(w->failed_name, sizeof(w->failed_name), "%s", name);
	snprintf(w->failed_message, sizeof(w->failed_message), "%s", coffer_error_last()->message);
}

/* Writes blobs first + index, first + index + threads, ...: content seeded by the number. */
static void *conf_put_range(void *arg)
{
	conf_worker *w = arg;
	for (unsigned i = w->first + w->index; i < w->first + w->count; i += w->threads) {
		char rel[128], name[512];
		snprintf(rel, sizeof(rel), "%s%05u", w->stem, i);
		snprintf(name, sizeof(name), "%s%s", w->ctx->prefix, rel);
		uint8_t data[64];
		size_t len = 1 + i % 61;
		conf_fill(data, len, i);
		int rc = coffer_backend_put(w->ctx->be, name, data, len, 0);
		if (rc) {
			conf_worker_fail(w, rc, name);
			break;
		}
	}
	return NULL;
}

static void conf_put_many(conf_ctx *ctx, const char *stem, unsigned count)
{
	unsigned threads = conf_threads();
	conf_worker workers[CONF_MAX_THREADS];
	pthread_t tids[CONF_MAX_THREADS];
	for (unsigned t = 0; t < threads; t++) {
		workers[t] = (conf_worker){ .ctx = ctx, .index = t, .threads = threads, .first = 0,
		                            .count = count, .stem = stem };
		ck_assert_int_eq(pthread_create(&tids[t], NULL, conf_put_range, &workers[t]), 0);
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(tids[t], NULL);
	for (unsigned t = 0; t < threads; t++)
		ck_assert_msg(workers[t].failed_rc == 0, "put '%s' failed with %d: %s",
		              workers[t].failed_name, workers[t].failed_rc, workers[t].failed_message);
}

START_TEST(list_many)
{
	conf_ctx ctx;
	conf_begin(&ctx, "many");
	unsigned count = conf.opts.many_blobs;
	conf_put_many(&ctx, "blob-", count);
	conf_put(&ctx, "other", "x", 1, 0);

	conf_listing l;
	conf_list(&ctx, "blob-", &l);
	ck_assert_msg(l.count == count, "listed %zu of %u blobs", l.count, count);
	for (unsigned i = 0; i < count; i++) {
		char want[512];
		snprintf(want, sizeof(want), "%sblob-%05u", ctx.prefix, i);
		ck_assert_str_eq(l.entries[i].name, want); /* sorted, distinct, so one each */
		ck_assert_uint_eq(l.entries[i].size, 1 + i % 61);
	}
	conf_listing_free(&l);

	/* a sub-prefix: blob-001xx */
	conf_list(&ctx, "blob-001", &l);
	unsigned expect = count > 200 ? 100 : (count > 100 ? count - 100 : 0);
	ck_assert_msg(l.count == expect, "listed %zu blobs under blob-001, expected %u", l.count, expect);
	conf_listing_free(&l);

	/* spot-check content */
	for (unsigned i = 0; i < count; i += count / 7 + 1) {
		char rel[64];
		snprintf(rel, sizeof(rel), "blob-%05u", i);
		char *name = conf_name(&ctx, rel);
		uint8_t data[64];
		conf_fill(data, 1 + i % 61, i);
		conf_expect_content(&ctx, name, data, 1 + i % 61);
		free(name);
	}
	conf_end(&ctx);
}
END_TEST

/* ------------------------------------------------------------------ remove, write-once */

START_TEST(remove_blob)
{
	conf_ctx ctx;
	conf_begin(&ctx, "remove");
	conf_put(&ctx, "gone", "abc", 3, 0);
	conf_put(&ctx, "stays", "def", 3, 0);
	char *gone = conf_name(&ctx, "gone");
	conf_assert_ok(&ctx, coffer_backend_remove(ctx.be, gone));
	coffer_buf buf = COFFER_BUF_INIT;
	conf_assert_code(&ctx, coffer_backend_get(ctx.be, gone, 0, COFFER_WHOLE, &buf), COFFER_ENOTFOUND);
	coffer_blob_info info;
	conf_assert_code(&ctx, coffer_backend_stat(ctx.be, gone, &info), COFFER_ENOTFOUND);
	conf_assert_code(&ctx, coffer_backend_remove(ctx.be, gone), COFFER_ENOTFOUND);
	static const char *const left[] = { "stays" };
	conf_expect_listing(&ctx, "", left, 1);
	/* a removed name can be written again */
	conf_put(&ctx, "gone", "again", 5, 0);
	conf_expect_content(&ctx, gone, "again", 5);
	coffer_buf_free(&buf);
	free(gone);
	conf_end(&ctx);
}
END_TEST

/* Batch removal: more names than one S3 DeleteObjects request takes, a missing one among
 * them, and a neighbour that must stay. */
START_TEST(remove_many_blobs)
{
	conf_ctx ctx;
	conf_begin(&ctx, "remove-many");
	enum { COUNT = 1003 };
	conf_put_many(&ctx, "batch/", COUNT);
	conf_put(&ctx, "keep", "k", 1, 0);
	char **names = calloc(COUNT + 1, sizeof(*names));
	int *results = calloc(COUNT + 1, sizeof(*results));
	ck_assert_ptr_nonnull(names);
	ck_assert_ptr_nonnull(results);
	conf_listing l;
	conf_list(&ctx, "batch/", &l);
	ck_assert_uint_eq(l.count, COUNT);
	for (size_t i = 0; i < l.count; i++)
		names[i] = strdup(l.entries[i].name);
	names[COUNT] = conf_name(&ctx, "batch/never-written");
	conf_listing_free(&l);
	for (size_t i = 0; i <= COUNT; i++)
		results[i] = 12345;
	conf_assert_ok(&ctx, coffer_backend_remove_many(ctx.be, (const char *const *)names,
	                                                COUNT + 1, results));
	for (size_t i = 0; i < COUNT; i++)
		ck_assert_msg(results[i] == 0, "remove_many: '%s' got %d (%s)", names[i], results[i],
		              coffer_error_name(results[i]));
	ck_assert_msg(results[COUNT] == COFFER_ENOTFOUND,
	              "remove_many: a missing blob gave %d, not COFFER_ENOTFOUND", results[COUNT]);
	static const char *const left[] = { "keep" };
	conf_expect_listing(&ctx, "", left, 1);
	for (size_t i = 0; i <= COUNT; i++)
		free(names[i]);
	free(names);
	free(results);
	conf_end(&ctx);
}
END_TEST

START_TEST(write_once_and_overwrite)
{
	conf_ctx ctx;
	conf_begin(&ctx, "write-once");
	char *name = conf_name(&ctx, "w");
	conf_put(&ctx, "w", "first", 5, 0);
	conf_assert_code(&ctx, coffer_backend_put(ctx.be, name, "second!", 7, 0), COFFER_EEXISTS);
	ck_assert_msg(strlen(conf_error(&ctx)) > 0, "EEXISTS must come with a message");
	conf_expect_content(&ctx, name, "first", 5);
	conf_assert_code(&ctx, coffer_backend_put(ctx.be, name, "", 0, 0), COFFER_EEXISTS);
	conf_expect_content(&ctx, name, "first", 5);

	conf_put(&ctx, "w", "second!", 7, COFFER_PUT_OVERWRITE);
	conf_expect_content(&ctx, name, "second!", 7);
	coffer_blob_info info;
	conf_assert_ok(&ctx, coffer_backend_stat(ctx.be, name, &info));
	ck_assert_uint_eq(info.size, 7);
	conf_put(&ctx, "w", "", 0, COFFER_PUT_OVERWRITE);
	conf_expect_content(&ctx, name, "", 0);

	/* overwrite of a name that does not exist creates it */
	char *fresh = conf_name(&ctx, "fresh");
	conf_put(&ctx, "fresh", "new", 3, COFFER_PUT_OVERWRITE);
	conf_expect_content(&ctx, fresh, "new", 3);
	static const char *const both[] = { "w", "fresh" };
	conf_expect_listing(&ctx, "", both, 2);
	free(fresh);
	free(name);
	conf_end(&ctx);
}
END_TEST

START_TEST(large_blob)
{
	conf_ctx ctx;
	conf_begin(&ctx, "large");
	size_t size = conf.opts.large_blob_size;
	uint8_t *data = conf_pattern(size, 99);
	conf_put(&ctx, "big", data, size, 0);
	char *name = conf_name(&ctx, "big");
	coffer_blob_info info;
	conf_assert_ok(&ctx, coffer_backend_stat(ctx.be, name, &info));
	ck_assert_uint_eq(info.size, size);
	conf_expect_content(&ctx, name, data, size);

	coffer_buf buf = COFFER_BUF_INIT;
	uint64_t offset = size / 2 - 7, length = (size / 40) + 13;
	conf_assert_ok(&ctx, coffer_backend_get(ctx.be, name, offset, length, &buf));
	ck_assert_uint_eq(buf.len, length);
	ck_assert(memcmp(buf.data, data + offset, length) == 0);
	buf.len = 0;
	conf_assert_ok(&ctx, coffer_backend_get(ctx.be, name, size - 3, COFFER_WHOLE, &buf));
	ck_assert_uint_eq(buf.len, 3);
	ck_assert(memcmp(buf.data, data + size - 3, 3) == 0);
	coffer_buf_free(&buf);
	free(name);
	free(data);
	conf_end(&ctx);
}
END_TEST

/* ------------------------------------------------------------------ names */

START_TEST(awkward_names)
{
	conf_ctx ctx;
	conf_begin(&ctx, "names");
	/* Relative names; the long one is built below to reach max_name_length in total. */
	const char *names[32];
	size_t n = 0;
	names[n++] = "snapshots/\xc3\xbc-\xe6\x97\xa5\xe6\x9c\xac/\xc3\xa4"; /* snapshots/ü-日本/ä */
	names[n++] = "emoji/\xf0\x9f\x93\xa6 box";
	names[n++] = "with space/a b  c";
	names[n++] = "percent/100%";
	names[n++] = "percent/%41";   /* must not turn into "A" */
	names[n++] = "percent/A";
	names[n++] = "percent/%";
	names[n++] = "percent/a%2Fb"; /* must not turn into "a/b" */
	names[n++] = "percent/%25";
	names[n++] = "source/user@host:/data/x";
	names[n++] = "delims/a+b=c&d;e,f";
	names[n++] = "delims/!$'()*~";
	names[n++] = "delims/q?x=1#frag";
	names[n++] = "delims/[brackets]{braces}<angle>\"quote\"|pipe^caret`tick\\back";
	names[n++] = "dots/a.b..c";
	names[n++] = "UPPER/lower/Mixed";

	size_t prefix_len = strlen(ctx.prefix);
	size_t long_len = conf.opts.max_name_length > prefix_len + 16
	                          ? conf.opts.max_name_length - prefix_len
	                          : 16;
	char *long_name = malloc(long_len + 1);
	ck_assert_ptr_nonnull(long_name);
	memcpy(long_name, "long/", 5);
	for (size_t i = 5; i < long_len; i++)
		long_name[i] = (i % 50 == 0) ? '/' : (char)('a' + i % 26);
	long_name[long_len] = '\0';
	names[n++] = long_name;

	for (size_t i = 0; i < n; i++)
		conf_put(&ctx, names[i], names[i], strlen(names[i]), 0);
	conf_expect_listing(&ctx, "", names, n);
	for (size_t i = 0; i < n; i++) {
		char *full = conf_name(&ctx, names[i]);
		conf_expect_content(&ctx, full, names[i], strlen(names[i]));
		coffer_blob_info info;
		conf_assert_ok(&ctx, coffer_backend_stat(ctx.be, full, &info));
		ck_assert_uint_eq(info.size, strlen(names[i]));
		/* listing with the whole name as prefix finds it (and whatever extends it) */
		conf_listing l;
		conf_list(&ctx, names[i], &l);
		size_t expect = 0;
		for (size_t j = 0; j < n; j++)
			expect += strncmp(names[j], names[i], strlen(names[i])) == 0;
		ck_assert_msg(l.count == expect, "list with prefix '%s' returned %zu names, expected %zu",
		              full, l.count, expect);
		conf_listing_free(&l);
		free(full);
	}
	static const char *const percents[] = { "percent/100%", "percent/%41", "percent/A",
		                                "percent/%", "percent/a%2Fb", "percent/%25" };
	conf_expect_listing(&ctx, "percent/", percents, 6);
	const char *const unicode[] = { names[0] };
	conf_expect_listing(&ctx, "snapshots/\xc3\xbc", unicode, 1);
	free(long_name);
	conf_end(&ctx);
}
END_TEST

START_TEST(empty_name_refused)
{
	conf_ctx ctx;
	conf_begin(&ctx, "empty-name");
	ck_assert_int_ne(coffer_backend_put(ctx.be, "", "x", 1, 0), 0);
	coffer_buf buf = COFFER_BUF_INIT;
	ck_assert_int_ne(coffer_backend_get(ctx.be, "", 0, COFFER_WHOLE, &buf), 0);
	coffer_buf_free(&buf);
	conf_end(&ctx);
}
END_TEST

/* ------------------------------------------------------------------ concurrency */

START_TEST(concurrent_distinct_names)
{
	conf_ctx ctx;
	conf_begin(&ctx, "concurrent");
	unsigned count = 25 * conf_threads();
	conf_put_many(&ctx, "c/", count);
	conf_listing l;
	conf_list(&ctx, "c/", &l);
	ck_assert_uint_eq(l.count, count);
	conf_listing_free(&l);
	for (unsigned i = 0; i < count; i++) {
		char rel[32];
		snprintf(rel, sizeof(rel), "c/%05u", i);
		char *name = conf_name(&ctx, rel);
		uint8_t data[64];
		conf_fill(data, 1 + i % 61, i);
		conf_expect_content(&ctx, name, data, 1 + i % 61);
		free(name);
	}
	conf_end(&ctx);
}
END_TEST

typedef struct conf_racer {
	conf_ctx *ctx;
	pthread_barrier_t *barrier;
	const char *name;
	unsigned index;
	unsigned flags;
	size_t len;
	int rc;
	char message[1024];
} conf_racer;

static size_t conf_racer_len(unsigned index, int big)
{
	return big ? (size_t)1024 * 1024 + index * 4093 : 100 + index;
}

static void *conf_race(void *arg)
{
	conf_racer *r = arg;
	uint8_t *data = malloc(r->len);
	if (!data) {
		r->rc = COFFER_ENOMEM;
		return NULL;
	}
	conf_fill(data, r->len, 1000 + r->index);
	pthread_barrier_wait(r->barrier);
	r->rc = coffer_backend_put(r->ctx->be, r->name, data, r->len, r->flags);
	if (r->rc)
		snprintf(r->message, sizeof(r->message), "%s", coffer_error_last()->message);
	free(data);
	return NULL;
}

/* Runs `threads` puts of one name at once; returns how many succeeded. */
static unsigned conf_race_round(conf_ctx *ctx, const char *name, unsigned flags, int big,
                                conf_racer *racers)
{
	unsigned threads = conf_threads();
	pthread_barrier_t barrier;
	pthread_t tids[CONF_MAX_THREADS];
	pthread_barrier_init(&barrier, NULL, threads);
	for (unsigned t = 0; t < threads; t++) {
		racers[t] = (conf_racer){ .ctx = ctx, .barrier = &barrier, .name = name, .index = t,
		                          .flags = flags, .len = conf_racer_len(t, big) };
		ck_assert_int_eq(pthread_create(&tids[t], NULL, conf_race, &racers[t]), 0);
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(tids[t], NULL);
	pthread_barrier_destroy(&barrier);
	unsigned wins = 0;
	for (unsigned t = 0; t < threads; t++) {
		ck_assert_msg(racers[t].rc == 0 || (!(flags & COFFER_PUT_OVERWRITE) &&
		                                    racers[t].rc == COFFER_EEXISTS),
		              "racing put of '%s' failed with %d: %s", name, racers[t].rc,
		              racers[t].message);
		wins += racers[t].rc == 0;
	}
	return wins;
}

/* The stored content must be exactly what one of the `eligible` racers wrote. */
static void conf_expect_one_of(conf_ctx *ctx, const char *name, const conf_racer *racers,
                               int big, int only_winners)
{
	coffer_buf buf = COFFER_BUF_INIT;
	conf_assert_ok(ctx, coffer_backend_get(ctx->be, name, 0, COFFER_WHOLE, &buf));
	int matched = 0;
	for (unsigned t = 0; t < conf_threads() && !matched; t++) {
		if (only_winners && racers[t].rc != 0)
			continue;
		size_t len = conf_racer_len(t, big);
		if (buf.len != len)
			continue;
		uint8_t *want = conf_pattern(len, 1000 + t);
		matched = memcmp(buf.data, want, len) == 0;
		free(want);
	}
	ck_assert_msg(matched, "'%s' holds %zu bytes that no single %s wrote", name, buf.len,
	              only_winners ? "winning put" : "put");
	coffer_buf_free(&buf);
}

START_TEST(concurrent_same_name_write_once)
{
	conf_ctx ctx;
	conf_begin(&ctx, "race-once");
	int atomic = (coffer_backend_caps(ctx.be) & COFFER_BACKEND_CAP_ATOMIC_CREATE) != 0;
	conf_racer racers[CONF_MAX_THREADS];
	for (int round = 0; round < 12; round++) {
		char rel[32];
		snprintf(rel, sizeof(rel), "same-%02d", round);
		char *name = conf_name(&ctx, rel);
		int big = round % 3 == 2;
		unsigned wins = conf_race_round(&ctx, name, 0, big, racers);
		if (atomic)
			ck_assert_msg(wins == 1, "round %d: %u of %u write-once puts of '%s' succeeded; "
			              "a backend with COFFER_BACKEND_CAP_ATOMIC_CREATE allows exactly one",
			              round, wins, conf_threads(), name);
		else
			ck_assert_msg(wins >= 1, "round %d: no put of '%s' succeeded", round, name);
		conf_expect_one_of(&ctx, name, racers, big, 1);
		free(name);
	}
	if (!atomic)
		fprintf(stderr, "note: %s does not claim atomic create; checked only that a winner's "
		        "content is stored\n", conf.url);
	conf_end(&ctx);
}
END_TEST

START_TEST(concurrent_same_name_overwrite)
{
	conf_ctx ctx;
	conf_begin(&ctx, "race-overwrite");
	conf_racer racers[CONF_MAX_THREADS];
	char *name = conf_name(&ctx, "contended");
	for (int round = 0; round < 4; round++) {
		unsigned wins = conf_race_round(&ctx, name, COFFER_PUT_OVERWRITE, 1, racers);
		ck_assert_uint_eq(wins, conf_threads());
		conf_expect_one_of(&ctx, name, racers, 1, 0);
	}
	free(name);
	conf_end(&ctx);
}
END_TEST

/* ------------------------------------------------------------------ misc */

START_TEST(describe_backend)
{
	conf_ctx ctx;
	conf_begin(&ctx, "describe");
	coffer_buf buf = COFFER_BUF_INIT;
	conf_assert_ok(&ctx, coffer_backend_describe(ctx.be, &buf));
	ck_assert_msg(buf.len > 0, "describe gave nothing");
	ck_assert_msg(memchr(buf.data, '\n', buf.len) == NULL, "describe must be one line");
	ck_assert_msg(memchr(buf.data, '\0', buf.len) == NULL, "describe must be text");
	coffer_buf_free(&buf);
	ck_assert_ptr_nonnull(coffer_backend_plugin_name(ctx.be));
	conf_end(&ctx);
}
END_TEST

/* Last: removes whatever a failed test (which stops before its own cleanup) left under
 * this run's prefix, so a shared bucket stays clean. Passing tests leave nothing. */
START_TEST(remove_leftovers)
{
	conf_ctx ctx;
	conf_begin(&ctx, "cleanup");
	conf_listing l;
	memset(&l, 0, sizeof(l));
	int rc = coffer_backend_list(ctx.be, conf.run_prefix, conf_list_cb, &l);
	ck_assert_msg(rc == 0, "list '%s' failed: %s", conf.run_prefix, conf_error(&ctx));
	for (size_t i = 0; i < l.count; i++) {
		rc = coffer_backend_remove(ctx.be, l.entries[i].name);
		ck_assert_msg(rc == 0 || rc == COFFER_ENOTFOUND, "removing '%s' failed: %s",
		              l.entries[i].name, conf_error(&ctx));
	}
	if (l.count)
		fprintf(stderr, "note: removed %zu blobs that failed tests left under %s\n", l.count,
		        conf.run_prefix);
	conf_listing_free(&l);
	coffer_backend_close(ctx.be);
}
END_TEST

/* ------------------------------------------------------------------ entry points */

static void conf_make_run_prefix(void)
{
	unsigned long long random_part = 0;
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(&random_part, sizeof(random_part), 1, f) != 1)
		random_part = (unsigned long long)clock() ^ ((unsigned long long)getpid() << 20);
	if (f)
		fclose(f);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(conf.run_prefix, sizeof(conf.run_prefix), "coffer-conformance/%s-%ld-%08llx/",
	         when, (long)getpid(), random_part & 0xffffffffULL);
}

TCase *coffer_conformance_tcase(coffer_core *core, const char *url,
                                const coffer_conformance_options *opts)
{
	conf.core = core;
	conf.url = url;
	if (opts)
		conf.opts = *opts;
	if (!conf.opts.max_name_length)
		conf.opts.max_name_length = CONF_DEFAULT_MAX_NAME;
	if (!conf.opts.large_blob_size)
		conf.opts.large_blob_size = CONF_DEFAULT_LARGE;
	if (!conf.opts.many_blobs)
		conf.opts.many_blobs = CONF_DEFAULT_MANY;
	if (!conf.opts.threads)
		conf.opts.threads = CONF_DEFAULT_THREADS;
	if (conf.opts.threads > CONF_MAX_THREADS)
		conf.opts.threads = CONF_MAX_THREADS;
	conf_make_run_prefix();

	TCase *tc = tcase_create("conformance");
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, put_get_small_and_empty);
	tcase_add_test(tc, missing_blobs);
	tcase_add_test(tc, ranged_get);
	tcase_add_test(tc, stat_blob);
	tcase_add_test(tc, list_prefixes);
	tcase_add_test(tc, list_many);
	tcase_add_test(tc, remove_blob);
	tcase_add_test(tc, remove_many_blobs);
	tcase_add_test(tc, write_once_and_overwrite);
	tcase_add_test(tc, large_blob);
	tcase_add_test(tc, awkward_names);
	tcase_add_test(tc, empty_name_refused);
	tcase_add_test(tc, concurrent_distinct_names);
	tcase_add_test(tc, concurrent_same_name_write_once);
	tcase_add_test(tc, concurrent_same_name_overwrite);
	tcase_add_test(tc, describe_backend);
	tcase_add_test(tc, remove_leftovers);
	return tc;
}

Suite *coffer_conformance_suite(coffer_core *core, const char *url,
                                const coffer_conformance_options *opts)
{
	static char title[512];
	snprintf(title, sizeof(title), "backend conformance %s", url);
	Suite *s = suite_create(title);
	suite_add_tcase(s, coffer_conformance_tcase(core, url, opts));
	return s;
}
