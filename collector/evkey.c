/*
 * evkey.c - the collector's two-tier index of raw events' keys (evkey.h
 * says why).
 */
#include "evkey.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bloom.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define MIN_SLOTS 1024		/* a power of two */
#define RUN_TAILS 4		/* a run of event_keys: 4 tails' keys at most */
#define EK_BLOOM_MAX_BITS ((size_t)1 << 30)	/* 128 MiB: ~90M keys */
#define SUB_SEED UINT64_C(0x9e3779b97f4a7c15)	/* sub_key's seed: xor */

static const char *const sql_seed =
	"SELECT value FROM meta WHERE key = 'event_keys_seed'";
static const char *const sql_merged =
	"SELECT value FROM meta WHERE key = 'event_keys_merged'";
static const char *const sql_run =
	"SELECT value FROM meta WHERE key = 'event_keys_run'";
static const char *const sql_run_keys =
	"SELECT value FROM meta WHERE key = 'event_keys_run_keys'";
static const char *const sql_set_meta =
	"UPDATE meta SET value = ? WHERE key = ?";
static const char *const sql_tail =
	"SELECT id, transaction_id, sub_key FROM events WHERE id > ? "
	"ORDER BY id";
static const char *const sql_range =
	"SELECT transaction_id, sub_key FROM events WHERE id > ? AND id <= ?";
static const char *const sql_tree_size = "SELECT count(*) FROM event_keys";
static const char *const sql_tree_all = "SELECT txh, subh FROM event_keys";
static const char *const sql_put =
	"INSERT INTO event_keys (run, txh, subh, ev) VALUES (?, ?, ?, ?) "
	"ON CONFLICT DO NOTHING";
static const char *const sql_tree_key =
	"SELECT e.id FROM event_keys k JOIN events e ON e.id = k.ev "
	"WHERE k.run = ? AND k.txh = ? AND k.subh = ? "
	"AND e.transaction_id = ? AND e.sub_key = ? LIMIT 1";
static const char *const sql_tree_tx =
	"SELECT e.id FROM event_keys k JOIN events e ON e.id = k.ev "
	"WHERE k.run = ? AND k.txh = ? AND e.transaction_id = ?";
static const char *const sql_row_key =
	"SELECT 1 FROM events WHERE id = ? AND transaction_id = ? "
	"AND sub_key = ?";
static const char *const sql_row_tx =
	"SELECT 1 FROM events WHERE id = ? AND transaction_id = ?";

struct ek_ent {
	uint64_t txh, subh;
	int64_t id;
};

struct evkey {
	uint64_t seed;
	size_t tail_max;
	/* The mirror: the tail in id order, then this transaction's keys. */
	struct ek_ent *ent;
	size_t n;			/* entries */
	size_t committed;		/* ent[0..committed) are in events */
	size_t cap;			/* room in ent: nslots / 2 */
	uint32_t *slot;			/* index into ent + 1; 0: empty */
	size_t nslots;			/* a power of two, or 0 */
	int64_t merged;			/* event_keys_merged it stands on */
	int64_t upto;			/* the newest id read from events */
	int64_t runs;			/* of event_keys: 0 .. runs - 1 */
	uint64_t txn;			/* store_txn caught up in, if in_txn */
	int in_txn;
	/* The filter over event_keys: built at the first write, then told
	 * of every merge, ours (ek_merge) or another process's
	 * (ek_bloom_catch_up).  Keys of a merge rolled back stay in it as
	 * false hits: harmless. */
	struct bloom bf;
	_Atomic uint64_t finds, tree_finds, merges;	/* evkey_stats */
	int bf_built;
	int64_t bf_upto;		/* events up to this id are in bf */
};

static void ek_hash(const struct evkey *k, const char *tx,
		    const char *sub_key, uint64_t *txh, uint64_t *subh)
{
	*txh = XXH3_64bits_withSeed(tx, strlen(tx), k->seed);
	if (subh)
		*subh = XXH3_64bits_withSeed(sub_key, strlen(sub_key),
					     k->seed ^ SUB_SEED);
}

/*
 * The filter's two halves of a key.  Not (txh, subh) as they are: a
 * block's bits would then come from the sub_key alone, and with a few
 * subscriptions a few bits of each block would stand for every key.
 */
