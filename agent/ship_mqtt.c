/*
 * ship_mqtt.c - the MQTT shipper (see ship.h): one thread around a Paho
 * MQTTAsync client (MQTT v5, QoS 1, clean start, no Paho persistence:
 * the SQLite outbox is the only store that counts).
 *
 * The agent publishes each outbox batch, byte for byte, to
 * tally/v1/ingest/<id> and reads the collector's answers on
 * tally/v1/ack/<id>: {"seq": N, "status": "applied"|"duplicate"} lets
 * batch N leave the outbox (never the broker's PUBACK); "refused" keeps
 * it there, counts a failure and backs off.  The retained
 * tally/v1/catalog feeds buf_set_catalog when its version changes.
 *
 * After every (re)connect, once both subscriptions are granted, every
 * unacknowledged batch is sent again (acks published while the agent was
 * away are lost with clean start; the collector answers a repeat
 * "duplicate").  A batch not acked within ACK_TIMEOUT_MS is resent: that
 * also recovers a batch published while no collector was subscribed
 * (after a broker restart, say), which the broker drops; mosquitto's
 * PUBACK says "no matching subscribers", but Paho 1.3 does not pass that
 * reason code on.
 * Reconnects are ours, not Paho's, so that they follow ship.backoff_min
 * and ship.backoff_max with jitter and report the broker's reason code.
 *
 * THREADING: Paho runs the callbacks on its own threads; they only note
 * what happened under s->mu (link events, acks, the latest catalog) and
 * signal s->cv.  The shipping thread owns the in-flight window and is
 * the only one that calls the buffer and Paho's connect, subscribe and
 * publish.  Nobody calls Paho or the buffer while holding s->mu.
 */
#include <MQTTAsync.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "ship.h"
#include "util.h"

#define MAX_INFLIGHT 64
#define ACK_TIMEOUT_MS 15000	/* an unacked batch is sent again */
#define ACK_MAX 4096		/* an ack is tiny; more is ignored */
#define ACKQ_MAX 1024		/* acks waiting for the thread, at most */
#define CATALOG_MAX (16 << 20)
#define TOPIC_MAX 320
#define CATALOG_TOPIC "tally/v1/catalog"

enum link { LINK_DOWN, LINK_CONNECTING, LINK_SUBSCRIBING, LINK_READY };

struct mflight {
	int64_t seq;		/* 0: free */
	int64_t due;		/* ms (monotonic): send again at */
	int refused;		/* the collector refused it: backing off */
};

struct mack {
	int64_t seq;		/* 0: null (refused without a seq) */
	int ok;			/* applied or duplicate */
	char error[160];
};

/* What Paho's threads hand to the shipping thread; under mu. */
struct pending {
	int up, down, sub_done, sub_ok, auth;
	MQTTAsync_token sub_token;
	char why[200];
	struct mack *acks;
	size_t nacks;
	char *catalog;
};

struct ship_mqtt {
	struct ship base;		/* first: a struct ship * points here */
	struct ship_opts o;
	char *uri, *clientid, *username, *password;
	char *ca_file, *cert_file, *key_file;
	char ingest_topic[TOPIC_MAX], ack_topic[TOPIC_MAX];
	struct buf *buf;
	struct buf_reader *rd;
	MQTTAsync cli;
	MQTTAsync_SSLOptions ssl;
	pthread_t thread;
	/* The shipping thread's own. */
	enum link link;
	MQTTAsync_token sub_token;
	int64_t reconnect_at;	/* ms: next connect attempt */
	int conn_attempts;	/* failed connects in a row */
	int attempts;		/* refusals in a row */
	int64_t retry_at;	/* ms: no new batch before this */
	int64_t sent_upto;	/* highest seq published since READY */
	struct mflight fl[MAX_INFLIGHT];
	int nfl;
	int64_t last_make;
	int64_t make_at;	/* when ship_maybe_make wants to run */
	int64_t catalog_version;
	/* Shared with Paho's threads and the buffer's writer. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit, woken;
	struct pending p;
	char ssl_err[160];	/* OpenSSL's last word, for last_error */
	struct ship_status st;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under mu: wake the thread. */
static void signal_locked(struct ship_mqtt *s)
{
	s->woken = 1;
	pthread_cond_signal(&s->cv);
}

static void wake(void *arg)
{
	struct ship_mqtt *s = arg;

	pthread_mutex_lock(&s->mu);
	signal_locked(s);
	pthread_mutex_unlock(&s->mu);
}

static void set_error(struct ship_mqtt *s, const char *msg, int failure)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", msg);
	if (failure)
		s->st.failures++;
	pthread_mutex_unlock(&s->mu);
}

