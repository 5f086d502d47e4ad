/* vap.c - the config's stages compiled into ValidatingAdmissionPolicies:
 * the CEL of charts/meshinject/files/policy-validations.yaml (embedded),
 * preceded by each stage's facts as literal variables. The chart's
 * templates/policies.yaml builds the same objects; a test holds them
 * equal. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "policy.h"
#include "vap.h"
#include "yamljson.h"

/* Ports the redirect reserves besides the five configured ones (merged
 * metrics), as check_containers() in policy.c. */
#define VAP_RESERVED_PORT	15020
/* A CEL literal is printed inside a policy by yamljson_dump, which stops
 * at 1 GiB: a longer one could never be printed. */
#define VAP_LITERAL_MAX		((size_t)1 << 30)

const char *
vap_stage_action(const struct stage *st)
{
	if (st->enforce)
		return "Deny";
	if (st->features & FEATURE_BIT(FEATURE_OBSERVE))
		return "Warn";
	return NULL;
}

/* ---- CEL literals, as Go's encoding/json writes them ---- */

/* Go escapes ", \, control characters, <, >, & and U+2028/U+2029; CEL
 * reads every one of those escapes in a double-quoted string. */
static void
cel_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];

	buf_add(b, "\"", 1);
	for (; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			buf_add(b, "\\\"", 2);
			continue;
		case '\\':
			buf_add(b, "\\\\", 2);
			continue;
		case '\n':
			buf_add(b, "\\n", 2);
			continue;
		case '\r':
			buf_add(b, "\\r", 2);
			continue;
		case '\t':
			buf_add(b, "\\t", 2);
			continue;
		default:
			break;
		}
		if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&') {
			snprintf(esc, sizeof(esc), "\\u00%c%c", hex[*p >> 4],
			    hex[*p & 15]);
			buf_add(b, esc, 6);
		} else if (p[0] == 0xe2 && p[1] == 0x80 &&
		    (p[2] == 0xa8 || p[2] == 0xa9)) {
			buf_lit(b, p[2] == 0xa8 ? "\\u2028" : "\\u2029");
			p += 2;
		} else {
			buf_add(b, (const char *)p, 1);
		}
	}
	buf_add(b, "\"", 1);
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
cel_value(struct buf *b, const json_t *v, int depth)
{
	char num[32];
	size_t i, n;

	if (depth > 16) {
		buf_fail(b);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (strlen(json_string_value(v)) != json_string_length(v))
			buf_fail(b);	/* a NUL */
		else
			cel_string(b, json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		buf_lit(b, num);
		break;
	case JSON_TRUE:
		buf_lit(b, "true");
		break;
	case JSON_FALSE:
		buf_lit(b, "false");
		break;
	case JSON_ARRAY:
		buf_add(b, "[", 1);
		for (i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				buf_add(b, ",", 1);
			cel_value(b, json_array_get(v, i), depth + 1);
		}
		buf_add(b, "]", 1);
		break;
	case JSON_OBJECT: {
		const char **keys;
		const char *k;
		json_t *item;

		n = json_object_size(v);
		keys = calloc(n ? n : 1, sizeof(*keys));
		if (keys == NULL) {
			buf_fail(b);
			return;
		}
		i = 0;
		json_object_foreach((json_t *)v, k, item)
			keys[i++] = k;
		qsort(keys, n, sizeof(*keys), key_cmp);
		buf_add(b, "{", 1);
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_add(b, ",", 1);
			cel_string(b, keys[i]);
			buf_add(b, ":", 1);
			cel_value(b, json_object_get(v, keys[i]), depth + 1);
		}
		buf_add(b, "}", 1);
		free(keys);
		break;
	}
	default:
		buf_fail(b);	/* reals and null: no config value is one */
		break;
	}
}

char *
vap_cel_literal(const json_t *v)
{
	struct buf b;

	buf_init(&b, VAP_LITERAL_MAX);
	cel_value(&b, v, 0);
	return buf_take(&b, NULL);
}

/* ---- the facts of a stage ---- */

static json_t *
feature_names(unsigned set)
{
	json_t *a = json_array();
	int f;

	for (f = 0; a != NULL && f < FEATURE_COUNT; f++)
		if (set & FEATURE_BIT(f))
			json_array_append_new(a, json_string(feature_name(f)));
	return a;
}

