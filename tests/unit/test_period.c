/*
 * test_period.c - billing periods: civil-date arithmetic, calendar and
 * anniversary periods of every interval, month ends, leap years, the
 * boundaries between periods, and the proration day counts.
 *
 * Expected dates marked "Lago:" come from getlago/lago-api's own specs,
 * spec/services/subscriptions/dates/<interval>_service_spec.rb (and
 * spec/services/subscriptions/billing_service_spec.rb).  Lago bills on
 * billing_at for the period that ended the day before (pay in arrears),
 * or for the period starting on billing_at (pay in advance); either way
 * the period is the one period_containing returns for a day inside it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "period.h"

#define DAY INT64_C(86400000)

/* "YYYY-MM-DD", optionally "THH:MM:SS" and ".mmm", UTC, to Unix ms. */
static int64_t ms(const char *s)
{
	int y, mo, d, h = 0, mi = 0, se = 0, milli = 0;
	int n = sscanf(s, "%d-%d-%dT%d:%d:%d.%d", &y, &mo, &d, &h, &mi, &se,
		       &milli);

	assert_true(n == 3 || n == 6 || n == 7);
	return period_civil_ms(y, mo, d) +
	       ((int64_t)h * 3600 + mi * 60 + se) * 1000 + milli;
}

/* Unix ms to "YYYY-MM-DDTHH:MM:SS.mmmZ" (buf of 32 bytes). */
static const char *iso(int64_t t, char *buf)
{
	int y, m, d;
	int64_t tod = t % DAY;

	if (tod < 0)
		tod += DAY;
	period_civil(t, &y, &m, &d);
	snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
		 (int)(tod / 3600000), (int)(tod / 60000 % 60),
		 (int)(tod / 1000 % 60), (int)(tod % 1000));
	return buf;
}

/* The day "YYYY-MM-DD" of a ms, for comparisons. */
static const char *day_of(int64_t t, char *buf)
{
	iso(t, buf);
	buf[10] = '\0';
	return buf;
}

/*
 * The period of (iv, anniv, start) containing t must run from `from`
 * 00:00:00.000 to `to` 23:59:59.999, `days` long, next = to + 1.
 */
static void check(int line, enum period_interval iv, int anniv,
		  const char *start, const char *t, const char *from,
		  const char *to, int days)
{
	struct period p;
	char got_from[32], got_to[32], want_from[32], want_to[32];
	int rc = period_containing(iv, anniv, ms(start), ms(t), &p);

	snprintf(want_from, sizeof(want_from), "%sT00:00:00.000Z", from);
	snprintf(want_to, sizeof(want_to), "%sT23:59:59.999Z", to);
	iso(p.from_ms, got_from);
	iso(p.to_ms, got_to);
	if (rc != TLY_OK || strcmp(got_from, want_from) != 0 ||
	    strcmp(got_to, want_to) != 0 || p.days != days ||
	    p.next_ms != p.to_ms + 1) {
		print_error("line %d: iv %d anniv %d start %s t %s: rc %d "
			    "got %s .. %s (%d days, next-to %lld), want "
			    "%s .. %s (%d days)\n",
			    line, (int)iv, anniv, start, t, rc, got_from,
			    got_to, p.days, (long long)(p.next_ms - p.to_ms),
			    want_from, want_to, days);
		fail();
	}
}

#define PER(iv, anniv, start, t, from, to, days) \
	check(__LINE__, iv, anniv, start, t, from, to, days)
#define CAL(iv, start, t, from, to, days) PER(iv, 0, start, t, from, to, days)
#define ANN(iv, start, t, from, to, days) PER(iv, 1, start, t, from, to, days)

static void test_civil_known(void **state)
{
	char b[32];
	int y, m, d;

	(void)state;
	/* Values from `date -u -d <day> +%s`, times 1000. */
	assert_int_equal(period_civil_ms(1970, 1, 1), 0);
	assert_int_equal(period_civil_ms(1969, 12, 31), INT64_C(-86400000));
	assert_int_equal(period_civil_ms(2000, 2, 29), INT64_C(951782400000));
	assert_int_equal(period_civil_ms(2000, 3, 1), INT64_C(951868800000));
	assert_int_equal(period_civil_ms(2024, 2, 29),
			 INT64_C(1709164800000));
	assert_int_equal(period_civil_ms(2100, 2, 28),
			 INT64_C(4107456000000));
	/* 2100 is not a leap year: Feb 28 is followed by Mar 1. */
	assert_int_equal(period_civil_ms(2100, 3, 1),
			 INT64_C(4107542400000));
	assert_int_equal(period_civil_ms(2099, 12, 31),
			 INT64_C(4102358400000));
	assert_int_equal(period_civil_ms(1900, 3, 1),
			 INT64_C(-2203891200000));
	assert_int_equal(period_civil_ms(1600, 1, 1),
			 INT64_C(-11676096000000));
	assert_int_equal(period_civil_ms(1, 1, 1),
			 INT64_C(-62135596800000));
	assert_int_equal(period_civil_ms(9999, 12, 31),
			 INT64_C(253402214400000));

	/* Months carry into years, days count on linearly. */
	assert_int_equal(period_civil_ms(2023, 13, 1),
			 period_civil_ms(2024, 1, 1));
	assert_int_equal(period_civil_ms(2024, 0, 1),
			 period_civil_ms(2023, 12, 1));
	assert_int_equal(period_civil_ms(2024, -11, 1),
			 period_civil_ms(2023, 1, 1));
	assert_int_equal(period_civil_ms(2024, 3, 0),
			 period_civil_ms(2024, 2, 29));
	assert_int_equal(period_civil_ms(2023, 3, 0),
			 period_civil_ms(2023, 2, 28));
	assert_int_equal(period_civil_ms(2024, 1, 32),
			 period_civil_ms(2024, 2, 1));

	/* The day containing a ms, before and after the epoch. */
	assert_string_equal(iso(0, b), "1970-01-01T00:00:00.000Z");
	assert_string_equal(iso(-1, b), "1969-12-31T23:59:59.999Z");
	assert_string_equal(iso(-DAY, b), "1969-12-31T00:00:00.000Z");
	assert_string_equal(iso(-DAY - 1, b), "1969-12-30T23:59:59.999Z");
	assert_string_equal(iso(INT64_C(951868799999), b),
			    "2000-02-29T23:59:59.999Z");
	assert_string_equal(iso(INT64_C(4107542399999), b),
			    "2100-02-28T23:59:59.999Z");
	assert_string_equal(iso(INT64_C(1709210096789), b),
			    "2024-02-29T12:34:56.789Z");
	period_civil(INT64_C(253402300799999), &y, &m, &d);
	assert_int_equal(y, 9999);
	assert_int_equal(m, 12);
	assert_int_equal(d, 31);
	/* NULL outputs are allowed. */
	period_civil(0, NULL, &m, NULL);
	assert_int_equal(m, 1);
	/* Extreme inputs stay defined. */
	period_civil(INT64_MAX, &y, &m, &d);
	assert_true(y > 292000000);
	period_civil(INT64_MIN, &y, &m, &d);
	assert_true(y < -292000000);
	assert_true(period_civil_ms(2147483647, 12, 31) > 0);
	assert_true(period_civil_ms(-2147483647 - 1, 1, 1) < 0);
}

