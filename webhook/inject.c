/* inject.c - build the mesh containers, volumes and status annotation for
 * a decision, and the patch that adds them. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "envoyvalues.h"
#include "inject.h"
#include "jsonalloc.h"
#include "jsonpack.h"
#include "jsonscan.h"
#include "jsonwrite.h"
#include "patch.h"

#define PROXY_NAME	MESH_PROXY
#define INIT_NAME	MESH_INIT
#define VOL_RUN		MESH_VOL_RUN
#define VOL_TOKEN	MESH_VOL_TOKEN
#define VOL_CERTS	MESH_VOL_CERTS
#define RUN_DIR		"/var/run/mesh"
#define TOKEN_DIR	"/var/run/secrets/mesh/tokens"
#define CERTS_DIR	"/var/run/secrets/mesh/certs"

static bool
has(unsigned features, enum feature f)
{
	return (features & FEATURE_BIT(f)) != 0;
}

#define PROBE_PREFIX	"/app-health/"
#define MAX_PROBES	256

/* One app probe rewritten to go through the proxy's status port. */
struct app_probe {
	size_t container;		/* index in spec.containers */
	const char *field;		/* livenessProbe, ... */
	char path[PATCH_PATH_MAX / 4];	/* /app-health/<container>/<kind> */
	json_t *rewritten;		/* the new probe (owned) */
	json_t *original;		/* the original, named port resolved */
	bool tcp;
	bool https;
	int port;
	const char *app_path;
	const json_t *headers;		/* httpGet.httpHeaders, borrowed */
	long period;
	long timeout;
};

/* Everything the builders need, worked out once from the decision. */
struct plan {
	const struct config *cfg;
	const struct decision *d;
	const json_t *pod;
	const char *namespace;
	const struct stage *stage;	/* whose name the proxy reports */
	const struct proxy_config *px;
	unsigned features;		/* what is injected now */
	size_t n_probes;
	int app_metrics_port;		/* 0: the app declares none */
	const char *app_metrics_path;
	const char *app_metrics_scheme;
	/* Last: only the first n_probes are ever read or cleared. */
	struct app_probe probes[MAX_PROBES];
};

/* Split "host:port" (or "[v6]:port"); 0, or -1 when it is not that shape
 * (the config loader has checked it, so this is defensive). */
