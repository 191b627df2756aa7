/*
 * test_roll.c - writing a batch from a struct roll (agent/roll.c): agg
 * records first, then the raw events handed over one at a time, and the
 * refusal when the raw events written are not the ones counted (the
 * header's events_total is written before them).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "roll.h"
#include "wire.h"

/* Two sum events of one group, and n raw events counted. */
static struct roll *two_agg(size_t nraw)
{
	struct roll *r = roll_new();

	assert_non_null(r);
	assert_int_equal(roll_add_agg(r, "s", "gb", "sum_agg",
				      "{\"region\":\"eu\"}", 1764000001000,
				      "0.1"), TLY_OK);
	assert_int_equal(roll_add_agg(r, "s", "gb", "sum_agg",
				      "{\"region\":\"eu\"}", 1764000002000,
				      "0.2"), TLY_OK);
	for (size_t i = 0; i < nraw; i++)
		roll_add_raw(r);
	return r;
}

static void test_encode_in_order(void **state)
{
	struct roll *r = two_agg(2);
	struct wire_batch wb;
	unsigned char *z;
	size_t zlen;
	char err[128];

	(void)state;
	assert_int_equal(roll_events(r), 4);
	assert_int_equal(roll_encode_begin(r, "edge-1", 5, 1764000100),
			 TLY_OK);
	assert_int_equal(roll_encode_raw(r, "t1", "s", NULL, "x",
					 1764000003000, "{\"k\":\"v\"}", NULL),
			 TLY_OK);
	assert_int_equal(roll_encode_raw(r, "t2", NULL, "cus", "x",
					 1764000004500, "{}", "12.5"), TLY_OK);
	assert_int_equal(roll_encode_end(r, &z, &zlen), TLY_OK);
	assert_int_equal(wire_decode(z, zlen, NULL, &wb, err, sizeof(err)),
			 TLY_OK);
	assert_int_equal(wb.seq, 5);
	assert_int_equal(wb.events_total, 4);
	assert_int_equal(wb.nrecs, 3);
	assert_int_equal(wb.recs[0].kind, WIRE_AGG);
	assert_int_equal(wb.recs[0].u.agg.count, 2);
	assert_string_equal(wb.recs[0].u.agg.sum, "0.3");
	assert_string_equal(wb.recs[0].u.agg.filters[0].val, "eu");
	assert_int_equal(wb.recs[1].kind, WIRE_EVENT);
	assert_string_equal(wb.recs[1].u.ev.transaction_id, "t1");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
		wb.recs[1].u.ev.props, "k")->valuestring, "v");
	assert_string_equal(wb.recs[2].u.ev.transaction_id, "t2");
	assert_string_equal(wb.recs[2].u.ev.customer, "cus");
	assert_int_equal(wb.recs[2].u.ev.ts_ms, 1764000004500);
	assert_string_equal(wb.recs[2].u.ev.precise_total_amount_cents,
			    "12.5");
	wire_batch_free(&wb);
	free(z);
	roll_free(&r);
	assert_null(r);
}

/* Fewer or more raw events than counted: refused, nothing made. */
static void test_encode_count_mismatch(void **state)
{
	struct roll *r = two_agg(2);
	unsigned char *z = NULL;
	size_t zlen = 0;

	(void)state;
	assert_int_equal(roll_encode_begin(r, "edge-1", 1, 0), TLY_OK);
	assert_int_equal(roll_encode_raw(r, "t1", "s", NULL, "x", 0, "{}",
					 NULL), TLY_OK);
	assert_int_equal(roll_encode_end(r, &z, &zlen), TLY_EINVAL);
	assert_null(z);
	roll_free(&r);

	r = two_agg(1);
	assert_int_equal(roll_encode_begin(r, "edge-1", 1, 0), TLY_OK);
	assert_int_equal(roll_encode_raw(r, "t1", "s", NULL, "x", 0, "{}",
					 NULL), TLY_OK);
	assert_int_equal(roll_encode_raw(r, "t2", "s", NULL, "x", 0, "{}",
					 NULL), TLY_EINVAL);
	assert_int_equal(roll_encode_end(r, &z, &zlen), TLY_EINVAL);
	roll_free(&r);

	/* Out of order: no raw event before begin, no second begin. */
	r = two_agg(1);
	assert_int_equal(roll_encode_raw(r, "t1", "s", NULL, "x", 0, "{}",
					 NULL), TLY_EINVAL);
	assert_int_equal(roll_encode_begin(r, "edge-1", 1, 0), TLY_OK);
	assert_int_equal(roll_encode_begin(r, "edge-1", 1, 0), TLY_EINVAL);
	roll_free(&r);		/* frees the open encoding */
}

/* A record the wire refuses (a property that is not a string). */
static void test_encode_refused_event(void **state)
{
	struct roll *r = two_agg(1);
	unsigned char *z = NULL;
	size_t zlen = 0;

	(void)state;
	assert_int_equal(roll_encode_begin(r, "edge-1", 1, 0), TLY_OK);
	assert_int_equal(roll_encode_raw(r, "t1", "s", NULL, "x", 0,
					 "{\"n\":1}", NULL), TLY_EINVAL);
	assert_int_equal(roll_encode_end(r, &z, &zlen), TLY_EINVAL);
	assert_null(z);
	roll_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_in_order),
		cmocka_unit_test(test_encode_count_mismatch),
		cmocka_unit_test(test_encode_refused_event),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
