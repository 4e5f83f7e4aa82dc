/* Crypto primitives: published known-answer vectors (scrypt RFC 7914, HKDF RFC 5869,
 * HMAC-SHA256 RFC 4231, AES-256-GCM from the GCM specification), keyed BLAKE2b-256 against
 * an independent implementation, AEAD tamper detection, per-thread context reuse, helpers. */
#include "config.h"

#include <pthread.h>

#include "testlib.h"
#include "../core/src/crypto.h"

/* Decodes a hex literal of a test vector into a fresh buffer (test-only helper). */
static uint8_t *from_hex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *out = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(out);
	ck_assert_coffer_ok(coffer_crypto_hex_decode(out, n, hex, strlen(hex)));
	*len = n;
	return out;
}

static void assert_hex_eq(const uint8_t *got, size_t len, const char *expected_hex)
{
	char *hex = malloc(2 * len + 1);

	ck_assert_ptr_nonnull(hex);
	coffer_crypto_hex_encode(hex, got, len);
	ck_assert_str_eq(hex, expected_hex);
	free(hex);
}

/* ---------------------------------------------------------------- scrypt */

START_TEST(scrypt_rfc7914_vectors)
{
	uint8_t out[64];
	const uint8_t salt[] = "NaCl";

	/* RFC 7914 section 12, first vector: empty password and salt, N=16 r=1 p=1. */
	ck_assert_coffer_ok(coffer_crypto_scrypt(out, sizeof(out), "", 0, NULL, 0, 16, 1, 1));
	assert_hex_eq(out, sizeof(out),
	              "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
	              "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
	/* Second vector: "password" / "NaCl", N=1024 r=8 p=16. */
	ck_assert_coffer_ok(coffer_crypto_scrypt(out, sizeof(out), "password", 8, salt, 4, 1024, 8, 16));
	assert_hex_eq(out, sizeof(out),
	              "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
	              "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
}
END_TEST

START_TEST(scrypt_default_cost_and_bad_parameters)
{
	uint8_t a[32], b[32];
	const uint8_t salt[16] = { 1, 2, 3 };

	/* The default cost needs 64 MiB, above OpenSSL's own 32 MiB default limit. */
	ck_assert_coffer_ok(coffer_crypto_scrypt(a, sizeof(a), "pw", 2, salt, sizeof(salt),
	                                         COFFER_CRYPTO_SCRYPT_DEFAULT_N, COFFER_CRYPTO_SCRYPT_DEFAULT_R,
	                                         COFFER_CRYPTO_SCRYPT_DEFAULT_P));
	ck_assert_coffer_ok(coffer_crypto_scrypt(b, sizeof(b), "pW", 2, salt, sizeof(salt), 1024, 8, 1));
	ck_assert_int_ne(coffer_crypto_equal(a, b, sizeof(a)), 0);

	ck_assert_int_eq(coffer_crypto_scrypt(a, sizeof(a), "pw", 2, salt, sizeof(salt), 1000, 8, 1),
	                 COFFER_EINVALID);
	ck_assert_int_eq(coffer_crypto_scrypt(a, sizeof(a), "pw", 2, salt, sizeof(salt), 1, 8, 1), COFFER_EINVALID);
	ck_assert_int_eq(coffer_crypto_scrypt(a, sizeof(a), "pw", 2, salt, sizeof(salt), 1024, 0, 1),
	                 COFFER_EINVALID);
	ck_assert_int_eq(coffer_crypto_scrypt(a, sizeof(a), "pw", 2, salt, sizeof(salt), 1024, 8, 0),
	                 COFFER_EINVALID);
	/* A hostile header asking for 2^40 * 1 KiB is refused before any allocation. */
	ck_assert_int_eq(coffer_crypto_scrypt(a, sizeof(a), "pw", 2, salt, sizeof(salt), (uint64_t)1 << 40, 8, 1),
	                 COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "scrypt"));
	ck_assert_int_eq(coffer_crypto_scrypt(a, sizeof(a), "pw", 2, salt, sizeof(salt), 1u << 20, 8, 0xffffffffu),
	                 COFFER_EINVALID);
}
END_TEST

/* ---------------------------------------------------------------- HKDF */

START_TEST(hkdf_rfc5869_vectors)
{
	uint8_t ikm[22], salt[13], info[10], out[42];
	size_t i;

	memset(ikm, 0x0b, sizeof(ikm));
	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	/* Test case 1. */
	ck_assert_coffer_ok(coffer_crypto_hkdf(out, sizeof(out), ikm, sizeof(ikm), salt, sizeof(salt), info,
	                                       sizeof(info)));
	assert_hex_eq(out, sizeof(out),
	              "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
	/* Test case 3: no salt, no info. */
	ck_assert_coffer_ok(coffer_crypto_hkdf(out, sizeof(out), ikm, sizeof(ikm), NULL, 0, NULL, 0));
	assert_hex_eq(out, sizeof(out),
	              "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
	ck_assert_int_eq(coffer_crypto_hkdf(out, 0, ikm, sizeof(ikm), NULL, 0, NULL, 0), COFFER_EINVALID);
	ck_assert_int_eq(coffer_crypto_hkdf(out, sizeof(out), ikm, 0, NULL, 0, NULL, 0), COFFER_EINVALID);
}
END_TEST

START_TEST(derive_key_per_purpose)
{
	uint8_t master[32], a[32], b[32], again[32], direct[32];
	size_t i;

	for (i = 0; i < sizeof(master); i++)
		master[i] = (uint8_t)(i * 7 + 1);
	ck_assert_coffer_ok(coffer_crypto_derive_key(a, master, "content-id"));
	ck_assert_coffer_ok(coffer_crypto_derive_key(b, master, "chunker-gear"));
	ck_assert_coffer_ok(coffer_crypto_derive_key(again, master, "content-id"));
	ck_assert_int_ne(coffer_crypto_equal(a, b, 32), 0);
	ck_assert_int_eq(coffer_crypto_equal(a, again, 32), 0);
	/* Defined as HKDF-SHA256 with no salt and the purpose as info (docs/FORMAT.md). */
	ck_assert_coffer_ok(coffer_crypto_hkdf(direct, 32, master, 32, NULL, 0, (const uint8_t *)"content-id", 10));
	ck_assert_int_eq(coffer_crypto_equal(a, direct, 32), 0);
	ck_assert_int_eq(coffer_crypto_derive_key(a, master, ""), COFFER_EINVALID);
}
END_TEST

/* ---------------------------------------------------------------- AES-256-GCM */

START_TEST(gcm_open_known_answer)
{
	/* "The Galois/Counter Mode of Operation", McGrew & Viega, test case 16 (AES-256, 96-bit IV,
	 * with associated data), laid out as our nonce || ciphertext || tag. */
	size_t key_len, aad_len, sealed_len, plain_len;
	uint8_t *key = from_hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", &key_len);
	uint8_t *aad = from_hex("feedfacedeadbeeffeedfacedeadbeefabaddad2", &aad_len);
	uint8_t *sealed = from_hex("cafebabefacedbaddecaf888"
	                           "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	                           "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
	                           "76fc6ece0f4e1768cddf8853bb2d551b", &sealed_len);
	uint8_t *expected = from_hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	                             "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", &plain_len);
	uint8_t out[64];

	ck_assert_uint_eq(key_len, 32);
	ck_assert_uint_eq(sealed_len, plain_len + COFFER_CRYPTO_SEAL_OVERHEAD);
	ck_assert_coffer_ok(coffer_crypto_open(out, key, aad, aad_len, sealed, sealed_len));
	ck_assert_mem_eq(out, expected, plain_len);
	free(key);
	free(aad);
	free(sealed);
	free(expected);
}
END_TEST

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131 + seed * 17 + (i >> 8)) & 0xff);
}

