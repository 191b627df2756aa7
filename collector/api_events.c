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
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "err.h"
#include "event.h"
#include "ingest.h"
#include "util.h"

/* Room for the events table's sub_key of an event. */
#define EV_KEY_LEN (EV_ID_MAX + 16)

/*
 * The event's key in the events table (schema: "sub_key is the
 * subscription, or 'customer:'||id"), as ingest_event writes it.
 */
static void event_key(const struct event *ev, char key[EV_KEY_LEN])
{
	if (ev->sub)
		snprintf(key, EV_KEY_LEN, "%s", ev->sub);
	else
		snprintf(key, EV_KEY_LEN, "customer:%s", ev->customer);
}

/* ---- Lago's event object ------------------------------------------- */

#define EV_COLS \
	"lago_id, transaction_id, code, ts_ms, precise_total_amount_cents, " \
	"properties, sub, customer, created_at"

enum {
	C_ID, C_TX, C_CODE, C_TS, C_AMOUNT, C_PROPS, C_SUB, C_CUST, C_CREATED
};

/* The live customer with external id ext, into cust_id. */
static int customer_of(struct api_ctx *x, const char *ext,
		       char cust_id[UTIL_UUID_LEN])
{
	static const char *const sql =
		"SELECT lago_id FROM customers "
		"WHERE external_id = ? AND deleted_at IS NULL";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, ext);
	rc = store_step(st);
	if (rc == STORE_ROW)
		snprintf(cust_id, UTIL_UUID_LEN, "%s", store_col_text(st, 0));
	store_reset(st);
	return rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
}

/* A subscription that covers a time: binds it twice. */
#define COVERS \
	"started_at <= ? AND (terminated_at IS NULL OR terminated_at >= ?)"

/*
 * The subscription of an event and its customer: among those with
 * external id sub, the one that covers time ts (Lago's
 * PostProcessService: started at or before ts, not terminated before
 * it; the live one first, then the latest), else the live one (an event
 * stamped in whole seconds may come just before its subscription's
 * start).  Both ids stay empty when there is none.
 */
static int owners(struct api_ctx *x, const char *sub, const char *cust,
		  int64_t ts, char sub_id[UTIL_UUID_LEN],
		  char cust_id[UTIL_UUID_LEN])
{
	static const char *const sql =
		"SELECT lago_id, customer_id FROM subscriptions "
		"WHERE external_id = ? AND (status = 'active' OR " COVERS ") "
		"ORDER BY CASE WHEN " COVERS " THEN 0 ELSE 1 END, "
		"CASE WHEN terminated_at IS NULL THEN 0 ELSE 1 END, "
		"terminated_at DESC, started_at DESC LIMIT 1";
	struct store_stmt *st = NULL;
	int rc;

	sub_id[0] = cust_id[0] = '\0';
	if (!sub)
		return cust ? customer_of(x, cust, cust_id) : TLY_OK;
	rc = store_prepare(x->c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, sub);
	for (int i = 2; i <= 5; i++)
		store_bind_i64(st, i, ts);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		snprintf(sub_id, UTIL_UUID_LEN, "%s", store_col_text(st, 0));
		snprintf(cust_id, UTIL_UUID_LEN, "%s", store_col_text(st, 1));
	}
	store_reset(st);
	return rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
}

/* o[key] = item; 0, or -1 (item freed) when out of memory. */
static int put_item(cJSON *o, const char *key, cJSON *item)
{
	if (item && cJSON_AddItemToObject(o, key, item))
		return 0;
	cJSON_Delete(item);
	return -1;
}

