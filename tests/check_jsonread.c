/* check_jsonread.c - jsonread_loadb against jansson's json_loadb: every JSON
 * fixture, a table of edge cases, deep nesting, big skipped objects,
 * thousands of random documents and byte mutations, and out of memory.
 *
 * The contract checked everywhere: jsonread returns a tree only for a text
 * json_loadb(JSON_REJECT_DUPLICATES) accepts, and that tree is json_equal
 * to jansson's with the skipped key deleted. Where a text is ordinary
 * (no NUL byte, shallow), jsonread must also not decline it, or the fast
 * path would be worthless. JSONREAD_SEED=n changes the random tests' seed. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "jsonread.h"
#include "lib/jsonread_skips.h"
#include "lib/testutil.h"

/* a.b */
static const struct jsonread_skip ab_a[] = { { "b", NULL }, { NULL, NULL } };
static const struct jsonread_skip ab_path[] = {
	{ "a", ab_a }, { NULL, NULL }
};

enum outcome {
	BOTH_REJECT,
	BOTH_EQUAL,
	FAST_DECLINED		/* jansson accepts, jsonread left it to jansson */
};

/* ---- helpers ---- */

/* The text for a failure message: printable, escaped, cut short. */
static const char *
show(const char *text, size_t len)
{
	static char out[512];
	size_t i, o = 0;
	unsigned char c;

	for (i = 0; i < len && o < sizeof(out) - 8; i++) {
		c = (unsigned char)text[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o,
			    "\\x%02x", c);
	}
	if (i < len)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "...");
	out[o] = '\0';
	return out;
}

/* Delete the skipped keys from j where every key above them names an
 * object, as jsonread leaves them out. Returns how many there were. */
static int
skip_delete(json_t *j, const struct jsonread_skip *skip)
{
	int i, n = 0;

	if (!json_is_object(j))
		return 0;
	for (i = 0; skip[i].key != NULL; i++)
		if (skip[i].under != NULL)
			n += skip_delete(json_object_get(j, skip[i].key),
			    skip[i].under);
		else
			n += json_object_del(j, skip[i].key) == 0;
	return n;
}

/* Nesting depth of a tree, counting containers. */
static size_t
tree_depth(const json_t *j)
{
	const char *k;
	json_t *v;
	size_t i, d, max = 0;

	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v)
			if ((d = tree_depth(v)) > max)
				max = d;
		return max + 1;
	}
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if ((d = tree_depth(v)) > max)
				max = d;
		return max + 1;
	}
	return 0;
}

/*
 * Parse text both ways and hold jsonread to its contract, failing the test
 * with what on a breach. When strict, a text jansson accepts must not be
 * declined either unless it has a NUL byte or nests past 500 (what
 * jsonread_loadb documents as leaving to jansson). Returns the outcome.
 */
static enum outcome
contract(const char *text, size_t len, const struct jsonread_skip *skip, int strict,
    const char *what)
{
	json_error_t err;
	json_t *want, *got;
	char *a, *b;

	want = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	got = jsonread_loadb(text, len, skip);
	if (got != NULL && want == NULL)
		ck_abort_msg("%s: jsonread returned a tree for a text jansson "
		    "rejects (%s): %s", what, err.text, show(text, len));
	if (got == NULL) {
		if (want != NULL && strict && memchr(text, '\0', len) == NULL &&
		    tree_depth(want) <= 500)
			ck_abort_msg("%s: jsonread declined an ordinary text "
			    "jansson accepts: %s", what, show(text, len));
		json_decref(want);
		return want != NULL ? FAST_DECLINED : BOTH_REJECT;
	}
	if (skip != NULL)
		skip_delete(want, skip);
	if (!json_equal(want, got)) {
		a = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
		b = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		ck_abort_msg("%s: trees differ for %s\n jansson:  %.300s\n "
		    "jsonread: %.300s", what, show(text, len), a, b);
	}
	json_decref(want);
	json_decref(got);
	return BOTH_EQUAL;
}

/* A growing text for the generated documents. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void
sb_add(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		sb->cap = (sb->len + n + 1) * 2;
		sb->p = realloc(sb->p, sb->cap);
		ck_assert_ptr_nonnull(sb->p);
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

static void
sb_adds(struct sbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

/* ---- every JSON file under tests/fixtures and tests/golden ---- */

struct files {
	char **paths;
	size_t n;
};

static void
collect_json(const char *dir, struct files *fs)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char path[4096];
	size_t n;

	ck_assert_msg(d != NULL, "cannot open %s (run from the repository)",
	    dir);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ck_assert_int_eq(stat(path, &st), 0);
		n = strlen(e->d_name);
		if (S_ISDIR(st.st_mode))
			collect_json(path, fs);
		else if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) {
			fs->paths = realloc(fs->paths,
			    (fs->n + 1) * sizeof(*fs->paths));
			ck_assert_ptr_nonnull(fs->paths);
			fs->paths[fs->n++] = strdup(path);
		}
	}
	closedir(d);
}

START_TEST(test_fixtures)
{
	struct files fs = { NULL, 0 };
	json_error_t err;
	json_t *want, *got;
	size_t i, len, skipped = 0;
	char *text;

	collect_json("tests/fixtures", &fs);
	collect_json("tests/golden", &fs);
	ck_assert_uint_ge(fs.n, 3);
	for (i = 0; i < fs.n; i++) {
		text = tu_read_file(fs.paths[i], &len);
		want = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
		ck_assert_msg(want != NULL, "%s: %s", fs.paths[i], err.text);
		got = jsonread_loadb(text, len, NULL);
		ck_assert_msg(got != NULL, "%s: jsonread declined it",
		    fs.paths[i]);
		ck_assert_msg(json_equal(want, got), "%s: trees differ",
		    fs.paths[i]);
		json_decref(got);

		/* the webhook's skip, compared with the key deleted */
		got = jsonread_loadb(text, len, mf_path);
		ck_assert_msg(got != NULL, "%s: jsonread declined it with "
		    "managedFields skipped", fs.paths[i]);
		skipped += skip_delete(want, mf_path);
		ck_assert_msg(json_equal(want, got), "%s: trees differ with "
		    "managedFields skipped", fs.paths[i]);
		json_decref(got);
		json_decref(want);
		free(text);
		free(fs.paths[i]);
	}
	/* the review fixture has managedFields: the skip was exercised */
	ck_assert_uint_ge(skipped, 1);
	free(fs.paths);
}
END_TEST

