/* check_yamljson.c - YAML to JSON with Kubernetes' scalar rules, errors
 * with positions, limits, and YAML written back that reads the same. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamljson.h"

/* Load text; return the documents as compact JSON, or "ERROR L:C: text". */
static char *
load_text(const char *text)
{
	struct yamljson_error err;
	json_t *docs = yamljson_load(text, strlen(text), &err);
	char *out;

	if (docs == NULL) {
		size_t n = strlen(err.text) + 64;

		out = malloc(n);
		ck_assert_ptr_nonnull(out);
		snprintf(out, n, "ERROR %d:%d: %s", err.line, err.column,
		    err.text);
		return out;
	}
	out = json_dumps(docs, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(docs);
	ck_assert_ptr_nonnull(out);
	return out;
}

static void
assert_loads(const char *yaml, const char *want)
{
	char *got = load_text(yaml);

	if (strcmp(got, want) != 0)
		ck_abort_msg("YAML %s\n  read as %s\n  wanted  %s", yaml, got,
		    want);
	free(got);
}

/* The error must start with `prefix` ("ERROR 3:5: ..."). */
static void
assert_fails(const char *yaml, const char *prefix)
{
	char *got = load_text(yaml);

	if (strncmp(got, prefix, strlen(prefix)) != 0)
		ck_abort_msg("YAML %s\n  gave   %s\n  wanted %s...", yaml, got,
		    prefix);
	free(got);
}

/* Untagged plain scalars, as sigs.k8s.io/yaml (yaml.v2) reads them. */
static const struct {
	const char *yaml;
	const char *json;
} scalars[] = {
	{ "", "null" }, { "~", "null" }, { "null", "null" },
	{ "Null", "null" }, { "NULL", "null" }, { "nULL", "\"nULL\"" },
	{ "true", "true" }, { "True", "true" }, { "TRUE", "true" },
	{ "false", "false" }, { "tRUE", "\"tRUE\"" },
	/* YAML 1.1 booleans, as kubectl reads them */
	{ "yes", "true" }, { "Yes", "true" }, { "no", "false" },
	{ "NO", "false" }, { "on", "true" }, { "On", "true" },
	{ "off", "false" }, { "OFF", "false" }, { "y", "true" },
	{ "n", "false" }, { "yES", "\"yES\"" },
	{ "0", "0" }, { "-0", "0" }, { "+12", "12" }, { "-12", "-12" },
	{ "1_000", "1000" }, { "0777", "511" }, { "-0777", "-511" },
	{ "0o17", "15" }, { "0x1F", "31" }, { "0X1f", "31" },
	{ "0b101", "5" }, { "-0b101", "-5" }, { "0x", "\"0x\"" },
	{ "9223372036854775807", "9223372036854775807" },
	{ "-9223372036854775808", "-9223372036854775808" },
	/* past uint64: Go's ParseInt and ParseUint fail, it is a float */
	{ "99999999999999999999", "1e20" },
	{ "08", "8.0" }, { "0.5", "0.5" }, { ".5", "0.5" }, { "-.5", "-0.5" },
	{ "1e3", "1000.0" }, { "1E3", "1000.0" }, { "1.5e-3", "0.0015" },
	{ "1.", "1.0" }, { "+.5", "0.5" }, { "1_0.5", "10.5" },
	/* overflow: Go's ParseFloat fails, yaml.v2 keeps the text */
	{ "1e999", "\"1e999\"" },
	{ "1e", "\"1e\"" }, { ".", "\".\"" }, { "-x", "\"-x\"" },
	{ "1.2.3", "\"1.2.3\"" }, { "12abc", "\"12abc\"" },
	{ "0x1p3", "\"0x1p3\"" }, { "._5", "\"._5\"" },
	/* timestamps stay strings (yaml.v2 into interface{}) */
	{ "2001-12-14", "\"2001-12-14\"" },
	{ "2001-12-14t21:59:43.10-05:00", "\"2001-12-14t21:59:43.10-05:00\"" },
	{ "1:20", "\"1:20\"" }, { "100m", "\"100m\"" },
	{ "128Mi", "\"128Mi\"" }, { "nginx:1.27", "\"nginx:1.27\"" },
	{ "héllo", "\"héllo\"" },
};

START_TEST(test_plain_scalars)
{
	char yaml[128], want[160];

	snprintf(yaml, sizeof(yaml), "k: %s\n", scalars[_i].yaml);
	snprintf(want, sizeof(want), "[{\"k\":%s}]", scalars[_i].json);
	assert_loads(yaml, want);
}
END_TEST

START_TEST(test_quoted_and_tagged)
{
	assert_loads("a: \"on\"\nb: 'null'\nc: \"0777\"\nd: ''\ne: \"1e3\"\n",
	    "[{\"a\":\"on\",\"b\":\"null\",\"c\":\"0777\",\"d\":\"\","
	    "\"e\":\"1e3\"}]");
	assert_loads("a: !!str 12\nb: !!str yes\nc: !!int \"12\"\n"
	    "d: !!float 3\ne: !!bool \"on\"\nf: !!null ''\ng: ! 12\n"
	    "h: !custom 12\ni: !!timestamp 2001-12-14\n",
	    "[{\"a\":\"12\",\"b\":\"yes\",\"c\":12,\"d\":3.0,\"e\":true,"
	    "\"f\":null,\"g\":\"12\",\"h\":\"12\",\"i\":\"2001-12-14\"}]");
	assert_loads("a: |\n  line 1\n  line 2\nb: >\n  folded\n  text\n"
	    "c: |-\n  no newline\n",
	    "[{\"a\":\"line 1\\nline 2\\n\",\"b\":\"folded text\\n\","
	    "\"c\":\"no newline\"}]");
	assert_fails("a: !!int abc\n", "ERROR 1:4: cannot read \"abc\" as !!int");
	assert_fails("a: !!bool 1\n", "ERROR 1:4: cannot read \"1\" as !!bool");
	assert_fails("a: !!binary aGk=\n", "ERROR 1:4: !!binary values are "
	    "not supported");
}
END_TEST

START_TEST(test_keys)
{
	/* Keys are strings as written, in order. */
	assert_loads("z: 1\non: 2\n12: 3\n~: 4\n\"a b\": 5\nm: 6\n",
	    "[{\"z\":1,\"on\":2,\"12\":3,\"~\":4,\"a b\":5,\"m\":6}]");
	assert_fails("a: 1\nb: 2\na: 3\n", "ERROR 3:1: duplicate key \"a\"");
	assert_fails("x:\n  y: 1\n  \"y\": 2\n", "ERROR 3:3: duplicate key "
	    "\"y\"");
	assert_fails("? [a]\n: 1\n", "ERROR 1:3: mapping keys must be "
	    "scalars");
	assert_fails("a: &x b\n*x : c\n", "ERROR 2:1: an alias cannot be a "
	    "mapping key");
}
END_TEST

START_TEST(test_documents)
{
	assert_loads("", "[]");
	assert_loads("a: 1\n---\nb: 2\n", "[{\"a\":1},{\"b\":2}]");
	assert_loads("---\n---\na: 1\n...\n", "[null,{\"a\":1}]");
	assert_loads("# only a comment\n", "[]");
	assert_loads("[1, {a: b}]\n", "[[1,{\"a\":\"b\"}]]");
}
END_TEST

START_TEST(test_anchors)
{
	struct yamljson_error err;
	const char *y = "base: &b {x: 1, l: [1]}\ncopy: *b\n";
	json_t *docs, *doc;

	assert_loads("a: &x 1\nb: *x\n", "[{\"a\":1,\"b\":1}]");
	/* Merge keys: explicit keys win wherever they are written. */
	assert_loads("base: &b {x: 1, y: 2}\nm:\n  y: 9\n  <<: *b\n  z: 3\n",
	    "[{\"base\":{\"x\":1,\"y\":2},\"m\":{\"y\":9,\"z\":3,\"x\":1}}]");
	assert_loads("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nm: {<<: [*a, *b]}\n",
	    "[{\"a\":{\"x\":1},\"b\":{\"x\":2,\"y\":2},\"m\":{\"x\":1,\"y\":2}}]");
	assert_fails("a: {<<: 1}\n", "ERROR 1:5: a << merge takes a mapping");
	/* "<<" quoted is an ordinary key. */
	assert_loads("a: {\"<<\": 1}\n", "[{\"a\":{\"<<\":1}}]");
	assert_fails("a: *nope\n", "ERROR 1:4: unknown anchor \"nope\"");
	/* An anchor does not cross documents. */
	assert_fails("a: &x 1\n---\nb: *x\n", "ERROR 3:4: unknown anchor");
	/* A recursive alias cannot be resolved. */
	assert_fails("a: &x [*x]\n", "ERROR 1:8: unknown anchor");

	/* Aliases are copies: changing one place leaves the other. */
	docs = yamljson_load(y, strlen(y), &err);
	ck_assert_ptr_nonnull(docs);
	doc = json_array_get(docs, 0);
	json_object_set_new(json_object_get(doc, "copy"), "x", json_integer(2));
	json_array_append_new(json_object_get(json_object_get(doc, "copy"),
	    "l"), json_integer(2));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc,
	    "base"), "x")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(doc,
	    "base"), "l")), 1);
	json_decref(docs);
}
END_TEST

