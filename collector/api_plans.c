/*
 * api_plans.c - /api/v1/plans: create, get, list, update (attributes and
 * charges), delete (a soft delete).
 *
 * The stored doc keeps the plan's attributes under Lago's request names,
 * so an update lays the request over the stored attributes and checks the
 * result as a create would.  Its charges are stored checked, each with
 * what rating and the agents' catalog (catalog.c) read: lago_id,
 * billable_metric_code, charge_model, pay_in_advance, properties (with
 * pricing_group_keys or grouped_by), filters [{values, properties,
 * invoice_display_name}] and the options Lago bills with.  plan_json
 * writes a plan in the order of Lago's serializers, with taxes resolved
 * from their codes.
 *
 * Lago checks the charges' billable metrics first (404
 * billable_metrics_not_found), then the plan's attributes, then each
 * charge in turn and its filters; a 422 carries the errors of the first
 * of these that fails, as Lago's does.  Every write bumps the catalog
 * version in its transaction.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "catalog.h"
#include "charge_check.h"
#include "currency.h"
#include "dec.h"
#include "err.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Whole numbers a double holds exactly: the bound of cents and counts. */
#define EXACT_MAX 9007199254740992LL

/* Lago's value for "every value of this filter key". */
#define ALL_FILTER_VALUES "__ALL_FILTER_VALUES__"

/* The plan's own attributes: an update keeps those the request omits. */
static const char *const attr_keys[] = {
	"name", "invoice_display_name", "code", "interval", "description",
	"amount_cents", "amount_currency", "trial_period", "pay_in_advance",
	"bill_charges_monthly"};

