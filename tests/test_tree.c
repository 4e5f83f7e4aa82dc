/* Directory listing and manifest encodings: round trips of every field and entry type,
 * determinism, piece cuts, and the strict decoder against truncation, bit flips and
 * hand-made hostile inputs. */
#include "config.h"

#include <stdint.h>
#include <time.h>

#include "testlib.h"
#include "../core/src/tree.h"

/* ---------------------------------------------------------------- building listings */

static char *dup_bytes(const void *p, size_t n)
{
	char *s = coffer_malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void set_name(coffer_dirent *e, const void *name, size_t len)
{
	e->name = dup_bytes(name, len);
	e->name_len = len;
}

static void set_content(coffer_object *o, size_t count, uint8_t seed)
{
	o->chunks = coffer_malloc(count * sizeof(*o->chunks));
	o->sizes = coffer_malloc(count * sizeof(*o->sizes));
	ck_assert(o->chunks && o->sizes);
	for (size_t i = 0; i < count; i++) {
		for (size_t b = 0; b < COFFER_CRYPTO_ID_SIZE; b++)
			o->chunks[i].bytes[b] = (uint8_t)(seed * 31 + i * 7 + b);
		o->sizes[i] = (uint32_t)(1 + i * 100000 + seed);
	}
	o->count = count;
}

static void add_xattr(coffer_dirent *e, const char *name, const void *value, size_t value_len)
{
	coffer_xattr *x = coffer_realloc(e->xattrs, (e->xattr_count + 1) * sizeof(*x));
	ck_assert_ptr_nonnull(x);
	e->xattrs = x;
	x = &e->xattrs[e->xattr_count++];
	x->name = coffer_strdup(name);
	x->value = coffer_malloc(value_len);
	memcpy(x->value, value, value_len);
	x->value_len = value_len;
}

static coffer_dirent *dir_add(coffer_dir *d)
{
	coffer_dirent *bigger = coffer_realloc(d->entries, (d->count + 1) * sizeof(*bigger));
	ck_assert_ptr_nonnull(bigger);
	d->entries = bigger;
	memset(&d->entries[d->count], 0, sizeof(d->entries[0]));
	return &d->entries[d->count++];
}

/* One entry of every type with every field its type allows, names sorted. */
static void build_full_dir(coffer_dir *d)
{
	static const uint8_t acl[] = { 2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff };
	coffer_dirent *e;

	memset(d, 0, sizeof(*d));
	e = dir_add(d);  /* "blk" */
	set_name(e, "blk", 3);
	e->type = COFFER_ENTRY_BLOCKDEV;
	e->mode = 0660;
	e->gid = 6;
	e->group = coffer_strdup("disk");
	e->rdev = ((uint64_t)8 << 8) | 1;
	e->mtime_ns = 1700000000123456789LL;

	e = dir_add(d);  /* "chr" */
	set_name(e, "chr", 3);
	e->type = COFFER_ENTRY_CHARDEV;
	e->mode = 0666;
	e->rdev = UINT64_MAX;

	e = dir_add(d);  /* "dir" */
	set_name(e, "dir", 3);
	e->type = COFFER_ENTRY_DIR;
	e->mode = 01777;
	e->uid = 1000;
	e->gid = 1000;
	e->user = coffer_strdup("alice");
	e->group = coffer_strdup("users");
	e->mtime_ns = -1;  /* before the epoch */
	set_content(&e->content, 1, 9);
	add_xattr(e, "system.posix_acl_default", acl, sizeof(acl));

	e = dir_add(d);  /* "fifo" */
	set_name(e, "fifo", 4);
	e->type = COFFER_ENTRY_FIFO;
	e->mode = 0600;
	e->uid = UINT32_MAX;
	e->gid = UINT32_MAX;
	e->mtime_ns = INT64_MIN;

	e = dir_add(d);  /* "file" */
	set_name(e, "file", 4);
	e->type = COFFER_ENTRY_FILE;
	e->mode = 04755;
	e->uid = 0;
	e->gid = 0;
	e->user = coffer_strdup("root");
	e->group = coffer_strdup("root");
	e->mtime_ns = INT64_MAX;
	e->size = 300003 + 3 * 4;
	e->hardlink_group = 42;
	e->flags = COFFER_DIRENT_SPARSE;
	set_content(&e->content, 3, 4);
	add_xattr(e, "security.capability", "\x01\x00\x00\x02", 4);
	add_xattr(e, "user.binary", "\x00\xff\x00", 3);
	add_xattr(e, "user.empty", "", 0);

	e = dir_add(d);  /* "sock" */
	set_name(e, "sock", 4);
	e->type = COFFER_ENTRY_SOCKET;
	e->mode = 0755;

	e = dir_add(d);  /* "zlink" */
	set_name(e, "zlink", 5);
	e->type = COFFER_ENTRY_SYMLINK;
	e->mode = 0777;
	e->link_target = coffer_strdup("../some/where \xe9\x80");
	e->size = 17;
}

/* Field-by-field equality without an assertion per field (each Check assertion costs a
 * system call, which would dominate the timing of big listings). */
static int strings_equal(const char *a, const char *b)
{
	return (!a || !b) ? a == b : strcmp(a, b) == 0;
}

static int objects_equal(const coffer_object *a, const coffer_object *b)
{
	if (a->count != b->count)
		return 0;
	for (size_t i = 0; i < a->count; i++)
		if (memcmp(a->chunks[i].bytes, b->chunks[i].bytes, COFFER_CRYPTO_ID_SIZE) || a->sizes[i] != b->sizes[i])
			return 0;
	return 1;
}

static const char *dirent_difference(const coffer_dirent *a, const coffer_dirent *b)
{
	if (a->name_len != b->name_len || memcmp(a->name, b->name, a->name_len) || b->name[b->name_len])
		return "name";
	if (a->type != b->type || a->mode != b->mode || a->uid != b->uid || a->gid != b->gid)
		return "type, mode or owner";
	if (!strings_equal(a->user, b->user) || !strings_equal(a->group, b->group))
		return "owner names";
	if (a->mtime_ns != b->mtime_ns || a->size != b->size || a->rdev != b->rdev)
		return "mtime, size or rdev";
	if (!strings_equal(a->link_target, b->link_target))
		return "link target";
	if (a->hardlink_group != b->hardlink_group || a->flags != b->flags)
		return "hard-link group or flags";
	if (a->xattr_count != b->xattr_count)
		return "xattr count";
	for (size_t i = 0; i < a->xattr_count; i++)
		if (strcmp(a->xattrs[i].name, b->xattrs[i].name) || a->xattrs[i].value_len != b->xattrs[i].value_len ||
		    (a->xattrs[i].value_len && memcmp(a->xattrs[i].value, b->xattrs[i].value, a->xattrs[i].value_len)))
			return "xattrs";
	if (!objects_equal(&a->content, &b->content))
		return "content";
	return NULL;
}

static void assert_object_eq(const coffer_object *a, const coffer_object *b)
{
	ck_assert(objects_equal(a, b));
}

static void assert_strings_eq(const char *a, const char *b)
{
	ck_assert_msg(strings_equal(a, b), "\"%s\" != \"%s\"", a ? a : "(null)", b ? b : "(null)");
}

static void assert_dir_eq(const coffer_dir *a, const coffer_dir *b)
{
	ck_assert_uint_eq(a->count, b->count);
	for (size_t i = 0; i < a->count; i++) {
		const char *what = dirent_difference(&a->entries[i], &b->entries[i]);
		if (what)
			ck_abort_msg("entry %zu differs in %s", i, what);
	}
}

/* Encodes, decodes, compares, and checks that re-encoding gives the same bytes. */
static void round_trip(const coffer_dir *d, coffer_buf *encoded_out)
{
	coffer_buf first = COFFER_BUF_INIT, second = COFFER_BUF_INIT;
	coffer_dir back;
	size_t skipped = 99;

	ck_assert_coffer_ok(coffer_dir_encode(d, &first));
	ck_assert_coffer_ok(coffer_dir_decode_ex(first.data, first.len, &back, &skipped));
	ck_assert_uint_eq(skipped, 0);
	assert_dir_eq(d, &back);
	ck_assert_coffer_ok(coffer_dir_encode(&back, &second));
	ck_assert_uint_eq(first.len, second.len);
	ck_assert_mem_eq(first.data, second.data, first.len);
	coffer_dir_clear(&back);
	coffer_buf_free(&second);
	if (encoded_out)
		*encoded_out = first;
	else
		coffer_buf_free(&first);
}

/* ---------------------------------------------------------------- round trips */

START_TEST(every_field_and_type_round_trips)
{
	coffer_dir d;
	coffer_buf enc;

	build_full_dir(&d);
	round_trip(&d, &enc);
	/* The leading magic and version are what docs/FORMAT.md says. */
	ck_assert_mem_eq(enc.data, "CDIR\x01\x07", 6);
	coffer_buf_free(&enc);
	coffer_dir_clear(&d);
	ck_assert_ptr_null(d.entries);
}
END_TEST

START_TEST(empty_listing_round_trips)
{
	coffer_dir d = { NULL, 0 };
	coffer_buf enc;

	round_trip(&d, &enc);
	ck_assert_uint_eq(enc.len, 6);
	coffer_buf_free(&enc);
}
END_TEST

START_TEST(odd_names_round_trip_in_byte_order)
{
	/* Sorted by bytes: a prefix first, high bytes after ASCII. */
	static const char *names[] = { "\x01", " leading space", "-", "...", ".hidden", "A", "a", "a\n",
	                               "a b", "ab", "\x7f", "\x80\x81 not utf-8", "\xc3\xa9t\xc3\xa9", "\xff" };
	coffer_dir d = { NULL, 0 };
	char long_name[255];

	memset(long_name, 'x', sizeof(long_name));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		coffer_dirent *e = dir_add(&d);
		set_name(e, names[i], strlen(names[i]));
		e->type = COFFER_ENTRY_FILE;
	}
	/* 255 bytes: the longest name Linux allows; goes between "\xc3.." and "\xff". */
	coffer_dirent *e = dir_add(&d);
	set_name(e, long_name, sizeof(long_name));
	e->type = COFFER_ENTRY_DIR;
	coffer_dirent tmp = d.entries[d.count - 1];
	size_t pos = 0;
	while (pos < d.count - 1 && memcmp(d.entries[pos].name, "x", 1) < 0)
		pos++;
	memmove(&d.entries[pos + 1], &d.entries[pos], (d.count - 1 - pos) * sizeof(tmp));
	d.entries[pos] = tmp;
	round_trip(&d, NULL);
	coffer_dir_clear(&d);
}
END_TEST

