/*
 * store_sqlite.c - the SQLite engine of the collector's store (store.h).
 *
 * One connection, in WAL mode with synchronous=FULL (an acknowledged batch
 * must survive power loss), guarded by a mutex: SQLite serialises writers
 * anyway, and one connection lets every statement be prepared once.  The
 * statement cache is an open-addressed table keyed by the address of the
 * SQL text.
 *
 * THREADING: `lock` guards the connection.  store_write's queue has its
 * own lock, `qlock`, taken never while waiting for `lock`: a caller queues
 * its job under qlock; if no round is under way it becomes the leader,
 * drops qlock, takes the connection, picks up every job queued by then and
 * runs the round (sq_round).  A round commits with synchronous=NORMAL:
 * its WAL frames are written, not yet flushed.  The leader then gives the
 * connection back, lets the next leader start (`leading` = 0), flushes
 * the WAL itself (fdatasync, on its own descriptor of the -wal file) and
 * only then marks its jobs done and wakes their callers.  So the next
 * round's statements overlap this round's flush, and no caller hears of
 * its write before the write is durable.  Every other write (store_begin
 * ... store_commit) commits with synchronous=FULL as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "err.h"
#include "evkey.h"
#include "log.h"
#include "store.h"

#define SQ_CACHE 256		/* statements per connection, a power of 2 */

struct store_stmt {
	const struct store_engine *e;
	sqlite3_stmt *st;
	const char *sql;	/* cache key */
};

struct store_conn {
	const struct store_engine *e;
	sqlite3 *db;
	uint64_t txn;			/* transactions begun (store_txn) */
	uint64_t committed;		/* the txn last committed */
	struct store_stmt cache[SQ_CACHE];
};

struct store {
	const struct store_engine *e;
	pthread_mutex_t lock;		/* the connection */
	pthread_mutex_t qlock;		/* head, tail, leading */
	pthread_cond_t qdone;		/* a round has ended */
	struct store_job *head, *tail;	/* jobs waiting for a round */
	int leading;			/* a caller is running a round */
	int wal_fd;			/* the -wal file, for sq_flush; -1 */
	struct store_conn conn;
};

/*
 * Schema versions; each step runs once, in order, in its own transaction
 * (db_migrate).  Append new steps; never edit a released one.
 */
