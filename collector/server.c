/*
 * server.c - routes, health, metrics and TLS set-up of the collector
 * (see server.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "coll_conf.h"
#include "err.h"
#include "evkey.h"
#include "ingest.h"
#include "log.h"
#include "server.h"

#define API(name) static const struct api_route name##_r = {name, 0}
/* A handler that writes through store_write, without a connection. */
#define API_W(name) static const struct api_route name##_r = {name, 1}

API(api_customers_create);
API(api_customers_get);
API(api_customers_list);
API(api_customers_delete);
API(api_metrics_create);
API(api_metrics_update);
API(api_metrics_get);
API(api_metrics_list);
API(api_metrics_delete);
API(api_taxes_create);
API(api_taxes_update);
API(api_taxes_get);
API(api_taxes_list);
API(api_taxes_delete);
API(api_plans_create);
API(api_plans_update);
API(api_plans_get);
API(api_plans_list);
API(api_plans_delete);
API(api_subscriptions_create);
API(api_subscriptions_update);
API(api_subscriptions_get);
API(api_subscriptions_list);
API(api_subscriptions_delete);
API_W(api_events_create);
API_W(api_events_batch);
API(api_events_get);
API(api_invoices_list);
API(api_invoices_get);
API(api_invoices_finalize);
API(api_invoices_refresh);
API(api_usage_current);
API(api_late_list);
API(api_coupons_create);
API(api_coupons_update);
API(api_coupons_get);
API(api_coupons_list);
API(api_coupons_delete);
API(api_applied_coupons_create);
API(api_applied_coupons_list);
API(api_applied_coupons_delete);

#define R(m, p, name) {m, p, api_entry, &name##_r}