START_TEST(gcm_round_trip_sizes)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 4096, (1u << 20) + 3 };
	uint8_t key[32], aad[40];
	size_t s;

	ck_assert_coffer_ok(coffer_crypto_random(key, sizeof(key)));
	fill_pattern(aad, sizeof(aad), 9);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t len = sizes[s];
		uint8_t *plain = malloc(len + 1);
		uint8_t *sealed = malloc(len + COFFER_CRYPTO_SEAL_OVERHEAD);
		uint8_t *sealed2 = malloc(len + COFFER_CRYPTO_SEAL_OVERHEAD);
		uint8_t *opened = malloc(len + 1);

		fill_pattern(plain, len, (unsigned)s);
		ck_assert_coffer_ok(coffer_crypto_seal(sealed, key, aad, sizeof(aad), plain, len));
		ck_assert_coffer_ok(coffer_crypto_seal(sealed2, key, aad, sizeof(aad), plain, len));
		/* A fresh nonce each time, so equal plaintexts never give equal ciphertexts. */
		ck_assert_int_ne(memcmp(sealed, sealed2, COFFER_CRYPTO_NONCE_SIZE), 0);
		if (len >= 16)
			ck_assert_int_ne(memcmp(sealed + COFFER_CRYPTO_NONCE_SIZE, plain, 16), 0);
		ck_assert_coffer_ok(coffer_crypto_open(opened, key, aad, sizeof(aad), sealed,
		                                       len + COFFER_CRYPTO_SEAL_OVERHEAD));
		ck_assert(len == 0 || memcmp(opened, plain, len) == 0);
		ck_assert_coffer_ok(coffer_crypto_open(opened, key, aad, sizeof(aad), sealed2,
		                                       len + COFFER_CRYPTO_SEAL_OVERHEAD));
		ck_assert(len == 0 || memcmp(opened, plain, len) == 0);
		/* No associated data at all. */
		ck_assert_coffer_ok(coffer_crypto_seal(sealed, key, NULL, 0, plain, len));
		ck_assert_coffer_ok(coffer_crypto_open(opened, key, NULL, 0, sealed, len + COFFER_CRYPTO_SEAL_OVERHEAD));
		ck_assert(len == 0 || memcmp(opened, plain, len) == 0);
		free(plain);
		free(sealed);
		free(sealed2);
		free(opened);
	}
}
END_TEST

