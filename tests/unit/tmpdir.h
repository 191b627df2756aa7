/*
 * tmpdir.h - a scratch directory for the unit tests that need files:
 * made by a test's setup under /tmp, removed whole by its teardown.
 * Include after cmocka.h.
 */
#ifndef TALLY_TEST_TMPDIR_H
#define TALLY_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

#define TMPDIR_LEN 64

/* /tmp/tally-NAME-XXXXXX, made; name is short. */
static inline void tmpdir_make(char dir[TMPDIR_LEN], const char *name)
{
	snprintf(dir, TMPDIR_LEN, "/tmp/tally-%s-XXXXXX", name);
	assert_non_null(mkdtemp(dir));
}

static inline void tmpdir_remove(const char *dir)
{
	char cmd[TMPDIR_LEN + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

#endif
