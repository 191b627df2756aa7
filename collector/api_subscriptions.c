/*
 * api_subscriptions.c - /api/v1/subscriptions: create (auto-creating an
 * unknown customer, as Lago does), get, list, update, terminate or cancel,
 * and the ending of a deleted customer's subscriptions.
 *
 * The lifecycle lives in columns (status, subscription_at, started_at,
 * terminated_at, ...); the rest of Lago's attributes (on_termination_*)
 * in `doc`.  sub_json writes a row out in the order of Lago's serializer,
 * with the current billing period computed from the plan's interval.
 *
 * Not yet here: changing the plan of an active subscription (Lago's
 * upgrade and downgrade belong with invoicing: refused as the external id
 * being taken), and plan_overrides (refused with the 403 an unlicensed
 * Lago answers).  Periods are computed in UTC, not in the customer's
 * time zone.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "period.h"
#include "err.h"
#include "event.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define DAY_MS INT64_C(86400000)
#define CUSTOMER_ID_MAX 255	/* as the customers API takes it */
#define CURRENCY_LEN 8		/* an ISO 4217 code and its NUL, with room */

/* Floor division: days of negative times round down too. */
static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static void strip_field(cJSON *obj, const char *key)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	char *s, *end;
	size_t n;

	if (!cJSON_IsString(it) || !it->valuestring)
		return;
	s = it->valuestring;
	n = strspn(s, " \t\r\n\f\v");
	memmove(s, s + n, strlen(s + n) + 1);
	end = s + strlen(s);
	while (end > s && strchr(" \t\r\n\f\v", end[-1]))
		*--end = '\0';
}

/*
 * An ISO 8601 time as Lago's Time.zone.iso8601 reads it: RFC 3339, the
 * same without a zone (UTC), or a date alone (its midnight, UTC).
 */
static int parse_iso_time(const char *s, int64_t *ms)
{
	char buf[64];
	size_t n = strlen(s);

	if (n < 10 || n >= sizeof(buf) - 10 || s[4] != '-')
		return TLY_EINVAL;
	if (n == 10)
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
	else if (n >= 19 && !strpbrk(s + 19, "Zz+-"))
		snprintf(buf, sizeof(buf), "%sZ", s);
	else
		snprintf(buf, sizeof(buf), "%s", s);
	return ev_parse_time(buf, ms);
}

/*
 * A time field: absent or null leaves *ms and returns 0; a bad one
 * records invalid_date and returns -1 (Lago's Utils::Datetime check);
 * 1 when read.  blank_ok takes "" as absent (ending_at).
 */
static int read_time(cJSON *in, const char *key, int blank_ok, int64_t *ms,
		     struct api_errs *e)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(in, key);

	if (!it || cJSON_IsNull(it))
		return 0;
	if (cJSON_IsString(it) && blank_ok && !it->valuestring[0])
		return 0;
	if (cJSON_IsString(it) && parse_iso_time(it->valuestring, ms) ==
				  TLY_OK)
		return 1;
	api_err(e, key, "invalid_date");
	return -1;
}

/* Lago's ending_at rule: after today and after subscription_at (dates). */
static void check_ending(int64_t ending, int64_t sub_at,
			 struct api_errs *e)
{
	int64_t day = floor_div(ending, DAY_MS);

	if (ending >= 0 && (day <= floor_div(api_now(), DAY_MS) ||
			    day <= floor_div(sub_at, DAY_MS)))
		api_err(e, "ending_at", "invalid_date");
}

/* A create request, read and stripped; strings borrowed from the body. */
struct sub_in {
	const char *cust;	/* external_customer_id */
	const char *plan_code;
	const char *ext;	/* external_id */
	const char *name;
	const char *billing;	/* billing_time */
	int64_t sub_at;		/* Unix ms; now when not given */
	int64_t ending_at;	/* Unix ms; -1 when not given */
};

/* The types of the create fields (our check: Lago would to_s them). */
static void read_create(cJSON *in, struct sub_in *r, struct api_errs *e)
{
	static const char *const keys[] = {
		"external_customer_id", "external_id", "name"};

	for (size_t i = 0; i < N(keys); i++)
		strip_field(in, keys[i]);
	memset(r, 0, sizeof(*r));
	r->name = "";		/* Lago stores params[:name].to_s.strip */
	r->billing = "calendar";
	r->sub_at = api_now();
	r->ending_at = -1;
	api_str(in, "external_customer_id", 0, CUSTOMER_ID_MAX, &r->cust, e);
	api_str(in, "plan_code", 0, 0, &r->plan_code, e);
	api_str(in, "external_id", 0, EV_ID_MAX, &r->ext, e);
	api_str(in, "name", 0, 0, &r->name, e);
	api_str(in, "billing_time", 0, 0, &r->billing, e);
}

/* ---- Loading ------------------------------------------------------- */

/* Columns of a whole subscription, with its customer and plan. */
#define SUB_COLS \
	"s.lago_id, s.external_id, s.customer_id, c.external_id, s.name, " \
	"s.plan_id, p.code, p.doc, p.created_at, s.status, s.billing_time, " \
	"s.subscription_at, s.started_at, s.trial_ended_at, s.ending_at, " \
	"s.terminated_at, s.canceled_at, s.created_at, " \
	"(SELECT pp.code FROM subscriptions ps JOIN plans pp " \
	" ON pp.lago_id = ps.plan_id WHERE ps.lago_id = s.previous_id), " \
	"(SELECT np.code FROM subscriptions ns JOIN plans np " \
	" ON np.lago_id = ns.plan_id WHERE ns.previous_id = s.lago_id " \
	" AND ns.status <> 'canceled' ORDER BY ns.created_at DESC LIMIT 1), " \
	"s.doc"
#define SUB_FROM \
	" FROM subscriptions s JOIN customers c ON c.lago_id = s.customer_id" \
	" JOIN plans p ON p.lago_id = s.plan_id"

enum {
	C_ID, C_EXT, C_CUST, C_CUST_EXT, C_NAME, C_PLAN, C_PLAN_CODE,
	C_PLAN_DOC, C_PLAN_CREATED, C_STATUS, C_BILLING, C_SUB_AT, C_STARTED,
	C_TRIAL, C_ENDING, C_TERMINATED, C_CANCELED, C_CREATED, C_PREV_CODE,
	C_NEXT_CODE, C_DOC
};

/* What a serialization includes besides the subscription itself. */
enum {
	SJ_PLAN = 1,		/* the plan object */
	SJ_ENTITLEMENTS = 2,
	SJ_THRESHOLDS = 4,	/* applicable_usage_thresholds */
	SJ_SECTIONS = 8		/* applied_invoice_custom_sections */
};
/* The includes of Lago's controller actions. */
#define SJ_SHOW (SJ_PLAN | SJ_ENTITLEMENTS | SJ_THRESHOLDS | SJ_SECTIONS)
#define SJ_UPDATE (SJ_PLAN | SJ_THRESHOLDS | SJ_SECTIONS)
#define SJ_TERMINATE (SJ_PLAN | SJ_SECTIONS)
#define SJ_LIST 0

