// envoy.test.mjs - bootstraps Envoy accepts (issue 12, item 4). Every
// mesh-proxy bootstrap goes through Envoy's own rules (tests/tools/
// envoyvalidate, go-control-plane of the proxy image's Envoy, via
// lib/mesh.mjs), here swept over every stage and every feature combination
// through the real webhook, over `meshinject inject` of the golden inputs and
// the Istio corpus (when ../shared is there), and against pods whose values
// Envoy cannot carry: those are refused with 422 naming the field and value.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import YAML from "yaml";

import { Server, requireBin } from "./lib/server.mjs";
import { REPO, makeReview, rsPod } from "./lib/reviews.mjs";
import { applyAddPatch } from "./lib/k8s.mjs";
import { checkAllowed, checkEnvoyAccepts, envoyStats, envoyValidate, envoyValidateBin,
	flagValue, kubeletExpand, meshProxies, show } from "./lib/mesh.mjs";

const T = { timeout: 120000 };
const CORPUS = resolve(REPO, "../shared/corpus/istio-inject-inputs");
// Features a stage may add to the proxy (observe adds none).
const FEATURES = ["redirect", "cni", "mtls", "native-sidecar", "hold-app", "probe-rewrite", "metrics-merge"];

const CONFIG = `
stages:
  bare: {features: [proxy]}
  watch: {features: [observe]}
  probes: {features: [proxy, redirect, probe-rewrite]}
  metrics: {features: [proxy, redirect, metrics-merge]}
  everything: {features: [proxy, redirect, mtls, native-sidecar, hold-app, probe-rewrite, metrics-merge]}
`;

let dir, cfgFile, srv;
before(async () => {
	envoyValidateBin();	// fails loudly, naming make tools, when it is not built
	dir = mkdtempSync(join(tmpdir(), "meshinject-envoy-"));
	cfgFile = join(dir, "config.yaml");
	writeFileSync(cfgFile, CONFIG);
	srv = await Server.start({ config: cfgFile });
});
after(async () => {
	const r = await srv?.stop();
	if (dir)
		rmSync(dir, { recursive: true, force: true });
	assert.equal(r?.code, 0, "clean exit on SIGTERM");
	console.log(`envoy: ${envoyStats.checked} bootstraps checked by Envoy's rules in this file ` +
	    `(${envoyStats.sent} distinct), ${envoyStats.ms.toFixed(0)} ms waiting for the validator`);
});

// A pod with every value the bootstrap copies: HTTP probes with a Host and
// other headers (a $(VAR) and UTF-8 among them), named and numeric ports, an
// HTTPS probe, a TCP probe, an exec probe, a second container, and
// prometheus.io annotations for an HTTPS metrics endpoint.
function richPod() {
	const pod = rsPod();
	const c = pod.spec.containers[0];
	c.ports = [{ name: "http", containerPort: 8080, protocol: "TCP" }, { name: "tls", containerPort: 8443, protocol: "TCP" }];
	c.livenessProbe = { httpGet: { path: "/livez?verbose=1", port: "http", scheme: "HTTP", httpHeaders: [
		{ name: "Host", value: "web.shop.example" }, { name: "X-Trace", value: "a b\t$(POD_IP) $$" },
		{ name: "X-Unicode", value: "h\u00e9llo \u2713" }] }, periodSeconds: 7, timeoutSeconds: 2, failureThreshold: 3 };
	c.readinessProbe = { tcpSocket: { port: 8080 }, periodSeconds: 3 };
	c.startupProbe = { httpGet: { path: "/started$(MESH_APP_PROBES)", port: 8443, scheme: "HTTPS" }, periodSeconds: 1, failureThreshold: 30 };
	pod.spec.containers.push({ name: "worker", image: "busybox:1.36", command: ["sleep", "1d"],
		livenessProbe: { httpGet: { port: "9000" } }, readinessProbe: { exec: { command: ["true"] } } });
	pod.metadata.annotations = { "prometheus.io/scrape": "true", "prometheus.io/port": "9102",
		"prometheus.io/path": "/metrics/app", "prometheus.io/scheme": "https" };
	return pod;
}

