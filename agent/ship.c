/*
 * ship.c - the calls every transport answers the same way (see ship.h):
 * each one embeds struct ship first and fills its ops.
 */
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "log.h"
#include "ship.h"
#include "util.h"

void ship_stop(struct ship **sp)
{
	if (!sp || !*sp)
		return;
	(*sp)->ops->stop(*sp);
	*sp = NULL;
}

void ship_get_status(struct ship *s, struct ship_status *st)
{
	s->ops->status(s, st);
}

int64_t ship_backoff(const struct ship_opts *o, int n)
{
	int64_t d = o->backoff_min_ms;
	unsigned r = 0;

	for (int i = 1; i < n && d < o->backoff_max_ms; i++)
		d *= 2;
	if (d > o->backoff_max_ms)
		d = o->backoff_max_ms;
	util_random(&r, sizeof(r));
	return d / 2 + (int64_t)(r % (unsigned)(d / 2 + 1));	/* [d/2, d] */
}

int64_t ship_maybe_make(struct buf *b, const struct ship_opts *o,
			int64_t now, int64_t *last_make)
{
	for (int i = 0; i <= o->inflight; i++) {
		struct buf_stats st;
		int made = 0;

		buf_get_stats(b, &st);
		if (st.pending_events == 0 || st.outbox_batches >= o->inflight)
			return INT64_MAX;
		if (st.pending_events < o->batch_max_events &&
		    now - *last_make < o->flush_interval_ms)
			return *last_make + o->flush_interval_ms;
		if (buf_make_batch(b, &made) != TLY_OK) {
			log_error("ship: cannot make a batch (see above); "
				  "retrying in a second");
			return now + 1000;
		}
		*last_make = now;
	}
	return now;
}

int ship_take_catalog(struct buf *b, const char *text, int64_t *version)
{
	cJSON *cat = cJSON_Parse(text);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cat, "version");
	int rc = TLY_EINVAL;

	if (cJSON_IsNumber(v)) {
		rc = TLY_OK;
		if ((int64_t)v->valuedouble != *version)
			rc = buf_set_catalog(b, text);
		if (rc == TLY_OK && (int64_t)v->valuedouble != *version) {
			*version = (int64_t)v->valuedouble;
			log_info("ship: catalog version %lld",
				 (long long)*version);
		}
	}
	cJSON_Delete(cat);
	return rc;
}
