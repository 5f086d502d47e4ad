/* review.c - AdmissionReview in, AdmissionReview out: decode the request,
 * ask policy.c and inject.c, encode the answer. No I/O. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "inject.h"
#include "jsonalloc.h"
#include "jsonpack.h"
#include "jsonread.h"
#include "jsonwrite.h"
#include "policy.h"
#include "review.h"

/* The parts of a request the core reads; all borrowed from `root`. */
struct review_request {
	json_t *root;
	const char *api_version;
	const char *uid;
	const char *kind;		/* request.kind.kind */
	const char *group;		/* request.kind.group */
	const char *operation;
	const char *namespace;
	const json_t *object;
};

/* Copy src (NULL as "") into dst, cut to fit. */
static void
copy(char *dst, size_t len, const char *src)
{
	size_t n = src != NULL ? strnlen(src, len - 1) : 0;

	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
	utf8_clean(dst);
}

/* A JSON error body {"error": msg}; NULL when memory runs out. */
static char *
error_body(const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *s;

	if (o == NULL)
		return NULL;
	s = jsonwrite_dumps(o, JSON_COMPACT, NULL);
	json_decref(o);
	return s;
}

/* What the core never reads, left out of the tree: the pod's
 * managedFields (a fifth of a pod) and status, and the parts of the
 * request that repeat what kind says or concern who asked and how. */
static const struct jsonread_skip skip_metadata[] = {
	{ "managedFields", NULL }, { NULL, NULL }
};
static const struct jsonread_skip skip_object[] = {
	{ "metadata", skip_metadata }, { "status", NULL }, { NULL, NULL }
};
static const struct jsonread_skip skip_request[] = {
	{ "object", skip_object }, { "oldObject", NULL },
	{ "options", NULL }, { "requestKind", NULL },
	{ "requestResource", NULL }, { "resource", NULL },
	{ "userInfo", NULL }, { NULL, NULL }
};
static const struct jsonread_skip review_skip[] = {
	{ "request", skip_request }, { NULL, NULL }
};

/* Decode and check the envelope. Returns 0, or -1 with a reason in err. */
static int
review_decode(const char *body, size_t len, struct review_request *r,
    char *err, size_t errlen)
{
	json_error_t jerr;
	const json_t *req, *kind;

	memset(r, 0, sizeof(*r));
	/* The fast reader first; jansson decides what it declines and words
	 * the error. */
	r->root = jsonread_loadb(body, len, review_skip);
	if (r->root == NULL)
		r->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (r->root == NULL) {
		snprintf(err, errlen, "body is not JSON: %s (line %d, column "
		    "%d)", jerr.text, jerr.line, jerr.column);
		return -1;
	}
	if (!json_is_object(r->root)) {
		snprintf(err, errlen, "body is not an AdmissionReview: not a "
		    "JSON object");
		return -1;
	}
	r->api_version = json_string_value(json_object_get(r->root,
	    "apiVersion"));
	if (r->api_version == NULL ||
	    (strcmp(r->api_version, "admission.k8s.io/v1") != 0 &&
	    strcmp(r->api_version, "admission.k8s.io/v1beta1") != 0)) {
		snprintf(err, errlen, "apiVersion must be admission.k8s.io/v1 "
		    "or admission.k8s.io/v1beta1");
		return -1;
	}
	if (!json_is_string(json_object_get(r->root, "kind")) ||
	    strcmp(json_string_value(json_object_get(r->root, "kind")),
	    "AdmissionReview") != 0) {
		snprintf(err, errlen, "kind must be AdmissionReview");
		return -1;
	}
	req = json_object_get(r->root, "request");
	if (!json_is_object(req)) {
		snprintf(err, errlen, "request is missing or not an object");
		return -1;
	}
	r->uid = json_string_value(json_object_get(req, "uid"));
	if (r->uid == NULL || *r->uid == '\0') {
		snprintf(err, errlen, "request.uid is missing or not a string");
		return -1;
	}
	kind = json_object_get(req, "kind");
	r->kind = json_string_value(json_object_get(kind, "kind"));
	r->group = json_string_value(json_object_get(kind, "group"));
	r->operation = json_string_value(json_object_get(req, "operation"));
	r->namespace = json_string_value(json_object_get(req, "namespace"));
	r->object = json_object_get(req, "object");
	if (r->kind == NULL || r->operation == NULL) {
		snprintf(err, errlen, "request.kind.kind and request.operation "
		    "must be strings");
		return -1;
	}
	return 0;
}

/* Is this a core/v1 Pod whose object we can read? */
static bool
is_pod(const struct review_request *r)
{
	return strcmp(r->kind, "Pod") == 0 &&
	    (r->group == NULL || *r->group == '\0') &&
	    json_is_object(r->object) &&
	    json_is_object(json_object_get(r->object, "spec"));
}

