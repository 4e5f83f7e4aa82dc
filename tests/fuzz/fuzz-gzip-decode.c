// FUZZ_SOURCES: plugins/codec/gzip.c core/src/error.c core/src/alloc.c
// FUZZ_LIBS: -lz
// FUZZ_CORPUS:
/* The gzip codec plugin's decoder on arbitrary bytes, called through its descriptor as the
 * core does. Inputs starting with 'C' instead compress the rest, damage the member as the
 * next bytes say, and decode that, so the fuzzer reaches deep inflate states without a
 * seed corpus. Checked: no crash or overrun, only COFFER_ECORRUPT (or ENOMEM) on failure,
 * success means the same output at exactly its own size and failure one byte below it,
 * and damaged members never decode to anything but the original. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/sys/codec.h>

extern const coffer_plugin_descriptor codec_gzip_LTX_coffer_plugin;
#define FUZZ_DESCRIPTOR codec_gzip_LTX_coffer_plugin
#define FUZZ_DAMAGE_LEVEL_FIRST 1 /* every level, 1 to 9 */
#define FUZZ_DAMAGE_LEVEL_COUNT 9

#include "fuzz-codec-decode.h"
