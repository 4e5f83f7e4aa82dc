/* Tree objects through a real filesystem repository: listings stored as metadata chunks
 * and read back (one and many pieces, dedup, damage), and snapshot manifests saved,
 * listed, found by id prefix, pinned, deleted and selected, including damaged manifests. */
#include "config.h"

#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <coffer/coffer.h>
#include <coffer/sys/preload.h>

#include "testlib.h"
#include "../core/src/tree.h"

#define S 1000000000LL

typedef struct test_env {
	char *dir;
	char repo_url[4200];
	char cache[4200];
	coffer_core *core;
	coffer_repo *repo;
} test_env;

static void env_init(test_env *env)
{
	coffer_core_options co = COFFER_CORE_OPTIONS_INIT;
	coffer_repo_options ro = COFFER_REPO_OPTIONS_INIT;
	char path[4200];
	coffer_codec zstd;

	memset(env, 0, sizeof(*env));
	env->dir = test_tmpdir("tree");
	snprintf(path, sizeof(path), "%s/repo", env->dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(env->repo_url, sizeof(env->repo_url), "filesystem://%s", path);
	snprintf(env->cache, sizeof(env->cache), "%s/cache", env->dir);
	ck_assert_int_eq(mkdir(env->cache, 0700), 0);
	COFFER_SET_PRELOADED_PLUGINS();
	co.no_default_path = 1;
	co.plugin_path = "";
	ck_assert_coffer_ok(coffer_core_new(&env->core, &co));
	ro.cache_dir = env->cache;
	ro.scrypt_n = 1024;
	if (coffer_codec_lookup(env->core, "zstd", &zstd) != 0)
		ro.compression = "none";
	ck_assert_coffer_ok(coffer_repo_create(&env->repo, env->core, env->repo_url, "secret", &ro));
}

static void env_reopen(test_env *env)
{
	coffer_repo_options ro = COFFER_REPO_OPTIONS_INIT;

	coffer_repo_close(env->repo);
	ro.cache_dir = env->cache;
	ck_assert_coffer_ok(coffer_repo_open(&env->repo, env->core, env->repo_url, "secret", &ro));
}

static void env_free(test_env *env)
{
	if (env->repo)
		coffer_repo_close(env->repo);
	coffer_core_free(env->core);
	test_rmtree(env->dir);
	free(env->dir);
}

/* ---------------------------------------------------------------- listings */

static void build_dir(coffer_dir *d, size_t count, size_t chunks_each)
{
	d->entries = coffer_calloc(count, sizeof(*d->entries));
	ck_assert_ptr_nonnull(d->entries);
	d->count = count;
	for (size_t i = 0; i < count; i++) {
		char name[48];
		int n = snprintf(name, sizeof(name), "entry-%09zu", i);
		coffer_dirent *e = &d->entries[i];
		e->name = coffer_strdup(name);
		e->name_len = (size_t)n;
		e->type = i % 7 == 3 ? COFFER_ENTRY_SYMLINK : COFFER_ENTRY_FILE;
		e->mode = 0644;
		e->uid = (uint32_t)i;
		e->mtime_ns = (int64_t)i * 1000;
		if (e->type == COFFER_ENTRY_SYMLINK) {
			e->link_target = coffer_strdup("target");
			continue;
		}
		e->content.chunks = coffer_calloc(chunks_each ? chunks_each : 1, sizeof(coffer_cid));
		e->content.sizes = coffer_calloc(chunks_each ? chunks_each : 1, sizeof(uint32_t));
		e->content.count = chunks_each;
		for (size_t c = 0; c < chunks_each; c++) {
			memcpy(e->content.chunks[c].bytes, &i, sizeof(i));
			e->content.chunks[c].bytes[31] = (uint8_t)c;
			e->content.sizes[c] = (uint32_t)(c + 1);
			e->size += c + 1;
		}
	}
}

static void assert_dirs_encode_equal(const coffer_dir *a, const coffer_dir *b)
{
	coffer_buf x = COFFER_BUF_INIT, y = COFFER_BUF_INIT;
	ck_assert_coffer_ok(coffer_dir_encode(a, &x));
	ck_assert_coffer_ok(coffer_dir_encode(b, &y));
	ck_assert_uint_eq(x.len, y.len);
	ck_assert_mem_eq(x.data, y.data, x.len);
	coffer_buf_free(&x);
	coffer_buf_free(&y);
}

START_TEST(listing_store_and_load)
{
	test_env env;
	coffer_store_writer *w;
	coffer_dir small = { NULL, 0 }, big = { NULL, 0 }, back;
	coffer_object small_obj, small_again, big_obj;

	env_init(&env);
	build_dir(&small, 10, 2);
	build_dir(&big, 200000, 2);
	ck_assert_coffer_ok(coffer_store_writer_new(&w, env.repo, 2, NULL));
	ck_assert_coffer_ok(coffer_dir_store(w, 0, &small, &small_obj));
	ck_assert_uint_eq(small_obj.count, 1);
	ck_assert_coffer_ok(coffer_dir_store(w, 1, &small, &small_again));
	ck_assert_mem_eq(small_obj.chunks[0].bytes, small_again.chunks[0].bytes, COFFER_CRYPTO_ID_SIZE);
	ck_assert_coffer_ok(coffer_dir_store(w, 1, &big, &big_obj));
	ck_assert_uint_ge(big_obj.count, 4);
	for (size_t i = 0; i < big_obj.count; i++)
		ck_assert_uint_le(big_obj.sizes[i], COFFER_DIR_PIECE_MAX);
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);

	ck_assert_coffer_ok(coffer_dir_load(env.repo, &small_obj, &back));
	assert_dirs_encode_equal(&small, &back);
	coffer_dir_clear(&back);

	/* From a fresh handle, as a restore would. */
	env_reopen(&env);
	ck_assert_coffer_ok(coffer_dir_load(env.repo, &big_obj, &back));
	ck_assert_uint_eq(back.count, big.count);
	assert_dirs_encode_equal(&big, &back);
	coffer_dir_clear(&back);

	/* A chunkless object is an empty directory. */
	coffer_object none = { NULL, NULL, 0 };
	ck_assert_coffer_ok(coffer_dir_load(env.repo, &none, &back));
	ck_assert_uint_eq(back.count, 0);

	/* A piece whose size disagrees with its parent; a chunk that is not there. */
	big_obj.sizes[1]--;
	ck_assert_int_eq(coffer_dir_load(env.repo, &big_obj, &back), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "piece 2 of"));
	big_obj.sizes[1]++;
	big_obj.chunks[2].bytes[0] ^= 1;
	ck_assert_int_eq(coffer_dir_load(env.repo, &big_obj, &back), COFFER_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "piece 3 of"));
	ck_assert_ptr_null(back.entries);
	/* Pieces in the wrong order decode as garbage: refused, not crashed. */
	big_obj.chunks[2].bytes[0] ^= 1;
	coffer_cid first = big_obj.chunks[0];
	uint32_t first_size = big_obj.sizes[0];
	big_obj.chunks[0] = big_obj.chunks[1];
	big_obj.sizes[0] = big_obj.sizes[1];
	big_obj.chunks[1] = first;
	big_obj.sizes[1] = first_size;
	ck_assert_int_eq(coffer_dir_load(env.repo, &big_obj, &back), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "directory listing: "));

	/* An invalid listing is refused before anything is written. */
	ck_assert_coffer_ok(coffer_store_writer_new(&w, env.repo, 1, NULL));
	coffer_object_clear(&small_again);
	char *saved = small.entries[1].name;
	small.entries[1].name = small.entries[0].name;
	ck_assert_int_eq(coffer_dir_store(w, 0, &small, &small_again), COFFER_EINVALID);
	small.entries[1].name = saved;
	ck_assert_uint_eq(small_again.count, 0);
	coffer_store_writer_free(w);

	coffer_object_clear(&small_obj);
	coffer_object_clear(&small_again);
	coffer_object_clear(&big_obj);
	coffer_dir_clear(&small);
	coffer_dir_clear(&big);
	env_free(&env);
}
END_TEST

