/* policy.c - the stage and features of a pod, or why it is skipped or
 * refused. Everything that decides lives here; inject.c only builds. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

void
msg_add(struct msg_list *l, const char *fmt, ...)
{
	va_list ap;

	if (l->n >= POLICY_MSG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(l->items[l->n], POLICY_MSG_LEN, fmt, ap);
	va_end(ap);
	l->n++;
}

const char *
json_path_string(const json_t *root, const char *a, const char *b,
    const char *c)
{
	const json_t *v = root;

	if (a != NULL)
		v = json_object_get(v, a);
	if (b != NULL)
		v = json_object_get(v, b);
	if (c != NULL)
		v = json_object_get(v, c);
	return json_string_value(v);
}

const char *
pod_annotation(const json_t *pod, const char *key)
{
	return json_path_string(pod, "metadata", "annotations", key);
}

const char *
pod_label(const json_t *pod, const char *key)
{
	return json_path_string(pod, "metadata", "labels", key);
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
already_injected(const json_t *pod)
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
	if (!json_is_object(status)) {
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
static void
workload_of(const json_t *pod, char *buf, size_t buflen)
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
	if (kind == NULL || name == NULL) {
		name = json_path_string(pod, "metadata", "name", NULL);
		if (name == NULL || *name == '\0')
			name = json_path_string(pod, "metadata",
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
	if (d->code != 422) {
		d->code = 422;
		d->reason = "Invalid";
	}
}

static void
parse_ports_annotation(struct decision *d, const json_t *pod,
    const char *key, bool allow_all, struct port_list *out,
    const char **text)
{
	char err[POLICY_MSG_LEN];

	*text = pod_annotation(pod, key);
	if (*text == NULL)
		return;
	if (netparse_ports(*text, allow_all, out, err, sizeof(err)) == -1) {
		msg_add(&d->problems, "annotation %s: %s", key, err);
		d->code = 422;
		d->reason = "Invalid";
	}
}

static void
parse_cidrs_annotation(struct decision *d, const json_t *pod,
    const char *key, struct cidr_list *out, const char **text)
{
	char err[POLICY_MSG_LEN];

	*text = pod_annotation(pod, key);
	if (*text == NULL)
		return;
	if (netparse_cidrs(*text, true, out, err, sizeof(err)) == -1) {
		msg_add(&d->problems, "annotation %s: %s", key, err);
		d->code = 422;
		d->reason = "Invalid";
	}
}

/* The traffic annotations that reach mesh-init's rules. */
static void
parse_settings(struct decision *d, const json_t *pod)
{
	struct pod_settings *s = &d->settings;

	parse_ports_annotation(d, pod, "meshinject.io/include-inbound-ports",
	    true, &s->include_inbound, &s->include_inbound_text);
	parse_ports_annotation(d, pod, "meshinject.io/exclude-inbound-ports",
	    true, &s->exclude_inbound, &s->exclude_inbound_text);
	parse_ports_annotation(d, pod, "meshinject.io/exclude-outbound-ports",
	    false, &s->exclude_outbound, &s->exclude_outbound_text);
	parse_cidrs_annotation(d, pod, "meshinject.io/include-outbound-cidrs",
	    &s->include_cidrs, &s->include_cidrs_text);
	parse_cidrs_annotation(d, pod, "meshinject.io/exclude-outbound-cidrs",
	    &s->exclude_cidrs, &s->exclude_cidrs_text);
}

/* Does the pod carry a mesh-proxy container (classic or native)? */
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
			if (n != NULL && strcmp(n, "mesh-proxy") == 0)
				return true;
		}
	}
	return false;
}

int
policy_decide(const struct config *cfg, const struct policy_input *in,
    struct decision *d)
{
	const json_t *pod = in->pod;
	const char *ns = in->namespace != NULL ? in->namespace : "";
	const char *name, *inject, *want;
	const struct stage *st;

	if (cfg == NULL || in == NULL || d == NULL)
		return -1;
	memset(d, 0, sizeof(*d));
	d->settings.include_inbound.all = true;
	d->settings.include_cidrs.all = true;

