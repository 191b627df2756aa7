/*
 * ingest_mqtt.h - batches from agents over MQTT (DESIGN.md, Wire format).
 *
 * The collector subscribes $share/<mqtt.group>/tally/v1/ingest/+ with
 * QoS 1, so that collectors of one group split the agents' batches.  The
 * broker proves who sent a batch: its ACL lets the user <agent id> publish
 * only to tally/v1/ingest/<agent id>.  The collector takes the agent id
 * from the topic, requires it registered and not revoked (agents add; the
 * token is not used over MQTT), and applies the batch through the path
 * that HTTPS uses (ingest_batch).  It answers on tally/v1/ack/<agent id>,
 * QoS 1, with the JSON that POST /v1/ingest answers:
 *
 *   {"seq": 42, "status": "applied"}          (or "duplicate")
 *   {"seq": 42, "status": "refused", "error": "agent_id_mismatch"}
 *
 * ("seq": null when the batch does not decode.)  A refused batch will never
 * be taken; the agent stops sending it.  The catalog (GET /v1/catalog's
 * JSON) is kept retained on tally/v1/catalog.
 */
#ifndef TALLY_INGEST_MQTT_H
#define TALLY_INGEST_MQTT_H

#include "coll.h"

/*
 * Start consuming from the broker of CK_MQTT (mqtt://, mqtts://, tcp://,
 * ssl://): TLY_OK once the client runs (it connects, and reconnects, in
 * the background), TLY_ECONFIG for bad settings (logged).
 */
int ingest_mqtt_start(struct coll *co);

/*
 * Stop: wait for the batch in flight, disconnect cleanly, free.  Call
 * before the store closes.  NULL-safe on co->mqtt.
 */
void ingest_mqtt_stop(struct coll *co);

#endif
