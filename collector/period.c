/*
 * period.c - Lago's billing periods (see period.h).
 *
 * Everything is integer arithmetic on UTC day numbers (days since
 * 1970-01-01, proleptic Gregorian), after Howard Hinnant's
 * days_from_civil / civil_from_days.  No mktime, timegm, TZ or floats.
 *
 * The rules mirror getlago/lago-api, app/services/subscriptions/:
 *
 *   calendar   dates/weekly_service.rb      beginning_of_week (Monday, the
 *                                           Rails default) .. end_of_week
 *              dates/monthly_service.rb     beginning_of_month .. end_of_month
 *              dates/quarterly_service.rb   beginning_of_quarter (Jan, Apr,
 *                                           Jul, Oct) .. end_of_quarter
 *              dates/semiannual_service.rb  beginning_of_half_year (Jan, Jul)
 *                                           .. end_of_half_year
 *              dates/yearly_service.rb      beginning_of_year .. end_of_year
 *
 *   anniversary weekly: previous_anniversary_day is the latest day on the
 *              subscription's weekday; compute_to_date is from + 6 days.
 *              monthly / quarterly / semiannual / yearly: the periods
 *              start, every 1 / 3 / 6 / 12 months from the subscription
 *              month, on the subscription's day of month D, or on the
 *              month's last day when the month is shorter than D
 *              (dates_service.rb build_date, and previous_anniversary_day's
 *              "anniversary day is on the current day" when the date is
 *              the last day of a month shorter than D).  Each period ends
 *              the day before the next one starts: compute_to_date builds
 *              (month + k, D - 1) clamped to the month, and steps one day
 *              back when that clamped day is the month's last day and D is
 *              larger ("subscription period will end on the previous end
 *              of day").  So, started Jan 31: Jan 31 - Feb 27 (2022),
 *              Feb 28 - Mar 30, Mar 31 - Apr 29, Apr 30 - May 30, ...  and
 *              started Feb 29 2024 (yearly): 2024-02-29 - 2025-02-27,
 *              2025-02-28 - 2026-02-27, ..., 2027-02-28 - 2028-02-28,
 *              2028-02-29 - ... (yearly_service.rb
 *              period_started_in_last_year?: "a Feb 29 subscription has its
 *              anniversary on Feb 28 in a common year").
 *
 * Lago computes these from a billing date (the anniversary day, on which
 * Subscriptions::BillingService bills) with a base date one interval
 * back; the periods it invoices that way tile time with no gap or
 * overlap, and that tiling is what period_containing returns for any t.
 */
#include <stddef.h>
#include <string.h>

#include "err.h"
#include "period.h"

#define MS_PER_DAY INT64_C(86400000)

/* period_civil_ms clamps its year to this so that ms cannot overflow. */
#define YEAR_LIMIT 100000000

/* floor(a / b) and the matching non-negative remainder, for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b != 0 && a < 0)
		q--;
	return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/*
 * Day number (days since 1970-01-01) of y-m-d; m in 1..12, d linear
 * (d = 0 is the last day of the previous month).  Hinnant's
 * days_from_civil.
 */
