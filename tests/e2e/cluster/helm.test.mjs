// helm.test.mjs - the chart with the real helm (v4) against the real
// kube-apiserver: lint, install with every kind of stage, each webhook
// entry reached through its service reference and caBundle, an upgrade that
// keeps the generated CA and certificate (the chart's `lookup`, which
// `helm template` cannot exercise), and an uninstall that leaves pods alone.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureTools, startCluster, installChart, timing, run, requireMeshinject, CHART, TOOLS_BIN } from "./lib/cluster.mjs";
import { STAGE_VALUES, workload, classify, meshOf, canaryExpect } from "./lib/fixtures.mjs";

let c, rel;
let t = Date.now();

before(async () => {
	requireMeshinject();
	const tools = await ensureTools();
	timing("tools check (build.sh kubernetes etcd helm)", tools.ms);
	t = Date.now();
	c = await startCluster({ name: "helm" });
	timing("control plane start (helm)", Date.now() - t);
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

// The stages that get a mutating entry: every stage but "off".
const STAGES = ["canary", "locked", "mtls", "observe", "traffic", "traffic-cni"];

function helmBin(args, opts = {}) {
	return run(join(TOOLS_BIN, "helm"), args, { allowFail: true, ...opts, env: c?.env });
}

describe("helm lint --strict", () => {
	test("the chart passes with its defaults and with every kind of stage", guard(async () => {
		const f = join(c.dir, "lint-values.json");
		writeFileSync(f, JSON.stringify(STAGE_VALUES));
		for (const args of [[], ["-f", f]]) {
			const r = await helmBin(["lint", "--strict", CHART, ...args]);
			assert.equal(r.code, 0, `helm lint --strict ${args.join(" ")}:\n${r.stdout}${r.stderr}`);
			assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
		}
	}));

	test("and fails on values its schema refuses, naming them", guard(async () => {
		const f = join(c.dir, "lint-bad.json");
		writeFileSync(f, JSON.stringify({ config: { stages: { Bad_Stage: { features: ["proxy"] } } } }));
		const r = await helmBin(["lint", "--strict", CHART, "-f", f]);
		assert.notEqual(r.code, 0, "helm lint accepted a stage name that is not a DNS label");
		assert.match(r.stdout + r.stderr, /Bad_Stage/);
	}));
});

describe("helm install with every kind of stage", () => {
	test("install: the release, its Secret and the webhook registrations", guard(async () => {
		t = Date.now();
		rel = await installChart(c, { values: STAGE_VALUES });
		timing("helm install + webhook + Service swap (helm)", Date.now() - t);
		assert.match(rel.install.stdout, /STATUS: deployed/);
		const st = await c.helm(["status", rel.name, "-n", rel.namespace, "-o", "json"]);
		assert.equal(JSON.parse(st.stdout).info.status, "deployed");

		const mwc = await c.kubectlJson(["get", "mutatingwebhookconfiguration", rel.name]);
		const names = mwc.webhooks.map((h) => h.name).sort();
		assert.deepEqual(names, [...STAGES.map((s) => `${s}.meshinject.io`), "pod-label.meshinject.io"].sort());
		for (const h of mwc.webhooks) {
			const svc = h.clientConfig.service;
			assert.equal(svc.name, rel.serviceName);
			assert.equal(svc.namespace, rel.namespace);
			assert.equal(svc.port, rel.port);
			assert.equal(svc.path, h.name === "pod-label.meshinject.io" ? "/mutate" : `/mutate/${h.name.replace(/\.meshinject\.io$/, "")}`);
			assert.equal(h.reinvocationPolicy, "IfNeeded");
			assert.equal(h.failurePolicy, "Ignore");
			assert.ok(h.clientConfig.caBundle, `${h.name} has a caBundle`);
			const excluded = h.namespaceSelector.matchExpressions.find((e) => e.key === "kubernetes.io/metadata.name");
			assert.ok(excluded.operator === "NotIn" && excluded.values.includes(rel.namespace), `${h.name} excludes the release namespace`);
		}

		// The caBundle the apiserver holds verifies the Secret's certificate
		// for the name it dials: <service>.<namespace>.svc.
		const secret = await rel.readSecret();
		const ca = Buffer.from(mwc.webhooks[0].clientConfig.caBundle, "base64").toString("utf8");
		assert.equal(ca, secret.ca, "caBundle is the Secret's ca.crt");
		writeFileSync(join(c.dir, "bundle.pem"), ca);
		writeFileSync(join(c.dir, "serving.pem"), secret.crt);
		const v = execFileSync("openssl", ["verify", "-CAfile", join(c.dir, "bundle.pem"),
			"-verify_hostname", `${rel.serviceName}.${rel.namespace}.svc`, join(c.dir, "serving.pem")], { encoding: "utf8" });
		assert.match(v, /OK/);

		// The enforced stage is checked after every mutation: by a
		// ValidatingAdmissionPolicy or a validating webhook entry.
		const vwc = await c.kubectl(["get", "validatingwebhookconfiguration", rel.name, "-o", "json"], { allowFail: true });
		const vaps = await c.kubectlJson(["get", "validatingadmissionpolicies"]);
		const byWebhook = vwc.code === 0 && JSON.parse(vwc.stdout).webhooks.some((h) => h.name === "locked.enforce.meshinject.io");
		const byPolicy = vaps.items.some((p) => p.metadata.name.includes("locked"));
		assert.ok(byWebhook || byPolicy, "no validating entry or policy for the enforced stage locked");
	}));

	test("every stage's entry reaches the webhook through the Service and caBundle", guard(async () => {
		const want = { traffic: "injected:traffic", mtls: "injected:mtls", "traffic-cni": "injected:traffic-cni",
			locked: "injected:locked", observe: "observed", canary: canaryExpect("h-canary", "Pod", "probe") };
		for (const stage of STAGES) {
			const ns = `h-${stage}`;
			await c.createNamespace(ns, { "meshinject.io/stage": stage });
			const r = await c.create(workload("Pod", ns, "probe", {}), { args: ["--dry-run=server", "-o", "json"] });
			const pod = JSON.parse(r.stdout);
			assert.equal(classify(pod), want[stage], `${stage}: ${JSON.stringify(meshOf(pod).status)}`);
		}
		// The pod-label entry in an unlabelled namespace.
		await c.createNamespace("h-plain");
		const r = await c.create(workload("Pod", "h-plain", "asks", { labels: { "meshinject.io/stage": "mtls" } }), { args: ["--dry-run=server", "-o", "json"] });
		assert.equal(classify(JSON.parse(r.stdout)), "injected:mtls");
		const paths = new Set(rel.webhook.reviews().map((l) => l.path));
		for (const p of [...STAGES.map((s) => `/mutate/${s}`), "/mutate"])
			assert.ok(paths.has(p), `the webhook was called on ${p}: ${[...paths].join(", ")}`);
		const h = await c.webhookHealth();
		assert.equal(h.failOpen, 0);
		assert.deepEqual(h.failedCalls, []);
	}));
});

describe("helm upgrade", () => {
	test("keeps the generated CA and certificate (lookup against the real server)", guard(async () => {
		t = Date.now();
		const before = await rel.readSecret();
		const mwcBefore = await c.kubectlJson(["get", "mutatingwebhookconfiguration", rel.name]);
		// `helm template` has no server to look up: a new CA every time. So
		// what keeps them on upgrade is the lookup.
		const tpl = async () => {
			const r = await c.helm(["template", rel.name, CHART, "-n", rel.namespace, "--show-only", "templates/webhooks.yaml"]);
			return /ca\.crt: (\S+)/.exec(r.stdout)[1];
		};
		assert.notEqual(await tpl(), await tpl(), "helm template generated the same CA twice");

		const values = structuredClone(STAGE_VALUES);
		values.config.proxy = { logLevel: "info" };
		const up = await rel.upgrade(values);
		assert.match(up.stdout, /has been upgraded/);
		const hist = JSON.parse((await c.helm(["history", rel.name, "-n", rel.namespace, "-o", "json"])).stdout);
		assert.equal(hist.at(-1).revision, 2);
		assert.equal(hist.at(-1).status, "deployed");

		const after = await rel.readSecret();
		assert.equal(after.ca, before.ca, "the CA changed on upgrade");
		assert.equal(after.crt, before.crt, "the serving certificate changed on upgrade");
		assert.equal(after.key, before.key, "the serving key changed on upgrade");
		const mwcAfter = await c.kubectlJson(["get", "mutatingwebhookconfiguration", rel.name]);
		assert.deepEqual(mwcAfter.webhooks.map((h) => h.clientConfig.caBundle), mwcBefore.webhooks.map((h) => h.clientConfig.caBundle));
		assert.match(await rel.readConfig(), /logLevel: info/, "the upgrade's config reached the ConfigMap");

		// The upgraded webhook (new config) is still trusted through the kept
		// caBundle, and the new config is in force.
		const r = await c.create(workload("Pod", "h-traffic", "after-upgrade", {}), { args: ["--dry-run=server", "-o", "json"] });
		const pod = JSON.parse(r.stdout);
		assert.equal(classify(pod), "injected:traffic");
		assert.ok(meshOf(pod).proxy.args.join(" ").includes("info"), "the proxy's log level from the upgraded config");
		const h = await c.webhookHealth();
		assert.equal(h.failOpen, 0);
		assert.deepEqual(h.failedCalls, []);
		timing("helm upgrade", Date.now() - t);
	}));
});

describe("helm uninstall", () => {
	test("removes the registrations: pods are admitted untouched, no call fails", guard(async () => {
		t = Date.now();
		await rel.uninstall();
		const left = await c.kubectl(["get", "mutatingwebhookconfiguration", rel.name], { allowFail: true });
		assert.notEqual(left.code, 0, "the MutatingWebhookConfiguration outlived the release");
		// The apiserver's webhook and policy caches follow within moments.
		await c.waitFor("the webhook registrations to be gone from admission", async () => {
			const r = await c.create(workload("Pod", "h-locked", "after-uninstall", {}), { args: ["--dry-run=server", "-o", "json"], allowFail: true });
			return r.code === 0 && classify(JSON.parse(r.stdout)) === "untouched";
		}, { timeoutMs: 15000, intervalMs: 500 });
		const h = await c.webhookHealth();
		assert.equal(h.failOpen, 0);
		assert.deepEqual(h.failedCalls, []);
		timing("helm uninstall", Date.now() - t);
	}));
});
