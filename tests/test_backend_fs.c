/* backend-fs: the conformance suite on filesystem:///<tmpdir>/repo, then what only a
 * filesystem backend has: URL checks, creating the folder, the on-disk layout (sharding,
 * name encoding, long names), temporary files, permissions and a full disk. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <coffer/sys/plugin.h>
#include <coffer/sys/preload.h>

#include "backend_conformance.h"
#include "testlib.h"

static coffer_core *core;
static char *tmpdir;
static char repo_url[4200];
static char repo_dir[4200];

/* ------------------------------------------------------------------ helpers */

/* filesystem:// + path, percent-encoding what a URL cannot carry as is. */
static void make_url(char *out, size_t cap, const char *path)
{
	size_t o = (size_t)snprintf(out, cap, "filesystem://");
	for (const unsigned char *p = (const unsigned char *)path; *p && o + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("/-._~", *p))
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", *p);
	}
	out[o] = '\0';
}

static coffer_backend *open_backend(const char *url, int create)
{
	coffer_backend_options o = COFFER_BACKEND_OPTIONS_INIT;
	o.create = create;
	o.parallelism = 8;
	coffer_backend *be = NULL;
	int rc = coffer_backend_open(&be, core, url, &o);
	ck_assert_msg(rc == 0, "opening %s failed with %d: %s", url, rc, coffer_error_last()->message);
	return be;
}

/* A fresh repository folder below tmpdir for one test. */
static coffer_backend *fresh_repo(const char *tag, char *dir, size_t cap)
{
	snprintf(dir, cap, "%s/%s", tmpdir, tag);
	test_rmtree(dir);
	char url[4200];
	make_url(url, sizeof(url), dir);
	return open_backend(url, 1);
}

static void put_ok(coffer_backend *be, const char *name, const void *data, size_t len)
{
	int rc = coffer_backend_put(be, name, data, len, 0);
	ck_assert_msg(rc == 0, "put '%s' failed with %d: %s", name, rc,
	              coffer_backend_last_error(be)->message);
}

static void expect_open_refused(const char *url, int create, int want, const char *needle)
{
	coffer_backend_options o = COFFER_BACKEND_OPTIONS_INIT;
	o.create = create;
	coffer_backend *be = NULL;
	int rc = coffer_backend_open(&be, core, url, &o);
	const char *msg = coffer_error_last()->message;
	ck_assert_msg(rc == want, "opening '%s' returned %d (%s), expected %d; message: %s", url, rc,
	              coffer_error_name(rc), want, msg);
	ck_assert_ptr_null(be);
	ck_assert_msg(strstr(msg, needle) != NULL, "the error for '%s' should mention '%s': %s", url,
	              needle, msg);
}

/* The documented shard byte (plugins/backend-fs/backend-fs.c, docs/FORMAT.md), computed
 * independently here so a change of layout breaks this test. */
static unsigned shard_byte(const char *bytes, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)bytes[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (unsigned)(h & 0xff);
}

static void shard_dirs(const char *name, char *out, size_t cap)
{
	size_t len = strlen(name);
	const char *slash = strchr(name, '/');
	size_t ns = slash ? (size_t)(slash - name) + 1 : len;
	snprintf(out, cap, "%02x/%02x", shard_byte(name, ns), shard_byte(name, len));
}

typedef struct tree_stats {
	size_t max_entries;   /* most entries in one folder */
	char max_dir[4200];
	size_t files, dirs;
	size_t longest_entry; /* longest file or folder name */
	int bad_entry;        /* a name with a control byte or a leading '.' */
	char bad[300];
} tree_stats;

