/*
 * test_conf.c - configuration precedence, types and error messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "err.h"

enum { K_NAME, K_SIZE, K_WAIT, K_ON, K_MODE, K_ADDR, K_N, K_SECRET, K_COUNT };

static const struct conf_key keys[K_COUNT] = {
	[K_NAME] = {"name", "--name", CONF_STR, "dflt", "a name"},
	[K_SIZE] = {"buffer.max_bytes", "--max-bytes", CONF_SIZE, "1MB", "size",
		    1024, 1LL << 40},
	[K_WAIT] = {"ship.wait", NULL, CONF_DURATION, "30s", "wait", 0, 0},
	[K_ON] = {"feature.on", "--on", CONF_BOOL, "false", "flag"},
	[K_MODE] = {"ship.transport", NULL, CONF_ENUM, "http", "transport", 0,
		    0, "http|mqtt"},
	[K_ADDR] = {"listen", "--listen", CONF_HOSTPORT, "127.0.0.1:7481", "addr"},
	[K_N] = {"workers", NULL, CONF_INT, "4", "workers", 1, 64},
	[K_SECRET] = {"token", "--token", CONF_STR, NULL, "secret"},
};

static char tmpfile_path[64];

static const char *write_conf(const char *text)
{
	int fd;

	strcpy(tmpfile_path, "/tmp/tally-conf-XXXXXX");
	fd = mkstemp(tmpfile_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return tmpfile_path;
}

static int setup(void **state)
{
	struct conf *c = calloc(1, sizeof(*c));

	unsetenv("TALLY_NAME");
	unsetenv("TALLY_BUFFER_MAX_BYTES");
	unsetenv("TALLY_CONFIG");
	unsetenv("TALLY_WORKERS");
	assert_int_equal(conf_init(c, keys, K_COUNT), TLY_OK);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	conf_free(*state);
	free(*state);
	if (tmpfile_path[0])
		unlink(tmpfile_path);
	tmpfile_path[0] = '\0';
	return 0;
}

static int load(struct conf *c, int *argi, ...)
{
	char *argv[16] = {"prog"};
	int argc = 1;
	va_list ap;

	va_start(ap, argi);
	for (char *a = va_arg(ap, char *); a; a = va_arg(ap, char *))
		argv[argc++] = a;
	va_end(ap);
	return conf_load(c, argc, argv, argi);
}

static void test_defaults(void **state)
{
	struct conf *c = *state;
	int argi;

	assert_int_equal(load(c, &argi, NULL), TLY_OK);
	assert_int_equal(argi, 1);
	assert_string_equal(conf_str(c, K_NAME), "dflt");
	assert_int_equal(conf_int(c, K_SIZE), 1 << 20);
	assert_int_equal(conf_int(c, K_WAIT), 30000);
	assert_false(conf_bool(c, K_ON));
	assert_null(conf_str(c, K_SECRET));
}

static void test_precedence(void **state)
{
	struct conf *c = *state;
	const char *f = write_conf("name = fromfile\nworkers = 8\n"
				   "[buffer]\nmax_bytes = 2MB\n");
	int argi;

	setenv("TALLY_NAME", "fromenv", 1);
	setenv("TALLY_BUFFER_MAX_BYTES", "3MB", 1);
	assert_int_equal(load(c, &argi, "-c", f, "--max-bytes", "4MB", NULL),
			 TLY_OK);
	assert_string_equal(conf_str(c, K_NAME), "fromenv");	/* env > file */
	assert_int_equal(conf_int(c, K_SIZE), 4 << 20);		/* flag > env */
	assert_int_equal(conf_int(c, K_N), 8);			/* file > default */
	assert_string_equal(c->path, f);
}

static void test_config_from_env(void **state)
{
	struct conf *c = *state;
	const char *f = write_conf("workers = 9\n");
	int argi;

	setenv("TALLY_CONFIG", f, 1);
	assert_int_equal(load(c, &argi, NULL), TLY_OK);
	assert_int_equal(conf_int(c, K_N), 9);
}

static void test_unknown_key_names_file_line(void **state)
{
	struct conf *c = *state;
	char want[128];
	const char *f = write_conf("name = x\n\n[buffer]\nmax_byte = 2MB\n");
	int argi;

	assert_int_equal(load(c, &argi, "--config", f, NULL), TLY_ECONFIG);
	snprintf(want, sizeof(want), "config file %s line 4: unknown key "
		 "'max_byte' in section [buffer]", f);
	assert_string_equal(c->err, want);
}

static void test_bad_value_in_file(void **state)
{
	struct conf *c = *state;
	const char *f = write_conf("[buffer]\nmax_bytes = 12x\n");
	int argi;

	assert_int_equal(load(c, &argi, "-c", f, NULL), TLY_ECONFIG);
	assert_non_null(strstr(c->err, "line 2: buffer.max_bytes = '12x' is "
				       "not valid: expected a size"));
}

static void test_missing_file(void **state)
{
	struct conf *c = *state;
	int argi;

	assert_int_equal(load(c, &argi, "-c", "/nonexistent/t.conf", NULL),
			 TLY_ECONFIG);
	assert_non_null(strstr(c->err, "/nonexistent/t.conf: cannot open"));
}