/* ---- Paho's callbacks (Paho's threads) ------------------------------------- */

static int on_ssl_error(const char *str, size_t len, void *arg)
{
	struct ship_mqtt *s = arg;

	pthread_mutex_lock(&s->mu);
	snprintf(s->ssl_err, sizeof(s->ssl_err), "%.*s", (int)len, str);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void on_connected(void *arg, MQTTAsync_successData5 *r)
{
	struct ship_mqtt *s = arg;

	(void)r;
	pthread_mutex_lock(&s->mu);
	s->p.up = 1;
	s->st.connected = 1;
	signal_locked(s);
	pthread_mutex_unlock(&s->mu);
}

static int auth_refusal(enum MQTTReasonCodes rc)
{
	return rc == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD ||
	       rc == MQTTREASONCODE_NOT_AUTHORIZED ||
	       rc == MQTTREASONCODE_BAD_AUTHENTICATION_METHOD ||
	       rc == MQTTREASONCODE_CLIENT_IDENTIFIER_NOT_VALID ||
	       rc == MQTTREASONCODE_BANNED;
}

/* The CONNACK reason code of a refusal (Paho puts it in code), or 0. */
static enum MQTTReasonCodes connack_reason(const MQTTAsync_failureData5 *r)
{
	if (!r)
		return MQTTREASONCODE_SUCCESS;
	if (r->reasonCode >= 0x80)
		return r->reasonCode;
	if (r->code >= 0x80 && r->code <= 0xff)
		return (enum MQTTReasonCodes)r->code;
	return MQTTREASONCODE_SUCCESS;
}

/* Under mu: why the connect failed, in words an operator can act on. */
static void connect_why(struct ship_mqtt *s, const MQTTAsync_failureData5 *r)
{
	const char *msg = r && r->message ? r->message : "no answer";
	enum MQTTReasonCodes rc = connack_reason(r);
	char *why = s->p.why;
	size_t n = sizeof(s->p.why);

	if (auth_refusal(rc)) {
		s->p.auth = 1;
		snprintf(why, n, "MQTT: not authorized: the broker refused "
			 "user '%.60s' (%s, reason %d); check mqtt.username "
			 "and mqtt.password", s->username,
			 MQTTReasonCode_toString(rc), (int)rc);
	} else if (rc != MQTTREASONCODE_SUCCESS) {
		snprintf(why, n, "MQTT: the broker refused the connection: %s "
			 "(reason %d)", MQTTReasonCode_toString(rc), (int)rc);
	} else if (s->ssl_err[0]) {
		snprintf(why, n, "MQTT: TLS failed with %s: %s", s->uri,
			 s->ssl_err);
	} else {
		snprintf(why, n, "MQTT: cannot connect to %s: %s (code %d)",
			 s->uri, msg, r ? r->code : 0);
	}
}

static void on_connect_failed(void *arg, MQTTAsync_failureData5 *r)
{
	struct ship_mqtt *s = arg;

	pthread_mutex_lock(&s->mu);
	s->p.auth = 0;
	connect_why(s, r);
	s->ssl_err[0] = '\0';
	s->p.down = 1;
	s->st.connected = 0;
	signal_locked(s);
	pthread_mutex_unlock(&s->mu);
}

static void on_lost(void *arg, char *cause)
{
	struct ship_mqtt *s = arg;

	pthread_mutex_lock(&s->mu);
	s->p.auth = 0;
	snprintf(s->p.why, sizeof(s->p.why), "MQTT: connection to %s lost%s%s",
		 s->uri, cause ? ": " : "", cause ? cause : "");
	s->p.down = 1;
	s->st.connected = 0;
	signal_locked(s);
	pthread_mutex_unlock(&s->mu);
	MQTTAsync_free(cause);
}

static void on_subscribed(void *arg, MQTTAsync_successData5 *r)
{
	struct ship_mqtt *s = arg;
	int ok = r != NULL;

	for (int i = 0; ok && i < r->alt.sub.reasonCodeCount; i++)
		if (r->alt.sub.reasonCodes[i] >= 0x80)
			ok = 0;
	if (ok && r->alt.sub.reasonCodeCount == 0 && r->reasonCode >= 0x80)
		ok = 0;
	pthread_mutex_lock(&s->mu);
	s->p.sub_done = 1;
	s->p.sub_ok = ok;
	s->p.sub_token = r ? r->token : 0;
	if (!ok)
		snprintf(s->p.why, sizeof(s->p.why), "MQTT: the broker refused "
			 "the subscriptions to %.100s and %s (check its ACL)",
			 s->ack_topic, CATALOG_TOPIC);
	signal_locked(s);
	pthread_mutex_unlock(&s->mu);
}

static void on_subscribe_failed(void *arg, MQTTAsync_failureData5 *r)
{
	struct ship_mqtt *s = arg;

	pthread_mutex_lock(&s->mu);
	s->p.sub_done = 1;
	s->p.sub_ok = 0;
	s->p.sub_token = r ? r->token : 0;
	snprintf(s->p.why, sizeof(s->p.why), "MQTT: subscribing to %.100s "
		 "failed: %s (reason %d)", s->ack_topic,
		 !r ? "no answer" : r->message ? r->message :
		 MQTTReasonCode_toString(r->reasonCode), r ? r->reasonCode : 0);
	signal_locked(s);
	pthread_mutex_unlock(&s->mu);
}

static void on_publish_failed(void *arg, MQTTAsync_failureData5 *r)
{
	struct ship_mqtt *s = arg;
	char msg[200];

	/* Only a broker refusal (an ACL) is news: a lost link says so. */
	if (!r || r->reasonCode < 0x80)
		return;
	snprintf(msg, sizeof(msg), "MQTT: the broker refused a batch on %.100s: "
		 "%s (reason %d)", s->ingest_topic,
		 MQTTReasonCode_toString(r->reasonCode), r->reasonCode);
	log_error("ship: %s", msg);
	set_error(s, msg, 1);
}

/* {"seq": N|null, "status": "...", "error": "..."} into a; 0 if none. */
static int parse_ack(const char *text, size_t len, struct mack *a)
{
	cJSON *j = cJSON_ParseWithLength(text, len);
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (cJSON_IsString(st)) {
		a->seq = cJSON_IsNumber(seq) ? (int64_t)seq->valuedouble : 0;
		a->ok = !strcmp(st->valuestring, "applied") ||
			!strcmp(st->valuestring, "duplicate");
		snprintf(a->error, sizeof(a->error), "%s",
			 cJSON_IsString(err) ? err->valuestring :
			 st->valuestring);
		rc = a->ok ? a->seq > 0 : 1;
	}
	cJSON_Delete(j);
	return rc;
}

static void got_ack(struct ship_mqtt *s, const MQTTAsync_message *m)
{
	struct mack a, *q;

	if (m->payloadlen <= 0 || m->payloadlen > ACK_MAX ||
	    !parse_ack(m->payload, (size_t)m->payloadlen, &a)) {
		log_warn("ship: ignoring a malformed ack on %s (%d bytes)",
			 s->ack_topic, m->payloadlen);
		return;
	}
	pthread_mutex_lock(&s->mu);
	q = s->p.nacks < ACKQ_MAX ?
	    realloc(s->p.acks, (s->p.nacks + 1) * sizeof(*q)) : NULL;
	if (q) {
		s->p.acks = q;
		q[s->p.nacks++] = a;
		signal_locked(s);
	}
	pthread_mutex_unlock(&s->mu);
	if (!q)	/* the batch is resent after ACK_TIMEOUT_MS */
		log_warn("ship: ack for batch %lld dropped (no memory)",
			 (long long)a.seq);
}

static void got_catalog(struct ship_mqtt *s, const MQTTAsync_message *m)
{
	char *text;

	if (m->payloadlen <= 0 || m->payloadlen > CATALOG_MAX)
		return;
	text = malloc((size_t)m->payloadlen + 1);
	if (!text) {
		log_warn("ship: catalog dropped (no memory)");
		return;
	}
	memcpy(text, m->payload, (size_t)m->payloadlen);
	text[m->payloadlen] = '\0';
	pthread_mutex_lock(&s->mu);
	free(s->p.catalog);
	s->p.catalog = text;
	signal_locked(s);
	pthread_mutex_unlock(&s->mu);
}

static int on_message(void *arg, char *topic, int tlen, MQTTAsync_message *m)
{
	struct ship_mqtt *s = arg;

	(void)tlen;
	if (!strcmp(topic, s->ack_topic))
		got_ack(s, m);
	else if (!strcmp(topic, CATALOG_TOPIC))
		got_catalog(s, m);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

/* ---- The link (shipping thread) -------------------------------------------- */

static void go_down(struct ship_mqtt *s, const char *why, int auth)
{
	int64_t delay;

	s->link = LINK_DOWN;
	s->nfl = 0;	/* all resent after the next connect */
	memset(s->fl, 0, sizeof(s->fl));
	s->conn_attempts = auth ? 64 : s->conn_attempts + 1;
	delay = ship_backoff(&s->o, s->conn_attempts);
	s->reconnect_at = now_ms() + delay;
	if (auth)
		log_error("ship: %s; events keep buffering; retry in %lld ms",
			  why, (long long)delay);
	else
		log_warn("ship: %s; retry in %lld ms", why, (long long)delay);
	pthread_mutex_lock(&s->mu);
	s->st.connected = 0;
	s->st.failures++;
	snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", why);
	pthread_mutex_unlock(&s->mu);
}

static void do_connect(struct ship_mqtt *s)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
	char why[200];
	int rc;

	co.keepAliveInterval = 30;
	co.cleanstart = 1;
	co.connectTimeout = 10;
	co.automaticReconnect = 0;
	co.username = s->username;
	co.password = s->password;
	co.onSuccess5 = on_connected;
	co.onFailure5 = on_connect_failed;
	co.context = s;
	if (!strncmp(s->uri, "ssl://", 6))
		co.ssl = &s->ssl;
	s->link = LINK_CONNECTING;
	rc = MQTTAsync_connect(s->cli, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(why, sizeof(why), "MQTT: cannot start connecting to "
			 "%s (Paho error %d)", s->uri, rc);
		go_down(s, why, 0);
	}
}

static void do_subscribe(struct ship_mqtt *s)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	char *topics[2] = {s->ack_topic, CATALOG_TOPIC};
	int qos[2] = {1, 1}, rc;
	char why[200];

	ro.onSuccess5 = on_subscribed;
	ro.onFailure5 = on_subscribe_failed;
	ro.context = s;
	s->link = LINK_SUBSCRIBING;
	rc = MQTTAsync_subscribeMany(s->cli, 2, topics, qos, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(why, sizeof(why), "MQTT: cannot subscribe to %.100s "
			 "(Paho error %d)", s->ack_topic, rc);
		go_down(s, why, 0);
		return;
	}
	s->sub_token = ro.token;
}

