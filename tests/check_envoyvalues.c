/* check_envoyvalues.c - what the Envoy bootstrap carries from a pod is held
 * to Envoy's rules: each value Envoy refuses in its field is a 422 naming
 * the field and value, the rest is carried (and carried as written). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoyvalues.h"
#include "inject.h"

static struct config *cfg;

static void
setup(void)
{
	struct config_errors errs = { 0 };
	static const char extra[] =
	    "stages:\n"
	    "  probes: {features: [proxy, redirect, probe-rewrite]}\n"
	    "  metrics: {features: [proxy, redirect, metrics-merge]}\n"
	    "  plain: {features: [proxy, redirect]}\n"
	    "  watch: {features: [observe]}\n"
	    "  after: {features: [proxy, redirect, probe-rewrite]}\n";

	cfg = config_load_buffer("test.yaml", extra, sizeof(extra) - 1, &errs);
	if (cfg == NULL) {
		size_t i;

		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
	}
	ck_assert_ptr_nonnull(cfg);
	config_errors_clear(&errs);
}

static void
teardown(void)
{
	config_free(cfg);
	cfg = NULL;
}

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	ck_assert_msg(j != NULL, "bad test JSON: %s: %s", err.text, text);
	return j;
}

#define PROBES (FEATURE_BIT(FEATURE_PROXY) | FEATURE_BIT(FEATURE_PROBE_REWRITE))
#define METRICS (FEATURE_BIT(FEATURE_PROXY) | FEATURE_BIT(FEATURE_METRICS_MERGE))

/* A pod with one app container whose liveness probe is `probe` (JSON). */
#define POD_PROBE(probe) "{\"metadata\":{\"name\":\"web\"},\"spec\":" \
    "{\"containers\":[{\"name\":\"app\",\"image\":\"nginx\",\"ports\":" \
    "[{\"name\":\"http\",\"containerPort\":8080},{\"name\":\"wide\"," \
    "\"containerPort\":70000}],\"livenessProbe\":" probe "}]}}"
#define POD_ANN(ann) "{\"metadata\":{\"name\":\"web\",\"annotations\":" \
    ann "},\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"x\"}]}}"

struct value_case {
	const char *name;
	const char *pod;
	unsigned features;
	int problems;		/* how many */
	const char *needle;	/* in the first one */
};

