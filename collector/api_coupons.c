/*
 * api_coupons.c - Lago's coupons: /api/v1/coupons (create, get, list,
 * update, delete), /api/v1/applied_coupons (apply to a customer, list)
 * and DELETE /api/v1/customers/:external_id/applied_coupons/:id
 * (terminate).  coupon.c applies them to invoices.
 *
 * Lago's code (lago-api): controllers api/v1/coupons_controller.rb,
 * applied_coupons_controller.rb, customers/applied_coupons_controller.rb;
 * services coupons/{create,update,destroy,validate,terminate}_service.rb,
 * applied_coupons/{create,terminate}_service.rb; models coupon.rb,
 * applied_coupon.rb; serializers v1/coupon_serializer.rb,
 * applied_coupon_serializer.rb, credit_serializer.rb; queries
 * coupons_query.rb, applied_coupons_query.rb.
 *
 * A coupon's doc keeps its attributes under Lago's names, its
 * limitations as limited_plans / limited_billable_metrics and the targets
 * as plan_ids / billable_metric_ids (lago_ids, as Lago's coupon_targets);
 * percentage_rate is decimal text at most 5 places (numeric(10,5)).
 * Lago's clock job terminates time-limited coupons past expiration_at;
 * here every coupon request does it first (coupons_expire), with the
 * expiration time as terminated_at.
 *
 * Where Lago fails with a 500 (a percentage_rate past numeric(10,5), an
 * unknown applied frequency) Tally answers 422; a negative
 * percentage_rate, which Lago takes, is refused (value_is_out_of_range)
 * as taxes refuse negative rates.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "currency.h"
#include "dec.h"
#include "err.h"
#include "event.h"
#include "util.h"

#define DAY_MS INT64_C(86400000)
#define EXACT_MAX INT64_C(9007199254740992)	/* cents a double holds */
#define INT32_MAXV INT64_C(2147483647)		/* Lago's integer columns */
#define RATE_MAX 100000			/* numeric(10,5) holds less */
#define CODE_MAX 255

/* A coupon row. */
struct coupon {
	char lago_id[UTIL_UUID_LEN];
	char status[16];		/* active|terminated */
	int64_t created;
	int64_t terminated;		/* -1: not */
	cJSON *doc;
};

