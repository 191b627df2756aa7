/*
 * api_customers.c - /api/v1/customers: upsert by external_id, get, list,
 * delete (a soft delete that terminates the customer's subscriptions).
 *
 * The stored doc holds the customer's attributes under Lago's names;
 * customer_json writes them out in the order of Lago's serializer, with
 * the derived fields (applicable_timezone, taxes) filled in.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "currency.h"
#include "err.h"
#include "util.h"

/* Plain string attributes, in the serializer's order around the others. */
static const char *const head_keys[] = {
	"billing_entity_code", "external_id", "account_type", "name",
	"firstname", "lastname", "customer_type"};
static const char *const addr_keys[] = {
	"country", "address_line1", "address_line2", "state", "zipcode",
	"email", "city", "url", "phone", "logo_url", "legal_name",
	"legal_number", "currency", "tax_identification_number", "timezone"};
static const char *const ship_keys[] = {
	"address_line1", "address_line2", "city", "zipcode", "state",
	"country"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int valid_timezone(const char *tz)
{
	char path[300];
	struct stat sb;

	if (strcmp(tz, "UTC") == 0)
		return 1;
	if (!*tz || strstr(tz, "..") || tz[0] == '/')
		return 0;
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int valid_country(const char *c)
{
	return strlen(c) == 2 && isalpha((unsigned char)c[0]) &&
	       isalpha((unsigned char)c[1]);
}

static int valid_email(const char *e)
{
	const char *at = strchr(e, '@');

	return at && at > e && at[1] && !strchr(at + 1, '@') &&
	       !strchr(e, ' ');
}

/* doc[key] = request[key] when the request has it (Lago assigns only those). */
static void take_str(cJSON *doc, cJSON *in, const char *key,
		     struct api_errs *e)
{
	const char *v = NULL;
	cJSON *item = cJSON_GetObjectItemCaseSensitive(in, key);

	if (!item)
		return;
	if (api_str(in, key, 0, 0, &v, e) < 0)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(doc, key);
	api_put_str(doc, key, v);
}

static void check_attrs(cJSON *doc, struct api_errs *e)
{
	const cJSON *v;

	v = cJSON_GetObjectItemCaseSensitive(doc, "currency");
	if (cJSON_IsString(v) && currency_exponent(v->valuestring) < 0)
		api_err(e, "currency", "value_is_invalid");
	v = cJSON_GetObjectItemCaseSensitive(doc, "country");
	if (cJSON_IsString(v) && !valid_country(v->valuestring))
		api_err(e, "country", "not_a_valid_country_code");
	v = cJSON_GetObjectItemCaseSensitive(doc, "email");
	if (cJSON_IsString(v) && !valid_email(v->valuestring))
		api_err(e, "email", "invalid_email_format");
	v = cJSON_GetObjectItemCaseSensitive(doc, "timezone");
	if (cJSON_IsString(v) && !valid_timezone(v->valuestring))
		api_err(e, "timezone", "invalid_timezone");
	v = cJSON_GetObjectItemCaseSensitive(doc, "customer_type");
	if (cJSON_IsString(v) && strcmp(v->valuestring, "company") &&
	    strcmp(v->valuestring, "individual"))
		api_err(e, "customer_type", "value_is_invalid");
}

/* Copy a nested object's listed string keys (billing_configuration...). */
static void take_nested(cJSON *doc, cJSON *in, const char *key,
			const char *const *keys, size_t n, struct api_errs *e)
{
	cJSON *src = cJSON_GetObjectItemCaseSensitive(in, key);
	cJSON *dst;

	if (!src || cJSON_IsNull(src))
		return;
	if (!cJSON_IsObject(src)) {
		api_err(e, key, "invalid_value");
		return;
	}
	dst = cJSON_GetObjectItemCaseSensitive(doc, key);
	if (!dst)
		dst = cJSON_AddObjectToObject(doc, key);
	for (size_t i = 0; dst && i < n; i++)
		take_str(dst, src, keys[i], e);
}

static void take_attrs(cJSON *doc, cJSON *in, struct api_errs *e)
{
	static const char *const billing[] = {
		"payment_provider", "payment_provider_code", "document_locale"};
	cJSON *bc = cJSON_GetObjectItemCaseSensitive(in,
						     "billing_configuration");
	int64_t n;

	for (size_t i = 0; i < N(head_keys); i++)
		take_str(doc, in, head_keys[i], e);
	for (size_t i = 0; i < N(addr_keys); i++)
		take_str(doc, in, addr_keys[i], e);
	take_str(doc, in, "external_salesforce_id", e);
	take_str(doc, in, "finalize_zero_amount_invoice", e);
	if (api_int(in, "net_payment_term", 0, 0, 36500, &n, e) > 0) {
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "net_payment_term");
		cJSON_AddNumberToObject(doc, "net_payment_term", (double)n);
	}
	take_nested(doc, in, "billing_configuration", billing, N(billing), e);
	if (cJSON_IsObject(bc) &&
	    api_int(bc, "invoice_grace_period", 0, 0, 365, &n, e) > 0) {
		cJSON *d = cJSON_GetObjectItemCaseSensitive(
			doc, "billing_configuration");

		cJSON_DeleteItemFromObjectCaseSensitive(d, "invoice_grace_period");
		cJSON_AddNumberToObject(d, "invoice_grace_period", (double)n);
	}
	take_nested(doc, in, "shipping_address", ship_keys, N(ship_keys), e);
	check_attrs(doc, e);
}

static void take_taxes(struct api_ctx *x, cJSON *doc, cJSON *in,
		       struct api_errs *e)
{
	cJSON *codes = cJSON_GetObjectItemCaseSensitive(in, "tax_codes");
	cJSON *taxes = NULL;

	if (!codes)
		return;
	if (!cJSON_IsArray(codes)) {
		api_err(e, "tax_codes", "invalid_value");
		return;
	}
	if (api_taxes_of(x, codes, &taxes, e) != TLY_OK)
		return;
	cJSON_Delete(taxes);
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "tax_codes");
	cJSON_AddItemToObject(doc, "tax_codes", cJSON_Duplicate(codes, 1));
}

