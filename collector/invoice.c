/*
 * invoice.c - an invoice's fees, taxes and totals (see invoice.h).
 *
 * Amounts are dec_t in the currency's major unit until a fee is made,
 * where they are rounded once to minor units (dec_to_minor).  Taxes are
 * summed per tax over the fees' amount_cents, unrounded, and rounded once
 * per tax, as Lago's Invoices::ApplyTaxesService does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "coupon.h"
#include "currency.h"
#include "dec.h"
#include "err.h"
#include "invoice.h"
#include "log.h"
#include "rate.h"
#include "util.h"

#define MAX_TAXES 16		/* taxes applied to one invoice */
#define PRORATA_PLACES 20	/* digits kept before rounding to cents */

/* The running state of one invoice being built. */
struct build {
	struct store_conn *c;
	const struct inv_input *in;
	int exp;			/* currency decimals */
	const char *currency;
	cJSON *fees;
	int64_t fees_cents;
	struct coupon_fee *cf;		/* per fee: cents, plan, metric, coupons */
	cJSON **fobj;			/* the fee objects, in the same order */
	size_t nfees, capfees;
	int64_t coupons_cents;
	int64_t sub_cents;		/* this invoice's subscription fee */
	cJSON *credits;			/* the coupons' credits, when final */
	dec_t tax_base[MAX_TAXES];	/* per tax: sum of fee e5 x rate */
	dec_t tax_rate[MAX_TAXES];
	const cJSON *tax[MAX_TAXES];
	int ntax;
};

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t num(const cJSON *o, const char *key, int64_t def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

static int put_dec(cJSON *o, const char *key, const dec_t *d)
{
	char buf[DEC_DOUBLE_BUFSZ];
	dec_t n;
	int rc;

	dec_init(&n);
	dec_set(&n, d);
	dec_normalize(&n);
	rc = dec_format(&n, buf, sizeof(buf));
	dec_clear(&n);
	if (rc == TLY_OK && !cJSON_AddStringToObject(o, key, buf))
		rc = TLY_ENOMEM;
	return rc;
}

static void put_time(cJSON *o, const char *key, int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	util_iso_time(ms, 0, buf);
	cJSON_AddStringToObject(o, key, buf);
}

/* ---- Taxes ------------------------------------------------------------- */

/* A tax's rate, stored as a number (20.0) or a string ("20.00"). */
static int tax_rate(const cJSON *tax, dec_t *rate)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(tax, "rate");

	if (cJSON_IsString(r))
		return dec_parse_str(rate, r->valuestring);
	if (cJSON_IsNumber(r))
		return dec_from_double(rate, r->valuedouble);
	return TLY_EINVAL;
}

static int taxes_setup(struct build *b)
{
	const cJSON *tax;

	cJSON_ArrayForEach(tax, b->in->taxes) {
		if (b->ntax == MAX_TAXES)
			return TLY_ERANGE;
		if (tax_rate(tax, &b->tax_rate[b->ntax]) != TLY_OK)
			return TLY_EINVAL;
		b->tax[b->ntax++] = tax;
	}
	return TLY_OK;
}

/*
 * A fee's tax on base_e5 (its amount less its coupons, in 1/100000
 * cent): the fee's own line is rounded on its own; each tax's base for
 * the invoice is summed unrounded (Lago's Invoices::ApplyTaxesService).
 */
static int64_t fee_taxes(struct build *b, int64_t base_e5, dec_t *sum_rates)
{
	dec_t t, den;
	int64_t out = 0;

	dec_init(&t);
	dec_init(&den);
	dec_set_zero(sum_rates);
	for (int i = 0; i < b->ntax; i++) {
		dec_add(sum_rates, sum_rates, &b->tax_rate[i]);
		dec_set_i64(&t, base_e5);
		dec_mul(&t, &t, &b->tax_rate[i]);
		dec_add(&b->tax_base[i], &b->tax_base[i], &t);
	}
	dec_set_i64(&t, base_e5);
	dec_mul(&t, &t, sum_rates);
	dec_set_i64(&den, 100LL * COUPON_E5);
	if (dec_div(&t, &t, &den, 0, DEC_HALF_UP) == TLY_OK)
		dec_to_i64(&t, &out);
	dec_clear(&t);
	dec_clear(&den);
	return out;
}

/* Keep a fee (its object and what coupons need) in the build's lists. */
static int keep_fee(struct build *b, cJSON *f, int64_t cents,
		    const char *metric_id)
{
	if (b->nfees == b->capfees) {
		size_t cap = b->capfees ? 2 * b->capfees : 16;
		struct coupon_fee *cf = realloc(b->cf, cap * sizeof(*cf));
		cJSON **fo;

		if (!cf)
			return TLY_ENOMEM;
		b->cf = cf;
		fo = realloc(b->fobj, cap * sizeof(*fo));
		if (!fo)
			return TLY_ENOMEM;
		b->fobj = fo;
		b->capfees = cap;
	}
	b->cf[b->nfees] = (struct coupon_fee){cents, b->in->plan_id, metric_id,
					      0};
	b->fobj[b->nfees++] = f;
	return TLY_OK;
}

