/* check_report.c - Check suite for the rollout report: workloads and their
 * restart, kubectl List checks, the counts per namespace and the text. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "policy.h"
#include "report.h"

static struct config *cfg;

static void
setup(void)
{
	struct config_errors errs = { 0 };

	cfg = config_load_default(&errs);
	ck_assert_ptr_nonnull(cfg);
}

static void
teardown(void)
{
	config_free(cfg);
	cfg = NULL;
}

/* A pod as kubectl prints it. owner_kind NULL: a bare pod. stage NULL: no
 * status annotation; hash NULL: the config's own. ann: one more annotation
 * "key=value", or NULL. */
static json_t *
pod(const char *ns, const char *name, const char *owner_kind,
    const char *owner_name, const char *template_hash, const char *stage,
    const char *hash, const char *ann, const char *phase)
{
	json_t *p, *md, *anns;
	char status[256];

	p = json_pack("{s:s, s:s, s:{s:s, s:s, s:{}, s:{}}, s:{s:[{s:s, "
	    "s:s}]}, s:{s:s}}", "apiVersion", "v1", "kind", "Pod", "metadata",
	    "name", name, "namespace", ns, "labels", "annotations", "spec",
	    "containers", "name", "app", "image", "app:1", "status", "phase",
	    phase != NULL ? phase : "Running");
	ck_assert_ptr_nonnull(p);
	md = json_object_get(p, "metadata");
	anns = json_object_get(md, "annotations");
	if (owner_kind != NULL)
		json_object_set_new(md, "ownerReferences", json_pack("[{s:s, "
		    "s:s, s:s, s:b}]", "apiVersion", "apps/v1", "kind",
		    owner_kind, "name", owner_name, "controller", 1));
	if (template_hash != NULL)
		json_object_set_new(json_object_get(md, "labels"),
		    "pod-template-hash", json_string(template_hash));
	if (stage != NULL) {
		snprintf(status, sizeof(status), "{\"stage\":\"%s\","
		    "\"features\":[],\"initContainers\":[],\"containers\":[],"
		    "\"volumes\":[],\"configHash\":\"%s\"}", stage,
		    hash != NULL ? hash : cfg->hash);
		json_object_set_new(anns, ANN_STATUS, json_string(status));
	}
	if (ann != NULL) {
		const char *eq = strchr(ann, '=');
		char key[128];

		ck_assert_ptr_nonnull(eq);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - ann), ann);
		if (strcmp(key, LABEL_STAGE "@label") == 0)
			json_object_set_new(json_object_get(md, "labels"),
			    LABEL_STAGE, json_string(eq + 1));
		else
			json_object_set_new(anns, key, json_string(eq + 1));
	}
	return p;
}

static json_t *
ns_obj(const char *name, const char *stage)
{
	json_t *n = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion",
	    "v1", "kind", "Namespace", "metadata", "name", name, "labels",
	    "kubernetes.io/metadata.name", name);

	if (stage != NULL)
		json_object_set_new(json_object_get(json_object_get(n,
		    "metadata"), "labels"), LABEL_STAGE, json_string(stage));
	return n;
}

static json_t *
list(json_t *items)
{
	return json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "List",
	    "items", items);
}

static const json_t *
row(const json_t *rep, const char *name)
{
	const json_t *r;
	size_t i;

	json_array_foreach(json_object_get(rep, "namespaces"), i, r)
		if (strcmp(json_string_value(json_object_get(r, "name")),
		    name) == 0)
			return r;
	return NULL;
}

static json_int_t
num(const json_t *r, const char *key)
{
	const json_t *v = json_object_get(r, key);

	ck_assert_msg(json_is_integer(v), "%s is not a number", key);
	return json_integer_value(v);
}

static json_int_t
by_stage(const json_t *r, const char *stage)
{
	return num(json_object_get(r, "byStage"), stage);
}