async function post(path, pod, ns = "shop") {
	const review = makeReview(pod, { namespace: ns });
	const res = await srv.post(path, review);
	return { review, res };
}

// Send, expect a patch (checkAllowed sends every proxy of it through
// Envoy's rules), apply it; returns the patched pod and its proxies.
async function injected(path, pod, what) {
	const { review, res } = await post(path, pod);
	const ops = checkAllowed(review, res, { expectPatch: true, what: `${what} POST ${path}` });
	const patched = applyAddPatch(review.request.object, ops, { mayReplace: { test: () => true } });
	return { patched, proxies: meshProxies(patched.spec) };
}

async function denied(path, pod, ...needles) {
	const { review, res } = await post(path, pod);
	assert.equal(res.status, 200, show(res.body));
	const r = res.json.response;
	assert.equal(r.uid, review.request.uid);
	assert.equal(r.allowed, false, `expected a refusal from ${path}: ${show(res.body)}`);
	assert.equal(r.patch, undefined, "a refusal carries no patch");
	assert.equal(r.status.code, 422, show(r.status));
	assert.equal(r.status.reason, "Invalid", show(r.status));
	for (const n of needles)
		assert.ok(r.status.message.includes(n), `message lacks ${JSON.stringify(n)}: ${r.status.message}`);
	return r;
}

function bootstrapOfProxy(proxy, ns = "shop") {
	const text = flagValue([...(proxy.command ?? []), ...(proxy.args ?? [])], "--config-yaml");
	return JSON.parse(kubeletExpand(text, proxy, ns));
}

describe("the validator", () => {
	test("accepts a bootstrap of the webhook and refuses each kind of mistake in it", T, async () => {
		const { proxies } = await injected("/mutate/everything", richPod(), "base");
		assert.equal(proxies.length, 1);
		const good = bootstrapOfProxy(proxies[0]);
		const variants = {
			"unknown field": (b) => { b.static_resources.clusters[0].conect_timeout = "1s"; },
			"header name with a newline": (b) => {
				b.static_resources.clusters.find((c) => c.health_checks).health_checks[0].http_health_check
					.request_headers_to_add = [{ header: { key: "X-A\nB", value: "v" } }];
			},
			"header value with a carriage return": (b) => {
				b.static_resources.clusters.find((c) => c.health_checks).health_checks[0].http_health_check
					.request_headers_to_add = [{ header: { key: "X-A", value: "v\r" } }];
			},
			"health check path with a newline": (b) => {
				b.static_resources.clusters.find((c) => c.health_checks).health_checks[0].http_health_check.path = "/a\nb";
			},
			"empty health check path": (b) => {
				b.static_resources.clusters.find((c) => c.health_checks).health_checks[0].http_health_check.path = "";
			},
			"missing health check timeout": (b) => {
				delete b.static_resources.clusters.find((c) => c.health_checks).health_checks[0].timeout;
			},
			"missing stat_prefix inside a typed_config": (b) => {
				delete b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefix;
			},
			"unresolvable typed_config": (b) => {
				b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config["@type"] =
					"type.googleapis.com/envoy.extensions.filters.network.nosuch.v3.Nosuch";
			},
			"port past 65535": (b) => { b.admin.address.socket_address.port_value = 65536; },
			"prefix_rewrite with a newline": (b) => {
				b.static_resources.listeners[1].filter_chains[0].filters[0].typed_config.route_config
					.virtual_hosts[0].routes[0].route.prefix_rewrite = "/a\nb";
			},
		};
		const items = [{ name: "good", bootstrap: JSON.stringify(good) }];
		for (const [name, fn] of Object.entries(variants)) {
			const b = structuredClone(good);
			fn(b);
			items.push({ name, bootstrap: JSON.stringify(b) });
		}
		// The kubelet's expansion on a bootstrap that did not escape $:
		// MESH_APP_PROBES (JSON) spliced into a JSON string.
		const unescaped = flagValue(proxies[0].args, "--config-yaml").replaceAll("$$", "$");
		items.push({ name: "unescaped $ expanded", bootstrap: kubeletExpand(unescaped, proxies[0], "shop") });
		const got = envoyValidate(items);
		assert.deepEqual(got[0], { name: "good", ok: true, error: undefined }, show(got[0]));
		for (const r of got.slice(1))
			assert.equal(r.ok, false, `Envoy's rules accept a bootstrap with ${r.name}`);
		assert.match(got.find((r) => r.name === "unknown field").error, /unknown field "conect_timeout"/);
		assert.match(got.find((r) => r.name === "unresolvable typed_config").error, /nosuch/);
	});

	test("a missing validator fails with a message naming make tools", () => {
		const saved = process.env.MESHINJECT_ENVOY_VALIDATE;
		process.env.MESHINJECT_ENVOY_VALIDATE = join(dir, "no-such-envoy-validate");
		try {
			assert.throws(() => envoyValidateBin(), /make tools/);
		} finally {
			if (saved === undefined)
				delete process.env.MESHINJECT_ENVOY_VALIDATE;
			else
				process.env.MESHINJECT_ENVOY_VALIDATE = saved;
		}
	});
});

