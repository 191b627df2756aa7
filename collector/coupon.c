/*
 * coupon.c - coupons on an invoice, as Lago applies them (see coupon.h).
 *
 * Money is exact: amounts are rationals (GMP mpq), cents are integers and
 * a fee's share of the coupons is kept in 1/100000 cent, as Lago's
 * numeric(30,5) column keeps it.
 *
 * Lago computes two things with Ruby Floats:
 *   - the percentage discount, base * rate.fdiv(100), then Float#round;
 *   - a fee's weight, (credit * (amount - coupons)).fdiv(base), added to
 *     a BigDecimal (which reads a Float as its shortest decimal, as
 *     Float#to_s prints it) and stored rounded at 5 places.
 * To give Lago's cents, ties included (0.7% of 500 cents is 3.5 exactly,
 * but 500 * (0.7 / 100) in doubles is 3.4999999999999996, so Lago gives
 * 3), the doubles are reproduced exactly: struct rflo is a binary64 value
 * held as integers, rflo_of rounds a rational to the nearest one (ties to
 * even, as IEEE-754 does), and rflo_shortest finds Ruby's shortest
 * decimal for one.  No C float or double is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmp.h>

#include "coupon.h"
#include "dec.h"
#include "err.h"
#include "util.h"

/* ---- Integers ------------------------------------------------------------ */

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
	const uint64_t lim = (uint64_t)INT64_MAX + 1;
	uint64_t m = 0;

	if (mpz_sizeinbase(z, 2) > 64)
		return TLY_ERANGE;
	mpz_export(&m, NULL, -1, sizeof(m), 0, 0, z);
	if (mpz_sgn(z) >= 0 ? m >= lim : m > lim)
		return TLY_ERANGE;
	*out = mpz_sgn(z) >= 0 ? (int64_t)m :
	       m == lim ? INT64_MIN : -(int64_t)m;
	return TLY_OK;
}

/* q = v / 10^places. */
static void q_set_scaled(mpq_t q, int64_t v, unsigned long places)
{
	mpz_t d;

	mpz_init(d);
	z_set_i64(mpq_numref(q), v);
	mpz_ui_pow_ui(d, 10, places);
	mpz_set(mpq_denref(q), d);
	mpq_canonicalize(q);
	mpz_clear(d);
}

/* r = a * 10^k, k of either sign; r may be a. */
static void q_mul_pow10(mpq_t r, const mpq_t a, long k)
{
	mpq_t p;

	mpq_init(p);
	mpz_ui_pow_ui(mpq_numref(p), 10, (unsigned long)(k < 0 ? -k : k));
	if (k < 0)
		mpq_inv(p, p);
	mpq_mul(r, a, p);
	mpq_clear(p);
}

enum rnd { RND_HALF_AWAY, RND_HALF_EVEN, RND_TRUNC };

/* z = v rounded to an integer in mode. */
static void q_round(mpz_t z, const mpq_t v, enum rnd mode)
{
	mpz_t r;
	int c;

	mpz_init(r);
	mpz_tdiv_qr(z, r, mpq_numref(v), mpq_denref(v));	/* toward 0 */
	mpz_abs(r, r);
	mpz_mul_2exp(r, r, 1);
	c = mpz_cmp(r, mpq_denref(v));		/* the fraction vs 1/2 */
	if (mode != RND_TRUNC &&
	    (c > 0 || (c == 0 && (mode == RND_HALF_AWAY || mpz_odd_p(z))))) {
		if (mpq_sgn(v) < 0)
			mpz_sub_ui(z, z, 1);
		else
			mpz_add_ui(z, z, 1);
	}
	mpz_clear(r);
}

/* ---- Ruby Floats, exactly ------------------------------------------------ */

/* A binary64 value: (-1)^neg * m * 2^e with m < 2^53 (0 when m is 0). */
struct rflo {
	int neg;
	uint64_t m;
	long e;
};

/* fl(v): the binary64 nearest v, ties to even.  Money never nears the
 * exponent range's ends, so subnormals and overflow do not arise. */
