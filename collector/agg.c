/*
 * agg.c - aggregate a metric's usage over a period (see agg.h).
 *
 * Three sources feed one accumulator: merged per-minute records (usage),
 * their distinct values (usage_distinct), and raw events (events).  Raw
 * events are read in time order so that latest_agg, unique_count's
 * add/remove and the percentage model's per-event values come out in
 * Lago's order.  weighted_sum reads raw events only (it never merges).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "err.h"
#include "log.h"
#include "period.h"

enum agg_kind { K_COUNT, K_SUM, K_MAX, K_LATEST, K_UNIQUE, K_WEIGHTED };

/* One distinct-value operation, for unique_count in time order. */
struct uop {
	int64_t ts_ms;
	size_t seq;		/* arrival order, for ties in time */
	char *value;
	int add;		/* 1 add, 0 remove */
};

struct acc {
	enum agg_kind kind;
	dec_t units;		/* count, sum or max */
	int has_max;
	dec_t latest;
	int64_t latest_ts;	/* ms */
	int has_latest;
	int64_t events;
	struct uop *ops;
	size_t nops, capops;
	dec_t *values;		/* raw events' values, time order */
	size_t nvalues, capvalues;
	dec_t cumul;		/* weighted_sum: running sum, from the initial */
	dec_t period;		/* weighted_sum: the period's seconds */
	int64_t seg_ms;		/* weighted_sum: start of the open segment */
	int opened;		/* weighted_sum: the period's first row is in */
	const struct agg_query *q;
	dec_t prorated;		/* prorated: sum of value x days present */
};

/*
 * Days a value seen at ts counts for, prorated: from its date to the
 * period's end, or the days billed when it was there before the period.
 */
static int64_t days_present(const struct acc *a, int64_t ts_ms)
{
	const struct agg_query *q = a->q;

	return period_days_between(ts_ms < q->from_ms ? q->from_ms : ts_ms,
				   q->to_ms);
}

/* prorated += v * days present from ts (sign: +1 or -1). */
static void prorate(struct acc *a, const dec_t *v, int64_t ts_ms, int sign)
{
	dec_t t;

	if (!a->q->prorated)
		return;
	dec_init(&t);
	dec_set_i64(&t, days_present(a, ts_ms) * sign);
	dec_mul(&t, &t, v);
	dec_add(&a->prorated, &a->prorated, &t);
	dec_clear(&t);
}

