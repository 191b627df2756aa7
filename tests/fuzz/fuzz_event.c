/*
 * fuzz_event.c - libFuzzer target for the event parser.
 *
 * The first byte picks the shape (data[0] % 3), the rest is the body.
 * Beyond "no crash, no leak", it checks what event.h promises of an
 * accepted request: every string set is non-empty and within its limit,
 * every property is a string, the time is in range; and that the
 * normalised tree, printed and parsed again, gives the same events
 * (normalising is idempotent).  A broken promise aborts, which libFuzzer
 * reports as a crash.  ev_parse_time gets the same bytes as a C string.
 *
 * Built with clang -fsanitize=fuzzer, or with tests/fuzz/replay.c (which
 * has the main) to replay the corpus under gcc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "event.h"

#define FZ_NOW INT64_C(1764000000000)
#define FZ_MAX_EVENTS 100
#define FZ_MAX_MS INT64_C(253402300799999)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static int same(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static void check_id(const char *s, int required)
{
	if (!s) {
		check(!required);
		return;
	}
	check(s[0] != '\0' && strlen(s) <= EV_ID_MAX);
}

static void check_event(const struct event *ev)
{
	const cJSON *it;
	size_t n = 0;

	check_id(ev->transaction_id, 1);
	check_id(ev->code, 1);
	check_id(ev->sub, 0);
	check_id(ev->customer, 0);
	check(ev->sub || ev->customer);
	check(ev->ts_ms >= 0 && ev->ts_ms <= FZ_MAX_MS);
	check(cJSON_IsObject(ev->props));
	for (it = ev->props->child; it; it = it->next) {
		check(cJSON_IsString(it) && it->valuestring && it->string);
		check(strlen(it->string) <= EV_PROP_KEY_MAX);
		check(strlen(it->valuestring) <= EV_PROP_VAL_MAX);
		check(ev_prop(ev, it->string) == it->valuestring);
		n++;
	}
	check(n <= EV_PROPS_MAX);
	check(ev_prop(ev, "") == NULL);
}

static int same_event(const struct event *a, const struct event *b)
{
	char *pa, *pb;
	int eq;

	if (!same(a->transaction_id, b->transaction_id) ||
	    !same(a->sub, b->sub) || !same(a->customer, b->customer) ||
	    !same(a->code, b->code) || a->ts_ms != b->ts_ms ||
	    !same(a->precise_total_amount_cents,
		  b->precise_total_amount_cents))
		return 0;
	pa = cJSON_PrintUnformatted(a->props);
	pb = cJSON_PrintUnformatted(b->props);
	eq = pa && pb && strcmp(pa, pb) == 0;
	free(pa);
	free(pb);
	return eq;
}

/* Print the normalised tree and parse it again: the same events. */
static void check_reparse(const struct ev_batch *b, enum ev_shape shape)
{
	struct ev_batch again;
	struct ev_errs errs;
	char *text = cJSON_PrintUnformatted(b->root);
	int rc;

	if (!text)
		return;
	rc = ev_parse(text, strlen(text), shape, FZ_MAX_EVENTS, FZ_NOW,
		      &again, &errs);
	free(text);
	check(rc == TLY_OK);
	check(again.n == b->n);
	for (size_t i = 0; i < b->n; i++)
		check(same_event(&b->evs[i], &again.evs[i]));
	ev_batch_free(&again);
}

static void check_errors(const struct ev_errs *errs)
{
	char line[256];
	char *body;

	check(errs->n >= 1 && errs->n <= EV_ERRS_MAX);
	for (size_t i = 0; i < errs->n; i++) {
		check(errs->e[i].code != NULL);
		check(memchr(errs->e[i].field, '\0',
			     sizeof(errs->e[i].field)) != NULL);
	}
	body = ev_errs_json(errs);
	free(body);
	ev_errs_line(errs, line, sizeof(line));
	check(strlen(line) < sizeof(line));
	check(strchr(line, '\n') == NULL);
	ev_errs_line(errs, line, 7);
	check(strlen(line) < 7);
}

static void fuzz_time(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t ms;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ev_parse_time(s, &ms) == TLY_OK)
		check(ms >= 0 && ms <= FZ_MAX_MS);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ev_batch b;
	struct ev_errs errs;
	enum ev_shape shape;
	int rc;

	if (size == 0)
		return 0;
	shape = (enum ev_shape)(data[0] % 3);
	rc = ev_parse((const char *)data + 1, size - 1, shape, FZ_MAX_EVENTS,
		      FZ_NOW, &b, &errs);
	if (rc == TLY_OK) {
		char *body;

		check(b.n >= 1 && b.n <= FZ_MAX_EVENTS && b.root && b.evs);
		check(shape == EV_SHAPE_BATCH || b.n == 1);
		for (size_t i = 0; i < b.n; i++)
			check_event(&b.evs[i]);
		check_reparse(&b, shape);
		/* An empty error set still makes a well-formed body. */
		errs.n = 0;
		errs.dropped = 0;
		body = ev_errs_json(&errs);
		free(body);
		ev_batch_free(&b);
	} else {
		check(rc == TLY_EINVAL || rc == TLY_ENOMEM);
		check(!b.evs && b.n == 0 && !b.root);
		if (rc == TLY_EINVAL)
			check_errors(&errs);
	}
	fuzz_time(data + 1, size - 1);
	return 0;
}
