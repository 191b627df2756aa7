/*
 * failalloc.h - out-of-memory for the unit tests: an allocator for
 * jsonmem_set_allocator that fails the fail_at-th allocation (counting
 * from 1 since allocs was last zeroed), and the teardown that puts
 * malloc back.  Include after cmocka.h.
 */
#ifndef TALLY_TEST_FAILALLOC_H
#define TALLY_TEST_FAILALLOC_H

#include <stdlib.h>

#include "jsonmem.h"

static int fail_at;	/* the cJSON allocation to fail, counting from 1 */
static int allocs;	/* cJSON allocations so far */

static inline void *failing_malloc(size_t n)
{
	if (++allocs == fail_at)
		return NULL;
	return malloc(n);
}

static inline int reset_hooks(void **state)
{
	(void)state;
	jsonmem_set_allocator(NULL, NULL);
	return 0;
}

#endif