static int kind_of(const char *type, enum agg_kind *k)
{
	static const char *const names[] = {"count_agg", "sum_agg", "max_agg",
					    "latest_agg", "unique_count_agg",
					    "weighted_sum_agg"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (type && strcmp(type, names[i]) == 0) {
			*k = (enum agg_kind)i;
			return TLY_OK;
		}
	return TLY_EINVAL;
}

/* ---- Filters -------------------------------------------------------------- */

/* True when obj (a record's filters or an event's properties) matches. */
static int matches(const cJSON *obj, const cJSON *match)
{
	const cJSON *want;

	cJSON_ArrayForEach(want, match) {
		const cJSON *have = cJSON_GetObjectItemCaseSensitive(obj,
								     want->string);
		const cJSON *v;
		int ok = 0;

		if (!cJSON_IsString(have))
			return 0;
		cJSON_ArrayForEach(v, want)
			if (cJSON_IsString(v) &&
			    (!strcmp(v->valuestring, have->valuestring) ||
			     !strcmp(v->valuestring, "__ALL_FILTER_VALUES__")))
				ok = 1;
		if (!ok)
			return 0;
	}
	return 1;
}

/* In q's group: each key equal to the group's value, or absent for null. */
static int in_group(const cJSON *obj, const cJSON *group)
{
	const cJSON *g;

	cJSON_ArrayForEach(g, group) {
		const cJSON *have = cJSON_GetObjectItemCaseSensitive(obj,
								     g->string);

		if (cJSON_IsNull(g) ? cJSON_IsString(have) :
		    !cJSON_IsString(have) || !cJSON_IsString(g) ||
		    strcmp(have->valuestring, g->valuestring) != 0)
			return 0;
	}
	return 1;
}

static int selected(const struct agg_query *q, const cJSON *obj)
{
	const cJSON *ex;

	if (q->match && !matches(obj, q->match))
		return 0;
	if (q->group && !in_group(obj, q->group))
		return 0;
	cJSON_ArrayForEach(ex, q->exclude)
		if (matches(obj, ex))
			return 0;
	return 1;
}

/* ---- Accumulating ------------------------------------------------------ */

static int push_op(struct acc *a, int64_t ts_ms, const char *value, int add)
{
	char *copy;

	if (a->nops == a->capops) {
		size_t cap = a->capops ? a->capops * 2 : 64;
		struct uop *n = realloc(a->ops, cap * sizeof(*n));

		if (!n)
			return TLY_ENOMEM;
		a->ops = n;
		a->capops = cap;
	}
	copy = strdup(value);
	if (!copy)
		return TLY_ENOMEM;
	a->ops[a->nops] = (struct uop){ts_ms, a->nops, copy, add};
	a->nops++;
	return TLY_OK;
}

static int push_value(struct acc *a, const dec_t *v)
{
	if (a->nvalues == a->capvalues) {
		size_t cap = a->capvalues ? a->capvalues * 2 : 64;
		dec_t *n = realloc(a->values, cap * sizeof(*n));

		if (!n)
			return TLY_ENOMEM;
		a->values = n;
		a->capvalues = cap;
	}
	dec_init(&a->values[a->nvalues]);
	dec_set(&a->values[a->nvalues++], v);
	return TLY_OK;
}

/* Fold one value seen at ts_ms (sum, max, latest). */
static void fold(struct acc *a, const dec_t *v, int64_t ts_ms)
{
	if (a->kind == K_SUM) {
		dec_add(&a->units, &a->units, v);
		prorate(a, v, ts_ms, 1);
	} else if (a->kind == K_MAX) {
		if (!a->has_max || dec_cmp(v, &a->units) > 0)
			dec_set(&a->units, v);
		a->has_max = 1;
	} else if (a->kind == K_LATEST && (!a->has_latest ||
					   ts_ms >= a->latest_ts)) {
		dec_set(&a->latest, v);
		a->latest_ts = ts_ms;
		a->has_latest = 1;
	}
}

static int fold_text(struct acc *a, const char *text, int64_t ts_ms,
		     int keep)
{
	dec_t v;
	int rc;

	if (!text)
		return TLY_OK;
	dec_init(&v);
	rc = dec_parse_str(&v, text);
	if (rc == TLY_OK) {
		fold(a, &v, ts_ms);
		if (keep)
			rc = push_value(a, &v);
	} else {
		rc = TLY_OK;	/* not a number: Lago's cast fails; skip */
	}
	dec_clear(&v);
	return rc;
}

/* ---- Weighted sum ------------------------------------------------------- */

/*
 * Lago (events/stores/postgres/weighted_sum_query.rb) takes rows in time
 * order: the initial value at from_datetime, the period's events, and 0 at
 * to_datetime.ceil.  Each row weighs running_sum * seconds_to_next_row /
 * period_seconds, a PostgreSQL numeric division that rounds at its own
 * scale; the weights are summed and the total is .ceil(20)
 * (billable_metrics/aggregations/weighted_sum_service.rb).  A row whose
 * next row has the same time weighs 0, so tied events weigh together.
 */

/* Lago's numeric_condition: the value matches ^-?\d+(\.\d+)?$. */
static int lago_numeric(const char *s)
{
	if (*s == '-')
		s++;
	if (!isdigit((unsigned char)*s))
		return 0;
	while (isdigit((unsigned char)*s))
		s++;
	if (*s == '.') {
		if (!isdigit((unsigned char)*++s))
			return 0;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return *s == '\0';
}

/*
 * d as PostgreSQL's numeric holds it, in base-10000 digits: *weight is the
 * power of 10000 of the first non-zero digit, *first that digit (0 and 0
 * for zero).
 */
static void pg_lead(const dec_t *d, int *weight, long *first)
{
	mpz_t a, p;
	long nd, pos, w, e;

	*weight = 0;
	*first = 0;
	if (dec_is_zero(d))
		return;
	mpz_init(a);
	mpz_init(p);
	mpz_abs(a, d->coef);
	nd = (long)mpz_sizeinbase(a, 10);	/* may be one too many */
	mpz_ui_pow_ui(p, 10, (unsigned long)(nd - 1));
	if (mpz_cmp(a, p) < 0)
		nd--;
	pos = nd - 1 - d->scale;		/* 10^pos <= |d| < 10^(pos+1) */
	w = pos >= 0 ? pos / 4 : -((3 - pos) / 4);	/* floor(pos / 4) */
	e = d->scale + 4 * w;			/* first = |d| / 10000^w */
	mpz_ui_pow_ui(p, 10, (unsigned long)(e < 0 ? -e : e));
	if (e < 0)
		mpz_mul(a, a, p);
	else
		mpz_tdiv_q(a, a, p);
	*weight = (int)w;
	*first = mpz_get_si(a);
	mpz_clear(a);
	mpz_clear(p);
}

/*
 * The scale PostgreSQL gives n / d (select_div_scale in numeric.c): 16
 * significant digits after the quotient's estimated weight, and no fewer
 * places than either operand has.  Capped at what a dec_t holds.
 */
static int pg_div_scale(const dec_t *n, const dec_t *d)
{
	int w1, w2, qweight, rs;
	long f1, f2;

	pg_lead(n, &w1, &f1);
	pg_lead(d, &w2, &f2);
	qweight = w1 - w2 - (f1 <= f2);
	rs = 16 - qweight * 4;
	if (rs < n->scale)
		rs = n->scale;
	if (rs < d->scale)
		rs = d->scale;
	if (rs < 0)
		rs = 0;
	return rs < DEC_MAX_SCALE ? rs : DEC_MAX_SCALE;
}

/* to_datetime.ceil: the period's last instant, up to a whole second. */
static int64_t ceil_second(int64_t ms)
{
	return (ms / 1000 + (ms % 1000 > 0)) * 1000;
}

/*
 * The period's first row.  A recurring metric starts from the running sum
 * of the events before the period, written as Lago writes a BigDecimal
 * into its SQL (to_s("F"): no trailing zeros, at least one place; the
 * scale steers PostgreSQL's division); another metric starts from 0.  The
 * period lasts from from_ms to to_datetime.ceil.
 */
static void weighted_open(const struct agg_query *q, struct acc *a)
{
	if (q->recurring) {
		dec_normalize(&a->cumul);
		if (a->cumul.scale == 0)
			(void)dec_round(&a->cumul, &a->cumul, 1, DEC_HALF_UP);
	}
	dec_from_minor(&a->period, q->period_days > 0 ?
		       (int64_t)q->period_days * 86400000 :
		       ceil_second(q->to_ms) - q->from_ms, 3);
	dec_normalize(&a->period);
	a->seg_ms = q->from_ms;
	a->opened = 1;
}

/* Close the open segment at to_ms: running sum * seconds / period. */
static int weigh(struct acc *a, int64_t to_ms)
{
	dec_t secs, num, part;
	int rc;

	if (to_ms <= a->seg_ms)
		return TLY_OK;	/* no time passed: Lago's CASE gives 0 */
	dec_init(&secs);
	dec_init(&num);
	dec_init(&part);
	/* EXTRACT(EPOCH FROM interval) is a numeric with 6 places. */
	dec_from_minor(&secs, (to_ms - a->seg_ms) * 1000, 6);
	dec_mul(&num, &a->cumul, &secs);
	rc = dec_div(&part, &num, &a->period, pg_div_scale(&num, &a->period),
		     DEC_HALF_UP);
	if (rc == TLY_OK)
		dec_add(&a->units, &a->units, &part);
	a->seg_ms = to_ms;
	dec_clear(&secs);
	dec_clear(&num);
	dec_clear(&part);
	return rc;
}

/*
 * One raw event of a weighted sum, in time order.  Before the period (a
 * recurring metric reads from the start) it only builds the initial value;
 * in the period it closes the open segment and is counted.
 */
static int weighted_event(const struct agg_query *q, const cJSON *v,
			  int64_t ts_ms, struct acc *a)
{
	dec_t d;
	int rc = TLY_OK;

	if (!cJSON_IsString(v) || !lago_numeric(v->valuestring))
		return TLY_OK;
	dec_init(&d);
	if (dec_parse_str(&d, v->valuestring) == TLY_OK) {
		if (ts_ms >= q->from_ms) {
			if (!a->opened)
				weighted_open(q, a);
			rc = weigh(a, ts_ms);
			a->events++;
		}
		dec_add(&a->cumul, &a->cumul, &d);
	}
	dec_clear(&d);
	return rc;
}

/* The closing row at to_datetime.ceil, then Lago's .ceil(20). */
static int weighted_total(const struct agg_query *q, struct acc *a)
{
	int rc;

	if (!a->opened)
		weighted_open(q, a);
	rc = weigh(a, ceil_second(q->to_ms));
	if (rc == TLY_OK && a->units.scale > 20)
		rc = dec_round(&a->units, &a->units, 20, DEC_CEIL);
	dec_normalize(&a->units);
	return rc;
}

/* ---- Sources ------------------------------------------------------------ */

static const char *const sql_usage =
	"SELECT filters, count, sum, max, latest, latest_ts FROM usage "
	"WHERE sub = ? AND code = ? AND minute >= ? AND minute <= ? "
	"ORDER BY minute";
static const char *const sql_distinct =
	"SELECT filters, value, minute FROM usage_distinct "
	"WHERE sub = ? AND code = ? AND minute >= ? AND minute <= ?";
static const char *const sql_events =
	"SELECT properties, ts_ms FROM events "
	"WHERE sub = ? AND code = ? AND ts_ms >= ? AND ts_ms <= ? "
	"ORDER BY ts_ms, created_at";

static void bind_range(struct store_stmt *st, const struct agg_query *q,
		       int64_t from, int64_t to)
{
	store_bind_text(st, 1, q->sub);
	store_bind_text(st, 2, q->code);
	store_bind_i64(st, 3, from);
	store_bind_i64(st, 4, to);
}

static int from_usage(struct store_conn *c, const struct agg_query *q,
		      int64_t from_ms, struct acc *a)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql_usage, &st), step = STORE_DONE;

	if (rc != TLY_OK)
		return rc;
	bind_range(st, q, from_ms / 1000, q->to_ms / 1000);
	while (rc == TLY_OK && (step = store_step(st)) == STORE_ROW) {
		cJSON *f = cJSON_Parse(store_col_text(st, 0));
		int col = a->kind == K_SUM ? 2 : a->kind == K_MAX ? 3 : 4;

		if (!f) {
			rc = TLY_ENOMEM;
			break;
		}
		if (selected(q, f)) {
			a->events += store_col_i64(st, 1);
			if (a->kind != K_COUNT && a->kind != K_UNIQUE)
				rc = fold_text(a, store_col_text(st, col),
					       store_col_i64(st, 5) * 1000, 0);
		}
		cJSON_Delete(f);
	}
	store_reset(st);
	return rc != TLY_OK ? rc : step == STORE_DONE ? TLY_OK : step;
}

