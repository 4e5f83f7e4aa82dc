/* Directory listings and snapshot manifests: their versioned, deterministic binary
 * encodings and strict decoders of untrusted bytes (docs/FORMAT.md). Pure code with
 * no backend or crypto dependency, so fuzz targets build it alone. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <coffer/error.h>

#include "tree.h"

/* Leading bytes of each encoding; the byte after the magic is the format version. */
static const uint8_t dir_magic[4] = { 'C', 'D', 'I', 'R' };
static const uint8_t manifest_magic[4] = { 'C', 'S', 'N', 'P' };
#define TREE_FORMAT_VERSION 1u

/* A field's tag is (number << 1) | wire type. */
enum { WIRE_VARINT = 0, WIRE_BYTES = 1 };

enum dirent_field {
	DIRENT_NAME = 1,
	DIRENT_TYPE = 2,
	DIRENT_MODE = 3,
	DIRENT_UID = 4,
	DIRENT_GID = 5,
	DIRENT_USER = 6,
	DIRENT_GROUP = 7,
	DIRENT_MTIME = 8,
	DIRENT_SIZE = 9,
	DIRENT_LINK_TARGET = 10,
	DIRENT_RDEV = 11,
	DIRENT_HARDLINK_GROUP = 12,
	DIRENT_FLAGS = 13,
	DIRENT_XATTRS = 14,
	DIRENT_CONTENT = 15
};

enum manifest_field {
	MANIFEST_ID = 1,
	MANIFEST_SOURCE = 2,
	MANIFEST_START_TIME = 3,
	MANIFEST_END_TIME = 4,
	MANIFEST_INCOMPLETE = 5,
	MANIFEST_PINNED = 6,
	MANIFEST_TAGS = 7,
	MANIFEST_TOOL_VERSION = 8,
	MANIFEST_STATS = 9,
	MANIFEST_ROOT = 10,
	MANIFEST_ROOT_MODE = 11,
	MANIFEST_ROOT_UID = 12,
	MANIFEST_ROOT_GID = 13,
	MANIFEST_ROOT_MTIME = 14
};

#define STATS_FIELD_COUNT 10u  /* stats fields 1..10, in coffer_snapshot_stats order */
#define SNAPSHOT_ID_BYTES (COFFER_SNAPSHOT_ID_HEX / 2)
#define PERMISSION_BITS 07777u

/* Smallest possible encodings, used to bound declared counts by the bytes left. */
#define MIN_ENTRY_BYTES 2u       /* a length and at least one byte (empty entries are refused) */
#define CHUNK_REF_MIN_BYTES (COFFER_CRYPTO_ID_SIZE + 1u)
#define XATTR_MIN_BYTES 3u       /* name length, 1 name byte, value length */
#define TAG_MIN_BYTES 3u         /* key length, 1 key byte, value length */

/* Pieces of a stored listing: cut at entry boundaries chosen by the entry's name once a
 * piece holds PIECE_MIN bytes, so an edit changes few pieces; never above the maximum. */
#define PIECE_MIN ((size_t)1 << 20)
#define PIECE_CUT_MASK 0x3ffu

/* ------------------------------------------------------------------ writing */

/* Appends to buf, or only counts bytes when buf is NULL (to learn a length prefix). */
typedef struct writer {
	coffer_buf *buf;
	size_t counted;
	int rc;
} writer;

static void put_bytes(writer *w, const void *data, size_t n)
{
	if (w->rc || n == 0)
		return;
	if (!w->buf)
		w->counted += n;
	else
		w->rc = coffer_buf_append(w->buf, data, n);
}

