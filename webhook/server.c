/* server.c - libmicrohttpd over GnuTLS: admission reviews on HTTPS, health
 * and metrics on plain HTTP, the config and the serving certificate each
 * behind one reference-counted pointer (swapped by reloads), graceful stop.
 * The review itself is review_handle()'s job. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>

#include "config.h"
#include "jsonalloc.h"
#include "log.h"
#include "metrics.h"
#include "review.h"
#include "server.h"
#include "version.h"

/* TLS 1.2 and 1.3 only; libmicrohttpd's default would also allow 1.0/1.1. */
#define SERVER_TLS_PRIORITIES	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define SERVER_MAX_THREADS	64u
/* libmicrohttpd's memory pool per connection: the request's headers and
 * the read buffer. It zeroes the whole pool for every request (32 KiB by
 * default, a rep stosb that callgrind counts as 32,768 instructions, ~7 %
 * of a review), and it is RSS for every open connection. 16 KiB takes
 * request headers up to some 14 KiB (beyond: 431), room for the
 * apiserver's few short headers and a long bearer token. */
#define SERVER_CONN_MEMORY	(16u * 1024)
#define SERVER_METRICS_THREADS	1u
#define SERVER_METRICS_CONNECTIONS 64u
/* First allocation for a body: its announced size up to this much, or
 * this much when no size is announced; doubled as more arrives. */
#define SERVER_BODY_FIRST	(64u * 1024)
/* Certificates in a served chain, the leaf included. */
#define SERVER_CHAIN_MAX	16
#define SERVER_BUSY_MSG		"server busy: too many request bodies in " \
				"flight; retry"

/* A config and the number of holders: the server's current pointer counts
 * as one, each request under way as one more. */
struct config_ref {
	struct config *cfg;
	atomic_uint refs;
};

/* A certificate chain and its key as GnuTLS serves them, and the number of
 * holders: the server's current pointer counts as one, each connection
 * that was handshaken with it as one more, so that a retired certificate
 * lives exactly as long as a session that may use it. */
struct tls_cred {
	gnutls_pcert_st pcerts[SERVER_CHAIN_MAX];
	unsigned n_pcerts;
	gnutls_privkey_t key;
	time_t not_after;
	atomic_uint refs;
};

/* Per TCP connection on the review listener (libmicrohttpd's socket
 * context): the certificate its handshake was given. */
struct server_conn {
	struct server *srv;
	struct tls_cred *cred;
};

struct server {
	struct MHD_Daemon *https;
	struct MHD_Daemon *metrics;
	MHD_socket quiesced;		/* listen socket after quiesce */

	pthread_mutex_t cfg_lock;	/* guards cfg (the pointer only) */
	struct config_ref *cfg;
	pthread_mutex_t tls_lock;	/* guards tls (the pointer only) */
	struct tls_cred *tls;

	struct metrics *counters;
	atomic_bool shutting_down;
	atomic_uint inflight;		/* requests between headers and done */
	atomic_size_t body_bytes;	/* body buffers of all requests */
	atomic_uint conns;		/* open review connections */
	atomic_uint conns_peak;		/* the most since the last trim */

	size_t max_body;
	size_t max_body_total;
	unsigned timeout;
	unsigned idle_timeout;
	char *self_namespace;
	char listen_text[64];
	char metrics_text[64];
};

/* One HTTP request on the review listener: allocated when its headers are
 * in, freed when libmicrohttpd reports it complete. */
struct request {
	struct server *srv;
	struct config_ref *cfg;
	enum review_route route;
	char stage[SERVER_STAGE_MAX];
	bool routed;			/* the path was a review route */
	char *body;
	size_t len;
	size_t cap;			/* allocated, counted in body_bytes */
	unsigned status;		/* what was queued, 0 before */
	struct timespec start;
};

/* ---- addresses, routes, headers (pure; tests/check_server.c) ---- */