/*
 * Walk every day from 1600-01-01 to 2400-12-31 with a naive calendar
 * (month lengths and the 4/100/400 rule) and check both directions.
 */
static void test_civil_walk(void **state)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	int64_t t = period_civil_ms(1600, 1, 1);
	int y = 1600, m = 1, d = 1;

	(void)state;
	while (y <= 2400) {
		int gy, gm, gd;
		int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		int len = dim[m - 1] + (m == 2 && leap);

		if (period_civil_ms(y, m, d) != t)
			fail_msg("civil_ms %d-%d-%d", y, m, d);
		period_civil(t, &gy, &gm, &gd);
		if (gy != y || gm != m || gd != d)
			fail_msg("civil %d-%d-%d got %d-%d-%d", y, m, d, gy,
				 gm, gd);
		period_civil(t + DAY - 1, &gy, &gm, &gd);
		if (gy != y || gm != m || gd != d)
			fail_msg("civil end of %d-%d-%d", y, m, d);
		t += DAY;
		if (++d > len) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
}

static void test_days_between(void **state)
{
	(void)state;
	/* LAGO.md: started Aug 10 in a 31-day month -> 22 days. */
	assert_int_equal(period_days_between(ms("2025-08-10"),
					     ms("2025-08-31T23:59:59.999")),
			 22);
	assert_int_equal(period_days_between(ms("2025-08-10T17:45:00"),
					     ms("2025-08-31")),
			 22);
	/* Upgrade example: 14/31 then 17/31 of August. */
	assert_int_equal(period_days_between(ms("2025-08-01"),
					     ms("2025-08-14T23:59:59.999")),
			 14);
	assert_int_equal(period_days_between(ms("2025-08-15"),
					     ms("2025-08-31T23:59:59.999")),
			 17);
	assert_int_equal(period_days_between(ms("2025-08-10"),
					     ms("2025-08-10T23:59:59.999")),
			 1);
	assert_int_equal(period_days_between(ms("2025-08-10T23:59:59.999"),
					     ms("2025-08-11")),
			 2);
	/* Across February, leap and not, and across the epoch. */
	assert_int_equal(period_days_between(ms("2024-02-01"),
					     ms("2024-03-01")),
			 30);
	assert_int_equal(period_days_between(ms("2023-02-01"),
					     ms("2023-03-01")),
			 29);
	assert_int_equal(period_days_between(ms("2100-02-01"),
					     ms("2100-03-01")),
			 29);
	assert_int_equal(period_days_between(ms("2000-02-01"),
					     ms("2000-03-01")),
			 30);
	assert_int_equal(period_days_between(-1, 0), 2);
	assert_int_equal(period_days_between(ms("1969-12-01"),
					     ms("1970-01-31T23:59:59.999")),
			 62);
	assert_int_equal(period_days_between(ms("2024-01-01"),
					     ms("2024-12-31")),
			 366);
	/* Reversed: the signed count. */
	assert_int_equal(period_days_between(ms("2025-08-11"),
					     ms("2025-08-10")),
			 0);
}

static void test_interval_parse(void **state)
{
	(void)state;
	assert_int_equal(period_interval_parse("weekly"), PERIOD_WEEKLY);
	assert_int_equal(period_interval_parse("monthly"), PERIOD_MONTHLY);
	assert_int_equal(period_interval_parse("quarterly"),
			 PERIOD_QUARTERLY);
	assert_int_equal(period_interval_parse("semiannual"),
			 PERIOD_SEMIANNUAL);
	assert_int_equal(period_interval_parse("yearly"), PERIOD_YEARLY);
	assert_int_equal(period_interval_parse("daily"), -1);
	assert_int_equal(period_interval_parse("Monthly"), -1);
	assert_int_equal(period_interval_parse("monthly "), -1);
	assert_int_equal(period_interval_parse("month"), -1);
	assert_int_equal(period_interval_parse("semi_annual"), -1);
	assert_int_equal(period_interval_parse("annual"), -1);
	assert_int_equal(period_interval_parse(""), -1);
	assert_int_equal(period_interval_parse(NULL), -1);
}

