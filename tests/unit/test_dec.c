/*
 * test_dec.c - unit tests of shared/dec.c, the exact decimals.
 *
 * Every check compares exact strings (or exact integers): a value that is
 * right but printed at another scale ("1.5" for "1.50") is a failure.  The
 * check helpers are macros so that a failure names the caller's line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dec.h"
#include "err.h"

/* ---- Helpers ----------------------------------------------------------- */

typedef void (*dec_binop)(dec_t *, const dec_t *, const dec_t *);

static void parse_at(dec_t *d, const char *s, const char *file, int line)
{
	_assert_int_equal(dec_parse_str(d, s), TLY_OK, file, line);
}

static void expect_at(const dec_t *d, const char *want, const char *file,
		      int line)
{
	char *got = dec_to_str(d);

	_assert_true(got != NULL, "dec_to_str", file, line);
	_assert_string_equal(got, want, file, line);
	free(got);
}

/* a op b, from strings, printed. */
static void binop_at(dec_binop op, const char *a, const char *b,
		     const char *want, const char *file, int line)
{
	dec_t x, y, r;

	dec_init(&x);
	dec_init(&y);
	dec_init(&r);
	parse_at(&x, a, file, line);
	parse_at(&y, b, file, line);
	op(&r, &x, &y);
	expect_at(&r, want, file, line);
	dec_clear(&x);
	dec_clear(&y);
	dec_clear(&r);
}

static void div_at(const char *a, const char *b, int places,
		   enum dec_round mode, const char *want, const char *file,
		   int line)
{
	dec_t x, y, r;

	dec_init(&x);
	dec_init(&y);
	dec_init(&r);
	parse_at(&x, a, file, line);
	parse_at(&y, b, file, line);
	_assert_int_equal(dec_div(&r, &x, &y, places, mode), TLY_OK, file,
			  line);
	expect_at(&r, want, file, line);
	dec_clear(&x);
	dec_clear(&y);
	dec_clear(&r);
}

/* Rounds into a separate result and in place (r == a): both must agree. */
static void round_at(const char *a, int places, enum dec_round mode,
		     const char *want, const char *file, int line)
{
	dec_t x, r;

	dec_init(&x);
	dec_init(&r);
	parse_at(&x, a, file, line);
	_assert_int_equal(dec_round(&r, &x, places, mode), TLY_OK, file,
			  line);
	expect_at(&r, want, file, line);
	_assert_int_equal(dec_round(&x, &x, places, mode), TLY_OK, file,
			  line);
	expect_at(&x, want, file, line);
	dec_clear(&x);
	dec_clear(&r);
}

/* Parsing s fails with rc, leaves d alone, and dec_valid agrees. */
static void parse_err_at(const char *s, size_t len, int rc, const char *file,
			 int line)
{
	dec_t d;

	dec_init(&d);
	parse_at(&d, "-7.25", file, line);
	_assert_int_equal(dec_parse(&d, s, len), rc, file, line);
	expect_at(&d, "-7.25", file, line);
	_assert_true(!dec_valid(s, len), "dec_valid", file, line);
	dec_clear(&d);
}

/* Parses and prints back as want; dec_valid agrees. */
static void parse_ok_at(const char *s, const char *want, int scale,
			const char *file, int line)
{
	dec_t d;

	dec_init(&d);
	parse_at(&d, s, file, line);
	expect_at(&d, want, file, line);
	_assert_int_equal(d.scale, scale, file, line);
	_assert_true(dec_valid(s, strlen(s)), "dec_valid", file, line);
	dec_clear(&d);
}

static void fmt_double_at(double v, const char *want, const char *file,
			  int line)
{
	char buf[DEC_DOUBLE_BUFSZ];

	_assert_int_equal(dec_fmt_double(v, buf, sizeof(buf)), TLY_OK, file,
			  line);
	_assert_string_equal(buf, want, file, line);
}

static void to_minor_at(const char *a, int exponent, int rc, int64_t want,
			const char *file, int line)
{
	dec_t x;
	int64_t out = 0;

	dec_init(&x);
	parse_at(&x, a, file, line);
	_assert_int_equal(dec_to_minor(&x, exponent, &out), rc, file, line);
	if (rc == TLY_OK)
		_assert_true(out == want, "minor units", file, line);
	dec_clear(&x);
}

static void to_i64_at(const char *a, int rc, int64_t want, const char *file,
		      int line)
{
	dec_t x;
	int64_t out = 0;

	dec_init(&x);
	parse_at(&x, a, file, line);
	_assert_int_equal(dec_to_i64(&x, &out), rc, file, line);
	if (rc == TLY_OK)
		_assert_true(out == want, "int64 value", file, line);
	dec_clear(&x);
}

static int cmp_str(const char *a, const char *b)
{
	dec_t x, y;
	int c;

	dec_init(&x);
	dec_init(&y);
	assert_int_equal(dec_parse_str(&x, a), TLY_OK);
	assert_int_equal(dec_parse_str(&y, b), TLY_OK);
	c = dec_cmp(&x, &y);
	dec_clear(&x);
	dec_clear(&y);
	return c;
}

/* A string of n copies of c, then tail; the caller frees it. */
static char *repeat(char c, size_t n, const char *head, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail);
	char *s = malloc(h + n + t + 1);

	assert_non_null(s);
	memcpy(s, head, h);
	memset(s + h, c, n);
	memcpy(s + h + n, tail, t + 1);
	return s;
}

#define PARSE(d, s)		parse_at(d, s, __FILE__, __LINE__)
#define EXPECT(d, s)		expect_at(d, s, __FILE__, __LINE__)
#define ADD(a, b, w)		binop_at(dec_add, a, b, w, __FILE__, __LINE__)
#define SUB(a, b, w)		binop_at(dec_sub, a, b, w, __FILE__, __LINE__)
#define MUL(a, b, w)		binop_at(dec_mul, a, b, w, __FILE__, __LINE__)
#define DIV(a, b, p, m, w)	div_at(a, b, p, m, w, __FILE__, __LINE__)
#define ROUND(a, p, m, w)	round_at(a, p, m, w, __FILE__, __LINE__)
#define PARSE_OK(s, w, sc)	parse_ok_at(s, w, sc, __FILE__, __LINE__)
#define PARSE_ERR(s, rc)	parse_err_at(s, strlen(s), rc, __FILE__, \
					     __LINE__)
