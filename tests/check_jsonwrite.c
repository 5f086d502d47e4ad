/* check_jsonwrite.c - jsonwrite_dumps against jansson's json_dumps, byte for
 * byte: the fixtures, the golden manifests and fuzz seeds, edge cases,
 * random trees, large output, and every allocation failing in turn. */
#include <check.h>
#include <dirent.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonwrite.h"
#include "lib/testutil.h"
#include "yamljson.h"

/* A second copy of jsonwrite.c whose allocations fail on demand (h2o's way
 * of reaching static code: include the .c file). */
static long chaos_left = -1;	/* allocations until one fails; <0: never */
static long chaos_failed;

static void *
chaos_malloc(size_t n)
{
	if (chaos_left >= 0 && chaos_left-- == 0) {
		chaos_failed++;
		return NULL;
	}
	return malloc(n);
}

static void *
chaos_realloc(void *p, size_t n)
{
	if (chaos_left >= 0 && chaos_left-- == 0) {
		chaos_failed++;
		return NULL;
	}
	return realloc(p, n);
}

static void *
chaos_calloc(size_t k, size_t n)
{
	if (chaos_left >= 0 && chaos_left-- == 0) {
		chaos_failed++;
		return NULL;
	}
	return calloc(k, n);
}

char *jsonwrite_dumps_chaos(const json_t *v, size_t flags, size_t *lenp);
int jsonwrite_append_chaos(struct buf *b, const json_t *v, size_t flags);
int jsonwrite_string_chaos(struct buf *b, const char *s, size_t n);
int jsonwrite_integer_chaos(struct buf *b, json_int_t v);
int jsonwrite_real_chaos(struct buf *b, double d, int precision, char *point);
#define malloc		chaos_malloc
#define realloc		chaos_realloc
#define calloc		chaos_calloc
#define jsonwrite_dumps	jsonwrite_dumps_chaos
#define jsonwrite_append	jsonwrite_append_chaos
#define jsonwrite_string	jsonwrite_string_chaos
#define jsonwrite_integer	jsonwrite_integer_chaos
#define jsonwrite_real	jsonwrite_real_chaos
#include "../webhook/jsonwrite.c"
#undef malloc
#undef realloc
#undef calloc
#undef jsonwrite_dumps
#undef jsonwrite_append
#undef jsonwrite_string
#undef jsonwrite_integer
#undef jsonwrite_real

/* Every combination of the flags jsonwrite takes; the first three are the
 * ones meshinject passes. */
static const size_t flag_sets[] = {
	JSON_COMPACT,
	JSON_COMPACT | JSON_SORT_KEYS,
	JSON_COMPACT | JSON_ENCODE_ANY,
	JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY,
	0,
	JSON_SORT_KEYS,
	JSON_ENCODE_ANY,
	JSON_SORT_KEYS | JSON_ENCODE_ANY,
};
#define N_FLAG_SETS	(sizeof(flag_sets) / sizeof(flag_sets[0]))

/* Compare under one flag set. Returns 1 when both wrote the same text, 0
 * when both returned NULL; fails the test on any difference. */
static int
same_one(const json_t *v, size_t flags, const char *what)
{
	char *want, *got;
	size_t len = (size_t)-1, wlen, i;

	want = json_dumps(v, flags);
	got = jsonwrite_dumps(v, flags, &len);
	if (want == NULL || got == NULL) {
		if (want != got)
			ck_abort_msg("%s, flags %#zx: json_dumps %s, jsonwrite "
			    "%.200s", what, flags, want != NULL ? want :
			    "NULL", got != NULL ? got : "NULL");
		return 0;
	}
	wlen = strlen(want);
	if (len != wlen || strlen(got) != len || memcmp(want, got, len) !=
	    0) {
		for (i = 0; i < len && i < wlen && want[i] == got[i]; i++)
			;
		ck_abort_msg("%s, flags %#zx: lengths %zu (json_dumps) and %zu,"
		    " first difference at byte %zu:\n  json_dumps ...%.80s\n"
		    "  jsonwrite  ...%.80s", what, flags, wlen, len, i,
		    want + (i > 20 ? i - 20 : 0), got + (i > 20 ? i - 20 : 0));
	}
	free(want);
	free(got);
	return 1;
}

/* Compare under every flag set; returns how many printed. */
static int
assert_same(const json_t *v, const char *what)
{
	size_t i;
	int printed = 0;

	for (i = 0; i < N_FLAG_SETS; i++)
		printed += same_one(v, flag_sets[i], what);
	return printed;
}

/* Both must print, under every flag set that allows v's type. */
static void
assert_prints(const json_t *v, const char *what)
{
	int want = json_is_array(v) || json_is_object(v) ? 8 : 4;

	ck_assert_msg(assert_same(v, what) == want, "%s: did not print", what);
}

