/* Encoders and strict parsers of the content store's byte layouts (docs/FORMAT.md).
 * Pure functions of their input: no backend, no cryptography, so fuzz targets build this
 * file on its own. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <coffer/error.h>

#include "store_format.h"

/* ------------------------------------------------------------------- format blob */

int coffer_format_check_scrypt(uint64_t n, uint32_t r, uint32_t p)
{
	if (n < 2 || (n & (n - 1)) != 0)
		return coffer_error_set(COFFER_EINVALID, "scrypt N=%llu is not a power of two above 1",
		                        (unsigned long long)n);
	if (r == 0 || p == 0)
		return coffer_error_set(COFFER_EINVALID, "scrypt r=%u and p=%u must be at least 1", r, p);
	if (p > COFFER_FORMAT_SCRYPT_MAX_P)
		return coffer_error_set(COFFER_EINVALID, "scrypt p=%u is above the limit of %u", p,
		                        COFFER_FORMAT_SCRYPT_MAX_P);
	/* Same bound as coffer_crypto_scrypt: 128*r*(N+2) + 128*r*p bytes. */
	uint64_t per_block = (uint64_t)128 * r;
	if (n > COFFER_CRYPTO_SCRYPT_MAX_MEMORY / per_block ||
	    per_block * (n + 2) + per_block * p > COFFER_CRYPTO_SCRYPT_MAX_MEMORY)
		return coffer_error_set(COFFER_EINVALID, "scrypt N=%llu r=%u p=%u needs more than %llu MiB",
		                        (unsigned long long)n, r, p,
		                        (unsigned long long)(COFFER_CRYPTO_SCRYPT_MAX_MEMORY >> 20));
	return 0;
}

void coffer_format_header_encode(const coffer_format_header *h, uint8_t out[COFFER_FORMAT_HEADER_SIZE])
{
	memset(out, 0, COFFER_FORMAT_HEADER_SIZE);
	memcpy(out, COFFER_FORMAT_MAGIC, 8);
	coffer_put_le32(out + 8, h->version);
	memcpy(out + 12, h->kdf, strnlen(h->kdf, 16));
	coffer_put_le64(out + 28, h->scrypt_n);
	coffer_put_le32(out + 36, h->scrypt_r);
	coffer_put_le32(out + 40, h->scrypt_p);
	memcpy(out + 44, h->unique_id, COFFER_FORMAT_UNIQUE_ID_SIZE);
	coffer_put_le32(out + 76, h->body_length);
}

int coffer_format_header_parse(const uint8_t *blob, size_t len, coffer_format_header *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 12 || memcmp(blob, COFFER_FORMAT_MAGIC, 8) != 0)
		return coffer_error_set(COFFER_ECORRUPT, "not a coffer format blob (bad magic in %zu bytes)", len);
	out->version = coffer_le32(blob + 8);
	if (out->version == 0)
		return coffer_error_set(COFFER_ECORRUPT, "format version 0 is invalid");
	if (out->version > COFFER_FORMAT_VERSION)
		return coffer_error_set(COFFER_EUNSUPPORTED,
		                        "repository format version %u is newer than this coffer supports (%u)",
		                        out->version, COFFER_FORMAT_VERSION);
	if (len < COFFER_FORMAT_HEADER_SIZE)
		return coffer_error_set(COFFER_ECORRUPT, "format blob of %zu bytes is shorter than its %u-byte header",
		                        len, COFFER_FORMAT_HEADER_SIZE);
	/* KDF name: printable ASCII, then NUL padding only. */
	const uint8_t *kdf = blob + 12;
	size_t name_len = 0;
	while (name_len < 16 && kdf[name_len] != 0) {
		if (kdf[name_len] < 0x21 || kdf[name_len] > 0x7e)
			return coffer_error_set(COFFER_ECORRUPT, "format blob: KDF name has a bad byte at offset %zu",
			                        12 + name_len);
		name_len++;
	}
	for (size_t i = name_len; i < 16; i++)
		if (kdf[i] != 0)
			return coffer_error_set(COFFER_ECORRUPT, "format blob: KDF name is not NUL-padded");
	memcpy(out->kdf, kdf, name_len);
	out->kdf[name_len] = '\0';
	if (strcmp(out->kdf, COFFER_FORMAT_KDF_SCRYPT) != 0)
		return coffer_error_set(COFFER_EUNSUPPORTED, "format blob: unsupported password KDF '%s'", out->kdf);
	out->scrypt_n = coffer_le64(blob + 28);
	out->scrypt_r = coffer_le32(blob + 36);
	out->scrypt_p = coffer_le32(blob + 40);
	int rc = coffer_format_check_scrypt(out->scrypt_n, out->scrypt_r, out->scrypt_p);
	if (rc)
		return coffer_error_set(COFFER_ECORRUPT, "format blob: %s", coffer_error_last()->message);
	memcpy(out->unique_id, blob + 44, COFFER_FORMAT_UNIQUE_ID_SIZE);
	out->body_length = coffer_le32(blob + 76);
	if (out->body_length < COFFER_CRYPTO_SEAL_OVERHEAD + COFFER_FORMAT_BODY_FIXED_SIZE + 1 ||
	    out->body_length > COFFER_CRYPTO_SEAL_OVERHEAD + COFFER_FORMAT_BODY_MAX_SIZE)
		return coffer_error_set(COFFER_ECORRUPT, "format blob: sealed body length %u is out of range",
		                        out->body_length);
	if (len - COFFER_FORMAT_HEADER_SIZE != out->body_length)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "format blob: %zu bytes after the header, the header says %u (truncated?)",
		                        len - COFFER_FORMAT_HEADER_SIZE, out->body_length);
	return 0;
}

