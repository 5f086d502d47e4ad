/* policy.c - the stage and features of a pod, or why it is skipped or
 * refused. Everything that decides lives here; inject.c only builds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "envoyvalues.h"
#include "policy.h"

const char *
verdict_name(enum verdict v)
{
	switch (v) {
	case VERDICT_INJECT:
		return "injected";
	case VERDICT_OBSERVE:
		return "observed";
	case VERDICT_UNCHANGED:
		return "unchanged";
	case VERDICT_SKIP:
		return "skipped";
	case VERDICT_DENY:
		return "denied";
	}
	return "unknown";
}

static void
set_why(struct decision *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_why(struct decision *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	utf8_clean(d->why);
}

static void
skip(struct decision *d, const char *why)
{
	d->verdict = VERDICT_SKIP;
	set_why(d, "skipped: %s", why);
}

/*
 * Does the pod already carry what its status annotation lists? Then it was
 * injected (kube-apiserver reinvokes the webhook under IfNeeded) and must get
 * no second patch.
 */
static bool
already_injected(const json_t *pod, const char *stage)
{
	static const struct {
		const char *status_key;
		const char *spec_key;
		const char *alt_spec_key;
	} lists[] = {
		{ "containers", "containers", "initContainers" },
		{ "initContainers", "initContainers", "containers" },
		{ "volumes", "volumes", NULL },
	};
	const char *text;
	json_t *status;
	size_t i, j, k;
	bool ok = true;

	text = pod_annotation(pod, ANN_STATUS);
	if (text == NULL)
		return false;
	status = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(status) || !json_is_string(json_object_get(status,
	    "stage")) || strcmp(json_string_value(json_object_get(status,
	    "stage")), stage) != 0) {
		json_decref(status);
		return false;
	}
	for (i = 0; ok && i < sizeof(lists) / sizeof(lists[0]); i++) {
		const json_t *want = json_object_get(status, lists[i].status_key);
		const json_t *name;

		if (want != NULL && !json_is_array(want)) {
			ok = false;
			break;
		}
		json_array_foreach(want, j, name) {
			const char *n = json_string_value(name);
			const char *keys[2] = { lists[i].spec_key,
			    lists[i].alt_spec_key };
			bool found = false;

			for (k = 0; n != NULL && !found && k < 2; k++) {
				const json_t *arr, *item;
				size_t m;

				if (keys[k] == NULL)
					continue;
				arr = json_object_get(json_object_get(pod,
				    "spec"), keys[k]);
				json_array_foreach(arr, m, item) {
					const char *in = json_string_value(
					    json_object_get(item, "name"));
					if (in != NULL && strcmp(in, n) == 0) {
						found = true;
						break;
					}
				}
			}
			if (!found) {
				ok = false;
				break;
			}
		}
	}
	json_decref(status);
	return ok;
}

/*
 * The workload a pod belongs to, "Kind/name": a ReplicaSet's pod counts as
 * its Deployment (the pod-template-hash suffix stripped), a CronJob's Job
 * (name "<cronjob>-<minutes since epoch>") as its CronJob; other controllers
 * as themselves; a bare pod by its name or generateName.
 */
void
policy_workload(const json_t *pod, char *buf, size_t buflen)
{
	const json_t *owners, *o, *ctl = NULL;
	const char *kind, *name, *hash;
	size_t i, n, len;

	owners = json_object_get(json_object_get(pod, "metadata"),
	    "ownerReferences");
	json_array_foreach(owners, i, o) {
		if (json_is_true(json_object_get(o, "controller"))) {
			ctl = o;
			break;
		}
		if (ctl == NULL)
			ctl = o;
	}
	kind = json_string_value(json_object_get(ctl, "kind"));
	name = json_string_value(json_object_get(ctl, "name"));
	if (kind == NULL || name == NULL || *kind == '\0' || *name == '\0') {
		name = jpath_string(pod, "metadata", "name", NULL);
		if (name == NULL || *name == '\0')
			name = jpath_string(pod, "metadata",
			    "generateName", NULL);
		if (name == NULL)
			name = "";
		len = strlen(name);
		if (len > 0 && name[len - 1] == '-')
			len--;
		snprintf(buf, buflen, "Pod/%.*s", (int)len, name);
		return;
	}
	len = strlen(name);
	if (strcmp(kind, "ReplicaSet") == 0) {
		hash = pod_label(pod, "pod-template-hash");
		n = hash != NULL ? strlen(hash) : 0;
		if (n > 0 && len > n + 1 && name[len - n - 1] == '-' &&
		    strcmp(name + len - n, hash) == 0) {
			snprintf(buf, buflen, "Deployment/%.*s",
			    (int)(len - n - 1), name);
			return;
		}
	} else if (strcmp(kind, "ReplicationController") == 0) {
		/* OpenShift: a DeploymentConfig's RC is "<dc>-<version>". */
		const char *dc = pod_label(pod,
		    "openshift.io/deployment-config.name");

		n = dc != NULL ? strlen(dc) : 0;
		if (n > 0 && len > n + 1 && strncmp(name, dc, n) == 0 &&
		    name[n] == '-') {
			snprintf(buf, buflen, "DeploymentConfig/%s", dc);
			return;
		}
	} else if (strcmp(kind, "Job") == 0) {
		for (n = 0; n < len && name[len - 1 - n] >= '0' &&
		    name[len - 1 - n] <= '9'; n++)
			;
		if (n >= 8 && len > n + 1 && name[len - n - 1] == '-') {
			snprintf(buf, buflen, "CronJob/%.*s",
			    (int)(len - n - 1), name);
			return;
		}
	}
	snprintf(buf, buflen, "%s/%s", kind, name);
}

