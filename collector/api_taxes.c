/*
 * api_taxes.c - /api/v1/taxes: create, update, get, list and delete (a
 * hard delete, as Lago destroys the record) of Lago's taxes, and the tax
 * objects other resources embed (api_taxes_of).
 *
 * The stored doc holds name, code, description, applied_to_organization
 * and rate.  The rate is a percentage kept as exact decimal text ("20.00");
 * Lago stores it as a double and prints a JSON number (20.0), so tax_json
 * writes the same number, from the decimal, with no binary floating point
 * on the way.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dec.h"
#include "err.h"
#include "util.h"

/* A tax row: its id, creation time and attributes. */

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
static void take_str(struct rd *r, cJSON *doc, cJSON *in, const char *key)
{
	const char *v = NULL;

	if (!cJSON_GetObjectItemCaseSensitive(in, key))
		return;
	if (api_str(in, key, 0, 0, &v, r->e) < 0)
		r->bad = 1;
	else
		doc_set(r, doc, key, v ? cJSON_CreateString(v) :
					 cJSON_CreateNull());
}

static void take_applied(struct rd *r, cJSON *doc, cJSON *in)
{
	static const char key[] = "applied_to_organization";
	int v = 0;

	if (!cJSON_GetObjectItemCaseSensitive(in, key))
		return;
	if (api_bool(in, key, &v, r->e) < 0)
		r->bad = 1;
	else
		doc_set(r, doc, key, cJSON_CreateBool(v));
}

/*
 * The rate, a percentage: a decimal string as Lago's spec has it, or a
 * JSON number (Rails takes both), read as the shortest decimal that
 * round-trips the double.  Lago has no bound; a negative rate is refused.
 */
static void take_rate(struct rd *r, cJSON *doc, cJSON *in)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, "rate");
	dec_t d;
	int rc = TLY_EINVAL;

	if (!v)
		return;
	if (cJSON_IsNull(v) || (cJSON_IsString(v) && blank(v->valuestring))) {
		doc_set(r, doc, "rate", cJSON_CreateNull());
		return;
	}
	dec_init(&d);
	if (cJSON_IsString(v))
		rc = dec_parse_str(&d, v->valuestring);
	else if (cJSON_IsNumber(v))
		rc = dec_from_double(&d, v->valuedouble);
	if (rc != TLY_OK) {
		rd_err(r, "rate", "invalid_value");
	} else if (dec_sgn(&d) < 0) {
		rd_err(r, "rate", "value_is_out_of_range");
	} else {
		char *text = dec_to_str(&d);

		doc_set(r, doc, "rate", text ? cJSON_CreateString(text) : NULL);
		free(text);
	}
	dec_clear(&d);
}

/* Assign the request's fields (only those it names) and validate. */
static int tax_read(struct api_doc *t, cJSON *in, struct api_errs *e)
{
	struct rd r = {e, 0, 0};

	take_str(&r, t->doc, in, "name");
	take_str(&r, t->doc, in, "code");
	take_rate(&r, t->doc, in);
	take_str(&r, t->doc, in, "description");
	take_applied(&r, t->doc, in);
	if (blank(doc_str(t->doc, "name")))
		rd_err(&r, "name", "value_is_mandatory");
	if (blank(doc_str(t->doc, "code")))
		rd_err(&r, "code", "value_is_mandatory");
	if (!doc_str(t->doc, "rate"))
		rd_err(&r, "rate", "value_is_mandatory");
	if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(
		    t->doc, "applied_to_organization")))
		doc_set(&r, t->doc, "applied_to_organization",
			cJSON_CreateFalse());
	return r.oom ? TLY_ENOMEM : r.bad ? TLY_EINVAL : TLY_OK;
}

/* ---- Lago's object ------------------------------------------------------ */

/*
 * The rate as Ruby prints a Float: no trailing zeros, and ".0" on whole
 * numbers ("20.00" -> 20.0, "5.50" -> 5.5).
 */
