/*
 * test_event.c - Lago event parsing: shapes, every validation rule with
 * its field and code, normalisation of numbers and timestamps, and the
 * 422 body and log line built from the errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "event.h"
#include "jsonmem.h"

#define NOW INT64_C(1700000000123)	/* the now_ms every parse gets */

/* An ev_error initialiser. */
#define ERR(i, f, c) { .index = (i), .field = f, .code = c }

/* ---- Helpers -------------------------------------------------------- */

static int parse_max(const char *json, enum ev_shape shape, size_t max,
		     struct ev_batch *b, struct ev_errs *errs)
{
	return ev_parse(json, strlen(json), shape, max, NOW, b, errs);
}

static int parse(const char *json, enum ev_shape shape, struct ev_batch *b,
		 struct ev_errs *errs)
{
	return parse_max(json, shape, 100, b, errs);
}

/* Parse json, which must succeed with n events. */
static void parse_ok(const char *json, enum ev_shape shape, size_t n,
		     struct ev_batch *b)
{
	struct ev_errs errs;
	char line[512];
	int rc = parse(json, shape, b, &errs);

	if (rc != TLY_OK) {
		ev_errs_line(&errs, line, sizeof(line));
		fail_msg("%s: rc %d: %s", json, rc, line);
	}
	assert_non_null(b->root);
	assert_non_null(b->evs);
	assert_int_equal(b->n, n);
}

/* A failed parse leaves the batch empty. */
static void assert_empty(const struct ev_batch *b)
{
	assert_null(b->evs);
	assert_int_equal(b->n, 0);
	assert_null(b->root);
}

/* Parse json, which must fail with exactly one error: index.field code. */
static void parse_err1(const char *json, enum ev_shape shape, int index,
		       const char *field, const char *code)
{
	struct ev_batch b;
	struct ev_errs errs;
	char line[512];
	int rc = parse(json, shape, &b, &errs);

	ev_errs_line(&errs, line, sizeof(line));
	if (rc != TLY_EINVAL || errs.n != 1 || errs.dropped != 0 ||
	    errs.e[0].index != index || strcmp(errs.e[0].field, field) != 0 ||
	    strcmp(errs.e[0].code, code) != 0)
		fail_msg("%s: rc %d, got \"%s\", want [%d] %s: %s", json, rc,
			 line, index, field, code);
	assert_empty(&b);
}

/* A bare event with a valid transaction_id, subscription and code. */
static void bare_err1(const char *extra, const char *field,
		      const char *code)
{
	char json[8192];
	int n = snprintf(json, sizeof(json),
			 "{\"transaction_id\":\"tx-1\","
			 "\"external_subscription_id\":\"sub_1\","
			 "\"code\":\"api_calls\",%s}", extra);

	assert_true(n > 0 && (size_t)n < sizeof(json));
	parse_err1(json, EV_SHAPE_BARE, -1, field, code);
}

/* A bare event with the given extra fields, which must be valid. */
static void bare_ok(const char *extra, struct ev_batch *b)
{
	char json[8192];
	int n = snprintf(json, sizeof(json),
			 "{\"transaction_id\":\"tx-1\","
			 "\"external_subscription_id\":\"sub_1\","
			 "\"code\":\"api_calls\"%s%s}", *extra ? "," : "",
			 extra);

	assert_true(n > 0 && (size_t)n < sizeof(json));
	parse_ok(json, EV_SHAPE_BARE, 1, b);
}

/* The timestamp of a bare event whose "timestamp" is ts (JSON text). */
static int64_t bare_ts(const char *ts)
{
	struct ev_batch b;
	char extra[256];
	int64_t ms;

	snprintf(extra, sizeof(extra), "\"timestamp\":%s", ts);
	bare_ok(extra, &b);
	ms = b.evs[0].ts_ms;
	ev_batch_free(&b);
	return ms;
}

/* The normalised value of property "v" when it is sent as num. */
static void assert_prop_norm(const char *num, const char *want)
{
	struct ev_batch b;
	char extra[512];

	snprintf(extra, sizeof(extra), "\"properties\":{\"v\":%s}", num);
	bare_ok(extra, &b);
	if (!ev_prop(&b.evs[0], "v") ||
	    strcmp(ev_prop(&b.evs[0], "v"), want) != 0)
		fail_msg("%s gave \"%s\", want \"%s\"", num,
			 ev_prop(&b.evs[0], "v"), want);
	ev_batch_free(&b);
}

/* A string of n copies of c, in a buffer the caller frees. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void assert_json(const cJSON *item, const char *want)
{
	char *got = cJSON_PrintUnformatted(item);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* ---- Valid events --------------------------------------------------- */

static void test_bare_every_field(void **state)
{
	static const char json[] =
		"{\"transaction_id\": \"tx-123\", "
		"\"external_subscription_id\": \"sub_1\", "
		"\"external_customer_id\": \"cus_9\", "
		"\"code\": \"api_calls\", \"timestamp\": 1764000000, "
		"\"precise_total_amount_cents\": \"1234.5678\", "
		"\"properties\": {\"bytes\": 512, \"region\": \"eu\"}, "
		"\"unknown\": [1, {\"x\": true}]}";
	struct ev_batch b;
	const struct event *ev;

	(void)state;
	parse_ok(json, EV_SHAPE_BARE, 1, &b);
	ev = &b.evs[0];
	assert_string_equal(ev->transaction_id, "tx-123");
	assert_string_equal(ev->sub, "sub_1");
	assert_string_equal(ev->customer, "cus_9");
	assert_string_equal(ev->code, "api_calls");
	assert_true(ev->ts_ms == INT64_C(1764000000000));
	assert_string_equal(ev->precise_total_amount_cents, "1234.5678");
	assert_non_null(ev->props);
	assert_string_equal(ev_prop(ev, "bytes"), "512");
	assert_string_equal(ev_prop(ev, "region"), "eu");
	assert_json(ev->props, "{\"bytes\":\"512\",\"region\":\"eu\"}");
	/* The event is the root itself, and props lives in it. */
	assert_ptr_equal(ev->props,
			 cJSON_GetObjectItemCaseSensitive(b.root,
							  "properties"));
	ev_batch_free(&b);
	assert_empty(&b);
}

static void test_single_shape(void **state)
{
	static const char json[] =
		"{\"event\": {\"transaction_id\": \"tx-2\", "
		"\"external_customer_id\": \"cus_1\", \"code\": \"storage\", "
		"\"timestamp\": \"2025-11-24T16:00:00Z\", "
		"\"properties\": {\"gb\": \"3.2\"}}}";
	struct ev_batch b;
	const struct event *ev;

	(void)state;
	parse_ok(json, EV_SHAPE_SINGLE, 1, &b);
	ev = &b.evs[0];
	assert_string_equal(ev->transaction_id, "tx-2");
	assert_null(ev->sub);
	assert_string_equal(ev->customer, "cus_1");
	assert_string_equal(ev->code, "storage");
	assert_true(ev->ts_ms == INT64_C(1764000000000));
	assert_null(ev->precise_total_amount_cents);
	assert_string_equal(ev_prop(ev, "gb"), "3.2");
	ev_batch_free(&b);
}

