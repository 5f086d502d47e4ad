/* config.c - load the meshinject config: the tree config_tree.c parsed and
 * merged (the user's over the embedded default) validated into struct
 * config, every problem reported as "file:line: key: reason", and the
 * config's hash. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "config.h"
#include "config_tree.h"
#include "jsonalloc.h"

#define DEFAULT_NAME		"<default>"

static const char *const feature_names[FEATURE_COUNT] = {
	[FEATURE_PROXY] = "proxy",
	[FEATURE_REDIRECT] = "redirect",
	[FEATURE_CNI] = "cni",
	[FEATURE_MTLS] = "mtls",
	[FEATURE_NATIVE_SIDECAR] = "native-sidecar",
	[FEATURE_HOLD_APP] = "hold-app",
	[FEATURE_PROBE_REWRITE] = "probe-rewrite",
	[FEATURE_METRICS_MERGE] = "metrics-merge",
	[FEATURE_OBSERVE] = "observe",
};

const char *
feature_name(enum feature f)
{
	if ((int)f < 0 || f >= FEATURE_COUNT)
		return NULL;
	return feature_names[f];
}

int
feature_parse(const char *name)
{
	int i;

	if (name == NULL)
		return -1;
	for (i = 0; i < FEATURE_COUNT; i++)
		if (strcmp(name, feature_names[i]) == 0)
			return i;
	return -1;
}

/* ---- validation helpers ---- */

static const char *
type_name(const struct node *n)
{
	switch (n->type) {
	case NODE_NULL:
		return "nothing (null)";
	case NODE_SEQ:
		return "a list";
	case NODE_MAP:
		return "a map";
	default:
		return "a value";
	}
}

static bool
want_map(struct loader *ld, const struct node *n, const char *path)
{
	QBUF;

	if (n->type == NODE_MAP)
		return true;
	if (n->type == NODE_SCALAR)
		config_report(ld, n, path, "expected a map, got %s", Q(n->value));
	else
		config_report(ld, n, path, "expected a map, got %s", type_name(n));
	return false;
}

static bool
want_seq(struct loader *ld, const struct node *n, const char *path)
{
	QBUF;

	if (n->type == NODE_SEQ)
		return true;
	if (n->type == NODE_SCALAR)
		config_report(ld, n, path, "expected a list, got %s", Q(n->value));
	else
		config_report(ld, n, path, "expected a list, got %s", type_name(n));
	return false;
}

/* Report every key of `map` that is not in `allowed` (NULL-terminated). */
static void
check_keys(struct loader *ld, const struct node *map, const char *path,
    const char *const *allowed)
{
	char full[PATH_MAX_LEN];
	size_t i, j;
	bool ok;

	for (i = 0; i < map->n; i++) {
		ok = false;
		for (j = 0; allowed[j] != NULL; j++)
			if (strcmp(map->kids[i]->key, allowed[j]) == 0)
				ok = true;
		if (ok)
			continue;
		config_path_join(full, sizeof(full), path, map->kids[i]->key);
		config_report_at(ld, map->kids[i]->src, map->kids[i]->key_line, full,
		    "unknown key");
	}
}

/* A string value, as a new copy in *out (the old one freed). With
 * `nullable`, null clears *out; otherwise null or "" is an error. Returns
 * 0, or -1 with the problem reported. */
static int
get_string(struct loader *ld, const struct node *n, const char *path,
    bool nullable, char **out)
{
	char *s;

	if (n->type == NODE_NULL && nullable) {
		free(*out);
		*out = NULL;
		return 0;
	}
	if (n->type == NODE_NULL ||
	    (n->type == NODE_SCALAR && n->value[0] == '\0')) {
		config_report(ld, n, path, "must not be empty");
		return -1;
	}
	if (n->type != NODE_SCALAR) {
		config_report(ld, n, path, "expected a string, got %s", type_name(n));
		return -1;
	}
	s = strdup(n->value);
	if (s == NULL) {
		config_loader_oom(ld);
		return -1;
	}
	free(*out);
	*out = s;
	return 0;
}

static int
get_bool(struct loader *ld, const struct node *n, const char *path, bool *out)
{
	QBUF;
	const char *v = n->value;

	if (n->type == NODE_SCALAR && !n->quoted) {
		if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
		    strcmp(v, "TRUE") == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 ||
		    strcmp(v, "FALSE") == 0) {
			*out = false;
			return 0;
		}
		config_report(ld, n, path, "%s is not a boolean (true or false)", Q(v));
	} else if (n->type == NODE_SCALAR) {
		config_report(ld, n, path, "expected true or false, got the string %s",
		    Q(v));
	} else {
		config_report(ld, n, path, "expected true or false, got %s",
		    type_name(n));
	}
	return -1;
}

