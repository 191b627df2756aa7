/*
 * test_wire.c - the batch wire format (shared/wire.c): random round trips,
 * the exact bytes of the document, every class of corrupt input, the
 * caps, and every field's type and range checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "err.h"
#include "wire.h"

#define INT_MAX53 UINT64_C(9007199254740991)	/* 2^53 - 1 */
#define TS_MS_MAX INT64_C(999999999999999)

/* ---- Helpers ---------------------------------------------------------- */

/* Deflate with the given window bits: 15 zlib, -15 raw, 31 gzip. */
static unsigned char *zwrap(const void *data, size_t len, int bits, int level,
			    size_t *outlen)
{
	z_stream s;
	unsigned char *out;
	size_t bound;

	memset(&s, 0, sizeof(s));
	assert_int_equal(deflateInit2(&s, level, Z_DEFLATED, bits, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	bound = deflateBound(&s, len) + 32;
	out = malloc(bound);
	assert_non_null(out);
	s.next_in = (Bytef *)(uintptr_t)data;
	s.avail_in = (uInt)len;
	s.next_out = out;
	s.avail_out = (uInt)bound;
	assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
	*outlen = s.total_out;
	deflateEnd(&s);
	return out;
}

static unsigned char *zjson_n(const char *json, size_t n, size_t *outlen)
{
	return zwrap(json, n, 15, 6, outlen);
}

/* Tests write JSON with ' for " to stay readable. */
static char *dq(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	for (char *p = d; *p; p++) {
		if (*p == '\'')
			*p = '"';
	}
	return d;
}

static void assert_empty(const struct wire_batch *b)
{
	assert_null(b->recs);
	assert_null(b->root);
	assert_null(b->agent_id);
	assert_int_equal(b->nrecs, 0);
	assert_int_equal(b->seq, 0);
	assert_int_equal(b->events_total, 0);
}

/* Compress json (with ' for ") and decode it with lim. */
static int decode_q(const char *json, const struct wire_limits *lim,
		    struct wire_batch *b, char *err, size_t errlen)
{
	char *j = dq(json);
	size_t zlen;
	unsigned char *z = zjson_n(j, strlen(j), &zlen);
	int rc;

	memset(b, 0xa5, sizeof(*b));	/* must come back zeroed on error */
	rc = wire_decode(z, zlen, lim, b, err, errlen);
	free(z);
	free(j);
	return rc;
}

static void expect_bad(const char *json, int want, const char *msg)
{
	struct wire_batch b;
	char err[256];
	int rc = decode_q(json, NULL, &b, err, sizeof(err));

	if (rc != want || !strstr(err, msg))
		print_error("json %s\n  rc %d (want %d), err \"%s\" "
			    "(want \"%s\")\n", json, rc, want, err, msg);
	assert_int_equal(rc, want);
	assert_non_null(strstr(err, msg));
	assert_empty(&b);
}

static void expect_ok(const char *json, struct wire_batch *b)
{
	char err[256];
	int rc = decode_q(json, NULL, b, err, sizeof(err));

	if (rc != TLY_OK)
		print_error("json %s\n  rc %d, err \"%s\"\n", json, rc, err);
	assert_int_equal(rc, TLY_OK);
	assert_string_equal(err, "");
}

/* A small fixed batch: one agg, one event. */
static unsigned char *good_batch(int level, size_t *len)
{
	static const struct wire_kv kv[] = { { "region", "eu" } };
	static const char *const dist[] = { "a", "b" };
	struct wire_rec recs[2];
	struct wire_batch b = { .v = 1, .agent_id = "edge-07", .seq = 42,
				.created_at = 1764000000,
				.events_total = 11, .recs = recs, .nrecs = 2 };
	cJSON *props = cJSON_CreateObject();
	unsigned char *out;

	memset(recs, 0, sizeof(recs));
	recs[0].kind = WIRE_AGG;
	recs[0].u.agg = (struct wire_agg){ .sub = "sub_1",
		.code = "api_calls", .minute = 1764000000, .filters = kv,
		.nfilters = 1, .count = 10, .sum = "123.5", .max = "12",
		.latest = "3", .latest_ts = 1764000059, .distinct = dist,
		.ndistinct = 2 };
	assert_non_null(cJSON_AddStringToObject(props, "gb", "3.2"));
	recs[1].kind = WIRE_EVENT;
	recs[1].u.ev = (struct event){ .transaction_id = "tx-9",
		.sub = "sub_1", .code = "storage", .ts_ms = 1764000012000,
		.props = props };
	assert_int_equal(wire_encode(&b, level, &out, len), TLY_OK);
	cJSON_Delete(props);
	return out;
}

/* ---- Random round trips --------------------------------------------- */

static uint64_t rnd(uint64_t *s)	/* splitmix64 */
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return rnd(s) % n;
}

#define POOL_MAX 8192
#define NREC_MAX 50

struct gen {
	uint64_t rng;
	char *strs[POOL_MAX];
	size_t nstrs;
	cJSON *props[NREC_MAX];
	struct wire_rec recs[NREC_MAX];
	struct wire_kv kv[NREC_MAX][5];
	const char *dist[NREC_MAX][6];
};

static char *keep(struct gen *g, char *s)
{
	assert_non_null(s);
	assert_true(g->nstrs < POOL_MAX);
	g->strs[g->nstrs++] = s;
	return s;
}

/* Up to `pieces` pieces: ASCII, JSON specials, controls, 2-4 byte UTF-8. */
static const char *rand_str(struct gen *g, size_t min, size_t pieces)
{
	static const char *const bits[] = {
		"a", "b", "z", "Q", "0", "9", "-", "_", " ", ".", "\"", "\\",
		"/", "\n", "\t", "\r", "\b", "\x01", "\x1f", "\x7f", "'", "{",
		"}", "[", ":", ",", "\xc3\xa9", "\xe2\x82\xac",
		"\xf0\x9f\x98\x80", "\\u0000", "%s",
	};
	size_t n = min + below(&g->rng, pieces - min + 1);
	char *s = malloc(8 * pieces + 1), *p = s;

	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		const char *b = bits[below(&g->rng, sizeof(bits) /
						    sizeof(bits[0]))];

		memcpy(p, b, strlen(b));
		p += strlen(b);
	}
	*p = '\0';
	return keep(g, s);
}

static const char *rand_id(struct gen *g)
{
	return rand_str(g, 1, 24);
}

static const char *rand_dec(struct gen *g)
{
	char *s = malloc(64), *p = s;
	size_t n;

	assert_non_null(s);
	if (below(&g->rng, 4) == 0)
		*p++ = '-';
	n = 1 + below(&g->rng, 15);
	for (size_t i = 0; i < n; i++)
		*p++ = (char)('0' + below(&g->rng, 10));
	if (below(&g->rng, 2)) {
		*p++ = '.';
		n = 1 + below(&g->rng, 10);
		for (size_t i = 0; i < n; i++)
			*p++ = (char)('0' + below(&g->rng, 10));
	}
	if (below(&g->rng, 8) == 0)
		p += sprintf(p, "e%d", (int)below(&g->rng, 11) - 5);
	*p = '\0';
	return keep(g, s);
}

static const char *rand_key(struct gen *g, size_t i)
{
	const char *r = rand_str(g, 0, 10);
	char *k = malloc(strlen(r) + 24);

	assert_non_null(k);
	sprintf(k, "k%zu%s", i, r);	/* unique within the object */
	return keep(g, k);
}

static void rand_agg(struct gen *g, size_t i, struct wire_agg *a)
{
	a->sub = rand_id(g);
	a->code = rand_id(g);
	a->minute = (int64_t)below(&g->rng, INT_MAX53 / 60 + 1) * 60;
	a->nfilters = below(&g->rng, 5);
	for (size_t k = 0; k < a->nfilters; k++) {
		g->kv[i][k].key = rand_key(g, k);
		g->kv[i][k].val = rand_str(g, 0, 16);
	}
	a->filters = a->nfilters ? g->kv[i] : NULL;
	a->count = below(&g->rng, 3) ? 1 + below(&g->rng, 1000) :
		   1 + below(&g->rng, UINT64_C(1) << 44);
	a->sum = below(&g->rng, 2) ? rand_dec(g) : NULL;
	a->max = below(&g->rng, 2) ? rand_dec(g) : NULL;
	a->latest = below(&g->rng, 2) ? rand_dec(g) : NULL;
	a->latest_ts = a->latest ? (int64_t)below(&g->rng, INT_MAX53 + 1) : 0;
	a->ndistinct = below(&g->rng, 7);
	if (a->ndistinct > a->count)
		a->ndistinct = (size_t)a->count;
	for (size_t k = 0; k < a->ndistinct; k++)
		g->dist[i][k] = rand_str(g, 0, 12);
	a->distinct = a->ndistinct ? g->dist[i] : NULL;
}

