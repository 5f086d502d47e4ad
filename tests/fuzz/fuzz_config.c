/* fuzz_config.c - libFuzzer target for the config loader: YAML text in
 * through config_load_buffer (libyaml, merge over the embedded default,
 * validation, configHash). Checked on each input:
 *   - NULL comes with at least one non-empty error message, and a config
 *     never comes with errors;
 *   - a loaded config is whole: a 16-hex-digit hash, its defaultStage and
 *     every rollout fallback are stages, percentages in 0..100, ports in
 *     1..65535, no NULL strings where the core needs them;
 *   - the ReplicaSet review (tests/fixtures) goes through every route and
 *     stage of the loaded config with status 200 and a JSON answer.
 * Any breach aborts, which libFuzzer reports as a crash with the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "review.h"

#ifndef FUZZ_REVIEW_PATH
#define FUZZ_REVIEW_PATH "tests/fixtures/review-replicaset-pod.json"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *review;
static size_t review_len;

#define FAIL(...) do {							\
	fprintf(stderr, "fuzz_config: contract broken: ");		\
	fprintf(stderr, __VA_ARGS__);					\
	fprintf(stderr, "\n");						\
	abort();							\
} while (0)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("MESHINJECT_FUZZ_REVIEW");
	FILE *f;
	long n;

	(void)argc;
	(void)argv;
	if (path == NULL)
		path = FUZZ_REVIEW_PATH;
	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
	    (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (review = malloc((size_t)n)) == NULL ||
	    fread(review, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "fuzz_config: cannot read %s (set "
		    "MESHINJECT_FUZZ_REVIEW)\n", path);
		exit(1);
	}
	review_len = (size_t)n;
	fclose(f);
	return 0;
}

static int
port_ok(int p)
{
	return p >= 1 && p <= 65535;
}

static void
check_proxy(const struct proxy_config *pc, const char *where)
{
	if (pc->image == NULL || pc->xds_address == NULL ||
	    pc->log_level == NULL)
		FAIL("%s: proxy image, xdsAddress or logLevel is NULL", where);
	if (!port_ok(pc->port_admin) || !port_ok(pc->port_outbound) ||
	    !port_ok(pc->port_inbound) || !port_ok(pc->port_status) ||
	    !port_ok(pc->port_metrics))
		FAIL("%s: a proxy port out of 1..65535", where);
	if (pc->uid < 0)
		FAIL("%s: negative proxy uid", where);
}

static void
check_config(const struct config *cfg)
{
	size_t i;

	if (strlen(cfg->hash) != 16 ||
	    strspn(cfg->hash, "0123456789abcdef") != 16)
		FAIL("configHash %s is not 16 hex digits", cfg->hash);
	if (cfg->n_stages == 0 || cfg->stages == NULL)
		FAIL("no stages");
	if (cfg->default_stage == NULL ||
	    config_stage(cfg, cfg->default_stage) == NULL)
		FAIL("defaultStage is not a stage");
	if (cfg->init_image == NULL || cfg->mtls_mode == NULL ||
	    cfg->mtls_token_audience == NULL)
		FAIL("init.image or mtls is NULL");
	for (i = 0; i < cfg->n_ignored_namespaces; i++)
		if (cfg->ignored_namespaces[i] == NULL)
			FAIL("ignoredNamespaces[%zu] is NULL", i);
	check_proxy(&cfg->proxy, "proxy");
	for (i = 0; i < cfg->n_stages; i++) {
		const struct stage *st = &cfg->stages[i];

		if (st->name == NULL || config_stage(cfg, st->name) != st)
			FAIL("stage %zu has no name or a duplicate one", i);
		if (st->rollout_percent < 0 || st->rollout_percent > 100)
			FAIL("stage %s: rollout percent %d", st->name,
			    st->rollout_percent);
		if (st->rollout_percent < 100 &&
		    (st->rollout_fallback == NULL ||
		    config_stage(cfg, st->rollout_fallback) == NULL))
			FAIL("stage %s: partial rollout without a fallback "
			    "stage", st->name);
		check_proxy(&st->proxy, st->name);
	}
}

static void
run(const struct config *cfg, enum review_route route, const char *stage)
{
	struct review_opts opts = { route, stage, NULL };
	struct review_outcome o;
	json_t *root;
	char *text = NULL;
	int status;

	status = review_handle(cfg, &opts, review, review_len, &text, &o);
	if (status != 200 || text == NULL)
		FAIL("the ReplicaSet review at %s/%s: status %d: %.300s",
		    route == ROUTE_MUTATE ? "mutate" : "validate",
		    stage != NULL ? stage : "", status, text);
	root = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		FAIL("the answer is not a JSON object: %.300s", text);
	json_decref(root);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg;
	size_t i;

	cfg = config_load_buffer("fuzz.yaml", (const char *)data, size, &errs);
	if (cfg == NULL) {
		if (errs.count == 0)
			FAIL("NULL without an error message");
		for (i = 0; i < errs.count; i++)
			if (errs.msgs[i] == NULL || errs.msgs[i][0] == '\0')
				FAIL("error %zu is empty", i);
		config_errors_clear(&errs);
		if (errs.count != 0 || errs.msgs != NULL)
			FAIL("config_errors_clear left messages");
		return 0;
	}
	if (errs.count != 0)
		FAIL("a config that loaded with %zu errors", errs.count);
	check_config(cfg);
	run(cfg, ROUTE_MUTATE, NULL);
	run(cfg, ROUTE_VALIDATE, NULL);
	for (i = 0; i < cfg->n_stages; i++) {
		run(cfg, ROUTE_MUTATE, cfg->stages[i].name);
		run(cfg, ROUTE_VALIDATE, cfg->stages[i].name);
	}
	config_free(cfg);
	return 0;
}
