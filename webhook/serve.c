/* serve.c - the `serve` subcommand: flags, config, certificates, then the
 * server until SIGTERM or SIGINT; the config file and the certificate are
 * watched and reloaded (and SIGHUP reloads them at once). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "certs.h"
#include "cli.h"
#include "commands.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "watch.h"

#define DEV_CERT_DIR		"certs/dev"
#define DEV_CERT_DAYS		30
#define SERVE_MAX_BODY_LIMIT	(1024ull * 1024 * 1024)
#define SERVE_MAX_TIMEOUT	3600ul
/* How long SIGTERM waits for requests under way (--shutdown-timeout). A
 * review takes milliseconds, but one whose body is still arriving waits for
 * its client; what is still unanswered after this is a stalled client.
 * Well under kubelet's default terminationGracePeriodSeconds of 30. */
#define SERVE_SHUTDOWN_GRACE	15u
#define SERVE_MAX_SHUTDOWN	300ul
/* --watch-interval: the contract says a change is seen within 10 s. */
#define SERVE_MAX_WATCH		10ul
#define SERVE_MAX_CONNECTIONS	65536ul
/* File descriptors besides connections: listeners, epoll, pipes, logs. */
#define SERVE_SPARE_FDS		64u

struct serve_flags {
	const char *config;
	const char *tls_cert;
	const char *tls_key;
	const char *listen;
	const char *metrics_listen;
	bool dev;
	size_t max_body;
	size_t max_body_total;
	unsigned timeout;
	unsigned idle_timeout;
	unsigned max_connections;
	unsigned shutdown_timeout;
	unsigned watch_interval;
};

/* What a reload needs; used only from the watcher's thread. */
struct serve_reload {
	struct server *srv;
	const char *config;	/* NULL: the embedded default */
	const char *tls_cert;	/* NULL with --dev */
	const char *tls_key;
	char *served_cert;	/* PEM of the certificate served now */
	char config_hash[17];	/* configHash of the config in force */
};

enum { O_CONFIG = CLI_LONG, O_CERT, O_KEY, O_LISTEN, O_METRICS, O_DEV,
    O_MAX_BODY, O_TIMEOUT, O_IDLE_TIMEOUT, O_MAX_CONNECTIONS, O_LOG_LEVEL,
    O_SHUTDOWN_TIMEOUT, O_WATCH_INTERVAL, O_LOG_FORMAT, O_MAX_BODY_TOTAL };

/* The help states these defaults in words; the build fails when they move
 * without it. */
_Static_assert(SERVER_DEFAULT_MAX_BODY == 6u * 1024 * 1024, "--max-body");
_Static_assert(SERVER_DEFAULT_MAX_BODY_TOTAL == 256u * 1024 * 1024,
    "--max-body-total");
_Static_assert(SERVER_DEFAULT_TIMEOUT == 10u, "--timeout");
_Static_assert(SERVER_DEFAULT_IDLE_TIMEOUT == 120u, "--idle-timeout");
_Static_assert(SERVE_MAX_TIMEOUT == 3600ul, "--timeout");
_Static_assert(SERVER_DEFAULT_MAX_CONNECTIONS == 8192u, "--max-connections");
_Static_assert(SERVE_MAX_CONNECTIONS == 65536ul, "--max-connections");
_Static_assert(SERVE_SHUTDOWN_GRACE == 15u, "--shutdown-timeout");
_Static_assert(SERVE_MAX_SHUTDOWN == 300ul, "--shutdown-timeout");
_Static_assert(WATCH_DEFAULT_INTERVAL_MS == 2000u, "--watch-interval");
_Static_assert(SERVE_MAX_WATCH == 10ul, "--watch-interval");