/* Both must return NULL under every flag set. */
static void
assert_fails_both(const json_t *v, const char *what)
{
	ck_assert_msg(assert_same(v, what) == 0, "%s: printed", what);
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Strings under v that hold JSON themselves (annotations such as
 * meshinject.io/status or kubectl's last-applied-configuration). */
static int
compare_embedded(const json_t *v, const char *what)
{
	const char *key, *s;
	json_t *item, *inner;
	size_t i;
	int found = 0;

	if (json_is_string(v)) {
		s = json_string_value(v);
		if (s[0] != '{' && s[0] != '[')
			return 0;
		inner = json_loadb(s, json_string_length(v), 0, NULL);
		if (inner == NULL)
			return 0;
		assert_prints(inner, what);
		json_decref(inner);
		return 1;
	}
	json_array_foreach(v, i, item)
		found += compare_embedded(item, what);
	json_object_foreach((json_t *)v, key, item)
		found += compare_embedded(item, what);
	return found;
}

enum tree_kind {
	TREE_JSON,		/* NAME.json, which must parse */
	TREE_YAML,		/* YAML streams: the stream and each document */
	TREE_SEEDS		/* fuzz seeds: those that are JSON */
};

/* Every file under dir (recursively) whose name ends with one of the
 * suffixes, read as kind says. Returns the number of files compared. */
static int
compare_tree(const char *dir, const char *const *suffixes,
    enum tree_kind kind)
{
	struct yamljson_error yerr;
	json_error_t jerr;
	struct dirent *de;
	struct stat st;
	char path[4096], *text;
	const char *const *sfx;
	json_t *v, *doc;
	size_t len, i;
	DIR *d;
	int files = 0;

	d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s (run from the top of the "
	    "repository)", dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ck_assert_int_eq(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			files += compare_tree(path, suffixes, kind);
			continue;
		}
		for (sfx = suffixes; *sfx != NULL; sfx++)
			if (has_suffix(de->d_name, *sfx))
				break;
		if (*sfx == NULL)
			continue;
		text = tu_read_file(path, &len);
		if (kind == TREE_YAML) {
			v = yamljson_load(text, len, &yerr);
			ck_assert_msg(v != NULL, "%s:%d:%d: %s", path,
			    yerr.line, yerr.column, yerr.text);
			json_array_foreach(v, i, doc)
				assert_same(doc, path);
		} else {
			v = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
			if (v == NULL && kind == TREE_SEEDS) {
				free(text);
				continue;
			}
			ck_assert_msg(v != NULL, "%s:%d: %s", path, jerr.line,
			    jerr.text);
		}
		assert_same(v, path);
		compare_embedded(v, path);
		json_decref(v);
		free(text);
		files++;
	}
	closedir(d);
	return files;
}

START_TEST(test_fixtures)
{
	static const char *const json[] = { ".json", NULL };
	static const char *const yaml[] = { ".yaml", ".yaml.injected", NULL };
	static const char *const any[] = { "", NULL };

	/* review-replicaset-pod.json, cluster/namespaces.json and pods.json */
	ck_assert_int_ge(compare_tree("tests/fixtures", json, TREE_JSON), 3);
	ck_assert_int_ge(compare_tree("tests/golden", yaml, TREE_YAML), 20);
	ck_assert_int_ge(compare_tree("tests/fuzz/corpus", any, TREE_SEEDS),
	    10);
}
END_TEST

START_TEST(test_control_characters)
{
	char s[8], all[0x21], name[64];
	json_t *a, *o;
	int c;

	for (c = 0; c < 0x80; c++) {
		snprintf(name, sizeof(name), "byte %#x", c);
		s[0] = 'x';
		s[1] = (char)c;
		s[2] = 'y';
		a = json_pack("[s%]", s, (size_t)3);
		ck_assert_ptr_nonnull(a);
		assert_prints(a, name);
		/* alone, first, last, and as a key */
		o = json_object();
		ck_assert_int_eq(json_object_setn_new(o, s + 1, 1,
		    json_stringn(s + 1, 1)), 0);
		ck_assert_int_eq(json_object_setn_new(o, s, 2,
		    json_stringn(s, 2)), 0);
		ck_assert_int_eq(json_object_setn_new(o, s + 1, 2,
		    json_stringn(s + 1, 2)), 0);
		assert_prints(o, name);
		json_decref(o);
		json_decref(a);
		if (c < 0x20)
			all[c] = (char)c;
	}
	all[0x20] = '"';
	a = json_stringn(all, sizeof(all));
	assert_prints(a, "every control character");
	json_decref(a);

	/* the table's corner: upper-case hex, '/' and DEL as they are */
	a = json_pack("[s]", "\x1f/\x7f\\\"\b\f\n\r\t\x01");
	{
		char *got = jsonwrite_dumps(a, JSON_COMPACT, NULL);

		ck_assert_str_eq(got, "[\"\\u001F/\x7f\\\\\\\"\\b\\f\\n\\r"
		    "\\t\\u0001\"]");
		free(got);
	}
	assert_prints(a, "corner");
	json_decref(a);
}
END_TEST

START_TEST(test_embedded_nul)
{
	json_t *o = json_object();
	char *got;
	size_t len;

	ck_assert_int_eq(json_object_set_new(o, "s", json_stringn("a\0b",
	    3)), 0);
	ck_assert_int_eq(json_object_setn_new(o, "k\0ey", 4,
	    json_stringn("\0", 1)), 0);
	ck_assert_int_eq(json_object_setn_new(o, "k", 1, json_stringn("", 0)),
	    0);
	assert_prints(o, "embedded NUL");
	got = jsonwrite_dumps(o, JSON_COMPACT | JSON_SORT_KEYS, &len);
	ck_assert_str_eq(got, "{\"k\":\"\",\"k\\u0000ey\":\"\\u0000\","
	    "\"s\":\"a\\u0000b\"}");
	ck_assert_uint_eq(len, strlen(got));
	free(got);
	json_decref(o);
}
END_TEST

START_TEST(test_utf8)
{
	static const char *const good[] = {
		"\xc2\x80", "\xc3\xa9t\xc3\xa9", "\xdf\xbf", "\xe0\xa0\x80",
		"\xe2\x82\xac", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
		"\xef\xbb\xbf", "\xf0\x90\x80\x80", "\xf0\x9f\x98\x80 smile",
		"\xf4\x8f\xbf\xbf", "a\xf0\x9f\x98\x80\n\xe2\x82\xac\"",
	};
	static const char *const bad[] = {
		"\x80", "\xbf", "a\x80", "\xc0\x80", "\xc1\xbf", "\xc2",
		"\xc2x", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80",
		"\xed\xbf\xbf", "\xe2\x82", "\xe2\x82x", "\xf0\x80\x80\x80",
		"\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
		"\xf8\x88\x80\x80\x80", "\xfe", "\xff", "ok\xf0\x9f\x98",
		"\t\xff", "\xe2\x82\xac\xe2",
	};
	json_t *a, *o;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		a = json_pack("[s,{s:s}]", good[i], good[i], "v");
		ck_assert_ptr_nonnull(a);
		assert_prints(a, good[i]);
		json_decref(a);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* a bad value fails the whole text, in an array or object */
		a = json_array();
		ck_assert_int_eq(json_array_append_new(a,
		    json_string_nocheck(bad[i])), 0);
		assert_fails_both(a, bad[i]);
		o = json_object();
		ck_assert_int_eq(json_object_set_new(o, "k",
		    json_string_nocheck(bad[i])), 0);
		ck_assert_int_eq(json_object_set_new(o, "a", json_true()), 0);
		assert_fails_both(o, bad[i]);
		json_decref(o);
		json_decref(a);
		/* a bad key does not: jansson ignores the key's failure and
		 * leaves it cut and unquoted */
		o = json_object();
		ck_assert_int_eq(json_object_set_new_nocheck(o, bad[i],
		    json_integer(1)), 0);
		ck_assert_int_eq(json_object_set_new(o, "b", json_pack("[s]",
		    "\t")), 0);
		ck_assert_int_eq(json_object_set_new(o, "a", json_integer(2)),
		    0);
		assert_prints(o, bad[i]);
		json_decref(o);
	}
}
END_TEST

START_TEST(test_bad_key_cut)
{
	json_t *o = json_object();
	char *got;

	ck_assert_int_eq(json_object_set_new_nocheck(o, "a\tb\"c\xff" "d",
	    json_integer(1)), 0);
	ck_assert_int_eq(json_object_set_new(o, "z", json_string("x")), 0);
	got = jsonwrite_dumps(o, JSON_COMPACT, NULL);
	ck_assert_str_eq(got, "{\"a\\tb\\\":1,\"z\":\"x\"}");
	free(got);
	assert_prints(o, "cut key");
	json_decref(o);
}
END_TEST

/* jsonwrite_string tests strings under 32 bytes by two overlapping loads
 * and longer ones by blocks of sixteen while 32 are left: one odd piece at
 * every offset of strings of 1 to 72 bytes, so that it falls in each half
 * of a short string, at each place of a block, across two, and in the
 * byte-wise tail; pieces packed densely (an embedded JSON text); as a
 * value and as a key, where bad UTF-8 cuts the key after the last escape
 * before it; quotes and backslashes mixed at random with plain bytes in
 * strings of up to 390 bytes, as values and as keys cut by a bad byte at
 * their end. */
START_TEST(test_string_blocks)
{
	static const char *const odd[] = {
		"\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xc3\xa9",
		"\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xe2\x82", "\"\"",
		"\\\"", "\x01\"",
	};
	char s[128], big[400], what[96];
	size_t len, at, k, n, i;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	json_t *a, *o;

	for (len = 1; len <= 72; len++)
		for (at = 0; at < len; at++)
			for (k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
				memset(s, 'a', len);
				n = strlen(odd[k]);
				if (at + n > len)
					continue;
				memcpy(s + at, odd[k], n);
				/* an escape before, so that a bad byte
				 * cuts after it */
				if (at > 3)
					s[1] = '"';
				snprintf(what, sizeof(what), "piece %zu at %zu "
				    "of %zu", k, at, len);
				a = json_array();
				json_array_append_new(a,
				    json_stringn_nocheck(s, len));
				o = json_object();
				json_object_setn_new_nocheck(o, s, len,
				    json_integer(1));
				json_array_append(a, o);
				assert_same(a, what);
				assert_same(o, what);
				json_decref(o);
				json_decref(a);
			}
	/* dense: every byte, or every other, needs an escape */
	for (len = 1; len <= 100; len++) {
		for (i = 0; i < len; i++)
			s[i] = "\"\x05\\\n"[i % 4];
		a = json_stringn(s, len);
		snprintf(what, sizeof(what), "dense %zu", len);
		assert_prints(a, what);
		json_decref(a);
		for (i = 0; i < len; i++)
			s[i] = i % 2 ? '"' : 'k';
		a = json_stringn(s, len);
		assert_prints(a, what);
		json_decref(a);
	}
	for (len = 16; len <= 390; len += 3) {
		for (i = 0; i < len; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			big[i] = "\"\\ab"[x >> 62];
		}
		snprintf(what, sizeof(what), "quotes and backslashes, %zu",
		    len);
		a = json_array();
		json_array_append_new(a, json_stringn_nocheck(big, len));
		/* and a key that bad UTF-8 at its end cuts */
		big[len - 1] = '\xff';
		o = json_object();
		json_object_setn_new_nocheck(o, big, len, json_integer(1));
		json_array_append(a, o);
		assert_same(a, what);
		assert_same(o, what);
		json_decref(o);
		json_decref(a);
	}
}
END_TEST

START_TEST(test_reals)
{
	static const double reals[] = {
		0.1, 1e300, -0.0, 0.0, 1.0, -1.0, 123456789012345678.0,
		1e16, 1e17, 9007199254740993.0, 1e-4, 1e-5, 0.001, 1.5,
		100.0, 1e21, 1e22, 1e-7, 1e-10, 1e-100, 1e100, 1.0 / 3,
		2.0 / 3, 5e-324, DBL_MIN, -DBL_MIN, DBL_MAX, -DBL_MAX,
		DBL_EPSILON, 3.14159, -2.5e-8, 12345.678, 1e15 + 0.3,
		0.30000000000000004, 4294967296.0, -9.999999999999999e22,
	};
	static const struct {
		double d;
		const char *text;
	} known[] = {
		{ 0.1, "0.10000000000000001" }, { -0.0, "-0.0" },
		{ 1.0, "1.0" }, { 1e300, "1.0000000000000001e300" },
		{ 123456789012345678.0, "1.2345678901234568e17" },
		{ 1e16, "10000000000000000.0" }, { 1e17, "1e17" },
		{ 1e-5, "1.0000000000000001e-5" }, { 1e-10, "1e-10" },
		{ 5e-324, "4.9406564584124654e-324" },
	};
	json_t *r;
	char *got;
	size_t i, p;

	for (i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
		r = json_pack("[f,{s:f}]", reals[i], "r", reals[i]);
		ck_assert_ptr_nonnull(r);
		assert_prints(r, "real");
		json_decref(r);
		r = json_real(reals[i]);
		assert_prints(r, "real");
		/* JSON_REAL_PRECISION, as the log lines use it */
		for (p = 1; p < 32; p += 5)
			ck_assert_int_eq(same_one(r, JSON_ENCODE_ANY |
			    JSON_COMPACT | JSON_REAL_PRECISION(p),
			    "real at a precision"), 1);
		json_decref(r);
	}
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		r = json_real(known[i].d);
		got = jsonwrite_dumps(r, JSON_ENCODE_ANY, NULL);
		ck_assert_str_eq(got, known[i].text);
		free(got);
		json_decref(r);
	}
	/* jansson cannot hold them, so json_dumps never sees them */
	ck_assert_ptr_null(json_real(NAN));
	ck_assert_ptr_null(json_real(INFINITY));
}
END_TEST

