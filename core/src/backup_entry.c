/* What a backup records about one directory entry: its type and metadata from lstat, owner
 * and group names, a symlink's target, and every extended attribute (POSIX ACLs are the
 * system.posix_acl_* attributes). */
#include "config.h"

#include "backup_private.h"

#include <coffer/error.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#define NAME_CACHE_BUCKETS 64
/* Extended attribute values are at most 64 KiB on Linux (XATTR_SIZE_MAX). */
#define XATTR_VALUE_FIRST_TRY 4096

typedef struct name_cache_entry {
	uint32_t id;
	int is_group;
	char *name;               /* NULL: the id has no name */
	struct name_cache_entry *next;
} name_cache_entry;

struct backup_name_cache {
	name_cache_entry *buckets[NAME_CACHE_BUCKETS];
	char *buffer;             /* for getpwuid_r / getgrgid_r */
	size_t buffer_size;
};

int backup_name_cache_new(backup_name_cache **out)
{
	backup_name_cache *cache = coffer_calloc(1, sizeof(*cache));
	if (!cache)
		return COFFER_ENOMEM;
	cache->buffer_size = 16384;
	cache->buffer = coffer_malloc(cache->buffer_size);
	if (!cache->buffer) {
		coffer_free(cache);
		return COFFER_ENOMEM;
	}
	*out = cache;
	return 0;
}

void backup_name_cache_free(backup_name_cache *cache)
{
	if (!cache)
		return;
	for (size_t i = 0; i < NAME_CACHE_BUCKETS; i++) {
		name_cache_entry *e = cache->buckets[i];
		while (e) {
			name_cache_entry *next = e->next;
			coffer_free(e->name);
			coffer_free(e);
			e = next;
		}
	}
	coffer_free(cache->buffer);
	coffer_free(cache);
}

/* Asks the system (files, LDAP, ...) once; grows the buffer when an entry does not fit. */
static char *name_cache_query(backup_name_cache *cache, uint32_t id, int is_group)
{
	for (;;) {
		int rc;
		const char *found = NULL;

		if (is_group) {
			struct group gr, *result = NULL;
			rc = getgrgid_r((gid_t)id, &gr, cache->buffer, cache->buffer_size, &result);
			if (rc == 0 && result)
				found = gr.gr_name;
		} else {
			struct passwd pw, *result = NULL;
			rc = getpwuid_r((uid_t)id, &pw, cache->buffer, cache->buffer_size, &result);
			if (rc == 0 && result)
				found = pw.pw_name;
		}
		if (rc == ERANGE && cache->buffer_size < (1u << 24)) {
			char *bigger = coffer_realloc(cache->buffer, cache->buffer_size * 2);
			if (!bigger)
				return NULL;
			cache->buffer = bigger;
			cache->buffer_size *= 2;
			continue;
		}
		return found ? coffer_strdup(found) : NULL;
	}
}

const char *backup_name_cache_lookup(backup_name_cache *cache, uint32_t id, int is_group)
{
	size_t bucket = (id * 2654435761u + (uint32_t)is_group) % NAME_CACHE_BUCKETS;
	name_cache_entry *e;

	for (e = cache->buckets[bucket]; e; e = e->next)
		if (e->id == id && e->is_group == is_group)
			return e->name;
	e = coffer_calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->id = id;
	e->is_group = is_group;
	e->name = name_cache_query(cache, id, is_group);
	e->next = cache->buckets[bucket];
	cache->buckets[bucket] = e;
	return e->name;
}

int backup_name_compare(const char *a, size_t a_len, const char *b, size_t b_len)
{
	int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
	if (c != 0)
		return c;
	return a_len < b_len ? -1 : a_len > b_len;
}

int64_t backup_timespec_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + (int64_t)ts->tv_nsec;
}

/* readlinkat with a buffer that grows until the target fits (st_size may be 0 or wrong on
 * some filesystems). */
