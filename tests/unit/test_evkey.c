/*
 * test_evkey.c - the collector's index of event keys (evkey.c): a key
 * added is found, in its transaction and after; a rolled-back one is
 * not, even when its id is taken again; merges into event_keys lose
 * nothing; two stores on one file (two collectors) see each other's
 * keys and merges, the filter too; a match is checked against the row;
 * GET's lookup by transaction id finds every subscription's event; and a
 * database of schema version 1 keeps its events through migration 2.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "evkey.h"
#include "log.h"
#include "store.h"

static char dir[TMPDIR_LEN];
static char path[96];
static char url[128];

static int setup(void **state)
{
	(void)state;
	tmpdir_make(dir, "evkey");
	snprintf(path, sizeof(path), "%s/c.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	log_init("test", LOG_ERROR + 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tmpdir_remove(dir);
	return 0;
}

struct side {
	struct store *s;
	struct evkey *k;
	struct store_conn *c;		/* held between begin and end */
};

static void side_open(struct side *d, size_t tail_max)
{
	memset(d, 0, sizeof(*d));
	assert_int_equal(store_open(&d->s, url), TLY_OK);
	assert_int_equal(evkey_open(d->s, tail_max, &d->k), TLY_OK);
}

static void side_close(struct side *d)
{
	evkey_close(&d->k);
	store_close(&d->s);
}

static void begin(struct side *d)
{
	d->c = store_acquire(d->s);
	assert_int_equal(store_begin(d->c), TLY_OK);
}

static void end(struct side *d, int commit)
{
	if (commit)
		assert_int_equal(store_commit(d->c), TLY_OK);
	else
		assert_int_equal(store_rollback(d->c), TLY_OK);
	store_release(d->c);
	d->c = NULL;
}

static int64_t find(struct side *d, const char *tx, const char *key)
{
	struct evkey_key hashed;
	int64_t id = -1;

	assert_int_equal(evkey_find(d->k, d->c, tx, key, &hashed, &id), TLY_OK);
	return id;
}

/* Insert the event of (tx, key) as ingest does: find, insert, add. */
static int64_t put(struct side *d, const char *tx, const char *key)
{
	static const char *const sql =
		"INSERT INTO events (lago_id, sub_key, transaction_id, code, "
		"ts_ms, properties, source, created_at) "
		"VALUES (?, ?, ?, 'calls', 0, '{}', 'test', ?) RETURNING id";
	static int64_t made;
	struct store_stmt *st = NULL;
	struct evkey_key hashed;
	char lago[64];
	int64_t id;

	assert_int_equal(evkey_find(d->k, d->c, tx, key, &hashed, &id), TLY_OK);
	assert_int_equal(id, 0);
	snprintf(lago, sizeof(lago), "lago-%lld", (long long)++made);
	assert_int_equal(store_prepare(d->c, sql, &st), TLY_OK);
	store_bind_text(st, 1, lago);
	store_bind_text(st, 2, key);
	store_bind_text(st, 3, tx);
	store_bind_i64(st, 4, made);
	assert_int_equal(store_step(st), STORE_ROW);
	id = store_col_i64(st, 0);
	store_reset(st);
	assert_int_equal(evkey_add(d->k, d->c, &hashed, id), TLY_OK);
	return id;
}

static int64_t scalar(struct side *d, const char *sql)
{
	struct store_conn *c = store_acquire(d->s);
	struct store_stmt *st = NULL;
	int64_t v;

	assert_int_equal(store_prepare(c, sql, &st), TLY_OK);
	assert_int_equal(store_step(st), STORE_ROW);
	v = store_col_i64(st, 0);
	store_reset(st);
	store_release(c);
	return v;
}

static const char *const sql_merged =
	"SELECT CAST(value AS INTEGER) FROM meta "
	"WHERE key = 'event_keys_merged'";
static const char *const sql_tree = "SELECT count(*) FROM event_keys";

static void tx_of(char *buf, size_t n, int i)
{
	snprintf(buf, n, "tx-%04d-%08x", i, (unsigned)i * 2654435761u);
}

