/*
 * coll_conf.h - the collector's settings: one table (coll_conf.c) whose
 * order this enum follows.  See shared/conf.h for how a key is set.
 */
#ifndef TALLY_COLL_CONF_H
#define TALLY_COLL_CONF_H

#include "conf.h"

enum coll_key {
	CK_DB,
	CK_LISTEN,
	CK_API_KEY,
	CK_MQTT,
	CK_MQTT_GROUP,
	CK_MQTT_USERNAME,
	CK_MQTT_PASSWORD,
	CK_MQTT_CA_FILE,
	CK_MQTT_CERT_FILE,
	CK_MQTT_KEY_FILE,
	CK_TLS_CERT,
	CK_TLS_KEY,
	CK_HTTP_THREADS,
	CK_HTTP_MAX_BODY,
	CK_INGEST_MAX_INFLATED,
	CK_INGEST_MAX_RATIO,
	CK_EVENTS_BATCH_MAX,
	CK_GRACE_PERIOD,
	CK_BILL_INTERVAL,
	CK_LOG_LEVEL,
	CK_COUNT
};

extern const struct conf_key coll_keys[CK_COUNT];

#endif
