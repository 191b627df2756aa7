/*
 * api_metrics.c - /api/v1/billable_metrics: create, update, get, list and
 * delete (a soft delete) of Lago's billable metrics.
 *
 * The stored doc holds the metric's attributes under Lago's names: name,
 * code, description, aggregation_type, weighted_interval, recurring,
 * field_name, expression, rounding_function, rounding_precision and
 * filters [{key, values}] (catalog.c and the rating code read them).
 * A request is merged into the doc field by field, as Lago assigns only
 * the keys a request names, and the result is then validated whole, as
 * Lago's model validations do.  metric_json writes the doc out in the
 * order of Lago's serializer.
 *
 * Every change bumps the catalog version inside its transaction, so that
 * agents pick up the new aggregation.
 *
 * Expressions are stored and served but not evaluated yet: any string is
 * accepted (Lago parses it and may answer invalid_expression), and the
 * catalog ships the events of a metric with an expression raw.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "catalog.h"
#include "dec.h"
#include "err.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* custom_agg is Lago's deprecated, licence-gated type: refused. */
static const char agg_types[] =
	"count_agg|sum_agg|max_agg|unique_count_agg|weighted_sum_agg|"
	"latest_agg";

/* A metric row: its id, creation time and attributes. */

/* Validation state while reading a request. */
struct rd {
	struct api_errs *e;
	int bad;	/* a validation error was recorded */
	int oom;	/* an allocation failed */
};

static void rd_err(struct rd *r, const char *field, const char *code)
{
	r->bad = 1;
	if (!cJSON_GetObjectItemCaseSensitive(r->e->details, field))
		api_err(r->e, field, code);
}

static int rd_result(const struct rd *r)
{
	return r->oom ? TLY_ENOMEM : r->bad ? TLY_EINVAL : TLY_OK;
}

/* doc[key] = item (consumed), replacing what was there. */
static void doc_set(struct rd *r, cJSON *doc, const char *key, cJSON *item)
{
	cJSON_DeleteItemFromObjectCaseSensitive(doc, key);
	if (!item || !cJSON_AddItemToObject(doc, key, item)) {
		cJSON_Delete(item);
		r->oom = 1;
	}
}

