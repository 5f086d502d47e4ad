/* serve.c - the `serve` subcommand: flags, config, certificates, then the
 * server until SIGTERM or SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
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
#include "commands.h"
#include "config.h"
#include "log.h"
#include "server.h"

#define DEV_CERT_DIR		"certs/dev"
#define DEV_CERT_DAYS		30
#define SERVE_MAX_BODY_LIMIT	(1024ull * 1024 * 1024)
#define SERVE_MAX_TIMEOUT	3600ul
/* How long SIGTERM waits for requests under way. A review takes
 * milliseconds; what is still unanswered after this is a stalled client.
 * (kubelet's default terminationGracePeriodSeconds is 30.) */
#define SERVE_SHUTDOWN_GRACE	3u
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
	unsigned timeout;
	unsigned max_connections;
};

static void
serve_usage(FILE *f)
{
	fprintf(f,
	    "usage: meshinject serve [options]\n"
	    "\n"
	    "Serve admission reviews over HTTPS (POST /mutate, /mutate/<stage>,\n"
	    "/validate, /validate/<stage>) and health and metrics over HTTP\n"
	    "(/healthz, /readyz, /metrics). Stops gracefully on SIGTERM.\n"
	    "\n"
	    "options:\n"
	    "  --config FILE            config merged over the embedded default\n"
	    "                           (default: the embedded one)\n"
	    "  --tls-cert FILE          serving certificate, PEM (chain allowed)\n"
	    "  --tls-key FILE           its private key, PEM, unencrypted\n"
	    "  --dev                    generate a throwaway CA and a certificate\n"
	    "                           for localhost into " DEV_CERT_DIR "/\n"
	    "  --listen ADDR:PORT       HTTPS address (default %s;\n"
	    "                           IPv6 as [::1]:8443)\n"
	    "  --metrics-listen ADDR:PORT\n"
	    "                           HTTP address for /metrics, /healthz and\n"
	    "                           /readyz (default %s)\n"
	    "  --max-body BYTES         largest request body (default %u, 6 MiB;\n"
	    "                           suffixes Ki, Mi allowed)\n"
	    "  --timeout SECONDS        idle connection timeout (default %u)\n"
	    "  --max-connections N      open HTTPS connections at most (default\n"
	    "                           %u; the open-files limit is raised to fit)\n"
	    "  --log-level LEVEL        debug, info, warn or error (default info)\n"
	    "  --help                   this text\n"
	    "\n"
	    "environment:\n"
	    "  POD_NAMESPACE            the webhook's own namespace, whose pods\n"
	    "                           are never injected (downward API)\n",
	    SERVER_DEFAULT_LISTEN, SERVER_DEFAULT_METRICS_LISTEN,
	    SERVER_DEFAULT_MAX_BODY, SERVER_DEFAULT_TIMEOUT,
	    SERVER_DEFAULT_MAX_CONNECTIONS);
}

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
	enum { O_CONFIG = 256, O_CERT, O_KEY, O_LISTEN, O_METRICS, O_DEV,
	    O_MAX_BODY, O_TIMEOUT, O_MAX_CONNECTIONS, O_LOG_LEVEL, O_HELP };
	static const struct option options[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "tls-cert", required_argument, NULL, O_CERT },
		{ "tls-key", required_argument, NULL, O_KEY },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "metrics-listen", required_argument, NULL, O_METRICS },
		{ "dev", no_argument, NULL, O_DEV },
		{ "max-body", required_argument, NULL, O_MAX_BODY },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "max-connections", required_argument, NULL,
		    O_MAX_CONNECTIONS },
		{ "log-level", required_argument, NULL, O_LOG_LEVEL },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 }
	};
	enum log_level level;
	int c;

	memset(fl, 0, sizeof(*fl));
	fl->listen = SERVER_DEFAULT_LISTEN;
	fl->metrics_listen = SERVER_DEFAULT_METRICS_LISTEN;
	fl->max_body = SERVER_DEFAULT_MAX_BODY;
	fl->timeout = SERVER_DEFAULT_TIMEOUT;
	fl->max_connections = SERVER_DEFAULT_MAX_CONNECTIONS;
	opterr = 0;
	optind = 0;	/* glibc: start over, whatever ran getopt before */
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		switch (c) {
		case O_CONFIG:
			fl->config = optarg;
			break;
		case O_CERT:
			fl->tls_cert = optarg;
			break;
		case O_KEY:
			fl->tls_key = optarg;
			break;
		case O_LISTEN:
			fl->listen = optarg;
			break;
		case O_METRICS:
			fl->metrics_listen = optarg;
			break;
		case O_DEV:
			fl->dev = true;
			break;
		case O_MAX_BODY:
			if (serve_parse_bytes(optarg, &fl->max_body) != 0) {
				fprintf(stderr, "meshinject serve: --max-body "
				    "\"%s\": want a number of bytes in 1..1Gi "
				    "(e.g. 6291456 or 6Mi)\n", optarg);
				return 2;
			}
			break;
		case O_TIMEOUT:
			if (serve_parse_uint(optarg, 1, SERVE_MAX_TIMEOUT,
			    &fl->timeout) != 0) {
				fprintf(stderr, "meshinject serve: --timeout "
				    "\"%s\": want whole seconds in 1..%lu\n",
				    optarg, SERVE_MAX_TIMEOUT);
				return 2;
			}
			break;
		case O_MAX_CONNECTIONS:
			if (serve_parse_uint(optarg, 16, SERVE_MAX_CONNECTIONS,
			    &fl->max_connections) != 0) {
				fprintf(stderr, "meshinject serve: "
				    "--max-connections \"%s\": want a number in "
				    "16..%lu\n", optarg,
				    SERVE_MAX_CONNECTIONS);
				return 2;
			}
			break;
		case O_LOG_LEVEL:
			if (log_parse_level(optarg, &level) != 0) {
				fprintf(stderr, "meshinject serve: --log-level "
				    "\"%s\": want debug, info, warn or error\n",
				    optarg);
				return 2;
			}
			log_set_level(level);
			break;
		case 'h':
		case O_HELP:
			serve_usage(stdout);
			return 1;
		case ':':
			fprintf(stderr, "meshinject serve: %s needs a value\n",
			    argv[optind - 1]);
			serve_usage(stderr);
			return 2;
		default:
			fprintf(stderr, "meshinject serve: unknown option "
			    "\"%s\"\n", argv[optind - 1]);
			serve_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meshinject serve: unexpected argument \"%s\"\n",
		    argv[optind]);
		serve_usage(stderr);
		return 2;
	}
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

