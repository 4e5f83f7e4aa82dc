/* Byte layouts of the maintenance blobs: state and lease (docs/FORMAT.md, Maintenance).
 * No I/O, so the parsers can be fuzzed alone (tests/fuzz/fuzz-maintenance.c). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "maintenance_private.h"

#define STATE_MAGIC "COFFMNTS"
#define LEASE_MAGIC "COFFLEAS"
#define MAINT_VERSION 1u
#define STATE_HEADER_SIZE 48u
#define LEASE_HEADER_SIZE 40u

void coffer_maint_state_clear(coffer_maint_state *s)
{
	coffer_free(s->candidates);
	memset(s, 0, sizeof(*s));
}

int coffer_maint_state_encode(const coffer_maint_state *s, coffer_buf *out)
{
	uint8_t h[STATE_HEADER_SIZE] = { 0 };
	memcpy(h, STATE_MAGIC, 8);
	coffer_put_le32(h + 8, MAINT_VERSION);
	coffer_put_le32(h + 12, (uint32_t)s->candidate_count);
	coffer_put_le64(h + 16, (uint64_t)s->last_quick_ns);
	coffer_put_le64(h + 24, (uint64_t)s->last_full_ns);
	coffer_put_le64(h + 32, s->last_bytes_reclaimed);
	coffer_put_le64(h + 40, s->bytes_reclaimable);
	int rc = coffer_buf_append(out, h, sizeof(h));
	for (size_t i = 0; i < s->candidate_count && rc == 0; i++) {
		uint8_t e[COFFER_PACK_NAME_LENGTH + 8];
		memcpy(e, s->candidates[i].pack, COFFER_PACK_NAME_LENGTH);
		coffer_put_le64(e + COFFER_PACK_NAME_LENGTH, (uint64_t)s->candidates[i].since_ns);
		rc = coffer_buf_append(out, e, sizeof(e));
	}
	return rc;
}

int coffer_maint_state_parse(const uint8_t *data, size_t len, coffer_maint_state *out)
{
	memset(out, 0, sizeof(*out));
	int rc = coffer_format_header_check(data, len, STATE_HEADER_SIZE, STATE_MAGIC, MAINT_VERSION,
	                                    "maintenance state");
	if (rc)
		return rc;
	uint64_t count = coffer_le32(data + 12);
	const size_t entry = COFFER_PACK_NAME_LENGTH + 8;
	if ((len - STATE_HEADER_SIZE) / entry != count || (len - STATE_HEADER_SIZE) % entry != 0)
		return coffer_error_set(COFFER_ECORRUPT, "maintenance state: %zu bytes do not hold %llu candidates",
		                        len, (unsigned long long)count);
	out->last_quick_ns = (int64_t)coffer_le64(data + 16);
	out->last_full_ns = (int64_t)coffer_le64(data + 24);
	out->last_bytes_reclaimed = coffer_le64(data + 32);
	out->bytes_reclaimable = coffer_le64(data + 40);
	if (count == 0)
		return 0;
	if (!(out->candidates = coffer_calloc((size_t)count, sizeof(coffer_maint_candidate))))
		return COFFER_ENOMEM;
	const uint8_t *p = data + STATE_HEADER_SIZE;
	for (size_t i = 0; i < count; i++, p += entry) {
		coffer_maint_candidate *c = &out->candidates[i];
		memcpy(c->pack, p, COFFER_PACK_NAME_LENGTH);
		c->pack[COFFER_PACK_NAME_LENGTH] = '\0';
		c->since_ns = (int64_t)coffer_le64(p + COFFER_PACK_NAME_LENGTH);
		char letter;
		uint8_t id[COFFER_PACK_ID_SIZE];
		if (memchr(p, 0, COFFER_PACK_NAME_LENGTH) || coffer_pack_name_parse(c->pack, &letter, id) != 0 ||
		    (i > 0 && strcmp(out->candidates[i - 1].pack, c->pack) >= 0)) {
			coffer_maint_state_clear(out);
			return coffer_error_set(COFFER_ECORRUPT,
			                        "maintenance state: candidate %zu is not a pack name in order", i);
		}
	}
	out->candidate_count = (size_t)count;
	return 0;
}

static int compare_candidate_key(const void *key, const void *item)
{
	return strcmp((const char *)key, ((const coffer_maint_candidate *)item)->pack);
}

const coffer_maint_candidate *coffer_maint_state_find(const coffer_maint_state *s, const char *pack)
{
	if (!s->candidate_count)
		return NULL;
	return bsearch(pack, s->candidates, s->candidate_count, sizeof(coffer_maint_candidate),
	               compare_candidate_key);
}

int coffer_maint_lease_encode(const coffer_maint_lease *l, coffer_buf *out)
{
	size_t owner_len = strlen(l->owner);
	uint8_t h[LEASE_HEADER_SIZE] = { 0 };
	memcpy(h, LEASE_MAGIC, 8);
	coffer_put_le32(h + 8, MAINT_VERSION);
	coffer_put_le32(h + 12, l->running ? 1u : 0u);
	coffer_put_le64(h + 16, (uint64_t)l->duration_ns);
	memcpy(h + 24, l->instance, 16);
	int rc = coffer_buf_append(out, h, sizeof(h));
	if (rc == 0)
		rc = coffer_buf_append(out, l->owner, owner_len);
	return rc;
}

int coffer_maint_lease_parse(const uint8_t *data, size_t len, coffer_maint_lease *out)
{
	memset(out, 0, sizeof(*out));
	int rc = coffer_format_header_check(data, len, LEASE_HEADER_SIZE, LEASE_MAGIC, MAINT_VERSION,
	                                    "maintenance lease");
	if (rc)
		return rc;
	uint32_t running = coffer_le32(data + 12);
	int64_t duration = (int64_t)coffer_le64(data + 16);
	size_t owner_len = len - LEASE_HEADER_SIZE;
	if (running > 1 || duration < 0 || owner_len == 0 || owner_len >= sizeof(out->owner) ||
	    memchr(data + LEASE_HEADER_SIZE, 0, owner_len))
		return coffer_error_set(COFFER_ECORRUPT, "maintenance lease: invalid fields");
	out->running = (int)running;
	out->duration_ns = duration;
	memcpy(out->instance, data + 24, 16);
	memcpy(out->owner, data + LEASE_HEADER_SIZE, owner_len);
	out->owner[owner_len] = '\0';
	return 0;
}
