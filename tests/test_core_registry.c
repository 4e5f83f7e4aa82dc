/* The loader and registry, driven through fake plugins that count calls: loading from a
 * directory and from the preloaded list, ABI checks, name lookup, per-plugin config. */
#include "config.h"

#include <coffer/sys/frontend.h>
#include <coffer/sys/hook.h>
#include <coffer/sys/plugin.h>
#include <coffer/sys/preload.h>

#include "testlib.h"

static char fake_dir[4096];

static coffer_core *core_with(const char *path, const char *config_file)
{
	coffer_core_options opts = COFFER_CORE_OPTIONS_INIT;
	opts.plugin_path = path;
	opts.no_default_path = 1;
	opts.config_file = config_file;
	coffer_core *core = NULL;
	ck_assert_coffer_ok(coffer_core_new(&core, &opts));
	return core;
}

static int has_problem(coffer_core *core, const char *a, const char *b)
{
	for (size_t i = 0; i < coffer_core_problem_count(core); i++) {
		const char *p = coffer_core_problem(core, i);
		if (strstr(p, a) && (!b || strstr(p, b)))
			return 1;
	}
	return 0;
}

static void dump_problems(coffer_core *core)
{
	for (size_t i = 0; i < coffer_core_problem_count(core); i++)
		fprintf(stderr, "  problem: %s\n", coffer_core_problem(core, i));
}

START_TEST(loads_good_refuses_bad)
{
	coffer_core *core = core_with(fake_dir, NULL);
	const coffer_plugin_info *info;
	ck_assert_coffer_ok(coffer_core_find(core, COFFER_PLUGIN_BACKEND, "fake", &info));
	ck_assert_str_eq(info->descriptor->name, "fake-backend");
	ck_assert_ptr_nonnull(strstr(info->file, "fake-backend.la"));
	ck_assert_coffer_ok(coffer_core_find(core, COFFER_PLUGIN_BACKEND, "fake2", &info));
	ck_assert_coffer_ok(coffer_core_find(core, COFFER_PLUGIN_CODEC, "xor", &info));
	ck_assert_coffer_ok(coffer_core_find(core, COFFER_PLUGIN_FRONTEND, "fakefront", &info));
	ck_assert_coffer_ok(coffer_core_find(core, COFFER_PLUGIN_HOOK, "fakehook", &info));
	/* preloaded codec-none is there as well */
	ck_assert_coffer_ok(coffer_core_find(core, COFFER_PLUGIN_CODEC, "none", &info));
	ck_assert_ptr_nonnull(strstr(info->file, "preloaded"));

	dump_problems(core);
	ck_assert_msg(has_problem(core, "fake-abi", "ABI version 99") &&
	                      has_problem(core, "fake-abi", "ABI version 1"),
	              "the ABI mismatch must name the file and both versions");
	ck_assert(has_problem(core, "fake-vtable", "vtable version 7"));
	ck_assert(has_problem(core, "fake-magic", "magic 0x00001234"));
	ck_assert(has_problem(core, "fake-nodesc", "not a coffer plugin"));
	/* refused plugins are not usable */
	ck_assert_int_eq(coffer_core_find(core, COFFER_PLUGIN_FRONTEND, "fake-magic", &info), COFFER_ENOTFOUND);
	coffer_core_free(core);
}
END_TEST

START_TEST(unknown_names_list_installed)
{
	coffer_core *core = core_with(fake_dir, NULL);
	const coffer_plugin_info *info;
	ck_assert_int_eq(coffer_core_find(core, COFFER_PLUGIN_BACKEND, "ftp", &info), COFFER_ENOTFOUND);
	const char *msg = coffer_error_last()->message;
	ck_assert_ptr_nonnull(strstr(msg, "'ftp'"));
	ck_assert_ptr_nonnull(strstr(msg, "fake, fake2"));
	coffer_backend *be;
	ck_assert_int_eq(coffer_backend_open(&be, core, "ftp://host/x", NULL), COFFER_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "fake"));
	coffer_codec c;
	ck_assert_int_eq(coffer_codec_lookup(core, "lz4", &c), COFFER_ENOTFOUND);
	msg = coffer_error_last()->message;
	ck_assert_ptr_nonnull(strstr(msg, "lz4"));
	ck_assert_ptr_nonnull(strstr(msg, "xor"));
	ck_assert_ptr_nonnull(strstr(msg, "none"));
	coffer_core_free(core);
}
END_TEST

