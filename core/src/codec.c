/* Codec selection by name ("zstd", "zstd:7", "zstd-fastest") and by on-disk id. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/codec.h>
#include <coffer/sys/codec.h>

#include "registry_private.h"

static int parse_level(const char *text, int *out)
{
	char *end;
	long v = strtol(text, &end, 10);
	if (!*text || *end || v < -1000000 || v > 1000000)
		return -1;
	*out = (int)v;
	return 0;
}

int coffer_codec_lookup(coffer_core *core, const char *spec, coffer_codec *out)
{
	memset(out, 0, sizeof(*out));
	char base[128];
	const char *colon = strchr(spec, ':');
	size_t base_len = colon ? (size_t)(colon - spec) : strlen(spec);
	if (base_len == 0 || base_len >= sizeof(base))
		return coffer_error_set(COFFER_EINVALID, "invalid compression name '%s'", spec);
	memcpy(base, spec, base_len);
	base[base_len] = '\0';

	for (size_t i = 0; i < core->plugin_count; i++) {
		const coffer_plugin_descriptor *d = core->plugins[i].info.descriptor;
		if (d->kind != COFFER_PLUGIN_CODEC)
			continue;
		const coffer_codec_vtable *vt = d->vtable;
		int level = vt->default_level, found = 0;
		for (const char *const *n = d->names; *n && !found; n++)
			found = strcmp(*n, base) == 0;
		for (const coffer_codec_variant *v = vt->variants; v && v->name && !found; v++)
			if (strcmp(v->name, base) == 0) {
				found = 1;
				level = v->level;
			}
		if (!found)
			continue;
		if (colon) {
			if (parse_level(colon + 1, &level) != 0)
				return coffer_error_set(COFFER_EINVALID,
				                        "invalid compression level in '%s': not a number", spec);
			if (level < vt->min_level || level > vt->max_level)
				return coffer_error_set(COFFER_EINVALID,
				                        "compression level %d for %s is out of range (%d to %d)",
				                        level, d->names[0], vt->min_level, vt->max_level);
		}
		out->vt = vt;
		out->name = d->names[0];
		out->level = level;
		return 0;
	}
	char installed[1024];
	size_t used = 0;
	installed[0] = '\0';
	for (size_t i = 0; i < core->plugin_count && used < sizeof(installed); i++) {
		const coffer_plugin_descriptor *d = core->plugins[i].info.descriptor;
		if (d->kind != COFFER_PLUGIN_CODEC)
			continue;
		const coffer_codec_vtable *vt = d->vtable;
		used += (size_t)snprintf(installed + used, sizeof(installed) - used, "%s%s", used ? ", " : "",
		                         d->names[0]);
		for (const coffer_codec_variant *v = vt->variants; v && v->name && used < sizeof(installed); v++)
			used += (size_t)snprintf(installed + used, sizeof(installed) - used, ", %s", v->name);
	}
	return coffer_error_set(COFFER_ENOTFOUND, "unknown compression '%s' (installed: %s)", spec,
	                        installed[0] ? installed : "nothing");
}

int coffer_codec_by_id(coffer_core *core, unsigned int id, coffer_codec *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < core->plugin_count; i++) {
		const coffer_plugin_descriptor *d = core->plugins[i].info.descriptor;
		if (d->kind != COFFER_PLUGIN_CODEC)
			continue;
		const coffer_codec_vtable *vt = d->vtable;
		if (vt->id == id) {
			out->vt = vt;
			out->name = d->names[0];
			out->level = vt->default_level;
			return 0;
		}
	}
	return coffer_error_set(COFFER_ENOTFOUND,
	                        "data was compressed with codec id %u, but no installed codec plugin has "
	                        "that id", id);
}

size_t coffer_codec_bound(const coffer_codec *c, size_t n)
{
	return c->vt->bound(n, c->level);
}

int coffer_codec_compress(const coffer_codec *c, const void *src, size_t n, void *dst, size_t cap,
                          size_t *out_len)
{
	return c->vt->compress(c->level, src, n, dst, cap, out_len);
}

int coffer_codec_decompress(const coffer_codec *c, const void *src, size_t n, void *dst, size_t cap,
                            size_t *out_len)
{
	return c->vt->decompress(src, n, dst, cap, out_len);
}