static int
split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(s, ':');
	size_t n;
	long p;
	char *end;

	if (colon == NULL)
		return -1;
	n = (size_t)(colon - s);
	if (n > 1 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/*
 * The Envoy bootstrap, written as text: keys in byte order, compact, as
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes a tree. Building the
 * tree with json_pack and sorting it to write it was a quarter of a
 * review; its text is all the patch needs.
 */

/* Can s[0..n) go between quotes as it is: none of ", \\, $ or a control
 * byte? Eight bytes a step (jsonscan_word); a byte above 0x7f, or one that
 * the word's borrow flags, says no, and text_str_after's byte-wise loop
 * decides. */
static bool
text_plain(const char *s, size_t n)
{
	uint64_t x, d;
	size_t i;

	for (i = 0; n - i >= 8; i += 8) {
		memcpy(&x, s + i, sizeof(x));
		d = x ^ (JSONSCAN_ONES * '$');
		if ((jsonscan_word(x) | ((d - JSONSCAN_ONES) & ~d &
		    JSONSCAN_HIGHS)) != 0)
			return false;
	}
	for (; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '"' ||
		    s[i] == '\\' || s[i] == '$')
			return false;
	return true;
}

/* s as a JSON string after `prefix` (a literal that needs no escaping),
 * escaped as jansson escapes: ", \ and the control characters; the rest as
 * is (s is valid UTF-8: from the config, or from the parsed pod). A $ is
 * written $$: the text goes into the proxy's args, where the kubelet
 * expands $(VAR) from the container's env and turns $$ back into $, so
 * that a pod's "$(MESH_APP_PROBES)" reaches Envoy as written instead of as
 * JSON spliced into the bootstrap. NULL fails the text, as json_pack fails
 * on it. */
static void
text_str_after(struct buf *t, const char *prefix, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *run;
	char esc[6], *o;
	size_t np, n;

	if (s == NULL) {
		buf_fail(t);
		return;
	}
	/* Most are names with nothing to escape: measured, checked and
	 * copied at once (some 25 a review). */
	np = strlen(prefix);
	n = strlen(s);
	if (text_plain(s, n) && buf_reserve(t, np + n + 2) == 0) {
		o = t->data + t->len;
		o[0] = '"';
		memcpy(o + 1, prefix, np);
		memcpy(o + 1 + np, s, n);
		o[1 + np + n] = '"';
		t->len += np + n + 2;
		t->data[t->len] = '\0';
		return;
	}
	buf_add(t, "\"", 1);
	buf_lit(t, prefix);
	for (run = s; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\' && c != '$')
			continue;
		buf_add(t, run, (size_t)(s - run));
		run = s + 1;
		if (c == '$') {
			buf_add(t, "$$", 2);
			continue;
		}
		esc[0] = '\\';
		switch (c) {
		case '"': case '\\': esc[1] = (char)c; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			buf_add(t, esc, 6);
			continue;
		}
		buf_add(t, esc, 2);
	}
	buf_add(t, run, (size_t)(s - run));
	buf_add(t, "\"", 1);
}

/* s as a JSON string (text_str_after() with no prefix). */
static void
text_str(struct buf *t, const char *s)
{
	text_str_after(t, "", s);
}

/* key, then a request path as the kubelet and Prometheus send it: one
 * without its leading / gets it (Go's URL adds it to a path after a host);
 * Envoy would write it into the request line as it is. */
static void
text_path(struct buf *t, const char *key, const char *path)
{
	buf_lit(t, key);
	text_str_after(t, path != NULL && *path != '/' ? "/" : "", path);
}

/* v as "%ld" writes it, at out (room for LONG_TEXT bytes), NUL-terminated;
 * its length. Without printf: a review writes a dozen numbers, and each
 * snprintf cost some 700 instructions. */
#define LONG_TEXT	(3 * sizeof(long) + 2)

static size_t
long_text(char *out, long v)
{
	char tmp[LONG_TEXT], *q = tmp + sizeof(tmp);
	unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
	size_t n;

	*--q = '\0';
	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--q = '-';
	n = (size_t)(tmp + sizeof(tmp) - 1 - q);
	memcpy(out, q, n + 1);
	return n;
}

static void
text_int(struct buf *t, long v)
{
	char buf[LONG_TEXT];
	size_t n = long_text(buf, v);

	buf_add(t, buf, n);
}

/* key, then a string value: "key":"value" */
static void
text_kv(struct buf *t, const char *key, const char *value)
{
	buf_lit(t, key);
	text_str(t, value);
}

/* ,"http_health_check":{...}: Envoy's HTTP check for a probe, its path
 * and headers (Host as the check's host; the last one, as the kubelet
 * would), 200-399 healthy as for the kubelet. */
static void
bs_http_check(struct buf *t, const struct app_probe *pr)
{
	const char *host = NULL, *name, *value;
	const json_t *h;
	size_t i, added = 0;

	json_array_foreach(pr->headers, i, h) {
		if (envoyvalues_header(h, &name, &value) &&
		    strcasecmp(name, "host") == 0)
			host = value;
	}
	buf_lit(t, ",\"http_health_check\":{\"expected_statuses\":"
	    "[{\"end\":400,\"start\":200}]");
	if (host != NULL)
		text_kv(t, ",\"host\":", host);
	text_path(t, ",\"path\":", pr->app_path);
	json_array_foreach(pr->headers, i, h) {
		if (!envoyvalues_header(h, &name, &value) ||
		    strcasecmp(name, "host") == 0)
			continue;
		buf_lit(t, added++ == 0 ? ",\"request_headers_to_add\":[" :
		    ",");
		text_kv(t, "{\"header\":{\"key\":", name);
		text_kv(t, ",\"value\":", value);
		buf_lit(t, "}}");
	}
	if (added > 0)
		buf_lit(t, "]");
	buf_lit(t, "}");
}

/* {"socket_address":{"address":host,"port_value":port}} */
static void
bs_sockaddr(struct buf *t, const char *host, int port)
{
	text_kv(t, "{\"socket_address\":{\"address\":", host);
	buf_lit(t, ",\"port_value\":");
	text_int(t, port);
	buf_lit(t, "}}");
}

/* A cluster with one endpoint; a probe's health check, TLS to an HTTPS
 * probe or metrics endpoint, or HTTP/2 to the xDS server. */
static void
bs_cluster(struct buf *t, const char *name, const char *type,
    const char *host, int port, bool http2, bool tls,
    const struct app_probe *pr)
{
	buf_lit(t, "{\"connect_timeout\":\"1s\"");
	if (pr != NULL) {
		char interval[32], timeout[32];

		/* A probe cluster never carries traffic, and Envoy checks
		 * such a cluster every no_traffic_interval (60 s by default):
		 * pin both to the probe's period. */
		snprintf(interval, sizeof(interval), "%lds", pr->period);
		snprintf(timeout, sizeof(timeout), "%lds", pr->timeout);
		buf_lit(t, ",\"health_checks\":[{\"healthy_threshold\":1");
		if (!pr->tcp)
			bs_http_check(t, pr);
		text_kv(t, ",\"interval\":", interval);
		text_kv(t, ",\"no_traffic_healthy_interval\":", interval);
		text_kv(t, ",\"no_traffic_interval\":", interval);
		if (pr->tcp)
			buf_lit(t, ",\"tcp_health_check\":{}");
		text_kv(t, ",\"timeout\":", timeout);
		buf_lit(t, ",\"unhealthy_threshold\":1}]");
	}
	text_kv(t, ",\"load_assignment\":{\"cluster_name\":", name);
	buf_lit(t, ",\"endpoints\":[{\"lb_endpoints\":[{\"endpoint\":"
	    "{\"address\":");
	bs_sockaddr(t, host, port);
	text_kv(t, "}}]}]},\"name\":", name);
	if (tls)
		buf_lit(t, ",\"transport_socket\":{\"name\":"
		    "\"envoy.transport_sockets.tls\",\"typed_config\":"
		    "{\"@type\":\"type.googleapis.com/envoy.extensions."
		    "transport_sockets.tls.v3.UpstreamTlsContext\"}}");
	text_kv(t, ",\"type\":", type);
	if (http2)
		buf_lit(t, ",\"typed_extension_protocol_options\":"
		    "{\"envoy.extensions.upstreams.http.v3.HttpProtocolOptions\":"
		    "{\"@type\":\"type.googleapis.com/envoy.extensions.upstreams."
		    "http.v3.HttpProtocolOptions\",\"explicit_http_config\":"
		    "{\"http2_protocol_options\":{}}}}");
	buf_lit(t, "}");
}

static void
bs_route(struct buf *t, const char *prefix, const char *cluster_name,
    const char *rewrite)
{
	text_kv(t, "{\"match\":{\"prefix\":", prefix);
	text_kv(t, "},\"route\":{\"cluster\":", cluster_name);
	text_path(t, ",\"prefix_rewrite\":", rewrite);
	buf_lit(t, "}}");
}

/* The health-check filter answering one rewritten probe path: 200 while
 * the probe's cluster (one endpoint, the app's port on localhost, actively
 * checked by Envoy with the probe's own HTTP or TCP check) is healthy, 503
 * otherwise. Envoy reaches the app directly: the proxy's UID is exempt
 * from the redirect. */
static void
bs_probe_filter(struct buf *t, const struct app_probe *pr,
    const char *cluster_name)
{
	buf_lit(t, "{\"name\":\"envoy.filters.http.health_check\","
	    "\"typed_config\":{\"@type\":\"type.googleapis.com/envoy."
	    "extensions.filters.http.health_check.v3.HealthCheck\","
	    "\"cluster_min_healthy_percentages\":{");
	text_str(t, cluster_name);
	buf_lit(t, ":{\"value\":100.0}},\"headers\":[{\"name\":\":path\","
	    "\"string_match\":{\"exact\":");
	text_str(t, pr->path);
	buf_lit(t, "}}],\"pass_through_mode\":false}}");
}

/* A plain-HTTP listener on all addresses: the status port's routes and
 * probe filters, or the metrics port's routes; the router last. */
static void
bs_listener(struct buf *t, const struct plan *pl, const char *name,
    int port, bool status)
{
	char cname[64];
	size_t i;

	buf_lit(t, "{\"address\":");
	bs_sockaddr(t, "0.0.0.0", port);
	buf_lit(t, ",\"filter_chains\":[{\"filters\":[{\"name\":"
	    "\"envoy.filters.network.http_connection_manager\","
	    "\"typed_config\":{\"@type\":\"type.googleapis.com/envoy."
	    "extensions.filters.network.http_connection_manager.v3."
	    "HttpConnectionManager\",\"http_filters\":[");
	for (i = 0; status && i < pl->n_probes; i++) {
		snprintf(cname, sizeof(cname), "mesh-probe-%zu", i);
		bs_probe_filter(t, &pl->probes[i], cname);
		buf_lit(t, ",");
	}
	buf_lit(t, "{\"name\":\"envoy.filters.http.router\",\"typed_config\":"
	    "{\"@type\":\"type.googleapis.com/envoy.extensions.filters.http."
	    "router.v3.Router\"}}],\"route_config\":{\"virtual_hosts\":"
	    "[{\"domains\":[\"*\"],");
	text_kv(t, "\"name\":", name);
	buf_lit(t, ",\"routes\":[");
	if (status) {
		bs_route(t, "/healthz/ready", "mesh-admin", "/ready");
	} else {
		bs_route(t, "/stats/prometheus", "mesh-admin",
		    "/stats/prometheus");
		if (pl->app_metrics_port > 0) {
			buf_lit(t, ",");
			bs_route(t, "/stats/app", "mesh-app-metrics",
			    pl->app_metrics_path);
		}
	}
	text_kv(t, "]}]},\"stat_prefix\":", name);
	text_kv(t, "}}]}],\"name\":", name);
	buf_lit(t, "}");
}

/* The bootstrap's text and its length, or NULL when memory runs out. */
static char *
plan_bootstrap(const struct plan *pl, size_t *lenp)
{
	const struct proxy_config *px = pl->px;
	const char *slash = strchr(pl->d->workload, '/');
	char host[256], clus[POLICY_MSG_LEN + 64], cname[64];
	struct buf t;
	int xds_port = 15010;
	size_t i;

	if (split_hostport(px->xds_address, host, sizeof(host), &xds_port) ==
	    -1)
		snprintf(host, sizeof(host), "%s", px->xds_address);
	/* The cluster the proxy reports: the workload's name and namespace. */
	snprintf(clus, sizeof(clus), "%s.%s", slash != NULL ? slash + 1 :
	    pl->d->workload, pl->namespace);
	/* A long namespace is cut at any byte: JSON needs valid UTF-8. */
	utf8_clean(clus);

	/* Bounded by the pod it is made from (a probe's path and headers
	 * appear once each, escaped), so only as json_dumps is; 2 KiB holds
	 * most bootstraps without growing. */
	buf_init(&t, BUF_MAX);
	buf_reserve(&t, 4096);	/* about 2.7 KB: no growing, no copies */
	buf_reserve(&t, 2047);
	buf_lit(&t, "{\"admin\":{\"address\":");
	bs_sockaddr(&t, "127.0.0.1", px->port_admin);
	buf_lit(&t, "},\"dynamic_resources\":{\"ads_config\":{\"api_type\":"
	    "\"GRPC\",\"grpc_services\":[{\"envoy_grpc\":{\"cluster_name\":"
	    "\"mesh-xds\"}}],\"transport_api_version\":\"V3\"},"
	    "\"cds_config\":{\"ads\":{},\"resource_api_version\":\"V3\"},"
	    "\"lds_config\":{\"ads\":{},\"resource_api_version\":\"V3\"}},");
	/* $(VAR) is expanded by the kubelet from the container's env: the
	 * pod's name is not known at admission (generateName). */
	text_kv(&t, "\"node\":{\"cluster\":", clus);
	buf_lit(&t, ",\"id\":\"$(POD_NAME).$(POD_NAMESPACE)\",\"metadata\":{");
	text_kv(&t, "\"CONFIG_HASH\":", pl->cfg->hash);
	text_kv(&t, ",\"MESH_STAGE\":", pl->stage->name);
	text_kv(&t, ",\"MTLS_MODE\":", has(pl->features, FEATURE_MTLS) ?
	    pl->cfg->mtls_mode : "DISABLE");
	buf_lit(&t, ",\"NAMESPACE\":\"$(POD_NAMESPACE)\",\"POD_IP\":"
	    "\"$(POD_IP)\",\"SERVICE_ACCOUNT\":\"$(SERVICE_ACCOUNT)\"}},"
	    "\"static_resources\":{\"clusters\":[");
	bs_cluster(&t, "mesh-xds", "STRICT_DNS", host, xds_port, true, false,
	    NULL);
	buf_lit(&t, ",");
	bs_cluster(&t, "mesh-admin", "STATIC", "127.0.0.1", px->port_admin,
	    false, false, NULL);
	for (i = 0; i < pl->n_probes; i++) {
		snprintf(cname, sizeof(cname), "mesh-probe-%zu", i);
		buf_lit(&t, ",");
		bs_cluster(&t, cname, "STATIC", "127.0.0.1",
		    pl->probes[i].port, false, pl->probes[i].https,
		    &pl->probes[i]);
	}
	if (pl->app_metrics_port > 0) {
		buf_lit(&t, ",");
		bs_cluster(&t, "mesh-app-metrics", "STATIC", "127.0.0.1",
		    pl->app_metrics_port, false,
		    envoyvalues_metrics_tls(pl->app_metrics_scheme), NULL);
	}
	buf_lit(&t, "],\"listeners\":[");
	bs_listener(&t, pl, "mesh-status", px->port_status, true);
	buf_lit(&t, ",");
	bs_listener(&t, pl, "mesh-metrics", px->port_metrics, false);
	buf_lit(&t, "]}}");
	return buf_take(&t, lenp);
}

/* The container parts below are written as text: the answer carries them
 * as text, and a tree of the proxy's container cost more to build and to
 * write than the rest of the review. The fixed parts are literal JSON
 * text, the values between them escaped as they are written; each part is
 * an item of a comma-separated list, or a member "key":value of one. */

/* A list's text and length for jsonpack_text's R: "" while it is empty. */
#define LIST(b)	((b)->data != NULL ? (b)->data : ""), (b)->len

/* s as a JSON string, escaped as jansson escapes (the container's values:
 * no $$, unlike text_str); NULL or bad UTF-8 fails the text. */
static void
text_json(struct buf *t, const char *s)
{
	if (s == NULL || jsonwrite_string(t, s, strlen(s)) != 0)
		buf_fail(t);
}

/* key (literal text), then a string value as text_json writes it. */
static void
text_kv_json(struct buf *t, const char *key, const char *value)
{
	buf_lit(t, key);
	text_json(t, value);
}

/* The items of a list written elsewhere after the ones written here, as
 * jsonpack_text's R splices them: a comma and the list, or nothing when
 * it is empty. */
static void
text_splice(struct buf *t, const struct buf *list)
{
	if (list->len > 0) {
		buf_addc(t, ',');
		buf_add(t, list->data, list->len);
	}
}

/* An env var set from a field of the pod: literal JSON text. */
#define FIELD_ENV(name, path) "{\"name\":\"" name "\",\"valueFrom\":" \
	"{\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"" path "\"}}}"

/* A comma when the list has an item already. */
static int
list_next(struct buf *list)
{
	return list->len > 0 ? buf_addc(list, ',') : 0;
}

/* "key": of a member of the list. */
static int
list_member(struct buf *list, const char *key)
{
	if (list_next(list) == -1 ||
	    jsonwrite_string(list, key, strlen(key)) != 0)
		return -1;
	return buf_addc(list, ':');
}

/* name as the next string of the comma-separated list. */
static int
list_string(struct buf *list, const char *name)
{
	if (list_next(list) == -1)
		return -1;
	return jsonwrite_string(list, name, strlen(name)) == 0 ? 0 : -1;
}

/* "--flag" and its value, onto the list of args. */
static int
arg2(struct buf *args, const char *flag, const char *value)
{
	if (list_string(args, flag) == -1 || list_string(args, value) == -1)
		return -1;
	return 0;
}

static int
arg_int(struct buf *args, const char *flag, long value)
{
	char buf[LONG_TEXT];

	long_text(buf, value);
	return arg2(args, flag, buf);
}

/* The redirect's flags for the proxy settings and the pod's traffic
 * annotations, as a list of strings. Excluding every outbound CIDR ("*")
 * is capturing none: an empty include list. */
static int
redirect_args(const struct proxy_config *px, const struct pod_settings *s,
    struct buf *args)
{
	char ports[3 * LONG_TEXT];
	size_t n;

	/* "%d,%d,%d" */
	n = long_text(ports, px->port_admin);
	ports[n++] = ',';
	n += long_text(ports + n, px->port_status);
	ports[n++] = ',';
	long_text(ports + n, px->port_metrics);
	if (arg_int(args, "--proxy-uid", px->uid) == -1 ||
	    arg_int(args, "--proxy-gid", px->uid) == -1 ||
	    arg_int(args, "--outbound-port", px->port_outbound) == -1 ||
	    arg_int(args, "--inbound-port", px->port_inbound) == -1 ||
	    arg2(args, "--proxy-ports", ports) == -1 ||
	    (s->include_inbound_text != NULL && arg2(args,
	    "--include-inbound-ports", s->include_inbound_text) == -1) ||
	    (s->exclude_inbound_text != NULL && arg2(args,
	    "--exclude-inbound-ports", s->exclude_inbound_text) == -1) ||
	    (s->exclude_outbound_text != NULL && arg2(args,
	    "--exclude-outbound-ports", s->exclude_outbound_text) == -1) ||
	    (s->exclude_cidrs.all && arg2(args, "--include-outbound-cidrs",
	    "") == -1) ||
	    (!s->exclude_cidrs.all && s->include_cidrs_text != NULL &&
	    arg2(args, "--include-outbound-cidrs", s->include_cidrs_text) ==
	    -1) ||
	    (!s->exclude_cidrs.all && s->exclude_cidrs_text != NULL &&
	    arg2(args, "--exclude-outbound-cidrs", s->exclude_cidrs_text) ==
	    -1))
		return -1;
	return 0;
}

/* The args as the JSON array text "[...]" into out. */
static int
redirect_args_text(const struct proxy_config *px,
    const struct pod_settings *s, struct buf *out)
{
	struct buf args;
	int rc;

	buf_init(&args, BUF_MAX);
	rc = redirect_args(px, s, &args) == -1 ? -1 :
	    jsonpack_text(out, "[R]", LIST(&args));
	buf_free(&args);
	return rc;
}

json_t *
inject_redirect_args(const struct proxy_config *px,
    const struct pod_settings *s)
{
	struct buf text;
	json_t *args = NULL;

	buf_init(&text, BUF_MAX);
	if (redirect_args_text(px, s, &text) == 0)
		args = json_loadb(text.data, text.len, 0, NULL);
	buf_free(&text);
	return args;
}

static int
env_value(struct buf *list, const char *name, const char *value)
{
	if (list_next(list) == -1)
		return -1;
	text_kv_json(list, "{\"name\":", name);
	text_kv_json(list, ",\"value\":", value);
	buf_lit(list, "}");
	return list->failed ? -1 : 0;
}

/* env_value with a JSON value serialized, each $ written $$: the kubelet
 * expands $(VAR) in env values too, and the pod's originals must reach the
 * proxy as they were written. Steals v. */
static int
env_json(struct buf *list, const char *name, json_t *v)
{
	char *text = jsonwrite_dumps(v, JSON_COMPACT | JSON_SORT_KEYS,
	    NULL), *esc;
	size_t i, n = 0, dollars = 0;
	int rc;

	jsonalloc_drop(v);
	if (text == NULL)
		return -1;
	for (i = 0; text[i] != '\0'; i++)
		dollars += text[i] == '$';
	esc = malloc(i + dollars + 1);
	if (esc == NULL) {
		free(text);
		return -1;
	}
	for (i = 0; text[i] != '\0'; i++) {
		esc[n++] = text[i];
		if (text[i] == '$')
			esc[n++] = '$';
	}
	esc[n] = '\0';
	rc = env_value(list, name, esc);
	free(esc);
	free(text);
	return rc;
}

/* "key":"value" onto the list of members, when value is not NULL. */
static int
member_str(struct buf *list, const char *key, const char *value)
{
	if (value == NULL)
		return 0;
	if (list_member(list, key) == -1 ||
	    jsonwrite_string(list, value, strlen(value)) != 0)
		return -1;
	return 0;
}

/* "key":{members} onto the list, when there are members. */
static int
member_obj(struct buf *list, const char *key, const struct buf *members)
{
	if (members->len == 0)
		return 0;
	if (list_member(list, key) == -1)
		return -1;
	return jsonpack_text(list, "{R}", LIST(members));
}

/* requests/limits from the stage's proxy settings and the pod's
 * annotations (which win), as the members of resources; keys without a
 * value are left out. */
static int
proxy_resources(const struct proxy_config *px, const struct pod_settings *s,
    struct buf *res)
{
	struct buf req, lim;
	int rc = 0;

	buf_init(&req, BUF_MAX);
	buf_init(&lim, BUF_MAX);
	rc |= member_str(&req, "cpu", s->cpu_request ? s->cpu_request :
	    px->cpu_request);
	rc |= member_str(&req, "memory", s->memory_request ?
	    s->memory_request : px->memory_request);
	rc |= member_str(&lim, "cpu", s->cpu_limit ? s->cpu_limit :
	    px->cpu_limit);
	rc |= member_str(&lim, "memory", s->memory_limit ? s->memory_limit :
	    px->memory_limit);
	if (rc == 0 && !req.failed && !lim.failed)
		rc = member_obj(res, "requests", &req) == -1 ||
		    member_obj(res, "limits", &lim) == -1 ? -1 : 0;
	else
		rc = -1;
	buf_free(&req);
	buf_free(&lim);
	return rc;
}

/* The proxy's readiness (and native startup) check, Envoy's /ready behind
 * the status port, as a member of the list. */
static int
ready_probe(struct buf *list, const char *key, const struct proxy_config *px,
    int period, int failures)
{
	if (list_member(list, key) == -1)
		return -1;
	buf_lit(list, "{\"httpGet\":{\"path\":\"/healthz/ready\",\"port\":");
	text_int(list, px->port_status);
	buf_lit(list, "},\"periodSeconds\":");
	text_int(list, period);
	buf_lit(list, ",\"failureThreshold\":");
	text_int(list, failures);
	buf_lit(list, ",\"timeoutSeconds\":3}");
	return list->failed ? -1 : 0;
}

/* The members that the native sidecar or hold-application adds at the end
 * of the proxy's container. */
static int
proxy_lifecycle(const struct plan *pl, struct buf *tail)
{
	const struct proxy_config *px = pl->px;
	char wait[512];

	if (has(pl->features, FEATURE_NATIVE_SIDECAR)) {
		/* An init container that keeps running: starts before the
		 * app, stops after it, and lets Jobs complete. */
		if (list_member(tail, "restartPolicy") == -1 ||
		    jsonwrite_string(tail, "Always", 6) != 0)
			return -1;
		if (has(pl->features, FEATURE_HOLD_APP))
			return ready_probe(tail, "startupProbe", px, 1, 600);
		return 0;
	}
	if (!has(pl->features, FEATURE_HOLD_APP))
		return 0;
	/* The kubelet starts the next container only when postStart
	 * returns: wait for the proxy to be ready (bash's /dev/tcp; the
	 * Envoy image has bash but no curl). */
	snprintf(wait, sizeof(wait), "until (exec 3<>/dev/tcp/127.0.0.1/%d && "
	    "printf 'GET /healthz/ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 "
	    "<&3 | grep -q ' 200 '); do sleep 0.2; done", px->port_status);
	if (list_member(tail, "lifecycle") == -1)
		return -1;
	return jsonpack_text(tail, "{s:{s:{s:[s, s, s, s, s]}}}", "postStart",
	    "exec", "command", "timeout", "120", "bash", "-c", wait);
}

/* mesh-proxy's container, as JSON text appended to out. */
static int
proxy_container(const struct plan *pl, struct buf *out)
{
	const struct proxy_config *px = pl->px;
	const struct pod_settings *s = &pl->d->settings;
	const char *image = s->image != NULL ? s->image : px->image;
	const char *level = s->log_level != NULL ? s->log_level : px->log_level;
	struct buf env, mounts, ready, res, tail;
	json_t *probes;
	char *text;
	size_t i;
	int rc = 0;

	text = plan_bootstrap(pl, NULL);
	if (text == NULL)
		return -1;
	buf_init(&env, BUF_MAX);	/* the env the features add */
	buf_init(&mounts, BUF_MAX);
	buf_init(&ready, BUF_MAX);
	buf_init(&res, BUF_MAX);
	buf_init(&tail, BUF_MAX);
	if (has(pl->features, FEATURE_MTLS)) {
		rc |= env_value(&env, "MESH_MTLS_MODE", pl->cfg->mtls_mode);
		rc |= env_value(&env, "MESH_TOKEN_PATH", TOKEN_DIR "/token");
		buf_lit(&mounts, "{\"name\":\"" VOL_TOKEN "\",\"mountPath\":\""
		    TOKEN_DIR "\",\"readOnly\":true},{\"name\":\"" VOL_CERTS
		    "\",\"mountPath\":\"" CERTS_DIR "\"}");
	}
	/* The original probes, for the proxy (and whoever debugs it). */
	if (pl->n_probes > 0) {
		probes = json_object();
		for (i = 0; i < pl->n_probes; i++)
			json_object_set(probes, pl->probes[i].path,
			    pl->probes[i].original);
		rc |= env_json(&env, "MESH_APP_PROBES", probes);
	}
	if (pl->app_metrics_port > 0)
		rc |= env_json(&env, "MESH_APP_METRICS", jsonpack("{s:i, s:s, "
		    "s:s}", "port", pl->app_metrics_port, "path",
		    pl->app_metrics_path, "scheme", pl->app_metrics_scheme));
	rc |= ready_probe(&ready, "readinessProbe", px, 2, 30);
	rc |= proxy_resources(px, s, &res);
	rc |= proxy_lifecycle(pl, &tail);
	/* The bootstrap and an eighth more for its escapes, and the rest of
	 * the container: written once, without growing. */
	rc |= buf_reserve(out, strlen(text) / 8 * 9 + 2048);
	/* A part that failed fails the container (a failed buf is empty). */
	if (rc == 0 && !env.failed && !mounts.failed && !ready.failed &&
	    !res.failed && !tail.failed) {
		/* The fixed parts as literal text, the rest spliced in: a
		 * jsonpack_text format walked a hundred keys and values, each
		 * measured and checked for escapes, a tenth of a review. */
		text_kv_json(out, "{\"name\":\"" PROXY_NAME "\",\"image\":",
		    image);
		text_kv_json(out, ",\"command\":[\"envoy\"],\"args\":"
		    "[\"--config-yaml\",", text);
		text_kv_json(out, ",\"--log-level\",", level);
		buf_lit(out, ",\"--drain-time-s\",\"5\"],\"env\":["
		    FIELD_ENV("POD_NAME", "metadata.name") ","
		    FIELD_ENV("POD_NAMESPACE", "metadata.namespace") ","
		    FIELD_ENV("SERVICE_ACCOUNT", "spec.serviceAccountName") ","
		    FIELD_ENV("POD_IP", "status.podIP") ","
		    "{\"name\":\"MESH_STAGE\",\"value\":");
		text_json(out, pl->stage->name);
		buf_lit(out, "}");
		text_splice(out, &env);
		buf_lit(out, "],\"volumeMounts\":[{\"name\":\"" VOL_RUN "\","
		    "\"mountPath\":\"" RUN_DIR "\"}");
		text_splice(out, &mounts);
		buf_lit(out, "],\"ports\":[{\"name\":\"mesh-status\","
		    "\"containerPort\":");
		text_int(out, px->port_status);
		buf_lit(out, ",\"protocol\":\"TCP\"},{\"name\":\"mesh-metrics\","
		    "\"containerPort\":");
		text_int(out, px->port_metrics);
		buf_lit(out, ",\"protocol\":\"TCP\"}]");
		text_splice(out, &ready);
		buf_lit(out, ",\"resources\":{");
		buf_add(out, res.data != NULL ? res.data : "", res.len);
		buf_lit(out, "},\"securityContext\":{\"runAsUser\":");
		text_int(out, px->uid);
		buf_lit(out, ",\"runAsGroup\":");
		text_int(out, px->uid);
		buf_lit(out, ",\"runAsNonRoot\":true,\"privileged\":false,"
		    "\"allowPrivilegeEscalation\":false,"
		    "\"readOnlyRootFilesystem\":true,"
		    "\"capabilities\":{\"drop\":[\"ALL\"]},"
		    "\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}");
		text_splice(out, &tail);
		buf_lit(out, "}");
		rc = out->failed ? -1 : 0;
	}
	else
		rc = -1;
	free(text);
	buf_free(&env);
	buf_free(&mounts);
	buf_free(&ready);
	buf_free(&res);
	buf_free(&tail);
	return rc == 0 ? 0 : -1;
}

/*
 * mesh-init: the redirect, or in cni mode a check that the CNI plugin's
 * redirect is in place. The redirect needs root with NET_ADMIN and NET_RAW
 * and nothing else; the check runs unprivileged as the proxy's UID + 1 (not
 * the proxy's: its traffic is never redirected), Pod Security restricted.
 */
static int
init_container(const struct plan *pl, struct buf *out)
{
	bool cni = has(pl->features, FEATURE_CNI);
	long uid = cni ? (long)pl->px->uid + 1 : 0;
	struct buf args;

	buf_init(&args, BUF_MAX);
	if ((cni && list_string(&args, "--check") == -1) ||
	    redirect_args(pl->px, &pl->d->settings, &args) == -1) {
		buf_free(&args);
		return -1;
	}
	text_kv_json(out, "{\"name\":\"" INIT_NAME "\",\"image\":",
	    pl->cfg->init_image);
	buf_lit(out, ",\"command\":[\"meshinject\",\"redirect\"],\"args\":[");
	buf_add(out, args.data != NULL ? args.data : "", args.len);
	buf_free(&args);
	buf_lit(out, "],\"resources\":{\"requests\":{\"cpu\":\"10m\","
	    "\"memory\":\"16Mi\"},\"limits\":{\"memory\":\"64Mi\"}},"
	    "\"securityContext\":{\"runAsUser\":");
	text_int(out, uid);
	buf_lit(out, ",\"runAsGroup\":");
	text_int(out, uid);
	/* iptables takes a lock file under /run: a writable root for the
	 * redirect, which needs NET_ADMIN and NET_RAW; the check none. */
	if (cni)
		buf_lit(out, ",\"runAsNonRoot\":true,\"privileged\":false,"
		    "\"allowPrivilegeEscalation\":false,"
		    "\"readOnlyRootFilesystem\":true,"
		    "\"capabilities\":{\"drop\":[\"ALL\"]},");
	else
		buf_lit(out, ",\"runAsNonRoot\":false,\"privileged\":false,"
		    "\"allowPrivilegeEscalation\":false,"
		    "\"readOnlyRootFilesystem\":false,"
		    "\"capabilities\":{\"add\":[\"NET_ADMIN\",\"NET_RAW\"],"
		    "\"drop\":[\"ALL\"]},");
	buf_lit(out, "\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}}");
	return out->failed ? -1 : 0;
}

/* The items one list of the pod (spec.initContainers, ...) may get: each
 * a JSON text of its own, and its name. */
#define ITEMS_MAX	4
struct items {
	struct patch_item item[ITEMS_MAX];
	const char *name[ITEMS_MAX];
	struct buf text[ITEMS_MAX];
	size_t n;
};

/* A new item called `name`, for the caller to write into; NULL when the
 * list is full (a builder's bug). */
static struct buf *
item_new(struct items *l, const char *name)
{
	if (l->n == ITEMS_MAX)
		return NULL;
	l->name[l->n] = name;
	buf_init(&l->text[l->n], BUF_MAX);
	return &l->text[l->n++];
}

static void
items_free(struct items *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		buf_free(&l->text[i]);
	l->n = 0;
}

static int
volumes(const struct plan *pl, struct items *vols)
{
	struct buf *b;
	int rc;

	if ((b = item_new(vols, VOL_RUN)) == NULL)
		return -1;
	buf_lit(b, "{\"name\":\"" VOL_RUN "\",\"emptyDir\":"
	    "{\"medium\":\"Memory\"}}");
	rc = b->failed ? -1 : 0;
	if (rc == 0 && has(pl->features, FEATURE_MTLS)) {
		if ((b = item_new(vols, VOL_TOKEN)) == NULL)
			return -1;
		text_kv_json(b, "{\"name\":\"" VOL_TOKEN "\",\"projected\":"
		    "{\"sources\":[{\"serviceAccountToken\":{\"audience\":",
		    pl->cfg->mtls_token_audience);
		buf_lit(b, ",\"expirationSeconds\":43200,\"path\":\"token\"}}]}}");
		rc |= b->failed ? -1 : 0;
		if ((b = item_new(vols, VOL_CERTS)) == NULL)
			return -1;
		buf_lit(b, "{\"name\":\"" VOL_CERTS "\",\"emptyDir\":"
		    "{\"medium\":\"Memory\"}}");
		rc |= b->failed ? -1 : 0;
	}
	return rc == 0 ? 0 : -1;
}

/* The names the features would add, as lists of strings: what observe
 * records. */
static int
names_for(unsigned features, struct buf *inits, struct buf *conts,
    struct buf *vols)
{
	int rc = 0;

	if (!has(features, FEATURE_PROXY))
		return 0;
	if (has(features, FEATURE_REDIRECT) || has(features, FEATURE_CNI))
		rc |= list_string(inits, INIT_NAME);
	rc |= list_string(has(features, FEATURE_NATIVE_SIDECAR) ? inits :
	    conts, PROXY_NAME);
	rc |= list_string(vols, VOL_RUN);
	if (has(features, FEATURE_MTLS)) {
		rc |= list_string(vols, VOL_TOKEN);
		rc |= list_string(vols, VOL_CERTS);
	}
	return rc == 0 ? 0 : -1;
}

/* Is there an item called `name` in the pod's spec.<list>? */
static bool
named_in(const json_t *pod, const char *list, const char *name)
{
	const json_t *item;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(pod, "spec"), list),
	    i, item) {
		const char *n = json_string_value(json_object_get(item, "name"));
		if (n != NULL && strcmp(n, name) == 0)
			return true;
	}
	return false;
}

