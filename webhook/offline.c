/* offline.c - `meshinject inject`, `check` and `explain`: the webhook's own
 * decision and patch, applied to the pod templates of manifests, without a
 * cluster.
 *
 * Each pod template is turned into the Pod its controller would create (the
 * template's metadata and spec, a generateName and an ownerReference naming
 * the controller the way the cluster does, so that policy.c resolves the
 * same workload for rollout hashing), sent through review_handle() as a v1
 * CREATE review exactly as the apiserver would send it, and the answer's
 * patch applied back to the template; what was invented for the review is
 * removed again, so the template gains only what the webhook added.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
#include "buf.h"
#include "cli.h"
#include "commands.h"
#include "config.h"
#include "patch.h"
#include "policy.h"
#include "review.h"
#include "yamljson.h"

/* The stage used when --stage is not given: the first built-in stage that
 * injects, which is what someone running `inject` by hand expects (as
 * `istioctl kube-inject` does). --no-stage gives the webhook's bare /mutate
 * behaviour instead (pod label, else the config's defaultStage). */
#define OFFLINE_DEFAULT_STAGE	"traffic"

/* What a Deployment's ReplicaSet and a CronJob's Job are called here: any
 * fixed value works, policy.c strips it to find the workload. */
#define POD_TEMPLATE_HASH	"7b9f5c8d46"
#define CRONJOB_JOB_SUFFIX	"28930110"
#define OWNER_UID		"00000000-0000-4000-8000-000000000000"

enum offline_cmd {
	CMD_INJECT,
	CMD_CHECK,
	CMD_EXPLAIN
};

struct offline_opts {
	enum offline_cmd cmd;
	const char *name;		/* "inject", "check", "explain" */
	const char *file;		/* path or "-" */
	const char *stage;		/* NULL with --no-stage */
	const char *config;		/* NULL: the embedded default */
	const char *namespace;		/* for documents that name none */
	bool json;			/* -o json */
};

/* How the controller of a workload kind names the owner of its pods. */
struct workload_kind {
	const char *kind;
	const char *owner_kind;
	const char *owner_api;
	const char *owner_suffix;	/* appended to the workload's name */
	bool hash_label;		/* pod-template-hash label (Deployment) */
	bool cron;			/* template at spec.jobTemplate.spec */
};

static const struct workload_kind workload_kinds[] = {
	{ "Deployment", "ReplicaSet", "apps/v1", "-" POD_TEMPLATE_HASH, true,
	    false },
	{ "StatefulSet", "StatefulSet", "apps/v1", "", false, false },
	{ "DaemonSet", "DaemonSet", "apps/v1", "", false, false },
	{ "ReplicaSet", "ReplicaSet", "apps/v1", "", false, false },
	{ "ReplicationController", "ReplicationController", "v1", "", false,
	    false },
	{ "Job", "Job", "batch/v1", "", false, false },
	{ "CronJob", "Job", "batch/v1", "-" CRONJOB_JOB_SUFFIX, false, true },
	/* OpenShift: a DeploymentConfig's pods belong to its
	 * ReplicationController "<name>-<version>", the first being 1. */
	{ "DeploymentConfig", "ReplicationController", "v1", "-1", false,
	    false },
};

/* One pod template (or Pod) found in the input. */
struct target {
	json_t *tmpl;			/* holds metadata and spec (borrowed) */
	const struct workload_kind *wk;	/* NULL for a Pod */
	const char *kind;
	char name[254];
	const char *namespace;
	const char *field;		/* where the template is, for messages */
	char where[64];			/* "document 3" or "document 3, item 2" */
};

/* What build_pod() added to the template's metadata for the review. */
struct invented {
	bool metadata;
	bool labels;
	bool hash_label;
	bool generate_name;
	bool owner_refs;
};

struct offline_run {
	const struct offline_opts *o;
	struct config *cfg;
	const char *label;		/* file name for messages */
	int templates;
	int injected;
	int refused;
	int warned;
	int errors;			/* could not be processed */
};

/* ---- command line ------------------------------------------------------- */

enum { O_FILE = 'f', O_NAMESPACE = 'n', O_OUTPUT = 'o', O_STAGE = CLI_LONG,
    O_NO_STAGE, O_CONFIG };