#define PARSE_ERRN(s, n, rc)	parse_err_at(s, n, rc, __FILE__, __LINE__)
#define FMT_DOUBLE(v, w)	fmt_double_at(v, w, __FILE__, __LINE__)
#define TO_MINOR(a, e, rc, w)	to_minor_at(a, e, rc, w, __FILE__, __LINE__)
#define TO_I64(a, rc, w)	to_i64_at(a, rc, w, __FILE__, __LINE__)

/* ---- Life cycle --------------------------------------------------------- */

static void test_init_is_zero(void **state)
{
	dec_t d;

	(void)state;
	dec_init(&d);
	EXPECT(&d, "0");
	assert_int_equal(d.scale, 0);
	assert_true(dec_is_zero(&d));
	dec_clear(&d);
	dec_clear(NULL);
}

static void test_set_i64_extremes(void **state)
{
	dec_t d;

	(void)state;
	dec_init(&d);
	dec_set_i64(&d, INT64_MIN);
	EXPECT(&d, "-9223372036854775808");
	dec_set_i64(&d, INT64_MAX);
	EXPECT(&d, "9223372036854775807");
	dec_set_i64(&d, -1);
	EXPECT(&d, "-1");
	PARSE(&d, "1.25");
	dec_set_zero(&d);
	EXPECT(&d, "0");
	assert_int_equal(d.scale, 0);
	dec_clear(&d);
}

static void test_set_copies(void **state)
{
	dec_t a, b;

	(void)state;
	dec_init(&a);
	dec_init(&b);
	PARSE(&a, "-12.340");
	dec_set(&b, &a);
	EXPECT(&b, "-12.340");
	PARSE(&a, "5");		/* b owns its own limbs */
	EXPECT(&b, "-12.340");
	dec_clear(&a);
	dec_clear(&b);
}

/* ---- Parsing ------------------------------------------------------------ */

static void test_parse_integers(void **state)
{
	(void)state;
	PARSE_OK("0", "0", 0);
	PARSE_OK("42", "42", 0);
	PARSE_OK("-42", "-42", 0);
	PARSE_OK("+7", "7", 0);
	PARSE_OK("007", "7", 0);
	PARSE_OK("9223372036854775808", "9223372036854775808", 0);
}

static void test_parse_fractions(void **state)
{
	(void)state;
	PARSE_OK("1.50", "1.50", 2);
	PARSE_OK("-0.05", "-0.05", 2);
	PARSE_OK("1.", "1", 0);
	PARSE_OK(".5", "0.5", 1);
	PARSE_OK("-.5", "-0.5", 1);
	PARSE_OK("+.25", "0.25", 2);
	PARSE_OK("00.0012", "0.0012", 4);
	PARSE_OK("123.456", "123.456", 3);
}

static void test_parse_exponents(void **state)
{
	(void)state;
	PARSE_OK("1.5e3", "1500", 0);
	PARSE_OK("1.5e-3", "0.0015", 4);
	PARSE_OK("1E2", "100", 0);
	PARSE_OK("1e+2", "100", 0);
	PARSE_OK("12.34e1", "123.4", 1);
	PARSE_OK("5e-1", "0.5", 1);
	PARSE_OK("1.e2", "100", 0);
	PARSE_OK(".5e1", "5", 0);
	PARSE_OK("0.0001e4", "1", 0);
	PARSE_OK("-2.50e0", "-2.50", 2);
	PARSE_OK("1e0000000000000000000002", "100", 0);
}

static void test_parse_negative_zero(void **state)
{
	dec_t d;

	(void)state;
	dec_init(&d);
	PARSE(&d, "-0");
	EXPECT(&d, "0");
	assert_int_equal(dec_sgn(&d), 0);
	PARSE(&d, "-0.00");
	EXPECT(&d, "0.00");
	PARSE(&d, "-0e5");
	EXPECT(&d, "0");
	dec_clear(&d);
}

static void test_parse_uses_len(void **state)
{
	dec_t d;

	(void)state;
	dec_init(&d);
	assert_int_equal(dec_parse(&d, "12345", 3), TLY_OK);
	EXPECT(&d, "123");
	assert_int_equal(dec_parse(&d, "1.5e3", 3), TLY_OK);
	EXPECT(&d, "1.5");
	dec_clear(&d);
}

static void test_parse_syntax_errors(void **state)
{
	static const char *const bad[] = {
		"", "+", "-", ".", "+.", "-.", "e5", ".e1", "1e", "1e+",
		"1e-", "E", " 1", "1 ", "\t1", "1\n", "0x10", "inf", "-inf",
		"nan", "NaN", "infinity", "1,5", "--1", "+-1", "-+1",
		"1..2", "1.2.3", "1e5.5", "1e2e3", "1ee2", "1e 2", "1_000",
		"1f", "١", "+ 1", "0b1", "1.5.", "e", "1d2",
	};
	dec_t d;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		PARSE_ERR(bad[i], TLY_EINVAL);
	PARSE_ERRN("1\0002", 3, TLY_EINVAL);	/* NUL inside len */
	PARSE_ERRN("1\0", 2, TLY_EINVAL);
	PARSE_ERRN("\0", 1, TLY_EINVAL);
	/* Syntax is judged before the caps. */
	PARSE_ERR("1e-70x", TLY_EINVAL);
	dec_init(&d);
	assert_int_equal(dec_parse(&d, NULL, 0), TLY_EINVAL);
	assert_int_equal(dec_parse_str(&d, NULL), TLY_EINVAL);
	assert_false(dec_valid(NULL, 0));
	dec_clear(&d);
}

static void test_parse_digit_cap(void **state)
{
	char *s;

	(void)state;
	s = repeat('7', DEC_MAX_DIGITS, "", "");		/* 128 */
	PARSE_OK(s, s, 0);
	free(s);
	s = repeat('7', DEC_MAX_DIGITS + 1, "", "");		/* 129 */
	PARSE_ERR(s, TLY_ERANGE);
	free(s);
	s = repeat('0', DEC_MAX_DIGITS, "1", "");	/* trailing 0s count */
	PARSE_ERR(s, TLY_ERANGE);
	free(s);
	s = repeat('5', DEC_MAX_DIGITS, "-", "");
	PARSE_OK(s, s, 0);
	free(s);
}

