/*
 * wire.h - batch format version 1 between agent and collector.
 *
 * A batch is a zlib stream (RFC 1950) of one JSON document (DESIGN.md,
 * Wire format):
 *   {"v": 1, "agent_id": "edge-07", "seq": 42, "created_at": 1764000000,
 *    "events_total": 10512, "records": [
 *      {"kind": "agg", "sub": "sub_1", "code": "api_calls",
 *       "minute": 1764000000, "filters": {"region": "eu"}, "count": 10000,
 *       "sum": "123.5", "max": "12", "latest": "3",
 *       "latest_ts": 1764000059, "distinct": ["a", "b"]},
 *      {"kind": "event", "transaction_id": "tx-9", "sub": "sub_1",
 *       "code": "storage", "timestamp": 1764000012,
 *       "properties": {"gb": "3.2"}}]}
 *
 * Decimals travel as strings.  An agg record carries only the fields its
 * metric needs; count is always there.  An event record's timestamp is
 * Unix seconds, with a fractional part of up to 3 digits when the event
 * had milliseconds.
 *
 * The decoder is the collector's first line of defence: it caps the
 * compressed size, the inflated size and the inflation ratio, and stops
 * inflating the moment a cap is crossed (a decompression bomb is refused
 * before it is inflated whole).  Every field is type-checked; decimals must
 * parse (dec_valid); events_total must equal the sum of the records'
 * counts (1 per event record).
 *
 * Integers (seq, created_at, events_total, minute, count, latest_ts) are
 * exact in [0, 2^53 - 1]: cJSON reads numbers as doubles, and past 2^53 a
 * double no longer tells n from n + 1.  The decoder refuses anything
 * outside that range, negative or not integral; the encoder refuses to
 * write it (TLY_EINVAL), so that it never makes a batch no collector would
 * take.  Event timestamps are held to [0, 999999999999.999] s (year 33658),
 * where seconds with 3 decimals fit the 15 digits a double keeps exactly.
 *
 * Beyond the types, the decoder also refuses: an event record with neither
 * sub nor customer; an agg record with `latest` but no `latest_ts`; more
 * distinct values than count; filters or properties that break event.h's
 * limits (EV_PROPS_MAX entries, EV_PROP_KEY_MAX / EV_PROP_VAL_MAX bytes) or
 * repeat a key; a NUL byte in the JSON text.  Keys are case-sensitive;
 * unknown keys are ignored.
 *
 * Ownership: a decoded struct wire_batch owns one cJSON tree and one block
 * holding the record array and all its filter and distinct arrays (counted
 * first, so a batch costs one malloc whatever its records); every const
 * char * points into the tree and lives until wire_batch_free.  An absent
 * "properties" is added to the tree as {}, so ev.props is never NULL.  For
 * encoding, the caller's strings are only read.
 */
#ifndef TALLY_WIRE_H
#define TALLY_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "event.h"

#define WIRE_VERSION 1
#define WIRE_AGENT_ID_MAX 128		/* bytes in an agent id */

struct wire_limits {
	size_t max_compressed;	/* bytes of zlib input */
	size_t max_inflated;	/* bytes of JSON after inflating */
	unsigned max_ratio;	/* inflated / compressed, at most */
	size_t max_records;	/* records per batch */
};

/*
 * 16 MiB compressed, 32 MiB inflated, ratio 200, 1,000,000 records.
 * The inflated cap is low because the parse tree costs far more than the
 * text: cJSON spends ~64 bytes per value plus malloc overhead, so 256 MiB
 * of tiny values could take GBs.  An agent batch of 10,000 raw events is
 * about 2 MiB of JSON.
 */
extern const struct wire_limits wire_default_limits;

struct wire_kv {
	const char *key;
	const char *val;
};

/* A pre-aggregated record: many events of one (sub, code, filters, minute). */
struct wire_agg {
	const char *sub;		/* external_subscription_id */
	const char *code;		/* billable metric code */
	int64_t minute;			/* Unix seconds, a multiple of 60 */
	const struct wire_kv *filters;	/* nfilters pairs, or NULL */
	size_t nfilters;
	uint64_t count;			/* events this record stands for, >= 1 */
	const char *sum;		/* decimal text, or NULL when absent */
	const char *max;		/* decimal text, or NULL */
	const char *latest;		/* decimal text, or NULL */
	int64_t latest_ts;		/* Unix seconds of `latest`; 0 if none */
	const char *const *distinct;	/* ndistinct values, or NULL */
	size_t ndistinct;
};

