/*
 * catalog.h - what agents need to pre-aggregate (DESIGN.md, Agent).
 *
 *   {"version": 7, "metrics": [
 *     {"code": "api_calls", "aggregation_type": "count_agg",
 *      "field_name": null, "filter_keys": ["region"], "raw": false}]}
 *
 * filter_keys are the property keys any charge of the metric prices on
 * (the metric's filters, the charges' filters and pricing_group_keys): a
 * pre-aggregated record keeps these and drops the other properties.  raw
 * is true when some charge needs every event (percentage, pay in advance)
 * or the aggregation cannot merge (weighted_sum, expressions).  version
 * grows whenever a billable metric or a plan changes.
 */
#ifndef TALLY_CATALOG_H
#define TALLY_CATALOG_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "store.h"

/* Build the catalog from the store; *out is the caller's to delete. */
int catalog_build(struct store_conn *c, cJSON **out);

/* The catalog's current version, or -1 when the store cannot say. */
int64_t catalog_version(struct store_conn *c);

/* Bump the version; call inside the transaction that changed metrics. */
int catalog_bump(struct store_conn *c);

#endif
