/* Backup internals shared by backup.c (the walk and the pipeline) and backup_entry.c (what
 * one directory entry records: type, owner names, link target, extended attributes). */
#ifndef COFFER_BACKUP_PRIVATE_H
#define COFFER_BACKUP_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "tree.h"

/* Owner and group names by id, looked up once each (getpwuid_r / getgrgid_r). Used by the
 * walker thread only. */
typedef struct backup_name_cache backup_name_cache;

int backup_name_cache_new(backup_name_cache **out);
void backup_name_cache_free(backup_name_cache *cache);
/* The name of a user (is_group 0) or group id, or NULL when it has none. The string
 * belongs to the cache. */
const char *backup_name_cache_lookup(backup_name_cache *cache, uint32_t id, int is_group);

/* How an entry could be described. */
typedef enum backup_entry_status {
	BACKUP_ENTRY_OK = 0,
	BACKUP_ENTRY_VANISHED = 1,   /* removed since the directory was listed */
	BACKUP_ENTRY_UNREADABLE = 2, /* permission denied or an I/O error: `problem` says which */
	BACKUP_ENTRY_UNSUPPORTED = 3 /* a file type this format cannot record */
} backup_entry_status;

/* Where an entry is, for the *at() calls and for the path-only xattr calls. */
typedef struct backup_entry_place {
	int dir_fd;                 /* the open parent directory */
	const char *name;           /* NUL-terminated name in that directory */
	const char *proc_prefix;    /* "/proc/self/fd/<dir_fd>" when /proc works, else NULL */
	const char *full_path;      /* absolute path, used when proc_prefix is NULL */
} backup_entry_place;

/* Fills e's metadata from st and the entry's link target and extended attributes (sorted
 * by name). e->name must already be set. Returns 0 with *status telling whether the entry
 * can be recorded (on a problem, `problem` holds a message); negative only on a fatal error
 * (out of memory). */
int backup_entry_describe(coffer_dirent *e, const struct stat *st, const backup_entry_place *place,
                          backup_name_cache *names, backup_entry_status *status, char *problem,
                          size_t problem_size);

/* Names sort as byte strings, a prefix before the longer name (the listing order). */
int backup_name_compare(const char *a, size_t a_len, const char *b, size_t b_len);

/* ns since the epoch of a stat time. */
int64_t backup_timespec_ns(const struct timespec *ts);

#endif