/* ---------------------------------------------------------------- manifests */

static void make_manifest(coffer_manifest *m, const char *id, const char *source, int64_t start)
{
	memset(m, 0, sizeof(*m));
	if (id)
		strcpy(m->info.id, id);
	m->info.source = coffer_strdup(source);
	m->info.start_time_ns = start;
	m->info.end_time_ns = start + 5 * S;
	m->info.stats.files = 3;
	m->info.tag_count = 1;
	m->info.tags = coffer_calloc(1, sizeof(coffer_tag));
	m->info.tags[0].key = coffer_strdup("k");
	m->info.tags[0].value = coffer_strdup("v");
	m->root.chunks = coffer_calloc(1, sizeof(coffer_cid));
	m->root.sizes = coffer_calloc(1, sizeof(uint32_t));
	m->root.chunks[0].bytes[0] = 0xab;
	m->root.sizes[0] = 77;
	m->root.count = 1;
	m->root_mode = 0750;
}

static void save(test_env *env, const char *id, const char *source, int64_t start, char *id_out)
{
	coffer_manifest m;
	make_manifest(&m, id, source, start);
	ck_assert_coffer_ok(coffer_manifest_save(env->repo, &m));
	ck_assert_ptr_nonnull(m.info.blob_name);
	ck_assert_uint_eq(strlen(m.info.id), COFFER_SNAPSHOT_ID_HEX);
	ck_assert_str_eq(m.info.tool_version, coffer_version());
	if (id_out)
		strcpy(id_out, m.info.id);
	coffer_manifest_clear(&m);
}