static void build_many(coffer_dir *d, size_t count, size_t chunks_each)
{
	d->entries = coffer_calloc(count, sizeof(*d->entries));
	ck_assert_ptr_nonnull(d->entries);
	d->count = count;
	for (size_t i = 0; i < count; i++) {
		char name[32];
		int n = snprintf(name, sizeof(name), "file-%08zu.dat", i);
		coffer_dirent *e = &d->entries[i];
		set_name(e, name, (size_t)n);
		e->type = COFFER_ENTRY_FILE;
		e->mode = 0644;
		e->uid = 1000;
		e->gid = 1000;
		e->user = coffer_strdup("user");
		e->group = coffer_strdup("group");
		e->mtime_ns = 1700000000000000000LL + (int64_t)i * 1000003;
		if (chunks_each) {
			set_content(&e->content, chunks_each, (uint8_t)i);
			for (size_t c = 0; c < chunks_each; c++)
				e->size += e->content.sizes[c];
		}
	}
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

START_TEST(many_entries_round_trip)
{
	coffer_dir d = { NULL, 0 }, back;
	coffer_buf enc = COFFER_BUF_INIT;
	struct timespec t0, t1, t2;

	build_many(&d, 100000, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_coffer_ok(coffer_dir_encode(&d, &enc));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_coffer_ok(coffer_dir_decode(enc.data, enc.len, &back));
	clock_gettime(CLOCK_MONOTONIC, &t2);
	fprintf(stderr, "100k entries: %zu bytes (%.1f per entry); encode %.1f ms, decode %.1f ms\n", enc.len,
	        (double)enc.len / 100000, ms_between(&t0, &t1), ms_between(&t1, &t2));
	assert_dir_eq(&d, &back);
	coffer_dir_clear(&back);
	coffer_buf_free(&enc);
	round_trip(&d, NULL);
	coffer_dir_clear(&d);
}
END_TEST

/* ---------------------------------------------------------------- pieces */

static void assert_pieces_valid(const coffer_buf *enc, const size_t *ends, size_t count)
{
	size_t start = 0;
	ck_assert_uint_ge(count, 1);
	for (size_t i = 0; i < count; i++) {
		ck_assert_uint_gt(ends[i], start);
		ck_assert_uint_le(ends[i] - start, COFFER_DIR_PIECE_MAX);
		start = ends[i];
	}
	ck_assert_uint_eq(start, enc->len);
}

/* How many of b's pieces also occur in a (what an edit leaves to deduplicate). */
static size_t shared_pieces(const coffer_buf *a, const size_t *a_ends, size_t a_count, const coffer_buf *b,
                            const size_t *b_ends, size_t b_count)
{
	size_t shared = 0;
	for (size_t j = 0, bs = 0; j < b_count; bs = b_ends[j], j++)
		for (size_t i = 0, as = 0; i < a_count; as = a_ends[i], i++)
			if (a_ends[i] - as == b_ends[j] - bs && memcmp(a->data + as, b->data + bs, a_ends[i] - as) == 0) {
				shared++;
				break;
			}
	return shared;
}

START_TEST(pieces_are_bounded_and_survive_an_insert)
{
	coffer_dir d = { NULL, 0 };
	coffer_buf a = COFFER_BUF_INIT, b = COFFER_BUF_INIT, plain = COFFER_BUF_INIT;
	size_t *a_ends, *b_ends, a_count, b_count;

	/* ~260k entries of ~110 bytes: about 28 MiB, several pieces. */
	build_many(&d, 260000, 2);
	ck_assert_coffer_ok(coffer_dir_encode_pieces(&d, &a, &a_ends, &a_count));
	ck_assert_coffer_ok(coffer_dir_encode(&d, &plain));
	ck_assert_uint_eq(plain.len, a.len);
	ck_assert_mem_eq(plain.data, a.data, a.len);
	assert_pieces_valid(&a, a_ends, a_count);
	ck_assert_uint_ge(a_count, 7);

	/* Insert one entry near the start: only the pieces around it change. */
	coffer_dirent *bigger = coffer_realloc(d.entries, (d.count + 1) * sizeof(*bigger));
	ck_assert_ptr_nonnull(bigger);
	d.entries = bigger;
	memmove(&d.entries[1001], &d.entries[1000], (d.count - 1000) * sizeof(d.entries[0]));
	memset(&d.entries[1000], 0, sizeof(d.entries[0]));
	set_name(&d.entries[1000], "file-00000999.inserted", 22);
	d.entries[1000].type = COFFER_ENTRY_FILE;
	d.count++;
	ck_assert_coffer_ok(coffer_dir_encode_pieces(&d, &b, &b_ends, &b_count));
	assert_pieces_valid(&b, b_ends, b_count);
	size_t shared = shared_pieces(&a, a_ends, a_count, &b, b_ends, b_count);
	fprintf(stderr, "pieces: %zu before, %zu after the insert, %zu unchanged\n", a_count, b_count, shared);
	ck_assert_uint_ge(shared, b_count - 2);

	coffer_free(a_ends);
	coffer_free(b_ends);
	coffer_buf_free(&a);
	coffer_buf_free(&b);
	coffer_buf_free(&plain);
	coffer_dir_clear(&d);
}
END_TEST

START_TEST(huge_entry_is_cut_inside)
{
	coffer_dir d = { NULL, 0 };
	coffer_buf enc = COFFER_BUF_INIT;
	size_t *ends, count;

	/* A file of 300k chunks: one entry of ~10 MiB, larger than a piece. */
	coffer_dirent *e = dir_add(&d);
	set_name(e, "a-small-one", 11);
	e->type = COFFER_ENTRY_FILE;
	e = dir_add(&d);
	set_name(e, "big", 3);
	e->type = COFFER_ENTRY_FILE;
	set_content(&e->content, 300000, 1);
	ck_assert_coffer_ok(coffer_dir_encode_pieces(&d, &enc, &ends, &count));
	assert_pieces_valid(&enc, ends, count);
	ck_assert_uint_ge(count, 3);
	coffer_dir back;
	ck_assert_coffer_ok(coffer_dir_decode(enc.data, enc.len, &back));
	assert_dir_eq(&d, &back);
	coffer_dir_clear(&back);
	coffer_free(ends);
	coffer_buf_free(&enc);
	coffer_dir_clear(&d);
}
END_TEST

/* ---------------------------------------------------------------- encoder refusals */

static void expect_encode_invalid(coffer_dir *d, const char *message_part)
{
	coffer_buf enc = COFFER_BUF_INIT;
	int rc = coffer_dir_encode(d, &enc);
	ck_assert_msg(rc == COFFER_EINVALID, "expected EINVALID for \"%s\", got %d", message_part, rc);
	ck_assert_msg(strstr(coffer_error_last()->message, message_part), "message \"%s\" lacks \"%s\"",
	              coffer_error_last()->message, message_part);
	ck_assert_uint_eq(enc.len, 0);
	coffer_buf_free(&enc);
}

START_TEST(encoder_refuses_invalid_listings)
{
	coffer_dir d;
	coffer_dirent *e;

	build_full_dir(&d);
	/* Unsorted, then duplicate names. */
	coffer_dirent swap = d.entries[0];
	d.entries[0] = d.entries[1];
	d.entries[1] = swap;
	expect_encode_invalid(&d, "not sorted");
	d.entries[1] = d.entries[0];
	d.entries[0] = swap;
	char *saved = d.entries[1].name;
	d.entries[1].name = d.entries[0].name;
	expect_encode_invalid(&d, "not sorted");
	d.entries[1].name = saved;

	static const char *bad_names[] = { "", ".", "..", "a/b", "/" };
	static const char *why[] = { "empty name", "\".\"", "\".\"", "'/'", "'/'" };
	e = &d.entries[0];
	saved = e->name;
	size_t saved_len = e->name_len;
	for (size_t i = 0; i < 5; i++) {
		e->name = (char *)bad_names[i];
		e->name_len = strlen(bad_names[i]);
		expect_encode_invalid(&d, why[i]);
	}
	e->name = (char *)"a\0b";
	e->name_len = 3;
	expect_encode_invalid(&d, "NUL");
	e->name = saved;
	e->name_len = saved_len;

	e = &d.entries[4];  /* the file */
	e->type = (coffer_entry_type)8;
	expect_encode_invalid(&d, "unknown type");
	e->type = COFFER_ENTRY_FILE;
	e->mode = 0100644;
	expect_encode_invalid(&d, "mode");
	e->mode = 0644;
	e->link_target = coffer_strdup("x");
	expect_encode_invalid(&d, "link target on a non-symlink");
	coffer_free(e->link_target);
	e->link_target = NULL;
	e->rdev = 5;
	expect_encode_invalid(&d, "device number");
	e->rdev = 0;
	e->content.sizes[1] = 0;
	expect_encode_invalid(&d, "empty");
	e->content.sizes[1] = 1;
	char *x0 = e->xattrs[0].name;
	e->xattrs[0].name = e->xattrs[1].name;
	expect_encode_invalid(&d, "extended attributes not sorted");
	e->xattrs[0].name = x0;

	e = &d.entries[2];  /* the directory */
	e->hardlink_group = 3;
	expect_encode_invalid(&d, "hard-link group on a directory");
	e->hardlink_group = 0;

	e = &d.entries[3];  /* the fifo */
	set_content(&e->content, 1, 1);
	expect_encode_invalid(&d, "content on an entry");
	coffer_object_clear(&e->content);

	e = &d.entries[6];  /* the symlink */
	char *target = e->link_target;
	e->link_target = NULL;
	expect_encode_invalid(&d, "without a target");
	e->link_target = (char *)"";
	expect_encode_invalid(&d, "without a target");
	e->link_target = target;

	round_trip(&d, NULL);  /* everything restored: valid again */
	coffer_dir_clear(&d);
}
END_TEST

/* ---------------------------------------------------------------- decoder: damage */

START_TEST(every_truncation_is_rejected)
{
	coffer_dir d, back;
	coffer_buf enc;

	build_full_dir(&d);
	round_trip(&d, &enc);
	for (size_t len = 0; len < enc.len; len++) {
		int rc = coffer_dir_decode(enc.data, len, &back);
		ck_assert_msg(rc == COFFER_ECORRUPT, "truncated to %zu of %zu bytes: %d", len, enc.len, rc);
		ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "directory listing: "));
		ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, " at offset "));
		ck_assert_ptr_null(back.entries);
		ck_assert_uint_eq(back.count, 0);
	}
	/* And an extra byte at the end. */
	coffer_buf_append(&enc, "", 1);
	ck_assert_int_eq(coffer_dir_decode(enc.data, enc.len, &back), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "trailing"));
	coffer_buf_free(&enc);
	coffer_dir_clear(&d);
}
END_TEST

