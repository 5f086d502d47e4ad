/* report.h - the rollout report: how far each namespace's pods are from the
 * stage and config the webhook would give them today, and what to restart.
 * Pure: `kubectl get pods -A -o json`, `kubectl get namespaces -o json` and
 * a config in, one JSON report out; the text table is rendered from it.
 *
 * A pod's stage is its meshinject.io/status annotation's "stage" ("none"
 * without one). The stage it should have ("want") is what policy_decide()
 * gives the pod as a new CREATE under its namespace's meshinject.io/stage
 * label, so opt-outs, meshinject.io/stage pod annotations and partial
 * rollouts count as converged; in an unlabelled namespace only pods with the
 * meshinject.io/stage label reach the webhook (the chart's objectSelector
 * entry), the others want "none". A stage that injects nothing ("off") is
 * "none". Pods whose phase is Succeeded or Failed run nothing: they are
 * counted as "finished" only.
 *
 * The JSON document (`meshinject report --output json`), version 1; keys are
 * only ever added:
 *
 *   {
 *     "kind": "RolloutReport", "version": 1,
 *     "configHash": "<16 hex>",          the config compared against
 *     "stages": ["none", "observe", ...], column order: "none", the config's
 *                                        stages that inject, then stage
 *                                        names found only on pods
 *     "namespaces": [ {                  sorted by name; ignoredNamespaces
 *                                        left out
 *       "name": "shop",
 *       "stage": "mtls" | null,          the namespace label
 *       "pods": 10,                      pods counted (not finished)
 *       "byStage": {"none": 4, ...},     every entry of "stages", 0 or more
 *       "behind": 6,                     stage != want
 *       "staleConfig": 1,                status configHash != configHash
 *       "refused": 1,                    the webhook would refuse the pod
 *                                        if it were created again
 *       "finished": 1,
 *       "restarts": [ {                  workloads with a behind or stale
 *                                        pod that is not refused, by name
 *         "workload": "deployment/web",  lower-case kind / name
 *         "pods": 2,
 *         "action": "rollout-restart" | "delete-pods" | "recreate" |
 *                   "next-run" | "controller",
 *         "command": "kubectl -n shop rollout restart deployment/web" | null,
 *         "note": "..."                  for actions without a command
 *       } ],
 *       "outOfDate": [ {                 every behind, stale or refused pod
 *         "pod": "web-7d4b9c8f6-x2x9k", "workload": "deployment/web",
 *         "stage": "traffic", "want": "mtls",
 *         "configHash": "..." | null,
 *         "behind": true, "staleConfig": false, "refused": false,
 *         "reason": "..."                only when refused
 *       } ]
 *     } ],
 *     "totals": {"pods", "behind", "staleConfig", "refused", "finished",
 *                "restarts"}
 *   }
 */
#ifndef MESHINJECT_REPORT_H
#define MESHINJECT_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "config.h"

#define REPORT_VERSION	1
#define REPORT_NONE	"none"

/* What restarting a workload takes. */
enum report_action {
	REPORT_ROLLOUT_RESTART,	/* Deployment, StatefulSet, DaemonSet */
	REPORT_DELETE_PODS,	/* a ReplicaSet or ReplicationController of
				 * its own re-creates deleted pods */
	REPORT_RECREATE,	/* a bare pod or a Job: nothing re-creates it */
	REPORT_NEXT_RUN,	/* a CronJob's Job: its next run converges */
	REPORT_CONTROLLER	/* another controller: restart it its own way */
};

/* The workload that owns `pod` (borrowed): "deployment/web" (a ReplicaSet's
 * pod, the pod-template-hash label's suffix stripped from the ReplicaSet's
 * name), "statefulset/db", "cronjob/nightly" (a Job named
 * "<cronjob>-<8+ digits>"), "job/x", "pod/<name>" for a bare pod, or
 * "<kind lower-cased>/<name>". Writes at most buflen bytes into buf and
 * returns the action that restarts it. */
enum report_action report_workload(const json_t *pod, char *buf,
    size_t buflen);

/* Check that `doc` (borrowed) is what `kubectl get <what> -o json` prints:
 * an object of kind "List" (or "<item_kind>List") with an "items" array
 * whose members are objects of kind `item_kind` (or without a kind).
 * Returns 0, or -1 with the problem in err ("not a List: kind is \"Pod\""). */
int report_check_list(const json_t *doc, const char *item_kind, char *err,
    size_t errlen);

/* Build the report. `pods` and `namespaces` are borrowed and must have
 * passed report_check_list(). Returns a new JSON object, or NULL when
 * memory runs out. */
json_t *report_build(const struct config *cfg, const json_t *pods,
    const json_t *namespaces);

/* Print the report (borrowed) as an aligned table, a summary line, the
 * restart list (commands, and `#` lines for what must be done by hand, so
 * that the list can be reviewed and run as a shell script) and the pods
 * that would be refused. Returns 0, or -1 on a write error. */
int report_print_text(FILE *f, const json_t *report);

#endif