static cJSON *get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static const char *str_of(const cJSON *obj, const char *key)
{
	const cJSON *v = get(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t num_of(const cJSON *obj, const char *key)
{
	const cJSON *v = get(obj, key);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static int put_num(cJSON *obj, const char *key, int64_t v)
{
	return api_put(obj, key, cJSON_CreateNumber((double)v));
}

static int put_bool(cJSON *obj, const char *key, int v)
{
	return api_put(obj, key, cJSON_CreateBool(v));
}

/* An amount in cents: an integer, >= 0 (Lago's numericality). */
static void read_cents(cJSON *in, const char *key, int required,
		       int64_t *out, struct api_errs *e)
{
	if (api_int(in, key, required, -EXACT_MAX, EXACT_MAX, out, e) > 0 &&
	    *out < 0)
		api_err(e, key, "value_is_out_of_range");
}

/* ---- Answers ------------------------------------------------------ */

static cJSON *taxes_json(struct api_ctx *x, const cJSON *codes)
{
	struct api_errs e = {0};
	cJSON *taxes = NULL;

	api_taxes_of(x, codes, &taxes, &e);
	api_errs_free(&e);
	return taxes ? taxes : cJSON_CreateArray();
}

/* Lago's trial_period is a Ruby Float: 5 is written 5.0. */
static cJSON *float_json(const cJSON *v)
{
	char buf[DEC_DOUBLE_BUFSZ + 2];

	if (!cJSON_IsNumber(v) ||
	    dec_fmt_double(v->valuedouble, buf, DEC_DOUBLE_BUFSZ) != TLY_OK)
		return cJSON_CreateNull();
	if (!strchr(buf, '.'))
		strcat(buf, ".0");
	return cJSON_CreateRaw(buf);
}

static int is_filled(const cJSON *v)
{
	return cJSON_IsArray(v) && v->child;
}

/* obj[key] = item, replacing a key already there; item is consumed. */
static int set(cJSON *obj, const char *key, cJSON *item)
{
	if (!get(obj, key))
		return api_put(obj, key, item);
	if (item && cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item))
		return 0;
	cJSON_Delete(item);
	return -1;
}

/*
 * Properties as stored, with grouped_by and pricing_group_keys mirrored
 * as Lago's charge serializer does while grouped_by is deprecated.
 */
static cJSON *props_json(const cJSON *props)
{
	cJSON *p = cJSON_Duplicate(props, 1);
	const cJSON *g, *k;
	int bad = 0;

	if (!p)
		return NULL;
	g = get(p, "grouped_by");
	k = get(p, "pricing_group_keys");
	if (is_filled(g) && !is_filled(k))
		bad = set(p, "pricing_group_keys", cJSON_Duplicate(g, 1));
	else if (is_filled(k) && !is_filled(g))
		bad = set(p, "grouped_by", cJSON_Duplicate(k, 1));
	if (bad) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* Lago's charge object (V1::ChargeSerializer) of a stored charge. */
static cJSON *charge_json(struct api_ctx *x, const cJSON *ch)
{
	static const char *const head[] = {
		"lago_id", "lago_billable_metric_id", "invoice_display_name",
		"billable_metric_code"};
	static const char *const opts[] = {
		"charge_model", "invoiceable", "regroup_paid_fees",
		"pay_in_advance", "prorated", "min_amount_cents"};
	cJSON *o = cJSON_CreateObject();
	int bad = 0;

	if (!o)
		return NULL;
	for (size_t i = 0; i < N(head); i++)
		bad |= api_put_copy(o, ch, head[i]);
	bad |= api_put_time(o, "created_at", num_of(ch, "created_at"));
	for (size_t i = 0; i < N(opts); i++)
		bad |= api_put_copy(o, ch, opts[i]);
	bad |= api_put(o, "properties", props_json(get(ch, "properties")));
	bad |= api_put_copy(o, ch, "filters");
	bad |= api_put(o, "taxes", taxes_json(x, get(ch, "tax_codes")));
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *charges_json(struct api_ctx *x, const cJSON *doc)
{
	cJSON *list = cJSON_CreateArray();
	const cJSON *ch;

	cJSON_ArrayForEach(ch, get(doc, "charges")) {
		cJSON *c = list ? charge_json(x, ch) : NULL;

		if (!c || !cJSON_AddItemToArray(list, c)) {
			cJSON_Delete(c);
			cJSON_Delete(list);
			return NULL;
		}
	}
	return list;
}

/* Lago's commitment object, without its commitment_type (as Lago's plan). */
static cJSON *commitment_json(struct api_ctx *x, const cJSON *mc,
			      const cJSON *doc)
{
	cJSON *o = cJSON_CreateObject();
	int bad;

	if (!o)
		return NULL;
	bad = api_put_copy(o, mc, "lago_id") |
	      api_put_copy_as(o, "plan_code", doc, "code") |
	      api_put_copy(o, mc, "invoice_display_name") |
	      api_put_copy(o, mc, "amount_cents") | api_put_copy(o, doc, "interval") |
	      api_put_time(o, "created_at", num_of(mc, "created_at")) |
	      api_put_time(o, "updated_at", num_of(mc, "updated_at")) |
	      api_put(o, "taxes", taxes_json(x, get(mc, "tax_codes")));
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Lago's plan object (V1::PlanSerializer with its API includes). */
static cJSON *plan_json(struct api_ctx *x, const char *lago_id,
			int64_t created, const cJSON *doc)
{
	static const char *const attrs[] = {
		"code", "interval", "description", "amount_cents",
		"amount_currency"};
	static const char *const counters[] = {
		"customers_count", "active_subscriptions_count",
		"draft_invoices_count"};
	const cJSON *mc = get(doc, "minimum_commitment");
	cJSON *o = cJSON_CreateObject();
	int bad;

	if (!o)
		return NULL;
	bad = api_put_str(o, "lago_id", lago_id) | api_put_copy(o, doc, "name") |
	      api_put_copy(o, doc, "invoice_display_name") |
	      api_put_time(o, "created_at", created);
	for (size_t i = 0; i < N(attrs); i++)
		bad |= api_put_copy(o, doc, attrs[i]);
	bad |= api_put(o, "trial_period", float_json(get(doc, "trial_period"))) |
	       api_put_copy(o, doc, "pay_in_advance") |
	       api_put_copy(o, doc, "bill_charges_monthly");
	for (size_t i = 0; i < N(counters); i++)
		bad |= put_num(o, counters[i], 0);
	bad |= api_put(o, "parent_id", cJSON_CreateNull()) |
	       api_put(o, "charges", charges_json(x, doc)) |
	       api_put(o, "usage_thresholds", cJSON_CreateArray()) |
	       api_put(o, "taxes", taxes_json(x, get(doc, "tax_codes")));
	if (cJSON_IsObject(mc))
		bad |= api_put(o, "minimum_commitment",
			   commitment_json(x, mc, doc));
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* ---- Billable metrics --------------------------------------------- */

/* A live billable metric: its lago_id and stored doc. */
struct metric {
	char lago_id[UTIL_UUID_LEN];
	cJSON *doc;
};

static const char *const sql_metric_by_id =
	"SELECT lago_id, doc FROM billable_metrics "
	"WHERE lago_id = ? AND deleted_at IS NULL";
static const char *const sql_metric_by_code =
	"SELECT lago_id, doc FROM billable_metrics "
	"WHERE code = ? AND deleted_at IS NULL";

/*
 * The metric a charge names by billable_metric_id (its lago_id, what
 * Lago's clients send) or billable_metric_code (a Tally convenience).
 * TLY_ENOTFOUND when it names no live one; m->doc is the caller's.
 */
static int metric_find(struct api_ctx *x, const cJSON *ch, struct metric *m)
{
	const char *id = str_of(ch, "billable_metric_id");
	const char *code = str_of(ch, "billable_metric_code");
	struct store_stmt *st = NULL;
	int rc;

	m->doc = NULL;
	if (!id && !code)
		return TLY_ENOTFOUND;
	rc = store_prepare(x->c, id ? sql_metric_by_id : sql_metric_by_code,
			   &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, id ? id : code);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		snprintf(m->lago_id, sizeof(m->lago_id), "%s",
			 store_col_text(st, 0));
		m->doc = cJSON_Parse(store_col_text(st, 1));
		rc = m->doc ? TLY_OK : TLY_ENOMEM;
	} else if (rc == STORE_DONE) {
		rc = TLY_ENOTFOUND;
	}
	store_reset(st);
	return rc;
}

/* Lago looks every charge's metric up before anything else. */
static int metrics_exist(struct api_ctx *x, const cJSON *charges)
{
	const cJSON *ch;
	struct metric m;
	int rc = TLY_OK;

	if (!cJSON_IsArray(charges))
		return TLY_OK;
	cJSON_ArrayForEach(ch, charges) {
		if (!cJSON_IsObject(ch))
			continue;
		rc = metric_find(x, ch, &m);
		cJSON_Delete(m.doc);
		if (rc != TLY_OK)
			break;
	}
	return rc;
}

/* ---- Taxes -------------------------------------------------------- */

/*
 * doc["tax_codes"] = in's tax codes once all are known; when in has none,
 * old's (the stored object an update starts from), else [].
 */
static int take_tax_codes(struct api_ctx *x, const cJSON *in,
			  const cJSON *old, cJSON *doc, struct api_errs *e)
{
	const cJSON *codes = get(in, "tax_codes");
	cJSON *taxes = NULL;
	int rc;

	if (!codes)
		codes = get(old, "tax_codes");
	if (!codes || cJSON_IsNull(codes))
		return api_put(doc, "tax_codes", cJSON_CreateArray()) ?
		       TLY_ENOMEM : TLY_OK;
	if (!cJSON_IsArray(codes)) {
		api_err(e, "tax_codes", "invalid_value");
		return TLY_OK;
	}
	rc = api_taxes_of(x, codes, &taxes, e);
	cJSON_Delete(taxes);
	if (rc == TLY_ENOTFOUND)
		return TLY_OK;		/* recorded in e */
	if (rc != TLY_OK)
		return rc;
	return api_put(doc, "tax_codes", cJSON_Duplicate(codes, 1)) ?
	       TLY_ENOMEM : TLY_OK;
}

/* ---- Charges ------------------------------------------------------ */

static void add_codes(const struct charge_errs *ce, struct api_errs *e)
{
	for (int i = 0; i < ce->n; i++)
		api_err(e, "properties", ce->code[i]);
}

/* Properties of a charge or a charge filter, filed under "properties". */
static void check_props(const char *model, const cJSON *props,
			const cJSON *metric, struct api_errs *e)
{
	const char *agg = str_of(metric, "aggregation_type");
	struct charge_errs ce = {0};

	if (!model)
		return;
	/* Lago prices no percentage of a latest value. */
	if (strstr(model, "percentage") && agg && !strcmp(agg, "latest_agg"))
		api_err(e, "properties", "invalid_value");
	charge_check_props(model, props, &ce);
	add_codes(&ce, e);
}

/* The stored charge whose lago_id in["id"] names, unless taken already. */
static const cJSON *old_charge(const cJSON *olds, const cJSON *in,
			       const cJSON *taken)
{
	const char *id = str_of(in, "id");
	const cJSON *o;

	if (!id)
		return NULL;
	cJSON_ArrayForEach(o, taken)
		if (str_of(o, "lago_id") && !strcmp(str_of(o, "lago_id"), id))
			return NULL;
	cJSON_ArrayForEach(o, olds)
		if (str_of(o, "lago_id") && !strcmp(str_of(o, "lago_id"), id))
			return o;
	return NULL;
}

/* lago_id and created_at (kept from old), and the metric's ids. */
static int charge_ids(cJSON *ch, const cJSON *old, const struct metric *m)
{
	char id[UTIL_UUID_LEN];
	int64_t created = old ? num_of(old, "created_at") : api_now();
	int rc = TLY_OK;

	if (old && str_of(old, "lago_id"))
		snprintf(id, sizeof(id), "%s", str_of(old, "lago_id"));
	else
		rc = util_uuid(id);
	if (rc != TLY_OK)
		return rc;
	if (api_put_str(ch, "lago_id", id) |
	    api_put_str(ch, "lago_billable_metric_id", m->lago_id) |
	    api_put_str(ch, "billable_metric_code", str_of(m->doc, "code")) |
	    put_num(ch, "created_at", created))
		return TLY_ENOMEM;
	return TLY_OK;
}

/* The charge's model and options, with their defaults. */
static int charge_opts(cJSON *ch, cJSON *in, struct api_errs *e)
{
	const char *name = NULL, *model = NULL, *regroup = NULL;
	int adv = 0, prorated = 0, invoiceable = 1;
	int64_t min = 0;

	api_str(in, "invoice_display_name", 0, 0, &name, e);
	/* Lago's dynamic and custom models are not here (charge_check.c). */
	if (api_str(in, "charge_model", 1, 0, &model, e) > 0 &&
	    !charge_model_known(model)) {
		api_err(e, "charge_model", "value_is_invalid");
		model = NULL;
	}
	api_bool(in, "invoiceable", &invoiceable, e);
	api_enum(in, "regroup_paid_fees", 0, "invoice", &regroup, e);
	api_bool(in, "pay_in_advance", &adv, e);
	api_bool(in, "prorated", &prorated, e);
	read_cents(in, "min_amount_cents", 0, &min, e);
	if (api_put_str(ch, "invoice_display_name", name) |
	    api_put_str(ch, "charge_model", model) |
	    put_bool(ch, "invoiceable", invoiceable) |
	    api_put_str(ch, "regroup_paid_fees", regroup) |
	    put_bool(ch, "pay_in_advance", adv) |
	    put_bool(ch, "prorated", prorated) |
	    put_num(ch, "min_amount_cents", min))
		return TLY_ENOMEM;
	return TLY_OK;
}

/* properties: Lago's defaults when none are given, else checked. */
static int charge_props(cJSON *ch, const cJSON *in, const cJSON *metric,
			struct api_errs *e)
{
	const char *model = str_of(ch, "charge_model");
	const cJSON *p = get(in, "properties");
	cJSON *props;

	if (!model)
		return TLY_OK;
	if (p && !cJSON_IsNull(p) && !cJSON_IsObject(p)) {
		api_err(e, "properties", "invalid_value");
		return TLY_OK;
	}
	props = cJSON_IsObject(p) && p->child ? cJSON_Duplicate(p, 1) :
						charge_default_props(model);
	if (!props)
		return TLY_ENOMEM;
	check_props(model, props, metric, e);
	return api_put(ch, "properties", props) ? TLY_ENOMEM : TLY_OK;
}

static int is_true(const cJSON *obj, const char *key)
{
	return cJSON_IsTrue(get(obj, key));
}

/* The options Lago's Charge model refuses together (charge.rb). */
static void charge_rules(const cJSON *ch, const cJSON *metric,
			 struct api_errs *e)
{
	const char *model = str_of(ch, "charge_model");
	const char *agg = str_of(metric, "aggregation_type");
	int adv = is_true(ch, "pay_in_advance");
	int inv = is_true(ch, "invoiceable");
	int std, can_prorate;

	if (!model || !agg)
		return;
	std = !strcmp(model, "standard");
	if (adv && (!strcmp(model, "volume") ||
		    (strcmp(agg, "count_agg") && strcmp(agg, "sum_agg") &&
		     strcmp(agg, "unique_count_agg"))))
		api_err(e, "pay_in_advance",
			"invalid_aggregation_type_or_charge_model");
	can_prorate = is_true(metric, "recurring") &&
		      (std || (!adv && (!strcmp(model, "graduated") ||
					!strcmp(model, "volume"))));
	if (is_true(ch, "prorated") && !can_prorate)
		api_err(e, "prorated",
			"invalid_billable_metric_or_charge_model");
	if (adv && num_of(ch, "min_amount_cents") > 0)
		api_err(e, "min_amount_cents",
			"not_compatible_with_pay_in_advance");
	if (!inv && !adv)
		api_err(e, "invoiceable", "must_be_true_unless_pay_in_advance");
	if (str_of(ch, "regroup_paid_fees") && (!adv || inv))
		api_err(e, "regroup_paid_fees", "only_compatible_with_"
			"pay_in_advance_and_non_invoiceable");
}

static const cJSON *metric_values(const cJSON *metric, const char *key)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, get(metric, "filters"))
		if (str_of(f, "key") && !strcmp(str_of(f, "key"), key))
			return get(f, "values");
	return NULL;
}

static int has_string(const cJSON *arr, const char *s)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, arr)
		if (cJSON_IsString(v) && !strcmp(v->valuestring, s))
			return 1;
	return 0;
}

/* values: a non-empty array, each a string of allowed, or only ALL. */
static int values_ok(const cJSON *values, const cJSON *allowed)
{
	const cJSON *v;

	if (!allowed || !cJSON_IsArray(values) || !values->child)
		return 0;
	if (!values->next && cJSON_IsString(values->child) &&
	    !strcmp(values->child->valuestring, ALL_FILTER_VALUES))
		return 1;
	cJSON_ArrayForEach(v, values)
		if (!cJSON_IsString(v) || !has_string(allowed, v->valuestring))
			return 0;
	return 1;
}

/*
 * A filter's values {key: [value, ...]}: each key one of the metric's
 * filter keys, each value one of that key's values (Lago's
 * ChargeFilterValue, which files both under "values").
 */
static void check_values(const cJSON *values, const cJSON *metric,
			 struct api_errs *e)
{
	const cJSON *kv;

	if (!cJSON_IsObject(values) || !values->child) {
		api_err(e, "values", "value_is_mandatory");
		return;
	}
	cJSON_ArrayForEach(kv, values)
		if (!values_ok(kv, metric_values(metric, kv->string))) {
			api_err(e, "values", "value_is_invalid");
			return;
		}
}

/* One charge filter {invoice_display_name, properties, values}. */
static int filter_take(cJSON *f, const char *model,
		       const cJSON *metric, cJSON *list, struct api_errs *e)
{
	const cJSON *props = get(f, "properties");
	const char *name = NULL;
	cJSON *o;

	if (!cJSON_IsObject(f)) {
		api_err(e, "filters", "invalid_value");
		return TLY_OK;
	}
	api_str(f, "invoice_display_name", 0, 0, &name, e);
	check_values(get(f, "values"), metric, e);
	if (props && !cJSON_IsNull(props) && !cJSON_IsObject(props))
		api_err(e, "properties", "invalid_value");
	else
		check_props(model, props, metric, e);
	if (e->details)
		return TLY_OK;
	o = cJSON_CreateObject();
	if (!o || api_put_str(o, "invoice_display_name", name) |
	    api_put(o, "properties", cJSON_IsObject(props) ?
		cJSON_Duplicate(props, 1) : cJSON_CreateObject()) |
	    api_put_copy(o, f, "values") || !cJSON_AddItemToArray(list, o)) {
		cJSON_Delete(o);
		return TLY_ENOMEM;
	}
	return TLY_OK;
}

/* filters: checked in turn, up to the first that fails. */
static int charge_filters(cJSON *ch, const cJSON *in, const cJSON *metric,
			  struct api_errs *e)
{
	cJSON *fs = get(in, "filters"), *f;
	cJSON *list = cJSON_AddArrayToObject(ch, "filters");
	const char *model = str_of(ch, "charge_model");
	int rc = TLY_OK;

	if (!list)
		return TLY_ENOMEM;
	if (!fs || cJSON_IsNull(fs))
		return TLY_OK;
	if (!cJSON_IsArray(fs)) {
		api_err(e, "filters", "invalid_value");
		return TLY_OK;
	}
	cJSON_ArrayForEach(f, fs) {
		rc = filter_take(f, model, metric, list, e);
		if (rc != TLY_OK || e->details)
			break;
	}
	return rc;
}

/*
 * One charge of a request, checked and built; olds are the stored charges
 * (on update) and taken the charges built so far.  TLY_ENOTFOUND when its
 * metric is gone; validation errors go to e.
 */
static int charge_take(struct api_ctx *x, cJSON *in, const cJSON *olds,
		       const cJSON *taken, cJSON **out, struct api_errs *e)
{
	const cJSON *old = old_charge(olds, in, taken);
	struct metric m;
	cJSON *ch = NULL;
	int rc;

	*out = NULL;
	if (!cJSON_IsObject(in)) {
		api_err(e, "charges", "invalid_value");
		return TLY_OK;
	}
	rc = metric_find(x, in, &m);
	if (rc == TLY_OK)
		rc = (ch = cJSON_CreateObject()) ? TLY_OK : TLY_ENOMEM;
	if (rc == TLY_OK)
		rc = charge_ids(ch, old, &m);
	if (rc == TLY_OK)
		rc = charge_opts(ch, in, e);
	if (rc == TLY_OK)
		rc = charge_props(ch, in, m.doc, e);
	if (rc == TLY_OK) {
		charge_rules(ch, m.doc, e);
		rc = take_tax_codes(x, in, old, ch, e);
	}
	if (rc == TLY_OK && !e->details)
		rc = charge_filters(ch, in, m.doc, e);
	cJSON_Delete(m.doc);
	if (rc != TLY_OK || e->details)
		cJSON_Delete(ch);
	else
		*out = ch;
	return rc;
}

/*
 * doc["charges"]: the request's, each checked and built in turn up to the
 * first that fails; without "charges" (or with null) the stored ones.
 */
static int take_charges(struct api_ctx *x, const cJSON *in,
			const cJSON *old, cJSON *doc, struct api_errs *e)
{
	const cJSON *olds = get(old, "charges"), *chs = get(in, "charges");
	cJSON *list, *ch, *out;
	int rc = TLY_OK;

	if (!chs || cJSON_IsNull(chs))
		return api_put(doc, "charges", olds ? cJSON_Duplicate(olds, 1) :
					   cJSON_CreateArray()) ?
		       TLY_ENOMEM : TLY_OK;
	if (!cJSON_IsArray(chs)) {
		api_err(e, "charges", "invalid_value");
		return TLY_OK;
	}
	list = cJSON_AddArrayToObject(doc, "charges");
	if (!list)
		return TLY_ENOMEM;
	cJSON_ArrayForEach(ch, chs) {
		rc = charge_take(x, ch, olds, list, &out, e);
		if (rc != TLY_OK || e->details)
			break;
		if (!cJSON_AddItemToArray(list, out)) {
			cJSON_Delete(out);
			rc = TLY_ENOMEM;
			break;
		}
	}
	return rc;
}

/* ---- The plan ----------------------------------------------------- */

/* The plan's attributes as read from a request. */
struct plan_in {
	const char *name, *display, *code, *interval, *desc, *currency;
	int64_t cents;
	int advance, monthly;
	const cJSON *trial;	/* a number >= 0, or NULL */
};

static const char *const sql_code_owner =
	"SELECT lago_id FROM plans WHERE code = ? AND deleted_at IS NULL";

/* Is code the code of a live plan other than self?  1, 0, or an error. */
static int code_taken(struct api_ctx *x, const char *code, const char *self)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql_code_owner, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, code);
	rc = store_step(st);
	if (rc == STORE_ROW)
		rc = !self || strcmp(store_col_text(st, 0), self) != 0;
	else if (rc == STORE_DONE)
		rc = 0;
	store_reset(st);
	return rc;
}

