/* check_config.c - unit tests of the config loader: the default, merging,
 * every kind of error message, bounds, the hash and the size limits. */
#include <check.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"

/* Fixtures are found relative to the repository root (make unit runs there);
 * CONFIG_TEST_DIR overrides. */
static const char *
fixture_dir(void)
{
	const char *d = getenv("CONFIG_TEST_DIR");

	return d != NULL ? d : "tests/config";
}

static struct config_errors errs;

static void
setup(void)
{
	memset(&errs, 0, sizeof(errs));
}

static void
teardown(void)
{
	config_errors_clear(&errs);
}

/* Load inline YAML as "cfg.yaml"; fail the test, listing the errors, when it
 * does not load. */
static struct config *
load_ok(const char *yaml)
{
	struct config *cfg;
	size_t i;

	config_errors_clear(&errs);
	cfg = config_load_buffer("cfg.yaml", yaml, strlen(yaml), &errs);
	if (cfg == NULL) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "unexpected: %s\n", errs.msgs[i]);
		ck_abort_msg("config did not load:\n%s", yaml);
	}
	ck_assert_uint_eq(errs.count, 0);
	return cfg;
}

/* Load inline YAML that must fail with exactly the `n` messages given, in
 * order. */
static void
expect_errors(const char *yaml, const char *const *want, size_t n)
{
	struct config *cfg;
	size_t i;

	config_errors_clear(&errs);
	cfg = config_load_buffer("cfg.yaml", yaml, strlen(yaml), &errs);
	ck_assert_msg(cfg == NULL, "config loaded but should not:\n%s", yaml);
	for (i = 0; i < errs.count || i < n; i++) {
		if (i < errs.count && i < n && strcmp(errs.msgs[i], want[i]) == 0)
			continue;
		for (size_t j = 0; j < errs.count; j++)
			fprintf(stderr, "got:  %s\n", errs.msgs[j]);
		for (size_t j = 0; j < n; j++)
			fprintf(stderr, "want: %s\n", want[j]);
		ck_abort_msg("error %zu differs for:\n%s", i, yaml);
	}
}

#define EXPECT_ERRORS(yaml, ...) do {					\
	static const char *const want_[] = { __VA_ARGS__ };		\
	expect_errors((yaml), want_, sizeof(want_) / sizeof(want_[0]));	\
} while (0)

/* The single error of `yaml`. */
#define EXPECT_ERROR(yaml, msg) EXPECT_ERRORS((yaml), (msg))

/* ---- the default ---- */

START_TEST(default_values)
{
	struct config *cfg;
	const struct stage *st;

	cfg = config_load_default(&errs);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->default_stage, "off");
	ck_assert_uint_eq(cfg->n_ignored_namespaces, 3);
	ck_assert_str_eq(cfg->ignored_namespaces[0], "kube-system");
	ck_assert_str_eq(cfg->ignored_namespaces[1], "kube-public");
	ck_assert_str_eq(cfg->ignored_namespaces[2], "kube-node-lease");
	ck_assert(config_namespace_ignored(cfg, "kube-system"));
	ck_assert(!config_namespace_ignored(cfg, "default"));
	ck_assert(!cfg->allow_image_override);
	ck_assert_str_eq(cfg->proxy.image, "envoyproxy/envoy:v1.32.3");
	ck_assert_int_eq(cfg->proxy.uid, 1337);
	ck_assert_int_eq(cfg->proxy.port_admin, 15000);
	ck_assert_int_eq(cfg->proxy.port_outbound, 15001);
	ck_assert_int_eq(cfg->proxy.port_inbound, 15006);
	ck_assert_int_eq(cfg->proxy.port_status, 15021);
	ck_assert_int_eq(cfg->proxy.port_metrics, 15090);
	ck_assert_str_eq(cfg->proxy.xds_address,
	    "mesh-control-plane.mesh-system.svc:15010");
	ck_assert_str_eq(cfg->proxy.log_level, "warning");
	ck_assert_str_eq(cfg->proxy.cpu_request, "100m");
	ck_assert_str_eq(cfg->proxy.memory_request, "128Mi");
	ck_assert_ptr_null(cfg->proxy.cpu_limit);
	ck_assert_str_eq(cfg->proxy.memory_limit, "512Mi");
	ck_assert_str_eq(cfg->init_image, "meshinject/meshinject:0.1.0");
	ck_assert_str_eq(cfg->mtls_mode, "STRICT");
	ck_assert_str_eq(cfg->mtls_token_audience, "mesh");

	ck_assert_uint_eq(cfg->n_stages, 4);
	ck_assert_str_eq(cfg->stages[0].name, "off");
	ck_assert_str_eq(cfg->stages[1].name, "observe");
	ck_assert_str_eq(cfg->stages[2].name, "traffic");
	ck_assert_str_eq(cfg->stages[3].name, "mtls");
	ck_assert_uint_eq(cfg->stages[0].features, 0);
	ck_assert_uint_eq(cfg->stages[1].features, FEATURE_BIT(FEATURE_OBSERVE));
	ck_assert_uint_eq(cfg->stages[2].features,
	    FEATURE_BIT(FEATURE_PROXY) | FEATURE_BIT(FEATURE_REDIRECT));
	st = config_stage(cfg, "mtls");
	ck_assert_ptr_eq(st, &cfg->stages[3]);
	ck_assert_uint_eq(st->features, FEATURE_BIT(FEATURE_PROXY) |
	    FEATURE_BIT(FEATURE_REDIRECT) | FEATURE_BIT(FEATURE_MTLS) |
	    FEATURE_BIT(FEATURE_PROBE_REWRITE));
	ck_assert(!st->enforce);
	ck_assert_int_eq(st->rollout_percent, 100);
	ck_assert_str_eq(st->rollout_fallback, "traffic");
	/* fallback defaults: the previous stage; none before the first */
	ck_assert_ptr_null(cfg->stages[0].rollout_fallback);
	ck_assert_str_eq(cfg->stages[1].rollout_fallback, "off");
	ck_assert_str_eq(cfg->stages[2].rollout_fallback, "observe");
	ck_assert_int_eq(cfg->stages[0].rollout_percent, 100);
	/* each stage has the global proxy settings */
	ck_assert_str_eq(st->proxy.image, "envoyproxy/envoy:v1.32.3");
	ck_assert_int_eq(st->proxy.port_status, 15021);
	ck_assert_str_eq(st->proxy.memory_limit, "512Mi");
	ck_assert_ptr_null(config_stage(cfg, "nope"));
	ck_assert_ptr_null(config_stage(cfg, NULL));

	ck_assert_uint_eq(strlen(cfg->hash), 16);
	ck_assert_uint_eq(strspn(cfg->hash, "0123456789abcdef"), 16);
	config_free(cfg);
}
END_TEST