static void test_batch_shape(void **state)
{
	static const char json[] =
		"{\"events\": ["
		"{\"transaction_id\": \"a\", \"external_subscription_id\": "
		"\"s1\", \"code\": \"c1\", \"timestamp\": 1764000000.5, "
		"\"properties\": {\"n\": 1}},"
		"{\"transaction_id\": \"b\", \"external_subscription_id\": "
		"\"s2\", \"code\": \"c2\"},"
		"{\"transaction_id\": \"c\", \"external_subscription_id\": "
		"\"s3\", \"code\": \"c3\", \"timestamp\": \"1764000001\", "
		"\"precise_total_amount_cents\": 12.25}]}";
	struct ev_batch b;

	(void)state;
	parse_ok(json, EV_SHAPE_BATCH, 3, &b);
	assert_string_equal(b.evs[0].transaction_id, "a");
	assert_string_equal(b.evs[1].transaction_id, "b");
	assert_string_equal(b.evs[2].transaction_id, "c");
	assert_string_equal(b.evs[0].sub, "s1");
	assert_string_equal(b.evs[1].code, "c2");
	assert_true(b.evs[0].ts_ms == INT64_C(1764000000500));
	assert_true(b.evs[1].ts_ms == NOW);
	assert_true(b.evs[2].ts_ms == INT64_C(1764000001000));
	assert_string_equal(ev_prop(&b.evs[0], "n"), "1");
	assert_null(b.evs[1].customer);
	assert_null(b.evs[1].precise_total_amount_cents);
	/* A number amount becomes decimal text in the tree. */
	assert_string_equal(b.evs[2].precise_total_amount_cents, "12.25");
	assert_json(cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
				    b.root, "events"), 2),
			    "precise_total_amount_cents"), "\"12.25\"");
	ev_batch_free(&b);
}

static void test_batch_max_events(void **state)
{
	char json[64 * 1024];
	size_t off;
	struct ev_batch b;
	struct ev_errs errs;

	(void)state;
	off = (size_t)snprintf(json, sizeof(json), "{\"events\":[");
	for (int i = 0; i < 101; i++)
		off += (size_t)snprintf(json + off, sizeof(json) - off,
			"%s{\"transaction_id\":\"t%d\","
			"\"external_subscription_id\":\"s\",\"code\":\"c\"}",
			i ? "," : "", i);
	snprintf(json + off, sizeof(json) - off, "]}");
	parse_err1(json, EV_SHAPE_BATCH, -1, "events", "too_many_events");
	/* 0 means no cap; 101 is also fine with a cap of 101. */
	assert_int_equal(parse_max(json, EV_SHAPE_BATCH, 0, &b, &errs),
			 TLY_OK);
	assert_int_equal(b.n, 101);
	assert_string_equal(b.evs[100].transaction_id, "t100");
	ev_batch_free(&b);
	assert_int_equal(parse_max(json, EV_SHAPE_BATCH, 101, &b, &errs),
			 TLY_OK);
	ev_batch_free(&b);
}

static void test_properties_absent_or_null(void **state)
{
	struct ev_batch b;
	cJSON *props;

	(void)state;
	bare_ok("", &b);
	props = b.evs[0].props;
	assert_non_null(props);
	assert_true(cJSON_IsObject(props));
	assert_null(props->child);
	assert_null(ev_prop(&b.evs[0], "x"));
	assert_ptr_equal(props, cJSON_GetObjectItemCaseSensitive(
				 b.root, "properties"));
	ev_batch_free(&b);

	bare_ok("\"properties\":null,\"z\":1", &b);
	props = b.evs[0].props;
	assert_true(cJSON_IsObject(props));
	assert_null(props->child);
	assert_ptr_equal(props, cJSON_GetObjectItemCaseSensitive(
				 b.root, "properties"));
	assert_json(b.root, "{\"transaction_id\":\"tx-1\","
		    "\"external_subscription_id\":\"sub_1\","
		    "\"code\":\"api_calls\",\"properties\":{},\"z\":1}");
	ev_batch_free(&b);
}

static void test_customer_only_and_blank_sub(void **state)
{
	static const char json[] =
		"{\"transaction_id\":\"t\",\"external_subscription_id\":\"\","
		"\"external_customer_id\":\"cus\",\"code\":\"c\"}";
	struct ev_batch b;

	(void)state;
	parse_ok(json, EV_SHAPE_BARE, 1, &b);
	assert_null(b.evs[0].sub);
	assert_string_equal(b.evs[0].customer, "cus");
	ev_batch_free(&b);
}

static void test_id_lengths(void **state)
{
	char *id = repeat('x', EV_ID_MAX);
	char json[2048];
	struct ev_batch b;

	(void)state;
	snprintf(json, sizeof(json),
		 "{\"transaction_id\":\"%s\",\"external_subscription_id\":"
		 "\"%s\",\"code\":\"%s\",\"external_customer_id\":\"%s\"}",
		 id, id, id, id);
	parse_ok(json, EV_SHAPE_BARE, 1, &b);
	assert_int_equal(strlen(b.evs[0].transaction_id), EV_ID_MAX);
	ev_batch_free(&b);
	free(id);
}

static void test_whitespace_and_unicode(void **state)
{
	/* UTF-8 as sent, \u escapes with a surrogate pair, white space
	 * before and after the document. */
	static const char json[] =
		" \r\n\t{\"transaction_id\":\"tx-\xc3\xa9\\u00e9\","
		"\"external_subscription_id\":\"sub\",\"code\":\"c\","
		"\"properties\":{\"\xe6\x97\xa5\":\"\\ud83d\\ude00\"}} \n\r\t";
	struct ev_batch b;

	(void)state;
	parse_ok(json, EV_SHAPE_BARE, 1, &b);
	assert_string_equal(b.evs[0].transaction_id, "tx-\xc3\xa9\xc3\xa9");
	assert_string_equal(ev_prop(&b.evs[0], "\xe6\x97\xa5"),
			    "\xf0\x9f\x98\x80");
	ev_batch_free(&b);

	/* "\\u0000" is a backslash and text, not a NUL escape. */
	bare_ok("\"properties\":{\"p\":\"a\\\\u0000\"}", &b);
	assert_string_equal(ev_prop(&b.evs[0], "p"), "a\\u0000");
	ev_batch_free(&b);
}

static void test_duplicate_keys_last_wins(void **state)
{
	static const char json[] =
		"{\"transaction_id\":\"first\",\"external_subscription_id\":"
		"\"s\",\"code\":\"c\",\"transaction_id\":\"last\","
		"\"properties\":{\"a\":1,\"b\":\"x\",\"a\":2}}";
	struct ev_batch b;

	(void)state;
	parse_ok(json, EV_SHAPE_BARE, 1, &b);
	assert_string_equal(b.evs[0].transaction_id, "last");
	assert_string_equal(ev_prop(&b.evs[0], "a"), "2");
	/* The earlier duplicates are gone from the tree. */
	assert_json(b.root, "{\"external_subscription_id\":\"s\","
		    "\"code\":\"c\",\"transaction_id\":\"last\","
		    "\"properties\":{\"b\":\"x\",\"a\":\"2\"}}");
	ev_batch_free(&b);

	/* An earlier bad value does not count once it is overridden. */
	bare_ok("\"timestamp\":\"bad\",\"timestamp\":5", &b);
	assert_true(b.evs[0].ts_ms == 5000);
	ev_batch_free(&b);
}