static int compression_name_valid(const uint8_t *name, size_t len)
{
	if (len == 0 || len > COFFER_FORMAT_COMPRESSION_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == ':' || c == '.'))
			return 0;
	}
	return 1;
}

int coffer_format_body_encode(const coffer_format_body *b, uint8_t *out, size_t cap)
{
	size_t name_len = strlen(b->compression);
	if (!compression_name_valid((const uint8_t *)b->compression, name_len))
		return coffer_error_set(COFFER_EINVALID, "compression name '%s' cannot be recorded", b->compression);
	size_t total = COFFER_FORMAT_BODY_FIXED_SIZE + name_len;
	if (cap < total)
		return coffer_error_set(COFFER_EINVALID, "format body needs %zu bytes", total);
	memset(out, 0, COFFER_FORMAT_BODY_FIXED_SIZE);
	memcpy(out, b->master_key, COFFER_CRYPTO_KEY_SIZE);
	out[32] = b->hash_algorithm;
	out[33] = (uint8_t)name_len;
	coffer_put_le32(out + 36, b->chunker.min_size);
	coffer_put_le32(out + 40, b->chunker.avg_size);
	coffer_put_le32(out + 44, b->chunker.max_size);
	coffer_put_le32(out + 48, b->chunker.normalization);
	coffer_put_le64(out + 52, (uint64_t)b->created_ns);
	memcpy(out + COFFER_FORMAT_BODY_FIXED_SIZE, b->compression, name_len);
	return (int)total;
}