static const char *const sq_migrations[] = {
	/* 1: agents, batches, usage, events, billing objects */
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"INSERT INTO meta VALUES ('catalog_version', '1');"
	"CREATE TABLE agents ("
	"  id TEXT PRIMARY KEY,"
	"  key_id TEXT NOT NULL UNIQUE,"	/* public part of the token */
	"  token_hash TEXT NOT NULL,"		/* SHA-256 of the whole token */
	"  created_at INTEGER NOT NULL,"
	"  revoked_at INTEGER,"
	"  batches INTEGER NOT NULL DEFAULT 0,"
	"  events_received INTEGER NOT NULL DEFAULT 0,"
	"  events_duplicate INTEGER NOT NULL DEFAULT 0,"
	"  last_seq INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE batches ("
	"  agent_id TEXT NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  events_total INTEGER NOT NULL,"
	"  records INTEGER NOT NULL,"
	"  applied_at INTEGER NOT NULL,"
	"  PRIMARY KEY (agent_id, seq));"
	/* Pre-aggregated usage, merged per minute; decimals as text. */
	"CREATE TABLE usage ("
	"  sub TEXT NOT NULL, code TEXT NOT NULL,"
	"  filters TEXT NOT NULL,"		/* canonical JSON, sorted keys */
	"  minute INTEGER NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  sum TEXT, max TEXT, latest TEXT, latest_ts INTEGER,"
	"  PRIMARY KEY (sub, code, filters, minute));"
	"CREATE TABLE usage_distinct ("
	"  sub TEXT NOT NULL, code TEXT NOT NULL, filters TEXT NOT NULL,"
	"  minute INTEGER NOT NULL, value TEXT NOT NULL,"
	"  PRIMARY KEY (sub, code, filters, minute, value));"
	/* Whole events; sub_key is the subscription, or 'customer:'||id.
	 * Raw events arrive at up to 1e5/s with random transaction ids, and
	 * every random index costs a dirty page per event: lago_ids are
	 * time-ordered (util_uuid7), so their index appends, and the one
	 * random index, unique on (transaction_id, sub_key), also serves
	 * GET /api/v1/events/:transaction_id through its prefix. */
	"CREATE TABLE events ("
	"  lago_id TEXT PRIMARY KEY,"
	"  sub_key TEXT NOT NULL,"
	"  transaction_id TEXT NOT NULL,"
	"  sub TEXT, customer TEXT,"
	"  code TEXT NOT NULL,"
	"  ts_ms INTEGER NOT NULL,"
	"  properties TEXT NOT NULL,"
	"  precise_total_amount_cents TEXT,"
	"  source TEXT NOT NULL,"		/* 'api' or the agent id */
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (transaction_id, sub_key));"
	"CREATE INDEX events_by_sub ON events (sub, code, ts_ms);"
	/* Billing objects keep Lago's JSON as `doc`, with keys as columns. */
	"CREATE TABLE customers ("
	"  lago_id TEXT PRIMARY KEY,"
	"  external_id TEXT NOT NULL,"
	"  sequential_id INTEGER NOT NULL,"
	"  doc TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"		/* Unix ms */
	"  updated_at INTEGER NOT NULL,"
	"  deleted_at INTEGER);"
	"CREATE UNIQUE INDEX customers_live ON customers (external_id)"
	"  WHERE deleted_at IS NULL;"
	"CREATE TABLE billable_metrics ("
	"  lago_id TEXT PRIMARY KEY,"
	"  code TEXT NOT NULL,"
	"  doc TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  deleted_at INTEGER);"
	"CREATE UNIQUE INDEX billable_metrics_live ON billable_metrics (code)"
	"  WHERE deleted_at IS NULL;"
	"CREATE TABLE taxes ("
	"  lago_id TEXT PRIMARY KEY,"
	"  code TEXT NOT NULL UNIQUE,"
	"  doc TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE plans ("
	"  lago_id TEXT PRIMARY KEY,"
	"  code TEXT NOT NULL,"
	"  doc TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  deleted_at INTEGER);"
	"CREATE UNIQUE INDEX plans_live ON plans (code)"
	"  WHERE deleted_at IS NULL;"
	/* Lago's lifecycle in columns, times in Unix ms; status is pending,
	 * active, terminated or canceled; previous_id chains a plan change
	 * to the subscription it replaces; doc holds on_termination_*. */
	/* Events of pay-in-advance charges, each billed once. */
	"CREATE TABLE advance_billed ("
	"  event_id TEXT PRIMARY KEY,"
	"  invoice_id TEXT NOT NULL);"
	"CREATE TABLE subscriptions ("
	"  lago_id TEXT PRIMARY KEY,"
	"  external_id TEXT NOT NULL,"
	"  customer_id TEXT NOT NULL REFERENCES customers (lago_id),"
	"  plan_id TEXT NOT NULL REFERENCES plans (lago_id),"
	"  previous_id TEXT REFERENCES subscriptions (lago_id),"
	"  status TEXT NOT NULL,"
	"  billing_time TEXT NOT NULL,"	/* calendar|anniversary */
	"  name TEXT,"
	"  subscription_at INTEGER NOT NULL,"
	"  started_at INTEGER,"
	"  ending_at INTEGER,"
	"  terminated_at INTEGER,"
	"  canceled_at INTEGER,"
	"  trial_ended_at INTEGER,"
	"  doc TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE INDEX subscriptions_by_ext ON subscriptions"
	"  (external_id, status);"
	/* Coupons (api_coupons.c): the doc holds Lago's attributes and the
	 * targets' lago_ids; status is active|terminated (expired); a
	 * delete is soft.  Applied coupons keep their terms and state in
	 * columns (coupon.c counts them down); seq orders them as made.
	 * coupon_credits are the coupons' credits on invoices. */
	"CREATE TABLE coupons ("
	"  lago_id TEXT PRIMARY KEY,"
	"  code TEXT,"
	"  status TEXT NOT NULL,"
	"  expiration TEXT NOT NULL,"		/* no_expiration|time_limit */
	"  expiration_at INTEGER,"
	"  doc TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  terminated_at INTEGER,"
	"  deleted_at INTEGER);"
	"CREATE UNIQUE INDEX coupons_live ON coupons (code)"
	"  WHERE deleted_at IS NULL;"
	"CREATE TABLE applied_coupons ("
	"  lago_id TEXT PRIMARY KEY,"
	"  seq INTEGER NOT NULL UNIQUE,"
	"  coupon_id TEXT NOT NULL REFERENCES coupons (lago_id),"
	"  customer_id TEXT NOT NULL REFERENCES customers (lago_id),"
	"  status TEXT NOT NULL,"		/* active|terminated */
	"  amount_cents INTEGER,"
	"  amount_currency TEXT,"
	"  amount_cents_remaining INTEGER,"	/* fixed once only */
	"  percentage_rate TEXT,"
	"  frequency TEXT NOT NULL,"		/* once|recurring|forever */
	"  frequency_duration INTEGER,"
	"  frequency_duration_remaining INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  terminated_at INTEGER);"
	"CREATE INDEX applied_coupons_by_customer ON applied_coupons"
	"  (customer_id, status, seq);"
	"CREATE INDEX applied_coupons_by_coupon ON applied_coupons"
	"  (coupon_id, status);"
	"CREATE TABLE coupon_credits ("
	"  lago_id TEXT PRIMARY KEY,"
	"  applied_coupon_id TEXT NOT NULL"
	"    REFERENCES applied_coupons (lago_id),"
	"  invoice_id TEXT NOT NULL,"
	"  amount_cents INTEGER NOT NULL,"
	"  amount_currency TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (applied_coupon_id, invoice_id));"
	/* Invoices: one per (subscription, period start, kind); the doc
	 * holds the fees and totals; numbers are given at finalization. */
	"CREATE TABLE invoices ("
	"  lago_id TEXT PRIMARY KEY,"
	"  subscription_id TEXT NOT NULL REFERENCES subscriptions (lago_id),"
	"  customer_id TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"			/* subscription|termination */
	"  from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL,"
	"  charges_from_ms INTEGER NOT NULL, charges_to_ms INTEGER NOT NULL,"
	"  period_days INTEGER NOT NULL, fee_days INTEGER NOT NULL,"
	"  bill_subscription INTEGER NOT NULL, bill_charges INTEGER NOT NULL,"
	"  prev_days INTEGER NOT NULL DEFAULT 0,"	/* in advance: the */
	"  prev_fee_days INTEGER NOT NULL DEFAULT 0,"	/* settled period */
	"  issuing_ms INTEGER NOT NULL,"
	"  status TEXT NOT NULL,"		/* draft|finalized */
	"  sequential_id INTEGER UNIQUE,"
	"  currency TEXT,"
	"  total_amount_cents INTEGER NOT NULL,"
	"  doc TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  finalized_at INTEGER,"
	"  UNIQUE (subscription_id, from_ms, kind));"
	"CREATE INDEX invoices_by_customer ON invoices (customer_id, created_at);"
	/* Ingest asks, per event, which finalized invoice billed its time. */
	"CREATE INDEX invoices_finalized ON invoices"
	"  (subscription_id, status, charges_to_ms, charges_from_ms);"
	/* Usage that arrived for a finalized invoice's window: kept in
	 * events/usage, never billed, reported by GET /v1/late_usage. */
	"CREATE TABLE late_usage ("
	"  id INTEGER PRIMARY KEY,"
	"  invoice_id TEXT NOT NULL REFERENCES invoices (lago_id),"
	"  sub TEXT NOT NULL, code TEXT NOT NULL,"
	"  transaction_id TEXT,"		/* raw events */
	"  minute INTEGER,"			/* agg records, Unix s */
	"  ts_ms INTEGER NOT NULL,"
	"  events INTEGER NOT NULL,"
	"  source TEXT NOT NULL,"		/* 'api' or the agent id */
	"  received_at INTEGER NOT NULL);"	/* Unix ms */
	"CREATE INDEX late_usage_by_invoice ON late_usage (invoice_id);"
	/* Billing asks of each subscription whether another follows it. */
	"CREATE INDEX subscriptions_by_previous ON subscriptions"
	"  (previous_id);"
	"CREATE INDEX subscriptions_by_customer ON subscriptions"
	"  (customer_id, status);"
	/* Events find their subscription by external id: one active each. */
	"CREATE UNIQUE INDEX subscriptions_active"
	"  ON subscriptions (external_id) WHERE status = 'active';",
	/* 2: events without their random index.  Even one index on random
	 * transaction ids wrote a page per event to the WAL (make bench,
	 * row 6: ~90k events/s; ~200k without it).  Events now append by
	 * id, and their keys are found through evkey.c: the newest in
	 * memory, the older in event_keys, merged in key order. */
	"CREATE TABLE events2 ("
	"  id INTEGER PRIMARY KEY,"		/* arrival order */
	"  lago_id TEXT NOT NULL UNIQUE,"	/* UUIDv7: appends too */
	"  sub_key TEXT NOT NULL,"
	"  transaction_id TEXT NOT NULL,"
	"  sub TEXT, customer TEXT,"
	"  code TEXT NOT NULL,"
	"  ts_ms INTEGER NOT NULL,"
	"  properties TEXT NOT NULL,"
	"  precise_total_amount_cents TEXT,"
	"  source TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL);"
	"INSERT INTO events2 (lago_id, sub_key, transaction_id, sub, customer,"
	"  code, ts_ms, properties, precise_total_amount_cents, source,"
	"  created_at) SELECT lago_id, sub_key, transaction_id, sub, customer,"
	"  code, ts_ms, properties, precise_total_amount_cents, source,"
	"  created_at FROM events ORDER BY rowid;"
	"DROP TABLE events;"
	"ALTER TABLE events2 RENAME TO events;"
	"CREATE INDEX events_by_sub ON events (sub, code, ts_ms);"
	EVKEY_SCHEMA,
};