/* ---- Normalisation of numbers --------------------------------------- */

static void test_property_numbers(void **state)
{
	(void)state;
	assert_prop_norm("0.1", "0.1");
	assert_prop_norm("512", "512");
	assert_prop_norm("512.0", "512");
	assert_prop_norm("1e21", "1000000000000000000000");
	assert_prop_norm("0.30000000000000004", "0.30000000000000004");
	assert_prop_norm("-3.25", "-3.25");
	assert_prop_norm("1.5e-7", "0.00000015");
	assert_prop_norm("0", "0");
	assert_prop_norm("-0", "0");
	assert_prop_norm("123456789012345678", "123456789012345680");
	/* Strings stay as sent, numeric or not. */
	assert_prop_norm("\"0.10\"", "0.10");
	assert_prop_norm("\"eu\"", "eu");
	assert_prop_norm("\"\"", "");
	assert_prop_norm("\"1e3\"", "1e3");
}

static void test_property_numbers_in_tree(void **state)
{
	struct ev_batch b;

	(void)state;
	/* Replacements at the head, middle and tail of the list. */
	bare_ok("\"properties\":{\"a\":1,\"b\":\"s\",\"c\":2.5,\"d\":\"t\","
		"\"e\":3}", &b);
	assert_json(b.evs[0].props, "{\"a\":\"1\",\"b\":\"s\",\"c\":\"2.5\","
		    "\"d\":\"t\",\"e\":\"3\"}");
	/* The list stays well linked: appending lands at the tail.  (What
	 * joins the batch's tree is made in its arena: event.h.) */
	jsonmem_enter(b.mem);
	cJSON_AddStringToObject(b.evs[0].props, "f", "u");
	jsonmem_leave();
	assert_json(b.evs[0].props, "{\"a\":\"1\",\"b\":\"s\",\"c\":\"2.5\","
		    "\"d\":\"t\",\"e\":\"3\",\"f\":\"u\"}");
	for (cJSON *it = b.evs[0].props->child; it; it = it->next)
		assert_true(cJSON_IsString(it));
	ev_batch_free(&b);

	bare_ok("\"properties\":{\"only\":7}", &b);
	assert_json(b.evs[0].props, "{\"only\":\"7\"}");
	ev_batch_free(&b);
}

static void test_property_limits_ok(void **state)
{
	char *key = repeat('k', EV_PROP_KEY_MAX);
	char *val = repeat('v', EV_PROP_VAL_MAX);
	char extra[4096];
	size_t off;
	struct ev_batch b;

	(void)state;
	snprintf(extra, sizeof(extra), "\"properties\":{\"%s\":\"%s\"}", key,
		 val);
	bare_ok(extra, &b);
	assert_int_equal(strlen(ev_prop(&b.evs[0], key)), EV_PROP_VAL_MAX);
	ev_batch_free(&b);

	off = (size_t)snprintf(extra, sizeof(extra), "\"properties\":{");
	for (int i = 0; i < EV_PROPS_MAX; i++)
		off += (size_t)snprintf(extra + off, sizeof(extra) - off,
					"%s\"p%d\":%d", i ? "," : "", i, i);
	snprintf(extra + off, sizeof(extra) - off, "}");
	bare_ok(extra, &b);
	assert_string_equal(ev_prop(&b.evs[0], "p63"), "63");
	ev_batch_free(&b);
	free(key);
	free(val);
}

static void test_amount(void **state)
{
	struct ev_batch b;

	(void)state;
	bare_ok("\"precise_total_amount_cents\":\"-0.000000000000001\"", &b);
	assert_string_equal(b.evs[0].precise_total_amount_cents,
			    "-0.000000000000001");
	ev_batch_free(&b);
	bare_ok("\"precise_total_amount_cents\":0.1", &b);
	assert_string_equal(b.evs[0].precise_total_amount_cents, "0.1");
	ev_batch_free(&b);
	bare_ok("\"precise_total_amount_cents\":\"\"", &b);
	assert_null(b.evs[0].precise_total_amount_cents);
	ev_batch_free(&b);
	bare_ok("\"precise_total_amount_cents\":\" \\t \"", &b);
	assert_null(b.evs[0].precise_total_amount_cents);
	ev_batch_free(&b);
	bare_ok("\"precise_total_amount_cents\":null", &b);
	assert_null(b.evs[0].precise_total_amount_cents);
	ev_batch_free(&b);
}

/* ---- Timestamps ----------------------------------------------------- */

static void test_timestamp_forms(void **state)
{
	(void)state;
	assert_true(bare_ts("1764000000") == INT64_C(1764000000000));
	assert_true(bare_ts("1764000000.123") == INT64_C(1764000000123));
	assert_true(bare_ts("1764000000.0005") == INT64_C(1764000000001));
	assert_true(bare_ts("1764000000.0004") == INT64_C(1764000000000));
	assert_true(bare_ts("1.764e9") == INT64_C(1764000000000));
	assert_true(bare_ts("0") == 0);
	assert_true(bare_ts("\"1764000000\"") == INT64_C(1764000000000));
	assert_true(bare_ts("\"1764000000.25\"") == INT64_C(1764000000250));
	assert_true(bare_ts("\"1764000000.9995\"") ==
		    INT64_C(1764000001000));
	assert_true(bare_ts("\"2025-11-24T16:00:00Z\"") ==
		    INT64_C(1764000000000));
	assert_true(bare_ts("\"2025-11-24T17:00:00+01:00\"") ==
		    INT64_C(1764000000000));
	assert_true(bare_ts("\"2025-11-24T16:00:00-05:30\"") ==
		    INT64_C(1764019800000));
	assert_true(bare_ts("\"2025-11-24T17:00:00.5+01:00\"") ==
		    INT64_C(1764000000500));
	assert_true(bare_ts("\"2024-02-29T12:00:00Z\"") ==
		    INT64_C(1709208000000));
	assert_true(bare_ts("null") == NOW);
}

static void test_timestamp_absent_is_now(void **state)
{
	struct ev_batch b;
	struct ev_errs errs;
	static const char json[] =
		"{\"transaction_id\":\"t\",\"external_subscription_id\":\"s\","
		"\"code\":\"c\"}";

	(void)state;
	assert_int_equal(ev_parse(json, strlen(json), EV_SHAPE_BARE, 0,
				  INT64_C(42), &b, &errs), TLY_OK);
	assert_true(b.evs[0].ts_ms == 42);
	ev_batch_free(&b);
}