/* Every single-byte change of a sealed message, anywhere, must be refused and leave no
 * plaintext behind. */
START_TEST(gcm_tamper_every_position)
{
	enum { PLAIN = 100, SEALED = PLAIN + COFFER_CRYPTO_SEAL_OVERHEAD };
	uint8_t key[32], plain[PLAIN], sealed[SEALED], opened[PLAIN];
	const uint8_t aad[] = "content id as associated data";
	size_t position;
	unsigned bit;

	ck_assert_coffer_ok(coffer_crypto_random(key, sizeof(key)));
	fill_pattern(plain, sizeof(plain), 3);
	ck_assert_coffer_ok(coffer_crypto_seal(sealed, key, aad, sizeof(aad), plain, sizeof(plain)));
	for (position = 0; position < SEALED; position++) {
		for (bit = 0; bit < 8; bit += 7) {
			sealed[position] ^= (uint8_t)(1u << bit);
			memset(opened, 0xaa, sizeof(opened));
			ck_assert_int_eq(coffer_crypto_open(opened, key, aad, sizeof(aad), sealed, SEALED), COFFER_ECORRUPT);
			ck_assert_msg(coffer_error_last()->code == COFFER_ECORRUPT, "position %zu", position);
			for (size_t i = 0; i < PLAIN; i++)
				ck_assert_msg(opened[i] == 0, "plaintext left after failed open (position %zu)", position);
			sealed[position] ^= (uint8_t)(1u << bit);
		}
	}
	/* Untouched it still opens: the loop really restored every byte. */
	ck_assert_coffer_ok(coffer_crypto_open(opened, key, aad, sizeof(aad), sealed, SEALED));
	ck_assert_mem_eq(opened, plain, PLAIN);
}
END_TEST

/* On a 1 MiB message: one position from each class (nonce start/end, ciphertext start/middle/
 * end, tag start/end), plus truncation and extension. */
START_TEST(gcm_tamper_large_message)
{
	const size_t len = 1u << 20, sealed_len = len + COFFER_CRYPTO_SEAL_OVERHEAD;
	const size_t positions[] = { 0, 11, 12, 12 + len / 2, 12 + len - 1, 12 + len, sealed_len - 1 };
	uint8_t key[32];
	uint8_t *plain = malloc(len), *sealed = malloc(sealed_len + 1), *opened = malloc(len + 1);
	size_t p;

	ck_assert_coffer_ok(coffer_crypto_random(key, sizeof(key)));
	fill_pattern(plain, len, 5);
	ck_assert_coffer_ok(coffer_crypto_seal(sealed, key, NULL, 0, plain, len));
	for (p = 0; p < sizeof(positions) / sizeof(positions[0]); p++) {
		sealed[positions[p]] ^= 0x40;
		ck_assert_int_eq(coffer_crypto_open(opened, key, NULL, 0, sealed, sealed_len), COFFER_ECORRUPT);
		sealed[positions[p]] ^= 0x40;
	}
	ck_assert_int_eq(coffer_crypto_open(opened, key, NULL, 0, sealed, sealed_len - 1), COFFER_ECORRUPT);
	sealed[sealed_len] = 0;
	ck_assert_int_eq(coffer_crypto_open(opened, key, NULL, 0, sealed, sealed_len + 1), COFFER_ECORRUPT);
	ck_assert_coffer_ok(coffer_crypto_open(opened, key, NULL, 0, sealed, sealed_len));
	ck_assert_mem_eq(opened, plain, len);
	free(plain);
	free(sealed);
	free(opened);
}
END_TEST

