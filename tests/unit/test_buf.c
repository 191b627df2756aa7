/*
 * test_buf.c - the agent's buffer and pre-aggregation: dedup, batches
 * that decode to exact records, acks, the size cap under both policies,
 * and counters that survive a reopen.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "event.h"
#include "log.h"
#include "roll.h"
#include "wire.h"

static char dir[TMPDIR_LEN];

static const char catalog[] =
	"{\"version\": 3, \"metrics\": ["
	"{\"code\": \"gb\", \"aggregation_type\": \"sum_agg\","
	" \"field_name\": \"gb\", \"filter_keys\": [\"region\"], \"raw\": false},"
	"{\"code\": \"calls\", \"aggregation_type\": \"count_agg\","
	" \"field_name\": null, \"filter_keys\": [], \"raw\": false},"
	"{\"code\": \"peak\", \"aggregation_type\": \"max_agg\","
	" \"field_name\": \"v\", \"filter_keys\": [], \"raw\": false},"
	"{\"code\": \"users\", \"aggregation_type\": \"unique_count_agg\","
	" \"field_name\": \"u\", \"filter_keys\": [], \"raw\": false},"
	"{\"code\": \"pct\", \"aggregation_type\": \"sum_agg\","
	" \"field_name\": \"amount\", \"filter_keys\": [], \"raw\": true}]}";

static int setup(void **state)
{
	(void)state;
	tmpdir_make(dir, "buf");
	log_init("test", LOG_ERROR + 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tmpdir_remove(dir);
	return 0;
}

static struct buf *open_buf(int64_t max_bytes, enum buf_full_policy p)
{
	struct buf_opts o = {
		.dir = dir, .max_bytes = max_bytes, .full_policy = p,
		.dedup_window_ms = 7 * 86400000LL, .batch_max_events = 10000,
		.agent_id = "edge-1",
	};
	struct buf *b;

	assert_int_equal(buf_open(&b, &o), TLY_OK);
	return b;
}

/* Parse a JSON array of bare events into a batch. */
static void parse(const char *json, struct ev_batch *out)
{
	struct ev_errs errs;
	char wrapped[8192];

	snprintf(wrapped, sizeof(wrapped), "{\"events\": %s}", json);
	assert_int_equal(ev_parse(wrapped, strlen(wrapped), EV_SHAPE_BATCH, 0,
				  1764000000000LL, out, &errs), TLY_OK);
}

static size_t put(struct buf *b, const char *json)
{
	struct ev_batch eb;
	size_t dups = 99;

	parse(json, &eb);
	assert_int_equal(buf_put(b, eb.evs, eb.n, &dups), TLY_OK);
	ev_batch_free(&eb);
	return dups;
}

/* Make one batch and decode it from the outbox. */
static void next_batch(struct buf *b, int64_t after, struct wire_batch *wb)
{
	struct buf_reader *r;
	unsigned char *body;
	size_t len;
	int64_t seq;
	int made;
	char err[200];

	assert_int_equal(buf_make_batch(b, &made), TLY_OK);
	assert_int_equal(made, 1);
	assert_int_equal(buf_reader_open(b, &r), TLY_OK);
	assert_int_equal(buf_next_batch(r, after, &seq, &body, &len), TLY_OK);
	assert_int_equal(wire_decode(body, len, NULL, wb, err, sizeof(err)),
			 TLY_OK);
	assert_int_equal(seq, (int64_t)wb->seq);
	free(body);
	buf_reader_close(&r);
}

static const struct wire_agg *find_agg(const struct wire_batch *wb,
				       const char *code, const char *region)
{
	for (size_t i = 0; i < wb->nrecs; i++) {
		const struct wire_agg *a = &wb->recs[i].u.agg;

		if (wb->recs[i].kind != WIRE_AGG || strcmp(a->code, code))
			continue;
		if (!region && a->nfilters == 0)
			return a;
		if (region && a->nfilters == 1 &&
		    !strcmp(a->filters[0].val, region))
			return a;
	}
	return NULL;
}

