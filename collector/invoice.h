/*
 * invoice.h - turning a subscription's billing period into a Lago-shaped
 * invoice: the subscription fee (in advance or in arrears, prorated by
 * days), one fee per charge and filter slice, minimum-amount true-ups,
 * taxes, and the totals, in Lago's order of computation
 * (lago-api app/services/invoices/calculate_fees_service.rb):
 *
 *   fees -> sub_total_excluding_taxes = fees - coupons -> taxes
 *        -> sub_total_including_taxes -> total
 *
 * Money rules (LAGO.md §7): a fee's amount is rounded half-up to the
 * currency once (amount_cents), its unrounded value kept as
 * precise_amount; an invoice's tax is computed per tax from the sum of
 * the fees' unrounded taxable amounts and rounded once.
 *
 * Coupons (coupon.c) apply only when an invoice is finalized, before
 * taxes: each fee is taxed on its amount less its share of the coupons.
 *
 * inv_build only computes (but for using up coupons when final); inv_bill (invoice_store.c) decides which
 * periods are due, stores invoices idempotently and numbers them.
 */
#ifndef TALLY_INVOICE_H
#define TALLY_INVOICE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "period.h"
#include "store.h"

/* What one invoice covers. */
struct inv_period {
	int64_t from_ms, to_ms;		/* the subscription fee's period */
	int64_t charges_from_ms;	/* usage billed on this invoice */
	int64_t charges_to_ms;
	int days;			/* days of the full period (proration) */
	int fee_days;			/* days of it the subscription ran */
	int bill_subscription;		/* include the subscription fee */
	int bill_charges;		/* include the charges' fees */
	int prev_days, prev_fee_days;	/* in advance: the period whose
					 * usage this invoice bills (its
					 * commitment is settled here) */
};

struct inv_input {
	const cJSON *plan;		/* the plan's stored doc */
	const cJSON *customer;		/* Lago customer object (currency...) */
	const cJSON *taxes;		/* Lago tax objects that apply, or NULL */
	const char *sub_lago_id;
	const char *sub_external_id;
	struct inv_period p;
	const char *plan_id;		/* the plan's lago_id (coupon limits) */
	const char *customer_id;	/* the customer's lago_id (coupons) */
	const char *invoice_id;		/* the invoice being finalized */
	int final;			/* finalizing: apply the customer's
					 * coupons and use them up (coupon.h);
					 * drafts and usage never do */
};

/*
 * Compute the invoice's fees and totals into a new Lago-shaped object
 * (*out; the caller deletes it): "fees", "applied_taxes" and the *_cents
 * fields.  Usage comes from the store through agg_run.  TLY_OK,
 * TLY_EINVAL (a plan or charge it cannot rate), TLY_EDB, TLY_ENOMEM.
 */
int inv_build(struct store_conn *c, const struct inv_input *in,
	      cJSON **out);

/*
 * The fees of the pay-in-advance charges' events in the charges window up
 * to upto_ms that no invoice has billed yet: each event adds what it adds
 * to its slice's cost, cost(after) - cost(before), over the period so far
 * (Lago's Fees::CreatePayInAdvanceService).  *out is the invoice object
 * (NULL when there is nothing to bill) and *events the array of event
 * lago_ids it bills, for the caller to record.
 */
int inv_build_advance(struct store_conn *c, const struct inv_input *in,
		      int64_t upto_ms, cJSON **out, cJSON **events);

#endif
