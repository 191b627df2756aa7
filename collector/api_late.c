/*
 * api_late.c - GET /v1/late_usage: the usage that arrived for the period
 * of a finalized invoice, as ingest.c recorded it (stored, never billed),
 * newest first, with Lago's pagination; ?external_subscription_id=
 * narrows it to one subscription.  Routed through api_entry, so it takes
 * the API key like /api/v1.
 */
#include "api.h"
#include "err.h"
#include "ingest.h"

enum {
	C_INVOICE, C_SEQ, C_SUB, C_CODE, C_TX, C_MINUTE, C_TS, C_EVENTS,
	C_SOURCE, C_RECEIVED
};

static const char *const sql_list =
	"SELECT l.invoice_id, i.sequential_id, l.sub, l.code, "
	"l.transaction_id, l.minute, l.ts_ms, l.events, l.source, "
	"l.received_at FROM late_usage l "
	"JOIN invoices i ON i.lago_id = l.invoice_id "
	"WHERE (? IS NULL OR l.sub = ?) ORDER BY l.id DESC LIMIT ? OFFSET ?";

static const char *const sql_count =
	"SELECT COUNT(*) FROM late_usage WHERE (? IS NULL OR sub = ?)";

/* o[key] = the integer column i, or null. */
static int put_int(cJSON *o, const char *key, struct store_stmt *st, int i)
{
	cJSON *v = store_col_null(st, i) ? cJSON_CreateNull() :
		   cJSON_CreateNumber((double)store_col_i64(st, i));

	if (v && cJSON_AddItemToObject(o, key, v))
		return 0;
	cJSON_Delete(v);
	return -1;
}

/* One late_usage row of sql_list as JSON; NULL when out of memory. */
static cJSON *late_json(struct store_stmt *st)
{
	cJSON *o = cJSON_CreateObject();
	char num[32];

	ingest_invoice_number(store_col_i64(st, C_SEQ), num, sizeof(num));
	if (!o || api_put_str(o, "lago_invoice_id",
			      store_col_text(st, C_INVOICE)) ||
	    api_put_str(o, "invoice_number", num) ||
	    api_put_str(o, "external_subscription_id",
			store_col_text(st, C_SUB)) ||
	    api_put_str(o, "code", store_col_text(st, C_CODE)) ||
	    api_put_str(o, "transaction_id", store_col_text(st, C_TX)) ||
	    put_int(o, "minute", st, C_MINUTE) ||
	    api_put_time(o, "timestamp", store_col_i64(st, C_TS)) ||
	    put_int(o, "events", st, C_EVENTS) ||
	    api_put_str(o, "source", store_col_text(st, C_SOURCE)) ||
	    api_put_time(o, "received_at", store_col_i64(st, C_RECEIVED))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int count(struct api_ctx *x, const char *sub, int64_t *total)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql_count, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, sub);
	store_bind_text(st, 2, sub);
	rc = store_step(st);
	if (rc == STORE_ROW)
		*total = store_col_i64(st, 0);
	store_reset(st);
	return rc == STORE_ROW ? TLY_OK : TLY_EDB;
}

/* One page of rows, newest first, appended to list. */
static int page_rows(struct api_ctx *x, const char *sub, int64_t page,
		     int64_t per, cJSON *list)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql_list, &st), step = STORE_DONE;

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, sub);
	store_bind_text(st, 2, sub);
	store_bind_i64(st, 3, per);
	store_bind_i64(st, 4, (page - 1) * per);
	while (rc == TLY_OK && (step = store_step(st)) == STORE_ROW) {
		cJSON *o = late_json(st);

		if (!o || !cJSON_AddItemToArray(list, o)) {
			cJSON_Delete(o);
			rc = TLY_ENOMEM;
		}
	}
	store_reset(st);
	if (rc == TLY_OK && step != STORE_DONE)
		rc = TLY_EDB;
	return rc;
}

void api_late_list(struct api_ctx *x)
{
	const char *sub = httpd_query(x->req, "external_subscription_id");
	int64_t page, per, total = 0;
	cJSON *root, *list;
	int rc;

	if (sub && !*sub)
		sub = NULL;
	if (api_page(x, &page, &per) != TLY_OK)
		return;
	root = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(root, "late_usage");
	rc = list ? count(x, sub, &total) : TLY_ENOMEM;
	if (rc == TLY_OK)
		rc = page_rows(x, sub, page, per, list);
	if (rc == TLY_OK && api_meta(root, page, per, total) != 0)
		rc = TLY_ENOMEM;
	if (rc != TLY_OK) {
		cJSON_Delete(root);
		api_store_failed(x);
		return;
	}
	httpd_json(x->resp, 200, root);
}
