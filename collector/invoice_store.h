/*
 * invoice_store.h - billing runs and the invoices they keep.
 *
 * inv_bill bills, in one transaction, every period that is due at at_ms
 * for every started subscription (see invoice_store.c for which periods
 * are due); running it twice for the same moment makes nothing new.
 * With a grace period, new invoices stay draft and are refreshed (late
 * usage counted) until the grace is over, then finalized; without one
 * they are finalized at once.  Finalizing gives the next sequential
 * number in the same transaction: numbers have no gaps.
 */
#ifndef TALLY_INVOICE_STORE_H
#define TALLY_INVOICE_STORE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "store.h"

struct inv_bill_opts {
	int64_t at_ms;		/* bill what is due at this moment */
	int64_t now_ms;		/* wall clock: created_at, grace */
	int64_t grace_ms;	/* billing.grace_period */
};

int inv_bill(struct store_conn *c, const struct inv_bill_opts *o,
	     int *created, int *finalized);

/* Recompute a draft invoice's fees from the usage held now. */
int inv_refresh(struct store_conn *c, const char *lago_id, int64_t now_ms);

/*
 * The Lago tax objects that apply to a customer's invoices: its own
 * (tax_codes) or, when it has none, those applied to the organization.
 * *out is a new array the caller deletes.
 */
int inv_taxes(struct store_conn *c, const cJSON *customer, cJSON **out);

/* Finalize a draft now (PUT /invoices/:id/finalize).  TLY_ENOTFOUND. */
int inv_finalize(struct store_conn *c, const char *lago_id, int64_t now_ms);

#endif