/* A time column: Unix ms, or -1 for NULL. */
static int64_t col_time(struct store_stmt *st, int i)
{
	return store_col_null(st, i) ? -1 : store_col_i64(st, i);
}

/* ---- Building Lago's object ------------------------------------------ */

/* o[key] = item; 0, or -1 (item freed) when out of memory. */
static int put_item(cJSON *o, const char *key, cJSON *item)
{
	if (item && cJSON_AddItemToObject(o, key, item))
		return 0;
	cJSON_Delete(item);
	return -1;
}

/* o[key] = time with milliseconds (Lago's iso8601(3)), null when < 0. */
static int put_time_ms(cJSON *o, const char *key, int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	if (ms < 0)
		return api_put_str(o, key, NULL);
	util_iso_time(ms, 1, buf);
	return api_put_str(o, key, buf);
}

/* o[key] = a copy of doc[dkey], or dflt (consumed) when doc has none. */
static int put_doc(cJSON *o, const char *key, const cJSON *doc,
		   const char *dkey, cJSON *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, dkey);

	if (v && !cJSON_IsNull(v)) {
		cJSON_Delete(dflt);
		dflt = cJSON_Duplicate(v, 1);
	}
	return put_item(o, key, dflt);
}

/*
 * Lago's plan object (PlanSerializer with charges, usage_thresholds and
 * taxes), from the stored plan doc.  A stand-in: api_plans.c writes the
 * whole plan (its charges, trial_period as a float) but keeps that
 * static; until api.h exposes it, the charges here are an empty list.
 */
static cJSON *plan_json(struct api_ctx *x, struct store_stmt *st,
			const cJSON *doc)
{
	static const char *const head[] = {"name", "invoice_display_name"};
	static const char *const mid[] = {
		"interval", "description", "amount_cents", "amount_currency",
		"trial_period"};
	cJSON *o = cJSON_CreateObject(), *taxes = NULL;
	struct api_errs e = {0};
	int bad = !o;

	bad = bad || api_put_str(o, "lago_id", store_col_text(st, C_PLAN));
	for (size_t i = 0; !bad && i < N(head); i++)
		bad = put_doc(o, head[i], doc, head[i], cJSON_CreateNull());
	bad = bad || api_put_time(o, "created_at",
				  store_col_i64(st, C_PLAN_CREATED)) ||
	      api_put_str(o, "code", store_col_text(st, C_PLAN_CODE));
	for (size_t i = 0; !bad && i < N(mid); i++)
		bad = put_doc(o, mid[i], doc, mid[i], cJSON_CreateNull());
	bad = bad ||
	      put_doc(o, "pay_in_advance", doc, "pay_in_advance",
		      cJSON_CreateFalse()) ||
	      put_doc(o, "bill_charges_monthly", doc, "bill_charges_monthly",
		      cJSON_CreateNull()) ||
	      put_item(o, "customers_count", cJSON_CreateNumber(0)) ||
	      put_item(o, "active_subscriptions_count",
		       cJSON_CreateNumber(0)) ||
	      put_item(o, "draft_invoices_count", cJSON_CreateNumber(0)) ||
	      api_put_str(o, "parent_id", NULL) ||
	      put_item(o, "charges", cJSON_CreateArray()) ||
	      put_item(o, "usage_thresholds", cJSON_CreateArray());
	if (!bad)
		api_taxes_of(x, cJSON_GetObjectItemCaseSensitive(doc,
								 "tax_codes"),
			     &taxes, &e);
	api_errs_free(&e);
	bad = bad || put_item(o, "taxes", taxes ? taxes : cJSON_CreateArray());
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/*
 * The current billing period of the row at st, as Lago's DatesService
 * gives it with current_usage: the period holding max(now, started_at),
 * cut to start no earlier than started_at and to end at terminated_at.
 * 0 when there is none (not started, or a plan interval we do not know).
 */
static int current_period(struct store_stmt *st, const cJSON *plan,
			  int64_t *from, int64_t *to)
{
	const char *billing = store_col_text(st, C_BILLING);
	const char *status = store_col_text(st, C_STATUS);
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(plan, "interval");
	int anniversary = billing && strcmp(billing, "anniversary") == 0;
	int64_t started = col_time(st, C_STARTED);
	int64_t ended = col_time(st, C_TERMINATED);
	int64_t ref = api_now();
	int interval = period_interval_parse(cJSON_IsString(iv) ?
					     iv->valuestring : "");
	struct period p;

	if (started < 0 || interval < 0)
		return 0;
	/* A yearly or semiannual plan billing charges monthly: usage runs
	 * by the month. */
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(plan,
						"bill_charges_monthly")))
		interval = PERIOD_MONTHLY;
	ref = ref > started ? ref : started;
	if (period_containing((enum period_interval)interval, anniversary,
			      anniversary ? store_col_i64(st, C_SUB_AT) :
			      started, ref, &p) != TLY_OK)
		return 0;
	*from = p.from_ms < started ? started : p.from_ms;
	*to = p.to_ms;
	if (status && strcmp(status, "terminated") == 0 && ended >= 0 &&
	    ended <= *to)
		*to = ended;
	if (*to < started)
		*to = started;
	return 1;
}

static int put_head(cJSON *o, struct store_stmt *st, const cJSON *plan)
{
	return api_put_str(o, "lago_id", store_col_text(st, C_ID)) ||
	       api_put_str(o, "external_id", store_col_text(st, C_EXT)) ||
	       api_put_str(o, "lago_customer_id", store_col_text(st, C_CUST)) ||
	       api_put_str(o, "external_customer_id",
			   store_col_text(st, C_CUST_EXT)) ||
	       api_put_str(o, "name", store_col_text(st, C_NAME)) ||
	       api_put_str(o, "plan_code", store_col_text(st, C_PLAN_CODE)) ||
	       put_doc(o, "plan_amount_cents", plan, "amount_cents",
		       cJSON_CreateNull()) ||
	       put_doc(o, "plan_amount_currency", plan, "amount_currency",
		       cJSON_CreateNull()) ||
	       api_put_str(o, "status", store_col_text(st, C_STATUS)) ||
	       api_put_str(o, "billing_time", store_col_text(st, C_BILLING));
}

