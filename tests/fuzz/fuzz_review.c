/* fuzz_review.c - libFuzzer target for the pure core: one AdmissionReview
 * body in, through review_handle on every route (/mutate, /validate) and
 * every stage of a config that uses every feature (fuzz-config.yaml), with
 * the contract checked on each answer:
 *   - status 200 or 400 (never -1: nothing runs out of memory here);
 *   - the response is a JSON object; a 400 is {"error": "..."};
 *   - a 200 is an AdmissionReview of the request's apiVersion carrying the
 *     request's uid, `allowed` a boolean, a denial with a 4xx status code;
 *   - a patch is padded base64 of a JSON array of `add` operations (op,
 *     path, value and nothing else) that apply to the object as received
 *     without replacing a user's value (probes under probe-rewrite aside),
 *     /validate never patches, and a second review of the patched pod
 *     (kube-apiserver's reinvocation) answers with no patch;
 *   - warnings are strings kubectl can print (< 120 bytes, no controls);
 *   - the outcome's strings (logged by the server) are valid UTF-8.
 * Any breach aborts, which libFuzzer reports as a crash with the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
#include "config.h"
#include "patch.h"
#include "review.h"
#include "utf8.h"

#ifndef FUZZ_CONFIG_PATH
#define FUZZ_CONFIG_PATH "tests/fuzz/fuzz-config.yaml"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *cfg;

#define FAIL(...) do {							\
	fprintf(stderr, "fuzz_review: contract broken: ");		\
	fprintf(stderr, __VA_ARGS__);					\
	fprintf(stderr, "\n");						\
	abort();							\
} while (0)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config_errors errs = { NULL, 0 };
	const char *path = getenv("MESHINJECT_FUZZ_CONFIG");
	size_t i;

	(void)argc;
	(void)argv;
	if (path == NULL)
		path = FUZZ_CONFIG_PATH;
	cfg = config_load_file(path, &errs);
	if (cfg == NULL) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr, "fuzz_review: cannot load %s (set "
		    "MESHINJECT_FUZZ_CONFIG)\n", path);
		exit(1);
	}
	config_errors_clear(&errs);
	return 0;
}

/* The decoded patch of a response, checked: a JSON array of add ops. */
static json_t *
check_patch(const json_t *resp, const char *where)
{
	const char *b64 = json_string_value(json_object_get(resp, "patch"));
	const char *type = json_string_value(json_object_get(resp,
	    "patchType"));
	unsigned char *text;
	json_t *ops, *op;
	json_error_t jerr;
	size_t len, i;

	if (b64 == NULL)
		FAIL("%s: patch is not a string", where);
	if (type == NULL || strcmp(type, "JSONPatch") != 0)
		FAIL("%s: patch without patchType JSONPatch", where);
	if (base64_decode(b64, strlen(b64), &text, &len) != 0)
		FAIL("%s: patch is not padded base64", where);
	ops = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (ops == NULL)
		FAIL("%s: decoded patch is not JSON: %s: %.200s", where,
		    jerr.text, text);
	free(text);
	if (!json_is_array(ops) || json_array_size(ops) == 0)
		FAIL("%s: decoded patch is not a non-empty array", where);
	json_array_foreach(ops, i, op) {
		const char *kind = json_string_value(json_object_get(op, "op"));
		const char *path = json_string_value(json_object_get(op,
		    "path"));

		if (!json_is_object(op) || json_object_size(op) != 3 ||
		    kind == NULL || strcmp(kind, "add") != 0 ||
		    path == NULL || path[0] != '/' ||
		    json_object_get(op, "value") == NULL)
			FAIL("%s: patch op %zu is not {op: add, path: /..., "
			    "value}", where, i);
	}
	return ops;
}

/* Under probe-rewrite an add may replace an app's probe in place:
 * /spec/(containers|initContainers)/N/(liveness|readiness|startup)Probe. */
static int
probe_path(const char *path)
{
	static const char *const lists[] = { "/spec/containers/",
	    "/spec/initContainers/" };
	static const char *const probes[] = { "livenessProbe",
	    "readinessProbe", "startupProbe" };
	const char *p = NULL;
	size_t i;

	for (i = 0; i < 2 && p == NULL; i++)
		if (strncmp(path, lists[i], strlen(lists[i])) == 0)
			p = path + strlen(lists[i]);
	if (p == NULL || *p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != '/')
		return 0;
	for (i = 0; i < 3; i++)
		if (strcmp(p, probes[i]) == 0)
			return 1;
	return 0;
}

/* The member `path` names in doc, when its parent is an object and has it
 * (borrowed), else NULL. Written apart from patch.c, to check it. */