static void rflo_of(struct rflo *f, const mpq_t v)
{
	mpz_t n, d, q, r;
	long s;
	int half, sticky;
	int64_t m = 0;

	f->neg = mpq_sgn(v) < 0;
	f->m = 0;
	f->e = 0;
	if (!mpq_sgn(v))
		return;
	mpz_inits(n, d, q, r, NULL);
	mpz_abs(n, mpq_numref(v));
	mpz_set(d, mpq_denref(v));
	/* Scale so that the quotient has 54 or 55 bits. */
	s = 54 - ((long)mpz_sizeinbase(n, 2) - (long)mpz_sizeinbase(d, 2));
	if (s >= 0)
		mpz_mul_2exp(n, n, (mp_bitcnt_t)s);
	else
		mpz_mul_2exp(d, d, (mp_bitcnt_t)-s);
	mpz_tdiv_qr(q, r, n, d);
	sticky = mpz_sgn(r) != 0;
	if (mpz_sizeinbase(q, 2) > 54) {
		sticky |= mpz_odd_p(q);
		mpz_tdiv_q_2exp(q, q, 1);
		s--;
	}
	half = mpz_odd_p(q);		/* the bit below the 53 kept */
	mpz_tdiv_q_2exp(q, q, 1);
	z_get_i64(q, &m);		/* < 2^53 */
	f->m = (uint64_t)m;
	if (half && (sticky || (f->m & 1)))
		f->m++;
	f->e = 1 - s;
	if (f->m == (uint64_t)1 << 53) {
		f->m >>= 1;
		f->e++;
	}
	mpz_clears(n, d, q, r, NULL);
}

/* out = the exact value of f. */
static void rflo_q(mpq_t out, const struct rflo *f)
{
	mpq_set_ui(out, 0, 1);
	z_set_i64(mpq_numref(out), (int64_t)f->m);
	if (f->e >= 0)
		mpz_mul_2exp(mpq_numref(out), mpq_numref(out),
			     (mp_bitcnt_t)f->e);
	else
		mpq_div_2exp(out, out, (mp_bitcnt_t)-f->e);
	if (f->neg)
		mpq_neg(out, out);
}

/* fl(fl(a) op fl(b)) for op '/' or '*': one IEEE operation. */
static void rflo_op(struct rflo *r, const struct rflo *a, char op,
		    const struct rflo *b)
{
	mpq_t x, y;

	mpq_inits(x, y, NULL);
	rflo_q(x, a);
	rflo_q(y, b);
	if (op == '/')
		mpq_div(x, x, y);
	else
		mpq_mul(x, x, y);
	rflo_of(r, x);
	mpq_clears(x, y, NULL);
}

static int rflo_eq(const struct rflo *a, const struct rflo *b)
{
	return a->neg == b->neg && a->m == b->m && (!a->m || a->e == b->e);
}

/* P with 10^P <= x < 10^(P+1), for x > 0. */
static long q_log10(const mpq_t x, long bits)
{
	long p = bits >= 0 ? bits * 30103 / 100000 :
			     -((-bits * 30103 + 99999) / 100000);
	mpq_t t, one;

	mpq_inits(t, one, NULL);
	mpq_set_ui(one, 1, 1);
	for (;;) {
		q_mul_pow10(t, one, p);
		if (mpq_cmp(t, x) > 0) {
			p--;
			continue;
		}
		q_mul_pow10(t, one, p + 1);
		if (mpq_cmp(t, x) <= 0) {
			p++;
			continue;
		}
		break;
	}
	mpq_clears(t, one, NULL);
	return p;
}

/*
 * out = Ruby's decimal of f (Float#to_s, and what BigDecimal reads from a
 * Float): the shortest decimal that reads back as f, the nearest to f of
 * that length.  17 significant digits always read back.
 */
static void rflo_shortest(mpq_t out, const struct rflo *f)
{
	struct rflo back, pos = *f;
	mpq_t x, cand;
	mpz_t n;
	long p;

	mpq_set_ui(out, 0, 1);
	if (!f->m)
		return;
	mpq_inits(x, cand, NULL);
	mpz_init(n);
	pos.neg = 0;
	rflo_q(x, &pos);
	p = q_log10(x, (long)mpz_sizeinbase(mpq_numref(x), 2) -
		       (long)mpz_sizeinbase(mpq_denref(x), 2));
	mpq_set(out, x);
	for (long k = 1; k <= 17; k++) {
		q_mul_pow10(cand, x, k - 1 - p);
		q_round(n, cand, RND_HALF_EVEN);
		mpq_set_z(cand, n);
		q_mul_pow10(cand, cand, p + 1 - k);
		rflo_of(&back, cand);
		if (rflo_eq(&back, &pos)) {
			mpq_set(out, cand);
			break;
		}
	}
	if (f->neg)
		mpq_neg(out, out);
	mpz_clear(n);
	mpq_clears(x, cand, NULL);
}