static void put_copy(cJSON *out, const cJSON *doc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

	cJSON_AddItemToObject(out, key, v ? cJSON_Duplicate(v, 1) :
					    cJSON_CreateNull());
}

static cJSON *nested_json(const cJSON *doc, const char *key,
			  const char *const *keys, size_t n)
{
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(doc, key);
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; o && i < n; i++)
		put_copy(o, src, keys[i]);
	return o;
}

/* Lago's customer object from the stored row. */
static cJSON *customer_json(struct api_ctx *x, const char *lago_id,
			    int64_t seq, const cJSON *doc, int64_t created,
			    int64_t updated)
{
	static const char *const billing[] = {
		"invoice_grace_period", "payment_provider",
		"payment_provider_code", "document_locale"};
	const cJSON *tz = cJSON_GetObjectItemCaseSensitive(doc, "timezone");
	const cJSON *fz = cJSON_GetObjectItemCaseSensitive(
		doc, "finalize_zero_amount_invoice");
	cJSON *o = cJSON_CreateObject(), *taxes = NULL;
	struct api_errs e = {0};
	char slug[48];

	if (!o)
		return NULL;
	api_put_str(o, "lago_id", lago_id);
	for (size_t i = 0; i < N(head_keys); i++)
		put_copy(o, doc, head_keys[i]);
	if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "account_type")))
		cJSON_ReplaceItemInObjectCaseSensitive(
			o, "account_type", cJSON_CreateString("customer"));
	cJSON_AddNumberToObject(o, "sequential_id", (double)seq);
	snprintf(slug, sizeof(slug), "TLY-%03lld", (long long)seq);
	api_put_str(o, "slug", slug);
	api_put_time(o, "created_at", created);
	api_put_time(o, "updated_at", updated);
	for (size_t i = 0; i < N(addr_keys); i++)
		put_copy(o, doc, addr_keys[i]);
	api_put_str(o, "applicable_timezone",
		    cJSON_IsString(tz) ? tz->valuestring : "UTC");
	put_copy(o, doc, "net_payment_term");
	put_copy(o, doc, "external_salesforce_id");
	api_put_str(o, "finalize_zero_amount_invoice",
		    cJSON_IsString(fz) ? fz->valuestring : "inherit");
	cJSON_AddItemToObject(o, "billing_configuration",
			      nested_json(doc, "billing_configuration",
					  billing, N(billing)));
	cJSON_AddItemToObject(o, "shipping_address",
			      nested_json(doc, "shipping_address", ship_keys,
					  N(ship_keys)));
	cJSON_AddArrayToObject(o, "metadata");
	api_taxes_of(x, cJSON_GetObjectItemCaseSensitive(doc, "tax_codes"),
		     &taxes, &e);
	api_errs_free(&e);
	cJSON_AddItemToObject(o, "taxes", taxes ? taxes : cJSON_CreateArray());
	cJSON_AddArrayToObject(o, "integration_customers");
	return o;
}

