/* check_vap.c - the stages compiled into ValidatingAdmissionPolicies: CEL
 * literals written as Go's toJson writes them, which stages are bound and
 * how, the facts of a stage, the embedded CEL file, and the configs that
 * cannot be compiled. (That the CEL means what /validate means is checked
 * in a real apiserver: tests/e2e/cluster/policy.test.mjs.) */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "vap.h"
#include "yamljson.h"

static struct config *
load(const char *text)
{
	struct config_errors errs = { 0 };
	struct config *cfg = config_load_buffer("test.yaml", text, strlen(text),
	    &errs);

	if (cfg == NULL && errs.count > 0)
		ck_abort_msg("%s", errs.msgs[0]);
	ck_assert_ptr_nonnull(cfg);
	config_errors_clear(&errs);
	return cfg;
}

static void
literal_is(json_t *v, const char *want)
{
	char *got = vap_cel_literal(v);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(got);
	json_decref(v);
}

START_TEST(test_literals)
{
	/* Bytes Go's encoding/json gives for the same values. */
	literal_is(json_string("envoyproxy/envoy:v1.32.3"),
	    "\"envoyproxy/envoy:v1.32.3\"");
	literal_is(json_string("a\"b\\c<d>&e\n\t\x01"),
	    "\"a\\\"b\\\\c\\u003cd\\u003e\\u0026e\\n\\t\\u0001\"");
	literal_is(json_string("x\xe2\x80\xa8y\xc3\xa9"),
	    "\"x\\u2028y\xc3\xa9\"");
	literal_is(json_pack("{s:[i, i], s:b, s:{}, s:[]}", "zeta", 1, -2,
	    "alpha", 1, "mid", "empty"),
	    "{\"alpha\":true,\"empty\":[],\"mid\":{},\"zeta\":[1,-2]}");
	/* What CEL cannot hold from a config. */
	{
		json_t *real = json_real(1.5);

		ck_assert_ptr_null(vap_cel_literal(real));
		json_decref(real);
	}
	ck_assert_ptr_null(vap_cel_literal(json_null()));
	{
		json_t *nul = json_stringn("a\0b", 3);

		ck_assert_ptr_null(vap_cel_literal(nul));
		json_decref(nul);
	}
}
END_TEST

/* The object of `kind` and name in objs (borrowed), or NULL. */
static json_t *
find(json_t *objs, const char *kind, const char *name)
{
	json_t *o;
	size_t i;

	json_array_foreach(objs, i, o)
		if (strcmp(json_string_value(json_object_get(o, "kind")), kind)
		    == 0 && strcmp(json_string_value(json_object_get(
		    json_object_get(o, "metadata"), "name")), name) == 0)
			return o;
	return NULL;
}

static const char *
variable(json_t *policy, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(policy, "spec"),
	    "variables"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "name")), name)
		    == 0)
			return json_string_value(json_object_get(v,
			    "expression"));
	return NULL;
}

START_TEST(test_bound_stages)
{
	struct config *cfg = load("stages:\n  strict: {features: [mtls, proxy, "
	    "redirect], enforce: true}\n  watch: {features: [observe]}\n"
	    "ignoredNamespaces: [kube-system, legacy]\n");
	struct vap_opts opts = { .name = "mi", .release_namespace = "mesh",
	    .excluded = { "batch", "legacy" }, .n_excluded = 2 };
	char err[256], *text;
	json_t *objs, *b, *p;

	objs = vap_objects(cfg, &opts, err, sizeof(err));
	ck_assert_msg(objs != NULL, "%s", err);
	/* observe, strict, watch: a policy and a binding each; off, traffic
	 * and mtls are not bound. */
	ck_assert_uint_eq(json_array_size(objs), 6);
	ck_assert_ptr_null(find(objs, "ValidatingAdmissionPolicy", "mi-mtls"));
	b = find(objs, "ValidatingAdmissionPolicyBinding", "mi-strict");
	ck_assert_ptr_nonnull(b);
	text = json_dumps(json_object_get(b, "spec"), JSON_COMPACT);
	ck_assert_str_eq(text, "{\"policyName\":\"mi-strict\","
	    "\"validationActions\":[\"Deny\"],\"matchResources\":"
	    "{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":"
	    "\"meshinject.io/stage\",\"operator\":\"In\",\"values\":"
	    "[\"strict\"]},{\"key\":\"kubernetes.io/metadata.name\","
	    "\"operator\":\"NotIn\",\"values\":[\"kube-system\","
	    "\"kube-public\",\"kube-node-lease\",\"legacy\",\"batch\","
	    "\"mesh\"]}]}}}");
	free(text);
	b = find(objs, "ValidatingAdmissionPolicyBinding", "mi-watch");
	text = json_dumps(json_object_get(json_object_get(b, "spec"),
	    "validationActions"), JSON_COMPACT);
	ck_assert_str_eq(text, "[\"Warn\",\"Audit\"]");
	free(text);
	p = find(objs, "ValidatingAdmissionPolicy", "mi-strict");
	ck_assert_str_eq(variable(p, "stage"), "\"strict\"");
	ck_assert_str_eq(variable(p, "enforce"), "true");
	/* Features in the binary's order, whatever the config's. */
	ck_assert_ptr_nonnull(strstr(variable(p, "stageFeatures"),
	    "\"strict\":[\"proxy\",\"redirect\",\"mtls\"]"));
	ck_assert_ptr_nonnull(strstr(variable(p, "stagePorts"),
	    "\"strict\":[15000,15001,15006,15021,15090,15020]"));
	/* observe reports on the next stage that injects a proxy. */
	ck_assert_ptr_nonnull(strstr(variable(p, "nextStage"),
	    "\"observe\":\"traffic\""));
	ck_assert_str_eq(variable(p, "proxyImages"),
	    "{\"envoyproxy/envoy:v1.32.3\":[1337]}");
	/* The embedded CEL follows the facts. */
	ck_assert_ptr_nonnull(variable(p, "feats"));
	ck_assert_str_eq(variable(find(objs, "ValidatingAdmissionPolicy",
	    "mi-watch"), "enforce"), "false");
	json_decref(objs);
	config_free(cfg);
}
END_TEST

