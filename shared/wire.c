/*
 * wire.c - batch format version 1 (see wire.h and DESIGN.md, Wire format).
 *
 * Encoding writes the JSON text straight into one zlib deflate stream, a
 * record at a time (memory bounded whatever the batch size).  Decoding
 * inflates under caps, parses, and validates every field into struct
 * wire_batch, whose strings point into the parse tree.
 *
 * Integers: cJSON keeps numbers as doubles, so the encoder writes integers
 * as raw text (exact for any value) and both sides hold them to
 * [0, 2^53 - 1], the range in which a double is an exact integer and its
 * neighbours are too (2^53 + 1 would read back as 2^53).
 */
#define ZLIB_CONST
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dec.h"
#include "err.h"
#include "wire.h"
#include "jsonmem.h"

const struct wire_limits wire_default_limits = {
	.max_compressed = (size_t)16 << 20,
	.max_inflated = (size_t)32 << 20,
	.max_ratio = 200,
	.max_records = 1000000,
};

/* The largest integer either side accepts: 2^53 - 1. */
#define WIRE_INT_MAX INT64_C(9007199254740991)

/*
 * The largest event timestamp in milliseconds (year 33658).  Written as
 * seconds with up to 3 decimals, it has at most 15 significant digits, which
 * a double holds exactly, so the decoder recovers the very milliseconds.
 */
#define WIRE_TS_MS_MAX INT64_C(999999999999999)

