/* check_metrics.c - Check suite for metrics.c: the exposition for known
 * counts, label sets that stay bounded, and exact totals when many threads
 * count at once; the version it reports is the chart's appVersion and the
 * tag of the default config's init image. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lib/testutil.h"
#include "metrics.h"
#include "version.h"

/* Does the exposition hold this exact line? */
static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p += n;
	}
	return 0;
}

#define ck_line(text, line) \
	ck_assert_msg(has_line(text, line), "missing line \"%s\" in:\n%s", \
	    line, text)

START_TEST(empty_exposition)
{
	struct metrics *m = metrics_new();
	struct config *cfg = tu_config(NULL);
	char *t;

	metrics_register_stages(m, cfg);
	t = metrics_render(m);
	ck_assert_ptr_nonnull(t);
	ck_line(t, "# TYPE meshinject_requests_total counter");
	ck_line(t, "# TYPE meshinject_decisions_total counter");
	ck_line(t, "# TYPE meshinject_request_duration_seconds histogram");
	ck_line(t, "# TYPE meshinject_config_reloads_total counter");
	ck_line(t, "# TYPE meshinject_tls_certificate_expiry_timestamp_seconds "
	    "gauge");
	ck_line(t, "# TYPE meshinject_build_info gauge");
	ck_line(t, "meshinject_build_info{version=\"" MESHINJECT_VERSION
	    "\"} 1");
	ck_line(t, "meshinject_decisions_total{stage=\"none\","
	    "decision=\"injected\"} 0");
	ck_line(t, "meshinject_decisions_total{stage=\"mtls\","
	    "decision=\"observed\"} 0");
	ck_line(t, "meshinject_request_duration_seconds_bucket{le=\"+Inf\"} 0");
	ck_line(t, "meshinject_request_duration_seconds_count 0");
	ck_line(t, "meshinject_config_reloads_total{result=\"success\"} 0");
	ck_line(t, "meshinject_config_reloads_total{result=\"failure\"} 0");
	ck_line(t, "meshinject_tls_certificate_expiry_timestamp_seconds 0");
	/* No request series before a request; no "other" stage. */
	ck_assert_ptr_null(strstr(t, "meshinject_requests_total{"));
	ck_assert_ptr_null(strstr(t, "stage=\"other\""));
	free(t);
	config_free(cfg);
	metrics_free(m);
}
END_TEST

START_TEST(known_counts)
{
	struct metrics *m = metrics_new();
	struct config *cfg = tu_config(NULL);
	char *t;

	metrics_register_stages(m, cfg);
	metrics_count_request(m, METRICS_ROUTE_MUTATE, "traffic", 200, 0.0003);
	metrics_count_request(m, METRICS_ROUTE_MUTATE, "traffic", 200, 0.002);
	metrics_count_request(m, METRICS_ROUTE_MUTATE, "", 200, 0.0001);
	metrics_count_request(m, METRICS_ROUTE_VALIDATE, "mtls", 400, 0.5);
	metrics_count_request(m, METRICS_ROUTE_OTHER, NULL, 404, 2.0);
	/* A stage no config defined is a path of its own nowhere. */
	metrics_count_request(m, METRICS_ROUTE_MUTATE, "nope", 404, 0);
	metrics_count_decision(m, "traffic", "injected");
	metrics_count_decision(m, "traffic", "injected");
	metrics_count_decision(m, "", "skipped");
	metrics_count_decision(m, NULL, "skipped");
	metrics_count_decision(m, "ghost", "denied");
	metrics_count_decision(m, "traffic", "bogus");	/* ignored */
	metrics_count_decision(m, "traffic", NULL);	/* ignored */
	metrics_count_reload(m, METRICS_RELOAD_SUCCESS);
	metrics_count_reload(m, METRICS_RELOAD_FAILURE);
	metrics_count_reload(m, METRICS_RELOAD_FAILURE);
	metrics_set_cert_expiry(m, 1827164003);
	t = metrics_render(m);
	ck_assert_ptr_nonnull(t);
	ck_line(t, "meshinject_requests_total{path=\"/mutate/traffic\","
	    "code=\"200\"} 2");
	ck_line(t, "meshinject_requests_total{path=\"/mutate\",code=\"200\"} 1");
	ck_line(t, "meshinject_requests_total{path=\"/validate/mtls\","
	    "code=\"400\"} 1");
	ck_line(t, "meshinject_requests_total{path=\"other\",code=\"404\"} 2");
	ck_assert_ptr_null(strstr(t, "nope"));
	ck_line(t, "meshinject_decisions_total{stage=\"traffic\","
	    "decision=\"injected\"} 2");
	ck_line(t, "meshinject_decisions_total{stage=\"none\","
	    "decision=\"skipped\"} 2");
	ck_line(t, "meshinject_decisions_total{stage=\"other\","
	    "decision=\"denied\"} 1");
	ck_line(t, "meshinject_decisions_total{stage=\"traffic\","
	    "decision=\"denied\"} 0");
	/* Buckets are cumulative: 0.1 ms falls in le=0.0001 (le is <=). */
	ck_line(t, "meshinject_request_duration_seconds_bucket{le=\"0.0001\"} 2");
	ck_line(t, "meshinject_request_duration_seconds_bucket{le=\"0.0005\"} 3");
	ck_line(t, "meshinject_request_duration_seconds_bucket{le=\"0.0025\"} 4");
	ck_line(t, "meshinject_request_duration_seconds_bucket{le=\"0.25\"} 4");
	ck_line(t, "meshinject_request_duration_seconds_bucket{le=\"0.5\"} 5");
	ck_line(t, "meshinject_request_duration_seconds_bucket{le=\"1\"} 5");
	ck_line(t, "meshinject_request_duration_seconds_bucket{le=\"+Inf\"} 6");
	ck_line(t, "meshinject_request_duration_seconds_count 6");
	ck_line(t, "meshinject_request_duration_seconds_sum 2.502400000");
	ck_line(t, "meshinject_config_reloads_total{result=\"success\"} 1");
	ck_line(t, "meshinject_config_reloads_total{result=\"failure\"} 2");
	ck_line(t, "meshinject_tls_certificate_expiry_timestamp_seconds "
	    "1827164003");
	free(t);
	config_free(cfg);
	metrics_free(m);
}
END_TEST

