/*
 * limit.c - what SQLite alone can do with the agent's buffer on this
 * machine: the ceiling the agent's intake is measured against.
 *
 * It stores the rows agent/buf.c stores for each event the load
 * generator sends (bench_event.h), with the schema of buf.c's migrations
 * and the statements of agent/seen.c: an INSERT into `seen_log` and one
 * into `events`, and every SEEN_LOG_MAX keys the merge of the log into
 * the newest run of `seen`; through prepared statements, EVENTS_PER_TX events per
 * transaction, in WAL mode with synchronous=NORMAL (the agent's default
 * durability).  One thread; no parsing, no network.  It does not look
 * keys up: every key is new, and the agent answers a new key from memory
 * (seen.c's mirror and Bloom filter) but for the filter's <1% false hits.
 * One row per INSERT, as the bench's definition of the limit has it (the
 * agent itself binds 32 events rows to an INSERT, 64 seen_log rows).
 * Prints one JSON line.
 *
 *   limit [-n EVENTS] [-t EVENTS_PER_TX] [-p PREFIX] [-s SUBS] [-q] DB
 *
 * -q: transaction ids in order (bench_event.h), not scrambled.
 */
#include <getopt.h>
#include <stdint.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "bench_event.h"
#include "buf_schema.h"
#include "seen.h"

/* agent/buf.c, migrations 1 and 2: the tables intake writes (events,
 * seen, seen_runs, seen_log). */
static const char schema[] =
	BUF_EVENTS_TABLE
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	SEEN_SCHEMA SEEN_MIGRATION_2;

/* agent/seen.c: its seen_log INSERT (one row), and a merge (seen.h's
 * SEEN_SQL_*, then Q_CLEAR);
 * agent/buf.c: S_EVENT (buf_schema.h). */
static const char sql_log[] = "INSERT INTO seen_log (fp, at) VALUES (?, ?)";
static const char sql_clear[] = "DELETE FROM seen_log";
static const char sql_event[] =
	BUF_EVENTS_INSERT " VALUES (?,?,?,?,?,?,?,?,?,?,?)";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "limit: %s: %s\n", what,
		db ? sqlite3_errmsg(db) : "cannot open");
	exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "limit: %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static int step(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		die(db, sqlite3_sql(st));
	sqlite3_reset(st);
	return rc;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
			       NULL) != SQLITE_OK)
		die(db, sql);
	return st;
}

/* The statements of a merge, as agent/seen.c's merge_log runs them. */
struct merge_sql {
	sqlite3_stmt *last, *merge, *span, *put;
};

static void merge(sqlite3 *db, struct merge_sql *m, uint64_t logged)
{
	int64_t run = 0;

	if (sqlite3_step(m->last) == SQLITE_ROW) {
		run = sqlite3_column_int64(m->last, 0);
		if ((uint64_t)sqlite3_column_int64(m->last, 1) + logged >
		    (uint64_t)SEEN_RUN_LOGS * SEEN_LOG_MAX)
			run++;
	}
	sqlite3_reset(m->last);
	sqlite3_bind_int64(m->merge, 1, run);
	step(db, m->merge);
	if (sqlite3_step(m->span) != SQLITE_ROW)
		die(db, SEEN_SQL_LOG_SPAN);
	sqlite3_bind_int64(m->put, 1, run);
	for (int c = 0; c < 3; c++)
		sqlite3_bind_int64(m->put, c + 2,
				   sqlite3_column_int64(m->span, c));
	sqlite3_reset(m->span);
	step(db, m->put);
	exec(db, sql_clear);
}

