/* check_alloc.c - out of memory through the core: jansson's allocation hooks
 * (json_set_alloc_funcs, as in jansson's test_chaos) make allocation n fail,
 * for n = 1, 2, ... until a run no longer reaches n, through a whole
 * review_handle of the ReplicaSet review at each stage that builds a
 * different answer, and through config_load_buffer (whose configHash is
 * built with jansson). Each run must end cleanly:
 *   - review_handle: -1 with no response, or 400 with an {"error"} body, or
 *     200 with exactly the answer of the run without failures (a failure
 *     that is swallowed must not change what the apiserver is told);
 *   - config_load_buffer: NULL with errors, or a config with the same hash;
 *   - nothing leaked: glibc's mallinfo2() in-use bytes are back where they
 *     were after every run (a precise check, n by n, in a plain build);
 *     under AddressSanitizer, LeakSanitizer checks after each scenario.
 * Only jansson's allocations are failed here: malloc() called directly by
 * the core (the decision, the plan, the base64 buffer) and libyaml's
 * allocations are left alone; LeakSanitizer and valgrind cover their leaks
 * elsewhere. CHECK_ALLOC_SURVEY=1 lists every failing n instead of
 * stopping at the first (run with CK_FORK=no under a debugger, and break in
 * chaos_malloc on fail_at and scenario). */
#include <check.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "lib/testutil.h"
#include "review.h"

#if TU_UNDER_ASAN
#include <sanitizer/lsan_interface.h>
#endif

static size_t alloc_count;	/* allocations since the run began */
static size_t fail_at;		/* the one to fail; 0: none */
static bool failed;		/* did fail_at come? */
static int scenario;		/* which one runs (for a debugger) */

static void *
chaos_malloc(size_t n)
{
	if (fail_at != 0 && ++alloc_count == fail_at) {
		failed = true;
		return NULL;
	}
	return malloc(n);
}

static void
chaos_free(void *p)
{
	free(p);
}

/* Under valgrind (which preloads its own malloc) or AddressSanitizer,
 * malloc's own counts mean nothing; those tools check for leaks. */
static bool
under_tool(void)
{
#if TU_UNDER_ASAN
	return true;
#else
	const char *pre = getenv("LD_PRELOAD");

	return pre != NULL && strstr(pre, "vgpreload") != NULL;
#endif
}

/* Bytes in use by malloc. Exact only without glibc's per-thread cache,
 * whose chunks count as in use: main() runs the tests with
 * GLIBC_TUNABLES=glibc.malloc.tcache_count=0. */
static size_t
in_use(void)
{
	struct mallinfo2 mi;

	if (under_tool())
		return 0;
	mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static void
leak_check(const char *what)
{
#if TU_UNDER_ASAN
	ck_assert_msg(__lsan_do_recoverable_leak_check() == 0,
	    "%s: LeakSanitizer found leaks (see above)", what);
#else
	(void)what;
#endif
}

static void
setup(void)
{
	json_set_alloc_funcs(chaos_malloc, chaos_free);
}

static void
teardown(void)
{
	fail_at = 0;
	json_set_alloc_funcs(malloc, free);
}

/* ---- reviews ---- */

struct scenario {
	const char *config;	/* NULL: the embedded default */
	enum review_route route;
	const char *stage;
	const char *annotations; /* JSON object merged into the pod's, or NULL */
	const char *body;	/* instead of the fixture, or NULL */
	const char *what;
};

static const struct scenario scenarios[] = {
	{ NULL, ROUTE_MUTATE, "traffic", NULL, NULL, "traffic" },
	{ NULL, ROUTE_MUTATE, "mtls", NULL, NULL, "mtls" },
	{ NULL, ROUTE_MUTATE, "observe", NULL, NULL, "observe" },
	{ NULL, ROUTE_VALIDATE, "mtls", NULL, NULL, "validate mtls" },
	{ "tests/fuzz/fuzz-config.yaml", ROUTE_MUTATE, "everything",
	    "{\"meshinject.io/exclude-outbound-cidrs\": \"10.0.0.0/8\","
	    " \"prometheus.io/scrape\": \"true\","
	    " \"prometheus.io/scheme\": \"https\"}", NULL,
	    "every feature (fuzz config)" },
	{ "tests/fuzz/fuzz-config.yaml", ROUTE_MUTATE, "cni-mtls",
	    "{\"meshinject.io/proxy-cpu\": \"300m\","
	    " \"meshinject.io/proxy-image\": \"x/envoy:1\"}", NULL,
	    "cni, metrics-merge, proxy overrides (fuzz config)" },
	{ "tests/fuzz/fuzz-config.yaml", ROUTE_MUTATE, "observe-all", NULL,
	    NULL, "observe of every feature (fuzz config)" },
	{ "tests/fuzz/fuzz-config.yaml", ROUTE_MUTATE, "mtls",
	    "{\"meshinject.io/inject\": \"false\"}", NULL,
	    "a denial under enforce (fuzz config)" },
	{ NULL, ROUTE_MUTATE, "traffic", NULL,
	    "{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": "
	    "\"AdmissionReview\", \"request\": {\"uid\": 5}}",
	    "a bad review (400)" },
};

static struct config *
load_config(const char *path)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg;

	cfg = path != NULL ? config_load_file(path, &errs) :
	    config_load_default(&errs);
	ck_assert_msg(cfg != NULL, "cannot load %s: %s", path != NULL ? path :
	    "the default", errs.count > 0 ? errs.msgs[0] : "?");
	config_errors_clear(&errs);
	return cfg;
}

