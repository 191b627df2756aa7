/*
 * seen.c - the agent's two-tier dedup index (see seen.h for why).
 */
#include "seen.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bloom.h"
#include "db.h"
#include "err.h"
#include "log.h"

/*
 * Open addressing at half load, so probes stay short.  A 32-bit slot
 * holds the key's index + 1 (0: empty) in its low SLOT_INDEX_BITS and
 * other bits of the key above, so that passing a slot seldom costs a
 * visit to the key itself.
 */
#define SEEN_SLOTS (2 * SEEN_LOG_MAX)
#define SLOT_INDEX_BITS 19	/* index + 1 <= SEEN_LOG_MAX = 2^18 */
#define SLOT_INDEX_MASK ((UINT32_C(1) << SLOT_INDEX_BITS) - 1)
_Static_assert(SEEN_LOG_MAX <= SLOT_INDEX_MASK, "slot index bits");

/* The Bloom filter over `seen` (bloom.h) grows to 16 MiB at most. */
#define SEEN_BLOOM_MAX_BITS ((size_t)1 << 27)

#define LOG_ROWS 64		/* seen_log rows per multi-row INSERT */

enum {
	Q_PROBE, Q_MERGE, Q_LOG_SPAN, Q_RUN_PUT, Q_RUN_LAST, Q_CLEAR,
	Q_DROP_RUNS, Q_FORGET_RUNS, Q_TRIM, Q_TRIMMED, Q_LOAD, Q_ALL, Q_SIZE,
	Q_COUNT
};

static const char *const seen_sql[Q_COUNT] = {
	/* One seek a run (the plan: PRIMARY KEY (run=? AND fp=?)). */
	[Q_PROBE] = "SELECT 1 FROM seen "
		    "WHERE run IN (SELECT run FROM seen_runs) AND fp = ?",
	/* In key order, so the run is walked once, leaf after leaf. */
	[Q_MERGE] = SEEN_SQL_MERGE,
	[Q_LOG_SPAN] = SEEN_SQL_LOG_SPAN,
	[Q_RUN_PUT] = SEEN_SQL_RUN_PUT,
	[Q_RUN_LAST] = SEEN_SQL_RUN_LAST,
	[Q_CLEAR] = "DELETE FROM seen_log",
	/* Pruning: the runs wholly before the window go whole; in the
	 * runs its edge cuts through, the older keys go one by one. */
	[Q_DROP_RUNS] = "DELETE FROM seen WHERE run IN "
			"(SELECT run FROM seen_runs WHERE newest < ?)",
	[Q_FORGET_RUNS] = "DELETE FROM seen_runs WHERE newest < ?",
	[Q_TRIM] = "DELETE FROM seen WHERE run IN "
		   "(SELECT run FROM seen_runs WHERE oldest < ?1) AND at < ?1",
	[Q_TRIMMED] = "UPDATE seen_runs SET oldest = ?1 WHERE oldest < ?1",
	[Q_LOAD] = "SELECT fp FROM seen_log ORDER BY id",
	[Q_ALL] = "SELECT fp FROM seen",
	[Q_SIZE] = "SELECT count(*) FROM seen",
};

struct seen {
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	uint64_t seed;
	struct seen_key *keys;		/* the log's keys in arrival order */
	uint32_t *slot;			/* tag | index + 1; 0: empty */
	struct db_rows log;		/* INSERT seen_log, 1..LOG_ROWS rows */
	size_t n;			/* keys in the mirror */
	size_t logged;			/* keys[0..logged) are in seen_log */
	int64_t pending_at;		/* `at` of keys[logged..n) */
	uint64_t merges;		/* merges so far (for seen_mark) */
	struct bloom bf;		/* over `seen` */
};

/* ---- Memory that goes back to the kernel ------------------------------------- */