/* A request in progress. */
struct rq {
	struct api_ctx *x;
	struct api_errs e;
	int sent;	/* the answer (404, 405) is sent already */
	int oom;
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Rails' blank?: NULL, empty or only white space. */
static int blank(const char *s)
{
	while (s && isspace((unsigned char)*s))
		s++;
	return !s || !*s;
}

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *doc_str(const cJSON *doc, const char *key)
{
	const cJSON *v = get(doc, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int doc_true(const cJSON *doc, const char *key)
{
	return cJSON_IsTrue(get(doc, key));
}

/* One of the '|'-separated words? */
static int one_of(const char *s, const char *words)
{
	size_t n = s ? strlen(s) : 0;

	for (const char *p = words; s && p && *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, s, n) == 0)
			return 1;
		p = bar ? bar + 1 : NULL;
	}
	return 0;
}

/* doc[key] = item (consumed), replacing what was there. */
static void doc_set(struct rq *r, cJSON *doc, const char *key, cJSON *item)
{
	cJSON_DeleteItemFromObjectCaseSensitive(doc, key);
	if (!item || !cJSON_AddItemToObject(doc, key, item)) {
		cJSON_Delete(item);
		r->oom = 1;
	}
}

/* Record a validation error, the first per field. */
static void err(struct rq *r, const char *field, const char *code)
{
	if (!get(r->e.details, field))
		api_err(&r->e, field, code);
}

static int put_i64(cJSON *o, const char *key, int has, int64_t v)
{
	return api_put(o, key, has ? cJSON_CreateNumber((double)v) :
				 cJSON_CreateNull());
}

/*
 * A numeric(10,5) as Rails writes a BigDecimal: a string without
 * trailing zeros, ".0" on whole numbers ("12.50000" -> "12.5", "10" ->
 * "10.0"); null when text is NULL.
 */
static int put_rate(cJSON *o, const char *key, const char *text)
{
	char buf[DEC_DOUBLE_BUFSZ];

	return api_put(o, key, api_ruby_decimal(text, buf, sizeof(buf)) == TLY_OK ?
		   cJSON_CreateString(buf) : cJSON_CreateNull());
}

/* ---- Times -------------------------------------------------------------- */

/*
 * An ISO 8601 time as Rails casts it to a datetime: RFC 3339, the same
 * without a zone (UTC), or a date alone (its midnight, UTC).
 */
static int parse_time(const char *s, int64_t *ms)
{
	char buf[64];
	size_t n = strlen(s);

	if (n < 10 || n >= sizeof(buf) - 10 || s[4] != '-' || s[7] != '-')
		return TLY_EINVAL;
	if (n == 10)
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
	else if (n >= 19 && !strpbrk(s + 19, "Zz+-"))
		snprintf(buf, sizeof(buf), "%sZ", s);
	else
		snprintf(buf, sizeof(buf), "%s", s);
	return ev_parse_time(buf, ms);
}

/*
 * Lago's Coupons::ValidateService: a given expiration_at must read as a
 * date (Date.strptime of its YYYY-MM-DD) not before today, UTC; else 422
 * {"expiration_at": ["invalid_date"]} before anything else.
 */
static int expiration_ok(cJSON *in, struct rq *r)
{
	const cJSON *v = get(in, "expiration_at");
	char day[11];
	int64_t at, date;

	if (!v || cJSON_IsNull(v) ||
	    (cJSON_IsString(v) && blank(v->valuestring)))
		return 1;
	if (cJSON_IsString(v) && strlen(v->valuestring) >= 10 &&
	    parse_time(v->valuestring, &at) == TLY_OK) {
		memcpy(day, v->valuestring, 10);
		day[10] = '\0';
		if (parse_time(day, &date) == TLY_OK &&
		    floor_div(date, DAY_MS) >= floor_div(api_now(), DAY_MS))
			return 1;
	}
	err(r, "expiration_at", "invalid_date");
	return 0;
}

/* ---- Reading a coupon request ------------------------------------------- */

/* doc[key] = the request's string (or null) when the request names key. */
static void take_str(struct rq *r, cJSON *doc, cJSON *in, const char *key,
		     size_t max)
{
	const char *v = NULL;

	if (!get(in, key))
		return;
	if (api_str(in, key, 0, max, &v, &r->e) >= 0)
		doc_set(r, doc, key, v ? cJSON_CreateString(v) :
					 cJSON_CreateNull());
}

static void take_int(struct rq *r, cJSON *doc, cJSON *in, const char *key,
		     int64_t min, int64_t max)
{
	int64_t v = 0;
	int rc;

	if (!get(in, key))
		return;
	rc = api_int(in, key, 0, min, max, &v, &r->e);
	if (rc >= 0)
		doc_set(r, doc, key, rc ? cJSON_CreateNumber((double)v) :
					  cJSON_CreateNull());
}

static void take_bool(struct rq *r, cJSON *doc, cJSON *in, const char *key)
{
	int v = 0, rc;

	if (!get(in, key))
		return;
	rc = api_bool(in, key, &v, &r->e);
	if (rc >= 0)
		doc_set(r, doc, key, rc ? cJSON_CreateBool(v) :
					  cJSON_CreateNull());
}

/*
 * A percentage_rate: a decimal string (Lago's spec) or a JSON number
 * (read as its shortest decimal), rounded half away from zero to 5
 * places as numeric(10,5) stores it.  1 with *out the text (the caller
 * frees it), 0 for none (null or ""), -1 after recording an error.
 */
static int rate_text(struct rq *r, const cJSON *v, char **out)
{
	int rc = TLY_EINVAL;
	dec_t d;

	*out = NULL;
	if (!v || cJSON_IsNull(v) ||
	    (cJSON_IsString(v) && blank(v->valuestring)))
		return 0;
	dec_init(&d);
	if (cJSON_IsString(v))
		rc = dec_parse_str(&d, v->valuestring);
	else if (cJSON_IsNumber(v))
		rc = dec_from_double(&d, v->valuedouble);
	if (rc == TLY_OK && d.scale > 5)
		rc = dec_round(&d, &d, 5, DEC_HALF_UP);
	if (rc != TLY_OK)
		err(r, "percentage_rate", "invalid_value");
	else if (dec_sgn(&d) < 0 || dec_cmp_i64(&d, RATE_MAX) >= 0)
		err(r, "percentage_rate", "value_is_out_of_range");
	else if (!(*out = dec_to_str(&d)))
		r->oom = 1;
	dec_clear(&d);
	return *out ? 1 : -1;
}

static void take_rate(struct rq *r, cJSON *doc, cJSON *in)
{
	const cJSON *v = get(in, "percentage_rate");
	char *text = NULL;
	int rc;

	if (!v)
		return;
	rc = rate_text(r, v, &text);
	if (rc >= 0)
		doc_set(r, doc, "percentage_rate",
			rc ? cJSON_CreateString(text) : cJSON_CreateNull());
	free(text);
}

/* expiration_at (already checked by expiration_ok) as Unix ms, or null. */
static void take_expiration_at(struct rq *r, cJSON *doc, cJSON *in)
{
	const cJSON *v = get(in, "expiration_at");
	int64_t ms;

	if (!v)
		return;
	if (cJSON_IsString(v) && !blank(v->valuestring) &&
	    parse_time(v->valuestring, &ms) == TLY_OK)
		doc_set(r, doc, "expiration_at", cJSON_CreateNumber((double)ms));
	else
		doc_set(r, doc, "expiration_at", cJSON_CreateNull());
}

/* The attributes a coupon already applied may still change. */
static void take_open(struct rq *r, cJSON *doc, cJSON *in)
{
	take_str(r, doc, in, "name", 0);
	take_str(r, doc, in, "description", 0);
	take_str(r, doc, in, "expiration", 0);
	take_expiration_at(r, doc, in);
}

/* The terms, which only a coupon never applied may change. */
static void take_terms(struct rq *r, cJSON *doc, cJSON *in)
{
	take_str(r, doc, in, "code", CODE_MAX);
	take_str(r, doc, in, "coupon_type", 0);
	take_int(r, doc, in, "amount_cents", 1 - EXACT_MAX, EXACT_MAX);
	take_str(r, doc, in, "amount_currency", 0);
	take_rate(r, doc, in);
	take_str(r, doc, in, "frequency", 0);
	take_int(r, doc, in, "frequency_duration", -INT32_MAXV - 1,
		 INT32_MAXV);
	take_bool(r, doc, in, "reusable");
}

/* A new coupon's doc: every attribute null (Lago's Coupon.new(args[...]))
 * but reusable (true unless given) and no limitation. */
static cJSON *coupon_blank(void)
{
	static const char *const nulls[] = {
		"name", "code", "description", "coupon_type", "amount_cents",
		"amount_currency", "percentage_rate", "frequency",
		"frequency_duration", "expiration", "expiration_at"};
	cJSON *doc = cJSON_CreateObject();
	int bad = !doc;

	for (size_t i = 0; !bad && i < sizeof(nulls) / sizeof(*nulls); i++)
		bad = !cJSON_AddNullToObject(doc, nulls[i]);
	bad = bad || !cJSON_AddTrueToObject(doc, "reusable") ||
	      !cJSON_AddFalseToObject(doc, "limited_plans") ||
	      !cJSON_AddFalseToObject(doc, "limited_billable_metrics") ||
	      !cJSON_AddArrayToObject(doc, "plan_ids") ||
	      !cJSON_AddArrayToObject(doc, "billable_metric_ids");
	if (bad) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* ---- Limitations (applies_to) -------------------------------------------- */

static int add_code(cJSON *arr, const char *s)
{
	cJSON *item = cJSON_CreateString(s);

	if (item && cJSON_AddItemToArray(arr, item))
		return 0;
	cJSON_Delete(item);
	return -1;
}

/* The codes of applies_to[key], compacted and deduplicated (Lago's
 * compact.uniq); NULL when not given.  The caller deletes it. */
static cJSON *codes_of(cJSON *in, const char *key, struct rq *r)
{
	const cJSON *to = get(in, "applies_to"), *list = get(to, key), *c;
	cJSON *out;

	if (!cJSON_IsObject(to) || !cJSON_IsArray(list))
		return NULL;
	out = cJSON_CreateArray();
	if (!out) {
		r->oom = 1;
		return NULL;
	}
	cJSON_ArrayForEach(c, list) {
		const cJSON *o;
		int seen = 0;

		if (!cJSON_IsString(c))
			continue;
		cJSON_ArrayForEach(o, out)
			seen |= !strcmp(o->valuestring, c->valuestring);
		if (!seen && add_code(out, c->valuestring) != 0)
			r->oom = 1;
	}
	return out;
}

/* Append the lago_id of the live object (plan or metric) with code. */
static int resolve_one(struct api_ctx *x, const char *sql, const char *code,
		       cJSON *ids)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, code);
	rc = store_step(st);
	if (rc == STORE_ROW)
		rc = cJSON_AddItemToArray(ids, cJSON_CreateString(
					  store_col_text(st, 0))) ?
		     TLY_OK : TLY_ENOMEM;
	else if (rc == STORE_DONE)
		rc = TLY_OK;		/* counted short by the caller */
	store_reset(st);
	return rc;
}

/* *ids = the lago_ids of the live codes found (fewer when some are not). */
static int resolve(struct api_ctx *x, int plans, const cJSON *codes,
		   cJSON **ids)
{
	static const char *const plan_sql =
		"SELECT lago_id FROM plans WHERE code = ? "
		"AND deleted_at IS NULL";
	static const char *const metric_sql =
		"SELECT lago_id FROM billable_metrics WHERE code = ? "
		"AND deleted_at IS NULL";
	const cJSON *c;
	int rc = TLY_OK;

	*ids = cJSON_CreateArray();
	if (!*ids)
		return TLY_ENOMEM;
	cJSON_ArrayForEach(c, codes)
		if (rc == TLY_OK)
			rc = resolve_one(x, plans ? plan_sql : metric_sql,
					 c->valuestring, *ids);
	return rc;
}

/* The limitation request: codes given (NULL: not) and their ids. */
struct limits {
	cJSON *plan_codes, *metric_codes;
	cJSON *plan_ids, *metric_ids;
};

static void limits_free(struct limits *l)
{
	cJSON_Delete(l->plan_codes);
	cJSON_Delete(l->metric_codes);
	cJSON_Delete(l->plan_ids);
	cJSON_Delete(l->metric_ids);
}

/*
 * Read and resolve applies_to; send Lago's 404 plans_not_found or
 * billable_metrics_not_found, or its 405
 * only_one_limitation_type_per_coupon_allowed.
 */