static void test_parse_leading_zeros_free(void **state)
{
	char *s, *t;

	(void)state;
	s = repeat('0', 200, "", "1");
	PARSE_OK(s, "1", 0);
	free(s);
	/* 200 leading zeros and then the full 128 significant digits. */
	t = repeat('9', DEC_MAX_DIGITS, "", "");
	s = repeat('0', 200, "-", t);
	{
		char *w = repeat('9', DEC_MAX_DIGITS, "-", "");

		PARSE_OK(s, w, 0);
		free(w);
	}
	free(s);
	free(t);
	/* Zeros after the point before the first digit do not count. */
	t = repeat('3', DEC_MAX_DIGITS - 1, "", "");
	s = repeat('0', 10, "0.", t);		/* scale 137: too many places */
	PARSE_ERR(s, TLY_ERANGE);
	free(s);
	free(t);
	t = repeat('3', 60, "", "");
	s = repeat('0', 4, "0.", t);		/* 60 digits, scale 64 */
	PARSE_OK(s, s, 64);
	free(s);
	free(t);
}

static void test_parse_digit_cap_across_point(void **state)
{
	char *ip, *s;

	(void)state;
	ip = repeat('1', 64, "", ".");
	s = repeat('2', 64, ip, "");		/* 64 + 64 = 128 */
	PARSE_OK(s, s, 64);
	free(s);
	free(ip);
	ip = repeat('1', 65, "", ".");
	s = repeat('2', 64, ip, "");		/* 65 + 64 = 129 */
	PARSE_ERR(s, TLY_ERANGE);
	free(s);
	free(ip);
}

static void test_parse_scale_cap(void **state)
{
	char *s, *w;

	(void)state;
	w = repeat('0', DEC_MAX_SCALE - 1, "0.", "1");
	PARSE_OK("1e-64", w, 64);
	PARSE_OK(w, w, 64);
	free(w);
	w = repeat('0', DEC_MAX_SCALE - 2, "0.", "15");
	PARSE_OK("1.5e-63", w, 64);
	free(w);
	PARSE_ERR("1e-65", TLY_ERANGE);
	PARSE_ERR("1.5e-64", TLY_ERANGE);
	PARSE_ERR("1e-70", TLY_ERANGE);
	PARSE_ERR("0e-65", TLY_ERANGE);
	s = repeat('0', DEC_MAX_SCALE, "0.", "1");	/* 65 places */
	PARSE_ERR(s, TLY_ERANGE);
	free(s);
	s = repeat('0', DEC_MAX_SCALE + 1, "1.", "");	/* 1.000... */
	PARSE_ERR(s, TLY_ERANGE);
	free(s);
	/* 68 places, but the exponent brings it back to 63. */
	s = repeat('0', 67, "0.", "1e5");
	w = repeat('0', 62, "0.", "1");
	PARSE_OK(s, w, 63);
	free(s);
	free(w);
}

static void test_parse_exponent_cap(void **state)
{
	dec_t d;
	char *w;

	(void)state;
	dec_init(&d);
	PARSE(&d, "1e191");		/* 192 digits: the largest */
	assert_int_equal(dec_strlen(&d), 193);
	w = repeat('0', 191, "1", "");
	EXPECT(&d, w);
	free(w);
	dec_clear(&d);
	PARSE_ERR("1e192", TLY_ERANGE);
	PARSE_ERR("-1e192", TLY_ERANGE);
	PARSE_ERR("1e999999999", TLY_ERANGE);
	PARSE_ERR("1e99999999999999999999999999999", TLY_ERANGE);
	PARSE_ERR("1e-99999999999999999999999999999", TLY_ERANGE);
	PARSE_ERR("1.5e+2147483648", TLY_ERANGE);
	/* 2^64 + 2 and 2^32 + 2: an exponent that wrapped would read as 2. */
	PARSE_ERR("1e18446744073709551618", TLY_ERANGE);
	PARSE_ERR("1e4294967298", TLY_ERANGE);
	/* Zero has no digits to grow. */
	PARSE_OK("0e999999999", "0", 0);
}

static void test_valid(void **state)
{
	(void)state;
	assert_true(dec_valid("1.5e3", 5));
	assert_true(dec_valid("-.5", 3));
	assert_true(dec_valid("12x", 2));	/* only len bytes count */
	assert_false(dec_valid("12x", 3));
	assert_false(dec_valid("", 0));
	assert_false(dec_valid("1e-65", 5));
	assert_false(dec_valid("1e999999999", 11));
}

/* ---- Doubles ------------------------------------------------------------ */

static void test_fmt_double_simple(void **state)
{
	(void)state;
	FMT_DOUBLE(0.1, "0.1");
	FMT_DOUBLE(100.0, "100");
	FMT_DOUBLE(5.0, "5");
	FMT_DOUBLE(-2.5, "-2.5");
	FMT_DOUBLE(123.456, "123.456");
	FMT_DOUBLE(1e-7, "0.0000001");
	FMT_DOUBLE(0.0, "0");
	FMT_DOUBLE(-0.0, "0");
	FMT_DOUBLE(1.0 / 3.0, "0.3333333333333333");
	FMT_DOUBLE(9007199254740993.0, "9007199254740992");
}

static void test_fmt_double_sum_of_tenths(void **state)
{
	volatile double a = 0.1, b = 0.2;

	(void)state;
	FMT_DOUBLE(a + b, "0.30000000000000004");
}

static void test_fmt_double_1e21(void **state)
{
	(void)state;
	FMT_DOUBLE(1e21, "1000000000000000000000");
	FMT_DOUBLE(-1e21, "-1000000000000000000000");
}

static void test_fmt_double_min_subnormal(void **state)
{
	char buf[DEC_DOUBLE_BUFSZ], *w;

	(void)state;
	assert_int_equal(dec_fmt_double(5e-324, buf, sizeof(buf)), TLY_OK);
	assert_int_equal(strlen(buf), 326);	/* "0." 323 zeros "5" */
	w = repeat('0', 323, "0.", "5");
	assert_string_equal(buf, w);
	free(w);
}

static void test_fmt_double_max(void **state)
{
	char buf[DEC_DOUBLE_BUFSZ];

	(void)state;
	assert_int_equal(dec_fmt_double(1.7976931348623157e308, buf,
					sizeof(buf)), TLY_OK);
	assert_int_equal(strlen(buf), 309);
	assert_memory_equal(buf, "17976931348623157", 17);
	assert_int_equal(strspn(buf + 17, "0"), 309 - 17);
	assert_int_equal(dec_fmt_double(-DBL_MAX, buf, sizeof(buf)), TLY_OK);
	assert_int_equal(strlen(buf), 310);
	assert_memory_equal(buf, "-17976931348623157", 18);
}

