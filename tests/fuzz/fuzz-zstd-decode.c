// FUZZ_SOURCES: plugins/codec/zstd.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS: -lzstd
// FUZZ_CORPUS:
/* The zstd codec plugin's decoder on arbitrary bytes, called through its descriptor as the
 * core does. Inputs starting with 'C' instead compress the rest, damage the frame as the
 * next bytes say, and decode that, so the fuzzer reaches deep decoder states without a
 * seed corpus. Checked: no crash or overrun, only COFFER_ECORRUPT (or ENOMEM) on failure,
 * success means the same output at exactly its own size and failure one byte below it,
 * and damaged frames never decode to anything but the original. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/sys/codec.h>

extern const coffer_plugin_descriptor codec_zstd_LTX_coffer_plugin;
#define FUZZ_DESCRIPTOR codec_zstd_LTX_coffer_plugin
#define FUZZ_DAMAGE_LEVEL_FIRST (-5) /* levels -5 to 9: the fast ones and a few lazy ones */
#define FUZZ_DAMAGE_LEVEL_COUNT 15

#include "fuzz-codec-decode.h"