static void test_parse_time(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
		{ "1764000000", INT64_C(1764000000000) },
		{ "0001764000000", INT64_C(1764000000000) },
		{ "1764000000.1", INT64_C(1764000000100) },
		{ "1764000000.12", INT64_C(1764000000120) },
		{ "1764000000.1234", INT64_C(1764000000123) },
		{ "1764000000.12351", INT64_C(1764000000124) },
		{ "1764000000.12349999", INT64_C(1764000000123) },
		{ "0", 0 },
		{ "253402300799", INT64_C(253402300799000) },
		{ "253402300799.9994", INT64_C(253402300799999) },
		{ "2025-11-24T16:00:00Z", INT64_C(1764000000000) },
		{ "2025-11-24t16:00:00z", INT64_C(1764000000000) },
		{ "2025-11-24 16:00:00Z", INT64_C(1764000000000) },
		{ "2025-11-24T16:00:00.1Z", INT64_C(1764000000100) },
		{ "2025-11-24T16:00:00.123456789Z", INT64_C(1764000000123) },
		{ "2025-11-24T16:00:00.9995Z", INT64_C(1764000001000) },
		{ "2025-11-24T16:00:00+00:00", INT64_C(1764000000000) },
		{ "2025-11-24T16:00:00-00:00", INT64_C(1764000000000) },
		{ "2025-11-24T17:00:00+01:00", INT64_C(1764000000000) },
		{ "2025-11-25T15:59:00+23:59", INT64_C(1764000000000) },
		{ "2024-02-29T12:00:00Z", INT64_C(1709208000000) },
		{ "2000-02-29T00:00:00Z", INT64_C(951782400000) },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01T01:00:00+01:00", 0 },
		{ "9999-12-31T23:59:59.999Z", INT64_C(253402300799999) },
	};
	static const char *const bad[] = {
		"", "-5", "+5", "1e9", "1E9", " 5", "5 ", "5\n", "1764000000.",
		".5", "17640000a0", "0x10", "1764000000.5.5", "253402300800",
		"99999999999999999999999999", "inf", "nan",
		"253402300799.9995", "9999-12-31T23:59:59.9995Z",
		"2025-11-24T16:00:00", "2025-11-24T16:00:00.Z",
		"2025-11-24T16:00Z", "2025-11-24", "2025-11-24X16:00:00Z",
		"2025-11-24T16:00:00ZZ", "2025-11-24T16:00:00Z ",
		"2025-13-01T00:00:00Z", "2025-00-01T00:00:00Z",
		"2025-01-32T00:00:00Z", "2025-01-00T00:00:00Z",
		"2025-04-31T00:00:00Z", "2023-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z", "2025-11-24T24:00:00Z",
		"2025-11-24T23:60:00Z", "2025-11-24T23:59:60Z",
		"2025-11-24T16:00:00+24:00", "2025-11-24T16:00:00+01:60",
		"2025-11-24T16:00:00+0100", "2025-11-24T16:00:00+01",
		"1969-12-31T23:59:59Z", "1970-01-01T00:30:00+01:00",
		"9999-12-31T23:59:59-00:01", "10000-01-01T00:00:00Z",
		"2025-1-24T16:00:00Z", "２０２５-11-24T16:00:00Z",
		"2025-11-24T16:00:00.5 Z", "2025-11-24T16:00:00+01:00:00",
	};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = -1;
		if (ev_parse_time(good[i].s, &ms) != TLY_OK ||
		    ms != good[i].ms)
			fail_msg("%s: got %lld", good[i].s, (long long)ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = -7;
		if (ev_parse_time(bad[i], &ms) != TLY_EINVAL || ms != -7)
			fail_msg("\"%s\" was accepted", bad[i]);
	}
	assert_int_equal(ev_parse_time(NULL, &ms), TLY_EINVAL);
	assert_int_equal(ev_parse_time("5", NULL), TLY_EINVAL);
}

static void test_timestamp_errors(void **state)
{
	static const char *const bad[] = {
		"\"abc\"", "\"\"", "true", "false", "{}", "[]", "[1]", "-1",
		"-0.5", "1e21", "1e400", "253402300800", "\"-5\"", "\"1e9\"",
		"\"2023-02-29T00:00:00Z\"", "\"2025-11-24T16:00:00\"",
		"\"2025-11-24T16:00:00+01:60\"",
	};
	char extra[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(extra, sizeof(extra), "\"timestamp\":%s", bad[i]);
		bare_err1(extra, "timestamp", "invalid_format");
	}
}

/* ---- Validation errors ---------------------------------------------- */

/* The start of an event with transaction_id and subscription. */
#define TSC "{\"transaction_id\":\"t\",\"external_subscription_id\":\"s\","

