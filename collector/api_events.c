/*
 * api_events.c - /api/v1/events: Lago's event intake, one event or a
 * batch of up to co->events_batch_max taken all or nothing, and the
 * lookup of an event by its transaction id.
 *
 * ev_parse validates (with Lago's codes and 422 bodies) and ingest_event
 * stores, the path agents' raw events take as well: one table and one
 * rule for both.  A (subscription, transaction_id) seen before is
 * answered 200 with the event as stored and changes nothing, where Lago
 * answers 422 value_already_exist: a client's retry is a success
 * (DESIGN.md, Events).  As in Lago, an event of an unknown metric or
 * subscription is taken; lago_subscription_id and lago_customer_id name
 * the event's subscription, when there is one (see owners).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "err.h"
#include "event.h"
#include "evkey.h"
#include "ingest.h"
#include "jtext.h"
#include "util.h"

/* ---- Lago's event object ------------------------------------------- */

#define EV_COLS \
	"lago_id, transaction_id, code, ts_ms, precise_total_amount_cents, " \
	"properties, sub, customer, created_at"

enum {
	C_ID, C_TX, C_CODE, C_TS, C_AMOUNT, C_PROPS, C_SUB, C_CUST, C_CREATED
};

/* The live customer with external id ext, into cust_id. */
static int customer_of(struct store_conn *c, const char *ext,
		       char cust_id[UTIL_UUID_LEN])
{
	static const char *const sql =
		"SELECT lago_id FROM customers "
		"WHERE external_id = ? AND deleted_at IS NULL";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, ext);
	rc = store_step(st);
	if (rc == STORE_ROW)
		snprintf(cust_id, UTIL_UUID_LEN, "%s", store_col_text(st, 0));
	store_reset(st);
	return rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
}

#define OWNER_NULL INT64_MIN	/* a NULL time: sorts first, as in SQL */

/* One subscription of an external id, as owners_pick weighs it. */
struct owner {
	char sub_id[UTIL_UUID_LEN];	/* its lago_id */
	char cust_id[UTIL_UUID_LEN];	/* its customer's lago_id */
	int active;			/* status = 'active' */
	int64_t started, terminated;	/* Unix ms, or OWNER_NULL */
};

/* Every subscription of one external id, loaded once per request. */
struct owners {
	const char *sub;		/* the external id */
	struct owner *v;		/* n of them, in rowid order */
	size_t n;
};

static void owners_free(struct owners *o)
{
	free(o->v);
	o->v = NULL;
	o->n = 0;
}

static int64_t col_time(struct store_stmt *st, int i)
{
	return store_col_null(st, i) ? OWNER_NULL : store_col_i64(st, i);
}

/* Load every subscription of external id sub into o. */
static int owners_load(struct store_conn *c, const char *sub,
		       struct owners *o)
{
	static const char *const sql =
		"SELECT lago_id, customer_id, status = 'active', started_at, "
		"terminated_at FROM subscriptions WHERE external_id = ? "
		"ORDER BY rowid";
	struct store_stmt *st = NULL;
	size_t cap = 0;
	int rc = store_prepare(c, sql, &st);

	memset(o, 0, sizeof(*o));
	o->sub = sub;
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, sub);
	while ((rc = store_step(st)) == STORE_ROW) {
		struct owner *w;

		if (o->n == cap) {
			cap = cap ? 2 * cap : 2;
			w = realloc(o->v, cap * sizeof(*w));
			if (!w) {
				rc = TLY_ENOMEM;
				break;
			}
			o->v = w;
		}
		w = &o->v[o->n++];
		snprintf(w->sub_id, sizeof(w->sub_id), "%s",
			 store_col_text(st, 0));
		snprintf(w->cust_id, sizeof(w->cust_id), "%s",
			 store_col_text(st, 1));
		w->active = store_col_i64(st, 2) != 0;
		w->started = col_time(st, 3);
		w->terminated = col_time(st, 4);
	}
	store_reset(st);
	if (rc == STORE_DONE)
		return TLY_OK;
	owners_free(o);
	return rc;
}

/* Whether w ran at time ts: started by then, not terminated before. */
static int owner_covers(const struct owner *w, int64_t ts)
{
	return w->started != OWNER_NULL && w->started <= ts &&
	       (w->terminated == OWNER_NULL || w->terminated >= ts);
}

/*
 * Whether a ranks before b: covering ts first, then not terminated, then
 * the later terminated, then the later started (a NULL time last).
 */
static int owner_before(const struct owner *a, const struct owner *b,
			int64_t ts)
{
	int ca = owner_covers(a, ts), cb = owner_covers(b, ts);
	int ta = a->terminated == OWNER_NULL, tb = b->terminated == OWNER_NULL;

	if (ca != cb)
		return ca;
	if (ta != tb)
		return ta;
	if (a->terminated != b->terminated)
		return a->terminated > b->terminated;
	return a->started > b->started;
}