static void server_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
server_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* 1..65535, digits only. */
static int
server_parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
server_parse_addr(const char *s, struct server_addr *out, char *err,
    size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *portstr;
	uint16_t port;
	size_t hostlen;

	memset(out, 0, sizeof(*out));
	if (s == NULL || *s == '\0') {
		server_err(err, errlen, "empty address: want ADDR:PORT");
		return -1;
	}
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':') {
			server_err(err, errlen, "\"%s\": want [IPv6]:PORT", s);
			return -1;
		}
		hostlen = (size_t)(close - s - 1);
		if (hostlen == 0 || hostlen >= sizeof(host)) {
			server_err(err, errlen, "\"%s\": bad IPv6 address", s);
			return -1;
		}
		memcpy(host, s + 1, hostlen);
		host[hostlen] = '\0';
		portstr = close + 2;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			server_err(err, errlen, "\"%s\": missing :PORT "
			    "(want ADDR:PORT, e.g. 0.0.0.0:8443)", s);
			return -1;
		}
		if (strchr(s, ':') != colon) {
			server_err(err, errlen, "\"%s\": an IPv6 address "
			    "needs brackets, e.g. [::1]:8443", s);
			return -1;
		}
		hostlen = (size_t)(colon - s);
		if (hostlen >= sizeof(host)) {
			server_err(err, errlen, "\"%s\": bad address", s);
			return -1;
		}
		memcpy(host, s, hostlen);
		host[hostlen] = '\0';
		portstr = colon + 1;
	}
	if (server_parse_port(portstr, &port) != 0) {
		server_err(err, errlen, "\"%s\": port \"%s\" is not a number "
		    "in 1..65535", s, portstr);
		return -1;
	}
	if (*s == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			server_err(err, errlen, "\"%s\": \"%s\" is not an IPv6 "
			    "address", s, host);
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		out->len = sizeof(*sin6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(out->text, sizeof(out->text), "[%s]:%u", host,
		    (unsigned)port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

		if (hostlen == 0)
			snprintf(host, sizeof(host), "0.0.0.0");
		else if (strcmp(host, "localhost") == 0)
			snprintf(host, sizeof(host), "127.0.0.1");
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			server_err(err, errlen, "\"%s\": \"%s\" is not an IPv4 "
			    "address (host names are not resolved)", s, host);
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		out->len = sizeof(*sin);
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(out->text, sizeof(out->text), "%s:%u", host,
		    (unsigned)port);
	}
	return 0;
}

int
server_route_parse(const char *path, enum review_route *route, char *stage,
    size_t stagelen)
{
	static const struct {
		const char *prefix;
		enum review_route route;
	} routes[] = {
		{ "/mutate", ROUTE_MUTATE },
		{ "/validate", ROUTE_VALIDATE },
	};
	const char *rest = NULL;
	size_t i, n;

	if (path == NULL || stage == NULL || stagelen == 0)
		return -1;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		n = strlen(routes[i].prefix);
		if (strncmp(path, routes[i].prefix, n) == 0 &&
		    (path[n] == '\0' || path[n] == '/')) {
			*route = routes[i].route;
			rest = path + n;
			break;
		}
	}
	if (rest == NULL)
		return -1;
	if (*rest == '\0') {
		stage[0] = '\0';
		return 0;
	}
	rest++;
	n = strlen(rest);
	if (n == 0 || n >= stagelen || n >= SERVER_STAGE_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (rest[i] <= ' ' || rest[i] > '~' || rest[i] == '/')
			return -1;
	memcpy(stage, rest, n + 1);
	return 0;
}

bool
server_content_type_is_json(const char *value)
{
	static const char json[] = "application/json";
	const size_t n = sizeof(json) - 1;

	if (value == NULL)
		return false;
	while (*value == ' ' || *value == '\t')
		value++;
	if (strncasecmp(value, json, n) != 0)
		return false;
	value += n;
	while (*value == ' ' || *value == '\t')
		value++;
	return *value == '\0' || *value == ';';
}

static int
server_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t
server_url_unescape(char *s)
{
	char *in = s, *out = s;
	int hi, lo;

	while (*in != '\0') {
		if (in[0] == '%' && (hi = server_hexval(in[1])) >= 0 &&
		    (lo = server_hexval(in[2])) >= 0 &&
		    hi * 16 + lo >= 0x20 && hi * 16 + lo != 0x7f) {
			*out++ = (char)(hi * 16 + lo);
			in += 3;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
	return (size_t)(out - s);
}

/* libmicrohttpd's unescaper, through server_url_unescape. */
static size_t
server_mhd_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return server_url_unescape(s);
}

/* ---- the config, behind one pointer ---- */

static struct config_ref *
config_ref_new(struct config *cfg)
{
	struct config_ref *ref;

	if ((ref = malloc(sizeof(*ref))) == NULL)
		return NULL;
	ref->cfg = cfg;
	atomic_init(&ref->refs, 1);
	return ref;
}

static void
config_ref_put(struct config_ref *ref)
{
	if (ref != NULL && atomic_fetch_sub(&ref->refs, 1) == 1) {
		config_free(ref->cfg);
		free(ref);
	}
}

/* A new reference to the current config; give it back with config_ref_put.
 * The lock covers only the load and the increment, so that a swap can never
 * free the config between the two. */
static struct config_ref *
server_config_get(struct server *srv)
{
	struct config_ref *ref;

	pthread_mutex_lock(&srv->cfg_lock);
	ref = srv->cfg;
	if (ref != NULL)
		atomic_fetch_add(&ref->refs, 1);
	pthread_mutex_unlock(&srv->cfg_lock);
	return ref;
}

void
server_config_swap(struct server *srv, struct config *cfg)
{
	struct config_ref *ref, *old;

	if ((ref = config_ref_new(cfg)) == NULL) {
		log_error("config not swapped: out of memory", NULL);
		config_free(cfg);
		return;
	}
	/* Its stages become label values before any request can name them. */
	if (metrics_register_stages(srv->counters, cfg) > 0)
		log_warn("too many stages for the metrics: the rest are "
		    "counted as stage \"other\"", NULL);
	pthread_mutex_lock(&srv->cfg_lock);
	old = srv->cfg;
	srv->cfg = ref;
	pthread_mutex_unlock(&srv->cfg_lock);
	config_ref_put(old);
}

struct metrics *
server_metrics(struct server *srv)
{
	return srv != NULL ? srv->counters : NULL;
}

/* ---- the serving certificate, behind one pointer ---- */

static void
tls_cred_free(struct tls_cred *c)
{
	unsigned i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_pcerts; i++)
		gnutls_pcert_deinit(&c->pcerts[i]);
	if (c->key != NULL)
		gnutls_privkey_deinit(c->key);
	free(c);
}

static void
tls_cred_put(struct tls_cred *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
		tls_cred_free(c);
}

/* GnuTLS credentials from a PEM chain and key that certs_load() already
 * checked to match. Returns a new one with one reference, or NULL with
 * the reason in err. */
static struct tls_cred *
tls_cred_new(const char *cert_pem, const char *key_pem, time_t not_after,
    char *err, size_t errlen)
{
	struct tls_cred *c;
	gnutls_datum_t d;
	unsigned n = SERVER_CHAIN_MAX;
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		server_err(err, errlen, "out of memory");
		return NULL;
	}
	d.data = (unsigned char *)(uintptr_t)cert_pem;
	d.size = (unsigned)strlen(cert_pem);
	if ((rc = gnutls_pcert_list_import_x509_raw(c->pcerts, &n, &d,
	    GNUTLS_X509_FMT_PEM, 0)) < 0 || n == 0) {
		server_err(err, errlen, "the certificate chain does not load "
		    "into GnuTLS: %s", rc < 0 ? gnutls_strerror(rc) :
		    "no certificate");
		goto fail;
	}
	c->n_pcerts = n;
	d.data = (unsigned char *)(uintptr_t)key_pem;
	d.size = (unsigned)strlen(key_pem);
	if ((rc = gnutls_privkey_init(&c->key)) < 0 ||
	    (rc = gnutls_privkey_import_x509_raw(c->key, &d,
	    GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		server_err(err, errlen, "the private key does not load into "
		    "GnuTLS: %s", gnutls_strerror(rc));
		goto fail;
	}
	c->not_after = not_after;
	atomic_init(&c->refs, 1);
	return c;
fail:
	tls_cred_free(c);
	return NULL;
}

static struct tls_cred *
server_tls_get(struct server *srv)
{
	struct tls_cred *c;

	pthread_mutex_lock(&srv->tls_lock);
	c = srv->tls;
	if (c != NULL)
		atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&srv->tls_lock);
	return c;
}

int
server_cert_swap(struct server *srv, const char *cert_pem,
    const char *key_pem, time_t not_after, char *err, size_t errlen)
{
	struct tls_cred *c, *old;

	if (not_after <= time(NULL)) {
		server_err(err, errlen, "the certificate has expired");
		return -1;
	}
	if ((c = tls_cred_new(cert_pem, key_pem, not_after, err,
	    errlen)) == NULL)
		return -1;
	pthread_mutex_lock(&srv->tls_lock);
	old = srv->tls;
	srv->tls = c;
	pthread_mutex_unlock(&srv->tls_lock);
	metrics_set_cert_expiry(srv->counters, not_after);
	/* Sessions handshaken with the old one keep it until they close. */
	tls_cred_put(old);
	return 0;
}

/* Each open connection holds ~75 KiB of malloc'd memory (libmicrohttpd's
 * pool, the GnuTLS session and its record buffers). glibc keeps what a
 * closed connection freed inside the worker thread's malloc arena, so
 * without a trim the RSS stays at the highest number of connections ever
 * open at once on each thread, and rises in steps whenever clients
 * reconnect and land unevenly on the threads. When the open connections
 * fall to half the most since the last trim (and at least SERVER_TRIM_MIN
 * fewer), the free pages go back to the kernel: a few trims when a burst
 * of clients goes away, none while they stay. */
#define SERVER_TRIM_MIN 16u

static void
server_conn_closed(struct server *srv)
{
	unsigned open = atomic_fetch_sub(&srv->conns, 1) - 1;
	unsigned peak = atomic_load(&srv->conns_peak);

	if (peak < open * 2 || peak - open < SERVER_TRIM_MIN)
		return;
	/* One thread trims for a given peak. */
	if (!atomic_compare_exchange_strong(&srv->conns_peak, &peak, open))
		return;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* libmicrohttpd: a TCP connection opened or closed on the review
 * listener. Its context holds the certificate its handshake used. */
static void
server_conn_notify(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
	struct server *srv = cls;
	struct server_conn *sc;
	unsigned open, peak;

	(void)conn;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((sc = calloc(1, sizeof(*sc))) != NULL)
			sc->srv = srv;
		*socket_context = sc;
		open = atomic_fetch_add(&srv->conns, 1) + 1;
		peak = atomic_load(&srv->conns_peak);
		while (open > peak && !atomic_compare_exchange_weak(
		    &srv->conns_peak, &peak, open))
			;
		return;
	}
	if ((sc = *socket_context) != NULL) {
		tls_cred_put(sc->cred);
		free(sc);
		*socket_context = NULL;
	}
	server_conn_closed(srv);
}

/* GnuTLS, during a handshake: the certificate to present. The current one,
 * referenced by the connection until it closes (GnuTLS keeps pointers to
 * it in the session). */
/* The server_conn of the connection a GnuTLS session belongs to, or NULL:
 * libmicrohttpd sets the session's pointer to its connection. */
static struct server_conn *
server_session_conn(gnutls_session_t session, struct MHD_Connection **connp)
{
	struct MHD_Connection *conn = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *info;

	*connp = conn;
	if (conn == NULL || (info = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT)) == NULL)
		return NULL;
	return info->socket_context;
}

