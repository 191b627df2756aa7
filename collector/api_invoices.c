/*
 * api_invoices.c - /api/v1/invoices: list, show, finalize, refresh, and
 * /api/v1/invoices/:id.html, a printable page.
 *
 * The stored doc holds what the billing run computed (fees, taxes,
 * totals); invoice_json adds the row's state (status, number, dates) and
 * the customer and subscription, in the order of Lago's serializer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "currency.h"
#include "dec.h"
#include "err.h"
#include "invoice_store.h"
#include "util.h"

#define INV_COLS "i.lago_id, i.sequential_id, i.status, i.issuing_ms, " \
	"i.doc, i.created_at, i.updated_at, cu.lago_id, cu.external_id, " \
	"cu.doc, s.lago_id, s.external_id, p.code, i.from_ms, i.to_ms, " \
	"i.charges_from_ms, i.charges_to_ms"
#define INV_FROM " FROM invoices i " \
	"JOIN customers cu ON cu.lago_id = i.customer_id " \
	"JOIN subscriptions s ON s.lago_id = i.subscription_id " \
	"JOIN plans p ON p.lago_id = s.plan_id "

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void put_date(cJSON *o, const char *key, int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	util_iso_time(ms, 0, buf);
	buf[10] = '\0';		/* YYYY-MM-DD */
	cJSON_AddStringToObject(o, key, buf);
}

static void copy(cJSON *to, const cJSON *from, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, key);

	cJSON_AddItemToObject(to, key, v ? cJSON_Duplicate(v, 1) :
			      cJSON_CreateNull());
}

static void number(char *buf, size_t n, int64_t seq, int draft)
{
	if (draft)
		snprintf(buf, n, "TLY-DRAFT");
	else
		snprintf(buf, n, "TLY-%06lld", (long long)seq);
}

static cJSON *customer_part(struct store_stmt *q, const cJSON *cdoc)
{
	cJSON *c = cJSON_CreateObject();

	if (!c)
		return NULL;
	cJSON_AddStringToObject(c, "lago_id", store_col_text(q, 7));
	cJSON_AddStringToObject(c, "external_id", store_col_text(q, 8));
	copy(c, cdoc, "name");
	copy(c, cdoc, "email");
	copy(c, cdoc, "currency");
	copy(c, cdoc, "address_line1");
	copy(c, cdoc, "city");
	copy(c, cdoc, "zipcode");
	copy(c, cdoc, "country");
	copy(c, cdoc, "legal_name");
	copy(c, cdoc, "tax_identification_number");
	return c;
}

static cJSON *subscription_part(struct store_stmt *q)
{
	cJSON *arr = cJSON_CreateArray(), *s = cJSON_CreateObject();

	if (!arr || !s || !cJSON_AddItemToArray(arr, s)) {
		cJSON_Delete(s);
		cJSON_Delete(arr);
		return NULL;
	}
	cJSON_AddStringToObject(s, "lago_id", store_col_text(q, 10));
	cJSON_AddStringToObject(s, "external_id", store_col_text(q, 11));
	cJSON_AddStringToObject(s, "plan_code", store_col_text(q, 12));
	api_put_time(s, "current_billing_period_started_at",
		     store_col_i64(q, 15));
	api_put_time(s, "current_billing_period_ending_at",
		     store_col_i64(q, 16));
	return arr;
}

