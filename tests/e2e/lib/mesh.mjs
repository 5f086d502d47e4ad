// mesh.mjs - what the contract (shared/DESIGN.md, issue 2) says an answer
// and an injected pod look like, as assertions with messages that say what
// was sent and what came back. Every mesh-proxy bootstrap an answer carries
// also goes through Envoy's own rules (envoyValidate below).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, receiveMessageOnPort } from "node:worker_threads";
import YAML from "yaml";
import { applyAddPatch, decodePatch, deepClone, effectiveSecurity, undefinedVarRefs, validatePod } from "./k8s.mjs";

// What the embedded default config (webhook/default-config.yaml) implies.
export const DEFAULTS = Object.freeze({
	proxyImage: "envoyproxy/envoy:v1.32.3",
	initImage: "meshinject/meshinject:0.1.0",
	uid: 1337,
	ports: Object.freeze({ admin: 15000, outbound: 15001, inbound: 15006, status: 15021, metrics: 15090 }),
	xds: "mesh-control-plane.mesh-system.svc:15010",
	resources: Object.freeze({ requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } }),
	mtlsMode: "STRICT",
	audience: "mesh",
});

export const STAGE_FEATURES = Object.freeze({
	traffic: ["proxy", "redirect"],
	mtls: ["proxy", "redirect", "mtls", "probe-rewrite"],
});

// The `meshinject redirect` flags (its CLI contract).
export const REDIRECT_FLAGS = new Set(["--proxy-uid", "--proxy-gid", "--outbound-port",
	"--inbound-port", "--proxy-ports", "--include-inbound-ports", "--exclude-inbound-ports",
	"--exclude-outbound-ports", "--include-outbound-cidrs", "--exclude-outbound-cidrs"]);

const STATUS = "meshinject.io/status";

export function show(v, n = 1500) {
	const s = typeof v === "string" ? v : JSON.stringify(v);
	return s === undefined ? "undefined" : s.length > n ? `${s.slice(0, n)}... (${s.length} chars)` : s;
}

// ---- Envoy's rules ----------------------------------------------------------
//
// tests/tools/envoyvalidate (built by `make tools` into .tools/bin) checks a
// bootstrap as Envoy v1.32 loads one: strict protojson into
// envoy.config.bootstrap.v3.Bootstrap with every extension registered, and
// the validate rules on it and on every typed_config inside it. One
// validator process per test file answers every bootstrap of the file, from
// a worker thread, so that the checks here stay synchronous: the caller
// waits on an Atomics flag while the worker talks to the process. A text
// seen before is not sent again.

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const VALIDATE_TIMEOUT_MS = 60000;

export function envoyValidateBin() {
	const bin = process.env.MESHINJECT_ENVOY_VALIDATE ??
	    join(process.env.MESHINJECT_TOOLS ?? join(REPO, ".tools"), "bin/envoy-validate");
	if (!existsSync(bin))
		throw new Error(`the Envoy validator ${bin} is not built: run \`make tools\` ` +
		    "(or tests/tools/build.sh envoy-validate); every mesh-proxy bootstrap the tests see goes through it");
	return bin;
}

const WORKER = `
const { workerData } = require("node:worker_threads");
const { spawn } = require("node:child_process");
const { port, flag, bin } = workerData;
const done = new Int32Array(flag);
const waiting = [];
let out = "", err = "", dead = null;
const child = spawn(bin, ["-batch"], { stdio: ["pipe", "pipe", "pipe"] });
function answer(msg) {
	port.postMessage(msg);
	Atomics.store(done, 0, 1);
	Atomics.notify(done, 0);
}
function die(why) {
	if (dead === null)
		dead = why;
	while (waiting.length)
		waiting.shift()(null);
}
child.on("error", (e) => die(\`cannot run \${bin}: \${e.message}\`));
child.on("exit", (code, sig) => die(\`\${bin} -batch exited (\${sig ?? code}): \${err.slice(-2000)}\`));
child.stdin.on("error", (e) => die(\`writing to \${bin}: \${e.message}\`));
child.stderr.setEncoding("utf8");
child.stderr.on("data", (d) => { err += d; });
child.stdout.setEncoding("utf8");
child.stdout.on("data", (d) => {
	out += d;
	let i;
	while ((i = out.indexOf("\\n")) >= 0) {
		const line = out.slice(0, i);
		out = out.slice(i + 1);
		const w = waiting.shift();
		if (w)
			w(line);
	}
});
port.on("message", (items) => {
	if (dead !== null)
		return answer({ error: dead });
	const results = new Array(items.length);
	let left = items.length;
	if (left === 0)
		return answer({ results });
	items.forEach((item, i) => {
		waiting.push((line) => {
			if (line === null)
				results[i] = { name: item.name, ok: false, error: dead, broken: true };
			else
				try { results[i] = JSON.parse(line); } catch (e) { results[i] = { name: item.name, ok: false, error: \`unreadable answer \${line}\`, broken: true }; }
			if (--left === 0)
				answer({ results });
		});
		child.stdin.write(JSON.stringify(item) + "\\n");
	});
});
`;

let validator = null;
const verdicts = new Map();	// bootstrap text -> { ok, error }
export const envoyStats = { checked: 0, sent: 0, ms: 0 };