static const char *doc_str(const cJSON *doc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Rails' blank?: NULL, empty or only white space. */
static int blank(const char *s)
{
	while (s && isspace((unsigned char)*s))
		s++;
	return !s || !*s;
}

/* ---- Reading a request -------------------------------------------------- */

/* doc[key] = the request's string, or null, when the request names key. */
static void take_str(struct rd *r, cJSON *doc, cJSON *in, const char *key,
		     const char *choices)
{
	const char *v = NULL;
	int rc;

	if (!cJSON_GetObjectItemCaseSensitive(in, key))
		return;
	rc = choices ? api_enum(in, key, 0, choices, &v, r->e) :
		       api_str(in, key, 0, 0, &v, r->e);
	if (rc < 0)
		r->bad = 1;
	else
		doc_set(r, doc, key, v ? cJSON_CreateString(v) :
					 cJSON_CreateNull());
}

static void take_recurring(struct rd *r, cJSON *doc, cJSON *in)
{
	int v = 0;

	if (!cJSON_GetObjectItemCaseSensitive(in, "recurring"))
		return;
	if (api_bool(in, "recurring", &v, r->e) < 0)
		r->bad = 1;
	else
		doc_set(r, doc, "recurring", cJSON_CreateBool(v));
}

/* An integer, possibly negative (-1 rounds to tens), that dec_round takes. */
static void take_precision(struct rd *r, cJSON *doc, cJSON *in)
{
	static const char key[] = "rounding_precision";
	int64_t n = 0;
	int rc;

	if (!cJSON_GetObjectItemCaseSensitive(in, key))
		return;
	rc = api_int(in, key, 0, -DEC_MAX_SCALE, DEC_MAX_SCALE, &n, r->e);
	if (rc < 0)
		r->bad = 1;
	else
		doc_set(r, doc, key, rc ? cJSON_CreateNumber((double)n) :
					  cJSON_CreateNull());
}

static int cmp_str(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a;
	const cJSON *y = *(const cJSON *const *)b;

	return strcmp(x->valuestring, y->valuestring);
}

static int cmp_key(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a;
	const cJSON *y = *(const cJSON *const *)b;

	return strcmp(doc_str(x, "key"), doc_str(y, "key"));
}

/* Sort arr's items with cmp; drop neighbours that compare equal if uniq. */
static int sort_items(cJSON *arr, int (*cmp)(const void *, const void *),
		      int uniq)
{
	int n = cJSON_GetArraySize(arr), i, last = -1;
	cJSON **v;

	if (n < 2)
		return TLY_OK;
	v = malloc((size_t)n * sizeof(*v));
	if (!v)
		return TLY_ENOMEM;
	for (i = 0; i < n; i++)
		v[i] = cJSON_DetachItemFromArray(arr, 0);
	qsort(v, (size_t)n, sizeof(*v), cmp);
	for (i = 0; i < n; i++) {
		if (uniq && last >= 0 && cmp(&v[last], &v[i]) == 0) {
			cJSON_Delete(v[i]);
			continue;
		}
		cJSON_AddItemToArray(arr, v[i]);
		last = i;
	}
	free(v);
	return TLY_OK;
}

/* One request filter as {"key", "values"} with the values sorted, unique. */
static cJSON *filter_read(struct rd *r, const cJSON *f)
{
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(f, "key");
	const cJSON *vals = cJSON_GetObjectItemCaseSensitive(f, "values");
	const cJSON *v;
	cJSON *o, *arr;

	if (!cJSON_IsObject(f) || (key && !cJSON_IsNull(key) &&
				   !cJSON_IsString(key)) ||
	    (vals && !cJSON_IsNull(vals) && !cJSON_IsArray(vals))) {
		rd_err(r, "filters", "invalid_value");
		return NULL;
	}
	if (!cJSON_IsString(key) || blank(key->valuestring))
		rd_err(r, "key", "value_is_mandatory");
	if (cJSON_GetArraySize(vals) == 0)
		rd_err(r, "values", "value_is_mandatory");
	cJSON_ArrayForEach(v, vals)
		if (!cJSON_IsString(v))
			rd_err(r, "filters", "invalid_value");
	if (r->bad)
		return NULL;
	o = cJSON_CreateObject();
	arr = cJSON_Duplicate(vals, 1);
	if (!o || !arr ||
	    !cJSON_AddStringToObject(o, "key", key->valuestring) ||
	    !cJSON_AddItemToObject(o, "values", arr)) {
		cJSON_Delete(arr);
		cJSON_Delete(o);
		r->oom = 1;
		return NULL;
	}
	if (sort_items(arr, cmp_str, 1) != TLY_OK)
		r->oom = 1;
	return o;
}

/*
 * The request's filters replace the metric's: sorted by key; a key named
 * twice keeps its last values (Lago updates the same filter record).
 */
static void take_filters(struct rd *r, cJSON *doc, cJSON *in)
{
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(in, "filters");
	const cJSON *f;
	cJSON *out;

	if (!src)
		return;
	if (!cJSON_IsNull(src) && !cJSON_IsArray(src)) {
		rd_err(r, "filters", "invalid_value");
		return;
	}
	out = cJSON_CreateArray();
	if (!out) {
		r->oom = 1;
		return;
	}
	cJSON_ArrayForEach(f, src) {
		cJSON *o = filter_read(r, f), *old, *next;

		if (!o)
			continue;
		for (old = out->child; old; old = next) {
			next = old->next;
			if (strcmp(doc_str(old, "key"), doc_str(o, "key")))
				continue;
			cJSON_Delete(cJSON_DetachItemViaPointer(out, old));
		}
		cJSON_AddItemToArray(out, o);
	}
	if (!r->bad && !r->oom && sort_items(out, cmp_key, 0) != TLY_OK)
		r->oom = 1;
	if (r->bad || r->oom)
		cJSON_Delete(out);
	else
		doc_set(r, doc, "filters", out);
}

/*
 * Assign the request's fields to doc.  Lago edits only the name, the
 * description and the filters of a metric that a plan uses (`locked`),
 * and ignores the other fields silently.
 */
static void take_attrs(struct rd *r, cJSON *doc, cJSON *in, int locked)
{
	take_str(r, doc, in, "name", NULL);
	take_str(r, doc, in, "description", NULL);
	take_filters(r, doc, in);
	if (locked)
		return;
	take_str(r, doc, in, "code", NULL);
	take_str(r, doc, in, "aggregation_type", agg_types);
	take_str(r, doc, in, "weighted_interval", "seconds");
	take_recurring(r, doc, in);
	take_str(r, doc, in, "field_name", NULL);
	take_str(r, doc, in, "expression", NULL);
	take_str(r, doc, in, "rounding_function", "round|ceil|floor");
	take_precision(r, doc, in);
}

static int is_agg(const char *agg, const char *type)
{
	return agg && !strcmp(agg, type);
}

/* The rules that hang on the aggregation type, and its defaults. */
static void check_agg(struct rd *r, cJSON *doc, const char *agg)
{
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(doc, "recurring");

	/* count_agg counts events: a field would mean nothing. */
	if (is_agg(agg, "count_agg"))
		doc_set(r, doc, "field_name", cJSON_CreateNull());
	else if (blank(doc_str(doc, "field_name")))
		rd_err(r, "field_name", "value_is_mandatory");
	/*
	 * Lago's reference says seconds is assumed when a weighted sum names
	 * no interval (its model would refuse the nil); it means nothing to
	 * the other types.
	 */
	if (!is_agg(agg, "weighted_sum_agg"))
		doc_set(r, doc, "weighted_interval", cJSON_CreateNull());
	else if (!doc_str(doc, "weighted_interval"))
		doc_set(r, doc, "weighted_interval",
			cJSON_CreateString("seconds"));
	if (!cJSON_IsBool(rec))
		doc_set(r, doc, "recurring", cJSON_CreateFalse());
	else if (cJSON_IsTrue(rec) && (is_agg(agg, "count_agg") ||
				       is_agg(agg, "max_agg") ||
				       is_agg(agg, "latest_agg")))
		rd_err(r, "recurring", "not_compatible_with_aggregation_type");
}

/* Lago's model validations on the merged attributes, and its defaults. */
static void check_attrs(struct rd *r, cJSON *doc)
{
	const char *agg = doc_str(doc, "aggregation_type");

	if (blank(doc_str(doc, "name")))
		rd_err(r, "name", "value_is_mandatory");
	if (blank(doc_str(doc, "code")))
		rd_err(r, "code", "value_is_mandatory");
	/* An absent or unknown type is nil to Lago: inclusion fails. */
	if (!agg)
		rd_err(r, "aggregation_type", "value_is_invalid");
	check_agg(r, doc, agg);
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "filters")))
		doc_set(r, doc, "filters", cJSON_CreateArray());
}

