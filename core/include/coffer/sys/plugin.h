/* coffer plugin ABI: the one descriptor every plugin module exports.
 * See docs/ARCHITECTURE.md for the versioning rule. */
#ifndef COFFER_SYS_PLUGIN_H
#define COFFER_SYS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <coffer/common.h>
#include <coffer/error.h>
#include <coffer/config.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "CFFR": rejects files that merely happen to export the symbol name. */
#define COFFER_PLUGIN_MAGIC 0x43464652u

/* Bumped on any incompatible change to a descriptor or vtable layout. Vtables may grow
 * at the end without a bump; their own `version` field tells how far. */
#define COFFER_ABI_VERSION 1u

typedef enum coffer_plugin_kind {
	COFFER_PLUGIN_BACKEND = 1,
	COFFER_PLUGIN_CODEC = 2,
	COFFER_PLUGIN_HOOK = 3,
	COFFER_PLUGIN_FRONTEND = 4
} coffer_plugin_kind;

typedef struct coffer_plugin_descriptor {
	uint32_t magic;            /* COFFER_PLUGIN_MAGIC */
	unsigned int abi_version;  /* COFFER_ABI_VERSION the plugin was built against */
	coffer_plugin_kind kind;
	const char *name;          /* e.g. "backend-fs", "codec-zstd" */
	const char *description;   /* one line for `coffer plugins` */
	const char *const *names;  /* NULL-terminated: URL schemes, codec names or front-end names */
	const coffer_option *options; /* keys accepted in the plugin's config subtree; may be NULL */
	const void *vtable;        /* coffer_backend_vtable, coffer_codec_vtable, ... by kind */
} coffer_plugin_descriptor;

/* Every module exports exactly one symbol, `<modname>_LTX_coffer_plugin`, where modname is
 * the module file name with non-alphanumerics mapped to '_' (libtool's convention), e.g.
 * backend-fs.la exports backend_fs_LTX_coffer_plugin. Use:
 *   COFFER_PLUGIN_DEFINE(backend_fs) = { COFFER_PLUGIN_MAGIC, COFFER_ABI_VERSION, ... };
 */
#define COFFER_PLUGIN_SYMBOL "coffer_plugin"
#define COFFER_PLUGIN_DEFINE(modname) COFFER_PLUGIN_DEFINE_EXPANDED_(modname)
#define COFFER_PLUGIN_DEFINE_EXPANDED_(modname) \
	extern const coffer_plugin_descriptor modname##_LTX_coffer_plugin; \
	const coffer_plugin_descriptor modname##_LTX_coffer_plugin

#ifdef __cplusplus
}
#endif
#endif
