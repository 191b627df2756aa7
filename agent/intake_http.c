/*
 * intake_http.c - the agent's loopback HTTP server: Lago's event
 * endpoints (so a service using a Lago client points it here and gains
 * offline buffering), and /healthz, /metrics, /v1/status.
 *
 * An event is answered 200 only after buf_put has committed it.  The
 * answers have Lago's shapes; the ids Lago would assign (lago_id,
 * lago_subscription_id) are not known at the edge and are null.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_conf.h"
#include "err.h"
#include "jtext.h"
#include "log.h"
#include "util.h"

int intake_put(struct agent *a, const struct ev_batch *eb, size_t *dups)
{
	int rc = buf_put(a->buf, eb->evs, eb->n, dups);

	if (rc == TLY_EFULL)
		atomic_fetch_add(&a->requests_full, 1);
	else if (rc != TLY_OK)
		log_error("intake: events not stored: %s", tly_strerror(rc));
	return rc;
}

/* Lago's event object, as the agent knows it; now is created_at.  It
 * refers to ev's properties: free it before the batch. */
static cJSON *event_json(const struct event *ev, const char *now)
{
	cJSON *o = cJSON_CreateObject();
	char ts[UTIL_TIME_LEN];
	int bad = !o;

	util_iso_time(ev->ts_ms, 1, ts);
	bad = bad || !cJSON_AddNullToObject(o, "lago_id") ||
	      !cJSON_AddStringToObject(o, "transaction_id", ev->transaction_id) ||
	      !cJSON_AddNullToObject(o, "lago_customer_id") ||
	      !cJSON_AddStringToObject(o, "code", ev->code) ||
	      !cJSON_AddStringToObject(o, "timestamp", ts) ||
	      !(ev->precise_total_amount_cents ?
		cJSON_AddStringToObject(o, "precise_total_amount_cents",
					ev->precise_total_amount_cents) :
		cJSON_AddNullToObject(o, "precise_total_amount_cents")) ||
	      /* A reference: the batch's own properties, not a copy. */
	      !cJSON_AddItemReferenceToObject(o, "properties", ev->props) ||
	      !cJSON_AddNullToObject(o, "lago_subscription_id") ||
	      !(ev->sub ? cJSON_AddStringToObject(o, "external_subscription_id",
						  ev->sub) :
		cJSON_AddNullToObject(o, "external_subscription_id")) ||
	      !cJSON_AddStringToObject(o, "created_at", now);
	if (bad)
		cJSON_Delete(o);
	return bad ? NULL : o;
}

/*
 * Lago's answer: every event echoed.  Each object is built, printed into
 * the answer's text and freed in turn, so a batch's answer never exists
 * as a whole tree (that tree was most of intake's memory under load).
 */
static void answer_events(struct httpd_resp *resp, const struct ev_batch *eb,
			  int batch)
{
	char now[UTIL_TIME_LEN];
	struct jtext t = {0};
	int bad;

	util_iso_time(util_now_ms(), 0, now);
	bad = jtext_put(&t, batch ? "{\"events\":[" : "{\"event\":");
	for (size_t i = 0; !bad && i < eb->n; i++) {
		cJSON *one = event_json(&eb->evs[i], now);

		bad = !one || (i && jtext_put(&t, ",")) || jtext_json(&t, one);
		cJSON_Delete(one);
	}
	if (!bad)
		bad = jtext_put(&t, batch ? "]}" : "}");
	if (bad) {
		jtext_free(&t);
		httpd_error(resp, 500, "out_of_memory", NULL);
		return;
	}
	httpd_body_take(resp, 200, "application/json; charset=utf-8", t.p,
			t.len);
}

/* 507: nothing of the request was stored; the sender should retry. */
static void answer_full(struct httpd_resp *resp)
{
	static const char body[] =
		"{\"status\":507,\"error\":\"Insufficient Storage\","
		"\"code\":\"buffer_full\",\"message\":\"the agent's buffer is "
		"full (buffer.max_bytes): nothing of this request was stored; "
		"retry after the agent has shipped to the collector\"}";

	httpd_body(resp, 507, "application/json", body, sizeof(body) - 1);
}

static void take(struct httpd_req *req, struct httpd_resp *resp,
		 enum ev_shape shape)
{
	struct agent *a = req->app;
	struct ev_batch eb;
	struct ev_errs errs;
	size_t dups = 0;
	char *body;
	int rc;

	rc = ev_parse(req->body, req->body_len, shape,
		      shape == EV_SHAPE_BATCH ? a->batch_max : 0,
		      util_now_ms(), &eb, &errs);
	if (rc == TLY_EINVAL) {
		atomic_fetch_add(&a->requests_invalid, 1);
		body = ev_errs_json(&errs);
		if (body)
			httpd_body_take(resp, 422, "application/json", body,
					strlen(body));
		else
			httpd_error(resp, 500, "out_of_memory", NULL);
		return;
	}
	if (rc != TLY_OK) {
		httpd_error(resp, 500, "out_of_memory", NULL);
		return;
	}
	rc = intake_put(a, &eb, &dups);
	if (rc == TLY_EFULL)
		answer_full(resp);
	else if (rc != TLY_OK)
		httpd_error(resp, 500, "buffer_failed", NULL);
	else
		answer_events(resp, &eb, shape == EV_SHAPE_BATCH);
	ev_batch_free(&eb);
}

static void post_event(struct httpd_req *req, struct httpd_resp *resp)
{
	take(req, resp, EV_SHAPE_SINGLE);
}

static void post_batch(struct httpd_req *req, struct httpd_resp *resp)
{
	take(req, resp, EV_SHAPE_BATCH);
}