static void ek_bloom_key(uint64_t txh, uint64_t subh, uint64_t *h1,
			 uint64_t *h2)
{
	uint64_t x = txh + subh * UINT64_C(0x9e3779b97f4a7c15);

	/* splitmix64's finaliser: every bit of x into every bit. */
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	*h1 = txh ^ subh;
	*h2 = x ^ (x >> 31);
}

static void ek_bloom_add(struct evkey *k, uint64_t txh, uint64_t subh)
{
	uint64_t h1, h2;

	ek_bloom_key(txh, subh, &h1, &h2);
	bloom_add(&k->bf, h1, h2);
}

static int ek_bloom_maybe(const struct evkey *k, uint64_t txh, uint64_t subh)
{
	uint64_t h1, h2;

	ek_bloom_key(txh, subh, &h1, &h2);
	return bloom_maybe(&k->bf, h1, h2);
}

/* ---- The mirror: open addressing on txh, linear probes, half load ---- */

/*
 * Entries of one txh sit in one run of slots, so a lookup by transaction
 * id alone (GET) walks the same run as one by the whole key.
 */
static size_t ek_home(const struct evkey *k, uint64_t txh)
{
	return (size_t)(txh & (k->nslots - 1));
}

static void ek_place(struct evkey *k, size_t i)
{
	size_t s = ek_home(k, k->ent[i].txh);

	while (k->slot[s])
		s = (s + 1) & (k->nslots - 1);
	k->slot[s] = (uint32_t)(i + 1);
}

/* Twice the room; entries go back in arrival order (ek_truncate). */
static int ek_grow(struct evkey *k)
{
	size_t nslots = k->nslots ? 2 * k->nslots : MIN_SLOTS;
	struct ek_ent *ent;
	uint32_t *slot;

	if (nslots / 2 > UINT32_MAX - 1)
		return TLY_ENOMEM;
	ent = realloc(k->ent, nslots / 2 * sizeof(*ent));
	if (!ent)
		return TLY_ENOMEM;
	k->ent = ent;
	slot = calloc(nslots, sizeof(*slot));
	if (!slot)
		return TLY_ENOMEM;
	free(k->slot);
	k->slot = slot;
	k->nslots = nslots;
	k->cap = nslots / 2;
	for (size_t i = 0; i < k->n; i++)
		ek_place(k, i);
	return TLY_OK;
}

static int ek_push(struct evkey *k, uint64_t txh, uint64_t subh, int64_t id)
{
	if (k->n == k->cap && ek_grow(k) != TLY_OK) {
		log_error("evkey: out of memory for %zu keys", k->n + 1);
		return TLY_ENOMEM;
	}
	k->ent[k->n].txh = txh;
	k->ent[k->n].subh = subh;
	k->ent[k->n].id = id;
	ek_place(k, k->n++);
	return TLY_OK;
}

/*
 * Drop the newest entries down to n.  Emptying a slot is safe only
 * because entries leave in the reverse of their arrival: none still
 * present was placed after the one leaving, so none probed past it.
 */
static void ek_truncate(struct evkey *k, size_t n)
{
	while (k->n > n) {
		size_t s = ek_home(k, k->ent[--k->n].txh);

		while (k->slot[s] != k->n + 1)
			s = (s + 1) & (k->nslots - 1);
		k->slot[s] = 0;
	}
}

static void ek_clear(struct evkey *k)
{
	if (k->slot)
		memset(k->slot, 0, k->nslots * sizeof(*k->slot));
	k->n = k->committed = 0;
}

/* ---- The table ---------------------------------------------------------- */

/* A meta value that must be there and be an integer. */
static int ek_meta(struct store_conn *c, const char *sql, int64_t *v)
{
	struct store_stmt *st = NULL;
	const char *text;
	char *end;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	rc = store_step(st);
	text = rc == STORE_ROW ? store_col_text(st, 0) : NULL;
	if (text)
		*v = strtoll(text, &end, 10);
	if (text && end != text && !*end) {
		rc = TLY_OK;
	} else {
		if (rc != TLY_EDB)	/* else the store said why */
			log_error("evkey: %s: no integer there; is this a "
				  "tally collector database?", sql);
		rc = TLY_EDB;
	}
	store_reset(st);
	return rc;
}

