/* metrics.c - Prometheus counters for the webhook: C11 atomics on the
 * request path (no lock), a mutex only where a config registers its stages,
 * and the text exposition. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "version.h"

#define METRICS_STAGE_NAME	64
/* "other", "/mutate", "/validate", then "/mutate/<s>", "/validate/<s>". */
#define METRICS_PATHS		(3 + 2 * METRICS_MAX_STAGES)
/* "none", "other", then the registered stages. */
#define METRICS_STAGE_SLOTS	(2 + METRICS_MAX_STAGES)
#define METRICS_DECISIONS	5

static const char *const metrics_decisions[METRICS_DECISIONS] = {
	"injected", "unchanged", "skipped", "denied", "observed"
};

/* Bucket bounds: as labels (exactly what is printed) and in nanoseconds
 * (what is compared, so that no float rounding moves a sample). */
static const char *const metrics_bucket_text[METRICS_BUCKETS] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
	"0.025", "0.05", "0.1", "0.25", "0.5", "1"
};
static const uint64_t metrics_bucket_ns[METRICS_BUCKETS] = {
	100000ull, 250000ull, 500000ull, 1000000ull, 2500000ull, 5000000ull,
	10000000ull, 25000000ull, 50000000ull, 100000000ull, 250000000ull,
	500000000ull, 1000000000ull
};

struct metrics {
	/* Stage names: written once each under reg_lock, then published by
	 * the release store of n_stages; readers never lock. */
	pthread_mutex_t reg_lock;
	char stages[METRICS_MAX_STAGES][METRICS_STAGE_NAME];
	atomic_size_t n_stages;

	/* HTTP statuses: a slot is claimed once (0 to the code, by CAS). */
	atomic_uint codes[METRICS_MAX_CODES];

	atomic_ullong requests[METRICS_PATHS][METRICS_MAX_CODES];
	atomic_ullong decisions[METRICS_STAGE_SLOTS][METRICS_DECISIONS];
	atomic_ullong buckets[METRICS_BUCKETS + 1];	/* not cumulative;
							 * the last is +Inf */
	atomic_ullong duration_ns;
	atomic_ullong reloads[2];
	atomic_llong cert_not_after;
};

struct metrics *
metrics_new(void)
{
	struct metrics *m;

	/* Zeroed memory is a valid state for every atomic here (C11 lets
	 * atomics start from all-bits-zero on every platform we build). */
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	pthread_mutex_init(&m->reg_lock, NULL);
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->reg_lock);
	free(m);
}

/* Index of a registered stage, or -1. Lock-free. */
static long
metrics_stage_index(struct metrics *m, const char *name)
{
	size_t i, n = atomic_load_explicit(&m->n_stages, memory_order_acquire);

	for (i = 0; i < n; i++)
		if (strcmp(m->stages[i], name) == 0)
			return (long)i;
	return -1;
}

size_t
metrics_register_stages(struct metrics *m, const struct config *cfg)
{
	size_t i, n, missed = 0;

	if (m == NULL || cfg == NULL)
		return 0;
	pthread_mutex_lock(&m->reg_lock);
	for (i = 0; i < cfg->n_stages; i++) {
		const char *name = cfg->stages[i].name;

		if (name == NULL || metrics_stage_index(m, name) >= 0)
			continue;
		n = atomic_load_explicit(&m->n_stages, memory_order_relaxed);
		if (n >= METRICS_MAX_STAGES ||
		    strlen(name) >= METRICS_STAGE_NAME) {
			missed++;
			continue;
		}
		memcpy(m->stages[n], name, strlen(name) + 1);
		atomic_store_explicit(&m->n_stages, n + 1,
		    memory_order_release);
	}
	pthread_mutex_unlock(&m->reg_lock);
	return missed;
}