/* Subscribed: send every batch still in the outbox again. */
static void ready(struct ship_mqtt *s)
{
	struct buf_stats st;

	buf_get_stats(s->buf, &st);
	s->link = LINK_READY;
	s->conn_attempts = 0;
	s->sent_upto = st.last_acked_seq;
	s->nfl = 0;
	memset(s->fl, 0, sizeof(s->fl));
	log_info("ship: connected to %s as %s; %lld batches to (re)send",
		 s->uri, s->username, (long long)st.outbox_batches);
}

static void subscribed(struct ship_mqtt *s, const struct pending *p)
{
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;

	if (p->sub_token != s->sub_token || s->link != LINK_SUBSCRIBING)
		return;		/* from a connection before */
	if (p->sub_ok) {
		ready(s);
		return;
	}
	d.timeout = 1000;
	MQTTAsync_disconnect(s->cli, &d);
	go_down(s, p->why, 1);
}

/*
 * Apply what Paho's threads reported.  We connect only when down, so a
 * reported loss always ends the connection of the other reports.
 */
static void link_events(struct ship_mqtt *s, const struct pending *p)
{
	if (p->down && s->link != LINK_DOWN)
		go_down(s, p->why, p->auth);
	if (p->up && s->link == LINK_CONNECTING)
		do_subscribe(s);
	if (p->sub_done)
		subscribed(s, p);
	if (s->link == LINK_DOWN && now_ms() >= s->reconnect_at)
		do_connect(s);
}