/*
 * The rollout bucket of a workload, 0..99: FNV-1a (64 bit) of
 * "<namespace>/<Kind>/<name>" modulo 100. Documented in the README; changing
 * it moves workloads between stages, so it never changes silently.
 */
static unsigned
rollout_bucket(const char *namespace, const char *workload)
{
	unsigned long long h = 0xcbf29ce484222325ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)namespace; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h = (h ^ '/') * 0x100000001b3ULL;
	for (p = (const unsigned char *)workload; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return (unsigned)(h % 100);
}

/* Follow rollout fallbacks from `st` for this workload; bounded by the
 * number of stages so that a cycle cannot loop. */
static const struct stage *
apply_rollout(const struct config *cfg, const struct stage *st,
    unsigned bucket)
{
	size_t hops;

	for (hops = 0; st != NULL && hops < cfg->n_stages; hops++) {
		if (st->rollout_percent >= 100 ||
		    bucket < (unsigned)st->rollout_percent)
			return st;
		st = config_stage(cfg, st->rollout_fallback);
	}
	return st;
}

static void
invalid(struct decision *d, const char *key, const char *value,
    const char *reason)
{
	msg_add(&d->problems, "annotation %s: \"%.60s\" %s", key, value,
	    reason);
	d->code = 422;
	d->reason = "Invalid";
}

/* A bypass of the mesh: 403 Forbidden, unless something is already
 * Invalid (422 wins: the pod must be fixed first). */
