/*
 * intake_sock.c - newline-delimited event JSON over a Unix stream socket,
 * one JSON answer line per event, in order:
 *   {"status":200,"transaction_id":"tx-1"}
 *   {"status":422,"error":"code: value_is_mandatory"}
 *   {"status":507,"error":"buffer full ..."}
 *
 * THREADING: one thread accepts; each connection gets a thread of its
 * own (at most SOCK_MAX_CONN).  The complete lines of one read are parsed
 * and their valid events stored with one buf_put, so a client streaming
 * lines shares commits with itself as well as with other clients.  A
 * line longer than intake.max_body is answered 413 and skipped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "agent_conf.h"
#include "err.h"
#include "jtext.h"
#include "log.h"
#include "util.h"

#define SOCK_MAX_CONN 64
#define SOCK_READ 65536
#define SOCK_LINES 1024		/* lines answered per buf_put at most */

struct sock {
	struct agent *a;
	int fd;
	char *path;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t idle;
	int conns[SOCK_MAX_CONN];	/* open connection fds, -1 free */
	int nconn;
	int stop;
};

struct line {
	struct ev_batch eb;	/* one event when status is 200 */
	int status;
	char error[200];
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void parse_line(const char *text, size_t len, struct line *l)
{
	struct ev_errs errs;
	int rc = ev_parse(text, len, EV_SHAPE_BARE, 0, util_now_ms(), &l->eb,
			  &errs);

	l->status = 200;
	if (rc == TLY_EINVAL) {
		l->status = 422;
		ev_errs_line(&errs, l->error, sizeof(l->error));
	} else if (rc != TLY_OK) {
		l->status = 500;
		snprintf(l->error, sizeof(l->error), "%s", tly_strerror(rc));
	}
}

/*
 * Answer the lines with one write: the JSON by hand around each value,
 * which cJSON's printer escapes.  (A cJSON object, a print and two
 * writes a line held the socket to half the HTTP intake's rate.)
 */
static int answer(int fd, struct line *lines, size_t n)
{
	struct jtext t = {0};
	char head[48];
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		int ok = lines[i].status == 200;

		snprintf(head, sizeof(head), "{\"status\":%d,\"%s\":",
			 lines[i].status, ok ? "transaction_id" : "error");
		if (jtext_put(&t, head) ||
		    jtext_str(&t, ok ? lines[i].eb.evs[0].transaction_id :
				 lines[i].error) ||
		    jtext_put(&t, "}\n"))
			rc = -1;
	}
	if (rc == 0 && t.len)
		rc = write_all(fd, t.p, t.len);
	jtext_free(&t);
	return rc;
}

/* Store the valid lines' events together; mark them all if that fails. */
static void store(struct agent *a, struct line *lines, size_t n)
{
	struct event evs[SOCK_LINES];
	struct ev_batch eb = {.evs = evs};
	size_t dups;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (lines[i].status == 200)
			evs[eb.n++] = lines[i].eb.evs[0];
	if (eb.n == 0)
		return;
	rc = intake_put(a, &eb, &dups);
	for (size_t i = 0; rc != TLY_OK && i < n; i++) {
		if (lines[i].status != 200)
			continue;
		lines[i].status = rc == TLY_EFULL ? 507 : 500;
		snprintf(lines[i].error, sizeof(lines[i].error), "%s",
			 rc == TLY_EFULL ? "buffer full (buffer.max_bytes): "
			 "event not stored; retry later" : "event not stored");
	}
}

static void flush_lines(struct agent *a, int fd, struct line *lines,
			size_t *n, int *failed)
{
	store(a, lines, *n);
	if (answer(fd, lines, *n) != 0)
		*failed = 1;
	for (size_t i = 0; i < *n; i++)
		ev_batch_free(&lines[i].eb);
	*n = 0;
}

/* Parse text as lines[*n], the next line to answer. */
static void take_line(const char *text, size_t len, struct line *lines,
		      size_t *n)
{
	memset(&lines[*n], 0, sizeof(lines[*n]));
	parse_line(text, len, &lines[(*n)++]);
}

static int blank(const char *p, size_t len)
{
	while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\r')) {
		p++;
		len--;
	}
	return len == 0;
}

/*
 * Read, split into lines, answer; returns when the peer goes.  Blank
 * lines (CRLF ones too) are skipped; a last line without its newline is
 * taken at the end, as `printf ... | nc -U` sends it.  Each byte is
 * looked at once, however many reads a line spans.  buf holds max + 1
 * bytes: a line of max bytes and its newline.
 */
static void serve(struct agent *a, int fd, char *buf, size_t max,
		  struct line *lines)
{
	size_t cap = max + 1, have = 0, scanned = 0, n = 0;
	int skipping = 0, failed = 0;

