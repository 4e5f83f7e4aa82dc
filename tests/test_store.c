/* The content store on a real filesystem repository (backend-fs) with the zstd and none
 * codecs: format blob and passwords, writes from several threads, dedup, index blobs and
 * their merge, the local cache (deleted, damaged, unwritable), damaged packs, pack tables
 * of contents and sealed blobs. */
#include "config.h"

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <coffer/repo.h>
#include <coffer/sys/plugin.h>
#include <coffer/sys/preload.h>

#include "store.h"
#include "store_format.h"
#include "testlib.h"

static coffer_core *core;
static char *tmpdir;

/* ------------------------------------------------------------------ helpers */

typedef struct fixture {
	char dir[4200];
	char url[4400];
	char cache[4300];
	coffer_repo_options opts;
} fixture;

static void fixture_init(fixture *f, const char *tag)
{
	snprintf(f->dir, sizeof(f->dir), "%s/%s", tmpdir, tag);
	snprintf(f->url, sizeof(f->url), "filesystem://%s", f->dir);
	snprintf(f->cache, sizeof(f->cache), "%s/%s.cache", tmpdir, tag);
	coffer_repo_options o = COFFER_REPO_OPTIONS_INIT;
	o.scrypt_n = 1024; /* keeps each open fast; the default is tested by crypto's own tests */
	o.cache_dir = f->cache;
	o.parallelism = 2;
	f->opts = o;
}

static coffer_repo *create_repo(fixture *f, const char *password)
{
	coffer_repo *repo = NULL;
	ck_assert_coffer_ok(coffer_repo_create(&repo, core, f->url, password, &f->opts));
	ck_assert_ptr_nonnull(repo);
	return repo;
}

static coffer_repo *open_repo(fixture *f, const char *password)
{
	coffer_repo *repo = NULL;
	ck_assert_coffer_ok(coffer_repo_open(&repo, core, f->url, password, &f->opts));
	ck_assert_ptr_nonnull(repo);
	return repo;
}

static coffer_backend *raw_backend(fixture *f)
{
	coffer_backend_options o = COFFER_BACKEND_OPTIONS_INIT;
	coffer_backend *be = NULL;
	ck_assert_coffer_ok(coffer_backend_open(&be, core, f->url, &o));
	return be;
}

/* Deterministic test data: text-like (compressible) or random-looking bytes. */
static void fill_chunk(uint8_t *buf, size_t len, uint32_t seed, int text)
{
	static const char *words[] = { "backup ", "restore ", "the ", "repository ", "chunk ", "of ",
	                               "data\n", "snapshot ", "pack ", "index " };
	uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
	size_t i = 0;
	while (i < len) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (text) {
			const char *w = words[x % 10];
			for (size_t k = 0; w[k] && i < len; k++)
				buf[i++] = (uint8_t)w[k];
		} else {
			for (int k = 0; k < 8 && i < len; k++)
				buf[i++] = (uint8_t)(x >> (8 * k));
		}
	}
}

static void write_chunk(coffer_store_writer *w, unsigned worker, coffer_chunk_kind kind, const void *data,
                        size_t len, coffer_cid *id, coffer_store_write_result *result)
{
	coffer_store_write_result ignored;
	ck_assert_coffer_ok(coffer_store_write(w, worker, kind, data, len, id, result ? result : &ignored));
}

static void expect_chunk(coffer_repo *repo, const coffer_cid *id, const void *data, size_t len)
{
	coffer_buf out = COFFER_BUF_INIT;
	ck_assert_coffer_ok(coffer_store_read(repo, id, &out));
	ck_assert_uint_eq(out.len, len);
	ck_assert_msg(memcmp(out.data, data, len) == 0, "chunk contents differ");
	coffer_buf_free(&out);
}

typedef struct name_list {
	char names[256][128];
	uint64_t sizes[256];
	size_t count;
} name_list;

