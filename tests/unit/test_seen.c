/*
 * test_seen.c - the agent's two-tier dedup index: keys found in the
 * memory-mirrored log and in the merged B-tree, merges past the log's
 * size, savepoint rollbacks (with and without a merge inside), a crash
 * (the connection closed with keys only in the log), pruning by age,
 * runs (a new one when the newest is full, lookups across them, pruning
 * whole and at the edge), a version 1 buffer migrated, and tally_fp()
 * agreeing with seen_key_of().
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

#include "db.h"
#include "err.h"
#include "log.h"
#include "seen.h"

static char dir[TMPDIR_LEN];
static char path[96];

static const char *const schema[] = {
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	SEEN_SCHEMA,
	SEEN_MIGRATION_2,
};

struct fx {
	sqlite3 *db;
	struct seen *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	tmpdir_make(dir, "seen");
	snprintf(path, sizeof(path), "%s/buffer.db", dir);
	log_init("test", LOG_ERROR + 1);
	assert_non_null(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	seen_close(&f->s);
	db_close(&f->db);
	free(f);
	tmpdir_remove(dir);
	return 0;
}

static void open_fx(struct fx *f)
{
	assert_int_equal(db_open(&f->db, path, DB_SYNC_NORMAL, 1000), TLY_OK);
	assert_int_equal(db_migrate(f->db, schema, 2, "test"), TLY_OK);
	assert_int_equal(seen_open(f->db, &f->s), TLY_OK);
}

static void close_fx(struct fx *f)
{
	seen_close(&f->s);
	db_close(&f->db);
}

static int64_t count(struct fx *f, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n;

	assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Take tx "t<i>" of sub_1 at `at`; returns *dup. */
static int take(struct fx *f, int i, int64_t at)
{
	struct seen_key k;
	char tx[32];
	int dup = -1;

	snprintf(tx, sizeof(tx), "t%d", i);
	seen_key_of(f->s, "sub_1", NULL, tx, &k);
	assert_int_equal(seen_take(f->s, &k, at, &dup), TLY_OK);
	return dup;
}

/* Take [from, to) in one transaction; how many were duplicates. */
static int take_range(struct fx *f, int from, int to, int64_t at)
{
	int dups = 0;

	assert_int_equal(db_begin(f->db), TLY_OK);
	for (int i = from; i < to; i++)
		dups += take(f, i, at);
	assert_int_equal(seen_flush(f->s), TLY_OK);
	assert_int_equal(db_commit(f->db), TLY_OK);
	return dups;
}

static void test_keys_and_namespaces(void **state)
{
	struct fx *f = *state;
	struct seen_key a, b;
	int dup;

	open_fx(f);
	assert_int_equal(take_range(f, 0, 10, 1000), 0);
	assert_int_equal(take_range(f, 0, 10, 1000), 10);
	assert_int_equal(take_range(f, 5, 15, 1000), 5);
	/* The same transaction id under another subscription, or under a
	 * customer of the same name, is another key. */
	seen_key_of(f->s, "sub_2", NULL, "t1", &a);
	seen_key_of(f->s, NULL, "sub_1", "t1", &b);
	assert_memory_not_equal(a.b, b.b, sizeof(a.b));
	{
		struct seen_key c, d;

		/* Where one id ends and the other begins is part of the key. */
		seen_key_of(f->s, "a\x1f" "b", NULL, "c", &c);
		seen_key_of(f->s, "a", NULL, "b\x1f" "c", &d);
		assert_memory_not_equal(c.b, d.b, sizeof(c.b));
		seen_key_of(f->s, "ab", NULL, "c", &c);
		seen_key_of(f->s, "a", NULL, "bc", &d);
		assert_memory_not_equal(c.b, d.b, sizeof(c.b));
	}
	assert_int_equal(db_begin(f->db), TLY_OK);
	assert_int_equal(seen_take(f->s, &a, 1000, &dup), TLY_OK);
	assert_int_equal(dup, 0);
	assert_int_equal(seen_take(f->s, &b, 1000, &dup), TLY_OK);
	assert_int_equal(dup, 0);
	assert_int_equal(seen_flush(f->s), TLY_OK);
	assert_int_equal(db_commit(f->db), TLY_OK);
	/* Nothing merged yet: 17 keys in the log, none in seen. */
	assert_int_equal(count(f, "SELECT count(*) FROM seen_log"), 17);
	assert_int_equal(count(f, "SELECT count(*) FROM seen"), 0);
	close_fx(f);
}

static void test_merge_past_the_log(void **state)
{
	struct fx *f = *state;
	int n = SEEN_LOG_MAX + SEEN_LOG_MAX / 2;

	open_fx(f);
	assert_int_equal(take_range(f, 0, n, 1000), 0);
	/* One merge moved a whole log; the rest waits in the log. */
	assert_int_equal(count(f, "SELECT count(*) FROM seen"), SEEN_LOG_MAX);
	assert_int_equal(count(f, "SELECT count(*) FROM seen_log"),
			 n - SEEN_LOG_MAX);
	/* Every key is found, in either tier, and nothing is added. */
	assert_int_equal(take_range(f, 0, n, 2000), n);
	assert_int_equal(count(f, "SELECT count(*) FROM seen") +
			 count(f, "SELECT count(*) FROM seen_log"), n);
	close_fx(f);
}