typedef struct warnings {
	int count;
	char path[256];
	char message[1024];
} warnings;

static void on_warning(const coffer_event *ev, void *ud)
{
	warnings *w = ud;
	ck_assert_int_eq(ev->kind, COFFER_EVENT_WARNING);
	w->count++;
	snprintf(w->path, sizeof(w->path), "%s", ev->path);
	snprintf(w->message, sizeof(w->message), "%s", ev->message);
}

static const char *const A = "app@prod:/data", *const B = "db@prod:/data";

START_TEST(manifest_save_list_find_pin_delete)
{
	test_env env;
	coffer_snapshot_info *infos, info;
	size_t n;
	char a1[33], a2[33], a3[33], b1[33], prefix[128];
	coffer_manifest loaded;

	env_init(&env);
	save(&env, NULL, A, 1000 * S, a1);
	save(&env, NULL, A, 3000 * S + 1, a3);
	save(&env, NULL, A, 2000 * S, a2);
	save(&env, NULL, B, 2500 * S, b1);

	/* The prefix is keyed: it reveals nothing of the source and differs per source. */
	ck_assert_coffer_ok(coffer_manifest_prefix(env.repo, A, prefix, sizeof(prefix)));
	ck_assert_uint_eq(strlen(prefix), strlen("snapshots/") + 33);
	ck_assert_ptr_null(strstr(prefix, "app"));
	char prefix_b[128];
	ck_assert_coffer_ok(coffer_manifest_prefix(env.repo, B, prefix_b, sizeof(prefix_b)));
	ck_assert_str_ne(prefix, prefix_b);

	ck_assert_coffer_ok(coffer_snapshot_list(env.repo, A, &infos, &n));
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(infos[0].id, a3);
	ck_assert_str_eq(infos[1].id, a2);
	ck_assert_str_eq(infos[2].id, a1);
	ck_assert(infos[0].start_time_ns == 3000 * S + 1);
	ck_assert(infos[0].end_time_ns == 3005 * S + 1);
	ck_assert_str_eq(infos[0].source, A);
	ck_assert_uint_eq(infos[0].stats.files, 3);
	ck_assert_uint_eq(infos[0].tag_count, 1);
	ck_assert_str_eq(infos[0].tags[0].value, "v");
	ck_assert(strncmp(infos[0].blob_name, prefix, strlen(prefix)) == 0);
	coffer_snapshot_info_free_array(infos, n);

	ck_assert_coffer_ok(coffer_snapshot_list(env.repo, NULL, &infos, &n));
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(infos[0].id, a3);
	ck_assert_str_eq(infos[1].id, b1);
	ck_assert_str_eq(infos[3].id, a1);
	coffer_snapshot_info_free_array(infos, n);

	ck_assert_coffer_ok(coffer_snapshot_list(env.repo, "nobody@nowhere:/x", &infos, &n));
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(infos);

	/* Find by full id, by prefix (any case), and the refusals. */
	ck_assert_coffer_ok(coffer_snapshot_find(env.repo, a2, &info));
	ck_assert_str_eq(info.id, a2);
	ck_assert(info.start_time_ns == 2000 * S);
	coffer_snapshot_info_clear(&info);
	char upper[33];
	for (int i = 0; i < 8; i++)
		upper[i] = (char)(a1[i] >= 'a' ? a1[i] - 'a' + 'A' : a1[i]);
	upper[8] = '\0';
	ck_assert_coffer_ok(coffer_snapshot_find(env.repo, upper, &info));
	ck_assert_str_eq(info.id, a1);
	ck_assert_coffer_ok(coffer_manifest_load(env.repo, info.blob_name, &loaded));
	ck_assert_uint_eq(loaded.root.count, 1);
	ck_assert_uint_eq(loaded.root.sizes[0], 77);
	ck_assert_uint_eq(loaded.root_mode, 0750);
	coffer_manifest_clear(&loaded);
	coffer_snapshot_info_clear(&info);
	char short_id[6] = { 0 };
	memcpy(short_id, a1, 5);
	ck_assert_int_eq(coffer_snapshot_find(env.repo, short_id, &info), COFFER_EINVALID);
	ck_assert_int_eq(coffer_snapshot_find(env.repo, "zzzzzzzz", &info), COFFER_EINVALID);
	ck_assert_int_eq(coffer_snapshot_find(env.repo, NULL, &info), COFFER_EINVALID);
	ck_assert_int_eq(coffer_snapshot_find(env.repo, "0123456789abcdef0123456789abcdef0", &info), COFFER_EINVALID);
	/* An id no snapshot has (a1 with its last digit changed). */
	char other[33];
	strcpy(other, a1);
	other[31] = other[31] == '0' ? '1' : '0';
	ck_assert_int_eq(coffer_snapshot_find(env.repo, other, &info), COFFER_ENOTFOUND);
	char expected[64];
	snprintf(expected, sizeof(expected), "no snapshot %s", other);
	ck_assert_str_eq(coffer_error_last()->message, expected);

	/* The same id and start time again: write-once. */
	coffer_manifest dup;
	make_manifest(&dup, a1, A, 1000 * S);
	ck_assert_int_eq(coffer_manifest_save(env.repo, &dup), COFFER_EEXISTS);
	coffer_manifest_clear(&dup);
	make_manifest(&dup, NULL, A, -1);
	ck_assert_int_eq(coffer_manifest_save(env.repo, &dup), COFFER_EINVALID);
	coffer_manifest_clear(&dup);

	/* Pin and unpin rewrite the manifest in place. */
	ck_assert_coffer_ok(coffer_snapshot_set_pinned(env.repo, a2, 1));
	ck_assert_coffer_ok(coffer_snapshot_set_pinned(env.repo, a2, 1));
	env_reopen(&env);
	ck_assert_coffer_ok(coffer_snapshot_find(env.repo, a2, &info));
	ck_assert_int_eq(info.pinned, 1);
	ck_assert_uint_eq(info.stats.files, 3);
	coffer_snapshot_info_clear(&info);
	ck_assert_coffer_ok(coffer_snapshot_list(env.repo, A, &infos, &n));
	ck_assert_int_eq(infos[0].pinned, 0);
	ck_assert_int_eq(infos[1].pinned, 1);
	coffer_snapshot_info_free_array(infos, n);
	ck_assert_coffer_ok(coffer_snapshot_set_pinned(env.repo, a2, 0));
	ck_assert_coffer_ok(coffer_snapshot_find(env.repo, a2, &info));
	ck_assert_int_eq(info.pinned, 0);
	coffer_snapshot_info_clear(&info);

	/* Restore selection through the repository. */
	coffer_selection sel = { A, 2500 * S, 0, 0 };
	ck_assert_coffer_ok(coffer_snapshot_select(env.repo, &sel, &info));
	ck_assert_str_eq(info.id, a2);
	coffer_snapshot_info_clear(&info);
	sel.previous = 1;
	ck_assert_coffer_ok(coffer_snapshot_select(env.repo, &sel, &info));
	ck_assert_str_eq(info.id, a1);
	coffer_snapshot_info_clear(&info);
	sel.previous = 2;
	ck_assert_int_eq(coffer_snapshot_select(env.repo, &sel, &info), COFFER_ENOTFOUND);
	ck_assert(strncmp(coffer_error_last()->message, "no eligible snapshot", 20) == 0);
	coffer_selection other_source = { "wrong@user:/data", 0, 0, 0 };
	ck_assert_int_eq(coffer_snapshot_select(env.repo, &other_source, &info), COFFER_ENOTFOUND);
	ck_assert(strncmp(coffer_error_last()->message, "no eligible snapshot", 20) == 0);
	coffer_selection no_source = { NULL, 0, 0, 0 };
	ck_assert_int_eq(coffer_snapshot_select(env.repo, &no_source, &info), COFFER_EINVALID);

	/* Delete by prefix; then it is gone everywhere. */
	char six[7] = { 0 };
	memcpy(six, a3, 6);
	ck_assert_coffer_ok(coffer_snapshot_delete(env.repo, six));
	ck_assert_int_eq(coffer_snapshot_find(env.repo, a3, &info), COFFER_ENOTFOUND);
	ck_assert_int_eq(coffer_snapshot_delete(env.repo, a3), COFFER_ENOTFOUND);
	ck_assert_coffer_ok(coffer_snapshot_list(env.repo, A, &infos, &n));
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(infos[0].id, a2);
	coffer_snapshot_info_free_array(infos, n);
	env_free(&env);
}
END_TEST