/* Merge the request into m->doc and validate: TLY_EINVAL with e filled. */
static int metric_read(struct api_doc *m, cJSON *in, int locked,
		       struct api_errs *e)
{
	struct rd r = {e, 0, 0};

	take_attrs(&r, m->doc, in, locked);
	if (!r.oom)
		check_attrs(&r, m->doc);
	return rd_result(&r);
}

/* ---- Lago's object ------------------------------------------------------ */

/*
 * Lago's billable metric.  The counters (deprecated, literal 0 in Lago)
 * come with create, update, delete and list, not with show.
 */
static cJSON *metric_json(const struct api_doc *m, int counters)
{
	static const char *const head[] = {
		"name", "code", "description", "aggregation_type",
		"weighted_interval", "recurring", "rounding_function",
		"rounding_precision"};
	static const char *const tail[] = {"field_name", "expression"};
	static const char *const counts[] = {
		"active_subscriptions_count", "draft_invoices_count",
		"plans_count"};
	cJSON *o = cJSON_CreateObject();
	int bad = !o || api_put_str(o, "lago_id", m->lago_id);

	for (size_t i = 0; !bad && i < N(head); i++)
		bad = api_put_copy(o, m->doc, head[i]);
	bad = bad || api_put_time(o, "created_at", m->created);
	for (size_t i = 0; !bad && i < N(tail); i++)
		bad = api_put_copy(o, m->doc, tail[i]);
	for (size_t i = 0; !bad && counters && i < N(counts); i++)
		bad = !cJSON_AddNumberToObject(o, counts[i], 0);
	if (bad || api_put_copy(o, m->doc, "filters")) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* ---- Storage ------------------------------------------------------------ */

#define METRIC_COLS "lago_id, doc, created_at"

/* The live metric with this code: TLY_OK, TLY_ENOTFOUND or an error. */
static int metric_load(struct api_ctx *x, const char *code, struct api_doc *m)
{
	static const char *const sql =
		"SELECT " METRIC_COLS " FROM billable_metrics "
		"WHERE code = ? AND deleted_at IS NULL";

	return api_doc_load(x, sql, code, m);
}

/* Does a charge of a live plan price this metric (by code or by id)? */
static int charges_use(const cJSON *plan, const struct api_doc *m)
{
	const char *code = doc_str(m->doc, "code");
	const cJSON *ch;

	cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(plan,
								"charges")) {
		const char *c = doc_str(ch, "billable_metric_code");
		const char *id = doc_str(ch, "billable_metric_id");

		if ((c && code && !strcmp(c, code)) ||
		    (id && !strcmp(id, m->lago_id)))
			return 1;
	}
	return 0;
}

static int metric_in_plans(struct api_ctx *x, const struct api_doc *m,
			   int *used)
{
	static const char *const sql =
		"SELECT doc FROM plans WHERE deleted_at IS NULL";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	*used = 0;
	if (rc != TLY_OK)
		return rc;
	while (!*used && (rc = store_step(st)) == STORE_ROW) {
		cJSON *plan = cJSON_Parse(store_col_text(st, 0));

		if (!plan) {
			rc = TLY_ENOMEM;
			break;
		}
		*used = charges_use(plan, m);
		cJSON_Delete(plan);
	}
	store_reset(st);
	return rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
}