static void healthz(struct httpd_req *req, struct httpd_resp *resp)
{
	(void)req;
	httpd_body(resp, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

/*
 * Bytes of batch bodies received on POST /v1/ingest (as sent, deflated),
 * whatever their fate: what batches cost on the wire, for `make bench`.
 */
static _Atomic uint64_t ingest_bytes;

static void ingest_counted(struct httpd_req *req, struct httpd_resp *resp)
{
	atomic_fetch_add_explicit(&ingest_bytes, req->body_len,
				  memory_order_relaxed);
	ingest_http(req, resp);
}

#define METRIC(buf, n, cap, ...) \
	do { \
		int w_ = snprintf((buf) + (n), (cap) - (n), __VA_ARGS__); \
		if (w_ > 0 && (size_t)w_ < (cap) - (n)) \
			(n) += (size_t)w_; \
	} while (0)

static void metrics(struct httpd_req *req, struct httpd_resp *resp)
{
	static const char *const why[REFUSE_COUNT] = {
		"corrupt", "auth", "forbidden", "too_large", "invalid",
		"internal"};
	struct coll *co = req->app;
	struct httpd_stats hs;
	struct evkey_stats ks;
	size_t n = 0, cap = 4096;
	char *b = malloc(cap);

	if (!b) {
		httpd_error(resp, 500, "out_of_memory", NULL);
		return;
	}
	httpd_get_stats(co->http, &hs);
#define U(x) ((unsigned long long)atomic_load_explicit(&co->x, memory_order_relaxed))
	METRIC(b, n, cap, "# TYPE tally_http_requests_total counter\n"
	       "tally_http_requests_total{class=\"2xx\"} %llu\n"
	       "tally_http_requests_total{class=\"4xx\"} %llu\n"
	       "tally_http_requests_total{class=\"5xx\"} %llu\n",
	       (unsigned long long)hs.status_2xx,
	       (unsigned long long)hs.status_4xx,
	       (unsigned long long)hs.status_5xx);
	METRIC(b, n, cap, "# TYPE tally_batches_total counter\n"
	       "tally_batches_total{result=\"applied\"} %llu\n"
	       "tally_batches_total{result=\"duplicate\"} %llu\n",
	       U(batches_applied), U(batches_duplicate));
	METRIC(b, n, cap, "# TYPE tally_records_applied_total counter\n"
	       "tally_records_applied_total %llu\n"
	       "# TYPE tally_events_total counter\n"
	       "tally_events_total{source=\"agent\"} %llu\n"
	       "tally_events_total{source=\"api\"} %llu\n"
	       "# TYPE tally_events_duplicate_total counter\n"
	       "tally_events_duplicate_total %llu\n",
	       U(records_applied), U(events_applied), U(api_events),
	       U(events_duplicate));
	METRIC(b, n, cap, "# TYPE tally_ingest_bytes_total counter\n"
	       "tally_ingest_bytes_total %llu\n", (unsigned long long)
	       atomic_load_explicit(&ingest_bytes, memory_order_relaxed));
	METRIC(b, n, cap, "# TYPE tally_events_late_total counter\n"
	       "tally_events_late_total %llu\n", U(events_late));
	METRIC(b, n, cap, "# TYPE tally_batches_refused_total counter\n");
	for (int i = 0; i < REFUSE_COUNT; i++)
		METRIC(b, n, cap, "tally_batches_refused_total{reason=\"%s\"} "
		       "%llu\n", why[i], U(refused[i]));
	evkey_stats(co->evkey, &ks);
	METRIC(b, n, cap, "# TYPE tally_event_key_lookups_total counter\n"
	       "tally_event_key_lookups_total %llu\n"
	       "# TYPE tally_event_key_tree_lookups_total counter\n"
	       "tally_event_key_tree_lookups_total %llu\n"
	       "# TYPE tally_event_key_merges_total counter\n"
	       "tally_event_key_merges_total %llu\n",
	       (unsigned long long)ks.finds,
	       (unsigned long long)ks.tree_finds,
	       (unsigned long long)ks.merges);
	METRIC(b, n, cap, "# TYPE tally_mqtt_connected gauge\n"
	       "tally_mqtt_connected %d\n",
	       atomic_load_explicit(&co->mqtt_connected, memory_order_relaxed));
#undef U
	httpd_body_take(resp, 200, "text/plain; version=0.0.4", b, n);
}

static const struct httpd_route routes[] = {
	{"GET", "/healthz", healthz, NULL},
	{"GET", "/metrics", metrics, NULL},
	{"POST", "/v1/ingest", ingest_counted, NULL},
	{"GET", "/v1/catalog", ingest_catalog_http, NULL},
	R("GET", "/v1/late_usage", api_late_list),
	R("POST", "/api/v1/customers", api_customers_create),
	R("GET", "/api/v1/customers", api_customers_list),
	R("GET", "/api/v1/customers/:id", api_customers_get),
	R("DELETE", "/api/v1/customers/:id", api_customers_delete),
	R("GET", "/api/v1/customers/:id/current_usage", api_usage_current),
	R("POST", "/api/v1/billable_metrics", api_metrics_create),
	R("GET", "/api/v1/billable_metrics", api_metrics_list),
	R("GET", "/api/v1/billable_metrics/:code", api_metrics_get),
	R("PUT", "/api/v1/billable_metrics/:code", api_metrics_update),
	R("DELETE", "/api/v1/billable_metrics/:code", api_metrics_delete),
	R("POST", "/api/v1/taxes", api_taxes_create),
	R("GET", "/api/v1/taxes", api_taxes_list),
	R("GET", "/api/v1/taxes/:code", api_taxes_get),
	R("PUT", "/api/v1/taxes/:code", api_taxes_update),
	R("DELETE", "/api/v1/taxes/:code", api_taxes_delete),
	R("POST", "/api/v1/plans", api_plans_create),
	R("GET", "/api/v1/plans", api_plans_list),
	R("GET", "/api/v1/plans/:code", api_plans_get),
	R("PUT", "/api/v1/plans/:code", api_plans_update),
	R("DELETE", "/api/v1/plans/:code", api_plans_delete),
	R("POST", "/api/v1/subscriptions", api_subscriptions_create),
	R("GET", "/api/v1/subscriptions", api_subscriptions_list),
	R("GET", "/api/v1/subscriptions/:id", api_subscriptions_get),
	R("PUT", "/api/v1/subscriptions/:id", api_subscriptions_update),
	R("DELETE", "/api/v1/subscriptions/:id", api_subscriptions_delete),
	R("POST", "/api/v1/events", api_events_create),
	R("POST", "/api/v1/events/batch", api_events_batch),
	R("GET", "/api/v1/events/:id", api_events_get),
	R("GET", "/api/v1/invoices", api_invoices_list),
	R("GET", "/api/v1/invoices/:id", api_invoices_get),
	R("PUT", "/api/v1/invoices/:id/finalize", api_invoices_finalize),
	R("POST", "/api/v1/invoices/:id/refresh", api_invoices_refresh),
	R("POST", "/api/v1/coupons", api_coupons_create),
	R("GET", "/api/v1/coupons", api_coupons_list),
	R("GET", "/api/v1/coupons/:code", api_coupons_get),
	R("PUT", "/api/v1/coupons/:code", api_coupons_update),
	R("DELETE", "/api/v1/coupons/:code", api_coupons_delete),
	R("POST", "/api/v1/applied_coupons", api_applied_coupons_create),
	R("GET", "/api/v1/applied_coupons", api_applied_coupons_list),
	R("DELETE", "/api/v1/customers/:id/applied_coupons/:id",
	  api_applied_coupons_delete),
};

/* Read a whole PEM file; NULL (logged) when it cannot be read. */
static char *read_pem(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f) {
		log_error("tls: cannot open %s", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
			buf[n] = '\0';
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	if (!buf)
		log_error("tls: cannot read %s", path);
	return buf;
}

int server_start(struct coll *co)
{
	struct httpd_opts o = {0};
	const char *cert = conf_str(co->conf, CK_TLS_CERT);
	const char *key = conf_str(co->conf, CK_TLS_KEY);
	char host[256], *cert_pem = NULL, *key_pem = NULL;
	int port, rc;

	if (conf_split_hostport(conf_str(co->conf, CK_LISTEN), host,
				sizeof(host), &port) != TLY_OK)
		return TLY_ECONFIG;
	if (!cert != !key) {
		log_error("tls: set both tls.cert_file and tls.key_file, or "
			  "neither");
		return TLY_ECONFIG;
	}
	if (cert) {
		cert_pem = read_pem(cert);
		key_pem = read_pem(key);
		if (!cert_pem || !key_pem) {
			rc = TLY_ECONFIG;
			goto out;
		}
	}
	o.host = host;
	o.port = port;
	o.threads = (unsigned)conf_int(co->conf, CK_HTTP_THREADS);
	o.max_body = (size_t)conf_int(co->conf, CK_HTTP_MAX_BODY);
	o.tls_cert_pem = cert_pem;
	o.tls_key_pem = key_pem;
	o.routes = routes;
	o.nroutes = sizeof(routes) / sizeof(routes[0]);
	o.app = co;
	rc = httpd_start(&co->http, &o);
	if (rc == TLY_OK)
		log_info("listening on %s%s%s:%d (%s)", strchr(host, ':') ?
			 "[" : "", host, strchr(host, ':') ? "]" : "",
			 httpd_port(co->http), cert ? "https" : "http");
out:
	/* MHD may keep pointing at the PEM text while it serves. */
	co->tls_pem[0] = cert_pem;
	co->tls_pem[1] = key_pem;
	if (rc != TLY_OK)
		server_stop(co);
	return rc;
}

void server_stop(struct coll *co)
{
	httpd_stop(&co->http);
	free(co->tls_pem[0]);
	free(co->tls_pem[1]);
	co->tls_pem[0] = co->tls_pem[1] = NULL;
}