static const struct value_case value_cases[] = {
	{ "a plain HTTP probe is carried",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/livez?full=1\",\"port\":8080,"
	  "\"scheme\":\"HTTPS\",\"httpHeaders\":[{\"name\":\"Host\",\"value\":"
	  "\"web.example\"},{\"name\":\"X-Custom_1\",\"value\":\"a b\\tc\"}]}}"),
	  PROBES, 0, NULL },
	{ "a named port and a numeric string",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/\",\"port\":\"http\"}}"),
	  PROBES, 0, NULL },
	{ "an exec probe is not carried",
	  POD_PROBE("{\"exec\":{\"command\":[\"true\"]}}"), PROBES, 0, NULL },
	{ "a probe with a host of its own is not carried",
	  POD_PROBE("{\"httpGet\":{\"host\":\"x\",\"path\":\"/a\\nb\","
	  "\"port\":8080}}"), PROBES, 0, NULL },
	{ "a port name the container lacks leaves the probe alone",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/a\\nb\",\"port\":\"nosuch\"}}"),
	  PROBES, 0, NULL },
	{ "no probe-rewrite, nothing carried",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/a\\nb\",\"port\":8080}}"),
	  METRICS, 0, NULL },
	{ "no proxy, nothing carried",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/a\\nb\",\"port\":8080}}"),
	  FEATURE_BIT(FEATURE_PROBE_REWRITE), 0, NULL },
	{ "newline in the path",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/a\\nb\",\"port\":8080}}"),
	  PROBES, 1, "container app: livenessProbe.httpGet.path: \"/a\\nb\" "
	  "has control character 0x0a" },
	{ "DEL in the path",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/a\\u007f\",\"port\":8080}}"),
	  PROBES, 1, "path: \"/a\\x7f\" has control character 0x7f" },
	{ "space in the path",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/a b\",\"port\":8080}}"),
	  PROBES, 1, "path: \"/a b\" has a space" },
	{ "tab in the path (checked too, a tcpSocket is not)",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/a\\tb\",\"port\":8080}}"),
	  PROBES, 1, "has a tab" },
	{ "header name with a space",
	  POD_PROBE("{\"httpGet\":{\"port\":8080,\"httpHeaders\":[{\"name\":"
	  "\"X Bad\",\"value\":\"v\"}]}}"), PROBES, 1,
	  "livenessProbe.httpGet.httpHeaders[0].name: \"X Bad\" has ' '" },
	{ "header name with a colon",
	  POD_PROBE("{\"httpGet\":{\"port\":8080,\"httpHeaders\":[{\"name\":"
	  "\"X:Y\",\"value\":\"v\"}]}}"), PROBES, 1, "has ':'" },
	{ "pseudo-header name",
	  POD_PROBE("{\"httpGet\":{\"port\":8080,\"httpHeaders\":[{\"name\":"
	  "\":path\",\"value\":\"/x\"}]}}"), PROBES, 1, "pseudo-header" },
	{ "empty header name",
	  POD_PROBE("{\"httpGet\":{\"port\":8080,\"httpHeaders\":[{\"name\":"
	  "\"\",\"value\":\"v\"}]}}"), PROBES, 1, "name: \"\" is empty" },
	{ "non-ASCII header name",
	  POD_PROBE("{\"httpGet\":{\"port\":8080,\"httpHeaders\":[{\"name\":"
	  "\"X-\\u00e9\",\"value\":\"v\"}]}}"), PROBES, 1, "byte 0xc3" },
	{ "header value with CR LF",
	  POD_PROBE("{\"httpGet\":{\"port\":8080,\"httpHeaders\":[{\"name\":"
	  "\"X-A\",\"value\":\"v\\r\\nX-Injected: 1\"}]}}"), PROBES, 1,
	  "httpHeaders[0].value: \"v\\r\\nX-Injected: 1\" has control "
	  "character 0x0d" },
	{ "Host value with a control character",
	  POD_PROBE("{\"httpGet\":{\"port\":8080,\"httpHeaders\":[{\"name\":"
	  "\"host\",\"value\":\"a\\u0001\"}]}}"), PROBES, 1,
	  "httpHeaders[0].value: \"a\\x01\" has control character 0x01" },
	{ "both name and value of one header",
	  POD_PROBE("{\"httpGet\":{\"port\":8080,\"httpHeaders\":[{\"name\":"
	  "\"a b\",\"value\":\"\\n\"}]}}"), PROBES, 2, "name" },
	{ "port out of range",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/\",\"port\":70000}}"), PROBES, 1,
	  "livenessProbe.httpGet.port: \"70000\" is not a port (1-65535)" },
	{ "port that int truncation would make 8080",
	  POD_PROBE("{\"tcpSocket\":{\"port\":4294975376}}"), PROBES, 1,
	  "livenessProbe.tcpSocket.port: \"4294975376\" is not a port" },
	{ "port 0",
	  POD_PROBE("{\"tcpSocket\":{\"port\":0}}"), PROBES, 1, "is not a port" },
	{ "numeric string out of range",
	  POD_PROBE("{\"tcpSocket\":{\"port\":\"70000\"}}"), PROBES, 1,
	  "\"70000\" is not a port" },
	{ "a named port whose containerPort is out of range",
	  POD_PROBE("{\"tcpSocket\":{\"port\":\"wide\"}}"), PROBES, 1,
	  "\"wide\" names a containerPort that is not a port" },
	{ "a bad port and a bad path: both said",
	  POD_PROBE("{\"httpGet\":{\"path\":\"/a\\nb\",\"port\":0}}"), PROBES, 2,
	  "port" },
	{ "scheme other than HTTP or HTTPS",
	  POD_PROBE("{\"httpGet\":{\"port\":8080,\"scheme\":\"https\"}}"),
	  PROBES, 1, "livenessProbe.httpGet.scheme: \"https\" is not HTTP or "
	  "HTTPS" },
	{ "periodSeconds past int32",
	  POD_PROBE("{\"tcpSocket\":{\"port\":8080},\"periodSeconds\":"
	  "99999999999}"), PROBES, 1, "livenessProbe.periodSeconds: "
	  "99999999999 is out of range" },
	{ "timeoutSeconds past int32",
	  POD_PROBE("{\"tcpSocket\":{\"port\":8080},\"timeoutSeconds\":"
	  "2147483648}"), PROBES, 1, "livenessProbe.timeoutSeconds" },
	{ "a container name that is no DNS label",
	  "{\"spec\":{\"containers\":[{\"name\":\"App/1\",\"livenessProbe\":"
	  "{\"tcpSocket\":{\"port\":8080}}}]}}", PROBES, 1,
	  "container \"App/1\": the name is not a DNS label" },
	{ "a mesh-* container is not the app's",
	  "{\"spec\":{\"containers\":[{\"name\":\"mesh-x\",\"livenessProbe\":"
	  "{\"httpGet\":{\"path\":\"/a\\nb\",\"port\":8080}}}]}}", PROBES, 0,
	  NULL },
	{ "metrics: a good set",
	  POD_ANN("{\"prometheus.io/port\":\"9102\",\"prometheus.io/path\":"
	  "\"/m?x=1\",\"prometheus.io/scheme\":\"HTTPS\"}"), METRICS, 0, NULL },
	{ "metrics: an empty path is the default",
	  POD_ANN("{\"prometheus.io/port\":\"9102\",\"prometheus.io/path\":"
	  "\"\"}"), METRICS, 0, NULL },
	{ "metrics: not scraped, not carried",
	  POD_ANN("{\"prometheus.io/scrape\":\"false\",\"prometheus.io/port\":"
	  "\"x\"}"), METRICS, 0, NULL },
	{ "metrics: no port, not carried",
	  POD_ANN("{\"prometheus.io/path\":\"/a\\nb\"}"), METRICS, 0, NULL },
	{ "metrics: not under metrics-merge",
	  POD_ANN("{\"prometheus.io/port\":\"x\"}"), PROBES, 0, NULL },
	{ "metrics: port not a number",
	  POD_ANN("{\"prometheus.io/port\":\"http\"}"), METRICS, 1,
	  "annotation prometheus.io/port: \"http\" is not a port (1-65535)" },
	{ "metrics: port with a sign",
	  POD_ANN("{\"prometheus.io/port\":\"+9102\"}"), METRICS, 1,
	  "\"+9102\" is not a port" },
	{ "metrics: port 0",
	  POD_ANN("{\"prometheus.io/port\":\"0\"}"), METRICS, 1, "\"0\"" },
	{ "metrics: port 65536",
	  POD_ANN("{\"prometheus.io/port\":\"65536\"}"), METRICS, 1,
	  "\"65536\"" },
	{ "metrics: newline in the path",
	  POD_ANN("{\"prometheus.io/port\":\"9102\",\"prometheus.io/path\":"
	  "\"/m\\n\"}"), METRICS, 1, "annotation prometheus.io/path: \"/m\\n\" "
	  "has control character 0x0a" },
	{ "metrics: scheme",
	  POD_ANN("{\"prometheus.io/port\":\"9102\",\"prometheus.io/scheme\":"
	  "\"ftp\"}"), METRICS, 1, "annotation prometheus.io/scheme: \"ftp\" "
	  "is not http or https" },
	{ "metrics: all three at once",
	  POD_ANN("{\"prometheus.io/port\":\"x\",\"prometheus.io/path\":\"a b\","
	  "\"prometheus.io/scheme\":\"ftp\"}"), METRICS, 3, "prometheus.io/port" },
};