/* Anonymous pages: zero, and not resident until touched. */
static void *pages_new(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Zero again and no longer resident (the agent idles small). */
static void pages_zap(void *p, size_t size)
{
	if (madvise(p, size, MADV_DONTNEED) != 0)
		memset(p, 0, size);
}

static void pages_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

/* ---- The memory mirror of seen_log ---------------------------------------- */

static size_t home(const struct seen_key *k)
{
	uint64_t h;

	memcpy(&h, k->b, sizeof(h));	/* the fingerprint is uniform */
	return (size_t)(h & (SEEN_SLOTS - 1));
}

static uint32_t tag(const struct seen_key *k)
{
	uint32_t t;

	memcpy(&t, k->b + 8, sizeof(t));	/* bits home() did not use */
	return t & ~SLOT_INDEX_MASK;
}

/* The slot holding k, or the empty slot where it would go. */
static size_t mirror_slot(const struct seen *s, const struct seen_key *k)
{
	uint32_t t = tag(k);
	size_t i = home(k);

	for (; s->slot[i]; i = (i + 1) & (SEEN_SLOTS - 1))
		if ((s->slot[i] & ~SLOT_INDEX_MASK) == t &&
		    memcmp(s->keys[(s->slot[i] & SLOT_INDEX_MASK) - 1].b, k->b,
			   sizeof(k->b)) == 0)
			break;
	return i;
}

static void mirror_add(struct seen *s, const struct seen_key *k)
{
	size_t i = mirror_slot(s, k);

	s->keys[s->n] = *k;
	s->slot[i] = tag(k) | (uint32_t)++s->n;
}

static void mirror_clear(struct seen *s)
{
	pages_zap(s->slot, SEEN_SLOTS * sizeof(*s->slot));
	pages_zap(s->keys, SEEN_LOG_MAX * sizeof(*s->keys));
	s->n = 0;
	s->logged = 0;
}

/*
 * Drop the newest keys down to n.  Clearing a slot is safe only because
 * keys leave in the reverse of their arrival: no key still present was
 * placed after the one leaving, so none probed past its slot.
 */
static void mirror_truncate(struct seen *s, size_t n)
{
	while (s->n > n) {
		s->n--;
		s->slot[mirror_slot(s, &s->keys[s->n])] = 0;
	}
	if (s->logged > n)
		s->logged = n;	/* their rows went with the savepoint */
}

/* ---- The Bloom filter over `seen` ------------------------------------------ */

/* The two halves of a fingerprint, as the filter takes them. */
static uint64_t half(const struct seen_key *k, int i)
{
	uint64_t h;

	memcpy(&h, k->b + 8 * i, sizeof(h));
	return h;
}

static void bloom_add_key(struct seen *s, const struct seen_key *k)
{
	bloom_add(&s->bf, half(k, 0), half(k, 1));
}

/*
 * Build the filter afresh, 12 to 24 bits for each of `keys` keys, from every
 * key in `seen`.  Without memory for it, keys are looked up on disk.
 */
static int bloom_build(struct seen *s, size_t keys)
{
	sqlite3_stmt *q = s->q[Q_ALL];
	int step;

	if (bloom_reset(&s->bf, keys, SEEN_BLOOM_MAX_BITS) != TLY_OK) {
		log_warn("buffer: no memory for the dedup filter; every new "
			 "transaction id is looked up on disk (slower)");
		return TLY_OK;
	}
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct seen_key k;

		if (sqlite3_column_bytes(q, 0) != (int)sizeof(k.b))
			continue;
		memcpy(k.b, sqlite3_column_blob(q, 0), sizeof(k.b));
		bloom_add_key(s, &k);
	}
	sqlite3_reset(q);
	if (step == SQLITE_DONE)
		return TLY_OK;
	log_error("buffer: dedup filter: %s", sqlite3_errmsg(s->db));
	bloom_free(&s->bf);
	return TLY_EDB;
}

/* The log's keys are joining `seen`: add them, or rebuild larger. */
static int bloom_merge(struct seen *s)
{
	if (!s->bf.bits)
		return TLY_OK;		/* none yet (at open), or no memory */
	if (bloom_room(&s->bf, s->n, SEEN_BLOOM_MAX_BITS)) {
		for (size_t i = 0; i < s->n; i++)
			bloom_add_key(s, &s->keys[i]);
		return TLY_OK;
	}
	/* After the merge: the scan sees them all. */
	return bloom_build(s, s->bf.keys + s->n);
}

