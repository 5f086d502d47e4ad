// features.test.mjs - staged adoption end to end (issue 3): every feature
// on a real pod, each refusal with its code, reason and message, observe's
// warnings, the rollout's stability and proportion, and /validate. Every
// patch is applied with fast-json-patch and the pod validated against the
// Kubernetes models.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";

import { Server } from "./lib/server.mjs";
import { makeReview, rsPod } from "./lib/reviews.mjs";
import { checkAllowed, applyAndValidate, bootstrapOf, show } from "./lib/mesh.mjs";
import { applyAddPatch, validatePod } from "./lib/k8s.mjs";

const CONFIG = `
stages:
  traffic-native: {features: [proxy, redirect, native-sidecar, hold-app]}
  traffic-hold: {features: [proxy, redirect, hold-app]}
  traffic-cni: {features: [proxy, cni]}
  metrics: {features: [proxy, redirect, metrics-merge]}
  probes: {features: [proxy, redirect, probe-rewrite]}
  strict:
    features: [proxy, redirect, mtls]
    enforce: true
  half:
    features: [proxy, redirect, mtls]
    rollout: {percent: 30, fallback: traffic}
`;

let srv;
before(async () => {
	const dir = mkdtempSync(join(tmpdir(), "meshinject-features-"));
	const cfg = join(dir, "config.yaml");
	writeFileSync(cfg, CONFIG);
	srv = await Server.start({ config: cfg });
});
after(async () => {
	const r = await srv?.stop();
	assert.equal(r?.code, 0, "clean exit on SIGTERM");
});

async function mutate(path, pod, opts = {}) {
	const review = makeReview(pod, opts);
	const res = await srv.post(path, review);
	return { review, res };
}

// Inject and return the validated patched pod.
async function injected(path, pod, opts = {}) {
	const { review, res } = await mutate(path, pod);
	const ops = checkAllowed(review, res, { expectPatch: true, what: path });
	let patched;
	if (opts.mayReplace) {
		// Features whose job is to change a user's value (metrics-merge).
		patched = applyAddPatch(review.request.object, ops, { mayReplace: opts.mayReplace });
		validatePod(patched, path);
	} else {
		patched = applyAndValidate(review, ops, path, opts);
	}
	// Reinvocation: the patched pod gets no second patch.
	const again = makeReview(patched);
	const res2 = await srv.post(path, again);
	checkAllowed(again, res2, { expectPatch: false, what: `${path} reinvoked` });
	return { patched, res, ops };
}

async function denied(path, pod, code, reason, ...needles) {
	const { review, res } = await mutate(path, pod);
	assert.equal(res.status, 200, show(res.body));
	const r = res.json.response;
	assert.equal(r.uid, review.request.uid);
	assert.equal(r.allowed, false, `expected a refusal: ${show(res.body)}`);
	assert.equal(r.patch, undefined, "a refusal carries no patch");
	assert.equal(r.status.code, code, show(r.status));
	assert.equal(r.status.reason, reason, show(r.status));
	for (const n of needles)
		assert.ok(r.status.message.includes(n), `message lacks ${JSON.stringify(n)}: ${r.status.message}`);
	assert.match(r.auditAnnotations?.decision ?? "", /^denied/);
	return r;
}

const status = (pod) => JSON.parse(pod.metadata.annotations["meshinject.io/status"]);
const names = (list) => (list ?? []).map((c) => c.name);

function podWith(fn) {
	const pod = rsPod();
	fn(pod);
	return pod;
}