START_TEST(test_values)
{
	const struct value_case *c = &value_cases[_i];
	json_t *pod = load(c->pod);
	struct msg_list problems;
	int n;

	problems.n = 0;
	n = envoyvalues_check(pod, c->features, &problems);
	ck_assert_msg(n == c->problems && problems.n == (size_t)n,
	    "%s: %d problems (%zu listed), want %d; first: %s", c->name, n,
	    problems.n, c->problems, problems.n > 0 ? problems.items[0] : "");
	if (c->needle != NULL)
		ck_assert_msg(strstr(problems.items[0], c->needle) != NULL,
		    "%s: \"%s\" lacks \"%s\"", c->name, problems.items[0],
		    c->needle);
	json_decref(pod);
}
END_TEST

START_TEST(test_ports)
{
	static const struct {
		const char *port;
		int want;
	} cases[] = {
		{ "8080", 8080 }, { "1", 1 }, { "65535", 65535 }, { "0", -1 },
		{ "-1", -1 }, { "65536", -1 }, { "4294975376", -1 },
		{ "\"8080\"", 8080 }, { "\"http\"", 8080 }, { "\"wide\"", -1 },
		{ "\"nosuch\"", 0 }, { "\"65536\"", -1 }, { "\"\"", 0 },
		{ "true", 0 }, { "8080.5", 0 }, { "null", 0 },
	};
	json_t *c = load("{\"ports\":[{\"name\":\"http\",\"containerPort\":8080},"
	    "{\"name\":\"wide\",\"containerPort\":70000}]}");
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *p = json_loads(cases[i].port, JSON_DECODE_ANY, NULL);

		ck_assert_int_eq(envoyvalues_probe_port(c, p), cases[i].want);
		json_decref(p);
	}
	ck_assert_int_eq(envoyvalues_probe_port(c, NULL), 0);
	json_decref(c);

	ck_assert_int_eq(envoyvalues_metrics_port("9102"), 9102);
	ck_assert_int_eq(envoyvalues_metrics_port("65535"), 65535);
	ck_assert_int_eq(envoyvalues_metrics_port("09102"), 9102);
	ck_assert_int_eq(envoyvalues_metrics_port(""), -1);
	ck_assert_int_eq(envoyvalues_metrics_port(" 9102"), -1);
	ck_assert_int_eq(envoyvalues_metrics_port("9102 "), -1);
	ck_assert_int_eq(envoyvalues_metrics_port("+9102"), -1);
	ck_assert_int_eq(envoyvalues_metrics_port("123456"), -1);
	ck_assert_int_eq(envoyvalues_metrics_port("0"), -1);
	ck_assert(envoyvalues_metrics_tls("HTTPS"));
	ck_assert(!envoyvalues_metrics_tls("http"));
	ck_assert(!envoyvalues_metrics_tls(NULL));
}
END_TEST