/* ---- Batches (shipping thread) --------------------------------------------- */

static struct mflight *find_flight(struct ship_mqtt *s, int64_t seq)
{
	for (int i = 0; i < s->o.inflight; i++)
		if (s->fl[i].seq == seq && seq > 0)
			return &s->fl[i];
	return NULL;
}

static int publish(struct ship_mqtt *s, int64_t seq, unsigned char *body,
		   size_t len)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int rc;

	ro.onFailure5 = on_publish_failed;
	ro.context = s;
	/* Paho copies the payload before it returns. */
	rc = MQTTAsync_send(s->cli, s->ingest_topic, (int)len, body, 1, 0, &ro);
	free(body);
	if (rc != MQTTASYNC_SUCCESS) {
		log_warn("ship: batch %lld not published (Paho error %d); "
			 "it waits for the next connection", (long long)seq, rc);
		return TLY_ENET;
	}
	pthread_mutex_lock(&s->mu);
	s->st.sent++;
	pthread_mutex_unlock(&s->mu);
	return TLY_OK;
}

/* Publish outbox batches past sent_upto while the window has room. */
static void fill_window(struct ship_mqtt *s, int64_t now)
{
	while (s->link == LINK_READY && now >= s->retry_at &&
	       s->nfl < s->o.inflight) {
		struct mflight *f = NULL;
		unsigned char *body;
		int64_t seq;
		size_t len;

		for (int i = 0; !f && i < s->o.inflight; i++)
			if (s->fl[i].seq == 0)
				f = &s->fl[i];
		if (!f || buf_next_batch(s->rd, s->sent_upto, &seq, &body,
					 &len) != TLY_OK)
			return;
		if (publish(s, seq, body, len) != TLY_OK)
			return;
		*f = (struct mflight){.seq = seq, .due = now + ACK_TIMEOUT_MS};
		s->nfl++;
		s->sent_upto = seq;
	}
}

