/*
 * api_usage.c - GET /api/v1/customers/:id/current_usage
 *   ?external_subscription_id=...&apply_taxes=true|false
 *
 * The usage of the subscription's current billing period, rated as its
 * invoice would rate it (inv_build with charges only), in Lago's
 * customer_usage shape: one entry per charge, its filter slices under
 * "filters".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dec.h"
#include "err.h"
#include "invoice.h"
#include "invoice_store.h"
#include "period.h"
#include "util.h"

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double numv(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const cJSON *plan_charge(const cJSON *plan, const char *lago_id)
{
	const cJSON *ch;

	cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(plan, "charges"))
		if (lago_id && str(ch, "lago_id") &&
		    !strcmp(str(ch, "lago_id"), lago_id))
			return ch;
	return NULL;
}

/* The charges_usage entry of a charge, created on its first fee. */
static cJSON *entry_for(cJSON *list, const cJSON *plan, const cJSON *fee)
{
	const char *cid = str(fee, "lago_charge_id");
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(fee, "item");
	const cJSON *ch = plan_charge(plan, cid);
	cJSON *e, *c, *m;

	cJSON_ArrayForEach(e, list)
		if (!strcmp(str(cJSON_GetObjectItemCaseSensitive(e, "charge"),
				"lago_id"), cid))
			return e;
	e = cJSON_CreateObject();
	if (!e)
		return NULL;
	cJSON_AddStringToObject(e, "units", "0");
	cJSON_AddNumberToObject(e, "events_count", 0);
	cJSON_AddNumberToObject(e, "amount_cents", 0);
	cJSON_AddStringToObject(e, "amount_currency",
				str(fee, "amount_currency"));
	c = cJSON_AddObjectToObject(e, "charge");
	api_put_str(c, "lago_id", cid);
	api_put_str(c, "charge_model", str(ch, "charge_model"));
	api_put_str(c, "invoice_display_name", str(ch, "invoice_display_name"));
	m = cJSON_AddObjectToObject(e, "billable_metric");
	api_put_str(m, "lago_id", str(item, "lago_item_id"));
	api_put_str(m, "name", str(item, "name"));
	api_put_str(m, "code", str(item, "code"));
	api_put_str(m, "aggregation_type", NULL);
	cJSON_AddArrayToObject(e, "filters");
	cJSON_AddArrayToObject(e, "grouped_usage");
	cJSON_AddItemToArray(list, e);
	return e;
}

/* Add a fee into its charge's entry; a filter slice also lists itself. */
static int fold_fee(cJSON *list, const cJSON *plan, const cJSON *fee)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(fee, "item");
	const cJSON *values = cJSON_GetObjectItemCaseSensitive(item, "filters");
	cJSON *e = entry_for(list, plan, fee), *f;
	char *t;
	dec_t a, b;

	if (!e)
		return TLY_ENOMEM;
	dec_init(&a);
	dec_init(&b);
	dec_parse_str(&a, str(e, "units"));
	dec_parse_str(&b, str(fee, "units"));
	dec_add(&a, &a, &b);
	dec_normalize(&a);
	t = dec_to_str(&a);
	cJSON_ReplaceItemInObjectCaseSensitive(e, "units",
					       cJSON_CreateString(t ? t : "0"));
	free(t);
	dec_clear(&a);
	dec_clear(&b);
	cJSON_ReplaceItemInObjectCaseSensitive(e, "events_count",
		cJSON_CreateNumber(numv(e, "events_count") +
				   numv(fee, "events_count")));
	cJSON_ReplaceItemInObjectCaseSensitive(e, "amount_cents",
		cJSON_CreateNumber(numv(e, "amount_cents") +
				   numv(fee, "amount_cents")));
	if (!cJSON_IsObject(values))
		return TLY_OK;
	f = cJSON_CreateObject();
	if (!f)
		return TLY_ENOMEM;
	cJSON_AddStringToObject(f, "units", str(fee, "units"));
	cJSON_AddNumberToObject(f, "amount_cents", numv(fee, "amount_cents"));
	cJSON_AddNumberToObject(f, "events_count", numv(fee, "events_count"));
	cJSON_AddItemToObject(f, "values", cJSON_Duplicate(values, 1));
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(e, "filters"), f);
	return TLY_OK;
}

/* Each entry's billable_metric.aggregation_type, from the metric. */
static void fill_types(struct store_conn *c, cJSON *list)
{
	static const char *const sql =
		"SELECT doc FROM billable_metrics WHERE code = ? "
		"ORDER BY deleted_at IS NOT NULL LIMIT 1";
	struct store_stmt *st = NULL;
	cJSON *e;

	cJSON_ArrayForEach(e, list) {
		cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "billable_metric");
		cJSON *doc = NULL;

		if (store_prepare(c, sql, &st) != TLY_OK)
			return;
		store_bind_text(st, 1, str(m, "code"));
		if (store_step(st) == STORE_ROW)
			doc = cJSON_Parse(store_col_text(st, 0));
		store_reset(st);
		if (str(doc, "aggregation_type"))
			cJSON_ReplaceItemInObjectCaseSensitive(m,
				"aggregation_type", cJSON_CreateString(
					str(doc, "aggregation_type")));
		cJSON_Delete(doc);
	}
}