/* put the events tx_of(from..to-1) of key; their ids in ids[j] if asked. */
static void put_range(struct side *d, int from, int to, const char *key,
		      int64_t *ids)
{
	char tx[32];

	for (int j = from; j < to; j++) {
		int64_t id;

		tx_of(tx, sizeof(tx), j);
		id = put(d, tx, key);
		if (ids)
			ids[j] = id;
	}
}

static void finds_what_was_added(void **state)
{
	struct side d;
	int64_t a, b;

	(void)state;
	side_open(&d, 0);
	begin(&d);
	a = put(&d, "t1", "sub_a");
	assert_true(a > 0);
	assert_int_equal(find(&d, "t1", "sub_a"), a);	/* same transaction */
	b = put(&d, "t1", "sub_b");			/* same tx, other sub */
	assert_int_not_equal(a, b);
	end(&d, 1);
	begin(&d);
	assert_int_equal(find(&d, "t1", "sub_a"), a);
	assert_int_equal(find(&d, "t1", "sub_b"), b);
	assert_int_equal(find(&d, "t2", "sub_a"), 0);
	assert_int_equal(find(&d, "t1", "sub_c"), 0);
	end(&d, 0);
	side_close(&d);
	/* And after a restart, from the table. */
	side_open(&d, 0);
	begin(&d);
	assert_int_equal(find(&d, "t1", "sub_a"), a);
	end(&d, 0);
	side_close(&d);
}

static void rollback_forgets(void **state)
{
	struct side d;
	int64_t gone, next;

	(void)state;
	side_open(&d, 0);
	begin(&d);
	put(&d, "kept", "s");
	end(&d, 1);
	begin(&d);
	gone = put(&d, "gone", "s");
	end(&d, 0);
	begin(&d);
	assert_int_equal(find(&d, "gone", "s"), 0);
	/* SQLite gives the rolled-back id again: the mirror must not
	 * take the new row for the old key. */
	next = put(&d, "other", "s");
	assert_int_equal(next, gone);
	end(&d, 1);
	begin(&d);
	assert_int_equal(find(&d, "gone", "s"), 0);
	assert_int_equal(find(&d, "other", "s"), next);
	assert_true(find(&d, "kept", "s") > 0);
	end(&d, 0);
	side_close(&d);
}

/*
 * A's transaction rolls back; B then takes the same ids.  A must read
 * B's rows, not count them as its own (the ids A used are B's now).
 */
static void rollback_then_other_store_takes_the_ids(void **state)
{
	struct side a, b;
	int64_t gone, ids[10];
	char tx[32];

	(void)state;
	side_open(&a, 0);
	side_open(&b, 0);
	begin(&a);
	gone = put(&a, "gone", "s");
	put_range(&a, 0, 5, "s", NULL);
	end(&a, 0);
	begin(&b);
	put_range(&b, 0, 10, "s", ids);
	end(&b, 1);
	assert_int_equal(ids[0], gone);
	begin(&a);
	for (int j = 0; j < 10; j++) {
		tx_of(tx, sizeof(tx), j);
		assert_int_equal(find(&a, tx, "s"), ids[j]);
	}
	assert_int_equal(find(&a, "gone", "s"), 0);
	end(&a, 0);
	side_close(&a);
	side_close(&b);
}

#define MANY 500

static void merges_keep_every_key(void **state)
{
	struct side d;
	int64_t ids[MANY];
	char tx[32];

	(void)state;
	side_open(&d, 64);
	for (int i = 0; i < MANY; i += 10) {
		begin(&d);
		for (int j = i; j < i + 10; j++) {
			tx_of(tx, sizeof(tx), j);
			ids[j] = put(&d, tx, j % 3 ? "sub_x" : "sub_y");
		}
		end(&d, 1);
	}
	/* Merged at every 64 or more: what is left in the tail is less;
	 * in runs of 4 * 64 keys at most. */
	assert_true(scalar(&d, sql_merged) > MANY - 64);
	assert_int_equal(scalar(&d, sql_tree), scalar(&d, sql_merged));
	assert_true(scalar(&d, "SELECT count(DISTINCT run) FROM "
			   "event_keys") >= 2);
	assert_true(scalar(&d, "SELECT max(n) FROM (SELECT count(*) AS n "
			   "FROM event_keys GROUP BY run)") <= 4 * 64);
	assert_int_equal(scalar(&d, "SELECT CAST(value AS INTEGER) FROM meta "
				"WHERE key = 'event_keys_run_keys'"),
			 scalar(&d, "SELECT count(*) FROM event_keys WHERE run "
				"= (SELECT max(run) FROM event_keys)"));
	begin(&d);
	for (int j = 0; j < MANY; j++) {
		tx_of(tx, sizeof(tx), j);
		assert_int_equal(find(&d, tx, j % 3 ? "sub_x" : "sub_y"),
				 ids[j]);
		assert_int_equal(find(&d, tx, j % 3 ? "sub_y" : "sub_x"), 0);
	}
	end(&d, 0);
	side_close(&d);
}

