/*
 * charge_check.c - the property checks of each charge model, as Lago's
 * validators make them (see charge_check.h).
 *
 * Lago is strict about types: amounts and rates are strings (a JSON
 * number is refused, so no binary float ever carries money), package
 * sizes and free units are integers, range bounds are numbers.  cJSON
 * cannot tell 1 from 1.0, so an integral JSON number counts as an integer.
 */
#include <math.h>
#include <string.h>

#include "charge_check.h"
#include "dec.h"
#include "err.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Lago's ranges use JSON numbers; 2^53 keeps every integer exact. */
#define INT_LIMIT 9007199254740992.0

static void add(struct charge_errs *e, const char *code)
{
	for (int i = 0; i < e->n; i++)
		if (strcmp(e->code[i], code) == 0)
			return;
	if (e->n < CHARGE_ERRS_MAX)
		e->code[e->n++] = code;
}

static const cJSON *prop(const cJSON *props, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(props, key);
}

/* Ruby's `v.is_a?(Integer) && v >= min`. */
static int is_int_from(const cJSON *v, double min)
{
	return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
	       v->valuedouble >= min && v->valuedouble <= INT_LIMIT;
}

static int parse_amount(const cJSON *v, dec_t *d)
{
	return cJSON_IsString(v) &&
	       dec_parse_str(d, v->valuestring) == TLY_OK && dec_sgn(d) >= 0;
}

int charge_valid_amount(const cJSON *v)
{
	dec_t d;
	int ok;

	dec_init(&d);
	ok = parse_amount(v, &d);
	dec_clear(&d);
	return ok;
}

/* Ruby's present?: not nil, and not a blank string, array or object. */
static int present(const cJSON *v)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v))
		return strspn(v->valuestring, " \t\r\n\f\v") <
		       strlen(v->valuestring);
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return v->child != NULL;
	return 1;
}

/* Every model: pricing_group_keys (or the older grouped_by). */
static void check_group_keys(const cJSON *props, struct charge_errs *e)
{
	const cJSON *keys = prop(props, "pricing_group_keys"), *k;

	if (!keys || cJSON_IsNull(keys))
		keys = prop(props, "grouped_by");
	if (!keys || cJSON_IsNull(keys))
		return;
	if (!cJSON_IsArray(keys)) {
		add(e, "invalid_type");
		return;
	}
	cJSON_ArrayForEach(k, keys)
		if (!cJSON_IsString(k) || !present(k))
			add(e, "invalid_type");
}

static void check_standard(const cJSON *props, struct charge_errs *e)
{
	if (!charge_valid_amount(prop(props, "amount")))
		add(e, "invalid_amount");
}

static void check_package(const cJSON *props, struct charge_errs *e)
{
	if (!charge_valid_amount(prop(props, "amount")))
		add(e, "invalid_amount");
	if (!is_int_from(prop(props, "free_units"), 0))
		add(e, "invalid_free_units");
	if (!is_int_from(prop(props, "package_size"), 1))
		add(e, "invalid_package_size");
}

/* per_transaction_min_amount <= per_transaction_max_amount when both set. */
static void check_min_max(const cJSON *props, struct charge_errs *e)
{
	const cJSON *min = prop(props, "per_transaction_min_amount");
	const cJSON *max = prop(props, "per_transaction_max_amount");
	dec_t a, b;
	int ok_min, ok_max;

	dec_init(&a);
	dec_init(&b);
	ok_min = parse_amount(min, &a);
	ok_max = parse_amount(max, &b);
	if (present(min) && !ok_min)
		add(e, "invalid_amount");
	if (present(max) && !ok_max)
		add(e, "invalid_amount");
	if (ok_min && ok_max && dec_cmp(&a, &b) > 0)
		add(e, "per_transaction_max_lower_than_per_transaction_min");
	dec_clear(&a);
	dec_clear(&b);
}

static void check_percentage(const cJSON *props, struct charge_errs *e)
{
	const cJSON *v;

	if (!charge_valid_amount(prop(props, "rate")))
		add(e, "invalid_rate");
	v = prop(props, "fixed_amount");
	if (v && !cJSON_IsNull(v) && !charge_valid_amount(v))
		add(e, "invalid_fixed_amount");
	v = prop(props, "free_units_per_events");
	if (v && !cJSON_IsNull(v) && !is_int_from(v, 1))
		add(e, "invalid_free_units_per_events");
	v = prop(props, "free_units_per_total_aggregation");
	if (v && !cJSON_IsNull(v) && !charge_valid_amount(v))
		add(e, "invalid_free_units_per_total_aggregation");
	check_min_max(props, e);
}

/* How one model's ranges are named and checked. */
struct ranges_spec {
	const char *key, *missing, *invalid;
	int adjacent;	/* a range may also start at the last to_value */
	void (*amounts)(const cJSON *range, struct charge_errs *e);
};

