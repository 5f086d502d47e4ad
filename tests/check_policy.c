/* check_policy.c - the stage and skip decisions, table-driven. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static struct config *cfg;

static void
setup(void)
{
	struct config_errors errs = { 0 };
	static const char extra[] =
	    "stages:\n"
	    "  strict:\n"
	    "    features: [proxy, redirect, mtls]\n"
	    "    enforce: true\n"
	    "  half:\n"
	    "    features: [proxy, redirect]\n"
	    "    rollout: {percent: 50, fallback: observe}\n"
	    "  none:\n"
	    "    features: [proxy]\n"
	    "    rollout: {percent: 0, fallback: traffic}\n";

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

struct policy_case {
	const char *name;
	const char *path_stage;
	const char *operation;
	const char *namespace;
	const char *self_namespace;
	int validate;
	const char *pod;		/* JSON */
	enum verdict verdict;
	const char *stage;		/* NULL: no stage expected */
	int code;			/* for denials */
	const char *why;		/* substring of d.why */
};

/* The containers as meshinject injects them under the default config. */
#define MESH_INIT_JSON "{\"name\":\"mesh-init\",\"image\":" \
    "\"meshinject/meshinject:0.1.0\"}"
#define MESH_PROXY_JSON "{\"name\":\"mesh-proxy\",\"image\":" \
    "\"envoyproxy/envoy:v1.32.3\",\"securityContext\":{\"runAsUser\":1337}}"

#define POD_PLAIN "{\"metadata\":{\"generateName\":\"web-\"},\"spec\":" \
    "{\"containers\":[{\"name\":\"app\",\"image\":\"nginx\"}]}}"