/* The slot counting `code`: found, claimed, or the last one. */
static size_t
metrics_code_slot(struct metrics *m, unsigned code)
{
	size_t i;

	for (i = 0; i < METRICS_MAX_CODES - 1; i++) {
		unsigned have = atomic_load_explicit(&m->codes[i],
		    memory_order_acquire);

		if (have == code)
			return i;
		if (have == 0) {
			unsigned expect = 0;

			if (atomic_compare_exchange_strong(&m->codes[i],
			    &expect, code) || expect == code)
				return i;
		}
	}
	/* Full: the last slot counts every other status (label "other"). */
	return METRICS_MAX_CODES - 1;
}

void
metrics_count_request(struct metrics *m, enum metrics_route route,
    const char *stage, unsigned code, double seconds)
{
	size_t path = 0, b;
	uint64_t ns;
	long s;

	if (m == NULL)
		return;
	if (route == METRICS_ROUTE_MUTATE || route == METRICS_ROUTE_VALIDATE) {
		unsigned r = route == METRICS_ROUTE_MUTATE ? 0 : 1;

		if (stage == NULL || *stage == '\0')
			path = 1 + r;
		else if ((s = metrics_stage_index(m, stage)) >= 0)
			path = 3 + 2 * (size_t)s + r;
	}
	atomic_fetch_add_explicit(&m->requests[path][metrics_code_slot(m,
	    code)], 1, memory_order_relaxed);
	ns = seconds > 0 ? (uint64_t)(seconds * 1e9 + 0.5) : 0;
	for (b = 0; b < METRICS_BUCKETS && ns > metrics_bucket_ns[b]; b++)
		;
	atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->duration_ns, ns, memory_order_relaxed);
}

void
metrics_count_decision(struct metrics *m, const char *stage,
    const char *decision)
{
	size_t slot, d;
	long s;

	if (m == NULL || decision == NULL)
		return;
	for (d = 0; d < METRICS_DECISIONS; d++)
		if (strcmp(decision, metrics_decisions[d]) == 0)
			break;
	if (d == METRICS_DECISIONS)
		return;
	if (stage == NULL || *stage == '\0')
		slot = 0;
	else if ((s = metrics_stage_index(m, stage)) >= 0)
		slot = 2 + (size_t)s;
	else
		slot = 1;
	atomic_fetch_add_explicit(&m->decisions[slot][d], 1,
	    memory_order_relaxed);
}

void
metrics_count_reload(struct metrics *m, enum metrics_reload result)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->reloads[result ==
		    METRICS_RELOAD_SUCCESS ? 0 : 1], 1, memory_order_relaxed);
}

void
metrics_set_cert_expiry(struct metrics *m, time_t not_after)
{
	if (m != NULL)
		atomic_store(&m->cert_not_after, (long long)not_after);
}

/* A label value with \, " and newline escaped (exposition format). */
static void
metrics_put_label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* The path label of slot p (stage names from the registry). */
static void
metrics_put_path(struct metrics *m, FILE *f, size_t p)
{
	if (p == 0)
		fputs("other", f);
	else if (p == 1)
		fputs("/mutate", f);
	else if (p == 2)
		fputs("/validate", f);
	else {
		fputs((p - 3) % 2 == 0 ? "/mutate/" : "/validate/", f);
		metrics_put_label(f, m->stages[(p - 3) / 2]);
	}
}

static void
metrics_render_requests(struct metrics *m, FILE *f, size_t n_stages)
{
	unsigned codes[METRICS_MAX_CODES];
	unsigned long long v;
	size_t p, c;

	fputs("# HELP meshinject_requests_total Requests answered on the "
	    "admission listener, by route and HTTP status.\n"
	    "# TYPE meshinject_requests_total counter\n", f);
	for (c = 0; c < METRICS_MAX_CODES; c++)
		codes[c] = atomic_load_explicit(&m->codes[c],
		    memory_order_acquire);
	for (p = 0; p < 3 + 2 * n_stages; p++) {
		for (c = 0; c < METRICS_MAX_CODES; c++) {
			v = atomic_load_explicit(&m->requests[p][c],
			    memory_order_relaxed);
			if (v == 0)
				continue;
			fputs("meshinject_requests_total{path=\"", f);
			metrics_put_path(m, f, p);
			if (c == METRICS_MAX_CODES - 1 || codes[c] == 0)
				fputs("\",code=\"other\"}", f);
			else
				fprintf(f, "\",code=\"%u\"}", codes[c]);
			fprintf(f, " %llu\n", v);
		}
	}
}

