// workloads.test.mjs - on the real control plane (etcd, kube-apiserver,
// kube-controller-manager), with the chart installed by helm and the webhook
// reached through the chart's own registrations: workloads of every kind
// created with kubectl, and every pod the controllers make comes out
// injected, refused with meshinject's message (a FailedCreate event on the
// owner), or skipped for the reason meshinject gives. Then reinvocation with
// a second mutating webhook that changes every pod after meshinject, and
// `meshinject report` on the cluster's own pods and namespaces.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureTools, startCluster, installChart, timing, run, requireMeshinject } from "./lib/cluster.mjs";
import { STAGE_VALUES, workload, classify, meshOf, startSecondWebhook, SECOND_LABEL, SECOND_ENV, canaryExpect, rolloutBucket, CANARY_PERCENT } from "./lib/fixtures.mjs";

let c, rel;
const phase = { t: 0 };

before(async () => {
	requireMeshinject();
	const tools = await ensureTools();
	timing("tools check (build.sh kubernetes etcd helm)", tools.ms);
	let t = Date.now();
	c = await startCluster({ name: "workloads" });
	timing("control plane start (workloads)", Date.now() - t);
	t = Date.now();
	rel = await installChart(c, { values: STAGE_VALUES });
	timing("helm install + webhook + Service swap (workloads)", Date.now() - t);
	phase.t = Date.now();
});

after(async () => {
	await c?.stop();
});

// The plan: namespace -> stage label, and the workloads in it with what
// must become of their pods.
//   pods: how many pods the controllers make (0 when refused)
//   expect: "injected:<stage>" | "observed" | "untouched" |
//           { skipped: RegExp } | { refused: RegExp }
const NAMESPACES = {
	"wl-traffic": "traffic",
	"wl-mtls": "mtls",
	"wl-observe": "observe",
	"wl-cni": "traffic-cni",
	"wl-locked": "locked",
	"wl-plain": null,
	"wl-canary": "canary",
};
const PLAN = [
	{ ns: "wl-traffic", kind: "Deployment", name: "web", replicas: 2, pods: 2, expect: "injected:traffic" },
	{ ns: "wl-traffic", kind: "StatefulSet", name: "db", replicas: 2, pods: 2, expect: "injected:traffic" },
	{ ns: "wl-traffic", kind: "DaemonSet", name: "agent", pods: 1, expect: "injected:traffic" },
	{ ns: "wl-traffic", kind: "ReplicaSet", name: "bare-rs", replicas: 2, pods: 2, expect: "injected:traffic" },
	{ ns: "wl-traffic", kind: "ReplicationController", name: "legacy-rc", replicas: 1, pods: 1, expect: "injected:traffic" },
	{ ns: "wl-traffic", kind: "Job", name: "batch", replicas: 1, pods: 1, expect: "injected:traffic" },
	{ ns: "wl-traffic", kind: "CronJob", name: "nightly", pods: 1, expect: "injected:traffic", fromCron: "nightly-manual" },
	{ ns: "wl-traffic", kind: "Pod", name: "single", pods: 1, expect: "injected:traffic" },
	// An app container on a port the proxy owns: a mesh bypass, refused.
	{ ns: "wl-traffic", kind: "Deployment", name: "bypass", replicas: 1, ports: [15001], pods: 0,
		expect: { refused: /15001/ } },
	{ ns: "wl-traffic", kind: "DaemonSet", name: "hostnet", hostNetwork: true, pods: 1,
		expect: { skipped: /hostNetwork/ } },
	{ ns: "wl-traffic", kind: "Deployment", name: "optout", replicas: 1, pods: 1,
		annotations: { "meshinject.io/inject": "false" }, expect: { skipped: /opted out/ } },
	{ ns: "wl-mtls", kind: "Deployment", name: "api", replicas: 2, pods: 2, expect: "injected:mtls" },
	{ ns: "wl-mtls", kind: "StatefulSet", name: "cache", replicas: 1, pods: 1, expect: "injected:mtls" },
	{ ns: "wl-observe", kind: "Deployment", name: "watch", replicas: 2, pods: 2, expect: "observed" },
	{ ns: "wl-observe", kind: "Job", name: "watch-job", replicas: 1, pods: 1, expect: "observed" },
	{ ns: "wl-cni", kind: "Deployment", name: "cni-web", replicas: 1, pods: 1, expect: "injected:traffic-cni" },
	{ ns: "wl-cni", kind: "DaemonSet", name: "cni-agent", pods: 1, expect: "injected:traffic-cni" },
	{ ns: "wl-locked", kind: "Deployment", name: "locked-web", replicas: 1, pods: 1, expect: "injected:locked" },
	{ ns: "wl-locked", kind: "ReplicaSet", name: "escape", replicas: 1, pods: 0,
		annotations: { "meshinject.io/inject": "false" }, expect: { refused: /inject|opt/i } },
	{ ns: "wl-locked", kind: "Job", name: "downgrade", replicas: 1, pods: 0,
		annotations: { "meshinject.io/stage": "traffic" }, expect: { refused: /traffic|weaker|stage/i } },
	// No namespace label: only pods labelled meshinject.io/stage are sent.
	{ ns: "wl-plain", kind: "Deployment", name: "plain", replicas: 1, pods: 1, expect: "untouched" },
	{ ns: "wl-plain", kind: "Pod", name: "asks", labels: { "meshinject.io/stage": "traffic" }, pods: 1, expect: "injected:traffic" },
	{ ns: "wl-plain", kind: "Deployment", name: "asks-mtls", replicas: 1, labels: { "meshinject.io/stage": "mtls" }, pods: 1, expect: "injected:mtls" },
	// Half the workloads at canary, the rest at its fallback observe, by the
	// bucket of the workload each controller's pod belongs to (computed
	// here, see fixtures.mjs): every replica of one workload the same way.
	...[["Deployment", "dep-a", 2], ["Deployment", "dep-b", 2], ["Deployment", "dep-c", 1],
		["StatefulSet", "sts-a", 2], ["StatefulSet", "sts-b", 1], ["DaemonSet", "ds-a", 1], ["DaemonSet", "ds-b", 1],
		["Job", "job-a", 1], ["Job", "job-b", 1], ["ReplicaSet", "rs-a", 2], ["ReplicaSet", "rs-b", 1],
		["ReplicationController", "rc-a", 1], ["Pod", "pod-a", 1], ["Pod", "pod-b", 1]]
		.map(([kind, name, n]) => ({ ns: "wl-canary", kind, name, replicas: n, pods: n, rollout: { kind, name },
			expect: canaryExpect("wl-canary", kind, name) })),
	// A Job named as the CronJob controller names its runs counts as the
	// CronJob.
	{ ns: "wl-canary", kind: "CronJob", name: "cron-a", pods: 1, fromCron: "cron-a-29012345",
		rollout: { kind: "CronJob", name: "cron-a" }, expect: canaryExpect("wl-canary", "CronJob", "cron-a") },
];