static int64_t rand_ts(struct gen *g)
{
	switch (below(&g->rng, 5)) {
	case 0:
		return (int64_t)below(&g->rng, (uint64_t)TS_MS_MAX + 1);
	case 1:
		return (int64_t)below(&g->rng, 1000000000000) * 1000;
	case 2:
		return TS_MS_MAX - (int64_t)below(&g->rng, 3000);
	case 3:
		return (int64_t)below(&g->rng, 3000);
	default:
		return 1764000000000 + (int64_t)below(&g->rng, 100000000);
	}
}

static void rand_event(struct gen *g, size_t i, struct event *ev)
{
	size_t np = below(&g->rng, 6);

	ev->transaction_id = rand_id(g);
	ev->sub = below(&g->rng, 3) ? rand_id(g) : NULL;
	ev->customer = !ev->sub || below(&g->rng, 3) == 0 ? rand_id(g) : NULL;
	ev->code = rand_id(g);
	ev->ts_ms = rand_ts(g);
	ev->precise_total_amount_cents = below(&g->rng, 3) == 0 ?
					 rand_dec(g) : NULL;
	g->props[i] = cJSON_CreateObject();
	assert_non_null(g->props[i]);
	for (size_t k = 0; k < np; k++)
		assert_non_null(cJSON_AddStringToObject(g->props[i],
			rand_key(g, k), rand_str(g, 0, 20)));
	ev->props = g->props[i];
}

static void rand_batch(struct gen *g, struct wire_batch *b)
{
	memset(b, 0, sizeof(*b));
	memset(g->recs, 0, sizeof(g->recs));
	b->v = WIRE_VERSION;
	b->agent_id = rand_str(g, 1, 20);	/* <= 120 bytes */
	b->seq = below(&g->rng, 4) ? 1 + below(&g->rng, INT_MAX53) :
		 INT_MAX53 - below(&g->rng, 3);
	b->created_at = (int64_t)below(&g->rng, UINT64_C(1) << 41);
	b->nrecs = (size_t)below(&g->rng, NREC_MAX + 1);
	b->recs = g->recs;
	for (size_t i = 0; i < b->nrecs; i++) {
		if (below(&g->rng, 2)) {
			g->recs[i].kind = WIRE_AGG;
			rand_agg(g, i, &g->recs[i].u.agg);
			b->events_total += g->recs[i].u.agg.count;
		} else {
			g->recs[i].kind = WIRE_EVENT;
			rand_event(g, i, &g->recs[i].u.ev);
			b->events_total++;
		}
	}
}

static void gen_free(struct gen *g)
{
	for (size_t i = 0; i < g->nstrs; i++)
		free(g->strs[i]);
	g->nstrs = 0;
	for (size_t i = 0; i < NREC_MAX; i++) {
		cJSON_Delete(g->props[i]);
		g->props[i] = NULL;
	}
}

static void same_str(const char *want, const char *got)
{
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(want, got);
}

static void same_props(const cJSON *want, const cJSON *got)
{
	const cJSON *w = want ? want->child : NULL;
	const cJSON *g;

	assert_true(cJSON_IsObject(got));
	for (g = got->child; g; g = g->next, w = w->next) {
		assert_non_null(w);
		assert_string_equal(w->string, g->string);
		assert_true(cJSON_IsString(g));
		assert_string_equal(w->valuestring, g->valuestring);
	}
	assert_null(w);
}

static void same_agg(const struct wire_agg *w, const struct wire_agg *g)
{
	same_str(w->sub, g->sub);
	same_str(w->code, g->code);
	assert_int_equal(w->minute, g->minute);
	assert_int_equal(w->nfilters, g->nfilters);
	for (size_t k = 0; k < w->nfilters; k++) {
		same_str(w->filters[k].key, g->filters[k].key);
		same_str(w->filters[k].val, g->filters[k].val);
	}
	if (w->nfilters == 0)
		assert_null(g->filters);
	assert_int_equal(w->count, g->count);
	same_str(w->sum, g->sum);
	same_str(w->max, g->max);
	same_str(w->latest, g->latest);
	assert_int_equal(w->latest_ts, g->latest_ts);
	assert_int_equal(w->ndistinct, g->ndistinct);
	for (size_t k = 0; k < w->ndistinct; k++)
		same_str(w->distinct[k], g->distinct[k]);
	if (w->ndistinct == 0)
		assert_null(g->distinct);
}

static void same_event(const struct event *w, const struct event *g)
{
	same_str(w->transaction_id, g->transaction_id);
	same_str(w->sub, g->sub);
	same_str(w->customer, g->customer);
	same_str(w->code, g->code);
	assert_int_equal(w->ts_ms, g->ts_ms);
	same_str(w->precise_total_amount_cents, g->precise_total_amount_cents);
	same_props(w->props, g->props);
}

static void same_batch(const struct wire_batch *w, const struct wire_batch *g)
{
	assert_int_equal(g->v, WIRE_VERSION);
	same_str(w->agent_id, g->agent_id);
	assert_int_equal(w->seq, g->seq);
	assert_int_equal(w->created_at, g->created_at);
	assert_int_equal(w->events_total, g->events_total);
	assert_int_equal(w->nrecs, g->nrecs);
	assert_non_null(g->root);
	for (size_t i = 0; i < w->nrecs; i++) {
		assert_int_equal(w->recs[i].kind, g->recs[i].kind);
		if (w->recs[i].kind == WIRE_AGG)
			same_agg(&w->recs[i].u.agg, &g->recs[i].u.agg);
		else
			same_event(&w->recs[i].u.ev, &g->recs[i].u.ev);
	}
}

static void test_roundtrip_random(void **state)
{
	static struct gen g;	/* large: keep it off the stack */
	size_t total_recs = 0;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.rng = 20251124;
	for (int n = 0; n < 200; n++) {
		struct wire_batch b, d;
		unsigned char *z;
		size_t zlen;
		char err[256];
		int level = (int)below(&g.rng, 11) - 1;

		rand_batch(&g, &b);
		assert_int_equal(wire_encode(&b, level, &z, &zlen), TLY_OK);
		assert_int_equal(wire_decode(z, zlen, NULL, &d, err,
					     sizeof(err)), TLY_OK);
		same_batch(&b, &d);
		total_recs += b.nrecs;
		wire_batch_free(&d);
		free(z);
		gen_free(&g);
	}
	assert_true(total_recs > 2000);	/* the generator did its job */
}

/* ---- The document itself -------------------------------------------- */

static char *inflate_all(const unsigned char *z, size_t zlen, size_t *n)
{
	char *json;
	char err[128];

	assert_int_equal(wire_inflate(z, zlen, NULL, &json, n, err,
				      sizeof(err)), TLY_OK);
	assert_int_equal(json[*n], '\0');
	assert_int_equal(strlen(json), *n);
	return json;
}