/*
 * At a power of two the double below is twice as close as the one above,
 * so the nearest 16-digit decimal does not read back but the next one up
 * does: Ruby, JavaScript and Python print 5.960464477539063e-08 for 2^-24.
 */
static void test_fmt_double_power_of_two(void **state)
{
	(void)state;
	FMT_DOUBLE(ldexp(1.0, -24), "0.00000005960464477539063");
	FMT_DOUBLE(ldexp(1.0, 89), "618970019642690200000000000");
	FMT_DOUBLE(-ldexp(1.0, 89), "-618970019642690200000000000");
	FMT_DOUBLE(ldexp(1.0, 10), "1024");
}

static void test_fmt_double_errors(void **state)
{
	char buf[DEC_DOUBLE_BUFSZ];

	(void)state;
	buf[0] = 'x';
	assert_int_equal(dec_fmt_double(NAN, buf, sizeof(buf)), TLY_EINVAL);
	assert_string_equal(buf, "");
	assert_int_equal(dec_fmt_double(INFINITY, buf, sizeof(buf)),
			 TLY_EINVAL);
	assert_int_equal(dec_fmt_double(-INFINITY, buf, sizeof(buf)),
			 TLY_EINVAL);
	buf[0] = 'x';
	assert_int_equal(dec_fmt_double(1.0, buf, 10), TLY_ERANGE);
	assert_string_equal(buf, "");
}

static void test_from_double_tenths_sum(void **state)
{
	dec_t a, b, r, want;

	(void)state;
	dec_init(&a);
	dec_init(&b);
	dec_init(&r);
	dec_init(&want);
	assert_int_equal(dec_from_double(&a, 0.1), TLY_OK);
	assert_int_equal(dec_from_double(&b, 0.2), TLY_OK);
	EXPECT(&a, "0.1");
	EXPECT(&b, "0.2");
	dec_add(&r, &a, &b);
	EXPECT(&r, "0.3");
	PARSE(&want, "0.3");
	assert_int_equal(dec_cmp(&r, &want), 0);
	dec_clear(&a);
	dec_clear(&b);
	dec_clear(&r);
	dec_clear(&want);
}

static void test_from_double_values(void **state)
{
	dec_t d;

	(void)state;
	dec_init(&d);
	assert_int_equal(dec_from_double(&d, -2.5), TLY_OK);
	EXPECT(&d, "-2.5");
	assert_int_equal(dec_from_double(&d, 1e21), TLY_OK);
	EXPECT(&d, "1000000000000000000000");
	assert_int_equal(dec_from_double(&d, 1e-7), TLY_OK);
	EXPECT(&d, "0.0000001");
	assert_int_equal(d.scale, 7);
	assert_int_equal(dec_from_double(&d, 1e127), TLY_OK);
	assert_int_equal(dec_strlen(&d), 129);
	dec_clear(&d);
}

static void test_from_double_errors(void **state)
{
	dec_t d;

	(void)state;
	dec_init(&d);
	PARSE(&d, "4.5");
	assert_int_equal(dec_from_double(&d, NAN), TLY_EINVAL);
	assert_int_equal(dec_from_double(&d, INFINITY), TLY_EINVAL);
	assert_int_equal(dec_from_double(&d, -INFINITY), TLY_EINVAL);
	/* Past the caps of dec_parse: too many places, too many digits. */
	assert_int_equal(dec_from_double(&d, 5e-324), TLY_ERANGE);
	assert_int_equal(dec_from_double(&d, 1e-65), TLY_ERANGE);
	assert_int_equal(dec_from_double(&d, 1e128), TLY_ERANGE);
	assert_int_equal(dec_from_double(&d, DBL_MAX), TLY_ERANGE);
	EXPECT(&d, "4.5");
	dec_clear(&d);
}

/* ---- Formatting --------------------------------------------------------- */

static void test_format_layout(void **state)
{
	dec_t d;

	(void)state;
	dec_init(&d);
	PARSE(&d, "-0.50");
	EXPECT(&d, "-0.50");
	dec_from_minor(&d, 0, 3);
	EXPECT(&d, "0.000");
	dec_from_minor(&d, -12345, 3);
	EXPECT(&d, "-12.345");
	dec_from_minor(&d, 1, 3);
	EXPECT(&d, "0.001");
	dec_from_minor(&d, 1000, 3);
	EXPECT(&d, "1.000");
	dec_from_minor(&d, 12, 0);
	EXPECT(&d, "12");
	dec_clear(&d);
}

static void test_strlen_exact(void **state)
{
	static const char *const v[] = {
		"0", "9", "10", "99", "100", "999", "-9.99", "-0.05", "0.000",
		"12345678901234567890.5", "-99999999999999999999",
	};
	dec_t d;

	(void)state;
	dec_init(&d);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		PARSE(&d, v[i]);
		assert_int_equal(dec_strlen(&d), strlen(v[i]) + 1);
	}
	dec_clear(&d);
}

static void test_format_small_buffer(void **state)
{
	char buf[16];
	dec_t d;

	(void)state;
	dec_init(&d);
	PARSE(&d, "-123.45");			/* 7 chars + NUL */
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(dec_format(&d, buf, 7), TLY_ERANGE);
	assert_string_equal(buf, "");
	assert_int_equal(dec_format(&d, buf, 8), TLY_OK);
	assert_string_equal(buf, "-123.45");
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(dec_format(&d, buf, 0), TLY_ERANGE);
	assert_int_equal(buf[0], 'x');		/* size 0: nothing written */
	PARSE(&d, "0.05");
	assert_int_equal(dec_format(&d, buf, 4), TLY_ERANGE);
	assert_string_equal(buf, "");
	assert_int_equal(dec_format(&d, buf, 5), TLY_OK);
	assert_string_equal(buf, "0.05");
	dec_clear(&d);
}

static void test_normalize(void **state)
{
	static const char *const io[][2] = {
		{ "1.500", "1.5" }, { "2.00", "2" }, { "100", "100" },
		{ "0.000", "0" }, { "-0.10", "-0.1" }, { "1.05", "1.05" },
		{ "-300.0", "-300" },
	};
	dec_t d;

	(void)state;
	dec_init(&d);
	for (size_t i = 0; i < sizeof(io) / sizeof(io[0]); i++) {
		PARSE(&d, io[i][0]);
		dec_normalize(&d);
		EXPECT(&d, io[i][1]);
	}
	dec_clear(&d);
}

