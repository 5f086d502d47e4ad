// policy.test.mjs - the stages compiled into ValidatingAdmissionPolicies
// (issue 13), held to the webhook they stand in for:
//  - `helm template` renders the same policies and bindings as `meshinject
//    policy` on the config the chart's ConfigMap carries, and
//    webhooks.enforcement picks policy, webhook entry or both;
//  - one table of pods (every bypass /validate refuses, the injected pod of
//    every feature and its tampered variants, the Istio corpus when it is
//    there) goes through /validate/<stage> over HTTPS and through the
//    policies inside a real kube-apiserver (etcd + kube-apiserver on
//    loopback, no mutating webhook registered: the pods are created as they
//    are); every verdict must agree, and a disagreement names the pod;
//  - with the webhook stopped, the policy alone refuses an uninjected pod,
//    admits an injected one and refuses a tampered one; observe's [Warn]
//    shows in kubectl's own output.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import YAML from "yaml";

import { Server, requireBin } from "../lib/server.mjs";
import { ensureTools, startCluster, installChart, timing } from "./lib/cluster.mjs";
import { REPO, makeReview, rsPod } from "../lib/reviews.mjs";
import { applyPatch, deepClone } from "../lib/k8s.mjs";
import { runHelm, CHART, parseManifests } from "../lib/chart.mjs";

const CORPUS = resolve(REPO, "../shared/corpus/istio-inject-inputs");
const T = { timeout: 300000 };

// Stages of every kind the policy compiles: enforced with the redirect,
// with cni, with the native sidecar; observe comes from the default.
const CONFIG = `
stages:
  strict:
    features: [proxy, redirect, mtls]
    enforce: true
  strict-cni:
    features: [proxy, cni]
    enforce: true
  strict-native:
    features: [proxy, redirect, native-sidecar]
    enforce: true
  half:
    features: [proxy, redirect, mtls]
    rollout: {percent: 30, fallback: traffic}
`;
const BOUND = { strict: "Deny", "strict-cni": "Deny", "strict-native": "Deny", observe: "Warn" };
// Image overrides are global: a second config, its enforced stage applied
// as `meshinject policy --name alt` prints it, and a second server.
const OVR_CONFIG = "allowImageOverride: true\nstages:\n  ovr-strict: {features: [proxy, redirect], enforce: true}\n";
const OVR = "ovr-strict";
const policyName = (stage) => (stage === OVR ? `alt-${stage}` : `meshinject-${stage}`);

function run(bin, args, opts = {}) {
	const r = spawnSync(bin, args, { encoding: "utf8", maxBuffer: 64 << 20, timeout: 120000, ...opts });
	if (r.error)
		throw r.error;
	return r;
}

// ---- the apiserver, as the admin -----------------------------------------

// JSON requests to the cluster's kube-apiserver (lib/cluster.mjs) with the
// admin token; { status, json, text, warnings }.
class Api {
	constructor(cluster) {
		const u = new URL(cluster.server);
		this.cluster = cluster;
		this.port = Number(u.port);
		this.agent = new https.Agent({ keepAlive: true, maxSockets: 4 });
	}