static void test_dedup_and_raw_without_catalog(void **state)
{
	struct buf *b = open_buf(1 << 20, BUF_REJECT);
	struct wire_batch wb;
	struct buf_stats st;

	(void)state;
	assert_int_equal(put(b, "[{\"transaction_id\":\"t1\","
			     "\"external_subscription_id\":\"s\",\"code\":\"gb\","
			     "\"properties\":{\"gb\":0.1}},"
			     "{\"transaction_id\":\"t1\",\"external_subscription_id\":"
			     "\"s\",\"code\":\"gb\"}]"), 1);
	assert_int_equal(put(b, "[{\"transaction_id\":\"t1\","
			     "\"external_subscription_id\":\"s\",\"code\":\"gb\"},"
			     "{\"transaction_id\":\"t1\",\"external_subscription_id\":"
			     "\"other\",\"code\":\"gb\"}]"), 1);
	buf_get_stats(b, &st);
	assert_int_equal(st.buffered_events, 2);
	assert_int_equal(st.duplicate_total, 2);
	/* No catalog yet: every event ships whole. */
	next_batch(b, 0, &wb);
	assert_int_equal(wb.seq, 1);
	assert_int_equal(wb.nrecs, 2);
	assert_int_equal(wb.events_total, 2);
	assert_int_equal(wb.recs[0].kind, WIRE_EVENT);
	assert_string_equal(ev_prop(&wb.recs[0].u.ev, "gb"), "0.1");
	assert_int_equal(wb.recs[0].u.ev.ts_ms, 1764000000000LL);
	wire_batch_free(&wb);
	buf_close(&b);
}

static void test_preaggregation_exact(void **state)
{
	struct buf *b = open_buf(64 << 20, BUF_REJECT);
	const struct wire_agg *a;
	struct wire_batch wb;
	char json[8192], one[256];
	size_t n = 0;

	(void)state;
	assert_int_equal(buf_set_catalog(b, catalog), TLY_OK);
	/* 0.1 ten times is 1 exactly; the minute is the UTC minute. */
	n += (size_t)snprintf(json + n, sizeof(json) - n, "[");
	for (int i = 0; i < 10; i++) {
		snprintf(one, sizeof(one), "%s{\"transaction_id\":\"g%d\","
			 "\"external_subscription_id\":\"s\",\"code\":\"gb\","
			 "\"timestamp\":%d,\"properties\":{\"gb\":0.1,"
			 "\"region\":\"%s\",\"noise\":\"%d\"}}", i ? "," : "",
			 i, 1764000000 + i * 5, i < 7 ? "eu" : "us", i);
		n += (size_t)snprintf(json + n, sizeof(json) - n, "%s", one);
	}
	snprintf(json + n, sizeof(json) - n, ",{\"transaction_id\":\"late\","
		 "\"external_subscription_id\":\"s\",\"code\":\"gb\","
		 "\"timestamp\":1764000060,\"properties\":{\"gb\":\"0.25\","
		 "\"region\":\"eu\"}}"
		 ",{\"transaction_id\":\"p1\","
		 "\"external_subscription_id\":\"s\",\"code\":\"pct\","
		 "\"properties\":{\"amount\":\"100\"}},"
		 "{\"transaction_id\":\"c1\",\"external_subscription_id\":\"s\","
		 "\"code\":\"calls\"},{\"transaction_id\":\"c2\","
		 "\"external_subscription_id\":\"s\",\"code\":\"calls\"},"
		 "{\"transaction_id\":\"m1\",\"external_subscription_id\":\"s\","
		 "\"code\":\"peak\",\"properties\":{\"v\":\"2.50\"}},"
		 "{\"transaction_id\":\"m2\",\"external_subscription_id\":\"s\","
		 "\"code\":\"peak\",\"properties\":{\"v\":\"12\"}},"
		 "{\"transaction_id\":\"u1\",\"external_subscription_id\":\"s\","
		 "\"code\":\"users\",\"properties\":{\"u\":\"bob\"}},"
		 "{\"transaction_id\":\"u2\",\"external_subscription_id\":\"s\","
		 "\"code\":\"users\",\"properties\":{\"u\":\"bob\"}},"
		 "{\"transaction_id\":\"u3\",\"external_subscription_id\":\"s\","
		 "\"code\":\"users\",\"properties\":{\"u\":\"ann\","
		 "\"operation_type\":\"remove\"}}]");
	assert_int_equal(put(b, json), 0);
	next_batch(b, 0, &wb);
	assert_int_equal(wb.events_total, 19);
	/* 1764000000 is 2025-11-24T16:00:00Z, a minute boundary; the
	 * first-listed eu record is that minute's (records keep no order,
	 * so look at both). */
	for (size_t i = 0, seen = 0; i < wb.nrecs; i++) {
		a = &wb.recs[i].u.agg;
		if (wb.recs[i].kind != WIRE_AGG || strcmp(a->code, "gb") ||
		    strcmp(a->filters[0].val, "eu"))
			continue;
		if (a->minute == 1764000000) {
			assert_int_equal(a->count, 7);
			assert_string_equal(a->sum, "0.7");	/* 7 x 0.1 */
		} else {
			assert_int_equal(a->minute, 1764000060);
			assert_int_equal(a->count, 1);
			assert_string_equal(a->sum, "0.25");
		}
		assert_true(++seen <= 2);
	}
	a = find_agg(&wb, "gb", "us");
	assert_non_null(a);
	assert_int_equal(a->minute, 1764000000);
	assert_int_equal(a->count, 3);
	assert_string_equal(a->sum, "0.3");
	/* Only the filter keys travel: "noise" is gone. */
	assert_int_equal(a->nfilters, 1);
	assert_string_equal(a->filters[0].key, "region");
	a = find_agg(&wb, "calls", NULL);
	assert_int_equal(a->count, 2);
	assert_null(a->sum);
	a = find_agg(&wb, "peak", NULL);
	assert_string_equal(a->max, "12");
	a = find_agg(&wb, "users", NULL);
	assert_int_equal(a->count, 2);
	assert_int_equal(a->ndistinct, 1);
	assert_string_equal(a->distinct[0], "bob");
	/* 6 agg records; the percentage event and the remove ship raw. */
	assert_int_equal(wb.nrecs, 8);
	wire_batch_free(&wb);
	buf_close(&b);
}

