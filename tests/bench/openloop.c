/* openloop.c - a fixed-rate (open-loop) HTTPS load generator for make bench:
 * POSTs one body at RATE requests per second over keep-alive TLS
 * connections for SECONDS and prints the latency distribution. Latency is
 * measured from when each request was due, not from when a connection was
 * free to send it, so that a stall shows as the queueing it causes (what
 * wrk2 calls correcting for coordinated omission); wrk and hey are
 * closed-loop and would hide it.
 *
 * usage: openloop HOST PORT PATH BODYFILE RATE SECONDS CONNECTIONS [CAFILE]
 * prints: one line "key=value ..." with sent, ok, errors, rate, p50, p90,
 * p99, p999, max (milliseconds). Exit 1 on a usage or connection error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct conn {
	int fd;
	SSL *ssl;
	int busy;		/* a request in flight */
	int closed;		/* dropped (the server closed it idle) */
	int handshaking;	/* a new connection, its handshake under way */
	uint64_t due_ns;	/* when the request in flight was due */
	size_t sent;		/* bytes of the request written */
	char buf[1 << 16];
	size_t have;
};

static char *request;
static size_t request_len;
static uint64_t *lat;		/* microseconds */
static size_t n_lat, cap_lat, errors, ok, idle_closed;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "openloop: %s: %s\n", what, strerror(errno));
	ERR_print_errors_fp(stderr);
	exit(1);
}

static SSL_CTX *ctx;
static const char *host;
static int port;

/* Connect and start the TLS handshake; with wait, finish it before
 * returning (the connections made before the clock starts), else the
 * event loop finishes it (conn_handshake) while other requests go on, as
 * Go dials a new connection without holding up the others. */
static void
conn_open(struct conn *c, int wait)
{
	struct sockaddr_in sa;
	int one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die("address");
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!wait)
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    errno != EINPROGRESS)
		die("connect");
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	SSL_set_connect_state(c->ssl);
	c->busy = 0;
	c->have = 0;
	c->closed = 0;
	c->handshaking = 1;
	if (wait) {
		if (SSL_connect(c->ssl) != 1)
			die("TLS handshake");
		c->handshaking = 0;
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	}
}

/* Go on with a handshake; 0 when it is done or waits for the network. */
static void
conn_handshake(struct conn *c)
{
	int n = SSL_connect(c->ssl);

	if (n == 1) {
		c->handshaking = 0;
		return;
	}
	n = SSL_get_error(c->ssl, n);
	if (n != SSL_ERROR_WANT_READ && n != SSL_ERROR_WANT_WRITE)
		die("TLS handshake");
}

static void
record(uint64_t due_ns)
{
	if (n_lat == cap_lat) {
		cap_lat = cap_lat ? cap_lat * 2 : 65536;
		if ((lat = realloc(lat, cap_lat * sizeof(*lat))) == NULL)
			die("realloc");
	}
	lat[n_lat++] = (now_ns() - due_ns) / 1000;
}

/* Write what is left of the request. 0 done, 1 try again, -1 error. */
static int
conn_write(struct conn *c)
{
	while (c->sent < request_len) {
		int n = SSL_write(c->ssl, request + c->sent,
		    (int)(request_len - c->sent));

		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);

			return e == SSL_ERROR_WANT_WRITE ||
			    e == SSL_ERROR_WANT_READ ? 1 : -1;
		}
		c->sent += (size_t)n;
	}
	return 0;
}

/* Read; when a whole answer is in, record it. -1 on a broken connection. */
static int
conn_read(struct conn *c)
{
	for (;;) {
		int n = SSL_read(c->ssl, c->buf + c->have,
		    (int)(sizeof(c->buf) - c->have - 1));
		char *end, *cl;
		size_t head, len;

		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);

			return e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE ? 0 : -1;
		}
		c->have += (size_t)n;
		c->buf[c->have] = '\0';
		if ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
			continue;
		head = (size_t)(end - c->buf) + 4;
		cl = strcasestr(c->buf, "\r\ncontent-length:");
		if (cl == NULL || cl > end) {
			fprintf(stderr, "openloop: an answer without "
			    "Content-Length: %.200s\n", c->buf);
			return -1;
		}
		len = strtoul(cl + 17, NULL, 10);
		if (c->have < head + len)
			continue;
		if (strncmp(c->buf, "HTTP/1.1 200", 12) == 0)
			ok++;
		else
			errors++;
		record(c->due_ns);
		memmove(c->buf, c->buf + head + len, c->have - head - len);
		c->have -= head + len;
		c->busy = 0;
		return 0;
	}
}

/* Forget a connection the server closed while it was idle. */
static void
conn_drop(struct conn *c, int efd)
{
	epoll_ctl(efd, EPOLL_CTL_DEL, c->fd, NULL);
	SSL_free(c->ssl);
	close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
	c->closed = 1;
}

static void
conn_reopen(struct conn *c, int efd)
{
	struct epoll_event ev;

	if (!c->closed)
		conn_drop(c, efd);
	conn_open(c, 0);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
	ev.data.ptr = c;
	epoll_ctl(efd, EPOLL_CTL_ADD, c->fd, &ev);
}


/* Has the server closed this idle connection? Reads what is there: a
 * TLS 1.3 session ticket is not a close. */
static int
conn_idle_closed(struct conn *c)
{
	int n = SSL_read(c->ssl, c->buf, (int)sizeof(c->buf) - 1);

	if (n > 0)
		return 1;	/* an answer to nothing: start afresh */
	n = SSL_get_error(c->ssl, n);
	return n != SSL_ERROR_WANT_READ && n != SSL_ERROR_WANT_WRITE;
}

/* The server closed the connection under a request or sent something
 * else: the request counts as an error; open a new connection in its
 * place. */