/* A comma decimal point (glibc's de_DE when it is installed): jansson puts
 * '.' back, and so must jsonwrite. */
START_TEST(test_reals_locale)
{
	static const char *const locales[] = {
		"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8",
	};
	char *old, *got;
	json_t *a;
	size_t i;

	old = strdup(setlocale(LC_NUMERIC, NULL));
	ck_assert_ptr_nonnull(old);
	for (i = 0; i < sizeof(locales) / sizeof(locales[0]); i++)
		if (setlocale(LC_NUMERIC, locales[i]) != NULL)
			break;
	if (i == sizeof(locales) / sizeof(locales[0])) {
		fprintf(stderr, "check_jsonwrite: no comma locale installed, "
		    "test_reals_locale compares in the C locale only\n");
	}
	a = json_pack("[f,f,f,f,f]", 0.5, 1.0, -2.25e-7, 1e300, 7.0e20);
	assert_prints(a, "locale");
	got = jsonwrite_dumps(a, JSON_COMPACT, NULL);
	ck_assert_str_eq(got, "[0.5,1.0,-2.2499999999999999e-7,"
	    "1.0000000000000001e300,7e20]");
	free(got);
	json_decref(a);
	setlocale(LC_NUMERIC, old);
	free(old);
}
END_TEST

START_TEST(test_integers)
{
	static const json_int_t ints[] = {
		INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, 0, 1, -1,
		9, 10, -9, -10, 99, 100, 4294967295LL, 4294967296LL,
		-2147483648LL, 1000000000000000000LL, 999999999999999999LL,
	};
	json_t *a = json_array();
	char *got;
	size_t i;

	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		json_t *n = json_integer(ints[i]);

		assert_prints(n, "integer");
		ck_assert_int_eq(json_array_append_new(a, n), 0);
	}
	assert_prints(a, "integers");
	json_decref(a);
	a = json_pack("[I,I]", (json_int_t)INT64_MIN, (json_int_t)INT64_MAX);
	got = jsonwrite_dumps(a, JSON_COMPACT, NULL);
	ck_assert_str_eq(got, "[-9223372036854775808,9223372036854775807]");
	free(got);
	json_decref(a);
}
END_TEST