/* The parts of a Pod that the patch adds to must have the types the patch
 * expects, or an `add` would replace what the user wrote (a string where
 * the containers should be) or have no parent to add to (metadata null).
 * The apiserver never sends such a Pod; meshinject inject and check may
 * read one from a manifest. Returns 0, or -1 with what is wrong in err. */
static int
pod_check_shape(const json_t *pod, char *err, size_t errlen)
{
	static const struct {
		const char *in;		/* "metadata" or "spec" */
		const char *key;
		json_type type;		/* also null or absent */
	} fields[] = {
		{ "metadata", "annotations", JSON_OBJECT },
		{ "metadata", "labels", JSON_OBJECT },
		{ "spec", "containers", JSON_ARRAY },
		{ "spec", "initContainers", JSON_ARRAY },
		{ "spec", "volumes", JSON_ARRAY },
	};
	const json_t *v;
	size_t i;

	if (!json_is_object(json_object_get(pod, "metadata"))) {
		snprintf(err, errlen, "request.object.metadata is missing or "
		    "not an object");
		return -1;
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		v = json_object_get(json_object_get(pod, fields[i].in),
		    fields[i].key);
		if (v != NULL && !json_is_null(v) &&
		    json_typeof(v) != fields[i].type) {
			snprintf(err, errlen, "request.object.%s.%s is not an "
			    "%s", fields[i].in, fields[i].key,
			    fields[i].type == JSON_OBJECT ? "object" :
			    "array");
			return -1;
		}
	}
	return 0;
}

/* kubectl prints warnings one per line: keep each under 120 characters,
 * without control characters. */
#define WARNING_MAX 119

/* msg as a warning line in buf (WARNING_MAX + 1 bytes). */
static void
warning_text(char *buf, const char *msg)
{
	size_t i, n = strlen(msg);

	for (i = 0; i < n && i < WARNING_MAX; i++)
		buf[i] = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ? ' ' :
		    msg[i];
	if (n > WARNING_MAX)
		memcpy(buf + WARNING_MAX - 3, "...", 3);
	buf[i] = '\0';
	utf8_clean(buf);
}

