/*
 * invoice_store.c - which periods are due, and invoices kept once each
 * (see invoice_store.h).
 *
 * A plan in arrears bills a period once it has ended: its subscription fee
 * and its usage.  A plan in advance bills a period when it starts: its
 * subscription fee, with the previous period's usage.  A termination
 * closes the last period at terminated_at.  The first calendar period
 * and a terminated one are prorated by days; trial days are free of the
 * subscription fee.  Invoices are keyed by (subscription, period start,
 * kind), so billing the same moment twice makes nothing new.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "invoice.h"
#include "invoice_store.h"
#include "log.h"
#include "util.h"

#define DAY_MS 86400000LL
#define MAX_PERIODS 1200	/* per subscription and run: 100 years monthly */

/* A subscription as billing needs it. */
struct bsub {
	char lago_id[UTIL_UUID_LEN], customer_id[UTIL_UUID_LEN];
	char plan_id[UTIL_UUID_LEN];
	char *external_id;
	int anniversary;
	int64_t started_ms, end_ms;	/* end: terminated_at or INT64_MAX */
	int has_prev, has_next;		/* a plan change before / after it */
	cJSON *plan, *customer;
};

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void bsub_free(struct bsub *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].external_id);
		cJSON_Delete(s[i].plan);
		cJSON_Delete(s[i].customer);
	}
	free(s);
}

/* Every started subscription with its plan and customer documents. */
static int load_subs(struct store_conn *c, struct bsub **out, size_t *n)
{
	static const char *const sql =
		"SELECT s.lago_id, s.external_id, s.customer_id, s.billing_time,"
		" s.started_at, s.terminated_at, p.doc, cu.doc, "
		"s.previous_id IS NOT NULL, EXISTS (SELECT 1 FROM subscriptions n "
		"WHERE n.previous_id = s.lago_id AND n.status <> 'canceled'), "
		"s.plan_id "
		"FROM subscriptions s JOIN plans p ON p.lago_id = s.plan_id "
		"JOIN customers cu ON cu.lago_id = s.customer_id "
		"WHERE s.started_at IS NOT NULL "
		"AND s.status IN ('active', 'terminated') ORDER BY s.created_at";
	struct store_stmt *st = NULL;
	struct bsub *v = NULL;
	size_t cap = 0, k = 0;
	int rc = store_prepare(c, sql, &st), step = STORE_DONE;

	while (rc == TLY_OK && (step = store_step(st)) == STORE_ROW) {
		struct bsub *s;

		if (k == cap) {
			struct bsub *nv = realloc(v, (cap = cap ? 2 * cap : 64) *
						  sizeof(*v));
			if (!nv) {
				rc = TLY_ENOMEM;
				break;
			}
			v = nv;
		}
		s = &v[k++];
		memset(s, 0, sizeof(*s));
		snprintf(s->lago_id, sizeof(s->lago_id), "%s", store_col_text(st, 0));
		s->external_id = strdup(store_col_text(st, 1));
		snprintf(s->customer_id, sizeof(s->customer_id), "%s",
			 store_col_text(st, 2));
		s->anniversary = !strcmp(store_col_text(st, 3), "anniversary");
		s->started_ms = store_col_i64(st, 4);
		s->end_ms = store_col_null(st, 5) ? INT64_MAX : store_col_i64(st, 5);
		s->plan = cJSON_Parse(store_col_text(st, 6));
		s->customer = cJSON_Parse(store_col_text(st, 7));
		s->has_prev = (int)store_col_i64(st, 8);
		s->has_next = (int)store_col_i64(st, 9);
		snprintf(s->plan_id, sizeof(s->plan_id), "%s",
			 store_col_text(st, 10));
		if (!s->external_id || !s->plan || !s->customer)
			rc = TLY_ENOMEM;
	}
	if (st)
		store_reset(st);
	if (rc == TLY_OK && step != STORE_DONE)
		rc = step;
	if (rc != TLY_OK) {
		bsub_free(v, k);
		return rc;
	}
	*out = v;
	*n = k;
	return TLY_OK;
}

/* ---- Taxes that apply ------------------------------------------------------ */