static int collect_name(const coffer_blob_info *info, void *ud)
{
	name_list *l = ud;
	if (l->count < 256) {
		snprintf(l->names[l->count], sizeof(l->names[0]), "%s", info->name);
		l->sizes[l->count] = info->size;
		l->count++;
	}
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void list_all(fixture *f, const char *prefix, name_list *out)
{
	memset(out, 0, sizeof(*out));
	coffer_backend *be = raw_backend(f);
	ck_assert_coffer_ok(coffer_backend_list(be, prefix, collect_name, out));
	coffer_backend_close(be);
	qsort(out->names, out->count, sizeof(out->names[0]), compare_names);
}

static void get_blob(fixture *f, const char *name, coffer_buf *out)
{
	coffer_backend *be = raw_backend(f);
	out->len = 0;
	ck_assert_coffer_ok(coffer_backend_get(be, name, 0, COFFER_WHOLE, out));
	coffer_backend_close(be);
}

static void put_blob(fixture *f, const char *name, const void *data, size_t len)
{
	coffer_backend *be = raw_backend(f);
	ck_assert_coffer_ok(coffer_backend_put(be, name, data, len, COFFER_PUT_OVERWRITE));
	coffer_backend_close(be);
}

static void index_cache_path(fixture *f, coffer_repo *repo, char *out, size_t cap)
{
	coffer_repo_status st;
	ck_assert_coffer_ok(coffer_repo_status_get(repo, &st));
	snprintf(out, cap, "%s/%s/index", f->cache, st.unique_id);
}

/* ---------------------------------------------------------- format blob */

START_TEST(create_then_open)
{
	fixture f;
	fixture_init(&f, "create-open");
	coffer_repo *repo = create_repo(&f, "secret");
	coffer_repo_status st;
	ck_assert_coffer_ok(coffer_repo_status_get(repo, &st));
	ck_assert_uint_eq(st.format_version, 1);
	ck_assert_str_eq(st.compression, "zstd");
	ck_assert_str_eq(st.hash, "HMAC-SHA256");
	ck_assert_str_eq(st.cipher, "AES-256-GCM");
	ck_assert_uint_eq(st.scrypt_n, 1024);
	ck_assert_uint_eq(st.scrypt_r, 8);
	ck_assert_uint_eq(st.chunk_avg, 1u << 20);
	ck_assert_uint_eq(strlen(st.unique_id), 64);
	ck_assert_uint_eq(st.content_count, 0);
	ck_assert_msg(strstr(st.backend, "backend-fs") != NULL, "backend: %s", st.backend);
	char uid[65];
	snprintf(uid, sizeof(uid), "%s", st.unique_id);
	ck_assert_ptr_eq(coffer_repo_core(repo), core);
	ck_assert_ptr_nonnull(coffer_repo_backend(repo));
	coffer_repo_close(repo);

	repo = open_repo(&f, "secret");
	ck_assert_coffer_ok(coffer_repo_status_get(repo, &st));
	ck_assert_str_eq(st.unique_id, uid);
	ck_assert_msg(strstr(st.cache_dir, uid) != NULL, "cache dir %s names the repository", st.cache_dir);
	coffer_repo_close(repo);

	/* The header is plaintext and parses; the body does not reveal the master key. */
	coffer_buf blob = COFFER_BUF_INIT;
	get_blob(&f, COFFER_FORMAT_BLOB_NAME, &blob);
	coffer_format_header h;
	ck_assert_coffer_ok(coffer_format_header_parse(blob.data, blob.len, &h));
	ck_assert_str_eq(h.kdf, "scrypt");
	ck_assert_uint_eq(h.scrypt_n, 1024);
	coffer_buf_free(&blob);
}
END_TEST

START_TEST(wrong_password_writes_nothing)
{
	fixture f;
	fixture_init(&f, "wrong-password");
	coffer_repo *repo = create_repo(&f, "right");
	coffer_repo_close(repo);
	name_list before, after;
	list_all(&f, "", &before);
	ck_assert_uint_ge(before.count, 1);

	repo = NULL;
	int rc = coffer_repo_open(&repo, core, f.url, "wrong", &f.opts);
	ck_assert_int_eq(rc, COFFER_EAUTH);
	ck_assert_ptr_null(repo);
	const char *msg = coffer_error_last()->message;
	ck_assert_msg(strstr(msg, "wrong password for repository") && strstr(msg, f.url), "message: %s", msg);

	list_all(&f, "", &after);
	ck_assert_uint_eq(before.count, after.count);
	for (size_t i = 0; i < before.count; i++) {
		ck_assert_str_eq(before.names[i], after.names[i]);
		ck_assert_uint_eq(before.sizes[i], after.sizes[i]);
	}
}
END_TEST

START_TEST(no_repository)
{
	fixture f;
	fixture_init(&f, "empty");
	ck_assert_int_eq(mkdir(f.dir, 0700), 0);
	coffer_repo *repo = NULL;
	int rc = coffer_repo_open(&repo, core, f.url, "pw", &f.opts);
	ck_assert_int_eq(rc, COFFER_ENOTFOUND);
	ck_assert_msg(strstr(coffer_error_last()->message, "no repository at"), "message: %s",
	              coffer_error_last()->message);
	name_list l;
	list_all(&f, "", &l);
	ck_assert_uint_eq(l.count, 0);

	/* A folder that does not exist: the backend's own not-found, still nothing created. */
	fixture g;
	fixture_init(&g, "missing/deeper");
	rc = coffer_repo_open(&repo, core, g.url, "pw", &g.opts);
	ck_assert_int_eq(rc, COFFER_ENOTFOUND);
	struct stat sb;
	ck_assert_int_ne(stat(g.dir, &sb), 0);
}
END_TEST

START_TEST(create_twice_refused)
{
	fixture f;
	fixture_init(&f, "twice");
	coffer_repo *repo = create_repo(&f, "one");
	coffer_repo_close(repo);
	coffer_buf before = COFFER_BUF_INIT, after = COFFER_BUF_INIT;
	get_blob(&f, COFFER_FORMAT_BLOB_NAME, &before);
	repo = NULL;
	int rc = coffer_repo_create(&repo, core, f.url, "two", &f.opts);
	ck_assert_int_eq(rc, COFFER_EEXISTS);
	ck_assert_ptr_null(repo);
	ck_assert_msg(strstr(coffer_error_last()->message, "already exists"), "message: %s",
	              coffer_error_last()->message);
	get_blob(&f, COFFER_FORMAT_BLOB_NAME, &after);
	ck_assert_uint_eq(before.len, after.len);
	ck_assert_int_eq(memcmp(before.data, after.data, before.len), 0);
	repo = open_repo(&f, "one");
	coffer_repo_close(repo);

	/* Only the backup blob left (the main one lost): still a repository, never re-created. */
	coffer_backend *be = raw_backend(&f);
	ck_assert_coffer_ok(coffer_backend_remove(be, COFFER_FORMAT_BLOB_NAME));
	coffer_backend_close(be);
	rc = coffer_repo_create(&repo, core, f.url, "two", &f.opts);
	ck_assert_int_eq(rc, COFFER_EEXISTS);
	repo = open_repo(&f, "one");
	coffer_repo_close(repo);
	coffer_buf_free(&before);
	coffer_buf_free(&after);
}
END_TEST

START_TEST(change_password)
{
	fixture f;
	fixture_init(&f, "password");
	coffer_repo *repo = create_repo(&f, "old");
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, NULL));
	uint8_t data[5000];
	fill_chunk(data, sizeof(data), 7, 1);
	coffer_cid id;
	write_chunk(w, 0, COFFER_CHUNK_DATA, data, sizeof(data), &id, NULL);
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	coffer_buf old_blob = COFFER_BUF_INIT;
	get_blob(&f, COFFER_FORMAT_BLOB_NAME, &old_blob);
	ck_assert_coffer_ok(coffer_repo_change_password(repo, "new"));
	coffer_repo_close(repo);

	coffer_repo *r2 = NULL;
	ck_assert_int_eq(coffer_repo_open(&r2, core, f.url, "old", &f.opts), COFFER_EAUTH);
	repo = open_repo(&f, "new");
	expect_chunk(repo, &id, data, sizeof(data));
	coffer_repo_close(repo);

	/* A crash between the two puts: backup has the new password, main blob the old. */
	put_blob(&f, COFFER_FORMAT_BLOB_NAME, old_blob.data, old_blob.len);
	repo = open_repo(&f, "old");
	expect_chunk(repo, &id, data, sizeof(data));
	coffer_repo_close(repo);
	repo = open_repo(&f, "new");
	expect_chunk(repo, &id, data, sizeof(data));
	coffer_repo_close(repo);
	ck_assert_int_eq(coffer_repo_open(&r2, core, f.url, "other", &f.opts), COFFER_EAUTH);
	/* A damaged main blob: the backup still opens. */
	old_blob.data[old_blob.len - 3] ^= 0x40;
	put_blob(&f, COFFER_FORMAT_BLOB_NAME, old_blob.data, old_blob.len);
	repo = open_repo(&f, "new");
	coffer_repo_close(repo);
	coffer_buf_free(&old_blob);
}
END_TEST

START_TEST(hostile_format_header)
{
	fixture f;
	fixture_init(&f, "hostile-header");
	coffer_repo *repo = create_repo(&f, "pw");
	coffer_repo_close(repo);
	coffer_backend *be = raw_backend(&f);
	ck_assert_coffer_ok(coffer_backend_remove(be, COFFER_FORMAT_BACKUP_BLOB_NAME));
	coffer_backend_close(be);
	coffer_buf blob = COFFER_BUF_INIT;
	get_blob(&f, COFFER_FORMAT_BLOB_NAME, &blob);

	/* 2^40 * 8 * 128 bytes of scrypt memory: refused before any allocation. */
	coffer_buf bad = COFFER_BUF_INIT;
	coffer_buf_append(&bad, blob.data, blob.len);
	coffer_put_le64(bad.data + 28, (uint64_t)1 << 40);
	put_blob(&f, COFFER_FORMAT_BLOB_NAME, bad.data, bad.len);
	int rc = coffer_repo_open(&repo, core, f.url, "pw", &f.opts);
	ck_assert_int_eq(rc, COFFER_ECORRUPT);
	ck_assert_msg(strstr(coffer_error_last()->message, "scrypt"), "message: %s", coffer_error_last()->message);

	/* Valid but different parameters: the header is authenticated, so the open fails. */
	bad.len = 0;
	coffer_buf_append(&bad, blob.data, blob.len);
	coffer_put_le64(bad.data + 28, 2048);
	put_blob(&f, COFFER_FORMAT_BLOB_NAME, bad.data, bad.len);
	ck_assert_int_eq(coffer_repo_open(&repo, core, f.url, "pw", &f.opts), COFFER_EAUTH);

	/* Truncated. */
	put_blob(&f, COFFER_FORMAT_BLOB_NAME, blob.data, blob.len - 1);
	ck_assert_int_eq(coffer_repo_open(&repo, core, f.url, "pw", &f.opts), COFFER_ECORRUPT);
	/* A newer format version. */
	bad.len = 0;
	coffer_buf_append(&bad, blob.data, blob.len);
	coffer_put_le32(bad.data + 8, 9);
	put_blob(&f, COFFER_FORMAT_BLOB_NAME, bad.data, bad.len);
	ck_assert_int_eq(coffer_repo_open(&repo, core, f.url, "pw", &f.opts), COFFER_EUNSUPPORTED);

	put_blob(&f, COFFER_FORMAT_BLOB_NAME, blob.data, blob.len);
	repo = open_repo(&f, "pw");
	coffer_repo_close(repo);
	coffer_buf_free(&bad);
	coffer_buf_free(&blob);
}
END_TEST

