/* Helpers shared by the Check test programs. */
#ifndef COFFER_TESTLIB_H
#define COFFER_TESTLIB_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <coffer/coffer.h>

/* ../shared next to the source tree, or NULL when this checkout has none. */
static inline const char *test_shared_dir(void)
{
	static char buf[4096];
	const char *env = getenv("COFFER_SHARED_DIR");
	if (env && access(env, R_OK) == 0)
		return env;
	const char *top = getenv("COFFER_TOP_SRCDIR");
	if (top) {
		snprintf(buf, sizeof(buf), "%s/../shared", top);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return NULL;
}

/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp); the caller removes it. */
static inline char *test_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path = malloc(4096);
	snprintf(path, 4096, "%s/coffer-%s-XXXXXX", base && base[0] ? base : "/tmp", tag);
	if (!mkdtemp(path)) {
		perror("mkdtemp");
		abort();
	}
	return path;
}

static inline void test_rmtree(const char *path)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", path);
}

/* Runs a suite and returns the process exit status (0 when every test passed). */
static inline int test_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#define ck_assert_coffer_ok(expr)                                                              \
	do {                                                                                   \
		int rc_ = (expr);                                                              \
		ck_assert_msg(rc_ == 0, "%s failed with %d: %s", #expr, rc_,                   \
		              coffer_error_last()->message);                                   \
	} while (0)

#endif
