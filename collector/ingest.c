/*
 * ingest.c - apply agents' batches (see ingest.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "catalog.h"
#include "dec.h"
#include "err.h"
#include "ingest.h"
#include "log.h"
#include "util.h"

#define DEC_TEXT_MAX 512	/* a merged decimal as text */

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct wire_kv *)a)->key,
		      ((const struct wire_kv *)b)->key);
}

/* The filter values as JSON with sorted keys: one text per combination. */
static char *canonical_filters(const struct wire_agg *a)
{
	struct wire_kv sorted[64];
	cJSON *o;
	char *text;
	size_t n = a->nfilters;

	if (n > sizeof(sorted) / sizeof(sorted[0]))
		return NULL;
	if (n)
		memcpy(sorted, a->filters, n * sizeof(sorted[0]));
	qsort(sorted, n, sizeof(sorted[0]), kv_cmp);
	o = cJSON_CreateObject();
	for (size_t i = 0; o && i < n; i++)
		if (!cJSON_AddStringToObject(o, sorted[i].key, sorted[i].val)) {
			cJSON_Delete(o);
			o = NULL;
		}
	text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return text;
}

/*
 * out = old (op) new, as normalised text; either side may be NULL.
 * op '+' adds, 'M' keeps the larger.
 */
static int merge_dec(const char *old, const char *new, int op,
		     char out[DEC_TEXT_MAX])
{
	dec_t a, b;
	int rc = TLY_OK;

	if (!old || !new) {
		snprintf(out, DEC_TEXT_MAX, "%s", old ? old : new);
		return TLY_OK;
	}
	dec_init(&a);
	dec_init(&b);
	if (dec_parse_str(&a, old) != TLY_OK ||
	    dec_parse_str(&b, new) != TLY_OK) {
		rc = TLY_EINVAL;
		goto out;
	}
	if (op == '+')
		dec_add(&a, &a, &b);
	else if (dec_cmp(&b, &a) > 0)
		dec_set(&a, &b);
	dec_normalize(&a);
	rc = dec_format(&a, out, DEC_TEXT_MAX);
out:
	dec_clear(&a);
	dec_clear(&b);
	return rc;
}

/* The row merged so far for one usage key, read before the upsert. */
struct usage_row {
	int found;
	int64_t count;
	char sum[DEC_TEXT_MAX], max[DEC_TEXT_MAX], latest[DEC_TEXT_MAX];
	int has_sum, has_max, has_latest;
	int64_t latest_ts;
};

static void copy_col(struct store_stmt *st, int i, char *out, int *has)
{
	const char *t = store_col_text(st, i);

	*has = t != NULL;
	snprintf(out, DEC_TEXT_MAX, "%s", t ? t : "");
}

static int usage_read(struct store_conn *c, const struct wire_agg *a,
		      const char *filters, struct usage_row *r)
{
	static const char *const sql =
		"SELECT count, sum, max, latest, latest_ts FROM usage "
		"WHERE sub = ? AND code = ? AND filters = ? AND minute = ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	memset(r, 0, sizeof(*r));
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, a->sub);
	store_bind_text(st, 2, a->code);
	store_bind_text(st, 3, filters);
	store_bind_i64(st, 4, a->minute);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		r->found = 1;
		r->count = store_col_i64(st, 0);
		copy_col(st, 1, r->sum, &r->has_sum);
		copy_col(st, 2, r->max, &r->has_max);
		copy_col(st, 3, r->latest, &r->has_latest);
		r->latest_ts = store_col_i64(st, 4);
	}
	store_reset(st);
	return rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
}