START_TEST(default_text_and_empty_file)
{
	struct config *def, *a, *b, *c;

	def = config_load_default(&errs);
	ck_assert_ptr_nonnull(def);
	/* the default loaded as a user file, an empty file and a comment-only
	 * file all mean the default */
	a = load_ok(config_default_yaml);
	b = load_ok("");
	c = load_ok("# nothing to change\n---\n");
	ck_assert_str_eq(a->hash, def->hash);
	ck_assert_str_eq(b->hash, def->hash);
	ck_assert_str_eq(c->hash, def->hash);
	config_free(def);
	config_free(a);
	config_free(b);
	config_free(c);
	config_free(NULL);
}
END_TEST

START_TEST(features)
{
	int f;

	for (f = 0; f < FEATURE_COUNT; f++) {
		ck_assert_ptr_nonnull(feature_name((enum feature)f));
		ck_assert_int_eq(feature_parse(feature_name((enum feature)f)), f);
	}
	ck_assert_str_eq(feature_name(FEATURE_NATIVE_SIDECAR), "native-sidecar");
	ck_assert_str_eq(feature_name(FEATURE_HOLD_APP), "hold-app");
	ck_assert_str_eq(feature_name(FEATURE_PROBE_REWRITE), "probe-rewrite");
	ck_assert_str_eq(feature_name(FEATURE_METRICS_MERGE), "metrics-merge");
	ck_assert_int_eq(feature_parse("cni"), FEATURE_CNI);
	ck_assert_int_eq(feature_parse("observe"), FEATURE_OBSERVE);
	ck_assert_ptr_null(feature_name(FEATURE_COUNT));
	ck_assert_ptr_null(feature_name((enum feature)-1));
	ck_assert_int_eq(feature_parse("Proxy"), -1);
	ck_assert_int_eq(feature_parse(""), -1);
	ck_assert_int_eq(feature_parse(NULL), -1);
}
END_TEST

/* ---- merging ---- */

START_TEST(partial_overrides_only_its_keys)
{
	struct config *cfg;

	cfg = load_ok("proxy:\n"
	    "  image: my/envoy:1\n"
	    "  ports: {status: 16021}\n"
	    "  resources: {limits: {cpu: \"2\"}}\n"
	    "allowImageOverride: true\n");
	ck_assert_str_eq(cfg->proxy.image, "my/envoy:1");
	ck_assert_int_eq(cfg->proxy.port_status, 16021);
	ck_assert_int_eq(cfg->proxy.port_admin, 15000);
	ck_assert_int_eq(cfg->proxy.port_metrics, 15090);
	ck_assert_int_eq(cfg->proxy.uid, 1337);
	ck_assert_str_eq(cfg->proxy.log_level, "warning");
	ck_assert_str_eq(cfg->proxy.cpu_request, "100m");
	ck_assert_str_eq(cfg->proxy.cpu_limit, "2");
	ck_assert_str_eq(cfg->proxy.memory_limit, "512Mi");
	ck_assert(cfg->allow_image_override);
	ck_assert_str_eq(cfg->default_stage, "off");
	ck_assert_str_eq(cfg->mtls_mode, "STRICT");
	ck_assert_uint_eq(cfg->n_stages, 4);
	/* stages take the new global proxy settings */
	ck_assert_str_eq(cfg->stages[2].proxy.image, "my/envoy:1");
	ck_assert_int_eq(cfg->stages[3].proxy.port_status, 16021);
	config_free(cfg);
}
END_TEST

START_TEST(lists_replace)
{
	struct config *cfg;

	cfg = load_ok("ignoredNamespaces: [tools]\n");
	ck_assert_uint_eq(cfg->n_ignored_namespaces, 1);
	ck_assert_str_eq(cfg->ignored_namespaces[0], "tools");
	ck_assert(!config_namespace_ignored(cfg, "kube-system"));
	config_free(cfg);
	cfg = load_ok("ignoredNamespaces: []\n");
	ck_assert_uint_eq(cfg->n_ignored_namespaces, 0);
	config_free(cfg);
}
END_TEST

START_TEST(null_map_keeps_default)
{
	struct config *cfg;

	/* `proxy:` with every key commented out */
	cfg = load_ok("proxy:\n  # image: x\nmtls: ~\n");
	ck_assert_str_eq(cfg->proxy.image, "envoyproxy/envoy:v1.32.3");
	ck_assert_str_eq(cfg->mtls_mode, "STRICT");
	config_free(cfg);
}
END_TEST

START_TEST(resource_null_unsets)
{
	struct config *cfg;

	cfg = load_ok("proxy:\n"
	    "  resources:\n"
	    "    requests: {cpu: null, memory: 64Mi}\n"
	    "    limits: {memory: ~}\n");
	ck_assert_ptr_null(cfg->proxy.cpu_request);
	ck_assert_str_eq(cfg->proxy.memory_request, "64Mi");
	ck_assert_ptr_null(cfg->proxy.memory_limit);
	ck_assert_ptr_null(cfg->stages[3].proxy.memory_limit);
	config_free(cfg);
}
END_TEST

START_TEST(stage_replaced_whole)
{
	struct config *cfg;
	const struct stage *st;

	cfg = load_ok("stages:\n"
	    "  mtls:\n"
	    "    features: [proxy, mtls]\n"
	    "    enforce: true\n");
	ck_assert_uint_eq(cfg->n_stages, 4);
	st = &cfg->stages[3];
	ck_assert_str_eq(st->name, "mtls");
	ck_assert_uint_eq(st->features,
	    FEATURE_BIT(FEATURE_PROXY) | FEATURE_BIT(FEATURE_MTLS));
	ck_assert(st->enforce);
	/* the default's rollout is gone with the rest of the stage */
	ck_assert_int_eq(st->rollout_percent, 100);
	ck_assert_str_eq(st->rollout_fallback, "traffic");
	/* the other stages are untouched */
	ck_assert_str_eq(cfg->stages[2].name, "traffic");
	ck_assert_uint_eq(cfg->stages[2].features,
	    FEATURE_BIT(FEATURE_PROXY) | FEATURE_BIT(FEATURE_REDIRECT));
	ck_assert_uint_eq(cfg->stages[1].features, FEATURE_BIT(FEATURE_OBSERVE));
	config_free(cfg);
}
END_TEST