static int from_distinct(struct store_conn *c, const struct agg_query *q,
			 int64_t from_ms, struct acc *a)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql_distinct, &st), step = STORE_DONE;

	if (rc != TLY_OK)
		return rc;
	bind_range(st, q, from_ms / 1000, q->to_ms / 1000);
	while (rc == TLY_OK && (step = store_step(st)) == STORE_ROW) {
		cJSON *f = cJSON_Parse(store_col_text(st, 0));

		if (!f) {
			rc = TLY_ENOMEM;
			break;
		}
		if (selected(q, f))
			rc = push_op(a, store_col_i64(st, 2) * 1000,
				     store_col_text(st, 1), 1);
		cJSON_Delete(f);
	}
	store_reset(st);
	return rc != TLY_OK ? rc : step == STORE_DONE ? TLY_OK : step;
}

static int raw_event(const struct agg_query *q, const cJSON *props,
		     int64_t ts_ms, struct acc *a)
{
	const cJSON *v = q->field ?
		cJSON_GetObjectItemCaseSensitive(props, q->field) : NULL;
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(props,
							   "operation_type");

	if (a->kind == K_WEIGHTED)
		return weighted_event(q, v, ts_ms, a);
	a->events++;
	if (a->kind == K_UNIQUE) {
		if (!cJSON_IsString(v))
			return TLY_OK;
		return push_op(a, ts_ms, v->valuestring,
			       !cJSON_IsString(op) ||
			       strcmp(op->valuestring, "remove") != 0);
	}
	if (a->kind == K_COUNT)
		return TLY_OK;
	return fold_text(a, cJSON_IsString(v) ? v->valuestring : NULL, ts_ms,
			 1);
}