static void test_calendar_weekly(void **state)
{
	(void)state;
	/* Lago: billing_at Mon 07 Mar 2022 -> previous week
	 * 2022-02-28 (a Monday) .. 2022-03-06 23:59:59. */
	CAL(PERIOD_WEEKLY, "2021-02-02", "2022-03-02", "2022-02-28",
	    "2022-03-06", 7);
	/* Lago (pay in advance): the week of Mar 7 ends Sun Mar 13. */
	CAL(PERIOD_WEEKLY, "2021-02-02", "2022-03-07", "2022-03-07",
	    "2022-03-13", 7);
	/* Sunday's last ms is this week; Monday 00:00 the next. */
	CAL(PERIOD_WEEKLY, "2021-02-02", "2022-03-06T23:59:59.999",
	    "2022-02-28", "2022-03-06", 7);
	CAL(PERIOD_WEEKLY, "2021-02-02", "2022-02-28T00:00:00.000",
	    "2022-02-28", "2022-03-06", 7);
	CAL(PERIOD_WEEKLY, "2021-02-02", "2022-02-27T23:59:59.999",
	    "2022-02-21", "2022-02-27", 7);
	/* A week across a year end and across Feb 29. */
	CAL(PERIOD_WEEKLY, "2024-12-31", "2024-12-31", "2024-12-30",
	    "2025-01-05", 7);
	CAL(PERIOD_WEEKLY, "2024-02-20", "2024-02-29", "2024-02-26",
	    "2024-03-03", 7);
	/* The first calendar week is the whole week holding the start. */
	CAL(PERIOD_WEEKLY, "2024-02-29T15:00:00", "2024-02-29T15:00:00",
	    "2024-02-26", "2024-03-03", 7);
	/* The epoch was a Thursday: its week began Mon 1969-12-29. */
	CAL(PERIOD_WEEKLY, "1970-01-01", "1970-01-01", "1969-12-29",
	    "1970-01-04", 7);
	/* 2099-12-31 is a Thursday. */
	CAL(PERIOD_WEEKLY, "2099-01-01", "2099-12-31", "2099-12-28",
	    "2100-01-03", 7);
}

static void test_calendar_monthly(void **state)
{
	(void)state;
	/* Lago: billing_at 01 Mar 2022 -> 2022-02-01 .. 2022-02-28. */
	CAL(PERIOD_MONTHLY, "2021-02-02", "2022-02-15", "2022-02-01",
	    "2022-02-28", 28);
	/* Lago (pay in advance): the month of Mar 1 ends Mar 31. */
	CAL(PERIOD_MONTHLY, "2021-02-02", "2022-03-01", "2022-03-01",
	    "2022-03-31", 31);
	/* Lago: "when on a leap year" a February lasts 29 days. */
	CAL(PERIOD_MONTHLY, "2019-02-28", "2020-02-29", "2020-02-01",
	    "2020-02-29", 29);
	CAL(PERIOD_MONTHLY, "2024-01-31", "2024-02-29T23:59:59.999",
	    "2024-02-01", "2024-02-29", 29);
	CAL(PERIOD_MONTHLY, "2024-01-31", "2024-03-01", "2024-03-01",
	    "2024-03-31", 31);
	CAL(PERIOD_MONTHLY, "2100-01-15", "2100-02-28", "2100-02-01",
	    "2100-02-28", 28);
	CAL(PERIOD_MONTHLY, "2100-01-15", "2100-03-01", "2100-03-01",
	    "2100-03-31", 31);
	CAL(PERIOD_MONTHLY, "2000-01-15", "2000-02-29", "2000-02-01",
	    "2000-02-29", 29);
	CAL(PERIOD_MONTHLY, "2023-01-15", "2023-02-28", "2023-02-01",
	    "2023-02-28", 28);
	CAL(PERIOD_MONTHLY, "2022-04-10", "2022-04-30", "2022-04-01",
	    "2022-04-30", 30);
	CAL(PERIOD_MONTHLY, "2022-12-10", "2022-12-31T23:59:59.999",
	    "2022-12-01", "2022-12-31", 31);
	CAL(PERIOD_MONTHLY, "2022-12-10", "2023-01-01", "2023-01-01",
	    "2023-01-31", 31);
	CAL(PERIOD_MONTHLY, "1970-01-01", "1970-01-01", "1970-01-01",
	    "1970-01-31", 31);
	CAL(PERIOD_MONTHLY, "2099-12-01", "2099-12-31T23:59:59.999",
	    "2099-12-01", "2099-12-31", 31);
}

static void test_calendar_quarterly(void **state)
{
	(void)state;
	/* Lago: billing_at 01 Jul 2022 -> the quarter from 2022-04-01. */
	CAL(PERIOD_QUARTERLY, "2021-02-02", "2022-06-30", "2022-04-01",
	    "2022-06-30", 91);
	CAL(PERIOD_QUARTERLY, "2021-02-02", "2022-01-01", "2022-01-01",
	    "2022-03-31", 90);
	CAL(PERIOD_QUARTERLY, "2021-02-02", "2022-03-31T23:59:59.999",
	    "2022-01-01", "2022-03-31", 90);
	CAL(PERIOD_QUARTERLY, "2021-02-02", "2022-04-01", "2022-04-01",
	    "2022-06-30", 91);
	CAL(PERIOD_QUARTERLY, "2021-02-02", "2022-08-15", "2022-07-01",
	    "2022-09-30", 92);
	CAL(PERIOD_QUARTERLY, "2021-02-02", "2022-12-31", "2022-10-01",
	    "2022-12-31", 92);
	CAL(PERIOD_QUARTERLY, "2024-02-29", "2024-02-29", "2024-01-01",
	    "2024-03-31", 91);
	CAL(PERIOD_QUARTERLY, "2100-02-10", "2100-02-28", "2100-01-01",
	    "2100-03-31", 90);
	CAL(PERIOD_QUARTERLY, "2000-02-10", "2000-02-28", "2000-01-01",
	    "2000-03-31", 91);
}

