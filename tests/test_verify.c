/* Verify against real repositories on the filesystem backend: a good repository passes; a
 * flipped byte in a data pack is found by --read-data and names exactly the files that use
 * the chunk; a deleted pack is reported missing without reading data. */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <coffer/sys/preload.h>

#include "testlib.h"
#include "../core/src/tree.h"
#include "../core/src/restore_private.h"

static coffer_core *core;
static char *tmpdir;
static coffer_repo *repo;
static char repo_url[4200];
static char src_dir[4200];
static int cache_generation;

typedef struct error_log {
	size_t errors, others;
	char paths[32][512];
	char messages[32][1024];
} error_log;

static void log_event(const coffer_event *ev, void *ud)
{
	error_log *log = ud;
	if (ev->kind != COFFER_EVENT_ERROR) {
		log->others++;
		return;
	}
	if (log->errors < 32) {
		snprintf(log->paths[log->errors], 512, "%s", ev->path ? ev->path : "");
		snprintf(log->messages[log->errors], 1024, "%s", ev->message ? ev->message : "");
	}
	log->errors++;
}

static int logged(const error_log *log, const char *path)
{
	for (size_t i = 0; i < log->errors && i < 32; i++)
		if (strcmp(log->paths[i], path) == 0)
			return 1;
	return 0;
}

