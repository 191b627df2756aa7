/*
 * agent_conf.c - the table of the agent's settings (see agent_conf.h).
 */
#include "agent_conf.h"

#define KB (1024LL)
#define MB (1024LL * KB)
#define GB (1024LL * MB)
#define SEC 1000LL
#define DAY (86400LL * SEC)

const struct conf_key agent_keys[AK_COUNT] = {
	[AK_ID] = {"id", "--id", CONF_STR, NULL,
		   "agent id, as registered at the collector (default: host name)"},
	[AK_DATA_DIR] = {"data_dir", "--data-dir", CONF_STR, "./tally-agent-data",
			 "directory of the SQLite buffer"},
	[AK_LISTEN] = {"listen", "--listen", CONF_HOSTPORT, "127.0.0.1:7481",
		       "HTTP intake and status address (keep it on loopback)"},
	[AK_SOCKET] = {"socket", "--socket", CONF_STR, NULL,
		       "Unix socket for newline-delimited events (default DATA_DIR/agent.sock)"},
	[AK_COLLECTOR] = {"collector", "--collector", CONF_STR,
			  "http://127.0.0.1:7480", "collector base URL (http or https)"},
	[AK_MQTT] = {"mqtt", "--mqtt", CONF_STR, NULL,
		     "MQTT broker URI (mqtt://, mqtts://); selects ship.transport=mqtt"},
	[AK_TOKEN] = {"token", "--token", CONF_STR, NULL,
		      "agent token from `tally-collector agents add`"},
	[AK_TRANSPORT] = {"ship.transport", NULL, CONF_ENUM, "http",
			  "how batches travel", 0, 0, "http|mqtt"},
	[AK_CA_FILE] = {"ship.ca_file", NULL, CONF_STR, NULL,
			"CA bundle for HTTPS (default: the system's)"},
	[AK_BATCH_MAX_EVENTS] = {"ship.batch_max_events", NULL, CONF_INT, "10000",
				 "events per batch at most", 1, 1000000},
	[AK_FLUSH_INTERVAL] = {"ship.flush_interval", NULL, CONF_DURATION, "1s",
			       "longest wait before a partial batch is made", 1, DAY},
	[AK_INFLIGHT] = {"ship.inflight", NULL, CONF_INT, "4",
			 "batches sent and not yet acknowledged, at most", 1, 64},
	[AK_BACKOFF_MIN] = {"ship.backoff_min", NULL, CONF_DURATION, "500ms",
			    "first retry delay", 1, DAY},
	[AK_BACKOFF_MAX] = {"ship.backoff_max", NULL, CONF_DURATION, "60s",
			    "longest retry delay", 1, DAY},
	[AK_CATALOG_INTERVAL] = {"ship.catalog_interval", NULL, CONF_DURATION,
				 "60s", "how often the catalog is refreshed",
				 10, DAY},
	[AK_BUF_MAX_BYTES] = {"buffer.max_bytes", NULL, CONF_SIZE, "256MB",
			      "buffer size before intake refuses (507)", 64 * KB, 1024 * GB},
	[AK_FULL_POLICY] = {"buffer.full_policy", NULL, CONF_ENUM, "reject",
			    "what a full buffer does", 0, 0, "reject|drop_oldest"},
	[AK_DEDUP_WINDOW] = {"buffer.dedup_window", NULL, CONF_DURATION, "7d",
			     "how long a transaction_id is remembered", SEC, 366 * DAY},
	[AK_DURABILITY] = {"buffer.durability", NULL, CONF_ENUM, "normal",
			   "normal survives a crash, full survives power loss", 0, 0,
			   "normal|full"},
	[AK_INTAKE_BATCH_MAX] = {"intake.batch_max", NULL, CONF_INT, "10000",
				 "events per POST /api/v1/events/batch", 1, 1000000},
	[AK_INTAKE_MAX_BODY] = {"intake.max_body", NULL, CONF_SIZE, "16MB",
				"largest request body", KB, GB},
	[AK_MQTT_USERNAME] = {"mqtt.username", NULL, CONF_STR, NULL, "MQTT user name"},
	[AK_MQTT_PASSWORD] = {"mqtt.password", NULL, CONF_STR, NULL, "MQTT password"},
	[AK_MQTT_CA_FILE] = {"mqtt.ca_file", NULL, CONF_STR, NULL,
			     "CA bundle for mqtts://"},
	[AK_MQTT_CERT_FILE] = {"mqtt.cert_file", NULL, CONF_STR, NULL,
			       "client certificate (optional)"},
	[AK_MQTT_KEY_FILE] = {"mqtt.key_file", NULL, CONF_STR, NULL,
			      "client key (optional)"},
	[AK_LOG_LEVEL] = {"log.level", "--log-level", CONF_ENUM, "info",
			  "lowest level logged", 0, 0, "debug|info|warn|error"},
};