/* ---------------------------------------------------------- writing */

#define PARALLEL_CHUNKS 1000
#define PARALLEL_DISTINCT 600
#define PARALLEL_THREADS 4

typedef struct parallel_ctx {
	coffer_store_writer *w;
	unsigned worker;
	uint64_t new_count, new_bytes;
	coffer_cid ids[PARALLEL_CHUNKS];
	int failed;
} parallel_ctx;

static size_t parallel_len(uint32_t k)
{
	return 1 + (k * 7919u) % 48000u;
}

static void *parallel_thread(void *opaque)
{
	parallel_ctx *ctx = opaque;
	uint8_t *buf = malloc(48000);
	for (uint32_t i = 0; i < PARALLEL_CHUNKS; i++) {
		/* Every thread walks the chunks in its own order; contents repeat across i. */
		uint32_t n = (i * 37u + ctx->worker * 251u) % PARALLEL_CHUNKS;
		uint32_t k = n % PARALLEL_DISTINCT;
		size_t len = parallel_len(k);
		fill_chunk(buf, len, k, k % 3 != 0);
		coffer_store_write_result r;
		coffer_chunk_kind kind = k % 5 == 0 ? COFFER_CHUNK_META : COFFER_CHUNK_DATA;
		if (coffer_store_write(ctx->w, ctx->worker, kind, buf, len, &ctx->ids[n], &r) != 0) {
			ctx->failed = 1;
			break;
		}
		ctx->new_count += (uint64_t)r.is_new;
		ctx->new_bytes += r.stored_bytes;
		if (!r.is_new && r.stored_bytes != 0)
			ctx->failed = 2;
	}
	free(buf);
	return NULL;
}

START_TEST(parallel_writes_read_back)
{
	fixture f;
	fixture_init(&f, "parallel");
	coffer_repo *repo = create_repo(&f, "pw");
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, PARALLEL_THREADS, NULL));
	static parallel_ctx ctx[PARALLEL_THREADS];
	pthread_t threads[PARALLEL_THREADS];
	for (unsigned t = 0; t < PARALLEL_THREADS; t++) {
		memset(&ctx[t], 0, sizeof(ctx[t]));
		ctx[t].w = w;
		ctx[t].worker = t;
		ck_assert_int_eq(pthread_create(&threads[t], NULL, parallel_thread, &ctx[t]), 0);
	}
	uint64_t new_count = 0, new_bytes = 0;
	for (unsigned t = 0; t < PARALLEL_THREADS; t++) {
		pthread_join(threads[t], NULL);
		ck_assert_msg(ctx[t].failed == 0, "thread %u failed (%d): %s", t, ctx[t].failed,
		              coffer_error_last()->message);
		new_count += ctx[t].new_count;
		new_bytes += ctx[t].new_bytes;
	}
	/* Each distinct chunk was new exactly once, whichever thread got there first. */
	ck_assert_uint_eq(new_count, PARALLEL_DISTINCT);
	for (unsigned t = 1; t < PARALLEL_THREADS; t++)
		for (unsigned i = 0; i < PARALLEL_CHUNKS; i++)
			ck_assert_int_eq(memcmp(&ctx[0].ids[i], &ctx[t].ids[i], sizeof(coffer_cid)), 0);
	/* An uncommitted chunk is already visible to lookups on this handle. */
	coffer_chunk_location loc;
	ck_assert_coffer_ok(coffer_store_lookup(repo, &ctx[0].ids[0], &loc));
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	coffer_repo_status st;
	ck_assert_coffer_ok(coffer_repo_status_get(repo, &st));
	ck_assert_uint_eq(st.content_count, PARALLEL_DISTINCT);
	ck_assert_uint_eq(st.content_stored_bytes, new_bytes);
	ck_assert_uint_eq(st.index_blob_count, 1);
	ck_assert_uint_ge(st.pack_count, 2); /* data and metadata go to separate packs */
	coffer_repo_close(repo);

	/* A fresh cache: everything comes from the index blob. */
	test_rmtree(f.cache);
	repo = open_repo(&f, "pw");
	uint8_t *buf = malloc(48000);
	for (uint32_t n = 0; n < PARALLEL_CHUNKS; n++) {
		uint32_t k = n % PARALLEL_DISTINCT;
		size_t len = parallel_len(k);
		fill_chunk(buf, len, k, k % 3 != 0);
		expect_chunk(repo, &ctx[0].ids[n], buf, len);
		ck_assert_coffer_ok(coffer_store_lookup(repo, &ctx[0].ids[n], &loc));
		ck_assert_uint_eq(loc.raw_length, len);
		ck_assert_uint_eq(loc.kind, k % 5 == 0 ? COFFER_CHUNK_META : COFFER_CHUNK_DATA);
		ck_assert_int_eq(loc.pack[0], k % 5 == 0 ? 'q' : 'p');
		if (k % 3 != 0 && len > 1000)
			ck_assert_msg(loc.codec != 0 && loc.stored_length < len, "text chunk %u not compressed", k);
		if (k % 3 == 0)
			ck_assert_msg(loc.codec == 0 && loc.stored_length == len + COFFER_CRYPTO_SEAL_OVERHEAD,
			              "random chunk %u stored with codec %u, %u bytes", k, loc.codec, loc.stored_length);
	}
	free(buf);
	coffer_repo_close(repo);
}
END_TEST