START_TEST(test_workloads)
{
	static const struct {
		const char *kind, *name, *hash, *want;
		enum report_action act;
	} cases[] = {
		{ "ReplicaSet", "web-7d4b9c8f6", "7d4b9c8f6", "deployment/web",
		    REPORT_ROLLOUT_RESTART },
		{ "ReplicaSet", "my-app-v2-5f7c9", "5f7c9", "deployment/my-app-v2",
		    REPORT_ROLLOUT_RESTART },
		/* a ReplicaSet of its own: no hash label, or another one */
		{ "ReplicaSet", "frontend", NULL, "replicaset/frontend",
		    REPORT_DELETE_PODS },
		{ "ReplicaSet", "web-7d4b9c8f6", "abc", "replicaset/web-7d4b9c8f6",
		    REPORT_DELETE_PODS },
		{ "StatefulSet", "db", NULL, "statefulset/db",
		    REPORT_ROLLOUT_RESTART },
		{ "DaemonSet", "agent", NULL, "daemonset/agent",
		    REPORT_ROLLOUT_RESTART },
		{ "Job", "migrate", NULL, "job/migrate", REPORT_RECREATE },
		{ "Job", "nightly-28930110", NULL, "cronjob/nightly",
		    REPORT_NEXT_RUN },
		{ "Job", "v-1234567", NULL, "job/v-1234567", REPORT_RECREATE },
		{ "ReplicationController", "old", NULL,
		    "replicationcontroller/old", REPORT_DELETE_PODS },
		{ "Rollout", "canary", NULL, "rollout/canary",
		    REPORT_CONTROLLER },
		{ NULL, NULL, NULL, "pod/p", REPORT_RECREATE },
	};
	char buf[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *p = pod("ns", "p", cases[i].kind, cases[i].name,
		    cases[i].hash, NULL, NULL, NULL, NULL);
		enum report_action act = report_workload(p, buf, sizeof(buf));

		ck_assert_msg(strcmp(buf, cases[i].want) == 0,
		    "case %zu: %s, want %s", i, buf, cases[i].want);
		ck_assert_int_eq(act, cases[i].act);
		json_decref(p);
	}
}
END_TEST

/* With several owners the controller counts; without one, the first. */
START_TEST(test_workload_controller_owner)
{
	json_t *p = pod("ns", "p", NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	char buf[128];

	json_object_set_new(json_object_get(p, "metadata"), "ownerReferences",
	    json_pack("[{s:s, s:s}, {s:s, s:s, s:b}]", "kind", "ConfigMap",
	    "name", "x", "kind", "StatefulSet", "name", "db", "controller", 1));
	ck_assert_int_eq(report_workload(p, buf, sizeof(buf)),
	    REPORT_ROLLOUT_RESTART);
	ck_assert_str_eq(buf, "statefulset/db");
	json_decref(p);
}
END_TEST

START_TEST(test_check_list)
{
	static const struct {
		const char *json, *kind, *err;	/* err NULL: accepted */
	} cases[] = {
		{ "{\"kind\":\"List\",\"items\":[]}", "Pod", NULL },
		{ "{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":"
		    "\"a\"}}]}", "Pod", NULL },
		{ "{\"kind\":\"List\",\"items\":[{\"kind\":\"Pod\",\"metadata\":"
		    "{\"name\":\"a\"}}]}", "Pod", NULL },
		{ "[]", "Pod", "not a List: the document is not a JSON object" },
		{ "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}", "Pod",
		    "not a List: kind is \"Pod\" (expected the output of "
		    "`kubectl get pods -o json`)" },
		{ "{\"items\":[]}", "Namespace", "not a List: kind is missing "
		    "(expected the output of `kubectl get namespaces -o json`)" },
		{ "{\"kind\":\"List\"}", "Pod",
		    "not a List: \"items\" is missing" },
		{ "{\"kind\":\"List\",\"items\":{}}", "Pod",
		    "not a List: \"items\" is not an array" },
		{ "{\"kind\":\"List\",\"items\":[{\"kind\":\"Namespace\","
		    "\"metadata\":{\"name\":\"a\"}}]}", "Pod",
		    "items[0] is a Namespace, not a Pod" },
		{ "{\"kind\":\"List\",\"items\":[{\"metadata\":{\"name\":\"a\"}},"
		    "3]}", "Pod", "items[1] is not an object" },
		{ "{\"kind\":\"List\",\"items\":[{\"metadata\":{}}]}", "Pod",
		    "items[0] has no metadata.name" },
	};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *doc = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		int rc;

		ck_assert_ptr_nonnull(doc);
		err[0] = '\0';
		rc = report_check_list(doc, cases[i].kind, err, sizeof(err));
		if (cases[i].err == NULL)
			ck_assert_msg(rc == 0, "case %zu: %s", i, err);
		else {
			ck_assert_int_eq(rc, -1);
			ck_assert_str_eq(err, cases[i].err);
		}
		json_decref(doc);
	}
}
END_TEST