/*
 * The customer's taxes (its tax_codes) or, when it has none, the taxes
 * applied to the organization — Lago's precedence at invoice level.
 */
int inv_taxes(struct store_conn *c, const cJSON *customer, cJSON **out)
{
	static const char *const by_code =
		"SELECT doc FROM taxes WHERE code = ?";
	static const char *const org =
		"SELECT doc FROM taxes ORDER BY code";
	const cJSON *codes = cJSON_GetObjectItemCaseSensitive(customer,
							      "tax_codes");
	cJSON *arr = cJSON_CreateArray(), *code;
	struct store_stmt *st = NULL;
	int rc = arr ? TLY_OK : TLY_ENOMEM;

	cJSON_ArrayForEach(code, codes) {
		if (rc != TLY_OK || !cJSON_IsString(code))
			continue;
		rc = store_prepare(c, by_code, &st);
		if (rc != TLY_OK)
			break;
		store_bind_text(st, 1, code->valuestring);
		if (store_step(st) == STORE_ROW)
			cJSON_AddItemToArray(arr, cJSON_Parse(store_col_text(st, 0)));
		store_reset(st);
	}
	if (rc == TLY_OK && cJSON_GetArraySize(arr) == 0 &&
	    store_prepare(c, org, &st) == TLY_OK) {
		while (store_step(st) == STORE_ROW) {
			cJSON *t = cJSON_Parse(store_col_text(st, 0));

			if (t && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
				    t, "applied_to_organization")))
				cJSON_AddItemToArray(arr, t);
			else
				cJSON_Delete(t);
		}
		store_reset(st);
	}
	if (rc != TLY_OK) {
		cJSON_Delete(arr);
		arr = NULL;
	}
	*out = arr;
	return rc;
}

/* ---- Storing ------------------------------------------------------------------ */

static int already_billed(struct store_conn *c, const char *sub,
			  int64_t from_ms, const char *kind)
{
	static const char *const sql =
		"SELECT 1 FROM invoices WHERE subscription_id = ? "
		"AND from_ms = ? AND kind = ?";
	struct store_stmt *st = NULL;
	int found = 0;

	if (store_prepare(c, sql, &st) != TLY_OK)
		return -1;
	store_bind_text(st, 1, sub);
	store_bind_i64(st, 2, from_ms);
	store_bind_text(st, 3, kind);
	found = store_step(st) == STORE_ROW;
	store_reset(st);
	return found;
}

/* Give a finalized invoice the next number: no gaps, never reused. */
static int assign_number(struct store_conn *c, const char *lago_id,
			 int64_t now)
{
	static const char *const sql =
		"UPDATE invoices SET status = 'finalized', finalized_at = ?, "
		"sequential_id = (SELECT COALESCE(MAX(sequential_id), 0) + 1 "
		"FROM invoices) WHERE lago_id = ? AND status = 'draft'";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, now);
	store_bind_text(st, 2, lago_id);
	return store_run(st);
}

static int insert_invoice(struct store_conn *c, const struct bsub *s,
			  const char *kind, const struct inv_period *p,
			  cJSON *inv, int64_t issuing_ms, int64_t now,
			  int finalize, const char *id)
{
	static const char *const sql =
		"INSERT INTO invoices (lago_id, subscription_id, customer_id, "
		"kind, from_ms, to_ms, charges_from_ms, charges_to_ms, "
		"issuing_ms, status, currency, total_amount_cents, doc, "
		"created_at, updated_at, period_days, fee_days, "
		"bill_subscription, bill_charges, prev_days, prev_fee_days) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, "
		"?, ?, ?, ?)";
	struct store_stmt *st = NULL;
	char *text;
	int rc;

	text = cJSON_PrintUnformatted(inv);
	if (!text)
		return TLY_ENOMEM;
	rc = store_prepare(c, sql, &st);
	if (rc == TLY_OK) {
		store_bind_text(st, 1, id);
		store_bind_text(st, 2, s->lago_id);
		store_bind_text(st, 3, s->customer_id);
		store_bind_text(st, 4, kind);
		store_bind_i64(st, 5, p->from_ms);
		store_bind_i64(st, 6, p->to_ms);
		store_bind_i64(st, 7, p->charges_from_ms);
		store_bind_i64(st, 8, p->charges_to_ms);
		store_bind_i64(st, 9, issuing_ms);
		store_bind_text(st, 10, str(inv, "currency"));
		store_bind_i64(st, 11, (int64_t)cJSON_GetObjectItemCaseSensitive(
			inv, "total_amount_cents")->valuedouble);
		store_bind_text(st, 12, text);
		store_bind_i64(st, 13, now);
		store_bind_i64(st, 14, now);
		store_bind_i64(st, 15, p->days);
		store_bind_i64(st, 16, p->fee_days);
		store_bind_i64(st, 17, p->bill_subscription);
		store_bind_i64(st, 18, p->bill_charges);
		store_bind_i64(st, 19, p->prev_days);
		store_bind_i64(st, 20, p->prev_fee_days);
		rc = store_run(st);
	}
	cJSON_free(text);
	if (rc == TLY_OK && finalize)
		rc = assign_number(c, id, now);
	return rc;
}