START_TEST(dedup_semantics)
{
	fixture f;
	fixture_init(&f, "dedup");
	coffer_repo *repo = create_repo(&f, "pw");
	static uint8_t text[200000], noise[200000];
	fill_chunk(text, sizeof(text), 1, 1);
	fill_chunk(noise, sizeof(noise), 2, 0);
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, NULL));
	coffer_cid id_text, id_noise, again;
	coffer_store_write_result r;
	write_chunk(w, 0, COFFER_CHUNK_DATA, text, sizeof(text), &id_text, &r);
	ck_assert_int_eq(r.is_new, 1);
	ck_assert_uint_gt(r.stored_bytes, 0);
	ck_assert_uint_lt(r.stored_bytes, sizeof(text) / 4); /* compressed */
	write_chunk(w, 0, COFFER_CHUNK_DATA, noise, sizeof(noise), &id_noise, &r);
	ck_assert_int_eq(r.is_new, 1);
	ck_assert_uint_eq(r.stored_bytes, sizeof(noise) + COFFER_CRYPTO_SEAL_OVERHEAD); /* raw */
	write_chunk(w, 0, COFFER_CHUNK_DATA, text, sizeof(text), &again, &r);
	ck_assert_int_eq(memcmp(&again, &id_text, sizeof(again)), 0);
	ck_assert_int_eq(r.is_new, 0);
	ck_assert_uint_eq(r.stored_bytes, 0);
	/* The id is keyed: not a plain hash of the bytes, and the same via coffer_store_id. */
	coffer_cid direct;
	ck_assert_coffer_ok(coffer_store_id(repo, text, sizeof(text), &direct));
	ck_assert_int_eq(memcmp(&direct, &id_text, sizeof(direct)), 0);
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	/* A committed writer takes no more chunks. */
	ck_assert_int_eq(coffer_store_write(w, 0, COFFER_CHUNK_DATA, "x", 1, NULL, &r), COFFER_EINVALID);
	coffer_store_writer_free(w);

	/* A second session on the same handle and one after reopening: nothing new. */
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, NULL));
	ck_assert_coffer_ok(coffer_store_write_with_id(w, 0, COFFER_CHUNK_DATA, &id_text, text, sizeof(text), &r));
	ck_assert_int_eq(r.is_new, 0);
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	coffer_repo_close(repo);
	repo = open_repo(&f, "pw");
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, NULL));
	write_chunk(w, 0, COFFER_CHUNK_DATA, noise, sizeof(noise), NULL, &r);
	ck_assert_int_eq(r.is_new, 0);
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	/* Sessions that add nothing leave no index blob. */
	coffer_repo_status st;
	ck_assert_coffer_ok(coffer_repo_status_get(repo, &st));
	ck_assert_uint_eq(st.index_blob_count, 1);
	ck_assert_uint_eq(st.content_count, 2);
	ck_assert_uint_eq(st.content_raw_bytes, sizeof(text) + sizeof(noise));
	expect_chunk(repo, &id_text, text, sizeof(text));
	expect_chunk(repo, &id_noise, noise, sizeof(noise));

	/* A writer with the none codec stores even text raw. */
	coffer_codec none;
	ck_assert_coffer_ok(coffer_codec_lookup(core, "none", &none));
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, &none));
	text[0] ^= 1;
	write_chunk(w, 0, COFFER_CHUNK_DATA, text, sizeof(text), &id_text, &r);
	ck_assert_int_eq(r.is_new, 1);
	ck_assert_uint_eq(r.stored_bytes, sizeof(text) + COFFER_CRYPTO_SEAL_OVERHEAD);
	/* Empty and tiny chunks are fine too. */
	coffer_cid empty;
	write_chunk(w, 0, COFFER_CHUNK_DATA, "", 0, &empty, &r);
	ck_assert_int_eq(r.is_new, 1);
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	expect_chunk(repo, &id_text, text, sizeof(text));
	expect_chunk(repo, &empty, "", 0);
	coffer_repo_close(repo);
}
END_TEST

START_TEST(uncommitted_session_not_indexed)
{
	fixture f;
	fixture_init(&f, "uncommitted");
	coffer_repo *repo = create_repo(&f, "pw");
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, NULL));
	/* Enough data to fill and upload a pack, so the packs really exist. */
	static uint8_t data[1 << 20];
	coffer_cid ids[20];
	for (int i = 0; i < 20; i++) {
		fill_chunk(data, sizeof(data), (uint32_t)(100 + i), 0);
		write_chunk(w, 0, COFFER_CHUNK_DATA, data, sizeof(data), &ids[i], NULL);
	}
	coffer_store_writer_free(w);
	coffer_chunk_location loc;
	ck_assert_int_eq(coffer_store_lookup(repo, &ids[0], &loc), COFFER_ENOTFOUND);
	coffer_repo_close(repo);
	repo = open_repo(&f, "pw");
	coffer_repo_status st;
	ck_assert_coffer_ok(coffer_repo_status_get(repo, &st));
	ck_assert_uint_ge(st.pack_count, 1);
	ck_assert_uint_eq(st.index_blob_count, 0);
	ck_assert_uint_eq(st.content_count, 0);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(coffer_store_lookup(repo, &ids[i], &loc), COFFER_ENOTFOUND);
	coffer_buf out = COFFER_BUF_INIT;
	ck_assert_int_eq(coffer_store_read(repo, &ids[3], &out), COFFER_ENOTFOUND);
	/* Writing them again now stores them again (is_new), and that session commits. */
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, NULL));
	fill_chunk(data, sizeof(data), 100, 0);
	coffer_store_write_result r;
	write_chunk(w, 0, COFFER_CHUNK_DATA, data, sizeof(data), NULL, &r);
	ck_assert_int_eq(r.is_new, 1);
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	expect_chunk(repo, &ids[0], data, sizeof(data));
	coffer_repo_close(repo);
}
END_TEST

START_TEST(index_merge_and_refresh)
{
	fixture f;
	fixture_init(&f, "merge");
	coffer_repo *repo = create_repo(&f, "pw");
	coffer_repo_close(repo);
	uint8_t buf[3000];
	coffer_cid ids[90];
	/* Three sessions from three handles (three caches), overlapping by 10 chunks each. */
	for (int s = 0; s < 3; s++) {
		fixture g = f;
		char cache[4300];
		snprintf(cache, sizeof(cache), "%s.writer%d", f.cache, s);
		g.opts.cache_dir = cache;
		repo = open_repo(&g, "pw");
		coffer_store_writer *w;
		ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 2, NULL));
		for (int i = s * 30 - (s ? 10 : 0); i < s * 30 + 30; i++) {
			fill_chunk(buf, sizeof(buf), (uint32_t)i, 1);
			write_chunk(w, (unsigned)i % 2, COFFER_CHUNK_DATA, buf, sizeof(buf), &ids[i], NULL);
		}
		ck_assert_coffer_ok(coffer_store_writer_commit(w));
		coffer_store_writer_free(w);
		coffer_repo_close(repo);
	}
	repo = open_repo(&f, "pw");
	coffer_repo_status st;
	ck_assert_coffer_ok(coffer_repo_status_get(repo, &st));
	ck_assert_uint_eq(st.index_blob_count, 3);
	/* Session 1 and 2 rewrote 10 chunks each that an earlier session (from another cache)
	 * had, but those handles knew them already: only 90 distinct. */
	ck_assert_uint_eq(st.content_count, 90);
	for (int i = 0; i < 90; i++) {
		fill_chunk(buf, sizeof(buf), (uint32_t)i, 1);
		expect_chunk(repo, &ids[i], buf, sizeof(buf));
	}

	/* Another handle commits; this one sees it after a refresh. */
	coffer_repo *other = open_repo(&f, "pw");
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, other, 1, NULL));
	coffer_cid late;
	fill_chunk(buf, sizeof(buf), 999, 1);
	write_chunk(w, 0, COFFER_CHUNK_DATA, buf, sizeof(buf), &late, NULL);
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	coffer_repo_close(other);
	/* A separate cache so the first handle really has to fetch the new blob. */
	fixture g = f;
	char cache[4300];
	snprintf(cache, sizeof(cache), "%s.reader", f.cache);
	g.opts.cache_dir = cache;
	coffer_repo *reader = open_repo(&g, "pw");
	coffer_chunk_location loc;
	ck_assert_coffer_ok(coffer_store_lookup(reader, &late, &loc));
	coffer_repo_close(reader);
	ck_assert_coffer_ok(coffer_store_refresh(repo));
	ck_assert_coffer_ok(coffer_store_lookup(repo, &late, &loc));
	expect_chunk(repo, &late, buf, sizeof(buf));

	coffer_repo_close(repo);

	/* Maintenance-like compaction: remove one index blob; the cache notices and rebuilds. */
	name_list l;
	list_all(&f, "index/", &l);
	ck_assert_uint_eq(l.count, 4);
	coffer_backend *be = raw_backend(&f);
	ck_assert_coffer_ok(coffer_backend_remove(be, l.names[0]));
	coffer_backend_close(be);
	repo = open_repo(&f, "pw");
	ck_assert_coffer_ok(coffer_repo_status_get(repo, &st));
	ck_assert_uint_eq(st.index_blob_count, 3);
	ck_assert_uint_lt(st.content_count, 91);
	coffer_repo_close(repo);
}
END_TEST