/* ---- Fingerprints ---------------------------------------------------------- */

void seen_key_of(const struct seen *s, const char *sub, const char *customer,
		 const char *tx, struct seen_key *k)
{
	seen_fingerprint(s->seed, sub, customer, tx, k);
}

/* tally_fp(sub, customer, tx): the key of an events row, as a blob. */
static void sql_fp(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct seen *s = sqlite3_user_data(ctx);
	const char *tx = (const char *)sqlite3_value_text(argv[2]);
	struct seen_key k;

	(void)argc;
	if (!tx) {
		sqlite3_result_null(ctx);
		return;
	}
	seen_fingerprint(s->seed, (const char *)sqlite3_value_text(argv[0]),
			 (const char *)sqlite3_value_text(argv[1]), tx, &k);
	sqlite3_result_blob(ctx, k.b, sizeof(k.b), SQLITE_TRANSIENT);
}

/* ---- The tiers -------------------------------------------------------------- */

int seen_take(struct seen *s, const struct seen_key *k, int64_t now_ms,
	      int *dup)
{
	sqlite3_stmt *p = s->q[Q_PROBE];
	int rc, step;

	*dup = s->slot[mirror_slot(s, k)] != 0;
	if (*dup)
		return TLY_OK;
	step = SQLITE_DONE;
	if (bloom_maybe(&s->bf, half(k, 0), half(k, 1))) {
		sqlite3_bind_blob(p, 1, k->b, sizeof(k->b), SQLITE_STATIC);
		step = sqlite3_step(p);
		sqlite3_reset(p);
	}
	if (step == SQLITE_ROW) {
		*dup = 1;
		return TLY_OK;
	}
	if (step != SQLITE_DONE) {
		log_error("buffer: dedup lookup: %s", sqlite3_errmsg(s->db));
		return TLY_EDB;
	}
	if (s->n == SEEN_LOG_MAX && (rc = seen_merge(s)) != TLY_OK)
		return rc;
	if (s->logged < s->n && s->pending_at != now_ms &&
	    (rc = seen_flush(s)) != TLY_OK)
		return rc;
	mirror_add(s, k);
	s->pending_at = now_ms;
	return TLY_OK;
}

void seen_prefetch(const struct seen *s, const struct seen_key *k)
{
	__builtin_prefetch(&s->slot[home(k)]);
	bloom_prefetch(&s->bf, half(k, 0));
}

/* Write keys[logged..n) to seen_log, LOG_ROWS (64, 32 ... 1) a statement. */
int seen_flush(struct seen *s)
{
	int rc = TLY_OK;

	while (rc == TLY_OK && s->logged < s->n) {
		size_t rows;
		sqlite3_stmt *st = db_rows_pick(&s->log, s->n - s->logged,
						&rows);

		for (size_t r = 0; r < rows; r++) {
			sqlite3_bind_blob(st, (int)(2 * r + 1),
					  s->keys[s->logged + r].b,
					  sizeof(s->keys[0].b), SQLITE_STATIC);
			sqlite3_bind_int64(st, (int)(2 * r + 2), s->pending_at);
		}
		rc = db_run(st);
		if (rc == TLY_OK)
			s->logged += rows;
	}
	return rc;
}

/*
 * The run the log merges into: the newest, unless the log would take it
 * past SEEN_RUN_LOGS logs' keys; then a new one.
 */
static int merge_run(struct seen *s, int64_t *run)
{
	sqlite3_stmt *q = s->q[Q_RUN_LAST];
	int step = sqlite3_step(q);

	*run = 0;
	if (step == SQLITE_ROW) {
		int64_t keys = sqlite3_column_int64(q, 1);

		*run = sqlite3_column_int64(q, 0);
		if (keys > 0 && (uint64_t)keys + s->n >
		    (uint64_t)SEEN_RUN_LOGS * SEEN_LOG_MAX)
			(*run)++;
	}
	sqlite3_reset(q);
	if (step == SQLITE_ROW || step == SQLITE_DONE)
		return TLY_OK;
	log_error("buffer: dedup runs: %s", sqlite3_errmsg(s->db));
	return TLY_EDB;
}