static json_t *
existing_member(json_t *doc, const char *path)
{
	char tok[4096];
	json_t *cur = doc;
	const char *p = path;

	while (*p == '/') {
		size_t n = 0;
		const char *q = p + 1;

		while (*q != '\0' && *q != '/') {
			if (n + 1 >= sizeof(tok))
				return NULL;
			if (q[0] == '~' && q[1] == '0') {
				tok[n++] = '~';
				q += 2;
			} else if (q[0] == '~' && q[1] == '1') {
				tok[n++] = '/';
				q += 2;
			} else {
				tok[n++] = *q++;
			}
		}
		tok[n] = '\0';
		if (*q == '\0')
			return json_is_object(cur) ?
			    json_object_getn(cur, tok, n) : NULL;
		if (json_is_object(cur)) {
			cur = json_object_getn(cur, tok, n);
		} else if (json_is_array(cur)) {
			char *end;
			unsigned long idx = strtoul(tok, &end, 10);

			cur = *end == '\0' && n > 0 ?
			    json_array_get(cur, idx) : NULL;
		} else {
			return NULL;
		}
		p = q;
	}
	return NULL;
}

/* Apply the ops one by one to object, checking that none replaces a
 * user's value: an add onto an existing object member is allowed only
 * where it held nothing (null, [], {}), on a probe under probe-rewrite,
 * on meshinject's own annotations (a stale status is rewritten) and on
 * the prometheus.io/ ones under metrics-merge (the app's target goes to the
 * proxy's MESH_APP_METRICS). */
static void
apply_add_only(json_t *object, const json_t *ops, const char *where)
{
	const json_t *op;
	char err[256];
	size_t i;

	json_array_foreach(ops, i, op) {
		const char *path = json_string_value(json_object_get(op,
		    "path"));
		json_t *had = existing_member(object, path), *one;

		if (had != NULL && !json_is_null(had) &&
		    !(json_is_array(had) && json_array_size(had) == 0) &&
		    !(json_is_object(had) && json_object_size(had) == 0) &&
		    !probe_path(path) && strncmp(path,
		    "/metadata/annotations/meshinject.io~1", 37) != 0 &&
		    strncmp(path, "/metadata/annotations/prometheus.io~1",
		    37) != 0)
			FAIL("%s: op %zu adds %s, which exists: an add there "
			    "replaces the user's value", where, i, path);
		one = json_pack("[O]", op);
		if (one == NULL)
			abort();
		if (patch_apply(object, one, err, sizeof(err)) != 0)
			FAIL("%s: op %zu does not apply to the object as "
			    "received: %s", where, i, err);
		json_decref(one);
	}
}

/* The response of one review_handle call, checked. Returns the answer's
 * `response` member (a new reference) for a 200, else NULL. */
static json_t *
check_answer(const json_t *req_root, int status, const char *text,
    const struct review_outcome *o, const char *where)
{
	json_t *root, *resp, *w, *st;
	json_error_t jerr;
	const char *s;
	size_t i;

	if (status != 200 && status != 400)
		FAIL("%s: status %d", where, status);
	if (text == NULL)
		FAIL("%s: status %d without a body", where, status);
	if (!utf8_valid(o->uid, strlen(o->uid)) ||
	    !utf8_valid(o->namespace, strlen(o->namespace)) ||
	    !utf8_valid(o->pod, strlen(o->pod)) ||
	    !utf8_valid(o->stage, strlen(o->stage)) ||
	    !utf8_valid(o->reason, strlen(o->reason)))
		FAIL("%s: outcome strings are not UTF-8", where);
	root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root))
		FAIL("%s: the answer is not a JSON object: %s: %.300s", where,
		    jerr.text, text);
	if (status == 400) {
		if (json_object_size(root) != 1 ||
		    !json_is_string(json_object_get(root, "error")))
			FAIL("%s: a 400 that is not {\"error\": ...}: %.300s",
			    where, text);
		json_decref(root);
		return NULL;
	}
	if (req_root == NULL)
		FAIL("%s: 200 for a body that is not JSON", where);
	s = json_string_value(json_object_get(root, "apiVersion"));
	if (s == NULL || !json_equal(json_object_get(root, "apiVersion"),
	    json_object_get(req_root, "apiVersion")))
		FAIL("%s: apiVersion not the request's", where);
	s = json_string_value(json_object_get(root, "kind"));
	if (s == NULL || strcmp(s, "AdmissionReview") != 0)
		FAIL("%s: kind is not AdmissionReview", where);
	resp = json_object_get(root, "response");
	if (!json_is_object(resp))
		FAIL("%s: no response object", where);
	if (!json_is_string(json_object_get(resp, "uid")) ||
	    !json_equal(json_object_get(resp, "uid"),
	    json_object_get(json_object_get(req_root, "request"), "uid")))
		FAIL("%s: response.uid is not the request's", where);
	if (!json_is_boolean(json_object_get(resp, "allowed")))
		FAIL("%s: allowed is not a boolean", where);
	st = json_object_get(resp, "status");
	if (!json_is_true(json_object_get(resp, "allowed"))) {
		json_int_t code = json_integer_value(json_object_get(st,
		    "code"));

		if (code < 400 || code > 499 ||
		    !json_is_string(json_object_get(st, "message")))
			FAIL("%s: a denial without a 4xx code and a message",
			    where);
		if (json_object_get(resp, "patch") != NULL)
			FAIL("%s: a denial with a patch", where);
	}
	if ((w = json_object_get(resp, "warnings")) != NULL) {
		json_t *item;

		if (!json_is_array(w))
			FAIL("%s: warnings is not an array", where);
		json_array_foreach(w, i, item) {
			const char *m = json_string_value(item);
			size_t k;

			if (m == NULL || strlen(m) >= 120)
				FAIL("%s: warning %zu is not a short string",
				    where, i);
			for (k = 0; m[k] != '\0'; k++)
				if ((unsigned char)m[k] < 0x20 ||
				    m[k] == 0x7f)
					FAIL("%s: warning %zu has a control "
					    "character", where, i);
		}
	}
	/* A reinvocation (the pod already carries its stage) answers allowed,
	 * without a patch and without auditAnnotations: kube-apiserver refuses
	 * to overwrite the first call's. Every other answer has a decision. */
	if (!json_is_string(json_object_get(json_object_get(resp,
	    "auditAnnotations"), "decision")) &&
	    !(json_is_true(json_object_get(resp, "allowed")) &&
	    json_object_get(resp, "patch") == NULL &&
	    json_object_get(resp, "auditAnnotations") == NULL))
		FAIL("%s: no auditAnnotations.decision", where);
	json_incref(resp);
	json_decref(root);
	return resp;
}

