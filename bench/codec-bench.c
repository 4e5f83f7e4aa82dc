/* codec-bench: compress and decompress files in fixed-size chunks with every codec plugin
 * and level, through the core as the repository engine does, and print speed and ratio.
 * bench/codecs.sh builds the corpus and runs this beside `zstd -b` and `gzip`. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coffer/coffer.h>
#include <coffer/sys/codec.h>
#include <coffer/sys/plugin.h>
#include <coffer/sys/preload.h>

#define DEFAULT_CHUNK_SIZE (1024 * 1024)
#define MAX_REFERENCES 256

/* A figure measured outside coffer (zstd -b, gzip) for the same codec, level and file. */
typedef struct reference_result {
	char codec[32];
	char file[256];
	char tool[64]; /* e.g. "zstd -b -B1MiB" */
	int level;
	double ratio, compress_mbps, decompress_mbps;
} reference_result;

typedef struct bench_options {
	size_t chunk_size;
	double min_seconds;
	int json;
	int all_levels;
	const char *codec_filter; /* comma-separated primary names, or NULL for all */
	int levels[64];           /* --levels: exactly these, where in range */
	size_t level_count;
	int list_only, header_only, no_header;
	reference_result references[MAX_REFERENCES];
	size_t reference_count;
} bench_options;

typedef struct corpus_file {
	const char *label;
	uint8_t *data;
	size_t size;
} corpus_file;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: codec-bench [options] FILE...\n"
	        "       codec-bench --list [--all-levels | --levels L,L] [--codecs NAME,NAME]\n"
	        "Compresses each FILE in chunks with every codec plugin and prints compress and\n"
	        "decompress MB/s (10^6 bytes of input per second, the fastest of the passes made in\n"
	        "--min-time) and ratio (input / output).\n"
	        "  --all-levels        every level (zstd: -7, -5, -3, -1 and 1 up), not just the\n"
	        "                      default and the named ones\n"
	        "  --levels L,L        exactly these levels (where a codec has them)\n"
	        "  --codecs NAME,NAME  only these codecs\n"
	        "  --chunk-size BYTES  default 1048576, as the repository stores data\n"
	        "  --min-time SECONDS  default 1, as `zstd -b -i1`\n"
	        "  --reference TSV     lines 'codec level file tool ratio compress-MB/s decompress-MB/s'\n"
	        "                      (tab-separated) measured by other tools, printed beside rows\n"
	        "  --json              JSON instead of a table\n"
	        "  --header            print the table header and exit\n"
	        "  --no-header         rows only (JSON: one object per line), for callers that join runs\n"
	        "  --list              print the 'codec level' pairs that would run, and exit\n");
}

static int read_file(const char *path, corpus_file *out)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "codec-bench: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 20, len = 0;
	uint8_t *data = malloc(cap);
	for (;;) {
		if (!data) {
			fprintf(stderr, "codec-bench: out of memory reading %s\n", path);
			fclose(f);
			return -1;
		}
		size_t got = fread(data + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
		if (len == cap) {
			cap *= 2;
			uint8_t *bigger = realloc(data, cap);
			if (!bigger)
				free(data);
			data = bigger;
		}
	}
	int failed = ferror(f);
	fclose(f);
	if (failed) {
		fprintf(stderr, "codec-bench: error reading %s\n", path);
		free(data);
		return -1;
	}
	const char *slash = strrchr(path, '/');
	out->label = slash ? slash + 1 : path;
	out->data = data;
	out->size = len;
	return 0;
}

static int load_references(bench_options *opts, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "codec-bench: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[1024];
	while (fgets(line, sizeof(line), f) && opts->reference_count < MAX_REFERENCES) {
		reference_result *r = &opts->references[opts->reference_count];
		if (sscanf(line, "%31[^\t]\t%d\t%255[^\t]\t%63[^\t]\t%lf\t%lf\t%lf", r->codec, &r->level, r->file,
		           r->tool, &r->ratio, &r->compress_mbps, &r->decompress_mbps) == 7)
			opts->reference_count++;
	}
	fclose(f);
	return 0;
}

static const reference_result *find_reference(const bench_options *opts, const char *codec, int level,
                                              const char *file)
{
	for (size_t i = 0; i < opts->reference_count; i++) {
		const reference_result *r = &opts->references[i];
		if (r->level == level && strcmp(r->codec, codec) == 0 && strcmp(r->file, file) == 0)
			return r;
	}
	return NULL;
}