describe("every stage and feature combination", () => {
	test("each built-in and configured stage, on a plain and a rich pod", T, async () => {
		let n = 0;
		for (const stage of ["off", "observe", "traffic", "mtls", "bare", "watch", "probes", "metrics", "everything"]) {
			for (const [kind, pod] of [["plain", rsPod()], ["rich", richPod()]]) {
				const { review, res } = await post(`/mutate/${stage}`, pod);
				const ops = checkAllowed(review, res, { what: `stage ${stage}, ${kind} pod` }) ?? [];
				n += checkEnvoyAccepts(meshProxies(ops.map((op) => op.value)), `stage ${stage}, ${kind} pod`);
			}
		}
		// traffic, mtls, bare, probes, metrics, everything: two pods each.
		assert.equal(n, 12, "bootstraps checked");
	});

	test(`every subset of ${FEATURES.join(", ")} on top of proxy (${2 ** FEATURES.length} combinations, two pods each)`, T, async () => {
		let n = 0;
		const seen = { probeFilter: 0, tls: 0, appMetrics: 0, strict: 0, native: 0 };
		for (let mask = 0; mask < 2 ** FEATURES.length; mask++) {
			const on = FEATURES.filter((_, i) => mask & (1 << i));
			for (const [kind, make] of [["plain", rsPod], ["rich", richPod]]) {
				const pod = make();
				if (on.length)
					pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), "meshinject.io/features": on.map((f) => `+${f}`).join(",") };
				const what = `proxy+[${on.join(",")}], ${kind} pod`;
				const { patched, proxies } = await injected("/mutate/bare", pod, what);
				assert.equal(proxies.length, 1, `${what}: one mesh-proxy`);
				n += checkEnvoyAccepts(proxies, what);
				const b = bootstrapOfProxy(proxies[0]);
				const text = JSON.stringify(b);
				seen.probeFilter += text.includes("envoy.filters.http.health_check");
				seen.tls += text.includes("UpstreamTlsContext");
				seen.appMetrics += text.includes("mesh-app-metrics");
				seen.strict += b.node.metadata.MTLS_MODE === "STRICT";
				seen.native += (patched.spec.initContainers ?? []).some((c) => c.name === "mesh-proxy");
				if (kind === "rich" && on.includes("probe-rewrite")) {
					// The probes' values reach Envoy as the kubelet would send them.
					const hc = b.static_resources.clusters.filter((c) => c.health_checks).map((c) => c.health_checks[0]);
					const paths = hc.map((h) => h.http_health_check?.path).filter(Boolean).sort();
					assert.deepEqual(paths, ["/", "/livez?verbose=1", "/started$(MESH_APP_PROBES)"], `${what}: health check paths`);
					const live = hc.find((h) => h.http_health_check?.path === "/livez?verbose=1").http_health_check;
					assert.equal(live.host, "web.shop.example", `${what}: Host`);
					assert.deepEqual(live.request_headers_to_add.map((h) => [h.header.key, h.header.value]),
					    [["X-Trace", "a b\t$(POD_IP) $$"], ["X-Unicode", "h\u00e9llo \u2713"]], `${what}: headers as written`);
				}
			}
		}
		assert.equal(n, 2 * 2 ** FEATURES.length, "bootstraps checked");
		// The sweep reached every part of the bootstrap the pod shapes.
		for (const [k, v] of Object.entries(seen))
			assert.ok(v >= 2 ** (FEATURES.length - 1), `only ${v} bootstraps with ${k}: ${show(seen)}`);
	});
});