/* Every fee's tax lines, once the coupons have taken their shares. */
static void all_fee_taxes(struct build *b)
{
	dec_t sum_rates;

	dec_init(&sum_rates);
	for (size_t i = 0; i < b->nfees; i++) {
		const struct coupon_fee *cf = &b->cf[i];
		int64_t taxes = fee_taxes(b, cf->amount_cents * COUPON_E5 -
					  cf->coupons_e5, &sum_rates);

		cJSON_AddNumberToObject(b->fobj[i], "taxes_amount_cents",
					(double)taxes);
		put_dec(b->fobj[i], "taxes_rate", &sum_rates);
		cJSON_AddNumberToObject(b->fobj[i], "total_amount_cents",
					(double)(cf->amount_cents + taxes));
	}
	dec_clear(&sum_rates);
}

/* ---- Fees -------------------------------------------------------------- */

struct fee_in {
	cJSON *item;			/* consumed */
	const char *charge_id;		/* lago_charge_id, NULL for the plan */
	const dec_t *amount;		/* major units, unrounded */
	const dec_t *units;
	const dec_t *unit_amount;
	int64_t events;
	int64_t from_ms, to_ms;
	int64_t cents;			/* out: the fee's amount_cents */
	int in_advance;			/* a pay-in-advance charge's fee */
	const char *metric_id;		/* a charge fee's metric (coupons) */
};

/* Round to cents once, add the taxes' bases, append Lago's fee object. */
static int add_fee(struct build *b, struct fee_in *fi)
{
	cJSON *f = cJSON_CreateObject();
	int64_t cents = 0;
	dec_t zero;
	char id[UTIL_UUID_LEN];
	int rc = TLY_ENOMEM;

	dec_init(&zero);
	if (!f || util_uuid(id) != TLY_OK)
		goto out;
	/* Lago: a negative amount is billed as 0. */
	if (dec_sgn(fi->amount) > 0) {
		rc = dec_to_minor(fi->amount, b->exp, &cents);
		if (rc != TLY_OK)
			goto out;
	}
	b->fees_cents += cents;
	fi->cents = cents;
	cJSON_AddStringToObject(f, "lago_id", id);
	if (fi->charge_id)
		cJSON_AddStringToObject(f, "lago_charge_id", fi->charge_id);
	else
		cJSON_AddNullToObject(f, "lago_charge_id");
	cJSON_AddStringToObject(f, "lago_subscription_id", b->in->sub_lago_id);
	cJSON_AddStringToObject(f, "external_subscription_id",
				b->in->sub_external_id);
	cJSON_AddNumberToObject(f, "amount_cents", (double)cents);
	put_dec(f, "precise_amount", dec_sgn(fi->amount) > 0 ? fi->amount :
		&zero);
	cJSON_AddStringToObject(f, "amount_currency", b->currency);
	put_dec(f, "units", fi->units);
	put_dec(f, "precise_unit_amount", fi->unit_amount);
	cJSON_AddStringToObject(f, "total_amount_currency", b->currency);
	cJSON_AddNumberToObject(f, "events_count", (double)fi->events);
	cJSON_AddBoolToObject(f, "pay_in_advance", fi->in_advance);
	cJSON_AddBoolToObject(f, "invoiceable", 1);
	put_time(f, "from_date", fi->from_ms);
	put_time(f, "to_date", fi->to_ms);
	cJSON_AddItemToObject(f, "item", fi->item);
	fi->item = NULL;
	rc = cJSON_AddItemToArray(b->fees, f) ? TLY_OK : TLY_ENOMEM;
	if (rc == TLY_OK) {
		rc = keep_fee(b, f, cents, fi->charge_id ? fi->metric_id : NULL);
		f = NULL;	/* b->fees owns it now */
	}
out:
	cJSON_Delete(fi->item);
	fi->item = NULL;
	cJSON_Delete(f);
	dec_clear(&zero);
	return rc;
}

static cJSON *item(const char *type, const char *code, const char *name,
		   const char *lago_item_id, const cJSON *filters)
{
	cJSON *it = cJSON_CreateObject();

	if (!it)
		return NULL;
	cJSON_AddStringToObject(it, "type", type);
	cJSON_AddStringToObject(it, "code", code ? code : "");
	cJSON_AddStringToObject(it, "name", name ? name : "");
	cJSON_AddStringToObject(it, "invoice_display_name", name ? name : "");
	cJSON_AddItemToObject(it, "filters", filters ?
			      cJSON_Duplicate(filters, 1) : cJSON_CreateNull());
	cJSON_AddStringToObject(it, "lago_item_id", lago_item_id ?
				lago_item_id : "");
	cJSON_AddStringToObject(it, "item_type",
				!strcmp(type, "subscription") ? "Subscription" :
				!strcmp(type, "commitment") ? "Commitment" :
				"BillableMetric");
	return it;
}