static void put_varint(writer *w, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	put_bytes(w, tmp, n);
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint64_t zigzag_encode(int64_t v)
{
	return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static int64_t zigzag_decode(uint64_t u)
{
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static void put_tag(writer *w, unsigned int field, unsigned int wire)
{
	put_varint(w, ((uint64_t)field << 1) | wire);
}

/* Fields holding their default value (0, empty) are omitted: one listing, one encoding. */
static void put_uint_field(writer *w, unsigned int field, uint64_t v)
{
	if (v == 0)
		return;
	put_tag(w, field, WIRE_VARINT);
	put_varint(w, v);
}

static void put_bytes_field(writer *w, unsigned int field, const void *data, size_t n)
{
	if (n == 0)
		return;
	put_tag(w, field, WIRE_BYTES);
	put_varint(w, n);
	put_bytes(w, data, n);
}

static void put_string_field(writer *w, unsigned int field, const char *s)
{
	if (s)
		put_bytes_field(w, field, s, strlen(s));
}

/* ------------------------------------------------------------------ reading */

typedef struct reader {
	const uint8_t *data;
	size_t pos, end;        /* absolute offsets into data, so errors name real offsets */
	const char *what;       /* "directory listing" or "snapshot manifest" */
	size_t skipped_fields;  /* unknown optional fields passed over */
} reader;

static int corrupt_at(const reader *r, size_t offset, const char *fmt, ...) COFFER_PRINTF(3, 4);

static int corrupt_at(const reader *r, size_t offset, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return coffer_error_set(COFFER_ECORRUPT, "%s: %s at offset %zu", r->what, msg, offset);
}

static size_t remaining(const reader *r)
{
	return r->end - r->pos;
}

/* LEB128, at most 10 bytes, minimal (no redundant trailing zero groups). */
static int get_varint(reader *r, uint64_t *out, const char *field)
{
	size_t start = r->pos;
	uint64_t v = 0;
	unsigned int shift = 0;

	for (;;) {
		if (r->pos >= r->end)
			return corrupt_at(r, start, "truncated %s", field);
		uint8_t b = r->data[r->pos++];
		if (shift == 63 && b > 1)
			return corrupt_at(r, start, "%s does not fit in 64 bits", field);
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0 && shift > 0)
				return corrupt_at(r, start, "over-long varint in %s", field);
			*out = v;
			return 0;
		}
		shift += 7;
	}
}

/* A length prefix, checked against the bytes that are left before anything is allocated. */
static int get_length(reader *r, size_t *out, const char *field)
{
	size_t start = r->pos;
	uint64_t n;
	int rc = get_varint(r, &n, field);

	if (rc)
		return rc;
	if (n > remaining(r))
		return corrupt_at(r, start, "%s length %llu exceeds the %zu bytes left", field,
		                  (unsigned long long)n, remaining(r));
	*out = (size_t)n;
	return 0;
}

static int get_raw(reader *r, size_t n, const uint8_t **out, const char *field)
{
	if (n > remaining(r))
		return corrupt_at(r, r->pos, "truncated %s", field);
	*out = r->data + r->pos;
	r->pos += n;
	return 0;
}

/* A sub-reader over the next n bytes (already checked to be there). */
static reader sub_reader(reader *r, size_t n)
{
	reader sub = { r->data, r->pos, r->pos + n, r->what, 0 };
	r->pos += n;
	return sub;
}

static int copy_string(const reader *r, size_t offset, const uint8_t *p, size_t n, char **out,
                       const char *field)
{
	if (n == 0)
		return corrupt_at(r, offset, "empty %s", field);
	if (memchr(p, 0, n))
		return corrupt_at(r, offset, "NUL byte in %s", field);
	char *s = coffer_malloc(n + 1);
	if (!s)
		return COFFER_ENOMEM;
	memcpy(s, p, n);
	s[n] = '\0';
	*out = s;
	return 0;
}

typedef struct field_header {
	uint64_t number;
	unsigned int wire;
	size_t offset;
} field_header;

/* Reads the next tag; fields come in strictly increasing number order (so none repeats). */
static int get_field_header(reader *r, uint64_t *last_number, field_header *f)
{
	uint64_t tag;
	int rc;

	f->offset = r->pos;
	if ((rc = get_varint(r, &tag, "field tag")))
		return rc;
	f->number = tag >> 1;
	f->wire = (unsigned int)(tag & 1);
	if (f->number == 0)
		return corrupt_at(r, f->offset, "field number 0");
	if (f->number <= *last_number)
		return corrupt_at(r, f->offset, "field %llu out of order or repeated",
		                  (unsigned long long)f->number);
	*last_number = f->number;
	return 0;
}

/* An unknown field: even numbers are optional and skipped, odd ones change the meaning of
 * the record and must be understood, so they are refused. */
static int skip_unknown_field(reader *r, const field_header *f)
{
	uint64_t v;
	size_t n;
	int rc;

	if (f->number & 1)
		return coffer_error_set(COFFER_EUNSUPPORTED,
		                        "%s: unknown required field %llu at offset %zu (written by a newer "
		                        "version of coffer?)",
		                        r->what, (unsigned long long)f->number, f->offset);
	if (f->wire == WIRE_VARINT)
		rc = get_varint(r, &v, "unknown field");
	else if (!(rc = get_length(r, &n, "unknown field")))
		r->pos += n;
	if (!rc)
		r->skipped_fields++;
	return rc;
}

static int expect_wire(const reader *r, const field_header *f, unsigned int wire)
{
	if (f->wire != wire)
		return corrupt_at(r, f->offset, "field %llu has the wrong wire type",
		                  (unsigned long long)f->number);
	return 0;
}

/* A varint field that is present must not hold its default (it would have been omitted). */
static int get_uint_field(reader *r, const field_header *f, uint64_t max, uint64_t *out, const char *field)
{
	int rc;

	if ((rc = expect_wire(r, f, WIRE_VARINT)) || (rc = get_varint(r, out, field)))
		return rc;
	if (*out == 0)
		return corrupt_at(r, f->offset, "%s stored with its default value", field);
	if (*out > max)
		return corrupt_at(r, f->offset, "%s %llu out of range", field, (unsigned long long)*out);
	return 0;
}

static int get_time_field(reader *r, const field_header *f, int64_t *out, const char *field)
{
	uint64_t u;
	int rc = get_uint_field(r, f, UINT64_MAX, &u, field);

	if (!rc)
		*out = zigzag_decode(u);
	return rc;
}

/* A bytes field that is present is never empty. */
static int get_bytes_field(reader *r, const field_header *f, const uint8_t **data, size_t *n,
                           size_t *data_offset, const char *field)
{
	int rc;

	if ((rc = expect_wire(r, f, WIRE_BYTES)) || (rc = get_length(r, n, field)))
		return rc;
	if (*n == 0)
		return corrupt_at(r, f->offset, "empty %s", field);
	*data_offset = r->pos;
	return get_raw(r, *n, data, field);
}

static int get_string_field(reader *r, const field_header *f, char **out, const char *field)
{
	const uint8_t *p = NULL;
	size_t n, at;
	int rc;

	if ((rc = get_bytes_field(r, f, &p, &n, &at, field)))
		return rc;
	return copy_string(r, at, p, n, out, field);
}

static int check_header(reader *r, const uint8_t magic[4])
{
	const uint8_t *p = NULL;

	if (remaining(r) < 5)
		return corrupt_at(r, 0, "truncated header");
	if (get_raw(r, 4, &p, "magic") || memcmp(p, magic, 4) != 0)
		return corrupt_at(r, 0, "bad magic");
	uint8_t version = r->data[r->pos++];
	if (version == 0)
		return corrupt_at(r, 4, "format version 0");
	if (version > TREE_FORMAT_VERSION)
		return coffer_error_set(COFFER_EUNSUPPORTED,
		                        "%s: format version %u is newer than this coffer supports (%u)",
		                        r->what, version, TREE_FORMAT_VERSION);
	return 0;
}

/* ------------------------------------------------------------------ names and checks */

static int name_compare(const char *a, size_t a_len, const char *b, size_t b_len)
{
	int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
	if (c)
		return c;
	return a_len < b_len ? -1 : a_len > b_len;
}

/* Why a name cannot be a directory entry, or NULL when it can. */
static const char *name_problem(const uint8_t *name, size_t len)
{
	if (len == 0)
		return "empty name";
	if (memchr(name, '/', len))
		return "'/' in name";
	if (memchr(name, 0, len))
		return "NUL byte in name";
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return "name \".\" or \"..\"";
	return NULL;
}

static int type_known(uint64_t type)
{
	return type >= COFFER_ENTRY_FILE && type <= COFFER_ENTRY_SOCKET;
}

static int type_has_content(uint64_t type)
{
	return type == COFFER_ENTRY_FILE || type == COFFER_ENTRY_DIR;
}

static int type_is_device(uint64_t type)
{
	return type == COFFER_ENTRY_CHARDEV || type == COFFER_ENTRY_BLOCKDEV;
}

static size_t dirent_name_len(const coffer_dirent *e)
{
	if (e->name_len)
		return e->name_len;
	return e->name ? strlen(e->name) : 0;
}

/* ------------------------------------------------------------------ clearing */

void coffer_object_clear(coffer_object *o)
{
	if (!o)
		return;
	coffer_free(o->chunks);
	coffer_free(o->sizes);
	memset(o, 0, sizeof(*o));
}

static void xattrs_free(coffer_xattr *xattrs, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		coffer_free(xattrs[i].name);
		coffer_free(xattrs[i].value);
	}
	coffer_free(xattrs);
}