/* Lago's event object (EventSerializer) of the row at st. */
static cJSON *event_json(struct api_ctx *x, struct store_stmt *st)
{
	char sub_id[UTIL_UUID_LEN], cust_id[UTIL_UUID_LEN];
	char ts[UTIL_TIME_LEN];
	const char *sub = store_col_text(st, C_SUB);
	cJSON *o;
	int64_t ms = store_col_i64(st, C_TS);

	if (owners(x, sub, store_col_text(st, C_CUST), ms, sub_id,
		   cust_id) != TLY_OK)
		return NULL;
	util_iso_time(ms, 1, ts);
	o = cJSON_CreateObject();
	if (!o || api_put_str(o, "lago_id", store_col_text(st, C_ID)) ||
	    api_put_str(o, "transaction_id", store_col_text(st, C_TX)) ||
	    api_put_str(o, "lago_customer_id", cust_id[0] ? cust_id : NULL) ||
	    api_put_str(o, "code", store_col_text(st, C_CODE)) ||
	    api_put_str(o, "timestamp", ts) ||
	    api_put_str(o, "precise_total_amount_cents",
			store_col_text(st, C_AMOUNT)) ||
	    put_item(o, "properties",
		     cJSON_Parse(store_col_text(st, C_PROPS))) ||
	    api_put_str(o, "lago_subscription_id", sub_id[0] ? sub_id : NULL) ||
	    api_put_str(o, "external_subscription_id", sub) ||
	    api_put_time(o, "created_at", store_col_i64(st, C_CREATED))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The stored event of ev's key and transaction id, as Lago's object. */
static int event_stored(struct api_ctx *x, const struct event *ev,
			cJSON **out)
{
	static const char *const sql =
		"SELECT " EV_COLS " FROM events "
		"WHERE sub_key = ? AND transaction_id = ?";
	struct store_stmt *st = NULL;
	char key[EV_KEY_LEN];
	int rc = store_prepare(x->c, sql, &st);

	*out = NULL;
	if (rc != TLY_OK)
		return rc;
	event_key(ev, key);
	store_bind_text(st, 1, key);
	store_bind_text(st, 2, ev->transaction_id);
	rc = store_step(st);
	if (rc == STORE_ROW)
		*out = event_json(x, st);
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

/* Store b's events in one transaction; *inserted counts the new ones. */
static int store_events(struct api_ctx *x, const struct ev_batch *b,
			size_t *inserted)
{
	struct ingest_late late = {0};
	int rc = store_begin(x->c), ins = 0;

	*inserted = 0;
	for (size_t i = 0; rc == TLY_OK && i < b->n; i++) {
		rc = ingest_event(x->c, &b->evs[i], "api", &ins, &late);
		*inserted += ins != 0;
	}
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc != TLY_OK) {
		store_rollback(x->c);
		*inserted = 0;
		return rc;
	}
	ingest_late_done(x->co, &late);
	return rc;
}

void api_events_create(struct api_ctx *x)
{
	struct ev_batch b;
	size_t inserted;
	cJSON *out = NULL;
	int rc;

	if (parse(x, EV_SHAPE_SINGLE, 0, &b))
		return;
	rc = store_events(x, &b, &inserted);
	COLL_INC(x->co, api_events, inserted);
	if (rc == TLY_OK)
		rc = event_stored(x, &b.evs[0], &out);
	if (rc == TLY_OK)
		api_send(x, "event", out);
	else
		api_store_failed(x);
	ev_batch_free(&b);
}

/* The stored events of b, in b's order. */
static cJSON *events_json(struct api_ctx *x, const struct ev_batch *b)
{
	cJSON *list = cJSON_CreateArray(), *ev;

	for (size_t i = 0; list && i < b->n; i++) {
		if (event_stored(x, &b->evs[i], &ev) != TLY_OK ||
		    !cJSON_AddItemToArray(list, ev)) {
			cJSON_Delete(ev);
			cJSON_Delete(list);
			list = NULL;
		}
	}
	return list;
}

void api_events_batch(struct api_ctx *x)
{
	struct ev_batch b;
	size_t inserted;
	cJSON *out;

	if (parse(x, EV_SHAPE_BATCH, x->co->events_batch_max, &b))
		return;
	if (store_events(x, &b, &inserted) != TLY_OK) {
		api_store_failed(x);
		goto out;
	}
	COLL_INC(x->co, api_events, inserted);
	out = events_json(x, &b);
	if (out)
		api_send(x, "events", out);
	else
		api_store_failed(x);
out:
	ev_batch_free(&b);
}

/*
 * GET /events/:transaction_id.  Lago's transaction ids are unique per
 * organization; ours per subscription, so the latest stored wins.
 */
void api_events_get(struct api_ctx *x)
{
	static const char *const sql =
		"SELECT " EV_COLS " FROM events WHERE transaction_id = ? "
		"ORDER BY created_at DESC, lago_id DESC LIMIT 1";
	struct store_stmt *st = NULL;
	cJSON *out = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK) {
		api_store_failed(x);
		return;
	}
	store_bind_text(st, 1, x->req->cap[0]);
	rc = store_step(st);
	if (rc == STORE_ROW)
		out = event_json(x, st);
	store_reset(st);
	if (rc == STORE_DONE)
		api_not_found(x, "event");
	else if (out)
		api_send(x, "event", out);
	else
		api_store_failed(x);
}