static void healthz(struct httpd_req *req, struct httpd_resp *resp)
{
	(void)req;
	httpd_body(resp, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

static void status(struct httpd_req *req, struct httpd_resp *resp)
{
	struct agent *a = req->app;
	struct buf_stats bs;
	struct ship_status ss = {0};
	cJSON *o = cJSON_CreateObject();

	buf_get_stats(a->buf, &bs);
	if (a->ship)
		ship_get_status(a->ship, &ss);
	if (!o) {
		httpd_json(resp, 500, NULL);
		return;
	}
#define NUM(k, v) cJSON_AddNumberToObject(o, k, (double)(v))
	NUM("buffered_events", bs.buffered_events);
	NUM("outbox_batches", bs.outbox_batches);
	NUM("outbox_bytes", bs.outbox_bytes);
	NUM("last_acked_seq", bs.last_acked_seq);
	cJSON_AddStringToObject(o, "transport",
				ss.transport ? ss.transport : "none");
	cJSON_AddBoolToObject(o, "connected", ss.connected);
	NUM("pending_events", bs.pending_events);
	NUM("buffer_bytes", bs.bytes);
	NUM("buffer_max_bytes", conf_int(a->conf, AK_BUF_MAX_BYTES));
	NUM("accepted_events", bs.accepted_total);
	NUM("duplicate_events", bs.duplicate_total);
	NUM("dropped_events", bs.dropped_total);
	NUM("batches_sent", ss.sent);
	NUM("batches_acked", ss.acked);
	NUM("ship_failures", ss.failures);
	cJSON_AddBoolToObject(o, "shipping_stopped", ss.stopped);
	cJSON_AddStringToObject(o, "last_error", ss.last_error);
#undef NUM
	httpd_json(resp, 200, o);
}

#define METRIC(buf, n, cap, ...) \
	do { \
		int w_ = snprintf((buf) + (n), (cap) - (n), __VA_ARGS__); \
		if (w_ > 0 && (size_t)w_ < (cap) - (n)) \
			(n) += (size_t)w_; \
	} while (0)

static void metrics(struct httpd_req *req, struct httpd_resp *resp)
{
	struct agent *a = req->app;
	struct buf_stats bs;
	struct ship_status ss = {0};
	size_t n = 0, cap = 4096;
	char *b = malloc(cap);

	if (!b) {
		httpd_error(resp, 500, "out_of_memory", NULL);
		return;
	}
	buf_get_stats(a->buf, &bs);
	if (a->ship)
		ship_get_status(a->ship, &ss);
	METRIC(b, n, cap,
	       "# TYPE tally_agent_events_total counter\n"
	       "tally_agent_events_total{result=\"accepted\"} %lld\n"
	       "tally_agent_events_total{result=\"duplicate\"} %lld\n"
	       "tally_agent_events_total{result=\"dropped\"} %lld\n"
	       "# TYPE tally_agent_buffered_events gauge\n"
	       "tally_agent_buffered_events %lld\n"
	       "# TYPE tally_agent_buffer_bytes gauge\n"
	       "tally_agent_buffer_bytes %lld\n"
	       "# TYPE tally_agent_outbox_batches gauge\n"
	       "tally_agent_outbox_batches %lld\n",
	       (long long)bs.accepted_total, (long long)bs.duplicate_total,
	       (long long)bs.dropped_total, (long long)bs.buffered_events,
	       (long long)bs.bytes, (long long)bs.outbox_batches);
	METRIC(b, n, cap,
	       "# TYPE tally_agent_batches_total counter\n"
	       "tally_agent_batches_total{result=\"sent\"} %llu\n"
	       "tally_agent_batches_total{result=\"acked\"} %llu\n"
	       "tally_agent_batches_total{result=\"failed\"} %llu\n"
	       "# TYPE tally_agent_requests_refused_total counter\n"
	       "tally_agent_requests_refused_total{reason=\"full\"} %llu\n"
	       "tally_agent_requests_refused_total{reason=\"invalid\"} %llu\n"
	       "# TYPE tally_agent_last_acked_seq gauge\n"
	       "tally_agent_last_acked_seq %lld\n",
	       (unsigned long long)ss.sent, (unsigned long long)ss.acked,
	       (unsigned long long)ss.failures,
	       (unsigned long long)atomic_load(&a->requests_full),
	       (unsigned long long)atomic_load(&a->requests_invalid),
	       (long long)bs.last_acked_seq);
	httpd_body_take(resp, 200, "text/plain; version=0.0.4", b, n);
}

static const struct httpd_route routes[] = {
	{"POST", "/api/v1/events", post_event, NULL},
	{"POST", "/api/v1/events/batch", post_batch, NULL},
	{"GET", "/healthz", healthz, NULL},
	{"GET", "/metrics", metrics, NULL},
	{"GET", "/v1/status", status, NULL},
};

int intake_http_start(struct agent *a)
{
	struct httpd_opts o = {0};
	char host[256];
	int port, rc;

	if (conf_split_hostport(conf_str(a->conf, AK_LISTEN), host,
				sizeof(host), &port) != TLY_OK)
		return TLY_ECONFIG;
	o.host = host;
	o.port = port;
	/* Each request waits for the commit that holds its events: a
	 * thread apiece keeps every sender's next request parsing. */
	o.per_connection = 64;
	o.max_body = (size_t)conf_int(a->conf, AK_INTAKE_MAX_BODY);
	o.routes = routes;
	o.nroutes = sizeof(routes) / sizeof(routes[0]);
	o.app = a;
	rc = httpd_start(&a->http, &o);
	if (rc == TLY_OK)
		log_info("intake on http://%s:%d", host, httpd_port(a->http));
	return rc;
}

void intake_http_stop(struct agent *a)
{
	httpd_stop(&a->http);
}