void coffer_dirent_clear(coffer_dirent *e)
{
	if (!e)
		return;
	coffer_free(e->name);
	coffer_free(e->user);
	coffer_free(e->group);
	coffer_free(e->link_target);
	xattrs_free(e->xattrs, e->xattr_count);
	coffer_object_clear(&e->content);
	memset(e, 0, sizeof(*e));
}

void coffer_dir_clear(coffer_dir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++)
		coffer_dirent_clear(&d->entries[i]);
	coffer_free(d->entries);
	d->entries = NULL;
	d->count = 0;
}

void coffer_snapshot_info_clear(coffer_snapshot_info *info)
{
	if (!info)
		return;
	coffer_free(info->source);
	for (size_t i = 0; i < info->tag_count; i++) {
		coffer_free(info->tags[i].key);
		coffer_free(info->tags[i].value);
	}
	coffer_free(info->tags);
	coffer_free(info->tool_version);
	coffer_free(info->blob_name);
	memset(info, 0, sizeof(*info));
}

void coffer_snapshot_info_free_array(coffer_snapshot_info *infos, size_t n)
{
	if (!infos)
		return;
	for (size_t i = 0; i < n; i++)
		coffer_snapshot_info_clear(&infos[i]);
	coffer_free(infos);
}

void coffer_manifest_clear(coffer_manifest *m)
{
	if (!m)
		return;
	coffer_snapshot_info_clear(&m->info);
	coffer_object_clear(&m->root);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ objects */

static int object_check(const coffer_object *o, const char *context)
{
	if (o->count && (!o->chunks || !o->sizes))
		return coffer_error_set(COFFER_EINVALID, "%s: object with %zu chunks but no chunk list",
		                        context, o->count);
	for (size_t i = 0; i < o->count; i++)
		if (o->sizes[i] == 0)
			return coffer_error_set(COFFER_EINVALID, "%s: chunk %zu of the object is empty", context, i);
	return 0;
}

static size_t object_payload_size(const coffer_object *o)
{
	size_t n = varint_size(o->count);
	for (size_t i = 0; i < o->count; i++)
		n += COFFER_CRYPTO_ID_SIZE + varint_size(o->sizes[i]);
	return n;
}

static void put_object_field(writer *w, unsigned int field, const coffer_object *o)
{
	if (o->count == 0)
		return;
	put_tag(w, field, WIRE_BYTES);
	put_varint(w, object_payload_size(o));
	put_varint(w, o->count);
	for (size_t i = 0; i < o->count; i++) {
		put_bytes(w, o->chunks[i].bytes, COFFER_CRYPTO_ID_SIZE);
		put_varint(w, o->sizes[i]);
	}
}

static int get_object_field(reader *r, const field_header *f, coffer_object *out, const char *field)
{
	const uint8_t *p = NULL;
	size_t n, at;
	uint64_t count, size;
	int rc;

	if ((rc = get_bytes_field(r, f, &p, &n, &at, field)))
		return rc;
	reader sub = { r->data, at, at + n, r->what, 0 };
	if ((rc = get_varint(&sub, &count, "chunk count")))
		return rc;
	if (count == 0)
		return corrupt_at(r, at, "%s with no chunks", field);
	if (count > remaining(&sub) / CHUNK_REF_MIN_BYTES)
		return corrupt_at(r, at, "chunk count %llu exceeds what %zu bytes can hold",
		                  (unsigned long long)count, remaining(&sub));
	out->chunks = coffer_malloc((size_t)count * sizeof(*out->chunks));
	out->sizes = coffer_malloc((size_t)count * sizeof(*out->sizes));
	if (!out->chunks || !out->sizes)
		return COFFER_ENOMEM;
	for (out->count = 0; out->count < count; out->count++) {
		size_t chunk_at = sub.pos;
		if ((rc = get_raw(&sub, COFFER_CRYPTO_ID_SIZE, &p, "chunk id")))
			return rc;
		memcpy(out->chunks[out->count].bytes, p, COFFER_CRYPTO_ID_SIZE);
		if ((rc = get_varint(&sub, &size, "chunk size")))
			return rc;
		if (size == 0 || size > UINT32_MAX)
			return corrupt_at(r, chunk_at, "chunk size %llu out of range", (unsigned long long)size);
		out->sizes[out->count] = (uint32_t)size;
	}
	if (remaining(&sub))
		return corrupt_at(r, sub.pos, "%zu trailing bytes in %s", remaining(&sub), field);
	return 0;
}

/* ------------------------------------------------------------------ directory entries */

static int dirent_check(const coffer_dirent *e, size_t index)
{
	size_t len = dirent_name_len(e);
	const char *problem = e->name ? name_problem((const uint8_t *)e->name, len) : "no name";
	char context[64];

	snprintf(context, sizeof(context), "directory listing: entry %zu", index);
	if (problem)
		return coffer_error_set(COFFER_EINVALID, "%s: %s", context, problem);
	if (!type_known((uint64_t)e->type))
		return coffer_error_set(COFFER_EINVALID, "%s: unknown type %d", context, (int)e->type);
	if (e->mode & ~PERMISSION_BITS)
		return coffer_error_set(COFFER_EINVALID, "%s: mode 0%o has bits beyond 07777", context,
		                        (unsigned)e->mode);
	if (e->type == COFFER_ENTRY_SYMLINK && (!e->link_target || !e->link_target[0]))
		return coffer_error_set(COFFER_EINVALID, "%s: symbolic link without a target", context);
	if (e->type != COFFER_ENTRY_SYMLINK && e->link_target && e->link_target[0])
		return coffer_error_set(COFFER_EINVALID, "%s: link target on a non-symlink", context);
	if (e->rdev && !type_is_device((uint64_t)e->type))
		return coffer_error_set(COFFER_EINVALID, "%s: device number on a non-device", context);
	if (e->hardlink_group && e->type == COFFER_ENTRY_DIR)
		return coffer_error_set(COFFER_EINVALID, "%s: hard-link group on a directory", context);
	if (e->content.count && !type_has_content((uint64_t)e->type))
		return coffer_error_set(COFFER_EINVALID, "%s: content on an entry that is not a file or directory",
		                        context);
	if (e->xattr_count && !e->xattrs)
		return coffer_error_set(COFFER_EINVALID, "%s: xattr count without xattrs", context);
	for (size_t i = 0; i < e->xattr_count; i++) {
		const coffer_xattr *x = &e->xattrs[i];
		if (!x->name || !x->name[0])
			return coffer_error_set(COFFER_EINVALID, "%s: extended attribute %zu has no name", context, i);
		if (x->value_len && !x->value)
			return coffer_error_set(COFFER_EINVALID, "%s: extended attribute %s has no value", context,
			                        x->name);
		if (i > 0 && strcmp(e->xattrs[i - 1].name, x->name) >= 0)
			return coffer_error_set(COFFER_EINVALID,
			                        "%s: extended attributes not sorted or repeated (%s)", context, x->name);
	}
	return object_check(&e->content, context);
}

static void put_xattrs_field(writer *w, const coffer_dirent *e)
{
	size_t payload = varint_size(e->xattr_count);

	if (e->xattr_count == 0)
		return;
	for (size_t i = 0; i < e->xattr_count; i++) {
		size_t name_len = strlen(e->xattrs[i].name);
		payload += varint_size(name_len) + name_len + varint_size(e->xattrs[i].value_len) +
		           e->xattrs[i].value_len;
	}
	put_tag(w, DIRENT_XATTRS, WIRE_BYTES);
	put_varint(w, payload);
	put_varint(w, e->xattr_count);
	for (size_t i = 0; i < e->xattr_count; i++) {
		size_t name_len = strlen(e->xattrs[i].name);
		put_varint(w, name_len);
		put_bytes(w, e->xattrs[i].name, name_len);
		put_varint(w, e->xattrs[i].value_len);
		put_bytes(w, e->xattrs[i].value, e->xattrs[i].value_len);
	}
}

static void put_dirent_body(writer *w, const coffer_dirent *e)
{
	put_bytes_field(w, DIRENT_NAME, e->name, dirent_name_len(e));
	put_uint_field(w, DIRENT_TYPE, (uint64_t)e->type);
	put_uint_field(w, DIRENT_MODE, e->mode);
	put_uint_field(w, DIRENT_UID, e->uid);
	put_uint_field(w, DIRENT_GID, e->gid);
	put_string_field(w, DIRENT_USER, e->user);
	put_string_field(w, DIRENT_GROUP, e->group);
	put_uint_field(w, DIRENT_MTIME, zigzag_encode(e->mtime_ns));
	put_uint_field(w, DIRENT_SIZE, e->size);
	put_string_field(w, DIRENT_LINK_TARGET, e->link_target);
	put_uint_field(w, DIRENT_RDEV, e->rdev);
	put_uint_field(w, DIRENT_HARDLINK_GROUP, e->hardlink_group);
	put_uint_field(w, DIRENT_FLAGS, e->flags);
	put_xattrs_field(w, e);
	put_object_field(w, DIRENT_CONTENT, &e->content);
}

/* A cheap, stable hash of an entry name that picks piece boundaries. */
static uint64_t name_cut_hash(const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

typedef struct piece_list {
	size_t *ends;
	size_t count, cap;
	size_t start;   /* where the current piece begins */
} piece_list;

static int piece_cut(piece_list *p, size_t end)
{
	if (p->count == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		size_t *bigger = coffer_realloc(p->ends, cap * sizeof(*bigger));
		if (!bigger)
			return COFFER_ENOMEM;
		p->ends = bigger;
		p->cap = cap;
	}
	p->ends[p->count++] = end;
	p->start = end;
	return 0;
}

/* Records the cuts after an entry that ends at `entry_end` and began at `entry_start`. */
static int piece_after_entry(piece_list *p, size_t entry_start, size_t entry_end, uint64_t name_hash)
{
	int rc;

	/* Prefer a boundary before an entry that would overflow the piece to a cut inside it. */
	if (entry_end - p->start > COFFER_DIR_PIECE_MAX && entry_start > p->start &&
	    (rc = piece_cut(p, entry_start)))
		return rc;
	while (entry_end - p->start > COFFER_DIR_PIECE_MAX)
		if ((rc = piece_cut(p, p->start + COFFER_DIR_PIECE_MAX)))
			return rc;
	if (entry_end - p->start >= PIECE_MIN && (name_hash & PIECE_CUT_MASK) == 0)
		return piece_cut(p, entry_end);
	return 0;
}

int coffer_dir_encode_pieces(const coffer_dir *d, coffer_buf *out, size_t **piece_ends, size_t *piece_count)
{
	writer w = { out, 0, 0 };
	piece_list pieces = { NULL, 0, 0, 0 };
	size_t base = out->len;
	int rc;

	if (piece_ends)
		*piece_ends = NULL;
	if (piece_count)
		*piece_count = 0;
	if (d->count && !d->entries)
		return coffer_error_set(COFFER_EINVALID, "directory listing: %zu entries but no entry array", d->count);
	for (size_t i = 0; i < d->count; i++) {
		if ((rc = dirent_check(&d->entries[i], i)))
			return rc;
		if (i > 0 && name_compare(d->entries[i - 1].name, dirent_name_len(&d->entries[i - 1]),
		                          d->entries[i].name, dirent_name_len(&d->entries[i])) >= 0)
			return coffer_error_set(COFFER_EINVALID,
			                        "directory listing: entry %zu is not sorted after the one before it, "
			                        "or repeats its name",
			                        i);
	}
	pieces.start = base;
	put_bytes(&w, dir_magic, sizeof(dir_magic));
	uint8_t version = TREE_FORMAT_VERSION;
	put_bytes(&w, &version, 1);
	put_varint(&w, d->count);
	for (size_t i = 0; i < d->count && !w.rc; i++) {
		const coffer_dirent *e = &d->entries[i];
		writer counter = { NULL, 0, 0 };
		size_t entry_start = out->len;

		put_dirent_body(&counter, e);
		put_varint(&w, counter.counted);
		put_dirent_body(&w, e);
		if (!w.rc && piece_ends)
			w.rc = piece_after_entry(&pieces, entry_start, out->len,
			                         name_cut_hash(e->name, dirent_name_len(e)));
	}
	if (!w.rc && piece_ends && (pieces.count == 0 || pieces.start < out->len))
		w.rc = piece_cut(&pieces, out->len);
	if (w.rc) {
		coffer_free(pieces.ends);
		out->len = base;
		return w.rc;
	}
	if (piece_ends) {
		for (size_t i = 0; i < pieces.count; i++)
			pieces.ends[i] -= base;
		*piece_ends = pieces.ends;
		*piece_count = pieces.count;
	}
	return 0;
}

int coffer_dir_encode(const coffer_dir *d, coffer_buf *out)
{
	return coffer_dir_encode_pieces(d, out, NULL, NULL);
}

static int get_xattrs_field(reader *r, const field_header *f, coffer_dirent *e)
{
	const uint8_t *p = NULL;
	size_t n, at;
	uint64_t count;
	int rc;

	if ((rc = get_bytes_field(r, f, &p, &n, &at, "extended attributes")))
		return rc;
	reader sub = { r->data, at, at + n, r->what, 0 };
	if ((rc = get_varint(&sub, &count, "extended attribute count")))
		return rc;
	if (count == 0)
		return corrupt_at(r, at, "extended attributes field with none");
	if (count > remaining(&sub) / XATTR_MIN_BYTES)
		return corrupt_at(r, at, "extended attribute count %llu exceeds what %zu bytes can hold",
		                  (unsigned long long)count, remaining(&sub));
	e->xattrs = coffer_calloc((size_t)count, sizeof(*e->xattrs));
	if (!e->xattrs)
		return COFFER_ENOMEM;
	for (e->xattr_count = 0; e->xattr_count < count;) {
		coffer_xattr *x = &e->xattrs[e->xattr_count];
		size_t name_at = sub.pos, name_len, value_len;
		const uint8_t *name = NULL, *value = NULL;

		if ((rc = get_length(&sub, &name_len, "extended attribute name")) ||
		    (rc = get_raw(&sub, name_len, &name, "extended attribute name")))
			return rc;
		if (name_len == 0)
			return corrupt_at(r, name_at, "empty extended attribute name");
		if (memchr(name, 0, name_len))
			return corrupt_at(r, name_at, "NUL byte in extended attribute name");
		if (e->xattr_count > 0) {
			const char *prev = e->xattrs[e->xattr_count - 1].name;
			if (name_compare(prev, strlen(prev), (const char *)name, name_len) >= 0)
				return corrupt_at(r, name_at, "extended attributes not sorted or repeated");
		}
		if ((rc = get_length(&sub, &value_len, "extended attribute value")) ||
		    (rc = get_raw(&sub, value_len, &value, "extended attribute value")))
			return rc;
		x->name = coffer_malloc(name_len + 1);
		x->value = coffer_malloc(value_len);
		e->xattr_count++;  /* owned from here, so a failure frees them */
		if (!x->name || !x->value)
			return COFFER_ENOMEM;
		memcpy(x->name, name, name_len);
		x->name[name_len] = '\0';
		if (value_len)
			memcpy(x->value, value, value_len);
		x->value_len = value_len;
	}
	if (remaining(&sub))
		return corrupt_at(r, sub.pos, "%zu trailing bytes in extended attributes", remaining(&sub));
	return 0;
}

static int get_dirent(reader *r, size_t entry_offset, coffer_dirent *e)
{
	uint64_t last = 0, v;
	field_header f;
	int rc;

	while (remaining(r)) {
		if ((rc = get_field_header(r, &last, &f)))
			return rc;
		switch (f.number) {
		case DIRENT_NAME: {
			const uint8_t *p = NULL;
			size_t n, at;
			const char *problem;
			if ((rc = get_bytes_field(r, &f, &p, &n, &at, "name")))
				return rc;
			if ((problem = name_problem(p, n)))
				return corrupt_at(r, at, "%s", problem);
			if ((rc = copy_string(r, at, p, n, &e->name, "name")))
				return rc;
			e->name_len = n;
			break;
		}
		case DIRENT_TYPE:
			if ((rc = get_uint_field(r, &f, UINT32_MAX, &v, "type")))
				return rc;
			if (!type_known(v))
				return corrupt_at(r, f.offset, "unknown entry type %llu", (unsigned long long)v);
			e->type = (coffer_entry_type)v;
			break;
		case DIRENT_MODE:
			if ((rc = get_uint_field(r, &f, PERMISSION_BITS, &v, "mode")))
				return rc;
			e->mode = (uint32_t)v;
			break;
		case DIRENT_UID:
			if ((rc = get_uint_field(r, &f, UINT32_MAX, &v, "uid")))
				return rc;
			e->uid = (uint32_t)v;
			break;
		case DIRENT_GID:
			if ((rc = get_uint_field(r, &f, UINT32_MAX, &v, "gid")))
				return rc;
			e->gid = (uint32_t)v;
			break;
		case DIRENT_USER:
			if ((rc = get_string_field(r, &f, &e->user, "user name")))
				return rc;
			break;
		case DIRENT_GROUP:
			if ((rc = get_string_field(r, &f, &e->group, "group name")))
				return rc;
			break;
		case DIRENT_MTIME:
			if ((rc = get_time_field(r, &f, &e->mtime_ns, "mtime")))
				return rc;
			break;
		case DIRENT_SIZE:
			if ((rc = get_uint_field(r, &f, UINT64_MAX, &e->size, "size")))
				return rc;
			break;
		case DIRENT_LINK_TARGET:
			if ((rc = get_string_field(r, &f, &e->link_target, "link target")))
				return rc;
			break;
		case DIRENT_RDEV:
			if ((rc = get_uint_field(r, &f, UINT64_MAX, &e->rdev, "device number")))
				return rc;
			break;
		case DIRENT_HARDLINK_GROUP:
			if ((rc = get_uint_field(r, &f, UINT64_MAX, &e->hardlink_group, "hard-link group")))
				return rc;
			break;
		case DIRENT_FLAGS:
			if ((rc = get_uint_field(r, &f, UINT32_MAX, &v, "flags")))
				return rc;
			e->flags = (uint32_t)v;
			break;
		case DIRENT_XATTRS:
			if ((rc = get_xattrs_field(r, &f, e)))
				return rc;
			break;
		case DIRENT_CONTENT:
			if ((rc = get_object_field(r, &f, &e->content, "content")))
				return rc;
			break;
		default:
			if ((rc = skip_unknown_field(r, &f)))
				return rc;
			break;
		}
	}
	if (!e->name)
		return corrupt_at(r, entry_offset, "entry without a name");
	if (!e->type)
		return corrupt_at(r, entry_offset, "entry without a type");
	if (e->type == COFFER_ENTRY_SYMLINK && !e->link_target)
		return corrupt_at(r, entry_offset, "symbolic link without a target");
	if (e->type != COFFER_ENTRY_SYMLINK && e->link_target)
		return corrupt_at(r, entry_offset, "link target on a non-symlink");
	if (e->rdev && !type_is_device((uint64_t)e->type))
		return corrupt_at(r, entry_offset, "device number on a non-device");
	if (e->hardlink_group && e->type == COFFER_ENTRY_DIR)
		return corrupt_at(r, entry_offset, "hard-link group on a directory");
	if (e->content.count && !type_has_content((uint64_t)e->type))
		return corrupt_at(r, entry_offset, "content on an entry that is not a file or directory");
	return 0;
}

/* Grows the entry array as entries are decoded, so a false count allocates nothing. */
static int dir_reserve(coffer_dir *d, size_t *cap, uint64_t declared)
{
	if (d->count < *cap)
		return 0;
	size_t want = *cap ? *cap * 2 : 64;
	if (want > declared)
		want = (size_t)declared;
	coffer_dirent *bigger = coffer_realloc(d->entries, want * sizeof(*bigger));
	if (!bigger)
		return COFFER_ENOMEM;
	memset(bigger + *cap, 0, (want - *cap) * sizeof(*bigger));
	d->entries = bigger;
	*cap = want;
	return 0;
}

static int dir_decode(const uint8_t *data, size_t len, coffer_dir *out, size_t *skipped_fields)
{
	reader r = { data, 0, len, "directory listing", 0 };
	uint64_t count;
	size_t cap = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_header(&r, dir_magic)))
		return rc;
	size_t count_at = r.pos;
	if ((rc = get_varint(&r, &count, "entry count")))
		return rc;
	if (count > remaining(&r) / MIN_ENTRY_BYTES)
		return corrupt_at(&r, count_at, "entry count %llu exceeds what the %zu bytes left can hold",
		                  (unsigned long long)count, remaining(&r));
	while (out->count < count) {
		size_t entry_at = r.pos, n;
		if ((rc = dir_reserve(out, &cap, count)))
			break;
		if ((rc = get_length(&r, &n, "entry")))
			break;
		if (n == 0) {
			rc = corrupt_at(&r, entry_at, "empty entry");
			break;
		}
		reader sub = sub_reader(&r, n);
		coffer_dirent *e = &out->entries[out->count++];  /* counted now, so a failure frees it */
		rc = get_dirent(&sub, entry_at, e);
		r.skipped_fields += sub.skipped_fields;
		if (rc)
			break;
		if (out->count > 1) {
			const coffer_dirent *prev = &out->entries[out->count - 2];
			if (name_compare(prev->name, prev->name_len, e->name, e->name_len) >= 0) {
				rc = corrupt_at(&r, entry_at, "entry names not sorted or repeated");
				break;
			}
		}
	}
	if (!rc && remaining(&r))
		rc = corrupt_at(&r, r.pos, "%zu trailing bytes", remaining(&r));
	if (rc) {
		coffer_dir_clear(out);
		return rc;
	}
	if (skipped_fields)
		*skipped_fields = r.skipped_fields;
	return 0;
}

