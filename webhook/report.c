/* report.c - `meshinject report`: how far a gradual rollout has come, per
 * namespace, from cluster dumps (see report.h for what is counted and the
 * JSON schema). The core (report_build) is pure; cmd_report reads the files
 * and prints. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"
#include "config.h"
#include "policy.h"
#include "report.h"

#define WORKLOAD_MAX	320

/* Lower-case a Kubernetes kind for `kubectl` ("StatefulSet" ->
 * "statefulset"), ASCII only. */
static void
lower_kind(const char *kind, char *buf, size_t buflen)
{
	size_t i;

	for (i = 0; kind[i] != '\0' && i + 1 < buflen; i++)
		buf[i] = (kind[i] >= 'A' && kind[i] <= 'Z') ?
		    (char)(kind[i] - 'A' + 'a') : kind[i];
	buf[i] = '\0';
}

enum report_action
report_workload(const json_t *pod, char *buf, size_t buflen)
{
	static const struct {
		const char *kind;
		enum report_action action;
	} actions[] = {
		{ "Deployment", REPORT_ROLLOUT_RESTART },
		{ "StatefulSet", REPORT_ROLLOUT_RESTART },
		{ "DaemonSet", REPORT_ROLLOUT_RESTART },
		{ "ReplicaSet", REPORT_DELETE_PODS },
		{ "ReplicationController", REPORT_DELETE_PODS },
		{ "Pod", REPORT_RECREATE },
		{ "Job", REPORT_RECREATE },
		{ "CronJob", REPORT_NEXT_RUN },
	};
	char workload[WORKLOAD_MAX], lk[64];
	const char *slash;
	size_t i, klen;

	/* The workload the rollout hashes is the one to restart. */
	policy_workload(pod, workload, sizeof(workload));
	slash = strchr(workload, '/');
	klen = slash != NULL ? (size_t)(slash - workload) : 0;
	if (klen >= sizeof(lk))
		klen = sizeof(lk) - 1;
	memcpy(lk, workload, klen);
	lk[klen] = '\0';
	lower_kind(lk, lk, sizeof(lk));
	snprintf(buf, buflen, "%s/%s", lk, slash != NULL ? slash + 1 : "");
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strlen(actions[i].kind) == klen &&
		    strncmp(workload, actions[i].kind, klen) == 0)
			return actions[i].action;
	return REPORT_CONTROLLER;
}

static const char *const action_names[] = {
	[REPORT_ROLLOUT_RESTART] = "rollout-restart",
	[REPORT_DELETE_PODS] = "delete-pods",
	[REPORT_RECREATE] = "recreate",
	[REPORT_NEXT_RUN] = "next-run",
	[REPORT_CONTROLLER] = "controller",
};

int
report_check_list(const json_t *doc, const char *item_kind, char *err,
    size_t errlen)
{
	const char *kind;
	const json_t *items, *it;
	char list_kind[64];
	size_t i;

	if (!json_is_object(doc)) {
		snprintf(err, errlen, "not a List: the document is not a JSON "
		    "object");
		return -1;
	}
	kind = json_string_value(json_object_get(doc, "kind"));
	snprintf(list_kind, sizeof(list_kind), "%sList", item_kind);
	if (kind == NULL || (strcmp(kind, "List") != 0 &&
	    strcmp(kind, list_kind) != 0)) {
		char what[64];

		lower_kind(item_kind, what, sizeof(what));
		snprintf(err, errlen, "not a List: kind is %s%.60s%s (expected "
		    "the output of `kubectl get %ss -o json`)",
		    kind ? "\"" : "", kind ? kind : "missing", kind ? "\"" : "",
		    what);
		return -1;
	}
	items = json_object_get(doc, "items");
	if (!json_is_array(items)) {
		snprintf(err, errlen, "not a List: \"items\" is %s",
		    items == NULL ? "missing" : "not an array");
		return -1;
	}
	json_array_foreach(items, i, it) {
		if (!json_is_object(it)) {
			snprintf(err, errlen, "items[%zu] is not an object", i);
			return -1;
		}
		kind = json_string_value(json_object_get(it, "kind"));
		if (kind != NULL && strcmp(kind, item_kind) != 0) {
			snprintf(err, errlen, "items[%zu] is a %.60s, not a %s",
			    i, kind, item_kind);
			return -1;
		}
		if (!json_is_string(json_object_get(json_object_get(it,
		    "metadata"), "name"))) {
			snprintf(err, errlen, "items[%zu] has no "
			    "metadata.name", i);
			return -1;
		}
	}
	return 0;
}

