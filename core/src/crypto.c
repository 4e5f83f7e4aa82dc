/* Cryptographic primitives on OpenSSL 3 EVP: scrypt, HKDF-SHA256, AES-256-GCM, keyed
 * content ids (HMAC-SHA256 or keyed BLAKE2b-256). Hot paths (seal, open, content id) keep
 * their OpenSSL contexts per thread so a 1-4 MiB chunk costs no context allocation. */
#include "config.h"

#include "crypto.h"

#include <coffer/error.h>

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* EVP update calls take an int length; larger inputs are fed in pieces of this size. */
#define CRYPTO_MAX_PIECE ((size_t)1 << 30)
/* Content-id contexts cached per thread: a repository uses one or two hashers at a time. */
#define CRYPTO_THREAD_MAC_SLOTS 4

/* Records an error with OpenSSL's most recent reason appended, and empties its queue so a
 * stale reason never shows up in a later, unrelated message. */
static int crypto_fail(int code, const char *what)
{
	char reason[256] = "";
	unsigned long err = ERR_peek_last_error();

	if (err != 0)
		ERR_error_string_n(err, reason, sizeof(reason));
	ERR_clear_error();
	if (reason[0] != '\0')
		return coffer_error_set(code, "%s: %s", what, reason);
	return coffer_error_set(code, "%s", what);
}

/* ---------------------------------------------------------------- algorithms fetched once */

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *crypto_aes_gcm;
static EVP_MAC *crypto_hmac;
static EVP_MAC *crypto_blake2b_mac;
static pthread_key_t crypto_thread_key;
static int crypto_thread_key_ok;

static void crypto_thread_state_destroy(void *state);

static void crypto_global_init(void)
{
	/* Explicit fetches: implicit ones repeat a provider lookup on every init call. */
	crypto_aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	crypto_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	crypto_blake2b_mac = EVP_MAC_fetch(NULL, "BLAKE2BMAC", NULL);
	crypto_thread_key_ok = pthread_key_create(&crypto_thread_key, crypto_thread_state_destroy) == 0;
}

static int crypto_global(void)
{
	if (pthread_once(&crypto_once, crypto_global_init) != 0)
		return coffer_error_set(COFFER_ERROR, "crypto: one-time initialisation failed");
	return 0;
}

/* ---------------------------------------------------------------- per-thread contexts */

struct crypto_mac_slot {
	uint64_t hasher_serial;    /* 0: empty */
	EVP_MAC_CTX *ctx;          /* duplicate of that hasher's keyed template */
};

struct crypto_thread_state {
	EVP_CIPHER_CTX *seal_ctx;
	EVP_CIPHER_CTX *open_ctx;
	/* The key each cipher context was last loaded with: re-keying is skipped when the
	 * same key is used again, which is the common case (one repository, one key). */
	uint8_t seal_key[COFFER_CRYPTO_KEY_SIZE];
	uint8_t open_key[COFFER_CRYPTO_KEY_SIZE];
	int seal_key_loaded;
	int open_key_loaded;
	struct crypto_mac_slot macs[CRYPTO_THREAD_MAC_SLOTS];
	unsigned next_mac_victim;
};

/* The fast path reads the _Thread_local pointer; the pthread key only exists so the state
 * is released when the thread exits. */
static _Thread_local struct crypto_thread_state *crypto_thread;

static void crypto_thread_state_destroy(void *opaque)
{
	struct crypto_thread_state *state = opaque;
	size_t i;

	if (state == NULL)
		return;
	EVP_CIPHER_CTX_free(state->seal_ctx);
	EVP_CIPHER_CTX_free(state->open_ctx);
	for (i = 0; i < CRYPTO_THREAD_MAC_SLOTS; i++)
		EVP_MAC_CTX_free(state->macs[i].ctx);
	OPENSSL_cleanse(state, sizeof(*state));
	free(state);
	if (crypto_thread == state)
		crypto_thread = NULL;
}

