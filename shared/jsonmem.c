/*
 * jsonmem.c - cJSON's allocator hooks and the per-request arena (see
 * jsonmem.h for the rules).
 */
#include "jsonmem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <cjson/cJSON.h>

#define JM_ALIGN 16
#define JM_MIN_BLOCK ((size_t)4096)
#define JM_MAX_BLOCK ((size_t)1 << 20)	/* growth stops doubling here */

struct jm_block {
	struct jm_block *next;
	size_t size, used;
	_Alignas(JM_ALIGN) unsigned char data[];
};

struct jsonmem {
	struct jm_block *head;		/* the block being filled; older next */
	size_t next_size;
};

static _Thread_local struct jsonmem *jm_cur;
static void *(*jm_alloc)(size_t) = malloc;
static void (*jm_release)(void *) = free;
static pthread_once_t jm_once = PTHREAD_ONCE_INIT;

static struct jm_block *block_new(size_t size)
{
	struct jm_block *b = jm_alloc(sizeof(*b) + size);

	if (b) {
		b->next = NULL;
		b->size = size;
		b->used = 0;
	}
	return b;
}

static void *arena_alloc(struct jsonmem *m, size_t n)
{
	struct jm_block *b = m->head;
	void *p;

	if (n > SIZE_MAX - JM_ALIGN - sizeof(*b))
		return NULL;
	n = (n + JM_ALIGN - 1) & ~(size_t)(JM_ALIGN - 1);
	if (!b || b->size - b->used < n) {
		size_t size = m->next_size > n ? m->next_size : n;

		b = block_new(size);
		if (!b)
			return NULL;
		b->next = m->head;
		m->head = b;
		if (m->next_size < JM_MAX_BLOCK)
			m->next_size *= 2;
	}
	p = b->data + b->used;
	b->used += n;
	return p;
}

static int arena_owns(const struct jsonmem *m, const void *p)
{
	const unsigned char *q = p;

	for (const struct jm_block *b = m->head; b; b = b->next)
		if (q >= b->data && q < b->data + b->size)
			return 1;
	return 0;
}

static void *hook_malloc(size_t n)
{
	return jm_cur ? arena_alloc(jm_cur, n) : jm_alloc(n);
}

static void hook_free(void *p)
{
	if (p && !(jm_cur && arena_owns(jm_cur, p)))
		jm_release(p);
}

static void install(void)
{
	cJSON_Hooks h = {hook_malloc, hook_free};

	cJSON_InitHooks(&h);
}

void jsonmem_init(void)
{
	pthread_once(&jm_once, install);
}

void jsonmem_set_allocator(void *(*alloc)(size_t), void (*release)(void *))
{
	jsonmem_init();
	jm_alloc = alloc ? alloc : malloc;
	jm_release = release ? release : free;
}

struct jsonmem *jsonmem_new(size_t hint)
{
	struct jsonmem *m;
	size_t first = JM_MIN_BLOCK;

	jsonmem_init();
	m = jm_alloc(sizeof(*m));
	if (!m)
		return NULL;
	/* A tree takes several times its text: start near that. */
	while (first < JM_MAX_BLOCK && first < hint * 4)
		first *= 2;
	m->head = NULL;
	m->next_size = first;
	return m;
}

void jsonmem_free(struct jsonmem *m)
{
	if (!m)
		return;
	while (m->head) {
		struct jm_block *b = m->head;

		m->head = b->next;
		jm_release(b);
	}
	jm_release(m);
}

void jsonmem_enter(struct jsonmem *m)
{
	jm_cur = m;
}

void jsonmem_leave(void)
{
	jm_cur = NULL;
}