START_TEST(bit_flips_never_crash)
{
	coffer_dir d, back;
	coffer_buf enc;
	size_t accepted = 0, rejected = 0;

	build_full_dir(&d);
	round_trip(&d, &enc);
	for (size_t at = 0; at < enc.len; at++) {
		for (int bit = 0; bit < 8; bit++) {
			enc.data[at] ^= (uint8_t)(1u << bit);
			int rc = coffer_dir_decode(enc.data, enc.len, &back);
			if (rc == 0) {
				/* Whatever is accepted is a valid listing: it encodes again. */
				coffer_buf again = COFFER_BUF_INIT;
				ck_assert_coffer_ok(coffer_dir_encode(&back, &again));
				coffer_buf_free(&again);
				coffer_dir_clear(&back);
				accepted++;
			} else {
				ck_assert_msg(rc == COFFER_ECORRUPT || rc == COFFER_EUNSUPPORTED, "rc %d", rc);
				rejected++;
			}
			enc.data[at] ^= (uint8_t)(1u << bit);
		}
	}
	fprintf(stderr, "bit flips: %zu accepted (still valid listings), %zu rejected\n", accepted, rejected);
	ck_assert_uint_eq(accepted + rejected, enc.len * 8);
	ck_assert_uint_gt(rejected, enc.len);
	/* Every flip in the magic, version and entry count is caught. */
	for (size_t at = 0; at < 6; at++)
		for (int bit = 0; bit < 8; bit++) {
			enc.data[at] ^= (uint8_t)(1u << bit);
			ck_assert_int_ne(coffer_dir_decode(enc.data, enc.len, &back), 0);
			enc.data[at] ^= (uint8_t)(1u << bit);
		}
	coffer_buf_free(&enc);
	coffer_dir_clear(&d);
}
END_TEST

