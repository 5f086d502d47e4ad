// admission.test.mjs - what kubectl users see from the real kube-apiserver
// with meshinject installed by the chart: observe's warnings in kubectl's
// own output, enforced stages refusing opt-outs, Pod Security admission on
// the injected pod (restricted with cni, baseline against mesh-init), the
// native sidecar through the real validation, server-side dry run, and the
// failure policies with the webhook stopped (enforced fails closed, the
// others fail open).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { ensureTools, startCluster, installChart, timing, requireMeshinject, metricSum } from "./lib/cluster.mjs";
import { STAGE_VALUES, workload, classify, meshOf, restrictedPod } from "./lib/fixtures.mjs";
import YAML from "yaml";

let c, rel;
let t = Date.now();

before(async () => {
	requireMeshinject();
	const tools = await ensureTools();
	timing("tools check (build.sh kubernetes etcd helm)", tools.ms);
	t = Date.now();
	c = await startCluster({ name: "admission" });
	timing("control plane start (admission)", Date.now() - t);
	t = Date.now();
	rel = await installChart(c, { values: STAGE_VALUES });
	timing("helm install + webhook + Service swap (admission)", Date.now() - t);
	await c.createNamespace("a-observe", { "meshinject.io/stage": "observe" });
	await c.createNamespace("a-traffic", { "meshinject.io/stage": "traffic" });
	await c.createNamespace("a-locked", { "meshinject.io/stage": "locked" });
	await c.createNamespace("a-restricted", { "meshinject.io/stage": "traffic-cni",
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" });
	await c.createNamespace("a-baseline", { "meshinject.io/stage": "traffic",
		"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "latest" });
	t = Date.now();
});

after(async () => {
	await c?.stop();
});

function guard(fn) {
	return async (...a) => {
		try {
			return await fn(...a);
		} catch (e) {
			e.message += c ? `\n${c.logTails(30)}` : "";
			throw e;
		}
	};
}

async function getPod(ns, name) {
	return c.kubectlJson(["get", "pod", name, "-n", ns]);
}

describe("observe", () => {
	test("the warnings appear in kubectl's own output, the pod is only annotated", guard(async (tc) => {
		const pod = workload("Pod", "a-observe", "noisy", { ports: [15001] });
		const r = await c.create(pod);
		const warnings = r.stderr.split("\n").filter((l) => l.startsWith("Warning: "));
		assert.ok(warnings.some((l) => /meshinject/.test(l) && /15001/.test(l)),
			`kubectl printed no meshinject warning about port 15001:\n${r.stderr}`);
		for (const w of warnings)
			assert.ok(w.length < 400, `warning too long: ${w}`);
		tc.diagnostic(`kubectl: ${warnings.join(" | ")}`);
		const stored = await getPod("a-observe", "noisy");
		assert.equal(classify(stored), "observed");
		assert.ok(meshOf(stored).status.wouldInject, "status records what the next stage would inject");
	}));
});

describe("an enforced stage", () => {
	test("refuses the opt-out with meshinject's message", guard(async () => {
		const pod = workload("Pod", "a-locked", "optout", { annotations: { "meshinject.io/inject": "false" } });
		const r = await c.create(pod, { allowFail: true });
		assert.notEqual(r.code, 0, "the opt-out was admitted in an enforced namespace");
		assert.match(r.stderr, /admission webhook "locked\.meshinject\.io" denied the request: meshinject: annotation meshinject\.io\/inject: "false" is not allowed/);
		assert.equal((await c.kubectl(["get", "pod", "optout", "-n", "a-locked"], { allowFail: true })).code, 1);
	}));

	test("refuses a weaker stage and admits a stronger one", guard(async () => {
		const weak = await c.create(workload("Pod", "a-locked", "weak", { annotations: { "meshinject.io/stage": "traffic" } }), { allowFail: true });
		assert.notEqual(weak.code, 0);
		assert.match(weak.stderr, /denied the request: meshinject: .*traffic/);
		await c.create(workload("Pod", "a-locked", "strong", { annotations: { "meshinject.io/stage": "mtls" } }));
		assert.equal(classify(await getPod("a-locked", "strong")), "injected:mtls");
		await c.create(workload("Pod", "a-locked", "plain", {}));
		assert.equal(classify(await getPod("a-locked", "plain")), "injected:locked");
	}));
});

describe("Pod Security admission on the injected pod", () => {
	test("a cni stage's pod passes restricted", guard(async () => {
		const r = await c.create(restrictedPod("a-restricted", "tight"));
		assert.doesNotMatch(r.stderr, /Warning: .*violate/i, r.stderr);
		const pod = await getPod("a-restricted", "tight");
		assert.equal(classify(pod), "injected:traffic-cni");
		const init = meshOf(pod).init;
		assert.deepEqual(init.securityContext.capabilities?.add ?? [], []);
		// The namespace's pods are all restricted-clean: a server-side dry run
		// of the label reports any pod that is not.
		const dry = await c.kubectl(["label", "namespace", "a-restricted", "--dry-run=server", "--overwrite",
			"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted"]);
		assert.doesNotMatch(dry.stderr, /violate/i, dry.stderr);
	}));

	test("the traffic stage in a baseline namespace is refused, naming mesh-init", guard(async (tc) => {
		const r = await c.create(restrictedPod("a-baseline", "caps"), { allowFail: true });
		assert.notEqual(r.code, 0, "baseline admitted mesh-init's NET_ADMIN");
		assert.match(r.stderr, /violates PodSecurity "baseline:latest"/);
		assert.match(r.stderr, /mesh-init/);
		assert.match(r.stderr, /NET_ADMIN/);
		tc.diagnostic(`kubectl: ${r.stderr.trim()}`);
	}));

	test("a Deployment there: the ReplicaSet's FailedCreate names mesh-init", guard(async () => {
		await c.create(workload("Deployment", "a-baseline", "dep", { replicas: 1 }));
		const ev = await c.waitFor("FailedCreate in a-baseline", async () =>
			(await c.events("a-baseline", { reason: "FailedCreate" })).find((e) => e.involvedObject.name.startsWith("dep-")),
		{ timeoutMs: 30000, intervalMs: 300 });
		assert.match(ev.message, /PodSecurity "baseline:latest"/);
		assert.match(ev.message, /mesh-init/);
	}));
});

describe("native sidecar and server-side dry run", () => {
	test("a Job with native-sidecar is accepted by the real validation", guard(async () => {
		await c.create(workload("Job", "a-traffic", "native", { annotations: { "meshinject.io/features": "+native-sidecar" } }));
		const [pod] = await c.waitFor("the Job's pod", async () => {
			const p = (await c.kubectlJson(["get", "pods", "-n", "a-traffic", "-l", "wl=native"])).items;
			return p.length ? p : null;
		}, { timeoutMs: 30000, intervalMs: 300 });
		const m = meshOf(pod);
		assert.equal(classify(pod), "injected:traffic");
		assert.ok(m.nativeProxy, "mesh-proxy is an init container with restartPolicy Always");
		const inits = pod.spec.initContainers.map((x) => x.name);
		assert.deepEqual(inits.slice(0, 2), ["mesh-init", "mesh-proxy"]);
		assert.ok(!pod.spec.containers.some((x) => x.name === "mesh-proxy"));
		const failed = await c.events("a-traffic", { name: "native", reason: "FailedCreate" });
		assert.deepEqual(failed, []);
	}));

	test("kubectl create --dry-run=server -o yaml shows the injected pod and stores nothing", guard(async () => {
		const pod = workload("Pod", "a-traffic", "preview", {});
		const r = await c.kubectl(["create", "--dry-run=server", "-o", "yaml", "-f", "-"], { input: JSON.stringify(pod) });
		const shown = YAML.parse(r.stdout);
		assert.equal(classify(shown), "injected:traffic");
		assert.equal(shown.spec.initContainers[0].name, "mesh-init");
		assert.ok(shown.spec.containers.some((x) => x.name === "mesh-proxy"));
		assert.equal((await c.kubectl(["get", "pod", "preview", "-n", "a-traffic"], { allowFail: true })).code, 1, "a dry run stored the pod");
	}));

	test("so far no webhook call failed or failed open", guard(async () => {
		const h = await c.webhookHealth();
		assert.equal(h.failOpen, 0);
		assert.deepEqual(h.failedCalls, []);
		timing("admission checks (observe, enforce, Pod Security, native sidecar, dry run)", Date.now() - t);
		t = Date.now();
	}));
});

describe("with the webhook stopped", () => {
	before(async () => {
		await rel.webhook.stop();
	});

	test("a pod in the enforced namespace is refused (fail closed)", guard(async (tc) => {
		const r = await c.create(workload("Pod", "a-locked", "unmeshed", {}), { allowFail: true });
		assert.notEqual(r.code, 0, `a pod escaped the enforced stage while the webhook was down:\n${r.stdout}`);
		// Refused by the validating entry (failurePolicy Fail: "failed calling
		// webhook") or by the stage's ValidatingAdmissionPolicy.
		assert.match(r.stderr, /(locked\.enforce\.meshinject\.io|ValidatingAdmissionPolicy '[^']*meshinject[^']*')/, r.stderr);
		tc.diagnostic(`kubectl: ${r.stderr.trim()}`);
		assert.equal((await c.kubectl(["get", "pod", "unmeshed", "-n", "a-locked"], { allowFail: true })).code, 1);
	}));

	test("a pod in a traffic namespace is created without the mesh (fail open)", guard(async () => {
		const sel = { name: "traffic.meshinject.io" };
		const before = metricSum(await c.apiserverMetrics(), "apiserver_admission_webhook_fail_open_count", sel);
		const r = await c.create(workload("Pod", "a-traffic", "open", {}));
		assert.equal(r.code, 0);
		assert.equal(classify(await getPod("a-traffic", "open")), "untouched");
		const after = metricSum(await c.apiserverMetrics(), "apiserver_admission_webhook_fail_open_count", sel);
		assert.ok(after >= before + 1, `fail-open count ${before} -> ${after}`);
		assert.ok(c.apiserverLog().split("\n").some((l) => /failed calling webhook.*traffic\.meshinject\.io/i.test(l)),
			"the apiserver logged no failed call");
	}));

	test("started again, the webhook injects at once", guard(async () => {
		await rel.webhook.start();
		await c.create(workload("Pod", "a-traffic", "back", {}));
		assert.equal(classify(await getPod("a-traffic", "back")), "injected:traffic");
		timing("webhook stopped: fail closed / fail open / restart", Date.now() - t);
	}));
});