/* ---- One coupon ------------------------------------------------------- */

/* Is fee f among the fees coupon a applies to? */
static int fee_related(const struct coupon_applied *a,
		       const struct coupon_fee *f)
{
	const char *key = a->limit == COUPON_PLANS ? f->plan_id :
			  a->limit == COUPON_METRICS ? f->metric_id : NULL;

	if (a->limit == COUPON_ALL)
		return 1;
	for (size_t i = 0; key && i < a->ntargets; i++)
		if (strcmp(a->targets[i], key) == 0)
			return 1;
	return 0;
}

/* Working state of coupon_apply. */
struct run {
	struct coupon_fee *fees;
	size_t nfees;
	int64_t sub;		/* sub_total_excluding_taxes so far */
	mpq_t base;		/* the coupon's base */
	mpq_t credit;		/* the coupon's credit, unrounded */
	mpq_t t, u;		/* scratch */
};

/* A fee's amount less its coupons so far, in cents. */
static void fee_left(mpq_t out, const struct coupon_fee *f, mpq_t scratch)
{
	q_set_scaled(out, f->amount_cents, 0);
	q_set_scaled(scratch, f->coupons_e5, 5);
	mpq_sub(out, out, scratch);
}

/* Lago's base_amount_cents: the running sub-total, or the related
 * fees' amounts less their coupons (limited coupons). */
static void run_base(struct run *r, const struct coupon_applied *a)
{
	if (a->limit == COUPON_ALL) {
		q_set_scaled(r->base, r->sub, 0);
		return;
	}
	mpq_set_ui(r->base, 0, 1);
	for (size_t i = 0; i < r->nfees; i++) {
		if (!fee_related(a, &r->fees[i]))
			continue;
		fee_left(r->t, &r->fees[i], r->u);
		mpq_add(r->base, r->base, r->t);
	}
}

/* r->credit = base * rate / 100 as Lago computes it (AmountService). */
static int run_percentage(struct run *r, const struct coupon_applied *a)
{
	struct rflo rate, hundred, q, b, p;
	dec_t d;
	mpz_t z;

	dec_init(&d);
	if (dec_parse_str(&d, a->rate) != TLY_OK) {
		dec_clear(&d);
		return TLY_EINVAL;
	}
	mpz_set(mpq_numref(r->t), d.coef);
	mpz_ui_pow_ui(mpq_denref(r->t), 10, (unsigned long)d.scale);
	mpq_canonicalize(r->t);
	dec_clear(&d);
	rflo_of(&rate, r->t);			/* BigDecimal#to_f */
	mpq_set_ui(r->t, 100, 1);
	rflo_of(&hundred, r->t);
	rflo_op(&q, &rate, '/', &hundred);	/* rate.fdiv(100) */
	if (a->limit == COUPON_ALL) {		/* Integer * Float */
		rflo_of(&b, r->base);
		rflo_op(&p, &b, '*', &q);
		rflo_q(r->t, &p);
	} else {				/* BigDecimal * Float */
		rflo_shortest(r->t, &q);
		mpq_mul(r->t, r->t, r->base);
	}
	if (mpq_cmp(r->t, r->base) >= 0) {
		mpq_set(r->credit, r->base);
		return TLY_OK;
	}
	mpz_init(z);
	q_round(z, r->t, RND_HALF_AWAY);	/* Float#round, BigDecimal#round */
	mpq_set_z(r->credit, z);
	mpz_clear(z);
	return TLY_OK;
}

/* r->credit: Lago's AppliedCoupons::AmountService. */
static int run_credit(struct run *r, const struct coupon_applied *a)
{
	int64_t cap;

	if (a->percentage)
		return run_percentage(r, a);
	if (a->freq == COUPON_ONCE)
		cap = a->has_remaining ? a->remaining_cents : a->amount_cents;
	else
		cap = a->has_amount ? a->amount_cents : 0;
	q_set_scaled(r->credit, cap, 0);
	if (mpq_cmp(r->credit, r->base) > 0)
		mpq_set(r->credit, r->base);
	return TLY_OK;
}

