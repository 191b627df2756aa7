/*
 * test_db.c - SQLite helpers: WAL, migrations, conflicts, rollback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "err.h"
#include "log.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/tally-db-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	log_init("test", LOG_ERROR + 1);	/* quiet: errors are expected */
	return 0;
}

static int teardown(void **state)
{
	char p[160];

	(void)state;
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	unlink(path);
	rmdir(dir);
	return 0;
}

static const char *text1(sqlite3 *db, const char *sql, char *buf, size_t n)
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	buf[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, n, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

static const char *const steps[] = {
	"CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT UNIQUE);",
	"CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (7);",
};

static void test_open_wal_and_sync(void **state)
{
	sqlite3 *db;
	char buf[32];

	(void)state;
	assert_int_equal(db_open(&db, path, DB_SYNC_FULL, 1000), TLY_OK);
	assert_string_equal(text1(db, "PRAGMA journal_mode", buf, sizeof(buf)),
			    "wal");
	assert_string_equal(text1(db, "PRAGMA synchronous", buf, sizeof(buf)),
			    "2");
	assert_string_equal(text1(db, "PRAGMA foreign_keys", buf, sizeof(buf)),
			    "1");
	db_close(&db);
	assert_null(db);
	db_close(&db);	/* NULL-safe */
}

static void test_open_fails_cleanly(void **state)
{
	sqlite3 *db = (sqlite3 *)1;

	(void)state;
	assert_int_equal(db_open(&db, "/nonexistent-dir/x/t.db", DB_SYNC_NORMAL,
				 100), TLY_EDB);
	assert_null(db);
}

static void test_migrate(void **state)
{
	sqlite3 *db;
	char buf[32];

	(void)state;
	assert_int_equal(db_open(&db, path, DB_SYNC_NORMAL, 1000), TLY_OK);
	assert_int_equal(db_version(db), 0);
	assert_int_equal(db_migrate(db, steps, 1, "t"), TLY_OK);
	assert_int_equal(db_version(db), 1);
	assert_int_equal(db_migrate(db, steps, 2, "t"), TLY_OK);
	assert_int_equal(db_version(db), 2);
	/* Running again changes nothing: b still has one row. */
	assert_int_equal(db_migrate(db, steps, 2, "t"), TLY_OK);
	assert_string_equal(text1(db, "SELECT count(*) FROM b", buf,
				  sizeof(buf)), "1");
	/* An older binary refuses a newer schema. */
	assert_int_equal(db_migrate(db, steps, 1, "t"), TLY_EVERSION);
	db_close(&db);
}

static void test_failed_migration_rolls_back(void **state)
{
	static const char *const bad[] = {
		"CREATE TABLE a (id INTEGER);",
		"CREATE TABLE c (x INTEGER); INSERT INTO nowhere VALUES (1);",
	};
	sqlite3 *db;
	char buf[32];

	(void)state;
	assert_int_equal(db_open(&db, path, DB_SYNC_NORMAL, 1000), TLY_OK);
	assert_int_equal(db_migrate(db, bad, 2, "t"), TLY_EDB);
	assert_int_equal(db_version(db), 1);
	assert_string_equal(text1(db, "SELECT count(*) FROM sqlite_master "
				      "WHERE name='c'", buf, sizeof(buf)), "0");
	db_close(&db);
}

static void test_run_conflict_and_rollback(void **state)
{
	sqlite3 *db;
	sqlite3_stmt *ins;
	char buf[32];

	(void)state;
	assert_int_equal(db_open(&db, path, DB_SYNC_NORMAL, 1000), TLY_OK);
	assert_int_equal(db_migrate(db, steps, 1, "t"), TLY_OK);
	assert_int_equal(db_prepare(db, &ins, "INSERT INTO a(name) VALUES (?)"),
			 TLY_OK);
	assert_int_equal(db_begin(db), TLY_OK);
	sqlite3_bind_text(ins, 1, "x", -1, SQLITE_STATIC);
	assert_int_equal(db_run(ins), TLY_OK);
	sqlite3_bind_text(ins, 1, "x", -1, SQLITE_STATIC);
	assert_int_equal(db_run(ins), TLY_EEXIST);
	assert_int_equal(db_rollback(db), TLY_OK);
	assert_string_equal(text1(db, "SELECT count(*) FROM a", buf,
				  sizeof(buf)), "0");
	assert_int_equal(db_rollback(db), TLY_OK);	/* none open: fine */
	db_finalize(&ins);
	assert_null(ins);
	assert_int_equal(db_prepare(db, &ins, "SELEC 1"), TLY_EDB);
	assert_null(ins);
	db_finalize(&ins);
	db_close(&db);
}

static void test_prepare_rows(void **state)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL, *q = NULL;

	(void)state;
	assert_int_equal(db_open(&db, path, DB_SYNC_NORMAL, 1000), TLY_OK);
	assert_int_equal(db_exec(db, "CREATE TABLE t (a INTEGER, b TEXT)"),
			 TLY_OK);
	assert_int_equal(db_prepare_rows(db, &st, "INSERT INTO t (a, b)", 2, 3),
			 TLY_OK);
	assert_string_equal(sqlite3_sql(st), "INSERT INTO t (a, b) VALUES "
			    "(?,?),(?,?),(?,?)");
	/* Row r, column c is parameter r * ncols + c + 1. */
	for (int r = 0; r < 3; r++) {
		sqlite3_bind_int(st, r * 2 + 1, r);
		sqlite3_bind_text(st, r * 2 + 2, r == 1 ? "one" : "x", -1,
				  SQLITE_STATIC);
	}
	assert_int_equal(db_run(st), TLY_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), "
			 "group_concat(a || b, ',') FROM t", -1, &q, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 3);
	assert_string_equal((const char *)sqlite3_column_text(q, 1),
			    "0x,1one,2x");
	sqlite3_finalize(q);
	db_finalize(&st);
	/* Past SQLite's parameter limit, or empty: refused, nothing made. */
	assert_int_equal(db_prepare_rows(db, &st, "INSERT INTO t (a, b)", 2,
					 20000), TLY_EINVAL);
	assert_null(st);
	assert_int_equal(db_prepare_rows(db, &st, "INSERT INTO t (a, b)", 0, 1),
			 TLY_EINVAL);
	db_close(&db);
}

