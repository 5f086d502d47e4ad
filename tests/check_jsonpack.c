/* check_jsonpack.c - jsonpack builds what jansson's json_pack builds, for
 * the formats the injection uses, and fails where json_pack fails. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
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

/* jsonpack_text writes what jansson's json_pack builds and json_dumps
 * writes compact, byte for byte. The arguments are evaluated twice: only
 * literals and O values. */
#define TEXT_SAME(what, fmt, ...) do {					\
	json_t *want_ = json_pack(fmt, __VA_ARGS__);			\
	char *w_;							\
	struct buf b_;							\
									\
	ck_assert_msg(want_ != NULL, "%s: json_pack failed", what);	\
	w_ = json_dumps(want_, JSON_COMPACT | JSON_ENCODE_ANY);		\
	buf_init(&b_, BUF_MAX);						\
	ck_assert_msg(buf_add(&b_, "<", 1) == 0, "%s", what);		\
	ck_assert_msg(jsonpack_text(&b_, fmt, __VA_ARGS__) == 0,	\
	    "%s: jsonpack_text failed", what);				\
	ck_assert_uint_eq(b_.len, strlen(w_) + 1);			\
	ck_assert_msg(strcmp(b_.data + 1, w_) == 0, "%s: %s != %s",	\
	    what, w_, b_.data + 1);					\
	free(w_);							\
	buf_free(&b_);							\
	json_decref(want_);						\
} while (0)

START_TEST(test_text_same)
{
	json_t *shared = json_pack("{s:[i, s], s:{}}", "k", 1, "\"q\"", "e");

	TEXT_SAME("scalars", "{s:s, s:i, s:I, s:b, s:b, s:f}", "s", "v\n\"",
	    "i", -7, "I", (json_int_t)1 << 40, "t", 1, "f", 0, "r", 2.5);
	TEXT_SAME("array of scalars", "[s, i, b]", "", 0, 42);
	TEXT_SAME("empty object", "{}", NULL);
	TEXT_SAME("empty array", "[]", NULL);
	TEXT_SAME("empty members", "{s:{}, s:[]}", "a", "b");
	TEXT_SAME("nested", "[{s:s, s:{s:[{s:{s:s, s:i, s:s}}]}}]", "name",
	    "t", "projected", "sources", "serviceAccountToken", "audience",
	    "a", "expirationSeconds", 43200, "path", "token");
	TEXT_SAME("O", "{s:O, s:[O, O], s:O}", "a", shared, "b", shared,
	    shared, "c", shared);
	TEXT_SAME("container", "{s:s, s:[s], s:[s, s], s:[{s:s, s:i, s:s},"
	    " {s:s, s:i, s:s}], s:{s:I, s:b, s:{s:[s]}, s:{s:s}}}",
	    "name", "mesh-proxy", "command", "envoy", "args", "--config-yaml",
	    "{\"a\":\"$(POD_NAME)\"}", "ports", "name", "mesh-status",
	    "containerPort", 15021, "protocol", "TCP", "name", "mesh-metrics",
	    "containerPort", 15090, "protocol", "TCP", "securityContext",
	    "runAsUser", (json_int_t)1337, "privileged", 0, "capabilities",
	    "drop", "ALL", "seccompProfile", "type", "RuntimeDefault");
	TEXT_SAME("UTF-8", "[s]", "caf\xc3\xa9 \xe2\x82\xac");
	ck_assert_int_eq(shared->refcount, 1);
	json_decref(shared);
}
END_TEST

/* R splices its text where items or members stand, with the commas, and
 * nothing when it is empty; o values are stolen. */
START_TEST(test_text_raw_and_o)
{
	json_t *kept = json_string("kept");
	struct buf b;

	buf_init(&b, BUF_MAX);
	ck_assert_int_eq(jsonpack_text(&b, "[s, R, s]", "a", "1,2",
	    (size_t)3, "b"), 0);
	ck_assert_str_eq(b.data, "[\"a\",1,2,\"b\"]");
	b.len = 0;
	ck_assert_int_eq(jsonpack_text(&b, "[R, s, R]", "", (size_t)0, "a",
	    "x", (size_t)0), 0);
	ck_assert_str_eq(b.data, "[\"a\"]");
	b.len = 0;
	ck_assert_int_eq(jsonpack_text(&b, "{R, s:i, R}", "\"x\":1",
	    (size_t)5, "y", 2, "\"z\":[]", (size_t)6), 0);
	ck_assert_str_eq(b.data, "{\"x\":1,\"y\":2,\"z\":[]}");
	b.len = 0;
	ck_assert_int_eq(jsonpack_text(&b, "{s:o, s:[o]}", "a",
	    json_incref(kept), "b", json_integer(3)), 0);
	ck_assert_str_eq(b.data, "{\"a\":\"kept\",\"b\":[3]}");
	ck_assert_int_eq(kept->refcount, 1);
	buf_free(&b);
	json_decref(kept);
}
END_TEST

/* Where jsonpack fails, jsonpack_text fails, leaving the buffer as it
 * was and the o values stolen; and it refuses at once what jsonwrite
 * would refuse later. */
START_TEST(test_text_failures)
{
	json_t *kept = json_string("kept");
	struct buf b;

	buf_init(&b, BUF_MAX);
	ck_assert_int_eq(buf_add(&b, "x", 1), 0);
	ck_assert_int_eq(jsonpack_text(&b, "{s:s}", "k", NULL), -1);
	ck_assert_int_eq(jsonpack_text(&b, "{s:s}", NULL, "v"), -1);
	ck_assert_int_eq(jsonpack_text(&b, "[o]", NULL), -1);
	ck_assert_int_eq(jsonpack_text(&b, "[O]", NULL), -1);
	ck_assert_int_eq(jsonpack_text(&b, "[R]", NULL, (size_t)0), -1);
	ck_assert_int_eq(jsonpack_text(&b, "[s, o]", NULL,
	    json_incref(kept)), -1);
	ck_assert_int_eq(kept->refcount, 1);
	ck_assert_int_eq(jsonpack_text(&b, "{s:o, s:s}", "a",
	    json_incref(kept), "b", NULL), -1);
	ck_assert_int_eq(kept->refcount, 1);
	ck_assert_int_eq(jsonpack_text(&b, "{s:x}", "k"), -1);
	ck_assert_int_eq(jsonpack_text(&b, "{s:s", "k", "v"), -1);
	ck_assert_int_eq(jsonpack_text(&b, "[s] s", "a", "b"), -1);
	ck_assert_int_eq(jsonpack_text(&b, "{s:s}", "k", "\xff"), -1);
	ck_assert_int_eq(jsonpack_text(&b, "{s:s}", "\xc3", "v"), -1);
	ck_assert_uint_eq(b.len, 1);
	ck_assert_str_eq(b.data, "x");
	buf_free(&b);
	json_decref(kept);
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
	tcase_add_test(tc, test_text_same);
	tcase_add_test(tc, test_text_raw_and_o);
	tcase_add_test(tc, test_text_failures);
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