static int crypto_thread_state(struct crypto_thread_state **out)
{
	struct crypto_thread_state *state = crypto_thread;
	int rc;

	*out = state;
	if (state != NULL)
		return 0;
	if ((rc = crypto_global()) < 0)
		return rc;
	state = calloc(1, sizeof(*state));
	if (state == NULL)
		return coffer_error_set(COFFER_ENOMEM, "crypto: out of memory for per-thread state");
	state->seal_ctx = EVP_CIPHER_CTX_new();
	state->open_ctx = EVP_CIPHER_CTX_new();
	if (state->seal_ctx == NULL || state->open_ctx == NULL) {
		crypto_thread_state_destroy(state);
		return crypto_fail(COFFER_ENOMEM, "crypto: cannot allocate cipher contexts");
	}
	if (crypto_thread_key_ok)
		pthread_setspecific(crypto_thread_key, state);
	crypto_thread = state;
	*out = state;
	return 0;
}

void coffer_crypto_thread_cleanup(void)
{
	struct crypto_thread_state *state = crypto_thread;

	if (state == NULL)
		return;
	if (crypto_thread_key_ok)
		pthread_setspecific(crypto_thread_key, NULL);
	crypto_thread_state_destroy(state);
	crypto_thread = NULL;
}

/* ---------------------------------------------------------------- key derivation */

int coffer_crypto_scrypt(uint8_t *out, size_t out_len, const char *password, size_t password_len,
                         const uint8_t *salt, size_t salt_len, uint64_t n, uint32_t r, uint32_t p)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[7];
	uint64_t per_block, memory;
	int rc;

	if (out == NULL || out_len == 0)
		return coffer_error_set(COFFER_EINVALID, "scrypt: empty output");
	if (n < 2 || (n & (n - 1)) != 0)
		return coffer_error_set(COFFER_EINVALID, "scrypt: N=%llu is not a power of two above 1",
		                        (unsigned long long)n);
	if (r == 0 || p == 0)
		return coffer_error_set(COFFER_EINVALID, "scrypt: r=%u and p=%u must be at least 1", r, p);
	/* OpenSSL needs 128*r*(N+2) bytes for V plus 128*r*p for B; refuse before allocating. */
	per_block = (uint64_t)128 * r;
	if (n > COFFER_CRYPTO_SCRYPT_MAX_MEMORY / per_block ||
	    (uint64_t)p > COFFER_CRYPTO_SCRYPT_MAX_MEMORY / per_block)
		goto too_much;
	memory = per_block * (n + 2) + per_block * p;
	if (memory > COFFER_CRYPTO_SCRYPT_MAX_MEMORY)
		goto too_much;

	kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	if (kdf == NULL)
		return crypto_fail(COFFER_EUNSUPPORTED, "scrypt: not available in this OpenSSL");
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (ctx == NULL)
		return crypto_fail(COFFER_ENOMEM, "scrypt: cannot allocate context");
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	                                              (void *)(password != NULL ? password : ""), password_len);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	                                              (void *)(salt != NULL ? salt : (const uint8_t *)""), salt_len);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	params[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &memory);
	params[6] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) <= 0)
		rc = crypto_fail(COFFER_ERROR, "scrypt: derivation failed");
	else
		rc = 0;
	EVP_KDF_CTX_free(ctx);
	if (rc < 0)
		OPENSSL_cleanse(out, out_len);
	return rc;

too_much:
	return coffer_error_set(COFFER_EINVALID, "scrypt: N=%llu r=%u p=%u needs more than %llu MiB",
	                        (unsigned long long)n, r, p,
	                        (unsigned long long)(COFFER_CRYPTO_SCRYPT_MAX_MEMORY >> 20));
}

