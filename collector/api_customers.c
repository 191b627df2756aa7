/*
 * api_customers.c - /api/v1/customers: upsert by external_id, get, list,
 * delete (a soft delete that terminates the customer's subscriptions).
 *
 * The stored doc holds the customer's attributes under Lago's names;
 * customer_json writes them out in the order of Lago's serializer, with
 * the derived fields (applicable_timezone, taxes) filled in.
 *
 * An upsert works as Lago's Customers::UpsertFromApiService: every key
 * the request has is assigned (a null clears), then the model's rules
 * run over the result and all their errors are answered together, in
 * the order app/models/customer.rb declares them.
 */
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "coupon.h"
#include "country.h"
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
/* Also Lago's address fields, billing and shipping alike. */
static const char *const ship_keys[] = {
	"address_line1", "address_line2", "city", "zipcode", "state",
	"country"};

static const char *const customer_types[] = {"company", "individual", NULL};
static const char *const account_types[] = {"customer", "partner", NULL};
static const char *const finalize_modes[] = {
	"inherit", "skip", "finalize", NULL};

/* Tally's caps; Lago only wants them >= 0 (value_is_out_of_range). */
#define MAX_PAYMENT_TERM 36500
#define MAX_GRACE_PERIOD 365

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(s, *set) == 0)
			return 1;
	return 0;
}

/*
 * Keys whose blank value Lago stores as null: the address fields, billing
 * and shipping ("normalizes ... .presence", app/models/customer.rb), and
 * the customer_type enum (Rails casts a blank enum value to nil).
 */
static int blank_is_null(const char *key)
{
	for (size_t i = 0; i < N(ship_keys); i++)
		if (strcmp(key, ship_keys[i]) == 0)
			return 1;
	return strcmp(key, "customer_type") == 0;
}

static int is_blank(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return !*s;
}

/* ---- Lago's validators ------------------------------------------------ */

/* tzdata files that are not zones, or zones no one lives in. */
static int tz_reserved(const char *tz)
{
	static const char *const names[] = {
		"posixrules", "localtime", "Factory", NULL};

	return one_of(tz, names) || strncmp(tz, "posix/", 6) == 0 ||
	       strncmp(tz, "right/", 6) == 0;
}

/* A zone name's shape: Area/Place_Name parts of [A-Za-z0-9_+-]. */
static int tz_name_ok(const char *tz)
{
	size_t n = strlen(tz);

	if (n == 0 || n > 64 || tz[0] == '/' || tz[n - 1] == '/' ||
	    strstr(tz, "//"))
		return 0;
	for (; *tz; tz++)
		if (!isalnum((unsigned char)*tz) && !strchr("/_+-", *tz))
			return 0;
	return 1;
}

/* Whether the zoneinfo file is a compiled zone (it starts with "TZif"). */
static int tz_file_ok(const char *tz)
{
	char path[128], magic[4];
	struct stat sb;
	int fd, ok;

	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0;
	ok = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	     read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
	     memcmp(magic, "TZif", sizeof(magic)) == 0;
	close(fd);
	return ok;
}

/*
 * Lago's TimezoneValidator takes "UTC" and the IANA names; here a name is
 * one of tzdata's compiled zones, not its tables (zone.tab, tzdata.zi...).
 */
static int valid_timezone(const char *tz)
{
	if (strcmp(tz, "UTC") == 0)
		return 1;
	return tz_name_ok(tz) && !tz_reserved(tz) && tz_file_ok(tz);
}

/* Regex::EMAIL of lago-api (app/support/regex.rb, RFC 5322) in POSIX ERE. */
#define EM_ATEXT "[a-z0-9!#$%&'*+/=?^_`{|}~-]"
#define EM_QPAIR "\\\\[\x01-\x09\x0b\x0c\x0e-\x7f]"
#define EM_OCTET "(25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
#define EM_LABEL "[a-z0-9]([a-z0-9-]*[a-z0-9])?"
static const char email_re[] =
	"^(" EM_ATEXT "+(\\." EM_ATEXT "+)*"
	"|\"([]-\x7f\x01-\x08\x0b\x0c\x0e-\x1f!#-[]|" EM_QPAIR ")*\")"
	"@((" EM_LABEL "\\.)+" EM_LABEL
	"|\\[(" EM_OCTET "\\.){3}(" EM_OCTET "|[a-z0-9-]*[a-z0-9]:"
	"([\x01-\x08\x0b\x0c\x0e-\x1f!-\x7f]|" EM_QPAIR ")+)\\])$";

