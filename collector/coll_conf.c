/*
 * coll_conf.c - the table of the collector's settings (see coll_conf.h).
 */
#include "coll_conf.h"

#define KB (1024LL)
#define MB (1024LL * KB)
#define GB (1024LL * MB)
#define SEC 1000LL
#define DAY (86400LL * SEC)

const struct conf_key coll_keys[CK_COUNT] = {
	[CK_DB] = {"db", "--db", CONF_STR, "sqlite:./tally.db",
		   "store: sqlite:PATH or postgresql://..."},
	[CK_LISTEN] = {"listen", "--listen", CONF_HOSTPORT, ":7480",
		       "HTTP(S) address of the API and ingest"},
	[CK_API_KEY] = {"api_key", "--api-key", CONF_STR, NULL,
			"Bearer key of the Lago-compatible API (required to serve /api/v1)"},
	[CK_MQTT] = {"mqtt", "--mqtt", CONF_STR, NULL,
		     "MQTT broker URI to consume batches from (mqtt://, mqtts://)"},
	[CK_MQTT_GROUP] = {"mqtt.group", NULL, CONF_STR, "tally",
			   "shared-subscription group of collectors"},
	[CK_MQTT_USERNAME] = {"mqtt.username", NULL, CONF_STR, NULL, "MQTT user name"},
	[CK_MQTT_PASSWORD] = {"mqtt.password", NULL, CONF_STR, NULL, "MQTT password"},
	[CK_MQTT_CA_FILE] = {"mqtt.ca_file", NULL, CONF_STR, NULL,
			     "CA bundle for mqtts://"},
	[CK_MQTT_CERT_FILE] = {"mqtt.cert_file", NULL, CONF_STR, NULL,
			       "client certificate (optional)"},
	[CK_MQTT_KEY_FILE] = {"mqtt.key_file", NULL, CONF_STR, NULL,
			      "client key (optional)"},
	[CK_TLS_CERT] = {"tls.cert_file", NULL, CONF_STR, NULL,
			 "PEM certificate: serve HTTPS"},
	[CK_TLS_KEY] = {"tls.key_file", NULL, CONF_STR, NULL,
			"PEM private key for tls.cert_file"},
	[CK_HTTP_THREADS] = {"http.threads", NULL, CONF_INT, "4",
			     "HTTP worker threads", 1, 256},
	[CK_HTTP_MAX_BODY] = {"http.max_body", NULL, CONF_SIZE, "16MB",
			      "largest request body (compressed, for ingest)", KB, GB},
	[CK_INGEST_MAX_INFLATED] = {"ingest.max_inflated", NULL, CONF_SIZE, "32MB",
				    "largest inflated batch", KB, 4 * GB},
	[CK_INGEST_MAX_RATIO] = {"ingest.max_ratio", NULL, CONF_INT, "200",
				 "largest inflation ratio of a batch", 2, 100000},
	[CK_EVENTS_BATCH_MAX] = {"events.batch_max", NULL, CONF_INT, "100",
				 "events per POST /api/v1/events/batch (Lago's 100)",
				 1, 1000000},
	[CK_GRACE_PERIOD] = {"billing.grace_period", NULL, CONF_DURATION, "0s",
			     "how long invoices stay draft", 0, 365 * DAY},
	[CK_BILL_INTERVAL] = {"billing.interval", NULL, CONF_DURATION, "60s",
			      "how often the scheduler looks for closed periods",
			      SEC, DAY},
	[CK_LOG_LEVEL] = {"log.level", "--log-level", CONF_ENUM, "info",
			  "lowest level logged", 0, 0, "debug|info|warn|error"},
};
