/*
 * test_jtext.c - a JSON text written piece by piece: punctuation and
 * cJSON-printed items, growth past the first block, an item larger than
 * any guess, strings however long (and NULL), and escaping left to
 * cJSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jtext.h"

static void test_pieces(void **state)
{
	struct jtext t = {0};
	cJSON *o = cJSON_CreateObject();

	(void)state;
	assert_non_null(cJSON_AddStringToObject(o, "q", "a\"b\\c\n\x01"));
	assert_int_equal(jtext_put(&t, "{\"events\":["), 0);
	for (int i = 0; i < 2000; i++) {	/* some 40 KB: grows */
		assert_int_equal(i ? jtext_put(&t, ",") : 0, 0);
		assert_int_equal(jtext_json(&t, o), 0);
	}
	assert_int_equal(jtext_put(&t, "]}"), 0);
	assert_int_equal(t.len, strlen(t.p));
	assert_memory_equal(t.p, "{\"events\":[{\"q\":\"a\\\"b\\\\c\\n\\u0001\"},",
			    34);
	{
		cJSON *back = cJSON_Parse(t.p);

		assert_non_null(back);
		assert_int_equal(cJSON_GetArraySize(
			cJSON_GetObjectItem(back, "events")), 2000);
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(
			cJSON_GetObjectItem(back, "events"), 1999), "q")
			->valuestring, "a\"b\\c\n\x01");
		cJSON_Delete(back);
	}
	cJSON_Delete(o);
	jtext_free(&t);
	assert_null(t.p);
	assert_int_equal(t.len, 0);
}

/* Strings, escaped by cJSON however long, and NULL as null. */
static void test_strings(void **state)
{
	static const char ctl[] = "\x01\x02\x03\x04";
	struct jtext t = {0};
	char *all = malloc(4 * 5000 + 1);

	(void)state;
	assert_non_null(all);
	for (int i = 0; i < 5000; i++)	/* every byte escaped: 6x */
		memcpy(all + 4 * i, ctl, 4);
	all[4 * 5000] = '\0';
	assert_int_equal(jtext_str(&t, "a\"b\\c\xc3\xa9"), 0);
	assert_int_equal(jtext_put(&t, ","), 0);
	assert_int_equal(jtext_str(&t, NULL), 0);
	assert_int_equal(jtext_put(&t, ","), 0);
	assert_string_equal(t.p, "\"a\\\"b\\\\c\xc3\xa9\",null,");
	assert_int_equal(jtext_str(&t, all), 0);
	assert_int_equal(t.len, strlen("\"a\\\"b\\\\c\xc3\xa9\",null,") +
			 6 * 4 * 5000 + 2);
	free(all);
	jtext_free(&t);
}

static void test_large_item(void **state)
{
	size_t n = 100000;	/* beyond every in-place guess */
	char *big = malloc(n + 1);
	struct jtext t = {0};
	cJSON *s;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', n);
	big[n] = '\0';
	s = cJSON_CreateString(big);
	assert_int_equal(jtext_put(&t, "["), 0);
	assert_int_equal(jtext_json(&t, s), 0);
	assert_int_equal(jtext_put(&t, "]"), 0);
	assert_int_equal(t.len, n + 4);
	assert_memory_equal(t.p + 2, big, n);
	assert_string_equal(t.p + n + 2, "\"]");
	cJSON_Delete(s);
	free(big);
	jtext_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_large_item),
	};

	return cmocka_run_group_tests_name("jtext", tests, NULL, NULL);
}