/* The items of l whose names the pod's spec.<list> does not have yet,
 * into keep (n of them); every name, present or not, onto the list of
 * strings `names`. Returns n, or -1. */
static int
missing_only(const struct items *l, const json_t *pod, const char *list,
    struct buf *names, struct patch_item *keep)
{
	size_t i;
	int n = 0;

	for (i = 0; i < l->n; i++) {
		if (list_string(names, l->name[i]) == -1)
			return -1;
		if (!named_in(pod, list, l->name[i])) {
			keep[n].text = l->text[i].data;
			keep[n].len = l->text[i].len;
			n++;
		}
	}
	return n;
}

/* The features' names, as a list of strings. */
static int
feature_names(struct buf *list, unsigned features)
{
	int f;

	for (f = 0; f < FEATURE_COUNT; f++)
		if ((features & FEATURE_BIT(f)) &&
		    list_string(list, feature_name(f)) == -1)
			return -1;
	return 0;
}

static long
int_field(const json_t *o, const char *key, long dflt)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    (long)json_integer_value(v) : dflt;
}

/*
 * probe-rewrite: the HTTP and TCP probes of the app containers go to the
 * proxy's status port, where Envoy answers from its own active check of
 * the original target. Probes with a host of their own, exec and gRPC
 * probes are left alone.
 */