static void test_calendar_semiannual(void **state)
{
	(void)state;
	CAL(PERIOD_SEMIANNUAL, "2021-02-02", "2022-06-30T23:59:59.999",
	    "2022-01-01", "2022-06-30", 181);
	CAL(PERIOD_SEMIANNUAL, "2021-02-02", "2022-07-01", "2022-07-01",
	    "2022-12-31", 184);
	CAL(PERIOD_SEMIANNUAL, "2021-02-02", "2022-12-31", "2022-07-01",
	    "2022-12-31", 184);
	CAL(PERIOD_SEMIANNUAL, "2024-03-05", "2024-03-05", "2024-01-01",
	    "2024-06-30", 182);
	CAL(PERIOD_SEMIANNUAL, "2100-03-05", "2100-03-05", "2100-01-01",
	    "2100-06-30", 181);
	CAL(PERIOD_SEMIANNUAL, "2000-03-05", "2000-03-05", "2000-01-01",
	    "2000-06-30", 182);
}

static void test_calendar_yearly(void **state)
{
	(void)state;
	CAL(PERIOD_YEARLY, "2021-02-02", "2022-03-07", "2022-01-01",
	    "2022-12-31", 365);
	CAL(PERIOD_YEARLY, "2024-02-29", "2024-02-29", "2024-01-01",
	    "2024-12-31", 366);
	CAL(PERIOD_YEARLY, "2024-02-29", "2024-12-31T23:59:59.999",
	    "2024-01-01", "2024-12-31", 366);
	CAL(PERIOD_YEARLY, "2024-02-29", "2025-01-01", "2025-01-01",
	    "2025-12-31", 365);
	CAL(PERIOD_YEARLY, "2100-06-01", "2100-06-01", "2100-01-01",
	    "2100-12-31", 365);
	CAL(PERIOD_YEARLY, "2000-06-01", "2000-06-01", "2000-01-01",
	    "2000-12-31", 366);
	CAL(PERIOD_YEARLY, "2099-06-01", "2099-12-31T23:59:59.999",
	    "2099-01-01", "2099-12-31", 365);
	CAL(PERIOD_YEARLY, "1970-01-01", "1970-01-01", "1970-01-01",
	    "1970-12-31", 365);
}

static void test_anniversary_weekly(void **state)
{
	(void)state;
	/* Lago: subscription_at Tue 02 Feb 2021, billing_at 09 Mar 2022
	 * -> 2022-03-01 (a Tuesday) .. 2022-03-07 23:59:59. */
	ANN(PERIOD_WEEKLY, "2021-02-02", "2022-03-02", "2022-03-01",
	    "2022-03-07", 7);
	ANN(PERIOD_WEEKLY, "2021-02-02", "2022-03-07T23:59:59.999",
	    "2022-03-01", "2022-03-07", 7);
	/* Lago (pay in advance, billing_at 08 Mar): .. 2022-03-14. */
	ANN(PERIOD_WEEKLY, "2021-02-02", "2022-03-08", "2022-03-08",
	    "2022-03-14", 7);
	/* Lago previous_beginning_of_period: 2022-02-22. */
	ANN(PERIOD_WEEKLY, "2021-02-02", "2022-02-28", "2022-02-22",
	    "2022-02-28", 7);
	/* The first period starts on the start day, whatever its hour. */
	ANN(PERIOD_WEEKLY, "2021-02-02T18:30:00", "2021-02-02T18:30:00",
	    "2021-02-02", "2021-02-08", 7);
	ANN(PERIOD_WEEKLY, "2021-02-02T18:30:00", "2021-02-08T23:59:59.999",
	    "2021-02-02", "2021-02-08", 7);
	ANN(PERIOD_WEEKLY, "2021-02-02T18:30:00", "2021-02-09", "2021-02-09",
	    "2021-02-15", 7);
	/* Started on a Sunday: Sunday .. Saturday, not Monday-based. */
	ANN(PERIOD_WEEKLY, "2024-03-03", "2024-03-11", "2024-03-10",
	    "2024-03-16", 7);
	/* Across Feb 29 and a year end. */
	ANN(PERIOD_WEEKLY, "2024-02-29", "2024-03-06", "2024-02-29",
	    "2024-03-06", 7);
	ANN(PERIOD_WEEKLY, "2024-02-29", "2025-01-01", "2024-12-26",
	    "2025-01-01", 7);
	/* From the epoch (a Thursday) and into 2100. */
	ANN(PERIOD_WEEKLY, "1970-01-01", "1970-01-07T23:59:59.999",
	    "1970-01-01", "1970-01-07", 7);
	ANN(PERIOD_WEEKLY, "1970-01-01", "2099-12-31", "2099-12-31",
	    "2100-01-06", 7);
}

