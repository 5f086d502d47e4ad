/* check_jsonpack.c - jsonpack builds what jansson's json_pack builds, for
 * the formats the injection uses, and fails where json_pack fails. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonpack.h"

/* Both trees must exist and be equal, with the same text. */
static void
assert_same(json_t *want, json_t *got, const char *what)
{
	char *w, *g;

	ck_assert_msg(want != NULL, "%s: json_pack failed", what);
	ck_assert_msg(got != NULL, "%s: jsonpack failed", what);
	w = json_dumps(want, JSON_COMPACT);
	g = json_dumps(got, JSON_COMPACT);
	ck_assert_msg(json_equal(want, got), "%s: %s != %s", what, w, g);
	/* Same members in the same order, not only equal. */
	ck_assert_str_eq(w, g);
	free(w);
	free(g);
	json_decref(want);
	json_decref(got);
}

START_TEST(test_scalars)
{
	assert_same(json_pack("{s:s, s:i, s:I, s:b, s:b, s:f}", "s", "v", "i",
	    -7, "I", (json_int_t)1 << 40, "t", 1, "f", 0, "r", 2.5),
	    jsonpack("{s:s, s:i, s:I, s:b, s:b, s:f}", "s", "v", "i", -7,
	    "I", (json_int_t)1 << 40, "t", 1, "f", 0, "r", 2.5), "scalars");
	assert_same(json_pack("[s, i, b]", "", 0, 42),
	    jsonpack("[s, i, b]", "", 0, 42), "array of scalars");
	assert_same(json_pack("{}"), jsonpack("{}"), "empty object");
	assert_same(json_pack("[]"), jsonpack("[]"), "empty array");
	assert_same(json_pack("{s:{}, s:[]}", "a", "b"),
	    jsonpack("{s:{}, s:[]}", "a", "b"), "empty members");
}
END_TEST

/* The shapes inject.c packs, nested objects and arrays, o and O. */
START_TEST(test_injection_shapes)
{
	json_t *shared = json_pack("{s:s}", "k", "v");

	assert_same(json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", "POD_NAME",
	    "valueFrom", "fieldRef", "apiVersion", "v1", "fieldPath",
	    "metadata.name"), jsonpack("{s:s, s:{s:{s:s, s:s}}}", "name",
	    "POD_NAME", "valueFrom", "fieldRef", "apiVersion", "v1",
	    "fieldPath", "metadata.name"), "env field");
	assert_same(json_pack("{s:{s:s, s:i}, s:i, s:i, s:i}", "httpGet",
	    "path", "/healthz/ready", "port", 15021, "periodSeconds", 2,
	    "failureThreshold", 30, "timeoutSeconds", 3),
	    jsonpack("{s:{s:s, s:i}, s:i, s:i, s:i}", "httpGet", "path",
	    "/healthz/ready", "port", 15021, "periodSeconds", 2,
	    "failureThreshold", 30, "timeoutSeconds", 3), "probe");
	assert_same(json_pack("[{s:s, s:{s:[{s:{s:s, s:i, s:s}}]}}]", "name",
	    "t", "projected", "sources", "serviceAccountToken", "audience",
	    "a", "expirationSeconds", 43200, "path", "token"),
	    jsonpack("[{s:s, s:{s:[{s:{s:s, s:i, s:s}}]}}]", "name", "t",
	    "projected", "sources", "serviceAccountToken", "audience", "a",
	    "expirationSeconds", 43200, "path", "token"), "volume");
	assert_same(json_pack("{s:s, s:o, s:O, s:[o, o]}", "a", "b", "o",
	    json_integer(1), "O", shared, "arr", json_string("x"),
	    json_true()), jsonpack("{s:s, s:o, s:O, s:[o, o]}", "a", "b", "o",
	    json_integer(1), "O", shared, "arr", json_string("x"),
	    json_true()), "o and O");
	/* O took a reference each time, o none of its own. */
	ck_assert_int_eq(shared->refcount, 1);
	json_decref(shared);
}
END_TEST

/* A NULL string or value fails the whole pack, as with json_pack; the o
 * values are stolen all the same. */
START_TEST(test_failures)
{
	json_t *kept = json_string("kept");

	ck_assert_ptr_null(jsonpack("{s:s}", "k", NULL));
	ck_assert_ptr_null(jsonpack("{s:s}", NULL, "v"));
	ck_assert_ptr_null(jsonpack("[o]", NULL));
	ck_assert_ptr_null(jsonpack("[O]", NULL));
	ck_assert_ptr_null(jsonpack("[s, o]", NULL, json_incref(kept)));
	ck_assert_int_eq(kept->refcount, 1);
	ck_assert_ptr_null(jsonpack("{s:o, s:s}", "a", json_incref(kept),
	    "b", NULL));
	ck_assert_int_eq(kept->refcount, 1);
	/* Formats it does not take. */
	ck_assert_ptr_null(jsonpack("{s:x}", "k"));
	ck_assert_ptr_null(jsonpack("{s:s", "k", "v"));
	ck_assert_ptr_null(jsonpack("[s] s", "a", "b"));
	json_decref(kept);
}
END_TEST

/* Unlike json_pack, strings are not checked: the caller vouches for them,
 * and what is not UTF-8 is refused later, when the answer is written. */
START_TEST(test_no_utf8_check)
{
	json_t *v = jsonpack("{s:s}", "k", "\xff");

	ck_assert_ptr_null(json_pack("{s:s}", "k", "\xff"));
	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_null(json_dumps(v, JSON_COMPACT));
	json_decref(v);
}
END_TEST

static Suite *
jsonpack_suite(void)
{
	Suite *s = suite_create("jsonpack");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_scalars);
	tcase_add_test(tc, test_injection_shapes);
	tcase_add_test(tc, test_failures);
	tcase_add_test(tc, test_no_utf8_check);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(jsonpack_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