/* ---- Addition and subtraction ------------------------------------------ */

static void test_add_tenths_exact(void **state)
{
	(void)state;
	ADD("0.1", "0.2", "0.3");
	ADD("1.5", "2.25", "3.75");
	ADD("1.50", "1", "2.50");
	ADD("-1.5", "1.5", "0.0");
	ADD("0.000001", "-1", "-0.999999");
}

static void test_add_past_int64(void **state)
{
	(void)state;
	ADD("9223372036854775807", "1", "9223372036854775808");
	ADD("9223372036854775808", "1", "9223372036854775809");
	ADD("18446744073709551615", "0.5", "18446744073709551615.5");
	SUB("-9223372036854775808", "1", "-9223372036854775809");
}

static void test_sub(void **state)
{
	(void)state;
	SUB("1", "0.01", "0.99");
	SUB("0.1", "0.3", "-0.2");
	SUB("-2.5", "-2.5", "0.0");
	SUB("0", "7.125", "-7.125");
}

static void test_neg_abs(void **state)
{
	dec_t a, r;

	(void)state;
	dec_init(&a);
	dec_init(&r);
	PARSE(&a, "-0.50");
	dec_abs(&r, &a);
	EXPECT(&r, "0.50");
	dec_neg(&r, &a);
	EXPECT(&r, "0.50");
	dec_neg(&a, &a);
	EXPECT(&a, "0.50");
	dec_abs(&a, &a);
	EXPECT(&a, "0.50");
	PARSE(&a, "0");
	dec_neg(&a, &a);
	EXPECT(&a, "0");
	dec_clear(&a);
	dec_clear(&r);
}

static void test_aliasing(void **state)
{
	dec_t a, b;

	(void)state;
	dec_init(&a);
	dec_init(&b);
	PARSE(&a, "1.25");
	dec_add(&a, &a, &a);
	EXPECT(&a, "2.50");
	dec_mul(&a, &a, &a);
	EXPECT(&a, "6.2500");
	PARSE(&b, "0.5");
	dec_sub(&a, &b, &a);
	EXPECT(&a, "-5.7500");
	dec_add(&b, &a, &b);
	EXPECT(&b, "-5.2500");
	dec_sub(&a, &a, &a);
	EXPECT(&a, "0.0000");
	PARSE(&a, "2");
	PARSE(&b, "3");
	assert_int_equal(dec_div(&a, &a, &b, 3, DEC_HALF_UP), TLY_OK);
	EXPECT(&a, "0.667");
	assert_int_equal(dec_div(&b, &a, &b, 2, DEC_HALF_UP), TLY_OK);
	EXPECT(&b, "0.22");
	assert_int_equal(dec_div(&a, &a, &a, 2, DEC_HALF_UP), TLY_OK);
	EXPECT(&a, "1.00");
	dec_clear(&a);
	dec_clear(&b);
}

/* ---- Multiplication ----------------------------------------------------- */

static void test_mul_scales_add(void **state)
{
	(void)state;
	MUL("1.5", "2.25", "3.375");
	MUL("1.50", "2", "3.00");
	MUL("-0.5", "-0.5", "0.25");
	MUL("-0.5", "0.2", "-0.10");
	MUL("0", "-3.5", "0.0");
	MUL("0.12345678901234567890", "3", "0.37037036703703703670");
}

static void test_mul_30_digits(void **state)
{
	(void)state;
	MUL("123456789012345678901234567890",
	    "987654321098765432109876543210",
	    "121932631137021795226185032733622923332237463801111263526900");
	MUL("-123456789012345678901234567890",
	    "987654321098765432109876543210",
	    "-121932631137021795226185032733622923332237463801111263526900");
	MUL("1234567890.12345678901234567890",
	    "-98765432109876543210.9876543210",
	    "-121932631137021795226185032733.622923332237463801111263526900");
}

/* Past DEC_MAX_SCALE places the product rounds half away from zero. */
static void test_mul_rounds_past_max_scale(void **state)
{
	char *a, *w;

	(void)state;
	a = repeat('0', 63, "0.", "3");			/* 3e-64 */
	w = repeat('0', 63, "0.", "2");
	MUL(a, "0.5", w);				/* 1.5e-64 */
	free(w);
	w = repeat('0', 63, "0.", "1");
	MUL(a, "0.49", w);				/* 1.47e-64 */
	free(w);
	w = repeat('0', 63, "-0.", "2");
	MUL(a, "-0.5", w);
	free(w);
	w = repeat('0', 64, "0.", "");
	MUL(a, "0.1", w);				/* 3e-65 */
	free(w);
	free(a);
	/* 63 + 1 places: exactly 64, nothing rounds. */
	a = repeat('0', 62, "1.", "5");
	w = repeat('0', 61, "1.5", "75");
	MUL(a, "1.5", w);
	free(w);
	free(a);
}

/* ---- Division ----------------------------------------------------------- */

static void test_div_thirds_20_places(void **state)
{
	(void)state;
	DIV("1", "3", 20, DEC_HALF_UP, "0.33333333333333333333");
	DIV("2", "3", 20, DEC_HALF_UP, "0.66666666666666666667");
	DIV("-2", "3", 20, DEC_HALF_UP, "-0.66666666666666666667");
	DIV("2", "-3", 20, DEC_HALF_UP, "-0.66666666666666666667");
	DIV("-2", "-3", 20, DEC_HALF_UP, "0.66666666666666666667");
	DIV("2", "3", 20, DEC_TRUNC, "0.66666666666666666666");
	DIV("-2", "3", 20, DEC_CEIL, "-0.66666666666666666666");
	DIV("-2", "3", 20, DEC_FLOOR, "-0.66666666666666666667");
	DIV("0.12345678901234567890", "3", 20, DEC_HALF_UP,
	    "0.04115226300411522630");
}