/* One scan of rows of two columns: each row's hashes go to the filter. */
static int ek_bloom_rows(struct evkey *k, struct store_stmt *st, int hashed)
{
	int rc;

	while ((rc = store_step(st)) == STORE_ROW) {
		uint64_t txh, subh;

		if (hashed) {
			txh = (uint64_t)store_col_i64(st, 0);
			subh = (uint64_t)store_col_i64(st, 1);
		} else if (store_col_text(st, 0) && store_col_text(st, 1)) {
			ek_hash(k, store_col_text(st, 0),
				store_col_text(st, 1), &txh, &subh);
		} else {
			rc = TLY_ENOMEM;
			break;
		}
		ek_bloom_add(k, txh, subh);
	}
	store_reset(st);
	return rc == STORE_DONE ? TLY_OK : rc;
}

/*
 * The filter afresh from every key of event_keys, which holds the events
 * up to merged, with room for a tail more.  Without memory for it, every
 * key is looked up in the tree (slower, still right).
 */
static int ek_bloom_build(struct evkey *k, struct store_conn *c,
			  int64_t merged)
{
	struct store_stmt *st = NULL;
	int64_t n = 0;
	int rc = store_prepare(c, sql_tree_size, &st);

	if (rc != TLY_OK)
		return rc;
	if ((rc = store_step(st)) == STORE_ROW)
		n = store_col_i64(st, 0);
	store_reset(st);
	if (rc != STORE_ROW)
		return rc == STORE_DONE ? TLY_EDB : rc;
	k->bf_built = 1;
	k->bf_upto = merged;
	if (bloom_reset(&k->bf, (size_t)n + k->tail_max,
			EK_BLOOM_MAX_BITS) != TLY_OK) {
		log_warn("evkey: no memory for the filter of %lld event keys; "
			 "each new event's key is looked up on disk (slower)",
			 (long long)n);
		return TLY_OK;
	}
	rc = store_prepare(c, sql_tree_all, &st);
	if (rc == TLY_OK)
		rc = ek_bloom_rows(k, st, 1);
	if (rc != TLY_OK) {
		/* Half built, it would say "not there" of keys that are:
		 * build again at the next transaction. */
		bloom_free(&k->bf);
		k->bf_built = 0;
	}
	return rc;
}

/*
 * event_keys now holds the events up to merged: tell the filter of those
 * it has not heard of, from the mirror, and from the table for any the
 * mirror never read (another process took and merged them).
 */
static int ek_bloom_catch_up(struct evkey *k, struct store_conn *c,
			     int64_t merged)
{
	struct store_stmt *st = NULL;
	int rc;

	if (!k->bf_built || merged <= k->bf_upto)
		return TLY_OK;
	if (!bloom_room(&k->bf, (size_t)(merged - k->bf_upto),
			EK_BLOOM_MAX_BITS))
		return ek_bloom_build(k, c, merged);
	for (size_t i = 0; i < k->committed; i++)
		if (k->ent[i].id > k->bf_upto && k->ent[i].id <= merged)
			ek_bloom_add(k, k->ent[i].txh, k->ent[i].subh);
	if (k->upto < merged) {
		rc = store_prepare(c, sql_range, &st);
		if (rc != TLY_OK)
			return rc;
		store_bind_i64(st, 1, k->upto > k->bf_upto ? k->upto :
				      k->bf_upto);
		store_bind_i64(st, 2, merged);
		rc = ek_bloom_rows(k, st, 0);
		if (rc != TLY_OK)
			return rc;
	}
	k->bf_upto = merged;
	return TLY_OK;
}

/*
 * Bring the mirror up to what is committed: keep the keys of our last
 * transaction if it committed (BEGIN IMMEDIATE: no other writer ran in
 * it, so its ids are below any another process took since), drop them
 * if not, start afresh if a merge moved the tail's start, and read the
 * rows added since.
 */
