/* Tree objects (internal): directory listings and snapshot manifests, their versioned
 * binary encodings (docs/FORMAT.md) and safe decoders. An "object" (a file's contents or a
 * directory listing) is a list of chunks. */
#ifndef COFFER_TREE_H
#define COFFER_TREE_H

#include <stddef.h>
#include <stdint.h>

#include <coffer/snapshot.h>

#include "store.h"

typedef struct coffer_xattr {
	char *name;
	uint8_t *value;
	size_t value_len;
} coffer_xattr;

typedef struct coffer_object {
	coffer_cid *chunks;
	uint32_t *sizes;        /* plaintext size of each chunk */
	size_t count;
} coffer_object;

#define COFFER_DIRENT_SPARSE 1u  /* the file had holes; restore keeps zero runs as holes */

typedef struct coffer_dirent {
	char *name;             /* NUL-terminated copy; may hold any byte but NUL and '/' */
	size_t name_len;
	coffer_entry_type type;
	uint32_t mode;          /* permission bits and setuid/setgid/sticky (no type bits) */
	uint32_t uid, gid;
	char *user, *group;     /* names at backup time, or NULL */
	int64_t mtime_ns;
	uint64_t size;          /* regular files: content length */
	char *link_target;      /* symlinks */
	uint64_t rdev;          /* devices */
	uint64_t hardlink_group;/* 0, or shared by entries that were one inode */
	uint32_t flags;         /* COFFER_DIRENT_* */
	coffer_xattr *xattrs;   /* sorted by name; includes POSIX ACLs (system.posix_acl_*) */
	size_t xattr_count;
	coffer_object content;  /* files: content; dirs: the listing of the subdirectory */
} coffer_dirent;

typedef struct coffer_dir {
	coffer_dirent *entries; /* sorted by name bytes (memcmp, shorter first) */
	size_t count;
} coffer_dir;

void coffer_dirent_clear(coffer_dirent *e);
void coffer_dir_clear(coffer_dir *d);
void coffer_object_clear(coffer_object *o);

/* Deterministic encoding: the same listing always gives the same bytes, so an unchanged
 * directory deduplicates. Entries must be sorted and names unique (COFFER_EINVALID else). */
int coffer_dir_encode(const coffer_dir *d, coffer_buf *out);
/* Strict decoder of untrusted bytes: every length is checked, names are validated (no '/',
 * no NUL, not "." or "..", not empty, sorted, unique), and COFFER_ECORRUPT says what and at
 * which offset. */
int coffer_dir_decode(const uint8_t *data, size_t len, coffer_dir *out);

/* Stores a listing as metadata chunks (split at 4 MiB) and returns its object. */
int coffer_dir_store(coffer_store_writer *w, unsigned int worker, const coffer_dir *d,
                     coffer_object *out);
/* Reads an object's chunks and decodes the listing. */
int coffer_dir_load(coffer_repo *repo, const coffer_object *obj, coffer_dir *out);

/* The snapshot manifest: a sealed blob per snapshot, named
 * "snapshots/<source key>/<start time>-<id>" (docs/FORMAT.md). */
typedef struct coffer_manifest {
	coffer_snapshot_info info;
	coffer_object root;     /* the listing of the snapshotted folder */
	uint32_t root_mode, root_uid, root_gid;
	int64_t root_mtime_ns;
} coffer_manifest;

void coffer_manifest_clear(coffer_manifest *m);
int coffer_manifest_encode(const coffer_manifest *m, coffer_buf *out);
int coffer_manifest_decode(const uint8_t *data, size_t len, coffer_manifest *out);
/* Blob-name prefix for a source: "snapshots/<hex of keyed hash of the source>/". */
int coffer_manifest_prefix(coffer_repo *repo, const char *source, char *out, size_t cap);
int coffer_manifest_save(coffer_repo *repo, coffer_manifest *m);      /* sets info.blob_name */
int coffer_manifest_load(coffer_repo *repo, const char *blob_name, coffer_manifest *out);

/* Additions by the tree part (layouts in docs/FORMAT.md). */

/* Largest stored piece of a listing. */
#define COFFER_DIR_PIECE_MAX ((size_t)4 << 20)
/* coffer_dir_encode, also telling where coffer_dir_store cuts the bytes: piece i ends at
 * (*piece_ends)[i], an offset from where the encoding began in `out`. Cuts fall at entry
 * boundaries chosen by entry names, so an edit changes few pieces. Free with coffer_free. */
int coffer_dir_encode_pieces(const coffer_dir *d, coffer_buf *out, size_t **piece_ends,
                             size_t *piece_count);
/* The decoders, also counting unknown optional fields they skipped: input with none
 * re-encodes to the same bytes. skipped_fields may be NULL. */
int coffer_dir_decode_ex(const uint8_t *data, size_t len, coffer_dir *out, size_t *skipped_fields);
int coffer_manifest_decode_ex(const uint8_t *data, size_t len, coffer_manifest *out,
                              size_t *skipped_fields);

/* Manifest blob names: "snapshots/<source key>/<start time: 16 hex digits>-<id>". */
#define COFFER_MANIFEST_SOURCE_KEY_HEX 32
int coffer_manifest_name_format(char *out, size_t cap, const char *source_key, int64_t start_time_ns,
                                const char *id);
/* 0 and the parts (each out pointer may be NULL), or COFFER_EINVALID for any other name. */
int coffer_manifest_name_parse(const char *blob_name, char source_key[COFFER_MANIFEST_SOURCE_KEY_HEX + 1],
                               int64_t *start_time_ns, char id[COFFER_SNAPSHOT_ID_HEX + 1]);
/* The source key: hex of the first 16 bytes of HMAC-SHA256 keyed with
 * HKDF(master, "snapshot-source") over the source name. */
int coffer_manifest_source_key(coffer_repo *repo, const char *source,
                               char out[COFFER_MANIFEST_SOURCE_KEY_HEX + 1]);

/* Restore selection (coffer_snapshot_select) over a list sorted newest first, as
 * coffer_snapshot_list returns it: *index is the chosen entry. COFFER_ENOTFOUND with a
 * message starting "no eligible snapshot" when none is left. */
int coffer_snapshot_select_index(const coffer_snapshot_info *newest_first, size_t n,
                                 const coffer_selection *sel, size_t *index);

#endif
