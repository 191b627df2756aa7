/*
 * dec.c - exact decimal arithmetic over GMP (see dec.h).
 *
 * A value is coef / 10^scale.  Operations align scales by multiplying the
 * coefficient of the operand with the smaller scale by a power of ten; the
 * only inexact steps are dec_div and dec_round, which round explicitly, and
 * dec_mul past DEC_MAX_SCALE digits.  Every rounding goes through
 * div_round(), which rounds an integer quotient from its remainder.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dec.h"
#include "err.h"

/*
 * An exponent is saturated here while it is read: any exponent this large
 * is out of range whatever the digits, and the bound keeps the scale
 * arithmetic far from overflow.
 */
#define DEC_EXP_SAT 1000000000000LL

/* ---- Integer helpers ------------------------------------------------- */

/* z = v, without assuming that long holds 64 bits. */
static void z_set_i64(mpz_t z, int64_t v)
{
	uint64_t m = v < 0 ? -(uint64_t)v : (uint64_t)v;

	mpz_import(z, 1, -1, sizeof(m), 0, 0, &m);
	if (v < 0)
		mpz_neg(z, z);
}

/* *out = z when it fits in int64; TLY_ERANGE otherwise. */
static int z_get_i64(const mpz_t z, int64_t *out)
{
	const uint64_t lim = (uint64_t)INT64_MAX + 1;	/* |INT64_MIN| */
	uint64_t m = 0;

	if (mpz_sizeinbase(z, 2) > 64)
		return TLY_ERANGE;
	mpz_export(&m, NULL, -1, sizeof(m), 0, 0, z);	/* |z| */
	if (mpz_sgn(z) >= 0) {
		if (m >= lim)
			return TLY_ERANGE;
		*out = (int64_t)m;
	} else {
		if (m > lim)
			return TLY_ERANGE;
		*out = m == lim ? INT64_MIN : -(int64_t)m;
	}
	return TLY_OK;
}

/* z = c * 10^k; z may be c. */
static void mul_pow10(mpz_t z, const mpz_t c, unsigned long k)
{
	mpz_t p;

	if (k == 0) {
		mpz_set(z, c);
		return;
	}
	mpz_init(p);
	mpz_ui_pow_ui(p, 10, k);
	mpz_mul(z, c, p);
	mpz_clear(p);
}

static int mode_ok(enum dec_round mode)
{
	return mode == DEC_HALF_UP || mode == DEC_HALF_EVEN ||
	       mode == DEC_CEIL || mode == DEC_FLOOR || mode == DEC_TRUNC;
}

/*
 * q = n / d rounded in mode, for d != 0 and any signs; q may be n or d.
 * The truncated quotient is at most one unit from the answer: the
 * remainder says whether to step away from zero, and twice the remainder
 * against the divisor says whether the dropped part is below, at or above
 * one half.
 */
static void div_round(mpz_t q, const mpz_t n, const mpz_t d,
		      enum dec_round mode)
{
	int sgn = mpz_sgn(n) * mpz_sgn(d);	/* sign of the true quotient */
	int away = 0, half;
	mpz_t t, rem;

	mpz_inits(t, rem, NULL);
	mpz_tdiv_qr(t, rem, n, d);
	if (mpz_sgn(rem) != 0) {
		mpz_mul_2exp(rem, rem, 1);
		half = mpz_cmpabs(rem, d);
		switch (mode) {
		case DEC_HALF_UP:
			away = half >= 0;
			break;
		case DEC_HALF_EVEN:
			away = half > 0 || (half == 0 && mpz_odd_p(t));
			break;
		case DEC_CEIL:
			away = sgn > 0;
			break;
		case DEC_FLOOR:
			away = sgn < 0;
			break;
		case DEC_TRUNC:
			break;
		}
	}
	if (away && sgn > 0)
		mpz_add_ui(t, t, 1);
	else if (away)
		mpz_sub_ui(t, t, 1);
	mpz_swap(q, t);
	mpz_clears(t, rem, NULL);
}

/* c = c / 10^k rounded in mode. */
static void round_shift(mpz_t c, unsigned long k, enum dec_round mode)
{
	mpz_t p;

	mpz_init(p);
	mpz_ui_pow_ui(p, 10, k);
	div_round(c, c, p, mode);
	mpz_clear(p);
}

/* ---- Life cycle ------------------------------------------------------ */

void dec_init(dec_t *d)
{
	mpz_init(d->coef);
	d->scale = 0;
}