int coffer_format_body_parse(const uint8_t *data, size_t len, coffer_format_body *out)
{
	memset(out, 0, sizeof(*out));
	if (len < COFFER_FORMAT_BODY_FIXED_SIZE + 1)
		return coffer_error_set(COFFER_ECORRUPT, "format body of %zu bytes is too short", len);
	size_t name_len = data[33];
	if (len != COFFER_FORMAT_BODY_FIXED_SIZE + name_len)
		return coffer_error_set(COFFER_ECORRUPT, "format body is %zu bytes, expected %zu", len,
		                        (size_t)COFFER_FORMAT_BODY_FIXED_SIZE + name_len);
	if (data[34] != 0 || data[35] != 0)
		return coffer_error_set(COFFER_ECORRUPT, "format body: reserved bytes are not zero");
	memcpy(out->master_key, data, COFFER_CRYPTO_KEY_SIZE);
	out->hash_algorithm = data[32];
	if (out->hash_algorithm != COFFER_CRYPTO_HASH_HMAC_SHA256 &&
	    out->hash_algorithm != COFFER_CRYPTO_HASH_BLAKE2B_256)
		return coffer_error_set(COFFER_EUNSUPPORTED, "format body: unknown content hash algorithm %u",
		                        out->hash_algorithm);
	out->chunker.min_size = coffer_le32(data + 36);
	out->chunker.avg_size = coffer_le32(data + 40);
	out->chunker.max_size = coffer_le32(data + 44);
	out->chunker.normalization = coffer_le32(data + 48);
	const coffer_chunker_params *c = &out->chunker;
	if (c->min_size < COFFER_CHUNKER_MIN_SIZE_LIMIT || c->min_size >= c->avg_size ||
	    c->avg_size >= c->max_size || c->max_size > COFFER_CHUNKER_MAX_SIZE_LIMIT ||
	    (c->avg_size & (c->avg_size - 1)) != 0 || c->normalization > COFFER_CHUNKER_NORMALIZATION_LIMIT)
		return coffer_error_set(COFFER_ECORRUPT, "format body: chunker sizes %u/%u/%u/%u are out of range",
		                        c->min_size, c->avg_size, c->max_size, c->normalization);
	out->created_ns = (int64_t)coffer_le64(data + 52);
	if (!compression_name_valid(data + COFFER_FORMAT_BODY_FIXED_SIZE, name_len))
		return coffer_error_set(COFFER_ECORRUPT, "format body: invalid compression name");
	memcpy(out->compression, data + COFFER_FORMAT_BODY_FIXED_SIZE, name_len);
	out->compression[name_len] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ pack names */

static const char hex_digits[] = "0123456789abcdef";

void coffer_pack_name_format(char out[COFFER_PACK_NAME_LENGTH + 1], char letter,
                             const uint8_t id[COFFER_PACK_ID_SIZE])
{
	out[0] = letter;
	for (size_t i = 0; i < COFFER_PACK_ID_SIZE; i++) {
		out[1 + 2 * i] = hex_digits[id[i] >> 4];
		out[2 + 2 * i] = hex_digits[id[i] & 15];
	}
	out[COFFER_PACK_NAME_LENGTH] = '\0';
}

static int lower_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int coffer_pack_name_parse(const char *name, char *letter, uint8_t id[COFFER_PACK_ID_SIZE])
{
	if (strlen(name) != COFFER_PACK_NAME_LENGTH || name[0] < 'a' || name[0] > 'z')
		return COFFER_EINVALID;
	for (size_t i = 0; i < COFFER_PACK_ID_SIZE; i++) {
		int hi = lower_hex_value(name[1 + 2 * i]), lo = lower_hex_value(name[2 + 2 * i]);
		if (hi < 0 || lo < 0)
			return COFFER_EINVALID;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	*letter = name[0];
	return 0;
}

/* ---------------------------------------------------------------------- packs */

int coffer_chunk_lengths_valid(uint32_t stored_length, uint32_t raw_length, uint8_t codec)
{
	if (stored_length < COFFER_CRYPTO_SEAL_OVERHEAD || raw_length > COFFER_STORE_MAX_CHUNK)
		return 0;
	uint32_t payload = stored_length - COFFER_CRYPTO_SEAL_OVERHEAD;
	if (codec == 0)
		return payload == raw_length;
	/* A compressed payload is only kept when it is smaller than the plaintext. */
	return payload > 0 && payload < raw_length;
}

void coffer_pack_trailer_encode(uint8_t out[COFFER_PACK_TRAILER_SIZE], uint32_t toc_sealed_length)
{
	coffer_put_le32(out, toc_sealed_length);
	coffer_put_le32(out + 4, COFFER_PACK_VERSION);
	memcpy(out + 8, COFFER_PACK_TRAILER_MAGIC, 8);
}

int coffer_pack_trailer_parse(const uint8_t trailer[COFFER_PACK_TRAILER_SIZE], uint64_t pack_size,
                              uint64_t *toc_offset, uint32_t *toc_sealed_length)
{
	*toc_offset = 0;
	*toc_sealed_length = 0;
	if (pack_size < COFFER_PACK_TRAILER_SIZE)
		return coffer_error_set(COFFER_ECORRUPT, "pack of %llu bytes is too short for a trailer",
		                        (unsigned long long)pack_size);
	if (memcmp(trailer + 8, COFFER_PACK_TRAILER_MAGIC, 8) != 0)
		return coffer_error_set(COFFER_ECORRUPT, "pack trailer has a bad magic (truncated pack?)");
	uint32_t version = coffer_le32(trailer + 4);
	if (version != COFFER_PACK_VERSION)
		return coffer_error_set(version > COFFER_PACK_VERSION ? COFFER_EUNSUPPORTED : COFFER_ECORRUPT,
		                        "pack version %u is not supported", version);
	uint32_t length = coffer_le32(trailer);
	if (length < COFFER_CRYPTO_SEAL_OVERHEAD + COFFER_PACK_TOC_HEADER_SIZE ||
	    (uint64_t)length > pack_size - COFFER_PACK_TRAILER_SIZE)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "pack trailer: table of contents length %u does not fit a pack of %llu bytes",
		                        length, (unsigned long long)pack_size);
	*toc_offset = pack_size - COFFER_PACK_TRAILER_SIZE - length;
	*toc_sealed_length = length;
	return 0;
}

size_t coffer_pack_toc_size(size_t count)
{
	return COFFER_PACK_TOC_HEADER_SIZE + count * COFFER_PACK_TOC_ENTRY_SIZE;
}

void coffer_pack_toc_encode(uint8_t *out, const coffer_pack_entry *entries, size_t count)
{
	memcpy(out, COFFER_PACK_TOC_MAGIC, 8);
	coffer_put_le32(out + 8, COFFER_PACK_VERSION);
	coffer_put_le32(out + 12, (uint32_t)count);
	uint8_t *p = out + COFFER_PACK_TOC_HEADER_SIZE;
	for (size_t i = 0; i < count; i++, p += COFFER_PACK_TOC_ENTRY_SIZE) {
		const coffer_pack_entry *e = &entries[i];
		memcpy(p, e->id, COFFER_CRYPTO_ID_SIZE);
		coffer_put_le32(p + 32, e->offset);
		coffer_put_le32(p + 36, e->stored_length);
		coffer_put_le32(p + 40, e->raw_length);
		p[44] = e->codec;
		p[45] = e->kind;
		p[46] = 0;
		p[47] = 0;
	}
}

int coffer_pack_toc_parse(const uint8_t *data, size_t len, uint64_t toc_offset,
                          coffer_pack_entry **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	if (len < COFFER_PACK_TOC_HEADER_SIZE || memcmp(data, COFFER_PACK_TOC_MAGIC, 8) != 0)
		return coffer_error_set(COFFER_ECORRUPT, "pack table of contents has a bad header");
	uint32_t version = coffer_le32(data + 8);
	if (version != COFFER_PACK_VERSION)
		return coffer_error_set(COFFER_ECORRUPT, "pack table of contents version %u is not supported",
		                        version);
	uint32_t n = coffer_le32(data + 12);
	if ((uint64_t)len != COFFER_PACK_TOC_HEADER_SIZE + (uint64_t)n * COFFER_PACK_TOC_ENTRY_SIZE)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "pack table of contents is %zu bytes, but %u entries need %llu", len, n,
		                        (unsigned long long)(COFFER_PACK_TOC_HEADER_SIZE +
		                                             (uint64_t)n * COFFER_PACK_TOC_ENTRY_SIZE));
	coffer_pack_entry *entries = NULL;
	if (n > 0) {
		entries = coffer_calloc(n, sizeof(*entries));
		if (!entries)
			return COFFER_ENOMEM;
	}
	uint64_t position = 0;
	const uint8_t *p = data + COFFER_PACK_TOC_HEADER_SIZE;
	for (uint32_t i = 0; i < n; i++, p += COFFER_PACK_TOC_ENTRY_SIZE) {
		coffer_pack_entry *e = &entries[i];
		memcpy(e->id, p, COFFER_CRYPTO_ID_SIZE);
		e->offset = coffer_le32(p + 32);
		e->stored_length = coffer_le32(p + 36);
		e->raw_length = coffer_le32(p + 40);
		e->codec = p[44];
		e->kind = p[45];
		const char *problem = NULL;
		if (e->offset != position)
			problem = "does not start where the previous chunk ends";
		else if (e->kind > 1 || p[46] != 0 || p[47] != 0)
			problem = "has an unknown kind or nonzero reserved bytes";
		else if (!coffer_chunk_lengths_valid(e->stored_length, e->raw_length, e->codec))
			problem = "has inconsistent lengths";
		if (problem) {
			uint32_t offset = e->offset;
			coffer_free(entries);
			return coffer_error_set(COFFER_ECORRUPT, "pack table of contents: entry %u (offset %u) %s", i,
			                        offset, problem);
		}
		position += e->stored_length;
	}
	if (position != toc_offset) {
		coffer_free(entries);
		return coffer_error_set(COFFER_ECORRUPT,
		                        "pack table of contents covers %llu bytes, but the chunks take %llu",
		                        (unsigned long long)position, (unsigned long long)toc_offset);
	}
	*out = entries;
	*count = n;
	return 0;
}

