// k8s.mjs - an independent check of what the webhook returns: the JSON patch
// applied with fast-json-patch (RFC 6902) after checking it is only `add`
// operations, and the patched pod validated against the Kubernetes API models
// (kubernetes-models' schemas for types and required fields; the
// @kubernetes/client-node model attribute maps to reject unknown fields,
// which kubernetes-models' schemas accept; plus the apiserver's own checks
// that a webhook's patch most easily breaks).
import fjp from "fast-json-patch";
import * as k8sClient from "@kubernetes/client-node";
import { Pod } from "kubernetes-models/v1";

export const deepClone = (v) => (v === undefined ? undefined : structuredClone(v));

// ---- the patch -----------------------------------------------------------

function unescapePointer(tok) {
	return tok.replace(/~1/g, "/").replace(/~0/g, "~");
}

// Resolve a JSON pointer in doc: { found, value, parent, key }.
export function resolvePointer(doc, pointer) {
	if (pointer === "")
		return { found: true, value: doc };
	const toks = pointer.split("/").slice(1).map(unescapePointer);
	let cur = doc;
	for (let i = 0; i < toks.length - 1; i++) {
		if (cur === null || typeof cur !== "object" || !(toks[i] in cur))
			return { found: false };
		cur = cur[toks[i]];
	}
	const key = toks[toks.length - 1];
	if (cur === null || typeof cur !== "object")
		return { found: false };
	return { found: Object.prototype.hasOwnProperty.call(cur, key), value: cur[key], parent: cur, key };
}

// Decode the base64 patch of an AdmissionReview response; throws with a
// reason on anything that is not a JSON array of operations.
export function decodePatch(b64) {
	if (typeof b64 !== "string")
		throw new Error(`response.patch is ${typeof b64}, not a base64 string`);
	if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
		throw new Error("response.patch is not standard padded base64 (RFC 4648 section 4)");
	const text = Buffer.from(b64, "base64").toString("utf8");
	let ops;
	try {
		ops = JSON.parse(text);
	} catch (e) {
		throw new Error(`decoded patch is not JSON: ${e.message}: ${text.slice(0, 200)}`);
	}
	if (!Array.isArray(ops))
		throw new Error(`decoded patch is not a JSON array: ${text.slice(0, 200)}`);
	return ops;
}

// The contract: only `add` operations, built against the object as received,
// and never replacing a user's value. An `add` to an object member that
// already exists replaces it, which is allowed only where the member held
// nothing (null, [] or {}); adds into arrays insert and are fine.
// Returns a list of problems (empty when the patch keeps to the contract).
// opts.mayReplace: a RegExp of paths where replacing a value is allowed
// (probes under probe-rewrite).
export function checkAddOnly(ops, original, opts = {}) {
	const problems = [];
	// Track the document as the ops apply, since later ops may target
	// what earlier ones created.
	let doc = deepClone(original);
	ops.forEach((op, i) => {
		if (op === null || typeof op !== "object") {
			problems.push(`op ${i} is not an object`);
			return;
		}
		const extra = Object.keys(op).filter((k) => !["op", "path", "value"].includes(k));
		if (op.op !== "add")
			problems.push(`op ${i} is ${JSON.stringify(op.op)} on ${op.path}, not "add"`);
		if (typeof op.path !== "string" || (op.path !== "" && !op.path.startsWith("/")))
			problems.push(`op ${i} has a bad path ${JSON.stringify(op.path)}`);
		if (!("value" in op))
			problems.push(`op ${i} (${op.path}) has no value`);
		if (extra.length)
			problems.push(`op ${i} (${op.path}) has unexpected members ${extra.join(", ")}`);
		if (op.op !== "add" || typeof op.path !== "string")
			return;
		const r = resolvePointer(doc, op.path);
		if (r.found && r.parent && !Array.isArray(r.parent)) {
			const v = r.value;
			const empty = v === null || (Array.isArray(v) && v.length === 0) ||
			    (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);
			if (!empty && !(opts.mayReplace && opts.mayReplace.test(op.path)))
				problems.push(`op ${i} adds ${op.path}, which exists with ${JSON.stringify(v).slice(0, 120)}: an add there replaces the user's value`);
		}
		try {
			doc = fjp.applyPatch(doc, [op], true, true).newDocument;
		} catch (e) {
			problems.push(`op ${i} (${op.op} ${op.path}) does not apply: ${e.name}: ${e.message.split("\n")[0]}`);
		}
	});
	return problems;
}