static void test_rollback(void **state)
{
	struct fx *f = *state;
	struct seen_mark m;

	open_fx(f);
	assert_int_equal(take_range(f, 0, 100, 1000), 0);
	/* A savepoint rolled back forgets what it took, not what came before. */
	assert_int_equal(db_begin(f->db), TLY_OK);
	m = seen_mark(f->s);
	assert_int_equal(db_exec(f->db, "SAVEPOINT job"), TLY_OK);
	for (int i = 100; i < 200; i++)
		assert_int_equal(take(f, i, 1000), 0);
	assert_int_equal(db_exec(f->db, "ROLLBACK TO job"), TLY_OK);
	assert_int_equal(seen_rollback(f->s, m), TLY_OK);
	assert_int_equal(db_exec(f->db, "RELEASE job"), TLY_OK);
	assert_int_equal(db_commit(f->db), TLY_OK);
	assert_int_equal(take_range(f, 0, 200, 1000), 100);

	/* The same across a merge inside the savepoint: the mirror reloads. */
	assert_int_equal(db_begin(f->db), TLY_OK);
	m = seen_mark(f->s);
	assert_int_equal(db_exec(f->db, "SAVEPOINT job"), TLY_OK);
	for (int i = 200; i < 200 + SEEN_LOG_MAX; i++)
		assert_int_equal(take(f, i, 1000), 0);
	assert_true(count(f, "SELECT count(*) FROM seen") > 0);
	assert_int_equal(db_exec(f->db, "ROLLBACK TO job"), TLY_OK);
	assert_int_equal(seen_rollback(f->s, m), TLY_OK);
	assert_int_equal(db_exec(f->db, "RELEASE job"), TLY_OK);
	assert_int_equal(db_commit(f->db), TLY_OK);
	assert_int_equal(count(f, "SELECT count(*) FROM seen"), 0);
	assert_int_equal(take_range(f, 0, 300, 1000), 200);

	/* A whole transaction rolled back: seen_reload. */
	assert_int_equal(db_begin(f->db), TLY_OK);
	for (int i = 300; i < 400; i++)
		assert_int_equal(take(f, i, 1000), 0);
	assert_int_equal(db_rollback(f->db), TLY_OK);
	assert_int_equal(seen_reload(f->s), TLY_OK);
	assert_int_equal(take_range(f, 250, 400, 1000), 50);
	close_fx(f);
}