static void test_ack_and_reopen(void **state)
{
	struct buf *b = open_buf(1 << 20, BUF_REJECT);
	struct buf_stats st;
	struct wire_batch wb;

	(void)state;
	put(b, "[{\"transaction_id\":\"a\",\"external_subscription_id\":\"s\","
	       "\"code\":\"x\"}]");
	next_batch(b, 0, &wb);
	wire_batch_free(&wb);
	put(b, "[{\"transaction_id\":\"b\",\"external_subscription_id\":\"s\","
	       "\"code\":\"x\"}]");
	next_batch(b, 1, &wb);
	assert_int_equal(wb.seq, 2);
	wire_batch_free(&wb);
	put(b, "[{\"transaction_id\":\"c\",\"external_subscription_id\":\"s\","
	       "\"code\":\"x\"}]");
	assert_int_equal(buf_ack(b, 1), TLY_OK);
	assert_int_equal(buf_ack(b, 1), TLY_OK);	/* twice: harmless */
	buf_get_stats(b, &st);
	assert_int_equal(st.buffered_events, 2);
	assert_int_equal(st.pending_events, 1);
	assert_int_equal(st.outbox_batches, 1);
	assert_int_equal(st.last_acked_seq, 1);
	assert_int_equal(st.next_seq, 3);
	buf_close(&b);
	/* Everything is where it was after a reopen, and ids stay seen. */
	b = open_buf(1 << 20, BUF_REJECT);
	buf_get_stats(b, &st);
	assert_int_equal(st.buffered_events, 2);
	assert_int_equal(st.outbox_batches, 1);
	assert_int_equal(st.last_acked_seq, 1);
	assert_int_equal(st.next_seq, 3);
	assert_int_equal(put(b, "[{\"transaction_id\":\"a\","
			     "\"external_subscription_id\":\"s\",\"code\":\"x\"}]"),
			 1);
	assert_int_equal(buf_stat_dir(dir, &st), TLY_OK);
	assert_int_equal(st.buffered_events, 2);
	buf_close(&b);
}

static void fill(struct buf *b, int from, int count, int *full_at)
{
	char json[512];
	struct ev_batch eb;
	size_t dups;

	*full_at = -1;
	for (int i = from; i < from + count; i++) {
		snprintf(json, sizeof(json), "[{\"transaction_id\":\"t%06d\","
			 "\"external_subscription_id\":\"s\",\"code\":\"x\","
			 "\"properties\":{\"pad\":\"%0200d\"}}]", i, i);
		parse(json, &eb);
		if (buf_put(b, eb.evs, eb.n, &dups) == TLY_EFULL && *full_at < 0)
			*full_at = i;
		ev_batch_free(&eb);
	}
}

static void test_full_reject(void **state)
{
	struct buf *b = open_buf(64 << 10, BUF_REJECT);
	struct buf_stats st, st2;
	int full_at;

	(void)state;
	fill(b, 0, 400, &full_at);
	assert_true(full_at > 100 && full_at < 400);
	buf_get_stats(b, &st);
	assert_int_equal(st.buffered_events, full_at);
	assert_true(st.bytes <= 64 << 10);
	assert_int_equal(st.dropped_total, 0);
	/* Nothing accepted was lost, and a later put still refuses. */
	fill(b, 1000, 1, &full_at);
	assert_int_equal(full_at, 1000);
	buf_get_stats(b, &st2);
	assert_int_equal(st2.buffered_events, st.buffered_events);
	buf_close(&b);
}

