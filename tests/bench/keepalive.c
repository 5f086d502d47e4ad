/* keepalive.c - a one-connection HTTPS client for make bench's instruction
 * count: POSTs one body N times, one after the other, over a single
 * keep-alive TLS 1.3 connection and reads each whole HTTP/1.1 answer by
 * its Content-Length, so that a server run under callgrind does exactly
 * one handshake and N reviews (run it with N and 2N and subtract).
 *
 * usage: keepalive HOST PORT PATH BODYFILE N CAFILE
 * The server may still be starting (valgrind is slow): the connect is
 * retried for up to 120 s. Prints "keepalive: N answers of 200 (B bytes
 * each)" and exits 0; exits 1 with one line on stderr saying what went
 * wrong (usage, connect, TLS, an answer that is not 200, a broken or
 * chunked answer, the connection closed early). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define KA_MAX_ANSWER	(16u << 20)	/* largest answer read, bytes */
#define KA_CONNECT_SECS	120		/* how long to retry the connect */
#define KA_ERR		256

struct ka_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char *buf;		/* bytes read and not yet consumed */
	size_t have, cap;
};

/* Parse a decimal in [min, max]; 0, or -1 with err filled. */
static int
ka_parse_long(const char *s, long min, long max, const char *what,
    long *out, char *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		snprintf(err, KA_ERR, "%s \"%s\": not a number in %ld..%ld",
		    what, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Read a whole file into a new buffer (the caller frees *out); 0, or -1
 * with err filled. */
static int
ka_read_file(const char *path, char **out, size_t *len, char *err)
{
	FILE *f = NULL;
	char *data = NULL;
	long n;
	int rc = -1;

	if ((f = fopen(path, "rb")) == NULL ||
	    fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		snprintf(err, KA_ERR, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((data = malloc((size_t)n + 1)) == NULL ||
	    fread(data, 1, (size_t)n, f) != (size_t)n) {
		snprintf(err, KA_ERR, "%s: cannot read", path);
		goto fail;
	}
	*out = data;
	*len = (size_t)n;
	data = NULL;
	rc = 0;
fail:
	free(data);
	if (f != NULL)
		fclose(f);
	return rc;
}

static void
ka_tls_err(char *err, const char *what)
{
	unsigned long e = ERR_get_error();

	snprintf(err, KA_ERR, "%s: %s", what,
	    e != 0 ? ERR_reason_error_string(e) : "closed by the server");
}

/* Connect (retrying while refused) and finish a TLS 1.3 handshake that
 * verifies the server against cafile for the name localhost; 0, or -1
 * with err filled. */
static int
ka_connect(struct ka_conn *c, const char *host, int port, const char *cafile,
    char *err)
{
	struct sockaddr_in sa;
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	int one = 1, tries;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(err, KA_ERR, "%s: not an IPv4 address", host);
		return -1;
	}
	for (tries = 0;; tries++) {
		if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
			snprintf(err, KA_ERR, "socket: %s", strerror(errno));
			return -1;
		}
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (errno != ECONNREFUSED || tries >= KA_CONNECT_SECS * 20) {
			snprintf(err, KA_ERR, "connect %s:%d: %s", host, port,
			    strerror(errno));
			return -1;
		}
		close(c->fd);
		c->fd = -1;
		nanosleep(&tick, NULL);
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION) != 1) {
		ka_tls_err(err, "TLS context");
		return -1;
	}
	if (SSL_CTX_load_verify_locations(c->ctx, cafile, NULL) != 1) {
		ka_tls_err(err, cafile);
		return -1;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if ((c->ssl = SSL_new(c->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, "localhost") != 1 ||
	    SSL_set1_host(c->ssl, "localhost") != 1) {
		ka_tls_err(err, "TLS session");
		return -1;
	}
	if (SSL_connect(c->ssl) != 1) {
		ka_tls_err(err, "TLS handshake");
		return -1;
	}
	return 0;
}

static int
ka_write_all(struct ka_conn *c, const char *p, size_t len, char *err)
{
	while (len > 0) {
		int n = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int)len);

		if (n <= 0) {
			ka_tls_err(err, "write");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read more into c->buf; 0, or -1 with err filled (including a close). */
static int
ka_read_more(struct ka_conn *c, char *err)
{
	int n;

	if (c->cap - c->have < 16384 + 1) {
		size_t cap = c->cap ? c->cap * 2 : 65536;
		char *b;

		if (cap > KA_MAX_ANSWER + 16384 + 1 ||
		    (b = realloc(c->buf, cap)) == NULL) {
			snprintf(err, KA_ERR, "an answer larger than %u bytes",
			    KA_MAX_ANSWER);
			return -1;
		}
		c->buf = b;
		c->cap = cap;
	}
	n = SSL_read(c->ssl, c->buf + c->have, (int)(c->cap - c->have - 1));
	if (n <= 0) {
		ka_tls_err(err, "read (the server closed the connection "
		    "before a whole answer)");
		return -1;
	}
	c->have += (size_t)n;
	c->buf[c->have] = '\0';
	return 0;
}

/* Read one whole answer and consume it; checks that it is a 200 with a
 * Content-Length and without Connection: close. Stores the body's size in
 * *body. 0, or -1 with err filled. */
static int
ka_read_answer(struct ka_conn *c, size_t *body, char *err)
{
	char *end, *cl, *line;
	size_t head;
	long len;

	while (c->have < 4 || (end = strstr(c->buf, "\r\n\r\n")) == NULL) {
		if (ka_read_more(c, err) != 0)
			return -1;
	}
	head = (size_t)(end - c->buf) + 4;
	*end = '\0';		/* search the header only */
	if (strncmp(c->buf, "HTTP/1.1 200 ", 13) != 0) {
		line = strchr(c->buf, '\r');
		snprintf(err, KA_ERR, "answer \"%.*s\", not HTTP/1.1 200",
		    line ? (int)(line - c->buf) : 80, c->buf);
		return -1;
	}
	if (strcasestr(c->buf, "\r\ntransfer-encoding:") != NULL) {
		snprintf(err, KA_ERR, "a chunked answer (only Content-Length "
		    "is read)");
		return -1;
	}
	if (strcasestr(c->buf, "\r\nconnection: close") != NULL) {
		snprintf(err, KA_ERR, "the server answered Connection: close "
		    "(no keep-alive)");
		return -1;
	}
	if ((cl = strcasestr(c->buf, "\r\ncontent-length:")) == NULL) {
		snprintf(err, KA_ERR, "an answer without Content-Length");
		return -1;
	}
	cl += 17;
	cl += strspn(cl, " \t");
	line = cl + strcspn(cl, "\r");
	*line = '\0';
	if (ka_parse_long(cl, 0, KA_MAX_ANSWER, "Content-Length", &len,
	    err) != 0)
		return -1;
	while (c->have < head + (size_t)len) {
		if (ka_read_more(c, err) != 0)
			return -1;
	}
	memmove(c->buf, c->buf + head + (size_t)len,
	    c->have - head - (size_t)len);
	c->have -= head + (size_t)len;
	c->buf[c->have] = '\0';
	*body = (size_t)len;
	return 0;
}

int
main(int argc, char **argv)
{
	struct ka_conn c = { .fd = -1 };
	char err[KA_ERR] = "";
	char *body = NULL, *req = NULL;
	size_t blen, hlen, got = 0;
	long port, n = 0, i = -1;
	int rc = 1;

	if (argc != 7) {
		fprintf(stderr, "usage: keepalive HOST PORT PATH BODYFILE N "
		    "CAFILE\n");
		return 1;
	}
	if (ka_parse_long(argv[2], 1, 65535, "PORT", &port, err) != 0 ||
	    ka_parse_long(argv[5], 1, 100000000, "N", &n, err) != 0 ||
	    ka_read_file(argv[4], &body, &blen, err) != 0)
		goto fail;
	if ((req = malloc(blen + 512)) == NULL) {
		snprintf(err, KA_ERR, "out of memory");
		goto fail;
	}
	hlen = (size_t)snprintf(req, 512, "POST %s HTTP/1.1\r\n"
	    "Host: localhost:%ld\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n", argv[3], port, blen);
	memcpy(req + hlen, body, blen);
	if (ka_connect(&c, argv[1], (int)port, argv[6], err) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (ka_write_all(&c, req, hlen + blen, err) != 0 ||
		    ka_read_answer(&c, &got, err) != 0)
			goto fail;
	}
	SSL_shutdown(c.ssl);
	printf("keepalive: %ld answers of 200 (%zu bytes each)\n", n, got);
	rc = 0;
fail:
	if (rc != 0 && i >= 0)
		fprintf(stderr, "keepalive: request %ld of %ld: %s\n", i + 1, n,
		    err);
	else if (rc != 0)
		fprintf(stderr, "keepalive: %s\n", err);
	SSL_free(c.ssl);
	SSL_CTX_free(c.ctx);
	if (c.fd >= 0)
		close(c.fd);
	free(c.buf);
	free(body);
	free(req);
	return rc;
}
