/*
 * test_charge_check.c - each charge model's properties, valid and not,
 * with Lago's codes, range bounds and the default properties.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "charge_check.h"

/* The codes for model and props (JSON text), joined by ','; "" if valid. */
static const char *codes(const char *model, const char *props)
{
	static char out[512];
	struct charge_errs e = {0};
	cJSON *p = cJSON_Parse(props);

	assert_non_null(p);
	charge_check_props(model, p, &e);
	cJSON_Delete(p);
	out[0] = '\0';
	for (int i = 0; i < e.n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, e.code[i]);
	}
	return out;
}

#define OK(model, props) assert_string_equal(codes(model, props), "")
#define BAD(model, props, want) assert_string_equal(codes(model, props), want)

static void test_models(void **state)
{
	(void)state;
	assert_true(charge_model_known("standard"));
	assert_true(charge_model_known("graduated_percentage"));
	assert_false(charge_model_known("dynamic"));
	assert_false(charge_model_known("custom"));
	assert_false(charge_model_known(NULL));
	/* An unknown model finds nothing: the caller refuses the model. */
	OK("dynamic", "{}");
}

static void test_amount(void **state)
{
	static const char *const good[] = {
		"\"0\"", "\"12\"", "\"0.0001\"", "\"1e3\"", "\"-0\""};
	static const char *const bad[] = {
		"12", "1.5", "\"-1\"", "\"abc\"", "\"\"", "null", "true",
		"\"1.2.3\"", "\"NaN\"", "\"Infinity\"", "[]"};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"amount\":%s}", good[i]);
		OK("standard", buf);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"amount\":%s}", bad[i]);
		BAD("standard", buf, "invalid_amount");
	}
	BAD("standard", "{}", "invalid_amount");
	assert_false(charge_valid_amount(NULL));
}

static void test_group_keys(void **state)
{
	(void)state;
	OK("standard",
	   "{\"amount\":\"1\",\"pricing_group_keys\":[\"a\",\"b\"]}");
	OK("standard", "{\"amount\":\"1\",\"pricing_group_keys\":[]}");
	OK("standard", "{\"amount\":\"1\",\"grouped_by\":[\"a\"]}");
	OK("standard", "{\"amount\":\"1\",\"pricing_group_keys\":null}");
	BAD("standard", "{\"amount\":\"1\",\"pricing_group_keys\":\"a\"}",
	    "invalid_type");
	BAD("standard", "{\"amount\":\"1\",\"pricing_group_keys\":[\"a\",1]}",
	    "invalid_type");
	BAD("standard", "{\"amount\":\"1\",\"pricing_group_keys\":[\" \"]}",
	    "invalid_type");
	BAD("standard", "{\"amount\":\"1\",\"grouped_by\":[\"\"]}",
	    "invalid_type");
	/* pricing_group_keys wins over the older grouped_by. */
	OK("standard", "{\"amount\":\"1\",\"pricing_group_keys\":[\"a\"],"
	   "\"grouped_by\":7}");
	BAD("package", "{\"amount\":1,\"package_size\":1,\"free_units\":0,"
	    "\"grouped_by\":{}}", "invalid_amount,invalid_type");
}

static void test_package(void **state)
{
	(void)state;
	OK("package",
	   "{\"amount\":\"5\",\"package_size\":10,\"free_units\":0}");
	OK("package", "{\"amount\":\"5\",\"package_size\":1,\"free_units\":3}");
	BAD("package", "{\"amount\":\"5\",\"package_size\":0,\"free_units\":0}",
	    "invalid_package_size");
	BAD("package", "{\"amount\":\"5\",\"package_size\":1.5,"
	    "\"free_units\":0}", "invalid_package_size");
	BAD("package", "{\"amount\":\"5\",\"package_size\":\"10\","
	    "\"free_units\":0}", "invalid_package_size");
	BAD("package", "{\"amount\":\"5\",\"package_size\":10,"
	    "\"free_units\":-1}", "invalid_free_units");
	BAD("package", "{\"amount\":\"5\",\"package_size\":10}",
	    "invalid_free_units");
	BAD("package", "{}",
	    "invalid_amount,invalid_free_units,invalid_package_size");
}

