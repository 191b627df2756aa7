/*
 * ingest_mqtt.c - the collector's MQTT consumer (see ingest_mqtt.h).
 *
 * Paho's MQTTAsync runs the callbacks on its own threads: messages arrive
 * one at a time on the receive thread.  A message is applied (one store
 * transaction), its ack is queued for publishing, and only then does the
 * callback return 1, so that the PUBACK to the broker follows the durable
 * apply: a crash before it makes the broker deliver the batch again, and
 * (agent_id, seq) makes that a duplicate.  In any case the agent keeps a
 * batch until the collector's ack arrives, and resends it until then.
 * When the store fails, the callback returns 0 after a pause and Paho
 * delivers the message again.
 *
 * The catalog is republished (retained) on every connect and whenever
 * meta.catalog_version changes.  That version is bumped by the API
 * handlers inside their own transactions, on the HTTP threads or in
 * another collector sharing the database, so a hook here could not see
 * every change, or could see one that is rolled back; a timer thread reads
 * the committed version every CATALOG_POLL_MS instead.
 *
 * Shared state: the counters and the connected flag are atomics; the rest
 * (stopping, callbacks in flight, what was published) is under m->mu.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "agents.h"
#include "catalog.h"
#include "coll_conf.h"
#include "err.h"
#include "ingest.h"
#include "ingest_mqtt.h"
#include "log.h"
#include "util.h"

#define TOPIC_INGEST "tally/v1/ingest/"
#define TOPIC_ACK "tally/v1/ack/"
#define TOPIC_CATALOG "tally/v1/catalog"
#define CATALOG_POLL_MS 2000
#define RETRY_MS 1000		/* pause before a batch the store failed */
#define STOP_WAIT_MS 3000	/* for the clean disconnect */
#define URI_MAX 512
#define AGENT_BUF (WIRE_AGENT_ID_MAX + 2)	/* one byte more: too long */

struct ingest_mqtt {
	struct coll *co;
	MQTTAsync client;
	char uri[URI_MAX];
	char filter[256];		/* $share/<group>/tally/v1/ingest/+ */
	char clientid[128];
	pthread_t timer;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under mu. */
	int stopping;
	int busy;			/* message callbacks in flight */
	unsigned connects;		/* connections made so far */
	unsigned cat_connect;		/* the connection the catalog went to */
	int64_t cat_version;		/* the version published; -1 none */
	int disconnected;		/* the clean disconnect completed */
	_Atomic int up;			/* the connection is up */
};

static void sleep_until(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/*
 * Wait on m->cv for at most ms, unless stopping; m->mu held.  With wake,
 * any signal ends the wait too.
 */
static void wait_locked(struct ingest_mqtt *m, int64_t ms, int wake)
{
	struct timespec ts;

	sleep_until(&ts, ms);
	while (!m->stopping &&
	       pthread_cond_timedwait(&m->cv, &m->mu, &ts) != ETIMEDOUT &&
	       !wake)
		;
}

/* ---- Configuration -------------------------------------------------- */

/*
 * mqtt:// and mqtts:// as Paho spells them (tcp://, ssl://), with the
 * default port added when there is none.  *tls says which.
 */
static int uri_convert(const char *in, char out[URI_MAX], int *tls)
{
	static const struct { const char *from, *to; int tls; } map[] = {
		{"mqtt://", "tcp://", 0}, {"tcp://", "tcp://", 0},
		{"mqtts://", "ssl://", 1}, {"ssl://", "ssl://", 1}};
	const char *host = NULL, *to = NULL, *bracket, *colon;
	size_t n;
	int w;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(in, map[i].from, strlen(map[i].from)) == 0) {
			host = in + strlen(map[i].from);
			to = map[i].to;
			*tls = map[i].tls;
		}
	if (!host)
		return TLY_ECONFIG;
	n = strcspn(host, "/");
	if (n == 0 || host[n + (host[n] == '/')] != '\0')
		return TLY_ECONFIG;	/* no host, or a path */
	bracket = memchr(host, ']', n);
	colon = memchr(bracket ? bracket : host, ':',
		       n - (size_t)((bracket ? bracket : host) - host));
	w = snprintf(out, URI_MAX, "%s%.*s%s", to, (int)n, host,
		     colon ? "" : *tls ? ":8883" : ":1883");
	return w > 0 && w < URI_MAX ? TLY_OK : TLY_ECONFIG;
}

