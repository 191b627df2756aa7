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
 *
 * Late usage: a raw event or record whose time falls in the charges
 * window of a finalized invoice of its subscription is stored as usual
 * (never dropped) and also recorded in late_usage for GET /v1/late_usage;
 * finalized invoices are never rebuilt, so it is never billed silently.
 */
#ifndef TALLY_INGEST_H
#define TALLY_INGEST_H

#include "coll.h"
#include "evkey.h"
#include "httpd.h"
#include "store.h"
#include "util.h"
#include "wire.h"

/*
 * Late usage met while applying one batch or request.  Zero it before the
 * first record, and hand it to ingest_late_done after the commit.
 */
#define INGEST_LATE_SUBS 32	/* external ids whose bills are remembered */

struct ingest_late {
	uint64_t events;		/* events for finalized periods */
	char invoice[UTIL_UUID_LEN];	/* the first invoice hit */
	int64_t number;			/* its sequential id */
	char sub[EV_ID_MAX + 1];	/* and the subscription's external id */
	int more;			/* other invoices were hit as well */
	/* Per external id, the end of the last finalized charges window
	 * (Unix ms; INT64_MIN: none): usage after it cannot be late, which
	 * spares most records their invoice query.  The strings are the
	 * batch's own. */
	struct {
		const char *sub;
		int64_t billed_to;
	} seen[INGEST_LATE_SUBS];
	size_t nseen;
};

/* Count l's events in /metrics and log them (one WARN line), if any. */
void ingest_late_done(struct coll *co, const struct ingest_late *l);

/* The number of a finalized invoice, as the API shows it (TLY-000012). */
void ingest_invoice_number(int64_t seq, char *buf, size_t n);

/*
 * Apply b, sent by agent_id, through co->store's group commit
 * (store_write); returns once it is durable.  *duplicate says whether the
 * batch had been applied before.  TLY_OK, or TLY_EDB (nothing of it
 * applied).  The caller must not hold a connection.
 */
int ingest_apply(struct coll *co, const char *agent_id,
		 const struct wire_batch *b, int *duplicate);

/*
 * An event's sub_key in the events table: its subscription's external
 * id, or "customer:" and the customer's for an event without one.
 */
#define INGEST_KEY_LEN (EV_ID_MAX + 16)
void ingest_event_key(const struct event *ev, char key[INGEST_KEY_LEN]);

/* What ingest_event did with one event. */
struct ingest_ev {
	int inserted;			/* 1: stored; 0: held already */
	int64_t id;			/* the event's row, new or held */
	char lago_id[UTIL_UUID_LEN];	/* inserted: its new lago_id */
	int64_t created_ms;		/* inserted: its created_at, Unix ms */
};

/*
 * Insert one raw event from source ("api" or an agent id) unless its
 * (subscription, transaction_id) is held already (ek, the store's);
 * *out says which.  A new event that is late is recorded as such and
 * added to *late.  Runs inside the caller's write transaction.
 */
int ingest_event(struct store_conn *c, struct evkey *ek,
		 const struct event *ev, const char *source,
		 struct ingest_ev *out, struct ingest_late *late);

/* What became of one batch: the answer HTTPS and MQTT both give. */
struct ingest_result {
	int status;		/* 200, or the HTTP status of the refusal */
	const char *code;	/* the refusal's short code, or NULL */
	char msg[256];		/* the refusal's message, or "" */
	int has_seq;		/* the batch decoded: seq is known */
	uint64_t seq;
	int duplicate;		/* 200: the batch had been applied before */
};

/*
 * The one path of a batch from an agent whose identity the caller has
 * proven (token or MQTT topic): decode body (zlib wire bytes) with
 * co->limits, refuse it unless its agent_id is agent, apply it.  Refusals
 * are logged and counted in co->refused; status 500 (out of memory, store
 * failure) is the one refusal worth sending again.
 */
void ingest_batch(struct coll *co, const char *agent, const void *body,
		  size_t len, struct ingest_result *r);

/* POST /v1/ingest */
void ingest_http(struct httpd_req *req, struct httpd_resp *resp);

/* GET /v1/catalog */
void ingest_catalog_http(struct httpd_req *req, struct httpd_resp *resp);

#endif