static void test_percentage(void **state)
{
	(void)state;
	OK("percentage", "{\"rate\":\"2.5\"}");
	OK("percentage", "{\"rate\":\"0\",\"fixed_amount\":\"1\","
	   "\"free_units_per_events\":5,"
	   "\"free_units_per_total_aggregation\":\"100\","
	   "\"per_transaction_min_amount\":\"1\","
	   "\"per_transaction_max_amount\":\"1\"}");
	OK("percentage", "{\"rate\":\"1\",\"fixed_amount\":null,"
	   "\"free_units_per_events\":null}");
	BAD("percentage", "{\"rate\":2.5}", "invalid_rate");
	BAD("percentage", "{\"rate\":\"-1\"}", "invalid_rate");
	BAD("percentage", "{\"rate\":\"1\",\"fixed_amount\":1}",
	    "invalid_fixed_amount");
	BAD("percentage", "{\"rate\":\"1\",\"free_units_per_events\":0}",
	    "invalid_free_units_per_events");
	BAD("percentage", "{\"rate\":\"1\",\"free_units_per_events\":\"5\"}",
	    "invalid_free_units_per_events");
	BAD("percentage", "{\"rate\":\"1\","
	    "\"free_units_per_total_aggregation\":100}",
	    "invalid_free_units_per_total_aggregation");
	BAD("percentage", "{\"rate\":\"1\","
	    "\"per_transaction_min_amount\":\"x\"}", "invalid_amount");
	BAD("percentage", "{\"rate\":\"1\","
	    "\"per_transaction_max_amount\":3}", "invalid_amount");
	/* Compared by value, not as text: "10" > "9". */
	BAD("percentage", "{\"rate\":\"1\","
	    "\"per_transaction_min_amount\":\"10\","
	    "\"per_transaction_max_amount\":\"9.99\"}",
	    "per_transaction_max_lower_than_per_transaction_min");
	OK("percentage", "{\"rate\":\"1\","
	   "\"per_transaction_min_amount\":\"9\","
	   "\"per_transaction_max_amount\":\"10\"}");
	/* A blank minimum is absent (Ruby's present?). */
	OK("percentage", "{\"rate\":\"1\","
	   "\"per_transaction_min_amount\":\"\"}");
}

#define R(from, to, unit, flat) \
	"{\"from_value\":" from ",\"to_value\":" to \
	",\"per_unit_amount\":" unit ",\"flat_amount\":" flat "}"

#define GRAD(ranges) "{\"graduated_ranges\":[" ranges "]}"
#define FIRST R("0", "10", "\"1\"", "\"0\"")	/* 0..10 at 1 */
#define REST(from) R(from, "null", "\"1\"", "\"0\"")	/* from.. at 1 */

static void test_graduated(void **state)
{
	(void)state;
	OK("graduated", GRAD(REST("0")));
	/* The next range starts at to_value + 1, or at to_value. */
	OK("graduated", GRAD(FIRST "," R("11", "20", "\"0.5\"", "\"2\"") ","
			     REST("20")));
	BAD("graduated", "{}", "missing_graduated_ranges");
	BAD("graduated", GRAD(""), "missing_graduated_ranges");
	BAD("graduated", "{\"graduated_ranges\":{}}",
	    "missing_graduated_ranges");
	BAD("graduated", GRAD(REST("1")), "invalid_graduated_ranges");
	BAD("graduated", GRAD(FIRST), "invalid_graduated_ranges");
	BAD("graduated", GRAD(FIRST "," REST("12")),
	    "invalid_graduated_ranges");
	BAD("graduated", GRAD(FIRST "," REST("9")), "invalid_graduated_ranges");
	BAD("graduated", GRAD(R("0", "0", "\"1\"", "\"0\"") "," REST("1")),
	    "invalid_graduated_ranges");
	BAD("graduated", GRAD(REST("0") "," REST("1")),
	    "invalid_graduated_ranges");
	BAD("graduated", GRAD(REST("\"0\"")), "invalid_graduated_ranges");
	BAD("graduated", GRAD("1"), "invalid_graduated_ranges");
	BAD("graduated", GRAD(R("0", "null", "1", "\"0\"")), "invalid_amount");
	BAD("graduated", GRAD(R("0", "10", "\"1\"", "\"-2\"")),
	    "invalid_amount,invalid_graduated_ranges");
}