describe("features", () => {
	test("native-sidecar + hold-app: mesh-proxy an init container with restartPolicy Always after mesh-init, startup probe", async () => {
		const pod = podWith((p) => { p.spec.initContainers = [{ name: "migrate", image: "busybox" }]; });
		const { patched } = await injected("/mutate/traffic-native", pod);
		assert.deepEqual(names(patched.spec.initContainers), ["mesh-init", "mesh-proxy", "migrate"]);
		const proxy = patched.spec.initContainers[1];
		assert.equal(proxy.restartPolicy, "Always");
		assert.equal(proxy.startupProbe?.httpGet?.port, 15021);
		assert.ok(!names(patched.spec.containers).includes("mesh-proxy"));
		assert.deepEqual(status(patched).initContainers, ["mesh-init", "mesh-proxy"]);
		assert.deepEqual(status(patched).containers, []);
	});

	test("hold-app (classic): mesh-proxy first among containers with a postStart wait on the status port", async () => {
		const { patched } = await injected("/mutate/traffic-hold", rsPod());
		assert.equal(patched.spec.containers[0].name, "mesh-proxy");
		const cmd = patched.spec.containers[0].lifecycle?.postStart?.exec?.command ?? [];
		assert.ok(cmd.join(" ").includes("15021"), show(cmd));
		assert.equal(patched.spec.containers[1].name, rsPod().spec.containers[0].name);
	});

	test("cni: no privileged init container, redirect settings as an annotation", async () => {
		const pod = podWith((p) => { p.metadata.annotations = { "meshinject.io/exclude-outbound-ports": "5432" }; });
		const { patched } = await injected("/mutate/traffic-cni", pod);
		const init = patched.spec.initContainers.find((c) => c.name === "mesh-init");
		assert.ok(init.args.includes("--check"), show(init.args));
		assert.equal(init.securityContext.runAsNonRoot, true);
		assert.deepEqual(init.securityContext.capabilities, { drop: ["ALL"] });
		assert.notEqual(init.securityContext.runAsUser, 1337);
		const args = JSON.parse(patched.metadata.annotations["meshinject.io/cni-redirect"]);
		assert.ok(args.includes("--exclude-outbound-ports") && args.includes("5432"), show(args));
		for (const c of [...patched.spec.initContainers, ...patched.spec.containers])
			assert.ok(!(c.securityContext?.capabilities?.add ?? []).length, `${c.name} adds capabilities under cni`);
	});

	test("probe-rewrite: HTTP and TCP probes go to the status port; originals (named ports resolved) in MESH_APP_PROBES", async () => {
		const pod = podWith((p) => {
			const c = p.spec.containers[0];
			c.ports = [{ name: "http", containerPort: 8080, protocol: "TCP" }];
			c.livenessProbe = { httpGet: { path: "/livez", port: "http" }, periodSeconds: 7, failureThreshold: 4 };
			c.readinessProbe = { tcpSocket: { port: 8080 }, periodSeconds: 3 };
			c.startupProbe = { exec: { command: ["true"] } };
		});
		const { patched } = await injected("/mutate/probes", pod, { probeRewrite: true });
		const c = patched.spec.containers[0];
		assert.deepEqual(c.livenessProbe.httpGet, { path: `/app-health/${c.name}/livez`, port: 15021, scheme: "HTTP" });
		assert.equal(c.livenessProbe.periodSeconds, 7);
		assert.equal(c.livenessProbe.failureThreshold, 4);
		assert.deepEqual(c.readinessProbe.httpGet, { path: `/app-health/${c.name}/readyz`, port: 15021, scheme: "HTTP" });
		assert.equal(c.readinessProbe.tcpSocket, undefined);
		assert.deepEqual(c.startupProbe, { exec: { command: ["true"] } }, "exec probes stay");
		const proxy = patched.spec.containers.find((x) => x.name === "mesh-proxy");
		const env = Object.fromEntries(proxy.env.map((e) => [e.name, e.value]));
		const orig = JSON.parse(env.MESH_APP_PROBES);
		assert.equal(orig[`/app-health/${c.name}/livez`].httpGet.port, 8080);
		assert.equal(orig[`/app-health/${c.name}/livez`].httpGet.path, "/livez");
		assert.equal(orig[`/app-health/${c.name}/readyz`].tcpSocket.port, 8080);
		// Envoy answers the rewritten paths from active checks of the originals.
		const { text } = bootstrapOf(proxy);
		assert.ok(text.includes(`/app-health/${c.name}/livez`) && text.includes("tcp_health_check"), "bootstrap serves the probes");
	});

	test("metrics-merge: prometheus annotations point at the proxy, the app's originals handed over", async () => {
		const pod = podWith((p) => {
			p.metadata.annotations = { "prometheus.io/scrape": "true", "prometheus.io/port": "9102", "prometheus.io/path": "/m" };
		});
		const { patched } = await injected("/mutate/metrics", pod,
		    { mayReplace: /^\/metadata\/annotations\/prometheus\.io~1(scrape|port|path|scheme)$/ });
		const a = patched.metadata.annotations;
		assert.equal(a["prometheus.io/port"], "15090");
		assert.equal(a["prometheus.io/path"], "/stats/prometheus");
		const proxy = patched.spec.containers.find((x) => x.name === "mesh-proxy");
		const env = Object.fromEntries(proxy.env.map((e) => [e.name, e.value]));
		assert.deepEqual(JSON.parse(env.MESH_APP_METRICS), { port: 9102, path: "/m", scheme: "http" });
	});

	test("meshinject.io/features adjusts per pod; the status records the result", async () => {
		const pod = podWith((p) => { p.metadata.annotations = { "meshinject.io/features": "+native-sidecar" }; });
		const { patched } = await injected("/mutate/traffic", pod);
		assert.deepEqual(names(patched.spec.initContainers), ["mesh-init", "mesh-proxy"]);
		assert.deepEqual(status(patched).features, ["proxy", "redirect", "native-sidecar"]);
	});

	test("traffic annotations reach mesh-init; proxy annotations reach mesh-proxy", async () => {
		const pod = podWith((p) => {
			p.metadata.annotations = {
				"meshinject.io/exclude-inbound-ports": "9000,9001",
				"meshinject.io/include-outbound-cidrs": "10.0.0.0/8,fd00::/8",
				"meshinject.io/exclude-outbound-cidrs": "10.1.0.0/16",
				"meshinject.io/proxy-cpu": "250m",
				"meshinject.io/proxy-memory-limit": "1Gi",
				"meshinject.io/proxy-log-level": "debug",
			};
		});
		const { patched } = await injected("/mutate/traffic", pod);
		const init = patched.spec.initContainers.find((c) => c.name === "mesh-init");
		const flag = (f) => init.args[init.args.indexOf(f) + 1];
		assert.equal(flag("--exclude-inbound-ports"), "9000,9001");
		assert.equal(flag("--include-outbound-cidrs"), "10.0.0.0/8,fd00::/8");
		assert.equal(flag("--exclude-outbound-cidrs"), "10.1.0.0/16");
		const proxy = patched.spec.containers.find((x) => x.name === "mesh-proxy");
		assert.equal(proxy.resources.requests.cpu, "250m");
		assert.equal(proxy.resources.limits.memory, "1Gi");
		assert.equal(proxy.args[proxy.args.indexOf("--log-level") + 1], "debug");
	});
});

