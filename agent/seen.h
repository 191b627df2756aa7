/*
 * seen.h - the agent's dedup index: which (subscription or customer,
 * transaction id) keys the buffer has taken within the dedup window.
 *
 * Why not one table keyed by the transaction id: ids look random (the
 * UUIDs of Lago's clients), so every new key lands on a random leaf of a
 * B-tree as large as the window, and every event dirties, and writes to
 * the WAL, a page of its own.  That held intake to SQLite's random-write
 * rate (~45k events/s on the bench machine) whatever else the agent did.
 *
 * So the index has two tiers, the way a small LSM tree does:
 *   - seen_log: keys taken lately, appended in arrival order (sequential
 *     pages), mirrored in memory by a hash set so that looking one up
 *     reads no page;
 *   - seen: everything older, a WITHOUT ROWID B-tree of fingerprints,
 *     in runs (seen_runs): a run takes SEEN_RUN_LOGS logs' keys at most.
 * When the log holds SEEN_LOG_MAX keys it is merged into the newest run
 * of `seen` in key order, so a merge touches each leaf page of that run
 * once rather than each key touching one; and as the window fills, a
 * merge still rewrites one run, not a tree of every key in the window
 * (on a device's SD card too).  A lookup asks each run, behind a Bloom
 * filter over them all; pruning drops whole runs, and trims the run the
 * window's edge cuts through.  Both tiers are durable: after a crash the
 * log is merged at open and nothing taken is forgotten.
 *
 * A key is the 128-bit XXH3 fingerprint of (subscription or customer,
 * transaction id) under a seed drawn once per buffer, so that senders
 * cannot aim at collisions; two distinct keys among n share one with
 * probability about n^2 / 2^129.
 *
 * Every call runs on the buffer's writer connection, inside its open
 * transaction; seen_mark and seen_rollback keep the memory mirror in step
 * with a ROLLBACK TO of the caller's savepoint.  The module owns the
 * seen, seen_runs and seen_log tables, the mirror, and the SQL function
 * tally_fp(sub, customer, tx) it registers on the connection (used to
 * forget the keys of dropped events).
 */
#ifndef TALLY_SEEN_H
#define TALLY_SEEN_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY	/* XXH3_state_t on the stack */
#include <xxhash.h>

#define SEEN_LOG_MAX 262144	/* keys in the log before a merge */
#define SEEN_RUN_LOGS 4		/* logs' keys in a run of seen, at most */

/* The schema, for the buffer's migration 1 (meta must exist). */
#define SEEN_SCHEMA \
	"CREATE TABLE seen (fp BLOB PRIMARY KEY, at INTEGER NOT NULL)" \
	"  WITHOUT ROWID;" \
	"CREATE INDEX seen_at ON seen (at);" \
	"CREATE TABLE seen_log (id INTEGER PRIMARY KEY, fp BLOB NOT NULL," \
	"  at INTEGER NOT NULL);" \
	"INSERT INTO meta VALUES ('fp_seed', random());"

/* Its migration 2: `seen` in runs, the keys it holds becoming run 0. */
#define SEEN_MIGRATION_2 \
	"CREATE TABLE seen2 (run INTEGER NOT NULL, fp BLOB NOT NULL," \
	"  at INTEGER NOT NULL, PRIMARY KEY (run, fp)) WITHOUT ROWID;" \
	"INSERT INTO seen2 (run, fp, at) SELECT 0, fp, at FROM seen;" \
	"DROP TABLE seen;" \
	"ALTER TABLE seen2 RENAME TO seen;" \
	"CREATE TABLE seen_runs (run INTEGER PRIMARY KEY," \
	"  keys INTEGER NOT NULL," /* as merged */ \
	"  oldest INTEGER NOT NULL," /* at or before its oldest `at` */ \
	"  newest INTEGER NOT NULL);" \
	"INSERT INTO seen_runs SELECT 0, count(*), min(at), max(at) FROM seen" \
	"  GROUP BY 1;" /* no row from no keys; HAVING alone wants 3.39 */

