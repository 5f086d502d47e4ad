/* check_rollout.c - the rollout bucket is a contract: known vectors.
 *
 * A workload's bucket decides which stage its pods get under a partial
 * rollout; if the hash changed (its separator, its byte order, signed
 * chars, the modulus), workloads would move between stages in production
 * with no config change. Each vector below was computed outside this code
 * base (FNV-1a 64-bit of "<namespace>/<Kind>/<name>", offset basis
 * 0xcbf29ce484222325, prime 0x100000001b3, modulo 100, in Python:
 *
 *   h = 0xcbf29ce484222325
 *   for b in s.encode(): h = ((h ^ b) * 0x100000001b3) % 2**64
 *   bucket = h % 100
 *
 * ) and is checked here through policy_decide(), from the pod as the
 * apiserver sends it: the owner reference, the pod-template-hash label;
 * and the status annotation inject_patch writes records it.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject.h"
#include "policy.h"

struct vector {
	const char *namespace;
	const char *pod;	/* JSON */
	const char *workload;	/* what policy_workload() names */
	unsigned long long fnv;	/* FNV-1a 64 of "<ns>/<workload>" */
	int bucket;		/* fnv % 100 */
};

#define OWNED(kind, name, labels) \
    "{\"metadata\":{\"generateName\":\"x-\",\"labels\":{" labels "}," \
    "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"" kind \
    "\",\"name\":\"" name "\",\"controller\":true,\"uid\":\"u\"}]}," \
    "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"nginx\"}]}}"

static const struct vector vectors[] = {
	{ "shop", OWNED("ReplicaSet", "web-7b9f5c8d46",
	      "\"pod-template-hash\":\"7b9f5c8d46\""),
	  "Deployment/web", 0xd704d887103dc1c4ULL, 96 },
	{ "shop", OWNED("ReplicaSet", "cart-5d4f8b7c9d",
	      "\"pod-template-hash\":\"5d4f8b7c9d\""),
	  "Deployment/cart", 0x3f4d59e4b8b559b8ULL, 60 },
	{ "payments", OWNED("StatefulSet", "ledger", ""),
	  "StatefulSet/ledger", 0x98f37223cd0c9b6fULL, 7 },
	{ "default", "{\"metadata\":{\"name\":\"debug\"},\"spec\":"
	      "{\"containers\":[{\"name\":\"app\",\"image\":\"nginx\"}]}}",
	  "Pod/debug", 0x460d54687ad7d5a6ULL, 2 },
	{ "batch", OWNED("Job", "nightly-report-28930110", ""),
	  "CronJob/nightly-report", 0xc3bf05d132960ebeULL, 34 },
	{ "batch", OWNED("Job", "migrate", ""),
	  "Job/migrate", 0xc2beeee10178886dULL, 73 },
	{ "ops", OWNED("DaemonSet", "node-agent", ""),
	  "DaemonSet/node-agent", 0x00abb138e2aeb8f9ULL, 37 },
	{ "legacy", OWNED("ReplicationController", "old-frontend", ""),
	  "ReplicationController/old-frontend", 0x9d88800b001a178cULL, 16 },
	{ "apps", OWNED("ReplicationController", "frontend-3",
	      "\"openshift.io/deployment-config.name\":\"frontend\""),
	  "DeploymentConfig/frontend", 0x29c7cdfa697f0284ULL, 96 },
	/* A ReplicaSet whose name does not end in the pod's hash: itself. */
	{ "shop", OWNED("ReplicaSet", "standalone",
	      "\"pod-template-hash\":\"7b9f5c8d46\""),
	  "ReplicaSet/standalone", 0x1fb9db14d11469d8ULL, 0 },
	/* Bytes above 0x7f hash as unsigned: a signed char would differ. */
	{ "\xc3\xbcn\xc3\xaf" "code", "{\"metadata\":{\"name\":\"na\xc3\xafve-1\","
	      "\"ownerReferences\":[{\"kind\":\"Deployment\",\"name\":"
	      "\"na\xc3\xafve\",\"controller\":true}]},\"spec\":{\"containers\":"
	      "[{\"name\":\"app\",\"image\":\"nginx\"}]}}",
	  "Deployment/na\xc3\xafve", 0xf54b9543d8d2ab4aULL, 42 },
};

/* A stage whose rollout takes workloads with bucket < percent. */
static struct config *
load_rollout(int percent)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	char yaml[256];
	int n;

	n = snprintf(yaml, sizeof(yaml),
	    "stages:\n"
	    "  partial:\n"
	    "    features: [proxy, redirect]\n"
	    "    rollout: {percent: %d, fallback: observe}\n", percent);
	cfg = config_load_buffer("rollout.yaml", yaml, (size_t)n, &errs);
	if (cfg == NULL) {
		size_t i;

		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
	}
	config_errors_clear(&errs);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

static void
decide(const struct config *cfg, const struct vector *v, struct decision *d)
{
	struct policy_input in = { 0 };
	json_error_t err;
	json_t *pod;

	pod = json_loads(v->pod, 0, &err);
	ck_assert_msg(pod != NULL, "vector pod: %s", err.text);
	in.pod = pod;
	in.namespace = v->namespace;
	in.operation = "CREATE";
	in.path_stage = "partial";
	decision_init(d);
	ck_assert_int_eq(policy_decide(cfg, &in, d), 0);
	json_decref(pod);
}