/* The billion laughs: nine levels of nine aliases each. */
START_TEST(test_alias_bomb)
{
	char yaml[4096];
	size_t n = 0;
	int level, i;

	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
	    "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (level = 1; level <= 9; level++) {
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
		    "l%d: &l%d [", level, level);
		for (i = 0; i < 9; i++)
			n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
			    "%s*l%d", i > 0 ? ", " : "", level - 1);
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "]\n");
	}
	ck_assert_uint_lt(n, sizeof(yaml));
	assert_fails(yaml, "ERROR 7:");
	{
		char *got = load_text(yaml);

		ck_assert_ptr_nonnull(strstr(got, "aliases expand to more than "
		    "1000000 nodes (an alias bomb?)"));
		free(got);
	}
}
END_TEST

START_TEST(test_limits_and_errors)
{
	char *deep;
	size_t i, n = YAMLJSON_MAX_DEPTH + 1;
	char want[64];

	deep = malloc(2 * n + 2);
	ck_assert_ptr_nonnull(deep);
	for (i = 0; i < n; i++) {
		deep[i] = '[';
		deep[n + i] = ']';
	}
	deep[2 * n] = '\n';
	deep[2 * n + 1] = '\0';
	snprintf(want, sizeof(want), "ERROR 1:%d: nesting deeper than %d",
	    YAMLJSON_MAX_DEPTH + 1, YAMLJSON_MAX_DEPTH);
	assert_fails(deep, want);
	/* Exactly the limit is fine. */
	deep[0] = ' ';
	deep[2 * n - 1] = ' ';
	{
		char *got = load_text(deep);

		ck_assert_str_ne(got, "");
		ck_assert(strncmp(got, "ERROR", 5) != 0);
		free(got);
	}
	free(deep);

	assert_fails("a: [1, 2\n", "ERROR 2:1: did not find expected ',' or "
	    "']'");
	assert_fails("a: b\n c: d\n", "ERROR 2:3: mapping values are not "
	    "allowed");
	assert_fails("a: 1\n\tb: 2\n", "ERROR 2:1: found a tab character "
	    "that violates indentation");
	assert_fails("a: \"x\xff\"\n", "ERROR 1:6: invalid");
	assert_fails("a: .inf\n", "ERROR 1:4: \".inf\" is not a finite "
	    "number");
	assert_fails("a: -.Inf\n", "ERROR 1:4:");
	assert_fails("a: .NaN\n", "ERROR 1:4:");
	assert_fails("a: 9223372036854775808\n", "ERROR 1:4: integer "
	    "9223372036854775808 is out of range");
	assert_loads("a: !!str .inf\n", "[{\"a\":\".inf\"}]");
}
END_TEST