/* The options all three share; inject has -o too. */
#define OFFLINE_OPTS							\
	{ O_FILE, "filename", "FILE", "the manifests; - reads standard input", \
	    false },							\
	{ O_FILE, "file", "FILE", NULL, true },				\
	{ O_STAGE, "stage", "S", "the namespace's stage, as if the namespace "	\
	    "were labelled\nmeshinject.io/stage=S (the webhook's /mutate/S);\n" \
	    "default: " OFFLINE_DEFAULT_STAGE " (not the config's defaultStage, " \
	    "which is\n\"off\" unless a config changes it, and would change " \
	    "nothing)", false },					\
	{ O_NO_STAGE, "no-stage", NULL, "as the webhook's bare /mutate: the pod's " \
	    "meshinject.io/stage\nlabel, else the config's defaultStage",	\
	    false },							\
	{ O_CONFIG, "config", "F", "config file merged over the embedded default" \
	    "\n(default: the embedded one)", false },			\
	{ O_NAMESPACE, "namespace", "NS", "namespace of documents that name " \
	    "none (default: default)", false }

static const struct cli_opt offline_inject_opts[] = {
	OFFLINE_OPTS,
	{ O_OUTPUT, "output", "FMT", "yaml (default: documents separated by "
	    "---) or json\n(one JSON object per document, one after another)",
	    false },
	{ 0, NULL, NULL, NULL, false }
};

static const struct cli_opt offline_opts_table[] = {
	OFFLINE_OPTS,
	{ 0, NULL, NULL, NULL, false }
};

const struct cli_cmd cmd_inject_cli = {
	.name = "inject",
	.synopsis = "-f FILE|- [--stage S | --no-stage] [--config F]\n"
	    "[-n NAMESPACE] [-o yaml|json]",
	.summary = "print manifests with their pod templates injected, as the "
	    "webhook would",
	.about =
	    "Print the manifests of FILE (YAML, several documents or a `kind: List`)\n"
	    "with the pod templates of Pods, Deployments, StatefulSets, DaemonSets,\n"
	    "ReplicaSets, ReplicationControllers, Jobs, CronJobs and DeploymentConfigs\n"
	    "injected exactly as the webhook would inject their pods. Other documents,\n"
	    "and templates that are skipped or opted out, are printed unchanged.\n"
	    "Injecting an injected file changes nothing. Comments are not kept.\n",
	.opts = offline_inject_opts,
	.footer =
	    "Exit status: 0 OK; 1 a pod would be refused (its template is printed\n"
	    "unchanged and the refusal reported on standard error), or the input\n"
	    "or config cannot be read (YAML errors as FILE:LINE:COLUMN); 2 bad\n"
	    "arguments.\n",
};

const struct cli_cmd cmd_check_cli = {
	.name = "check",
	.synopsis = "-f FILE|- [--stage S | --no-stage] [--config F]\n"
	    "[-n NAMESPACE]",
	.summary = "report which pod templates of manifests would be refused, "
	    "and why",
	.about =
	    "Run the webhook's decision for every pod template of FILE and print each\n"
	    "problem as `FILE: document N (Kind/name): SEVERITY: MESSAGE`, then a\n"
	    "summary line. SEVERITY is refused (the webhook would refuse the pod),\n"
	    "invalid (the apiserver would refuse the manifest before any webhook, e.g.\n"
	    "an unquoted `false` as an annotation value) or warning. Exits 1 when any\n"
	    "pod would be refused or is invalid, else 0.\n",
	.opts = offline_opts_table,
	.footer =
	    "Exit status: 0 OK; 1 a pod would be refused, or the input or config\n"
	    "cannot be read (YAML errors as FILE:LINE:COLUMN); 2 bad arguments.\n",
};

const struct cli_cmd cmd_explain_cli = {
	.name = "explain",
	.synopsis = "-f FILE|- [--stage S | --no-stage] [--config F]\n"
	    "[-n NAMESPACE]",
	.summary = "say which stage and features each pod template gets, and why",
	.about =
	    "Say, for every pod template of FILE, which stage and features its pods\n"
	    "get and why: the namespace's stage, the pod's annotations, the rollout\n"
	    "bucket of its workload, enforcement, skips, and each problem.\n",
	.opts = offline_opts_table,
	.footer =
	    "Exit status: 0 OK; 1 the input or config cannot be read (YAML errors\n"
	    "as FILE:LINE:COLUMN); 2 bad arguments.\n",
};

static const struct cli_cmd *
offline_cli(enum offline_cmd cmd)
{
	switch (cmd) {
	case CMD_INJECT:
		return &cmd_inject_cli;
	case CMD_CHECK:
		return &cmd_check_cli;
	case CMD_EXPLAIN:
		break;
	}
	return &cmd_explain_cli;
}

