/* Runs the backend conformance suite against any URL, with plugins loaded from files
 * ($COFFER_PLUGIN_PATH, nothing preloaded): how third-party and remote backends are
 * checked.
 *
 *   conformance_runner [--config FILE] [--expect-plugin-file TEXT] [--max-name-length N]
 *                      [--large-size BYTES] [--many N] [--threads N] URL
 *
 * --expect-plugin-file fails unless the plugin serving the URL's scheme was loaded from
 * a file whose path contains TEXT (so a test knows which copy it checked). Exit status:
 * 0 when every test passed, 1 on failures, 2 on usage errors, 77 when no plugin serves
 * the scheme and --expect-plugin-file was not given (nothing to check). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/sys/plugin.h>

#include "backend_conformance.h"

static void usage(void)
{
	fprintf(stderr, "usage: conformance_runner [--config FILE] [--expect-plugin-file TEXT] "
	                "[--max-name-length N] [--large-size BYTES] [--many N] [--threads N] URL\n");
}

static int parse_size(const char *text, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	if (!text[0] || *end || v == 0)
		return -1;
	*out = (size_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *config_file = NULL, *expect_file = NULL, *url = NULL;
	coffer_conformance_options copts = COFFER_CONFORMANCE_OPTIONS_INIT;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		size_t value;
		if (strcmp(arg, "--config") == 0 && i + 1 < argc) {
			config_file = argv[++i];
		} else if (strcmp(arg, "--expect-plugin-file") == 0 && i + 1 < argc) {
			expect_file = argv[++i];
		} else if (strcmp(arg, "--max-name-length") == 0 && i + 1 < argc &&
		           parse_size(argv[i + 1], &value) == 0) {
			copts.max_name_length = value;
			i++;
		} else if (strcmp(arg, "--large-size") == 0 && i + 1 < argc &&
		           parse_size(argv[i + 1], &value) == 0) {
			copts.large_blob_size = value;
			i++;
		} else if (strcmp(arg, "--many") == 0 && i + 1 < argc &&
		           parse_size(argv[i + 1], &value) == 0) {
			copts.many_blobs = (unsigned)value;
			i++;
		} else if (strcmp(arg, "--threads") == 0 && i + 1 < argc &&
		           parse_size(argv[i + 1], &value) == 0) {
			copts.threads = (unsigned)value;
			i++;
		} else if (arg[0] != '-' && !url) {
			url = arg;
		} else {
			usage();
			return 2;
		}
	}
	if (!url) {
		usage();
		return 2;
	}

	coffer_core_options opts = COFFER_CORE_OPTIONS_INIT;
	opts.plugin_path = NULL; /* $COFFER_PLUGIN_PATH */
	opts.no_default_path = 1;
	opts.config_file = config_file;
	coffer_core *core;
	if (coffer_core_new(&core, &opts) != 0) {
		fprintf(stderr, "conformance_runner: %s\n", coffer_error_last()->message);
		return 1;
	}
	for (size_t i = 0; i < coffer_core_problem_count(core); i++)
		fprintf(stderr, "conformance_runner: plugin problem: %s\n", coffer_core_problem(core, i));

	coffer_url *parsed;
	if (coffer_url_parse(&parsed, url) != 0) {
		fprintf(stderr, "conformance_runner: %s\n", coffer_error_last()->message);
		coffer_core_free(core);
		return 2;
	}
	const coffer_plugin_info *info;
	int rc = coffer_core_find(core, COFFER_PLUGIN_BACKEND, parsed->scheme, &info);
	coffer_url_free(parsed);
	if (rc != 0) {
		fprintf(stderr, "conformance_runner: %s\n", coffer_error_last()->message);
		coffer_core_free(core);
		return expect_file ? 1 : 77;
	}
	fprintf(stderr, "conformance_runner: %s served by %s (%s) from %s\n", url,
	        info->descriptor->name, info->descriptor->description, info->file);
	if (expect_file && !strstr(info->file, expect_file)) {
		fprintf(stderr, "conformance_runner: expected the plugin from a file matching '%s'\n",
		        expect_file);
		coffer_core_free(core);
		return 1;
	}

	SRunner *sr = srunner_create(coffer_conformance_suite(core, url, &copts));
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	coffer_core_free(core);
	return failed ? 1 : 0;
}
