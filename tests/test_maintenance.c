/* Maintenance on real filesystem repositories: the lease (refusal, force, take-over of an
 * expired one), quick index compaction, full garbage collection with margins zero
 * (reclaimed after the second run, everything else restores bit for bit), repacking, a
 * chunk referenced again between two runs (kept and undeleted), and young packs that a
 * non-zero margin protects. */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <coffer/maintenance.h>
#include <coffer/sys/preload.h>

#include "testlib.h"
#include "../core/src/tree.h"
#include "../core/src/restore_private.h"

static coffer_core *core;
static char *tmpdir;
static coffer_repo *repo;
static char repo_url[4200];
static int generation;

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

static void dir_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* Writes `len` pseudo-random bytes from `seed` to <tmpdir>/<dir>/<file>. */
static void put_file(const char *dir, const char *file, size_t len, uint64_t seed)
{
	char path[4400];
	dir_path(path, sizeof(path), dir);
	mkdir(path, 0755);
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", file);
	uint8_t *buf = malloc(len ? len : 1);
	random_bytes(buf, len, seed);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	free(buf);
}

static coffer_repo *open_repo(void)
{
	char cache[4300];
	snprintf(cache, sizeof(cache), "%s/cache-%d", tmpdir, generation++);
	coffer_repo_options o = COFFER_REPO_OPTIONS_INIT;
	o.cache_dir = cache;
	o.parallelism = 2;
	coffer_repo *r = NULL;
	ck_assert_coffer_ok(coffer_repo_open(&r, core, repo_url, "secret", &o));
	return r;
}

static void backup(coffer_repo *r, const char *dir, const char *source, coffer_snapshot_info *info)
{
	char path[4400];
	dir_path(path, sizeof(path), dir);
	coffer_backup_options o;
	memset(&o, 0, sizeof(o));
	o.version = COFFER_BACKUP_OPTIONS_VERSION;
	o.path = path;
	o.source = source;
	o.parallelism = 2;
	ck_assert_coffer_ok(coffer_backup(r, &o, info));
}

static int run(coffer_repo *r, int full, const char *owner, coffer_maintenance_result *res)
{
	coffer_maintenance_options o = COFFER_MAINTENANCE_OPTIONS_INIT;
	o.full = full;
	o.safety = COFFER_SAFETY_NONE;
	o.owner = owner;
	return coffer_maintenance_run(r, &o, res);
}

static int count_blobs(const coffer_blob_info *info, void *ud)
{
	(void)info;
	(*(size_t *)ud)++;
	return 0;
}

static size_t blobs(const char *prefix)
{
	size_t n = 0;
	ck_assert_coffer_ok(coffer_backend_list(coffer_repo_backend(repo), prefix, count_blobs, &n));
	return n;
}

/* Restores the snapshot and compares every file of `dir` byte for byte. */
static void restores_as(coffer_repo *r, const char *id, const char *dir)
{
	char dest[4400], cmd[9000], src[4400];
	snprintf(dest, sizeof(dest), "%s/restore-%d", tmpdir, generation++);
	dir_path(src, sizeof(src), dir);
	coffer_restore_options o;
	memset(&o, 0, sizeof(o));
	o.version = COFFER_RESTORE_OPTIONS_VERSION;
	o.dest = dest;
	o.no_owner = 1;
	coffer_restore_stats st;
	ck_assert_coffer_ok(coffer_restore(r, id, &o, &st));
	snprintf(cmd, sizeof(cmd), "diff -r '%s' '%s' >/dev/null", src, dest);
	ck_assert_msg(system(cmd) == 0, "restore of %s differs from %s", id, src);
}

static void verifies(coffer_repo *r)
{
	coffer_verify_result v;
	ck_assert_coffer_ok(coffer_verify(r, NULL, 0, 1, NULL, NULL, &v));
	ck_assert_uint_eq(v.missing_chunks + v.corrupt_chunks + v.damaged_files, 0);
}

