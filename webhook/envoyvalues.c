/* envoyvalues.c - the values meshinject copies from a pod into the Envoy
 * bootstrap, held to Envoy's rules for the field each lands in, so that a
 * pod whose value the proxy cannot carry is refused (422) instead of
 * admitted with a proxy that cannot start. policy.c asks; inject.c builds
 * from the same helpers, so both see the same probes and annotations.
 *
 * The rules, from go-control-plane/envoy v1.32 (*.pb.validate.go) and
 * Envoy's own loading code:
 *   http_health_check.path, .host   no control character but tab, no DEL
 *                                   (HTTP_HEADER_VALUE, strict); path not
 *                                   empty
 *   request_headers_to_add          at most 1000; key 1-16384 bytes, value
 *                                   at most 16384; Envoy refuses ":"-names
 *                                   and Host there (HeaderParser)
 *   route prefix_rewrite            no NUL, CR, LF
 *   socket_address.port_value       at most 65535 (0 is no port here)
 *   Duration                        Envoy turns health-check times into
 *                                   milliseconds; Kubernetes' int32 seconds
 *                                   fit, more may not
 * Stricter where the field is sent on the wire: a header name is an HTTP
 * token (RFC 9110, Envoy's strict HTTP_HEADER_NAME), a value has no control
 * character but tab (strict HTTP_HEADER_VALUE), and a request path has no
 * space or tab either: Envoy writes it into the request line as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "envoyvalues.h"

const json_t *
envoyvalues_probe_handler(const json_t *probe, bool *http)
{
	const json_t *get = json_object_get(probe, "httpGet");
	const json_t *handler = get != NULL ? get :
	    json_object_get(probe, "tcpSocket");

	*http = get != NULL;
	if (!json_is_object(handler) || json_object_get(handler, "host") != NULL)
		return NULL;
	return handler;
}

/* 1-65535 for a string of 1-5 digits that is a port, else -1. */
static int
digits_port(const char *s)
{
	size_t n = strspn(s, "0123456789");
	long v;

	if (n == 0 || s[n] != '\0')
		return -1;
	if (n > 5)
		return -1;
	v = strtol(s, NULL, 10);
	return v >= 1 && v <= 65535 ? (int)v : -1;
}

int
envoyvalues_probe_port(const json_t *container, const json_t *port)
{
	const json_t *p;
	const char *name;
	size_t i;

	if (json_is_integer(port))
		return json_integer_value(port) >= 1 &&
		    json_integer_value(port) <= 65535 ?
		    (int)json_integer_value(port) : -1;
	if ((name = json_string_value(port)) == NULL)
		return 0;
	json_array_foreach(json_object_get(container, "ports"), i, p) {
		const char *n = json_string_value(json_object_get(p, "name"));
		const json_t *cp = json_object_get(p, "containerPort");

		if (n == NULL || strcmp(n, name) != 0)
			continue;
		if (!json_is_integer(cp))
			return -1;
		return json_integer_value(cp) >= 1 &&
		    json_integer_value(cp) <= 65535 ?
		    (int)json_integer_value(cp) : -1;
	}
	/* A numeric string is a port, as in IntOrString. */
	if (strspn(name, "0123456789") == strlen(name) && *name != '\0')
		return digits_port(name);
	return 0;
}

bool
envoyvalues_header(const json_t *item, const char **name, const char **value)
{
	*name = json_string_value(json_object_get(item, "name"));
	*value = json_string_value(json_object_get(item, "value"));
	if (*value == NULL)
		*value = "";
	return *name != NULL;
}

int
envoyvalues_metrics_port(const char *text)
{
	return digits_port(text);
}

bool
envoyvalues_metrics_tls(const char *scheme)
{
	return scheme != NULL && strcasecmp(scheme, "https") == 0;
}

/* s for a message, as a JSON-ish quoted string: at most 40 bytes of it,
 * control characters and bytes past ASCII's printable range kept readable
 * (\n, \xNN), cut with "..." (msg_add makes the rest valid UTF-8). */
static void
quote(char *buf, size_t len, const char *s)
{
	size_t n = 0, i;

	if (len < 8)
		return;
	buf[n++] = '"';
	for (i = 0; s[i] != '\0' && n + 8 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= 40) {
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		if (c == '\n' || c == '\r' || c == '\t') {
			buf[n++] = '\\';
			buf[n++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(buf + n, len - n, "\\x%02x", c);
		} else if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else {
			buf[n++] = (char)c;
		}
	}
	buf[n++] = '"';
	buf[n] = '\0';
}

/* Why Envoy cannot carry s as an HTTP header value (or a health check's
 * host), or NULL: a control character other than tab, or DEL. */
static const char *
value_fault(const char *s, char *why, size_t len)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
			snprintf(why, len, "has control character 0x%02x, which "
			    "an HTTP header cannot carry", *p);
			return why;
		}
	if (strlen(s) > ENVOY_HEADER_MAX) {
		snprintf(why, len, "is longer than %d bytes", ENVOY_HEADER_MAX);
		return why;
	}
	return NULL;
}