/* ---------------------------------------------------------------- decoder: hand-made input */

typedef struct maker {
	uint8_t data[4096];
	size_t len;
} maker;

static void mk_bytes(maker *m, const void *p, size_t n)
{
	ck_assert_uint_le(m->len + n, sizeof(m->data));
	memcpy(m->data + m->len, p, n);
	m->len += n;
}

static void mk_varint(maker *m, uint64_t v)
{
	while (v >= 0x80) {
		uint8_t b = (uint8_t)(v | 0x80);
		mk_bytes(m, &b, 1);
		v >>= 7;
	}
	uint8_t b = (uint8_t)v;
	mk_bytes(m, &b, 1);
}

static void mk_uint(maker *m, unsigned field, uint64_t v)
{
	mk_varint(m, (uint64_t)field << 1);
	mk_varint(m, v);
}

static void mk_field_bytes(maker *m, unsigned field, const void *p, size_t n)
{
	mk_varint(m, (uint64_t)field << 1 | 1);
	mk_varint(m, n);
	mk_bytes(m, p, n);
}

static void mk_header(maker *m, uint64_t count)
{
	m->len = 0;
	mk_bytes(m, "CDIR\x01", 5);
	mk_varint(m, count);
}

/* Appends one entry whose body is `body`. */
static void mk_entry(maker *m, const maker *body)
{
	mk_varint(m, body->len);
	mk_bytes(m, body->data, body->len);
}

static void mk_simple_body(maker *b, const char *name, uint64_t type)
{
	b->len = 0;
	mk_field_bytes(b, 1, name, strlen(name));
	mk_uint(b, 2, type);
}

static void expect_decode(const maker *m, int code, const char *message_part)
{
	coffer_dir d;
	int rc = coffer_dir_decode(m->data, m->len, &d);
	ck_assert_msg(rc == code, "expected %d for \"%s\", got %d (%s)", code, message_part, rc,
	              coffer_error_last()->message);
	if (rc == 0) {
		coffer_dir_clear(&d);
		return;
	}
	ck_assert_msg(strstr(coffer_error_last()->message, message_part), "message \"%s\" lacks \"%s\"",
	              coffer_error_last()->message, message_part);
	ck_assert_ptr_null(d.entries);
}

static void expect_single_entry(const maker *body, int code, const char *message_part)
{
	maker m;
	mk_header(&m, 1);
	mk_entry(&m, body);
	expect_decode(&m, code, message_part);
}