/* Bounds of the first output buffer of an inflate; it doubles as needed. */
#define INFLATE_MIN_BUF ((size_t)4096)
#define INFLATE_MAX_BUF ((size_t)1 << 20)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* zlib counts bytes in uInt: hand it at most that much at a time. */
static uInt zchunk(size_t n)
{
	return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

/* ---- Encoding -------------------------------------------------------- */

/*
 * The encoder writes the JSON text itself, a piece at a time, into a
 * staging buffer that deflate drains whenever it fills: no parse tree, and
 * no whole JSON text, is ever held, so encoding costs the compressed
 * output plus a constant (zlib's state, the staging buffer, one escaped
 * string), whatever the number of records.  The text is what
 * cJSON_PrintUnformatted gave for the tree this encoder used to build,
 * byte for byte: no spaces, members in the order written, strings escaped
 * by cJSON itself (cJSON_PrintPreallocated on a string node).
 *
 * Errors are sticky: the first one is kept in e->rc and every later call
 * does nothing, so the writers below need not check each piece.
 */

#define ENC_STAGE 16384			/* bytes of JSON text before deflating */
#define ENC_OUT_MIN ((size_t)4096)	/* first size of the output buffer */

struct wire_enc {
	z_stream z;
	int zinit;			/* deflateInit succeeded */
	int rc;				/* first error, or TLY_OK */
	size_t nrecs;			/* records written so far */
	unsigned char *out;		/* compressed bytes so far */
	size_t olen, ocap;
	char *esc;			/* one escaped string, for put_str */
	size_t esccap;
	cJSON *str;			/* string reference node put_str prints */
	size_t slen;			/* bytes used in stage */
	char stage[ENC_STAGE];		/* JSON text not yet deflated */
};

static void enc_fail(struct wire_enc *e, int rc)
{
	if (e->rc == TLY_OK)
		e->rc = rc;
}

/*
 * Deflate what is staged; with Z_FINISH, also end the stream.  The output
 * buffer doubles when deflate fills it.
 */
static void enc_deflate(struct wire_enc *e, int flush)
{
	uInt give;
	int zr;

	if (e->rc != TLY_OK)
		return;
	e->z.next_in = (const Bytef *)e->stage;
	e->z.avail_in = (uInt)e->slen;
	do {
		if (e->olen == e->ocap) {
			size_t cap = e->ocap ? e->ocap * 2 : ENC_OUT_MIN;
			unsigned char *p = cap > e->ocap ?
					   realloc(e->out, cap) : NULL;

			if (!p) {
				enc_fail(e, TLY_ENOMEM);
				return;
			}
			e->out = p;
			e->ocap = cap;
		}
		give = zchunk(e->ocap - e->olen);
		e->z.next_out = e->out + e->olen;
		e->z.avail_out = give;
		zr = deflate(&e->z, flush);
		e->olen += give - e->z.avail_out;
		if (zr == Z_STREAM_ERROR) {
			enc_fail(e, TLY_ELIB);
			return;
		}
		/* Done when the input is taken and deflate had room to spare
		 * (nothing more pending), or when the stream has ended. */
	} while (flush == Z_FINISH ? zr != Z_STREAM_END :
		 e->z.avail_in > 0 || e->z.avail_out == 0);
	e->slen = 0;
}

static void put(struct wire_enc *e, const char *s, size_t n)
{
	while (e->rc == TLY_OK && n > 0) {
		size_t room = sizeof(e->stage) - e->slen;
		size_t k = n < room ? n : room;

		memcpy(e->stage + e->slen, s, k);
		e->slen += k;
		s += k;
		n -= k;
		if (e->slen == sizeof(e->stage))
			enc_deflate(e, Z_NO_FLUSH);
	}
}

#define PUT_LIT(e, lit) put((e), (lit), sizeof(lit) - 1)

/* s as a JSON string, escaped by cJSON; NULL is TLY_EINVAL. */
static void put_str(struct wire_enc *e, const char *s)
{
	size_t len, need;

	if (e->rc != TLY_OK)
		return;
	if (!s) {
		enc_fail(e, TLY_EINVAL);
		return;
	}
	/* Worst case: every byte a \u00XX escape, two quotes, a NUL, and
	 * the 5 bytes of slack cJSON_PrintPreallocated asks for. */
	len = strlen(s);
	if (len > ((size_t)INT_MAX - 8) / 6) {
		enc_fail(e, TLY_ERANGE);
		return;
	}
	need = 6 * len + 8;
	if (need > e->esccap) {
		char *p = realloc(e->esc, need);

		if (!p) {
			enc_fail(e, TLY_ENOMEM);
			return;
		}
		e->esc = p;
		e->esccap = need;
	}
	e->str->valuestring = (char *)s;	/* a reference: not freed */
	if (!cJSON_PrintPreallocated(e->str, e->esc, (int)e->esccap, 0)) {
		enc_fail(e, TLY_ELIB);
		return;
	}
	put(e, e->esc, strlen(e->esc));
}

/* ,"name":"s" (or without the comma, for a first member) */
static void put_member_str(struct wire_enc *e, const char *name,
			   const char *s)
{
	put(e, ",", 1);
	put_str(e, name);
	put(e, ":", 1);
	put_str(e, s);
}

static void put_opt_str(struct wire_enc *e, const char *name, const char *s)
{
	if (s)
		put_member_str(e, name, s);
}

/* ,"name":v as integer text, so that no double ever holds the value. */
static void put_uint(struct wire_enc *e, const char *name, uint64_t v)
{
	char txt[24];

	if (v > (uint64_t)WIRE_INT_MAX) {
		enc_fail(e, TLY_EINVAL);	/* no decoder could read it back */
		return;
	}
	put(e, ",", 1);
	put_str(e, name);
	put(e, txt, (size_t)snprintf(txt, sizeof(txt), ":%" PRIu64, v));
}

static void put_int(struct wire_enc *e, const char *name, int64_t v)
{
	if (v < 0)
		enc_fail(e, TLY_EINVAL);
	else
		put_uint(e, name, (uint64_t)v);
}

/* Seconds, with as many decimals as the milliseconds need: 12.5, 12.05. */
static void put_timestamp(struct wire_enc *e, int64_t ms)
{
	char txt[40];
	int64_t frac = ms % 1000;
	int digits = 3, n;

	if (ms < 0 || ms > WIRE_TS_MS_MAX) {
		enc_fail(e, TLY_EINVAL);
		return;
	}
	if (frac == 0) {
		n = snprintf(txt, sizeof(txt), ",\"timestamp\":%" PRId64,
			     ms / 1000);
	} else {
		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		n = snprintf(txt, sizeof(txt),
			     ",\"timestamp\":%" PRId64 ".%0*" PRId64,
			     ms / 1000, digits, frac);
	}
	put(e, txt, (size_t)n);
}

static void enc_filters(struct wire_enc *e, const struct wire_agg *a)
{
	if (a->nfilters == 0)
		return;
	if (!a->filters) {
		enc_fail(e, TLY_EINVAL);
		return;
	}
	PUT_LIT(e, ",\"filters\":{");
	for (size_t i = 0; i < a->nfilters && e->rc == TLY_OK; i++) {
		if (i)
			put(e, ",", 1);
		put_str(e, a->filters[i].key);
		put(e, ":", 1);
		put_str(e, a->filters[i].val);
	}
	put(e, "}", 1);
}

static void enc_distinct(struct wire_enc *e, const struct wire_agg *a)
{
	if (a->ndistinct == 0)
		return;
	if (!a->distinct) {
		enc_fail(e, TLY_EINVAL);
		return;
	}
	PUT_LIT(e, ",\"distinct\":[");
	for (size_t i = 0; i < a->ndistinct && e->rc == TLY_OK; i++) {
		if (i)
			put(e, ",", 1);
		put_str(e, a->distinct[i]);
	}
	put(e, "]", 1);
}

static void enc_agg(struct wire_enc *e, const struct wire_agg *a)
{
	PUT_LIT(e, "{\"kind\":\"agg\"");
	put_member_str(e, "sub", a->sub);
	put_member_str(e, "code", a->code);
	put_int(e, "minute", a->minute);
	enc_filters(e, a);
	put_uint(e, "count", a->count);
	put_opt_str(e, "sum", a->sum);
	put_opt_str(e, "max", a->max);
	put_opt_str(e, "latest", a->latest);
	if (a->latest)
		put_int(e, "latest_ts", a->latest_ts);
	enc_distinct(e, a);
	put(e, "}", 1);
}

/* The event's properties; every value must be a string. */
static void enc_props(struct wire_enc *e, const cJSON *props)
{
	const cJSON *it;
	int first = 1;

	if (props && !cJSON_IsObject(props)) {
		enc_fail(e, TLY_EINVAL);
		return;
	}
	PUT_LIT(e, ",\"properties\":{");
	cJSON_ArrayForEach(it, props) {
		if (!it->string || !cJSON_IsString(it) || !it->valuestring) {
			enc_fail(e, TLY_EINVAL);
			return;
		}
		if (!first)
			put(e, ",", 1);
		first = 0;
		put_str(e, it->string);
		put(e, ":", 1);
		put_str(e, it->valuestring);
	}
	put(e, "}", 1);
}

static void enc_event(struct wire_enc *e, const struct event *ev)
{
	if (!ev->sub && !ev->customer) {
		enc_fail(e, TLY_EINVAL);
		return;
	}
	PUT_LIT(e, "{\"kind\":\"event\"");
	put_member_str(e, "transaction_id", ev->transaction_id);
	put_opt_str(e, "sub", ev->sub);
	put_opt_str(e, "customer", ev->customer);
	put_member_str(e, "code", ev->code);
	put_timestamp(e, ev->ts_ms);
	enc_props(e, ev->props);
	put_opt_str(e, "precise_total_amount_cents",
		    ev->precise_total_amount_cents);
	put(e, "}", 1);
}

void wire_enc_free(struct wire_enc **ep)
{
	struct wire_enc *e = ep ? *ep : NULL;

	if (!e)
		return;
	if (e->zinit)
		deflateEnd(&e->z);
	cJSON_Delete(e->str);
	free(e->esc);
	free(e->out);
	free(e);
	*ep = NULL;
}

int wire_enc_begin(const struct wire_batch *b, int level,
		   struct wire_enc **out)
{
	struct wire_enc *e;
	char v[16];
	int zr, rc;

	if (!out)
		return TLY_EINVAL;
	*out = NULL;
	if (!b || level < Z_DEFAULT_COMPRESSION || level > Z_BEST_COMPRESSION)
		return TLY_EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return TLY_ENOMEM;
	e->str = cJSON_CreateStringReference("");
	if (!e->str) {
		rc = TLY_ENOMEM;
		goto fail;
	}
	zr = deflateInit(&e->z, level);
	if (zr != Z_OK) {
		rc = zr == Z_MEM_ERROR ? TLY_ENOMEM : TLY_ELIB;
		goto fail;
	}
	e->zinit = 1;
	put(e, v, (size_t)snprintf(v, sizeof(v), "{\"v\":%d", b->v));
	put_member_str(e, "agent_id", b->agent_id);
	put_uint(e, "seq", b->seq);
	put_int(e, "created_at", b->created_at);
	put_uint(e, "events_total", b->events_total);
	PUT_LIT(e, ",\"records\":[");
	rc = e->rc;
	if (rc != TLY_OK)
		goto fail;
	*out = e;
	return TLY_OK;
fail:
	wire_enc_free(&e);
	return rc;
}

int wire_enc_rec(struct wire_enc *e, const struct wire_rec *r)
{
	if (!e)
		return TLY_EINVAL;
	if (!r) {
		enc_fail(e, TLY_EINVAL);
		return e->rc;
	}
	if (e->nrecs > 0)
		put(e, ",", 1);
	if (r->kind == WIRE_AGG)
		enc_agg(e, &r->u.agg);
	else if (r->kind == WIRE_EVENT)
		enc_event(e, &r->u.ev);
	else
		enc_fail(e, TLY_EINVAL);
	e->nrecs++;
	return e->rc;
}

int wire_enc_finish(struct wire_enc **ep, unsigned char **out,
		    size_t *outlen)
{
	struct wire_enc *e = ep ? *ep : NULL;
	unsigned char *shrunk;
	int rc;

	if (!out || !outlen || !e) {
		wire_enc_free(ep);
		return TLY_EINVAL;
	}
	*out = NULL;
	*outlen = 0;
	PUT_LIT(e, "]}");
	enc_deflate(e, Z_FINISH);
	rc = e->rc;
	if (rc == TLY_OK) {
		/* Give back the slack of the last doubling; keeping it is
		 * harmless when realloc cannot. */
		shrunk = realloc(e->out, e->olen ? e->olen : 1);
		*out = shrunk ? shrunk : e->out;
		*outlen = e->olen;
		e->out = NULL;
	}
	wire_enc_free(ep);
	return rc;
}

int wire_encode(const struct wire_batch *b, int level, unsigned char **out,
		size_t *outlen)
{
	struct wire_enc *e = NULL;
	int rc;

	if (!out || !outlen)
		return TLY_EINVAL;
	*out = NULL;
	*outlen = 0;
	rc = wire_enc_begin(b, level, &e);
	if (rc == TLY_OK && b->nrecs && !b->recs)
		rc = TLY_EINVAL;
	for (size_t i = 0; rc == TLY_OK && i < b->nrecs; i++)
		rc = wire_enc_rec(e, &b->recs[i]);
	if (rc != TLY_OK) {
		wire_enc_free(&e);
		return rc;
	}
	return wire_enc_finish(&e, out, outlen);
}

/* ---- Inflating ------------------------------------------------------- */

/* min(max_inflated, max_ratio * len), leaving room for a NUL after it. */
static size_t inflate_cap(const struct wire_limits *lim, size_t len)
{
	size_t cap = lim->max_inflated;

	if (lim->max_ratio == 0)
		cap = 0;
	else if (len <= SIZE_MAX / lim->max_ratio &&
		 len * lim->max_ratio < cap)
		cap = len * lim->max_ratio;
	return cap < SIZE_MAX ? cap : SIZE_MAX - 1;
}

/*
 * The output of an inflate.  size never passes cap + 1: one byte past the
 * cap is enough to know the cap was crossed, so a bomb costs us at most
 * cap + 1 bytes, whatever it would inflate to.
 */
struct outbuf {
	char *p;
	size_t size;
	size_t used;
	size_t cap;
};

static int outbuf_grow(struct outbuf *o)
{
	size_t n = o->size <= SIZE_MAX / 2 ? o->size * 2 : SIZE_MAX;
	char *p;

	if (n > o->cap + 1)
		n = o->cap + 1;
	p = realloc(o->p, n);
	if (!p)
		return TLY_ENOMEM;
	o->p = p;
	o->size = n;
	return TLY_OK;
}

/* Map what inflate said to our codes: TLY_OK, or why it failed. */
static int inflate_status(int zr, const z_stream *s, int input_left,
			  char *err, size_t errlen)
{
	switch (zr) {
	case Z_OK:
		return TLY_OK;
	case Z_STREAM_END:
		if (s->avail_in || input_left) {
			set_err(err, errlen,
				"trailing bytes after the zlib stream");
			return TLY_ECORRUPT;
		}
		return TLY_OK;
	case Z_BUF_ERROR:
		/* No progress although we always offer output space: the
		 * input ran out before the end of the stream. */
		if (!s->avail_in && !input_left) {
			set_err(err, errlen, "truncated zlib stream");
			return TLY_ECORRUPT;
		}
		break;
	case Z_NEED_DICT:
		set_err(err, errlen, "zlib stream needs a preset dictionary");
		return TLY_ECORRUPT;
	case Z_DATA_ERROR:
		set_err(err, errlen, "corrupt zlib stream: %s",
			s->msg ? s->msg : zError(zr));
		return TLY_ECORRUPT;
	case Z_MEM_ERROR:
		set_err(err, errlen, "out of memory while inflating");
		return TLY_ENOMEM;
	default:
		break;
	}
	set_err(err, errlen, "zlib inflate failed: %s", zError(zr));
	return TLY_ELIB;
}

static int inflate_run(z_stream *s, size_t in_left, struct outbuf *o,
		       char *err, size_t errlen)
{
	uInt give;
	int zr, rc;

	for (;;) {
		if (s->avail_in == 0 && in_left > 0) {
			s->avail_in = zchunk(in_left);
			in_left -= s->avail_in;
		}
		if (o->used == o->size) {
			rc = outbuf_grow(o);
			if (rc != TLY_OK)
				return rc;
		}
		give = zchunk(o->size - o->used);
		s->next_out = (Bytef *)o->p + o->used;
		s->avail_out = give;
		zr = inflate(s, Z_NO_FLUSH);
		o->used += give - s->avail_out;
		if (o->used > o->cap) {
			set_err(err, errlen,
				"decompression bomb: inflates past %zu bytes",
				o->cap);
			return TLY_ETOOBIG;
		}
		rc = inflate_status(zr, s, in_left > 0, err, errlen);
		if (rc != TLY_OK || zr == Z_STREAM_END)
			return rc;
	}
}

int wire_inflate(const void *buf, size_t len, const struct wire_limits *lim,
		 char **out, size_t *outlen, char *err, size_t errlen)
{
	struct outbuf o = { 0 };
	z_stream s;
	int zr, rc;

	set_err(err, errlen, "%s", "");
	if (!out || !outlen)
		return TLY_EINVAL;
	*out = NULL;
	*outlen = 0;
	if (!lim)
		lim = &wire_default_limits;
	if (len == 0) {
		set_err(err, errlen, "empty batch");
		return TLY_ECORRUPT;
	}
	if (!buf)
		return TLY_EINVAL;
	if (len > lim->max_compressed) {
		set_err(err, errlen,
			"batch of %zu bytes is over the cap of %zu", len,
			lim->max_compressed);
		return TLY_ETOOBIG;
	}
	o.cap = inflate_cap(lim, len);
	/* JSON deflates about 4:1 or better: start there, within bounds
	 * (garbage should not cost a large buffer), and double. */
	o.size = len < INFLATE_MAX_BUF / 4 ? len * 4 : INFLATE_MAX_BUF;
	if (o.size < INFLATE_MIN_BUF)
		o.size = INFLATE_MIN_BUF;
	if (o.size > o.cap + 1)
		o.size = o.cap + 1;
	o.p = malloc(o.size);
	if (!o.p)
		return TLY_ENOMEM;

	memset(&s, 0, sizeof(s));
	zr = inflateInit(&s);	/* zlib wrapper only: no raw, no gzip */
	if (zr == Z_OK) {
		s.next_in = buf;
		rc = inflate_run(&s, len, &o, err, errlen);
		inflateEnd(&s);
	} else {
		rc = zr == Z_MEM_ERROR ? TLY_ENOMEM : TLY_ELIB;
	}
	if (rc == TLY_OK && o.used == o.size)
		rc = outbuf_grow(&o);	/* room for the NUL; used <= cap */
	if (rc != TLY_OK) {
		free(o.p);
		return rc;
	}
	o.p[o.used] = '\0';
	*out = o.p;
	*outlen = o.used;
	return TLY_OK;
}

/* ---- Decoding -------------------------------------------------------- */

struct dctx {
	char *err;
	size_t errlen;
	char where[32];		/* "records[12]", or "" at the top */
	struct wire_kv *kv;	/* next free filter pair of the batch */
	struct wire_kv *kv_end;
	const char **strs;	/* next free distinct pointer of the batch */
	const char **strs_end;
};

static int bad(struct dctx *c, int rc, const char *field, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));