/* Lago validates pay_in_advance as inclusion in [true, false]. */
static void read_flag(cJSON *in, const char *key, int *out,
		      struct api_errs *e)
{
	const cJSON *v = get(in, key);

	if (cJSON_IsBool(v))
		*out = cJSON_IsTrue(v);
	else
		api_err(e, key, "value_is_invalid");
}

static void read_trial(cJSON *in, const cJSON **out, struct api_errs *e)
{
	const cJSON *v = get(in, "trial_period");

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		api_err(e, "trial_period", "invalid_value");
	else if (v->valuedouble < 0)
		api_err(e, "trial_period", "value_is_out_of_range");
	else
		*out = v;
}

static int plan_read(struct api_ctx *x, cJSON *in, const char *self,
		     struct plan_in *p, struct api_errs *e)
{
	int rc = 0;

	api_str(in, "name", 1, 0, &p->name, e);
	api_str(in, "invoice_display_name", 0, 0, &p->display, e);
	if (api_str(in, "code", 1, 0, &p->code, e) > 0)
		rc = code_taken(x, p->code, self);
	if (rc == 1)
		api_err(e, "code", "value_already_exist");
	api_enum(in, "interval", 1, "weekly|monthly|quarterly|semiannual|"
		 "yearly", &p->interval, e);
	api_str(in, "description", 0, 0, &p->desc, e);
	read_cents(in, "amount_cents", 1, &p->cents, e);
	if (api_str(in, "amount_currency", 1, 0, &p->currency, e) > 0 &&
	    currency_exponent(p->currency) < 0)
		api_err(e, "amount_currency", "value_is_invalid");
	read_trial(in, &p->trial, e);
	read_flag(in, "pay_in_advance", &p->advance, e);
	api_bool(in, "bill_charges_monthly", &p->monthly, e);
	return rc < 0 ? rc : TLY_OK;
}