/* The counters a namespace row starts with. */
static json_t *
row_new(const char *name, const char *stage)
{
	return json_pack("{s:s, s:s?, s:i, s:{}, s:i, s:i, s:i, s:i, s:[],"
	    " s:[]}", "name", name, "stage", stage, "pods", 0, "byStage",
	    "behind", 0, "staleConfig", 0, "refused", 0, "finished", 0,
	    "restarts", "outOfDate");
}

static void
counter_add(json_t *obj, const char *key, json_int_t n)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		json_object_set_new(obj, key, json_integer(n));
	else
		json_integer_set(v, json_integer_value(v) + n);
}

/* The status annotation of a pod as a new object, or NULL. */
static json_t *
pod_status(const json_t *pod)
{
	const char *text = pod_annotation(pod, ANN_STATUS);
	json_t *st;

	if (text == NULL)
		return NULL;
	st = json_loads(text, 0, NULL);
	if (!json_is_object(st) || !json_is_string(json_object_get(st,
	    "stage"))) {
		json_decref(st);
		return NULL;
	}
	return st;
}

static const char *
stage_or_none(const struct stage *st)
{
	return st == NULL || st->features == 0 ? REPORT_NONE : st->name;
}

struct want {
	const char *stage;
	bool refused;
	char reason[POLICY_MSG_LEN];
};

/* Remove from the array `list` (borrowed) the items whose names `names`
 * lists. */
static void
drop_named(json_t *list, const json_t *names)
{
	const json_t *n;
	size_t i, j;

	json_array_foreach(names, i, n) {
		for (j = json_array_size(list); j-- > 0;) {
			const char *have = json_string_value(json_object_get(
			    json_array_get(list, j), "name"));

			if (have != NULL && json_is_string(n) &&
			    strcmp(have, json_string_value(n)) == 0)
				json_array_remove(list, j);
		}
	}
}

/* The pod as its controller would create it again: a new copy without
 * what its status annotation says meshinject injected (the running pod
 * carries the proxy of the config it was injected under). */
static json_t *
pod_as_created(const json_t *pod)
{
	json_t *copy, *spec, *anns, *status;
	const char *text = pod_annotation(pod, ANN_STATUS);

	copy = json_deep_copy(pod);
	if (copy == NULL || text == NULL)
		return copy;
	status = json_loads(text, 0, NULL);
	spec = json_object_get(copy, "spec");
	drop_named(json_object_get(spec, "initContainers"),
	    json_object_get(status, "initContainers"));
	drop_named(json_object_get(spec, "containers"),
	    json_object_get(status, "containers"));
	drop_named(json_object_get(spec, "volumes"),
	    json_object_get(status, "volumes"));
	anns = json_object_get(json_object_get(copy, "metadata"),
	    "annotations");
	json_object_del(anns, ANN_STATUS);
	json_object_del(anns, "meshinject.io/cni-redirect");
	json_decref(status);
	return copy;
}

/* The stage the webhook would give `pod` if it were created now in a
 * namespace labelled `label` (NULL: unlabelled). */
