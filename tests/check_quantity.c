/* check_quantity.c - Check suite for Kubernetes resource quantities
 * (quantity.c): one table of strings, whether each is a quantity and, when
 * it is, its value written out by hand. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "config.h"

static const struct {
	const char *s;
	bool valid;
	long double value;	/* when valid */
} cases[] = {
	{ "0", true, 0.0L },
	{ "1", true, 1.0L },
	{ "+2", true, 2.0L },
	{ "0.5", true, 0.5L },
	{ ".5", true, 0.5L },
	{ "5.", true, 5.0L },
	{ "100m", true, 0.1L },
	{ "250u", true, 0.00025L },
	{ "3n", true, 0.000000003L },
	{ "2k", true, 2000.0L },
	{ "128Mi", true, 134217728.0L },
	{ "1Ki", true, 1024.0L },
	{ "1.5Gi", true, 1610612736.0L },
	{ "2Ti", true, 2199023255552.0L },
	{ "1Pi", true, 1125899906842624.0L },
	{ "1Ei", true, 1152921504606846976.0L },
	{ "3M", true, 3000000.0L },
	{ "4G", true, 4000000000.0L },
	{ "5T", true, 5000000000000.0L },
	{ "6P", true, 6000000000000000.0L },
	{ "7E", true, 7000000000000000000.0L },
	{ "1e3", true, 1000.0L },
	{ "1E3", true, 1000.0L },
	{ "2e-3", true, 0.002L },
	{ "2e+3", true, 2000.0L },
	/* Not quantities. */
	{ "", false, 0 },
	{ "-1", false, 0 },
	{ "m", false, 0 },
	{ ".", false, 0 },
	{ "1.2.3", false, 0 },
	{ "1mi", false, 0 },
	{ "1KI", false, 0 },
	{ "1K", false, 0 },
	{ "1 Mi", false, 0 },
	{ " 1", false, 0 },
	{ "1e", false, 0 },
	{ "1e+", false, 0 },
	{ "1e3m", false, 0 },
	{ "0x10", false, 0 },
	{ "abc", false, 0 },
	{ "1Mi ", false, 0 },
};

START_TEST(test_table)
{
	long double got, want;

	ck_assert_msg(config_valid_quantity(cases[_i].s) == cases[_i].valid,
	    "\"%s\": valid %d, want %d", cases[_i].s,
	    config_valid_quantity(cases[_i].s), cases[_i].valid);
	if (!cases[_i].valid)
		return;
	got = config_quantity_value(cases[_i].s);
	want = cases[_i].value;
	ck_assert_msg(fabsl(got - want) <= fabsl(want) * 1e-15L,
	    "\"%s\": value %Lg, want %Lg", cases[_i].s, got, want);
}
END_TEST

START_TEST(test_null)
{
	ck_assert(!config_valid_quantity(NULL));
}
END_TEST

/* A request is compared with its limit by value, across suffixes. */
START_TEST(test_compare)
{
	ck_assert(config_quantity_value("500m") < config_quantity_value("1"));
	ck_assert(config_quantity_value("1Gi") > config_quantity_value("1G"));
	ck_assert(config_quantity_value("1024Ki") ==
	    config_quantity_value("1Mi"));
}
END_TEST

static Suite *
quantity_suite(void)
{
	Suite *s = suite_create("quantity");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_table, 0,
	    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_null);
	tcase_add_test(tc, test_compare);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(quantity_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