/* The vectors are consistent with themselves: bucket = fnv % 100. */
START_TEST(test_vectors_consistent)
{
	const struct vector *v = &vectors[_i];

	ck_assert_int_eq((int)(v->fnv % 100), v->bucket);
}
END_TEST

START_TEST(test_known_bucket)
{
	const struct vector *v = &vectors[_i];
	struct config *cfg = load_rollout(50);
	struct decision d;

	decide(cfg, v, &d);
	ck_assert_msg(strcmp(d.workload, v->workload) == 0,
	    "%s: workload \"%s\", expected \"%s\"", v->namespace, d.workload,
	    v->workload);
	ck_assert_msg(d.bucket == v->bucket,
	    "%s/%s: bucket %d, expected %d (FNV-1a 64 %016llx mod 100)",
	    v->namespace, v->workload, d.bucket, v->bucket, v->fnv);
	config_free(cfg);
}
END_TEST

/* The stage applies when bucket < percent, never at bucket == percent. */
START_TEST(test_boundary)
{
	const struct vector *v = &vectors[_i];
	struct config *cfg;
	struct decision d;

	cfg = load_rollout(v->bucket + 1);
	decide(cfg, v, &d);
	ck_assert_ptr_nonnull(d.stage);
	ck_assert_msg(strcmp(d.stage->name, "partial") == 0,
	    "%s: percent %d, bucket %d: got stage %s", v->workload,
	    v->bucket + 1, v->bucket, d.stage->name);
	config_free(cfg);

	cfg = load_rollout(v->bucket);
	decide(cfg, v, &d);
	ck_assert_ptr_nonnull(d.stage);
	ck_assert_msg(strcmp(d.stage->name, "observe") == 0,
	    "%s: percent %d, bucket %d: got stage %s", v->workload,
	    v->bucket, v->bucket, d.stage->name);
	config_free(cfg);
}
END_TEST

/* The status annotation inject_patch writes for v's pod under cfg, parsed;
 * its text must be compact JSON with its keys in sorted order (tools
 * compare it as text; it was a sorted dump), checked with jansson's own
 * sort. */
static json_t *
status_for(const struct config *cfg, const struct vector *v)
{
	struct policy_input in = { 0 };
	struct decision d;
	struct patch p;
	json_t *pod, *patch, *op, *st;
	const char *text = NULL;
	char *sorted;
	size_t i;

	pod = json_loads(v->pod, 0, NULL);
	ck_assert_ptr_nonnull(pod);
	in.pod = pod;
	in.namespace = v->namespace;
	in.operation = "CREATE";
	in.path_stage = "partial";
	decision_init(&d);
	ck_assert_int_eq(policy_decide(cfg, &in, &d), 0);
	ck_assert_int_eq(inject_patch(cfg, &d, pod, v->namespace, &p), 0);
	patch = json_loadb(p.text.data, p.text.len, 0, NULL);
	ck_assert_ptr_nonnull(patch);
	json_array_foreach(patch, i, op)
		if (strcmp(json_string_value(json_object_get(op, "path")),
		    "/metadata/annotations") == 0)
			text = json_string_value(json_object_get(json_object_get(
			    op, "value"), "meshinject.io/status"));
	ck_assert_ptr_nonnull(text);
	st = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(st);
	sorted = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(text, sorted);
	free(sorted);
	json_decref(patch);
	patch_free(&p);
	json_decref(pod);
	return st;
}

/* The status for v's pod under a rollout of percent: its stage, the
 * rollout that decided it (the stage "partial", percent, v's bucket), and
 * whether it records what the next stage would inject. */
static void
assert_status(const struct vector *v, int percent, const char *stage,
    bool would)
{
	struct config *cfg = load_rollout(percent);
	json_t *st = status_for(cfg, v), *r = json_object_get(st, "rollout");

	ck_assert_str_eq(json_string_value(json_object_get(st, "stage")),
	    stage);
	ck_assert_str_eq(json_string_value(json_object_get(r, "stage")),
	    "partial");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "percent")),
	    percent);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "bucket")),
	    v->bucket);
	ck_assert_int_eq(json_object_get(st, "wouldInject") != NULL, would);
	json_decref(st);
	config_free(cfg);
}

/* Inside the rollout the status says so, with the bucket; fallen back to
 * observe, it says which rollout sent it there and what the next stage
 * would inject. */
START_TEST(test_status_rollout)
{
	const struct vector *v = &vectors[_i];

	assert_status(v, v->bucket + 1, "partial", false);
	assert_status(v, v->bucket, "observe", true);
}
END_TEST

static Suite *
rollout_suite(void)
{
	Suite *s = suite_create("rollout");
	TCase *tc = tcase_create("vectors");
	int n = (int)(sizeof(vectors) / sizeof(vectors[0]));

	tcase_add_loop_test(tc, test_vectors_consistent, 0, n);
	tcase_add_loop_test(tc, test_known_bucket, 0, n);
	tcase_add_loop_test(tc, test_boundary, 0, n);
	tcase_add_loop_test(tc, test_status_rollout, 0, n);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(rollout_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
