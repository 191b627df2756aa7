/*
 * buf.c - the agent's SQLite buffer and its writer thread (see buf.h).
 *
 * THREADING: callers append a job to a queue under b->mu and sleep on
 * b->done.  The writer takes every queued job at once, runs them in one
 * transaction (each inside a savepoint, so one job's failure undoes only
 * that job), commits, then applies the jobs' counter changes and wakes
 * the callers.  Counters (struct buf_stats) change only under b->mu and
 * only after a commit, so a reader never sees what might roll back.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "buf_schema.h"
#include <sys/prctl.h>

#include "db.h"
#include "err.h"
#include "log.h"
#include "roll.h"
#include "seen.h"
#include "util.h"

static const char *const buf_migrations[] = {
	/* 1 */
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"INSERT INTO meta VALUES ('next_seq', 1), ('last_acked_seq', 0),"
	"  ('dropped_total', 0);"
	BUF_EVENTS_TABLE
	/* Transaction ids seen within the dedup window (seen.h). */
	SEEN_SCHEMA
	"CREATE TABLE outbox ("
	"  seq INTEGER PRIMARY KEY,"
	"  body BLOB NOT NULL,"
	"  events INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE catalog (id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  json TEXT NOT NULL);",
	/* 2 */
	SEEN_MIGRATION_2,
};

enum job_kind { JOB_PUT, JOB_BATCH, JOB_ACK, JOB_CATALOG, JOB_PRUNE };

struct job {
	enum job_kind kind;
	const struct event *evs;	/* PUT */
	size_t n, dups;
	int64_t seq;			/* ACK */
	const char *json;		/* CATALOG */
	struct roll_catalog *cat;	/* CATALOG: parsed, installed on commit */
	int made;			/* BATCH */
	struct buf_stats delta;		/* counter changes, applied on commit */
	int rc;
	int done;
	struct job *next;
};

enum {
	S_TAKE, S_DEL_EVENTS, S_OUTBOX, S_ACK_SEL, S_ACK_DEL,
	S_META, S_OLDEST, S_MAX_ID, S_DROP_SEEN, S_DROP_EVENT, S_CATALOG,
	S_COUNT
};

static const char *const buf_sql[S_COUNT] = {
	[S_TAKE] = "SELECT id, tx, sub, customer, code, ts_ms, props, ptac, agg,"
		   " fkey, val, bytes FROM events ORDER BY id LIMIT ?",
	[S_DEL_EVENTS] = "DELETE FROM events WHERE id <= ?",
	[S_OUTBOX] = "INSERT INTO outbox (seq, body, events, created_at) "
		     "VALUES (?, ?, ?, ?)",
	[S_ACK_SEL] = "SELECT events, length(body) FROM outbox WHERE seq = ?",
	[S_ACK_DEL] = "DELETE FROM outbox WHERE seq = ?",
	[S_META] = "UPDATE meta SET value = ? WHERE key = ?",
	[S_OLDEST] = "SELECT id, bytes FROM events WHERE id <= ? ORDER BY id",
	[S_MAX_ID] = "SELECT COALESCE(max(id), 0) FROM events",
	/* One seek a run and key (PRIMARY KEY (run=? AND fp=?)). */
	[S_DROP_SEEN] = "DELETE FROM seen WHERE run IN (SELECT run FROM "
			"seen_runs) AND fp IN (SELECT tally_fp(sub, customer, "
			"tx) FROM events WHERE id <= ?)",
	[S_DROP_EVENT] = "DELETE FROM events WHERE id <= ?",
	[S_CATALOG] = "INSERT OR REPLACE INTO catalog (id, json) VALUES (1, ?)",
};