static int ek_catch_up(struct evkey *k, struct store_conn *c)
{
	struct store_stmt *st = NULL;
	int64_t merged;
	int rc;

	if (k->in_txn && k->n > k->committed &&
	    store_committed(c) == k->txn) {
		k->committed = k->n;
		k->upto = k->ent[k->n - 1].id;
	}
	k->in_txn = 0;
	ek_truncate(k, k->committed);
	rc = ek_meta(c, sql_merged, &merged);
	if (rc == TLY_OK)
		rc = ek_meta(c, sql_run, &k->runs);
	if (rc != TLY_OK)
		return rc;
	k->runs++;
	if (merged != k->merged) {
		rc = ek_bloom_catch_up(k, c, merged);
		if (rc != TLY_OK)
			return rc;
		ek_clear(k);
		k->merged = k->upto = merged;
	}
	rc = store_prepare(c, sql_tail, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, k->upto);
	while ((rc = store_step(st)) == STORE_ROW) {
		const char *tx = store_col_text(st, 1);
		const char *key = store_col_text(st, 2);
		uint64_t txh, subh;

		if (!tx || !key) {
			rc = TLY_ENOMEM;
			break;
		}
		ek_hash(k, tx, key, &txh, &subh);
		rc = ek_push(k, txh, subh, store_col_i64(st, 0));
		if (rc != TLY_OK)
			break;
		k->upto = k->ent[k->n - 1].id;
		k->committed = k->n;
	}
	store_reset(st);
	return rc == STORE_DONE ? TLY_OK : rc;
}

static int ek_cmp(const void *a, const void *b)
{
	const struct ek_ent *x = a, *y = b;

	/* SQLite's order of the integers they are stored as. */
	if (x->txh != y->txh)
		return (int64_t)x->txh < (int64_t)y->txh ? -1 : 1;
	if (x->subh != y->subh)
		return (int64_t)x->subh < (int64_t)y->subh ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Set meta's key to v. */
static int ek_set_meta(struct store_conn *c, const char *key, int64_t v)
{
	struct store_stmt *st = NULL;
	char text[24];
	int rc = store_prepare(c, sql_set_meta, &st);

	if (rc != TLY_OK)
		return rc;
	snprintf(text, sizeof(text), "%" PRId64, v);
	store_bind_text(st, 1, text);
	store_bind_text(st, 2, key);
	return store_run(st);
}

/* Insert keys[0..n) into event_keys' run. */
static int ek_put(struct store_conn *c, int64_t run, const struct ek_ent *keys,
		  size_t n)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql_put, &st);

	for (size_t i = 0; rc == TLY_OK && i < n; i++) {
		store_bind_i64(st, 1, run);
		store_bind_i64(st, 2, (int64_t)keys[i].txh);
		store_bind_i64(st, 3, (int64_t)keys[i].subh);
		store_bind_i64(st, 4, keys[i].id);
		rc = store_run(st);
	}
	return rc;
}

/*
 * Move the committed tail into the newest run of event_keys (a new one
 * if it would grow past RUN_TAILS tails), in key order, and move the
 * tail's start past it.  The mirror keeps the keys until the next
 * catch-up sees the new start: if this transaction rolls back, they are
 * still where they were.
 */
static int ek_merge(struct evkey *k, struct store_conn *c)
{
	struct ek_ent *sorted = malloc(k->committed * sizeof(*sorted));
	int64_t t0 = util_now_ms(), run = 0, run_keys = 0;
	int rc;

	if (!sorted)
		return TLY_ENOMEM;
	memcpy(sorted, k->ent, k->committed * sizeof(*sorted));
	qsort(sorted, k->committed, sizeof(*sorted), ek_cmp);
	rc = ek_meta(c, sql_run, &run);
	if (rc == TLY_OK)
		rc = ek_meta(c, sql_run_keys, &run_keys);
	if (rc == TLY_OK && run_keys > 0 &&
	    (size_t)run_keys + k->committed > RUN_TAILS * k->tail_max) {
		run++;
		run_keys = 0;
	}
	if (rc == TLY_OK)
		rc = ek_put(c, run, sorted, k->committed);
	free(sorted);
	if (rc == TLY_OK)
		rc = ek_set_meta(c, "event_keys_merged", k->upto);
	if (rc == TLY_OK)
		rc = ek_set_meta(c, "event_keys_run", run);
	if (rc == TLY_OK)
		rc = ek_set_meta(c, "event_keys_run_keys",
				 run_keys + (int64_t)k->committed);
	if (rc == TLY_OK)
		rc = ek_bloom_catch_up(k, c, k->upto);
	if (rc == TLY_OK) {
		k->runs = run + 1;
		atomic_fetch_add_explicit(&k->merges, 1, memory_order_relaxed);
		log_info("evkey: %zu event keys merged into run %lld (events "
			 "up to id %lld) in %lld ms", k->committed,
			 (long long)run, (long long)k->upto,
			 (long long)(util_now_ms() - t0));
	}
	return rc;
}

