/* check_inject.c - what each feature adds to a pod and what it leaves alone,
 * through the public API: review_handle (as serve and inject call it), and
 * policy_decide + inject_patch / inject_envoy_bootstrap /
 * inject_redirect_args (which the review must agree with).
 *
 * One table row per feature and per built-in stage. Each row writes out the
 * init containers, containers, volumes and proxy env names it expects, in
 * order, and the set of features whose marks must be on the pod; every
 * feature's mark (feature_marked) is then checked on every row, so a row also
 * says what its stage must not add. The user's containers, init containers,
 * volumes, labels and other annotations must come out as they went in
 * (probes change only under probe-rewrite, the prometheus.io annotations only under
 * metrics-merge). */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "inject.h"
#include "lib/testutil.h"
#include "policy.h"
#include "review.h"

/* A stage per feature, each with the least it needs: redirect and its
 * variants need the proxy. */
static const char config_yaml[] =
    "stages:\n"
    "  f-proxy: {features: [proxy]}\n"
    "  f-redirect: {features: [proxy, redirect]}\n"
    "  f-cni: {features: [proxy, cni]}\n"
    "  f-mtls: {features: [proxy, redirect, mtls]}\n"
    "  f-native: {features: [proxy, redirect, native-sidecar]}\n"
    "  f-hold: {features: [proxy, redirect, hold-app]}\n"
    "  f-native-hold: {features: [proxy, redirect, native-sidecar, "
    "hold-app]}\n"
    "  f-probe: {features: [proxy, redirect, probe-rewrite]}\n"
    "  f-metrics: {features: [proxy, redirect, metrics-merge]}\n"
    "  f-observe: {features: [observe]}\n";

/* The pod every row injects: a user init container, two containers (one
 * with HTTP, TCP and exec probes, one $ in a probe path), a volume, labels
 * and the prometheus.io annotations metrics-merge takes over. */