/* A merge whose transaction rolls back leaves the keys in the tail. */
static void merge_rolled_back(void **state)
{
	struct side d;
	char tx[32];

	(void)state;
	side_open(&d, 16);
	begin(&d);
	put_range(&d, 0, 20, "s", NULL);
	end(&d, 1);
	begin(&d);
	tx_of(tx, sizeof(tx), 0);
	assert_true(find(&d, tx, "s") > 0);	/* merges first */
	end(&d, 0);
	assert_int_equal(scalar(&d, sql_merged), 0);
	assert_int_equal(scalar(&d, sql_tree), 0);
	begin(&d);
	for (int j = 0; j < 20; j++) {
		tx_of(tx, sizeof(tx), j);
		assert_true(find(&d, tx, "s") > 0);
	}
	end(&d, 1);
	assert_int_equal(scalar(&d, sql_merged), 20);
	side_close(&d);
}

static void two_stores_share_the_keys(void **state)
{
	struct side a, b;
	int64_t ids[200];
	char tx[32];

	(void)state;
	side_open(&a, 32);
	side_open(&b, 32);
	for (int i = 0; i < 200; i += 20) {
		struct side *w = i % 40 ? &b : &a;	/* turn about */

		begin(w);
		put_range(w, i, i + 20, "s", ids);
		end(w, 1);
	}
	for (int side = 0; side < 2; side++) {
		struct side *r = side ? &b : &a;

		begin(r);
		for (int j = 0; j < 200; j++) {
			tx_of(tx, sizeof(tx), j);
			assert_int_equal(find(r, tx, "s"), ids[j]);
		}
		tx_of(tx, sizeof(tx), 200);
		assert_int_equal(find(r, tx, "s"), 0);
		end(r, 0);
	}
	assert_true(scalar(&a, sql_merged) > 0);
	side_close(&a);
	side_close(&b);
}

/*
 * B takes and merges keys A never read: A's filter must hear of them
 * from the table, or A would take them for new (they are no longer in
 * any tail A reads).
 */
static void filter_hears_the_other_stores_merges(void **state)
{
	struct side a, b;
	int64_t ids[100];
	char tx[32];

	(void)state;
	side_open(&a, 32);
	side_open(&b, 32);
	begin(&a);
	put_range(&a, 0, 10, "s", ids);		/* A's filter is built */
	end(&a, 1);
	for (int i = 10; i < 100; i += 30) {
		begin(&b);
		put_range(&b, i, i + 30, "s", ids);
		end(&b, 1);
	}
	assert_true(scalar(&b, sql_merged) >= 40);
	begin(&a);
	for (int j = 0; j < 100; j++) {
		tx_of(tx, sizeof(tx), j);
		assert_int_equal(find(&a, tx, "s"), ids[j]);
	}
	end(&a, 0);
	side_close(&a);
	side_close(&b);
}

/*
 * New keys seldom reach event_keys past the filter, however few the
 * subscriptions (a filter whose bits came from the sub_key alone said
 * "maybe" to most keys of a subscription it had seen).
 */