/* The attributes into doc; bill_charges_monthly only for long intervals. */
static int plan_put(cJSON *doc, const struct plan_in *p)
{
	int long_interval = !strcmp(p->interval, "yearly") ||
			    !strcmp(p->interval, "semiannual");

	if (api_put_str(doc, "name", p->name) |
	    api_put_str(doc, "invoice_display_name", p->display) |
	    api_put_str(doc, "code", p->code) |
	    api_put_str(doc, "interval", p->interval) |
	    api_put_str(doc, "description", p->desc) |
	    put_num(doc, "amount_cents", p->cents) |
	    api_put_str(doc, "amount_currency", p->currency) |
	    api_put(doc, "trial_period", p->trial ? cJSON_Duplicate(p->trial, 0) :
						cJSON_CreateNull()) |
	    put_bool(doc, "pay_in_advance", p->advance) |
	    api_put(doc, "bill_charges_monthly", long_interval ?
		cJSON_CreateBool(p->monthly) : cJSON_CreateNull()))
		return TLY_ENOMEM;
	return TLY_OK;
}

/* The request's attributes over the stored ones (old: NULL on create). */
static cJSON *merge_attrs(const cJSON *in, const cJSON *old)
{
	cJSON *m = cJSON_CreateObject();

	for (size_t i = 0; m && i < N(attr_keys); i++) {
		const cJSON *v = get(in, attr_keys[i]);

		if (!v)
			v = get(old, attr_keys[i]);
		if (v && api_put(m, attr_keys[i], cJSON_Duplicate(v, 1))) {
			cJSON_Delete(m);
			m = NULL;
		}
	}
	return m;
}