START_TEST(new_stages_appended_in_order)
{
	struct config *cfg;

	cfg = load_ok("stages:\n"
	    "  traffic-native: {features: [proxy, redirect, native-sidecar]}\n"
	    "  observe: {features: [observe, metrics-merge]}\n"
	    "  canary:\n"
	    "    features: [proxy, redirect, mtls, hold-app]\n"
	    "    rollout: {percent: 20}\n"
	    "  cni-mtls:\n"
	    "    features: [proxy, cni, mtls]\n"
	    "    rollout: {percent: 50, fallback: traffic}\n"
	    "defaultStage: canary\n");
	ck_assert_uint_eq(cfg->n_stages, 7);
	ck_assert_str_eq(cfg->stages[0].name, "off");
	ck_assert_str_eq(cfg->stages[1].name, "observe");
	ck_assert_uint_eq(cfg->stages[1].features,
	    FEATURE_BIT(FEATURE_OBSERVE) | FEATURE_BIT(FEATURE_METRICS_MERGE));
	ck_assert_str_eq(cfg->stages[2].name, "traffic");
	ck_assert_str_eq(cfg->stages[3].name, "mtls");
	ck_assert_str_eq(cfg->stages[4].name, "traffic-native");
	ck_assert_str_eq(cfg->stages[5].name, "canary");
	ck_assert_str_eq(cfg->stages[6].name, "cni-mtls");
	ck_assert_str_eq(cfg->stages[4].rollout_fallback, "mtls");
	ck_assert_int_eq(cfg->stages[5].rollout_percent, 20);
	ck_assert_str_eq(cfg->stages[5].rollout_fallback, "traffic-native");
	ck_assert_int_eq(cfg->stages[6].rollout_percent, 50);
	ck_assert_str_eq(cfg->stages[6].rollout_fallback, "traffic");
	ck_assert_str_eq(cfg->default_stage, "canary");
	ck_assert_uint_eq(cfg->stages[4].features & FEATURE_BIT(FEATURE_NATIVE_SIDECAR),
	    FEATURE_BIT(FEATURE_NATIVE_SIDECAR));
	config_free(cfg);
}
END_TEST

START_TEST(stage_proxy_merged_over_global)
{
	struct config *cfg;
	const struct stage *st;

	cfg = load_ok("proxy: {logLevel: error}\n"
	    "stages:\n"
	    "  debug:\n"
	    "    features: [proxy, redirect]\n"
	    "    proxy:\n"
	    "      logLevel: debug\n"
	    "      uid: 2000\n"
	    "      ports: {status: 16021}\n"
	    "      resources: {requests: {cpu: ~}, limits: {cpu: \"1\"}}\n");
	st = config_stage(cfg, "debug");
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(st->proxy.log_level, "debug");
	ck_assert_int_eq(st->proxy.uid, 2000);
	ck_assert_int_eq(st->proxy.port_status, 16021);
	ck_assert_int_eq(st->proxy.port_admin, 15000);
	ck_assert_ptr_null(st->proxy.cpu_request);
	ck_assert_str_eq(st->proxy.cpu_limit, "1");
	ck_assert_str_eq(st->proxy.memory_request, "128Mi");
	ck_assert_str_eq(st->proxy.image, "envoyproxy/envoy:v1.32.3");
	/* the global proxy and the other stages are unaffected */
	ck_assert_str_eq(cfg->proxy.log_level, "error");
	ck_assert_int_eq(cfg->proxy.uid, 1337);
	ck_assert_str_eq(cfg->proxy.cpu_request, "100m");
	ck_assert_str_eq(cfg->stages[2].proxy.log_level, "error");
	ck_assert_int_eq(cfg->stages[2].proxy.port_status, 15021);
	config_free(cfg);
}
END_TEST

START_TEST(fixture_file)
{
	char path[512];
	struct config *cfg;

	snprintf(path, sizeof(path), "%s/partial.yaml", fixture_dir());
	cfg = config_load_file(path, &errs);
	ck_assert_msg(cfg != NULL, "%s: %s", path,
	    errs.count ? errs.msgs[0] : "?");
	ck_assert_str_eq(cfg->proxy.image, "registry.example.com/envoy:v1.33.0");
	ck_assert_str_eq(cfg->proxy.log_level, "info");
	ck_assert_uint_eq(cfg->n_stages, 5);
	ck_assert_str_eq(cfg->stages[4].name, "traffic-native");
	ck_assert_int_eq(cfg->stages[4].rollout_percent, 20);
	ck_assert_str_eq(cfg->stages[4].rollout_fallback, "mtls");
	config_free(cfg);
}
END_TEST

/* Every tests/config/NAME.yaml with a NAME.errors beside it must fail with
 * exactly those lines (the expected file names fixtures by their path from
 * the repository root; only the part from NAME.yaml on is compared). */
START_TEST(fixture_file_errors)
{
	char pattern[512], yaml[512], line[1024], base[520];
	struct config *cfg;
	glob_t g;
	FILE *f;
	size_t i, k, len, n_lines;
	const char *slash;

	snprintf(pattern, sizeof(pattern), "%s/*.errors", fixture_dir());
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
	ck_assert_uint_ge(g.gl_pathc, 3);
	for (k = 0; k < g.gl_pathc; k++) {
		len = strlen(g.gl_pathv[k]) - strlen(".errors");
		snprintf(yaml, sizeof(yaml), "%.*s.yaml", (int)len,
		    g.gl_pathv[k]);
		slash = strrchr(yaml, '/');
		snprintf(base, sizeof(base), "%s:", slash ? slash + 1 : yaml);
		config_errors_clear(&errs);
		cfg = config_load_file(yaml, &errs);
		ck_assert_msg(cfg == NULL, "%s loaded", yaml);
		f = fopen(g.gl_pathv[k], "r");
		ck_assert_ptr_nonnull(f);
		n_lines = 0;
		for (i = 0; fgets(line, sizeof(line), f) != NULL; i++) {
			len = strlen(line);
			if (len > 0 && line[len - 1] == '\n')
				line[len - 1] = '\0';
			ck_assert_msg(i < errs.count, "%s: missing \"%s\"", yaml,
			    line);
			ck_assert_ptr_nonnull(strstr(errs.msgs[i], base));
			ck_assert_ptr_nonnull(strstr(line, base));
			ck_assert_str_eq(strstr(errs.msgs[i], base),
			    strstr(line, base));
			n_lines++;
		}
		fclose(f);
		ck_assert_msg(n_lines == errs.count, "%s: unexpected \"%s\"",
		    yaml, errs.count > n_lines ? errs.msgs[n_lines] : "");
	}
	globfree(&g);
}
END_TEST

/* ---- error messages ---- */

START_TEST(error_unknown_keys)
{
	EXPECT_ERRORS("proxy:\n"
	    "  image: x/y:1\n"
	    "  imagee: x/y:1\n"
	    "  ports: {admin: 15000, stats: 1}\n"
	    "stage: {}\n"
	    "stages:\n"
	    "  traffic: {features: [proxy], rolout: {}}\n",
	    "cfg.yaml:3: proxy.imagee: unknown key",
	    "cfg.yaml:4: proxy.ports.stats: unknown key",
	    "cfg.yaml:5: stage: unknown key",
	    "cfg.yaml:7: stages.traffic.rolout: unknown key");
}
END_TEST

