/* check_patch.c - RFC 6902 add operations and JSON-pointer escaping. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch.h"

/* End p; its text must be `want` byte for byte (what the answer carries)
 * and parse as an array of `ops` ops. Frees p. */
static void
assert_patch(struct patch *p, size_t ops, const char *want)
{
	json_t *tree;

	ck_assert_int_eq(patch_end(p), 0);
	ck_assert_str_eq(p->text.data, want);
	ck_assert_uint_eq(p->text.len, strlen(want));
	ck_assert_uint_eq(p->ops, ops);
	tree = json_loadb(p->text.data, p->text.len, JSON_REJECT_DUPLICATES,
	    NULL);
	ck_assert_ptr_nonnull(tree);
	ck_assert_uint_eq(json_array_size(tree), ops);
	json_decref(tree);
	patch_free(p);
}

#define ITEM(lit)	{ lit, sizeof(lit) - 1 }

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

START_TEST(test_empty)
{
	struct patch p;

	patch_init(&p);
	assert_patch(&p, 0, "[]");
}
END_TEST

START_TEST(test_members_create_map)
{
	struct patch p;

	patch_init(&p);
	ck_assert_int_eq(patch_add_members(&p, NULL, "/metadata/annotations",
	    json_pack("{s:s}", "a/b", "1")), 0);
	assert_patch(&p, 1, "[{\"op\":\"add\",\"path\":\"/metadata/"
	    "annotations\",\"value\":{\"a/b\":\"1\"}}]");
}
END_TEST

START_TEST(test_members_existing_map)
{
	struct patch p;
	json_t *existing = json_pack("{s:s}", "user~key", "x");

	patch_init(&p);
	ck_assert_int_eq(patch_add_members(&p, existing, "/m",
	    json_pack("{s:s, s:s}", "a/b", "1", "c~d", "2")), 0);
	assert_patch(&p, 2, "[{\"op\":\"add\",\"path\":\"/m/a~1b\",\"value\":"
	    "\"1\"},{\"op\":\"add\",\"path\":\"/m/c~0d\",\"value\":\"2\"}]");
	json_decref(existing);
}
END_TEST

START_TEST(test_items_absent_or_null)
{
	static const struct patch_item one[] = { ITEM("1") };
	static const struct patch_item two[] = { ITEM("1"), ITEM("{\"a\":2}") };
	struct patch p;
	json_t *null = json_null();

	patch_init(&p);
	ck_assert_int_eq(patch_insert_items(&p, NULL, "/spec/volumes",
	    PATCH_END, one, 1), 0);
	ck_assert_int_eq(patch_insert_items(&p, null, "/spec/initContainers",
	    0, two, 2), 0);
	assert_patch(&p, 2, "[{\"op\":\"add\",\"path\":\"/spec/volumes\","
	    "\"value\":[1]},{\"op\":\"add\",\"path\":\"/spec/initContainers\","
	    "\"value\":[1,{\"a\":2}]}]");
}
END_TEST

START_TEST(test_items_prepend_and_append)
{
	static const struct patch_item m12[] = { ITEM("\"m1\""),
	    ITEM("\"m2\"") };
	static const struct patch_item m3[] = { ITEM("\"m3\"") };
	static const struct patch_item m4[] = { ITEM("\"m4\"") };
	struct patch p;
	json_t *existing = json_pack("[s, s]", "u1", "u2");
	json_t *empty = json_array();

	patch_init(&p);
	ck_assert_int_eq(patch_insert_items(&p, existing, "/a", 0, m12, 2), 0);
	ck_assert_int_eq(patch_insert_items(&p, existing, "/b", PATCH_END, m3,
	    1), 0);
	ck_assert_int_eq(patch_insert_items(&p, empty, "/c", 0, m4, 1), 0);
	assert_patch(&p, 4, "[{\"op\":\"add\",\"path\":\"/a/0\",\"value\":"
	    "\"m1\"},{\"op\":\"add\",\"path\":\"/a/1\",\"value\":\"m2\"},"
	    "{\"op\":\"add\",\"path\":\"/b/-\",\"value\":\"m3\"},"
	    "{\"op\":\"add\",\"path\":\"/c/-\",\"value\":\"m4\"}]");
	json_decref(existing);
	json_decref(empty);
}
END_TEST

