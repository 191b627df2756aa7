/*
 * test_agg.c - aggregation over a period from merged records and raw
 * events together: each type, filters, the period's bounds, recurring
 * metrics, unique_count's add/remove, and units rounding.  weighted_sum's
 * expected values come from Lago's spec or from Lago's own SQL
 * (weighted_sum_query.rb) run on PostgreSQL 15, then .ceil(20).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg.h"
#include "err.h"
#include "log.h"
#include "store.h"

static char dir[TMPDIR_LEN];
static struct store *st;
static struct store_conn *c;

/* 2025-11-01T00:00:00Z and the last ms of November. */
#define NOV1 1761955200000LL
#define NOV30_END (1764547200000LL - 1)
#define DAY_MS 86400000LL
/* Lago's spec period: 2023-08-01T00:00:00Z to 2023-08-31T23:59:59.999Z. */
#define AUG1 1690848000000LL
#define AUG31_END (1693526400000LL - 1)
#define HOUR_MS 3600000LL

static int setup(void **state)
{
	char url[128];

	(void)state;
	tmpdir_make(dir, "agg");
	log_init("test", LOG_ERROR + 1);
	snprintf(url, sizeof(url), "sqlite:%s/c.db", dir);
	assert_int_equal(store_open(&st, url), TLY_OK);
	c = store_acquire(st);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	store_release(c);
	store_close(&st);
	tmpdir_remove(dir);
	return 0;
}

static void exec(const char *sql)
{
	assert_int_equal(store_exec(c, sql), TLY_OK);
}

/* A merged record at minute (seconds) with filters JSON. */
static void usage(const char *code, const char *filters, int64_t minute,
		  int count, const char *sum, const char *max,
		  const char *latest, int64_t latest_ts)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "INSERT INTO usage VALUES ('s1', '%s', '%s',"
		 " %lld, %d, %s%s%s, %s%s%s, %s%s%s, %lld)", code, filters,
		 (long long)minute, count, sum ? "'" : "", sum ? sum : "NULL",
		 sum ? "'" : "", max ? "'" : "", max ? max : "NULL",
		 max ? "'" : "", latest ? "'" : "", latest ? latest : "NULL",
		 latest ? "'" : "", (long long)latest_ts);
	exec(sql);
}

static void event(const char *tx, const char *code, int64_t ts_ms,
		  const char *props)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "INSERT INTO events (lago_id, sub_key, "
		 "transaction_id, sub, customer, code, ts_ms, properties, "
		 "precise_total_amount_cents, source, created_at) VALUES ('%s', "
		 "'s1', '%s', 's1', NULL, '%s', %lld, '%s', NULL, 'api', %lld)", tx, tx,
		 code, (long long)ts_ms, props, (long long)ts_ms);
	exec(sql);
}

static void distinct(const char *code, int64_t minute, const char *value)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "INSERT INTO usage_distinct VALUES ('s1', "
		 "'%s', '{}', %lld, '%s')", code, (long long)minute, value);
	exec(sql);
}

/* Aggregate over [from, to] and return the units as text (static buffer). */
static const char *run_in(const char *code, const char *type,
			  const char *field, const char *match,
			  const char *exclude, int recurring, int64_t from,
			  int64_t to, int64_t *events)
{
	static char out[128];
	struct agg_query q = {.sub = "s1", .code = code, .type = type,
			      .field = field, .recurring = recurring,
			      .from_ms = from, .to_ms = to};
	struct agg_result r;
	cJSON *m = match ? cJSON_Parse(match) : NULL;
	cJSON *x = exclude ? cJSON_Parse(exclude) : NULL;

	q.match = m;
	q.exclude = x;
	agg_result_init(&r);
	assert_int_equal(agg_run(c, &q, &r), TLY_OK);
	dec_normalize(&r.units);
	assert_int_equal(dec_format(&r.units, out, sizeof(out)), TLY_OK);
	if (events)
		*events = r.events_count;
	agg_result_clear(&r);
	cJSON_Delete(m);
	cJSON_Delete(x);
	return out;
}