static void
forbidden(struct decision *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
forbidden(struct decision *d, const char *fmt, ...)
{
	va_list ap;

	if (d->problems.n < POLICY_MSG_MAX) {
		va_start(ap, fmt);
		vsnprintf(d->problems.items[d->problems.n], POLICY_MSG_LEN, fmt,
		    ap);
		va_end(ap);
		utf8_clean(d->problems.items[d->problems.n]);
		d->problems.n++;
	}
	if (d->code != 422) {
		d->code = 403;
		d->reason = "Forbidden";
	}
}

static void
parse_ports_annotation(struct decision *d, const json_t *anns,
    const char *key, bool allow_all, struct port_list *out,
    const char **text)
{
	char err[POLICY_MSG_LEN];

	*text = annotation_in(anns, key);
	if (*text == NULL)
		return;
	if (netparse_ports(*text, allow_all, out, err, sizeof(err)) == -1) {
		msg_add(&d->problems, "annotation %s: %s", key, err);
		d->code = 422;
		d->reason = "Invalid";
	}
}

static void
parse_cidrs_annotation(struct decision *d, const json_t *anns,
    const char *key, struct cidr_list *out, const char **text)
{
	char err[POLICY_MSG_LEN];

	*text = annotation_in(anns, key);
	if (*text == NULL)
		return;
	if (netparse_cidrs(*text, true, out, err, sizeof(err)) == -1) {
		msg_add(&d->problems, "annotation %s: %s", key, err);
		d->code = 422;
		d->reason = "Invalid";
	}
}

/* A quantity annotation (proxy-cpu, ...): kept when valid. */
static const char *
quantity_annotation(struct decision *d, const json_t *anns, const char *key)
{
	const char *v = annotation_in(anns, key);

	if (v != NULL && !config_valid_quantity(v)) {
		invalid(d, key, v, "is not a Kubernetes quantity (like 100m, "
		    "0.5, 128Mi)");
		return NULL;
	}
	return v;
}

/* A proxy request above its limit makes the apiserver refuse the pod:
 * say so here, naming the annotation that caused it. */
static void
check_request_limit(struct decision *d, const char *resource,
    const char *req_ann, const char *req_pod, const char *req_cfg,
    const char *lim_ann, const char *lim_pod, const char *lim_cfg)
{
	const char *req = req_pod != NULL ? req_pod : req_cfg;
	const char *lim = lim_pod != NULL ? lim_pod : lim_cfg;

	if (req == NULL || lim == NULL || (req_pod == NULL && lim_pod == NULL) ||
	    config_quantity_value(req) <= config_quantity_value(lim))
		return;
	if (req_pod != NULL)
		msg_add(&d->problems, "annotation %s: \"%.40s\" is above the "
		    "proxy's %s limit \"%.40s\"", req_ann, req, resource, lim);
	else
		msg_add(&d->problems, "annotation %s: \"%.40s\" is below the "
		    "proxy's %s request \"%.40s\"", lim_ann, lim, resource, req);
	d->code = 422;
	d->reason = "Invalid";
}

/* Every annotation of DESIGN.md's table that shapes the injection. */
static void
parse_settings(const struct config *cfg, struct decision *d,
    const json_t *pod)
{
	struct pod_settings *s = &d->settings;
	const json_t *anns = pod_annotations(pod);
	const char *v;

	parse_ports_annotation(d, anns, "meshinject.io/include-inbound-ports",
	    true, &s->include_inbound, &s->include_inbound_text);
	parse_ports_annotation(d, anns, "meshinject.io/exclude-inbound-ports",
	    false, &s->exclude_inbound, &s->exclude_inbound_text);
	parse_ports_annotation(d, anns, "meshinject.io/exclude-outbound-ports",
	    false, &s->exclude_outbound, &s->exclude_outbound_text);
	parse_cidrs_annotation(d, anns, "meshinject.io/include-outbound-cidrs",
	    &s->include_cidrs, &s->include_cidrs_text);
	parse_cidrs_annotation(d, anns, "meshinject.io/exclude-outbound-cidrs",
	    &s->exclude_cidrs, &s->exclude_cidrs_text);
	s->cpu_request = quantity_annotation(d, anns,
	    "meshinject.io/proxy-cpu");
	s->memory_request = quantity_annotation(d, anns,
	    "meshinject.io/proxy-memory");
	s->cpu_limit = quantity_annotation(d, anns,
	    "meshinject.io/proxy-cpu-limit");
	s->memory_limit = quantity_annotation(d, anns,
	    "meshinject.io/proxy-memory-limit");
	check_request_limit(d, "cpu", "meshinject.io/proxy-cpu",
	    s->cpu_request, d->proxy->cpu_request,
	    "meshinject.io/proxy-cpu-limit", s->cpu_limit, d->proxy->cpu_limit);
	check_request_limit(d, "memory", "meshinject.io/proxy-memory",
	    s->memory_request, d->proxy->memory_request,
	    "meshinject.io/proxy-memory-limit", s->memory_limit,
	    d->proxy->memory_limit);
	v = annotation_in(anns, "meshinject.io/proxy-log-level");
	if (v != NULL && !config_valid_log_level(v))
		invalid(d, "meshinject.io/proxy-log-level", v, "is not a log "
		    "level (trace, debug, info, warning, error, critical, off)");
	else
		s->log_level = v;
	v = annotation_in(anns, "meshinject.io/proxy-image");
	if (v != NULL) {
		if (!cfg->allow_image_override)
			forbidden(d, "annotation meshinject.io/proxy-image: "
			    "\"%.60s\" is not allowed: the config does not "
			    "allow image overrides", v);
		else if (!config_valid_image(v))
			invalid(d, "meshinject.io/proxy-image", v,
			    "is not an image reference");
		else
			s->image = v;
	}
}

/* Apply "+feature,-feature" to *features. Unknown names are Invalid. */
static void
apply_features_annotation(struct decision *d, const char *text,
    unsigned *features)
{
	const char *p = text, *end;
	char name[64];

	while (*p != '\0') {
		size_t n;
		int f;
		char sign;

		while (*p == ' ')
			p++;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		sign = n > 0 ? p[0] : '\0';
		if ((sign != '+' && sign != '-') || n < 2 ||
		    n - 1 >= sizeof(name)) {
			msg_add(&d->problems, "annotation meshinject.io/"
			    "features: \"%.*s\" is not +feature or -feature",
			    (int)(n < 60 ? n : 60), p);
			d->code = 422;
			d->reason = "Invalid";
		} else {
			memcpy(name, p + 1, n - 1);
			name[n - 1] = '\0';
			f = feature_parse(name);
			if (f < 0) {
				invalid(d, "meshinject.io/features", name,
				    "is not a feature");
			} else if (sign == '+') {
				*features |= FEATURE_BIT(f);
			} else {
				*features &= ~FEATURE_BIT(f);
			}
		}
		p = *end == ',' ? end + 1 : end;
	}
}

/* Names of the features in `set`, comma-separated, into buf. */
static void
feature_list(unsigned set, char *buf, size_t buflen)
{
	size_t n = 0, len;
	int f;

	buf[0] = '\0';
	for (f = 0; f < FEATURE_COUNT; f++) {
		const char *name;

		if (!(set & FEATURE_BIT(f)))
			continue;
		name = feature_name(f);
		len = strlen(name);
		if (len + (n > 0) >= buflen - n) {	/* cut, and the end */
			snprintf(buf + n, buflen - n, "%s%s", n > 0 ? "," : "",
			    name);
			break;
		}
		if (n > 0)
			buf[n++] = ',';
		memcpy(buf + n, name, len + 1);
		n += len;
	}
}

/* Features that mean nothing without the proxy. */
#define NEEDS_PROXY (FEATURE_BIT(FEATURE_REDIRECT) | FEATURE_BIT(FEATURE_CNI) | \
    FEATURE_BIT(FEATURE_MTLS) | FEATURE_BIT(FEATURE_NATIVE_SIDECAR) | \
    FEATURE_BIT(FEATURE_HOLD_APP) | FEATURE_BIT(FEATURE_PROBE_REWRITE) | \
    FEATURE_BIT(FEATURE_METRICS_MERGE))