static const char pod_json[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\","
    "\"namespace\":\"shop\",\"labels\":{\"app\":\"web\"},\"annotations\":{"
    "\"team\":\"a\",\"prometheus.io/scrape\":\"true\","
    "\"prometheus.io/port\":\"8080\",\"prometheus.io/path\":\"/metrics\"}},"
    "\"spec\":{\"serviceAccountName\":\"web\",\"initContainers\":[{\"name\":"
    "\"setup\",\"image\":\"busybox\"}],\"containers\":[{\"name\":\"app\","
    "\"image\":\"nginx\",\"ports\":[{\"containerPort\":8080}],\"env\":[{"
    "\"name\":\"A\",\"value\":\"1\"}],\"livenessProbe\":{\"httpGet\":{"
    "\"path\":\"/he$lth\",\"port\":8080}},\"readinessProbe\":{\"tcpSocket\":"
    "{\"port\":8080}},\"startupProbe\":{\"exec\":{\"command\":[\"true\"]}}},"
    "{\"name\":\"side\",\"image\":\"busybox\"}],\"volumes\":[{\"name\":"
    "\"data\",\"emptyDir\":{}}],\"nodeSelector\":{\"disk\":\"ssd\"}}}";

#define B(f)	FEATURE_BIT(FEATURE_##f)
#define ENV_BASE "POD_NAME", "POD_NAMESPACE", "SERVICE_ACCOUNT", "POD_IP", \
	"MESH_STAGE"

struct inject_case {
	const char *name;
	const char *stage;
	bool default_config;		/* the embedded default, not config_yaml */
	unsigned features;		/* marks that must be on the pod */
	const char *inits[4];		/* names in order, NULL-terminated */
	const char *conts[4];
	const char *vols[5];
	const char *env[12];		/* mesh-proxy's env names in order */
};

static const struct inject_case cases[] = {
	{ "proxy", "f-proxy", false, B(PROXY),
	  { "setup" }, { "app", "side", "mesh-proxy" },
	  { "data", "mesh-run" }, { ENV_BASE } },
	{ "redirect", "f-redirect", false, B(PROXY) | B(REDIRECT),
	  { "mesh-init", "setup" }, { "app", "side", "mesh-proxy" },
	  { "data", "mesh-run" }, { ENV_BASE } },
	{ "cni", "f-cni", false, B(PROXY) | B(CNI),
	  { "mesh-init", "setup" }, { "app", "side", "mesh-proxy" },
	  { "data", "mesh-run" }, { ENV_BASE } },
	{ "mtls", "f-mtls", false, B(PROXY) | B(REDIRECT) | B(MTLS),
	  { "mesh-init", "setup" }, { "app", "side", "mesh-proxy" },
	  { "data", "mesh-run", "mesh-token", "mesh-certs" },
	  { ENV_BASE, "MESH_MTLS_MODE", "MESH_TOKEN_PATH" } },
	{ "native-sidecar", "f-native", false,
	  B(PROXY) | B(REDIRECT) | B(NATIVE_SIDECAR),
	  { "mesh-init", "mesh-proxy", "setup" }, { "app", "side" },
	  { "data", "mesh-run" }, { ENV_BASE } },
	{ "hold-app", "f-hold", false, B(PROXY) | B(REDIRECT) | B(HOLD_APP),
	  { "mesh-init", "setup" }, { "mesh-proxy", "app", "side" },
	  { "data", "mesh-run" }, { ENV_BASE } },
	{ "native-sidecar+hold-app", "f-native-hold", false,
	  B(PROXY) | B(REDIRECT) | B(NATIVE_SIDECAR) | B(HOLD_APP),
	  { "mesh-init", "mesh-proxy", "setup" }, { "app", "side" },
	  { "data", "mesh-run" }, { ENV_BASE } },
	{ "probe-rewrite", "f-probe", false,
	  B(PROXY) | B(REDIRECT) | B(PROBE_REWRITE),
	  { "mesh-init", "setup" }, { "app", "side", "mesh-proxy" },
	  { "data", "mesh-run" }, { ENV_BASE, "MESH_APP_PROBES" } },
	{ "metrics-merge", "f-metrics", false,
	  B(PROXY) | B(REDIRECT) | B(METRICS_MERGE),
	  { "mesh-init", "setup" }, { "app", "side", "mesh-proxy" },
	  { "data", "mesh-run" }, { ENV_BASE, "MESH_APP_METRICS" } },
	{ "observe", "f-observe", false, B(OBSERVE),
	  { "setup" }, { "app", "side" }, { "data" }, { NULL } },
	/* The built-in stages, from the embedded default. */
	{ "stage off", "off", true, 0,
	  { "setup" }, { "app", "side" }, { "data" }, { NULL } },
	{ "stage observe", "observe", true, B(OBSERVE),
	  { "setup" }, { "app", "side" }, { "data" }, { NULL } },
	{ "stage traffic", "traffic", true, B(PROXY) | B(REDIRECT),
	  { "mesh-init", "setup" }, { "app", "side", "mesh-proxy" },
	  { "data", "mesh-run" }, { ENV_BASE } },
	{ "stage mtls", "mtls", true,
	  B(PROXY) | B(REDIRECT) | B(MTLS) | B(PROBE_REWRITE),
	  { "mesh-init", "setup" }, { "app", "side", "mesh-proxy" },
	  { "data", "mesh-run", "mesh-token", "mesh-certs" },
	  { ENV_BASE, "MESH_MTLS_MODE", "MESH_TOKEN_PATH",
	    "MESH_APP_PROBES" } },
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static struct config *cfg_features, *cfg_default;

static void
setup(void)
{
	cfg_features = tu_config(config_yaml);
	cfg_default = tu_config(NULL);
}

static void
teardown(void)
{
	config_free(cfg_features);
	config_free(cfg_default);
}

static const json_t *
at(const json_t *j, const char *a, const char *b)
{
	j = json_object_get(j, a);
	return b != NULL ? json_object_get(j, b) : j;
}

static const char *
str_at(const json_t *j, const char *a, const char *b)
{
	return json_string_value(at(j, a, b));
}

static bool
has_string(const json_t *arr, const char *s)
{
	const json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

/* The names of the items of `list`, in order, against `want`. */
static void
assert_names(const char *row, const char *what, const json_t *list,
    const char *const *want)
{
	size_t i, n = 0;

	while (n < 5 && want[n] != NULL)
		n++;
	ck_assert_msg(json_array_size(list) == n, "%s: %s has %zu items, "
	    "expected %zu", row, what, json_array_size(list), n);
	for (i = 0; i < n; i++) {
		const char *got = str_at(json_array_get(list, i), "name", NULL);

		ck_assert_msg(got != NULL && strcmp(got, want[i]) == 0,
		    "%s: %s[%zu] is %s, expected %s", row, what, i,
		    got ? got : "(none)", want[i]);
	}
}

static json_t *
proxy_of(const json_t *pod)
{
	json_t *p = tu_named(at(pod, "spec", "containers"), "mesh-proxy");

	return p != NULL ? p : tu_named(at(pod, "spec", "initContainers"),
	    "mesh-proxy");
}

static json_t *
status_of(const json_t *pod)
{
	const char *s = str_at(at(pod, "metadata", "annotations"),
	    ANN_STATUS, NULL);

	return s != NULL ? json_loads(s, 0, NULL) : NULL;
}

/* Is feature f's mark on the patched pod? Written from DESIGN's feature
 * table, independently of inject.c. */
static bool
feature_marked(enum feature f, const json_t *pod, const json_t *orig)
{
	const json_t *spec = json_object_get(pod, "spec");
	const json_t *ann = at(pod, "metadata", "annotations");
	const json_t *px = proxy_of(pod);
	const json_t *init = tu_named(json_object_get(spec, "initContainers"),
	    "mesh-init");
	json_t *app = tu_named(json_object_get(spec, "containers"), "app");
	json_t *oapp = tu_named(at(orig, "spec", "containers"), "app");
	json_t *st;
	bool r;

	switch (f) {
	case FEATURE_PROXY:
		return px != NULL;
	case FEATURE_REDIRECT:
		return init != NULL && has_string(at(at(init, "securityContext",
		    "capabilities"), "add", NULL), "NET_ADMIN");
	case FEATURE_CNI:
		return json_object_get(ann, "meshinject.io/cni-redirect") !=
		    NULL;
	case FEATURE_MTLS:
		return tu_named(json_object_get(spec, "volumes"),
		    "mesh-token") != NULL;
	case FEATURE_NATIVE_SIDECAR:
		return tu_named(json_object_get(spec, "initContainers"),
		    "mesh-proxy") != NULL;
	case FEATURE_HOLD_APP:
		return px != NULL && (json_object_get(px, "lifecycle") !=
		    NULL || json_object_get(px, "startupProbe") != NULL);
	case FEATURE_PROBE_REWRITE:
		return !json_equal(json_object_get(app, "livenessProbe"),
		    json_object_get(oapp, "livenessProbe"));
	case FEATURE_METRICS_MERGE:
		return str_at(ann, "prometheus.io/port", NULL) != NULL &&
		    strcmp(str_at(ann, "prometheus.io/port", NULL), "15090") ==
		    0;
	case FEATURE_OBSERVE:
		/* A status that records nothing injected. */
		st = status_of(pod);
		r = st != NULL && json_array_size(json_object_get(st,
		    "initContainers")) == 0 && json_array_size(
		    json_object_get(st, "containers")) == 0 &&
		    json_array_size(json_object_get(st, "volumes")) == 0;
		json_decref(st);
		return r;
	default:
		ck_abort_msg("feature %d has no mark in this test", (int)f);
	}
	return false;
}

/* The user's own objects come out as they went in. */
static void
assert_untouched(const struct inject_case *c, const json_t *pod,
    const json_t *orig)
{
	static const char *const lists[] = { "initContainers", "containers",
	    "volumes" };
	const json_t *ann = at(pod, "metadata", "annotations");
	const json_t *oann = at(orig, "metadata", "annotations");
	bool probes = (c->features & B(PROBE_REWRITE)) != 0;
	bool metrics = (c->features & B(METRICS_MERGE)) != 0;
	json_t *a, *b, *item;
	const json_t *v;
	const char *key;
	size_t i, l;

	for (l = 0; l < 3; l++) {
		json_array_foreach(at(orig, "spec", lists[l]), i, item) {
			const char *name = str_at(item, "name", NULL);
			json_t *got = tu_named(at(pod, "spec", lists[l]), name);

			ck_assert_msg(got != NULL, "%s: %s %s is gone",
			    c->name, lists[l], name);
			a = json_deep_copy(item);
			b = json_deep_copy(got);
			if (probes && strcmp(name, "app") == 0) {
				json_object_del(a, "livenessProbe");
				json_object_del(b, "livenessProbe");
				json_object_del(a, "readinessProbe");
				json_object_del(b, "readinessProbe");
			}
			ck_assert_msg(json_equal(a, b), "%s: %s %s changed",
			    c->name, lists[l], name);
			json_decref(a);
			json_decref(b);
		}
	}
	/* The rest of the pod, lists and annotations aside, is equal. */
	a = json_deep_copy(orig);
	b = json_deep_copy(pod);
	for (l = 0; l < 3; l++) {
		json_object_del(json_object_get(a, "spec"), lists[l]);
		json_object_del(json_object_get(b, "spec"), lists[l]);
	}
	json_object_del(json_object_get(a, "metadata"), "annotations");
	json_object_del(json_object_get(b, "metadata"), "annotations");
	ck_assert_msg(json_equal(a, b), "%s: the pod changed outside its "
	    "lists and annotations", c->name);
	json_decref(a);
	json_decref(b);
	/* Annotations: the user's kept, only ours added. */
	json_object_foreach((json_t *)oann, key, v) {
		if (metrics && strncmp(key, "prometheus.io/", 14) == 0)
			continue;
		ck_assert_msg(json_equal(v, json_object_get(ann, key)),
		    "%s: annotation %s changed", c->name, key);
	}
	json_object_foreach((json_t *)ann, key, v) {
		bool ours = strcmp(key, ANN_STATUS) == 0 ||
		    ((c->features & B(CNI)) &&
		    strcmp(key, "meshinject.io/cni-redirect") == 0) ||
		    (metrics && strncmp(key, "prometheus.io/", 14) == 0);

		ck_assert_msg(ours || json_object_get(oann, key) != NULL,
		    "%s: annotation %s added", c->name, key);
	}
}

/* What the injected containers run as: the proxy never privileged, the
 * redirect root with NET_ADMIN and NET_RAW only, the CNI check neither. */
static void
assert_security(const struct inject_case *c, const json_t *pod)
{
	const json_t *px = proxy_of(pod);
	const json_t *init = tu_named(at(pod, "spec", "initContainers"),
	    "mesh-init");
	const json_t *sc;

	if (px != NULL) {
		sc = json_object_get(px, "securityContext");
		ck_assert_int_eq(json_integer_value(at(sc, "runAsUser", NULL)),
		    1337);
		ck_assert(json_is_true(at(sc, "runAsNonRoot", NULL)));
		ck_assert(json_is_true(at(sc, "readOnlyRootFilesystem", NULL)));
		ck_assert(json_is_false(at(sc, "privileged", NULL)));
		ck_assert(json_is_false(at(sc, "allowPrivilegeEscalation",
		    NULL)));
		ck_assert(has_string(at(sc, "capabilities", "drop"), "ALL"));
		ck_assert_ptr_null(at(sc, "capabilities", "add"));
		ck_assert_str_eq(str_at(px, "image", NULL),
		    "envoyproxy/envoy:v1.32.3");
		ck_assert_int_eq(json_integer_value(at(at(px,
		    "readinessProbe", "httpGet"), "port", NULL)), 15021);
		if (c->features & B(NATIVE_SIDECAR))
			ck_assert_str_eq(str_at(px, "restartPolicy", NULL),
			    "Always");
		else
			ck_assert_ptr_null(json_object_get(px,
			    "restartPolicy"));
	}
	if (init == NULL)
		return;
	sc = json_object_get(init, "securityContext");
	ck_assert_str_eq(str_at(init, "image", NULL),
	    "meshinject/meshinject:0.1.0");
	ck_assert(has_string(at(sc, "capabilities", "drop"), "ALL"));
	ck_assert(json_is_false(at(sc, "privileged", NULL)));
	if (c->features & B(CNI)) {
		ck_assert_int_eq(json_integer_value(at(sc, "runAsUser", NULL)),
		    1338);
		ck_assert(json_is_true(at(sc, "runAsNonRoot", NULL)));
		ck_assert_ptr_null(at(sc, "capabilities", "add"));
		ck_assert_str_eq(json_string_value(json_array_get(at(init,
		    "args", NULL), 0)), "--check");
	} else {
		const json_t *add = at(sc, "capabilities", "add");

		ck_assert_int_eq(json_integer_value(at(sc, "runAsUser", NULL)),
		    0);
		ck_assert_uint_eq(json_array_size(add), 2);
		ck_assert(has_string(add, "NET_ADMIN"));
		ck_assert(has_string(add, "NET_RAW"));
	}
}

/* Each feature's own additions, written out. */
static void
assert_feature_details(const struct inject_case *c, const json_t *pod)
{
	const json_t *px = proxy_of(pod);
	const json_t *ann = at(pod, "metadata", "annotations");
	const json_t *app = tu_named(at(pod, "spec", "containers"), "app");
	const json_t *v;

	if (c->features & B(MTLS)) {
		v = tu_named(at(pod, "spec", "volumes"), "mesh-token");
		ck_assert_str_eq(str_at(json_array_get(at(v, "projected",
		    "sources"), 0), "serviceAccountToken",
		    "audience"), "mesh");
		ck_assert_str_eq(str_at(tu_named(json_object_get(px, "env"),
		    "MESH_MTLS_MODE"), "value", NULL), "STRICT");
		ck_assert_ptr_nonnull(tu_named(json_object_get(px,
		    "volumeMounts"), "mesh-token"));
		ck_assert_ptr_nonnull(tu_named(json_object_get(px,
		    "volumeMounts"), "mesh-certs"));
	}
	if (c->features & B(HOLD_APP)) {
		if (c->features & B(NATIVE_SIDECAR)) {
			ck_assert_int_eq(json_integer_value(at(at(px,
			    "startupProbe", "httpGet"), "port", NULL)), 15021);
			ck_assert_ptr_null(json_object_get(px, "lifecycle"));
		} else {
			ck_assert_ptr_nonnull(at(at(px, "lifecycle",
			    "postStart"), "exec", NULL));
			ck_assert_ptr_null(json_object_get(px,
			    "startupProbe"));
		}
	}
	if (c->features & B(PROBE_REWRITE)) {
		json_t *orig;

		ck_assert_int_eq(json_integer_value(at(at(app, "livenessProbe",
		    "httpGet"), "port", NULL)), 15021);
		ck_assert_str_eq(str_at(at(app, "livenessProbe", "httpGet"),
		    "path", NULL), "/app-health/app/livez");
		ck_assert_str_eq(str_at(at(app, "readinessProbe", "httpGet"),
		    "path", NULL), "/app-health/app/readyz");
		ck_assert_ptr_nonnull(at(app, "startupProbe", "exec"));
		/* The originals go to the proxy, keyed by the new paths; an
		 * env value's $ is written $$ (the kubelet expands $(VAR)). */
		orig = json_loads(str_at(tu_named(json_object_get(px, "env"),
		    "MESH_APP_PROBES"), "value", NULL), 0, NULL);
		ck_assert_str_eq(str_at(at(orig, "/app-health/app/livez",
		    "httpGet"), "path", NULL), "/he$$lth");
		ck_assert_int_eq(json_integer_value(at(at(orig,
		    "/app-health/app/readyz", "tcpSocket"), "port", NULL)),
		    8080);
		json_decref(orig);
	}
	if (c->features & B(METRICS_MERGE)) {
		ck_assert_str_eq(str_at(ann, "prometheus.io/scrape", NULL),
		    "true");
		ck_assert_str_eq(str_at(ann, "prometheus.io/path", NULL),
		    "/stats/prometheus");
		ck_assert_str_eq(str_at(tu_named(json_object_get(px, "env"),
		    "MESH_APP_METRICS"), "value", NULL),
		    "{\"path\":\"/metrics\",\"port\":8080,\"scheme\":\"http\"}");
	}
}

/* The status annotation: stage and features, and the names added. */
static void
assert_status(const struct inject_case *c, const json_t *pod)
{
	json_t *st = status_of(pod);
	const json_t *feats;
	unsigned seen = 0;
	size_t i;

	if (c->features == 0) {
		ck_assert_msg(st == NULL, "%s: a status without features",
		    c->name);
		return;
	}
	ck_assert_msg(st != NULL, "%s: no status annotation", c->name);
	ck_assert_str_eq(str_at(st, "stage", NULL), c->stage);
	ck_assert_str_eq(str_at(st, "configHash", NULL), c->default_config ?
	    cfg_default->hash : cfg_features->hash);
	feats = json_object_get(st, "features");
	for (i = 0; i < json_array_size(feats); i++) {
		int k = feature_parse(json_string_value(json_array_get(feats,
		    i)));

		ck_assert_msg(k >= 0, "%s: unknown feature in status",
		    c->name);
		seen |= FEATURE_BIT(k);
	}
	ck_assert_msg(seen == c->features, "%s: status features %#x, "
	    "expected %#x", c->name, seen, c->features);
	json_decref(st);
}

static const struct config *
cfg_of(const struct inject_case *c)
{
	return c->default_config ? cfg_default : cfg_features;
}

/* The pod as review_handle patches it for /mutate/<stage>. */
static json_t *
reviewed(const struct inject_case *c, json_t **patchp)
{
	char *body = tu_review("CREATE", "shop", pod_json);
	json_t *resp, *patch, *pod;
	int status;

	resp = tu_call(cfg_of(c), c->stage, 0, body, &status);
	free(body);
	ck_assert_int_eq(status, 200);
	ck_assert_msg(json_is_true(at(resp, "response", "allowed")),
	    "%s: refused: %s", c->name, str_at(at(resp, "response",
	    "status"), "message", NULL));
	patch = tu_patch(resp);
	json_decref(resp);
	pod = tu_patched(pod_json, patch);
	if (patchp != NULL)
		*patchp = patch;
	else
		json_decref(patch);
	return pod;
}

static void
decide(const struct inject_case *c, const json_t *pod, struct decision *d)
{
	struct policy_input in = { .pod = pod, .namespace = "shop",
	    .operation = "CREATE", .path_stage = c->stage };

	ck_assert_int_eq(policy_decide(cfg_of(c), &in, d), 0);
}

START_TEST(test_feature_row)
{
	const struct inject_case *c = &cases[_i];
	json_t *orig = json_loads(pod_json, 0, NULL);
	json_t *pod = reviewed(c, NULL), *px;
	const json_t *env;
	size_t i, n;
	int f;

	ck_assert_ptr_nonnull(orig);
	assert_names(c->name, "initContainers", at(pod, "spec",
	    "initContainers"), c->inits);
	assert_names(c->name, "containers", at(pod, "spec", "containers"),
	    c->conts);
	assert_names(c->name, "volumes", at(pod, "spec", "volumes"), c->vols);
	for (f = 0; f < FEATURE_COUNT; f++) {
		bool want = (c->features & FEATURE_BIT(f)) != 0;

		ck_assert_msg(feature_marked((enum feature)f, pod, orig) ==
		    want, "%s: %s is %s, expected %s", c->name,
		    feature_name((enum feature)f), want ? "missing" :
		    "present", want ? "present" : "absent");
	}
	px = proxy_of(pod);
	env = json_object_get(px, "env");
	for (n = 0; c->env[n] != NULL; n++)
		;
	ck_assert_msg(json_array_size(env) == n, "%s: mesh-proxy has %zu env "
	    "vars, expected %zu", c->name, json_array_size(env), n);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(str_at(json_array_get(env, i), "name", NULL),
		    c->env[i]);
	if (px != NULL)
		ck_assert_str_eq(str_at(tu_named(env, "MESH_STAGE"), "value",
		    NULL), c->stage);
	assert_untouched(c, pod, orig);
	assert_security(c, pod);
	assert_feature_details(c, pod);
	assert_status(c, pod);
	json_decref(pod);
	json_decref(orig);
}
END_TEST

/* policy_decide + inject_patch is what review_handle answers, and a second
 * call on the patched pod adds nothing (the reinvocation). */
START_TEST(test_row_api_agrees)
{
	const struct inject_case *c = &cases[_i];
	json_t *patch = NULL, *pod = reviewed(c, &patch), *orig, *direct;
	struct decision d;
	char *text, *body;
	json_t *resp;
	int status;

	orig = json_loads(pod_json, 0, NULL);
	decide(c, orig, &d);
	if (c->features == 0) {
		ck_assert_int_eq(d.verdict, VERDICT_UNCHANGED);
		ck_assert_ptr_null(patch);
	} else {
		ck_assert_int_eq(d.verdict, (c->features & B(OBSERVE)) ?
		    VERDICT_OBSERVE : VERDICT_INJECT);
		ck_assert_uint_eq(d.features, c->features);
		struct patch p;

		ck_assert_int_eq(inject_patch(cfg_of(c), &d, orig, "shop", &p),
		    0);
		direct = json_loadb(p.text.data, p.text.len, 0, NULL);
		ck_assert_ptr_nonnull(direct);
		ck_assert_uint_eq(p.ops, json_array_size(direct));
		ck_assert_msg(json_equal(direct, patch), "%s: inject_patch and "
		    "review_handle disagree", c->name);
		json_decref(direct);
		patch_free(&p);
	}
	text = json_dumps(pod, JSON_COMPACT);
	body = tu_review("CREATE", "shop", text);
	resp = tu_call(cfg_of(c), c->stage, 0, body, &status);
	ck_assert_int_eq(status, 200);
	ck_assert_msg(tu_patch(resp) == NULL, "%s: the injected pod was "
	    "patched again", c->name);
	json_decref(resp);
	free(body);
	free(text);
	json_decref(patch);
	json_decref(pod);
	json_decref(orig);
}
END_TEST

/* inject_envoy_bootstrap is the text of mesh-proxy's --config-yaml, and
 * holds what the row's features put in it. */
START_TEST(test_row_bootstrap)
{
	const struct inject_case *c = &cases[_i];
	json_t *pod, *orig, *args, *boot, *clusters, *cl;
	const json_t *node;
	struct decision d;
	char *text;
	bool probe0 = false, app_metrics = false;
	size_t i;

	if (!(c->features & B(PROXY)))
		return;
	pod = reviewed(c, NULL);
	orig = json_loads(pod_json, 0, NULL);
	decide(c, orig, &d);
	text = inject_envoy_bootstrap(cfg_of(c), &d, orig, "shop");
	ck_assert_ptr_nonnull(text);
	args = json_object_get(proxy_of(pod), "args");
	ck_assert_str_eq(json_string_value(json_array_get(args, 0)),
	    "--config-yaml");
	ck_assert_str_eq(json_string_value(json_array_get(args, 1)), text);
	boot = json_loads(text, 0, NULL);
	ck_assert_msg(boot != NULL, "%s: the bootstrap is not JSON", c->name);
	/* The bootstrap is hand-written text whose keys inject.c must place
	 * in byte order: a field added out of place fails here, where the
	 * text differs from jansson's own sorted, compact dump of it. */
	{
		char *sorted = json_dumps(boot, JSON_COMPACT | JSON_SORT_KEYS);

		size_t at_ = 0;

		ck_assert_ptr_nonnull(sorted);
		while (sorted[at_] != '\0' && sorted[at_] == text[at_])
			at_++;
		ck_assert_msg(sorted[at_] == text[at_], "%s: the bootstrap's "
		    "keys are not in byte order (or it is not compact) at "
		    "byte %zu: \"%.60s\", sorted: \"%.60s\"", c->name, at_,
		    text + at_, sorted + at_);
		free(sorted);
	}
	node = json_object_get(boot, "node");
	ck_assert_str_eq(str_at(node, "id", NULL), "$(POD_NAME).$(POD_NAMESPACE)");
	ck_assert_str_eq(str_at(node, "cluster", NULL), "web.shop");
	ck_assert_str_eq(str_at(node, "metadata", "MESH_STAGE"), c->stage);
	ck_assert_str_eq(str_at(node, "metadata", "MTLS_MODE"),
	    (c->features & B(MTLS)) ? "STRICT" : "DISABLE");
	ck_assert_str_eq(str_at(at(at(boot, "admin", "address"),
	    "socket_address", NULL), "address", NULL), "127.0.0.1");
	ck_assert_int_eq(json_integer_value(at(at(at(boot, "admin", "address"),
	    "socket_address", NULL), "port_value", NULL)), 15000);
	clusters = (json_t *)at(boot, "static_resources", "clusters");
	ck_assert_ptr_nonnull(tu_named(clusters, "mesh-xds"));
	json_array_foreach(clusters, i, cl) {
		probe0 |= strcmp(str_at(cl, "name", NULL), "mesh-probe-0") == 0;
		app_metrics |= strcmp(str_at(cl, "name", NULL),
		    "mesh-app-metrics") == 0;
	}
	ck_assert_msg(probe0 == ((c->features & B(PROBE_REWRITE)) != 0),
	    "%s: a probe cluster %s", c->name, probe0 ? "without "
	    "probe-rewrite" : "missing");
	ck_assert_msg(app_metrics == ((c->features & B(METRICS_MERGE)) != 0),
	    "%s: the app metrics cluster %s", c->name, app_metrics ?
	    "without metrics-merge" : "missing");
	/* A $ the kubelet would expand is written $$ (probe paths). */
	ck_assert_msg((strstr(text, "/he$$lth") != NULL) == probe0,
	    "%s: the probe path's $ is not written $$", c->name);
	ck_assert_ptr_null(strstr(text, "/he$lth"));
	json_decref(boot);
	free(text);
	json_decref(pod);
	json_decref(orig);
}
END_TEST

/* The observe stage records what the next stage (traffic) would inject. */
START_TEST(test_observe_would_inject)
{
	const struct inject_case *c = NULL;
	json_t *pod, *st, *w;
	size_t i;

	for (i = 0; i < N_CASES; i++)
		if (strcmp(cases[i].name, "stage observe") == 0)
			c = &cases[i];
	ck_assert_ptr_nonnull(c);
	pod = reviewed(c, NULL);
	st = status_of(pod);
	w = json_object_get(st, "wouldInject");
	ck_assert_str_eq(str_at(w, "stage", NULL), "traffic");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(w,
	    "initContainers"), 0)), "mesh-init");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(w,
	    "containers"), 0)), "mesh-proxy");
	json_decref(st);
	json_decref(pod);
}
END_TEST

