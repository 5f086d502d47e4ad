/* check_offline.c - `meshinject inject`, `check` and `explain` through their
 * entry points: arguments, exit codes, messages, and what the output holds.
 * (The golden files and the corpus run are in tests/e2e/offline.test.mjs.) */
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "lib/testutil.h"
#include "yamljson.h"

struct result {
	int rc;
	char *out;
	char *err;
};

static void
spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char dir[64], input[256], outp[256], errp[256];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_offline.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(input, sizeof(input), "%s/in.yaml", dir);
	snprintf(outp, sizeof(outp), "%s/out", dir);
	snprintf(errp, sizeof(errp), "%s/err", dir);
}

static void
teardown(void)
{
	unlink(input);
	unlink(outp);
	unlink(errp);
	rmdir(dir);
}

/*
 * Run cmd with the arguments (NULL-terminated; "IN" stands for a file
 * holding `yaml`), capturing stdout and stderr.
 */
static struct result
run(int (*cmd)(int, char **), const char *yaml, ...)
{
	char *argv[32];
	int argc = 0, saved_out, saved_err, fd_out, fd_err;
	struct result r;
	va_list ap;
	const char *a;

	if (yaml != NULL)
		spit(input, yaml);
	argv[argc++] = (char *)"cmd";
	va_start(ap, yaml);
	while ((a = va_arg(ap, const char *)) != NULL && argc < 31)
		argv[argc++] = strcmp(a, "IN") == 0 ? input : (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	fd_out = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fd_err = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert(fd_out >= 0 && fd_err >= 0);
	dup2(fd_out, 1);
	dup2(fd_err, 2);
	r.rc = cmd(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	close(fd_out);
	close(fd_err);
	r.out = tu_read_file(outp, NULL);
	r.err = tu_read_file(errp, NULL);
	return r;
}

static void
result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

#define assert_has(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, \
	    "expected \"%s\" in:\n%s", (needle), (hay))
#define assert_lacks(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) == NULL, \
	    "did not expect \"%s\" in:\n%s", (needle), (hay))

static const char deployment[] =
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: web\n"
    "spec:\n"
    "  template:\n"
    "    metadata:\n"
    "      labels:\n"
    "        app: web\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: web\n"
    "        image: nginx:1.27\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata:\n"
    "  name: web\n"
    "spec:\n"
    "  ports:\n"
    "  - port: 80\n"
    "    targetPort: \"8080\"\n";

/* The document `i` of a YAML text. */
static json_t *
doc_of(const char *yaml, size_t i)
{
	struct yamljson_error err;
	json_t *docs = yamljson_load(yaml, strlen(yaml), &err), *d;

	ck_assert_msg(docs != NULL, "output does not read back: %d:%d: %s",
	    err.line, err.column, err.text);
	d = json_incref(json_array_get(docs, i));
	json_decref(docs);
	ck_assert_ptr_nonnull(d);
	return d;
}

static const char *
container_name(const json_t *tmpl, const char *list, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(
	    json_object_get(tmpl, "spec"), list), i), "name"));
}

START_TEST(test_inject_deployment)
{
	struct result r = run(cmd_inject, deployment, "-f", "IN", NULL);
	json_t *dep, *svc, *tmpl, *meta, *in_svc;

	ck_assert_msg(r.rc == 0, "rc %d, stderr: %s", r.rc, r.err);
	ck_assert_str_eq(r.err, "");
	dep = doc_of(r.out, 0);
	tmpl = json_object_get(json_object_get(dep, "spec"), "template");
	meta = json_object_get(tmpl, "metadata");
	ck_assert_str_eq(container_name(tmpl, "containers", 0), "web");
	ck_assert_str_eq(container_name(tmpl, "containers", 1), "mesh-proxy");
	ck_assert_str_eq(container_name(tmpl, "initContainers", 0),
	    "mesh-init");
	ck_assert_ptr_nonnull(json_object_get(json_object_get(meta,
	    "annotations"), "meshinject.io/status"));
	/* Nothing of what was invented for the review is left. */
	ck_assert_ptr_null(json_object_get(meta, "generateName"));
	ck_assert_ptr_null(json_object_get(meta, "ownerReferences"));
	ck_assert_ptr_null(json_object_get(json_object_get(meta, "labels"),
	    "pod-template-hash"));
	ck_assert_uint_eq(json_object_size(json_object_get(meta, "labels")), 1);
	/* The Service is as it was ("8080" still a string). */
	svc = doc_of(r.out, 1);
	in_svc = doc_of(deployment, 1);
	ck_assert(json_equal(svc, in_svc));
	assert_has(r.out, "targetPort: \"8080\"");
	assert_has(r.out, "\n---\n");
	json_decref(dep);
	json_decref(svc);
	json_decref(in_svc);
	result_free(&r);
}
END_TEST