/* The commitment mc (an object), keeping prev's lago_id and created_at. */
static int commitment_build(struct api_ctx *x, cJSON *mc, const cJSON *prev,
			    cJSON *doc, struct api_errs *e)
{
	char id[UTIL_UUID_LEN];
	const char *name = NULL;
	int64_t cents = 0, now = api_now();
	int rc = TLY_OK;
	cJSON *o;

	read_cents(mc, "amount_cents", 1, &cents, e);
	api_str(mc, "invoice_display_name", 0, 0, &name, e);
	if (str_of(prev, "lago_id"))
		snprintf(id, sizeof(id), "%s", str_of(prev, "lago_id"));
	else
		rc = util_uuid(id);
	if (rc != TLY_OK)
		return rc;
	o = cJSON_AddObjectToObject(doc, "minimum_commitment");
	if (!o || api_put_str(o, "lago_id", id) |
	    api_put_str(o, "invoice_display_name", name) |
	    put_num(o, "amount_cents", cents) |
	    put_num(o, "created_at", prev ? num_of(prev, "created_at") : now) |
	    put_num(o, "updated_at", now))
		return TLY_ENOMEM;
	return take_tax_codes(x, mc, prev, o, e);
}

/*
 * minimum_commitment {amount_cents, invoice_display_name, tax_codes}:
 * without the key the stored one stays; null or {} removes it.
 */