/* Lago's invoice object from a row of INV_COLS. */
static cJSON *invoice_json(struct store_stmt *q)
{
	static const char *const totals[] = {
		"currency", "fees_amount_cents", "coupons_amount_cents",
		"credit_notes_amount_cents",
		"sub_total_excluding_taxes_amount_cents", "taxes_amount_cents",
		"sub_total_including_taxes_amount_cents",
		"prepaid_credit_amount_cents",
		"progressive_billing_credit_amount_cents", "total_amount_cents"};
	cJSON *doc = cJSON_Parse(store_col_text(q, 4));
	cJSON *cdoc = cJSON_Parse(store_col_text(q, 9));
	cJSON *o = cJSON_CreateObject();
	int draft = !strcmp(store_col_text(q, 2), "draft");
	const cJSON *term = cJSON_GetObjectItemCaseSensitive(cdoc,
							     "net_payment_term");
	int64_t issuing = store_col_i64(q, 3), days = 0;
	const cJSON *total;
	char num[32];

	if (!doc || !cdoc || !o) {
		cJSON_Delete(o);
		o = NULL;
		goto out;
	}
	if (cJSON_IsNumber(term))
		days = (int64_t)term->valuedouble;
	number(num, sizeof(num), store_col_i64(q, 1), draft);
	cJSON_AddStringToObject(o, "lago_id", store_col_text(q, 0));
	if (draft)
		cJSON_AddNullToObject(o, "sequential_id");
	else
		cJSON_AddNumberToObject(o, "sequential_id",
					(double)store_col_i64(q, 1));
	cJSON_AddStringToObject(o, "number", num);
	put_date(o, "issuing_date", issuing);
	put_date(o, "payment_due_date", issuing + days * 86400000LL);
	cJSON_AddNumberToObject(o, "net_payment_term", (double)days);
	cJSON_AddStringToObject(o, "invoice_type", "subscription");
	cJSON_AddStringToObject(o, "status", draft ? "draft" : "finalized");
	total = cJSON_GetObjectItemCaseSensitive(doc, "total_amount_cents");
	cJSON_AddStringToObject(o, "payment_status",
				cJSON_IsNumber(total) && total->valuedouble == 0 ?
				"succeeded" : "pending");
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
		copy(o, doc, totals[i]);
	cJSON_AddNumberToObject(o, "version_number", 4);
	cJSON_AddNullToObject(o, "file_url");
	api_put_time(o, "created_at", store_col_i64(q, 5));
	api_put_time(o, "updated_at", store_col_i64(q, 6));
	cJSON_AddItemToObject(o, "customer", customer_part(q, cdoc));
	cJSON_AddItemToObject(o, "subscriptions", subscription_part(q));
	copy(o, doc, "fees");
	if (cJSON_GetObjectItemCaseSensitive(doc, "credits"))
		copy(o, doc, "credits");
	else
		cJSON_AddArrayToObject(o, "credits");
	copy(o, doc, "applied_taxes");
out:
	cJSON_Delete(doc);
	cJSON_Delete(cdoc);
	return o;
}

/* Step q (one invoice) and answer with it as JSON or as HTML. */
static void send_one(struct api_ctx *x, struct store_stmt *q, int html);

static const char *const sql_one =
	"SELECT " INV_COLS INV_FROM "WHERE i.lago_id = ?";

static void show(struct api_ctx *x, const char *id, int html)
{
	struct store_stmt *q = NULL;

	if (store_prepare(x->c, sql_one, &q) != TLY_OK) {
		api_store_failed(x);
		return;
	}
	store_bind_text(q, 1, id);
	send_one(x, q, html);
	store_reset(q);
}

void api_invoices_get(struct api_ctx *x)
{
	char id[UTIL_UUID_LEN + 8];
	const char *cap = x->req->cap[0];
	size_t n = strlen(cap);
	int html = n > 5 && !strcmp(cap + n - 5, ".html");

	snprintf(id, sizeof(id), "%.*s", (int)(html ? n - 5 : n), cap);
	show(x, id, html);
}

static void change(struct api_ctx *x, int finalize)
{
	const char *id = x->req->cap[0];
	int rc = store_begin(x->c);

	if (rc == TLY_OK)
		rc = finalize ? inv_finalize(x->c, id, api_now()) :
				inv_refresh(x->c, id, api_now());
	if (rc == TLY_EFORBID)
		rc = TLY_OK;	/* refreshing a final invoice changes nothing */
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc != TLY_OK) {
		store_rollback(x->c);
		if (rc == TLY_ENOTFOUND)
			api_not_found(x, "invoice");
		else
			api_store_failed(x);
		return;
	}
	show(x, id, 0);
}

void api_invoices_finalize(struct api_ctx *x)
{
	change(x, 1);
}

void api_invoices_refresh(struct api_ctx *x)
{
	change(x, 0);
}

