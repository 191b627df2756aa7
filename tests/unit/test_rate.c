/*
 * test_rate.c - unit tests of collector/rate.c, Lago's charge models.
 *
 * Expected amounts come from lago-api's own specs
 * (spec/services/charge_models/<model>_service_spec.rb) and lago-doc's
 * worked examples (guide/plans/charges/charge-models/<model>.mdx), each
 * cited where it is used; the rest are worked out by hand from the
 * formulas in LAGO.md §2.
 * Amounts compare by value (10.00 == 10); unit amounts compare as the
 * exact 15-place string Lago stores in precise_unit_amount.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dec.h"
#include "err.h"
#include "rate.h"

/* ---- Helpers ----------------------------------------------------------- */

#define MAX_VALUES 16

/* One call's input: properties, units and per-event values, owned. */
struct input {
	cJSON *props;
	dec_t units;
	dec_t vals[MAX_VALUES];
	size_t n;
	struct rate_in in;
};

/* "200,100,50" -> x->vals; NULL or "" -> none. */
static void parse_values(struct input *x, const char *values,
			 const char *file, int line)
{
	char buf[512], *tok, *save = NULL;

	x->n = 0;
	if (!values || !*values)
		return;
	_assert_true(strlen(values) < sizeof(buf), "values too long", file,
		     line);
	strcpy(buf, values);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		_assert_true(x->n < MAX_VALUES, "too many values", file, line);
		_assert_int_equal(dec_parse_str(&x->vals[x->n], tok), TLY_OK,
				  file, line);
		x->n++;
	}
}

/*
 * Build an input.  props is JSON written with single quotes (they become
 * double quotes).  units NULL: the sum of the values.  count < 0: the
 * number of values.
 */
static void input_make(struct input *x, const char *props, const char *units,
		       const char *values, int64_t count, const char *file,
		       int line)
{
	char *json = strdup(props);

	_assert_true(json != NULL, "strdup", file, line);
	for (char *c = json; *c; c++)
		if (*c == '\'')
			*c = '"';
	x->props = cJSON_Parse(json);
	free(json);
	_assert_true(x->props != NULL, "props JSON", file, line);
	dec_init(&x->units);
	for (size_t i = 0; i < MAX_VALUES; i++)
		dec_init(&x->vals[i]);
	parse_values(x, values, file, line);
	if (units) {
		_assert_int_equal(dec_parse_str(&x->units, units), TLY_OK,
				  file, line);
	} else {
		for (size_t i = 0; i < x->n; i++)
			dec_add(&x->units, &x->units, &x->vals[i]);
	}
	x->in = (struct rate_in){0};
	x->in.units = &x->units;
	x->in.events_count = count < 0 ? (int64_t)x->n : count;
	x->in.values = x->vals;
	x->in.nvalues = x->n;
}

static void input_free(struct input *x)
{
	cJSON_Delete(x->props);
	dec_clear(&x->units);
	for (size_t i = 0; i < MAX_VALUES; i++)
		dec_clear(&x->vals[i]);
}

/* d printed without trailing zeros, equal to want by value. */
static void expect_value_at(const dec_t *d, const char *want,
			    const char *file, int line)
{
	dec_t w, g;
	char *ws, *gs;

	dec_init(&w);
	dec_init(&g);
	_assert_int_equal(dec_parse_str(&w, want), TLY_OK, file, line);
	dec_normalize(&w);
	dec_set(&g, d);
	dec_normalize(&g);
	ws = dec_to_str(&w);
	gs = dec_to_str(&g);
	_assert_true(ws && gs, "dec_to_str", file, line);
	_assert_string_equal(gs, ws, file, line);
	free(ws);
	free(gs);
	dec_clear(&w);
	dec_clear(&g);
}

/* d printed exactly as want, scale included. */
static void expect_exact_at(const dec_t *d, const char *want,
			    const char *file, int line)
{
	char *s = dec_to_str(d);

	_assert_true(s != NULL, "dec_to_str", file, line);
	_assert_string_equal(s, want, file, line);
	free(s);
}

/*
 * rate_charge(model, props) on units/values; the amount must equal
 * want (by value), the unit amount unit (exactly; NULL: not checked).
 */
static void rate_at(const char *model, const char *props, const char *units,
		    const char *values, int64_t count, const char *want,
		    const char *unit, const char *file, int line)
{
	struct input x;
	struct rate_out out;

	input_make(&x, props, units, values, count, file, line);
	rate_out_init(&out);
	_assert_int_equal(rate_charge(model, x.props, &x.in, &out), TLY_OK,
			  file, line);
	expect_value_at(&out.amount, want, file, line);
	if (unit)
		expect_exact_at(&out.unit_amount, unit, file, line);
	rate_out_clear(&out);
	input_free(&x);
}

#define RATE(model, props, units, want) \
	rate_at(model, props, units, NULL, 0, want, NULL, __FILE__, __LINE__)
#define RATE_U(model, props, units, want, unit) \
	rate_at(model, props, units, NULL, 0, want, unit, __FILE__, __LINE__)
/* Percentage: the events' values given, units = their sum. */
#define RATE_EV(model, props, values, want) \
	rate_at(model, props, NULL, values, -1, want, NULL, __FILE__, \
		__LINE__)
#define RATE_EV_U(model, props, values, want, unit) \
	rate_at(model, props, NULL, values, -1, want, unit, __FILE__, \
		__LINE__)

