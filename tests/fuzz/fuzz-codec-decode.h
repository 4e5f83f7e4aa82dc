/* The body shared by the codec decoder fuzz targets (fuzz-zstd-decode.c,
 * fuzz-gzip-decode.c). The including file defines FUZZ_DESCRIPTOR (the plugin's exported
 * descriptor) and the range of levels used for the compress-then-damage inputs. */
#ifndef COFFER_FUZZ_CODEC_DECODE_H
#define COFFER_FUZZ_CODEC_DECODE_H

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Larger than anything libFuzzer's default inputs expand to but zstd frames may declare
 * more; those must fail cleanly. */
#define FUZZ_OUTPUT_CAP ((size_t)4 << 20)

static uint8_t *fuzz_output_buffer, *fuzz_first_output;

/* A window of `cap` bytes that ends where the allocation ends, so ASan catches a write one
 * past cap. */
static uint8_t *fuzz_output_window(uint8_t *buffer, size_t cap)
{
	return buffer + FUZZ_OUTPUT_CAP - cap;
}

static const coffer_codec_vtable *fuzz_codec(void)
{
	const coffer_plugin_descriptor *d = &FUZZ_DESCRIPTOR;
	if (d->magic != COFFER_PLUGIN_MAGIC || d->kind != COFFER_PLUGIN_CODEC)
		abort();
	return d->vtable;
}

/* Decodes with the full capacity; on success, checks that exactly the output size works
 * and one byte less is refused. Returns the decoder's result; the output is in
 * fuzz_first_output. */
static int fuzz_decode_checked(const coffer_codec_vtable *vt, const uint8_t *src, size_t n,
                               size_t *out_len)
{
	uint8_t *out = fuzz_output_window(fuzz_first_output, FUZZ_OUTPUT_CAP);
	*out_len = 0;
	int rc = vt->decompress(src, n, out, FUZZ_OUTPUT_CAP, out_len);
	if (rc != 0) {
		if (rc != COFFER_ECORRUPT && rc != COFFER_ENOMEM)
			abort();
		if (coffer_error_last()->code != rc || coffer_error_last()->message[0] == '\0')
			abort();
		return rc;
	}
	size_t len = *out_len;
	if (len > FUZZ_OUTPUT_CAP)
		abort();
	size_t again_len = 0;
	uint8_t *exact = fuzz_output_window(fuzz_output_buffer, len);
	if (vt->decompress(src, n, exact, len, &again_len) != 0 || again_len != len ||
	    memcmp(exact, out, len) != 0)
		abort();
	if (len > 0 &&
	    vt->decompress(src, n, fuzz_output_window(fuzz_output_buffer, len - 1), len - 1, &again_len) !=
	            COFFER_ECORRUPT)
		abort();
	/* The output sits at the end of the window; move it to the start for the caller. */
	memmove(fuzz_first_output, out, len);
	return 0;
}

/* 'C', level, damage kind, damage position (2 bytes), payload: compresses the payload,
 * damages the result and decodes it. */
static void fuzz_compress_and_damage(const coffer_codec_vtable *vt, const uint8_t *data, size_t size)
{
	if (size < 5)
		return;
	int level = FUZZ_DAMAGE_LEVEL_FIRST + data[1] % FUZZ_DAMAGE_LEVEL_COUNT;
	if (level < vt->min_level || level > vt->max_level)
		return;
	unsigned int damage = data[2];
	size_t position = (size_t)data[3] << 8 | data[4];
	const uint8_t *payload = data + 5;
	size_t payload_len = size - 5;

	size_t bound = vt->bound(payload_len, level);
	uint8_t *packed = malloc(bound ? bound : 1);
	if (!packed)
		return;
	size_t packed_len = 0, out_len = 0;
	if (vt->compress(level, payload, payload_len, packed, bound, &packed_len) != 0 || packed_len > bound)
		abort();
	/* Undamaged, it must come back whole. */
	if (fuzz_decode_checked(vt, packed, packed_len, &out_len) != 0 || out_len != payload_len ||
	    memcmp(fuzz_first_output, payload, payload_len) != 0)
		abort();

	position %= packed_len;
	/* Room for the frame twice: the trailing-data kinds append to it. */
	uint8_t *damaged = malloc(2 * packed_len);
	if (!damaged) {
		free(packed);
		return;
	}
	memcpy(damaged, packed, packed_len);
	size_t damaged_len = packed_len;
	int must_fail = 0;
	switch (damage % 6) {
	case 0: /* truncated */
		damaged_len = position;
		must_fail = 1;
		break;
	case 1: /* one bit flipped */
		damaged[position] ^= (uint8_t)(1u << (damage / 6 % 8));
		break;
	case 2: /* one byte replaced */
		damaged[position] = (uint8_t)(damage / 6 * 37 + 1);
		break;
	case 3: /* a run of bytes mixed with the payload's start */
		for (size_t i = 0; i < 16 && position + i < packed_len && i < payload_len; i++)
			damaged[position + i] ^= payload[i];
		break;
	case 4: /* stray bytes after the end */
		damaged_len = packed_len + 1 + position % 16 % packed_len;
		memcpy(damaged + packed_len, packed, damaged_len - packed_len);
		must_fail = 1;
		break;
	default: /* the whole thing twice */
		memcpy(damaged + packed_len, packed, packed_len);
		damaged_len = 2 * packed_len;
		must_fail = 1;
		break;
	}
	/* An exact-size copy, so reading past the damaged end is caught. */
	uint8_t *exact = malloc(damaged_len ? damaged_len : 1);
	if (!exact) {
		free(damaged);
		free(packed);
		return;
	}
	memcpy(exact, damaged, damaged_len);
	int rc = fuzz_decode_checked(vt, exact, damaged_len, &out_len);
	if (must_fail && rc == 0)
		abort();
	/* Both formats carry a checksum of the content: damage is an error or did not matter. */
	if (rc == 0 && (out_len != payload_len || memcmp(fuzz_first_output, payload, payload_len) != 0))
		abort();
	free(exact);
	free(damaged);
	free(packed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const coffer_codec_vtable *vt = fuzz_codec();
	if (!fuzz_output_buffer) {
		fuzz_output_buffer = malloc(FUZZ_OUTPUT_CAP);
		fuzz_first_output = malloc(FUZZ_OUTPUT_CAP);
		if (!fuzz_output_buffer || !fuzz_first_output)
			abort();
	}
	if (size > 0 && data[0] == 'C') {
		fuzz_compress_and_damage(vt, data, size);
		return 0;
	}
	/* libFuzzer hands over an exact-size copy, so reading past the input is caught. */
	size_t out_len;
	fuzz_decode_checked(vt, data, size, &out_len);
	return 0;
}

#endif
