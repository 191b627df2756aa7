/*
 * ingest.h - batches from agents: POST /v1/ingest, and the one apply path
 * that HTTPS and MQTT share.
 *
 * A batch is applied in one transaction keyed by (agent_id, seq): the
 * batches row is inserted first, and its unique key turns a batch seen
 * before into `duplicate` with nothing else touched.  Pre-aggregated
 * records merge into `usage` (count and sum add, max keeps the larger,
 * latest keeps the later timestamp, distinct values are a set); raw events
 * insert once per (subscription, transaction_id).
 */
#ifndef TALLY_INGEST_H
#define TALLY_INGEST_H

#include "coll.h"
#include "httpd.h"
#include "store.h"
#include "wire.h"

/*
 * Apply b, sent by agent_id, on c.  *duplicate says whether the batch had
 * been applied before.  TLY_OK, or TLY_EDB (nothing of it applied).
 */
int ingest_apply(struct coll *co, struct store_conn *c, const char *agent_id,
		 const struct wire_batch *b, int *duplicate);

/*
 * Insert one raw event from source ("api" or an agent id) unless its
 * (subscription, transaction_id) is held already; *inserted says which.
 * Runs inside the caller's transaction, if any.
 */
int ingest_event(struct store_conn *c, const struct event *ev,
		 const char *source, int *inserted);

/* POST /v1/ingest */
void ingest_http(struct httpd_req *req, struct httpd_resp *resp);

/* GET /v1/catalog */
void ingest_catalog_http(struct httpd_req *req, struct httpd_resp *resp);

#endif