START_TEST(error_values)
{
	EXPECT_ERROR("proxy:\n  logLevel: loud\n",
	    "cfg.yaml:2: proxy.logLevel: \"loud\" is not a log level (trace, "
	    "debug, info, warning, error, critical, off)");
	EXPECT_ERROR("mtls: {mode: strict}\n",
	    "cfg.yaml:1: mtls.mode: \"strict\" is not an mTLS mode (STRICT or "
	    "PERMISSIVE)");
	EXPECT_ERROR("proxy: {xdsAddress: control-plane}\n",
	    "cfg.yaml:1: proxy.xdsAddress: \"control-plane\" is not host:port");
	EXPECT_ERROR("proxy: {xdsAddress: \"cp:0\"}\n",
	    "cfg.yaml:1: proxy.xdsAddress: \"cp:0\" is not host:port");
	EXPECT_ERROR("proxy: {image: \"\"}\n",
	    "cfg.yaml:1: proxy.image: must not be empty");
	EXPECT_ERROR("proxy: {image: \"envoy latest\"}\n",
	    "cfg.yaml:1: proxy.image: \"envoy latest\" is not an image reference");
	EXPECT_ERROR("allowImageOverride: yes\n",
	    "cfg.yaml:1: allowImageOverride: \"yes\" is not a boolean (true or "
	    "false)");
	EXPECT_ERROR("allowImageOverride: \"true\"\n",
	    "cfg.yaml:1: allowImageOverride: expected true or false, got the "
	    "string \"true\"");
	EXPECT_ERROR("defaultStage: mesh\n",
	    "cfg.yaml:1: defaultStage: \"mesh\" is not a stage (off, observe, "
	    "traffic, mtls)");
	EXPECT_ERROR("ignoredNamespaces: [ok, Not_A_Namespace]\n",
	    "cfg.yaml:1: ignoredNamespaces: \"Not_A_Namespace\" is not a "
	    "namespace name");
	EXPECT_ERROR("ignoredNamespaces: [a, b, a]\n",
	    "cfg.yaml:1: ignoredNamespaces: \"a\" is listed twice");
}
END_TEST

START_TEST(error_quantities)
{
	static const char *const good[] = {
		"100m", "128Mi", "1", "0.5", "1e3", "2Gi", ".5", "1E", "1Ei",
		"500u", "2k", "1.5G", "1E-3", "+1",
	};
	static const char *const bad[] = {
		"1x", "-1", "Mi", "1 Gi", "1.2.3", "1e", "1ki", "m", "1Mi1",
		"0x10",
	};
	char yaml[256], want[256];
	struct config *cfg;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(yaml, sizeof(yaml),
		    "proxy:\n  resources:\n    requests: {cpu: ~}\n"
		    "    limits: {cpu: \"%s\"}\n", good[i]);
		cfg = load_ok(yaml);
		ck_assert_str_eq(cfg->proxy.cpu_limit, good[i]);
		config_free(cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml),
		    "proxy:\n  resources:\n    limits: {memory: \"%s\"}\n", bad[i]);
		snprintf(want, sizeof(want), "cfg.yaml:3: "
		    "proxy.resources.limits.memory: \"%s\" is not a quantity "
		    "(like 100m, 0.5, 128Mi, 1Gi)", bad[i]);
		{
			const char *w[1] = { want };

			expect_errors(yaml, w, 1);
		}
	}
}
END_TEST

START_TEST(error_stages)
{
	EXPECT_ERROR("stages:\n  x:\n    features: [prxy]\n",
	    "cfg.yaml:3: stages.x.features: \"prxy\" is not a feature (proxy, "
	    "redirect, cni, mtls, native-sidecar, hold-app, probe-rewrite, "
	    "metrics-merge, observe)");
	EXPECT_ERROR("stages:\n  x: {features: [proxy, proxy]}\n",
	    "cfg.yaml:2: stages.x.features: \"proxy\" is listed twice");
	EXPECT_ERROR("stages:\n  x: {enforce: true}\n",
	    "cfg.yaml:2: stages.x.features: missing (a stage that the file "
	    "defines replaces the default one whole and must list its "
	    "features, [] for none)");
	EXPECT_ERROR("stages:\n  Traffic_2: {features: []}\n",
	    "cfg.yaml:2: stages.Traffic_2: \"Traffic_2\" is not a stage name "
	    "(lowercase letters, digits and '-', starting and ending with a "
	    "letter or digit, at most 63)");
	EXPECT_ERROR("stages:\n  -x: {features: []}\n",
	    "cfg.yaml:2: stages.-x: \"-x\" is not a stage name (lowercase "
	    "letters, digits and '-', starting and ending with a letter or "
	    "digit, at most 63)");
	EXPECT_ERROR("stages:\n  mtls:\n    features: [proxy]\n"
	    "    rollout: {percent: 50, fallback: mtls}\n",
	    "cfg.yaml:4: stages.mtls.rollout.fallback: \"mtls\" is the stage "
	    "itself");
	EXPECT_ERROR("stages:\n  x:\n    features: [proxy]\n"
	    "    rollout:\n      fallback: nowhere\n",
	    "cfg.yaml:5: stages.x.rollout.fallback: \"nowhere\" is not a stage "
	    "(off, observe, traffic, mtls, x)");
	EXPECT_ERROR("stages:\n  x:\n    features: [proxy]\n"
	    "    proxy: {logLevel: chatty}\n",
	    "cfg.yaml:4: stages.x.proxy.logLevel: \"chatty\" is not a log level "
	    "(trace, debug, info, warning, error, critical, off)");
	EXPECT_ERROR("stages:\n  x:\n    features: [proxy]\n"
	    "    proxy: {ports: {admin: 15001}}\n",
	    "cfg.yaml:4: stages.x.proxy.ports.admin: 15001 is also the outbound "
	    "port (the proxy's ports must all differ)");
	EXPECT_ERROR("stages:\n  \"off\":\n    features: []\n"
	    "    rollout: {percent: 10}\n",
	    "cfg.yaml:2: stages.off.rollout.fallback: missing: the first stage "
	    "has no previous stage to fall back to");
}
END_TEST