START_TEST(backend_calls_reach_plugin)
{
	coffer_core *core = core_with(fake_dir, NULL);
	coffer_backend *be;
	ck_assert_coffer_ok(coffer_backend_open(&be, core, "fake://bucket/p", NULL));
	ck_assert_str_eq(coffer_backend_plugin_name(be), "fake-backend");
	ck_assert_uint_eq(coffer_backend_caps(be), COFFER_BACKEND_CAP_RANGE);
	ck_assert_coffer_ok(coffer_backend_put(be, "a/b", "hello", 5, 0));
	ck_assert_int_eq(coffer_backend_put(be, "a/b", "x", 1, 0), COFFER_EEXISTS);
	ck_assert_int_eq(coffer_backend_last_error(be)->code, COFFER_EEXISTS);
	ck_assert_ptr_nonnull(strstr(coffer_backend_last_error(be)->message, "a/b exists"));
	coffer_buf b = COFFER_BUF_INIT;
	ck_assert_coffer_ok(coffer_backend_get(be, "a/b", 1, 3, &b));
	ck_assert_uint_eq(b.len, 3);
	ck_assert(memcmp(b.data, "ell", 3) == 0);
	coffer_blob_info st;
	ck_assert_coffer_ok(coffer_backend_stat(be, "a/b", &st));
	ck_assert_uint_eq(st.size, 5);
	ck_assert_coffer_ok(coffer_backend_remove(be, "a/b"));
	ck_assert_int_eq(coffer_backend_remove(be, "a/b"), COFFER_ENOTFOUND);
	b.len = 0;
	ck_assert_coffer_ok(coffer_backend_describe(be, &b));
	ck_assert_coffer_ok(coffer_buf_append(&b, "", 1));
	ck_assert_str_eq((char *)b.data, "fake greeting=none open=1 put=2 get=1 stat=1 list=0 remove=2");
	coffer_buf_free(&b);
	coffer_backend_close(be);

	ck_assert_int_eq(coffer_backend_open(&be, core, "fake://refuse/p", NULL), COFFER_EAUTH);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "rejects"));
	coffer_core_free(core);
}
END_TEST

START_TEST(plugin_gets_only_its_config)
{
	char *dir = test_tmpdir("registry");
	char path[4200];
	snprintf(path, sizeof(path), "%s/site.conf", dir);
	FILE *f = fopen(path, "w");
	fputs("plugins = { fake-backend = { greeting = \"hi\"; }; other = { x = 1; }; };\n", f);
	fclose(f);
	coffer_core *core = core_with(fake_dir, path);
	coffer_backend *be;
	ck_assert_coffer_ok(coffer_backend_open(&be, core, "fake://b", NULL));
	coffer_buf b = COFFER_BUF_INIT;
	ck_assert_coffer_ok(coffer_backend_describe(be, &b));
	ck_assert(b.len > 17 && memcmp(b.data, "fake greeting=hi ", 17) == 0);
	coffer_buf_free(&b);
	coffer_backend_close(be);
	coffer_core_free(core);

	f = fopen(path, "w");
	fputs("plugins = {\n  fake-backend = {\n    greeting = \"hi\";\n    colour = \"red\";\n  };\n};\n", f);
	fclose(f);
	core = core_with(fake_dir, path);
	ck_assert_int_eq(coffer_backend_open(&be, core, "fake://b", NULL), COFFER_EINVALID);
	const char *msg = coffer_error_last()->message;
	ck_assert_msg(strstr(msg, "unknown key 'colour'") && strstr(msg, "fake-backend") &&
	                      strstr(msg, "site.conf:4"),
	              "message was: %s", msg);
	coffer_core_free(core);
	test_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(missing_dir_and_junk_files)
{
	char *dir = test_tmpdir("junk");
	char path[4200];
	snprintf(path, sizeof(path), "%s/libjunk.so", dir);
	FILE *f = fopen(path, "w");
	fputs("this is not a shared object\n", f);
	fclose(f);
	char search[8400];
	snprintf(search, sizeof(search), "%s:/nonexistent/coffer-plugins", dir);
	coffer_core *core = core_with(search, NULL);
	dump_problems(core);
	ck_assert(has_problem(core, "libjunk.so", "not a loadable plugin"));
	ck_assert(has_problem(core, "/nonexistent/coffer-plugins", "No such file or directory"));
	coffer_core_free(core);
	test_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(codec_names_levels_ids)
{
	coffer_core *core = core_with(fake_dir, NULL);
	coffer_codec c;
	ck_assert_coffer_ok(coffer_codec_lookup(core, "xor", &c));
	ck_assert_int_eq(c.level, 5);
	ck_assert_str_eq(c.name, "xor");
	ck_assert_coffer_ok(coffer_codec_lookup(core, "xor-best", &c));
	ck_assert_int_eq(c.level, 9);
	ck_assert_coffer_ok(coffer_codec_lookup(core, "xor:3", &c));
	ck_assert_int_eq(c.level, 3);
	ck_assert_int_eq(coffer_codec_lookup(core, "xor:10", &c), COFFER_EINVALID);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "1 to 9"));
	ck_assert_int_eq(coffer_codec_lookup(core, "xor:fast", &c), COFFER_EINVALID);
	ck_assert_coffer_ok(coffer_codec_by_id(core, 200, &c));
	ck_assert_str_eq(c.name, "xor");
	ck_assert_int_eq(coffer_codec_by_id(core, 201, &c), COFFER_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "201"));
	unsigned char in[4] = { 1, 2, 3, 4 }, mid[4], out[4];
	size_t n;
	ck_assert_coffer_ok(coffer_codec_lookup(core, "xor", &c));
	ck_assert_coffer_ok(coffer_codec_compress(&c, in, 4, mid, coffer_codec_bound(&c, 4), &n));
	ck_assert_coffer_ok(coffer_codec_decompress(&c, mid, n, out, 4, &n));
	ck_assert(memcmp(in, out, 4) == 0);
	coffer_core_free(core);
}
END_TEST

