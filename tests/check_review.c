/* check_review.c - AdmissionReview decoding and encoding, v1 and v1beta1,
 * through review_handle, the core's entry point. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "lib/testutil.h"
#include "review.h"

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
}

static const char pod_rs[] =
    "{\"metadata\":{\"generateName\":\"web-7d4b9c8f6-\",\"labels\":"
    "{\"app\":\"web\",\"pod-template-hash\":\"7d4b9c8f6\"},"
    "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":"
    "\"ReplicaSet\",\"name\":\"web-7d4b9c8f6\",\"uid\":\"u\","
    "\"controller\":true}]},\"spec\":{\"containers\":[{\"name\":\"app\","
    "\"image\":\"nginx\"}]}}";

/* A review of `pod` with the given apiVersion, operation and kind. */
static char *
make_review(const char *api, const char *op, const char *kind,
    const char *pod)
{
	json_t *r = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:s,"
	    " s:s, s:o}}", "apiVersion", api, "kind", "AdmissionReview",
	    "request", "uid", "4b1c-uid", "kind", "group", "", "version", "v1",
	    "kind", kind, "operation", op, "namespace", "shop", "object",
	    json_loads(pod, 0, NULL));
	char *s = json_dumps(r, JSON_COMPACT);

	json_decref(r);
	return s;
}

/* Call the core; return the parsed response, its status in *status. */
static json_t *
call(const char *route_stage, enum review_route route, const char *body,
    int *status)
{
	struct review_opts opts = { .route = route, .stage = route_stage };
	struct review_outcome out;
	char *resp = NULL;
	json_t *j;

	*status = review_handle(cfg, &opts, body, strlen(body), &resp, &out);
	ck_assert_ptr_nonnull(resp);
	j = json_loads(resp, 0, NULL);
	ck_assert_msg(j != NULL, "response is not JSON: %s", resp);
	free(resp);
	return j;
}

/*
 * A minimal RFC 6902 `add` applier written for this test only (the
 * end-to-end tests use an independent npm implementation): enough to feed a
 * patched pod back for the reinvocation check.
 */
static void
apply_add(json_t *doc, const char *path, json_t *value)
{
	char buf[1024], *tok, *next, *save;
	json_t *cur = doc;

	snprintf(buf, sizeof(buf), "%s", path + 1);
	for (tok = buf; ; tok = next) {
		char key[512];
		size_t i, k = 0;

		next = strchr(tok, '/');
		if (next != NULL)
			*next++ = '\0';
		for (i = 0; tok[i] != '\0' && k < sizeof(key) - 1; i++) {
			if (tok[i] == '~' && tok[i + 1] == '1') {
				key[k++] = '/';
				i++;
			} else if (tok[i] == '~' && tok[i + 1] == '0') {
				key[k++] = '~';
				i++;
			} else
				key[k++] = tok[i];
		}
		key[k] = '\0';
		if (next == NULL) {
			if (json_is_array(cur)) {
				if (strcmp(key, "-") == 0)
					json_array_append(cur, value);
				else
					json_array_insert(cur,
					    strtoul(key, &save, 10), value);
			} else
				json_object_set(cur, key, value);
			return;
		}
		cur = json_is_array(cur) ? json_array_get(cur, strtoul(key,
		    &save, 10)) : json_object_get(cur, key);
		ck_assert_ptr_nonnull(cur);
	}
}

static void
check_envelope(const json_t *resp, const char *api)
{
	const json_t *r = json_object_get(resp, "response");

	ck_assert_str_eq(json_string_value(json_object_get(resp, "apiVersion")),
	    api);
	ck_assert_str_eq(json_string_value(json_object_get(resp, "kind")),
	    "AdmissionReview");
	ck_assert_str_eq(json_string_value(json_object_get(r, "uid")),
	    "4b1c-uid");
}

START_TEST(test_inject_and_reinvoke)
{
	static const char *const apis[] = { "admission.k8s.io/v1",
	    "admission.k8s.io/v1beta1" };
	char *body, *again, *patched;
	json_t *resp, *patch, *op, *pod, *resp2;
	size_t i;
	int status;

	body = make_review(apis[_i], "CREATE", "Pod", pod_rs);
	resp = call("traffic", ROUTE_MUTATE, body, &status);
	ck_assert_int_eq(status, 200);
	check_envelope(resp, apis[_i]);
	ck_assert(json_is_true(json_object_get(json_object_get(resp,
	    "response"), "allowed")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    resp, "response"), "patchType")), "JSONPatch");
	patch = tu_patch(resp);
	ck_assert_ptr_nonnull(patch);
	pod = json_loads(pod_rs, 0, NULL);
	json_array_foreach(patch, i, op) {
		ck_assert_str_eq(json_string_value(json_object_get(op, "op")),
		    "add");
		apply_add(pod, json_string_value(json_object_get(op, "path")),
		    json_object_get(op, "value"));
	}
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_object_get(pod, "spec"), "initContainers"),
	    0), "name")), "mesh-init");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_object_get(pod, "spec"), "containers"), 1),
	    "name")), "mesh-proxy");

	patched = json_dumps(pod, JSON_COMPACT);
	again = make_review(apis[_i], "CREATE", "Pod", patched);
	free(patched);
	resp2 = call("traffic", ROUTE_MUTATE, again, &status);
	ck_assert_int_eq(status, 200);
	ck_assert(json_is_true(json_object_get(json_object_get(resp2,
	    "response"), "allowed")));
	ck_assert_ptr_null(json_object_get(json_object_get(resp2, "response"),
	    "patch"));

	free(body);
	free(again);
	json_decref(resp);
	json_decref(resp2);
	json_decref(patch);
	json_decref(pod);
}
END_TEST