static int put_times(cJSON *o, struct store_stmt *st, const cJSON *plan)
{
	int64_t from = -1, to = -1;

	current_period(st, plan, &from, &to);
	return api_put_time(o, "subscription_at", col_time(st, C_SUB_AT)) ||
	       put_time_ms(o, "started_at", col_time(st, C_STARTED)) ||
	       api_put_time(o, "trial_ended_at", col_time(st, C_TRIAL)) ||
	       api_put_time(o, "ending_at", col_time(st, C_ENDING)) ||
	       api_put_time(o, "terminated_at", col_time(st, C_TERMINATED)) ||
	       api_put_time(o, "canceled_at", col_time(st, C_CANCELED)) ||
	       api_put_time(o, "created_at", col_time(st, C_CREATED)) ||
	       api_put_str(o, "previous_plan_code",
			   store_col_text(st, C_PREV_CODE)) ||
	       api_put_str(o, "next_plan_code",
			   store_col_text(st, C_NEXT_CODE)) ||
	       /* Set by a downgrade waiting for the period's end: none yet. */
	       api_put_str(o, "downgrade_plan_date", NULL) ||
	       api_put_time(o, "current_billing_period_started_at", from) ||
	       api_put_time(o, "current_billing_period_ending_at", to);
}

static cJSON *payment_method_json(void)
{
	cJSON *o = cJSON_CreateObject();

	if (o && (api_put_str(o, "payment_method_id", NULL) ||
		  api_put_str(o, "payment_method_type", "provider"))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

static int put_tail(struct api_ctx *x, cJSON *o, struct store_stmt *st,
		    const cJSON *doc, const cJSON *plan, int flags)
{
	int bad = put_doc(o, "on_termination_credit_note", doc,
			  "on_termination_credit_note", cJSON_CreateNull()) ||
		  put_doc(o, "on_termination_invoice", doc,
			  "on_termination_invoice",
			  cJSON_CreateString("generate")) ||
		  put_doc(o, "progressive_billing_disabled", doc,
			  "progressive_billing_disabled",
			  cJSON_CreateFalse()) ||
		  put_doc(o, "consolidate_invoice", doc, "consolidate_invoice",
			  cJSON_CreateTrue());

	if (!bad && (flags & SJ_ENTITLEMENTS))
		bad = put_item(o, "entitlements", cJSON_CreateArray());
	bad = bad || put_item(o, "payment_method", payment_method_json());
	if (!bad && (flags & SJ_PLAN))
		bad = put_item(o, "plan", plan_json(x, st, plan));
	if (!bad && (flags & SJ_THRESHOLDS))
		bad = put_item(o, "applicable_usage_thresholds",
			       cJSON_CreateArray());
	if (!bad && (flags & SJ_SECTIONS))
		bad = put_item(o, "applied_invoice_custom_sections",
			       cJSON_CreateArray());
	return bad;
}

/* Lago's subscription object (SubscriptionSerializer) of the row at st. */
static cJSON *sub_json(struct api_ctx *x, struct store_stmt *st, int flags)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *doc = cJSON_Parse(store_col_text(st, C_DOC));
	cJSON *plan = cJSON_Parse(store_col_text(st, C_PLAN_DOC));
	int bad = !o || !doc || !plan;

	bad = bad || put_head(o, st, plan) || put_times(o, st, plan) ||
	      put_tail(x, o, st, doc, plan, flags);
	cJSON_Delete(doc);
	cJSON_Delete(plan);
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Answer {"subscription": {...}} for the subscription lago_id. */
static void sub_send(struct api_ctx *x, const char *lago_id, int flags)
{
	static const char *const sql =
		"SELECT " SUB_COLS SUB_FROM " WHERE s.lago_id = ?";
	struct store_stmt *st = NULL;
	cJSON *out = NULL;

	if (store_prepare(x->c, sql, &st) == TLY_OK) {
		store_bind_text(st, 1, lago_id);
		if (store_step(st) == STORE_ROW)
			out = sub_json(x, st, flags);
		store_reset(st);
	}
	if (out)
		api_send(x, "subscription", out);
	else
		api_store_failed(x);
}

/* ---- Finding subscriptions --------------------------------------------- */

/* What the writes need to know of one subscription. */
struct sub_ref {
	char id[UTIL_UUID_LEN];
	char status[16];
	int starting;		/* pending, and not a plan change's next one */
	int pay_in_advance;	/* the plan's */
	cJSON *doc;		/* the subscription's doc; the caller frees */
};

/*
 * The subscription with external id ext and status (any status when
 * NULL); the latest terminated when several (Lago's show).  TLY_OK,
 * TLY_ENOTFOUND or a store error.
 */
static int sub_find(struct api_ctx *x, const char *ext, const char *status,
		    struct sub_ref *r)
{
	static const char *const sql =
		"SELECT s.lago_id, s.status, s.previous_id, s.doc, p.doc "
		"FROM subscriptions s JOIN plans p ON p.lago_id = s.plan_id "
		"WHERE s.external_id = ? AND s.status = COALESCE(?, s.status) "
		"ORDER BY CASE WHEN s.terminated_at IS NULL THEN 0 ELSE 1 END,"
		" s.terminated_at DESC, s.subscription_at DESC, "
		"s.created_at DESC LIMIT 1";
	struct store_stmt *st = NULL;
	cJSON *plan;
	int rc = store_prepare(x->c, sql, &st);

	memset(r, 0, sizeof(*r));
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, ext);
	store_bind_text(st, 2, status);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		snprintf(r->id, sizeof(r->id), "%s", store_col_text(st, 0));
		snprintf(r->status, sizeof(r->status), "%s",
			 store_col_text(st, 1));
		r->starting = strcmp(r->status, "pending") == 0 &&
			      store_col_null(st, 2);
		r->doc = cJSON_Parse(store_col_text(st, 3));
		plan = cJSON_Parse(store_col_text(st, 4));
		r->pay_in_advance = cJSON_IsTrue(
			cJSON_GetObjectItemCaseSensitive(plan,
							 "pay_in_advance"));
		rc = r->doc && plan ? TLY_OK : TLY_ENOMEM;
		cJSON_Delete(plan);
	} else if (rc == STORE_DONE) {
		rc = TLY_ENOTFOUND;
	}
	store_reset(st);
	return rc;
}

/* The live plan with this code: its id and parsed doc (caller frees). */
static int plan_find(struct api_ctx *x, const char *code,
		     char id[UTIL_UUID_LEN], cJSON **doc)
{
	static const char *const sql =
		"SELECT lago_id, doc FROM plans "
		"WHERE code = ? AND deleted_at IS NULL";
	struct store_stmt *st = NULL;
	int rc;

	*doc = NULL;
	if (!code)
		return TLY_ENOTFOUND;
	rc = store_prepare(x->c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, code);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		snprintf(id, UTIL_UUID_LEN, "%s", store_col_text(st, 0));
		*doc = cJSON_Parse(store_col_text(st, 1));
		rc = *doc ? TLY_OK : TLY_ENOMEM;
	} else if (rc == STORE_DONE) {
		rc = TLY_ENOTFOUND;
	}
	store_reset(st);
	return rc;
}

