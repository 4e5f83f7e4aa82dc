/* The "zstd" codec: each chunk is one standard Zstandard frame (RFC 8878), so `zstd -d`
 * reads what coffer writes. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>

#include <zstd.h>
#include <zstd_errors.h>

#include <coffer/sys/codec.h>

/* Level 1 is the default. On bench/codecs.sh's mixed corpus in 1 MiB chunks it compresses
 * 1.6x faster than level 3 (620 vs 390 MB/s) for 4% more output (ratio 2.21 vs 2.30), and
 * the engine must keep up with a disk; level -1 gains under 10% speed for 6% more output. */
#define ZSTD_CODEC_DEFAULT_LEVEL 1

/* From level 5 on zstd searches hard even in data with nothing to find: random 1 MiB
 * chunks go from ~8 GB/s at level 4 to ~500 MB/s at 5 and ~13 MB/s at 16 and above. So at
 * those levels a few samples are first tried at level 1; when none of them shrinks, the
 * chunk is compressed at level 1, which stores incompressible blocks raw at memcpy speed. */
#define PROBE_FROM_LEVEL 5
#define PROBE_SAMPLE_SIZE (16 * 1024)
#define PROBE_SAMPLES 4
#define PROBE_LEVEL 1
/* A sample must shrink by at least 1/32 to count as compressible. */
#define PROBE_MIN_GAIN_SHIFT 5

/* Content_Checksum_flag in the Frame_Header_Descriptor, the byte after the magic. */
#define FRAME_CHECKSUM_FLAG 0x04

/* Contexts are expensive to create (hundreds of KiB of tables), so each thread keeps one
 * of each and reuses it; the key's destructor frees them when the thread exits. The module
 * is linked with -z nodelete so that destructor's code stays mapped after lt_dlclose. */
typedef struct zstd_thread_contexts {
	ZSTD_CCtx *compress;
	ZSTD_DCtx *decompress;
	uint8_t probe_output[ZSTD_COMPRESSBOUND(PROBE_SAMPLE_SIZE)];
} zstd_thread_contexts;

static pthread_key_t contexts_key;
static pthread_once_t contexts_key_once = PTHREAD_ONCE_INIT;
static int contexts_key_error;

static void free_thread_contexts(void *value)
{
	zstd_thread_contexts *contexts = value;
	if (!contexts)
		return;
	ZSTD_freeCCtx(contexts->compress);
	ZSTD_freeDCtx(contexts->decompress);
	coffer_free(contexts);
}

static void create_contexts_key(void)
{
	contexts_key_error = pthread_key_create(&contexts_key, free_thread_contexts);
}

static zstd_thread_contexts *thread_contexts(void)
{
	pthread_once(&contexts_key_once, create_contexts_key);
	if (contexts_key_error) {
		coffer_error_set_errno(COFFER_ERROR, contexts_key_error,
		                       "zstd: cannot create the per-thread context key");
		return NULL;
	}
	zstd_thread_contexts *contexts = pthread_getspecific(contexts_key);
	if (contexts)
		return contexts;
	contexts = coffer_calloc(1, sizeof(*contexts));
	if (!contexts)
		return NULL;
	int err = pthread_setspecific(contexts_key, contexts);
	if (err) {
		coffer_free(contexts);
		coffer_error_set_errno(COFFER_ERROR, err, "zstd: cannot store the per-thread contexts");
		return NULL;
	}
	return contexts;
}

/* This thread's contexts, with the compression context created. */
static zstd_thread_contexts *thread_compress_contexts(void)
{
	zstd_thread_contexts *contexts = thread_contexts();
	if (!contexts)
		return NULL;
	if (!contexts->compress) {
		contexts->compress = ZSTD_createCCtx();
		if (!contexts->compress) {
			coffer_error_set(COFFER_ENOMEM, "zstd: out of memory creating a compression context");
			return NULL;
		}
	}
	return contexts;
}

static ZSTD_DCtx *thread_decompress_context(void)
{
	zstd_thread_contexts *contexts = thread_contexts();
	if (!contexts)
		return NULL;
	if (!contexts->decompress) {
		contexts->decompress = ZSTD_createDCtx();
		if (!contexts->decompress)
			coffer_error_set(COFFER_ENOMEM, "zstd: out of memory creating a decompression context");
	}
	return contexts->decompress;
}

