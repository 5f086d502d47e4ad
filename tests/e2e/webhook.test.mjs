// The webhook core end to end (issue 2): the real binary over real HTTPS,
// every patch applied with fast-json-patch and the result validated against
// the Kubernetes API models; reinvocation gives no patch.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, requireBin, freePort } from "./lib/server.mjs";
import { makePki } from "./lib/pki.mjs";
import { rsReview, rsPod, namedPod, makeReview, V1, V1BETA1 } from "./lib/reviews.mjs";
import { DEFAULTS, checkAllowed, applyAndValidate, checkInjected, show } from "./lib/mesh.mjs";
import { deepClone } from "./lib/k8s.mjs";

const T = { timeout: 30000 };
let defaultHash;

// POST the review, expect a patch, apply and validate it, check the mesh,
// then send the patched pod again and expect no patch.
async function injectAndCheck(srv, path, review, { stage, cfg = DEFAULTS, what = "" } = {}) {
	const label = `${what} POST ${path}`;
	const res = await srv.post(path, review);
	const ops = checkAllowed(review, res, { expectPatch: true, what: label });
	const patched = applyAndValidate(review, ops, label, { probeRewrite: stage === "mtls" });
	const ns = review.request.namespace;
	const got = checkInjected(review.request.object, patched, { stage, cfg, ns, ops });
	const again = deepClone(review);
	again.request.object = patched;
	again.request.uid = `${review.request.uid.slice(0, 30)}-again`;
	const res2 = await srv.post(path, again);
	checkAllowed(again, res2, { expectPatch: false, what: `${label} (reinvocation with the patched pod)` });
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
	"two app containers and a named pod with its namespace": () => {
		const pod = namedPod("checkout-0");
		pod.spec.containers.push({ name: "metrics", image: "registry.example.com/exporter:1.0",
			ports: [{ name: "metrics", containerPort: 9100, protocol: "TCP" }] });
		return makeReview(pod, { name: "checkout-0" });
	},
};

describe("meshinject serve, embedded default config", () => {
	let srv;
	before(async () => { srv = await Server.start(); });
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
		const got = await injectAndCheck(srv, "/mutate/traffic", rev, { stage: "traffic" });
		const id = JSON.stringify(got.proxy.args ?? []) + JSON.stringify(got.proxy.command ?? []);
		assert.ok(!id.includes('"shop'), "no trace of another namespace");
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