static void test_full_drop_oldest(void **state)
{
	struct buf *b = open_buf(64 << 10, BUF_DROP_OLDEST);
	struct wire_batch wb;
	struct buf_stats st;
	int full_at;

	(void)state;
	fill(b, 0, 400, &full_at);
	assert_int_equal(full_at, -1);
	buf_get_stats(b, &st);
	assert_true(st.dropped_total > 0);
	assert_int_equal(st.buffered_events + st.dropped_total, 400);
	assert_true(st.bytes <= 64 << 10);
	/* The newest survived; the oldest went. */
	next_batch(b, 0, &wb);
	assert_string_equal(wb.recs[wb.nrecs - 1].u.ev.transaction_id,
			    "t000399");
	assert_string_not_equal(wb.recs[0].u.ev.transaction_id, "t000000");
	wire_batch_free(&wb);
	/* A dropped id is forgotten: sent again, it is taken again. */
	fill(b, 0, 1, &full_at);
	buf_get_stats(b, &st);
	assert_int_equal(st.pending_events, 1);
	buf_close(&b);
	b = open_buf(64 << 10, BUF_DROP_OLDEST);
	buf_get_stats(b, &st);
	assert_true(st.dropped_total > 0);
	buf_close(&b);
}

/*
 * One request of 100 events, some repeated inside it: rows go to SQLite
 * in groups (buf.c's PUT_ROWS), and each row must carry its own event.
 */
static void test_rows_in_groups(void **state)
{
	struct buf *b = open_buf(16 << 20, BUF_REJECT);
	struct wire_batch wb;
	struct ev_batch eb;
	struct ev_errs errs;
	char *json = malloc(64 * 1024), tx[16];
	size_t off = 0, dups = 0;

	(void)state;
	assert_non_null(json);
	off += (size_t)snprintf(json + off, 64 * 1024 - off, "{\"events\": [");
	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(json + off, 64 * 1024 - off,
			"%s{\"transaction_id\": \"g%03d\", "
			"\"external_subscription_id\": \"sub_%d\", "
			"\"code\": \"c%d\", \"timestamp\": %d, "
			"\"properties\": {\"n\": %d}}", i ? "," : "",
			i % 90, i % 10, i % 3, 1764000000 + i, i);
	snprintf(json + off, 64 * 1024 - off, "]}");
	assert_int_equal(ev_parse(json, strlen(json), EV_SHAPE_BATCH, 0,
				  1764000000000LL, &eb, &errs), TLY_OK);
	assert_int_equal(buf_put(b, eb.evs, eb.n, &dups), TLY_OK);
	ev_batch_free(&eb);
	/* i = 90..99 repeat i = 0..9 (same id, same subscription). */
	assert_int_equal(dups, 10);
	next_batch(b, 0, &wb);
	assert_int_equal(wb.nrecs, 90);
	for (int i = 0; i < 90; i++) {
		const struct event *ev = &wb.recs[i].u.ev;
		char sub[16], code[16], n[16];

		snprintf(tx, sizeof(tx), "g%03d", i);
		snprintf(sub, sizeof(sub), "sub_%d", i % 10);
		snprintf(code, sizeof(code), "c%d", i % 3);
		snprintf(n, sizeof(n), "%d", i);
		assert_int_equal(wb.recs[i].kind, WIRE_EVENT);
		assert_string_equal(ev->transaction_id, tx);
		assert_string_equal(ev->sub, sub);
		assert_string_equal(ev->code, code);
		assert_int_equal(ev->ts_ms, (1764000000LL + i) * 1000);
		assert_string_equal(ev_prop(ev, "n"), n);
	}
	wire_batch_free(&wb);
	/* The same request again: every event a repeat, nothing stored. */
	assert_int_equal(ev_parse(json, strlen(json), EV_SHAPE_BATCH, 0,
				  1764000000000LL, &eb, &errs), TLY_OK);
	assert_int_equal(buf_put(b, eb.evs, eb.n, &dups), TLY_OK);
	assert_int_equal(dups, 100);
	ev_batch_free(&eb);
	free(json);
	buf_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_dedup_and_raw_without_catalog),
		T(test_preaggregation_exact),
		T(test_ack_and_reopen),
		T(test_full_reject),
		T(test_full_drop_oldest),
		T(test_rows_in_groups),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
