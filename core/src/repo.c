/* Repositories: create, open, change the password, describe. The format blob (a plaintext
 * header with the KDF parameters and a body sealed under the password key) holds the
 * master key every other key is derived from (docs/FORMAT.md). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <coffer/repo.h>
#include <coffer/sys/codec.h>

#include "store_private.h"

#define DEFAULT_COMPRESSION "zstd"
#define DEFAULT_CACHE_CAPACITY ((uint64_t)5 << 30)
#define MAX_PARALLELISM 256u

/* ------------------------------------------------------------ allocation */

static void repo_free(coffer_repo *repo)
{
	if (!repo)
		return;
	coffer_store_state *state = coffer_store_state_of(repo);
	if (state && repo->index)
		coffer_store_meta_cache_trim(repo, 1);
	coffer_store_index_close(repo);
	if (repo->hasher)
		coffer_crypto_hasher_free(repo->hasher);
	if (repo->backend)
		coffer_backend_close(repo->backend);
	if (state) {
		pthread_mutex_destroy(&state->writers_lock);
		pthread_mutex_destroy(&state->meta_trim_lock);
		coffer_store_windows_free(repo);
		coffer_crypto_cleanse(state, sizeof(*state));
		coffer_free(state);
	}
	coffer_crypto_cleanse(repo, sizeof(*repo));
	coffer_free(repo);
}

static unsigned int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned int)n : 1u;
}

static int repo_alloc(coffer_repo **out, coffer_core *core, const char *url, const char *password,
                      const coffer_repo_options *opts)
{
	*out = NULL;
	if (!core || !url || !url[0])
		return coffer_error_set(COFFER_EINVALID, "no repository URL given");
	if (!password)
		return coffer_error_set(COFFER_EINVALID, "no password given for repository %s", url);
	if (strlen(url) >= sizeof(((coffer_repo *)0)->url))
		return coffer_error_set(COFFER_EINVALID, "repository URL is too long");
	if (opts && (opts->version == 0 || opts->version > COFFER_REPO_OPTIONS_VERSION))
		return coffer_error_set(COFFER_EINVALID, "repository options version %u is not supported (expected %u)",
		                        opts->version, COFFER_REPO_OPTIONS_VERSION);
	coffer_repo *repo = coffer_calloc(1, sizeof(*repo));
	coffer_store_state *state = coffer_calloc(1, sizeof(*state));
	if (!repo || !state) {
		coffer_free(repo);
		coffer_free(state);
		return COFFER_ENOMEM;
	}
	pthread_mutex_init(&state->writers_lock, NULL);
	pthread_mutex_init(&state->meta_trim_lock, NULL);
	repo->store_private = state;
	repo->core = core;
	coffer_repo_options defaults = COFFER_REPO_OPTIONS_INIT;
	repo->options = opts ? *opts : defaults;
	/* The caller's strings need not outlive this call; what is used is copied. */
	repo->options.cache_dir = NULL;
	repo->options.ca_file = NULL;
	repo->options.compression = NULL;
	repo->parallelism = repo->options.parallelism ? repo->options.parallelism : online_cpus();
	if (repo->parallelism > MAX_PARALLELISM)
		repo->parallelism = MAX_PARALLELISM;
	snprintf(repo->url, sizeof(repo->url), "%s", url);
	*out = repo;
	return 0;
}

static int repo_open_backend(coffer_repo *repo, const coffer_repo_options *opts, int create)
{
	coffer_backend_options bo = COFFER_BACKEND_OPTIONS_INIT;
	bo.parallelism = repo->parallelism;
	bo.ca_file = opts ? opts->ca_file : NULL;
	bo.create = create;
	return coffer_backend_open(&repo->backend, repo->core, repo->url, &bo);
}

/* ------------------------------------------------------------ cache folder */