START_TEST(test_scalars_and_empties)
{
	static const char *const texts[] = {
		"[]", "{}", "[[]]", "[{}]", "{\"a\":{}}", "{\"a\":[]}",
		"[[],{},[[]],{\"\":{}}]", "null", "true", "false", "\"\"",
		"\"x\"", "0", "-0", "[null,true,false]", "{\"\":\"\"}",
	};
	json_t *v;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		v = json_loads(texts[i], JSON_DECODE_ANY, NULL);
		ck_assert_ptr_nonnull(v);
		assert_prints(v, texts[i]);
		json_decref(v);
	}
	/* NULL, and scalars without JSON_ENCODE_ANY */
	assert_fails_both(NULL, "NULL");
	v = json_string("s");
	ck_assert_ptr_null(jsonwrite_dumps(v, JSON_COMPACT, NULL));
	ck_assert_ptr_null(jsonwrite_dumps(v, 0, NULL));
	json_decref(v);
}
END_TEST

START_TEST(test_flags_refused)
{
	static const size_t bad[] = {
		JSON_INDENT(1), JSON_INDENT(4) | JSON_COMPACT,
		JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH, JSON_EMBED, JSON_COMPACT | 0x400000,
	};
	json_t *v = json_pack("{s:[i]}", "a", 1);
	size_t i, len = 42;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_ptr_null(jsonwrite_dumps(v, bad[i], &len));
		ck_assert_uint_eq(len, 42);
	}
	json_decref(v);
}
END_TEST