static void setup(void)
{
	COFFER_SET_PRELOADED_PLUGINS();
	coffer_core_options co = COFFER_CORE_OPTIONS_INIT;
	co.no_default_path = 1;
	co.plugin_path = "";
	ck_assert_coffer_ok(coffer_core_new(&core, &co));
	tmpdir = test_tmpdir("maint");
	snprintf(repo_url, sizeof(repo_url), "filesystem://%s/repo", tmpdir);
	char cache[4300];
	snprintf(cache, sizeof(cache), "%s/cache-create", tmpdir);
	coffer_repo_options o = COFFER_REPO_OPTIONS_INIT;
	o.scrypt_n = 1024;
	o.compression = TEST_COMPRESSION;
	o.cache_dir = cache;
	o.parallelism = 2;
	ck_assert_coffer_ok(coffer_repo_create(&repo, core, repo_url, "secret", &o));
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

START_TEST(lease_refuses_forces_and_expires)
{
	coffer_maintenance_result res;
	coffer_maintenance_options o = COFFER_MAINTENANCE_OPTIONS_INIT;
	o.safety = COFFER_SAFETY_NONE;
	o.owner = "alice@one";
	o.lease_ns = 2000000000; /* 2 s */
	ck_assert_coffer_ok(coffer_maintenance_run(repo, &o, &res));
	/* the same owner runs again at once */
	ck_assert_coffer_ok(coffer_maintenance_run(repo, &o, &res));
	coffer_maintenance_info info;
	ck_assert_coffer_ok(coffer_maintenance_info_get(repo, &info));
	ck_assert_int_eq(info.has_lease, 1);
	ck_assert_str_eq(info.owner, "alice@one");
	ck_assert_int_eq(info.running, 0);
	ck_assert_int_gt(info.last_quick_ns, 0);

	/* another owner is refused while the lease lives, with a message naming the owner */
	o.owner = "bob@two";
	int rc = coffer_maintenance_run(repo, &o, &res);
	ck_assert_int_eq(rc, COFFER_EEXISTS);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "alice@one"));
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "until"));
	/* --force-owner takes it at once */
	o.force_owner = 1;
	ck_assert_coffer_ok(coffer_maintenance_run(repo, &o, &res));
	ck_assert_coffer_ok(coffer_maintenance_info_get(repo, &info));
	ck_assert_str_eq(info.owner, "bob@two");
	/* alice is refused now, until the lease expires; then she takes it over */
	o.owner = "alice@one";
	o.force_owner = 0;
	ck_assert_int_eq(coffer_maintenance_run(repo, &o, &res), COFFER_EEXISTS);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "bob@two"));
	sleep(3);
	ck_assert_coffer_ok(coffer_maintenance_run(repo, &o, &res));
	ck_assert_coffer_ok(coffer_maintenance_info_get(repo, &info));
	ck_assert_str_eq(info.owner, "alice@one");
	/* only the newest lease generation is kept */
	ck_assert_uint_eq(blobs("maintenance/lease/"), 1);
	int64_t last;
	ck_assert_coffer_ok(coffer_maintenance_last_run(repo, &last));
	ck_assert_int_eq(last, info.last_quick_ns);
}
END_TEST

START_TEST(quick_compacts_index_blobs)
{
	coffer_snapshot_info info[6];
	for (int i = 0; i < 6; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%d", i);
		put_file("src", name, 300000 + (size_t)i * 1000, (uint64_t)i + 100);
		coffer_repo *r = open_repo(); /* separate sessions, as separate hosts would be */
		backup(r, "src", "u@h:/src", &info[i]);
		coffer_repo_close(r);
	}
	ck_assert_uint_ge(blobs("index/"), 6);
	coffer_maintenance_result res;
	ck_assert_coffer_ok(run(repo, 0, "t@h", &res));
	ck_assert_uint_ge(res.index_blobs_before, 6);
	ck_assert_uint_eq(res.index_blobs_after, 1);
	ck_assert_uint_eq(blobs("index/"), 1);
	/* a handle opened before the compaction and a new one both read everything */
	verifies(repo);
	coffer_repo *r = open_repo();
	verifies(r);
	restores_as(r, info[5].id, "src");
	coffer_repo_close(r);
	for (int i = 0; i < 6; i++)
		coffer_snapshot_info_clear(&info[i]);
}
END_TEST