void api_invoices_list(struct api_ctx *x)
{
	static const char *const sql =
		"SELECT " INV_COLS INV_FROM
		"WHERE (? IS NULL OR cu.external_id = ?) "
		"AND (? IS NULL OR i.status = ?) "
		"ORDER BY i.created_at DESC, i.lago_id LIMIT ? OFFSET ?";
	static const char *const count =
		"SELECT COUNT(*)" INV_FROM
		"WHERE (? IS NULL OR cu.external_id = ?) "
		"AND (? IS NULL OR i.status = ?)";
	const char *cust = httpd_query(x->req, "external_customer_id");
	const char *status = httpd_query(x->req, "status");
	struct store_stmt *q = NULL;
	int64_t page, per, total = 0;
	cJSON *root = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(root, "invoices");
	int rc;

	if (api_page(x, &page, &per) != TLY_OK) {
		cJSON_Delete(root);
		return;
	}
	rc = list ? store_prepare(x->c, count, &q) : TLY_ENOMEM;
	for (int i = 0; rc == TLY_OK && i < 2; i++) {
		store_bind_text(q, 1, cust);
		store_bind_text(q, 2, cust);
		store_bind_text(q, 3, status);
		store_bind_text(q, 4, status);
		if (i == 0) {
			if (store_step(q) == STORE_ROW)
				total = store_col_i64(q, 0);
			store_reset(q);
			rc = store_prepare(x->c, sql, &q);
			continue;
		}
		store_bind_i64(q, 5, per);
		store_bind_i64(q, 6, (page - 1) * per);
		while (rc == TLY_OK && store_step(q) == STORE_ROW) {
			cJSON *inv = invoice_json(q);

			if (!inv || !cJSON_AddItemToArray(list, inv)) {
				cJSON_Delete(inv);
				rc = TLY_ENOMEM;
			}
		}
		store_reset(q);
	}
	if (rc != TLY_OK || api_meta(root, page, per, total) != 0) {
		cJSON_Delete(root);
		api_store_failed(x);
		return;
	}
	httpd_json(x->resp, 200, root);
}

/* ---- The printable page --------------------------------------------------- */

struct page {
	char *buf;
	size_t len, cap;
	int failed;
};

static void out(struct page *p, const char *s, size_t n)
{
	if (p->failed)
		return;
	if (p->len + n + 1 > p->cap) {
		size_t cap = (p->len + n + 1) * 2;
		char *nb = realloc(p->buf, cap);

		if (!nb) {
			p->failed = 1;
			return;
		}
		p->buf = nb;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

static void outs(struct page *p, const char *s)
{
	out(p, s, strlen(s));
}

/* Text escaped for HTML: names and codes come from API users. */
static void esc(struct page *p, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': outs(p, "&lt;"); break;
		case '>': outs(p, "&gt;"); break;
		case '&': outs(p, "&amp;"); break;
		case '"': outs(p, "&quot;"); break;
		case '\'': outs(p, "&#39;"); break;
		default: out(p, s, 1);
		}
	}
}

/* Minor units as "1234.56 USD", with the currency's own decimals. */
static void money(struct page *p, const cJSON *cents, const char *cur)
{
	char buf[64];
	long long v = cJSON_IsNumber(cents) ? (long long)cents->valuedouble : 0;
	int exp = currency_exponent(cur);
	dec_t d;

	dec_init(&d);
	dec_from_minor(&d, v, exp > 0 ? exp : 0);
	if (dec_format(&d, buf, sizeof(buf) - 8) == TLY_OK) {
		esc(p, buf);
		outs(p, " ");
		esc(p, cur);
	}
	dec_clear(&d);
}

/* The day of an ISO time: "2025-11-10T00:00:00Z" -> "2025-11-10". */
static void day(struct page *p, const char *iso)
{
	if (iso)
		out(p, iso, strnlen(iso, 10));
}

static void fee_rows(struct page *p, const cJSON *inv, const char *cur)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(inv, "fees")) {
		const cJSON *it = cJSON_GetObjectItemCaseSensitive(f, "item");

		outs(p, "<tr><td>");
		esc(p, str(it, "name"));
		outs(p, "<br><small>");
		day(p, str(f, "from_date"));
		outs(p, " &ndash; ");
		day(p, str(f, "to_date"));
		outs(p, "</small></td><td class=n>");
		esc(p, str(f, "units"));
		outs(p, "</td><td class=n>");
		money(p, cJSON_GetObjectItemCaseSensitive(f, "amount_cents"), cur);
		outs(p, "</td></tr>\n");
	}
}