static const struct cli_opt serve_opts[] = {
	{ O_CONFIG, "config", "FILE", "config merged over the embedded default\n"
	    "(default: the embedded one)", false },
	{ O_CERT, "tls-cert", "FILE", "serving certificate, PEM (chain allowed)",
	    false },
	{ O_KEY, "tls-key", "FILE", "its private key, PEM, unencrypted", false },
	{ O_DEV, "dev", NULL, "generate a throwaway CA and a certificate\n"
	    "for localhost into " DEV_CERT_DIR "/", false },
	{ O_LISTEN, "listen", "ADDR:PORT", "HTTPS address (default "
	    SERVER_DEFAULT_LISTEN ";\nIPv6 as [::1]:8443)", false },
	{ O_METRICS, "metrics-listen", "ADDR:PORT", "HTTP address for /metrics, "
	    "/healthz and\n/readyz (default " SERVER_DEFAULT_METRICS_LISTEN ")",
	    false },
	{ O_MAX_BODY, "max-body", "BYTES", "largest request body (default "
	    "6291456, 6 MiB;\nsuffixes Ki, Mi allowed)", false },
	{ O_MAX_BODY_TOTAL, "max-body-total", "BYTES", "request bodies of all "
	    "connections together\n(default 268435456, 256 MiB; beyond it 503)",
	    false },
	{ O_TIMEOUT, "timeout", "SECONDS", "how long a TLS handshake or a "
	    "request\nmay go without a byte, 1..3600 (default 10)", false },
	{ O_IDLE_TIMEOUT, "idle-timeout", "SECONDS", "how long a keep-alive "
	    "connection may wait\nfor its next request, 1..3600 (default 120, "
	    "longer\nthan kube-apiserver's 90 s)", false },
	{ O_MAX_CONNECTIONS, "max-connections", "N", "open HTTPS connections at "
	    "most, 16..65536 (default\n8192; the open-files limit is raised to "
	    "fit)", false },
	{ O_SHUTDOWN_TIMEOUT, "shutdown-timeout", "SECONDS", "on SIGTERM, how "
	    "long to wait for reviews\nunder way, 0..300 (default 15)", false },
	{ O_WATCH_INTERVAL, "watch-interval", "SECONDS", "how often --config, "
	    "--tls-cert and\n--tls-key are checked for changes, 1..10\n"
	    "(default 2; inotify is quicker)", false },
	{ O_LOG_LEVEL, "log-level", "LEVEL", "debug, info, warn or error "
	    "(default info)", false },
	{ O_LOG_FORMAT, "log-format", "FORMAT", "json (default, one object per "
	    "line) or\ntext (logfmt)", false },
	{ 0, NULL, NULL, NULL, false }
};

const struct cli_cmd cmd_serve_cli = {
	.name = "serve",
	.synopsis = "[options]",
	.summary = "serve admission reviews over HTTPS",
	.about =
	    "Serve admission reviews over HTTPS (POST /mutate, /mutate/<stage>,\n"
	    "/validate, /validate/<stage>) and health and metrics over HTTP\n"
	    "(/healthz, /readyz, /metrics). Stops gracefully on SIGTERM.\n",
	.opts = serve_opts,
	.footer =
	    "signals:\n"
	    "  SIGTERM, SIGINT          stop: not ready, no new connections,\n"
	    "                           answer the reviews under way, exit 0\n"
	    "  SIGHUP                   reload the config and the certificate now\n"
	    "\n"
	    "environment:\n"
	    "  POD_NAMESPACE            the webhook's own namespace, whose pods\n"
	    "                           are never injected (downward API)\n"
	    "\n"
	    "Exit status: 0 stopped on a signal; 1 the config, the certificate or\n"
	    "a listener failed; 2 bad arguments.\n",
};

/* Digits, optionally followed by Ki or Mi; 1..1 GiB. */
static int
serve_parse_bytes(const char *s, size_t *out)
{
	unsigned long long v, mult = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (strcmp(end, "Ki") == 0)
		mult = 1024;
	else if (strcmp(end, "Mi") == 0)
		mult = 1024 * 1024;
	else if (*end != '\0')
		return -1;
	if (v == 0 || v > SERVE_MAX_BODY_LIMIT / mult)
		return -1;
	*out = (size_t)(v * mult);
	return 0;
}

/* Digits only, min..max. */
static int
serve_parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Raise the soft open-files limit towards the hard one so that
 * max_connections fit (plus some for listeners, epoll, logs). Returns the
 * number of connections that fit. */
static unsigned
serve_fit_connections(unsigned want)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)want + SERVE_SPARE_FDS;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return want;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > need ? need : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		unsigned fit = rl.rlim_cur > 2 * SERVE_SPARE_FDS ?
		    (unsigned)(rl.rlim_cur - SERVE_SPARE_FDS) : SERVE_SPARE_FDS;
		char have[24], got[24];

		snprintf(have, sizeof(have), "%llu",
		    (unsigned long long)rl.rlim_cur);
		snprintf(got, sizeof(got), "%u", fit);
		log_warn("the open-files limit is too low for --max-connections",
		    "nofile", have, "max_connections", got, NULL);
		return fit;
	}
	return want;
}