START_TEST(test_input_limit)
{
	struct yamljson_error err;
	json_t *docs;

	/* The limit is checked before anything is read. */
	docs = yamljson_load("a: 1", YAMLJSON_MAX_INPUT + 1, &err);
	ck_assert_ptr_null(docs);
	ck_assert_ptr_nonnull(strstr(err.text, "larger than"));
}
END_TEST

/* Write `v` as YAML and read it back: the same value. Returns the text. */
static char *
round_trip(const json_t *v)
{
	struct yamljson_error err;
	json_t *docs = json_pack("[O]", v), *back;
	char e[256], *text;

	text = yamljson_dump(docs, e, sizeof(e));
	ck_assert_msg(text != NULL, "dump failed: %s", e);
	back = yamljson_load(text, strlen(text), &err);
	ck_assert_msg(back != NULL, "reading back\n%s\nfailed: %d:%d: %s",
	    text, err.line, err.column, err.text);
	if (!json_equal(back, docs)) {
		char *a = json_dumps(docs, JSON_COMPACT | JSON_ENCODE_ANY);
		char *b = json_dumps(back, JSON_COMPACT | JSON_ENCODE_ANY);

		ck_abort_msg("round trip changed %s into %s via\n%s", a, b,
		    text);
	}
	json_decref(back);
	json_decref(docs);
	return text;
}

