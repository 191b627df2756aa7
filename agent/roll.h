/*
 * roll.h - pre-aggregation: what an event becomes when it is taken, and
 * how stored events roll into the records of one wire batch.
 *
 * At intake, roll_classify reads the catalog (collector/catalog.h) for
 * the event's code: a mergeable metric (count, sum, max, latest,
 * unique_count with no charge needing each event) keeps only its filter
 * values (canonical JSON, sorted keys) and the one value its aggregation
 * needs; anything else (unknown code, raw metric, a value that is not a
 * decimal, operation_type remove, customer-only events, dynamic amounts)
 * stays whole and ships raw.
 *
 * At batch time, a struct roll collects the events of one batch: merged
 * ones into one group per (subscription, code, filter values, UTC minute)
 * — count and sum add exactly, max keeps the larger, latest the later
 * timestamp (the later event on a tie), distinct values form a set — and
 * raw ones only counted, to be streamed into the wire batch when it is
 * written (roll_encode_*).
 */
#ifndef TALLY_ROLL_H
#define TALLY_ROLL_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct roll_catalog;
struct roll;

/* Parse GET /v1/catalog's JSON.  TLY_OK, TLY_EINVAL, TLY_ENOMEM. */
int roll_catalog_parse(const char *json, struct roll_catalog **out);
void roll_catalog_free(struct roll_catalog **c);	/* NULL-safe */
int64_t roll_catalog_version(const struct roll_catalog *c);

/* What an event becomes; strings are malloc'd, freed by roll_class_clear. */
struct roll_class {
	const char *agg;	/* "count_agg"...; NULL: the event ships raw */
	char *fkey;		/* canonical JSON of its filter values */
	char *val;		/* the aggregated value, NULL for count */
};

/* Classify ev by cat (NULL cat: everything raw).  TLY_OK or TLY_ENOMEM. */
int roll_classify(const struct roll_catalog *cat, const struct event *ev,
		  struct roll_class *out);
void roll_class_clear(struct roll_class *c);

/* ---- One batch ----------------------------------------------------------- */

struct roll *roll_new(void);
void roll_free(struct roll **r);				/* NULL-safe */

/* Merge one pre-aggregated event.  TLY_OK, TLY_EINVAL (bad value), ENOMEM. */
int roll_add_agg(struct roll *r, const char *sub, const char *code,
		 const char *agg, const char *fkey, int64_t ts_ms,
		 const char *val);

/*
 * Count one event that ships raw.  Only the count is kept: the caller
 * hands the event itself to roll_encode_raw when the batch is written.
 */
void roll_add_raw(struct roll *r);

/* Events added so far, records they make, and of them raw events. */
uint64_t roll_events(const struct roll *r);
size_t roll_records(const struct roll *r);
size_t roll_raw(const struct roll *r);

/*
 * Encode the batch (wire v1, zlib) for agent_id with sequence seq, in
 * three steps, so that a batch's raw events are never all in memory:
 *   roll_encode_begin  the header and the agg records (one per group);
 *   roll_encode_raw    each raw event, in the order roll_add_raw counted
 *                      them (props: its properties' JSON text), written
 *                      and forgotten;
 *   roll_encode_end    closes the batch: *out is malloc'd, the caller
 *                      frees it.
 * Memory: the groups, the compressed bytes and a constant (wire_enc).
 * TLY_EINVAL when the raw events written are not the ones counted (the
 * header's events_total, already written, would be wrong), or a step is
 * out of order; else wire_enc's errors.  After an error the encoding is
 * dropped (roll_free releases what is left).
 */
int roll_encode_begin(struct roll *r, const char *agent_id, int64_t seq,
		      int64_t created_at);
int roll_encode_raw(struct roll *r, const char *tx, const char *sub,
		    const char *customer, const char *code, int64_t ts_ms,
		    const char *props, const char *ptac);
int roll_encode_end(struct roll *r, unsigned char **out, size_t *len);

#endif