static int limits_read(struct rq *r, cJSON *in, struct limits *l)
{
	int rc;

	l->plan_codes = codes_of(in, "plan_codes", r);
	l->metric_codes = codes_of(in, "billable_metric_codes", r);
	if (r->oom)
		return TLY_ENOMEM;
	rc = resolve(r->x, 1, l->plan_codes, &l->plan_ids);
	if (rc == TLY_OK)
		rc = resolve(r->x, 0, l->metric_codes, &l->metric_ids);
	if (rc != TLY_OK)
		return rc;
	if (cJSON_GetArraySize(l->plan_ids) !=
	    cJSON_GetArraySize(l->plan_codes)) {
		api_not_found(r->x, "plans");
	} else if (cJSON_GetArraySize(l->metric_ids) !=
		   cJSON_GetArraySize(l->metric_codes)) {
		api_not_found(r->x, "billable_metrics");
	} else if (cJSON_GetArraySize(l->plan_ids) &&
		   cJSON_GetArraySize(l->metric_ids)) {
		httpd_error(r->x->resp, 405,
			    "only_one_limitation_type_per_coupon_allowed",
			    NULL);
	} else {
		return TLY_OK;
	}
	r->sent = 1;
	return TLY_EINVAL;
}

/*
 * Lago's limitation flags and targets, create (Coupons::CreateService)
 * or update of a coupon never applied (Coupons::UpdateService, whose
 * targets become exactly those given: none when applies_to is left out).
 */
static void limits_apply(struct rq *r, cJSON *doc, struct limits *l,
			 int is_new)
{
	int np = cJSON_GetArraySize(l->plan_ids);
	int nm = cJSON_GetArraySize(l->metric_ids);
	int had_p = cJSON_GetArraySize(get(doc, "plan_ids")) > 0;
	int had_m = cJSON_GetArraySize(get(doc, "billable_metric_ids")) > 0;

	if (!is_new && had_m && np && !nm)
		doc_set(r, doc, "limited_billable_metrics", cJSON_CreateFalse());
	else if (is_new || l->metric_codes)
		doc_set(r, doc, "limited_billable_metrics",
			cJSON_CreateBool(nm > 0));
	if (!is_new && had_p && nm && !np)
		doc_set(r, doc, "limited_plans", cJSON_CreateFalse());
	else if (is_new || l->plan_codes)
		doc_set(r, doc, "limited_plans", cJSON_CreateBool(np > 0));
	doc_set(r, doc, "plan_ids", l->plan_ids);
	doc_set(r, doc, "billable_metric_ids", l->metric_ids);
	l->plan_ids = l->metric_ids = NULL;
}

/* ---- Coupon storage ------------------------------------------------------ */

#define COUPON_COLS "lago_id, status, doc, created_at, terminated_at"

static void coupon_free(struct coupon *cp)
{
	cJSON_Delete(cp->doc);
	cp->doc = NULL;
}

/* A coupon from a COUPON_COLS row (api_load_one's reader). */
static int coupon_row(struct store_stmt *st, void *out)
{
	struct coupon *cp = out;
	const char *id = store_col_text(st, 0);
	const char *status = store_col_text(st, 1);

	snprintf(cp->lago_id, sizeof(cp->lago_id), "%s", id ? id : "");
	snprintf(cp->status, sizeof(cp->status), "%s", status ? status : "");
	cp->created = store_col_i64(st, 3);
	cp->terminated = store_col_null(st, 4) ? -1 : store_col_i64(st, 4);
	cp->doc = cJSON_Parse(store_col_text(st, 2));
	return cp->doc ? TLY_OK : TLY_ENOMEM;
}

/* The live coupon with code: TLY_OK, TLY_ENOTFOUND or an error. */
static int coupon_load(struct api_ctx *x, const char *code,
		       struct coupon *cp)
{
	static const char *const sql =
		"SELECT " COUPON_COLS " FROM coupons "
		"WHERE code = ? AND deleted_at IS NULL";

	return api_load_one(x, sql, code, coupon_row, cp);
}

/* Lago's clock job: time-limited coupons past expiration_at end. */
static int coupons_expire(struct api_ctx *x)
{
	static const char *const sql =
		"UPDATE coupons SET status = 'terminated', "
		"terminated_at = expiration_at WHERE status = 'active' "
		"AND expiration = 'time_limit' AND expiration_at < ? "
		"AND deleted_at IS NULL";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, api_now());
	return store_run(st);
}

static int bind_opt_text(struct store_stmt *st, int i, const char *s)
{
	return s ? store_bind_text(st, i, s) : store_bind_null(st, i);
}

/* Insert (is_new) or rewrite cp; TLY_EEXIST when its code is taken. */
static int coupon_save(struct api_ctx *x, const struct coupon *cp,
		       int is_new)
{
	static const char *const ins =
		"INSERT INTO coupons (code, expiration, expiration_at, doc, "
		"lago_id, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
	static const char *const upd =
		"UPDATE coupons SET code = ?, expiration = ?, "
		"expiration_at = ?, doc = ? WHERE lago_id = ?";
	const cJSON *at = get(cp->doc, "expiration_at");
	char *text = cJSON_PrintUnformatted(cp->doc);
	struct store_stmt *st = NULL;
	int rc;

	if (!text)
		return TLY_ENOMEM;
	rc = store_prepare(x->c, is_new ? ins : upd, &st);
	if (rc == TLY_OK) {
		bind_opt_text(st, 1, doc_str(cp->doc, "code"));
		store_bind_text(st, 2, doc_str(cp->doc, "expiration"));
		if (cJSON_IsNumber(at))
			store_bind_i64(st, 3, (int64_t)at->valuedouble);
		else
			store_bind_null(st, 3);
		store_bind_text(st, 4, text);
		store_bind_text(st, 5, cp->lago_id);
		if (is_new) {
			store_bind_text(st, 6, cp->status);
			store_bind_i64(st, 7, cp->created);
		}
		rc = store_run(st);
	}
	cJSON_free(text);
	return rc;
}

/* Is another live coupon's code the same (NULL codes as well, as
 * Rails' uniqueness check has it)? */
static int code_taken(struct api_ctx *x, const struct coupon *cp, int *taken)
{
	static const char *const by_code =
		"SELECT COUNT(*) FROM coupons WHERE code = ? "
		"AND deleted_at IS NULL AND lago_id <> ?";
	static const char *const by_null =
		"SELECT COUNT(*) FROM coupons WHERE code IS NULL "
		"AND deleted_at IS NULL AND lago_id <> ?";
	const char *code = doc_str(cp->doc, "code");
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, code ? by_code : by_null, &st);

	if (rc != TLY_OK)
		return rc;
	if (code)
		store_bind_text(st, 1, code);
	store_bind_text(st, code ? 2 : 1, cp->lago_id);
	rc = store_step(st);
	*taken = rc == STORE_ROW && store_col_i64(st, 0) > 0;
	store_reset(st);
	return rc == STORE_ROW ? TLY_OK : TLY_EDB;
}