static void walk_tree(const char *dir, tree_stats *ts)
{
	DIR *d = opendir(dir);
	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	size_t entries = 0;
	struct dirent *ent;
	while ((ent = readdir(d)) != NULL) {
		if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
			continue;
		entries++;
		size_t len = strlen(ent->d_name);
		if (len > ts->longest_entry)
			ts->longest_entry = len;
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)ent->d_name[i] < 0x20 || ent->d_name[0] == '.') {
				ts->bad_entry = 1;
				snprintf(ts->bad, sizeof(ts->bad), "%s", ent->d_name);
			}
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
		struct stat sb;
		ck_assert_int_eq(lstat(path, &sb), 0);
		if (S_ISDIR(sb.st_mode)) {
			ts->dirs++;
			walk_tree(path, ts);
		} else {
			ts->files++;
		}
	}
	closedir(d);
	if (entries > ts->max_entries) {
		ts->max_entries = entries;
		snprintf(ts->max_dir, sizeof(ts->max_dir), "%s", dir);
	}
}

typedef struct listing {
	char **names;
	size_t count;
} listing;

static int collect(const coffer_blob_info *info, void *ud)
{
	listing *l = ud;
	l->names = realloc(l->names, (l->count + 1) * sizeof(*l->names));
	l->names[l->count++] = strdup(info->name);
	return 0;
}

static void listing_free(listing *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL;
	l->count = 0;
}

static int listing_has(const listing *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->names[i], name) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ URLs and opening */