/* Report "<where>.<field>: <what>" and return rc.  field may be NULL. */
static int bad(struct dctx *c, int rc, const char *field, const char *fmt,
	       ...)
{
	char what[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!field)
		set_err(c->err, c->errlen, "%s: %s", c->where, what);
	else if (c->where[0])
		set_err(c->err, c->errlen, "%s.%s: %s", c->where, field, what);
	else
		set_err(c->err, c->errlen, "%s: %s", field, what);
	return rc;
}

/*
 * "<prefix>.<key>" for a message, with the key cut to 40 bytes and any
 * byte that is not printable ASCII shown as '?': keys come from the
 * network and end up in log lines.
 */
static void member_name(char *buf, size_t size, const char *prefix,
			const char *key)
{
	char safe[44];
	size_t i;

	for (i = 0; key[i] && i < 40; i++) {
		unsigned char ch = (unsigned char)key[i];

		safe[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	safe[i] = '\0';
	snprintf(buf, size, "%s.%s%s", prefix, safe, key[i] ? "..." : "");
}

/* Only objects are searched: older cJSON crashes on an array's nameless
 * children, and a record may be anything. */
static cJSON *member(const cJSON *obj, const char *name)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, name);
}

/* A string member; *out is NULL when it is absent and not required. */
static int get_str(struct dctx *c, const cJSON *obj, const char *name,
		   int required, const char **out)
{
	const cJSON *it = member(obj, name);

	*out = NULL;
	if (!it)
		return required ? bad(c, TLY_EINVAL, name, "missing") : TLY_OK;
	if (!cJSON_IsString(it) || !it->valuestring)
		return bad(c, TLY_EINVAL, name, "not a string");
	*out = it->valuestring;
	return TLY_OK;
}

