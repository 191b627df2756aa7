/*
 * jtext.h - a JSON answer written piece by piece into one growing,
 * malloc'd text: the punctuation by hand, every value by cJSON's printer
 * (so its escaping), one item at a time.
 *
 * An answer echoing a batch of events as one cJSON tree held a second
 * copy of the batch and made a dozen allocations an event; written this
 * way, each event's object is built, printed and freed in turn.  The
 * text goes to httpd_body_take, which frees it.
 */
#ifndef TALLY_JTEXT_H
#define TALLY_JTEXT_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct jtext {
	char *p;		/* NUL-terminated; NULL until the first write */
	size_t len, cap;
};

/* Append s (JSON punctuation or a literal); 0, or -1 out of memory. */
int jtext_put(struct jtext *t, const char *s);

/* Append o as compact JSON; 0, or -1 out of memory. */
int jtext_json(struct jtext *t, const cJSON *o);

/* Append s as a JSON string, escaped by cJSON's printer; null when s is
 * NULL.  0, or -1 out of memory. */
int jtext_str(struct jtext *t, const char *s);

/* Release the text (after an error); NULL-safe, t is empty after. */
void jtext_free(struct jtext *t);

#endif
