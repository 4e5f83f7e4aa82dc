/* Snapshots: back up a directory, list, select, restore, verify, browse. */
#ifndef COFFER_SNAPSHOT_H
#define COFFER_SNAPSHOT_H

#include <coffer/repo.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COFFER_SNAPSHOT_ID_HEX 32  /* ids are 16 random bytes, shown as 32 hex digits */

typedef struct coffer_snapshot_stats {
	uint64_t files, dirs, symlinks, others;   /* entries in the snapshot */
	uint64_t bytes;          /* logical bytes of regular files */
	uint64_t read_bytes;     /* bytes read from disk in this run */
	uint64_t new_bytes;      /* logical bytes of chunks that were not yet in the repository */
	uint64_t stored_bytes;   /* bytes uploaded (compressed, encrypted, packed) */
	uint64_t cached_files;   /* files taken from the previous snapshot without reading */
	uint64_t errors;         /* entries that changed, vanished or could not be read */
} coffer_snapshot_stats;

typedef struct coffer_tag {
	char *key, *value;
} coffer_tag;

typedef struct coffer_snapshot_info {
	char id[COFFER_SNAPSHOT_ID_HEX + 1];
	char *source;            /* "user@host:/path" */
	int64_t start_time_ns, end_time_ns;   /* UTC, ns since the epoch */
	int incomplete;          /* the walk hit errors (still restorable) */
	int pinned;
	coffer_tag *tags;
	size_t tag_count;
	char *tool_version;
	coffer_snapshot_stats stats;
	char *blob_name;         /* the manifest blob (for delete) */
} coffer_snapshot_info;

void coffer_snapshot_info_clear(coffer_snapshot_info *info);
void coffer_snapshot_info_free_array(coffer_snapshot_info *infos, size_t n);

/* Snapshots of one source (or all, source NULL), newest first. */
int coffer_snapshot_list(coffer_repo *repo, const char *source, coffer_snapshot_info **out, size_t *n);
/* By full id or a unique prefix of at least 6 hex digits. */
int coffer_snapshot_find(coffer_repo *repo, const char *id, coffer_snapshot_info *out);
int coffer_snapshot_delete(coffer_repo *repo, const char *id);
/* Deletes a snapshot from a listing (its blob_name), without listing the manifests again:
 * what retention uses for each snapshot it expires. Falls back to the id without one. */
int coffer_snapshot_delete_listed(coffer_repo *repo, const coffer_snapshot_info *snap);
int coffer_snapshot_set_pinned(coffer_repo *repo, const char *id, int pinned);

/* Restore selection (VolSync semantics): among `source`'s snapshots, newest first, drop
 * those that started after `as_of_ns` (0 = no limit), keep the `shallow` most recent of
 * the rest (0 = all), then take the `previous`-th (0 = newest). COFFER_ENOTFOUND with the
 * message "no eligible snapshot ..." when none is left. */
typedef struct coffer_selection {
	const char *source;
	int64_t as_of_ns;
	unsigned int previous;
	unsigned int shallow;
} coffer_selection;
int coffer_snapshot_select(coffer_repo *repo, const coffer_selection *sel, coffer_snapshot_info *out);

typedef enum coffer_event_kind {
	COFFER_EVENT_WARNING = 1,   /* a file changed, vanished or could not be read; path set */
	COFFER_EVENT_PROGRESS = 2,  /* periodic; stats set */
	COFFER_EVENT_ERROR = 3      /* verify: a damaged file; path and message set */
} coffer_event_kind;

typedef struct coffer_event {
	coffer_event_kind kind;
	const char *path;        /* relative to the snapshot root */
	const char *message;
	const coffer_snapshot_stats *stats;
	uint64_t total_bytes;    /* estimate, 0 when unknown */
} coffer_event;

typedef void (*coffer_event_cb)(const coffer_event *ev, void *ud);

/* coffer_snapshot_list for display: a manifest that cannot be decrypted or decoded (damaged,
 * or written by a newer coffer) is skipped and reported through on_event as a
 * COFFER_EVENT_WARNING (path: the manifest's blob name; message: why) instead of failing the
 * call. With on_event NULL it is coffer_snapshot_list. Never use it to decide what to keep
 * (retention, garbage collection): a skipped snapshot's data would look unreferenced. */
int coffer_snapshot_list_ex(coffer_repo *repo, const char *source, coffer_event_cb on_event, void *ud,
                            coffer_snapshot_info **out, size_t *n);

