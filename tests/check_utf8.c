/* check_utf8.c - Check suite for the UTF-8 validator (utf8.c): a table of
 * sequences written out by hand, each accepted or refused as jansson's
 * utf8_check_first and utf8_check_full decide, with what utf8_clean makes
 * of it. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static const struct {
	const char *s;
	size_t n;		/* bytes of s */
	bool valid;		/* utf8_valid(s, n) */
	size_t first;		/* utf8_seq_len(s, n) */
	const char *clean;	/* utf8_clean(s); NULL: s holds a NUL */
} cases[] = {
	/* Accepted: ASCII, and the first and last code point of each
	 * length and of each range around the surrogates. */
	{ "a", 1, true, 1, "a" },
	{ "\x7F", 1, true, 1, "\x7F" },
	{ "\x00", 1, true, 1, NULL },				/* U+0000 */
	{ "\xC2\x80", 2, true, 2, "\xC2\x80" },			/* U+0080 */
	{ "\xC3\xA9", 2, true, 2, "\xC3\xA9" },			/* é */
	{ "\xDF\xBF", 2, true, 2, "\xDF\xBF" },			/* U+07FF */
	{ "\xE0\xA0\x80", 3, true, 3, "\xE0\xA0\x80" },		/* U+0800 */
	{ "\xE2\x82\xAC", 3, true, 3, "\xE2\x82\xAC" },		/* € */
	{ "\xED\x9F\xBF", 3, true, 3, "\xED\x9F\xBF" },		/* U+D7FF */
	{ "\xEE\x80\x80", 3, true, 3, "\xEE\x80\x80" },		/* U+E000 */
	{ "\xEF\xBB\xBF", 3, true, 3, "\xEF\xBB\xBF" },		/* BOM */
	{ "\xEF\xBF\xBF", 3, true, 3, "\xEF\xBF\xBF" },		/* U+FFFF */
	{ "\xF0\x90\x80\x80", 4, true, 4, "\xF0\x90\x80\x80" },	/* U+10000 */
	{ "\xF0\x9F\x98\x80", 4, true, 4, "\xF0\x9F\x98\x80" },	/* 😀 */
	{ "\xF4\x8F\xBF\xBF", 4, true, 4, "\xF4\x8F\xBF\xBF" },	/* U+10FFFF */
	{ "a\xC3\xA9z", 4, true, 1, "a\xC3\xA9z" },
	/* Refused: continuation bytes as leads. */
	{ "\x80", 1, false, 0, "?" },
	{ "\xBF", 1, false, 0, "?" },
	{ "\x80\x80", 2, false, 0, "??" },
	/* Overlong forms: 2, 3 and 4 bytes for what fits in fewer. */
	{ "\xC0\x80", 2, false, 0, "??" },
	{ "\xC0\xAF", 2, false, 0, "??" },
	{ "\xC1\xBF", 2, false, 0, "??" },
	{ "\xE0\x80\x80", 3, false, 0, "???" },
	{ "\xE0\x9F\xBF", 3, false, 0, "???" },
	{ "\xF0\x80\x80\x80", 4, false, 0, "????" },
	{ "\xF0\x8F\xBF\xBF", 4, false, 0, "????" },
	/* Surrogates, high and low. */
	{ "\xED\xA0\x80", 3, false, 0, "???" },			/* U+D800 */
	{ "\xED\xAF\xBF", 3, false, 0, "???" },			/* U+DBFF */
	{ "\xED\xB0\x80", 3, false, 0, "???" },			/* U+DC00 */
	{ "\xED\xBF\xBF", 3, false, 0, "???" },			/* U+DFFF */
	{ "\xED\xA0\xBD\xED\xB8\x80", 6, false, 0, "??????" },	/* CESU-8 */
	/* Past U+10FFFF, and leads no sequence may have. */
	{ "\xF4\x90\x80\x80", 4, false, 0, "????" },		/* U+110000 */
	{ "\xF5\x80\x80\x80", 4, false, 0, "????" },
	{ "\xF7\xBF\xBF\xBF", 4, false, 0, "????" },
	{ "\xF8\x88\x80\x80\x80", 5, false, 0, "?????" },
	{ "\xFC\x84\x80\x80\x80\x80", 6, false, 0, "??????" },
	{ "\xFE", 1, false, 0, "?" },
	{ "\xFF", 1, false, 0, "?" },
	/* Cut short. */
	{ "\xC3", 1, false, 0, "?" },
	{ "\xE2\x82", 2, false, 0, "??" },
	{ "\xF0\x9F\x98", 3, false, 0, "???" },
	{ "a\xE2\x82", 3, false, 1, "a??" },
	/* A byte that is not a continuation where one must be. */
	{ "\xC3\x28", 2, false, 0, "?(" },
	{ "\xE2\x28\xA1", 3, false, 0, "?(?" },
	{ "\xE2\x82\x28", 3, false, 0, "?\?(" },
	{ "\xF0\x28\x8C\xBC", 4, false, 0, "?(??" },
	{ "\xF0\x90\x28\xBC", 4, false, 0, "?\?(?" },
	{ "\xF0\x90\x8C\x28", 4, false, 0, "??\?(" },
	{ "\xC3\xA9\x80", 3, false, 2, "\xC3\xA9?" },
	{ "\xE2\x82\xACz\xC3", 5, false, 3, "\xE2\x82\xACz?" },
};