/* ---- Creating ----------------------------------------------------------- */

/*
 * The live customer ext: its id in id (empty when there is none) and its
 * currency in cur (empty when it has none).
 */
static int customer_find(struct api_ctx *x, const char *ext,
			 char id[UTIL_UUID_LEN], char cur[CURRENCY_LEN])
{
	static const char *const sql =
		"SELECT lago_id, doc FROM customers "
		"WHERE external_id = ? AND deleted_at IS NULL";
	struct store_stmt *st = NULL;
	const cJSON *v;
	cJSON *doc;
	int rc = store_prepare(x->c, sql, &st);

	id[0] = cur[0] = '\0';
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, ext);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		snprintf(id, UTIL_UUID_LEN, "%s", store_col_text(st, 0));
		doc = cJSON_Parse(store_col_text(st, 1));
		v = cJSON_GetObjectItemCaseSensitive(doc, "currency");
		if (cJSON_IsString(v))
			snprintf(cur, CURRENCY_LEN, "%s", v->valuestring);
		rc = doc ? TLY_OK : TLY_ENOMEM;
		cJSON_Delete(doc);
	} else if (rc == STORE_DONE) {
		rc = TLY_OK;
	}
	store_reset(st);
	return rc;
}

/*
 * The customer ext, created when unknown, with the plan's currency set
 * when it has none (Lago's Customers::UpdateCurrencyService); a customer
 * of another currency records currencies_does_not_match.
 */
static int customer_for(struct api_ctx *x, const char *ext,
			const cJSON *plan, char id[UTIL_UUID_LEN],
			struct api_errs *e)
{
	const cJSON *pc = cJSON_GetObjectItemCaseSensitive(plan,
							   "amount_currency");
	const char *want = cJSON_IsString(pc) ? pc->valuestring : NULL;
	char cur[CURRENCY_LEN];
	cJSON *in;
	int rc = customer_find(x, ext, id, cur);

	if (rc != TLY_OK)
		return rc;
	if (id[0] && cur[0] && want && strcmp(cur, want) != 0) {
		api_err(e, "currency", "currencies_does_not_match");
		return TLY_EINVAL;
	}
	if (id[0] && (cur[0] || !want))
		return TLY_OK;
	/* The upsert takes the attributes the object holds, and only them. */
	in = cJSON_CreateObject();
	if (!in || !cJSON_AddStringToObject(in, "external_id", ext) ||
	    (want && !cJSON_AddStringToObject(in, "currency", want))) {
		cJSON_Delete(in);
		return TLY_ENOMEM;
	}
	rc = api_customer_upsert(x, in, ext, id, e);
	cJSON_Delete(in);
	return rc;
}

/*
 * The customer's subscription that a create with external id ext acts
 * on (Lago's editable_subscriptions: active, or pending and starting on
 * its own).  Its id and plan go to id and plan_id; TLY_ENOTFOUND.
 */
static int editable_find(struct api_ctx *x, const char *cust_id,
			 const char *ext, char id[UTIL_UUID_LEN],
			 char plan_id[UTIL_UUID_LEN], int *pending)
{
	static const char *const sql =
		"SELECT lago_id, plan_id, status FROM subscriptions "
		"WHERE customer_id = ? AND external_id = ? AND "
		"(status = 'active' OR (status = 'pending' AND "
		"previous_id IS NULL)) ORDER BY created_at DESC LIMIT 1";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, cust_id);
	store_bind_text(st, 2, ext);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		snprintf(id, UTIL_UUID_LEN, "%s", store_col_text(st, 0));
		snprintf(plan_id, UTIL_UUID_LEN, "%s", store_col_text(st, 1));
		*pending = strcmp(store_col_text(st, 2), "pending") == 0;
		rc = TLY_OK;
	} else if (rc == STORE_DONE) {
		rc = TLY_ENOTFOUND;
	}
	store_reset(st);
	return rc;
}

/*
 * Whether another customer holds external id ext live.  Lago refuses an
 * active one only; we refuse a pending one as well, as it would take the
 * other's events once active.
 */
static int ext_taken(struct api_ctx *x, const char *ext, const char *cust_id,
		     int *taken)
{
	static const char *const sql =
		"SELECT 1 FROM subscriptions WHERE external_id = ? AND "
		"customer_id <> ? AND status IN ('active', 'pending') LIMIT 1";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, ext);
	store_bind_text(st, 2, cust_id);
	rc = store_step(st);
	store_reset(st);
	*taken = rc == STORE_ROW;
	return rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
}

static int sub_insert(struct api_ctx *x, const struct sub_in *r,
		      const char *plan_id, const char *cust_id,
		      char id[UTIL_UUID_LEN])
{
	static const char *const sql =
		"INSERT INTO subscriptions (lago_id, external_id, customer_id,"
		" plan_id, status, billing_time, name, subscription_at, "
		"started_at, ending_at, doc, created_at, updated_at) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?)";
	struct store_stmt *st = NULL;
	int64_t now = api_now();
	int active = r->sub_at <= now;
	int rc = util_uuid(id);

	if (rc == TLY_OK)
		rc = store_prepare(x->c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, r->ext);
	store_bind_text(st, 3, cust_id);
	store_bind_text(st, 4, plan_id);
	store_bind_text(st, 5, active ? "active" : "pending");
	store_bind_text(st, 6, r->billing);
	store_bind_text(st, 7, r->name);
	store_bind_i64(st, 8, r->sub_at);
	if (active)
		store_bind_i64(st, 9, r->sub_at);
	else
		store_bind_null(st, 9);
	if (r->ending_at >= 0)
		store_bind_i64(st, 10, r->ending_at);
	else
		store_bind_null(st, 10);
	store_bind_i64(st, 11, now);
	store_bind_i64(st, 12, now);
	return store_run(st);
}

/* A pending subscription moved to another plan (and name, when given). */
static int sub_replan(struct api_ctx *x, const char *id, const char *plan_id,
		      const char *name)
{
	static const char *const sql =
		"UPDATE subscriptions SET plan_id = ?, "
		"name = COALESCE(?, name), updated_at = ? WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, plan_id);
	store_bind_text(st, 2, name[0] ? name : NULL);
	store_bind_i64(st, 3, api_now());
	store_bind_text(st, 4, id);
	return store_run(st);
}

/* ---- Plan changes ---------------------------------------------------- */

/*
 * A plan's price per year: Lago calls a change an upgrade when the new
 * plan's yearly amount is at least the old one's (Plan#yearly_amount_cents).
 */
