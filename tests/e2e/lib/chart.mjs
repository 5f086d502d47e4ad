// chart.mjs - render charts/meshinject the way a user does, with the real
// helm (v4, built from source by `tests/tools/build.sh helm` into
// .tools/bin/), parse the output as kubectl does (YAML 1.1), and validate
// every object strictly: kubernetes-models for types, formats and required
// fields, the client-node model attribute maps for unknown fields,
// hand-written structural checks for the cert-manager and Prometheus
// Operator kinds, and the apiserver rules the chart could break (webhook
// names, paths, selectors).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import YAML from "yaml";
import * as k8sClient from "@kubernetes/client-node";
import { ServiceAccount, ConfigMap, Secret, Service, Namespace } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import {
	MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
	ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
} from "kubernetes-models/admissionregistration.k8s.io/v1";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const CHART = join(REPO, "charts/meshinject");

// ajv is what kubernetes-models validates with (@kubernetes-models/validate
// depends on it); loaded from there so that package.json needs no new entry.
const require = createRequire(import.meta.url);
let Ajv;
try {
	Ajv = require("ajv");
} catch {
	Ajv = createRequire(require.resolve("@kubernetes-models/validate")).require("ajv");
}
Ajv = Ajv.default ?? Ajv;

// ---- helm --------------------------------------------------------------------

const TOOLS = process.env.MESHINJECT_TOOLS || join(REPO, ".tools");
let helmPath;