#define CUST_COLS "lago_id, sequential_id, doc, created_at, updated_at"

static const char *const sql_by_ext =
	"SELECT " CUST_COLS " FROM customers "
	"WHERE external_id = ? AND deleted_at IS NULL";

/* Load the live customer with this external id as Lago's object. */
static int customer_load(struct api_ctx *x, const char *ext, cJSON **out,
			 char lago_id[UTIL_UUID_LEN])
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql_by_ext, &st);

	*out = NULL;
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, ext);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		cJSON *doc = cJSON_Parse(store_col_text(st, 2));

		if (lago_id)
			snprintf(lago_id, UTIL_UUID_LEN, "%s",
				 store_col_text(st, 0));
		*out = doc ? customer_json(x, store_col_text(st, 0),
					   store_col_i64(st, 1), doc,
					   store_col_i64(st, 3),
					   store_col_i64(st, 4)) : NULL;
		cJSON_Delete(doc);
		rc = *out ? TLY_OK : TLY_ENOMEM;
	} else {
		rc = rc == STORE_DONE ? TLY_ENOTFOUND : rc;
	}
	store_reset(st);
	return rc;
}

/* The stored doc of a live customer, or a new empty one. */
static int doc_for_upsert(struct api_ctx *x, const char *ext, cJSON **doc,
			  char lago_id[UTIL_UUID_LEN])
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(x->c, sql_by_ext, &st);

	lago_id[0] = '\0';
	*doc = NULL;
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, ext);
	rc = store_step(st);
	if (rc == STORE_ROW) {
		snprintf(lago_id, UTIL_UUID_LEN, "%s", store_col_text(st, 0));
		*doc = cJSON_Parse(store_col_text(st, 2));
	} else if (rc == STORE_DONE) {
		*doc = cJSON_CreateObject();
	}
	store_reset(st);
	if (rc != STORE_ROW && rc != STORE_DONE)
		return rc;
	return *doc ? TLY_OK : TLY_ENOMEM;
}

static int customer_save(struct api_ctx *x, const char *lago_id, int is_new,
			 const char *ext, const cJSON *doc)
{
	static const char *const ins =
		"INSERT INTO customers (lago_id, external_id, sequential_id, "
		"doc, created_at, updated_at) VALUES (?, ?, (SELECT "
		"COALESCE(MAX(sequential_id), 0) + 1 FROM customers), ?, ?, ?)";
	static const char *const upd =
		"UPDATE customers SET doc = ?, updated_at = ? WHERE lago_id = ?";
	struct store_stmt *st = NULL;
	char *text = cJSON_PrintUnformatted(doc);
	int64_t now = api_now();
	int rc;

	if (!text)
		return TLY_ENOMEM;
	rc = store_prepare(x->c, is_new ? ins : upd, &st);
	if (rc == TLY_OK && is_new) {
		store_bind_text(st, 1, lago_id);
		store_bind_text(st, 2, ext);
		store_bind_text(st, 3, text);
		store_bind_i64(st, 4, now);
		store_bind_i64(st, 5, now);
	} else if (rc == TLY_OK) {
		store_bind_text(st, 1, text);
		store_bind_i64(st, 2, now);
		store_bind_text(st, 3, lago_id);
	}
	if (rc == TLY_OK)
		rc = store_run(st);
	cJSON_free(text);
	return rc;
}

int api_customer_upsert(struct api_ctx *x, cJSON *in, const char *ext,
			char lago_id[UTIL_UUID_LEN], struct api_errs *e)
{
	cJSON *doc = NULL;
	int rc = doc_for_upsert(x, ext, &doc, lago_id), is_new;

	if (rc != TLY_OK)
		return rc;
	is_new = lago_id[0] == '\0';
	take_attrs(doc, in, e);
	take_taxes(x, doc, in, e);
	if (e->details) {
		rc = TLY_EINVAL;
		goto out;
	}
	if (is_new)
		rc = util_uuid(lago_id);
	if (rc == TLY_OK)
		rc = customer_save(x, lago_id, is_new, ext, doc);
out:
	cJSON_Delete(doc);
	return rc;
}