/* An identifier: a non-empty string of at most max bytes. */
static int get_id(struct dctx *c, const cJSON *obj, const char *name,
		  int required, size_t max, const char **out)
{
	int rc = get_str(c, obj, name, required, out);
	size_t n;

	if (rc != TLY_OK || !*out)
		return rc;
	n = strlen(*out);
	if (n == 0)
		return bad(c, TLY_EINVAL, name, "empty");
	if (n > max)
		return bad(c, TLY_EINVAL, name, "longer than %zu bytes", max);
	return TLY_OK;
}

/* An optional decimal; a JSON number is refused, decimals travel as text. */
static int get_dec(struct dctx *c, const cJSON *obj, const char *name,
		   const char **out)
{
	const cJSON *it = member(obj, name);

	*out = NULL;
	if (!it)
		return TLY_OK;
	if (!cJSON_IsString(it) || !it->valuestring ||
	    !dec_valid(it->valuestring, strlen(it->valuestring)))
		return bad(c, TLY_EINVAL, name, "not a decimal string");
	*out = it->valuestring;
	return TLY_OK;
}

/* A required integer in [0, 2^53 - 1] (see the top of this file). */
static int get_uint(struct dctx *c, const cJSON *obj, const char *name,
		    uint64_t *out)
{
	const cJSON *it = member(obj, name);
	double d;

	if (!it)
		return bad(c, TLY_EINVAL, name, "missing");
	if (!cJSON_IsNumber(it))
		return bad(c, TLY_EINVAL, name, "not an integer");
	d = it->valuedouble;
	if (!(d >= 0 && d <= (double)WIRE_INT_MAX))
		return bad(c, TLY_EINVAL, name,
			   "out of range (0..9007199254740991)");
	if ((double)(uint64_t)d != d)
		return bad(c, TLY_EINVAL, name, "not an integer");
	*out = (uint64_t)d;
	return TLY_OK;
}