/*
 * The fee's new coupons: coupons + credit * left / base, the weight
 * computed as Lago does (Fee#compute_precise_credit_amount_cents: a
 * Float; divided by an Integer base as a Float, by a BigDecimal base as
 * a BigDecimal), kept at 5 places, at most the fee's amount.
 */
static int run_fee(struct run *r, const struct coupon_applied *a,
		   struct coupon_fee *f)
{
	struct rflo x, w, b;
	mpz_t z;
	int rc = TLY_OK;

	if (mpq_sgn(r->base)) {
		fee_left(r->t, f, r->u);
		mpq_mul(r->t, r->t, r->credit);
		rflo_of(&x, r->t);			/* .fdiv: Float(x) */
		if (a->limit == COUPON_ALL) {
			rflo_of(&b, r->base);
			rflo_op(&w, &x, '/', &b);
			rflo_shortest(r->t, &w);
		} else {
			rflo_shortest(r->t, &x);
			mpq_div(r->t, r->t, r->base);
		}
		q_set_scaled(r->u, f->coupons_e5, 5);
		mpq_add(r->t, r->t, r->u);
		q_mul_pow10(r->t, r->t, 5);
		mpz_init(z);
		q_round(z, r->t, RND_HALF_AWAY);	/* numeric(30,5) */
		rc = z_get_i64(z, &f->coupons_e5);
		mpz_clear(z);
	}
	if (rc == TLY_OK && f->amount_cents <= INT64_MAX / COUPON_E5 &&
	    f->amount_cents >= INT64_MIN / COUPON_E5 &&
	    f->coupons_e5 > f->amount_cents * COUPON_E5)
		f->coupons_e5 = f->amount_cents * COUPON_E5;
	return rc;
}

/* Count down and end the applied coupon after its credit. */
static void run_state(struct coupon_applied *a, const mpq_t credit,
		      mpq_t scratch)
{
	int64_t left = a->has_remaining ? a->remaining_cents : a->amount_cents;

	a->applied = 1;
	if (a->freq == COUPON_RECURRING) {
		a->duration_remaining = a->has_duration &&
					a->duration_remaining > 1 ?
					a->duration_remaining - 1 : 0;
		a->has_duration = 1;
		a->terminated = a->duration_remaining <= 0;
	} else if (a->freq == COUPON_ONCE) {
		q_set_scaled(scratch, left, 0);
		a->terminated = a->percentage ||
				mpq_cmp(credit, scratch) >= 0;
	}
	if (a->freq == COUPON_ONCE && !a->percentage) {
		a->remaining_cents = left - a->credit_cents;
		a->has_remaining = 1;
	}
}

/* Lago's Credits::AppliedCouponService for one coupon. */
static int run_one(struct run *r, struct coupon_applied *a,
		   const char *currency)
{
	mpz_t z;
	size_t i;
	int rc;

	if (!a->percentage && strcmp(a->currency, currency) != 0)
		return TLY_OK;
	for (i = 0; i < r->nfees && !fee_related(a, &r->fees[i]); i++)
		;
	if (i == r->nfees)
		return TLY_OK;
	run_base(r, a);
	rc = run_credit(r, a);
	if (rc != TLY_OK)
		return rc;
	mpz_init(z);
	q_round(z, r->credit, RND_TRUNC);	/* the bigint column */
	rc = z_get_i64(z, &a->credit_cents);
	mpz_clear(z);
	for (i = 0; rc == TLY_OK && i < r->nfees; i++)
		if (fee_related(a, &r->fees[i]))
			rc = run_fee(r, a, &r->fees[i]);
	if (rc != TLY_OK)
		return rc;
	run_state(a, r->credit, r->t);
	r->sub -= a->credit_cents;
	return TLY_OK;
}

