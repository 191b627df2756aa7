/*
 * coupon.h - coupons on an invoice, as Lago applies them: the customer's
 * active applied coupons in Lago's order, the discount of each (the
 * invoice's "credits" of type coupon), the discount spread over the fees
 * for the taxes, and each applied coupon's state after the invoice.
 *
 * Lago's code (lago-api):
 *   app/services/credits/applied_coupons_service.rb   order and loop
 *   app/services/credits/applied_coupon_service.rb    one coupon: fees,
 *       base, credit, fee.precise_coupons_amount_cents, countdown, end
 *   app/services/applied_coupons/amount_service.rb    the credit amount
 *   app/models/fee.rb  compute_precise_credit_amount_cents
 *
 * How the lead's invoicing uses it, in the invoice's transaction, at
 * finalization only (Lago applies coupons in the finalizing process, never
 * to drafts, and only when fees_amount_cents > 0):
 *
 *   struct coupon_list l = {0};
 *   coupon_load_active(c, customer_lago_id, &l);
 *   coupon_apply(&l, currency, fees_cents - progressive_credit_cents,
 *                fees, nfees, &coupons_cents);
 *   ... taxes per fee on amount_cents - coupons_e5 / 100000 (exact) ...
 *   coupon_credits_json(&l, invoice_id, payment_status, credits);
 *   coupon_commit(c, &l, invoice_id);
 *   coupon_list_free(&l);
 *
 * No binary floating point is used.  Where Lago computes with Ruby Floats
 * (the percentage discount, the pro-rata weights) coupon.c reproduces the
 * IEEE-754 double arithmetic bit for bit in exact integers (GMP), so the
 * cents are Lago's, rounding quirks included.
 */
#ifndef TALLY_COUPON_H
#define TALLY_COUPON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

#define COUPON_RATE_LEN 24	/* percentage_rate text, numeric(10,5) */
#define COUPON_CUR_LEN 8	/* an ISO 4217 code and its NUL, with room */
#define COUPON_E5 100000	/* coupons_e5 units per cent */

enum coupon_freq { COUPON_ONCE, COUPON_RECURRING, COUPON_FOREVER };

/* What the coupon is limited to (coupons.limited_*; metrics win). */
enum coupon_limit { COUPON_ALL, COUPON_PLANS, COUPON_METRICS };

/* One fee of the invoice, in the invoice's fee order. */
struct coupon_fee {
	int64_t amount_cents;
	const char *plan_id;	/* lago_id of the fee's plan, or NULL */
	const char *metric_id;	/* lago_id of a charge fee's metric, or NULL */
	/*
	 * Lago's fee.precise_coupons_amount_cents, in 1/100000 cent (its
	 * column is numeric(30,5)).  In: what is already taken from the
	 * fee, 0 but for Lago's progressive billing credit, which
	 * Credits::ProgressiveBillingService spreads there first.  Out:
	 * that plus the fee's share of the coupons.  Lago taxes a fee on
	 * amount_cents - precise_coupons_amount_cents.
	 */
	int64_t coupons_e5;
};

/* One active applied coupon of the customer (coupon_load_active). */
struct coupon_applied {
	char lago_id[UTIL_UUID_LEN];	/* the applied coupon */
	char coupon_id[UTIL_UUID_LEN];	/* the coupon: the credit's item */
	char *code, *name, *description;	/* the coupon's; NULL if none */
	int percentage;			/* coupon_type percentage, or fixed */
	enum coupon_freq freq;		/* the applied coupon's */
	int has_amount;
	int64_t amount_cents;
	char currency[COUPON_CUR_LEN];	/* amount_currency, "" if none */
	char rate[COUPON_RATE_LEN];	/* percentage_rate, "" if none */
	int has_remaining;		/* fixed once: amount not yet used */
	int64_t remaining_cents;
	int has_duration;		/* frequency_duration_remaining */
	int64_t duration_remaining;
	enum coupon_limit limit;
	char (*targets)[UTIL_UUID_LEN];	/* plan or metric lago_ids */
	size_t ntargets;
	/* Set by coupon_apply. */
	int applied;			/* a credit was made (maybe of 0) */
	int64_t credit_cents;		/* Lago's credit.amount_cents */
	int terminated;			/* terminated by this invoice */
	char credit_id[UTIL_UUID_LEN];	/* set by coupon_credits_json */
};

struct coupon_list {
	struct coupon_applied *v;
	size_t n;
	char currency[COUPON_CUR_LEN];	/* the invoice's, set by coupon_apply */
};