START_TEST(test_inject_idempotent)
{
	struct result r1 = run(cmd_inject, deployment, "-f", "IN", NULL);
	struct result r2;

	ck_assert_int_eq(r1.rc, 0);
	r2 = run(cmd_inject, r1.out, "-f", "IN", NULL);
	ck_assert_int_eq(r2.rc, 0);
	ck_assert_str_eq(r2.out, r1.out);
	result_free(&r1);
	result_free(&r2);
}
END_TEST

START_TEST(test_inject_json)
{
	struct result r = run(cmd_inject, deployment, "-f", "IN", "-o", "json",
	    NULL);
	json_error_t jerr;
	json_t *first;

	ck_assert_int_eq(r.rc, 0);
	/* Two JSON documents, one after the other. */
	first = json_loads(r.out, JSON_DISABLE_EOF_CHECK, &jerr);
	ck_assert_msg(first != NULL, "%s", jerr.text);
	ck_assert_str_eq(json_string_value(json_object_get(first, "kind")),
	    "Deployment");
	ck_assert_ptr_nonnull(strstr(r.out + jerr.position, "\"Service\""));
	json_decref(first);
	result_free(&r);
}
END_TEST

static const char refused[] =
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata: {name: bad, namespace: shop}\n"
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: app\n"
    "        image: app\n"
    "        ports: [{containerPort: 15090}]\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata: {name: ok}\n"
    "spec:\n"
    "  containers: [{name: app, image: app}]\n";

START_TEST(test_inject_refused)
{
	struct result r = run(cmd_inject, refused, "-f", "IN", NULL);
	json_t *in = doc_of(refused, 0), *out = doc_of(r.out, 0), *pod;

	ck_assert_int_eq(r.rc, 1);
	/* The refused template is printed unchanged, the refusal reported
	 * with the document and the workload; the rest is injected. */
	ck_assert(json_equal(in, out));
	assert_has(r.err, ": document 1 (Deployment/bad): refused: ");
	assert_has(r.err, "15090");
	pod = doc_of(r.out, 1);
	ck_assert_str_eq(container_name(pod, "containers", 1), "mesh-proxy");
	json_decref(pod);
	json_decref(in);
	json_decref(out);
	result_free(&r);
}
END_TEST

START_TEST(test_check)
{
	struct result r = run(cmd_check, refused, "-f", "IN", NULL);

	ck_assert_int_eq(r.rc, 1);
	assert_has(r.out, "in.yaml: document 1 (Deployment/bad): refused: ");
	assert_has(r.out, "port 15090");
	assert_has(r.out, "2 pod templates checked: 1 would be refused, "
	    "0 with warnings");
	assert_lacks(r.out, "Pod/ok");
	result_free(&r);

	r = run(cmd_check, deployment, "-f", "IN", NULL);
	ck_assert_int_eq(r.rc, 0);
	assert_has(r.out, "1 pod template checked: 0 would be refused");
	result_free(&r);

	/* hostNetwork: a warning, not a refusal. */
	r = run(cmd_check, "kind: Pod\nmetadata: {name: h}\nspec:\n"
	    "  hostNetwork: true\n  containers: [{name: a, image: a}]\n",
	    "-f", "IN", NULL);
	ck_assert_int_eq(r.rc, 0);
	assert_has(r.out, "document 1 (Pod/h): warning: hostNetwork");
	result_free(&r);
}
END_TEST

START_TEST(test_explain)
{
	static const char cron[] =
	    "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\n"
	    "spec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n"
	    "      template:\n        spec:\n"
	    "          containers: [{name: a, image: a}]\n"
	    "          restartPolicy: OnFailure\n";
	struct result r = run(cmd_explain, deployment, "-f", "IN", "--stage",
	    "mtls", NULL);

	ck_assert_int_eq(r.rc, 0);
	assert_has(r.out, "document 1 (Deployment/web) spec.template");
	assert_has(r.out, "features: proxy, redirect, mtls, probe-rewrite");
	/* The pod resolves to its Deployment, as in the cluster. */
	assert_has(r.out, "workload: Deployment/web");
	assert_lacks(r.out, "Service");
	result_free(&r);

	r = run(cmd_explain, cron, "-f", "IN", NULL);
	ck_assert_int_eq(r.rc, 0);
	assert_has(r.out, "(CronJob/nightly) spec.jobTemplate.spec.template");
	assert_has(r.out, "workload: CronJob/nightly");
	assert_has(r.out, "features: proxy, redirect");
	result_free(&r);

	r = run(cmd_explain, "kind: ConfigMap\n", "-f", "IN", NULL);
	ck_assert_int_eq(r.rc, 0);
	assert_has(r.out, "no pod templates");
	result_free(&r);
}
END_TEST