/*
 * Lago's RangeBoundsValidator: the first range starts at 0, each next one
 * at the previous to_value + 1 (or at to_value, when adjacent), a range
 * ends above its start, the last one has no end.
 */
static int bounds_ok(const cJSON *r, int first, int last, double prev_to,
		     int adjacent)
{
	const cJSON *from = prop(r, "from_value"), *to = prop(r, "to_value");
	double f;

	if (!cJSON_IsNumber(from))
		return 0;
	f = from->valuedouble;
	if (first ? f != 0 : f != prev_to + 1 && !(adjacent && f == prev_to))
		return 0;
	if (last)
		return !to || cJSON_IsNull(to);
	return cJSON_IsNumber(to) && to->valuedouble > f;
}

static void check_ranges(const cJSON *props, const struct ranges_spec *s,
			 struct charge_errs *e)
{
	const cJSON *ranges = prop(props, s->key), *r;
	double prev_to = 0;

	if (!cJSON_IsArray(ranges) || !ranges->child) {
		add(e, s->missing);
		return;
	}
	cJSON_ArrayForEach(r, ranges) {
		const cJSON *to;

		if (!cJSON_IsObject(r)) {
			add(e, s->invalid);
			prev_to = 0;
			continue;
		}
		s->amounts(r, e);
		if (!bounds_ok(r, r == ranges->child, !r->next, prev_to,
			       s->adjacent))
			add(e, s->invalid);
		to = prop(r, "to_value");
		prev_to = cJSON_IsNumber(to) ? to->valuedouble : 0;
	}
}

static void unit_amounts(const cJSON *r, struct charge_errs *e)
{
	if (!charge_valid_amount(prop(r, "per_unit_amount")) ||
	    !charge_valid_amount(prop(r, "flat_amount")))
		add(e, "invalid_amount");
}

static void rate_amounts(const cJSON *r, struct charge_errs *e)
{
	if (!charge_valid_amount(prop(r, "flat_amount")))
		add(e, "invalid_amount");
	if (!charge_valid_amount(prop(r, "rate")))
		add(e, "invalid_rate");
}

static void check_graduated(const cJSON *props, struct charge_errs *e)
{
	static const struct ranges_spec s = {
		"graduated_ranges", "missing_graduated_ranges",
		"invalid_graduated_ranges", 1, unit_amounts};

	check_ranges(props, &s, e);
}

static void check_volume(const cJSON *props, struct charge_errs *e)
{
	static const struct ranges_spec s = {
		"volume_ranges", "missing_volume_ranges",
		"invalid_volume_ranges", 0, unit_amounts};

	check_ranges(props, &s, e);
}

static void check_graduated_percentage(const cJSON *props,
				       struct charge_errs *e)
{
	static const struct ranges_spec s = {
		"graduated_percentage_ranges",
		"missing_graduated_percentage_ranges",
		"invalid_graduated_percentage_ranges", 1, rate_amounts};

	check_ranges(props, &s, e);
}

/*
 * Lago also has "dynamic" (prices given by each event) and "custom" (a
 * script per organization); Tally does not price them, so they are not
 * here and a charge naming them is refused as value_is_invalid.
 */
static const struct {
	const char *name;
	void (*check)(const cJSON *props, struct charge_errs *e);
	const char *defaults;	/* BuildDefaultPropertiesService */
} models[] = {
	{"standard", check_standard, "{\"amount\":\"0\"}"},
	{"graduated", check_graduated,
	 "{\"graduated_ranges\":[{\"from_value\":0,\"to_value\":null,"
	 "\"per_unit_amount\":\"0\",\"flat_amount\":\"0\"}]}"},
	{"package", check_package,
	 "{\"package_size\":1,\"amount\":\"0\",\"free_units\":0}"},
	{"percentage", check_percentage, "{\"rate\":\"0\"}"},
	{"volume", check_volume,
	 "{\"volume_ranges\":[{\"from_value\":0,\"to_value\":null,"
	 "\"per_unit_amount\":\"0\",\"flat_amount\":\"0\"}]}"},
	{"graduated_percentage", check_graduated_percentage,
	 "{\"graduated_percentage_ranges\":[{\"from_value\":0,"
	 "\"to_value\":null,\"rate\":\"0\",\"flat_amount\":\"0\"}]}"},
};

static int model_index(const char *model)
{
	for (size_t i = 0; model && i < N(models); i++)
		if (strcmp(models[i].name, model) == 0)
			return (int)i;
	return -1;
}

int charge_model_known(const char *model)
{
	return model_index(model) >= 0;
}

int charge_check_props(const char *model, const cJSON *props,
		       struct charge_errs *e)
{
	int i = model_index(model);

	if (i < 0)
		return e->n;
	models[i].check(props, e);
	check_group_keys(props, e);
	return e->n;
}

cJSON *charge_default_props(const char *model)
{
	int i = model_index(model);

	return i < 0 ? NULL : cJSON_Parse(models[i].defaults);
}