struct buf {
	struct buf_opts o;
	char *path;			/* DIR/buffer.db */
	sqlite3 *db;			/* the writer's connection */
	sqlite3_stmt *sql[S_COUNT];	/* prepared buf_sql */
	struct db_rows put;		/* INSERT events, 1..PUT_ROWS rows */
	struct db_ckpt *ckpt;		/* checkpoints off the writer */
	struct seen *seen;		/* the dedup index, on db */
	struct roll_catalog *cat;	/* the writer's; swapped on commit */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work;		/* the writer waits for jobs */
	pthread_cond_t done;		/* callers wait for their job */
	pthread_cond_t changed;		/* buf_wait_change */
	struct job *head, *tail;
	int stop;
	uint64_t gen;			/* change counter */
	void (*hook)(void *);		/* buf_on_change */
	void *hook_arg;
	struct buf_stats st;		/* under mu */
};

/* ---- Small SQL helpers (writer thread only) ------------------------------ */

static int run(struct buf *b, int s)
{
	return db_run(b->sql[s]);
}

static int set_meta(struct buf *b, const char *key, int64_t v)
{
	sqlite3_bind_int64(b->sql[S_META], 1, v);
	sqlite3_bind_text(b->sql[S_META], 2, key, -1, SQLITE_STATIC);
	return run(b, S_META);
}

/* Every string bound outlives the statement's run: no copy. */
static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* ---- PUT ------------------------------------------------------------------ */

static int64_t event_bytes(const struct event *ev, size_t props_len)
{
	return (int64_t)(strlen(ev->transaction_id) + strlen(ev->code) +
			 (ev->sub ? strlen(ev->sub) : 0) +
			 (ev->customer ? strlen(ev->customer) : 0) +
			 props_len + BUF_EVENT_OVERHEAD);
}

/*
 * Drop the oldest events not yet batched, with ids up to `below` (older
 * than the request being put), until `need` bytes are free:
 * find the cut-off id first, then delete by range (no row is deleted
 * under a live cursor).  Their transaction ids are forgotten too, so a
 * dropped event sent again is taken again.
 */
static int drop_oldest(struct buf *b, int64_t need, int64_t below,
		       struct job *j)
{
	sqlite3_stmt *q = b->sql[S_OLDEST];
	int64_t freed = 0, last = -1, n = 0;
	int rc;

	sqlite3_bind_int64(q, 1, below);
	while (freed < need && sqlite3_step(q) == SQLITE_ROW) {
		last = sqlite3_column_int64(q, 0);
		freed += sqlite3_column_int64(q, 1);
		n++;
	}
	sqlite3_reset(q);
	if (freed < need)
		return TLY_EFULL;	/* only the outbox would be left */
	rc = seen_merge(b->seen);	/* the keys to forget are all in seen */
	sqlite3_bind_int64(b->sql[S_DROP_SEEN], 1, last);
	if (rc == TLY_OK)
		rc = run(b, S_DROP_SEEN);
	else
		sqlite3_clear_bindings(b->sql[S_DROP_SEEN]);
	sqlite3_bind_int64(b->sql[S_DROP_EVENT], 1, last);
	if (rc == TLY_OK)
		rc = run(b, S_DROP_EVENT);
	if (rc != TLY_OK)
		return rc;
	j->delta.dropped_total += n;
	j->delta.pending_events -= n;
	j->delta.bytes -= freed;
	return set_meta(b, "dropped_total", b->st.dropped_total +
			j->delta.dropped_total);
}

/*
 * Rows of `events` are inserted PUT_ROWS to a statement: one statement
 * run per row was a third of the writer's time per event.  A put_row
 * holds what its row points at until the INSERT has run.
 */
#define PUT_ROWS 32

struct put_row {
	const struct event *ev;
	const char *props;		/* text of a raw event's properties */
	char *printed;			/* props when made here, else NULL */
	struct roll_class cls;
	int64_t bytes;
};

static void put_row_clear(struct put_row *r)
{
	cJSON_free(r->printed);
	roll_class_clear(&r->cls);
	memset(r, 0, sizeof(*r));
}

static void key_of(struct buf *b, const struct event *ev,
		   struct seen_key *key)
{
	seen_key_of(b->seen, ev->sub, ev->customer, ev->transaction_id, key);
	seen_prefetch(b->seen, key);
}

/* Dedup ev (its key made by key_of) and make its row; *taken = 0 for a
 * repeat (no row). */
