/* check_patch.c - RFC 6902 add operations and JSON-pointer escaping. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "patch.h"

/* The op at index i, as compact JSON, for comparison. */
static char *
op_text(const json_t *patch, size_t i)
{
	return json_dumps(json_array_get(patch, i), JSON_COMPACT |
	    JSON_SORT_KEYS);
}

static void
assert_op(const json_t *patch, size_t i, const char *want)
{
	char *got = op_text(patch, i);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(test_escape)
{
	char buf[64];

	ck_assert_int_eq(patch_pointer_join(buf, sizeof(buf), "/metadata/"
	    "annotations", "meshinject.io/status"), 0);
	ck_assert_str_eq(buf, "/metadata/annotations/meshinject.io~1status");
	ck_assert_int_eq(patch_pointer_join(buf, sizeof(buf), "", "a~b/c~1"),
	    0);
	ck_assert_str_eq(buf, "/a~0b~1c~01");
	ck_assert_int_eq(patch_pointer_join(buf, sizeof(buf), "/x", ""), 0);
	ck_assert_str_eq(buf, "/x/");
}
END_TEST

START_TEST(test_escape_overflow)
{
	char buf[8];

	ck_assert_int_eq(patch_pointer_join(buf, sizeof(buf), "/abc", "def"),
	    -1);
	/* Escapes count double: "/a/~0~0" is 7 bytes and a NUL, it fits;
	 * "/a/~0~0~0" does not. */
	ck_assert_int_eq(patch_pointer_join(buf, sizeof(buf), "/a", "~~"), 0);
	ck_assert_str_eq(buf, "/a/~0~0");
	ck_assert_int_eq(patch_pointer_join(buf, sizeof(buf), "/a", "~~~"),
	    -1);
	ck_assert_int_eq(patch_pointer_join(buf, sizeof(buf), "/a", "~"), 0);
	ck_assert_str_eq(buf, "/a/~0");
}
END_TEST

START_TEST(test_members_create_map)
{
	json_t *patch = json_array();

	ck_assert_int_eq(patch_add_members(patch, NULL, "/metadata/annotations",
	    json_pack("{s:s}", "a/b", "1")), 0);
	ck_assert_uint_eq(json_array_size(patch), 1);
	assert_op(patch, 0, "{\"op\":\"add\",\"path\":\"/metadata/annotations\","
	    "\"value\":{\"a/b\":\"1\"}}");
	json_decref(patch);
}
END_TEST

START_TEST(test_members_existing_map)
{
	json_t *patch = json_array();
	json_t *existing = json_pack("{s:s}", "user~key", "x");

	ck_assert_int_eq(patch_add_members(patch, existing, "/m",
	    json_pack("{s:s, s:s}", "a/b", "1", "c~d", "2")), 0);
	ck_assert_uint_eq(json_array_size(patch), 2);
	assert_op(patch, 0, "{\"op\":\"add\",\"path\":\"/m/a~1b\",\"value\":"
	    "\"1\"}");
	assert_op(patch, 1, "{\"op\":\"add\",\"path\":\"/m/c~0d\",\"value\":"
	    "\"2\"}");
	json_decref(existing);
	json_decref(patch);
}
END_TEST

START_TEST(test_items_absent_or_null)
{
	json_t *patch = json_array();
	json_t *null = json_null();

	ck_assert_int_eq(patch_insert_items(patch, NULL, "/spec/volumes",
	    PATCH_END, json_pack("[i]", 1)), 0);
	ck_assert_int_eq(patch_insert_items(patch, null, "/spec/initContainers",
	    0, json_pack("[i, i]", 1, 2)), 0);
	ck_assert_uint_eq(json_array_size(patch), 2);
	assert_op(patch, 0, "{\"op\":\"add\",\"path\":\"/spec/volumes\","
	    "\"value\":[1]}");
	assert_op(patch, 1, "{\"op\":\"add\",\"path\":\"/spec/initContainers\","
	    "\"value\":[1,2]}");
	json_decref(patch);
}
END_TEST

START_TEST(test_items_prepend_and_append)
{
	json_t *patch = json_array();
	json_t *existing = json_pack("[s, s]", "u1", "u2");
	json_t *empty = json_array();

	ck_assert_int_eq(patch_insert_items(patch, existing, "/a", 0,
	    json_pack("[s, s]", "m1", "m2")), 0);
	ck_assert_int_eq(patch_insert_items(patch, existing, "/b", PATCH_END,
	    json_pack("[s]", "m3")), 0);
	ck_assert_int_eq(patch_insert_items(patch, empty, "/c", 0,
	    json_pack("[s]", "m4")), 0);
	ck_assert_uint_eq(json_array_size(patch), 4);
	assert_op(patch, 0, "{\"op\":\"add\",\"path\":\"/a/0\",\"value\":"
	    "\"m1\"}");
	assert_op(patch, 1, "{\"op\":\"add\",\"path\":\"/a/1\",\"value\":"
	    "\"m2\"}");
	assert_op(patch, 2, "{\"op\":\"add\",\"path\":\"/b/-\",\"value\":"
	    "\"m3\"}");
	assert_op(patch, 3, "{\"op\":\"add\",\"path\":\"/c/-\",\"value\":"
	    "\"m4\"}");
	json_decref(existing);
	json_decref(empty);
	json_decref(patch);
}
END_TEST

START_TEST(test_null_value_is_error)
{
	json_t *patch = json_array();

	ck_assert_int_eq(patch_add(patch, "/x", NULL), -1);
	ck_assert_int_eq(patch_add_members(patch, NULL, "/x", NULL), -1);
	ck_assert_int_eq(patch_insert_items(patch, NULL, "/x", 0, NULL), -1);
	ck_assert_uint_eq(json_array_size(patch), 0);
	json_decref(patch);
}
END_TEST

static Suite *
patch_suite(void)
{
	Suite *s = suite_create("patch");
	TCase *tc = tcase_create("ops");

	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_escape_overflow);
	tcase_add_test(tc, test_members_create_map);
	tcase_add_test(tc, test_members_existing_map);
	tcase_add_test(tc, test_items_absent_or_null);
	tcase_add_test(tc, test_items_prepend_and_append);
	tcase_add_test(tc, test_null_value_is_error);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(patch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
