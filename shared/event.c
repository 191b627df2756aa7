/*
 * event.c - parse and validate Lago usage events (see event.h).
 *
 * A request body is checked as text first (UTF-8, no NUL), parsed by
 * cJSON, unwrapped according to its shape, and each event object is then
 * validated field by field.  Validation does not stop at the first
 * problem: every error of every event is collected, so that a client can
 * fix a whole batch in one round trip, as Lago's per-index error_details
 * allow.
 *
 * Normalisation happens in the cJSON tree itself (numbers in properties
 * become strings, earlier duplicates of a key are dropped, a missing
 * properties object is created), so that the strings an event points to
 * live exactly as long as the tree, and code that prints the tree again
 * prints the normalised form.
 *
 * Nothing is shared between calls, apart from the last-error pointer
 * cJSON keeps in a global (which we never read).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dec.h"
#include "err.h"
#include "event.h"
#include "jsonmem.h"

/* Lago's error codes, and the few of ours in the same style. */
static const char C_MANDATORY[] = "value_is_mandatory";
static const char C_TYPE[] = "invalid_type";
static const char C_FORMAT[] = "invalid_format";
static const char C_TOO_LONG[] = "value_is_too_long";
static const char C_NO_EVENTS[] = "no_events";
static const char C_TOO_MANY[] = "too_many_events";
static const char C_JSON[] = "invalid_json";

/* The last instant we accept: 9999-12-31T23:59:59.999Z. */
#define EV_MAX_SEC INT64_C(253402300799)
#define EV_MAX_MS (EV_MAX_SEC * 1000 + 999)

/* precise_total_amount_cents is decimal(40,15) in Lago: 256 is ample. */
#define EV_AMOUNT_MAX 256

/* ---- Errors ---------------------------------------------------------- */

/*
 * Copy at most size - 1 bytes of src[0..len) to dst, NUL-terminated,
 * cutting before a UTF-8 continuation byte so that a truncated property
 * key never ends in half a character (the error body must stay UTF-8).
 */
static void copy_utf8(char *dst, size_t size, const char *src, size_t len)
{
	size_t cut = len;

	if (cut > size - 1) {
		cut = size - 1;
		while (cut > 0 && ((unsigned char)src[cut] & 0xC0) == 0x80)
			cut--;
	}
	memcpy(dst, src, cut);
	dst[cut] = '\0';
}

static void errs_add(struct ev_errs *errs, int index, const char *field,
		     const char *code)
{
	struct ev_error *e;

	if (errs->n >= EV_ERRS_MAX) {
		errs->dropped++;
		return;
	}
	e = &errs->e[errs->n++];
	e->index = index;
	copy_utf8(e->field, sizeof(e->field), field, strlen(field));
	e->code = code;
}

/* An error on "properties.<key>", the key cut at EV_PROP_KEY_MAX bytes. */
static void errs_add_prop(struct ev_errs *errs, int index, const char *key,
			  const char *code)
{
	static const char prefix[] = "properties.";
	char field[sizeof(prefix) - 1 + EV_PROP_KEY_MAX + 1];

	memcpy(field, prefix, sizeof(prefix) - 1);
	copy_utf8(field + sizeof(prefix) - 1, EV_PROP_KEY_MAX + 1, key,
		  strlen(key));
	errs_add(errs, index, field, code);
}

/* Errors seen so far, kept or not: it grows whenever one is added. */
static size_t errs_seen(const struct ev_errs *errs)
{
	return errs->n + errs->dropped;
}

/* ---- Time ------------------------------------------------------------ */

/*
 * Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil).  Integer arithmetic only, so the
 * result depends neither on TZ nor on the C library.
 */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days[m - 1] + (m == 2 && leap);
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Read exactly n digits at s into *v.  Stops at the first non-digit, so
 * it never reads past a NUL.  Returns 0, or -1 when a digit is missing.
 */
static int read_digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/*
 * Read the digits of a fraction of a second at s as milliseconds,
 * rounded half up: only the fourth digit decides, as the digits after it
 * cannot move a half-up rounding at the third.  *ms may come out as 1000
 * (".9995"), which the caller's addition carries into the seconds.
 * Returns the count of digits read (0 when there is none).
 */