void api_customers_create(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "customer", &root), *out = NULL;
	struct api_errs e = {0};
	char lago_id[UTIL_UUID_LEN];
	const char *ext = NULL;
	int rc;

	if (!in)
		return;
	api_str(in, "external_id", 1, 255, &ext, &e);
	if (api_errs_send(x, &e))
		goto out;
	rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = api_customer_upsert(x, in, ext, lago_id, &e);
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc != TLY_OK) {
		store_rollback(x->c);
		if (!api_errs_send(x, &e))
			api_store_failed(x);
		goto out;
	}
	if (customer_load(x, ext, &out, NULL) == TLY_OK)
		api_send(x, "customer", out);
	else
		api_store_failed(x);
out:
	api_errs_free(&e);
	cJSON_Delete(root);
}

void api_customers_get(struct api_ctx *x)
{
	cJSON *out = NULL;
	int rc = customer_load(x, x->req->cap[0], &out, NULL);

	if (rc == TLY_OK)
		api_send(x, "customer", out);
	else if (rc == TLY_ENOTFOUND)
		api_not_found(x, "customer");
	else
		api_store_failed(x);
}

static int64_t customer_count(struct api_ctx *x)
{
	static const char *const sql =
		"SELECT COUNT(*) FROM customers WHERE deleted_at IS NULL";
	struct store_stmt *st = NULL;
	int64_t n = -1;

	if (store_prepare(x->c, sql, &st) != TLY_OK)
		return -1;
	if (store_step(st) == STORE_ROW)
		n = store_col_i64(st, 0);
	store_reset(st);
	return n;
}

void api_customers_list(struct api_ctx *x)
{
	static const char *const sql =
		"SELECT " CUST_COLS " FROM customers WHERE deleted_at IS NULL "
		"ORDER BY created_at DESC, lago_id LIMIT ? OFFSET ?";
	struct store_stmt *st = NULL;
	int64_t page, per, total;
	cJSON *root = NULL, *list;
	int rc;

	if (api_page(x, &page, &per) != TLY_OK)
		return;
	total = customer_count(x);
	root = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(root, "customers");
	rc = total >= 0 && list ? store_prepare(x->c, sql, &st) : TLY_EDB;
	if (rc != TLY_OK)
		goto fail;
	store_bind_i64(st, 1, per);
	store_bind_i64(st, 2, (page - 1) * per);
	while ((rc = store_step(st)) == STORE_ROW) {
		cJSON *doc = cJSON_Parse(store_col_text(st, 2));
		cJSON *c = doc ? customer_json(x, store_col_text(st, 0),
					       store_col_i64(st, 1), doc,
					       store_col_i64(st, 3),
					       store_col_i64(st, 4)) : NULL;

		cJSON_Delete(doc);
		if (!c || !cJSON_AddItemToArray(list, c)) {
			cJSON_Delete(c);
			rc = TLY_ENOMEM;
			break;
		}
	}
	store_reset(st);
	if (rc != STORE_DONE || api_meta(root, page, per, total) != 0)
		goto fail;
	httpd_json(x->resp, 200, root);
	return;
fail:
	cJSON_Delete(root);
	api_store_failed(x);
}

void api_customers_delete(struct api_ctx *x)
{
	static const char *const sql =
		"UPDATE customers SET deleted_at = ? WHERE lago_id = ?";
	char lago_id[UTIL_UUID_LEN];
	struct store_stmt *st = NULL;
	cJSON *out = NULL;
	int rc = customer_load(x, x->req->cap[0], &out, lago_id);

	if (rc == TLY_ENOTFOUND) {
		api_not_found(x, "customer");
		return;
	}
	if (rc == TLY_OK)
		rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = store_prepare(x->c, sql, &st);
	if (rc == TLY_OK) {
		store_bind_i64(st, 1, api_now());
		store_bind_text(st, 2, lago_id);
		rc = store_run(st);
	}
	if (rc == TLY_OK)
		rc = api_subscriptions_end_customer(x, lago_id);
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc != TLY_OK) {
		store_rollback(x->c);
		cJSON_Delete(out);
		api_store_failed(x);
		return;
	}
	api_send(x, "customer", out);
}
