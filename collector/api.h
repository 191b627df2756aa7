/*
 * api.h - the Lago-compatible REST API under /api/v1: authentication,
 * request bodies, pagination, and the helpers every resource module
 * (api_customers.c, api_metrics.c, ...) shares.
 *
 * Every route goes through api_entry, which checks the Bearer API key
 * (401 {"status":401,"error":"Unauthorized"} otherwise) before calling
 * the resource's handler; a module cannot forget it.
 *
 * Shapes follow Lago: a resource is wrapped in its singular name
 * ({"customer": {...}}), a list in its plural with "meta" for pagination;
 * creates answer 200 like Lago; a missing wrapper is 400 "BadRequest:
 * param is missing or the value is empty or invalid: customer"; a missing
 * object is 404 with "<resource>_not_found"; validation failures are 422.
 */
#ifndef TALLY_API_H
#define TALLY_API_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "coll.h"
#include "httpd.h"
#include "store.h"
#include "util.h"

/* What a resource handler gets: the request, the app and a connection. */
struct api_ctx {
	struct httpd_req *req;
	struct httpd_resp *resp;
	struct coll *co;
	struct store_conn *c;	/* acquired for the handler's duration,
				 * unless its route `writes` (then NULL) */
};

typedef void (*api_fn)(struct api_ctx *x);

struct api_route {
	api_fn fn;
	int writes;	/* the handler writes through store_write: it runs
			 * without a connection (x->c is NULL), so that
			 * concurrent requests can share a commit */
};

/* The httpd handler of every /api/v1 route; req->arg is an api_route. */
void api_entry(struct httpd_req *req, struct httpd_resp *resp);

/*
 * Parse the body as a JSON object and find its wrapper object ("customer").
 * On failure the 400 is sent and NULL returned; on success *root is the
 * tree (the caller deletes it) and the wrapped object is returned.
 */
cJSON *api_body(struct api_ctx *x, const char *wrapper, cJSON **root);

/* page and per_page from the query: 1.., default 1 and 100 (Lago's). */
int api_page(struct api_ctx *x, int64_t *page, int64_t *per_page);

/* The integer a parameterless query answers (a COUNT(*)), or -1. */
int64_t api_count(struct api_ctx *x, const char *sql);

/* The same for a query whose parameters bind(st, arg) binds (filters). */
int64_t api_count_bound(struct api_ctx *x, const char *sql,
			void (*bind)(struct store_stmt *st, const void *arg),
			const void *arg);

/* Add Lago's "meta" to a list answer. */
int api_meta(cJSON *root, int64_t page, int64_t per_page, int64_t total);

/* Send {"<wrapper>": obj} with 200; obj is consumed. */
void api_send(struct api_ctx *x, const char *wrapper, cJSON *obj);

/*
 * The answer of a lookup that came to rc: obj as api_send does on TLY_OK,
 * Lago's 404 "<wrapper>_not_found" on TLY_ENOTFOUND, else 500.  obj is
 * consumed either way (NULL is fine when rc is not TLY_OK).
 */
void api_send_found(struct api_ctx *x, int rc, const char *wrapper,
		    cJSON *obj);

/* 404 {"status":404,"error":"Not Found","code":"<what>_not_found"}. */
void api_not_found(struct api_ctx *x, const char *what);

/* 500 after a store failure (already logged by the store). */
void api_store_failed(struct api_ctx *x);

/*
 * Validation errors collected while reading a request; sent as Lago's 422
 * {"error_details": {"field": ["code", ...]}}.
 */
struct api_errs {
	cJSON *details;		/* NULL until the first error */
};

/* Record one; out of memory, the request is refused all the same. */
void api_err(struct api_errs *e, const char *field, const char *code);
/* True when errors were collected: sends the 422 (or, when one could not
 * be recorded, a 500) and frees them. */
int api_errs_send(struct api_ctx *x, struct api_errs *e);
void api_errs_free(struct api_errs *e);