/* The stage after `st` in config order that injects a proxy: what observe
 * reports on. NULL when there is none. */
static const struct stage *
next_working_stage(const struct config *cfg, const struct stage *st)
{
	size_t i;
	bool after = false;

	for (i = 0; i < cfg->n_stages; i++) {
		const struct stage *s = &cfg->stages[i];

		if (after && (s->features & FEATURE_BIT(FEATURE_PROXY)) &&
		    !(s->features & FEATURE_BIT(FEATURE_OBSERVE)))
			return s;
		if (s == st)
			after = true;
	}
	return NULL;
}

/* Containers the checks leave to check_injected(): the ones meshinject
 * adds, by their exact names. */
static bool
is_mesh_container(const char *name)
{
	return name != NULL && (strcmp(name, MESH_PROXY) == 0 ||
	    strcmp(name, MESH_INIT) == 0);
}

static long
sc_id(const json_t *sc, const char *key)
{
	const json_t *u = json_object_get(sc, key);

	return json_is_integer(u) ? (long)json_integer_value(u) : -1;
}

static long
run_as_user(const json_t *sc)
{
	return sc_id(sc, "runAsUser");
}

static long
run_as_group(const json_t *sc)
{
	return sc_id(sc, "runAsGroup");
}

/*
 * The checks of DESIGN.md on the user's containers: a port the proxy owns,
 * the proxy's UID (own or inherited from the pod), and under enforce
 * NET_ADMIN/NET_RAW. Each finding is a 403 problem.
 */
static void
check_containers(struct decision *d, const json_t *pod,
    const struct proxy_config *px, bool enforce)
{
	static const char *const lists[] = { "initContainers", "containers" };
	const json_t *spec = json_object_get(pod, "spec");
	long pod_uid = run_as_user(json_object_get(spec, "securityContext"));
	long pod_gid = run_as_group(json_object_get(spec, "securityContext"));
	int owned[6];
	size_t i, j, k;

	owned[0] = px->port_admin;
	owned[1] = px->port_outbound;
	owned[2] = px->port_inbound;
	owned[3] = px->port_status;
	owned[4] = px->port_metrics;
	owned[5] = 15020;	/* reserved for merged metrics */
	for (i = 0; i < 2; i++) {
		const json_t *c;

		json_array_foreach(json_object_get(spec, lists[i]), j, c) {
			const char *name = json_string_value(json_object_get(c,
			    "name"));
			const json_t *sc = json_object_get(c, "securityContext");
			const json_t *port, *cap;
			long uid, gid;

			if (name == NULL || is_mesh_container(name))
				continue;
			json_array_foreach(json_object_get(c, "ports"), k,
			    port) {
				json_int_t cp = json_integer_value(
				    json_object_get(port, "containerPort"));
				size_t o;

				for (o = 0; o < 6; o++)
					if (cp == owned[o])
						forbidden(d, "container %.60s "
						    "listens on port %d, which "
						    "the mesh proxy owns", name,
						    owned[o]);
			}
			uid = run_as_user(sc);
			if (uid < 0)
				uid = pod_uid;
			if (uid >= 0 && uid == px->uid)
				forbidden(d, "container %.60s runs as UID %ld,"
				    " the proxy's: its traffic would bypass "
				    "the mesh", name, uid);
			/* The redirect exempts the proxy's GID as well. */
			gid = run_as_group(sc);
			if (gid < 0)
				gid = pod_gid;
			if (gid >= 0 && gid == px->uid)
				forbidden(d, "container %.60s runs as GID %ld,"
				    " the proxy's: its traffic would bypass "
				    "the mesh", name, gid);
			if (!enforce)
				continue;
			json_array_foreach(json_object_get(json_object_get(sc,
			    "capabilities"), "add"), k, cap) {
				const char *cn = json_string_value(cap);

				if (cn != NULL && strncmp(cn, "CAP_", 4) == 0)
					cn += 4;
				if (cn != NULL && (strcmp(cn, "NET_ADMIN") == 0 ||
				    strcmp(cn, "NET_RAW") == 0 ||
				    strcmp(cn, "ALL") == 0))
					forbidden(d, "container %.60s adds "
					    "capability %s: the stage is "
					    "enforced and it could undo the "
					    "redirect", name, cn);
			}
		}
	}
}

/* Is `c` the proxy meshinject injects: a configured proxy image (or the
 * pod's allowed override) running as that proxy's UID? */
