// The webhook core end to end (issue 2): the real binary over real HTTPS,
// every patch applied with fast-json-patch and the result validated against
// the Kubernetes API models; reinvocation gives no patch.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, requireBin, freePort, httpGet } from "./lib/server.mjs";
import tls from "node:tls";
import { makePki } from "./lib/pki.mjs";
import { rsReview, rsPod, namedPod, makeReview, V1, V1BETA1 } from "./lib/reviews.mjs";
import { DEFAULTS, checkAllowed, applyAndValidate, checkInjected, show, flagValue, bootstrapOf, checkRedirectDryRun } from "./lib/mesh.mjs";
import { deepClone } from "./lib/k8s.mjs";

const T = { timeout: 30000 };
let defaultHash;

// POST the review, expect a patch, apply and validate it, check the mesh,
// then send the patched pod again and expect no patch.
async function injectAndCheck(srv, path, review, { stage, cfg = DEFAULTS, what = "", staleStatus = false } = {}) {
	const label = `${what} POST ${path}`;
	const res = await srv.post(path, review);
	const ops = checkAllowed(review, res, { expectPatch: true, what: label });
	const patched = applyAndValidate(review, ops, label, { probeRewrite: stage === "mtls", staleStatus });
	const ns = review.request.namespace;
	// Reinvocation first, so that it is checked even when a detail of the
	// injection below fails.
	const again = deepClone(review);
	again.request.object = patched;
	again.request.uid = `${review.request.uid.slice(0, 30)}-again`;
	const res2 = await srv.post(path, again);
	checkAllowed(again, res2, { expectPatch: false, what: `${label} (reinvocation with the patched pod)` });
	// kube-apiserver refuses to overwrite the first call's audit annotation
	// (and warns for each pod): a reinvocation sets none.
	assert.equal(res2.json.response.auditAnnotations, undefined,
		`${label}: reinvocation answered with auditAnnotations ${show(res2.json.response.auditAnnotations)}`);
	assert.match(res.json.response.auditAnnotations?.decision ?? "", /^injected stage=/, `${label}: first call's audit annotation`);
	const got = checkInjected(review.request.object, patched, { stage, cfg, ns, ops });
	checkRedirectDryRun(requireBin(), got.init, cfg, `\n${label}`);
	return { ops, patched, ...got, res };
}

async function expectNoPatch(srv, path, review, what) {
	const res = await srv.post(path, review);
	checkAllowed(review, res, { expectPatch: false, what: `${what} POST ${path}` });
	return res;
}

function withVersion(review, apiVersion) {
	review.apiVersion = apiVersion;
	return review;
}