function startValidator() {
	const bin = envoyValidateBin();
	const { port1, port2 } = new MessageChannel();
	const flag = new SharedArrayBuffer(4);
	const worker = new Worker(WORKER, { eval: true, workerData: { port: port2, flag, bin }, transferList: [port2] });
	worker.unref();
	port1.unref?.();
	validator = { worker, port: port1, flag: new Int32Array(flag), bin };
	if (process.env.MESHINJECT_ENVOY_STATS)
		process.on("exit", () => process.stderr.write(`envoy-validate: ${envoyStats.checked} bootstraps checked, ` +
		    `${envoyStats.sent} distinct sent to ${bin}, ${envoyStats.ms.toFixed(0)} ms waiting\n`));
	return validator;
}

// Validate bootstraps: [{ name, bootstrap (text) }] -> [{ name, ok, error }],
// synchronously. Throws when the validator cannot be run or answer.
export function envoyValidate(items) {
	const t0 = performance.now();
	const todo = items.filter((it) => !verdicts.has(it.bootstrap));
	const unique = [...new Map(todo.map((it) => [it.bootstrap, it])).values()];
	if (unique.length > 0) {
		const v = validator ?? startValidator();
		Atomics.store(v.flag, 0, 0);
		v.port.postMessage(unique);
		let msg;
		for (;;) {
			if (Atomics.wait(v.flag, 0, 0, VALIDATE_TIMEOUT_MS) === "timed-out")
				throw new Error(`${v.bin} gave no answer in ${VALIDATE_TIMEOUT_MS / 1000} s`);
			if ((msg = receiveMessageOnPort(v.port)) !== undefined)
				break;
		}
		if (msg.message.error)
			throw new Error(`the Envoy validator failed: ${msg.message.error}`);
		msg.message.results.forEach((r, i) => {
			if (r.broken)
				throw new Error(`the Envoy validator failed: ${r.error}`);
			verdicts.set(unique[i].bootstrap, { ok: r.ok === true, error: r.error });
		});
		envoyStats.sent += unique.length;
	}
	envoyStats.checked += items.length;
	envoyStats.ms += performance.now() - t0;
	return items.map((it) => ({ name: it.name, ...verdicts.get(it.bootstrap) }));
}

// What the runtime gives the downward-API env of mesh-proxy.
const FIELD_VALUES = { "metadata.name": "web-7d4b9c5f6-x2x9q", "spec.serviceAccountName": "default",
	"status.podIP": "10.1.2.3", "status.hostIP": "192.168.0.10" };

// The kubelet's $(VAR) expansion of a container's command and args
// (k8s.io/kubernetes/third_party/forked/golang/expansion): $(NAME) of a
// defined env var is its value, $$ is $, anything else stays as written.
export function kubeletExpand(text, container, ns = "default") {
	const env = new Map();
	for (const e of container.env ?? []) {
		if (typeof e?.name !== "string")
			continue;
		if (e.valueFrom?.fieldRef)
			env.set(e.name, e.valueFrom.fieldRef.fieldPath === "metadata.namespace" ? ns :
			    (FIELD_VALUES[e.valueFrom.fieldRef.fieldPath] ?? `value-of-${e.name}`));
		else if (e.valueFrom)
			env.set(e.name, `value-of-${e.name}`);
		else
			env.set(e.name, kubeletExpandWith(String(e.value ?? ""), env));
	}
	return kubeletExpandWith(text, env);
}

function kubeletExpandWith(s, env) {
	let out = "", from = 0;
	for (let i = 0; i < s.length; i++) {
		if (s[i] !== "$" || i + 1 >= s.length)
			continue;
		out += s.slice(from, i);
		const next = s[i + 1];
		if (next === "$") {
			out += "$";
			i += 1;
		} else if (next === "(") {
			const close = s.indexOf(")", i + 2);
			if (close < 0) {
				out += "$(";
				i += 1;
			} else {
				const name = s.slice(i + 2, close);
				out += env.has(name) ? env.get(name) : `$(${name})`;
				i = close;
			}
		} else {
			out += `$${next}`;
			i += 1;
		}
		from = i + 1;
	}
	return out + s.slice(from);
}

// The mesh-proxy containers anywhere in a JSON value (a patch, a pod).
export function meshProxies(v) {
	const found = [];
	walk(v, (x) => {
		if (x && typeof x === "object" && !Array.isArray(x) && x.name === "mesh-proxy" &&
		    [...(x.command ?? []), ...(x.args ?? [])].includes("--config-yaml"))
			found.push(x);
	});
	return found;
}

// Assert that Envoy takes the bootstraps of these mesh-proxy containers, as
// the kubelet hands them over (args expanded from the container's env).
export function checkEnvoyAccepts(proxies, what = "", ns = "default") {
	const items = proxies.map((p, i) => {
		const text = flagValue([...(p.command ?? []), ...(p.args ?? [])], "--config-yaml");
		assert.equal(typeof text, "string", `${what}: mesh-proxy ${i} has no --config-yaml value`);
		return { name: `${what} mesh-proxy ${i}`, bootstrap: kubeletExpand(text, p, ns) };
	});
	for (const [i, r] of envoyValidate(items).entries())
		assert.ok(r.ok, `${what}: Envoy's rules refuse the mesh-proxy bootstrap: ${r.error}\nbootstrap (as the kubelet passes it): ${show(items[i].bootstrap, 3000)}`);
	return items.length;
}

