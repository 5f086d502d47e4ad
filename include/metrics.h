/* metrics.h - the webhook's Prometheus metrics: lock-free counters on the
 * request path (C11 atomics), the text exposition for GET /metrics.
 *
 * Names are fixed by DESIGN.md:
 *   meshinject_requests_total{path,code}
 *   meshinject_decisions_total{stage,decision}
 *   meshinject_request_duration_seconds (histogram, 0.1 ms .. 1 s)
 *   meshinject_config_reloads_total{result}
 *   meshinject_tls_certificate_expiry_timestamp_seconds
 *   meshinject_build_info{version}
 *
 * Label sets are bounded: path is a route template ("/mutate",
 * "/mutate/<stage>" for a stage some loaded config defined, ..., or
 * "other"); stage is a registered stage, "none" or "other"; code is one of
 * at most METRICS_MAX_CODES statuses. Stages are registered when a config
 * is loaded and never forgotten (counters do not go back). */
#ifndef MESHINJECT_METRICS_H
#define MESHINJECT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"

/* Stage names remembered; a stage beyond them is counted as "other". */
#define METRICS_MAX_STAGES	128
/* Distinct HTTP statuses counted; the last slot takes any further ones. */
#define METRICS_MAX_CODES	16
/* Upper bounds of the duration histogram, in seconds. */
#define METRICS_BUCKETS		13

enum metrics_route {
	METRICS_ROUTE_OTHER,		/* unknown path: label "other" */
	METRICS_ROUTE_MUTATE,
	METRICS_ROUTE_VALIDATE
};

enum metrics_reload {
	METRICS_RELOAD_SUCCESS,
	METRICS_RELOAD_FAILURE
};

struct metrics;

/* A new, zeroed set of metrics. NULL when memory runs out. */
struct metrics *metrics_new(void);
/* metrics_free(NULL) is a no-op. */
void metrics_free(struct metrics *m);

/* Remember every stage of cfg (borrowed) as a label value. Call when a
 * config is loaded, before it serves requests; safe while other threads
 * count. Returns the number of stages that did not fit (counted as
 * "other"). */
size_t metrics_register_stages(struct metrics *m, const struct config *cfg);

/* One answered request on the review listener: route and stage as routed
 * ("" or NULL for the bare path; a stage never registered is "other"),
 * the HTTP status sent and how long it took. Lock-free. */
void metrics_count_request(struct metrics *m, enum metrics_route route,
    const char *stage, unsigned code, double seconds);

/* One admission decision: decision is injected, unchanged, skipped, denied
 * or observed (anything else is ignored); stage "" or NULL is "none".
 * Lock-free. */
void metrics_count_decision(struct metrics *m, const char *stage,
    const char *decision);

void metrics_count_reload(struct metrics *m, enum metrics_reload result);

/* notAfter of the certificate being served (0: none yet). */
void metrics_set_cert_expiry(struct metrics *m, time_t not_after);

/* The whole exposition, text format 0.0.4. Returns a new string (free()),
 * or NULL when memory runs out. */
char *metrics_render(struct metrics *m);

#endif
