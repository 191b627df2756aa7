/*
 * buf.h - the agent's durable buffer: SQLite in WAL mode under the data
 * directory, holding accepted events, the transaction ids seen within the
 * dedup window, the outbox of encoded batches, and the cached catalog.
 *
 * One writer thread owns the write connection.  Intake threads hand it
 * their parsed events with buf_put and sleep until the transaction that
 * holds them has committed, so many concurrent requests share one commit
 * (group commit) and every answer is given after the data is durable.
 * The same thread makes batches (buf_make_batch) and applies acks
 * (buf_ack), so nothing else ever contends for SQLite's write lock.
 * Readers (status, the shipper reading the outbox) use their own
 * connections: WAL lets them read while the writer writes.
 *
 * What an event becomes is decided when it is taken, from the catalog of
 * that moment (DESIGN.md: a catalog change applies to events taken after
 * it): an event of a mergeable metric is stored with its filter values
 * and the value its aggregation needs, and later rolled into a record per
 * (subscription, code, filter values, UTC minute); every other event is
 * stored whole and ships raw.
 *
 * Sizes: the buffer counts the bytes of stored events and of outbox
 * batches; past buffer.max_bytes, buf_put refuses (TLY_EFULL) or, with
 * drop_oldest, deletes the oldest events not yet batched and counts them.
 */
#ifndef TALLY_BUF_H
#define TALLY_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct buf;

enum buf_full_policy { BUF_REJECT, BUF_DROP_OLDEST };

struct buf_opts {
	const char *dir;		/* data directory; created if missing */
	int64_t max_bytes;		/* buffer.max_bytes */
	enum buf_full_policy full_policy;
	int64_t dedup_window_ms;	/* how long a transaction id is held */
	int durable_full;		/* synchronous=FULL (power loss) */
	size_t batch_max_events;	/* events one batch may stand for */
	const char *agent_id;		/* written into every batch */
};

/* Counters for /v1/status and /metrics; a snapshot. */
struct buf_stats {
	int64_t buffered_events;	/* accepted, not yet in an acked batch */
	int64_t pending_events;		/* accepted, not yet in a batch */
	int64_t outbox_batches;
	int64_t outbox_bytes;
	int64_t bytes;			/* what counts against max_bytes */
	int64_t last_acked_seq;
	int64_t next_seq;
	int64_t accepted_total;		/* events taken since start */
	int64_t duplicate_total;	/* repeats dropped at intake */
	int64_t dropped_total;		/* drop_oldest, ever (persisted) */
	int64_t commits_total;		/* intake transactions */
};

/* Open the buffer (and start the writer thread).  TLY_OK or an error. */
int buf_open(struct buf **out, const struct buf_opts *o);

/* Stop the writer after the job in flight, close.  NULL-safe. */
void buf_close(struct buf **b);

/*
 * Store evs[0..n) durably, all or nothing, and return when committed.
 * Each event already seen within the dedup window is skipped and counted
 * in *dups (it is still a success for the sender).  TLY_OK, TLY_EFULL
 * (nothing stored; the buffer is full under BUF_REJECT), TLY_EDB.
 */
int buf_put(struct buf *b, const struct event *evs, size_t n, size_t *dups);

/*
 * Roll up to batch_max_events of the oldest pending events into one
 * batch, encode it (shared/wire), and store it in the outbox with the
 * next sequence number, deleting its events, in one transaction.
 * *made is 0 when there was nothing to batch.
 */
int buf_make_batch(struct buf *b, int *made);

/* The batch acknowledged by the collector leaves the outbox. */
int buf_ack(struct buf *b, int64_t seq);

/*
 * Read the outbox batch with the smallest seq > after into a malloc'd
 * body the caller frees.  TLY_ENOTFOUND when there is none.  Safe from
 * any thread (it uses a read connection of its own per call site: pass
 * the handle from buf_reader_open).
 */
struct buf_reader;
int buf_reader_open(struct buf *b, struct buf_reader **r);
void buf_reader_close(struct buf_reader **r);
int buf_next_batch(struct buf_reader *r, int64_t after, int64_t *seq,
		   unsigned char **body, size_t *len);

/* Forget transaction ids older than the dedup window. */
int buf_prune(struct buf *b);

/* Replace the cached catalog (JSON text of GET /v1/catalog). */
int buf_set_catalog(struct buf *b, const char *json);

void buf_get_stats(struct buf *b, struct buf_stats *s);

/*
 * Wait until the buffer changed after change counter `seen` (events
 * taken, a batch made, an ack) or timeout_ms passed; returns the counter.
 * The shipper sleeps here instead of polling.
 */
uint64_t buf_wait_change(struct buf *b, uint64_t seen, int64_t timeout_ms);

/* Wake every buf_wait_change (at shutdown). */
void buf_wake(struct buf *b);

/*
 * Call fn(arg) from the writer thread after every round of jobs (outside
 * the buffer's lock), so a transport can wake its own wait.  One hook.
 */
void buf_on_change(struct buf *b, void (*fn)(void *arg), void *arg);

/*
 * Status of a buffer on disk, for `tally-agent status --data-dir` when
 * the agent is stopped: opens read-only, fills s, closes.
 */
int buf_stat_dir(const char *dir, struct buf_stats *s);

#endif
