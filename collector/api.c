/*
 * api.c - authentication, bodies, pagination and field readers of the
 * Lago-compatible API (see api.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dec.h"
#include "err.h"
#include "log.h"
#include "util.h"

void api_entry(struct httpd_req *req, struct httpd_resp *resp)
{
	const struct api_route *r = req->arg;
	struct coll *co = req->app;
	const char *key = httpd_bearer(req);
	struct api_ctx x = {req, resp, co, NULL};

	if (!co->api_key || !key || !httpd_secret_eq(key, co->api_key)) {
		httpd_error(resp, 401, NULL, NULL);
		return;
	}
	if (r->writes) {
		r->fn(&x);
		return;
	}
	x.c = store_acquire(co->store);
	r->fn(&x);
	store_release(x.c);
}

cJSON *api_body(struct api_ctx *x, const char *wrapper, cJSON **root)
{
	const char *end = NULL;
	char msg[160];
	cJSON *obj;

	*root = cJSON_ParseWithLengthOpts(x->req->body, x->req->body_len,
					  &end, 0);
	if (*root && end) {
		while (end < x->req->body + x->req->body_len &&
		       (*end == ' ' || *end == '\n' || *end == '\r' ||
			*end == '\t'))
			end++;
		if (end != x->req->body + x->req->body_len) {
			cJSON_Delete(*root);
			*root = NULL;
		}
	}
	if (!*root) {
		httpd_error(x->resp, 400, "the body is not valid JSON", NULL);
		return NULL;
	}
	obj = cJSON_GetObjectItemCaseSensitive(*root, wrapper);
	if (!cJSON_IsObject(obj)) {
		snprintf(msg, sizeof(msg), "param is missing or the value is "
			 "empty or invalid: %s", wrapper);
		httpd_error(x->resp, 400, msg, NULL);
		cJSON_Delete(*root);
		*root = NULL;
		return NULL;
	}
	return obj;
}

static int query_int(struct api_ctx *x, const char *name, int64_t def,
		     int64_t *out)
{
	const char *v = httpd_query(x->req, name);
	char *end;
	long long n;

	*out = def;
	if (!v || !*v)
		return TLY_OK;
	n = strtoll(v, &end, 10);
	if (*end || n < 1 || n > 1000000000)
		return TLY_EINVAL;
	*out = n;
	return TLY_OK;
}

int api_page(struct api_ctx *x, int64_t *page, int64_t *per_page)
{
	if (query_int(x, "page", 1, page) != TLY_OK) {
		httpd_invalid(x->resp, "page", "invalid_value");
		return TLY_EINVAL;
	}
	if (query_int(x, "per_page", 100, per_page) != TLY_OK) {
		httpd_invalid(x->resp, "per_page", "invalid_value");
		return TLY_EINVAL;
	}
	return TLY_OK;
}

int64_t api_count(struct api_ctx *x, const char *sql)
{
	return api_count_bound(x, sql, NULL, NULL);
}

int64_t api_count_bound(struct api_ctx *x, const char *sql,
			void (*bind)(struct store_stmt *st, const void *arg),
			const void *arg)
{
	struct store_stmt *st = NULL;
	int64_t n = -1;

	if (store_prepare(x->c, sql, &st) != TLY_OK)
		return -1;
	if (bind)
		bind(st, arg);
	if (store_step(st) == STORE_ROW)
		n = store_col_i64(st, 0);
	store_reset(st);
	return n;
}

static int put_page(cJSON *meta, const char *key, int64_t v, int present)
{
	cJSON *item = present ? cJSON_CreateNumber((double)v) :
				cJSON_CreateNull();

	return item && cJSON_AddItemToObject(meta, key, item) ? 0 : -1;
}

int api_meta(cJSON *root, int64_t page, int64_t per_page, int64_t total)
{
	int64_t pages = (total + per_page - 1) / per_page;
	cJSON *meta = cJSON_AddObjectToObject(root, "meta");

	if (!meta)
		return -1;
	/* Lago answers a page past the end as all zeros. */
	if (page > pages)
		return put_page(meta, "current_page", 0, 1) |
		       put_page(meta, "next_page", 0, 0) |
		       put_page(meta, "prev_page", 0, 0) |
		       put_page(meta, "total_pages", 0, 1) |
		       put_page(meta, "total_count", 0, 1);
	return put_page(meta, "current_page", page, 1) |
	       put_page(meta, "next_page", page + 1, page < pages) |
	       put_page(meta, "prev_page", page - 1, page > 1) |
	       put_page(meta, "total_pages", pages, 1) |
	       put_page(meta, "total_count", total, 1);
}

void api_send(struct api_ctx *x, const char *wrapper, cJSON *obj)
{
	cJSON *root = cJSON_CreateObject();

	if (!root || !obj || !cJSON_AddItemToObject(root, wrapper, obj)) {
		cJSON_Delete(obj);
		cJSON_Delete(root);
		httpd_error(x->resp, 500, "out_of_memory", NULL);
		return;
	}
	httpd_json(x->resp, 200, root);
}

