/*
 * ship_http.c - the HTTP(S) shipper (see ship.h), one thread around a
 * libcurl multi handle.
 *
 * THREADING: the thread owns the multi handle, the easy handles and the
 * in-flight table.  It sleeps in curl_multi_poll; the buffer's writer
 * wakes it with curl_multi_wakeup after every round (buf_on_change), and
 * ship_stop wakes it to quit.  The status is copied under s->mu.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "ship.h"
#include "util.h"

#define MAX_INFLIGHT 64
#define RESP_MAX 4096		/* an ack is tiny; more is not read */

struct flight {
	CURL *h;
	int64_t seq;		/* 0: the catalog request */
	unsigned char *body;
	size_t len;
	char resp[RESP_MAX];
	size_t rlen;
	struct curl_slist *hdrs;
};

struct ship_http {
	struct ship base;		/* first: a struct ship * points here */
	struct ship_opts o;
	char *ingest_url, *catalog_url, *auth;
	struct buf *buf;
	struct buf_reader *rd;
	CURLM *multi;
	pthread_t thread;
	atomic_int quit;
	struct flight fl[MAX_INFLIGHT + 1];	/* the last: catalog */
	int nfl;
	int64_t sent_upto;	/* highest seq handed to the network */
	int64_t retry_at;	/* ms: no send before this after a failure */
	int attempts;		/* failures in a row */
	int64_t last_make;	/* ms: when a batch was last made */
	int64_t make_at;	/* ms: when ship_maybe_make wants to run */
	int64_t catalog_at;	/* ms: next catalog refresh */
	int64_t catalog_version;
	pthread_mutex_t mu;
	struct ship_status st;	/* under mu */
};

static void set_status(struct ship_http *s, int connected, const char *err)
{
	pthread_mutex_lock(&s->mu);
	s->st.connected = connected;
	if (err)
		snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", err);
	pthread_mutex_unlock(&s->mu);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct flight *f = arg;
	size_t len = size * n, room = RESP_MAX - 1 - f->rlen;

	if (len > room)
		len = room;
	memcpy(f->resp + f->rlen, p, len);
	f->rlen += len;
	f->resp[f->rlen] = '\0';
	return size * n;
}

static void wake(void *arg)
{
	struct ship_http *s = arg;

	curl_multi_wakeup(s->multi);
}

static int flight_setup(struct ship_http *s, struct flight *f, const char *url)
{
	CURL *h = f->h ? f->h : curl_easy_init();

	if (!h)
		return TLY_ENOMEM;
	f->h = h;
	curl_easy_reset(h);
	f->rlen = 0;
	f->resp[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(h, CURLOPT_PRIVATE, f);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 120000L);
	if (s->o.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, s->o.ca_file);
	return TLY_OK;
}