static size_t zstd_codec_bound(size_t n, int level)
{
	/* 0 when n exceeds what zstd accepts; compress() then refuses the input. */
	return ZSTD_COMPRESSBOUND(n);
}

/* Levels come from the libzstd that is actually loaded (see set_level_range). */
static coffer_codec_vtable zstd_vtable;

/* Whether none of the samples, spread evenly over the input, shrinks at PROBE_LEVEL. */
static int looks_incompressible(ZSTD_CCtx *context, uint8_t *scratch, const uint8_t *src, size_t n)
{
	if (n < 2 * PROBE_SAMPLES * PROBE_SAMPLE_SIZE)
		return 0; /* small inputs are cheap at any level */
	size_t stride = (n - PROBE_SAMPLE_SIZE) / (PROBE_SAMPLES - 1);
	for (size_t i = 0; i < PROBE_SAMPLES; i++) {
		size_t size = ZSTD_compressCCtx(context, scratch, ZSTD_COMPRESSBOUND(PROBE_SAMPLE_SIZE),
		                                src + i * stride, PROBE_SAMPLE_SIZE, PROBE_LEVEL);
		if (ZSTD_isError(size) ||
		    size < PROBE_SAMPLE_SIZE - (PROBE_SAMPLE_SIZE >> PROBE_MIN_GAIN_SHIFT))
			return 0;
	}
	return 1;
}

static int zstd_codec_compress(int level, const void *src, size_t n, void *dst, size_t cap,
                               size_t *out_len)
{
	*out_len = 0;
	if (level < zstd_vtable.min_level || level > zstd_vtable.max_level)
		return coffer_error_set(COFFER_EINVALID, "zstd: compression level %d is out of range (%d to %d)",
		                        level, zstd_vtable.min_level, zstd_vtable.max_level);
	size_t bound = ZSTD_COMPRESSBOUND(n);
	if (bound == 0)
		return coffer_error_set(COFFER_EINVALID, "zstd: %zu bytes are too many for one frame", n);
	if (cap < bound)
		return coffer_error_set(COFFER_EINVALID,
		                        "zstd: output buffer of %zu bytes is smaller than the bound %zu for %zu "
		                        "input bytes", cap, bound, n);
	zstd_thread_contexts *contexts = thread_compress_contexts();
	if (!contexts)
		return coffer_error_last()->code;
	ZSTD_CCtx *context = contexts->compress;
	int effective_level = level;
	if (level >= PROBE_FROM_LEVEL && looks_incompressible(context, contexts->probe_output, src, n))
		effective_level = PROBE_LEVEL;
	/* One-shot compression pledges the input size, so small chunks get a small window
	 * and the frame records the content size for the decoder's early cap check. The
	 * content checksum (as `zstd` writes by default) costs ~5% of decompression speed
	 * and turns any damage that slips past the repository's AEAD into an error. */
	size_t written = ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters);
	if (!ZSTD_isError(written))
		written = ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, effective_level);
	if (!ZSTD_isError(written))
		written = ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1);
	if (!ZSTD_isError(written))
		written = ZSTD_compress2(context, dst, cap, src, n);
	if (ZSTD_isError(written)) {
		int code = ZSTD_getErrorCode(written) == ZSTD_error_memory_allocation ? COFFER_ENOMEM
		                                                                       : COFFER_ERROR;
		return coffer_error_set(code, "zstd: compressing %zu bytes at level %d failed: %s", n, level,
		                        ZSTD_getErrorName(written));
	}
	*out_len = written;
	return 0;
}