static void
pod_want(const struct config *cfg, const json_t *pod, const char *ns,
    const char *label, struct want *w)
{
	struct policy_input in = { 0 };
	struct decision *d;
	json_t *fresh;

	memset(w, 0, sizeof(*w));
	w->stage = REPORT_NONE;
	/* No webhook entry matches: an unlabelled namespace and a pod
	 * without the label, or a label naming no configured stage. */
	if ((label == NULL && pod_label(pod, LABEL_STAGE) == NULL) ||
	    (label != NULL && config_stage(cfg, label) == NULL))
		return;
	if ((d = malloc(sizeof(*d))) == NULL)
		return;
	fresh = pod_as_created(pod);
	if (fresh == NULL) {
		free(d);
		return;
	}
	in.pod = fresh;
	in.namespace = ns;
	in.operation = "CREATE";
	in.path_stage = label;
	if (policy_decide(cfg, &in, d) == 0) {
		switch (d->verdict) {
		case VERDICT_SKIP:
			break;
		case VERDICT_DENY:
			w->refused = true;
			snprintf(w->reason, sizeof(w->reason), "%s",
			    d->problems.n > 0 ? d->problems.items[0] : d->why);
			w->stage = stage_or_none(d->stage);
			break;
		default:
			w->stage = stage_or_none(d->stage);
			break;
		}
	}
	json_decref(fresh);
	free(d);
}

/* Record one restart of `workload` for a pod in row `row`'s restart map
 * (an object keyed by workload, turned into the sorted array at the end). */
