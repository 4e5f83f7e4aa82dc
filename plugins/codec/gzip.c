/* The "gzip" codec: each chunk is one gzip member (RFC 1952) made by zlib, so `gzip -d`
 * reads what coffer writes. */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <zlib.h>

#include <coffer/sys/codec.h>

/* Level 6 is the default, as in gzip, zlib and kopia, so "gzip" means what users expect.
 * It is slow (13 MB/s vs 74 at level 1 on bench/codecs.sh's mixed corpus, for a 7% better
 * ratio), but zstd is the fast codec; gzip-best-speed is there for those who want level 1. */
#define GZIP_CODEC_DEFAULT_LEVEL 6
#define GZIP_WINDOW_BITS (15 + 16) /* 32 KiB window, gzip wrapper */
#define GZIP_MEMORY_LEVEL 8

/* deflate spends ~15 ns a byte looking for matches in data that has none (random or
 * already compressed). So input is deflated in segments, and a segment whose sample does
 * not shrink at level 1 goes into stored blocks instead, at memcpy speed. */
#define SEGMENT_SIZE (64 * 1024)
#define PROBE_SIZE (4 * 1024)
/* A sample must shrink by at least 1/32 for its segment to be worth deflating. */
#define PROBE_MIN_GAIN_SHIFT 5

/* Each thread keeps its zlib streams (about 300 KiB of tables for deflate) and resets
 * them between chunks; the key's destructor frees them when the thread exits. The module
 * is linked with -z nodelete so that destructor's code stays mapped after lt_dlclose. */
typedef struct gzip_thread_streams {
	z_stream deflate;         /* the member being written */
	z_stream probe;           /* raw deflate at level 1 for the compressibility samples */
	z_stream inflate;
	int deflate_ready, probe_ready, inflate_ready;
	uint8_t probe_output[PROBE_SIZE + 64];
} gzip_thread_streams;

static pthread_key_t streams_key;
static pthread_once_t streams_key_once = PTHREAD_ONCE_INIT;
static int streams_key_error;

static void free_thread_streams(void *value)
{
	gzip_thread_streams *streams = value;
	if (!streams)
		return;
	if (streams->deflate_ready)
		deflateEnd(&streams->deflate);
	if (streams->probe_ready)
		deflateEnd(&streams->probe);
	if (streams->inflate_ready)
		inflateEnd(&streams->inflate);
	coffer_free(streams);
}

static void create_streams_key(void)
{
	streams_key_error = pthread_key_create(&streams_key, free_thread_streams);
}

static gzip_thread_streams *thread_streams(void)
{
	pthread_once(&streams_key_once, create_streams_key);
	if (streams_key_error) {
		coffer_error_set_errno(COFFER_ERROR, streams_key_error,
		                       "gzip: cannot create the per-thread stream key");
		return NULL;
	}
	gzip_thread_streams *streams = pthread_getspecific(streams_key);
	if (streams)
		return streams;
	streams = coffer_calloc(1, sizeof(*streams));
	if (!streams)
		return NULL;
	int err = pthread_setspecific(streams_key, streams);
	if (err) {
		coffer_free(streams);
		coffer_error_set_errno(COFFER_ERROR, err, "gzip: cannot store the per-thread streams");
		return NULL;
	}
	return streams;
}

static int zlib_failure(int zlib_code, const z_stream *stream, const char *what)
{
	if (zlib_code == Z_MEM_ERROR)
		return coffer_error_set(COFFER_ENOMEM, "gzip: out of memory %s", what);
	return coffer_error_set(COFFER_ERROR, "gzip: zlib failed %s: %s (code %d)", what,
	                        stream && stream->msg ? stream->msg : zError(zlib_code), zlib_code);
}

/* The member stream, reset and set to `level` (0 = stored blocks). */
static int prepare_deflate(gzip_thread_streams *streams, int level)
{
	int ret;
	if (!streams->deflate_ready) {
		ret = deflateInit2(&streams->deflate, level, Z_DEFLATED, GZIP_WINDOW_BITS, GZIP_MEMORY_LEVEL,
		                   Z_DEFAULT_STRATEGY);
		if (ret != Z_OK)
			return zlib_failure(ret, &streams->deflate, "initialising deflate");
		streams->deflate_ready = 1;
		return 0;
	}
	ret = deflateReset(&streams->deflate);
	/* Right after a reset nothing is pending, so changing the level flushes nothing. */
	if (ret == Z_OK)
		ret = deflateParams(&streams->deflate, level, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK)
		return zlib_failure(ret, &streams->deflate, "resetting deflate");
	return 0;
}

