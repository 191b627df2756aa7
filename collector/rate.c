/*
 * rate.c - Lago's charge models over exact decimals (see rate.h).
 *
 * One function per model, each a transcription of lago-api's
 * app/services/charge_models/<model>_service.rb; where Lago's behaviour
 * is a choice, the function's comment names the rule and its file.  No
 * binary floating point: JSON numbers (range bounds, package sizes) are
 * read once through dec_from_double and must be integral.
 *
 * Negative units are priced by the same formulas (Lago zeroes a negative
 * amount later, when it makes the fee; so does Tally's fee code), except
 * that volume has no range for units below -1 and answers TLY_EINVAL,
 * where Lago's VolumeService raises.
 */
#include <stdbool.h>
#include <string.h>

#include "dec.h"
#include "err.h"
#include "rate.h"

#define UNIT_AMOUNT_PLACES 15	/* fees.precise_unit_amount numeric(30,15) */

static const cJSON *prop(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* Lago's nil: the key is absent or null. */
static bool is_nil(const cJSON *v)
{
	return !v || cJSON_IsNull(v);
}

/* Ruby's blank? for a property: nil, or a string of white space only. */
static bool is_blank(const cJSON *v)
{
	if (is_nil(v))
		return true;
	return cJSON_IsString(v) && v->valuestring &&
	       strspn(v->valuestring, " \t\r\n\f\v") ==
	       strlen(v->valuestring);
}

/* An amount or rate: a decimal string, as BigDecimal(string) reads it. */
static int read_amount(const cJSON *v, dec_t *d)
{
	if (!cJSON_IsString(v) || !v->valuestring)
		return TLY_EINVAL;
	return dec_parse_str(d, v->valuestring) == TLY_OK ? TLY_OK :
							    TLY_EINVAL;
}

/* An optional amount: nil reads as 0. */
static int read_opt_amount(const cJSON *v, dec_t *d)
{
	if (is_nil(v)) {
		dec_set_zero(d);
		return TLY_OK;
	}
	return read_amount(v, d);
}

/*
 * An integer-valued property (package_size, free_units, a range bound):
 * a JSON number that is integral, read exactly through its shortest
 * decimal (what Ruby's to_s prints), or a string of an integer.
 */
static int read_integer(const cJSON *v, dec_t *d)
{
	int rc;

	if (cJSON_IsNumber(v))
		rc = dec_from_double(d, v->valuedouble);
	else if (cJSON_IsString(v) && v->valuestring)
		rc = dec_parse_str(d, v->valuestring);
	else
		return TLY_EINVAL;
	if (rc != TLY_OK || !dec_is_integer(d))
		return TLY_EINVAL;
	return TLY_OK;
}

static int check_in(const cJSON *props, const struct rate_in *in)
{
	if (!cJSON_IsObject(props) || !in || !in->units)
		return TLY_EINVAL;
	if (in->nvalues && !in->values)
		return TLY_EINVAL;
	return TLY_OK;
}

/* r = x * rate / 100, exactly (rates are in percent). */
static void percent_of(dec_t *r, const dec_t *x, const dec_t *rate)
{
	dec_t cent;

	dec_init(&cent);
	dec_parse_str(&cent, "0.01");
	dec_mul(r, x, rate);
	dec_mul(r, r, &cent);
	dec_clear(&cent);
}

void rate_out_init(struct rate_out *o)
{
	dec_init(&o->amount);
	dec_init(&o->unit_amount);
}

void rate_out_clear(struct rate_out *o)
{
	if (!o)
		return;
	dec_clear(&o->amount);
	dec_clear(&o->unit_amount);
}

/* ---- standard --------------------------------------------------------- */

/* StandardService: units * amount. */
int rate_standard(const cJSON *props, const struct rate_in *in, dec_t *amount)
{
	dec_t price;
	int rc = check_in(props, in);

	if (rc != TLY_OK)
		return rc;
	dec_init(&price);
	rc = read_amount(prop(props, "amount"), &price);
	if (rc == TLY_OK)
		dec_mul(amount, in->units, &price);
	dec_clear(&price);
	return rc;
}

/* ---- package ---------------------------------------------------------- */

/* The units past free_units (may be negative), and the package size. */
static int package_paid(const cJSON *props, const dec_t *units, dec_t *paid,
			dec_t *size)
{
	const cJSON *free_v = prop(props, "free_units");
	int rc;

	rc = read_integer(prop(props, "package_size"), size);
	if (rc != TLY_OK || dec_cmp_i64(size, 1) < 0)
		return TLY_EINVAL;
	if (is_nil(free_v)) {
		dec_set(paid, units);
		return TLY_OK;
	}
	rc = read_integer(free_v, paid);
	if (rc != TLY_OK || dec_sgn(paid) < 0)
		return TLY_EINVAL;
	dec_sub(paid, units, paid);
	return TLY_OK;
}

/*
 * PackageService: paid = units - free_units; 0 when paid is negative,
 * else ceil(paid / package_size) packages * amount.  A package counts
 * from its first unit, fractional units included (100.5 paid units of
 * 100 are 2 packages).  Lago divides with Float#fdiv; the ceiling here is
 * exact, which differs from Lago only past 2^53 units.
 */
int rate_package(const cJSON *props, const struct rate_in *in, dec_t *amount)
{
	dec_t price, paid, size, packs;
	int rc = check_in(props, in);

	if (rc != TLY_OK)
		return rc;
	dec_init(&price);
	dec_init(&paid);
	dec_init(&size);
	dec_init(&packs);
	rc = read_amount(prop(props, "amount"), &price);
	if (rc == TLY_OK)
		rc = package_paid(props, in->units, &paid, &size);
	if (rc != TLY_OK)
		goto out;
	if (dec_sgn(&paid) < 0) {
		dec_set_zero(amount);
		goto out;
	}
	rc = dec_div(&packs, &paid, &size, 0, DEC_CEIL);
	if (rc == TLY_OK)
		dec_mul(amount, &packs, &price);
out:
	dec_clear(&price);
	dec_clear(&paid);
	dec_clear(&size);
	dec_clear(&packs);
	return rc;
}

/* ---- ranges (graduated, graduated_percentage, volume) ------------------ */

struct range {
	dec_t from;	/* from_value */
	dec_t to;	/* to_value, when has_to */
	bool has_to;	/* false: to_value is null (no upper bound) */
	dec_t price;	/* per_unit_amount, or the rate (percent) */
	dec_t flat;	/* flat_amount */
};

static void range_init(struct range *g)
{
	dec_init(&g->from);
	dec_init(&g->to);
	dec_init(&g->price);
	dec_init(&g->flat);
	g->has_to = false;
}

static void range_clear(struct range *g)
{
	dec_clear(&g->from);
	dec_clear(&g->to);
	dec_clear(&g->price);
	dec_clear(&g->flat);
}

/* Read one range object; price_key is "per_unit_amount" or "rate". */
static int range_load(const cJSON *r, const char *price_key, struct range *g)
{
	const cJSON *to = prop(r, "to_value");
	int rc;

	if (!cJSON_IsObject(r))
		return TLY_EINVAL;
	rc = read_integer(prop(r, "from_value"), &g->from);
	if (rc == TLY_OK && !is_nil(to))
		rc = read_integer(to, &g->to);
	g->has_to = !is_nil(to);
	if (rc == TLY_OK)
		rc = read_amount(prop(r, price_key), &g->price);
	if (rc == TLY_OK)
		rc = read_amount(prop(r, "flat_amount"), &g->flat);
	return rc;
}

/* The ranges array: present, an array, not empty. */
static const cJSON *ranges_of(const cJSON *props, const char *key)
{
	const cJSON *a = prop(props, key);

	return cJSON_IsArray(a) && a->child ? a : NULL;
}

/*
 * Check every range parses, and tell whether the ranges are adjacent
 * (lago-api app/services/charge_models/adjacent_ranges.rb): at least two
 * of them, and each from_value equal to the previous to_value (a null
 * to_value counting as 0).
 */
static int ranges_scan(const cJSON *ranges, const char *price_key,
		       bool *adjacent)
{
	struct range g, prev;
	const cJSON *r;
	int rc = TLY_OK, n = 0;

	range_init(&g);
	range_init(&prev);
	*adjacent = true;
	cJSON_ArrayForEach(r, ranges) {
		rc = range_load(r, price_key, &g);
		if (rc != TLY_OK)
			break;
		if (n++ && dec_cmp(&g.from, &prev.to) != 0)
			*adjacent = false;
		dec_set(&prev.to, &g.to);
		if (!g.has_to)
			dec_set_zero(&prev.to);
	}
	if (n < 2)
		*adjacent = false;
	range_clear(&g);
	range_clear(&prev);
	return rc;
}

/*
 * The units of `units` that fall in range g
 * (amount_details/range_graduated_service.rb): eff = min(units, to);
 * eff when from is 0, else eff - from, plus 1 unless the ranges are
 * adjacent (0-10, 11-20 bill 10 then 1 unit for 11; 0-10, 10-20 bill 10
 * then 1 for 11 as well, counted half-open).
 */
static void range_units(dec_t *n, const struct range *g, const dec_t *units,
			bool adjacent)
{
	dec_t one;

	if (g->has_to && dec_cmp(units, &g->to) >= 0)
		dec_set(n, &g->to);
	else
		dec_set(n, units);
	if (dec_is_zero(&g->from))
		return;
	dec_sub(n, n, &g->from);
	if (!adjacent) {
		dec_init(&one);
		dec_set_i64(&one, 1);
		dec_add(n, n, &one);
		dec_clear(&one);
	}
}

/*
 * Graduated and graduated percentage: for each range reached,
 * units_in_range * price (or * rate / 100) + flat_amount, stopping at the
 * first range whose to_value is null or >= units.  Every reached range's
 * flat fee is charged, the first one's even at 0 units (lago-api PR
 * #5760).
 */
static int graduated_sum(const cJSON *ranges, const char *price_key,
			 bool percent, bool adjacent, const dec_t *units,
			 dec_t *amount)
{
	struct range g;
	const cJSON *r;
	dec_t total, n;
	int rc = TLY_OK;

	range_init(&g);
	dec_init(&total);
	dec_init(&n);
	cJSON_ArrayForEach(r, ranges) {
		rc = range_load(r, price_key, &g);
		if (rc != TLY_OK)
			break;
		range_units(&n, &g, units, adjacent);
		if (percent)
			percent_of(&n, &n, &g.price);
		else
			dec_mul(&n, &n, &g.price);
		dec_add(&total, &total, &n);
		dec_add(&total, &total, &g.flat);
		if (!g.has_to || dec_cmp(&g.to, units) >= 0)
			break;
	}
	if (rc == TLY_OK)
		dec_set(amount, &total);
	range_clear(&g);
	dec_clear(&total);
	dec_clear(&n);
	return rc;
}

/*
 * graduated_service.rb: ranges walked in the order given; adjacent
 * ranges (each from_value == previous to_value) count half-open.
 */
int rate_graduated(const cJSON *props, const struct rate_in *in,
		   dec_t *amount)
{
	const cJSON *ranges;
	bool adjacent;
	int rc = check_in(props, in);

	if (rc != TLY_OK)
		return rc;
	ranges = ranges_of(props, "graduated_ranges");
	if (!ranges)
		return TLY_EINVAL;
	rc = ranges_scan(ranges, "per_unit_amount", &adjacent);
	if (rc != TLY_OK)
		return rc;
	return graduated_sum(ranges, "per_unit_amount", false, adjacent,
			     in->units, amount);
}

/*
 * graduated_percentage_service.rb: like graduated with rate / 100 as the
 * unit price, but its range service is always called without
 * adjacent_model, so units in a range always follow the +1 convention
 * (amount_details/range_graduated_percentage_service.rb).
 */
int rate_graduated_percentage(const cJSON *props, const struct rate_in *in,
			      dec_t *amount)
{
	const cJSON *ranges;
	bool adjacent;
	int rc = check_in(props, in);

	if (rc != TLY_OK)
		return rc;
	ranges = ranges_of(props, "graduated_percentage_ranges");
	if (!ranges)
		return TLY_EINVAL;
	rc = ranges_scan(ranges, "rate", &adjacent);
	if (rc != TLY_OK)
		return rc;
	return graduated_sum(ranges, "rate", true, false, in->units, amount);
}

/* volume_service.rb matching_range: from <= ceil(units), units <= to. */
static bool volume_match(const struct range *g, const dec_t *units,
			 const dec_t *ceil_units)
{
	if (dec_cmp(&g->from, ceil_units) > 0)
		return false;
	return !g->has_to || dec_cmp(units, &g->to) <= 0;
}

/*
 * VolumeService: the ranges sorted by from_value, the first one with
 * from_value <= ceil(units) and units <= to_value (null: no bound);
 * amount = units * per_unit_amount + flat_amount.  At 0 units that is
 * the first range's flat fee (lago-api PR #5760).  No range holds the
 * units (negative units, or ranges with a gap): TLY_EINVAL, where Lago
 * raises.
 */
int rate_volume(const cJSON *props, const struct rate_in *in, dec_t *amount)
{
	const dec_t *sel = in->full_units ? in->full_units : in->units;
	struct range g, best;
	const cJSON *ranges, *r;
	dec_t ceil_units;
	bool found = false;
	int rc = check_in(props, in);

	if (rc != TLY_OK)
		return rc;
	ranges = ranges_of(props, "volume_ranges");
	if (!ranges)
		return TLY_EINVAL;
	range_init(&g);
	range_init(&best);
	dec_init(&ceil_units);
	dec_round(&ceil_units, sel, 0, DEC_CEIL);
	cJSON_ArrayForEach(r, ranges) {
		rc = range_load(r, "per_unit_amount", &g);
		if (rc != TLY_OK)
			goto out;
		if (!volume_match(&g, sel, &ceil_units))
			continue;
		if (found && dec_cmp(&g.from, &best.from) >= 0)
			continue;
		dec_set(&best.from, &g.from);
		dec_set(&best.price, &g.price);
		dec_set(&best.flat, &g.flat);
		found = true;
	}
	if (!found) {
		rc = TLY_EINVAL;
		goto out;
	}
	dec_mul(amount, in->units, &best.price);
	dec_add(amount, amount, &best.flat);
out:
	range_clear(&g);
	range_clear(&best);
	dec_clear(&ceil_units);
	return rc;
}

/* ---- percentage ------------------------------------------------------- */

struct pct {
	dec_t rate;		/* percent */
	dec_t fixed;		/* fixed_amount per paying event, or 0 */
	dec_t free_total;	/* free_units_per_total_aggregation, or 0 */
	int64_t free_events;	/* free_units_per_events, or 0 */
	dec_t min, max;		/* per_transaction_min/max_amount */
	bool has_min, has_max;
};

/* The running total of event values the aggregation hands the model. */
struct running {
	dec_t last;	/* its last entry; 0 when empty */
	size_t below;	/* entries < free_units_per_total_aggregation */
};

static void pct_init(struct pct *p)
{
	dec_init(&p->rate);
	dec_init(&p->fixed);
	dec_init(&p->free_total);
	dec_init(&p->min);
	dec_init(&p->max);
	p->free_events = 0;
	p->has_min = p->has_max = false;
}

static void pct_clear(struct pct *p)
{
	dec_clear(&p->rate);
	dec_clear(&p->fixed);
	dec_clear(&p->free_total);
	dec_clear(&p->min);
	dec_clear(&p->max);
}

/* A per-transaction bound: applies when present? (not nil, not blank). */
static int read_bound(const cJSON *v, dec_t *d, bool *has)
{
	*has = !is_blank(v);
	return *has ? read_amount(v, d) : TLY_OK;
}

static int pct_load(const cJSON *props, struct pct *p)
{
	const cJSON *fe = prop(props, "free_units_per_events");
	dec_t n;
	int rc;

	rc = read_amount(prop(props, "rate"), &p->rate);
	if (rc == TLY_OK)
		rc = read_opt_amount(prop(props, "fixed_amount"), &p->fixed);
	if (rc == TLY_OK)
		rc = read_opt_amount(prop(props,
					  "free_units_per_total_aggregation"),
				     &p->free_total);
	if (rc == TLY_OK)
		rc = read_bound(prop(props, "per_transaction_min_amount"),
				&p->min, &p->has_min);
	if (rc == TLY_OK)
		rc = read_bound(prop(props, "per_transaction_max_amount"),
				&p->max, &p->has_max);
	if (rc != TLY_OK || is_nil(fe))
		return rc;
	dec_init(&n);
	rc = read_integer(fe, &n);
	if (rc == TLY_OK && (dec_to_i64(&n, &p->free_events) != TLY_OK ||
			     p->free_events < 0))
		rc = TLY_EINVAL;
	dec_clear(&n);
	return rc;
}

/*
 * The running total as billable_metrics/aggregations/sum_service.rb
 * builds it: empty when no free units are set; with free_units_per_events,
 * the cumulative sums of the first free_units_per_events values; else the
 * cumulative sums until one exceeds free_units_per_total_aggregation (the
 * one that exceeds it included).  For count_agg Lago counts 1..count
 * instead (count_service.rb); with values of 1 that is the same but when
 * both free units are set and free_units_per_events is smaller than both
 * the count and the free total (then Lago's count path frees
 * free_units_per_events units, this frees the free total).
 */
static void running_total(const struct pct *p, const struct rate_in *src,
			  struct running *rt)
{
	dec_t total;

	dec_init(&total);
	rt->below = 0;
	for (size_t i = 0; i < src->nvalues; i++) {
		if (p->free_events == 0 && dec_is_zero(&p->free_total))
			break;
		if (p->free_events && (uint64_t)i >= (uint64_t)p->free_events)
			break;
		if (!p->free_events && dec_cmp(&p->free_total, &total) < 0)
			break;
		dec_add(&total, &total, &src->values[i]);
		if (dec_cmp(&total, &p->free_total) < 0)
			rt->below++;
	}
	dec_set(&rt->last, &total);
	dec_clear(&total);
}

/*
 * percentage_service.rb free_units_value: 0 for an empty (or zero)
 * running total; its last entry when no free total is set or when it
 * stays within it; else the free total.  (Lago's first branch,
 * running_total[free_units_per_events - 1] when free_units_per_events is
 * below the entries, cannot fire on sum_service's running total, which
 * holds at most free_units_per_events entries.)
 */
static void free_value(dec_t *v, const struct pct *p, const struct running *rt)
{
	if (dec_is_zero(&rt->last) || dec_is_zero(&p->free_total) ||
	    dec_cmp(&rt->last, &p->free_total) <= 0)
		dec_set(v, &rt->last);
	else
		dec_set(v, &p->free_total);
}

/*
 * percentage_service.rb free_units_count: the smallest non-zero of
 * free_units_per_events and the running-total entries below the free
 * total; 0 when both are 0.
 */
static int64_t free_count(const struct pct *p, const struct running *rt)
{
	int64_t below = (int64_t)rt->below;

	if (!p->free_events)
		return below;
	if (!below)
		return p->free_events;
	return below < p->free_events ? below : p->free_events;
}

/*
 * Without per-transaction bounds: max(0, units - free value) * rate / 100
 * (0 when the free value exceeds the units) plus fixed_amount for each
 * event past the free count (none when units is 0).
 */
static void pct_total(const struct pct *p, const struct rate_in *in,
		      const struct running *rt, dec_t *amount)
{
	dec_t free_v, x;
	int64_t fc = free_count(p, rt);

	dec_init(&free_v);
	dec_init(&x);
	free_value(&free_v, p, rt);
	dec_set_zero(amount);
	if (dec_cmp(&free_v, in->units) <= 0) {
		dec_sub(&x, in->units, &free_v);
		percent_of(amount, &x, &p->rate);
	}
	if (!dec_is_zero(in->units) && fc < in->events_count) {
		dec_set_i64(&x, in->events_count - fc);
		dec_mul(&x, &x, &p->fixed);
		dec_add(amount, amount, &x);
	}
	dec_clear(&free_v);
	dec_clear(&x);
}

/* apply_min_max: the minimum first, then the maximum. */
static void clamp(const struct pct *p, dec_t *e)
{
	if (p->has_min && dec_cmp(e, &p->min) < 0)
		dec_set(e, &p->min);
	else if (p->has_max && dec_cmp(e, &p->max) > 0)
		dec_set(e, &p->max);
}

/*
 * compute_amount_with_transaction_min_max: per event in time order, an
 * event is free while free events or free amount remain (each free event
 * uses one free event and, while any is left, its value of the free
 * amount); the event that exhausts the free amount pays for the rest of
 * its value and ends all free units.  A paying event costs value * rate
 * / 100 + fixed_amount, clamped to [min, max].  (Lago's `next 0` restarts
 * its reduce sum, but no paying event can come before a free one, so it
 * is the same as skipping the event.)
 */
static void pct_per_event(const struct pct *p, const struct rate_in *in,
			  dec_t *amount)
{
	dec_t left, value, e;
	int64_t events_left = p->free_events;

	dec_init(&left);
	dec_init(&value);
	dec_init(&e);
	dec_set(&left, &p->free_total);
	dec_set_zero(amount);
	for (size_t i = 0; i < in->nvalues; i++) {
		dec_set(&value, &in->values[i]);
		if (events_left > 0 || dec_sgn(&left) > 0) {
			events_left--;
			if (dec_sgn(&left) <= 0)
				continue;
			if (dec_cmp(&left, &value) > 0) {
				dec_sub(&left, &left, &value);
				continue;
			}
			dec_sub(&value, &value, &left);
			dec_set_zero(&left);
			events_left = 0;
		}
		percent_of(&e, &value, &p->rate);
		dec_add(&e, &e, &p->fixed);
		clamp(p, &e);
		dec_add(amount, amount, &e);
	}
	dec_clear(&left);
	dec_clear(&value);
	dec_clear(&e);
}

/*
 * The percentage cost of `in`, its running total taken from `rt_src`
 * (Lago reuses the including aggregation's running total for the
 * pay-in-advance amount without the event).
 */
static int pct_cost(const cJSON *props, const struct rate_in *in,
		    const struct rate_in *rt_src, dec_t *amount)
{
	struct pct p;
	struct running rt;
	int rc;

	pct_init(&p);
	dec_init(&rt.last);
	rc = pct_load(props, &p);
	if (rc == TLY_OK && (p.has_min || p.has_max)) {
		pct_per_event(&p, in, amount);
	} else if (rc == TLY_OK) {
		running_total(&p, rt_src, &rt);
		pct_total(&p, in, &rt, amount);
	}
	pct_clear(&p);
	dec_clear(&rt.last);
	return rc;
}

/*
 * PercentageService.  Per-transaction min/max (a premium feature in
 * Lago, which ignores them otherwise) apply here whenever one is set, and
 * then the amount is computed event by event from in->values.
 */
int rate_percentage(const cJSON *props, const struct rate_in *in,
		    dec_t *amount)
{
	int rc = check_in(props, in);

	if (rc != TLY_OK)
		return rc;
	return pct_cost(props, in, in, amount);
}

/* ---- dispatch ---------------------------------------------------------- */

typedef int (*rate_fn)(const cJSON *, const struct rate_in *, dec_t *);

static const struct {
	const char *name;
	rate_fn fn;
} models[] = {
	{"standard", rate_standard},
	{"package", rate_package},
	{"graduated", rate_graduated},
	{"graduated_percentage", rate_graduated_percentage},
	{"volume", rate_volume},
	{"percentage", rate_percentage},
};

static rate_fn model_fn(const char *model)
{
	for (size_t i = 0; model && i < sizeof(models) / sizeof(models[0]);
	     i++)
		if (strcmp(models[i].name, model) == 0)
			return models[i].fn;
	return NULL;
}

/*
 * The divisor of unit_amount: the units, except for package, whose
 * unit_amount is amount / paid units (package_service.rb); 0 when there
 * is nothing to divide by.
 */
static int unit_divisor(const char *model, const cJSON *props,
			const dec_t *units, dec_t *div)
{
	dec_t size;
	int rc;

	if (strcmp(model, "package") != 0) {
		dec_set(div, units);
		return TLY_OK;
	}
	dec_init(&size);
	rc = package_paid(props, units, div, &size);
	if (rc == TLY_OK && dec_sgn(div) < 0)
		dec_set_zero(div);
	dec_clear(&size);
	return rc;
}

int rate_charge(const char *model, const cJSON *props,
		const struct rate_in *in, struct rate_out *out)
{
	rate_fn fn = model_fn(model);
	dec_t amount, div;
	int rc;

	if (!fn || !out)
		return TLY_EINVAL;
	dec_init(&amount);
	dec_init(&div);
	rc = fn(props, in, &amount);
	if (rc == TLY_OK)
		rc = unit_divisor(model, props, in->units, &div);
	if (rc != TLY_OK)
		goto out;
	if (dec_is_zero(&div))
		dec_set_zero(&out->unit_amount);
	else
		dec_div(&out->unit_amount, &amount, &div,
			UNIT_AMOUNT_PLACES, DEC_HALF_UP);
	dec_set(&out->amount, &amount);
out:
	dec_clear(&amount);
	dec_clear(&div);
	return rc;
}

/* ---- pay in advance -------------------------------------------------- */

/*
 * The amount before the event (charges/apply_pay_in_advance_charge_model
 * _service.rb evaluates it with exclude_event: true): graduated and
 * graduated percentage cost 0 at 0 units there, so that their first flat
 * fee is billed with the first event rather than subtracted from it;
 * percentage keeps the including running total (its TODO to respect
 * exclude_event) but prices min/max per event without the event.
 */
static int cost_before(const char *model, rate_fn fn, const cJSON *props,
		       const struct rate_in *before,
		       const struct rate_in *after, dec_t *amount)
{
	if (strcmp(model, "percentage") == 0) {
		int rc = check_in(props, before);

		return rc != TLY_OK ? rc : pct_cost(props, before, after,
						     amount);
	}
	if ((strcmp(model, "graduated") == 0 ||
	     strcmp(model, "graduated_percentage") == 0) &&
	    before && before->units && dec_is_zero(before->units)) {
		int rc = fn(props, before, amount);

		if (rc == TLY_OK)
			dec_set_zero(amount);
		return rc;
	}
	return fn(props, before, amount);
}

int rate_in_advance(const char *model, const cJSON *props,
		    const struct rate_in *before, const struct rate_in *after,
		    dec_t *amount)
{
	rate_fn fn = model_fn(model);
	dec_t a, b;
	int rc;

	if (!fn || fn == rate_volume)
		return TLY_EINVAL;
	dec_init(&a);
	dec_init(&b);
	rc = fn(props, after, &a);
	if (rc == TLY_OK)
		rc = cost_before(model, fn, props, before, after, &b);
	if (rc == TLY_OK)
		dec_sub(amount, &a, &b);
	dec_clear(&a);
	dec_clear(&b);
	return rc;
}