static void filter_spares_new_keys_the_tree(void **state)
{
	struct evkey_stats st;
	struct side d;
	char tx[32];

	(void)state;
	side_open(&d, 4096);
	for (int i = 0; i < 20000; i += 1000) {
		begin(&d);
		put_range(&d, i, i + 1000, i % 2000 ? "sub_a" : "sub_b", NULL);
		end(&d, 1);
	}
	begin(&d);
	assert_int_equal(find(&d, "x", "sub_a"), 0);	/* merges the tail */
	end(&d, 1);
	assert_true(scalar(&d, sql_tree) >= 16000);
	evkey_stats(d.k, &st);
	assert_true(st.merges >= 4);
	begin(&d);
	for (int j = 100000; j < 102000; j++) {
		tx_of(tx, sizeof(tx), j);
		assert_int_equal(find(&d, tx, j % 2 ? "sub_a" : "sub_b"), 0);
	}
	end(&d, 0);
	evkey_stats(d.k, &st);
	assert_true(st.finds >= 22001);
	assert_true(st.tree_finds < 100);	/* of 2000 new keys */
	side_close(&d);
}

static void exec_ok(struct side *d, const char *sql)
{
	struct store_conn *c = store_acquire(d->s);

	assert_int_equal(store_exec(c, sql), TLY_OK);
	store_release(c);
}

/*
 * The filter's build fails halfway through event_keys (a view in its
 * place that overflows at one row): the next transaction must build it
 * again, not trust the half that was read.
 */
static void filter_half_built_is_not_trusted(void **state)
{
	struct side d;
	struct evkey_key hashed;
	int64_t ids[40], id = -1;
	char tx[32];

	(void)state;
	side_open(&d, 4);
	for (int i = 0; i < 40; i += 5) {
		begin(&d);
		put_range(&d, i, i + 5, "s", ids);
		end(&d, 1);
	}
	begin(&d);
	assert_int_equal(find(&d, "x", "s"), 0);	/* merges the rest */
	end(&d, 1);
	side_close(&d);
	side_open(&d, 4);		/* the filter is built at first use */
	exec_ok(&d, "ALTER TABLE event_keys RENAME TO event_keys_real");
	exec_ok(&d, "CREATE VIEW event_keys (run, txh, subh, ev) AS "
		"SELECT run, txh + abs(CASE WHEN ev = 20 THEN "
		"-9223372036854775807 - 1 ELSE 0 END), subh, ev "
		"FROM event_keys_real");
	begin(&d);
	tx_of(tx, sizeof(tx), 0);
	assert_int_not_equal(evkey_find(d.k, d.c, tx, "s", &hashed, &id),
			     TLY_OK);
	end(&d, 0);
	exec_ok(&d, "DROP VIEW event_keys");
	exec_ok(&d, "ALTER TABLE event_keys_real RENAME TO event_keys");
	begin(&d);
	for (int j = 0; j < 40; j++) {
		tx_of(tx, sizeof(tx), j);
		assert_int_equal(find(&d, tx, "s"), ids[j]);
	}
	end(&d, 0);
	side_close(&d);
}

/* Renames a row's transaction id behind the index's back. */
static void rename_tx(struct side *d, const char *from, const char *to)
{
	static const char *const sql =
		"UPDATE events SET transaction_id = ? WHERE transaction_id = ?";
	struct store_stmt *st = NULL;

	assert_int_equal(store_prepare(d->c, sql, &st), TLY_OK);
	store_bind_text(st, 1, to);
	store_bind_text(st, 2, from);
	assert_int_equal(store_run(st), TLY_OK);
}

static void match_is_checked_against_the_row(void **state)
{
	struct side d;
	char tx[32];

	(void)state;
	side_open(&d, 8);
	begin(&d);
	put(&d, "old", "s");
	end(&d, 1);
	/* The mirror holds the hash of "old" for the row: it must look. */
	begin(&d);
	assert_int_equal(find(&d, "x", "s"), 0);	/* caught up */
	rename_tx(&d, "old", "renamed");
	assert_int_equal(find(&d, "old", "s"), 0);
	end(&d, 1);
	begin(&d);
	put_range(&d, 0, 10, "s", NULL);
	end(&d, 1);
	begin(&d);
	assert_int_equal(find(&d, "x", "s"), 0);	/* merges */
	end(&d, 1);
	/* Now only the tree holds tx_of(0): it must look too. */
	begin(&d);
	tx_of(tx, sizeof(tx), 0);
	assert_true(find(&d, tx, "s") > 0);
	rename_tx(&d, tx, "again");
	assert_int_equal(find(&d, tx, "s"), 0);
	end(&d, 0);
	assert_int_equal(scalar(&d, sql_tree), 11);
	side_close(&d);
}

