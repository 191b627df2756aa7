/*
 * db.c - SQLite helpers: open, transactions, statements, migrations
 * (see db.h).
 */
#include <pthread.h>
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

int db_rows_prepare(sqlite3 *db, struct db_rows *r, const char *head,
		    int ncols, int max_rows)
{
	int rc = TLY_OK;

	r->nsizes = 0;
	if (max_rows < 1 || (max_rows & (max_rows - 1)) ||
	    max_rows > 1 << (DB_ROWS_SIZES - 1))
		return TLY_EINVAL;
	for (int rows = 1; rc == TLY_OK && rows <= max_rows; rows *= 2) {
		rc = db_prepare_rows(db, &r->st[r->nsizes], head, ncols, rows);
		if (rc == TLY_OK)
			r->nsizes++;
	}
	if (rc != TLY_OK)
		db_rows_finalize(r);
	return rc;
}

sqlite3_stmt *db_rows_pick(const struct db_rows *r, size_t n, size_t *rows)
{
	int i = r->nsizes - 1;

	while (i > 0 && ((size_t)1 << i) > n)
		i--;
	*rows = (size_t)1 << i;
	return r->st[i];
}

void db_rows_finalize(struct db_rows *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->nsizes; i++)
		db_finalize(&r->st[i]);
	r->nsizes = 0;
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

/* ---- The background checkpointer ---------------------------------------- */

struct db_ckpt {
	sqlite3 *writer;
	sqlite3 *db;			/* the checkpointer's own connection */
	int frames;			/* wake at this many WAL frames */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int due, stop;
};

/*
 * The writer's WAL hook, run after each commit: wakes the thread.  While
 * the writer keeps writing, a PASSIVE checkpoint may never catch up with
 * the WAL's end, and only a caught-up WAL is reused from its start; past
 * four times the threshold the writer checkpoints once itself, as SQLite
 * would have (busy if the thread is at it: then at a later commit).
 */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct db_ckpt *c = arg;

	if (frames >= 4 * c->frames) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
					  NULL, NULL);
	} else if (frames >= c->frames) {
		pthread_mutex_lock(&c->mu);
		c->due = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
	}
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	struct db_ckpt *c = arg;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		int rc;

		while (!c->due && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		c->due = 0;
		pthread_mutex_unlock(&c->mu);
		rc = sqlite3_wal_checkpoint_v2(c->db, "main",
					       SQLITE_CHECKPOINT_PASSIVE,
					       NULL, NULL);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_warn("sqlite: background checkpoint: %s; the WAL "
				 "grows until one succeeds",
				 sqlite3_errmsg(c->db));
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int db_ckpt_start(struct db_ckpt **out, sqlite3 *writer, const char *path,
		  enum db_sync sync, int frames)
{
	struct db_ckpt *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return TLY_ENOMEM;
	c->writer = writer;
	c->frames = frames > 0 ? frames : 1000;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	rc = db_open(&c->db, path, sync, 10000);
	if (rc == TLY_OK && pthread_create(&c->thread, NULL, ckpt_main, c)) {
		log_error("sqlite: cannot start the checkpoint thread");
		rc = TLY_EIO;
	}
	if (rc != TLY_OK) {
		db_close(&c->db);
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c);
		return rc;
	}
	sqlite3_wal_hook(writer, ckpt_hook, c);
	*out = c;
	return TLY_OK;
}

void db_ckpt_stop(struct db_ckpt **cp)
{
	struct db_ckpt *c = cp ? *cp : NULL;

	if (!c)
		return;
	/* Back to SQLite's own checkpoints for what the writer does next. */
	sqlite3_wal_autocheckpoint(c->writer, 1000);
	pthread_mutex_lock(&c->mu);
	c->stop = 1;	/* the writer's thread is done with it: see db.h */
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	db_close(&c->db);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
	*cp = NULL;
}