static int entry_read_link(coffer_dirent *e, const backup_entry_place *place, size_t hint,
                           backup_entry_status *status, char *problem, size_t problem_size)
{
	size_t size = hint > 0 && hint < PATH_MAX ? hint + 1 : 256;

	for (;;) {
		char *target = coffer_malloc(size);
		if (!target)
			return COFFER_ENOMEM;
		ssize_t n = readlinkat(place->dir_fd, place->name, target, size);
		if (n < 0) {
			int err = errno;
			coffer_free(target);
			*status = err == ENOENT ? BACKUP_ENTRY_VANISHED : BACKUP_ENTRY_UNREADABLE;
			snprintf(problem, problem_size, "reading the symbolic link: %s", strerror(err));
			return 0;
		}
		if ((size_t)n < size) {
			target[n] = '\0';
			e->link_target = target;
			return 0;
		}
		coffer_free(target);
		if (size >= ((size_t)1 << 20)) {
			*status = BACKUP_ENTRY_UNREADABLE;
			snprintf(problem, problem_size, "symbolic link target longer than 1 MiB");
			return 0;
		}
		size *= 4;
	}
}

static int xattr_compare(const void *a, const void *b)
{
	return strcmp(((const coffer_xattr *)a)->name, ((const coffer_xattr *)b)->name);
}

static void xattrs_free(coffer_xattr *xattrs, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		coffer_free(xattrs[i].name);
		coffer_free(xattrs[i].value);
	}
	coffer_free(xattrs);
}

/* One attribute's value; *gone when it was removed between listing and reading. */
static int xattr_read_value(const char *path, const char *name, coffer_xattr *out, int *gone, int *err_out)
{
	size_t size = XATTR_VALUE_FIRST_TRY;

	*gone = 0;
	*err_out = 0;
	for (;;) {
		uint8_t *value = coffer_malloc(size);
		if (!value)
			return COFFER_ENOMEM;
		ssize_t n = lgetxattr(path, name, value, size);
		if (n >= 0) {
			out->value = value;
			out->value_len = (size_t)n;
			return 0;
		}
		int err = errno;
		coffer_free(value);
		if (err == ENODATA) {
			*gone = 1;
			return 0;
		}
		if (err != ERANGE) {
			*err_out = err;
			return 0;
		}
		n = lgetxattr(path, name, NULL, 0);
		if (n < 0) {
			*err_out = errno;
			if (*err_out == ENODATA) {
				*err_out = 0;
				*gone = 1;
			}
			return 0;
		}
		size = (size_t)n + 1;
	}
}

/* Every extended attribute of the entry (not following a symlink), sorted by name. */
static int entry_read_xattrs(coffer_dirent *e, const backup_entry_place *place, backup_entry_status *status,
                             char *problem, size_t problem_size)
{
	char path[PATH_MAX + 64];
	char first[1024];
	char *list = first;
	ssize_t list_len;
	coffer_xattr *xattrs = NULL;
	size_t count = 0, cap = 0;
	int rc = 0;

	if (place->proc_prefix)
		snprintf(path, sizeof(path), "%s/%s", place->proc_prefix, place->name);
	else if (place->full_path && strlen(place->full_path) < sizeof(path))
		snprintf(path, sizeof(path), "%s", place->full_path);
	else {
		*status = BACKUP_ENTRY_UNREADABLE;
		snprintf(problem, problem_size, "extended attributes not read: path longer than PATH_MAX");
		return 0;
	}

	list_len = llistxattr(path, first, sizeof(first));
	while (list_len < 0 && errno == ERANGE) {
		ssize_t needed = llistxattr(path, NULL, 0);
		if (needed < 0)
			break;
		if (list != first)
			coffer_free(list);
		list = coffer_malloc((size_t)needed + 1);
		if (!list)
			return COFFER_ENOMEM;
		list_len = llistxattr(path, list, (size_t)needed + 1);
	}
	if (list_len < 0) {
		int err = errno;
		if (list != first)
			coffer_free(list);
		if (err == ENOTSUP || err == ENODATA)
			return 0;
		*status = err == ENOENT ? BACKUP_ENTRY_VANISHED : BACKUP_ENTRY_UNREADABLE;
		snprintf(problem, problem_size, "listing extended attributes: %s", strerror(err));
		return 0;
	}

	for (ssize_t at = 0; at < list_len;) {
		const char *name = list + at;
		size_t name_len = strnlen(name, (size_t)(list_len - at));
		int gone, err;

		at += (ssize_t)name_len + 1;
		if (name_len == 0)
			continue;
		if (count == cap) {
			size_t new_cap = cap ? cap * 2 : 4;
			coffer_xattr *bigger = coffer_realloc(xattrs, new_cap * sizeof(*xattrs));
			if (!bigger) {
				rc = COFFER_ENOMEM;
				break;
			}
			xattrs = bigger;
			cap = new_cap;
		}
		memset(&xattrs[count], 0, sizeof(xattrs[count]));
		if ((rc = xattr_read_value(path, name, &xattrs[count], &gone, &err)) < 0)
			break;
		if (gone)
			continue;
		if (err) {
			*status = err == ENOENT ? BACKUP_ENTRY_VANISHED : BACKUP_ENTRY_UNREADABLE;
			snprintf(problem, problem_size, "reading extended attribute %s: %s", name, strerror(err));
			break;
		}
		xattrs[count].name = coffer_malloc(name_len + 1);
		if (!xattrs[count].name) {
			coffer_free(xattrs[count].value);
			rc = COFFER_ENOMEM;
			break;
		}
		memcpy(xattrs[count].name, name, name_len + 1);
		count++;
	}
	if (list != first)
		coffer_free(list);
	if (rc < 0 || *status != BACKUP_ENTRY_OK) {
		xattrs_free(xattrs, count);
		return rc;
	}
	if (count > 1)
		qsort(xattrs, count, sizeof(*xattrs), xattr_compare);
	e->xattrs = xattrs;
	e->xattr_count = count;
	return 0;
}