/* 1/8 = 0.125 is a half at 2 places; the signs move every mode. */
static void test_div_modes_on_halves(void **state)
{
	(void)state;
	DIV("1", "8", 2, DEC_HALF_UP, "0.13");
	DIV("1", "8", 2, DEC_HALF_EVEN, "0.12");
	DIV("1", "8", 2, DEC_CEIL, "0.13");
	DIV("1", "8", 2, DEC_FLOOR, "0.12");
	DIV("1", "8", 2, DEC_TRUNC, "0.12");
	DIV("-1", "8", 2, DEC_HALF_UP, "-0.13");
	DIV("1", "-8", 2, DEC_HALF_EVEN, "-0.12");
	DIV("-1", "8", 2, DEC_CEIL, "-0.12");
	DIV("1", "-8", 2, DEC_FLOOR, "-0.13");
	DIV("-1", "-8", 2, DEC_TRUNC, "0.12");
	DIV("3", "8", 2, DEC_HALF_EVEN, "0.38");	/* 0.375: 7 is odd */
	DIV("-3", "8", 2, DEC_HALF_EVEN, "-0.38");
	/* Just past a half is not a half. */
	DIV("1.00000001", "8", 2, DEC_HALF_EVEN, "0.13");
	DIV("0.99999999", "8", 2, DEC_HALF_UP, "0.12");
}

static void test_div_integer_places(void **state)
{
	(void)state;
	DIV("7", "2", 0, DEC_TRUNC, "3");
	DIV("7", "2", 0, DEC_HALF_UP, "4");
	DIV("7", "2", 0, DEC_HALF_EVEN, "4");
	DIV("5", "2", 0, DEC_HALF_EVEN, "2");
	DIV("-5", "2", 0, DEC_HALF_EVEN, "-2");
	DIV("-7", "2", 0, DEC_FLOOR, "-4");
	DIV("-7", "2", 0, DEC_CEIL, "-3");
	DIV("6", "3", 0, DEC_CEIL, "2");		/* exact: no step */
	DIV("-6", "3", 0, DEC_FLOOR, "-2");
}

static void test_div_operand_scales(void **state)
{
	char *w;

	(void)state;
	DIV("1.50", "0.5", 0, DEC_TRUNC, "3");
	DIV("10", "0.04", 2, DEC_TRUNC, "250.00");
	DIV("0.001", "1000", 6, DEC_HALF_UP, "0.000001");
	DIV("0.001", "1000", 5, DEC_HALF_UP, "0.00000");
	DIV("0.001", "1000", 5, DEC_CEIL, "0.00001");
	DIV("18446744073709551616", "3", 0, DEC_TRUNC,
	    "6148914691236517205");
	DIV("0", "-7", 3, DEC_FLOOR, "0.000");
	w = repeat('3', 64, "0.", "");
	DIV("1", "3", 64, DEC_HALF_UP, w);
	free(w);
}

static void test_div_by_zero(void **state)
{
	dec_t a, z, r;

	(void)state;
	dec_init(&a);
	dec_init(&z);
	dec_init(&r);
	PARSE(&a, "1");
	PARSE(&r, "7.5");
	assert_int_equal(dec_div(&r, &a, &z, 2, DEC_HALF_UP), TLY_EINVAL);
	EXPECT(&r, "7.5");
	PARSE(&z, "-0.000");
	assert_int_equal(dec_div(&r, &a, &z, 2, DEC_HALF_UP), TLY_EINVAL);
	EXPECT(&r, "7.5");
	dec_clear(&a);
	dec_clear(&z);
	dec_clear(&r);
}

static void test_div_bad_args(void **state)
{
	dec_t a, r;

	(void)state;
	dec_init(&a);
	dec_init(&r);
	PARSE(&a, "3");
	PARSE(&r, "7.5");
	assert_int_equal(dec_div(&r, &a, &a, -1, DEC_HALF_UP), TLY_ERANGE);
	assert_int_equal(dec_div(&r, &a, &a, DEC_MAX_SCALE + 1, DEC_HALF_UP),
			 TLY_ERANGE);
	assert_int_equal(dec_div(&r, &a, &a, 2, (enum dec_round)99),
			 TLY_EINVAL);
	EXPECT(&r, "7.5");
	dec_clear(&a);
	dec_clear(&r);
}

/* ---- Rounding ----------------------------------------------------------- */

static void test_round_half_up(void **state)
{
	(void)state;
	ROUND("2.5", 0, DEC_HALF_UP, "3");
	ROUND("-2.5", 0, DEC_HALF_UP, "-3");
	ROUND("2.4", 0, DEC_HALF_UP, "2");
	ROUND("-2.4", 0, DEC_HALF_UP, "-2");
	ROUND("0.5", 0, DEC_HALF_UP, "1");
	ROUND("-0.5", 0, DEC_HALF_UP, "-1");
	ROUND("2.45", 1, DEC_HALF_UP, "2.5");
	ROUND("1.005", 2, DEC_HALF_UP, "1.01");
	ROUND("-1.005", 2, DEC_HALF_UP, "-1.01");
	ROUND("0.0049999", 2, DEC_HALF_UP, "0.00");
	ROUND("9.995", 2, DEC_HALF_UP, "10.00");
}

static void test_round_half_even(void **state)
{
	(void)state;
	ROUND("2.5", 0, DEC_HALF_EVEN, "2");
	ROUND("3.5", 0, DEC_HALF_EVEN, "4");
	ROUND("-2.5", 0, DEC_HALF_EVEN, "-2");
	ROUND("-3.5", 0, DEC_HALF_EVEN, "-4");
	ROUND("0.5", 0, DEC_HALF_EVEN, "0");
	ROUND("1.5", 0, DEC_HALF_EVEN, "2");
	ROUND("2.51", 0, DEC_HALF_EVEN, "3");
	ROUND("-2.51", 0, DEC_HALF_EVEN, "-3");
	ROUND("0.125", 2, DEC_HALF_EVEN, "0.12");
	ROUND("0.135", 2, DEC_HALF_EVEN, "0.14");
}

static void test_round_ceil_floor_trunc(void **state)
{
	(void)state;
	ROUND("1.1", 0, DEC_CEIL, "2");
	ROUND("-1.1", 0, DEC_CEIL, "-1");
	ROUND("-1.9", 0, DEC_CEIL, "-1");
	ROUND("1.0", 0, DEC_CEIL, "1");
	ROUND("2.5", 0, DEC_CEIL, "3");
	ROUND("-2.5", 0, DEC_CEIL, "-2");
	ROUND("-1.1", 0, DEC_FLOOR, "-2");
	ROUND("1.9", 0, DEC_FLOOR, "1");
	ROUND("2.5", 0, DEC_FLOOR, "2");
	ROUND("-2.5", 0, DEC_FLOOR, "-3");
	ROUND("-1.9", 0, DEC_TRUNC, "-1");
	ROUND("1.9", 0, DEC_TRUNC, "1");
	ROUND("2.5", 0, DEC_TRUNC, "2");
	ROUND("-2.5", 0, DEC_TRUNC, "-2");
	ROUND("0.000011", 5, DEC_CEIL, "0.00002");	/* Lago's ceil(5) */
}