START_TEST(error_requests_over_limits)
{
	struct config *cfg;

	EXPECT_ERRORS("proxy:\n"
	    "  resources:\n"
	    "    requests: {cpu: \"2\", memory: 1Gi}\n"
	    "    limits: {cpu: 1500m}\n",
	    "cfg.yaml:3: proxy.resources.requests.cpu: \"2\" is more than the "
	    "cpu limit \"1500m\"",
	    "cfg.yaml:3: proxy.resources.requests.memory: \"1Gi\" is more than "
	    "the memory limit \"512Mi\"");
	EXPECT_ERROR("stages:\n  x:\n    features: []\n"
	    "    proxy: {resources: {limits: {memory: 100Mi}}}\n",
	    "cfg.yaml:4: stages.x.proxy.resources.limits.memory: \"100Mi\" is "
	    "less than the memory request \"128Mi\"");
	/* equal is fine, and units are compared by value */
	cfg = load_ok("proxy:\n  resources:\n"
	    "    requests: {cpu: 500m, memory: 0.5Gi}\n"
	    "    limits: {cpu: \"0.5\", memory: 512Mi}\n");
	config_free(cfg);
	cfg = load_ok("proxy: {resources: {limits: {cpu: 1e3, memory: 1G}}}\n");
	config_free(cfg);
	/* pointed at the file's side when the other is the default's */
	EXPECT_ERROR("proxy:\n  resources:\n    limits: {cpu: 10m}\n",
	    "cfg.yaml:3: proxy.resources.limits.cpu: \"10m\" is less than the "
	    "cpu request \"100m\"");
}
END_TEST

START_TEST(error_fallback_loop)
{
	struct config *cfg;

	EXPECT_ERROR("stages:\n"
	    "  a:\n    features: []\n    rollout: {percent: 10, fallback: b}\n"
	    "  b:\n    features: []\n    rollout: {percent: 10, fallback: a}\n",
	    "cfg.yaml:4: stages.a.rollout.fallback: partial rollouts fall back "
	    "in a loop (a -> b -> a)");
	/* a full stage ends the chain: no loop */
	cfg = load_ok("stages:\n"
	    "  a:\n    features: []\n    rollout: {percent: 10, fallback: b}\n"
	    "  b:\n    features: []\n    rollout: {fallback: a}\n");
	ck_assert_str_eq(cfg->stages[5].rollout_fallback, "a");
	config_free(cfg);
}
END_TEST

START_TEST(validators)
{
	ck_assert(config_valid_quantity("100m"));
	ck_assert(config_valid_quantity("128Mi"));
	ck_assert(config_valid_quantity("1e3"));
	ck_assert(!config_valid_quantity("-1"));
	ck_assert(!config_valid_quantity(""));
	ck_assert(!config_valid_quantity("1 Gi"));
	ck_assert(!config_valid_quantity(NULL));
	ck_assert(config_valid_log_level("warning"));
	ck_assert(config_valid_log_level("off"));
	ck_assert(!config_valid_log_level("warn"));
	ck_assert(!config_valid_log_level("DEBUG"));
	ck_assert(!config_valid_log_level(NULL));
	ck_assert(config_valid_image("envoyproxy/envoy:v1.32.3"));
	ck_assert(config_valid_image("reg.example.com:5000/a/b@sha256:abcd"));
	ck_assert(!config_valid_image(""));
	ck_assert(!config_valid_image("envoy latest"));
	ck_assert(!config_valid_image("envoy\n"));
	ck_assert(!config_valid_image(NULL));
}
END_TEST

START_TEST(error_wrong_types)
{
	EXPECT_ERRORS("proxy:\n"
	    "  image: {name: envoy}\n"
	    "  ports: 15000\n"
	    "  uid: \"1337\"\n"
	    "  resources: [cpu]\n"
	    "init: [image]\n"
	    "ignoredNamespaces: kube-system\n"
	    "stages:\n"
	    "  x: [proxy]\n"
	    "  y: {features: proxy}\n"
	    "  z: {features: [[proxy]], enforce: [true]}\n"
	    "  w: ~\n",
	    "cfg.yaml:2: proxy.image: expected a string, got a map",
	    "cfg.yaml:3: proxy.ports: expected a map, got \"15000\"",
	    "cfg.yaml:4: proxy.uid: expected a number, got the string \"1337\"",
	    "cfg.yaml:5: proxy.resources: expected a map, got a list",
	    "cfg.yaml:6: init: expected a map, got a list",
	    "cfg.yaml:7: ignoredNamespaces: expected a list, got \"kube-system\"",
	    "cfg.yaml:9: stages.x: expected a map, got a list",
	    "cfg.yaml:10: stages.y.features: expected a list, got \"proxy\"",
	    "cfg.yaml:11: stages.z.features: expected a feature name, got a list",
	    "cfg.yaml:11: stages.z.enforce: expected true or false, got a list",
	    "cfg.yaml:12: stages.w: expected a map, got nothing (null)");
	EXPECT_ERROR("- a\n- b\n",
	    "cfg.yaml:1: the config must be a map of keys, not a list");
	EXPECT_ERROR("just a string\n",
	    "cfg.yaml:1: the config must be a map of keys, not a single value");
	EXPECT_ERROR("stages: [off, traffic]\n",
	    "cfg.yaml:1: stages: expected a map, got a list");
	EXPECT_ERROR("defaultStage: ~\n",
	    "cfg.yaml:1: defaultStage: must not be empty");
}
END_TEST

START_TEST(error_many_at_once)
{
	/* every problem, in line order, not just the first */
	EXPECT_ERRORS("defaultStage: nope\n"
	    "proxy:\n"
	    "  uid: -1\n"
	    "  ports:\n"
	    "    status: 70000\n"
	    "    admin: 0\n"
	    "  logLevel: loud\n"
	    "mtls:\n"
	    "  mode: lax\n"
	    "stages:\n"
	    "  mtls:\n"
	    "    features: [proxy, prxy]\n"
	    "    rollout: {percent: 101, fallback: nope}\n",
	    "cfg.yaml:1: defaultStage: \"nope\" is not a stage (off, observe, "
	    "traffic, mtls)",
	    "cfg.yaml:3: proxy.uid: \"-1\" is not a UID (1-2147483646)",
	    "cfg.yaml:5: proxy.ports.status: \"70000\" is not a port (1-65535)",
	    "cfg.yaml:6: proxy.ports.admin: \"0\" is not a port (1-65535)",
	    "cfg.yaml:7: proxy.logLevel: \"loud\" is not a log level (trace, "
	    "debug, info, warning, error, critical, off)",
	    "cfg.yaml:9: mtls.mode: \"lax\" is not an mTLS mode (STRICT or "
	    "PERMISSIVE)",
	    "cfg.yaml:12: stages.mtls.features: \"prxy\" is not a feature (proxy, "
	    "redirect, cni, mtls, native-sidecar, hold-app, probe-rewrite, "
	    "metrics-merge, observe)",
	    "cfg.yaml:13: stages.mtls.rollout.percent: \"101\" is not a "
	    "percentage (0-100)",
	    "cfg.yaml:13: stages.mtls.rollout.fallback: \"nope\" is not a stage "
	    "(off, observe, traffic, mtls)");
}
END_TEST

