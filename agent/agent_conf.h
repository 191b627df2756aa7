/*
 * agent_conf.h - the agent's settings: one table (agent_conf.c) whose
 * order this enum follows.  See shared/conf.h for how a key is set.
 */
#ifndef TALLY_AGENT_CONF_H
#define TALLY_AGENT_CONF_H

#include "conf.h"

enum agent_key {
	AK_ID,
	AK_DATA_DIR,
	AK_LISTEN,
	AK_SOCKET,
	AK_COLLECTOR,
	AK_MQTT,
	AK_TOKEN,
	AK_TRANSPORT,
	AK_CA_FILE,
	AK_BATCH_MAX_EVENTS,
	AK_FLUSH_INTERVAL,
	AK_INFLIGHT,
	AK_BACKOFF_MIN,
	AK_BACKOFF_MAX,
	AK_CATALOG_INTERVAL,
	AK_BUF_MAX_BYTES,
	AK_FULL_POLICY,
	AK_DEDUP_WINDOW,
	AK_DURABILITY,
	AK_INTAKE_BATCH_MAX,
	AK_INTAKE_MAX_BODY,
	AK_MQTT_USERNAME,
	AK_MQTT_PASSWORD,
	AK_MQTT_CA_FILE,
	AK_MQTT_CERT_FILE,
	AK_MQTT_KEY_FILE,
	AK_LOG_LEVEL,
	AK_COUNT
};

extern const struct conf_key agent_keys[AK_COUNT];

#endif