/* ---------------------------------------------------------------- index blobs */

static int compare_pack_keys(const void *a, const void *b)
{
	return memcmp(a, b, COFFER_INDEX_PACK_SIZE);
}

int coffer_index_blob_encode(const uint8_t *records, size_t count, coffer_buf *out)
{
	if (count > UINT32_MAX)
		return coffer_error_set(COFFER_EINVALID, "index blob: %zu entries are too many", count);
	/* The pack table: distinct packs, sorted, so each entry refers to one by number. */
	uint8_t *packs = NULL;
	size_t pack_count = 0;
	if (count > 0) {
		packs = coffer_malloc(count * COFFER_INDEX_PACK_SIZE);
		if (!packs)
			return COFFER_ENOMEM;
		for (size_t i = 0; i < count; i++)
			memcpy(packs + i * COFFER_INDEX_PACK_SIZE,
			       records + i * COFFER_INDEX_RECORD_SIZE + COFFER_INDEX_RECORD_PACK, COFFER_INDEX_PACK_SIZE);
		qsort(packs, count, COFFER_INDEX_PACK_SIZE, compare_pack_keys);
		for (size_t i = 0; i < count; i++)
			if (pack_count == 0 || memcmp(packs + (pack_count - 1) * COFFER_INDEX_PACK_SIZE,
			                              packs + i * COFFER_INDEX_PACK_SIZE, COFFER_INDEX_PACK_SIZE) != 0)
				memmove(packs + pack_count++ * COFFER_INDEX_PACK_SIZE, packs + i * COFFER_INDEX_PACK_SIZE,
				        COFFER_INDEX_PACK_SIZE);
	}
	size_t total = COFFER_INDEX_HEADER_SIZE + pack_count * COFFER_INDEX_PACK_SIZE +
	               count * COFFER_INDEX_ENTRY_SIZE;
	int rc = coffer_buf_reserve(out, total);
	if (rc) {
		coffer_free(packs);
		return rc;
	}
	uint8_t *p = out->data + out->len;
	memcpy(p, COFFER_INDEX_MAGIC, 8);
	coffer_put_le32(p + 8, COFFER_INDEX_VERSION);
	coffer_put_le32(p + 12, (uint32_t)pack_count);
	coffer_put_le32(p + 16, (uint32_t)count);
	coffer_put_le32(p + 20, 0);
	p += COFFER_INDEX_HEADER_SIZE;
	if (pack_count)
		memcpy(p, packs, pack_count * COFFER_INDEX_PACK_SIZE);
	p += pack_count * COFFER_INDEX_PACK_SIZE;
	for (size_t i = 0; i < count; i++, p += COFFER_INDEX_ENTRY_SIZE) {
		const uint8_t *r = records + i * COFFER_INDEX_RECORD_SIZE;
		const uint8_t *found = bsearch(r + COFFER_INDEX_RECORD_PACK, packs, pack_count,
		                               COFFER_INDEX_PACK_SIZE, compare_pack_keys);
		memcpy(p, r, COFFER_CRYPTO_ID_SIZE);
		coffer_put_le32(p + 32, (uint32_t)((size_t)(found - packs) / COFFER_INDEX_PACK_SIZE));
		coffer_put_le32(p + 36, coffer_le32(r + COFFER_INDEX_RECORD_OFFSET));
		coffer_put_le32(p + 40, coffer_le32(r + COFFER_INDEX_RECORD_STORED));
		coffer_put_le32(p + 44, coffer_le32(r + COFFER_INDEX_RECORD_RAW));
		p[48] = r[COFFER_INDEX_RECORD_CODEC];
		p[49] = r[COFFER_INDEX_RECORD_KIND];
		p[50] = r[COFFER_INDEX_RECORD_FLAGS] & COFFER_INDEX_FLAG_DELETED;
		p[51] = 0;
	}
	out->len += total;
	coffer_free(packs);
	return 0;
}