START_TEST(gcm_wrong_aad_key_and_short_input)
{
	uint8_t key[32], other_key[32], plain[64], sealed[64 + COFFER_CRYPTO_SEAL_OVERHEAD], opened[64];
	uint8_t aad[32], wrong_aad[33];
	size_t short_len;

	ck_assert_coffer_ok(coffer_crypto_random(key, sizeof(key)));
	memcpy(other_key, key, sizeof(key));
	other_key[31] ^= 1;
	fill_pattern(plain, sizeof(plain), 1);
	fill_pattern(aad, sizeof(aad), 2);
	memcpy(wrong_aad, aad, sizeof(aad));
	wrong_aad[32] = 0;
	ck_assert_coffer_ok(coffer_crypto_seal(sealed, key, aad, sizeof(aad), plain, sizeof(plain)));

	/* Changed, shortened, lengthened and missing associated data. */
	wrong_aad[5] ^= 1;
	ck_assert_int_eq(coffer_crypto_open(opened, key, wrong_aad, sizeof(aad), sealed, sizeof(sealed)),
	                 COFFER_ECORRUPT);
	wrong_aad[5] ^= 1;
	ck_assert_int_eq(coffer_crypto_open(opened, key, aad, sizeof(aad) - 1, sealed, sizeof(sealed)),
	                 COFFER_ECORRUPT);
	ck_assert_int_eq(coffer_crypto_open(opened, key, wrong_aad, sizeof(wrong_aad), sealed, sizeof(sealed)),
	                 COFFER_ECORRUPT);
	ck_assert_int_eq(coffer_crypto_open(opened, key, NULL, 0, sealed, sizeof(sealed)), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "authentication failed"));
	/* Wrong key, then the right key again (the per-thread context must re-key both ways). */
	ck_assert_int_eq(coffer_crypto_open(opened, other_key, aad, sizeof(aad), sealed, sizeof(sealed)),
	                 COFFER_ECORRUPT);
	ck_assert_coffer_ok(coffer_crypto_open(opened, key, aad, sizeof(aad), sealed, sizeof(sealed)));
	ck_assert_mem_eq(opened, plain, sizeof(plain));
	/* Anything shorter than nonce + tag. */
	for (short_len = 0; short_len < COFFER_CRYPTO_SEAL_OVERHEAD; short_len++)
		ck_assert_int_eq(coffer_crypto_open(opened, key, aad, sizeof(aad), sealed, short_len), COFFER_ECORRUPT);
	/* An empty message sealed under one key does not open under another. */
	ck_assert_coffer_ok(coffer_crypto_seal(sealed, key, NULL, 0, plain, 0));
	ck_assert_int_eq(coffer_crypto_open(opened, other_key, NULL, 0, sealed, COFFER_CRYPTO_SEAL_OVERHEAD),
	                 COFFER_ECORRUPT);
	ck_assert_coffer_ok(coffer_crypto_open(opened, key, NULL, 0, sealed, COFFER_CRYPTO_SEAL_OVERHEAD));
}
END_TEST

/* ---------------------------------------------------------------- content ids */

static void hasher_case(coffer_crypto_hash_algorithm algorithm, const char *key_hex, const void *data,
                        size_t len, const char *expected_hex)
{
	coffer_crypto_hasher *hasher;
	size_t key_len;
	uint8_t *key = from_hex(key_hex, &key_len);
	uint8_t id[COFFER_CRYPTO_ID_SIZE];

	ck_assert_coffer_ok(coffer_crypto_hasher_new(&hasher, algorithm, key, key_len));
	ck_assert_int_eq(coffer_crypto_hasher_algorithm(hasher), algorithm);
	ck_assert_coffer_ok(coffer_crypto_hasher_id(hasher, data, len, id));
	assert_hex_eq(id, sizeof(id), expected_hex);
	/* Again: the reused per-thread context must restart from the key, not continue. */
	ck_assert_coffer_ok(coffer_crypto_hasher_id(hasher, data, len, id));
	assert_hex_eq(id, sizeof(id), expected_hex);
	coffer_crypto_hasher_free(hasher);
	free(key);
}