static void test_encode_layout(void **state)
{
	static const struct wire_kv kv[] = { { "region", "eu" } };
	static const char *const dist[] = { "a", "b" };
	struct wire_rec r[4];
	struct wire_batch b = { .v = 1, .agent_id = "edge-07", .seq = 42,
				.created_at = 1764000000,
				.events_total = 10003, .recs = r, .nrecs = 4 };
	cJSON *props = cJSON_CreateObject(), *none = cJSON_CreateObject();
	unsigned char *z;
	size_t zlen, n;
	char *json, *want;

	(void)state;
	memset(r, 0, sizeof(r));
	r[0].kind = WIRE_AGG;
	r[0].u.agg = (struct wire_agg){ .sub = "sub_1", .code = "api_calls",
		.minute = 1764000000, .filters = kv, .nfilters = 1,
		.count = 10000, .sum = "123.5", .max = "12", .latest = "3",
		.latest_ts = 1764000059, .distinct = dist, .ndistinct = 2 };
	r[1].kind = WIRE_AGG;
	r[1].u.agg = (struct wire_agg){ .sub = "s\"q\\", .code = "c",
		.minute = 60, .count = 1, .latest_ts = 99 };
	assert_non_null(cJSON_AddStringToObject(props, "gb", "3.2"));
	r[2].kind = WIRE_EVENT;
	r[2].u.ev = (struct event){ .transaction_id = "tx-9", .sub = "sub_1",
		.code = "storage", .ts_ms = 1764000012500, .props = props };
	r[3].kind = WIRE_EVENT;
	r[3].u.ev = (struct event){ .transaction_id = "tx-10",
		.customer = "cus_1", .code = "storage", .ts_ms = 1764000013000,
		.precise_total_amount_cents = "12.34", .props = none };
	assert_int_equal(wire_encode(&b, -1, &z, &zlen), TLY_OK);
	json = inflate_all(z, zlen, &n);
	want = dq("{'v':1,'agent_id':'edge-07','seq':42,"
		  "'created_at':1764000000,'events_total':10003,'records':["
		  "{'kind':'agg','sub':'sub_1','code':'api_calls',"
		  "'minute':1764000000,'filters':{'region':'eu'},"
		  "'count':10000,'sum':'123.5','max':'12','latest':'3',"
		  "'latest_ts':1764000059,'distinct':['a','b']},"
		  "{'kind':'agg','sub':'s\\'q\\\\','code':'c','minute':60,"
		  "'count':1},"
		  "{'kind':'event','transaction_id':'tx-9','sub':'sub_1',"
		  "'code':'storage','timestamp':1764000012.5,"
		  "'properties':{'gb':'3.2'}},"
		  "{'kind':'event','transaction_id':'tx-10',"
		  "'customer':'cus_1','code':'storage',"
		  "'timestamp':1764000013,'properties':{},"
		  "'precise_total_amount_cents':'12.34'}]}");
	assert_string_equal(json, want);
	free(want);
	free(json);
	free(z);
	cJSON_Delete(props);
	cJSON_Delete(none);
}

static void test_encode_timestamps(void **state)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
		{ 1764000012000, "1764000012" },
		{ 1764000012500, "1764000012.5" },
		{ 1764000012050, "1764000012.05" },
		{ 1764000012005, "1764000012.005" },
		{ 1764000012120, "1764000012.12" },
		{ 1764000012123, "1764000012.123" }, { 0, "0" },
		{ 999, "0.999" }, { 1, "0.001" },
		{ TS_MS_MAX, "999999999999.999" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wire_rec r = { .kind = WIRE_EVENT };
		struct wire_batch b = { .v = 1, .agent_id = "a", .seq = 1,
					.events_total = 1, .recs = &r,
					.nrecs = 1 }, d;
		char want[64], *json;
		unsigned char *z;
		size_t zlen, n;

		r.u.ev = (struct event){ .transaction_id = "t", .sub = "s",
					 .code = "c", .ts_ms = cases[i].ms };
		assert_int_equal(wire_encode(&b, 1, &z, &zlen), TLY_OK);
		json = inflate_all(z, zlen, &n);
		snprintf(want, sizeof(want), "\"timestamp\":%s,",
			 cases[i].text);
		assert_non_null(strstr(json, want));
		assert_int_equal(wire_decode(z, zlen, NULL, &d, NULL, 0),
				 TLY_OK);
		assert_int_equal(d.recs[0].u.ev.ts_ms, cases[i].ms);
		assert_non_null(d.recs[0].u.ev.props);	/* {} when none */
		wire_batch_free(&d);
		free(json);
		free(z);
	}
}

#define HDR "{'v':1,'agent_id':'edge','seq':7,'created_at':1764000000,"
#define AGG "'kind':'agg','sub':'s','code':'c','minute':60"
#define EVT "'kind':'event','transaction_id':'t','sub':'s','code':'c'"

static void test_decode_timestamps(void **state)
{
	static const struct {
		const char *text;
		int64_t ms;
	} cases[] = {
		{ "1764000012", 1764000012000 },
		{ "1764000012.5", 1764000012500 },
		{ "1764000012.05", 1764000012050 },
		{ "1764000012.123", 1764000012123 },
		{ "1764000012.1234", 1764000012123 },
		{ "1764000012.1235", 1764000012124 },	/* half up */
		{ "1764000012.9996", 1764000013000 },	/* carries */
		{ "0", 0 }, { "-0", 0 }, { "0.001", 1 }, { "1.5e3", 1500000 },
		{ "999999999999.999", TS_MS_MAX },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wire_batch b;
		char json[256];

		snprintf(json, sizeof(json), HDR "'events_total':1,"
			 "'records':[{" EVT ",'timestamp':%s}]}",
			 cases[i].text);
		expect_ok(json, &b);
		assert_int_equal(b.recs[0].u.ev.ts_ms, cases[i].ms);
		wire_batch_free(&b);
	}
}

static void test_decode_edges(void **state)
{
	struct wire_batch b;
	char json[512];

	(void)state;
	/* No records and nothing counted. */
	expect_ok(HDR "'events_total':0,'records':[]}", &b);
	assert_int_equal(b.nrecs, 0);
	assert_null(b.recs);
	assert_int_equal(b.seq, 7);
	assert_int_equal(b.created_at, 1764000000);
	wire_batch_free(&b);
	assert_empty(&b);

	/* Empty filters and distinct are none; unknown keys are ignored. */
	expect_ok(HDR "'events_total':3,'future':[1,{}],'records':[{" AGG
		  ",'count':3,'filters':{},'distinct':[],'extra':null}]}", &b);
	assert_int_equal(b.recs[0].kind, WIRE_AGG);
	assert_int_equal(b.recs[0].u.agg.nfilters, 0);
	assert_null(b.recs[0].u.agg.filters);
	assert_int_equal(b.recs[0].u.agg.ndistinct, 0);
	assert_null(b.recs[0].u.agg.distinct);
	assert_null(b.recs[0].u.agg.sum);
	assert_int_equal(b.recs[0].u.agg.latest_ts, 0);
	wire_batch_free(&b);

	/* A customer-only event without properties gets an empty object. */
	expect_ok(HDR "'events_total':1,'records':[{'kind':'event',"
		  "'transaction_id':'t','customer':'cus','code':'c',"
		  "'timestamp':5}]}", &b);
	assert_null(b.recs[0].u.ev.sub);
	assert_string_equal(b.recs[0].u.ev.customer, "cus");
	assert_true(cJSON_IsObject(b.recs[0].u.ev.props));
	assert_null(b.recs[0].u.ev.props->child);
	wire_batch_free(&b);

	/* The largest exact integers; \u escapes become UTF-8. */
	expect_ok("{'v':1,'agent_id':'\\u00e9\\ud83d\\ude00','seq':"
		  "9007199254740991,'created_at':9007199254740991,"
		  "'events_total':9007199254740991,'records':[{" AGG
		  ",'count':9007199254740991}]}", &b);
	assert_int_equal(b.seq, INT_MAX53);
	assert_int_equal(b.recs[0].u.agg.count, INT_MAX53);
	assert_string_equal(b.agent_id, "\xc3\xa9\xf0\x9f\x98\x80");
	wire_batch_free(&b);

	/* An agent id of exactly WIRE_AGENT_ID_MAX bytes. */
	snprintf(json, sizeof(json), "{'v':1,'agent_id':'%0*d','seq':1,"
		 "'created_at':0,'events_total':0,'records':[]}",
		 WIRE_AGENT_ID_MAX, 0);
	expect_ok(json, &b);
	assert_int_equal(strlen(b.agent_id), WIRE_AGENT_ID_MAX);
	wire_batch_free(&b);
	wire_batch_free(&b);	/* twice is fine */
	wire_batch_free(NULL);
}

static void test_every_level(void **state)
{
	(void)state;
	for (int level = -1; level <= 9; level++) {
		struct wire_batch d;
		unsigned char *z;
		size_t zlen;

		z = good_batch(level, &zlen);
		assert_int_equal(wire_decode(z, zlen, NULL, &d, NULL, 0),
				 TLY_OK);
		assert_int_equal(d.seq, 42);
		assert_int_equal(d.nrecs, 2);
		assert_string_equal(d.recs[0].u.agg.filters[0].val, "eu");
		assert_string_equal(d.recs[0].u.agg.distinct[1], "b");
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(
			d.recs[1].u.ev.props, "gb")->valuestring, "3.2");
		wire_batch_free(&d);
		free(z);
	}
}

/* ---- Corrupt input --------------------------------------------------- */

static int decode_raw(const void *buf, size_t len,
		      const struct wire_limits *lim, char *err, size_t errlen)
{
	struct wire_batch b;
	int rc;

	memset(&b, 0x5a, sizeof(b));
	rc = wire_decode(buf, len, lim, &b, err, errlen);
	if (rc != TLY_OK)
		assert_empty(&b);
	wire_batch_free(&b);
	return rc;
}

