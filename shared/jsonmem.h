/*
 * jsonmem.h - where cJSON's memory comes from: a bump arena per request
 * while a thread has one entered, malloc otherwise.
 *
 * A batch of 1,000 events parses into some 25,000 cJSON nodes and
 * strings, and its Lago answer builds as many again; through malloc and
 * free that was a quarter of the agent's CPU at intake (make bench,
 * row 2).  Between jsonmem_enter and jsonmem_leave every cJSON allocation
 * of the calling thread comes from the arena, cJSON's frees of arena
 * memory do nothing, and jsonmem_free releases it all at once.
 *
 * Rules that keep it safe:
 *   - a tree built in an arena is never cJSON_Delete'd outside it (the
 *     arena's owner frees the arena instead; ev_batch_free does);
 *   - nothing cJSON allocates inside the arena is handed to code that
 *     frees it later with free() (print after jsonmem_leave: the text
 *     then comes from malloc).
 * cJSON's frees of memory that is not the arena's go to free() as ever.
 *
 * jsonmem_init installs the hooks (cJSON_InitHooks) and must run before
 * threads use cJSON: both daemons call it first thing in main; the
 * first jsonmem_new calls it too, for tests and tools.
 */
#ifndef TALLY_JSONMEM_H
#define TALLY_JSONMEM_H

#include <stddef.h>

struct jsonmem;

void jsonmem_init(void);

/* A new, empty arena whose first block suits about `hint` bytes of JSON
 * text (0: small).  NULL when out of memory. */
struct jsonmem *jsonmem_new(size_t hint);

/* Every block, and the arena.  NULL-safe. */
void jsonmem_free(struct jsonmem *m);

/*
 * The allocator underneath everything (NULLs: malloc and free), for
 * tests that fail allocations one by one.  Set it while no thread is
 * using cJSON.
 */
void jsonmem_set_allocator(void *(*alloc)(size_t), void (*release)(void *));

/* This thread's cJSON allocations come from m until jsonmem_leave. */
void jsonmem_enter(struct jsonmem *m);
void jsonmem_leave(void);

#endif