/* The same over November. */
static const char *run(const char *code, const char *type, const char *field,
		       const char *match, const char *exclude, int recurring,
		       int64_t *events)
{
	return run_in(code, type, field, match, exclude, recurring, NOV1,
		      NOV30_END, events);
}

/* weighted_sum_agg of property "v" over [from, to]. */
static const char *ws(const char *code, const char *match,
		      const char *exclude, int recurring, int64_t from,
		      int64_t to, int64_t *events)
{
	return run_in(code, "weighted_sum_agg", "v", match, exclude, recurring,
		      from, to, events);
}

/* An event of code at ts_ms whose property "v" is value. */
static void wev(const char *tx, const char *code, int64_t ts_ms,
		const char *value)
{
	char props[128];

	snprintf(props, sizeof(props), "{\"v\":\"%s\"}", value);
	event(tx, code, ts_ms, props);
}

/* Lago's spec events (weighted_sum_service_spec.rb), from AUG1 on. */
static void lago_spec_events(const char *code)
{
	static const struct {
		int64_t min;
		const char *v;
	} e[] = {{0, "2"}, {60, "3"}, {90, "1"}, {120, "-4"}, {240, "-2"},
		 {300, "10"}, {330, "-10"}};
	char tx[32];

	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		snprintf(tx, sizeof(tx), "%s-%zu", code, i);
		wev(tx, code, AUG1 + e[i].min * 60000, e[i].v);
	}
}

static void test_count_and_sum_from_both_sources(void **state)
{
	int64_t n;

	(void)state;
	usage("gb", "{\"region\":\"eu\"}", NOV1 / 1000, 7, "0.7", NULL, NULL, 0);
	usage("gb", "{\"region\":\"us\"}", NOV1 / 1000 + 60, 3, "0.3", NULL,
	      NULL, 0);
	event("e1", "gb", NOV1 + 5000, "{\"gb\":\"0.1\",\"region\":\"eu\"}");
	event("e2", "gb", NOV1 + 6000, "{\"gb\":\"0.2\",\"region\":\"us\"}");
	/* Outside the period on either side: not counted. */
	usage("gb", "{\"region\":\"eu\"}", NOV1 / 1000 - 60, 100, "100", NULL,
	      NULL, 0);
	event("e3", "gb", NOV30_END + 1, "{\"gb\":\"50\"}");
	event("e4", "gb", NOV1 - 1, "{\"gb\":\"50\"}");
	assert_string_equal(run("gb", "sum_agg", "gb", NULL, NULL, 0, &n), "1.3");
	assert_int_equal(n, 12);
	assert_string_equal(run("gb", "count_agg", NULL, NULL, NULL, 0, &n),
			    "12");
	assert_string_equal(run("gb", "sum_agg", "gb",
				"{\"region\":[\"eu\"]}", NULL, 0, &n), "0.8");
	assert_int_equal(n, 8);
	/* The default slice is what no filter matched. */
	assert_string_equal(run("gb", "sum_agg", "gb", NULL,
				"[{\"region\":[\"eu\"]}]", 0, &n), "0.5");
	assert_string_equal(run("gb", "sum_agg", "gb",
				"{\"region\":[\"__ALL_FILTER_VALUES__\"]}", NULL,
				0, &n), "1.3");
	/* Recurring: the period's start does not bound it. */
	assert_string_equal(run("gb", "sum_agg", "gb", NULL, NULL, 1, &n),
			    "151.3");
}

static void test_max_and_latest(void **state)
{
	(void)state;
	usage("peak", "{}", NOV1 / 1000, 3, NULL, "12.5", "4", NOV1 / 1000 + 30);
	event("p1", "peak", NOV1 + 10000, "{\"v\":\"9\"}");
	event("p2", "peak", NOV1 + 60000, "{\"v\":\"13\"}");
	assert_string_equal(run("peak", "max_agg", "v", NULL, NULL, 0, NULL),
			    "13");
	usage("last", "{}", NOV1 / 1000, 3, NULL, NULL, "4", NOV1 / 1000 + 30);
	event("l1", "last", NOV1 + 10000, "{\"v\":\"9\"}");
	assert_string_equal(run("last", "latest_agg", "v", NULL, NULL, 0, NULL),
			    "4");
	event("l2", "last", NOV1 + 40000, "{\"v\":\"-3\"}");
	/* Lago clamps a negative latest value to 0. */
	assert_string_equal(run("last", "latest_agg", "v", NULL, NULL, 0, NULL),
			    "0");
	assert_string_equal(run("none", "max_agg", "v", NULL, NULL, 0, NULL),
			    "0");
}