static void
conn_broken(struct conn *c, int efd)
{
	unsigned long e = ERR_get_error();

	fprintf(stderr, "openloop: a connection broke (%s); reconnecting\n",
	    e != 0 ? ERR_reason_error_string(e) : "closed by the server");
	errors++;
	record(c->due_ns);
	conn_reopen(c, efd);
}

static int
cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double p)
{
	size_t i = (size_t)(p * (double)(n_lat - 1) + 0.5);

	return n_lat ? (double)lat[i] / 1000.0 : 0;
}

int
main(int argc, char **argv)
{
	const char *path;
	int conns, efd, tfd, i;
	double rate, seconds;
	struct conn *cs;
	FILE *f;
	char *body;
	long blen;
	uint64_t start, interval, next_due, end_ns, sent = 0, queued = 0;
	uint64_t *queue;
	size_t qhead = 0, qtail = 0, qcap;
	struct itimerspec its;
	struct epoll_event ev, evs[256];

	if (argc < 8) {
		fprintf(stderr, "usage: openloop HOST PORT PATH BODYFILE RATE "
		    "SECONDS CONNECTIONS [CAFILE]\n");
		return 1;
	}
	host = argv[1];
	port = atoi(argv[2]);
	path = argv[3];
	rate = atof(argv[5]);
	seconds = atof(argv[6]);
	conns = atoi(argv[7]);
	if ((f = fopen(argv[4], "rb")) == NULL)
		die(argv[4]);
	fseek(f, 0, SEEK_END);
	blen = ftell(f);
	rewind(f);
	body = malloc((size_t)blen);
	if (body == NULL || fread(body, 1, (size_t)blen, f) != (size_t)blen)
		die("read body");
	fclose(f);
	request = malloc((size_t)blen + 512);
	request_len = (size_t)snprintf(request, 512, "POST %s HTTP/1.1\r\n"
	    "Host: %s:%d\r\nContent-Type: application/json\r\n"
	    "Content-Length: %ld\r\n\r\n", path, host, port, blen);
	memcpy(request + request_len, body, (size_t)blen);
	request_len += (size_t)blen;

	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	if (argc > 8) {
		if (SSL_CTX_load_verify_locations(ctx, argv[8], NULL) != 1)
			die("CA file");
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	cs = calloc((size_t)conns, sizeof(*cs));
	efd = epoll_create1(0);
	for (i = 0; i < conns; i++) {
		conn_open(&cs[i], 1);
		ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
		ev.data.ptr = &cs[i];
		epoll_ctl(efd, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	qcap = (size_t)(rate * seconds) + 16;
	queue = malloc(qcap * sizeof(*queue));
	interval = (uint64_t)(1e9 / rate);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = (long)interval;
	its.it_interval.tv_nsec = (long)(interval % 1000000000ull);
	its.it_interval.tv_sec = (time_t)(interval / 1000000000ull);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(efd, EPOLL_CTL_ADD, tfd, &ev);
	start = now_ns();
	next_due = start;
	end_ns = start + (uint64_t)(seconds * 1e9);
	timerfd_settime(tfd, 0, &its, NULL);

	while (next_due < end_ns || qhead != qtail ||
	    ok + errors < sent) {
		int n = epoll_wait(efd, evs, 256, 100), k;
		uint64_t t = now_ns();

		if (t > end_ns + 30000000000ull)
			break;		/* 30 s past the end: give up */
		/* Every request due by now joins the queue. */
		while (next_due <= t && next_due < end_ns && qtail < qcap) {
			queue[qtail++] = next_due;
			next_due += interval;
			queued++;
		}
		for (k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;

			if (c == NULL) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) < 0 &&
				    errno != EAGAIN)
					die("timerfd");
				continue;
			}
			if (c->handshaking) {
				conn_handshake(c);
				continue;
			}
			if (!c->busy) {
				/* An idle connection the server closed (its
				 * idle timeout): Go's http.Transport sees the
				 * EOF while the connection is idle and drops
				 * it from its pool; so does this. */
				if (!c->closed && conn_idle_closed(c)) {
					conn_drop(c, efd);
					idle_closed++;
				}
				continue;
			}
			if ((c->busy && c->sent < request_len &&
			    conn_write(c) < 0) || (c->busy && conn_read(c) < 0))
				conn_broken(c, efd);
		}
		/* Hand queued requests to free connections, the first free
		 * one first, as Go's http.Transport (kube-apiserver) reuses
		 * its most recently used idle connection. One left idle past
		 * the server's idle timeout may be closed under a request, as
		 * any keep-alive client sees: an error, and a new one. */
		for (i = 0; i < 2 * conns && qhead != qtail; i++) {
			struct conn *c = &cs[i % conns];

			/* Open idle connections first; a new one (a dial and
			 * a handshake, as Go would) only when none is left. */
			if (c->busy || c->handshaking ||
			    (i < conns && c->closed))
				continue;
			if (c->closed) {
				/* Dial; the request waits for a connection. */
				conn_reopen(c, efd);
				conn_handshake(c);
				continue;
			}
			c->busy = 1;
			c->due_ns = queue[qhead++];
			c->sent = 0;
			sent++;
			if (conn_write(c) < 0 || conn_read(c) < 0)
				conn_broken(c, efd);
		}
	}
	qsort(lat, n_lat, sizeof(*lat), cmp);
	printf("sent=%llu ok=%zu errors=%zu idle_closed=%zu rate=%.0f "
	    "p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f\n",
	    (unsigned long long)sent, ok, errors, idle_closed,
	    (double)n_lat / seconds, pct(0.5), pct(0.9), pct(0.99),
	    pct(0.999), n_lat ? (double)lat[n_lat - 1] / 1000.0 : 0);
	return errors > 0 || ok + errors < queued ? 2 : 0;
}