static void test_truncated(void **state)
{
	size_t len, cuts[8];
	unsigned char *z = good_batch(-1, &len);
	char err[128];

	(void)state;
	cuts[0] = 1;
	cuts[1] = 2;
	cuts[2] = 5;
	cuts[3] = len / 2;
	cuts[4] = len - 5;
	cuts[5] = len - 4;	/* the whole deflate data, no checksum */
	cuts[6] = len - 2;
	cuts[7] = len - 1;
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(decode_raw(z, cuts[i], NULL, err,
					    sizeof(err)), TLY_ECORRUPT);
		assert_non_null(strstr(err, "truncated"));
	}
	assert_int_equal(decode_raw(z, len, NULL, err, sizeof(err)), TLY_OK);
	free(z);
}

static void test_bad_checksum(void **state)
{
	size_t len;
	unsigned char *z;
	char err[128];

	(void)state;
	/* Stored blocks: a flipped byte of the document gets past deflate
	 * and only the Adler-32 check can catch it. */
	z = good_batch(0, &len);
	z[len / 2] ^= 0x20;
	assert_int_equal(decode_raw(z, len, NULL, err, sizeof(err)),
			 TLY_ECORRUPT);
	assert_non_null(strstr(err, "incorrect data check"));
	free(z);

	z = good_batch(9, &len);
	z[len - 1] ^= 0x01;
	assert_int_equal(decode_raw(z, len, NULL, err, sizeof(err)),
			 TLY_ECORRUPT);
	assert_non_null(strstr(err, "incorrect data check"));
	free(z);
}

/*
 * Any one damaged byte anywhere is refused as corrupt, except the unused
 * padding bits after the end-of-block code in the last byte of the deflate
 * data: those carry nothing, and the document that comes out is the same.
 */
static void test_every_flipped_byte(void **state)
{
	static const unsigned char masks[] = { 0x01, 0x10, 0x80, 0xff };
	size_t len, jlen, n;
	unsigned char *z = good_batch(-1, &len);
	char *json = inflate_all(z, len, &jlen), *again;
	int rc;

	(void)state;
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			z[i] ^= masks[m];
			rc = decode_raw(z, len, NULL, NULL, 0);
			if (rc != TLY_ECORRUPT) {
				assert_int_equal(rc, TLY_OK);
				assert_int_equal(i, len - 5);
				again = inflate_all(z, len, &n);
				assert_int_equal(n, jlen);
				assert_memory_equal(again, json, n);
				free(again);
			}
			z[i] ^= masks[m];
		}
	}
	free(json);
	free(z);
}

static void test_not_zlib(void **state)
{
	const char *json = "{\"v\":1,\"agent_id\":\"a\",\"seq\":1,"
			   "\"created_at\":0,\"events_total\":0,"
			   "\"records\":[]}";
	unsigned char *z;
	size_t zlen;
	char err[128];

	(void)state;
	/* The document itself is fine: */
	z = zwrap(json, strlen(json), 15, 6, &zlen);
	assert_int_equal(decode_raw(z, zlen, NULL, err, sizeof(err)), TLY_OK);
	free(z);
	/* raw deflate (RFC 1951) */
	z = zwrap(json, strlen(json), -15, 6, &zlen);
	assert_int_equal(decode_raw(z, zlen, NULL, err, sizeof(err)),
			 TLY_ECORRUPT);
	free(z);
	/* gzip (RFC 1952) */
	z = zwrap(json, strlen(json), 31, 6, &zlen);
	assert_int_equal(z[0], 0x1f);
	assert_int_equal(decode_raw(z, zlen, NULL, err, sizeof(err)),
			 TLY_ECORRUPT);
	assert_non_null(strstr(err, "incorrect header check"));
	free(z);
	/* plain JSON */
	assert_int_equal(decode_raw(json, strlen(json), NULL, err,
				    sizeof(err)), TLY_ECORRUPT);
	/* a preset dictionary: CMF 0x78, FLG with FDICT, then a dictid */
	{
		static const unsigned char dict[] = { 0x78, 0xbb, 0, 0, 0, 1,
						      0x03, 0x00 };

		assert_int_equal(decode_raw(dict, sizeof(dict), NULL, err,
					    sizeof(err)), TLY_ECORRUPT);
		assert_non_null(strstr(err, "dictionary"));
	}
}

static void test_trailing_bytes(void **state)
{
	size_t len;
	unsigned char *z = good_batch(-1, &len);
	unsigned char *two = malloc(2 * len);
	char err[128];

	(void)state;
	assert_non_null(two);
	memcpy(two, z, len);
	two[len] = 0;
	assert_int_equal(decode_raw(two, len + 1, NULL, err, sizeof(err)),
			 TLY_ECORRUPT);
	assert_non_null(strstr(err, "trailing bytes"));
	memcpy(two + len, z, len);	/* a second whole stream */
	assert_int_equal(decode_raw(two, 2 * len, NULL, err, sizeof(err)),
			 TLY_ECORRUPT);
	assert_non_null(strstr(err, "trailing bytes"));
	free(two);
	free(z);
}

static void test_empty_input(void **state)
{
	char err[64];
	char *out = (char *)1;
	size_t n = 9;

	(void)state;
	assert_int_equal(decode_raw("", 0, NULL, err, sizeof(err)),
			 TLY_ECORRUPT);
	assert_int_equal(decode_raw(NULL, 0, NULL, err, sizeof(err)),
			 TLY_ECORRUPT);
	assert_int_equal(wire_inflate("", 0, NULL, &out, &n, err,
				      sizeof(err)), TLY_ECORRUPT);
	assert_null(out);
	assert_int_equal(n, 0);
}

static void test_max_compressed(void **state)
{
	size_t len;
	unsigned char *z = good_batch(-1, &len);
	struct wire_limits lim = wire_default_limits;
	size_t big = wire_default_limits.max_compressed;
	unsigned char *zeros = calloc(big + 1, 1);
	char err[128];

	(void)state;
	lim.max_compressed = len;
	assert_int_equal(decode_raw(z, len, &lim, err, sizeof(err)), TLY_OK);
	lim.max_compressed = len - 1;
	assert_int_equal(decode_raw(z, len, &lim, err, sizeof(err)),
			 TLY_ETOOBIG);
	assert_non_null(strstr(err, "over the cap"));
	/* The default cap: at it, zlib looks (and finds no header); one
	 * byte over, nothing is looked at. */
	assert_non_null(zeros);
	assert_int_equal(decode_raw(zeros, big, NULL, err, sizeof(err)),
			 TLY_ECORRUPT);
	assert_int_equal(decode_raw(zeros, big + 1, NULL, err, sizeof(err)),
			 TLY_ETOOBIG);
	assert_non_null(strstr(err, "over the cap of 16777216"));
	free(zeros);
	free(z);
}

/*
 * n zero bytes in one zlib stream, made in 1 MiB steps so the test never
 * holds them.  With `finish` 0 the stream is left open after a full flush.
 */
static unsigned char *zeros_stream(size_t n, int finish, size_t *len)
{
	static unsigned char chunk[1 << 20];
	size_t cap = n / 500 + 4096, left = n;
	unsigned char *out = malloc(cap);
	z_stream s;

	assert_non_null(out);
	memset(&s, 0, sizeof(s));
	assert_int_equal(deflateInit(&s, 9), Z_OK);
	s.next_out = out;
	s.avail_out = (uInt)cap;
	while (left) {
		size_t k = left < sizeof(chunk) ? left : sizeof(chunk);

		left -= k;
		s.next_in = chunk;
		s.avail_in = (uInt)k;
		assert_int_equal(deflate(&s, left ? Z_NO_FLUSH :
					 finish ? Z_FINISH : Z_FULL_FLUSH),
				 left || !finish ? Z_OK : Z_STREAM_END);
		assert_int_equal(s.avail_in, 0);
	}
	*len = s.total_out;
	deflateEnd(&s);
	return out;
}

static void test_bomb_default_limits(void **state)
{
	size_t len;
	unsigned char *z = zeros_stream((size_t)64 << 20, 1, &len);
	char err[128], want[96];

	(void)state;
	assert_true(len < 100000);
	/* 200 * len is far below both 64 MiB and the 256 MiB cap: the ratio
	 * is what stops it, as soon as the output passes it. */
	assert_int_equal(decode_raw(z, len, NULL, err, sizeof(err)),
			 TLY_ETOOBIG);
	snprintf(want, sizeof(want),
		 "decompression bomb: inflates past %zu bytes", 200 * len);
	assert_string_equal(err, want);
	free(z);
}

