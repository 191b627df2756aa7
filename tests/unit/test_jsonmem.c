/*
 * test_jsonmem.c - cJSON in a per-request arena: trees built in it need
 * no cJSON_Delete, frees inside it of its own memory do nothing, frees
 * inside it of malloc'd memory still free (the sanitizer run would report
 * a leak or a bad free), allocations larger than a block, and text
 * printed after leaving is ordinary malloc'd memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "jsonmem.h"

static void test_tree_in_arena(void **state)
{
	struct jsonmem *m = jsonmem_new(64);
	cJSON *outside, *root;
	char *text;

	(void)state;
	assert_non_null(m);
	outside = cJSON_Parse("{\"kept\": [1, 2, 3]}");	/* malloc'd */
	jsonmem_enter(m);
	root = cJSON_Parse("{\"a\": \"x\", \"b\": {\"c\": [1, 2, 3]}}");
	assert_non_null(root);
	/* An arena node deleted inside: nothing happens to the arena. */
	cJSON_Delete(cJSON_DetachItemFromObject(root, "b"));
	/* A malloc'd tree deleted inside the arena is freed for real. */
	cJSON_Delete(outside);
	assert_true(cJSON_AddStringToObject(root, "d", "y") != NULL);
	jsonmem_leave();
	text = cJSON_PrintUnformatted(root);
	assert_string_equal(text, "{\"a\":\"x\",\"d\":\"y\"}");
	free(text);		/* malloc'd: printed outside the arena */
	jsonmem_free(m);	/* root goes with it */
}

static void test_large_values(void **state)
{
	size_t n = 3 << 20;	/* beyond the largest block */
	char *big = malloc(n + 3), *text;
	struct jsonmem *m = jsonmem_new(0);
	cJSON *s;

	(void)state;
	assert_non_null(big);
	assert_non_null(m);
	big[0] = '"';
	memset(big + 1, 'z', n);
	big[n + 1] = '"';
	big[n + 2] = '\0';
	jsonmem_enter(m);
	s = cJSON_Parse(big);
	assert_non_null(s);
	for (int i = 0; i < 10000; i++)
		assert_non_null(cJSON_CreateNumber(i));	/* many blocks */
	jsonmem_leave();
	assert_int_equal(strlen(cJSON_GetStringValue(s)), n);
	text = cJSON_PrintUnformatted(s);
	assert_int_equal(strlen(text), n + 2);
	cJSON_free(text);
	jsonmem_free(m);
	free(big);
}

static void test_ev_parse_owns_its_arena(void **state)
{
	static const char body[] =
		"{\"events\": [{\"transaction_id\": \"t1\", "
		"\"external_subscription_id\": \"s\", \"code\": \"c\", "
		"\"properties\": {\"n\": 1.50, \"r\": \"eu\"}}]}";
	struct ev_batch b;
	struct ev_errs errs;

	(void)state;
	assert_int_equal(ev_parse(body, sizeof(body) - 1, EV_SHAPE_BATCH, 0,
				  1000, &b, &errs), 0);
	assert_non_null(b.mem);
	assert_string_equal(b.evs[0].props_json, "{\"n\":\"1.5\",\"r\":\"eu\"}");
	ev_batch_free(&b);
	assert_null(b.mem);
	/* A refused body leaves nothing behind either. */
	assert_int_not_equal(ev_parse("{\"events\": [{}]}", 16, EV_SHAPE_BATCH,
				      0, 1000, &b, &errs), 0);
	assert_null(b.mem);
	assert_null(b.root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_in_arena),
		cmocka_unit_test(test_large_values),
		cmocka_unit_test(test_ev_parse_owns_its_arena),
	};

	jsonmem_init();
	return cmocka_run_group_tests_name("jsonmem", tests, NULL, NULL);
}
