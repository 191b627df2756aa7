/*
 * test_agg.c - aggregation over a period from merged records and raw
 * events together: each type, filters, the period's bounds, recurring
 * metrics, unique_count's add/remove, and units rounding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg.h"
#include "err.h"
#include "log.h"
#include "store.h"

static char dir[64];
static struct store *st;
static struct store_conn *c;

/* 2025-11-01T00:00:00Z and the last ms of November. */
#define NOV1 1761955200000LL
#define NOV30_END (1764547200000LL - 1)

static int setup(void **state)
{
	char url[128];

	(void)state;
	strcpy(dir, "/tmp/tally-agg-XXXXXX");
	assert_non_null(mkdtemp(dir));
	log_init("test", LOG_ERROR + 1);
	snprintf(url, sizeof(url), "sqlite:%s/c.db", dir);
	assert_int_equal(store_open(&st, url), TLY_OK);
	c = store_acquire(st);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	store_release(c);
	store_close(&st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
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

	snprintf(sql, sizeof(sql), "INSERT INTO events VALUES ('%s', 's1', "
		 "'%s', 's1', NULL, '%s', %lld, '%s', NULL, 'api', %lld)", tx, tx,
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

/* Aggregate and return the units as text (static buffer). */
static const char *run(const char *code, const char *type, const char *field,
		       const char *match, const char *exclude, int recurring,
		       int64_t *events)
{
	static char out[128];
	struct agg_query q = {"s1", code, type, field, recurring, NOV1,
			      NOV30_END, NULL, NULL, NULL, 0};
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
	struct agg_query q = {"s1", "gb", "sum_agg", "gb", 0, NOV1, NOV30_END,
			      NULL, NULL, "round", 2};
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
	q.type = "weighted_sum_agg";
	agg_result_init(&r);
	assert_int_equal(agg_run(c, &q, &r), TLY_EINVAL);
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
	};

	return cmocka_run_group_tests_name("agg", tests, NULL, NULL);
}