/* GnuTLS, once the client's Finished is in: the handshake is done, and the
 * connection waits for its first request as a kept-alive one waits for
 * its next, --idle-timeout. Go's http.Transport, when a request dials and
 * another connection frees up first, pools the new connection unused;
 * closed at --timeout it was dialled again, a handshake on the worker
 * threads in the middle of the load (issue 15's tail). */
static int
server_handshake_done(gnutls_session_t session, unsigned int htype,
    unsigned when, unsigned int incoming, const gnutls_datum_t *msg)
{
	struct MHD_Connection *conn;
	struct server_conn *sc;

	(void)htype;
	(void)when;
	(void)msg;
	if (incoming && (sc = server_session_conn(session, &conn)) != NULL &&
	    sc->srv->idle_timeout != sc->srv->timeout)
		(void)MHD_set_connection_option(conn,
		    MHD_CONNECTION_OPTION_TIMEOUT, sc->srv->idle_timeout);
	return 0;
}

static int
server_cert_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca,
    int nreqs, const gnutls_pk_algorithm_t *algos, int nalgos,
    gnutls_pcert_st **pcert, unsigned int *pcert_length,
    gnutls_privkey_t *privkey)
{
	struct MHD_Connection *conn;
	struct server_conn *sc;

	(void)req_ca;
	(void)nreqs;
	(void)algos;
	(void)nalgos;
	if ((sc = server_session_conn(session, &conn)) == NULL)
		return -1;
	if (sc->cred == NULL && (sc->cred = server_tls_get(sc->srv)) == NULL)
		return -1;
	/* Every handshake asks for the certificate (no session tickets):
	 * the place to hook its end. */
	gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_FINISHED,
	    GNUTLS_HOOK_POST, server_handshake_done);
	*pcert = sc->cred->pcerts;
	*pcert_length = sc->cred->n_pcerts;
	*privkey = sc->cred->key;
	return 0;
}