static void
decide(const char *stage, const char *pod_text, bool validate,
    struct decision *d, json_t **podp)
{
	struct policy_input in = { 0 };

	*podp = load(pod_text);
	in.pod = *podp;
	in.namespace = "shop";
	in.operation = "CREATE";
	in.path_stage = stage;
	in.validate = validate;
	ck_assert_int_eq(policy_decide(cfg, &in, d), 0);
}

#define BAD_PROBE POD_PROBE("{\"httpGet\":{\"path\":\"/live\",\"port\":8080," \
    "\"httpHeaders\":[{\"name\":\"X-A\",\"value\":\"a\\nb\"}]}}")

/* Through the decision: 422 Invalid naming the field; observe warns;
 * /validate builds nothing and so does not refuse for it. */
START_TEST(test_decide)
{
	struct decision *d = malloc(sizeof(*d));
	json_t *pod;

	ck_assert_ptr_nonnull(d);
	decide("probes", BAD_PROBE, false, d, &pod);
	ck_assert_int_eq(d->verdict, VERDICT_DENY);
	ck_assert_int_eq(d->code, 422);
	ck_assert_str_eq(d->reason, "Invalid");
	ck_assert_uint_eq(d->problems.n, 1);
	ck_assert_ptr_nonnull(strstr(d->problems.items[0],
	    "httpHeaders[0].value: \"a\\nb\" has control character 0x0a"));
	json_decref(pod);

	/* The same pod where the probe stays the kubelet's. */
	decide("plain", BAD_PROBE, false, d, &pod);
	ck_assert_int_eq(d->verdict, VERDICT_INJECT);
	json_decref(pod);

	/* The pod's own features annotation can switch it on. */
	decide("plain", "{\"metadata\":{\"annotations\":{\"meshinject.io/"
	    "features\":\"+metrics-merge\",\"prometheus.io/port\":\"x\"}},"
	    "\"spec\":{\"containers\":[{\"name\":\"app\"}]}}", false, d, &pod);
	ck_assert_int_eq(d->verdict, VERDICT_DENY);
	ck_assert_int_eq(d->code, 422);
	ck_assert_ptr_nonnull(strstr(d->problems.items[0],
	    "annotation prometheus.io/port: \"x\""));
	json_decref(pod);

	/* A 403 problem with it: 422 wins, both said. */
	decide("probes", "{\"spec\":{\"containers\":[{\"name\":\"app\","
	    "\"ports\":[{\"containerPort\":15001}],\"livenessProbe\":"
	    "{\"httpGet\":{\"path\":\"/a b\",\"port\":8080}}}]}}", false, d,
	    &pod);
	ck_assert_int_eq(d->verdict, VERDICT_DENY);
	ck_assert_int_eq(d->code, 422);
	ck_assert_uint_eq(d->problems.n, 2);
	json_decref(pod);

	/* Observe reports on the next working stage (probes: after watch
	 * comes after), as a warning. */
	decide("watch", BAD_PROBE, false, d, &pod);
	ck_assert_int_eq(d->verdict, VERDICT_OBSERVE);
	ck_assert_uint_eq(d->problems.n, 0);
	ck_assert_uint_ge(d->warnings.n, 1);
	ck_assert_ptr_nonnull(strstr(d->warnings.items[0], "would refuse: "
	    "container app: livenessProbe.httpGet.httpHeaders[0].value"));
	json_decref(pod);

	decide("probes", BAD_PROBE, true, d, &pod);
	ck_assert_int_ne(d->verdict, VERDICT_DENY);
	json_decref(pod);
	free(d);
}
END_TEST

