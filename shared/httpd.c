/*
 * httpd.c - HTTP(S) server over libmicrohttpd (see httpd.h).
 *
 * MHD calls on_request several times per request: once with the headers
 * (we set up a struct req_ctx and check Content-Length), once per chunk of
 * body (appended within the cap), and once more with no data, when the
 * handler runs and a response is queued.  on_completed frees the context.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "err.h"
#include "httpd.h"
#include "log.h"

struct httpd {
	struct MHD_Daemon *d;
	struct httpd_opts o;
	int port;
	_Atomic uint64_t requests, s2xx, s4xx, s5xx, too_large;
};

struct req_ctx {
	char *body;
	size_t len, cap;
	int too_large;		/* the body crossed max_body: answer 413 */
};

const char *httpd_header(const struct httpd_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *httpd_query(const struct httpd_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
					   name);
}

const char *httpd_bearer(const struct httpd_req *req)
{
	const char *v = httpd_header(req, MHD_HTTP_HEADER_AUTHORIZATION);

	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7;
	while (*v == ' ')
		v++;
	return *v ? v : NULL;
}

int httpd_secret_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
	unsigned char diff = la != lb;

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)((i < la ? a[i] : 0) ^
					(i < lb ? b[i] : 0));
	return diff == 0;
}

void httpd_body_take(struct httpd_resp *resp, int status, const char *ctype,
		     char *body, size_t len)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = ctype;
	resp->body = body;
	resp->len = len;
}

void httpd_body(struct httpd_resp *resp, int status, const char *ctype,
		const char *text, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy) {
		httpd_body_take(resp, 500, "text/plain", NULL, 0);
		return;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	httpd_body_take(resp, status, ctype, copy, len);
}

void httpd_json(struct httpd_resp *resp, int status, cJSON *obj)
{
	char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	if (!text) {
		log_error("http: out of memory building a response");
		httpd_body_take(resp, 500, "text/plain", NULL, 0);
		return;
	}
	httpd_body_take(resp, status, "application/json; charset=utf-8",
			text, strlen(text));
}

static const char *status_text(int status)
{
	switch (status) {
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	}
	return status >= 500 ? "Internal Server Error" : "Error";
}

void httpd_error(struct httpd_resp *resp, int status, const char *code,
		 cJSON *details)
{
	cJSON *o = cJSON_CreateObject();
	char msg[256];

	if (!o)
		goto fail;
	if (!cJSON_AddNumberToObject(o, "status", status))
		goto fail;
	if (status == 400) {
		snprintf(msg, sizeof(msg), "BadRequest: %s", code ? code : "");
		if (!cJSON_AddStringToObject(o, "error", msg))
			goto fail;
	} else if (!cJSON_AddStringToObject(o, "error", status_text(status))) {
		goto fail;
	}
	if (status == 422) {
		if (!cJSON_AddStringToObject(o, "code", "validation_errors"))
			goto fail;
		if (!details)
			details = cJSON_CreateObject();
		if (!details || !cJSON_AddItemToObject(o, "error_details",
						       details))
			goto fail;
		details = NULL;
	} else if (status != 400 && status != 401 && code &&
		   !cJSON_AddStringToObject(o, "code", code)) {
		goto fail;
	}
	cJSON_Delete(details);
	httpd_json(resp, status, o);
	return;
fail:
	cJSON_Delete(details);
	cJSON_Delete(o);
	httpd_json(resp, 500, NULL);
}

void httpd_invalid(struct httpd_resp *resp, const char *field,
		   const char *code)
{
	cJSON *d = cJSON_CreateObject();
	cJSON *arr = cJSON_CreateArray();
	cJSON *s = cJSON_CreateString(code);

	if (!d || !arr || !s || !cJSON_AddItemToArray(arr, s)) {
		cJSON_Delete(s);
		goto fail;
	}
	if (!cJSON_AddItemToObject(d, field, arr))
		goto fail;
	httpd_error(resp, 422, NULL, d);
	return;
fail:
	cJSON_Delete(arr);
	cJSON_Delete(d);
	httpd_json(resp, 500, NULL);
}