static void test_unique_count_add_remove(void **state)
{
	int64_t n;

	(void)state;
	distinct("seats", NOV1 / 1000, "ann");
	distinct("seats", NOV1 / 1000, "bob");
	event("u1", "seats", NOV1 + 120000, "{\"u\":\"bob\",\"operation_type\":"
	      "\"remove\"}");
	event("u2", "seats", NOV1 + 180000, "{\"u\":\"cat\"}");
	event("u3", "seats", NOV1 + 240000, "{\"u\":\"cat\"}");
	assert_string_equal(run("seats", "unique_count_agg", "u", NULL, NULL, 0,
				&n), "2");
	/* Removed, then added again later: counted. */
	event("u4", "seats", NOV1 + 300000, "{\"u\":\"bob\"}");
	assert_string_equal(run("seats", "unique_count_agg", "u", NULL, NULL, 0,
				NULL), "3");
}

static void test_rounding_and_unknown_type(void **state)
{
	struct agg_query q = {.sub = "s1", .code = "gb", .type = "sum_agg",
			      .field = "gb", .from_ms = NOV1, .to_ms = NOV30_END,
			      .rounding_function = "round",
			      .rounding_precision = 2};
	struct agg_result r;
	char out[64];

	(void)state;
	event("r1", "gb", NOV1 + 1, "{\"gb\":\"123.4567\"}");
	agg_result_init(&r);
	assert_int_equal(agg_run(c, &q, &r), TLY_OK);
	dec_format(&r.units, out, sizeof(out));
	assert_string_equal(out, "123.46");
	assert_int_equal(r.nvalues, 1);
	agg_result_clear(&r);
	q.rounding_function = "floor";
	q.rounding_precision = -1;
	agg_result_init(&r);
	assert_int_equal(agg_run(c, &q, &r), TLY_OK);
	dec_format(&r.units, out, sizeof(out));
	assert_string_equal(out, "120");
	agg_result_clear(&r);
	q.type = "custom_agg";
	agg_result_init(&r);
	assert_int_equal(agg_run(c, &q, &r), TLY_EINVAL);
	agg_result_clear(&r);
}

static void test_weighted_sum_lago_spec(void **state)
{
	int64_t n;

	(void)state;
	/* Σ sum × seconds = 2×3600 + 5×1800 + 6×1800 + 2×7200 + 0 + 10×1800
	 * = 59400 over 31 days = 2678400 s; Lago's spec: 0.02218 at 5. */
	lago_spec_events("ws");
	assert_string_equal(ws("ws", NULL, NULL, 0, AUG1, AUG31_END, &n),
			    "0.02217741935483870968");
	assert_int_equal(n, 7);
	/* A single event at the start weighs the whole period: to_datetime
	 * (23:59:59.999) is ceiled to the next midnight. */
	wev("one", "ws1", AUG1, "1000");
	assert_string_equal(ws("ws1", NULL, NULL, 0, AUG1, AUG31_END, &n),
			    "1000");
	assert_int_equal(n, 1);
	/* Two events at the same time weigh together. */
	wev("t1", "ws2", AUG1, "3");
	wev("t2", "ws2", AUG1, "3");
	assert_string_equal(ws("ws2", NULL, NULL, 0, AUG1, AUG31_END, &n), "6");
	assert_int_equal(n, 2);
}