/*
 * The subscription of an event at time ts among o's, or NULL: the one
 * that covers ts (Lago's PostProcessService: started at or before ts,
 * not terminated before it; the live one first, then the latest), else
 * the live one (an event stamped in whole seconds may come just before
 * its subscription's start).
 */
static const struct owner *owners_pick(const struct owners *o, int64_t ts)
{
	const struct owner *best = NULL;

	for (size_t i = 0; i < o->n; i++) {
		const struct owner *w = &o->v[i];

		if (!w->active && !owner_covers(w, ts))
			continue;
		if (!best || owner_before(w, best, ts))
			best = w;
	}
	return best;
}

/* Fill sub_id and cust_id from w; both empty when w is NULL. */
static void owner_ids(const struct owner *w, char sub_id[UTIL_UUID_LEN],
		      char cust_id[UTIL_UUID_LEN])
{
	sub_id[0] = cust_id[0] = '\0';
	if (w) {
		memcpy(sub_id, w->sub_id, UTIL_UUID_LEN);
		memcpy(cust_id, w->cust_id, UTIL_UUID_LEN);
	}
}

/*
 * The subscription of an event and its customer (owners_pick), or for an
 * event keyed by customer alone, that customer.  Both ids stay empty when
 * there is none.
 */
static int owners(struct store_conn *c, const char *sub, const char *cust,
		  int64_t ts, char sub_id[UTIL_UUID_LEN],
		  char cust_id[UTIL_UUID_LEN])
{
	struct owners o;
	int rc;

	sub_id[0] = cust_id[0] = '\0';
	if (!sub)
		return cust ? customer_of(c, cust, cust_id) : TLY_OK;
	rc = owners_load(c, sub, &o);
	if (rc == TLY_OK)
		owner_ids(owners_pick(&o, ts), sub_id, cust_id);
	owners_free(&o);
	return rc;
}

/* The fields of Lago's event object, from a row or from memory. */
struct ev_view {
	const char *lago_id, *tx, *code, *amount, *sub, *sub_id, *cust_id;
	int64_t ts_ms, created_ms;	/* Unix ms */
	cJSON *props;			/* consumed by event_obj */
};

/* Lago's event object (EventSerializer); NULL when out of memory. */
static cJSON *event_obj(struct ev_view *v)
{
	char ts[UTIL_TIME_LEN];
	cJSON *o = cJSON_CreateObject(), *props = v->props;

	v->props = NULL;
	util_iso_time(v->ts_ms, 1, ts);
	if (!o || api_put_str(o, "lago_id", v->lago_id) ||
	    api_put_str(o, "transaction_id", v->tx) ||
	    api_put_str(o, "lago_customer_id",
			v->cust_id[0] ? v->cust_id : NULL) ||
	    api_put_str(o, "code", v->code) ||
	    api_put_str(o, "timestamp", ts) ||
	    api_put_str(o, "precise_total_amount_cents", v->amount))
		goto fail;
	/* put_item takes props, even when it fails. */
	if (api_put(o, "properties", props)) {
		props = NULL;
		goto fail;
	}
	props = NULL;
	if (api_put_str(o, "lago_subscription_id",
			v->sub_id[0] ? v->sub_id : NULL) ||
	    api_put_str(o, "external_subscription_id", v->sub) ||
	    api_put_time(o, "created_at", v->created_ms))
		goto fail;
	return o;
fail:
	cJSON_Delete(props);
	cJSON_Delete(o);
	return NULL;
}

/* Lago's event object of the row at st. */
/* A request's events, stored by events_run in a store_write job. */
struct ev_req {
	struct evkey *ek;
	const struct ev_batch *b;
	struct ev_row *rows;		/* b->n of them */
	struct owners *subs;		/* room for b->n: one load per */
	size_t nsubs;			/* external id of the request */
	size_t inserted;		/* events new to the store */
	struct ingest_late late;
};

/*
 * owners(), each external id loaded once per request r (NULL: no
 * request, as for GET).
 */
static int req_owners(struct store_conn *c, struct ev_req *r,
		      const char *sub, const char *cust, int64_t ts,
		      char sub_id[UTIL_UUID_LEN], char cust_id[UTIL_UUID_LEN])
{
	struct owners *o = NULL;
	int rc;

	if (!r || !sub)
		return owners(c, sub, cust, ts, sub_id, cust_id);
	/* Newest first: a batch's events tend to come grouped. */
	for (size_t i = r->nsubs; !o && i-- > 0;)
		if (strcmp(r->subs[i].sub, sub) == 0)
			o = &r->subs[i];
	if (!o) {
		rc = owners_load(c, sub, &r->subs[r->nsubs]);
		if (rc != TLY_OK)
			return rc;
		o = &r->subs[r->nsubs++];
	}
	owner_ids(owners_pick(o, ts), sub_id, cust_id);
	return TLY_OK;
}