/* Lago's Coupon validations, in its order. */
static int coupon_check(struct rq *r, const struct coupon *cp)
{
	const cJSON *doc = cp->doc, *amount = get(doc, "amount_cents");
	const char *type = doc_str(doc, "coupon_type");
	const char *cur = doc_str(doc, "amount_currency");
	int fixed = type && !strcmp(type, "fixed_amount"), taken = 0;
	int rc = code_taken(r->x, cp, &taken);

	if (rc != TLY_OK)
		return rc;
	if (!one_of(doc_str(doc, "expiration"), "no_expiration|time_limit"))
		err(r, "expiration", "value_is_invalid");
	if (!one_of(type, "fixed_amount|percentage"))
		err(r, "coupon_type", "value_is_invalid");
	if (!one_of(doc_str(doc, "frequency"), "once|recurring|forever"))
		err(r, "frequency", "value_is_invalid");
	if (blank(doc_str(doc, "name")))
		err(r, "name", "value_is_mandatory");
	if (taken)
		err(r, "code", "value_already_exist");
	if (fixed && !cJSON_IsNumber(amount))
		err(r, "amount_cents", "value_is_mandatory");
	if (cJSON_IsNumber(amount) && amount->valuedouble <= 0)
		err(r, "amount_cents", "value_is_out_of_range");
	if (fixed && !cur)
		err(r, "amount_currency", "value_is_mandatory");
	if (cur && currency_exponent(cur) < 0)
		err(r, "amount_currency", "value_is_invalid");
	if (type && !strcmp(type, "percentage") &&
	    !doc_str(doc, "percentage_rate"))
		err(r, "percentage_rate", "value_is_mandatory");
	if (!cJSON_IsBool(get(doc, "reusable")))
		err(r, "reusable", "value_is_invalid");
	return r->oom ? TLY_ENOMEM : r->e.details ? TLY_EINVAL : TLY_OK;
}

/* ---- Lago's coupon object ------------------------------------------------ */

/* The codes of the live objects whose lago_ids doc[key] lists. */
static cJSON *codes_json(struct api_ctx *x, const cJSON *doc, int plans)
{
	static const char *const plan_sql =
		"SELECT code FROM plans WHERE lago_id = ? "
		"AND deleted_at IS NULL";
	static const char *const metric_sql =
		"SELECT code FROM billable_metrics WHERE lago_id = ? "
		"AND deleted_at IS NULL";
	const cJSON *id;
	cJSON *arr = cJSON_CreateArray();
	int rc = arr ? TLY_OK : TLY_ENOMEM;

	cJSON_ArrayForEach(id, get(doc, plans ? "plan_ids" :
					    "billable_metric_ids")) {
		if (rc == TLY_OK && cJSON_IsString(id))
			rc = resolve_one(x, plans ? plan_sql : metric_sql,
					 id->valuestring, arr);
	}
	if (rc != TLY_OK) {
		cJSON_Delete(arr);
		return NULL;
	}
	return arr;
}

static int put_time_of(cJSON *o, const char *key, const cJSON *doc,
		       const char *dkey)
{
	const cJSON *v = get(doc, dkey);

	return api_put_time(o, key, cJSON_IsNumber(v) ?
				    (int64_t)v->valuedouble : -1);
}

/* Lago's V1::CouponSerializer. */
static cJSON *coupon_json(struct api_ctx *x, const struct coupon *cp)
{
	static const char *const head[] = {
		"name", "code", "description", "coupon_type", "amount_cents",
		"amount_currency"};
	static const char *const mid[] = {
		"frequency", "frequency_duration", "reusable", "limited_plans",
		"limited_billable_metrics"};
	const cJSON *doc = cp->doc;
	cJSON *o = cJSON_CreateObject();
	int bad = !o || api_put_str(o, "lago_id", cp->lago_id);

	for (size_t i = 0; !bad && i < sizeof(head) / sizeof(*head); i++)
		bad = api_put_copy(o, doc, head[i]);
	bad = bad || put_rate(o, "percentage_rate",
			      doc_str(doc, "percentage_rate"));
	for (size_t i = 0; !bad && i < sizeof(mid) / sizeof(*mid); i++)
		bad = api_put_copy(o, doc, mid[i]);
	bad = bad || api_put(o, "plan_codes", codes_json(x, doc, 1)) ||
	      api_put(o, "billable_metric_codes", codes_json(x, doc, 0)) ||
	      api_put_time(o, "created_at", cp->created) ||
	      api_put_copy(o, doc, "expiration") ||
	      put_time_of(o, "expiration_at", doc, "expiration_at") ||
	      api_put_time(o, "terminated_at", cp->terminated);
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* ---- Coupon handlers ------------------------------------------------------ */

/* Answer a write: commit and send the coupon, or roll back and say why. */
static void coupon_reply(struct rq *r, int rc, const struct coupon *cp)
{
	if (rc == TLY_OK)
		rc = store_commit(r->x->c);
	if (rc == TLY_OK) {
		api_send(r->x, "coupon", coupon_json(r->x, cp));
		return;
	}
	store_rollback(r->x->c);
	if (r->sent)
		return;
	if (rc == TLY_EEXIST)
		err(r, "code", "value_already_exist");
	if (rc == TLY_ENOTFOUND)
		api_not_found(r->x, "coupon");
	else if (!api_errs_send(r->x, &r->e))
		api_store_failed(r->x);
}

/* Has the coupon ever been applied (Lago's applied_coupons.exists?)? */
static int coupon_applied(struct api_ctx *x, const char *id, int *applied)
{
	static const char *const sql =
		"SELECT COUNT(*) FROM applied_coupons WHERE coupon_id = ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, id);
	rc = store_step(st);
	*applied = rc == STORE_ROW && store_col_i64(st, 0) > 0;
	store_reset(st);
	return rc == STORE_ROW ? TLY_OK : TLY_EDB;
}

/* Assign the request to cp (all of it, or what an applied coupon may
 * change) and check it as Lago's services do. */
static int coupon_build(struct rq *r, struct coupon *cp, cJSON *in,
			int is_new)
{
	struct limits l = {0};
	int applied = 0;
	int rc = is_new ? TLY_OK : coupon_applied(r->x, cp->lago_id, &applied);

	if (rc != TLY_OK)
		return rc;
	take_open(r, cp->doc, in);
	if (!applied)
		take_terms(r, cp->doc, in);
	if (!applied)
		rc = limits_read(r, in, &l);
	if (rc == TLY_OK && !applied)
		limits_apply(r, cp->doc, &l, is_new);
	limits_free(&l);
	if (rc == TLY_OK && r->e.details)	/* a field of a wrong type */
		rc = TLY_EINVAL;
	if (rc == TLY_OK)
		rc = coupon_check(r, cp);
	return rc;
}

void api_coupons_create(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "coupon", &root);
	struct coupon cp = {.created = api_now(), .terminated = -1,
			    .status = "active", .doc = coupon_blank()};
	struct rq r = {.x = x};
	int rc;

	if (!in)
		goto out;
	if (!expiration_ok(in, &r)) {
		api_errs_send(x, &r.e);
		goto out;
	}
	rc = cp.doc ? util_uuid(cp.lago_id) : TLY_ENOMEM;
	if (rc == TLY_OK)
		rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = coupons_expire(x);
	if (rc == TLY_OK)
		rc = coupon_build(&r, &cp, in, 1);
	if (rc == TLY_OK)
		rc = coupon_save(x, &cp, 1);
	coupon_reply(&r, rc, &cp);
out:
	coupon_free(&cp);
	api_errs_free(&r.e);
	cJSON_Delete(root);
}

void api_coupons_update(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "coupon", &root);
	struct coupon cp = {0};
	struct rq r = {.x = x};
	int rc;

	if (!in)
		return;
	rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = coupons_expire(x);
	if (rc == TLY_OK)
		rc = coupon_load(x, x->req->cap[0], &cp);
	if (rc == TLY_OK && !expiration_ok(in, &r))
		rc = TLY_EINVAL;
	if (rc == TLY_OK)
		rc = coupon_build(&r, &cp, in, 0);
	if (rc == TLY_OK)
		rc = coupon_save(x, &cp, 0);
	coupon_reply(&r, rc, &cp);
	coupon_free(&cp);
	api_errs_free(&r.e);
	cJSON_Delete(root);
}

