/* inject.c - build the mesh containers, volumes and status annotation for
 * a decision, and the patch that adds them. */
#include <stdio.h>
#include <string.h>

#include "inject.h"
#include "patch.h"

#define PROXY_NAME	"mesh-proxy"
#define INIT_NAME	"mesh-init"
#define VOL_RUN		"mesh-run"
#define VOL_TOKEN	"mesh-token"
#define VOL_CERTS	"mesh-certs"
#define RUN_DIR		"/var/run/mesh"
#define TOKEN_DIR	"/var/run/secrets/mesh/tokens"
#define CERTS_DIR	"/var/run/secrets/mesh/certs"

static bool
has(unsigned features, enum feature f)
{
	return (features & FEATURE_BIT(f)) != 0;
}

/* An Envoy socket address. */
static json_t *
sockaddr(const char *host, int port)
{
	return json_pack("{s:{s:s, s:i}}", "socket_address", "address", host,
	    "port_value", port);
}

/* A static cluster with one endpoint. */
static json_t *
cluster(const char *name, const char *type, const char *host, int port,
    int http2)
{
	json_t *c;

	c = json_pack("{s:s, s:s, s:s, s:{s:s, s:[{s:[{s:{s:o}}]}]}}",
	    "name", name, "type", type, "connect_timeout", "1s",
	    "load_assignment", "cluster_name", name, "endpoints",
	    "lb_endpoints", "endpoint", "address", sockaddr(host, port));
	if (c != NULL && http2)
		json_object_set_new(c, "typed_extension_protocol_options",
		    json_pack("{s:{s:s, s:{s:{}}}}",
		    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
		    "@type", "type.googleapis.com/envoy.extensions.upstreams."
		    "http.v3.HttpProtocolOptions",
		    "explicit_http_config", "http2_protocol_options"));
	return c;
}

/* A plain-HTTP listener on all addresses that forwards one path prefix to
 * the admin interface, rewritten: how the status port answers readiness
 * (/healthz/ready -> /ready) and the metrics port serves
 * /stats/prometheus. */
static json_t *
admin_route_listener(const char *name, int port, const char *prefix,
    const char *rewrite)
{
	return json_pack("{s:s, s:o, s:[{s:[{s:s, s:{s:s, s:s, "
	    "s:{s:[{s:s, s:[s], s:[{s:{s:s}, s:{s:s, s:s}}]}]}, "
	    "s:[{s:s, s:{s:s}}]}}]}]}",
	    "name", name,
	    "address", sockaddr("0.0.0.0", port),
	    "filter_chains", "filters",
	    "name", "envoy.filters.network.http_connection_manager",
	    "typed_config",
	    "@type", "type.googleapis.com/envoy.extensions.filters.network."
	    "http_connection_manager.v3.HttpConnectionManager",
	    "stat_prefix", name,
	    "route_config", "virtual_hosts", "name", name, "domains", "*",
	    "routes", "match", "prefix", prefix,
	    "route", "cluster", "mesh-admin", "prefix_rewrite", rewrite,
	    "http_filters", "name", "envoy.filters.http.router",
	    "typed_config", "@type", "type.googleapis.com/envoy.extensions."
	    "filters.http.router.v3.Router");
}

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

/* The cluster name the proxy reports: the workload's name and namespace. */
static void
service_cluster(const struct decision *d, const char *namespace, char *buf,
    size_t buflen)
{
	const char *slash = strchr(d->workload, '/');

	snprintf(buf, buflen, "%s.%s", slash != NULL ? slash + 1 : d->workload,
	    namespace);
}