/* Match path against pattern, capturing ":x" segments into req->cap. */
static int route_match(const char *pattern, const char *path,
		       struct httpd_req *req, char *scratch, size_t size)
{
	const char *p = pattern, *s = path;
	size_t used = 0;
	int ncap = 0;

	while (*p && *s) {
		if (*p == ':') {
			size_t n = strcspn(s, "/");

			if (n == 0 || ncap == HTTPD_MAX_CAPTURES ||
			    used + n + 1 > size)
				return 0;
			memcpy(scratch + used, s, n);
			scratch[used + n] = '\0';
			req->cap[ncap++] = scratch + used;
			used += n + 1;
			s += n;
			p += strcspn(p, "/");
			continue;
		}
		if (*p++ != *s++)
			return 0;
	}
	return *p == '\0' && *s == '\0';
}

static void dispatch(struct httpd *h, struct httpd_req *req,
		     struct httpd_resp *resp, char *scratch, size_t size)
{
	int path_seen = 0;

	for (size_t i = 0; i < h->o.nroutes; i++) {
		const struct httpd_route *r = &h->o.routes[i];

		memset(req->cap, 0, sizeof(req->cap));
		if (!route_match(r->pattern, req->path, req, scratch, size))
			continue;
		path_seen = 1;
		if (strcmp(r->method, req->method) != 0)
			continue;
		req->arg = r->arg;
		r->fn(req, resp);
		if (resp->status == 0)
			httpd_error(resp, 500, "no_response", NULL);
		return;
	}
	if (path_seen)
		httpd_error(resp, 405, "method_not_allowed", NULL);
	else
		httpd_error(resp, 404, "resource_not_found", NULL);
}