static void collect(void *ud, const char *line)
{
	snprintf(ud, 64, "%s", line);
}

START_TEST(frontend_and_hook)
{
	coffer_core *core = core_with(fake_dir, NULL);
	const coffer_plugin_info *info;
	ck_assert_coffer_ok(coffer_core_find(core, COFFER_PLUGIN_FRONTEND, "fakefront", &info));
	const coffer_frontend_vtable *vt = info->descriptor->vtable;
	char *argv[] = { "fakefront", "hello", NULL };
	ck_assert_int_eq(vt->main(core, 2, argv), 21);

	char seen[64] = "";
	coffer_hook_request req = { COFFER_HOOK_REQUEST_VERSION, "beforeSnapshot", "echo hi", "/", NULL, 5,
		                    collect, seen, NULL };
	ck_assert_coffer_ok(coffer_hook_run(core, "fakehook", &req));
	ck_assert_str_eq(seen, "echo hi");
	req.command = "fail";
	ck_assert_int_eq(coffer_hook_run(core, "fakehook", &req), COFFER_ERROR);
	ck_assert_int_eq(coffer_hook_run(core, "nohook", &req), COFFER_ENOTFOUND);
	coffer_core_free(core);
}
END_TEST

START_TEST(search_path_env)
{
	setenv("COFFER_PLUGIN_PATH", fake_dir, 1);
	coffer_core_options opts = COFFER_CORE_OPTIONS_INIT;
	opts.no_default_path = 1;
	coffer_core *core;
	ck_assert_coffer_ok(coffer_core_new(&core, &opts));
	ck_assert_str_eq(coffer_core_search_path(core), fake_dir);
	const coffer_plugin_info *info;
	ck_assert_coffer_ok(coffer_core_find(core, COFFER_PLUGIN_BACKEND, "fake", &info));
	coffer_core_free(core);
	unsetenv("COFFER_PLUGIN_PATH");
}
END_TEST

int main(void)
{
	const char *top = getenv("COFFER_TOP_BUILDDIR");
	snprintf(fake_dir, sizeof(fake_dir), "%s/tests/fake", top ? top : ".");
	COFFER_SET_PRELOADED_PLUGINS();
	Suite *s = suite_create("core-registry");
	TCase *tc = tcase_create("registry");
	tcase_add_test(tc, loads_good_refuses_bad);
	tcase_add_test(tc, unknown_names_list_installed);
	tcase_add_test(tc, backend_calls_reach_plugin);
	tcase_add_test(tc, plugin_gets_only_its_config);
	tcase_add_test(tc, missing_dir_and_junk_files);
	tcase_add_test(tc, codec_names_levels_ids);
	tcase_add_test(tc, frontend_and_hook);
	tcase_add_test(tc, search_path_env);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