/* inject_redirect_args: the flags written out for the default proxy, then
 * each pod setting; "*" excluded CIDRs capture nothing. */
static void
assert_args(const json_t *args, const char *const *want)
{
	size_t i, n;

	for (n = 0; want[n] != NULL; n++)
		;
	ck_assert_msg(args != NULL && json_array_size(args) == n,
	    "%zu args, expected %zu", json_array_size(args), n);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(json_string_value(json_array_get(args, i)),
		    want[i]);
}

#define ARGS_BASE "--proxy-uid", "1337", "--proxy-gid", "1337", \
	"--outbound-port", "15001", "--inbound-port", "15006", \
	"--proxy-ports", "15000,15021,15090"

START_TEST(test_redirect_args)
{
	static const char *const plain[] = { ARGS_BASE, NULL };
	static const char *const all[] = { ARGS_BASE,
	    "--include-inbound-ports", "80,443",
	    "--exclude-inbound-ports", "9000",
	    "--exclude-outbound-ports", "5432",
	    "--include-outbound-cidrs", "10.0.0.0/8",
	    "--exclude-outbound-cidrs", "10.1.0.0/16", NULL };
	static const char *const none[] = { ARGS_BASE,
	    "--include-outbound-cidrs", "", NULL };
	static const char *const moved[] = { "--proxy-uid", "2000",
	    "--proxy-gid", "2000", "--outbound-port", "16001",
	    "--inbound-port", "16006", "--proxy-ports", "16000,16021,16090",
	    NULL };
	struct pod_settings s;
	struct proxy_config px = cfg_default->proxy;
	json_t *args;

	memset(&s, 0, sizeof(s));
	args = inject_redirect_args(&cfg_default->proxy, &s);
	assert_args(args, plain);
	json_decref(args);

	s.include_inbound_text = "80,443";
	s.exclude_inbound_text = "9000";
	s.exclude_outbound_text = "5432";
	s.include_cidrs_text = "10.0.0.0/8";
	s.exclude_cidrs_text = "10.1.0.0/16";
	args = inject_redirect_args(&cfg_default->proxy, &s);
	assert_args(args, all);
	json_decref(args);

	memset(&s, 0, sizeof(s));
	s.exclude_cidrs.all = true;
	s.exclude_cidrs_text = "*";
	s.include_cidrs_text = "10.0.0.0/8";
	args = inject_redirect_args(&cfg_default->proxy, &s);
	assert_args(args, none);
	json_decref(args);

	memset(&s, 0, sizeof(s));
	px.uid = 2000;
	px.port_outbound = 16001;
	px.port_inbound = 16006;
	px.port_admin = 16000;
	px.port_status = 16021;
	px.port_metrics = 16090;
	args = inject_redirect_args(&px, &s);
	assert_args(args, moved);
	json_decref(args);
}
END_TEST