START_TEST(error_duplicate_keys)
{
	EXPECT_ERRORS("proxy:\n"
	    "  image: a/b:1\n"
	    "  uid: 1\n"
	    "  image: a/b:2\n"
	    "proxy: {}\n",
	    "cfg.yaml:4: proxy.image: duplicate key (first on line 2)",
	    "cfg.yaml:5: proxy: duplicate key (first on line 1)");
	EXPECT_ERROR("stages:\n"
	    "  x: {features: []}\n"
	    "  y: {features: [], features: [proxy]}\n",
	    "cfg.yaml:3: stages.y.features: duplicate key (first on line 3)");
}
END_TEST

START_TEST(error_yaml)
{
	EXPECT_ERROR("proxy:\n  image: [x\n",
	    "cfg.yaml:3: proxy.image: YAML syntax error: did not find expected "
	    "',' or ']' while parsing a flow sequence");
	EXPECT_ERROR("base: &b {image: x}\nproxy: *b\n",
	    "cfg.yaml:1: base: anchors and aliases are not supported");
	EXPECT_ERROR("proxy: {image: !!binary aGVsbG8=}\n",
	    "cfg.yaml:1: proxy.image: YAML tags are not supported");
	EXPECT_ERROR("proxy: {}\n---\nproxy: {}\n",
	    "cfg.yaml:2: more than one YAML document");
	EXPECT_ERROR("? [a]\n: b\n",
	    "cfg.yaml:1: a key must be a string, not a list");
}
END_TEST

START_TEST(error_unreadable_file)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/does-not-exist.yaml", fixture_dir());
	ck_assert_ptr_null(config_load_file(path, &errs));
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(strchr(errs.msgs[0], ':'),
	    ": cannot open: No such file or directory");
	ck_assert(strncmp(errs.msgs[0], path, strlen(path)) == 0);
	config_errors_clear(&errs);
	ck_assert_ptr_null(config_load_file(fixture_dir(), &errs));
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], ": cannot read: Is a directory"));
}
END_TEST

START_TEST(errors_append_and_clear)
{
	ck_assert_ptr_null(config_load_buffer("a.yaml", "x: 1\n", 5, &errs));
	ck_assert_ptr_null(config_load_buffer("b.yaml", "y: 1\n", 5, &errs));
	ck_assert_uint_eq(errs.count, 2);
	ck_assert_str_eq(errs.msgs[0], "a.yaml:1: x: unknown key");
	ck_assert_str_eq(errs.msgs[1], "b.yaml:1: y: unknown key");
	config_errors_clear(&errs);
	ck_assert_uint_eq(errs.count, 0);
	ck_assert_ptr_null(errs.msgs);
	config_errors_clear(&errs);
	/* errs may be NULL when the caller does not want the messages */
	ck_assert_ptr_null(config_load_buffer("c.yaml", "x: 1\n", 5, NULL));
}
END_TEST

/* ---- bounds ---- */

START_TEST(bounds_ports)
{
	struct config *cfg;

	EXPECT_ERROR("proxy: {ports: {status: 0}}\n",
	    "cfg.yaml:1: proxy.ports.status: \"0\" is not a port (1-65535)");
	EXPECT_ERROR("proxy: {ports: {status: 65536}}\n",
	    "cfg.yaml:1: proxy.ports.status: \"65536\" is not a port (1-65535)");
	EXPECT_ERROR("proxy: {ports: {status: -15021}}\n",
	    "cfg.yaml:1: proxy.ports.status: \"-15021\" is not a port (1-65535)");
	EXPECT_ERROR("proxy: {ports: {status: 15021.5}}\n",
	    "cfg.yaml:1: proxy.ports.status: \"15021.5\" is not a port (1-65535)");
	EXPECT_ERROR("proxy: {ports: {status: 99999999999999999999999}}\n",
	    "cfg.yaml:1: proxy.ports.status: \"99999999999999999999999\" is not "
	    "a port (1-65535)");
	EXPECT_ERROR("proxy:\n  ports:\n    status: 15000\n",
	    "cfg.yaml:3: proxy.ports.status: 15000 is also the admin port (the "
	    "proxy's ports must all differ)");
	cfg = load_ok("proxy: {ports: {admin: 1, status: 65535}}\n");
	ck_assert_int_eq(cfg->proxy.port_admin, 1);
	ck_assert_int_eq(cfg->proxy.port_status, 65535);
	config_free(cfg);
}
END_TEST

START_TEST(bounds_percent)
{
	struct config *cfg;

	EXPECT_ERROR("stages:\n  mtls:\n    features: []\n"
	    "    rollout: {percent: 101}\n",
	    "cfg.yaml:4: stages.mtls.rollout.percent: \"101\" is not a "
	    "percentage (0-100)");
	EXPECT_ERROR("stages:\n  mtls:\n    features: []\n"
	    "    rollout: {percent: -1}\n",
	    "cfg.yaml:4: stages.mtls.rollout.percent: \"-1\" is not a "
	    "percentage (0-100)");
	cfg = load_ok("stages:\n  mtls:\n    features: []\n"
	    "    rollout: {percent: 0}\n");
	ck_assert_int_eq(cfg->stages[3].rollout_percent, 0);
	ck_assert_str_eq(cfg->stages[3].rollout_fallback, "traffic");
	config_free(cfg);
}
END_TEST

START_TEST(bounds_uid)
{
	struct config *cfg;

	EXPECT_ERROR("proxy: {uid: -1}\n",
	    "cfg.yaml:1: proxy.uid: \"-1\" is not a UID (1-2147483646)");
	EXPECT_ERROR("proxy: {uid: 2147483648}\n",
	    "cfg.yaml:1: proxy.uid: \"2147483648\" is not a UID (1-2147483646)");
	EXPECT_ERROR("proxy: {uid: 02471}\n",
	    "cfg.yaml:1: proxy.uid: \"02471\" has a leading zero (octal in "
	    "YAML 1.1); write it without");
	EXPECT_ERROR("proxy: {uid: 0x539}\n",
	    "cfg.yaml:1: proxy.uid: \"0x539\" is not a UID (1-2147483646)");
	EXPECT_ERROR("proxy: {uid: ~}\n",
	    "cfg.yaml:1: proxy.uid: expected a number, got nothing (null)");
	/* 0 would be root under runAsNonRoot; the last UID leaves no room
	 * for the cni check container's uid + 1. */
	EXPECT_ERROR("proxy: {uid: 0}\n",
	    "cfg.yaml:1: proxy.uid: \"0\" is not a UID (1-2147483646)");
	EXPECT_ERROR("proxy: {uid: 2147483647}\n",
	    "cfg.yaml:1: proxy.uid: \"2147483647\" is not a UID (1-2147483646)");
	cfg = load_ok("proxy: {uid: 2147483646}\n");
	ck_assert_int_eq(cfg->proxy.uid, 2147483646L);
	config_free(cfg);
	cfg = load_ok("proxy: {uid: 1}\n");
	ck_assert_int_eq(cfg->proxy.uid, 1);
	config_free(cfg);
}
END_TEST