static void test_bad_env_names_variable(void **state)
{
	struct conf *c = *state;
	int argi;

	setenv("TALLY_WORKERS", "100", 1);
	assert_int_equal(load(c, &argi, NULL), TLY_ECONFIG);
	assert_string_equal(c->err, "TALLY_WORKERS: workers = '100' is out of "
				    "range [1, 64]");
}

static void test_flags(void **state)
{
	struct conf *c = *state;
	int argi;

	assert_int_equal(load(c, &argi, "--name=a=b", "--on", "--listen",
			      "[::1]:80", "send", "--code", "x", NULL), TLY_OK);
	assert_string_equal(conf_str(c, K_NAME), "a=b");
	assert_true(conf_bool(c, K_ON));
	assert_string_equal(conf_str(c, K_ADDR), "[::1]:80");
	assert_int_equal(argi, 5);	/* "send" */
}

static void test_flag_errors(void **state)
{
	struct conf *c = *state;
	int argi;

	assert_int_equal(load(c, &argi, "--nope", NULL), TLY_ECONFIG);
	assert_string_equal(c->err, "unknown option '--nope' (see --help)");
	assert_int_equal(load(c, &argi, "--name", NULL), TLY_ECONFIG);
	assert_non_null(strstr(c->err, "--name: needs a value"));
	assert_int_equal(load(c, &argi, "--listen", "localhost", NULL),
			 TLY_ECONFIG);
	assert_non_null(strstr(c->err, "--listen: listen = 'localhost' is not "
				       "valid: expected HOST:PORT"));
}

static void test_types(void **state)
{
	struct conf *c = *state;

	assert_int_equal(conf_set(c, K_SIZE, "64KiB", "t"), TLY_OK);
	assert_int_equal(conf_int(c, K_SIZE), 65536);
	assert_int_equal(conf_set(c, K_SIZE, "2g", "t"), TLY_OK);
	assert_int_equal(conf_int(c, K_SIZE), 2LL << 30);
	assert_int_equal(conf_set(c, K_SIZE, "1000", "t"), TLY_ECONFIG);
	assert_int_equal(conf_set(c, K_SIZE, "-5MB", "t"), TLY_ECONFIG);
	assert_int_equal(conf_set(c, K_SIZE, "99999999999999999999", "t"),
			 TLY_ECONFIG);
	assert_int_equal(conf_int(c, K_SIZE), 2LL << 30);	/* unchanged */
	assert_int_equal(conf_set(c, K_WAIT, "250ms", "t"), TLY_OK);
	assert_int_equal(conf_int(c, K_WAIT), 250);
	assert_int_equal(conf_set(c, K_WAIT, "7d", "t"), TLY_OK);
	assert_int_equal(conf_int(c, K_WAIT), 7LL * 86400000);
	assert_int_equal(conf_set(c, K_WAIT, "5", "t"), TLY_OK);
	assert_int_equal(conf_int(c, K_WAIT), 5000);
	assert_int_equal(conf_set(c, K_WAIT, "5 s", "t"), TLY_ECONFIG);
	assert_int_equal(conf_set(c, K_ON, "yes", "t"), TLY_OK);
	assert_true(conf_bool(c, K_ON));
	assert_int_equal(conf_set(c, K_ON, "maybe", "t"), TLY_ECONFIG);
	assert_int_equal(conf_set(c, K_MODE, "mqtt", "t"), TLY_OK);
	assert_int_equal(conf_set(c, K_MODE, "mqt", "t"), TLY_ECONFIG);
	assert_string_equal(c->err, "t: ship.transport = 'mqt' is not valid: "
				    "expected http|mqtt");
	assert_int_equal(conf_set(c, K_N, "4x", "t"), TLY_ECONFIG);
}

static void test_hostport(void **state)
{
	char host[64];
	int port;

	(void)state;
	assert_int_equal(conf_split_hostport("127.0.0.1:7481", host,
					     sizeof(host), &port), TLY_OK);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 7481);
	assert_int_equal(conf_split_hostport("[::1]:0", host, sizeof(host),
					     &port), TLY_OK);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(conf_split_hostport(":7480", host, sizeof(host),
					     &port), TLY_OK);
	assert_string_equal(host, "");
	assert_int_equal(conf_split_hostport("::1:80", host, sizeof(host),
					     &port), TLY_EINVAL);
	assert_int_equal(conf_split_hostport("h:65536", host, sizeof(host),
					     &port), TLY_EINVAL);
	assert_int_equal(conf_split_hostport("h:", host, sizeof(host), &port),
			 TLY_EINVAL);
	assert_int_equal(conf_split_hostport("verylonghostname:1", host, 4,
					     &port), TLY_EINVAL);
}

static void test_env_name(void **state)
{
	char buf[64];

	(void)state;
	conf_env_name("buffer.max_bytes", buf, sizeof(buf));
	assert_string_equal(buf, "TALLY_BUFFER_MAX_BYTES");
	conf_env_name("buffer.max_bytes", buf, 10);
	assert_string_equal(buf, "TALLY_BUF");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_defaults),
		T(test_precedence),
		T(test_config_from_env),
		T(test_unknown_key_names_file_line),
		T(test_bad_value_in_file),
		T(test_missing_file),
		T(test_bad_env_names_variable),
		T(test_flags),
		T(test_flag_errors),
		T(test_types),
		T(test_hostport),
		T(test_env_name),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