static void test_id_errors(void **state)
{
	static const struct {
		const char *json;
		const char *field;
		const char *code;
	} cases[] = {
		{ "{\"external_subscription_id\":\"s\",\"code\":\"c\"}",
		  "transaction_id", "value_is_mandatory" },
		{ "{\"transaction_id\":null,\"external_subscription_id\":\"s\","
		  "\"code\":\"c\"}", "transaction_id", "value_is_mandatory" },
		{ "{\"transaction_id\":\"\",\"external_subscription_id\":\"s\","
		  "\"code\":\"c\"}", "transaction_id", "value_is_mandatory" },
		{ "{\"transaction_id\":\" \\t\",\"external_subscription_id\":"
		  "\"s\",\"code\":\"c\"}", "transaction_id",
		  "value_is_mandatory" },
		{ "{\"Transaction_Id\":\"t\",\"external_subscription_id\":"
		  "\"s\",\"code\":\"c\"}", "transaction_id",
		  "value_is_mandatory" },
		{ "{\"transaction_id\":5,\"external_subscription_id\":\"s\","
		  "\"code\":\"c\"}", "transaction_id", "invalid_type" },
		{ "{\"transaction_id\":true,\"external_subscription_id\":\"s\","
		  "\"code\":\"c\"}", "transaction_id", "invalid_type" },
		{ "{\"transaction_id\":{},\"external_subscription_id\":\"s\","
		  "\"code\":\"c\"}", "transaction_id", "invalid_type" },
		{ "{\"transaction_id\":[\"t\"],\"external_subscription_id\":"
		  "\"s\",\"code\":\"c\"}", "transaction_id", "invalid_type" },
		{ "{\"transaction_id\":\"t\",\"code\":\"c\"}",
		  "external_subscription_id", "value_is_mandatory" },
		{ "{\"transaction_id\":\"t\",\"external_subscription_id\":null,"
		  "\"external_customer_id\":\"\",\"code\":\"c\"}",
		  "external_subscription_id", "value_is_mandatory" },
		{ "{\"transaction_id\":\"t\",\"external_subscription_id\":1,"
		  "\"code\":\"c\"}", "external_subscription_id",
		  "invalid_type" },
		{ "{\"transaction_id\":\"t\",\"external_subscription_id\":1,"
		  "\"external_customer_id\":\"cus\",\"code\":\"c\"}",
		  "external_subscription_id", "invalid_type" },
		{ "{\"transaction_id\":\"t\",\"external_customer_id\":7,"
		  "\"code\":\"c\"}", "external_customer_id", "invalid_type" },
		{ TSC "\"external_customer_id\":false,\"code\":\"c\"}",
		  "external_customer_id", "invalid_type" },
		{ "{\"transaction_id\":\"t\",\"external_subscription_id\":"
		  "\"s\"}", "code", "value_is_mandatory" },
		{ TSC "\"code\":\"\"}", "code", "value_is_mandatory" },
		{ TSC "\"code\":null}", "code", "value_is_mandatory" },
		{ TSC "\"code\":1.5}", "code", "invalid_type" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		parse_err1(cases[i].json, EV_SHAPE_BARE, -1, cases[i].field,
			   cases[i].code);
}

static void test_id_too_long(void **state)
{
	static const char *const fields[] = {
		"transaction_id", "external_subscription_id",
		"external_customer_id", "code",
	};
	char *id = repeat('x', EV_ID_MAX + 1);
	char json[2048];

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		snprintf(json, sizeof(json),
			 "{\"transaction_id\":\"t\","
			 "\"external_subscription_id\":\"s\",\"code\":\"c\","
			 "\"%s\":\"%s\"}", fields[i], id);
		parse_err1(json, EV_SHAPE_BARE, -1, fields[i],
			   "value_is_too_long");
	}
	free(id);
}

static void test_amount_errors(void **state)
{
	char *longnum = repeat('1', 257);
	char extra[512];

	(void)state;
	bare_err1("\"precise_total_amount_cents\":\"abc\"",
		  "precise_total_amount_cents", "invalid_format");
	bare_err1("\"precise_total_amount_cents\":\"1.2.3\"",
		  "precise_total_amount_cents", "invalid_format");
	bare_err1("\"precise_total_amount_cents\":\" 1\"",
		  "precise_total_amount_cents", "invalid_format");
	bare_err1("\"precise_total_amount_cents\":1e400",
		  "precise_total_amount_cents", "invalid_format");
	/* Its plain text has 300 digits after the point: more than a
	 * decimal holds. */
	bare_err1("\"precise_total_amount_cents\":1e-300",
		  "precise_total_amount_cents", "invalid_format");
	bare_err1("\"precise_total_amount_cents\":true",
		  "precise_total_amount_cents", "invalid_type");
	bare_err1("\"precise_total_amount_cents\":{}",
		  "precise_total_amount_cents", "invalid_type");
	snprintf(extra, sizeof(extra), "\"precise_total_amount_cents\":\"%s\"",
		 longnum);
	bare_err1(extra, "precise_total_amount_cents", "value_is_too_long");
	free(longnum);
}

static void test_property_errors(void **state)
{
	(void)state;
	bare_err1("\"properties\":[]", "properties", "invalid_type");
	bare_err1("\"properties\":\"x\"", "properties", "invalid_type");
	bare_err1("\"properties\":5", "properties", "invalid_type");
	bare_err1("\"properties\":true", "properties", "invalid_type");
	bare_err1("\"properties\":{\"k\":{\"a\":1}}", "properties.k",
		  "invalid_type");
	bare_err1("\"properties\":{\"k\":[1]}", "properties.k",
		  "invalid_type");
	bare_err1("\"properties\":{\"k\":true}", "properties.k",
		  "invalid_type");
	bare_err1("\"properties\":{\"k\":false}", "properties.k",
		  "invalid_type");
	bare_err1("\"properties\":{\"ok\":1,\"k\":null}", "properties.k",
		  "invalid_type");
	bare_err1("\"properties\":{\"k\":1e400}", "properties.k",
		  "invalid_format");
	bare_err1("\"properties\":{\"k\":-1e400}", "properties.k",
		  "invalid_format");
	bare_err1("\"properties\":{\"\":1}", "properties", "invalid_format");
}

static void test_property_sizes(void **state)
{
	char *key = repeat('k', EV_PROP_KEY_MAX + 1);
	char *val = repeat('v', EV_PROP_VAL_MAX + 1);
	char extra[4096], field[256];
	size_t off;

	(void)state;
	/* The field names the key cut to EV_PROP_KEY_MAX bytes. */
	snprintf(extra, sizeof(extra), "\"properties\":{\"%s\":1}", key);
	snprintf(field, sizeof(field), "properties.%.*s", EV_PROP_KEY_MAX,
		 key);
	bare_err1(extra, field, "value_is_too_long");

	snprintf(extra, sizeof(extra), "\"properties\":{\"k\":\"%s\"}", val);
	bare_err1(extra, "properties.k", "value_is_too_long");

	off = (size_t)snprintf(extra, sizeof(extra), "\"properties\":{");
	for (int i = 0; i <= EV_PROPS_MAX; i++)
		off += (size_t)snprintf(extra + off, sizeof(extra) - off,
					"%s\"p%d\":%d", i ? "," : "", i, i);
	snprintf(extra + off, sizeof(extra) - off, "}");
	bare_err1(extra, "properties", "value_is_too_long");
	free(key);
	free(val);
}

static void test_long_key_cut_on_char(void **state)
{
	/* 127 ASCII bytes then a 2-byte character: the cut at 128 bytes
	 * would split it, so the field keeps 127. */
	char key[256], extra[512], field[256];

	(void)state;
	memset(key, 'a', 127);
	strcpy(key + 127, "\xc3\xa9\xc3\xa9");
	snprintf(extra, sizeof(extra), "\"properties\":{\"%s\":1}", key);
	snprintf(field, sizeof(field), "properties.%.127s", key);
	bare_err1(extra, field, "value_is_too_long");
}

static void test_shape_errors(void **state)
{
	(void)state;
	parse_err1("{}", EV_SHAPE_SINGLE, -1, "event", "value_is_mandatory");
	parse_err1("{\"event\":null}", EV_SHAPE_SINGLE, -1, "event",
		   "value_is_mandatory");
	parse_err1("{\"event\":[]}", EV_SHAPE_SINGLE, -1, "event",
		   "invalid_type");
	parse_err1("{\"event\":\"x\"}", EV_SHAPE_SINGLE, -1, "event",
		   "invalid_type");
	parse_err1("{\"events\":[]}", EV_SHAPE_SINGLE, -1, "event",
		   "value_is_mandatory");
	parse_err1("{}", EV_SHAPE_BATCH, -1, "events", "value_is_mandatory");
	parse_err1("{\"events\":null}", EV_SHAPE_BATCH, -1, "events",
		   "value_is_mandatory");
	parse_err1("{\"events\":{}}", EV_SHAPE_BATCH, -1, "events",
		   "invalid_type");
	parse_err1("{\"events\":\"[]\"}", EV_SHAPE_BATCH, -1, "events",
		   "invalid_type");
	parse_err1("{\"events\":[]}", EV_SHAPE_BATCH, -1, "events",
		   "no_events");
	parse_err1("{\"event\":{}}", EV_SHAPE_BATCH, -1, "events",
		   "value_is_mandatory");
	parse_err1("{\"events\":[{\"transaction_id\":\"t\","
		   "\"external_subscription_id\":\"s\",\"code\":\"c\"},5]}",
		   EV_SHAPE_BATCH, 1, "event", "invalid_type");
	parse_err1("{\"events\":[null]}", EV_SHAPE_BATCH, 0, "event",
		   "invalid_type");
	parse_err1("{\"events\":[[]]}", EV_SHAPE_BATCH, 0, "event",
		   "invalid_type");
	/* A top level that is not an object, in every shape. */
	parse_err1("[]", EV_SHAPE_BARE, -1, "body", "invalid_type");
	parse_err1("[{}]", EV_SHAPE_BATCH, -1, "body", "invalid_type");
	parse_err1("\"x\"", EV_SHAPE_SINGLE, -1, "body", "invalid_type");
	parse_err1("5", EV_SHAPE_BARE, -1, "body", "invalid_type");
	parse_err1("null", EV_SHAPE_BATCH, -1, "body", "invalid_type");
}

static void test_body_errors(void **state)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "{\"a\":}", "{\"a\":1,}", "{'a':1}",
		"{\"a\":1} x", "{\"a\":1}{}", "{\"a\":1}]", "{\"a\":1} \x01",
		"{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xc0\xaf\"}",
		"{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
		"{\"a\":\"\xe0\x80\xaf\"}", "{\"a\":\"\xf0\x80\x80\xaf\"}",
		"{\"a\":\"\xf8\x88\x80\x80\x80\"}", "{\"a\":\"\xe2\x82\"}",
		"{\"a\":\"\\ud800\"}", "{\"a\":tru}", "nul",
	};
	struct ev_batch b;
	struct ev_errs errs;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (int shape = 0; shape < 3; shape++)
			parse_err1(bad[i], (enum ev_shape)shape, -1, "body",
				   "invalid_json");

	/* A NUL byte inside the length is not JSON. */
	assert_int_equal(ev_parse("{\"a\":\"x\0\"}", 10, EV_SHAPE_BARE, 0, NOW,
				  &b, &errs), TLY_EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.e[0].code, "invalid_json");
	assert_empty(&b);
	/* The length is the end, even without a NUL after it. */
	assert_int_equal(ev_parse("{}garbage", 2, EV_SHAPE_BATCH, 0, NOW, &b,
				  &errs), TLY_EINVAL);
	assert_string_equal(errs.e[0].field, "events");
	assert_int_equal(ev_parse(NULL, 5, EV_SHAPE_BARE, 0, NOW, &b, &errs),
			 TLY_EINVAL);
	assert_string_equal(errs.e[0].code, "invalid_json");
	/* A NUL escape would cut the string short: refused. */
	parse_err1("{\"transaction_id\":\"tx\\u0000b\","
		   "\"external_subscription_id\":\"s\",\"code\":\"c\"}",
		   EV_SHAPE_BARE, -1, "body", "invalid_format");
}

