/*
 * main.c - tally-agent: configuration, the daemon's life, and the `send`
 * and `status` commands.
 *
 * Start-up order: buffer, shipper, then the intakes; shutdown runs it
 * backwards, so no event is taken after the buffer stops and every event
 * answered 200 was committed.  Signals are blocked before any thread
 * starts; the main thread takes them in sigtimedwait, which also paces
 * the dedup-window pruning.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agent_conf.h"
#include "cli.h"
#include "db.h"
#include "err.h"
#include "jsonmem.h"
#include "log.h"
#include "util.h"

static const struct cli_prog agent_prog = {
	.name = "tally-agent",
	.usage =
	"  tally-agent [-c FILE] [--id ID] [--data-dir DIR] [--listen HOST:PORT]\n"
	"              [--collector URL | --mqtt URI] [--token TOKEN]\n"
	"  tally-agent [--listen HOST:PORT] send --code C --subscription S\n"
	"              [--transaction-id T] [--timestamp TS] [KEY=VALUE ...]\n"
	"  tally-agent [--listen HOST:PORT] [--data-dir DIR] status\n",
	.keys = agent_keys,
	.nkeys = AK_COUNT,
	.log_level_key = AK_LOG_LEVEL,
};

/* http://HOST:PORT of the agent's own intake, for send and status. */
static void intake_url(struct conf *c, const char *path, char *out,
		       size_t size)
{
	char host[256];
	int port = 7481;

	if (conf_split_hostport(conf_str(c, AK_LISTEN), host, sizeof(host),
				&port) != TLY_OK || !host[0] ||
	    !strcmp(host, "0.0.0.0"))
		snprintf(host, sizeof(host), "127.0.0.1");
	if (!strcmp(host, "::"))
		snprintf(host, sizeof(host), "::1");
	snprintf(out, size, strchr(host, ':') ? "http://[%s]:%d%s" :
		 "http://%s:%d%s", host, port, path);
}

struct reply {
	char body[8192];
	size_t len;
};

static size_t on_reply(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, p, len < room ? len : room);
	r->len += len < room ? len : room;
	r->body[r->len] = '\0';
	return size * n;
}

/* One request to the local agent; *code 0 when it could not be reached. */
static int local_request(const char *url, const char *post, long *code,
			 struct reply *r)
{
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	CURLcode cc;

