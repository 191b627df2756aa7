/*
 * test_log.c - one line per message, levels, truncation; and err.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

static int fds[2];

static int setup(void **state)
{
	(void)state;
	assert_int_equal(pipe(fds), 0);
	log_set_fd(fds[1]);
	log_init("tst", LOG_INFO);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_set_fd(-1);
	close(fds[0]);
	close(fds[1]);
	return 0;
}

static size_t drain(char *buf, size_t n)
{
	ssize_t r;

	close(fds[1]);
	r = read(fds[0], buf, n - 1);
	assert_true(r >= 0);
	buf[r] = '\0';
	fds[1] = -1;
	return (size_t)r;
}

static void test_line_format(void **state)
{
	char buf[4096];
	regex_t re;

	(void)state;
	log_info("hello %d", 42);
	drain(buf, sizeof(buf));
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
				 "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z INFO tst: "
				 "hello 42\n$", REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, buf, 0, NULL, 0), 0);
	regfree(&re);
}

static void test_levels_and_newlines(void **state)
{
	char buf[4096];

	(void)state;
	log_debug("hidden");
	log_warn("two\nlines");
	log_error("bad");
	drain(buf, sizeof(buf));
	assert_null(strstr(buf, "hidden"));
	assert_non_null(strstr(buf, "WARN tst: two lines\n"));
	assert_non_null(strstr(buf, "ERROR tst: bad\n"));
	assert_int_equal(log_level_parse("warn"), LOG_WARN);
	assert_int_equal(log_level_parse("DEBUG"), LOG_DEBUG);
	assert_int_equal(log_level_parse("loud"), -1);
}

static void test_truncation(void **state)
{
	char big[LOG_LINE_MAX * 2], buf[LOG_LINE_MAX * 3];
	size_t n;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
	n = drain(buf, sizeof(buf));
	assert_int_equal(n, LOG_LINE_MAX);
	assert_memory_equal(buf + n - 4, "...\n", 4);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(tly_strerror(TLY_OK), "success");
	assert_string_equal(tly_strerror(TLY_ETOOBIG), "input too large");
	assert_string_equal(tly_strerror(-1), "unknown error");
	assert_string_equal(tly_strerror(TLY_ERR_COUNT), "unknown error");
	for (int i = 0; i < TLY_ERR_COUNT; i++)
		assert_string_not_equal(tly_strerror(i), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_levels_and_newlines, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