int coffer_dir_decode(const uint8_t *data, size_t len, coffer_dir *out)
{
	return dir_decode(data, len, out, NULL);
}

int coffer_dir_decode_ex(const uint8_t *data, size_t len, coffer_dir *out, size_t *skipped_fields)
{
	return dir_decode(data, len, out, skipped_fields);
}

/* ------------------------------------------------------------------ manifests */

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lower-case hex only: ids and keys are always written that way. */
static int hex_to_bytes(uint8_t *out, const char *hex, size_t out_len)
{
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_digit((unsigned char)hex[2 * i]), lo = hi < 0 ? -1 : hex_digit((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static void bytes_to_hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static uint64_t *stats_field(coffer_snapshot_stats *s, size_t i)
{
	uint64_t *fields[STATS_FIELD_COUNT] = { &s->files, &s->dirs, &s->symlinks, &s->others,
	                                              &s->bytes, &s->read_bytes, &s->new_bytes,
	                                              &s->stored_bytes, &s->cached_files, &s->errors };
	return fields[i];
}

static void put_stats_field(writer *w, const coffer_snapshot_stats *stats)
{
	coffer_snapshot_stats copy = *stats;
	coffer_snapshot_stats *s = &copy;
	size_t payload = 0;

	for (size_t i = 0; i < STATS_FIELD_COUNT; i++) {
		uint64_t v = *stats_field(s, i);
		if (v)
			payload += varint_size(((uint64_t)(i + 1)) << 1) + varint_size(v);
	}
	if (payload == 0)
		return;
	put_tag(w, MANIFEST_STATS, WIRE_BYTES);
	put_varint(w, payload);
	for (size_t i = 0; i < STATS_FIELD_COUNT; i++)
		put_uint_field(w, (unsigned int)(i + 1), *stats_field(s, i));
}

static void put_tags_field(writer *w, const coffer_snapshot_info *info)
{
	size_t payload = varint_size(info->tag_count);

	if (info->tag_count == 0)
		return;
	for (size_t i = 0; i < info->tag_count; i++) {
		size_t k = strlen(info->tags[i].key), v = info->tags[i].value ? strlen(info->tags[i].value) : 0;
		payload += varint_size(k) + k + varint_size(v) + v;
	}
	put_tag(w, MANIFEST_TAGS, WIRE_BYTES);
	put_varint(w, payload);
	put_varint(w, info->tag_count);
	for (size_t i = 0; i < info->tag_count; i++) {
		size_t k = strlen(info->tags[i].key), v = info->tags[i].value ? strlen(info->tags[i].value) : 0;
		put_varint(w, k);
		put_bytes(w, info->tags[i].key, k);
		put_varint(w, v);
		put_bytes(w, info->tags[i].value, v);
	}
}

int coffer_manifest_encode(const coffer_manifest *m, coffer_buf *out)
{
	const coffer_snapshot_info *info = &m->info;
	uint8_t id[SNAPSHOT_ID_BYTES];
	writer w = { out, 0, 0 };
	size_t base = out->len;
	int rc;

	if (strlen(info->id) != COFFER_SNAPSHOT_ID_HEX || hex_to_bytes(id, info->id, sizeof(id)))
		return coffer_error_set(COFFER_EINVALID, "snapshot manifest: id \"%s\" is not %d lower-case hex digits",
		                        info->id, COFFER_SNAPSHOT_ID_HEX);
	if (!info->source || !info->source[0])
		return coffer_error_set(COFFER_EINVALID, "snapshot manifest: no source");
	if (info->tag_count && !info->tags)
		return coffer_error_set(COFFER_EINVALID, "snapshot manifest: tag count without tags");
	for (size_t i = 0; i < info->tag_count; i++)
		if (!info->tags[i].key || !info->tags[i].key[0])
			return coffer_error_set(COFFER_EINVALID, "snapshot manifest: tag %zu has no key", i);
	if (m->root_mode & ~PERMISSION_BITS)
		return coffer_error_set(COFFER_EINVALID, "snapshot manifest: root mode 0%o has bits beyond 07777",
		                        (unsigned)m->root_mode);
	if ((rc = object_check(&m->root, "snapshot manifest: root")))
		return rc;

	put_bytes(&w, manifest_magic, sizeof(manifest_magic));
	uint8_t version = TREE_FORMAT_VERSION;
	put_bytes(&w, &version, 1);
	put_bytes_field(&w, MANIFEST_ID, id, sizeof(id));
	put_string_field(&w, MANIFEST_SOURCE, info->source);
	put_uint_field(&w, MANIFEST_START_TIME, zigzag_encode(info->start_time_ns));
	put_uint_field(&w, MANIFEST_END_TIME, zigzag_encode(info->end_time_ns));
	put_uint_field(&w, MANIFEST_INCOMPLETE, info->incomplete ? 1 : 0);
	put_uint_field(&w, MANIFEST_PINNED, info->pinned ? 1 : 0);
	put_tags_field(&w, info);
	put_string_field(&w, MANIFEST_TOOL_VERSION, info->tool_version);
	put_stats_field(&w, &info->stats);
	put_object_field(&w, MANIFEST_ROOT, &m->root);
	put_uint_field(&w, MANIFEST_ROOT_MODE, m->root_mode);
	put_uint_field(&w, MANIFEST_ROOT_UID, m->root_uid);
	put_uint_field(&w, MANIFEST_ROOT_GID, m->root_gid);
	put_uint_field(&w, MANIFEST_ROOT_MTIME, zigzag_encode(m->root_mtime_ns));
	if (w.rc)
		out->len = base;
	return w.rc;
}

static int get_stats_field(reader *r, const field_header *f, coffer_snapshot_stats *s)
{
	const uint8_t *p = NULL;
	size_t n, at;
	uint64_t last = 0, v;
	field_header sf;
	int rc;

	if ((rc = get_bytes_field(r, f, &p, &n, &at, "stats")))
		return rc;
	reader sub = { r->data, at, at + n, r->what, 0 };
	while (remaining(&sub)) {
		if ((rc = get_field_header(&sub, &last, &sf)))
			return rc;
		if (sf.number > STATS_FIELD_COUNT) {
			rc = skip_unknown_field(&sub, &sf);
			r->skipped_fields += sub.skipped_fields;
			sub.skipped_fields = 0;
			if (rc)
				return rc;
			continue;
		}
		if ((rc = get_uint_field(&sub, &sf, UINT64_MAX, &v, "statistic")))
			return rc;
		*stats_field(s, (size_t)sf.number - 1) = v;
	}
	return 0;
}

static int get_tags_field(reader *r, const field_header *f, coffer_snapshot_info *info)
{
	const uint8_t *p = NULL;
	size_t n, at;
	uint64_t count;
	int rc;

	if ((rc = get_bytes_field(r, f, &p, &n, &at, "tags")))
		return rc;
	reader sub = { r->data, at, at + n, r->what, 0 };
	if ((rc = get_varint(&sub, &count, "tag count")))
		return rc;
	if (count == 0)
		return corrupt_at(r, at, "tags field with none");
	if (count > remaining(&sub) / TAG_MIN_BYTES)
		return corrupt_at(r, at, "tag count %llu exceeds what %zu bytes can hold", (unsigned long long)count,
		                  remaining(&sub));
	info->tags = coffer_calloc((size_t)count, sizeof(*info->tags));
	if (!info->tags)
		return COFFER_ENOMEM;
	for (info->tag_count = 0; info->tag_count < count;) {
		coffer_tag *t = &info->tags[info->tag_count++];
		size_t key_at = sub.pos, key_len, value_at, value_len;
		const uint8_t *key = NULL, *value = NULL;

		if ((rc = get_length(&sub, &key_len, "tag key")) || (rc = get_raw(&sub, key_len, &key, "tag key")))
			return rc;
		if ((rc = copy_string(r, key_at, key, key_len, &t->key, "tag key")))
			return rc;
		value_at = sub.pos;
		if ((rc = get_length(&sub, &value_len, "tag value")) ||
		    (rc = get_raw(&sub, value_len, &value, "tag value")))
			return rc;
		if (value_len == 0)
			t->value = coffer_strdup("");
		else if ((rc = copy_string(r, value_at, value, value_len, &t->value, "tag value")))
			return rc;
		if (!t->value)
			return COFFER_ENOMEM;
	}
	if (remaining(&sub))
		return corrupt_at(r, sub.pos, "%zu trailing bytes in tags", remaining(&sub));
	return 0;
}

static int manifest_decode(const uint8_t *data, size_t len, coffer_manifest *out, size_t *skipped_fields)
{
	reader r = { data, 0, len, "snapshot manifest", 0 };
	uint64_t last = 0, v;
	field_header f;
	int have_id = 0, rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_header(&r, manifest_magic)))
		return rc;
	while (!rc && remaining(&r)) {
		if ((rc = get_field_header(&r, &last, &f)))
			break;
		switch (f.number) {
		case MANIFEST_ID: {
			const uint8_t *p = NULL;
			size_t n, at;
			if ((rc = get_bytes_field(&r, &f, &p, &n, &at, "id")))
				break;
			if (n != SNAPSHOT_ID_BYTES) {
				rc = corrupt_at(&r, at, "id of %zu bytes", n);
				break;
			}
			bytes_to_hex(out->info.id, p, n);
			have_id = 1;
			break;
		}
		case MANIFEST_SOURCE:
			rc = get_string_field(&r, &f, &out->info.source, "source");
			break;
		case MANIFEST_START_TIME:
			rc = get_time_field(&r, &f, &out->info.start_time_ns, "start time");
			break;
		case MANIFEST_END_TIME:
			rc = get_time_field(&r, &f, &out->info.end_time_ns, "end time");
			break;
		case MANIFEST_INCOMPLETE:
			if (!(rc = get_uint_field(&r, &f, 1, &v, "incomplete flag")))
				out->info.incomplete = 1;
			break;
		case MANIFEST_PINNED:
			if (!(rc = get_uint_field(&r, &f, 1, &v, "pinned flag")))
				out->info.pinned = 1;
			break;
		case MANIFEST_TAGS:
			rc = get_tags_field(&r, &f, &out->info);
			break;
		case MANIFEST_TOOL_VERSION:
			rc = get_string_field(&r, &f, &out->info.tool_version, "tool version");
			break;
		case MANIFEST_STATS:
			rc = get_stats_field(&r, &f, &out->info.stats);
			break;
		case MANIFEST_ROOT:
			rc = get_object_field(&r, &f, &out->root, "root");
			break;
		case MANIFEST_ROOT_MODE:
			if (!(rc = get_uint_field(&r, &f, PERMISSION_BITS, &v, "root mode")))
				out->root_mode = (uint32_t)v;
			break;
		case MANIFEST_ROOT_UID:
			if (!(rc = get_uint_field(&r, &f, UINT32_MAX, &v, "root uid")))
				out->root_uid = (uint32_t)v;
			break;
		case MANIFEST_ROOT_GID:
			if (!(rc = get_uint_field(&r, &f, UINT32_MAX, &v, "root gid")))
				out->root_gid = (uint32_t)v;
			break;
		case MANIFEST_ROOT_MTIME:
			rc = get_time_field(&r, &f, &out->root_mtime_ns, "root mtime");
			break;
		default:
			rc = skip_unknown_field(&r, &f);
			break;
		}
	}
	if (!rc && !have_id)
		rc = corrupt_at(&r, len, "no id");
	if (!rc && !out->info.source)
		rc = corrupt_at(&r, len, "no source");
	if (rc) {
		coffer_manifest_clear(out);
		return rc;
	}
	if (skipped_fields)
		*skipped_fields = r.skipped_fields;
	return 0;
}

int coffer_manifest_decode(const uint8_t *data, size_t len, coffer_manifest *out)
{
	return manifest_decode(data, len, out, NULL);
}

int coffer_manifest_decode_ex(const uint8_t *data, size_t len, coffer_manifest *out, size_t *skipped_fields)
{
	return manifest_decode(data, len, out, skipped_fields);
}

/* ------------------------------------------------------------------ manifest names */

int coffer_manifest_name_format(char *out, size_t cap, const char *source_key, int64_t start_time_ns,
                                const char *id)
{
	if (start_time_ns < 0)
		return coffer_error_set(COFFER_EINVALID, "snapshot start time %lld is before 1970",
		                        (long long)start_time_ns);
	int n = snprintf(out, cap, "snapshots/%s/%016llx-%s", source_key, (unsigned long long)start_time_ns, id);
	if (n < 0 || (size_t)n >= cap)
		return coffer_error_set(COFFER_EINVALID, "snapshot manifest name too long");
	return 0;
}

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (hex_digit((unsigned char)s[i]) < 0)
			return 0;
	return 1;
}

