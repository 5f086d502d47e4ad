// fixtures.mjs - what the cluster suites install and create: the chart values
// with every kind of stage, workload objects of every kind built around one
// pod template, how a stored pod is classified (injected, observed,
// untouched), and a second mutating webhook (an HTTPS server in this process)
// that changes every pod after meshinject, for reinvocation.
import https from "node:https";
import { join } from "node:path";
import { makeCa } from "./cluster.mjs";

// Every kind of stage: the built-in observe, traffic and mtls (from the
// chart's defaults), an enforced one, a cni one, and one with a partial
// rollout whose other half falls back to observe.
export const STAGE_VALUES = {
	config: {
		stages: {
			locked: { features: ["proxy", "redirect", "mtls"], enforce: true },
			"traffic-cni": { features: ["proxy", "cni"] },
			canary: { features: ["proxy", "redirect"], rollout: { percent: 50, fallback: "observe" } },
		},
	},
};
export const CANARY_PERCENT = 50;

// The rollout bucket as the README defines it, computed here independently:
// FNV-1a 64 of "<namespace>/<Kind>/<name>" modulo 100, where the workload is
// the Deployment of a ReplicaSet's pod, the CronJob of a Job named
// <cronjob>-<8+ digits>, else the owner, else the bare pod.
export function rolloutBucket(ns, kind, name) {
	let h = 0xcbf29ce484222325n;
	for (const b of Buffer.from(`${ns}/${kind}/${name}`)) {
		h ^= BigInt(b);
		h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
	}
	return Number(h % 100n);
}

// What a pod of that workload becomes at stage canary.
export function canaryExpect(ns, kind, name) {
	return rolloutBucket(ns, kind, name) < CANARY_PERCENT ? "injected:canary" : "observed";
}

export const IMAGE = "registry.example/app:1.0";

// A pod template: label wl=<name> to find its pods, one app container.
// opts: { annotations, labels, ports: [n], hostNetwork, restartPolicy,
//         securityContext (pod), containerSecurityContext }
export function template(name, opts = {}) {
	const c = { name: "app", image: IMAGE };
	if (opts.ports)
		c.ports = opts.ports.map((p) => ({ containerPort: p }));
	if (opts.containerSecurityContext)
		c.securityContext = opts.containerSecurityContext;
	const spec = { containers: [c] };
	if (opts.hostNetwork)
		spec.hostNetwork = true;
	if (opts.restartPolicy)
		spec.restartPolicy = opts.restartPolicy;
	if (opts.securityContext)
		spec.securityContext = opts.securityContext;
	const metadata = { labels: { wl: name, ...(opts.labels ?? {}) } };
	if (opts.annotations)
		metadata.annotations = opts.annotations;
	return { metadata, spec };
}

// One object of kind for workload `name` in namespace ns. kind: Deployment,
// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob,
// Pod. replicas where it applies.
export function workload(kind, ns, name, opts = {}) {
	const replicas = opts.replicas ?? 1;
	const tpl = template(name, opts);
	const sel = { matchLabels: { wl: name } };
	const meta = { name, namespace: ns };
	switch (kind) {
	case "Deployment":
		return { apiVersion: "apps/v1", kind, metadata: meta, spec: { replicas, selector: sel, template: tpl } };
	case "StatefulSet":
		// Parallel: without a kubelet no pod gets ready, and OrderedReady
		// would stop after the first.
		return { apiVersion: "apps/v1", kind, metadata: meta, spec: { replicas, serviceName: name, podManagementPolicy: "Parallel", selector: sel, template: tpl } };
	case "DaemonSet":
		return { apiVersion: "apps/v1", kind, metadata: meta, spec: { selector: sel, template: tpl } };
	case "ReplicaSet":
		return { apiVersion: "apps/v1", kind, metadata: meta, spec: { replicas, selector: sel, template: tpl } };
	case "ReplicationController":
		return { apiVersion: "v1", kind, metadata: meta, spec: { replicas, selector: { wl: name }, template: tpl } };
	case "Job":
		tpl.spec.restartPolicy = "Never";
		return { apiVersion: "batch/v1", kind, metadata: meta, spec: { completions: replicas, parallelism: replicas, backoffLimit: 0, template: tpl } };
	case "CronJob":
		tpl.spec.restartPolicy = "Never";
		return {
			apiVersion: "batch/v1", kind, metadata: meta,
			spec: { schedule: "0 0 1 1 *", suspend: true, jobTemplate: { spec: { backoffLimit: 0, template: tpl } } },
		};
	case "Pod":
		return { apiVersion: "v1", kind, metadata: { ...meta, labels: tpl.metadata.labels, ...(tpl.metadata.annotations ? { annotations: tpl.metadata.annotations } : {}) }, spec: tpl.spec };
	default:
		throw new Error(`workload: unknown kind ${kind}`);
	}
}

// A pod that Pod Security "restricted" admits as it is.
export function restrictedPod(ns, name, opts = {}) {
	return workload("Pod", ns, name, {
		...opts,
		securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
		containerSecurityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
	});
}