/* Count the log's keys into run's row of seen_runs, with their times. */
static int run_put(struct seen *s, int64_t run)
{
	sqlite3_stmt *q = s->q[Q_LOG_SPAN], *put = s->q[Q_RUN_PUT];
	int64_t keys = 0, oldest = 0, newest = 0;
	int step = sqlite3_step(q);

	if (step == SQLITE_ROW) {
		keys = sqlite3_column_int64(q, 0);
		oldest = sqlite3_column_int64(q, 1);
		newest = sqlite3_column_int64(q, 2);
	}
	sqlite3_reset(q);
	if (step != SQLITE_ROW) {
		log_error("buffer: dedup log: %s", sqlite3_errmsg(s->db));
		return TLY_EDB;
	}
	if (keys == 0)
		return TLY_OK;
	sqlite3_bind_int64(put, 1, run);
	sqlite3_bind_int64(put, 2, keys);
	sqlite3_bind_int64(put, 3, oldest);
	sqlite3_bind_int64(put, 4, newest);
	return db_run(put);
}

/* Move every logged key to `seen`; the mirror empties. */
static int merge_log(struct seen *s)
{
	int64_t run = 0;
	int rc = seen_flush(s);

	if (rc == TLY_OK)
		rc = merge_run(s, &run);
	if (rc == TLY_OK) {
		sqlite3_bind_int64(s->q[Q_MERGE], 1, run);
		rc = db_run(s->q[Q_MERGE]);
	}
	if (rc == TLY_OK)
		rc = run_put(s, run);
	if (rc == TLY_OK)
		rc = db_run(s->q[Q_CLEAR]);
	if (rc == TLY_OK)
		rc = bloom_merge(s);
	if (rc == TLY_OK) {
		mirror_clear(s);
		s->merges++;
	}
	return rc;
}

int seen_merge(struct seen *s)
{
	return s->n ? merge_log(s) : TLY_OK;
}

/* Run q with before_ms as its parameter; *gone += the rows it changed. */
static int prune_step(struct seen *s, int q, int64_t before_ms, size_t *gone)
{
	int rc;

	sqlite3_bind_int64(s->q[q], 1, before_ms);
	rc = db_run(s->q[q]);
	if (rc == TLY_OK && gone)
		*gone += (size_t)sqlite3_changes(s->db);
	return rc;
}

int seen_prune(struct seen *s, int64_t before_ms)
{
	int rc = seen_merge(s);
	size_t gone = 0;

	if (rc == TLY_OK)
		rc = prune_step(s, Q_DROP_RUNS, before_ms, &gone);
	if (rc == TLY_OK)
		rc = prune_step(s, Q_FORGET_RUNS, before_ms, NULL);
	if (rc == TLY_OK)
		rc = prune_step(s, Q_TRIM, before_ms, &gone);
	if (rc == TLY_OK)
		rc = prune_step(s, Q_TRIMMED, before_ms, NULL);
	/* Forgotten keys still set bits: rebuild once they are many. */
	if (rc == TLY_OK && gone > 0 && gone >= s->bf.keys / 4)
		rc = bloom_build(s, s->bf.keys > gone ? s->bf.keys - gone : 0);
	return rc;
}

struct seen_mark seen_mark(const struct seen *s)
{
	struct seen_mark m = {s->merges, s->n};

	return m;
}

int seen_rollback(struct seen *s, struct seen_mark m)
{
	if (m.merges != s->merges)
		return seen_reload(s);	/* a merge was undone too */
	mirror_truncate(s, m.n);
	return TLY_OK;
}