	while (!failed) {
		ssize_t r = read(fd, buf + have, cap - have);
		size_t start = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0 && !skipping && !blank(buf, have)) {
				take_line(buf, have, lines, &n);
				flush_lines(a, fd, lines, &n, &failed);
			}
			break;
		}
		have += (size_t)r;
		for (size_t i = scanned; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			if (!skipping && !blank(buf + start, i - start))
				take_line(buf + start, i - start, lines, &n);
			skipping = 0;
			start = i + 1;
			if (n == SOCK_LINES)
				flush_lines(a, fd, lines, &n, &failed);
		}
		flush_lines(a, fd, lines, &n, &failed);
		memmove(buf, buf + start, have - start);
		have -= start;
		scanned = have;
		if (have == cap) {	/* a line longer than the cap */
			struct line l = {.status = 413};

			snprintf(l.error, sizeof(l.error), "line longer than "
				 "%zu bytes (intake.max_body)", max);
			/* Answered once, however many reads it spans. */
			if (!skipping && answer(fd, &l, 1) != 0)
				failed = 1;
			have = scanned = 0;
			skipping = 1;
		}
	}
}

struct conn_arg {
	struct sock *s;
	int slot;
};

static void *conn_main(void *arg)
{
	struct conn_arg *ca = arg;
	struct sock *s = ca->s;
	int fd = s->conns[ca->slot];
	size_t max = (size_t)conf_int(s->a->conf, AK_INTAKE_MAX_BODY);
	char *buf = malloc(max + 1);	/* a line of max bytes, its newline */
	struct line *lines = calloc(SOCK_LINES, sizeof(*lines));

	if (buf && lines)
		serve(s->a, fd, buf, max, lines);
	free(buf);
	free(lines);
	pthread_mutex_lock(&s->mu);
	close(fd);
	s->conns[ca->slot] = -1;
	s->nconn--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
	free(ca);
	return NULL;
}

static void start_conn(struct sock *s, int fd)
{
	struct conn_arg *ca = malloc(sizeof(*ca));
	pthread_attr_t attr;
	pthread_t t;
	int slot = -1;

	pthread_mutex_lock(&s->mu);
	for (int i = 0; ca && i < SOCK_MAX_CONN && slot < 0; i++)
		if (s->conns[i] < 0)
			slot = i;
	if (slot >= 0) {
		s->conns[slot] = fd;
		s->nconn++;
	}
	pthread_mutex_unlock(&s->mu);
	if (slot < 0) {
		static const char busy[] =
			"{\"status\":503,\"error\":\"too many connections\"}\n";

		log_warn("socket: %d connections open; refusing one more",
			 SOCK_MAX_CONN);
		write_all(fd, busy, sizeof(busy) - 1);
		close(fd);
		free(ca);
		return;
	}
	ca->s = s;
	ca->slot = slot;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, conn_main, ca) != 0) {
		pthread_mutex_lock(&s->mu);
		s->conns[slot] = -1;
		s->nconn--;
		pthread_mutex_unlock(&s->mu);
		close(fd);
		free(ca);
	}
	pthread_attr_destroy(&attr);
}

static void *accept_main(void *arg)
{
	struct sock *s = arg;

	for (;;) {
		int fd = accept(s->fd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;		/* shut down by intake_sock_stop */
		}
		start_conn(s, fd);
	}
	return NULL;
}

static int listen_unix(const char *path, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("socket: path %s is longer than %zu bytes", path,
			  sizeof(sa.sun_path) - 1);
		return TLY_ECONFIG;
	}
	strcpy(sa.sun_path, path);
	unlink(path);	/* a stale socket from a killed agent */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, 0660) != 0 || listen(fd, 64) != 0) {
		log_error("socket: cannot listen on %s: %s", path,
			  strerror(errno));
		if (fd >= 0)
			close(fd);
		return TLY_EIO;
	}
	*out = fd;
	return TLY_OK;
}

int intake_sock_start(struct agent *a, const char *path)
{
	struct sock *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return TLY_ENOMEM;
	s->a = a;
	s->path = strdup(path);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle, NULL);
	for (int i = 0; i < SOCK_MAX_CONN; i++)
		s->conns[i] = -1;
	rc = s->path ? listen_unix(path, &s->fd) : TLY_ENOMEM;
	if (rc == TLY_OK && pthread_create(&s->thread, NULL, accept_main, s)) {
		close(s->fd);
		rc = TLY_EIO;
	}
	if (rc != TLY_OK) {
		free(s->path);
		free(s);
		return rc;
	}
	a->sock = s;
	log_info("intake on unix socket %s", path);
	return TLY_OK;
}

void intake_sock_stop(struct agent *a)
{
	struct sock *s = a->sock;

	if (!s)
		return;
	/* shutdown wakes accept(); close only after the thread is gone, so
	 * the fd cannot be reused under it. */
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < SOCK_MAX_CONN; i++)
		if (s->conns[i] >= 0)
			shutdown(s->conns[i], SHUT_RDWR);
	while (s->nconn > 0)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
	unlink(s->path);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->idle);
	free(s->path);
	free(s);
	a->sock = NULL;
}
