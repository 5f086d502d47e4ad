// Real-world shapes: every pod template in Istio's injection test inputs
// (../shared/corpus/istio-inject-inputs beside the repository, when it is
// there; one line says when it is not), wrapped as a Pod in a CREATE review,
// sent to /mutate/traffic and /mutate/mtls. Each is answered; the patch
// applies, keeps to the contract and leaves a valid pod; reinvocation gives
// no patch. Templates that are not valid Pods to begin with are reported.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import YAML from "yaml";
import { Server, BIN } from "./lib/server.mjs";
import { REPO, makeReview } from "./lib/reviews.mjs";
import { podErrors, applyAddPatch, deepClone } from "./lib/k8s.mjs";
import { DEFAULTS, checkAllowed, checkInjected, show, PROBE_PATH, checkRedirectDryRun } from "./lib/mesh.mjs";

const CORPUS = resolve(REPO, "../shared/corpus/istio-inject-inputs");
const T = { timeout: 60000 };
const NS = "corpus";

// Pod templates in one parsed document: [{ where, workload, template }].
function templates(doc, where) {
	if (!doc || typeof doc !== "object")
		return [];
	const name = doc.metadata?.name ?? "unnamed";
	const at = `${where} ${doc.kind}/${name}`;
	switch (doc.kind) {
	case "List":
		return (doc.items ?? []).flatMap((it, i) => templates(it, `${where} items[${i}]`));
	case "Pod":
		return [{ where: at, workload: doc, template: { metadata: doc.metadata, spec: doc.spec } }];
	case "Deployment": case "StatefulSet": case "DaemonSet": case "ReplicaSet":
	case "ReplicationController": case "Job": case "DeploymentConfig":
		return [{ where: at, workload: doc, template: doc.spec?.template }];
	case "CronJob":
		return [{ where: at, workload: doc, template: doc.spec?.jobTemplate?.spec?.template }];
	default:
		return [];	// Services and the like: nothing to inject
	}
}

// Quantities reach a webhook as strings (the apiserver re-serializes them).
function normalizeQuantities(spec) {
	for (const list of ["containers", "initContainers"])
		for (const c of spec?.[list] ?? [])
			for (const kind of ["requests", "limits"])
				for (const [k, v] of Object.entries(c?.resources?.[kind] ?? {}))
					if (typeof v === "number")
						c.resources[kind][k] = String(v);
}

// The Pod the apiserver would see for a template.
function podOf({ workload, template }) {
	const meta = deepClone(template?.metadata ?? {}) ?? {};
	const pod = { apiVersion: "v1", kind: "Pod", metadata: meta, spec: deepClone(template?.spec ?? {}) };
	if (workload.kind !== "Pod") {
		delete meta.name;
		meta.generateName = `${workload.metadata?.name ?? "pod"}-`;
		meta.ownerReferences = [{ apiVersion: workload.apiVersion ?? "apps/v1", kind: workload.kind,
			name: workload.metadata?.name ?? "pod", uid: "00000000-0000-4000-8000-000000000000", controller: true, blockOwnerDeletion: true }];
	}
	delete meta.namespace;
	if (meta.creationTimestamp === null)
		delete meta.creationTimestamp;
	normalizeQuantities(pod.spec);
	// The apiserver defaults a volume without a source to an emptyDir
	// (SetDefaults_Volume) before admission.
	for (const v of pod.spec.volumes ?? [])
		if (v && typeof v === "object" && Object.keys(v).every((k) => k === "name"))
			v.emptyDir = {};
	return pod;
}

// The errors, with init container indexes blurred (mesh-init shifts them).
const blur = (errs) => new Set(errs.map((e) => e.replace(/initContainers([/[])\d+/g, "initContainers$1*")));

// Would the design's checks refuse this pod? (a port the proxy owns, or the
// proxy UID, DESIGN.md "Checks")
function refusable(pod) {
	const owned = new Set([15000, 15001, 15006, 15020, 15021, 15090]);
	const all = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
	return all.some((c) => (c.ports ?? []).some((p) => owned.has(p.containerPort)) ||
	    (c.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser) === DEFAULTS.uid);
}

// The corpus lives in ../shared beside the repository and is not copied
// into it: without it there are no corpus cases, and one line says so.
const files = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => /\.ya?ml$/.test(f)).sort() : null;
if (files === null)
	console.log(`corpus: ${CORPUS} is absent (no ../shared beside the repository): no Istio corpus cases`);

