/* Errors: codes, messages, wrapping, per-thread isolation, exit codes. */
#include "config.h"

#include <errno.h>
#include <pthread.h>

#include "testlib.h"

START_TEST(set_and_read)
{
	coffer_error_clear();
	ck_assert_int_eq(coffer_error_last()->code, 0);
	ck_assert_str_eq(coffer_error_last()->message, "");
	int rc = coffer_error_set(COFFER_ENOTFOUND, "blob %s missing", "p123");
	ck_assert_int_eq(rc, COFFER_ENOTFOUND);
	ck_assert_int_eq(coffer_error_last()->code, COFFER_ENOTFOUND);
	ck_assert_str_eq(coffer_error_last()->message, "blob p123 missing");
}
END_TEST

START_TEST(errno_and_wrap)
{
	coffer_error_set_errno(COFFER_ERROR, ENOENT, "open %s", "/x");
	ck_assert_str_eq(coffer_error_last()->message, "open /x: No such file or directory");
	int rc = coffer_error_wrap("reading %s", "index");
	ck_assert_int_eq(rc, COFFER_ERROR);
	ck_assert_str_eq(coffer_error_last()->message, "reading index: open /x: No such file or directory");
}
END_TEST

START_TEST(long_messages_truncate)
{
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	coffer_error_set(COFFER_EINVALID, "%s", big);
	ck_assert_uint_eq(strlen(coffer_error_last()->message), sizeof(coffer_error_last()->message) - 1);
	coffer_error_wrap("%s", big);
	ck_assert_uint_eq(strlen(coffer_error_last()->message), sizeof(coffer_error_last()->message) - 1);
}
END_TEST

static void *other_thread(void *arg)
{
	coffer_error_set(COFFER_EAUTH, "thread message");
	return NULL;
}

START_TEST(per_thread)
{
	coffer_error_set(COFFER_ECORRUPT, "main message");
	pthread_t t;
	pthread_create(&t, NULL, other_thread, NULL);
	pthread_join(t, NULL);
	ck_assert_int_eq(coffer_error_last()->code, COFFER_ECORRUPT);
	ck_assert_str_eq(coffer_error_last()->message, "main message");
}
END_TEST

START_TEST(exit_codes_and_names)
{
	ck_assert_int_eq(coffer_exit_code(0), COFFER_EXIT_OK);
	ck_assert_int_eq(coffer_exit_code(COFFER_EAUTH), COFFER_EXIT_AUTH);
	ck_assert_int_eq(coffer_exit_code(COFFER_ENOTFOUND), COFFER_EXIT_NOTFOUND);
	ck_assert_int_eq(coffer_exit_code(COFFER_ECORRUPT), COFFER_EXIT_CORRUPT);
	ck_assert_int_eq(coffer_exit_code(COFFER_ETRANSIENT), COFFER_EXIT_TRANSIENT);
	ck_assert_int_eq(coffer_exit_code(COFFER_EINVALID), COFFER_EXIT_USAGE);
	ck_assert_int_eq(coffer_exit_code(COFFER_ERROR), COFFER_EXIT_FAILURE);
	ck_assert_str_eq(coffer_error_name(COFFER_EEXISTS), "exists");
	ck_assert_str_eq(coffer_error_name(COFFER_EUNSUPPORTED), "unsupported");
}
END_TEST

START_TEST(buffers)
{
	coffer_buf b = COFFER_BUF_INIT;
	for (int i = 0; i < 1000; i++)
		ck_assert_coffer_ok(coffer_buf_append(&b, "abc", 3));
	ck_assert_uint_eq(b.len, 3000);
	ck_assert(memcmp(b.data + 2997, "abc", 3) == 0);
	ck_assert_int_eq(coffer_buf_reserve(&b, SIZE_MAX), COFFER_ENOMEM);
	coffer_buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core-error");
	TCase *tc = tcase_create("error");
	tcase_add_test(tc, set_and_read);
	tcase_add_test(tc, errno_and_wrap);
	tcase_add_test(tc, long_messages_truncate);
	tcase_add_test(tc, per_thread);
	tcase_add_test(tc, exit_codes_and_names);
	tcase_add_test(tc, buffers);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