static int put_row_make(struct buf *b, const struct event *ev,
			const struct seen_key *key, int64_t now,
			struct put_row *r, int *taken)
{
	int rc, dup;

	*taken = 0;
	rc = seen_take(b->seen, key, now, &dup);
	if (rc != TLY_OK || dup)
		return rc;
	memset(r, 0, sizeof(*r));
	r->ev = ev;
	*taken = 1;
	rc = roll_classify(b->cat, ev, &r->cls);
	if (rc == TLY_OK && !r->cls.agg) {
		r->props = ev->props_json;
		if (!r->props)
			r->props = r->printed = cJSON_PrintUnformatted(ev->props);
		if (!r->props)
			rc = TLY_ENOMEM;
	}
	r->bytes = event_bytes(ev, (r->props ? strlen(r->props) : 0) +
			       (r->cls.fkey ? strlen(r->cls.fkey) : 0) +
			       (r->cls.val ? strlen(r->cls.val) : 0));
	return rc;
}

static void bind_row(sqlite3_stmt *st, int base, const struct put_row *r)
{
	const struct event *ev = r->ev;

	sqlite3_bind_text(st, base + 1, ev->transaction_id, -1, SQLITE_STATIC);
	bind_opt(st, base + 2, ev->sub);
	bind_opt(st, base + 3, ev->customer);
	sqlite3_bind_text(st, base + 4, ev->code, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, base + 5, ev->ts_ms);
	bind_opt(st, base + 6, r->props);
	bind_opt(st, base + 7, ev->precise_total_amount_cents);
	bind_opt(st, base + 8, r->cls.agg);
	bind_opt(st, base + 9, r->cls.fkey);
	bind_opt(st, base + 10, r->cls.val);
	sqlite3_bind_int64(st, base + 11, r->bytes);
}

/* Insert rows[0..n) (in groups of 32, 16 ... 1 rows), clear them. */
static int put_rows_insert(struct buf *b, struct put_row *rows, size_t n,
			   struct job *j)
{
	size_t take;
	int rc = TLY_OK;

	for (size_t done = 0; rc == TLY_OK && done < n; done += take) {
		sqlite3_stmt *st = db_rows_pick(&b->put, n - done, &take);

		for (size_t i = 0; i < take; i++)
			bind_row(st, (int)i * BUF_EVENT_COLS, &rows[done + i]);
		rc = db_run(st);
	}
	for (size_t i = 0; i < n; i++) {
		if (rc == TLY_OK) {
			j->delta.pending_events++;
			j->delta.accepted_total++;
			j->delta.bytes += rows[i].bytes;
		}
		put_row_clear(&rows[i]);
	}
	return rc;
}

static int put_events(struct buf *b, struct job *j, int64_t now)
{
	struct put_row rows[PUT_ROWS];
	struct seen_key key[2];
	size_t n = 0;
	int rc = TLY_OK, taken;

	if (j->n > 0)
		key_of(b, &j->evs[0], &key[0]);
	for (size_t i = 0; rc == TLY_OK && i < j->n; i++) {
		/* The next key's memory is fetched while this one is stored. */
		if (i + 1 < j->n)
			key_of(b, &j->evs[i + 1], &key[(i + 1) % 2]);
		rc = put_row_make(b, &j->evs[i], &key[i % 2], now, &rows[n],
				  &taken);
		n += (size_t)taken;
		j->dups += (size_t)!taken;
		if (rc == TLY_OK && n == PUT_ROWS) {
			rc = put_rows_insert(b, rows, n, j);
			n = 0;
		}
	}
	if (rc == TLY_OK)
		return put_rows_insert(b, rows, n, j);
	while (n > 0)
		put_row_clear(&rows[--n]);
	return rc;
}

/*
 * Insert the events, then compare the buffer's real size with the cap:
 * over it, BUF_REJECT fails the job (its savepoint undoes the inserts)
 * and BUF_DROP_OLDEST drops events older than this request.  `used` is
 * the size including earlier jobs of this round.
 */