/*
 * The subscription fee: amount_cents x fee_days / days, the proration
 * Lago applies to a first calendar period and to a termination
 * ($50 x 22/31 = $35.48).
 */
static int subscription_fee(struct build *b)
{
	const struct inv_period *p = &b->in->p;
	const cJSON *plan = b->in->plan;
	dec_t amount, ratio, den, one;
	struct fee_in fi;
	int rc;

	dec_init(&amount);
	dec_init(&ratio);
	dec_init(&den);
	dec_init(&one);
	dec_from_minor(&amount, num(plan, "amount_cents", 0), b->exp);
	dec_set_i64(&ratio, p->fee_days);
	dec_set_i64(&den, p->days);
	rc = dec_div(&ratio, &ratio, &den, PRORATA_PLACES, DEC_HALF_UP);
	if (rc == TLY_OK) {
		dec_mul(&amount, &amount, &ratio);
		dec_set_i64(&one, 1);
		fi = (struct fee_in){
			item("subscription", str(plan, "code"), str(plan, "name"),
			     b->in->sub_lago_id, NULL), NULL,
			&amount, &one, &amount, 0, p->from_ms, p->to_ms, 0, 0,
			NULL};
		rc = fi.item ? add_fee(b, &fi) : TLY_ENOMEM;
		b->sub_cents = fi.cents;
	}
	dec_clear(&amount);
	dec_clear(&ratio);
	dec_clear(&den);
	dec_clear(&one);
	return rc;
}

/*
 * A true-up: what a minimum (prorated by days) exceeds what was billed,
 * in cents, as its own fee.  Nothing when the minimum was met.
 */
static int true_up(struct build *b, cJSON *it, int64_t min_cents,
		   int days_used, int days_total, int64_t billed_cents,
		   int64_t from_ms, int64_t to_ms)
{
	dec_t want, t, one;
	int64_t want_cents = 0;
	struct fee_in fi;
	int rc = TLY_OK;

	if (!it)
		return TLY_ENOMEM;
	dec_init(&want);
	dec_init(&t);
	dec_init(&one);
	dec_set_i64(&want, min_cents * days_used);
	dec_set_i64(&t, days_total > 0 ? days_total : 1);
	if (dec_div(&want, &want, &t, 0, DEC_HALF_UP) == TLY_OK)
		dec_to_i64(&want, &want_cents);
	if (want_cents > billed_cents) {
		dec_from_minor(&t, want_cents - billed_cents, b->exp);
		dec_set_i64(&one, 1);
		fi = (struct fee_in){it, NULL, &t, &one, &t, 0, from_ms, to_ms, 0,
				     0, NULL};
		it = NULL;
		rc = add_fee(b, &fi);
	}
	cJSON_Delete(it);	/* NULL when the fee took it */
	dec_clear(&want);
	dec_clear(&t);
	dec_clear(&one);
	return rc;
}

/* The metric a charge bills, from the store (deleted ones too). */
static cJSON *metric_doc(struct build *b, const char *code)
{
	static const char *const sql =
		"SELECT doc FROM billable_metrics WHERE code = ? "
		"ORDER BY deleted_at IS NOT NULL, created_at DESC LIMIT 1";
	struct store_stmt *st = NULL;
	cJSON *doc = NULL;

	if (store_prepare(b->c, sql, &st) != TLY_OK)
		return NULL;
	store_bind_text(st, 1, code);
	if (store_step(st) == STORE_ROW)
		doc = cJSON_Parse(store_col_text(st, 0));
	store_reset(st);
	return doc;
}

/* One slice of a charge: aggregate with match/exclude, rate, add a fee. */
/* One slice of a charge, as charge_fees walks them. */
struct slice {
	const cJSON *charge, *metric;
	const cJSON *props;		/* the slice's charge properties */
	const cJSON *match, *exclude;	/* which usage is the slice's */
	const cJSON *filters;		/* the fee item's filters, or NULL */
};

static void slice_query(struct build *b, const struct slice *sl,
			struct agg_query *q)
{
	const struct inv_period *p = &b->in->p;

