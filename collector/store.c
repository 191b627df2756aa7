/*
 * store.c - engine selection and the calls callers make (see store.h).
 *
 * struct store and friends are engine-defined; every engine's structs
 * begin with a pointer to its struct store_engine, which is all this file
 * looks at (ENGINE).
 */
#include <string.h>

#include "err.h"
#include "log.h"
#include "store.h"

/* A pointer to a struct points to its first member (C11 6.7.2.1). */
#define ENGINE(obj) (*(const struct store_engine *const *)(const void *)(obj))

int store_open(struct store **s, const char *url)
{
	*s = NULL;
	if (strncmp(url, "sqlite:", 7) == 0)
		return store_sqlite_engine.open(s, url + 7);
	if (strncmp(url, "postgres://", 11) == 0 ||
	    strncmp(url, "postgresql://", 13) == 0) {
		log_error("store: the PostgreSQL engine is not built yet; "
			  "use --db sqlite:PATH");
		return TLY_ECONFIG;
	}
	if (strstr(url, "://")) {
		log_error("store: '%s' is not a database URL I know: use "
			  "sqlite:PATH or postgresql://...", url);
		return TLY_ECONFIG;
	}
	return store_sqlite_engine.open(s, url);
}

void store_close(struct store **s)
{
	if (!s || !*s)
		return;
	ENGINE(*s)->close(*s);
	*s = NULL;
}

struct store_conn *store_acquire(struct store *s)
{
	return ENGINE(s)->acquire(s);
}

void store_release(struct store_conn *c)
{
	if (c)
		ENGINE(c)->release(c);
}

int store_write(struct store *s, struct store_job *j)
{
	return ENGINE(s)->write(s, j);
}

int store_exec(struct store_conn *c, const char *sql)
{
	return ENGINE(c)->exec(c, sql);
}

int store_begin(struct store_conn *c)
{
	return ENGINE(c)->exec(c, "BEGIN");
}

int store_commit(struct store_conn *c)
{
	return ENGINE(c)->exec(c, "COMMIT");
}

int store_rollback(struct store_conn *c)
{
	return ENGINE(c)->exec(c, "ROLLBACK");
}

int store_prepare(struct store_conn *c, const char *sql,
		  struct store_stmt **st)
{
	return ENGINE(c)->prepare(c, sql, st);
}

int store_bind_text(struct store_stmt *st, int i, const char *v)
{
	if (!v)
		return ENGINE(st)->bind_null(st, i);
	return ENGINE(st)->bind_text(st, i, v, strlen(v));
}

int store_bind_textn(struct store_stmt *st, int i, const char *v, size_t len)
{
	return ENGINE(st)->bind_text(st, i, v, len);
}

int store_bind_i64(struct store_stmt *st, int i, int64_t v)
{
	return ENGINE(st)->bind_i64(st, i, v);
}

int store_bind_null(struct store_stmt *st, int i)
{
	return ENGINE(st)->bind_null(st, i);
}

int store_step(struct store_stmt *st)
{
	return ENGINE(st)->step(st);
}

const char *store_col_text(struct store_stmt *st, int i)
{
	return ENGINE(st)->col_text(st, i);
}

int64_t store_col_i64(struct store_stmt *st, int i)
{
	return ENGINE(st)->col_i64(st, i);
}

int store_col_null(struct store_stmt *st, int i)
{
	return ENGINE(st)->col_null(st, i);
}

void store_reset(struct store_stmt *st)
{
	ENGINE(st)->reset(st);
}

int store_run(struct store_stmt *st)
{
	int rc = ENGINE(st)->step(st);

	ENGINE(st)->reset(st);
	if (rc == STORE_DONE || rc == STORE_ROW)
		return TLY_OK;
	return rc;
}

int64_t store_changes(struct store_conn *c)
{
	return ENGINE(c)->changes(c);
}

uint64_t store_txn(struct store_conn *c)
{
	return ENGINE(c)->txn(c);
}

uint64_t store_committed(struct store_conn *c)
{
	return ENGINE(c)->committed(c);
}