// The real helm: tests/tools/build.sh builds it once (pinned, from the Go
// module proxy; a no-op when built) and the path is .tools/bin/helm. Throws
// with the reason when it cannot be had.
export function helm() {
	if (helmPath)
		return helmPath;
	const r = spawnSync(join(REPO, "tests/tools/build.sh"), ["helm"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
	const bin = join(TOOLS, "bin/helm");
	if (r.error || r.status !== 0 || !existsSync(bin))
		throw new Error(`helm is needed to render the chart and tests/tools/build.sh helm failed ` +
		    `(${r.error?.message ?? `exit ${r.status}`}): run \`make tools\`\n${r.stderr ?? ""}`);
	helmPath = bin;
	return bin;
}

// helm's own config, cache and data go to a folder of this process, not to
// $HOME: the tests read nothing from a user's helm setup.
let helmHome;
function helmEnv() {
	if (!helmHome) {
		helmHome = mkdtempSync(join(tmpdir(), "meshinject-helm-"));
		process.on("exit", () => rmSync(helmHome, { recursive: true, force: true }));
	}
	return { ...process.env, HELM_CONFIG_HOME: join(helmHome, "config"), HELM_CACHE_HOME: join(helmHome, "cache"),
		HELM_DATA_HOME: join(helmHome, "data"), HELM_KUBECONTEXT: "", KUBECONFIG: join(helmHome, "no-kubeconfig") };
}

// Run helm with args: { status, stdout, stderr, what }.
export function runHelm(args) {
	const r = spawnSync(helm(), args, { encoding: "utf8", env: helmEnv(), maxBuffer: 64 << 20, timeout: 120000 });
	if (r.error)
		throw r.error;
	return { status: r.status, stdout: r.stdout, stderr: r.stderr, what: `helm ${args.join(" ")}: exit ${r.status}\n${r.stderr}` };
}

// The value flags of render options: -f FILE..., --set K=V...
function valueArgs(opts) {
	return [...(opts.values ?? []).flatMap((f) => ["-f", f]),
		...Object.entries(opts.set ?? {}).flatMap(([k, v]) => ["--set", `${k}=${v}`])];
}

// `helm lint --strict` of the chart with these values: { status, stdout, stderr, what }.
export function lint(opts = {}) {
	return runHelm(["lint", "--strict", opts.chart ?? CHART, "--namespace", opts.namespace ?? "meshinject-system", ...valueArgs(opts)]);
}

// ---- values, as helm computes them -----------------------------------------

function readYamlMap(path) {
	const v = YAML.parse(readFileSync(path, "utf8"), { version: "1.1" });
	return v && typeof v === "object" ? v : {};
}

// Helm's coalescing: maps merge key by key, null deletes.
function merge(dst, src) {
	for (const [k, v] of Object.entries(src)) {
		if (v && typeof v === "object" && !Array.isArray(v) &&
		    dst[k] && typeof dst[k] === "object" && !Array.isArray(dst[k])) {
			dst[k] = merge(dst[k], v);
		} else if (v === null) {
			delete dst[k];
		} else {
			dst[k] = v;
		}
	}
	return dst;
}

// --set typing: true/false/null and integers are typed, the rest strings.
function typed(v) {
	if (v === "true") return true;
	if (v === "false") return false;
	if (v === "null") return null;
	if (/^[-+]?\d+$/.test(v) && Number.isSafeInteger(Number(v))) return Number(v);
	return v;
}

export function mergedValues({ chart = CHART, values = [], set = {} } = {}) {
	const vals = existsSync(join(chart, "values.yaml")) ? readYamlMap(join(chart, "values.yaml")) : {};
	for (const f of values)
		merge(vals, readYamlMap(f));
	for (const [key, raw] of Object.entries(set)) {
		const keys = key.split(".");
		let m = vals;
		for (const k of keys.slice(0, -1)) {
			if (!m[k] || typeof m[k] !== "object" || Array.isArray(m[k]))
				m[k] = {};
			m = m[k];
		}
		const v = typed(String(raw));
		if (v === null)
			delete m[keys.at(-1)];
		else
			m[keys.at(-1)] = v;
	}
	return vals;
}

const schemaValidators = new Map();
// values.schema.json errors for these values ([] when valid), as helm
// reports them before rendering.
export function schemaErrors(vals, chart = CHART) {
	const path = join(chart, "values.schema.json");
	if (!existsSync(path))
		return [];
	let validate = schemaValidators.get(path);
	if (!validate) {
		const ajv = new Ajv({ allErrors: true, strict: false });
		validate = ajv.compile(JSON.parse(readFileSync(path, "utf8")));
		schemaValidators.set(path, validate);
	}
	if (validate(vals))
		return [];
	return validate.errors.map((e) => `${e.instancePath || "/"}: ${e.message}${e.params && Object.keys(e.params).length ? " " + JSON.stringify(e.params) : ""}`);
}

// ---- rendering -------------------------------------------------------------

export class RenderError extends Error {}

// Render the chart with `helm template`. opts: { chart, name, namespace,
// values: [files], set: {key: value}, apiVersions: [] }. Returns the
// manifest text; throws RenderError (with helm's message, schema errors
// included) when rendering fails.
export function renderText(opts = {}) {
	const args = ["template", opts.name ?? "meshinject", opts.chart ?? CHART, "--namespace", opts.namespace ?? "meshinject-system",
		...valueArgs(opts), ...(opts.apiVersions ?? []).flatMap((a) => ["--api-versions", a])];
	const r = runHelm(args);
	if (r.status !== 0)
		throw new RenderError(`helm ${args.join(" ")} failed:\n${r.stderr}`);
	return r.stdout;
}

// Parse a multi-document manifest as kubectl does (YAML 1.1: `off` is a
// boolean, 0440 octal). Empty documents are dropped.
export function parseManifests(text) {
	const docs = YAML.parseAllDocuments(text, { version: "1.1" });
	const out = [];
	for (const d of docs) {
		if (d.errors.length)
			throw new Error(`YAML error: ${d.errors.map((e) => e.message).join("; ")}`);
		const v = d.toJS({ maxAliasCount: 100 });
		if (v !== null && v !== undefined)
			out.push(v);
	}
	return out;
}

// Render and parse: a list of objects.
export function render(opts = {}) {
	return parseManifests(renderText(opts));
}

export const find = (objs, kind, name) => objs.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
export const one = (objs, kind, name) => {
	const found = find(objs, kind, name);
	if (found.length !== 1)
		throw new Error(`expected exactly one ${kind}${name ? " " + name : ""}, found ${found.length}: ${objs.map((o) => `${o.kind}/${o.metadata?.name}`).join(", ")}`);
	return found[0];
};

// ---- validation ------------------------------------------------------------

const MODELS = {
	"v1/ServiceAccount": [ServiceAccount, "V1ServiceAccount"],
	"v1/ConfigMap": [ConfigMap, "V1ConfigMap"],
	"v1/Secret": [Secret, "V1Secret"],
	"v1/Service": [Service, "V1Service"],
	"v1/Namespace": [Namespace, "V1Namespace"],
	"apps/v1/Deployment": [Deployment, "V1Deployment"],
	"policy/v1/PodDisruptionBudget": [PodDisruptionBudget, "V1PodDisruptionBudget"],
	"networking.k8s.io/v1/NetworkPolicy": [NetworkPolicy, "V1NetworkPolicy"],
	"admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": [MutatingWebhookConfiguration, "V1MutatingWebhookConfiguration"],
	"admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": [ValidatingWebhookConfiguration, "V1ValidatingWebhookConfiguration"],
	"admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy": [ValidatingAdmissionPolicy, "V1ValidatingAdmissionPolicy"],
	"admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding": [ValidatingAdmissionPolicyBinding, "V1ValidatingAdmissionPolicyBinding"],
};

// Refuse keys the model does not define, walking the client-node attribute
// maps (generated from the same OpenAPI spec as kubernetes-models).
export function unknownFields(value, type, path = "", out = []) {
	if (value === null || value === undefined)
		return out;
	let m;
	if ((m = /^Array<(.+)>$/.exec(type))) {
		if (Array.isArray(value))
			value.forEach((v, i) => unknownFields(v, m[1], `${path}/${i}`, out));
		return out;
	}
	if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
		if (typeof value === "object" && !Array.isArray(value))
			for (const [k, v] of Object.entries(value))
				unknownFields(v, m[1], `${path}/${k}`, out);
		return out;
	}
	const model = k8sClient[type];
	if (typeof model !== "function" || typeof model.getAttributeTypeMap !== "function")
		return out;	// string, number, boolean, Date, IntOrString, any
	if (typeof value !== "object" || Array.isArray(value))
		return out;	// a wrong type: kubernetes-models reports it
	const attrs = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
	for (const [k, v] of Object.entries(value)) {
		if (!attrs.has(k))
			out.push(`${path}/${k}: unknown field (not in ${type})`);
		else
			unknownFields(v, attrs.get(k), `${path}/${k}`, out);
	}
	return out;
}

// A small structural schema language for the CRDs (cert-manager,
// ServiceMonitor) that kubernetes-models does not know: {type, props,
// required, items, values, enum, oneOf}.
const str = { type: "string" };
const bool = { type: "boolean" };
const int = { type: "integer" };
const strMap = { type: "object", values: str };
const labelSelector = { type: "object", props: { matchLabels: strMap, matchExpressions: { type: "array", items: { type: "object", required: ["key", "operator"], props: { key: str, operator: { type: "string", enum: ["In", "NotIn", "Exists", "DoesNotExist"] }, values: { type: "array", items: str } } } } } };
const objectMeta = { type: "object", required: ["name"], props: { name: str, namespace: str, labels: strMap, annotations: strMap } };
const duration = { type: "string", pattern: /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/ };
const issuerRef = { type: "object", required: ["name"], props: { name: str, kind: { type: "string", enum: ["Issuer", "ClusterIssuer"] }, group: str } };
const CRDS = {
	"cert-manager.io/v1/Issuer": { type: "object", required: ["apiVersion", "kind", "metadata", "spec"], props: {
		apiVersion: str, kind: str, metadata: objectMeta,
		spec: { type: "object", oneOf: ["selfSigned", "ca", "acme", "vault", "venafi"], props: {
			selfSigned: { type: "object", props: { crlDistributionPoints: { type: "array", items: str } } },
			ca: { type: "object", required: ["secretName"], props: { secretName: str, crlDistributionPoints: { type: "array", items: str }, ocspServers: { type: "array", items: str } } } } } } },
	"cert-manager.io/v1/Certificate": { type: "object", required: ["apiVersion", "kind", "metadata", "spec"], props: {
		apiVersion: str, kind: str, metadata: objectMeta,
		spec: { type: "object", required: ["secretName", "issuerRef"], props: {
			secretName: str, commonName: str, isCA: bool, duration, renewBefore: duration,
			dnsNames: { type: "array", items: str }, ipAddresses: { type: "array", items: str },
			usages: { type: "array", items: { type: "string", enum: ["signing", "digital signature", "content commitment", "key encipherment", "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth", "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"] } },
			privateKey: { type: "object", props: { algorithm: { type: "string", enum: ["RSA", "ECDSA", "Ed25519"] }, size: int, encoding: { type: "string", enum: ["PKCS1", "PKCS8"] }, rotationPolicy: { type: "string", enum: ["Never", "Always"] } } },
			issuerRef,
			secretTemplate: { type: "object", props: { labels: strMap, annotations: strMap } } } } } },
	"monitoring.coreos.com/v1/ServiceMonitor": { type: "object", required: ["apiVersion", "kind", "metadata", "spec"], props: {
		apiVersion: str, kind: str, metadata: objectMeta,
		spec: { type: "object", required: ["selector", "endpoints"], props: {
			selector: labelSelector, jobLabel: str,
			namespaceSelector: { type: "object", props: { any: bool, matchNames: { type: "array", items: str } } },
			endpoints: { type: "array", items: { type: "object", props: {
				port: str, targetPort: {}, path: str, scheme: { type: "string", enum: ["http", "https"] },
				interval: duration, scrapeTimeout: duration, honorLabels: bool } } } } } } },
};

function structuralErrors(v, s, path, out) {
	const t = Array.isArray(v) ? "array" : v === null ? "null" : Number.isInteger(v) ? "integer" : typeof v;
	if (s.type && !(t === s.type || (s.type === "number" && t === "integer"))) {
		out.push(`${path || "/"}: must be ${s.type}, is ${t}`);
		return;
	}
	if (s.enum && !s.enum.includes(v))
		out.push(`${path}: must be one of ${s.enum.join(", ")}, is ${JSON.stringify(v)}`);
	if (s.pattern && !s.pattern.test(v))
		out.push(`${path}: ${JSON.stringify(v)} does not match ${s.pattern}`);
	if (t === "array" && s.items)
		v.forEach((x, i) => structuralErrors(x, s.items, `${path}/${i}`, out));
	if (t === "object") {
		for (const r of s.required ?? [])
			if (v[r] === undefined)
				out.push(`${path}/${r}: required`);
		if (s.oneOf) {
			const set = s.oneOf.filter((k) => v[k] !== undefined);
			if (set.length !== 1)
				out.push(`${path}: exactly one of ${s.oneOf.join(", ")} must be set, has ${set.length}`);
		}
		for (const [k, x] of Object.entries(v)) {
			if (s.values)
				structuralErrors(x, s.values, `${path}/${k}`, out);
			else if (s.props && !(k in s.props))
				out.push(`${path}/${k}: unknown field`);
			else if (s.props)
				structuralErrors(x, s.props[k], `${path}/${k}`, out);
		}
	}
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function selectorErrors(sel, path, out) {
	for (const [i, e] of (sel?.matchExpressions ?? []).entries()) {
		const p = `${path}/matchExpressions/${i}`;
		if (["In", "NotIn"].includes(e.operator) && !(e.values?.length > 0))
			out.push(`${p}/values: must be non-empty for ${e.operator}`);
		if (["Exists", "DoesNotExist"].includes(e.operator) && e.values?.length)
			out.push(`${p}/values: must be empty for ${e.operator}`);
		if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(e.operator))
			out.push(`${p}/operator: not a valid selector operator: ${e.operator}`);
	}
}

// The apiserver's webhook configuration rules the chart could break
// (ValidateMutatingWebhookConfiguration / ValidateValidatingWebhookConfiguration).
function webhookErrors(obj, out) {
	const names = new Set();
	for (const [i, w] of (obj.webhooks ?? []).entries()) {
		const p = `/webhooks/${i}`;
		if (typeof w.name !== "string" || w.name.split(".").length < 3 || !DNS1123_SUBDOMAIN.test(w.name))
			out.push(`${p}/name: ${JSON.stringify(w.name)}: should be a domain with at least three segments separated by dots`);
		if (names.has(w.name))
			out.push(`${p}/name: Duplicate value ${JSON.stringify(w.name)}`);
		names.add(w.name);
		if (!["None", "NoneOnDryRun"].includes(w.sideEffects))
			out.push(`${p}/sideEffects: must be None or NoneOnDryRun`);
		if (!(w.admissionReviewVersions ?? []).some((v) => ["v1", "v1beta1"].includes(v)))
			out.push(`${p}/admissionReviewVersions: must include v1 or v1beta1`);
		if (w.timeoutSeconds !== undefined && !(w.timeoutSeconds >= 1 && w.timeoutSeconds <= 30))
			out.push(`${p}/timeoutSeconds: must be between 1 and 30 seconds`);
		if (w.failurePolicy !== undefined && !["Ignore", "Fail"].includes(w.failurePolicy))
			out.push(`${p}/failurePolicy: Unsupported value ${JSON.stringify(w.failurePolicy)}`);
		if (obj.kind === "MutatingWebhookConfiguration" && w.reinvocationPolicy !== undefined && !["Never", "IfNeeded"].includes(w.reinvocationPolicy))
			out.push(`${p}/reinvocationPolicy: Unsupported value ${JSON.stringify(w.reinvocationPolicy)}`);
		const cc = w.clientConfig ?? {};
		if ((cc.url === undefined) === (cc.service === undefined))
			out.push(`${p}/clientConfig: exactly one of url or service is required`);
		if (cc.service) {
			if (!cc.service.name || !cc.service.namespace)
				out.push(`${p}/clientConfig/service: name and namespace are required`);
			if (cc.service.path !== undefined && !/^\/[^?#]*$/.test(cc.service.path))
				out.push(`${p}/clientConfig/service/path: must be an absolute path`);
			if (cc.service.port !== undefined && !(cc.service.port >= 1 && cc.service.port <= 65535))
				out.push(`${p}/clientConfig/service/port: out of range`);
		}
		if (cc.caBundle !== undefined) {
			const pem = Buffer.from(cc.caBundle, "base64").toString("utf8");
			if (!pem.includes("-----BEGIN CERTIFICATE-----"))
				out.push(`${p}/clientConfig/caBundle: not base64 of a PEM certificate`);
		}
		for (const [j, r] of (w.rules ?? []).entries()) {
			for (const op of r.operations ?? [])
				if (!["*", "CREATE", "UPDATE", "DELETE", "CONNECT"].includes(op))
					out.push(`${p}/rules/${j}/operations: Unsupported value ${JSON.stringify(op)}`);
			if (r.scope !== undefined && !["*", "Cluster", "Namespaced"].includes(r.scope))
				out.push(`${p}/rules/${j}/scope: Unsupported value ${JSON.stringify(r.scope)}`);
		}
		selectorErrors(w.namespaceSelector, `${p}/namespaceSelector`, out);
		selectorErrors(w.objectSelector, `${p}/objectSelector`, out);
	}
}

function metaErrors(obj, out) {
	const name = obj.metadata?.name;
	if (typeof name !== "string" || !DNS1123_SUBDOMAIN.test(name) || name.length > 253)
		out.push(`/metadata/name: ${JSON.stringify(name)}: must be a DNS-1123 subdomain`);
	for (const [k, v] of Object.entries(obj.metadata?.labels ?? {}))
		if (typeof v !== "string" || v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v))
			out.push(`/metadata/labels/${k}: ${JSON.stringify(v)}: not a valid label value`);
}

// Every problem with one rendered object ([] when valid).
export function objectErrors(obj) {
	const out = [];
	if (!obj || typeof obj !== "object" || Array.isArray(obj))
		return ["not an object"];
	const key = `${obj.apiVersion}/${obj.kind}`;
	const model = MODELS[key];
	if (model) {
		const [Model, type] = model;
		try {
			new Model(structuredClone(obj)).validate();
		} catch (e) {
			out.push(...String(e.message).split(/, (?=data\/)/).map((s) => `schema: ${s}`));
		}
		unknownFields(obj, type, "", out);
	} else if (CRDS[key]) {
		structuralErrors(obj, CRDS[key], "", out);
	} else {
		return [`no model for ${key}: the tests do not know this kind`];
	}
	metaErrors(obj, out);
	if (obj.kind.endsWith("WebhookConfiguration"))
		webhookErrors(obj, out);
	if (obj.kind === "Deployment") {
		const sel = obj.spec?.selector?.matchLabels ?? {};
		const labels = obj.spec?.template?.metadata?.labels ?? {};
		for (const [k, v] of Object.entries(sel))
			if (labels[k] !== v)
				out.push(`/spec/template/metadata/labels: selector does not match template labels (${k}=${v})`);
	}
	return out;
}

export function validateObjects(objs) {
	const problems = [];
	for (const o of objs) {
		const errs = objectErrors(o);
		if (errs.length)
			problems.push(`${o?.kind}/${o?.metadata?.name}:\n    ${errs.join("\n    ")}`);
	}
	if (problems.length)
		throw new Error(`invalid objects:\n  ${problems.join("\n  ")}`);
	return objs;
}

// Objects in a stable order, for comparing renders and files whose order
// differs (helm sorts by kind; a file may put the Namespace first).
export function canonical(objs) {
	const keyOf = (o) => `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
	return [...objs].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
}