/* An integer in [min, max]; `what` names it in messages ("a port"). */
static int
get_long(struct loader *ld, const struct node *n, const char *path,
    long min, long max, const char *what, long *out)
{
	QBUF;
	const char *digits;
	char *end;
	long v;

	if (n->type == NODE_SCALAR && n->quoted) {
		config_report(ld, n, path, "expected a number, got the string %s",
		    Q(n->value));
		return -1;
	}
	if (n->type != NODE_SCALAR) {
		config_report(ld, n, path, "expected a number, got %s", type_name(n));
		return -1;
	}
	/* YAML 1.1 readers (go-yaml, so Helm and kubectl) take 0644 as octal */
	digits = n->value + (n->value[0] == '+' || n->value[0] == '-');
	if (digits[0] == '0' && isdigit((unsigned char)digits[1])) {
		config_report(ld, n, path, "%s has a leading zero (octal in YAML 1.1); "
		    "write it without", Q(n->value));
		return -1;
	}
	errno = 0;
	v = strtol(n->value, &end, 10);
	if (n->value[0] == '\0' || isspace((unsigned char)n->value[0]) ||
	    *end != '\0' || errno == ERANGE || v < min || v > max) {
		config_report(ld, n, path, "%s is not %s (%ld-%ld)", Q(n->value), what,
		    min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63: an RFC 1123 label, as stage
 * names appear in URL paths and label values. */
static bool
dns_label(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 63)
		return false;
	for (i = 0; i < len; i++)
		if (!(islower((unsigned char)s[i]) ||
		    isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return s[0] != '-' && s[len - 1] != '-';
}

/* host:port, host a DNS name, an IPv4 address or [IPv6]. */
static bool
host_port(const char *s)
{
	const char *colon, *h, *end;
	char *pend;
	size_t hlen, i, label = 0;
	long port;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL || end == s + 1 || end[1] != ':')
			return false;
		for (h = s + 1; h < end; h++)
			if (!isxdigit((unsigned char)*h) && *h != ':' &&
			    *h != '.')
				return false;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s)
			return false;
		hlen = (size_t)(colon - s);
		if (hlen > 253)
			return false;
		for (i = 0; i < hlen; i++) {
			if (s[i] == '.') {
				if (label == 0)
					return false;
				label = 0;
				continue;
			}
			if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
			    s[i] != '_')
				return false;
			if (++label > 63)
				return false;
		}
	}
	if (!isdigit((unsigned char)colon[1]))
		return false;
	errno = 0;
	port = strtol(colon + 1, &pend, 10);
	return *pend == '\0' && errno == 0 && port >= 1 && port <= 65535;
}

bool
config_valid_image(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return i > 0 && i <= 1024;
}

static const char *const log_levels[] = {
	"trace", "debug", "info", "warning", "error", "critical", "off", NULL
};

bool
config_valid_log_level(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; log_levels[i] != NULL; i++)
		if (strcmp(s, log_levels[i]) == 0)
			return true;
	return false;
}

/* ---- proxy settings ---- */

enum { PORT_ADMIN, PORT_OUTBOUND, PORT_INBOUND, PORT_STATUS, PORT_METRICS,
	PORT_COUNT };
static const char *const port_keys[PORT_COUNT + 1] = {
	"admin", "outbound", "inbound", "status", "metrics", NULL
};

static int *
port_field(struct proxy_config *pc, int i)
{
	switch (i) {
	case PORT_ADMIN:
		return &pc->port_admin;
	case PORT_OUTBOUND:
		return &pc->port_outbound;
	case PORT_INBOUND:
		return &pc->port_inbound;
	case PORT_STATUS:
		return &pc->port_status;
	default:
		return &pc->port_metrics;
	}
}

static void
proxy_clear(struct proxy_config *pc)
{
	free(pc->image);
	free(pc->xds_address);
	free(pc->log_level);
	free(pc->cpu_request);
	free(pc->memory_request);
	free(pc->cpu_limit);
	free(pc->memory_limit);
	memset(pc, 0, sizeof(*pc));
}

static char *
dup_or_null(struct loader *ld, const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		config_loader_oom(ld);
	return d;
}

static void
proxy_copy(struct loader *ld, struct proxy_config *dst,
    const struct proxy_config *src)
{
	*dst = *src;
	dst->image = dup_or_null(ld, src->image);
	dst->xds_address = dup_or_null(ld, src->xds_address);
	dst->log_level = dup_or_null(ld, src->log_level);
	dst->cpu_request = dup_or_null(ld, src->cpu_request);
	dst->memory_request = dup_or_null(ld, src->memory_request);
	dst->cpu_limit = dup_or_null(ld, src->cpu_limit);
	dst->memory_limit = dup_or_null(ld, src->memory_limit);
}

static void
resource_apply(struct loader *ld, const struct node *n, const char *path,
    char **out)
{
	QBUF;
	char *v = NULL;

	if (n->type == NODE_SCALAR && n->quoted && n->value[0] == '\0') {
		config_report(ld, n, path, "must not be empty (leave it out or null "
		    "for no %s)", strstr(path, "limits") ? "limit" : "request");
		return;
	}
	if (get_string(ld, n, path, true, &v) != 0)
		return;
	if (v != NULL && !config_valid_quantity(v)) {
		config_report(ld, n, path, "%s is not a quantity (like 100m, 0.5, "
		    "128Mi, 1Gi)", Q(v));
		free(v);
		return;
	}
	free(*out);
	*out = v;
}