static void
restart_add(json_t *map, const char *workload, enum report_action act,
    const char *pod)
{
	json_t *r = json_object_get(map, workload);

	if (r == NULL) {
		r = json_pack("{s:s, s:i, s:s, s:[]}", "workload", workload,
		    "pods", 0, "action", action_names[act], "podNames");
		if (r == NULL || json_object_set_new(map, workload, r) != 0)
			return;
	}
	counter_add(r, "pods", 1);
	json_array_append_new(json_object_get(r, "podNames"),
	    json_string(pod));
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of `obj`, sorted; a new array of borrowed strings, or NULL. */
static const char **
sorted_keys(const json_t *obj, size_t *n)
{
	const char **keys, *k;
	json_t *v;
	size_t i = 0;

	*n = json_object_size(obj);
	if ((keys = calloc(*n + 1, sizeof(*keys))) == NULL)
		return NULL;
	json_object_foreach((json_t *)obj, k, v)
		keys[i++] = k;
	qsort(keys, *n, sizeof(*keys), cmp_str);
	return keys;
}

/* The command, or the note, that restarts a workload. */
static void
restart_finish(json_t *r, const char *ns)
{
	const char *act = json_string_value(json_object_get(r, "action"));
	const char *wl = json_string_value(json_object_get(r, "workload"));
	json_t *names = json_object_get(r, "podNames"), *v;
	char *cmd = NULL;
	size_t len = 0, i;
	FILE *f;

	if (strcmp(act, "rollout-restart") == 0 ||
	    strcmp(act, "delete-pods") == 0) {
		if ((f = open_memstream(&cmd, &len)) != NULL) {
			if (strcmp(act, "rollout-restart") == 0)
				fprintf(f, "kubectl -n %s rollout restart %s",
				    ns, wl);
			else {
				fprintf(f, "kubectl -n %s delete pod", ns);
				json_array_foreach(names, i, v)
					fprintf(f, " %s", json_string_value(v));
			}
			fclose(f);
		}
		json_object_set_new(r, "command", cmd ? json_string(cmd) :
		    json_null());
		if (strcmp(act, "delete-pods") == 0)
			json_object_set_new(r, "note", json_string("its "
			    "controller creates the deleted pods again"));
		free(cmd);
	} else {
		json_object_set_new(r, "command", json_null());
		if (strcmp(act, "next-run") == 0)
			json_object_set_new(r, "note", json_string("the "
			    "CronJob's next run gets the new stage"));
		else if (strncmp(wl, "pod/", 4) == 0)
			json_object_set_new(r, "note", json_string("bare pod, "
			    "nothing creates it again: delete it and create it "
			    "again from its manifest"));
		else if (strncmp(wl, "job/", 4) == 0)
			json_object_set_new(r, "note", json_string("a Job "
			    "cannot be restarted: delete it and create it "
			    "again from its manifest, or let it finish"));
		else
			json_object_set_new(r, "note", json_string("restart it "
			    "the way its controller does"));
	}
	json_object_del(r, "podNames");
}

/* Count one pod into its namespace's row. */
static void
report_pod(const struct config *cfg, json_t *row, json_t *restarts,
    json_t *extra_stages, const json_t *pod, const char *ns,
    const char *label)
{
	const char *name, *phase, *stage, *hash;
	json_t *status;
	struct want w;
	char workload[WORKLOAD_MAX];
	enum report_action act;
	bool behind, stale;

	name = jpath_string(pod, "metadata", "name", NULL);
	phase = jpath_string(pod, "status", "phase", NULL);
	if (phase != NULL && (strcmp(phase, "Succeeded") == 0 ||
	    strcmp(phase, "Failed") == 0)) {
		counter_add(row, "finished", 1);
		return;
	}
	counter_add(row, "pods", 1);
	status = pod_status(pod);
	stage = status ? json_string_value(json_object_get(status, "stage")) :
	    NULL;
	if (stage == NULL || *stage == '\0')
		stage = REPORT_NONE;
	/* A column for every stage seen, even one the config no longer has
	 * (or has made a stage that injects nothing). */
	if (strcmp(stage, REPORT_NONE) != 0 && (config_stage(cfg, stage) ==
	    NULL || config_stage(cfg, stage)->features == 0))
		json_object_set_new(extra_stages, stage, json_true());
	counter_add(json_object_get(row, "byStage"), stage, 1);
	hash = status ? json_string_value(json_object_get(status,
	    "configHash")) : NULL;

	pod_want(cfg, pod, ns, label, &w);
	behind = strcmp(stage, w.stage) != 0;
	stale = status != NULL && (hash == NULL || strcmp(hash, cfg->hash) != 0);
	if (behind || stale || w.refused) {
		json_t *o;

		act = report_workload(pod, workload, sizeof(workload));
		o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:b, s:b, s:b}",
		    "pod", name, "workload", workload, "stage", stage, "want",
		    w.stage, "configHash", hash, "behind", behind,
		    "staleConfig", stale, "refused", w.refused);
		if (o != NULL && w.refused) {
			utf8_clean(w.reason);
			json_object_set_new(o, "reason", json_string(w.reason));
		}
		json_array_append_new(json_object_get(row, "outOfDate"), o);
		if (behind)
			counter_add(row, "behind", 1);
		if (stale)
			counter_add(row, "staleConfig", 1);
		if (w.refused)
			counter_add(row, "refused", 1);
		else
			restart_add(restarts, workload, act, name);
	}
	json_decref(status);
}