static void test_anniversary_monthly(void **state)
{
	(void)state;
	/* Lago: subscription_at 02 Feb 2021, billing_at 02 Mar 2022
	 * -> 2022-02-02 .. 2022-03-01 (28 days: "single_day_price" is
	 * amount / 28). */
	ANN(PERIOD_MONTHLY, "2021-02-02", "2022-02-20", "2022-02-02",
	    "2022-03-01", 28);
	ANN(PERIOD_MONTHLY, "2021-02-02", "2022-03-01T23:59:59.999",
	    "2022-02-02", "2022-03-01", 28);
	/* Lago (pay in advance): 2022-03-02 .. 2022-04-01. */
	ANN(PERIOD_MONTHLY, "2021-02-02", "2022-03-02", "2022-03-02",
	    "2022-04-01", 31);
	/* Lago "billing last month of year": billing_at 04 Jan 2022
	 * -> .. 2022-01-01; next_end_of_period for 07 Dec 2021 is
	 * 2022-01-01. */
	ANN(PERIOD_MONTHLY, "2021-02-02", "2021-12-07", "2021-12-02",
	    "2022-01-01", 31);
	/* Lago "when on a leap year": 2020-02-02 .. 2020-03-01, 29 days. */
	ANN(PERIOD_MONTHLY, "2019-02-02", "2020-02-10", "2020-02-02",
	    "2020-03-01", 29);
	/* Lago "anniversary date is first day of the month": started
	 * 01 Jan 2022 -> .. 2022-02-28, i.e. calendar months. */
	ANN(PERIOD_MONTHLY, "2022-01-01", "2022-02-14", "2022-02-01",
	    "2022-02-28", 28);
	/* Before the day of month in t's month: the previous month's. */
	ANN(PERIOD_MONTHLY, "2022-01-15T10:00:00", "2022-03-14T23:59:59.999",
	    "2022-02-15", "2022-03-14", 28);
	ANN(PERIOD_MONTHLY, "2022-01-15T10:00:00", "2022-03-15", "2022-03-15",
	    "2022-04-14", 31);
	/* From the epoch and far out. */
	ANN(PERIOD_MONTHLY, "1970-01-01", "1970-01-31T23:59:59.999",
	    "1970-01-01", "1970-01-31", 31);
	ANN(PERIOD_MONTHLY, "1970-01-10", "2099-12-31", "2099-12-10",
	    "2100-01-09", 31);
}

/* A day past the end of a short month: Lago's month-end rules. */
static void test_anniversary_month_end(void **state)
{
	(void)state;
	/* Lago: subscription_at 31 Jan 2022, billing_at 28 Feb 2022
	 * -> to_datetime 2022-02-27 23:59:59: Feb 28 opens the next. */
	ANN(PERIOD_MONTHLY, "2022-01-31", "2022-02-27T23:59:59.999",
	    "2022-01-31", "2022-02-27", 28);
	ANN(PERIOD_MONTHLY, "2022-01-31", "2022-02-28", "2022-02-28",
	    "2022-03-30", 31);
	/* ... and back to the 31st in a long month. */
	ANN(PERIOD_MONTHLY, "2022-01-31", "2022-03-31", "2022-03-31",
	    "2022-04-29", 30);
	ANN(PERIOD_MONTHLY, "2022-01-31", "2022-04-30", "2022-04-30",
	    "2022-05-30", 31);
	ANN(PERIOD_MONTHLY, "2022-01-31", "2022-05-31", "2022-05-31",
	    "2022-06-29", 30);
	ANN(PERIOD_MONTHLY, "2022-01-31", "2022-12-31", "2022-12-31",
	    "2023-01-30", 31);
	/* Lago: subscription_at 30 Jan 2022 ends the same way (Feb 27). */
	ANN(PERIOD_MONTHLY, "2022-01-30", "2022-02-01", "2022-01-30",
	    "2022-02-27", 29);
	ANN(PERIOD_MONTHLY, "2022-01-30", "2022-02-28", "2022-02-28",
	    "2022-03-29", 30);
	/* Leap year: Lago (pay in advance) subscription_at 31 Jan 2020,
	 * billing_at 29 Feb 2020 -> from 2020-02-29. */
	ANN(PERIOD_MONTHLY, "2020-01-31", "2020-02-28", "2020-01-31",
	    "2020-02-28", 29);
	ANN(PERIOD_MONTHLY, "2020-01-31", "2020-02-29", "2020-02-29",
	    "2020-03-30", 31);
	ANN(PERIOD_MONTHLY, "2024-01-31", "2024-02-29T23:59:59.999",
	    "2024-02-29", "2024-03-30", 31);
	ANN(PERIOD_MONTHLY, "2024-01-31", "2024-03-31", "2024-03-31",
	    "2024-04-29", 30);
	/* Lago: subscription_at 31 Mar 2021, billing_at 30 Apr 2021:
	 * in arrears from 2021-03-31, in advance from 2021-04-30. */
	ANN(PERIOD_MONTHLY, "2021-03-31", "2021-04-29", "2021-03-31",
	    "2021-04-29", 30);
	ANN(PERIOD_MONTHLY, "2021-03-31", "2021-04-30", "2021-04-30",
	    "2021-05-30", 31);
	/* Lago: subscription_at 31 Mar 2021, terminated 29 Mar 2022
	 * -> from 2022-02-28. */
	ANN(PERIOD_MONTHLY, "2021-03-31", "2022-03-29", "2022-02-28",
	    "2022-03-30", 31);
	/* Lago: subscription_at 30 Apr 2019, billing_at 30 Mar 2020
	 * (in arrears) -> from 2020-02-29. */
	ANN(PERIOD_MONTHLY, "2019-04-30", "2020-03-01", "2020-02-29",
	    "2020-03-29", 30);
	/* The 29th: Feb 28 in common years, Feb 29 in leap ones. */
	ANN(PERIOD_MONTHLY, "2023-01-29", "2023-02-28", "2023-02-28",
	    "2023-03-28", 29);
	ANN(PERIOD_MONTHLY, "2023-01-29", "2023-02-27", "2023-01-29",
	    "2023-02-27", 30);
	ANN(PERIOD_MONTHLY, "2024-01-29", "2024-02-28", "2024-01-29",
	    "2024-02-28", 31);
	ANN(PERIOD_MONTHLY, "2024-01-29", "2024-02-29", "2024-02-29",
	    "2024-03-28", 29);
	/* 2100 is not a leap year, 2000 is. */
	ANN(PERIOD_MONTHLY, "2099-12-31", "2100-02-28", "2100-02-28",
	    "2100-03-30", 31);
	ANN(PERIOD_MONTHLY, "2099-12-31", "2100-02-27", "2100-01-31",
	    "2100-02-27", 28);
	ANN(PERIOD_MONTHLY, "1999-12-31", "2000-02-28", "2000-01-31",
	    "2000-02-28", 29);
	ANN(PERIOD_MONTHLY, "1999-12-31", "2000-02-29", "2000-02-29",
	    "2000-03-30", 31);
}

