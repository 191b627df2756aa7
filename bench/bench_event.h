/*
 * bench_event.h - the synthetic event both bench tools make, so that the
 * SQLite limit (limit.c) stores exactly the rows the agent stores for
 * the load generator's events (loadgen.c).
 *
 * Event i of a run with prefix P, where h = mix(i) scrambles i:
 *   transaction_id  P-%016llx(h)              (unique: mix is a bijection;
 *                                              random-looking, as the
 *                                              UUIDs of Lago's clients),
 *                   or P-%016llx(i) with seq_tx (ever increasing)
 *   subscription    sub_%u(i % subs)
 *   properties      {"FIELD":"VALUE","region":"eu"|"us"}
 *                   VALUE given, or a decimal 0.00..99.99 drawn from h;
 *                   region alternates every `subs` events
 *   timestamp       ts_base + i * 60 / per_minute  (ts_base when 0)
 */
#ifndef TALLY_BENCH_EVENT_H
#define TALLY_BENCH_EVENT_H

#include <stdint.h>
#include <stdio.h>

struct bench_ev {
	const char *prefix;	/* transaction id prefix */
	const char *code;	/* billable metric code */
	const char *field;	/* the property carrying the value */
	const char *value;	/* its value; NULL: drawn per event */
	unsigned subs;		/* subscriptions sub_0 .. sub_(subs-1) */
	int64_t ts_base;	/* Unix seconds */
	uint64_t per_minute;	/* events per UTC minute; 0: all at ts_base */
	int seq_tx;		/* transaction ids in order, not scrambled */
};

/* splitmix64's finalizer: a bijection on 64-bit integers. */
static inline uint64_t bench_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline int64_t bench_ev_ts(const struct bench_ev *b, uint64_t i)
{
	if (!b->per_minute)
		return b->ts_base;
	return b->ts_base + (int64_t)(i / b->per_minute) * 60 +
	       (int64_t)(i % b->per_minute * 60 / b->per_minute);
}

static inline const char *bench_ev_region(const struct bench_ev *b,
					  uint64_t i)
{
	return (i / b->subs) % 2 ? "us" : "eu";
}

/* Event i's transaction id into out[size]. */
static inline int bench_ev_tx(const struct bench_ev *b, uint64_t i,
			      char *out, size_t size)
{
	return snprintf(out, size, "%s-%016llx", b->prefix,
			(unsigned long long)(b->seq_tx ? i : bench_mix(i)));
}

/* Event i's value into out[16]. */
static inline void bench_ev_value(const struct bench_ev *b, uint64_t i,
				  char out[16])
{
	uint64_t h = bench_mix(i);

	if (b->value)
		snprintf(out, 16, "%.15s", b->value);
	else
		snprintf(out, 16, "%u.%02u", (unsigned)(h >> 40) % 100,
			 (unsigned)(h >> 20) % 100);
}

/* The properties object's JSON text, as the agent stores it. */
static inline int bench_ev_props(const struct bench_ev *b, uint64_t i,
				 char *out, size_t size)
{
	char v[16];

	bench_ev_value(b, i, v);
	return snprintf(out, size, "{\"%s\":\"%s\",\"region\":\"%s\"}",
			b->field, v, bench_ev_region(b, i));
}

/* Event i as Lago's event JSON object; the length, as snprintf. */
static inline int bench_ev_json(const struct bench_ev *b, uint64_t i,
				char *out, size_t size)
{
	char tx[128], props[160];

	bench_ev_tx(b, i, tx, sizeof(tx));
	bench_ev_props(b, i, props, sizeof(props));
	return snprintf(out, size,
			"{\"transaction_id\":\"%s\","
			"\"external_subscription_id\":\"sub_%u\","
			"\"code\":\"%s\",\"timestamp\":%lld,"
			"\"properties\":%s}", tx, (unsigned)(i % b->subs),
			b->code, (long long)bench_ev_ts(b, i), props);
}

#endif
