/*
 * db.c - SQLite helpers: open, transactions, statements, migrations
 * (see db.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "log.h"

static int db_fail(sqlite3 *db, const char *what)
{
	log_error("sqlite: %s: %s", what, db ? sqlite3_errmsg(db) :
		  "cannot allocate a handle");
	return TLY_EDB;
}

void db_global_init(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int db_open(sqlite3 **out, const char *path, enum db_sync sync,
	    int busy_ms)
{
	static const char *const sync_sql[] = {
		"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
		"PRAGMA synchronous=FULL"};
	sqlite3 *db = NULL;
	int rc;

	*out = NULL;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_error("sqlite: cannot open %s: %s", path,
			  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return TLY_EDB;
	}
	sqlite3_busy_timeout(db, busy_ms);
	sqlite3_extended_result_codes(db, 1);
	if (db_exec(db, "PRAGMA journal_mode=WAL") != TLY_OK ||
	    db_exec(db, sync_sql[sync]) != TLY_OK ||
	    db_exec(db, "PRAGMA foreign_keys=ON") != TLY_OK) {
		sqlite3_close(db);
		return TLY_EDB;
	}
	*out = db;
	return TLY_OK;
}

void db_close(sqlite3 **db)
{
	if (!db || !*db)
		return;
	if (sqlite3_close(*db) != SQLITE_OK)
		log_warn("sqlite: close: %s (statements left open)",
			 sqlite3_errmsg(*db));
	*db = NULL;
}

int db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return TLY_OK;
	log_error("sqlite: %.80s: %s", sql, msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return TLY_EDB;
}

int db_begin(sqlite3 *db)
{
	return db_exec(db, "BEGIN IMMEDIATE");
}

int db_commit(sqlite3 *db)
{
	return db_exec(db, "COMMIT");
}

int db_rollback(sqlite3 *db)
{
	if (sqlite3_get_autocommit(db))
		return TLY_OK;
	return db_exec(db, "ROLLBACK");
}

int db_prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
			       NULL) == SQLITE_OK)
		return TLY_OK;
	*st = NULL;
	return db_fail(db, sql);
}

int db_prepare_rows(sqlite3 *db, sqlite3_stmt **st, const char *head,
		    int ncols, int nrows)
{
	size_t hlen = strlen(head), row = 2 * (size_t)ncols + 2, n, off;
	char *sql;
	int rc;

	*st = NULL;
	if (ncols < 1 || nrows < 1 || ncols * nrows > 32766)
		return TLY_EINVAL;	/* SQLite's parameter limit */
	n = hlen + sizeof(" VALUES ") + (size_t)nrows * row;
	sql = malloc(n);
	if (!sql)
		return TLY_ENOMEM;
	off = (size_t)snprintf(sql, n, "%s VALUES ", head);
	for (int r = 0; r < nrows; r++) {
		if (r)
			sql[off++] = ',';
		sql[off++] = '(';
		for (int c = 0; c < ncols; c++) {
			if (c)
				sql[off++] = ',';
			sql[off++] = '?';
		}
		sql[off++] = ')';
	}
	sql[off] = '\0';
	rc = db_prepare(db, st, sql);
	free(sql);
	return rc;
}

void db_finalize(sqlite3_stmt **st)
{
	if (!st || !*st)
		return;
	sqlite3_finalize(*st);
	*st = NULL;
}

int db_run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st), ret = TLY_OK;

	if (rc == SQLITE_CONSTRAINT_UNIQUE ||
	    rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		ret = TLY_EEXIST;
	} else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		ret = db_fail(sqlite3_db_handle(st), sqlite3_sql(st));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

int db_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int db_migrate(sqlite3 *db, const char *const *steps, int n,
	       const char *what)
{
	char bump[64];
	int v = db_version(db);

	if (v < 0)
		return db_fail(db, "PRAGMA user_version");
	if (v > n) {
		log_error("%s: schema version %d is newer than this program "
			  "knows (%d); upgrade tally", what, v, n);
		return TLY_EVERSION;
	}
	for (; v < n; v++) {
		if (db_begin(db) != TLY_OK)
			return TLY_EDB;
		snprintf(bump, sizeof(bump), "PRAGMA user_version=%d", v + 1);
		if (db_exec(db, steps[v]) != TLY_OK ||
		    db_exec(db, bump) != TLY_OK) {
			db_rollback(db);
			log_error("%s: migration to version %d failed", what,
				  v + 1);
			return TLY_EDB;
		}
		if (db_commit(db) != TLY_OK)
			return TLY_EDB;
		log_info("%s: schema migrated to version %d", what, v + 1);
	}
	return TLY_OK;
}