/* The bootstrap of a decision, built. */
static char *
bootstrap(const char *stage, const char *pod_text)
{
	struct decision *d = malloc(sizeof(*d));
	json_t *pod;
	char *b;

	ck_assert_ptr_nonnull(d);
	decide(stage, pod_text, false, d, &pod);
	ck_assert_msg(d->verdict == VERDICT_INJECT, "%s", d->why);
	b = inject_envoy_bootstrap(cfg, d, pod, "shop");
	ck_assert_ptr_nonnull(b);
	json_decref(pod);
	free(d);
	return b;
}

/* What is carried is carried as written: a $ survives the kubelet's $(VAR)
 * expansion, a missing header value is "", an https metrics endpoint is
 * scraped over TLS, an empty metrics path is /metrics, a path gets its
 * leading /. */
START_TEST(test_carried)
{
	char *b;
	json_t *j;

	b = bootstrap("probes", POD_PROBE("{\"httpGet\":{\"path\":"
	    "\"/x$(MESH_APP_PROBES)$$\",\"port\":8080,\"httpHeaders\":"
	    "[{\"name\":\"X-Empty\"}]}}"));
	ck_assert_msg(strstr(b, "\"path\":\"/x$$(MESH_APP_PROBES)$$$$\"") !=
	    NULL, "%s", b);
	ck_assert_msg(strstr(b, "{\"header\":{\"key\":\"X-Empty\",\"value\":"
	    "\"\"}}") != NULL, "%s", b);
	j = json_loads(b, 0, NULL);
	ck_assert_msg(j != NULL, "not JSON: %s", b);
	json_decref(j);
	free(b);

	b = bootstrap("metrics", POD_ANN("{\"prometheus.io/port\":\"9102\","
	    "\"prometheus.io/scheme\":\"https\",\"prometheus.io/path\":\"\"}"));
	ck_assert_msg(strstr(b, "\"name\":\"mesh-app-metrics\",\"transport_"
	    "socket\":{\"name\":\"envoy.transport_sockets.tls\"") != NULL, "%s",
	    b);
	ck_assert_msg(strstr(b, "\"cluster\":\"mesh-app-metrics\","
	    "\"prefix_rewrite\":\"/metrics\"") != NULL, "%s", b);
	free(b);

	/* A path without its leading / gets one, as the kubelet sends it. */
	b = bootstrap("probes", POD_PROBE("{\"httpGet\":{\"path\":\"livez\","
	    "\"port\":8080}}"));
	ck_assert_msg(strstr(b, "\"path\":\"/livez\"") != NULL, "%s", b);
	free(b);
	b = bootstrap("metrics", POD_ANN("{\"prometheus.io/port\":\"9102\","
	    "\"prometheus.io/path\":\"m\"}"));
	ck_assert_msg(strstr(b, "\"prefix_rewrite\":\"/m\"") != NULL, "%s", b);
	free(b);

	b = bootstrap("metrics", POD_ANN("{\"prometheus.io/port\":\"9102\"}"));
	ck_assert_msg(strstr(b, "\"name\":\"mesh-app-metrics\",\"type\"") !=
	    NULL, "plain http metrics got TLS: %s", b);
	free(b);
}
END_TEST

static Suite *
envoyvalues_suite(void)
{
	Suite *s = suite_create("envoyvalues");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_values, 0,
	    sizeof(value_cases) / sizeof(value_cases[0]));
	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_decide);
	tcase_add_test(tc, test_carried);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(envoyvalues_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