static int put_rate(cJSON *out, const char *rate)
{
	char buf[DEC_DOUBLE_BUFSZ];	/* fits what dec_parse takes */
	cJSON *item = api_ruby_decimal(rate, buf, sizeof(buf)) == TLY_OK ?
		      cJSON_CreateRaw(buf) : cJSON_CreateNull();

	if (item && cJSON_AddItemToObject(out, "rate", item))
		return 0;
	cJSON_Delete(item);
	return -1;
}

/*
 * Lago's tax.  Lago's newest serializer prints the counts as literal 0;
 * Tally does not track them either.
 */
static cJSON *tax_json(const struct api_doc *t)
{
	static const char *const counts[] = {
		"add_ons_count", "customers_count", "plans_count",
		"charges_count", "commitments_count"};
	cJSON *o = cJSON_CreateObject();
	int bad = !o || api_put_str(o, "lago_id", t->lago_id) ||
		  api_put_copy(o, t->doc, "name") || api_put_copy(o, t->doc, "code") ||
		  put_rate(o, doc_str(t->doc, "rate")) ||
		  api_put_copy(o, t->doc, "description") ||
		  api_put_copy(o, t->doc, "applied_to_organization");

	for (size_t i = 0; !bad && i < sizeof(counts) / sizeof(*counts); i++)
		bad = !cJSON_AddNumberToObject(o, counts[i], 0);
	if (bad || api_put_time(o, "created_at", t->created)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* ---- Storage ------------------------------------------------------------ */

#define TAX_COLS "lago_id, doc, created_at"

/* The tax with this code: TLY_OK, TLY_ENOTFOUND or an error. */
static int tax_load(struct api_ctx *x, const char *code, struct api_doc *t)
{
	static const char *const sql =
		"SELECT " TAX_COLS " FROM taxes WHERE code = ?";

	return api_doc_load(x, sql, code, t);
}

/* Insert (is_new) or rewrite t; TLY_EEXIST when its code is taken. */
static int tax_save(struct api_ctx *x, const struct api_doc *t, int is_new)
{
	static const char *const ins =
		"INSERT INTO taxes (lago_id, code, doc, created_at) "
		"VALUES (?, ?, ?, ?)";
	static const char *const upd =
		"UPDATE taxes SET code = ?, doc = ? WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	char *text = cJSON_PrintUnformatted(t->doc);
	const char *code = doc_str(t->doc, "code");
	int rc;

	if (!text)
		return TLY_ENOMEM;
	rc = store_prepare(x->c, is_new ? ins : upd, &st);
	if (rc == TLY_OK && is_new) {
		store_bind_text(st, 1, t->lago_id);
		store_bind_text(st, 2, code);
		store_bind_text(st, 3, text);
		store_bind_i64(st, 4, t->created);
	} else if (rc == TLY_OK) {
		store_bind_text(st, 1, code);
		store_bind_text(st, 2, text);
		store_bind_text(st, 3, t->lago_id);
	}
	if (rc == TLY_OK)
		rc = store_run(st);
	cJSON_free(text);
	return rc;
}

static int tax_destroy(struct api_ctx *x, const struct api_doc *t)
{
	static const char *const sql = "DELETE FROM taxes WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, t->lago_id);
	return store_run(st);
}

/* ---- Handlers ----------------------------------------------------------- */

/* Answer a write: commit and send the tax, or roll back and say why. */
static void tax_reply(struct api_ctx *x, int rc, const struct api_doc *t,
		      struct api_errs *e)
{
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc == TLY_OK) {
		api_send(x, "tax", tax_json(t));
		return;
	}
	store_rollback(x->c);
	if (rc == TLY_EEXIST)
		api_err(e, "code", "value_already_exist");
	if (rc == TLY_ENOTFOUND)
		api_not_found(x, "tax");
	else if (!api_errs_send(x, e))
		api_store_failed(x);
}

void api_taxes_create(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "tax", &root);
	struct api_doc t = {.created = api_now(), .doc = cJSON_CreateObject()};
	struct api_errs e = {0};
	int rc;

	if (!in)
		goto out;
	rc = t.doc ? util_uuid(t.lago_id) : TLY_ENOMEM;
	if (rc == TLY_OK)
		rc = tax_read(&t, in, &e);
	if (rc == TLY_OK)
		rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = tax_save(x, &t, 1);
	tax_reply(x, rc, &t, &e);
out:
	api_doc_free(&t);
	api_errs_free(&e);
	cJSON_Delete(root);
}

