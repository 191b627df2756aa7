/*
 * coll.h - the collector's shared state: what every handler reaches
 * through httpd_req.app.
 */
#ifndef TALLY_COLL_H
#define TALLY_COLL_H

#include <stdatomic.h>
#include <stdint.h>

#include "conf.h"
#include "httpd.h"
#include "store.h"
#include "wire.h"

/* Why ingest refused a batch; indexes coll.refused for /metrics. */
enum coll_refusal {
	REFUSE_CORRUPT,		/* 400 */
	REFUSE_AUTH,		/* 401 */
	REFUSE_FORBIDDEN,	/* 403 */
	REFUSE_TOO_LARGE,	/* 413 */
	REFUSE_INVALID,		/* 422 */
	REFUSE_INTERNAL,	/* 500 */
	REFUSE_COUNT
};

struct evkey;
struct ingest_mqtt;

struct coll {
	struct conf *conf;
	struct store *store;
	struct evkey *evkey;		/* the events' keys (evkey.h) */
	struct httpd *http;
	char *tls_pem[2];		/* cert and key, alive while serving */
	const char *api_key;		/* NULL: the /api/v1 API is closed */
	struct wire_limits limits;	/* for /v1/ingest */
	size_t events_batch_max;	/* POST /api/v1/events/batch */
	struct ingest_mqtt *mqtt;	/* NULL unless --mqtt (ingest_mqtt.h) */
	_Atomic int mqtt_connected;	/* connected and subscribed */

	/* Counters for /metrics. */
	_Atomic uint64_t batches_applied;
	_Atomic uint64_t batches_duplicate;
	_Atomic uint64_t records_applied;
	_Atomic uint64_t events_applied;	/* events the batches stand for */
	_Atomic uint64_t events_duplicate;	/* raw events already held */
	_Atomic uint64_t api_events;		/* taken by /api/v1/events */
	_Atomic uint64_t events_late;		/* for finalized invoices */
	_Atomic uint64_t refused[REFUSE_COUNT];
};

#define COLL_INC(c, field, n) \
	atomic_fetch_add_explicit(&(c)->field, (n), memory_order_relaxed)

#endif