/* rate_charge must refuse the call with TLY_EINVAL, out untouched. */
static void einval_at(const char *model, const char *props, const char *units,
		      const char *file, int line)
{
	struct input x;
	struct rate_out out;

	input_make(&x, props, units, "1", 1, file, line);
	rate_out_init(&out);
	dec_set_i64(&out.amount, 77);
	_assert_int_equal(rate_charge(model, x.props, &x.in, &out),
			  TLY_EINVAL, file, line);
	expect_value_at(&out.amount, "77", file, line);
	rate_out_clear(&out);
	input_free(&x);
}

#define EINVAL(model, props, units) \
	einval_at(model, props, units, __FILE__, __LINE__)

/* a == b by value, both printed on failure. */
static void expect_same_at(const dec_t *a, const dec_t *b, const char *file,
			   int line)
{
	char *bs = dec_to_str(b);

	_assert_true(bs != NULL, "dec_to_str", file, line);
	expect_value_at(a, bs, file, line);
	free(bs);
}

/*
 * Pay in advance over a series of events: for each event k, the delta
 * from the first k-1 events to the first k must be deltas[k-1]; with
 * sums, the deltas must add up to the in-arrears amount of all events.
 */
static void advance_at(const char *model, const char *props,
		       const char *values, const char *const *deltas,
		       int sums, const char *file, int line)
{
	struct input x;
	struct rate_in before, after;
	struct rate_out all;
	dec_t ub, ua, d, sum;

	input_make(&x, props, NULL, values, -1, file, line);
	dec_init(&ub);
	dec_init(&ua);
	dec_init(&d);
	dec_init(&sum);
	for (size_t k = 1; k <= x.n; k++) {
		dec_set(&ub, &ua);
		dec_add(&ua, &ua, &x.vals[k - 1]);
		before = (struct rate_in){.units = &ub,
					  .events_count = (int64_t)k - 1,
					  .values = x.vals, .nvalues = k - 1};
		after = (struct rate_in){.units = &ua, .events_count = (int64_t)k,
					 .values = x.vals, .nvalues = k};
		_assert_int_equal(rate_in_advance(model, x.props, &before,
						  &after, &d),
				  TLY_OK, file, line);
		if (deltas)
			expect_value_at(&d, deltas[k - 1], file, line);
		dec_add(&sum, &sum, &d);
	}
	rate_out_init(&all);
	_assert_int_equal(rate_charge(model, x.props, &x.in, &all), TLY_OK,
			  file, line);
	if (sums)
		expect_same_at(&sum, &all.amount, file, line);
	rate_out_clear(&all);
	dec_clear(&ub);
	dec_clear(&ua);
	dec_clear(&d);
	dec_clear(&sum);
	input_free(&x);
}

#define ADVANCE(model, props, values, ...) \
	advance_at(model, props, values, (const char *const[]){__VA_ARGS__}, \
		   1, __FILE__, __LINE__)

/* ---- standard ----------------------------------------------------------- */

static void test_standard(void **state)
{
	(void)state;
	/* lago-doc standard.mdx: a unit price times the units. */
	RATE_U("standard", "{'amount':'0.05'}", "1000", "50",
	       "0.050000000000000");
	/* Exact decimals: 3 x 0.1 is 0.3, not 0.30000000000000004. */
	RATE("standard", "{'amount':'0.1'}", "3", "0.3");
	RATE("standard", "{'amount':'1.2'}", "2.5", "3");
	RATE_U("standard", "{'amount':'5'}", "0", "0", "0");
	/* Past 2^63 units, and a price below a cent. */
	RATE("standard", "{'amount':'0.01'}",
	     "123456789012345678901234567890",
	     "1234567890123456789012345678.9");
	RATE("standard", "{'amount':'0.000001'}", "18446744073709551617",
	     "18446744073709.551617");
	/* Negative units: the formula's answer; the fee zeroes it. */
	RATE("standard", "{'amount':'2'}", "-3", "-6");
}

static void test_standard_bad(void **state)
{
	(void)state;
	EINVAL("standard", "{}", "1");
	EINVAL("standard", "{'amount':5}", "1");	/* not a string */
	EINVAL("standard", "{'amount':'5 usd'}", "1");
	EINVAL("standard", "{'amount':null}", "1");
	EINVAL("standard", "[]", "1");
}

/* ---- package ------------------------------------------------------------ */

#define PKG_DOC "{'amount':'5','package_size':100,'free_units':100}"

static void test_package_doc(void **state)
{
	(void)state;
	/* lago-doc package.mdx: $5 per 100 units, the first 100 free: 201
	 * units cost $0 + $5 + $5 (the last unit opens a package). */
	RATE("package", PKG_DOC, "201", "10");
	/* Boundaries around the free units and the packages. */
	RATE("package", PKG_DOC, "0", "0");
	RATE("package", PKG_DOC, "99", "0");
	RATE("package", PKG_DOC, "100", "0");
	RATE("package", PKG_DOC, "101", "5");
	RATE("package", PKG_DOC, "200", "5");
	RATE("package", PKG_DOC, "300", "10");
	RATE("package", PKG_DOC, "301", "15");
}

