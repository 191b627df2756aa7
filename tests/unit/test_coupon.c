/*
 * test_coupon.c - coupons on an invoice as Lago applies them: fixed and
 * percentage amounts (with Lago's spec numbers and its Float rounding),
 * a fixed coupon larger than the invoice, two coupons in order, the
 * recurring countdown, limitations to plans and metrics, the pro-rata
 * split over fees with remainders, and the store side: load order,
 * commit and the credits' JSON.
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

#include "coupon.h"
#include "err.h"
#include "log.h"
#include "store.h"

#define E5 COUPON_E5

/* ---- Building inputs ------------------------------------------------------ */

static struct coupon_applied *fixed(struct coupon_list *l, int64_t amount,
				    enum coupon_freq freq)
{
	struct coupon_applied *a;

	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	assert_non_null(l->v);
	a = &l->v[l->n++];
	memset(a, 0, sizeof(*a));
	snprintf(a->lago_id, sizeof(a->lago_id), "ac-%zu", l->n);
	snprintf(a->coupon_id, sizeof(a->coupon_id), "c-%zu", l->n);
	a->freq = freq;
	a->has_amount = 1;
	a->amount_cents = amount;
	strcpy(a->currency, "EUR");
	return a;
}

static struct coupon_applied *percent(struct coupon_list *l,
				      const char *rate, enum coupon_freq freq)
{
	struct coupon_applied *a = fixed(l, 0, freq);

	a->has_amount = 0;
	a->percentage = 1;
	a->currency[0] = '\0';
	snprintf(a->rate, sizeof(a->rate), "%s", rate);
	return a;
}

static void limit(struct coupon_applied *a, enum coupon_limit lim,
		  const char *target)
{
	a->limit = lim;
	a->targets = calloc(1, sizeof(*a->targets));
	assert_non_null(a->targets);
	snprintf(a->targets[0], UTIL_UUID_LEN, "%s", target);
	a->ntargets = 1;
}

static struct coupon_fee fee(int64_t cents, const char *plan,
			     const char *metric)
{
	struct coupon_fee f = {cents, plan, metric, 0};

	return f;
}

/* Apply on EUR with the sub-total the fees' sum; the coupons' total. */
static int64_t apply(struct coupon_list *l, struct coupon_fee *f, size_t n)
{
	int64_t sub = 0, total = -1;

	for (size_t i = 0; i < n; i++)
		sub += f[i].amount_cents;
	assert_int_equal(coupon_apply(l, "EUR", sub, f, n, &total), TLY_OK);
	return total;
}

/* ---- Fixed amounts -------------------------------------------------------- */

/* Lago's spec: 12 on fees of 200 and 100: 8 and 4, and the end. */
static void test_fixed_once(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(200, NULL, NULL), fee(100, NULL, NULL)};
	struct coupon_applied *a = fixed(&l, 12, COUPON_ONCE);

	(void)state;
	assert_int_equal(apply(&l, f, 2), 12);
	assert_true(a->applied);
	assert_int_equal(a->credit_cents, 12);
	assert_int_equal(f[0].coupons_e5, 8 * E5);
	assert_int_equal(f[1].coupons_e5, 4 * E5);
	assert_true(a->terminated);
	assert_true(a->has_remaining);
	assert_int_equal(a->remaining_cents, 0);
	coupon_list_free(&l);
}

/* Larger than the invoice: takes it all, keeps the rest for the next. */
static void test_fixed_larger_than_invoice(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(4, NULL, NULL), fee(2, NULL, NULL)};
	struct coupon_fee g[] = {fee(300, NULL, NULL)};
	struct coupon_applied *a = fixed(&l, 12, COUPON_ONCE);

	(void)state;
	assert_int_equal(apply(&l, f, 2), 6);
	assert_int_equal(a->credit_cents, 6);
	assert_int_equal(f[0].coupons_e5, 4 * E5);
	assert_int_equal(f[1].coupons_e5, 2 * E5);
	assert_false(a->terminated);
	assert_int_equal(a->remaining_cents, 6);
	/* The next invoice gets the 6 left, and the coupon ends. */
	assert_int_equal(apply(&l, g, 1), 6);
	assert_int_equal(g[0].coupons_e5, 6 * E5);
	assert_true(a->terminated);
	assert_int_equal(a->remaining_cents, 0);
	coupon_list_free(&l);
}