/* Wait in this thread for SIGTERM or SIGINT (blocked before any server
 * thread starts, so that only sigwait sees them). SIGHUP is caught here
 * too, so that it does not kill the server: the place for a config
 * reload (server_config_swap). */
static int
serve_wait(const sigset_t *set)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			return -1;
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig == SIGHUP)
			log_warn("SIGHUP: config reload is not implemented; "
			    "restart to load a new config", NULL);
	}
}

int
cmd_serve(int argc, char **argv)
{
	struct serve_flags fl;
	struct server_addr listen, metrics;
	struct server_opts opts;
	struct certs_pem pem = { 0 };
	struct config *cfg = NULL;
	struct server *srv = NULL;
	sigset_t set;
	char err[512];
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
	opts.max_body = fl.max_body;
	opts.timeout = fl.timeout;
	opts.max_connections = serve_fit_connections(fl.max_connections);
	opts.self_namespace = getenv("POD_NAMESPACE");

	/* Before any thread exists, so that every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((srv = server_start(&opts, cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "meshinject serve: %s\n", err);
		certs_pem_clear(&pem);
		return 1;
	}
	if (opts.self_namespace == NULL)
		log_info("POD_NAMESPACE is not set: no namespace is skipped "
		    "as the webhook's own", NULL);
	serve_check_expiry(pem.not_after);

	sig = serve_wait(&set);
	log_info("shutting down: finishing requests under way", "signal",
	    sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "error",
	    NULL);
	server_shutdown(srv, SERVE_SHUTDOWN_GRACE);
	server_free(srv);
	certs_pem_clear(&pem);
	log_info("stopped", NULL);
	return 0;
}
