/*
 * server.h - the collector's HTTP surface: the route table, /healthz and
 * /metrics, and starting and stopping the server from the configuration.
 */
#ifndef TALLY_SERVER_H
#define TALLY_SERVER_H

#include "coll.h"

/* Start serving co's routes as configured (listen, TLS, threads, caps). */
int server_start(struct coll *co);

/* Stop: finish requests in flight, then free.  NULL-safe on co->http. */
void server_stop(struct coll *co);

#endif