int backup_entry_describe(coffer_dirent *e, const struct stat *st, const backup_entry_place *place,
                          backup_name_cache *names, backup_entry_status *status, char *problem,
                          size_t problem_size)
{
	const char *owner;
	int rc;

	*status = BACKUP_ENTRY_OK;
	problem[0] = '\0';
	switch (st->st_mode & S_IFMT) {
	case S_IFREG: e->type = COFFER_ENTRY_FILE; break;
	case S_IFDIR: e->type = COFFER_ENTRY_DIR; break;
	case S_IFLNK: e->type = COFFER_ENTRY_SYMLINK; break;
	case S_IFIFO: e->type = COFFER_ENTRY_FIFO; break;
	case S_IFCHR: e->type = COFFER_ENTRY_CHARDEV; break;
	case S_IFBLK: e->type = COFFER_ENTRY_BLOCKDEV; break;
	case S_IFSOCK: e->type = COFFER_ENTRY_SOCKET; break;
	default:
		*status = BACKUP_ENTRY_UNSUPPORTED;
		snprintf(problem, problem_size, "unsupported file type 0%o", (unsigned)(st->st_mode & S_IFMT));
		return 0;
	}
	e->mode = (uint32_t)(st->st_mode & 07777);
	e->uid = (uint32_t)st->st_uid;
	e->gid = (uint32_t)st->st_gid;
	e->mtime_ns = backup_timespec_ns(&st->st_mtim);
	if ((owner = backup_name_cache_lookup(names, e->uid, 0)) && !(e->user = coffer_strdup(owner)))
		return COFFER_ENOMEM;
	if ((owner = backup_name_cache_lookup(names, e->gid, 1)) && !(e->group = coffer_strdup(owner)))
		return COFFER_ENOMEM;
	if (e->type == COFFER_ENTRY_FILE) {
		e->size = (uint64_t)st->st_size;
		if ((uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size)
			e->flags |= COFFER_DIRENT_SPARSE;
	} else if (e->type == COFFER_ENTRY_CHARDEV || e->type == COFFER_ENTRY_BLOCKDEV) {
		e->rdev = (uint64_t)st->st_rdev;
	} else if (e->type == COFFER_ENTRY_SYMLINK) {
		rc = entry_read_link(e, place, (size_t)st->st_size, status, problem, problem_size);
		if (rc < 0 || *status != BACKUP_ENTRY_OK)
			return rc;
	}
	return entry_read_xattrs(e, place, status, problem, problem_size);
}