static int usage_write(struct store_conn *c, const struct wire_agg *a,
		       const char *filters, const struct usage_row *r)
{
	static const char *const sql =
		"INSERT INTO usage (sub, code, filters, minute, count, sum, "
		"max, latest, latest_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
		"ON CONFLICT (sub, code, filters, minute) DO UPDATE SET "
		"count = excluded.count, sum = excluded.sum, "
		"max = excluded.max, latest = excluded.latest, "
		"latest_ts = excluded.latest_ts";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, a->sub);
	store_bind_text(st, 2, a->code);
	store_bind_text(st, 3, filters);
	store_bind_i64(st, 4, a->minute);
	store_bind_i64(st, 5, r->count);
	store_bind_text(st, 6, r->has_sum ? r->sum : NULL);
	store_bind_text(st, 7, r->has_max ? r->max : NULL);
	store_bind_text(st, 8, r->has_latest ? r->latest : NULL);
	if (r->has_latest)
		store_bind_i64(st, 9, r->latest_ts);
	else
		store_bind_null(st, 9);
	return store_run(st);
}

static int distinct_add(struct store_conn *c, const struct wire_agg *a,
			const char *filters)
{
	static const char *const sql =
		"INSERT INTO usage_distinct (sub, code, filters, minute, value) "
		"VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
	struct store_stmt *st = NULL;
	int rc = TLY_OK;

	for (size_t i = 0; rc == TLY_OK && i < a->ndistinct; i++) {
		rc = store_prepare(c, sql, &st);
		if (rc != TLY_OK)
			break;
		store_bind_text(st, 1, a->sub);
		store_bind_text(st, 2, a->code);
		store_bind_text(st, 3, filters);
		store_bind_i64(st, 4, a->minute);
		store_bind_text(st, 5, a->distinct[i]);
		rc = store_run(st);
	}
	return rc;
}

/* ---- Late usage ------------------------------------------------------ */

/* One piece of usage to check: a raw event (tx set) or an agg record. */
struct late_item {
	const char *sub, *code;
	const char *tx;		/* raw events; NULL for a record */
	int64_t minute;		/* records: Unix s of the minute */
	int64_t from_ms, to_ms;	/* the time it covers */
	uint64_t events;
	const char *source;
};

void ingest_invoice_number(int64_t seq, char *buf, size_t n)
{
	snprintf(buf, n, "TLY-%06lld", (long long)seq);
}

/*
 * The finalized invoice whose charges window billed usage of external
 * subscription u->sub at u->from_ms..u->to_ms, if any: its lago_id into
 * inv and number into *seq; inv[0] is '\0' when there is none.  An
 * external id may name several subscriptions over time; all are joined.
 * An index lookup on invoices_finalized: for usage of an unbilled period
 * the range charges_to_ms >= from is empty.
 */
static int late_invoice(struct store_conn *c, const struct late_item *u,
			char inv[UTIL_UUID_LEN], int64_t *seq)
{
	static const char *const sql =
		"SELECT i.lago_id, i.sequential_id FROM subscriptions s "
		"JOIN invoices i ON i.subscription_id = s.lago_id "
		"WHERE s.external_id = ? AND i.status = 'finalized' "
		"AND i.charges_to_ms >= ? AND i.charges_from_ms <= ? "
		"AND i.bill_charges = 1 "
		"ORDER BY i.charges_from_ms DESC LIMIT 1";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	inv[0] = '\0';
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, u->sub);
	store_bind_i64(st, 2, u->from_ms);
	store_bind_i64(st, 3, u->to_ms);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		snprintf(inv, UTIL_UUID_LEN, "%s", store_col_text(st, 0));
		*seq = store_col_i64(st, 1);
	}
	store_reset(st);
	return rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
}

static int late_insert(struct store_conn *c, const struct late_item *u,
		       const char *inv)
{
	static const char *const sql =
		"INSERT INTO late_usage (invoice_id, sub, code, transaction_id,"
		" minute, ts_ms, events, source, received_at) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, inv);
	store_bind_text(st, 2, u->sub);
	store_bind_text(st, 3, u->code);
	store_bind_text(st, 4, u->tx);
	if (u->tx)
		store_bind_null(st, 5);
	else
		store_bind_i64(st, 5, u->minute);
	store_bind_i64(st, 6, u->from_ms);
	store_bind_i64(st, 7, (int64_t)u->events);
	store_bind_text(st, 8, u->source);
	store_bind_i64(st, 9, util_now_ms());
	return store_run(st);
}