static cJSON *event_json(struct store_conn *c, struct ev_req *r,
			 struct store_stmt *st)
{
	char sub_id[UTIL_UUID_LEN], cust_id[UTIL_UUID_LEN];
	struct ev_view v = {
		.lago_id = store_col_text(st, C_ID),
		.tx = store_col_text(st, C_TX),
		.code = store_col_text(st, C_CODE),
		.amount = store_col_text(st, C_AMOUNT),
		.sub = store_col_text(st, C_SUB),
		.sub_id = sub_id, .cust_id = cust_id,
		.ts_ms = store_col_i64(st, C_TS),
		.created_ms = store_col_i64(st, C_CREATED),
	};

	/* owners runs other statements: st's columns stay valid. */
	if (req_owners(c, r, v.sub, store_col_text(st, C_CUST), v.ts_ms,
		       sub_id, cust_id) != TLY_OK)
		return NULL;
	v.props = cJSON_Parse(store_col_text(st, C_PROPS));
	return v.props ? event_obj(&v) : NULL;
}

/* Event id as stored, as Lago's object (r: the request's owners cache). */
static int event_stored(struct store_conn *c, struct ev_req *r, int64_t id,
			cJSON **out)
{
	static const char *const sql =
		"SELECT " EV_COLS " FROM events WHERE id = ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	*out = NULL;
	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, id);
	rc = store_step(st);
	if (rc == STORE_ROW)
		*out = event_json(c, r, st);
	store_reset(st);
	if (rc != STORE_ROW)
		return rc == STORE_DONE ? TLY_ENOTFOUND : rc;
	return *out ? TLY_OK : TLY_ENOMEM;
}

/* ---- Intake ---------------------------------------------------------- */

/*
 * Parse the body as shape; on failure answer Lago's 422 (or 500) and
 * return non-zero.
 */
static int parse(struct api_ctx *x, enum ev_shape shape, size_t max,
		 struct ev_batch *b)
{
	struct ev_errs errs;
	char *body;
	int rc = ev_parse(x->req->body, x->req->body_len, shape, max,
			  ev_now_ms(), b, &errs);

	if (rc == TLY_OK)
		return 0;
	body = rc == TLY_EINVAL ? ev_errs_json(&errs) : NULL;
	if (body)
		httpd_body_take(x->resp, 422, "application/json; charset=utf-8",
				body, strlen(body));
	else
		httpd_error(x->resp, 500, "out_of_memory", NULL);
	return 1;
}

/* What the answer shows of one event beyond what was sent. */
struct ev_row {
	struct ingest_ev e;		/* new: its lago_id and created_at */
	char sub_id[UTIL_UUID_LEN];	/* new: its owners (see owners) */
	char cust_id[UTIL_UUID_LEN];
	cJSON *stored;			/* a repeat: the event as stored */
};

static void req_subs_free(struct ev_req *r)
{
	for (size_t i = 0; i < r->nsubs; i++)
		owners_free(&r->subs[i]);
	r->nsubs = 0;
}

/*
 * The job: insert each event, and read what its answer needs while the
 * rows are at hand (a repeat's answer is the event as first stored).
 */
static int events_run(struct store_conn *c, void *arg)
{
	struct ev_req *r = arg;
	int rc = TLY_OK;

	/* A round may run its jobs again (store_job): start afresh. */
	r->inserted = 0;
	memset(&r->late, 0, sizeof(r->late));
	req_subs_free(r);
	for (size_t i = 0; i < r->b->n; i++) {
		cJSON_Delete(r->rows[i].stored);
		memset(&r->rows[i], 0, sizeof(r->rows[i]));
	}
	for (size_t i = 0; rc == TLY_OK && i < r->b->n; i++) {
		const struct event *ev = &r->b->evs[i];
		struct ev_row *row = &r->rows[i];

		rc = ingest_event(c, r->ek, ev, "api", &row->e, &r->late);
		if (rc != TLY_OK)
			break;
		if (row->e.inserted) {
			r->inserted++;
			rc = req_owners(c, r, ev->sub, ev->customer,
					ev->ts_ms, row->sub_id, row->cust_id);
		} else {
			rc = event_stored(c, r, row->e.id, &row->stored);
		}
	}
	return rc;
}

/* Lago's object of event i of r: as stored if a repeat, else as sent. */
static cJSON *row_json(struct ev_req *r, size_t i)
{
	const struct event *ev = &r->b->evs[i];
	struct ev_row *row = &r->rows[i];
	struct ev_view v = {
		.lago_id = row->e.lago_id, .tx = ev->transaction_id,
		.code = ev->code, .amount = ev->precise_total_amount_cents,
		.sub = ev->sub, .sub_id = row->sub_id, .cust_id = row->cust_id,
		.ts_ms = ev->ts_ms, .created_ms = row->e.created_ms,
	};
	cJSON *o = row->stored;

	if (o) {
		row->stored = NULL;
		return o;
	}
	/* A reference to the batch's properties: the object is printed
	 * and freed before the batch. */
	v.props = cJSON_CreateObjectReference(ev->props->child);
	return v.props ? event_obj(&v) : NULL;
}