START_TEST(test_skips_and_stages)
{
	static const char opted[] =
	    "kind: Deployment\nmetadata: {name: o}\nspec:\n  template:\n"
	    "    metadata:\n      annotations: {meshinject.io/inject: \"false\"}\n"
	    "    spec:\n      containers: [{name: a, image: a}]\n";
	static const char system[] =
	    "kind: Pod\nmetadata: {name: s, namespace: kube-system}\n"
	    "spec:\n  containers: [{name: a, image: a}]\n";
	static const char bare[] =
	    "kind: Job\nmetadata: {name: j}\nspec:\n  template:\n"
	    "    spec:\n      containers: [{name: a, image: a}]\n"
	    "      restartPolicy: Never\n";
	struct result r;
	json_t *in, *out, *tmpl;

	/* Opted out, ignored namespace, --no-stage with defaultStage off:
	 * unchanged. */
	r = run(cmd_inject, opted, "-f", "IN", NULL);
	ck_assert_int_eq(r.rc, 0);
	in = doc_of(opted, 0);
	out = doc_of(r.out, 0);
	ck_assert(json_equal(in, out));
	json_decref(in);
	json_decref(out);
	result_free(&r);

	r = run(cmd_inject, system, "-f", "IN", NULL);
	ck_assert_int_eq(r.rc, 0);
	assert_lacks(r.out, "mesh-proxy");
	result_free(&r);

	r = run(cmd_inject, bare, "-f", "IN", "--no-stage", NULL);
	ck_assert_int_eq(r.rc, 0);
	assert_lacks(r.out, "mesh-proxy");
	result_free(&r);

	/* A template without metadata gets it, first. */
	r = run(cmd_inject, bare, "-f", "IN", "--stage=observe", NULL);
	ck_assert_int_eq(r.rc, 0);
	assert_lacks(r.out, "name: mesh-proxy");
	assert_has(r.out, "  template:\n    metadata:\n      annotations:\n"
	    "        meshinject.io/status: ");
	out = doc_of(r.out, 0);
	tmpl = json_object_get(json_object_get(out, "spec"), "template");
	ck_assert_uint_eq(json_object_size(json_object_get(tmpl, "metadata")),
	    1);
	json_decref(out);
	result_free(&r);
}
END_TEST

START_TEST(test_list)
{
	static const char list[] =
	    "apiVersion: v1\nkind: List\nitems:\n"
	    "- kind: Service\n  metadata: {name: s}\n"
	    "- kind: StatefulSet\n  metadata: {name: db}\n  spec:\n"
	    "    template:\n      spec:\n"
	    "        containers: [{name: a, image: a, ports: [{containerPort: 15000}]}]\n";
	struct result r = run(cmd_check, list, "-f", "IN", NULL);

	ck_assert_int_eq(r.rc, 1);
	assert_has(r.out, "document 1, item 2 (StatefulSet/db): refused: ");
	result_free(&r);
}
END_TEST