/* Insert (is_new) or rewrite m; TLY_EEXIST when its code is taken. */
static int metric_save(struct api_ctx *x, const struct api_doc *m, int is_new)
{
	static const char *const ins =
		"INSERT INTO billable_metrics (lago_id, code, doc, created_at) "
		"VALUES (?, ?, ?, ?)";
	static const char *const upd =
		"UPDATE billable_metrics SET code = ?, doc = ? "
		"WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	char *text = cJSON_PrintUnformatted(m->doc);
	const char *code = doc_str(m->doc, "code");
	int rc;

	if (!text)
		return TLY_ENOMEM;
	rc = store_prepare(x->c, is_new ? ins : upd, &st);
	if (rc == TLY_OK && is_new) {
		store_bind_text(st, 1, m->lago_id);
		store_bind_text(st, 2, code);
		store_bind_text(st, 3, text);
		store_bind_i64(st, 4, m->created);
	} else if (rc == TLY_OK) {
		store_bind_text(st, 1, code);
		store_bind_text(st, 2, text);
		store_bind_text(st, 3, m->lago_id);
	}
	if (rc == TLY_OK)
		rc = store_run(st);
	if (rc == TLY_OK)
		rc = catalog_bump(x->c);
	cJSON_free(text);
	return rc;
}

static int metric_discard(struct api_ctx *x, const struct api_doc *m)
{
	static const char *const sql =
		"UPDATE billable_metrics SET deleted_at = ? WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, api_now());
	store_bind_text(st, 2, m->lago_id);
	rc = store_run(st);
	return rc == TLY_OK ? catalog_bump(x->c) : rc;
}

/* ---- Handlers ----------------------------------------------------------- */

/* Answer a write: commit and send the metric, or roll back and say why. */
static void metric_reply(struct api_ctx *x, int rc, const struct api_doc *m,
			 struct api_errs *e)
{
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc == TLY_OK) {
		api_send(x, "billable_metric", metric_json(m, 1));
		return;
	}
	store_rollback(x->c);
	if (rc == TLY_EEXIST)
		api_err(e, "code", "value_already_exist");
	if (rc == TLY_ENOTFOUND)
		api_not_found(x, "billable_metric");
	else if (!api_errs_send(x, e))
		api_store_failed(x);
}

void api_metrics_create(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "billable_metric", &root);
	struct api_doc m = {.created = api_now(), .doc = cJSON_CreateObject()};
	struct api_errs e = {0};
	int rc;

	if (!in)
		goto out;
	rc = m.doc ? util_uuid(m.lago_id) : TLY_ENOMEM;
	if (rc == TLY_OK)
		rc = metric_read(&m, in, 0, &e);
	if (rc == TLY_OK)
		rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = metric_save(x, &m, 1);
	metric_reply(x, rc, &m, &e);
out:
	api_doc_free(&m);
	api_errs_free(&e);
	cJSON_Delete(root);
}

void api_metrics_update(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "billable_metric", &root);
	struct api_doc m = {0};
	struct api_errs e = {0};
	int rc, used = 0;

	if (!in)
		return;
	rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = metric_load(x, x->req->cap[0], &m);
	if (rc == TLY_OK)
		rc = metric_in_plans(x, &m, &used);
	if (rc == TLY_OK)
		rc = metric_read(&m, in, used, &e);
	if (rc == TLY_OK)
		rc = metric_save(x, &m, 0);
	metric_reply(x, rc, &m, &e);
	api_doc_free(&m);
	api_errs_free(&e);
	cJSON_Delete(root);
}

void api_metrics_delete(struct api_ctx *x)
{
	struct api_doc m = {0};
	struct api_errs e = {0};
	int rc = store_begin(x->c);

	if (rc == TLY_OK)
		rc = metric_load(x, x->req->cap[0], &m);
	if (rc == TLY_OK)
		rc = metric_discard(x, &m);
	metric_reply(x, rc, &m, &e);
	api_doc_free(&m);
	api_errs_free(&e);
}

void api_metrics_get(struct api_ctx *x)
{
	struct api_doc m = {0};
	int rc = metric_load(x, x->req->cap[0], &m);

	api_send_found(x, rc, "billable_metric",
		       rc == TLY_OK ? metric_json(&m, 0) : NULL);
	api_doc_free(&m);
}

/* A listed metric carries its usage counters; GET of one does not. */
static cJSON *metric_listed(const struct api_doc *m)
{
	return metric_json(m, 1);
}

void api_metrics_list(struct api_ctx *x)
{
	static const char *const count =
		"SELECT COUNT(*) FROM billable_metrics "
		"WHERE deleted_at IS NULL";
	static const char *const page =
		"SELECT " METRIC_COLS " FROM billable_metrics "
		"WHERE deleted_at IS NULL "
		"ORDER BY created_at DESC, lago_id LIMIT ? OFFSET ?";

	api_doc_list(x, "billable_metrics", count, page, metric_listed);
}
