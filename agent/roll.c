/*
 * roll.c - classify events at intake and roll a batch's events into wire
 * records (see roll.h).
 *
 * The groups of a batch live in an open-addressed hash table keyed by
 * "sub \x1f code \x1f fkey \x1f minute"; decimal accumulators are GMP
 * (dec_t), so sums stay exact however many events merge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dec.h"
#include "err.h"
#include "roll.h"
#include "wire.h"

/* ---- Catalog ------------------------------------------------------------ */

struct cat_metric {
	const char *code;
	const char *agg;		/* NULL when the metric ships raw */
	const char *field;		/* NULL for count_agg */
	const cJSON *filter_keys;	/* array of strings */
};

struct roll_catalog {
	cJSON *root;
	struct cat_metric *m;		/* sorted by code */
	size_t n;
	int64_t version;
};

static int metric_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cat_metric *)a)->code,
		      ((const struct cat_metric *)b)->code);
}

static const char *mergeable(const char *agg)
{
	static const char *const ok[] = {"count_agg", "sum_agg", "max_agg",
					 "latest_agg", "unique_count_agg"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(agg, ok[i]) == 0)
			return ok[i];
	return NULL;
}

static int catalog_entry(const cJSON *m, struct cat_metric *out)
{
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(m, "code");
	const cJSON *agg = cJSON_GetObjectItemCaseSensitive(m,
							    "aggregation_type");
	const cJSON *field = cJSON_GetObjectItemCaseSensitive(m, "field_name");
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(m, "filter_keys");
	const cJSON *raw = cJSON_GetObjectItemCaseSensitive(m, "raw");
	const cJSON *k;

	if (!cJSON_IsString(code) || !cJSON_IsString(agg) ||
	    !cJSON_IsArray(keys) || !cJSON_IsBool(raw))
		return TLY_EINVAL;
	cJSON_ArrayForEach(k, keys)
		if (!cJSON_IsString(k))
			return TLY_EINVAL;
	out->code = code->valuestring;
	out->agg = cJSON_IsTrue(raw) ? NULL : mergeable(agg->valuestring);
	out->field = cJSON_IsString(field) ? field->valuestring : NULL;
	if (out->agg && strcmp(out->agg, "count_agg") != 0 && !out->field)
		out->agg = NULL;
	out->filter_keys = keys;
	return TLY_OK;
}

int roll_catalog_parse(const char *json, struct roll_catalog **out)
{
	struct roll_catalog *c = calloc(1, sizeof(*c));
	const cJSON *metrics, *v, *m;
	int rc = TLY_EINVAL;

	*out = NULL;
	if (!c)
		return TLY_ENOMEM;
	c->root = cJSON_Parse(json);
	metrics = cJSON_GetObjectItemCaseSensitive(c->root, "metrics");
	v = cJSON_GetObjectItemCaseSensitive(c->root, "version");
	if (!cJSON_IsArray(metrics) || !cJSON_IsNumber(v))
		goto fail;
	c->version = (int64_t)v->valuedouble;
	c->m = calloc((size_t)cJSON_GetArraySize(metrics) + 1, sizeof(*c->m));
	if (!c->m) {
		rc = TLY_ENOMEM;
		goto fail;
	}
	cJSON_ArrayForEach(m, metrics) {
		rc = catalog_entry(m, &c->m[c->n]);
		if (rc != TLY_OK)
			goto fail;
		c->n++;
	}
	qsort(c->m, c->n, sizeof(*c->m), metric_cmp);
	*out = c;
	return TLY_OK;
fail:
	roll_catalog_free(&c);
	return rc;
}

void roll_catalog_free(struct roll_catalog **c)
{
	if (!c || !*c)
		return;
	cJSON_Delete((*c)->root);
	free((*c)->m);
	free(*c);
	*c = NULL;
}

int64_t roll_catalog_version(const struct roll_catalog *c)
{
	return c ? c->version : 0;
}

static const struct cat_metric *catalog_find(const struct roll_catalog *c,
					     const char *code)
{
	struct cat_metric key = {.code = code};

	if (!c || c->n == 0)
		return NULL;
	return bsearch(&key, c->m, c->n, sizeof(*c->m), metric_cmp);
}