START_TEST(url_refused)
{
	char url[4200];
	snprintf(url, sizeof(url), "filesystem://somehost%s/repo", tmpdir);
	expect_open_refused(url, 1, COFFER_EINVALID, url);
	expect_open_refused(url, 1, COFFER_EINVALID, "no host");
	expect_open_refused("filesystem://", 1, COFFER_EINVALID, "absolute");
	expect_open_refused("filesystem://relative/path", 1, COFFER_EINVALID, "filesystem://relative/path");
	snprintf(url, sizeof(url), "filesystem://%s/../etc", tmpdir);
	expect_open_refused(url, 1, COFFER_EINVALID, "'..'");
	snprintf(url, sizeof(url), "filesystem://%s/./repo", tmpdir);
	expect_open_refused(url, 1, COFFER_EINVALID, url);
	snprintf(url, sizeof(url), "filesystem://%s/%%2E%%2E/x", tmpdir); /* an escaped ".." */
	expect_open_refused(url, 1, COFFER_EINVALID, "'..'");
	snprintf(url, sizeof(url), "filesystem://%s/..", tmpdir);
	expect_open_refused(url, 0, COFFER_EINVALID, "'..'");
	snprintf(url, sizeof(url), "filesystem://%s/repo?mode=fast", tmpdir);
	expect_open_refused(url, 1, COFFER_EINVALID, "options");
	/* nothing was created by the refused URLs */
	char path[4200];
	snprintf(path, sizeof(path), "%s/etc", tmpdir);
	ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(missing_folder_and_create)
{
	char dir[4200], url[4200];
	snprintf(dir, sizeof(dir), "%s/not/yet/here", tmpdir);
	make_url(url, sizeof(url), dir);
	expect_open_refused(url, 0, COFFER_ENOTFOUND, "does not exist");
	expect_open_refused(url, 0, COFFER_ENOTFOUND, url);
	ck_assert_int_ne(access(dir, F_OK), 0);

	coffer_backend *be = open_backend(url, 1);
	struct stat sb;
	ck_assert_int_eq(stat(dir, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	put_ok(be, "x", "1", 1);
	coffer_backend_close(be);
	be = open_backend(url, 0); /* exists now */
	coffer_buf buf = COFFER_BUF_INIT;
	ck_assert_int_eq(coffer_backend_get(be, "x", 0, COFFER_WHOLE, &buf), 0);
	ck_assert_uint_eq(buf.len, 1);
	coffer_buf_free(&buf);
	coffer_backend_close(be);

	/* trailing and doubled slashes name the same folder; describe shows it normalised */
	char messy[4300];
	snprintf(messy, sizeof(messy), "filesystem://%s//not/yet//here/", tmpdir);
	be = open_backend(messy, 0);
	ck_assert_int_eq(coffer_backend_get(be, "x", 0, COFFER_WHOLE, &buf), 0);
	coffer_buf_free(&buf);
	ck_assert_int_eq(coffer_backend_describe(be, &buf), 0);
	char want[4300];
	snprintf(want, sizeof(want), "filesystem %s", dir);
	ck_assert_uint_eq(buf.len, strlen(want));
	ck_assert(memcmp(buf.data, want, buf.len) == 0);
	coffer_buf_free(&buf);
	ck_assert_str_eq(coffer_backend_plugin_name(be), "backend-fs");
	ck_assert_uint_eq(coffer_backend_caps(be),
	                  COFFER_BACKEND_CAP_RANGE | COFFER_BACKEND_CAP_ATOMIC_CREATE |
	                      COFFER_BACKEND_CAP_LOCAL);
	coffer_backend_close(be);
}
END_TEST

START_TEST(file_instead_of_folder)
{
	char path[4200], url[4200];
	snprintf(path, sizeof(path), "%s/plain-file", tmpdir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	make_url(url, sizeof(url), path);
	expect_open_refused(url, 0, COFFER_EINVALID, "not a directory");
	expect_open_refused(url, 1, COFFER_EINVALID, "not a directory");

	/* a file where a shard folder should be: put fails, naming the blob and path */
	char dir[4200];
	coffer_backend *be = fresh_repo("shard-is-file", dir, sizeof(dir));
	char shards[16];
	shard_dirs("victim", shards, sizeof(shards));
	shards[2] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, shards);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	int rc = coffer_backend_put(be, "victim", "v", 1, 0);
	const char *msg = coffer_backend_last_error(be)->message;
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(strstr(msg, "'victim'") && strstr(msg, dir), "message: %s", msg);
	coffer_backend_close(be);
}
END_TEST

/* ------------------------------------------------------------------ layout */

typedef struct bulk {
	coffer_backend *be;
	unsigned index, threads, count;
	int rc;
} bulk;

static void *bulk_put(void *arg)
{
	bulk *b = arg;
	for (unsigned i = b->index; i < b->count && !b->rc; i += b->threads) {
		char name[64];
		if (i % 3 == 0)
			snprintf(name, sizeof(name), "flat-%05u", i);
		else
			snprintf(name, sizeof(name), "shard/%05u", i);
		b->rc = coffer_backend_put(b->be, name, name, strlen(name), 0);
	}
	return NULL;
}

START_TEST(sharding)
{
	char dir[4200];
	coffer_backend *be = fresh_repo("sharding", dir, sizeof(dir));
	enum { COUNT = 3000, THREADS = 8 };
	bulk workers[THREADS];
	pthread_t tids[THREADS];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned t = 0; t < THREADS; t++) {
		workers[t] = (bulk){ be, t, THREADS, COUNT, 0 };
		pthread_create(&tids[t], NULL, bulk_put, &workers[t]);
	}
	for (unsigned t = 0; t < THREADS; t++) {
		pthread_join(tids[t], NULL);
		ck_assert_msg(workers[t].rc == 0, "bulk put failed: %s",
		              coffer_backend_last_error(be)->message);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "sharding: %d durable puts from %d threads in %.2f s\n", COUNT, THREADS,
	        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	tree_stats ts;
	memset(&ts, 0, sizeof(ts));
	walk_tree(dir, &ts);
	fprintf(stderr, "sharding: %zu files, %zu folders, at most %zu entries in %s\n", ts.files,
	        ts.dirs, ts.max_entries, ts.max_dir);
	ck_assert_uint_eq(ts.files, COUNT);
	/* The root and L1 folders hold at most 256 shard folders; a leaf ~8 blobs of one
	 * namespace on average here, so 64 in one leaf means the hash does not spread. */
	ck_assert_msg(ts.max_entries <= 256, "%s holds %zu entries", ts.max_dir, ts.max_entries);
	ck_assert_msg(ts.bad_entry == 0, "an entry on disk has an unsafe name: %s", ts.bad);

	char shards[16], path[4300];
	shard_dirs("shard/", shards, sizeof(shards));
	shards[2] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, shards);
	memset(&ts, 0, sizeof(ts));
	walk_tree(path, &ts);
	ck_assert_msg(ts.dirs >= 200, "the 2000 blobs of namespace 'shard/' use only %zu folders",
	              ts.dirs);
	/* all of the namespace, and the few flat names that hash to the same L1 folder */
	ck_assert_msg(ts.files >= 2000 && ts.files < 2000 + 40, "%zu files below %s", ts.files, path);

	/* The documented place of a few blobs. */
	shard_dirs("shard/00043", shards, sizeof(shards));
	snprintf(path, sizeof(path), "%s/%s/shard%%2F00043", dir, shards);
	ck_assert_msg(access(path, F_OK) == 0, "blob 'shard/00043' is not at %s", path);
	shard_dirs("flat-00042", shards, sizeof(shards));
	snprintf(path, sizeof(path), "%s/%s/flat-00042", dir, shards);
	ck_assert_msg(access(path, F_OK) == 0, "blob 'flat-00042' is not at %s", path);

	/* listing a namespace still finds all of them */
	listing l = { 0 };
	ck_assert_int_eq(coffer_backend_list(be, "shard/", collect, &l), 0);
	ck_assert_uint_eq(l.count, 2000);
	listing_free(&l);
	ck_assert_int_eq(coffer_backend_list(be, "flat-", collect, &l), 0);
	ck_assert_uint_eq(l.count, 1000);
	listing_free(&l);
	ck_assert_int_eq(coffer_backend_list(be, "", collect, &l), 0);
	ck_assert_uint_eq(l.count, COUNT);
	listing_free(&l);
	coffer_backend_close(be);
	test_rmtree(dir);
}
END_TEST

/* Names the object stores may not take but this backend must: every byte but NUL. */
START_TEST(encoded_names_round_trip)
{
	char dir[4200];
	coffer_backend *be = fresh_repo("encoding", dir, sizeof(dir));
	static char long_plain[1025], long_escaped[1025], long_utf8[1025], long_dots[1025];
	memset(long_plain, 'a', 1024);
	for (int i = 0; i < 1024; i++)
		long_escaped[i] = (i % 7 == 0) ? '/' : (i % 5 == 0 ? '%' : 'b');
	for (int i = 0; i + 2 <= 1023; i += 2)
		memcpy(long_utf8 + i, "\xc3\xa9", 2); /* é x 511 */
	long_utf8[1022] = 'z';
	for (int i = 0; i < 1024; i++)
		long_dots[i] = '.';
	const char *names[] = {
		".hidden", "..", ".", "...", "./x", "a/./b", "a/../b", "../escape", "a//b", "/leading",
		"trailing/", "tab\there", "new\nline", "\x01\x02\x1f\x7f", "%", "%%", "%2F", "%2e", "a%",
		"\xff\xfe not utf-8 \x80", "snapshots/\xc3\xbc-\xe6\x97\xa5\xe6\x9c\xac/\xc3\xa4",
		".tmp-1-2-3-not-a-temp-file", "x%/y", "shard", long_plain, long_escaped, long_utf8,
		long_dots,
	};
	const size_t n = sizeof(names) / sizeof(names[0]);
	for (size_t i = 0; i < n; i++)
		put_ok(be, names[i], names[i], strlen(names[i]));

	listing l = { 0 };
	ck_assert_int_eq(coffer_backend_list(be, "", collect, &l), 0);
	ck_assert_uint_eq(l.count, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(listing_has(&l, names[i]), "list lost name %zu (%.40s)", i, names[i]);
		coffer_buf buf = COFFER_BUF_INIT;
		ck_assert_int_eq(coffer_backend_get(be, names[i], 0, COFFER_WHOLE, &buf), 0);
		ck_assert_uint_eq(buf.len, strlen(names[i]));
		ck_assert(memcmp(buf.data, names[i], buf.len) == 0);
		coffer_buf_free(&buf);
	}
	listing_free(&l);
	ck_assert_int_eq(coffer_backend_list(be, ".", collect, &l), 0);
	ck_assert_uint_eq(l.count, 8); /* .hidden .. . ... ./x ../escape .tmp-... and the long dots */
	listing_free(&l);

	tree_stats ts;
	memset(&ts, 0, sizeof(ts));
	walk_tree(dir, &ts);
	ck_assert_msg(ts.bad_entry == 0, "an entry on disk has an unsafe name: %s", ts.bad);
	ck_assert_msg(ts.longest_entry <= 241, "an entry on disk is %zu bytes long", ts.longest_entry);
	ck_assert_uint_eq(ts.files, n);

	/* 1024 bytes is the limit; empty names are refused */
	char too_long[1026];
	memset(too_long, 'q', 1025);
	too_long[1025] = '\0';
	ck_assert_int_eq(coffer_backend_put(be, too_long, "x", 1, 0), COFFER_EINVALID);
	ck_assert_int_eq(coffer_backend_put(be, "", "x", 1, 0), COFFER_EINVALID);
	coffer_blob_info info;
	ck_assert_int_eq(coffer_backend_stat(be, "", &info), COFFER_EINVALID);
	ck_assert_int_eq(coffer_backend_remove(be, ""), COFFER_EINVALID);
	coffer_backend_close(be);
	test_rmtree(dir);
}
END_TEST

static void touch(const char *path, time_t age_seconds)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "creating %s: %s", path, strerror(errno));
	fputs("junk", f);
	fclose(f);
	if (age_seconds) {
		struct timespec times[2];
		clock_gettime(CLOCK_REALTIME, &times[0]);
		times[0].tv_sec -= age_seconds;
		times[1] = times[0];
		ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
	}
}