static void drop_flight(struct ship_mqtt *s, struct mflight *f)
{
	f->seq = 0;
	s->nfl--;
}

/* Send again, byte for byte, each batch whose time has come. */
static void resend_due(struct ship_mqtt *s, int64_t now)
{
	for (int i = 0; s->link == LINK_READY && i < s->o.inflight; i++) {
		struct mflight *f = &s->fl[i];
		unsigned char *body;
		int64_t seq;
		size_t len;

		int rc;

		if (f->seq == 0 || f->due > now)
			continue;
		rc = buf_next_batch(s->rd, f->seq - 1, &seq, &body, &len);
		if (rc == TLY_OK && seq != f->seq) {
			free(body);
			rc = TLY_ENOTFOUND;
		}
		if (rc == TLY_ENOTFOUND) {
			drop_flight(s, f);	/* acked meanwhile */
			continue;
		}
		if (rc != TLY_OK) {
			f->due = now + 1000;	/* the outbox said why */
			continue;
		}
		if (!f->refused) {
			char msg[200];

			snprintf(msg, sizeof(msg), "batch %lld not acknowledged "
				 "within %d s; sending it again",
				 (long long)f->seq, ACK_TIMEOUT_MS / 1000);
			log_warn("ship: %s", msg);
			set_error(s, msg, 1);
		}
		if (publish(s, seq, body, len) != TLY_OK) {
			f->due = now + 1000;	/* the link's news follows */
			return;
		}
		f->due = now + ACK_TIMEOUT_MS;
		f->refused = 0;
	}
}