static bool
proxy_is_ours(const struct config *cfg, const struct decision *d,
    const json_t *c)
{
	const char *image = json_string_value(json_object_get(c, "image"));
	long uid = run_as_user(json_object_get(c, "securityContext"));
	size_t i;

	if (image == NULL)
		return false;
	if (d->settings.image != NULL && strcmp(image, d->settings.image) == 0)
		return uid == d->proxy->uid;
	if (strcmp(image, cfg->proxy.image) == 0 && uid == cfg->proxy.uid)
		return true;
	for (i = 0; i < cfg->n_stages; i++)
		if (strcmp(image, cfg->stages[i].proxy.image) == 0 &&
		    uid == cfg->stages[i].proxy.uid)
			return true;
	return false;
}

/*
 * Containers and volumes named like the ones meshinject injects must be
 * meshinject's: a mesh-proxy with another image or UID, or a mesh-init
 * with another image, would pass for the mesh (and skip the checks) while
 * bypassing it. A pod without a status annotation that already has a
 * mesh-* volume is the user's own clash. All 403.
 */
static void
check_injected_names(const struct config *cfg, struct decision *d,
    const json_t *pod)
{
	static const char *const lists[] = { "initContainers", "containers" };
	static const char *const vols[] = { MESH_VOL_RUN, MESH_VOL_TOKEN,
	    MESH_VOL_CERTS };
	const json_t *spec = json_object_get(pod, "spec"), *item;
	bool status = pod_annotation(pod, ANN_STATUS) != NULL;
	size_t i, j, k;

	for (i = 0; i < 2; i++) {
		json_array_foreach(json_object_get(spec, lists[i]), j, item) {
			const char *n = json_string_value(json_object_get(item,
			    "name"));
			const char *image = json_string_value(json_object_get(
			    item, "image"));

			if (n == NULL)
				continue;
			if (strcmp(n, MESH_PROXY) == 0 &&
			    !proxy_is_ours(cfg, d, item))
				forbidden(d, "container %s: the name is reserved"
				    " for meshinject's proxy (image %.60s is not"
				    " a configured proxy running as its UID)", n,
				    image != NULL ? image : "none");
			if (strcmp(n, MESH_INIT) == 0 && (image == NULL ||
			    strcmp(image, cfg->init_image) != 0))
				forbidden(d, "container %s: the name is reserved"
				    " for meshinject's redirect (image %.60s is "
				    "not init.image)", n, image != NULL ? image :
				    "none");
		}
	}
	if (status)
		return;
	json_array_foreach(json_object_get(spec, "volumes"), j, item) {
		const char *n = json_string_value(json_object_get(item, "name"));

		for (k = 0; n != NULL && k < 3; k++)
			if (strcmp(n, vols[k]) == 0)
				forbidden(d, "volume %s: the name is reserved "
				    "for what meshinject injects", n);
	}
}

/* Does the pod carry a mesh-proxy container: classic, or native (an init
 * container with restartPolicy Always; a plain init container named so
 * would never let the pod start, and proxies nothing)? The policies'
 * CEL (charts/meshinject/files/policy-validations.yaml) says the same. */
static bool
has_proxy(const json_t *pod)
{
	static const char *const lists[] = { "containers", "initContainers" };
	const json_t *c;
	size_t i, j;

	for (i = 0; i < 2; i++) {
		json_array_foreach(json_object_get(json_object_get(pod, "spec"),
		    lists[i]), j, c) {
			const char *n = json_string_value(json_object_get(c,
			    "name"));
			const char *rp = json_string_value(json_object_get(c,
			    "restartPolicy"));

			if (n != NULL && strcmp(n, MESH_PROXY) == 0 &&
			    (i == 0 || (rp != NULL && strcmp(rp, "Always") == 0)))
				return true;
		}
	}
	return false;
}

/* Does the pod carry the mesh-init init container (its image is checked
 * by check_injected_names)? */
static bool
has_init(const json_t *pod)
{
	const json_t *c;
	size_t j;

	json_array_foreach(json_object_get(json_object_get(pod, "spec"),
	    "initContainers"), j, c) {
		const char *n = json_string_value(json_object_get(c, "name"));

		if (n != NULL && strcmp(n, MESH_INIT) == 0)
			return true;
	}
	return false;
}

/* What the Envoy bootstrap would carry from the pod (probes under
 * probe-rewrite, prometheus.io annotations under metrics-merge) must be
 * values Envoy takes: 422, each naming its field or annotation and value
 * (envoyvalues.c). */
static void
check_envoy_values(struct decision *d, const json_t *pod, unsigned features)
{
	if (envoyvalues_check(pod, features, &d->problems) > 0) {
		d->code = 422;
		d->reason = "Invalid";
	}
}

/* Turn the problems into warnings: observe reports instead of refusing. */
static void
problems_to_warnings(struct decision *d)
{
	size_t i;

	for (i = 0; i < d->problems.n; i++)
		msg_add(&d->warnings, "meshinject: would refuse: %s",
		    d->problems.items[i]);
	d->problems.n = 0;
	d->code = 0;
	d->reason = NULL;
}