static void test_package_spec(void **state)
{
	(void)state;
	/* lago-api spec/services/charge_models/package_service_spec.rb:
	 * unit_amount divides by the paid units (1200 / 111). */
	RATE_U("package", "{'amount':'100','package_size':10,'free_units':0}",
	       "121", "1300", "10.743801652892562");
	RATE_U("package", "{'amount':'100','package_size':10,'free_units':10}",
	       "121", "1200", "10.810810810810811");
	RATE_U("package",
	       "{'amount':'100','package_size':10,'free_units':200}", "121",
	       "0", "0");
}

static void test_package_fractional(void **state)
{
	(void)state;
	/* A package counts from its first unit, fractions included. */
	RATE("package", "{'amount':'5','package_size':100,'free_units':0}",
	     "100.5", "10");
	RATE("package", "{'amount':'5','package_size':100,'free_units':0}",
	     "0.001", "5");
	RATE("package", "{'amount':'5','package_size':100,'free_units':0}",
	     "0", "0");
	RATE("package", PKG_DOC, "100.0001", "5");
	/* free_units absent reads as 0; integers may be strings. */
	RATE("package", "{'amount':'2.5','package_size':'3'}", "7", "7.5");
	RATE("package", "{'amount':'2.5','package_size':3,'free_units':null}",
	     "6", "5");
}

static void test_package_huge(void **state)
{
	(void)state;
	/* 2^64 + 1 units in packages of 2: Float#fdiv would lose the odd
	 * unit; exact division does not (2^63 + 1 packages). */
	RATE("package", "{'amount':'1','package_size':2,'free_units':0}",
	     "18446744073709551617", "9223372036854775809");
	RATE("package", "{'amount':'0.01','package_size':1,'free_units':0}",
	     "100000000000000000001", "1000000000000000000.01");
}

static void test_package_bad(void **state)
{
	(void)state;
	EINVAL("package", "{'amount':'5','package_size':0}", "1");
	EINVAL("package", "{'amount':'5','package_size':1.5}", "1");
	EINVAL("package", "{'amount':'5','package_size':'1.5'}", "1");
	EINVAL("package", "{'amount':'5'}", "1");
	EINVAL("package", "{'amount':'5','package_size':10,'free_units':-1}",
	       "1");
	EINVAL("package", "{'amount':'5','package_size':10,'free_units':0.5}",
	       "1");
	EINVAL("package", "{'amount':5,'package_size':10}", "1");
	EINVAL("package", "{'amount':'5','package_size':true}", "1");
}

/* ---- graduated ---------------------------------------------------------- */

/* lago-api spec/services/charge_models/graduated_service_spec.rb */
#define GRAD_SPEC \
	"{'graduated_ranges':[" \
	"{'from_value':0,'to_value':10,'per_unit_amount':'10'," \
	"'flat_amount':'2'}," \
	"{'from_value':11,'to_value':20,'per_unit_amount':'5'," \
	"'flat_amount':'3'}," \
	"{'from_value':21,'to_value':null,'per_unit_amount':'5'," \
	"'flat_amount':'3'}]}"

static void test_graduated_spec(void **state)
{
	(void)state;
	/* Amounts and unit amounts of the spec, at 1, 10, 11, 12, 21. */
	RATE_U("graduated", GRAD_SPEC, "1", "12", "12.000000000000000");
	RATE_U("graduated", GRAD_SPEC, "10", "102", "10.200000000000000");
	RATE_U("graduated", GRAD_SPEC, "11", "110", "10.000000000000000");
	RATE_U("graduated", GRAD_SPEC, "12", "115", "9.583333333333333");
	RATE_U("graduated", GRAD_SPEC, "21", "163", "7.761904761904762");
	/* Exactly at a to_value, and one past it. */
	RATE("graduated", GRAD_SPEC, "20", "155");
	RATE("graduated", GRAD_SPEC, "22", "168");
	/* Fractional units between two ranges: 10.5 - 11 + 1 = 0.5. */
	RATE("graduated", GRAD_SPEC, "10.5", "107.5");
}

static void test_graduated_zero(void **state)
{
	(void)state;
	/* lago-api PR #5760: the first range's flat fee is charged at 0
	 * units (the spec above predates it and says 0); unit_amount 0. */
	RATE_U("graduated", GRAD_SPEC, "0", "2", "0");
	RATE("graduated",
	     "{'graduated_ranges':[{'from_value':0,'to_value':null,"
	     "'per_unit_amount':'1','flat_amount':'0'}]}", "0", "0");
}

static void test_graduated_doc(void **state)
{
	(void)state;
	/* lago-doc graduated.mdx: $1 for each of the first 100 units, $0.50
	 * for the next 100, $0.10 after: 250 units = 100 + 50 + 5. */
	RATE("graduated",
	     "{'graduated_ranges':["
	     "{'from_value':0,'to_value':100,'per_unit_amount':'1',"
	     "'flat_amount':'0'},"
	     "{'from_value':101,'to_value':200,'per_unit_amount':'0.50',"
	     "'flat_amount':'0'},"
	     "{'from_value':201,'to_value':null,'per_unit_amount':'0.10',"
	     "'flat_amount':'0'}]}", "250", "155");
}

#define GRAD_ADJ \
	"{'graduated_ranges':[" \
	"{'from_value':0,'to_value':10,'per_unit_amount':'10'," \
	"'flat_amount':'2'}," \
	"{'from_value':10,'to_value':20,'per_unit_amount':'5'," \
	"'flat_amount':'3'}," \
	"{'from_value':20,'to_value':null,'per_unit_amount':'1'," \
	"'flat_amount':'0'}]}"

