/* The "s2" codec: each chunk is one S2 block (the block format of klauspost/compress/s2,
 * an extension of Snappy), with coffer's own encoder and decoder in s2_format.c. The
 * repository records each chunk's raw length, so the framed stream format is not used. */
#include "config.h"

#include <coffer/sys/codec.h>

#define COFFER_S2_API static __attribute__((unused))
#include "s2_format.c"


/* The fast level is the default: it is what kopia's s2-default means, and it keeps
 * incompressible data near memcpy speed. */
#define S2_CODEC_DEFAULT_LEVEL COFFER_S2_LEVEL_FAST

static size_t s2_codec_bound(size_t n, int level)
{
	/* 0 above 2^32-1 bytes: compress() then refuses the input. */
	return coffer_s2_block_bound(n);
}

static int s2_codec_compress(int level, const void *src, size_t n, void *dst, size_t cap,
                             size_t *out_len)
{
	*out_len = 0;
	if (level < COFFER_S2_LEVEL_MIN || level > COFFER_S2_LEVEL_MAX)
		return coffer_error_set(COFFER_EINVALID,
		                        "s2: compression level %d is out of range (%d to %d)", level,
		                        COFFER_S2_LEVEL_MIN, COFFER_S2_LEVEL_MAX);
	size_t bound = coffer_s2_block_bound(n);
	if (bound == 0)
		return coffer_error_set(COFFER_EINVALID,
		                        "s2: %zu bytes are too many for one block (at most %zu)", n,
		                        COFFER_S2_MAX_BLOCK_INPUT);
	if (cap < bound)
		return coffer_error_set(COFFER_EINVALID,
		                        "s2: output buffer of %zu bytes is smaller than the bound %zu "
		                        "for %zu input bytes", cap, bound, n);
	int rc = coffer_s2_block_encode(level, 0, src, n, dst, cap, out_len);
	if (rc == COFFER_S2_ENOMEM)
		return coffer_error_set(COFFER_ENOMEM,
		                        "s2: out of memory for the level %d hash tables of %zu input "
		                        "bytes", level, n);
	if (rc != COFFER_S2_OK)
		return coffer_error_set(COFFER_ERROR, "s2: compressing %zu bytes at level %d failed: %s",
		                        n, level, coffer_s2_strerror(rc));
	return 0;
}

static int s2_codec_decompress(const void *src, size_t n, void *dst, size_t cap, size_t *out_len)
{
	*out_len = 0;
	size_t declared = 0;
	if (coffer_s2_block_decoded_length(src, n, &declared) != COFFER_S2_OK)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "s2: block of %zu bytes does not start with a valid length (a "
		                        "varint of at most 5 bytes below 2^32)", n);
	if (declared > cap)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "s2: block declares %zu decoded bytes, more than the expected "
		                        "%zu", declared, cap);
	int rc = coffer_s2_block_decode(src, n, dst, cap, out_len);
	if (rc != COFFER_S2_OK)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "s2: corrupt block of %zu bytes declaring %zu decoded bytes: %s",
		                        n, declared, coffer_s2_strerror(rc));
	return 0;
}

/* Kopia's names. Its parallel variants split a stream across goroutines; a chunk here is
 * one block compressed on the calling thread (the engine runs chunks in parallel), so
 * they mean the default level. */
static const coffer_codec_variant s2_variants[] = {
	{ "s2-default", COFFER_S2_LEVEL_FAST },
	{ "s2-better", COFFER_S2_LEVEL_BETTER },
	{ "s2-best", COFFER_S2_LEVEL_BEST },
	{ "s2-parallel-4", S2_CODEC_DEFAULT_LEVEL },
	{ "s2-parallel-8", S2_CODEC_DEFAULT_LEVEL },
	{ NULL, 0 },
};

static const coffer_codec_vtable s2_vtable = {
	.version = COFFER_CODEC_VTABLE_VERSION,
	.id = COFFER_CODEC_ID_S2,
	.min_level = COFFER_S2_LEVEL_MIN,
	.max_level = COFFER_S2_LEVEL_MAX,
	.default_level = S2_CODEC_DEFAULT_LEVEL,
	.variants = s2_variants,
	.bound = s2_codec_bound,
	.compress = s2_codec_compress,
	.decompress = s2_codec_decompress,
};

static const char *const s2_names[] = { "s2", NULL };

COFFER_PLUGIN_DEFINE(codec_s2) = {
	COFFER_PLUGIN_MAGIC, COFFER_ABI_VERSION, COFFER_PLUGIN_CODEC, "codec-s2",
	"S2 compression (Snappy extension, own implementation), levels 1 fast, 2 better, 3 best",
	s2_names, NULL, &s2_vtable,
};
