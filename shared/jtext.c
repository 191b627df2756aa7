/*
 * jtext.c - a JSON answer written piece by piece (see jtext.h).
 */
#include "jtext.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define JTEXT_FIRST 4096
#define JTEXT_GUESS 512		/* room asked of cJSON for one item, first */

/* Room for n more bytes and a NUL at t->len; 0 or -1. */
static int room(struct jtext *t, size_t n)
{
	size_t cap = t->cap ? t->cap : JTEXT_FIRST;
	char *p;

	if (t->cap > t->len && t->cap - t->len > n)
		return 0;
	while (cap - t->len <= n) {
		if (cap > (size_t)-1 / 2)
			return -1;
		cap *= 2;
	}
	p = realloc(t->p, cap);
	if (!p)
		return -1;
	t->p = p;
	t->cap = cap;
	return 0;
}

int jtext_put(struct jtext *t, const char *s)
{
	size_t n = strlen(s);

	if (room(t, n))
		return -1;
	memcpy(t->p + t->len, s, n + 1);
	t->len += n;
	return 0;
}

int jtext_json(struct jtext *t, const cJSON *o)
{
	size_t guess = JTEXT_GUESS;
	char *s;

	/* Printed in place while it fits; cJSON cannot say how long it
	 * will be, so a larger item is printed on its own and copied. */
	for (int tries = 0; tries < 4; tries++, guess *= 4) {
		size_t avail;

		if (room(t, guess))
			return -1;
		avail = t->cap - t->len;
		if (cJSON_PrintPreallocated((cJSON *)o, t->p + t->len,
					    avail > INT_MAX ? INT_MAX :
					    (int)avail, 0)) {
			t->len += strlen(t->p + t->len);
			return 0;
		}
	}
	s = cJSON_PrintUnformatted(o);
	if (!s)
		return -1;
	if (jtext_put(t, s)) {
		cJSON_free(s);
		return -1;
	}
	cJSON_free(s);
	return 0;
}

int jtext_str(struct jtext *t, const char *s)
{
	size_t len, need;
	cJSON v;

	if (!s)
		return jtext_put(t, "null");
	/* Room for the worst case (every byte a \u00XX escape, two quotes,
	 * and the 5 bytes cJSON_PrintPreallocated keeps spare), so that a
	 * short string never grows the text by a guess. */
	len = strlen(s);
	if (len > ((size_t)INT_MAX - 8) / 6)
		return -1;
	need = 6 * len + 8;
	if (room(t, need))
		return -1;
	memset(&v, 0, sizeof(v));
	v.type = cJSON_String;
	v.valuestring = (char *)s;	/* printed, never freed */
	if (!cJSON_PrintPreallocated(&v, t->p + t->len, (int)need, 0))
		return -1;
	t->len += strlen(t->p + t->len);
	return 0;
}

void jtext_free(struct jtext *t)
{
	if (!t)
		return;
	free(t->p);
	memset(t, 0, sizeof(*t));
}