/* A stage that appears with a reloaded config becomes a label value; one
 * that a later config drops keeps its counters. */
START_TEST(stages_after_reload)
{
	struct metrics *m = metrics_new();
	struct config *a = tu_config(NULL);
	struct config *b = tu_config("stages:\n  canary: {features: [proxy]}\n");
	char *t;

	metrics_register_stages(m, a);
	metrics_count_decision(m, "canary", "injected");	/* not yet */
	metrics_register_stages(m, b);
	metrics_register_stages(m, a);				/* no-op */
	metrics_count_decision(m, "canary", "injected");
	metrics_count_request(m, METRICS_ROUTE_MUTATE, "canary", 200, 0.001);
	t = metrics_render(m);
	ck_line(t, "meshinject_decisions_total{stage=\"other\","
	    "decision=\"injected\"} 1");
	ck_line(t, "meshinject_decisions_total{stage=\"canary\","
	    "decision=\"injected\"} 1");
	ck_line(t, "meshinject_requests_total{path=\"/mutate/canary\","
	    "code=\"200\"} 1");
	/* Registered once: one series per stage and decision. */
	{
		const char *p = strstr(t, "stage=\"traffic\",decision=\"injected\"");

		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_null(strstr(p + 1,
		    "stage=\"traffic\",decision=\"injected\""));
		p = strstr(t, "stage=\"canary\",decision=\"skipped\"");
		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_null(strstr(p + 1,
		    "stage=\"canary\",decision=\"skipped\""));
	}
	free(t);
	config_free(a);
	config_free(b);
	metrics_free(m);
}
END_TEST

/* More distinct statuses than slots: the rest are counted as "other", none
 * is lost. */
START_TEST(codes_bounded)
{
	struct metrics *m = metrics_new();
	char *t;
	unsigned c;

	for (c = 200; c < 200 + 2 * METRICS_MAX_CODES; c++)
		metrics_count_request(m, METRICS_ROUTE_OTHER, NULL, c, 0);
	t = metrics_render(m);
	ck_line(t, "meshinject_requests_total{path=\"other\",code=\"200\"} 1");
	ck_line(t, "meshinject_requests_total{path=\"other\",code=\"other\"} 17");
	ck_line(t, "meshinject_request_duration_seconds_count 32");
	free(t);
	metrics_free(m);
}
END_TEST

#define THREADS	8
#define PER_THREAD 50000

static struct metrics *shared;