static void test_weighted_sum_recurring(void **state)
{
	int64_t n;

	(void)state;
	/* The initial value is the running sum before the period (1000):
	 * Lago's spec gives 1000.02218 at 5 places.  Each row's division
	 * rounds at PostgreSQL's scale (16 places once the quotient passes
	 * 1), hence ...866774 and not the exact ...870968. */
	wev("p1", "ws", AUG1 - 40 * DAY_MS, "600");
	wev("p2", "ws", AUG1 - 1, "400");
	lago_spec_events("ws");
	assert_string_equal(ws("ws", NULL, NULL, 1, AUG1, AUG31_END, &n),
			    "1000.02217741935483866774");
	assert_int_equal(n, 7);
	/* Not recurring: what came before the period does not count. */
	assert_string_equal(ws("ws", NULL, NULL, 0, AUG1, AUG31_END, &n),
			    "0.02217741935483870968");
	/* No event in the period: the carried value, whole. */
	wev("q1", "carry", AUG1 - 10 * DAY_MS, "5");
	wev("q2", "carry", AUG1 - 400 * DAY_MS, "2.5");
	assert_string_equal(ws("carry", NULL, NULL, 1, AUG1, AUG31_END, &n),
			    "7.5");
	assert_int_equal(n, 0);
	/* 7.5 for 15 days, then 10 for 15 days, over November's 30. */
	wev("q3", "carry", NOV1 + 15 * DAY_MS, "2.5");
	assert_string_equal(ws("carry", NULL, NULL, 1, NOV1, NOV30_END, &n),
			    "8.75");
	assert_int_equal(n, 1);
	assert_string_equal(ws("carry", NULL, NULL, 0, NOV1, NOV30_END, &n),
			    "1.25");
	/* Recurring without any past: 0. */
	assert_string_equal(ws("none", NULL, NULL, 1, NOV1, NOV30_END, &n),
			    "0");
}

static void test_weighted_sum_empty_period(void **state)
{
	int64_t n = -1;

	(void)state;
	assert_string_equal(ws("ws", NULL, NULL, 0, NOV1, NOV30_END, &n), "0");
	assert_int_equal(n, 0);
	/* A weighted sum ships raw: merged records are not read. */
	usage("ws", "{}", NOV1 / 1000, 4, "40", NULL, NULL, 0);
	assert_string_equal(ws("ws", NULL, NULL, 0, NOV1, NOV30_END, &n), "0");
	assert_int_equal(n, 0);
	/* Events after the period or, not recurring, before it: none. */
	wev("a", "ws", NOV30_END + 1, "9");
	wev("b", "ws", NOV1 - 1, "9");
	assert_string_equal(ws("ws", NULL, NULL, 0, NOV1, NOV30_END, &n), "0");
	assert_int_equal(n, 0);
}

/* Off by one second anywhere - the last segment ending at 23:59:59, or a
 * period of (to - from) whole seconds - changes every one of these. */
static void test_weighted_sum_period_seconds(void **state)
{
	(void)state;
	/* From the first instant: exactly the value. */
	wev("m0", "m0", NOV1, "1");
	assert_string_equal(ws("m0", NULL, NULL, 0, NOV1, NOV30_END, NULL),
			    "1");
	/* From the second second: 2591999 / 2592000. */
	wev("m1", "m1", NOV1 + 1000, "1");
	assert_string_equal(ws("m1", NULL, NULL, 0, NOV1, NOV30_END, NULL),
			    "0.9999996141975308642");
	/* A day: 86399 / 86400. */
	wev("d1", "d1", NOV1 + 1000, "1");
	assert_string_equal(ws("d1", NULL, NULL, 0, NOV1, NOV1 + DAY_MS - 1,
			       NULL), "0.99998842592592592593");
	/* The last ms weighs 1 ms: 1000 × 0.001 / 86400, ceiled at 20
	 * places (half-up would end in ...407). */
	wev("d2", "d2", NOV1 + DAY_MS - 1, "1000");
	assert_string_equal(ws("d2", NULL, NULL, 0, NOV1, NOV1 + DAY_MS - 1,
			       NULL), "0.00001157407407407408");
}