	*code = 0;
	r->len = 0;
	r->body[0] = '\0';
	if (!c)
		return TLY_ENOMEM;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (post) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
	}
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	else
		snprintf(r->body, sizeof(r->body), "%s",
			 curl_easy_strerror(cc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return cc == CURLE_OK ? TLY_OK : TLY_ENET;
}

/* KEY=VALUE arguments into the properties object. */
static int add_props(cJSON *props, int argc, char **argv, int i)
{
	for (; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		char key[EV_PROP_KEY_MAX + 1];

		if (!eq || eq == argv[i] ||
		    (size_t)(eq - argv[i]) > EV_PROP_KEY_MAX)
			cli_die(&agent_prog, 2, "send: '%s' is not KEY=VALUE",
				argv[i]);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		if (!cJSON_AddStringToObject(props, key, eq + 1))
			return TLY_ENOMEM;
	}
	return TLY_OK;
}

static cJSON *send_event(int argc, char **argv)
{
	static const char *const flags[] = {"--code", "--subscription",
					    "--transaction-id", "--timestamp"};
	static const char *const keys[] = {"code", "external_subscription_id",
					   "transaction_id", "timestamp"};
	cJSON *root = cJSON_CreateObject(), *ev, *props;
	char id[UTIL_UUID_LEN];
	int i;

	ev = cJSON_AddObjectToObject(root, "event");
	for (i = 1; ev && i < argc && !strncmp(argv[i], "--", 2); i += 2) {
		size_t k = 0;

		while (k < 4 && strcmp(argv[i], flags[k]) != 0)
			k++;
		if (k == 4 || i + 1 >= argc)
			cli_die(&agent_prog, 2, "send: unknown option or "
				"missing value: %s", argv[i]);
		cJSON_AddStringToObject(ev, keys[k], argv[i + 1]);
	}
	if (ev && !cJSON_GetObjectItem(ev, "transaction_id") &&
	    util_uuid(id) == TLY_OK)
		cJSON_AddStringToObject(ev, "transaction_id", id);
	props = ev ? cJSON_AddObjectToObject(ev, "properties") : NULL;
	if (!props || add_props(props, argc, argv, i) != TLY_OK) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static int cmd_send(struct conf *c, int argc, char **argv)
{
	cJSON *ev = send_event(argc, argv);
	char url[300], *body;
	struct reply r;
	long code;

	if (!ev)
		cli_die(&agent_prog, 1, "send: out of memory");
	body = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	intake_url(c, "/api/v1/events", url, sizeof(url));
	if (!body || local_request(url, body, &code, &r) != TLY_OK) {
		fprintf(stderr, "tally-agent: send: cannot reach the agent at "
			"%s: %s\n", url, r.body);
		free(body);
		return 1;
	}
	free(body);
	printf("%s\n", r.body);
	if (code != 200)
		fprintf(stderr, "tally-agent: send: refused (HTTP %ld)\n", code);
	return code == 200 ? 0 : 1;
}

/* The running agent's /v1/status, or the stopped one's buffer. */
static int cmd_status(struct conf *c)
{
	struct buf_stats st;
	struct reply r;
	char url[300];
	long code;

	intake_url(c, "/v1/status", url, sizeof(url));
	if (local_request(url, NULL, &code, &r) == TLY_OK && code == 200) {
		printf("%s\n", r.body);
		return 0;
	}
	if (buf_stat_dir(conf_str(c, AK_DATA_DIR), &st) != TLY_OK) {
		fprintf(stderr, "tally-agent: status: no agent at %s and no "
			"buffer in %s\n", url, conf_str(c, AK_DATA_DIR));
		return 1;
	}
	printf("{\"running\":false,\"buffered_events\":%lld,"
	       "\"pending_events\":%lld,\"outbox_batches\":%lld,"
	       "\"outbox_bytes\":%lld,\"last_acked_seq\":%lld,"
	       "\"dropped_events\":%lld}\n", (long long)st.buffered_events,
	       (long long)st.pending_events, (long long)st.outbox_batches,
	       (long long)st.outbox_bytes, (long long)st.last_acked_seq,
	       (long long)st.dropped_total);
	return 0;
}

static int start_mqtt(struct agent *a, const char *id,
		      const struct ship_opts *so)
{
	struct ship_mqtt_opts mo = {
		.uri = conf_str(a->conf, AK_MQTT),
		.agent_id = id,
		.username = conf_str(a->conf, AK_MQTT_USERNAME),
		.password = conf_str(a->conf, AK_MQTT_PASSWORD),
		.ca_file = conf_str(a->conf, AK_MQTT_CA_FILE),
		.cert_file = conf_str(a->conf, AK_MQTT_CERT_FILE),
		.key_file = conf_str(a->conf, AK_MQTT_KEY_FILE),
	};

	if (!mo.uri) {
		log_error("ship.transport=mqtt needs the broker: --mqtt URI "
			  "(mqtt://HOST:PORT or mqtts://HOST:PORT)");
		return TLY_ECONFIG;
	}
	if (!mo.ca_file)
		mo.ca_file = so->ca_file;
	if (!mo.password)
		log_warn("no mqtt.password: the broker will likely refuse "
			 "agent %s", id);
	return ship_mqtt_start(&a->ship, a->buf, so, &mo);
}

static int start_shipping(struct agent *a, const char *id)
{
	struct ship_opts so = {
		.collector = conf_str(a->conf, AK_COLLECTOR),
		.token = conf_str(a->conf, AK_TOKEN),
		.ca_file = conf_str(a->conf, AK_CA_FILE),
		.inflight = (int)conf_int(a->conf, AK_INFLIGHT),
		.backoff_min_ms = conf_int(a->conf, AK_BACKOFF_MIN),
		.backoff_max_ms = conf_int(a->conf, AK_BACKOFF_MAX),
		.flush_interval_ms = conf_int(a->conf, AK_FLUSH_INTERVAL),
		.batch_max_events = conf_int(a->conf, AK_BATCH_MAX_EVENTS),
		.catalog_interval_ms = conf_int(a->conf, AK_CATALOG_INTERVAL),
	};

	if (strcmp(conf_str(a->conf, AK_TRANSPORT), "mqtt") == 0 ||
	    conf_str(a->conf, AK_MQTT))
		return start_mqtt(a, id, &so);
	if (!so.token)
		log_warn("no --token: the collector will refuse batches from "
			 "agent %s", id);
	return ship_http_start(&a->ship, a->buf, &so);
}

static int start(struct agent *a, const char *id, char *sock_path,
		 size_t sock_size)
{
	struct buf_opts bo = {
		.dir = conf_str(a->conf, AK_DATA_DIR),
		.max_bytes = conf_int(a->conf, AK_BUF_MAX_BYTES),
		.full_policy = strcmp(conf_str(a->conf, AK_FULL_POLICY),
				      "drop_oldest") ? BUF_REJECT :
				       BUF_DROP_OLDEST,
		.dedup_window_ms = conf_int(a->conf, AK_DEDUP_WINDOW),
		.durable_full = !strcmp(conf_str(a->conf, AK_DURABILITY), "full"),
		.batch_max_events = (size_t)conf_int(a->conf,
						     AK_BATCH_MAX_EVENTS),
		.agent_id = id,
	};
	int rc;

	snprintf(sock_path, sock_size, "%s", conf_str(a->conf, AK_SOCKET) ?
		 conf_str(a->conf, AK_SOCKET) : "");
	if (!sock_path[0])
		snprintf(sock_path, sock_size, "%s/agent.sock", bo.dir);
	rc = buf_open(&a->buf, &bo);
	if (rc == TLY_OK)
		rc = start_shipping(a, id);
	if (rc == TLY_OK)
		rc = intake_http_start(a);
	if (rc == TLY_OK)
		rc = intake_sock_start(a, sock_path);
	return rc;
}

static void stop(struct agent *a)
{
	intake_sock_stop(a);
	intake_http_stop(a);
	ship_stop(&a->ship);
	buf_close(&a->buf);
}

static int serve(struct agent *a)
{
	char host[256], sock_path[4096];
	const char *id = conf_str(a->conf, AK_ID);
	struct timespec tick = {60, 0};
	sigset_t set;
	int sig;

	if (!id) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "agent");
		host[sizeof(host) - 1] = '\0';
		id = host;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (start(a, id, sock_path, sizeof(sock_path)) != TLY_OK) {
		stop(a);
		cli_die(&agent_prog, 1, "cannot start (see the log above)");
	}
	log_info("agent %s started", id);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig < 0)
			buf_prune(a->buf);
	}
	log_info("signal %d: stopping", sig);
	stop(a);
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct agent a = {0};
	struct conf c;
	int argi, rc;

	jsonmem_init();		/* before any thread uses cJSON */
	db_global_init();	/* before any other SQLite call */
	cli_start(&agent_prog, &c, argc, argv, &argi);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	a.conf = &c;
	a.batch_max = (size_t)conf_int(&c, AK_INTAKE_BATCH_MAX);
	if (argi < argc && strcmp(argv[argi], "send") == 0)
		rc = cmd_send(&c, argc - argi, argv + argi);
	else if (argi < argc && strcmp(argv[argi], "status") == 0)
		rc = cmd_status(&c);
	else if (argi < argc)
		cli_die(&agent_prog, 2, "unknown command '%s' (see --help)",
			argv[argi]);
	else
		rc = serve(&a);
	curl_global_cleanup();
	conf_free(&c);
	return rc;
}
