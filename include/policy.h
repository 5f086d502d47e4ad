/* policy.h - which stage and features a pod gets, or why it is skipped or
 * refused. Pure: pod JSON and config in, decision out. */
#ifndef MESHINJECT_POLICY_H
#define MESHINJECT_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "coreutil.h"
#include "netparse.h"

#define ANN_PREFIX	"meshinject.io/"
#define ANN_INJECT	"meshinject.io/inject"
#define ANN_STAGE	"meshinject.io/stage"
#define ANN_STATUS	"meshinject.io/status"
#define LABEL_STAGE	"meshinject.io/stage"
#define ANN_MIRROR	"kubernetes.io/config.mirror"

/* What meshinject injects, by name: policy.c checks them, inject.c adds
 * them. */
#define MESH_PROXY	"mesh-proxy"
#define MESH_INIT	"mesh-init"
#define MESH_VOL_RUN	"mesh-run"
#define MESH_VOL_TOKEN	"mesh-token"
#define MESH_VOL_CERTS	"mesh-certs"

enum verdict {
	VERDICT_INJECT,		/* the pod gets the stage's containers */
	VERDICT_OBSERVE,	/* only the status annotation (observe) */
	VERDICT_UNCHANGED,	/* already injected, or the stage adds nothing */
	VERDICT_SKIP,		/* not ours to touch (operation, namespace, ...) */
	VERDICT_DENY		/* refused: code and reason say why */
};

/* "injected", "observed", "unchanged", "skipped", "denied". */
const char *verdict_name(enum verdict v);


/* What the pod's traffic annotations and proxy annotations ask for. The
 * strings are borrowed from the pod JSON. */
struct pod_settings {
	struct port_list include_inbound;
	struct port_list exclude_inbound;
	struct port_list exclude_outbound;
	struct cidr_list include_cidrs;
	struct cidr_list exclude_cidrs;
	const char *include_inbound_text;	/* NULL when not annotated */
	const char *exclude_inbound_text;
	const char *exclude_outbound_text;
	const char *include_cidrs_text;
	const char *exclude_cidrs_text;
	const char *cpu_request;
	const char *memory_request;
	const char *cpu_limit;
	const char *memory_limit;
	const char *log_level;
	const char *image;
};

struct policy_input {
	const json_t *pod;		/* borrowed */
	const char *namespace;		/* request.namespace */
	const char *operation;		/* CREATE, UPDATE, DELETE, CONNECT */
	const char *path_stage;		/* from /mutate/<stage>, NULL if none */
	bool validate;			/* /validate: check only, never patch */
	const char *self_namespace;	/* the webhook's own, or NULL */
};

struct decision {
	enum verdict verdict;
	const struct stage *stage;	/* stage the pod gets (borrowed), or NULL */
	const struct stage *rollout_from; /* stage whose rollout sent the pod
					 * to `stage`, or NULL */
	const struct stage *ns_stage;	/* stage of the path or namespace */
	unsigned features;		/* FEATURE_BIT() set the pod gets */
	/* Under observe: what the next stage would do. proxy is the proxy
	 * settings that apply (the stage's, or the next stage's). */
	const struct stage *would_stage;
	unsigned would_features;
	const struct proxy_config *proxy;
	bool already;			/* the pod already carries what this
					 * stage gives (a reinvocation): the
					 * answer sets no audit annotation,
					 * since the apiserver refuses to
					 * overwrite the first call's */
	int code;			/* for VERDICT_DENY: 403 or 422 */
	const char *reason;		/* "Forbidden" or "Invalid" */
	char why[POLICY_MSG_LEN];	/* one line for audit and logs */
	char workload[POLICY_MSG_LEN];	/* "Deployment/web", for rollout */
	int bucket;			/* rollout bucket 0..99, -1 if none */
	struct msg_list trail;		/* each step of the decision, in order,
					 * for `meshinject explain` */
	struct msg_list problems;	/* denials, or warnings under observe */
	struct msg_list warnings;
	struct pod_settings settings;
};

/* Decide what happens to the pod. Fills *d (no allocation, nothing to free).
 * Returns 0; -1 only on a programming error (NULL arguments). */
int policy_decide(const struct config *cfg, const struct policy_input *in,
    struct decision *d);

/* The builder (inject_patch) found nothing to add for an INJECT or OBSERVE
 * decision: the pod already carries everything its stage adds, so its fate
 * is "unchanged: already injected" (d->already: a reinvocation, answered
 * without auditAnnotations). Decided here, like every other verdict. */
void policy_nothing_to_add(struct decision *d);

/* The workload a pod belongs to, as "Kind/name", into buf: a ReplicaSet's
 * pod counts as its Deployment (pod-template-hash suffix stripped), a
 * CronJob's Job ("<cronjob>-<8+ digits>") as its CronJob, a DeploymentConfig's
 * ReplicationController as the DeploymentConfig, other controllers as
 * themselves, a bare pod as "Pod/<name or generateName without ->". The
 * rollout hashes it; `report` restarts it. */
void policy_workload(const json_t *pod, char *buf, size_t buflen);

/* An empty decision (no verdict, no messages, settings unset). */
void decision_init(struct decision *d);


#endif