int seen_reload(struct seen *s)
{
	sqlite3_stmt *q = s->q[Q_LOAD];
	int step, rc = TLY_OK;

	mirror_clear(s);
	s->merges++;
	while ((step = sqlite3_step(q)) == SQLITE_ROW && s->n < SEEN_LOG_MAX) {
		struct seen_key k;

		if (sqlite3_column_bytes(q, 0) != (int)sizeof(k.b))
			continue;	/* not ours; it will merge as is */
		memcpy(k.b, sqlite3_column_blob(q, 0), sizeof(k.b));
		mirror_add(s, &k);
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		log_error("buffer: dedup reload: %s", sqlite3_errmsg(s->db));
		rc = TLY_EDB;
	}
	sqlite3_reset(q);
	/* More than a log's worth can only be a foreign file: merge it. */
	s->logged = s->n;
	if (rc == TLY_OK && step == SQLITE_ROW)
		rc = merge_log(s);
	return rc;
}

/* ---- Opening ---------------------------------------------------------------- */

static int load_seed(struct seen *s)
{
	sqlite3_stmt *q = NULL;
	int rc = db_prepare(s->db, &q, "SELECT value FROM meta "
			    "WHERE key = 'fp_seed'");

	if (rc == TLY_OK && sqlite3_step(q) == SQLITE_ROW)
		s->seed = (uint64_t)sqlite3_column_int64(q, 0);
	else if (rc == TLY_OK)
		rc = TLY_EDB;
	if (rc != TLY_OK)
		log_error("buffer: no dedup seed in meta: the buffer is "
			  "damaged; move it aside to start afresh");
	db_finalize(&q);
	return rc;
}

/* A log left by a crash goes to `seen`, so the mirror starts empty. */
static int merge_leftover(struct seen *s)
{
	int rc = db_begin(s->db);

	if (rc == TLY_OK)
		rc = merge_log(s);
	if (rc == TLY_OK)
		rc = db_commit(s->db);
	if (rc != TLY_OK)
		db_rollback(s->db);
	return rc;
}

int seen_open(sqlite3 *db, struct seen **out)
{
	struct seen *s = calloc(1, sizeof(*s));
	int rc = TLY_ENOMEM;

	*out = NULL;
	if (!s)
		return TLY_ENOMEM;
	s->db = db;
	s->keys = pages_new(SEEN_LOG_MAX * sizeof(*s->keys));
	s->slot = pages_new(SEEN_SLOTS * sizeof(*s->slot));
	if (!s->keys || !s->slot)
		goto out;
	rc = load_seed(s);
	for (int i = 0; rc == TLY_OK && i < Q_COUNT; i++)
		rc = db_prepare(db, &s->q[i], seen_sql[i]);
	if (rc == TLY_OK)
		rc = db_rows_prepare(db, &s->log, "INSERT INTO seen_log "
				     "(fp, at)", 2, LOG_ROWS);
	if (rc == TLY_OK &&
	    sqlite3_create_function_v2(db, "tally_fp", 3, SQLITE_UTF8 |
				       SQLITE_DETERMINISTIC, s, sql_fp, NULL,
				       NULL, NULL) != SQLITE_OK) {
		log_error("buffer: cannot register tally_fp: %s",
			  sqlite3_errmsg(db));
		rc = TLY_EDB;
	}
	if (rc == TLY_OK)
		rc = merge_leftover(s);
	if (rc == TLY_OK && sqlite3_step(s->q[Q_SIZE]) == SQLITE_ROW)
		rc = bloom_build(s, (size_t)sqlite3_column_int64(s->q[Q_SIZE],
								0));
	sqlite3_reset(s->q[Q_SIZE]);
out:
	if (rc != TLY_OK) {
		seen_close(&s);
		return rc;
	}
	*out = s;
	return TLY_OK;
}

void seen_close(struct seen **sp)
{
	struct seen *s = sp ? *sp : NULL;

	if (!s)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		db_finalize(&s->q[i]);
	db_rows_finalize(&s->log);
	if (s->db)
		sqlite3_create_function_v2(s->db, "tally_fp", 3, SQLITE_UTF8,
					   NULL, NULL, NULL, NULL, NULL);
	pages_free(s->keys, SEEN_LOG_MAX * sizeof(*s->keys));
	pages_free(s->slot, SEEN_SLOTS * sizeof(*s->slot));
	bloom_free(&s->bf);
	free(s);
	*sp = NULL;
}