START_TEST(hand_made_valid_listing_decodes)
{
	maker m, b;
	coffer_dir d;

	mk_header(&m, 2);
	mk_simple_body(&b, "a", 1);
	mk_entry(&m, &b);
	mk_simple_body(&b, "b", 3);
	mk_field_bytes(&b, 10, "t", 1);
	mk_entry(&m, &b);
	ck_assert_coffer_ok(coffer_dir_decode(m.data, m.len, &d));
	ck_assert_uint_eq(d.count, 2);
	ck_assert_str_eq(d.entries[1].link_target, "t");
	coffer_dir_clear(&d);
}
END_TEST

START_TEST(hostile_counts_and_lengths_are_rejected_before_allocating)
{
	maker m, b;

	mk_header(&m, UINT64_MAX);
	expect_decode(&m, COFFER_ECORRUPT, "entry count");
	mk_header(&m, (uint64_t)1 << 40);
	mk_simple_body(&b, "a", 1);
	mk_entry(&m, &b);
	expect_decode(&m, COFFER_ECORRUPT, "entry count");
	/* A count that fits the bytes but entries run out. */
	mk_header(&m, 2);
	mk_entry(&m, &b);
	mk_bytes(&m, "\0\0\0\0\0\0", 6);
	expect_decode(&m, COFFER_ECORRUPT, "empty entry");

	/* Entry length beyond the input. */
	mk_header(&m, 1);
	mk_varint(&m, (uint64_t)1 << 62);
	mk_bytes(&m, "\0\0\0\0\0\0", 6);
	expect_decode(&m, COFFER_ECORRUPT, "exceeds");

	/* Content: huge chunk count, truncated chunk, zero size, trailing bytes. */
	uint8_t payload[200];
	maker p = { { 0 }, 0 };
	memset(payload, 7, sizeof(payload));
	mk_varint(&p, (uint64_t)1 << 50);
	mk_bytes(&p, payload, 40);
	mk_simple_body(&b, "f", 1);
	mk_field_bytes(&b, 15, p.data, p.len);
	expect_single_entry(&b, COFFER_ECORRUPT, "chunk count");
	p.len = 0;
	mk_varint(&p, 1);
	memset(payload, 7, sizeof(payload));
	mk_bytes(&p, payload, 32);
	mk_varint(&p, 0);
	mk_simple_body(&b, "f", 1);
	mk_field_bytes(&b, 15, p.data, p.len);
	expect_single_entry(&b, COFFER_ECORRUPT, "chunk size 0");
	p.len = 0;
	mk_varint(&p, 1);
	mk_bytes(&p, payload, 32);
	mk_varint(&p, (uint64_t)UINT32_MAX + 1);
	mk_simple_body(&b, "f", 1);
	mk_field_bytes(&b, 15, p.data, p.len);
	expect_single_entry(&b, COFFER_ECORRUPT, "out of range");
	p.len = 0;
	mk_varint(&p, 1);
	mk_bytes(&p, payload, 32);
	mk_varint(&p, 5);
	mk_bytes(&p, "x", 1);
	mk_simple_body(&b, "f", 1);
	mk_field_bytes(&b, 15, p.data, p.len);
	expect_single_entry(&b, COFFER_ECORRUPT, "trailing bytes in content");

	/* Xattrs: huge count, empty name, NUL in name, unsorted. */
	p.len = 0;
	mk_varint(&p, UINT64_MAX / 2);
	mk_bytes(&p, "abc", 3);
	mk_simple_body(&b, "f", 1);
	mk_field_bytes(&b, 14, p.data, p.len);
	expect_single_entry(&b, COFFER_ECORRUPT, "extended attribute count");
	p.len = 0;
	mk_varint(&p, 1);
	mk_varint(&p, 0);
	mk_varint(&p, 0);
	mk_bytes(&p, "z", 1);
	mk_simple_body(&b, "f", 1);
	mk_field_bytes(&b, 14, p.data, p.len);
	expect_single_entry(&b, COFFER_ECORRUPT, "empty extended attribute name");
	p.len = 0;
	mk_varint(&p, 1);
	mk_varint(&p, 3);
	mk_bytes(&p, "a\0b", 3);
	mk_varint(&p, 0);
	mk_simple_body(&b, "f", 1);
	mk_field_bytes(&b, 14, p.data, p.len);
	expect_single_entry(&b, COFFER_ECORRUPT, "NUL byte in extended attribute name");
	p.len = 0;
	mk_varint(&p, 2);
	mk_varint(&p, 1);
	mk_bytes(&p, "b", 1);
	mk_varint(&p, 0);
	mk_varint(&p, 1);
	mk_bytes(&p, "a", 1);
	mk_varint(&p, 0);
	mk_simple_body(&b, "f", 1);
	mk_field_bytes(&b, 14, p.data, p.len);
	expect_single_entry(&b, COFFER_ECORRUPT, "extended attributes not sorted");
	/* Same, sorted: accepted. */
	p.len = 0;
	mk_varint(&p, 2);
	mk_varint(&p, 1);
	mk_bytes(&p, "a", 1);
	mk_varint(&p, 0);
	mk_varint(&p, 1);
	mk_bytes(&p, "b", 1);
	mk_varint(&p, 2);
	mk_bytes(&p, "\0\1", 2);
	mk_simple_body(&b, "f", 1);
	mk_field_bytes(&b, 14, p.data, p.len);
	expect_single_entry(&b, 0, "");
}
END_TEST