START_TEST(test_sorted_keys)
{
	static const char *const keys[] = {
		"a", "ab", "abc", "", "b", "B", "Z", "_", "aa", "a b", "a-b",
		"\xc3\xa9", "\x7f", "~", "abd", "ab\xc3\xa9", "0", "10", "9",
	};
	json_t *o = json_object(), *big = json_object();
	char *got, key[32];
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_int_eq(json_object_set_new(o, keys[i],
		    json_integer((json_int_t)i)), 0);
	/* keys that differ after a NUL, or only by length */
	ck_assert_int_eq(json_object_setn_new(o, "a\0", 2, json_true()), 0);
	ck_assert_int_eq(json_object_setn_new(o, "a\0b", 3, json_true()), 0);
	ck_assert_int_eq(json_object_setn_new(o, "\0", 1, json_true()), 0);
	assert_prints(o, "sorted keys");
	got = jsonwrite_dumps(o, JSON_COMPACT | JSON_SORT_KEYS, NULL);
	ck_assert_str_eq(got, "{\"\":3,\"\\u0000\":true,\"0\":16,\"10\":17,"
	    "\"9\":18,\"B\":5,\"Z\":6,\"_\":7,\"a\":0,\"a\\u0000\":true,"
	    "\"a\\u0000b\":true,\"a b\":9,\"a-b\":10,\"aa\":8,\"ab\":1,"
	    "\"abc\":2,\"abd\":14,\"ab\xc3\xa9\":15,\"b\":4,\"~\":13,"
	    "\"\x7f\":12,\"\xc3\xa9\":11}");
	free(got);
	/* few keys (insertion sort), many (qsort), more than fit inline */
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%zu", (i * 7919) % 1000);
		ck_assert_int_eq(json_object_set_new(big, key,
		    json_integer((json_int_t)i)), 0);
		if (i == 2 || i == 11 || i == 12 || i == 13 || i == 70 ||
		    i == 299) {
			json_t *wrap = json_pack("[O,{sO}]", big, "in", big);

			assert_prints(wrap, "sorted big");
			json_decref(wrap);
		}
	}
	json_decref(big);
	json_decref(o);
}
END_TEST

/* A chain of depth arrays/objects with a string at the bottom; levels[i]
 * is the container at depth i (borrowed). */