/* Whether deflate at level 1 shrinks a sample from the middle of the segment. */
static int segment_looks_compressible(gzip_thread_streams *streams, const uint8_t *segment,
                                      size_t length)
{
	if (length < 2 * PROBE_SIZE)
		return 1; /* too little to be worth a probe */
	int ret;
	if (!streams->probe_ready) {
		ret = deflateInit2(&streams->probe, 1, Z_DEFLATED, -15, GZIP_MEMORY_LEVEL, Z_DEFAULT_STRATEGY);
		if (ret != Z_OK)
			return 1; /* no probe: just deflate everything */
		streams->probe_ready = 1;
	} else if (deflateReset(&streams->probe) != Z_OK) {
		return 1;
	}
	z_stream *probe = &streams->probe;
	probe->next_in = (Bytef *)(uintptr_t)(segment + (length - PROBE_SIZE) / 2);
	probe->avail_in = PROBE_SIZE;
	probe->next_out = streams->probe_output;
	probe->avail_out = sizeof(streams->probe_output);
	ret = deflate(probe, Z_FINISH);
	if (ret != Z_STREAM_END)
		return 1;
	return probe->total_out < PROBE_SIZE - (PROBE_SIZE >> PROBE_MIN_GAIN_SHIFT);
}

/* zlib's bound for one member at the default parameters, plus a few bytes for the block
 * that each switch between stored and deflated segments ends early. */
static size_t gzip_codec_bound(size_t n, int level)
{
	size_t switches = n / SEGMENT_SIZE + 1;
	size_t bound = n + (n >> 12) + (n >> 14) + (n >> 25) + 7 + 18 + 8 * switches;
	return bound < n ? 0 : bound;
}

/* Runs deflate until the current input is consumed (or the member finished), feeding the
 * output window in pieces that fit zlib's 32-bit counters. */
static int run_deflate(z_stream *stream, int flush, uint8_t *dst, size_t cap, size_t *written)
{
	for (;;) {
		size_t room = cap - *written;
		stream->next_out = dst + *written;
		stream->avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
		uInt offered = stream->avail_out;
		int ret = deflate(stream, flush);
		*written += offered - stream->avail_out;
		if (ret == Z_STREAM_END)
			return 0;
		if (ret != Z_OK && ret != Z_BUF_ERROR)
			return zlib_failure(ret, stream, "compressing");
		if (flush != Z_FINISH && stream->avail_in == 0 && stream->avail_out != 0)
			return 0;
		if (*written == cap)
			return coffer_error_set(COFFER_ERROR,
			                        "gzip: output outgrew its %zu-byte bound (this is a bug)", cap);
	}
}

static int gzip_codec_compress(int level, const void *src, size_t n, void *dst, size_t cap,
                               size_t *out_len)
{
	*out_len = 0;
	if (level < 1 || level > 9)
		return coffer_error_set(COFFER_EINVALID, "gzip: compression level %d is out of range (1 to 9)",
		                        level);
	size_t bound = gzip_codec_bound(n, level);
	if (bound == 0)
		return coffer_error_set(COFFER_EINVALID, "gzip: %zu bytes are too many for one member", n);
	if (cap < bound)
		return coffer_error_set(COFFER_EINVALID,
		                        "gzip: output buffer of %zu bytes is smaller than the bound %zu for %zu "
		                        "input bytes", cap, bound, n);
	gzip_thread_streams *streams = thread_streams();
	if (!streams)
		return coffer_error_last()->code;
	int err = prepare_deflate(streams, level);
	if (err)
		return err;
	z_stream *stream = &streams->deflate;
	const uint8_t *input = src;
	size_t written = 0;
	int current_level = level;
	for (size_t offset = 0; offset < n; offset += SEGMENT_SIZE) {
		size_t length = n - offset < SEGMENT_SIZE ? n - offset : SEGMENT_SIZE;
		int wanted = segment_looks_compressible(streams, input + offset, length) ? level : 0;
		if (wanted != current_level) {
			/* deflateParams ends the current block, which needs output room. */
			size_t room = cap - written;
			stream->next_out = (uint8_t *)dst + written;
			stream->avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
			uInt offered = stream->avail_out;
			int ret = deflateParams(stream, wanted, Z_DEFAULT_STRATEGY);
			written += offered - stream->avail_out;
			if (ret != Z_OK)
				return zlib_failure(ret, stream, "switching compression level");
			current_level = wanted;
		}
		stream->next_in = (Bytef *)(uintptr_t)(input + offset);
		stream->avail_in = (uInt)length;
		err = run_deflate(stream, Z_NO_FLUSH, dst, cap, &written);
		if (err)
			return err;
	}
	stream->next_in = NULL;
	stream->avail_in = 0;
	err = run_deflate(stream, Z_FINISH, dst, cap, &written);
	if (err)
		return err;
	*out_len = written;
	return 0;
}

