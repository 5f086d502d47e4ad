/* inject.h - what a decision adds to a pod, as an RFC 6902 patch of `add`
 * operations against the pod as received. Pure: no I/O. */
#ifndef MESHINJECT_INJECT_H
#define MESHINJECT_INJECT_H

#include <jansson.h>

#include "config.h"
#include "patch.h"
#include "policy.h"

/* Write the patch for a decision whose verdict is VERDICT_INJECT or
 * VERDICT_OBSERVE into *patch (patch.h: inject_patch initialises it; the
 * caller patch_frees it): a JSON array of ops as text, "[]" with
 * patch->ops 0 when nothing is missing. `namespace` is request.namespace
 * (a ReplicaSet's pod arrives without one). Returns 0, or -1 when memory
 * runs out or a value is not UTF-8, *patch then empty. */
int inject_patch(const struct config *cfg, const struct decision *d,
    const json_t *pod, const char *namespace, struct patch *patch);

/* The Envoy bootstrap for the pod, as new JSON text (YAML accepts JSON)
 * the caller frees, or NULL when memory runs out. It is the text of the
 * proxy's --config-yaml argument: a $ in a value is written $$, which the
 * kubelet's $(VAR) expansion turns back into $. */
char *inject_envoy_bootstrap(const struct config *cfg,
    const struct decision *d, const json_t *pod, const char *namespace);

/* The `meshinject redirect` arguments for mesh-init, as a new JSON array
 * of strings, or NULL. Exposed for the tests. */
json_t *inject_redirect_args(const struct proxy_config *proxy,
    const struct pod_settings *s);

#endif
