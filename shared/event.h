/*
 * event.h - parse and validate Lago usage events with cJSON.
 *
 * The event is Lago's (DESIGN.md, Events):
 *   {"transaction_id": "tx-1", "external_subscription_id": "sub_1",
 *    "code": "api_calls", "timestamp": 1764000000,
 *    "properties": {"bytes": 512, "region": "eu"}}
 *
 * Parsing normalises as it validates, so that everything downstream sees
 * one form:
 *   - timestamp: integer, float or numeric-string Unix seconds, or RFC 3339
 *     text; stored as Unix milliseconds (Lago keeps milliseconds); absent
 *     or null means the `now_ms` the caller passes.
 *   - properties: a flat object whose values are strings or numbers; a
 *     JSON number becomes the string of the shortest decimal that round
 *     trips its double (dec_fmt_double), so 0.1 stays "0.1".  Strings are
 *     kept as sent.  Nested objects, arrays, booleans and null are refused.
 *   - a key sent twice: the last one counts (as in Rails, which Lago runs
 *     on); the earlier ones are removed from the tree.
 *
 * Errors name the field with Lago's codes, and are collected (all fields of
 * an event, every bad event of a batch) so that the HTTP layer can answer
 * Lago's 422 body: {"error_details": {"code": ["value_is_mandatory"]}} for
 * a single event, {"error_details": {"3": {"code": [...]}}} in a batch.
 *
 * Ownership: a struct ev_batch owns one cJSON tree, built in an arena of
 * its own (jsonmem.h); every const char * in its events points into it
 * and lives until ev_batch_free.  A caller may build more cJSON in that
 * arena (b->mem) to answer the request; it goes with the batch.
 */
#ifndef TALLY_EVENT_H
#define TALLY_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#define EV_ID_MAX 256		/* bytes in transaction_id, subscription, code */
#define EV_PROPS_MAX 64		/* properties per event */
#define EV_PROP_KEY_MAX 128	/* bytes in a property key */
#define EV_PROP_VAL_MAX 1024	/* bytes in a property value */
#define EV_ERRS_MAX 32		/* errors collected per parse; the rest counted */

/* One validated event.  Strings are NUL-terminated and non-empty. */
struct event {
	const char *transaction_id;	/* <= EV_ID_MAX bytes */
	const char *sub;		/* external_subscription_id, or NULL when
					 * only external_customer_id was sent */
	const char *customer;		/* external_customer_id, or NULL */
	const char *code;		/* billable metric code */
	int64_t ts_ms;			/* Unix time, milliseconds */
	const char *precise_total_amount_cents; /* decimal text, or NULL */
	cJSON *props;			/* object of string values; never NULL */
	const char *props_json;		/* props as compact JSON text, made by
					 * ev_parse (so that the thread that
					 * parsed pays for it); or NULL */
};

/* A parsed request: one event or a batch. */
struct ev_batch {
	struct event *evs;	/* n events, in the order sent */
	size_t n;
	cJSON *root;		/* every string above points into it */
	struct jsonmem *mem;	/* the arena root lives in (jsonmem.h) */
};

/* One validation failure. */
struct ev_error {
	int index;		/* position in the batch; -1 for a single event
				 * or for an error about the whole request */
	char field[EV_PROP_KEY_MAX + 16]; /* "transaction_id", "properties.gb",
					   * "events" for the request */
	const char *code;	/* Lago's code: "value_is_mandatory",
				 * "invalid_format", "invalid_type",
				 * "value_is_too_long", "no_events",
				 * "too_many_events", "invalid_json" */
};

struct ev_errs {
	struct ev_error e[EV_ERRS_MAX];
	size_t n;		/* stored, <= EV_ERRS_MAX */
	size_t dropped;		/* found past EV_ERRS_MAX */
};

/* What wraps the event(s) in the request body. */
enum ev_shape {
	EV_SHAPE_BARE,		/* {...event...}  (socket lines, CLI) */
	EV_SHAPE_SINGLE,	/* {"event": {...}}  (POST /api/v1/events) */
	EV_SHAPE_BATCH		/* {"events": [...]} (POST /api/v1/events/batch) */
};

/*
 * Parse and validate json[0..len) of the given shape.  max_events caps a
 * batch (Lago's default is 100; 0 means no cap).  On TLY_OK *out holds the
 * events; on TLY_EINVAL errs says why and *out is empty; TLY_ENOMEM when
 * memory ran out.  errs may not be NULL.  One bad event rejects the whole
 * batch.  The body must be UTF-8 without NUL bytes ("body": invalid_json),
 * and may not hold a "\u0000" escape, which a C string cannot carry
 * ("body": invalid_format).
 */
int ev_parse(const char *json, size_t len, enum ev_shape shape,
	     size_t max_events, int64_t now_ms, struct ev_batch *out,
	     struct ev_errs *errs);

/* Release what ev_parse filled; the batch is empty afterwards.  NULL-safe. */
void ev_batch_free(struct ev_batch *b);

/*
 * Validate one cJSON event object and fill *ev with pointers into it;
 * the object is normalised in place (its properties' numbers become
 * strings, a timestamp is resolved into ev->ts_ms while the tree keeps it
 * as sent).  index goes into any error.  Used by ev_parse and by code that
 * already holds a cJSON tree.  On error *ev is zeroed.
 */
int ev_from_json(cJSON *obj, int64_t now_ms, int index, struct event *ev,
		 struct ev_errs *errs);

/*
 * Parse a timestamp given as Unix seconds in text ("1764000000",
 * "1764000000.25") or RFC 3339 ("2025-11-24T16:00:00Z",
 * "2025-11-24T17:00:00.5+01:00").  Returns TLY_OK or TLY_EINVAL.
 */
int ev_parse_time(const char *s, int64_t *ts_ms);

/* The value of property key, or NULL. */
const char *ev_prop(const struct event *ev, const char *key);

/* Current wall-clock time in Unix milliseconds. */
int64_t ev_now_ms(void);

/*
 * Lago's 422 body for errs:
 *  {"status":422,"error":"Unprocessable Entity","code":"validation_errors",
 *   "error_details":{...}}
 * as a new string the caller frees (NULL when out of memory).
 */
char *ev_errs_json(const struct ev_errs *errs);

/* One line for a log or a socket answer: "code: value_is_mandatory". */
void ev_errs_line(const struct ev_errs *errs, char *buf, size_t size);

#endif