/* ---- Periods --------------------------------------------------------------- */

/* Days of [from, to] that are past the trial. */
static int paid_days(const struct bsub *s, int64_t from, int64_t to)
{
	const cJSON *tp = cJSON_GetObjectItemCaseSensitive(s->plan,
							   "trial_period");
	int64_t trial_end = s->started_ms;

	if (cJSON_IsNumber(tp) && tp->valuedouble > 0)
		trial_end += (int64_t)(tp->valuedouble * (double)DAY_MS);
	from = max64(from, trial_end - trial_end % DAY_MS);
	if (from > to)
		return 0;
	return period_days_between(from, to);
}

/*
 * The last day of subscription fee: an upgrade's day belongs to the new
 * plan (Lago: 14/31 of the old, 17/31 of the new for a change on the
 * 15th of a 31-day month).
 */
static int64_t fee_end(const struct bsub *s, int64_t to)
{
	if (s->has_next && to == s->end_ms && s->end_ms % DAY_MS != 0)
		return s->end_ms - s->end_ms % DAY_MS - 1;
	if (s->has_next && to == s->end_ms)
		return s->end_ms - 1;
	return to;
}

/* Build and store one invoice unless it exists; *made counts it. */
static int bill_one(struct store_conn *c, const struct bsub *s,
		    const char *kind, struct inv_period *p, int64_t issuing_ms,
		    const cJSON *taxes, const struct inv_bill_opts *o,
		    int *made)
{
	char id[UTIL_UUID_LEN];
	struct inv_input in = {s->plan, s->customer, taxes, s->lago_id,
			       s->external_id, *p, s->plan_id, s->customer_id,
			       id, o->grace_ms == 0};
	cJSON *inv = NULL;
	int rc, seen = already_billed(c, s->lago_id, p->from_ms, kind);

	if (seen != 0)
		return seen < 0 ? TLY_EDB : TLY_OK;
	if (util_uuid(id) != TLY_OK)
		return TLY_EIO;
	rc = inv_build(c, &in, &inv);
	if (rc == TLY_OK)
		rc = insert_invoice(c, s, kind, p, inv, issuing_ms, o->now_ms,
				    o->grace_ms == 0, id);
	cJSON_Delete(inv);
	if (rc == TLY_OK)
		(*made)++;
	return rc;
}

/*
 * The events of pay-in-advance charges in window p not billed yet, as one
 * invoice keyed by the period and the run ("advance:<at>"): a run with
 * nothing new makes nothing, and advance_billed holds each event once.
 */