// What meshinject left in a stored pod.
export function meshOf(pod) {
	const init = pod.spec.initContainers ?? [];
	const main = pod.spec.containers ?? [];
	const all = [...init, ...main];
	const count = (n) => all.filter((c) => c.name === n).length;
	const raw = pod.metadata.annotations?.["meshinject.io/status"];
	let status = null;
	if (raw !== undefined) {
		try { status = JSON.parse(raw); } catch { status = { unparsable: raw }; }
	}
	return {
		proxies: count("mesh-proxy"),
		inits: count("mesh-init"),
		proxy: all.find((c) => c.name === "mesh-proxy"),
		init: all.find((c) => c.name === "mesh-init"),
		nativeProxy: init.some((c) => c.name === "mesh-proxy" && c.restartPolicy === "Always"),
		status,
		meshVolumes: (pod.spec.volumes ?? []).filter((v) => v.name.startsWith("mesh-")).map((v) => v.name),
	};
}

// "injected:<stage>", "observed", "untouched", or "odd: ..." for a stored pod.
export function classify(pod) {
	const m = meshOf(pod);
	if (m.proxies === 0 && m.inits === 0 && !m.status)
		return "untouched";
	if (m.status?.stage === "observe" && m.proxies === 0 && m.inits === 0)
		return "observed";
	if (m.proxies === 1 && m.inits === 1 && m.status?.stage &&
	    m.status.containers && m.status.initContainers)
		return `injected:${m.status.stage}`;
	return `odd: ${m.proxies} mesh-proxy, ${m.inits} mesh-init, status ${JSON.stringify(m.status)}`;
}

// ---- a second mutating webhook ------------------------------------------------

function escapePointer(s) {
	return s.replace(/~/g, "~0").replace(/\//g, "~1");
}

export const SECOND_LABEL = "e2e.meshinject.io/second";
export const SECOND_ENV = "E2E_SECOND_WEBHOOK";

// An HTTPS server in this process that, for every pod, adds the label
// e2e.meshinject.io/second=seen and an env var to every container of
// spec.containers (both only when absent: it is reinvoked too). It records
// each call: { pod, namespace, hadProxy, patched }.
export async function startSecondWebhook(dir) {
	const pki = makeCa(join(dir, "second-pki"), { names: ["localhost"], ips: ["127.0.0.1"], prefix: "second-" });
	const calls = [];
	const server = https.createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
		let body = "";
		req.on("data", (d) => { body += d; });
		req.on("end", () => {
			let review;
			try {
				review = JSON.parse(body);
			} catch {
				res.writeHead(400).end();
				return;
			}
			const pod = review.request.object;
			const ops = [];
			if (!pod.metadata.labels)
				ops.push({ op: "add", path: "/metadata/labels", value: {} });
			if (pod.metadata.labels?.[SECOND_LABEL] !== "seen")
				ops.push({ op: "add", path: `/metadata/labels/${escapePointer(SECOND_LABEL)}`, value: "seen" });
			(pod.spec.containers ?? []).forEach((c, i) => {
				if ((c.env ?? []).some((e) => e.name === SECOND_ENV))
					return;
				if (!c.env)
					ops.push({ op: "add", path: `/spec/containers/${i}/env`, value: [] });
				ops.push({ op: "add", path: `/spec/containers/${i}/env/-`, value: { name: SECOND_ENV, value: "seen" } });
			});
			const names = [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])].map((c) => c.name);
			calls.push({ pod: pod.metadata.name || pod.metadata.generateName, namespace: review.request.namespace,
				hadProxy: names.includes("mesh-proxy"), patched: ops.length > 0 });
			const response = { uid: review.request.uid, allowed: true };
			if (ops.length) {
				response.patchType = "JSONPatch";
				response.patch = Buffer.from(JSON.stringify(ops)).toString("base64");
			}
			res.writeHead(200, { "Content-Type": "application/json" });
			res.end(JSON.stringify({ apiVersion: review.apiVersion, kind: "AdmissionReview", response }));
		});
	});
	await new Promise((res) => server.listen(0, "127.0.0.1", res));
	const port = server.address().port;
	return {
		port, calls, pki,
		// The registration: named so that it sorts after "meshinject" (the
		// apiserver calls configurations in name order), IfNeeded.
		configuration(name = "zz-e2e-second") {
			return {
				apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration",
				metadata: { name },
				webhooks: [{
					name: "second.e2e.meshinject.io",
					admissionReviewVersions: ["v1"], sideEffects: "None", timeoutSeconds: 5,
					failurePolicy: "Fail", reinvocationPolicy: "IfNeeded",
					clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(pki.ca).toString("base64") },
					rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], scope: "Namespaced" }],
					namespaceSelector: { matchExpressions: [{ key: "e2e.meshinject.io/second", operator: "In", values: ["enabled"] }] },
				}],
			};
		},
		// The apiserver keeps idle connections for 90 s: close them too.
		close() {
			const done = new Promise((res) => server.close(res));
			server.closeAllConnections();
			return done;
		},
	};
}
