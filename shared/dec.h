/*
 * dec.h - exact decimal numbers over GMP, for money and usage units.
 *
 * A dec_t is coef / 10^scale, with coef an arbitrary-precision integer
 * (GMP mpz_t) and scale >= 0 the count of digits after the point.  Every
 * operation is exact, except dec_div and dec_round, which round at a
 * precision the caller states and in a mode the caller names.  No binary
 * floating point is used in any result; the one place a double enters is
 * dec_from_double, which reads a JSON number the way Ruby's and
 * JavaScript's to_s print it (the shortest decimal that round-trips).
 *
 * Invariants: scale is in [0, DEC_MAX_SCALE]; trailing zeros after the
 * point are kept as computed (1.50 stays 1.50) until dec_normalize or a
 * rounding removes them; values compare by value (1.50 == 1.5).
 *
 * Life cycle: dec_init before use, dec_clear after; a dec_t must not be
 * copied by assignment (it owns GMP limbs): use dec_set.  Results may alias
 * operands (dec_add(a, a, b) is fine).
 */
#ifndef TALLY_DEC_H
#define TALLY_DEC_H

#include <stddef.h>
#include <stdint.h>
#include <gmp.h>

#define DEC_MAX_SCALE 64	/* most digits after the point we hold */
#define DEC_MAX_DIGITS 128	/* most significant digits dec_parse takes */
#define DEC_DOUBLE_BUFSZ 400	/* fits any double in plain notation */

typedef struct dec {
	mpz_t coef;	/* the digits, signed */
	int scale;	/* digits after the point, 0..DEC_MAX_SCALE */
} dec_t;

enum dec_round {
	DEC_HALF_UP,	/* half away from zero: 2.5 -> 3, -2.5 -> -3 (Ruby's) */
	DEC_HALF_EVEN,	/* banker's rounding */
	DEC_CEIL,	/* toward +infinity */
	DEC_FLOOR,	/* toward -infinity */
	DEC_TRUNC	/* toward zero */
};

/* ---- Life cycle ---------------------------------------------------- */

void dec_init(dec_t *d);		/* d = 0 */
void dec_clear(dec_t *d);		/* releases the limbs; NULL-safe */
void dec_set(dec_t *dst, const dec_t *src);
void dec_set_i64(dec_t *d, int64_t v);
void dec_set_zero(dec_t *d);

/* ---- Conversion from text and doubles ------------------------------- */

/*
 * Parse s[0..len) exactly: [+-]digits[.digits][(e|E)[+-]digits], or
 * [+-].digits.  No white space, no hex, no "inf"/"nan".  At most
 * DEC_MAX_DIGITS significant digits and a resulting scale of at most
 * DEC_MAX_SCALE (1e-70 is refused; 1.5e3 is 1500).  Returns TLY_OK,
 * TLY_EINVAL (syntax) or TLY_ERANGE (too many digits or exponent out of
 * range); on error d is unchanged.
 */
int dec_parse(dec_t *d, const char *s, size_t len);

/* dec_parse of a NUL-terminated string. */
int dec_parse_str(dec_t *d, const char *s);

/* True when s[0..len) is text that dec_parse accepts. */
int dec_valid(const char *s, size_t len);

/*
 * Write the shortest decimal that reads back as v (what Ruby and
 * JavaScript print), in plain notation, with no exponent and no trailing
 * ".0": 0.1 -> "0.1", 1e21 -> "1000000000000000000000", 5.0 -> "5".
 * buf must hold DEC_DOUBLE_BUFSZ bytes.  Returns TLY_OK, or TLY_EINVAL for
 * NaN and infinities.
 */
int dec_fmt_double(double v, char *buf, size_t size);

/*
 * d = the decimal dec_fmt_double prints for v.  TLY_EINVAL for NaN/inf;
 * TLY_ERANGE when that decimal is past dec_parse's caps (|v| >= 1e128, or
 * digits beyond DEC_MAX_SCALE places, such as 5e-324); d is then unchanged.
 */