/* ---- Reading typed fields of a request object ------------------------- */

/*
 * Each reads obj[key]; a missing or null key leaves *out as it was and
 * returns 0 (or records value_is_mandatory when required); a wrong type
 * records "invalid_value" (Lago's word) and returns -1; 1 when read.
 * Strings are borrowed from obj.
 */
int api_str(cJSON *obj, const char *key, int required, size_t max,
	    const char **out, struct api_errs *e);
int api_int(cJSON *obj, const char *key, int required, int64_t min,
	    int64_t max, int64_t *out, struct api_errs *e);
int api_bool(cJSON *obj, const char *key, int *out, struct api_errs *e);
/* A decimal given as a string (Lago wants strings for amounts). */
int api_decimal(cJSON *obj, const char *key, int required,
		const char **out, struct api_errs *e);
/* One of the '|'-separated choices. */
int api_enum(cJSON *obj, const char *key, int required, const char *choices,
	     const char **out, struct api_errs *e);

/* ---- Rows of the doc tables ---------------------------------------------- */

/* A billing object's row: its id, creation time and Lago attributes. */
struct api_doc {
	char lago_id[UTIL_UUID_LEN];
	int64_t created;		/* Unix ms */
	cJSON *doc;			/* owned */
};

/* Fill d from a row whose first columns are lago_id, doc, created_at. */
int api_doc_row(struct store_stmt *st, struct api_doc *d);
void api_doc_free(struct api_doc *d);		/* NULL-safe; keeps d */

/*
 * The row a query with one text parameter (key) selects, read by
 * read(st, out): its result, TLY_ENOTFOUND when there is none, or an
 * error.
 */
int api_load_one(struct api_ctx *x, const char *sql, const char *key,
		 int (*read)(struct store_stmt *st, void *out), void *out);

/* api_load_one into d (api_doc_row). */
int api_doc_load(struct api_ctx *x, const char *sql, const char *key,
		 struct api_doc *d);

/*
 * Append row_json(x, st, arg) for each row st (prepared and bound)
 * selects to list, then reset st: TLY_OK, TLY_ENOMEM (a row not
 * rendered), or the store's error.
 */
int api_rows_append(struct api_ctx *x, struct store_stmt *st,
		    cJSON *(*row_json)(struct api_ctx *x,
				       struct store_stmt *st, void *arg),
		    void *arg, cJSON *list);

/* Answer GET of a doc table: {"<name>": [...], "meta": ...}.  count_sql
 * is a COUNT(*); page_sql selects the doc columns and takes LIMIT and
 * OFFSET as its two parameters; to_json renders one row. */
void api_doc_list(struct api_ctx *x, const char *name, const char *count_sql,
		  const char *page_sql,
		  cJSON *(*to_json)(const struct api_doc *d));

/* ---- Building answers -------------------------------------------------- */

/* obj[key] = item, consumed (freed when it cannot go in; NULL is out of
 * memory).  0, or -1 when out of memory. */
int api_put(cJSON *obj, const char *key, cJSON *item);

/* obj[key] = a copy of doc[dkey], or null when doc has none.  0 or -1. */
int api_put_copy_as(cJSON *obj, const char *key, const cJSON *doc,
		    const char *dkey);
/* The same with key for dkey. */
int api_put_copy(cJSON *obj, const cJSON *doc, const char *key);

/*
 * A decimal as Ruby prints a BigDecimal or Float: no trailing zeros, and
 * ".0" when whole ("20.00" -> "20.0", "5.50" -> "5.5").  buf holds
 * DEC_DOUBLE_BUFSZ bytes.  TLY_OK, or TLY_EINVAL when text is not one.
 */
int api_ruby_decimal(const char *text, char *buf, size_t size);

/* obj[key] = string, or null when s is NULL.  0 or -1 (out of memory). */
int api_put_str(cJSON *obj, const char *key, const char *s);
/* obj[key] = ISO 8601 time of Unix ms (null when ms < 0). */
int api_put_time(cJSON *obj, const char *key, int64_t ms);