static int from_events(struct store_conn *c, const struct agg_query *q,
		       int64_t from_ms, struct acc *a)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql_events, &st), step = STORE_DONE;

	if (rc != TLY_OK)
		return rc;
	bind_range(st, q, from_ms, q->to_ms);
	while (rc == TLY_OK && (step = store_step(st)) == STORE_ROW) {
		cJSON *p = cJSON_Parse(store_col_text(st, 0));

		if (!p) {
			rc = TLY_ENOMEM;
			break;
		}
		if (selected(q, p))
			rc = raw_event(q, p, store_col_i64(st, 1), a);
		cJSON_Delete(p);
	}
	store_reset(st);
	return rc != TLY_OK ? rc : step == STORE_DONE ? TLY_OK : step;
}

/* ---- Results --------------------------------------------------------------- */

/* By value, then time, then arrival: a value's last op ends its run. */
static int op_cmp(const void *x, const void *y)
{
	const struct uop *a = x, *b = y;
	int c = strcmp(a->value, b->value);

	if (c)
		return c;
	if (a->ts_ms != b->ts_ms)
		return a->ts_ms < b->ts_ms ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * Distinct values whose last operation in time is an add; prorated, each
 * value also counts the days between its adds and removes.
 */
static int64_t unique_count(struct acc *a)
{
	dec_t one;
	int64_t n = 0;
	int present = 0;

	dec_init(&one);
	dec_set_i64(&one, 1);
	qsort(a->ops, a->nops, sizeof(*a->ops), op_cmp);
	for (size_t i = 0; i < a->nops; i++) {
		if (i == 0 || strcmp(a->ops[i].value, a->ops[i - 1].value) != 0)
			present = 0;
		if (a->ops[i].add != present) {
			prorate(a, &one, a->ops[i].ts_ms, present ? -1 : 1);
			present = a->ops[i].add;
		}
		if (i + 1 == a->nops ||
		    strcmp(a->ops[i].value, a->ops[i + 1].value) != 0)
			n += a->ops[i].add;
	}
	dec_clear(&one);
	return n;
}

static int apply_rounding(const struct agg_query *q, dec_t *u)
{
	enum dec_round mode;

	if (!q->rounding_function)
		return TLY_OK;
	if (!strcmp(q->rounding_function, "ceil"))
		mode = DEC_CEIL;
	else if (!strcmp(q->rounding_function, "floor"))
		mode = DEC_FLOOR;
	else
		mode = DEC_HALF_UP;
	return dec_round(u, u, q->rounding_precision, mode);
}

static void acc_clear(struct acc *a)
{
	dec_clear(&a->units);
	dec_clear(&a->latest);
	dec_clear(&a->cumul);
	dec_clear(&a->period);
	dec_clear(&a->prorated);
	for (size_t i = 0; i < a->nops; i++)
		free(a->ops[i].value);
	free(a->ops);
	for (size_t i = 0; i < a->nvalues; i++)
		dec_clear(&a->values[i]);
	free(a->values);
}

void agg_result_init(struct agg_result *r)
{
	memset(r, 0, sizeof(*r));
	dec_init(&r->units);
	dec_init(&r->full_units);
}

void agg_result_clear(struct agg_result *r)
{
	dec_clear(&r->units);
	dec_clear(&r->full_units);
	for (size_t i = 0; i < r->nvalues; i++)
		dec_clear(&r->values[i]);
	free(r->values);
	r->values = NULL;
	r->nvalues = 0;
}

static int finish(const struct agg_query *q, struct acc *a,
		  struct agg_result *r)
{
	int rc = TLY_OK;

	if (a->kind == K_COUNT)
		dec_set_i64(&a->units, a->events);
	if (a->kind == K_LATEST) {
		if (a->has_latest && dec_sgn(&a->latest) > 0)
			dec_set(&a->units, &a->latest);
		else
			dec_set_zero(&a->units);
	}
	if (a->kind == K_UNIQUE) {
		dec_set_i64(&a->units, unique_count(a));
	}
	if (a->kind == K_WEIGHTED)
		rc = weighted_total(q, a);
	if (rc != TLY_OK)
		return rc;
	dec_set(&r->full_units, &a->units);
	if (q->prorated && (a->kind == K_SUM || a->kind == K_UNIQUE)) {
		dec_t days;

		dec_init(&days);
		dec_set_i64(&days, q->period_days > 0 ? q->period_days : 1);
		rc = dec_div(&a->units, &a->prorated, &days, 5, DEC_CEIL);
		dec_clear(&days);
		if (rc != TLY_OK)
			return rc;
		dec_normalize(&a->units);
	}
	dec_set(&r->units, &a->units);
	r->events_count = a->events;
	r->values = a->values;	/* handed over */
	r->nvalues = a->nvalues;
	a->values = NULL;
	a->nvalues = 0;
	return apply_rounding(q, &r->units);
}

int agg_run(struct store_conn *c, const struct agg_query *q,
	    struct agg_result *r)
{
	struct acc a;
	int64_t from = q->recurring ? 0 : q->from_ms;
	int rc;

	memset(&a, 0, sizeof(a));
	rc = kind_of(q->type, &a.kind);
	if (rc != TLY_OK) {
		log_warn("agg: %s: aggregation %s is not supported", q->code,
			 q->type ? q->type : "(none)");
		return rc;
	}
	dec_init(&a.units);
	dec_init(&a.latest);
	dec_init(&a.cumul);
	dec_init(&a.period);
	dec_init(&a.prorated);
	a.q = q;
	if (a.kind != K_WEIGHTED)	/* shipped raw: no merged records */
		rc = from_usage(c, q, from, &a);
	if (rc == TLY_OK && a.kind == K_UNIQUE)
		rc = from_distinct(c, q, from, &a);
	if (rc == TLY_OK)
		rc = from_events(c, q, from, &a);
	if (rc == TLY_OK)
		rc = finish(q, &a, r);
	acc_clear(&a);
	return rc;
}

/* ---- Groups ---------------------------------------------------------------- */

/* The group object of obj for keys, as canonical JSON text. */
static char *group_of(const cJSON *obj, const cJSON *keys)
{
	cJSON *g = cJSON_CreateObject();
	const cJSON *k;
	char *text = NULL;

	cJSON_ArrayForEach(k, keys) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(
			obj, k->valuestring);

		if (!g || !cJSON_AddItemToObject(g, k->valuestring,
				cJSON_IsString(v) ?
				cJSON_CreateString(v->valuestring) :
				cJSON_CreateNull()))
			goto out;
	}
	text = cJSON_PrintUnformatted(g);
out:
	cJSON_Delete(g);
	return text;
}