/* The fuzzers' seeds and regression inputs, review bodies among them. */
START_TEST(test_corpora)
{
	static const char *dirs[] = { "tests/fuzz/corpus/review",
	    "tests/fuzz/corpus/jsonread" };
	char path[4096], *text;
	struct dirent *e;
	size_t i, len, n = 0;
	DIR *d;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		ck_assert_msg((d = opendir(dirs[i])) != NULL, "cannot open %s",
		    dirs[i]);
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[i],
			    e->d_name);
			text = tu_read_file(path, &len);
			/* regression inputs may be odd on purpose: not strict */
			contract(text, len, NULL, 0, path);
			contract(text, len, mf_path, 0, path);
			contract(text, len, ab_path, 0, path);
			free(text);
			n++;
		}
		closedir(d);
	}
	ck_assert_uint_ge(n, 10);
}
END_TEST

/* ---- edge cases: what jansson does, and that jsonread agrees ---- */

#define T(s)	s, sizeof(s) - 1
#define OK	1, 1		/* jansson accepts, jsonread builds the tree */
#define BAD	0, 0		/* jansson rejects, so does jsonread */
#define DECLINE	1, 0		/* jansson accepts, jsonread leaves it */

static const struct edge {
	const char *text;
	size_t len;
	const struct jsonread_skip *skip;
	int jansson, fast;
} edges[] = {
	/* the top level: an object or an array, only whitespace around */
	{ T("{}"), NULL, OK },
	{ T("[]"), NULL, OK },
	{ T(" \t\r\n{ } \r\n\t "), NULL, OK },
	{ T("[ 1 , [ ] , { } ]"), NULL, OK },
	{ T(""), NULL, BAD },
	{ T(" \n "), NULL, BAD },
	{ T("1"), NULL, BAD },
	{ T("\"a\""), NULL, BAD },
	{ T("true"), NULL, BAD },
	{ T("null"), NULL, BAD },
	{ T("{}x"), NULL, BAD },
	{ T("{} {}"), NULL, BAD },
	{ T("[]]"), NULL, BAD },
	{ T("{},"), NULL, BAD },
	{ T("\xef\xbb\xbf{}"), NULL, BAD },		/* a BOM */
	{ T("\f{}"), NULL, BAD },			/* not JSON whitespace */
	{ T("[\v1]"), NULL, BAD },
	{ T("[1\xc2\xa0]"), NULL, BAD },		/* NBSP */
	{ T("[\xc3\xa9]"), NULL, BAD },			/* UTF-8 outside a string */
	/* NUL bytes: jansson reads one after a number or a literal and
	 * forgets it (stream_unget of 0 empties its buffer); jsonread
	 * declines them all */
	{ T("{}\0"), NULL, BAD },
	{ T("\0{}"), NULL, BAD },
	{ T("[\"a\0\"]"), NULL, BAD },
	{ T("[\0]"), NULL, BAD },
	{ T("[1\0\0]"), NULL, BAD },
	{ T("[1\0]"), NULL, DECLINE },
	{ T("[true\0]"), NULL, DECLINE },
	{ T("[-2.5e3\0,null\0]"), NULL, DECLINE },
	/* grammar */
	{ T("{\"a\":[1,{\"b\":[]}],\"c\":{},\"d\":\"\"}"), NULL, OK },
	{ T("{\"a\"}"), NULL, BAD },
	{ T("{\"a\":}"), NULL, BAD },
	{ T("{\"a\" 1}"), NULL, BAD },
	{ T("{\"a\":1,}"), NULL, BAD },
	{ T("{,}"), NULL, BAD },
	{ T("{1:2}"), NULL, BAD },
	{ T("{a:1}"), NULL, BAD },
	{ T("{'a':1}"), NULL, BAD },
	{ T("[1,]"), NULL, BAD },
	{ T("[,1]"), NULL, BAD },
	{ T("[1 2]"), NULL, BAD },
	{ T("[1:2]"), NULL, BAD },
	{ T("{\"a\":1]"), NULL, BAD },
	{ T("[1}"), NULL, BAD },
	{ T("["), NULL, BAD },
	{ T("{"), NULL, BAD },
	{ T("[1"), NULL, BAD },
	{ T("[1,"), NULL, BAD },
	{ T("{\"a\":1"), NULL, BAD },
	{ T("{\"a\":"), NULL, BAD },
	{ T("{\"a\""), NULL, BAD },
	{ T("[\"abc"), NULL, BAD },
	{ T("[\"abc\\"), NULL, BAD },
	{ T("[\"abc\\\"]"), NULL, BAD },
	{ T("[/*c*/1]"), NULL, BAD },
	/* literals */
	{ T("[true,false,null]"), NULL, OK },
	{ T("[tru]"), NULL, BAD },
	{ T("[nul]"), NULL, BAD },
	{ T("[True]"), NULL, BAD },
	{ T("[truex]"), NULL, BAD },
	{ T("[true1]"), NULL, BAD },
	{ T("[nullnull]"), NULL, BAD },
	{ T("[t"), NULL, BAD },
	{ T("[NaN]"), NULL, BAD },
	{ T("[Infinity]"), NULL, BAD },
	{ T("[-Infinity]"), NULL, BAD },
	/* numbers: the grammar */
	{ T("[0,-0,1,-1,0.0,-0.0,0e0,1e5,1E5,1e+5,1e-5,1.5e-3,-2.5E+2]"),
	    NULL, OK },
	{ T("[01]"), NULL, BAD },
	{ T("[-01]"), NULL, BAD },
	{ T("[00]"), NULL, BAD },
	{ T("[-00.5]"), NULL, BAD },
	{ T("[+1]"), NULL, BAD },
	{ T("[-]"), NULL, BAD },
	{ T("[- 1]"), NULL, BAD },
	{ T("[--1]"), NULL, BAD },
	{ T("[1.]"), NULL, BAD },
	{ T("[.5]"), NULL, BAD },
	{ T("[1.e5]"), NULL, BAD },
	{ T("[1e]"), NULL, BAD },
	{ T("[1e+]"), NULL, BAD },
	{ T("[1e-]"), NULL, BAD },
	{ T("[1ee5]"), NULL, BAD },
	{ T("[1.5.2]"), NULL, BAD },
	{ T("[0x10]"), NULL, BAD },
	{ T("[1-2]"), NULL, BAD },
	{ T("[-a]"), NULL, BAD },
	{ T("[1"), NULL, BAD },
	{ T("[1.5"), NULL, BAD },
	{ T("[1e5"), NULL, BAD },
	/* numbers: json_int_t's edges, strtoll's ERANGE */
	{ T("[9223372036854775807,-9223372036854775808]"), NULL, OK },
	{ T("[1000000000000000000,-999999999999999999]"), NULL, OK },
	{ T("[9223372036854775808]"), NULL, BAD },
	{ T("[-9223372036854775809]"), NULL, BAD },
	{ T("[10000000000000000000]"), NULL, BAD },
	{ T("[18446744073709551616]"), NULL, BAD },
	{ T("[99999999999999999999999999999999]"), NULL, BAD },
	{ T("[9223372036854775808.0,-9223372036854775809e0]"), NULL, OK },
	/* numbers: strtod's overflow fails, underflow is accepted */
	{ T("[1e400]"), NULL, BAD },
	{ T("[-1e400]"), NULL, BAD },
	{ T("[1e309]"), NULL, BAD },
	{ T("[0.1e999999999999999999999]"), NULL, BAD },
	{ T("[1.7976931348623159e308]"), NULL, BAD },
	{ T("[1.7976931348623157e308,-1.7976931348623157e308]"), NULL, OK },
	{ T("[1e-400,-1e-400,4.9e-324,2.2250738585072011e-308]"), NULL, OK },
	{ T("[0e999999999999,0.0e-999999999999999]"), NULL, OK },
	{ T("[1e-99999999999999999999999]"), NULL, OK },
	{ T("[123456789012345678901234567890.123456789012345678901234567890"
	    "123456789012345678901234567890e-12]"), NULL, OK },
	/* strings: escapes */
	{ T("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"), NULL, OK },
	{ T("[\"\\u0041\\u00e9\\u20AC\\uffff\\u0080\\u07ff\\u0800\"]"), NULL,
	    OK },
	{ T("[\"\\u003cscript\\u003e \\u0026amp;\"]"), NULL, OK },
	{ T("[\"\\ud83d\\ude00\",\"\\uD83D\\uDE00\",\"\\udbff\\udfff\"]"),
	    NULL, OK },
	{ T("[\"\\u001f\\u0001\"]"), NULL, OK },
	{ T("[\"a\\u0000b\"]"), NULL, BAD },
	{ T("[\"\\u0000\"]"), NULL, BAD },
	{ T("{\"\\u0000\":1}"), NULL, BAD },
	{ T("{\"a\\u0000\":1}"), NULL, BAD },
	{ T("[\"\\ud800\"]"), NULL, BAD },
	{ T("[\"\\udbff\"]"), NULL, BAD },
	{ T("[\"\\udc00\"]"), NULL, BAD },
	{ T("[\"\\udfff\\ud800\"]"), NULL, BAD },
	{ T("[\"\\ud800\\u0041\"]"), NULL, BAD },
	{ T("[\"\\ud800\\ud800\"]"), NULL, BAD },
	{ T("[\"\\ud800\\n\"]"), NULL, BAD },
	{ T("[\"\\ud800x\"]"), NULL, BAD },
	{ T("[\"\\ud800\\u12\"]"), NULL, BAD },
	{ T("[\"\\x41\"]"), NULL, BAD },
	{ T("[\"\\U0041\"]"), NULL, BAD },
	{ T("[\"\\u00G1\"]"), NULL, BAD },
	{ T("[\"\\u12\"]"), NULL, BAD },
	{ T("[\"\\u\"]"), NULL, BAD },
	{ T("[\"\\'\"]"), NULL, BAD },
	{ T("[\"\\ \"]"), NULL, BAD },
	{ T("[\"\\\xc3\xa9\"]"), NULL, BAD },
	/* strings: raw control characters; DEL is not one */
	{ T("[\"\t\"]"), NULL, BAD },
	{ T("[\"\n\"]"), NULL, BAD },
	{ T("[\"\x1f\"]"), NULL, BAD },
	{ T("[\"\x01\"]"), NULL, BAD },
	{ T("{\"\t\":1}"), NULL, BAD },
	{ T("[\"\x7f\"]"), NULL, OK },
	/* strings: UTF-8 as utf8_check_first/utf8_check_full see it */
	{ T("[\"\xc2\x80\xc3\xa9\xdf\xbf\xe0\xa0\x80\xe2\x82\xac\xef\xbf\xbf"
	    "\xf0\x90\x80\x80\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"]"), NULL, OK },
	{ T("[\"\xed\x9f\xbf\xee\x80\x80\"]"), NULL, OK },	/* D7FF E000 */
	{ T("{\"\xc3\xa9\":\"\xe2\x82\xac\"}"), NULL, OK },
	{ T("[\"\xc0\x80\"]"), NULL, BAD },		/* overlong NUL */
	{ T("[\"\xc0\xaf\"]"), NULL, BAD },
	{ T("[\"\xc1\xbf\"]"), NULL, BAD },
	{ T("[\"\xe0\x80\x80\"]"), NULL, BAD },
	{ T("[\"\xe0\x9f\xbf\"]"), NULL, BAD },		/* overlong 07FF */
	{ T("[\"\xf0\x80\x80\x80\"]"), NULL, BAD },
	{ T("[\"\xf0\x8f\xbf\xbf\"]"), NULL, BAD },	/* overlong FFFF */
	{ T("[\"\xed\xa0\x80\"]"), NULL, BAD },		/* D800 */
	{ T("[\"\xed\xbf\xbf\"]"), NULL, BAD },		/* DFFF */
	{ T("[\"\xed\xa0\xbd\xed\xb8\x80\"]"), NULL, BAD }, /* CESU-8 */
	{ T("[\"\xf4\x90\x80\x80\"]"), NULL, BAD },	/* 110000 */
	{ T("[\"\xf5\x80\x80\x80\"]"), NULL, BAD },
	{ T("[\"\xf8\x88\x80\x80\x80\"]"), NULL, BAD },
	{ T("[\"\xff\"]"), NULL, BAD },
	{ T("[\"\xfe\"]"), NULL, BAD },
	{ T("[\"\x80\"]"), NULL, BAD },
	{ T("[\"\xbf\"]"), NULL, BAD },
	{ T("[\"\xc3\"]"), NULL, BAD },
	{ T("[\"\xe2\x82\"]"), NULL, BAD },
	{ T("[\"\xf0\x9f\x98\"]"), NULL, BAD },
	{ T("[\"\xc3\x28\"]"), NULL, BAD },
	{ T("[\"\xe2\x28\xa1\"]"), NULL, BAD },
	{ T("[\"\xc3"), NULL, BAD },
	{ T("[\"\xf0\x9f\x98"), NULL, BAD },
	{ T("{\"\xc0\x80\":1}"), NULL, BAD },
	/* duplicates, compared after unescaping */
	{ T("{\"a\":1,\"a\":2}"), NULL, BAD },
	{ T("{\"a\":{},\"a\":[]}"), NULL, BAD },
	{ T("{\"a\":1,\"\\u0061\":2}"), NULL, BAD },
	{ T("{\"\\/\":1,\"/\":2}"), NULL, BAD },
	{ T("{\"\":1,\"\":2}"), NULL, BAD },
	{ T("{\"\xc3\xa9\":1,\"\\u00e9\":2}"), NULL, BAD },
	{ T("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}"), NULL, BAD },
	{ T("{\"a\":{\"x\":1,\"y\":2,\"x\":3}}"), NULL, BAD },
	{ T("[{\"a\":1},{\"a\":1,\"a\":1}]"), NULL, BAD },
	{ T("{\"a\":1,\"A\":2,\"a \":3,\"\":4}"), NULL, OK },
	{ T("{\"x\":{\"a\":1},\"y\":{\"a\":1},\"a\":{\"a\":{\"a\":1}}}"), NULL,
	    OK },
	{ T("[{\"a\":1},{\"a\":1}]"), NULL, OK },
	/* skipping a.b: the key is left out, the rest is built */
	{ T("{\"a\":{\"b\":[1,2],\"c\":3},\"b\":4}"), ab_path, OK },
	{ T("{\"a\":{\"c\":3}}"), ab_path, OK },
	{ T("{\"a\":{\"b\":{}}}"), ab_path, OK },
	{ T("{\"a\":{\"b\":\"s\\u003c\"}}"), ab_path, OK },
	{ T("{\"a\":{\"b\":null,\"z\":{\"b\":1}}}"), ab_path, OK },
	{ T("{\"\\u0061\":{\"\\u0062\":1}}"), ab_path, OK },
	{ T("{\"a\":[{\"b\":1}]}"), ab_path, OK },	/* not a path */
	{ T("{\"a\":1,\"b\":2}"), ab_path, OK },
	{ T("[{\"a\":{\"b\":1}}]"), ab_path, OK },
	{ T("{\"b\":{\"a\":{\"b\":1}}}"), ab_path, OK },
	{ T("{\"a\":{\"b\":{\"x\":{\"x\":{\"x\":1}},\"y\":[{\"x\":1},{\"x\":2}]}}}"),
	    ab_path, OK },
	{ T("{\"a\":{\"b\":{\"k:{\\\"n\\\":1}\":{},\"k:{\\\"n\\\":2}\":{},"
	    "\"k:{\\\"n\\\":3}\":{\".\":{},\"f:x\":{}}}}}"), ab_path, OK },
	{ T("{\"a\":{\"b\":{\"\\u00e9\":1,\"\\u00e8\":2,\"\xc3\xaa\":3}}}"),
	    ab_path, OK },
	/* several keys a level (a.b, a.c, a.d.e, x): each left out, the
	 * rest built, a followed key that is no object built whole */
	{ T("{\"a\":{\"b\":1,\"c\":2,\"d\":{\"e\":3,\"f\":4},\"g\":5},"
	    "\"x\":[6],\"y\":7}"), many_path, OK },
	{ T("{\"x\":{},\"a\":{\"d\":{\"f\":{\"e\":1}},\"c\":{\"b\":2}}}"),
	    many_path, OK },
	{ T("{\"a\":{\"d\":[{\"e\":1}],\"c\":null,\"b\":\"\"}}"), many_path,
	    OK },
	{ T("{\"a\":7,\"x\":{\"a\":{\"b\":1}}}"), many_path, OK },
	{ T("{\"a\":{\"\\u0062\":1,\"\\u0063\":2}}"), many_path, OK },
	{ T("{\"a\":{\"b\":1,\"c\":2,\"b\":3}}"), many_path, BAD },
	{ T("{\"a\":{\"c\":1,\"b\":2,\"\\u0063\":3}}"), many_path, BAD },
	{ T("{\"x\":1,\"a\":{},\"x\":2}"), many_path, BAD },
	{ T("{\"a\":{\"d\":{\"e\":1,\"e\":2}}}"), many_path, BAD },
	{ T("{\"a\":{\"d\":{\"e\":1},\"d\":{}}}"), many_path, BAD },
	{ T("{\"a\":{\"c\":{\"k\":1,\"k\":2}}}"), many_path, BAD },
	/* skipping a.b: everything jansson checks is still checked */
	{ T("{\"a\":{\"b\":1,\"b\":2}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":{},\"\\u0062\":2}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":{\"x\":1,\"x\":2}}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":{\"x\":1,\"\\u0078\":2}}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":{\"k:{\\\"n\\\":1}\":1,\"k:{\\u0022n\\\":1}\":2}}}"),
	    ab_path, BAD },
	{ T("{\"a\":{\"b\":{\"\\/\":1,\"/\":2}}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":{\"\\u00e9\":1,\"\xc3\xa9\":2}}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":{\"x\":{\"y\":1},\"y\":2,\"x\":3}}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":[{\"p\":{\"q\":1,\"q\":1}}]}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":[1e400]}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":9223372036854775808}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":-9223372036854775809}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":[01]}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":\"\\ud800\"}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":\"\\u0000\"}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":{\"\\u0000\":1}}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":\"\xc0\x80\"}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":{\"\xed\xa0\x80\":1}}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":\"\t\"}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":[1,]}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":tru}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":[}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":{\"x\" 1}}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":[1]]}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":[1]}}}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":[1]}"), ab_path, BAD },
	{ T("{\"a\":{\"b\":"), ab_path, BAD },
	{ T("{\"a\":{\"b\":1\0}}"), ab_path, DECLINE },
	/* the webhook's path in a review */
	{ T("{\"request\":{\"object\":{\"metadata\":{\"name\":\"p\","
	    "\"managedFields\":[{\"fieldsV1\":{\"f:metadata\":{\"f:labels\":"
	    "{\".\":{},\"f:app\":{}}}}}]}}}}"), mf_path, OK },
	{ T("{\"request\":{\"object\":{\"metadata\":{\"managedFields\":[],"
	    "\"managedFields\":[]}}}}"), mf_path, BAD },
	{ T("{\"request\":{\"object\":{\"metadata\":{\"managedFields\":[{"
	    "\"f:a\":{},\"f:a\":{}}]}}}}"), mf_path, BAD },
};

START_TEST(test_edges)
{
	const struct edge *c = &edges[_i];
	json_error_t err;
	json_t *want;
	char what[64];

	want = json_loadb(c->text, c->len, JSON_REJECT_DUPLICATES, &err);
	ck_assert_msg((want != NULL) == c->jansson, "edge %d %s: jansson %s "
	    "it, not as the table says (%s)", _i, show(c->text, c->len),
	    want != NULL ? "accepts" : "rejects", err.text);
	json_decref(want);
	snprintf(what, sizeof(what), "edge %d", _i);
	ck_assert_int_eq(contract(c->text, c->len, c->skip, 0, what),
	    c->fast ? BOTH_EQUAL : c->jansson ? FAST_DECLINED : BOTH_REJECT);
}
END_TEST

/* A level of 33 skipped keys: the first 32 are left out, a key skipped
 * past them is left to jansson (there is no bit to find its duplicate). */
START_TEST(test_skip_level_of_33)
{
	static char names[33][16];
	static struct jsonread_skip level[34], root[2];
	char text[64];
	int i;

	for (i = 0; i < 33; i++) {
		snprintf(names[i], sizeof(names[i]), "k%d", i);
		level[i].key = names[i];
		level[i].under = NULL;
	}
	level[33].key = NULL;
	root[0].key = "a";
	root[0].under = level;
	root[1].key = NULL;
	snprintf(text, sizeof(text), "{\"a\":{\"k0\":1,\"k31\":2,\"z\":3}}");
	ck_assert_int_eq(contract(text, strlen(text), root, 0, "k0, k31"),
	    BOTH_EQUAL);
	snprintf(text, sizeof(text), "{\"a\":{\"k32\":1,\"z\":3}}");
	ck_assert_int_eq(contract(text, strlen(text), root, 0, "k32"),
	    FAST_DECLINED);
}
END_TEST

START_TEST(test_null_text)
{
	static const struct jsonread_skip none[] = { { NULL, NULL } };
	json_t *j;

	ck_assert_ptr_null(jsonread_loadb(NULL, 0, NULL));
	ck_assert_ptr_null(jsonread_loadb("{}", 0, NULL));
	/* an empty skip path skips nothing */
	j = jsonread_loadb("{\"a\":1}", 7, none);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_object_size(j), 1);
	json_decref(j);
}
END_TEST

/*
 * In a locale whose decimal point is a comma, jansson swaps '.' for it
 * before strtod; jsonread does not, and must decline rather than read 1.5
 * as 1. Where no such locale is installed, one is made with localedef
 * (-i de_DE -f UTF-8) in a temporary LOCPATH; when that fails too the test
 * cannot run: it fails under CI and says SKIPPED otherwise.
 */
static bool
make_comma_locale(char *dir, size_t dirlen)
{
	char cmd[PATH_MAX + 128];

	snprintf(dir, dirlen, "%s/check_jsonread-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return false;
	snprintf(cmd, sizeof(cmd), "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8'"
	    " >/dev/null 2>&1", dir);
	if (system(cmd) != 0 || setenv("LOCPATH", dir, 1) != 0)
		return false;
	return setlocale(LC_NUMERIC, "de_DE.UTF-8") != NULL &&
	    strcmp(localeconv()->decimal_point, ",") == 0;
}

START_TEST(test_decimal_comma_locale)
{
	static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8",
	    "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8", "nl_NL.UTF-8" };
	size_t i, len;
	char *text, made[PATH_MAX], rm[PATH_MAX + 16];

	made[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (setlocale(LC_NUMERIC, names[i]) != NULL &&
		    strcmp(localeconv()->decimal_point, ",") == 0)
			break;
	if (i == sizeof(names) / sizeof(names[0])) {
		bool ok = make_comma_locale(made, sizeof(made));

		if (!ok) {
			setlocale(LC_NUMERIC, "C");
			if (made[0] != '\0') {
				snprintf(rm, sizeof(rm), "rm -rf '%s'", made);
				ck_assert_int_eq(system(rm), 0);
			}
			tu_cannot_run("test_decimal_comma_locale", "no locale "
			    "with a decimal comma is installed and localedef "
			    "-i de_DE -f UTF-8 could not make one (Debian: "
			    "apt-get install locales)");
			return;
		}
		i = 0;	/* names[0], from LOCPATH */
	}
	ck_assert_int_eq(contract(T("[1.5]"), NULL, 0, names[i]),
	    FAST_DECLINED);
	ck_assert_int_eq(contract(T("{\"a\":{\"b\":[-0.25e3]}}"), ab_path, 0,
	    names[i]), FAST_DECLINED);
	/* no point, nothing for the locale to change */
	ck_assert_int_eq(contract(T("[1e5,2,-3E-2]"), NULL, 0, names[i]),
	    BOTH_EQUAL);
	text = tu_read_file("tests/fixtures/review-replicaset-pod.json", &len);
	contract(text, len, NULL, 0, names[i]);
	contract(text, len, mf_path, 0, names[i]);
	free(text);
	setlocale(LC_NUMERIC, "C");
	if (made[0] != '\0') {
		snprintf(rm, sizeof(rm), "rm -rf '%s'", made);
		ck_assert_int_eq(system(rm), 0);
	}
}
END_TEST

/* ---- nesting ---- */

static char *
nest(size_t depth, const char *prefix, const char *open, const char *close,
    size_t *len)
{
	struct sbuf sb = { NULL, 0, 0 };
	size_t i;

	sb_adds(&sb, prefix);
	for (i = 0; i < depth; i++)
		sb_adds(&sb, open);
	sb_adds(&sb, "1");
	for (i = 0; i < depth; i++)
		sb_adds(&sb, close);
	for (i = 0; prefix[i] != '\0'; i++)
		if (prefix[i] == '{')
			sb_adds(&sb, "}");
	*len = sb.len;
	return sb.p;
}

START_TEST(test_depth)
{
	static const size_t depths[] = { 1, 100, 510, 511, 512, 513, 600, 2046,
	    2047, 2048, 3000 };
	json_error_t err;
	json_t *want;
	size_t i, len, levels;
	char *text, what[64];
	int k;

	for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
		for (k = 0; k < 3; k++) {
			if (k == 0)
				text = nest(depths[i], "", "[", "]", &len);
			else if (k == 1)
				text = nest(depths[i], "", "{\"a\":", "}", &len);
			else	/* deep inside the skipped subtree */
				text = nest(depths[i], "{\"a\":{\"b\":", "[",
				    "]", &len);
			levels = depths[i] + (k == 2 ? 2 : 0);
			/* jansson counts values: the innermost 1 is one */
			want = json_loadb(text, len, JSON_REJECT_DUPLICATES,
			    &err);
			ck_assert_msg((want != NULL) == (levels + 1 <= 2048),
			    "depth %zu: jansson %s", levels, err.text);
			json_decref(want);
			snprintf(what, sizeof(what), "depth %zu kind %d",
			    levels, k);
			ck_assert_int_eq(contract(text, len,
			    k == 2 ? ab_path : NULL, 0, what),
			    levels <= 512 ? BOTH_EQUAL :
			    levels + 1 <= 2048 ? FAST_DECLINED : BOTH_REJECT);
			free(text);
		}
	}
}
END_TEST

/* ---- skipped objects with many keys (the hash index) ---- */

/* Key j of a big skipped object, quoted: managedFields' two kinds. */
static void
many_key(size_t j, char *buf, size_t size)
{
	if (j % 3 == 0)
		snprintf(buf, size, "\"k:{\\\"name\\\":\\\"E%zu\\\"}\"", j);
	else
		snprintf(buf, size, "\"f:%zu\"", j);
}

START_TEST(test_skip_many_keys)
{
	static const size_t counts[] = { 15, 16, 17, 31, 32, 33, 64, 65, 100,
	    1000, 20000 };
	struct sbuf sb = { NULL, 0, 0 };
	size_t i, j, n;
	char key[64], what[64];
	int dup;

	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		n = counts[i];
		/* dup 0: none; 1: the first key again; 2: "f:1" escaped;
		 * 3: the first key with \u0022 for one \"; 4: the last key
		 * again. The middle value is an object whose keys repeat the
		 * outer ones, which is no duplicate. */
		for (dup = 0; dup < 5; dup++) {
			sb.len = 0;
			sb_adds(&sb, "{\"a\":{\"b\":{");
			for (j = 0; j < n; j++) {
				if (j > 0)
					sb_adds(&sb, ",");
				many_key(j, key, sizeof(key));
				sb_adds(&sb, key);
				sb_adds(&sb, j != n / 2 ? ":{}" :
				    ":{\"f:1\":{},\"f:2\":[{\"f:1\":1}],"
				    "\"k:{\\\"name\\\":\\\"E0\\\"}\":{}}");
			}
			if (dup == 1) {
				many_key(0, key, sizeof(key));
				sb_adds(&sb, ",");
				sb_adds(&sb, key);
				sb_adds(&sb, ":1");
			} else if (dup == 2)
				sb_adds(&sb, ",\"\\u0066:1\":1");
			else if (dup == 3)
				sb_adds(&sb,
				    ",\"k:{\\u0022name\\\":\\\"E0\\\"}\":1");
			else if (dup == 4) {
				many_key(n - 1, key, sizeof(key));
				sb_adds(&sb, ",");
				sb_adds(&sb, key);
				sb_adds(&sb, ":[]");
			}
			sb_adds(&sb, "},\"c\":1},\"d\":2}");
			snprintf(what, sizeof(what), "%zu keys, dup %d", n, dup);
			ck_assert_int_eq(contract(sb.p, sb.len, ab_path, 1,
			    what), dup == 0 ? BOTH_EQUAL : BOTH_REJECT);
		}
	}
	free(sb.p);
}
END_TEST

/* ---- random documents and mutations (seeded) ---- */

static uint64_t rng_state;

/* splitmix64: small, seedable, good enough to pick test inputs */
static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static size_t
rnd(size_t n)
{
	return (size_t)(rng() % n);
}

static uint64_t
seed_for(uint64_t salt)
{
	const char *s = getenv("JSONREAD_SEED");

	return (s != NULL ? strtoull(s, NULL, 10) : 20240611u) ^ salt;
}

#define PICK(a)	((a)[rnd(sizeof(a) / sizeof((a)[0]))])

/* Valid pieces, then (rarely) pieces jansson rejects. */
static const char *const str_good[] = { "\\\"", "\\\\", "\\/", "\\b", "\\f",
	"\\n", "\\r", "\\t", "\\u0041", "\\u00e9", "\\u20AC", "\\u003c",
	"\\u0026", "\\ud83d\\ude00", "\\uDBFF\\uDFFF", "\\u001f", "\\u0080",
	"\\uffff", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
	"\xf4\x8f\xbf\xbf", "\x7f", " ", "k:{\\\"name\\\":\\\"x\\\"}" };
static const char *const str_bad[] = { "\\u0000", "\\ud800", "\\udc00x",
	"\\ud800\\u0041", "\xc0\x80", "\xed\xa0\x80", "\x01", "\t", "\\x",
	"\xff", "\xe2\x82", "\\u12g4" };
static const char *const num_good[] = { "0", "-0", "1", "-1", "42", "1.5",
	"-0.25", "1e10", "1E-10", "2.5e+3", "9223372036854775807",
	"-9223372036854775808", "1e-400", "4.9e-324", "1.7976931348623157e308",
	"123456789.123456789e-5", "100000000000000000000.0", "0.0", "-0e-0" };
static const char *const num_bad[] = { "9223372036854775808",
	"-9223372036854775809", "1e400", "01", "1.", "-", ".5", "+1" };
/* keys some of which unescape to each other */
static const char *const keys[] = { "a", "b", "c", "\\u0061", "\\u0062",
	"k:{\\\"n\\\":1}", "k:{\\u0022n\\u0022:1}", "\xc3\xa9", "\\u00e9", "",
	"managedFields", "x\\/y", "x/y", "f:metadata", "." };

static void
gen_ws(struct sbuf *sb)
{
	static const char *const ws[] = { " ", "\n", "\r\n", "\t", "  " };

	if (rnd(4) == 0)
		sb_adds(sb, PICK(ws));
}

static void
gen_string(struct sbuf *sb, int bad)
{
	size_t n = rnd(5), i, j, m;
	char plain[16];

	sb_adds(sb, "\"");
	for (i = 0; i < n; i++) {
		if (bad && rnd(60) == 0)
			sb_adds(sb, PICK(str_bad));
		else if (rnd(3) == 0)
			sb_adds(sb, PICK(str_good));
		else {
			m = 1 + rnd(sizeof(plain));
			for (j = 0; j < m; j++) {
				plain[j] = (char)(' ' + rnd(95));
				/* no quote or backslash in a plain run */
				if (plain[j] == '"' || plain[j] == '\\')
					plain[j] = '_';
			}
			sb_add(sb, plain, m);
		}
	}
	sb_adds(sb, "\"");
}

static void
gen_value(struct sbuf *sb, int depth, int bad)
{
	char num[32];
	size_t n, i, r = depth > 6 ? 60 + rnd(40) : rnd(100);

	if (r < 20) {
		sb_adds(sb, "[");
		gen_ws(sb);
		n = rnd(5);
		for (i = 0; i < n; i++) {
			if (i > 0)
				sb_adds(sb, ",");
			gen_ws(sb);
			gen_value(sb, depth + 1, bad);
			gen_ws(sb);
		}
		sb_adds(sb, "]");
	} else if (r < 60) {
		sb_adds(sb, "{");
		gen_ws(sb);
		n = rnd(6);
		for (i = 0; i < n; i++) {
			if (i > 0)
				sb_adds(sb, ",");
			gen_ws(sb);
			/* mostly fresh keys, so most objects are valid */
			if (rnd(4) == 0) {
				sb_adds(sb, "\"");
				sb_adds(sb, PICK(keys));
				sb_adds(sb, "\"");
			} else if (rnd(3) == 0)
				gen_string(sb, bad);
			else {
				snprintf(num, sizeof(num), "\"k%zu\"",
				    (size_t)rng() % 100000);
				sb_adds(sb, num);
			}
			gen_ws(sb);
			sb_adds(sb, ":");
			gen_ws(sb);
			gen_value(sb, depth + 1, bad);
			gen_ws(sb);
		}
		sb_adds(sb, "}");
	} else if (r < 75)
		gen_string(sb, bad);
	else if (r < 90) {
		if (bad && rnd(40) == 0)
			sb_adds(sb, PICK(num_bad));
		else if (rnd(2) == 0)
			sb_adds(sb, PICK(num_good));
		else {
			snprintf(num, sizeof(num), "%lld",
			    (long long)(rng() >> rnd(64)) * (rnd(2) ? 1 : -1));
			sb_adds(sb, num);
		}
	} else
		sb_adds(sb, r < 94 ? "true" : r < 97 ? "false" : "null");
}

/* A document; the root often holds a.b so that the skip is exercised. */
static void
gen_doc(struct sbuf *sb, int bad)
{
	sb->len = 0;
	gen_ws(sb);
	if (rnd(3) == 0) {
		sb_adds(sb, "[");
		gen_value(sb, 1, bad);
		sb_adds(sb, "]");
	} else {
		sb_adds(sb, "{\"a\":{");
		if (rnd(4) != 0) {
			sb_adds(sb, "\"b\":");
			gen_value(sb, 2, bad);
			sb_adds(sb, ",");
		}
		sb_adds(sb, "\"c\":");
		gen_value(sb, 2, bad);
		sb_adds(sb, "},\"d\":");
		gen_value(sb, 1, bad);
		sb_adds(sb, "}");
	}
	gen_ws(sb);
}

START_TEST(test_random_documents)
{
	struct sbuf sb = { NULL, 0, 0 };
	size_t i, equal[2] = { 0, 0 }, rejected = 0;
	char what[96];
	int bad;

	rng_state = seed_for(1);
	for (i = 0; i < 6000; i++) {
		/* one document in four may have a piece jansson rejects */
		bad = i % 4 == 0;
		gen_doc(&sb, bad);
		snprintf(what, sizeof(what), "random document %zu (seed "
		    "JSONREAD_SEED^1)", i);
		equal[0] += contract(sb.p, sb.len, NULL, 1, what) ==
		    BOTH_EQUAL;
		equal[1] += contract(sb.p, sb.len, ab_path, 1, what) ==
		    BOTH_EQUAL;
		rejected += contract(sb.p, sb.len, mf_path, 1, what) ==
		    BOTH_REJECT;
	}
	/* the generator is not degenerate: both kinds of outcome occur */
	ck_assert_uint_ge(equal[0], 3000);
	ck_assert_uint_eq(equal[0], equal[1]);
	ck_assert_uint_ge(rejected, 300);
	free(sb.p);
}
END_TEST

/* Bytes that matter to a JSON parser, for mutations. */
static const char interesting[] = "\"\\{}[]:,0123456789-+.eEtfnu \t\n\r"
    "\x00\x01\x1f\x7f\x80\xbf\xc0\xc1\xc2\xdf\xe0\xed\xef\xf0\xf4\xf5\xff";

/* Mutate buf (len bytes, room for cap) in place: 1 to 4 random edits. */
static size_t
mutate(char *buf, size_t len, size_t cap)
{
	size_t k, n = 1 + rnd(4), at, m;

	for (k = 0; k < n; k++) {
		at = len > 0 ? rnd(len) : 0;
		switch (rnd(7)) {
		case 0:		/* flip a bit */
			if (len > 0)
				buf[at] ^= (char)(1 << rnd(8));
			break;
		case 1:		/* overwrite with a byte that matters */
			if (len > 0)
				buf[at] = interesting[rnd(sizeof(interesting)
				    - 1)];
			break;
		case 2:		/* insert one */
			if (len < cap) {
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = rnd(4) == 0 ? (char)rnd(256) :
				    interesting[rnd(sizeof(interesting) - 1)];
				len++;
			}
			break;
		case 3:		/* delete a few */
			m = 1 + rnd(4);
			if (at + m <= len) {
				memmove(buf + at, buf + at + m, len - at - m);
				len -= m;
			}
			break;
		case 4:		/* repeat a slice elsewhere */
			m = 1 + rnd(24);
			if (at + m <= len && len + m <= cap) {
				size_t to = rnd(len + 1);
				char tmp[24];

				memcpy(tmp, buf + at, m);
				memmove(buf + to + m, buf + to, len - to);
				memcpy(buf + to, tmp, m);
				len += m;
			}
			break;
		case 5:		/* cut the end */
			len = at;
			break;
		default:	/* swap two bytes */
			if (len > 1) {
				char c = buf[at];
				m = rnd(len);
				buf[at] = buf[m];
				buf[m] = c;
			}
			break;
		}
	}
	return len;
}

/* Mutants of one text, each checked with and without skips. */
static void
mutants(const char *text, size_t len, size_t count, const char *name,
    size_t *equal, size_t *rejected)
{
	size_t cap = len + 256, i, n;
	char *buf = malloc(cap), what[128];
	enum outcome o;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < count; i++) {
		memcpy(buf, text, len);
		n = mutate(buf, len, cap);
		snprintf(what, sizeof(what), "mutant %zu of %s", i, name);
		o = contract(buf, n, NULL, 1, what);
		*equal += o == BOTH_EQUAL;
		*rejected += o == BOTH_REJECT;
		contract(buf, n, mf_path, 1, what);
		contract(buf, n, ab_path, 1, what);
	}
	free(buf);
}

START_TEST(test_random_mutations)
{
	static const struct {
		const char *path;
		size_t count;
	} files[] = {
		{ "tests/fixtures/review-replicaset-pod.json", 4000 },
		{ "tests/fixtures/cluster/namespaces.json", 1000 },
		{ "tests/fixtures/cluster/pods.json", 40 },
	};
	struct sbuf sb = { NULL, 0, 0 };
	size_t i, len, equal = 0, rejected = 0;
	char *text;

	rng_state = seed_for(2);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		text = tu_read_file(files[i].path, &len);
		mutants(text, len, files[i].count, files[i].path, &equal,
		    &rejected);
		free(text);
	}
	for (i = 0; i < 1500; i++) {
		gen_doc(&sb, 0);
		mutants(sb.p, sb.len, 2, "a random document", &equal,
		    &rejected);
	}
	/* mutants land on both sides */
	ck_assert_uint_ge(equal, 500);
	ck_assert_uint_ge(rejected, 2000);
	free(sb.p);
}
END_TEST

/* ---- out of memory (jansson's allocator, as in its test_chaos) ---- */

static size_t chaos_n, chaos_fail_at;
static long chaos_live;

static void *
chaos_malloc(size_t size)
{
	void *p;

	if (++chaos_n == chaos_fail_at)
		return NULL;
	if ((p = malloc(size)) != NULL)
		chaos_live++;
	return p;
}

static void
chaos_free(void *p)
{
	if (p != NULL)
		chaos_live--;
	free(p);
}

START_TEST(test_out_of_memory)
{
	const struct jsonread_skip *skip = _i == 0 ? NULL : mf_path;
	json_t *want, *got;
	size_t len, failures = 0;
	char *text;

	text = tu_read_file("tests/fixtures/review-replicaset-pod.json", &len);
	chaos_fail_at = 0;
	json_set_alloc_funcs(chaos_malloc, chaos_free);
	want = jsonread_loadb(text, len, skip);
	ck_assert_ptr_nonnull(want);
	for (chaos_fail_at = 1;; chaos_fail_at++) {
		chaos_n = 0;
		chaos_live = 0;
		got = jsonread_loadb(text, len, skip);
		if (got == NULL) {
			/* every allocation made before the failure is back */
			ck_assert_int_eq(chaos_live, 0);
			failures++;
			continue;
		}
		/* a run that did not reach fail_at: all were tried */
		ck_assert(json_equal(want, got));
		json_decref(got);
		ck_assert_int_eq(chaos_live, 0);
		break;
	}
	ck_assert_uint_ge(failures, 100);
	json_decref(want);
	json_set_alloc_funcs(malloc, free);
	free(text);
}
END_TEST

static Suite *
jsonread_suite(void)
{
	Suite *s = suite_create("jsonread");
	TCase *tc = tcase_create("differential");

	tcase_add_test(tc, test_fixtures);
	tcase_add_test(tc, test_corpora);
	tcase_add_loop_test(tc, test_edges, 0,
	    (int)(sizeof(edges) / sizeof(edges[0])));
	tcase_add_test(tc, test_null_text);
	tcase_add_test(tc, test_skip_level_of_33);
	tcase_add_test(tc, test_decimal_comma_locale);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_skip_many_keys);
	tcase_add_loop_test(tc, test_out_of_memory, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_random_documents);
	tcase_add_test(tc, test_random_mutations);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(jsonread_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