/* ---- responses ---- */

/* Queue `body` (malloc'd, taken; NULL sends an empty body) with Content-Type `ctype`.
 * `close` asks for the connection to be closed after it: always while
 * shutting down, and when the request body was not read. */
static enum MHD_Result
server_respond(struct MHD_Connection *conn, unsigned status, char *body,
    size_t len, const char *ctype, bool close, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (body == NULL)
		len = 0;
	resp = MHD_create_response_from_buffer(len, body != NULL ? body : "",
	    body != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A constant plain-text body. */
static enum MHD_Result
server_respond_text(struct MHD_Connection *conn, unsigned status,
    const char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; charset=utf-8");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* {"error": msg} */
static enum MHD_Result
server_respond_error(struct MHD_Connection *conn, unsigned status,
    const char *msg, bool close, const char *allow)
{
	static char oom_body[] = "{\"error\":\"out of memory\"}";
	json_t *obj;
	char *body = NULL;

	if ((obj = json_pack("{s:s}", "error", msg)) != NULL) {
		body = json_dumps(obj, JSON_COMPACT);
		json_decref(obj);
	}
	if (body == NULL) {
		struct MHD_Response *resp;
		enum MHD_Result ret;

		resp = MHD_create_response_from_buffer(sizeof(oom_body) - 1,
		    oom_body, MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "application/json");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
		ret = MHD_queue_response(conn, 500, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	return server_respond(conn, status, body, strlen(body),
	    "application/json", close, allow);
}

/* ---- the review listener ---- */

static void
request_free(struct request *req)
{
	if (req == NULL)
		return;
	config_ref_put(req->cfg);
	if (req->cap > 0)
		atomic_fetch_sub(&req->srv->body_bytes, req->cap);
	free(req->body);
	free(req);
}

/* Count `more` bytes of body buffer against the cap on all requests
 * together. Returns false (nothing counted) when that would pass it. */
static bool
request_reserve(struct request *req, size_t more)
{
	struct server *srv = req->srv;
	size_t have = atomic_load(&srv->body_bytes);

	do {
		if (more > srv->max_body_total ||
		    have > srv->max_body_total - more)
			return false;
	} while (!atomic_compare_exchange_weak(&srv->body_bytes, &have,
	    have + more));
	return true;
}

static double
server_ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1e3 +
	    (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* Does the request carry a body that may still be unread? */
static bool
request_has_body(struct MHD_Connection *conn)
{
	const char *clen;

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return true;
	clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	return clen != NULL && strcmp(clen, "0") != 0;
}

/* Queue an error for this request. The body, if any, is not read on: when
 * the response goes out before the body was read, libmicrohttpd stops
 * reading and the Connection: close makes sure nothing reuses the stream.
 * A request without a body keeps its connection. */
static enum MHD_Result
request_fail(struct request *req, struct MHD_Connection *conn,
    unsigned status, const char *msg, const char *allow)
{
	enum MHD_Result ret;

	ret = server_respond_error(conn, status, msg,
	    request_has_body(conn) || atomic_load(&req->srv->shutting_down),
	    allow);
	if (ret == MHD_YES)
		req->status = status;
	return ret;
}

/* Headers are in: route, check method, stage, Content-Type and announced
 * size. Queues an error response, or returns MHD_YES to receive the body. */
static enum MHD_Result
request_begin(struct request *req, struct MHD_Connection *conn,
    const char *url, const char *method)
{
	struct server *srv = req->srv;
	const char *ctype, *clen;
	char msg[160];
	size_t cap;

	if (server_route_parse(url, &req->route, req->stage,
	    sizeof(req->stage)) != 0)
		return request_fail(req, conn, MHD_HTTP_NOT_FOUND,
		    "not found: the paths are /mutate, /mutate/<stage>, "
		    "/validate and /validate/<stage>", NULL);
	req->routed = true;
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return request_fail(req, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed: use POST", MHD_HTTP_METHOD_POST);
	if (req->cfg == NULL)
		return request_fail(req, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "no configuration loaded", NULL);
	if (req->stage[0] != '\0' &&
	    config_stage(req->cfg->cfg, req->stage) == NULL) {
		snprintf(msg, sizeof(msg), "unknown stage \"%s\"", req->stage);
		return request_fail(req, conn, MHD_HTTP_NOT_FOUND, msg, NULL);
	}
	ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!server_content_type_is_json(ctype))
		return request_fail(req, conn,
		    MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "unsupported media type: send Content-Type: "
		    "application/json", NULL);
	clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (clen != NULL) {
		/* libmicrohttpd has already refused a malformed one. */
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(clen, &end, 10);
		if (errno != 0 || n > srv->max_body) {
			snprintf(msg, sizeof(msg), "request body larger than "
			    "%zu bytes", srv->max_body);
			return request_fail(req, conn,
			    MHD_HTTP_CONTENT_TOO_LARGE, msg, NULL);
		}
		/* Grow towards the announced size as bytes come in rather
		 * than trust it: a thousand idle connections announcing 6 MiB
		 * each must not cost 6 GiB. */
		cap = (size_t)n < SERVER_BODY_FIRST ? (size_t)n :
		    SERVER_BODY_FIRST;
		if (cap > 0) {
			if (!request_reserve(req, cap))
				return request_fail(req, conn,
				    MHD_HTTP_SERVICE_UNAVAILABLE,
				    SERVER_BUSY_MSG, NULL);
			if ((req->body = malloc(cap + 1)) == NULL) {
				atomic_fetch_sub(&srv->body_bytes, cap);
				return MHD_NO;
			}
			req->cap = cap;
		}
	}
	return MHD_YES;
}

/* Write a whole error response straight onto the connection's TLS session,
 * bypassing libmicrohttpd; the caller then returns MHD_NO so that the
 * connection is closed and nothing else is written or read on it. Only for
 * the one case libmicrohttpd cannot answer (see request_append). Best
 * effort: a client that stops reading does not get it. */
static void
request_send_raw_error(struct MHD_Connection *conn, unsigned status,
    const char *reason, const char *msg)
{
	const union MHD_ConnectionInfo *info;
	gnutls_session_t session;
	struct timespec tick = { 0, 1000 * 1000 };
	char *body = NULL, *out = NULL;
	json_t *obj;
	int n, tries;
	ssize_t sent;
	size_t off;

	info = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (info == NULL || info->tls_session == NULL)
		return;
	session = (gnutls_session_t)info->tls_session;
	if ((obj = json_pack("{s:s}", "error", msg)) != NULL) {
		body = json_dumps(obj, JSON_COMPACT);
		json_decref(obj);
	}
	if (body == NULL)
		return;
	/* Head and body in one TLS record: the connection is closed right
	 * after, with the client's unread body behind it, and a reset then
	 * may cost the client whatever came in a second record. */
	n = asprintf(&out, "HTTP/1.1 %u %s\r\n"
	    "Content-Type: application/json\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", status, reason, strlen(body), body);
	free(body);
	if (n < 0)
		return;
	/* The socket is non-blocking: retry a little while the kernel's
	 * buffer is full. */
	for (off = 0, tries = 0; off < (size_t)n && tries < 200;) {
		sent = gnutls_record_send(session, out + off, (size_t)n - off);
		if (sent == GNUTLS_E_AGAIN || sent == GNUTLS_E_INTERRUPTED) {
			tries++;
			nanosleep(&tick, NULL);
			continue;
		}
		if (sent < 0)
			break;
		off += (size_t)sent;
	}
	free(out);
}

/* A piece of the body: append it, or refuse the request once it passes
 * max_body (sent without a Content-Length, or more than announced). */
static enum MHD_Result
request_append(struct request *req, struct MHD_Connection *conn,
    const char *data, size_t n)
{
	struct server *srv = req->srv;
	char msg[96];

	if (n > srv->max_body - req->len) {
		snprintf(msg, sizeof(msg), "request body larger than %zu bytes",
		    srv->max_body);
		if (request_fail(req, conn, MHD_HTTP_CONTENT_TOO_LARGE, msg,
		    NULL) == MHD_YES)
			return MHD_YES;
		/* libmicrohttpd 0.9.75 queues no response while a body is
		 * being read: answer on the TLS session ourselves, then drop
		 * the connection rather than read the rest. */
		request_send_raw_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
		    "Content Too Large", msg);
		req->status = MHD_HTTP_CONTENT_TOO_LARGE;
		return MHD_NO;
	}
	if (req->len + n > req->cap) {
		size_t cap = req->cap > 0 ? req->cap : SERVER_BODY_FIRST;
		char *p;

		if (cap > srv->max_body)
			cap = srv->max_body;
		while (cap < req->len + n)
			cap = cap > srv->max_body / 2 ? srv->max_body : cap * 2;
		if (!request_reserve(req, cap - req->cap)) {
			if (request_fail(req, conn,
			    MHD_HTTP_SERVICE_UNAVAILABLE, SERVER_BUSY_MSG,
			    NULL) == MHD_YES)
				return MHD_YES;
			request_send_raw_error(conn,
			    MHD_HTTP_SERVICE_UNAVAILABLE,
			    "Service Unavailable", SERVER_BUSY_MSG);
			req->status = MHD_HTTP_SERVICE_UNAVAILABLE;
			return MHD_NO;
		}
		if ((p = realloc(req->body, cap + 1)) == NULL) {
			atomic_fetch_sub(&srv->body_bytes, cap - req->cap);
			return MHD_NO;
		}
		req->body = p;
		req->cap = cap;
	}
	memcpy(req->body + req->len, data, n);
	req->len += n;
	req->body[req->len] = '\0';
	return MHD_YES;
}

/* One line per review: who, what was decided and why; never the body.
 * Strings from the review may be cut mid-character: log_fields copes. */
static void
request_log(const struct request *req, const struct review_outcome *o,
    unsigned status)
{
	char path[16 + SERVER_STAGE_MAX];
	struct log_field f[9];

	snprintf(path, sizeof(path), "/%s%s%s",
	    req->route == ROUTE_MUTATE ? "mutate" : "validate",
	    req->stage[0] != '\0' ? "/" : "", req->stage);
	f[0] = LOG_STR("path", path);
	f[1] = LOG_STR("uid", o->uid);
	f[2] = LOG_STR("namespace", o->namespace);
	f[3] = LOG_STR("pod", o->pod);
	f[4] = LOG_STR("stage", o->stage[0] != '\0' ? o->stage : NULL);
	f[5] = LOG_STR("decision", o->decision != NULL ? o->decision :
	    "error");
	f[6] = LOG_STR("reason", o->reason);
	f[7] = LOG_INT("status", status);
	f[8] = LOG_REAL("duration_ms", server_ms_since(&req->start));
	log_fields(status == 200 ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "review",
	    f, sizeof(f) / sizeof(f[0]));
}

/* The whole body is in: hand it to the core and send its answer. */
static enum MHD_Result
request_finish(struct request *req, struct MHD_Connection *conn)
{
	struct server *srv = req->srv;
	struct review_opts opts;
	struct review_outcome outcome;
	char *response = NULL;
	int status;
	enum MHD_Result ret;

	memset(&opts, 0, sizeof(opts));
	opts.route = req->route;
	opts.stage = req->stage[0] != '\0' ? req->stage : NULL;
	opts.self_namespace = srv->self_namespace;
	memset(&outcome, 0, sizeof(outcome));
	status = review_handle(req->cfg->cfg, &opts,
	    req->body != NULL ? req->body : "", req->len, &response, &outcome);
	if (status < 0 || response == NULL) {
		free(response);
		log_error("review failed: out of memory", NULL);
		return request_fail(req, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "out of memory", NULL);
	}
	request_log(req, &outcome, (unsigned)status);
	metrics_count_decision(srv->counters, outcome.stage, outcome.decision);
	ret = server_respond(conn, (unsigned)status, response,
	    strlen(response), "application/json",
	    atomic_load(&srv->shutting_down), NULL);
	if (ret == MHD_YES)
		req->status = (unsigned)status;
	return ret;
}

static enum MHD_Result
server_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct request *req = *con_cls;

	(void)version;
	if (req == NULL) {
		if ((req = calloc(1, sizeof(*req))) == NULL)
			return MHD_NO;
		req->srv = srv;
		req->cfg = server_config_get(srv);
		clock_gettime(CLOCK_MONOTONIC, &req->start);
		atomic_fetch_add(&srv->inflight, 1);
		*con_cls = req;
		return request_begin(req, conn, url, method);
	}
	if (req->status != 0) {
		/* Answered already: whatever still arrives is dropped. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		enum MHD_Result ret;

		ret = request_append(req, conn, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return ret;
	}
	return request_finish(req, conn);
}

/* libmicrohttpd has a request line: from here to the answer a stall is
 * --timeout again (it was --idle-timeout while the connection waited), so
 * that headers sent a byte at a time do not hold a connection for longer.
 * NULL: the request's context is made by server_access. */
static void *
server_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct server *srv = cls;

	(void)uri;
	if (srv->idle_timeout != srv->timeout)
		(void)MHD_set_connection_option(conn,
		    MHD_CONNECTION_OPTION_TIMEOUT, srv->timeout);
	return NULL;
}

/* libmicrohttpd is done with a request, answered or not: the one place to
 * count it (meshinject_requests_total and the duration histogram go here). */
static void
server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct request *req = *con_cls;

	if (req == NULL)
		return;
	/* Counted once answered; a request dropped before any answer (client
	 * gone, timeout) has no status to count. */
	if (req->status != 0)
		metrics_count_request(srv->counters, !req->routed ?
		    METRICS_ROUTE_OTHER : req->route == ROUTE_MUTATE ?
		    METRICS_ROUTE_MUTATE : METRICS_ROUTE_VALIDATE, req->stage,
		    req->status, server_ms_since(&req->start) / 1e3);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_debug("request ended early", "reason",
		    toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout" :
		    toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? "client abort" :
		    toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown" :
		    "error", NULL);
	request_free(req);
	*con_cls = NULL;
	atomic_fetch_sub(&srv->inflight, 1);
	/* A keep-alive connection now waits for its next request: for
	 * --idle-timeout (SERVER_DEFAULT_IDLE_TIMEOUT says why longer). */
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK &&
	    srv->idle_timeout != srv->timeout)
		(void)MHD_set_connection_option(conn,
		    MHD_CONNECTION_OPTION_TIMEOUT, srv->idle_timeout);
}

/* ---- the health and metrics listener ---- */

/* Ready: not stopping, a config loaded, and a certificate served that has
 * not expired. Returns NULL, or why not. */
static const char *
server_not_ready(struct server *srv)
{
	bool cfg;
	time_t not_after = 0;

	if (atomic_load(&srv->shutting_down))
		return "shutting down\n";
	if (srv->https == NULL)
		return "not ready: starting\n";
	pthread_mutex_lock(&srv->cfg_lock);
	cfg = srv->cfg != NULL;
	pthread_mutex_unlock(&srv->cfg_lock);
	if (!cfg)
		return "not ready: no config loaded\n";
	pthread_mutex_lock(&srv->tls_lock);
	if (srv->tls != NULL)
		not_after = srv->tls->not_after;
	pthread_mutex_unlock(&srv->tls_lock);
	if (not_after == 0)
		return "not ready: no certificate\n";
	if (not_after <= time(NULL))
		return "not ready: the serving certificate has expired\n";
	return NULL;
}

static enum MHD_Result
server_metrics_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	static int first;
	struct server *srv = cls;
	char *body;

	(void)version;
	(void)upload_data;
	/* Answer on the first call, before any body: none is expected. */
	if (*con_cls == NULL) {
		*con_cls = &first;
	} else {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/healthz") != 0 && strcmp(url, "/readyz") != 0 &&
	    strcmp(url, "/metrics") != 0)
		return server_respond_error(conn, MHD_HTTP_NOT_FOUND,
		    "not found: the paths are /healthz, /readyz and /metrics",
		    false, NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return server_respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed: use GET", true, "GET, HEAD");
	if (strcmp(url, "/healthz") == 0)
		return server_respond_text(conn, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/readyz") == 0) {
		const char *why = server_not_ready(srv);

		if (why == NULL)
			return server_respond_text(conn, MHD_HTTP_OK, "ok\n");
		return server_respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    why);
	}
	if ((body = metrics_render(srv->counters)) == NULL)
		return MHD_NO;
	return server_respond(conn, MHD_HTTP_OK, body, strlen(body),
	    "text/plain; version=0.0.4; charset=utf-8", false, NULL);
}

/* ---- start and stop ---- */

static void server_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* libmicrohttpd's own messages (bind failures, TLS handshake errors) as
 * log lines. */
static void
server_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	/* Every port probe and scanner fails a handshake: not worth a
	 * warning each. Bind and certificate failures are. */
	log_msg(strstr(msg, "handshake") != NULL ||
	    strstr(msg, "TLS connection") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_WARN, msg, "component", "libmicrohttpd", NULL);
}

static unsigned
server_poll_flags(void)
{
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
		return MHD_USE_EPOLL;
	if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
		return MHD_USE_POLL;
	return 0;
}

static unsigned
server_addr_flags(const struct server_addr *a)
{
	const struct sockaddr_in6 *sin6;

	if (a->ss.ss_family != AF_INET6)
		return 0;
	sin6 = (const struct sockaddr_in6 *)&a->ss;
	/* [::] means every address, IPv4 included. */
	if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
		return MHD_USE_DUAL_STACK;
	return MHD_USE_IPv6;
}

static unsigned
server_thread_count(unsigned want)
{
	long n;

	if (want == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		want = n > 0 ? (unsigned)n : 2;
	}
	if (want < 2)
		want = 2;
	return want > SERVER_MAX_THREADS ? SERVER_MAX_THREADS : want;
}

struct server *
server_start(const struct server_opts *opts, struct config *cfg, char *err,
    size_t errlen)
{
	struct server *srv;
	unsigned flags, threads = server_thread_count(opts->threads);

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
	    MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) !=
	    MHD_YES) {
		server_err(err, errlen, "libmicrohttpd was built without TLS "
		    "or without the certificate callback (GnuTLS 3 or later "
		    "is needed)");
		config_free(cfg);
		return NULL;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		server_err(err, errlen, "out of memory");
		config_free(cfg);
		return NULL;
	}
	pthread_mutex_init(&srv->cfg_lock, NULL);
	pthread_mutex_init(&srv->tls_lock, NULL);
	srv->quiesced = MHD_INVALID_SOCKET;
	if ((srv->counters = metrics_new()) == NULL ||
	    (srv->cfg = config_ref_new(cfg)) == NULL) {
		server_err(err, errlen, "out of memory");
		config_free(cfg);
		goto fail;
	}
	(void)metrics_register_stages(srv->counters, cfg);
	if (opts->cert_pem == NULL || opts->key_pem == NULL ||
	    (srv->tls = tls_cred_new(opts->cert_pem, opts->key_pem,
	    opts->cert_not_after, err, errlen)) == NULL) {
		if (opts->cert_pem == NULL || opts->key_pem == NULL)
			server_err(err, errlen, "no certificate");
		goto fail;
	}
	metrics_set_cert_expiry(srv->counters, opts->cert_not_after);
	srv->max_body = opts->max_body > 0 ? opts->max_body :
	    SERVER_DEFAULT_MAX_BODY;
	srv->timeout = opts->timeout > 0 ? opts->timeout :
	    SERVER_DEFAULT_TIMEOUT;
	srv->idle_timeout = opts->idle_timeout > 0 ? opts->idle_timeout :
	    SERVER_DEFAULT_IDLE_TIMEOUT;
	srv->max_body_total = opts->max_body_total > 0 ?
	    opts->max_body_total : SERVER_DEFAULT_MAX_BODY_TOTAL;
	if (srv->max_body_total < srv->max_body)
		srv->max_body_total = srv->max_body;
	if (opts->self_namespace != NULL && *opts->self_namespace != '\0' &&
	    (srv->self_namespace = strdup(opts->self_namespace)) == NULL) {
		server_err(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(srv->listen_text, sizeof(srv->listen_text), "%s",
	    opts->listen.text);
	snprintf(srv->metrics_text, sizeof(srv->metrics_text), "%s",
	    opts->metrics_listen.text);

	/* ITC: needed by MHD_quiesce_daemon with internal threads. The logger
	 * comes first among the options so that it gets every message. */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
	    MHD_USE_ERROR_LOG | MHD_USE_TLS | server_poll_flags() |
	    server_addr_flags(&opts->listen);
	srv->https = MHD_start_daemon(flags, 0, NULL, NULL,
	    server_access, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&opts->listen.ss,
	    MHD_OPTION_HTTPS_CERT_CALLBACK, server_cert_retrieve,
	    MHD_OPTION_NOTIFY_CONNECTION, server_conn_notify, srv,
	    MHD_OPTION_HTTPS_PRIORITIES, SERVER_TLS_PRIORITIES,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, srv->timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_CONN_MEMORY,
	    MHD_OPTION_CONNECTION_LIMIT, opts->max_connections > 0 ?
	    opts->max_connections : SERVER_DEFAULT_MAX_CONNECTIONS,
	    MHD_OPTION_NOTIFY_COMPLETED, server_completed, srv,
	    MHD_OPTION_URI_LOG_CALLBACK, server_request_line, srv,
	    MHD_OPTION_UNESCAPE_CALLBACK, server_mhd_unescape, NULL,
	    MHD_OPTION_END);
	if (srv->https == NULL) {
		server_err(err, errlen, "cannot serve HTTPS on %s (address in "
		    "use, not local, or no permission?)", opts->listen.text);
		goto fail;
	}
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
	    server_poll_flags() | server_addr_flags(&opts->metrics_listen);
	srv->metrics = MHD_start_daemon(flags, 0, NULL, NULL,
	    server_metrics_access, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR,
	    (const struct sockaddr *)&opts->metrics_listen.ss,
	    MHD_OPTION_CONNECTION_TIMEOUT, srv->timeout,
	    MHD_OPTION_CONNECTION_LIMIT, SERVER_METRICS_CONNECTIONS,
	    MHD_OPTION_END);
	if (srv->metrics == NULL) {
		server_err(err, errlen, "cannot serve HTTP on %s (address in "
		    "use, not local, or no permission?)",
		    opts->metrics_listen.text);
		goto fail;
	}
	{
		char nthreads[16], timeout[16], idle[16], maxbody[24],
		    maxconn[16], maxtotal[24];

		snprintf(maxconn, sizeof(maxconn), "%u",
		    opts->max_connections > 0 ? opts->max_connections :
		    SERVER_DEFAULT_MAX_CONNECTIONS);
		snprintf(nthreads, sizeof(nthreads), "%u", threads);
		snprintf(timeout, sizeof(timeout), "%u", srv->timeout);
		snprintf(idle, sizeof(idle), "%u", srv->idle_timeout);
		snprintf(maxbody, sizeof(maxbody), "%zu", srv->max_body);
		snprintf(maxtotal, sizeof(maxtotal), "%zu",
		    srv->max_body_total);
		log_info("listening", "https", srv->listen_text,
		    "metrics", srv->metrics_text, "threads", nthreads,
		    "timeout_seconds", timeout,
		    "idle_timeout_seconds", idle, "max_body_bytes", maxbody,
		    "max_body_total_bytes", maxtotal,
		    "max_connections", maxconn,
		    "self_namespace", srv->self_namespace,
		    "version", MESHINJECT_VERSION, NULL);
	}
	return srv;
fail:
	server_free(srv);
	return NULL;
}

void
server_shutdown(struct server *srv, unsigned grace_secs)
{
	struct timespec start, tick = { 0, 10 * 1000 * 1000 };

	if (srv == NULL)
		return;
	atomic_store(&srv->shutting_down, true);
	if (srv->https != NULL && srv->quiesced == MHD_INVALID_SOCKET) {
		srv->quiesced = MHD_quiesce_daemon(srv->https);
		/* The socket stays open until the stop, but shut down it
		 * refuses new connections instead of queueing them in a
		 * backlog that nobody accepts from any more. */
		if (srv->quiesced != MHD_INVALID_SOCKET)
			shutdown(srv->quiesced, SHUT_RDWR);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (atomic_load(&srv->inflight) > 0 &&
	    server_ms_since(&start) < grace_secs * 1000.0)
		nanosleep(&tick, NULL);
	if (atomic_load(&srv->inflight) > 0) {
		char n[16];

		snprintf(n, sizeof(n), "%u", atomic_load(&srv->inflight));
		log_warn("grace period over: closing requests under way",
		    "requests", n, NULL);
	}
}

void
server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	if (srv->https != NULL)
		MHD_stop_daemon(srv->https);
	/* Only now: a polling thread may have used it until the stop. */
	if (srv->quiesced != MHD_INVALID_SOCKET)
		close(srv->quiesced);
	if (srv->metrics != NULL)
		MHD_stop_daemon(srv->metrics);
	config_ref_put(srv->cfg);
	tls_cred_put(srv->tls);
	metrics_free(srv->counters);
	pthread_mutex_destroy(&srv->cfg_lock);
	pthread_mutex_destroy(&srv->tls_lock);
	free(srv->self_namespace);
	free(srv);
}