static void test_errors_collected(void **state)
{
	static const char json[] =
		"{\"external_subscription_id\":5,\"code\":\"\","
		"\"timestamp\":\"x\",\"precise_total_amount_cents\":\"y\","
		"\"properties\":{\"a\":[],\"b\":1,\"c\":{}}}";
	struct ev_batch b;
	struct ev_errs errs;

	(void)state;
	assert_int_equal(parse(json, EV_SHAPE_BARE, &b, &errs), TLY_EINVAL);
	assert_empty(&b);
	assert_int_equal(errs.n, 7);
	assert_int_equal(errs.dropped, 0);
	assert_string_equal(errs.e[0].field, "transaction_id");
	assert_string_equal(errs.e[0].code, "value_is_mandatory");
	assert_string_equal(errs.e[1].field, "external_subscription_id");
	assert_string_equal(errs.e[1].code, "invalid_type");
	assert_string_equal(errs.e[2].field, "code");
	assert_string_equal(errs.e[2].code, "value_is_mandatory");
	assert_string_equal(errs.e[3].field, "timestamp");
	assert_string_equal(errs.e[3].code, "invalid_format");
	assert_string_equal(errs.e[4].field, "precise_total_amount_cents");
	assert_string_equal(errs.e[4].code, "invalid_format");
	assert_string_equal(errs.e[5].field, "properties.a");
	assert_string_equal(errs.e[5].code, "invalid_type");
	assert_string_equal(errs.e[6].field, "properties.c");
	assert_string_equal(errs.e[6].code, "invalid_type");
	for (size_t i = 0; i < errs.n; i++)
		assert_int_equal(errs.e[i].index, -1);
}

static void test_batch_errors_collected(void **state)
{
	static const char json[] =
		"{\"events\":["
		"{\"external_subscription_id\":\"s\",\"code\":\"c\"},"
		"{\"transaction_id\":\"t\",\"external_subscription_id\":\"s\","
		"\"code\":\"c\"},"
		"7,"
		"{\"transaction_id\":\"t\",\"external_subscription_id\":\"s\","
		"\"code\":\"c\",\"timestamp\":\"soon\"}]}";
	struct ev_batch b;
	struct ev_errs errs;

	(void)state;
	assert_int_equal(parse(json, EV_SHAPE_BATCH, &b, &errs), TLY_EINVAL);
	assert_empty(&b);
	assert_int_equal(errs.n, 3);
	assert_int_equal(errs.e[0].index, 0);
	assert_string_equal(errs.e[0].field, "transaction_id");
	assert_int_equal(errs.e[1].index, 2);
	assert_string_equal(errs.e[1].field, "event");
	assert_string_equal(errs.e[1].code, "invalid_type");
	assert_int_equal(errs.e[2].index, 3);
	assert_string_equal(errs.e[2].field, "timestamp");
	assert_string_equal(errs.e[2].code, "invalid_format");
}

static void test_errors_dropped(void **state)
{
	char json[8192];
	size_t off;
	struct ev_batch b;
	struct ev_errs errs;
	char line[4096];

	(void)state;
	/* 40 events, each missing transaction_id and code: 80 errors. */
	off = (size_t)snprintf(json, sizeof(json), "{\"events\":[");
	for (int i = 0; i < 40; i++)
		off += (size_t)snprintf(json + off, sizeof(json) - off,
			"%s{\"external_subscription_id\":\"s\"}",
			i ? "," : "");
	snprintf(json + off, sizeof(json) - off, "]}");
	assert_int_equal(parse(json, EV_SHAPE_BATCH, &b, &errs), TLY_EINVAL);
	assert_int_equal(errs.n, EV_ERRS_MAX);
	assert_int_equal(errs.dropped, 80 - EV_ERRS_MAX);
	assert_int_equal(errs.e[EV_ERRS_MAX - 1].index, EV_ERRS_MAX / 2 - 1);
	assert_string_equal(errs.e[EV_ERRS_MAX - 1].field, "code");
	ev_errs_line(&errs, line, sizeof(line));
	assert_non_null(strstr(line, "; events[15].code: "
			       "value_is_mandatory (+48 more)"));
	assert_int_equal(strlen(strstr(line, " (+48 more)")), 11);
}

/* ---- ev_from_json on a tree built by code --------------------------- */