/* Returns 0, 1 for --help (printed), or 2 after printing the problem. */
static int
offline_parse(int argc, char **argv, struct offline_opts *o)
{
	const struct cli_cmd *cmd = offline_cli(o->cmd);
	struct cli_parser p;
	bool no_stage = false, stage_set = false;
	const char *v;
	int c;

	cli_begin(&p, cmd, argc, argv);
	while ((c = cli_next(&p)) != CLI_END) {
		v = p.value;
		switch (c) {
		case O_NO_STAGE:
			no_stage = true;
			break;
		case O_FILE:
			if (o->file != NULL)
				return cli_fail(cmd, "-f given twice");
			o->file = v;
			break;
		case O_STAGE:
			o->stage = v;
			stage_set = true;
			break;
		case O_CONFIG:
			o->config = v;
			break;
		case O_NAMESPACE:
			o->namespace = v;
			break;
		case O_OUTPUT:
			if (strcmp(v, "yaml") == 0)
				o->json = false;
			else if (strcmp(v, "json") == 0)
				o->json = true;
			else
				return cli_fail(cmd, "-o takes yaml or json, "
				    "not \"%s\"", v);
			break;
		case CLI_HELP:
			cli_usage(cmd, stdout);
			return 1;
		default:
			return cli_fail_parse(&p);
		}
	}
	if (p.optind < argc)
		return cli_fail_parse(&p);
	if (o->file == NULL || *o->file == '\0')
		return cli_fail(cmd, "-f FILE is required (- for standard "
		    "input)");
	if (no_stage && stage_set)
		return cli_fail(cmd, "--stage and --no-stage exclude each other");
	if (stage_set && *o->stage == '\0')
		return cli_fail(cmd, "--stage needs a stage name");
	if (no_stage)
		o->stage = NULL;
	else if (!stage_set)
		o->stage = OFFLINE_DEFAULT_STAGE;
	if (o->namespace == NULL || *o->namespace == '\0')
		o->namespace = "default";
	return 0;
}

/* ---- input -------------------------------------------------------------- */

/* Read all of `path` ("-": stdin), at most YAMLJSON_MAX_INPUT bytes.
 * Returns a new buffer, or NULL after printing why. */
static char *
read_input(const char *cmd, const char *path, size_t *len)
{
	FILE *f;
	struct buf b;
	char chunk[65536], *text;
	size_t r;
	bool is_stdin = strcmp(path, "-") == 0;

	f = is_stdin ? stdin : fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "meshinject %s: %s: %s\n", cmd, path,
		    strerror(errno));
		return NULL;
	}
	buf_init(&b, YAMLJSON_MAX_INPUT);
	for (;;) {
		errno = 0;
		if ((r = fread(chunk, 1, sizeof(chunk), f)) == 0)
			break;
		if (r > YAMLJSON_MAX_INPUT - b.len) {
			fprintf(stderr, "meshinject %s: %s: larger than "
			    "%zu bytes\n", cmd, path, YAMLJSON_MAX_INPUT);
			goto fail;
		}
		if (buf_add(&b, chunk, r) == -1) {
			fprintf(stderr, "meshinject %s: out of memory\n", cmd);
			goto fail;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "meshinject %s: %s: %s\n", cmd, path,
		    errno != 0 ? strerror(errno) : "read error");
		goto fail;
	}
	if ((text = buf_take(&b, len)) == NULL) {
		fprintf(stderr, "meshinject %s: out of memory\n", cmd);
		goto fail;
	}
	if (!is_stdin)
		fclose(f);
	return text;
fail:
	if (!is_stdin)
		fclose(f);
	buf_free(&b);
	return NULL;
}

/* ---- finding pod templates ---------------------------------------------- */

static const struct workload_kind *
workload_kind(const char *kind)
{
	size_t i;

	for (i = 0; kind != NULL &&
	    i < sizeof(workload_kinds) / sizeof(workload_kinds[0]); i++)
		if (strcmp(kind, workload_kinds[i].kind) == 0)
			return &workload_kinds[i];
	return NULL;
}

/* Fill t for the object `obj`; returns false when it holds no pod template
 * (t->tmpl stays NULL). */
