/* envoyvalues.h - the values meshinject copies from a pod into the Envoy
 * bootstrap: which ones (policy checks them and inject builds from them with
 * the same helpers) and whether Envoy takes each in the field it lands in.
 * Pure: no I/O, no allocation. */
#ifndef MESHINJECT_ENVOYVALUES_H
#define MESHINJECT_ENVOYVALUES_H

#include <stdbool.h>

#include <jansson.h>

#include "policy.h"

/* What Envoy takes (go-control-plane's validate rules of Envoy v1.32). */
#define ENVOY_HEADER_MAX	16384	/* bytes of a header name or value */
#define ENVOY_HEADERS_MAX	1000	/* request_headers_to_add items */
#define K8S_INT32_MAX		2147483647L

/* The handler of a probe that probe-rewrite takes over: its httpGet (*http
 * set) or tcpSocket object, borrowed from the probe; NULL when the probe has
 * neither or its handler names a host of its own (left alone). */
const json_t *envoyvalues_probe_handler(const json_t *probe, bool *http);

/* The port a probe handler's `port` targets: a number, a numeric string or
 * the name of one of the container's ports. 1-65535; 0 when it names no
 * port of the container (the probe is left alone); -1 when it is not a port
 * (out of range), which envoyvalues_check() refuses. */
int envoyvalues_probe_port(const json_t *container, const json_t *port);

/* The name and value of an httpGet.httpHeaders item as the bootstrap
 * carries them (borrowed): false when the item has no string name (not
 * carried). A value that is not a string counts as "". */
bool envoyvalues_header(const json_t *item, const char **name,
    const char **value);

/* The prometheus.io/port annotation's port: 1-65535, or -1. */
int envoyvalues_metrics_port(const char *text);

/* Is `scheme` (prometheus.io/scheme) https, in any case? */
bool envoyvalues_metrics_tls(const char *scheme);

/*
 * Check every value the bootstrap of a pod with these features would carry
 * from the pod: under probe-rewrite the rewritten probes' ports, paths,
 * schemes, Host and other headers, periods and timeouts and their
 * containers' names; under metrics-merge the prometheus.io port, path and
 * scheme. Each value Envoy (or the request Envoy sends) cannot take adds a
 * message to *problems naming the container and field, or the annotation,
 * and the value. Returns the number of problems found (also those past
 * what the list holds).
 */
int envoyvalues_check(const json_t *pod, unsigned features,
    struct msg_list *problems);

#endif