/* Why s is not a request path Envoy can send (a health check's path, the
 * metrics route's prefix_rewrite), or NULL. */
static const char *
path_fault(const char *s, char *why, size_t len)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t') {
			snprintf(why, len, "has a %s, which the HTTP request "
			    "line cannot carry", *p == ' ' ? "space" : "tab");
			return why;
		}
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(why, len, "has control character 0x%02x, which "
			    "Envoy refuses in a request path", *p);
			return why;
		}
	}
	if (strlen(s) > ENVOY_HEADER_MAX) {
		snprintf(why, len, "is longer than %d bytes", ENVOY_HEADER_MAX);
		return why;
	}
	return NULL;
}

/* An HTTP token character (RFC 9110 tchar). */
static bool
tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Why Envoy cannot add s as a header name to its health check, or NULL. */
static const char *
name_fault(const char *s, char *why, size_t len)
{
	const unsigned char *p;

	if (*s == '\0')
		return "is empty";
	if (*s == ':')
		return "is a pseudo-header, which Envoy does not let a health "
		    "check set";
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (!tchar(*p)) {
			if (*p < 0x20 || *p >= 0x7f)
				snprintf(why, len, "has byte 0x%02x, which an "
				    "HTTP header name cannot have", *p);
			else
				snprintf(why, len, "has '%c', which an HTTP "
				    "header name cannot have", *p);
			return why;
		}
	if (strlen(s) > ENVOY_HEADER_MAX) {
		snprintf(why, len, "is longer than %d bytes", ENVOY_HEADER_MAX);
		return why;
	}
	return NULL;
}

/* A Kubernetes DNS label (a container's name): [a-z0-9-], 1-63, no '-'
 * at either end. */
static bool
dns_label(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 63 && strspn(s,
	    "abcdefghijklmnopqrstuvwxyz0123456789-") == n && s[0] != '-' &&
	    s[n - 1] != '-';
}

/* Where a problem is: "container app: livenessProbe.httpGet". */
struct where {
	const char *container;
	const char *field;
	const char *handler;
};

static int
problem(struct msg_list *problems, const struct where *w, const char *key,
    const char *value, const char *why)
{
	char q[128];

	quote(q, sizeof(q), value);
	msg_add(problems, "container %.60s: %s.%s.%s: %s %s", w->container,
	    w->field, w->handler, key, q, why);
	return 1;
}

static int
check_headers(const struct where *w, const json_t *headers,
    struct msg_list *problems)
{
	const json_t *h;
	const char *name, *value, *why;
	char key[64], buf[128];
	size_t i, added = 0;
	int found = 0;

	json_array_foreach(headers, i, h) {
		if (!envoyvalues_header(h, &name, &value))
			continue;
		if ((why = name_fault(name, buf, sizeof(buf))) != NULL) {
			snprintf(key, sizeof(key), "httpHeaders[%zu].name", i);
			found += problem(problems, w, key, name, why);
		}
		if ((why = value_fault(value, buf, sizeof(buf))) != NULL) {
			snprintf(key, sizeof(key), "httpHeaders[%zu].value", i);
			found += problem(problems, w, key, value, why);
		}
		if (strcasecmp(name, "host") != 0)
			added++;
	}
	if (added > ENVOY_HEADERS_MAX) {
		msg_add(problems, "container %.60s: %s.%s.httpHeaders: %zu "
		    "headers, more than the %d Envoy's health check takes",
		    w->container, w->field, w->handler, added,
		    ENVOY_HEADERS_MAX);
		found++;
	}
	return found;
}

/* periodSeconds and timeoutSeconds become the health check's interval and
 * timeout: Kubernetes' int32 seconds, which Envoy takes in milliseconds. */
static int
check_seconds(const struct where *w, const json_t *probe,
    struct msg_list *problems)
{
	static const char *const keys[] = { "periodSeconds", "timeoutSeconds" };
	int found = 0;
	size_t k;

	for (k = 0; k < 2; k++) {
		const json_t *v = json_object_get(probe, keys[k]);

		if (json_is_integer(v) && json_integer_value(v) > K8S_INT32_MAX) {
			msg_add(problems, "container %.60s: %s.%s: %lld is out "
			    "of range (at most %ld seconds)", w->container,
			    w->field, keys[k], (long long)json_integer_value(v),
			    K8S_INT32_MAX);
			found++;
		}
	}
	return found;
}

static int
check_http(const struct where *w, const json_t *get,
    struct msg_list *problems)
{
	const char *path = json_string_value(json_object_get(get, "path"));
	const json_t *scheme = json_object_get(get, "scheme");
	const char *s, *why;
	char buf[128];
	int found = 0;