START_TEST(test_delete_and_other_kinds_pass)
{
	char *del = make_review("admission.k8s.io/v1", "DELETE", "Pod", pod_rs);
	char *svc = make_review("admission.k8s.io/v1", "CREATE", "Service",
	    "{\"spec\":{}}");
	json_t *r1, *r2;
	int status;

	r1 = call("traffic", ROUTE_MUTATE, del, &status);
	ck_assert_int_eq(status, 200);
	r2 = call("traffic", ROUTE_MUTATE, svc, &status);
	ck_assert_int_eq(status, 200);
	ck_assert(json_is_true(json_object_get(json_object_get(r1, "response"),
	    "allowed")));
	ck_assert(json_is_true(json_object_get(json_object_get(r2, "response"),
	    "allowed")));
	ck_assert_ptr_null(json_object_get(json_object_get(r1, "response"),
	    "patch"));
	ck_assert_ptr_null(json_object_get(json_object_get(r2, "response"),
	    "patch"));
	free(del);
	free(svc);
	json_decref(r1);
	json_decref(r2);
}
END_TEST

START_TEST(test_denial_status)
{
	char *body = make_review("admission.k8s.io/v1", "CREATE", "Pod",
	    "{\"metadata\":{\"annotations\":{\"meshinject.io/"
	    "exclude-outbound-ports\":\"99999\"}},\"spec\":{}}");
	json_t *resp, *st;
	int status;

	resp = call("traffic", ROUTE_MUTATE, body, &status);
	ck_assert_int_eq(status, 200);
	ck_assert(json_is_false(json_object_get(json_object_get(resp,
	    "response"), "allowed")));
	st = json_object_get(json_object_get(resp, "response"), "status");
	ck_assert_int_eq(json_integer_value(json_object_get(st, "code")), 422);
	ck_assert_str_eq(json_string_value(json_object_get(st, "reason")),
	    "Invalid");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(st,
	    "message")), "meshinject.io/exclude-outbound-ports"));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(st,
	    "message")), "99999"));
	free(body);
	json_decref(resp);
}
END_TEST

static const char *const bad_bodies[] = {
	"",
	"not json",
	"[1,2,3]",
	"{\"apiVersion\":\"v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
	"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Pod\"}",
	"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
	"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	"\"request\":{\"uid\":5}}",
	"{\"apiVersion\":\"admission.k8s.io/v1\",\"apiVersion\":\"x\"}",
};

START_TEST(test_bad_bodies)
{
	json_t *resp;
	int status;

	resp = call("traffic", ROUTE_MUTATE, bad_bodies[_i], &status);
	ck_assert_int_eq(status, 400);
	ck_assert(json_is_string(json_object_get(resp, "error")));
	json_decref(resp);
}
END_TEST

START_TEST(test_deep_nesting)
{
	size_t n = 200000;
	char *deep = malloc(n + 1);
	json_t *resp;
	int status;

	memset(deep, '[', n);
	deep[n] = '\0';
	resp = call("traffic", ROUTE_MUTATE, deep, &status);
	ck_assert_int_eq(status, 400);
	json_decref(resp);
	free(deep);
}
END_TEST

/* A review leaves the process's memory as it found it: no block big enough
 * for glibc to hand back to the kernel at once and the next review to
 * fault in again (the 39 KB decision, malloc'd and freed per review, was
 * an madvise and four to eight page faults each, in the server a third of
 * its throughput). After a warm-up, a thousand ReplicaSet reviews take
 * (almost) no minor page faults. Not under ASan, whose quarantine hands
 * out fresh memory by design. */
#if !TU_UNDER_ASAN
START_TEST(test_no_page_faults)
{
	struct review_opts opts = { .route = ROUTE_MUTATE, .stage = "traffic" };
	struct rusage before, after;
	size_t len;
	char *body = tu_read_file("tests/fixtures/review-replicaset-pod.json",
	    &len), *resp;
	long faults;
	int i;

	for (i = -100; i < 1000; i++) {
		if (i == 0)
			ck_assert_int_eq(getrusage(RUSAGE_SELF, &before), 0);
		ck_assert_int_eq(review_handle(cfg, &opts, body, len, &resp,
		    NULL), 200);
		free(resp);
	}
	ck_assert_int_eq(getrusage(RUSAGE_SELF, &after), 0);
	faults = after.ru_minflt - before.ru_minflt;
	ck_assert_msg(faults < 50, "1000 reviews took %ld minor page faults",
	    faults);
	free(body);
}
END_TEST
#endif

static Suite *
review_suite(void)
{
	Suite *s = suite_create("review");
	TCase *tc = tcase_create("envelope");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_inject_and_reinvoke, 0, 2);
	tcase_add_test(tc, test_delete_and_other_kinds_pass);
	tcase_add_test(tc, test_denial_status);
	tcase_add_loop_test(tc, test_bad_bodies, 0,
	    (int)(sizeof(bad_bodies) / sizeof(bad_bodies[0])));
	tcase_add_test(tc, test_deep_nesting);
#if !TU_UNDER_ASAN
	tcase_add_test(tc, test_no_page_faults);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(review_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