describe("observe", () => {
	test("no containers, the status records what traffic would inject, and warnings say so", async () => {
		const pod = podWith((p) => { p.spec.containers[0].ports.push({ containerPort: 15001 }); });
		const { patched, res } = await injected("/mutate/observe", pod);
		assert.deepEqual(names(patched.spec.containers), names(pod.spec.containers));
		assert.deepEqual(patched.spec.initContainers ?? [], pod.spec.initContainers ?? []);
		const st = status(patched);
		assert.equal(st.stage, "observe");
		assert.equal(st.wouldInject.stage, "traffic");
		assert.deepEqual(st.wouldInject.containers, ["mesh-proxy"]);
		assert.deepEqual(st.wouldInject.initContainers, ["mesh-init"]);
		const w = res.json.response.warnings ?? [];
		assert.ok(w.some((x) => x.includes("would inject")), show(w));
		assert.ok(w.some((x) => x.includes("would refuse") && x.includes("15001")), show(w));
		for (const x of w) {
			assert.ok(x.length < 120, `warning too long (${x.length}): ${x}`);
			assert.ok(!/[\n\r]/.test(x), `warning has a newline: ${x}`);
		}
		assert.match(res.json.response.auditAnnotations.decision, /^observed/);
	});
});

describe("refusals", () => {
	const ann = (a) => podWith((p) => { p.metadata.annotations = a; });
	test("malformed annotations: 422 Invalid naming the annotation and value; all problems at once", async () => {
		await denied("/mutate/traffic", ann({
			"meshinject.io/exclude-inbound-ports": "abc",
			"meshinject.io/include-outbound-cidrs": "10.0.0.0/33",
			"meshinject.io/proxy-memory": "lots",
		}), 422, "Invalid", "meshinject.io/exclude-inbound-ports", "\"abc\"", "10.0.0.0/33", "lots");
	});
	test("unknown stage in the annotation: 422", async () => {
		await denied("/mutate/traffic", ann({ "meshinject.io/stage": "warp" }), 422, "Invalid", "warp");
	});
	test("unknown stage in the path: 404", async () => {
		const res = await srv.post("/mutate/warp", makeReview(rsPod()));
		assert.equal(res.status, 404);
	});
	test("an app on a proxy port and as the proxy UID: 403 Forbidden, both reported", async () => {
		const pod = podWith((p) => {
			p.spec.containers[0].ports = [{ containerPort: 15006 }];
			p.spec.containers.push({ name: "sidecar", image: "busybox", securityContext: { runAsUser: 1337 } });
		});
		await denied("/mutate/traffic", pod, 403, "Forbidden", "15006", "UID 1337");
	});
	test("proxy-image without allowImageOverride: 403", async () => {
		await denied("/mutate/traffic", ann({ "meshinject.io/proxy-image": "evil/envoy:1" }), 403, "Forbidden", "proxy-image");
	});
	test("enforced: opt-out, downgrade, dropping a feature and NET_ADMIN are refused; an upgrade is allowed", async () => {
		await denied("/mutate/strict", ann({ "meshinject.io/inject": "false" }), 403, "Forbidden", "enforced");
		await denied("/mutate/strict", ann({ "meshinject.io/stage": "traffic" }), 403, "Forbidden", "traffic");
		await denied("/mutate/strict", ann({ "meshinject.io/features": "-mtls" }), 403, "Forbidden", "mtls");
		await denied("/mutate/strict", podWith((p) => {
			p.spec.containers[0].securityContext = { capabilities: { add: ["NET_ADMIN"] } };
		}), 403, "Forbidden", "NET_ADMIN");
		const { patched } = await injected("/mutate/strict", ann({ "meshinject.io/stage": "mtls" }), { probeRewrite: true });
		assert.equal(status(patched).stage, "mtls");
	});
	test("not enforced: opt-out is simply skipped", async () => {
		const { review, res } = await mutate("/mutate/traffic", ann({ "meshinject.io/inject": "false" }));
		checkAllowed(review, res, { expectPatch: false });
	});
});