static void
resources_apply(struct loader *ld, const struct node *res, const char *path,
    struct proxy_config *pc)
{
	static const char *const top_keys[] = { "requests", "limits", NULL };
	static const char *const rkeys[] = { "cpu", "memory", NULL };
	char p1[PATH_MAX_LEN], p2[PATH_MAX_LEN];
	const struct node *sub, *v;
	size_t i;

	if (res->type == NODE_NULL)
		return;
	if (!want_map(ld, res, path))
		return;
	check_keys(ld, res, path, top_keys);
	for (i = 0; i < 2; i++) {
		sub = config_map_get(res, top_keys[i]);
		if (sub == NULL || sub->type == NODE_NULL)
			continue;
		config_path_join(p1, sizeof(p1), path, top_keys[i]);
		if (!want_map(ld, sub, p1))
			continue;
		check_keys(ld, sub, p1, rkeys);
		if ((v = config_map_get(sub, "cpu")) != NULL) {
			config_path_join(p2, sizeof(p2), p1, "cpu");
			resource_apply(ld, v, p2,
			    i == 0 ? &pc->cpu_request : &pc->cpu_limit);
		}
		if ((v = config_map_get(sub, "memory")) != NULL) {
			config_path_join(p2, sizeof(p2), p1, "memory");
			resource_apply(ld, v, p2,
			    i == 0 ? &pc->memory_request : &pc->memory_limit);
		}
	}
}

/* A request above its limit makes Kubernetes refuse every injected pod.
 * Checked where a `resources:` map sets either side, and reported at the
 * key this map set. */
static void
resources_check(struct loader *ld, const struct node *res, const char *path,
    const struct proxy_config *pc)
{
	static const char *const kinds[] = { "cpu", "memory" };
	const char *req, *lim;
	const struct node *at, *rn, *ln;
	char p[PATH_MAX_LEN];
	QBUF;
	char qb2[sizeof(qb)];
	int i;

	if (res->type != NODE_MAP)
		return;
	for (i = 0; i < 2; i++) {
		req = i == 0 ? pc->cpu_request : pc->memory_request;
		lim = i == 0 ? pc->cpu_limit : pc->memory_limit;
		if (req == NULL || lim == NULL ||
		    config_quantity_value(req) <= config_quantity_value(lim))
			continue;
		rn = config_map_get(config_map_get(res, "requests"), kinds[i]);
		ln = config_map_get(config_map_get(res, "limits"), kinds[i]);
		at = rn != NULL ? rn : ln;
		if (at == NULL)
			continue;	/* neither side set here */
		if (at == rn && ln != NULL && strcmp(rn->src, ld->name) != 0 &&
		    strcmp(ln->src, ld->name) == 0)
			at = ln;	/* the file's side, not the default's */
		config_path_join(p, sizeof(p), path, at == rn ? "requests" : "limits");
		config_path_join(p, sizeof(p), p, kinds[i]);
		if (at == rn)
			config_report(ld, at, p, "%s is more than the %s limit %s",
			    Q(req), kinds[i], config_quote(lim, qb2, sizeof(qb2)));
		else
			config_report(ld, at, p, "%s is less than the %s request %s",
			    Q(lim), kinds[i], config_quote(req, qb2, sizeof(qb2)));
	}
}

/* Apply the keys of a `proxy:` map over *pc. port_nodes[i] is set to the
 * node of each port the map sets, for the distinctness check. */
static void
proxy_apply(struct loader *ld, const struct node *map, const char *path,
    struct proxy_config *pc, const struct node *port_nodes[PORT_COUNT])
{
	static const char *const keys[] = {
		"image", "uid", "ports", "xdsAddress", "logLevel", "resources",
		NULL
	};
	QBUF;
	char p[PATH_MAX_LEN], pp[PATH_MAX_LEN];
	const struct node *n, *ports;
	char *s = NULL;
	long v;
	size_t i;