static void test_from_json_built_tree(void **state)
{
	cJSON *obj = cJSON_CreateObject(), *props;
	struct event ev;
	struct ev_errs errs = { .n = 0 };

	(void)state;
	assert_non_null(obj);
	cJSON_AddStringToObject(obj, "transaction_id", "t");
	cJSON_AddStringToObject(obj, "external_subscription_id", "s");
	cJSON_AddStringToObject(obj, "code", "c");
	cJSON_AddNumberToObject(obj, "timestamp", 1764000000.25);
	props = cJSON_AddObjectToObject(obj, "properties");
	/* A constant key, which the replacement must carry and not free. */
	cJSON_AddItemToObjectCS(props, "n", cJSON_CreateNumber(2.5));
	cJSON_AddNumberToObject(props, "m", 3);
	assert_int_equal(ev_from_json(obj, NOW, 7, &ev, &errs), TLY_OK);
	assert_int_equal(errs.n, 0);
	assert_true(ev.ts_ms == INT64_C(1764000000250));
	assert_string_equal(ev_prop(&ev, "n"), "2.5");
	assert_string_equal(ev_prop(&ev, "m"), "3");
	assert_true(props->child->type & cJSON_StringIsConst);
	/* Normalising again changes nothing. */
	assert_int_equal(ev_from_json(obj, NOW, 7, &ev, &errs), TLY_OK);
	assert_json(obj, "{\"transaction_id\":\"t\","
		    "\"external_subscription_id\":\"s\",\"code\":\"c\","
		    "\"timestamp\":1764000000.25,"
		    "\"properties\":{\"n\":\"2.5\",\"m\":\"3\"}}");

	/* Errors carry the index given, and ev is left zeroed. */
	cJSON_AddTrueToObject(props, "bad");
	assert_int_equal(ev_from_json(obj, NOW, 7, &ev, &errs), TLY_EINVAL);
	assert_int_equal(errs.n, 1);
	assert_int_equal(errs.e[0].index, 7);
	assert_string_equal(errs.e[0].field, "properties.bad");
	assert_null(ev.transaction_id);
	assert_null(ev.props);
	cJSON_Delete(obj);

	errs.n = 0;
	assert_int_equal(ev_from_json(NULL, NOW, 3, &ev, &errs), TLY_EINVAL);
	assert_int_equal(errs.e[0].index, 3);
	assert_string_equal(errs.e[0].field, "event");
	assert_string_equal(errs.e[0].code, "invalid_type");
}

/* ---- The 422 body and the line -------------------------------------- */

static void test_errs_json_single(void **state)
{
	struct ev_batch b;
	struct ev_errs errs;
	char *body;

	(void)state;
	assert_int_equal(parse("{\"event\":{\"external_subscription_id\":"
			       "\"s\"}}", EV_SHAPE_SINGLE, &b, &errs),
			 TLY_EINVAL);
	body = ev_errs_json(&errs);
	assert_non_null(body);
	assert_string_equal(body, "{\"status\":422,\"error\":"
			    "\"Unprocessable Entity\",\"code\":"
			    "\"validation_errors\",\"error_details\":{"
			    "\"transaction_id\":[\"value_is_mandatory\"],"
			    "\"code\":[\"value_is_mandatory\"]}}");
	free(body);

	assert_int_equal(parse("{\"events\":[]}", EV_SHAPE_BATCH, &b, &errs),
			 TLY_EINVAL);
	body = ev_errs_json(&errs);
	assert_string_equal(body, "{\"status\":422,\"error\":"
			    "\"Unprocessable Entity\",\"code\":"
			    "\"validation_errors\",\"error_details\":{"
			    "\"events\":[\"no_events\"]}}");
	free(body);
}

static void test_errs_json_batch(void **state)
{
	static const char json[] =
		"{\"events\":["
		"{\"external_subscription_id\":\"s\",\"code\":\"c\"},"
		"{\"transaction_id\":\"t\",\"external_subscription_id\":\"s\","
		"\"code\":\"c\"},"
		"{\"transaction_id\":\"t\",\"external_subscription_id\":\"s\","
		"\"code\":\"c\"},"
		"{\"transaction_id\":\"t\",\"external_subscription_id\":\"s\","
		"\"code\":\"c\",\"timestamp\":\"soon\","
		"\"properties\":{\"x\":[]}}]}";
	struct ev_batch b;
	struct ev_errs errs;
	char *body;

	(void)state;
	assert_int_equal(parse(json, EV_SHAPE_BATCH, &b, &errs), TLY_EINVAL);
	body = ev_errs_json(&errs);
	assert_non_null(body);
	assert_string_equal(body, "{\"status\":422,\"error\":"
			    "\"Unprocessable Entity\",\"code\":"
			    "\"validation_errors\",\"error_details\":{"
			    "\"0\":{\"transaction_id\":"
			    "[\"value_is_mandatory\"]},"
			    "\"3\":{\"timestamp\":[\"invalid_format\"],"
			    "\"properties.x\":[\"invalid_type\"]}}}");
	free(body);
}

static void test_errs_json_repeated_field(void **state)
{
	struct ev_errs errs = {
		.e = {
			ERR(-1, "properties", "invalid_format"),
			ERR(-1, "code", "value_is_mandatory"),
			ERR(-1, "properties", "value_is_too_long"),
		},
		.n = 3,
	};
	char *body = ev_errs_json(&errs);

	(void)state;
	assert_non_null(body);
	assert_string_equal(body, "{\"status\":422,\"error\":"
			    "\"Unprocessable Entity\",\"code\":"
			    "\"validation_errors\",\"error_details\":{"
			    "\"properties\":[\"invalid_format\","
			    "\"value_is_too_long\"],"
			    "\"code\":[\"value_is_mandatory\"]}}");
	free(body);

	/* An escaped key comes out escaped. */
	errs.n = 1;
	strcpy(errs.e[0].field, "properties.a\"\n");
	body = ev_errs_json(&errs);
	assert_non_null(strstr(body, "{\"properties.a\\\"\\n\":["));
	free(body);
}

static void test_errs_line(void **state)
{
	struct ev_errs errs = {
		.e = {
			ERR(-1, "transaction_id", "value_is_mandatory"),
			ERR(3, "timestamp", "invalid_format"),
		},
		.n = 2,
	};
	char line[256], small[12];

	(void)state;
	ev_errs_line(&errs, line, sizeof(line));
	assert_string_equal(line, "transaction_id: value_is_mandatory; "
			    "events[3].timestamp: invalid_format");
	errs.dropped = 5;
	ev_errs_line(&errs, line, sizeof(line));
	assert_string_equal(line, "transaction_id: value_is_mandatory; "
			    "events[3].timestamp: invalid_format (+5 more)");

	/* Cut to the buffer, always terminated. */
	memset(small, 'Z', sizeof(small));
	ev_errs_line(&errs, small, sizeof(small));
	assert_string_equal(small, "transaction");
	ev_errs_line(&errs, small, 1);
	assert_string_equal(small, "");
	small[0] = 'Z';
	ev_errs_line(&errs, small, 0);
	assert_int_equal(small[0], 'Z');

	/* No errors: an empty line. */
	errs.n = 0;
	errs.dropped = 0;
	ev_errs_line(&errs, line, sizeof(line));
	assert_string_equal(line, "");

	/* Control characters of a key cannot break the line; a cut never
	 * splits a UTF-8 character. */
	errs.n = 1;
	strcpy(errs.e[0].field, "properties.a\nb\r\x7f\xc3\xa9");
	ev_errs_line(&errs, line, sizeof(line));
	assert_string_equal(line, "properties.a?b??\xc3\xa9: "
			    "value_is_mandatory");
	ev_errs_line(&errs, line, 18);
	assert_string_equal(line, "properties.a?b??");
}

/* ---- Odds and ends -------------------------------------------------- */

static void test_ev_prop(void **state)
{
	struct ev_batch b;

	(void)state;
	bare_ok("\"properties\":{\"A\":\"1\",\"a\":2}", &b);
	assert_string_equal(ev_prop(&b.evs[0], "A"), "1");
	assert_string_equal(ev_prop(&b.evs[0], "a"), "2");
	assert_null(ev_prop(&b.evs[0], "b"));
	assert_null(ev_prop(&b.evs[0], NULL));
	assert_null(ev_prop(NULL, "a"));
	ev_batch_free(&b);
}