int coffer_crypto_hkdf(uint8_t *out, size_t out_len, const uint8_t *ikm, size_t ikm_len,
                       const uint8_t *salt, size_t salt_len, const uint8_t *info, size_t info_len)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[5];
	size_t count = 0;
	int rc;

	if (out == NULL || out_len == 0 || out_len > 255 * 32)
		return coffer_error_set(COFFER_EINVALID, "HKDF: output length %zu outside 1..8160", out_len);
	if (ikm == NULL || ikm_len == 0)
		return coffer_error_set(COFFER_EINVALID, "HKDF: empty input key");
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf == NULL)
		return crypto_fail(COFFER_EUNSUPPORTED, "HKDF: not available in this OpenSSL");
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (ctx == NULL)
		return crypto_fail(COFFER_ENOMEM, "HKDF: cannot allocate context");
	params[count++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[count++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	/* Absent salt and info are left unset: HKDF then uses a zero salt and empty info. */
	if (salt != NULL && salt_len > 0)
		params[count++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	if (info != NULL && info_len > 0)
		params[count++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	params[count] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) <= 0)
		rc = crypto_fail(COFFER_ERROR, "HKDF: derivation failed");
	else
		rc = 0;
	EVP_KDF_CTX_free(ctx);
	if (rc < 0)
		OPENSSL_cleanse(out, out_len);
	return rc;
}

int coffer_crypto_derive_key(uint8_t out[COFFER_CRYPTO_KEY_SIZE],
                             const uint8_t master[COFFER_CRYPTO_KEY_SIZE], const char *purpose)
{
	if (purpose == NULL || purpose[0] == '\0')
		return coffer_error_set(COFFER_EINVALID, "key derivation: empty purpose");
	return coffer_crypto_hkdf(out, COFFER_CRYPTO_KEY_SIZE, master, COFFER_CRYPTO_KEY_SIZE, NULL, 0,
	                          (const uint8_t *)purpose, strlen(purpose));
}

/* ---------------------------------------------------------------- AES-256-GCM */

/* Loads key (when it changed) and nonce into a per-thread context. */
static int crypto_gcm_start(EVP_CIPHER_CTX *ctx, uint8_t *loaded_key, int *key_loaded,
                            const uint8_t *key, const uint8_t *nonce, int encrypt)
{
	int ok;

	if (crypto_aes_gcm == NULL)
		return crypto_fail(COFFER_EUNSUPPORTED, "AES-256-GCM: not available in this OpenSSL");
	if (*key_loaded && CRYPTO_memcmp(loaded_key, key, COFFER_CRYPTO_KEY_SIZE) == 0) {
		ok = encrypt ? EVP_EncryptInit_ex2(ctx, NULL, NULL, nonce, NULL)
		             : EVP_DecryptInit_ex2(ctx, NULL, NULL, nonce, NULL);
	} else {
		*key_loaded = 0;
		ok = encrypt ? EVP_EncryptInit_ex2(ctx, crypto_aes_gcm, key, nonce, NULL)
		             : EVP_DecryptInit_ex2(ctx, crypto_aes_gcm, key, nonce, NULL);
		if (ok) {
			memcpy(loaded_key, key, COFFER_CRYPTO_KEY_SIZE);
			*key_loaded = 1;
		}
	}
	if (!ok) {
		*key_loaded = 0;
		return crypto_fail(COFFER_ERROR, "AES-256-GCM: cannot initialise cipher");
	}
	return 0;
}

/* Feeds associated data (out == NULL) or text through the cipher in int-sized pieces. */
static int crypto_gcm_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len, int encrypt)
{
	while (len > 0) {
		size_t piece = len < CRYPTO_MAX_PIECE ? len : CRYPTO_MAX_PIECE;
		int produced = 0;
		int ok = encrypt ? EVP_EncryptUpdate(ctx, out, &produced, in, (int)piece)
		                 : EVP_DecryptUpdate(ctx, out, &produced, in, (int)piece);

		if (!ok)
			return -1;
		in += piece;
		if (out != NULL)
			out += piece;
		len -= piece;
	}
	return 0;
}