START_TEST(bad_names_order_and_types_are_rejected)
{
	maker m, b;

	static const struct {
		const char *name;
		size_t len;
		const char *why;
	} bad[] = { { "..", 2, "name \".\" or \"..\"" }, { ".", 1, "name \".\" or \"..\"" },
		    { "a/b", 3, "'/' in name" }, { "/", 1, "'/' in name" }, { "a\0b", 3, "NUL byte in name" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b.len = 0;
		mk_field_bytes(&b, 1, bad[i].name, bad[i].len);
		mk_uint(&b, 2, 1);
		expect_single_entry(&b, COFFER_ECORRUPT, bad[i].why);
	}
	b.len = 0;
	mk_field_bytes(&b, 1, "", 0);
	mk_uint(&b, 2, 1);
	expect_single_entry(&b, COFFER_ECORRUPT, "empty name");

	/* Order: "b" then "a"; "a" twice; a prefix after the longer name. */
	static const char *pairs[][2] = { { "b", "a" }, { "a", "a" }, { "ab", "a" } };
	for (size_t i = 0; i < 3; i++) {
		mk_header(&m, 2);
		mk_simple_body(&b, pairs[i][0], 1);
		mk_entry(&m, &b);
		mk_simple_body(&b, pairs[i][1], 1);
		mk_entry(&m, &b);
		expect_decode(&m, COFFER_ECORRUPT, "not sorted or repeated");
	}

	mk_simple_body(&b, "a", 0);
	expect_single_entry(&b, COFFER_ECORRUPT, "default value");
	mk_simple_body(&b, "a", 8);
	expect_single_entry(&b, COFFER_ECORRUPT, "unknown entry type 8");
	b.len = 0;
	mk_field_bytes(&b, 1, "a", 1);
	expect_single_entry(&b, COFFER_ECORRUPT, "without a type");
	b.len = 0;
	mk_uint(&b, 2, 1);
	expect_single_entry(&b, COFFER_ECORRUPT, "without a name");

	/* Type-dependent fields. */
	mk_simple_body(&b, "l", COFFER_ENTRY_SYMLINK);
	expect_single_entry(&b, COFFER_ECORRUPT, "symbolic link without a target");
	mk_simple_body(&b, "l", COFFER_ENTRY_SYMLINK);
	mk_field_bytes(&b, 10, "a\0b", 3);
	expect_single_entry(&b, COFFER_ECORRUPT, "NUL byte in link target");
	mk_simple_body(&b, "l", COFFER_ENTRY_SYMLINK);
	mk_varint(&b, 10 << 1 | 1);
	mk_varint(&b, 0);
	expect_single_entry(&b, COFFER_ECORRUPT, "empty link target");
	mk_simple_body(&b, "f", COFFER_ENTRY_FILE);
	mk_field_bytes(&b, 10, "t", 1);
	expect_single_entry(&b, COFFER_ECORRUPT, "link target on a non-symlink");
	mk_simple_body(&b, "f", COFFER_ENTRY_FILE);
	mk_uint(&b, 11, 5);
	expect_single_entry(&b, COFFER_ECORRUPT, "device number on a non-device");
	mk_simple_body(&b, "d", COFFER_ENTRY_DIR);
	mk_uint(&b, 12, 5);
	expect_single_entry(&b, COFFER_ECORRUPT, "hard-link group on a directory");
	mk_simple_body(&b, "f", COFFER_ENTRY_FILE);
	mk_uint(&b, 3, 010000);
	expect_single_entry(&b, COFFER_ECORRUPT, "mode 4096 out of range");
	mk_simple_body(&b, "f", COFFER_ENTRY_FILE);
	mk_uint(&b, 4, (uint64_t)UINT32_MAX + 1);
	expect_single_entry(&b, COFFER_ECORRUPT, "uid");
	mk_simple_body(&b, "f", COFFER_ENTRY_FILE);
	mk_field_bytes(&b, 6, "ro\0t", 4);
	expect_single_entry(&b, COFFER_ECORRUPT, "NUL byte in user name");
}
END_TEST

START_TEST(field_structure_is_checked)
{
	maker m, b;

	/* Out of order and repeated fields. */
	b.len = 0;
	mk_uint(&b, 2, 1);
	mk_field_bytes(&b, 1, "a", 1);
	expect_single_entry(&b, COFFER_ECORRUPT, "field 1 out of order or repeated");
	mk_simple_body(&b, "a", 1);
	mk_uint(&b, 2, 1);
	expect_single_entry(&b, COFFER_ECORRUPT, "field 2 out of order or repeated");
	/* Wrong wire type: name as a varint. */
	b.len = 0;
	mk_uint(&b, 1, 5);
	expect_single_entry(&b, COFFER_ECORRUPT, "wrong wire type");
	/* Field number 0. */
	b.len = 0;
	mk_uint(&b, 0, 5);
	expect_single_entry(&b, COFFER_ECORRUPT, "field number 0");
	/* Over-long and overflowing varints. */
	mk_simple_body(&b, "a", 1);
	mk_varint(&b, 3 << 1);
	mk_bytes(&b, "\x80\x00", 2);
	expect_single_entry(&b, COFFER_ECORRUPT, "over-long varint");
	mk_simple_body(&b, "a", 1);
	mk_varint(&b, 9 << 1);
	mk_bytes(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
	expect_single_entry(&b, COFFER_ECORRUPT, "does not fit in 64 bits");
	mk_simple_body(&b, "a", 1);
	mk_varint(&b, 9 << 1);
	mk_bytes(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
	expect_single_entry(&b, 0, "");
	/* Default values stored explicitly. */
	mk_simple_body(&b, "a", 1);
	mk_uint(&b, 3, 0);
	expect_single_entry(&b, COFFER_ECORRUPT, "mode stored with its default value");
	/* Unknown fields: even ones are skipped, odd ones refused as unsupported. */
	mk_simple_body(&b, "a", 1);
	mk_uint(&b, 40, 12345);
	mk_field_bytes(&b, 42, "future", 6);
	{
		maker mm;
		coffer_dir d;
		size_t skipped = 0;
		mk_header(&mm, 1);
		mk_entry(&mm, &b);
		ck_assert_coffer_ok(coffer_dir_decode_ex(mm.data, mm.len, &d, &skipped));
		ck_assert_uint_eq(skipped, 2);
		coffer_dir_clear(&d);
	}
	mk_simple_body(&b, "a", 1);
	mk_uint(&b, 41, 1);
	expect_single_entry(&b, COFFER_EUNSUPPORTED, "unknown required field 41");
	/* Trailing bytes after the entries; bad magic; newer and zero versions. */
	mk_header(&m, 1);
	mk_simple_body(&b, "a", 1);
	mk_entry(&m, &b);
	mk_bytes(&m, "x", 1);
	expect_decode(&m, COFFER_ECORRUPT, "1 trailing bytes at offset");
	m.data[0] = 'X';
	expect_decode(&m, COFFER_ECORRUPT, "bad magic");
	mk_header(&m, 0);
	m.data[4] = 2;
	expect_decode(&m, COFFER_EUNSUPPORTED, "format version 2 is newer");
	m.data[4] = 0;
	expect_decode(&m, COFFER_ECORRUPT, "format version 0");
	m.len = 0;
	expect_decode(&m, COFFER_ECORRUPT, "truncated header");
}
END_TEST

/* ---------------------------------------------------------------- manifests */

static void build_manifest(coffer_manifest *m)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->info.id, "00112233445566778899aabbccddeeff");
	m->info.source = coffer_strdup("rs-name@namespace:/data");
	m->info.start_time_ns = 1704164645123456789LL;
	m->info.end_time_ns = 1704164700000000000LL;
	m->info.incomplete = 1;
	m->info.pinned = 1;
	m->info.tag_count = 2;
	m->info.tags = coffer_calloc(2, sizeof(coffer_tag));
	m->info.tags[0].key = coffer_strdup("env");
	m->info.tags[0].value = coffer_strdup("prod");
	m->info.tags[1].key = coffer_strdup("empty");
	m->info.tags[1].value = coffer_strdup("");
	m->info.tool_version = coffer_strdup("coffer 0.1");
	uint64_t *stats = &m->info.stats.files;
	for (size_t i = 0; i < sizeof(m->info.stats) / sizeof(uint64_t); i++)
		stats[i] = (uint64_t)1 << (i * 6);
	set_content(&m->root, 2, 3);
	m->root_mode = 0755;
	m->root_uid = 1000;
	m->root_gid = 2000;
	m->root_mtime_ns = -5;
}

static void assert_manifest_eq(const coffer_manifest *a, const coffer_manifest *b)
{
	ck_assert_str_eq(a->info.id, b->info.id);
	ck_assert_str_eq(a->info.source, b->info.source);
	ck_assert(a->info.start_time_ns == b->info.start_time_ns);
	ck_assert(a->info.end_time_ns == b->info.end_time_ns);
	ck_assert_int_eq(a->info.incomplete, b->info.incomplete);
	ck_assert_int_eq(a->info.pinned, b->info.pinned);
	ck_assert_uint_eq(a->info.tag_count, b->info.tag_count);
	for (size_t i = 0; i < a->info.tag_count; i++) {
		ck_assert_str_eq(a->info.tags[i].key, b->info.tags[i].key);
		ck_assert_str_eq(a->info.tags[i].value, b->info.tags[i].value);
	}
	assert_strings_eq(a->info.tool_version, b->info.tool_version);
	ck_assert_mem_eq(&a->info.stats, &b->info.stats, sizeof(a->info.stats));
	assert_object_eq(&a->root, &b->root);
	ck_assert_uint_eq(a->root_mode, b->root_mode);
	ck_assert_uint_eq(a->root_uid, b->root_uid);
	ck_assert_uint_eq(a->root_gid, b->root_gid);
	ck_assert(a->root_mtime_ns == b->root_mtime_ns);
}

START_TEST(manifest_round_trips)
{
	coffer_manifest m, back;
	coffer_buf enc = COFFER_BUF_INIT, again = COFFER_BUF_INIT;

	build_manifest(&m);
	ck_assert_coffer_ok(coffer_manifest_encode(&m, &enc));
	ck_assert_mem_eq(enc.data, "CSNP\x01", 5);
	ck_assert_coffer_ok(coffer_manifest_decode(enc.data, enc.len, &back));
	assert_manifest_eq(&m, &back);
	ck_assert_ptr_null(back.info.blob_name);
	ck_assert_coffer_ok(coffer_manifest_encode(&back, &again));
	ck_assert_uint_eq(enc.len, again.len);
	ck_assert_mem_eq(enc.data, again.data, enc.len);
	coffer_manifest_clear(&back);

	/* Every truncation is refused; bit flips never crash. */
	for (size_t len = 0; len < enc.len; len++) {
		int rc = coffer_manifest_decode(enc.data, len, &back);
		/* Cutting between fields leaves a shorter, valid manifest only if id and source are in. */
		if (rc == 0) {
			ck_assert_uint_ge(len, 5 + 18);
			coffer_manifest_clear(&back);
		} else {
			ck_assert_int_eq(rc, COFFER_ECORRUPT);
			ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "snapshot manifest: "));
		}
	}
	for (size_t at = 0; at < enc.len; at++)
		for (int bit = 0; bit < 8; bit++) {
			enc.data[at] ^= (uint8_t)(1u << bit);
			if (coffer_manifest_decode(enc.data, enc.len, &back) == 0) {
				coffer_buf_free(&again);
				ck_assert_coffer_ok(coffer_manifest_encode(&back, &again));
				coffer_manifest_clear(&back);
			}
			enc.data[at] ^= (uint8_t)(1u << bit);
		}
	coffer_buf_free(&enc);
	coffer_buf_free(&again);

	/* A minimal manifest: only id and source. */
	coffer_manifest_clear(&m);
	strcpy(m.info.id, "ffffffffffffffffffffffffffffffff");
	m.info.source = coffer_strdup("a@b:/c");
	ck_assert_coffer_ok(coffer_manifest_encode(&m, &enc));
	ck_assert_coffer_ok(coffer_manifest_decode(enc.data, enc.len, &back));
	assert_manifest_eq(&m, &back);
	ck_assert_uint_eq(back.root.count, 0);
	coffer_manifest_clear(&back);
	coffer_manifest_clear(&m);
	coffer_buf_free(&enc);
}
END_TEST