START_TEST(full_gc_reclaims_after_second_run)
{
	coffer_snapshot_info gone, kept;
	put_file("a", "shared", 400000, 1);
	put_file("a", "unique", 900000, 2);
	put_file("b", "shared", 400000, 1);
	put_file("b", "own", 300000, 3);
	coffer_repo *r = open_repo();
	backup(r, "a", "u@h:/a", &gone);
	coffer_repo_close(r);
	r = open_repo();
	backup(r, "b", "u@h:/b", &kept);
	coffer_repo_close(r);
	ck_assert_coffer_ok(coffer_snapshot_delete(repo, gone.id));

	coffer_maintenance_result res;
	ck_assert_coffer_ok(run(repo, 1, "t@h", &res));
	ck_assert_uint_eq(res.snapshots, 1);
	ck_assert_uint_ge(res.chunks_tombstoned, 1);
	ck_assert_uint_eq(res.packs_deleted, 0); /* only candidates after one run */
	ck_assert_uint_eq(res.bytes_reclaimed, 0);
	ck_assert_uint_gt(res.bytes_reclaimable, 0);
	coffer_maintenance_info mi;
	ck_assert_coffer_ok(coffer_maintenance_info_get(repo, &mi));
	ck_assert_uint_gt(mi.candidates, 0);
	ck_assert_uint_gt(mi.bytes_reclaimable, 0);
	/* tombstoned data still reads while it waits */
	verifies(repo);

	ck_assert_coffer_ok(run(repo, 1, "t@h", &res));
	ck_assert_uint_ge(res.packs_deleted + res.packs_repacked, 1);
	/* the pack of "a" held the shared file too: it is repacked, then deleted a run later */
	ck_assert_coffer_ok(run(repo, 1, "t@h", &res));
	ck_assert_coffer_ok(coffer_maintenance_info_get(repo, &mi));
	ck_assert_uint_eq(mi.candidates, 0);
	ck_assert_uint_eq(mi.bytes_reclaimable, 0);
	ck_assert_uint_gt(mi.last_full_ns, 0);

	r = open_repo();
	verifies(r);
	restores_as(r, kept.id, "b");
	coffer_repo_status st;
	ck_assert_coffer_ok(coffer_repo_status_get(r, &st));
	/* what is left is about b's bytes: the unique 900 kB of a are gone */
	ck_assert_uint_lt(st.pack_bytes, 900000);
	coffer_repo_usage u;
	ck_assert_coffer_ok(coffer_repo_usage_get(r, &u));
	ck_assert_uint_eq(u.snapshots, 1);
	ck_assert_uint_eq(u.logical_bytes, 700000);
	ck_assert_uint_eq(u.index_blob_count, 1);
	coffer_repo_close(r);
	coffer_snapshot_info_clear(&gone);
	coffer_snapshot_info_clear(&kept);
}
END_TEST

/* A writer with an old view deduplicated against a chunk the first run found unreferenced:
 * simulated by a snapshot whose listing names the chunks of a deleted snapshot, saved
 * after the first run. The second run must keep and undelete them. */
START_TEST(chunk_referenced_again_is_kept)
{
	coffer_snapshot_info old;
	put_file("a", "data", 700000, 7);
	coffer_repo *r = open_repo();
	backup(r, "a", "u@h:/a", &old);
	coffer_manifest m;
	ck_assert_coffer_ok(coffer_restore_load_manifest(r, old.id, &m));
	coffer_dir root;
	ck_assert_coffer_ok(coffer_dir_load(r, &m.root, &root));
	coffer_repo_close(r);
	ck_assert_coffer_ok(coffer_snapshot_delete(repo, old.id));

	coffer_maintenance_result res;
	ck_assert_coffer_ok(run(repo, 1, "t@h", &res));
	ck_assert_uint_ge(res.chunks_tombstoned, 1);

	/* the slow writer commits now: same listing, a new manifest */
	r = open_repo();
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, r, 1, NULL));
	coffer_object obj;
	ck_assert_coffer_ok(coffer_dir_store(w, 0, &root, &obj));
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_object_clear(&m.root);
	m.root = obj;
	coffer_free(m.info.blob_name);
	m.info.blob_name = NULL;
	memcpy(m.info.id, "0123456789abcdef0123456789abcdef", COFFER_SNAPSHOT_ID_HEX + 1);
	ck_assert_coffer_ok(coffer_manifest_save(r, &m));
	coffer_store_writer_free(w);
	coffer_repo_close(r);

	/* The listing was stored again (the writer saw its tombstone); the file's data chunks
	 * were only named: they must stay where they are. */
	ck_assert_uint_ge(root.count, 1);
	coffer_chunk_location loc;
	ck_assert_coffer_ok(coffer_store_lookup(repo, &root.entries[0].content.chunks[0], &loc));
	ck_assert_coffer_ok(run(repo, 1, "t@h", &res));
	ck_assert_uint_ge(res.chunks_undeleted, 1);
	ck_assert_coffer_ok(run(repo, 1, "t@h", &res));
	ck_assert_uint_eq(res.chunks_undeleted, 0);
	coffer_blob_info bi;
	ck_assert_coffer_ok(coffer_backend_stat(coffer_repo_backend(repo), loc.pack, &bi));
	r = open_repo();
	verifies(r);
	restores_as(r, m.info.id, "a");
	coffer_repo_close(r);
	coffer_manifest_clear(&m);
	coffer_dir_clear(&root);
	coffer_snapshot_info_clear(&old);
}
END_TEST

