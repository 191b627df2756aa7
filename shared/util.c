/*
 * util.c - random ids and time text (see util.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "err.h"
#include "util.h"

int util_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return TLY_EIO;
		p += got;
		n -= (size_t)got;
	}
	return TLY_OK;
}

void util_hex(const void *buf, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = buf;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int util_uuid(char out[UTIL_UUID_LEN])
{
	unsigned char b[16];
	char hex[33];

	if (util_random(b, sizeof(b)) != TLY_OK)
		return TLY_EIO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	util_hex(b, sizeof(b), hex);
	snprintf(out, UTIL_UUID_LEN, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
		 hex + 12, hex + 16, hex + 20);
	return TLY_OK;
}

/*
 * Random bytes for util_uuid7, drawn from the kernel in blocks: one
 * getrandom(2) per id was a syscall per stored event.  Per thread, so no
 * lock; the collector never forks, which would copy a pool.
 */
#define UTIL_POOL 512

static int pool_take(unsigned char *out, size_t n)
{
	static _Thread_local unsigned char pool[UTIL_POOL];
	static _Thread_local size_t left;

	if (left < n) {
		if (util_random(pool, sizeof(pool)) != TLY_OK)
			return TLY_EIO;
		left = sizeof(pool);
	}
	memcpy(out, pool + sizeof(pool) - left, n);
	/* Bytes handed out are not kept where a later read could see them. */
	memset(pool + sizeof(pool) - left, 0, n);
	left -= n;
	return TLY_OK;
}

int util_uuid7(char out[UTIL_UUID_LEN])
{
	unsigned char b[16];
	char hex[33];
	struct timespec ts;
	uint64_t ms;
	unsigned sub;

	if (pool_take(b + 8, 8) != TLY_OK)
		return TLY_EIO;
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	/* RFC 9562 6.2 method 3: the sub-millisecond fraction in rand_a. */
	sub = (unsigned)(((uint64_t)ts.tv_nsec % 1000000u) * 4096u / 1000000u);
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | (sub >> 8));		/* version 7 */
	b[7] = (unsigned char)(sub & 0xff);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	util_hex(b, sizeof(b), hex);
	snprintf(out, UTIL_UUID_LEN, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
		 hex + 12, hex + 16, hex + 20);
	return TLY_OK;
}

void util_iso_time(int64_t ms, int with_ms, char out[UTIL_TIME_LEN])
{
	/* Answers echo runs of events from one second: the calendar
	 * arithmetic is done once per second and thread, not per event. */
	static _Thread_local int have;
	static _Thread_local time_t last_sec;
	static _Thread_local char last[UTIL_TIME_LEN];
	static _Thread_local size_t last_n;
	time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)sec * 1000);
	struct tm tm;
	size_t n;

	if (!have || sec != last_sec) {
		gmtime_r(&sec, &tm);
		last_n = strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm);
		last_sec = sec;
		have = 1;
	}
	n = last_n;
	memcpy(out, last, n);
	if (with_ms)
		snprintf(out + n, UTIL_TIME_LEN - n, ".%03uZ",
			 (unsigned)frac % 1000u);
	else
		snprintf(out + n, UTIL_TIME_LEN - n, "Z");
}

int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
