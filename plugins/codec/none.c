/* The "none" codec: stores data as it is. */
#include "config.h"

#include <string.h>

#include <coffer/sys/codec.h>

static size_t none_bound(size_t n, int level)
{
	return n;
}

static int none_compress(int level, const void *src, size_t n, void *dst, size_t cap, size_t *out_len)
{
	if (cap < n)
		return coffer_error_set(COFFER_EINVALID, "none: output buffer of %zu bytes is too small for %zu",
		                        cap, n);
	if (n)
		memcpy(dst, src, n);
	*out_len = n;
	return 0;
}

static int none_decompress(const void *src, size_t n, void *dst, size_t cap, size_t *out_len)
{
	if (n > cap)
		return coffer_error_set(COFFER_ECORRUPT, "none: %zu bytes do not fit the expected %zu", n, cap);
	if (n)
		memcpy(dst, src, n);
	*out_len = n;
	return 0;
}

static const coffer_codec_vtable none_vtable = {
	.version = COFFER_CODEC_VTABLE_VERSION,
	.id = COFFER_CODEC_ID_NONE,
	.min_level = 0,
	.max_level = 0,
	.default_level = 0,
	.variants = NULL,
	.bound = none_bound,
	.compress = none_compress,
	.decompress = none_decompress,
};

static const char *const none_names[] = { "none", NULL };

COFFER_PLUGIN_DEFINE(codec_none) = {
	COFFER_PLUGIN_MAGIC, COFFER_ABI_VERSION, COFFER_PLUGIN_CODEC, "codec-none",
	"stores chunks uncompressed", none_names, NULL, &none_vtable,
};