static void test_graduated_adjacent(void **state)
{
	(void)state;
	/* adjacent_ranges.rb: each from_value == previous to_value, so the
	 * units count half-open: 15 units are 10 + 5 (not 10 + 6). */
	RATE("graduated", GRAD_ADJ, "10", "102");
	RATE("graduated", GRAD_ADJ, "11", "110");
	RATE("graduated", GRAD_ADJ, "15", "130");
	RATE("graduated", GRAD_ADJ, "20", "155");
	RATE("graduated", GRAD_ADJ, "21", "156");
	RATE("graduated", GRAD_ADJ, "10.5", "107.5");
	/* The same units with +1 bounds (0-10, 11-20): also 10 + 5. */
	RATE("graduated", GRAD_SPEC, "15", "130");
	/* Mixed bounds are not adjacent: +1 throughout, 15 = 10 + 6. */
	RATE("graduated",
	     "{'graduated_ranges':["
	     "{'from_value':0,'to_value':10,'per_unit_amount':'10',"
	     "'flat_amount':'2'},"
	     "{'from_value':10,'to_value':20,'per_unit_amount':'5',"
	     "'flat_amount':'3'},"
	     "{'from_value':21,'to_value':null,'per_unit_amount':'1',"
	     "'flat_amount':'0'}]}", "15", "135");
}

static void test_graduated_huge_negative(void **state)
{
	(void)state;
	/* 2^64 units: 102 + 53 + 5 x (2^64 - 21 + 1) + 3 = 5 x 2^64 + 58. */
	RATE("graduated", GRAD_SPEC, "18446744073709551616",
	     "92233720368547758138");
	/* Negative units stay in the first range: -5 x 10 + 2. */
	RATE("graduated", GRAD_SPEC, "-5", "-48");
	/* Bounds given as strings read the same. */
	RATE("graduated",
	     "{'graduated_ranges':["
	     "{'from_value':'0','to_value':'10','per_unit_amount':'10',"
	     "'flat_amount':'2'},"
	     "{'from_value':'11','to_value':null,'per_unit_amount':'5',"
	     "'flat_amount':'3'}]}", "12", "115");
}

static void test_graduated_bad(void **state)
{
	(void)state;
	EINVAL("graduated", "{}", "1");
	EINVAL("graduated", "{'graduated_ranges':[]}", "1");
	EINVAL("graduated", "{'graduated_ranges':{}}", "1");
	EINVAL("graduated", "{'graduated_ranges':[1]}", "1");
	EINVAL("graduated",
	       "{'graduated_ranges':[{'from_value':0.5,'to_value':null,"
	       "'per_unit_amount':'1','flat_amount':'0'}]}", "1");
	EINVAL("graduated",
	       "{'graduated_ranges':[{'from_value':0,'to_value':null,"
	       "'per_unit_amount':1,'flat_amount':'0'}]}", "1");
	EINVAL("graduated",
	       "{'graduated_ranges':[{'from_value':0,'to_value':null,"
	       "'per_unit_amount':'1'}]}", "1");
	/* A bad range that is never reached is still refused. */
	EINVAL("graduated",
	       "{'graduated_ranges':[{'from_value':0,'to_value':10,"
	       "'per_unit_amount':'1','flat_amount':'0'},"
	       "{'from_value':11,'to_value':null,"
	       "'per_unit_amount':'x','flat_amount':'0'}]}", "1");
}

/* ---- graduated percentage ----------------------------------------------- */

/* lago-doc graduated-percentage.mdx */
#define GP_DOC \
	"{'graduated_percentage_ranges':[" \
	"{'from_value':0,'to_value':1000,'rate':'1','flat_amount':'200'}," \
	"{'from_value':1001,'to_value':10000,'rate':'2'," \
	"'flat_amount':'300'}," \
	"{'from_value':10001,'to_value':null,'rate':'3'," \
	"'flat_amount':'400'}]}"

static void test_graduated_percentage_doc(void **state)
{
	(void)state;
	/* The doc's three transactions, $500, $550 and $4,000, billed in
	 * advance: $205, $306, $80; in arrears 5050 units cost 591. */
	ADVANCE("graduated_percentage", GP_DOC, "500,550,4000", "205", "306",
		"80");
	RATE_U("graduated_percentage", GP_DOC, "5050", "591",
	       "0.117029702970297");
	/* Boundaries: at 1000, at 1001, at 10000, at 10001. */
	RATE("graduated_percentage", GP_DOC, "1000", "210");
	RATE("graduated_percentage", GP_DOC, "1001", "510.02");
	RATE("graduated_percentage", GP_DOC, "10000", "690");
	RATE("graduated_percentage", GP_DOC, "10001", "1090.03");
	/* 0 units: the first flat fee (lago-api PR #5760). */
	RATE_U("graduated_percentage", GP_DOC, "0", "200", "0");
}