// Shapes of pods the contract names, each as a fresh review.
const SHAPES = {
	"ReplicaSet pod (generateName, ownerReferences, managedFields, no annotations)": () => rsReview(),
	"existing init containers, annotation keys with / and ~": () => {
		const pod = rsPod();
		pod.metadata.annotations = {
			"example.com/a~b": "slash and tilde",
			"example.com/~1not-an-escape": "literal ~1",
			"kubectl.kubernetes.io/restartedAt": "2026-11-25T16:00:00Z",
			plain: "",
		};
		pod.spec.initContainers = [
			{ name: "migrate", image: "registry.example.com/shop/migrate:2.4.1", args: ["up"],
				resources: {}, terminationMessagePath: "/dev/termination-log", terminationMessagePolicy: "File", imagePullPolicy: "IfNotPresent" },
			{ name: "wait-for-db", image: "busybox:1.36", command: ["sh", "-c", "until nc -z db 5432; do sleep 1; done"],
				resources: {}, terminationMessagePath: "/dev/termination-log", terminationMessagePolicy: "File", imagePullPolicy: "IfNotPresent" },
		];
		return makeReview(pod);
	},
	"volumes: null and initContainers: []": () => {
		const pod = rsPod();
		pod.spec.volumes = null;
		pod.spec.initContainers = [];
		pod.spec.containers[0].volumeMounts = null;
		return makeReview(pod);
	},
	"no volumes, no initContainers, no labels keys at all": () => {
		const pod = rsPod();
		delete pod.spec.volumes;
		delete pod.spec.containers[0].volumeMounts;
		delete pod.metadata.labels;
		return makeReview(pod);
	},
	"annotations: {} and labels: null": () => {
		const pod = rsPod();
		pod.metadata.annotations = {};
		pod.metadata.labels = null;
		return makeReview(pod);
	},
	"2000 env vars": () => {
		const pod = rsPod();
		for (let i = 0; i < 2000; i++)
			pod.spec.containers[0].env.push({ name: `VAR_${i}`, value: `value-${i}-${"x".repeat(i % 50)}` });
		return makeReview(pod);
	},
	"pod securityContext runAsNonRoot/runAsUser 1000 (restricted-style)": () => {
		const pod = rsPod();
		pod.spec.securityContext = { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } };
		return makeReview(pod);
	},
	"probes of every kind (named port + headers, HTTPS, TCP, exec, gRPC)": () => {
		const pod = rsPod();
		const c = pod.spec.containers[0];
		c.livenessProbe = { httpGet: { path: "/livez", port: "http", scheme: "HTTP", httpHeaders: [{ name: "X-Probe", value: "kubelet" }] },
			initialDelaySeconds: 3, periodSeconds: 7, timeoutSeconds: 2, successThreshold: 1, failureThreshold: 4 };
		c.readinessProbe = { tcpSocket: { port: 8080 }, periodSeconds: 5, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 };
		c.startupProbe = { exec: { command: ["cat", "/tmp/started"] }, periodSeconds: 2, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 30 };
		pod.spec.containers.push({ name: "api", image: "registry.example.com/shop/api:1.0",
			ports: [{ name: "https", containerPort: 8443, protocol: "TCP" }, { name: "grpc", containerPort: 9000, protocol: "TCP" }],
			livenessProbe: { grpc: { port: 9000 }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
			readinessProbe: { httpGet: { path: "/ready", port: "https", scheme: "HTTPS" }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
			terminationMessagePath: "/dev/termination-log", terminationMessagePolicy: "File", imagePullPolicy: "IfNotPresent" });
		return makeReview(pod);
	},
	"two app containers and a named pod with its namespace": () => {
		const pod = namedPod("checkout-0");
		pod.spec.containers.push({ name: "metrics", image: "registry.example.com/exporter:1.0",
			ports: [{ name: "metrics", containerPort: 9100, protocol: "TCP" }] });
		return makeReview(pod, { name: "checkout-0" });
	},
};

describe("meshinject serve, embedded default config", () => {
	let srv;
	before(async () => { srv = await Server.start(); }, { timeout: 20000 });
	after(async () => {
		if (!srv)
			return;
		const r = await srv.stop();
		assert.ok(r.code === 0 && !r.signal, `SIGTERM must end meshinject cleanly: ${JSON.stringify({ code: r.code, signal: r.signal, timedOut: r.timedOut })}\n${srv.describe()}`);
	});

	for (const stage of ["traffic", "mtls"]) {
		for (const [ver, apiVersion] of [["v1", V1], ["v1beta1", V1BETA1]]) {
			test(`/mutate/${stage} ${ver}: ReplicaSet pod injected, valid, idempotent`, T, async () => {
				const got = await injectAndCheck(srv, `/mutate/${stage}`, withVersion(rsReview(), apiVersion), { stage });
				defaultHash ??= got.status.configHash;
			});
		}
		for (const [name, make] of Object.entries(SHAPES)) {
			test(`/mutate/${stage}: ${name}`, T, async () => {
				await injectAndCheck(srv, `/mutate/${stage}`, make(), { stage, what: name });
			});
		}
	}

	test("/mutate/traffic?timeout=10s: the query is ignored", T, async () => {
		await injectAndCheck(srv, "/mutate/traffic?timeout=10s", rsReview(), { stage: "traffic" });
	});

	test("the namespace comes from request.namespace (the object has none)", T, async () => {
		const rev = rsReview();
		rev.request.namespace = "payments";
		const got = await injectAndCheck(srv, "/mutate/traffic", rev, { stage: "traffic", what: "request.namespace payments" });
		const node = JSON.stringify(bootstrapOf(got.proxy).bootstrap.node ?? {});
		assert.ok(!/[."~]shop\b/.test(node), `the node names namespace shop, but the request's is payments: ${node}`);
		assert.ok(node.includes("payments") || node.includes("$(POD_NAMESPACE)"), `the node does not carry the namespace: ${node}`);
		for (const ns of ["kube-system", "kube-public", "kube-node-lease"]) {
			const r = rsReview();
			r.request.namespace = ns;
			await expectNoPatch(srv, "/mutate/traffic", r, `request.namespace ${ns} (ignored namespace, object without namespace)`);
		}
	});

	test("a pod in kube-system is not touched", T, async () => {
		const pod = namedPod("coredns-x");
		pod.metadata.namespace = "kube-system";
		await expectNoPatch(srv, "/mutate/mtls", makeReview(pod, { namespace: "kube-system" }), "kube-system pod");
	});

	test("hostNetwork: allowed, no patch, a warning", T, async () => {
		const pod = rsPod();
		pod.spec.hostNetwork = true;
		for (const stage of ["traffic", "mtls"]) {
			const rev = makeReview(pod);
			const res = await expectNoPatch(srv, `/mutate/${stage}`, rev, "hostNetwork pod");
			const w = res.json.response.warnings;
			assert.ok(Array.isArray(w) && w.length > 0, `hostNetwork pod: expected an admission warning, got ${show(res.json)}`);
			assert.match(w.join("\n"), /host ?network/i, `the warning should say why: ${show(w)}`);
		}
	});

	test('opt-out annotation meshinject.io/inject: "false"', T, async () => {
		const pod = rsPod();
		pod.metadata.annotations = { "meshinject.io/inject": "false" };
		await expectNoPatch(srv, "/mutate/traffic", makeReview(pod), "opt-out");
		await expectNoPatch(srv, "/mutate/mtls", makeReview(pod), "opt-out");
	});

	test("a mirror pod (kubernetes.io/config.mirror) is not touched", T, async () => {
		const pod = namedPod("etcd-node1");
		pod.metadata.annotations = { "kubernetes.io/config.mirror": "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c", "kubernetes.io/config.source": "file" };
		pod.spec.nodeName = "node1";
		await expectNoPatch(srv, "/mutate/traffic", makeReview(pod), "mirror pod");
	});

	test("operation DELETE: allowed, no patch", T, async () => {
		for (const apiVersion of [V1, V1BETA1]) {
			const rev = makeReview(null, { operation: "DELETE", oldObject: namedPod("web-1"), name: "web-1", apiVersion });
			rev.request.options = { kind: "DeleteOptions", apiVersion: "meta.k8s.io/v1", propagationPolicy: "Background" };
			await expectNoPatch(srv, "/mutate/traffic", rev, `DELETE ${apiVersion}`);
		}
	});

	test("operation UPDATE: allowed, no patch", T, async () => {
		const pod = namedPod("web-1");
		await expectNoPatch(srv, "/mutate/traffic", makeReview(pod, { operation: "UPDATE", oldObject: namedPod("web-1"), name: "web-1" }), "UPDATE");
	});

	test("a kind other than Pod: allowed, no patch", T, async () => {
		const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "shop" }, data: { a: "b" } };
		await expectNoPatch(srv, "/mutate/traffic", makeReview(cm, { kind: "ConfigMap", name: "settings" }), "ConfigMap");
		const dep = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: "shop" },
			spec: { selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web" } }, spec: rsPod().spec } } };
		await expectNoPatch(srv, "/mutate/mtls", makeReview(dep, { kind: "Deployment", name: "web" }), "Deployment");
	});

	test("a Pod subresource (pods/ephemeralcontainers UPDATE): allowed, no patch", T, async () => {
		const pod = namedPod("web-1");
		await expectNoPatch(srv, "/mutate/traffic", makeReview(pod, { operation: "UPDATE", oldObject: namedPod("web-1"), name: "web-1", subResource: "ephemeralcontainers" }), "ephemeralcontainers");
	});

	test("/mutate: stage from the pod's meshinject.io/stage label, else defaultStage off", T, async () => {
		for (const stage of ["traffic", "mtls"]) {
			const pod = rsPod();
			pod.metadata.labels["meshinject.io/stage"] = stage;
			await injectAndCheck(srv, "/mutate", makeReview(pod), { stage, what: `label meshinject.io/stage=${stage}` });
		}
		await expectNoPatch(srv, "/mutate", rsReview(), "/mutate without a stage label (defaultStage off)");
		const pod = rsPod();
		pod.metadata.labels["meshinject.io/stage"] = "off";
		await expectNoPatch(srv, "/mutate", makeReview(pod), "/mutate with stage label off");
	});

	test("/mutate: stage from the pod's meshinject.io/stage annotation", T, async () => {
		const pod = rsPod();
		pod.metadata.annotations = { "meshinject.io/stage": "traffic" };
		await injectAndCheck(srv, "/mutate?timeout=10s", makeReview(pod), { stage: "traffic", what: "annotation meshinject.io/stage=traffic" });
	});

	// A refusal: allowed false with the code and reason DESIGN.md gives and
	// a message that names `mustName` (each a string or RegExp).
	async function expectRefusal(path, review, code, reasons, mustName, what) {
		const res = await srv.post(path, review);
		const ctx = `${what}: sent annotations ${show(review.request.object?.metadata?.annotations)} got HTTP ${res.status} ${show(res.body, 1500)}`;
		assert.equal(res.status, 200, ctx);
		const r = res.json?.response;
		assert.equal(res.json?.apiVersion, review.apiVersion, ctx);
		assert.equal(r?.uid, review.request.uid, ctx);
		assert.equal(r?.allowed, false, `expected a refusal, ${ctx}`);
		assert.equal(r.patch ?? undefined, undefined, `a refusal carries no patch, ${ctx}`);
		assert.equal(r.status?.code, code, `status.code, ${ctx}`);
		assert.ok(reasons.includes(r.status?.reason), `status.reason should be ${reasons.join(" or ")}, ${ctx}`);
		for (const n of mustName)
			assert.ok(typeof n === "string" ? r.status?.message?.includes(n) : n.test(r.status?.message ?? ""), `the message should name ${n}, ${ctx}`);
	}

	test("an app container on a port the proxy owns is refused (403 Forbidden)", T, async () => {
		for (const port of [15000, 15001, 15006, 15020, 15021, 15090]) {
			const pod = rsPod();
			pod.spec.containers[0].ports.push({ name: "debug", containerPort: port, protocol: "TCP" });
			await expectRefusal("/mutate/traffic", makeReview(pod), 403, ["Forbidden"], [String(port)], `port ${port}`);
		}
	});

	test("an app container running as the proxy UID is refused (403 Forbidden)", T, async () => {
		const a = rsPod();
		a.spec.containers[0].securityContext = { runAsUser: 1337 };
		await expectRefusal("/mutate/mtls", makeReview(a), 403, ["Forbidden"], ["1337"], "container runAsUser 1337");
		const b = rsPod();
		b.spec.securityContext = { runAsUser: 1337 };
		await expectRefusal("/mutate/traffic", makeReview(b), 403, ["Forbidden"], ["1337"], "pod runAsUser 1337");
		// The container's own setting wins over the pod's.
		const c = rsPod();
		c.spec.securityContext = { runAsUser: 1337 };
		c.spec.containers[0].securityContext = { runAsUser: 1000 };
		await injectAndCheck(srv, "/mutate/traffic", makeReview(c), { stage: "traffic", what: "pod 1337, container 1000" });
	});

	const BAD_ANNOTATIONS = {
		"meshinject.io/inject": "maybe",
		"meshinject.io/stage": "nope",
		"meshinject.io/features": ["+warp-drive", "warp-drive"],
		"meshinject.io/exclude-inbound-ports": "abc",
		"meshinject.io/include-inbound-ports": "70000",
		"meshinject.io/exclude-outbound-ports": ["80,-1", "-1"],
		"meshinject.io/include-outbound-cidrs": "10.0.0.0/33",
		"meshinject.io/exclude-outbound-cidrs": "not-a-cidr",
		"meshinject.io/proxy-cpu": "lots",
		"meshinject.io/proxy-memory": "12XB",
		"meshinject.io/proxy-memory-limit": "1.5.0Gi",
		"meshinject.io/proxy-log-level": "verbose",
	};
	// value, or [value, the bad item the message must name].
	for (const [key, v] of Object.entries(BAD_ANNOTATIONS)) {
		const [value, bad] = Array.isArray(v) ? v : [v, v];
		test(`malformed ${key}: ${JSON.stringify(value)} is refused (422 Invalid, naming both)`, T, async () => {
			const pod = rsPod();
			pod.metadata.annotations = { [key]: value };
			await expectRefusal("/mutate/traffic", makeReview(pod), 422, ["Invalid"], [key, bad], key);
		});
	}

	test("meshinject.io/proxy-image without allowImageOverride is refused", T, async () => {
		const pod = rsPod();
		pod.metadata.annotations = { "meshinject.io/proxy-image": "registry.example.com/evil/envoy:1" };
		const res = await srv.post("/mutate/traffic", makeReview(pod));
		assert.equal(res.json?.response?.allowed, false, `expected a refusal: ${show(res.json)}`);
		assert.ok([403, 422].includes(res.json.response.status?.code), show(res.json));
		assert.match(res.json.response.status?.message ?? "", /proxy-image/, show(res.json));
	});

	test("valid annotations reach mesh-init's flags and the proxy", T, async () => {
		const pod = rsPod();
		pod.metadata.annotations = {
			"meshinject.io/exclude-inbound-ports": "8080, 9090",
			"meshinject.io/exclude-outbound-ports": "5432",
			"meshinject.io/include-outbound-cidrs": "10.0.0.0/8,fd00::/8",
			"meshinject.io/exclude-outbound-cidrs": "169.254.169.254/32",
			"meshinject.io/proxy-cpu": "200m",
			"meshinject.io/proxy-memory-limit": "1Gi",
			"meshinject.io/proxy-log-level": "debug",
		};
		const cfg = { ...DEFAULTS, resources: { requests: { cpu: "200m", memory: "128Mi" }, limits: { memory: "1Gi" } } };
		const got = await injectAndCheck(srv, "/mutate/traffic", makeReview(pod), { stage: "traffic", cfg, what: "annotations" });
		const args = [...(got.init.command ?? []), ...(got.init.args ?? [])];
		const flag = (f) => flagValue(args, f)?.replace(/\s+/g, "");
		assert.equal(flag("--exclude-inbound-ports"), "8080,9090", show(args));
		assert.equal(flag("--exclude-outbound-ports"), "5432", show(args));
		assert.equal(flag("--include-outbound-cidrs"), "10.0.0.0/8,fd00::/8", show(args));
		assert.equal(flag("--exclude-outbound-cidrs"), "169.254.169.254/32", show(args));
		const rules = checkRedirectDryRun(requireBin(), got.init, cfg);
		for (const want of ["--dport 8080 -j RETURN", "--dport 9090 -j RETURN", "5432", "10.0.0.0/8", "fd00::/8", "169.254.169.254/32"])
			assert.ok(rules.includes(want), `the redirect rules lack ${want}:\n${rules}`);
		const pargs = [...(got.proxy.command ?? []), ...(got.proxy.args ?? [])];
		assert.ok(flagValue(pargs, "--log-level") === "debug" || flagValue(pargs, "-l") === "debug", `proxy log level: ${show(pargs.filter((a) => a.length < 100))}`);
	});

	test("a copied status annotation without the containers it lists: injected, status rewritten", T, async () => {
		const pod = rsPod();
		pod.metadata.annotations = { "meshinject.io/status": JSON.stringify({ stage: "traffic", features: ["proxy", "redirect"],
			initContainers: ["mesh-init"], containers: ["mesh-proxy"], volumes: ["mesh-run"], configHash: "0123456789abcdef" }) };
		await injectAndCheck(srv, "/mutate/traffic", makeReview(pod), { stage: "traffic", staleStatus: true, what: "stale status" });
	});

	test("reinvocation after another webhook added a sidecar and a label: still no patch", T, async () => {
		const rev = rsReview();
		const res = await srv.post("/mutate/mtls", rev);
		const ops = checkAllowed(rev, res, { expectPatch: true });
		const patched = applyAndValidate(rev, ops, "first pass", { probeRewrite: true });
		patched.spec.containers.push({ name: "log-agent", image: "registry.example.com/agent:3" });
		patched.metadata.labels["example.com/agent"] = "on";
		await expectNoPatch(srv, "/mutate/mtls", makeReview(patched), "reinvocation after another webhook");
	});

	for (const [name, mut] of [
		["a user container already named mesh-proxy", (p) => p.spec.containers.push({ name: "mesh-proxy", image: "registry.example.com/own-proxy:1" })],
		["a user init container already named mesh-init", (p) => { p.spec.initContainers = [{ name: "mesh-init", image: "busybox:1.36" }]; }],
		["a user volume already named mesh-run", (p) => p.spec.volumes.push({ name: "mesh-run", emptyDir: {} })],
	]) {
		test(`${name}: never a patch that makes the pod invalid`, T, async () => {
			const pod = rsPod();
			mut(pod);
			const rev = makeReview(pod);
			const res = await srv.post("/mutate/traffic", rev);
			assert.equal(res.status, 200, show(res.body));
			const r = res.json.response;
			if (r.allowed === false) {
				assert.ok([403, 422].includes(r.status?.code) && r.status?.message, `a refusal says why: ${show(r)}`);
				return;
			}
			const ops = checkAllowed(rev, res, { what: name });
			if (ops)
				applyAndValidate(rev, ops, name);
		});
	}

	test("32 reviews at once are each answered with their own uid", T, async () => {
		const reviews = Array.from({ length: 32 }, (_, i) => {
			const r = rsReview();
			r.request.uid = `concurrent-${i}-${r.request.uid}`;
			r.request.namespace = `ns-${i}`;
			return r;
		});
		const stage = (i) => (i % 2 ? "mtls" : "traffic");
		const answers = await Promise.all(reviews.map((r, i) => srv.post(`/mutate/${stage(i)}`, r)));
		answers.forEach((res, i) => {
			const ops = checkAllowed(reviews[i], res, { expectPatch: true, what: `concurrent review ${i}` });
			const patched = applyAndValidate(reviews[i], ops, `concurrent review ${i}`, { probeRewrite: stage(i) === "mtls" });
			checkInjected(reviews[i].request.object, patched, { stage: stage(i), ns: `ns-${i}`, ops });
		});
	});

	test("answered in milliseconds: 100 reviews, each on a new TLS connection", T, async () => {
		const times = [];
		const big = rsReview();
		for (let i = 0; i < 2000; i++)
			big.request.object.spec.containers[0].env.push({ name: `VAR_${i}`, value: `v${i}` });
		for (let i = 0; i < 100; i++) {
			const rev = i % 10 === 9 ? big : rsReview();
			const t0 = process.hrtime.bigint();
			const res = await srv.post(i % 2 ? "/mutate/mtls" : "/mutate/traffic", rev);
			times.push(Number(process.hrtime.bigint() - t0) / 1e6);
			assert.equal(res.status, 200);
		}
		times.sort((a, b) => a - b);
		const p50 = times[50];
		const max = times[times.length - 1];
		// Generous bounds (a busy CI machine, TLS handshakes included): the
		// apiserver waits 10 s at most for all its mutating webhooks.
		assert.ok(p50 < 100, `median ${p50.toFixed(1)} ms`);
		assert.ok(max < 2000, `slowest ${max.toFixed(1)} ms`);
	});

	test("GET /healthz and /readyz on the metrics listener: 200", T, async () => {
		for (const path of ["/healthz", "/readyz"]) {
			const r = await httpGet(srv.metricsPort, path);
			assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.body}`);
		}
	});

	test("the serving certificate is checked by name too (servername localhost)", T, async () => {
		const rev = rsReview();
		const res = await srv.post("/mutate/traffic", rev, { servername: "localhost" });
		checkAllowed(rev, res, { expectPatch: true });
	});
});

describe("meshinject serve --config", () => {
	let dir;
	before(() => { dir = mkdtempSync(join(tmpdir(), "meshinject-cfg-")); });
	after(() => { rmSync(dir, { recursive: true, force: true }); });

	test("a config file that changes proxy.image, ports and xdsAddress: the patch follows it", T, async () => {
		const file = join(dir, "meshinject.yaml");
		writeFileSync(file, [
			"# only the keys that change; the rest comes from the embedded default",
			"proxy:",
			"  image: registry.example.com/mesh/envoy:v1.33.1",
			"  ports: {inbound: 15106, status: 15121}",
			"  xdsAddress: istiod.istio-system.svc:15012",
			""].join("\n"));
		const cfg = { ...DEFAULTS, proxyImage: "registry.example.com/mesh/envoy:v1.33.1",
			ports: { ...DEFAULTS.ports, inbound: 15106, status: 15121 }, xds: "istiod.istio-system.svc:15012" };
		const srv = await Server.start({ config: file });
		let err;
		try {
			for (const stage of ["traffic", "mtls"]) {
				const got = await injectAndCheck(srv, `/mutate/${stage}`, rsReview(), { stage, cfg, what: "--config" });
				if (defaultHash)
					assert.notEqual(got.status.configHash, defaultHash, "configHash must change with the config");
			}
		} catch (e) { err = e; }
		const r = await srv.stop();
		if (err) { err.message += `\n${srv.describe()}`; throw err; }
		assert.ok(r.code === 0 && !r.signal, `clean exit on SIGTERM: ${JSON.stringify(r.code)} ${r.signal}\n${srv.describe()}`);
	});

	test("SIGTERM with a review under way: it is answered, then a clean exit", T, async () => {
		const srv = await Server.start();
		const rev = rsReview();
		const b = JSON.stringify(rev);
		const answer = new Promise((resolve, reject) => {
			const sock = tls.connect({ host: "127.0.0.1", port: srv.port, ca: srv.pki.ca });
			let out = "";
			const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answer within 8 s: ${show(out, 300)}`)); }, 8000);
			sock.on("secureConnect", () => {
				sock.write(`POST /mutate/traffic HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\nConnection: close\r\n\r\n${b.slice(0, 500)}`);
				// The rest after SIGTERM has been sent.
				setTimeout(() => { srv.proc.kill("SIGTERM"); setTimeout(() => sock.write(b.slice(500)), 300); }, 200);
			});
			sock.on("data", (d) => { out += d; });
			sock.on("close", () => { clearTimeout(timer); resolve(out); });
			sock.on("error", () => {});
		});
		let text;
		try {
			text = await answer;
		} finally {
			const r = await srv.stop();
			assert.ok(r.code === 0 && !r.signal, `clean exit after SIGTERM: ${JSON.stringify({ code: r.code, signal: r.signal, timedOut: r.timedOut })}\n${srv.describe()}`);
		}
		assert.match(text, /^HTTP\/1\.1 200/, `the review under way when SIGTERM came was not answered: ${show(text, 500)}\n${srv.describe()}`);
		assert.ok(text.includes(rev.request.uid), show(text, 500));
	});

	test("a SEC1 (BEGIN EC PRIVATE KEY) serving key works too", T, async () => {
		const srv = await Server.start({ key: "sec1" });
		let err;
		try {
			const rev = rsReview();
			checkAllowed(rev, await srv.post("/mutate/traffic", rev), { expectPatch: true });
		} catch (e) { err = e; }
		await srv.stop();
		if (err) { err.message += `\n${srv.describe()}`; throw err; }
	});

	test("a bad config file: serve refuses to start and says file:line: key: reason", T, async () => {
		const file = join(dir, "bad.yaml");
		writeFileSync(file, ["proxy:", "  imagee: x", "  uid: -5", "defaultStage: nope", ""].join("\n"));
		const pki = makePki();
		try {
			const r = spawnSync(requireBin(), ["serve", "--config", file, "--tls-cert", pki.cert, "--tls-key", pki.key,
				"--listen", `127.0.0.1:${await freePort()}`, "--metrics-listen", `127.0.0.1:${await freePort()}`], { timeout: 10000, encoding: "utf8" });
			assert.equal(r.error, undefined, `serve did not exit within 10 s on a bad config: ${r.error}`);
			assert.notEqual(r.status, 0, `serve must refuse a bad config; exit ${r.status}, stderr: ${r.stderr}`);
			assert.match(r.stderr, /bad\.yaml:2:.*imagee/, `the unknown key, with file:line, in: ${r.stderr}`);
			assert.match(r.stderr, /bad\.yaml:3:.*uid/, `all problems at once, the bad uid too, in: ${r.stderr}`);
		} finally {
			pki.cleanup();
		}
	});
});