static int codec_selected(const bench_options *opts, const char *name)
{
	if (!opts->codec_filter)
		return 1;
	size_t len = strlen(name);
	for (const char *p = opts->codec_filter; *p;) {
		const char *end = strchr(p, ',');
		size_t item = end ? (size_t)(end - p) : strlen(p);
		if (item == len && strncmp(p, name, len) == 0)
			return 1;
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

typedef struct bench_result {
	double compress_mbps, decompress_mbps, ratio;
	size_t compressed_size;
} bench_result;

/* Compresses the file chunk by chunk until min_seconds have passed (at least once), then
 * decompresses likewise and checks every chunk came back unchanged. */
static int bench_one(const bench_options *opts, const coffer_codec *codec, const corpus_file *file,
                     bench_result *out)
{
	size_t chunk_count = file->size / opts->chunk_size + (file->size % opts->chunk_size != 0);
	size_t bound = coffer_codec_bound(codec, opts->chunk_size);
	uint8_t *compressed = malloc(chunk_count * bound + 1);
	size_t *compressed_len = calloc(chunk_count + 1, sizeof(size_t));
	uint8_t *restored = malloc(opts->chunk_size);
	int rc = -1;
	if (!compressed || !compressed_len || !restored) {
		fprintf(stderr, "codec-bench: out of memory\n");
		goto done;
	}
	/* Like `zstd -b`, the fastest pass counts: other work on the machine only slows
	 * passes down, never speeds them up. */
	double start = now_seconds(), pass_start = start, fastest = 0, now;
	size_t passes = 0;
	do {
		for (size_t i = 0; i < chunk_count; i++) {
			size_t offset = i * opts->chunk_size;
			size_t n = file->size - offset < opts->chunk_size ? file->size - offset : opts->chunk_size;
			if (coffer_codec_compress(codec, file->data + offset, n, compressed + i * bound, bound,
			                          &compressed_len[i]) != 0) {
				fprintf(stderr, "codec-bench: %s:%d compress failed: %s\n", codec->name, codec->level,
				        coffer_error_last()->message);
				goto done;
			}
		}
		passes++;
		now = now_seconds();
		if (passes == 1 || now - pass_start < fastest)
			fastest = now - pass_start;
		pass_start = now;
	} while (now - start < opts->min_seconds);
	out->compress_mbps = (double)file->size / (fastest > 0 ? fastest : 1e-9) / 1e6;
	out->compressed_size = 0;
	for (size_t i = 0; i < chunk_count; i++)
		out->compressed_size += compressed_len[i];
	out->ratio = out->compressed_size ? (double)file->size / (double)out->compressed_size : 0;

	start = pass_start = now_seconds();
	fastest = 0;
	passes = 0;
	do {
		for (size_t i = 0; i < chunk_count; i++) {
			size_t offset = i * opts->chunk_size;
			size_t n = file->size - offset < opts->chunk_size ? file->size - offset : opts->chunk_size;
			size_t restored_len;
			if (coffer_codec_decompress(codec, compressed + i * bound, compressed_len[i], restored,
			                            opts->chunk_size, &restored_len) != 0) {
				fprintf(stderr, "codec-bench: %s:%d decompress failed: %s\n", codec->name, codec->level,
				        coffer_error_last()->message);
				goto done;
			}
			/* Checked on the first pass only, so the check stays out of later timings. */
			if (passes == 0 && (restored_len != n || memcmp(restored, file->data + offset, n) != 0)) {
				fprintf(stderr, "codec-bench: %s:%d chunk %zu of %s did not round-trip\n", codec->name,
				        codec->level, i, file->label);
				goto done;
			}
		}
		passes++;
		now = now_seconds();
		if (passes == 1 || now - pass_start < fastest)
			fastest = now - pass_start;
		pass_start = now;
	} while (now - start < opts->min_seconds);
	out->decompress_mbps = (double)file->size / (fastest > 0 ? fastest : 1e-9) / 1e6;
	rc = 0;
done:
	free(compressed);
	free(compressed_len);
	free(restored);
	return rc;
}

/* The levels worth a row: those given with --levels; with --all-levels every level,
 * except that a range reaching far below zero (zstd's goes to -131072) contributes -1, -3,
 * -5 and -7 only; otherwise the default and the levels that have names. */
static size_t levels_to_run(const bench_options *opts, const coffer_codec_vtable *vt, int *levels,
                            size_t max)
{
	size_t count = 0;
	if (opts->level_count) {
		for (size_t i = 0; i < opts->level_count && count < max; i++)
			if (opts->levels[i] >= vt->min_level && opts->levels[i] <= vt->max_level)
				levels[count++] = opts->levels[i];
		return count;
	}
	if (opts->all_levels) {
		for (int level = -7; level <= -1 && count < max; level += 2)
			if (level >= vt->min_level)
				levels[count++] = level;
		int first = vt->min_level >= 0 ? vt->min_level : 1;
		for (int level = first; level <= vt->max_level && count < max; level++)
			levels[count++] = level;
		return count;
	}
	levels[count++] = vt->default_level;
	for (const coffer_codec_variant *v = vt->variants; v && v->name && count < max; v++) {
		int seen = 0;
		for (size_t i = 0; i < count; i++)
			seen |= levels[i] == v->level;
		if (!seen)
			levels[count++] = v->level;
	}
	/* Ascending, so rows read from fast to strong. */
	for (size_t i = 1; i < count; i++)
		for (size_t j = i; j > 0 && levels[j - 1] > levels[j]; j--) {
			int t = levels[j];
			levels[j] = levels[j - 1];
			levels[j - 1] = t;
		}
	return count;
}

/* "zstd-fastest" for a level that has a name, "" otherwise. */
static const char *level_name(const coffer_codec_vtable *vt, int level)
{
	const char *name = "";
	for (const coffer_codec_variant *v = vt->variants; v && v->name; v++)
		if (v->level == level)
			name = v->name;
	return name;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned int)(unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int parse_levels(bench_options *opts, const char *text)
{
	opts->level_count = 0;
	while (*text) {
		char *end;
		long level = strtol(text, &end, 10);
		if (end == text || (*end && *end != ',') || level < -1000000 || level > 1000000 ||
		    opts->level_count == sizeof(opts->levels) / sizeof(opts->levels[0])) {
			fprintf(stderr, "codec-bench: --levels wants numbers separated by commas\n");
			return -1;
		}
		opts->levels[opts->level_count++] = (int)level;
		text = *end ? end + 1 : end;
	}
	return 0;
}

static void print_header(void)
{
	printf("%-16s %-12s %6s %-24s %10s %10s %7s   %s\n", "file", "codec", "level", "name", "comp MB/s",
	       "dec MB/s", "ratio", "same run, other tool: comp MB/s, dec MB/s, ratio");
}

static void print_row(const bench_options *opts, const corpus_file *file,
                      const coffer_plugin_descriptor *d, int level, const bench_result *r,
                      int first_row)
{
	const coffer_codec_vtable *vt = d->vtable;
	const reference_result *ref = find_reference(opts, d->names[0], level, file->label);
	const char *named = level_name(vt, level);
	int is_default = level == vt->default_level;
	if (opts->json) {
		/* With --no-header each row stands alone on its line, for the caller to join. */
		if (!opts->no_header)
			printf("%s\n  ", first_row ? "" : ",");
		printf("{\"file\": ");
		json_string(file->label);
		printf(", \"bytes\": %zu, \"codec\": ", file->size);
		json_string(d->names[0]);
		printf(", \"level\": %d, \"name\": ", level);
		json_string(named);
		printf(", \"default\": %s, \"compress_mbps\": %.1f, \"decompress_mbps\": %.1f, "
		       "\"ratio\": %.4f, \"compressed_bytes\": %zu",
		       is_default ? "true" : "false", r->compress_mbps, r->decompress_mbps, r->ratio,
		       r->compressed_size);
		if (ref) {
			printf(", \"reference\": {\"tool\": ");
			json_string(ref->tool);
			printf(", \"compress_mbps\": %.1f, \"decompress_mbps\": %.1f, \"ratio\": %.4f}",
			       ref->compress_mbps, ref->decompress_mbps, ref->ratio);
		}
		printf("}");
		if (opts->no_header)
			printf("\n");
	} else {
		char name[64];
		snprintf(name, sizeof(name), "%s%s%s", named, *named && is_default ? " " : "",
		         is_default ? "(default)" : *named ? "" : "-");
		printf("%-16.16s %-12s %6d %-24s %10.1f %10.1f %7.3f", file->label, d->names[0], level, name,
		       r->compress_mbps, r->decompress_mbps, r->ratio);
		if (ref)
			printf("   %s: %.1f, %.1f, %.3f", ref->tool, ref->compress_mbps, ref->decompress_mbps,
			       ref->ratio);
		printf("\n");
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static bench_options opts;
	opts.chunk_size = DEFAULT_CHUNK_SIZE;
	opts.min_seconds = 1.0; /* as `zstd -b -i1` */
	int first_file = argc;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--json") == 0) {
			opts.json = 1;
		} else if (strcmp(arg, "--all-levels") == 0) {
			opts.all_levels = 1;
		} else if (strcmp(arg, "--list") == 0) {
			opts.list_only = 1;
		} else if (strcmp(arg, "--header") == 0) {
			opts.header_only = 1;
		} else if (strcmp(arg, "--no-header") == 0) {
			opts.no_header = 1;
		} else if (strcmp(arg, "--levels") == 0 && i + 1 < argc) {
			if (parse_levels(&opts, argv[++i]) != 0)
				return 2;
		} else if (strcmp(arg, "--chunk-size") == 0 && i + 1 < argc) {
			char *end;
			unsigned long long v = strtoull(argv[++i], &end, 10);
			if (*end || v == 0 || v > (1ull << 30)) {
				fprintf(stderr, "codec-bench: --chunk-size wants 1 to 1073741824 bytes\n");
				return 2;
			}
			opts.chunk_size = (size_t)v;
		} else if (strcmp(arg, "--min-time") == 0 && i + 1 < argc) {
			opts.min_seconds = atof(argv[++i]);
		} else if (strcmp(arg, "--codecs") == 0 && i + 1 < argc) {
			opts.codec_filter = argv[++i];
		} else if (strcmp(arg, "--reference") == 0 && i + 1 < argc) {
			if (load_references(&opts, argv[++i]) != 0)
				return 1;
		} else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (arg[0] == '-' && arg[1] != '\0') {
			fprintf(stderr, "codec-bench: unknown option %s\n", arg);
			usage(stderr);
			return 2;
		} else {
			first_file = i;
			break;
		}
	}
	if (opts.header_only) {
		print_header();
		return 0;
	}
	if (first_file >= argc && !opts.list_only) {
		usage(stderr);
		return 2;
	}

	COFFER_SET_PRELOADED_PLUGINS();
	coffer_core *core;
	coffer_core_options core_opts = COFFER_CORE_OPTIONS_INIT;
	core_opts.plugin_path = "";
	core_opts.no_default_path = 1;
	if (coffer_core_new(&core, &core_opts) != 0) {
		fprintf(stderr, "codec-bench: %s\n", coffer_error_last()->message);
		return 1;
	}

	int status = 0, first_row = 1;
	if (!opts.list_only && !opts.no_header) {
		if (opts.json)
			printf("{\"chunk_size\": %zu, \"results\": [", opts.chunk_size);
		else
			print_header();
	}
	/* --list runs the plugin loop once, with no file. */
	int file_count = opts.list_only ? 1 : argc - first_file;
	for (int f = 0; f < file_count && status == 0; f++) {
		corpus_file file = { NULL, NULL, 0 };
		if (!opts.list_only && read_file(argv[first_file + f], &file) != 0) {
			status = 1;
			break;
		}
		for (size_t p = 0; p < coffer_core_plugin_count(core) && status == 0; p++) {
			const coffer_plugin_descriptor *d = coffer_core_plugin(core, p)->descriptor;
			if (d->kind != COFFER_PLUGIN_CODEC || !codec_selected(&opts, d->names[0]))
				continue;
			const coffer_codec_vtable *vt = d->vtable;
			int levels[64];
			size_t level_count = levels_to_run(&opts, vt, levels, sizeof(levels) / sizeof(levels[0]));
			for (size_t l = 0; l < level_count && status == 0; l++) {
				if (opts.list_only) {
					printf("%s %d\n", d->names[0], levels[l]);
					continue;
				}
				char spec[96];
				snprintf(spec, sizeof(spec), "%s:%d", d->names[0], levels[l]);
				coffer_codec codec;
				/* "none" has no level to give; its plain name is the spec. */
				const char *lookup = vt->min_level == vt->max_level ? d->names[0] : spec;
				bench_result r;
				if (coffer_codec_lookup(core, lookup, &codec) != 0) {
					fprintf(stderr, "codec-bench: %s\n", coffer_error_last()->message);
					status = 1;
					break;
				}
				if (bench_one(&opts, &codec, &file, &r) != 0) {
					status = 1;
					break;
				}
				print_row(&opts, &file, d, levels[l], &r, first_row);
				first_row = 0;
			}
		}
		free(file.data);
	}
	if (opts.json && !opts.list_only && !opts.no_header)
		printf("\n]}\n");
	coffer_core_free(core);
	return status;
}