/*
 * The end of the last finalized charges window of external id sub (as
 * late_invoice filters them), into *to; INT64_MIN when there is none.
 */
static int late_billed_to(struct store_conn *c, const char *sub,
			  int64_t *to)
{
	static const char *const sql =
		"SELECT max(i.charges_to_ms) FROM subscriptions s "
		"JOIN invoices i ON i.subscription_id = s.lago_id "
		"WHERE s.external_id = ? AND i.status = 'finalized' "
		"AND i.bill_charges = 1";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	*to = INT64_MIN;
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, sub);
	rc = store_step(st);
	if (rc == STORE_ROW && !store_col_null(st, 0))
		*to = store_col_i64(st, 0);
	store_reset(st);
	return rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
}

/*
 * Whether u might be late: not when it starts after every finalized
 * charges window of its external id (remembered in l per batch).
 */
static int late_maybe(struct store_conn *c, const struct late_item *u,
		      struct ingest_late *l, int *maybe)
{
	int64_t to;
	int rc;

	*maybe = 1;
	for (size_t i = 0; i < l->nseen; i++) {
		if (strcmp(l->seen[i].sub, u->sub) == 0) {
			*maybe = u->from_ms <= l->seen[i].billed_to;
			return TLY_OK;
		}
	}
	if (l->nseen == INGEST_LATE_SUBS)
		return TLY_OK;	/* too many to remember: ask each time */
	rc = late_billed_to(c, u->sub, &to);
	if (rc != TLY_OK)
		return rc;
	l->seen[l->nseen].sub = u->sub;
	l->seen[l->nseen++].billed_to = to;
	*maybe = u->from_ms <= to;
	return TLY_OK;
}

/* Record u in late_usage and l when a finalized invoice billed its time. */
static int late_check(struct store_conn *c, const struct late_item *u,
		      struct ingest_late *l)
{
	char inv[UTIL_UUID_LEN];
	int64_t seq = 0;
	int maybe;
	int rc = late_maybe(c, u, l, &maybe);

	if (rc != TLY_OK || !maybe)
		return rc;
	rc = late_invoice(c, u, inv, &seq);

	if (rc != TLY_OK || !inv[0])
		return rc;
	rc = late_insert(c, u, inv);
	if (rc != TLY_OK)
		return rc;
	if (!l->events) {
		snprintf(l->invoice, sizeof(l->invoice), "%s", inv);
		snprintf(l->sub, sizeof(l->sub), "%s", u->sub);
		l->number = seq;
	} else if (strcmp(l->invoice, inv) != 0) {
		l->more = 1;
	}
	l->events += u->events;
	return TLY_OK;
}

void ingest_late_done(struct coll *co, const struct ingest_late *l)
{
	char num[32];

	if (!l->events)
		return;
	COLL_INC(co, events_late, l->events);
	ingest_invoice_number(l->number, num, sizeof(num));
	log_warn("ingest: %llu late events for finalized invoice %s (sub %s)%s",
		 (unsigned long long)l->events, num, l->sub,
		 l->more ? " and other invoices" : "");
}

/* ---- Applying records ----------------------------------------------- */