/* Lago's Coupons::DestroyService: discard the coupon and its targets,
 * terminate its active applied coupons. */
static int coupon_destroy(struct rq *r, struct coupon *cp)
{
	static const char *const del =
		"UPDATE coupons SET deleted_at = ?, doc = ? WHERE lago_id = ?";
	static const char *const end =
		"UPDATE applied_coupons SET status = 'terminated', "
		"terminated_at = ? WHERE coupon_id = ? AND status = 'active'";
	struct store_stmt *st = NULL;
	int64_t now = api_now();
	char *text;
	int rc;

	doc_set(r, cp->doc, "plan_ids", cJSON_CreateArray());
	doc_set(r, cp->doc, "billable_metric_ids", cJSON_CreateArray());
	text = r->oom ? NULL : cJSON_PrintUnformatted(cp->doc);
	if (!text)
		return TLY_ENOMEM;
	rc = store_prepare(r->x->c, del, &st);
	if (rc == TLY_OK) {
		store_bind_i64(st, 1, now);
		store_bind_text(st, 2, text);
		store_bind_text(st, 3, cp->lago_id);
		rc = store_run(st);
	}
	cJSON_free(text);
	if (rc == TLY_OK)
		rc = store_prepare(r->x->c, end, &st);
	if (rc == TLY_OK) {
		store_bind_i64(st, 1, now);
		store_bind_text(st, 2, cp->lago_id);
		rc = store_run(st);
	}
	return rc;
}

void api_coupons_delete(struct api_ctx *x)
{
	struct coupon cp = {0};
	struct rq r = {.x = x};
	int rc = store_begin(x->c);

	if (rc == TLY_OK)
		rc = coupons_expire(x);
	if (rc == TLY_OK)
		rc = coupon_load(x, x->req->cap[0], &cp);
	if (rc == TLY_OK)
		rc = coupon_destroy(&r, &cp);
	coupon_reply(&r, rc, &cp);
	coupon_free(&cp);
	api_errs_free(&r.e);
}

/* Run the expiry sweep on its own (the read handlers). */
static int expire_now(struct api_ctx *x)
{
	int rc = store_begin(x->c);

	if (rc == TLY_OK)
		rc = coupons_expire(x);
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc != TLY_OK)
		store_rollback(x->c);
	return rc;
}

void api_coupons_get(struct api_ctx *x)
{
	struct coupon cp = {0};
	int rc = expire_now(x);

	if (rc == TLY_OK)
		rc = coupon_load(x, x->req->cap[0], &cp);
	api_send_found(x, rc, "coupon",
		       rc == TLY_OK ? coupon_json(x, &cp) : NULL);
	coupon_free(&cp);
}

/* One page of live coupons in Lago's order (order_by_status_and_
 * expiration: active first, no_expiration first, soonest first, with
 * no expiration_at last as PostgreSQL sorts NULLs), then oldest first. */
static cJSON *coupon_row_json(struct api_ctx *x, struct store_stmt *st,
			     void *arg)
{
	struct coupon cp = {0};
	cJSON *o = NULL;

	(void)arg;
	if (coupon_row(st, &cp) == TLY_OK)
		o = coupon_json(x, &cp);
	coupon_free(&cp);
	return o;
}

static int coupon_page(struct api_ctx *x, int64_t page, int64_t per,
		       cJSON *list)
{
	static const char *const sql =
		"SELECT " COUPON_COLS " FROM coupons WHERE deleted_at IS NULL "
		"ORDER BY status, expiration, expiration_at IS NULL, "
		"expiration_at, created_at, lago_id LIMIT ? OFFSET ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, per);
	store_bind_i64(st, 2, (page - 1) * per);
	return api_rows_append(x, st, coupon_row_json, NULL, list);
}

void api_coupons_list(struct api_ctx *x)
{
	static const char *const count_sql =
		"SELECT COUNT(*) FROM coupons WHERE deleted_at IS NULL";
	int64_t page, per, total;
	cJSON *root, *list;

	if (api_page(x, &page, &per) != TLY_OK)
		return;
	total = expire_now(x) == TLY_OK ? api_count(x, count_sql) : -1;
	root = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(root, "coupons");
	if (total < 0 || !list || coupon_page(x, page, per, list) != TLY_OK ||
	    api_meta(root, page, per, total) != 0) {
		cJSON_Delete(root);
		api_store_failed(x);
		return;
	}
	httpd_json(x->resp, 200, root);
}

/* ---- Applied coupons: the customer ---------------------------------------- */

struct cust {
	char lago_id[UTIL_UUID_LEN];
	char currency[16];	/* "" when none */
};

/* The live customer with external id ext: TLY_ENOTFOUND when none. */
static int cust_find(struct api_ctx *x, const char *ext, struct cust *cu)
{
	static const char *const sql =
		"SELECT lago_id, doc FROM customers "
		"WHERE external_id = ? AND deleted_at IS NULL";
	struct store_stmt *st = NULL;
	cJSON *doc;
	int rc;

	if (!ext)
		return TLY_ENOTFOUND;
	rc = store_prepare(x->c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, ext);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		snprintf(cu->lago_id, sizeof(cu->lago_id), "%s",
			 store_col_text(st, 0));
		doc = cJSON_Parse(store_col_text(st, 1));
		snprintf(cu->currency, sizeof(cu->currency), "%s",
			 doc_str(doc, "currency") ? doc_str(doc, "currency") :
						    "");
		rc = doc ? TLY_OK : TLY_ENOMEM;
		cJSON_Delete(doc);
	} else if (rc == STORE_DONE) {
		rc = TLY_ENOTFOUND;
	}
	store_reset(st);
	return rc;
}

/*
 * Lago's Customers::UpdateCurrencyService for a fixed coupon: a customer
 * without a currency takes the coupon's; one with another currency is
 * refused (422 currencies_does_not_match).
 */
static int cust_currency(struct rq *r, const char *ext, struct cust *cu,
			 const char *cur)
{
	cJSON *in;
	int rc;

	if (!cur || !strcmp(cu->currency, cur))
		return TLY_OK;
	if (cu->currency[0]) {
		err(r, "currency", "currencies_does_not_match");
		return TLY_EINVAL;
	}
	if (currency_exponent(cur) < 0) {
		err(r, "currency", "value_is_invalid");
		return TLY_EINVAL;
	}
	in = cJSON_CreateObject();
	if (!in || !cJSON_AddStringToObject(in, "external_id", ext) ||
	    !cJSON_AddStringToObject(in, "currency", cur)) {
		cJSON_Delete(in);
		return TLY_ENOMEM;
	}
	rc = api_customer_upsert(r->x, in, ext, cu->lago_id, &r->e);
	cJSON_Delete(in);
	return rc;
}

/* ---- Applied coupons: Lago's preconditions -------------------------------- */

static int listed(const cJSON *arr, const char *s)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, arr)
		if (cJSON_IsString(v) && s && !strcmp(v->valuestring, s))
			return 1;
	return 0;
}

static int add_new(cJSON *arr, const char *s)
{
	if (!s || listed(arr, s))
		return 0;
	return cJSON_AddItemToArray(arr, cJSON_CreateString(s)) ? 0 : -1;
}