static const char *const tricky[] = {
	"on", "off", "yes", "no", "y", "n", "Y", "N", "true", "False",
	"null", "Null", "~", "", "0777", "0o17", "0x1F", "0b1", "1e3", "1E3",
	"1e999", ".5", "+1", "-1", "1_000", "1_0.5", "08", ".inf", "-.inf",
	".nan", "2001-12-14", "2001-12-14 21:59:43.10 -5", "1:20", "190:20:30",
	"<<", "=", "-", "--", "---", "...", "- x", "? x", ": x", "a: b",
	"a:b", "a #b", "#x", "&a", "*a", "!x", "|", ">", "%x", "@x", "`x",
	"[x", "]", "{x", "}", ",", "'", "\"", "\\", " lead", "trail ",
	"tab\there", "multi\nline", "multi\nline\n", "trailing\n\n\n",
	"\nleading newline", "  indented\nblock\n", "line \nwith trailing space",
	"crlf\r\nline", "unicode: \xc3\xbc \xe6\x97\xa5\xe6\x9c\xac \xe2\x9c\x93",
	"emoji \xf0\x9f\x9a\x80", "nbsp\xc2\xa0x", "bom\xef\xbb\xbfx",
	"ctrl\x01x", "del\x7fx", "line\xe2\x80\xa8sep",
	"100m", "128Mi", "15000,15021", "nginx:1.27", "/healthz/ready",
	"{\"json\":[1,2]}", "$(POD_NAME)", "*",
};

START_TEST(test_round_trip_strings)
{
	json_t *v = json_pack("{s:s}", "k", tricky[_i]);
	json_t *key = json_object();
	char *text;

	ck_assert_ptr_nonnull(v);
	free(round_trip(v));
	/* And the same strings as keys. */
	json_object_set_new(key, tricky[_i], json_string("v"));
	free(round_trip(key));
	json_decref(key);
	json_decref(v);

	/* Bare, as a whole document, too. */
	v = json_string(tricky[_i]);
	text = round_trip(v);
	free(text);
	json_decref(v);
}
END_TEST