int coffer_crypto_seal(uint8_t *out, const uint8_t key[COFFER_CRYPTO_KEY_SIZE],
                       const uint8_t *aad, size_t aad_len, const uint8_t *plain, size_t plain_len)
{
	struct crypto_thread_state *state;
	uint8_t *nonce = out;
	uint8_t *ciphertext = out + COFFER_CRYPTO_NONCE_SIZE;
	uint8_t *tag = ciphertext + plain_len;
	OSSL_PARAM params[2];
	int produced = 0;
	int rc;

	if ((rc = crypto_thread_state(&state)) < 0)
		return rc;
	if (RAND_bytes(nonce, COFFER_CRYPTO_NONCE_SIZE) != 1)
		return crypto_fail(COFFER_ERROR, "AES-256-GCM seal: no random nonce");
	rc = crypto_gcm_start(state->seal_ctx, state->seal_key, &state->seal_key_loaded, key, nonce, 1);
	if (rc < 0)
		return rc;
	if (crypto_gcm_update(state->seal_ctx, NULL, aad, aad_len, 1) < 0 ||
	    crypto_gcm_update(state->seal_ctx, ciphertext, plain, plain_len, 1) < 0 ||
	    EVP_EncryptFinal_ex(state->seal_ctx, tag, &produced) != 1)
		goto fail;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, COFFER_CRYPTO_TAG_SIZE);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_CIPHER_CTX_get_params(state->seal_ctx, params) != 1)
		goto fail;
	return 0;

fail:
	state->seal_key_loaded = 0;
	OPENSSL_cleanse(out, plain_len + COFFER_CRYPTO_SEAL_OVERHEAD);
	return crypto_fail(COFFER_ERROR, "AES-256-GCM seal failed");
}

int coffer_crypto_open(uint8_t *out, const uint8_t key[COFFER_CRYPTO_KEY_SIZE],
                       const uint8_t *aad, size_t aad_len, const uint8_t *sealed, size_t sealed_len)
{
	struct crypto_thread_state *state;
	const uint8_t *ciphertext, *tag;
	size_t text_len;
	OSSL_PARAM params[2];
	int produced = 0;
	int rc;

	if (sealed_len < COFFER_CRYPTO_SEAL_OVERHEAD)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "AES-256-GCM open: %zu bytes is shorter than nonce and tag (%d)",
		                        sealed_len, COFFER_CRYPTO_SEAL_OVERHEAD);
	if ((rc = crypto_thread_state(&state)) < 0)
		return rc;
	text_len = sealed_len - COFFER_CRYPTO_SEAL_OVERHEAD;
	ciphertext = sealed + COFFER_CRYPTO_NONCE_SIZE;
	tag = ciphertext + text_len;
	rc = crypto_gcm_start(state->open_ctx, state->open_key, &state->open_key_loaded, key, sealed, 0);
	if (rc < 0)
		return rc;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag,
	                                              COFFER_CRYPTO_TAG_SIZE);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_CIPHER_CTX_set_params(state->open_ctx, params) != 1 ||
	    crypto_gcm_update(state->open_ctx, NULL, aad, aad_len, 0) < 0 ||
	    crypto_gcm_update(state->open_ctx, out, ciphertext, text_len, 0) < 0) {
		state->open_key_loaded = 0;
		OPENSSL_cleanse(out, text_len);
		return crypto_fail(COFFER_ERROR, "AES-256-GCM open failed");
	}
	if (EVP_DecryptFinal_ex(state->open_ctx, out + text_len, &produced) != 1) {
		/* Never hand out plaintext that did not authenticate. */
		OPENSSL_cleanse(out, text_len);
		ERR_clear_error();
		return coffer_error_set(COFFER_ECORRUPT,
		                        "AES-256-GCM open: authentication failed (%zu bytes: wrong key, "
		                        "wrong associated data or damaged data)", sealed_len);
	}
	return 0;
}