static int count_chunk(const coffer_cid *id, const coffer_chunk_location *loc, void *ud)
{
	size_t *n = ud;
	(*n)++;
	return loc->raw_length > 0 && id ? 0 : 1;
}

START_TEST(foreach_and_pack_toc)
{
	fixture f;
	fixture_init(&f, "toc");
	coffer_repo *repo = create_repo(&f, "pw");
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 2, NULL));
	static uint8_t buf[300000];
	for (uint32_t i = 0; i < 150; i++) {
		size_t len = 1000 + (i * 2311u) % 290000u;
		fill_chunk(buf, len, i, i % 2);
		write_chunk(w, i % 2, i % 7 == 0 ? COFFER_CHUNK_META : COFFER_CHUNK_DATA, buf, len, NULL, NULL);
	}
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	size_t visits = 0;
	ck_assert_coffer_ok(coffer_store_foreach(repo, count_chunk, &visits));
	ck_assert_uint_eq(visits, 150);

	/* Every pack's own table of contents lists exactly what the index says is there. */
	name_list packs;
	list_all(&f, "", &packs);
	size_t entries_total = 0, pack_total = 0;
	for (size_t p = 0; p < packs.count; p++) {
		char letter;
		uint8_t pid[16];
		if (coffer_pack_name_parse(packs.names[p], &letter, pid) != 0)
			continue;
		pack_total++;
		coffer_store_pack_entry *entries;
		size_t n;
		ck_assert_coffer_ok(coffer_store_pack_toc(repo, packs.names[p], &entries, &n));
		ck_assert_uint_gt(n, 0);
		for (size_t i = 0; i < n; i++) {
			coffer_chunk_location loc;
			ck_assert_coffer_ok(coffer_store_lookup(repo, &entries[i].id, &loc));
			ck_assert_str_eq(loc.pack, packs.names[p]);
			ck_assert_uint_eq(loc.offset, entries[i].location.offset);
			ck_assert_uint_eq(loc.stored_length, entries[i].location.stored_length);
			ck_assert_uint_eq(loc.raw_length, entries[i].location.raw_length);
			ck_assert_uint_eq(loc.codec, entries[i].location.codec);
			ck_assert_uint_eq(loc.kind, entries[i].location.kind);
			ck_assert_int_eq(loc.kind == COFFER_CHUNK_META, letter == 'q');
		}
		entries_total += n;
		coffer_free(entries);
	}
	ck_assert_uint_eq(entries_total, 150);
	ck_assert_uint_ge(pack_total, 4); /* > 16 MiB of data over two workers, plus metadata */
	coffer_repo_close(repo);
}
END_TEST

/* ---------------------------------------------------------- the local cache */

START_TEST(cache_deleted_or_damaged)
{
	fixture f;
	fixture_init(&f, "cache");
	coffer_repo *repo = create_repo(&f, "pw");
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, NULL));
	uint8_t buf[4000];
	coffer_cid ids[50];
	for (uint32_t i = 0; i < 50; i++) {
		fill_chunk(buf, sizeof(buf), i, 1);
		write_chunk(w, 0, COFFER_CHUNK_DATA, buf, sizeof(buf), &ids[i], NULL);
	}
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	char path[4400];
	index_cache_path(&f, repo, path, sizeof(path));
	coffer_repo_close(repo);
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_size, 64 + 50 * 64 + 2 + 38 + 32);

	for (int round = 0; round < 4; round++) {
		if (round == 0) {
			test_rmtree(f.cache); /* deleted */
		} else if (round == 1) { /* one flipped bit in a record */
			int fd = open(path, O_RDWR);
			ck_assert_int_ge(fd, 0);
			uint8_t b;
			ck_assert_int_eq(pread(fd, &b, 1, 64 + 7 * 64 + 40), 1);
			b ^= 4;
			ck_assert_int_eq(pwrite(fd, &b, 1, 64 + 7 * 64 + 40), 1);
			close(fd);
		} else if (round == 2) { /* truncated */
			ck_assert_int_eq(truncate(path, 64 + 20 * 64), 0);
		} else { /* garbage */
			FILE *fp = fopen(path, "w");
			fputs("not an index", fp);
			fclose(fp);
		}
		repo = open_repo(&f, "pw");
		for (uint32_t i = 0; i < 50; i++) {
			fill_chunk(buf, sizeof(buf), i, 1);
			expect_chunk(repo, &ids[i], buf, sizeof(buf));
		}
		coffer_repo_close(repo);
		ck_assert_int_eq(stat(path, &sb), 0);
		ck_assert_int_eq(sb.st_size, 64 + 50 * 64 + 2 + 38 + 32);
	}
}
END_TEST

START_TEST(cache_unwritable)
{
	fixture f;
	fixture_init(&f, "cache-unwritable");
	coffer_repo *repo = create_repo(&f, "pw");
	coffer_repo_close(repo);
	/* A file where the cache folder should be. */
	char blocker[4400];
	snprintf(blocker, sizeof(blocker), "%s/not-a-folder", tmpdir);
	FILE *fp = fopen(blocker, "w");
	fputs("x", fp);
	fclose(fp);
	char cache[4500];
	snprintf(cache, sizeof(cache), "%s/below", blocker);
	f.opts.cache_dir = cache;
	int rc = coffer_repo_open(&repo, core, f.url, "pw", &f.opts);
	ck_assert_int_ne(rc, 0);
	ck_assert_ptr_null(repo);
	const char *msg = coffer_error_last()->message;
	ck_assert_msg(strstr(msg, "cache folder") && strstr(msg, cache), "message: %s", msg);
}
END_TEST

/* A full cache disk: a commit still succeeds (the session's records stay in memory), an
 * open that cannot write its cache says so clearly, and another cache folder works. */