static int zstd_codec_decompress(const void *src, size_t n, void *dst, size_t cap, size_t *out_len)
{
	*out_len = 0;
	/* Only a single checksummed frame of the current format is accepted: coffer writes
	 * nothing else, and refusing legacy, skippable or concatenated frames keeps the decoder
	 * surface small. */
	if (n < 5)
		return coffer_error_set(COFFER_ECORRUPT, "zstd: input of %zu bytes is too short for a frame", n);
	const uint8_t *bytes = src;
	uint32_t magic = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
	                 (uint32_t)bytes[3] << 24;
	if (magic != ZSTD_MAGICNUMBER)
		return coffer_error_set(COFFER_ECORRUPT, "zstd: bad frame magic 0x%08x (expected 0x%08x)",
		                        (unsigned int)magic, (unsigned int)ZSTD_MAGICNUMBER);
	/* The checksum must be there: damage that cleared its flag (bit 2 of the frame header
	 * descriptor, RFC 8878 3.1.1.1.1) would otherwise decode to wrong data unnoticed. */
	if (!(bytes[4] & FRAME_CHECKSUM_FLAG))
		return coffer_error_set(COFFER_ECORRUPT,
		                        "zstd: frame carries no content checksum (coffer writes one in every "
		                        "frame)");
	size_t frame_size = ZSTD_findFrameCompressedSize(src, n);
	if (ZSTD_isError(frame_size))
		return coffer_error_set(COFFER_ECORRUPT, "zstd: malformed frame in %zu input bytes: %s", n,
		                        ZSTD_getErrorName(frame_size));
	if (frame_size != n)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "zstd: %zu bytes of trailing data after a frame of %zu bytes",
		                        n - frame_size, frame_size);
	unsigned long long content_size = ZSTD_getFrameContentSize(src, n);
	if (content_size == ZSTD_CONTENTSIZE_ERROR)
		return coffer_error_set(COFFER_ECORRUPT, "zstd: malformed frame header");
	if (content_size != ZSTD_CONTENTSIZE_UNKNOWN && content_size > cap)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "zstd: frame holds %llu bytes, more than the expected %zu",
		                        content_size, cap);
	ZSTD_DCtx *context = thread_decompress_context();
	if (!context)
		return coffer_error_last()->code;
	/* With a flat output buffer zstd decodes in place and stops at cap. */
	size_t decoded = ZSTD_decompressDCtx(context, dst, cap, src, n);
	if (ZSTD_isError(decoded)) {
		ZSTD_ErrorCode error = ZSTD_getErrorCode(decoded);
		if (error == ZSTD_error_memory_allocation)
			return coffer_error_set(COFFER_ENOMEM, "zstd: out of memory decompressing");
		if (error == ZSTD_error_dstSize_tooSmall)
			return coffer_error_set(COFFER_ECORRUPT,
			                        "zstd: frame decodes to more than the expected %zu bytes", cap);
		return coffer_error_set(COFFER_ECORRUPT, "zstd: corrupt frame of %zu bytes: %s", n,
		                        ZSTD_getErrorName(decoded));
	}
	*out_len = decoded;
	return 0;
}

/* Kopia's names and what they mean in libzstd levels: klauspost/compress maps
 * SpeedFastest to level 1, SpeedBetterCompression to 7-8 and SpeedBestCompression to 11. */
static const coffer_codec_variant zstd_variants[] = {
	{ "zstd-fastest", 1 },
	{ "zstd-better-compression", 7 },
	{ "zstd-best-compression", 11 },
	{ NULL, 0 },
};

static coffer_codec_vtable zstd_vtable = {
	.version = COFFER_CODEC_VTABLE_VERSION,
	.id = COFFER_CODEC_ID_ZSTD,
	.min_level = 1,
	.max_level = 19,
	.default_level = ZSTD_CODEC_DEFAULT_LEVEL,
	.variants = zstd_variants,
	.bound = zstd_codec_bound,
	.compress = zstd_codec_compress,
	.decompress = zstd_codec_decompress,
};

/* ZSTD_minCLevel() and ZSTD_maxCLevel() are functions, not constants, so the range is
 * filled in when the module is loaded, before the core reads the descriptor. */
__attribute__((constructor)) static void set_level_range(void)
{
	zstd_vtable.min_level = ZSTD_minCLevel();
	zstd_vtable.max_level = ZSTD_maxCLevel();
}

static const char *const zstd_names[] = { "zstd", NULL };

COFFER_PLUGIN_DEFINE(codec_zstd) = {
	COFFER_PLUGIN_MAGIC, COFFER_ABI_VERSION, COFFER_PLUGIN_CODEC, "codec-zstd",
	"Zstandard compression (libzstd), levels from negative (fastest) to 22",
	zstd_names, NULL, &zstd_vtable,
};