static regex_t email_rx;
static int email_rx_ok;
static pthread_once_t email_rx_once = PTHREAD_ONCE_INIT;

static void email_rx_init(void)
{
	email_rx_ok = regcomp(&email_rx, email_re,
			      REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0;
}

/*
 * Lago's EmailValidator: the value split on commas, every part (stripped)
 * an address; "a@x.example," has an empty last part and is refused.
 * 1 valid, 0 not, -1 out of memory.
 */
static int valid_emails(const char *value)
{
	char *copy = strdup(value), *part, *next, *end;
	int ok = 1;

	if (!copy)
		return -1;
	pthread_once(&email_rx_once, email_rx_init);
	for (part = copy; ok && part; part = next) {
		next = strchr(part, ',');
		if (next)
			*next++ = '\0';
		while (isspace((unsigned char)*part))
			part++;
		end = part + strlen(part);
		while (end > part && isspace((unsigned char)end[-1]))
			*--end = '\0';
		ok = email_rx_ok && regexec(&email_rx, part, 0, NULL, 0) == 0;
	}
	free(copy);
	return ok;
}

/* ---- Reading the request ---------------------------------------------- */

/* doc[key] = v, v consumed; 0, or -1 when out of memory. */
static int put_item(cJSON *doc, const char *key, cJSON *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(doc, key);
	if (v && cJSON_AddItemToObject(doc, key, v))
		return 0;
	cJSON_Delete(v);
	return -1;
}

/* doc[key] = s as Lago stores it: blank_is_null, countries upcased. */
static int put_str(cJSON *doc, const char *key, const char *s)
{
	cJSON *v;

	if (s && blank_is_null(key) && is_blank(s))
		s = NULL;
	v = s ? cJSON_CreateString(s) : cJSON_CreateNull();
	if (v && s && strcmp(key, "country") == 0)
		for (char *p = v->valuestring; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
	return put_item(doc, key, v);
}

/*
 * doc[key] = request[key] when the request has it, null included: Lago
 * assigns every key present.  0, or -1 when out of memory.
 */
static int take_str(cJSON *doc, cJSON *in, const char *key,
		    struct api_errs *e)
{
	const char *v = NULL;

	if (!cJSON_GetObjectItemCaseSensitive(in, key))
		return 0;
	if (api_str(in, key, 0, 0, &v, e) < 0)
		return 0;
	return put_str(doc, key, v);
}

/* The same for an integer; its range is checked with the other rules. */
static int take_int(cJSON *doc, cJSON *in, const char *key,
		    struct api_errs *e)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(in, key);
	int64_t n;

	if (!it)
		return 0;
	if (cJSON_IsNull(it))
		return put_item(doc, key, cJSON_CreateNull());
	if (api_int(in, key, 0, INT64_MIN, INT64_MAX, &n, e) < 0)
		return 0;
	return put_item(doc, key, cJSON_CreateNumber((double)n));
}

/* Lago changes these only for a non-null value. */
static int take_bool(cJSON *doc, cJSON *in, const char *key,
		     struct api_errs *e)
{
	int b;

	if (api_bool(in, key, &b, e) <= 0)
		return 0;
	return put_item(doc, key, cJSON_CreateBool(b));
}

/*
 * Lago assigns account_type only with revenue share, and never a null
 * (the column is not null); the value is checked with the other rules.
 */
static int take_account_type(cJSON *doc, cJSON *in, struct api_errs *e)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(in, "account_type");

	if (!it || cJSON_IsNull(it))
		return 0;
	return take_str(doc, in, "account_type", e);
}

/*
 * The request's nested object key (billing_configuration...) and the
 * doc's, made if missing.  NULL for both when the request has none (a
 * null included: Lago changes nothing then); -1 when out of memory.
 */