	*q = (struct agg_query){
		.sub = b->in->sub_external_id, .code = str(sl->metric, "code"),
		.type = str(sl->metric, "aggregation_type"),
		.field = str(sl->metric, "field_name"),
		.recurring = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			sl->metric, "recurring")),
		.from_ms = p->charges_from_ms, .to_ms = p->charges_to_ms,
		.match = sl->match, .exclude = sl->exclude,
		.rounding_function = str(sl->metric, "rounding_function"),
		.rounding_precision = (int)num(sl->metric, "rounding_precision",
					       0),
		.period_days = p->days,
		.prorated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			sl->charge, "prorated")),
	};
}

/* Aggregate one slice (and group), rate it, add its fee. */
static int charge_slice(struct build *b, const struct slice *sl,
			const cJSON *group, int64_t *billed)
{
	const struct inv_period *p = &b->in->p;
	struct agg_query q;
	struct agg_result r;
	struct rate_out ro;
	struct rate_in ri;
	struct fee_in fi;
	cJSON *it;
	int rc;

	slice_query(b, sl, &q);
	q.group = group;
	agg_result_init(&r);
	rate_out_init(&ro);
	rc = agg_run(b->c, &q, &r);
	if (rc == TLY_OK) {
		ri = (struct rate_in){.units = &r.units,
				      .events_count = r.events_count,
				      .values = r.values, .nvalues = r.nvalues,
				      .full_units = q.prorated ? &r.full_units :
							       NULL};
		rc = rate_charge(str(sl->charge, "charge_model"), sl->props, &ri,
				 &ro);
	}
	if (rc == TLY_OK) {
		it = item("charge", q.code, str(sl->metric, "name"),
			  str(sl->charge, "lago_billable_metric_id"),
			  sl->filters);
		if (it)
			cJSON_AddItemToObject(it, "grouped_by", group ?
					      cJSON_Duplicate(group, 1) :
					      cJSON_CreateObject());
		fi = (struct fee_in){it, str(sl->charge, "lago_id"),
			&ro.amount, &r.units, &ro.unit_amount, r.events_count,
			p->charges_from_ms, p->charges_to_ms, 0, 0,
			str(sl->charge, "lago_billable_metric_id")};
		rc = fi.item ? add_fee(b, &fi) : TLY_ENOMEM;
		*billed += fi.cents;
	}
	rate_out_clear(&ro);
	agg_result_clear(&r);
	return rc;
}

/*
 * A slice's fees: one, or with pricing_group_keys (grouped_by, their
 * older name) one per combination of the keys' values, each rated on
 * its own (Lago's ChargeModels::GroupedService).
 */
static int slice_fees(struct build *b, const struct slice *sl,
		      int64_t *billed)
{
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(sl->props,
							     "pricing_group_keys");
	const cJSON *g;
	cJSON *groups = NULL;
	struct agg_query q;
	int rc;

	if (!keys)
		keys = cJSON_GetObjectItemCaseSensitive(sl->props, "grouped_by");
	if (!cJSON_IsArray(keys) || cJSON_GetArraySize(keys) == 0)
		return charge_slice(b, sl, NULL, billed);
	slice_query(b, sl, &q);
	rc = agg_groups(b->c, &q, keys, &groups);
	if (rc == TLY_OK && cJSON_GetArraySize(groups) == 0)
		rc = charge_slice(b, sl, NULL, billed);
	cJSON_ArrayForEach(g, groups)
		if (rc == TLY_OK)
			rc = charge_slice(b, sl, g, billed);
	cJSON_Delete(groups);
	return rc;
}

/* A charge's fees: one per filter, then the default slice. */
static int charge_fees(struct build *b, const cJSON *charge)
{
	const cJSON *filters = cJSON_GetObjectItemCaseSensitive(charge,
								"filters");
	const char *code = str(charge, "billable_metric_code");
	cJSON *metric = code ? metric_doc(b, code) : NULL, *exclude, *f;
	const cJSON *min = cJSON_GetObjectItemCaseSensitive(charge,
							    "min_amount_cents");
	const struct inv_period *p = &b->in->p;
	struct slice sl = {charge, metric, NULL, NULL, NULL, NULL};
	int64_t billed = 0;
	int rc = TLY_OK;

	if (!metric) {
		log_error("invoice: charge on unknown metric %s", code ? code :
			  "(none)");
		return TLY_EINVAL;
	}
	exclude = cJSON_CreateArray();
	cJSON_ArrayForEach(f, filters) {
		sl.props = cJSON_GetObjectItemCaseSensitive(f, "properties");
		sl.match = cJSON_GetObjectItemCaseSensitive(f, "values");
		sl.filters = sl.match;
		if (rc == TLY_OK)
			rc = slice_fees(b, &sl, &billed);
		if (exclude)
			cJSON_AddItemToArray(exclude,
					     cJSON_Duplicate(sl.match, 1));
	}
	sl = (struct slice){charge, metric,
			    cJSON_GetObjectItemCaseSensitive(charge, "properties"),
			    NULL, exclude, NULL};
	if (rc == TLY_OK)
		rc = exclude ? slice_fees(b, &sl, &billed) : TLY_ENOMEM;
	/* Lago's spending minimum, prorated by the days billed. */
	if (rc == TLY_OK && cJSON_IsNumber(min) && min->valuedouble > 0)
		rc = true_up(b, item("charge", code, "True-up",
				     str(charge, "lago_billable_metric_id"), NULL),
			     (int64_t)min->valuedouble,
			     period_days_between(p->charges_from_ms,
						 p->charges_to_ms),
			     p->days, billed, p->charges_from_ms,
			     p->charges_to_ms);
	cJSON_Delete(exclude);
	cJSON_Delete(metric);
	return rc;
}