	request(method, path, body) {
		return new Promise((resolvePromise, reject) => {
			const data = body === undefined ? undefined : JSON.stringify(body);
			const req = https.request({ host: "127.0.0.1", port: this.port, method, path, ca: this.cluster.caPem, agent: this.agent,
				headers: { authorization: `Bearer ${this.cluster.token}`, "content-type": "application/json", accept: "application/json" },
				timeout: 30000 }, (res) => {
				let text = "";
				res.setEncoding("utf8");
				res.on("data", (d) => { text += d; });
				res.on("end", () => {
					let json;
					try { json = JSON.parse(text); } catch { json = undefined; }
					const w = res.headers.warning;
					resolvePromise({ status: res.statusCode, json, text, warnings: w === undefined ? [] : [].concat(w) });
				});
			});
			req.on("error", reject);
			req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timeout`)));
			req.end(data);
		});
	}

	close() {
		this.agent.destroy();
	}
}

// ---- pods ----------------------------------------------------------------

// A pod the apiserver takes: the fixture without what only the server sets.
function basePod(name) {
	const pod = rsPod();
	delete pod.metadata.managedFields;
	delete pod.metadata.creationTimestamp;
	delete pod.metadata.generateName;
	delete pod.metadata.ownerReferences;
	delete pod.status;
	delete pod.metadata.namespace;
	pod.metadata.name = name;
	return pod;
}

const app = (pod) => pod.spec.containers.find((c) => c.name !== "mesh-proxy");
const proxyOf = (pod) => [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === "mesh-proxy");
const initOf = (pod) => (pod.spec.initContainers ?? []).find((c) => c.name === "mesh-init");
const annotate = (pod, a) => { pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), ...a }; return pod; };
const edit = (pod, fn) => { const p = deepClone(pod); fn(p); return p; };

// The patch /mutate/<stage> gives, applied. null when it refuses.
async function inject(srv, stage, pod, ns) {
	const review = makeReview(pod, { namespace: ns });
	const res = await srv.post(`/mutate/${stage}`, review);
	const r = res.json?.response;
	assert.ok(r, `/mutate/${stage}: ${res.body}`);
	if (!r.allowed)
		return null;
	if (!r.patch)
		return deepClone(pod);
	return applyPatch(pod, JSON.parse(Buffer.from(r.patch, "base64").toString("utf8")));
}

// Rows { name, stage, pod }: the bypasses, the features, the tampering.
async function table(srv) {
	const rows = [];
	const add = (stage, name, pod) => rows.push({ stage, name: `${stage}/${name}`, pod });
	for (const stage of Object.keys(BOUND)) {
		const ns = `ns-${stage}`;
		const bare = basePod("bare");
		add(stage, "uninjected", bare);
		add(stage, "hostNetwork (skipped by both)", edit(bare, (p) => { p.spec.hostNetwork = true; p.spec.containers[0].ports = []; }));
		add(stage, "opted out", annotate(deepClone(bare), { "meshinject.io/inject": "false" }));
		add(stage, "inject: maybe", annotate(deepClone(bare), { "meshinject.io/inject": "maybe" }));
		add(stage, "app on port 15001", edit(bare, (p) => { app(p).ports.push({ containerPort: 15001 }); }));
		add(stage, "app on port 15020", edit(bare, (p) => { app(p).ports.push({ containerPort: 15020 }); }));
		add(stage, "app as UID 1337", edit(bare, (p) => { app(p).securityContext = { runAsUser: 1337 }; }));
		add(stage, "pod as GID 1337", edit(bare, (p) => { p.spec.securityContext = { runAsGroup: 1337 }; }));
		add(stage, "own mesh-run volume", edit(bare, (p) => { p.spec.volumes = [...(p.spec.volumes ?? []), { name: "mesh-run", emptyDir: {} }]; }));
		add(stage, "fake mesh-proxy", edit(bare, (p) => { p.spec.containers.push({ name: "mesh-proxy", image: "busybox" }); }));
		add(stage, "opted out with a fake mesh-proxy", annotate(edit(bare, (p) => { p.spec.containers.push({ name: "mesh-proxy", image: "busybox" }); }), { "meshinject.io/inject": "false" }));
		add(stage, "proxy-image annotation", annotate(deepClone(bare), { "meshinject.io/proxy-image": "evil/envoy:1" }));
		add(stage, "features: +nope", annotate(deepClone(bare), { "meshinject.io/features": "+nope" }));
		add(stage, "stage: nope", annotate(deepClone(bare), { "meshinject.io/stage": "nope" }));
		if (stage === "observe") {
			add(stage, "NET_ADMIN app (not checked outside enforce)", edit(bare, (p) => { app(p).securityContext = { capabilities: { add: ["NET_ADMIN"] } }; }));
			continue;
		}
		// What the webhook injects, with every feature a pod may add.
		const variants = { "": {}, "+hold-app": {}, "+metrics-merge": {}, "+probe-rewrite": {}, "+native-sidecar": {},
			"+cni": {}, " +hold-app , +mtls,": {} };
		for (const f of Object.keys(variants)) {
			const src = f ? annotate(deepClone(bare), { "meshinject.io/features": f }) : deepClone(bare);
			const injected = await inject(srv, stage, src, ns);
			assert.ok(injected, `/mutate/${stage} injects ${f || "the stage's features"}`);
			add(stage, `injected${f ? ` ${JSON.stringify(f)}` : ""}`, injected);
		}
		const ok = await inject(srv, stage, deepClone(bare), ns);
		add(stage, "injected, stage: mtls (stronger)", annotate(deepClone(ok), { "meshinject.io/stage": "mtls" }));
		add(stage, "injected, stage: traffic (weaker)", annotate(deepClone(ok), { "meshinject.io/stage": "traffic" }));
		add(stage, "injected, features: -mtls", annotate(deepClone(ok), { "meshinject.io/features": "-mtls" }));
		add(stage, "injected, features: -proxy", annotate(deepClone(ok), { "meshinject.io/features": "-proxy" }));
		add(stage, "injected, features: +observe", annotate(deepClone(ok), { "meshinject.io/features": "+observe" }));
		add(stage, "injected, features: ','", annotate(deepClone(ok), { "meshinject.io/features": "," }));
		add(stage, "injected, opted out", annotate(deepClone(ok), { "meshinject.io/inject": "false" }));
		add(stage, "tampered proxy image", edit(ok, (p) => { proxyOf(p).image = "evil/envoy:1"; }));
		add(stage, "tampered proxy UID", edit(ok, (p) => { proxyOf(p).securityContext.runAsUser = 1000; }));
		add(stage, "proxy removed", edit(ok, (p) => {
			p.spec.containers = p.spec.containers.filter((c) => c.name !== "mesh-proxy");
			p.spec.initContainers = (p.spec.initContainers ?? []).filter((c) => c.name !== "mesh-proxy");
		}));
		add(stage, "mesh-init removed", edit(ok, (p) => { p.spec.initContainers = p.spec.initContainers.filter((c) => c.name !== "mesh-init"); }));
		add(stage, "mesh-init image changed", edit(ok, (p) => { initOf(p).image = "busybox"; }));
		add(stage, "proxy as a plain init container", edit(ok, (p) => {
			const px = proxyOf(p);
			p.spec.containers = p.spec.containers.filter((c) => c.name !== "mesh-proxy");
			p.spec.initContainers = (p.spec.initContainers ?? []).filter((c) => c.name !== "mesh-proxy");
			delete px.restartPolicy;
			delete px.lifecycle;
			delete px.readinessProbe;
			delete px.startupProbe;
			p.spec.initContainers.push(px);
		}));
		for (const cap of ["NET_ADMIN", "NET_RAW", "ALL", "CAP_NET_ADMIN", "SYS_TIME"])
			add(stage, `app adds ${cap}`, edit(ok, (p) => { app(p).securityContext = { capabilities: { add: [cap] } }; }));
		add(stage, "added NET_ADMIN container", edit(ok, (p) => { p.spec.containers.push({ name: "sneaky", image: "busybox", securityContext: { capabilities: { add: ["NET_ADMIN"] } } }); }));
		add(stage, "added init container on 15090", edit(ok, (p) => { p.spec.initContainers.push({ name: "early", image: "busybox", ports: [{ containerPort: 15090 }] }); }));
		add(stage, "pod-level runAsUser 1337", edit(ok, (p) => { p.spec.securityContext = { ...(p.spec.securityContext ?? {}), runAsUser: 1337 }; }));
		add(stage, "app runAsGroup 1337", edit(ok, (p) => { app(p).securityContext = { runAsGroup: 1337 }; }));
		add(stage, "status annotation removed (volumes stay)", edit(ok, (p) => { delete p.metadata.annotations["meshinject.io/status"]; }));
	}
	return rows;
}

// Rows of the image-override stage, asked of the second server.
async function overrideRows(srv2) {
	const rows = [];
	const add = (name, pod) => rows.push({ stage: OVR, name: `${OVR}/${name}`, pod });
	const bare = basePod("bare");
	const own = annotate(deepClone(bare), { "meshinject.io/proxy-image": "reg.example/envoy:own" });
	add("uninjected", bare);
	add("uninjected, own proxy image", own);
	add("proxy-image not an image", annotate(deepClone(bare), { "meshinject.io/proxy-image": "has space" }));
	const injected = await inject(srv2, OVR, deepClone(own), `ns-${OVR}`);
	assert.equal(proxyOf(injected).image, "reg.example/envoy:own");
	add("injected with its own proxy image", injected);
	add("own image, proxy UID changed", edit(injected, (p) => { proxyOf(p).securityContext.runAsUser = 4000; }));
	add("own image annotated, the configured image in use", edit(injected, (p) => { proxyOf(p).image = "envoyproxy/envoy:v1.32.3"; }));
	add("own image annotated, a third image in use", edit(injected, (p) => { proxyOf(p).image = "evil/envoy:1"; }));
	add("annotation changed after injection", annotate(deepClone(injected), { "meshinject.io/proxy-image": "reg.example/envoy:other" }));
	const plain = await inject(srv2, OVR, deepClone(bare), `ns-${OVR}`);
	add("injected, configured image", plain);
	add("configured image, annotation names it", annotate(deepClone(plain), { "meshinject.io/proxy-image": "envoyproxy/envoy:v1.32.3" }));
	return rows;
}

// Pod templates of the Istio corpus as pods (what corpus.test.mjs reads).
function corpusPods() {
	if (!existsSync(CORPUS))
		return null;
	const out = [];
	for (const file of readdirSync(CORPUS).filter((f) => /\.ya?ml$/.test(f)).sort()) {
		let docs;
		try {
			docs = YAML.parseAllDocuments(readFileSync(join(CORPUS, file), "utf8")).filter((d) => !d.errors.length).map((d) => d.toJS());
		} catch {
			continue;
		}
		const tpls = [];
		const walk = (d) => {
			if (!d || typeof d !== "object")
				return;
			if (d.kind === "List")
				(d.items ?? []).forEach(walk);
			else if (d.kind === "Pod")
				tpls.push(d);
			else if (d.spec?.template?.spec)
				tpls.push(d.spec.template);
			else if (d.spec?.jobTemplate?.spec?.template?.spec)
				tpls.push(d.spec.jobTemplate.spec.template);
		};
		docs.forEach(walk);
		tpls.forEach((t, i) => {
			const meta = deepClone(t.metadata ?? {});
			delete meta.namespace;
			delete meta.creationTimestamp;
			meta.name = `corpus-${i}`;
			out.push({ name: `${file}#${i}`, pod: { apiVersion: "v1", kind: "Pod", metadata: meta, spec: deepClone(t.spec ?? {}) } });
		});
	}
	return out;
}