static int nested_pair(cJSON *doc, cJSON *in, const char *key, cJSON **src,
		       cJSON **dst, struct api_errs *e)
{
	*src = cJSON_GetObjectItemCaseSensitive(in, key);
	*dst = NULL;
	if (*src && !cJSON_IsNull(*src) && !cJSON_IsObject(*src))
		api_err(e, key, "invalid_value");
	if (!cJSON_IsObject(*src)) {
		*src = NULL;
		return 0;
	}
	*dst = cJSON_GetObjectItemCaseSensitive(doc, key);
	if (!*dst)
		*dst = cJSON_AddObjectToObject(doc, key);
	return *dst ? 0 : -1;
}

static int take_nested(cJSON *doc, cJSON *in, struct api_errs *e)
{
	static const char *const billing[] = {
		"payment_provider", "payment_provider_code", "document_locale"};
	cJSON *src, *dst;
	int rc = nested_pair(doc, in, "billing_configuration", &src, &dst, e);

	for (size_t i = 0; src && i < N(billing); i++)
		rc |= take_str(dst, src, billing[i], e);
	if (src)
		rc |= take_int(dst, src, "invoice_grace_period", e);
	rc |= nested_pair(doc, in, "shipping_address", &src, &dst, e);
	for (size_t i = 0; src && i < N(ship_keys); i++)
		rc |= take_str(dst, src, ship_keys[i], e);
	return rc;
}

/* Assign what the request has; a wrong JSON type is "invalid_value". */
static int take_attrs(cJSON *doc, cJSON *in, struct api_errs *e)
{
	int rc = 0;

	for (size_t i = 0; i < N(head_keys); i++)
		if (strcmp(head_keys[i], "external_id") &&
		    strcmp(head_keys[i], "account_type"))
			rc |= take_str(doc, in, head_keys[i], e);
	rc |= take_account_type(doc, in, e);
	for (size_t i = 0; i < N(addr_keys); i++)
		rc |= take_str(doc, in, addr_keys[i], e);
	rc |= take_str(doc, in, "external_salesforce_id", e);
	rc |= take_str(doc, in, "finalize_zero_amount_invoice", e);
	rc |= take_int(doc, in, "net_payment_term", e);
	rc |= take_nested(doc, in, e);
	rc |= take_bool(doc, in, "skip_invoice_custom_sections", e);
	return rc;
}

/* ---- Lago's rules, in the order it reports them ----------------------- */

static const char *doc_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* numericality greater_than_or_equal_to: 0 (and Tally's cap). */
static void check_range(const cJSON *obj, const char *key, int64_t max,
			struct api_errs *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (cJSON_IsNumber(v) && (v->valuedouble < 0 ||
				  v->valuedouble > (double)max))
		api_err(e, key, "value_is_out_of_range");
}

/*
 * Finalize_zero_amount_invoice comes first in Lago's service, which then
 * answers that error alone.  0 when it is wrong (and recorded).
 */
static int finalize_ok(cJSON *in, struct api_errs *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		in, "finalize_zero_amount_invoice");

	if (!v || cJSON_IsNull(v) ||
	    (cJSON_IsString(v) && one_of(v->valuestring, finalize_modes)))
		return 1;
	api_err(e, "finalize_zero_amount_invoice", "invalid_value");
	return 0;
}

/*
 * The model's validations of the doc, in app/models/customer.rb's order
 * (the enums, then country ... email); ext_code is external_id's error.
 * The email is checked only when the request changes it, as Lago does.
 */