static int bill_advance(struct store_conn *c, const struct bsub *s,
			const struct inv_period *p, const cJSON *taxes,
			const struct inv_bill_opts *o, int *made)
{
	static const char *const mark =
		"INSERT INTO advance_billed (event_id, invoice_id) VALUES (?, ?)";
	char id[UTIL_UUID_LEN], kind[48];
	struct inv_input in = {s->plan, s->customer, taxes, s->lago_id,
			       s->external_id, *p, s->plan_id, s->customer_id,
			       id, 0};
	cJSON *inv = NULL, *events = NULL, *e;
	struct store_stmt *st = NULL;
	int rc = inv_build_advance(c, &in, o->at_ms, &inv, &events);

	if (rc != TLY_OK || !inv)
		return rc;
	if (util_uuid(id) != TLY_OK)
		rc = TLY_EIO;
	snprintf(kind, sizeof(kind), "advance:%lld", (long long)o->at_ms);
	if (rc == TLY_OK)
		rc = insert_invoice(c, s, kind, p, inv, o->at_ms, o->now_ms,
				    o->grace_ms == 0, id);
	cJSON_ArrayForEach(e, events) {
		if (rc == TLY_OK)
			rc = store_prepare(c, mark, &st);
		if (rc != TLY_OK)
			break;
		store_bind_text(st, 1, e->valuestring);
		store_bind_text(st, 2, id);
		rc = store_run(st);
	}
	if (rc == TLY_OK)
		(*made)++;
	cJSON_Delete(inv);
	cJSON_Delete(events);
	return rc;
}

/* The period containing t, clipped to the subscription's life. */
static int window(const struct bsub *s, int iv, int64_t t, struct period *pp,
		  int64_t *from, int64_t *to)
{
	int rc = period_containing((enum period_interval)iv, s->anniversary,
				   s->started_ms, t, pp);

	/*
	 * Lago's periods start at the beginning of the start day; after a
	 * plan change, at the change itself, so that the two subscriptions
	 * of one external id never bill the same usage.
	 */
	*from = max64(pp->from_ms, s->has_prev ? s->started_ms :
		      s->started_ms - s->started_ms % DAY_MS);
	*to = min64(pp->to_ms, s->end_ms);
	return rc;
}

static int bill_sub(struct store_conn *c, const struct bsub *s,
		    const struct inv_bill_opts *o, int *made)
{
	int iv = period_interval_parse(str(s->plan, "interval"));
	int advance = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		s->plan, "pay_in_advance"));
	cJSON *taxes = NULL;
	int64_t t = s->started_ms, prev_from = -1, prev_to = -1;
	int prev_days = 0, prev_fee_days = 0;
	int rc = iv < 0 ? TLY_EINVAL : inv_taxes(c, s->customer, &taxes);

	for (int n = 0; rc == TLY_OK && n < MAX_PERIODS && t < s->end_ms; n++) {
		struct period pp;
		struct inv_period p = {0};
		int64_t from, to;

		rc = window(s, iv, t, &pp, &from, &to);
		if (rc != TLY_OK)
			break;
		p = (struct inv_period){from, to, from, to, pp.days,
					paid_days(s, from, fee_end(s, to)), 1, 1,
					0, 0};
		if (!advance && to < o->at_ms && (to == pp.to_ms ||
						  to == s->end_ms))
			rc = bill_one(c, s, "subscription", &p, to + 1, taxes, o,
				      made);
		else if (advance && from <= o->at_ms) {
			/* This period's fee, the last period's usage. */
			p.bill_charges = prev_from >= 0;
			p.charges_from_ms = prev_from;
			p.charges_to_ms = prev_to;
			p.prev_days = prev_days;
			p.prev_fee_days = prev_fee_days;
			rc = bill_one(c, s, "subscription", &p, from, taxes, o,
				      made);
		}
		if (rc == TLY_OK && from <= o->at_ms) {
			/* p's charges window may be the last period's now. */
			struct inv_period ap = {from, to, from, to, pp.days, 0,
						0, 0, 0, 0};

			rc = bill_advance(c, s, &ap, taxes, o, made);
		}
		if (to < o->at_ms || advance) {
			prev_from = from;
			prev_to = to;
			prev_days = pp.days;
			prev_fee_days = p.fee_days;
		}
		if (pp.next_ms > o->at_ms && !(advance && pp.next_ms <= s->end_ms &&
					       pp.next_ms <= o->at_ms))
			break;
		t = pp.next_ms;
	}
	/* In advance, a termination still owes the last period's usage. */
	if (rc == TLY_OK && advance && s->end_ms < o->at_ms && prev_from >= 0) {
		struct inv_period p = {s->end_ms, s->end_ms, prev_from, prev_to,
				       1, 0, 0, 1, prev_days, prev_fee_days};

		rc = bill_one(c, s, "termination", &p, s->end_ms, taxes, o, made);
	}
	cJSON_Delete(taxes);
	return rc;
}