/* The namespace's stage: the path's, else the pod's label (the chart's
 * objectSelector entry for unlabelled namespaces), else the config's
 * default. The pod's annotation may then pick another stage, under the
 * namespace stage's enforcement. */
static const char *
namespace_stage_name(const struct config *cfg, const struct policy_input *in,
    struct decision *d)
{
	const char *name;

	if ((name = in->path_stage) != NULL) {
		msg_add(&d->trail, "stage %s from the path", name);
	} else if ((name = pod_label(in->pod, LABEL_STAGE)) != NULL) {
		msg_add(&d->trail, "stage %s from the pod label %s", name,
		    LABEL_STAGE);
	} else {
		name = cfg->default_stage;
		msg_add(&d->trail, "stage %s from the config's defaultStage",
		    name);
	}
	return name;
}

/* Only the headers: the message arrays are 25 KB that nothing reads past
 * each list's n, and zeroing them was 2 % of a review. */
void
decision_init(struct decision *d)
{
	struct pod_settings *s = &d->settings;

	memset(d, 0, offsetof(struct decision, why));
	d->why[0] = '\0';
	d->workload[0] = '\0';
	d->bucket = -1;
	d->trail.n = d->problems.n = d->warnings.n = 0;
	s->include_inbound.all = true;
	s->include_inbound.n = 0;
	s->exclude_inbound.all = false;
	s->exclude_inbound.n = 0;
	s->exclude_outbound.all = false;
	s->exclude_outbound.n = 0;
	s->include_cidrs.all = true;
	s->include_cidrs.n = 0;
	s->exclude_cidrs.all = false;
	s->exclude_cidrs.n = 0;
	memset(&s->include_inbound_text, 0, sizeof(*s) -
	    offsetof(struct pod_settings, include_inbound_text));
}

/*
 * policy_decide, one function per step of DESIGN's "How the stage of a pod
 * is chosen", in the order they run. A step that settles the pod's fate
 * returns true (the verdict is in d); the others return false and leave
 * what they found in d for the next.
 */

/* Step 5, first part: what is skipped before anything is read. */
static bool
step_skip_always(const struct config *cfg, const struct policy_input *in,
    const char *ns, struct decision *d)
{
	if (in->operation == NULL || strcmp(in->operation, "CREATE") != 0) {
		skip(d, "operation is not CREATE");
		return true;
	}
	if (config_namespace_ignored(cfg, ns)) {
		set_why(d, "skipped: namespace %s is ignored", ns);
		d->verdict = VERDICT_SKIP;
		return true;
	}
	if (in->self_namespace != NULL && strcmp(in->self_namespace, ns) == 0) {
		skip(d, "the webhook's own namespace");
		return true;
	}
	if (pod_annotation(in->pod, ANN_MIRROR) != NULL) {
		skip(d, "mirror pod");
		return true;
	}
	return false;
}

/* Step 1: the namespace's stage (d->ns_stage); an unknown one is refused. */
static bool
step_namespace_stage(const struct config *cfg, const struct policy_input *in,
    struct decision *d)
{
	const char *name = namespace_stage_name(cfg, in, d);

	d->ns_stage = config_stage(cfg, name);
	if (d->ns_stage != NULL)
		return false;
	msg_add(&d->problems, "label %s: \"%.60s\" is not a configured "
	    "stage", LABEL_STAGE, name);
	d->code = 422;
	d->reason = "Invalid";
	d->verdict = VERDICT_DENY;
	set_why(d, "denied: unknown stage %.60s", name);
	return true;
}

/* Step 5, second part: a hostNetwork pod is skipped with a warning (after
 * step 1, so that an unknown stage is refused even there). */
static bool
step_skip_host_network(const json_t *pod, struct decision *d)
{
	if (!json_is_true(json_object_get(json_object_get(pod, "spec"),
	    "hostNetwork")))
		return false;
	msg_add(&d->warnings, "meshinject: hostNetwork pod left without "
	    "mesh: its traffic cannot be redirected");
	skip(d, "hostNetwork");
	return true;
}

/* Step 2: the pod's opt-out and stage annotations, refused under enforce
 * when the result would be weaker. Returns the stage the pod asks for. */
static const struct stage *
step_pod_annotations(const struct config *cfg, const json_t *pod,
    struct decision *d, bool *opted_out)
{
	const struct stage *ns_stage = d->ns_stage, *asked;
	const char *inject, *want;

