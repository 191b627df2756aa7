/*
 * bloom.h - a blocked Bloom filter over keys that are uniform 128-bit
 * hashes already, given as two halves (h1, h2): whether a key may be in a
 * set kept on disk, so that looking up a key surely absent reads no page
 * (a B-tree page read at random is the costliest step left once writes
 * are sequential: agent/seen.c, collector/evkey.c).
 *
 * 12 to 24 bits a key and 7 probes, so about 1% of absent keys still
 * look.  The probes of a key all fall in one 512-bit block (a cache
 * line), so asking costs one memory miss, not seven.  Past its owner's
 * max_bits it stops growing and more keys look.  The bits are anonymous
 * pages: not resident until touched, and given back at each reset.
 *
 * A filter without bits (none yet, or no memory for them) says "maybe"
 * of every key.  Not thread-safe: its owner serialises.
 */
#ifndef TALLY_BLOOM_H
#define TALLY_BLOOM_H

#include <stddef.h>
#include <stdint.h>

#define BLOOM_MIN_BITS ((size_t)1 << 21)
#define BLOOM_BITS_PER_KEY 12

struct bloom {
	uint64_t *bits;		/* NULL: every key may be in */
	size_t nbits;		/* a power of two, or 0 */
	size_t keys;		/* added since the last reset */
};

/*
 * Empty b and size it for `keys` keys, at most max_bits (a power of two,
 * at least BLOOM_MIN_BITS).  TLY_OK, or TLY_ENOMEM (b then has no bits).
 */
int bloom_reset(struct bloom *b, size_t keys, size_t max_bits);

/* Whether n more keys fit at BLOOM_BITS_PER_KEY (or b is at max_bits). */
int bloom_room(const struct bloom *b, size_t n, size_t max_bits);

void bloom_add(struct bloom *b, uint64_t h1, uint64_t h2);
int bloom_maybe(const struct bloom *b, uint64_t h1, uint64_t h2);

/* Start bringing into cache the block bloom_maybe(h1, ...) reads. */
void bloom_prefetch(const struct bloom *b, uint64_t h1);

void bloom_free(struct bloom *b);	/* b is empty, without bits, after */

#endif