static size_t tx_ids(struct side *d, const char *tx, int64_t *first)
{
	struct store_conn *c = store_acquire(d->s);
	int64_t *ids = NULL;
	size_t n = 0;

	assert_int_equal(evkey_tx_ids(d->k, c, tx, &ids, &n), TLY_OK);
	store_release(c);
	if (first && n)
		*first = ids[0];
	free(ids);
	return n;
}

static void tx_ids_finds_each_subscription(void **state)
{
	struct side d;
	int64_t one = 0, got = 0;

	(void)state;
	side_open(&d, 8);
	begin(&d);
	put(&d, "shared", "sub_1");
	put(&d, "shared", "sub_2");
	one = put(&d, "single", "sub_1");
	end(&d, 1);
	assert_int_equal(tx_ids(&d, "shared", NULL), 2);	/* tail */
	assert_int_equal(tx_ids(&d, "single", &got), 1);
	assert_int_equal(got, one);
	assert_int_equal(tx_ids(&d, "none", NULL), 0);
	begin(&d);
	put_range(&d, 0, 10, "sub_1", NULL);
	put(&d, "shared", "sub_3");
	end(&d, 1);
	begin(&d);
	find(&d, "none", "sub_1");		/* merges */
	end(&d, 1);
	assert_true(scalar(&d, sql_tree) >= 14);
	assert_int_equal(tx_ids(&d, "shared", NULL), 3);	/* tree */
	assert_int_equal(tx_ids(&d, "single", &got), 1);
	assert_int_equal(got, one);
	side_close(&d);
}

/* A database left by a collector of schema version 1. */
static void migrates_version_1(void **state)
{
	static const char *const v1 =
		"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
		"CREATE TABLE events (lago_id TEXT PRIMARY KEY,"
		"  sub_key TEXT NOT NULL, transaction_id TEXT NOT NULL,"
		"  sub TEXT, customer TEXT, code TEXT NOT NULL,"
		"  ts_ms INTEGER NOT NULL, properties TEXT NOT NULL,"
		"  precise_total_amount_cents TEXT, source TEXT NOT NULL,"
		"  created_at INTEGER NOT NULL,"
		"  UNIQUE (transaction_id, sub_key));"
		"CREATE INDEX events_by_sub ON events (sub, code, ts_ms);"
		"INSERT INTO events VALUES ('l1', 'sub_a', 'tx1', 'sub_a', NULL,"
		"  'calls', 5, '{\"n\":1}', NULL, 'api', 7);"
		"INSERT INTO events VALUES ('l2', 'customer:c', 'tx1', NULL, 'c',"
		"  'calls', 6, '{}', '12.5', 'agent-1', 8);"
		"PRAGMA user_version = 1;";
	struct side d;
	sqlite3 *db = NULL;

	(void)state;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* Migration 2 alone runs: the other tables of version 1 are not
	 * there, and it needs none of them. */
	side_open(&d, 0);
	assert_int_equal(scalar(&d, "SELECT count(*) FROM events "
			 "WHERE lago_id IN ('l1', 'l2') AND code = 'calls'"),
			 2);
	assert_int_equal(tx_ids(&d, "tx1", NULL), 2);
	begin(&d);
	assert_true(find(&d, "tx1", "sub_a") > 0);
	assert_true(find(&d, "tx1", "customer:c") > 0);
	assert_true(put(&d, "tx2", "sub_a") > 2);
	end(&d, 1);
	side_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(finds_what_was_added, setup,
						teardown),
		cmocka_unit_test_setup_teardown(rollback_forgets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			rollback_then_other_store_takes_the_ids, setup,
			teardown),
		cmocka_unit_test_setup_teardown(merges_keep_every_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(merge_rolled_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(two_stores_share_the_keys,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			filter_hears_the_other_stores_merges, setup, teardown),
		cmocka_unit_test_setup_teardown(
			filter_spares_new_keys_the_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(
			filter_half_built_is_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(
			match_is_checked_against_the_row, setup, teardown),
		cmocka_unit_test_setup_teardown(
			tx_ids_finds_each_subscription, setup, teardown),
		cmocka_unit_test_setup_teardown(migrates_version_1, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("evkey", tests, NULL, NULL);
}