static bool
find_template(json_t *obj, const char *ns_default, struct target *t)
{
	const char *name, *ns;
	json_t *spec;

	memset(t, 0, sizeof(*t));
	t->kind = json_string_value(json_object_get(obj, "kind"));
	if (t->kind == NULL)
		return false;
	name = jpath_string(obj, "metadata", "name", NULL);
	if (name == NULL || *name == '\0')
		name = jpath_string(obj, "metadata", "generateName", NULL);
	snprintf(t->name, sizeof(t->name), "%s", name != NULL && *name != '\0'
	    ? name : "unnamed");
	/* generateName "web-" names the workload "web". */
	if (name != NULL && strlen(t->name) > 1 &&
	    t->name[strlen(t->name) - 1] == '-')
		t->name[strlen(t->name) - 1] = '\0';
	ns = jpath_string(obj, "metadata", "namespace", NULL);
	t->namespace = ns != NULL && *ns != '\0' ? ns : ns_default;
	if (strcmp(t->kind, "Pod") == 0) {
		t->tmpl = obj;
		t->field = "";
		if (name != NULL)
			snprintf(t->name, sizeof(t->name), "%s", name);
		return true;
	}
	t->wk = workload_kind(t->kind);
	if (t->wk == NULL)
		return false;
	spec = json_object_get(obj, "spec");
	if (t->wk->cron) {
		spec = json_object_get(json_object_get(spec, "jobTemplate"),
		    "spec");
		t->field = "spec.jobTemplate.spec.template";
	} else {
		t->field = "spec.template";
	}
	t->tmpl = json_object_get(spec, "template");
	if (!json_is_object(t->tmpl)) {
		t->tmpl = NULL;
		return false;
	}
	return true;
}

/*
 * The Pod that the controller of t would create: the template's metadata
 * and spec, with a generateName and an ownerReference like the cluster's
 * (recorded in *inv so that write_back() can take them out again). Returns
 * a new object, or NULL when memory runs out.
 */
static json_t *
build_pod(const struct target *t, struct invented *inv)
{
	json_t *pod, *meta, *labels, *spec;
	char owner[300], gen[310];

	memset(inv, 0, sizeof(*inv));
	if (t->wk == NULL)
		return json_deep_copy(t->tmpl);
	meta = json_object_get(t->tmpl, "metadata");
	inv->metadata = json_is_object(meta);
	meta = inv->metadata ? json_deep_copy(meta) : json_object();
	spec = json_object_get(t->tmpl, "spec");
	spec = spec != NULL ? json_deep_copy(spec) : json_null();
	pod = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind",
	    "Pod", "metadata", meta, "spec", spec);
	if (pod == NULL)
		return NULL;
	/* Controllers give their pods a generateName, never the template's
	 * name (GetPodFromTemplate); write_back() leaves the name in the
	 * template. */
	json_object_del(meta, "name");
	snprintf(owner, sizeof(owner), "%s%s", t->name, t->wk->owner_suffix);
	snprintf(gen, sizeof(gen), "%s-", owner);
	if (json_object_get(meta, "generateName") == NULL) {
		if (json_object_set_new(meta, "generateName",
		    json_string(gen)) == -1)
			goto fail;
		inv->generate_name = true;
	}
	if (json_object_get(meta, "ownerReferences") == NULL) {
		if (json_object_set_new(meta, "ownerReferences",
		    json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion",
		    t->wk->owner_api, "kind", t->wk->owner_kind, "name", owner,
		    "uid", OWNER_UID, "controller", 1, "blockOwnerDeletion",
		    1)) == -1)
			goto fail;
		inv->owner_refs = true;
	}
	if (t->wk->hash_label) {
		labels = json_object_get(meta, "labels");
		inv->labels = json_is_object(labels);
		if (!inv->labels) {
			labels = json_object();
			if (json_object_set_new(meta, "labels", labels) == -1)
				goto fail;
		}
		if (json_object_get(labels, "pod-template-hash") == NULL) {
			if (json_object_set_new(labels, "pod-template-hash",
			    json_string(POD_TEMPLATE_HASH)) == -1)
				goto fail;
			inv->hash_label = true;
		}
	}
	return pod;
fail:
	json_decref(pod);
	return NULL;
}

/* Write the patched pod back into t's template, without what build_pod()
 * invented. The patch only adds, so updating the template's maps member by
 * member keeps its keys where they were and appends the new ones. Returns
 * 0 or -1. */