/* A small cluster with one pod for each way of being (or not being)
 * converged. */
static json_t *
small_report(json_t **pods_out, json_t **nss_out)
{
	json_t *pods, *nss, *rep;

	pods = json_array();
	/* shop, labelled traffic */
	json_array_append_new(pods, pod("shop", "web-5f7c9-aaaaa",
	    "ReplicaSet", "web-5f7c9", "5f7c9", "traffic", NULL, NULL, NULL));
	json_array_append_new(pods, pod("shop", "web-5f7c9-bbbbb",
	    "ReplicaSet", "web-5f7c9", "5f7c9", "traffic", "0123456789abcdef",
	    NULL, NULL));
	json_array_append_new(pods, pod("shop", "api-6d8f-ccccc",
	    "ReplicaSet", "api-6d8f", "6d8f", NULL, NULL, NULL, NULL));
	json_array_append_new(pods, pod("shop", "exporter-7b-ddddd",
	    "ReplicaSet", "exporter-7b", "7b", NULL, NULL,
	    ANN_INJECT "=false", NULL));
	json_array_append_new(pods, pod("shop", "early-9c-eeeee",
	    "ReplicaSet", "early-9c", "9c", "mtls", NULL,
	    ANN_STAGE "=mtls", NULL));
	json_array_append_new(pods, pod("shop", "nightly-28930110-fffff",
	    "Job", "nightly-28930110", NULL, NULL, NULL, NULL, "Succeeded"));
	json_array_append_new(pods, pod("shop", "frontend-ggggg",
	    "ReplicaSet", "frontend", NULL, NULL, NULL, NULL, NULL));
	json_array_append_new(pods, pod("shop", "frontend-hhhhh",
	    "ReplicaSet", "frontend", NULL, "traffic", NULL, NULL, NULL));
	json_array_append_new(pods, pod("shop", "frontend-iiiii",
	    "ReplicaSet", "frontend", NULL, NULL, NULL, NULL, NULL));
	json_array_append_new(pods, pod("shop", "debug", NULL, NULL, NULL,
	    NULL, NULL, NULL, NULL));
	/* a stage that the config no longer has */
	json_array_append_new(pods, pod("shop", "old-0", "StatefulSet",
	    "old", NULL, "canary", NULL, NULL, NULL));
	/* kube-system: ignored */
	json_array_append_new(pods, pod("kube-system", "coredns-1-x",
	    "ReplicaSet", "coredns-1", "1", NULL, NULL, NULL, NULL));
	/* unlabelled: only the pod with the stage label is meant to be in */
	json_array_append_new(pods, pod("plain", "a-0", "StatefulSet", "a",
	    NULL, NULL, NULL, NULL, NULL));
	json_array_append_new(pods, pod("plain", "b-0", "StatefulSet", "b",
	    NULL, NULL, NULL, LABEL_STAGE "@label=traffic", NULL));
	/* a label naming no stage: no webhook entry matches */
	json_array_append_new(pods, pod("typo", "c-0", "StatefulSet", "c",
	    NULL, "traffic", NULL, NULL, NULL));
	/* a namespace missing from the namespace list */
	json_array_append_new(pods, pod("zeta", "z-0", "DaemonSet", "z",
	    NULL, NULL, NULL, NULL, NULL));

	nss = json_array();
	json_array_append_new(nss, ns_obj("shop", "traffic"));
	json_array_append_new(nss, ns_obj("kube-system", NULL));
	json_array_append_new(nss, ns_obj("plain", NULL));
	json_array_append_new(nss, ns_obj("typo", "trafic"));
	json_array_append_new(nss, ns_obj("empty", "mtls"));
	*pods_out = list(pods);
	*nss_out = list(nss);
	rep = report_build(cfg, *pods_out, *nss_out);
	ck_assert_ptr_nonnull(rep);
	return rep;
}