static void test_bomb_stops_early(void **state)
{
	struct wire_limits lim = wire_default_limits;
	size_t len;
	unsigned char *z = zeros_stream((size_t)2 << 20, 0, &len), *bad;
	char err[128];

	(void)state;
	lim.max_ratio = UINT_MAX;
	lim.max_inflated = (size_t)1 << 20;
	assert_int_equal(decode_raw(z, len, &lim, err, sizeof(err)),
			 TLY_ETOOBIG);
	assert_string_equal(err,
			    "decompression bomb: inflates past 1048576 bytes");
	/* The same 2 MiB, then a block of the reserved type 3: a decoder
	 * that inflated it all before checking would call it corrupt. */
	bad = malloc(len + 4);
	assert_non_null(bad);
	memcpy(bad, z, len);
	memset(bad + len, 0xff, 4);
	assert_int_equal(decode_raw(bad, len + 4, &lim, err, sizeof(err)),
			 TLY_ETOOBIG);
	lim.max_inflated = (size_t)4 << 20;
	assert_int_equal(decode_raw(bad, len + 4, &lim, err, sizeof(err)),
			 TLY_ECORRUPT);
	assert_non_null(strstr(err, "invalid block type"));
	free(bad);
	free(z);
}

static void test_inflated_cap_exact(void **state)
{
	struct wire_limits lim = wire_default_limits;
	size_t len, jlen, zlen, got;
	unsigned char *g = good_batch(-1, &len), *z;
	char *json = inflate_all(g, len, &jlen), *out, err[128], want[96];
	const size_t L = 5000;
	unsigned ratio;

	(void)state;
	/* The document padded with white space to exactly L bytes. */
	json = realloc(json, L + 1);
	assert_non_null(json);
	memset(json + jlen, ' ', L - jlen);
	json[L] = '\0';
	z = zwrap(json, L, 15, 9, &zlen);

	lim.max_ratio = UINT_MAX;
	lim.max_inflated = L;
	assert_int_equal(wire_inflate(z, zlen, &lim, &out, &got, err,
				      sizeof(err)), TLY_OK);
	assert_int_equal(got, L);
	assert_memory_equal(out, json, L + 1);
	free(out);
	assert_int_equal(decode_raw(z, zlen, &lim, err, sizeof(err)), TLY_OK);
	lim.max_inflated = L - 1;
	assert_int_equal(wire_inflate(z, zlen, &lim, &out, &got, err,
				      sizeof(err)), TLY_ETOOBIG);
	assert_null(out);
	assert_int_equal(got, 0);
	snprintf(want, sizeof(want),
		 "decompression bomb: inflates past %zu bytes", L - 1);
	assert_string_equal(err, want);

	/* The ratio cap, at its edge. */
	ratio = (unsigned)((L + zlen - 1) / zlen);
	assert_true(ratio > 2);
	lim.max_inflated = (size_t)1 << 30;
	lim.max_ratio = ratio;
	assert_int_equal(decode_raw(z, zlen, &lim, err, sizeof(err)), TLY_OK);
	lim.max_ratio = ratio - 1;
	assert_int_equal(decode_raw(z, zlen, &lim, err, sizeof(err)),
			 TLY_ETOOBIG);
	free(z);
	free(json);
	free(g);
}

static void test_max_records(void **state)
{
	struct wire_limits lim = wire_default_limits;
	struct wire_batch b;
	const char *json = HDR "'events_total':3,'records':[{" EVT
			   ",'timestamp':1},{" EVT ",'timestamp':2},{" EVT
			   ",'timestamp':3}]}";
	char err[128];

	(void)state;
	lim.max_records = 3;
	assert_int_equal(decode_q(json, &lim, &b, err, sizeof(err)), TLY_OK);
	assert_int_equal(b.nrecs, 3);
	wire_batch_free(&b);
	lim.max_records = 2;
	assert_int_equal(decode_q(json, &lim, &b, err, sizeof(err)),
			 TLY_ETOOBIG);
	assert_non_null(strstr(err, "records: 3 records, over the cap of 2"));
	assert_empty(&b);
}

static void test_not_json(void **state)
{
	static const char nul[] = "{\"v\":1}\0x";
	size_t zlen;
	unsigned char *z = zjson_n(nul, sizeof(nul) - 1, &zlen);
	char err[128];

	(void)state;
	assert_int_equal(decode_raw(z, zlen, NULL, err, sizeof(err)),
			 TLY_ECORRUPT);
	assert_non_null(strstr(err, "NUL byte at offset 7"));
	free(z);
	expect_bad("{'v':1,", TLY_ECORRUPT, "not JSON");
	expect_bad("{} x", TLY_ECORRUPT, "not JSON");
	expect_bad("{}{}", TLY_ECORRUPT, "not JSON");
	expect_bad("", TLY_ECORRUPT, "not JSON");
	expect_bad("[]", TLY_EINVAL, "not a JSON object");
	expect_bad("'x'", TLY_EINVAL, "not a JSON object");
}

/* ---- Versions and fields -------------------------------------------- */

static void test_version(void **state)
{
	struct wire_rec r = { .kind = WIRE_AGG };
	struct wire_batch b = { .v = 2, .agent_id = "a", .seq = 1,
				.events_total = 1, .recs = &r, .nrecs = 1 };
	unsigned char *z;
	size_t zlen;
	char err[128];

	(void)state;
	r.u.agg = (struct wire_agg){ .sub = "s", .code = "c", .count = 1 };
	assert_int_equal(wire_encode(&b, -1, &z, &zlen), TLY_OK);
	assert_int_equal(decode_raw(z, zlen, NULL, err, sizeof(err)),
			 TLY_EVERSION);
	assert_string_equal(err, "unsupported wire version 2");
	free(z);
	expect_bad("{'v':0}", TLY_EVERSION, "unsupported wire version 0");
	expect_bad("{'v':-3}", TLY_EVERSION, "unsupported wire version -3");
	expect_bad("{'agent_id':'a'}", TLY_EINVAL, "v: missing");
	expect_bad("{'V':1}", TLY_EINVAL, "v: missing");
	expect_bad("{'v':'1'}", TLY_EINVAL, "v: not an integer");
	expect_bad("{'v':1.5}", TLY_EINVAL, "v: not an integer");
	expect_bad("{'v':1e300}", TLY_EINVAL, "v: not an integer");
	expect_bad("{'v':null}", TLY_EINVAL, "v: not an integer");
}

struct bad_case {
	const char *json;
	int rc;
	const char *msg;
};

static const struct bad_case header_cases[] = {
	{ "{'v':1,'seq':1}", TLY_EINVAL, "agent_id: missing" },
	{ "{'v':1,'Agent_id':'a'}", TLY_EINVAL, "agent_id: missing" },
	{ "{'v':1,'agent_id':5}", TLY_EINVAL, "agent_id: not a string" },
	{ "{'v':1,'agent_id':''}", TLY_EINVAL, "agent_id: empty" },
	{ "{'v':1,'agent_id':'\\u0000'}", TLY_EINVAL, "agent_id: empty" },
	{ "{'v':1,'agent_id':'a'}", TLY_EINVAL, "seq: missing" },
	{ "{'v':1,'agent_id':'a','seq':'7'}", TLY_EINVAL,
	  "seq: not an integer" },
	{ "{'v':1,'agent_id':'a','seq':true}", TLY_EINVAL,
	  "seq: not an integer" },
	{ "{'v':1,'agent_id':'a','seq':0}", TLY_EINVAL, "seq: must be >= 1" },
	{ "{'v':1,'agent_id':'a','seq':-1}", TLY_EINVAL, "seq: out of range" },
	{ "{'v':1,'agent_id':'a','seq':1.5}", TLY_EINVAL,
	  "seq: not an integer" },
	{ "{'v':1,'agent_id':'a','seq':9007199254740992}", TLY_EINVAL,
	  "seq: out of range" },
	{ "{'v':1,'agent_id':'a','seq':9007199254740993}", TLY_EINVAL,
	  "seq: out of range" },
	{ "{'v':1,'agent_id':'a','seq':1e300}", TLY_EINVAL,
	  "seq: out of range" },
	{ "{'v':1,'agent_id':'a','seq':1}", TLY_EINVAL,
	  "created_at: missing" },
	{ "{'v':1,'agent_id':'a','seq':1,'created_at':-1}", TLY_EINVAL,
	  "created_at: out of range" },
	{ "{'v':1,'agent_id':'a','seq':1,'created_at':'0'}", TLY_EINVAL,
	  "created_at: not an integer" },
	{ "{'v':1,'agent_id':'a','seq':1,'created_at':0.5}", TLY_EINVAL,
	  "created_at: not an integer" },
	{ "{'v':1,'agent_id':'a','seq':1,'created_at':0}", TLY_EINVAL,
	  "events_total: missing" },
	{ HDR "'events_total':'0'}", TLY_EINVAL,
	  "events_total: not an integer" },
	{ HDR "'events_total':-1}", TLY_EINVAL, "events_total: out of range" },
	{ HDR "'events_total':0}", TLY_EINVAL, "records: missing" },
	{ HDR "'events_total':0,'records':{}}", TLY_EINVAL,
	  "records: not an array" },
	{ HDR "'events_total':0,'records':null}", TLY_EINVAL,
	  "records: not an array" },
	{ HDR "'events_total':1,'records':[1]}", TLY_EINVAL,
	  "records[0]: not an object" },
	{ HDR "'events_total':1,'records':[{'sub':'s'}]}", TLY_EINVAL,
	  "records[0].kind: missing" },
	{ HDR "'events_total':1,'records':[{'kind':3}]}", TLY_EINVAL,
	  "records[0].kind: not a string" },
	{ HDR "'events_total':1,'records':[{'kind':'Agg'}]}", TLY_EINVAL,
	  "records[0].kind: must be" },
	/* The totals. */
	{ HDR "'events_total':10,'records':[{" AGG ",'count':4},{" AGG
	  ",'count':4},{" EVT ",'timestamp':1}]}", TLY_EINVAL,
	  "events_total 10 does not match records (9)" },
	{ HDR "'events_total':1,'records':[]}", TLY_EINVAL,
	  "events_total 1 does not match records (0)" },
	{ HDR "'events_total':0,'records':[{" EVT ",'timestamp':1}]}",
	  TLY_EINVAL, "events_total 0 does not match records (1)" },
};