describe("/validate", () => {
	test("refuses a pod without the proxy in an enforced stage, admits an injected one, never patches", async () => {
		const bare = makeReview(rsPod());
		const r1 = await srv.post("/validate/strict", bare);
		assert.equal(r1.json.response.allowed, false, show(r1.body));
		assert.equal(r1.json.response.status.code, 403);
		assert.equal(r1.json.response.patch, undefined);
		const { patched } = await injected("/mutate/strict", rsPod());
		const ok = makeReview(patched);
		const r2 = await srv.post("/validate/strict", ok);
		checkAllowed(ok, r2, { expectPatch: false, what: "validate injected" });
		const r3 = await srv.post("/validate/traffic", makeReview(rsPod()));
		checkAllowed(bare, { ...r3, json: { ...r3.json, response: { ...r3.json.response, uid: bare.request.uid } } }, { expectPatch: false });
	});
});

describe("rollout", () => {
	test("the same workload gets the same stage across replicas and ReplicaSets; about 30 % of 400 workloads get it", async () => {
		let got = 0;
		for (let w = 0; w < 400; w++) {
			const stages = new Set();
			for (const hash of ["5d8f7c9b4", "6b7c8d9f1"]) {
				const pod = rsPod();
				pod.metadata.generateName = `app${w}-${hash}-`;
				pod.metadata.labels["pod-template-hash"] = hash;
				pod.metadata.ownerReferences[0].name = `app${w}-${hash}`;
				pod.metadata.ownerReferences[0].uid = randomUUID();
				const review = makeReview(pod, { namespace: "rollout" });
				const res = await srv.post("/mutate/half", review);
				const ops = checkAllowed(review, res, { expectPatch: true });
				const patched = applyAndValidate(review, ops, "rollout");
				const st = status(patched);
				stages.add(st.stage);
				assert.equal(st.rollout.stage, "half");
				assert.equal(st.rollout.percent, 30);
				assert.ok(st.rollout.bucket >= 0 && st.rollout.bucket < 100);
				assert.equal(st.stage === "half", st.rollout.bucket < 30, show(st));
			}
			assert.equal(stages.size, 1, `workload app${w} got ${[...stages]}`);
			if (stages.has("half"))
				got++;
		}
		assert.ok(got > 90 && got < 150, `${got} of 400 workloads at 30 %`);
	});
});