START_TEST(cache_disk_full)
{
	fixture f;
	fixture_init(&f, "cache-full");
	ck_assert_int_eq(mkdir(f.cache, 0700), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("tmpfs", f.cache, "tmpfs", 0, "size=64k,mode=0700") != 0) {
			fprintf(stderr, "SKIP cache_disk_full: cannot mount a small tmpfs (%s)\n", strerror(errno));
			_exit(77);
		}
		int failures = 0;
		coffer_repo *repo = NULL;
		if (coffer_repo_create(&repo, core, f.url, "pw", &f.opts) != 0)
			_exit(100);
		coffer_store_writer *w;
		if (coffer_store_writer_new(&w, repo, 1, NULL) != 0)
			_exit(101);
		static coffer_cid ids[1500];
		uint8_t buf[100];
		for (uint32_t i = 0; i < 1500; i++) {
			fill_chunk(buf, sizeof(buf), i, 0);
			if (coffer_store_write(w, 0, COFFER_CHUNK_DATA, buf, sizeof(buf), &ids[i], NULL) != 0)
				_exit(102);
		}
		/* 1500 records need 96 KiB of cache: more than the disk has. */
		if (coffer_store_writer_commit(w) != 0) {
			fprintf(stderr, "commit: %s\n", coffer_error_last()->message);
			failures |= 1;
		}
		coffer_store_writer_free(w);
		coffer_chunk_location loc;
		for (uint32_t i = 0; i < 1500; i++)
			if (coffer_store_lookup(repo, &ids[i], &loc) != 0)
				failures |= 2;
		coffer_repo_close(repo);
		repo = NULL;
		int rc = coffer_repo_open(&repo, core, f.url, "pw", &f.opts);
		const char *msg = coffer_error_last()->message;
		fprintf(stderr, "open with a full cache: %d: %s\n", rc, msg);
		if (rc == 0 || !strstr(msg, "cache") || !strstr(msg, f.cache) || !strstr(msg, "space"))
			failures |= 4;
		if (rc == 0)
			coffer_repo_close(repo);
		char other[4400];
		snprintf(other, sizeof(other), "%s.elsewhere", f.cache);
		f.opts.cache_dir = other;
		if (coffer_repo_open(&repo, core, f.url, "pw", &f.opts) != 0)
			_exit(103);
		for (uint32_t i = 0; i < 1500; i++) {
			coffer_buf out = COFFER_BUF_INIT;
			fill_chunk(buf, sizeof(buf), i, 0);
			if (coffer_store_read(repo, &ids[i], &out) != 0 || out.len != sizeof(buf) ||
			    memcmp(out.data, buf, sizeof(buf)) != 0)
				failures |= 8;
			coffer_buf_free(&out);
		}
		coffer_repo_close(repo);
		_exit(failures);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		fprintf(stderr, "cache_disk_full: skipped (needs root and mount namespaces)\n");
	else
		ck_assert_msg(WEXITSTATUS(status) == 0, "disk-full expectations failed: status 0x%x",
		              WEXITSTATUS(status));
}
END_TEST

START_TEST(metadata_chunk_cache)
{
	fixture f;
	fixture_init(&f, "meta-cache");
	coffer_repo *repo = create_repo(&f, "pw");
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, NULL));
	uint8_t buf[9000], other[3000];
	fill_chunk(buf, sizeof(buf), 5, 1);
	coffer_cid id, others[3];
	write_chunk(w, 0, COFFER_CHUNK_META, buf, sizeof(buf), &id, NULL);
	for (uint32_t i = 0; i < 3; i++) {
		fill_chunk(other, sizeof(other), 50 + i, 1);
		write_chunk(w, 0, COFFER_CHUNK_META, other, sizeof(other), &others[i], NULL);
	}
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	coffer_chunk_location loc;
	ck_assert_coffer_ok(coffer_store_lookup(repo, &id, &loc));
	coffer_repo_status st;
	ck_assert_coffer_ok(coffer_repo_status_get(repo, &st));
	expect_chunk(repo, &id, buf, sizeof(buf));
	char hex[65], path[4600];
	coffer_crypto_hex_encode(hex, id.bytes, 32);
	snprintf(path, sizeof(path), "%s/meta/%s", st.cache_dir, hex);
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq((uint64_t)sb.st_size, loc.stored_length);
	/* The other listings of the same pack came with it. */
	for (int i = 0; i < 3; i++) {
		char other_path[4600];
		coffer_crypto_hex_encode(hex, others[i].bytes, 32);
		snprintf(other_path, sizeof(other_path), "%s/meta/%s", st.cache_dir, hex);
		ck_assert_msg(stat(other_path, &sb) == 0, "%s not cached", other_path);
	}

	/* With the pack gone, the cached copy still serves the read. */
	coffer_buf pack = COFFER_BUF_INIT;
	get_blob(&f, loc.pack, &pack);
	coffer_backend *be = raw_backend(&f);
	ck_assert_coffer_ok(coffer_backend_remove(be, loc.pack));
	coffer_backend_close(be);
	expect_chunk(repo, &id, buf, sizeof(buf));
	for (uint32_t i = 0; i < 3; i++) {
		fill_chunk(other, sizeof(other), 50 + i, 1);
		expect_chunk(repo, &others[i], other, sizeof(other));
	}
	/* A damaged cached copy is dropped and the pack read instead. */
	put_blob(&f, loc.pack, pack.data, pack.len);
	int fd = open(path, O_RDWR);
	uint8_t b = 0;
	ck_assert_int_eq(pread(fd, &b, 1, 30), 1);
	b ^= 1;
	ck_assert_int_eq(pwrite(fd, &b, 1, 30), 1);
	close(fd);
	expect_chunk(repo, &id, buf, sizeof(buf));
	coffer_repo_close(repo);

	/* A capacity smaller than one chunk: the cache is trimmed at open. */
	f.opts.cache_capacity = 100;
	repo = open_repo(&f, "pw");
	ck_assert_int_ne(stat(path, &sb), 0);
	coffer_repo_close(repo);
	coffer_buf_free(&pack);
}
END_TEST

/* A session that reads far more metadata than the cache may hold (KOPIA_CACHE_CAPACITY,
 * --cache-capacity): the folder never passes the capacity by more than a chunk, also
 * before the handle closes, and every read still returns the right bytes. */
static uint64_t folder_bytes(const char *path)
{
	uint64_t total = 0;
	DIR *d = opendir(path);
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		if (de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &sb, 0) == 0 && S_ISREG(sb.st_mode))
			total += (uint64_t)sb.st_size;
	}
	closedir(d);
	return total;
}