void dec_clear(dec_t *d)
{
	if (!d)
		return;
	mpz_clear(d->coef);
	d->scale = 0;
}

void dec_set(dec_t *dst, const dec_t *src)
{
	mpz_set(dst->coef, src->coef);
	dst->scale = src->scale;
}

void dec_set_i64(dec_t *d, int64_t v)
{
	z_set_i64(d->coef, v);
	d->scale = 0;
}

void dec_set_zero(dec_t *d)
{
	mpz_set_ui(d->coef, 0);
	d->scale = 0;
}

/* ---- Parsing --------------------------------------------------------- */

/* What scan() found in a number's text. */
struct dec_scan {
	const char *mant;	/* mantissa: digits with at most one '.' */
	const char *mend;	/* end of the mantissa */
	int neg;
	size_t nsig;		/* mantissa digits from the first non-zero */
	long long scale;	/* digits after the point less the exponent */
};

/* Count the decimal digits at s[*i..len) and step over them. */
static size_t skip_digits(const char *s, size_t len, size_t *i)
{
	size_t start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9')
		(*i)++;
	return *i - start;
}

/* Read [+-]digits into *v, saturating at DEC_EXP_SAT. */
static int scan_exp(const char *s, size_t len, size_t *i, long long *v)
{
	int neg = 0;
	size_t start;

	if (*i < len && (s[*i] == '+' || s[*i] == '-'))
		neg = s[(*i)++] == '-';
	*v = 0;
	for (start = *i; *i < len && s[*i] >= '0' && s[*i] <= '9'; (*i)++)
		if (*v < DEC_EXP_SAT)
			*v = *v * 10 + (s[*i] - '0');
	if (*i == start)
		return TLY_EINVAL;
	if (neg)
		*v = -*v;
	return TLY_OK;
}

/*
 * Check the syntax of s[0..len), then the caps; fill *sc.  Syntax errors
 * win over range errors, so "1e-70x" is TLY_EINVAL.
 */
static int scan(const char *s, size_t len, struct dec_scan *sc)
{
	size_t i = 0, nint, nfrac = 0;
	long long exp = 0;
	const char *p;

	if (!s)
		return TLY_EINVAL;
	sc->neg = 0;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		sc->neg = s[i++] == '-';
	sc->mant = s + i;
	nint = skip_digits(s, len, &i);
	if (i < len && s[i] == '.') {
		i++;
		nfrac = skip_digits(s, len, &i);
	}
	if (nint + nfrac == 0)
		return TLY_EINVAL;
	sc->mend = s + i;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (scan_exp(s, len, &i, &exp) != TLY_OK)
			return TLY_EINVAL;
	}
	if (i != len)
		return TLY_EINVAL;

	sc->nsig = 0;
	for (p = sc->mant; p < sc->mend; p++)
		if (*p != '.' && (sc->nsig || *p != '0'))
			sc->nsig++;
	sc->scale = (long long)nfrac - exp;
	if (sc->nsig > DEC_MAX_DIGITS || sc->scale > DEC_MAX_SCALE)
		return TLY_ERANGE;
	/* A positive exponent appends zeros: cap the coefficient's size. */
	if (sc->nsig && sc->scale < 0 &&
	    (long long)sc->nsig - sc->scale > DEC_MAX_DIGITS + DEC_MAX_SCALE)
		return TLY_ERANGE;
	return TLY_OK;
}

int dec_parse(dec_t *d, const char *s, size_t len)
{
	struct dec_scan sc;
	char digits[DEC_MAX_DIGITS + 1];
	size_t n = 0;
	const char *p;
	mpz_t c;
	int rc = scan(s, len, &sc);

	if (rc != TLY_OK)
		return rc;
	/* Leading zeros were not counted against the cap: skip them. */
	for (p = sc.mant; p < sc.mend; p++)
		if (*p != '.' && (n || *p != '0'))
			digits[n++] = *p;
	digits[n] = '\0';
	mpz_init_set_ui(c, 0);
	if (n)
		mpz_set_str(c, digits, 10);
	if (sc.neg)
		mpz_neg(c, c);
	if (sc.scale < 0) {
		mul_pow10(c, c, (unsigned long)-sc.scale);
		sc.scale = 0;
	}
	mpz_swap(d->coef, c);
	d->scale = (int)sc.scale;
	mpz_clear(c);
	return TLY_OK;
}

int dec_parse_str(dec_t *d, const char *s)
{
	if (!s)
		return TLY_EINVAL;
	return dec_parse(d, s, strlen(s));
}

