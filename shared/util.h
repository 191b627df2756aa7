/*
 * util.h - small helpers both binaries use: random ids, time text.
 */
#ifndef TALLY_UTIL_H
#define TALLY_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_UUID_LEN 37	/* 36 characters and the NUL */
#define UTIL_TIME_LEN 32

/* Fill buf with n cryptographically random bytes.  TLY_OK or TLY_EIO. */
int util_random(void *buf, size_t n);

/* A random (version 4) UUID in lower-case text.  TLY_OK or TLY_EIO. */
int util_uuid(char out[UTIL_UUID_LEN]);

/*
 * A time-ordered (version 7, RFC 9562) UUID in lower-case text: 48 bits
 * of Unix milliseconds, 12 bits of sub-millisecond time, 62 random bits.
 * Ids made later sort later (to within the clock), so an index of them
 * grows at its right edge instead of dirtying random B-tree pages.  The
 * random bits come from getrandom(2) through a per-thread pool.  TLY_OK or
 * TLY_EIO.
 */
int util_uuid7(char out[UTIL_UUID_LEN]);

/* Lower-case hex of buf[0..n) into out (2n+1 bytes). */
void util_hex(const void *buf, size_t n, char *out);

/*
 * Unix milliseconds as ISO 8601 UTC: "2025-11-24T16:00:00Z", or with
 * milliseconds "2025-11-24T16:00:00.123Z" when with_ms is set.
 */
void util_iso_time(int64_t ms, int with_ms, char out[UTIL_TIME_LEN]);

/* Wall-clock time in Unix milliseconds. */
int64_t util_now_ms(void);

#endif