/* Forever: the amount on every invoice, never more than the base. */
static void test_fixed_forever(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(200, NULL, NULL), fee(100, NULL, NULL)};
	struct coupon_fee g[] = {fee(4, NULL, NULL), fee(2, NULL, NULL)};
	struct coupon_applied *a = fixed(&l, 12, COUPON_FOREVER);

	(void)state;
	assert_int_equal(apply(&l, f, 2), 12);
	assert_false(a->terminated);
	assert_false(a->has_remaining);
	assert_int_equal(apply(&l, g, 2), 6);
	assert_int_equal(g[0].coupons_e5, 4 * E5);
	assert_false(a->terminated);
	coupon_list_free(&l);
}

/* A fixed coupon of another currency is skipped; a percentage is not. */
static void test_currency(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(300, NULL, NULL)};

	(void)state;
	fixed(&l, 10, COUPON_ONCE);
	percent(&l, "10", COUPON_ONCE);
	strcpy(l.v[0].currency, "NOK");
	strcpy(l.v[1].currency, "NOK");
	assert_int_equal(apply(&l, f, 1), 30);
	assert_false(l.v[0].applied);
	assert_true(l.v[1].applied);
	assert_int_equal(l.v[1].credit_cents, 30);
	coupon_list_free(&l);
}

/* ---- Percentages ------------------------------------------------------------ */

/* Lago's spec: 20% of 300 on 200 + 100, and 20% of 123 is 25. */
static void test_percentage(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(200, NULL, NULL), fee(100, NULL, NULL)};
	struct coupon_fee g[] = {fee(123, NULL, NULL)};
	struct coupon_applied *a = percent(&l, "20.00000", COUPON_ONCE);

	(void)state;
	assert_int_equal(apply(&l, f, 2), 60);
	assert_int_equal(f[0].coupons_e5, 40 * E5);
	assert_int_equal(f[1].coupons_e5, 20 * E5);
	assert_true(a->terminated);
	assert_false(a->has_remaining);
	a->terminated = 0;
	assert_int_equal(apply(&l, g, 1), 25);		/* 24.6 */
	/* 100% or more takes the base, no more. */
	snprintf(a->rate, sizeof(a->rate), "150");
	assert_int_equal(apply(&l, g, 1), 123);
	coupon_list_free(&l);
}

/*
 * Lago rounds base * rate.fdiv(100), a Float: 0.7% of 500 is 3.5, but
 * 500 * 0.007 in doubles is 3.4999999999999996, so 3; likewise 0.12% of
 * 1250 is 1.  A tie exact in binary (12.5% of 4 = 0.5) goes up.
 */
static void test_percentage_float_rounding(void **state)
{
	static const struct {
		const char *rate;
		int64_t base, want;
	} cases[] = {
		{"0.7", 500, 3}, {"0.12", 1250, 1}, {"12.5", 4, 1},
		{"7", 50, 4}, {"33.33333", 100, 33}, {"2.5", 1010, 25},
		{"0.5", 101, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct coupon_list l = {0};
		struct coupon_fee f[] = {fee(cases[i].base, NULL, NULL)};

		percent(&l, cases[i].rate, COUPON_FOREVER);
		assert_int_equal(apply(&l, f, 1), cases[i].want);
		coupon_list_free(&l);
	}
}

/* ---- Several coupons, countdown ------------------------------------------- */

/* The second coupon applies to what the first left. */
static void test_two_coupons_in_order(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(600, NULL, NULL), fee(400, NULL, NULL)};

	(void)state;
	fixed(&l, 100, COUPON_ONCE);
	percent(&l, "10", COUPON_ONCE);
	assert_int_equal(apply(&l, f, 2), 190);
	assert_int_equal(l.v[0].credit_cents, 100);
	assert_int_equal(l.v[1].credit_cents, 90);
	/* 60 + 90 x 540 / 900 and 40 + 90 x 360 / 900. */
	assert_int_equal(f[0].coupons_e5, 114 * E5);
	assert_int_equal(f[1].coupons_e5, 76 * E5);
	coupon_list_free(&l);
}

/* Once the sub-total is 0 the later coupons are not reached. */
static void test_stops_at_zero(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(500, NULL, NULL)};
	struct coupon_fee z[] = {fee(0, NULL, NULL)};

	(void)state;
	fixed(&l, 1000, COUPON_ONCE);
	fixed(&l, 10, COUPON_RECURRING)->has_duration = 1;
	l.v[1].duration_remaining = 3;
	assert_int_equal(apply(&l, f, 1), 500);
	assert_false(l.v[1].applied);
	assert_int_equal(l.v[1].duration_remaining, 3);
	assert_int_equal(l.v[0].remaining_cents, 500);
	/* No fees to speak of: nothing at all. */
	assert_int_equal(apply(&l, z, 1), 0);
	assert_false(l.v[0].applied);
	coupon_list_free(&l);
}

