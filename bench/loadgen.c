/*
 * loadgen.c - the load generator of `make bench`.
 *
 *   loadgen http URL [options]   POST {"events":[...]} batches over N
 *                                keep-alive connections (libcurl multi),
 *                                one batch in flight per connection
 *   loadgen sock PATH [options]  newline-delimited events over N Unix
 *                                socket connections, reading the answer
 *                                lines as they come (poll, one thread)
 *
 * Options:
 *   -n EVENTS     events in all (default 100000)
 *   -c CONNS      connections (default 4)
 *   -b BATCH      events per request (http) or per write (sock)
 *                 (default 1000)
 *   -w WINDOW     sock: batches written ahead of their answers (default 2)
 *   -p PREFIX     transaction id prefix, unique per run (default "lg")
 *   -C CODE       billable metric code (default "bench_raw")
 *   -f FIELD      the valued property (default "gb")
 *   -v VALUE      its value (default: a decimal drawn per event)
 *   -s SUBS       subscriptions sub_0.. (default 10)
 *   -m PER_MIN    events per UTC minute of timestamps (default 0: one)
 *   -t TS_BASE    first timestamp, Unix s (default: an hour ago)
 *   -q            transaction ids in order, not scrambled
 *   -H HEADER     an extra HTTP header (repeatable)
 *
 * The events are bench_event.h's.  Bodies are made before each request
 * is sent, inside the timed span (the cost is a few snprintf per event).
 * Prints one JSON line: events sent, answered 200, refused, seconds,
 * events per second; exits 1 when any event was not taken.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench_event.h"

#define MAX_CONNS 256
#define MAX_HEADERS 8
#define EV_MAX 512		/* one event's JSON at most */
#define ERR_MAX 300

struct opts {
	const char *mode, *target;
	unsigned long long events, batch;
	unsigned conns, window;
	const char *headers[MAX_HEADERS];
	int nheaders;
	struct bench_ev ev;
};

struct result {
	unsigned long long sent, ok, failed, requests;
	char first_error[ERR_MAX];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note_error(struct result *r, const char *fmt, const char *a,
		       size_t alen)
{
	if (r->first_error[0])
		return;
	snprintf(r->first_error, sizeof(r->first_error), fmt, (int)alen, a);
	for (char *p = r->first_error; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = ' ';
}

/*
 * Events [from, from + n) as a batch body ({"events":[...]}) or as
 * lines; the length.  buf holds n * EV_MAX + 32 bytes.
 */
static size_t make_body(const struct opts *o, unsigned long long from,
			unsigned long long n, char *buf, int lines)
{
	size_t len = 0;

	if (!lines)
		len += (size_t)sprintf(buf, "{\"events\":[");
	for (unsigned long long i = 0; i < n; i++) {
		if (!lines && i)
			buf[len++] = ',';
		len += (size_t)bench_ev_json(&o->ev, from + i, buf + len,
					     EV_MAX);
		if (lines)
			buf[len++] = '\n';
	}
	if (!lines)
		len += (size_t)sprintf(buf + len, "]}");
	return len;
}

/* ---- HTTP ---------------------------------------------------------------- */

struct hconn {
	CURL *h;
	char *body;
	unsigned long long n;	/* events in the request in flight */
	char resp[ERR_MAX];
	size_t rlen;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct hconn *c = arg;
	size_t len = size * n, room = sizeof(c->resp) - 1 - c->rlen;

	if (len > room)
		len = room;
	memcpy(c->resp + c->rlen, p, len);
	c->rlen += len;
	c->resp[c->rlen] = '\0';
	return size * n;
}

static int http_next(const struct opts *o, CURLM *m, struct hconn *c,
		     unsigned long long *next)
{
	unsigned long long n = o->events - *next;
	size_t len;

	if (n == 0)
		return 0;
	if (n > o->batch)
		n = o->batch;
	len = make_body(o, *next, n, c->body, 0);
	*next += n;
	c->n = n;
	c->rlen = 0;
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_multi_add_handle(m, c->h);
	return 1;
}

static int run_http(const struct opts *o, struct result *r)
{
	static struct hconn cs[MAX_CONNS];
	struct curl_slist *hdrs = NULL;
	unsigned long long next = 0;
	int running = 0, active = 0;
	CURLM *m;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)o->conns);
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->conns);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	for (int i = 0; i < o->nheaders; i++)
		hdrs = curl_slist_append(hdrs, o->headers[i]);
	for (unsigned i = 0; i < o->conns; i++) {
		struct hconn *c = &cs[i];

		c->h = curl_easy_init();
		c->body = malloc(o->batch * EV_MAX + 32);
		if (!m || !hdrs || !c->h || !c->body) {
			fprintf(stderr, "loadgen: out of memory\n");
			return -1;
		}
		curl_easy_setopt(c->h, CURLOPT_URL, o->target);
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
		curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 120L);
		active += http_next(o, m, c, &next);
	}
	while (active > 0) {
		CURLMsg *msg;
		int left;

		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct hconn *c = NULL;
			long code = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&c);
			curl_easy_getinfo(msg->easy_handle,
					  CURLINFO_RESPONSE_CODE, &code);
			r->requests++;
			r->sent += c->n;
			if (msg->data.result != CURLE_OK) {
				const char *e =
					curl_easy_strerror(msg->data.result);

				r->failed += c->n;
				note_error(r, "%.*s", e, strlen(e));
			} else if (code != 200) {
				char head[40];

				r->failed += c->n;
				snprintf(head, sizeof(head), "HTTP %ld: ", code);
				note_error(r, "%.*s", head, strlen(head));
				note_error(r, "%.*s", c->resp, c->rlen);
			} else {
				r->ok += c->n;
			}
			curl_multi_remove_handle(m, c->h);
			active--;
			active += http_next(o, m, c, &next);
		}
		if (active > 0)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	for (unsigned i = 0; i < o->conns; i++) {
		curl_easy_cleanup(cs[i].h);
		free(cs[i].body);
	}
	curl_slist_free_all(hdrs);
	curl_multi_cleanup(m);
	curl_global_cleanup();
	return 0;
}