// ---- the verdicts --------------------------------------------------------

async function webhookVerdict(srv, stage, pod) {
	const res = await srv.post(`/validate/${stage}`, makeReview(pod, { namespace: `ns-${stage}` }));
	const r = res.json?.response;
	assert.ok(r, `/validate/${stage}: ${res.body}`);
	return { refused: r.allowed === false, why: r.status?.message ?? "" };
}

// "refused" for Deny bindings, "warned" for Warn ones; other refusals of the
// apiserver (the pod is not valid) come back as { invalid }.
async function policyVerdict(cp, stage, pod) {
	let res = await cp.request("POST", `/api/v1/namespaces/ns-${stage}/pods?dryRun=All`, pod);
	// No controller-manager here: the ServiceAccount a pod names is made
	// on demand (the ServiceAccount admission plugin needs it).
	const sa = /serviceaccount "([^"]+)" not found/.exec(res.json?.message ?? "");
	if (res.status === 403 && sa) {
		const r = await cp.request("POST", `/api/v1/namespaces/ns-${stage}/serviceaccounts`,
			{ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: sa[1] } });
		assert.ok(r.status === 201 || r.status === 409, r.text);
		res = await cp.request("POST", `/api/v1/namespaces/ns-${stage}/pods?dryRun=All`, pod);
	}
	const ours = policyName(stage);
	const msg = res.json?.message ?? res.text;
	if (res.status === 201) {
		const w = res.warnings.filter((x) => x.includes(ours));
		return { refused: w.length > 0, why: w.join("; "), warned: w.length > 0 };
	}
	if ((res.status === 403 || res.status === 422) && msg.includes(`ValidatingAdmissionPolicy '${ours}'`))
		return { refused: true, why: msg };
	return { invalid: `${res.status}: ${msg}` };
}