/* Lago's spec: recurring counts down to 0, then ends; never below 0. */
static void test_recurring_countdown(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(200, NULL, NULL), fee(100, NULL, NULL)};
	struct coupon_applied *a = fixed(&l, 12, COUPON_RECURRING);

	(void)state;
	a->has_duration = 1;
	a->duration_remaining = 3;
	for (int64_t left = 2; left >= 0; left--) {
		assert_int_equal(apply(&l, f, 2), 12);
		assert_int_equal(f[0].coupons_e5, 8 * E5);
		assert_int_equal(a->duration_remaining, left);
		assert_int_equal(a->terminated, left == 0);
		f[0].coupons_e5 = f[1].coupons_e5 = 0;
	}
	a->terminated = 0;
	assert_int_equal(apply(&l, f, 2), 12);	/* remaining 0 stays 0 */
	assert_int_equal(a->duration_remaining, 0);
	assert_true(a->terminated);
	/* No duration at all: one use (nil.to_i - 1, floored at 0). */
	a->has_duration = 0;
	a->terminated = 0;
	assert_int_equal(apply(&l, f, 2), 12);
	assert_true(a->has_duration);
	assert_true(a->terminated);
	coupon_list_free(&l);
}

/* ---- Limitations ---------------------------------------------------------- */

/* Lago's spec: limited to a plan, only that plan's fees; else skipped. */
static void test_limited_to_plan(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(300, "plan-a", NULL),
				 fee(100, "plan-b", NULL)};

	(void)state;
	limit(fixed(&l, 12, COUPON_ONCE), COUPON_PLANS, "plan-a");
	limit(fixed(&l, 12, COUPON_ONCE), COUPON_PLANS, "plan-c");
	assert_int_equal(apply(&l, f, 2), 12);
	assert_int_equal(f[0].coupons_e5, 12 * E5);
	assert_int_equal(f[1].coupons_e5, 0);
	assert_false(l.v[1].applied);
	coupon_list_free(&l);
}

/*
 * Lago's spec: limited to a metric, over fees that carry a progressive
 * billing credit already (15 and 45): base 35 + 105, so 12 goes 3 and 9.
 */
static void test_limited_to_metric(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(50, "p", "bm"), fee(150, "p", "bm"),
				 fee(100, "p", NULL)};
	int64_t total = 0;

	(void)state;
	f[0].coupons_e5 = 15 * E5;
	f[1].coupons_e5 = 45 * E5;
	limit(fixed(&l, 12, COUPON_ONCE), COUPON_METRICS, "bm");
	assert_int_equal(coupon_apply(&l, "EUR", 300, f, 3, &total), TLY_OK);
	assert_int_equal(total, 12);
	assert_int_equal(f[0].coupons_e5, 18 * E5);
	assert_int_equal(f[1].coupons_e5, 54 * E5);
	assert_int_equal(f[2].coupons_e5, 0);
	coupon_list_free(&l);
}

/*
 * A limited base with decimals: 1 cent on three 1-cent fees leaves
 * 0.66667 on the first; a plan coupon of 5 takes that whole base, its
 * credit the integer part (0), and the fee is then fully covered.
 */
static void test_limited_fractional_base(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(1, "p", "bm"), fee(1, "q", "bm"),
				 fee(1, "q", "bm")};
	struct coupon_applied *b;

	(void)state;
	limit(fixed(&l, 1, COUPON_ONCE), COUPON_METRICS, "bm");
	b = fixed(&l, 5, COUPON_ONCE);
	limit(b, COUPON_PLANS, "p");
	assert_int_equal(apply(&l, f, 3), 1);
	assert_int_equal(f[1].coupons_e5, 33333);
	assert_int_equal(f[2].coupons_e5, 33333);
	assert_int_equal(f[0].coupons_e5, 100000);
	assert_true(b->applied);
	assert_int_equal(b->credit_cents, 0);
	assert_false(b->terminated);
	assert_int_equal(b->remaining_cents, 5);
	coupon_list_free(&l);
}

/* ---- The split over fees ------------------------------------------------ */