static void test_crash_keeps_the_log(void **state)
{
	struct fx *f = *state;

	open_fx(f);
	assert_int_equal(take_range(f, 0, 1000, 1000), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM seen_log"), 1000);
	/* What a kill -9 leaves: committed log rows, no mirror. */
	close_fx(f);
	open_fx(f);
	assert_int_equal(count(f, "SELECT count(*) FROM seen_log"), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM seen"), 1000);
	assert_int_equal(take_range(f, 0, 1001, 1000), 1000);
	close_fx(f);
}

/* Prune keys taken before before_ms (in a transaction of its own). */
static void prune(struct fx *f, int64_t before_ms)
{
	assert_int_equal(db_begin(f->db), TLY_OK);
	assert_int_equal(seen_prune(f->s, before_ms), TLY_OK);
	assert_int_equal(db_commit(f->db), TLY_OK);
}

static void test_prune(void **state)
{
	struct fx *f = *state;

	open_fx(f);
	assert_int_equal(take_range(f, 0, SEEN_LOG_MAX + 10, 1000), 0);
	assert_int_equal(take_range(f, 1000000, 1000010, 5000), 0);
	prune(f, 5000);
	/* Older than the window: taken again.  Within it: still seen. */
	assert_int_equal(take_range(f, 0, SEEN_LOG_MAX + 10, 6000), 0);
	assert_int_equal(take_range(f, 1000000, 1000010, 6000), 10);
	close_fx(f);
}

/* Keys taken at different times in one transaction keep their own. */
static void test_times_within_a_transaction(void **state)
{
	struct fx *f = *state;

	open_fx(f);
	assert_int_equal(db_begin(f->db), TLY_OK);
	for (int i = 0; i < 100; i++)
		assert_int_equal(take(f, i, i < 50 ? 1000 : 5000), 0);
	assert_int_equal(seen_flush(f->s), TLY_OK);
	assert_int_equal(db_commit(f->db), TLY_OK);
	assert_int_equal(count(f, "SELECT count(*) FROM seen_log "
			       "WHERE at = 1000"), 50);
	prune(f, 5000);
	assert_int_equal(take_range(f, 0, 100, 6000), 50);
	close_fx(f);
}

/* Merge what the log holds (in a transaction of its own). */
static void merge(struct fx *f)
{
	assert_int_equal(db_begin(f->db), TLY_OK);
	assert_int_equal(seen_merge(f->s), TLY_OK);
	assert_int_equal(db_commit(f->db), TLY_OK);
}

static void exec_ok(struct fx *f, const char *sql)
{
	assert_int_equal(sqlite3_exec(f->db, sql, NULL, NULL, NULL),
			 SQLITE_OK);
}

/*
 * A merge goes to a new run once the newest would grow past
 * SEEN_RUN_LOGS logs; lookups ask every run; pruning drops the runs
 * wholly before the window and trims the one its edge cuts.
 */
static void test_runs(void **state)
{
	struct fx *f = *state;
	char sql[160];

	open_fx(f);
	assert_int_equal(take_range(f, 0, 100, 1000), 0);
	merge(f);
	/* Run 0 as good as full (its count is what merges go by). */
	snprintf(sql, sizeof(sql), "UPDATE seen_runs SET keys = %d",
		 SEEN_RUN_LOGS * SEEN_LOG_MAX - 50);
	exec_ok(f, sql);
	assert_int_equal(take_range(f, 100, 200, 3000), 0);
	merge(f);
	assert_int_equal(take_range(f, 200, 210, 5000), 0);
	merge(f);
	assert_int_equal(count(f, "SELECT count(*) FROM seen_runs"), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM seen WHERE run = 1"),
			 110);
	assert_int_equal(count(f, "SELECT keys * 1000000 + oldest * 1000 + "
			       "newest / 1000 FROM seen_runs WHERE run = 1"),
			 110 * 1000000 + 3000 * 1000 + 5);
	assert_int_equal(take_range(f, 0, 210, 6000), 210);
	/* Run 0 (newest 1000) goes whole; run 1 stays. */
	prune(f, 2000);
	assert_int_equal(count(f, "SELECT count(*) FROM seen WHERE run = 0"),
			 0);
	assert_int_equal(count(f, "SELECT min(run) FROM seen_runs"), 1);
	assert_int_equal(take_range(f, 100, 210, 6000), 110);
	/* Run 1's edge: keys at 3000 go, those at 5000 stay. */
	prune(f, 4000);
	assert_int_equal(count(f, "SELECT count(*) FROM seen WHERE run = 1"),
			 10);
	assert_int_equal(take_range(f, 200, 210, 6000), 10);
	assert_int_equal(take_range(f, 100, 200, 6000), 0);
	close_fx(f);
}

/* A buffer of schema version 1: its keys become run 0 and still count. */
static void test_migration_2(void **state)
{
	struct fx *f = *state;
	struct seen_key k[20];
	sqlite3_stmt *st;
	int64_t seed;
	char tx[16];

	open_fx(f);
	seed = count(f, "SELECT value FROM meta WHERE key = 'fp_seed'");
	for (int i = 0; i < 20; i++) {
		snprintf(tx, sizeof(tx), "t%d", i);
		seen_key_of(f->s, "sub_1", NULL, tx, &k[i]);
	}
	close_fx(f);
	assert_int_equal(unlink(path), 0);
	/* Version 1, with the same seed, holding those keys. */
	assert_int_equal(db_open(&f->db, path, DB_SYNC_NORMAL, 1000), TLY_OK);
	assert_int_equal(db_migrate(f->db, schema, 1, "test"), TLY_OK);
	assert_int_equal(sqlite3_prepare_v2(f->db, "UPDATE meta SET value = ? "
			 "WHERE key = 'fp_seed'", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, seed);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO seen (fp, at) "
			 "VALUES (?, 1000)", -1, &st, NULL), SQLITE_OK);
	for (int i = 0; i < 20; i++) {
		sqlite3_bind_blob(st, 1, k[i].b, sizeof(k[i].b), SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	db_close(&f->db);
	open_fx(f);			/* migrates to 2 */
	assert_int_equal(count(f, "SELECT run * 1000 + keys FROM seen_runs"),
			 20);
	assert_int_equal(take_range(f, 0, 25, 2000), 20);
	close_fx(f);
}

static void test_sql_function(void **state)
{
	struct fx *f = *state;
	struct seen_key k;
	sqlite3_stmt *st;

	open_fx(f);
	seen_key_of(f->s, NULL, "acme", "tx-1", &k);
	assert_int_equal(sqlite3_prepare_v2(f->db, "SELECT "
			 "tally_fp(NULL, 'acme', 'tx-1')", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), sizeof(k.b));
	assert_memory_equal(sqlite3_column_blob(st, 0), k.b, sizeof(k.b));
	sqlite3_finalize(st);
	close_fx(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_keys_and_namespaces),
		T(test_merge_past_the_log),
		T(test_rollback),
		T(test_crash_keeps_the_log),
		T(test_prune),
		T(test_times_within_a_transaction),
		T(test_runs),
		T(test_migration_2),
		T(test_sql_function),
	};

	return cmocka_run_group_tests_name("seen", tests, NULL, NULL);
}
