/*
 * test_country.c - unit tests of shared/country.c, the ISO 3166-1
 * alpha-2 codes Lago accepts for a customer's country.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "country.h"

static void test_assigned_codes(void **state)
{
	(void)state;
	assert_true(country_valid("FR"));
	assert_true(country_valid("US"));
	assert_true(country_valid("GB"));
	assert_true(country_valid("DE"));
	/* The ends of the table. */
	assert_true(country_valid("AD"));
	assert_true(country_valid("ZW"));
}

static void test_unassigned_codes(void **state)
{
	(void)state;
	assert_false(country_valid("ZZ"));
	assert_false(country_valid("XX"));
	assert_false(country_valid("UK"));	/* GB's common mistake */
	assert_false(country_valid("AA"));
	assert_false(country_valid("ZY"));
}

static void test_malformed(void **state)
{
	(void)state;
	/* Lower case is the caller's to upcase, as Lago does. */
	assert_false(country_valid("fr"));
	assert_false(country_valid("Fr"));
	assert_false(country_valid("FRA"));
	assert_false(country_valid("F"));
	assert_false(country_valid("F1"));
	assert_false(country_valid(""));
	assert_false(country_valid(NULL));
}

/* Every code is found: the table is sorted, and it has the 249. */
static void test_count(void **state)
{
	char code[3] = {0};
	int n = 0;

	(void)state;
	for (code[0] = 'A'; code[0] <= 'Z'; code[0]++)
		for (code[1] = 'A'; code[1] <= 'Z'; code[1]++)
			n += country_valid(code);
	assert_int_equal(n, 249);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assigned_codes),
		cmocka_unit_test(test_unassigned_codes),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_count),
	};

	return cmocka_run_group_tests_name("country", tests, NULL, NULL);
}