static int get_int(struct dctx *c, const cJSON *obj, const char *name,
		   int64_t *out)
{
	uint64_t u = 0;
	int rc = get_uint(c, obj, name, &u);

	if (rc == TLY_OK)
		*out = (int64_t)u;
	return rc;
}

/*
 * The event timestamp: seconds, maybe with a fraction.  The double goes
 * through its shortest round-trip decimal (dec_fmt_double) and then to
 * milliseconds with integer arithmetic, so 1764000012.123 is exactly
 * 1764000012123 ms; digits past the third round half up.
 */
static int get_ts_ms(struct dctx *c, const cJSON *obj, int64_t *out)
{
	const cJSON *it = member(obj, "timestamp");
	char txt[DEC_DOUBLE_BUFSZ];
	const char *p = txt;
	int64_t ms = 0;

	if (!it)
		return bad(c, TLY_EINVAL, "timestamp", "missing");
	if (!cJSON_IsNumber(it))
		return bad(c, TLY_EINVAL, "timestamp", "not a number");
	if (it->valuedouble < 0)
		return bad(c, TLY_EINVAL, "timestamp", "negative");
	if (!(it->valuedouble <= (double)(WIRE_TS_MS_MAX / 1000 + 1)) ||
	    dec_fmt_double(it->valuedouble, txt, sizeof(txt)) != TLY_OK)
		return bad(c, TLY_EINVAL, "timestamp", "out of range");
	for (; *p >= '0' && *p <= '9'; p++)
		ms = ms * 10 + (*p - '0');	/* < 10^13: no overflow */
	ms *= 1000;
	if (*p == '.')
		p++;
	for (int64_t unit = 100; unit > 0; unit /= 10) {
		if (*p >= '0' && *p <= '9')
			ms += unit * (*p++ - '0');
	}
	if (*p >= '5' && *p <= '9')
		ms++;
	if (ms > WIRE_TS_MS_MAX)
		return bad(c, TLY_EINVAL, "timestamp", "out of range");
	*out = ms;
	return TLY_OK;
}

