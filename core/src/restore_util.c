/* Helpers shared by restore, verify and browse: opening a snapshot, resolving a path in
 * its tree, name checks, and small hash tables. */
#include "config.h"

#include "restore_private.h"

#include <coffer/error.h>

#include <string.h>

int coffer_restore_load_manifest(coffer_repo *repo, const char *snapshot_id, coffer_manifest *out)
{
	coffer_snapshot_info info;
	memset(out, 0, sizeof(*out));
	memset(&info, 0, sizeof(info));
	if (!snapshot_id || !snapshot_id[0])
		return coffer_error_set(COFFER_EINVALID, "no snapshot id given");
	int rc = coffer_snapshot_find(repo, snapshot_id, &info);
	if (rc < 0)
		return rc;
	if (!info.blob_name) {
		coffer_snapshot_info_clear(&info);
		return coffer_error_set(COFFER_ERROR, "snapshot %s has no manifest name", snapshot_id);
	}
	rc = coffer_manifest_load(repo, info.blob_name, out);
	if (rc < 0)
		coffer_error_wrap("loading snapshot %s", info.id);
	coffer_snapshot_info_clear(&info);
	return rc;
}

int coffer_restore_name_is_safe(const char *name, size_t len)
{
	if (!name || len == 0 || len > 255)
		return 0;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return 0;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	return 1;
}

int coffer_restore_object_copy(coffer_object *dst, const coffer_object *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->count == 0)
		return 0;
	dst->chunks = coffer_malloc(src->count * sizeof(*dst->chunks));
	dst->sizes = coffer_malloc(src->count * sizeof(*dst->sizes));
	if (!dst->chunks || !dst->sizes) {
		coffer_free(dst->chunks);
		coffer_free(dst->sizes);
		memset(dst, 0, sizeof(*dst));
		return COFFER_ENOMEM;
	}
	memcpy(dst->chunks, src->chunks, src->count * sizeof(*dst->chunks));
	memcpy(dst->sizes, src->sizes, src->count * sizeof(*dst->sizes));
	dst->count = src->count;
	return 0;
}

void coffer_restore_take_entry(coffer_dir *d, size_t i, coffer_dirent *out)
{
	*out = d->entries[i];
	memset(&d->entries[i], 0, sizeof(d->entries[i]));
}