static json_t *
chain_new(size_t depth, int objects, json_t **levels)
{
	json_t *root = NULL, *cur = NULL, *next;
	size_t i;

	for (i = 0; i < depth; i++) {
		next = (objects && i % 2 == 1) ? json_object() : json_array();
		ck_assert_ptr_nonnull(next);
		if (cur == NULL)
			root = next;
		else if (json_is_array(cur))
			ck_assert_int_eq(json_array_append_new(cur, next), 0);
		else
			ck_assert_int_eq(json_object_set_new(cur, i % 3 ? "k" :
			    "\"q\"", next), 0);
		if (levels != NULL)
			levels[i] = next;
		cur = next;
	}
	if (json_is_array(cur))
		json_array_append_new(cur, json_string("bottom"));
	else
		json_object_set_new(cur, "b", json_string("bottom"));
	return root;
}

/* json_decref recurses: a very deep tree is taken apart from the bottom. */
static void
chain_free(json_t *root, json_t **levels, size_t depth)
{
	size_t i;

	for (i = depth; i-- > 1;) {
		if (json_is_array(levels[i - 1]))
			json_array_clear(levels[i - 1]);
		else
			json_object_clear(levels[i - 1]);
	}
	json_decref(root);
}

START_TEST(test_deep_nesting)
{
	static const size_t depths[] = { 31, 32, 33, 34, 64, 100, 2048, 2049,
	    5000 };
	json_t *root, **levels;
	char *got, *want;
	size_t i, d, len;

	/* as deep as json_dumps itself survives on an 8 MiB stack */
	for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
		root = chain_new(depths[i], 0, NULL);
		assert_prints(root, "deep arrays");
		json_decref(root);
		root = chain_new(depths[i], 1, NULL);
		assert_prints(root, "deep mixed");
		json_decref(root);
	}
	/* deeper than json_dumps can go (it overflows its stack between
	 * 20000 and 30000): jsonwrite has no recursion to overflow */
	d = 300000;
	levels = malloc(d * sizeof(*levels));
	ck_assert_ptr_nonnull(levels);
	root = chain_new(d, 0, levels);
	got = jsonwrite_dumps(root, JSON_COMPACT, &len);
	ck_assert_ptr_nonnull(got);
	want = malloc(2 * d + 9);
	ck_assert_ptr_nonnull(want);
	memset(want, '[', d);
	memcpy(want + d, "\"bottom\"", 8);
	memset(want + d + 8, ']', d);
	want[2 * d + 8] = '\0';
	ck_assert_uint_eq(len, 2 * d + 8);
	ck_assert(strcmp(got, want) == 0);
	free(got);
	free(want);
	chain_free(root, levels, d);
	free(levels);
}
END_TEST

/* A container inside itself fails in both, however deep the loop closes;
 * the same container twice side by side is no loop. */
START_TEST(test_cycles)
{
	static const size_t depths[] = { 2, 3, 31, 32, 33, 40, 100, 300 };
	json_t *root, *levels[300], *back;
	size_t i, j, d;

	for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
		d = depths[i];
		/* (jansson refuses to put a container straight into itself) */
		for (j = 0; j < d - 1; j += (j < 40 ? 1 : 37)) {
			root = chain_new(d, 1, levels);
			back = levels[j];
			if (json_is_array(levels[d - 1]))
				json_array_append(levels[d - 1], back);
			else
				json_object_set(levels[d - 1], "loop", back);
			assert_fails_both(root, "cycle");
			/* break it again, or the references leak */
			if (json_is_array(levels[d - 1]))
				json_array_remove(levels[d - 1], 1);
			else
				json_object_del(levels[d - 1], "loop");
			assert_prints(root, "cycle broken");
			json_decref(root);
		}
	}
	/* shared, not cyclic: every level holds the same leaf twice, and the
	 * levels deeper than PATH_SCAN hold an ancestor's sibling */
	root = chain_new(100, 1, levels);
	back = json_pack("{s:[i,i]}", "shared", 1, 2);
	for (j = 0; j < 100; j++) {
		if (json_is_array(levels[j])) {
			json_array_append(levels[j], back);
			json_array_append(levels[j], back);
		} else {
			json_object_set(levels[j], "x", back);
			json_object_set(levels[j], "y", back);
		}
	}
	assert_prints(root, "shared");
	json_decref(back);
	json_decref(root);
}
END_TEST

/* The ancestors' hash set on its own: removals in any order (the writer
 * only ever removes the newest, but a rehash reorders the slots) keep every
 * other entry findable. */
START_TEST(test_ptrset)
{
	static char objs[3000];
	struct ptrset set = { NULL, 0, 0 };
	unsigned char in[3000];
	size_t i, k, round;
	uint64_t r = 88172645463325252ULL;

	memset(in, 0, sizeof(in));
	for (round = 0; round < 20000; round++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		k = (size_t)(r % 3000);
		if (in[k]) {
			ptrset_del(&set, &objs[k]);
			in[k] = 0;
		} else {
			ck_assert_int_eq(ptrset_add(&set, &objs[k]), 0);
			in[k] = 1;
		}
		if (round % 997 == 0 || round > 19900)
			for (i = 0; i < 3000; i++)
				ck_assert_int_eq(ptrset_has(&set, &objs[i]),
				    in[i]);
	}
	free(set.slots);
}
END_TEST