/* Turn the per-namespace maps into the sorted arrays of the schema. */
static json_t *
report_finish(const struct config *cfg, json_t *rows, json_t *restarts,
    json_t *extra_stages)
{
	json_t *rep, *stages, *list, *totals;
	const char **keys = NULL, **rkeys, **xkeys = NULL;
	size_t n, rn, xn, i, j;

	stages = json_array();
	json_array_append_new(stages, json_string(REPORT_NONE));
	for (i = 0; i < cfg->n_stages; i++)
		if (cfg->stages[i].features != 0)
			json_array_append_new(stages,
			    json_string(cfg->stages[i].name));
	if ((xkeys = sorted_keys(extra_stages, &xn)) == NULL)
		goto oom;
	for (i = 0; i < xn; i++)
		json_array_append_new(stages, json_string(xkeys[i]));
	totals = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "pods", 0,
	    "behind", 0, "staleConfig", 0, "refused", 0, "finished", 0,
	    "restarts", 0);
	list = json_array();
	rep = json_pack("{s:s, s:i, s:s, s:o, s:o, s:o}", "kind",
	    "RolloutReport", "version", REPORT_VERSION, "configHash",
	    cfg->hash, "stages", stages, "namespaces", list, "totals", totals);
	if (rep == NULL)
		goto oom;
	if ((keys = sorted_keys(rows, &n)) == NULL) {
		json_decref(rep);
		goto oom;
	}
	for (i = 0; i < n; i++) {
		json_t *row = json_object_get(rows, keys[i]);
		json_t *map = json_object_get(restarts, keys[i]);
		json_t *by = json_object_get(row, "byStage"), *sorted, *s;
		json_t *arr = json_object_get(row, "restarts");
		static const char *const sums[] = { "pods", "behind",
		    "staleConfig", "refused", "finished" };

		/* byStage in column order, every column present. */
		sorted = json_object();
		json_array_foreach(stages, j, s) {
			const char *st = json_string_value(s);
			json_t *c = json_object_get(by, st);

			json_object_set_new(sorted, st, json_integer(c ?
			    json_integer_value(c) : 0));
		}
		json_object_set_new(row, "byStage", sorted);
		if ((rkeys = sorted_keys(map, &rn)) != NULL) {
			for (j = 0; j < rn; j++) {
				json_t *r = json_object_get(map, rkeys[j]);

				restart_finish(r, keys[i]);
				json_array_append(arr, r);
			}
			free(rkeys);
		}
		for (j = 0; j < sizeof(sums) / sizeof(sums[0]); j++)
			counter_add(totals, sums[j], json_integer_value(
			    json_object_get(row, sums[j])));
		counter_add(totals, "restarts", (json_int_t)json_array_size(arr));
		json_array_append(list, row);
	}
	free(keys);
	free(xkeys);
	return rep;
oom:
	free(xkeys);
	return NULL;
}

json_t *
report_build(const struct config *cfg, const json_t *pods,
    const json_t *namespaces)
{
	json_t *rows, *restarts, *extra, *labels, *rep = NULL;
	const json_t *it;
	size_t i;

	rows = json_object();
	restarts = json_object();
	extra = json_object();
	labels = json_object();
	if (rows == NULL || restarts == NULL || extra == NULL || labels == NULL)
		goto done;

	/* Every listed namespace gets a row, pods or not. */
	json_array_foreach(json_object_get(namespaces, "items"), i, it) {
		const char *name = jpath_string(it, "metadata", "name",
		    NULL);
		const char *label = pod_label(it, LABEL_STAGE);

		if (name == NULL || config_namespace_ignored(cfg, name))
			continue;
		json_object_set_new(rows, name, row_new(name, label));
		json_object_set_new(restarts, name, json_object());
		if (label != NULL)
			json_object_set_new(labels, name, json_string(label));
	}
	json_array_foreach(json_object_get(pods, "items"), i, it) {
		const char *ns = jpath_string(it, "metadata", "namespace",
		    NULL);
		json_t *row;

		if (ns == NULL || *ns == '\0' || config_namespace_ignored(cfg,
		    ns))
			continue;
		/* A namespace missing from the list (another dump's, or
		 * created since): counted as unlabelled. */
		if ((row = json_object_get(rows, ns)) == NULL) {
			json_object_set_new(rows, ns, row_new(ns, NULL));
			json_object_set_new(restarts, ns, json_object());
			row = json_object_get(rows, ns);
		}
		report_pod(cfg, row, json_object_get(restarts, ns), extra, it,
		    ns, json_string_value(json_object_get(labels, ns)));
	}
	rep = report_finish(cfg, rows, restarts, extra);
done:
	json_decref(rows);
	json_decref(restarts);
	json_decref(extra);
	json_decref(labels);
	return rep;
}

/* ---- text output ---- */

static int
num_width(json_int_t v)
{
	char b[32];

	return snprintf(b, sizeof(b), "%lld", (long long)v);
}

/* Upper-cased column header for a stage. */
static void
upper(const char *s, char *buf, size_t buflen)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < buflen; i++)
		buf[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') :
		    s[i];
	buf[i] = '\0';
}

