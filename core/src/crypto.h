/* Cryptographic primitives of the repository engine (internal to libcoffer): password
 * KDF, per-purpose key derivation, AEAD sealing, keyed content ids, and small helpers.
 * Everything is OpenSSL 3 libcrypto through the EVP APIs. Functions return 0 or a
 * negative COFFER_E* code with the message set through coffer_error_set. */
#ifndef COFFER_CRYPTO_H
#define COFFER_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define COFFER_CRYPTO_KEY_SIZE 32
#define COFFER_CRYPTO_NONCE_SIZE 12
#define COFFER_CRYPTO_TAG_SIZE 16
/* Bytes a sealed message is longer than its plaintext: nonce || ciphertext || tag. */
#define COFFER_CRYPTO_SEAL_OVERHEAD (COFFER_CRYPTO_NONCE_SIZE + COFFER_CRYPTO_TAG_SIZE)
#define COFFER_CRYPTO_ID_SIZE 32

/* Default scrypt cost for password -> key (about 64 MiB and a fraction of a second). */
#define COFFER_CRYPTO_SCRYPT_DEFAULT_N 65536u
#define COFFER_CRYPTO_SCRYPT_DEFAULT_R 8u
#define COFFER_CRYPTO_SCRYPT_DEFAULT_P 1u
/* Refuse scrypt parameters needing more memory than this: they come from a repository
 * header that an attacker may have written. */
#define COFFER_CRYPTO_SCRYPT_MAX_MEMORY ((uint64_t)2 << 30)

/* scrypt(password, salt, N, r, p) -> out_len bytes (RFC 7914). N must be a power of two
 * greater than 1; r and p at least 1; the memory needed (about 128*r*N bytes) is capped by
 * COFFER_CRYPTO_SCRYPT_MAX_MEMORY. */
int coffer_crypto_scrypt(uint8_t *out, size_t out_len, const char *password, size_t password_len,
                         const uint8_t *salt, size_t salt_len, uint64_t n, uint32_t r, uint32_t p);

/* HKDF-SHA256 extract-and-expand (RFC 5869). salt may be NULL/0, info may be NULL/0. */
int coffer_crypto_hkdf(uint8_t *out, size_t out_len, const uint8_t *ikm, size_t ikm_len,
                       const uint8_t *salt, size_t salt_len, const uint8_t *info, size_t info_len);
/* A 32-byte key for one purpose ("content-id", "chunker-gear", ...) from the master key:
 * HKDF-SHA256(IKM=master, salt=none, info=purpose). Distinct purposes give independent keys. */
int coffer_crypto_derive_key(uint8_t out[COFFER_CRYPTO_KEY_SIZE],
                             const uint8_t master[COFFER_CRYPTO_KEY_SIZE], const char *purpose);

/* AES-256-GCM with a fresh random 12-byte nonce. Writes nonce(12) || ciphertext || tag(16),
 * that is plain_len + COFFER_CRYPTO_SEAL_OVERHEAD bytes, to `out` (which must not overlap
 * `plain`). aad may be NULL when aad_len is 0. Reuses per-thread cipher contexts. */
int coffer_crypto_seal(uint8_t *out, const uint8_t key[COFFER_CRYPTO_KEY_SIZE],
                       const uint8_t *aad, size_t aad_len, const uint8_t *plain, size_t plain_len);
/* Reverses coffer_crypto_seal: writes sealed_len - COFFER_CRYPTO_SEAL_OVERHEAD bytes to `out`.
 * COFFER_ECORRUPT when the input is too short or the tag does not verify (wrong key, wrong
 * associated data, or any changed byte); `out` is then zeroed. */
int coffer_crypto_open(uint8_t *out, const uint8_t key[COFFER_CRYPTO_KEY_SIZE],
                       const uint8_t *aad, size_t aad_len, const uint8_t *sealed, size_t sealed_len);

/* Keyed content hash algorithms; the repository records which one it uses. */
typedef enum coffer_crypto_hash_algorithm {
	COFFER_CRYPTO_HASH_HMAC_SHA256 = 1,
	COFFER_CRYPTO_HASH_BLAKE2B_256 = 2  /* keyed BLAKE2b, digest length 32 */
} coffer_crypto_hash_algorithm;
/* Chosen by measurement (bench/chunker-measure crypto, docs/FORMAT.md): with SHA-NI, HMAC-SHA256
 * ran at ~1.7 GB/s against ~1.2 GB/s for OpenSSL's portable BLAKE2b on 1 MiB chunks. */
#define COFFER_CRYPTO_HASH_DEFAULT COFFER_CRYPTO_HASH_HMAC_SHA256

/* Canonical name ("HMAC-SHA256", "BLAKE2B-256") and the reverse lookup (0 when unknown). */
const char *coffer_crypto_hash_name(coffer_crypto_hash_algorithm algorithm);
coffer_crypto_hash_algorithm coffer_crypto_hash_from_name(const char *name);

/* A keyed hash ready to compute content ids. One hasher may be used by many threads at
 * once: each thread keeps its own context copied from the hasher's keyed template. */
typedef struct coffer_crypto_hasher coffer_crypto_hasher;

/* key_len 1..64 bytes (BLAKE2b allows at most 64; use 32). */
int coffer_crypto_hasher_new(coffer_crypto_hasher **out, coffer_crypto_hash_algorithm algorithm,
                             const uint8_t *key, size_t key_len);
void coffer_crypto_hasher_free(coffer_crypto_hasher *hasher);
coffer_crypto_hash_algorithm coffer_crypto_hasher_algorithm(const coffer_crypto_hasher *hasher);
/* out = keyed hash of data (32 bytes). Reentrant; no allocation after a thread's first use. */
int coffer_crypto_hasher_id(const coffer_crypto_hasher *hasher, const void *data, size_t len,
                            uint8_t out[COFFER_CRYPTO_ID_SIZE]);

/* Releases this thread's cached cipher and MAC contexts now (they are also released when the
 * thread exits). Optional; for leak checkers and long-lived threads that stop using crypto. */
void coffer_crypto_thread_cleanup(void);

/* 0 when the n bytes are equal, nonzero otherwise, in time independent of the contents. */
int coffer_crypto_equal(const void *a, const void *b, size_t n);
/* Zeroes secrets in a way the compiler may not drop. */
void coffer_crypto_cleanse(void *p, size_t n);
/* Cryptographically strong random bytes. */
int coffer_crypto_random(void *out, size_t n);

/* Lower-case hex of len bytes into out (2*len + 1 bytes, NUL-terminated). */
void coffer_crypto_hex_encode(char *out, const uint8_t *in, size_t len);
/* Exactly 2*out_len hex digits (either case) -> out_len bytes; COFFER_EINVALID otherwise. */
int coffer_crypto_hex_decode(uint8_t *out, size_t out_len, const char *hex, size_t hex_len);

#endif
