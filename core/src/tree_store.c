/* Tree objects in the content store: directory listings as metadata chunks, snapshot
 * manifests as sealed blobs named by source and start time (docs/FORMAT.md). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <coffer/error.h>

#include "tree.h"

/* Reserving more than this up front for a listing is left to the buffer's own growth. */
#define LOAD_RESERVE_LIMIT ((size_t)64 << 20)

int coffer_dir_store(coffer_store_writer *w, unsigned int worker, const coffer_dir *d, coffer_object *out)
{
	coffer_buf encoded = COFFER_BUF_INIT;
	size_t *ends = NULL, count = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = coffer_dir_encode_pieces(d, &encoded, &ends, &count)))
		return rc;
	out->chunks = coffer_malloc(count * sizeof(*out->chunks));
	out->sizes = coffer_malloc(count * sizeof(*out->sizes));
	if (!out->chunks || !out->sizes) {
		rc = COFFER_ENOMEM;
		goto done;
	}
	for (size_t i = 0, start = 0; i < count; start = ends[i], i++) {
		coffer_store_write_result result;
		size_t len = ends[i] - start;
		if ((rc = coffer_store_write(w, worker, COFFER_CHUNK_META, encoded.data + start, len, &out->chunks[i],
		                             &result))) {
			coffer_error_wrap("storing directory listing piece %zu of %zu", i + 1, count);
			goto done;
		}
		out->sizes[i] = (uint32_t)len;
		out->count = i + 1;
	}
done:
	if (rc)
		coffer_object_clear(out);
	coffer_free(ends);
	coffer_buf_free(&encoded);
	return rc;
}

int coffer_dir_load(coffer_repo *repo, const coffer_object *obj, coffer_dir *out)
{
	coffer_buf encoded = COFFER_BUF_INIT;
	uint64_t total = 0;
	char id_hex[2 * COFFER_CRYPTO_ID_SIZE + 1];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	/* A directory stored without chunks is an empty one (docs/FORMAT.md). */
	if (obj->count == 0)
		return 0;
	for (size_t i = 0; i < obj->count; i++)
		total += obj->sizes[i];
	if (coffer_buf_reserve(&encoded, total < LOAD_RESERVE_LIMIT ? (size_t)total : LOAD_RESERVE_LIMIT))
		return COFFER_ENOMEM;
	for (size_t i = 0; i < obj->count && !rc; i++) {
		size_t before = encoded.len;
		coffer_crypto_hex_encode(id_hex, obj->chunks[i].bytes, COFFER_CRYPTO_ID_SIZE);
		if ((rc = coffer_store_read(repo, &obj->chunks[i], &encoded)))
			coffer_error_wrap("reading directory listing piece %zu of %zu (chunk %s)", i + 1, obj->count,
			                  id_hex);
		else if (encoded.len - before != obj->sizes[i])
			rc = coffer_error_set(COFFER_ECORRUPT,
			                      "directory listing piece %zu of %zu (chunk %s) holds %zu bytes, its "
			                      "parent says %u",
			                      i + 1, obj->count, id_hex, encoded.len - before, (unsigned)obj->sizes[i]);
	}
	if (!rc && (rc = coffer_dir_decode(encoded.data, encoded.len, out))) {
		coffer_crypto_hex_encode(id_hex, obj->chunks[0].bytes, COFFER_CRYPTO_ID_SIZE);
		coffer_error_wrap("directory %s", id_hex);
	}
	coffer_buf_free(&encoded);
	return rc;
}

int coffer_manifest_source_key(coffer_repo *repo, const char *source,
                               char out[COFFER_MANIFEST_SOURCE_KEY_HEX + 1])
{
	uint8_t key[COFFER_CRYPTO_KEY_SIZE], digest[COFFER_CRYPTO_ID_SIZE];
	coffer_crypto_hasher *hasher = NULL;
	int rc;

	if (!source || !source[0])
		return coffer_error_set(COFFER_EINVALID, "no snapshot source given");
	/* Keyed, so the bucket's names do not reveal which hosts and paths are backed up. */
	if (!(rc = coffer_crypto_derive_key(key, repo->master_key, "snapshot-source")) &&
	    !(rc = coffer_crypto_hasher_new(&hasher, COFFER_CRYPTO_HASH_HMAC_SHA256, key, sizeof(key))) &&
	    !(rc = coffer_crypto_hasher_id(hasher, source, strlen(source), digest)))
		coffer_crypto_hex_encode(out, digest, COFFER_MANIFEST_SOURCE_KEY_HEX / 2);
	coffer_crypto_hasher_free(hasher);
	coffer_crypto_cleanse(key, sizeof(key));
	return rc;
}