/* Thirds at 5 places, then whole cents by largest remainder. */
static void test_split_with_remainders(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(1, NULL, NULL), fee(1, NULL, NULL),
				 fee(1, NULL, NULL)};
	struct coupon_fee g[] = {fee(333, NULL, NULL), fee(333, NULL, NULL),
				 fee(334, NULL, NULL)};
	int64_t out[3];

	(void)state;
	fixed(&l, 2, COUPON_FOREVER);
	assert_int_equal(apply(&l, f, 3), 2);
	for (int i = 0; i < 3; i++)
		assert_int_equal(f[i].coupons_e5, 66667);	/* 2/3 */
	assert_int_equal(coupon_split_cents(f, 3, 2, out), TLY_OK);
	assert_int_equal(out[0], 1);		/* a tie: the earlier fees */
	assert_int_equal(out[1], 1);
	assert_int_equal(out[2], 0);
	l.v[0].amount_cents = 10;
	assert_int_equal(apply(&l, g, 3), 10);
	assert_int_equal(g[0].coupons_e5, 333000);
	assert_int_equal(g[2].coupons_e5, 334000);
	assert_int_equal(coupon_split_cents(g, 3, 10, out), TLY_OK);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[1], 3);
	assert_int_equal(out[2], 4);
	/* Nothing to split over. */
	g[0].coupons_e5 = g[1].coupons_e5 = g[2].coupons_e5 = 0;
	assert_int_equal(coupon_split_cents(g, 3, 1, out), TLY_EINVAL);
	assert_int_equal(coupon_split_cents(g, 3, 0, out), TLY_OK);
	assert_int_equal(out[2], 0);
	coupon_list_free(&l);
}

/* ---- The store and the credits --------------------------------------------- */

static char dir[TMPDIR_LEN];
static struct store *st;
static struct store_conn *c;