static int64_t days_from_civil(int64_t y, int m, int64_t d)
{
	int64_t era, yoe, doy, doe;
	int mp;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;			/* [0, 399] */
	mp = (m + 9) % 12;			/* March = 0 */
	doy = (153 * mp + 2) / 5 + d - 1;	/* [0, 365] for real dates */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil (Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;					/* [0, 146096] */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);		/* [0, 365] */
	mp = (5 * doy + 2) / 153;				/* [0, 11] */
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/*
 * y, m, d may be any ints: m outside 1..12 carries into the year (month
 * 13 is January of y + 1), d counts on linearly from the 1st (day 0 is
 * the last day of the previous month), and the year is clamped to
 * +-100,000,000 so that the result always fits.
 */
int64_t period_civil_ms(int y, int m, int d)
{
	int64_t yy = y, mm = m;

	yy += floor_div(mm - 1, 12);
	mm = floor_mod(mm - 1, 12) + 1;
	if (yy > YEAR_LIMIT)
		yy = YEAR_LIMIT;
	if (yy < -YEAR_LIMIT)
		yy = -YEAR_LIMIT;
	return days_from_civil(yy, (int)mm, d) * MS_PER_DAY;
}

/* Defined for every int64 ms (its year, at most ~2.9e8, fits an int). */
void period_civil(int64_t ms, int *y, int *m, int *d)
{
	int64_t yy;
	int mm, dd;

	civil_from_days(floor_div(ms, MS_PER_DAY), &yy, &mm, &dd);
	if (y)
		*y = (int)yy;
	if (m)
		*m = mm;
	if (d)
		*d = dd;
}

/*
 * Whole UTC days from from_ms's day to to_ms's day, both counted: 1 for
 * the same day, 22 for Aug 10 .. Aug 31.  When to_ms falls on an earlier
 * day than from_ms the count is 0 or negative (to - from + 1 in days).
 */
int period_days_between(int64_t from_ms, int64_t to_ms)
{
	return (int)(floor_div(to_ms, MS_PER_DAY) -
		     floor_div(from_ms, MS_PER_DAY) + 1);
}

/*
 * Lago's plan intervals (Plan::INTERVALS minus "daily", which the
 * contract does not carry).  Exact, case-sensitive, as Lago's enum is.
 */
int period_interval_parse(const char *s)
{
	static const struct {
		const char *name;
		enum period_interval iv;
	} names[] = {
		{"weekly", PERIOD_WEEKLY},
		{"monthly", PERIOD_MONTHLY},
		{"quarterly", PERIOD_QUARTERLY},
		{"semiannual", PERIOD_SEMIANNUAL},
		{"yearly", PERIOD_YEARLY},
	};

	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return (int)names[i].iv;
	return -1;
}

/* Fill out from the first and last day numbers of a period. */
static void set_days(struct period *out, int64_t first, int64_t last)
{
	out->from_ms = first * MS_PER_DAY;
	out->next_ms = (last + 1) * MS_PER_DAY;
	out->to_ms = out->next_ms - 1;
	out->days = (int)(last - first + 1);
}

/* Monday = 0 ... Sunday = 6; day 0 (1970-01-01) was a Thursday. */
static int weekday(int64_t dn)
{
	return (int)floor_mod(dn + 3, 7);
}

/*
 * Day number of the anniversary that opens a period: in month index a
 * (year * 12 + month - 1), on day D or the month's last day if shorter
 * (dates_service.rb build_date).
 */
static int64_t anniv_day(int64_t a, int d)
{
	int64_t y = floor_div(a, 12);
	int m = (int)floor_mod(a, 12) + 1;
	int dim = days_in_month(y, m);

	return days_from_civil(y, m, d < dim ? d : dim);
}

/* Months between anniversaries, for the month-based intervals. */
static int interval_months(enum period_interval iv)
{
	switch (iv) {
	case PERIOD_MONTHLY:
		return 1;
	case PERIOD_QUARTERLY:
		return 3;
	case PERIOD_SEMIANNUAL:
		return 6;
	case PERIOD_YEARLY:
		return 12;
	case PERIOD_WEEKLY:
		break;
	}
	return 0;
}

/*
 * Anniversary billing, monthly to yearly: the latest anniversary on or
 * before t's day, and the day before the one after it.  Mirrors
 * previous_anniversary_day + compute_to_date of monthly_service.rb,
 * quarterly_service.rb, semiannual_service.rb and yearly_service.rb.
 */
static void anniversary_months(int k, int64_t start_dn, int64_t t_dn,
			       struct period *out)
{
	int64_t sy, ty, as, at, n, first;
	int sm, sd, tm, td;

	civil_from_days(start_dn, &sy, &sm, &sd);
	civil_from_days(t_dn, &ty, &tm, &td);
	as = sy * 12 + sm - 1;
	at = ty * 12 + tm - 1;
	n = floor_div(at - as, k);	/* >= 0 since t >= start */
	first = anniv_day(as + n * k, sd);
	if (first > t_dn) {
		/* t is in the anniversary month, before its anniversary day. */
		n--;
		first = anniv_day(as + n * k, sd);
	}
	set_days(out, first, anniv_day(as + (n + 1) * k, sd) - 1);
}

/* Calendar billing: the calendar period holding t's day. */
static void calendar_period(enum period_interval iv, int64_t t_dn,
			    struct period *out)
{
	int64_t y;
	int m, d, m0, months;

	if (iv == PERIOD_WEEKLY) {
		/* weekly_service.rb: beginning_of_week .. end_of_week. */
		int64_t monday = t_dn - weekday(t_dn);

		set_days(out, monday, monday + 6);
		return;
	}
	civil_from_days(t_dn, &y, &m, &d);
	months = interval_months(iv);
	m0 = (m - 1) / months * months + 1;	/* 1; 1,4,7,10; 1,7; 1 */
	set_days(out, days_from_civil(y, m0, 1),
		 days_from_civil(y, m0 + months - 1,
				 days_in_month(y, m0 + months - 1)));
}

int period_containing(enum period_interval iv, int anniversary,
		      int64_t start_ms, int64_t t_ms, struct period *out)
{
	/* Years 1 .. 9999 keep every step far from overflow. */
	const int64_t lo = days_from_civil(1, 1, 1) * MS_PER_DAY;
	const int64_t hi = days_from_civil(10000, 1, 1) * MS_PER_DAY - 1;
	int64_t start_dn, t_dn;

	if (!out)
		return TLY_EINVAL;
	memset(out, 0, sizeof(*out));
	if ((unsigned)iv > (unsigned)PERIOD_YEARLY || t_ms < start_ms ||
	    start_ms < lo || t_ms > hi)
		return TLY_EINVAL;
	start_dn = floor_div(start_ms, MS_PER_DAY);
	t_dn = floor_div(t_ms, MS_PER_DAY);

	if (!anniversary) {
		calendar_period(iv, t_dn, out);
	} else if (iv == PERIOD_WEEKLY) {
		/* weekly_service.rb: previous_anniversary_day (same weekday
		 * as subscription_at, on or before) .. + 6 days. */
		int64_t first = t_dn -
				floor_mod(weekday(t_dn) - weekday(start_dn), 7);

		set_days(out, first, first + 6);
	} else {
		anniversary_months(interval_months(iv), start_dn, t_dn, out);
	}
	return TLY_OK;
}
