/*
 * main.c - tally-collector: configuration, subcommands, and the daemon's
 * life: open the store, serve, wait for SIGTERM/SIGINT, stop cleanly.
 *
 * Signals are blocked before any thread starts, so every thread inherits
 * the mask and only the main thread takes them, in sigwait.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agents.h"
#include "cli.h"
#include "coll.h"
#include "coll_conf.h"
#include "db.h"
#include "err.h"
#include "event.h"
#include "evkey.h"
#include "ingest_mqtt.h"
#include "invoice_store.h"
#include "jsonmem.h"
#include "log.h"
#include "server.h"
#include "util.h"

static const struct cli_prog coll_prog = {
	.name = "tally-collector",
	.usage =
	"  tally-collector [-c FILE] [--db URL] [--listen HOST:PORT] [--mqtt URI]\n"
	"                  [--api-key KEY]\n"
	"  tally-collector [-c FILE] [--db URL] agents add AGENT_ID\n"
	"  tally-collector [-c FILE] [--db URL] agents list\n"
	"  tally-collector [-c FILE] [--db URL] agents revoke AGENT_ID\n"
	"  tally-collector [-c FILE] [--db URL] bill --at TIME\n",
	.keys = coll_keys,
	.nkeys = CK_COUNT,
	.log_level_key = CK_LOG_LEVEL,
};

static void open_store(struct coll *co)
{
	int rc = store_open(&co->store, conf_str(co->conf, CK_DB));

	if (rc == TLY_OK) {
		rc = evkey_open(co->store, 0, &co->evkey);
		if (rc != TLY_OK)
			store_close(&co->store);
	}
	if (rc != TLY_OK)
		cli_die(&coll_prog, rc == TLY_ECONFIG ? 2 : 1,
			"cannot open the store %s: %s (see the log above)",
			conf_str(co->conf, CK_DB), tly_strerror(rc));
}

static void close_store(struct coll *co)
{
	evkey_close(&co->evkey);
	store_close(&co->store);
}

static int cmd_agents(struct coll *co, int argc, char **argv)
{
	const char *verb = argc > 0 ? argv[0] : "";
	const char *id = argc > 1 ? argv[1] : NULL;
	char token[AGENT_TOKEN_LEN];
	struct store_conn *c;
	int rc;

	if (strcmp(verb, "list") != 0 && (!id || argc != 2))
		cli_die(&coll_prog, 2, "usage: agents add|revoke AGENT_ID, or "
			"agents list");
	open_store(co);
	c = store_acquire(co->store);
	if (strcmp(verb, "add") == 0) {
		rc = agents_add(c, id, token);
		if (rc == TLY_OK)
			printf("%s\n", token);
		else if (rc == TLY_EEXIST)
			fprintf(stderr, "tally-collector: agent '%s' exists "
				"already (ids are never reused)\n", id);
		else if (rc == TLY_EINVAL)
			fprintf(stderr, "tally-collector: agent id '%s' is not "
				"valid: 1-%d characters of A-Z a-z 0-9 . _ -\n",
				id, WIRE_AGENT_ID_MAX);
	} else if (strcmp(verb, "revoke") == 0) {
		rc = agents_revoke(c, id);
		if (rc == TLY_ENOTFOUND)
			fprintf(stderr, "tally-collector: no active agent '%s'\n",
				id);
	} else if (strcmp(verb, "list") == 0) {
		rc = agents_list(c, stdout);
	} else {
		store_release(c);
		cli_die(&coll_prog, 2, "unknown agents command '%s' (add, "
			"list, revoke)", verb);
	}
	store_release(c);
	close_store(co);
	return rc == TLY_OK ? 0 : 1;
}

/* Bill every period due at `at_ms`; prints what it made. */
static int bill_at(struct coll *co, int64_t at_ms)
{
	struct inv_bill_opts o = {at_ms, util_now_ms(),
				  conf_int(co->conf, CK_GRACE_PERIOD)};
	struct store_conn *c = store_acquire(co->store);
	int created, finalized, rc;

	rc = inv_bill(c, &o, &created, &finalized);
	store_release(c);
	if (rc == TLY_OK && (created || finalized))
		log_info("bill: %d invoices made, %d finalized", created,
			 finalized);
	return rc;
}

static int cmd_bill(struct coll *co, int argc, char **argv)
{
	int64_t at;
	int rc;

	if (argc != 2 || strcmp(argv[0], "--at") != 0)
		cli_die(&coll_prog, 2, "usage: bill --at TIME (RFC 3339 or Unix "
			"seconds)");
	if (ev_parse_time(argv[1], &at) != TLY_OK)
		cli_die(&coll_prog, 2, "bill: --at '%s' is not a time (RFC 3339 "
			"such as 2025-12-01T00:00:00Z, or Unix seconds)", argv[1]);
	open_store(co);
	rc = bill_at(co, at);
	close_store(co);
	if (rc != TLY_OK)
		fprintf(stderr, "tally-collector: bill: %s (see the log "
			"above)\n", tly_strerror(rc));
	return rc == TLY_OK ? 0 : 1;
}

static int serve(struct coll *co)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!co->api_key)
		log_warn("no api_key set: the /api/v1 API answers 401 to all");
	open_store(co);
	if (server_start(co) != TLY_OK) {
		close_store(co);
		cli_die(&coll_prog, 1, "cannot start the HTTP server (see the "
			"log above)");
	}
	if (conf_str(co->conf, CK_MQTT) && ingest_mqtt_start(co) != TLY_OK) {
		server_stop(co);
		close_store(co);
		cli_die(&coll_prog, 2, "cannot consume from the MQTT broker %s "
			"(see the log above)", conf_str(co->conf, CK_MQTT));
	}
	/* The scheduler: bill what is due, then wait for the next tick or
	 * a signal, whichever comes first. */
	for (;;) {
		int64_t ms = conf_int(co->conf, CK_BILL_INTERVAL);
		struct timespec tick = {ms / 1000, (ms % 1000) * 1000000};

		if (bill_at(co, util_now_ms()) != TLY_OK)
			log_error("bill: the scheduled run failed; it will "
				  "run again in %lld ms", (long long)ms);
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	log_info("signal %d: stopping", sig);
	ingest_mqtt_stop(co);
	server_stop(co);
	close_store(co);
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct coll co = {0};
	struct conf c;
	int argi, rc;

	jsonmem_init();		/* before any thread uses cJSON */
	db_global_init();	/* before any other SQLite call */
	cli_start(&coll_prog, &c, argc, argv, &argi);
	co.conf = &c;
	co.api_key = conf_str(&c, CK_API_KEY);
	co.limits = wire_default_limits;
	co.limits.max_compressed = (size_t)conf_int(&c, CK_HTTP_MAX_BODY);
	co.limits.max_inflated = (size_t)conf_int(&c, CK_INGEST_MAX_INFLATED);
	co.limits.max_ratio = (unsigned)conf_int(&c, CK_INGEST_MAX_RATIO);
	co.events_batch_max = (size_t)conf_int(&c, CK_EVENTS_BATCH_MAX);
	if (argi < argc && strcmp(argv[argi], "agents") == 0)
		rc = cmd_agents(&co, argc - argi - 1, argv + argi + 1);
	else if (argi < argc && strcmp(argv[argi], "bill") == 0)
		rc = cmd_bill(&co, argc - argi - 1, argv + argi + 1);
	else if (argi < argc)
		cli_die(&coll_prog, 2, "unknown command '%s' (see --help)",
			argv[argi]);
	else
		rc = serve(&co);
	conf_free(&c);
	return rc;
}