static void *
hammer(void *arg)
{
	int i;
	unsigned codes[] = { 200, 400, 404, 415 };

	(void)arg;
	for (i = 0; i < PER_THREAD; i++) {
		metrics_count_request(shared, METRICS_ROUTE_MUTATE,
		    i % 2 ? "traffic" : "", codes[i % 4], 0.001);
		metrics_count_decision(shared, "traffic", "injected");
	}
	return NULL;
}

/* N threads counting at once give exact totals: no lost increments, and
 * the code slots are claimed once each. */
START_TEST(concurrent_totals)
{
	struct config *cfg = tu_config(NULL);
	pthread_t th[THREADS];
	char line[160], *t;
	int i;

	shared = metrics_new();
	metrics_register_stages(shared, cfg);
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, NULL), 0);
	/* Render while they count: it must not crash or tear a line. */
	for (i = 0; i < 20; i++)
		free(metrics_render(shared));
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	t = metrics_render(shared);
	snprintf(line, sizeof(line), "meshinject_decisions_total{stage="
	    "\"traffic\",decision=\"injected\"} %d", THREADS * PER_THREAD);
	ck_line(t, line);
	snprintf(line, sizeof(line), "meshinject_request_duration_seconds_count "
	    "%d", THREADS * PER_THREAD);
	ck_line(t, line);
	/* i odd: traffic with 400/415; i even: bare with 200/404. */
	snprintf(line, sizeof(line), "meshinject_requests_total{path="
	    "\"/mutate/traffic\",code=\"400\"} %d", THREADS * PER_THREAD / 4);
	ck_line(t, line);
	snprintf(line, sizeof(line), "meshinject_requests_total{path="
	    "\"/mutate\",code=\"404\"} %d", THREADS * PER_THREAD / 4);
	ck_line(t, line);
	ck_assert_ptr_null(strstr(t, "code=\"other\""));
	free(t);
	config_free(cfg);
	metrics_free(shared);
}
END_TEST

START_TEST(free_null)
{
	metrics_free(NULL);
	metrics_count_request(NULL, METRICS_ROUTE_MUTATE, "x", 200, 0);
	metrics_count_decision(NULL, "x", "injected");
	metrics_count_reload(NULL, METRICS_RELOAD_SUCCESS);
	metrics_set_cert_expiry(NULL, 1);
	ck_assert_ptr_null(metrics_render(NULL));
}
END_TEST

/* The value of the top-level `key:` of a YAML file, unquoted, into buf. */
static void
yaml_top_value(const char *text, const char *key, char *buf, size_t buflen)
{
	size_t klen = strlen(key), n;
	const char *p = text, *v;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 :
	    NULL) {
		if (strncmp(p, key, klen) != 0 || p[klen] != ':')
			continue;
		v = p + klen + 1;
		v += strspn(v, " \t\"'");
		n = strcspn(v, "\"'\n \t#");
		ck_assert_uint_lt(n, buflen);
		memcpy(buf, v, n);
		buf[n] = '\0';
		return;
	}
	ck_abort_msg("no top-level %s: in the file", key);
}

/* One version everywhere a user sees one: version.h (build_info, --version),
 * the chart's appVersion (the image tag it deploys), and the default
 * config's init image (which runs `meshinject redirect`). */
START_TEST(version_agrees)
{
	struct config *cfg = tu_config(NULL);
	char app[64], *chart;
	const char *tag;

	chart = tu_read_file("charts/meshinject/Chart.yaml", NULL);
	yaml_top_value(chart, "appVersion", app, sizeof(app));
	ck_assert_msg(strcmp(app, MESHINJECT_VERSION) == 0, "Chart.yaml "
	    "appVersion %s, version.h %s", app, MESHINJECT_VERSION);
	tag = strrchr(cfg->init_image, ':');
	ck_assert_msg(tag != NULL && strcmp(tag + 1, MESHINJECT_VERSION) == 0,
	    "default config init.image %s, version.h %s", cfg->init_image,
	    MESHINJECT_VERSION);
	free(chart);
	config_free(cfg);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, empty_exposition);
	tcase_add_test(tc, known_counts);
	tcase_add_test(tc, stages_after_reload);
	tcase_add_test(tc, codes_bounded);
	tcase_add_test(tc, concurrent_totals);
	tcase_add_test(tc, free_null);
	tcase_add_test(tc, version_agrees);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