/* A review of `object` with the envelope of req_root (a new text). */
static char *
rereview(const json_t *req_root, const json_t *object)
{
	json_t *copy = json_deep_copy(req_root);
	char *text;

	if (copy == NULL || json_object_set(json_object_get(copy, "request"),
	    "object", (json_t *)object) != 0)
		abort();
	text = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	if (text == NULL)
		abort();
	return text;
}

static void
run(const json_t *req_root, const uint8_t *data, size_t size,
    enum review_route route, const char *stage)
{
	struct review_opts opts = { route, stage, "meshinject-system" };
	struct review_outcome o;
	char where[160], *text = NULL, *again = NULL, *text2 = NULL;
	json_t *resp, *ops, *object, *resp2, *root2;
	int status;

	snprintf(where, sizeof(where), "%s%s%s",
	    route == ROUTE_MUTATE ? "/mutate" : "/validate",
	    stage != NULL ? "/" : "", stage != NULL ? stage : "");
	status = review_handle(cfg, &opts, (const char *)data, size, &text,
	    &o);
	resp = check_answer(req_root, status, text, &o, where);
	free(text);
	if (resp == NULL || json_object_get(resp, "patch") == NULL) {
		json_decref(resp);
		return;
	}
	if (route == ROUTE_VALIDATE)
		FAIL("%s: /validate answered with a patch", where);
	ops = check_patch(resp, where);
	json_decref(resp);
	object = json_deep_copy(json_object_get(json_object_get(req_root,
	    "request"), "object"));
	if (object == NULL)
		FAIL("%s: a patch for a request without an object", where);
	apply_add_only(object, ops, where);
	json_decref(ops);
	/* kube-apiserver reinvokes the webhook (reinvocationPolicy:
	 * IfNeeded): the injected pod must come back unchanged. */
	again = rereview(req_root, object);
	json_decref(object);
	root2 = json_loads(again, 0, NULL);
	status = review_handle(cfg, &opts, again, strlen(again), &text2, &o);
	if (status != 200)
		FAIL("%s: the injected pod is answered with %d on "
		    "reinvocation: %.300s", where, status, text2);
	resp2 = check_answer(root2, status, text2, &o, where);
	json_decref(root2);
	if (json_object_get(resp2, "patch") != NULL)
		FAIL("%s: reinvocation with the injected pod patches again",
		    where);
	json_decref(resp2);
	free(again);
	free(text2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *req_root;
	size_t i;

	req_root = json_loadb((const char *)data, size,
	    JSON_REJECT_DUPLICATES, NULL);
	if (req_root != NULL && !json_is_object(req_root)) {
		json_decref(req_root);
		req_root = NULL;
	}
	for (i = 0; i < 2; i++) {
		enum review_route route = i == 0 ? ROUTE_MUTATE :
		    ROUTE_VALIDATE;
		size_t s;

		run(req_root, data, size, route, NULL);
		for (s = 0; s < cfg->n_stages; s++)
			run(req_root, data, size, route, cfg->stages[s].name);
	}
	json_decref(req_root);
	return 0;
}