/* A merge of seen_log into run ?1 (bench/limit.c runs them too). */
#define SEEN_SQL_MERGE "INSERT OR IGNORE INTO seen (run, fp, at) " \
	"SELECT ?, fp, at FROM seen_log ORDER BY fp"
#define SEEN_SQL_LOG_SPAN "SELECT count(*), min(at), max(at) FROM seen_log"
#define SEEN_SQL_RUN_PUT "INSERT INTO seen_runs (run, keys, oldest, newest) " \
	"VALUES (?, ?, ?, ?) ON CONFLICT (run) DO UPDATE SET " \
	"keys = keys + excluded.keys, oldest = min(oldest, excluded.oldest), " \
	"newest = max(newest, excluded.newest)"
#define SEEN_SQL_RUN_LAST "SELECT run, keys FROM seen_runs " \
	"ORDER BY run DESC LIMIT 1"

struct seen;

struct seen_key {
	unsigned char b[16];
};

/*
 * The fingerprint of (kind, owner, tx) under seed: a kind byte ('s'
 * subscription, 'c' customer), the owner's length in 8 bytes, the owner,
 * then tx.  The length keeps ("a\x1fb", "c") and ("a", "b\x1fc") apart,
 * whatever bytes the ids hold.  sub may be NULL, then customer.  Inline
 * for bench/limit.c, which stores the agent's very rows.
 */
static inline void seen_fingerprint(uint64_t seed, const char *sub,
				    const char *customer, const char *tx,
				    struct seen_key *k)
{
	const char *owner = sub ? sub : customer ? customer : "";
	uint64_t len = strlen(owner);
	unsigned char head[9];
	XXH3_state_t xx;
	XXH128_canonical_t c;

	head[0] = sub ? 's' : 'c';
	for (int i = 0; i < 8; i++)
		head[1 + i] = (unsigned char)(len >> (8 * i));
	XXH3_128bits_reset_withSeed(&xx, seed);
	XXH3_128bits_update(&xx, head, sizeof(head));
	XXH3_128bits_update(&xx, owner, (size_t)len);
	XXH3_128bits_update(&xx, tx, strlen(tx));
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&xx));
	memcpy(k->b, c.digest, sizeof(k->b));
}

/* Where the mirror stood; see seen_rollback. */
struct seen_mark {
	uint64_t merges;
	size_t n;
};

/*
 * Prepare on db (migrated), register tally_fp(), and merge a log left by
 * a crash (in a transaction of its own).  TLY_OK or an error.
 */
int seen_open(sqlite3 *db, struct seen **out);
void seen_close(struct seen **s);

/* The fingerprint of an event's key; sub may be NULL, then customer. */
void seen_key_of(const struct seen *s, const char *sub, const char *customer,
		 const char *tx, struct seen_key *k);

/*
 * Start bringing into cache what seen_take(k) will read: called for the
 * next event while this one is stored, it hides the mirror's and the
 * filter's memory latency (they are megabytes, read at random).
 */
void seen_prefetch(const struct seen *s, const struct seen_key *k);

/*
 * Take k at now_ms: *dup = 1 if it is already in either tier (nothing
 * changes), else it is logged and *dup = 0.  May merge.  The log's rows
 * are written in groups: seen_flush before the transaction (or the
 * savepoint) that took keys is committed (released).
 */
int seen_take(struct seen *s, const struct seen_key *k, int64_t now_ms,
	      int *dup);
int seen_flush(struct seen *s);

/* Merge the log into `seen` now (before forgetting or pruning). */
int seen_merge(struct seen *s);

/* Forget keys taken before before_ms (the dedup window). */
int seen_prune(struct seen *s, int64_t before_ms);

/*
 * Before a SAVEPOINT, take a mark; after ROLLBACK TO it, seen_rollback
 * drops from the mirror what the rolled-back work added.  After a whole
 * transaction rolled back, seen_reload rebuilds the mirror from the log.
 */
struct seen_mark seen_mark(const struct seen *s);
int seen_rollback(struct seen *s, struct seen_mark m);
int seen_reload(struct seen *s);

#endif