static const struct bad_case agg_cases[] = {
	{ "'kind':'agg','code':'c','minute':60,'count':1", TLY_EINVAL,
	  "records[0].sub: missing" },
	{ "'kind':'agg','sub':'','code':'c','minute':60,'count':1",
	  TLY_EINVAL, "records[0].sub: empty" },
	{ "'kind':'agg','sub':7,'code':'c','minute':60,'count':1",
	  TLY_EINVAL, "records[0].sub: not a string" },
	{ "'kind':'agg','sub':'s','minute':60,'count':1", TLY_EINVAL,
	  "records[0].code: missing" },
	{ "'kind':'agg','sub':'s','code':['c'],'minute':60,'count':1",
	  TLY_EINVAL, "records[0].code: not a string" },
	{ "'kind':'agg','sub':'s','code':'c','count':1", TLY_EINVAL,
	  "records[0].minute: missing" },
	{ AGG "1,'count':1", TLY_EINVAL,
	  "records[0].minute: not a multiple of 60" },
	{ "'kind':'agg','sub':'s','code':'c','minute':'60','count':1",
	  TLY_EINVAL, "records[0].minute: not an integer" },
	{ "'kind':'agg','sub':'s','code':'c','minute':-60,'count':1",
	  TLY_EINVAL, "records[0].minute: out of range" },
	{ AGG ".5,'count':1", TLY_EINVAL, "records[0].minute: not an integer" },
	{ AGG, TLY_EINVAL, "records[0].count: missing" },
	{ AGG ",'count':0", TLY_EINVAL, "records[0].count: must be >= 1" },
	{ AGG ",'count':-1", TLY_EINVAL, "records[0].count: out of range" },
	{ AGG ",'count':'1'", TLY_EINVAL, "records[0].count: not an integer" },
	{ AGG ",'count':1.5", TLY_EINVAL, "records[0].count: not an integer" },
	{ AGG ",'count':1,'sum':1.5", TLY_EINVAL,
	  "records[0].sum: not a decimal string" },
	{ AGG ",'count':1,'sum':'abc'", TLY_EINVAL,
	  "records[0].sum: not a decimal string" },
	{ AGG ",'count':1,'sum':''", TLY_EINVAL,
	  "records[0].sum: not a decimal string" },
	{ AGG ",'count':1,'sum':null", TLY_EINVAL,
	  "records[0].sum: not a decimal string" },
	{ AGG ",'count':1,'max':'1..2'", TLY_EINVAL,
	  "records[0].max: not a decimal string" },
	{ AGG ",'count':1,'max':12", TLY_EINVAL,
	  "records[0].max: not a decimal string" },
	{ AGG ",'count':1,'latest':'x','latest_ts':1", TLY_EINVAL,
	  "records[0].latest: not a decimal string" },
	{ AGG ",'count':1,'latest':3,'latest_ts':1", TLY_EINVAL,
	  "records[0].latest: not a decimal string" },
	{ AGG ",'count':1,'latest':'3'", TLY_EINVAL,
	  "records[0].latest_ts: missing" },
	{ AGG ",'count':1,'latest':'3','latest_ts':'5'", TLY_EINVAL,
	  "records[0].latest_ts: not an integer" },
	{ AGG ",'count':1,'latest':'3','latest_ts':-5", TLY_EINVAL,
	  "records[0].latest_ts: out of range" },
	{ AGG ",'count':1,'filters':[]", TLY_EINVAL,
	  "records[0].filters: not an object" },
	{ AGG ",'count':1,'filters':'region=eu'", TLY_EINVAL,
	  "records[0].filters: not an object" },
	{ AGG ",'count':1,'filters':{'region':1}", TLY_EINVAL,
	  "records[0].filters.region: not a string" },
	{ AGG ",'count':1,'filters':{'a\\nb':null}", TLY_EINVAL,
	  "records[0].filters.a?b: not a string" },
	{ AGG ",'count':1,'filters':{'r':'x','r':'y'}", TLY_EINVAL,
	  "records[0].filters.r: duplicate key" },
	{ AGG ",'count':1,'distinct':{}", TLY_EINVAL,
	  "records[0].distinct: not an array" },
	{ AGG ",'count':1,'distinct':'a'", TLY_EINVAL,
	  "records[0].distinct: not an array" },
	{ AGG ",'count':2,'distinct':['a',1]", TLY_EINVAL,
	  "records[0].distinct[1]: not a string" },
	{ AGG ",'count':1,'distinct':['a','b']", TLY_EINVAL,
	  "records[0].distinct: 2 values for a count of 1" },
};

static const struct bad_case event_cases[] = {
	{ "'kind':'event','sub':'s','code':'c','timestamp':1", TLY_EINVAL,
	  "records[0].transaction_id: missing" },
	{ "'kind':'event','transaction_id':'','sub':'s','code':'c',"
	  "'timestamp':1", TLY_EINVAL, "records[0].transaction_id: empty" },
	{ "'kind':'event','transaction_id':1,'sub':'s','code':'c',"
	  "'timestamp':1", TLY_EINVAL,
	  "records[0].transaction_id: not a string" },
	{ "'kind':'event','transaction_id':'t','code':'c','timestamp':1",
	  TLY_EINVAL, "records[0].sub: missing" },
	{ "'kind':'event','transaction_id':'t','sub':null,'code':'c',"
	  "'timestamp':1", TLY_EINVAL, "records[0].sub: not a string" },
	{ "'kind':'event','transaction_id':'t','customer':5,'code':'c',"
	  "'timestamp':1", TLY_EINVAL, "records[0].customer: not a string" },
	{ "'kind':'event','transaction_id':'t','customer':'','code':'c',"
	  "'timestamp':1", TLY_EINVAL, "records[0].customer: empty" },
	{ "'kind':'event','transaction_id':'t','sub':'s','timestamp':1",
	  TLY_EINVAL, "records[0].code: missing" },
	{ EVT, TLY_EINVAL, "records[0].timestamp: missing" },
	{ EVT ",'timestamp':'1764000000'", TLY_EINVAL,
	  "records[0].timestamp: not a number" },
	{ EVT ",'timestamp':-1", TLY_EINVAL, "records[0].timestamp: negative" },
	{ EVT ",'timestamp':-0.0001", TLY_EINVAL,
	  "records[0].timestamp: negative" },
	{ EVT ",'timestamp':1e300", TLY_EINVAL,
	  "records[0].timestamp: out of range" },
	{ EVT ",'timestamp':1000000000000", TLY_EINVAL,
	  "records[0].timestamp: out of range" },
	{ EVT ",'timestamp':999999999999.9996", TLY_EINVAL,
	  "records[0].timestamp: out of range" },
	{ EVT ",'timestamp':1,'properties':[]", TLY_EINVAL,
	  "records[0].properties: not an object" },
	{ EVT ",'timestamp':1,'properties':null", TLY_EINVAL,
	  "records[0].properties: not an object" },
	{ EVT ",'timestamp':1,'properties':{'gb':3.2}", TLY_EINVAL,
	  "records[0].properties.gb: not a string" },
	{ EVT ",'timestamp':1,'properties':{'a':{}}", TLY_EINVAL,
	  "records[0].properties.a: not a string" },
	{ EVT ",'timestamp':1,'properties':{'a':'1','b':'2','a':'3'}",
	  TLY_EINVAL, "records[0].properties.a: duplicate key" },
	{ EVT ",'timestamp':1,'precise_total_amount_cents':1.5", TLY_EINVAL,
	  "records[0].precise_total_amount_cents: not a decimal string" },
	{ EVT ",'timestamp':1,'precise_total_amount_cents':'x'", TLY_EINVAL,
	  "records[0].precise_total_amount_cents: not a decimal string" },
};