// Check the HTTP answer to `review` is a well-formed AdmissionReview
// response that allows the object. Returns the patch ops, or null when there
// is no patch. `expectPatch`: true, false, or undefined (either).
export function checkAllowed(review, res, { expectPatch, what = "" } = {}) {
	const ctx = `${what}\nsent: ${show(review, 600)}\ngot: HTTP ${res.status} ${show(res.body, 2000)}`;
	assert.equal(res.status, 200, `HTTP status${ctx}`);
	assert.match(String(res.headers["content-type"]), /^application\/json\b/, `Content-Type${ctx}`);
	assert.ok(res.json && typeof res.json === "object", `body is not JSON${ctx}`);
	const j = res.json;
	assert.equal(j.apiVersion, review.apiVersion, `apiVersion must be the request's${ctx}`);
	assert.equal(j.kind, "AdmissionReview", `kind${ctx}`);
	assert.ok(j.response && typeof j.response === "object", `no response object${ctx}`);
	const r = j.response;
	assert.equal(r.uid, review.request.uid, `response.uid must be the request's uid${ctx}`);
	assert.equal(r.allowed, true, `response.allowed${ctx}`);
	const hasPatch = r.patch !== undefined && r.patch !== null;
	if (expectPatch === true)
		assert.ok(hasPatch, `expected a patch${ctx}`);
	if (expectPatch === false) {
		assert.ok(!hasPatch, `expected no patch${ctx}\ndecoded patch: ${hasPatch ? show(Buffer.from(String(r.patch), "base64").toString()) : ""}`);
		assert.ok(r.patchType === undefined || r.patchType === null, `patchType without a patch${ctx}`);
	}
	if (r.warnings !== undefined)
		assert.ok(Array.isArray(r.warnings) && r.warnings.every((w) => typeof w === "string"), `warnings must be a list of strings${ctx}`);
	if (r.auditAnnotations !== undefined) {
		assert.ok(r.auditAnnotations && typeof r.auditAnnotations === "object", `auditAnnotations must be a map${ctx}`);
		for (const [k, v] of Object.entries(r.auditAnnotations)) {
			assert.ok(!k.includes("/"), `auditAnnotations key ${k} must have no "/" (the apiserver prefixes it)${ctx}`);
			assert.equal(typeof v, "string", `auditAnnotations[${k}]${ctx}`);
		}
	}
	if (!hasPatch)
		return null;
	assert.equal(r.patchType, "JSONPatch", `patchType${ctx}`);
	const ops = decodePatch(r.patch);
	// Every proxy the webhook adds must be one Envoy starts.
	checkEnvoyAccepts(meshProxies(ops.map((op) => op.value)), `${what} ${review.request?.uid ?? ""}`.trim(),
	    review.request?.namespace ?? review.request?.object?.metadata?.namespace ?? "default");
	return ops;
}

// Apply the ops to the pod of `review` (add-only check, then fast-json-patch),
// validate the result. Returns the patched pod.
// Under probe-rewrite (opts.probeRewrite) an `add` may replace a part of an
// app container's probe: that is the feature.
export const PROBE_PATH = /^\/spec\/(containers|initContainers)\/\d+\/(livenessProbe|readinessProbe|startupProbe)(\/|$)/;
export const STATUS_PATH = /^\/metadata\/annotations\/meshinject\.io~1status$/;
export function applyAndValidate(review, ops, what = "", opts = {}) {
	const pod = review.request.object;
	let patched;
	const may = [opts.probeRewrite ? PROBE_PATH : null, opts.staleStatus ? STATUS_PATH : null].filter(Boolean);
	try {
		patched = applyAddPatch(pod, ops, may.length ? { mayReplace: { test: (p) => may.some((re) => re.test(p)) } } : {});
	} catch (e) {
		e.message = `${what}: ${e.message}\npatch: ${show(ops, 4000)}`;
		throw e;
	}
	try {
		validatePod(patched, "the patched pod");
	} catch (e) {
		e.message = `${what}: ${e.message}\npatch: ${show(ops, 4000)}`;
		throw e;
	}
	return patched;
}

function argv(c) {
	return [...(c.command ?? []), ...(c.args ?? [])];
}

// The value of a flag in an argv: "--f v" or "--f=v"; undefined if absent.
export function flagValue(args, flag) {
	for (let i = 0; i < args.length; i++) {
		if (args[i] === flag)
			return args[i + 1];
		if (args[i].startsWith(`${flag}=`))
			return args[i].slice(flag.length + 1);
	}
	return undefined;
}

function findContainer(list, name) {
	return (list ?? []).find((c) => c?.name === name);
}

// Walk any JSON value, calling fn(value, key, parent) on each node.
function walk(v, fn, key, parent) {
	fn(v, key, parent);
	if (v && typeof v === "object")
		for (const [k, c] of Object.entries(v))
			walk(c, fn, k, v);
}

function socketAddr(a) {
	const s = a?.socket_address ?? a?.socketAddress;
	if (!s)
		return null;
	return { address: s.address, port: Number(s.port_value ?? s.portValue) };
}

function resolvePort(c, port) {
	if (typeof port === "number")
		return port;
	if (typeof port === "string" && /^\d+$/.test(port))
		return Number(port);
	return (c.ports ?? []).find((p) => p.name === port)?.containerPort;
}

// The Envoy bootstrap the proxy container carries inline with --config-yaml.
export function bootstrapOf(proxy) {
	const args = argv(proxy);
	const text = flagValue(args, "--config-yaml");
	assert.ok(typeof text === "string" && text.length > 0,
	    `mesh-proxy passes no --config-yaml bootstrap; command+args: ${show(args)}`);
	let b;
	try {
		b = YAML.parse(text);
	} catch (e) {
		assert.fail(`mesh-proxy --config-yaml is not YAML/JSON: ${e.message}\n${show(text)}`);
	}
	assert.ok(b && typeof b === "object" && !Array.isArray(b), `bootstrap is not a map: ${show(text)}`);
	return { text, bootstrap: b, args };
}