int coffer_manifest_name_parse(const char *name, char source_key[COFFER_MANIFEST_SOURCE_KEY_HEX + 1],
                               int64_t *start_time_ns, char id[COFFER_SNAPSHOT_ID_HEX + 1])
{
	static const char prefix[] = "snapshots/";
	const size_t key_len = COFFER_MANIFEST_SOURCE_KEY_HEX, time_len = 16;
	const size_t total = sizeof(prefix) - 1 + key_len + 1 + time_len + 1 + COFFER_SNAPSHOT_ID_HEX;
	const char *p = name + sizeof(prefix) - 1;

	if (strlen(name) != total || memcmp(name, prefix, sizeof(prefix) - 1) != 0 || !all_hex(p, key_len) ||
	    p[key_len] != '/' || !all_hex(p + key_len + 1, time_len) || p[key_len + 1 + time_len] != '-' ||
	    !all_hex(p + key_len + 2 + time_len, COFFER_SNAPSHOT_ID_HEX))
		return coffer_error_set(COFFER_EINVALID, "\"%s\" is not a snapshot manifest name", name);
	uint64_t t = 0;
	for (size_t i = 0; i < time_len; i++)
		t = t << 4 | (uint64_t)hex_digit((unsigned char)p[key_len + 1 + i]);
	if (t > INT64_MAX)
		return coffer_error_set(COFFER_EINVALID, "\"%s\": start time out of range", name);
	if (source_key) {
		memcpy(source_key, p, key_len);
		source_key[key_len] = '\0';
	}
	if (start_time_ns)
		*start_time_ns = (int64_t)t;
	if (id) {
		memcpy(id, p + key_len + 2 + time_len, COFFER_SNAPSHOT_ID_HEX);
		id[COFFER_SNAPSHOT_ID_HEX] = '\0';
	}
	return 0;
}