int coupon_apply(struct coupon_list *l, const char *currency,
		 int64_t subtotal_cents, struct coupon_fee *fees,
		 size_t nfees, int64_t *coupons_cents)
{
	struct run r = {.fees = fees, .nfees = nfees, .sub = subtotal_cents};
	int64_t total = 0;
	int rc = TLY_OK;

	*coupons_cents = 0;
	snprintf(l->currency, sizeof(l->currency), "%s",
		 currency ? currency : "");
	for (size_t i = 0; i < nfees; i++)
		total += fees[i].amount_cents;
	for (size_t i = 0; i < l->n; i++) {
		l->v[i].applied = 0;
		l->v[i].credit_cents = 0;
		l->v[i].terminated = 0;
	}
	if (total <= 0)
		return TLY_OK;
	mpq_inits(r.base, r.credit, r.t, r.u, NULL);
	for (size_t i = 0; rc == TLY_OK && i < l->n && r.sub > 0; i++)
		rc = run_one(&r, &l->v[i], l->currency);
	mpq_clears(r.base, r.credit, r.t, r.u, NULL);
	*coupons_cents = subtotal_cents - r.sub;
	return rc;
}

/* ---- Whole cents per fee ------------------------------------------------ */

/* z = the fee's share weight: its coupons_e5, 0 when negative. */
static void share_of(mpz_t z, const struct coupon_fee *f)
{
	z_set_i64(z, f->coupons_e5 > 0 ? f->coupons_e5 : 0);
}

int coupon_split_cents(const struct coupon_fee *fees, size_t nfees,
		       int64_t total, int64_t *out)
{
	mpz_t sum, tot, q, r, best;
	int64_t given = 0;
	int rc = TLY_OK;

	if (total < 0)
		return TLY_EINVAL;
	mpz_inits(sum, tot, q, r, best, NULL);
	z_set_i64(tot, total);
	for (size_t i = 0; i < nfees; i++) {
		out[i] = 0;
		share_of(q, &fees[i]);
		mpz_add(sum, sum, q);
	}
	if (!mpz_sgn(sum) && total)
		rc = TLY_EINVAL;
	/* Floors of total * share / sum. */
	for (size_t i = 0; rc == TLY_OK && total && i < nfees; i++) {
		share_of(q, &fees[i]);
		mpz_mul(q, q, tot);
		mpz_fdiv_q(q, q, sum);
		rc = z_get_i64(q, &out[i]);
		given += out[i];
	}
	/* The cents left, one each to the largest remainders. */
	while (rc == TLY_OK && given < total) {
		size_t pick = 0;

		mpz_set_si(best, -1);
		for (size_t i = 0; i < nfees; i++) {
			share_of(r, &fees[i]);
			mpz_mul(r, r, tot);
			z_set_i64(q, out[i]);
			mpz_submul(r, q, sum);	/* the remainder, x sum */
			if (mpz_cmp(r, best) > 0) {
				mpz_set(best, r);
				pick = i;
			}
		}
		out[pick]++;
		given++;
	}
	mpz_clears(sum, tot, q, r, best, NULL);
	return rc;
}

/* ---- Credits ------------------------------------------------------------ */

static int put_str(cJSON *o, const char *key, const char *s)
{
	cJSON *item = s ? cJSON_CreateString(s) : cJSON_CreateNull();

	return item && cJSON_AddItemToObject(o, key, item) ? 0 : -1;
}

/* Lago's V1::CreditSerializer of a coupon's credit. */
static cJSON *credit_json(const struct coupon_applied *a, const char *cur,
			  const char *invoice_id, const char *pay)
{
	cJSON *o = cJSON_CreateObject(), *item, *inv;
	int bad = !o || put_str(o, "lago_id", a->credit_id) ||
		  !cJSON_AddNumberToObject(o, "amount_cents",
					   (double)a->credit_cents) ||
		  put_str(o, "amount_currency", cur) ||
		  !cJSON_AddTrueToObject(o, "before_taxes");

	item = bad ? NULL : cJSON_AddObjectToObject(o, "item");
	bad = bad || !item || put_str(item, "lago_item_id", a->coupon_id) ||
	      put_str(item, "type", "coupon") ||
	      put_str(item, "code", a->code) || put_str(item, "name", a->name) ||
	      put_str(item, "description", a->description);
	inv = bad ? NULL : cJSON_AddObjectToObject(o, "invoice");
	bad = bad || !inv || put_str(inv, "lago_id", invoice_id) ||
	      put_str(inv, "payment_status", pay);
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int coupon_credits_json(struct coupon_list *l, const char *invoice_id,
			const char *payment_status, cJSON *arr)
{
	for (size_t i = 0; i < l->n; i++) {
		struct coupon_applied *a = &l->v[i];
		cJSON *o;

		if (!a->applied)
			continue;
		if (!a->credit_id[0] && util_uuid(a->credit_id) != TLY_OK)
			return TLY_EIO;
		o = credit_json(a, l->currency, invoice_id, payment_status);
		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			return TLY_ENOMEM;
		}
	}
	return TLY_OK;
}