static int apply_agg(struct store_conn *c, const struct wire_agg *a,
		     const char *source, struct ingest_late *late)
{
	struct usage_row r;
	char *filters = canonical_filters(a);
	int rc;

	if (!filters)
		return TLY_ENOMEM;
	rc = usage_read(c, a, filters, &r);
	if (rc != TLY_OK)
		goto out;
	r.count += (int64_t)a->count;
	rc = merge_dec(r.has_sum ? r.sum : NULL, a->sum, '+', r.sum);
	r.has_sum = r.has_sum || a->sum;
	if (rc == TLY_OK)
		rc = merge_dec(r.has_max ? r.max : NULL, a->max, 'M', r.max);
	r.has_max = r.has_max || a->max;
	/* Lago's latest: the later timestamp; on a tie, the later arrival. */
	if (rc == TLY_OK && a->latest &&
	    (!r.has_latest || a->latest_ts >= r.latest_ts)) {
		snprintf(r.latest, sizeof(r.latest), "%s", a->latest);
		r.latest_ts = a->latest_ts;
		r.has_latest = 1;
	}
	if (rc == TLY_OK)
		rc = usage_write(c, a, filters, &r);
	if (rc == TLY_OK)
		rc = distinct_add(c, a, filters);
	if (rc == TLY_OK) {
		int64_t ms = a->minute * 1000;
		struct late_item u = {a->sub, a->code, NULL, a->minute, ms,
				      ms + 59999, a->count, source};

		rc = late_check(c, &u, late);
	}
out:
	cJSON_free(filters);
	return rc;
}

void ingest_event_key(const struct event *ev, char key[INGEST_KEY_LEN])
{
	if (ev->sub)
		snprintf(key, INGEST_KEY_LEN, "%s", ev->sub);
	else
		snprintf(key, INGEST_KEY_LEN, "customer:%s", ev->customer);
}

int ingest_event(struct store_conn *c, struct evkey *ek,
		 const struct event *ev, const char *source,
		 struct ingest_ev *out, struct ingest_late *late)
{
	static const char *const sql =
		"INSERT INTO events (lago_id, sub_key, transaction_id, sub, "
		"customer, code, ts_ms, properties, precise_total_amount_cents,"
		" source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
		"RETURNING id";
	char key[INGEST_KEY_LEN];
	struct evkey_key hashed;
	struct store_stmt *st = NULL;
	const char *props = ev->props_json;	/* ev_parse made it */
	char *printed = NULL;
	int rc;

	out->inserted = 0;
	ingest_event_key(ev, key);
	rc = evkey_find(ek, c, ev->transaction_id, key, &hashed, &out->id);
	if (rc != TLY_OK || out->id)
		return rc;		/* held already, or a failure */
	if (util_uuid7(out->lago_id) != TLY_OK)
		return TLY_EIO;
	out->created_ms = util_now_ms();
	if (!props)
		props = printed = cJSON_PrintUnformatted(ev->props);
	if (!props)
		return TLY_ENOMEM;
	rc = store_prepare(c, sql, &st);
	if (rc == TLY_OK) {
		store_bind_text(st, 1, out->lago_id);
		store_bind_text(st, 2, key);
		store_bind_text(st, 3, ev->transaction_id);
		store_bind_text(st, 4, ev->sub);
		store_bind_text(st, 5, ev->customer);
		store_bind_text(st, 6, ev->code);
		store_bind_i64(st, 7, ev->ts_ms);
		store_bind_text(st, 8, props);
		store_bind_text(st, 9, ev->precise_total_amount_cents);
		store_bind_text(st, 10, source);
		store_bind_i64(st, 11, out->created_ms);
		rc = store_step(st);
		if (rc == STORE_ROW)
			out->id = store_col_i64(st, 0);
		store_reset(st);
		rc = rc == STORE_ROW ? TLY_OK : rc == STORE_DONE ? TLY_EDB : rc;
	}
	cJSON_free(printed);
	if (rc == TLY_OK)
		rc = evkey_add(ek, c, &hashed, out->id);
	if (rc == TLY_OK)
		out->inserted = 1;
	/* Customer-keyed events (no sub) are not billed by subscription. */
	if (rc == TLY_OK && ev->sub) {
		struct late_item u = {ev->sub, ev->code, ev->transaction_id, 0,
				      ev->ts_ms, ev->ts_ms, 1, source};

		rc = late_check(c, &u, late);
	}
	return rc;
}

