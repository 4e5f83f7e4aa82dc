/* Glue between the content store's files (repo.c, store_index.c, store_writer.c,
 * store_read.c). Not part of the engine contract: other parts use store.h. */
#ifndef COFFER_STORE_PRIVATE_H
#define COFFER_STORE_PRIVATE_H

#include <pthread.h>

#include <coffer/backend.h>

#include "store.h"
#include "store_format.h"

struct coffer_store_writer;
typedef struct coffer_store_index coffer_store_index; /* store_index.c */

/* repo->store_private */
typedef struct coffer_store_state {
	coffer_format_header header;     /* as last read or written */
	coffer_format_body body;
	int codec_ok;                    /* repo->codec resolved; else codec_error says why */
	coffer_error codec_error;
	uint64_t cache_capacity;         /* bytes for the metadata chunk cache */
	_Atomic uint64_t meta_cache_added; /* bytes this handle put in it */
	/* Bytes in the cache folder as this handle knows it: measured by the first put of a
	 * session (a scan) and counted up by each put; a put that passes the capacity trims
	 * the folder at once, so a long session never holds more than the capacity plus the
	 * chunks other threads write during a trim. */
	_Atomic uint64_t meta_cache_total;
	_Atomic int meta_cache_total_known;
	pthread_mutex_t meta_trim_lock;
	/* Read windows: on a remote backend a data chunk is read with the bytes after it, and
	 * the next chunks of the same pack (the next files of a restore) come from memory. */
	size_t read_window;              /* bytes per window; 0: off */
	pthread_mutex_t windows_lock;
	struct coffer_read_window *windows; /* COFFER_READ_WINDOWS of them */
	uint64_t window_clock;
	char meta_cache_dir[4200];       /* <cache_dir>/meta */
	pthread_mutex_t writers_lock;    /* guards writers (for lookups of uncommitted chunks) */
	struct coffer_store_writer *writers;
} coffer_store_state;

static inline coffer_store_state *coffer_store_state_of(coffer_repo *repo)
{
	return (coffer_store_state *)repo->store_private;
}

/* ------------------------------------------------------------ store_index.c */

/* Loads the cached merged index from repo->cache_dir (rebuilding it when it is missing or
 * damaged) and brings it up to date with the repository's index blobs. */
int coffer_store_index_open(coffer_repo *repo);
void coffer_store_index_close(coffer_repo *repo);
/* Copies the 64-byte record of id from the merged index; COFFER_ENOTFOUND when absent.
 * Sets no error message on a miss (it is the common case while writing). */
int coffer_store_index_find(coffer_repo *repo, const uint8_t id[COFFER_CRYPTO_ID_SIZE],
                            uint8_t record[COFFER_INDEX_RECORD_SIZE]);
/* Adds a committed session's records (sorted, unique) under the index blob name to the
 * local view and cache file. When the cache file cannot be rewritten the records are kept
 * in memory for this handle instead (the next open fetches the blob again). */
void coffer_store_index_add_session(coffer_repo *repo, const char *blob_name, const uint8_t *records,
                                    size_t count);
/* Fetches, authenticates and parses one index blob into sorted 64-byte records
 * (coffer_malloc'ed; NULL when empty). COFFER_ENOTFOUND when it is gone. */
int coffer_store_index_blob_fetch(coffer_repo *repo, const char *name, uint8_t **records, size_t *count);
typedef int (*coffer_store_record_cb)(const uint8_t record[COFFER_INDEX_RECORD_SIZE], void *ud);
int coffer_store_index_foreach(coffer_repo *repo, coffer_store_record_cb cb, void *ud);

/* ------------------------------------------------------------ store_writer.c */

/* Looks id up among the chunks placed by this handle's open writers. */
int coffer_store_writers_find(coffer_repo *repo, const uint8_t id[COFFER_CRYPTO_ID_SIZE],
                              uint8_t record[COFFER_INDEX_RECORD_SIZE]);

/* ------------------------------------------------------------ store_read.c */

void coffer_store_record_to_location(const uint8_t record[COFFER_INDEX_RECORD_SIZE],
                                     coffer_chunk_location *loc);
/* Keeps the metadata chunk cache under its capacity: oldest files (by mtime) go first. At
 * open the folder is scanned at most hourly (or when the capacity shrank); at close only
 * when this handle added to it. */
void coffer_store_meta_cache_trim(coffer_repo *repo, int at_close);
/* Sets up (from the backend's caps and COFFER_READ_WINDOW_KIB) and frees the read windows. */
int coffer_store_windows_init(coffer_repo *repo);
void coffer_store_windows_free(coffer_repo *repo);

/* ------------------------------------------------------------ shared helpers */

/* Runs fn(arg, i) for every i in 0..count-1 on up to `threads` threads (the caller's own
 * thread when one is enough) and waits for all. Returns the first failure in index order
 * with its message set on the calling thread. */
int coffer_store_run_parallel(unsigned int threads, size_t count, int (*fn)(void *arg, size_t i),
                              void *arg);

#endif