/* ---- random trees ------------------------------------------------------- */

static uint64_t rng_state;
static long tree_budget;	/* nodes left for the tree being built */

static uint64_t
rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

static size_t
rng_below(size_t n)
{
	return (size_t)(rng_next() % n);
}

/* Pieces strings are made of: plain text, every kind of escape, UTF-8 of
 * every length, NUL; bad UTF-8 only when `bad` allows. */
static const char *const pieces[] = {
	"a", "metadata", "kube-system", "/", "\"", "\\", "\b", "\f", "\n",
	"\r", "\t", "\x01", "\x1f", "\x7f", " ", "~", "\xc3\xa9",
	"\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xef\xbf\xbf",
	"\0", "0", "{", "}", "[", "]", ":", ",",
};
static const char *const bad_pieces[] = {
	"\x80", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff",
	"\xe2\x82",
};

static size_t
random_text(char *buf, size_t cap, int bad)
{
	size_t n = 0, k, len, count = rng_below(8) == 0 ? rng_below(200) :
	    rng_below(12);
	const char *p;

	for (k = 0; k < count; k++) {
		if (bad && rng_below(40) == 0)
			p = bad_pieces[rng_below(sizeof(bad_pieces) /
			    sizeof(bad_pieces[0]))];
		else
			p = pieces[rng_below(sizeof(pieces) /
			    sizeof(pieces[0]))];
		len = p[0] == '\0' ? 1 : strlen(p);
		if (n + len > cap)
			break;
		memcpy(buf + n, p, len);
		n += len;
	}
	return n;
}

static double
random_real(void)
{
	uint64_t bits;
	double d;

	switch (rng_below(4)) {
	case 0:
		do {
			bits = rng_next();
			memcpy(&d, &bits, sizeof(d));
		} while (!isfinite(d));
		return d;
	case 1:
		return (double)(int64_t)rng_next() / (double)(1 +
		    rng_below(1000000));
	case 2:
		return ldexp((double)rng_below(1000), (int)rng_below(200) -
		    100);
	default:
		return (double)((int64_t)rng_below(2000) - 1000);
	}
}

static json_int_t
random_integer(void)
{
	switch (rng_below(4)) {
	case 0:
		return (json_int_t)rng_next();
	case 1:
		return (json_int_t)rng_below(100) - 50;
	case 2:
		return rng_below(2) ? INT64_MIN : INT64_MAX;
	default:
		return (json_int_t)(rng_next() >> rng_below(64));
	}
}

/* A random tree; shared holds earlier subtrees to reuse (a DAG). */
static json_t *
random_tree(int depth, int bad, json_t **shared, size_t *n_shared)
{
	char buf[1024];
	size_t n, i, len;
	json_t *v, *item;

	tree_budget--;
	switch (depth <= 0 || tree_budget <= 0 ? rng_below(7) :
	    rng_below(10)) {
	case 0:
		return json_null();
	case 1:
		return rng_below(2) ? json_true() : json_false();
	case 2:
		return json_integer(random_integer());
	case 3:
		return json_real(random_real());
	case 4:
	case 5:
		len = random_text(buf, sizeof(buf), bad);
		return bad ? json_stringn_nocheck(buf, len) :
		    json_stringn(buf, len);
	case 6:
		if (*n_shared > 0 && rng_below(2))
			return json_incref(shared[rng_below(*n_shared)]);
		return json_string("leaf");
	case 7:
	case 8:
		v = json_object();
		n = rng_below(4) == 0 ? rng_below(80) : rng_below(6);
		for (i = 0; i < n; i++) {
			item = random_tree(depth - 1, bad, shared, n_shared);
			ck_assert_ptr_nonnull(item);
			if (rng_below(3) == 0) {
				len = (size_t)snprintf(buf, sizeof(buf), "%s%zu",
				    rng_below(2) ? "key" : "k", rng_below(30));
			} else {
				len = random_text(buf, 64, bad);
			}
			if (bad)
				json_object_setn_new_nocheck(v, buf, len, item);
			else
				json_object_setn_new(v, buf, len, item);
		}
		break;
	default:
		v = json_array();
		n = rng_below(4) == 0 ? rng_below(60) : rng_below(6);
		for (i = 0; i < n; i++) {
			item = random_tree(depth - 1, bad, shared, n_shared);
			ck_assert_ptr_nonnull(item);
			json_array_append_new(v, item);
		}
		break;
	}
	if (*n_shared < 64 && rng_below(4) == 0)
		shared[(*n_shared)++] = json_incref(v);
	return v;
}