static int job_put(struct buf *b, struct job *j, int64_t used)
{
	int64_t now = util_now_ms(), before_max = 0, over;
	int rc;

	if (sqlite3_step(b->sql[S_MAX_ID]) == SQLITE_ROW)
		before_max = sqlite3_column_int64(b->sql[S_MAX_ID], 0);
	sqlite3_reset(b->sql[S_MAX_ID]);
	rc = put_events(b, j, now);
	if (rc == TLY_OK)
		rc = seen_flush(b->seen);
	if (rc != TLY_OK)
		return rc;
	over = used + j->delta.bytes - b->o.max_bytes;
	if (over > 0 && b->o.full_policy == BUF_REJECT)
		return TLY_EFULL;
	if (over > 0)
		rc = drop_oldest(b, over, before_max, j);
	j->delta.duplicate_total = (int64_t)j->dups;
	j->delta.commits_total = 1;
	return rc;
}

/* ---- BATCH ---------------------------------------------------------------- */

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/*
 * Feed the oldest events into r (raw ones are only counted); *last_id
 * and the deltas follow.
 */
static int take_events(struct buf *b, struct roll *r, int64_t *last_id,
		       struct job *j)
{
	sqlite3_stmt *q = b->sql[S_TAKE];
	int rc = TLY_OK, step;

	sqlite3_bind_int64(q, 1, (int64_t)b->o.batch_max_events);
	while (rc == TLY_OK && (step = sqlite3_step(q)) == SQLITE_ROW) {
		*last_id = sqlite3_column_int64(q, 0);
		if (col(q, 8))
			rc = roll_add_agg(r, col(q, 2), col(q, 4), col(q, 8),
					  col(q, 9), sqlite3_column_int64(q, 5),
					  col(q, 10));
		else
			roll_add_raw(r);
		j->delta.pending_events--;
		j->delta.bytes -= sqlite3_column_int64(q, 11);
	}
	sqlite3_reset(q);
	if (rc == TLY_OK && step != SQLITE_DONE)
		rc = TLY_EDB;
	return rc;
}

/*
 * Write the batch's raw events, read a second time by the same query in
 * the same transaction (so the same rows, in the same order), one row at
 * a time: holding them all would cost a copy of the batch.  roll_encode_end
 * checks that as many came as take_events counted.
 */
static int put_raw_events(struct buf *b, struct roll *r)
{
	sqlite3_stmt *q = b->sql[S_TAKE];
	int rc = TLY_OK, step;

	sqlite3_bind_int64(q, 1, (int64_t)b->o.batch_max_events);
	while (rc == TLY_OK && (step = sqlite3_step(q)) == SQLITE_ROW)
		if (!col(q, 8))
			rc = roll_encode_raw(r, col(q, 1), col(q, 2),
					     col(q, 3), col(q, 4),
					     sqlite3_column_int64(q, 5),
					     col(q, 6) ? col(q, 6) : "{}",
					     col(q, 7));
	sqlite3_reset(q);
	if (rc == TLY_OK && step != SQLITE_DONE)
		rc = TLY_EDB;
	return rc;
}