// ---- the tests -----------------------------------------------------------

let bin, dir, cfgPath;
before(() => {
	bin = requireBin();
	dir = mkdtempSync(join(tmpdir(), "meshinject-policy-"));
	cfgPath = join(dir, "config.yaml");
	writeFileSync(cfgPath, CONFIG);
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

describe("the chart and `meshinject policy` render the same policies", () => {
	const policies = (objs) => objs.filter((o) => o?.kind?.startsWith("ValidatingAdmissionPolicy"))
		.map((o) => ({ kind: o.kind, name: o.metadata.name, spec: o.spec }))
		.sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));

	for (const [what, values] of Object.entries({
		"default values": "",
		"the test's stages, image overrides, a stage proxy, names CEL must escape, extra namespaces": `
config:
  allowImageOverride: true
  ignoredNamespaces: [kube-system, legacy]
  stages:
    strict: {features: [redirect, proxy, mtls], enforce: true}
    strict-cni: {features: [proxy, cni], enforce: true, proxy: {uid: 2000, image: "reg.example/envoy:<1>&\\"2\\"", ports: {admin: 16000}}}
    watch: {features: [observe]}
    half: {features: [proxy, redirect, mtls], rollout: {percent: 30, fallback: traffic}}
webhooks:
  excludeNamespaces: [batch]
` })) {
		test(what, T, () => {
			const vf = join(dir, "values.yaml");
			writeFileSync(vf, values);
			const r = runHelm(["template", "mi", CHART, "--namespace", "mesh", "-f", vf]);
			assert.equal(r.status, 0, r.what);
			const objs = parseManifests(r.stdout);
			const cm = objs.find((o) => o.kind === "ConfigMap");
			const cfg = join(dir, "chart-config.yaml");
			writeFileSync(cfg, cm.data["config.yaml"]);
			const args = ["policy", "--config", cfg, "--name", "mi-meshinject", "--namespace", "mesh"];
			if (values.includes("excludeNamespaces"))
				args.push("--exclude-namespace", "batch");
			const p = run(bin, args);
			assert.equal(p.status, 0, p.stderr);
			const fromChart = policies(objs), fromBin = policies(parseManifests(p.stdout));
			assert.ok(fromChart.length >= 2, `the chart renders policies: ${fromChart.map((o) => o.name)}`);
			assert.deepEqual(fromChart, fromBin);
			// The CEL itself is the chart's file, never a second copy.
			const cel = YAML.parse(readFileSync(join(CHART, "files/policy-validations.yaml"), "utf8"));
			for (const o of fromChart.filter((x) => x.kind === "ValidatingAdmissionPolicy")) {
				assert.deepEqual(o.spec.validations, cel.validations);
				assert.deepEqual(o.spec.variables.slice(-cel.variables.length), cel.variables);
			}
		});
	}

	test("webhooks.enforcement: policy (default) has no /validate entry, webhook no policy, both both", T, () => {
		const kinds = (set) => {
			const r = runHelm(["template", "mi", CHART, "--namespace", "mesh", "--set", "config.stages.mtls.enforce=true",
				...Object.entries(set).flatMap(([k, v]) => ["--set", `${k}=${v}`])]);
			assert.equal(r.status, 0, r.what);
			return parseManifests(r.stdout).map((o) => `${o.kind}/${o.metadata.name}`);
		};
		const def = kinds({});
		assert.ok(def.includes("ValidatingAdmissionPolicy/mi-meshinject-mtls") && def.includes("ValidatingAdmissionPolicyBinding/mi-meshinject-observe"), def.join(" "));
		assert.ok(!def.some((k) => k.startsWith("ValidatingWebhookConfiguration/")), def.join(" "));
		const wh = kinds({ "webhooks.enforcement": "webhook" });
		assert.ok(wh.includes("ValidatingWebhookConfiguration/mi-meshinject") && !wh.some((k) => k.startsWith("ValidatingAdmissionPolicy")), wh.join(" "));
		const both = kinds({ "webhooks.enforcement": "both" });
		assert.ok(both.includes("ValidatingWebhookConfiguration/mi-meshinject") && both.includes("ValidatingAdmissionPolicy/mi-meshinject-mtls"), both.join(" "));
		const bad = runHelm(["template", "mi", CHART, "--set", "webhooks.enforcement=sometimes"]);
		assert.notEqual(bad.status, 0);
		assert.match(bad.stderr, /enforcement/);
	});

	test("config --check refuses a rollout the policy cannot compile, meshinject policy too", () => {
		const f = join(dir, "uncompilable.yaml");
		writeFileSync(f, "stages:\n  canary:\n    features: [proxy, redirect]\n    enforce: true\n    rollout: {percent: 10, fallback: other}\n  other:\n    features: [proxy, redirect]\n    proxy: {uid: 4242}\n");
		const c = run(bin, ["config", "--check", f]);
		assert.equal(c.status, 1, c.stdout + c.stderr);
		assert.match(c.stderr, /stages\.canary\.rollout: .*other/);
		const p = run(bin, ["policy", "--config", f]);
		assert.equal(p.status, 1);
		assert.match(p.stderr, /stages\.canary\.rollout/);
		const ok = run(bin, ["config", "--check", cfgPath]);
		assert.equal(ok.status, 0, ok.stderr);
	});
});