	*opted_out = false;
	inject = pod_annotation(pod, ANN_INJECT);
	if (inject != NULL && strcmp(inject, "false") != 0 &&
	    strcmp(inject, "true") != 0)
		invalid(d, ANN_INJECT, inject, "is not \"true\" or \"false\"");
	if (inject != NULL && strcmp(inject, "false") == 0) {
		if (!ns_stage->enforce) {
			msg_add(&d->trail, "opted out with %s: \"false\"",
			    ANN_INJECT);
			skip(d, "opted out (meshinject.io/inject: \"false\")");
			*opted_out = true;
			return ns_stage;
		}
		forbidden(d, "annotation %s: \"false\" is not allowed: stage "
		    "%s is enforced", ANN_INJECT, ns_stage->name);
	}

	/* A pod may pick another stage; under enforce, not a weaker one. */
	want = pod_annotation(pod, ANN_STAGE);
	if (want == NULL || strcmp(want, ns_stage->name) == 0)
		return ns_stage;
	asked = config_stage(cfg, want);
	if (asked == NULL) {
		invalid(d, ANN_STAGE, want, "is not a configured stage");
		return ns_stage;
	}
	if (ns_stage->enforce && (ns_stage->features & ~asked->features) != 0) {
		forbidden(d, "annotation %s: \"%.60s\" is not allowed: stage "
		    "%s is enforced and %s lacks its features", ANN_STAGE,
		    want, ns_stage->name, want);
		return ns_stage;
	}
	msg_add(&d->trail, "stage %s from the pod annotation %s", asked->name,
	    ANN_STAGE);
	return asked;
}

/* Step 3: under a partial rollout, the workload's bucket decides, the same
 * for every replica and every new ReplicaSet of it. */
static const struct stage *
step_rollout(const struct config *cfg, const json_t *pod, const char *ns,
    const struct stage *st, struct decision *d)
{
	const struct stage *got;

	policy_workload(pod, d->workload, sizeof(d->workload));
	utf8_clean(d->workload);
	if (st->rollout_percent >= 100)
		return st;
	d->bucket = (int)rollout_bucket(ns, d->workload);
	got = apply_rollout(cfg, st, (unsigned)d->bucket);
	msg_add(&d->trail, "rollout: %s is in bucket %d, stage %s reaches "
	    "buckets below %d: %s", d->workload, d->bucket, st->name,
	    st->rollout_percent, got == st ? "in" : "falls back");
	if (got != st && got != NULL) {
		d->rollout_from = st;
		msg_add(&d->trail, "stage %s by rollout fallback", got->name);
	}
	return got != NULL ? got : st;
}

/* Step 4: the stage's features, changed by meshinject.io/features within
 * what the namespace's enforcement allows; under observe, what the next
 * working stage would do. Sets d->features, d->proxy, d->would_*. */
static void
step_features(const struct config *cfg, const json_t *pod,
    const struct stage *st, struct decision *d)
{
	const struct stage *ns_stage = d->ns_stage;
	unsigned features = st->features, lost;
	char list[POLICY_MSG_LEN];
	const char *ftext;

	feature_list(features, list, sizeof(list));
	msg_add(&d->trail, "features of stage %s: [%s]", st->name, list);

	ftext = pod_annotation(pod, "meshinject.io/features");
	if (ftext != NULL) {
		apply_features_annotation(d, ftext, &features);
		feature_list(features, list, sizeof(list));
		msg_add(&d->trail, "features after meshinject.io/features "
		    "\"%.60s\": [%s]", ftext, list);
	}
	if (ns_stage->enforce) {
		lost = ns_stage->features & ~features;
		if (features & FEATURE_BIT(FEATURE_OBSERVE))
			lost |= FEATURE_BIT(FEATURE_PROXY);
		if (lost != 0 && ftext != NULL) {
			feature_list(lost, list, sizeof(list));
			forbidden(d, "annotation meshinject.io/features: "
			    "\"%.60s\" is not allowed: stage %s is enforced "
			    "and requires %s", ftext, ns_stage->name, list);
		}
	}
	if ((features & NEEDS_PROXY) &&
	    !(features & FEATURE_BIT(FEATURE_PROXY)) &&
	    !(features & FEATURE_BIT(FEATURE_OBSERVE))) {
		feature_list(features & NEEDS_PROXY, list, sizeof(list));
		msg_add(&d->problems, "features %s need the proxy feature "
		    "(stage %s%s)", list, st->name, ftext != NULL ?
		    ", meshinject.io/features" : "");
		d->code = 422;
		d->reason = "Invalid";
	}
	d->features = features;
	d->proxy = &st->proxy;

	/* Observe reports on what the next working stage would do. */
	if (!(features & FEATURE_BIT(FEATURE_OBSERVE)))
		return;
	d->would_features = features & ~FEATURE_BIT(FEATURE_OBSERVE);
	d->would_stage = st;
	if (!(d->would_features & FEATURE_BIT(FEATURE_PROXY))) {
		d->would_stage = next_working_stage(cfg, st);
		d->would_features = d->would_stage != NULL ?
		    d->would_stage->features : 0;
	}
	if (d->would_stage != NULL) {
		d->proxy = &d->would_stage->proxy;
		feature_list(d->would_features, list, sizeof(list));
		msg_add(&d->trail, "observe: reporting what stage %s would "
		    "do: [%s]", d->would_stage->name, list);
	}
}

