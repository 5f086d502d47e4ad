// Self-tests of lib/k8s.mjs: the validator and the patch checks must be able
// to fail, or the end-to-end tests prove nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { podErrors, validatePod, applyAddPatch, checkAddOnly, decodePatch, undefinedVarRefs } from "./lib/k8s.mjs";
import { Pod } from "kubernetes-models/v1";

const good = () => ({
	apiVersion: "v1", kind: "Pod",
	metadata: { generateName: "web-7d4b9c8f6-", labels: { app: "web" } },
	spec: {
		containers: [{
			name: "web", image: "nginx:1.27",
			ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
			readinessProbe: { httpGet: { path: "/healthz", port: "http" } },
			resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "128Mi" } },
			volumeMounts: [{ name: "data", mountPath: "/data" }],
		}],
		volumes: [{ name: "data", emptyDir: {} }],
	},
});

function mustFail(name, mutate, pattern) {
	test(`validator refuses: ${name}`, () => {
		const p = good();
		mutate(p);
		const errs = podErrors(p);
		assert.ok(errs.length > 0, `expected ${name} to be invalid`);
		if (pattern)
			assert.match(errs.join("\n"), pattern);
		assert.throws(() => validatePod(p));
	});
}

test("validator accepts a good pod", () => {
	assert.deepEqual(podErrors(good()), []);
});

test("kubernetes-models alone accepts unknown fields (why lib/k8s adds a strict check)", () => {
	// If this starts failing, kubernetes-models became strict; the
	// extra walk in lib/k8s.mjs is then redundant but harmless.
	const p = good();
	p.spec.containers[0].imagee = "x";
	assert.doesNotThrow(() => new Pod(p).validate());
});

