/*
 * agg.h - aggregation of a billable metric's usage over a billing period,
 * from pre-aggregated records and raw events alike, as Lago aggregates
 * (lago-api app/services/events/stores/postgres_store.rb).
 *
 *   count_agg         COUNT(events)
 *   sum_agg           SUM(properties[field])
 *   max_agg           MAX(properties[field]), 0 without events
 *   latest_agg        the value of the last event (timestamp, then
 *                     arrival); a negative value counts as 0
 *   unique_count_agg  distinct values of properties[field], honouring
 *                     operation_type add/remove
 *   weighted_sum_agg  the running sum of properties[field] weighted by
 *                     time: over the segments between the period's rows
 *                     (from_ms, each event, to_ms ceiled to a whole
 *                     second), running sum x segment seconds / period
 *                     seconds, each quotient rounded as PostgreSQL rounds
 *                     numeric division, the total ceiled at 20 places
 *                     (lago-api events/stores/postgres/weighted_sum_query.rb
 *                     and billable_metrics/aggregations/
 *                     weighted_sum_service.rb).  Raw events only; a value
 *                     counts when it matches ^-?\d+(\.\d+)?$.  A recurring
 *                     metric starts from the running sum of the events
 *                     before the period (Lago's cached aggregation), which
 *                     are not counted.  The period's seconds are
 *                     ceil(to_ms) - from_ms: Lago divides by the charge
 *                     period's whole days x 86400, the same for a full
 *                     period (from at midnight, to at 23:59:59.999).
 *
 * Pre-aggregated records count at their minute; raw events at their
 * timestamp.  A period is [from_ms, to_ms] inclusive.  A recurring metric
 * ignores the period's start (Lago: use_from_boundary = !recurring).
 * Units are then rounded by the metric's rounding_function/precision.
 *
 * Prorated (a recurring metric's charge with prorated: true; Lago's
 * ProratedAggregations): a value carried from before the period counts
 * for the days billed, one added in the period for the days from its date
 * to the period's end, both ends counted, each over the period's days;
 * a distinct value (unique_count) for the days it was present.  The units
 * are then .ceil(5); full_units keeps the unprorated units.
 *
 * Filters: the caller gives the property values a charge filter accepts
 * (key -> allowed values); an event or record matches when it carries,
 * for every key, one of the values.  `exclude` lists the filters of the
 * charge's other slices: what matches one of them is left out (Lago bills
 * events matching no filter with the charge's default properties).
 */
#ifndef TALLY_AGG_H
#define TALLY_AGG_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "dec.h"
#include "store.h"

struct agg_query {
	const char *sub;		/* external_subscription_id */
	const char *code;		/* metric code */
	const char *type;		/* aggregation_type */
	const char *field;		/* field_name, NULL for count_agg */
	int recurring;
	int64_t from_ms, to_ms;		/* the period, inclusive */
	const cJSON *match;		/* {"key": ["v", ...]} or NULL: all */
	const cJSON *exclude;		/* [{"key": [...]}, ...] or NULL */
	const char *rounding_function;	/* "round" | "ceil" | "floor" | NULL */
	int rounding_precision;
	const cJSON *group;		/* {"key": "v" | null}: one group of a
					 * charge's pricing_group_keys (null: the
					 * key is absent), or NULL */
	int prorated;			/* the charge is prorated: each value
					 * counts for the days it was there */
	int period_days;		/* weighted_sum, prorated: days of the full
					 * period (Lago divides by it even when the
					 * subscription ran part of it); 0: from
					 * from_ms to to_ms */
};

struct agg_result {
	dec_t units;
	dec_t full_units;	/* prorated: the units before proration */
	int64_t events_count;	/* weighted_sum: numeric events in the period */
	dec_t *values;		/* per raw event, in time order (percentage) */
	size_t nvalues;
};

void agg_result_init(struct agg_result *r);
void agg_result_clear(struct agg_result *r);

/*
 * The groups of pricing_group_keys `keys` in q's period and slice: a new
 * array (*out, the caller deletes) of distinct objects {"key": "v" or
 * null}, sorted, one per combination the usage carries.
 */
int agg_groups(struct store_conn *c, const struct agg_query *q,
	       const cJSON *keys, cJSON **out);

/* Aggregate q on c into r.  TLY_OK, TLY_EINVAL (unknown type), TLY_EDB. */
int agg_run(struct store_conn *c, const struct agg_query *q,
	    struct agg_result *r);

#endif