static int gzip_codec_decompress(const void *src, size_t n, void *dst, size_t cap, size_t *out_len)
{
	*out_len = 0;
	gzip_thread_streams *streams = thread_streams();
	if (!streams)
		return coffer_error_last()->code;
	z_stream *stream = &streams->inflate;
	int ret;
	if (!streams->inflate_ready) {
		/* 15 + 16: a gzip wrapper only; a bare zlib or raw deflate stream is refused. */
		ret = inflateInit2(stream, GZIP_WINDOW_BITS);
		if (ret != Z_OK)
			return zlib_failure(ret, stream, "initialising inflate");
		streams->inflate_ready = 1;
	} else if ((ret = inflateReset(stream)) != Z_OK) {
		return zlib_failure(ret, stream, "resetting inflate");
	}

	const uint8_t *input = src;
	uint8_t *output = dst;
	size_t consumed = 0, produced = 0;
	uint8_t overflow_probe = 0;
	for (;;) {
		/* zlib counts in 32 bits: hand it input and output in windows of at most 4 GiB. */
		size_t input_left = n - consumed, output_left = cap - produced;
		stream->next_in = (Bytef *)(uintptr_t)(input + consumed);
		stream->avail_in = input_left > UINT_MAX ? UINT_MAX : (uInt)input_left;
		/* With the output full, one spare byte tells a member that ends exactly at cap
		 * from one that would write more. */
		int probing = output_left == 0;
		stream->next_out = probing ? &overflow_probe : output + produced;
		stream->avail_out = probing ? 1 : output_left > UINT_MAX ? UINT_MAX : (uInt)output_left;
		uInt offered_in = stream->avail_in, offered_out = stream->avail_out;
		ret = inflate(stream, Z_NO_FLUSH);
		consumed += offered_in - stream->avail_in;
		size_t made = offered_out - stream->avail_out;
		if (probing && made)
			return coffer_error_set(COFFER_ECORRUPT,
			                        "gzip: member decodes to more than the expected %zu bytes", cap);
		if (!probing)
			produced += made;
		if (ret == Z_STREAM_END)
			break;
		if (ret == Z_MEM_ERROR)
			return coffer_error_set(COFFER_ENOMEM, "gzip: out of memory decompressing");
		if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT)
			return coffer_error_set(COFFER_ECORRUPT, "gzip: corrupt member at input byte %zu: %s",
			                        consumed, stream->msg ? stream->msg : "invalid data");
		if (ret != Z_OK && ret != Z_BUF_ERROR)
			return zlib_failure(ret, stream, "decompressing");
		if (consumed == n && offered_in - stream->avail_in == 0 && made == 0)
			return coffer_error_set(COFFER_ECORRUPT,
			                        "gzip: member is truncated after %zu input bytes", n);
	}
	if (consumed != n)
		return coffer_error_set(COFFER_ECORRUPT,
		                        "gzip: %zu bytes of trailing data after a member of %zu bytes",
		                        n - consumed, consumed);
	*out_len = produced;
	return 0;
}

/* Kopia's names: gzip-best-speed is zlib's Z_BEST_SPEED, gzip-best-compression Z_BEST_COMPRESSION. */
static const coffer_codec_variant gzip_variants[] = {
	{ "gzip-best-speed", Z_BEST_SPEED },
	{ "gzip-best-compression", Z_BEST_COMPRESSION },
	{ NULL, 0 },
};

static const coffer_codec_vtable gzip_vtable = {
	.version = COFFER_CODEC_VTABLE_VERSION,
	.id = COFFER_CODEC_ID_GZIP,
	.min_level = 1,
	.max_level = 9,
	.default_level = GZIP_CODEC_DEFAULT_LEVEL,
	.variants = gzip_variants,
	.bound = gzip_codec_bound,
	.compress = gzip_codec_compress,
	.decompress = gzip_codec_decompress,
};

static const char *const gzip_names[] = { "gzip", NULL };

COFFER_PLUGIN_DEFINE(codec_gzip) = {
	COFFER_PLUGIN_MAGIC, COFFER_ABI_VERSION, COFFER_PLUGIN_CODEC, "codec-gzip",
	"gzip members (zlib deflate), levels 1 to 9; readable by gzip -d",
	gzip_names, NULL, &gzip_vtable,
};