void api_taxes_update(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "tax", &root);
	struct api_doc t = {0};
	struct api_errs e = {0};
	int rc;

	if (!in)
		return;
	rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = tax_load(x, x->req->cap[0], &t);
	if (rc == TLY_OK)
		rc = tax_read(&t, in, &e);
	if (rc == TLY_OK)
		rc = tax_save(x, &t, 0);
	tax_reply(x, rc, &t, &e);
	api_doc_free(&t);
	api_errs_free(&e);
	cJSON_Delete(root);
}

void api_taxes_delete(struct api_ctx *x)
{
	struct api_doc t = {0};
	struct api_errs e = {0};
	int rc = store_begin(x->c);

	if (rc == TLY_OK)
		rc = tax_load(x, x->req->cap[0], &t);
	if (rc == TLY_OK)
		rc = tax_destroy(x, &t);
	tax_reply(x, rc, &t, &e);
	api_doc_free(&t);
	api_errs_free(&e);
}

void api_taxes_get(struct api_ctx *x)
{
	struct api_doc t = {0};
	int rc = tax_load(x, x->req->cap[0], &t);

	api_send_found(x, rc, "tax", rc == TLY_OK ? tax_json(&t) : NULL);
	api_doc_free(&t);
}

void api_taxes_list(struct api_ctx *x)
{
	static const char *const count = "SELECT COUNT(*) FROM taxes";
	/* Newest first: Lago's order. */
	static const char *const page =
		"SELECT " TAX_COLS " FROM taxes "
		"ORDER BY created_at DESC, lago_id LIMIT ? OFFSET ?";

	api_doc_list(x, "taxes", count, page, tax_json);
}

/* ---- Taxes of other resources ------------------------------------------- */

/* Was this code listed before `item` in codes? */
static int listed_before(const cJSON *codes, const cJSON *item)
{
	const cJSON *c;

	for (c = codes->child; c && c != item; c = c->next)
		if (cJSON_IsString(c) && !strcmp(c->valuestring,
						 item->valuestring))
			return 1;
	return 0;
}

/* Append the tax with code to arr: TLY_OK, TLY_ENOTFOUND or an error. */
static int tax_append(struct api_ctx *x, const char *code, cJSON *arr)
{
	struct api_doc t = {0};
	cJSON *o = NULL;
	int rc = tax_load(x, code, &t);

	if (rc == TLY_OK) {
		o = tax_json(&t);
		rc = o && cJSON_AddItemToArray(arr, o) ? TLY_OK : TLY_ENOMEM;
		if (rc != TLY_OK)
			cJSON_Delete(o);
	}
	api_doc_free(&t);
	return rc;
}

int api_taxes_of(struct api_ctx *x, const cJSON *codes, cJSON **out,
		 struct api_errs *e)
{
	const cJSON *list = cJSON_IsArray(codes) ? codes : NULL, *c;
	cJSON *arr = cJSON_CreateArray();
	int rc = arr ? TLY_OK : TLY_ENOMEM;

	*out = NULL;
	cJSON_ArrayForEach(c, list) {
		if (rc != TLY_OK)
			break;
		if (!cJSON_IsString(c))
			rc = TLY_ENOTFOUND;
		else if (!listed_before(codes, c))
			rc = tax_append(x, c->valuestring, arr);
	}
	if (rc == TLY_ENOTFOUND)
		api_err(e, "tax_codes", "tax_not_found");
	if (rc != TLY_OK) {
		cJSON_Delete(arr);
		return rc;
	}
	*out = arr;
	return TLY_OK;
}