/* Any count of rows in at most log2(max) + 1 runs, in order. */
static void test_rows_family(void **state)
{
	struct db_rows r;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	size_t take, runs = 0, done = 0;

	(void)state;
	assert_int_equal(db_open(&db, path, DB_SYNC_NORMAL, 1000), TLY_OK);
	assert_int_equal(db_exec(db, "CREATE TABLE t (a INTEGER)"), TLY_OK);
	assert_int_equal(db_rows_prepare(db, &r, "INSERT INTO t (a)", 1, 8),
			 TLY_OK);
	assert_int_equal(r.nsizes, 4);
	assert_non_null(db_rows_pick(&r, 100, &take));
	assert_int_equal(take, 8);
	db_rows_pick(&r, 7, &take);
	assert_int_equal(take, 4);
	db_rows_pick(&r, 1, &take);
	assert_int_equal(take, 1);
	for (; done < 23; done += take, runs++) {
		sqlite3_stmt *st = db_rows_pick(&r, 23 - done, &take);

		for (size_t i = 0; i < take; i++)
			sqlite3_bind_int(st, (int)i + 1, (int)(done + i));
		assert_int_equal(db_run(st), TLY_OK);
	}
	assert_int_equal(runs, 2 + 1 + 1 + 1);	/* 8, 8, 4, 2, 1 */
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), sum(a), "
			 "group_concat(a) FROM t", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 23);
	assert_int_equal(sqlite3_column_int(q, 1), 22 * 23 / 2);
	sqlite3_finalize(q);
	db_rows_finalize(&r);
	assert_int_equal(r.nsizes, 0);
	/* Not a power of two, or past the sizes kept: refused. */
	assert_int_equal(db_rows_prepare(db, &r, "INSERT INTO t (a)", 1, 6),
			 TLY_EINVAL);
	assert_int_equal(db_rows_prepare(db, &r, "INSERT INTO t (a)", 1,
					 1 << DB_ROWS_SIZES), TLY_EINVAL);
	db_close(&db);
}

static long file_size(const char *p)
{
	FILE *f = fopen(p, "rb");
	long n;

	if (!f)
		return 0;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

/* The thread, not the writer, copies the WAL into the database. */
static void test_background_checkpoint(void **state)
{
	struct db_ckpt *ck = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long before;
	char blob[3000];

	(void)state;
	memset(blob, 'b', sizeof(blob));
	assert_int_equal(db_open(&db, path, DB_SYNC_NORMAL, 1000), TLY_OK);
	assert_int_equal(db_exec(db, "CREATE TABLE t (b BLOB)"), TLY_OK);
	assert_int_equal(db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)"),
			 TLY_OK);
	before = file_size(path);
	assert_int_equal(db_ckpt_start(&ck, db, path, DB_SYNC_NORMAL, 50),
			 TLY_OK);
	assert_int_equal(db_prepare(db, &st, "INSERT INTO t VALUES (?)"),
			 TLY_OK);
	/* 60 commits of a page or more: past 50 frames, short of the 200
	 * at which the writer would checkpoint itself. */
	for (int i = 0; i < 60; i++) {
		sqlite3_bind_blob(st, 1, blob, sizeof(blob), SQLITE_STATIC);
		assert_int_equal(db_run(st), TLY_OK);
	}
	for (int i = 0; i < 500 && file_size(path) <= before; i++)
		usleep(10000);		/* at most 5 s */
	assert_true(file_size(path) > before);
	db_finalize(&st);
	db_ckpt_stop(&ck);
	assert_null(ck);
	db_ckpt_stop(&ck);		/* NULL-safe */
	db_close(&db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_open_wal_and_sync),
		T(test_open_fails_cleanly),
		T(test_migrate),
		T(test_failed_migration_rolls_back),
		T(test_run_conflict_and_rollback),
		T(test_prepare_rows),
		T(test_rows_family),
		T(test_background_checkpoint),
	};

	return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