describe("in a real kube-apiserver, the policy says what /validate says", () => {
	let cluster, cp, srv, srv2, rows;
	before(async () => {
		const t = Date.now();
		await ensureTools();
		cluster = await startCluster({ name: "policy" });
		cp = new Api(cluster);
		// The chart installed by helm (webhooks.enforcement=policy, the
		// default) with the stages above: its policies, as the chart renders
		// them, are what the apiserver evaluates.
		const rel = await installChart(cluster, { values: { config: YAML.parse(CONFIG) } });
		const vaps = await cluster.kubectlJson(["get", "validatingadmissionpolicybindings"]);
		assert.deepEqual(vaps.items.map((b) => `${b.metadata.name}:${b.spec.validationActions.join("+")}`).sort(),
			Object.entries(BOUND).map(([st, a]) => `meshinject-${st}:${a === "Deny" ? "Deny" : "Warn+Audit"}`).sort());
		// The mutating webhook out of the way: its entries fail open, so the
		// pods of the table reach the policies as they are. /validate is
		// asked directly, of a server with the release's own config.
		const config = typeof rel.config === "string" ? rel.config : rel.readConfig();
		const relCfg = join(dir, "release-config.yaml");
		writeFileSync(relCfg, config);
		await rel.webhook.stop();
		srv = await Server.start({ config: relCfg });
		for (const stage of Object.keys(BOUND))
			await cluster.createNamespace(`ns-${stage}`, { "meshinject.io/stage": stage });
		// The policies take effect once the apiserver has compiled them:
		// wait until a bare pod in the enforced namespace is refused.
		const deadline = Date.now() + 30000;
		let v;
		while ((v = await policyVerdict(cp, "strict", basePod("probe"))).refused !== true) {
			if (Date.now() > deadline)
				throw new Error(`the policies never took effect: ${JSON.stringify(v)}`);
			await sleep(250);
		}
		rows = await table(srv);
		// The override stage: its policy and binding as `meshinject policy`
		// prints them for the second config.
		const ovrCfg = join(dir, "override-config.yaml");
		writeFileSync(ovrCfg, OVR_CONFIG);
		srv2 = await Server.start({ config: ovrCfg });
		const p = run(bin, ["policy", "--config", ovrCfg, "--name", "alt", "--namespace", "meshinject-system"]);
		assert.equal(p.status, 0, p.stderr);
		for (const o of parseManifests(p.stdout).filter((x) => x.metadata.name === `alt-${OVR}`)) {
			const plural = o.kind === "ValidatingAdmissionPolicy" ? "validatingadmissionpolicies" : "validatingadmissionpolicybindings";
			const r = await cp.request("POST", `/apis/admissionregistration.k8s.io/v1/${plural}`, o);
			assert.equal(r.status, 201, `${o.kind}/${o.metadata.name}: ${r.text}`);
		}
		await cluster.createNamespace(`ns-${OVR}`, { "meshinject.io/stage": OVR });
		const d2 = Date.now() + 30000;
		while ((v = await policyVerdict(cp, OVR, basePod("probe"))).refused !== true) {
			if (Date.now() > d2)
				throw new Error(`the override policy never took effect: ${JSON.stringify(v)}`);
			await sleep(250);
		}
		rows.push(...await overrideRows(srv2));
		timing("policy: control plane, helm install, table", Date.now() - t);
	}, { timeout: 300000 });
	after(async () => {
		await srv?.stop();
		await srv2?.stop();
		cp?.close();
		await cluster?.stop();
	});

	test("the table: every verdict agrees", T, async () => {
		const wrong = [], invalid = [];
		let refused = 0;
		for (const row of rows) {
			const w = await webhookVerdict(row.stage === OVR ? srv2 : srv, row.stage, row.pod);
			const p = await policyVerdict(cp, row.stage, row.pod);
			if (p.invalid) {
				invalid.push(`${row.name}: ${p.invalid}`);
				continue;
			}
			if (w.refused !== p.refused)
				wrong.push(`${row.name}: /validate/${row.stage} ${w.refused ? `refuses (${w.why})` : "admits"}, ` +
				    `the policy ${p.refused ? `${BOUND[row.stage] === "Warn" ? "warns" : "refuses"} (${p.why})` : "admits"}`);
			if (w.refused)
				refused++;
		}
		console.log(`# policy table: ${rows.length} pods, ${refused} refused by both, ${wrong.length} disagreements`);
		assert.deepEqual(invalid, [], "every pod of the table is a valid pod for the apiserver");
		assert.deepEqual(wrong, [], `verdicts differ:\n${wrong.join("\n")}`);
		assert.ok(refused >= rows.length / 3 && refused < rows.length, `a table that can fail both ways (${refused} of ${rows.length})`);
	});

	test("the Istio corpus, uninjected and injected into strict", T, async (t) => {
		const pods = corpusPods();
		if (pods === null) {
			console.log(`# policy corpus: ${CORPUS} is absent, going on without it`);
			return;
		}
		const wrong = [], notPods = [];
		let checked = 0;
		for (const { name, pod } of pods) {
			const variants = [["uninjected", pod]];
			const injected = await inject(srv, "strict", deepClone(pod), "ns-strict").catch(() => null);
			if (injected)
				variants.push(["injected", injected]);
			for (const [how, p] of variants) {
				const w = await webhookVerdict(srv, "strict", p);
				const v = await policyVerdict(cp, "strict", p);
				if (v.invalid) {
					notPods.push(`${name} ${how}`);
					continue;
				}
				checked++;
				if (w.refused !== v.refused)
					wrong.push(`${name} ${how}: /validate ${w.refused ? `refuses (${w.why})` : "admits"}, policy ${v.refused ? `refuses (${v.why})` : "admits"}`);
			}
		}
		console.log(`# policy corpus: ${checked} pods compared, ${notPods.length} not valid pods for the apiserver`);
		if (notPods.length)
			t.diagnostic(`not valid pods: ${notPods.slice(0, 20).join(", ")}`);
		assert.ok(checked >= pods.length, `most of the corpus is compared (${checked} of ${pods.length} templates)`);
		assert.deepEqual(wrong, [], wrong.join("\n"));
	});

	test("with the webhook stopped, the policy alone enforces", T, async () => {
		const ok = await inject(srv, "strict", basePod("intact"), "ns-strict");
		const r = await srv.stop();
		srv = null;
		assert.equal(r.code, 0);
		const create = (pod) => cp.request("POST", "/api/v1/namespaces/ns-strict/pods", pod);
		let res = await create(basePod("uninjected"));
		assert.equal(res.status, 403, res.text);
		assert.match(res.json.message, /meshinject: stage strict: pod has no mesh-proxy/);
		await policyVerdict(cp, "strict", ok);	// its ServiceAccount
		res = await create(ok);
		assert.equal(res.status, 201, `the intact injected pod is created: ${res.text}`);
		const tampered = edit(ok, (p) => { p.metadata.name = "tampered"; proxyOf(p).image = "evil/envoy:1"; });
		res = await create(tampered);
		assert.equal(res.status, 403, res.text);
		assert.match(res.json.message, /container mesh-proxy: the name is reserved for meshinject's proxy \(image evil\/envoy:1/);
		const sneaky = edit(ok, (p) => { p.metadata.name = "sneaky"; p.spec.containers.push({ name: "sneaky", image: "busybox", securityContext: { capabilities: { add: ["NET_ADMIN"] } } }); });
		res = await create(sneaky);
		assert.equal(res.status, 403, res.text);
		assert.match(res.json.message, /container sneaky adds capability NET_ADMIN/);
	});

	test("observe: kubectl shows the policy's warnings, and creates the pod", T, async () => {
		const pod = edit(basePod("noisy"), (p) => { app(p).ports.push({ containerPort: 15001 }); });
		await policyVerdict(cp, "observe", pod);	// its ServiceAccount
		const r = await cluster.kubectl(["create", "--dry-run=server", "-n", "ns-observe", "-f", "-"], { input: JSON.stringify(pod), allowFail: true });
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout, /pod\/noisy created \(server dry run\)/);
		assert.match(r.stderr, /Warning: Validation failed for ValidatingAdmissionPolicy 'meshinject-observe'.*meshinject: stage observe: container web listens on port 15001, which the mesh proxy owns/);
	});
});