/* ---- Refresh and finalize ------------------------------------------------- */

static const char *const sql_draft =
	"SELECT i.from_ms, i.to_ms, i.charges_from_ms, i.charges_to_ms, "
	"i.period_days, i.fee_days, i.bill_subscription, i.bill_charges, "
	"s.lago_id, s.external_id, p.doc, cu.doc, i.status, s.plan_id, "
	"s.customer_id, i.prev_days, i.prev_fee_days "
	"FROM invoices i JOIN subscriptions s ON s.lago_id = i.subscription_id "
	"JOIN plans p ON p.lago_id = s.plan_id "
	"JOIN customers cu ON cu.lago_id = s.customer_id WHERE i.lago_id = ?";

/* Rebuild a draft's fees and totals from the usage held now. */
static int rebuild(struct store_conn *c, struct store_stmt *q,
		   const char *lago_id, int64_t now_ms, int final)
{
	static const char *const upd =
		"UPDATE invoices SET doc = ?, total_amount_cents = ?, "
		"updated_at = ? WHERE lago_id = ? AND status = 'draft'";
	struct inv_input in = {0};
	cJSON *plan = cJSON_Parse(store_col_text(q, 10));
	cJSON *cust = cJSON_Parse(store_col_text(q, 11));
	cJSON *taxes = NULL, *inv = NULL;
	struct store_stmt *st = NULL;
	char *text = NULL;
	int rc = plan && cust ? inv_taxes(c, cust, &taxes) : TLY_ENOMEM;

	in = (struct inv_input){plan, cust, taxes, store_col_text(q, 8),
				store_col_text(q, 9),
				{store_col_i64(q, 0), store_col_i64(q, 1),
				 store_col_i64(q, 2), store_col_i64(q, 3),
				 (int)store_col_i64(q, 4), (int)store_col_i64(q, 5),
				 (int)store_col_i64(q, 6), (int)store_col_i64(q, 7),
				 (int)store_col_i64(q, 15), (int)store_col_i64(q, 16)},
				store_col_text(q, 13), store_col_text(q, 14), lago_id,
				final};
	if (rc == TLY_OK)
		rc = inv_build(c, &in, &inv);
	if (rc == TLY_OK)
		text = cJSON_PrintUnformatted(inv);
	if (rc == TLY_OK && !text)
		rc = TLY_ENOMEM;
	if (rc == TLY_OK)
		rc = store_prepare(c, upd, &st);
	if (rc == TLY_OK) {
		store_bind_text(st, 1, text);
		store_bind_i64(st, 2, (int64_t)cJSON_GetObjectItemCaseSensitive(
			inv, "total_amount_cents")->valuedouble);
		store_bind_i64(st, 3, now_ms);
		store_bind_text(st, 4, lago_id);
		rc = store_run(st);
	}
	cJSON_free(text);
	cJSON_Delete(inv);
	cJSON_Delete(taxes);
	cJSON_Delete(plan);
	cJSON_Delete(cust);
	return rc;
}

/* Rebuild a draft; final: with its coupons, just before it is numbered. */
static int refresh(struct store_conn *c, const char *lago_id, int64_t now_ms,
		   int final)
{
	struct store_stmt *q = NULL;
	int rc = store_prepare(c, sql_draft, &q), step = STORE_DONE;

	if (rc != TLY_OK)
		return rc;
	store_bind_text(q, 1, lago_id);
	step = store_step(q);
	if (step != STORE_ROW)
		rc = step == STORE_DONE ? TLY_ENOTFOUND : step;
	else if (strcmp(store_col_text(q, 12), "draft") != 0)
		rc = TLY_EFORBID;	/* finalized invoices never change */
	else
		rc = rebuild(c, q, lago_id, now_ms, final);
	store_reset(q);
	return rc;
}

int inv_refresh(struct store_conn *c, const char *lago_id, int64_t now_ms)
{
	return refresh(c, lago_id, now_ms, 0);
}