static void test_anniversary_quarterly(void **state)
{
	(void)state;
	ANN(PERIOD_QUARTERLY, "2021-02-02", "2021-02-02", "2021-02-02",
	    "2021-05-01", 89);
	ANN(PERIOD_QUARTERLY, "2021-02-02", "2022-05-01T23:59:59.999",
	    "2022-02-02", "2022-05-01", 89);
	ANN(PERIOD_QUARTERLY, "2021-02-02", "2022-05-02", "2022-05-02",
	    "2022-08-01", 92);
	ANN(PERIOD_QUARTERLY, "2021-02-02", "2022-12-25", "2022-11-02",
	    "2023-02-01", 92);
	/* Lago: subscription_at 30 Nov 2021, billing_at 01 Mar 2022
	 * -> to_datetime 2022-02-27 23:59:59. */
	ANN(PERIOD_QUARTERLY, "2021-11-30", "2022-01-15", "2021-11-30",
	    "2022-02-27", 90);
	ANN(PERIOD_QUARTERLY, "2021-11-30", "2022-02-28", "2022-02-28",
	    "2022-05-29", 91);
	ANN(PERIOD_QUARTERLY, "2021-11-30", "2022-05-30", "2022-05-30",
	    "2022-08-29", 92);
	/* Lago: subscription_at 30 Jan 2022, billing_at 30 Apr 2022
	 * -> to_datetime 2022-04-29 23:59:59. */
	ANN(PERIOD_QUARTERLY, "2022-01-30", "2022-04-29", "2022-01-30",
	    "2022-04-29", 90);
	ANN(PERIOD_QUARTERLY, "2022-01-30", "2022-04-30", "2022-04-30",
	    "2022-07-29", 91);
	/* Started the 31st: Apr 30 (short), then Jul 31, Oct 31, Jan 31. */
	ANN(PERIOD_QUARTERLY, "2023-01-31", "2023-04-29", "2023-01-31",
	    "2023-04-29", 89);
	ANN(PERIOD_QUARTERLY, "2023-01-31", "2023-04-30", "2023-04-30",
	    "2023-07-30", 92);
	ANN(PERIOD_QUARTERLY, "2023-01-31", "2023-07-31", "2023-07-31",
	    "2023-10-30", 92);
	/* Nov 30 -> Feb 29 in a leap year. */
	ANN(PERIOD_QUARTERLY, "2023-11-30", "2024-02-29", "2024-02-29",
	    "2024-05-29", 91);
	ANN(PERIOD_QUARTERLY, "2023-11-30", "2024-02-28", "2023-11-30",
	    "2024-02-28", 91);
	/* Started on the 1st of a quarter month: calendar quarters. */
	ANN(PERIOD_QUARTERLY, "2022-04-01", "2022-06-30", "2022-04-01",
	    "2022-06-30", 91);
	/* ... of another month: quarters from that month. */
	ANN(PERIOD_QUARTERLY, "2022-02-01", "2022-05-01", "2022-05-01",
	    "2022-07-31", 92);
}

static void test_anniversary_semiannual(void **state)
{
	(void)state;
	/* Lago: subscription_at 02 Nov 2021, billing_at 02 May 2022
	 * -> to_datetime 2022-05-01 23:59:59. */
	ANN(PERIOD_SEMIANNUAL, "2021-11-02", "2022-03-01", "2021-11-02",
	    "2022-05-01", 181);
	/* Lago: subscription_at 02 Feb 2021, billing_at 02 Feb 2022
	 * -> to_datetime 2022-02-01 23:59:59. */
	ANN(PERIOD_SEMIANNUAL, "2021-02-02", "2022-02-01T23:59:59.999",
	    "2021-08-02", "2022-02-01", 184);
	ANN(PERIOD_SEMIANNUAL, "2021-02-02", "2022-02-02", "2022-02-02",
	    "2022-08-01", 181);
	/* Lago: subscription_at 30 Nov 2021, billing_at 01 Jun 2022
	 * -> to_datetime 2022-05-29 23:59:59 (May 30 opens the next). */
	ANN(PERIOD_SEMIANNUAL, "2021-11-30", "2022-05-29", "2021-11-30",
	    "2022-05-29", 181);
	ANN(PERIOD_SEMIANNUAL, "2021-11-30", "2022-05-30", "2022-05-30",
	    "2022-11-29", 184);
	/* Lago: subscription_at 30 Jan 2022, billing_at 30 Jul 2022
	 * -> to_datetime 2022-07-29 23:59:59. */
	ANN(PERIOD_SEMIANNUAL, "2022-01-30", "2022-07-29", "2022-01-30",
	    "2022-07-29", 181);
	/* Aug 31 -> Feb 28/29 -> Aug 31. */
	ANN(PERIOD_SEMIANNUAL, "2023-08-31", "2024-02-29", "2024-02-29",
	    "2024-08-30", 184);
	ANN(PERIOD_SEMIANNUAL, "2023-08-31", "2024-02-28", "2023-08-31",
	    "2024-02-28", 182);
	ANN(PERIOD_SEMIANNUAL, "2024-08-31", "2025-02-28", "2025-02-28",
	    "2025-08-30", 184);
	/* Started Jul 1: calendar halves. */
	ANN(PERIOD_SEMIANNUAL, "2022-07-01", "2023-06-30", "2023-01-01",
	    "2023-06-30", 181);
}