/* ---- Classification ----------------------------------------------------- */

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* {"k": "v", ...} of the filter keys the event carries, sorted. */
static char *filter_key(const struct cat_metric *m, const struct event *ev)
{
	const char *keys[64];
	size_t n = 0;
	const cJSON *k;
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;

	cJSON_ArrayForEach(k, m->filter_keys)
		if (n < sizeof(keys) / sizeof(keys[0]) &&
		    ev_prop(ev, k->valuestring))
			keys[n++] = k->valuestring;
	qsort(keys, n, sizeof(keys[0]), key_cmp);
	for (size_t i = 0; o && i < n; i++)
		if (!cJSON_AddStringToObject(o, keys[i], ev_prop(ev, keys[i]))) {
			cJSON_Delete(o);
			o = NULL;
		}
	if (o)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

int roll_classify(const struct roll_catalog *cat, const struct event *ev,
		  struct roll_class *out)
{
	const struct cat_metric *m = catalog_find(cat, ev->code);
	const char *val = NULL, *op;

	memset(out, 0, sizeof(*out));
	if (!m || !m->agg || !ev->sub || ev->precise_total_amount_cents)
		return TLY_OK;
	if (m->field) {
		val = ev_prop(ev, m->field);
		if (!val)
			return TLY_OK;	/* Lago decides what a gap means */
		if (strcmp(m->agg, "unique_count_agg") != 0 &&
		    !dec_valid(val, strlen(val)))
			return TLY_OK;
	}
	op = ev_prop(ev, "operation_type");
	if (op && strcmp(op, "add") != 0)
		return TLY_OK;
	out->fkey = filter_key(m, ev);
	out->val = val ? strdup(val) : NULL;
	if (!out->fkey || (val && !out->val)) {
		roll_class_clear(out);
		return TLY_ENOMEM;
	}
	out->agg = m->agg;
	return TLY_OK;
}

void roll_class_clear(struct roll_class *c)
{
	free(c->fkey);
	free(c->val);
	memset(c, 0, sizeof(*c));
}

/* ---- Groups ------------------------------------------------------------- */

struct group {
	char *key;		/* sub \x1f code \x1f fkey \x1f minute */
	const char *sub, *code, *fkey;	/* into key, NUL-split copy */
	char *parts;		/* the copy the three point into */
	int64_t minute;		/* Unix seconds */
	enum { G_COUNT, G_SUM, G_MAX, G_LATEST, G_UNIQUE } kind;
	uint64_t count;
	dec_t acc;		/* sum, or max */
	int has_acc;
	char *latest;
	int64_t latest_ts;	/* ms */
	char **distinct;
	size_t ndistinct, capdistinct;
};

struct roll {
	struct group **tab;	/* open addressing, power-of-two size */
	size_t cap, ngroups;
	size_t nraw;		/* raw events counted by roll_add_raw */
	size_t raw_written;	/* of them, written by roll_encode_raw */
	uint64_t events;
	struct wire_enc *enc;	/* between encode_begin and encode_end */
};

struct roll *roll_new(void)
{
	struct roll *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cap = 64;
	r->tab = calloc(r->cap, sizeof(*r->tab));
	if (!r->tab) {
		free(r);
		return NULL;
	}
	return r;
}

static void group_free(struct group *g)
{
	if (!g)
		return;
	free(g->key);
	free(g->parts);
	dec_clear(&g->acc);
	free(g->latest);
	for (size_t i = 0; i < g->ndistinct; i++)
		free(g->distinct[i]);
	free(g->distinct);
	free(g);
}

void roll_free(struct roll **rp)
{
	struct roll *r = rp ? *rp : NULL;

	if (!r)
		return;
	for (size_t i = 0; i < r->cap; i++)
		group_free(r->tab[i]);
	wire_enc_free(&r->enc);
	free(r->tab);
	free(r);
	*rp = NULL;
}

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int grow(struct roll *r)
{
	size_t cap = r->cap * 2;
	struct group **tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return TLY_ENOMEM;
	for (size_t i = 0; i < r->cap; i++) {
		struct group *g = r->tab[i];
		size_t j;

		if (!g)
			continue;
		for (j = hash(g->key) & (cap - 1); tab[j]; j = (j + 1) & (cap - 1))
			;
		tab[j] = g;
	}
	free(r->tab);
	r->tab = tab;
	r->cap = cap;
	return TLY_OK;
}

static int kind_of(const char *agg)
{
	if (strcmp(agg, "sum_agg") == 0)
		return G_SUM;
	if (strcmp(agg, "max_agg") == 0)
		return G_MAX;
	if (strcmp(agg, "latest_agg") == 0)
		return G_LATEST;
	if (strcmp(agg, "unique_count_agg") == 0)
		return G_UNIQUE;
	return G_COUNT;
}

static struct group *group_new(const char *key, const char *sub,
			       const char *code, const char *fkey,
			       int64_t minute, const char *agg)
{
	struct group *g = calloc(1, sizeof(*g));
	size_t ls = strlen(sub), lc = strlen(code), lf = strlen(fkey);

	if (!g)
		return NULL;
	dec_init(&g->acc);
	g->key = strdup(key);
	g->parts = malloc(ls + lc + lf + 3);
	if (!g->key || !g->parts) {
		group_free(g);
		return NULL;
	}
	memcpy(g->parts, sub, ls + 1);
	memcpy(g->parts + ls + 1, code, lc + 1);
	memcpy(g->parts + ls + lc + 2, fkey, lf + 1);
	g->sub = g->parts;
	g->code = g->parts + ls + 1;
	g->fkey = g->parts + ls + lc + 2;
	g->minute = minute;
	g->kind = kind_of(agg);
	return g;
}

/* The group of this key, created if new.  NULL when out of memory. */
static struct group *group_get(struct roll *r, const char *sub,
			       const char *code, const char *fkey,
			       int64_t minute, const char *agg)
{
	char key[3 * EV_ID_MAX + 2048];
	struct group *g;
	size_t i;

	snprintf(key, sizeof(key), "%s\x1f%s\x1f%s\x1f%lld", sub, code, fkey,
		 (long long)minute);
	for (i = hash(key) & (r->cap - 1); r->tab[i]; i = (i + 1) & (r->cap - 1))
		if (strcmp(r->tab[i]->key, key) == 0)
			return r->tab[i];
	g = group_new(key, sub, code, fkey, minute, agg);
	if (!g)
		return NULL;
	r->tab[i] = g;
	if (++r->ngroups * 10 > r->cap * 7 && grow(r) != TLY_OK)
		return NULL;	/* g is in the table, freed with it */
	return g;
}

static int add_distinct(struct group *g, const char *val)
{
	char *copy;

	if (g->ndistinct == g->capdistinct) {
		size_t cap = g->capdistinct ? g->capdistinct * 2 : 16;
		char **nd = realloc(g->distinct, cap * sizeof(*nd));

		if (!nd)
			return TLY_ENOMEM;
		g->distinct = nd;
		g->capdistinct = cap;
	}
	copy = strdup(val);
	if (!copy)
		return TLY_ENOMEM;
	g->distinct[g->ndistinct++] = copy;
	return TLY_OK;
}

static int merge_value(struct group *g, int64_t ts_ms, const char *val)
{
	dec_t v;
	int rc = TLY_OK;

	if (g->kind == G_UNIQUE)
		return add_distinct(g, val);
	if (g->kind == G_LATEST) {
		if (!g->latest || ts_ms >= g->latest_ts) {
			char *copy = strdup(val);

			if (!copy)
				return TLY_ENOMEM;
			free(g->latest);
			g->latest = copy;
			g->latest_ts = ts_ms;
		}
		return TLY_OK;
	}
	dec_init(&v);
	if (dec_parse_str(&v, val) != TLY_OK) {
		rc = TLY_EINVAL;
	} else if (g->kind == G_SUM) {
		dec_add(&g->acc, &g->acc, &v);
	} else if (!g->has_acc || dec_cmp(&v, &g->acc) > 0) {
		dec_set(&g->acc, &v);
	}
	g->has_acc = 1;
	dec_clear(&v);
	return rc;
}

int roll_add_agg(struct roll *r, const char *sub, const char *code,
		 const char *agg, const char *fkey, int64_t ts_ms,
		 const char *val)
{
	/* UTC minute: floor, also for times before 1970. */
	int64_t sec = ts_ms >= 0 ? ts_ms / 1000 : (ts_ms - 999) / 1000;
	int64_t minute = sec >= 0 ? sec - sec % 60 : sec - ((sec % 60) + 60) % 60;
	struct group *g = group_get(r, sub, code, fkey, minute, agg);
	int rc = TLY_OK;

	if (!g)
		return TLY_ENOMEM;
	if (g->kind != G_COUNT) {
		if (!val)
			return TLY_EINVAL;
		rc = merge_value(g, ts_ms, val);
	}
	if (rc == TLY_OK) {
		g->count++;
		r->events++;
	}
	return rc;
}

void roll_add_raw(struct roll *r)
{
	r->nraw++;
	r->events++;
}

size_t roll_raw(const struct roll *r)
{
	return r->nraw;
}

uint64_t roll_events(const struct roll *r)
{
	return r->events;
}

size_t roll_records(const struct roll *r)
{
	return r->ngroups + r->nraw;
}

/* ---- Encoding ------------------------------------------------------------ */

/*
 * A batch is written as it is read back (see roll.h): the header and one
 * agg record per group, each group's filters parsed, written and freed in
 * turn, then each raw event as the caller hands it over.  Nothing is kept
 * per raw event, so a batch costs its groups and its compressed bytes
 * (wire_enc), not a copy of its events, a parse tree and a JSON text.
 */

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort the distinct values and drop repeats, freeing them. */
static void distinct_set(struct group *g)
{
	size_t u = 1;

	if (g->ndistinct == 0)
		return;
	qsort(g->distinct, g->ndistinct, sizeof(char *), str_cmp);
	for (size_t i = 1; i < g->ndistinct; i++) {
		if (strcmp(g->distinct[i], g->distinct[u - 1]) == 0) {
			free(g->distinct[i]);
			continue;
		}
		g->distinct[u++] = g->distinct[i];
	}
	g->ndistinct = u;
}

/* Write group g as one agg record. */
static int put_group(struct wire_enc *enc, struct group *g)
{
	struct wire_rec rec = {.kind = WIRE_AGG};
	struct wire_agg *a = &rec.u.agg;
	char text[DEC_DOUBLE_BUFSZ];
	struct wire_kv *kv = NULL;
	cJSON *tree, *f;
	size_t n = 0;
	int rc = TLY_ENOMEM;

	/* fkey is our own canonical JSON: a failed parse is a failed malloc */
	tree = cJSON_Parse(g->fkey);
	if (!tree)
		goto out;
	kv = calloc((size_t)cJSON_GetArraySize(tree) + 1, sizeof(*kv));
	if (!kv)
		goto out;
	cJSON_ArrayForEach(f, tree) {
		kv[n].key = f->string;
		kv[n].val = f->valuestring;
		n++;
	}
	a->sub = g->sub;
	a->code = g->code;
	a->minute = g->minute;
	a->count = g->count;
	a->filters = kv;
	a->nfilters = n;
	if (g->kind == G_SUM || g->kind == G_MAX) {
		dec_normalize(&g->acc);
		if (dec_format(&g->acc, text, sizeof(text)) != TLY_OK) {
			rc = TLY_ERANGE;
			goto out;
		}
		if (g->kind == G_SUM)
			a->sum = text;
		else
			a->max = text;
	}
	if (g->kind == G_LATEST) {
		a->latest = g->latest;
		a->latest_ts = g->latest_ts / 1000;
	}
	if (g->kind == G_UNIQUE && g->ndistinct) {
		distinct_set(g);
		a->distinct = (const char *const *)g->distinct;
		a->ndistinct = g->ndistinct;
	}
	rc = wire_enc_rec(enc, &rec);
out:
	free(kv);
	cJSON_Delete(tree);
	return rc;
}

int roll_encode_begin(struct roll *r, const char *agent_id, int64_t seq,
		      int64_t created_at)
{
	struct wire_batch b = {0};
	int rc;

	if (r->enc)
		return TLY_EINVAL;
	b.v = WIRE_VERSION;
	b.agent_id = agent_id;
	b.seq = (uint64_t)seq;
	b.created_at = created_at;
	b.events_total = r->events;
	rc = wire_enc_begin(&b, 6, &r->enc);
	for (size_t i = 0; rc == TLY_OK && i < r->cap; i++)
		if (r->tab[i])
			rc = put_group(r->enc, r->tab[i]);
	if (rc != TLY_OK)
		wire_enc_free(&r->enc);
	return rc;
}

int roll_encode_raw(struct roll *r, const char *tx, const char *sub,
		    const char *customer, const char *code, int64_t ts_ms,
		    const char *props, const char *ptac)
{
	struct wire_rec rec = {.kind = WIRE_EVENT};
	struct event *ev = &rec.u.ev;
	cJSON *tree;
	int rc;

	if (!r->enc)
		return TLY_EINVAL;
	if (r->raw_written == r->nraw) {
		wire_enc_free(&r->enc);	/* more than roll_add_raw counted */
		return TLY_EINVAL;
	}
	/* props is the text intake stored: a failed parse is a failed malloc */
	tree = cJSON_Parse(props);
	if (!tree) {
		wire_enc_free(&r->enc);
		return TLY_ENOMEM;
	}
	ev->transaction_id = tx;
	ev->sub = sub;
	ev->customer = customer;
	ev->code = code;
	ev->ts_ms = ts_ms;
	ev->precise_total_amount_cents = ptac;
	ev->props = tree;
	rc = wire_enc_rec(r->enc, &rec);
	cJSON_Delete(tree);
	if (rc == TLY_OK)
		r->raw_written++;
	else
		wire_enc_free(&r->enc);
	return rc;
}

int roll_encode_end(struct roll *r, unsigned char **out, size_t *len)
{
	if (!r->enc)
		return TLY_EINVAL;
	if (r->raw_written != r->nraw) {
		/* events_total, written first, would not match the records */
		wire_enc_free(&r->enc);
		return TLY_EINVAL;
	}
	return wire_enc_finish(&r->enc, out, len);
}