typedef struct coffer_backup_options {
	unsigned int version;    /* COFFER_BACKUP_OPTIONS_VERSION */
	const char *path;        /* directory to back up */
	const char *source;      /* "user@host:/path"; NULL = current user@hostname:realpath */
	const coffer_tag *tags;
	size_t tag_count;
	unsigned int parallelism;/* 0 = number of cores */
	const char *compression; /* NULL = the repository default */
	int force_hash;          /* re-read every file */
	int64_t start_time_ns;   /* 0 = now; tests and imports set it (docs/FORMAT.md) */
	coffer_event_cb on_event;
	void *event_ud;
	/* --- version 2 --- */
	/* Names directly under `path` that are not backed up (the mover's lost+found). */
	const char *const *exclude_top;
	size_t exclude_top_count;
} coffer_backup_options;
#define COFFER_BACKUP_OPTIONS_VERSION 2u

int coffer_backup(coffer_repo *repo, const coffer_backup_options *opts, coffer_snapshot_info *out);

/* Warms the kernel's metadata caches for the tree at `path` with `threads` threads (0: 4)
 * that stat every entry, so a backup started meanwhile (and the repository's key
 * derivation before it) overlaps that I/O. Reads no file data; errors only end a branch.
 * Stop it (joins the threads) when the backup is done, or at any time. */
typedef struct coffer_prefetch coffer_prefetch;
int coffer_prefetch_start(coffer_prefetch **out, const char *path, unsigned int threads);
void coffer_prefetch_stop(coffer_prefetch *p);
/* Entries stat'ed so far. */
uint64_t coffer_prefetch_entries(const coffer_prefetch *p);

typedef struct coffer_restore_options {
	unsigned int version;    /* COFFER_RESTORE_OPTIONS_VERSION */
	const char *dest;        /* receives the contents of the snapshotted folder */
	const char *subpath;     /* NULL/"" = whole snapshot; else a path inside it */
	int delete_extra;        /* remove files in dest that the snapshot lacks (keeps lost+found) */
	unsigned int parallelism;
	int no_owner;            /* do not chown (default: chown when running as root) */
	coffer_event_cb on_event;
	void *event_ud;
} coffer_restore_options;
#define COFFER_RESTORE_OPTIONS_VERSION 1u

typedef struct coffer_restore_stats {
	uint64_t files, dirs, symlinks, hardlinks, others, bytes, deleted;
} coffer_restore_stats;

int coffer_restore(coffer_repo *repo, const char *snapshot_id, const coffer_restore_options *opts,
                   coffer_restore_stats *stats);

/* Verify: every chunk that the snapshots reference is in the index and its pack exists;
 * with read_data every chunk is downloaded and authenticated. Each damaged file is
 * reported through on_event (COFFER_EVENT_ERROR); returns COFFER_ECORRUPT when any was. */
typedef struct coffer_verify_result {
	uint64_t snapshots, files, chunks, bytes_read, damaged_files, missing_chunks, corrupt_chunks;
} coffer_verify_result;
int coffer_verify(coffer_repo *repo, const char *const *snapshot_ids, size_t n, int read_data,
                  coffer_event_cb on_event, void *ud, coffer_verify_result *result);

/* Browsing: one entry of a snapshot's tree. */
typedef enum coffer_entry_type {
	COFFER_ENTRY_FILE = 1,
	COFFER_ENTRY_DIR = 2,
	COFFER_ENTRY_SYMLINK = 3,
	COFFER_ENTRY_FIFO = 4,
	COFFER_ENTRY_CHARDEV = 5,
	COFFER_ENTRY_BLOCKDEV = 6,
	COFFER_ENTRY_SOCKET = 7
} coffer_entry_type;

typedef struct coffer_entry_info {
	const char *name;        /* bytes, not necessarily UTF-8 */
	size_t name_len;
	coffer_entry_type type;
	uint32_t mode, uid, gid;
	int64_t mtime_ns;
	uint64_t size;
	const char *link_target;
	uint64_t hardlink_group; /* 0: none */
	uint64_t rdev;
	size_t xattr_count;
} coffer_entry_info;

typedef int (*coffer_entry_cb)(const coffer_entry_info *entry, void *ud);
/* Lists the directory at `path` ("" = root) of a snapshot, in name order. */
int coffer_snapshot_ls(coffer_repo *repo, const char *snapshot_id, const char *path, coffer_entry_cb cb,
                       void *ud);
/* Streams a file's content to fd. */
int coffer_snapshot_cat(coffer_repo *repo, const char *snapshot_id, const char *path, int fd);

/* RFC 3339 helpers shared by front-ends: parse any UTC offset to ns; format as UTC "Z". */
int coffer_time_parse_rfc3339(const char *text, int64_t *out_ns);
void coffer_time_format_rfc3339(int64_t ns, char out[40]);

#ifdef __cplusplus
}
#endif
#endif