START_TEST(ambiguous_prefixes)
{
	test_env env;
	coffer_snapshot_info info;

	env_init(&env);
	save(&env, "abcdef0000000000000000000000000a", A, 1 * S, NULL);
	save(&env, "abcdef0000000000000000000000000b", B, 2 * S, NULL);
	save(&env, "abcdee0000000000000000000000000b", B, 3 * S, NULL);
	ck_assert_int_eq(coffer_snapshot_find(env.repo, "abcdef", &info), COFFER_EINVALID);
	const char *msg = coffer_error_last()->message;
	ck_assert_ptr_nonnull(strstr(msg, "ambiguous"));
	ck_assert_ptr_nonnull(strstr(msg, "abcdef0000000000000000000000000a"));
	ck_assert_ptr_nonnull(strstr(msg, "abcdef0000000000000000000000000b"));
	ck_assert_ptr_null(strstr(msg, "abcdee"));
	ck_assert_int_eq(coffer_snapshot_delete(env.repo, "ABCDEF"), COFFER_EINVALID);
	ck_assert_coffer_ok(coffer_snapshot_find(env.repo, "abcdef0000000000000000000000000a", &info));
	ck_assert_str_eq(info.source, A);
	coffer_snapshot_info_clear(&info);
	ck_assert_coffer_ok(coffer_snapshot_find(env.repo, "abcdee", &info));
	ck_assert_str_eq(info.source, B);
	coffer_snapshot_info_clear(&info);
	env_free(&env);
}
END_TEST