static size_t read_frac_ms(const char *s, int64_t *ms)
{
	size_t n;

	*ms = 0;
	for (n = 0; is_digit(s[n]); n++)
		if (n < 3)
			*ms = *ms * 10 + (s[n] - '0');
	for (size_t i = n; i < 3; i++)
		*ms *= 10;
	if (n > 3 && s[3] >= '5')
		(*ms)++;
	return n;
}

static int ms_in_range(int64_t ms, int64_t *out)
{
	if (ms < 0 || ms > EV_MAX_MS)
		return TLY_EINVAL;
	*out = ms;
	return TLY_OK;
}

/*
 * Unix seconds as text: digits, optionally '.' and more digits.  No sign,
 * no exponent, no white space: "1e9" or " 5" is more likely a bug in the
 * sender than a time.
 */
static int parse_unix_seconds(const char *s, int64_t *ts_ms)
{
	int64_t sec = 0, frac = 0;
	size_t i;

	if (!is_digit(s[0]))
		return TLY_EINVAL;
	for (i = 0; is_digit(s[i]); i++) {
		sec = sec * 10 + (s[i] - '0');
		if (sec > EV_MAX_SEC)	/* also keeps the product in range */
			return TLY_EINVAL;
	}
	if (s[i] == '.') {
		size_t n = read_frac_ms(s + i + 1, &frac);

		if (n == 0)
			return TLY_EINVAL;
		i += 1 + n;
	}
	if (s[i] != '\0')
		return TLY_EINVAL;
	return ms_in_range(sec * 1000 + frac, ts_ms);
}

/* The zone of an RFC 3339 time at s: Z, z or +HH:MM / -HH:MM. */
static int parse_zone(const char *s, int64_t *offset_ms)
{
	int sign, h, m;

	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
		*offset_ms = 0;
		return TLY_OK;
	}
	if (s[0] != '+' && s[0] != '-')
		return TLY_EINVAL;
	sign = s[0] == '-' ? -1 : 1;
	if (read_digits(s + 1, 2, &h) || s[3] != ':' ||
	    read_digits(s + 4, 2, &m) || s[6] != '\0' || h > 23 || m > 59)
		return TLY_EINVAL;
	*offset_ms = sign * ((int64_t)h * 3600 + m * 60) * 1000;
	return TLY_OK;
}

/*
 * YYYY-MM-DD(T|t| )HH:MM:SS[.frac](Z|z|+HH:MM|-HH:MM).  A leap second
 * (:60) is refused: Unix time has no name for it, and Lago's Ruby Time
 * would move it into the next minute silently.
 */
static int parse_rfc3339(const char *s, int64_t *ts_ms)
{
	int y, mo, d, h, mi, sec;
	int64_t frac = 0, offset, ms;
	const char *p = s + 19;

	/* Each test runs only when the ones before it matched, so no read
	 * goes past the NUL. */
	if (read_digits(s, 4, &y) || s[4] != '-' ||
	    read_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    read_digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    read_digits(s + 11, 2, &h) || s[13] != ':' ||
	    read_digits(s + 14, 2, &mi) || s[16] != ':' ||
	    read_digits(s + 17, 2, &sec))
		return TLY_EINVAL;
	if (*p == '.') {
		size_t n = read_frac_ms(p + 1, &frac);

		if (n == 0)
			return TLY_EINVAL;
		p += 1 + n;
	}
	if (parse_zone(p, &offset) != TLY_OK)
		return TLY_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 59)
		return TLY_EINVAL;
	ms = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) *
	     1000 + frac - offset;
	return ms_in_range(ms, ts_ms);
}

int ev_parse_time(const char *s, int64_t *ts_ms)
{
	if (!s || !ts_ms)
		return TLY_EINVAL;
	/* A date has its first '-' at [4]; seconds never have one. */
	if (strnlen(s, 5) == 5 && s[4] == '-')
		return parse_rfc3339(s, ts_ms);
	return parse_unix_seconds(s, ts_ms);
}

