/*
 * period.h - billing periods of Lago's plans: intervals, calendar and
 * anniversary billing, and the day counts proration uses.
 *
 * Times are Unix milliseconds, UTC.  A period is [from, to] inclusive of
 * both ends to the second as Lago writes them ("2025-11-01T00:00:00Z" to
 * "2025-11-30T23:59:59Z"); `to_ms` is the last millisecond of the last
 * day (…T23:59:59.999Z) and `next_ms` the start of the next period.
 * Weekly periods run Monday to Sunday in calendar billing.  Anniversary
 * periods start on the subscription's day (of week / month / year); a day
 * past the end of a short month (31 in February) falls on its last day,
 * as Lago does.
 */
#ifndef TALLY_PERIOD_H
#define TALLY_PERIOD_H

#include <stdint.h>

enum period_interval {
	PERIOD_WEEKLY,
	PERIOD_MONTHLY,
	PERIOD_QUARTERLY,
	PERIOD_SEMIANNUAL,
	PERIOD_YEARLY
};

struct period {
	int64_t from_ms;	/* first millisecond */
	int64_t to_ms;		/* last millisecond */
	int64_t next_ms;	/* to_ms + 1: the next period's from_ms */
	int days;		/* calendar days in [from, to] */
};

/* "weekly" ... "yearly" -> interval; -1 when unknown. */
int period_interval_parse(const char *s);

/*
 * The period of a subscription started at start_ms (its subscription_at)
 * that contains t_ms.  anniversary: periods start on start's day;
 * otherwise calendar periods (month, quarter, ...).  The first calendar
 * period of a subscription is the full calendar period containing start;
 * callers prorate it with period_prorata.  TLY_OK or TLY_EINVAL.
 */
int period_containing(enum period_interval iv, int anniversary,
		      int64_t start_ms, int64_t t_ms, struct period *out);

/*
 * Days of [from_ms, to_ms] (whole UTC days, both ends counted) — what
 * Lago prorates by: a subscription started on Aug 10 pays 22/31 of
 * August's fee.
 */
int period_days_between(int64_t from_ms, int64_t to_ms);

/* Unix ms of 00:00:00 UTC of civil date y-m-d (proleptic Gregorian). */
int64_t period_civil_ms(int y, int m, int d);

/* y, m, d of the UTC day containing ms. */
void period_civil(int64_t ms, int *y, int *m, int *d);

#endif