static int make_directories(const char *path)
{
	char buf[4300];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return errno;
		*p = saved;
		if (!saved)
			break;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return errno;
	return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

static int resolve_cache_dir(coffer_repo *repo, const coffer_repo_options *opts)
{
	char base[4096];
	const char *env;
	if (opts && opts->cache_dir && opts->cache_dir[0])
		snprintf(base, sizeof(base), "%s", opts->cache_dir);
	else if ((env = getenv("KOPIA_CACHE_DIR")) && env[0])
		snprintf(base, sizeof(base), "%s", env);
	else if ((env = getenv("XDG_CACHE_HOME")) && env[0])
		snprintf(base, sizeof(base), "%s/coffer", env);
	else if ((env = getenv("HOME")) && env[0])
		snprintf(base, sizeof(base), "%s/.cache/coffer", env);
	else
		return coffer_error_set(COFFER_EINVALID,
		                        "no cache folder: set the cache_dir option, KOPIA_CACHE_DIR, "
		                        "XDG_CACHE_HOME or HOME");
	if (strlen(base) + 1 + sizeof(repo->unique_id_hex) + 8 > sizeof(repo->cache_dir))
		return coffer_error_set(COFFER_EINVALID, "cache folder path %s is too long", base);
	snprintf(repo->cache_dir, sizeof(repo->cache_dir), "%s/%s", base, repo->unique_id_hex);
	coffer_store_state *state = coffer_store_state_of(repo);
	snprintf(state->meta_cache_dir, sizeof(state->meta_cache_dir), "%s/meta", repo->cache_dir);
	int e = make_directories(state->meta_cache_dir);
	if (e)
		return coffer_error_set_errno(COFFER_ERROR, e,
		                              "cannot create the cache folder %s (set the cache_dir option or "
		                              "KOPIA_CACHE_DIR to a writable folder)",
		                              state->meta_cache_dir);
	if (access(repo->cache_dir, W_OK) != 0 || access(state->meta_cache_dir, W_OK) != 0)
		return coffer_error_set_errno(COFFER_ERROR, errno,
		                              "cannot write to the cache folder %s (set the cache_dir option or "
		                              "KOPIA_CACHE_DIR to a writable folder)",
		                              repo->cache_dir);
	uint64_t capacity = opts ? opts->cache_capacity : 0;
	if (!capacity && (env = getenv("KOPIA_CACHE_CAPACITY")) && env[0]) {
		char *end;
		unsigned long long mib = strtoull(env, &end, 10);
		if (*end == '\0' && mib > 0 && mib < (1ull << 40))
			capacity = (uint64_t)mib << 20;
	}
	state->cache_capacity = capacity ? capacity : DEFAULT_CACHE_CAPACITY;
	return 0;
}

/* ------------------------------------------------------------ keys */

/* Everything that follows from the decrypted body: keys, hasher, chunker, codec, cache. */
static int repo_setup(coffer_repo *repo, const coffer_repo_options *opts)
{
	coffer_store_state *state = coffer_store_state_of(repo);
	const coffer_format_body *body = &state->body;
	int rc = coffer_chunker_params_check(&body->chunker);
	if (rc)
		return coffer_error_set(COFFER_ECORRUPT, "format blob of %s: %s", repo->url,
		                        coffer_error_last()->message);
	memcpy(repo->master_key, body->master_key, COFFER_CRYPTO_KEY_SIZE);
	uint8_t content_key[COFFER_CRYPTO_KEY_SIZE];
	if ((rc = coffer_crypto_derive_key(repo->data_key, repo->master_key, "data")) != 0 ||
	    (rc = coffer_crypto_derive_key(repo->meta_key, repo->master_key, "meta")) != 0 ||
	    (rc = coffer_crypto_derive_key(content_key, repo->master_key, "content-id")) != 0 ||
	    (rc = coffer_crypto_derive_key(repo->gear_seed, repo->master_key, "chunker-gear")) != 0)
		return rc;
	rc = coffer_crypto_hasher_new(&repo->hasher, (coffer_crypto_hash_algorithm)body->hash_algorithm,
	                              content_key, sizeof(content_key));
	coffer_crypto_cleanse(content_key, sizeof(content_key));
	if (rc)
		return rc;
	repo->chunker_params = body->chunker;
	snprintf(repo->compression, sizeof(repo->compression), "%s", body->compression);
	/* A missing codec plugin only stops writing (and reading what it compressed). */
	if (coffer_codec_lookup(repo->core, repo->compression, &repo->codec) != 0) {
		state->codec_error = *coffer_error_last();
	} else if (repo->codec.vt->id > 255) {
		coffer_error_set(COFFER_EUNSUPPORTED, "codec %s has the id %u, above the 255 chunks can record",
		                 repo->compression, repo->codec.vt->id);
		state->codec_error = *coffer_error_last();
	} else {
		state->codec_ok = 1;
	}
	coffer_error_clear();
	memcpy(repo->unique_id, state->header.unique_id, sizeof(repo->unique_id));
	coffer_crypto_hex_encode(repo->unique_id_hex, repo->unique_id, sizeof(repo->unique_id));
	if ((rc = resolve_cache_dir(repo, opts)) != 0)
		return rc;
	if ((rc = coffer_store_index_open(repo)) != 0)
		return rc;
	coffer_store_meta_cache_trim(repo, 0);
	return coffer_store_windows_init(repo);
}

/* ------------------------------------------------------------ format blob */

static int password_key(uint8_t key[COFFER_CRYPTO_KEY_SIZE], const char *password, const coffer_format_header *h)
{
	return coffer_crypto_scrypt(key, COFFER_CRYPTO_KEY_SIZE, password, strlen(password), h->unique_id,
	                            sizeof(h->unique_id), h->scrypt_n, h->scrypt_r, h->scrypt_p);
}

/* Header + body sealed under the password key, into out. */
static int format_blob_seal(const coffer_format_header *header_in, const coffer_format_body *body,
                            const char *password, coffer_buf *out)
{
	uint8_t plain[COFFER_FORMAT_BODY_MAX_SIZE];
	int body_len = coffer_format_body_encode(body, plain, sizeof(plain));
	if (body_len < 0)
		return body_len;
	coffer_format_header header = *header_in;
	header.version = COFFER_FORMAT_VERSION;
	snprintf(header.kdf, sizeof(header.kdf), "%s", COFFER_FORMAT_KDF_SCRYPT);
	header.body_length = (uint32_t)body_len + COFFER_CRYPTO_SEAL_OVERHEAD;
	uint8_t key[COFFER_CRYPTO_KEY_SIZE];
	int rc = password_key(key, password, &header);
	if (rc == 0)
		rc = coffer_buf_reserve(out, COFFER_FORMAT_HEADER_SIZE + header.body_length);
	if (rc == 0) {
		coffer_format_header_encode(&header, out->data);
		rc = coffer_crypto_seal(out->data + COFFER_FORMAT_HEADER_SIZE, key, out->data, COFFER_FORMAT_HEADER_SIZE,
		                        plain, (size_t)body_len);
	}
	if (rc == 0)
		out->len = COFFER_FORMAT_HEADER_SIZE + header.body_length;
	coffer_crypto_cleanse(key, sizeof(key));
	coffer_crypto_cleanse(plain, sizeof(plain));
	return rc;
}

/* The last password key derived while opening, so the backup blob (same salt and
 * parameters) does not cost a second scrypt. */
typedef struct key_memo {
	int valid;
	coffer_format_header header;
	uint8_t key[COFFER_CRYPTO_KEY_SIZE];
} key_memo;

/* Parses and unseals a format blob: COFFER_EAUTH for a wrong password, COFFER_ECORRUPT for
 * a damaged blob. */
static int format_blob_open(coffer_repo *repo, const char *blob_name, const coffer_buf *blob,
                            const char *password, key_memo *memo, coffer_format_header *header,
                            coffer_format_body *body)
{
	int rc = coffer_format_header_parse(blob->data, blob->len, header);
	if (rc)
		return coffer_error_set(rc, "%s in %s: %s", blob_name, repo->url, coffer_error_last()->message);
	if (!memo->valid || memcmp(memo->header.unique_id, header->unique_id, sizeof(header->unique_id)) != 0 ||
	    memo->header.scrypt_n != header->scrypt_n || memo->header.scrypt_r != header->scrypt_r ||
	    memo->header.scrypt_p != header->scrypt_p) {
		if ((rc = password_key(memo->key, password, header)) != 0)
			return rc;
		memo->header = *header;
		memo->valid = 1;
	}
	uint8_t plain[COFFER_FORMAT_BODY_MAX_SIZE];
	size_t plain_len = header->body_length - COFFER_CRYPTO_SEAL_OVERHEAD;
	if (coffer_crypto_open(plain, memo->key, blob->data, COFFER_FORMAT_HEADER_SIZE,
	                       blob->data + COFFER_FORMAT_HEADER_SIZE, header->body_length) != 0)
		return coffer_error_set(COFFER_EAUTH, "wrong password for repository %s", repo->url);
	rc = coffer_format_body_parse(plain, plain_len, body);
	coffer_crypto_cleanse(plain, sizeof(plain));
	if (rc)
		return coffer_error_set(rc == COFFER_EUNSUPPORTED ? rc : COFFER_ECORRUPT, "%s in %s: %s", blob_name,
		                        repo->url, coffer_error_last()->message);
	return 0;
}

static int read_format_blobs(coffer_repo *repo, const char *password)
{
	coffer_store_state *state = coffer_store_state_of(repo);
	key_memo memo;
	memset(&memo, 0, sizeof(memo));
	coffer_buf blob = COFFER_BUF_INIT;
	int primary_get = coffer_backend_get(repo->backend, COFFER_FORMAT_BLOB_NAME, 0, COFFER_WHOLE, &blob);
	int primary = COFFER_ENOTFOUND;
	coffer_error primary_error;
	memset(&primary_error, 0, sizeof(primary_error));
	if (primary_get == 0) {
		primary = format_blob_open(repo, COFFER_FORMAT_BLOB_NAME, &blob, password, &memo, &state->header,
		                           &state->body);
		if (primary == 0)
			goto done;
		primary_error = *coffer_error_last();
	} else if (primary_get != COFFER_ENOTFOUND) {
		/* Network or permission trouble: pass it on as it is, never guess. */
		coffer_buf_free(&blob);
		return primary_get;
	}
	/* The backup copy written before the format blob is rewritten (change_password). */
	blob.len = 0;
	int backup_get = coffer_backend_get(repo->backend, COFFER_FORMAT_BACKUP_BLOB_NAME, 0, COFFER_WHOLE, &blob);
	int backup = backup_get;
	if (backup_get == 0)
		backup = format_blob_open(repo, COFFER_FORMAT_BACKUP_BLOB_NAME, &blob, password, &memo,
		                          &state->header, &state->body);
	if (backup == 0)
		goto done;
	if (primary_get == 0) {
		/* The main blob's verdict (wrong password, damage) is what the user needs. */
		primary = coffer_error_set(primary_error.code, "%s", primary_error.message);
	} else if (backup_get == COFFER_ENOTFOUND) {
		primary = coffer_error_set(COFFER_ENOTFOUND, "no repository at %s", repo->url);
	} else {
		primary = backup;
	}
	coffer_buf_free(&blob);
	coffer_crypto_cleanse(&memo, sizeof(memo));
	return primary;
done:
	coffer_buf_free(&blob);
	coffer_crypto_cleanse(&memo, sizeof(memo));
	return 0;
}

/* ------------------------------------------------------------ public API */

int coffer_repo_open(coffer_repo **out, coffer_core *core, const char *url, const char *password,
                     const coffer_repo_options *opts)
{
	*out = NULL;
	coffer_repo *repo;
	int rc = repo_alloc(&repo, core, url, password, opts);
	if (rc)
		return rc;
	if ((rc = repo_open_backend(repo, opts, 0)) != 0 || (rc = read_format_blobs(repo, password)) != 0 ||
	    (rc = repo_setup(repo, opts)) != 0) {
		repo_free(repo);
		return rc;
	}
	*out = repo;
	return 0;
}

static int refuse_existing(coffer_repo *repo, const char *name)
{
	coffer_blob_info info;
	int rc = coffer_backend_stat(repo->backend, name, &info);
	if (rc == 0)
		return coffer_error_set(COFFER_EEXISTS, "a repository already exists at %s (%s is there)", repo->url,
		                        name);
	if (rc == COFFER_ENOTFOUND) {
		coffer_error_clear();
		return 0;
	}
	return rc;
}

int coffer_repo_create(coffer_repo **out, coffer_core *core, const char *url, const char *password,
                       const coffer_repo_options *opts)
{
	*out = NULL;
	coffer_repo *repo;
	int rc = repo_alloc(&repo, core, url, password, opts);
	if (rc)
		return rc;
	coffer_store_state *state = coffer_store_state_of(repo);
	const char *compression = opts && opts->compression ? opts->compression : DEFAULT_COMPRESSION;
	coffer_codec codec;
	coffer_format_header *h = &state->header;
	coffer_format_body *b = &state->body;
	if ((rc = coffer_codec_lookup(core, compression, &codec)) != 0)
		goto fail;
	h->scrypt_n = opts && opts->scrypt_n ? opts->scrypt_n : COFFER_CRYPTO_SCRYPT_DEFAULT_N;
	h->scrypt_r = opts && opts->scrypt_r ? opts->scrypt_r : COFFER_CRYPTO_SCRYPT_DEFAULT_R;
	h->scrypt_p = opts && opts->scrypt_p ? opts->scrypt_p : COFFER_CRYPTO_SCRYPT_DEFAULT_P;
	if ((rc = coffer_format_check_scrypt(h->scrypt_n, h->scrypt_r, h->scrypt_p)) != 0)
		goto fail;
	if (strlen(compression) > COFFER_FORMAT_COMPRESSION_MAX) {
		rc = coffer_error_set(COFFER_EINVALID, "compression name '%s' is too long", compression);
		goto fail;
	}
	snprintf(b->compression, sizeof(b->compression), "%s", compression);
	b->hash_algorithm = COFFER_CRYPTO_HASH_DEFAULT;
	coffer_chunker_params chunker = COFFER_CHUNKER_PARAMS_DEFAULT;
	b->chunker = chunker;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	b->created_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	if ((rc = coffer_crypto_random(h->unique_id, sizeof(h->unique_id))) != 0 ||
	    (rc = coffer_crypto_random(b->master_key, sizeof(b->master_key))) != 0)
		goto fail;
	/* Nothing is written until the backend answered that no repository is there. */
	if ((rc = repo_open_backend(repo, opts, 1)) != 0 || (rc = refuse_existing(repo, COFFER_FORMAT_BLOB_NAME)) != 0 ||
	    (rc = refuse_existing(repo, COFFER_FORMAT_BACKUP_BLOB_NAME)) != 0)
		goto fail;
	coffer_buf blob = COFFER_BUF_INIT;
	rc = format_blob_seal(h, b, password, &blob);
	if (rc == 0) {
		rc = coffer_backend_put(repo->backend, COFFER_FORMAT_BLOB_NAME, blob.data, blob.len, 0);
		if (rc == COFFER_EEXISTS)
			coffer_error_set(rc, "a repository already exists at %s", repo->url);
	}
	if (rc == 0) {
		/* The backup copy only helps a later password change survive a crash; a failure
		 * here leaves a complete repository. */
		if (coffer_backend_put(repo->backend, COFFER_FORMAT_BACKUP_BLOB_NAME, blob.data, blob.len,
		                       COFFER_PUT_OVERWRITE) != 0)
			coffer_error_clear();
		coffer_format_header_parse(blob.data, blob.len, h);
	}
	coffer_crypto_cleanse(blob.data, blob.len);
	coffer_buf_free(&blob);
	if (rc)
		goto fail;
	if ((rc = repo_setup(repo, opts)) != 0)
		goto fail;
	*out = repo;
	return 0;
fail:
	repo_free(repo);
	return rc;
}

void coffer_repo_close(coffer_repo *repo)
{
	repo_free(repo);
}

int coffer_repo_change_password(coffer_repo *repo, const char *new_password)
{
	if (!new_password)
		return coffer_error_set(COFFER_EINVALID, "no new password given");
	coffer_store_state *state = coffer_store_state_of(repo);
	coffer_buf blob = COFFER_BUF_INIT;
	int rc = format_blob_seal(&state->header, &state->body, new_password, &blob);
	/* Backup first: a crash between the two puts leaves the old password working on the
	 * main blob and the new one on the backup, and open tries both. */
	if (rc == 0) {
		rc = coffer_backend_put(repo->backend, COFFER_FORMAT_BACKUP_BLOB_NAME, blob.data, blob.len,
		                        COFFER_PUT_OVERWRITE);
		if (rc)
			coffer_error_wrap("changing the password of %s (nothing changed)", repo->url);
	}
	if (rc == 0) {
		rc = coffer_backend_put(repo->backend, COFFER_FORMAT_BLOB_NAME, blob.data, blob.len,
		                        COFFER_PUT_OVERWRITE);
		if (rc)
			coffer_error_wrap("changing the password of %s (the backup format blob already has the new "
			                  "password; both passwords open the repository until this succeeds)",
			                  repo->url);
	}
	if (rc == 0)
		coffer_format_header_parse(blob.data, blob.len, &state->header);
	coffer_crypto_cleanse(blob.data, blob.len);
	coffer_buf_free(&blob);
	return rc;
}

static int count_blob(const coffer_blob_info *info, void *ud)
{
	coffer_repo_status *s = ud;
	char letter;
	uint8_t id[COFFER_PACK_ID_SIZE];
	if (coffer_pack_name_parse(info->name, &letter, id) == 0 &&
	    (letter == COFFER_PACK_LETTER_DATA || letter == COFFER_PACK_LETTER_META)) {
		s->pack_count++;
		s->pack_bytes += info->size;
	} else if (strncmp(info->name, COFFER_INDEX_BLOB_PREFIX, strlen(COFFER_INDEX_BLOB_PREFIX)) == 0) {
		s->index_blob_count++;
	}
	return 0;
}

static int count_content(const uint8_t record[COFFER_INDEX_RECORD_SIZE], void *ud)
{
	coffer_repo_status *s = ud;
	s->content_count++;
	s->content_raw_bytes += coffer_le32(record + COFFER_INDEX_RECORD_RAW);
	s->content_stored_bytes += coffer_le32(record + COFFER_INDEX_RECORD_STORED);
	return 0;
}

int coffer_repo_status_get(coffer_repo *repo, coffer_repo_status *out)
{
	memset(out, 0, sizeof(*out));
	coffer_store_state *state = coffer_store_state_of(repo);
	snprintf(out->unique_id, sizeof(out->unique_id), "%s", repo->unique_id_hex);
	out->format_version = state->header.version;
	snprintf(out->compression, sizeof(out->compression), "%s", repo->compression);
	snprintf(out->hash, sizeof(out->hash), "%s",
	         coffer_crypto_hash_name((coffer_crypto_hash_algorithm)state->body.hash_algorithm));
	snprintf(out->cipher, sizeof(out->cipher), "AES-256-GCM");
	out->chunk_min = repo->chunker_params.min_size;
	out->chunk_avg = repo->chunker_params.avg_size;
	out->chunk_max = repo->chunker_params.max_size;
	out->scrypt_n = state->header.scrypt_n;
	out->scrypt_r = state->header.scrypt_r;
	out->scrypt_p = state->header.scrypt_p;
	snprintf(out->cache_dir, sizeof(out->cache_dir), "%s", repo->cache_dir);
	int rc = coffer_backend_list(repo->backend, "", count_blob, out);
	if (rc)
		return rc;
	coffer_store_index_foreach(repo, count_content, out);
	coffer_buf text = COFFER_BUF_INIT;
	if (coffer_backend_describe(repo->backend, &text) == 0 && coffer_buf_append(&text, "", 1) == 0)
		snprintf(out->backend, sizeof(out->backend), "%s: %s", coffer_backend_plugin_name(repo->backend),
		         (const char *)text.data);
	else
		snprintf(out->backend, sizeof(out->backend), "%s", coffer_backend_plugin_name(repo->backend));
	coffer_buf_free(&text);
	coffer_error_clear();
	return 0;
}

coffer_core *coffer_repo_core(coffer_repo *repo)
{
	return repo->core;
}

coffer_backend *coffer_repo_backend(coffer_repo *repo)
{
	return repo->backend;
}