static void total_row(struct page *p, const char *label, const cJSON *inv,
		      const char *key, const char *cur)
{
	outs(p, "<tr class=t><td colspan=2>");
	esc(p, label);
	outs(p, "</td><td class=n>");
	money(p, cJSON_GetObjectItemCaseSensitive(inv, key), cur);
	outs(p, "</td></tr>\n");
}

static void render(struct page *p, const cJSON *inv)
{
	const cJSON *cust = cJSON_GetObjectItemCaseSensitive(inv, "customer");
	const char *cur = str(inv, "currency");
	const cJSON *t;

	outs(p, "<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>"
	     "Invoice ");
	esc(p, str(inv, "number"));
	outs(p, "</title><style>body{font:14px sans-serif;max-width:48em;"
	     "margin:2em auto}table{width:100%;border-collapse:collapse}"
	     "td,th{padding:.4em;border-bottom:1px solid #ddd;text-align:left}"
	     ".n{text-align:right}.t td{font-weight:bold}"
	     "@media print{body{margin:0}}</style></head><body>\n<h1>Invoice ");
	esc(p, str(inv, "number"));
	outs(p, "</h1>\n<p>Status: ");
	esc(p, str(inv, "status"));
	outs(p, "<br>Issued: ");
	esc(p, str(inv, "issuing_date"));
	outs(p, "<br>Due: ");
	esc(p, str(inv, "payment_due_date"));
	outs(p, "</p>\n<h2>Billed to</h2>\n<p>");
	esc(p, str(cust, "name") ? str(cust, "name") : str(cust, "external_id"));
	outs(p, "<br>");
	esc(p, str(cust, "address_line1"));
	outs(p, "<br>");
	esc(p, str(cust, "zipcode"));
	outs(p, " ");
	esc(p, str(cust, "city"));
	outs(p, " ");
	esc(p, str(cust, "country"));
	outs(p, "</p>\n<table><tr><th>Item</th><th class=n>Units</th>"
	     "<th class=n>Amount</th></tr>\n");
	fee_rows(p, inv, cur);
	if (cJSON_GetObjectItemCaseSensitive(inv, "coupons_amount_cents") &&
	    cJSON_GetObjectItemCaseSensitive(inv, "coupons_amount_cents")
		    ->valuedouble > 0)
		total_row(p, "Discounts (coupons)", inv, "coupons_amount_cents",
			  cur);
	total_row(p, "Subtotal", inv, "sub_total_excluding_taxes_amount_cents",
		  cur);
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(inv,
							       "applied_taxes")) {
		outs(p, "<tr><td colspan=2>");
		esc(p, str(t, "tax_name"));
		outs(p, " (");
		esc(p, str(t, "tax_rate"));
		outs(p, "%)</td><td class=n>");
		money(p, cJSON_GetObjectItemCaseSensitive(t, "amount_cents"), cur);
		outs(p, "</td></tr>\n");
	}
	total_row(p, "Total", inv, "total_amount_cents", cur);
	outs(p, "</table>\n</body></html>\n");
}

static void send_one(struct api_ctx *x, struct store_stmt *q, int html)
{
	struct page p = {0};
	int step = store_step(q);
	cJSON *inv;

	if (step != STORE_ROW) {
		if (step == STORE_DONE)
			api_not_found(x, "invoice");
		else
			api_store_failed(x);
		return;
	}
	inv = invoice_json(q);
	if (!inv) {
		api_store_failed(x);
		return;
	}
	if (!html) {
		api_send(x, "invoice", inv);
		return;
	}
	render(&p, inv);
	cJSON_Delete(inv);
	if (p.failed || !p.buf) {
		free(p.buf);
		api_store_failed(x);
		return;
	}
	httpd_body_take(x->resp, 200, "text/html; charset=utf-8", p.buf, p.len);
}