/*
 * An object of string values: an agg record's filters or an event's
 * properties.  Both are an event's properties, so they meet the limits of
 * event.h; a duplicate key would make the record mean two things.
 */
static int check_str_object(struct dctx *c, const cJSON *obj,
			    const char *name)
{
	const cJSON *it, *p;
	char f[64];
	size_t n = 0;

	if (!cJSON_IsObject(obj))
		return bad(c, TLY_EINVAL, name, "not an object");
	cJSON_ArrayForEach(it, obj) {
		const char *key = it->string ? it->string : "";

		if (++n > EV_PROPS_MAX)
			return bad(c, TLY_EINVAL, name,
				   "more than %d entries", EV_PROPS_MAX);
		member_name(f, sizeof(f), name, key);
		if (strlen(key) > EV_PROP_KEY_MAX)
			return bad(c, TLY_EINVAL, f, "key longer than %d bytes",
				   EV_PROP_KEY_MAX);
		if (!cJSON_IsString(it) || !it->valuestring)
			return bad(c, TLY_EINVAL, f, "not a string");
		if (strlen(it->valuestring) > EV_PROP_VAL_MAX)
			return bad(c, TLY_EINVAL, f, "longer than %d bytes",
				   EV_PROP_VAL_MAX);
		for (p = obj->child; p != it; p = p->next) {
			if (p->string && strcmp(p->string, key) == 0)
				return bad(c, TLY_EINVAL, f, "duplicate key");
		}
	}
	return TLY_OK;
}

static int get_filters(struct dctx *c, const cJSON *rec, struct wire_agg *a)
{
	const cJSON *obj = member(rec, "filters"), *it;
	int rc;

	if (!obj)
		return TLY_OK;
	rc = check_str_object(c, obj, "filters");
	if (rc != TLY_OK)
		return rc;
	a->filters = c->kv;
	cJSON_ArrayForEach(it, obj) {
		if (c->kv == c->kv_end)
			return bad(c, TLY_ELIB, "filters", "miscounted");
		c->kv->key = it->string;
		c->kv->val = it->valuestring;
		c->kv++;
		a->nfilters++;
	}
	if (a->nfilters == 0)
		a->filters = NULL;
	return TLY_OK;
}

/* Needs a->count: a record cannot hold more distinct values than events. */
static int get_distinct(struct dctx *c, const cJSON *rec, struct wire_agg *a)
{
	const cJSON *arr = member(rec, "distinct"), *it;
	const char **slot = c->strs;
	char f[40];
	size_t n = 0;

	if (!arr)
		return TLY_OK;
	if (!cJSON_IsArray(arr))
		return bad(c, TLY_EINVAL, "distinct", "not an array");
	cJSON_ArrayForEach(it, arr) {
		snprintf(f, sizeof(f), "distinct[%zu]", n);
		if (!cJSON_IsString(it) || !it->valuestring)
			return bad(c, TLY_EINVAL, f, "not a string");
		if (strlen(it->valuestring) > EV_PROP_VAL_MAX)
			return bad(c, TLY_EINVAL, f, "longer than %d bytes",
				   EV_PROP_VAL_MAX);
		if (slot + n == c->strs_end)
			return bad(c, TLY_ELIB, "distinct", "miscounted");
		slot[n++] = it->valuestring;
	}
	if (n > a->count)
		return bad(c, TLY_EINVAL, "distinct",
			   "%zu values for a count of %" PRIu64, n, a->count);
	c->strs += n;
	a->distinct = n ? slot : NULL;
	a->ndistinct = n;
	return TLY_OK;
}

static int decode_agg(struct dctx *c, const cJSON *rec, struct wire_agg *a)
{
	int rc;

	rc = get_id(c, rec, "sub", 1, EV_ID_MAX, &a->sub);
	if (rc == TLY_OK)
		rc = get_id(c, rec, "code", 1, EV_ID_MAX, &a->code);
	if (rc == TLY_OK)
		rc = get_int(c, rec, "minute", &a->minute);
	if (rc == TLY_OK && a->minute % 60 != 0)
		rc = bad(c, TLY_EINVAL, "minute", "not a multiple of 60");
	if (rc == TLY_OK)
		rc = get_filters(c, rec, a);
	if (rc == TLY_OK)
		rc = get_uint(c, rec, "count", &a->count);
	if (rc == TLY_OK && a->count == 0)
		rc = bad(c, TLY_EINVAL, "count", "must be >= 1");
	if (rc == TLY_OK)
		rc = get_dec(c, rec, "sum", &a->sum);
	if (rc == TLY_OK)
		rc = get_dec(c, rec, "max", &a->max);
	if (rc == TLY_OK)
		rc = get_dec(c, rec, "latest", &a->latest);
	/* latest values merge by time: one without its time is useless. */
	if (rc == TLY_OK && a->latest)
		rc = get_int(c, rec, "latest_ts", &a->latest_ts);
	if (rc == TLY_OK)
		rc = get_distinct(c, rec, a);
	return rc;
}