START_TEST(test_build_counts)
{
	json_t *pods, *nss, *rep = small_report(&pods, &nss);
	const json_t *r, *stages = json_object_get(rep, "stages");

	ck_assert_str_eq(json_string_value(json_object_get(rep, "kind")),
	    "RolloutReport");
	ck_assert_int_eq(num(rep, "version"), REPORT_VERSION);
	ck_assert_str_eq(json_string_value(json_object_get(rep, "configHash")),
	    cfg->hash);
	/* none, the stages that inject, then the unknown one */
	ck_assert_uint_eq(json_array_size(stages), 5);
	ck_assert_str_eq(json_string_value(json_array_get(stages, 0)), "none");
	ck_assert_str_eq(json_string_value(json_array_get(stages, 1)),
	    "observe");
	ck_assert_str_eq(json_string_value(json_array_get(stages, 4)),
	    "canary");

	/* sorted, kube-system left out, "empty" and "zeta" present */
	ck_assert_uint_eq(json_array_size(json_object_get(rep, "namespaces")),
	    5);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    json_object_get(rep, "namespaces"), 0), "name")), "empty");
	ck_assert_ptr_null(row(rep, "kube-system"));

	r = row(rep, "shop");
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "stage")),
	    "traffic");
	ck_assert_int_eq(num(r, "pods"), 10);
	ck_assert_int_eq(num(r, "finished"), 1);
	ck_assert_int_eq(by_stage(r, "none"), 5);
	ck_assert_int_eq(by_stage(r, "traffic"), 3);
	ck_assert_int_eq(by_stage(r, "mtls"), 1);
	ck_assert_int_eq(by_stage(r, "observe"), 0);
	ck_assert_int_eq(by_stage(r, "canary"), 1);
	/* api, frontend x2, debug, old-0; not exporter (opted out) nor
	 * early (its own annotation) */
	ck_assert_int_eq(num(r, "behind"), 5);
	ck_assert_int_eq(num(r, "staleConfig"), 1);
	ck_assert_int_eq(num(r, "refused"), 0);

	r = row(rep, "plain");
	ck_assert(json_is_null(json_object_get(r, "stage")));
	ck_assert_int_eq(num(r, "pods"), 2);
	ck_assert_int_eq(num(r, "behind"), 1);	/* b-0 opted in by label */

	r = row(rep, "typo");
	ck_assert_int_eq(num(r, "behind"), 1);	/* no entry: wants none */

	r = row(rep, "zeta");
	ck_assert(json_is_null(json_object_get(r, "stage")));
	ck_assert_int_eq(num(r, "pods"), 1);
	ck_assert_int_eq(num(r, "behind"), 0);

	r = row(rep, "empty");
	ck_assert_int_eq(num(r, "pods"), 0);
	ck_assert_int_eq(by_stage(r, "mtls"), 0);

	r = json_object_get(rep, "totals");
	ck_assert_int_eq(num(r, "pods"), 14);
	ck_assert_int_eq(num(r, "behind"), 7);
	ck_assert_int_eq(num(r, "staleConfig"), 1);
	ck_assert_int_eq(num(r, "finished"), 1);
	json_decref(rep);
	json_decref(pods);
	json_decref(nss);
}
END_TEST