static json_t *
owned_ports(const struct proxy_config *px)
{
	return json_pack("[i, i, i, i, i, i]", px->port_admin,
	    px->port_outbound, px->port_inbound, px->port_status,
	    px->port_metrics, VAP_RESERVED_PORT);
}

/* The stage after `i` in config order that injects a proxy (policy.c's
 * next_working_stage): what observe reports on. "" when none. */
static const char *
next_stage(const struct config *cfg, size_t i)
{
	for (i++; i < cfg->n_stages; i++) {
		unsigned f = cfg->stages[i].features;

		if ((f & FEATURE_BIT(FEATURE_PROXY)) &&
		    !(f & FEATURE_BIT(FEATURE_OBSERVE)))
			return cfg->stages[i].name;
	}
	return "";
}

static void
add_image(json_t *images, const struct proxy_config *px)
{
	json_t *uids = json_object_get(images, px->image), *u;
	size_t i;

	if (uids == NULL) {
		uids = json_array();
		json_object_set_new(images, px->image, uids);
	}
	json_array_foreach(uids, i, u)
		if (json_integer_value(u) == px->uid)
			return;
	json_array_append_new(uids, json_integer(px->uid));
}

/* The facts every stage's policy shares: name -> value. */
static json_t *
shared_facts(const struct config *cfg)
{
	json_t *feats = json_object(), *uids = json_object();
	json_t *ports = json_object(), *next = json_object();
	json_t *images = json_object();
	size_t i;

	if (feats == NULL || uids == NULL || ports == NULL || next == NULL ||
	    images == NULL)
		goto fail;
	add_image(images, &cfg->proxy);
	for (i = 0; i < cfg->n_stages; i++) {
		const struct stage *st = &cfg->stages[i];

		json_object_set_new(feats, st->name, feature_names(st->features));
		json_object_set_new(uids, st->name, json_integer(st->proxy.uid));
		json_object_set_new(ports, st->name, owned_ports(&st->proxy));
		json_object_set_new(next, st->name,
		    json_string(next_stage(cfg, i)));
		add_image(images, &st->proxy);
	}
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:s, s:b}",
	    "stageFeatures", feats, "stageUid", uids, "stagePorts", ports,
	    "nextStage", next, "proxyImages", images,
	    "initImage", cfg->init_image,
	    "allowImageOverride", cfg->allow_image_override);
fail:
	json_decref(feats);
	json_decref(uids);
	json_decref(ports);
	json_decref(next);
	json_decref(images);
	return NULL;
}

/* Literal variables, in the order the CEL file lists them. */
static const char *const fact_order[] = {
	"stage", "enforce", "stageFeatures", "stageUid", "stagePorts",
	"nextStage", "proxyImages", "initImage", "allowImageOverride",
};

static json_t *
fact_variables(const json_t *shared, const struct stage *st)
{
	json_t *vars = json_array();
	size_t i;

	if (vars == NULL)
		return NULL;
	for (i = 0; i < sizeof(fact_order) / sizeof(fact_order[0]); i++) {
		const char *name = fact_order[i];
		json_t *v;
		char *text;

		if (strcmp(name, "stage") == 0)
			v = json_string(st->name);
		else if (strcmp(name, "enforce") == 0)
			v = json_boolean(st->enforce);
		else
			v = json_incref(json_object_get(shared, name));
		text = vap_cel_literal(v);
		json_decref(v);
		if (text == NULL || json_array_append_new(vars, json_pack(
		    "{s:s, s:s}", "name", name, "expression", text)) == -1) {
			free(text);
			json_decref(vars);
			return NULL;
		}
		free(text);
	}
	return vars;
}

/* The namespaces no binding selects: the control plane's, the config's
 * ignoredNamespaces, the caller's extras and the release namespace, in the
 * chart's order, each once. */
static json_t *
excluded_namespaces(const struct config *cfg, const struct vap_opts *opts)
{
	static const char *const control[] = { "kube-system", "kube-public",
	    "kube-node-lease" };
	json_t *out = json_array(), *item;
	const char *all[3 + 256 + VAP_MAX_EXCLUDED + 1];
	size_t n = 0, i, j;
	bool seen;

	if (out == NULL)
		return NULL;
	for (i = 0; i < 3; i++)
		all[n++] = control[i];
	for (i = 0; i < cfg->n_ignored_namespaces && i < 256; i++)
		all[n++] = cfg->ignored_namespaces[i];
	for (i = 0; i < opts->n_excluded && i < VAP_MAX_EXCLUDED; i++)
		all[n++] = opts->excluded[i];
	all[n++] = opts->release_namespace;
	for (i = 0; i < n; i++) {
		seen = false;
		json_array_foreach(out, j, item)
			if (strcmp(json_string_value(item), all[i]) == 0)
				seen = true;
		if (!seen)
			json_array_append_new(out, json_string(all[i]));
	}
	return out;
}