/* ---------------------------------------------------------------- keyed content ids */

struct coffer_crypto_hasher {
	coffer_crypto_hash_algorithm algorithm;
	uint64_t serial;            /* unique per hasher ever created: names its per-thread copies */
	EVP_MAC_CTX *template_ctx;  /* keyed and initialised; only duplicated, never updated */
};

static _Atomic uint64_t crypto_next_hasher_serial = 1;

const char *coffer_crypto_hash_name(coffer_crypto_hash_algorithm algorithm)
{
	switch (algorithm) {
	case COFFER_CRYPTO_HASH_HMAC_SHA256:
		return "HMAC-SHA256";
	case COFFER_CRYPTO_HASH_BLAKE2B_256:
		return "BLAKE2B-256";
	}
	return NULL;
}

coffer_crypto_hash_algorithm coffer_crypto_hash_from_name(const char *name)
{
	if (name == NULL)
		return (coffer_crypto_hash_algorithm)0;
	if (strcmp(name, "HMAC-SHA256") == 0)
		return COFFER_CRYPTO_HASH_HMAC_SHA256;
	if (strcmp(name, "BLAKE2B-256") == 0)
		return COFFER_CRYPTO_HASH_BLAKE2B_256;
	return (coffer_crypto_hash_algorithm)0;
}

int coffer_crypto_hasher_new(coffer_crypto_hasher **out, coffer_crypto_hash_algorithm algorithm,
                             const uint8_t *key, size_t key_len)
{
	coffer_crypto_hasher *hasher;
	EVP_MAC *mac;
	OSSL_PARAM params[2];
	size_t digest_size = COFFER_CRYPTO_ID_SIZE;
	int rc;

	*out = NULL;
	if ((rc = crypto_global()) < 0)
		return rc;
	if (key == NULL || key_len == 0 || key_len > 64)
		return coffer_error_set(COFFER_EINVALID, "content hash: key length %zu outside 1..64", key_len);
	switch (algorithm) {
	case COFFER_CRYPTO_HASH_HMAC_SHA256:
		mac = crypto_hmac;
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
		break;
	case COFFER_CRYPTO_HASH_BLAKE2B_256:
		mac = crypto_blake2b_mac;
		params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &digest_size);
		break;
	default:
		return coffer_error_set(COFFER_EUNSUPPORTED, "content hash: unknown algorithm %d", (int)algorithm);
	}
	params[1] = OSSL_PARAM_construct_end();
	if (mac == NULL)
		return crypto_fail(COFFER_EUNSUPPORTED, "content hash: algorithm not available in this OpenSSL");
	hasher = calloc(1, sizeof(*hasher));
	if (hasher == NULL)
		return coffer_error_set(COFFER_ENOMEM, "content hash: out of memory");
	hasher->algorithm = algorithm;
	hasher->serial = atomic_fetch_add(&crypto_next_hasher_serial, 1);
	hasher->template_ctx = EVP_MAC_CTX_new(mac);
	if (hasher->template_ctx == NULL) {
		free(hasher);
		return crypto_fail(COFFER_ENOMEM, "content hash: cannot allocate context");
	}
	if (EVP_MAC_init(hasher->template_ctx, key, key_len, params) != 1) {
		coffer_crypto_hasher_free(hasher);
		return crypto_fail(COFFER_ERROR, "content hash: cannot set key");
	}
	*out = hasher;
	return 0;
}

void coffer_crypto_hasher_free(coffer_crypto_hasher *hasher)
{
	if (hasher == NULL)
		return;
	/* Per-thread copies of this hasher are keyed by its serial, which is never reused, so
	 * they can never be picked up by a later hasher; they are freed on eviction or exit. */
	EVP_MAC_CTX_free(hasher->template_ctx);
	free(hasher);
}

coffer_crypto_hash_algorithm coffer_crypto_hasher_algorithm(const coffer_crypto_hasher *hasher)
{
	return hasher->algorithm;
}

