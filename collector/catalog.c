/*
 * catalog.c - the pre-aggregation catalog for agents (see catalog.h).
 */
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "err.h"

int catalog_bump(struct store_conn *c)
{
	static const char *const sql =
		"UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
		" WHERE key = 'catalog_version'";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	return rc == TLY_OK ? store_run(st) : rc;
}

int64_t catalog_version(struct store_conn *c)
{
	static const char *const sql =
		"SELECT value FROM meta WHERE key = 'catalog_version'";
	struct store_stmt *st = NULL;
	int64_t v = -1;

	if (store_prepare(c, sql, &st) != TLY_OK)
		return -1;
	if (store_step(st) == STORE_ROW && store_col_text(st, 0))
		v = strtoll(store_col_text(st, 0), NULL, 10);
	store_reset(st);
	return v;
}

/* Add key to the array `keys` unless it is there already. */
static int add_key(cJSON *keys, const char *key)
{
	cJSON *k;

	cJSON_ArrayForEach(k, keys)
		if (strcmp(k->valuestring, key) == 0)
			return TLY_OK;
	return cJSON_AddItemToArray(keys, cJSON_CreateString(key)) ?
	       TLY_OK : TLY_ENOMEM;
}

static cJSON *find_metric(cJSON *metrics, const char *code)
{
	cJSON *m;

	cJSON_ArrayForEach(m, metrics) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "code");

		if (cJSON_IsString(c) && strcmp(c->valuestring, code) == 0)
			return m;
	}
	return NULL;
}

/* One catalog entry from a billable metric's Lago document. */
static cJSON *metric_entry(const cJSON *doc)
{
	const cJSON *agg = cJSON_GetObjectItemCaseSensitive(doc,
							    "aggregation_type");
	const cJSON *field = cJSON_GetObjectItemCaseSensitive(doc, "field_name");
	const cJSON *expr = cJSON_GetObjectItemCaseSensitive(doc, "expression");
	const cJSON *filters = cJSON_GetObjectItemCaseSensitive(doc, "filters");
	const cJSON *f;
	cJSON *e = cJSON_CreateObject(), *keys;
	const char *type = cJSON_IsString(agg) ? agg->valuestring : "";
	int mergeable = !strcmp(type, "count_agg") || !strcmp(type, "sum_agg") ||
			!strcmp(type, "max_agg") || !strcmp(type, "latest_agg") ||
			!strcmp(type, "unique_count_agg");

	if (!e)
		return NULL;
	cJSON_AddItemToObject(e, "code", cJSON_Duplicate(
		cJSON_GetObjectItemCaseSensitive(doc, "code"), 0));
	cJSON_AddStringToObject(e, "aggregation_type", type);
	if (cJSON_IsString(field))
		cJSON_AddStringToObject(e, "field_name", field->valuestring);
	else
		cJSON_AddNullToObject(e, "field_name");
	keys = cJSON_AddArrayToObject(e, "filter_keys");
	cJSON_ArrayForEach(f, filters) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(f, "key");

		if (keys && cJSON_IsString(k))
			add_key(keys, k->valuestring);
	}
	if (cJSON_IsString(expr) && expr->valuestring[0])
		mergeable = 0;
	if (!cJSON_AddBoolToObject(e, "raw", !mergeable) || !keys) {
		cJSON_Delete(e);
		return NULL;
	}
	return e;
}

static int load_metrics(struct store_conn *c, cJSON *metrics)
{
	static const char *const sql =
		"SELECT doc FROM billable_metrics WHERE deleted_at IS NULL "
		"ORDER BY code";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	while (rc == TLY_OK && (rc = store_step(st)) == STORE_ROW) {
		cJSON *doc = cJSON_Parse(store_col_text(st, 0));
		cJSON *e = doc ? metric_entry(doc) : NULL;

		cJSON_Delete(doc);
		rc = e && cJSON_AddItemToArray(metrics, e) ? TLY_OK : TLY_ENOMEM;
	}
	if (rc == STORE_DONE)
		rc = TLY_OK;
	if (st)
		store_reset(st);
	return rc;
}

/* A charge widens its metric's filter keys and may need raw events. */
static int apply_charge(cJSON *metrics, const cJSON *ch)
{
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(
		ch, "billable_metric_code");
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(ch, "charge_model");
	const cJSON *adv = cJSON_GetObjectItemCaseSensitive(ch, "pay_in_advance");
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(ch, "properties");
	const cJSON *groups, *f, *k;
	cJSON *m, *keys;

	if (!cJSON_IsString(code))
		return TLY_OK;
	m = find_metric(metrics, code->valuestring);
	if (!m)
		return TLY_OK;
	keys = cJSON_GetObjectItemCaseSensitive(m, "filter_keys");
	if (cJSON_IsTrue(adv) || (cJSON_IsString(model) &&
				  !strcmp(model->valuestring, "percentage")))
		cJSON_ReplaceItemInObjectCaseSensitive(m, "raw",
						       cJSON_CreateTrue());
	groups = cJSON_GetObjectItemCaseSensitive(props, "pricing_group_keys");
	if (!groups)
		groups = cJSON_GetObjectItemCaseSensitive(props, "grouped_by");
	cJSON_ArrayForEach(k, groups)
		if (cJSON_IsString(k) && add_key(keys, k->valuestring) != TLY_OK)
			return TLY_ENOMEM;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(ch, "filters"))
		cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(f, "values"))
			if (add_key(keys, k->string) != TLY_OK)
				return TLY_ENOMEM;
	return TLY_OK;
}

static int load_charges(struct store_conn *c, cJSON *metrics)
{
	static const char *const sql =
		"SELECT doc FROM plans WHERE deleted_at IS NULL";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	while (rc == TLY_OK && (rc = store_step(st)) == STORE_ROW) {
		cJSON *doc = cJSON_Parse(store_col_text(st, 0)), *ch;

		if (!doc) {
			rc = TLY_ENOMEM;
			break;
		}
		rc = TLY_OK;	/* was STORE_ROW */
		cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(doc,
								 "charges"))
			if (rc == TLY_OK)
				rc = apply_charge(metrics, ch);
		cJSON_Delete(doc);
	}
	if (rc == STORE_DONE)
		rc = TLY_OK;
	if (st)
		store_reset(st);
	return rc;
}

int catalog_build(struct store_conn *c, cJSON **out)
{
	cJSON *cat = cJSON_CreateObject(), *metrics;
	int rc = TLY_ENOMEM;

	*out = NULL;
	if (!cat || !cJSON_AddNumberToObject(cat, "version",
					     (double)catalog_version(c)))
		goto fail;
	metrics = cJSON_AddArrayToObject(cat, "metrics");
	if (!metrics)
		goto fail;
	rc = load_metrics(c, metrics);
	if (rc == TLY_OK)
		rc = load_charges(c, metrics);
	if (rc != TLY_OK)
		goto fail;
	*out = cat;
	return TLY_OK;
fail:
	cJSON_Delete(cat);
	return rc;
}