#define NUM_COLS	5

int
report_print_text(FILE *f, const json_t *rep)
{
	static const char *const heads[NUM_COLS] = { "PODS", "BEHIND",
	    "OLD-CONFIG", "REFUSED", "FINISHED" };
	static const char *const keys[NUM_COLS] = { "pods", "behind",
	    "staleConfig", "refused", "finished" };
	const json_t *stages = json_object_get(rep, "stages");
	const json_t *list = json_object_get(rep, "namespaces");
	const json_t *totals = json_object_get(rep, "totals");
	const json_t *row, *s, *r, *o;
	size_t nst = json_array_size(stages), i, j, k;
	int wname = (int)strlen("NAMESPACE"), wstage = (int)strlen("STAGE");
	int *wst, wnum[NUM_COLS];
	char head[128];
	bool any;

	if ((wst = calloc(nst + 1, sizeof(*wst))) == NULL)
		return -1;
	for (k = 0; k < NUM_COLS; k++)
		wnum[k] = (int)strlen(heads[k]);
	json_array_foreach(stages, j, s)
		wst[j] = (int)strlen(json_string_value(s));
	json_array_foreach(list, i, row) {
		const char *st = json_string_value(json_object_get(row,
		    "stage"));
		int w;

		w = (int)strlen(json_string_value(json_object_get(row, "name")));
		wname = w > wname ? w : wname;
		w = st != NULL ? (int)strlen(st) : 1;
		wstage = w > wstage ? w : wstage;
		json_array_foreach(stages, j, s) {
			w = num_width(json_integer_value(json_object_get(
			    json_object_get(row, "byStage"),
			    json_string_value(s))));
			wst[j] = w > wst[j] ? w : wst[j];
		}
		for (k = 0; k < NUM_COLS; k++) {
			w = num_width(json_integer_value(json_object_get(row,
			    keys[k])));
			wnum[k] = w > wnum[k] ? w : wnum[k];
		}
	}

	fprintf(f, "%-*s  %-*s  %*s", wname, "NAMESPACE", wstage, "STAGE",
	    wnum[0], heads[0]);
	json_array_foreach(stages, j, s) {
		upper(json_string_value(s), head, sizeof(head));
		fprintf(f, "  %*s", wst[j], head);
	}
	for (k = 1; k < NUM_COLS; k++)
		fprintf(f, "  %*s", wnum[k], heads[k]);
	fputc('\n', f);
	json_array_foreach(list, i, row) {
		const char *st = json_string_value(json_object_get(row,
		    "stage"));

		fprintf(f, "%-*s  %-*s  %*lld", wname,
		    json_string_value(json_object_get(row, "name")), wstage,
		    st != NULL ? st : "-", wnum[0], (long long)
		    json_integer_value(json_object_get(row, keys[0])));
		json_array_foreach(stages, j, s)
			fprintf(f, "  %*lld", wst[j], (long long)
			    json_integer_value(json_object_get(json_object_get(
			    row, "byStage"), json_string_value(s))));
		for (k = 1; k < NUM_COLS; k++)
			fprintf(f, "  %*lld", wnum[k], (long long)
			    json_integer_value(json_object_get(row, keys[k])));
		fputc('\n', f);
	}
	free(wst);

	fprintf(f, "\nconfig %s: %lld pods, %lld not at the stage they "
	    "should run, %lld injected under another config, %lld would be "
	    "refused\n",
	    json_string_value(json_object_get(rep, "configHash")),
	    (long long)json_integer_value(json_object_get(totals, "pods")),
	    (long long)json_integer_value(json_object_get(totals, "behind")),
	    (long long)json_integer_value(json_object_get(totals,
	    "staleConfig")),
	    (long long)json_integer_value(json_object_get(totals, "refused")));

	if (json_integer_value(json_object_get(totals, "restarts")) == 0) {
		fprintf(f, "\nNothing to restart: every pod runs the stage and "
		    "config it should.\n");
	} else {
		fprintf(f, "\nRestart to converge:\n");
		json_array_foreach(list, i, row) {
			const char *ns = json_string_value(json_object_get(row,
			    "name"));

			json_array_foreach(json_object_get(row, "restarts"), j,
			    r) {
				const char *cmd = json_string_value(
				    json_object_get(r, "command"));

				if (cmd != NULL)
					fprintf(f, "%s\n", cmd);
				else
					fprintf(f, "# %s %s: %s\n", ns,
					    json_string_value(json_object_get(r,
					    "workload")), json_string_value(
					    json_object_get(r, "note")));
			}
		}
	}

	any = false;
	json_array_foreach(list, i, row) {
		json_array_foreach(json_object_get(row, "outOfDate"), j, o) {
			if (!json_is_true(json_object_get(o, "refused")))
				continue;
			if (!any)
				fprintf(f, "\nWould be refused if created again "
				    "(fix these first; not in the restart "
				    "list):\n");
			any = true;
			fprintf(f, "%s pod/%s (%s): %s\n",
			    json_string_value(json_object_get(row, "name")),
			    json_string_value(json_object_get(o, "pod")),
			    json_string_value(json_object_get(o, "workload")),
			    json_string_value(json_object_get(o, "reason")));
		}
	}
	return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

/* ---- the command ---- */

enum { O_PODS = CLI_LONG, O_NAMESPACES, O_CONFIG, O_OUTPUT = 'o' };

static const struct cli_opt report_opts[] = {
	{ O_PODS, "pods", "FILE", "kubectl get pods -A -o json", false },
	{ O_NAMESPACES, "namespaces", "FILE", "kubectl get namespaces -o json",
	    false },
	{ O_CONFIG, "config", "F", "the config the webhook runs (merged over "
	    "the\nembedded default); default: the embedded default", false },
	{ O_OUTPUT, "output", "FMT", "text (default: table and restart list) "
	    "or json:\n"
	    "one document, kind RolloutReport, version 1, with\n"
	    "per namespace name, stage, pods, byStage, behind,\n"
	    "staleConfig, refused, finished, restarts[] (workload,\n"
	    "pods, action, command or note) and outOfDate[] (pod,\n"
	    "workload, stage, want, configHash, behind,\n"
	    "staleConfig, refused, reason), and totals", false },
	{ 0, NULL, NULL, NULL, false }
};

const struct cli_cmd cmd_report_cli = {
	.name = "report",
	.synopsis = "--pods FILE|- --namespaces FILE|-\n"
	    "[--config F] [-o|--output text|json]",
	.summary = "show how far a rollout has come per namespace, and what to "
	    "restart",
	.about =
"How far a gradual rollout has come, per namespace, from\n"
"  kubectl get pods -A -o json      > pods.json\n"
"  kubectl get namespaces -o json   > namespaces.json\n"
"(one of the two may be read from standard input with -).\n"
"\n"
"For each namespace (except the config's ignoredNamespaces): its\n"
"meshinject.io/stage label; how many pods run at each stage (the stage in\n"
"their meshinject.io/status annotation, \"none\" without one); how many are\n"
"BEHIND (their stage is not the one the webhook would give them if they were\n"
"created now: the namespace's stage, or what the pod's own annotations or a\n"
"partial rollout choose), how many run under another config (OLD-CONFIG:\n"
"status configHash differs from the config's), how many the webhook would\n"
"REFUSE if they were created again, and how many have FINISHED (Succeeded or\n"
"Failed; not counted otherwise). Then the workloads to restart, as kubectl\n"
"commands, with what cannot be restarted by a command (bare pods, Jobs) as\n"
"'#' lines, so that the list can be reviewed and run as a shell script.\n",
	.opts = report_opts,
	.footer =
"Exit status: 0 report printed; 1 an input or the config cannot be read or\n"
"is not what kubectl prints; 2 bad arguments.\n",
};

/* Read a kubectl List from `path` ("-": standard input) and check it. */
static json_t *
report_load(const char *path, const char *item_kind, const char *flag)
{
	json_error_t jerr;
	json_t *doc;
	char why[256];
	const char *shown = strcmp(path, "-") == 0 ? "standard input" : path;

	if (strcmp(path, "-") == 0)
		doc = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	else
		doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		if (jerr.line < 1 && strcmp(path, "-") != 0)
			fprintf(stderr, "meshinject report: %s %s: %s\n", flag,
			    shown, jerr.text);
		else
			fprintf(stderr, "meshinject report: %s %s: not JSON: "
			    "line %d, column %d: %s\n", flag, shown, jerr.line,
			    jerr.column, jerr.text);
		return NULL;
	}
	if (report_check_list(doc, item_kind, why, sizeof(why)) != 0) {
		fprintf(stderr, "meshinject report: %s %s: %s\n", flag, shown,
		    why);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

int
cmd_report(int argc, char **argv)
{
	const char *pods_path = NULL, *ns_path = NULL, *cfg_path = NULL;
	const char *output = "text";
	const struct cli_cmd *cmd = &cmd_report_cli;
	struct cli_parser p;
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;
	json_t *pods = NULL, *nss = NULL, *rep = NULL;
	int c, rc = 1;
	size_t k;

	cli_begin(&p, cmd, argc, argv);
	while ((c = cli_next(&p)) != CLI_END) {
		switch (c) {
		case O_PODS:
			pods_path = p.value;
			break;
		case O_NAMESPACES:
			ns_path = p.value;
			break;
		case O_CONFIG:
			cfg_path = p.value;
			break;
		case O_OUTPUT:
			output = p.value;
			break;
		case CLI_HELP:
			cli_usage(cmd, stdout);
			return 0;
		default:
			return cli_fail_parse(&p);
		}
	}
	if (p.optind < argc)
		return cli_fail_parse(&p);
	if ((pods_path != NULL && *pods_path == '\0') ||
	    (ns_path != NULL && *ns_path == '\0') ||
	    (cfg_path != NULL && *cfg_path == '\0'))
		return cli_fail(cmd, "a file name is empty");
	if (pods_path == NULL || ns_path == NULL)
		return cli_fail(cmd, "both --pods and --namespaces are needed");
	if (strcmp(pods_path, "-") == 0 && strcmp(ns_path, "-") == 0)
		return cli_fail(cmd, "only one of --pods and --namespaces can "
		    "read standard input");
	if (strcmp(output, "text") != 0 && strcmp(output, "json") != 0)
		return cli_fail(cmd, "--output must be text or json, not "
		    "\"%s\"", output);

	cfg = cfg_path ? config_load_file(cfg_path, &errs) :
	    config_load_default(&errs);
	if (cfg == NULL) {
		for (k = 0; k < errs.count; k++)
			fprintf(stderr, "%s\n", errs.msgs[k]);
		if (errs.count == 0)
			fprintf(stderr, "meshinject report: cannot load the "
			    "config\n");
		config_errors_clear(&errs);
		return 1;
	}
	if ((pods = report_load(pods_path, "Pod", "--pods")) == NULL ||
	    (nss = report_load(ns_path, "Namespace", "--namespaces")) == NULL)
		goto done;
	if ((rep = report_build(cfg, pods, nss)) == NULL) {
		fprintf(stderr, "meshinject report: out of memory\n");
		goto done;
	}
	if (strcmp(output, "json") == 0) {
		if (json_dumpf(rep, stdout, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER) != 0 || fputc('\n', stdout) == EOF ||
		    fflush(stdout) != 0)
			goto write_error;
	} else if (report_print_text(stdout, rep) != 0) {
		goto write_error;
	}
	rc = 0;
	goto done;
write_error:
	fprintf(stderr, "meshinject report: cannot write the report: %s\n",
	    strerror(errno));
done:
	json_decref(rep);
	json_decref(pods);
	json_decref(nss);
	config_free(cfg);
	return rc;
}
