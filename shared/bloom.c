/*
 * bloom.c - a blocked Bloom filter (see bloom.h).
 */
#include "bloom.h"

#include <string.h>
#include <sys/mman.h>

#include "err.h"

#define BLOOM_K 7
#define BLOOM_BLOCK 512		/* bits; BLOOM_K probes of 9 bits each */

/* Probe i: the block from h1, the bit in it from 9 bits of h2. */
static size_t bloom_bit(const struct bloom *b, uint64_t h1, uint64_t h2,
			int i)
{
	return (size_t)(h1 & (b->nbits / BLOOM_BLOCK - 1)) * BLOOM_BLOCK +
	       (size_t)((h2 >> (9 * i)) & (BLOOM_BLOCK - 1));
}

static void bits_free(struct bloom *b)
{
	if (b->bits)
		munmap(b->bits, b->nbits / 8);
	b->bits = NULL;
	b->nbits = 0;
}

int bloom_reset(struct bloom *b, size_t keys, size_t max_bits)
{
	size_t nbits = BLOOM_MIN_BITS;
	void *p;

	while (nbits < max_bits && nbits / BLOOM_BITS_PER_KEY < keys)
		nbits *= 2;
	b->keys = 0;
	if (b->bits && nbits == b->nbits) {
		/* Zero again, and no longer resident until touched. */
		if (madvise(b->bits, nbits / 8, MADV_DONTNEED) != 0)
			memset(b->bits, 0, nbits / 8);
		return TLY_OK;
	}
	bits_free(b);
	p = mmap(NULL, nbits / 8, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return TLY_ENOMEM;
	b->bits = p;
	b->nbits = nbits;
	return TLY_OK;
}

int bloom_room(const struct bloom *b, size_t n, size_t max_bits)
{
	return b->keys + n <= b->nbits / BLOOM_BITS_PER_KEY ||
	       b->nbits >= max_bits;
}

void bloom_add(struct bloom *b, uint64_t h1, uint64_t h2)
{
	if (!b->bits)
		return;
	for (int i = 0; i < BLOOM_K; i++) {
		size_t bit = bloom_bit(b, h1, h2, i);

		b->bits[bit / 64] |= (uint64_t)1 << (bit % 64);
	}
	b->keys++;
}

int bloom_maybe(const struct bloom *b, uint64_t h1, uint64_t h2)
{
	if (!b->bits)
		return 1;
	for (int i = 0; i < BLOOM_K; i++) {
		size_t bit = bloom_bit(b, h1, h2, i);

		if (!(b->bits[bit / 64] & ((uint64_t)1 << (bit % 64))))
			return 0;
	}
	return 1;
}

void bloom_prefetch(const struct bloom *b, uint64_t h1)
{
	if (b->bits)
		__builtin_prefetch(&b->bits[bloom_bit(b, h1, 0, 0) / 64]);
}

void bloom_free(struct bloom *b)
{
	bits_free(b);
	b->keys = 0;
}