static int batch_claim(struct store_conn *c, const char *agent_id,
		       const struct wire_batch *b)
{
	static const char *const sql =
		"INSERT INTO batches (agent_id, seq, events_total, records, "
		"applied_at) VALUES (?, ?, ?, ?, ?)";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, agent_id);
	store_bind_i64(st, 2, (int64_t)b->seq);
	store_bind_i64(st, 3, (int64_t)b->events_total);
	store_bind_i64(st, 4, (int64_t)b->nrecs);
	store_bind_i64(st, 5, util_now_ms() / 1000);
	return store_run(st);
}

static int agent_count(struct store_conn *c, const char *agent_id,
		       const struct wire_batch *b, uint64_t dups)
{
	static const char *const sql =
		"UPDATE agents SET batches = batches + 1, "
		"events_received = events_received + ?, "
		"events_duplicate = events_duplicate + ?, "
		"last_seq = CASE WHEN last_seq > ? THEN last_seq ELSE ? END "
		"WHERE id = ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, (int64_t)b->events_total);
	store_bind_i64(st, 2, (int64_t)dups);
	store_bind_i64(st, 3, (int64_t)b->seq);
	store_bind_i64(st, 4, (int64_t)b->seq);
	store_bind_text(st, 5, agent_id);
	return store_run(st);
}

/* One batch through store_write: apply_run is its job. */
struct apply_job {
	struct evkey *ek;
	const char *agent_id;
	const struct wire_batch *b;
	int duplicate;			/* the batch was applied before */
	uint64_t dups;			/* raw events held already */
	struct ingest_late late;
};

static int apply_run(struct store_conn *c, void *arg)
{
	struct apply_job *a = arg;
	int rc;

	/* A round may run its jobs again (store_job): start afresh. */
	a->duplicate = 0;
	a->dups = 0;
	memset(&a->late, 0, sizeof(a->late));
	rc = batch_claim(c, a->agent_id, a->b);
	if (rc == TLY_EEXIST) {
		/* The claim wrote nothing: the batch is acknowledged as is. */
		a->duplicate = 1;
		return TLY_OK;
	}
	for (size_t i = 0; rc == TLY_OK && i < a->b->nrecs; i++) {
		const struct wire_rec *r = &a->b->recs[i];
		struct ingest_ev e = {.inserted = 1};

		if (r->kind == WIRE_AGG)
			rc = apply_agg(c, &r->u.agg, a->agent_id, &a->late);
		else
			rc = ingest_event(c, a->ek, &r->u.ev, a->agent_id,
					  &e, &a->late);
		a->dups += !e.inserted;
	}
	if (rc == TLY_OK)
		rc = agent_count(c, a->agent_id, a->b, a->dups);
	return rc;
}

int ingest_apply(struct coll *co, const char *agent_id,
		 const struct wire_batch *b, int *duplicate)
{
	struct apply_job a = {.ek = co->evkey, .agent_id = agent_id, .b = b};
	struct store_job j = {.run = apply_run, .arg = &a};
	int rc = store_write(co->store, &j);

	*duplicate = 0;
	if (rc != TLY_OK) {
		log_error("ingest: batch %s/%llu not applied: %s", agent_id,
			  (unsigned long long)b->seq, tly_strerror(rc));
		return rc;
	}
	if (a.duplicate) {
		*duplicate = 1;
		COLL_INC(co, batches_duplicate, 1);
		return TLY_OK;
	}
	COLL_INC(co, batches_applied, 1);
	COLL_INC(co, records_applied, b->nrecs);
	COLL_INC(co, events_applied, b->events_total);
	COLL_INC(co, events_duplicate, a.dups);
	ingest_late_done(co, &a.late);
	return TLY_OK;
}

/* Count a refusal and describe it in r. */
static void refuse(struct coll *co, struct ingest_result *r, int status,
		   enum coll_refusal why, const char *code, const char *msg)
{
	COLL_INC(co, refused[why], 1);
	r->status = status;
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
}