START_TEST(test_round_trip_values)
{
	json_t *v = json_pack("{s:i, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:b,"
	    " s:b, s:n, s:{}, s:[], s:[i, s, [], {}, [s]], s:{s:{s:{s:s}}}}",
	    "int", 42, "min", (json_int_t)INT64_MIN, "max",
	    (json_int_t)INT64_MAX, "real", 0.1, "whole", 1000.0, "big", 1e300,
	    "tiny", 5e-324, "neg", -2.5, "t", 1, "f", 0, "nul",
	    "emptymap", "emptylist", "list", 1, "x", "nested", "y",
	    "a", "b", "c", "d");
	json_t *nul = json_pack("{s:s%}", "k", "a\0b", (size_t)3);
	char *text;

	ck_assert_ptr_nonnull(v);
	text = round_trip(v);
	/* Floats stay floats, empty collections are flow style. */
	ck_assert_ptr_nonnull(strstr(text, "whole: 1000.0\n"));
	ck_assert_ptr_nonnull(strstr(text, "emptymap: {}\n"));
	ck_assert_ptr_nonnull(strstr(text, "emptylist: []\n"));
	free(text);
	json_decref(v);

	ck_assert_ptr_nonnull(nul);
	free(round_trip(nul));
	json_decref(nul);
}
END_TEST

/* What the emitter writes for the usual and tricky cases. */
START_TEST(test_dump_text)
{
	json_t *docs = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}, "
	    "{s:[{s:s}]}]",
	    "on", "on", "mode", "0777", "n", "1e3", "e", "", "ml",
	    "line 1\nline 2\n", "u", "h\xc3\xa9llo \xe2\x9c\x93", "img",
	    "nginx:1.27", "q", "a: b",
	    "containers", "name", "app");
	char err[128], *text;

	text = yamljson_dump(docs, err, sizeof(err));
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text,
	    "\"on\": \"on\"\n"
	    "mode: \"0777\"\n"
	    "\"n\": \"1e3\"\n"
	    "e: \"\"\n"
	    "ml: |\n"
	    "  line 1\n"
	    "  line 2\n"
	    "u: h\xc3\xa9llo \xe2\x9c\x93\n"
	    "img: nginx:1.27\n"
	    "q: 'a: b'\n"
	    "---\n"
	    "containers:\n"
	    "- name: app\n");
	free(text);
	json_decref(docs);

	docs = json_array();
	text = yamljson_dump(docs, err, sizeof(err));
	ck_assert_str_eq(text, "");
	free(text);
	json_decref(docs);
}
END_TEST

/* Reading a manifest and writing it keeps every value and key order. */
START_TEST(test_manifest_round_trip)
{
	static const char yaml[] =
	    "apiVersion: apps/v1\n"
	    "kind: Deployment\n"
	    "metadata:\n"
	    "  name: web\n"
	    "  annotations:\n"
	    "    note: \"yes\"\n"
	    "    script: |\n"
	    "      #!/bin/sh\n"
	    "      echo hi\n"
	    "spec:\n"
	    "  replicas: 3\n"
	    "  template:\n"
	    "    spec:\n"
	    "      containers:\n"
	    "      - name: web\n"
	    "        image: nginx:1.27\n"
	    "        args: [\"--port\", \"8080\"]\n"
	    "        resources: {requests: {cpu: 100m, memory: 64Mi}}\n";
	struct yamljson_error err;
	json_t *docs = yamljson_load(yaml, strlen(yaml), &err), *back;
	char e[128], *text;

	ck_assert_ptr_nonnull(docs);
	text = yamljson_dump(docs, e, sizeof(e));
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text,
	    "apiVersion: apps/v1\n"
	    "kind: Deployment\n"
	    "metadata:\n"
	    "  name: web\n"
	    "  annotations:\n"
	    "    note: \"yes\"\n"
	    "    script: |\n"
	    "      #!/bin/sh\n"
	    "      echo hi\n"
	    "spec:\n"
	    "  replicas: 3\n"
	    "  template:\n"
	    "    spec:\n"
	    "      containers:\n"
	    "      - name: web\n"
	    "        image: nginx:1.27\n"
	    "        args:\n"
	    "        - --port\n"
	    "        - \"8080\"\n"
	    "        resources:\n"
	    "          requests:\n"
	    "            cpu: 100m\n"
	    "            memory: 64Mi\n");
	back = yamljson_load(text, strlen(text), &err);
	ck_assert(json_equal(back, docs));
	json_decref(back);
	json_decref(docs);
	free(text);
}
END_TEST