static int64_t yearly_cents(const cJSON *plan)
{
	static const struct { const char *iv; int per_year; } k[] = {
		{"weekly", 52}, {"monthly", 12}, {"quarterly", 4},
		{"semiannual", 2}, {"yearly", 1}};
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(plan, "interval");
	const cJSON *amount = cJSON_GetObjectItemCaseSensitive(plan,
							       "amount_cents");

	for (size_t i = 0; cJSON_IsString(iv) && i < 5; i++)
		if (!strcmp(iv->valuestring, k[i].iv) && cJSON_IsNumber(amount))
			return (int64_t)amount->valuedouble * k[i].per_year;
	return 0;
}

/* What a plan change needs of the current subscription. */
struct change_from {
	int64_t started_ms;
	char billing[16];
	cJSON *plan;		/* the current plan's doc; the caller frees */
	cJSON *next_plan;	/* the new plan's doc; the caller frees */
};

static int change_load(struct api_ctx *x, const char *old_id,
		       const char *plan_id, struct change_from *f)
{
	static const char *const sql =
		"SELECT s.started_at, s.billing_time, p.doc, "
		"(SELECT doc FROM plans WHERE lago_id = ?) FROM subscriptions s "
		"JOIN plans p ON p.lago_id = s.plan_id WHERE s.lago_id = ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	memset(f, 0, sizeof(*f));
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, plan_id);
	store_bind_text(st, 2, old_id);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		f->started_ms = store_col_i64(st, 0);
		snprintf(f->billing, sizeof(f->billing), "%s",
			 store_col_text(st, 1));
		f->plan = cJSON_Parse(store_col_text(st, 2));
		f->next_plan = cJSON_Parse(store_col_text(st, 3));
		rc = f->plan && f->next_plan ? TLY_OK : TLY_ENOMEM;
	} else {
		rc = rc == STORE_DONE ? TLY_ENOTFOUND : rc;
	}
	store_reset(st);
	return rc;
}

/* The subscription that follows old_id on plan_id from sub_at. */
static int sub_insert_next(struct api_ctx *x, const struct sub_in *r,
			   const char *plan_id, const char *cust_id,
			   const char *old_id, const char *billing,
			   int64_t sub_at, char id[UTIL_UUID_LEN])
{
	static const char *const sql =
		"INSERT INTO subscriptions (lago_id, external_id, customer_id,"
		" plan_id, previous_id, status, billing_time, name, "
		"subscription_at, started_at, doc, created_at, updated_at) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?)";
	struct store_stmt *st = NULL;
	int64_t now = api_now();
	int active = sub_at <= now;
	int rc = util_uuid(id);

	if (rc == TLY_OK)
		rc = store_prepare(x->c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, r->ext);
	store_bind_text(st, 3, cust_id);
	store_bind_text(st, 4, plan_id);
	store_bind_text(st, 5, old_id);
	store_bind_text(st, 6, active ? "active" : "pending");
	store_bind_text(st, 7, billing);
	store_bind_text(st, 8, r->name);
	store_bind_i64(st, 9, sub_at);
	if (active)
		store_bind_i64(st, 10, sub_at);
	else
		store_bind_null(st, 10);
	store_bind_i64(st, 11, now);
	store_bind_i64(st, 12, now);
	return store_run(st);
}

static int sub_end_at(struct api_ctx *x, const char *id, int64_t at)
{
	static const char *const sql =
		"UPDATE subscriptions SET status = 'terminated', "
		"terminated_at = ?, updated_at = ? WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, at);
	store_bind_i64(st, 2, api_now());
	store_bind_text(st, 3, id);
	return store_run(st);
}

/*
 * Lago's plan change on an active subscription: an upgrade applies at
 * once (the old one terminates now and is invoiced prorated; the new one
 * starts now), a downgrade at the end of the current period (the new one
 * waits as pending; billing activates it and ends the old one).  On a
 * downgrade Lago answers with the current subscription, whose
 * next_plan_code then names the new plan.
 */
static int sub_change(struct api_ctx *x, const struct sub_in *r,
		      const char *plan_id, const char *cust_id,
		      char id[UTIL_UUID_LEN])
{
	struct change_from f;
	char old_id[UTIL_UUID_LEN], next_id[UTIL_UUID_LEN];
	int64_t now = api_now();
	struct period pp;
	int rc;

	snprintf(old_id, sizeof(old_id), "%s", id);
	rc = change_load(x, old_id, plan_id, &f);
	if (rc == TLY_OK && yearly_cents(f.next_plan) >= yearly_cents(f.plan)) {
		rc = sub_end_at(x, old_id, now);
		if (rc == TLY_OK)
			rc = sub_insert_next(x, r, plan_id, cust_id, old_id,
					     f.billing, now, id);
	} else if (rc == TLY_OK) {
		const cJSON *iv = cJSON_GetObjectItemCaseSensitive(f.plan,
								   "interval");

		rc = period_containing((enum period_interval)
			period_interval_parse(cJSON_IsString(iv) ?
					      iv->valuestring : ""),
			!strcmp(f.billing, "anniversary"), f.started_ms, now,
			&pp);
		if (rc == TLY_OK)
			rc = sub_insert_next(x, r, plan_id, cust_id, old_id,
					     f.billing, pp.next_ms, next_id);
	}
	cJSON_Delete(f.plan);
	cJSON_Delete(f.next_plan);
	return rc;
}

/*
 * Lago's handle_subscription, inside the caller's transaction: the same
 * plan again returns the subscription as it is; a pending one takes the
 * new plan; a new one is inserted.  The subscription's id goes to id.
 */
static int sub_place(struct api_ctx *x, const struct sub_in *r,
		     const char *plan_id, const char *cust_id,
		     char id[UTIL_UUID_LEN], struct api_errs *e)
{
	char cur_plan[UTIL_UUID_LEN];
	int pending = 0, taken = 0;
	int rc = editable_find(x, cust_id, r->ext, id, cur_plan, &pending);

	if (rc == TLY_OK && strcmp(cur_plan, plan_id) == 0)
		return TLY_OK;
	if (rc == TLY_OK && pending)
		return sub_replan(x, id, plan_id, r->name);
	if (rc == TLY_OK)
		return sub_change(x, r, plan_id, cust_id, id);
	if (rc != TLY_ENOTFOUND)
		return rc;
	rc = ext_taken(x, r->ext, cust_id, &taken);
	if (rc == TLY_OK && !taken)
		rc = sub_insert(x, r, plan_id, cust_id, id);
	if (taken || rc == TLY_EEXIST) {
		api_err(e, "external_id", "value_already_exist");
		return TLY_EINVAL;
	}
	return rc;
}