json_t *
inject_envoy_bootstrap(const struct config *cfg, const struct decision *d,
    const char *namespace)
{
	const struct proxy_config *px = &d->stage->proxy;
	char host[256], clus[POLICY_MSG_LEN + 64];
	int xds_port = 15010;
	json_t *b;

	if (split_hostport(px->xds_address, host, sizeof(host), &xds_port) ==
	    -1)
		snprintf(host, sizeof(host), "%s", px->xds_address);
	service_cluster(d, namespace, clus, sizeof(clus));
	/* $(VAR) is expanded by the kubelet from the container's env: the
	 * pod's name is not known at admission (generateName). */
	b = json_pack("{s:{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}},"
	    " s:{s:o},"
	    " s:{s:[o, o], s:[o, o]},"
	    " s:{s:{s:s, s:s, s:[{s:{s:s}}]},"
	    "    s:{s:{}, s:s}, s:{s:{}, s:s}}}",
	    "node", "id", "$(POD_NAME).$(POD_NAMESPACE)", "cluster", clus,
	    "metadata", "NAMESPACE", "$(POD_NAMESPACE)",
	    "SERVICE_ACCOUNT", "$(SERVICE_ACCOUNT)", "POD_IP", "$(POD_IP)",
	    "MESH_STAGE", d->stage->name,
	    "MTLS_MODE", has(d->features, FEATURE_MTLS) ? cfg->mtls_mode :
	    "DISABLE", "CONFIG_HASH", cfg->hash,
	    "admin", "address", sockaddr("127.0.0.1", px->port_admin),
	    "static_resources", "listeners",
	    admin_route_listener("mesh-status", px->port_status,
	    "/healthz/ready", "/ready"),
	    admin_route_listener("mesh-metrics", px->port_metrics,
	    "/stats/prometheus", "/stats/prometheus"),
	    "clusters",
	    cluster("mesh-xds", "STRICT_DNS", host, xds_port, 1),
	    cluster("mesh-admin", "STATIC", "127.0.0.1", px->port_admin, 0),
	    "dynamic_resources", "ads_config", "api_type", "GRPC",
	    "transport_api_version", "V3", "grpc_services", "envoy_grpc",
	    "cluster_name", "mesh-xds",
	    "cds_config", "ads", "resource_api_version", "V3",
	    "lds_config", "ads", "resource_api_version", "V3");
	return b;
}

/* Append "--flag" and its value to args. */
static int
arg2(json_t *args, const char *flag, const char *value)
{
	if (json_array_append_new(args, json_string(flag)) == -1 ||
	    json_array_append_new(args, json_string(value)) == -1)
		return -1;
	return 0;
}

static int
arg_int(json_t *args, const char *flag, long value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", value);
	return arg2(args, flag, buf);
}

json_t *
inject_redirect_args(const struct proxy_config *px,
    const struct pod_settings *s)
{
	char ports[64];
	json_t *args;

	args = json_array();
	if (args == NULL)
		return NULL;
	snprintf(ports, sizeof(ports), "%d,%d,%d", px->port_admin,
	    px->port_status, px->port_metrics);
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
	    (s->include_cidrs_text != NULL && arg2(args,
	    "--include-outbound-cidrs", s->include_cidrs_text) == -1) ||
	    (s->exclude_cidrs_text != NULL && arg2(args,
	    "--exclude-outbound-cidrs", s->exclude_cidrs_text) == -1)) {
		json_decref(args);
		return NULL;
	}
	return args;
}

static json_t *
env_field(const char *name, const char *path)
{
	return json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", name, "valueFrom",
	    "fieldRef", "apiVersion", "v1", "fieldPath", path);
}

static json_t *
env_value(const char *name, const char *value)
{
	return json_pack("{s:s, s:s}", "name", name, "value", value);
}

/* requests/limits from the stage's proxy settings and the pod's
 * annotations (which win); keys without a value are left out. */
static json_t *
proxy_resources(const struct proxy_config *px, const struct pod_settings *s)
{
	const char *cpu_r = s->cpu_request ? s->cpu_request : px->cpu_request;
	const char *mem_r = s->memory_request ? s->memory_request :
	    px->memory_request;
	const char *cpu_l = s->cpu_limit ? s->cpu_limit : px->cpu_limit;
	const char *mem_l = s->memory_limit ? s->memory_limit :
	    px->memory_limit;
	json_t *res, *req, *lim;

	res = json_object();
	req = json_object();
	lim = json_object();
	if (cpu_r != NULL)
		json_object_set_new(req, "cpu", json_string(cpu_r));
	if (mem_r != NULL)
		json_object_set_new(req, "memory", json_string(mem_r));
	if (cpu_l != NULL)
		json_object_set_new(lim, "cpu", json_string(cpu_l));
	if (mem_l != NULL)
		json_object_set_new(lim, "memory", json_string(mem_l));
	if (json_object_size(req) > 0)
		json_object_set(res, "requests", req);
	if (json_object_size(lim) > 0)
		json_object_set(res, "limits", lim);
	json_decref(req);
	json_decref(lim);
	return res;
}