/* ---- the hash ---- */

START_TEST(hash_equivalent_files)
{
	struct config *def, *cfg;
	char path[512];

	def = config_load_default(&errs);
	ck_assert_ptr_nonnull(def);
	snprintf(path, sizeof(path), "%s/equivalent.yaml", fixture_dir());
	cfg = config_load_file(path, &errs);
	ck_assert_msg(cfg != NULL, "%s", errs.count ? errs.msgs[0] : "?");
	ck_assert_str_eq(cfg->hash, def->hash);
	config_free(cfg);
	/* the same value spelled differently */
	cfg = load_ok("proxy: {uid: +1337, logLevel: 'warning'}\n"
	    "stages: {observe: {features: [observe], enforce: false,"
	    " rollout: {percent: 100, fallback: \"off\"}}}\n");
	ck_assert_str_eq(cfg->hash, def->hash);
	config_free(cfg);
	config_free(def);
}
END_TEST

START_TEST(hash_changes_with_meaning)
{
	static const char *const changes[] = {
		"defaultStage: traffic\n",
		"ignoredNamespaces: [kube-system]\n",
		"allowImageOverride: true\n",
		"proxy: {image: envoyproxy/envoy:v1.32.4}\n",
		"proxy: {uid: 1338}\n",
		"proxy: {ports: {metrics: 15091}}\n",
		"proxy: {xdsAddress: \"cp:15010\"}\n",
		"proxy: {logLevel: info}\n",
		"proxy: {resources: {limits: {cpu: \"1\"}}}\n",
		"proxy: {resources: {requests: {cpu: ~}}}\n",
		"init: {image: meshinject/meshinject:0.1.1}\n",
		"mtls: {mode: PERMISSIVE}\n",
		"mtls: {tokenAudience: other}\n",
		"stages: {mtls: {features: [proxy, redirect, mtls]}}\n",
		"stages: {mtls: {features: [proxy, redirect, mtls, probe-rewrite],"
		    " enforce: true}}\n",
		"stages: {mtls: {features: [proxy, redirect, mtls, probe-rewrite],"
		    " rollout: {percent: 99}}}\n",
		"stages: {mtls: {features: [proxy, redirect, mtls, probe-rewrite],"
		    " rollout: {fallback: observe}}}\n",
		"stages: {mtls: {features: [proxy, redirect, mtls, probe-rewrite],"
		    " proxy: {logLevel: debug}}}\n",
		"stages: {extra: {features: []}}\n",
	};
	struct config *def, *cfg;
	char seen[sizeof(changes) / sizeof(changes[0])][17];
	size_t i, j;

	def = config_load_default(&errs);
	ck_assert_ptr_nonnull(def);
	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		cfg = load_ok(changes[i]);
		ck_assert_msg(strcmp(cfg->hash, def->hash) != 0,
		    "same hash as the default for: %s", changes[i]);
		memcpy(seen[i], cfg->hash, sizeof(seen[i]));
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(seen[i], seen[j]) != 0,
			    "same hash for %s and %s", changes[i], changes[j]);
		config_free(cfg);
	}
	/* the set of ignored namespaces, not their order, is what counts */
	cfg = load_ok("ignoredNamespaces: [kube-public, kube-node-lease, "
	    "kube-system]\n");
	ck_assert_str_eq(cfg->hash, def->hash);
	config_free(cfg);
	config_free(def);
}
END_TEST

/* ---- limits ---- */

START_TEST(limit_size)
{
	size_t len = 1024 * 1024 + 1;
	char *big = malloc(len + 1);
	char want[128];

	ck_assert_ptr_nonnull(big);
	memset(big, '#', len);
	big[len] = '\0';
	ck_assert_ptr_null(config_load_buffer("big.yaml", big, len, &errs));
	ck_assert_uint_eq(errs.count, 1);
	snprintf(want, sizeof(want), "big.yaml: larger than %d bytes",
	    1024 * 1024);
	ck_assert_str_eq(errs.msgs[0], want);
	free(big);
}
END_TEST

START_TEST(limit_depth)
{
	size_t n = 100000, i;
	char *deep = malloc(2 * n + 16);
	struct config *cfg;

	ck_assert_ptr_nonnull(deep);
	/* {a: {a: {a: ... — flow and block nesting both stop early */
	for (i = 0; i < n; i++)
		deep[i] = '[';
	for (i = 0; i < n; i++)
		deep[n + i] = ']';
	cfg = config_load_buffer("deep.yaml", deep, 2 * n, &errs);
	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0],
	    "deep.yaml:1: nested deeper than 32 levels");
	config_errors_clear(&errs);
	free(deep);

	EXPECT_ERROR("a:\n b:\n  c:\n   d:\n    e:\n     f:\n      g:\n"
	    "       h:\n        i:\n         j:\n          k:\n           l:\n"
	    "            m:\n             n:\n              o:\n"
	    "               p:\n                q:\n                 r:\n"
	    "                  s:\n                   t:\n"
	    "                    u:\n                     v:\n"
	    "                      w:\n                       x:\n"
	    "                        y:\n                         z:\n"
	    "                          a:\n                           b:\n"
	    "                            c:\n                             d:\n"
	    "                              e:\n"
	    "                               f: {g: 1}\n",
	    "cfg.yaml:32: a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a."
	    "b.c.d.e.f: nested deeper than 32 levels");
}
END_TEST

START_TEST(limit_many_values)
{
	size_t n = 200000, i;
	char *text = malloc(n * 4 + 32);
	size_t o = 0;

	ck_assert_ptr_nonnull(text);
	o += (size_t)snprintf(text, 32, "ignoredNamespaces:\n");
	for (i = 0; i < n; i++) {
		memcpy(text + o, "- a\n", 4);
		o += 4;
	}
	ck_assert_ptr_null(config_load_buffer("many.yaml", text, o, &errs));
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0],
	    "many.yaml:100000: ignoredNamespaces: more than 100000 values");
	free(text);
}
END_TEST