static void run_cases(const struct bad_case *c, size_t n, const char *pre,
		      const char *post)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(pre) + strlen(c[i].json) + strlen(post) + 1;
		char *json = malloc(len);

		assert_non_null(json);
		snprintf(json, len, "%s%s%s", pre, c[i].json, post);
		expect_bad(json, c[i].rc, c[i].msg);
		free(json);
	}
}

static void test_header_fields(void **state)
{
	(void)state;
	run_cases(header_cases, sizeof(header_cases) / sizeof(header_cases[0]),
		  "", "");
}

static void test_agg_fields(void **state)
{
	(void)state;
	run_cases(agg_cases, sizeof(agg_cases) / sizeof(agg_cases[0]),
		  HDR "'events_total':1,'records':[{", "}]}");
}

static void test_event_fields(void **state)
{
	(void)state;
	run_cases(event_cases, sizeof(event_cases) / sizeof(event_cases[0]),
		  HDR "'events_total':1,'records':[{", "}]}");
}

/* Limits of length and number, built at their edges. */
static void test_field_lengths(void **state)
{
	char *json = malloc(8192), big[1100], keys[2048];
	struct wire_batch b;
	size_t k = 0;

	(void)state;
	assert_non_null(json);
	memset(big, 'x', sizeof(big));
	big[WIRE_AGENT_ID_MAX + 1] = '\0';
	snprintf(json, 8192, "{'v':1,'agent_id':'%s'}", big);
	expect_bad(json, TLY_EINVAL, "agent_id: longer than 128 bytes");

	memset(big, 'x', sizeof(big));
	big[EV_ID_MAX + 1] = '\0';
	snprintf(json, 8192, HDR "'events_total':1,'records':[{'kind':"
		 "'agg','sub':'%s','code':'c','minute':0,'count':1}]}", big);
	expect_bad(json, TLY_EINVAL, "records[0].sub: longer than 256 bytes");
	snprintf(json, 8192, HDR "'events_total':1,'records':[{" EVT
		 ",'timestamp':1,'properties':{'%s':'v'}}]}", big);
	expect_bad(json, TLY_EINVAL, "records[0].properties.xxxxxxxxxx");
	expect_bad(json, TLY_EINVAL, "xxx...: key longer than 128 bytes");
	big[EV_ID_MAX] = '\0';		/* exactly EV_ID_MAX: fine */
	snprintf(json, 8192, HDR "'events_total':1,'records':[{'kind':"
		 "'event','transaction_id':'%s','sub':'%s','code':'%s',"
		 "'timestamp':1}]}", big, big, big);
	expect_ok(json, &b);
	wire_batch_free(&b);

	memset(big, 'x', sizeof(big));
	big[EV_PROP_VAL_MAX + 1] = '\0';
	snprintf(json, 8192, HDR "'events_total':1,'records':[{" AGG
		 ",'count':1,'filters':{'r':'%s'}}]}", big);
	expect_bad(json, TLY_EINVAL,
		   "records[0].filters.r: longer than 1024 bytes");
	snprintf(json, 8192, HDR "'events_total':1,'records':[{" AGG
		 ",'count':1,'distinct':['%s']}]}", big);
	expect_bad(json, TLY_EINVAL,
		   "records[0].distinct[0]: longer than 1024 bytes");

	/* EV_PROPS_MAX filters pass, one more does not. */
	for (int i = 0; i < EV_PROPS_MAX; i++)
		k += (size_t)sprintf(keys + k, "%s'k%d':'v'", i ? "," : "", i);
	snprintf(json, 8192, HDR "'events_total':1,'records':[{" AGG
		 ",'count':1,'filters':{%s}}]}", keys);
	expect_ok(json, &b);
	assert_int_equal(b.recs[0].u.agg.nfilters, EV_PROPS_MAX);
	assert_string_equal(b.recs[0].u.agg.filters[63].key, "k63");
	wire_batch_free(&b);
	snprintf(json, 8192, HDR "'events_total':1,'records':[{" AGG
		 ",'count':1,'filters':{%s,'k64':'v'}}]}", keys);
	expect_bad(json, TLY_EINVAL, "records[0].filters: more than 64");
	free(json);
}

/* The message names the record that is wrong, not the first one. */
static void test_error_names_record(void **state)
{
	(void)state;
	expect_bad(HDR "'events_total':4,'records':[{" AGG ",'count':1},{"
		   EVT ",'timestamp':1},{" AGG ",'count':1,'sum':'1.5'},{"
		   AGG ",'count':1,'sum':1.5}]}", TLY_EINVAL,
		   "records[3].sum: not a decimal string");
	expect_bad(HDR "'events_total':12,'records':[" "{" AGG ",'count':1},"
		   "{" AGG ",'count':1},{" AGG ",'count':1},{" AGG
		   ",'count':1},{" AGG ",'count':1},{" AGG ",'count':1},{"
		   AGG ",'count':1},{" AGG ",'count':1},{" AGG ",'count':1},"
		   "{" AGG ",'count':1},{" AGG ",'count':1},{" EVT
		   ",'timestamp':'x'}]}", TLY_EINVAL,
		   "records[11].timestamp: not a number");
}

/* ---- The encoder's refusals, and the error buffer --------------------- */

static int encode_one(const struct wire_rec *r, struct wire_batch *b)
{
	unsigned char *z = (unsigned char *)1;
	size_t zlen = 7;
	int rc;

	b->recs = (struct wire_rec *)r;
	rc = wire_encode(b, -1, &z, &zlen);
	if (rc != TLY_OK) {
		assert_null(z);
		assert_int_equal(zlen, 0);
	}
	free(z);
	return rc;
}

static void test_encode_refuses(void **state)
{
	static const struct wire_kv nokey[] = { { NULL, "v" } };
	static const struct wire_kv noval[] = { { "k", NULL } };
	static const char *const nulls[] = { NULL };
	struct wire_batch b = { .v = 1, .agent_id = "a", .seq = 1,
				.events_total = 1, .nrecs = 1 };
	struct wire_rec agg = { .kind = WIRE_AGG }, r, ev = { .kind =
							     WIRE_EVENT };
	cJSON *props = cJSON_CreateObject();
	unsigned char *z;
	size_t zlen;

	(void)state;
	agg.u.agg = (struct wire_agg){ .sub = "s", .code = "c", .count = 1 };
	ev.u.ev = (struct event){ .transaction_id = "t", .sub = "s",
				  .code = "c" };
	assert_int_equal(encode_one(&agg, &b), TLY_OK);
	assert_int_equal(encode_one(&ev, &b), TLY_OK);
	assert_int_equal(wire_encode(NULL, -1, &z, &zlen), TLY_EINVAL);
	b.recs = &agg;
	assert_int_equal(wire_encode(&b, -2, &z, &zlen), TLY_EINVAL);
	assert_int_equal(wire_encode(&b, 10, &z, &zlen), TLY_EINVAL);
	b.recs = NULL;		/* nrecs 1 */
	assert_int_equal(wire_encode(&b, -1, &z, &zlen), TLY_EINVAL);

#define REFUSE(rec, field, value) do {					\
		r = (rec);						\
		r.field = (value);					\
		assert_int_equal(encode_one(&r, &b), TLY_EINVAL);	\
	} while (0)
	REFUSE(agg, kind, 0);
	REFUSE(agg, kind, 3);
	REFUSE(agg, u.agg.sub, NULL);
	REFUSE(agg, u.agg.code, NULL);
	REFUSE(agg, u.agg.minute, -60);
	REFUSE(agg, u.agg.count, INT_MAX53 + 1);
	REFUSE(agg, u.agg.nfilters, 1);		/* filters NULL */
	REFUSE(agg, u.agg.ndistinct, 1);	/* distinct NULL */
	r = agg;
	r.u.agg.filters = nokey;
	REFUSE(r, u.agg.nfilters, 1);
	r = agg;
	r.u.agg.filters = noval;
	REFUSE(r, u.agg.nfilters, 1);
	r = agg;
	r.u.agg.distinct = nulls;
	REFUSE(r, u.agg.ndistinct, 1);
	r = agg;
	r.u.agg.latest = "3";
	REFUSE(r, u.agg.latest_ts, -1);
	REFUSE(ev, u.ev.transaction_id, NULL);
	REFUSE(ev, u.ev.code, NULL);
	REFUSE(ev, u.ev.ts_ms, -1);
	REFUSE(ev, u.ev.ts_ms, TS_MS_MAX + 1);
	r = ev;
	r.u.ev.customer = "cus";
	r.u.ev.sub = NULL;
	assert_int_equal(encode_one(&r, &b), TLY_OK);	/* customer only */
	r.u.ev.customer = NULL;
	assert_int_equal(encode_one(&r, &b), TLY_EINVAL);
	assert_non_null(cJSON_AddNumberToObject(props, "gb", 3.2));
	REFUSE(ev, u.ev.props, props);	/* a number, not a string */
	REFUSE(ev, u.ev.props, cJSON_GetObjectItem(props, "gb"));