static void test_round_to_zero_has_no_sign(void **state)
{
	(void)state;
	ROUND("-0.4", 0, DEC_HALF_UP, "0");
	ROUND("-0.4", 0, DEC_CEIL, "0");
	ROUND("-0.9", 0, DEC_TRUNC, "0");
	ROUND("-0.004", 2, DEC_HALF_EVEN, "0.00");
}

static void test_round_pads(void **state)
{
	(void)state;
	ROUND("1.2", 3, DEC_HALF_UP, "1.200");
	ROUND("5", 2, DEC_FLOOR, "5.00");
	ROUND("-0.5", 1, DEC_TRUNC, "-0.5");
}

static void test_round_negative_places(void **state)
{
	char *w;

	(void)state;
	ROUND("125", -1, DEC_HALF_UP, "130");
	ROUND("-125", -1, DEC_HALF_UP, "-130");
	ROUND("125", -1, DEC_HALF_EVEN, "120");
	ROUND("135", -1, DEC_HALF_EVEN, "140");
	ROUND("124.99", -1, DEC_HALF_UP, "120");
	ROUND("149.99", -2, DEC_HALF_UP, "100");
	ROUND("150", -2, DEC_HALF_UP, "200");
	ROUND("101", -2, DEC_CEIL, "200");
	ROUND("-101", -2, DEC_FLOOR, "-200");
	ROUND("-101", -2, DEC_CEIL, "-100");
	ROUND("0.5", -1, DEC_HALF_UP, "0");
	ROUND("1", -64, DEC_HALF_UP, "0");
	w = repeat('0', 64, "1", "");
	ROUND("1", -64, DEC_CEIL, w);
	free(w);
}

static void test_round_bad_args(void **state)
{
	dec_t a, r;

	(void)state;
	dec_init(&a);
	dec_init(&r);
	PARSE(&a, "1.25");
	PARSE(&r, "9");
	assert_int_equal(dec_round(&r, &a, DEC_MAX_SCALE + 1, DEC_HALF_UP),
			 TLY_ERANGE);
	assert_int_equal(dec_round(&r, &a, -DEC_MAX_SCALE - 1, DEC_HALF_UP),
			 TLY_ERANGE);
	assert_int_equal(dec_round(&r, &a, 1, (enum dec_round)-1),
			 TLY_EINVAL);
	EXPECT(&r, "9");
	assert_int_equal(dec_round(&r, &a, DEC_MAX_SCALE, DEC_HALF_UP),
			 TLY_OK);
	assert_int_equal(r.scale, DEC_MAX_SCALE);
	dec_clear(&a);
	dec_clear(&r);
}

/* ---- Comparison --------------------------------------------------------- */

static void test_cmp_by_value(void **state)
{
	(void)state;
	assert_int_equal(cmp_str("1.50", "1.5"), 0);
	assert_int_equal(cmp_str("1.5", "1.50"), 0);
	assert_int_equal(cmp_str("0", "-0.000"), 0);
	assert_int_equal(cmp_str("1.5", "1.49"), 1);
	assert_int_equal(cmp_str("1.49", "1.5"), -1);
	assert_int_equal(cmp_str("-1.5", "-1.49"), -1);
	assert_int_equal(cmp_str("2", "10.0"), -1);
	assert_int_equal(cmp_str("-2", "0.001"), -1);
	assert_int_equal(cmp_str("0.001", "-2"), 1);
	assert_int_equal(cmp_str("9223372036854775808",
				 "9223372036854775807.99"), 1);
}

static void test_cmp_i64(void **state)
{
	dec_t d;

	(void)state;
	dec_init(&d);
	PARSE(&d, "9223372036854775807.5");
	assert_int_equal(dec_cmp_i64(&d, INT64_MAX), 1);
	PARSE(&d, "-9223372036854775808");
	assert_int_equal(dec_cmp_i64(&d, INT64_MIN), 0);
	assert_int_equal(dec_cmp_i64(&d, 0), -1);
	PARSE(&d, "1.000");
	assert_int_equal(dec_cmp_i64(&d, 1), 0);
	PARSE(&d, "0.999");
	assert_int_equal(dec_cmp_i64(&d, 1), -1);
	PARSE(&d, "-0.5");
	assert_int_equal(dec_cmp_i64(&d, -1), 1);
	dec_clear(&d);
}

static void test_sign_zero_integer(void **state)
{
	dec_t d;

	(void)state;
	dec_init(&d);
	PARSE(&d, "0.000");
	assert_int_equal(dec_sgn(&d), 0);
	assert_true(dec_is_zero(&d));
	assert_true(dec_is_integer(&d));
	PARSE(&d, "-0.001");
	assert_int_equal(dec_sgn(&d), -1);
	assert_false(dec_is_zero(&d));
	assert_false(dec_is_integer(&d));
	PARSE(&d, "1.000");
	assert_int_equal(dec_sgn(&d), 1);
	assert_true(dec_is_integer(&d));
	PARSE(&d, "1.001");
	assert_false(dec_is_integer(&d));
	PARSE(&d, "-5");
	assert_true(dec_is_integer(&d));
	PARSE(&d, "1e-64");
	assert_false(dec_is_integer(&d));
	dec_clear(&d);
}

/* ---- To integers and money ---------------------------------------------- */

static void test_to_i64(void **state)
{
	(void)state;
	TO_I64("1.000", TLY_OK, 1);
	TO_I64("-42", TLY_OK, -42);
	TO_I64("0.00", TLY_OK, 0);
	TO_I64("9223372036854775807", TLY_OK, INT64_MAX);
	TO_I64("9223372036854775807.000", TLY_OK, INT64_MAX);
	TO_I64("-9223372036854775808", TLY_OK, INT64_MIN);
	TO_I64("-9223372036854775808.0", TLY_OK, INT64_MIN);
}

static void test_to_i64_errors(void **state)
{
	(void)state;
	TO_I64("1.5", TLY_EINVAL, 0);
	TO_I64("-0.001", TLY_EINVAL, 0);
	TO_I64("9223372036854775808", TLY_ERANGE, 0);
	TO_I64("-9223372036854775809", TLY_ERANGE, 0);
	TO_I64("18446744073709551616", TLY_ERANGE, 0);
	TO_I64("1e30", TLY_ERANGE, 0);
}