	if (in->operation == NULL || strcmp(in->operation, "CREATE") != 0) {
		skip(d, "operation is not CREATE");
		return 0;
	}
	if (config_namespace_ignored(cfg, ns)) {
		set_why(d, "skipped: namespace %s is ignored", ns);
		d->verdict = VERDICT_SKIP;
		return 0;
	}
	if (in->self_namespace != NULL && strcmp(in->self_namespace, ns) == 0) {
		skip(d, "the webhook's own namespace");
		return 0;
	}
	if (pod_annotation(pod, ANN_MIRROR) != NULL) {
		skip(d, "mirror pod");
		return 0;
	}

	/* The namespace's stage: the path's, else the pod's label (the chart's
	 * objectSelector entry), else the config's default. */
	name = in->path_stage;
	if (name == NULL)
		name = pod_label(pod, LABEL_STAGE);
	if (name == NULL && !in->validate)
		name = pod_annotation(pod, ANN_STAGE);
	if (name == NULL)
		name = cfg->default_stage;
	d->ns_stage = config_stage(cfg, name);
	if (d->ns_stage == NULL) {
		invalid(d, LABEL_STAGE, name, "is not a configured stage");
		d->verdict = VERDICT_DENY;
		set_why(d, "denied: unknown stage %s", name);
		return 0;
	}

	if (json_is_true(json_object_get(json_object_get(pod, "spec"),
	    "hostNetwork"))) {
		msg_add(&d->warnings, "meshinject: hostNetwork pod left "
		    "without mesh: its traffic cannot be redirected");
		skip(d, "hostNetwork");
		return 0;
	}

	inject = pod_annotation(pod, ANN_INJECT);
	if (inject != NULL && strcmp(inject, "false") != 0 &&
	    strcmp(inject, "true") != 0)
		invalid(d, ANN_INJECT, inject, "is not \"true\" or \"false\"");
	if (inject != NULL && strcmp(inject, "false") == 0) {
		if (!d->ns_stage->enforce) {
			skip(d, "opted out (meshinject.io/inject: \"false\")");
			return 0;
		}
		msg_add(&d->problems, "annotation %s: \"false\" is not allowed:"
		    " stage %s is enforced", ANN_INJECT, d->ns_stage->name);
		d->code = 403;
		d->reason = "Forbidden";
	}

	st = d->ns_stage;
	want = pod_annotation(pod, ANN_STAGE);
	if (want != NULL && want != name) {
		const struct stage *asked = config_stage(cfg, want);

		if (asked == NULL)
			invalid(d, ANN_STAGE, want, "is not a configured stage");
		else
			st = asked;
	}
	workload_of(pod, d->workload, sizeof(d->workload));
	st = apply_rollout(cfg, st, rollout_bucket(ns, d->workload));
	d->stage = st;
	d->features = st != NULL ? st->features : 0;

	parse_settings(d, pod);

	if (d->problems.n > 0) {
		d->verdict = VERDICT_DENY;
		set_why(d, "denied: %s", d->problems.items[0]);
		return 0;
	}
	if (in->validate) {
		if (d->ns_stage->enforce &&
		    (d->ns_stage->features & FEATURE_BIT(FEATURE_PROXY)) &&
		    !has_proxy(pod)) {
			msg_add(&d->problems, "pod has no mesh-proxy: stage %s "
			    "is enforced and the pod would escape the mesh",
			    d->ns_stage->name);
			d->code = 403;
			d->reason = "Forbidden";
			d->verdict = VERDICT_DENY;
			set_why(d, "denied: no mesh-proxy in enforced stage %s",
			    d->ns_stage->name);
			return 0;
		}
		d->verdict = VERDICT_UNCHANGED;
		set_why(d, "validated stage=%s", d->ns_stage->name);
		return 0;
	}
	if (already_injected(pod)) {
		d->verdict = VERDICT_UNCHANGED;
		set_why(d, "unchanged: already injected");
		return 0;
	}
	if (d->features == 0) {
		d->verdict = VERDICT_UNCHANGED;
		set_why(d, "unchanged: stage %s injects nothing", st->name);
		return 0;
	}
	if (d->features & FEATURE_BIT(FEATURE_OBSERVE)) {
		d->verdict = VERDICT_OBSERVE;
		set_why(d, "observed stage=%s", st->name);
		return 0;
	}
	d->verdict = VERDICT_INJECT;
	set_why(d, "injected stage=%s", st->name);
	return 0;
}