static struct store_conn *sq_acquire(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	return &s->conn;
}

static void sq_release(struct store_conn *c)
{
	struct store *s = (struct store *)((char *)c -
					   offsetof(struct store, conn));

	/* A transaction left open by a failed caller must not leak on. */
	if (!sqlite3_get_autocommit(c->db)) {
		log_warn("store: transaction left open; rolled back");
		db_rollback(c->db);
	}
	pthread_mutex_unlock(&s->lock);
}

static int sq_exec(struct store_conn *c, const char *sql)
{
	if (strcmp(sql, "COMMIT") == 0) {
		int rc = db_commit(c->db);

		if (rc == TLY_OK)
			c->committed = c->txn;
		return rc;
	}
	if (strcmp(sql, "ROLLBACK") == 0)
		return db_rollback(c->db);
	if (strcmp(sql, "BEGIN") == 0) {
		c->txn++;
		return db_begin(c->db);
	}
	return db_exec(c->db, sql);
}

static int sq_prepare(struct store_conn *c, const char *sql,
		      struct store_stmt **out)
{
	size_t h = ((uintptr_t)sql >> 3) & (SQ_CACHE - 1);

	for (size_t i = 0; i < SQ_CACHE; i++) {
		struct store_stmt *e = &c->cache[(h + i) & (SQ_CACHE - 1)];

		if (e->sql == sql) {
			sqlite3_reset(e->st);
			sqlite3_clear_bindings(e->st);
			*out = e;
			return TLY_OK;
		}
		if (e->sql)
			continue;
		if (db_prepare(c->db, &e->st, sql) != TLY_OK)
			return TLY_EDB;
		e->e = c->e;
		e->sql = sql;
		*out = e;
		return TLY_OK;
	}
	log_error("store: more than %d distinct statements", SQ_CACHE);
	return TLY_EDB;
}