START_TEST(hmac_sha256_rfc4231)
{
	/* RFC 4231 test case 1 and test case 2 ("Jefe"). */
	hasher_case(COFFER_CRYPTO_HASH_HMAC_SHA256, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There", 8,
	            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	hasher_case(COFFER_CRYPTO_HASH_HMAC_SHA256, "4a656665", "what do ya want for nothing?", 28,
	            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
END_TEST

START_TEST(blake2b_256_keyed_vectors)
{
	/* Expected values from CPython's hashlib.blake2b(data, digest_size=32, key=key), which uses
	 * its own BLAKE2 implementation rather than OpenSSL's. The digest length is a BLAKE2
	 * parameter, so these are not truncations of the 64-byte RFC 7693 outputs. */
	uint8_t message[256];
	size_t i;

	for (i = 0; i < sizeof(message); i++)
		message[i] = (uint8_t)i;
	hasher_case(COFFER_CRYPTO_HASH_BLAKE2B_256, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	            "abc", 3, "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f");
	hasher_case(COFFER_CRYPTO_HASH_BLAKE2B_256, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	            "", 0, "4e51e7a913fc80137da52880fecca175bf81e117d5c68126dc2774033517ea0d");
	hasher_case(COFFER_CRYPTO_HASH_BLAKE2B_256,
	            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	            "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
	            message, sizeof(message), "1ee3b6312b4e0f0b9663b812b8c129e6d45c410b1c9c5a1667bfc6dd951db79f");
}
END_TEST

START_TEST(hasher_names_and_bad_keys)
{
	coffer_crypto_hasher *hasher = (coffer_crypto_hasher *)1;
	uint8_t key[65] = { 1 };

	ck_assert_str_eq(coffer_crypto_hash_name(COFFER_CRYPTO_HASH_HMAC_SHA256), "HMAC-SHA256");
	ck_assert_str_eq(coffer_crypto_hash_name(COFFER_CRYPTO_HASH_BLAKE2B_256), "BLAKE2B-256");
	ck_assert_int_eq(coffer_crypto_hash_from_name("HMAC-SHA256"), COFFER_CRYPTO_HASH_HMAC_SHA256);
	ck_assert_int_eq(coffer_crypto_hash_from_name("BLAKE2B-256"), COFFER_CRYPTO_HASH_BLAKE2B_256);
	ck_assert_int_eq(coffer_crypto_hash_from_name("SHA256"), 0);
	ck_assert_ptr_null(coffer_crypto_hash_name((coffer_crypto_hash_algorithm)77));
	ck_assert_int_eq(coffer_crypto_hasher_new(&hasher, COFFER_CRYPTO_HASH_HMAC_SHA256, key, 0), COFFER_EINVALID);
	ck_assert_ptr_null(hasher);
	ck_assert_int_eq(coffer_crypto_hasher_new(&hasher, COFFER_CRYPTO_HASH_BLAKE2B_256, key, 65), COFFER_EINVALID);
	ck_assert_int_eq(coffer_crypto_hasher_new(&hasher, (coffer_crypto_hash_algorithm)77, key, 32),
	                 COFFER_EUNSUPPORTED);
	/* The default must be one of the implemented algorithms. */
	ck_assert_ptr_nonnull(coffer_crypto_hash_name(COFFER_CRYPTO_HASH_DEFAULT));
}
END_TEST

/* More live hashers than per-thread cache slots, used round-robin, and hashers freed and
 * recreated (possibly at the same address): every id must match a fresh computation. */
START_TEST(hasher_cache_eviction_and_reuse)
{
	enum { HASHERS = 7 };
	coffer_crypto_hasher *hashers[HASHERS];
	uint8_t expected[HASHERS][32], id[32], key[32];
	const char data[] = "metadata chunk";
	int round, h;

	for (h = 0; h < HASHERS; h++) {
		memset(key, h + 1, sizeof(key));
		ck_assert_coffer_ok(coffer_crypto_hasher_new(&hashers[h],
		                                             h % 2 ? COFFER_CRYPTO_HASH_BLAKE2B_256
		                                                   : COFFER_CRYPTO_HASH_HMAC_SHA256,
		                                             key, sizeof(key)));
		ck_assert_coffer_ok(coffer_crypto_hasher_id(hashers[h], data, sizeof(data), expected[h]));
	}
	for (h = 1; h < HASHERS; h++)
		ck_assert_int_ne(memcmp(expected[h], expected[h - 1], 32), 0);
	for (round = 0; round < 3; round++) {
		for (h = HASHERS - 1; h >= 0; h--) {
			ck_assert_coffer_ok(coffer_crypto_hasher_id(hashers[h], data, sizeof(data), id));
			ck_assert_mem_eq(id, expected[h], 32);
		}
	}
	for (round = 0; round < 20; round++) {
		coffer_crypto_hasher *fresh;

		h = round % HASHERS;
		coffer_crypto_hasher_free(hashers[h]);
		memset(key, 100 + round, sizeof(key));
		ck_assert_coffer_ok(coffer_crypto_hasher_new(&fresh, COFFER_CRYPTO_HASH_HMAC_SHA256, key, sizeof(key)));
		ck_assert_coffer_ok(coffer_crypto_hasher_id(fresh, data, sizeof(data), id));
		/* A new key must never produce a cached old key's id. */
		for (int other = 0; other < HASHERS; other++)
			ck_assert_int_ne(memcmp(id, expected[other], 32), 0);
		memcpy(expected[h], id, 32);
		hashers[h] = fresh;
	}
	for (h = 0; h < HASHERS; h++) {
		ck_assert_coffer_ok(coffer_crypto_hasher_id(hashers[h], data, sizeof(data), id));
		ck_assert_mem_eq(id, expected[h], 32);
		coffer_crypto_hasher_free(hashers[h]);
	}
	coffer_crypto_thread_cleanup();
	coffer_crypto_thread_cleanup(); /* twice is harmless */
}
END_TEST

/* Several threads share one hasher and one key, each hashing and sealing its own data. */
enum { THREADS = 4, THREAD_ROUNDS = 50, THREAD_BUF = 70000 };

struct thread_job {
	const coffer_crypto_hasher *hasher;
	const uint8_t *key;
	unsigned seed;
	uint8_t expected[32];
	int failures;
};

static void *thread_worker(void *arg)
{
	struct thread_job *job = arg;
	uint8_t *buf = malloc(THREAD_BUF), *sealed = malloc(THREAD_BUF + COFFER_CRYPTO_SEAL_OVERHEAD);
	uint8_t *opened = malloc(THREAD_BUF), id[32];
	int round;

	fill_pattern(buf, THREAD_BUF, job->seed);
	for (round = 0; round < THREAD_ROUNDS; round++) {
		if (coffer_crypto_hasher_id(job->hasher, buf, THREAD_BUF, id) != 0 || memcmp(id, job->expected, 32) != 0)
			job->failures++;
		if (coffer_crypto_seal(sealed, job->key, id, 32, buf, THREAD_BUF) != 0 ||
		    coffer_crypto_open(opened, job->key, id, 32, sealed, THREAD_BUF + COFFER_CRYPTO_SEAL_OVERHEAD) != 0 ||
		    memcmp(opened, buf, THREAD_BUF) != 0)
			job->failures++;
	}
	free(buf);
	free(sealed);
	free(opened);
	return NULL;
}

START_TEST(threads_share_hasher_and_key)
{
	coffer_crypto_hasher *hasher;
	uint8_t key[32], hash_key[32];
	uint8_t *buf = malloc(THREAD_BUF);
	struct thread_job jobs[THREADS];
	pthread_t threads[THREADS];
	int t;

	ck_assert_coffer_ok(coffer_crypto_random(key, sizeof(key)));
	ck_assert_coffer_ok(coffer_crypto_random(hash_key, sizeof(hash_key)));
	ck_assert_coffer_ok(coffer_crypto_hasher_new(&hasher, COFFER_CRYPTO_HASH_DEFAULT, hash_key, sizeof(hash_key)));
	for (t = 0; t < THREADS; t++) {
		jobs[t].hasher = hasher;
		jobs[t].key = key;
		jobs[t].seed = (unsigned)t + 40;
		jobs[t].failures = 0;
		fill_pattern(buf, THREAD_BUF, jobs[t].seed);
		ck_assert_coffer_ok(coffer_crypto_hasher_id(hasher, buf, THREAD_BUF, jobs[t].expected));
	}
	for (t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_create(&threads[t], NULL, thread_worker, &jobs[t]), 0);
	for (t = 0; t < THREADS; t++) {
		pthread_join(threads[t], NULL);
		ck_assert_int_eq(jobs[t].failures, 0);
	}
	coffer_crypto_hasher_free(hasher);
	free(buf);
}
END_TEST

/* ---------------------------------------------------------------- helpers */

START_TEST(hex_random_equal_cleanse)
{
	const uint8_t bytes[] = { 0x00, 0x01, 0xab, 0xff, 0x7e };
	uint8_t decoded[5], a[32], b[32];
	char hex[11];
	size_t i;
	int nonzero = 0;

	coffer_crypto_hex_encode(hex, bytes, sizeof(bytes));
	ck_assert_str_eq(hex, "0001abff7e");
	ck_assert_coffer_ok(coffer_crypto_hex_decode(decoded, sizeof(decoded), hex, 10));
	ck_assert_mem_eq(decoded, bytes, sizeof(bytes));
	ck_assert_coffer_ok(coffer_crypto_hex_decode(decoded, sizeof(decoded), "0001ABFF7E", 10));
	ck_assert_mem_eq(decoded, bytes, sizeof(bytes));
	ck_assert_int_eq(coffer_crypto_hex_decode(decoded, sizeof(decoded), "0001abff7", 9), COFFER_EINVALID);
	ck_assert_int_eq(coffer_crypto_hex_decode(decoded, sizeof(decoded), "0001abff7e00", 12), COFFER_EINVALID);
	ck_assert_int_eq(coffer_crypto_hex_decode(decoded, sizeof(decoded), "0001agff7e", 10), COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "position 5"));
	ck_assert_int_eq(coffer_crypto_hex_decode(decoded, sizeof(decoded), "0001 bff7e", 10), COFFER_EINVALID);
	coffer_crypto_hex_encode(hex, bytes, 0);
	ck_assert_str_eq(hex, "");

	ck_assert_coffer_ok(coffer_crypto_random(a, sizeof(a)));
	ck_assert_coffer_ok(coffer_crypto_random(b, sizeof(b)));
	ck_assert_int_ne(coffer_crypto_equal(a, b, sizeof(a)), 0);
	for (i = 0; i < sizeof(a); i++)
		nonzero |= a[i];
	ck_assert_int_ne(nonzero, 0);
	memcpy(b, a, sizeof(a));
	ck_assert_int_eq(coffer_crypto_equal(a, b, sizeof(a)), 0);
	b[31] ^= 0x80;
	ck_assert_int_ne(coffer_crypto_equal(a, b, sizeof(a)), 0);
	ck_assert_int_eq(coffer_crypto_equal(a, b, 31), 0);
	coffer_crypto_cleanse(a, sizeof(a));
	for (i = 0; i < sizeof(a); i++)
		ck_assert_int_eq(a[i], 0);
	coffer_crypto_cleanse(NULL, 0);
}
END_TEST

static Suite *crypto_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *kdf = tcase_create("kdf");
	TCase *aead = tcase_create("aead");
	TCase *hash = tcase_create("content-id");
	TCase *misc = tcase_create("helpers");

	tcase_set_timeout(kdf, 120);
	tcase_add_test(kdf, scrypt_rfc7914_vectors);
	tcase_add_test(kdf, scrypt_default_cost_and_bad_parameters);
	tcase_add_test(kdf, hkdf_rfc5869_vectors);
	tcase_add_test(kdf, derive_key_per_purpose);
	suite_add_tcase(s, kdf);
	tcase_add_test(aead, gcm_open_known_answer);
	tcase_add_test(aead, gcm_round_trip_sizes);
	tcase_add_test(aead, gcm_tamper_every_position);
	tcase_add_test(aead, gcm_tamper_large_message);
	tcase_add_test(aead, gcm_wrong_aad_key_and_short_input);
	suite_add_tcase(s, aead);
	tcase_add_test(hash, hmac_sha256_rfc4231);
	tcase_add_test(hash, blake2b_256_keyed_vectors);
	tcase_add_test(hash, hasher_names_and_bad_keys);
	tcase_add_test(hash, hasher_cache_eviction_and_reuse);
	tcase_add_test(hash, threads_share_hasher_and_key);
	suite_add_tcase(s, hash);
	tcase_add_test(misc, hex_random_equal_cleanse);
	suite_add_tcase(s, misc);
	return s;
}

int main(void)
{
	return test_run_suite(crypto_suite());
}