START_TEST(test_build_restarts)
{
	json_t *pods, *nss, *rep = small_report(&pods, &nss);
	const json_t *rs = json_object_get(row(rep, "shop"), "restarts"), *r;
	static const struct {
		const char *workload, *action, *command;
		int pods;
	} want[] = {
		{ "deployment/api", "rollout-restart",
		    "kubectl -n shop rollout restart deployment/api", 1 },
		{ "deployment/web", "rollout-restart",
		    "kubectl -n shop rollout restart deployment/web", 1 },
		{ "pod/debug", "recreate", NULL, 1 },
		{ "replicaset/frontend", "delete-pods",
		    "kubectl -n shop delete pod frontend-ggggg frontend-iiiii",
		    2 },
		{ "statefulset/old", "rollout-restart",
		    "kubectl -n shop rollout restart statefulset/old", 1 },
	};
	size_t i;

	ck_assert_uint_eq(json_array_size(rs), sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		r = json_array_get(rs, i);
		ck_assert_str_eq(json_string_value(json_object_get(r,
		    "workload")), want[i].workload);
		ck_assert_str_eq(json_string_value(json_object_get(r,
		    "action")), want[i].action);
		ck_assert_int_eq(num(r, "pods"), want[i].pods);
		if (want[i].command == NULL) {
			ck_assert(json_is_null(json_object_get(r, "command")));
			ck_assert(json_is_string(json_object_get(r, "note")));
		} else
			ck_assert_str_eq(json_string_value(json_object_get(r,
			    "command")), want[i].command);
	}
	ck_assert_int_eq(num(json_object_get(rep, "totals"), "restarts"), 7);
	json_decref(rep);
	json_decref(pods);
	json_decref(nss);
}
END_TEST

/* A pod the webhook would refuse is counted, listed with the reason, and
 * kept out of the restarts. */
START_TEST(test_build_refused)
{
	json_t *p = pod("shop", "gw-1-aaaaa", "ReplicaSet", "gw-1", "1", NULL,
	    NULL, NULL, NULL);
	json_t *pods, *nss, *rep;
	const json_t *r, *o;

	json_object_set_new(json_array_get(json_object_get(json_object_get(p,
	    "spec"), "containers"), 0), "ports", json_pack("[{s:i}]",
	    "containerPort", 15001));
	pods = list(json_pack("[o]", p));
	nss = list(json_pack("[o]", ns_obj("shop", "mtls")));
	rep = report_build(cfg, pods, nss);
	r = row(rep, "shop");
	ck_assert_int_eq(num(r, "refused"), 1);
	ck_assert_int_eq(num(r, "behind"), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "restarts")), 0);
	o = json_array_get(json_object_get(r, "outOfDate"), 0);
	ck_assert(json_is_true(json_object_get(o, "refused")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "want")), "mtls");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(o,
	    "reason")), "15001"));
	json_decref(rep);
	json_decref(pods);
	json_decref(nss);
}
END_TEST

/* Under a partial rollout, a workload that the rollout leaves at the
 * fallback stage is converged there. */
START_TEST(test_build_rollout)
{
	static const char text[] = "stages:\n"
	    "  mtls:\n"
	    "    features: [proxy, redirect, mtls, probe-rewrite]\n"
	    "    rollout: {percent: 0, fallback: traffic}\n";
	struct config_errors errs = { 0 };
	struct config *c = config_load_buffer("t.yaml", text, sizeof(text) - 1,
	    &errs);
	json_t *pods, *nss, *rep;
	const json_t *r;

	ck_assert_msg(c != NULL, "%s", errs.count ? errs.msgs[0] : "?");
	pods = list(json_pack("[oo]", pod("shop", "a-1-x", "ReplicaSet", "a-1",
	    "1", "traffic", c->hash, NULL, NULL), pod("shop", "b-1-x",
	    "ReplicaSet", "b-1", "1", "mtls", c->hash, NULL, NULL)));
	nss = list(json_pack("[o]", ns_obj("shop", "mtls")));
	rep = report_build(c, pods, nss);
	r = row(rep, "shop");
	ck_assert_int_eq(num(r, "behind"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    json_object_get(r, "outOfDate"), 0), "pod")), "b-1-x");
	ck_assert_int_eq(num(r, "staleConfig"), 0);
	json_decref(rep);
	json_decref(pods);
	json_decref(nss);
	config_free(c);
}
END_TEST

/* Stages seen on pods get a column even when the config has no such
 * stage or made it inject nothing; an empty stage is "none". */
