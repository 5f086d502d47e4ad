// install.test.mjs - the plain-manifest install against the real
// kube-apiserver: `meshinject install | kubectl apply -f -` succeeds, every
// webhook entry's caBundle verifies the Secret's certificate for the name
// the apiserver dials, and a pod in a labelled namespace is injected through
// those registrations (the webhook run here with that Secret's certificate
// and the ConfigMap's config; the Service swapped for an ExternalName one).
// Applying a second install (new certificates) keeps the two in step.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { ensureTools, startCluster, startWebhook, swapService, freePort, timing, run, requireMeshinject } from "./lib/cluster.mjs";
import { STAGE_VALUES, workload, classify, restrictedPod } from "./lib/fixtures.mjs";

const NS = "meshinject-system";
const SVC = "meshinject";
let c, webhook, swapped, port, cfgFile;
let t = Date.now();

before(async () => {
	requireMeshinject();
	const tools = await ensureTools();
	timing("tools check (build.sh kubernetes etcd helm)", tools.ms);
	t = Date.now();
	c = await startCluster({ name: "install" });
	timing("control plane start (install)", Date.now() - t);
	t = Date.now();
	port = await freePort();
	// The stages of the other suites (an enforced one, a cni one), as a
	// config file for --config; the partial rollout has a test of its own.
	const config = structuredClone(STAGE_VALUES.config);
	delete config.stages.canary;
	cfgFile = join(c.dir, "install-config.yaml");
	writeFileSync(cfgFile, YAML.stringify(config));
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

async function install() {
	const r = await run(requireMeshinject(), ["install", "--config", cfgFile]);
	return { text: r.stdout, docs: YAML.parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean) };
}

async function readSecret() {
	const s = await c.kubectlJson(["get", "secret", "meshinject-tls", "-n", NS]);
	const dec = (k) => Buffer.from(s.data[k], "base64").toString("utf8");
	return { crt: dec("tls.crt"), key: dec("tls.key"), ca: dec("ca.crt") };
}

// Every webhook entry of both kinds that meshinject registered.
async function entries() {
	const out = [];
	for (const kind of ["mutatingwebhookconfiguration", "validatingwebhookconfiguration"]) {
		const r = await c.kubectl(["get", kind, "meshinject", "-o", "json"], { allowFail: true });
		if (r.code === 0)
			out.push(...JSON.parse(r.stdout).webhooks.map((h) => ({ kind, ...h })));
	}
	return out;
}

function verifies(caPem, certPem, name) {
	writeFileSync(join(c.dir, "v-ca.pem"), caPem);
	writeFileSync(join(c.dir, "v-crt.pem"), certPem);
	try {
		execFileSync("openssl", ["verify", "-CAfile", join(c.dir, "v-ca.pem"), "-verify_hostname", name, join(c.dir, "v-crt.pem")],
			{ stdio: ["ignore", "pipe", "pipe"] });
		return true;
	} catch {
		return false;
	}
}

// The installed entries dial Service meshinject on port 443; the webhook
// here listens on a free port instead, so the entries' port is set to it
// (as the chart's service.port does). Nothing else is changed.
async function pointEntriesAt(p) {
	for (const kind of ["mutatingwebhookconfiguration", "validatingwebhookconfiguration"]) {
		const r = await c.kubectl(["get", kind, "meshinject", "-o", "json"], { allowFail: true });
		if (r.code !== 0)
			continue;
		const ops = JSON.parse(r.stdout).webhooks.map((_, i) => ({ op: "replace", path: `/webhooks/${i}/clientConfig/service/port`, value: p }));
		await c.kubectl(["patch", kind, "meshinject", "--type=json", "-p", JSON.stringify(ops)]);
	}
}

async function runWebhook() {
	const secret = await readSecret();
	const cm = await c.kubectlJson(["get", "configmap", "meshinject", "-n", NS]);
	if (webhook) {
		webhook.setFiles({ cert: secret.crt, key: secret.key, config: cm.data["config.yaml"] });
		await webhook.stop();
		await webhook.start();
	} else {
		webhook = await startWebhook(c, { name: "meshinject-install", port, namespace: NS,
			cert: secret.crt, key: secret.key, config: cm.data["config.yaml"] });
	}
}

describe("meshinject install takes what the chart takes", () => {
	test("a stage with a partial rollout falling back to observe (DESIGN's gradual adoption)", guard(async () => {
		// helm install accepts these values (workloads.test.mjs installs them
		// and checks every pod's bucket); the plain install must too.
		const f = join(c.dir, "install-canary.yaml");
		writeFileSync(f, YAML.stringify(STAGE_VALUES.config));
		const r = await run(requireMeshinject(), ["install", "--config", f], { allowFail: true });
		assert.equal(r.code, 0, `meshinject install --config with stages.canary {rollout: {percent: 50, fallback: observe}} ` +
			`refused what the chart installs:\n${r.stderr}`);
		// A server-side dry run creates no Namespace, so the namespaced
		// objects after it would find none: the Namespace goes in for real.
		const docs = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
		const ns = docs.filter((d) => d.kind === "Namespace");
		assert.equal(ns.length, 1, `install printed ${ns.length} Namespace objects`);
		assert.equal((await c.kubectl(["apply", "-f", "-"], { input: YAML.stringify(ns[0]) })).code, 0);
		const apply = await c.kubectl(["apply", "--dry-run=server", "-f", "-"], { input: r.stdout });
		assert.equal(apply.code, 0);
		assert.match(apply.stdout, /mutatingwebhookconfiguration\.admissionregistration\.k8s\.io\/\S+ created \(server dry run\)/, apply.stdout);
	}));
});

describe("meshinject install | kubectl apply -f -", () => {
	let first;

	test("applies cleanly to the real apiserver", guard(async () => {
		first = await install();
		const kinds = first.docs.map((d) => d.kind);
		for (const k of ["Namespace", "Secret", "ConfigMap", "Service", "Deployment", "MutatingWebhookConfiguration"])
			assert.ok(kinds.includes(k), `install printed no ${k}: ${kinds.join(", ")}`);
		const r = await c.kubectl(["apply", "-f", "-"], { input: first.text });
		assert.equal(r.code, 0);
		assert.doesNotMatch(r.stderr, /error/i, r.stderr);
		// Every object printed is now in the cluster.
		for (const d of first.docs) {
			const args = ["get", d.kind, d.metadata.name, "-o", "name", ...(d.metadata.namespace ? ["-n", d.metadata.namespace] : [])];
			assert.equal((await c.kubectl(args, { allowFail: true })).code, 0, `${d.kind}/${d.metadata.name} missing after apply`);
		}
		timing("meshinject install | kubectl apply", Date.now() - t);
		t = Date.now();
	}));

	test("every webhook entry's caBundle verifies the Secret's certificate as <service>.<namespace>.svc", guard(async () => {
		const secret = await readSecret();
		const hooks = await entries();
		assert.ok(hooks.length >= 6, `entries: ${hooks.map((h) => h.name).join(", ")}`);
		const stages = hooks.filter((h) => h.kind === "mutatingwebhookconfiguration").map((h) => h.name);
		for (const s of ["locked", "traffic-cni", "traffic", "mtls", "observe"])
			assert.ok(stages.includes(`${s}.meshinject.io`), `no mutating entry for stage ${s} from --config: ${stages.join(", ")}`);
		for (const h of hooks) {
			assert.equal(h.clientConfig.service.name, SVC);
			assert.equal(h.clientConfig.service.namespace, NS);
			const ca = Buffer.from(h.clientConfig.caBundle ?? "", "base64").toString("utf8");
			assert.match(ca, /BEGIN CERTIFICATE/, `${h.name}: caBundle is not a PEM certificate`);
			assert.ok(verifies(ca, secret.crt, `${SVC}.${NS}.svc`), `${h.name}: caBundle does not verify the Secret's tls.crt`);
		}
		assert.ok(verifies(secret.ca, secret.crt, `${SVC}.${NS}.svc`), "the Secret's ca.crt does not verify its tls.crt");
	}));

	test("a pod in a labelled namespace is injected through those registrations", guard(async () => {
		await runWebhook();
		swapped = await swapService(c, { namespace: NS, name: SVC, port });
		await pointEntriesAt(port);
		await c.createNamespace("i-traffic", { "meshinject.io/stage": "traffic" });
		await c.createNamespace("i-cni", { "meshinject.io/stage": "traffic-cni" });
		await c.create(workload("Pod", "i-traffic", "web", {}));
		assert.equal(classify(await c.kubectlJson(["get", "pod", "web", "-n", "i-traffic"])), "injected:traffic");
		await c.create(workload("Deployment", "i-cni", "api", { replicas: 2 }));
		const pods = await c.waitFor("2 pods of i-cni/api", async () => {
			const p = (await c.kubectlJson(["get", "pods", "-n", "i-cni", "-l", "wl=api"])).items;
			return p.length === 2 ? p : null;
		}, { timeoutMs: 30000, intervalMs: 300 });
		for (const p of pods)
			assert.equal(classify(p), "injected:traffic-cni", p.metadata.name);
		// The install's own namespace (Pod Security restricted) is never
		// sent (POD_NAMESPACE and the entries' exclusion).
		const own = await c.create(restrictedPod(NS, "own"), { args: ["--dry-run=server", "-o", "json"] });
		assert.equal(classify(JSON.parse(own.stdout)), "untouched");
		const h = await c.webhookHealth();
		assert.equal(h.failOpen, 0);
		assert.deepEqual(h.failedCalls, []);
		timing("install: webhook + injection", Date.now() - t);
		t = Date.now();
	}));

	test("applying a second install renews the certificate and the caBundles together", guard(async () => {
		const before = await readSecret();
		await swapped.restore();
		const second = await install();
		const r = await c.kubectl(["apply", "-f", "-"], { input: second.text });
		assert.equal(r.code, 0);
		const after = await readSecret();
		assert.notEqual(after.ca, before.ca, "a second install kept the CA (it makes new certificates)");
		assert.notEqual(after.crt, before.crt);
		for (const h of await entries())
			assert.ok(verifies(Buffer.from(h.clientConfig.caBundle, "base64").toString("utf8"), after.crt, `${SVC}.${NS}.svc`),
				`${h.name}: caBundle does not verify the renewed certificate`);
		await runWebhook();
		swapped = await swapService(c, { namespace: NS, name: SVC, port });
		await pointEntriesAt(port);
		await c.create(workload("Pod", "i-traffic", "renewed", {}));
		assert.equal(classify(await c.kubectlJson(["get", "pod", "renewed", "-n", "i-traffic"])), "injected:traffic");
		const h = await c.webhookHealth();
		assert.equal(h.failOpen, 0);
		assert.deepEqual(h.failedCalls, []);
		timing("install: renewal by a second apply", Date.now() - t);
	}));
});