/* The writes of a create, in Lago's order of checks. */
static int sub_create(struct api_ctx *x, const struct sub_in *r,
		      const char *plan_id, const cJSON *plan,
		      char id[UTIL_UUID_LEN], struct api_errs *e)
{
	char cust_id[UTIL_UUID_LEN];
	int rc = customer_for(x, r->cust, plan, cust_id, e);

	if (rc != TLY_OK)
		return rc;
	if (strcmp(r->billing, "calendar") != 0 &&
	    strcmp(r->billing, "anniversary") != 0) {
		api_err(e, "billing_time", "value_is_invalid");
		return TLY_EINVAL;
	}
	if (!r->ext || !r->ext[0]) {
		api_err(e, "external_id", "value_is_mandatory");
		return TLY_EINVAL;
	}
	return sub_place(x, r, plan_id, cust_id, id, e);
}

/* 403 for plan_overrides, as Lago answers without a premium licence. */
static int overrides_refused(struct api_ctx *x, cJSON *in)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(in, "plan_overrides");

	if (!it || cJSON_IsNull(it))
		return 0;
	httpd_error(x->resp, 403, "feature_unavailable", NULL);
	return 1;
}

/*
 * The checks before any write, in Lago's order: the plan (404), the
 * dates, plan_overrides, external_customer_id.  1 when answered.
 */
static int create_refused(struct api_ctx *x, cJSON *in, struct sub_in *r,
			  char plan_id[UTIL_UUID_LEN], cJSON **plan,
			  struct api_errs *e)
{
	int rc = plan_find(x, r->plan_code, plan_id, plan);

	if (rc == TLY_ENOTFOUND) {
		api_not_found(x, "plan");
		return 1;
	}
	if (rc != TLY_OK) {
		api_store_failed(x);
		return 1;
	}
	read_time(in, "subscription_at", 0, &r->sub_at, e);
	if (read_time(in, "ending_at", 1, &r->ending_at, e) > 0)
		check_ending(r->ending_at, r->sub_at, e);
	if (api_errs_send(x, e) || overrides_refused(x, in))
		return 1;
	if (!r->cust || !r->cust[0])
		api_err(e, "external_customer_id", "value_is_mandatory");
	return api_errs_send(x, e);
}

void api_subscriptions_create(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "subscription", &root), *plan = NULL;
	char plan_id[UTIL_UUID_LEN], id[UTIL_UUID_LEN];
	struct api_errs e = {0};
	struct sub_in r;
	int rc;

	if (!in)
		return;
	read_create(in, &r, &e);
	if (api_errs_send(x, &e) ||
	    create_refused(x, in, &r, plan_id, &plan, &e))
		goto out;
	rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = sub_create(x, &r, plan_id, plan, id, &e);
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc != TLY_OK) {
		store_rollback(x->c);
		if (!api_errs_send(x, &e))
			api_store_failed(x);
		goto out;
	}
	sub_send(x, id, SJ_SHOW);
out:
	cJSON_Delete(plan);
	api_errs_free(&e);
	cJSON_Delete(root);
}

/* ---- Get and list ---------------------------------------------------- */

void api_subscriptions_get(struct api_ctx *x)
{
	const char *status = httpd_query(x->req, "status");
	struct sub_ref r;
	int rc = sub_find(x, x->req->cap[0], status ? status : "active", &r);

	cJSON_Delete(r.doc);
	if (rc == TLY_OK)
		sub_send(x, r.id, SJ_SHOW);
	else if (rc == TLY_ENOTFOUND)
		api_not_found(x, "subscription");
	else
		api_store_failed(x);
}

/* The list's filters, bound in the order of SUB_FILTER. */
struct sub_filter {
	const char *status[5];	/* unused ones NULL */
	const char *customer;	/* external_customer_id */
	const char *plan_code;
	int seen;		/* status[] was given */
	int bad;		/* with a value that is no status */
};

static const char *const statuses[5] = {
	"active", "pending", "terminated", "canceled", "incomplete"};

/* MHD's iterator over the query: collects the status[] values. */
static enum MHD_Result status_arg(void *cls, enum MHD_ValueKind kind,
				  const char *key, const char *value)
{
	struct sub_filter *f = cls;
	size_t i, j;

	(void)kind;
	if (!key || strcmp(key, "status[]") != 0)
		return MHD_YES;
	f->seen = 1;
	for (i = 0; value && i < N(statuses); i++)
		if (strcmp(value, statuses[i]) == 0)
			break;
	if (i == N(statuses)) {
		f->bad = 1;
		return MHD_YES;
	}
	for (j = 0; j < N(f->status) && f->status[j]; j++)
		if (f->status[j] == statuses[i])
			return MHD_YES;
	if (j < N(f->status))
		f->status[j] = statuses[i];
	return MHD_YES;
}

/*
 * Lago's SubscriptionIndex: status[] defaults to active, and a value
 * that is no status drops the status filter altogether.
 */
static void read_filter(struct api_ctx *x, struct sub_filter *f)
{
	memset(f, 0, sizeof(*f));
	/* httpd_query gives one value; status[] may come several times. */
	MHD_get_connection_values(x->req->conn, MHD_GET_ARGUMENT_KIND,
				  status_arg, f);
	if (!f->seen)
		f->status[0] = statuses[0];
	if (f->bad)
		memcpy(f->status, statuses, sizeof(statuses));
	f->customer = httpd_query(x->req, "external_customer_id");
	f->plan_code = httpd_query(x->req, "plan_code");
}

#define SUB_FILTER \
	" WHERE s.status IN (?, ?, ?, ?, ?) AND (CAST(? AS TEXT) IS NULL" \
	" OR s.customer_id IN (SELECT lago_id FROM customers" \
	" WHERE external_id = ? AND deleted_at IS NULL))" \
	" AND (CAST(? AS TEXT) IS NULL OR p.code = ?)"

static void bind_filter(struct store_stmt *st, const void *arg)
{
	const struct sub_filter *f = arg;
	int i;

	for (i = 0; i < 5; i++)
		store_bind_text(st, i + 1, f->status[i]);
	store_bind_text(st, 6, f->customer);
	store_bind_text(st, 7, f->customer);
	store_bind_text(st, 8, f->plan_code);
	store_bind_text(st, 9, f->plan_code);
}

static cJSON *sub_row_json(struct api_ctx *x, struct store_stmt *st,
			  void *arg)
{
	(void)arg;
	return sub_json(x, st, SJ_LIST);
}

/* Append the page's subscriptions to list: TLY_OK when all went. */
static int sub_page(struct api_ctx *x, const struct sub_filter *f,
		    int64_t page, int64_t per, cJSON *list)
{
	static const char *const sql =
		"SELECT " SUB_COLS SUB_FROM SUB_FILTER
		" ORDER BY s.subscription_at DESC, s.created_at DESC, "
		"s.lago_id LIMIT ? OFFSET ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	bind_filter(st, f);
	store_bind_i64(st, 10, per);
	store_bind_i64(st, 11, (page - 1) * per);
	return api_rows_append(x, st, sub_row_json, NULL, list);
}