static int check_attrs(const cJSON *doc, const char *ext_code,
		       int email_changed, struct api_errs *e)
{
	const cJSON *ship = cJSON_GetObjectItemCaseSensitive(
		doc, "shipping_address");
	const char *v;
	int ok;

	if ((v = doc_str(doc, "customer_type")) && !one_of(v, customer_types))
		api_err(e, "customer_type", "value_is_invalid");
	if ((v = doc_str(doc, "account_type")) && !one_of(v, account_types))
		api_err(e, "account_type", "value_is_invalid");
	if ((v = doc_str(doc, "country")) && !country_valid(v))
		api_err(e, "country", "not_a_valid_country_code");
	if ((v = doc_str(ship, "country")) && !country_valid(v))
		api_err(e, "shipping_country", "not_a_valid_country_code");
	if ((v = doc_str(doc, "currency")) && currency_exponent(v) < 0)
		api_err(e, "currency", "value_is_invalid");
	if (ext_code)
		api_err(e, "external_id", ext_code);
	check_range(cJSON_GetObjectItemCaseSensitive(doc,
						     "billing_configuration"),
		    "invoice_grace_period", MAX_GRACE_PERIOD, e);
	check_range(doc, "net_payment_term", MAX_PAYMENT_TERM, e);
	if ((v = doc_str(doc, "timezone")) && !valid_timezone(v))
		api_err(e, "timezone", "invalid_timezone");
	v = doc_str(doc, "email");
	if (!email_changed || !v || is_blank(v))
		return TLY_OK;
	ok = valid_emails(v);
	if (ok == 0)
		api_err(e, "email", "invalid_email_format");
	return ok < 0 ? TLY_ENOMEM : TLY_OK;
}

/* Whether the request sets doc[key] to another string (or to null). */
static int str_changes(const cJSON *doc, const cJSON *in, const char *key)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(in, key);
	const char *o = doc_str(doc, key);

	if (!n)
		return 0;
	if (!cJSON_IsString(n))
		return cJSON_IsNull(n) && o;
	return !o || strcmp(o, n->valuestring) != 0;
}

static int take_taxes(struct api_ctx *x, cJSON *doc, cJSON *in,
		      struct api_errs *e)
{
	cJSON *codes = cJSON_GetObjectItemCaseSensitive(in, "tax_codes");
	cJSON *taxes = NULL;
	int rc;

	if (!codes)
		return TLY_OK;
	if (!cJSON_IsArray(codes)) {
		api_err(e, "tax_codes", "invalid_value");
		return TLY_OK;
	}
	rc = api_taxes_of(x, codes, &taxes, e);
	if (rc != TLY_OK)	/* an unknown code is recorded in e */
		return rc == TLY_ENOTFOUND ? TLY_OK : rc;
	cJSON_Delete(taxes);
	return put_item(doc, "tax_codes", cJSON_Duplicate(codes, 1)) ?
		       TLY_ENOMEM : TLY_OK;
}

/*
 * Lago's upsert of doc from request object in: the request's keys are
 * assigned, then every rule runs, so that all the errors come together
 * in e.  ext_code: external_id's error, NULL when it is good.
 */
static int customer_build(struct api_ctx *x, cJSON *doc, cJSON *in,
			  const char *ext_code, struct api_errs *e)
{
	int email_changed = str_changes(doc, in, "email");
	int rc;

	if (!finalize_ok(in, e))
		return TLY_OK;
	if (take_attrs(doc, in, e) != 0)
		return TLY_ENOMEM;
	rc = check_attrs(doc, ext_code, email_changed, e);
	if (rc == TLY_OK)
		rc = take_taxes(x, doc, in, e);
	return rc;
}

/* ---- Lago's customer object ------------------------------------------- */

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

/*
 * Lago's customer object from the stored row; single: a render of one
 * customer (create, show, destroy), which Lago ends with
 * applicable_invoice_custom_sections, unlike the list's items.
 */