int dec_valid(const char *s, size_t len)
{
	struct dec_scan sc;

	return scan(s, len, &sc) == TLY_OK;
}

/* ---- Doubles --------------------------------------------------------- */

/*
 * sci is d[.ddd]e[+-]xx, as "%.*e" prints it: *m = the digits as one
 * integer; returns the power of ten of the last digit.
 */
static int sci_split(const char *sci, unsigned long long *m)
{
	int nfrac = 0, point = 0;
	const char *p;

	*m = 0;
	for (p = sci; *p && *p != 'e'; p++) {
		if (*p == '.') {
			point = 1;
			continue;
		}
		*m = *m * 10 + (unsigned)(*p - '0');
		nfrac += point;
	}
	return (int)strtol(p + 1, NULL, 10) - nfrac;
}

/*
 * The shortest digits that read back as v > 0: for 1..17 significant
 * digits (17 always round-trip an IEEE double), try the correctly rounded
 * decimal, then its neighbour on the other side of v.  The neighbour
 * matters when v is a power of two: the double below is twice as close as
 * the one above, so the nearest decimal can miss while the next one up
 * still reads back (2^-24 is 5.960464477539063e-08, as Ruby, JavaScript
 * and Python print it, not 5.9604644775390625e-08).  glibc's printf and
 * strtod are exact, so the digits are the correctly rounded ones.
 * Returns the count of digits put in digits[] (no trailing zeros); *exp10
 * is the power of ten of the first digit.
 */
static int shortest_digits(double v, char digits[24], int *exp10)
{
	char sci[40];
	unsigned long long m = 0, alt;
	int prec, x = 0, n;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec - 1, v);
		x = sci_split(sci, &m);
		if (strtod(sci, NULL) == v)
			break;
		alt = strtod(sci, NULL) < v ? m + 1 : m - 1;
		snprintf(sci, sizeof(sci), "%llue%d", alt, x);
		if (strtod(sci, NULL) == v) {
			m = alt;
			break;
		}
	}
	n = snprintf(digits, 24, "%llu", m);
	*exp10 = x + n - 1;
	while (n > 1 && digits[n - 1] == '0')
		n--;
	return n;
}

/*
 * Shortest decimal that reads back as v, written without an exponent:
 * what Ruby's Float#to_s and JavaScript's Number#toString choose.
 */
int dec_fmt_double(double v, char *buf, size_t size)
{
	char digits[24];
	int ndig, exp10;
	char *out = buf, *end = buf + size;

	if (!isfinite(v) || size < DEC_DOUBLE_BUFSZ) {
		if (size)
			buf[0] = '\0';
		return isfinite(v) ? TLY_ERANGE : TLY_EINVAL;
	}
	if (v == 0) {
		strcpy(buf, "0");
		return TLY_OK;
	}
	/*
	 * A whole number below 2^53 is exactly its integer digits, which is
	 * also the shortest text that reads back: no search needed (whole
	 * timestamps and counts are most of what intake sees).
	 */
	if (v > -9007199254740992.0 && v < 9007199254740992.0 &&
	    v == (double)(long long)v) {
		snprintf(buf, size, "%lld", (long long)v);
		return TLY_OK;
	}
	if (v < 0) {
		*out++ = '-';
		v = -v;
	}
	ndig = shortest_digits(v, digits, &exp10);
	/* The value is 0.d1d2...dn * 10^(exp10 + 1). */
	if (exp10 < 0) {
		*out++ = '0';
		*out++ = '.';
		for (int i = 0; i < -exp10 - 1; i++)
			*out++ = '0';
		memcpy(out, digits, (size_t)ndig);
		out += ndig;
	} else {
		for (int i = 0; i <= exp10 || i < ndig; i++) {
			if (i == exp10 + 1)
				*out++ = '.';
			*out++ = i < ndig ? digits[i] : '0';
		}
	}
	if (out >= end)
		return TLY_ERANGE;	/* cannot happen with DEC_DOUBLE_BUFSZ */
	*out = '\0';
	return TLY_OK;
}

int dec_from_double(dec_t *d, double v)
{
	char buf[DEC_DOUBLE_BUFSZ];
	int rc = dec_fmt_double(v, buf, sizeof(buf));

	if (rc != TLY_OK)
		return rc;
	return dec_parse_str(d, buf);
}

/* ---- Formatting ------------------------------------------------------ */