/* A path is written as a JSON string; a value too. */
START_TEST(test_text_escaped)
{
	struct patch p;

	patch_init(&p);
	ck_assert_int_eq(patch_add(&p, "/a\"b", json_string("q\"\n")), 0);
	ck_assert_int_eq(patch_add_text(&p, "/x", "[true]", 6), 0);
	assert_patch(&p, 2, "[{\"op\":\"add\",\"path\":\"/a\\\"b\",\"value\":"
	    "\"q\\\"\\n\"},{\"op\":\"add\",\"path\":\"/x\",\"value\":[true]}]");
}
END_TEST

/* A NULL value, or one jsonwrite refuses, fails the add and the patch:
 * patch_end then fails too, so that no half patch goes out. */
START_TEST(test_null_value_is_error)
{
	static const struct patch_item none[] = { { NULL, 0 } };
	struct patch p;

	patch_init(&p);
	ck_assert_int_eq(patch_add(&p, "/x", NULL), -1);
	ck_assert_int_eq(patch_end(&p), -1);
	patch_free(&p);
	patch_init(&p);
	ck_assert_int_eq(patch_add_members(&p, NULL, "/x", NULL), -1);
	ck_assert_int_eq(patch_end(&p), -1);
	patch_free(&p);
	patch_init(&p);
	ck_assert_int_eq(patch_insert_items(&p, NULL, "/x", 0, none, 1), -1);
	ck_assert_int_eq(patch_end(&p), -1);
	patch_free(&p);
	patch_init(&p);
	ck_assert_int_eq(patch_add_text(&p, "/x", NULL, 0), -1);
	ck_assert_int_eq(patch_end(&p), -1);
	patch_free(&p);
	patch_init(&p);
	ck_assert_int_eq(patch_add(&p, "/x", json_string_nocheck("\xff")), -1);
	ck_assert_int_eq(patch_add(&p, "/y", json_integer(1)), -1);
	ck_assert_int_eq(patch_end(&p), -1);
	patch_free(&p);
}
END_TEST

/* Apply `patch_text` to `doc_text`; return the result as sorted compact
 * JSON, or "ERROR: reason". */
static char *
applied(const char *doc_text, const char *patch_text)
{
	json_t *doc = json_loads(doc_text, 0, NULL);
	json_t *patch = json_loads(patch_text, 0, NULL);
	char err[256], *out;

	ck_assert_ptr_nonnull(doc);
	ck_assert_ptr_nonnull(patch);
	if (patch_apply(doc, patch, err, sizeof(err)) == -1) {
		size_t n = strlen(err) + 8;

		out = malloc(n);
		ck_assert_ptr_nonnull(out);
		snprintf(out, n, "ERROR: %s", err);
	} else {
		out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	}
	json_decref(doc);
	json_decref(patch);
	return out;
}

