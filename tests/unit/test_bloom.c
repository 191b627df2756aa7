/*
 * test_bloom.c - the blocked Bloom filter (shared/bloom.c): no key added
 * is ever said absent; about 1% of absent keys are said maybe at 12 bits
 * a key; a reset forgets; room grows until max_bits; a filter without
 * bits says maybe of all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bloom.h"
#include "err.h"

#define KEYS 100000

/* splitmix64: uniform halves, as the filter's callers pass. */
static uint64_t mix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static size_t maybes(const struct bloom *b, uint64_t from, uint64_t n)
{
	size_t yes = 0;

	for (uint64_t i = from; i < from + n; i++)
		yes += (size_t)bloom_maybe(b, mix(2 * i), mix(2 * i + 1));
	return yes;
}

static void add_keys(struct bloom *b, uint64_t from, uint64_t n)
{
	for (uint64_t i = from; i < from + n; i++)
		bloom_add(b, mix(2 * i), mix(2 * i + 1));
}

static void added_keys_are_always_maybe(void **state)
{
	struct bloom b = {0};

	(void)state;
	assert_int_equal(bloom_reset(&b, KEYS, (size_t)1 << 30), TLY_OK);
	assert_true(b.nbits >= (size_t)KEYS * BLOOM_BITS_PER_KEY);
	add_keys(&b, 0, KEYS);
	assert_int_equal(b.keys, KEYS);
	assert_int_equal(maybes(&b, 0, KEYS), KEYS);
	/* Absent keys: 12-24 bits a key, 7 probes in a block: ~1%. */
	assert_true(maybes(&b, KEYS, KEYS) < KEYS / 50);
	bloom_free(&b);
	assert_null(b.bits);
}

static void reset_forgets(void **state)
{
	struct bloom b = {0};

	(void)state;
	assert_int_equal(bloom_reset(&b, KEYS, (size_t)1 << 30), TLY_OK);
	add_keys(&b, 0, KEYS);
	assert_int_equal(bloom_reset(&b, KEYS, (size_t)1 << 30), TLY_OK);
	assert_int_equal(b.keys, 0);
	assert_int_equal(maybes(&b, 0, KEYS), 0);	/* all zero bits */
	bloom_free(&b);
}

static void room_until_max_bits(void **state)
{
	struct bloom b = {0};
	size_t cap;

	(void)state;
	assert_int_equal(bloom_reset(&b, 0, BLOOM_MIN_BITS), TLY_OK);
	assert_int_equal(b.nbits, BLOOM_MIN_BITS);
	cap = b.nbits / BLOOM_BITS_PER_KEY;
	assert_true(bloom_room(&b, cap, BLOOM_MIN_BITS * 2));
	assert_false(bloom_room(&b, cap + 1, BLOOM_MIN_BITS * 2));
	/* At its largest, more keys just make more false hits. */
	assert_true(bloom_room(&b, cap + 1, BLOOM_MIN_BITS));
	/* Sized for more keys, never past max_bits. */
	assert_int_equal(bloom_reset(&b, cap * 8, BLOOM_MIN_BITS * 4),
			 TLY_OK);
	assert_int_equal(b.nbits, BLOOM_MIN_BITS * 4);
	bloom_free(&b);
}

static void without_bits_all_maybe(void **state)
{
	struct bloom b = {0};

	(void)state;
	add_keys(&b, 0, 10);
	assert_int_equal(b.keys, 0);
	assert_int_equal(maybes(&b, 0, 100), 100);
	bloom_prefetch(&b, 1);
	bloom_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(added_keys_are_always_maybe),
		cmocka_unit_test(reset_forgets),
		cmocka_unit_test(room_until_max_bits),
		cmocka_unit_test(without_bits_all_maybe),
	};

	return cmocka_run_group_tests_name("bloom", tests, NULL, NULL);
}