/* Free a string that mpz_get_str allocated with GMP's allocator. */
static void gmp_free_str(char *s)
{
	void (*freefunc)(void *, size_t);

	mp_get_memory_functions(NULL, NULL, &freefunc);
	freefunc(s, strlen(s) + 1);
}

/* Bytes of d in plain notation when |coef| has ndig digits, with NUL. */
static size_t fmt_len(const dec_t *d, size_t ndig)
{
	size_t sc = (size_t)d->scale;
	size_t len = (mpz_sgn(d->coef) < 0) + 1;

	len += ndig > sc ? ndig - sc : 1;	/* at least "0" */
	if (sc)
		len += 1 + sc;
	return len;
}

int dec_format(const dec_t *d, char *buf, size_t size)
{
	char *s = mpz_get_str(NULL, 10, d->coef);
	const char *dig = s + (s[0] == '-');
	size_t n = strlen(dig), sc = (size_t)d->scale;
	char *out = buf;
	int rc = TLY_OK;

	if (fmt_len(d, n) > size) {
		if (size)
			buf[0] = '\0';
		rc = TLY_ERANGE;
		goto out;
	}
	if (dig != s)
		*out++ = '-';
	if (n > sc) {
		memcpy(out, dig, n - sc);
		out += n - sc;
		dig += n - sc;
		n = sc;
	} else {
		*out++ = '0';
	}
	if (sc) {
		/* n <= sc digits remain; pad with zeros after the point. */
		*out++ = '.';
		memset(out, '0', sc - n);
		out += sc - n;
		memcpy(out, dig, n);
		out += n;
	}
	*out = '\0';
out:
	gmp_free_str(s);
	return rc;
}

size_t dec_strlen(const dec_t *d)
{
	char *s = mpz_get_str(NULL, 10, d->coef);
	size_t len = fmt_len(d, strlen(s) - (s[0] == '-'));

	gmp_free_str(s);
	return len;
}

char *dec_to_str(const dec_t *d)
{
	size_t len = dec_strlen(d);
	char *s = malloc(len);

	if (!s)
		return NULL;
	dec_format(d, s, len);
	return s;
}

void dec_normalize(dec_t *d)
{
	while (d->scale > 0 && mpz_divisible_ui_p(d->coef, 10)) {
		mpz_divexact_ui(d->coef, d->coef, 10);
		d->scale--;
	}
}

/* ---- Arithmetic ------------------------------------------------------ */

/* r = a + b, or a - b when sub; both brought to the larger scale. */
static void add_sub(dec_t *r, const dec_t *a, const dec_t *b, int sub)
{
	int s = a->scale > b->scale ? a->scale : b->scale;
	mpz_t x, y;

	mpz_inits(x, y, NULL);
	mul_pow10(x, a->coef, (unsigned long)(s - a->scale));
	mul_pow10(y, b->coef, (unsigned long)(s - b->scale));
	if (sub)
		mpz_sub(r->coef, x, y);
	else
		mpz_add(r->coef, x, y);
	r->scale = s;
	mpz_clears(x, y, NULL);
}

void dec_add(dec_t *r, const dec_t *a, const dec_t *b)
{
	add_sub(r, a, b, 0);
}

void dec_sub(dec_t *r, const dec_t *a, const dec_t *b)
{
	add_sub(r, a, b, 1);
}

void dec_neg(dec_t *r, const dec_t *a)
{
	mpz_neg(r->coef, a->coef);
	r->scale = a->scale;
}

void dec_abs(dec_t *r, const dec_t *a)
{
	mpz_abs(r->coef, a->coef);
	r->scale = a->scale;
}

void dec_mul(dec_t *r, const dec_t *a, const dec_t *b)
{
	int s = a->scale + b->scale;	/* read before r overwrites a or b */

	mpz_mul(r->coef, a->coef, b->coef);
	if (s > DEC_MAX_SCALE) {
		round_shift(r->coef, (unsigned long)(s - DEC_MAX_SCALE),
			    DEC_HALF_UP);
		s = DEC_MAX_SCALE;
	}
	r->scale = s;
}

int dec_div(dec_t *r, const dec_t *a, const dec_t *b, int places,
	    enum dec_round mode)
{
	mpz_t n, d;