static int sq_bind_text(struct store_stmt *st, int i, const char *v,
			size_t len)
{
	return sqlite3_bind_text(st->st, i, v, (int)len, SQLITE_TRANSIENT) ==
	       SQLITE_OK ? TLY_OK : TLY_EDB;
}

static int sq_bind_i64(struct store_stmt *st, int i, int64_t v)
{
	return sqlite3_bind_int64(st->st, i, v) == SQLITE_OK ? TLY_OK : TLY_EDB;
}

static int sq_bind_null(struct store_stmt *st, int i)
{
	return sqlite3_bind_null(st->st, i) == SQLITE_OK ? TLY_OK : TLY_EDB;
}

static int sq_step(struct store_stmt *st)
{
	int rc = sqlite3_step(st->st);

	if (rc == SQLITE_ROW)
		return STORE_ROW;
	if (rc == SQLITE_DONE)
		return STORE_DONE;
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return TLY_EEXIST;
	log_error("store: %s: %s", sqlite3_sql(st->st),
		  sqlite3_errmsg(sqlite3_db_handle(st->st)));
	return TLY_EDB;
}

static const char *sq_col_text(struct store_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st->st, i);
}

static int64_t sq_col_i64(struct store_stmt *st, int i)
{
	return sqlite3_column_int64(st->st, i);
}