static cJSON *usage_json(const cJSON *plan, const cJSON *inv,
			 const struct inv_period *p)
{
	cJSON *o = cJSON_CreateObject(), *list;
	const cJSON *fee;
	char day[UTIL_TIME_LEN];

	if (!o)
		return NULL;
	api_put_time(o, "from_datetime", p->charges_from_ms);
	api_put_time(o, "to_datetime", p->charges_to_ms);
	util_iso_time(util_now_ms(), 0, day);
	day[10] = '\0';
	cJSON_AddStringToObject(o, "issuing_date", day);
	cJSON_AddNullToObject(o, "lago_invoice_id");
	cJSON_AddItemToObject(o, "currency", cJSON_Duplicate(
		cJSON_GetObjectItemCaseSensitive(inv, "currency"), 0));
	cJSON_AddNumberToObject(o, "amount_cents",
				numv(inv, "fees_amount_cents"));
	cJSON_AddNumberToObject(o, "taxes_amount_cents",
				numv(inv, "taxes_amount_cents"));
	cJSON_AddNumberToObject(o, "total_amount_cents",
				numv(inv, "total_amount_cents"));
	list = cJSON_AddArrayToObject(o, "charges_usage");
	cJSON_ArrayForEach(fee, cJSON_GetObjectItemCaseSensitive(inv, "fees"))
		if (!list || fold_fee(list, plan, fee) != TLY_OK) {
			cJSON_Delete(o);
			return NULL;
		}
	return o;
}

static const char *const sql_sub =
	"SELECT s.lago_id, s.external_id, s.billing_time, s.started_at, "
	"p.doc, cu.doc FROM subscriptions s "
	"JOIN customers cu ON cu.lago_id = s.customer_id "
	"JOIN plans p ON p.lago_id = s.plan_id "
	"WHERE cu.external_id = ? AND cu.deleted_at IS NULL "
	"AND s.external_id = ? AND s.status = 'active'";

/* Rate the current period of the subscription row in q. */
static int current(struct api_ctx *x, struct store_stmt *q, int taxes_on,
		   cJSON **out)
{
	cJSON *plan = cJSON_Parse(store_col_text(q, 4));
	cJSON *cust = cJSON_Parse(store_col_text(q, 5));
	cJSON *taxes = NULL, *inv = NULL;
	int64_t now = util_now_ms(), start = store_col_i64(q, 3);
	struct period pp;
	int rc = plan && cust ? TLY_OK : TLY_ENOMEM;
	int iv = period_interval_parse(str(plan, "interval"));

	if (rc == TLY_OK)
		rc = iv < 0 ? TLY_EINVAL : period_containing(
			(enum period_interval)iv,
			!strcmp(store_col_text(q, 2), "anniversary"), start,
			now > start ? now : start, &pp);
	if (rc == TLY_OK && taxes_on)
		rc = inv_taxes(x->c, cust, &taxes);
	if (rc == TLY_OK) {
		/* From the start of the start day, as Lago's periods. */
		int64_t day = start - start % 86400000LL;
		int64_t from = pp.from_ms > day ? pp.from_ms : day;
		struct inv_input in = {plan, cust, taxes, store_col_text(q, 0),
				       store_col_text(q, 1),
				       {from, pp.to_ms, from, pp.to_ms, pp.days,
					0, 0, 1, 0, 0}, NULL, NULL, NULL, 0};

		rc = inv_build(x->c, &in, &inv);
		if (rc == TLY_OK)
			*out = usage_json(plan, inv, &in.p);
		if (rc == TLY_OK && !*out)
			rc = TLY_ENOMEM;
		if (rc == TLY_OK)
			fill_types(x->c, cJSON_GetObjectItemCaseSensitive(
				*out, "charges_usage"));
	}
	cJSON_Delete(inv);
	cJSON_Delete(taxes);
	cJSON_Delete(plan);
	cJSON_Delete(cust);
	return rc;
}

void api_usage_current(struct api_ctx *x)
{
	const char *sub = httpd_query(x->req, "external_subscription_id");
	const char *tax = httpd_query(x->req, "apply_taxes");
	struct store_stmt *q = NULL;
	cJSON *usage = NULL;
	int rc;

	if (!sub || !*sub) {
		httpd_invalid(x->resp, "external_subscription_id",
			      "value_is_mandatory");
		return;
	}
	rc = store_prepare(x->c, sql_sub, &q);
	if (rc == TLY_OK) {
		store_bind_text(q, 1, x->req->cap[0]);
		store_bind_text(q, 2, sub);
		rc = store_step(q);
		if (rc == STORE_ROW)
			rc = current(x, q, !tax || strcmp(tax, "false") != 0,
				     &usage);
		else if (rc == STORE_DONE)
			rc = TLY_ENOTFOUND;
		store_reset(q);
	}
	if (rc == TLY_OK)
		api_send(x, "customer_usage", usage);
	else if (rc == TLY_ENOTFOUND)
		api_not_found(x, "customer_subscription");
	else
		api_store_failed(x);
}