static int job_batch(struct buf *b, struct job *j)
{
	struct roll *r = roll_new();
	unsigned char *body = NULL;
	int64_t last_id = 0, seq = b->st.next_seq;
	size_t len = 0;
	int rc;

	if (!r)
		return TLY_ENOMEM;
	rc = take_events(b, r, &last_id, j);
	if (rc != TLY_OK || roll_events(r) == 0)
		goto out;
	rc = roll_encode_begin(r, b->o.agent_id, seq, util_now_ms() / 1000);
	if (rc == TLY_OK && roll_raw(r) > 0)	/* else nothing to read again */
		rc = put_raw_events(b, r);
	if (rc == TLY_OK)
		rc = roll_encode_end(r, &body, &len);
	if (rc != TLY_OK)
		goto out;
	sqlite3_bind_int64(b->sql[S_OUTBOX], 1, seq);
	sqlite3_bind_blob(b->sql[S_OUTBOX], 2, body, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(b->sql[S_OUTBOX], 3, (int64_t)roll_events(r));
	sqlite3_bind_int64(b->sql[S_OUTBOX], 4, util_now_ms() / 1000);
	rc = run(b, S_OUTBOX);
	sqlite3_bind_int64(b->sql[S_DEL_EVENTS], 1, last_id);
	if (rc == TLY_OK)
		rc = run(b, S_DEL_EVENTS);
	if (rc == TLY_OK)
		rc = set_meta(b, "next_seq", seq + 1);
	if (rc == TLY_OK) {
		j->made = 1;
		j->delta.next_seq = 1;
		j->delta.outbox_batches = 1;
		j->delta.outbox_bytes = (int64_t)len;
		j->delta.bytes += (int64_t)len;
		/* Moved from pending to the outbox: still buffered. */
		j->delta.buffered_events = (int64_t)roll_events(r);
	}
out:
	free(body);
	roll_free(&r);
	return rc;
}

/* ---- ACK, CATALOG, PRUNE --------------------------------------------------- */

static int job_ack(struct buf *b, struct job *j)
{
	sqlite3_stmt *q = b->sql[S_ACK_SEL];
	int64_t events = 0, bytes = 0;
	int found, rc;

	sqlite3_bind_int64(q, 1, j->seq);
	found = sqlite3_step(q) == SQLITE_ROW;
	if (found) {
		events = sqlite3_column_int64(q, 0);
		bytes = sqlite3_column_int64(q, 1);
	}
	sqlite3_reset(q);
	if (!found)
		return TLY_OK;		/* acked before: nothing to do */
	sqlite3_bind_int64(b->sql[S_ACK_DEL], 1, j->seq);
	rc = run(b, S_ACK_DEL);
	if (rc == TLY_OK && j->seq > b->st.last_acked_seq)
		rc = set_meta(b, "last_acked_seq", j->seq);
	if (rc == TLY_OK) {
		j->delta.outbox_batches = -1;
		j->delta.outbox_bytes = -bytes;
		j->delta.bytes = -bytes;
		j->delta.buffered_events = -events;
		if (j->seq > b->st.last_acked_seq)
			j->delta.last_acked_seq = j->seq - b->st.last_acked_seq;
	}
	return rc;
}

static int job_catalog(struct buf *b, struct job *j)
{
	int rc = roll_catalog_parse(j->json, &j->cat);

	if (rc != TLY_OK)
		return rc;
	sqlite3_bind_text(b->sql[S_CATALOG], 1, j->json, -1, SQLITE_STATIC);
	return run(b, S_CATALOG);
}

static int job_prune(struct buf *b)
{
	return seen_prune(b->seen, util_now_ms() - b->o.dedup_window_ms);
}

/* ---- The writer thread ----------------------------------------------------- */

static int run_job(struct buf *b, struct job *j, int64_t used)
{
	switch (j->kind) {
	case JOB_PUT: return job_put(b, j, used);
	case JOB_BATCH: return job_batch(b, j);
	case JOB_ACK: return job_ack(b, j);
	case JOB_CATALOG: return job_catalog(b, j);
	case JOB_PRUNE: return job_prune(b);
	}
	return TLY_EINVAL;
}

static void add_delta(struct buf_stats *s, const struct buf_stats *d)
{
	s->buffered_events += d->buffered_events + d->pending_events;
	s->pending_events += d->pending_events;
	s->outbox_batches += d->outbox_batches;
	s->outbox_bytes += d->outbox_bytes;
	s->bytes += d->bytes;
	s->last_acked_seq += d->last_acked_seq;
	s->next_seq += d->next_seq;
	s->accepted_total += d->accepted_total;
	s->duplicate_total += d->duplicate_total;
	s->dropped_total += d->dropped_total;
	s->commits_total += d->commits_total;
}

/* Run a round of jobs in one transaction, each in a savepoint. */
static void run_round(struct buf *b, struct job *jobs)
{
	int64_t used = b->st.bytes;
	int rc = db_begin(b->db);

	for (struct job *j = jobs; j; j = j->next) {
		if (rc != TLY_OK) {
			j->rc = rc;
			continue;
		}
		struct seen_mark mark = seen_mark(b->seen);

		db_exec(b->db, "SAVEPOINT job");
		j->rc = run_job(b, j, used);
		if (j->rc != TLY_OK) {
			db_exec(b->db, "ROLLBACK TO job");
			if (seen_rollback(b->seen, mark) != TLY_OK)
				rc = TLY_EDB;	/* fail the round: reload */
			memset(&j->delta, 0, sizeof(j->delta));
			j->made = 0;
			j->dups = 0;
		}
		db_exec(b->db, "RELEASE job");
		used += j->delta.bytes;
		/* Later jobs of the round see this one's numbers. */
		b->st.next_seq += j->delta.next_seq;
		b->st.last_acked_seq += j->delta.last_acked_seq;
		b->st.dropped_total += j->delta.dropped_total;
	}
	/* Those three were advanced early; commit or not, put them back. */
	for (struct job *j = jobs; j; j = j->next) {
		b->st.next_seq -= j->delta.next_seq;
		b->st.last_acked_seq -= j->delta.last_acked_seq;
		b->st.dropped_total -= j->delta.dropped_total;
	}
	if (rc == TLY_OK && db_commit(b->db) != TLY_OK)
		rc = TLY_EDB;
	if (rc != TLY_OK) {
		db_rollback(b->db);
		seen_reload(b->seen);	/* the log is as before the round */
	}
	/* A failed commit fails every job: none of their counts apply. */
	for (struct job *j = jobs; j; j = j->next) {
		if (rc != TLY_OK) {
			j->rc = rc;
			continue;
		}
		if (j->cat && j->rc == TLY_OK) {
			roll_catalog_free(&b->cat);
			b->cat = j->cat;
			j->cat = NULL;
		}
	}
}

static void *writer_main(void *arg)
{
	struct buf *b = arg;

	prctl(PR_SET_NAME, "tally-buf");	/* in top -H, perf, gdb */

	pthread_mutex_lock(&b->mu);
	for (;;) {
		struct job *jobs;

		while (!b->head && !b->stop)
			pthread_cond_wait(&b->work, &b->mu);
		if (!b->head && b->stop)
			break;
		jobs = b->head;
		b->head = b->tail = NULL;
		pthread_mutex_unlock(&b->mu);
		run_round(b, jobs);
		pthread_mutex_lock(&b->mu);
		for (struct job *j = jobs; j; j = j->next) {
			if (j->rc == TLY_OK)
				add_delta(&b->st, &j->delta);
			roll_catalog_free(&j->cat);
			j->done = 1;
		}
		b->gen++;
		pthread_cond_broadcast(&b->done);
		pthread_cond_broadcast(&b->changed);
		if (b->hook) {
			void (*fn)(void *) = b->hook;
			void *fn_arg = b->hook_arg;

			pthread_mutex_unlock(&b->mu);
			fn(fn_arg);
			pthread_mutex_lock(&b->mu);
		}
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

static int submit(struct buf *b, struct job *j)
{
	pthread_mutex_lock(&b->mu);
	if (b->stop) {
		pthread_mutex_unlock(&b->mu);
		return TLY_EBUSY;
	}
	if (b->tail)
		b->tail->next = j;
	else
		b->head = j;
	b->tail = j;
	pthread_cond_signal(&b->work);
	while (!j->done)
		pthread_cond_wait(&b->done, &b->mu);
	pthread_mutex_unlock(&b->mu);
	return j->rc;
}

/* ---- Public calls ------------------------------------------------------------ */

int buf_put(struct buf *b, const struct event *evs, size_t n, size_t *dups)
{
	struct job j = {.kind = JOB_PUT, .evs = evs, .n = n};
	int rc = submit(b, &j);

	if (dups)
		*dups = j.dups;
	return rc;
}

int buf_make_batch(struct buf *b, int *made)
{
	struct job j = {.kind = JOB_BATCH};
	int rc = submit(b, &j);

	*made = j.made;
	return rc;
}

int buf_ack(struct buf *b, int64_t seq)
{
	struct job j = {.kind = JOB_ACK, .seq = seq};

	return submit(b, &j);
}

int buf_set_catalog(struct buf *b, const char *json)
{
	struct job j = {.kind = JOB_CATALOG, .json = json};

	return submit(b, &j);
}

int buf_prune(struct buf *b)
{
	struct job j = {.kind = JOB_PRUNE};

	return submit(b, &j);
}

void buf_get_stats(struct buf *b, struct buf_stats *s)
{
	pthread_mutex_lock(&b->mu);
	*s = b->st;
	pthread_mutex_unlock(&b->mu);
}

uint64_t buf_wait_change(struct buf *b, uint64_t seen, int64_t timeout_ms)
{
	struct timespec ts;
	uint64_t gen;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&b->mu);
	while (b->gen == seen && !b->stop)
		if (pthread_cond_timedwait(&b->changed, &b->mu, &ts) ==
		    ETIMEDOUT)
			break;
	gen = b->gen;
	pthread_mutex_unlock(&b->mu);
	return gen;
}

void buf_on_change(struct buf *b, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&b->mu);
	b->hook = fn;
	b->hook_arg = arg;
	pthread_mutex_unlock(&b->mu);
}

void buf_wake(struct buf *b)
{
	pthread_mutex_lock(&b->mu);
	b->gen++;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->mu);
}

