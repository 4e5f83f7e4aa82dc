/* Byte layouts of the content store (docs/FORMAT.md): encoders and strict parsers of
 * the format blob, pack tables of contents and trailers, and index blobs. Nothing here
 * talks to a backend or does cryptography, so fuzz targets compile store_format.c alone
 * (with error.c and alloc.c). Every parser takes untrusted bytes and returns
 * COFFER_ECORRUPT saying what is wrong and where. */
#ifndef COFFER_STORE_FORMAT_H
#define COFFER_STORE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include <coffer/common.h>

#include "chunker.h"
#include "crypto.h"

/* ------------------------------------------------------------ little-endian helpers */

static inline uint16_t coffer_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}
static inline uint32_t coffer_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t coffer_le64(const uint8_t *p)
{
	return (uint64_t)coffer_le32(p) | (uint64_t)coffer_le32(p + 4) << 32;
}
static inline void coffer_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void coffer_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static inline void coffer_put_le64(uint8_t *p, uint64_t v)
{
	coffer_put_le32(p, (uint32_t)v);
	coffer_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------------- format blob */

#define COFFER_FORMAT_BLOB_NAME "coffer.repository"
#define COFFER_FORMAT_BACKUP_BLOB_NAME "coffer.repository.bak"
#define COFFER_FORMAT_MAGIC "COFFREPO"
#define COFFER_FORMAT_VERSION 1u
#define COFFER_FORMAT_HEADER_SIZE 80u
#define COFFER_FORMAT_UNIQUE_ID_SIZE 32u
#define COFFER_FORMAT_KDF_SCRYPT "scrypt"
/* scrypt's running time grows with p; a hostile header must not stall an open for hours. */
#define COFFER_FORMAT_SCRYPT_MAX_P 64u
/* Sealed body: fixed part + compression name (1..63 bytes). */
#define COFFER_FORMAT_BODY_FIXED_SIZE 60u
#define COFFER_FORMAT_COMPRESSION_MAX 63u
#define COFFER_FORMAT_BODY_MAX_SIZE (COFFER_FORMAT_BODY_FIXED_SIZE + COFFER_FORMAT_COMPRESSION_MAX)

typedef struct coffer_format_header {
	uint32_t version;
	char kdf[17];                  /* NUL-terminated KDF name, "scrypt" */
	uint64_t scrypt_n;
	uint32_t scrypt_r, scrypt_p;
	uint8_t unique_id[COFFER_FORMAT_UNIQUE_ID_SIZE];
	uint32_t body_length;          /* sealed body bytes that follow the header */
} coffer_format_header;

typedef struct coffer_format_body {
	uint8_t master_key[COFFER_CRYPTO_KEY_SIZE];
	uint8_t hash_algorithm;        /* coffer_crypto_hash_algorithm */
	coffer_chunker_params chunker;
	int64_t created_ns;            /* UTC, ns since the epoch */
	char compression[COFFER_FORMAT_COMPRESSION_MAX + 1];
} coffer_format_body;

/* 0 when the scrypt parameters are acceptable (power of two N above 1, r and p at least 1,
 * p at most COFFER_FORMAT_SCRYPT_MAX_P, memory within COFFER_CRYPTO_SCRYPT_MAX_MEMORY),
 * else COFFER_EINVALID naming the problem. */
int coffer_format_check_scrypt(uint64_t n, uint32_t r, uint32_t p);

void coffer_format_header_encode(const coffer_format_header *h, uint8_t out[COFFER_FORMAT_HEADER_SIZE]);
/* Parses the header at the start of a whole format blob of `len` bytes and checks that the
 * sealed body fills the rest exactly. A newer format version is COFFER_EUNSUPPORTED. */
int coffer_format_header_parse(const uint8_t *blob, size_t len, coffer_format_header *out);

/* Writes the body plaintext to out (COFFER_FORMAT_BODY_MAX_SIZE bytes are enough) and
 * returns its length, or a negative COFFER_EINVALID when a field cannot be encoded. */
int coffer_format_body_encode(const coffer_format_body *b, uint8_t *out, size_t cap);
/* Structure of a decrypted body: exact length, known hash algorithm, chunker fields within
 * chunker.h's limits, a printable compression name. */
int coffer_format_body_parse(const uint8_t *data, size_t len, coffer_format_body *out);

/* ------------------------------------------------------------------ pack names */

/* Pack blob names: one letter ('p' data, 'q' metadata) and 32 lowercase hex digits. The
 * index stores them as that letter and the 16 bytes. */
#define COFFER_PACK_ID_SIZE 16u
#define COFFER_PACK_NAME_LENGTH (1u + 2u * COFFER_PACK_ID_SIZE)
#define COFFER_PACK_LETTER_DATA 'p'
#define COFFER_PACK_LETTER_META 'q'

void coffer_pack_name_format(char out[COFFER_PACK_NAME_LENGTH + 1], char letter,
                             const uint8_t id[COFFER_PACK_ID_SIZE]);
/* 0 when name is a pack name (letter a-z + 32 lowercase hex), else COFFER_EINVALID. */
int coffer_pack_name_parse(const char *name, char *letter, uint8_t id[COFFER_PACK_ID_SIZE]);

/* ---------------------------------------------------------------- index records */

/* The fixed 64-byte record the local cache file is an array of, and the in-memory form of
 * an index entry (little-endian fields, sorted by id):
 *   0 id[32]  32 pack letter  33 pack id[16]  49 codec  50 kind  51 flags
 *   52 offset u32  56 stored_length u32  60 raw_length u32 */
#define COFFER_INDEX_RECORD_SIZE 64u
#define COFFER_INDEX_RECORD_PACK 32u
#define COFFER_INDEX_RECORD_CODEC 49u
#define COFFER_INDEX_RECORD_KIND 50u
#define COFFER_INDEX_RECORD_FLAGS 51u
#define COFFER_INDEX_RECORD_OFFSET 52u
#define COFFER_INDEX_RECORD_STORED 56u
#define COFFER_INDEX_RECORD_RAW 60u
/* Flag of a record and of an index blob entry: maintenance found the chunk unreferenced
 * (a tombstone). Readers still read it; writers store it again instead of deduplicating
 * (docs/FORMAT.md, Maintenance). */
#define COFFER_INDEX_FLAG_DELETED 1u

/* Largest chunk plaintext the store accepts (the chunker's own maximum). */
#define COFFER_STORE_MAX_CHUNK COFFER_CHUNKER_MAX_SIZE_LIMIT

/* ---------------------------------------------------------------------- packs */

#define COFFER_PACK_TRAILER_MAGIC "COFFPACK"
#define COFFER_PACK_TRAILER_SIZE 16u
#define COFFER_PACK_TOC_MAGIC "COFFTOC\0"
#define COFFER_PACK_VERSION 1u
#define COFFER_PACK_TOC_HEADER_SIZE 16u
#define COFFER_PACK_TOC_ENTRY_SIZE 48u

typedef struct coffer_pack_entry {
	uint8_t id[COFFER_CRYPTO_ID_SIZE];
	uint32_t offset;         /* of the sealed chunk in the pack */
	uint32_t stored_length;  /* sealed bytes */
	uint32_t raw_length;     /* plaintext bytes */
	uint8_t codec;
	uint8_t kind;
} coffer_pack_entry;

/* The 16-byte trailer that ends every pack: u32 sealed TOC length, u32 version, magic. */
void coffer_pack_trailer_encode(uint8_t out[COFFER_PACK_TRAILER_SIZE], uint32_t toc_sealed_length);
/* Checks the trailer (the last 16 bytes of a pack of pack_size bytes) and returns the
 * offset and sealed length of the table of contents. */
int coffer_pack_trailer_parse(const uint8_t trailer[COFFER_PACK_TRAILER_SIZE], uint64_t pack_size,
                              uint64_t *toc_offset, uint32_t *toc_sealed_length);

/* TOC plaintext: header (magic, u32 version, u32 count) then count 48-byte entries. */
size_t coffer_pack_toc_size(size_t count);
void coffer_pack_toc_encode(uint8_t *out, const coffer_pack_entry *entries, size_t count);
/* Parses a decrypted TOC. The chunks must be laid out back to back from offset 0 up to
 * toc_offset (where the sealed TOC starts); each entry is checked for sane lengths. On
 * success *out is a coffer_malloc'ed array the caller frees with coffer_free. */
int coffer_pack_toc_parse(const uint8_t *data, size_t len, uint64_t toc_offset,
                          coffer_pack_entry **out, size_t *count);

/* Whether a chunk's lengths are consistent: stored = payload + seal overhead, raw within
 * COFFER_STORE_MAX_CHUNK, uncompressed (codec 0) payload == raw. */
int coffer_chunk_lengths_valid(uint32_t stored_length, uint32_t raw_length, uint8_t codec);

/* ---------------------------------------------------------------- index blobs */

#define COFFER_INDEX_BLOB_PREFIX "index/"
/* Session markers: one sealed blob per running write session (docs/FORMAT.md,
 * Maintenance), rewritten at least this often while packs are being uploaded. */
#define COFFER_SESSION_PREFIX "sessions/"
#define COFFER_SESSION_TOUCH_NS ((int64_t)10 * 60 * 1000000000)
#define COFFER_INDEX_MAGIC "COFFINDX"
#define COFFER_INDEX_VERSION 1u
#define COFFER_INDEX_HEADER_SIZE 24u
#define COFFER_INDEX_PACK_SIZE (1u + COFFER_PACK_ID_SIZE)
#define COFFER_INDEX_ENTRY_SIZE 52u

/* Encodes sorted, unique 64-byte records as an index blob plaintext (appended to out). */
int coffer_index_blob_encode(const uint8_t *records, size_t count, coffer_buf *out);
/* Parses a decrypted index blob into 64-byte records (coffer_malloc'ed; NULL when count is
 * 0), checking sizes, that ids are strictly increasing, pack references, kinds and
 * lengths. */
/* A blob's first bytes: at least `header_size` of them, the 8-byte `magic`, then the
 * little-endian `version`. COFFER_ECORRUPT for a bad header or an older version,
 * COFFER_EUNSUPPORTED for a newer one; `what` names the blob in the message. */
int coffer_format_header_check(const uint8_t *data, size_t len, size_t header_size, const char *magic,
                               uint32_t version, const char *what);
int coffer_index_blob_parse(const uint8_t *data, size_t len, uint8_t **records, size_t *count);

#endif
