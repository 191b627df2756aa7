/*
 * log.h - one line per message to stderr, with time and level.
 *
 *   2026-11-25T07:01:02.345Z INFO tally-agent: listening on 127.0.0.1:7481
 *
 * Each line is written with a single write(2), so lines from several
 * threads never interleave.  Messages longer than LOG_LINE_MAX are cut and
 * end in "...".  Newlines inside a message are written as spaces, keeping
 * the one-line-per-event promise for log readers.
 */
#ifndef TALLY_LOG_H
#define TALLY_LOG_H

#define LOG_LINE_MAX 2048

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set the program name and the lowest level written (default LOG_INFO). */
void log_init(const char *prog, enum log_level min);

/* Parse "debug", "info", "warn", "error"; -1 when none of these. */
int log_level_parse(const char *s);

/* Redirect output to fd (tests); -1 restores stderr. */
void log_set_fd(int fd);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