START_TEST(test_random_trees)
{
	json_t *shared[64], *v;
	size_t n_shared, i, k;
	int printed = 0, trees = 0, bad;
	const char *seed = getenv("CHECK_JSONWRITE_SEED");
	char what[64];

	rng_state = seed != NULL ? strtoull(seed, NULL, 0) : 0x6a736f6e77ULL;
	if (rng_state == 0)
		rng_state = 1;
	for (i = 0; i < 6000; i++) {
		n_shared = 0;
		bad = i % 3 == 2;
		tree_budget = rng_below(4) == 0 ? 3000 : 200;
		v = random_tree((int)rng_below(8), bad, shared, &n_shared);
		ck_assert_ptr_nonnull(v);
		if (i % 5 == 4) {
			/* below PATH_SCAN open containers, where ancestors
			 * are looked up in the hash set */
			json_t *levels[64], *root;

			k = 28 + rng_below(30);
			root = chain_new(k, 1, levels);
			if (json_is_array(levels[k - 1]))
				json_array_append_new(levels[k - 1], v);
			else
				json_object_set_new(levels[k - 1], "t", v);
			v = root;
		}
		snprintf(what, sizeof(what), "random tree %zu", i);
		printed += assert_same(v, what);
		trees++;
		json_decref(v);
		for (k = 0; k < n_shared; k++)
			json_decref(shared[k]);
	}
	/* not vacuous: most trees print under most flag sets */
	ck_assert_int_gt(printed, trees * 4);
}
END_TEST

/* Several MB out: many doublings of the buffer, long runs and escapes. */
START_TEST(test_large_output)
{
	json_t *a = json_array(), *o = json_object();
	char *big, key[32];
	size_t i, n = 6 << 20, len;

	big = malloc(n);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < n; i++)
		big[i] = i % 997 == 0 ? '\n' : i % 4999 == 0 ? '\x01' :
		    (char)('a' + i % 26);
	ck_assert_int_eq(json_array_append_new(a, json_stringn(big, n)), 0);
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "key-%zu\t\"", i * 7);
		ck_assert_int_eq(json_object_set_new(o, key,
		    json_pack("[s,i,f]", "value \xe2\x82\xac/", (json_int_t)i,
		    (double)i / 8)), 0);
	}
	ck_assert_int_eq(json_array_append_new(a, o), 0);
	ck_assert_int_eq(same_one(a, JSON_COMPACT, "large"), 1);
	ck_assert_int_eq(same_one(a, JSON_COMPACT | JSON_SORT_KEYS, "large"),
	    1);
	ck_assert_int_eq(same_one(a, 0, "large"), 1);
	free(jsonwrite_dumps(a, JSON_COMPACT, &len));
	ck_assert_uint_gt(len, 10 << 20);
	free(big);
	json_decref(a);
}
END_TEST

/* Each allocation jsonwrite makes fails in turn: NULL and nothing leaked
 * (LeakSanitizer under SANITIZER=address), until the text comes out equal
 * to json_dumps's. The tree needs every allocation there is: the output,
 * the frame stack, the sorted-key stack and the deep ancestors' set. */
START_TEST(test_out_of_memory)
{
	json_t *root, *levels[80], *many = json_object();
	char *got, *want, key[32];
	size_t fi, len, i;
	long n;
	int done;

	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "m%03zu", 99 - i);
		json_object_set_new(many, key, json_pack("{s:s}", "v",
		    "x\ny"));
	}
	root = chain_new(80, 1, levels);
	json_object_set(levels[79], "many", many);
	json_array_append(levels[40], many);
	/* The output grows in buf.c: through chaos_realloc too. */
	buf_set_realloc(chaos_realloc);
	for (fi = 0; fi < 3; fi++) {
		want = json_dumps(root, flag_sets[fi]);
		ck_assert_ptr_nonnull(want);
		done = 0;
		for (n = 0; n < 1000 && !done; n++) {
			chaos_left = n;
			chaos_failed = 0;
			got = jsonwrite_dumps_chaos(root, flag_sets[fi], &len);
			chaos_left = -1;
			if (chaos_failed == 0) {
				ck_assert_ptr_nonnull(got);
				ck_assert_str_eq(got, want);
				done = 1;
			} else {
				ck_assert_ptr_null(got);
			}
			free(got);
		}
		ck_assert_msg(done, "still failing after %ld allocations", n);
		ck_assert_int_gt(n, 5);
		free(want);
	}
	buf_set_realloc(NULL);
	json_decref(many);
	json_decref(root);
}
END_TEST

static Suite *
jsonwrite_suite(void)
{
	Suite *s = suite_create("jsonwrite");
	TCase *tc = tcase_create("differential");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fixtures);
	tcase_add_test(tc, test_control_characters);
	tcase_add_test(tc, test_embedded_nul);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_bad_key_cut);
	tcase_add_test(tc, test_string_blocks);
	tcase_add_test(tc, test_reals);
	tcase_add_test(tc, test_reals_locale);
	tcase_add_test(tc, test_integers);
	tcase_add_test(tc, test_scalars_and_empties);
	tcase_add_test(tc, test_flags_refused);
	tcase_add_test(tc, test_sorted_keys);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_cycles);
	tcase_add_test(tc, test_ptrset);
	tcase_add_test(tc, test_random_trees);
	tcase_add_test(tc, test_large_output);
	tcase_add_test(tc, test_out_of_memory);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(jsonwrite_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