START_TEST(damaged_manifests)
{
	test_env env;
	coffer_snapshot_info *infos;
	size_t n;
	char good[33], prefix[128], damaged_name[200], moved_name[200];
	coffer_manifest m;
	coffer_buf plain = COFFER_BUF_INIT;
	warnings warned = { 0, "", "" };

	env_init(&env);
	save(&env, NULL, A, 10 * S, good);
	ck_assert_coffer_ok(coffer_manifest_prefix(env.repo, A, prefix, sizeof(prefix)));
	/* Garbage under a valid manifest name. */
	snprintf(damaged_name, sizeof(damaged_name), "%s%016llx-%s", prefix, 20ULL * S,
	         "dddddddddddddddddddddddddddddddd");
	ck_assert_coffer_ok(coffer_backend_put(coffer_repo_backend(env.repo), damaged_name, "garbage!garbage!garbage!garbage!",
	                                       32, 0));
	/* Names that are not manifest names are ignored. */
	ck_assert_coffer_ok(coffer_backend_put(coffer_repo_backend(env.repo), "snapshots/README", "x", 1, 0));

	ck_assert_int_eq(coffer_snapshot_list(env.repo, A, &infos, &n), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, damaged_name));
	ck_assert_int_eq(coffer_snapshot_list_ex(env.repo, A, on_warning, &warned, &infos, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(infos[0].id, good);
	ck_assert_int_eq(warned.count, 1);
	ck_assert_str_eq(warned.path, damaged_name);
	ck_assert_ptr_nonnull(strstr(warned.message, "authentication"));
	coffer_snapshot_info_free_array(infos, n);

	/* Selection refuses to guess past a damaged manifest. */
	coffer_snapshot_info info;
	coffer_selection sel = { A, 0, 0, 0 };
	ck_assert_int_eq(coffer_snapshot_select(env.repo, &sel, &info), COFFER_ECORRUPT);

	/* A damaged manifest can still be deleted by its id. */
	ck_assert_coffer_ok(coffer_snapshot_delete(env.repo, "dddddd"));
	ck_assert_coffer_ok(coffer_snapshot_list(env.repo, A, &infos, &n));
	ck_assert_uint_eq(n, 1);
	coffer_snapshot_info_free_array(infos, n);

	/* Authentic contents sealed under a name that does not match them. */
	make_manifest(&m, good, A, 10 * S);
	ck_assert_coffer_ok(coffer_manifest_encode(&m, &plain));
	snprintf(moved_name, sizeof(moved_name), "%s%016llx-%s", prefix, 30ULL * S, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	ck_assert_coffer_ok(coffer_store_put_sealed(env.repo, moved_name, plain.data, plain.len, 0));
	coffer_manifest loaded;
	ck_assert_int_eq(coffer_manifest_load(env.repo, moved_name, &loaded), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "does not match its name"));
	/* A manifest in a newer format: reported as unsupported, skipped by the display list. */
	char newer_name[200];
	plain.data[4] = 2;
	snprintf(newer_name, sizeof(newer_name), "%s%016llx-%s", prefix, 40ULL * S, "ffffffffffffffffffffffffffffffff");
	ck_assert_coffer_ok(coffer_store_put_sealed(env.repo, newer_name, plain.data, plain.len, 0));
	ck_assert_int_eq(coffer_manifest_load(env.repo, newer_name, &loaded), COFFER_EUNSUPPORTED);
	warned.count = 0;
	ck_assert_int_eq(coffer_snapshot_list_ex(env.repo, NULL, on_warning, &warned, &infos, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(warned.count, 2);
	coffer_snapshot_info_free_array(infos, n);
	ck_assert_int_eq(coffer_manifest_load(env.repo, "snapshots/README", &loaded), COFFER_EINVALID);
	coffer_buf_free(&plain);
	coffer_manifest_clear(&m);
	env_free(&env);
}
END_TEST

START_TEST(many_manifests_listed_in_parallel)
{
	test_env env;
	coffer_snapshot_info *infos;
	size_t n;
	struct timespec t0, t1;

	env_init(&env);
	for (int i = 0; i < 300; i++)
		save(&env, NULL, i % 3 ? A : B, (int64_t)(i * 7 % 300) * S + i, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_coffer_ok(coffer_snapshot_list(env.repo, NULL, &infos, &n));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "listed %zu manifests in %.1f ms\n", n,
	        (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	ck_assert_uint_eq(n, 300);
	for (size_t i = 1; i < n; i++)
		ck_assert(infos[i - 1].start_time_ns > infos[i].start_time_ns);
	coffer_snapshot_info_free_array(infos, n);
	ck_assert_coffer_ok(coffer_snapshot_list(env.repo, A, &infos, &n));
	ck_assert_uint_eq(n, 200);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(infos[i].source, A);
	coffer_snapshot_info_free_array(infos, n);
	env_free(&env);
}
END_TEST

static Suite *snapshot_repo_suite(void)
{
	Suite *s = suite_create("snapshot_repo");
	TCase *tc = tcase_create("repository");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, listing_store_and_load);
	tcase_add_test(tc, manifest_save_list_find_pin_delete);
	tcase_add_test(tc, ambiguous_prefixes);
	tcase_add_test(tc, damaged_manifests);
	tcase_add_test(tc, many_manifests_listed_in_parallel);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(snapshot_repo_suite());
}