/* Current time for created_at and friends, Unix ms. */
int64_t api_now(void);

/* ---- Resource modules: route handlers and what they share ------------ */

/* api_customers.c */
void api_customers_create(struct api_ctx *x);	/* POST /customers */
void api_customers_get(struct api_ctx *x);	/* GET /customers/:id */
void api_customers_list(struct api_ctx *x);	/* GET /customers */
void api_customers_delete(struct api_ctx *x);	/* DELETE /customers/:id */
/*
 * Create or update the customer external id `ext` from request object in
 * (Lago's upsert), inside the caller's transaction; its lago_id goes to
 * lago_id.  TLY_EINVAL with e filled on validation errors.
 */
int api_customer_upsert(struct api_ctx *x, cJSON *in, const char *ext,
			char lago_id[37], struct api_errs *e);

/* api_metrics.c: /billable_metrics[/:code] */
void api_metrics_create(struct api_ctx *x);
void api_metrics_update(struct api_ctx *x);
void api_metrics_get(struct api_ctx *x);
void api_metrics_list(struct api_ctx *x);
void api_metrics_delete(struct api_ctx *x);

/* api_taxes.c: /taxes[/:code] */
void api_taxes_create(struct api_ctx *x);
void api_taxes_update(struct api_ctx *x);
void api_taxes_get(struct api_ctx *x);
void api_taxes_list(struct api_ctx *x);
void api_taxes_delete(struct api_ctx *x);
/*
 * Lago's tax objects for an array of tax codes (NULL codes: an empty
 * array).  An unknown code records {"tax_codes": ["tax_not_found"]} in e
 * and returns TLY_ENOTFOUND; *out is NULL then.
 */
int api_taxes_of(struct api_ctx *x, const cJSON *codes, cJSON **out,
		 struct api_errs *e);

/* api_plans.c: /plans[/:code] */
void api_plans_create(struct api_ctx *x);
void api_plans_update(struct api_ctx *x);
void api_plans_get(struct api_ctx *x);
void api_plans_list(struct api_ctx *x);
void api_plans_delete(struct api_ctx *x);

/* api_subscriptions.c: /subscriptions[/:external_id] */
void api_subscriptions_create(struct api_ctx *x);
void api_subscriptions_update(struct api_ctx *x);
void api_subscriptions_get(struct api_ctx *x);
void api_subscriptions_list(struct api_ctx *x);
void api_subscriptions_delete(struct api_ctx *x);	/* terminate */
/* Terminate every live subscription of a customer being deleted. */
int api_subscriptions_end_customer(struct api_ctx *x,
				   const char *customer_lago_id);

/* api_invoices.c: /invoices[/:id[.html]], finalize, refresh */
void api_invoices_list(struct api_ctx *x);
void api_invoices_get(struct api_ctx *x);
void api_invoices_finalize(struct api_ctx *x);
void api_invoices_refresh(struct api_ctx *x);

/* api_usage.c: /customers/:id/current_usage */
void api_usage_current(struct api_ctx *x);

/* api_events.c: /events, /events/batch, /events/:transaction_id */
void api_events_create(struct api_ctx *x);
void api_events_batch(struct api_ctx *x);
void api_events_get(struct api_ctx *x);
void api_late_list(struct api_ctx *x);	/* api_late.c: /v1/late_usage */

/* api_coupons.c: /coupons[/:code], /applied_coupons,
 * /customers/:external_id/applied_coupons/:id */
void api_coupons_create(struct api_ctx *x);
void api_coupons_update(struct api_ctx *x);
void api_coupons_get(struct api_ctx *x);
void api_coupons_list(struct api_ctx *x);
void api_coupons_delete(struct api_ctx *x);
void api_applied_coupons_create(struct api_ctx *x);
void api_applied_coupons_list(struct api_ctx *x);
void api_applied_coupons_delete(struct api_ctx *x);	/* terminate */

#endif