static void
assert_applied(const char *doc, const char *patch, const char *want)
{
	char *got = applied(doc, patch);

	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(test_apply_adds)
{
	assert_applied("{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
	    "[{\"op\":\"add\",\"path\":\"/spec/initContainers\",\"value\":"
	    "[{\"name\":\"i\"}]},"
	    "{\"op\":\"add\",\"path\":\"/spec/containers/-\",\"value\":"
	    "{\"name\":\"b\"}},"
	    "{\"op\":\"add\",\"path\":\"/spec/containers/0\",\"value\":"
	    "{\"name\":\"z\"}},"
	    "{\"op\":\"add\",\"path\":\"/metadata\",\"value\":{}},"
	    "{\"op\":\"add\",\"path\":\"/metadata/a~1b~0c\",\"value\":1}]",
	    "{\"metadata\":{\"a/b~c\":1},\"spec\":{\"containers\":"
	    "[{\"name\":\"z\"},{\"name\":\"a\"},{\"name\":\"b\"}],"
	    "\"initContainers\":[{\"name\":\"i\"}]}}");
	/* Inserting at the end index is allowed; past it is not. */
	assert_applied("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/1\","
	    "\"value\":2}]", "{\"a\":[1,2]}");
}
END_TEST

START_TEST(test_apply_errors)
{
	char *got;

	got = applied("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/2\","
	    "\"value\":2}]");
	ck_assert_str_eq(got, "ERROR: path \"/a/2\": index out of range");
	free(got);
	got = applied("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/01\","
	    "\"value\":2}]");
	ck_assert_str_eq(got, "ERROR: path \"/a/01\": index out of range");
	free(got);
	got = applied("{}", "[{\"op\":\"add\",\"path\":\"/x/y\","
	    "\"value\":2}]");
	ck_assert_str_eq(got, "ERROR: path \"/x/y\": parent does not exist");
	free(got);
	got = applied("{}", "[{\"op\":\"replace\",\"path\":\"/x\","
	    "\"value\":2}]");
	ck_assert_str_eq(got, "ERROR: op 0: \"replace\" is not supported "
	    "(only add)");
	free(got);
	got = applied("{}", "[{\"op\":\"add\",\"path\":\"\",\"value\":2}]");
	ck_assert_str_eq(got, "ERROR: path \"\": cannot replace the whole "
	    "document");
	free(got);
	got = applied("{}", "[{\"op\":\"add\",\"path\":\"/a~2\","
	    "\"value\":2}]");
	ck_assert_str_eq(got, "ERROR: path \"/a~2\": bad token");
	free(got);
	got = applied("{\"a\":\"s\"}", "[{\"op\":\"add\",\"path\":"
	    "\"/a/b\",\"value\":2}]");
	ck_assert_str_eq(got, "ERROR: path \"/a/b\": parent is not an object "
	    "or an array");
	free(got);
}
END_TEST

/* What patch_add_members and patch_insert_items build must apply back to
 * the same result the ops describe. */
START_TEST(test_apply_built_patch)
{
	static const struct patch_item two[] = {
		ITEM("{\"name\":\"mesh-init\"}"), ITEM("{\"name\":\"mesh-proxy\"}")
	};
	json_t *doc = json_loads("{\"metadata\":{\"annotations\":{\"u\":"
	    "\"1\"}},\"spec\":{\"initContainers\":[{\"name\":\"user\"}]}}",
	    0, NULL);
	json_t *patch;
	struct patch p;
	char err[256], *got;

	patch_init(&p);
	ck_assert_int_eq(patch_add_members(&p, json_object_get(
	    json_object_get(doc, "metadata"), "annotations"),
	    "/metadata/annotations", json_pack("{s:s}", "m/s", "x")), 0);
	ck_assert_int_eq(patch_insert_items(&p, json_object_get(
	    json_object_get(doc, "spec"), "initContainers"),
	    "/spec/initContainers", 0, two, 2), 0);
	ck_assert_int_eq(patch_end(&p), 0);
	patch = json_loadb(p.text.data, p.text.len, 0, NULL);
	ck_assert_ptr_nonnull(patch);
	ck_assert_int_eq(patch_apply(doc, patch, err, sizeof(err)), 0);
	got = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(got, "{\"metadata\":{\"annotations\":{\"m/s\":"
	    "\"x\",\"u\":\"1\"}},\"spec\":{\"initContainers\":[{\"name\":"
	    "\"mesh-init\"},{\"name\":\"mesh-proxy\"},{\"name\":\"user\"}]}}");
	free(got);
	json_decref(patch);
	patch_free(&p);
	json_decref(doc);
}
END_TEST

static Suite *
patch_suite(void)
{
	Suite *s = suite_create("patch");
	TCase *tc = tcase_create("ops");

	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_escape_overflow);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_members_create_map);
	tcase_add_test(tc, test_members_existing_map);
	tcase_add_test(tc, test_items_absent_or_null);
	tcase_add_test(tc, test_items_prepend_and_append);
	tcase_add_test(tc, test_text_escaped);
	tcase_add_test(tc, test_null_value_is_error);
	suite_add_tcase(s, tc);
	tc = tcase_create("apply");
	tcase_add_test(tc, test_apply_adds);
	tcase_add_test(tc, test_apply_errors);
	tcase_add_test(tc, test_apply_built_patch);
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
