/*
 * agent.h - the agent's shared state, reached by the intake handlers
 * through httpd_req.app and by the socket threads.
 */
#ifndef TALLY_AGENT_H
#define TALLY_AGENT_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "httpd.h"
#include "ship.h"

struct agent {
	struct conf *conf;
	struct buf *buf;
	struct ship *ship;
	struct httpd *http;
	struct sock *sock;
	size_t batch_max;		/* intake.batch_max */
	_Atomic uint64_t requests_full;	/* answered 507 */
	_Atomic uint64_t requests_invalid; /* answered 422 */
};

/* ---- intake_http.c --------------------------------------------------------- */

/* Start the loopback HTTP intake and status server. */
int intake_http_start(struct agent *a);
void intake_http_stop(struct agent *a);

/*
 * Store a parsed request's events; the answer for the sender.  TLY_OK,
 * TLY_EFULL (507), or another error (500).  Shared by both intakes.
 */
int intake_put(struct agent *a, const struct ev_batch *eb, size_t *dups);

/* ---- intake_sock.c --------------------------------------------------------- */

/*
 * Listen on a Unix stream socket at path: newline-delimited event JSON
 * in, one JSON answer line per event out, in order.
 */
int intake_sock_start(struct agent *a, const char *path);
void intake_sock_stop(struct agent *a);

#endif