describe("values Envoy cannot carry are refused with 422", () => {
	const probe = (p) => { const pod = rsPod(); pod.spec.containers[0].livenessProbe = p; return pod; };
	const header = (name, value) => probe({ httpGet: { path: "/livez", port: 8080, httpHeaders: [{ name, value }] } });
	const ann = (a) => { const pod = rsPod(); pod.metadata.annotations = a; return pod; };
	const cases = [
		["header value with CR LF (header injection)", "/mutate/probes", header("X-A", "v\r\nX-Injected: 1"),
			["container web: livenessProbe.httpGet.httpHeaders[0].value", "\"v\\r\\nX-Injected: 1\"", "0x0d"]],
		["header value with a control character", "/mutate/mtls", header("X-A", "a\u0007b"),
			["httpHeaders[0].value: \"a\\x07b\"", "control character 0x07"]],
		["header name with a space", "/mutate/probes", header("X Bad", "v"),
			["livenessProbe.httpGet.httpHeaders[0].name: \"X Bad\" has ' '"]],
		["pseudo-header name", "/mutate/probes", header(":authority", "evil"),
			["httpHeaders[0].name: \":authority\" is a pseudo-header"]],
		["Host with a newline", "/mutate/probes", header("Host", "a\nb"),
			["httpHeaders[0].value: \"a\\nb\""]],
		["path with a newline", "/mutate/probes", probe({ httpGet: { path: "/a\nb", port: 8080 } }),
			["livenessProbe.httpGet.path: \"/a\\nb\" has control character 0x0a"]],
		["path with a space", "/mutate/everything", probe({ httpGet: { path: "/a b", port: 8080 } }),
			["livenessProbe.httpGet.path: \"/a b\" has a space"]],
		["port past 65535", "/mutate/probes", probe({ tcpSocket: { port: 70000 } }),
			["livenessProbe.tcpSocket.port: \"70000\" is not a port (1-65535)"]],
		["a 64-bit port that truncation would make 8080", "/mutate/probes", probe({ tcpSocket: { port: 4294975376 } }),
			["\"4294975376\" is not a port"]],
		["scheme other than HTTP or HTTPS", "/mutate/probes", probe({ httpGet: { path: "/", port: 8080, scheme: "https" } }),
			["livenessProbe.httpGet.scheme: \"https\" is not HTTP or HTTPS"]],
		["periodSeconds past int32", "/mutate/probes", probe({ tcpSocket: { port: 8080 }, periodSeconds: 99999999999 }),
			["livenessProbe.periodSeconds: 99999999999 is out of range"]],
		["prometheus.io/port not a port", "/mutate/metrics", ann({ "prometheus.io/port": "http-metrics" }),
			["annotation prometheus.io/port: \"http-metrics\" is not a port (1-65535)"]],
		["prometheus.io/path with a newline", "/mutate/metrics", ann({ "prometheus.io/port": "9102", "prometheus.io/path": "/m\n" }),
			["annotation prometheus.io/path: \"/m\\n\" has control character 0x0a"]],
		["prometheus.io/scheme", "/mutate/metrics", ann({ "prometheus.io/port": "9102", "prometheus.io/scheme": "ftp" }),
			["annotation prometheus.io/scheme: \"ftp\" is not http or https"]],
		["metrics-merge switched on by the pod", "/mutate/traffic",
			ann({ "meshinject.io/features": "+metrics-merge", "prometheus.io/port": "99999" }),
			["annotation prometheus.io/port: \"99999\""]],
	];
	for (const [name, path, pod, needles] of cases)
		test(`${name} (${path})`, T, async () => { await denied(path, pod, ...needles); });

	test("every problem at once", T, async () => {
		const pod = ann({ "prometheus.io/port": "x", "prometheus.io/scheme": "gopher" });
		pod.spec.containers[0].livenessProbe = { httpGet: { path: "/a\rb", port: 8080, httpHeaders: [{ name: "A:B", value: "v" }] } };
		await denied("/mutate/everything", pod, "livenessProbe.httpGet.path", "httpHeaders[0].name: \"A:B\"",
		    "prometheus.io/port: \"x\"", "prometheus.io/scheme: \"gopher\"");
	});

	test("the same values where the bootstrap does not carry them: admitted, and the proxy starts", T, async () => {
		const pod = header("X-A", "v\r\nX-Injected: 1");
		pod.metadata.annotations = { "prometheus.io/port": "x" };
		const { proxies } = await injected("/mutate/traffic", pod, "traffic");
		assert.equal(proxies.length, 1);
		assert.ok(!JSON.stringify(bootstrapOfProxy(proxies[0])).includes("X-Injected"));
		// Not scraped: nothing to carry.
		const off = ann({ "meshinject.io/features": "+metrics-merge", "prometheus.io/scrape": "false", "prometheus.io/port": "x" });
		await injected("/mutate/traffic", off, "scrape false");
	});

	test("observe warns about what the next stage could not carry", T, async () => {
		const { review, res } = await post("/mutate/watch", header("X-A", "v\nw"));
		checkAllowed(review, res, { what: "observe" });
		const w = res.json.response.warnings ?? [];
		assert.ok(w.some((x) => x.includes("would refuse") && x.includes("httpHeaders[0].value")), show(w));
		for (const x of w)
			assert.ok(!/[\r\n]/.test(x), `a warning carries a raw newline: ${JSON.stringify(x)}`);
	});

	test("a path without its leading / is sent with one, as the kubelet and Prometheus send it", T, async () => {
		const pod = probe({ httpGet: { path: "livez?x=1", port: 8080 } });
		pod.metadata.annotations = { "meshinject.io/features": "+metrics-merge", "prometheus.io/port": "9102", "prometheus.io/path": "metrics" };
		const { proxies } = await injected("/mutate/probes", pod, "no slash");
		const b = bootstrapOfProxy(proxies[0]);
		assert.equal(b.static_resources.clusters.find((c) => c.health_checks).health_checks[0].http_health_check.path, "/livez?x=1");
		const routes = b.static_resources.listeners.find((l) => l.name === "mesh-metrics").filter_chains[0].filters[0]
			.typed_config.route_config.virtual_hosts[0].routes;
		assert.equal(routes.find((r) => r.route.cluster === "mesh-app-metrics").route.prefix_rewrite, "/metrics", show(routes));
	});

	test("a $(VAR) in a probe reaches Envoy and MESH_APP_PROBES as written, after the kubelet's expansion", T, async () => {
		const pod = probe({ httpGet: { path: "/x$(MESH_APP_PROBES)", port: 8080, httpHeaders: [{ name: "X-Ip", value: "$(POD_IP)" }] } });
		const { proxies } = await injected("/mutate/probes", pod, "dollar");
		const b = bootstrapOfProxy(proxies[0]);
		const hc = b.static_resources.clusters.find((c) => c.health_checks).health_checks[0].http_health_check;
		assert.equal(hc.path, "/x$(MESH_APP_PROBES)");
		assert.deepEqual(hc.request_headers_to_add, [{ header: { key: "X-Ip", value: "$(POD_IP)" } }]);
		const env = proxies[0].env.find((e) => e.name === "MESH_APP_PROBES");
		const orig = JSON.parse(kubeletExpand(`$(MESH_APP_PROBES)`, proxies[0], "shop"));
		assert.equal(orig["/app-health/web/livez"].httpGet.path, "/x$(MESH_APP_PROBES)", show(env));
	});
});