/*
 * A JSON number of seconds.  The double is first written as the shortest
 * decimal that reads back as it (what the sender most likely wrote:
 * 1764000000.123, not 1764000000.12299990654), and that text is then
 * read with integer arithmetic, so no binary rounding touches the
 * milliseconds.  Negative numbers fail on the '-'.
 */
static int ts_from_double(double v, int64_t *ts_ms)
{
	char buf[DEC_DOUBLE_BUFSZ];

	if (dec_fmt_double(v, buf, sizeof(buf)) != TLY_OK)
		return TLY_EINVAL;
	return parse_unix_seconds(buf, ts_ms);
}

int64_t ev_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- The cJSON tree ------------------------------------------------ */

/*
 * The member of obj named key.  JSON leaves duplicate keys undefined;
 * Rails, which Lago runs on, keeps the last, and so do we.  The earlier
 * ones are deleted, so that whoever reads the tree after us (by
 * cJSON_GetObjectItem, which finds the first) sees the same value.
 */
static cJSON *member(cJSON *obj, const char *key)
{
	cJSON *it, *next, *last = NULL;

	for (it = obj->child; it; it = it->next)
		if (it->string && strcmp(it->string, key) == 0)
			last = it;
	for (it = obj->child; it && it != last; it = next) {
		next = it->next;
		if (it->string && strcmp(it->string, key) == 0)
			cJSON_Delete(cJSON_DetachItemViaPointer(obj, it));
	}
	return last;
}

/* Keep only the last of each key in obj (a properties object). */
static void drop_duplicate_keys(cJSON *obj)
{
	cJSON *it, *later, *next;

	for (it = obj->child; it; it = next) {
		next = it->next;
		for (later = next; later; later = later->next)
			if (it->string && later->string &&
			    strcmp(it->string, later->string) == 0)
				break;
		if (later)
			cJSON_Delete(cJSON_DetachItemViaPointer(obj, it));
	}
}

/*
 * Put repl where item is in parent and delete item.  The key moves over
 * with its const flag: cJSON_ReplaceItemViaPointer does not copy it.
 */
static void replace_item(cJSON *parent, cJSON *item, cJSON *repl)
{
	repl->string = item->string;
	repl->type |= item->type & cJSON_StringIsConst;
	item->string = NULL;
	item->type &= ~cJSON_StringIsConst;
	cJSON_ReplaceItemViaPointer(parent, item, repl);
}

/* Replace item by a string item of text; NULL when out of memory. */
static cJSON *replace_with_string(cJSON *parent, cJSON *item,
				  const char *text)
{
	cJSON *s = cJSON_CreateString(text);

	if (s)
		replace_item(parent, item, s);
	return s;
}

/* ---- One event ------------------------------------------------------ */

enum field_state { FIELD_ABSENT, FIELD_OK, FIELD_BAD };

/* Rails' blank?, which Lago applies to mandatory fields (ASCII only). */
static int is_blank(const char *s)
{
	for (; *s; s++)
		if (!strchr(" \t\n\v\f\r", *s))
			return 0;
	return 1;
}

/*
 * An identifier: a string of 1..EV_ID_MAX bytes.  Absent, null, "" and
 * blanks all count as absent, whether or not the field is mandatory.
 */
static enum field_state get_id(cJSON *obj, const char *name, int index,
			       struct ev_errs *errs, const char **out)
{
	cJSON *it = member(obj, name);

	*out = NULL;
	if (!it || cJSON_IsNull(it))
		return FIELD_ABSENT;
	if (!cJSON_IsString(it) || !it->valuestring) {
		errs_add(errs, index, name, C_TYPE);
		return FIELD_BAD;
	}
	if (is_blank(it->valuestring))
		return FIELD_ABSENT;
	if (strnlen(it->valuestring, EV_ID_MAX + 1) > EV_ID_MAX) {
		errs_add(errs, index, name, C_TOO_LONG);
		return FIELD_BAD;
	}
	*out = it->valuestring;
	return FIELD_OK;
}

static void check_ids(cJSON *obj, int index, struct event *ev,
		      struct ev_errs *errs)
{
	enum field_state sub, cust;