int coffer_manifest_prefix(coffer_repo *repo, const char *source, char *out, size_t cap)
{
	char key[COFFER_MANIFEST_SOURCE_KEY_HEX + 1];
	int rc = coffer_manifest_source_key(repo, source, key);

	if (rc)
		return rc;
	int n = snprintf(out, cap, "snapshots/%s/", key);
	if (n < 0 || (size_t)n >= cap)
		return coffer_error_set(COFFER_EINVALID, "buffer too small for a snapshot prefix");
	return 0;
}

int coffer_manifest_save(coffer_repo *repo, coffer_manifest *m)
{
	coffer_snapshot_info *info = &m->info;
	char key[COFFER_MANIFEST_SOURCE_KEY_HEX + 1], name[128];
	coffer_buf encoded = COFFER_BUF_INIT;
	int rc;

	if (!info->id[0]) {
		uint8_t id[COFFER_SNAPSHOT_ID_HEX / 2];
		if ((rc = coffer_crypto_random(id, sizeof(id))))
			return rc;
		coffer_crypto_hex_encode(info->id, id, sizeof(id));
	}
	if (!info->tool_version && !(info->tool_version = coffer_strdup(coffer_version())))
		return COFFER_ENOMEM;
	if ((rc = coffer_manifest_source_key(repo, info->source, key)) ||
	    (rc = coffer_manifest_name_format(name, sizeof(name), key, info->start_time_ns, info->id)) ||
	    (rc = coffer_manifest_encode(m, &encoded)))
		return rc;
	rc = coffer_store_put_sealed(repo, name, encoded.data, encoded.len, 0);
	coffer_buf_free(&encoded);
	if (rc == COFFER_EEXISTS)
		return coffer_error_set(rc, "snapshot %s already exists (%s)", info->id, name);
	if (rc)
		return coffer_error_wrap("saving snapshot manifest %s", name);
	char *copy = coffer_strdup(name);
	if (!copy)
		return COFFER_ENOMEM;
	coffer_free(info->blob_name);
	info->blob_name = copy;
	return 0;
}

int coffer_manifest_load(coffer_repo *repo, const char *blob_name, coffer_manifest *out)
{
	char name_key[COFFER_MANIFEST_SOURCE_KEY_HEX + 1], key[COFFER_MANIFEST_SOURCE_KEY_HEX + 1];
	char name_id[COFFER_SNAPSHOT_ID_HEX + 1];
	coffer_buf sealed = COFFER_BUF_INIT;
	int64_t name_time;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = coffer_manifest_name_parse(blob_name, name_key, &name_time, name_id)))
		return rc;
	if ((rc = coffer_store_get_sealed(repo, blob_name, &sealed))) {
		coffer_buf_free(&sealed);
		return coffer_error_wrap("reading snapshot manifest %s", blob_name);
	}
	rc = coffer_manifest_decode(sealed.data, sealed.len, out);
	coffer_buf_free(&sealed);
	if (rc)
		return coffer_error_wrap("%s", blob_name);
	/* The name is authenticated with the contents; a mismatch means a writer bug. */
	if (!(rc = coffer_manifest_source_key(repo, out->info.source, key)) &&
	    (strcmp(key, name_key) != 0 || strcmp(name_id, out->info.id) != 0 ||
	     name_time != out->info.start_time_ns))
		rc = coffer_error_set(COFFER_ECORRUPT, "snapshot manifest %s: its source, start time or id "
		                      "does not match its name", blob_name);
	if (!rc && !(out->info.blob_name = coffer_strdup(blob_name)))
		rc = COFFER_ENOMEM;
	if (rc)
		coffer_manifest_clear(out);
	return rc;
}