/* ---- Opening and reading ----------------------------------------------------- */

static int64_t query_i64(sqlite3 *db, const char *sql, int col_i)
{
	sqlite3_stmt *st;
	int64_t v = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, col_i);
	sqlite3_finalize(st);
	return v;
}

/* Counters from what is on disk. */
static void load_stats(sqlite3 *db, struct buf_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->pending_events = query_i64(db, "SELECT count(*) FROM events", 0);
	s->bytes = query_i64(db, "SELECT total(bytes) FROM events", 0);
	s->outbox_batches = query_i64(db, "SELECT count(*) FROM outbox", 0);
	s->outbox_bytes = query_i64(db, "SELECT total(length(body)) FROM "
				    "outbox", 0);
	s->bytes += s->outbox_bytes;
	s->buffered_events = s->pending_events +
		query_i64(db, "SELECT total(events) FROM outbox", 0);
	s->next_seq = query_i64(db, "SELECT value FROM meta WHERE "
				"key = 'next_seq'", 0);
	s->last_acked_seq = query_i64(db, "SELECT value FROM meta WHERE "
				      "key = 'last_acked_seq'", 0);
	s->dropped_total = query_i64(db, "SELECT value FROM meta WHERE "
				     "key = 'dropped_total'", 0);
}

static int load_catalog(struct buf *b)
{
	sqlite3_stmt *st;
	int rc = TLY_OK;

	if (sqlite3_prepare_v2(b->db, "SELECT json FROM catalog", -1, &st,
			       NULL) != SQLITE_OK)
		return TLY_EDB;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    roll_catalog_parse(col(st, 0), &b->cat) != TLY_OK) {
		log_warn("buffer: the cached catalog does not parse; events "
			 "ship raw until the collector sends a new one");
	}
	sqlite3_finalize(st);
	return rc;
}