#undef REFUSE

	b.seq = INT_MAX53;
	assert_int_equal(encode_one(&agg, &b), TLY_OK);
	b.seq = INT_MAX53 + 1;
	assert_int_equal(encode_one(&agg, &b), TLY_EINVAL);
	b.seq = 1;
	b.created_at = -1;
	assert_int_equal(encode_one(&agg, &b), TLY_EINVAL);
	b.created_at = 0;
	b.events_total = INT_MAX53 + 1;
	assert_int_equal(encode_one(&agg, &b), TLY_EINVAL);
	b.events_total = 1;
	b.agent_id = NULL;
	assert_int_equal(encode_one(&agg, &b), TLY_EINVAL);
	cJSON_Delete(props);
}

/*
 * The streamed encoder over many staging buffers: 3,000 records whose
 * strings need every kind of escape.  The text must be exactly what cJSON
 * prints for it (the escaping is cJSON's own), and decode back.
 */
static void test_encode_streamed_large(void **state)
{
	static const char nasty[] = "q\"b\\s/\b\f\n\r\t\x01\x1f" "\xc3\xa9" "\xe2\x82\xac";
	struct wire_batch b = { .v = 1, .agent_id = "edge-\"07\"", .seq = 7,
				.created_at = 1764000000,
				.events_total = 3000 };
	struct wire_enc *e;
	struct wire_batch out;
	cJSON *props = cJSON_CreateObject(), *tree;
	unsigned char *z;
	size_t zlen, n;
	char *json, *again, tx[64], err[128];

	(void)state;
	assert_non_null(cJSON_AddStringToObject(props, nasty, nasty));
	assert_int_equal(wire_enc_begin(&b, 6, &e), TLY_OK);
	for (int i = 0; i < 3000; i++) {
		struct wire_rec r = { .kind = WIRE_EVENT };

		snprintf(tx, sizeof(tx), "tx-%d-%s", i, nasty);
		r.u.ev = (struct event){ .transaction_id = tx, .sub = nasty,
			.code = "c", .ts_ms = 1764000000000 + i * 1000,
			.props = props };
		assert_int_equal(wire_enc_rec(e, &r), TLY_OK);
	}
	assert_int_equal(wire_enc_finish(&e, &z, &zlen), TLY_OK);
	assert_null(e);
	json = inflate_all(z, zlen, &n);
	assert_true(n > 4 * 16384);
	tree = cJSON_Parse(json);
	assert_non_null(tree);
	again = cJSON_PrintUnformatted(tree);
	assert_string_equal(json, again);
	assert_int_equal(wire_decode(z, zlen, NULL, &out, err, sizeof(err)),
			 TLY_OK);
	assert_int_equal(out.nrecs, 3000);
	assert_string_equal(out.agent_id, "edge-\"07\"");
	assert_string_equal(out.recs[2999].u.ev.sub, nasty);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
		out.recs[0].u.ev.props, nasty)->valuestring, nasty);
	wire_batch_free(&out);
	cJSON_free(again);
	cJSON_Delete(tree);
	cJSON_Delete(props);
	free(json);
	free(z);
}

/* After a refused record the encoder keeps the error and makes nothing. */
static void test_encode_streamed_error_sticks(void **state)
{
	struct wire_batch b = { .v = 1, .agent_id = "a", .seq = 1,
				.events_total = 2 };
	struct wire_rec good = { .kind = WIRE_AGG }, bad = { .kind = 3 };
	struct wire_enc *e;
	unsigned char *z = (unsigned char *)1;
	size_t zlen = 9;

	(void)state;
	good.u.agg = (struct wire_agg){ .sub = "s", .code = "c", .count = 1 };
	assert_int_equal(wire_enc_begin(&b, -1, &e), TLY_OK);
	assert_int_equal(wire_enc_rec(e, &good), TLY_OK);
	assert_int_equal(wire_enc_rec(e, &bad), TLY_EINVAL);
	assert_int_equal(wire_enc_rec(e, &good), TLY_EINVAL);
	assert_int_equal(wire_enc_finish(&e, &z, &zlen), TLY_EINVAL);
	assert_null(e);
	assert_null(z);
	assert_int_equal(zlen, 0);
	b.agent_id = NULL;
	assert_int_equal(wire_enc_begin(&b, -1, &e), TLY_EINVAL);
	assert_null(e);
	wire_enc_free(&e);	/* NULL-safe */
}

/* events_total is written as given: a wrong one reaches the decoder. */
static void test_encode_writes_total_as_given(void **state)
{
	struct wire_rec r = { .kind = WIRE_AGG };
	struct wire_batch b = { .v = 1, .agent_id = "a", .seq = 1,
				.events_total = 6, .recs = &r, .nrecs = 1 };
	unsigned char *z;
	size_t zlen;
	char err[128];

	(void)state;
	r.u.agg = (struct wire_agg){ .sub = "s", .code = "c", .count = 5 };
	assert_int_equal(wire_encode(&b, -1, &z, &zlen), TLY_OK);
	assert_int_equal(decode_raw(z, zlen, NULL, err, sizeof(err)),
			 TLY_EINVAL);
	assert_string_equal(err, "events_total 6 does not match records (5)");
	free(z);
}

static void test_err_buffer(void **state)
{
	char err[8];
	struct wire_batch b;
	size_t zlen;
	unsigned char *z = zjson_n("[]", 2, &zlen);

	(void)state;
	assert_int_equal(wire_decode(z, zlen, NULL, &b, err, sizeof(err)),
			 TLY_EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);	/* cut, ended */
	memset(err, 'X', sizeof(err));
	assert_int_equal(wire_decode(z, zlen, NULL, &b, err, 0), TLY_EINVAL);
	assert_int_equal(err[0], 'X');			/* not touched */
	assert_int_equal(wire_decode(z, zlen, NULL, &b, NULL, 99), TLY_EINVAL);
	assert_int_equal(wire_decode(z, zlen, NULL, NULL, err, sizeof(err)),
			 TLY_EINVAL);
	free(z);
	/* Success leaves an empty message. */
	z = good_batch(-1, &zlen);
	memset(err, 'X', sizeof(err));
	assert_int_equal(wire_decode(z, zlen, NULL, &b, err, sizeof(err)),
			 TLY_OK);
	assert_string_equal(err, "");
	wire_batch_free(&b);
	free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_encode_layout),
		cmocka_unit_test(test_encode_timestamps),
		cmocka_unit_test(test_decode_timestamps),
		cmocka_unit_test(test_decode_edges),
		cmocka_unit_test(test_every_level),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_checksum),
		cmocka_unit_test(test_every_flipped_byte),
		cmocka_unit_test(test_not_zlib),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_max_compressed),
		cmocka_unit_test(test_bomb_default_limits),
		cmocka_unit_test(test_bomb_stops_early),
		cmocka_unit_test(test_inflated_cap_exact),
		cmocka_unit_test(test_max_records),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_agg_fields),
		cmocka_unit_test(test_event_fields),
		cmocka_unit_test(test_field_lengths),
		cmocka_unit_test(test_error_names_record),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_encode_writes_total_as_given),
		cmocka_unit_test(test_encode_streamed_large),
		cmocka_unit_test(test_encode_streamed_error_sticks),
		cmocka_unit_test(test_err_buffer),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