/* The first use in a write transaction catches up, and may merge. */
static int ek_enter(struct evkey *k, struct store_conn *c)
{
	uint64_t txn = store_txn(c);
	int rc;

	if (k->in_txn && k->txn == txn)
		return TLY_OK;
	rc = ek_catch_up(k, c);
	if (rc == TLY_OK && !k->bf_built)
		rc = ek_bloom_build(k, c, k->merged);
	if (rc == TLY_OK && k->committed >= k->tail_max)
		rc = ek_merge(k, c);
	if (rc == TLY_OK) {
		k->txn = txn;
		k->in_txn = 1;
	}
	return rc;
}

/* Whether event id has transaction id tx (and sub_key, unless NULL). */
static int ek_row_is(struct store_conn *c, int64_t id, const char *tx,
		     const char *sub_key, int *yes)
{
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sub_key ? sql_row_key : sql_row_tx, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, id);
	store_bind_text(st, 2, tx);
	if (sub_key)
		store_bind_text(st, 3, sub_key);
	rc = store_step(st);
	store_reset(st);
	*yes = rc == STORE_ROW;
	return rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
}

/* ---- The interface -------------------------------------------------------- */

int evkey_open(struct store *s, size_t tail_max, struct evkey **out)
{
	struct evkey *k = calloc(1, sizeof(*k));
	struct store_conn *c;
	int64_t seed = 0;
	int rc;

	*out = NULL;
	if (!k)
		return TLY_ENOMEM;
	c = store_acquire(s);
	rc = ek_meta(c, sql_seed, &seed);
	store_release(c);
	if (rc != TLY_OK) {
		free(k);
		return rc;
	}
	k->seed = (uint64_t)seed;
	k->tail_max = tail_max ? tail_max : EVKEY_TAIL_MAX;
	k->merged = -1;		/* read at the first catch-up */
	*out = k;
	return TLY_OK;
}

void evkey_close(struct evkey **kp)
{
	struct evkey *k = kp ? *kp : NULL;

	if (!k)
		return;
	free(k->ent);
	free(k->slot);
	bloom_free(&k->bf);
	free(k);
	*kp = NULL;
}

/* The mirror's event of (tx, sub_key), checked against its row, or 0. */
static int ek_mirror_find(struct evkey *k, struct store_conn *c,
			  const char *tx, const char *sub_key, uint64_t txh,
			  uint64_t subh, int64_t *id)
{
	int yes = 0;

	for (size_t s = k->nslots ? ek_home(k, txh) : 0;
	     k->nslots && k->slot[s]; s = (s + 1) & (k->nslots - 1)) {
		const struct ek_ent *e = &k->ent[k->slot[s] - 1];
		int rc;

		if (e->txh != txh || e->subh != subh)
			continue;
		rc = ek_row_is(c, e->id, tx, sub_key, &yes);
		if (rc != TLY_OK || yes) {
			*id = yes ? e->id : 0;
			return rc;
		}
	}
	return TLY_OK;
}

