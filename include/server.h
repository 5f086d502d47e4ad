/* server.h - the HTTPS shell around the pure core: libmicrohttpd over GnuTLS
 * for admission reviews, plain HTTP for health and metrics, graceful stop. */
#ifndef MESHINJECT_SERVER_H
#define MESHINJECT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"
#include "metrics.h"
#include "review.h"

#define SERVER_DEFAULT_LISTEN		"0.0.0.0:8443"
#define SERVER_DEFAULT_METRICS_LISTEN	"0.0.0.0:9090"
#define SERVER_DEFAULT_MAX_BODY		(6u * 1024 * 1024)
/* Request body buffers of all connections together; beyond it a request
 * gets 503 (a flood of 6 MiB bodies must not take 8192 x 6 MiB). */
#define SERVER_DEFAULT_MAX_BODY_TOTAL	(256u * 1024 * 1024)
/* A handshake or a request under way may go this long without a byte. */
#define SERVER_DEFAULT_TIMEOUT		10u
/* A keep-alive connection between requests, and a new one from its
 * handshake to its first request line (a client's pooled spare). Longer
 * than the 90 s after which kube-apiserver's client (Go's http.Transport,
 * IdleConnTimeout) drops an idle connection itself: the client closes
 * first, so it never writes a review into a connection the server is
 * closing. Go does not resend a POST that failed so (it is not
 * idempotent), and the apiserver would count it as a webhook failure
 * under failurePolicy. */
#define SERVER_DEFAULT_IDLE_TIMEOUT	120u
/* Connections held open before new ones are refused. Each idle one costs
 * a file descriptor and some 20 KiB until --timeout closes it (before its
 * handshake is done) or --idle-timeout (after it); the limit is
 * high so that a flood of idle connections does not lock the apiserver out
 * for a whole timeout. */
#define SERVER_DEFAULT_MAX_CONNECTIONS	8192u
/* Longest stage name accepted in a path (review_outcome.stage's size). */
#define SERVER_STAGE_MAX		64

/* A parsed ADDR:PORT. */
struct server_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64];		/* canonical: "0.0.0.0:8443", "[::1]:8443" */
};

/* Parse "IPv4:PORT", "[IPv6]:PORT", "localhost:PORT" (127.0.0.1) or ":PORT"
 * (0.0.0.0). Host names are refused: a webhook listens on addresses.
 * PORT is 1..65535. Returns 0, or -1 with the reason in err. */
int server_parse_addr(const char *s, struct server_addr *out, char *err,
    size_t errlen);

/* Route a request path (no query string): "/mutate", "/mutate/<stage>",
 * "/validate", "/validate/<stage>". Returns 0 with *route and stage ("" for
 * none; stagelen bytes, at least SERVER_STAGE_MAX), or -1 for any other path,
 * including a stage name that is empty, too long or not printable ASCII. */
int server_route_parse(const char *path, enum review_route *route,
    char *stage, size_t stagelen);

/* Decode %HH escapes in place, except those of NUL and other control
 * characters, which stay as written: "/mutate/traffic%00" must not become
 * "/mutate/traffic". Returns the new length. */
size_t server_url_unescape(char *s);

/* Is this Content-Type header application/json (any case, parameters such as
 * "; charset=utf-8" allowed)? NULL is not. */
bool server_content_type_is_json(const char *value);

struct server_opts {
	struct server_addr listen;
	struct server_addr metrics_listen;
	const char *cert_pem;	/* borrowed, copied at start: PEM chain */
	const char *key_pem;	/* borrowed, copied at start: PEM key */
	time_t cert_not_after;
	size_t max_body;	/* bytes of request body accepted */
	size_t max_body_total;	/* all bodies in flight; 0: the default */
	unsigned timeout;	/* seconds a handshake or request may stall */
	unsigned idle_timeout;	/* seconds between requests; 0: the default */
	unsigned threads;	/* 0: one per CPU, at least 2 */
	unsigned max_connections;
	const char *self_namespace;	/* copied; NULL when unknown */
};

struct server;

/* Start both listeners with `cfg`, which the server takes (it is freed by the
 * server once no request uses it). Returns the running server, or NULL with
 * the reason in err (cfg is freed then too). Signals should already be blocked
 * in the calling thread so that the server's threads inherit the mask. */
struct server *server_start(const struct server_opts *opts,
    struct config *cfg, char *err, size_t errlen);

/* Replace the config (taken) for new requests; requests under way finish
 * with the one they started with, which is freed after the last of them.
 * Safe from any thread: what a config reload will call. */
void server_config_swap(struct server *srv, struct config *cfg);

/* Serve a new certificate chain and key (PEM, already checked to be a pair
 * by certs_load; copied) to new connections from now on. Connections made
 * with the old one keep it until they close; there is no moment without a
 * certificate. Refuses (-1, reason in err, old one kept) a certificate that
 * has expired or that GnuTLS cannot load. Safe from any thread. */
int server_cert_swap(struct server *srv, const char *cert_pem,
    const char *key_pem, time_t not_after, char *err, size_t errlen);

/* The server's metrics (borrowed), for reloads to count themselves. */
struct metrics *server_metrics(struct server *srv);

/* Report not-ready, stop accepting connections, and wait up to grace_secs
 * for every request whose headers have arrived (its body may still be
 * coming) to be answered. */
void server_shutdown(struct server *srv, unsigned grace_secs);

/* Stop both listeners (closing what is left), free the server and its
 * config. server_free(NULL) is a no-op. */
void server_free(struct server *srv);

#endif