START_TEST(temp_and_foreign_files_not_listed)
{
	char dir[4200];
	coffer_backend *be = fresh_repo("temp-files", dir, sizeof(dir));
	put_ok(be, "t/a", "a", 1);
	char shards[16], leaf[4300], fresh[4400], stale[4400], path[4400];
	shard_dirs("t/a", shards, sizeof(shards));
	snprintf(leaf, sizeof(leaf), "%s/%s", dir, shards);
	snprintf(fresh, sizeof(fresh), "%s/.tmp-1-2-3-0123456789abcdef", leaf);
	snprintf(stale, sizeof(stale), "%s/.tmp-1-2-4-0123456789abcdef", leaf);
	touch(fresh, 0);
	touch(stale, 2 * 24 * 3600);
	/* Files this backend never writes: a bad escape, a blob in the wrong shard, a
	 * non-canonical spelling, something at the top. */
	snprintf(path, sizeof(path), "%s/bad%%zz", leaf);
	touch(path, 0);
	snprintf(path, sizeof(path), "%s/t%%2Fmisplaced-%s", leaf, "x");
	touch(path, 0);
	snprintf(path, sizeof(path), "%s/t%%2F%%61", leaf); /* "t/a" spelled with an escaped 'a' */
	touch(path, 0);
	snprintf(path, sizeof(path), "%s/README", dir);
	touch(path, 0);
	snprintf(path, sizeof(path), "%s/zz", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);

	listing l = { 0 };
	ck_assert_int_eq(coffer_backend_list(be, "", collect, &l), 0);
	for (size_t i = 0; i < l.count; i++)
		fprintf(stderr, "listed: %s\n", l.names[i]);
	ck_assert_uint_eq(l.count, 1);
	ck_assert_str_eq(l.names[0], "t/a");
	listing_free(&l);
	ck_assert_msg(access(stale, F_OK) != 0, "a temporary file two days old survived list()");
	ck_assert_msg(access(fresh, F_OK) == 0, "list() removed a fresh temporary file");

	/* a put leaves no temporary file behind, neither on success nor on EEXISTS */
	ck_assert_int_eq(unlink(fresh), 0);
	put_ok(be, "t/b", "b", 1);
	ck_assert_int_eq(coffer_backend_put(be, "t/a", "again", 5, 0), COFFER_EEXISTS);
	ck_assert_int_eq(coffer_backend_put(be, "t/a", "again", 5, COFFER_PUT_OVERWRITE), 0);
	tree_stats ts;
	memset(&ts, 0, sizeof(ts));
	walk_tree(dir, &ts);
	ck_assert_msg(ts.bad_entry == 0, "left behind: %s", ts.bad);
	coffer_backend_close(be);
	test_rmtree(dir);
}
END_TEST