static void test_weighted_sum_filters(void **state)
{
	int64_t n;

	(void)state;
	event("f1", "wf", NOV1, "{\"v\":\"10\",\"region\":\"eu\"}");
	event("f2", "wf", NOV1 + 10 * DAY_MS,
	      "{\"v\":\"-4\",\"region\":\"eu\"}");
	event("f3", "wf", NOV1 + 15 * DAY_MS,
	      "{\"v\":\"5\",\"region\":\"us\"}");
	/* eu: 10 for 10 days, 6 for 20: 3.3333333333333333 (PostgreSQL's 16
	 * places) + 4. */
	assert_string_equal(ws("wf", "{\"region\":[\"eu\"]}", NULL, 0, NOV1,
			       NOV30_END, &n), "7.3333333333333333");
	assert_int_equal(n, 2);
	/* The default slice: us only, 5 for 15 days of 30. */
	assert_string_equal(ws("wf", NULL, "[{\"region\":[\"eu\"]}]", 0, NOV1,
			       NOV30_END, &n), "2.5");
	assert_int_equal(n, 1);
	/* All: 10, 6 from day 10, 11 from day 15. */
	assert_string_equal(ws("wf", NULL, NULL, 0, NOV1, NOV30_END, &n),
			    "9.8333333333333333");
	assert_int_equal(n, 3);
	/* Recurring: the initial value is filtered too. */
	event("f4", "wf", NOV1 - DAY_MS, "{\"v\":\"100\",\"region\":\"us\"}");
	assert_string_equal(ws("wf", "{\"region\":[\"eu\"]}", NULL, 1, NOV1,
			       NOV30_END, &n), "7.3333333333333333");
	assert_string_equal(ws("wf", "{\"region\":[\"us\"]}", NULL, 1, NOV1,
			       NOV30_END, &n), "102.5");
	assert_int_equal(n, 1);
}

static void test_weighted_sum_exact_decimals(void **state)
{
	struct agg_query q = {.sub = "s1", .code = "wd",
			      .type = "weighted_sum_agg", .field = "v",
			      .from_ms = NOV1, .to_ms = NOV1 + DAY_MS - 1,
			      .rounding_function = "ceil",
			      .rounding_precision = 3};
	struct agg_result r;
	int64_t n;
	char out[64];

	(void)state;
	/* Millisecond segments of decimal values, over one day. */
	wev("x1", "wd", NOV1 + 500, "0.1");
	wev("x2", "wd", NOV1 + 2250, "0.25");
	wev("x3", "wd", NOV1 + 6 * HOUR_MS, "-0.35");
	wev("x4", "wd", NOV1 + 12 * HOUR_MS, "1.005");
	/* Lago counts only ^-?\d+(\.\d+)?$ values. */
	wev("y1", "wd", NOV1 + 13 * HOUR_MS, "1e3");
	wev("y2", "wd", NOV1 + 13 * HOUR_MS, "abc");
	wev("y3", "wd", NOV1 + 14 * HOUR_MS, "+5");
	wev("y4", "wd", NOV1 + 15 * HOUR_MS, ".5");
	wev("y5", "wd", NOV1 + 16 * HOUR_MS, "5.");
	event("y6", "wd", NOV1 + 17 * HOUR_MS, "{\"w\":\"5\"}");
	assert_string_equal(ws("wd", NULL, NULL, 0, NOV1, NOV1 + DAY_MS - 1,
			       &n), "0.58999291087962962964");
	assert_int_equal(n, 4);
	/* The metric's rounding applies to the weighted sum. */
	agg_result_init(&r);
	assert_int_equal(agg_run(c, &q, &r), TLY_OK);
	dec_format(&r.units, out, sizeof(out));
	assert_string_equal(out, "0.590");
	assert_int_equal(r.events_count, 4);
	assert_int_equal(r.nvalues, 0);
	agg_result_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_count_and_sum_from_both_sources),
		T(test_max_and_latest),
		T(test_unique_count_add_remove),
		T(test_rounding_and_unknown_type),
		T(test_weighted_sum_lago_spec),
		T(test_weighted_sum_recurring),
		T(test_weighted_sum_empty_period),
		T(test_weighted_sum_period_seconds),
		T(test_weighted_sum_filters),
		T(test_weighted_sum_exact_decimals),
	};

	return cmocka_run_group_tests_name("agg", tests, NULL, NULL);
}
