/* Compression codecs through the core. */
#ifndef COFFER_CODEC_H
#define COFFER_CODEC_H

#include <coffer/core.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coffer_codec {
	const struct coffer_codec_vtable *vt;
	const char *name;   /* plugin's primary name, e.g. "zstd" */
	int level;
} coffer_codec;

/* Resolves "zstd", "zstd:7", "zstd-fastest", "s2", "none", ... Unknown names list the
 * installed codecs; a level out of range names the valid range. */
int coffer_codec_lookup(coffer_core *core, const char *spec, coffer_codec *out);
/* Finds the codec with an on-disk id (for decoding). */
int coffer_codec_by_id(coffer_core *core, unsigned int id, coffer_codec *out);

size_t coffer_codec_bound(const coffer_codec *c, size_t n);
int coffer_codec_compress(const coffer_codec *c, const void *src, size_t n, void *dst, size_t cap,
                          size_t *out_len);
int coffer_codec_decompress(const coffer_codec *c, const void *src, size_t n, void *dst,
                            size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