int coffer_format_header_check(const uint8_t *data, size_t len, size_t header_size, const char *magic,
                               uint32_t version, const char *what)
{
	if (len < header_size || len < 12 || memcmp(data, magic, 8) != 0)
		return coffer_error_set(COFFER_ECORRUPT, "%s has a bad header", what);
	uint32_t found = coffer_le32(data + 8);
	if (found != version)
		return coffer_error_set(found > version ? COFFER_EUNSUPPORTED : COFFER_ECORRUPT,
		                        "%s version %u is not supported", what, found);
	return 0;
}

int coffer_index_blob_parse(const uint8_t *data, size_t len, uint8_t **records_out, size_t *count_out)
{
	*records_out = NULL;
	*count_out = 0;
	int rc = coffer_format_header_check(data, len, COFFER_INDEX_HEADER_SIZE, COFFER_INDEX_MAGIC,
	                                    COFFER_INDEX_VERSION, "index blob");
	if (rc)
		return rc;
	uint32_t pack_count = coffer_le32(data + 12);
	uint32_t count = coffer_le32(data + 16);
	if (coffer_le32(data + 20) != 0)
		return coffer_error_set(COFFER_ECORRUPT, "index blob: reserved header field is not zero");
	uint64_t expected = COFFER_INDEX_HEADER_SIZE + (uint64_t)pack_count * COFFER_INDEX_PACK_SIZE +
	                    (uint64_t)count * COFFER_INDEX_ENTRY_SIZE;
	if (expected != len)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "index blob is %zu bytes, but %u packs and %u entries need %llu", len,
		                        pack_count, count, (unsigned long long)expected);
	const uint8_t *packs = data + COFFER_INDEX_HEADER_SIZE;
	for (uint32_t i = 0; i < pack_count; i++)
		if (packs[i * COFFER_INDEX_PACK_SIZE] < 'a' || packs[i * COFFER_INDEX_PACK_SIZE] > 'z')
			return coffer_error_set(COFFER_ECORRUPT, "index blob: pack %u has an invalid letter", i);
	if (count == 0)
		return 0;
	uint8_t *records = coffer_calloc(count, COFFER_INDEX_RECORD_SIZE);
	if (!records)
		return COFFER_ENOMEM;
	const uint8_t *p = packs + (size_t)pack_count * COFFER_INDEX_PACK_SIZE;
	for (uint32_t i = 0; i < count; i++, p += COFFER_INDEX_ENTRY_SIZE) {
		uint8_t *r = records + (size_t)i * COFFER_INDEX_RECORD_SIZE;
		uint32_t pack = coffer_le32(p + 32);
		uint32_t stored = coffer_le32(p + 40), raw = coffer_le32(p + 44);
		const char *problem = NULL;
		if (i > 0 && memcmp(p - COFFER_INDEX_ENTRY_SIZE, p, COFFER_CRYPTO_ID_SIZE) >= 0)
			problem = "is not in increasing id order";
		else if (pack >= pack_count)
			problem = "refers to a pack beyond the table";
		else if (p[49] > 1 || p[50] > COFFER_INDEX_FLAG_DELETED || p[51] != 0)
			problem = "has an unknown kind, unknown flags or nonzero reserved bytes";
		else if (!coffer_chunk_lengths_valid(stored, raw, p[48]))
			problem = "has inconsistent lengths";
		else if ((uint64_t)coffer_le32(p + 36) + stored > UINT32_MAX)
			problem = "lies beyond 4 GiB in its pack";
		if (problem) {
			coffer_free(records);
			return coffer_error_set(COFFER_ECORRUPT, "index blob: entry %u %s", i, problem);
		}
		memcpy(r, p, COFFER_CRYPTO_ID_SIZE);
		memcpy(r + COFFER_INDEX_RECORD_PACK, packs + (size_t)pack * COFFER_INDEX_PACK_SIZE,
		       COFFER_INDEX_PACK_SIZE);
		r[COFFER_INDEX_RECORD_CODEC] = p[48];
		r[COFFER_INDEX_RECORD_KIND] = p[49];
		r[COFFER_INDEX_RECORD_FLAGS] = p[50];
		memcpy(r + COFFER_INDEX_RECORD_OFFSET, p + 36, 4);
		memcpy(r + COFFER_INDEX_RECORD_STORED, p + 40, 4);
		memcpy(r + COFFER_INDEX_RECORD_RAW, p + 44, 4);
	}
	*records_out = records;
	*count_out = count;
	return 0;
}