	if (path != NULL && (why = path_fault(path, buf, sizeof(buf))) != NULL)
		found += problem(problems, w, "path", path, why);
	if (scheme != NULL && ((s = json_string_value(scheme)) == NULL ||
	    (strcmp(s, "HTTP") != 0 && strcmp(s, "HTTPS") != 0)))
		found += problem(problems, w, "scheme", s != NULL ? s : "",
		    "is not HTTP or HTTPS");
	found += check_headers(w, json_object_get(get, "httpHeaders"), problems);
	return found;
}

/* A probe's port that is not one: a number out of range, or the name of
 * a containerPort that is. */
static int
port_problem(struct msg_list *problems, const struct where *w,
    const json_t *port)
{
	const char *s = json_string_value(port);
	char num[32];

	if (json_is_integer(port)) {
		snprintf(num, sizeof(num), "%lld",
		    (long long)json_integer_value(port));
		return problem(problems, w, "port", num,
		    "is not a port (1-65535)");
	}
	if (strspn(s, "0123456789") == strlen(s))
		return problem(problems, w, "port", s,
		    "is not a port (1-65535)");
	return problem(problems, w, "port", s, "names a containerPort that "
	    "is not a port (1-65535)");
}

/* The probes probe-rewrite takes over, as inject.c's plan_probes() picks
 * them: app containers (not mesh-*), HTTP and TCP handlers without a host
 * of their own, on a port the container has. */
static int
check_probes(const json_t *pod, struct msg_list *problems)
{
	static const char *const fields[] = { "livenessProbe",
	    "readinessProbe", "startupProbe" };
	const json_t *c;
	size_t i, k;
	int found = 0;

	json_array_foreach(json_object_get(json_object_get(pod, "spec"),
	    "containers"), i, c) {
		const char *cname = json_string_value(json_object_get(c, "name"));

		if (cname == NULL || strncmp(cname, "mesh-", 5) == 0)
			continue;
		for (k = 0; k < 3; k++) {
			const json_t *probe = json_object_get(c, fields[k]);
			const json_t *handler, *port;
			struct where w = { cname, fields[k], NULL };
			bool http;

			handler = envoyvalues_probe_handler(probe, &http);
			if (handler == NULL)
				continue;
			w.handler = http ? "httpGet" : "tcpSocket";
			port = json_object_get(handler, "port");
			/* A port that names no port of the container: the probe
			 * is left alone. Not a port at all: said, and the rest
			 * checked too, so that every problem comes at once. */
			switch (envoyvalues_probe_port(c, port)) {
			case 0:
				continue;
			case -1:
				found += port_problem(problems, &w, port);
				break;
			}
			if (!dns_label(cname)) {
				char q[128];

				quote(q, sizeof(q), cname);
				msg_add(problems, "container %s: the name is not a "
				    "DNS label (a-z, 0-9, '-', at most 63), and "
				    "probe-rewrite puts it in the probe's path", q);
				found++;
			}
			found += check_seconds(&w, probe, problems);
			if (http)
				found += check_http(&w, handler, problems);
		}
	}
	return found;
}

static int
annotation_problem(struct msg_list *problems, const char *key,
    const char *value, const char *why)
{
	char q[128];

	quote(q, sizeof(q), value);
	msg_add(problems, "annotation %s: %s %s", key, q, why);
	return 1;
}

/* The prometheus.io annotations metrics-merge hands to the proxy, as
 * inject.c's plan_metrics() reads them: only when a port is annotated and
 * scrape is not other than "true". */
static int
check_metrics(const json_t *pod, struct msg_list *problems)
{
	const char *port = pod_annotation(pod, "prometheus.io/port");
	const char *scrape = pod_annotation(pod, "prometheus.io/scrape");
	const char *path = pod_annotation(pod, "prometheus.io/path");
	const char *scheme = pod_annotation(pod, "prometheus.io/scheme");
	const char *why;
	char buf[128];
	int found = 0;

	if (port == NULL || (scrape != NULL && strcmp(scrape, "true") != 0))
		return 0;
	if (envoyvalues_metrics_port(port) == -1)
		found += annotation_problem(problems, "prometheus.io/port", port,
		    "is not a port (1-65535)");
	if (path != NULL && (why = path_fault(path, buf, sizeof(buf))) != NULL)
		found += annotation_problem(problems, "prometheus.io/path", path,
		    why);
	if (scheme != NULL && strcasecmp(scheme, "http") != 0 &&
	    strcasecmp(scheme, "https") != 0)
		found += annotation_problem(problems, "prometheus.io/scheme",
		    scheme, "is not http or https");
	return found;
}

int
envoyvalues_check(const json_t *pod, unsigned features,
    struct msg_list *problems)
{
	int found = 0;

	if (!(features & FEATURE_BIT(FEATURE_PROXY)))
		return 0;
	if (features & FEATURE_BIT(FEATURE_PROBE_REWRITE))
		found += check_probes(pod, problems);
	if (features & FEATURE_BIT(FEATURE_METRICS_MERGE))
		found += check_metrics(pod, problems);
	return found;
}