void coupon_list_free(struct coupon_list *l);	/* NULL-safe; empties l */

/*
 * (a) The customer's active applied coupons, in Lago's order: those
 * limited to billable metrics, then those limited to plans, then the
 * others, each group oldest first.  TLY_OK, TLY_EDB, TLY_ENOMEM; out is
 * emptied first.
 */
int coupon_load_active(struct store_conn *c, const char *customer_lago_id,
		       struct coupon_list *out);

/*
 * (b) Apply the coupons of l, in order, to an invoice in `currency` whose
 * fees are fees[0..nfees) and whose sub_total_excluding_taxes before
 * coupons is subtotal_cents (fees minus any progressive billing credit).
 * Lago's rules:
 *   - nothing when the fees sum to 0 or less; stop at the first coupon
 *     met with the running sub-total at 0 or less;
 *   - a fixed coupon of another currency is skipped;
 *   - a coupon applies to its fees: all, those of its plans, or the
 *     charge fees of its metrics; none of them -> skipped;
 *   - base = the running sub-total (unlimited), or the sum of its fees'
 *     amount_cents - coupons_e5 so far (limited, with 5 decimals);
 *   - percentage: base x rate / 100 as Ruby Floats, rounded half away
 *     from zero, or the whole base when it reaches it;
 *   - fixed: min(amount, base) (recurring, forever), min(remaining,
 *     base) (once);
 *   - the credit (credit_cents) is the integer part of that amount (a
 *     limited base may have decimals), and the running sub-total and
 *     the invoice's coupons_amount_cents move by it;
 *   - each fee takes credit x (its amount - coupons so far) / base,
 *     kept at 5 decimals (half away from zero) and at most its amount;
 *   - recurring: frequency_duration_remaining - 1 (not below 0), and
 *     terminated at 0; once: terminated when percentage or when the
 *     credit reaches the remaining amount; forever: never.
 * Sets each coupon's applied, credit_cents, terminated and new state,
 * each fee's coupons_e5, and *coupons_cents (the invoice's
 * coupons_amount_cents).  TLY_OK, TLY_EINVAL (a bad rate), TLY_ERANGE.
 */
int coupon_apply(struct coupon_list *l, const char *currency,
		 int64_t subtotal_cents, struct coupon_fee *fees,
		 size_t nfees, int64_t *coupons_cents);

/*
 * Whole cents per fee, for display: total (the coupons_amount_cents, or
 * whatever the fees' coupons_e5 hold) split pro rata to the fees'
 * coupons_e5 by largest remainder (floors first, then one
 * cent each to the largest fractional parts, the earlier fee on a tie),
 * so out[] sums to total exactly.  Lago has no such split (its taxes use
 * coupons_e5); this is Tally's, deterministic.  TLY_EINVAL when total is
 * not 0 but every coupons_e5 is 0, or total is negative.
 */
int coupon_split_cents(const struct coupon_fee *fees, size_t nfees,
		       int64_t total, int64_t *out);

/*
 * (d) Append Lago's credit objects (V1::CreditSerializer) of the coupons
 * applied to arr, in order of application: {lago_id, amount_cents,
 * amount_currency, before_taxes: true, item: {lago_item_id (the
 * coupon's id), type: "coupon", code, name, description}, invoice:
 * {lago_id, payment_status}}.  A credit's lago_id is made on the first
 * call and kept in l.  TLY_OK, TLY_ENOMEM, TLY_EIO.
 */
int coupon_credits_json(struct coupon_list *l, const char *invoice_id,
			const char *payment_status, cJSON *arr);

/*
 * (c) Write back each applied coupon's state after the invoice (the
 * remaining amount, the remaining duration, terminated with its time)
 * and record its credit on invoice_id, which GET /applied_coupons lists
 * and the remaining amount counts.  Call once per invoice, in its
 * transaction, after coupon_apply (and after coupon_credits_json, whose
 * credit ids it stores).  TLY_OK, TLY_EDB, TLY_EIO.
 */
int coupon_commit(struct store_conn *c, struct coupon_list *l,
		  const char *invoice_id);

/*
 * Terminate the customer's active applied coupons, as Lago's
 * Customers::DestroyService does when a customer is deleted (for
 * api_customers.c, in its transaction).  TLY_OK or TLY_EDB.
 */
int coupon_end_customer(struct store_conn *c, const char *customer_lago_id);

#endif