void api_send_found(struct api_ctx *x, int rc, const char *wrapper,
		    cJSON *obj)
{
	if (rc == TLY_OK) {
		api_send(x, wrapper, obj);
		return;
	}
	cJSON_Delete(obj);
	if (rc == TLY_ENOTFOUND)
		api_not_found(x, wrapper);
	else
		api_store_failed(x);
}

void api_not_found(struct api_ctx *x, const char *what)
{
	char code[96];

	snprintf(code, sizeof(code), "%s_not_found", what);
	httpd_error(x->resp, 404, code, NULL);
}

void api_store_failed(struct api_ctx *x)
{
	httpd_error(x->resp, 500, "internal_error", NULL);
}

/*
 * Where an error could not be recorded for want of memory.  The request
 * must still be refused (a validation error dropped would let bad input
 * through): api_errs_send answers 500 for it.  Never freed.
 */
static cJSON api_oom = {.type = cJSON_Object};

void api_err(struct api_errs *e, const char *field, const char *code)
{
	cJSON *arr = NULL, *s = NULL;

	if (e->details == &api_oom)
		return;
	if (!e->details)
		e->details = cJSON_CreateObject();
	if (e->details) {
		arr = cJSON_GetObjectItemCaseSensitive(e->details, field);
		if (!arr)
			arr = cJSON_AddArrayToObject(e->details, field);
	}
	if (arr)
		s = cJSON_CreateString(code);
	if (s && cJSON_AddItemToArray(arr, s))
		return;
	cJSON_Delete(s);
	cJSON_Delete(e->details);
	e->details = &api_oom;
}

int api_errs_send(struct api_ctx *x, struct api_errs *e)
{
	if (!e->details)
		return 0;
	if (e->details == &api_oom)
		httpd_error(x->resp, 500, "out_of_memory", NULL);
	else
		httpd_error(x->resp, 422, NULL, e->details);
	e->details = NULL;
	return 1;
}

void api_errs_free(struct api_errs *e)
{
	if (e->details != &api_oom)
		cJSON_Delete(e->details);
	e->details = NULL;
}

/* Shared start of the readers: 0 absent, -1 wrong, 1 present. */
static int field(cJSON *obj, const char *key, int required, cJSON **item,
		 struct api_errs *e)
{
	*item = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (*item && !cJSON_IsNull(*item))
		return 1;
	if (required)
		api_err(e, key, "value_is_mandatory");
	return required ? -1 : 0;
}

int api_str(cJSON *obj, const char *key, int required, size_t max,
	    const char **out, struct api_errs *e)
{
	cJSON *it;
	int rc = field(obj, key, required, &it, e);

	if (rc <= 0)
		return rc;
	if (!cJSON_IsString(it)) {
		api_err(e, key, "invalid_value");
		return -1;
	}
	if (required && !it->valuestring[0]) {
		api_err(e, key, "value_is_mandatory");
		return -1;
	}
	if (max && strlen(it->valuestring) > max) {
		api_err(e, key, "value_is_too_long");
		return -1;
	}
	*out = it->valuestring;
	return 1;
}

int api_int(cJSON *obj, const char *key, int required, int64_t min,
	    int64_t max, int64_t *out, struct api_errs *e)
{
	cJSON *it;
	int rc = field(obj, key, required, &it, e);
	double v;

	if (rc <= 0)
		return rc;
	if (cJSON_IsString(it)) {
		char *end;
		long long n = strtoll(it->valuestring, &end, 10);

		if (!it->valuestring[0] || *end)
			goto bad;
		v = (double)n;
	} else if (cJSON_IsNumber(it)) {
		v = it->valuedouble;
	} else {
		goto bad;
	}
	/* Integral and within ±2^53, where a double is exact. */
	if (v != (double)(int64_t)v || v < -9007199254740992.0 ||
	    v > 9007199254740992.0 || (int64_t)v < min || (int64_t)v > max)
		goto bad;
	*out = (int64_t)v;
	return 1;
bad:
	api_err(e, key, "invalid_value");
	return -1;
}

int api_bool(cJSON *obj, const char *key, int *out, struct api_errs *e)
{
	cJSON *it;
	int rc = field(obj, key, 0, &it, e);

	if (rc <= 0)
		return rc;
	if (!cJSON_IsBool(it)) {
		api_err(e, key, "invalid_value");
		return -1;
	}
	*out = cJSON_IsTrue(it);
	return 1;
}

int api_decimal(cJSON *obj, const char *key, int required,
		const char **out, struct api_errs *e)
{
	cJSON *it;
	int rc = field(obj, key, required, &it, e);

	if (rc <= 0)
		return rc;
	if (!cJSON_IsString(it) ||
	    !dec_valid(it->valuestring, strlen(it->valuestring))) {
		api_err(e, key, "invalid_value");
		return -1;
	}
	*out = it->valuestring;
	return 1;
}

int api_enum(cJSON *obj, const char *key, int required, const char *choices,
	     const char **out, struct api_errs *e)
{
	const char *s = NULL, *p;
	int rc = api_str(obj, key, required, 0, &s, e);
	size_t n;

	if (rc <= 0)
		return rc;
	n = strlen(s);
	for (p = choices; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, s, n) == 0) {
			*out = s;
			return 1;
		}
		p = bar ? bar + 1 : NULL;
	}
	api_err(e, key, "value_is_invalid");
	return -1;
}

