/*
 * db.h - SQLite helpers shared by the agent's buffer and the collector's
 * SQLite store.
 *
 * db_open opens (creating if needed) a database in WAL mode with a busy
 * timeout, foreign keys on, and the synchronous level the caller chooses:
 * NORMAL survives a process crash, FULL survives power loss.  Migrations
 * are an ordered array of SQL scripts; PRAGMA user_version records how many
 * have run, and each runs in its own transaction together with the bump,
 * so a crash mid-migration leaves the previous version intact.
 *
 * Errors are returned as TLY_EDB with the SQLite message logged, naming
 * the statement or file, so callers only decide what to do about them.
 */
#ifndef TALLY_DB_H
#define TALLY_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

enum db_sync { DB_SYNC_OFF, DB_SYNC_NORMAL, DB_SYNC_FULL };

/*
 * Process-wide SQLite settings; call first thing in main, before any
 * other SQLite call: allocation statistics off (they take a global mutex
 * on every malloc and free, and nothing reads them).
 */
void db_global_init(void);

/* Open path (":memory:" works) with WAL, busy timeout in ms, sync level. */
int db_open(sqlite3 **out, const char *path, enum db_sync sync,
	    int busy_ms);

/* Close; NULL-safe.  Sets *db to NULL. */
void db_close(sqlite3 **db);

/* Run SQL with no results (DDL, pragmas, several statements). */
int db_exec(sqlite3 *db, const char *sql);

/* BEGIN IMMEDIATE (takes the write lock now), COMMIT, ROLLBACK. */
int db_begin(sqlite3 *db);
int db_commit(sqlite3 *db);
int db_rollback(sqlite3 *db);	/* harmless when no transaction is open */

/* Prepare a statement that lives long (SQLITE_PREPARE_PERSISTENT). */
int db_prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql);

/*
 * Prepare "<head> VALUES (?,...),(?,...)...": nrows rows of ncols
 * parameters each, row r's column c being parameter r * ncols + c + 1.
 * One such INSERT costs SQLite one statement run for nrows rows, which
 * is most of what a row costs when rows are small.
 */
int db_prepare_rows(sqlite3 *db, sqlite3_stmt **st, const char *head,
		    int ncols, int nrows);

/*
 * db_prepare_rows for 1, 2, 4 ... max_rows rows (max_rows a power of two,
 * at most 2^(DB_ROWS_SIZES - 1)), so that any number of rows goes in as
 * at most log2(max_rows) + 1 statement runs, not one run a row.
 */
#define DB_ROWS_SIZES 8
struct db_rows {
	sqlite3_stmt *st[DB_ROWS_SIZES];	/* st[i]: 2^i rows */
	int nsizes;
};

int db_rows_prepare(sqlite3 *db, struct db_rows *r, const char *head,
		    int ncols, int max_rows);
/* The statement for the most rows (a power of two) not past n >= 1, and
 * that many in *rows. */
sqlite3_stmt *db_rows_pick(const struct db_rows *r, size_t n, size_t *rows);
void db_rows_finalize(struct db_rows *r);	/* NULL-safe */

/* Finalize; NULL-safe.  Sets *st to NULL. */
void db_finalize(sqlite3_stmt **st);

/*
 * Step a statement that returns no row (INSERT, UPDATE, DELETE) and
 * reset it with its bindings cleared.  TLY_OK, TLY_EEXIST on a UNIQUE or
 * PRIMARY KEY conflict, TLY_EDB otherwise.
 */
int db_run(sqlite3_stmt *st);

/*
 * A background checkpointer for a database's writer connection.  SQLite
 * checkpoints inside the commit that crosses wal_autocheckpoint: the
 * writer then copies the WAL into the database and fsyncs it while every
 * caller waits (the agent's intake: ~300k -> ~325k ev/s in make bench
 * with it; the collector's group commit measured slower, its random
 * index pages make checkpoints long and they then compete).  This
 * takes the job to a thread of its own, with its own connection, woken by
 * the writer's WAL hook (which also turns SQLite's auto-checkpoint off on
 * that connection) once `frames` frames are in the WAL; it runs PASSIVE
 * checkpoints, which never wait for the writer.  The WAL is reused from
 * its start once a checkpoint has caught up.  Not for ":memory:".
 */
struct db_ckpt;
int db_ckpt_start(struct db_ckpt **out, sqlite3 *writer, const char *path,
		  enum db_sync sync, int frames);
/* NULL-safe; detaches the hook: call once no thread uses the writer. */
void db_ckpt_stop(struct db_ckpt **c);

/* Current PRAGMA user_version, or -1 on error. */
int db_version(sqlite3 *db);

/*
 * Bring the schema to version n by running steps[v..n) in order, each in
 * its own transaction with the user_version bump.  A database newer than
 * n is refused (TLY_EVERSION): an old binary must not write a schema it
 * does not know.  `what` names the database in messages.
 */
int db_migrate(sqlite3 *db, const char *const *steps, int n,
	       const char *what);

#endif
