/* review.h - the pure core's entry point: one AdmissionReview in, the
 * response body out. No I/O; serve, inject and check all go through it. */
#ifndef MESHINJECT_REVIEW_H
#define MESHINJECT_REVIEW_H

#include <stddef.h>

#include "config.h"

enum review_route {
	ROUTE_MUTATE,
	ROUTE_VALIDATE
};

struct review_opts {
	enum review_route route;
	const char *stage;		/* stage from the path, NULL for bare
					 * /mutate or /validate; the caller has
					 * checked that it exists (else 404) */
	const char *self_namespace;	/* the webhook's own namespace, or NULL */
};

/* What was decided, for logs and metrics. Fixed-size, no allocation. */
struct review_outcome {
	char uid[128];
	char namespace[256];
	char pod[256];			/* name, else generateName */
	char stage[64];			/* "" when none was chosen */
	const char *decision;		/* injected, unchanged, skipped, denied,
					 * observed; NULL when the body was bad */
	char reason[256];
};

/* Answer one AdmissionReview (admission.k8s.io/v1 or v1beta1).
 * Returns the HTTP status: 200 with an AdmissionReview response, or 400 when
 * the body is not JSON or not an AdmissionReview (body {"error": "..."}).
 * *response is a new NUL-terminated JSON text the caller frees; outcome may
 * be NULL. Returns -1 (and *response NULL) only when memory runs out. */
int review_handle(const struct config *cfg, const struct review_opts *opts,
    const char *body, size_t len, char **response,
    struct review_outcome *outcome);

#endif