/* A group is one topic level: not empty, no '/', '+' or '#'. */
static int group_valid(const char *g)
{
	return g && *g && !strpbrk(g, "/+#");
}

/* A file setting, if set, must be readable now: a clear error at start. */
static int file_ok(struct coll *co, enum coll_key k)
{
	const char *path = conf_str(co->conf, k);

	if (!path || access(path, R_OK) == 0)
		return 1;
	log_error("mqtt: %s %s: %s", coll_keys[k].name, path, strerror(errno));
	return 0;
}

static int configure(struct ingest_mqtt *m, int *tls)
{
	struct coll *co = m->co;
	const char *uri = conf_str(co->conf, CK_MQTT);
	const char *group = conf_str(co->conf, CK_MQTT_GROUP);
	char host[64] = "localhost";

	if (uri_convert(uri, m->uri, tls) != TLY_OK) {
		log_error("mqtt: '%s' is not a broker URI (mqtt://HOST[:PORT] "
			  "or mqtts://HOST[:PORT])", uri);
		return TLY_ECONFIG;
	}
	if (!group_valid(group)) {
		log_error("mqtt: mqtt.group '%s' must be one topic level "
			  "(no '/', '+' or '#')", group ? group : "");
		return TLY_ECONFIG;
	}
	if (!file_ok(co, CK_MQTT_CA_FILE) || !file_ok(co, CK_MQTT_CERT_FILE) ||
	    !file_ok(co, CK_MQTT_KEY_FILE))
		return TLY_ECONFIG;
	if (!*tls && (conf_str(co->conf, CK_MQTT_CA_FILE) ||
		      conf_str(co->conf, CK_MQTT_CERT_FILE)))
		log_warn("mqtt: %s is not mqtts://: the TLS files are not used",
			 uri);
	snprintf(m->filter, sizeof(m->filter), "$share/%s/" TOPIC_INGEST "+",
		 group);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(m->clientid, sizeof(m->clientid), "tally-collector-%s-%ld",
		 host, (long)getpid());
	return TLY_OK;
}

/* ---- Publishing ----------------------------------------------------- */

static int publish(struct ingest_mqtt *m, const char *topic, const char *text,
		   int retained)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int rc;

	msg.payload = (void *)text;
	msg.payloadlen = (int)strlen(text);
	msg.qos = 1;
	msg.retained = retained;
	rc = MQTTAsync_sendMessage(m->client, topic, &msg, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		log_warn("mqtt: cannot publish to %s: %s", topic,
			 MQTTAsync_strerror(rc));
		return TLY_ENET;
	}
	return TLY_OK;
}