/* The CEL file's feature list is the binary's. */
START_TEST(test_embedded_features)
{
	struct yamljson_error yerr;
	json_t *docs = yamljson_load(vap_validations_yaml,
	    strlen(vap_validations_yaml), &yerr), *v, *found = NULL;
	char want[512];
	size_t i, n = 0;
	int f;

	ck_assert_ptr_nonnull(docs);
	n += (size_t)snprintf(want + n, sizeof(want) - n, "[");
	for (f = 0; f < FEATURE_COUNT; f++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%s'%s'",
		    f ? ", " : "", feature_name(f));
	snprintf(want + n, sizeof(want) - n, "]");
	json_array_foreach(json_object_get(json_array_get(docs, 0),
	    "variables"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "name")),
		    "knownFeatures") == 0)
			found = v;
	v = found;
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(json_string_value(json_object_get(v, "expression")),
	    want);
	json_decref(docs);
}
END_TEST

START_TEST(test_uncompilable)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	char err[512];
	struct vap_opts opts = { .name = "m", .release_namespace = "ns" };

	/* A rollout whose fallback is checked differently. */
	cfg = load("stages:\n  canary:\n    features: [proxy, redirect]\n"
	    "    enforce: true\n"
	    "    rollout: {percent: 10, fallback: other}\n  other:\n"
	    "    features: [proxy, redirect]\n    proxy: {uid: 4242}\n");
	ck_assert_int_eq(vap_check(cfg, &errs), 1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "stages.canary.rollout: "));
	ck_assert_ptr_null(vap_objects(cfg, &opts, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "stages.canary.rollout"));
	config_errors_clear(&errs);
	config_free(cfg);
	/* A rollout to a stage checked the same way compiles. */
	cfg = load("stages:\n  half:\n    features: [proxy, redirect, mtls]\n"
	    "    rollout: {percent: 30, fallback: traffic}\n");
	ck_assert_int_eq(vap_check(cfg, &errs), 0);
	config_free(cfg);
	/* A rollout to a stage without the proxy does not, where the
	 * stage is bound; an unbound stage has no policy to be wrong. */
	cfg = load("stages:\n  half:\n    features: [proxy, redirect]\n"
	    "    enforce: true\n"
	    "    rollout: {percent: 30, fallback: observe}\n");
	ck_assert_int_eq(vap_check(cfg, &errs), 1);
	config_errors_clear(&errs);
	config_free(cfg);
	cfg = load("stages:\n  half:\n    features: [proxy, redirect]\n"
	    "    rollout: {percent: 30, fallback: observe}\n");
	ck_assert_int_eq(vap_check(cfg, &errs), 0);
	config_free(cfg);
}
END_TEST

static Suite *
vap_suite(void)
{
	Suite *s = suite_create("vap");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_literals);
	tcase_add_test(tc, test_bound_stages);
	tcase_add_test(tc, test_embedded_features);
	tcase_add_test(tc, test_uncompilable);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(vap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
