/*
 * evkey.h - the collector's index of raw events by key: which event the
 * events table holds for a (sub_key, transaction_id), if any (Lago's
 * dedup), and which events carry a transaction id (GET
 * /api/v1/events/:transaction_id).
 *
 * Why not a unique index on (transaction_id, sub_key): transaction ids
 * are random, so each new event lands on a random leaf of an index as
 * large as every event ever taken, and each commit writes a page per
 * event to the WAL.  That held POST /api/v1/events/batch to ~90k
 * events/s (make bench, row 6); without the index it ran at ~200k.  So,
 * as in the agent (agent/seen.h), keys live in two tiers:
 *   - the tail: the events with id > meta.event_keys_merged, the newest
 *     rows of the table itself (events append, ids ascending), mirrored
 *     in memory by a hash table of (txh, subh, id);
 *   - event_keys: a WITHOUT ROWID B-tree of (run, txh, subh, id) for
 *     every older event, into which the tail is merged in key order once
 *     it holds tail_max events, so that a merge writes each leaf it
 *     touches once.  A merge goes into the newest run, and a run takes
 *     4 * tail_max keys at most: a merge into one tree of every key
 *     would rewrite more leaves the more events there are, up to one a
 *     key again.  A lookup asks each run, newest first, but only when
 *     the Bloom filter in front of them all (bloom.h) says it may be
 *     there: a new event's key seldom costs a page read.
 * txh and subh are 64-bit XXH3 hashes of the transaction id and the
 * sub_key under a seed drawn once per database.  A match is only a
 * candidate, checked against the event row itself: a collision costs a
 * read, never a wrong answer.
 *
 * Several processes may share one database (two collectors on one file),
 * so the mirror is brought up to date from the table in every
 * transaction that uses it: rows another process committed are read in,
 * and a merge made elsewhere shows in the meta row.  Keys added in a
 * transaction stay tentative until that catch-up, which drops them and
 * reads back whatever was committed.
 *
 * One per store.  Its state is guarded by the store's connection: call it
 * only while holding one.  It owns event_keys, the meta rows
 * event_keys_*, the mirror and the filter.
 */
#ifndef TALLY_EVKEY_H
#define TALLY_EVKEY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define EVKEY_TAIL_MAX 262144	/* events in the tail before a merge */

/* The schema, for the store's migration (meta and events must exist). */
#define EVKEY_SCHEMA \
	"CREATE TABLE event_keys (run INTEGER NOT NULL, txh INTEGER NOT NULL," \
	"  subh INTEGER NOT NULL, ev INTEGER NOT NULL," \
	"  PRIMARY KEY (run, txh, subh, ev)) WITHOUT ROWID;" \
	"INSERT INTO meta VALUES ('event_keys_seed', CAST(random() AS TEXT));" \
	"INSERT INTO meta VALUES ('event_keys_merged', '0');" \
	"INSERT INTO meta VALUES ('event_keys_run', '0');" \
	"INSERT INTO meta VALUES ('event_keys_run_keys', '0');"

struct evkey;

/*
 * Read the seed from s; tail_max 0 means EVKEY_TAIL_MAX (tests merge
 * sooner).  The mirror fills at first use.  TLY_OK, TLY_EDB, TLY_ENOMEM.
 */
int evkey_open(struct store *s, size_t tail_max, struct evkey **out);
void evkey_close(struct evkey **k);		/* NULL-safe */

/* A key's hashes: evkey_find computes them, evkey_add takes them. */
struct evkey_key {
	uint64_t txh, subh;
};

/*
 * Inside a write transaction on c: *id = the event held for (tx, sub_key),
 * or 0; *key = the key's hashes.  The first call of a transaction catches
 * up with the table and, if the tail is full, merges it.  TLY_OK,
 * TLY_EDB, TLY_ENOMEM.
 */
int evkey_find(struct evkey *k, struct store_conn *c, const char *tx,
	       const char *sub_key, struct evkey_key *key, int64_t *id);

/* After inserting event id of the key evkey_find gave, in that same
 * transaction. */
int evkey_add(struct evkey *k, struct store_conn *c,
	      const struct evkey_key *key, int64_t id);

/*
 * Outside a transaction: the ids of the events whose transaction id is
 * tx, in *ids (malloc'ed, the caller frees; NULL when *n is 0).
 */
int evkey_tx_ids(struct evkey *k, struct store_conn *c, const char *tx,
		 int64_t **ids, size_t *n);

/* What the index did since it was opened (/metrics). */
struct evkey_stats {
	uint64_t finds;			/* evkey_find calls */
	uint64_t tree_finds;		/* of them, asked of event_keys */
	uint64_t merges;		/* tails merged by this process */
};

/* Any thread, without the connection: the counters are atomic. */
void evkey_stats(const struct evkey *k, struct evkey_stats *out);

#endif