static char *db_path(const char *dir)
{
	size_t n = strlen(dir) + sizeof("/buffer.db");
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/buffer.db", dir);
	return p;
}

static int open_writer(struct buf *b)
{
	int rc = db_open(&b->db, b->path, b->o.durable_full ? DB_SYNC_FULL :
			 DB_SYNC_NORMAL, 5000);

	if (rc == TLY_OK)
		rc = db_migrate(b->db, buf_migrations,
				(int)(sizeof(buf_migrations) /
				      sizeof(buf_migrations[0])), b->path);
	if (rc == TLY_OK)
		rc = seen_open(b->db, &b->seen);
	if (rc == TLY_OK)
		rc = db_rows_prepare(b->db, &b->put, BUF_EVENTS_INSERT,
				     BUF_EVENT_COLS, PUT_ROWS);
	for (int i = 0; rc == TLY_OK && i < S_COUNT; i++)
		rc = db_prepare(b->db, &b->sql[i], buf_sql[i]);
	if (rc == TLY_OK)
		rc = load_catalog(b);
	if (rc == TLY_OK)
		rc = db_ckpt_start(&b->ckpt, b->db, b->path, b->o.durable_full ?
				   DB_SYNC_FULL : DB_SYNC_NORMAL, 1000);
	return rc;
}