/* Add obj's group to the set (an array of JSON texts) unless there. */
static int add_group(cJSON *set, const cJSON *obj, const cJSON *keys)
{
	char *text = group_of(obj, keys);
	const cJSON *have;
	int rc = TLY_OK;

	if (!text)
		return TLY_ENOMEM;
	cJSON_ArrayForEach(have, set)
		if (!strcmp(have->valuestring, text))
			goto out;
	if (!cJSON_AddItemToArray(set, cJSON_CreateString(text)))
		rc = TLY_ENOMEM;
out:
	cJSON_free(text);
	return rc;
}

/* Each selected row's group, from one of the usage or events queries. */
static int groups_from(struct store_conn *c, const struct agg_query *q,
		       const char *sql, int64_t from, int64_t to,
		       const cJSON *keys, cJSON *set)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	bind_range(st, q, from, to);
	while (rc == TLY_OK && store_step(st) == STORE_ROW) {
		cJSON *o = cJSON_Parse(store_col_text(st, 0));

		if (!o)
			rc = TLY_ENOMEM;
		else if (selected(q, o))
			rc = add_group(set, o, keys);
		cJSON_Delete(o);
	}
	store_reset(st);
	return rc;
}

static int text_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int agg_groups(struct store_conn *c, const struct agg_query *q,
	       const cJSON *keys, cJSON **out)
{
	int64_t from = q->recurring ? 0 : q->from_ms;
	cJSON *set = cJSON_CreateArray(), *arr = cJSON_CreateArray(), *t;
	const char **texts = NULL;
	int n = 0, rc = set && arr ? TLY_OK : TLY_ENOMEM;

	*out = NULL;
	if (rc == TLY_OK)
		rc = groups_from(c, q, sql_usage, from / 1000, q->to_ms / 1000,
				 keys, set);
	if (rc == TLY_OK)
		rc = groups_from(c, q, sql_events, from, q->to_ms, keys, set);
	n = set ? cJSON_GetArraySize(set) : 0;
	texts = rc == TLY_OK ? calloc((size_t)n + 1, sizeof(*texts)) : NULL;
	if (rc == TLY_OK && !texts)
		rc = TLY_ENOMEM;
	for (int i = 0; rc == TLY_OK && i < n; i++)
		texts[i] = cJSON_GetArrayItem(set, i)->valuestring;
	if (rc == TLY_OK)
		qsort(texts, (size_t)n, sizeof(*texts), text_cmp);
	for (int i = 0; rc == TLY_OK && i < n; i++) {
		t = cJSON_Parse(texts[i]);
		if (!t || !cJSON_AddItemToArray(arr, t)) {
			cJSON_Delete(t);
			rc = TLY_ENOMEM;
		}
	}
	free(texts);
	cJSON_Delete(set);
	if (rc != TLY_OK) {
		cJSON_Delete(arr);
		return rc;
	}
	*out = arr;
	return TLY_OK;
}