static void test_now_and_free(void **state)
{
	int64_t now = ev_now_ms(), t = (int64_t)time(NULL) * 1000;
	struct ev_batch b = { 0 };

	(void)state;
	assert_true(now >= t - 2000 && now <= t + 2000);
	ev_batch_free(NULL);
	ev_batch_free(&b);
	bare_ok("", &b);
	ev_batch_free(&b);
	ev_batch_free(&b);
	assert_empty(&b);
}

static void test_errs_json_none(void **state)
{
	char *body = ev_errs_json(NULL);

	(void)state;
	assert_non_null(body);
	assert_string_equal(body, "{\"status\":422,\"error\":"
			    "\"Unprocessable Entity\",\"code\":"
			    "\"validation_errors\",\"error_details\":{}}");
	free(body);
}

/* ---- Out of memory ------------------------------------------------- */

/*
 * Fail each allocation under cJSON in turn (jsonmem's arena and its
 * blocks, then each of cJSON's own outside an arena): the parse must
 * report it (as ENOMEM, or as invalid_json when cJSON's parser hit it,
 * which cannot tell), leave the batch empty and leak nothing (ASan
 * checks that).
 */
static void test_alloc_failures(void **state)
{
	static const char json[] =
		"{\"events\":[{\"transaction_id\":\"a\","
		"\"external_subscription_id\":\"s\",\"code\":\"c\","
		"\"precise_total_amount_cents\":1.5,"
		"\"properties\":{\"x\":1,\"y\":\"z\",\"w\":2}},"
		"{\"transaction_id\":\"b\",\"external_customer_id\":\"u\","
		"\"code\":\"c\",\"properties\":null},"
		"{\"transaction_id\":\"c\",\"external_subscription_id\":\"s\","
		"\"code\":\"c\"}]}";
	struct ev_batch b;
	struct ev_errs errs;
	char *body;
	int rc, failures = 0;

	(void)state;
	jsonmem_set_allocator(failing_malloc, free);
	for (fail_at = 1;; fail_at++) {
		allocs = 0;
		rc = parse(json, EV_SHAPE_BATCH, &b, &errs);
		if (allocs < fail_at) {
			assert_int_equal(rc, TLY_OK);
			assert_string_equal(ev_prop(&b.evs[0], "w"), "2");
			ev_batch_free(&b);
			break;
		}
		failures++;
		if (rc == TLY_EINVAL) {
			assert_int_equal(errs.n, 1);
			assert_string_equal(errs.e[0].code, "invalid_json");
		} else {
			assert_int_equal(rc, TLY_ENOMEM);
		}
		assert_empty(&b);
	}
	assert_true(failures >= 2);	/* the arena, its block */

	fail_at = 0;
	assert_int_equal(parse("{\"events\":[{\"code\":1},{}]}",
			       EV_SHAPE_BATCH, &b, &errs), TLY_EINVAL);
	for (fail_at = 1;; fail_at++) {
		allocs = 0;
		body = ev_errs_json(&errs);
		if (allocs < fail_at) {
			assert_non_null(body);
			assert_non_null(strstr(body,
					       "\"1\":{\"transaction_id\""));
			free(body);
			break;
		}
		assert_null(body);
	}
	assert_true(fail_at > 20);
	jsonmem_set_allocator(NULL, NULL);
}

static void test_null_arguments(void **state)
{
	struct ev_batch b;
	struct ev_errs errs = { .n = 0 };
	struct event ev;
	char line[8] = "x";

	(void)state;
	assert_int_equal(ev_parse("{}", 2, EV_SHAPE_BARE, 0, NOW, NULL, &errs),
			 TLY_EINVAL);
	assert_int_equal(ev_parse("{}", 2, EV_SHAPE_BARE, 0, NOW, &b, NULL),
			 TLY_EINVAL);
	assert_int_equal(ev_from_json(NULL, NOW, 0, NULL, &errs), TLY_EINVAL);
	assert_int_equal(ev_from_json(NULL, NOW, 0, &ev, NULL), TLY_EINVAL);
	assert_int_equal(errs.n, 0);
	ev_errs_line(NULL, line, sizeof(line));
	assert_string_equal(line, "");
	ev_errs_line(&errs, NULL, 5);
}

static void test_errs_line_wide_chars(void **state)
{
	struct ev_errs errs = { .n = 1 };
	char line[64];

	(void)state;
	errs.e[0].index = 0;
	errs.e[0].code = "invalid_type";
	/* A 4-byte and a 3-byte character, then cuts inside each. */
	strcpy(errs.e[0].field, "properties.\xf0\x9f\x98\x80\xe6\x97\xa5");
	ev_errs_line(&errs, line, sizeof(line));
	assert_string_equal(line, "events[0].properties.\xf0\x9f\x98\x80"
			    "\xe6\x97\xa5: invalid_type");
	ev_errs_line(&errs, line, 10 + 11 + 4);
	assert_string_equal(line, "events[0].properties.");
	ev_errs_line(&errs, line, 10 + 11 + 4 + 1 + 2);
	assert_string_equal(line, "events[0].properties.\xf0\x9f\x98\x80");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bare_every_field),
		cmocka_unit_test(test_single_shape),
		cmocka_unit_test(test_batch_shape),
		cmocka_unit_test(test_batch_max_events),
		cmocka_unit_test(test_properties_absent_or_null),
		cmocka_unit_test(test_customer_only_and_blank_sub),
		cmocka_unit_test(test_id_lengths),
		cmocka_unit_test(test_whitespace_and_unicode),
		cmocka_unit_test(test_duplicate_keys_last_wins),
		cmocka_unit_test(test_property_numbers),
		cmocka_unit_test(test_property_numbers_in_tree),
		cmocka_unit_test(test_property_limits_ok),
		cmocka_unit_test(test_amount),
		cmocka_unit_test(test_timestamp_forms),
		cmocka_unit_test(test_timestamp_absent_is_now),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_timestamp_errors),
		cmocka_unit_test(test_id_errors),
		cmocka_unit_test(test_id_too_long),
		cmocka_unit_test(test_amount_errors),
		cmocka_unit_test(test_property_errors),
		cmocka_unit_test(test_property_sizes),
		cmocka_unit_test(test_long_key_cut_on_char),
		cmocka_unit_test(test_shape_errors),
		cmocka_unit_test(test_body_errors),
		cmocka_unit_test(test_errors_collected),
		cmocka_unit_test(test_batch_errors_collected),
		cmocka_unit_test(test_errors_dropped),
		cmocka_unit_test(test_from_json_built_tree),
		cmocka_unit_test(test_errs_json_single),
		cmocka_unit_test(test_errs_json_batch),
		cmocka_unit_test(test_errs_json_repeated_field),
		cmocka_unit_test(test_errs_line),
		cmocka_unit_test(test_ev_prop),
		cmocka_unit_test(test_now_and_free),
		cmocka_unit_test(test_errs_json_none),
		cmocka_unit_test_teardown(test_alloc_failures, reset_hooks),
		cmocka_unit_test(test_null_arguments),
		cmocka_unit_test(test_errs_line_wide_chars),
	};

	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
