/*
 * fuzz_wire.c - libFuzzer target for the wire decoder (shared/wire.c).
 *
 * Two modes, by the first byte:
 *   'J'   the rest is JSON; the harness deflates it and decodes that, so
 *         the fuzzer explores field validation, which random bytes would
 *         rarely reach through a zlib checksum;
 *   else  the input is a batch as it comes off the network.
 *
 * Small caps keep every run fast.  Whatever decodes must re-encode and
 * decode again to the same batch; anything else aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "err.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct wire_limits fuzz_limits = {
	.max_compressed = (size_t)1 << 20,
	.max_inflated = (size_t)1 << 20,
	.max_ratio = 200,
	.max_records = 10000,
};

/* The second decode takes our own output: no caps but the encoder's. */
static const struct wire_limits no_limits = {
	.max_compressed = SIZE_MAX,
	.max_inflated = SIZE_MAX,
	.max_ratio = UINT32_MAX,
	.max_records = SIZE_MAX,
};

static int same(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static int same_agg(const struct wire_agg *a, const struct wire_agg *b)
{
	if (!same(a->sub, b->sub) || !same(a->code, b->code) ||
	    a->minute != b->minute || a->count != b->count ||
	    !same(a->sum, b->sum) || !same(a->max, b->max) ||
	    !same(a->latest, b->latest) || a->latest_ts != b->latest_ts ||
	    a->nfilters != b->nfilters || a->ndistinct != b->ndistinct)
		return 0;
	for (size_t i = 0; i < a->nfilters; i++) {
		if (!same(a->filters[i].key, b->filters[i].key) ||
		    !same(a->filters[i].val, b->filters[i].val))
			return 0;
	}
	for (size_t i = 0; i < a->ndistinct; i++) {
		if (!same(a->distinct[i], b->distinct[i]))
			return 0;
	}
	return 1;
}

static int same_event(const struct event *a, const struct event *b)
{
	const cJSON *x, *y;

	if (!same(a->transaction_id, b->transaction_id) ||
	    !same(a->sub, b->sub) || !same(a->customer, b->customer) ||
	    !same(a->code, b->code) || a->ts_ms != b->ts_ms ||
	    !same(a->precise_total_amount_cents,
		  b->precise_total_amount_cents))
		return 0;
	for (x = a->props->child, y = b->props->child; x && y;
	     x = x->next, y = y->next) {
		if (!same(x->string, y->string) ||
		    !same(x->valuestring, y->valuestring))
			return 0;
	}
	return !x && !y;
}

static int same_batch(const struct wire_batch *a, const struct wire_batch *b)
{
	if (a->v != b->v || !same(a->agent_id, b->agent_id) ||
	    a->seq != b->seq || a->created_at != b->created_at ||
	    a->events_total != b->events_total || a->nrecs != b->nrecs)
		return 0;
	for (size_t i = 0; i < a->nrecs; i++) {
		const struct wire_rec *x = &a->recs[i], *y = &b->recs[i];

		if (x->kind != y->kind)
			return 0;
		if (x->kind == WIRE_AGG ? !same_agg(&x->u.agg, &y->u.agg) :
		    !same_event(&x->u.ev, &y->u.ev))
			return 0;
	}
	return 1;
}

/* A decoded batch must survive encode + decode unchanged. */
static void check_round_trip(const struct wire_batch *b)
{
	struct wire_batch again;
	unsigned char *z = NULL;
	size_t zlen = 0;
	char err[256];

	if (wire_encode(b, 1, &z, &zlen) != TLY_OK)
		abort();
	if (wire_decode(z, zlen, &no_limits, &again, err, sizeof(err)) !=
	    TLY_OK)
		abort();
	if (again.seq != b->seq || again.nrecs != b->nrecs ||
	    again.events_total != b->events_total || !same_batch(b, &again))
		abort();
	wire_batch_free(&again);
	free(z);
}

static void decode(const void *buf, size_t len)
{
	struct wire_batch b;
	char err[256];
	int rc = wire_decode(buf, len, &fuzz_limits, &b, err, sizeof(err));

	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (rc != TLY_OK) {
		if (b.recs || b.root || b.nrecs || b.agent_id)
			abort();	/* an error leaves the batch empty */
		return;
	}
	check_round_trip(&b);
	wire_batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *z;
	uLongf zlen;

	if (size == 0 || data[0] != 'J') {
		decode(data, size);
		return 0;
	}
	zlen = compressBound(size - 1);
	z = malloc(zlen);
	if (!z)
		return 0;
	if (compress2(z, &zlen, data + 1, size - 1, 1) == Z_OK)
		decode(z, zlen);
	free(z);
	return 0;
}