static const struct policy_case cases[] = {
	{ "traffic path injects", "traffic", "CREATE", "shop", NULL, 0,
	  POD_PLAIN, VERDICT_INJECT, "traffic", 0, "injected stage=traffic" },
	{ "mtls path injects", "mtls", "CREATE", "shop", NULL, 0,
	  POD_PLAIN, VERDICT_INJECT, "mtls", 0, "injected stage=mtls" },
	{ "off path changes nothing", "off", "CREATE", "shop", NULL, 0,
	  POD_PLAIN, VERDICT_UNCHANGED, "off", 0, "injects nothing" },
	{ "observe path observes", "observe", "CREATE", "shop", NULL, 0,
	  POD_PLAIN, VERDICT_OBSERVE, "observe", 0, "observed" },
	{ "bare /mutate uses defaultStage off", NULL, "CREATE", "shop", NULL,
	  0, POD_PLAIN, VERDICT_UNCHANGED, "off", 0, "injects nothing" },
	{ "bare /mutate uses the pod label", NULL, "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{\"labels\":{\"meshinject.io/stage\":\"traffic\"}},"
	  "\"spec\":{\"containers\":[]}}", VERDICT_INJECT, "traffic", 0,
	  NULL },
	{ "bare /mutate uses the pod annotation", NULL, "CREATE", "shop",
	  NULL, 0, "{\"metadata\":{\"annotations\":{\"meshinject.io/stage\":"
	  "\"mtls\"}},\"spec\":{\"containers\":[]}}", VERDICT_INJECT, "mtls",
	  0, NULL },
	{ "unknown label stage is invalid", NULL, "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{\"labels\":{\"meshinject.io/stage\":\"nope\"}},"
	  "\"spec\":{}}", VERDICT_DENY, NULL, 422, "nope" },
	{ "annotation picks a stronger stage", "traffic", "CREATE", "shop",
	  NULL, 0, "{\"metadata\":{\"annotations\":{\"meshinject.io/stage\":"
	  "\"mtls\"}},\"spec\":{}}", VERDICT_INJECT, "mtls", 0, NULL },
	{ "unknown annotation stage is invalid", "traffic", "CREATE", "shop",
	  NULL, 0, "{\"metadata\":{\"annotations\":{\"meshinject.io/stage\":"
	  "\"nope\"}},\"spec\":{}}", VERDICT_DENY, NULL, 422,
	  "meshinject.io/stage" },
	{ "DELETE is skipped", "traffic", "DELETE", "shop", NULL, 0,
	  POD_PLAIN, VERDICT_SKIP, NULL, 0, "operation" },
	{ "UPDATE is skipped", "traffic", "UPDATE", "shop", NULL, 0,
	  POD_PLAIN, VERDICT_SKIP, NULL, 0, "operation" },
	{ "kube-system is skipped", "traffic", "CREATE", "kube-system", NULL,
	  0, POD_PLAIN, VERDICT_SKIP, NULL, 0, "kube-system" },
	{ "own namespace is skipped", "traffic", "CREATE", "mesh", "mesh", 0,
	  POD_PLAIN, VERDICT_SKIP, NULL, 0, "own namespace" },
	{ "mirror pod is skipped", "traffic", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{\"annotations\":{\"kubernetes.io/config.mirror\":"
	  "\"x\"}},\"spec\":{}}", VERDICT_SKIP, NULL, 0, "mirror" },
	{ "hostNetwork is skipped", "traffic", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{},\"spec\":{\"hostNetwork\":true}}", VERDICT_SKIP,
	  NULL, 0, "hostNetwork" },
	{ "opt-out is skipped", "traffic", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{\"annotations\":{\"meshinject.io/inject\":"
	  "\"false\"}},\"spec\":{}}", VERDICT_SKIP, NULL, 0, "opted out" },
	{ "opt-out refused when enforced", "strict", "CREATE", "shop", NULL,
	  0, "{\"metadata\":{\"annotations\":{\"meshinject.io/inject\":"
	  "\"false\"}},\"spec\":{}}", VERDICT_DENY, NULL, 403, "enforced" },
	{ "bad inject value is invalid", "traffic", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{\"annotations\":{\"meshinject.io/inject\":"
	  "\"maybe\"}},\"spec\":{}}", VERDICT_DENY, NULL, 422, "maybe" },
	{ "bad port annotation is invalid", "traffic", "CREATE", "shop", NULL,
	  0, "{\"metadata\":{\"annotations\":{\"meshinject.io/exclude-inbound-"
	  "ports\":\"abc\"}},\"spec\":{}}", VERDICT_DENY, NULL, 422,
	  "exclude-inbound-ports" },
	{ "bad cidr annotation is invalid", "traffic", "CREATE", "shop", NULL,
	  0, "{\"metadata\":{\"annotations\":{\"meshinject.io/exclude-outbound-"
	  "cidrs\":\"10.0.0.0/33\"}},\"spec\":{}}", VERDICT_DENY, NULL, 422,
	  "exclude-outbound-cidrs" },
	{ "rollout 0% falls back", "none", "CREATE", "shop", NULL, 0,
	  POD_PLAIN, VERDICT_INJECT, "traffic", 0, NULL },
	{ "already injected is unchanged", "traffic", "CREATE", "shop", NULL,
	  0, "{\"metadata\":{\"annotations\":{\"meshinject.io/status\":"
	  "\"{\\\"stage\\\":\\\"traffic\\\",\\\"containers\\\":[\\\"mesh-proxy\\\"],\\\"initContainers\\\":"
	  "[\\\"mesh-init\\\"],\\\"volumes\\\":[\\\"mesh-run\\\"]}\"}},"
	  "\"spec\":{\"initContainers\":[" MESH_INIT_JSON "],"
	  "\"containers\":[{\"name\":\"app\"}," MESH_PROXY_JSON "],"
	  "\"volumes\":[{\"name\":\"mesh-run\"}]}}", VERDICT_UNCHANGED,
	  "traffic", 0, "already injected" },
	{ "status without its containers is injected", "traffic", "CREATE",
	  "shop", NULL, 0, "{\"metadata\":{\"annotations\":{"
	  "\"meshinject.io/status\":\"{\\\"containers\\\":[\\\"mesh-proxy"
	  "\\\"]}\"}},\"spec\":{\"containers\":[{\"name\":\"app\"}]}}",
	  VERDICT_INJECT, "traffic", 0, NULL },
	{ "features annotation adds and removes", "traffic", "CREATE", "shop",
	  NULL, 0, "{\"metadata\":{\"annotations\":{\"meshinject.io/features\":"
	  "\"+native-sidecar, -redirect\"}},\"spec\":{}}", VERDICT_INJECT,
	  "traffic", 0, NULL },
	{ "unknown feature is invalid", "traffic", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{\"annotations\":{\"meshinject.io/features\":"
	  "\"+warp\"}},\"spec\":{}}", VERDICT_DENY, NULL, 422, "warp" },
	{ "feature without sign is invalid", "traffic", "CREATE", "shop", NULL,
	  0, "{\"metadata\":{\"annotations\":{\"meshinject.io/features\":"
	  "\"mtls\"}},\"spec\":{}}", VERDICT_DENY, NULL, 422, "+feature" },
	{ "removing proxy leaves redirect alone: invalid", "traffic", "CREATE",
	  "shop", NULL, 0, "{\"metadata\":{\"annotations\":{"
	  "\"meshinject.io/features\":\"-proxy\"}},\"spec\":{}}", VERDICT_DENY,
	  NULL, 422, "need the proxy" },
	{ "removing an enforced feature is refused", "strict", "CREATE",
	  "shop", NULL, 0, "{\"metadata\":{\"annotations\":{"
	  "\"meshinject.io/features\":\"-mtls\"}},\"spec\":{}}", VERDICT_DENY,
	  NULL, 403, "requires mtls" },
	{ "downgrade refused when enforced", "strict", "CREATE", "shop", NULL,
	  0, "{\"metadata\":{\"annotations\":{\"meshinject.io/stage\":"
	  "\"traffic\"}},\"spec\":{}}", VERDICT_DENY, NULL, 403, "lacks" },
	{ "upgrade allowed when enforced", "strict", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{\"annotations\":{\"meshinject.io/stage\":"
	  "\"mtls\"}},\"spec\":{}}", VERDICT_INJECT, "mtls", 0, NULL },
	{ "app on a proxy port is refused", "traffic", "CREATE", "shop", NULL,
	  0, "{\"metadata\":{},\"spec\":{\"containers\":[{\"name\":\"app\","
	  "\"ports\":[{\"containerPort\":15021}]}]}}", VERDICT_DENY, NULL, 403,
	  "port 15021" },
	{ "app as the proxy UID is refused", "traffic", "CREATE", "shop", NULL,
	  0, "{\"metadata\":{},\"spec\":{\"containers\":[{\"name\":\"app\","
	  "\"securityContext\":{\"runAsUser\":1337}}]}}", VERDICT_DENY, NULL,
	  403, "UID 1337" },
	{ "pod-level proxy UID is refused", "traffic", "CREATE", "shop", NULL,
	  0, "{\"metadata\":{},\"spec\":{\"securityContext\":{\"runAsUser\":"
	  "1337},\"containers\":[{\"name\":\"app\"}]}}", VERDICT_DENY, NULL,
	  403, "UID 1337" },
	{ "container UID overrides the pod's", "traffic", "CREATE", "shop",
	  NULL, 0, "{\"metadata\":{},\"spec\":{\"securityContext\":{"
	  "\"runAsUser\":1337},\"containers\":[{\"name\":\"app\","
	  "\"securityContext\":{\"runAsUser\":1000}}]}}", VERDICT_INJECT,
	  "traffic", 0, NULL },
	{ "NET_ADMIN allowed when not enforced", "traffic", "CREATE", "shop",
	  NULL, 0, "{\"metadata\":{},\"spec\":{\"containers\":[{\"name\":"
	  "\"app\",\"securityContext\":{\"capabilities\":{\"add\":["
	  "\"NET_ADMIN\"]}}}]}}", VERDICT_INJECT, "traffic", 0, NULL },
	{ "NET_RAW refused when enforced", "strict", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{},\"spec\":{\"containers\":[{\"name\":\"app\","
	  "\"securityContext\":{\"capabilities\":{\"add\":[\"CAP_NET_RAW\"]}}}"
	  "]}}", VERDICT_DENY, NULL, 403, "NET_RAW" },
	{ "proxy-image refused without allowImageOverride", "traffic",
	  "CREATE", "shop", NULL, 0, "{\"metadata\":{\"annotations\":{"
	  "\"meshinject.io/proxy-image\":\"evil/envoy\"}},\"spec\":{}}",
	  VERDICT_DENY, NULL, 403, "image overrides" },
	{ "bad quantity is invalid", "traffic", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{\"annotations\":{\"meshinject.io/proxy-memory\":"
	  "\"lots\"}},\"spec\":{}}", VERDICT_DENY, NULL, 422, "proxy-memory" },
	{ "bad log level is invalid", "traffic", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{\"annotations\":{\"meshinject.io/proxy-log-level\":"
	  "\"loud\"}},\"spec\":{}}", VERDICT_DENY, NULL, 422, "loud" },
	{ "Invalid wins over Forbidden", "traffic", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{\"annotations\":{\"meshinject.io/proxy-log-level\":"
	  "\"loud\"}},\"spec\":{\"containers\":[{\"name\":\"app\",\"ports\":[{"
	  "\"containerPort\":15000}]}]}}", VERDICT_DENY, NULL, 422, NULL },
	{ "observe turns denials into warnings", "observe", "CREATE", "shop",
	  NULL, 0, "{\"metadata\":{},\"spec\":{\"containers\":[{\"name\":"
	  "\"app\",\"ports\":[{\"containerPort\":15001}]}]}}", VERDICT_OBSERVE,
	  "observe", 0, "observed" },
	{ "+observe on a working stage observes", "traffic", "CREATE", "shop",
	  NULL, 0, "{\"metadata\":{\"annotations\":{\"meshinject.io/features\":"
	  "\"+observe\"}},\"spec\":{}}", VERDICT_OBSERVE, "traffic", 0, NULL },
	{ "+observe refused when enforced", "strict", "CREATE", "shop", NULL,
	  0, "{\"metadata\":{\"annotations\":{\"meshinject.io/features\":"
	  "\"+observe\"}},\"spec\":{}}", VERDICT_DENY, NULL, 403, "requires" },
	{ "validate refuses a bypass even with the proxy", "strict", "CREATE",
	  "shop", NULL, 1, "{\"metadata\":{},\"spec\":{\"containers\":[{"
	  "\"name\":\"mesh-proxy\"},{\"name\":\"app\",\"securityContext\":{"
	  "\"runAsUser\":1337}}]}}", VERDICT_DENY, NULL, 403, "UID 1337" },
	{ "a user container named mesh-proxy is refused", "traffic", "CREATE",
	  "shop", NULL, 0, "{\"metadata\":{},\"spec\":{\"containers\":[{"
	  "\"name\":\"mesh-proxy\"}]}}", VERDICT_DENY, NULL, 403, "reserved" },
	{ "a user volume named mesh-run is refused", "traffic", "CREATE",
	  "shop", NULL, 0, "{\"metadata\":{},\"spec\":{\"volumes\":[{"
	  "\"name\":\"mesh-run\"}]}}", VERDICT_DENY, NULL, 403, "reserved" },
	{ "validate refuses a pod without proxy when enforced", "strict",
	  "CREATE", "shop", NULL, 1, POD_PLAIN, VERDICT_DENY, NULL, 403,
	  "no mesh-proxy" },
	{ "validate admits an injected pod", "strict", "CREATE", "shop", NULL,
	  1, "{\"metadata\":{},\"spec\":{\"initContainers\":["
	  MESH_INIT_JSON "],\"containers\":[" MESH_PROXY_JSON "]}}",
	  VERDICT_UNCHANGED, NULL, 0, "validated" },
	{ "validate refuses a proxy without mesh-init when enforced", "strict",
	  "CREATE", "shop", NULL, 1, "{\"metadata\":{},\"spec\":{"
	  "\"containers\":[" MESH_PROXY_JSON "]}}", VERDICT_DENY, NULL, 403,
	  "no mesh-init" },
	{ "validate refuses a mesh-proxy init container that is no sidecar",
	  "strict", "CREATE", "shop", NULL, 1, "{\"metadata\":{},\"spec\":{"
	  "\"initContainers\":[" MESH_INIT_JSON "," MESH_PROXY_JSON "],"
	  "\"containers\":[{\"name\":\"app\"}]}}", VERDICT_DENY, NULL, 403,
	  "no mesh-proxy" },
	{ "validate refuses a home-made mesh-proxy", "strict", "CREATE",
	  "shop", NULL, 1, "{\"metadata\":{\"annotations\":{"
	  "\"meshinject.io/status\":\"{}\"}},\"spec\":{\"containers\":[{"
	  "\"name\":\"mesh-proxy\",\"image\":\"busybox\",\"securityContext\":"
	  "{\"runAsUser\":1337}}]}}", VERDICT_DENY, NULL, 403, "reserved" },
	{ "a container named mesh-other is checked like any other", "traffic",
	  "CREATE", "shop", NULL, 0, "{\"metadata\":{},\"spec\":{"
	  "\"containers\":[{\"name\":\"mesh-sneaky\",\"securityContext\":{"
	  "\"runAsUser\":1337}}]}}", VERDICT_DENY, NULL, 403, "UID 1337" },
	{ "the proxy's GID is refused", "traffic", "CREATE", "shop", NULL, 0,
	  "{\"metadata\":{},\"spec\":{\"securityContext\":{\"runAsGroup\":"
	  "1337},\"containers\":[{\"name\":\"app\"}]}}", VERDICT_DENY, NULL,
	  403, "GID 1337" },
	{ "a proxy request above the limit is invalid", "traffic", "CREATE",
	  "shop", NULL, 0, "{\"metadata\":{\"annotations\":{"
	  "\"meshinject.io/proxy-memory\":\"1Gi\"}},\"spec\":{}}",
	  VERDICT_DENY, NULL, 422, "above the proxy's memory limit" },
	{ "a proxy limit below the request is invalid", "traffic", "CREATE",
	  "shop", NULL, 0, "{\"metadata\":{\"annotations\":{"
	  "\"meshinject.io/proxy-cpu-limit\":\"50m\"}},\"spec\":{}}",
	  VERDICT_DENY, NULL, 422, "below the proxy's cpu request" },
	{ "request and limit raised together are fine", "traffic", "CREATE",
	  "shop", NULL, 0, "{\"metadata\":{\"annotations\":{"
	  "\"meshinject.io/proxy-memory\":\"1Gi\",\"meshinject.io/proxy-"
	  "memory-limit\":\"2Gi\"}},\"spec\":{}}", VERDICT_INJECT, "traffic",
	  0, NULL },
	{ "validate admits anything when not enforced", "traffic", "CREATE",
	  "shop", NULL, 1, POD_PLAIN, VERDICT_UNCHANGED, NULL, 0,
	  "validated" },
};

START_TEST(test_case)
{
	const struct policy_case *c = &cases[_i];
	struct policy_input in = {
		.namespace = c->namespace,
		.operation = c->operation,
		.path_stage = c->path_stage,
		.validate = c->validate != 0,
		.self_namespace = c->self_namespace,
	};
	struct decision *d = malloc(sizeof(*d));
	json_error_t jerr;
	json_t *pod;

	pod = json_loads(c->pod, 0, &jerr);
	ck_assert_msg(pod != NULL, "%s: bad test JSON: %s", c->name, jerr.text);
	in.pod = pod;
	ck_assert_int_eq(policy_decide(cfg, &in, d), 0);
	ck_assert_msg(d->verdict == c->verdict, "%s: verdict %s, want %s "
	    "(%s)", c->name, verdict_name(d->verdict), verdict_name(c->verdict),
	    d->why);
	if (c->stage != NULL) {
		ck_assert_msg(d->stage != NULL, "%s: no stage", c->name);
		ck_assert_str_eq(d->stage->name, c->stage);
	}
	if (c->verdict == VERDICT_DENY)
		ck_assert_msg(d->code == c->code, "%s: code %d, want %d",
		    c->name, d->code, c->code);
	if (c->why != NULL)
		ck_assert_msg(strstr(d->why, c->why) != NULL, "%s: why \"%s\" "
		    "lacks \"%s\"", c->name, d->why, c->why);
	json_decref(pod);
	free(d);
}
END_TEST

/* The same workload lands in the same bucket across replicas and new
 * ReplicaSets, and about half of many workloads get a 50 % stage. */
START_TEST(test_rollout_stable_and_proportional)
{
	struct decision *d = malloc(sizeof(*d));
	int i, got = 0;

	for (i = 0; i < 1000; i++) {
		char buf[512];
		struct policy_input in = {
			.namespace = "shop", .operation = "CREATE",
			.path_stage = "half",
		};
		json_t *pod;
		const char *first = NULL;
		int rs;

		for (rs = 0; rs < 3; rs++) {
			snprintf(buf, sizeof(buf), "{\"metadata\":{"
			    "\"generateName\":\"w%d-h%d-\",\"labels\":{"
			    "\"pod-template-hash\":\"h%d\"},\"ownerReferences\":"
			    "[{\"kind\":\"ReplicaSet\",\"name\":\"w%d-h%d\","
			    "\"controller\":true}]},\"spec\":{}}", i, rs, rs,
			    i, rs);
			pod = json_loads(buf, 0, NULL);
			in.pod = pod;
			ck_assert_int_eq(policy_decide(cfg, &in, d), 0);
			if (first == NULL)
				first = d->stage->name;
			else
				ck_assert_str_eq(first, d->stage->name);
			snprintf(buf, sizeof(buf), "Deployment/w%d", i);
			ck_assert_str_eq(d->workload, buf);
			json_decref(pod);
		}
		if (strcmp(first, "half") == 0)
			got++;
		else
			ck_assert_str_eq(first, "observe");
	}
	ck_assert_msg(got > 430 && got < 570, "%d of 1000 at 50%%", got);
	free(d);
}
END_TEST

START_TEST(test_workloads)
{
	static const struct {
		const char *pod;
		const char *want;
	} w[] = {
		{ "{\"metadata\":{\"ownerReferences\":[{\"kind\":\"Job\","
		  "\"name\":\"backup-28930110\",\"controller\":true}]}}",
		  "CronJob/backup" },
		{ "{\"metadata\":{\"ownerReferences\":[{\"kind\":\"Job\","
		  "\"name\":\"migrate-2\",\"controller\":true}]}}",
		  "Job/migrate-2" },
		{ "{\"metadata\":{\"ownerReferences\":[{\"kind\":"
		  "\"StatefulSet\",\"name\":\"db\",\"controller\":true}]}}",
		  "StatefulSet/db" },
		{ "{\"metadata\":{\"labels\":{\"openshift.io/deployment-config."
		  "name\":\"frontend\"},\"ownerReferences\":[{\"kind\":"
		  "\"ReplicationController\",\"name\":\"frontend-3\","
		  "\"controller\":true}]}}", "DeploymentConfig/frontend" },
		{ "{\"metadata\":{\"name\":\"solo\"}}", "Pod/solo" },
		{ "{\"metadata\":{\"generateName\":\"gen-\"}}", "Pod/gen" },
	};
	struct decision *d = malloc(sizeof(*d));
	size_t i;

	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		struct policy_input in = { .namespace = "shop",
		    .operation = "CREATE", .path_stage = "traffic" };
		json_t *pod = json_loads(w[i].pod, 0, NULL);

		json_object_set_new(pod, "spec", json_object());
		in.pod = pod;
		ck_assert_int_eq(policy_decide(cfg, &in, d), 0);
		ck_assert_str_eq(d->workload, w[i].want);
		json_decref(pod);
	}
	free(d);
}
END_TEST

/* Observe: every would-be denial is a warning, under 120 characters. */
START_TEST(test_observe_warnings)
{
	struct policy_input in = { .namespace = "shop", .operation = "CREATE",
	    .path_stage = "observe" };
	struct decision *d = malloc(sizeof(*d));
	json_t *pod;
	size_t i;
	int refuse = 0;

	pod = json_loads("{\"metadata\":{\"annotations\":{\"meshinject.io/"
	    "exclude-inbound-ports\":\"x\"}},\"spec\":{\"containers\":[{"
	    "\"name\":\"app\",\"ports\":[{\"containerPort\":15001}]}]}}", 0,
	    NULL);
	in.pod = pod;
	ck_assert_int_eq(policy_decide(cfg, &in, d), 0);
	ck_assert_int_eq(d->verdict, VERDICT_OBSERVE);
	ck_assert_uint_eq(d->problems.n, 0);
	ck_assert_ptr_nonnull(d->would_stage);
	ck_assert_str_eq(d->would_stage->name, "traffic");
	for (i = 0; i < d->warnings.n; i++) {
		if (strstr(d->warnings.items[i], "would refuse") != NULL)
			refuse++;
	}
	ck_assert_int_eq(refuse, 2);
	json_decref(pod);
	free(d);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("decisions");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_case, 0,
	    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_rollout_stable_and_proportional);
	tcase_add_test(tc, test_workloads);
	tcase_add_test(tc, test_observe_warnings);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