/* properties point into the tree; an absent one becomes {} there. */
static int get_props(struct dctx *c, cJSON *rec, cJSON **out)
{
	cJSON *obj = member(rec, "properties");
	int rc;

	if (!obj) {
		obj = cJSON_AddObjectToObject(rec, "properties");
		if (!obj)
			return bad(c, TLY_ENOMEM, "properties",
				   "out of memory");
	}
	rc = check_str_object(c, obj, "properties");
	if (rc == TLY_OK)
		*out = obj;
	return rc;
}

static int decode_event(struct dctx *c, cJSON *rec, struct event *ev)
{
	int rc;

	rc = get_id(c, rec, "transaction_id", 1, EV_ID_MAX,
		    &ev->transaction_id);
	if (rc == TLY_OK)
		rc = get_id(c, rec, "sub", 0, EV_ID_MAX, &ev->sub);
	if (rc == TLY_OK)
		rc = get_id(c, rec, "customer", 0, EV_ID_MAX, &ev->customer);
	if (rc == TLY_OK && !ev->sub && !ev->customer)
		rc = bad(c, TLY_EINVAL, "sub", "missing, and no customer");
	if (rc == TLY_OK)
		rc = get_id(c, rec, "code", 1, EV_ID_MAX, &ev->code);
	if (rc == TLY_OK)
		rc = get_ts_ms(c, rec, &ev->ts_ms);
	if (rc == TLY_OK)
		rc = get_props(c, rec, &ev->props);
	if (rc == TLY_OK)
		rc = get_dec(c, rec, "precise_total_amount_cents",
			     &ev->precise_total_amount_cents);
	return rc;
}

/* One record; *count is the number of events it stands for. */
static int decode_rec(struct dctx *c, cJSON *rec, size_t i,
		      struct wire_rec *r, uint64_t *count)
{
	const char *kind;
	int rc;

	snprintf(c->where, sizeof(c->where), "records[%zu]", i);
	if (!cJSON_IsObject(rec))
		return bad(c, TLY_EINVAL, NULL, "not an object");
	rc = get_str(c, rec, "kind", 1, &kind);
	if (rc != TLY_OK)
		return rc;
	if (strcmp(kind, "agg") == 0) {
		r->kind = WIRE_AGG;
		rc = decode_agg(c, rec, &r->u.agg);
		*count = r->u.agg.count;
		return rc;
	}
	if (strcmp(kind, "event") == 0) {
		r->kind = WIRE_EVENT;
		*count = 1;
		return decode_event(c, rec, &r->u.ev);
	}
	return bad(c, TLY_EINVAL, "kind", "must be \"agg\" or \"event\"");
}

static size_t nchildren(const cJSON *x)
{
	const cJSON *it;
	size_t n = 0;

	cJSON_ArrayForEach(it, x)
		n++;
	return n;
}

_Static_assert(sizeof(struct wire_rec) % _Alignof(struct wire_kv) == 0,
	       "filter pairs follow the records in one block");
_Static_assert(sizeof(struct wire_kv) % _Alignof(const char *) == 0,
	       "distinct pointers follow the filter pairs in one block");

/*
 * One allocation per batch holds the record array and, after it, every
 * filter pair and every distinct-value pointer of all its records: a first
 * pass counts them (an upper bound: members of the wrong type are counted
 * and then refused), so a batch of a million records costs one malloc, not
 * millions, and wire_batch_free frees one block.
 */
static int alloc_recs(struct dctx *c, const cJSON *records, size_t n,
		      struct wire_batch *b)
{
	const cJSON *rec, *x;
	size_t nkv = 0, nstr = 0, sz_rec, sz_kv, sz_str;
	unsigned char *block;

	if (n == 0)
		return TLY_OK;
	cJSON_ArrayForEach(rec, records) {
		x = member(rec, "filters");
		nkv += cJSON_IsObject(x) ? nchildren(x) : 0;
		x = member(rec, "distinct");
		nstr += cJSON_IsArray(x) ? nchildren(x) : 0;
	}
	/* Each count is bounded by the parse tree's nodes, so no product
	 * below can overflow in practice; check anyway. */
	if (n > SIZE_MAX / 4 / sizeof(struct wire_rec) ||
	    nkv > SIZE_MAX / 4 / sizeof(struct wire_kv) ||
	    nstr > SIZE_MAX / 4 / sizeof(const char *))
		return bad(c, TLY_ENOMEM, "records", "too many to hold");
	sz_rec = n * sizeof(struct wire_rec);
	sz_kv = nkv * sizeof(struct wire_kv);
	sz_str = nstr * sizeof(const char *);
	block = calloc(1, sz_rec + sz_kv + sz_str);
	if (!block)
		return bad(c, TLY_ENOMEM, "records", "out of memory");
	b->recs = (struct wire_rec *)(void *)block;
	c->kv = (struct wire_kv *)(void *)(block + sz_rec);
	c->kv_end = c->kv + nkv;
	c->strs = (const char **)(void *)(block + sz_rec + sz_kv);
	c->strs_end = c->strs + nstr;
	return TLY_OK;
}

static int decode_records(struct dctx *c, const struct wire_limits *lim,
			  struct wire_batch *b)
{
	cJSON *records = member(b->root, "records"), *rec;
	uint64_t total = 0, count;
	int saturated = 0, rc;
	size_t n, i = 0;