	if (map->type == NODE_NULL || !want_map(ld, map, path))
		return;
	check_keys(ld, map, path, keys);
	if ((n = config_map_get(map, "image")) != NULL) {
		config_path_join(p, sizeof(p), path, "image");
		if (get_string(ld, n, p, false, &s) == 0) {
			if (config_valid_image(s)) {
				free(pc->image);
				pc->image = s;
			} else {
				config_report(ld, n, p, "%s is not an image reference",
				    Q(s));
				free(s);
			}
			s = NULL;
		}
	}
	if ((n = config_map_get(map, "uid")) != NULL) {
		config_path_join(p, sizeof(p), path, "uid");
		/* Not 0: the proxy runs with runAsNonRoot, and root's traffic
		 * would all be exempt from the redirect. Not the last UID: the
		 * cni check container runs as uid + 1. */
		if (get_long(ld, n, p, 1, 2147483646L, "a UID", &v) == 0)
			pc->uid = v;
	}
	if ((ports = config_map_get(map, "ports")) != NULL) {
		config_path_join(p, sizeof(p), path, "ports");
		if (ports->type != NODE_NULL && want_map(ld, ports, p)) {
			check_keys(ld, ports, p, port_keys);
			for (i = 0; i < PORT_COUNT; i++) {
				n = config_map_get(ports, port_keys[i]);
				if (n == NULL)
					continue;
				config_path_join(pp, sizeof(pp), p, port_keys[i]);
				if (get_long(ld, n, pp, 1, 65535, "a port",
				    &v) == 0) {
					*port_field(pc, (int)i) = (int)v;
					port_nodes[i] = n;
				}
			}
		}
	}
	if ((n = config_map_get(map, "xdsAddress")) != NULL) {
		config_path_join(p, sizeof(p), path, "xdsAddress");
		if (get_string(ld, n, p, false, &s) == 0) {
			if (host_port(s)) {
				free(pc->xds_address);
				pc->xds_address = s;
			} else {
				config_report(ld, n, p, "%s is not host:port", Q(s));
				free(s);
			}
			s = NULL;
		}
	}
	if ((n = config_map_get(map, "logLevel")) != NULL) {
		config_path_join(p, sizeof(p), path, "logLevel");
		if (get_string(ld, n, p, false, &s) == 0) {
			if (config_valid_log_level(s)) {
				free(pc->log_level);
				pc->log_level = s;
			} else {
				config_report(ld, n, p, "%s is not a log level (trace, "
				    "debug, info, warning, error, critical, "
				    "off)", Q(s));
				free(s);
			}
			s = NULL;
		}
	}
	if ((n = config_map_get(map, "resources")) != NULL) {
		config_path_join(p, sizeof(p), path, "resources");
		resources_apply(ld, n, p, pc);
		resources_check(ld, n, p, pc);
	}
}

/* The five proxy ports must differ. Only pairs where at least one port was
 * set here (port_nodes) are reported, so that a stage does not repeat the
 * global proxy's problems. */
static void
proxy_check_ports(struct loader *ld, struct proxy_config *pc,
    const struct node *port_nodes[PORT_COUNT], const char *path)
{
	char p[PATH_MAX_LEN];
	int a, i, j, at, other;

	for (j = 1; j < PORT_COUNT; j++) {
		for (i = 0; i < j; i++) {
			a = *port_field(pc, i);
			if (a == 0 || a != *port_field(pc, j))
				continue;
			if (port_nodes[i] == NULL && port_nodes[j] == NULL)
				continue;
			/* point at the one in the file being loaded */
			at = j;
			other = i;
			if (port_nodes[j] == NULL || (port_nodes[i] != NULL &&
			    strcmp(port_nodes[j]->src, ld->name) != 0 &&
			    strcmp(port_nodes[i]->src, ld->name) == 0)) {
				at = i;
				other = j;
			}
			snprintf(p, sizeof(p), "%s.ports.%s", path,
			    port_keys[at]);
			config_report(ld, port_nodes[at], p, "%d is also the %s port "
			    "(the proxy's ports must all differ)", a,
			    port_keys[other]);
		}
	}
}

/* ---- the config ---- */

static void
stage_clear(struct stage *st)
{
	free(st->name);
	free(st->rollout_fallback);
	proxy_clear(&st->proxy);
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->default_stage);
	for (i = 0; i < cfg->n_ignored_namespaces; i++)
		free(cfg->ignored_namespaces[i]);
	free(cfg->ignored_namespaces);
	proxy_clear(&cfg->proxy);
	free(cfg->init_image);
	free(cfg->mtls_mode);
	free(cfg->mtls_token_audience);
	for (i = 0; i < cfg->n_stages; i++)
		stage_clear(&cfg->stages[i]);
	free(cfg->stages);
	free(cfg);
}

const struct stage *
config_stage(const struct config *cfg, const char *name)
{
	size_t i;

	if (cfg == NULL || name == NULL)
		return NULL;
	for (i = 0; i < cfg->n_stages; i++)
		if (strcmp(cfg->stages[i].name, name) == 0)
			return &cfg->stages[i];
	return NULL;
}

bool
config_namespace_ignored(const struct config *cfg, const char *ns)
{
	size_t i;

	if (cfg == NULL || ns == NULL)
		return false;
	for (i = 0; i < cfg->n_ignored_namespaces; i++)
		if (strcmp(cfg->ignored_namespaces[i], ns) == 0)
			return true;
	return false;
}

