/* check_buf.c - Check suite for the growable byte buffer (buf.c): its
 * limit, its growth, its sticky failure and its NUL termination. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static int allocs_left;	/* before the test allocator fails */

static void *
failing_realloc(void *p, size_t n)
{
	if (allocs_left-- <= 0)
		return NULL;
	return realloc(p, n);
}

START_TEST(test_empty)
{
	struct buf b;
	size_t len = 99;
	char *s;

	buf_init(&b, 100);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert(!b.failed);
	s = buf_take(&b, &len);
	ck_assert_str_eq(s, "");
	ck_assert_uint_eq(len, 0);
	free(s);
	ck_assert_ptr_null(b.data);
	buf_free(&b);
	buf_free(NULL);
}
END_TEST

/* After every append the text is NUL-terminated where len says. */
START_TEST(test_nul)
{
	struct buf b;
	char *s;

	buf_init(&b, 100);
	ck_assert_int_eq(buf_add(&b, "abc", 3), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_str_eq(b.data, "abc");
	ck_assert_int_eq(buf_add(&b, "de\0f", 2), 0);
	ck_assert_str_eq(b.data, "abcde");
	ck_assert_int_eq(buf_addc(&b, 'x'), 0);
	ck_assert_str_eq(b.data, "abcdex");
	ck_assert_int_eq(buf_lit(&b, ""), 0);
	ck_assert_int_eq(buf_lit(&b, "yz"), 0);
	ck_assert_str_eq(b.data, "abcdexyz");
	ck_assert_int_eq(buf_printf(&b, "-%d-%s", 42, "q"), 0);
	ck_assert_str_eq(b.data, "abcdexyz-42-q");
	ck_assert_uint_eq(b.len, 13);
	/* Bytes written through buf_reserve: buf_take terminates them. */
	ck_assert_int_eq(buf_reserve(&b, 2), 0);
	memcpy(b.data + b.len, "!!", 2);
	b.len += 2;
	s = buf_take(&b, NULL);
	ck_assert_str_eq(s, "abcdexyz-42-q!!");
	free(s);
}
END_TEST

/* Doubling from BUF_FIRST, room for the NUL always, the bytes kept. */
START_TEST(test_growth)
{
	struct buf b;
	size_t i, len;
	char *s;

	buf_init(&b, 1 << 20);
	ck_assert_int_eq(buf_addc(&b, 'a'), 0);
	ck_assert_uint_eq(b.cap, BUF_FIRST);
	for (i = 1; i < 10000; i++) {
		ck_assert_int_eq(buf_addc(&b, (char)('a' + i % 26)), 0);
		ck_assert_uint_gt(b.cap, b.len);
	}
	ck_assert_uint_eq(b.cap, 16384);
	s = buf_take(&b, &len);
	ck_assert_uint_eq(len, 10000);
	ck_assert_uint_eq(strlen(s), 10000);
	for (i = 0; i < 10000; i++)
		ck_assert_int_eq(s[i], 'a' + (int)(i % 26));
	free(s);
	/* A first append larger than BUF_FIRST gets room at once. */
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(buf_reserve(&b, 2047), 0);
	ck_assert_uint_eq(b.cap, 2048);
	ck_assert_int_eq(buf_printf(&b, "%3000s", "x"), 0);
	ck_assert_uint_eq(b.len, 3000);
	ck_assert_uint_eq(strlen(b.data), 3000);
	ck_assert_int_eq(b.data[2999], 'x');
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

/* The limit counts bytes without the NUL: exactly limit fits. */
START_TEST(test_limit)
{
	struct buf b;
	size_t len;
	char *s;

	buf_init(&b, 10);
	ck_assert_int_eq(buf_add(&b, "0123456789", 10), 0);
	ck_assert_uint_le(b.cap, 11);
	s = buf_take(&b, &len);
	ck_assert_str_eq(s, "0123456789");
	ck_assert_uint_eq(len, 10);
	free(s);

	buf_init(&b, 10);
	ck_assert_int_eq(buf_add(&b, "01234", 5), 0);
	ck_assert_int_eq(buf_add(&b, "567890", 6), -1);
	ck_assert(b.failed);
	ck_assert_ptr_null(buf_take(&b, NULL));

	/* printf past the limit fails too, though its first try fitted the
	 * room allocated. */
	buf_init(&b, 300);
	ck_assert_int_eq(buf_printf(&b, "%200s", ""), 0);
	ck_assert_int_eq(buf_printf(&b, "%101s", ""), -1);
	ck_assert(b.failed);
	buf_free(&b);
	ck_assert(!b.failed);
	ck_assert_uint_eq(b.limit, 300);

	/* A limit above BUF_MAX is BUF_MAX. */
	buf_init(&b, SIZE_MAX);
	ck_assert_uint_eq(b.limit, BUF_MAX);
}
END_TEST

/* Once failed, every append fails and the text is gone, so a writer
 * checks once, at buf_take. */
START_TEST(test_sticky)
{
	struct buf b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_lit(&b, "123456789"), -1);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(buf_lit(&b, "1"), -1);
	ck_assert_int_eq(buf_add(&b, "", 0), -1);
	ck_assert_int_eq(buf_addc(&b, 'x'), -1);
	ck_assert_int_eq(buf_printf(&b, "%d", 1), -1);
	ck_assert_int_eq(buf_reserve(&b, 0), -1);
	ck_assert(b.failed);
	ck_assert_ptr_null(buf_take(&b, NULL));
	/* buf_take left it as after buf_init. */
	ck_assert_int_eq(buf_lit(&b, "1"), 0);
	buf_free(&b);
}
END_TEST

/* Memory running out fails the buffer as the limit does, and frees what
 * it held (LeakSanitizer under check-asan). */
START_TEST(test_oom)
{
	struct buf b;

	buf_set_realloc(failing_realloc);
	allocs_left = 1;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(buf_lit(&b, "kept until it fails"), 0);
	ck_assert_int_eq(buf_printf(&b, "%300s", "x"), -1);
	ck_assert(b.failed);
	ck_assert_ptr_null(b.data);
	allocs_left = 10;
	ck_assert_int_eq(buf_lit(&b, "x"), -1);
	ck_assert_ptr_null(buf_take(&b, NULL));
	/* The first allocation failing. */
	allocs_left = 0;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(buf_addc(&b, 'x'), -1);
	ck_assert(b.failed);
	ck_assert_ptr_null(buf_take(&b, NULL));
	/* And buf_take of nothing, which allocates its "". */
	allocs_left = 0;
	ck_assert_ptr_null(buf_take(&b, NULL));
	buf_set_realloc(NULL);
	ck_assert_int_eq(buf_lit(&b, "realloc again"), 0);
	buf_free(&b);
}
END_TEST

static Suite *
buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_nul);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_limit);
	tcase_add_test(tc, test_sticky);
	tcase_add_test(tc, test_oom);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