// Check the Envoy bootstrap could start and do its job. cfg: expected ports
// and xDS address; ns: the request namespace.
export function checkBootstrap(proxy, cfg, ns) {
	const { text, bootstrap: b, args } = bootstrapOf(proxy);
	const ctx = `\nbootstrap: ${show(text, 3000)}`;
	assert.ok(!/\(null\)|undefined|\bNaN\b/.test(text), `bootstrap has (null)/undefined/NaN in it${ctx}`);
	// Node id and cluster: in node{}, or as --service-node/--service-cluster.
	const id = b.node?.id ?? flagValue(args, "--service-node");
	const cluster = b.node?.cluster ?? flagValue(args, "--service-cluster");
	assert.ok(typeof id === "string" && id.length > 0, `no node id (node.id or --service-node)${ctx}`);
	assert.ok(typeof cluster === "string" && cluster.length > 0, `no node cluster (node.cluster or --service-cluster)${ctx}`);
	// The pod's identity: its name is not known at admission for a
	// generateName pod, so it comes from the kubelet's $(POD_NAME).
	assert.ok(id.includes("$(POD_NAME)"), `node id ${JSON.stringify(id)} does not name the pod ($(POD_NAME))${ctx}`);
	assert.ok(id.includes("$(POD_NAMESPACE)") || id.includes(ns),
	    `node id ${JSON.stringify(id)} does not carry the namespace ($(POD_NAMESPACE) or ${ns})${ctx}`);
	const missing = undefinedVarRefs(proxy, args.join(" "));
	assert.deepEqual(missing, [], `mesh-proxy args use $(VAR)s its env does not define: kubelet passes them literally${ctx}`);
	// And Envoy's own rules, on the text the kubelet hands over.
	checkEnvoyAccepts([proxy], "checkBootstrap", ns);
	// Admin on localhost.
	const admin = socketAddr(b.admin?.address);
	assert.ok(admin, `no admin.address.socket_address${ctx}`);
	assert.ok(["127.0.0.1", "::1"].includes(admin.address), `admin must listen on localhost, is on ${admin.address}${ctx}`);
	assert.equal(admin.port, cfg.ports.admin, `admin port${ctx}`);
	// Clusters: the xDS server from the config, by DNS.
	const clusters = b.static_resources?.clusters ?? [];
	const [xdsHost, xdsPort] = [cfg.xds.slice(0, cfg.xds.lastIndexOf(":")), Number(cfg.xds.slice(cfg.xds.lastIndexOf(":") + 1))];
	const xds = clusters.find((c) => {
		let hit = false;
		walk(c.load_assignment ?? c.loadAssignment ?? c.hosts, (v) => {
			const a = socketAddr(v?.address ? v.address : null) ?? socketAddr(v);
			if (a && a.address === xdsHost && a.port === xdsPort)
				hit = true;
		});
		return hit;
	});
	assert.ok(xds, `no static cluster with the xDS endpoint ${cfg.xds}${ctx}`);
	assert.ok(["STRICT_DNS", "LOGICAL_DNS"].includes(xds.type),
	    `xDS cluster ${xds.name} has type ${xds.type}: a hostname needs STRICT_DNS or LOGICAL_DNS${ctx}`);
	assert.ok(JSON.stringify(xds).includes("http2_protocol_options"),
	    `xDS cluster ${xds.name} does not speak HTTP/2 (gRPC needs http2_protocol_options)${ctx}`);
	assert.ok(b.dynamic_resources && JSON.stringify(b.dynamic_resources).includes(JSON.stringify(xds.name)),
	    `dynamic_resources does not use the xDS cluster ${xds.name}${ctx}`);
	// A listener on the status port, reachable by the kubelet.
	const listeners = b.static_resources?.listeners ?? [];
	const status = listeners.find((l) => socketAddr(l.address)?.port === cfg.ports.status);
	assert.ok(status, `no static listener on the status port ${cfg.ports.status}${ctx}`);
	const sa = socketAddr(status.address);
	assert.ok(!/^127\.|^::1$|^localhost$/.test(sa.address),
	    `status listener on ${sa.address}: the kubelet probes the pod IP${ctx}`);
	// Every cluster a static route names exists.
	const names = new Set(clusters.map((c) => c.name));
	walk(b.static_resources?.listeners, (v, k) => {
		if (k === "route" && v && typeof v.cluster === "string")
			assert.ok(names.has(v.cluster), `a static route names cluster ${v.cluster}, which is not defined${ctx}`);
	});
	return { bootstrap: b, statusListener: status, id, cluster };
}

// Does a string matcher (Envoy StringMatcher or HeaderMatcher) match s?
function stringMatches(m, s) {
	if (!m || typeof m !== "object")
		return false;
	const sm = m.string_match ?? m;
	if (typeof sm.exact === "string" || typeof sm.exact_match === "string")
		return (sm.exact ?? sm.exact_match) === s;
	if (typeof sm.prefix === "string" || typeof sm.prefix_match === "string")
		return s.startsWith(sm.prefix ?? sm.prefix_match);
	return false;
}

// The health_check filters of a listener that answer GET `path` themselves
// (not pass-through): the clusters whose health they report.
export function healthCheckClusters(listener, path) {
	const out = [];
	walk(listener, (v) => {
		if (!v || typeof v !== "object" || v.name !== "envoy.filters.http.health_check")
			return;
		const hc = v.typed_config ?? {};
		if (hc.pass_through_mode === true || hc.pass_through_mode?.value === true)
			return;
		const pathMatchers = (hc.headers ?? []).filter((h) => h.name === ":path");
		if (pathMatchers.length && pathMatchers.every((h) => stringMatches(h, path)))
			out.push(...Object.keys(hc.cluster_min_healthy_percentages ?? {}));
	});
	return out;
}