/* event_keys' event of (tx, sub_key), run by run, newest first, or 0. */
static int ek_tree_find(struct evkey *k, struct store_conn *c,
			const char *tx, const char *sub_key, uint64_t txh,
			uint64_t subh, int64_t *id)
{
	struct store_stmt *st = NULL;
	int rc = TLY_OK;

	for (int64_t run = k->runs - 1; rc == TLY_OK && !*id && run >= 0;
	     run--) {
		rc = store_prepare(c, sql_tree_key, &st);
		if (rc != TLY_OK)
			break;
		store_bind_i64(st, 1, run);
		store_bind_i64(st, 2, (int64_t)txh);
		store_bind_i64(st, 3, (int64_t)subh);
		store_bind_text(st, 4, tx);
		store_bind_text(st, 5, sub_key);
		rc = store_step(st);
		if (rc == STORE_ROW)
			*id = store_col_i64(st, 0);
		store_reset(st);
		rc = rc == STORE_ROW || rc == STORE_DONE ? TLY_OK : rc;
	}
	return rc;
}

int evkey_find(struct evkey *k, struct store_conn *c, const char *tx,
	       const char *sub_key, struct evkey_key *key, int64_t *id)
{
	int rc = ek_enter(k, c);

	*id = 0;
	if (rc != TLY_OK)
		return rc;
	atomic_fetch_add_explicit(&k->finds, 1, memory_order_relaxed);
	ek_hash(k, tx, sub_key, &key->txh, &key->subh);
	rc = ek_mirror_find(k, c, tx, sub_key, key->txh, key->subh, id);
	if (rc != TLY_OK || *id)
		return rc;
	if (!ek_bloom_maybe(k, key->txh, key->subh))
		return TLY_OK;		/* surely not in event_keys */
	atomic_fetch_add_explicit(&k->tree_finds, 1, memory_order_relaxed);
	return ek_tree_find(k, c, tx, sub_key, key->txh, key->subh, id);
}

int evkey_add(struct evkey *k, struct store_conn *c,
	      const struct evkey_key *key, int64_t id)
{
	int rc = ek_enter(k, c);	/* a no-op after evkey_find */

	return rc == TLY_OK ? ek_push(k, key->txh, key->subh, id) : rc;
}

/* Append id to the growing array *ids of *n. */
static int ids_push(int64_t **ids, size_t *n, int64_t id)
{
	int64_t *more;

	if ((*n & (*n - 1)) == 0) {	/* 0, 1, 2, 4...: full */
		more = realloc(*ids, (*n ? 2 * *n : 1) * sizeof(*more));
		if (!more)
			return TLY_ENOMEM;
		*ids = more;
	}
	(*ids)[(*n)++] = id;
	return TLY_OK;
}

int evkey_tx_ids(struct evkey *k, struct store_conn *c, const char *tx,
		 int64_t **ids, size_t *n)
{
	struct store_stmt *st = NULL;
	uint64_t txh;
	int rc = ek_catch_up(k, c), yes = 0;

	*ids = NULL;
	*n = 0;
	ek_hash(k, tx, NULL, &txh, NULL);
	for (size_t s = k->nslots ? ek_home(k, txh) : 0;
	     rc == TLY_OK && k->nslots && k->slot[s];
	     s = (s + 1) & (k->nslots - 1)) {
		const struct ek_ent *e = &k->ent[k->slot[s] - 1];

		if (e->txh != txh)
			continue;
		rc = ek_row_is(c, e->id, tx, NULL, &yes);
		if (rc == TLY_OK && yes)
			rc = ids_push(ids, n, e->id);
	}
	for (int64_t run = 0; rc == TLY_OK && run < k->runs; run++) {
		rc = store_prepare(c, sql_tree_tx, &st);
		if (rc != TLY_OK)
			break;
		store_bind_i64(st, 1, run);
		store_bind_i64(st, 2, (int64_t)txh);
		store_bind_text(st, 3, tx);
		while (rc == TLY_OK && (rc = store_step(st)) == STORE_ROW)
			rc = ids_push(ids, n, store_col_i64(st, 0));
		store_reset(st);
		if (rc == STORE_DONE)
			rc = TLY_OK;
	}
	if (rc != TLY_OK) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return rc;
}

void evkey_stats(const struct evkey *k, struct evkey_stats *out)
{
	out->finds = atomic_load_explicit(&k->finds, memory_order_relaxed);
	out->tree_finds = atomic_load_explicit(&k->tree_finds,
					       memory_order_relaxed);
	out->merges = atomic_load_explicit(&k->merges, memory_order_relaxed);
}