static int all_charges(struct build *b)
{
	const cJSON *ch;
	int rc = TLY_OK;

	cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(b->in->plan,
								"charges")) {
		/* Pay-in-advance charges are billed as events arrive. */
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			    ch, "pay_in_advance")))
			continue;
		rc = charge_fees(b, ch);
		if (rc != TLY_OK)
			break;
	}
	return rc;
}

/* ---- Pay-in-advance charges ------------------------------------------------ */

/*
 * The running aggregation of one slice of an in-advance charge: count,
 * sum, or the set of distinct values (unique_count), with every value
 * seen for the percentage model.
 */
struct run {
	dec_t units;
	int64_t events;
	dec_t *values;
	size_t nvalues, cap;
	char **set;		/* unique_count's live values */
	size_t nset, capset;
};

static void run_clear(struct run *r)
{
	dec_clear(&r->units);
	for (size_t i = 0; i < r->nvalues; i++)
		dec_clear(&r->values[i]);
	free(r->values);
	for (size_t i = 0; i < r->nset; i++)
		free(r->set[i]);
	free(r->set);
}

static int run_push_value(struct run *r, const dec_t *v)
{
	if (r->nvalues == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		dec_t *n = realloc(r->values, cap * sizeof(*n));

		if (!n)
			return TLY_ENOMEM;
		r->values = n;
		r->cap = cap;
	}
	dec_init(&r->values[r->nvalues]);
	dec_set(&r->values[r->nvalues++], v);
	return TLY_OK;
}

/* Add or remove a distinct value; units follow the set's size. */
static int run_set(struct run *r, const char *v, int add)
{
	size_t i;

	for (i = 0; i < r->nset && strcmp(r->set[i], v); i++)
		;
	if (!add && i < r->nset) {
		free(r->set[i]);
		r->set[i] = r->set[--r->nset];
	} else if (add && i == r->nset) {
		char **n = r->nset == r->capset ?
			realloc(r->set, (r->capset = r->capset ? 2 * r->capset :
					 16) * sizeof(*n)) : r->set;

		if (!n)
			return TLY_ENOMEM;
		r->set = n;
		r->set[r->nset] = strdup(v);
		if (!r->set[r->nset])
			return TLY_ENOMEM;
		r->nset++;
	}
	dec_set_i64(&r->units, (int64_t)r->nset);
	return TLY_OK;
}

/* Fold one event into r; *counted is 0 when its value is unusable. */
static int run_add(struct run *r, const char *type, const char *field,
		   const cJSON *props, int *counted)
{
	const cJSON *v = field ? cJSON_GetObjectItemCaseSensitive(props, field)
			       : NULL;
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(props,
							   "operation_type");
	dec_t d;
	int rc = TLY_OK;

	*counted = 1;
	dec_init(&d);
	if (!strcmp(type, "unique_count_agg")) {
		*counted = cJSON_IsString(v);
		if (*counted)
			rc = run_set(r, v->valuestring, !cJSON_IsString(op) ||
				     strcmp(op->valuestring, "remove"));
	} else if (!strcmp(type, "sum_agg")) {
		*counted = cJSON_IsString(v) &&
			   dec_parse_str(&d, v->valuestring) == TLY_OK;
		if (*counted)
			dec_add(&r->units, &r->units, &d);
	} else {
		dec_set_i64(&d, 1);	/* count_agg */
		dec_add(&r->units, &r->units, &d);
	}
	if (rc == TLY_OK && *counted) {
		r->events++;
		rc = run_push_value(r, !strcmp(type, "sum_agg") ? &d :
				    &r->units);
	}
	dec_clear(&d);
	return rc;
}

/* The index of the filter slice props falls in; nfilters: the default. */
static int slice_of(const cJSON *filters, const cJSON *props)
{
	const cJSON *f, *want, *v;
	int i = 0;

	cJSON_ArrayForEach(f, filters) {
		int all = 1;

		cJSON_ArrayForEach(want, cJSON_GetObjectItemCaseSensitive(
					   f, "values")) {
			const cJSON *have = cJSON_GetObjectItemCaseSensitive(
				props, want->string);
			int one = 0;

			cJSON_ArrayForEach(v, want)
				one |= cJSON_IsString(have) && cJSON_IsString(v) &&
				       (!strcmp(v->valuestring, have->valuestring) ||
					!strcmp(v->valuestring,
						"__ALL_FILTER_VALUES__"));
			all &= one;
		}
		if (all)
			return i;
		i++;
	}
	return i;
}

