/*
 * buf_schema.h - the buffer's events table, its INSERT and what an event
 * counts against buffer.max_bytes, in one place for agent/buf.c and
 * bench/limit.c (the limit stores exactly the agent's rows).
 */
#ifndef TALLY_BUF_SCHEMA_H
#define TALLY_BUF_SCHEMA_H

#define BUF_EVENT_OVERHEAD 48	/* bytes counted per event beyond its text */

/* Events taken and not yet batched.  fkey/agg/val are set when the
 * event pre-aggregates (props is then not needed and NULL). */
#define BUF_EVENTS_TABLE \
	"CREATE TABLE events (" \
	"  id INTEGER PRIMARY KEY," \
	"  tx TEXT NOT NULL, sub TEXT, customer TEXT, code TEXT NOT NULL," \
	"  ts_ms INTEGER NOT NULL, props TEXT, ptac TEXT," \
	"  agg TEXT, fkey TEXT, val TEXT," \
	"  bytes INTEGER NOT NULL);"

/* The INSERT's head; VALUES of BUF_EVENT_COLS bindings follow. */
#define BUF_EVENTS_INSERT "INSERT INTO events (tx, sub, customer, code, " \
	"ts_ms, props, ptac, agg, fkey, val, bytes)"
#define BUF_EVENT_COLS 11

#endif
