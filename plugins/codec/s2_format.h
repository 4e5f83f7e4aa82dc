/* S2 block and stream format (Klaus Post's extension of Snappy): encoder, decoder and
 * CRC32-C. Pure functions with no dependency on the coffer core, so the fuzzers and
 * tools can use them alone. The format is the one of github.com/klauspost/compress/s2
 * (its README, "Format Extensions"); ../shared/testdata/s2/README.md lists the rules the
 * reference vectors check. Thread-safe: no state outside the caller's buffers. */
#ifndef COFFER_S2_FORMAT_H
#define COFFER_S2_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The plugin compiles this code into its own translation unit with COFFER_S2_API defined
 * as `static`, so the module exports nothing but its descriptor (libtool's preload list
 * would otherwise name these functions); tests and fuzzers link s2_format.c directly. */
#ifndef COFFER_S2_API
#define COFFER_S2_API
#endif

/* Results: 0 or one of these negative values (the plugin glue maps them to COFFER_E*). */
enum coffer_s2_status {
	COFFER_S2_OK = 0,
	COFFER_S2_ECORRUPT = -1,     /* malformed block or stream */
	COFFER_S2_ECRC = -2,         /* stream chunk whose CRC32-C does not match its data */
	COFFER_S2_EUNSUPPORTED = -3, /* reserved unskippable stream chunk (0x02-0x7f) */
	COFFER_S2_ETOOLARGE = -4,    /* the output does not fit in the caller's capacity */
	COFFER_S2_EINVALID = -5,     /* bad argument: unknown level, input above 2^32-1, ... */
	COFFER_S2_ENOMEM = -6        /* the encoder could not allocate its hash tables */
};

/* Encoder effort. Every level produces blocks any S2 decoder reads. */
enum coffer_s2_level {
	COFFER_S2_LEVEL_FAST = 1,   /* one hash table, greedy; like s2.Encode */
	COFFER_S2_LEVEL_BETTER = 2, /* long and short hash tables, best of several candidates */
	COFFER_S2_LEVEL_BEST = 3    /* hash chains and one step of lazy matching */
};
#define COFFER_S2_LEVEL_MIN COFFER_S2_LEVEL_FAST
#define COFFER_S2_LEVEL_MAX COFFER_S2_LEVEL_BEST

/* Encoder flags. */
#define COFFER_S2_SNAPPY_COMPATIBLE 1u /* no repeat-offset codes: output is also valid Snappy */

/* The largest input one block can hold: its length is a 32-bit varint. */
#define COFFER_S2_MAX_BLOCK_INPUT ((size_t)0xffffffffu)
/* Framed streams: largest decoded block, the writer's default, and the Snappy limit. */
#define COFFER_S2_STREAM_MAX_BLOCK ((size_t)4 << 20)
#define COFFER_S2_STREAM_DEFAULT_BLOCK ((size_t)1 << 20)
#define COFFER_S2_SNAPPY_MAX_BLOCK ((size_t)64 << 10)

/* Largest block coffer_s2_block_encode writes for n input bytes: n plus the length varint
 * plus one literal header. 0 when n is above COFFER_S2_MAX_BLOCK_INPUT. */
COFFER_S2_API size_t coffer_s2_block_bound(size_t n);

/* Encodes src[0..n) as one block into dst. Any cap is accepted; COFFER_S2_ETOOLARGE when
 * the result does not fit (never with cap >= coffer_s2_block_bound(n)). */
COFFER_S2_API int coffer_s2_block_encode(int level, unsigned int flags, const void *src, size_t n,
                           void *dst, size_t cap, size_t *out_len);

/* Reads the decoded length from a block's header without decoding it. */
COFFER_S2_API int coffer_s2_block_decoded_length(const void *src, size_t n, size_t *decoded_len);

/* Decodes one block into dst. COFFER_S2_ETOOLARGE when its declared length exceeds cap
 * (nothing is written then); COFFER_S2_ECORRUPT for any malformed input. Never reads
 * outside src nor writes outside dst[0..declared length). */
COFFER_S2_API int coffer_s2_block_decode(const void *src, size_t n, void *dst, size_t cap, size_t *out_len);

/* Largest framed stream coffer_s2_stream_encode writes for n bytes with the same flags
 * and block_size. 0 for empty input: the stream of nothing is empty. */
COFFER_S2_API size_t coffer_s2_stream_bound(size_t n, unsigned int flags, size_t block_size);

/* Encodes src as a framed stream: the S2sTwO identifier (sNaPpY with
 * COFFER_S2_SNAPPY_COMPATIBLE, whose blocks are at most 64 KiB), then one data chunk per
 * block, stored uncompressed when compression does not shrink it. block_size 0 means
 * COFFER_S2_STREAM_DEFAULT_BLOCK. */
COFFER_S2_API int coffer_s2_stream_encode(int level, unsigned int flags, size_t block_size, const void *src,
                            size_t n, void *dst, size_t cap, size_t *out_len);

/* Decodes a whole framed stream (S2 or Snappy framing) into dst, checking every CRC.
 * COFFER_S2_ETOOLARGE when the decoded data would exceed cap. */
COFFER_S2_API int coffer_s2_stream_decode(const void *src, size_t n, void *dst, size_t cap, size_t *out_len);

/* CRC32-C (Castagnoli), continuing from crc (start with 0). Uses SSE4.2 when present. */
COFFER_S2_API uint32_t coffer_s2_crc32c(uint32_t crc, const void *data, size_t n);
/* The framing format's masked CRC of data. */
COFFER_S2_API uint32_t coffer_s2_masked_crc(const void *data, size_t n);

/* A short English description of a coffer_s2_status value. */
COFFER_S2_API const char *coffer_s2_strerror(int status);

#ifdef __cplusplus
}
#endif
#endif