START_TEST(test_arguments)
{
	struct result r;

	r = run(cmd_inject, NULL, "--help", NULL);
	ck_assert_int_eq(r.rc, 0);
	assert_has(r.out, "usage: meshinject inject -f FILE");
	assert_has(r.out, "default: traffic");
	result_free(&r);

	r = run(cmd_check, NULL, "-h", NULL);
	ck_assert_int_eq(r.rc, 0);
	assert_has(r.out, "usage: meshinject check");
	result_free(&r);

	r = run(cmd_inject, NULL, NULL);
	ck_assert_int_eq(r.rc, 2);
	assert_has(r.err, "-f FILE is required");
	result_free(&r);

	r = run(cmd_inject, deployment, "-f", "IN", "--bogus", NULL);
	ck_assert_int_eq(r.rc, 2);
	assert_has(r.err, "unknown argument \"--bogus\"");
	result_free(&r);

	r = run(cmd_inject, deployment, "-f", "IN", "--stage", NULL);
	ck_assert_int_eq(r.rc, 2);
	assert_has(r.err, "--stage needs a value");
	result_free(&r);

	r = run(cmd_inject, deployment, "-f", "IN", "-o", "xml", NULL);
	ck_assert_int_eq(r.rc, 2);
	assert_has(r.err, "-o takes yaml or json, not \"xml\"");
	result_free(&r);

	/* -o is inject's only. */
	r = run(cmd_check, deployment, "-f", "IN", "-o", "json", NULL);
	ck_assert_int_eq(r.rc, 2);
	result_free(&r);

	r = run(cmd_inject, deployment, "-f", "IN", "--stage", "nope", NULL);
	ck_assert_int_eq(r.rc, 2);
	assert_has(r.err, "unknown stage \"nope\" (configured: off, observe, "
	    "traffic, mtls");
	result_free(&r);

	r = run(cmd_inject, deployment, "-f", "IN", "--stage", "mtls",
	    "--no-stage", NULL);
	ck_assert_int_eq(r.rc, 2);
	result_free(&r);

	r = run(cmd_inject, NULL, "-f", "/nonexistent/x.yaml", NULL);
	ck_assert_int_eq(r.rc, 1);
	assert_has(r.err, "/nonexistent/x.yaml: No such file or directory");
	result_free(&r);

	r = run(cmd_inject, deployment, "-f", "IN", "--config",
	    "/nonexistent/c.yaml", NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_ne(r.err, "");
	result_free(&r);
}
END_TEST

START_TEST(test_yaml_error)
{
	struct result r = run(cmd_inject, "kind: Pod\nmetadata:\n  name: a\n"
	    "  name: b\n", "-f", "IN", NULL);
	char want[300];

	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.out, "");
	snprintf(want, sizeof(want), "%s:4:3: duplicate key \"name\"\n", input);
	ck_assert_str_eq(r.err, want);
	result_free(&r);

	r = run(cmd_check, "a: [\n", "-f", "IN", NULL);
	ck_assert_int_eq(r.rc, 1);
	assert_has(r.err, "in.yaml:2:1: ");
	result_free(&r);
}
END_TEST

START_TEST(test_no_pod_spec)
{
	static const char nospec[] =
	    "kind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n"
	    "    metadata: {labels: {a: b}}\n";
	struct result r = run(cmd_check, nospec, "-f", "IN", NULL);
	json_t *in, *out;

	ck_assert_int_eq(r.rc, 0);
	assert_has(r.out, "document 1 (Deployment/x): warning: spec.template "
	    "has no pod spec\n");
	result_free(&r);
	r = run(cmd_inject, nospec, "-f", "IN", NULL);
	ck_assert_int_eq(r.rc, 0);
	in = doc_of(nospec, 0);
	out = doc_of(r.out, 0);
	ck_assert(json_equal(in, out));
	json_decref(in);
	json_decref(out);
	result_free(&r);
	r = run(cmd_inject, NULL, "-f", "/", NULL);
	ck_assert_int_eq(r.rc, 1);
	assert_has(r.err, "/: Is a directory");
	result_free(&r);
}
END_TEST

/* YAML 1.1 makes `false` and `15020` non-strings, which the apiserver
 * refuses as label or annotation values: said, and nothing injected. */
START_TEST(test_non_string_metadata)
{
	static const char bad[] =
	    "kind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n"
	    "    metadata:\n      labels: {v: 1}\n"
	    "      annotations: {meshinject.io/inject: no}\n"
	    "    spec:\n      containers: [{name: a, image: a}]\n";
	struct result r = run(cmd_check, bad, "-f", "IN", NULL);
	json_t *in, *out;

	ck_assert_int_eq(r.rc, 1);
	assert_has(r.out, "(Deployment/x): invalid: spec.template.metadata."
	    "labels[\"v\"] is a number, not a string");
	assert_has(r.out, "(Deployment/x): invalid: spec.template.metadata."
	    "annotations[\"meshinject.io/inject\"] is a bool, not a string");
	result_free(&r);
	r = run(cmd_inject, bad, "-f", "IN", NULL);
	ck_assert_int_eq(r.rc, 1);
	assert_has(r.err, "invalid: spec.template.metadata.annotations");
	in = doc_of(bad, 0);
	out = doc_of(r.out, 0);
	ck_assert(json_equal(in, out));
	json_decref(in);
	json_decref(out);
	result_free(&r);
}
END_TEST

static Suite *
offline_suite(void)
{
	Suite *s = suite_create("offline");
	TCase *tc = tcase_create("commands");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_inject_deployment);
	tcase_add_test(tc, test_inject_idempotent);
	tcase_add_test(tc, test_inject_json);
	tcase_add_test(tc, test_inject_refused);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_explain);
	tcase_add_test(tc, test_skips_and_stages);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_arguments);
	tcase_add_test(tc, test_yaml_error);
	tcase_add_test(tc, test_no_pod_spec);
	tcase_add_test(tc, test_non_string_metadata);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(offline_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