static void test_anniversary_yearly(void **state)
{
	(void)state;
	/* Lago: subscription_at 02 Feb 2021 -> 2021-02-02 .. 2022-02-01. */
	ANN(PERIOD_YEARLY, "2021-02-02", "2022-01-15", "2021-02-02",
	    "2022-02-01", 365);
	ANN(PERIOD_YEARLY, "2021-02-02", "2022-02-02", "2022-02-02",
	    "2023-02-01", 365);
	/* Across a Feb 29: 366 days. */
	ANN(PERIOD_YEARLY, "2023-06-15", "2024-03-01", "2023-06-15",
	    "2024-06-14", 366);
	/* Started Feb 29: Feb 28 in common years (Lago:
	 * billing_service_spec bills a 29 Feb 2020 subscription on
	 * 28 Feb 2022; yearly_service "anniversary on Feb 28 in a common
	 * year"). */
	ANN(PERIOD_YEARLY, "2024-02-29", "2025-02-27T23:59:59.999",
	    "2024-02-29", "2025-02-27", 365);
	ANN(PERIOD_YEARLY, "2024-02-29", "2025-02-28", "2025-02-28",
	    "2026-02-27", 365);
	ANN(PERIOD_YEARLY, "2020-02-29", "2022-02-28", "2022-02-28",
	    "2023-02-27", 365);
	ANN(PERIOD_YEARLY, "2024-02-29", "2027-03-01", "2027-02-28",
	    "2028-02-28", 366);
	ANN(PERIOD_YEARLY, "2024-02-29", "2028-02-29", "2028-02-29",
	    "2029-02-27", 365);
	/* 2100 is not leap, 2000 is. */
	ANN(PERIOD_YEARLY, "2096-02-29", "2100-02-28", "2100-02-28",
	    "2101-02-27", 365);
	ANN(PERIOD_YEARLY, "2096-02-29", "2100-02-27", "2099-02-28",
	    "2100-02-27", 365);
	ANN(PERIOD_YEARLY, "1996-02-29", "2000-02-29", "2000-02-29",
	    "2001-02-27", 365);
	ANN(PERIOD_YEARLY, "1996-02-29", "2000-02-28", "1999-02-28",
	    "2000-02-28", 366);
	/* Started Jan 1: calendar years. */
	ANN(PERIOD_YEARLY, "2022-01-01", "2024-07-01", "2024-01-01",
	    "2024-12-31", 366);
	/* Dec 31 and the epoch. */
	ANN(PERIOD_YEARLY, "2022-12-31", "2023-12-30", "2022-12-31",
	    "2023-12-30", 365);
	ANN(PERIOD_YEARLY, "1970-01-01", "1970-12-31T23:59:59.999",
	    "1970-01-01", "1970-12-31", 365);
	ANN(PERIOD_YEARLY, "1970-03-15", "2099-12-31", "2099-03-15",
	    "2100-03-14", 365);
}

/*
 * For many starts and every day over several years, in every interval
 * and mode: t lies in its period; periods are whole UTC days, tile time
 * (the one holding next_ms starts at next_ms; the one holding to_ms is
 * the same); anniversary periods start on the subscription's weekday,
 * or its day of month clamped to the month's end, every k months.
 */
static void test_tiling(void **state)
{
	static const char *const starts[] = {
		"2023-01-31T13:00:00", "2023-11-30", "2024-02-29T23:59:59.999",
		"2023-03-29", "2023-05-01", "2023-08-15T06:00:00",
		"2023-12-31", "2023-01-01", "2023-10-28",
	};
	static const int months[] = {0, 1, 3, 6, 12};

	(void)state;
	for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
		int64_t start = ms(starts[s]);
		int sy, sm, sd;

		period_civil(start, &sy, &sm, &sd);
		for (int iv = PERIOD_WEEKLY; iv <= PERIOD_YEARLY; iv++) {
			for (int an = 0; an <= 1; an++) {
				int64_t t = start;

				for (int i = 0; i < 6 * 366; i++, t += DAY) {
					struct period p, q;
					int y, m, d;

					assert_int_equal(period_containing(
						iv, an, start, t, &p), TLY_OK);
					assert_true(p.from_ms <= t &&
						    t <= p.to_ms);
					assert_int_equal(p.next_ms,
							 p.to_ms + 1);
					assert_int_equal(p.from_ms % DAY, 0);
					assert_int_equal(p.next_ms % DAY, 0);
					assert_int_equal(p.days,
							 (p.next_ms -
							  p.from_ms) / DAY);
					assert_int_equal(
						period_days_between(p.from_ms,
								    p.to_ms),
						p.days);
					assert_int_equal(period_containing(
						iv, an, start, p.to_ms, &q),
						TLY_OK);
					assert_int_equal(q.from_ms, p.from_ms);
					assert_int_equal(period_containing(
						iv, an, start, p.next_ms, &q),
						TLY_OK);
					assert_int_equal(q.from_ms, p.next_ms);
					if (!an)
						continue;
					period_civil(p.from_ms, &y, &m, &d);
					if (iv == PERIOD_WEEKLY) {
						assert_int_equal(
							(p.from_ms / DAY -
							 start / DAY) % 7, 0);
						continue;
					}
					assert_int_equal(
						((y - sy) * 12 + m - sm) %
							months[iv],
						0);
					/* d == min(sd, days in month m). */
					if (d != sd) {
						int nd;

						assert_true(d < sd);
						period_civil(p.from_ms + DAY,
							     NULL, NULL, &nd);
						assert_int_equal(nd, 1);
					}
				}
			}
		}
	}
}