/* ---- Unix socket -------------------------------------------------------- */

struct sconn {
	int fd;
	char *out;		/* lines being written */
	size_t olen, off;
	unsigned long long inflight;	/* lines written, not answered */
	char in[65536];		/* a partial answer line */
	size_t ilen;
	int done;
};

/* Count the complete answer lines in c->in; keep the partial one. */
static void sock_answers(struct sconn *c, struct result *r)
{
	size_t start = 0;

	for (size_t i = 0; i < c->ilen; i++) {
		static const char ok[] = "{\"status\":200,";
		const char *line = c->in + start;

		if (c->in[i] != '\n')
			continue;
		if (i - start >= sizeof(ok) - 1 &&
		    memcmp(line, ok, sizeof(ok) - 1) == 0) {
			r->ok++;
		} else {
			r->failed++;
			note_error(r, "%.*s", line, i - start);
		}
		c->inflight--;
		start = i + 1;
	}
	memmove(c->in, c->in + start, c->ilen - start);
	c->ilen -= start;
}

static int sock_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int run_sock(const struct opts *o, struct result *r)
{
	static struct sconn cs[MAX_CONNS];
	struct pollfd pfd[MAX_CONNS];
	unsigned long long next = 0, answered = 0;

	for (unsigned i = 0; i < o->conns; i++) {
		cs[i].fd = sock_connect(o->target);
		cs[i].out = malloc(o->batch * EV_MAX);
		if (cs[i].fd < 0 || !cs[i].out) {
			fprintf(stderr, "loadgen: cannot connect to %s: %s\n",
				o->target, strerror(errno));
			return -1;
		}
	}
	while (answered < o->events) {
		unsigned long long before = r->ok + r->failed;

		for (unsigned i = 0; i < o->conns; i++) {
			struct sconn *c = &cs[i];
			unsigned long long n = o->events - next;

			/* A new batch once the last is written and the
			 * window has room. */
			if (c->off == c->olen && n > 0 &&
			    c->inflight < (unsigned long long)o->window *
					  o->batch) {
				if (n > o->batch)
					n = o->batch;
				c->olen = make_body(o, next, n, c->out, 1);
				c->off = 0;
				c->inflight += n;
				r->sent += n;
				r->requests++;
				next += n;
			}
			pfd[i].fd = c->fd;
			pfd[i].events = POLLIN | (c->off < c->olen ? POLLOUT : 0);
			pfd[i].revents = 0;
		}
		if (poll(pfd, o->conns, 30000) <= 0) {
			fprintf(stderr, "loadgen: no answer for 30 s\n");
			return -1;
		}
		for (unsigned i = 0; i < o->conns; i++) {
			struct sconn *c = &cs[i];
			ssize_t k;

			if (pfd[i].revents & POLLOUT) {
				k = write(c->fd, c->out + c->off,
					  c->olen - c->off);
				if (k > 0)
					c->off += (size_t)k;
				else if (errno != EAGAIN && errno != EINTR)
					goto gone;
			}
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			k = read(c->fd, c->in + c->ilen,
				 sizeof(c->in) - c->ilen);
			if (k > 0) {
				c->ilen += (size_t)k;
				sock_answers(c, r);
			} else if (k == 0 || (errno != EAGAIN &&
					      errno != EINTR)) {
				goto gone;
			}
		}
		answered += r->ok + r->failed - before;
	}
	for (unsigned i = 0; i < o->conns; i++) {
		close(cs[i].fd);
		free(cs[i].out);
	}
	return 0;
gone:
	fprintf(stderr, "loadgen: the agent closed a connection\n");
	return -1;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: loadgen http URL | sock PATH [-n EVENTS] "
		"[-c CONNS] [-b BATCH] [-w WINDOW] [-p PREFIX] [-C CODE]\n"
		"       [-f FIELD] [-v VALUE] [-s SUBS] [-m PER_MINUTE] "
		"[-t TS_BASE] [-q] [-H HEADER]...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.events = 100000, .batch = 1000, .conns = 4, .window = 2,
		.ev = {"lg", "bench_raw", "gb", NULL, 10, 0, 0, 0},
	};
	struct result r = {0};
	double t0, dt;
	int opt, rc;

	if (argc < 3)
		usage();
	o.mode = argv[1];
	o.target = argv[2];
	o.ev.ts_base = (int64_t)time(NULL) - 3600;
	optind = 3;
	while ((opt = getopt(argc, argv, "n:c:b:w:p:C:f:v:s:m:t:qH:")) != -1) {
		switch (opt) {
		case 'n': o.events = strtoull(optarg, NULL, 10); break;
		case 'c': o.conns = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'b': o.batch = strtoull(optarg, NULL, 10); break;
		case 'w': o.window = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'p': o.ev.prefix = optarg; break;
		case 'C': o.ev.code = optarg; break;
		case 'f': o.ev.field = optarg; break;
		case 'v': o.ev.value = optarg; break;
		case 's': o.ev.subs = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'm': o.ev.per_minute = strtoull(optarg, NULL, 10); break;
		case 't': o.ev.ts_base = strtoll(optarg, NULL, 10); break;
		case 'q': o.ev.seq_tx = 1; break;
		case 'H':
			if (o.nheaders == MAX_HEADERS)
				usage();
			o.headers[o.nheaders++] = optarg;
			break;
		default: usage();
		}
	}
	if (optind != argc || !o.conns || o.conns > MAX_CONNS || !o.batch ||
	    !o.window || !o.ev.subs ||
	    (strcmp(o.mode, "http") && strcmp(o.mode, "sock")))
		usage();

	t0 = now_s();
	rc = strcmp(o.mode, "http") == 0 ? run_http(&o, &r) : run_sock(&o, &r);
	dt = now_s() - t0;
	if (rc != 0)
		return 1;
	printf("{\"mode\":\"%s\",\"events\":%llu,\"ok\":%llu,\"failed\":%llu,"
	       "\"requests\":%llu,\"conns\":%u,\"batch\":%llu,"
	       "\"seconds\":%.4f,\"events_per_s\":%.0f,"
	       "\"first_error\":\"%s\"}\n", o.mode, r.sent, r.ok, r.failed,
	       r.requests, o.conns, o.batch, dt, dt > 0 ? r.ok / dt : 0,
	       r.first_error);
	return r.failed || r.ok != o.events ? 1 : 0;
}