static int take_commitment(struct api_ctx *x, const cJSON *in,
			   const cJSON *old, cJSON *doc, struct api_errs *e)
{
	const cJSON *prev = get(old, "minimum_commitment");
	cJSON *mc = get(in, "minimum_commitment");

	if (!mc && !prev)
		return TLY_OK;
	if (!mc)
		return api_put(doc, "minimum_commitment",
			   cJSON_Duplicate(prev, 1)) ? TLY_ENOMEM : TLY_OK;
	if (cJSON_IsNull(mc) || (cJSON_IsObject(mc) && !mc->child))
		return TLY_OK;
	if (!cJSON_IsObject(mc)) {
		api_err(e, "minimum_commitment", "invalid_value");
		return TLY_OK;
	}
	return commitment_build(x, mc, prev, doc, e);
}

/*
 * Check a plan request (laid over the stored doc old on update; self is
 * then the plan's lago_id) and build the doc to store.  TLY_ENOTFOUND: a
 * charge names no live billable metric; TLY_EINVAL: errors are in e.
 */
static int plan_parse(struct api_ctx *x, cJSON *in, const char *self,
		      const cJSON *old, cJSON **out, struct api_errs *e)
{
	cJSON *doc = NULL, *attrs = merge_attrs(in, old);
	struct plan_in p = {0};
	int rc = attrs ? metrics_exist(x, get(in, "charges")) : TLY_ENOMEM;

	*out = NULL;
	if (rc == TLY_OK)
		rc = plan_read(x, attrs, self, &p, e);
	if (rc == TLY_OK && !e->details)
		rc = (doc = cJSON_CreateObject()) ? plan_put(doc, &p) :
						    TLY_ENOMEM;
	if (rc == TLY_OK && !e->details)
		rc = take_tax_codes(x, in, old, doc, e);
	if (rc == TLY_OK && !e->details)
		rc = take_commitment(x, in, old, doc, e);
	if (rc == TLY_OK && !e->details)
		rc = take_charges(x, in, old, doc, e);
	if (rc == TLY_OK && e->details)
		rc = TLY_EINVAL;
	cJSON_Delete(attrs);
	if (rc == TLY_OK)
		*out = doc;
	else
		cJSON_Delete(doc);
	return rc;
}