/* The checks of DESIGN's "Checks (validation)" on the pod as it is. */
static void
check_pod(const struct config *cfg, const struct policy_input *in,
    struct decision *d)
{
	unsigned features = d->features;

	if (features == 0)
		return;
	parse_settings(cfg, d, in->pod);
	check_containers(d, in->pod, d->proxy, d->ns_stage->enforce);
	check_injected_names(cfg, d, in->pod);
	/* Under observe, what the stage reported on would inject; /validate
	 * builds nothing. */
	if (!in->validate)
		check_envoy_values(d, in->pod, (features &
		    FEATURE_BIT(FEATURE_OBSERVE)) ? d->would_features :
		    features);
}

/* /validate, after every mutating webhook: the final pod of an enforced
 * stage must carry the proxy and, where the stage redirects, mesh-init. */
static void
verdict_validate(const json_t *pod, struct decision *d)
{
	const struct stage *ns_stage = d->ns_stage;
	bool needs_proxy = ns_stage->enforce &&
	    (ns_stage->features & FEATURE_BIT(FEATURE_PROXY));

	if (needs_proxy && !has_proxy(pod))
		forbidden(d, "pod has no mesh-proxy: stage %s is enforced and "
		    "the pod would escape the mesh", ns_stage->name);
	/* Without the redirect (or the CNI check) the proxy is there but
	 * nothing sends it the pod's traffic. */
	if (needs_proxy && (ns_stage->features &
	    (FEATURE_BIT(FEATURE_REDIRECT) | FEATURE_BIT(FEATURE_CNI))) &&
	    !has_init(pod))
		forbidden(d, "pod has no mesh-init: stage %s is enforced and "
		    "the pod's traffic would not be redirected to the proxy",
		    ns_stage->name);
	if (d->problems.n > 0) {
		d->verdict = VERDICT_DENY;
		set_why(d, "denied: %s", d->problems.items[0]);
		return;
	}
	d->verdict = VERDICT_UNCHANGED;
	set_why(d, "validated stage=%s", ns_stage->name);
}

/* /mutate: observe, refuse, leave alone (already injected, or nothing to
 * inject) or inject. The one place that says "already injected". */
static void
verdict_mutate(const json_t *pod, const struct stage *st, struct decision *d)
{
	/* Observe reports instead of refusing, but an enforced namespace
	 * cannot be escaped into observe. */
	if ((d->features & FEATURE_BIT(FEATURE_OBSERVE)) &&
	    !(d->ns_stage->enforce && d->problems.n > 0)) {
		problems_to_warnings(d);
		d->verdict = VERDICT_OBSERVE;
		set_why(d, "observed stage=%s", st->name);
		if (d->would_stage != NULL)
			msg_add(&d->warnings, "meshinject: observe: stage %s "
			    "would inject the proxy into this pod",
			    d->would_stage->name);
		if (already_injected(pod, st->name)) {
			d->verdict = VERDICT_UNCHANGED;
			d->already = true;
			set_why(d, "unchanged: already observed");
		}
		return;
	}
	if (d->problems.n > 0) {
		d->verdict = VERDICT_DENY;
		set_why(d, "denied: %s", d->problems.items[0]);
		return;
	}
	if (already_injected(pod, st->name)) {
		d->verdict = VERDICT_UNCHANGED;
		d->already = true;
		set_why(d, "unchanged: already injected");
		return;
	}
	if (d->features == 0) {
		d->verdict = VERDICT_UNCHANGED;
		set_why(d, "unchanged: stage %s injects nothing", st->name);
		return;
	}
	d->verdict = VERDICT_INJECT;
	set_why(d, "injected stage=%s", st->name);
}

int
policy_decide(const struct config *cfg, const struct policy_input *in,
    struct decision *d)
{
	const struct stage *st;
	const char *ns;
	bool opted_out;

	if (cfg == NULL || in == NULL || d == NULL)
		return -1;
	ns = in->namespace != NULL ? in->namespace : "";
	decision_init(d);

	if (step_skip_always(cfg, in, ns, d) ||
	    step_namespace_stage(cfg, in, d) ||
	    step_skip_host_network(in->pod, d))
		return 0;
	st = step_pod_annotations(cfg, in->pod, d, &opted_out);
	if (opted_out)
		return 0;
	st = step_rollout(cfg, in->pod, ns, st, d);
	d->stage = st;
	step_features(cfg, in->pod, st, d);
	check_pod(cfg, in, d);
	if (in->validate)
		verdict_validate(in->pod, d);
	else
		verdict_mutate(in->pod, st, d);
	return 0;
}

void
policy_nothing_to_add(struct decision *d)
{
	if (d->verdict != VERDICT_INJECT && d->verdict != VERDICT_OBSERVE)
		return;
	d->verdict = VERDICT_UNCHANGED;
	d->already = true;
	set_why(d, "unchanged: already injected");
}