void api_subscriptions_list(struct api_ctx *x)
{
	struct sub_filter f;
	int64_t page, per, total;
	cJSON *root, *list;

	if (api_page(x, &page, &per) != TLY_OK)
		return;
	read_filter(x, &f);
	total = api_count_bound(x, "SELECT COUNT(*)" SUB_FROM SUB_FILTER,
				bind_filter, &f);
	root = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(root, "subscriptions");
	if (total < 0 || !list ||
	    sub_page(x, &f, page, per, list) != TLY_OK ||
	    api_meta(root, page, per, total) != 0) {
		cJSON_Delete(root);
		api_store_failed(x);
		return;
	}
	httpd_json(x->resp, 200, root);
}

/* ---- Update ---------------------------------------------------------- */

/*
 * Lago's choice of the subscription to update: the only one with this
 * external id, else the one of the asked status (pending, incomplete;
 * active by default).
 */
static int update_find(struct api_ctx *x, const char *ext, struct sub_ref *r)
{
	static const char *const sql =
		"SELECT COUNT(*) FROM subscriptions WHERE external_id = ?";
	const char *status = httpd_query(x->req, "status");
	struct store_stmt *st = NULL;
	int64_t n = 0;
	int rc = store_prepare(x->c, sql, &st);

	memset(r, 0, sizeof(*r));
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, ext);
	rc = store_step(st);
	if (rc == STORE_ROW)
		n = store_col_i64(st, 0);
	store_reset(st);
	if (rc != STORE_ROW)
		return rc == STORE_DONE ? TLY_EDB : rc;
	if (n <= 1)
		status = NULL;
	else if (!status || (strcmp(status, "pending") != 0 &&
			     strcmp(status, "incomplete") != 0))
		status = "active";
	return sub_find(x, ext, status, r);
}

/* What an update changes. */
struct sub_upd {
	int set_name, set_ending, set_start;
	const char *name;	/* NULL clears it */
	int64_t ending_at;	/* -1 clears it */
	int64_t sub_at;
};

/* The subscription_at of the row (for Lago's ending_at check). */
static int sub_at_of(struct api_ctx *x, const char *id, int64_t *ms)
{
	static const char *const sql =
		"SELECT subscription_at FROM subscriptions WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, id);
	rc = store_step(st);
	if (rc == STORE_ROW)
		*ms = store_col_i64(st, 0);
	store_reset(st);
	return rc == STORE_ROW ? TLY_OK : rc == STORE_DONE ? TLY_ENOTFOUND : rc;
}

static int read_update(struct api_ctx *x, cJSON *in, const char *id,
		       struct sub_upd *u, struct api_errs *e)
{
	int rc;

	memset(u, 0, sizeof(*u));
	u->ending_at = -1;
	rc = sub_at_of(x, id, &u->sub_at);
	if (rc != TLY_OK)
		return rc;
	u->set_name = cJSON_HasObjectItem(in, "name");
	api_str(in, "name", 0, 0, &u->name, e);
	/* subscription_at, when given, must be a time, even null. */
	u->set_start = cJSON_HasObjectItem(in, "subscription_at");
	if (u->set_start && read_time(in, "subscription_at", 0, &u->sub_at,
				      e) == 0)
		api_err(e, "subscription_at", "invalid_date");
	u->set_ending = cJSON_HasObjectItem(in, "ending_at");
	if (read_time(in, "ending_at", 1, &u->ending_at, e) > 0)
		check_ending(u->ending_at, u->sub_at, e);
	return TLY_OK;
}

/*
 * Write u.  subscription_at moves only while the subscription has not
 * started; it starts when the new time has come (Lago's
 * process_subscription_at_change).
 */
static int sub_update(struct api_ctx *x, const struct sub_ref *r,
		      const struct sub_upd *u)
{
	static const char *const sql =
		"UPDATE subscriptions SET "
		"name = CASE WHEN ? = 1 THEN ? ELSE name END, "
		"ending_at = CASE WHEN ? = 1 THEN ? ELSE ending_at END, "
		"subscription_at = CASE WHEN ? = 1 THEN ? "
		"ELSE subscription_at END, "
		"status = CASE WHEN ? = 1 THEN 'active' ELSE status END, "
		"started_at = CASE WHEN ? = 1 THEN ? ELSE started_at END, "
		"updated_at = ? WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	int move = r->starting && u->set_start;
	int start = move && u->sub_at <= api_now();
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, u->set_name);
	store_bind_text(st, 2, u->name);
	store_bind_i64(st, 3, u->set_ending);
	if (u->ending_at >= 0)
		store_bind_i64(st, 4, u->ending_at);
	else
		store_bind_null(st, 4);
	store_bind_i64(st, 5, move);
	store_bind_i64(st, 6, u->sub_at);
	store_bind_i64(st, 7, start);
	store_bind_i64(st, 8, start);
	store_bind_i64(st, 9, u->sub_at);
	store_bind_i64(st, 10, api_now());
	store_bind_text(st, 11, r->id);
	return store_run(st);
}

void api_subscriptions_update(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "subscription", &root);
	struct api_errs e = {0};
	struct sub_ref r = {0};
	struct sub_upd u;
	int rc;

	if (!in)
		return;
	rc = update_find(x, x->req->cap[0], &r);
	if (rc == TLY_OK)
		rc = read_update(x, in, r.id, &u, &e);
	if (rc == TLY_ENOTFOUND)
		api_not_found(x, "subscription");
	else if (rc != TLY_OK)
		api_store_failed(x);
	if (rc != TLY_OK || api_errs_send(x, &e) || overrides_refused(x, in))
		goto out;
	rc = sub_update(x, &r, &u);
	if (rc == TLY_EEXIST)
		httpd_invalid(x->resp, "external_id", "value_already_exist");
	else if (rc != TLY_OK)
		api_store_failed(x);
	else
		sub_send(x, r.id, SJ_UPDATE);
out:
	cJSON_Delete(r.doc);
	api_errs_free(&e);
	cJSON_Delete(root);
}

/* ---- Terminate and cancel -------------------------------------------- */

/* How a termination treats its invoice and credit note (query values). */
struct sub_term {
	const char *invoice;		/* on_termination_invoice */
	const char *credit_note;	/* on_termination_credit_note */
};

/*
 * The value asked (v), else the one stored in doc[key], else dflt.  NULL,
 * with e filled, when v is not among choices.
 */
static const char *choice(const char *v, const cJSON *doc, const char *key,
			  const char *const *choices, size_t n,
			  const char *dflt, struct api_errs *e)
{
	const cJSON *stored = cJSON_GetObjectItemCaseSensitive(doc, key);

	if (!v || !*v)
		return cJSON_IsString(stored) ? stored->valuestring : dflt;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, choices[i]) == 0)
			return choices[i];
	api_err(e, key, "invalid_value");
	return NULL;
}