/* The pod's traffic annotations reach mesh-init's args, and under cni the
 * same args go to the cni-redirect annotation instead of a privileged
 * container: both equal inject_redirect_args of the decision. */
START_TEST(test_redirect_args_from_pod)
{
	static const char pod_ann[] =
	    "{\"metadata\":{\"name\":\"p\",\"annotations\":{"
	    "\"meshinject.io/exclude-inbound-ports\":\"9000\","
	    "\"meshinject.io/exclude-outbound-cidrs\":\"10.1.0.0/16\"}},"
	    "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"x\"}]}}";
	static const char *const stages[] = { "f-redirect", "f-cni" };
	struct policy_input in = { .namespace = "shop", .operation = "CREATE",
	    .path_stage = stages[_i] };
	struct decision d;
	json_t *orig, *args, *pod, *got, *resp;
	char *body, *text;
	int status;

	orig = json_loads(pod_ann, 0, NULL);
	in.pod = orig;
	ck_assert_int_eq(policy_decide(cfg_features, &in, &d), 0);
	ck_assert_int_eq(d.verdict, VERDICT_INJECT);
	args = inject_redirect_args(d.proxy, &d.settings);
	ck_assert_ptr_nonnull(args);
	ck_assert(has_string(args, "--exclude-inbound-ports"));
	ck_assert(has_string(args, "10.1.0.0/16"));
	body = tu_review("CREATE", "shop", pod_ann);
	resp = tu_call(cfg_features, stages[_i], 0, body, &status);
	got = tu_patch(resp);
	pod = tu_patched(pod_ann, got);
	json_decref(got);
	got = json_deep_copy(at(tu_named(at(pod, "spec", "initContainers"),
	    "mesh-init"), "args", NULL));
	if (_i == 1) {
		ck_assert_str_eq(json_string_value(json_array_get(got, 0)),
		    "--check");
		json_array_remove(got, 0);
		text = json_dumps(args, JSON_COMPACT);
		ck_assert_str_eq(str_at(at(pod, "metadata", "annotations"),
		    "meshinject.io/cni-redirect", NULL), text);
		free(text);
	} else {
		ck_assert_ptr_null(at(at(pod, "metadata", "annotations"),
		    "meshinject.io/cni-redirect", NULL));
	}
	ck_assert_msg(json_equal(got, args), "mesh-init's args are not "
	    "inject_redirect_args");
	json_decref(got);
	json_decref(args);
	json_decref(pod);
	json_decref(resp);
	json_decref(orig);
	free(body);
}
END_TEST

static Suite *
inject_suite(void)
{
	Suite *s = suite_create("inject");
	TCase *tc;

	tc = tcase_create("features and stages");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_feature_row, 0, (int)N_CASES);
	tcase_add_loop_test(tc, test_row_api_agrees, 0, (int)N_CASES);
	tcase_add_loop_test(tc, test_row_bootstrap, 0, (int)N_CASES);
	tcase_add_test(tc, test_observe_would_inject);
	suite_add_tcase(s, tc);

	tc = tcase_create("redirect args");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_redirect_args);
	tcase_add_loop_test(tc, test_redirect_args_from_pod, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(inject_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