/* ---- Storage ------------------------------------------------------------ */

void coupon_list_free(struct coupon_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].code);
		free(l->v[i].name);
		free(l->v[i].description);
		free(l->v[i].targets);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static const char *doc_str(const cJSON *doc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int doc_true(const cJSON *doc, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, key));
}

/* *out = a copy of s (NULL stays NULL); -1 when out of memory. */
static int dup_str(char **out, const char *s)
{
	*out = s ? strdup(s) : NULL;
	return s && !*out ? -1 : 0;
}

/* The coupon's targets of its limit, from the ids in its doc. */
static int take_targets(struct coupon_applied *a, const cJSON *doc)
{
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(doc,
		a->limit == COUPON_PLANS ? "plan_ids" : "billable_metric_ids");
	const cJSON *id;
	int n = a->limit == COUPON_ALL ? 0 : cJSON_GetArraySize(ids);

	if (n <= 0)
		return TLY_OK;
	a->targets = calloc((size_t)n, sizeof(*a->targets));
	if (!a->targets)
		return TLY_ENOMEM;
	cJSON_ArrayForEach(id, ids)
		if (cJSON_IsString(id))
			snprintf(a->targets[a->ntargets++], UTIL_UUID_LEN,
				 "%s", id->valuestring);
	return TLY_OK;
}

/* The coupon's side of an applied coupon, from the coupon's doc. */
static int take_coupon(struct coupon_applied *a, const char *text)
{
	cJSON *doc = cJSON_Parse(text ? text : "");
	const char *type = doc_str(doc, "coupon_type");
	int rc;

	if (!doc)
		return TLY_ENOMEM;
	a->percentage = type && strcmp(type, "percentage") == 0;
	a->limit = doc_true(doc, "limited_billable_metrics") ? COUPON_METRICS :
		   doc_true(doc, "limited_plans") ? COUPON_PLANS : COUPON_ALL;
	rc = dup_str(&a->code, doc_str(doc, "code")) |
	     dup_str(&a->name, doc_str(doc, "name")) |
	     dup_str(&a->description, doc_str(doc, "description")) ?
	     TLY_ENOMEM : take_targets(a, doc);
	cJSON_Delete(doc);
	return rc;
}

/* Lago's order key: metric-limited, then plan-limited, then the rest. */
static int rank(const struct coupon_applied *a)
{
	return a->limit == COUPON_METRICS ? 0 : a->limit == COUPON_PLANS ? 1 : 2;
}

static void text_to(char *dst, size_t size, const char *s)
{
	snprintf(dst, size, "%s", s ? s : "");
}

/* Fill a from a row of the load query. */
static int take_row(struct store_stmt *st, struct coupon_applied *a)
{
	const char *freq = store_col_text(st, 6);

	text_to(a->lago_id, sizeof(a->lago_id), store_col_text(st, 0));
	text_to(a->coupon_id, sizeof(a->coupon_id), store_col_text(st, 1));
	a->has_amount = !store_col_null(st, 2);
	a->amount_cents = store_col_i64(st, 2);
	text_to(a->currency, sizeof(a->currency), store_col_text(st, 3));
	a->has_remaining = !store_col_null(st, 4);
	a->remaining_cents = store_col_i64(st, 4);
	text_to(a->rate, sizeof(a->rate), store_col_text(st, 5));
	a->freq = freq && !strcmp(freq, "recurring") ? COUPON_RECURRING :
		  freq && !strcmp(freq, "forever") ? COUPON_FOREVER :
		  COUPON_ONCE;
	a->has_duration = !store_col_null(st, 7);
	a->duration_remaining = store_col_i64(st, 7);
	return take_coupon(a, store_col_text(st, 8));
}

