/*
 * store.h - the collector's database, behind one interface and two
 * engines: SQLite (store_sqlite.c, the default) and, later, PostgreSQL.
 *
 * Callers write portable SQL once, with `?` placeholders; an engine may
 * rewrite them (PostgreSQL wants $1, $2, ...).  The SQL stays within what
 * both engines share: TEXT and BIGINT columns, INSERT ... ON CONFLICT,
 * RETURNING, no engine-specific functions.  Decimals are TEXT and every
 * arithmetic on money happens in C with dec_t, so both engines compute
 * the same amounts.  The schema and its migrations are per engine.
 *
 * Threading: a struct store is shared by all threads; each unit of work
 * takes a connection with store_acquire and gives it back with
 * store_release, or, for writes that must be durable before their caller
 * answers, hands a job to store_write (group commit, below).  SQLite has one connection (writes serialise anyway);
 * a PostgreSQL engine would keep a pool.  Statements are prepared once per
 * connection and cached by the address of their SQL text, so callers pass
 * string literals (or other static text).
 */
#ifndef TALLY_STORE_H
#define TALLY_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_conn;
struct store_stmt;

enum { STORE_ROW = 100, STORE_DONE = 101 };	/* store_step results */

/*
 * A write for store_write: run is called on a connection inside a
 * transaction that other callers' jobs may share.  It must not begin,
 * commit or roll back; it returns TLY_OK, or an error after which nothing
 * it wrote is kept, and the other jobs are not held back.  run may be
 * called more than once (when another job of its round fails, the round
 * is rolled back and run again without that one), so it must set its
 * outputs afresh each time; only the last call's count.
 */
struct store_job {
	int (*run)(struct store_conn *c, void *arg);
	void *arg;
	/* The store's own: */
	int rc;				/* run's result, or the commit's */
	int done;			/* its round is committed and flushed */
	int taken;			/* in a round under way */
	struct store_job *next;		/* queued after this one */
};

struct store_engine {
	const char *name;
	int (*open)(struct store **s, const char *target);
	void (*close)(struct store *s);
	struct store_conn *(*acquire)(struct store *s);
	void (*release)(struct store_conn *c);
	int (*exec)(struct store_conn *c, const char *sql);
	int (*prepare)(struct store_conn *c, const char *sql,
		       struct store_stmt **st);
	int (*bind_text)(struct store_stmt *st, int i, const char *v,
			 size_t len);
	int (*bind_i64)(struct store_stmt *st, int i, int64_t v);
	int (*bind_null)(struct store_stmt *st, int i);
	int (*step)(struct store_stmt *st);
	const char *(*col_text)(struct store_stmt *st, int i);
	int64_t (*col_i64)(struct store_stmt *st, int i);
	int (*col_null)(struct store_stmt *st, int i);
	void (*reset)(struct store_stmt *st);
	int64_t (*changes)(struct store_conn *c);
	uint64_t (*txn)(struct store_conn *c);
	uint64_t (*committed)(struct store_conn *c);
	int (*write)(struct store *s, struct store_job *j);
};

/*
 * Open "sqlite:PATH" (or a bare path) and run its migrations.  Returns
 * TLY_OK, TLY_ECONFIG for a URL no engine takes (the message is logged),
 * TLY_EDB, TLY_EVERSION.
 */
int store_open(struct store **s, const char *url);
void store_close(struct store **s);		/* NULL-safe */

struct store_conn *store_acquire(struct store *s);	/* blocks */
void store_release(struct store_conn *c);

/*
 * Group commit: run j durably and return when the transaction that holds
 * it has committed.  Jobs queued while a commit is under way are taken
 * together by the next caller to get the connection (the leader), run one
 * after the other in one transaction, and committed once: concurrent requests share a commit and its fsync, and each caller
 * still answers only after its own writes are durable.  Returns j's own
 * result, or the commit's failure (then nothing of the round is kept).
 * The caller must not hold a connection of s.  Blocks.
 */
int store_write(struct store *s, struct store_job *j);

/* Transactions on a connection; rollback is harmless when none is open. */
int store_begin(struct store_conn *c);
int store_commit(struct store_conn *c);
int store_rollback(struct store_conn *c);

/*
 * Prepared statements, cached per connection by the address of sql.
 * Binding indexes start at 1; column indexes at 0.  A statement is reset
 * with its bindings cleared by store_reset, and by store_prepare when it
 * is taken from the cache.
 */
int store_prepare(struct store_conn *c, const char *sql,
		  struct store_stmt **st);
int store_bind_text(struct store_stmt *st, int i, const char *v);
int store_bind_textn(struct store_stmt *st, int i, const char *v,
		     size_t len);
int store_bind_i64(struct store_stmt *st, int i, int64_t v);
int store_bind_null(struct store_stmt *st, int i);

/* STORE_ROW, STORE_DONE, TLY_EEXIST (a unique key conflict) or TLY_EDB. */
int store_step(struct store_stmt *st);
const char *store_col_text(struct store_stmt *st, int i); /* NULL if NULL */
int64_t store_col_i64(struct store_stmt *st, int i);
int store_col_null(struct store_stmt *st, int i);
void store_reset(struct store_stmt *st);

/* Step to the end (for writes): TLY_OK, TLY_EEXIST or TLY_EDB; resets. */
int store_run(struct store_stmt *st);

/* Rows changed by the last write on c. */
int64_t store_changes(struct store_conn *c);

/*
 * A number that changes each time a transaction begins on c (store_begin,
 * or a store_write round, each of its tries): a module that keeps a cache
 * of the database in memory can tell when to bring it up to date.
 */
uint64_t store_txn(struct store_conn *c);

/* The store_txn of the last transaction that committed on c, or 0: a
 * cache can keep what that transaction added. */
uint64_t store_committed(struct store_conn *c);

/* Run SQL text with no parameters and no results. */
int store_exec(struct store_conn *c, const char *sql);

/* Engines. */
extern const struct store_engine store_sqlite_engine;

#endif