int api_doc_row(struct store_stmt *st, struct api_doc *d)
{
	const char *id = store_col_text(st, 0);

	snprintf(d->lago_id, sizeof(d->lago_id), "%s", id ? id : "");
	d->created = store_col_i64(st, 2);
	d->doc = cJSON_Parse(store_col_text(st, 1));
	return d->doc ? TLY_OK : TLY_ENOMEM;
}

void api_doc_free(struct api_doc *d)
{
	if (!d)
		return;
	cJSON_Delete(d->doc);
	d->doc = NULL;
}

int api_load_one(struct api_ctx *x, const char *sql, const char *key,
		 int (*read)(struct store_stmt *st, void *out), void *out)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, key);
	rc = store_step(st);
	if (rc == STORE_ROW)
		rc = read(st, out);
	else if (rc == STORE_DONE)
		rc = TLY_ENOTFOUND;
	store_reset(st);
	return rc;
}

static int doc_read(struct store_stmt *st, void *d)
{
	return api_doc_row(st, d);
}

int api_doc_load(struct api_ctx *x, const char *sql, const char *key,
		 struct api_doc *d)
{
	return api_load_one(x, sql, key, doc_read, d);
}

int api_rows_append(struct api_ctx *x, struct store_stmt *st,
		    cJSON *(*row_json)(struct api_ctx *x,
				       struct store_stmt *st, void *arg),
		    void *arg, cJSON *list)
{
	int rc;

	while ((rc = store_step(st)) == STORE_ROW) {
		cJSON *o = row_json(x, st, arg);

		if (!o || !cJSON_AddItemToArray(list, o)) {
			cJSON_Delete(o);
			rc = TLY_ENOMEM;
			break;
		}
	}
	store_reset(st);
	return rc == STORE_DONE ? TLY_OK : rc;
}

/* A doc row as to_json renders it (arg: struct doc_to). */
struct doc_to {
	cJSON *(*to_json)(const struct api_doc *d);
};

static cJSON *doc_row_json(struct api_ctx *x, struct store_stmt *st,
			   void *arg)
{
	const struct doc_to *t = arg;
	struct api_doc d = {0};
	cJSON *o = NULL;

	(void)x;
	if (api_doc_row(st, &d) == TLY_OK)
		o = t->to_json(&d);
	api_doc_free(&d);
	return o;
}

/* Append one page of rows, rendered by to_json, to list. */
static int doc_page(struct api_ctx *x, const char *sql, int64_t page,
		    int64_t per, cJSON *(*to_json)(const struct api_doc *d),
		    cJSON *list)
{
	struct doc_to t = {to_json};
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, per);
	store_bind_i64(st, 2, (page - 1) * per);
	return api_rows_append(x, st, doc_row_json, &t, list);
}

void api_doc_list(struct api_ctx *x, const char *name, const char *count_sql,
		  const char *page_sql,
		  cJSON *(*to_json)(const struct api_doc *d))
{
	int64_t page, per, total;
	cJSON *root, *list;

	if (api_page(x, &page, &per) != TLY_OK)
		return;
	total = api_count(x, count_sql);
	root = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(root, name);
	if (total < 0 || !list ||
	    doc_page(x, page_sql, page, per, to_json, list) != TLY_OK ||
	    api_meta(root, page, per, total) != 0) {
		cJSON_Delete(root);
		api_store_failed(x);
		return;
	}
	httpd_json(x->resp, 200, root);
}

int api_put(cJSON *obj, const char *key, cJSON *item)
{
	if (item && cJSON_AddItemToObject(obj, key, item))
		return 0;
	cJSON_Delete(item);
	return -1;
}

int api_put_copy_as(cJSON *obj, const char *key, const cJSON *doc,
		    const char *dkey)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, dkey);

	return api_put(obj, key, v ? cJSON_Duplicate(v, 1) :
				       cJSON_CreateNull());
}

int api_put_copy(cJSON *obj, const cJSON *doc, const char *key)
{
	return api_put_copy_as(obj, key, doc, key);
}

int api_ruby_decimal(const char *text, char *buf, size_t size)
{
	dec_t d;
	int rc = TLY_EINVAL;

	dec_init(&d);
	if (text && size > 2 && dec_parse_str(&d, text) == TLY_OK) {
		dec_normalize(&d);
		rc = dec_format(&d, buf, size - 2);
		if (rc == TLY_OK && !strchr(buf, '.'))
			strcat(buf, ".0");
	}
	dec_clear(&d);
	return rc;
}

int api_put_str(cJSON *obj, const char *key, const char *s)
{
	return api_put(obj, key, s ? cJSON_CreateString(s) : cJSON_CreateNull());
}

int api_put_time(cJSON *obj, const char *key, int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	if (ms < 0)
		return api_put_str(obj, key, NULL);
	util_iso_time(ms, 0, buf);
	return api_put_str(obj, key, buf);
}

int64_t api_now(void)
{
	return util_now_ms();
}