/* ------------------------------------------------------------------ errors from the OS */

/* Every operation on a repository this process may not enter fails with COFFER_EAUTH
 * and says so. Returns a bit per failed expectation (for a child's exit status). */
static int expect_permission_denied(coffer_backend *be, const char *dir)
{
	int failures = 0;
	coffer_buf buf = COFFER_BUF_INIT;
	coffer_blob_info info;
	listing l = { 0 };
	int rcs[5] = {
		coffer_backend_put(be, "p/new", "x", 1, 0),
		coffer_backend_get(be, "p/old", 0, COFFER_WHOLE, &buf),
		coffer_backend_stat(be, "p/old", &info),
		coffer_backend_list(be, "", collect, &l),
		coffer_backend_remove(be, "p/old"),
	};
	for (int i = 0; i < 5; i++)
		if (rcs[i] != COFFER_EAUTH) {
			fprintf(stderr, "operation %d returned %d instead of COFFER_EAUTH\n", i, rcs[i]);
			failures |= 1 << i;
		}
	const char *msg = coffer_backend_last_error(be)->message;
	if (!strcasestr(msg, "permission denied") || !strstr(msg, dir) || !strstr(msg, "p/old")) {
		fprintf(stderr, "the error should say permission denied and name blob and path: %s\n",
		        msg);
		failures |= 1 << 5;
	}
	coffer_buf_free(&buf);
	listing_free(&l);
	return failures;
}