/* ---- Storage ------------------------------------------------------ */

/* A stored plan. */
struct plan_row {
	char lago_id[UTIL_UUID_LEN];
	int64_t created;
	cJSON *doc;
};

#define PLAN_COLS "lago_id, created_at, doc"

static const char *const sql_by_code =
	"SELECT " PLAN_COLS " FROM plans "
	"WHERE code = ? AND deleted_at IS NULL";

/* A plan_row from a PLAN_COLS row (api_load_one's reader). */
static int row_read(struct store_stmt *st, void *out)
{
	struct plan_row *r = out;

	snprintf(r->lago_id, sizeof(r->lago_id), "%s", store_col_text(st, 0));
	r->created = store_col_i64(st, 1);
	r->doc = cJSON_Parse(store_col_text(st, 2));
	return r->doc ? TLY_OK : TLY_ENOMEM;
}

/* The live plan with this code; r->doc is the caller's.  TLY_ENOTFOUND. */
static int plan_load(struct api_ctx *x, const char *code, struct plan_row *r)
{
	r->doc = NULL;
	return api_load_one(x, sql_by_code, code, row_read, r);
}

/* Insert the new plan r, or update it when is_new is 0. */
static int plan_save(struct api_ctx *x, const struct plan_row *r, int is_new)
{
	static const char *const ins =
		"INSERT INTO plans (lago_id, code, doc, created_at) "
		"VALUES (?, ?, ?, ?)";
	static const char *const upd =
		"UPDATE plans SET code = ?, doc = ? WHERE lago_id = ?";
	char *text = cJSON_PrintUnformatted(r->doc);
	struct store_stmt *st = NULL;
	int rc = text ? store_prepare(x->c, is_new ? ins : upd, &st) :
			TLY_ENOMEM;

	if (rc == TLY_OK && is_new) {
		store_bind_text(st, 1, r->lago_id);
		store_bind_text(st, 2, str_of(r->doc, "code"));
		store_bind_text(st, 3, text);
		store_bind_i64(st, 4, r->created);
	} else if (rc == TLY_OK) {
		store_bind_text(st, 1, str_of(r->doc, "code"));
		store_bind_text(st, 2, text);
		store_bind_text(st, 3, r->lago_id);
	}
	if (rc == TLY_OK)
		rc = store_run(st);
	cJSON_free(text);
	return rc;
}

/* ---- Handlers ----------------------------------------------------- */