static json_t *
proxy_container(const struct config *cfg, const struct decision *d,
    const char *namespace)
{
	const struct proxy_config *px = &d->stage->proxy;
	const struct pod_settings *s = &d->settings;
	const char *image = s->image != NULL ? s->image : px->image;
	const char *level = s->log_level != NULL ? s->log_level : px->log_level;
	json_t *c, *bootstrap, *env, *mounts;
	char *text;

	bootstrap = inject_envoy_bootstrap(cfg, d, namespace);
	if (bootstrap == NULL)
		return NULL;
	text = json_dumps(bootstrap, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(bootstrap);
	if (text == NULL)
		return NULL;
	env = json_pack("[o, o, o, o, o]",
	    env_field("POD_NAME", "metadata.name"),
	    env_field("POD_NAMESPACE", "metadata.namespace"),
	    env_field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
	    env_field("POD_IP", "status.podIP"),
	    env_value("MESH_STAGE", d->stage->name));
	mounts = json_pack("[{s:s, s:s}]", "name", VOL_RUN, "mountPath",
	    RUN_DIR);
	if (env != NULL && mounts != NULL && has(d->features, FEATURE_MTLS)) {
		json_array_append_new(env, env_value("MESH_MTLS_MODE",
		    cfg->mtls_mode));
		json_array_append_new(env, env_value("MESH_TOKEN_PATH",
		    TOKEN_DIR "/token"));
		json_array_append_new(mounts, json_pack("{s:s, s:s, s:b}",
		    "name", VOL_TOKEN, "mountPath", TOKEN_DIR, "readOnly", 1));
		json_array_append_new(mounts, json_pack("{s:s, s:s}",
		    "name", VOL_CERTS, "mountPath", CERTS_DIR));
	}
	c = json_pack("{s:s, s:s, s:[s], s:[s, s, s, s, s, s], s:o, s:o,"
	    " s:[{s:s, s:i, s:s}, {s:s, s:i, s:s}],"
	    " s:{s:{s:s, s:i}, s:i, s:i, s:i},"
	    " s:o,"
	    " s:{s:I, s:I, s:b, s:b, s:b, s:b, s:{s:[s]}}}",
	    "name", PROXY_NAME, "image", image,
	    "command", "envoy",
	    "args", "--config-yaml", text, "--log-level", level,
	    "--drain-time-s", "5",
	    "env", env, "volumeMounts", mounts,
	    "ports", "name", "mesh-status", "containerPort", px->port_status,
	    "protocol", "TCP",
	    "name", "mesh-metrics", "containerPort", px->port_metrics,
	    "protocol", "TCP",
	    "readinessProbe", "httpGet", "path", "/healthz/ready", "port",
	    px->port_status, "periodSeconds", 2, "failureThreshold", 30,
	    "timeoutSeconds", 3,
	    "resources", proxy_resources(px, s),
	    "securityContext", "runAsUser", (json_int_t)px->uid, "runAsGroup",
	    (json_int_t)px->uid, "runAsNonRoot", 1, "privileged", 0,
	    "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1,
	    "capabilities", "drop", "ALL");
	free(text);
	return c;
}

static json_t *
init_container(const struct config *cfg, const struct decision *d)
{
	json_t *args;

	args = inject_redirect_args(&d->stage->proxy, &d->settings);
	if (args == NULL)
		return NULL;
	/* iptables needs root with NET_ADMIN and NET_RAW; nothing else. */
	return json_pack("{s:s, s:s, s:[s, s], s:o,"
	    " s:{s:{s:s, s:s}, s:{s:s}},"
	    " s:{s:i, s:i, s:b, s:b, s:b, s:b,"
	    "    s:{s:[s, s], s:[s]}}}",
	    "name", INIT_NAME, "image", cfg->init_image,
	    "command", "meshinject", "redirect", "args", args,
	    "resources", "requests", "cpu", "10m", "memory", "16Mi",
	    "limits", "memory", "64Mi",
	    "securityContext", "runAsUser", 0, "runAsGroup", 0,
	    "runAsNonRoot", 0, "privileged", 0, "allowPrivilegeEscalation", 0,
	    "readOnlyRootFilesystem", 0,
	    "capabilities", "add", "NET_ADMIN", "NET_RAW", "drop", "ALL");
}

static json_t *
volumes(const struct config *cfg, const struct decision *d)
{
	json_t *v;

	v = json_pack("[{s:s, s:{s:s}}]", "name", VOL_RUN, "emptyDir",
	    "medium", "Memory");
	if (v != NULL && has(d->features, FEATURE_MTLS)) {
		json_array_append_new(v, json_pack("{s:s, s:{s:[{s:{s:s, s:i,"
		    " s:s}}]}}", "name", VOL_TOKEN, "projected", "sources",
		    "serviceAccountToken", "audience",
		    cfg->mtls_token_audience, "expirationSeconds", 43200,
		    "path", "token"));
		json_array_append_new(v, json_pack("{s:s, s:{s:s}}", "name",
		    VOL_CERTS, "emptyDir", "medium", "Memory"));
	}
	return v;
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

/* Keep only the items of `items` whose names the pod does not have yet,
 * collecting every name (present or not) into `names`. Steals items;
 * returns the filtered array. */
static json_t *
missing_only(json_t *items, const json_t *pod, const char *list,
    json_t *names)
{
	json_t *out, *item;
	size_t i;

	if (items == NULL)
		return NULL;
	out = json_array();
	json_array_foreach(items, i, item) {
		const char *n = json_string_value(json_object_get(item, "name"));

		json_array_append_new(names, json_string(n));
		if (!named_in(pod, list, n))
			json_array_append(out, item);
	}
	json_decref(items);
	return out;
}

static json_t *
feature_names(unsigned features)
{
	json_t *a = json_array();
	int f;

	for (f = 0; f < FEATURE_COUNT; f++)
		if (features & FEATURE_BIT(f))
			json_array_append_new(a, json_string(feature_name(f)));
	return a;
}

json_t *
inject_patch(const struct config *cfg, const struct decision *d,
    const json_t *pod, const char *namespace)
{
	const json_t *spec = json_object_get(pod, "spec");
	json_t *patch, *inits, *conts, *vols, *status, *anns;
	json_t *init_names, *cont_names, *vol_names;
	char *status_text = NULL;

	patch = json_array();
	init_names = json_array();
	cont_names = json_array();
	vol_names = json_array();
	inits = json_array();
	conts = json_array();
	vols = json_array();
	if (patch == NULL || init_names == NULL || cont_names == NULL ||
	    vol_names == NULL || inits == NULL || conts == NULL || vols == NULL)
		goto fail;

	if (d->verdict == VERDICT_INJECT) {
		if (has(d->features, FEATURE_REDIRECT) &&
		    json_array_append_new(inits, init_container(cfg, d)) == -1)
			goto fail;
		if (has(d->features, FEATURE_PROXY) &&
		    json_array_append_new(conts, proxy_container(cfg, d,
		    namespace)) == -1)
			goto fail;
		json_decref(vols);
		vols = volumes(cfg, d);
	}
	inits = missing_only(inits, pod, "initContainers", init_names);
	conts = missing_only(conts, pod, "containers", cont_names);
	vols = missing_only(vols, pod, "volumes", vol_names);
	if (inits == NULL || conts == NULL || vols == NULL)
		goto fail;

	status = json_pack("{s:s, s:o, s:O, s:O, s:O, s:s}",
	    "stage", d->stage->name, "features", feature_names(d->features),
	    "initContainers", init_names, "containers", cont_names,
	    "volumes", vol_names, "configHash", cfg->hash);
	if (status == NULL)
		goto fail;
	status_text = json_dumps(status, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(status);
	if (status_text == NULL)
		goto fail;

	/* mesh-init goes first among init containers, so that the user's own
	 * init containers already run inside the mesh. */
	if ((json_array_size(inits) > 0 &&
	    patch_insert_items(patch, json_object_get(spec, "initContainers"),
	    "/spec/initContainers", 0, json_incref(inits)) == -1) ||
	    (json_array_size(conts) > 0 &&
	    patch_insert_items(patch, json_object_get(spec, "containers"),
	    "/spec/containers", PATCH_END, json_incref(conts)) == -1) ||
	    (json_array_size(vols) > 0 &&
	    patch_insert_items(patch, json_object_get(spec, "volumes"),
	    "/spec/volumes", PATCH_END, json_incref(vols)) == -1))
		goto fail;

	anns = json_pack("{s:s}", ANN_STATUS, status_text);
	if (patch_add_members(patch, json_object_get(json_object_get(pod,
	    "metadata"), "annotations"), "/metadata/annotations", anns) == -1)
		goto fail;

	free(status_text);
	json_decref(inits);
	json_decref(conts);
	json_decref(vols);
	json_decref(init_names);
	json_decref(cont_names);
	json_decref(vol_names);
	return patch;
fail:
	free(status_text);
	json_decref(patch);
	json_decref(inits);
	json_decref(conts);
	json_decref(vols);
	json_decref(init_names);
	json_decref(cont_names);
	json_decref(vol_names);
	return NULL;
}