/* The fixture with the scenario's annotations, as a new text. */
static char *
scenario_body(const struct scenario *sc)
{
	json_t *root, *meta, *ann, *more;
	size_t len;
	char *text, *out;

	if (sc->body != NULL)
		return strdup(sc->body);
	text = tu_read_file("tests/fixtures/review-replicaset-pod.json", &len);
	root = json_loadb(text, len, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(root);
	if (sc->annotations != NULL) {
		meta = json_object_get(json_object_get(json_object_get(root,
		    "request"), "object"), "metadata");
		ann = json_object_get(meta, "annotations");
		if (ann == NULL) {
			ann = json_object();
			json_object_set_new(meta, "annotations", ann);
		}
		more = json_loads(sc->annotations, 0, NULL);
		ck_assert_ptr_nonnull(more);
		json_object_update(ann, more);
		json_decref(more);
	}
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	ck_assert_ptr_nonnull(out);
	return out;
}

START_TEST(review_out_of_memory)
{
	const struct scenario *sc = &scenarios[_i];
	struct review_opts opts = { sc->route, sc->stage, NULL };
	struct review_outcome o;
	struct config *cfg = load_config(sc->config);
	char *body = scenario_body(sc), *want = NULL, *got;

	scenario = _i;
	int want_status, status;
	size_t before, n, clean = 0, bad = 0, same = 0;

	/* Warm up (lazy initialisations), then the answer without failures. */
	got = NULL;
	status = review_handle(cfg, &opts, body, strlen(body), &got, &o);
	free(got);
	want_status = review_handle(cfg, &opts, body, strlen(body), &want,
	    &o);
	ck_assert_msg(want_status == 200 || want_status == 400, "%s: %d",
	    sc->what, want_status);
	ck_assert_int_eq(status, want_status);
	for (n = 1;; n++) {
		before = in_use();
		alloc_count = 0;
		failed = false;
		fail_at = n;
		got = NULL;
		status = review_handle(cfg, &opts, body, strlen(body), &got,
		    &o);
		fail_at = 0;
		if (!failed) {
			/* n is past the last allocation: a whole run. */
			ck_assert_int_eq(status, want_status);
			ck_assert_str_eq(got, want);
			free(got);
			break;
		}
		if (status == -1) {
			ck_assert_msg(got == NULL, "%s: allocation %zu: -1 "
			    "with a response", sc->what, n);
			clean++;
		} else if (status == 400) {
			json_t *e = json_loads(got, 0, NULL);

			ck_assert_msg(json_is_string(json_object_get(e,
			    "error")), "%s: allocation %zu: 400 without an "
			    "error: %s", sc->what, n, got);
			json_decref(e);
			bad++;
		} else if (getenv("CHECK_ALLOC_SURVEY") != NULL &&
		    (status != want_status || got == NULL ||
		    strcmp(got, want) != 0)) {
			printf("SURVEY %s: allocation %zu: answer differs\n",
			    sc->what, n);
		} else {
			ck_assert_msg(status == want_status && got != NULL &&
			    strcmp(got, want) == 0, "%s: allocation %zu "
			    "failed, yet the answer is %d and differs from the "
			    "one without failures:\n%.600s\nwant %d:\n%.600s",
			    sc->what, n, status, got != NULL ? got : "(null)",
			    want_status, want);
			same++;
		}
		free(got);
		if (getenv("CHECK_ALLOC_SURVEY") != NULL) {
			if (in_use() != before)
				printf("SURVEY %s: allocation %zu: %zd bytes "
				    "leaked\n", sc->what, n,
				    (ssize_t)(in_use() - before));
			continue;
		}
		ck_assert_msg(in_use() == before, "%s: allocation %zu failed "
		    "and %zd bytes leaked", sc->what, n,
		    (ssize_t)(in_use() - before));
	}
	printf("check_alloc: %s: %zu jansson allocations, each failed in "
	    "turn: %zu gave -1, %zu gave 400, %zu the same answer\n",
	    sc->what, n - 1, clean, bad, same);
	fflush(stdout);
	leak_check(sc->what);
	free(want);
	free(body);
	config_free(cfg);
}
END_TEST

/* ---- the config loader ---- */

START_TEST(config_out_of_memory)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg;
	char *text, want[sizeof(cfg->hash)];
	size_t len, before, n, nulls = 0, same = 0;

	text = tu_read_file("tests/fuzz/fuzz-config.yaml", &len);
	cfg = config_load_buffer("fuzz-config.yaml", text, len, &errs);
	ck_assert_ptr_nonnull(cfg);
	memcpy(want, cfg->hash, sizeof(want));
	config_free(cfg);
	for (n = 1;; n++) {
		before = in_use();
		alloc_count = 0;
		failed = false;
		fail_at = n;
		cfg = config_load_buffer("fuzz-config.yaml", text, len, &errs);
		fail_at = 0;
		if (!failed) {
			ck_assert_ptr_nonnull(cfg);
			ck_assert_str_eq(cfg->hash, want);
			config_free(cfg);
			break;
		}
		if (cfg == NULL) {
			ck_assert_msg(errs.count > 0, "allocation %zu: NULL "
			    "without an error", n);
			nulls++;
		} else {
			ck_assert_msg(strcmp(cfg->hash, want) == 0, "allocation "
			    "%zu failed, yet the config loaded with another "
			    "hash", n);
			same++;
		}
		config_free(cfg);
		config_errors_clear(&errs);
		ck_assert_msg(in_use() == before, "config: allocation %zu "
		    "failed and %zd bytes leaked", n,
		    (ssize_t)(in_use() - before));
	}
	printf("check_alloc: config_load_buffer: %zu jansson allocations, "
	    "each failed in turn: %zu gave NULL, %zu the same config\n",
	    n - 1, nulls, same);
	fflush(stdout);
	leak_check("config_load_buffer");
	free(text);
}
END_TEST

static Suite *
alloc_suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("jansson allocation failures");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, review_out_of_memory, 0,
	    (int)(sizeof(scenarios) / sizeof(scenarios[0])));
	tcase_add_test(tc, config_out_of_memory);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	static const char tunable[] = "glibc.malloc.tcache_count=0";
	const char *t = getenv("GLIBC_TUNABLES");
	SRunner *sr;
	int failures;

	/* The tunable is read at start-up only: run again with it. */
	(void)argc;
	if (!under_tool() && (t == NULL || strstr(t, tunable) == NULL)) {
		setenv("GLIBC_TUNABLES", tunable, 1);
		execv("/proc/self/exe", argv);
		perror("check_alloc: execv /proc/self/exe");
		return EXIT_FAILURE;
	}
	sr = srunner_create(alloc_suite());

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