START_TEST(test_build_odd_stages)
{
	json_t *pods = list(json_pack("[ooo]", pod("shop", "a-0", "StatefulSet",
	    "a", NULL, "off", NULL, NULL, NULL), pod("shop", "b-0",
	    "StatefulSet", "b", NULL, "", NULL, NULL, NULL), pod("shop", "c-0",
	    "StatefulSet", "c", NULL, "zz-canary", NULL, NULL, NULL)));
	json_t *nss = list(json_pack("[o]", ns_obj("shop", NULL)));
	json_t *rep = report_build(cfg, pods, nss);
	const json_t *stages = json_object_get(rep, "stages"), *r;

	ck_assert_uint_eq(json_array_size(stages), 6);
	ck_assert_str_eq(json_string_value(json_array_get(stages, 4)), "off");
	ck_assert_str_eq(json_string_value(json_array_get(stages, 5)),
	    "zz-canary");
	r = row(rep, "shop");
	ck_assert_int_eq(by_stage(r, "none"), 1);
	ck_assert_int_eq(by_stage(r, "off"), 1);
	ck_assert_int_eq(by_stage(r, "zz-canary"), 1);
	ck_assert_int_eq(num(r, "behind"), 2);
	json_decref(rep);
	json_decref(pods);
	json_decref(nss);
}
END_TEST

START_TEST(test_text)
{
	json_t *pods, *nss, *rep = small_report(&pods, &nss);
	char *out = NULL, *line, *end;
	size_t len = 0, width = 0;
	FILE *f = open_memstream(&out, &len);
	int n = 0;

	ck_assert_int_eq(report_print_text(f, rep), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "NAMESPACE  STAGE    PODS  NONE  "
	    "OBSERVE  TRAFFIC  MTLS  CANARY  BEHIND  OLD-CONFIG  REFUSED  "
	    "FINISHED\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nshop       traffic    10     5"
	    "        0        3     1       1       5           1        0"
	    "         1\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nplain      -           2"));
	ck_assert_ptr_nonnull(strstr(out, "\nRestart to converge:\n"
	    "kubectl -n plain rollout restart statefulset/b\n"
	    "kubectl -n shop rollout restart deployment/api\n"
	    "kubectl -n shop rollout restart deployment/web\n"
	    "# shop pod/debug: bare pod"));
	ck_assert_ptr_nonnull(strstr(out, "\nkubectl -n shop delete pod "
	    "frontend-ggggg frontend-iiiii\n"));
	/* the table's rows (header and 5 namespaces) are all as wide */
	for (line = out; n < 6; line = end + 1, n++) {
		end = strchr(line, '\n');
		ck_assert_ptr_nonnull(end);
		if (width == 0)
			width = (size_t)(end - line);
		ck_assert_uint_eq((size_t)(end - line), width);
	}
	ck_assert_int_eq(*line, '\n');
	free(out);
	json_decref(rep);
	json_decref(pods);
	json_decref(nss);
}
END_TEST

START_TEST(test_text_nothing_to_do)
{
	json_t *pods = list(json_pack("[o]", pod("shop", "a-1-x", "ReplicaSet",
	    "a-1", "1", "traffic", NULL, NULL, NULL)));
	json_t *nss = list(json_pack("[o]", ns_obj("shop", "traffic")));
	json_t *rep = report_build(cfg, pods, nss);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_int_eq(report_print_text(f, rep), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "Nothing to restart"));
	ck_assert_ptr_null(strstr(out, "Would be refused"));
	free(out);
	json_decref(rep);
	json_decref(pods);
	json_decref(nss);
}
END_TEST

static Suite *
report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_workloads);
	tcase_add_test(tc, test_workload_controller_owner);
	tcase_add_test(tc, test_check_list);
	tcase_add_test(tc, test_build_counts);
	tcase_add_test(tc, test_build_restarts);
	tcase_add_test(tc, test_build_refused);
	tcase_add_test(tc, test_build_rollout);
	tcase_add_test(tc, test_build_odd_stages);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_text_nothing_to_do);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(report_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