static void buf_free(struct buf *b)
{
	for (int i = 0; i < S_COUNT; i++)
		db_finalize(&b->sql[i]);
	db_ckpt_stop(&b->ckpt);		/* the writer thread has ended */
	db_rows_finalize(&b->put);
	seen_close(&b->seen);
	db_close(&b->db);
	roll_catalog_free(&b->cat);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->work);
	pthread_cond_destroy(&b->done);
	pthread_cond_destroy(&b->changed);
	free(b->path);
	free(b);
}

int buf_open(struct buf **out, const struct buf_opts *o)
{
	struct buf *b = calloc(1, sizeof(*b));
	int rc;

	*out = NULL;
	if (!b)
		return TLY_ENOMEM;
	b->o = *o;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->work, NULL);
	pthread_cond_init(&b->done, NULL);
	pthread_cond_init(&b->changed, NULL);
	if (mkdir(o->dir, 0750) != 0 && errno != EEXIST) {
		log_error("buffer: cannot create %s: %s", o->dir,
			  strerror(errno));
		buf_free(b);
		return TLY_EIO;
	}
	b->path = db_path(o->dir);
	rc = b->path ? open_writer(b) : TLY_ENOMEM;
	if (rc == TLY_OK) {
		load_stats(b->db, &b->st);
		if (pthread_create(&b->thread, NULL, writer_main, b) != 0)
			rc = TLY_EIO;
	}
	if (rc != TLY_OK) {
		buf_free(b);
		return rc;
	}
	*out = b;
	return TLY_OK;
}

void buf_close(struct buf **bp)
{
	struct buf *b = bp ? *bp : NULL;

	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	pthread_cond_broadcast(&b->work);
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->thread, NULL);
	buf_free(b);
	*bp = NULL;
}

struct buf_reader {
	sqlite3 *db;
	sqlite3_stmt *next;
};

int buf_reader_open(struct buf *b, struct buf_reader **out)
{
	struct buf_reader *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r)
		return TLY_ENOMEM;
	rc = db_open(&r->db, b->path, DB_SYNC_NORMAL, 5000);
	if (rc == TLY_OK)
		rc = db_prepare(r->db, &r->next, "SELECT seq, body FROM outbox "
				"WHERE seq > ? ORDER BY seq LIMIT 1");
	if (rc != TLY_OK) {
		buf_reader_close(&r);
		return rc;
	}
	*out = r;
	return TLY_OK;
}

void buf_reader_close(struct buf_reader **rp)
{
	if (!rp || !*rp)
		return;
	db_finalize(&(*rp)->next);
	db_close(&(*rp)->db);
	free(*rp);
	*rp = NULL;
}

int buf_next_batch(struct buf_reader *r, int64_t after, int64_t *seq,
		   unsigned char **body, size_t *len)
{
	int rc = TLY_ENOTFOUND;

	*body = NULL;
	sqlite3_bind_int64(r->next, 1, after);
	if (sqlite3_step(r->next) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(r->next, 1);
		const void *p = sqlite3_column_blob(r->next, 1);

		*seq = sqlite3_column_int64(r->next, 0);
		*body = malloc(n ? n : 1);
		if (*body) {
			memcpy(*body, p, n);
			*len = n;
			rc = TLY_OK;
		} else {
			rc = TLY_ENOMEM;
		}
	}
	sqlite3_reset(r->next);
	return rc;
}

int buf_stat_dir(const char *dir, struct buf_stats *s)
{
	char *path = db_path(dir);
	sqlite3 *db = NULL;
	int rc;

	if (!path)
		return TLY_ENOMEM;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	free(path);
	if (rc != SQLITE_OK) {
		sqlite3_close(db);
		return TLY_ENOTFOUND;
	}
	sqlite3_busy_timeout(db, 5000);
	load_stats(db, s);
	sqlite3_close(db);
	return TLY_OK;
}