static json_t *
load_cel(char *err, size_t errlen)
{
	struct yamljson_error yerr;
	json_t *docs, *doc;

	docs = yamljson_load(vap_validations_yaml,
	    strlen(vap_validations_yaml), &yerr);
	if (docs == NULL) {
		snprintf(err, errlen, "policy-validations.yaml:%d:%d: %s",
		    yerr.line, yerr.column, yerr.text);
		return NULL;
	}
	doc = json_incref(json_array_get(docs, 0));
	json_decref(docs);
	if (!json_is_array(json_object_get(doc, "variables")) ||
	    !json_is_array(json_object_get(doc, "validations")) ||
	    !json_is_array(json_object_get(doc, "matchConditions"))) {
		snprintf(err, errlen, "policy-validations.yaml: needs "
		    "matchConditions, variables and validations");
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static json_t *
policy_object(const struct vap_opts *opts, const struct stage *st,
    const json_t *shared, const json_t *cel)
{
	char name[256];
	json_t *vars;

	vars = fact_variables(shared, st);
	if (vars == NULL || json_array_extend(vars,
	    json_object_get(cel, "variables")) == -1) {
		json_decref(vars);
		return NULL;
	}
	snprintf(name, sizeof(name), "%s-%s", opts->name, st->name);
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}},"
	    " s:{s:s, s:{s:[{s:[s], s:[s], s:[s], s:[s]}]}, s:O, s:o, s:O}}",
	    "apiVersion", "admissionregistration.k8s.io/v1",
	    "kind", "ValidatingAdmissionPolicy",
	    "metadata", "name", name, "labels",
	    "app.kubernetes.io/part-of", "meshinject",
	    "app.kubernetes.io/component", "admission-policy",
	    LABEL_STAGE, st->name,
	    "spec", "failurePolicy", "Fail",
	    "matchConstraints", "resourceRules", "apiGroups", "",
	    "apiVersions", "v1", "operations", "CREATE", "resources", "pods",
	    "matchConditions", json_object_get(cel, "matchConditions"),
	    "variables", vars,
	    "validations", json_object_get(cel, "validations"));
}

static json_t *
binding_object(const struct vap_opts *opts, const struct stage *st,
    const json_t *excluded)
{
	char name[256];
	json_t *actions;

	if (strcmp(vap_stage_action(st), "Deny") == 0)
		actions = json_pack("[s]", "Deny");
	else
		actions = json_pack("[s, s]", "Warn", "Audit");
	snprintf(name, sizeof(name), "%s-%s", opts->name, st->name);
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}},"
	    " s:{s:s, s:o, s:{s:{s:[{s:s, s:s, s:[s]}, {s:s, s:s, s:O}]}}}}",
	    "apiVersion", "admissionregistration.k8s.io/v1",
	    "kind", "ValidatingAdmissionPolicyBinding",
	    "metadata", "name", name, "labels",
	    "app.kubernetes.io/part-of", "meshinject",
	    "app.kubernetes.io/component", "admission-policy",
	    LABEL_STAGE, st->name,
	    "spec", "policyName", name, "validationActions", actions,
	    "matchResources", "namespaceSelector", "matchExpressions",
	    "key", LABEL_STAGE, "operator", "In", "values", st->name,
	    "key", "kubernetes.io/metadata.name", "operator", "NotIn",
	    "values", excluded);
}