int dec_from_double(dec_t *d, double v);

/* ---- Formatting ----------------------------------------------------- */

/*
 * Write d in plain notation with exactly d->scale digits after the point
 * ("-0.50", "12", "0.001").  Returns TLY_OK, or TLY_ERANGE when buf is too
 * small (buf then holds "").
 */
int dec_format(const dec_t *d, char *buf, size_t size);

/* The same, into a new string the caller frees; NULL when out of memory. */
char *dec_to_str(const dec_t *d);

/* Bytes dec_format needs for d, with the NUL. */
size_t dec_strlen(const dec_t *d);

/* Drop trailing zeros after the point: 1.500 -> 1.5, 2.00 -> 2. */
void dec_normalize(dec_t *d);

/* ---- Arithmetic (exact) ------------------------------------------- */

void dec_add(dec_t *r, const dec_t *a, const dec_t *b);
void dec_sub(dec_t *r, const dec_t *a, const dec_t *b);
void dec_neg(dec_t *r, const dec_t *a);
void dec_abs(dec_t *r, const dec_t *a);

/*
 * r = a * b.  Exact when the scales sum to at most DEC_MAX_SCALE;
 * otherwise rounded half-up to DEC_MAX_SCALE digits.
 */
void dec_mul(dec_t *r, const dec_t *a, const dec_t *b);

/*
 * r = a / b rounded to `places` digits after the point (0..DEC_MAX_SCALE)
 * in `mode`.  Returns TLY_OK, TLY_EINVAL when b is zero (or mode is not a
 * dec_round), TLY_ERANGE for a bad `places`; r is unchanged on error.
 */
int dec_div(dec_t *r, const dec_t *a, const dec_t *b, int places,
	    enum dec_round mode);

/*
 * r = a rounded to `places` digits after the point in `mode`.  places may
 * be negative (-1 rounds to tens: 125 -> 130 half-up).  The result's scale
 * is max(places, 0): round(2.5, 0) is "3", round(1.2, 3) is "1.200".
 * places must be in [-DEC_MAX_SCALE, DEC_MAX_SCALE]: TLY_ERANGE otherwise,
 * TLY_EINVAL for a mode that is not a dec_round; r is unchanged on error.
 */
int dec_round(dec_t *r, const dec_t *a, int places, enum dec_round mode);

/* ---- Comparison ----------------------------------------------------- */

int dec_cmp(const dec_t *a, const dec_t *b);	/* <0, 0, >0 by value */
int dec_cmp_i64(const dec_t *a, int64_t b);
int dec_sgn(const dec_t *a);			/* -1, 0, 1 */
int dec_is_zero(const dec_t *a);
int dec_is_integer(const dec_t *a);		/* no fractional part */

/* ---- To integers and money -------------------------------------------- */

/*
 * *out = a exactly, when a is an integer that fits in int64.  TLY_EINVAL
 * when a has a fractional part, TLY_ERANGE when it does not fit.
 */
int dec_to_i64(const dec_t *a, int64_t *out);

/*
 * Convert an amount in major units (dollars) to minor units (cents) of a
 * currency with `exponent` decimals (USD 2, JPY 0, KWD 3): round half-up
 * to `exponent` places once, then shift.  1.005 USD -> 101; -1.005 -> -101.
 * Returns TLY_OK, or TLY_ERANGE when the result does not fit in int64 or
 * exponent is outside 0..DEC_MAX_SCALE.
 */
int dec_to_minor(const dec_t *amount, int exponent, int64_t *out);

/*
 * a = minor / 10^exponent exactly (cents back to major units), with scale
 * exponent.  Outside 0..DEC_MAX_SCALE: a negative exponent gives an integer
 * (scale 0), a larger one rounds half-up to DEC_MAX_SCALE places.
 */
void dec_from_minor(dec_t *a, int64_t minor, int exponent);

#endif