START_TEST(young_packs_survive_a_margin)
{
	coffer_snapshot_info gone;
	put_file("a", "data", 500000, 9);
	backup(repo, "a", "u@h:/a", &gone);
	ck_assert_coffer_ok(coffer_snapshot_delete(repo, gone.id));
	size_t packs = blobs("p") + blobs("q");
	coffer_maintenance_options o = COFFER_MAINTENANCE_OPTIONS_INIT;
	o.full = 1;
	o.owner = "t@h";
	o.min_age_ns = (int64_t)3600 * 1000000000;
	o.run_margin_ns = 0;
	o.session_expiry_ns = 0;
	coffer_maintenance_result res;
	for (int i = 0; i < 3; i++) {
		ck_assert_coffer_ok(coffer_maintenance_run(repo, &o, &res));
		ck_assert_uint_eq(res.packs_deleted, 0);
		ck_assert_uint_eq(res.chunks_tombstoned, 0);
	}
	ck_assert_uint_eq(blobs("p") + blobs("q"), packs);
	/* a margin between runs holds back a candidate even when everything else allows it */
	o.min_age_ns = 0;
	o.run_margin_ns = (int64_t)3600 * 1000000000;
	for (int i = 0; i < 2; i++) {
		ck_assert_coffer_ok(coffer_maintenance_run(repo, &o, &res));
		ck_assert_uint_eq(res.packs_deleted, 0);
	}
	ck_assert_uint_ge(res.packs_deferred, 1);
	ck_assert_uint_eq(blobs("p") + blobs("q"), packs);
	coffer_snapshot_info_clear(&gone);
}
END_TEST

/* A running write session (its marker) holds back deletion of what became garbage
 * before it started; once it ends, the next run deletes. */
START_TEST(live_session_holds_back_deletion)
{
	coffer_snapshot_info gone;
	put_file("a", "data", 500000, 11);
	backup(repo, "a", "u@h:/a", &gone);
	ck_assert_coffer_ok(coffer_snapshot_delete(repo, gone.id));
	coffer_maintenance_options o = COFFER_MAINTENANCE_OPTIONS_INIT;
	o.full = 1;
	o.owner = "t@h";
	o.min_age_ns = 0;
	o.run_margin_ns = 0;
	o.session_expiry_ns = (int64_t)3600 * 1000000000;
	coffer_maintenance_result res;
	coffer_repo *r = open_repo();
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, r, 1, NULL));
	ck_assert_uint_eq(blobs("sessions/"), 1);
	ck_assert_coffer_ok(coffer_maintenance_run(repo, &o, &res));
	ck_assert_coffer_ok(coffer_maintenance_run(repo, &o, &res));
	ck_assert_uint_eq(res.packs_deleted, 0);
	ck_assert_uint_ge(res.packs_deferred, 1);
	ck_assert_uint_eq(res.sessions_live, 1);
	coffer_store_writer_free(w);
	coffer_repo_close(r);
	ck_assert_uint_eq(blobs("sessions/"), 0);
	ck_assert_coffer_ok(coffer_maintenance_run(repo, &o, &res));
	ck_assert_uint_ge(res.packs_deleted, 1);
	coffer_snapshot_info_clear(&gone);
}
END_TEST

static Suite *maintenance_suite(void)
{
	Suite *s = suite_create("maintenance");
	TCase *tc = tcase_create("maintenance");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, lease_refuses_forces_and_expires);
	tcase_add_test(tc, quick_compacts_index_blobs);
	tcase_add_test(tc, full_gc_reclaims_after_second_run);
	tcase_add_test(tc, chunk_referenced_again_is_kept);
	tcase_add_test(tc, young_packs_survive_a_margin);
	tcase_add_test(tc, live_session_holds_back_deletion);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(maintenance_suite());
}