// Does the listener answer an HTTP GET of `path`: a route that matches it,
// or a health_check filter that answers it?
function listenerServes(listener, path) {
	if (healthCheckClusters(listener, path).length > 0)
		return true;
	let ok = false;
	walk(listener, (v, k) => {
		if (k !== "match" || !v || typeof v !== "object")
			return;
		if (typeof v.prefix === "string" && path.startsWith(v.prefix))
			ok = true;
		if (typeof v.path === "string" && v.path === path)
			ok = true;
		if (typeof v.path_separated_prefix === "string" && (path === v.path_separated_prefix || path.startsWith(`${v.path_separated_prefix}/`)))
			ok = true;
		const re = v.safe_regex?.regex;
		if (typeof re === "string") {
			try { if (new RegExp(`^(?:${re})$`).test(path)) ok = true; } catch { /* RE2 only */ }
		}
	});
	return ok;
}

// A protobuf JSON Duration ("1.5s") in seconds.
function durationSeconds(d) {
	const m = /^(\d+(?:\.\d+)?)s$/.exec(String(d));
	return m ? Number(m[1]) : NaN;
}

function env(c, name) {
	return (c.env ?? []).find((e) => e.name === name);
}

// Run mesh-init's own command line through the real `meshinject redirect
// --dry-run`: the flags the webhook writes must be ones the redirect
// accepts, and the rules it prints must use the config's ports and UID.
export function checkRedirectDryRun(bin, init, cfg, ctx = "") {
	const args = argv(init);
	const i = args.indexOf("redirect");
	assert.ok(i >= 0, `mesh-init does not run redirect: ${show(args)}`);
	const r = spawnSync(bin, ["redirect", "--dry-run", ...args.slice(i + 1)], { encoding: "utf8", timeout: 5000 });
	const rctx = `\nmeshinject redirect --dry-run ${args.slice(i + 1).join(" ")}\nexit ${r.status}\nstdout: ${show(r.stdout, 1500)}\nstderr: ${show(r.stderr, 800)}${ctx}`;
	assert.equal(r.status, 0, `mesh-init's arguments are refused by meshinject redirect${rctx}`);
	for (const want of [`--to-ports ${cfg.ports.outbound}`, `--to-ports ${cfg.ports.inbound}`, `--uid-owner ${cfg.uid}`, `--dport ${cfg.ports.status} -j RETURN`])
		assert.ok(r.stdout.includes(want), `the redirect rules lack "${want}"${rctx}`);
	return r.stdout;
}

// Names of things in `patched` that are not in `original`.
function added(origList, newList) {
	const before = new Set((origList ?? []).map((x) => x?.name));
	return (newList ?? []).filter((x) => !before.has(x?.name));
}

// The patched pod minus what meshinject adds, for comparison with the
// original. `allowProbeRewrite`: app container probes may differ (mtls).
export function stripInjected(original, patched, { allowProbeRewrite = false } = {}) {
	const p = deepClone(patched);
	const o = original;
	const restoreEmpty = (parent, oparent, key) => {
		const v = parent?.[key];
		if ((Array.isArray(v) && v.length === 0) || (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0)) {
			if (!oparent || !(key in oparent))
				delete parent[key];
			else if (oparent[key] === null)
				parent[key] = null;
		}
	};
	if (p.metadata?.annotations) {
		// A stale status annotation (copied from another pod) is
		// meshinject's own to rewrite.
		if (o.metadata?.annotations && STATUS in o.metadata.annotations)
			p.metadata.annotations[STATUS] = o.metadata.annotations[STATUS];
		for (const k of Object.keys(p.metadata.annotations))
			if (!(o.metadata?.annotations && k in o.metadata.annotations) && k.startsWith("meshinject.io/"))
				delete p.metadata.annotations[k];
		// What Istio adds so that `kubectl logs/exec` pick the app, not
		// the proxy: allowed when it names one of the user's containers.
		const dc = "kubectl.kubernetes.io/default-container";
		if (!(o.metadata?.annotations && dc in o.metadata.annotations) &&
		    (o.spec?.containers ?? []).some((c) => c?.name === p.metadata.annotations[dc]))
			delete p.metadata.annotations[dc];
		restoreEmpty(p.metadata, o.metadata, "annotations");
	}
	const isMesh = (c) => typeof c?.name === "string" && c.name.startsWith("mesh-");
	const origInitNames = new Set((o.spec?.initContainers ?? []).map((c) => c?.name));
	const origNames = new Set((o.spec?.containers ?? []).map((c) => c?.name));
	const origVols = new Set((o.spec?.volumes ?? []).map((v) => v?.name));
	if (Array.isArray(p.spec?.initContainers)) {
		p.spec.initContainers = p.spec.initContainers.filter((c) => !(isMesh(c) && !origInitNames.has(c.name)));
		restoreEmpty(p.spec, o.spec, "initContainers");
	}
	if (Array.isArray(p.spec?.containers))
		p.spec.containers = p.spec.containers.filter((c) => !(isMesh(c) && !origNames.has(c.name)));
	if (Array.isArray(p.spec?.volumes)) {
		p.spec.volumes = p.spec.volumes.filter((v) => !(isMesh(v) && !origVols.has(v.name)));
		restoreEmpty(p.spec, o.spec, "volumes");
	}
	if (allowProbeRewrite) {
		for (const list of ["containers", "initContainers"]) {
			(p.spec?.[list] ?? []).forEach((c, i) => {
				const oc = o.spec?.[list]?.[i];
				if (!oc)
					return;
				for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
					if (JSON.stringify(c[probe]) !== JSON.stringify(oc[probe])) {
						if (oc[probe] === undefined)
							delete c[probe];
						else
							c[probe] = oc[probe];
					}
				}
			});
		}
	}
	return p;
}