static int compare_names(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

long coffer_restore_find_name(const coffer_dir *d, const char *name, size_t len)
{
	size_t lo = 0, hi = d->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const coffer_dirent *e = &d->entries[mid];
		int c = compare_names(e->name ? e->name : "", e->name_len, name, len);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void coffer_restore_cid_hex(const coffer_cid *id, char out[2 * COFFER_CRYPTO_ID_SIZE + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < COFFER_CRYPTO_ID_SIZE; i++) {
		out[2 * i] = digits[id->bytes[i] >> 4];
		out[2 * i + 1] = digits[id->bytes[i] & 15];
	}
	out[2 * COFFER_CRYPTO_ID_SIZE] = '\0';
}

/* The root of a snapshot as a directory entry. */
static int root_entry(const coffer_manifest *m, coffer_dirent *out)
{
	memset(out, 0, sizeof(*out));
	out->name = coffer_strdup("");
	if (!out->name)
		return COFFER_ENOMEM;
	out->type = COFFER_ENTRY_DIR;
	out->mode = m->root_mode;
	out->uid = m->root_uid;
	out->gid = m->root_gid;
	out->mtime_ns = m->root_mtime_ns;
	int rc = coffer_restore_object_copy(&out->content, &m->root);
	if (rc < 0)
		coffer_dirent_clear(out);
	return rc;
}

int coffer_restore_resolve(coffer_repo *repo, const coffer_manifest *m, const char *path,
                           coffer_dirent *out, char **normalized)
{
	coffer_buf norm = COFFER_BUF_INIT;
	coffer_dirent current;
	int rc = root_entry(m, &current);
	if (rc < 0)
		return rc;
	const char *p = path ? path : "";
	while (*p) {
		while (*p == '/')
			p++;
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0)
			break;
		if (len == 1 && p[0] == '.') {
			p += len;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			rc = coffer_error_set(COFFER_EINVALID, "path %s: \"..\" is not allowed", path);
			goto fail;
		}
		if (current.type != COFFER_ENTRY_DIR) {
			rc = coffer_error_set(COFFER_ENOTFOUND, "path %s: %.*s is not a directory", path,
			                      (int)(norm.len), norm.data ? (const char *)norm.data : "");
			goto fail;
		}
		coffer_dir listing;
		memset(&listing, 0, sizeof(listing));
		rc = coffer_dir_load(repo, &current.content, &listing);
		if (rc < 0) {
			coffer_error_wrap("reading directory /%.*s", (int)norm.len,
			                  norm.data ? (const char *)norm.data : "");
			goto fail;
		}
		long idx = coffer_restore_find_name(&listing, p, len);
		if (idx < 0) {
			coffer_dir_clear(&listing);
			rc = coffer_error_set(COFFER_ENOTFOUND, "path %s: no entry %.*s in the snapshot",
			                      path, (int)len, p);
			goto fail;
		}
		coffer_dirent next;
		coffer_restore_take_entry(&listing, (size_t)idx, &next);
		coffer_dir_clear(&listing);
		coffer_dirent_clear(&current);
		current = next;
		if ((norm.len && coffer_buf_append(&norm, "/", 1) < 0) || coffer_buf_append(&norm, p, len) < 0) {
			rc = COFFER_ENOMEM;
			goto fail;
		}
		p += len;
	}
	if (normalized) {
		if (coffer_buf_append(&norm, "", 1) < 0) {
			rc = COFFER_ENOMEM;
			goto fail;
		}
		*normalized = (char *)norm.data;
		norm.data = NULL;
	}
	coffer_buf_free(&norm);
	*out = current;
	return 0;
fail:
	coffer_buf_free(&norm);
	coffer_dirent_clear(&current);
	return rc;
}

/* ---- content-id table ---- */

static size_t cid_slot_start(const coffer_cid *id, size_t capacity)
{
	uint64_t h;
	memcpy(&h, id->bytes, sizeof(h));
	return (size_t)(h & (capacity - 1));
}

int coffer_cid_table_init(coffer_cid_table *t, size_t record_size, size_t initial_capacity)
{
	memset(t, 0, sizeof(*t));
	size_t cap = 64;
	while (cap < initial_capacity)
		cap *= 2;
	if (record_size < sizeof(coffer_cid))
		record_size = sizeof(coffer_cid);
	t->records = coffer_calloc(cap, record_size);
	t->used = coffer_calloc(cap, 1);
	if (!t->records || !t->used) {
		coffer_cid_table_free(t);
		return COFFER_ENOMEM;
	}
	t->record_size = record_size;
	t->capacity = cap;
	return 0;
}

void coffer_cid_table_free(coffer_cid_table *t)
{
	coffer_free(t->records);
	coffer_free(t->used);
	memset(t, 0, sizeof(*t));
}

static size_t cid_probe(const coffer_cid_table *t, const coffer_cid *id, int *found)
{
	size_t mask = t->capacity - 1;
	size_t i = cid_slot_start(id, t->capacity);
	for (;;) {
		if (!t->used[i]) {
			*found = 0;
			return i;
		}
		if (memcmp(t->records + i * t->record_size, id->bytes, sizeof(id->bytes)) == 0) {
			*found = 1;
			return i;
		}
		i = (i + 1) & mask;
	}
}

void *coffer_cid_table_find(const coffer_cid_table *t, const coffer_cid *id)
{
	if (!t->capacity)
		return NULL;
	int found;
	size_t i = cid_probe(t, id, &found);
	return found ? t->records + i * t->record_size : NULL;
}

static int cid_table_grow(coffer_cid_table *t)
{
	coffer_cid_table bigger;
	if (coffer_cid_table_init(&bigger, t->record_size, t->capacity * 2) < 0)
		return COFFER_ENOMEM;
	for (size_t i = 0; i < t->capacity; i++) {
		if (!t->used[i])
			continue;
		const uint8_t *rec = t->records + i * t->record_size;
		int found;
		size_t j = cid_probe(&bigger, (const coffer_cid *)rec, &found);
		memcpy(bigger.records + j * bigger.record_size, rec, t->record_size);
		bigger.used[j] = 1;
	}
	bigger.count = t->count;
	coffer_cid_table_free(t);
	*t = bigger;
	return 0;
}

void *coffer_cid_table_insert(coffer_cid_table *t, const coffer_cid *id, int *created)
{
	*created = 0;
	if (!t->capacity && coffer_cid_table_init(t, t->record_size, 64) < 0)
		return NULL;
	/* keep the load under 3/4 so probes stay short */
	if ((t->count + 1) * 4 > t->capacity * 3 && cid_table_grow(t) < 0)
		return NULL;
	int found;
	size_t i = cid_probe(t, id, &found);
	uint8_t *rec = t->records + i * t->record_size;
	if (!found) {
		memset(rec, 0, t->record_size);
		memcpy(rec, id->bytes, sizeof(id->bytes));
		t->used[i] = 1;
		t->count++;
		*created = 1;
	}
	return rec;
}

void *coffer_cid_table_slot(const coffer_cid_table *t, size_t i)
{
	return i < t->capacity && t->used[i] ? t->records + i * t->record_size : NULL;
}

/* ---- string table ---- */

static uint64_t string_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;  /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

void coffer_string_table_free(coffer_string_table *t)
{
	for (size_t i = 0; i < t->count; i++)
		coffer_free(t->strings[i]);
	coffer_free(t->strings);
	coffer_free(t->slots);
	memset(t, 0, sizeof(*t));
}

static int string_table_rehash(coffer_string_table *t, size_t slot_count)
{
	uint32_t *slots = coffer_calloc(slot_count, sizeof(*slots));
	if (!slots)
		return COFFER_ENOMEM;
	for (size_t k = 0; k < t->count; k++) {
		size_t i = (size_t)(string_hash(t->strings[k]) & (slot_count - 1));
		while (slots[i])
			i = (i + 1) & (slot_count - 1);
		slots[i] = (uint32_t)(k + 1);
	}
	coffer_free(t->slots);
	t->slots = slots;
	t->slot_count = slot_count;
	return 0;
}

long coffer_string_table_intern(coffer_string_table *t, const char *s, int *created)
{
	*created = 0;
	if ((t->count + 1) * 2 > t->slot_count &&
	    string_table_rehash(t, t->slot_count ? t->slot_count * 2 : 64) < 0)
		return -1;
	size_t mask = t->slot_count - 1;
	size_t i = (size_t)(string_hash(s) & mask);
	while (t->slots[i]) {
		if (strcmp(t->strings[t->slots[i] - 1], s) == 0)
			return (long)(t->slots[i] - 1);
		i = (i + 1) & mask;
	}
	if (t->count >= UINT32_MAX - 1) {
		coffer_error_set(COFFER_ENOMEM, "too many distinct names");
		return -1;
	}
	if (t->count == t->strings_cap) {
		size_t cap = t->strings_cap ? t->strings_cap * 2 : 64;
		char **strings = coffer_realloc(t->strings, cap * sizeof(*strings));
		if (!strings)
			return -1;
		t->strings = strings;
		t->strings_cap = cap;
	}
	char *copy = coffer_strdup(s);
	if (!copy)
		return -1;
	t->strings[t->count] = copy;
	t->slots[i] = (uint32_t)(t->count + 1);
	*created = 1;
	return (long)t->count++;
}