static void
plan_probes(struct plan *pl)
{
	static const struct {
		const char *field;
		const char *kind;
	} kinds[] = {
		{ "livenessProbe", "livez" },
		{ "readinessProbe", "readyz" },
		{ "startupProbe", "startupz" },
	};
	const json_t *c;
	size_t i, k;

	json_array_foreach(json_object_get(json_object_get(pl->pod, "spec"),
	    "containers"), i, c) {
		const char *cname = json_string_value(json_object_get(c, "name"));

		if (cname == NULL || strncmp(cname, "mesh-", 5) == 0)
			continue;
		for (k = 0; k < 3 && pl->n_probes < MAX_PROBES; k++) {
			const json_t *probe = json_object_get(c, kinds[k].field);
			const json_t *handler, *http;
			struct app_probe *pr = &pl->probes[pl->n_probes];
			const char *scheme, *key;
			json_t *v;
			bool is_http;
			int port;

			/* The same choice as envoyvalues_check()'s, which
			 * refused the pod if a port was no port. */
			handler = envoyvalues_probe_handler(probe, &is_http);
			if (handler == NULL)
				continue;
			http = is_http ? handler : NULL;
			port = envoyvalues_probe_port(c, json_object_get(handler,
			    "port"));
			if (port <= 0)
				continue;
			memset(pr, 0, sizeof(*pr));
			pr->container = i;
			pr->field = kinds[k].field;
			snprintf(pr->path, sizeof(pr->path), PROBE_PREFIX
			    "%s/%s", cname, kinds[k].kind);
			utf8_clean(pr->path);
			pr->tcp = http == NULL;
			pr->port = port;
			pr->app_path = json_string_value(json_object_get(http,
			    "path"));
			if (pr->app_path == NULL || *pr->app_path == '\0')
				pr->app_path = "/";
			pr->headers = json_object_get(http, "httpHeaders");
			scheme = json_string_value(json_object_get(http,
			    "scheme"));
			pr->https = scheme != NULL &&
			    strcmp(scheme, "HTTPS") == 0;
			pr->period = int_field(probe, "periodSeconds", 10);
			pr->timeout = int_field(probe, "timeoutSeconds", 1);
			pr->original = jsonpack("{s:O}", pr->tcp ? "tcpSocket" :
			    "httpGet", handler);
			json_object_set_new(json_object_get(pr->original,
			    pr->tcp ? "tcpSocket" : "httpGet"), "port",
			    json_integer(port));
			/* Keep every other field of the probe (timings and
			 * whatever Kubernetes adds later); swap the handler. */
			pr->rewritten = json_object();
			json_object_foreach((json_t *)probe, key, v) {
				if (strcmp(key, "httpGet") != 0 &&
				    strcmp(key, "tcpSocket") != 0)
					json_object_set(pr->rewritten, key, v);
			}
			json_object_set_new(pr->rewritten, "httpGet", jsonpack(
			    "{s:s, s:i, s:s}", "path", pr->path, "port",
			    pl->px->port_status, "scheme", "HTTP"));
			if (pr->original == NULL || pr->rewritten == NULL) {
				json_decref(pr->original);
				json_decref(pr->rewritten);
				continue;
			}
			pl->n_probes++;
		}
	}
}

