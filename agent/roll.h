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
 * raw ones as they are; roll_encode writes the wire batch.
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

/* Keep one raw event; props is its properties' JSON text. */
int roll_add_raw(struct roll *r, const char *tx, const char *sub,
		 const char *customer, const char *code, int64_t ts_ms,
		 const char *props, const char *ptac);

/* Events added so far, and records they make. */
uint64_t roll_events(const struct roll *r);
size_t roll_records(const struct roll *r);

/*
 * Encode the batch (wire v1, zlib) for agent_id with sequence seq.
 * *out is malloc'd; the caller frees it.
 */
int roll_encode(struct roll *r, const char *agent_id, int64_t seq,
		int64_t created_at, unsigned char **out, size_t *len);

#endif