/*
 * What a limited coupon reaches: its plans and the plans charging its
 * metrics (reach[0]), its metrics and the metrics its plans charge
 * (reach[1]), over the live plans.
 */
static int reach_of(struct api_ctx *x, const cJSON *doc, cJSON *reach[2])
{
	static const char *const sql =
		"SELECT lago_id, doc FROM plans WHERE deleted_at IS NULL";
	const cJSON *plans = get(doc, "plan_ids");
	const cJSON *metrics = get(doc, "billable_metric_ids"), *v;
	struct store_stmt *st = NULL;
	int rc, bad = 0;

	cJSON_ArrayForEach(v, plans)
		bad |= add_new(reach[0], cJSON_GetStringValue(v));
	cJSON_ArrayForEach(v, metrics)
		bad |= add_new(reach[1], cJSON_GetStringValue(v));
	rc = bad ? TLY_ENOMEM : store_prepare(x->c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	while (!bad && (rc = store_step(st)) == STORE_ROW) {
		const char *id = store_col_text(st, 0);
		cJSON *pd = cJSON_Parse(store_col_text(st, 1));
		const cJSON *ch;

		bad = !pd;
		cJSON_ArrayForEach(ch, get(pd, "charges")) {
			const char *m = doc_str(ch, "lago_billable_metric_id");

			if (listed(plans, id))
				bad |= add_new(reach[1], m);
			if (listed(metrics, m))
				bad |= add_new(reach[0], id);
		}
		cJSON_Delete(pd);
	}
	store_reset(st);
	return bad ? TLY_ENOMEM : rc == STORE_DONE ? TLY_OK : rc;
}

/* Does an active applied coupon's target meet what the coupon reaches? */
static int meets(const cJSON *doc, cJSON *reach[2])
{
	const cJSON *v;

	cJSON_ArrayForEach(v, get(doc, "plan_ids"))
		if (listed(reach[0], cJSON_GetStringValue(v)))
			return 1;
	cJSON_ArrayForEach(v, get(doc, "billable_metric_ids"))
		if (listed(reach[1], cJSON_GetStringValue(v)))
			return 1;
	return 0;
}

/* Lago's plan_limitation_overlapping? of AppliedCoupons::CreateService. */
static int overlapping(struct api_ctx *x, const struct coupon *cp,
		       const char *cust_id, int *yes)
{
	static const char *const sql =
		"SELECT c.doc FROM applied_coupons a JOIN coupons c "
		"ON c.lago_id = a.coupon_id "
		"WHERE a.customer_id = ? AND a.status = 'active'";
	cJSON *reach[2] = {cJSON_CreateArray(), cJSON_CreateArray()};
	struct store_stmt *st = NULL;
	int rc = reach[0] && reach[1] ? TLY_OK : TLY_ENOMEM;

	*yes = 0;
	if (!doc_true(cp->doc, "limited_plans") &&
	    !doc_true(cp->doc, "limited_billable_metrics"))
		goto out;
	if (rc == TLY_OK)
		rc = reach_of(x, cp->doc, reach);
	if (rc == TLY_OK)
		rc = store_prepare(x->c, sql, &st);
	if (rc != TLY_OK)
		goto out;
	store_bind_text(st, 1, cust_id);
	while (!*yes && (rc = store_step(st)) == STORE_ROW) {
		cJSON *doc = cJSON_Parse(store_col_text(st, 0));

		*yes = doc && meets(doc, reach);
		cJSON_Delete(doc);
	}
	store_reset(st);
	rc = rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
out:
	cJSON_Delete(reach[0]);
	cJSON_Delete(reach[1]);
	return rc;
}

/* Lago's reusable_coupon?: a non-reusable coupon goes to a customer once,
 * whatever became of that applied coupon. */
static int reusable(struct api_ctx *x, const struct coupon *cp,
		    const char *cust_id, int *ok)
{
	static const char *const sql =
		"SELECT COUNT(*) FROM applied_coupons "
		"WHERE customer_id = ? AND coupon_id = ?";
	struct store_stmt *st = NULL;
	int rc;

	*ok = 1;
	if (doc_true(cp->doc, "reusable"))
		return TLY_OK;
	rc = store_prepare(x->c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, cust_id);
	store_bind_text(st, 2, cp->lago_id);
	rc = store_step(st);
	*ok = rc == STORE_ROW && store_col_i64(st, 0) == 0;
	store_reset(st);
	return rc == STORE_ROW ? TLY_OK : TLY_EDB;
}

/* ---- Applied coupons: the new one ------------------------------------------ */

/* An applied coupon's terms: the request's overrides, else the coupon's. */
struct terms {
	int has_amount;
	int64_t amount;
	const char *currency;
	char *rate;		/* owned */
	const char *freq;
	int has_dur;
	int64_t dur;
};

/* Lago's `params[:key] || coupon.key` for an integer. */
static void term_int(struct rq *r, cJSON *in, const cJSON *doc,
		     const char *key, int64_t min, int64_t max, int *has,
		     int64_t *v)
{
	const cJSON *c = get(doc, key);

	*has = api_int(in, key, 0, min, max, v, &r->e) > 0;
	if (!*has && cJSON_IsNumber(c)) {
		*has = 1;
		*v = (int64_t)c->valuedouble;
	}
}

static int terms_read(struct rq *r, cJSON *in, const cJSON *doc,
		      struct terms *t)
{
	const char *s = NULL;
	int rc;

	term_int(r, in, doc, "amount_cents", -EXACT_MAX, EXACT_MAX,
		 &t->has_amount, &t->amount);
	t->currency = api_str(in, "amount_currency", 0, 0, &s, &r->e) > 0 ?
		      s : doc_str(doc, "amount_currency");
	rc = rate_text(r, get(in, "percentage_rate"), &t->rate);
	if (rc == 0 && doc_str(doc, "percentage_rate") &&
	    !(t->rate = strdup(doc_str(doc, "percentage_rate"))))
		r->oom = 1;
	s = NULL;
	t->freq = api_str(in, "frequency", 0, 0, &s, &r->e) > 0 ? s :
		  doc_str(doc, "frequency");
	term_int(r, in, doc, "frequency_duration", -INT32_MAXV - 1,
		 INT32_MAXV, &t->has_dur, &t->dur);
	return r->oom ? TLY_ENOMEM : r->e.details ? TLY_EINVAL : TLY_OK;
}

/* Lago's AppliedCoupon validations (and its frequency enum). */
static int terms_check(struct rq *r, const struct terms *t)
{
	if (t->has_amount && t->amount < 0)
		err(r, "amount_cents", "value_is_out_of_range");
	if (t->currency && currency_exponent(t->currency) < 0)
		err(r, "amount_currency", "value_is_invalid");
	if (!one_of(t->freq, "once|recurring|forever"))
		err(r, "frequency", "value_is_invalid");
	return r->e.details ? TLY_EINVAL : TLY_OK;
}

static int applied_insert(struct api_ctx *x, const char *id,
			  const struct coupon *cp, const char *cust_id,
			  const struct terms *t)
{
	static const char *const sql =
		"INSERT INTO applied_coupons (lago_id, seq, coupon_id, "
		"customer_id, status, amount_cents, amount_currency, "
		"amount_cents_remaining, percentage_rate, frequency, "
		"frequency_duration, frequency_duration_remaining, created_at) "
		"VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM "
		"applied_coupons), ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)";
	const char *type = doc_str(cp->doc, "coupon_type");
	int left = type && !strcmp(type, "fixed_amount") &&
		   !strcmp(t->freq, "once") && t->has_amount;
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, cp->lago_id);
	store_bind_text(st, 3, cust_id);
	if (t->has_amount)
		store_bind_i64(st, 4, t->amount);
	bind_opt_text(st, 5, t->currency);
	if (left)
		store_bind_i64(st, 6, t->amount);
	bind_opt_text(st, 7, t->rate);
	store_bind_text(st, 8, t->freq);
	if (t->has_dur) {
		store_bind_i64(st, 9, t->dur);
		store_bind_i64(st, 10, t->dur);
	}
	store_bind_i64(st, 11, api_now());
	return store_run(st);	/* unbound parameters are NULL */
}

