/*
 * log.c - one-line logging to stderr (see log.h).
 *
 * Thread safety: the settings are written once at start-up, before any
 * thread exists; log_msg formats into a stack buffer and issues one
 * write(2), which POSIX keeps whole for pipes up to PIPE_BUF and which
 * in practice does not interleave on files and terminals either.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "tally";
static enum log_level log_min = LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *const log_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_init(const char *prog, enum log_level min)
{
	if (prog)
		log_prog = prog;
	log_min = min;
}

int log_level_parse(const char *s)
{
	static const char *const lower[] = {"debug", "info", "warn", "error"};

	for (int i = 0; i < 4; i++)
		if (s && strcasecmp(s, lower[i]) == 0)
			return i;
	return -1;
}

void log_set_fd(int fd)
{
	log_fd = fd < 0 ? STDERR_FILENO : fd;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n, cap = sizeof(line) - 1;	/* room for the '\n' */
	int len;

	if (lvl < log_min || lvl > LOG_ERROR)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	len = snprintf(line + n, cap - n, ".%03ldZ %s %s: ",
		       ts.tv_nsec / 1000000, log_names[lvl], log_prog);
	if (len > 0)
		n += (size_t)len < cap - n ? (size_t)len : cap - n - 1;
	va_start(ap, fmt);
	len = vsnprintf(line + n, cap - n, fmt, ap);
	va_end(ap);
	if (len < 0)
		len = 0;
	if ((size_t)len >= cap - n) {
		n = cap;
		memcpy(line + n - 3, "...", 3);
	} else {
		n += (size_t)len;
	}
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	/* A failed log write has nowhere better to be reported. */
	if (write(log_fd, line, n) < 0)
		return;
}