static void test_graduated_percentage_plus_one(void **state)
{
	(void)state;
	/* Its range service never gets adjacent_model: bounds 0-10, 10-inf
	 * still count +1, so 15 units are 10 at 10% and 6 at 20%. */
	RATE("graduated_percentage",
	     "{'graduated_percentage_ranges':["
	     "{'from_value':0,'to_value':10,'rate':'10','flat_amount':'0'},"
	     "{'from_value':10,'to_value':null,'rate':'20',"
	     "'flat_amount':'0'}]}", "15", "2.2");
	/* Fractional rate and units, exactly. */
	RATE("graduated_percentage",
	     "{'graduated_percentage_ranges':[{'from_value':0,"
	     "'to_value':null,'rate':'0.015','flat_amount':'0'}]}",
	     "1234.56", "0.1851840");
	EINVAL("graduated_percentage",
	       "{'graduated_percentage_ranges':[{'from_value':0,"
	       "'to_value':null,'per_unit_amount':'1','flat_amount':'0'}]}",
	       "1");
	EINVAL("graduated_percentage", "{'graduated_ranges':[]}", "1");
}

/* ---- volume ------------------------------------------------------------- */

static void test_volume_doc(void **state)
{
	(void)state;
	/* lago-doc volume.mdx: 65,000 API calls fall in tier 3, all of them
	 * at $0.0006, plus its $10: $49. */
	RATE_U("volume",
	       "{'volume_ranges':["
	       "{'from_value':0,'to_value':10000,'per_unit_amount':'0.0010',"
	       "'flat_amount':'10'},"
	       "{'from_value':10001,'to_value':50000,"
	       "'per_unit_amount':'0.0008','flat_amount':'10'},"
	       "{'from_value':50001,'to_value':100000,"
	       "'per_unit_amount':'0.0006','flat_amount':'10'},"
	       "{'from_value':100001,'to_value':null,"
	       "'per_unit_amount':'0.0004','flat_amount':'10'}]}",
	       "65000", "49", "0.000753846153846");
}

/* lago-api spec/services/charge_models/volume_service_spec.rb */
#define VOL_SPEC \
	"{'volume_ranges':[" \
	"{'from_value':0,'to_value':100,'per_unit_amount':'2'," \
	"'flat_amount':'10'}," \
	"{'from_value':101,'to_value':200,'per_unit_amount':'1'," \
	"'flat_amount':'0'}," \
	"{'from_value':201,'to_value':null,'per_unit_amount':'0.5'," \
	"'flat_amount':'50'}]}"

static void test_volume_spec(void **state)
{
	(void)state;
	RATE_U("volume", VOL_SPEC, "1", "12", "12.000000000000000");
	RATE_U("volume", VOL_SPEC, "100", "210", "2.100000000000000");
	/* Between two ranges: ceil(100.5) = 101 is in the second. */
	RATE_U("volume", VOL_SPEC, "100.5", "100.5", "1.000000000000000");
	RATE("volume", VOL_SPEC, "101", "101");
	RATE("volume", VOL_SPEC, "200", "200");
	RATE("volume", VOL_SPEC, "200.01", "150.005");
	RATE_U("volume", VOL_SPEC, "300", "200", "0.666666666666667");
	/* 0 units: the first range's flat fee (lago-api PR #5760; the spec
	 * predates it). */
	RATE_U("volume", VOL_SPEC, "0", "10", "0");
}

static void test_volume_order_and_gaps(void **state)
{
	(void)state;
	/* Ranges are sorted by from_value before the match. */
	RATE("volume",
	     "{'volume_ranges':["
	     "{'from_value':201,'to_value':null,'per_unit_amount':'0.5',"
	     "'flat_amount':'50'},"
	     "{'from_value':0,'to_value':100,'per_unit_amount':'2',"
	     "'flat_amount':'10'},"
	     "{'from_value':101,'to_value':200,'per_unit_amount':'1',"
	     "'flat_amount':'0'}]}", "150", "150");
	/* Adjacent bounds: 100 belongs to the first range (sorted first). */
	RATE("volume",
	     "{'volume_ranges':["
	     "{'from_value':0,'to_value':100,'per_unit_amount':'2',"
	     "'flat_amount':'10'},"
	     "{'from_value':100,'to_value':null,'per_unit_amount':'1',"
	     "'flat_amount':'0'}]}", "100", "210");
	/* Slightly negative units still ceil to 0: the first range. */
	RATE("volume", VOL_SPEC, "-0.5", "9");
	/* No range holds the units: Lago raises, Tally refuses. */
	EINVAL("volume", VOL_SPEC, "-5");
	EINVAL("volume",
	       "{'volume_ranges':[{'from_value':0,'to_value':100,"
	       "'per_unit_amount':'2','flat_amount':'10'},"
	       "{'from_value':200,'to_value':null,'per_unit_amount':'1',"
	       "'flat_amount':'0'}]}", "150");
	EINVAL("volume", "{'volume_ranges':[]}", "1");
	EINVAL("volume",
	       "{'volume_ranges':[{'from_value':0,'to_value':null,"
	       "'per_unit_amount':'1','flat_amount':'0'},"
	       "{'from_value':'x','to_value':null,"
	       "'per_unit_amount':'1','flat_amount':'0'}]}", "1");
}

/* ---- percentage --------------------------------------------------------- */

#define PCT_DOC_EV "200,100,100,50"