/* This thread's context for `hasher`, duplicated from its template on first use. */
static EVP_MAC_CTX *crypto_thread_mac(struct crypto_thread_state *state, const coffer_crypto_hasher *hasher)
{
	struct crypto_mac_slot *slot;
	size_t i;

	for (i = 0; i < CRYPTO_THREAD_MAC_SLOTS; i++) {
		if (state->macs[i].hasher_serial == hasher->serial)
			return state->macs[i].ctx;
	}
	slot = &state->macs[state->next_mac_victim];
	state->next_mac_victim = (state->next_mac_victim + 1) % CRYPTO_THREAD_MAC_SLOTS;
	EVP_MAC_CTX_free(slot->ctx);
	slot->hasher_serial = 0;
	slot->ctx = EVP_MAC_CTX_dup(hasher->template_ctx);
	if (slot->ctx == NULL) {
		crypto_fail(COFFER_ENOMEM, "content hash: cannot copy context");
		return NULL;
	}
	slot->hasher_serial = hasher->serial;
	return slot->ctx;
}

int coffer_crypto_hasher_id(const coffer_crypto_hasher *hasher, const void *data, size_t len,
                            uint8_t out[COFFER_CRYPTO_ID_SIZE])
{
	struct crypto_thread_state *state;
	const uint8_t *bytes = data;
	EVP_MAC_CTX *ctx;
	size_t produced = 0;
	int rc;

	if ((rc = crypto_thread_state(&state)) < 0)
		return rc;
	ctx = crypto_thread_mac(state, hasher);
	if (ctx == NULL)
		return COFFER_ENOMEM;
	/* A NULL key restarts the MAC with the key already loaded (no re-keying). */
	if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1)
		goto fail;
	while (len > 0) {
		size_t piece = len < CRYPTO_MAX_PIECE ? len : CRYPTO_MAX_PIECE;

		if (EVP_MAC_update(ctx, bytes, piece) != 1)
			goto fail;
		bytes += piece;
		len -= piece;
	}
	if (EVP_MAC_final(ctx, out, &produced, COFFER_CRYPTO_ID_SIZE) != 1 || produced != COFFER_CRYPTO_ID_SIZE)
		goto fail;
	return 0;

fail:
	return crypto_fail(COFFER_ERROR, "content hash: computing id failed");
}

/* ---------------------------------------------------------------- small helpers */

int coffer_crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) != 0;
}

void coffer_crypto_cleanse(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

int coffer_crypto_random(void *out, size_t n)
{
	uint8_t *bytes = out;

	while (n > 0) {
		size_t piece = n < CRYPTO_MAX_PIECE ? n : CRYPTO_MAX_PIECE;

		if (RAND_bytes(bytes, (int)piece) != 1)
			return crypto_fail(COFFER_ERROR, "random bytes: OpenSSL generator failed");
		bytes += piece;
		n -= piece;
	}
	return 0;
}

void coffer_crypto_hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static int crypto_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int coffer_crypto_hex_decode(uint8_t *out, size_t out_len, const char *hex, size_t hex_len)
{
	size_t i;

	if (out_len > SIZE_MAX / 2 || hex_len != 2 * out_len)
		return coffer_error_set(COFFER_EINVALID, "hex: expected %zu digits, got %zu",
		                        out_len <= SIZE_MAX / 2 ? 2 * out_len : SIZE_MAX, hex_len);
	for (i = 0; i < out_len; i++) {
		int high = crypto_hex_value(hex[2 * i]);
		int low = crypto_hex_value(hex[2 * i + 1]);

		if (high < 0 || low < 0)
			return coffer_error_set(COFFER_EINVALID, "hex: invalid digit at position %zu",
			                        high < 0 ? 2 * i : 2 * i + 1);
		out[i] = (uint8_t)(high << 4 | low);
	}
	return 0;
}