	if (get_id(obj, "transaction_id", index, errs,
		   &ev->transaction_id) == FIELD_ABSENT)
		errs_add(errs, index, "transaction_id", C_MANDATORY);
	sub = get_id(obj, "external_subscription_id", index, errs, &ev->sub);
	cust = get_id(obj, "external_customer_id", index, errs,
		      &ev->customer);
	/* Say the subscription is missing only when nothing else was
	 * tried: a bad customer id has its own error already. */
	if (sub == FIELD_ABSENT && cust == FIELD_ABSENT)
		errs_add(errs, index, "external_subscription_id",
			 C_MANDATORY);
	if (get_id(obj, "code", index, errs, &ev->code) == FIELD_ABSENT)
		errs_add(errs, index, "code", C_MANDATORY);
}

static void check_timestamp(cJSON *obj, int64_t now_ms, int index,
			    struct event *ev, struct ev_errs *errs)
{
	cJSON *it = member(obj, "timestamp");
	int rc = TLY_EINVAL;

	if (!it || cJSON_IsNull(it)) {
		ev->ts_ms = now_ms;
		return;
	}
	if (cJSON_IsNumber(it))
		rc = ts_from_double(it->valuedouble, &ev->ts_ms);
	else if (cJSON_IsString(it) && it->valuestring)
		rc = ev_parse_time(it->valuestring, &ev->ts_ms);
	if (rc != TLY_OK)
		errs_add(errs, index, "timestamp", C_FORMAT);
}

/*
 * precise_total_amount_cents: decimal text that dec_parse reads, or a
 * JSON number, which becomes such text in the tree.  Blank means absent,
 * as Rails casts "" to nil for a decimal column.
 */
static int check_amount(cJSON *obj, int index, struct event *ev,
			struct ev_errs *errs)
{
	static const char name[] = "precise_total_amount_cents";
	char buf[DEC_DOUBLE_BUFSZ];
	cJSON *it = member(obj, name);
	const char *s;

	if (!it || cJSON_IsNull(it))
		return TLY_OK;
	if (cJSON_IsNumber(it)) {
		if (dec_fmt_double(it->valuedouble, buf, sizeof(buf)) !=
		    TLY_OK) {
			errs_add(errs, index, name, C_FORMAT);
			return TLY_OK;
		}
		s = buf;
	} else if (cJSON_IsString(it) && it->valuestring) {
		s = it->valuestring;
		if (is_blank(s))
			return TLY_OK;
		if (strnlen(s, EV_AMOUNT_MAX + 1) > EV_AMOUNT_MAX) {
			errs_add(errs, index, name, C_TOO_LONG);
			return TLY_OK;
		}
	} else {
		errs_add(errs, index, name, C_TYPE);
		return TLY_OK;
	}
	if (!dec_valid(s, strlen(s))) {
		errs_add(errs, index, name, C_FORMAT);
		return TLY_OK;
	}
	if (s == buf) {		/* a number: the tree gets its text */
		it = replace_with_string(obj, it, buf);
		if (!it)
			return TLY_ENOMEM;
	}
	ev->precise_total_amount_cents = it->valuestring;
	return TLY_OK;
}

/* One property: a string kept as sent, or a number made a string. */
static int check_prop(cJSON *props, cJSON *it, int index,
		      struct ev_errs *errs)
{
	char buf[DEC_DOUBLE_BUFSZ];
	const char *key = it->string ? it->string : "";
	size_t klen = strnlen(key, EV_PROP_KEY_MAX + 1);

	if (klen == 0) {
		errs_add(errs, index, "properties", C_FORMAT);
		return TLY_OK;
	}
	if (klen > EV_PROP_KEY_MAX) {
		errs_add_prop(errs, index, key, C_TOO_LONG);
		return TLY_OK;
	}
	if (cJSON_IsString(it) && it->valuestring) {
		if (strnlen(it->valuestring, EV_PROP_VAL_MAX + 1) >
		    EV_PROP_VAL_MAX)
			errs_add_prop(errs, index, key, C_TOO_LONG);
		return TLY_OK;
	}
	if (!cJSON_IsNumber(it)) {
		errs_add_prop(errs, index, key, C_TYPE);
		return TLY_OK;
	}
	/* 1e400 parses as infinity: no decimal to bill. */
	if (dec_fmt_double(it->valuedouble, buf, sizeof(buf)) != TLY_OK) {
		errs_add_prop(errs, index, key, C_FORMAT);
		return TLY_OK;
	}
	return replace_with_string(props, it, buf) ? TLY_OK : TLY_ENOMEM;
}