START_TEST(limit_error_count)
{
	size_t n = 500, i, o = 0;
	char *text = malloc(n * 16);

	ck_assert_ptr_nonnull(text);
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(text + o, n * 16 - o, "k%zu: 1\n", i);
	ck_assert_ptr_null(config_load_buffer("cfg.yaml", text, o, &errs));
	ck_assert_uint_eq(errs.count, 101);
	ck_assert_str_eq(errs.msgs[0], "cfg.yaml:1: k0: unknown key");
	ck_assert_str_eq(errs.msgs[100],
	    "cfg.yaml: too many errors, stopped after 100");
	free(text);
}
END_TEST

START_TEST(limit_binary_garbage)
{
	static const char garbage[] = "proxy: {image: \"\\0\"}\n";
	static const char bad_utf8[] = "proxy: {image: \"\xff\xfe\"}\n";

	ck_assert_ptr_null(config_load_buffer("g.yaml", garbage,
	    sizeof(garbage) - 1, &errs));
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0],
	    "g.yaml:1: proxy.image: value contains a NUL character");
	config_errors_clear(&errs);
	ck_assert_ptr_null(config_load_buffer("u.yaml", bad_utf8,
	    sizeof(bad_utf8) - 1, &errs));
	ck_assert_uint_eq(errs.count, 1);
	ck_assert(strncmp(errs.msgs[0], "u.yaml:", 7) == 0);
	config_errors_clear(&errs);
	/* a NUL byte in the middle of the text */
	ck_assert_ptr_null(config_load_buffer("n.yaml", "a: 1\0b: 2\n", 10,
	    &errs));
	ck_assert_uint_ge(errs.count, 1);
}
END_TEST

/* ---- meshinject config ---- */

/* Run `meshinject config ARGS`; its stdout and stderr (new strings) land in
 * *out and *err. Returns the exit status. */
static int
run_config(char **argv, int argc, char **out, char **err)
{
	FILE *fo = tmpfile(), *fe = tmpfile();
	int so, se, rc;
	long n;

	ck_assert_ptr_nonnull(fo);
	ck_assert_ptr_nonnull(fe);
	fflush(stdout);
	fflush(stderr);
	so = dup(STDOUT_FILENO);
	se = dup(STDERR_FILENO);
	dup2(fileno(fo), STDOUT_FILENO);
	dup2(fileno(fe), STDERR_FILENO);
	rc = cmd_config(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, STDOUT_FILENO);
	dup2(se, STDERR_FILENO);
	close(so);
	close(se);
	n = ftell(fo);
	*out = calloc(1, (size_t)n + 1);
	rewind(fo);
	ck_assert_uint_eq(fread(*out, 1, (size_t)n, fo), (size_t)n);
	n = ftell(fe);
	*err = calloc(1, (size_t)n + 1);
	rewind(fe);
	ck_assert_uint_eq(fread(*err, 1, (size_t)n, fe), (size_t)n);
	fclose(fo);
	fclose(fe);
	return rc;
}

START_TEST(command_prints_default)
{
	char *argv[] = { "config", NULL };
	char *out, *err;

	ck_assert_int_eq(run_config(argv, 1, &out, &err), 0);
	ck_assert_str_eq(out, config_default_yaml);
	ck_assert_str_eq(err, "");
	free(out);
	free(err);
}
END_TEST

START_TEST(command_check)
{
	char ok[512], bad[512], want[4096], line[1024];
	char *argv[] = { "config", "--check", ok, NULL };
	char *out, *err;
	FILE *f;
	size_t o = 0;

	snprintf(ok, sizeof(ok), "%s/partial.yaml", fixture_dir());
	ck_assert_int_eq(run_config(argv, 3, &out, &err), 0);
	ck_assert_str_eq(out, "configuration OK\n");
	ck_assert_str_eq(err, "");
	free(out);
	free(err);

	/* every error, one per line, on stderr */
	snprintf(ok, sizeof(ok), "%s/invalid.yaml", fixture_dir());
	ck_assert_int_eq(run_config(argv, 3, &out, &err), 1);
	ck_assert_str_eq(out, "");
	snprintf(bad, sizeof(bad), "%s/invalid.errors", fixture_dir());
	f = fopen(bad, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%s",
		    ok, strstr(line, "invalid.yaml") + strlen("invalid.yaml"));
	fclose(f);
	ck_assert_str_eq(err, want);
	free(out);
	free(err);
}
END_TEST

START_TEST(command_usage)
{
	char *help[] = { "config", "--help", NULL };
	char *nofile[] = { "config", "--check", NULL };
	char *unknown[] = { "config", "--chek", "x", NULL };
	char *out, *err;

	ck_assert_int_eq(run_config(help, 2, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "--check FILE"));
	free(out);
	free(err);
	ck_assert_int_eq(run_config(nofile, 2, &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "--check needs one FILE"));
	free(out);
	free(err);
	ck_assert_int_eq(run_config(unknown, 3, &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "unknown argument \"--chek\""));
	free(out);
	free(err);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("default");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, default_values);
	tcase_add_test(tc, default_text_and_empty_file);
	tcase_add_test(tc, features);
	tcase_add_test(tc, validators);
	suite_add_tcase(s, tc);

	tc = tcase_create("merge");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, partial_overrides_only_its_keys);
	tcase_add_test(tc, lists_replace);
	tcase_add_test(tc, null_map_keeps_default);
	tcase_add_test(tc, resource_null_unsets);
	tcase_add_test(tc, stage_replaced_whole);
	tcase_add_test(tc, new_stages_appended_in_order);
	tcase_add_test(tc, stage_proxy_merged_over_global);
	tcase_add_test(tc, fixture_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fixture_file_errors);
	tcase_add_test(tc, error_unknown_keys);
	tcase_add_test(tc, error_values);
	tcase_add_test(tc, error_quantities);
	tcase_add_test(tc, error_stages);
	tcase_add_test(tc, error_requests_over_limits);
	tcase_add_test(tc, error_fallback_loop);
	tcase_add_test(tc, error_wrong_types);
	tcase_add_test(tc, error_many_at_once);
	tcase_add_test(tc, error_duplicate_keys);
	tcase_add_test(tc, error_yaml);
	tcase_add_test(tc, error_unreadable_file);
	tcase_add_test(tc, errors_append_and_clear);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bounds_ports);
	tcase_add_test(tc, bounds_percent);
	tcase_add_test(tc, bounds_uid);
	suite_add_tcase(s, tc);

	tc = tcase_create("hash");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hash_equivalent_files);
	tcase_add_test(tc, hash_changes_with_meaning);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, limit_size);
	tcase_add_test(tc, limit_depth);
	tcase_add_test(tc, limit_many_values);
	tcase_add_test(tc, limit_error_count);
	tcase_add_test(tc, limit_binary_garbage);
	suite_add_tcase(s, tc);

	tc = tcase_create("command");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, command_prints_default);
	tcase_add_test(tc, command_check);
	tcase_add_test(tc, command_usage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