START_TEST(test_table)
{
	const char *s = cases[_i].s;
	char copy[16];

	ck_assert_msg(utf8_valid(s, cases[_i].n) == cases[_i].valid,
	    "case %d: utf8_valid %d, want %d", _i, utf8_valid(s,
	    cases[_i].n), cases[_i].valid);
	ck_assert_msg(utf8_seq_len((const unsigned char *)s, cases[_i].n) ==
	    cases[_i].first, "case %d: utf8_seq_len %zu, want %zu", _i,
	    utf8_seq_len((const unsigned char *)s, cases[_i].n),
	    cases[_i].first);
	if (cases[_i].clean == NULL)
		return;
	ck_assert_uint_lt(cases[_i].n, sizeof(copy));
	memcpy(copy, s, cases[_i].n + 1);
	utf8_clean(copy);
	ck_assert_msg(strcmp(copy, cases[_i].clean) == 0,
	    "case %d: utf8_clean gave \"%s\"", _i, copy);
	/* What utf8_clean leaves is valid. */
	ck_assert(utf8_valid(copy, strlen(copy)));
}
END_TEST

/* avail counts: a whole sequence beyond it is refused. */
START_TEST(test_avail)
{
	const unsigned char *euro = (const unsigned char *)"\xE2\x82\xAC";
	const unsigned char *smile = (const unsigned char *)"\xF0\x9F\x98\x80";

	ck_assert_uint_eq(utf8_seq_len(euro, 3), 3);
	ck_assert_uint_eq(utf8_seq_len(euro, 2), 0);
	ck_assert_uint_eq(utf8_seq_len(euro, 1), 0);
	ck_assert_uint_eq(utf8_seq_len(smile, 4), 4);
	ck_assert_uint_eq(utf8_seq_len(smile, 3), 0);
	ck_assert(!utf8_valid("\xE2\x82\xAC", 2));
	ck_assert(utf8_valid("\xE2\x82\xAC", 0));
	ck_assert(utf8_valid("", 0));
	ck_assert(utf8_valid("a\0b", 3));
}
END_TEST

/* With SIZE_MAX (a NUL-terminated string) nothing is read past the first
 * byte that does not fit: each sequence ends its malloc'd block, so that
 * AddressSanitizer (check-asan) would see a read beyond. */
START_TEST(test_no_overread)
{
	static const char *const cut[] = { "\xC3", "\xE2\x82", "\xF0\x9F\x98",
	    "\xF0\x28", "\xE2\x28" };
	size_t i, n;
	char *p;

	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		n = strlen(cut[i]) + 1;
		p = malloc(n);
		ck_assert_ptr_nonnull(p);
		memcpy(p, cut[i], n);
		ck_assert_uint_eq(utf8_seq_len((unsigned char *)p, SIZE_MAX), 0);
		free(p);
	}
}
END_TEST

static Suite *
utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_table, 0,
	    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_avail);
	tcase_add_test(tc, test_no_overread);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(utf8_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