/* t == to_ms is this period, t == next_ms the next one, t - 1 before. */
static void test_boundaries(void **state)
{
	struct period p, q;
	int64_t start = ms("2022-01-31T08:00:00");

	(void)state;
	for (int iv = PERIOD_WEEKLY; iv <= PERIOD_YEARLY; iv++) {
		for (int an = 0; an <= 1; an++) {
			assert_int_equal(period_containing(iv, an, start,
							   start, &p),
					 TLY_OK);
			assert_int_equal(period_containing(iv, an, start,
							   p.to_ms, &q),
					 TLY_OK);
			assert_int_equal(q.from_ms, p.from_ms);
			assert_int_equal(q.to_ms, p.to_ms);
			assert_int_equal(period_containing(iv, an, start,
							   p.next_ms, &q),
					 TLY_OK);
			assert_int_equal(q.from_ms, p.next_ms);
			assert_true(q.to_ms > p.next_ms);
			assert_int_equal(period_containing(iv, an, start,
							   q.from_ms - 1, &q),
					 TLY_OK);
			assert_int_equal(q.from_ms, p.from_ms);
		}
	}
	/* Anniversary: the first period starts at 00:00 of the start day,
	 * before start_ms itself. */
	assert_int_equal(period_containing(PERIOD_MONTHLY, 1, start, start,
					   &p),
			 TLY_OK);
	assert_int_equal(p.from_ms, ms("2022-01-31"));
	assert_int_equal(p.next_ms, ms("2022-02-28"));
	/* t == start exactly is allowed; one ms before is not. */
	assert_int_equal(period_containing(PERIOD_MONTHLY, 1, start,
					   start - 1, &p),
			 TLY_EINVAL);
}

static void test_invalid(void **state)
{
	struct period p;
	int64_t start = ms("2024-01-10");

	(void)state;
	assert_int_equal(period_containing(PERIOD_MONTHLY, 0, start,
					   start - 1, &p),
			 TLY_EINVAL);
	assert_int_equal(period_containing(PERIOD_WEEKLY, 1, start,
					   ms("2024-01-09"), &p),
			 TLY_EINVAL);
	assert_int_equal(period_containing(PERIOD_MONTHLY, 0, start, start,
					   NULL),
			 TLY_EINVAL);
	assert_int_equal(period_containing((enum period_interval)5, 0, start,
					   start, &p),
			 TLY_EINVAL);
	assert_int_equal(period_containing((enum period_interval)-1, 0,
					   start, start, &p),
			 TLY_EINVAL);
	/* Outside years 1 .. 9999. */
	assert_int_equal(period_containing(PERIOD_YEARLY, 1, INT64_MIN, start,
					   &p),
			 TLY_EINVAL);
	assert_int_equal(period_containing(PERIOD_YEARLY, 1, start, INT64_MAX,
					   &p),
			 TLY_EINVAL);
	assert_int_equal(period_containing(PERIOD_YEARLY, 1, start,
					   ms("9999-12-31T23:59:59.999") + 1,
					   &p),
			 TLY_EINVAL);
	assert_int_equal(period_containing(PERIOD_YEARLY, 1, start,
					   ms("9999-12-31T23:59:59.999"), &p),
			 TLY_OK);
	assert_int_equal(period_containing(PERIOD_MONTHLY, 0,
					   ms("0001-01-01"), ms("0001-01-01"),
					   &p),
			 TLY_OK);
	assert_int_equal(p.days, 31);
	/* Before the epoch is fine. */
	assert_int_equal(period_containing(PERIOD_WEEKLY, 0, ms("1969-12-31"),
					   ms("1969-12-31"), &p),
			 TLY_OK);
	assert_int_equal(p.from_ms, ms("1969-12-29"));
}

/* LAGO.md §3: $50 calendar monthly, started Aug 10 -> 22/31 = $35.48. */
static void test_proration_example(void **state)
{
	struct period p;
	int64_t start = ms("2025-08-10T09:30:00");
	char b[32];
	int64_t used, cents;

	(void)state;
	assert_int_equal(period_containing(PERIOD_MONTHLY, 0, start, start,
					   &p),
			 TLY_OK);
	assert_string_equal(day_of(p.from_ms, b), "2025-08-01");
	assert_string_equal(day_of(p.to_ms, b), "2025-08-31");
	assert_int_equal(p.days, 31);
	used = period_days_between(start, p.to_ms);
	assert_int_equal(used, 22);
	/* 5000 * 22 / 31 = 3548.39 cents -> $35.48 (half up). */
	cents = (5000 * used * 2 + p.days) / (2 * p.days);
	assert_int_equal(cents, 3548);
	/* Upgrade mid-August: 14/31 x EUR 100 = 45.16, 17/31 x 200 =
	 * 109.68. */
	used = period_days_between(p.from_ms, ms("2025-08-14T23:59:59.999"));
	assert_int_equal((10000 * used * 2 + p.days) / (2 * p.days), 4516);
	used = period_days_between(ms("2025-08-15"), p.to_ms);
	assert_int_equal((20000 * used * 2 + p.days) / (2 * p.days), 10968);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_civil_known),
		cmocka_unit_test(test_civil_walk),
		cmocka_unit_test(test_days_between),
		cmocka_unit_test(test_interval_parse),
		cmocka_unit_test(test_calendar_weekly),
		cmocka_unit_test(test_calendar_monthly),
		cmocka_unit_test(test_calendar_quarterly),
		cmocka_unit_test(test_calendar_semiannual),
		cmocka_unit_test(test_calendar_yearly),
		cmocka_unit_test(test_anniversary_weekly),
		cmocka_unit_test(test_anniversary_monthly),
		cmocka_unit_test(test_anniversary_month_end),
		cmocka_unit_test(test_anniversary_quarterly),
		cmocka_unit_test(test_anniversary_semiannual),
		cmocka_unit_test(test_anniversary_yearly),
		cmocka_unit_test(test_tiling),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_proration_example),
	};

	return cmocka_run_group_tests_name("period", tests, NULL, NULL);
}
