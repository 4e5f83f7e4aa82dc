/* Fake codec, front-end and hook plugins; FAKE_KIND picks which one this module is, and
 * FAKE_ABI / FAKE_VTABLE / FAKE_MAGIC / FAKE_NO_DESCRIPTOR build deliberately broken ones. */
#include "config.h"

#include <string.h>

#include <coffer/sys/codec.h>
#include <coffer/sys/frontend.h>
#include <coffer/sys/hook.h>

#ifndef FAKE_ABI
#define FAKE_ABI COFFER_ABI_VERSION
#endif
#ifndef FAKE_VTABLE
#define FAKE_VTABLE 0
#endif
#ifndef FAKE_MAGIC
#define FAKE_MAGIC COFFER_PLUGIN_MAGIC
#endif

#if FAKE_KIND == 1
/* XOR "compression": output = input ^ 0x5a, with the level as a trailing byte check. */
static size_t xor_bound(size_t n, int level)
{
	return n;
}

static int xor_compress(int level, const void *src, size_t n, void *dst, size_t cap, size_t *out_len)
{
	if (cap < n)
		return coffer_error_set(COFFER_EINVALID, "xor: small buffer");
	for (size_t i = 0; i < n; i++)
		((unsigned char *)dst)[i] = ((const unsigned char *)src)[i] ^ 0x5a;
	*out_len = n;
	return 0;
}

static int xor_decompress(const void *src, size_t n, void *dst, size_t cap, size_t *out_len)
{
	if (cap < n)
		return coffer_error_set(COFFER_ECORRUPT, "xor: output too large");
	return xor_compress(0, src, n, dst, cap, out_len);
}

static const coffer_codec_variant xor_variants[] = { { "xor-fast", 1 }, { "xor-best", 9 }, { NULL, 0 } };
static const coffer_codec_vtable fake_vtable = {
	.version = FAKE_VTABLE ? FAKE_VTABLE : COFFER_CODEC_VTABLE_VERSION,
	.id = 200,
	.min_level = 1,
	.max_level = 9,
	.default_level = 5,
	.variants = xor_variants,
	.bound = xor_bound,
	.compress = xor_compress,
	.decompress = xor_decompress,
};
static const char *const fake_names[] = { "xor", NULL };
#define FAKE_PLUGIN_KIND COFFER_PLUGIN_CODEC
#elif FAKE_KIND == 2
static int fake_main(coffer_core *core, int argc, char **argv)
{
	return argc * 10 + (argc > 1 && strcmp(argv[1], "hello") == 0);
}
static const coffer_frontend_vtable fake_vtable = { FAKE_VTABLE ? FAKE_VTABLE : COFFER_FRONTEND_VTABLE_VERSION,
	                                            fake_main };
static const char *const fake_names[] = { "fakefront", NULL };
#define FAKE_PLUGIN_KIND COFFER_PLUGIN_FRONTEND
#else
static int fake_run(const coffer_hook_request *req)
{
	if (strcmp(req->command, "fail") == 0)
		return coffer_error_set(COFFER_ERROR, "fake hook: %s failed", req->action);
	if (req->log)
		req->log(req->log_ud, req->command);
	return 0;
}
static const coffer_hook_vtable fake_vtable = { FAKE_VTABLE ? FAKE_VTABLE : COFFER_HOOK_VTABLE_VERSION, fake_run };
static const char *const fake_names[] = { "fakehook", NULL };
#define FAKE_PLUGIN_KIND COFFER_PLUGIN_HOOK
#endif

#ifndef FAKE_NO_DESCRIPTOR
COFFER_PLUGIN_DEFINE(FAKE_MODNAME) = {
	FAKE_MAGIC, FAKE_ABI, FAKE_PLUGIN_KIND, FAKE_NAME, "fake plugin for tests", fake_names, NULL,
	&fake_vtable,
};
#else
/* Exports a symbol of another name only. */
extern const void *const fake_no_descriptor_other[];
const void *const fake_no_descriptor_other[] = { &fake_vtable, fake_names };
#endif