enum wire_kind { WIRE_AGG = 1, WIRE_EVENT = 2 };

struct wire_rec {
	enum wire_kind kind;
	union {
		struct wire_agg agg;
		struct event ev;	/* props is a cJSON object of strings;
					 * customer and precise_total_amount_cents
					 * are carried when set */
	} u;
};

struct wire_batch {
	int v;				/* WIRE_VERSION */
	const char *agent_id;		/* 1..WIRE_AGENT_ID_MAX bytes */
	uint64_t seq;			/* per-agent sequence, >= 1 */
	int64_t created_at;		/* Unix seconds */
	uint64_t events_total;		/* sum of the records' counts */
	struct wire_rec *recs;
	size_t nrecs;
	cJSON *root;			/* decoder's tree; NULL when encoding */
	struct jsonmem *mem;		/* the arena root lives in (jsonmem.h) */
};

/*
 * Encode b as JSON and deflate it at zlib `level` (0..9, or -1 for the
 * default).  b->v and b->events_total are written as given.  On TLY_OK,
 * *out is a malloc'd buffer of *outlen bytes that the caller frees.
 * TLY_ENOMEM, TLY_EINVAL (a NULL required string, a bad kind, an integer
 * out of range, an event with neither sub nor customer, a property that is
 * not a string) or TLY_ELIB.  An event's props may be NULL (written {}).
 */
int wire_encode(const struct wire_batch *b, int level, unsigned char **out,
		size_t *outlen);

/*
 * The same encoding, streamed: wire_enc_begin writes b's header (v,
 * agent_id, seq, created_at, events_total; b->recs is not read), each
 * wire_enc_rec one record, and wire_enc_finish closes the document and
 * hands back the zlib stream as wire_encode does.  The JSON text goes
 * into deflate as it is written, so an encoder holds the compressed bytes
 * so far plus a constant, however many records it is given: a caller can
 * build each record just before writing it and free it just after.
 * Errors are those of wire_encode; after one, every later call returns
 * it, and the encoder is only good for wire_enc_free (wire_enc_finish
 * frees it too, on success or not).  events_total is written before the
 * records, so the caller must know it first.
 */
struct wire_enc;

int wire_enc_begin(const struct wire_batch *b, int level,
		   struct wire_enc **out);
int wire_enc_rec(struct wire_enc *e, const struct wire_rec *r);
int wire_enc_finish(struct wire_enc **e, unsigned char **out,
		    size_t *outlen);
void wire_enc_free(struct wire_enc **e);		/* NULL-safe */

/*
 * Inflate buf[0..len) within lim (NULL for wire_default_limits) and
 * decode it into *out.  Returns TLY_OK; TLY_ETOOBIG (over a cap or a
 * bomb); TLY_ECORRUPT (not zlib, truncated, bad checksum, not JSON, or
 * trailing bytes); TLY_EVERSION (v != 1); TLY_EINVAL (a field missing or
 * of the wrong type, a bad decimal, events_total wrong); TLY_ENOMEM.  On
 * error, err (if not NULL) holds a message naming what is wrong, e.g.
 * "records[3].sum: not a decimal string", and *out is empty.  (cJSON does
 * not tell a failed malloc from bad syntax: both read as TLY_ECORRUPT.)
 */
int wire_decode(const void *buf, size_t len, const struct wire_limits *lim,
		struct wire_batch *out, char *err, size_t errlen);

/*
 * Release a decoded batch; it is empty afterwards.  NULL-safe.  Only for
 * what wire_decode filled: it frees recs.
 */
void wire_batch_free(struct wire_batch *b);

/*
 * The inflate step alone, with the same caps and errors: on TLY_OK *out is
 * a malloc'd, NUL-terminated buffer of *outlen bytes.  Output is capped at
 * min(max_inflated, max_ratio * len) and inflating stops one byte past the
 * cap, so a bomb never costs more than that.
 */
int wire_inflate(const void *buf, size_t len, const struct wire_limits *lim,
		 char **out, size_t *outlen, char *err, size_t errlen);

#endif