/* Stable sort by rank: insertion sort, the lists are short. */
static void sort_ranked(struct coupon_list *l)
{
	for (size_t i = 1; i < l->n; i++) {
		struct coupon_applied a = l->v[i];
		size_t j = i;

		for (; j > 0 && rank(&l->v[j - 1]) > rank(&a); j--)
			l->v[j] = l->v[j - 1];
		l->v[j] = a;
	}
}

int coupon_load_active(struct store_conn *c, const char *customer_lago_id,
		       struct coupon_list *out)
{
	static const char *const sql =
		"SELECT a.lago_id, a.coupon_id, a.amount_cents, "
		"a.amount_currency, a.amount_cents_remaining, "
		"a.percentage_rate, a.frequency, "
		"a.frequency_duration_remaining, c.doc "
		"FROM applied_coupons a JOIN coupons c "
		"ON c.lago_id = a.coupon_id "
		"WHERE a.customer_id = ? AND a.status = 'active' "
		"ORDER BY a.seq";
	struct store_stmt *st = NULL;
	int rc;

	coupon_list_free(out);
	rc = store_prepare(c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, customer_lago_id);
	while ((rc = store_step(st)) == STORE_ROW) {
		struct coupon_applied *v = realloc(out->v, (out->n + 1) *
						   sizeof(*v));

		if (!v) {
			rc = TLY_ENOMEM;
			break;
		}
		out->v = v;
		memset(&v[out->n], 0, sizeof(*v));
		rc = take_row(st, &v[out->n++]);
		if (rc != TLY_OK)
			break;
	}
	store_reset(st);
	if (rc != STORE_DONE) {
		coupon_list_free(out);
		return rc == STORE_ROW ? TLY_EDB : rc;
	}
	sort_ranked(out);
	return TLY_OK;
}

static int bind_opt(struct store_stmt *st, int i, int has, int64_t v)
{
	return has ? store_bind_i64(st, i, v) : store_bind_null(st, i);
}

/* The applied coupon's state after the invoice. */
static int save_state(struct store_conn *c, const struct coupon_applied *a,
		      int64_t now)
{
	static const char *const sql =
		"UPDATE applied_coupons SET status = ?, "
		"amount_cents_remaining = ?, frequency_duration_remaining = ?, "
		"terminated_at = ? WHERE lago_id = ? AND status = 'active'";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, a->terminated ? "terminated" : "active");
	bind_opt(st, 2, a->has_remaining, a->remaining_cents);
	bind_opt(st, 3, a->has_duration, a->duration_remaining);
	bind_opt(st, 4, a->terminated, now);
	store_bind_text(st, 5, a->lago_id);
	return store_run(st);
}

/* The coupon's credit on the invoice. */
static int save_credit(struct store_conn *c, const struct coupon_applied *a,
		       const char *cur, const char *invoice_id, int64_t now)
{
	static const char *const sql =
		"INSERT INTO coupon_credits (lago_id, applied_coupon_id, "
		"invoice_id, amount_cents, amount_currency, created_at) "
		"VALUES (?, ?, ?, ?, ?, ?)";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, a->credit_id);
	store_bind_text(st, 2, a->lago_id);
	store_bind_text(st, 3, invoice_id);
	store_bind_i64(st, 4, a->credit_cents);
	store_bind_text(st, 5, cur);
	store_bind_i64(st, 6, now);
	return store_run(st);
}

int coupon_commit(struct store_conn *c, struct coupon_list *l,
		  const char *invoice_id)
{
	int64_t now = util_now_ms();
	int rc = TLY_OK;

	for (size_t i = 0; rc == TLY_OK && i < l->n; i++) {
		struct coupon_applied *a = &l->v[i];

		if (!a->applied)
			continue;
		if (!a->credit_id[0] && util_uuid(a->credit_id) != TLY_OK)
			return TLY_EIO;
		rc = save_state(c, a, now);
		if (rc == TLY_OK)
			rc = save_credit(c, a, l->currency, invoice_id, now);
	}
	return rc;
}

int coupon_end_customer(struct store_conn *c, const char *customer_lago_id)
{
	static const char *const sql =
		"UPDATE applied_coupons SET status = 'terminated', "
		"terminated_at = ? WHERE customer_id = ? AND status = 'active'";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, util_now_ms());
	store_bind_text(st, 2, customer_lago_id);
	return store_run(st);
}