/* metrics-merge: where the app's own metrics are, from its prometheus.io
 * annotations. */
static void
plan_metrics(struct plan *pl)
{
	const json_t *anns = pod_annotations(pl->pod);
	const char *port = annotation_in(anns, "prometheus.io/port");
	const char *scrape = annotation_in(anns, "prometheus.io/scrape");
	int p;

	if (port == NULL || (scrape != NULL && strcmp(scrape, "true") != 0))
		return;
	/* envoyvalues_check() refused the pod if it is not a port. */
	if ((p = envoyvalues_metrics_port(port)) == -1)
		return;
	pl->app_metrics_port = p;
	/* An empty path is Prometheus' default, as its usual relabelling
	 * (regex "(.+)") leaves it; an empty prefix_rewrite would not
	 * rewrite at all. */
	pl->app_metrics_path = annotation_in(anns, "prometheus.io/path");
	if (pl->app_metrics_path == NULL || *pl->app_metrics_path == '\0')
		pl->app_metrics_path = "/metrics";
	pl->app_metrics_scheme = annotation_in(anns, "prometheus.io/scheme");
	if (pl->app_metrics_scheme == NULL)
		pl->app_metrics_scheme = "http";
}

static void
plan_init(struct plan *pl, const struct config *cfg, const struct decision *d,
    const json_t *pod, const char *namespace)
{
	/* Not the probe table: 256 entries cleared on every review cost more
	 * than the rest of the plan. plan_probes() clears what it uses. */
	memset(pl, 0, offsetof(struct plan, probes));
	pl->cfg = cfg;
	pl->d = d;
	pl->pod = pod;
	pl->namespace = namespace;
	pl->stage = d->stage;
	pl->px = d->proxy != NULL ? d->proxy : &d->stage->proxy;
	pl->features = d->verdict == VERDICT_INJECT ? d->features : 0;
	if (has(pl->features, FEATURE_PROBE_REWRITE))
		plan_probes(pl);
	if (has(pl->features, FEATURE_METRICS_MERGE))
		plan_metrics(pl);
}