static int sq_col_null(struct store_stmt *st, int i)
{
	return sqlite3_column_type(st->st, i) == SQLITE_NULL;
}

static void sq_reset(struct store_stmt *st)
{
	sqlite3_reset(st->st);
	sqlite3_clear_bindings(st->st);
}

static int64_t sq_changes(struct store_conn *c)
{
	return sqlite3_changes64(c->db);
}

static uint64_t sq_txn(struct store_conn *c)
{
	return c->txn;
}

static uint64_t sq_committed(struct store_conn *c)
{
	return c->committed;
}

/*
 * Run jobs in one transaction and commit.  No savepoints: each would copy
 * every page it touches into a sub-journal, for failures that hardly ever
 * happen.  Instead, a job that fails is set aside with its error, the
 * transaction rolled back, and the round run again without it (a job's
 * run may thus be called again: it starts its outputs afresh).  A failed
 * commit fails every job of the round: nothing of it was kept.
 */
static int sq_round(struct store_conn *c, struct store_job *jobs)
{
	struct store_job *j;
	int rc, failed;

	for (j = jobs; j; j = j->next)
		j->rc = TLY_OK;
	/* The commit's flush is the leader's, after it lets go (sq_write). */
	rc = db_exec(c->db, "PRAGMA synchronous=NORMAL");
	do {
		failed = 0;
		c->txn++;
		if (rc == TLY_OK)
			rc = db_begin(c->db);
		for (j = jobs; rc == TLY_OK && j; j = j->next) {
			if (j->rc != TLY_OK)
				continue;	/* set aside in an earlier try */
			j->rc = j->run(c, j->arg);
			if (j->rc != TLY_OK) {
				failed = 1;
				break;
			}
		}
		if (failed)
			db_rollback(c->db);
	} while (failed);
	if (rc == TLY_OK)
		rc = db_commit(c->db);
	if (rc == TLY_OK)
		c->committed = c->txn;
	if (rc != TLY_OK) {
		db_rollback(c->db);
		log_error("store: a group commit failed; its jobs are undone");
		for (j = jobs; j; j = j->next)
			j->rc = TLY_EDB;
	}
	/* Without it, every other write would be durable only at the next
	 * checkpoint. */
	if (db_exec(c->db, "PRAGMA synchronous=FULL") != TLY_OK) {
		log_error("store: cannot set synchronous=FULL back; stopping");
		abort();
	}
	return rc;
}

/*
 * Open s->wal_fd if need be; holding the connection.  The -wal file lives
 * as long as the connection does (SQLite deletes it at the last close),
 * so one descriptor serves.  Not there: nothing was written to it yet.
 */
static int sq_wal_open(struct store *s)
{
	const char *db = sqlite3_db_filename(s->conn.db, "main");
	const char *wal;

	if (s->wal_fd >= 0 || !db || !*db)
		return TLY_OK;		/* open, or a memory database */
	wal = sqlite3_filename_wal(db);
	s->wal_fd = open(wal, O_RDWR | O_CLOEXEC);
	if (s->wal_fd < 0 && errno != ENOENT) {
		log_error("store: %s: %s", wal, strerror(errno));
		return TLY_EIO;
	}
	return TLY_OK;
}