/* Returns 0 to go on, 1 after --help, 2 on a usage error (printed). */
static int
serve_parse_flags(int argc, char **argv, struct serve_flags *fl)
{
	const struct cli_cmd *cmd = &cmd_serve_cli;
	struct cli_parser p;
	enum log_level level;
	enum log_format format;
	const char *v;
	int c;

	memset(fl, 0, sizeof(*fl));
	fl->listen = SERVER_DEFAULT_LISTEN;
	fl->metrics_listen = SERVER_DEFAULT_METRICS_LISTEN;
	fl->max_body = SERVER_DEFAULT_MAX_BODY;
	fl->max_body_total = SERVER_DEFAULT_MAX_BODY_TOTAL;
	fl->timeout = SERVER_DEFAULT_TIMEOUT;
	fl->idle_timeout = SERVER_DEFAULT_IDLE_TIMEOUT;
	fl->max_connections = SERVER_DEFAULT_MAX_CONNECTIONS;
	fl->shutdown_timeout = SERVE_SHUTDOWN_GRACE;
	fl->watch_interval = WATCH_DEFAULT_INTERVAL_MS / 1000;
	cli_begin(&p, cmd, argc, argv);
	while ((c = cli_next(&p)) != CLI_END) {
		v = p.value;
		switch (c) {
		case O_CONFIG:
			fl->config = v;
			break;
		case O_CERT:
			fl->tls_cert = v;
			break;
		case O_KEY:
			fl->tls_key = v;
			break;
		case O_LISTEN:
			fl->listen = v;
			break;
		case O_METRICS:
			fl->metrics_listen = v;
			break;
		case O_DEV:
			fl->dev = true;
			break;
		case O_MAX_BODY:
			if (serve_parse_bytes(v, &fl->max_body) != 0)
				return cli_fail(cmd, "--max-body \"%s\": want a "
				    "number of bytes in 1..1Gi (e.g. 6291456 or "
				    "6Mi)", v);
			break;
		case O_MAX_BODY_TOTAL:
			if (serve_parse_bytes(v, &fl->max_body_total) != 0)
				return cli_fail(cmd, "--max-body-total \"%s\": "
				    "want a number of bytes in 1..1Gi (e.g. "
				    "256Mi)", v);
			break;
		case O_TIMEOUT:
		case O_IDLE_TIMEOUT:
			if (serve_parse_uint(v, 1, SERVE_MAX_TIMEOUT,
			    c == O_TIMEOUT ? &fl->timeout :
			    &fl->idle_timeout) != 0)
				return cli_fail(cmd, "--%s \"%s\": want "
				    "whole seconds in 1..%lu", p.opt->name, v,
				    SERVE_MAX_TIMEOUT);
			break;
		case O_MAX_CONNECTIONS:
			if (serve_parse_uint(v, 16, SERVE_MAX_CONNECTIONS,
			    &fl->max_connections) != 0)
				return cli_fail(cmd, "--max-connections \"%s\": "
				    "want a number in 16..%lu", v,
				    SERVE_MAX_CONNECTIONS);
			break;
		case O_LOG_LEVEL:
			if (log_parse_level(v, &level) != 0)
				return cli_fail(cmd, "--log-level \"%s\": want "
				    "debug, info, warn or error", v);
			log_set_level(level);
			break;
		case O_LOG_FORMAT:
			if (log_parse_format(v, &format) != 0)
				return cli_fail(cmd, "--log-format \"%s\": want "
				    "json or text", v);
			log_set_format(format);
			break;
		case O_SHUTDOWN_TIMEOUT:
			if (serve_parse_uint(v, 0, SERVE_MAX_SHUTDOWN,
			    &fl->shutdown_timeout) != 0)
				return cli_fail(cmd, "--shutdown-timeout \"%s\": "
				    "want whole seconds in 0..%lu", v,
				    SERVE_MAX_SHUTDOWN);
			break;
		case O_WATCH_INTERVAL:
			if (serve_parse_uint(v, 1, SERVE_MAX_WATCH,
			    &fl->watch_interval) != 0)
				return cli_fail(cmd, "--watch-interval \"%s\": "
				    "want whole seconds in 1..%lu", v,
				    SERVE_MAX_WATCH);
			break;
		case CLI_HELP:
			cli_usage(cmd, stdout);
			return 1;
		default:
			return cli_fail_parse(&p);
		}
	}
	if (p.optind < argc)
		return cli_fail_parse(&p);
	if (fl->max_body_total < fl->max_body)
		return cli_fail(cmd, "--max-body-total (%zu) is less than "
		    "--max-body (%zu): one request could never be taken whole",
		    fl->max_body_total, fl->max_body);
	return 0;
}