static void
plan_free(struct plan *pl)
{
	size_t i;

	for (i = 0; i < pl->n_probes; i++) {
		json_decref(pl->probes[i].original);
		json_decref(pl->probes[i].rewritten);
	}
}

char *
inject_envoy_bootstrap(const struct config *cfg, const struct decision *d,
    const json_t *pod, const char *namespace)
{
	struct plan *pl = malloc(sizeof(*pl));
	char *b;

	if (pl == NULL)
		return NULL;
	plan_init(pl, cfg, d, pod, namespace);
	b = plan_bootstrap(pl, NULL);
	plan_free(pl);
	free(pl);
	return b;
}

/* The status annotation: what was injected, under which stage, config and
 * rollout, and for observe what the next stage would inject. Its keys are
 * written in sorted order, as the annotation always was (JSON_SORT_KEYS):
 * tools compare it as text. inits, conts and vols are lists of the names
 * added. Returns a new text, or NULL. */
static char *
status_text(const struct plan *pl, const struct buf *inits,
    const struct buf *conts, const struct buf *vols)
{
	const struct decision *d = pl->d;
	struct buf features, rollout, would, wf, wi, wc, wv, out;
	int rc;

	buf_init(&features, BUF_MAX);
	buf_init(&rollout, BUF_MAX);
	buf_init(&would, BUF_MAX);
	buf_init(&wf, BUF_MAX);
	buf_init(&wi, BUF_MAX);
	buf_init(&wc, BUF_MAX);
	buf_init(&wv, BUF_MAX);
	buf_init(&out, BUF_MAX);
	rc = feature_names(&features, d->features);
	if (rc == 0 && (d->rollout_from != NULL || d->bucket >= 0)) {
		const struct stage *from = d->rollout_from != NULL ?
		    d->rollout_from : d->stage;

		rc = list_member(&rollout, "rollout") == -1 ||
		    jsonpack_text(&rollout, "{s:i, s:i, s:s}", "bucket",
		    d->bucket, "percent", from->rollout_percent, "stage",
		    from->name) == -1 ? -1 : 0;
	}
	if (rc == 0 && d->verdict == VERDICT_OBSERVE && d->would_stage != NULL)
		rc = names_for(d->would_features, &wi, &wc, &wv) == -1 ||
		    feature_names(&wf, d->would_features) == -1 ||
		    list_member(&would, "wouldInject") == -1 ||
		    jsonpack_text(&would, "{s:[R], s:[R], s:[R], s:s, s:[R]}",
		    "containers", LIST(&wc), "features", LIST(&wf),
		    "initContainers", LIST(&wi), "stage", d->would_stage->name,
		    "volumes", LIST(&wv)) == -1 ? -1 : 0;
	if (rc == 0)
		rc = jsonpack_text(&out, "{s:s, s:[R], s:[R], s:[R], R, s:s,"
		    " s:[R], R}", "configHash", pl->cfg->hash,
		    "containers", LIST(conts), "features", LIST(&features),
		    "initContainers", LIST(inits), LIST(&rollout),
		    "stage", d->stage->name, "volumes", LIST(vols),
		    LIST(&would));
	buf_free(&features);
	buf_free(&rollout);
	buf_free(&would);
	buf_free(&wf);
	buf_free(&wi);
	buf_free(&wc);
	buf_free(&wv);
	if (rc == 0)
		return buf_take(&out, NULL);
	buf_free(&out);
	return NULL;
}