static enum MHD_Result send_resp(struct MHD_Connection *c,
				 struct httpd_resp *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer_with_free_callback(
		resp->len, resp->body, free);
	if (!r) {
		free(resp->body);
		return MHD_NO;
	}
	resp->body = NULL;
	if (resp->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					resp->content_type);
	if (resp->header_name)
		MHD_add_response_header(r, resp->header_name,
					resp->header_value);
	ret = MHD_queue_response(c, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static void count_status(struct httpd *h, int status)
{
	atomic_fetch_add_explicit(&h->requests, 1, memory_order_relaxed);
	if (status < 300)
		atomic_fetch_add_explicit(&h->s2xx, 1, memory_order_relaxed);
	else if (status < 500)
		atomic_fetch_add_explicit(&h->s4xx, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&h->s5xx, 1, memory_order_relaxed);
	if (status == 413)
		atomic_fetch_add_explicit(&h->too_large, 1,
					  memory_order_relaxed);
}

/* The first call: check the announced length, size the body buffer. */
static struct req_ctx *begin_request(struct httpd *h, struct MHD_Connection *c)
{
	struct req_ctx *ctx = calloc(1, sizeof(*ctx));
	const char *cl;

	if (!ctx)
		return NULL;
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		unsigned long long n = strtoull(cl, NULL, 10);

		if (n > h->o.max_body)
			ctx->too_large = 1;
		else if (n > 0)
			ctx->cap = (size_t)n + 1;
	}
	return ctx;
}

static int append_body(struct httpd *h, struct req_ctx *ctx,
		       const char *data, size_t n)
{
	if (ctx->too_large)
		return TLY_OK;
	if (ctx->len + n > h->o.max_body) {
		ctx->too_large = 1;
		free(ctx->body);
		ctx->body = NULL;
		ctx->len = 0;
		return TLY_OK;
	}
	if (!ctx->body || ctx->len + n + 1 > ctx->cap) {
		size_t cap = ctx->cap > ctx->len + n + 1 ? ctx->cap :
			     (ctx->len + n + 1) * 2;
		char *nb;

		if (cap > h->o.max_body + 1)
			cap = h->o.max_body + 1;
		nb = realloc(ctx->body, cap);
		if (!nb)
			return TLY_ENOMEM;
		ctx->body = nb;
		ctx->cap = cap;
	}
	memcpy(ctx->body + ctx->len, data, n);
	ctx->len += n;
	ctx->body[ctx->len] = '\0';
	return TLY_OK;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct httpd *h = cls;
	struct req_ctx *ctx = *con_cls;
	struct httpd_resp resp = {0};
	struct httpd_req req = {0};
	char scratch[1024];

	(void)version;
	if (!ctx) {
		ctx = begin_request(h, c);
		*con_cls = ctx;
		return ctx ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		if (append_body(h, ctx, upload, *upload_size) != TLY_OK)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (ctx->too_large) {
		httpd_error(&resp, 413, "body_too_large", NULL);
	} else {
		req.method = method;
		req.path = url;
		req.body = ctx->body ? ctx->body : "";
		req.body_len = ctx->len;
		req.app = h->o.app;
		req.conn = c;
		dispatch(h, &req, &resp, scratch, sizeof(scratch));
	}
	count_status(h, resp.status);
	return send_resp(c, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *ctx = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (ctx) {
		free(ctx->body);
		free(ctx);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	log_warn("http: %s", line);
}

/* Fill ss with host:port; "" binds every address (IPv6 dual stack). */
static int make_addr(const char *host, int port, struct sockaddr_storage *ss,
		     unsigned *flags)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!host || !*host) {
		v6->sin6_family = AF_INET6;
		v6->sin6_addr = in6addr_any;
		v6->sin6_port = htons((uint16_t)port);
		*flags |= MHD_USE_DUAL_STACK;
		return TLY_OK;
	}
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return TLY_OK;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*flags |= MHD_USE_IPv6;
		return TLY_OK;
	}
	if (strcmp(host, "localhost") == 0)
		return make_addr("127.0.0.1", port, ss, flags);
	log_error("http: listen address '%s' is not an IP address", host);
	return TLY_EINVAL;
}

int httpd_start(struct httpd **out, const struct httpd_opts *o)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct httpd *h;
	int tls = o->tls_cert_pem && o->tls_key_pem;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return TLY_ENOMEM;
	h->o = *o;
	if (make_addr(o->host, o->port, &ss, &flags) != TLY_OK) {
		free(h);
		return TLY_EINVAL;
	}
	if (tls)
		flags |= MHD_USE_TLS;
	/* A pool multiplexes its connections with epoll; a thread per
	 * connection blocks in poll on its own one. */
	flags |= o->threads ? MHD_USE_EPOLL : MHD_USE_THREAD_PER_CONNECTION |
		 MHD_USE_POLL;
	h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL,
		on_request, h,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		o->threads ? MHD_OPTION_THREAD_POOL_SIZE :
		MHD_OPTION_CONNECTION_LIMIT, o->threads ? o->threads :
		(o->per_connection ? o->per_connection : 64),
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, o->tls_cert_pem,
		MHD_OPTION_HTTPS_MEM_KEY, o->tls_key_pem,
		MHD_OPTION_END);
	if (!h->d) {
		log_error("http: cannot listen on %s%s%s:%d%s: %s",
			  strchr(o->host ? o->host : "", ':') ? "[" : "",
			  o->host ? o->host : "",
			  strchr(o->host ? o->host : "", ':') ? "]" : "",
			  o->port, tls ? " with TLS" : "",
			  errno ? strerror(errno) : "see the line above");
		free(h);
		return TLY_EIO;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : o->port;
	*out = h;
	return TLY_OK;
}

void httpd_stop(struct httpd **h)
{
	if (!h || !*h)
		return;
	MHD_stop_daemon((*h)->d);
	free(*h);
	*h = NULL;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

void httpd_get_stats(struct httpd *h, struct httpd_stats *s)
{
	s->requests = atomic_load_explicit(&h->requests, memory_order_relaxed);
	s->status_2xx = atomic_load_explicit(&h->s2xx, memory_order_relaxed);
	s->status_4xx = atomic_load_explicit(&h->s4xx, memory_order_relaxed);
	s->status_5xx = atomic_load_explicit(&h->s5xx, memory_order_relaxed);
	s->too_large = atomic_load_explicit(&h->too_large,
					    memory_order_relaxed);
}