/* "off, observe, traffic, mtls" for messages. */
static void
stage_list(const struct config *cfg, char *buf, size_t size)
{
	size_t i, o = 0;
	int w;

	buf[0] = '\0';
	for (i = 0; i < cfg->n_stages && o < size; i++) {
		w = snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
		    cfg->stages[i].name);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

static void
validate_namespaces(struct loader *ld, const struct node *n,
    struct config *cfg)
{
	QBUF;
	const char *path = "ignoredNamespaces";
	const struct node *it;
	size_t i, j;

	if (!want_seq(ld, n, path))
		return;
	cfg->ignored_namespaces = calloc(n->n ? n->n : 1, sizeof(char *));
	if (cfg->ignored_namespaces == NULL) {
		config_loader_oom(ld);
		return;
	}
	for (i = 0; i < n->n; i++) {
		it = n->kids[i];
		if (it->type != NODE_SCALAR) {
			config_report(ld, it, path, "expected a namespace name, got %s",
			    type_name(it));
			continue;
		}
		if (!dns_label(it->value)) {
			config_report(ld, it, path, "%s is not a namespace name",
			    Q(it->value));
			continue;
		}
		for (j = 0; j < cfg->n_ignored_namespaces; j++)
			if (strcmp(cfg->ignored_namespaces[j], it->value) == 0)
				break;
		if (j < cfg->n_ignored_namespaces) {
			config_report(ld, it, path, "%s is listed twice", Q(it->value));
			continue;
		}
		cfg->ignored_namespaces[cfg->n_ignored_namespaces] =
		    strdup(it->value);
		if (cfg->ignored_namespaces[cfg->n_ignored_namespaces] == NULL)
			config_loader_oom(ld);
		else
			cfg->n_ignored_namespaces++;
	}
}

static void
validate_features(struct loader *ld, const struct node *n, const char *path,
    unsigned *out)
{
	QBUF;
	const struct node *it;
	size_t i;
	int f;

	if (!want_seq(ld, n, path))
		return;
	for (i = 0; i < n->n; i++) {
		it = n->kids[i];
		if (it->type != NODE_SCALAR) {
			config_report(ld, it, path, "expected a feature name, got %s",
			    type_name(it));
			continue;
		}
		f = feature_parse(it->value);
		if (f < 0) {
			config_report(ld, it, path, "%s is not a feature (proxy, "
			    "redirect, cni, mtls, native-sidecar, hold-app, "
			    "probe-rewrite, metrics-merge, observe)",
			    Q(it->value));
			continue;
		}
		if (*out & FEATURE_BIT(f)) {
			config_report(ld, it, path, "%s is listed twice", Q(it->value));
			continue;
		}
		*out |= FEATURE_BIT(f);
	}
}

/* Where each stage's rollout.fallback came from, for the cross checks. */
struct stage_src {
	const struct node *node;	/* the stage's map */
	const struct node *fallback;	/* rollout.fallback, NULL if implied */
};

/* Validate the stage map `n` into *st (whose name is set): its proxy starts
 * as a copy of the global one, with the stage's own proxy keys over it. */
static void
validate_stage(struct loader *ld, const struct node *n, struct config *cfg,
    struct stage *st, struct stage_src *ss)
{
	static const char *const keys[] = {
		"features", "enforce", "rollout", "proxy", NULL
	};
	static const char *const rkeys[] = { "percent", "fallback", NULL };
	const struct node *port_nodes[PORT_COUNT] = { NULL };
	char path[PATH_MAX_LEN], p[PATH_MAX_LEN], pr[PATH_MAX_LEN];
	const struct node *v, *r;
	long pct;

	config_path_join(path, sizeof(path), "stages", st->name);
	st->rollout_percent = 100;
	proxy_copy(ld, &st->proxy, &cfg->proxy);
	ss->node = n;
	if (!want_map(ld, n, path))
		return;
	check_keys(ld, n, path, keys);
	config_path_join(p, sizeof(p), path, "features");
	if ((v = config_map_get(n, "features")) != NULL)
		validate_features(ld, v, p, &st->features);
	else
		config_report_at(ld, n->src, n->key_line, p, "missing (a stage that "
		    "the file defines "
		    "replaces the default one whole and must list its "
		    "features, [] for none)");
	if ((v = config_map_get(n, "enforce")) != NULL) {
		config_path_join(p, sizeof(p), path, "enforce");
		get_bool(ld, v, p, &st->enforce);
	}
	if ((r = config_map_get(n, "rollout")) != NULL) {
		config_path_join(pr, sizeof(pr), path, "rollout");
		if (r->type != NODE_NULL && want_map(ld, r, pr)) {
			check_keys(ld, r, pr, rkeys);
			if ((v = config_map_get(r, "percent")) != NULL) {
				config_path_join(p, sizeof(p), pr, "percent");
				if (get_long(ld, v, p, 0, 100, "a percentage",
				    &pct) == 0)
					st->rollout_percent = (int)pct;
			}
			if ((v = config_map_get(r, "fallback")) != NULL) {
				config_path_join(p, sizeof(p), pr, "fallback");
				if (get_string(ld, v, p, false,
				    &st->rollout_fallback) == 0)
					ss->fallback = v;
			}
		}
	}
	if ((v = config_map_get(n, "proxy")) != NULL) {
		config_path_join(p, sizeof(p), path, "proxy");
		proxy_apply(ld, v, p, &st->proxy, port_nodes);
		proxy_check_ports(ld, &st->proxy, port_nodes, p);
	}
}

/* Workloads outside a stage's percent go to its fallback, and on through
 * the fallback's own rollout: a loop of partial rollouts leaves some
 * workloads with no stage. Each loop is reported once, at its first stage
 * in order. */
static void
check_fallback_loops(struct loader *ld, const struct config *cfg,
    const struct stage_src *ss)
{
	const struct stage *st, *start;
	char chain[512], path[PATH_MAX_LEN];
	size_t i, hops, o;
	bool first;
	int w;

	for (i = 0; i < cfg->n_stages; i++) {
		start = &cfg->stages[i];
		if (start->rollout_percent >= 100 ||
		    start->rollout_fallback == NULL ||
		    strcmp(start->rollout_fallback, start->name) == 0)
			continue;	/* reported as "the stage itself" */
		first = true;
		st = start;
		for (hops = 0; hops < cfg->n_stages; hops++) {
			st = config_stage(cfg, st->rollout_fallback);
			if (st == NULL || st->rollout_percent >= 100)
				break;
			if (st < start)
				first = false;
			if (st == start)
				break;
		}
		if (st != start || !first)
			continue;
		o = 0;
		chain[0] = '\0';
		st = start;
		do {
			w = snprintf(chain + o, sizeof(chain) - o, "%s -> ",
			    st->name);
			if (w < 0 || (size_t)w >= sizeof(chain) - o)
				break;
			o += (size_t)w;
			st = config_stage(cfg, st->rollout_fallback);
		} while (st != start);
		snprintf(chain + o, sizeof(chain) - o, "%s", start->name);
		snprintf(path, sizeof(path), "stages.%s.rollout.fallback",
		    start->name);
		config_report_at(ld, ss[i].node->src, ss[i].fallback != NULL ?
		    ss[i].fallback->line : ss[i].node->key_line, path,
		    "partial rollouts fall back in a loop (%s)", chain);
	}
}

static void
validate_stages(struct loader *ld, const struct node *stages,
    struct config *cfg)
{
	QBUF;
	char list[1024], path[PATH_MAX_LEN];
	struct stage_src *ss;
	struct stage *st;
	const struct node *n;
	size_t i;

	if (!want_map(ld, stages, "stages"))
		return;
	cfg->stages = calloc(stages->n ? stages->n : 1, sizeof(*cfg->stages));
	ss = calloc(stages->n ? stages->n : 1, sizeof(*ss));
	if (cfg->stages == NULL || ss == NULL) {
		free(ss);
		config_loader_oom(ld);
		return;
	}
	for (i = 0; i < stages->n; i++) {
		n = stages->kids[i];
		config_path_join(path, sizeof(path), "stages", n->key);
		if (!dns_label(n->key)) {
			config_report_at(ld, n->src, n->key_line, path, "%s is not a "
			    "stage name (lowercase letters, digits and '-', "
			    "starting and ending with a letter or digit, at "
			    "most 63)", Q(n->key));
			continue;
		}
		st = &cfg->stages[cfg->n_stages];
		st->name = strdup(n->key);
		if (st->name == NULL) {
			config_loader_oom(ld);
			break;
		}
		cfg->n_stages++;
		validate_stage(ld, n, cfg, st, &ss[cfg->n_stages - 1]);
	}
	/* fallbacks: named, existing, not the stage itself; by default the
	 * previous stage */
	stage_list(cfg, list, sizeof(list));
	for (i = 0; i < cfg->n_stages; i++) {
		st = &cfg->stages[i];
		snprintf(path, sizeof(path), "stages.%s.rollout.fallback",
		    st->name);
		if (st->rollout_fallback == NULL) {
			if (i > 0)
				st->rollout_fallback =
				    dup_or_null(ld, cfg->stages[i - 1].name);
			else if (strcmp(st->name, "off") != 0 &&
			    config_stage(cfg, "off") != NULL)
				st->rollout_fallback = dup_or_null(ld, "off");
			else if (st->rollout_percent < 100)
				config_report_at(ld, ss[i].node->src,
				    ss[i].node->key_line, path, "missing: the "
				    "first stage has no previous stage to fall "
				    "back to");
			continue;
		}
		if (ss[i].fallback == NULL)
			continue;
		if (strcmp(st->rollout_fallback, st->name) == 0)
			config_report(ld, ss[i].fallback, path, "%s is the stage "
			    "itself", Q(st->rollout_fallback));
		else if (config_stage(cfg, st->rollout_fallback) == NULL)
			config_report(ld, ss[i].fallback, path, "%s is not a stage "
			    "(%s)", Q(st->rollout_fallback), list);
	}
	check_fallback_loops(ld, cfg, ss);
	free(ss);
}

static void
validate(struct loader *ld, const struct node *root, struct config *cfg)
{
	static const char *const top_keys[] = {
		"defaultStage", "ignoredNamespaces", "allowImageOverride",
		"proxy", "init", "mtls", "stages", NULL
	};
	static const char *const init_keys[] = { "image", NULL };
	static const char *const mtls_keys[] = {
		"mode", "tokenAudience", NULL
	};
	static const char *const required[] = {
		"defaultStage", "ignoredNamespaces", "allowImageOverride",
		"proxy", "init", "mtls", "stages", NULL
	};
	const struct node *port_nodes[PORT_COUNT] = { NULL };
	QBUF;
	char list[1024];
	const struct node *n, *sub, *ds;
	size_t i;

	check_keys(ld, root, "", top_keys);
	for (i = 0; required[i] != NULL; i++)
		if (config_map_get(root, required[i]) == NULL)
			config_report(ld, root, required[i], "missing");

	if ((n = config_map_get(root, "ignoredNamespaces")) != NULL)
		validate_namespaces(ld, n, cfg);
	if ((n = config_map_get(root, "allowImageOverride")) != NULL)
		get_bool(ld, n, "allowImageOverride", &cfg->allow_image_override);
	if ((n = config_map_get(root, "proxy")) != NULL) {
		proxy_apply(ld, n, "proxy", &cfg->proxy, port_nodes);
		proxy_check_ports(ld, &cfg->proxy, port_nodes, "proxy");
	}
	if ((n = config_map_get(root, "init")) != NULL && want_map(ld, n, "init")) {
		check_keys(ld, n, "init", init_keys);
		if ((sub = config_map_get(n, "image")) == NULL)
			config_report(ld, n, "init.image", "missing");
		else if (get_string(ld, sub, "init.image", false,
		    &cfg->init_image) == 0 && !config_valid_image(cfg->init_image))
			config_report(ld, sub, "init.image", "%s is not an image "
			    "reference", Q(cfg->init_image));
	}
	if ((n = config_map_get(root, "mtls")) != NULL && want_map(ld, n, "mtls")) {
		check_keys(ld, n, "mtls", mtls_keys);
		if ((sub = config_map_get(n, "mode")) == NULL)
			config_report(ld, n, "mtls.mode", "missing");
		else if (get_string(ld, sub, "mtls.mode", false,
		    &cfg->mtls_mode) == 0 &&
		    strcmp(cfg->mtls_mode, "STRICT") != 0 &&
		    strcmp(cfg->mtls_mode, "PERMISSIVE") != 0)
			config_report(ld, sub, "mtls.mode", "%s is not an mTLS mode "
			    "(STRICT or PERMISSIVE)", Q(cfg->mtls_mode));
		if ((sub = config_map_get(n, "tokenAudience")) == NULL)
			config_report(ld, n, "mtls.tokenAudience", "missing");
		else if (get_string(ld, sub, "mtls.tokenAudience", false,
		    &cfg->mtls_token_audience) == 0 &&
		    !config_valid_image(cfg->mtls_token_audience))
			config_report(ld, sub, "mtls.tokenAudience", "%s is not a "
			    "token audience (no spaces)",
			    Q(cfg->mtls_token_audience));
	}
	/* the proxy's required keys, after merging (a null clears them) */
	if (cfg->proxy.image == NULL || cfg->proxy.xds_address == NULL ||
	    cfg->proxy.log_level == NULL) {
		n = config_map_get(root, "proxy");
		if (n != NULL && n->type == NODE_MAP) {
			if (config_map_get(n, "image") == NULL)
				config_report(ld, n, "proxy.image", "missing");
			if (config_map_get(n, "xdsAddress") == NULL)
				config_report(ld, n, "proxy.xdsAddress", "missing");
			if (config_map_get(n, "logLevel") == NULL)
				config_report(ld, n, "proxy.logLevel", "missing");
		}
	}
	if ((n = config_map_get(root, "stages")) != NULL)
		validate_stages(ld, n, cfg);

	/* with no usable stages map, "not a stage" would only repeat that */
	if ((ds = config_map_get(root, "defaultStage")) != NULL &&
	    get_string(ld, ds, "defaultStage", false, &cfg->default_stage) == 0 &&
	    n != NULL && n->type == NODE_MAP &&
	    config_stage(cfg, cfg->default_stage) == NULL) {
		stage_list(cfg, list, sizeof(list));
		config_report(ld, ds, "defaultStage", "%s is not a stage (%s)",
		    Q(cfg->default_stage), list);
	}
}

/* ---- hash ---- */

static json_t *
proxy_json(const struct proxy_config *pc)
{
	json_t *o;

	o = json_pack("{s:s?, s:I, s:{s:i, s:i, s:i, s:i, s:i}, s:s?, s:s?, "
	    "s:{s:{s:s?, s:s?}, s:{s:s?, s:s?}}}",
	    "image", pc->image, "uid", (json_int_t)pc->uid,
	    "ports", "admin", pc->port_admin, "outbound", pc->port_outbound,
	    "inbound", pc->port_inbound, "status", pc->port_status,
	    "metrics", pc->port_metrics,
	    "xdsAddress", pc->xds_address, "logLevel", pc->log_level,
	    "resources",
	    "requests", "cpu", pc->cpu_request, "memory", pc->memory_request,
	    "limits", "cpu", pc->cpu_limit, "memory", pc->memory_limit);
	return o;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The config's effective values as JSON: key order sorted at dump time,
 * list order kept where it means something (stages), sorted where it does
 * not (ignoredNamespaces, features in enum order). */
static json_t *
config_json(const struct config *cfg)
{
	json_t *root, *ns, *stages, *st, *feats;
	const char **sorted;
	size_t i;
	int f, rc;

	sorted = calloc(cfg->n_ignored_namespaces + 1, sizeof(*sorted));
	if (sorted == NULL)
		return NULL;
	for (i = 0; i < cfg->n_ignored_namespaces; i++)
		sorted[i] = cfg->ignored_namespaces[i];
	qsort(sorted, cfg->n_ignored_namespaces, sizeof(*sorted), str_cmp);
	root = json_object();
	ns = json_array();
	stages = json_array();
	if (root == NULL || ns == NULL || stages == NULL)
		goto fail;
	for (i = 0; i < cfg->n_ignored_namespaces; i++)
		if (json_array_append_new(ns, json_string(sorted[i])) != 0)
			goto fail;
	for (i = 0; i < cfg->n_stages; i++) {
		feats = json_array();
		if (feats == NULL)
			goto fail;
		for (f = 0; f < FEATURE_COUNT; f++)
			if ((cfg->stages[i].features & FEATURE_BIT(f)) &&
			    json_array_append_new(feats,
			    json_string(feature_names[f])) != 0) {
				json_decref(feats);
				goto fail;
			}
		st = json_pack("{s:s, s:o, s:b, s:{s:i, s:s?}, s:o}",
		    "name", cfg->stages[i].name, "features", feats,
		    "enforce", cfg->stages[i].enforce,
		    "rollout", "percent", cfg->stages[i].rollout_percent,
		    "fallback", cfg->stages[i].rollout_fallback,
		    "proxy", proxy_json(&cfg->stages[i].proxy));
		if (st == NULL || json_array_append_new(stages, st) != 0)
			goto fail;
	}
	/* json_object_set_new() takes the value even when it fails */
	rc = json_object_set_new(root, "ignoredNamespaces", ns);
	ns = NULL;
	rc |= json_object_set_new(root, "stages", stages);
	stages = NULL;
	rc |= json_object_set_new(root, "defaultStage",
	    json_string(cfg->default_stage));
	rc |= json_object_set_new(root, "allowImageOverride",
	    json_boolean(cfg->allow_image_override));
	rc |= json_object_set_new(root, "proxy", proxy_json(&cfg->proxy));
	rc |= json_object_set_new(root, "init",
	    json_pack("{s:s?}", "image", cfg->init_image));
	rc |= json_object_set_new(root, "mtls", json_pack("{s:s?, s:s?}",
	    "mode", cfg->mtls_mode, "tokenAudience", cfg->mtls_token_audience));
	if (rc != 0)
		goto fail;
	free(sorted);
	return root;
fail:
	free(sorted);
	json_decref(root);
	json_decref(ns);
	json_decref(stages);
	return NULL;
}

static int
config_hash(struct config *cfg)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	json_t *j;
	char *text;
	int i, rc;

	j = config_json(cfg);
	if (j == NULL)
		return -1;
	text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return -1;
	rc = EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
	free(text);
	if (rc != 1 || mdlen < 8)
		return -1;
	for (i = 0; i < 8; i++) {
		cfg->hash[2 * i] = hex[md[i] >> 4];
		cfg->hash[2 * i + 1] = hex[md[i] & 0xf];
	}
	cfg->hash[16] = '\0';
	return 0;
}

/* ---- entry points ---- */

/* Parse the default and, unless text is NULL, the user's text over it. */
static struct config *
config_load(const char *name, const char *text, size_t len,
    struct config_errors *errs)
{
	struct loader ld = { 0 };
	struct node *def = NULL, *user = NULL;
	struct config *cfg = NULL;
	unsigned long failures = jsonalloc_failures();

	ld.name = name;
	def = config_tree_parse(&ld, DEFAULT_NAME, config_default_yaml,
	    strlen(config_default_yaml));
	if (text != NULL)
		user = config_tree_parse(&ld, name, text, len);
	if (def == NULL || (text != NULL && user == NULL))
		goto fail;
	if (user != NULL && config_tree_merge(def, user, 0, false) != 0) {
		config_loader_oom(&ld);
		goto fail;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		config_loader_oom(&ld);
		goto fail;
	}
	validate(&ld, def, cfg);
	if (ld.n_errs > 0 || ld.oom || ld.too_many)
		goto fail;
	if (config_hash(cfg) != 0 ||
	    jsonalloc_failures() != failures) {
		config_loader_oom(&ld);
		goto fail;
	}
	config_node_free(def);
	config_node_free(user);
	return cfg;
fail:
	config_free(cfg);
	config_node_free(def);
	config_node_free(user);
	config_loader_finish(&ld, errs);
	return NULL;
}

struct config *
config_load_default(struct config_errors *errs)
{
	return config_load(DEFAULT_NAME, NULL, 0, errs);
}

struct config *
config_load_buffer(const char *name, const char *text, size_t len,
    struct config_errors *errs)
{
	if (text == NULL) {
		text = "";
		len = 0;
	}
	return config_load(name != NULL ? name : "<config>", text, len, errs);
}

void
config_error_file(const char *path, const char *reason,
    struct config_errors *errs)
{
	struct loader ld = { 0 };

	ld.name = path;
	config_add_error(&ld, path, 0, NULL, reason);
	config_loader_finish(&ld, errs);
}