// Apply ops to a deep copy of doc with validation on; throws on any error.
export function applyPatch(doc, ops) {
	const copy = deepClone(doc);
	const res = fjp.applyPatch(copy, ops, /* validateOperation */ true, /* mutateDocument */ true);
	return res.newDocument;
}

// Check the patch keeps to the contract, then apply it. Throws an Error
// listing every problem.
export function applyAddPatch(doc, ops, opts = {}) {
	const problems = checkAddOnly(ops, doc, opts);
	if (problems.length)
		throw new Error(`patch breaks the add-only contract:\n  ${problems.join("\n  ")}`);
	return applyPatch(doc, ops);
}

// ---- validation ----------------------------------------------------------

// kubernetes-models: types, formats, required fields (but it accepts
// unknown fields, see tests/e2e/k8slib.test.mjs).
function modelErrors(pod) {
	try {
		new Pod(deepClone(pod)).validate();
		return [];
	} catch (e) {
		return String(e.message).split(/, (?=data\/)/).map((s) => `schema: ${s}`);
	}
}

// Unknown fields: walk the object along the client-node model attribute
// maps (generated from the same OpenAPI spec), refusing any key the model
// does not define. Types are left to kubernetes-models.
function unknownFieldErrors(value, type, path, out) {
	if (value === null || value === undefined)
		return;
	let m;
	if ((m = /^Array<(.+)>$/.exec(type))) {
		if (Array.isArray(value))
			value.forEach((v, i) => unknownFieldErrors(v, m[1], `${path}/${i}`, out));
		return;
	}
	if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
		if (value && typeof value === "object" && !Array.isArray(value))
			for (const [k, v] of Object.entries(value))
				unknownFieldErrors(v, m[1], `${path}/${k}`, out);
		return;
	}
	const model = k8sClient[type];
	if (typeof model !== "function" || typeof model.getAttributeTypeMap !== "function")
		return;		// string, number, boolean, Date, any, IntOrString, ...
	if (typeof value !== "object" || Array.isArray(value))
		return;		// a wrong type: kubernetes-models reports it
	const attrs = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
	for (const [k, v] of Object.entries(value)) {
		if (!attrs.has(k)) {
			out.push(`unknown field ${path}/${k} (not in ${type})`);
			continue;
		}
		unknownFieldErrors(v, attrs.get(k), `${path}/${k}`, out);
	}
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?=[a-z0-9]))*$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;
const FIELD_PATHS = new Set(["metadata.name", "metadata.namespace", "metadata.uid",
	"spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
	"status.podIP", "status.podIPs"]);
const VOLUME_SOURCES = ["hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore",
	"gitRepo", "secret", "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd",
	"flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc", "azureFile",
	"configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
	"projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image"];

function parseQuantity(q) {
	const s = String(q);
	const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.exec(s);
	if (!m)
		return NaN;
	const mult = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
		n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
	let n = Number(m[1]);
	if (m[2] && /^[eE]/.test(m[2]))
		n *= 10 ** Number(m[2].slice(1));
	else if (m[2])
		n *= mult[m[2]];
	return n;
}

