/* Compression codec plugin ABI. */
#ifndef COFFER_SYS_CODEC_H
#define COFFER_SYS_CODEC_H

#include <coffer/sys/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COFFER_CODEC_VTABLE_VERSION 1u

/* Stable on-disk ids, recorded with every chunk. 0-127 are reserved for coffer's own
 * codecs; third parties take ids from 128 up and document them. */
#define COFFER_CODEC_ID_NONE 0
#define COFFER_CODEC_ID_ZSTD 1
#define COFFER_CODEC_ID_GZIP 2
#define COFFER_CODEC_ID_S2 3

/* A name the codec answers to and the level it means, e.g. {"zstd-fastest", -5}. */
typedef struct coffer_codec_variant {
	const char *name;  /* NULL ends the table */
	int level;
} coffer_codec_variant;

/* compress/decompress must be reentrant: the engine calls them from many threads. */
typedef struct coffer_codec_vtable {
	unsigned int version;  /* COFFER_CODEC_VTABLE_VERSION */
	unsigned int id;       /* COFFER_CODEC_ID_* */
	int min_level, max_level, default_level;
	const coffer_codec_variant *variants; /* extra names; may be NULL */
	/* Largest output compress() can produce for n input bytes. */
	size_t (*bound)(size_t n, int level);
	/* Writes at most `cap` bytes; COFFER_EINVALID if cap < bound (callers size with bound). */
	int (*compress)(int level, const void *src, size_t n, void *dst, size_t cap, size_t *out_len);
	/* Decodes into dst; output larger than cap, or any malformed input, is COFFER_ECORRUPT.
	 * Never reads outside src or writes outside dst. */
	int (*decompress)(const void *src, size_t n, void *dst, size_t cap, size_t *out_len);
} coffer_codec_vtable;

#ifdef __cplusplus
}
#endif
#endif