/*
 * A refusal without a seq (the collector did not read the batch: an
 * unknown agent, say) concerns every batch in flight.
 */
static void refused(struct ship_mqtt *s, const struct mack *a, int64_t now)
{
	int64_t delay;
	char msg[200];

	s->attempts++;
	delay = ship_backoff(&s->o, s->attempts);
	s->retry_at = now + delay;
	for (int i = 0; i < s->o.inflight; i++) {
		struct mflight *f = &s->fl[i];

		if (f->seq && (a->seq == 0 || f->seq == a->seq)) {
			f->due = now + delay;
			f->refused = 1;
		}
	}
	if (a->seq)
		snprintf(msg, sizeof(msg), "collector refused batch %lld: "
			 "%.120s", (long long)a->seq, a->error);
	else
		snprintf(msg, sizeof(msg), "collector refused a batch: %.120s",
			 a->error);
	log_error("ship: %s; it stays in the outbox; retry in %lld ms", msg,
		  (long long)delay);
	set_error(s, msg, 1);
}

static void apply_acks(struct ship_mqtt *s, const struct mack *acks,
		       size_t n, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		struct mflight *f;

		if (!acks[i].ok) {
			refused(s, &acks[i], now);
			continue;
		}
		if (buf_ack(s->buf, acks[i].seq) != TLY_OK) {
			log_error("ship: cannot remove acked batch %lld from "
				  "the outbox (see above)",
				  (long long)acks[i].seq);
			continue;
		}
		f = find_flight(s, acks[i].seq);
		if (f)
			drop_flight(s, f);
		s->attempts = 0;
		pthread_mutex_lock(&s->mu);
		s->st.acked++;
		pthread_mutex_unlock(&s->mu);
	}
}

static void apply_catalog(struct ship_mqtt *s, const char *text)
{
	if (ship_take_catalog(s->buf, text, &s->catalog_version) == TLY_EINVAL)
		log_warn("ship: ignoring a catalog without a version on %s",
			 CATALOG_TOPIC);
}

/* ---- The thread ------------------------------------------------------------ */

static int64_t next_wake(struct ship_mqtt *s, int64_t now)
{
	int64_t t = s->make_at - now > 60000 ? now + 60000 : s->make_at;

	if (s->link == LINK_DOWN && s->reconnect_at < t)
		t = s->reconnect_at;
	if (s->link == LINK_READY && s->retry_at > now && s->retry_at < t)
		t = s->retry_at;
	for (int i = 0; i < s->o.inflight; i++)
		if (s->fl[i].seq && s->fl[i].due < t)
			t = s->fl[i].due;
	return t <= now ? now + 1 : t;
}