static int
write_back(const struct target *t, json_t *pod, const struct invented *inv)
{
	json_t *meta, *labels, *spec, *fresh, *v;
	const char *key;

	if (t->wk == NULL)
		return json_object_update(t->tmpl, pod);
	meta = json_object_get(pod, "metadata");
	spec = json_object_get(pod, "spec");
	if (!json_is_object(meta))
		return -1;
	if (inv->generate_name)
		json_object_del(meta, "generateName");
	if (inv->owner_refs)
		json_object_del(meta, "ownerReferences");
	if (inv->hash_label) {
		labels = json_object_get(meta, "labels");
		json_object_del(labels, "pod-template-hash");
		if (!inv->labels && json_object_size(labels) == 0)
			json_object_del(meta, "labels");
	}
	if (inv->metadata) {
		if (json_object_update(json_object_get(t->tmpl, "metadata"),
		    meta) == -1)
			return -1;
	} else if (json_object_size(meta) > 0) {
		/* The template had no metadata: put it first, where people
		 * write it. */
		fresh = json_pack("{s:O}", "metadata", meta);
		if (fresh == NULL)
			return -1;
		json_object_foreach(t->tmpl, key, v)
			if (strcmp(key, "metadata") != 0 &&
			    json_object_set(fresh, key, v) == -1) {
				json_decref(fresh);
				return -1;
			}
		json_object_clear(t->tmpl);
		if (json_object_update(t->tmpl, fresh) == -1) {
			json_decref(fresh);
			return -1;
		}
		json_decref(fresh);
	}
	if (json_is_object(spec) &&
	    json_is_object(json_object_get(t->tmpl, "spec")))
		return json_object_update(json_object_get(t->tmpl, "spec"), spec);
	return 0;
}

/* ---- the review --------------------------------------------------------- */

struct answer {
	json_t *root;			/* the AdmissionReview response */
	bool allowed;
	const char *message;		/* status.message, or NULL */
	const json_t *warnings;		/* array, or NULL */
	const char *patch;		/* base64, or NULL */
	const char *decision;		/* auditAnnotations.decision */
};

/* The webhook's answer for `pod`, through review_handle() as serve calls
 * it. Returns 0, or -1 with a reason in err. */
static int
ask_webhook(const struct offline_run *run, const struct target *t,
    const json_t *pod, struct answer *a, char *err, size_t errlen)
{
	struct review_opts ropts = {
		.route = ROUTE_MUTATE,
		.stage = run->o->stage,
		.self_namespace = NULL,
	};
	json_t *review, *resp;
	json_error_t jerr;
	char *body = NULL, *response = NULL;
	int status;

	memset(a, 0, sizeof(*a));
	review = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s,"
	    " s:s}, s:s, s:s, s:O, s:b}}",
	    "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview",
	    "request", "uid", "meshinject-offline",
	    "kind", "group", "", "version", "v1", "kind", "Pod",
	    "resource", "group", "", "version", "v1", "resource", "pods",
	    "namespace", t->namespace, "operation", "CREATE", "object", pod,
	    "dryRun", 1);
	if (review != NULL)
		body = json_dumps(review, JSON_COMPACT);
	json_decref(review);
	if (body == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	status = review_handle(run->cfg, &ropts, body, strlen(body), &response,
	    NULL);
	free(body);
	if (status != 200 || response == NULL) {
		snprintf(err, errlen, "the webhook core answered %d: %.200s",
		    status, response != NULL ? response : "out of memory");
		free(response);
		return -1;
	}
	a->root = json_loads(response, 0, &jerr);
	free(response);
	resp = json_object_get(a->root, "response");
	if (!json_is_object(resp)) {
		snprintf(err, errlen, "the webhook core's answer has no "
		    "response");
		json_decref(a->root);
		a->root = NULL;
		return -1;
	}
	a->allowed = json_is_true(json_object_get(resp, "allowed"));
	a->message = jpath_string(resp, "status", "message", NULL);
	a->warnings = json_object_get(resp, "warnings");
	a->patch = json_string_value(json_object_get(resp, "patch"));
	a->decision = jpath_string(resp, "auditAnnotations", "decision",
	    NULL);
	return 0;
}

