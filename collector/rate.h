/*
 * rate.h - Lago's charge models, one function each, over exact decimals.
 *
 * Each model turns the units a charge aggregated over a period into an
 * amount in the currency's major unit (dollars, not cents), unrounded:
 * rounding to the currency happens once, when the fee is made
 * (dec_to_minor).  The properties are the charge's Lago JSON, already
 * validated by collector/charge_check.c (amounts are decimal strings).
 * Formulas follow lago-api app/services/charge_models/<model>_service.rb;
 * each function says which rule it follows where Lago's behaviour is a
 * choice.
 */
#ifndef TALLY_RATE_H
#define TALLY_RATE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "dec.h"

/* What a charge aggregated over the period. */
struct rate_in {
	const dec_t *units;		/* aggregated units (after rounding) */
	int64_t events_count;		/* events the units came from */
	/* Per-event values, in time order: the percentage model's free
	 * units per events and per-transaction min/max need them (for
	 * count_agg, a 1 per event).  Other models ignore them. */
	const dec_t *values;
	size_t nvalues;
	/* A prorated charge's units before proration: volume picks its
	 * range by them (Lago's full_units_number); NULL: units. */
	const dec_t *full_units;
};

struct rate_out {
	dec_t amount;		/* major units, unrounded */
	dec_t unit_amount;	/* amount / units (0 when units is 0),
				 * 15 places; see below for package */
};

/*
 * unit_amount is Lago's precise_unit_amount, the model's unit_amount
 * rounded half-up to 15 places: for package it is amount / paid units
 * (units - free_units; 0 when that is not positive), as
 * package_service.rb divides.
 */

void rate_out_init(struct rate_out *o);
void rate_out_clear(struct rate_out *o);

/*
 * Rate `in` with charge_model `model` ("standard", "graduated",
 * "graduated_percentage", "package", "percentage", "volume") and its
 * properties.  TLY_OK, TLY_EINVAL (unknown model or properties that do
 * not parse).  On error *out (or *amount below) is left unchanged.
 * Negative units are priced by the same formulas (the fee zeroes a
 * negative amount, as Lago's does), except volume: no range holds units
 * below -1, TLY_EINVAL.
 */
int rate_charge(const char *model, const cJSON *props,
		const struct rate_in *in, struct rate_out *out);

/* The models, for tests and for pay-in-advance deltas. */
int rate_standard(const cJSON *props, const struct rate_in *in, dec_t *amount);
int rate_package(const cJSON *props, const struct rate_in *in, dec_t *amount);
int rate_graduated(const cJSON *props, const struct rate_in *in, dec_t *amount);
int rate_graduated_percentage(const cJSON *props, const struct rate_in *in,
			      dec_t *amount);
int rate_volume(const cJSON *props, const struct rate_in *in, dec_t *amount);
int rate_percentage(const cJSON *props, const struct rate_in *in,
		    dec_t *amount);

/*
 * Pay in advance: the amount one more event adds, cost(after) -
 * cost(before), where `before` is the period's aggregation without the
 * event and `after` with it (Lago's rule; graduated charges its first
 * flat fee here only once, as Lago does).  Volume is not allowed in
 * advance (TLY_EINVAL).  Percentage prices `before` with the running
 * total of `after` (free units), as Lago does, and its per-transaction
 * min/max with `before`'s own values.
 */
int rate_in_advance(const char *model, const cJSON *props,
		    const struct rate_in *before, const struct rate_in *after,
		    dec_t *amount);

#endif