/* The annotations the injection writes: status, the CNI plugin's
 * redirect settings, and under metrics-merge the scrape target. */
static json_t *
annotations(const struct plan *pl, const char *status)
{
	json_t *a;

	a = jsonpack("{s:s}", ANN_STATUS, status);
	if (a == NULL)
		return NULL;
	if (has(pl->features, FEATURE_CNI)) {
		struct buf text;

		buf_init(&text, BUF_MAX);
		if (redirect_args_text(pl->px, &pl->d->settings, &text) == -1) {
			buf_free(&text);
			json_decref(a);
			return NULL;
		}
		json_object_set_new(a, "meshinject.io/cni-redirect",
		    json_stringn(text.data, text.len));
		buf_free(&text);
	}
	if (has(pl->features, FEATURE_METRICS_MERGE)) {
		char port[16];

		snprintf(port, sizeof(port), "%d", pl->px->port_metrics);
		json_object_set_new(a, "prometheus.io/scrape",
		    json_string("true"));
		json_object_set_new(a, "prometheus.io/port", json_string(port));
		json_object_set_new(a, "prometheus.io/path",
		    json_string("/stats/prometheus"));
		/* The proxy serves plain HTTP; the app's scheme (kept in
		 * MESH_APP_METRICS) must not stay behind. */
		if (pod_annotation(pl->pod, "prometheus.io/scheme") != NULL)
			json_object_set_new(a, "prometheus.io/scheme",
			    json_string("http"));
	}
	return a;
}