/* The embedded default, or `path` merged over it; every error printed. */
static struct config *
serve_load_config(const char *path)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg;
	size_t i;

	cfg = path != NULL ? config_load_file(path, &errs) :
	    config_load_default(&errs);
	if (cfg == NULL) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		if (errs.count == 0)
			fprintf(stderr, "%s: cannot load the config\n",
			    path != NULL ? path : "embedded default");
		fprintf(stderr, "meshinject serve: %zu error%s in the config; "
		    "not starting\n", errs.count, errs.count == 1 ? "" : "s");
	}
	config_errors_clear(&errs);
	return cfg;
}

/* The host part of a URL that reaches `a` from this machine and matches the
 * dev certificate. */
static const char *
serve_dev_host(const struct server_addr *a)
{
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)&a->ss;

		/* [::] is dual-stack: 127.0.0.1 works too. */
		return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ?
		    "127.0.0.1" : "[::1]";
	}
	return "127.0.0.1";
}

static uint16_t
serve_port(const struct server_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

/* --dev: a new CA and serving certificate for this machine's loopback
 * names, then the same loading path as real certificates. */
static int
serve_dev_certs(const struct server_addr *listen, const struct config *cfg,
    struct certs_pem *pem)
{
	static const char *const sans[] = { "localhost", "127.0.0.1", "::1" };
	char err[512];

	if (certs_write_set(DEV_CERT_DIR, "localhost", sans,
	    sizeof(sans) / sizeof(sans[0]), DEV_CERT_DAYS, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "meshinject serve: --dev: %s\n", err);
		return -1;
	}
	if (certs_load(DEV_CERT_DIR "/" CERTS_TLS_CERT,
	    DEV_CERT_DIR "/" CERTS_TLS_KEY, pem, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshinject serve: --dev: %s\n", err);
		return -1;
	}
	printf("meshinject serve --dev: a throwaway CA and a certificate for "
	    "localhost, 127.0.0.1 and ::1\n"
	    "  CA certificate:      %s/%s (valid %d days)\n"
	    "  serving certificate: %s/%s, key %s/%s\n"
	    "try:\n"
	    "  curl --cacert %s/%s -H 'Content-Type: application/json' "
	    "--data @tests/fixtures/review-replicaset-pod.json "
	    "https://%s:%u/mutate%s\n",
	    DEV_CERT_DIR, CERTS_CA_CERT, DEV_CERT_DAYS,
	    DEV_CERT_DIR, CERTS_TLS_CERT, DEV_CERT_DIR, CERTS_TLS_KEY,
	    DEV_CERT_DIR, CERTS_CA_CERT, serve_dev_host(listen),
	    (unsigned)serve_port(listen),
	    config_stage(cfg, "traffic") != NULL ? "/traffic" : "");
	fflush(stdout);
	return 0;
}

static int
serve_certs(const struct serve_flags *fl, const struct server_addr *listen,
    const struct config *cfg, struct certs_pem *pem)
{
	char err[1024];

	if (fl->dev) {
		if (fl->tls_cert != NULL || fl->tls_key != NULL) {
			fprintf(stderr, "meshinject serve: --dev makes its own "
			    "certificate; drop --tls-cert and --tls-key, or "
			    "--dev\n");
			return -1;
		}
		return serve_dev_certs(listen, cfg, pem);
	}
	if (fl->tls_cert == NULL && fl->tls_key == NULL) {
		fprintf(stderr, "meshinject serve: no certificate: give "
		    "--tls-cert FILE and --tls-key FILE (or --dev for a "
		    "throwaway one on localhost)\n");
		return -1;
	}
	if (fl->tls_cert == NULL || fl->tls_key == NULL) {
		fprintf(stderr, "meshinject serve: %s is missing: the "
		    "certificate and its key go together\n",
		    fl->tls_cert == NULL ? "--tls-cert" : "--tls-key");
		return -1;
	}
	if (certs_load(fl->tls_cert, fl->tls_key, pem, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshinject serve: %s\n", err);
		return -1;
	}
	return 0;
}

/* Warn early about a certificate that is, or soon will be, refused. */
static void
serve_check_expiry(time_t not_after)
{
	char when[32];
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&not_after, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (not_after <= now)
		log_error("the serving certificate has expired: the apiserver "
		    "will refuse it", "not_after", when, NULL);
	else if (not_after - now < 7 * 24 * 3600)
		log_warn("the serving certificate expires within a week",
		    "not_after", when, NULL);
}

/* Watcher callback: load the config file again, completely, and swap it
 * in; a review is decided wholly under the old config or the new one (the
 * server's reference count sees to that). A config that does not load is
 * logged with every error and counted; the one in force stays. */
static int
serve_reload_config(void *arg, bool forced)
{
	struct serve_reload *r = arg;
	struct config_errors errs = { NULL, 0 };
	struct config *cfg;
	const char *why = forced ? "SIGHUP" : "file changed";
	char hash[sizeof(cfg->hash)], n[24];
	size_t i;

	if ((cfg = config_load_file(r->config, &errs)) == NULL) {
		for (i = 0; i < errs.count; i++)
			log_error("config reload: error", "file", r->config,
			    "error", errs.msgs[i], NULL);
		snprintf(n, sizeof(n), "%zu", errs.count);
		log_error("config reload failed: the config in force is kept",
		    "file", r->config, "errors", n, "trigger", why, NULL);
		config_errors_clear(&errs);
		metrics_count_reload(server_metrics(r->srv),
		    METRICS_RELOAD_FAILURE);
		return -1;
	}
	config_errors_clear(&errs);
	memcpy(hash, cfg->hash, sizeof(hash));
	/* The volume changed, not the config (the certificate next to it
	 * was renewed, or a comment changed): nothing to swap or count.
	 * SIGHUP always reloads. */
	if (!forced && strcmp(hash, r->config_hash) == 0) {
		config_free(cfg);
		log_info("config file changed; the config in force is the same",
		    "file", r->config, "configHash", hash, NULL);
		return 0;
	}
	server_config_swap(r->srv, cfg);
	memcpy(r->config_hash, hash, sizeof(r->config_hash));
	metrics_count_reload(server_metrics(r->srv), METRICS_RELOAD_SUCCESS);
	log_info("config reloaded", "file", r->config, "configHash", hash,
	    "trigger", why, NULL);
	return 0;
}

/* Watcher callback: read the certificate and key again; a pair that loads,
 * matches and has not expired is served to new connections. Anything else
 * is logged and the certificate in force stays. */
static int
serve_reload_cert(void *arg, bool forced)
{
	struct serve_reload *r = arg;
	struct certs_pem pem = { 0 };
	const char *why = forced ? "SIGHUP" : "file changed";
	char err[1024], when[32];
	struct tm tm;
	int rc = -1;

	if (certs_load(r->tls_cert, r->tls_key, &pem, err, sizeof(err)) != 0) {
		log_error("certificate reload failed: the certificate in force "
		    "is kept", "cert", r->tls_cert, "key", r->tls_key,
		    "error", err, "trigger", why, NULL);
		goto done;
	}
	/* A volume update that did not change the certificate (the config
	 * next to it changed): nothing to do. The key matches it, so it is
	 * the same pair. */
	if (r->served_cert != NULL && strcmp(r->served_cert, pem.cert) == 0) {
		log_debug("certificate unchanged", "cert", r->tls_cert, NULL);
		rc = 0;
		goto done;
	}
	if (server_cert_swap(r->srv, pem.cert, pem.key, pem.not_after, err,
	    sizeof(err)) != 0) {
		log_error("certificate reload failed: the certificate in force "
		    "is kept", "cert", r->tls_cert, "key", r->tls_key,
		    "error", err, "trigger", why, NULL);
		goto done;
	}
	gmtime_r(&pem.not_after, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_info("serving a new certificate to new connections", "cert",
	    r->tls_cert, "not_after", when, "trigger", why, NULL);
	free(r->served_cert);
	r->served_cert = pem.cert;
	pem.cert = NULL;
	serve_check_expiry(pem.not_after);
	rc = 0;
done:
	certs_pem_clear(&pem);
	return rc;
}

/* The watcher for --config and --tls-cert/--tls-key, started; NULL when
 * there is nothing to watch (embedded config and --dev) or it cannot
 * start (logged: the server runs on without reloads). */
static struct watch *
serve_watch(struct serve_reload *r, unsigned interval)
{
	struct watch *w;
	const char *cert[2];

	if (r->config == NULL && r->tls_cert == NULL)
		return NULL;
	if ((w = watch_new(interval * 1000u)) == NULL)
		goto fail;
	if (r->config != NULL &&
	    watch_add(w, &r->config, 1, serve_reload_config, r) != 0)
		goto fail;
	cert[0] = r->tls_cert;
	cert[1] = r->tls_key;
	if (r->tls_cert != NULL &&
	    watch_add(w, cert, 2, serve_reload_cert, r) != 0)
		goto fail;
	if (watch_start(w) != 0)
		goto fail;
	return w;
fail:
	log_error("cannot watch the config and certificate files: changes "
	    "need a restart", NULL);
	watch_free(w);
	return NULL;
}

/* Wait in this thread for SIGTERM or SIGINT (blocked before any server
 * thread starts, so that only sigwait sees them). SIGHUP reloads the
 * config file and the certificate at once, in the watcher's thread. */
static int
serve_wait(const sigset_t *set, const struct serve_reload *r,
    struct watch *w)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			return -1;
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig != SIGHUP)
			continue;
		if (r->config == NULL)
			log_info("SIGHUP: no --config file: the embedded "
			    "default config stays; nothing to reload", NULL);
		if (r->tls_cert == NULL)
			log_info("SIGHUP: the --dev certificate is not "
			    "reloaded", NULL);
		if (w != NULL) {
			log_info("SIGHUP: reloading", "config", r->config,
			    "cert", r->tls_cert, NULL);
			watch_trigger(w);
		}
	}
}

int
cmd_serve(int argc, char **argv)
{
	struct serve_flags fl;
	struct server_addr listen, metrics;
	struct server_opts opts;
	struct serve_reload reload;
	struct certs_pem pem = { 0 };
	struct config *cfg = NULL;
	struct server *srv = NULL;
	struct watch *w;
	sigset_t set;
	char err[512], grace[16];
	int rc, sig;

	if ((rc = serve_parse_flags(argc, argv, &fl)) != 0)
		return rc == 1 ? 0 : 2;
	if (server_parse_addr(fl.listen, &listen, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshinject serve: --listen %s\n", err);
		return 2;
	}
	if (server_parse_addr(fl.metrics_listen, &metrics, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "meshinject serve: --metrics-listen %s\n", err);
		return 2;
	}
	if ((cfg = serve_load_config(fl.config)) == NULL)
		return 1;
	if (serve_certs(&fl, &listen, cfg, &pem) != 0) {
		config_free(cfg);
		return 1;
	}

	memset(&opts, 0, sizeof(opts));
	opts.listen = listen;
	opts.metrics_listen = metrics;
	opts.cert_pem = pem.cert;
	opts.key_pem = pem.key;
	opts.cert_not_after = pem.not_after;
	memset(&reload, 0, sizeof(reload));
	reload.served_cert = pem.cert;		/* kept to compare */
	memcpy(reload.config_hash, cfg->hash, sizeof(reload.config_hash));
	opts.max_body = fl.max_body;
	opts.max_body_total = fl.max_body_total;
	opts.timeout = fl.timeout;
	opts.idle_timeout = fl.idle_timeout;
	opts.max_connections = serve_fit_connections(fl.max_connections);
	opts.self_namespace = getenv("POD_NAMESPACE");

	/* Before any thread exists, so that every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	srv = server_start(&opts, cfg, err, sizeof(err));
	/* The server has its own copy of the certificate and key now. */
	pem.cert = NULL;
	certs_pem_clear(&pem);
	if (srv == NULL) {
		free(reload.served_cert);
		fprintf(stderr, "meshinject serve: %s\n", err);
		return 1;
	}
	if (opts.self_namespace == NULL)
		log_info("POD_NAMESPACE is not set: no namespace is skipped "
		    "as the webhook's own", NULL);
	serve_check_expiry(opts.cert_not_after);

	reload.srv = srv;
	reload.config = fl.config;
	if (!fl.dev) {
		reload.tls_cert = fl.tls_cert;
		reload.tls_key = fl.tls_key;
	}
	w = serve_watch(&reload, fl.watch_interval);

	sig = serve_wait(&set, &reload, w);
	snprintf(grace, sizeof(grace), "%u", fl.shutdown_timeout);
	log_info("shutting down: not ready, no new connections, finishing "
	    "reviews under way", "signal", sig == SIGTERM ? "SIGTERM" :
	    sig == SIGINT ? "SIGINT" : "error", "timeout_seconds", grace,
	    NULL);
	server_shutdown(srv, fl.shutdown_timeout);
	watch_free(w);
	server_free(srv);
	free(reload.served_cert);
	log_info("stopped", NULL);
	return 0;
}