START_TEST(metadata_cache_within_capacity)
{
	fixture f;
	fixture_init(&f, "meta-capacity");
	enum { CHUNKS = 240, CHUNK = 6000, CAPACITY = 128 * 1024 };
	coffer_repo *repo = create_repo(&f, "pw");
	coffer_store_writer *w;
	static uint8_t buf[CHUNK];
	coffer_cid ids[CHUNKS];
	for (uint32_t i = 0; i < CHUNKS; i++) {
		/* one writer per 40 chunks: several metadata packs */
		if (i % 40 == 0)
			ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, NULL));
		fill_chunk(buf, sizeof(buf), 900 + i, 0);
		write_chunk(w, 0, COFFER_CHUNK_META, buf, sizeof(buf), &ids[i], NULL);
		if (i % 40 == 39) {
			ck_assert_coffer_ok(coffer_store_writer_commit(w));
			coffer_store_writer_free(w);
		}
	}
	coffer_repo_close(repo);
	f.opts.cache_capacity = CAPACITY;
	repo = open_repo(&f, "pw");
	coffer_repo_status st;
	ck_assert_coffer_ok(coffer_repo_status_get(repo, &st));
	char meta[4600];
	snprintf(meta, sizeof(meta), "%s/meta", st.cache_dir);
	uint64_t peak = 0;
	for (int round = 0; round < 2; round++)
		for (uint32_t i = 0; i < CHUNKS; i++) {
			fill_chunk(buf, sizeof(buf), 900 + i, 0);
			expect_chunk(repo, &ids[i], buf, sizeof(buf));
			uint64_t now = folder_bytes(meta);
			peak = now > peak ? now : peak;
		}
	/* 240 chunks of ~6 KB is ~1.4 MB of metadata against a 128 KiB cache */
	ck_assert_msg(peak <= CAPACITY + CHUNK + 512, "cache peaked at %llu bytes, capacity %u",
	              (unsigned long long)peak, (unsigned)CAPACITY);
	ck_assert_msg(peak >= CAPACITY / 2, "cache peaked at only %llu bytes: not used?",
	              (unsigned long long)peak);
	coffer_repo_close(repo);
	ck_assert_uint_le(folder_bytes(meta), CAPACITY);
}
END_TEST

/* ---------------------------------------------------------- damage */

START_TEST(damaged_packs)
{
	fixture f;
	fixture_init(&f, "damage");
	coffer_repo *repo = create_repo(&f, "pw");
	coffer_store_writer *w;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, repo, 1, NULL));
	static uint8_t buf[3][100000];
	coffer_cid ids[3];
	for (int i = 0; i < 3; i++) {
		fill_chunk(buf[i], sizeof(buf[i]), (uint32_t)(40 + i), i);
		write_chunk(w, 0, COFFER_CHUNK_DATA, buf[i], sizeof(buf[i]), &ids[i], NULL);
	}
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	coffer_chunk_location loc[3];
	for (int i = 0; i < 3; i++)
		ck_assert_coffer_ok(coffer_store_lookup(repo, &ids[i], &loc[i]));
	ck_assert_str_eq(loc[0].pack, loc[2].pack);
	coffer_buf pack = COFFER_BUF_INIT;
	get_blob(&f, loc[0].pack, &pack);

	/* One flipped bit inside the second chunk. */
	coffer_buf bad = COFFER_BUF_INIT;
	coffer_buf_append(&bad, pack.data, pack.len);
	bad.data[loc[1].offset + 100] ^= 0x08;
	put_blob(&f, loc[0].pack, bad.data, bad.len);
	coffer_buf out = COFFER_BUF_INIT;
	int rc = coffer_store_read(repo, &ids[1], &out);
	ck_assert_int_eq(rc, COFFER_ECORRUPT);
	ck_assert_uint_eq(out.len, 0);
	const char *msg = coffer_error_last()->message;
	ck_assert_msg(strstr(msg, loc[0].pack) && strstr(msg, "offset"), "message: %s", msg);
	expect_chunk(repo, &ids[0], buf[0], sizeof(buf[0]));
	expect_chunk(repo, &ids[2], buf[2], sizeof(buf[2]));

	/* Truncated in the middle of the third chunk. */
	put_blob(&f, loc[0].pack, pack.data, loc[2].offset + 10);
	rc = coffer_store_read(repo, &ids[2], &out);
	ck_assert_int_eq(rc, COFFER_ECORRUPT);
	ck_assert_msg(strstr(coffer_error_last()->message, loc[0].pack), "message: %s",
	              coffer_error_last()->message);
	expect_chunk(repo, &ids[0], buf[0], sizeof(buf[0]));
	coffer_store_pack_entry *entries;
	size_t n;
	ck_assert_int_eq(coffer_store_pack_toc(repo, loc[0].pack, &entries, &n), COFFER_ECORRUPT);

	/* Missing pack. */
	coffer_backend *be = raw_backend(&f);
	ck_assert_coffer_ok(coffer_backend_remove(be, loc[0].pack));
	coffer_backend_close(be);
	ck_assert_int_eq(coffer_store_read(repo, &ids[0], &out), COFFER_ENOTFOUND);

	/* Restored: all good again, and the TOC reads back. */
	put_blob(&f, loc[0].pack, pack.data, pack.len);
	for (int i = 0; i < 3; i++)
		expect_chunk(repo, &ids[i], buf[i], sizeof(buf[i]));
	ck_assert_coffer_ok(coffer_store_pack_toc(repo, loc[0].pack, &entries, &n));
	ck_assert_uint_eq(n, 3);
	coffer_free(entries);

	/* A damaged index blob is an error on open, never silently skipped. */
	name_list l;
	list_all(&f, "index/", &l);
	ck_assert_uint_eq(l.count, 1);
	coffer_buf idx = COFFER_BUF_INIT;
	get_blob(&f, l.names[0], &idx);
	idx.data[idx.len / 2] ^= 1;
	put_blob(&f, l.names[0], idx.data, idx.len);
	coffer_repo_close(repo);
	test_rmtree(f.cache);
	rc = coffer_repo_open(&repo, core, f.url, "pw", &f.opts);
	ck_assert_int_eq(rc, COFFER_ECORRUPT);
	ck_assert_msg(strstr(coffer_error_last()->message, l.names[0]), "message: %s", coffer_error_last()->message);
	coffer_buf_free(&idx);
	coffer_buf_free(&pack);
	coffer_buf_free(&bad);
	coffer_buf_free(&out);
}
END_TEST

START_TEST(sealed_blobs)
{
	fixture f;
	fixture_init(&f, "sealed");
	coffer_repo *repo = create_repo(&f, "pw");
	const char *a = "manifest A", *b = "manifest B";
	ck_assert_coffer_ok(coffer_store_put_sealed(repo, "snapshots/s/a", a, strlen(a), 0));
	ck_assert_coffer_ok(coffer_store_put_sealed(repo, "snapshots/s/b", b, strlen(b), 0));
	ck_assert_int_eq(coffer_store_put_sealed(repo, "snapshots/s/a", b, strlen(b), 0), COFFER_EEXISTS);
	coffer_buf out = COFFER_BUF_INIT;
	ck_assert_coffer_ok(coffer_store_get_sealed(repo, "snapshots/s/a", &out));
	ck_assert_uint_eq(out.len, strlen(a));
	ck_assert_int_eq(memcmp(out.data, a, out.len), 0);
	/* The stored bytes are not the plaintext. */
	coffer_buf raw = COFFER_BUF_INIT;
	get_blob(&f, "snapshots/s/a", &raw);
	ck_assert_uint_eq(raw.len, strlen(a) + COFFER_CRYPTO_SEAL_OVERHEAD);
	ck_assert_ptr_null(memmem(raw.data, raw.len, "manifest", 8));
	/* Swapped: b's bytes under a's name do not authenticate. */
	coffer_buf raw_b = COFFER_BUF_INIT;
	get_blob(&f, "snapshots/s/b", &raw_b);
	put_blob(&f, "snapshots/s/a", raw_b.data, raw_b.len);
	out.len = 0;
	ck_assert_int_eq(coffer_store_get_sealed(repo, "snapshots/s/a", &out), COFFER_ECORRUPT);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_msg(strstr(coffer_error_last()->message, "snapshots/s/a"), "message: %s",
	              coffer_error_last()->message);
	ck_assert_int_eq(coffer_store_get_sealed(repo, "snapshots/s/none", &out), COFFER_ENOTFOUND);
	/* Overwrite when asked. */
	ck_assert_coffer_ok(coffer_store_put_sealed(repo, "snapshots/s/a", a, strlen(a), COFFER_PUT_OVERWRITE));
	ck_assert_coffer_ok(coffer_store_get_sealed(repo, "snapshots/s/a", &out));
	coffer_repo_close(repo);
	coffer_buf_free(&out);
	coffer_buf_free(&raw);
	coffer_buf_free(&raw_b);
}
END_TEST

