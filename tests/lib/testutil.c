/* testutil.c - helpers shared by the Check suites (see testutil.h). They
 * fail the running test with ck_assert rather than return errors. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "patch.h"
#include "testutil.h"

static char *
read_stream(FILE *f, const char *path, size_t *lenp)
{
	char *buf = NULL, *grown;
	size_t len = 0, cap = 0, n;

	for (;;) {
		if (cap - len < 65536) {
			cap = cap * 2 + 65536;
			grown = realloc(buf, cap + 1);
			ck_assert_msg(grown != NULL, "%s: out of memory", path);
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	ck_assert_msg(!ferror(f), "%s: read error", path);
	fclose(f);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

char *
tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");

	ck_assert_msg(f != NULL, "cannot open %s: %s (run from the repository)",
	    path, strerror(errno));
	return read_stream(f, path, len);
}

char *
tu_read_file_opt(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		ck_assert_msg(errno == ENOENT, "cannot open %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	return read_stream(f, path, len);
}

struct config *
tu_config(const char *yaml)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	size_t i;

	cfg = yaml == NULL ? config_load_default(&errs) :
	    config_load_buffer("<test>", yaml, strlen(yaml), &errs);
	if (cfg == NULL)
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
	ck_assert_msg(cfg != NULL, "the test's config does not load "
	    "(%zu errors above; first: %s)", errs.count,
	    errs.count > 0 ? errs.msgs[0] : "none");
	config_errors_clear(&errs);
	return cfg;
}

char *
tu_review(const char *operation, const char *namespace, const char *pod_json)
{
	json_error_t jerr;
	json_t *pod, *req, *r;
	char *s;

	pod = json_loads(pod_json, 0, &jerr);
	ck_assert_msg(pod != NULL, "the test's pod is not JSON: %s (line %d)",
	    jerr.text, jerr.line);
	req = json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:s,"
	    " s:o}", "uid", "tu-uid", "kind", "group", "", "version", "v1",
	    "kind", "Pod", "resource", "group", "", "version", "v1",
	    "resource", "pods", "operation", operation, "object", pod);
	ck_assert_ptr_nonnull(req);
	if (namespace != NULL)
		json_object_set_new(req, "namespace", json_string(namespace));
	r = json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1",
	    "kind", "AdmissionReview", "request", req);
	ck_assert_ptr_nonnull(r);
	s = json_dumps(r, JSON_COMPACT);
	ck_assert_ptr_nonnull(s);
	json_decref(r);
	return s;
}

json_t *
tu_call(const struct config *cfg, const char *stage, int validate,
    const char *body, int *status)
{
	struct review_opts opts = { .route = validate ? ROUTE_VALIDATE :
	    ROUTE_MUTATE, .stage = stage };
	char *resp = NULL;
	json_t *j;
	int st;

	st = review_handle(cfg, &opts, body, strlen(body), &resp, NULL);
	ck_assert_msg(st != -1 && resp != NULL, "review_handle ran out of "
	    "memory");
	j = json_loads(resp, 0, NULL);
	ck_assert_msg(j != NULL, "the response is not JSON: %s", resp);
	free(resp);
	if (status != NULL)
		*status = st;
	return j;
}

json_t *
tu_patch(const json_t *resp)
{
	const char *b64 = json_string_value(json_object_get(
	    json_object_get(resp, "response"), "patch"));
	unsigned char *raw;
	size_t len;
	json_t *p;

	if (b64 == NULL)
		return NULL;
	ck_assert_msg(base64_decode(b64, strlen(b64), &raw, &len) == 0,
	    "the patch is not base64");
	p = json_loadb((const char *)raw, len, 0, NULL);
	free(raw);
	ck_assert_msg(json_is_array(p), "the patch is not a JSON array");
	return p;
}

json_t *
tu_patched(const char *pod_json, const json_t *patch)
{
	char err[256];
	json_t *pod, *op;
	size_t i;

	pod = json_loads(pod_json, 0, NULL);
	ck_assert_msg(pod != NULL, "the test's pod is not JSON");
	if (patch == NULL)
		return pod;
	json_array_foreach(patch, i, op)
		ck_assert_msg(strcmp(json_string_value(json_object_get(op,
		    "op")), "add") == 0, "patch op %zu is not an add", i);
	ck_assert_msg(patch_apply(pod, patch, err, sizeof(err)) == 0,
	    "the patch does not apply: %s", err);
	return pod;
}

json_t *
tu_named(const json_t *list, const char *name)
{
	json_t *item;
	size_t i;

	json_array_foreach(list, i, item) {
		const char *n = json_string_value(json_object_get(item,
		    "name"));

		if (n != NULL && strcmp(n, name) == 0)
			return item;
	}
	return NULL;
}

bool
tu_ci(void)
{
	const char *ci = getenv("CI");

	return ci != NULL && *ci != '\0' && strcmp(ci, "0") != 0 &&
	    strcmp(ci, "false") != 0;
}

void
tu_cannot_run(const char *test, const char *why)
{
	ck_assert_msg(!tu_ci(), "%s cannot run under CI: %s", test, why);
	fprintf(stderr, "SKIPPED: %s: %s (fails under CI=true)\n", test, why);
}