/* properties: absent or null gives an empty object, owned by obj. */
static int empty_props(cJSON *obj, cJSON *it, struct event *ev)
{
	cJSON *props = cJSON_CreateObject();

	if (!props)
		return TLY_ENOMEM;
	if (it) {
		replace_item(obj, it, props);
	} else if (!cJSON_AddItemToObject(obj, "properties", props)) {
		cJSON_Delete(props);
		return TLY_ENOMEM;
	}
	ev->props = props;
	return TLY_OK;
}

static int check_props(cJSON *obj, int index, struct event *ev,
		       struct ev_errs *errs)
{
	cJSON *props = member(obj, "properties");
	cJSON *it, *next;
	size_t n = 0;
	int rc;

	if (!props || cJSON_IsNull(props))
		return empty_props(obj, props, ev);
	if (!cJSON_IsObject(props)) {
		errs_add(errs, index, "properties", C_TYPE);
		return TLY_OK;
	}
	/* Counted before duplicates go, which keeps that pass quadratic in
	 * EV_PROPS_MAX at worst rather than in the body size. */
	for (it = props->child; it && n <= EV_PROPS_MAX; it = it->next)
		n++;
	if (n > EV_PROPS_MAX) {
		errs_add(errs, index, "properties", C_TOO_LONG);
		return TLY_OK;
	}
	drop_duplicate_keys(props);
	for (it = props->child; it; it = next) {
		next = it->next;	/* check_prop may replace it */
		rc = check_prop(props, it, index, errs);
		if (rc != TLY_OK)
			return rc;
	}
	ev->props = props;
	return TLY_OK;
}

int ev_from_json(cJSON *obj, int64_t now_ms, int index, struct event *ev,
		 struct ev_errs *errs)
{
	size_t seen;
	int rc;

	if (!ev || !errs)
		return TLY_EINVAL;
	memset(ev, 0, sizeof(*ev));
	seen = errs_seen(errs);
	if (!cJSON_IsObject(obj)) {
		errs_add(errs, index, "event", C_TYPE);
		return TLY_EINVAL;
	}
	check_ids(obj, index, ev, errs);
	check_timestamp(obj, now_ms, index, ev, errs);
	rc = check_amount(obj, index, ev, errs);
	if (rc != TLY_OK)
		goto fail;
	rc = check_props(obj, index, ev, errs);
	if (rc != TLY_OK)
		goto fail;
	if (errs_seen(errs) != seen) {
		rc = TLY_EINVAL;
		goto fail;
	}
	return TLY_OK;
fail:
	memset(ev, 0, sizeof(*ev));
	return rc;
}

/* ---- A request ------------------------------------------------------ */

/* Bytes in the valid UTF-8 sequence at s[0..len), or 0 (RFC 3629). */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 2;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 3;
		if (s[0] == 0xE0)
			lo = 0xA0;	/* overlong */
		else if (s[0] == 0xED)
			hi = 0x9F;	/* UTF-16 surrogates */
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 4;
		if (s[0] == 0xF0)
			lo = 0x90;	/* overlong */
		else if (s[0] == 0xF4)
			hi = 0x8F;	/* past U+10FFFF */
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

static int is_u0000(const unsigned char *s, size_t len)
{
	return len >= 5 && s[0] == 'u' && memcmp(s + 1, "0000", 4) == 0;
}

enum text_state { TEXT_OK, TEXT_BAD, TEXT_NUL_ESCAPE };

/*
 * Check the raw body before cJSON sees it.  JSON text is UTF-8 (RFC 8259
 * section 8.1) and cJSON passes bytes through unchecked; invalid UTF-8
 * would travel on to SQLite, the wire and PostgreSQL, which refuses it:
 * a batch that could never be applied.  A raw NUL is not JSON, and cJSON
 * would take it for white space or end a string at it.  "\u0000" is JSON,
 * but cJSON keeps strings NUL-terminated, so "tx-1\u0000b" would become
 * "tx-1" and alias another transaction id: refused as well.
 */