static void usage(void)
{
	fprintf(stderr, "usage: limit [-n EVENTS] [-t EVENTS_PER_TX] "
		"[-p PREFIX] [-s SUBS] [-q] DB\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench_ev b = {"limit", "bench_raw", "gb", NULL, 10, 0, 0, 0};
	unsigned long long n = 1000000, per_tx = 1000;
	sqlite3_stmt *logged, *event;
	struct merge_sql m;
	unsigned long long logged_n = 0;
	sqlite3 *db = NULL;
	double t0, dt;
	int opt;

	while ((opt = getopt(argc, argv, "n:t:p:s:q")) != -1) {
		switch (opt) {
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 't': per_tx = strtoull(optarg, NULL, 10); break;
		case 'p': b.prefix = optarg; break;
		case 's': b.subs = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'q': b.seq_tx = 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || per_tx == 0 || b.subs == 0)
		usage();
	b.ts_base = (int64_t)time(NULL) - 3600;
	remove(argv[optind]);
	if (sqlite3_open(argv[optind], &db) != SQLITE_OK)
		die(db, argv[optind]);
	/* shared/db.c's db_open, as the agent's writer gets it. */
	exec(db, "PRAGMA journal_mode=WAL");
	exec(db, "PRAGMA synchronous=NORMAL");
	exec(db, "PRAGMA foreign_keys=ON");
	exec(db, schema);
	logged = prepare(db, sql_log);
	event = prepare(db, sql_event);
	m.last = prepare(db, SEEN_SQL_RUN_LAST);
	m.merge = prepare(db, SEEN_SQL_MERGE);
	m.span = prepare(db, SEEN_SQL_LOG_SPAN);
	m.put = prepare(db, SEEN_SQL_RUN_PUT);

	t0 = now_s();
	for (unsigned long long i = 0; i < n; i++) {
		char tx[128], props[128];
		struct seen_key fp;
		int64_t now_ms = (int64_t)time(NULL) * 1000;
		char sub[32];
		int plen;

		if (i % per_tx == 0)
			exec(db, "BEGIN IMMEDIATE");
		bench_ev_tx(&b, i, tx, sizeof(tx));
		snprintf(sub, sizeof(sub), "sub_%u", (unsigned)(i % b.subs));
		seen_fingerprint(42, sub, NULL, tx, &fp);
		plen = bench_ev_props(&b, i, props, sizeof(props));
		if (logged_n++ == SEEN_LOG_MAX) {
			merge(db, &m, SEEN_LOG_MAX);
			logged_n = 1;
		}
		sqlite3_bind_blob(logged, 1, fp.b, 16, SQLITE_STATIC);
		sqlite3_bind_int64(logged, 2, now_ms);
		step(db, logged);
		sqlite3_bind_text(event, 1, tx, -1, SQLITE_STATIC);
		sqlite3_bind_text(event, 2, sub, -1, SQLITE_STATIC);
		sqlite3_bind_null(event, 3);
		sqlite3_bind_text(event, 4, b.code, -1, SQLITE_STATIC);
		sqlite3_bind_int64(event, 5, bench_ev_ts(&b, i) * 1000);
		sqlite3_bind_text(event, 6, props, plen, SQLITE_STATIC);
		for (int c = 7; c <= 10; c++)
			sqlite3_bind_null(event, c);
		sqlite3_bind_int64(event, 11, (int64_t)(strlen(tx) +
			strlen(b.code) + strlen(sub) + (size_t)plen +
			BUF_EVENT_OVERHEAD));
		step(db, event);
		if (i % per_tx == per_tx - 1 || i == n - 1)
			exec(db, "COMMIT");
	}
	dt = now_s() - t0;

	sqlite3_finalize(logged);
	sqlite3_finalize(event);
	sqlite3_finalize(m.last);
	sqlite3_finalize(m.merge);
	sqlite3_finalize(m.span);
	sqlite3_finalize(m.put);
	sqlite3_close(db);
	printf("{\"events\":%llu,\"events_per_tx\":%llu,\"seconds\":%.4f,"
	       "\"events_per_s\":%.0f}\n", n, per_tx, dt, dt > 0 ? n / dt : 0);
	return 0;
}