/* ---- Lago's applied coupon object ------------------------------------------ */

#define APPLIED_COLS \
	"a.lago_id, a.coupon_id, a.customer_id, a.status, a.amount_cents, " \
	"a.amount_currency, a.amount_cents_remaining, a.percentage_rate, " \
	"a.frequency, a.frequency_duration, a.frequency_duration_remaining, " \
	"a.created_at, a.terminated_at, c.doc, c.status, c.deleted_at, " \
	"cu.external_id"
#define APPLIED_FROM \
	" FROM applied_coupons a JOIN coupons c ON c.lago_id = a.coupon_id " \
	"JOIN customers cu ON cu.lago_id = a.customer_id "

static int put_col_str(cJSON *o, const char *key, struct store_stmt *st,
		       int i)
{
	return api_put_str(o, key, store_col_text(st, i));
}

static int put_col_i64(cJSON *o, const char *key, struct store_stmt *st,
		       int i)
{
	return put_i64(o, key, !store_col_null(st, i), store_col_i64(st, i));
}

static int put_col_time(cJSON *o, const char *key, struct store_stmt *st,
			int i)
{
	return api_put_time(o, key, store_col_null(st, i) ? -1 :
				    store_col_i64(st, i));
}

/* Lago's amount_cents_remaining: fixed once coupons only. */
static int put_remaining(cJSON *o, struct store_stmt *st, const cJSON *doc)
{
	const char *freq = store_col_text(st, 8);
	const char *type = doc_str(doc, "coupon_type");
	int col = store_col_null(st, 6) ? 4 : 6;

	if ((freq && strcmp(freq, "once")) ||
	    (type && !strcmp(type, "percentage")))
		return put_i64(o, "amount_cents_remaining", 0, 0);
	return put_col_i64(o, "amount_cents_remaining", st, col);
}

/* One coupon credit (V1::CreditSerializer) of a coupon_credits row. */
static cJSON *credit_json(struct store_stmt *st, const char *coupon_id,
			  const cJSON *doc)
{
	cJSON *o = cJSON_CreateObject(), *item, *inv;
	int bad = !o || put_col_str(o, "lago_id", st, 0) ||
		  put_col_i64(o, "amount_cents", st, 1) ||
		  put_col_str(o, "amount_currency", st, 2) ||
		  !cJSON_AddTrueToObject(o, "before_taxes");

	item = bad ? NULL : cJSON_AddObjectToObject(o, "item");
	bad = bad || !item || api_put_str(item, "lago_item_id", coupon_id) ||
	      api_put_str(item, "type", "coupon") ||
	      api_put_copy(item, doc, "code") || api_put_copy(item, doc, "name") ||
	      api_put_copy(item, doc, "description");
	inv = bad ? NULL : cJSON_AddObjectToObject(o, "invoice");
	bad = bad || !inv || put_col_str(inv, "lago_id", st, 3) ||
	      api_put_str(inv, "payment_status", store_col_null(st, 4) ?
			  NULL : store_col_i64(st, 4) == 0 ? "succeeded" :
							      "pending");
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The credits of an applied coupon, oldest first. */
static cJSON *credits_json(struct api_ctx *x, const char *applied_id,
			   const char *coupon_id, const cJSON *doc)
{
	static const char *const sql =
		"SELECT cr.lago_id, cr.amount_cents, cr.amount_currency, "
		"cr.invoice_id, i.total_amount_cents FROM coupon_credits cr "
		"LEFT JOIN invoices i ON i.lago_id = cr.invoice_id "
		"WHERE cr.applied_coupon_id = ? "
		"ORDER BY cr.created_at, cr.lago_id";
	cJSON *arr = cJSON_CreateArray();
	struct store_stmt *st = NULL;
	int rc = arr ? store_prepare(x->c, sql, &st) : TLY_ENOMEM;

	if (rc != TLY_OK) {
		cJSON_Delete(arr);
		return NULL;
	}
	store_bind_text(st, 1, applied_id);
	while ((rc = store_step(st)) == STORE_ROW) {
		cJSON *o = credit_json(st, coupon_id, doc);

		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			rc = TLY_ENOMEM;
			break;
		}
	}
	store_reset(st);
	if (rc != STORE_DONE) {
		cJSON_Delete(arr);
		return NULL;
	}
	return arr;
}

/* Lago's V1::AppliedCouponSerializer of a row of APPLIED_COLS, with its
 * credits when the list includes them. */
