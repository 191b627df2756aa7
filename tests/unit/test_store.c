/*
 * test_store.c - the collector store's group commit (store_write): many
 * writers at once lose nothing and add nothing; a job that fails in a
 * shared round keeps nothing of its own while the others of its round
 * are run again and committed; what a committed round wrote survives the
 * store's close and reopen.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "store.h"

static char dir[TMPDIR_LEN];
static char url[128];

static int setup(void **state)
{
	(void)state;
	tmpdir_make(dir, "store");
	snprintf(url, sizeof(url), "sqlite:%s/c.db", dir);
	log_init("test", LOG_ERROR + 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tmpdir_remove(dir);
	return 0;
}

static struct store *open_store(void)
{
	struct store *s = NULL;
	struct store_conn *c;

	assert_int_equal(store_open(&s, url), TLY_OK);
	c = store_acquire(s);
	assert_int_equal(store_exec(c, "CREATE TABLE IF NOT EXISTS t "
				    "(id INTEGER PRIMARY KEY)"), TLY_OK);
	store_release(c);
	return s;
}

static int64_t count(struct store *s, const char *sql)
{
	struct store_conn *c = store_acquire(s);
	struct store_stmt *st;
	int64_t n;

	assert_int_equal(store_prepare(c, sql, &st), TLY_OK);
	assert_int_equal(store_step(st), STORE_ROW);
	n = store_col_i64(st, 0);
	store_reset(st);
	store_release(c);
	return n;
}

/* A job inserting row `id`; fail: insert, then report an error. */
struct ins {
	int64_t id;
	int fail;
	int runs;
};

static int ins_run(struct store_conn *c, void *arg)
{
	static const char sql[] = "INSERT INTO t (id) VALUES (?)";
	struct ins *a = arg;
	struct store_stmt *st;
	int rc;

	a->runs++;
	rc = store_prepare(c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, a->id);
	rc = store_run(st);
	return rc == TLY_OK && a->fail ? TLY_EINVAL : rc;
}

struct writer {
	struct store *s;
	int64_t first, n;
	int failures;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (int64_t i = 0; i < w->n; i++) {
		struct ins a = {w->first + i, 0, 0};
		struct store_job j = {.run = ins_run, .arg = &a};

		if (store_write(w->s, &j) != TLY_OK)
			w->failures++;
	}
	return NULL;
}

static void test_many_writers(void **state)
{
	struct store *s = open_store();
	struct writer w[8];
	pthread_t th[8];

	(void)state;
	for (int i = 0; i < 8; i++) {
		w[i] = (struct writer){s, (int64_t)i * 1000, 250, 0};
		assert_int_equal(pthread_create(&th[i], NULL, writer_main,
						&w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(count(s, "SELECT count(*) FROM t"), 2000);
	store_close(&s);
	/* Acknowledged means kept. */
	s = open_store();
	assert_int_equal(count(s, "SELECT count(DISTINCT id) FROM t"), 2000);
	store_close(&s);
}

struct one {
	struct store *s;
	struct ins a;
	int rc;
};

static void *one_main(void *arg)
{
	struct one *o = arg;
	struct store_job j = {.run = ins_run, .arg = &o->a};

	o->rc = store_write(o->s, &j);
	return NULL;
}

static void test_failed_job_set_aside(void **state)
{
	struct store *s = open_store();
	struct one o[3] = {
		{s, {1, 0, 0}, -1}, {s, {2, 1, 0}, -1}, {s, {3, 0, 0}, -1},
	};
	pthread_t th[3];
	struct store_conn *held;

	(void)state;
	/* Holding the connection, the three queue behind one leader and
	 * share its round once it is let go. */
	held = store_acquire(s);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, one_main, &o[i]),
				 0);
		usleep(100000);
	}
	store_release(held);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(o[0].rc, TLY_OK);
	assert_int_equal(o[1].rc, TLY_EINVAL);
	assert_int_equal(o[2].rc, TLY_OK);
	/* 1 and 3 kept, 2 (which did insert before failing) not. */
	assert_int_equal(count(s, "SELECT count(*) FROM t"), 2);
	assert_int_equal(count(s, "SELECT count(*) FROM t WHERE id = 2"), 0);
	/* The round ran again without the failed job: 1 ran twice. */
	assert_int_equal(o[0].a.runs, 2);
	assert_int_equal(o[1].a.runs, 1);
	store_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_many_writers),
		T(test_failed_job_set_aside),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