/* Make the rounds committed so far durable: TLY_OK or TLY_EIO. */
static int sq_flush(struct store *s)
{
	if (s->wal_fd < 0 || fdatasync(s->wal_fd) == 0)
		return TLY_OK;
	log_error("store: fdatasync of the WAL: %s", strerror(errno));
	return TLY_EIO;
}

static int sq_write(struct store *s, struct store_job *j)
{
	j->rc = TLY_OK;
	j->done = 0;
	j->taken = 0;
	j->next = NULL;
	pthread_mutex_lock(&s->qlock);
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	while (!j->done) {
		struct store_job *jobs, *next;
		struct store_conn *c;
		int rc;

		if (s->leading || j->taken) {
			pthread_cond_wait(&s->qdone, &s->qlock);
			continue;
		}
		s->leading = 1;
		pthread_mutex_unlock(&s->qlock);
		/* Jobs queued while the connection was busy join this round. */
		c = sq_acquire(s);
		pthread_mutex_lock(&s->qlock);
		jobs = s->head;
		s->head = s->tail = NULL;
		for (struct store_job *t = jobs; t; t = t->next)
			t->taken = 1;
		pthread_mutex_unlock(&s->qlock);
		rc = sq_round(c, jobs);
		if (rc == TLY_OK)
			rc = sq_wal_open(s);
		sq_release(c);
		pthread_mutex_lock(&s->qlock);
		s->leading = 0;
		pthread_cond_broadcast(&s->qdone);
		pthread_mutex_unlock(&s->qlock);
		if (rc == TLY_OK)
			rc = sq_flush(s);
		pthread_mutex_lock(&s->qlock);
		for (; jobs; jobs = next) {
			next = jobs->next;	/* jobs may go once done is set */
			if (rc != TLY_OK)
				jobs->rc = rc;
			jobs->done = 1;
		}
		pthread_cond_broadcast(&s->qdone);
	}
	pthread_mutex_unlock(&s->qlock);
	return j->rc;
}

static void sq_close(struct store *s)
{
	for (size_t i = 0; i < SQ_CACHE; i++)
		db_finalize(&s->conn.cache[i].st);
	db_close(&s->conn.db);
	if (s->wal_fd >= 0)
		close(s->wal_fd);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->qdone);
	free(s);
}

static int sq_open(struct store **out, const char *path)
{
	struct store *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return TLY_ENOMEM;
	s->e = &store_sqlite_engine;
	s->conn.e = &store_sqlite_engine;
	s->wal_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->qdone, NULL);
	rc = db_open(&s->conn.db, path, DB_SYNC_FULL, 10000);
	/*
	 * Checkpoint every 64 MiB of WAL rather than SQLite's 4 MiB: raw
	 * events dirty random pages of their unique index, and a page
	 * written by many commits between two checkpoints is copied to the
	 * database (and the database fsynced) once.  make bench, row 6:
	 * ~37k -> ~50k ev/s.
	 */
	if (rc == TLY_OK)
		rc = db_exec(s->conn.db, "PRAGMA wal_autocheckpoint=16384");
	if (rc == TLY_OK)
		rc = db_migrate(s->conn.db, sq_migrations,
				(int)(sizeof(sq_migrations) /
				      sizeof(sq_migrations[0])), path);
	if (rc != TLY_OK) {
		sq_close(s);
		return rc;
	}
	*out = s;
	return TLY_OK;
}

const struct store_engine store_sqlite_engine = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.acquire = sq_acquire,
	.release = sq_release,
	.exec = sq_exec,
	.prepare = sq_prepare,
	.bind_text = sq_bind_text,
	.bind_i64 = sq_bind_i64,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.col_text = sq_col_text,
	.col_i64 = sq_col_i64,
	.col_null = sq_col_null,
	.reset = sq_reset,
	.changes = sq_changes,
	.txn = sq_txn,
	.committed = sq_committed,
	.write = sq_write,
};