/* One event's fee: what it adds to its slice's cost so far. */
static int advance_fee(struct build *b, const cJSON *charge,
		       const cJSON *metric, const cJSON *props_of_slice,
		       struct run *r, const cJSON *props, int64_t ts_ms,
		       int billed, cJSON *ids, const char *event_id)
{
	const char *type = str(metric, "aggregation_type");
	struct rate_in before, after;
	dec_t units_before, delta_units, amount;
	struct fee_in fi;
	int counted, rc;

	dec_init(&units_before);
	dec_init(&delta_units);
	dec_init(&amount);
	dec_set(&units_before, &r->units);
	before = (struct rate_in){.units = &units_before, .events_count = r->events,
				  .values = r->values,
				  .nvalues = r->nvalues};
	rc = run_add(r, type, str(metric, "field_name"), props, &counted);
	if (rc != TLY_OK || !counted || billed)
		goto out;
	after = (struct rate_in){.units = &r->units, .events_count = r->events,
				 .values = r->values, .nvalues = r->nvalues};
	rc = rate_in_advance(str(charge, "charge_model"), props_of_slice,
			     &before, &after, &amount);
	dec_sub(&delta_units, &r->units, &units_before);
	fi = (struct fee_in){
		item("charge", str(metric, "code"), str(metric, "name"),
		     str(charge, "lago_billable_metric_id"), NULL),
		str(charge, "lago_id"), &amount, &delta_units, &amount, 1, ts_ms,
		ts_ms, 0, 1, str(charge, "lago_billable_metric_id")};
	if (rc == TLY_OK)
		rc = fi.item ? add_fee(b, &fi) : TLY_ENOMEM;
	else
		cJSON_Delete(fi.item);
	if (rc == TLY_OK && !cJSON_AddItemToArray(ids,
				cJSON_CreateString(event_id)))
		rc = TLY_ENOMEM;
out:
	dec_clear(&units_before);
	dec_clear(&delta_units);
	dec_clear(&amount);
	return rc;
}

/* All of the period's events of an in-advance charge, in time order. */
static int advance_charge(struct build *b, const cJSON *charge,
			  int64_t upto_ms, cJSON *ids)
{
	static const char *const sql =
		"SELECT e.lago_id, e.properties, e.ts_ms, "
		"EXISTS (SELECT 1 FROM advance_billed a "
		"WHERE a.event_id = e.lago_id) FROM events e "
		"WHERE e.sub = ? AND e.code = ? AND e.ts_ms >= ? AND e.ts_ms <= ? "
		"ORDER BY e.ts_ms, e.created_at, e.lago_id";
	const cJSON *filters = cJSON_GetObjectItemCaseSensitive(charge,
								"filters");
	const char *code = str(charge, "billable_metric_code");
	cJSON *metric = code ? metric_doc(b, code) : NULL;
	int nslices = cJSON_GetArraySize(filters) + 1, rc = TLY_OK;
	struct run *runs = calloc((size_t)nslices, sizeof(*runs));
	struct store_stmt *st = NULL;
	int64_t to = b->in->p.charges_to_ms < upto_ms ?
		     b->in->p.charges_to_ms : upto_ms;

	for (int i = 0; runs && i < nslices; i++)
		dec_init(&runs[i].units);
	if (!metric || !runs)
		rc = metric ? TLY_ENOMEM : TLY_EINVAL;
	if (rc == TLY_OK)
		rc = store_prepare(b->c, sql, &st);
	if (rc == TLY_OK) {
		store_bind_text(st, 1, b->in->sub_external_id);
		store_bind_text(st, 2, code);
		store_bind_i64(st, 3, b->in->p.charges_from_ms);
		store_bind_i64(st, 4, to);
	}
	while (rc == TLY_OK && store_step(st) == STORE_ROW) {
		cJSON *props = cJSON_Parse(store_col_text(st, 1));
		int k = props ? slice_of(filters, props) : 0;
		const cJSON *sp = k < nslices - 1 ?
			cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
				filters, k), "properties") :
			cJSON_GetObjectItemCaseSensitive(charge, "properties");

		rc = props ? advance_fee(b, charge, metric, sp, &runs[k], props,
					 store_col_i64(st, 2),
					 (int)store_col_i64(st, 3), ids,
					 store_col_text(st, 0)) : TLY_ENOMEM;
		cJSON_Delete(props);
	}
	if (st)
		store_reset(st);
	for (int i = 0; runs && i < nslices; i++)
		run_clear(&runs[i]);
	free(runs);
	cJSON_Delete(metric);
	return rc;
}