/* The base64 JSON patch, decoded. Returns a new array, or NULL with err. */
static json_t *
decode_patch(const char *b64, char *err, size_t errlen)
{
	unsigned char *buf;
	json_error_t jerr;
	json_t *patch;
	size_t n;

	switch (base64_decode(b64, strlen(b64), &buf, &n)) {
	case 0:
		break;
	case -1:
		snprintf(err, errlen, "the patch is not base64");
		return NULL;
	default:
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	patch = json_loadb((const char *)buf, n, 0, &jerr);
	free(buf);
	if (!json_is_array(patch)) {
		json_decref(patch);
		snprintf(err, errlen, "the patch is not a JSON array");
		return NULL;
	}
	return patch;
}

/* A message without the "meshinject: " that the webhook puts in front for
 * kubectl's sake. */
static const char *
bare(const char *msg)
{
	if (msg != NULL && strncmp(msg, "meshinject: ", 12) == 0)
		return msg + 12;
	return msg != NULL ? msg : "";
}

static void
print_where(FILE *f, const struct offline_run *run, const struct target *t)
{
	fprintf(f, "%s: %s (%s/%s)", run->label, t->where, t->kind, t->name);
}

static void
print_warnings(FILE *f, const struct offline_run *run, const struct target *t,
    const json_t *warnings)
{
	const json_t *w;
	size_t i;

	json_array_foreach(warnings, i, w) {
		print_where(f, run, t);
		fprintf(f, ": warning: %s\n", bare(json_string_value(w)));
	}
}

/* inject: ask, apply, write back. */
static void
inject_target(struct offline_run *run, const struct target *t)
{
	struct invented inv;
	struct answer a = { 0 };
	json_t *pod, *patch = NULL;
	char err[512];

	pod = build_pod(t, &inv);
	if (pod == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	if (ask_webhook(run, t, pod, &a, err, sizeof(err)) == -1)
		goto fail;
	print_warnings(stderr, run, t, a.warnings);
	if (json_array_size(a.warnings) > 0)
		run->warned++;
	if (!a.allowed) {
		run->refused++;
		print_where(stderr, run, t);
		fprintf(stderr, ": refused: %s\n", bare(a.message));
		goto done;
	}
	if (a.patch == NULL)
		goto done;
	patch = decode_patch(a.patch, err, sizeof(err));
	if (patch == NULL || patch_apply(pod, patch, err, sizeof(err)) == -1 ||
	    write_back(t, pod, &inv) == -1)
		goto fail;
	run->injected++;
	goto done;
fail:
	run->errors++;
	print_where(stderr, run, t);
	fprintf(stderr, ": cannot inject: %s\n", err);
done:
	json_decref(patch);
	json_decref(a.root);
	json_decref(pod);
}

/* check: the webhook's answer says whether the pod is refused; the policy's
 * own list gives each problem on its line. */
static void
check_target(struct offline_run *run, const struct target *t)
{
	struct policy_input in = { 0 };
	struct invented inv;
	struct answer a = { 0 };
	struct decision *d = NULL;
	json_t *pod;
	char err[512];
	size_t i;

	pod = build_pod(t, &inv);
	d = malloc(sizeof(*d));
	if (pod == NULL || d == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	if (ask_webhook(run, t, pod, &a, err, sizeof(err)) == -1)
		goto fail;
	in.pod = pod;
	in.namespace = t->namespace;
	in.operation = "CREATE";
	in.path_stage = run->o->stage;
	if (policy_decide(run->cfg, &in, d) == -1) {
		snprintf(err, sizeof(err), "policy_decide failed");
		goto fail;
	}
	if (!a.allowed) {
		run->refused++;
		if (d->verdict == VERDICT_DENY && d->problems.n > 0) {
			for (i = 0; i < d->problems.n; i++) {
				print_where(stdout, run, t);
				printf(": refused: %s\n", d->problems.items[i]);
			}
		} else {
			print_where(stdout, run, t);
			printf(": refused: %s\n", bare(a.message));
		}
	}
	if (json_array_size(a.warnings) > 0) {
		run->warned++;
		print_warnings(stdout, run, t, a.warnings);
	}
	goto done;
fail:
	run->errors++;
	print_where(stderr, run, t);
	fprintf(stderr, ": cannot check: %s\n", err);
done:
	free(d);
	json_decref(a.root);
	json_decref(pod);
}

static void
print_list(const char *title, const struct msg_list *l)
{
	size_t i;

	if (l->n == 0)
		return;
	printf("  %s:\n", title);
	for (i = 0; i < l->n; i++)
		printf("    - %s\n", l->items[i]);
}

/* explain: policy_decide() and everything it says about its steps. */
static void
explain_target(struct offline_run *run, const struct target *t)
{
	struct policy_input in = { 0 };
	struct invented inv;
	struct decision *d;
	json_t *pod;
	const char *sep = "";
	int f;

	pod = build_pod(t, &inv);
	d = malloc(sizeof(*d));
	in.pod = pod;
	in.namespace = t->namespace;
	in.operation = "CREATE";
	in.path_stage = run->o->stage;
	if (pod == NULL || d == NULL || policy_decide(run->cfg, &in, d) == -1) {
		run->errors++;
		print_where(stderr, run, t);
		fprintf(stderr, ": cannot explain: out of memory\n");
		goto done;
	}
	if (run->templates > 1)
		printf("\n");
	print_where(stdout, run, t);
	printf("%s%s, namespace %s:\n", *t->field != '\0' ? " " : "",
	    t->field, t->namespace);
	printf("  decision: %s (%s)\n", verdict_name(d->verdict), d->why);
	if (d->ns_stage != NULL)
		printf("  namespace stage: %s (%s)\n", d->ns_stage->name,
		    run->o->stage != NULL ? "--stage, as /mutate/<stage>" :
		    "--no-stage, as /mutate: pod label, else defaultStage");
	if (d->stage != NULL)
		printf("  pod stage: %s%s\n", d->stage->name,
		    d->stage->enforce ? " (enforced)" : "");
	printf("  features:");
	for (f = 0; f < FEATURE_COUNT; f++) {
		if (d->features & FEATURE_BIT(f)) {
			printf("%s %s", sep, feature_name((enum feature)f));
			sep = ",";
		}
	}
	printf("%s\n", *sep == '\0' ? " none" : "");
	if (d->workload[0] != '\0') {
		printf("  workload: %s", d->workload);
		if (d->bucket >= 0)
			printf(" (rollout bucket %d)", d->bucket);
		printf("\n");
	}
	print_list("why", &d->trail);
	print_list(d->verdict == VERDICT_DENY ? "refused" : "problems",
	    &d->problems);
	print_list("warnings", &d->warnings);
	if (d->verdict == VERDICT_DENY)
		run->refused++;
done:
	free(d);
	json_decref(pod);
}

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a map";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a bool";
	case JSON_NULL:
		return "null";
	}
	return "not a string";
}

/*
 * Labels and annotations must be strings, or the apiserver refuses the
 * object before any webhook sees it; in YAML 1.1 an unquoted `false`, `no`
 * or `15020` is not one (`meshinject.io/inject: false` would otherwise look
 * like no annotation at all). Prints each one; returns how many.
 */
static int
check_string_maps(struct offline_run *run, const struct target *t, FILE *f)
{
	static const char *const maps[] = { "labels", "annotations" };
	const json_t *meta = json_object_get(t->tmpl, "metadata"), *m, *v;
	const char *key;
	size_t i;
	int bad = 0;

	for (i = 0; i < 2; i++) {
		m = json_object_get(meta, maps[i]);
		if (m == NULL || json_is_null(m))
			continue;
		if (!json_is_object(m)) {
			print_where(f, run, t);
			fprintf(f, ": invalid: %s%smetadata.%s is %s, not a map\n",
			    t->field, *t->field != '\0' ? "." : "", maps[i],
			    json_type_name(m));
			bad++;
			continue;
		}
		json_object_foreach((json_t *)m, key, v) {
			if (json_is_string(v))
				continue;
			print_where(f, run, t);
			fprintf(f, ": invalid: %s%smetadata.%s[\"%s\"] is %s, not "
			    "a string: the apiserver refuses it (quote the "
			    "value)\n", t->field, *t->field != '\0' ? "." : "",
			    maps[i], key, json_type_name(v));
			bad++;
		}
	}
	return bad;
}

static void
visit(struct offline_run *run, json_t *obj, const char *where)
{
	struct target t;

	if (!find_template(obj, run->o->namespace, &t))
		return;
	snprintf(t.where, sizeof(t.where), "%s", where);
	run->templates++;
	if (!json_is_object(json_object_get(t.tmpl, "spec"))) {
		/* Nothing the webhook could inject into: say so, change
		 * nothing. */
		if (run->o->cmd == CMD_INJECT)
			return;
		run->warned++;
		print_where(stdout, run, &t);
		printf(": warning: %s%shas no pod spec\n", t.field,
		    *t.field != '\0' ? " " : "");
		return;
	}
	if (check_string_maps(run, &t, run->o->cmd == CMD_INJECT ? stderr :
	    stdout) > 0) {
		run->refused++;
		return;
	}
	switch (run->o->cmd) {
	case CMD_INJECT:
		inject_target(run, &t);
		break;
	case CMD_CHECK:
		check_target(run, &t);
		break;
	case CMD_EXPLAIN:
		explain_target(run, &t);
		break;
	}
}

/* A `kind: List` (or any *List) with items. */
static bool
is_list(const json_t *doc)
{
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	size_t n = kind != NULL ? strlen(kind) : 0;

	return n >= 4 && strcmp(kind + n - 4, "List") == 0 &&
	    json_is_array(json_object_get(doc, "items"));
}

static int
print_output(const struct offline_run *run, const json_t *docs)
{
	json_t *out, *doc;
	char err[256], *text;
	size_t i;

	if (run->o->json) {
		json_array_foreach(docs, i, doc) {
			if (json_is_null(doc))
				continue;
			if (json_dumpf(doc, stdout, JSON_INDENT(2) |
			    JSON_PRESERVE_ORDER) == -1)
				return -1;
			putchar('\n');
		}
		return 0;
	}
	/* Empty documents (a stray ---) are dropped, as kubectl does. */
	out = json_array();
	if (out == NULL)
		return -1;
	json_array_foreach(docs, i, doc)
		if (!json_is_null(doc))
			json_array_append(out, doc);
	text = yamljson_dump(out, err, sizeof(err));
	json_decref(out);
	if (text == NULL) {
		fprintf(stderr, "meshinject %s: cannot write YAML: %s\n",
		    run->o->name, err);
		return -1;
	}
	fputs(text, stdout);
	free(text);
	return 0;
}

static int
load_config(const struct offline_opts *o, struct config **cfg)
{
	struct config_errors errs = { 0 };
	size_t i;

	*cfg = o->config != NULL ? config_load_file(o->config, &errs) :
	    config_load_default(&errs);
	if (*cfg != NULL)
		return 0;
	for (i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	if (errs.count == 0)
		fprintf(stderr, "meshinject %s: cannot load the config\n",
		    o->name);
	config_errors_clear(&errs);
	return -1;
}

static void
print_stages(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_stages; i++)
		fprintf(stderr, "%s%s", i > 0 ? ", " : "", cfg->stages[i].name);
}

static int
offline_main(enum offline_cmd cmd, const char *name, int argc, char **argv)
{
	struct offline_opts o = { .cmd = cmd, .name = name };
	struct offline_run run = { .o = &o };
	struct yamljson_error yerr;
	json_t *docs = NULL, *doc, *item;
	char *input = NULL, where[64];
	size_t len, i, j;
	int rc;

	rc = offline_parse(argc, argv, &o);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	run.label = strcmp(o.file, "-") == 0 ? "<stdin>" : o.file;
	if (load_config(&o, &run.cfg) == -1)
		return 1;
	rc = 1;
	if (o.stage != NULL && config_stage(run.cfg, o.stage) == NULL) {
		fprintf(stderr, "meshinject %s: unknown stage \"%s\" "
		    "(configured: ", name, o.stage);
		print_stages(run.cfg);
		fprintf(stderr, ")\n");
		rc = 2;
		goto done;
	}
	input = read_input(name, o.file, &len);
	if (input == NULL)
		goto done;
	docs = yamljson_load(input, len, &yerr);
	if (docs == NULL) {
		if (yerr.line > 0)
			fprintf(stderr, "%s:%d:%d: %s\n", run.label, yerr.line,
			    yerr.column, yerr.text);
		else
			fprintf(stderr, "%s: %s\n", run.label, yerr.text);
		goto done;
	}
	json_array_foreach(docs, i, doc) {
		if (!json_is_object(doc))
			continue;
		if (is_list(doc)) {
			json_array_foreach(json_object_get(doc, "items"), j,
			    item) {
				snprintf(where, sizeof(where), "document %zu, "
				    "item %zu", i + 1, j + 1);
				if (json_is_object(item))
					visit(&run, item, where);
			}
			continue;
		}
		snprintf(where, sizeof(where), "document %zu", i + 1);
		visit(&run, doc, where);
	}
	switch (cmd) {
	case CMD_INJECT:
		if (print_output(&run, docs) == -1)
			goto done;
		rc = run.refused > 0 || run.errors > 0 ? 1 : 0;
		break;
	case CMD_CHECK:
		printf("%s: %d pod template%s checked: %d would be refused, "
		    "%d with warnings\n", run.label, run.templates,
		    run.templates == 1 ? "" : "s", run.refused, run.warned);
		rc = run.refused > 0 || run.errors > 0 ? 1 : 0;
		break;
	case CMD_EXPLAIN:
		if (run.templates == 0)
			printf("%s: no pod templates\n", run.label);
		rc = run.errors > 0 ? 1 : 0;
		break;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "meshinject %s: cannot write the output\n", name);
		rc = 1;
	}
done:
	json_decref(docs);
	free(input);
	config_free(run.cfg);
	return rc;
}

int
cmd_inject(int argc, char **argv)
{
	return offline_main(CMD_INJECT, "inject", argc, argv);
}

int
cmd_check(int argc, char **argv)
{
	return offline_main(CMD_CHECK, "check", argc, argv);
}

int
cmd_explain(int argc, char **argv)
{
	return offline_main(CMD_EXPLAIN, "explain", argc, argv);
}