/* Map a wire_decode failure to its refusal. */
static void refuse_decode(struct coll *co, struct ingest_result *r, int rc,
			  const char *msg)
{
	if (rc == TLY_ETOOBIG)
		refuse(co, r, 413, REFUSE_TOO_LARGE, "batch_too_large", msg);
	else if (rc == TLY_EINVAL)
		refuse(co, r, 422, REFUSE_INVALID, NULL, msg);
	else if (rc == TLY_ENOMEM)
		refuse(co, r, 500, REFUSE_INTERNAL, "out_of_memory", msg);
	else
		refuse(co, r, 400, REFUSE_CORRUPT, NULL, msg);
}

void ingest_batch(struct coll *co, const char *agent, const void *body,
		  size_t len, struct ingest_result *r)
{
	char msg[sizeof(r->msg)];
	struct wire_batch b;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = wire_decode(body, len, &co->limits, &b, msg, sizeof(msg));
	if (rc != TLY_OK) {
		log_warn("ingest: batch from %s refused: %s", agent, msg);
		refuse_decode(co, r, rc, msg);
		return;
	}
	r->has_seq = 1;
	r->seq = b.seq;
	if (strcmp(b.agent_id, agent) != 0) {
		log_warn("ingest: agent %s sent a batch for agent %s", agent,
			 b.agent_id);
		refuse(co, r, 403, REFUSE_FORBIDDEN, "agent_id_mismatch", NULL);
		wire_batch_free(&b);
		return;
	}
	rc = ingest_apply(co, agent, &b, &r->duplicate);
	if (rc != TLY_OK)
		refuse(co, r, 500, REFUSE_INTERNAL, "store_failed", NULL);
	else
		r->status = 200;
	wire_batch_free(&b);
}

/* Answer an HTTP request with r: Lago's error shapes for refusals. */
static void answer(struct httpd_resp *resp, const struct ingest_result *r)
{
	cJSON *o;

	if (r->status == 400) {
		httpd_error(resp, 400, r->msg[0] ? r->msg : NULL, NULL);
	} else if (r->status == 422) {
		httpd_invalid(resp, "batch", r->msg);
	} else if (r->status != 200) {
		httpd_error(resp, r->status, r->code, NULL);
	} else {
		o = cJSON_CreateObject();
		if (o && (!cJSON_AddNumberToObject(o, "seq", (double)r->seq) ||
			  !cJSON_AddStringToObject(o, "status", r->duplicate ?
						   "duplicate" : "applied"))) {
			cJSON_Delete(o);
			o = NULL;
		}
		httpd_json(resp, 200, o);
	}
}

void ingest_http(struct httpd_req *req, struct httpd_resp *resp)
{
	struct coll *co = req->app;
	const char *enc = httpd_header(req, "Content-Encoding");
	char agent[WIRE_AGENT_ID_MAX + 1];
	struct ingest_result r = {0};
	struct store_conn *c;
	int rc;

	c = store_acquire(co->store);
	rc = agents_auth(c, httpd_bearer(req), agent);
	store_release(c);
	if (rc != TLY_OK)
		refuse(co, &r, 401, REFUSE_AUTH, NULL, NULL);
	else if (enc && strcmp(enc, "deflate") != 0)
		refuse(co, &r, 400, REFUSE_CORRUPT, NULL,
		       "Content-Encoding must be deflate");
	else
		ingest_batch(co, agent, req->body, req->body_len, &r);
	answer(resp, &r);
}

void ingest_catalog_http(struct httpd_req *req, struct httpd_resp *resp)
{
	struct coll *co = req->app;
	char agent[WIRE_AGENT_ID_MAX + 1];
	struct store_conn *c = store_acquire(co->store);
	cJSON *cat = NULL;
	int rc = agents_auth(c, httpd_bearer(req), agent);

	if (rc == TLY_OK)
		rc = catalog_build(c, &cat);
	store_release(c);
	if (rc == TLY_EAUTH)
		httpd_error(resp, 401, NULL, NULL);
	else if (rc != TLY_OK)
		httpd_error(resp, 500, "store_failed", NULL);
	else
		httpd_json(resp, 200, cat);
}
