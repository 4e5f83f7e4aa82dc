/* Helpers shared by restore.c, verify.c and browse.c (internal): opening a snapshot,
 * finding a path inside it, name checks, and hash tables keyed by content id or string. */
#ifndef COFFER_RESTORE_PRIVATE_H
#define COFFER_RESTORE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "tree.h"

/* Finds a snapshot by id (or unique prefix) and loads its manifest. */
int coffer_restore_load_manifest(coffer_repo *repo, const char *snapshot_id, coffer_manifest *out);

/* 1 when `name` can be created inside a directory without leaving it: not empty, at most
 * 255 bytes, no '/' or NUL, not "." or "..". */
int coffer_restore_name_is_safe(const char *name, size_t len);

/* Deep copy of an object's chunk list. */
int coffer_restore_object_copy(coffer_object *dst, const coffer_object *src);

/* Finds `path` ("" or "/" = the root; "a/b"; empty and "." components are skipped, ".."
 * is refused) in a snapshot, descending through directory listings only, never through
 * symlinks. *out receives the entry (the root is a directory entry made from the
 * manifest's root fields, with an empty name); *normalized (optional) the path as
 * "a/b" without leading or doubled slashes. COFFER_ENOTFOUND names the missing part. */
int coffer_restore_resolve(coffer_repo *repo, const coffer_manifest *m, const char *path,
                           coffer_dirent *out, char **normalized);

/* Moves entry i out of a listing (the listing keeps a zeroed entry). */
void coffer_restore_take_entry(coffer_dir *d, size_t i, coffer_dirent *out);

/* Binary search of a sorted listing (memcmp order, shorter first); -1 when absent. */
long coffer_restore_find_name(const coffer_dir *d, const char *name, size_t len);

/* Lowercase hex of a content id (65 bytes with the NUL). */
void coffer_restore_cid_hex(const coffer_cid *id, char out[2 * COFFER_CRYPTO_ID_SIZE + 1]);

/* An open-addressing table of fixed-size records whose first bytes are a coffer_cid. The
 * ids are keyed hashes, so their first bytes are already uniformly spread. */
typedef struct coffer_cid_table {
	uint8_t *records;
	uint8_t *used;
	size_t record_size, capacity, count;
} coffer_cid_table;

int coffer_cid_table_init(coffer_cid_table *t, size_t record_size, size_t initial_capacity);
void coffer_cid_table_free(coffer_cid_table *t);
/* The record for id, or NULL. Pointers stay valid until the next insert. */
void *coffer_cid_table_find(const coffer_cid_table *t, const coffer_cid *id);
/* The record for id, created zeroed (with the id copied in) when absent; *created tells
 * which. NULL when memory runs out. */
void *coffer_cid_table_insert(coffer_cid_table *t, const coffer_cid *id, int *created);
/* Slot i (0..capacity-1), or NULL when empty. */
void *coffer_cid_table_slot(const coffer_cid_table *t, size_t i);

/* A table of distinct strings, each given a dense index in insertion order. */
typedef struct coffer_string_table {
	char **strings;       /* by index */
	size_t count, strings_cap;
	uint32_t *slots;      /* index + 1, 0 = empty */
	size_t slot_count;
} coffer_string_table;

void coffer_string_table_free(coffer_string_table *t);
/* The index of s, adding it when absent (*created = 1). -1 when memory runs out. */
long coffer_string_table_intern(coffer_string_table *t, const char *s, int *created);

#endif