static cJSON *applied_json(struct api_ctx *x, struct store_stmt *st,
			   int with_credits)
{
	cJSON *doc = cJSON_Parse(store_col_text(st, 13));
	cJSON *o = doc ? cJSON_CreateObject() : NULL;
	int bad = !o || put_col_str(o, "lago_id", st, 0) ||
		  put_col_str(o, "lago_coupon_id", st, 1) ||
		  api_put_copy_as(o, "coupon_code", doc, "code") ||
		  api_put_copy_as(o, "coupon_name", doc, "name") ||
		  api_put_copy_as(o, "coupon_description", doc, "description") ||
		  put_col_str(o, "coupon_status", st, 14) ||
		  put_col_time(o, "coupon_deleted_at", st, 15) ||
		  put_col_str(o, "lago_customer_id", st, 2) ||
		  put_col_str(o, "external_customer_id", st, 16) ||
		  put_col_str(o, "status", st, 3) ||
		  put_col_i64(o, "amount_cents", st, 4) ||
		  put_remaining(o, st, doc) ||
		  put_col_str(o, "amount_currency", st, 5) ||
		  put_rate(o, "percentage_rate", store_col_text(st, 7)) ||
		  put_col_str(o, "frequency", st, 8) ||
		  put_col_i64(o, "frequency_duration", st, 9) ||
		  put_col_i64(o, "frequency_duration_remaining", st, 10) ||
		  put_time_of(o, "expiration_at", doc, "expiration_at") ||
		  put_col_time(o, "created_at", st, 11) ||
		  put_col_time(o, "terminated_at", st, 12);

	if (!bad && with_credits)
		bad = api_put(o, "credits", credits_json(x, store_col_text(st, 0),
						     store_col_text(st, 1),
						     doc));
	cJSON_Delete(doc);
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Send the applied coupon with lago_id. */
static void applied_send(struct api_ctx *x, const char *id)
{
	static const char *const sql =
		"SELECT " APPLIED_COLS APPLIED_FROM "WHERE a.lago_id = ?";
	struct store_stmt *st = NULL;
	cJSON *o = NULL;

	if (store_prepare(x->c, sql, &st) == TLY_OK) {
		store_bind_text(st, 1, id);
		if (store_step(st) == STORE_ROW)
			o = applied_json(x, st, 0);
		store_reset(st);
	}
	if (o)
		api_send(x, "applied_coupon", o);
	else
		api_store_failed(x);
}

/* ---- Applied coupon handlers --------------------------------------------- */

/* The coupon to apply: live and active, else TLY_ENOTFOUND. */
static int coupon_active(struct api_ctx *x, const char *code,
			 struct coupon *cp)
{
	int rc = code ? coupon_load(x, code, cp) : TLY_ENOTFOUND;

	if (rc == TLY_OK && strcmp(cp->status, "active") != 0)
		rc = TLY_ENOTFOUND;
	return rc;
}

/* Lago's preconditions: 404 customer, 404 coupon, 405 plan_overlapping,
 * 422 coupon_is_not_reusable, in this order. */
static int applied_pre(struct rq *r, cJSON *in, struct cust *cu,
		       struct coupon *cp)
{
	const char *ext = cJSON_GetStringValue(get(in,
						   "external_customer_id"));
	int rc = cust_find(r->x, ext, cu), yes = 0, ok = 1;

	if (rc == TLY_ENOTFOUND) {
		api_not_found(r->x, "customer");
		r->sent = 1;
		return rc;
	}
	if (rc == TLY_OK)
		rc = coupon_active(r->x, cJSON_GetStringValue(
					   get(in, "coupon_code")), cp);
	if (rc == TLY_ENOTFOUND) {
		api_not_found(r->x, "coupon");
		r->sent = 1;
		return rc;
	}
	if (rc == TLY_OK)
		rc = overlapping(r->x, cp, cu->lago_id, &yes);
	if (rc == TLY_OK && yes) {
		httpd_error(r->x->resp, 405, "plan_overlapping", NULL);
		r->sent = 1;
		return TLY_EINVAL;
	}
	if (rc == TLY_OK)
		rc = reusable(r->x, cp, cu->lago_id, &ok);
	if (rc == TLY_OK && !ok) {
		err(r, "coupon", "coupon_is_not_reusable");
		rc = TLY_EINVAL;
	}
	return rc;
}

/* Answer a write on an applied coupon. */
static void applied_reply(struct rq *r, int rc, const char *id)
{
	if (rc == TLY_OK)
		rc = store_commit(r->x->c);
	if (rc == TLY_OK) {
		applied_send(r->x, id);
		return;
	}
	store_rollback(r->x->c);
	if (!r->sent && !api_errs_send(r->x, &r->e))
		api_store_failed(r->x);
}

void api_applied_coupons_create(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "applied_coupon", &root);
	struct coupon cp = {0};
	struct cust cu = {0};
	struct terms t = {0};
	struct rq r = {.x = x};
	char id[UTIL_UUID_LEN] = "";
	const char *type;
	int rc;

	if (!in)
		return;
	rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = coupons_expire(x);
	if (rc == TLY_OK)
		rc = applied_pre(&r, in, &cu, &cp);
	if (rc == TLY_OK)
		rc = terms_read(&r, in, cp.doc, &t);
	type = rc == TLY_OK ? doc_str(cp.doc, "coupon_type") : NULL;
	if (type && !strcmp(type, "fixed_amount"))
		rc = cust_currency(&r, cJSON_GetStringValue(
					   get(in, "external_customer_id")),
				   &cu, t.currency);
	if (rc == TLY_OK)
		rc = terms_check(&r, &t);
	if (rc == TLY_OK)
		rc = util_uuid(id);
	if (rc == TLY_OK)
		rc = applied_insert(x, id, &cp, cu.lago_id, &t);
	applied_reply(&r, rc, id);
	free(t.rate);
	coupon_free(&cp);
	api_errs_free(&r.e);
	cJSON_Delete(root);
}

void api_applied_coupons_delete(struct api_ctx *x)
{
	static const char *const find =
		"SELECT status FROM applied_coupons "
		"WHERE lago_id = ? AND customer_id = ?";
	static const char *const end =
		"UPDATE applied_coupons SET status = 'terminated', "
		"terminated_at = ? WHERE lago_id = ? AND status = 'active'";
	struct store_stmt *st = NULL;
	struct cust cu = {0};
	struct rq r = {.x = x};
	const char *id = x->req->cap[1];
	int rc = store_begin(x->c);

	if (rc == TLY_OK)
		rc = cust_find(x, x->req->cap[0], &cu);
	if (rc == TLY_ENOTFOUND) {
		api_not_found(x, "customer");
		r.sent = 1;
	}
	if (rc == TLY_OK)
		rc = store_prepare(x->c, find, &st);
	if (rc == TLY_OK) {
		store_bind_text(st, 1, id);
		store_bind_text(st, 2, cu.lago_id);
		rc = store_step(st);
		store_reset(st);
		rc = rc == STORE_ROW ? TLY_OK : rc == STORE_DONE ?
		     TLY_ENOTFOUND : rc;
		if (rc == TLY_ENOTFOUND) {
			api_not_found(x, "applied_coupon");
			r.sent = 1;
		}
	}
	if (rc == TLY_OK)
		rc = store_prepare(x->c, end, &st);
	if (rc == TLY_OK) {
		store_bind_i64(st, 1, api_now());
		store_bind_text(st, 2, id);
		rc = store_run(st);
	}
	applied_reply(&r, rc, id);
	api_errs_free(&r.e);
}

/* The list's filters: NULL when not given (or, for status, not one of
 * Lago's statuses, which AppliedCouponsQuery ignores). */
struct filter {
	const char *customer;
	const char *status;
};

static void bind_filter(struct store_stmt *st, const void *arg)
{
	const struct filter *f = arg;

	bind_opt_text(st, 1, f->customer);
	bind_opt_text(st, 2, f->customer);
	bind_opt_text(st, 3, f->status);
	bind_opt_text(st, 4, f->status);
}

#define APPLIED_WHERE \
	"WHERE cu.deleted_at IS NULL " \
	"AND (CAST(? AS TEXT) IS NULL OR cu.external_id = ?) " \
	"AND (CAST(? AS TEXT) IS NULL OR a.status = ?) "

static cJSON *applied_row_json(struct api_ctx *x, struct store_stmt *st,
			      void *arg)
{
	(void)arg;
	return applied_json(x, st, 1);
}

/* One page, newest first (AppliedCouponsQuery), each with its credits. */
static int applied_page(struct api_ctx *x, const struct filter *f,
			int64_t page, int64_t per, cJSON *list)
{
	static const char *const sql =
		"SELECT " APPLIED_COLS APPLIED_FROM APPLIED_WHERE
		"ORDER BY a.created_at DESC, a.seq DESC LIMIT ? OFFSET ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	bind_filter(st, f);
	store_bind_i64(st, 5, per);
	store_bind_i64(st, 6, (page - 1) * per);
	return api_rows_append(x, st, applied_row_json, NULL, list);
}

void api_applied_coupons_list(struct api_ctx *x)
{
	struct filter f = {httpd_query(x->req, "external_customer_id"),
			   httpd_query(x->req, "status")};
	int64_t page, per, total;
	cJSON *root, *list;

	if (api_page(x, &page, &per) != TLY_OK)
		return;
	if (f.customer && !*f.customer)
		f.customer = NULL;
	if (!one_of(f.status, "active|terminated"))
		f.status = NULL;
	total = api_count_bound(x, "SELECT COUNT(*)" APPLIED_FROM
				APPLIED_WHERE, bind_filter, &f);
	root = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(root, "applied_coupons");
	if (total < 0 || !list ||
	    applied_page(x, &f, page, per, list) != TLY_OK ||
	    api_meta(root, page, per, total) != 0) {
		cJSON_Delete(root);
		api_store_failed(x);
		return;
	}
	httpd_json(x->resp, 200, root);
}