/* Join problem messages into one status message, "; "-separated. */
static void
join(const struct msg_list *l, char *buf, size_t buflen)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < l->n && n < buflen; i++) {
		int w = snprintf(buf + n, buflen - n, "%s%s",
		    i > 0 ? "; " : "meshinject: ", l->items[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* ,"key": */
static int
member(struct buf *b, const char *key)
{
	if (buf_addc(b, ',') == -1 ||
	    jsonwrite_string(b, key, strlen(key)) != 0)
		return -1;
	return buf_addc(b, ':');
}

/* Write the AdmissionReview response around decision d and patch as text:
 * the patch's base64 (most of the answer) goes straight into it. Returns
 * a new JSON text, or NULL. */
static char *
review_encode(const struct review_request *r, const struct decision *d,
    const struct patch *patch)
{
	static const char patch_type[] =
	    ",\"patchType\":\"JSONPatch\",\"patch\":\"";
	char audit[POLICY_MSG_LEN + 16], warning[WARNING_MAX + 1];
	struct buf out;
	size_t i;
	int rc;

	buf_init(&out, BUF_MAX);
	/* The patch's base64 and the rest: room once, no copies. */
	if (buf_reserve(&out, patch->text.len / 3 * 4 + 1024) == -1)
		return NULL;
	/* The envelope and the first members of response; the rest follow
	 * in place of its two closing braces. The uid and apiVersion were
	 * read from the review, why is cleaned (review_decide, policy), and
	 * jsonwrite refuses what is not UTF-8 after all (jsonpack.h). */
	rc = jsonpack_text(&out, "{s:s, s:s, s:{s:s, s:b}}", "apiVersion",
	    r->api_version, "kind", "AdmissionReview", "response", "uid",
	    r->uid, "allowed", d->verdict != VERDICT_DENY);
	if (rc == 0)
		out.len -= 2;
	if (rc == 0 && d->verdict == VERDICT_DENY) {
		char msg[POLICY_MSG_MAX * (POLICY_MSG_LEN + 2)];

		join(&d->problems, msg, sizeof(msg));
		rc = member(&out, "status") == -1 || jsonpack_text(&out,
		    "{s:{}, s:s, s:s, s:s, s:i}", "metadata", "status",
		    "Failure", "message", msg, "reason", d->reason != NULL ?
		    d->reason : "Forbidden", "code", d->code != 0 ? d->code :
		    403) == -1 ? -1 : 0;
	}
	if (rc == 0 && patch->ops > 0)
		rc = buf_add(&out, patch_type, sizeof(patch_type) - 1) == -1 ||
		    base64_append(&out, patch->text.data, patch->text.len) ==
		    -1 || buf_addc(&out, '"') == -1 ? -1 : 0;
	if (rc == 0 && d->warnings.n > 0) {
		rc = member(&out, "warnings") == -1 || buf_addc(&out, '[') ==
		    -1 ? -1 : 0;
		for (i = 0; rc == 0 && i < d->warnings.n; i++) {
			warning_text(warning, d->warnings.items[i]);
			if ((i > 0 && buf_addc(&out, ',') == -1) ||
			    jsonwrite_string(&out, warning, strlen(warning)) !=
			    0)
				rc = -1;
		}
		if (rc == 0)
			rc = buf_addc(&out, ']');
	}
	/* On a reinvocation the first call's annotation stands: kube-apiserver
	 * refuses to overwrite an audit annotation and warns for each pod. */
	snprintf(audit, sizeof(audit), "%s", d->why);
	if (rc == 0 && !d->already)
		rc = member(&out, "auditAnnotations") == -1 ||
		    jsonpack_text(&out, "{s:s}", "decision", audit) == -1 ?
		    -1 : 0;
	if (rc == 0 && buf_add(&out, "}}", 2) == 0)
		return buf_take(&out, NULL);
	buf_free(&out);
	return NULL;
}

/* Decide, for a well-formed review, and build its patch. */
static int
review_decide(const struct config *cfg, const struct review_opts *opts,
    const struct review_request *r, struct decision *d, struct patch *patch)
{
	struct policy_input in = {
		.pod = r->object,
		.namespace = r->namespace,
		.operation = r->operation,
		.path_stage = opts->stage,
		.validate = opts->route == ROUTE_VALIDATE,
		.self_namespace = opts->self_namespace,
	};

	if (!is_pod(r)) {
		decision_init(d);
		d->verdict = VERDICT_SKIP;
		snprintf(d->why, sizeof(d->why), "skipped: kind %s is not a "
		    "Pod", r->kind);
		/* Cut at any byte: jansson refuses invalid UTF-8. */
		utf8_clean(d->why);
		return 0;
	}
	if (policy_decide(cfg, &in, d) == -1)
		return -1;
	if (d->verdict == VERDICT_INJECT || d->verdict == VERDICT_OBSERVE) {
		if (inject_patch(cfg, d, r->object, r->namespace != NULL ?
		    r->namespace : "", patch) == -1)
			return -1;
		if (patch->ops == 0)
			policy_nothing_to_add(d);
	}
	return 0;
}

/* The decision is large (some 39 KB, the parsed annotation lists): off the
 * stack of server threads, and not malloc'd per review either. A freed
 * block that size on top of a thread's heap went straight back to the
 * kernel (glibc's trim: an madvise per review, and page faults on the
 * next). One per thread, reused; review_handle does not nest. */
static _Thread_local struct decision review_decision;

int
review_handle(const struct config *cfg, const struct review_opts *opts,
    const char *body, size_t len, char **response,
    struct review_outcome *outcome)
{
	struct review_request r;
	struct decision *d = NULL;
	struct patch patch;
	char err[512];
	int status = -1;
	unsigned long failures = jsonalloc_failures();
	/* Every JSON value of this review lives in the arena when it is on
	 * (jsonalloc.h): the answer is malloc'd text, nothing else leaves. */
	bool arena = jsonalloc_arena_begin();

	*response = NULL;
	patch_init(&patch);
	if (outcome != NULL)
		memset(outcome, 0, sizeof(*outcome));
	if (review_decode(body, len, &r, err, sizeof(err)) == -1 ||
	    (is_pod(&r) && pod_check_shape(r.object, err, sizeof(err)) == -1)) {
		/* jansson quotes the bad token cut at any byte. */
		utf8_clean(err);
		*response = error_body(err);
		status = *response != NULL ? 400 : -1;
		if (outcome != NULL)
			copy(outcome->reason, sizeof(outcome->reason), err);
		goto done;
	}
	d = &review_decision;
	if (review_decide(cfg, opts, &r, d, &patch) == -1)
		goto done;
	*response = review_encode(&r, d, &patch);
	if (*response == NULL)
		goto done;
	status = 200;
	if (outcome != NULL) {
		copy(outcome->uid, sizeof(outcome->uid), r.uid);
		copy(outcome->namespace, sizeof(outcome->namespace),
		    r.namespace);
		copy(outcome->pod, sizeof(outcome->pod),
		    jpath_string(r.object, "metadata", "name", NULL));
		if (outcome->pod[0] == '\0')
			copy(outcome->pod, sizeof(outcome->pod),
			    jpath_string(r.object, "metadata",
			    "generateName", NULL));
		copy(outcome->stage, sizeof(outcome->stage),
		    d->stage != NULL ? d->stage->name : NULL);
		outcome->decision = verdict_name(d->verdict);
		copy(outcome->reason, sizeof(outcome->reason), d->why);
	}
done:
	/* Whatever swallowed it, a failed allocation may have left a part
	 * of the answer out (config.h): out of memory, not a wrong answer. */
	if (status != -1 && jsonalloc_failures() != failures) {
		free(*response);
		*response = NULL;
		status = -1;
	}
	if (!arena)
		json_decref(r.root);
	patch_free(&patch);
	jsonalloc_arena_end();
	return status;
}