static void random_bytes(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

static void write_file(const char *rel, const uint8_t *data, size_t len)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s", src_dir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* a: unique; sub/b: the same bytes as a (same chunks); c: unique; d: small */
static void make_tree(void)
{
	char path[4400];
	uint8_t *buf = malloc(400000);
	ck_assert_int_eq(mkdir(src_dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/sub", src_dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	random_bytes(buf, 400000, 11);
	write_file("a", buf, 400000);
	write_file("sub/b", buf, 400000);
	random_bytes(buf, 400000, 12);
	write_file("c", buf, 400000);
	write_file("d", (const uint8_t *)"small file\n", 11);
	free(buf);
}

static coffer_repo *open_repo(void)
{
	char cache[4300];
	snprintf(cache, sizeof(cache), "%s/cache-%d", tmpdir, cache_generation++);
	coffer_repo_options o = COFFER_REPO_OPTIONS_INIT;
	o.cache_dir = cache;
	o.parallelism = 2;
	coffer_repo *r = NULL;
	ck_assert_coffer_ok(coffer_repo_open(&r, core, repo_url, "secret", &o));
	return r;
}

static void backup(coffer_snapshot_info *info)
{
	coffer_backup_options o;
	memset(&o, 0, sizeof(o));
	o.version = COFFER_BACKUP_OPTIONS_VERSION;
	o.path = src_dir;
	o.source = "tester@host:/data";
	ck_assert_coffer_ok(coffer_backup(repo, &o, info));
}

static void setup(void)
{
	COFFER_SET_PRELOADED_PLUGINS();
	coffer_core_options co = COFFER_CORE_OPTIONS_INIT;
	co.no_default_path = 1;
	co.plugin_path = "";
	ck_assert_coffer_ok(coffer_core_new(&core, &co));
	tmpdir = test_tmpdir("verify");
	snprintf(src_dir, sizeof(src_dir), "%s/src", tmpdir);
	snprintf(repo_url, sizeof(repo_url), "filesystem://%s/repo", tmpdir);
	char cache[4300];
	snprintf(cache, sizeof(cache), "%s/cache-create", tmpdir);
	coffer_repo_options o = COFFER_REPO_OPTIONS_INIT;
	o.scrypt_n = 1024;
	o.compression = TEST_COMPRESSION;
	o.cache_dir = cache;
	o.parallelism = 2;
	ck_assert_coffer_ok(coffer_repo_create(&repo, core, repo_url, "secret", &o));
	make_tree();
}

static void teardown(void)
{
	if (repo)
		coffer_repo_close(repo);
	repo = NULL;
	coffer_core_free(core);
	test_rmtree(tmpdir);
	free(tmpdir);
}

/* Where the first chunk of a file of the snapshot lives. */
static void locate(const char *snapshot_id, const char *path, coffer_chunk_location *loc)
{
	coffer_manifest m;
	ck_assert_coffer_ok(coffer_restore_load_manifest(repo, snapshot_id, &m));
	coffer_dirent e;
	ck_assert_coffer_ok(coffer_restore_resolve(repo, &m, path, &e, NULL));
	ck_assert_uint_ge(e.content.count, 1);
	ck_assert_coffer_ok(coffer_store_lookup(repo, &e.content.chunks[0], loc));
	coffer_dirent_clear(&e);
	coffer_manifest_clear(&m);
}

/* Files of the snapshot with any chunk in `pack`. */
static size_t files_in_pack(const char *snapshot_id, const char *pack, const char *const *paths, size_t n,
                            int *hit)
{
	coffer_manifest m;
	size_t count = 0;
	ck_assert_coffer_ok(coffer_restore_load_manifest(repo, snapshot_id, &m));
	for (size_t i = 0; i < n; i++) {
		coffer_dirent e;
		ck_assert_coffer_ok(coffer_restore_resolve(repo, &m, paths[i], &e, NULL));
		hit[i] = 0;
		for (size_t k = 0; k < e.content.count; k++) {
			coffer_chunk_location loc;
			ck_assert_coffer_ok(coffer_store_lookup(repo, &e.content.chunks[k], &loc));
			if (strcmp(loc.pack, pack) == 0)
				hit[i] = 1;
		}
		count += (size_t)hit[i];
		coffer_dirent_clear(&e);
	}
	coffer_manifest_clear(&m);
	return count;
}

START_TEST(test_verify_good)
{
	coffer_snapshot_info one, two;
	backup(&one);
	write_file("d", (const uint8_t *)"changed\n", 8);
	backup(&two);
	error_log log;
	memset(&log, 0, sizeof(log));
	coffer_verify_result r;
	ck_assert_coffer_ok(coffer_verify(repo, NULL, 0, 0, log_event, &log, &r));
	ck_assert_uint_eq(r.snapshots, 2);
	ck_assert_uint_ge(r.files, 4);
	ck_assert_uint_ge(r.chunks, 4);
	ck_assert_uint_eq(r.bytes_read, 0);
	ck_assert_uint_eq(r.damaged_files + r.missing_chunks + r.corrupt_chunks, 0);
	ck_assert_uint_eq(log.errors, 0);

	coffer_repo_close(repo);
	repo = open_repo();
	ck_assert_coffer_ok(coffer_verify(repo, NULL, 0, 1, log_event, &log, &r));
	ck_assert_uint_eq(r.snapshots, 2);
	/* a, sub/b, c, d and the changed d: 800 KB of distinct content at least */
	ck_assert_uint_ge(r.bytes_read, 800000);
	ck_assert_uint_eq(log.errors, 0);

	const char *ids[] = { one.id };
	ck_assert_coffer_ok(coffer_verify(repo, ids, 1, 1, log_event, &log, &r));
	ck_assert_uint_eq(r.snapshots, 1);
	const char *bad[] = { "0123456789abcdef0123456789abcdef" };
	ck_assert_int_eq(coffer_verify(repo, bad, 1, 0, log_event, &log, &r), COFFER_ENOTFOUND);
	coffer_snapshot_info_clear(&one);
	coffer_snapshot_info_clear(&two);
}
END_TEST

START_TEST(test_verify_flipped_byte)
{
	coffer_snapshot_info info;
	backup(&info);
	coffer_chunk_location loc;
	locate(info.id, "a", &loc);
	coffer_buf pack = COFFER_BUF_INIT;
	coffer_backend *be = coffer_repo_backend(repo);
	ck_assert_coffer_ok(coffer_backend_get(be, loc.pack, 0, COFFER_WHOLE, &pack));
	pack.data[loc.offset + loc.stored_length / 2] ^= 1;
	ck_assert_coffer_ok(coffer_backend_put(be, loc.pack, pack.data, pack.len, COFFER_PUT_OVERWRITE));
	coffer_buf_free(&pack);
	coffer_repo_close(repo);
	repo = open_repo();

	/* without reading data the damage cannot be seen: index and packs are in order */
	error_log log;
	memset(&log, 0, sizeof(log));
	coffer_verify_result r;
	ck_assert_coffer_ok(coffer_verify(repo, NULL, 0, 0, log_event, &log, &r));
	ck_assert_uint_eq(log.errors, 0);

	memset(&log, 0, sizeof(log));
	int rc = coffer_verify(repo, NULL, 0, 1, log_event, &log, &r);
	ck_assert_int_eq(rc, COFFER_ECORRUPT);
	ck_assert_uint_eq(r.corrupt_chunks, 1);
	ck_assert_uint_eq(r.missing_chunks, 0);
	ck_assert_uint_eq(r.damaged_files, 2);
	ck_assert_uint_eq(log.errors, 2);
	ck_assert(logged(&log, "a"));
	ck_assert(logged(&log, "sub/b"));
	ck_assert_msg(strstr(log.messages[0], info.id), "%s", log.messages[0]);
	coffer_snapshot_info_clear(&info);
}
END_TEST

START_TEST(test_verify_missing_pack)
{
	coffer_snapshot_info info;
	backup(&info);
	coffer_chunk_location loc;
	locate(info.id, "c", &loc);
	static const char *const paths[] = { "a", "sub/b", "c", "d" };
	int hit[4];
	size_t expected = files_in_pack(info.id, loc.pack, paths, 4, hit);
	ck_assert_uint_ge(expected, 1);
	ck_assert_coffer_ok(coffer_backend_remove(coffer_repo_backend(repo), loc.pack));
	coffer_repo_close(repo);
	repo = open_repo();

	error_log log;
	memset(&log, 0, sizeof(log));
	coffer_verify_result r;
	int rc = coffer_verify(repo, NULL, 0, 0, log_event, &log, &r);
	ck_assert_int_eq(rc, COFFER_ECORRUPT);
	ck_assert_uint_ge(r.missing_chunks, 1);
	ck_assert_uint_eq(r.damaged_files, expected);
	ck_assert_uint_eq(log.errors, expected);
	for (size_t i = 0; i < 4; i++)
		ck_assert_msg(logged(&log, paths[i]) == hit[i], "%s: reported %d, in the pack %d", paths[i],
		              logged(&log, paths[i]), hit[i]);
	ck_assert_msg(strstr(log.messages[0], "missing"), "%s", log.messages[0]);
	coffer_snapshot_info_clear(&info);
}
END_TEST

static Suite *verify_suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tc = tcase_create("verify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_verify_good);
	tcase_add_test(tc, test_verify_flipped_byte);
	tcase_add_test(tc, test_verify_missing_pack);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* every test's folder goes below one of the whole run, removed even after a failed
	 * test (a failing test skips its teardown) */
	char *base = test_tmpdir("verify-run");
	setenv("TMPDIR", base, 1);
	int status = test_run_suite(verify_suite());
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null", base);
	if (system(cmd) != 0)
		fprintf(stderr, "chmod failed\n");
	test_rmtree(base);
	free(base);
	return status;
}