// ---- meshinject inject ------------------------------------------------------

// The JSON stream of `inject -o json`: objects one after another, each
// starting with "{" in column 0.
function parseJsonStream(text) {
	return text.split(/^(?=\{)/m).filter((s) => s.trim()).map((s) => JSON.parse(s));
}

function inject(file, args) {
	const r = spawnSync(requireBin(), ["inject", "-f", file, "-o", "json", ...args], { cwd: REPO, encoding: "utf8",
		maxBuffer: 256 << 20, timeout: 60000 });
	const what = `meshinject inject -f ${file} ${args.join(" ")}: exit ${r.status} ${r.signal ?? ""}\n${show(r.stderr, 2000)}`;
	assert.ok(r.status === 0 || r.status === 1, what);
	assert.equal(r.signal, null, what);
	return { docs: parseJsonStream(r.stdout), what };
}

// Inject each file under each stage; every proxy of the output through
// Envoy's rules. Returns the number of bootstraps checked.
function injectAll(files) {
	let n = 0;
	const stages = [["--stage", "traffic"], ["--stage", "mtls"], ["--config", cfgFile, "--stage", "everything"],
		["--config", cfgFile, "--stage", "probes"], ["--config", cfgFile, "--stage", "metrics"]];
	for (const file of files) {
		for (const args of stages) {
			const { docs, what } = inject(file, args);
			n += checkEnvoyAccepts(meshProxies(docs), what);
		}
	}
	return n;
}

describe("meshinject inject", () => {
	const golden = join(REPO, "tests/golden");
	test("the golden inputs under every stage, and the committed golden outputs", T, () => {
		const inputs = readdirSync(golden).filter((f) => /\.yaml$/.test(f)).sort().map((f) => join(golden, f));
		assert.ok(inputs.length >= 5, `golden inputs: ${inputs.length}`);
		const n = injectAll(inputs);
		assert.ok(n >= inputs.length, `only ${n} bootstraps from ${inputs.length} golden inputs`);
		let m = 0;
		for (const f of readdirSync(golden).filter((x) => x.endsWith(".yaml.injected")).sort()) {
			const docs = YAML.parseAllDocuments(readFileSync(join(golden, f), "utf8")).map((d) => d.toJS());
			m += checkEnvoyAccepts(meshProxies(docs), `tests/golden/${f}`);
		}
		assert.ok(m >= 5, `only ${m} bootstraps in the committed golden outputs`);
		console.log(`envoy: golden: ${n} bootstraps from inject, ${m} committed`);
	});

	const corpus = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => /\.ya?ml$/.test(f)).sort() : null;
	if (corpus === null)
		console.log(`envoy: ${CORPUS} is absent (no ../shared beside the repository): no Istio corpus cases`);
	else
		test(`the Istio corpus (${corpus.length} files) under every stage`, T, () => {
			const n = injectAll(corpus.map((f) => join(CORPUS, f)));
			assert.ok(n >= corpus.length, `only ${n} bootstraps from ${corpus.length} corpus files`);
			console.log(`envoy: corpus: ${n} bootstraps from inject`);
		});
});