static void
metrics_render_decisions(struct metrics *m, FILE *f, size_t n_stages)
{
	unsigned long long v;
	size_t s, d;

	fputs("# HELP meshinject_decisions_total Admission decisions, by the "
	    "stage chosen for the pod (none when no stage was).\n"
	    "# TYPE meshinject_decisions_total counter\n", f);
	for (s = 0; s < 2 + n_stages; s++) {
		for (d = 0; d < METRICS_DECISIONS; d++) {
			v = atomic_load_explicit(&m->decisions[s][d],
			    memory_order_relaxed);
			/* Every known stage shows every decision, zeros
			 * included, so that rate() has a series from the
			 * start; "other" only once it counted something. */
			if (s == 1 && v == 0)
				continue;
			fputs("meshinject_decisions_total{stage=\"", f);
			if (s == 0)
				fputs("none", f);
			else if (s == 1)
				fputs("other", f);
			else
				metrics_put_label(f, m->stages[s - 2]);
			fprintf(f, "\",decision=\"%s\"} %llu\n",
			    metrics_decisions[d], v);
		}
	}
}

static void
metrics_render_duration(struct metrics *m, FILE *f)
{
	unsigned long long cum = 0, ns;
	size_t b;

	fputs("# HELP meshinject_request_duration_seconds Time from a "
	    "request's headers to its answer on the admission listener.\n"
	    "# TYPE meshinject_request_duration_seconds histogram\n", f);
	/* The count is the sum of the buckets read here, so that +Inf and
	 * _count agree even while requests are being counted. */
	for (b = 0; b <= METRICS_BUCKETS; b++) {
		cum += atomic_load_explicit(&m->buckets[b],
		    memory_order_relaxed);
		fprintf(f, "meshinject_request_duration_seconds_bucket"
		    "{le=\"%s\"} %llu\n", b < METRICS_BUCKETS ?
		    metrics_bucket_text[b] : "+Inf", cum);
	}
	ns = atomic_load_explicit(&m->duration_ns, memory_order_relaxed);
	fprintf(f, "meshinject_request_duration_seconds_sum %llu.%09llu\n"
	    "meshinject_request_duration_seconds_count %llu\n",
	    ns / 1000000000ull, ns % 1000000000ull, cum);
}

char *
metrics_render(struct metrics *m)
{
	char *out = NULL;
	size_t len = 0, n_stages;
	FILE *f;

	if (m == NULL || (f = open_memstream(&out, &len)) == NULL)
		return NULL;
	n_stages = atomic_load_explicit(&m->n_stages, memory_order_acquire);
	metrics_render_requests(m, f, n_stages);
	metrics_render_decisions(m, f, n_stages);
	metrics_render_duration(m, f);
	fprintf(f, "# HELP meshinject_config_reloads_total Config reloads "
	    "(file change or SIGHUP), by result; a failed one keeps the "
	    "config in force.\n"
	    "# TYPE meshinject_config_reloads_total counter\n"
	    "meshinject_config_reloads_total{result=\"success\"} %llu\n"
	    "meshinject_config_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)atomic_load(&m->reloads[0]),
	    (unsigned long long)atomic_load(&m->reloads[1]));
	fprintf(f, "# HELP meshinject_tls_certificate_expiry_timestamp_seconds "
	    "notAfter of the serving certificate, in seconds since the "
	    "epoch.\n"
	    "# TYPE meshinject_tls_certificate_expiry_timestamp_seconds gauge\n"
	    "meshinject_tls_certificate_expiry_timestamp_seconds %lld\n",
	    (long long)atomic_load(&m->cert_not_after));
	fprintf(f, "# HELP meshinject_build_info Build information of "
	    "meshinject.\n"
	    "# TYPE meshinject_build_info gauge\n"
	    "meshinject_build_info{version=\"%s\"} 1\n", MESHINJECT_VERSION);
	if (ferror(f)) {
		fclose(f);
		free(out);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