static void test_percentage_doc(void **state)
{
	(void)state;
	/* lago-doc percentage.mdx: 1.2% + $0.10 a transaction, the first 3
	 * events or $500 free; events of 200, 100, 100, 50: the fourth costs
	 * $0.10 + 1.2% of $50 = $0.70.  With both allowances the running
	 * total of the first 3 events (400) is free, and 3 events. */
	RATE_EV("percentage",
		"{'rate':'1.2','fixed_amount':'0.10',"
		"'free_units_per_events':3,"
		"'free_units_per_total_aggregation':'500'}", PCT_DOC_EV,
		"0.70");
	/* With 3 free events alone: the same $0.70. */
	RATE_EV("percentage",
		"{'rate':'1.2','fixed_amount':'0.10',"
		"'free_units_per_events':3}", PCT_DOC_EV, "0.70");
	/* With $500 free alone, the running total never passes 500, so all
	 * 450 units and all 4 events are free (percentage_service.rb). */
	RATE_EV("percentage",
		"{'rate':'1.2','fixed_amount':'0.10',"
		"'free_units_per_total_aggregation':'500'}", PCT_DOC_EV, "0");
	/* The doc's table, billed in advance: only the fourth pays. */
	ADVANCE("percentage",
		"{'rate':'1.2','fixed_amount':'0.10',"
		"'free_units_per_events':3,"
		"'free_units_per_total_aggregation':'500'}", PCT_DOC_EV,
		"0", "0", "0", "0.70");
}

/* lago-api spec/services/charge_models/percentage_service_spec.rb: 800
 * units over 4 events whose first three running totals are 50, 150, 400. */
#define PCT_SPEC_EV "50,100,250,400"

static void test_percentage_spec(void **state)
{
	(void)state;
	/* 250 free units, 2 free events: 550 x 1.3% + 2 x 2.0 = 11.15. */
	RATE_EV_U("percentage",
		  "{'rate':'1.3','fixed_amount':'2.0',"
		  "'free_units_per_events':3,"
		  "'free_units_per_total_aggregation':'250.0'}", PCT_SPEC_EV,
		  "11.15", "0.013937500000000");
	/* free_units_per_events nil: the same. */
	RATE_EV("percentage",
		"{'rate':'1.3','fixed_amount':'2.0',"
		"'free_units_per_events':null,"
		"'free_units_per_total_aggregation':'250.0'}", PCT_SPEC_EV,
		"11.15");
	/* free total nil: 400 free, 3 free events: 5.2 + 2 = 7.2. */
	RATE_EV_U("percentage",
		  "{'rate':'1.3','fixed_amount':'2.0',"
		  "'free_units_per_events':3}", PCT_SPEC_EV, "7.2",
		  "0.009000000000000");
	/* free total 500 > last running total 400: the same 7.2. */
	RATE_EV("percentage",
		"{'rate':'1.3','fixed_amount':'2.0',"
		"'free_units_per_events':3,"
		"'free_units_per_total_aggregation':'500.0'}", PCT_SPEC_EV,
		"7.2");
	/* No free units: 800 x 1.3% + 4 x 2 = 18.4. */
	RATE_EV_U("percentage", "{'rate':'1.3','fixed_amount':'2.0'}",
		  PCT_SPEC_EV, "18.4", "0.023000000000000");
	/* Rate 0: the fixed fees only. */
	RATE_EV_U("percentage", "{'rate':'0','fixed_amount':'2.0'}",
		  PCT_SPEC_EV, "8", "0.010000000000000");
	/* Small units: 4 x 2.9% = 0.116. */
	RATE_EV_U("percentage", "{'rate':'2.9'}", "1,1,1,1", "0.116",
		  "0.029000000000000");
	/* More free events than events: 0. */
	RATE_EV("percentage",
		"{'rate':'1.3','fixed_amount':'2.0',"
		"'free_units_per_events':5}", "50,100,250,0", "0");
}

static void test_percentage_free_edges(void **state)
{
	(void)state;
	/* 0 units: no rate amount and no fixed fee, whatever the count. */
	RATE_EV_U("percentage", "{'rate':'1.3','fixed_amount':'2.0'}",
		  "0,0,0,0", "0", "0");
	/* The running total stops after the first total past the free
	 * amount: 200, 500, 600 -> 100 paid units at 1%, and only the first
	 * total is below 500, so 2 events pay the fixed fee: 1 + 2. */
	RATE_EV("percentage",
		"{'rate':'1','fixed_amount':'1',"
		"'free_units_per_total_aggregation':'500'}", "200,300,100",
		"3");
	/* With 2 free events whose totals are both past the free amount,
	 * the free count is the 2 events (the 0 entries are ignored). */
	RATE_EV("percentage",
		"{'rate':'1','fixed_amount':'1','free_units_per_events':2,"
		"'free_units_per_total_aggregation':'100'}", "150,10,40",
		"2.0");
	/* A negative value (a refund) after the total reaches the free
	 * amount exactly: the running total takes one more entry (500 is
	 * not past 500): 200, 500, 400, so 400 units are free and 2 totals
	 * are below 500: 0 + 1 paying event. */
	RATE_EV("percentage",
		"{'rate':'1','fixed_amount':'1',"
		"'free_units_per_total_aggregation':'500'}", "200,300,-100",
		"1");
	/* free_units_per_events as a string, rate with 15 decimals. */
	RATE_EV("percentage",
		"{'rate':'0.000000000000001','free_units_per_events':'1'}",
		"5,100", "0.000000000000001");
}

/* The spec's min/max case: 2.99% on events of 10, 80 and 10000. */
#define PCT_MM(extra) \
	"{'rate':'2.99','per_transaction_min_amount':'1.75'," \
	"'per_transaction_max_amount':'12'" extra "}"