START_TEST(manifest_rejects)
{
	coffer_manifest m, back;
	coffer_buf enc = COFFER_BUF_INIT;
	maker b;

	build_manifest(&m);
	strcpy(m.info.id, "0011");
	ck_assert_int_eq(coffer_manifest_encode(&m, &enc), COFFER_EINVALID);
	strcpy(m.info.id, "00112233445566778899AABBCCDDEEFF");
	ck_assert_int_eq(coffer_manifest_encode(&m, &enc), COFFER_EINVALID);
	strcpy(m.info.id, "00112233445566778899aabbccddeeff");
	char *source = m.info.source;
	m.info.source = NULL;
	ck_assert_int_eq(coffer_manifest_encode(&m, &enc), COFFER_EINVALID);
	m.info.source = source;
	m.root_mode = 040755;
	ck_assert_int_eq(coffer_manifest_encode(&m, &enc), COFFER_EINVALID);
	m.root_mode = 0755;
	ck_assert_uint_eq(enc.len, 0);
	coffer_manifest_clear(&m);

	static const uint8_t id[16] = { 1, 2, 3 };
	b.len = 0;
	mk_bytes(&b, "CSNP\x01", 5);
	mk_field_bytes(&b, 2, "s", 1);
	ck_assert_int_eq(coffer_manifest_decode(b.data, b.len, &back), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "no id"));
	b.len = 0;
	mk_bytes(&b, "CSNP\x01", 5);
	mk_field_bytes(&b, 1, id, 15);
	ck_assert_int_eq(coffer_manifest_decode(b.data, b.len, &back), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "id of 15 bytes"));
	b.len = 0;
	mk_bytes(&b, "CSNP\x01", 5);
	mk_field_bytes(&b, 1, id, 16);
	ck_assert_int_eq(coffer_manifest_decode(b.data, b.len, &back), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "no source"));
	mk_field_bytes(&b, 2, "s", 1);
	ck_assert_coffer_ok(coffer_manifest_decode(b.data, b.len, &back));
	ck_assert_str_eq(back.info.id, "01020300000000000000000000000000");
	coffer_manifest_clear(&back);
	size_t valid_len = b.len;
	mk_uint(&b, 5, 2);
	ck_assert_int_eq(coffer_manifest_decode(b.data, b.len, &back), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "incomplete flag 2 out of range"));
	b.len = valid_len;
	maker tags = { { 0 }, 0 };
	mk_varint(&tags, UINT64_MAX);
	mk_field_bytes(&b, 7, tags.data, tags.len);
	ck_assert_int_eq(coffer_manifest_decode(b.data, b.len, &back), COFFER_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "tag count"));
	b.len = valid_len;
	maker stats = { { 0 }, 0 };
	mk_uint(&stats, 1, 5);
	mk_uint(&stats, 12, 5);  /* a statistic from the future: skipped */
	mk_field_bytes(&b, 9, stats.data, stats.len);
	size_t skipped = 0;
	ck_assert_coffer_ok(coffer_manifest_decode_ex(b.data, b.len, &back, &skipped));
	ck_assert_uint_eq(skipped, 1);
	ck_assert_uint_eq(back.info.stats.files, 5);
	coffer_manifest_clear(&back);
	b.len = valid_len;
	mk_uint(&b, 99, 1);
	ck_assert_int_eq(coffer_manifest_decode(b.data, b.len, &back), COFFER_EUNSUPPORTED);
	b.data[4] = 9;
	ck_assert_int_eq(coffer_manifest_decode(b.data, b.len, &back), COFFER_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "snapshot manifest: format version 9"));
	b.data[0] = 'c';
	ck_assert_int_eq(coffer_manifest_decode(b.data, b.len, &back), COFFER_ECORRUPT);
}
END_TEST