/* Answer a write: the plan, or why not. */
static void write_reply(struct api_ctx *x, int rc, const char *missing,
			const struct plan_row *r, struct api_errs *e)
{
	if (rc == TLY_EEXIST && !e->details)
		api_err(e, "code", "value_already_exist");
	if (rc == TLY_OK)
		api_send(x, "plan", plan_json(x, r->lago_id, r->created,
					      r->doc));
	else if (rc == TLY_ENOTFOUND)
		api_not_found(x, missing);
	else if (!api_errs_send(x, e))
		api_store_failed(x);
}

/*
 * Create a plan (code NULL) or update the live plan with this code, in
 * one transaction that also bumps the catalog version.
 */
static void plan_write(struct api_ctx *x, cJSON *in, const char *code)
{
	struct plan_row old = {0}, r = {0};
	const char *missing = "billable_metrics";
	struct api_errs e = {0};
	int rc = store_begin(x->c);

	if (rc == TLY_OK && code) {
		rc = plan_load(x, code, &old);
		missing = "plan";
	}
	if (rc == TLY_OK) {
		missing = "billable_metrics";
		rc = plan_parse(x, in, code ? old.lago_id : NULL, old.doc,
				&r.doc, &e);
	}
	if (rc == TLY_OK && code) {
		r.created = old.created;
		memcpy(r.lago_id, old.lago_id, sizeof(r.lago_id));
	} else if (rc == TLY_OK) {
		r.created = api_now();
		rc = util_uuid(r.lago_id);
	}
	if (rc == TLY_OK)
		rc = plan_save(x, &r, !code);
	if (rc == TLY_OK)
		rc = catalog_bump(x->c);
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc != TLY_OK)
		store_rollback(x->c);
	write_reply(x, rc, missing, &r, &e);
	api_errs_free(&e);
	cJSON_Delete(old.doc);
	cJSON_Delete(r.doc);
}

void api_plans_create(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "plan", &root);

	if (!in)
		return;
	plan_write(x, in, NULL);
	cJSON_Delete(root);
}

void api_plans_update(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "plan", &root);

	if (!in)
		return;
	plan_write(x, in, x->req->cap[0]);
	cJSON_Delete(root);
}

void api_plans_get(struct api_ctx *x)
{
	struct plan_row r;
	int rc = plan_load(x, x->req->cap[0], &r);

	api_send_found(x, rc, "plan", rc == TLY_OK ?
		       plan_json(x, r.lago_id, r.created, r.doc) : NULL);
	cJSON_Delete(r.doc);
}

static int64_t plan_count(struct api_ctx *x)
{
	static const char *const sql =
		"SELECT COUNT(*) FROM plans WHERE deleted_at IS NULL";

	return api_count(x, sql);
}

/* Add the plan of the current row to list. */
static int list_add(struct api_ctx *x, struct store_stmt *st, cJSON *list)
{
	struct plan_row r;
	cJSON *p = row_read(st, &r) == TLY_OK ?
		   plan_json(x, r.lago_id, r.created, r.doc) : NULL;

	cJSON_Delete(r.doc);
	if (p && cJSON_AddItemToArray(list, p))
		return TLY_OK;
	cJSON_Delete(p);
	return TLY_ENOMEM;
}

void api_plans_list(struct api_ctx *x)
{
	static const char *const sql =
		"SELECT " PLAN_COLS " FROM plans WHERE deleted_at IS NULL "
		"ORDER BY created_at DESC, lago_id LIMIT ? OFFSET ?";
	struct store_stmt *st = NULL;
	int64_t page, per, total;
	cJSON *root, *list;
	int rc;

	if (api_page(x, &page, &per) != TLY_OK)
		return;
	total = plan_count(x);
	root = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(root, "plans");
	rc = total >= 0 && list ? store_prepare(x->c, sql, &st) : TLY_EDB;
	if (rc != TLY_OK)
		goto fail;
	store_bind_i64(st, 1, per);
	store_bind_i64(st, 2, (page - 1) * per);
	while ((rc = store_step(st)) == STORE_ROW)
		if (list_add(x, st, list) != TLY_OK)
			break;
	store_reset(st);
	if (rc != STORE_DONE || api_meta(root, page, per, total) != 0)
		goto fail;
	httpd_json(x->resp, 200, root);
	return;
fail:
	cJSON_Delete(root);
	api_store_failed(x);
}

void api_plans_delete(struct api_ctx *x)
{
	static const char *const sql =
		"UPDATE plans SET deleted_at = ? WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	struct plan_row r = {0};
	int rc = store_begin(x->c);

	if (rc == TLY_OK)
		rc = plan_load(x, x->req->cap[0], &r);
	if (rc == TLY_OK)
		rc = store_prepare(x->c, sql, &st);
	if (rc == TLY_OK) {
		store_bind_i64(st, 1, api_now());
		store_bind_text(st, 2, r.lago_id);
		rc = store_run(st);
	}
	if (rc == TLY_OK)
		rc = catalog_bump(x->c);
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc != TLY_OK)
		store_rollback(x->c);
	api_send_found(x, rc, "plan", rc == TLY_OK ?
		       plan_json(x, r.lago_id, r.created, r.doc) : NULL);
	cJSON_Delete(r.doc);
}