	if (mpz_sgn(b->coef) == 0 || !mode_ok(mode))
		return TLY_EINVAL;
	if (places < 0 || places > DEC_MAX_SCALE)
		return TLY_ERANGE;
	/*
	 * a/b * 10^places = ca * 10^(sb + places) / (cb * 10^sa): one integer
	 * division, rounded from its remainder, is the answer's coefficient.
	 */
	mpz_inits(n, d, NULL);
	mul_pow10(n, a->coef, (unsigned long)(b->scale + places));
	mul_pow10(d, b->coef, (unsigned long)a->scale);
	div_round(r->coef, n, d, mode);
	r->scale = places;
	mpz_clears(n, d, NULL);
	return TLY_OK;
}

int dec_round(dec_t *r, const dec_t *a, int places, enum dec_round mode)
{
	int as = a->scale;

	if (places < -DEC_MAX_SCALE || places > DEC_MAX_SCALE)
		return TLY_ERANGE;
	if (!mode_ok(mode))
		return TLY_EINVAL;
	if (places >= as) {
		mul_pow10(r->coef, a->coef, (unsigned long)(places - as));
		r->scale = places;
		return TLY_OK;
	}
	/* Drop the digits past `places`, then restore the zeros that a
	 * negative `places` stands for: 125 at -1 is 13, then 130. */
	mpz_set(r->coef, a->coef);
	round_shift(r->coef, (unsigned long)(as - places), mode);
	if (places < 0) {
		mul_pow10(r->coef, r->coef, (unsigned long)-places);
		places = 0;
	}
	r->scale = places;
	return TLY_OK;
}

/* ---- Comparison ------------------------------------------------------ */

int dec_cmp(const dec_t *a, const dec_t *b)
{
	int sa = mpz_sgn(a->coef), sb = mpz_sgn(b->coef), c;
	mpz_t x;

	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (a->scale == b->scale) {
		c = mpz_cmp(a->coef, b->coef);
	} else {
		mpz_init(x);
		if (a->scale < b->scale) {
			mul_pow10(x, a->coef,
				  (unsigned long)(b->scale - a->scale));
			c = mpz_cmp(x, b->coef);
		} else {
			mul_pow10(x, b->coef,
				  (unsigned long)(a->scale - b->scale));
			c = -mpz_cmp(x, a->coef);
		}
		mpz_clear(x);
	}
	return (c > 0) - (c < 0);
}

int dec_cmp_i64(const dec_t *a, int64_t b)
{
	dec_t t;
	int c;

	dec_init(&t);
	dec_set_i64(&t, b);
	c = dec_cmp(a, &t);
	dec_clear(&t);
	return c;
}

int dec_sgn(const dec_t *a)
{
	return mpz_sgn(a->coef);
}

int dec_is_zero(const dec_t *a)
{
	return mpz_sgn(a->coef) == 0;
}

int dec_is_integer(const dec_t *a)
{
	mpz_t p;
	int yes;

	if (a->scale == 0)
		return 1;
	mpz_init(p);
	mpz_ui_pow_ui(p, 10, (unsigned long)a->scale);
	yes = mpz_divisible_p(a->coef, p) != 0;
	mpz_clear(p);
	return yes;
}

/* ---- To integers and money ------------------------------------------- */

int dec_to_i64(const dec_t *a, int64_t *out)
{
	mpz_t p, q, rem;
	int rc;

	mpz_inits(p, q, rem, NULL);
	mpz_ui_pow_ui(p, 10, (unsigned long)a->scale);
	mpz_tdiv_qr(q, rem, a->coef, p);
	rc = mpz_sgn(rem) ? TLY_EINVAL : z_get_i64(q, out);
	mpz_clears(p, q, rem, NULL);
	return rc;
}

int dec_to_minor(const dec_t *amount, int exponent, int64_t *out)
{
	dec_t t;
	int rc;

	if (exponent < 0 || exponent > DEC_MAX_SCALE)
		return TLY_ERANGE;
	/* Round once: at scale `exponent` the coef counts minor units. */
	dec_init(&t);
	dec_round(&t, amount, exponent, DEC_HALF_UP);
	rc = z_get_i64(t.coef, out);
	dec_clear(&t);
	return rc;
}

void dec_from_minor(dec_t *a, int64_t minor, int exponent)
{
	z_set_i64(a->coef, minor);
	if (exponent < 0) {
		mul_pow10(a->coef, a->coef, -(unsigned long)exponent);
		exponent = 0;
	} else if (exponent > DEC_MAX_SCALE) {
		round_shift(a->coef, (unsigned long)(exponent - DEC_MAX_SCALE),
			    DEC_HALF_UP);
		exponent = DEC_MAX_SCALE;
	}
	a->scale = exponent;
}