async function podsOf(ns, name) {
	return (await c.kubectlJson(["get", "pods", "-n", ns, "-l", `wl=${name}`])).items;
}

// The webhook entry that serves a namespace: <stage>.meshinject.io, or
// pod-label.meshinject.io in an unlabelled one.
function hookFor(ns) {
	return NAMESPACES[ns] ? `${NAMESPACES[ns]}.meshinject.io` : "pod-label.meshinject.io";
}

// The audit event of a pod's creation (it carries the webhooks' audit
// annotations).
function auditOf(pod) {
	return c.auditOf(pod);
}

describe("workloads of every kind through the real control plane", () => {
	test("the canary plan has workloads on both sides of the rollout", () => {
		const sides = new Set(PLAN.filter((w) => w.ns === "wl-canary").map((w) => w.expect));
		assert.deepEqual([...sides].sort(), ["injected:canary", "observed"]);
	});

	test("create every workload with kubectl", async () => {
		for (const [ns, stage] of Object.entries(NAMESPACES))
			await c.createNamespace(ns, stage ? { "meshinject.io/stage": stage } : {});
		const objs = PLAN.map((w) => workload(w.kind, w.ns, w.name, w));
		const r = await c.create(objs);
		assert.equal(r.code, 0);
		for (const w of PLAN.filter((x) => x.fromCron))
			await c.kubectl(["create", "job", w.fromCron, `--from=cronjob/${w.name}`, "-n", w.ns]);
	});

	for (const w of PLAN) {
		const what = typeof w.expect === "string" ? w.expect : Object.keys(w.expect)[0];
		test(`${w.ns} ${w.kind}/${w.name}: ${what}`, c_guard(async () => {
			if (w.pods > 0) {
				const pods = await c.waitFor(`${w.pods} pod(s) of ${w.kind}/${w.name} in ${w.ns}`, async () => {
					const p = await podsOf(w.ns, w.name);
					return p.length >= w.pods ? p : null;
				}, { timeoutMs: 45000, intervalMs: 300 });
				assert.equal(pods.length, w.pods, `pods of ${w.kind}/${w.name}`);
				for (const pod of pods) {
					const got = classify(pod);
					const audits = auditOf(pod);
					assert.equal(audits.length, 1, `one audited creation of ${pod.metadata.name}`);
					const decision = audits[0].annotations?.[`${hookFor(w.ns)}/decision`];
					if (typeof w.expect === "string") {
						assert.equal(got, w.expect, `${pod.metadata.name}: ${JSON.stringify(meshOf(pod).status)}`);
						if (w.expect.startsWith("injected:")) {
							assert.equal(decision, `injected stage=${w.expect.slice(9)}`, `audit decision of ${pod.metadata.name}`);
						} else if (w.expect === "observed") {
							assert.match(decision ?? "", /^observed/, `audit decision of ${pod.metadata.name}`);
						} else {
							// untouched: the webhook was not even asked
							assert.equal(decision, undefined);
							assert.ok(!rel.webhook.reviews().some((l) => l.namespace === w.ns && String(l.pod).startsWith(w.name)),
								`the webhook saw a review for ${w.ns}/${w.name}`);
						}
					} else {
						assert.equal(got, "untouched", `${pod.metadata.name} must be left alone (skipped)`);
						assert.match(decision ?? "", /^skipped/, `audit decision of ${pod.metadata.name}`);
						assert.match(decision, w.expect.skipped);
						const logged = rel.webhook.reviews().filter((l) => l.namespace === w.ns && String(l.pod).startsWith(w.name));
						assert.ok(logged.length >= 1 && logged.every((l) => l.decision === "skipped" && w.expect.skipped.test(l.reason)),
							`webhook log for ${w.name}: ${JSON.stringify(logged)}`);
					}
				}
				if (w.rollout) {
					const bucket = rolloutBucket(w.ns, w.rollout.kind, w.rollout.name);
					for (const pod of pods) {
						const ro = meshOf(pod).status?.rollout;
						assert.ok(ro, `${pod.metadata.name}: no rollout in the status annotation`);
						assert.equal(ro.bucket, bucket, `${pod.metadata.name}: bucket of ${w.ns}/${w.rollout.kind}/${w.rollout.name}`);
						assert.equal(ro.percent, CANARY_PERCENT);
					}
				}
				if (w.expect === "injected:mtls") {
					for (const pod of pods)
						assert.ok(meshOf(pod).meshVolumes.includes("mesh-token"), `${pod.metadata.name} has the mTLS token volume`);
				}
				if (w.expect === "injected:traffic-cni") {
					for (const pod of pods) {
						const init = meshOf(pod).init;
						assert.ok(init.securityContext?.runAsNonRoot, "cni mesh-init runs as non-root");
						assert.deepEqual(init.securityContext?.capabilities?.add ?? [], [], "cni mesh-init adds no capability");
						assert.ok(pod.metadata.annotations["meshinject.io/cni-redirect"], "cni-redirect annotation");
					}
				}
			} else {
				// Refused: the owner's controller reports FailedCreate with the
				// apiserver's message, which carries meshinject's.
				const ev = await c.waitFor(`a FailedCreate event for ${w.kind}/${w.name}`, async () => {
					const evs = await c.events(w.ns, { reason: "FailedCreate" });
					return evs.find((e) => e.involvedObject.name === w.name || e.involvedObject.name.startsWith(`${w.name}-`));
				}, { timeoutMs: 45000, intervalMs: 300 });
				assert.match(ev.message, new RegExp(`admission webhook "${hookFor(w.ns).replace(/\./g, "\\.")}" denied the request`), ev.message);
				assert.match(ev.message, w.expect.refused);
				const logged = rel.webhook.reviews().filter((l) => l.namespace === w.ns && String(l.pod).startsWith(w.name));
				assert.ok(logged.length >= 1 && logged.every((l) => l.decision === "denied"), `webhook log for ${w.name}: ${JSON.stringify(logged)}`);
				// The refusal's text in the event is the one meshinject logged.
				assert.ok(logged.some((l) => ev.message.includes(l.reason.replace(/^denied: /, ""))),
					`event message ${JSON.stringify(ev.message)} carries the webhook's reason ${JSON.stringify(logged.map((l) => l.reason))}`);
				assert.equal((await podsOf(w.ns, w.name)).length, 0, `no pod of ${w.name} was stored`);
			}
		}));
	}

	test("no pod in the labelled namespaces is unaccounted for", c_guard(async () => {
		for (const ns of Object.keys(NAMESPACES)) {
			const pods = (await c.kubectlJson(["get", "pods", "-n", ns])).items;
			const planned = PLAN.filter((w) => w.ns === ns);
			const want = planned.reduce((n, w) => n + w.pods, 0);
			assert.equal(pods.length, want, `${ns}: ${pods.map((p) => p.metadata.name).join(", ")}`);
			for (const p of pods)
				assert.ok(planned.some((w) => w.name === p.metadata.labels?.wl), `${ns}/${p.metadata.name} belongs to no planned workload`);
		}
	}));

	test("the release namespace is never sent to the webhook", c_guard(async () => {
		// The chart's own Deployment makes pods there (never run).
		const pods = await c.waitFor("pods of the meshinject Deployment", async () => {
			const p = (await c.kubectlJson(["get", "pods", "-n", rel.namespace])).items;
			return p.length >= 2 ? p : null;
		}, { timeoutMs: 30000 });
		for (const p of pods)
			assert.equal(classify(p), "untouched", p.metadata.name);
		// Even labelled for a stage, a pod there is not sent (the chart
		// excludes the release namespace from every entry).
		await c.kubectl(["label", "namespace", rel.namespace, "meshinject.io/stage=traffic"]);
		try {
			const r = await c.create(workload("Pod", rel.namespace, "own-ns", {}), { args: ["--dry-run=server", "-o", "json"] });
			assert.equal(classify(JSON.parse(r.stdout)), "untouched");
			assert.ok(!rel.webhook.reviews().some((l) => l.namespace === rel.namespace), "the webhook saw its own namespace");
		} finally {
			await c.kubectl(["label", "namespace", rel.namespace, "meshinject.io/stage-"]);
		}
	}));

	test("the webhook's own namespace is skipped by the server too (POD_NAMESPACE)", c_guard(async () => {
		// An extra registration without the chart's exclusion, for that
		// namespace only, with the chart's own Service and caBundle.
		const mwc = await c.kubectlJson(["get", "mutatingwebhookconfiguration", rel.name]);
		const traffic = mwc.webhooks.find((h) => h.name === "traffic.meshinject.io");
		const own = {
			apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration",
			metadata: { name: "e2e-own-namespace" },
			webhooks: [{ ...traffic, name: "own.e2e.meshinject.io",
				namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": rel.namespace } } }],
		};
		await c.create(own);
		try {
			await c.waitFor("the extra registration to take effect", async () => {
				const r = await c.create(workload("Pod", rel.namespace, "own-ns-2", {}), { args: ["--dry-run=server", "-o", "json"] });
				return rel.webhook.reviews().some((l) => l.namespace === rel.namespace) ? JSON.parse(r.stdout) : null;
			}, { timeoutMs: 15000, intervalMs: 500 });
			const logged = rel.webhook.reviews().filter((l) => l.namespace === rel.namespace);
			assert.ok(logged.every((l) => l.decision === "skipped" && /namespace/i.test(l.reason)), JSON.stringify(logged));
			const r = await c.create(workload("Pod", rel.namespace, "own-ns-3", {}), { args: ["--dry-run=server", "-o", "json"] });
			assert.equal(classify(JSON.parse(r.stdout)), "untouched");
		} finally {
			await c.kubectl(["delete", "mutatingwebhookconfiguration", "e2e-own-namespace"]);
		}
	}));

	test("the apiserver never failed open and logged no failed webhook call", c_guard(async () => {
		const h = await c.webhookHealth();
		assert.equal(h.failOpen, 0, "apiserver_admission_webhook_fail_open_count");
		assert.deepEqual(h.failedCalls, []);
		timing("workloads of every kind", Date.now() - phase.t);
		phase.t = Date.now();
	}));

	test("a reinvoked meshinject does not rewrite its audit annotation", c_guard(async () => {
		// kube-apiserver reinvokes meshinject (reinvocationPolicy IfNeeded)
		// after later mutations; an audit annotation may not change between
		// the calls ("admission annotations are not allowed to be
		// overwritten"): the apiserver keeps the first value and logs a
		// warning for every pod.
		const h = await c.webhookHealth();
		assert.deepEqual(h.auditConflicts.slice(0, 3), [],
			`${h.auditConflicts.length} apiserver warnings; meshinject answers a reinvocation of an injected pod ` +
			"with auditAnnotations.decision \"unchanged: already injected\" after \"injected stage=...\"");
	}));
});

describe("reinvocation with a second mutating webhook after meshinject", () => {
	let second;
	const NS = ["re-traffic", "re-mtls"];
	const STAGES = { "re-traffic": "traffic", "re-mtls": "mtls" };

	before(async () => {
		second = await startSecondWebhook(c.dir);
		await c.create(second.configuration());
		for (const ns of NS)
			await c.createNamespace(ns, { "meshinject.io/stage": STAGES[ns], "e2e.meshinject.io/second": "enabled" });
	});
	after(async () => {
		await second?.close();
	});

	test("every pod ends with one mesh-proxy and one mesh-init, changed by both webhooks", c_guard(async () => {
		const objs = [];
		for (const ns of NS) {
			objs.push(workload("Deployment", ns, "web", { replicas: 2 }));
			objs.push(workload("StatefulSet", ns, "db", { replicas: 1 }));
			objs.push(workload("Job", ns, "native", { annotations: { "meshinject.io/features": "+native-sidecar" } }));
			objs.push(workload("Pod", ns, "single", {}));
		}
		await c.create(objs);
		for (const ns of NS) {
			const pods = await c.waitFor(`5 pods in ${ns}`, async () => {
				const p = (await c.kubectlJson(["get", "pods", "-n", ns])).items;
				return p.length >= 5 ? p : null;
			}, { timeoutMs: 45000, intervalMs: 300 });
			assert.equal(pods.length, 5);
			for (const pod of pods) {
				const m = meshOf(pod);
				const name = `${ns}/${pod.metadata.name}`;
				assert.equal(classify(pod), `injected:${STAGES[ns]}`, name);
				assert.equal(m.proxies, 1, `${name}: mesh-proxy count`);
				assert.equal(m.inits, 1, `${name}: mesh-init count`);
				assert.equal(pod.metadata.labels[SECOND_LABEL], "seen", `${name}: the second webhook's label`);
				for (const ctr of pod.spec.containers)
					assert.equal(ctr.env.filter((e) => e.name === SECOND_ENV).length, 1, `${name}: ${ctr.name} has the second webhook's env once`);
				if (pod.metadata.labels.wl === "native")
					assert.ok(m.nativeProxy, `${name}: native-sidecar mesh-proxy`);
				// The apiserver ran meshinject, then the second webhook, then
				// meshinject again (round 1), which changed nothing.
				const [ev] = auditOf(pod);
				const rounds = Object.entries(ev.annotations).filter(([k]) => k.startsWith("mutation.webhook.admission.k8s.io/"))
					.map(([k, v]) => ({ round: Number(/round_(\d+)/.exec(k)[1]), index: Number(/index_(\d+)/.exec(k)[1]), ...JSON.parse(v) }))
					.sort((a, b) => a.round - b.round || a.index - b.index);
				const mesh0 = rounds.find((r) => r.round === 0 && r.configuration === rel.name);
				const sec0 = rounds.find((r) => r.round === 0 && r.configuration === "zz-e2e-second");
				const mesh1 = rounds.find((r) => r.round === 1 && r.configuration === rel.name);
				assert.ok(mesh0?.mutated && sec0?.mutated && mesh0.index < sec0.index, `${name}: ${JSON.stringify(rounds)}`);
				assert.ok(mesh1 && mesh1.mutated === false, `${name}: meshinject reinvoked without a change: ${JSON.stringify(rounds)}`);
			}
		}
		// The second webhook saw each pod after meshinject had injected it.
		const seen = second.calls.filter((x) => NS.includes(x.namespace));
		assert.ok(seen.length >= 10, `second webhook calls: ${seen.length}`);
		assert.ok(seen.every((x) => x.hadProxy), "the second webhook ran before meshinject on some pod");
		const h = await c.webhookHealth();
		assert.equal(h.failOpen, 0);
		assert.deepEqual(h.failedCalls, []);
		timing("reinvocation", Date.now() - phase.t);
		phase.t = Date.now();
	}));
});

describe("meshinject report on the cluster's own pods and namespaces", () => {
	async function report(args = []) {
		const pods = join(c.dir, "pods.json"), nss = join(c.dir, "namespaces.json"), cfg = join(c.dir, "report-config.yaml");
		writeFileSync(pods, (await c.kubectl(["get", "pods", "-A", "-o", "json"])).stdout);
		writeFileSync(nss, (await c.kubectl(["get", "namespaces", "-o", "json"])).stdout);
		writeFileSync(cfg, await rel.readConfig());
		const r = await run(requireMeshinject(), ["report", "--pods", pods, "--namespaces", nss, "--config", cfg, ...args]);
		return r.stdout;
	}

	test("counts per stage match what was created", c_guard(async () => {
		const doc = JSON.parse(await report(["-o", "json"]));
		assert.equal(doc.kind, "RolloutReport");
		const byName = Object.fromEntries(doc.namespaces.map((n) => [n.name, n]));
		for (const [ns, stage] of Object.entries(NAMESPACES)) {
			const n = byName[ns];
			assert.ok(n, `namespace ${ns} in the report`);
			assert.equal(n.stage ?? null, stage, `${ns}: stage`);
			// What the plan says each namespace holds, per injected stage.
			const want = {};
			for (const w of PLAN.filter((x) => x.ns === ns && x.pods > 0)) {
				const s = typeof w.expect === "string" && w.expect.startsWith("injected:") ? w.expect.slice(9)
					: w.expect === "observed" ? "observe" : "none";
				want[s] = (want[s] ?? 0) + w.pods;
			}
			const got = Object.fromEntries(Object.entries(n.byStage).filter(([, v]) => v > 0));
			assert.deepEqual(got, want, `${ns}: byStage`);
			assert.equal(n.pods, Object.values(want).reduce((a, b) => a + b, 0), `${ns}: pods`);
			assert.equal(n.behind, 0, `${ns}: behind`);
		}
		for (const ns of ["re-traffic", "re-mtls"])
			assert.equal(byName[ns].byStage[ns === "re-traffic" ? "traffic" : "mtls"], 5, `${ns}: byStage`);
	}));

	test("a relabelled namespace shows its pods behind and the restart that converges it", c_guard(async () => {
		await c.kubectl(["label", "namespace", "wl-observe", "meshinject.io/stage=traffic", "--overwrite"]);
		const doc = JSON.parse(await report(["-o", "json"]));
		const n = doc.namespaces.find((x) => x.name === "wl-observe");
		assert.equal(n.stage, "traffic");
		assert.equal(n.behind, 3, JSON.stringify(n));
		const dep = n.restarts.find((r) => r.workload === "deployment/watch");
		assert.ok(dep, JSON.stringify(n.restarts));
		assert.equal(dep.pods, 2);
		assert.equal(dep.command, "kubectl -n wl-observe rollout restart deployment/watch");
		const job = n.restarts.find((r) => r.workload === "job/watch-job");
		assert.ok(job && job.command === null && job.note, `a Job cannot be restarted by a command: ${JSON.stringify(n.restarts)}`);
		const text = await report();
		assert.match(text, /kubectl -n wl-observe rollout restart deployment\/watch/);
		assert.match(text, /wl-observe/);
		timing("report", Date.now() - phase.t);
	}));
});

// Log tails appended to a failing test's message.
function c_guard(fn) {
	return async (...args) => {
		try {
			return await fn(...args);
		} catch (e) {
			e.message += c ? `\n${c.logTails(30)}` : "";
			throw e;
		}
	};
}