START_TEST(test_plain_is_string)
{
	ck_assert_int_eq(yamljson_plain_is_string("web", 3), 1);
	ck_assert_int_eq(yamljson_plain_is_string("on", 2), 0);
	ck_assert_int_eq(yamljson_plain_is_string("", 0), 0);
	ck_assert_int_eq(yamljson_plain_is_string("0777", 4), 0);
	ck_assert_int_eq(yamljson_plain_is_string("2001-12-14", 10), 1);
}
END_TEST

/* Out of memory: make each successive jansson allocation fail in turn
 * (jansson's test_chaos). Loading and dumping must fail cleanly, never
 * crash, and leak nothing (run under valgrind or SANITIZER=address). */
static int chaos_left;

static void *
chaos_malloc(size_t n)
{
	if (chaos_left-- <= 0)
		return NULL;
	return malloc(n);
}

START_TEST(test_out_of_memory)
{
	static const char yaml[] =
	    "a: &a {x: [1, 2.5, \"s\", true, null], y: {z: w}}\n"
	    "b: *a\n"
	    "c: {<<: *a, q: 1}\n"
	    "---\n"
	    "- [x, y]\n";
	struct yamljson_error err;
	json_t *docs, *good;
	char e[128], *text;
	int n, ok = 0;

	good = yamljson_load(yaml, strlen(yaml), &err);
	ck_assert_ptr_nonnull(good);
	for (n = 0; n < 400; n++) {
		chaos_left = n;
		json_set_alloc_funcs(chaos_malloc, free);
		docs = yamljson_load(yaml, strlen(yaml), &err);
		json_set_alloc_funcs(malloc, free);
		if (docs == NULL) {
			ck_assert_str_ne(err.text, "");
		} else {
			ck_assert(json_equal(docs, good));
			ok++;
		}
		json_decref(docs);

		chaos_left = n;
		json_set_alloc_funcs(chaos_malloc, free);
		text = yamljson_dump(good, e, sizeof(e));
		json_set_alloc_funcs(malloc, free);
		free(text);
	}
	ck_assert_int_gt(ok, 0);
	json_decref(good);
}
END_TEST

static Suite *
yamljson_suite(void)
{
	Suite *s = suite_create("yamljson");
	TCase *tc = tcase_create("read");

	tcase_add_loop_test(tc, test_plain_scalars, 0,
	    (int)(sizeof(scalars) / sizeof(scalars[0])));
	tcase_add_test(tc, test_quoted_and_tagged);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_documents);
	tcase_add_test(tc, test_anchors);
	tcase_add_test(tc, test_alias_bomb);
	tcase_add_test(tc, test_limits_and_errors);
	tcase_add_test(tc, test_input_limit);
	tcase_add_test(tc, test_plain_is_string);
	suite_add_tcase(s, tc);
	tc = tcase_create("write");
	tcase_add_loop_test(tc, test_round_trip_strings, 0,
	    (int)(sizeof(tricky) / sizeof(tricky[0])));
	tcase_add_test(tc, test_round_trip_values);
	tcase_add_test(tc, test_dump_text);
	tcase_add_test(tc, test_manifest_round_trip);
	suite_add_tcase(s, tc);
	tc = tcase_create("chaos");
	tcase_add_test(tc, test_out_of_memory);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(yamljson_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