	if (!records)
		return bad(c, TLY_EINVAL, "records", "missing");
	if (!cJSON_IsArray(records))
		return bad(c, TLY_EINVAL, "records", "not an array");
	n = nchildren(records);
	if (n > lim->max_records)
		return bad(c, TLY_ETOOBIG, "records",
			   "%zu records, over the cap of %zu", n,
			   lim->max_records);
	rc = alloc_recs(c, records, n, b);
	if (rc != TLY_OK)
		return rc;
	b->nrecs = n;
	cJSON_ArrayForEach(rec, records) {
		count = 0;
		rc = decode_rec(c, rec, i, &b->recs[i], &count);
		if (rc != TLY_OK)
			return rc;
		if (total > UINT64_MAX - count)
			saturated = 1;
		total = saturated ? UINT64_MAX : total + count;
		i++;
	}
	if (saturated || total != b->events_total) {
		set_err(c->err, c->errlen, "events_total %" PRIu64
			" does not match records (%" PRIu64 "%s)",
			b->events_total, total, saturated ? "+" : "");
		return TLY_EINVAL;
	}
	return TLY_OK;
}

static int decode_version(struct dctx *c, const cJSON *root)
{
	const cJSON *v = member(root, "v");
	double d;

	if (!v)
		return bad(c, TLY_EINVAL, "v", "missing");
	if (!cJSON_IsNumber(v))
		return bad(c, TLY_EINVAL, "v", "not an integer");
	d = v->valuedouble;
	if (d == WIRE_VERSION)
		return TLY_OK;
	if (!(d > -1e15 && d < 1e15) || (double)(long long)d != d)
		return bad(c, TLY_EINVAL, "v", "not an integer");
	set_err(c->err, c->errlen, "unsupported wire version %lld",
		(long long)d);
	return TLY_EVERSION;
}

static int decode_header(struct dctx *c, struct wire_batch *b)
{
	int rc;

	rc = decode_version(c, b->root);
	if (rc == TLY_OK)
		rc = get_id(c, b->root, "agent_id", 1, WIRE_AGENT_ID_MAX,
			    &b->agent_id);
	if (rc == TLY_OK)
		rc = get_uint(c, b->root, "seq", &b->seq);
	if (rc == TLY_OK && b->seq == 0)
		rc = bad(c, TLY_EINVAL, "seq", "must be >= 1");
	if (rc == TLY_OK)
		rc = get_int(c, b->root, "created_at", &b->created_at);
	if (rc == TLY_OK)
		rc = get_uint(c, b->root, "events_total", &b->events_total);
	if (rc == TLY_OK)
		b->v = WIRE_VERSION;
	return rc;
}

/*
 * json[len] is a NUL.  cJSON is told to expect it there, which makes it
 * refuse anything but white space after the document; a NUL inside would
 * cut strings short without a word, so it is refused first.
 */
static int parse_json(struct dctx *c, const char *json, size_t len,
		      cJSON **root)
{
	const char *end = NULL;
	const char *nul = memchr(json, '\0', len);

	if (nul) {
		set_err(c->err, c->errlen, "not JSON: a NUL byte at offset %zu",
			(size_t)(nul - json));
		return TLY_ECORRUPT;
	}
	*root = cJSON_ParseWithLengthOpts(json, len + 1, &end, 1);
	if (!*root) {
		/* cJSON does not tell a syntax error from a failed malloc. */
		set_err(c->err, c->errlen,
			"not JSON: syntax error at offset %zu",
			end ? (size_t)(end - json) : (size_t)0);
		return TLY_ECORRUPT;
	}
	if (!cJSON_IsObject(*root)) {
		set_err(c->err, c->errlen, "not a JSON object");
		return TLY_EINVAL;
	}
	return TLY_OK;
}

int wire_decode(const void *buf, size_t len, const struct wire_limits *lim,
		struct wire_batch *out, char *err, size_t errlen)
{
	struct dctx c = { .err = err, .errlen = errlen };
	struct wire_batch b = { 0 };
	char *json = NULL;
	size_t jlen = 0;
	int rc;

	set_err(err, errlen, "%s", "");
	if (!out)
		return TLY_EINVAL;
	memset(out, 0, sizeof(*out));
	if (!lim)
		lim = &wire_default_limits;
	rc = wire_inflate(buf, len, lim, &json, &jlen, err, errlen);
	if (rc != TLY_OK)
		return rc;
	/* A batch is thousands of records: its tree goes in an arena. */
	b.mem = jsonmem_new(jlen);
	if (!b.mem) {
		free(json);
		return TLY_ENOMEM;
	}
	jsonmem_enter(b.mem);
	rc = parse_json(&c, json, jlen, &b.root);
	free(json);		/* the tree holds copies of every string */
	if (rc == TLY_OK)
		rc = decode_header(&c, &b);
	if (rc == TLY_OK)
		rc = decode_records(&c, lim, &b);
	jsonmem_leave();
	if (rc != TLY_OK) {
		wire_batch_free(&b);
		return rc;
	}
	*out = b;
	return TLY_OK;
}

void wire_batch_free(struct wire_batch *b)
{
	if (!b)
		return;
	free(b->recs);		/* the records and all their arrays */
	jsonmem_free(b->mem);		/* root lives there */
	memset(b, 0, sizeof(*b));
}