static void test_percentage_min_max(void **state)
{
	(void)state;
	/* percentage_service_spec.rb "when premium": 1.75 (min) + 2.392 +
	 * 12 (max) = 16.142; Tally applies min/max for everyone. */
	RATE_EV("percentage", PCT_MM(",'fixed_amount':'0',"
				     "'free_units_per_total_aggregation':'0'"),
		"10,80,10000", "16.142");
	/* With a $2 fixed fee: 2.299 + 4.392 + 12. */
	RATE_EV("percentage", PCT_MM(",'fixed_amount':'2.0'"), "10,80,10000",
		"18.691");
	/* 2 free events: only the 10000 pays, capped at 12. */
	RATE_EV("percentage", PCT_MM(",'free_units_per_events':2"),
		"10,80,10000", "12");
	/* $30 free: 10 free, 60 of the 80 pay 1.794, then 12. */
	RATE_EV("percentage",
		PCT_MM(",'free_units_per_total_aggregation':'30'"),
		"10,80,10000", "13.794");
	/* 3 free events and $10000: 90 of the 10000 pay 2.691. */
	RATE_EV("percentage",
		PCT_MM(",'free_units_per_events':3,"
		       "'free_units_per_total_aggregation':'10000'"),
		"10,80,10000", "2.691");
	/* Only a maximum, and only a minimum. */
	RATE_EV("percentage",
		"{'rate':'10','per_transaction_max_amount':'5'}", "10,100",
		"6");
	RATE_EV("percentage",
		"{'rate':'10','per_transaction_min_amount':'5'}", "10,100",
		"15");
	/* apply_min_max tests the minimum first and returns it: with a
	 * minimum above the maximum (charge_check refuses it), 1 -> 5 and
	 * 10 -> 3. */
	RATE_EV("percentage",
		"{'rate':'10','per_transaction_min_amount':'5',"
		"'per_transaction_max_amount':'3'}", "10,100", "8");
	/* A blank bound is not present?: the plain formula, 11 + 0. */
	RATE_EV("percentage",
		"{'rate':'10','per_transaction_min_amount':'',"
		"'per_transaction_max_amount':null}", "10,100", "11");
}

static void test_percentage_min_max_free(void **state)
{
	(void)state;
	/* The lago-doc example on the per-event path: the 4th event is
	 * still inside the $500 (only 450 used), so nothing is billed. */
	RATE_EV("percentage",
		"{'rate':'1.2','fixed_amount':'0.10',"
		"'free_units_per_events':3,"
		"'free_units_per_total_aggregation':'500',"
		"'per_transaction_min_amount':'0.01'}", PCT_DOC_EV, "0");
	/* With 3 free events only, the 4th pays 0.70 (above the 0.01). */
	RATE_EV("percentage",
		"{'rate':'1.2','fixed_amount':'0.10',"
		"'free_units_per_events':3,"
		"'per_transaction_min_amount':'0.01'}", PCT_DOC_EV, "0.70");
	/* An event that uses up the free amount exactly pays its fixed fee
	 * on 0: 1; the next 10% of 5 + 1: total 2.5. */
	RATE_EV("percentage",
		"{'rate':'10','fixed_amount':'1',"
		"'free_units_per_total_aggregation':'10',"
		"'per_transaction_max_amount':'100'}", "10,5", "2.5");
	/* ... and one whose value is more than what is left pays on the
	 * rest: 20 - 10 = 10 at 10% + 1 = 2; the next 1.5. */
	RATE_EV("percentage",
		"{'rate':'10','fixed_amount':'1',"
		"'free_units_per_total_aggregation':'10',"
		"'per_transaction_max_amount':'100'}", "20,5", "3.5");
}

static void test_percentage_advance(void **state)
{
	(void)state;
	/* 1% + $0.10 per event: each event pays its own share. */
	ADVANCE("percentage", "{'rate':'1','fixed_amount':'0.10'}",
		"100,50,0.5", "1.1", "0.6", "0.105");
	/* 2 free events: the third pays its fixed fee and its rate. */
	ADVANCE("percentage",
		"{'rate':'1','fixed_amount':'0.10',"
		"'free_units_per_events':2}", "100,50,30", "0", "0", "0.4");
	/* Min/max per event, without the event on the before side. */
	ADVANCE("percentage", PCT_MM(""), "10,80,10000", "1.75", "2.392",
		"12");
}

static void test_percentage_bad(void **state)
{
	(void)state;
	EINVAL("percentage", "{}", "1");
	EINVAL("percentage", "{'rate':1.2}", "1");
	EINVAL("percentage", "{'rate':'1','fixed_amount':'x'}", "1");
	EINVAL("percentage", "{'rate':'1','fixed_amount':1}", "1");
	EINVAL("percentage", "{'rate':'1','free_units_per_events':1.5}", "1");
	EINVAL("percentage", "{'rate':'1','free_units_per_events':-1}", "1");
	EINVAL("percentage",
	       "{'rate':'1','free_units_per_total_aggregation':500}", "1");
	EINVAL("percentage", "{'rate':'1','per_transaction_min_amount':1}",
	       "1");
	EINVAL("percentage", "{'rate':'1','per_transaction_max_amount':'y'}",
	       "1");
}

/* ---- unit_amount, dispatch, pay in advance ------------------------------ */