/* ---------------------------------------------------------- parsers */

START_TEST(format_parsers_round_trip)
{
	/* Pack trailer and TOC. */
	coffer_pack_entry e[3];
	memset(e, 0, sizeof(e));
	uint32_t offset = 0;
	for (int i = 0; i < 3; i++) {
		memset(e[i].id, i + 1, sizeof(e[i].id));
		e[i].offset = offset;
		e[i].raw_length = 1000u * (uint32_t)(i + 1);
		e[i].codec = i == 1 ? 1 : 0;
		e[i].stored_length = i == 1 ? 500 + 28 : e[i].raw_length + 28;
		e[i].kind = (uint8_t)(i == 2);
		offset += e[i].stored_length;
	}
	uint8_t toc[16 + 3 * 48];
	ck_assert_uint_eq(coffer_pack_toc_size(3), sizeof(toc));
	coffer_pack_toc_encode(toc, e, 3);
	coffer_pack_entry *back;
	size_t n;
	ck_assert_coffer_ok(coffer_pack_toc_parse(toc, sizeof(toc), offset, &back, &n));
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(memcmp(back, e, sizeof(e)), 0);
	coffer_free(back);
	ck_assert_int_eq(coffer_pack_toc_parse(toc, sizeof(toc), offset + 1, &back, &n), COFFER_ECORRUPT);
	ck_assert_int_eq(coffer_pack_toc_parse(toc, sizeof(toc) - 1, offset, &back, &n), COFFER_ECORRUPT);
	uint8_t trailer[16];
	coffer_pack_trailer_encode(trailer, 200);
	uint64_t toc_offset;
	uint32_t toc_len;
	ck_assert_coffer_ok(coffer_pack_trailer_parse(trailer, 1000, &toc_offset, &toc_len));
	ck_assert_uint_eq(toc_offset, 1000 - 16 - 200);
	ck_assert_uint_eq(toc_len, 200);
	ck_assert_int_eq(coffer_pack_trailer_parse(trailer, 100, &toc_offset, &toc_len), COFFER_ECORRUPT);

	/* Index blob: encode, parse, and refuse unsorted input. */
	uint8_t records[3 * 64];
	memset(records, 0, sizeof(records));
	for (int i = 0; i < 3; i++) {
		uint8_t *r = records + i * 64;
		memset(r, 0x10 * (i + 1), 32);
		r[32] = i == 2 ? 'q' : 'p';
		memset(r + 33, i == 1 ? 0xaa : 0xbb, 16);
		r[COFFER_INDEX_RECORD_KIND] = (uint8_t)(i == 2);
		coffer_put_le32(r + COFFER_INDEX_RECORD_OFFSET, 77u * (uint32_t)i);
		coffer_put_le32(r + COFFER_INDEX_RECORD_STORED, 128);
		coffer_put_le32(r + COFFER_INDEX_RECORD_RAW, 100);
	}
	coffer_buf blob = COFFER_BUF_INIT;
	ck_assert_coffer_ok(coffer_index_blob_encode(records, 3, &blob));
	ck_assert_uint_eq(blob.len, 24 + 3 * 17 + 3 * 52);
	uint8_t *parsed;
	ck_assert_coffer_ok(coffer_index_blob_parse(blob.data, blob.len, &parsed, &n));
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(memcmp(parsed, records, sizeof(records)), 0);
	coffer_free(parsed);
	/* Swap the first two entries' ids: out of order. */
	uint8_t *entries = blob.data + 24 + 3 * 17;
	uint8_t tmp[32];
	memcpy(tmp, entries, 32);
	memcpy(entries, entries + 52, 32);
	memcpy(entries + 52, tmp, 32);
	ck_assert_int_eq(coffer_index_blob_parse(blob.data, blob.len, &parsed, &n), COFFER_ECORRUPT);
	coffer_buf_free(&blob);

	/* Pack names. */
	char name[40], letter;
	uint8_t id[16], id2[16];
	memset(id, 0xa5, 16);
	coffer_pack_name_format(name, 'p', id);
	ck_assert_str_eq(name, "pa5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5");
	ck_assert_coffer_ok(coffer_pack_name_parse(name, &letter, id2));
	ck_assert_int_eq(letter, 'p');
	ck_assert_int_eq(memcmp(id, id2, 16), 0);
	ck_assert_int_ne(coffer_pack_name_parse("pA5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5", &letter, id2), 0);
	ck_assert_int_ne(coffer_pack_name_parse("index/x", &letter, id2), 0);
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
	if (coffer_core_find(core, COFFER_PLUGIN_BACKEND, "filesystem", &info) != 0 ||
	    coffer_core_find(core, COFFER_PLUGIN_CODEC, "zstd", &info) != 0 ||
	    coffer_core_find(core, COFFER_PLUGIN_CODEC, "none", &info) != 0) {
		fprintf(stderr, "skip: backend-fs, codec-zstd or codec-none not preloaded: %s\n",
		        coffer_error_last()->message);
		coffer_core_free(core);
		return 77;
	}
	tmpdir = test_tmpdir("store");

	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, create_then_open);
	tcase_add_test(tc, wrong_password_writes_nothing);
	tcase_add_test(tc, no_repository);
	tcase_add_test(tc, create_twice_refused);
	tcase_add_test(tc, change_password);
	tcase_add_test(tc, hostile_format_header);
	tcase_add_test(tc, parallel_writes_read_back);
	tcase_add_test(tc, dedup_semantics);
	tcase_add_test(tc, uncommitted_session_not_indexed);
	tcase_add_test(tc, index_merge_and_refresh);
	tcase_add_test(tc, foreach_and_pack_toc);
	tcase_add_test(tc, cache_deleted_or_damaged);
	tcase_add_test(tc, cache_unwritable);
	tcase_add_test(tc, cache_disk_full);
	tcase_add_test(tc, metadata_chunk_cache);
	tcase_add_test(tc, metadata_cache_within_capacity);
	tcase_add_test(tc, damaged_packs);
	tcase_add_test(tc, sealed_blobs);
	tcase_add_test(tc, format_parsers_round_trip);
	suite_add_tcase(s, tc);

	int status = test_run_suite(s);
	test_rmtree(tmpdir);
	free(tmpdir);
	coffer_core_free(core);
	return status;
}