static void test_to_minor(void **state)
{
	(void)state;
	TO_MINOR("1.005", 2, TLY_OK, 101);
	TO_MINOR("-1.005", 2, TLY_OK, -101);
	TO_MINOR("0.125", 2, TLY_OK, 13);
	TO_MINOR("1.994", 2, TLY_OK, 199);
	TO_MINOR("1.995", 2, TLY_OK, 200);
	TO_MINOR("12", 2, TLY_OK, 1200);
	TO_MINOR("-0.004", 2, TLY_OK, 0);
	TO_MINOR("2.5", 0, TLY_OK, 3);		/* JPY */
	TO_MINOR("-2.5", 0, TLY_OK, -3);
	TO_MINOR("1.2345", 3, TLY_OK, 1235);	/* KWD */
	TO_MINOR("1.2344", 3, TLY_OK, 1234);
	/* Rounded once: 0.0149 is 0.01, not 0.015 and then 0.02. */
	TO_MINOR("0.0149", 2, TLY_OK, 1);
}

static void test_to_minor_range(void **state)
{
	(void)state;
	TO_MINOR("92233720368547758.07", 2, TLY_OK, INT64_MAX);
	TO_MINOR("92233720368547758.08", 2, TLY_ERANGE, 0);
	TO_MINOR("92233720368547758.075", 2, TLY_ERANGE, 0);
	TO_MINOR("92233720368547758.0749", 2, TLY_OK, INT64_MAX);
	TO_MINOR("-92233720368547758.08", 2, TLY_OK, INT64_MIN);
	TO_MINOR("-92233720368547758.085", 2, TLY_ERANGE, 0);
	TO_MINOR("1e30", 0, TLY_ERANGE, 0);
	TO_MINOR("1", -1, TLY_ERANGE, 0);
	TO_MINOR("1", DEC_MAX_SCALE + 1, TLY_ERANGE, 0);
}

static void test_from_minor(void **state)
{
	dec_t d;
	int64_t out = 0;
	char *w;

	(void)state;
	dec_init(&d);
	dec_from_minor(&d, 101, 2);
	EXPECT(&d, "1.01");
	assert_int_equal(d.scale, 2);
	assert_int_equal(dec_to_minor(&d, 2, &out), TLY_OK);
	assert_true(out == 101);
	dec_from_minor(&d, -5, 2);
	EXPECT(&d, "-0.05");
	dec_from_minor(&d, 7, 0);
	EXPECT(&d, "7");
	dec_from_minor(&d, INT64_MIN, 2);
	EXPECT(&d, "-92233720368547758.08");
	assert_int_equal(dec_to_minor(&d, 2, &out), TLY_OK);
	assert_true(out == INT64_MIN);
	/* Outside 0..DEC_MAX_SCALE (see dec.h). */
	dec_from_minor(&d, 15, -1);
	EXPECT(&d, "150");
	dec_from_minor(&d, 15, DEC_MAX_SCALE + 1);	/* 1.5e-64 */
	w = repeat('0', 63, "0.", "2");
	EXPECT(&d, w);
	free(w);
	dec_clear(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_is_zero),
		cmocka_unit_test(test_set_i64_extremes),
		cmocka_unit_test(test_set_copies),
		cmocka_unit_test(test_parse_integers),
		cmocka_unit_test(test_parse_fractions),
		cmocka_unit_test(test_parse_exponents),
		cmocka_unit_test(test_parse_negative_zero),
		cmocka_unit_test(test_parse_uses_len),
		cmocka_unit_test(test_parse_syntax_errors),
		cmocka_unit_test(test_parse_digit_cap),
		cmocka_unit_test(test_parse_leading_zeros_free),
		cmocka_unit_test(test_parse_digit_cap_across_point),
		cmocka_unit_test(test_parse_scale_cap),
		cmocka_unit_test(test_parse_exponent_cap),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_fmt_double_simple),
		cmocka_unit_test(test_fmt_double_sum_of_tenths),
		cmocka_unit_test(test_fmt_double_1e21),
		cmocka_unit_test(test_fmt_double_min_subnormal),
		cmocka_unit_test(test_fmt_double_max),
		cmocka_unit_test(test_fmt_double_power_of_two),
		cmocka_unit_test(test_fmt_double_errors),
		cmocka_unit_test(test_from_double_tenths_sum),
		cmocka_unit_test(test_from_double_values),
		cmocka_unit_test(test_from_double_errors),
		cmocka_unit_test(test_format_layout),
		cmocka_unit_test(test_strlen_exact),
		cmocka_unit_test(test_format_small_buffer),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_add_tenths_exact),
		cmocka_unit_test(test_add_past_int64),
		cmocka_unit_test(test_sub),
		cmocka_unit_test(test_neg_abs),
		cmocka_unit_test(test_aliasing),
		cmocka_unit_test(test_mul_scales_add),
		cmocka_unit_test(test_mul_30_digits),
		cmocka_unit_test(test_mul_rounds_past_max_scale),
		cmocka_unit_test(test_div_thirds_20_places),
		cmocka_unit_test(test_div_modes_on_halves),
		cmocka_unit_test(test_div_integer_places),
		cmocka_unit_test(test_div_operand_scales),
		cmocka_unit_test(test_div_by_zero),
		cmocka_unit_test(test_div_bad_args),
		cmocka_unit_test(test_round_half_up),
		cmocka_unit_test(test_round_half_even),
		cmocka_unit_test(test_round_ceil_floor_trunc),
		cmocka_unit_test(test_round_to_zero_has_no_sign),
		cmocka_unit_test(test_round_pads),
		cmocka_unit_test(test_round_negative_places),
		cmocka_unit_test(test_round_bad_args),
		cmocka_unit_test(test_cmp_by_value),
		cmocka_unit_test(test_cmp_i64),
		cmocka_unit_test(test_sign_zero_integer),
		cmocka_unit_test(test_to_i64),
		cmocka_unit_test(test_to_i64_errors),
		cmocka_unit_test(test_to_minor),
		cmocka_unit_test(test_to_minor_range),
		cmocka_unit_test(test_from_minor),
	};

	return cmocka_run_group_tests_name("dec", tests, NULL, NULL);
}