START_TEST(permission_denied_is_eauth)
{
	char dir[4200];
	coffer_backend *be = fresh_repo("permissions", dir, sizeof(dir));
	put_ok(be, "p/old", "o", 1);
	ck_assert_int_eq(chmod(dir, 0), 0);
	if (geteuid() != 0) {
		int failures = expect_permission_denied(be, dir);
		chmod(dir, 0700);
		ck_assert_msg(failures == 0, "expectations failed: mask 0x%x", failures);
	} else {
		/* root ignores permissions; drop to nobody in a child so they apply */
		ck_assert_int_eq(chmod(tmpdir, 0755), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0) {
				fprintf(stderr, "SKIP permission test: cannot drop root (%s)\n",
				        strerror(errno));
				_exit(77);
			}
			_exit(expect_permission_denied(be, dir));
		}
		int status = 0;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		chmod(dir, 0700);
		ck_assert(WIFEXITED(status));
		if (WEXITSTATUS(status) == 77)
			fprintf(stderr, "permission_denied_is_eauth: skipped, could not drop root\n");
		else
			ck_assert_msg(WEXITSTATUS(status) == 0, "expectations failed as uid 65534: mask 0x%x",
			              WEXITSTATUS(status));
	}
	coffer_backend_close(be);
	test_rmtree(dir);
}
END_TEST

/* A tiny tmpfs in a private mount namespace (root only) to hit ENOSPC for real. */
START_TEST(disk_full)
{
	char dir[4200], url[4300];
	snprintf(dir, sizeof(dir), "%s/small-disk", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	make_url(url, sizeof(url), dir);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700") != 0) {
			fprintf(stderr, "SKIP disk-full test: cannot mount a small tmpfs (%s)\n",
			        strerror(errno));
			_exit(77);
		}
		coffer_backend *be = NULL;
		coffer_backend_options o = COFFER_BACKEND_OPTIONS_INIT;
		o.create = 1;
		if (coffer_backend_open(&be, core, url, &o) != 0)
			_exit(10);
		size_t size = 1024 * 1024;
		char *data = calloc(1, size);
		int rc = coffer_backend_put(be, "big/blob", data, size, 0);
		const char *msg = coffer_backend_last_error(be)->message;
		fprintf(stderr, "disk full: put returned %d: %s\n", rc, msg);
		int failures = 0;
		if (rc == 0 || rc == COFFER_ENOTFOUND || rc == COFFER_EAUTH)
			failures |= 1;
		if (!strstr(msg, "disk full") || !strstr(msg, "big/blob"))
			failures |= 2;
		/* the failed put left no temporary file, so small blobs still fit */
		tree_stats ts;
		memset(&ts, 0, sizeof(ts));
		walk_tree(dir, &ts);
		if (ts.files != 0)
			failures |= 4;
		if (coffer_backend_put(be, "small", "s", 1, 0) != 0)
			failures |= 8;
		free(data);
		coffer_backend_close(be);
		_exit(failures);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		fprintf(stderr, "disk_full: skipped (needs root and mount namespaces)\n");
	else
		ck_assert_msg(WEXITSTATUS(status) == 0, "disk-full expectations failed: mask 0x%x",
		              WEXITSTATUS(status));
	rmdir(dir);
}
END_TEST