/* amount x num / den, rounded half-up to a whole cent. */
static int64_t prorata_cents(int64_t amount, int num, int den)
{
	dec_t a, d;
	int64_t out = 0;

	dec_init(&a);
	dec_init(&d);
	dec_set_i64(&a, amount * num);
	dec_set_i64(&d, den > 0 ? den : 1);
	if (dec_div(&a, &a, &d, 0, DEC_HALF_UP) == TLY_OK)
		dec_to_i64(&a, &out);
	dec_clear(&a);
	dec_clear(&d);
	return out;
}

/*
 * The plan's minimum commitment: what a period's fees (subscription and
 * charges) fall short of it, prorated by the days the subscription ran
 * (Lago's Commitments::Minimum).  In arrears the period is this invoice's;
 * in advance it is the previous one, whose usage and (already billed)
 * subscription fee this invoice settles.
 */
static int commitment(struct build *b)
{
	const cJSON *mc = cJSON_GetObjectItemCaseSensitive(b->in->plan,
							   "minimum_commitment");
	const struct inv_period *p = &b->in->p;
	int64_t amount = num(mc, "amount_cents", 0), billed = b->fees_cents;
	const char *name = str(mc, "invoice_display_name");
	int days = period_days_between(p->from_ms, p->to_ms), total = p->days;

	if (amount <= 0)
		return TLY_OK;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b->in->plan,
							  "pay_in_advance"))) {
		if (!p->bill_charges || p->prev_days <= 0)
			return TLY_OK;
		days = p->prev_fee_days;
		total = p->prev_days;
		billed = billed - b->sub_cents +
			 prorata_cents(num(b->in->plan, "amount_cents", 0),
				       p->prev_fee_days, p->prev_days);
	}
	return true_up(b, item("commitment", "minimum_commitment",
			       name ? name : "Minimum commitment", NULL, NULL),
		       amount, days, total, billed, p->from_ms, p->to_ms);
}

/* ---- Totals ---------------------------------------------------------------- */

/* applied_taxes and the totals, taxes rounded once per tax. */
static int totals(struct build *b, cJSON *inv)
{
	cJSON *applied = cJSON_AddArrayToObject(inv, "applied_taxes");
	int64_t taxes = 0, sub;
	dec_t t, hundred;

	if (!applied)
		return TLY_ENOMEM;
	all_fee_taxes(b);
	dec_init(&t);
	dec_init(&hundred);
	dec_set_i64(&hundred, 100LL * COUPON_E5);
	for (int i = 0; i < b->ntax; i++) {
		cJSON *a = cJSON_CreateObject();
		int64_t cents = 0;

		dec_div(&t, &b->tax_base[i], &hundred, 0, DEC_HALF_UP);
		dec_to_i64(&t, &cents);
		taxes += cents;
		if (!a)
			continue;
		cJSON_AddStringToObject(a, "tax_code", str(b->tax[i], "code"));
		cJSON_AddStringToObject(a, "tax_name", str(b->tax[i], "name"));
		put_dec(a, "tax_rate", &b->tax_rate[i]);
		cJSON_AddNumberToObject(a, "amount_cents", (double)cents);
		cJSON_AddStringToObject(a, "amount_currency", b->currency);
		cJSON_AddNumberToObject(a, "fees_amount_cents",
					(double)(b->fees_cents - b->coupons_cents));
		cJSON_AddItemToArray(applied, a);
	}
	dec_clear(&t);
	dec_clear(&hundred);
	/* Lago: fees - coupons, then taxes, then the total. */
	sub = b->fees_cents - b->coupons_cents;
	cJSON_AddStringToObject(inv, "currency", b->currency);
	cJSON_AddNumberToObject(inv, "fees_amount_cents", (double)b->fees_cents);
	cJSON_AddNumberToObject(inv, "coupons_amount_cents",
				(double)b->coupons_cents);
	cJSON_AddNumberToObject(inv, "credit_notes_amount_cents", 0);
	cJSON_AddNumberToObject(inv, "sub_total_excluding_taxes_amount_cents",
				(double)sub);
	cJSON_AddNumberToObject(inv, "taxes_amount_cents", (double)taxes);
	cJSON_AddNumberToObject(inv, "sub_total_including_taxes_amount_cents",
				(double)(sub + taxes));
	cJSON_AddNumberToObject(inv, "prepaid_credit_amount_cents", 0);
	cJSON_AddNumberToObject(inv, "progressive_billing_credit_amount_cents",
				0);
	cJSON_AddNumberToObject(inv, "total_amount_cents",
				(double)(sub + taxes));
	return TLY_OK;
}