// All the checks on an injected pod. opts: { stage, cfg (DEFAULTS), ns,
// ops }. Returns { proxy, init, status, addedVolumes }.
export function checkInjected(original, patched, opts) {
	const cfg = opts.cfg ?? DEFAULTS;
	const stage = opts.stage;
	const ns = opts.ns ?? "shop";
	const ctx = `\nstage ${stage}; patch: ${show(opts.ops, 5000)}`;
	const spec = patched.spec;

	// mesh-init: first init container, runs `meshinject redirect` as root
	// with NET_ADMIN and NET_RAW and the config's ports and UID.
	const inits = spec.initContainers ?? [];
	assert.equal(inits[0]?.name, "mesh-init", `mesh-init must be the first init container; init containers: ${show(inits.map((c) => c.name))}${ctx}`);
	const init = inits[0];
	const origInits = original.spec?.initContainers ?? [];
	assert.deepEqual(inits.slice(1).filter((c) => c.name !== "mesh-proxy").map((c) => c.name), origInits.map((c) => c.name),
	    `the user's init containers must follow mesh-init in their order${ctx}`);
	assert.equal(init.image, cfg.initImage, `mesh-init image${ctx}`);
	const iargs = argv(init);
	assert.ok(iargs.includes("redirect"), `mesh-init must run \`meshinject redirect\`: ${show(iargs)}${ctx}`);
	assert.equal(flagValue(iargs, "--proxy-uid"), String(cfg.uid), `mesh-init --proxy-uid: ${show(iargs)}${ctx}`);
	assert.equal(flagValue(iargs, "--outbound-port"), String(cfg.ports.outbound), `mesh-init --outbound-port: ${show(iargs)}${ctx}`);
	assert.equal(flagValue(iargs, "--inbound-port"), String(cfg.ports.inbound), `mesh-init --inbound-port: ${show(iargs)}${ctx}`);
	for (const a of iargs.filter((x) => x.startsWith("--"))) {
		const f = a.split("=")[0];
		assert.ok(REDIRECT_FLAGS.has(f), `mesh-init passes ${f}, which \`meshinject redirect\` does not take: ${show(iargs)}${ctx}`);
	}
	// The kubelet probes the status port from outside: it must not be
	// redirected to the inbound port.
	const exempt = [flagValue(iargs, "--proxy-ports"), flagValue(iargs, "--exclude-inbound-ports")]
		.filter(Boolean).join(",").split(",").map((x) => x.trim());
	assert.ok(exempt.includes(String(cfg.ports.status)),
	    `mesh-init does not exempt the status port ${cfg.ports.status} from the inbound redirect (--proxy-ports/--exclude-inbound-ports): ${show(iargs)}${ctx}`);
	const icaps = init.securityContext?.capabilities?.add ?? [];
	for (const cap of ["NET_ADMIN", "NET_RAW"])
		assert.ok(icaps.includes(cap), `mesh-init lacks ${cap}: ${show(init.securityContext)}${ctx}`);
	assert.equal(init.securityContext?.runAsUser, 0, `mesh-init must run as root (runAsUser 0 set on the container): ${show(init.securityContext)}${ctx}`);
	assert.notEqual(effectiveSecurity(patched, init, "runAsNonRoot"), true,
	    `mesh-init runs as root but its effective runAsNonRoot is true (the kubelet refuses to start it): container ${show(init.securityContext)}, pod ${show(spec.securityContext)}${ctx}`);
	assert.equal(init.restartPolicy, undefined, `mesh-init must be a plain init container${ctx}`);

	// mesh-proxy.
	const proxy = findContainer(spec.containers, "mesh-proxy");
	assert.ok(proxy, `no mesh-proxy among containers: ${show(spec.containers.map((c) => c.name))}${ctx}`);
	assert.equal(proxy.image, cfg.proxyImage, `mesh-proxy image${ctx}`);
	const sc = proxy.securityContext ?? {};
	const sctx = `; mesh-proxy securityContext: ${show(sc)}${ctx}`;
	assert.equal(sc.runAsUser, cfg.uid, `runAsUser${sctx}`);
	assert.equal(sc.runAsGroup, cfg.uid, `runAsGroup${sctx}`);
	assert.equal(sc.runAsNonRoot, true, `runAsNonRoot${sctx}`);
	assert.equal(sc.allowPrivilegeEscalation, false, `allowPrivilegeEscalation${sctx}`);
	assert.equal(sc.privileged, false, `privileged${sctx}`);
	assert.ok((sc.capabilities?.drop ?? []).includes("ALL"), `capabilities.drop ALL${sctx}`);
	assert.deepEqual(sc.capabilities?.add ?? [], [], `mesh-proxy adds capabilities${sctx}`);
	assert.equal(sc.readOnlyRootFilesystem, true, `readOnlyRootFilesystem${sctx}`);
	const fieldRefs = { POD_NAME: "metadata.name", POD_NAMESPACE: "metadata.namespace", SERVICE_ACCOUNT: "spec.serviceAccountName", POD_IP: "status.podIP" };
	for (const [name, fp] of Object.entries(fieldRefs)) {
		const e = env(proxy, name);
		assert.ok(e, `mesh-proxy env has no ${name}: ${show(proxy.env)}${ctx}`);
		assert.equal(e.valueFrom?.fieldRef?.fieldPath, fp, `mesh-proxy env ${name} must come from the downward API (${fp}): ${show(e)}${ctx}`);
	}
	for (const kind of ["requests", "limits"])
		for (const [k, v] of Object.entries(cfg.resources[kind]))
			assert.equal(proxy.resources?.[kind]?.[k], v, `mesh-proxy resources.${kind}.${k}: ${show(proxy.resources)}${ctx}`);
	const rp = proxy.readinessProbe;
	assert.ok(rp, `mesh-proxy has no readinessProbe${ctx}`);
	const rport = resolvePort(proxy, rp.httpGet?.port ?? rp.tcpSocket?.port);
	assert.equal(rport, cfg.ports.status, `mesh-proxy readinessProbe must be on the status port: ${show(rp)}${ctx}`);
	const { statusListener, bootstrap } = checkBootstrap(proxy, cfg, ns);
	if (rp.httpGet)
		assert.ok(listenerServes(statusListener, rp.httpGet.path ?? "/"),
		    `the status listener has no route for the readiness path ${rp.httpGet.path}: ${show(statusListener)}${ctx}`);
	// The proxy must not collide with the app's ports.
	const appPorts = new Set(spec.containers.filter((c) => c !== proxy).flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)));
	for (const p of proxy.ports ?? [])
		assert.ok(!appPorts.has(p.containerPort), `mesh-proxy declares port ${p.containerPort}, which an app container uses${ctx}`);

	// Volumes.
	const newVols = added(original.spec?.volumes, spec.volumes);
	for (const v of newVols)
		assert.match(v.name, /^mesh-/, `injected volume ${v.name} is not named mesh-*${ctx}`);
	for (const c of [init, proxy])
		for (const m of c.volumeMounts ?? [])
			assert.ok((spec.volumes ?? []).some((v) => v.name === m.name), `${c.name} mounts ${m.name}, which is not a volume${ctx}`);

	// mTLS.
	// The mode as a word of its own: STRICT_DNS (an Envoy cluster type) is
	// not it.
	const word = (w) => new RegExp(`(?<![A-Za-z0-9_])${w}(?![A-Za-z0-9_])`);
	const proxyText = JSON.stringify([proxy.env ?? [], argv(proxy)]);
	const tokenVol = newVols.find((v) => (v.projected?.sources ?? []).some((s) => s.serviceAccountToken));
	if (stage === "mtls") {
		assert.ok(tokenVol, `at mtls, no injected projected serviceAccountToken volume: ${show(newVols)}${ctx}`);
		const tok = tokenVol.projected.sources.find((s) => s.serviceAccountToken).serviceAccountToken;
		assert.equal(tok.audience, cfg.audience, `the identity token audience: ${show(tokenVol)}${ctx}`);
		assert.ok((proxy.volumeMounts ?? []).some((m) => m.name === tokenVol.name), `mesh-proxy does not mount ${tokenVol.name}${ctx}`);
		assert.ok(word(cfg.mtlsMode).test(proxyText), `at mtls the proxy is not told ${cfg.mtlsMode} (env or args): ${show(proxyText, 3000)}${ctx}`);
	} else {
		assert.ok(!tokenVol || !(tokenVol.projected.sources.some((s) => s.serviceAccountToken?.audience === cfg.audience)),
		    `at ${stage} (no mtls) an identity token volume was injected${ctx}`);
		assert.ok(!word("STRICT").test(proxyText), `at ${stage} (no mtls) the proxy is told STRICT${ctx}`);
	}

	// The status annotation.
	const raw = patched.metadata?.annotations?.[STATUS];
	assert.equal(typeof raw, "string", `no ${STATUS} annotation${ctx}`);
	let st;
	try { st = JSON.parse(raw); } catch (e) { assert.fail(`${STATUS} is not JSON: ${raw}`); }
	for (const k of ["stage", "features", "initContainers", "containers", "volumes", "configHash"])
		assert.ok(k in st, `${STATUS} lacks ${k}: ${raw}`);
	assert.equal(st.stage, stage, `${STATUS}.stage: ${raw}`);
	assert.ok(Array.isArray(st.features), `${STATUS}.features is not a list: ${raw}`);
	for (const f of STAGE_FEATURES[stage] ?? [])
		if (f !== "probe-rewrite")
			assert.ok(st.features.includes(f), `${STATUS}.features lacks ${f}: ${raw}`);
	const names = (l) => (l ?? []).map((x) => (typeof x === "string" ? x : x?.name));
	assert.ok(names(st.initContainers).includes("mesh-init"), `${STATUS}.initContainers: ${raw}`);
	assert.ok(names(st.containers).includes("mesh-proxy"), `${STATUS}.containers: ${raw}`);
	assert.deepEqual([...names(st.volumes)].sort(), newVols.map((v) => v.name).sort(), `${STATUS}.volumes must list the injected volumes: ${raw}`);
	assert.ok(typeof st.configHash === "string" && st.configHash.length > 0, `${STATUS}.configHash: ${raw}`);

	// Everything the user had is still there, unchanged; nothing else added.
	const stripped = stripInjected(original, patched, { allowProbeRewrite: stage === "mtls" });
	assert.deepEqual(stripped, original, `the patched pod minus the injected parts differs from the original${ctx}`);
	// probe-rewrite: with mTLS the kubelet's plaintext probes cannot reach
	// the app through the redirect, so HTTP and TCP probes must go to the
	// proxy's status port, the originals passed to the proxy in its env.
	const rewrite = st.features.includes("probe-rewrite");
	const proxyEnvText = JSON.stringify(proxy.env ?? []);
	for (const c of spec.containers.filter((x) => x !== proxy)) {
		const oc = original.spec.containers.find((x) => x.name === c.name);
		for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
			const before = oc?.[probe];
			const now = c[probe];
			if (!before?.httpGet && !before?.tcpSocket) {
				assert.deepEqual(now, before, `${c.name}.${probe} (not HTTP/TCP) must not change${ctx}`);
				continue;
			}
			if (!rewrite) {
				assert.deepEqual(now, before, `${c.name}.${probe} changed without probe-rewrite${ctx}`);
				continue;
			}
			const pctx = `: ${c.name}.${probe} was ${show(before)}, is ${show(now)}${ctx}`;
			assert.ok(now?.httpGet, `probe-rewrite is on (${STATUS} features) but ${c.name}.${probe} is not an HTTP probe to the proxy${pctx}`);
			assert.equal(resolvePort(c, now.httpGet.port), cfg.ports.status, `probe-rewrite: ${c.name}.${probe} must go to the status port${pctx}`);
			assert.ok(listenerServes(statusListener, now.httpGet.path ?? "/"), `probe-rewrite: the status listener has no route for ${now.httpGet.path}${pctx}`);
			// The proxy's args and env carry a $ as $$ (the kubelet's
			// $(VAR) expansion gives the $ back).
			const esc = (s) => String(s).replaceAll("$", "$$$$");
			if (before.httpGet?.path)
				assert.ok(proxyEnvText.includes(esc(before.httpGet.path)), `probe-rewrite: the original probe (path ${before.httpGet.path}) is not passed to the proxy in an env var${pctx}`);
			// Answered by Envoy's health_check filter: the clusters it
			// reports on must check the original probe's target.
			const hcs = healthCheckClusters(statusListener, now.httpGet.path ?? "/");
			const origPort = resolvePort(oc, before.httpGet?.port ?? before.tcpSocket?.port);
			for (const name of hcs) {
				const cl = (bootstrap.static_resources?.clusters ?? []).find((x) => x.name === name);
				assert.ok(cl, `probe-rewrite: the health_check filter for ${now.httpGet.path} reports on cluster ${name}, which is not defined${pctx}`);
				const eps = [];
				walk(cl.load_assignment, (v) => { const a = socketAddr(v?.address ?? null); if (a) eps.push(a); });
				assert.ok(eps.some((a) => a.port === origPort), `probe-rewrite: cluster ${name} does not reach the app's probe port ${origPort}: ${show(cl)}${pctx}`);
				const hc = (cl.health_checks ?? [])[0];
				assert.ok(hc, `probe-rewrite: cluster ${name} has no active health check, so its health never reflects the app: ${show(cl)}${pctx}`);
				if (before.httpGet) {
					// As the kubelet sends it: "/" when empty, a leading /
					// added.
					const p = before.httpGet.path || "/";
					assert.equal(hc.http_health_check?.path, esc(p.startsWith("/") ? p : `/${p}`), `probe-rewrite: cluster ${name} checks another path than the original probe: ${show(cl)}${pctx}`);
					if (String(before.httpGet.scheme).toUpperCase() === "HTTPS")
						assert.ok(cl.transport_socket, `probe-rewrite: the original probe is HTTPS but cluster ${name} checks in plaintext: ${show(cl)}${pctx}`);
					for (const h of before.httpGet.httpHeaders ?? []) {
						if (String(h.name).toLowerCase() === "host")
							continue;	// the check's host, below
						const sent = (hc.http_health_check?.request_headers_to_add ?? []).some((x) =>
						    (x.header?.key ?? "").toLowerCase() === h.name.toLowerCase() && x.header?.value === esc(h.value ?? ""));
						assert.ok(sent, `probe-rewrite: the original probe sends header ${h.name}: ${h.value}, cluster ${name}'s check does not: ${show(hc)}${pctx}`);
					}
					const host = (before.httpGet.httpHeaders ?? []).filter((h) => String(h.name).toLowerCase() === "host").pop();
					if (host)
						assert.equal(hc.http_health_check?.host, esc(host.value ?? ""), `probe-rewrite: the original probe sends Host ${host.value}: ${show(hc)}${pctx}`);
				} else {
					assert.ok(hc.tcp_health_check, `probe-rewrite: a TCP probe must be checked with tcp_health_check: ${show(cl)}${pctx}`);
				}
				// A probe cluster never carries traffic, so Envoy checks it
				// every no_traffic_interval (60 s unless set, and it "takes
				// precedence over any other"): the kubelet would see a
				// stale answer, and an app that is not up at the first
				// check fails liveness until it is restarted.
				const period = before.periodSeconds ?? 10;
				const nti = durationSeconds(hc.no_traffic_interval ?? "60s");
				assert.ok(nti <= period, `probe-rewrite: cluster ${name} is health-checked every ${nti} s (no_traffic_interval) but the probe runs every ${period} s: ${show(hc)}${pctx}`);

			}
			for (const k of ["initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold"])
				assert.equal(now[k], before[k], `probe-rewrite: ${c.name}.${probe}.${k} must be kept${pctx}`);
		}
	}
	return { proxy, init, status: st, addedVolumes: newVols };
}
