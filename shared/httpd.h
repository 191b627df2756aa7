/*
 * httpd.h - the HTTP(S) server both daemons use, over libmicrohttpd.
 *
 * It owns the MHD daemon (a thread pool with epoll, or a thread for each
 * connection when handlers wait long: httpd_opts.per_connection), reads
 * each request body into memory up to a cap (a Content-Length over the
 * cap is refused with 413 before a byte of the body is read), matches the
 * request to a route table, and sends what the handler put in its struct
 * httpd_resp.
 * Routes are patterns with captured segments: "/api/v1/customers/:id".
 * A path that matches no route answers 404, a path whose method is wrong
 * 405, both in Lago's error shape.
 *
 * Threading: handlers run on the pool's (or the connections') threads,
 * several at a time; the `app` pointer they get is shared and must be
 * thread-safe.  In a pool, a handler that waits holds up the other
 * connections of its thread.
 */
#ifndef TALLY_HTTPD_H
#define TALLY_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#define HTTPD_MAX_CAPTURES 4

struct MHD_Connection;
struct httpd;

struct httpd_req {
	const char *method;		/* "GET", "POST", ... */
	const char *path;		/* decoded path, no query */
	const char *cap[HTTPD_MAX_CAPTURES];	/* the ":name" segments */
	const char *body;		/* NUL-terminated; "" when none */
	size_t body_len;
	void *app;			/* httpd_opts.app */
	const void *arg;		/* the matched route's arg */
	struct MHD_Connection *conn;
};

struct httpd_resp {
	int status;			/* 0 until a handler sets it */
	char *body;			/* malloc'd; the server frees it */
	size_t len;
	const char *content_type;	/* a static string */
	const char *header_name;	/* one extra header, or NULL */
	char header_value[128];
};

typedef void (*httpd_handler)(struct httpd_req *req, struct httpd_resp *resp);

struct httpd_route {
	const char *method;
	const char *pattern;		/* "/a/:x/b"; ":x" matches one segment */
	httpd_handler fn;
	const void *arg;		/* passed as req->arg */
};

struct httpd_opts {
	const char *host;		/* "" for every address; "::1" works */
	int port;			/* 0 picks a free one: see httpd_port */
	unsigned threads;		/* a pool of this many; 0: see below */
	unsigned per_connection;	/* threads == 0: a thread for each
					 * connection, at most this many
					 * connections (handlers that wait,
					 * e.g. for a commit, then never hold
					 * up another connection's request) */
	size_t max_body;		/* bytes */
	const char *tls_cert_pem;	/* PEM text; both set = HTTPS */
	const char *tls_key_pem;
	const struct httpd_route *routes;
	size_t nroutes;
	void *app;
};

/* Counters for /metrics; read with relaxed atomics, monotonic. */
struct httpd_stats {
	uint64_t requests;
	uint64_t status_2xx, status_4xx, status_5xx;
	uint64_t too_large;		/* 413 answers */
};

/*
 * Bind and start serving.  TLY_OK, TLY_EINVAL (bad host), TLY_EIO (bind
 * failed: the message is logged with the address), TLY_ENOMEM.
 */
int httpd_start(struct httpd **out, const struct httpd_opts *o);

/* Stop accepting, finish the requests in flight, free.  NULL-safe. */
void httpd_stop(struct httpd **h);

int httpd_port(const struct httpd *h);		/* the bound port */
void httpd_get_stats(struct httpd *h, struct httpd_stats *out);

/* Request header or query argument, or NULL. */
const char *httpd_header(const struct httpd_req *req, const char *name);
const char *httpd_query(const struct httpd_req *req, const char *name);

/* The token of "Authorization: Bearer TOKEN", or NULL. */
const char *httpd_bearer(const struct httpd_req *req);

/* ---- Responses --------------------------------------------------------- */

/* Send obj as JSON with status; obj is consumed (freed) in every case. */
void httpd_json(struct httpd_resp *resp, int status, cJSON *obj);

/* Send a body copied from text[0..len) with a content type. */
void httpd_body(struct httpd_resp *resp, int status, const char *ctype,
		const char *text, size_t len);

/* Take ownership of a malloc'd body. */
void httpd_body_take(struct httpd_resp *resp, int status, const char *ctype,
		     char *body, size_t len);

/*
 * Lago's error bodies:
 *   400 {"status":400,"error":"BadRequest: <detail>"}
 *   401 {"status":401,"error":"Unauthorized"}
 *   403 {"status":403,"error":"Forbidden","code":"<code>"}
 *   404 {"status":404,"error":"Not Found","code":"<code>"}
 *   405 {"status":405,"error":"Method Not Allowed","code":"<code>"}
 *   413 {"status":413,"error":"Payload Too Large","code":"<code>"}
 *   422 {"status":422,"error":"Unprocessable Entity",
 *        "code":"validation_errors","error_details":<details>}
 *   5xx {"status":500,"error":"Internal Server Error","code":"<code>"}
 * `code` is the code for 403/404/405/413/5xx, the detail text for 400;
 * details (consumed) only for 422.
 */
void httpd_error(struct httpd_resp *resp, int status, const char *code,
		 cJSON *details);

/* 422 with {"field": ["code"]} as details. */
void httpd_invalid(struct httpd_resp *resp, const char *field,
		   const char *code);

/* Compare two secrets in time that depends only on their lengths' max. */
int httpd_secret_eq(const char *a, const char *b);

#endif