mustFail("unknown container field imagee", (p) => { p.spec.containers[0].imagee = "nginx"; }, /unknown field \/spec\/containers\/0\/imagee/);
mustFail("unknown spec field", (p) => { p.spec.hostNetworkk = true; }, /unknown field \/spec\/hostNetworkk/);
mustFail("unknown top-level field", (p) => { p.specc = {}; }, /unknown field \/specc/);
mustFail("unknown field in a projected token source", (p) => {
	p.spec.volumes.push({ name: "tok", projected: { sources: [{ serviceAccountToken: { path: "t", audiance: "mesh" } }] } });
}, /audiance/);
mustFail("unknown field in securityContext.capabilities", (p) => {
	p.spec.containers[0].securityContext = { capabilities: { drop: ["ALL"], addd: ["NET_ADMIN"] } };
}, /addd/);
mustFail("containerPort as a string", (p) => { p.spec.containers[0].ports[0].containerPort = "80"; }, /containerPort must be integer/);
mustFail("runAsUser as a string", (p) => { p.spec.containers[0].securityContext = { runAsUser: "1337" }; }, /runAsUser must be integer/);
mustFail("env value as a number", (p) => { p.spec.containers[0].env = [{ name: "A", value: 1 }]; }, /value must be string/);
mustFail("annotation value as a boolean", (p) => { p.metadata.annotations = { "meshinject.io/inject": false }; }, /must be string/);
mustFail("args not strings", (p) => { p.spec.containers[0].args = ["--x", 1]; });
mustFail("a container without a name", (p) => { delete p.spec.containers[0].name; }, /name/);
mustFail("containers as an object", (p) => { p.spec.containers = { name: "x" }; });
mustFail("duplicate container names", (p) => { p.spec.containers.push({ name: "web", image: "x" }); }, /Duplicate/);
mustFail("init and app container with the same name", (p) => { p.spec.initContainers = [{ name: "web", image: "x" }]; }, /Duplicate/);
mustFail("mount of a volume that does not exist", (p) => { p.spec.containers[0].volumeMounts.push({ name: "mesh-nope", mountPath: "/x" }); }, /Not found/);
mustFail("duplicate volume names", (p) => { p.spec.volumes.push({ name: "data", emptyDir: {} }); }, /Duplicate/);
mustFail("a volume with two sources", (p) => { p.spec.volumes[0].secret = { secretName: "s" }; }, /exactly one volume source/);
mustFail("a volume name that is not a DNS label", (p) => { p.spec.volumes.push({ name: "Mesh_Certs", emptyDir: {} }); }, /DNS-1123/);
mustFail("a port name longer than 15", (p) => { p.spec.containers[0].ports[0].name = "http-envoy-prometheus"; }, /IANA_SVC_NAME/);
mustFail("a bad fieldRef path", (p) => { p.spec.containers[0].env = [{ name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIp" } } }]; }, /fieldPath/);
mustFail("a bad quantity", (p) => { p.spec.containers[0].resources.limits.memory = "512MB"; }, /quantity/);
mustFail("requests above limits", (p) => { p.spec.containers[0].resources.requests.memory = "1Gi"; }, /less than or equal/);
mustFail("a probe with two handlers", (p) => { p.spec.containers[0].readinessProbe.tcpSocket = { port: 8080 }; }, /exactly one handler/);
mustFail("restartPolicy on an app container", (p) => { p.spec.containers[0].restartPolicy = "Always"; }, /restartPolicy/);
mustFail("a probe on a plain init container", (p) => { p.spec.initContainers = [{ name: "i", image: "x", readinessProbe: { tcpSocket: { port: 1 } } }]; }, /init containers/);
mustFail("a short serviceAccountToken expiry", (p) => {
	p.spec.volumes.push({ name: "tok", projected: { sources: [{ serviceAccountToken: { path: "t", audience: "mesh", expirationSeconds: 60 } }] } });
}, /600/);

test("patch: add ops apply, others are refused", () => {
	const p = good();
	const out = applyAddPatch(p, [{ op: "add", path: "/metadata/annotations", value: { "a/b~c": "1" } },
		{ op: "add", path: "/spec/initContainers", value: [] },
		{ op: "add", path: "/spec/initContainers/0", value: { name: "mesh-init", image: "x" } }]);
	assert.equal(out.spec.initContainers[0].name, "mesh-init");
	assert.equal(out.metadata.annotations["a/b~c"], "1");
	assert.equal(p.spec.initContainers, undefined, "the original is not touched");
	assert.throws(() => applyAddPatch(p, [{ op: "replace", path: "/spec/containers/0/image", value: "x" }]), /not "add"/);
	assert.throws(() => applyAddPatch(p, [{ op: "remove", path: "/spec/volumes/0" }]), /not "add"/);
	assert.throws(() => applyAddPatch(p, [{ op: "add", path: "/spec/volumes", value: [{ name: "mesh-x", emptyDir: {} }] }]), /replaces the user's value/);
	assert.throws(() => applyAddPatch(p, [{ op: "add", path: "/metadata/labels", value: {} }]), /replaces/);
	assert.throws(() => applyAddPatch(p, [{ op: "add", path: "/metadata/annotations/x", value: "1" }]), /does not apply/);
	assert.throws(() => applyAddPatch(p, [{ op: "add", path: "/spec/containers/5", value: {} }]), /does not apply/);
	// An add onto null or an empty array is creating, not replacing.
	const q = good();
	q.spec.volumes = null;
	q.spec.initContainers = [];
	assert.deepEqual(checkAddOnly([{ op: "add", path: "/spec/volumes", value: [] },
		{ op: "add", path: "/spec/initContainers", value: [{ name: "a", image: "b" }] }], q), []);
});

test("patch: base64 decoding is strict", () => {
	const b64 = Buffer.from(JSON.stringify([{ op: "add", path: "/a", value: 1 }])).toString("base64");
	assert.equal(decodePatch(b64).length, 1);
	assert.throws(() => decodePatch(b64.replace(/=+$/, "") + "%"), /base64/);
	assert.throws(() => decodePatch(Buffer.from("{}").toString("base64")), /array/);
	assert.throws(() => decodePatch(null), /base64/);
});

test("$(VAR) references the kubelet cannot expand", () => {
	const c = { env: [{ name: "POD_NAME", value: "x" }] };
	assert.deepEqual(undefinedVarRefs(c, "sidecar~$(POD_IP)~$(POD_NAME)~$$(LIT)"), ["POD_IP"]);
});