int inv_finalize(struct store_conn *c, const char *lago_id, int64_t now_ms)
{
	int rc = refresh(c, lago_id, now_ms, 1);

	if (rc == TLY_EFORBID)
		return TLY_OK;		/* final already: nothing to do */
	if (rc == TLY_OK)
		rc = assign_number(c, lago_id, now_ms);
	return rc;
}

/* Drafts whose grace period is over become final, refreshed first. */
static int finalize_due(struct store_conn *c, const struct inv_bill_opts *o,
			int *finalized)
{
	static const char *const sql =
		"SELECT lago_id FROM invoices WHERE status = 'draft' "
		"AND created_at <= ? ORDER BY created_at, lago_id";
	char ids[256][UTIL_UUID_LEN];
	struct store_stmt *st = NULL;
	int n = 0, rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, o->now_ms - o->grace_ms);
	while (n < 256 && store_step(st) == STORE_ROW)
		snprintf(ids[n++], UTIL_UUID_LEN, "%s", store_col_text(st, 0));
	store_reset(st);
	for (int i = 0; rc == TLY_OK && i < n; i++) {
		rc = inv_finalize(c, ids[i], o->now_ms);
		*finalized += rc == TLY_OK;
	}
	return rc;
}

/* Run one of activate_due's updates: (time, now, lago_id). */
static int set_state(struct store_conn *c, const char *sql, int64_t at,
		     const char *id)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, at);
	store_bind_i64(st, 2, util_now_ms());
	store_bind_text(st, 3, id);
	return store_run(st);
}

/*
 * Pending subscriptions whose start has come become active; one that
 * follows a downgrade ends its predecessor at that moment.
 */
static int activate_due(struct store_conn *c, int64_t at_ms)
{
	static const char *const due =
		"SELECT lago_id, previous_id, subscription_at FROM subscriptions "
		"WHERE status = 'pending' AND subscription_at <= ? "
		"ORDER BY subscription_at LIMIT 1";
	static const char *const end_prev =
		"UPDATE subscriptions SET status = 'terminated', "
		"terminated_at = ?, updated_at = ? WHERE lago_id = ? "
		"AND status = 'active'";
	static const char *const start =
		"UPDATE subscriptions SET status = 'active', started_at = ?, "
		"updated_at = ? WHERE lago_id = ?";
	char id[UTIL_UUID_LEN], prev[UTIL_UUID_LEN];
	struct store_stmt *st = NULL;
	int rc = TLY_OK;

	for (int n = 0; rc == TLY_OK && n < 100000; n++) {
		int64_t at;

		rc = store_prepare(c, due, &st);
		if (rc != TLY_OK)
			break;
		store_bind_i64(st, 1, at_ms);
		if (store_step(st) != STORE_ROW) {
			store_reset(st);
			break;
		}
		snprintf(id, sizeof(id), "%s", store_col_text(st, 0));
		snprintf(prev, sizeof(prev), "%s", store_col_null(st, 1) ? "" :
			 store_col_text(st, 1));
		at = store_col_i64(st, 2);
		store_reset(st);
		if (prev[0])
			rc = set_state(c, end_prev, at, prev);
		if (rc == TLY_OK)
			rc = set_state(c, start, at, id);
	}
	return rc;
}

int inv_bill(struct store_conn *c, const struct inv_bill_opts *o,
	     int *created, int *finalized)
{
	struct bsub *subs = NULL;
	size_t n = 0;
	int rc;

	*created = *finalized = 0;
	rc = store_begin(c);
	if (rc == TLY_OK && o->grace_ms > 0)
		rc = finalize_due(c, o, finalized);
	if (rc == TLY_OK)
		rc = activate_due(c, o->at_ms);
	if (rc == TLY_OK)
		rc = load_subs(c, &subs, &n);
	for (size_t i = 0; rc == TLY_OK && i < n; i++) {
		rc = bill_sub(c, &subs[i], o, created);
		if (rc != TLY_OK)
			log_error("bill: subscription %s: %s", subs[i].external_id,
				  tly_strerror(rc));
	}
	bsub_free(subs, n);
	if (rc == TLY_OK)
		rc = store_commit(c);
	if (rc != TLY_OK)
		store_rollback(c);
	return rc;
}