/*
 * Coupons, finalizing only: the customer's active ones take their credits
 * from the fees (each fee's share in cf[].coupons_e5) and are used up in
 * this transaction; the credits go into the invoice.
 */
static int coupons(struct build *b)
{
	struct coupon_list l = {0};
	int rc;

	if (!b->in->final || !b->in->customer_id || b->fees_cents <= 0)
		return TLY_OK;
	rc = coupon_load_active(b->c, b->in->customer_id, &l);
	if (rc == TLY_OK)
		rc = coupon_apply(&l, b->currency, b->fees_cents, b->cf, b->nfees,
				  &b->coupons_cents);
	if (rc == TLY_OK && l.n > 0) {
		b->credits = cJSON_CreateArray();
		rc = b->credits ? coupon_credits_json(&l, b->in->invoice_id,
			b->fees_cents - b->coupons_cents > 0 ? "pending" :
			"succeeded", b->credits) : TLY_ENOMEM;
	}
	if (rc == TLY_OK && l.n > 0)
		rc = coupon_commit(b->c, &l, b->in->invoice_id);
	coupon_list_free(&l);
	return rc;
}

static void build_init(struct build *b, struct store_conn *c,
		       const struct inv_input *in)
{
	memset(b, 0, sizeof(*b));
	b->c = c;
	b->in = in;
	for (int i = 0; i < MAX_TAXES; i++) {
		dec_init(&b->tax_base[i]);
		dec_init(&b->tax_rate[i]);
	}
	b->currency = str(in->plan, "amount_currency");
	b->exp = currency_exponent(b->currency);
	b->fees = cJSON_CreateArray();
}

static void build_clear(struct build *b)
{
	cJSON_Delete(b->fees);
	cJSON_Delete(b->credits);
	free(b->cf);
	free(b->fobj);
	for (int i = 0; i < MAX_TAXES; i++) {
		dec_clear(&b->tax_base[i]);
		dec_clear(&b->tax_rate[i]);
	}
}

/* Hand the fees (and credits) over to inv; NULL-safe on failure. */
static int attach(struct build *b, cJSON *inv)
{
	if (!cJSON_AddItemToObject(inv, "fees", b->fees))
		return TLY_ENOMEM;
	b->fees = NULL;
	if (b->credits) {
		if (!cJSON_AddItemToObject(inv, "credits", b->credits))
			return TLY_ENOMEM;
		b->credits = NULL;
	}
	return TLY_OK;
}

int inv_build(struct store_conn *c, const struct inv_input *in, cJSON **out)
{
	struct build b;
	cJSON *inv = cJSON_CreateObject();
	int rc;

	*out = NULL;
	build_init(&b, c, in);
	rc = !inv || !b.fees ? TLY_ENOMEM : b.exp < 0 ? TLY_EINVAL :
	     taxes_setup(&b);
	if (rc == TLY_OK && in->p.bill_subscription)
		rc = subscription_fee(&b);
	if (rc == TLY_OK && in->p.bill_charges)
		rc = all_charges(&b);
	if (rc == TLY_OK && in->p.bill_charges)
		rc = commitment(&b);
	if (rc == TLY_OK)
		rc = coupons(&b);
	if (rc == TLY_OK)
		rc = totals(&b, inv);
	if (rc == TLY_OK)
		rc = attach(&b, inv);
	if (rc == TLY_OK) {
		*out = inv;
		inv = NULL;
	}
	cJSON_Delete(inv);
	build_clear(&b);
	return rc;
}

int inv_build_advance(struct store_conn *c, const struct inv_input *in,
		      int64_t upto_ms, cJSON **out, cJSON **events)
{
	struct build b;
	cJSON *inv = cJSON_CreateObject(), *ids = cJSON_CreateArray();
	const cJSON *ch;
	int rc;

	*out = *events = NULL;
	build_init(&b, c, in);
	rc = !inv || !ids || !b.fees ? TLY_ENOMEM : b.exp < 0 ? TLY_EINVAL :
	     taxes_setup(&b);
	cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(in->plan,
								"charges"))
		/* invoiceable: false keeps the fees off invoices (Lago). */
		if (rc == TLY_OK && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
					ch, "pay_in_advance")) &&
		    !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
					ch, "invoiceable")))
			rc = advance_charge(&b, ch, upto_ms, ids);
	if (rc == TLY_OK && cJSON_GetArraySize(ids) > 0)
		rc = totals(&b, inv);
	if (rc == TLY_OK && cJSON_GetArraySize(ids) > 0)
		rc = attach(&b, inv);
	if (rc == TLY_OK && cJSON_GetArraySize(ids) > 0) {
		*out = inv;
		*events = ids;
		inv = ids = NULL;
	}
	cJSON_Delete(inv);
	cJSON_Delete(ids);
	build_clear(&b);
	return rc;
}