static int setup(void **state)
{
	char url[128];

	(void)state;
	tmpdir_make(dir, "coupon");
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

/* A coupon and its application (seq n) to customer cu1. */
static void seed(int n, const char *doc, const char *freq, const char *amount,
		 const char *rate, const char *dur)
{
	char sql[1024];

	snprintf(sql, sizeof(sql), "INSERT INTO coupons VALUES ('c%d', 'C%d', "
		 "'active', 'no_expiration', NULL, '%s', 0, NULL, NULL)",
		 n, n, doc);
	exec(sql);
	snprintf(sql, sizeof(sql), "INSERT INTO applied_coupons VALUES "
		 "('a%d', %d, 'c%d', 'cu1', 'active', %s, 'EUR', %s, %s, "
		 "'%s', %s, %s, %d, NULL)", n, n, n, amount,
		 strcmp(freq, "once") || !strcmp(amount, "NULL") ? "NULL" :
								   amount,
		 rate, freq, dur, dur, n);
	exec(sql);
}

static int64_t num(const char *sql)
{
	struct store_stmt *s = NULL;
	int64_t v;

	assert_int_equal(store_prepare(c, sql, &s), TLY_OK);
	assert_int_equal(store_step(s), STORE_ROW);
	v = store_col_null(s, 0) ? -999 : store_col_i64(s, 0);
	store_reset(s);
	return v;
}

/* Load in Lago's order, apply, make the credits, write back. */
static void test_load_apply_commit(void **state)
{
	struct coupon_list l = {0};
	struct coupon_fee f[] = {fee(1000, "plan1", "bm1"),
				 fee(1000, "plan2", NULL)};
	cJSON *credits = cJSON_CreateArray(), *cr, *item;
	int64_t total;
	char *text;

	(void)state;
	exec("INSERT INTO customers VALUES ('cu1', 'ext', 1, '{}', 0, 0, NULL)");
	seed(1, "{\"code\":\"all\",\"name\":\"All\",\"coupon_type\":"
	     "\"percentage\"}", "recurring", "NULL", "'10.0'", "2");
	seed(2, "{\"code\":\"plan\",\"name\":\"Plan\",\"coupon_type\":"
	     "\"fixed_amount\",\"limited_plans\":true,\"plan_ids\":"
	     "[\"plan2\"]}", "once", "300", "NULL", "NULL");
	seed(3, "{\"code\":\"bm\",\"name\":\"Metric\",\"description\":\"d\","
	     "\"coupon_type\":\"fixed_amount\",\"limited_billable_metrics\":"
	     "true,\"billable_metric_ids\":[\"bm1\"]}", "forever", "50",
	     "NULL", "NULL");
	exec("INSERT INTO applied_coupons VALUES ('a9', 9, 'c1', 'cu1', "
	     "'terminated', NULL, NULL, NULL, '5', 'once', NULL, NULL, 9, 9)");
	assert_int_equal(coupon_load_active(c, "cu1", &l), TLY_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].lago_id, "a3");	/* metrics first */
	assert_string_equal(l.v[1].lago_id, "a2");	/* then plans */
	assert_string_equal(l.v[2].lago_id, "a1");
	assert_int_equal(l.v[0].limit, COUPON_METRICS);
	assert_string_equal(l.v[0].targets[0], "bm1");
	assert_int_equal(l.v[1].remaining_cents, 300);
	assert_true(l.v[2].percentage);
	assert_int_equal(l.v[2].freq, COUPON_RECURRING);
	/* 50 on fee 1, 300 on fee 2, then 10% of 1650. */
	assert_int_equal(coupon_apply(&l, "EUR", 2000, f, 2, &total), TLY_OK);
	assert_int_equal(total, 50 + 300 + 165);
	assert_int_equal(coupon_credits_json(&l, "inv1", "pending", credits),
			 TLY_OK);
	assert_int_equal(cJSON_GetArraySize(credits), 3);
	cr = cJSON_GetArrayItem(credits, 0);
	text = cJSON_PrintUnformatted(cr);
	assert_non_null(strstr(text, "\"amount_cents\":50,\"amount_currency\":"
			       "\"EUR\",\"before_taxes\":true,\"item\":{"
			       "\"lago_item_id\":\"c3\",\"type\":\"coupon\","
			       "\"code\":\"bm\",\"name\":\"Metric\","
			       "\"description\":\"d\"},\"invoice\":{\"lago_id\":"
			       "\"inv1\",\"payment_status\":\"pending\"}}"));
	assert_int_equal(strncmp(text, "{\"lago_id\":\"", 12), 0);
	cJSON_free(text);
	item = cJSON_GetObjectItem(cJSON_GetArrayItem(credits, 2), "item");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(item, "description")));
	cJSON_Delete(credits);
	assert_int_equal(coupon_commit(c, &l, "inv1"), TLY_OK);
	assert_int_equal(num("SELECT COUNT(*) FROM applied_coupons "
			     "WHERE status = 'terminated'"), 2);
	assert_true(num("SELECT terminated_at FROM applied_coupons "
			"WHERE lago_id = 'a2'") > 0);
	assert_int_equal(num("SELECT amount_cents_remaining FROM "
			     "applied_coupons WHERE lago_id = 'a2'"), 0);
	assert_int_equal(num("SELECT frequency_duration_remaining FROM "
			     "applied_coupons WHERE lago_id = 'a1'"), 1);
	assert_int_equal(num("SELECT amount_cents_remaining FROM "
			     "applied_coupons WHERE lago_id = 'a3'"), -999);
	assert_int_equal(num("SELECT SUM(amount_cents) FROM coupon_credits "
			     "WHERE invoice_id = 'inv1'"), 515);
	coupon_list_free(&l);
	/* What is left active: the metric coupon, and the percentage one
	 * once more. */
	assert_int_equal(coupon_load_active(c, "cu1", &l), TLY_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[1].duration_remaining, 1);
	/* A deleted customer's coupons end. */
	assert_int_equal(coupon_end_customer(c, "cu1"), TLY_OK);
	assert_int_equal(coupon_load_active(c, "cu1", &l), TLY_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(num("SELECT COUNT(*) FROM applied_coupons "
			     "WHERE terminated_at IS NULL"), 0);
	coupon_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_once),
		cmocka_unit_test(test_fixed_larger_than_invoice),
		cmocka_unit_test(test_fixed_forever),
		cmocka_unit_test(test_currency),
		cmocka_unit_test(test_percentage),
		cmocka_unit_test(test_percentage_float_rounding),
		cmocka_unit_test(test_two_coupons_in_order),
		cmocka_unit_test(test_stops_at_zero),
		cmocka_unit_test(test_recurring_countdown),
		cmocka_unit_test(test_limited_to_plan),
		cmocka_unit_test(test_limited_to_metric),
		cmocka_unit_test(test_limited_fractional_base),
		cmocka_unit_test(test_split_with_remainders),
		cmocka_unit_test_setup_teardown(test_load_apply_commit, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("coupon", tests, NULL, NULL);
}