if (files !== null) describe("Istio injection corpus", () => {
	let srv;
	const report = { invalidOriginals: [], skipped: [], denied: [], unparseable: [], injected: 0 };
	before(async () => { srv = await Server.start(); }, { timeout: 20000 });
	after(async () => {
		if (!srv)
			return;
		const r = await srv.stop();
		console.log(`# corpus: ${report.injected} injections checked; skipped ${show(report.skipped)}; denied ${show(report.denied)}; ` +
		    `not valid Pods before injection: ${show(report.invalidOriginals)}; unparseable: ${show(report.unparseable)}`);
		assert.ok(r.code === 0 && !r.signal, `clean exit on SIGTERM: ${JSON.stringify(r)}\n${srv.describe()}`);
	});

	test("the corpus is there", () => {
		assert.ok(files.length >= 90, `expected the corpus at ${CORPUS} (shared/ beside the repo), found ${files.length} files`);
	});

	for (const file of files) {
		test(file, T, async (t) => {
			const docs = YAML.parseAllDocuments(readFileSync(join(CORPUS, file), "utf8"));
			const tpls = [];
			docs.forEach((d, i) => {
				if (d.errors.length) {
					report.unparseable.push(`${file}#${i}: ${d.errors[0].message}`);
					t.diagnostic(`document ${i} does not parse: ${d.errors.map((e) => e.message).join("; ")}`);
					return;
				}
				tpls.push(...templates(d.toJS(), `${file}#${i}`));
			});
			if (tpls.length === 0) {
				t.diagnostic("no pod templates in this file");
				return;
			}
			for (const tpl of tpls) {
				const pod = podOf(tpl);
				const before = podErrors(pod, { all: true });
				if (before.length) {
					report.invalidOriginals.push(tpl.where);
					t.diagnostic(`${tpl.where} is not a valid Pod before injection:\n  ${before.join("\n  ")}`);
				}
				for (const stage of ["traffic", "mtls"]) {
					const path = `/mutate/${stage}`;
					const review = makeReview(pod, { namespace: NS });
					const what = `${tpl.where} POST ${path}`;
					const res = await srv.post(path, review);
					assert.equal(res.status, 200, `${what}: HTTP ${res.status} ${show(res.body, 500)}`);
					const r = res.json?.response;
					if (r?.allowed === false) {
						report.denied.push(`${tpl.where} ${stage}`);
						assert.ok(refusable(pod), `${what}: refused, but it has no port the proxy owns and does not run as the proxy UID: ${show(r)}`);
						assert.equal(r.status?.code, 403, `${what}: a refusal by the checks is 403: ${show(r)}`);
						assert.equal(r.status?.reason, "Forbidden", `${what}: ${show(r)}`);
						assert.ok(typeof r.status?.message === "string" && r.status.message.length > 0, `${what}: a refusal says why: ${show(r)}`);
						assert.equal(r.uid, review.request.uid);
						assert.equal(r.patch ?? undefined, undefined, `${what}: a refusal carries no patch`);
						continue;
					}
					const ops = checkAllowed(review, res, { what });
					if (ops === null) {
						report.skipped.push(`${tpl.where} ${stage}`);
						assert.equal(pod.spec?.hostNetwork, true, `${what}: no patch, but the pod is not one the contract skips (hostNetwork): ${show(r)}`);
						assert.ok((r.warnings ?? []).length > 0, `${what}: a hostNetwork skip comes with a warning: ${show(r)}`);
						continue;
					}
					let patched;
					try {
						patched = applyAddPatch(pod, ops, stage === "mtls" ? { mayReplace: PROBE_PATH } : {});
					} catch (e) {
						assert.fail(`${what}: ${e.message}\npatch: ${show(ops, 3000)}`);
					}
					const was = blur(before);
					const added = podErrors(patched, { all: true }).filter((e) => !was.has([...blur([e])][0]));
					assert.deepEqual(added, [], `${what}: the patched pod has errors the original did not\npatch: ${show(ops, 3000)}`);
					const again = makeReview(patched, { namespace: NS });
					checkAllowed(again, await srv.post(path, again), { expectPatch: false, what: `${what} (reinvocation)` });
					const got = checkInjected(pod, patched, { stage, ns: NS, ops });
					checkRedirectDryRun(BIN, got.init, DEFAULTS, `\n${what}`);
					report.injected++;
				}
			}
		});
	}
});
