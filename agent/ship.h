/*
 * ship.h - moving batches from the buffer's outbox to the collector.
 *
 * A shipper is a thread that makes batches when enough events wait (or
 * the flush interval has passed), sends the outbox oldest first with up
 * to `inflight` batches unacknowledged, and removes a batch from the
 * outbox only when the collector acknowledges its sequence number
 * (buf_ack).  A batch is sent byte for byte as stored, as often as it
 * takes.  Failures back off exponentially with jitter up to a cap.  Over
 * HTTP an authentication refusal (401/403) stops shipping with a loud log
 * line, because retrying a bad token forever helps nobody; over MQTT the
 * broker's refusal is reported loudly and the agent keeps reconnecting at
 * the longest backoff (a broker's password file can change under it).
 *
 * Transports: HTTP(S) with libcurl (ship_http.c) and MQTT with Paho
 * (ship_mqtt.c), behind the same calls.  The shipper also keeps the
 * catalog fresh.
 */
#ifndef TALLY_SHIP_H
#define TALLY_SHIP_H

#include <stdint.h>

#include "buf.h"

/*
 * A transport embeds struct ship first and fills its ops, so that the
 * agent stops and reads any shipper the same way.
 */
struct ship;
struct ship_status;

struct ship_ops {
	const char *name;				/* "http", "mqtt" */
	void (*stop)(struct ship *s);			/* and free */
	void (*status)(struct ship *s, struct ship_status *st);
};

struct ship {
	const struct ship_ops *ops;
};

struct ship_opts {
	const char *collector;		/* base URL: http://host:port */
	const char *token;		/* agent token, or NULL */
	const char *ca_file;		/* CA bundle for https, or NULL */
	int inflight;			/* batches unacknowledged at most */
	int64_t backoff_min_ms, backoff_max_ms;
	int64_t flush_interval_ms;	/* longest wait for a full batch */
	int64_t batch_max_events;
	int64_t catalog_interval_ms;	/* how often to refresh the catalog */
};

struct ship_status {
	int connected;			/* the last exchange succeeded */
	int stopped;			/* refused credentials: not shipping */
	const char *transport;		/* "http", "mqtt" */
	uint64_t sent, acked, failures;
	char last_error[200];
};

int ship_http_start(struct ship **out, struct buf *b,
		    const struct ship_opts *o);

/*
 * MQTT (agent/ship_mqtt.c): batches to tally/v1/ingest/<agent_id>, the
 * collector's acks on tally/v1/ack/<agent_id>, the retained catalog on
 * tally/v1/catalog.  Unlike HTTP, refused credentials do not stop it: it
 * keeps reconnecting at ship.backoff_max and says why in last_error.
 */
struct ship_mqtt_opts {
	const char *uri;		/* mqtt://, mqtts://, tcp://, ssl:// */
	const char *agent_id;		/* topics and client id */
	const char *username;		/* NULL: the agent id */
	const char *password;		/* or NULL */
	const char *ca_file;		/* CA for mqtts://, or NULL: system's */
	const char *cert_file, *key_file;	/* client certificate, or NULL */
};

int ship_mqtt_start(struct ship **out, struct buf *b,
		    const struct ship_opts *o, const struct ship_mqtt_opts *m);

/*
 * Shared by the transports: the delay before try n (1-based), min * 2^(n-1)
 * capped at max and jittered into [d/2, d]; and making batches while a
 * full one waits or flush_interval has passed since *last_make (ms, on the
 * caller's clock), at most `inflight` batches ahead.  ship_maybe_make
 * returns when it wants to run next: the flush deadline while events wait
 * and the outbox has room, INT64_MAX when nothing waits or the outbox is
 * full (only new events, which wake the transport through the buffer's
 * change hook, or an ack change that), or a second on after an error.
 */
int64_t ship_backoff(const struct ship_opts *o, int n);
int64_t ship_maybe_make(struct buf *b, const struct ship_opts *o,
			int64_t now, int64_t *last_make);

/*
 * A catalog the collector published (text): installed in b when its
 * version differs from *version, which then follows it.  TLY_OK (taken,
 * or the same version), TLY_EINVAL when it has no version, or
 * buf_set_catalog's error.
 */
int ship_take_catalog(struct buf *b, const char *text, int64_t *version);

/* Stop the thread (requests in flight are abandoned) and free. */
void ship_stop(struct ship **s);

void ship_get_status(struct ship *s, struct ship_status *st);

#endif