START_TEST(messages_name_blob_and_path)
{
	char dir[4200];
	coffer_backend *be = fresh_repo("messages", dir, sizeof(dir));
	coffer_buf buf = COFFER_BUF_INIT;
	ck_assert_int_eq(coffer_backend_get(be, "some/blob", 0, COFFER_WHOLE, &buf), COFFER_ENOTFOUND);
	const char *msg = coffer_backend_last_error(be)->message;
	ck_assert_msg(strstr(msg, "'some/blob'") && strstr(msg, dir), "message: %s", msg);
	put_ok(be, "some/blob", "12345", 5);
	ck_assert_int_eq(coffer_backend_put(be, "some/blob", "x", 1, 0), COFFER_EEXISTS);
	msg = coffer_backend_last_error(be)->message;
	ck_assert_msg(strstr(msg, "'some/blob'") && strstr(msg, dir) && strstr(msg, "exists"),
	              "message: %s", msg);
	ck_assert_int_eq(coffer_backend_get(be, "some/blob", 3, 5, &buf), COFFER_EINVALID);
	msg = coffer_backend_last_error(be)->message;
	ck_assert_msg(strstr(msg, "'some/blob'") && strstr(msg, "past"), "message: %s", msg);
	coffer_buf_free(&buf);
	coffer_backend_close(be);
	test_rmtree(dir);
}
END_TEST

/* ------------------------------------------------------------------ main */

int main(void)
{
	COFFER_SET_PRELOADED_PLUGINS();
	coffer_core_options opts = COFFER_CORE_OPTIONS_INIT;
	opts.plugin_path = "";
	opts.no_default_path = 1;
	if (coffer_core_new(&core, &opts) != 0) {
		fprintf(stderr, "coffer_core_new: %s\n", coffer_error_last()->message);
		return EXIT_FAILURE;
	}
	const coffer_plugin_info *info;
	if (coffer_core_find(core, COFFER_PLUGIN_BACKEND, "filesystem", &info) != 0) {
		fprintf(stderr, "backend-fs is not preloaded: %s\n", coffer_error_last()->message);
		return EXIT_FAILURE;
	}
	tmpdir = test_tmpdir("backend-fs");
	snprintf(repo_dir, sizeof(repo_dir), "%s/conformance repo", tmpdir); /* a space: URL-escaped */
	make_url(repo_url, sizeof(repo_url), repo_dir);

	Suite *s = coffer_conformance_suite(core, repo_url, NULL);
	TCase *tc = tcase_create("filesystem");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, url_refused);
	tcase_add_test(tc, missing_folder_and_create);
	tcase_add_test(tc, file_instead_of_folder);
	tcase_add_test(tc, sharding);
	tcase_add_test(tc, encoded_names_round_trip);
	tcase_add_test(tc, temp_and_foreign_files_not_listed);
	tcase_add_test(tc, permission_denied_is_eauth);
	tcase_add_test(tc, disk_full);
	tcase_add_test(tc, messages_name_blob_and_path);
	suite_add_tcase(s, tc);

	int status = test_run_suite(s);
	test_rmtree(tmpdir);
	free(tmpdir);
	coffer_core_free(core);
	return status;
}