/* Sleep until woken or `until`; take what the callbacks left. */
static int wait_events(struct ship_mqtt *s, int64_t until, struct pending *p)
{
	struct timespec ts = {until / 1000, (long)(until % 1000) * 1000000};
	int quit;

	pthread_mutex_lock(&s->mu);
	while (!s->woken && !s->quit &&
	       pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
		;
	s->woken = 0;
	quit = s->quit;
	*p = s->p;
	memset(&s->p, 0, sizeof(s->p));
	pthread_mutex_unlock(&s->mu);
	return quit;
}

static void *ship_main(void *arg)
{
	struct ship_mqtt *s = arg;
	struct pending p = {0};
	int64_t now = now_ms();

	s->last_make = now;
	do {
		now = now_ms();
		link_events(s, &p);
		apply_acks(s, p.acks, p.nacks, now);
		if (p.catalog)
			apply_catalog(s, p.catalog);
		free(p.acks);
		free(p.catalog);
		s->make_at = ship_maybe_make(s->buf, &s->o, now,
					     &s->last_make);
		resend_due(s, now);
		fill_window(s, now);
	} while (!wait_events(s, next_wake(s, now_ms()), &p));
	free(p.acks);
	free(p.catalog);
	return NULL;
}

/* ---- Start and stop -------------------------------------------------------- */

/* mqtt:// and mqtts:// in Paho's words; tcp:// and ssl:// as they are. */
static char *paho_uri(const char *uri)
{
	static const char *const map[][2] = {
		{"mqtt://", "tcp://"}, {"mqtts://", "ssl://"},
		{"tcp://", "tcp://"}, {"ssl://", "ssl://"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t n = strlen(map[i][0]);

		if (!strncmp(uri, map[i][0], n)) {
			size_t len = strlen(map[i][1]) + strlen(uri + n) + 1;
			char *p = malloc(len);

			if (p)
				snprintf(p, len, "%s%s", map[i][1], uri + n);
			return p;
		}
	}
	return NULL;
}

static char *dup_or_null(const char *p, int *fail)
{
	char *d;

	if (!p)
		return NULL;
	d = strdup(p);
	if (!d)
		*fail = 1;
	return d;
}

static void ship_free(struct ship_mqtt *s)
{
	if (s->cli)
		MQTTAsync_destroy(&s->cli);
	buf_reader_close(&s->rd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->p.acks);
	free(s->p.catalog);
	free(s->uri);
	free(s->clientid);
	free(s->username);
	free(s->password);
	free(s->ca_file);
	free(s->cert_file);
	free(s->key_file);
	free(s);
}

static int copy_opts(struct ship_mqtt *s, const struct ship_mqtt_opts *m)
{
	int fail = 0;
	size_t n = strlen(m->agent_id) + 13;

	s->clientid = malloc(n);
	if (s->clientid)
		snprintf(s->clientid, n, "tally-agent-%s", m->agent_id);
	s->username = dup_or_null(m->username ? m->username : m->agent_id,
				  &fail);
	s->password = dup_or_null(m->password, &fail);
	s->ca_file = dup_or_null(m->ca_file, &fail);
	s->cert_file = dup_or_null(m->cert_file, &fail);
	s->key_file = dup_or_null(m->key_file, &fail);
	if (fail || !s->clientid)
		return TLY_ENOMEM;
	if ((size_t)snprintf(s->ingest_topic, TOPIC_MAX, "tally/v1/ingest/%s",
			     m->agent_id) >= TOPIC_MAX ||
	    (size_t)snprintf(s->ack_topic, TOPIC_MAX, "tally/v1/ack/%s",
			     m->agent_id) >= TOPIC_MAX)
		return TLY_ECONFIG;
	return TLY_OK;
}

static void ssl_setup(struct ship_mqtt *s)
{
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;

	ssl.trustStore = s->ca_file;
	ssl.keyStore = s->cert_file;
	ssl.privateKey = s->key_file;
	ssl.enableServerCertAuth = 1;
	ssl.verify = 1;
	ssl.ssl_error_cb = on_ssl_error;
	ssl.ssl_error_context = s;
	s->ssl = ssl;
}

static int check_opts(const struct ship_mqtt_opts *m)
{
	if (!m->uri || !m->agent_id || !m->agent_id[0] ||
	    strpbrk(m->agent_id, "/+#")) {
		log_error("ship: MQTT needs a broker URI and an agent id "
			  "without '/', '+' or '#'");
		return TLY_ECONFIG;
	}
	if (!!m->cert_file != !!m->key_file) {
		log_error("ship: mqtt.cert_file and mqtt.key_file go together");
		return TLY_ECONFIG;
	}
	return TLY_OK;
}

static int client_setup(struct ship_mqtt *s)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;

	co.MQTTVersion = MQTTVERSION_5;
	co.sendWhileDisconnected = 0;
	co.maxBufferedMessages = MAX_INFLIGHT * 2;
	if (MQTTAsync_createWithOptions(&s->cli, s->uri, s->clientid,
					MQTTCLIENT_PERSISTENCE_NONE, NULL,
					&co) != MQTTASYNC_SUCCESS) {
		s->cli = NULL;
		log_error("ship: cannot create the MQTT client for %s", s->uri);
		return TLY_ELIB;
	}
	if (MQTTAsync_setCallbacks(s->cli, s, on_lost, on_message, NULL) !=
	    MQTTASYNC_SUCCESS)
		return TLY_ELIB;
	return TLY_OK;
}

static int thread_setup(struct ship_mqtt *s)
{
	pthread_condattr_t ca;
	int rc;

	if (pthread_condattr_init(&ca) != 0)
		return TLY_ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return TLY_ENOMEM;
	return pthread_mutex_init(&s->mu, NULL) ? TLY_ENOMEM : TLY_OK;
}

static void mqtt_stop(struct ship *base);
static void mqtt_status(struct ship *base, struct ship_status *st);

static const struct ship_ops mqtt_ops = {
	.name = "mqtt",
	.stop = mqtt_stop,
	.status = mqtt_status,
};

int ship_mqtt_start(struct ship **out, struct buf *b,
		    const struct ship_opts *o, const struct ship_mqtt_opts *m)
{
	struct ship_mqtt *s;
	int rc;

	*out = NULL;
	if (check_opts(m) != TLY_OK)
		return TLY_ECONFIG;
	s = calloc(1, sizeof(*s));
	if (!s || thread_setup(s) != TLY_OK) {
		free(s);
		return TLY_ENOMEM;
	}
	s->base.ops = &mqtt_ops;
	s->o = *o;
	if (s->o.inflight > MAX_INFLIGHT)
		s->o.inflight = MAX_INFLIGHT;
	if (s->o.inflight < 1)
		s->o.inflight = 1;
	s->buf = b;
	s->st.transport = "mqtt";
	s->uri = paho_uri(m->uri);
	if (!s->uri) {
		log_error("ship: MQTT URI '%s': use mqtt://, mqtts://, tcp:// "
			  "or ssl://HOST:PORT", m->uri);
		ship_free(s);
		return TLY_ECONFIG;
	}
	rc = copy_opts(s, m);
	ssl_setup(s);
	if (rc == TLY_OK)
		rc = client_setup(s);
	if (rc == TLY_OK)
		rc = buf_reader_open(b, &s->rd);
	if (rc != TLY_OK) {
		ship_free(s);
		return rc;
	}
	buf_on_change(b, wake, s);
	if (pthread_create(&s->thread, NULL, ship_main, s) != 0) {
		buf_on_change(b, NULL, NULL);
		ship_free(s);
		return TLY_ENOMEM;
	}
	*out = &s->base;
	return TLY_OK;
}

static void mqtt_stop(struct ship *base)
{
	struct ship_mqtt *s = (struct ship_mqtt *)base;
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;

	buf_on_change(s->buf, NULL, NULL);
	pthread_mutex_lock(&s->mu);
	s->quit = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	d.timeout = 1000;
	if (MQTTAsync_isConnected(s->cli) &&
	    MQTTAsync_disconnect(s->cli, &d) == MQTTASYNC_SUCCESS) {
		for (int i = 0; i < 100 && MQTTAsync_isConnected(s->cli); i++)
			nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	ship_free(s);
}

static void mqtt_status(struct ship *base, struct ship_status *st)
{
	struct ship_mqtt *s = (struct ship_mqtt *)base;

	pthread_mutex_lock(&s->mu);
	*st = s->st;
	pthread_mutex_unlock(&s->mu);
}