static void test_unit_amount_rounding(void **state)
{
	(void)state;
	/* 0.000000000000001 / 2 = 5e-16: half-up to 15 places is 1e-15
	 * (half-even would give 0). */
	RATE_U("graduated",
	       "{'graduated_ranges':[{'from_value':0,'to_value':null,"
	       "'per_unit_amount':'0','flat_amount':'0.000000000000001'}]}",
	       "2", "0.000000000000001", "0.000000000000001");
	/* Negative: half away from zero. */
	RATE_U("standard", "{'amount':'-0.0000000000000005'}", "1",
	       "-0.0000000000000005", "-0.000000000000001");
	/* 2/3 rounds up at the 15th place. */
	RATE_U("standard", "{'amount':'0.666666666666666666'}", "1",
	       "0.666666666666666666", "0.666666666666667");
}

static void test_dispatch_bad(void **state)
{
	struct input x;
	struct rate_out out;
	struct rate_in in = {0};

	(void)state;
	EINVAL("dynamic", "{'amount':'1'}", "1");
	EINVAL("Standard", "{'amount':'1'}", "1");
	EINVAL("", "{'amount':'1'}", "1");
	input_make(&x, "{'amount':'1'}", "1", NULL, 0, __FILE__, __LINE__);
	rate_out_init(&out);
	assert_int_equal(rate_charge(NULL, x.props, &x.in, &out), TLY_EINVAL);
	assert_int_equal(rate_charge("standard", NULL, &x.in, &out),
			 TLY_EINVAL);
	assert_int_equal(rate_charge("standard", x.props, NULL, &out),
			 TLY_EINVAL);
	assert_int_equal(rate_charge("standard", x.props, &x.in, NULL),
			 TLY_EINVAL);
	in = x.in;
	in.units = NULL;
	assert_int_equal(rate_charge("standard", x.props, &in, &out),
			 TLY_EINVAL);
	in = x.in;
	in.values = NULL;
	in.nvalues = 2;
	assert_int_equal(rate_charge("percentage", x.props, &in, &out),
			 TLY_EINVAL);
	rate_out_clear(&out);
	rate_out_clear(NULL);
	input_free(&x);
}

static void test_advance_standard_package(void **state)
{
	(void)state;
	/* Deltas add up to the in-arrears amount. */
	ADVANCE("standard", "{'amount':'0.1'}", "1,2,3.5", "0.1", "0.2",
		"0.35");
	/* $5 per 100, 100 free, events of 60: 0, 5, 0, 5, 0 = 10. */
	ADVANCE("package", PKG_DOC, "60,60,60,60,60", "0", "5", "0", "5",
		"0");
}

static void test_advance_graduated(void **state)
{
	(void)state;
	/* The first flat fee is billed once, with the first event (the
	 * before side costs 0 at 0 units): 12, 98, 53 = 163. */
	ADVANCE("graduated", GRAD_SPEC, "1,10,10", "12", "98", "53");
	ADVANCE("graduated", GRAD_ADJ, "15,6", "130", "26");
	ADVANCE("graduated_percentage", GP_DOC, "1000,1", "210", "300.02");
}

static void test_advance_bad(void **state)
{
	struct input x;
	dec_t d;

	(void)state;
	input_make(&x, VOL_SPEC, "5", NULL, 1, __FILE__, __LINE__);
	dec_init(&d);
	/* Volume is not allowed in advance (Factory.in_advance_charge_model
	 * _class). */
	assert_int_equal(rate_in_advance("volume", x.props, &x.in, &x.in, &d),
			 TLY_EINVAL);
	assert_int_equal(rate_in_advance("nope", x.props, &x.in, &x.in, &d),
			 TLY_EINVAL);
	assert_int_equal(rate_in_advance("graduated", x.props, &x.in, &x.in,
					 &d),
			 TLY_EINVAL);
	assert_int_equal(rate_in_advance("percentage", x.props, NULL, &x.in,
					 &d),
			 TLY_EINVAL);
	dec_clear(&d);
	input_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standard),
		cmocka_unit_test(test_standard_bad),
		cmocka_unit_test(test_package_doc),
		cmocka_unit_test(test_package_spec),
		cmocka_unit_test(test_package_fractional),
		cmocka_unit_test(test_package_huge),
		cmocka_unit_test(test_package_bad),
		cmocka_unit_test(test_graduated_spec),
		cmocka_unit_test(test_graduated_zero),
		cmocka_unit_test(test_graduated_doc),
		cmocka_unit_test(test_graduated_adjacent),
		cmocka_unit_test(test_graduated_huge_negative),
		cmocka_unit_test(test_graduated_bad),
		cmocka_unit_test(test_graduated_percentage_doc),
		cmocka_unit_test(test_graduated_percentage_plus_one),
		cmocka_unit_test(test_volume_doc),
		cmocka_unit_test(test_volume_spec),
		cmocka_unit_test(test_volume_order_and_gaps),
		cmocka_unit_test(test_percentage_doc),
		cmocka_unit_test(test_percentage_spec),
		cmocka_unit_test(test_percentage_free_edges),
		cmocka_unit_test(test_percentage_min_max),
		cmocka_unit_test(test_percentage_min_max_free),
		cmocka_unit_test(test_percentage_advance),
		cmocka_unit_test(test_percentage_bad),
		cmocka_unit_test(test_unit_amount_rounding),
		cmocka_unit_test(test_dispatch_bad),
		cmocka_unit_test(test_advance_standard_package),
		cmocka_unit_test(test_advance_graduated),
		cmocka_unit_test(test_advance_bad),
	};

	return cmocka_run_group_tests_name("rate", tests, NULL, NULL);
}