static void test_volume(void **state)
{
	(void)state;
	OK("volume", "{\"volume_ranges\":[" R("0", "100", "\"2\"", "\"1\"")
	   "," R("101", "null", "\"1\"", "\"0\"") "]}");
	BAD("volume", "{\"volume_ranges\":[]}", "missing_volume_ranges");
	BAD("volume", "{\"volume_ranges\":null}", "missing_volume_ranges");
	/* Volume ranges never share a bound. */
	BAD("volume", "{\"volume_ranges\":[" R("0", "100", "\"2\"", "\"1\"")
	    "," R("100", "null", "\"1\"", "\"0\"") "]}",
	    "invalid_volume_ranges");
	BAD("volume", "{\"volume_ranges\":[" R("0", "null", "\"2\"", "null")
	    "]}", "invalid_amount");
}

#define GP(from, to, rate, flat) \
	"{\"from_value\":" from ",\"to_value\":" to \
	",\"rate\":" rate ",\"flat_amount\":" flat "}"

static void test_graduated_percentage(void **state)
{
	(void)state;
	OK("graduated_percentage", "{\"graduated_percentage_ranges\":["
	   GP("0", "10", "\"1\"", "\"0\"") ","
	   GP("11", "null", "\"0.5\"", "\"1\"") "]}");
	BAD("graduated_percentage", "{}",
	    "missing_graduated_percentage_ranges");
	BAD("graduated_percentage", "{\"graduated_percentage_ranges\":["
	    GP("0", "10", "\"1\"", "\"0\"") "]}",
	    "invalid_graduated_percentage_ranges");
	BAD("graduated_percentage", "{\"graduated_percentage_ranges\":["
	    GP("0", "null", "1", "\"0\"") "]}", "invalid_rate");
	BAD("graduated_percentage", "{\"graduated_percentage_ranges\":["
	    GP("0", "null", "\"1\"", "0") "]}", "invalid_amount");
	BAD("graduated_percentage", "{\"graduated_percentage_ranges\":["
	    GP("5", "null", "\"x\"", "\"x\"") "]}",
	    "invalid_amount,invalid_rate,invalid_graduated_percentage_ranges");
}

/* Every model's defaults pass its own check. */
static void test_defaults(void **state)
{
	static const char *const models[] = {
		"standard", "graduated", "package", "percentage", "volume",
		"graduated_percentage"};
	cJSON *pkg;
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		cJSON *p = charge_default_props(models[i]);

		assert_non_null(p);
		text = cJSON_PrintUnformatted(p);
		OK(models[i], text);
		cJSON_free(text);
		cJSON_Delete(p);
	}
	assert_null(charge_default_props("dynamic"));
	pkg = charge_default_props("package");
	text = cJSON_PrintUnformatted(pkg);
	assert_string_equal(text, "{\"package_size\":1,\"amount\":\"0\","
			    "\"free_units\":0}");
	cJSON_free(text);
	cJSON_Delete(pkg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_models),
		cmocka_unit_test(test_amount),
		cmocka_unit_test(test_group_keys),
		cmocka_unit_test(test_package),
		cmocka_unit_test(test_percentage),
		cmocka_unit_test(test_graduated),
		cmocka_unit_test(test_volume),
		cmocka_unit_test(test_graduated_percentage),
		cmocka_unit_test(test_defaults),
	};

	return cmocka_run_group_tests_name("charge_check", tests, NULL, NULL);
}