static cJSON *customer_json(struct api_ctx *x, const char *lago_id,
			    int64_t seq, const cJSON *doc, int64_t created,
			    int64_t updated, int single)
{
	static const char *const billing[] = {
		"invoice_grace_period", "payment_provider",
		"payment_provider_code", "document_locale"};
	const cJSON *tz = cJSON_GetObjectItemCaseSensitive(doc, "timezone");
	const cJSON *fz = cJSON_GetObjectItemCaseSensitive(
		doc, "finalize_zero_amount_invoice");
	const cJSON *skip = cJSON_GetObjectItemCaseSensitive(
		doc, "skip_invoice_custom_sections");
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
	cJSON_AddBoolToObject(o, "skip_invoice_custom_sections",
			      cJSON_IsTrue(skip));
	cJSON_AddArrayToObject(o, "metadata");
	api_taxes_of(x, cJSON_GetObjectItemCaseSensitive(doc, "tax_codes"),
		     &taxes, &e);
	api_errs_free(&e);
	cJSON_AddItemToObject(o, "taxes", taxes ? taxes : cJSON_CreateArray());
	cJSON_AddArrayToObject(o, "integration_customers");
	if (single)
		cJSON_AddArrayToObject(o, "applicable_invoice_custom_sections");
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
					   store_col_i64(st, 4), 1) : NULL;
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
	rc = customer_build(x, doc, in, NULL, e);
	if (rc == TLY_OK && e->details)
		rc = TLY_EINVAL;
	if (rc == TLY_OK)
		rc = put_item(doc, "external_id", cJSON_CreateString(ext)) ?
			     TLY_ENOMEM : TLY_OK;
	if (rc == TLY_OK && is_new)
		rc = util_uuid(lago_id);
	if (rc == TLY_OK)
		rc = customer_save(x, lago_id, is_new, ext, doc);
	cJSON_Delete(doc);
	return rc;
}

/*
 * external_id's error code, NULL when *ext is set to a usable one.  Lago
 * wants it present (not blank); its length is Tally's cap.
 */
static const char *ext_problem(cJSON *in, const char **ext)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(in, "external_id");

	if (!it || cJSON_IsNull(it))
		return "value_is_mandatory";
	if (!cJSON_IsString(it))
		return "invalid_value";
	if (is_blank(it->valuestring))
		return "value_is_mandatory";
	if (strlen(it->valuestring) > 255)
		return "value_is_too_long";
	*ext = it->valuestring;
	return NULL;
}

/*
 * A create without a usable external_id writes nothing, but Lago still
 * reports every other field's errors with it.
 */
static void create_refused(struct api_ctx *x, cJSON *in, const char *code,
			   struct api_errs *e)
{
	cJSON *doc = cJSON_CreateObject();
	int rc = doc ? customer_build(x, doc, in, code, e) : TLY_ENOMEM;

	cJSON_Delete(doc);
	if (rc != TLY_OK || !api_errs_send(x, e))
		api_store_failed(x);
}

void api_customers_create(struct api_ctx *x)
{
	cJSON *root, *in = api_body(x, "customer", &root), *out = NULL;
	struct api_errs e = {0};
	char lago_id[UTIL_UUID_LEN];
	const char *ext = NULL, *code;
	int rc;

	if (!in)
		return;
	code = ext_problem(in, &ext);
	if (code) {
		create_refused(x, in, code, &e);
		goto out;
	}
	rc = store_begin(x->c);
	if (rc == TLY_OK)
		rc = api_customer_upsert(x, in, ext, lago_id, &e);
	if (rc == TLY_OK)
		rc = store_commit(x->c);
	if (rc != TLY_OK) {
		store_rollback(x->c);
		if (rc != TLY_EINVAL || !api_errs_send(x, &e))
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

	api_send_found(x, rc, "customer", out);
}

static int64_t customer_count(struct api_ctx *x)
{
	static const char *const sql =
		"SELECT COUNT(*) FROM customers WHERE deleted_at IS NULL";

	return api_count(x, sql);
}

static cJSON *customer_row_json(struct api_ctx *x, struct store_stmt *st,
				void *arg)
{
	cJSON *doc = cJSON_Parse(store_col_text(st, 2));
	cJSON *c = doc ? customer_json(x, store_col_text(st, 0),
				       store_col_i64(st, 1), doc,
				       store_col_i64(st, 3),
				       store_col_i64(st, 4), 0) : NULL;

	(void)arg;
	cJSON_Delete(doc);
	return c;
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
	rc = api_rows_append(x, st, customer_row_json, NULL, list);
	if (rc != TLY_OK || api_meta(root, page, per, total) != 0)
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
	/* Lago terminates a deleted customer's applied coupons. */
	if (rc == TLY_OK)
		rc = coupon_end_customer(x->c, lago_id);
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
