/*
 * test_util.c - ids: util_uuid7's layout and order, util_uuid's layout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "util.h"

static void assert_uuid(const char *id, char version)
{
	char re[128];
	regex_t rx;

	snprintf(re, sizeof(re), "^[0-9a-f]{8}-[0-9a-f]{4}-%c[0-9a-f]{3}-"
		 "[89ab][0-9a-f]{3}-[0-9a-f]{12}$", version);
	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&rx, id, 0, NULL, 0), 0);
	regfree(&rx);
}

static void test_uuid4_layout(void **state)
{
	char id[UTIL_UUID_LEN];

	(void)state;
	assert_int_equal(util_uuid(id), TLY_OK);
	assert_uuid(id, '4');
}

/* Version 7: valid, its time is now, distinct, and later ids sort later. */
static void test_uuid7_layout_and_order(void **state)
{
	char a[UTIL_UUID_LEN], b[UTIL_UUID_LEN], hex[13];
	struct timespec pause = {0, 2000000};	/* 2 ms: a new millisecond */
	int64_t before = util_now_ms(), ms;

	(void)state;
	assert_int_equal(util_uuid7(a), TLY_OK);
	assert_uuid(a, '7');
	/* The first 48 bits are the Unix time in ms. */
	snprintf(hex, sizeof(hex), "%.8s%.4s", a, a + 9);
	ms = (int64_t)strtoll(hex, NULL, 16);
	assert_true(ms >= before && ms <= util_now_ms());
	/* Past the pool's size, ids stay distinct and in order. */
	for (int i = 0; i < 1000; i++) {
		nanosleep(i % 100 == 0 ? &pause : &(struct timespec){0, 0},
			  NULL);
		assert_int_equal(util_uuid7(b), TLY_OK);
		assert_uuid(b, '7');
		assert_string_not_equal(a, b);
		if (i % 100 == 0)
			assert_true(strcmp(a, b) < 0);
		memcpy(a, b, sizeof(a));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid4_layout),
		cmocka_unit_test(test_uuid7_layout_and_order),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