/* doc[key] = v (a static string). */
static int doc_set(cJSON *doc, const char *key, const char *v)
{
	cJSON *item = cJSON_CreateString(v);

	if (!item)
		return TLY_ENOMEM;
	if (cJSON_HasObjectItem(doc, key))
		return cJSON_ReplaceItemInObjectCaseSensitive(doc, key, item) ?
		       TLY_OK : TLY_ENOMEM;
	if (cJSON_AddItemToObject(doc, key, item))
		return TLY_OK;
	cJSON_Delete(item);
	return TLY_ENOMEM;
}

/*
 * Record in r->doc what the termination does about its invoice and, for
 * a plan paid in advance, its credit note (Lago's TerminateService:
 * what was asked, else what was stored, else generate and credit).
 */
static int termination_doc(struct sub_ref *r, const struct sub_term *t,
			   struct api_errs *e)
{
	static const char *const inv[] = {"generate", "skip"};
	static const char *const cn[] = {"credit", "refund", "offset", "skip"};
	const char *i = choice(t->invoice, r->doc, "on_termination_invoice",
			       inv, N(inv), "generate", e);
	const char *c = NULL;
	int rc;

	if (r->pay_in_advance)
		c = choice(t->credit_note, r->doc,
			   "on_termination_credit_note", cn, N(cn), "credit",
			   e);
	if (!i || (r->pay_in_advance && !c))
		return TLY_EINVAL;
	rc = doc_set(r->doc, "on_termination_invoice", i);
	if (rc == TLY_OK && c)
		rc = doc_set(r->doc, "on_termination_credit_note", c);
	return rc;
}

/* Cancel the pending subscriptions that were to follow id, or id itself. */
static int sub_cancel(struct api_ctx *x, const char *id, int followers)
{
	static const char *const self =
		"UPDATE subscriptions SET status = 'canceled', "
		"canceled_at = ?, updated_at = ? WHERE lago_id = ?";
	static const char *const next =
		"UPDATE subscriptions SET status = 'canceled', "
		"canceled_at = ?, updated_at = ? "
		"WHERE previous_id = ? AND status = 'pending'";
	struct store_stmt *st = NULL;
	int64_t now = api_now();
	int rc = store_prepare(x->c, followers ? next : self, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, now);
	store_bind_i64(st, 2, now);
	store_bind_text(st, 3, id);
	return store_run(st);
}

/* Terminate the active subscription r now, inside a transaction. */
static int sub_terminate(struct api_ctx *x, const struct sub_ref *r)
{
	static const char *const sql =
		"UPDATE subscriptions SET status = 'terminated', "
		"terminated_at = ?, doc = ?, updated_at = ? WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	char *doc = cJSON_PrintUnformatted(r->doc);
	int64_t now = api_now();
	int rc = doc ? store_prepare(x->c, sql, &st) : TLY_ENOMEM;

	if (rc == TLY_OK) {
		store_bind_i64(st, 1, now);
		store_bind_text(st, 2, doc);
		store_bind_i64(st, 3, now);
		store_bind_text(st, 4, r->id);
		rc = store_run(st);
	}
	cJSON_free(doc);
	if (rc == TLY_OK)
		rc = sub_cancel(x, r->id, 1);
	return rc;
}

/* End r: a pending one is canceled, an active one terminated. */
static int sub_end(struct api_ctx *x, struct sub_ref *r,
		   const struct sub_term *t, struct api_errs *e)
{
	int rc;

	if (strcmp(r->status, "pending") == 0)
		return sub_cancel(x, r->id, 0);
	rc = termination_doc(r, t, e);
	return rc == TLY_OK ? sub_terminate(x, r) : rc;
}

void api_subscriptions_delete(struct api_ctx *x)
{
	const char *status = httpd_query(x->req, "status");
	int pending = status && strcmp(status, "pending") == 0;
	struct sub_term t = {
		httpd_query(x->req, "on_termination_invoice"),
		httpd_query(x->req, "on_termination_credit_note")};
	struct api_errs e = {0};
	struct sub_ref r;
	int rc = sub_find(x, x->req->cap[0], pending ? "pending" : "active",
			  &r);

	if (rc == TLY_ENOTFOUND) {
		api_not_found(x, "subscription");
		goto out;
	}
	if (rc == TLY_OK)
		rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = sub_end(x, &r, &t, &e);
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc != TLY_OK) {
		store_rollback(x->c);
		if (!api_errs_send(x, &e))
			api_store_failed(x);
		goto out;
	}
	sub_send(x, r.id, SJ_TERMINATE);
out:
	api_errs_free(&e);
	cJSON_Delete(r.doc);
}

/* The customer's first active subscription, as a sub_ref. */
static int customer_active(struct api_ctx *x, const char *cust_id,
			   struct sub_ref *r)
{
	static const char *const sql =
		"SELECT external_id FROM subscriptions "
		"WHERE customer_id = ? AND status = 'active' LIMIT 1";
	struct store_stmt *st = NULL;
	char ext[EV_ID_MAX + 1];
	int rc = store_prepare(x->c, sql, &st);

	memset(r, 0, sizeof(*r));
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, cust_id);
	rc = store_step(st);
	if (rc == STORE_ROW)
		snprintf(ext, sizeof(ext), "%s", store_col_text(st, 0));
	store_reset(st);
	if (rc != STORE_ROW)
		return rc == STORE_DONE ? TLY_ENOTFOUND : rc;
	/* One active subscription per external id: this is the one. */
	return sub_find(x, ext, "active", r);
}

int api_subscriptions_end_customer(struct api_ctx *x,
				   const char *customer_lago_id)
{
	static const char *const cancel =
		"UPDATE subscriptions SET status = 'canceled', "
		"canceled_at = ?, updated_at = ? "
		"WHERE customer_id = ? AND status = 'pending'";
	const struct sub_term t = {NULL, NULL};	/* what each one holds */
	struct api_errs e = {0};
	struct store_stmt *st = NULL;
	struct sub_ref r;
	int64_t now;
	int rc;

	/* Each pass terminates one, so the loop ends. */
	while ((rc = customer_active(x, customer_lago_id, &r)) == TLY_OK) {
		rc = sub_end(x, &r, &t, &e);
		cJSON_Delete(r.doc);
		if (rc != TLY_OK)
			break;
	}
	api_errs_free(&e);
	if (rc != TLY_ENOTFOUND)
		return rc;
	rc = store_prepare(x->c, cancel, &st);
	if (rc != TLY_OK)
		return rc;
	now = api_now();
	store_bind_i64(st, 1, now);
	store_bind_i64(st, 2, now);
	store_bind_text(st, 3, customer_lago_id);
	return store_run(st);
}