int
inject_patch(const struct config *cfg, const struct decision *d,
    const json_t *pod, const char *namespace, struct patch *patch)
{
	const json_t *spec = json_object_get(pod, "spec");
	struct buf init_names, cont_names, vol_names;
	struct items inits = { .n = 0 }, conts = { .n = 0 }, vols = { .n = 0 };
	struct patch_item keep_i[ITEMS_MAX], keep_c[ITEMS_MAX], keep_v[ITEMS_MAX];
	int n_i, n_c, n_v;
	size_t i, proxy_at;
	struct plan *pl;
	struct buf *b;
	char *status = NULL;
	int rc = -1;
	bool native;

	patch_init(patch);
	buf_init(&init_names, BUF_MAX);		/* lists of strings */
	buf_init(&cont_names, BUF_MAX);
	buf_init(&vol_names, BUF_MAX);
	pl = malloc(sizeof(*pl));
	if (pl == NULL)
		return -1;
	plan_init(pl, cfg, d, pod, namespace);
	native = has(pl->features, FEATURE_NATIVE_SIDECAR);
	if (has(pl->features, FEATURE_PROXY)) {
		if ((has(pl->features, FEATURE_REDIRECT) ||
		    has(pl->features, FEATURE_CNI)) &&
		    ((b = item_new(&inits, INIT_NAME)) == NULL ||
		    init_container(pl, b) == -1))
			goto done;
		if ((b = item_new(native ? &inits : &conts, PROXY_NAME)) ==
		    NULL || proxy_container(pl, b) == -1 ||
		    volumes(pl, &vols) == -1)
			goto done;
	}
	n_i = missing_only(&inits, pod, "initContainers", &init_names, keep_i);
	n_c = missing_only(&conts, pod, "containers", &cont_names, keep_c);
	n_v = missing_only(&vols, pod, "volumes", &vol_names, keep_v);
	if (n_i == -1 || n_c == -1 || n_v == -1)
		goto done;
	status = status_text(pl, &init_names, &cont_names, &vol_names);
	if (status == NULL)
		goto done;

	/* mesh-init first among init containers, then a native mesh-proxy,
	 * so that the user's own init containers already run in the mesh.
	 * A classic proxy that holds the app goes first among containers:
	 * the kubelet starts containers in order. */
	if (has(pl->features, FEATURE_HOLD_APP) && !native)
		proxy_at = 0;
	else
		proxy_at = PATCH_END;
	if ((n_i > 0 && patch_insert_items(patch, json_object_get(spec,
	    "initContainers"), "/spec/initContainers", 0, keep_i,
	    (size_t)n_i) == -1) ||
	    (n_c > 0 && patch_insert_items(patch, json_object_get(spec,
	    "containers"), "/spec/containers", proxy_at, keep_c,
	    (size_t)n_c) == -1) ||
	    (n_v > 0 && patch_insert_items(patch, json_object_get(spec,
	    "volumes"), "/spec/volumes", PATCH_END, keep_v,
	    (size_t)n_v) == -1))
		goto done;

	/* Rewritten probes replace the originals in place (an add on an
	 * existing member); indices shift when the proxy went first. */
	for (i = 0; i < pl->n_probes; i++) {
		char path[PATCH_PATH_MAX];
		size_t idx = pl->probes[i].container;

		if (proxy_at == 0 && n_c > 0)
			idx++;
		snprintf(path, sizeof(path), "/spec/containers/%zu/%s", idx,
		    pl->probes[i].field);
		if (patch_add(patch, path, json_incref(
		    pl->probes[i].rewritten)) == -1)
			goto done;
	}

	if (patch_add_members(patch, json_object_get(json_object_get(pod,
	    "metadata"), "annotations"), "/metadata/annotations",
	    annotations(pl, status)) == -1)
		goto done;
	rc = patch_end(patch);
done:
	if (rc == -1)
		patch_free(patch);
	free(status);
	items_free(&inits);
	items_free(&conts);
	items_free(&vols);
	buf_free(&init_names);
	buf_free(&cont_names);
	buf_free(&vol_names);
	plan_free(pl);
	free(pl);
	return rc;
}