/*
 * Parse the body, store its events durably through the group commit, and
 * answer Lago's event object (single) or list of them (batch), in the
 * order sent.  A store failure stores nothing and answers 500.
 */
static void take(struct api_ctx *x, enum ev_shape shape, size_t max)
{
	struct ev_batch b;
	struct ev_req r = {0};
	struct store_job j = {.run = events_run, .arg = &r};
	struct jtext t = {0};
	cJSON *o;
	int rc;

	if (parse(x, shape, max, &b))
		return;
	r.ek = x->co->evkey;
	r.b = &b;
	r.rows = calloc(b.n, sizeof(*r.rows));
	r.subs = calloc(b.n, sizeof(*r.subs));
	rc = r.rows && r.subs ? store_write(x->co->store, &j) : TLY_ENOMEM;
	req_subs_free(&r);
	free(r.subs);
	if (rc == TLY_OK) {
		COLL_INC(x->co, api_events, r.inserted);
		ingest_late_done(x->co, &r.late);
		if (jtext_put(&t, shape == EV_SHAPE_BATCH ? "{\"events\":[" :
			      "{\"event\":"))
			rc = TLY_ENOMEM;
	}
	/* Each object is printed and freed in turn (jtext.h). */
	for (size_t i = 0; rc == TLY_OK && i < b.n; i++) {
		o = row_json(&r, i);
		if (!o || (i && jtext_put(&t, ",")) || jtext_json(&t, o))
			rc = TLY_ENOMEM;
		cJSON_Delete(o);
	}
	if (rc == TLY_OK && jtext_put(&t, shape == EV_SHAPE_BATCH ? "]}" : "}"))
		rc = TLY_ENOMEM;
	if (rc == TLY_OK) {
		httpd_body_take(x->resp, 200, "application/json; charset=utf-8",
				t.p, t.len);
	} else {
		jtext_free(&t);
		api_store_failed(x);
	}
	for (size_t i = 0; r.rows && i < b.n; i++)
		cJSON_Delete(r.rows[i].stored);
	free(r.rows);
	ev_batch_free(&b);
}

void api_events_create(struct api_ctx *x)
{
	take(x, EV_SHAPE_SINGLE, 0);
}

void api_events_batch(struct api_ctx *x)
{
	take(x, EV_SHAPE_BATCH, x->co->events_batch_max);
}

/*
 * The latest stored of the events ids (created_at, then lago_id), in
 * *best; 0 if none.
 */
static int latest_of(struct store_conn *c, const int64_t *ids, size_t n,
		     int64_t *best)
{
	static const char *const sql =
		"SELECT created_at, lago_id FROM events WHERE id = ?";
	char best_lago[UTIL_UUID_LEN] = "";
	int64_t best_at = INT64_MIN;
	struct store_stmt *st = NULL;
	int rc = TLY_OK;

	*best = 0;
	for (size_t i = 0; rc == TLY_OK && i < n; i++) {
		const char *lago;
		int64_t at;

		rc = store_prepare(c, sql, &st);
		if (rc != TLY_OK)
			break;
		store_bind_i64(st, 1, ids[i]);
		rc = store_step(st);
		if (rc == STORE_ROW) {
			at = store_col_i64(st, 0);
			lago = store_col_text(st, 1);
			if (lago && (at > best_at || (at == best_at &&
			    strcmp(lago, best_lago) > 0))) {
				best_at = at;
				snprintf(best_lago, sizeof(best_lago), "%s",
					 lago);
				*best = ids[i];
			}
		}
		store_reset(st);
		rc = rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
	}
	return rc;
}

/*
 * GET /events/:transaction_id.  Lago's transaction ids are unique per
 * organization; ours per subscription, so the latest stored wins.
 */
void api_events_get(struct api_ctx *x)
{
	int64_t *ids = NULL, best = 0;
	cJSON *out = NULL;
	size_t n = 0;
	int rc = evkey_tx_ids(x->co->evkey, x->c, x->req->cap[0], &ids, &n);

	if (rc == TLY_OK)
		rc = latest_of(x->c, ids, n, &best);
	free(ids);
	if (rc == TLY_OK && best)
		rc = event_stored(x->c, NULL, best, &out);
	if (rc == TLY_OK && !best)
		api_not_found(x, "event");
	else if (rc == TLY_OK)
		api_send(x, "event", out);
	else
		api_store_failed(x);
}