json_t *
vap_objects(const struct config *cfg, const struct vap_opts *opts,
    char *err, size_t errlen)
{
	struct config_errors errs = { 0 };
	json_t *out = NULL, *cel = NULL, *shared = NULL, *excluded = NULL;
	size_t i;
	int n;

	n = vap_check(cfg, &errs);
	if (n != 0) {
		snprintf(err, errlen, "%s", n < 0 ? "out of memory" :
		    errs.msgs[0]);
		config_errors_clear(&errs);
		return NULL;
	}
	if ((cel = load_cel(err, errlen)) == NULL)
		return NULL;
	shared = shared_facts(cfg);
	excluded = excluded_namespaces(cfg, opts);
	out = json_array();
	if (shared == NULL || excluded == NULL || out == NULL)
		goto oom;
	for (i = 0; i < cfg->n_stages; i++) {
		const struct stage *st = &cfg->stages[i];

		if (vap_stage_action(st) == NULL)
			continue;
		if (json_array_append_new(out, policy_object(opts, st, shared,
		    cel)) == -1 || json_array_append_new(out,
		    binding_object(opts, st, excluded)) == -1)
			goto oom;
	}
	json_decref(cel);
	json_decref(shared);
	json_decref(excluded);
	return out;
oom:
	snprintf(err, errlen, "out of memory");
	json_decref(cel);
	json_decref(shared);
	json_decref(excluded);
	json_decref(out);
	return NULL;
}

/* ---- what cannot be compiled ---- */

static int
add_error(struct config_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
add_error(struct config_errors *errs, const char *fmt, ...)
{
	char line[512], **msgs, *m;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	msgs = realloc(errs->msgs, (errs->count + 1) * sizeof(*msgs));
	if (msgs == NULL)
		return -1;
	errs->msgs = msgs;
	if ((m = strdup(line)) == NULL)
		return -1;
	errs->msgs[errs->count++] = m;
	return 0;
}

/* What the CEL checks with a stage's proxy: its UID and ports, and the
 * class of its features (none, observe, proxy). */
static bool
same_checks(const struct stage *a, const struct stage *b)
{
	const unsigned cls = FEATURE_BIT(FEATURE_PROXY) |
	    FEATURE_BIT(FEATURE_OBSERVE);

	return a->proxy.uid == b->proxy.uid &&
	    a->proxy.port_admin == b->proxy.port_admin &&
	    a->proxy.port_outbound == b->proxy.port_outbound &&
	    a->proxy.port_inbound == b->proxy.port_inbound &&
	    a->proxy.port_status == b->proxy.port_status &&
	    a->proxy.port_metrics == b->proxy.port_metrics &&
	    (a->features == 0) == (b->features == 0) &&
	    (a->features & cls) == (b->features & cls);
}

/* UTF-8 without control characters: what a CEL literal carries safely. */
static bool
cel_safe(const char *s)
{
	const unsigned char *p;
	char *copy;
	bool ok;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	if ((copy = strdup(s)) == NULL)
		return false;
	utf8_clean(copy);
	ok = strcmp(copy, s) == 0;
	free(copy);
	return ok;
}

int
vap_check(const struct config *cfg, struct config_errors *errs)
{
	size_t i, hops;
	int n = 0;

	if (!cel_safe(cfg->init_image) && ++n &&
	    add_error(errs, "init.image: cannot be written as a CEL string "
	    "(control characters or invalid UTF-8)") == -1)
		return -1;
	if (!cel_safe(cfg->proxy.image) && ++n &&
	    add_error(errs, "proxy.image: cannot be written as a CEL string "
	    "(control characters or invalid UTF-8)") == -1)
		return -1;
	for (i = 0; i < cfg->n_stages; i++) {
		const struct stage *st = &cfg->stages[i], *f = st;

		if (!cel_safe(st->proxy.image) && ++n &&
		    add_error(errs, "stages.%s.proxy.image: cannot be written "
		    "as a CEL string (control characters or invalid UTF-8)",
		    st->name) == -1)
			return -1;
		/* Which workloads fall back is a 64-bit FNV-1a hash, which
		 * CEL (no bitwise operators, no bytes of a string) cannot
		 * compute: the policy checks a pod with its stage as if fully
		 * rolled out. Exact only when every stage a bound stage may
		 * fall back to is checked the same way. (A stage no binding
		 * selects is only reached by a pod's annotation.) */
		for (hops = 0; vap_stage_action(st) != NULL && f != NULL &&
		    f->rollout_percent < 100 &&
		    hops < cfg->n_stages; hops++) {
			f = config_stage(cfg, f->rollout_fallback);
			if (f != NULL && !same_checks(st, f)) {
				n++;
				if (add_error(errs, "stages.%s.rollout: the "
				    "policy cannot tell which workloads fall "
				    "back to %s (a hash CEL cannot compute), "
				    "and %s's proxy UID, ports or kind of "
				    "features differ from %s's: give them the "
				    "same proxy settings", st->name, f->name,
				    f->name, st->name) == -1)
					return -1;
				break;
			}
		}
	}
	return n;
}