/* The ack of r: what POST /v1/ingest answers, or a refusal. */
static char *ack_text(const struct ingest_result *r)
{
	cJSON *o = cJSON_CreateObject();
	const char *err = r->msg[0] ? r->msg : r->code ? r->code : "refused";
	char *text = NULL;
	int ok;

	if (!o)
		return NULL;
	ok = (r->has_seq ? cJSON_AddNumberToObject(o, "seq", (double)r->seq) :
	      cJSON_AddNullToObject(o, "seq")) != NULL;
	if (r->status == 200)
		ok = ok && cJSON_AddStringToObject(o, "status", r->duplicate ?
						   "duplicate" : "applied");
	else
		ok = ok && cJSON_AddStringToObject(o, "status", "refused") &&
		     cJSON_AddStringToObject(o, "error", err);
	if (ok)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static void send_ack(struct ingest_mqtt *m, const char *agent,
		     const struct ingest_result *r)
{
	char topic[sizeof(TOPIC_ACK) + AGENT_BUF];
	char *text = ack_text(r);

	snprintf(topic, sizeof(topic), TOPIC_ACK "%s", agent);
	if (!text || publish(m, topic, text, 0) != TLY_OK)
		log_warn("mqtt: no ack sent to %s for seq %llu; the agent will "
			 "send the batch again", agent,
			 (unsigned long long)r->seq);
	cJSON_free(text);
}

/* ---- Batches -------------------------------------------------------- */

/* The agent id of an ingest topic, if it is one: into agent. */
static int topic_agent(const char *topic, int tlen, char *agent, size_t n)
{
	size_t len = tlen > 0 ? (size_t)tlen : strlen(topic);
	size_t plen = strlen(TOPIC_INGEST);

	if (len <= plen || len - plen >= n ||
	    strncmp(topic, TOPIC_INGEST, plen) != 0)
		return 0;
	memcpy(agent, topic + plen, len - plen);
	agent[len - plen] = '\0';
	return memchr(agent, '\0', len - plen) == NULL;
}

/* The seq of a batch refused before decoding, when it decodes. */
static void peek_seq(struct coll *co, const MQTTAsync_message *msg,
		     struct ingest_result *r)
{
	struct wire_batch b;
	char err[64];

	if (wire_decode(msg->payload, (size_t)msg->payloadlen, &co->limits,
			&b, err, sizeof(err)) != TLY_OK)
		return;
	r->has_seq = 1;
	r->seq = b.seq;
	wire_batch_free(&b);
}

/* Check the agent, then decode, check and apply the batch into r. */
static void take_batch(struct coll *co, const char *agent,
		       const MQTTAsync_message *msg, struct ingest_result *r)
{
	struct store_conn *c;
	int rc = TLY_EAUTH;

	if (agents_valid_id(agent)) {
		c = store_acquire(co->store);
		rc = agents_live(c, agent);
		store_release(c);
	}
	if (rc == TLY_OK) {
		ingest_batch(co, agent, msg->payload, (size_t)msg->payloadlen,
			     r);
		return;
	}
	memset(r, 0, sizeof(*r));
	if (rc == TLY_EAUTH) {
		log_warn("mqtt: batch from unknown or revoked agent '%s' "
			 "refused", agent);
		COLL_INC(co, refused[REFUSE_AUTH], 1);
		r->status = 401;
		snprintf(r->msg, sizeof(r->msg), "unknown_or_revoked_agent");
		peek_seq(co, msg, r);
	} else {
		COLL_INC(co, refused[REFUSE_INTERNAL], 1);
		r->status = 500;
	}
}

/* Count a callback in; 0 when stopping (it must not touch the store). */
static int enter(struct ingest_mqtt *m)
{
	int ok;

	pthread_mutex_lock(&m->mu);
	ok = !m->stopping;
	m->busy += ok;
	pthread_mutex_unlock(&m->mu);
	return ok;
}

/* Count a callback out, after a pause of ms unless stopping. */
static void leave(struct ingest_mqtt *m, int64_t ms)
{
	pthread_mutex_lock(&m->mu);
	if (ms)
		wait_locked(m, ms, 0);
	m->busy--;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

static int on_message(void *ctx, char *topic, int tlen, MQTTAsync_message *msg)
{
	struct ingest_mqtt *m = ctx;
	char agent[AGENT_BUF];
	struct ingest_result r;

	if (!enter(m)) {
		usleep(50000);	/* stopping: keep it for no one */
		return 0;
	}
	if (!topic_agent(topic, tlen, agent, sizeof(agent))) {
		log_warn("mqtt: message on %s ignored: not an ingest topic",
			 topic);
		leave(m, 0);
		goto done;
	}
	take_batch(m->co, agent, msg, &r);
	if (r.status == 500) {
		log_warn("mqtt: batch from %s not applied; retrying in %d ms",
			 agent, RETRY_MS);
		leave(m, RETRY_MS);
		return 0;	/* Paho delivers it again */
	}
	if (agents_valid_id(agent))
		send_ack(m, agent, &r);
	leave(m, 0);
done:
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

/* ---- The catalog ---------------------------------------------------- */

/* The catalog as text if it must be published (NULL: not now). */
static char *catalog_due(struct ingest_mqtt *m, int64_t *version)
{
	struct store_conn *c = store_acquire(m->co->store);
	cJSON *cat = NULL;
	char *text = NULL;
	int due;

	*version = catalog_version(c);
	pthread_mutex_lock(&m->mu);
	due = *version >= 0 && (*version != m->cat_version ||
				m->cat_connect != m->connects);
	pthread_mutex_unlock(&m->mu);
	if (due && catalog_build(c, &cat) == TLY_OK)
		text = cJSON_PrintUnformatted(cat);
	store_release(c);
	cJSON_Delete(cat);
	if (due && !text)
		log_warn("mqtt: cannot build the catalog; trying again");
	return text;
}

static void catalog_publish(struct ingest_mqtt *m)
{
	unsigned connects;
	int64_t version;
	char *text;

	pthread_mutex_lock(&m->mu);
	connects = m->connects;
	pthread_mutex_unlock(&m->mu);
	text = catalog_due(m, &version);
	if (!text)
		return;
	if (publish(m, TOPIC_CATALOG, text, 1) == TLY_OK) {
		pthread_mutex_lock(&m->mu);
		m->cat_version = version;
		m->cat_connect = connects;
		pthread_mutex_unlock(&m->mu);
		log_info("mqtt: catalog version %lld published",
			 (long long)version);
	}
	cJSON_free(text);
}

static void *catalog_loop(void *arg)
{
	struct ingest_mqtt *m = arg;

	pthread_mutex_lock(&m->mu);
	while (!m->stopping) {
		if (atomic_load(&m->up)) {
			pthread_mutex_unlock(&m->mu);
			catalog_publish(m);
			pthread_mutex_lock(&m->mu);
		}
		wait_locked(m, CATALOG_POLL_MS, 1);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* ---- Connection ----------------------------------------------------- */

static void on_subscribed(void *ctx, MQTTAsync_successData5 *resp)
{
	struct ingest_mqtt *m = ctx;

	if (resp && resp->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR) {
		log_error("mqtt: subscription to %s refused: %s", m->filter,
			  MQTTReasonCode_toString(resp->reasonCode));
		return;
	}
	atomic_store(&m->co->mqtt_connected, 1);
	log_info("mqtt: subscribed to %s", m->filter);
}

static void on_subscribe_failed(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct ingest_mqtt *m = ctx;

	log_error("mqtt: subscription to %s failed: %s", m->filter,
		  resp && resp->message ? resp->message :
		  resp ? MQTTReasonCode_toString(resp->reasonCode) : "?");
}

/* Connected, first or again: subscribe (cleanstart) and wake the timer. */
static void on_connected(void *ctx, char *cause)
{
	struct ingest_mqtt *m = ctx;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int rc;

	(void)cause;
	log_info("mqtt: connected to %s as %s", m->uri, m->clientid);
	atomic_store(&m->up, 1);
	pthread_mutex_lock(&m->mu);
	m->connects++;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	ro.onSuccess5 = on_subscribed;
	ro.onFailure5 = on_subscribe_failed;
	ro.context = m;
	rc = MQTTAsync_subscribe(m->client, m->filter, 1, &ro);
	if (rc != MQTTASYNC_SUCCESS)
		log_error("mqtt: cannot subscribe to %s: %s", m->filter,
			  MQTTAsync_strerror(rc));
}

static void on_connection_lost(void *ctx, char *cause)
{
	struct ingest_mqtt *m = ctx;

	atomic_store(&m->up, 0);
	atomic_store(&m->co->mqtt_connected, 0);
	log_warn("mqtt: connection to %s lost (%s); reconnecting", m->uri,
		 cause ? cause : "no reason given");
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct ingest_mqtt *m = ctx;

	atomic_store(&m->up, 0);
	atomic_store(&m->co->mqtt_connected, 0);
	log_warn("mqtt: cannot connect to %s: %s%s%s; retrying", m->uri,
		 resp && resp->message ? resp->message : "connect failed",
		 resp && resp->reasonCode ? ": " : "",
		 resp && resp->reasonCode ?
		 MQTTReasonCode_toString(resp->reasonCode) : "");
}

static int on_tls_error(const char *str, size_t len, void *ctx)
{
	(void)ctx;
	while (len && (str[len - 1] == '\n' || str[len - 1] == '\r'))
		len--;
	log_warn("mqtt: TLS: %.*s", (int)len, str);
	return 1;
}

static int connect_start(struct ingest_mqtt *m, int tls)
{
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	struct conf *cf = m->co->conf;
	int rc;

	o.keepAliveInterval = 30;
	o.cleanstart = 1;
	o.automaticReconnect = 1;
	o.minRetryInterval = 1;
	o.maxRetryInterval = 30;
	o.connectTimeout = 10;
	o.username = conf_str(cf, CK_MQTT_USERNAME);
	o.password = conf_str(cf, CK_MQTT_PASSWORD);
	o.onFailure5 = on_connect_failed;
	o.context = m;
	if (tls) {
		ssl.trustStore = conf_str(cf, CK_MQTT_CA_FILE);
		ssl.keyStore = conf_str(cf, CK_MQTT_CERT_FILE);
		ssl.privateKey = conf_str(cf, CK_MQTT_KEY_FILE);
		ssl.enableServerCertAuth = 1;
		ssl.verify = 1;
		ssl.ssl_error_cb = on_tls_error;
		ssl.ssl_error_context = m;
		o.ssl = &ssl;
	}
	rc = MQTTAsync_connect(m->client, &o);
	if (rc != MQTTASYNC_SUCCESS) {
		log_error("mqtt: cannot connect to %s: %s", m->uri,
			  MQTTAsync_strerror(rc));
		return TLY_ECONFIG;
	}
	return TLY_OK;
}

static int client_create(struct ingest_mqtt *m)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
	int rc;

	rc = MQTTAsync_createWithOptions(&m->client, m->uri, m->clientid,
					 MQTTCLIENT_PERSISTENCE_NONE, NULL,
					 &co);
	if (rc != MQTTASYNC_SUCCESS) {
		log_error("mqtt: cannot create a client for %s: %s", m->uri,
			  MQTTAsync_strerror(rc));
		return TLY_ECONFIG;
	}
	rc = MQTTAsync_setCallbacks(m->client, m, on_connection_lost,
				    on_message, NULL);
	if (rc == MQTTASYNC_SUCCESS)
		rc = MQTTAsync_setConnected(m->client, m, on_connected);
	if (rc != MQTTASYNC_SUCCESS) {
		log_error("mqtt: cannot set callbacks: %s",
			  MQTTAsync_strerror(rc));
		MQTTAsync_destroy(&m->client);
		return TLY_ELIB;
	}
	return TLY_OK;
}

static void on_disconnected(void *ctx, MQTTAsync_successData5 *resp)
{
	struct ingest_mqtt *m = ctx;

	(void)resp;
	pthread_mutex_lock(&m->mu);
	m->disconnected = 1;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

static void on_disconnect_failed(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	on_disconnected(ctx, NULL);
}

/* Disconnect cleanly (DISCONNECT, reason 0), waiting STOP_WAIT_MS at most. */
static void disconnect(struct ingest_mqtt *m)
{
	MQTTAsync_disconnectOptions o =
		MQTTAsync_disconnectOptions_initializer5;
	struct timespec ts;
	int rc;

	o.timeout = STOP_WAIT_MS - 500;
	o.onSuccess5 = on_disconnected;
	o.onFailure5 = on_disconnect_failed;
	o.context = m;
	rc = MQTTAsync_disconnect(m->client, &o);
	if (rc != MQTTASYNC_SUCCESS)
		return;		/* not connected */
	sleep_until(&ts, STOP_WAIT_MS);
	pthread_mutex_lock(&m->mu);
	while (!m->disconnected &&
	       pthread_cond_timedwait(&m->cv, &m->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&m->mu);
}

static void mqtt_free(struct ingest_mqtt *m)
{
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

int ingest_mqtt_start(struct coll *co)
{
	struct ingest_mqtt *m = calloc(1, sizeof(*m));
	int rc, tls = 0;

	if (!m)
		return TLY_ENOMEM;
	m->co = co;
	m->cat_version = -1;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	rc = configure(m, &tls);
	if (rc == TLY_OK)
		rc = client_create(m);
	if (rc != TLY_OK) {
		mqtt_free(m);
		return rc;
	}
	if (pthread_create(&m->timer, NULL, catalog_loop, m) != 0) {
		MQTTAsync_destroy(&m->client);
		mqtt_free(m);
		return TLY_EIO;
	}
	co->mqtt = m;
	rc = connect_start(m, tls);
	if (rc != TLY_OK) {
		ingest_mqtt_stop(co);
		return rc;
	}
	log_info("mqtt: consuming %s from %s", m->filter, m->uri);
	return TLY_OK;
}

void ingest_mqtt_stop(struct coll *co)
{
	struct ingest_mqtt *m = co->mqtt;

	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stopping = 1;
	pthread_cond_broadcast(&m->cv);
	while (m->busy)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->timer, NULL);
	disconnect(m);
	MQTTAsync_destroy(&m->client);
	atomic_store(&co->mqtt_connected, 0);
	co->mqtt = NULL;
	mqtt_free(m);
}