static enum text_state scan_text(const unsigned char *s, size_t len)
{
	enum text_state st = TEXT_OK;
	size_t i = 0, n;

	while (i < len) {
		if (s[i] == '\0')
			return TEXT_BAD;
		if (s[i] == '\\') {
			/* Backslashes are only valid in strings, in pairs
			 * or before an escape letter: step over a pair so
			 * that "\\u0000" is not taken for an escape. */
			if (i + 1 < len && s[i + 1] == '\\') {
				i += 2;
				continue;
			}
			if (is_u0000(s + i + 1, len - i - 1))
				st = TEXT_NUL_ESCAPE;
			i++;
			continue;
		}
		n = utf8_seq(s + i, len - i);
		if (n == 0)
			return TEXT_BAD;
		i += n;
	}
	return st;
}

static int only_ws(const char *s, const char *end)
{
	for (; s < end; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

/*
 * Parse json[0..len) into *root, or record why not.  cJSON has read one
 * byte past the given length in some releases (DaveGamble/cJSON#800), so
 * it parses a NUL-terminated copy.  cJSON does not tell a syntax error
 * from an allocation failure; both are reported as invalid_json.
 */
static int parse_body(const char *json, size_t len, cJSON **root,
		      struct ev_errs *errs)
{
	enum text_state st;
	const char *end = NULL;

	*root = NULL;
	if (!json || len == 0 || len == SIZE_MAX)
		goto bad_json;
	st = scan_text((const unsigned char *)json, len);
	if (st == TEXT_BAD)
		goto bad_json;
	/* cJSON reads no further than len: no terminated copy is needed. */
	*root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	/* require_null_terminated does not combine with a length: check
	 * what follows the document by hand. */
	if (*root && (!end || end < json || end > json + len ||
		      !only_ws(end, json + len))) {
		cJSON_Delete(*root);
		*root = NULL;
	}
	if (!*root)
		goto bad_json;
	if (st == TEXT_NUL_ESCAPE) {
		cJSON_Delete(*root);
		*root = NULL;
		errs_add(errs, -1, "body", C_FORMAT);
		return TLY_EINVAL;
	}
	return TLY_OK;
bad_json:
	errs_add(errs, -1, "body", C_JSON);
	return TLY_EINVAL;
}

static int parse_one(cJSON *obj, int64_t now_ms, struct ev_batch *out,
		     struct ev_errs *errs)
{
	struct event *ev = malloc(sizeof(*ev));
	int rc;

	if (!ev)
		return TLY_ENOMEM;
	rc = ev_from_json(obj, now_ms, -1, ev, errs);
	if (rc != TLY_OK) {
		free(ev);
		return rc;
	}
	out->evs = ev;
	out->n = 1;
	return TLY_OK;
}

static int parse_single(cJSON *root, int64_t now_ms, struct ev_batch *out,
			struct ev_errs *errs)
{
	cJSON *obj = member(root, "event");

	if (!obj || cJSON_IsNull(obj)) {
		errs_add(errs, -1, "event", C_MANDATORY);
		return TLY_EINVAL;
	}
	if (!cJSON_IsObject(obj)) {
		errs_add(errs, -1, "event", C_TYPE);
		return TLY_EINVAL;
	}
	return parse_one(obj, now_ms, out, errs);
}

/* Every element is validated, even after a bad one, to report all. */
static int parse_events(cJSON *arr, size_t n, int64_t now_ms,
			struct ev_batch *out, struct ev_errs *errs)
{
	struct event *evs = calloc(n, sizeof(*evs));
	cJSON *it = arr->child;
	int rc = TLY_OK, r;

	if (!evs)
		return TLY_ENOMEM;
	for (size_t i = 0; i < n && rc != TLY_ENOMEM; i++, it = it->next) {
		r = ev_from_json(it, now_ms, (int)i, &evs[i], errs);
		if (r != TLY_OK)
			rc = r;
	}
	if (rc != TLY_OK) {
		free(evs);
		return rc;
	}
	out->evs = evs;
	out->n = n;
	return TLY_OK;
}

static int parse_batch(cJSON *root, size_t max_events, int64_t now_ms,
		       struct ev_batch *out, struct ev_errs *errs)
{
	cJSON *arr = member(root, "events"), *it;
	size_t n = 0;

	if (!arr || cJSON_IsNull(arr)) {
		errs_add(errs, -1, "events", C_MANDATORY);
		return TLY_EINVAL;
	}
	if (!cJSON_IsArray(arr)) {
		errs_add(errs, -1, "events", C_TYPE);
		return TLY_EINVAL;
	}
	for (it = arr->child; it; it = it->next)
		n++;
	if (n == 0) {
		errs_add(errs, -1, "events", C_NO_EVENTS);
		return TLY_EINVAL;
	}
	/* The index of an error is an int. */
	if ((max_events > 0 && n > max_events) || n > INT_MAX) {
		errs_add(errs, -1, "events", C_TOO_MANY);
		return TLY_EINVAL;
	}
	return parse_events(arr, n, now_ms, out, errs);
}

/*
 * Each event's properties as text, while the tree is at hand.  Printed on
 * the stack and copied at its size: cJSON's own printer would leave a
 * 256-byte scratch buffer per event in the arena.
 */
static int print_props(struct ev_batch *b)
{
	char tmp[1024];

	for (size_t i = 0; i < b->n; i++) {
		struct event *ev = &b->evs[i];
		char *p = NULL;

		if (cJSON_PrintPreallocated(ev->props, tmp, sizeof(tmp), 0)) {
			size_t n = strlen(tmp) + 1;

			p = cJSON_malloc(n);
			if (p)
				memcpy(p, tmp, n);
		} else {
			p = cJSON_PrintUnformatted(ev->props);
		}
		if (!p)
			return TLY_ENOMEM;
		ev->props_json = p;
	}
	return TLY_OK;
}

static int parse_shape(const char *json, size_t len, enum ev_shape shape,
		       size_t max_events, int64_t now_ms, struct ev_batch *out,
		       struct ev_errs *errs)
{
	cJSON *root = NULL;
	int rc = parse_body(json, len, &root, errs);

	if (rc != TLY_OK)
		return rc;
	if (!cJSON_IsObject(root)) {
		errs_add(errs, -1, "body", C_TYPE);
		rc = TLY_EINVAL;
	} else if (shape == EV_SHAPE_BARE) {
		rc = parse_one(root, now_ms, out, errs);
	} else if (shape == EV_SHAPE_SINGLE) {
		rc = parse_single(root, now_ms, out, errs);
	} else {
		rc = parse_batch(root, max_events, now_ms, out, errs);
	}
	out->root = root;
	if (rc == TLY_OK)
		rc = print_props(out);
	return rc;
}

int ev_parse(const char *json, size_t len, enum ev_shape shape,
	     size_t max_events, int64_t now_ms, struct ev_batch *out,
	     struct ev_errs *errs)
{
	int rc;

	if (!out || !errs)
		return TLY_EINVAL;
	memset(out, 0, sizeof(*out));
	errs->n = 0;
	errs->dropped = 0;
	out->mem = jsonmem_new(len);
	if (!out->mem)
		return TLY_ENOMEM;
	jsonmem_enter(out->mem);
	rc = parse_shape(json, len, shape, max_events, now_ms, out, errs);
	jsonmem_leave();
	if (rc != TLY_OK)
		ev_batch_free(out);
	return rc;
}

void ev_batch_free(struct ev_batch *b)
{
	if (!b)
		return;
	free(b->evs);
	jsonmem_free(b->mem);		/* root lives there */
	memset(b, 0, sizeof(*b));
}

const char *ev_prop(const struct event *ev, const char *key)
{
	cJSON *it;

	if (!ev || !ev->props || !key)
		return NULL;
	it = cJSON_GetObjectItemCaseSensitive(ev->props, key);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* ---- Error reports -------------------------------------------------- */

/* The member of obj named key with the given cJSON type, or NULL. */
static cJSON *find_typed(cJSON *obj, const char *key, int type)
{
	cJSON *it;

	for (it = obj->child; it; it = it->next)
		if (it->string && strcmp(it->string, key) == 0 &&
		    (it->type & 0xFF) == type)
			return it;
	return NULL;
}

/* Add e's code to details (or to details["<index>"] in a batch). */
static int add_detail(cJSON *details, const struct ev_error *e)
{
	char key[16];
	cJSON *obj = details, *codes, *code;

	if (e->index >= 0) {
		snprintf(key, sizeof(key), "%d", e->index);
		obj = find_typed(details, key, cJSON_Object);
		if (!obj)
			obj = cJSON_AddObjectToObject(details, key);
		if (!obj)
			return TLY_ENOMEM;
	}
	codes = find_typed(obj, e->field, cJSON_Array);
	if (!codes)
		codes = cJSON_AddArrayToObject(obj, e->field);
	if (!codes)
		return TLY_ENOMEM;
	code = cJSON_CreateString(e->code ? e->code : "invalid");
	if (!code)
		return TLY_ENOMEM;
	if (!cJSON_AddItemToArray(codes, code)) {
		cJSON_Delete(code);
		return TLY_ENOMEM;
	}
	return TLY_OK;
}

char *ev_errs_json(const struct ev_errs *errs)
{
	cJSON *root = cJSON_CreateObject(), *details;
	char *out = NULL;

	if (!root)
		return NULL;
	if (!cJSON_AddNumberToObject(root, "status", 422) ||
	    !cJSON_AddStringToObject(root, "error", "Unprocessable Entity") ||
	    !cJSON_AddStringToObject(root, "code", "validation_errors"))
		goto done;
	details = cJSON_AddObjectToObject(root, "error_details");
	if (!details)
		goto done;
	for (size_t i = 0; errs && i < errs->n && i < EV_ERRS_MAX; i++)
		if (add_detail(details, &errs->e[i]) != TLY_OK)
			goto done;
	out = cJSON_PrintUnformatted(root);
done:
	cJSON_Delete(root);
	return out;
}

/* A bounded line: what does not fit is cut at a character boundary. */
struct line {
	char *p;	/* where the next byte goes; always a NUL there */
	size_t left;	/* bytes from p to the end of the buffer */
	int full;	/* something was cut: add nothing more */
};

static size_t utf8_lead_len(unsigned char c)
{
	if (c >= 0xF0 && c <= 0xF7)
		return 4;
	if (c >= 0xE0 && c <= 0xEF)
		return 3;
	if (c >= 0xC0 && c <= 0xDF)
		return 2;
	return 1;
}

/*
 * Append s.  Control characters (a property key may hold "\n") become
 * '?', as the line ends a socket answer or a log record.
 */
static void line_put(struct line *l, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n, i;

	while (*u && !l->full) {
		n = utf8_lead_len(*u);
		for (i = 1; i < n && u[i]; i++)
			;
		n = i;
		if (n >= l->left) {
			l->full = 1;
			break;
		}
		if (n == 1 && (*u < 0x20 || *u == 0x7F))
			*l->p = '?';
		else
			memcpy(l->p, u, n);
		l->p += n;
		l->left -= n;
		u += n;
	}
	*l->p = '\0';
}

void ev_errs_line(const struct ev_errs *errs, char *buf, size_t size)
{
	struct line l = { buf, size, 0 };
	char num[48];

	if (!buf || size == 0)
		return;
	buf[0] = '\0';
	if (!errs)
		return;
	for (size_t i = 0; i < errs->n && i < EV_ERRS_MAX; i++) {
		const struct ev_error *e = &errs->e[i];

		if (i > 0)
			line_put(&l, "; ");
		if (e->index >= 0) {
			snprintf(num, sizeof(num), "events[%d].", e->index);
			line_put(&l, num);
		}
		line_put(&l, e->field);
		line_put(&l, ": ");
		line_put(&l, e->code ? e->code : "invalid");
	}
	if (errs->dropped > 0) {
		snprintf(num, sizeof(num), " (+%zu more)", errs->dropped);
		line_put(&l, num);
	}
}