// Some of kube-apiserver's pod validation (ValidatePodCreate), the parts
// that an injected container or volume most easily gets wrong.
function apiserverErrors(pod) {
	const out = [];
	const spec = pod?.spec ?? {};
	const containers = spec.containers ?? [];
	const inits = spec.initContainers ?? [];
	const volumes = spec.volumes ?? [];
	if (!Array.isArray(containers) || containers.length === 0)
		out.push("spec.containers: Required value");
	const volNames = new Set();
	volumes.forEach((v, i) => {
		const p = `spec.volumes[${i}]`;
		if (!v || typeof v.name !== "string" || !DNS1123_LABEL.test(v.name) || v.name.length > 63)
			out.push(`${p}.name: Invalid value ${JSON.stringify(v?.name)}: must be a DNS-1123 label`);
		else if (volNames.has(v.name))
			out.push(`${p}.name: Duplicate value ${JSON.stringify(v.name)}`);
		volNames.add(v?.name);
		const sources = VOLUME_SOURCES.filter((s) => v && v[s] !== undefined && v[s] !== null);
		if (sources.length !== 1)
			out.push(`${p}: must specify exactly one volume source, has ${sources.length} (${sources.join(", ")})`);
		for (const [j, src] of (v?.projected?.sources ?? []).entries()) {
			const t = src?.serviceAccountToken;
			if (!t)
				continue;
			if (typeof t.path !== "string" || t.path === "" || t.path.startsWith("/") || t.path.split("/").includes(".."))
				out.push(`${p}.projected.sources[${j}].serviceAccountToken.path: Invalid value ${JSON.stringify(t.path)}`);
			if (t.expirationSeconds !== undefined && (t.expirationSeconds < 600 || t.expirationSeconds > 2 ** 32))
				out.push(`${p}.projected.sources[${j}].serviceAccountToken.expirationSeconds: must be at least 600 (10 minutes)`);
		}
	});
	const names = new Set();
	const all = [...inits.map((c, i) => [c, `spec.initContainers[${i}]`, true]),
		...containers.map((c, i) => [c, `spec.containers[${i}]`, false])];
	for (const [c, p, isInit] of all) {
		if (!c || typeof c !== "object") {
			out.push(`${p}: not an object`);
			continue;
		}
		if (typeof c.name !== "string" || !DNS1123_LABEL.test(c.name) || c.name.length > 63)
			out.push(`${p}.name: Invalid value ${JSON.stringify(c.name)}: must be a DNS-1123 label`);
		else if (names.has(c.name))
			out.push(`${p}.name: Duplicate value ${JSON.stringify(c.name)}`);
		names.add(c.name);
		if (typeof c.image !== "string" || c.image.trim() === "")
			out.push(`${p}.image: Required value`);
		if (c.restartPolicy !== undefined && c.restartPolicy !== null &&
		    !(isInit && c.restartPolicy === "Always"))
			out.push(`${p}.restartPolicy: Unsupported value ${JSON.stringify(c.restartPolicy)}`);
		const portNames = new Set();
		(c.ports ?? []).forEach((pt, j) => {
			if (!Number.isInteger(pt?.containerPort) || pt.containerPort < 1 || pt.containerPort > 65535)
				out.push(`${p}.ports[${j}].containerPort: Invalid value ${JSON.stringify(pt?.containerPort)}`);
			if (pt?.name !== undefined) {
				if (typeof pt.name !== "string" || pt.name.length > 15 || !IANA_SVC_NAME.test(pt.name))
					out.push(`${p}.ports[${j}].name: Invalid value ${JSON.stringify(pt.name)}: must be an IANA_SVC_NAME (at most 15 characters, a-z0-9 and -)`);
				else if (portNames.has(pt.name))
					out.push(`${p}.ports[${j}].name: Duplicate value ${JSON.stringify(pt.name)}`);
				portNames.add(pt.name);
			}
			if (pt?.protocol !== undefined && !["TCP", "UDP", "SCTP"].includes(pt.protocol))
				out.push(`${p}.ports[${j}].protocol: Unsupported value ${JSON.stringify(pt.protocol)}`);
		});
		const envNames = new Set();
		(c.env ?? []).forEach((e, j) => {
			if (typeof e?.name !== "string" || e.name === "" || e.name.includes("="))
				out.push(`${p}.env[${j}].name: Invalid value ${JSON.stringify(e?.name)}`);
			const src = e?.valueFrom;
			if (src && e.value !== undefined && e.value !== "")
				out.push(`${p}.env[${j}]: may not have both value and valueFrom`);
			if (src) {
				const kinds = ["fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef"].filter((k) => src[k]);
				if (kinds.length !== 1)
					out.push(`${p}.env[${j}].valueFrom: must have exactly one source`);
				const fp = src.fieldRef?.fieldPath;
				if (src.fieldRef && !(FIELD_PATHS.has(fp) || /^metadata\.(labels|annotations)\['[^']+'\]$/.test(fp)))
					out.push(`${p}.env[${j}].valueFrom.fieldRef.fieldPath: Unsupported value ${JSON.stringify(fp)}`);
			}
			envNames.add(e?.name);
		});
		const mountPaths = new Set();
		(c.volumeMounts ?? []).forEach((vm, j) => {
			if (!volNames.has(vm?.name))
				out.push(`${p}.volumeMounts[${j}].name: Not found: ${JSON.stringify(vm?.name)} (no such volume)`);
			if (typeof vm?.mountPath !== "string" || vm.mountPath === "")
				out.push(`${p}.volumeMounts[${j}].mountPath: Required value`);
			else if (mountPaths.has(vm.mountPath))
				out.push(`${p}.volumeMounts[${j}].mountPath: Invalid value ${JSON.stringify(vm.mountPath)}: must be unique`);
			mountPaths.add(vm?.mountPath);
		});
		for (const kind of ["requests", "limits"]) {
			for (const [k, v] of Object.entries(c.resources?.[kind] ?? {})) {
				if (!QUANTITY.test(String(v)))
					out.push(`${p}.resources.${kind}.${k}: Invalid value ${JSON.stringify(v)}: not a quantity`);
			}
		}
		for (const [k, v] of Object.entries(c.resources?.requests ?? {})) {
			const lim = c.resources?.limits?.[k];
			if (lim !== undefined && parseQuantity(v) > parseQuantity(lim))
				out.push(`${p}.resources.requests.${k}: Invalid value ${JSON.stringify(v)}: must be less than or equal to ${k} limit ${JSON.stringify(lim)}`);
		}
		for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
			const pr = c[probe];
			if (!pr)
				continue;
			const handlers = ["exec", "httpGet", "tcpSocket", "grpc"].filter((h) => pr[h]);
			if (handlers.length !== 1)
				out.push(`${p}.${probe}: must specify exactly one handler, has ${handlers.length}`);
			const port = pr.httpGet?.port ?? pr.tcpSocket?.port;
			if (typeof port === "number" && (port < 1 || port > 65535))
				out.push(`${p}.${probe}: port ${port} out of range`);
			if (typeof port === "string" && !(c.ports ?? []).some((pt) => pt.name === port) && !/^\d+$/.test(port))
				out.push(`${p}.${probe}: named port ${JSON.stringify(port)} is not a port of the container`);
			if (isInit && c.restartPolicy !== "Always")
				out.push(`${p}.${probe}: may not be set for init containers without restartPolicy: Always`);
		}
		for (const [k, v] of [...(c.command ?? []), ...(c.args ?? [])].entries())
			if (typeof v !== "string")
				out.push(`${p}: command/args[${k}] is not a string`);
	}
	return out;
}

// All problems with a pod as kube-apiserver would see it: [] when valid.
// opts.all: run the apiserver checks even when the schema checks failed.
export function podErrors(pod, opts = {}) {
	const out = [...modelErrors(pod)];
	unknownFieldErrors(pod, "V1Pod", "", out);
	if (out.length === 0 || opts.all) {
		try {
			out.push(...apiserverErrors(pod));
		} catch (e) {
			out.push(`apiserver checks could not run: ${e.message}`);
		}
	}
	return out;
}

// Throw when the pod is not valid.
export function validatePod(pod, what = "pod") {
	const errs = podErrors(pod);
	if (errs.length)
		throw new Error(`${what} is not a valid Pod:\n  ${errs.join("\n  ")}`);
	return pod;
}

// ---- Kubernetes semantics the assertions need ----------------------------

// The effective securityContext value of a container: its own, else the
// pod's (for the fields that exist at both levels).
export function effectiveSecurity(pod, c, field) {
	const own = c?.securityContext?.[field];
	if (own !== undefined && own !== null)
		return own;
	return pod?.spec?.securityContext?.[field];
}

// The $(VAR) references in a command or arg that the kubelet cannot expand
// because the container defines no such env var (it then passes the text
// through literally).
export function undefinedVarRefs(c, text) {
	const defined = new Set((c.env ?? []).map((e) => e.name));
	const missing = [];
	// $$ escapes a literal $.
	const re = /\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g;
	let m;
	while ((m = re.exec(text)))
		if (m[1] && !defined.has(m[1]))
			missing.push(m[1]);
	return missing;
}