START_TEST(manifest_names)
{
	char name[128], key[33], id[33];
	int64_t t;
	const char *k = "0123456789abcdef0123456789abcdef", *i = "ffeeddccbbaa99887766554433221100";

	ck_assert_coffer_ok(coffer_manifest_name_format(name, sizeof(name), k, 1704164645123456789LL, i));
	ck_assert_str_eq(name, "snapshots/0123456789abcdef0123456789abcdef/17a668b7375cff15-"
	                       "ffeeddccbbaa99887766554433221100");
	ck_assert_coffer_ok(coffer_manifest_name_parse(name, key, &t, id));
	ck_assert_str_eq(key, k);
	ck_assert_str_eq(id, i);
	ck_assert(t == 1704164645123456789LL);
	/* Names sort as their start times do. */
	char later[128];
	ck_assert_coffer_ok(coffer_manifest_name_format(later, sizeof(later), k, 1704164645123456790LL, i));
	ck_assert_int_lt(strcmp(name, later), 0);
	ck_assert_int_eq(coffer_manifest_name_format(name, sizeof(name), k, -1, i), COFFER_EINVALID);
	ck_assert_int_eq(coffer_manifest_name_format(name, 20, k, 1, i), COFFER_EINVALID);

	static const char *bad[] = {
		"snapshots/0123456789abcdef0123456789abcdef/17a668b7375cff15-ffeeddccbbaa9988776655443322110",
		"snapshots/0123456789abcdef0123456789abcdef/17a668b7375cff15-ffeeddccbbaa998877665544332211000",
		"snapshots/0123456789abcdef0123456789abcdeF/17a668b7375cff15-ffeeddccbbaa99887766554433221100",
		"snapshots/0123456789abcdef0123456789abcdef_17a668b7375cff15-ffeeddccbbaa99887766554433221100",
		"snapshots/0123456789abcdef0123456789abcdef/17a668b7375cff15+ffeeddccbbaa99887766554433221100",
		"snapshots/0123456789abcdef0123456789abcdef/87a668b7375cff15-ffeeddccbbaa99887766554433221100",
		"snapshotz/0123456789abcdef0123456789abcdef/17a668b7375cff15-ffeeddccbbaa99887766554433221100",
		"snapshots/0123456789abcdef0123456789abcdef/17a668b7375cff15-ffeeddccbbaa99887766554433221100.tmp",
		"", "snapshots/",
	};
	for (size_t n = 0; n < sizeof(bad) / sizeof(bad[0]); n++)
		ck_assert_msg(coffer_manifest_name_parse(bad[n], key, &t, id) == COFFER_EINVALID, "accepted %s", bad[n]);
}
END_TEST

static Suite *tree_suite(void)
{
	Suite *s = suite_create("tree");
	TCase *tc = tcase_create("listing");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, every_field_and_type_round_trips);
	tcase_add_test(tc, empty_listing_round_trips);
	tcase_add_test(tc, odd_names_round_trip_in_byte_order);
	tcase_add_test(tc, many_entries_round_trip);
	tcase_add_test(tc, pieces_are_bounded_and_survive_an_insert);
	tcase_add_test(tc, huge_entry_is_cut_inside);
	tcase_add_test(tc, encoder_refuses_invalid_listings);
	suite_add_tcase(s, tc);
	tc = tcase_create("decoder");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, every_truncation_is_rejected);
	tcase_add_test(tc, bit_flips_never_crash);
	tcase_add_test(tc, hand_made_valid_listing_decodes);
	tcase_add_test(tc, hostile_counts_and_lengths_are_rejected_before_allocating);
	tcase_add_test(tc, bad_names_order_and_types_are_rejected);
	tcase_add_test(tc, field_structure_is_checked);
	suite_add_tcase(s, tc);
	tc = tcase_create("manifest");
	tcase_add_test(tc, manifest_round_trips);
	tcase_add_test(tc, manifest_rejects);
	tcase_add_test(tc, manifest_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(tree_suite());
}