static int send_batch(struct ship_http *s, struct flight *f, int64_t seq,
		      unsigned char *body, size_t len)
{
	struct curl_slist *h = NULL;

	if (flight_setup(s, f, s->ingest_url) != TLY_OK) {
		free(body);
		return TLY_ENOMEM;
	}
	f->seq = seq;
	f->body = body;
	f->len = len;
	h = curl_slist_append(h, "Content-Type: application/octet-stream");
	if (h)
		h = curl_slist_append(h, "Content-Encoding: deflate");
	if (h && s->auth)
		h = curl_slist_append(h, s->auth);
	if (!h) {
		free(body);
		f->body = NULL;
		return TLY_ENOMEM;
	}
	f->hdrs = h;
	curl_easy_setopt(f->h, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(f->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(f->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_multi_add_handle(s->multi, f->h);
	s->nfl++;
	pthread_mutex_lock(&s->mu);
	s->st.sent++;
	pthread_mutex_unlock(&s->mu);
	return TLY_OK;
}

static void flight_done(struct ship_http *s, struct flight *f)
{
	curl_multi_remove_handle(s->multi, f->h);
	curl_slist_free_all(f->hdrs);
	f->hdrs = NULL;
	free(f->body);
	f->body = NULL;
	if (f->seq > 0)
		s->nfl--;
	f->seq = -1;
}

static struct flight *free_flight(struct ship_http *s)
{
	for (int i = 0; i < s->o.inflight; i++)
		if (s->fl[i].seq < 0)
			return &s->fl[i];
	return NULL;
}

/* Send outbox batches past sent_upto while the window has room. */
static void fill_window(struct ship_http *s, int64_t now)
{
	struct flight *f;

	while (!atomic_load(&s->quit) && now >= s->retry_at &&
	       (f = free_flight(s)) != NULL) {
		unsigned char *body;
		int64_t seq;
		size_t len;

		if (buf_next_batch(s->rd, s->sent_upto, &seq, &body, &len) !=
		    TLY_OK)
			return;
		if (send_batch(s, f, seq, body, len) != TLY_OK)
			return;
		s->sent_upto = seq;
	}
}

static void refused(struct ship_http *s, long code, const char *body)
{
	char msg[200];

	snprintf(msg, sizeof(msg), "collector refused the agent token "
		 "(HTTP %ld): shipping stopped; fix --token and restart", code);
	log_error("ship: %s; events keep buffering (%s)", msg, body);
	pthread_mutex_lock(&s->mu);
	s->st.stopped = 1;
	s->st.connected = 0;
	snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", msg);
	pthread_mutex_unlock(&s->mu);
}

static void failed(struct ship_http *s, struct flight *f, const char *why)
{
	int64_t delay;

	s->attempts++;
	delay = ship_backoff(&s->o, s->attempts);
	s->retry_at = util_now_ms() + delay;
	/* Resend from the oldest failed batch: the collector keys on seq. */
	if (f->seq > 0 && f->seq - 1 < s->sent_upto)
		s->sent_upto = f->seq - 1;
	log_warn("ship: batch %lld not acknowledged: %s; retry in %lld ms",
		 (long long)f->seq, why, (long long)delay);
	set_status(s, 0, why);
	pthread_mutex_lock(&s->mu);
	s->st.failures++;
	pthread_mutex_unlock(&s->mu);
}

static void batch_answer(struct ship_http *s, struct flight *f, CURLcode cc,
			 long code)
{
	char why[200];
	cJSON *ack;
	const cJSON *seq;

	if (cc != CURLE_OK) {
		snprintf(why, sizeof(why), "%s", curl_easy_strerror(cc));
		failed(s, f, why);
		return;
	}
	if (code == 401 || code == 403) {
		refused(s, code, f->resp);
		return;
	}
	ack = code == 200 ? cJSON_Parse(f->resp) : NULL;
	seq = cJSON_GetObjectItemCaseSensitive(ack, "seq");
	if (!cJSON_IsNumber(seq) || (int64_t)seq->valuedouble != f->seq) {
		snprintf(why, sizeof(why), "HTTP %ld %.150s", code, f->resp);
		failed(s, f, why);
	} else if (buf_ack(s->buf, f->seq) == TLY_OK) {
		s->attempts = 0;
		set_status(s, 1, NULL);
		pthread_mutex_lock(&s->mu);
		s->st.acked++;
		pthread_mutex_unlock(&s->mu);
	}
	cJSON_Delete(ack);
}

static void catalog_answer(struct ship_http *s, struct flight *f, CURLcode cc,
			   long code)
{
	if (code == 401 || code == 403)
		refused(s, code, f->resp);
	else if (cc == CURLE_OK && code == 200)
		ship_take_catalog(s->buf, f->resp, &s->catalog_version);
}

static void fetch_catalog(struct ship_http *s, int64_t now)
{
	struct flight *f = &s->fl[MAX_INFLIGHT];
	struct curl_slist *h = NULL;

	if (now < s->catalog_at || f->seq == 0)
		return;
	s->catalog_at = now + s->o.catalog_interval_ms;
	if (flight_setup(s, f, s->catalog_url) != TLY_OK)
		return;
	if (s->auth)
		h = curl_slist_append(NULL, s->auth);
	f->hdrs = h;
	f->seq = 0;
	curl_easy_setopt(f->h, CURLOPT_HTTPHEADER, h);
	curl_multi_add_handle(s->multi, f->h);
}

static void collect(struct ship_http *s)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
		struct flight *f = NULL;
		long code = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (f->seq == 0)
			catalog_answer(s, f, m->data.result, code);
		else
			batch_answer(s, f, m->data.result, code);
		flight_done(s, f);
	}
}

/* How long curl_multi_poll may sleep: a wakeup or a socket cuts it short. */
static int next_wake(struct ship_http *s, int64_t now, int stopped)
{
	int64_t t = stopped ? INT64_MAX : s->make_at;

	if (!stopped && s->retry_at > now && s->retry_at < t)
		t = s->retry_at;
	if (!stopped && s->catalog_at < t)
		t = s->catalog_at;
	if (t - now > 60000)
		return 60000;
	return t - now < 1 ? 1 : (int)(t - now);
}

static void *ship_main(void *arg)
{
	struct ship_http *s = arg;
	int running = 0;

	while (!atomic_load(&s->quit)) {
		int64_t now = util_now_ms();
		int stopped;

		pthread_mutex_lock(&s->mu);
		stopped = s->st.stopped;
		pthread_mutex_unlock(&s->mu);
		if (!stopped) {
			fetch_catalog(s, now);
			s->make_at = ship_maybe_make(s->buf, &s->o, now,
						     &s->last_make);
			fill_window(s, now);
		}
		curl_multi_perform(s->multi, &running);
		collect(s);
		curl_multi_poll(s->multi, NULL, 0, next_wake(s, now, stopped),
				NULL);
		curl_multi_perform(s->multi, &running);
		collect(s);
	}
	return NULL;
}

/* a[0..alen) followed by b, in a new string. */
static char *join(const char *a, size_t alen, const char *b)
{
	size_t n = alen + strlen(b) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%.*s%s", (int)alen, a, b);
	return p;
}

static void ship_free(struct ship_http *s)
{
	for (int i = 0; i <= MAX_INFLIGHT; i++) {
		if (s->fl[i].h) {
			if (s->fl[i].seq >= 0)
				flight_done(s, &s->fl[i]);
			curl_easy_cleanup(s->fl[i].h);
		}
	}
	if (s->multi)
		curl_multi_cleanup(s->multi);
	buf_reader_close(&s->rd);
	pthread_mutex_destroy(&s->mu);
	free(s->ingest_url);
	free(s->catalog_url);
	free(s->auth);
	free(s);
}

static void http_stop(struct ship *base);
static void http_status(struct ship *base, struct ship_status *st);

static const struct ship_ops http_ops = {
	.name = "http",
	.stop = http_stop,
	.status = http_status,
};

int ship_http_start(struct ship **out, struct buf *b,
		    const struct ship_opts *o)
{
	struct ship_http *s = calloc(1, sizeof(*s));
	struct buf_stats st;
	size_t n;

	*out = NULL;
	if (!s)
		return TLY_ENOMEM;
	s->base.ops = &http_ops;
	s->o = *o;
	if (s->o.inflight > MAX_INFLIGHT)
		s->o.inflight = MAX_INFLIGHT;
	s->buf = b;
	pthread_mutex_init(&s->mu, NULL);
	s->st.transport = "http";
	for (int i = 0; i <= MAX_INFLIGHT; i++)
		s->fl[i].seq = -1;
	n = strlen(o->collector);
	while (n && o->collector[n - 1] == '/')
		n--;
	s->ingest_url = join(o->collector, n, "/v1/ingest");
	s->catalog_url = join(o->collector, n, "/v1/catalog");
	s->auth = o->token ? join("Authorization: Bearer ", 22, o->token) :
			     NULL;
	s->multi = curl_multi_init();
	if (!s->ingest_url || !s->catalog_url || (o->token && !s->auth) ||
	    !s->multi || buf_reader_open(b, &s->rd) != TLY_OK)
		goto fail;
	buf_get_stats(b, &st);
	s->sent_upto = st.last_acked_seq;
	s->last_make = util_now_ms();
	buf_on_change(b, wake, s);
	if (pthread_create(&s->thread, NULL, ship_main, s) != 0) {
		buf_on_change(b, NULL, NULL);
		goto fail;
	}
	*out = &s->base;
	return TLY_OK;
fail:
	ship_free(s);
	return TLY_ENOMEM;
}

static void http_stop(struct ship *base)
{
	struct ship_http *s = (struct ship_http *)base;

	buf_on_change(s->buf, NULL, NULL);
	atomic_store(&s->quit, 1);
	curl_multi_wakeup(s->multi);
	pthread_join(s->thread, NULL);
	ship_free(s);
}

static void http_status(struct ship *base, struct ship_status *st)
{
	struct ship_http *s = (struct ship_http *)base;

	pthread_mutex_lock(&s->mu);
	*st = s->st;
	pthread_mutex_unlock(&s->mu);
}
