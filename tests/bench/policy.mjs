// policy.mjs - what enforcing a stage costs at pod creation (issue 13):
// N pods created in an enforced namespace guarded by the stage's
// ValidatingAdmissionPolicy (webhooks.enforcement=policy) against the same
// N guarded by the /validate/<stage> webhook entry (enforcement=webhook,
// failurePolicy Fail, the real `meshinject serve` over TLS), and a namespace
// with neither as the floor, in one run against one real kube-apiserver
// (etcd + kube-apiserver from .tools/bin on loopback). Rounds alternate the
// three so that warm-up and etcd growth fall on each alike. Reports wall
// time, per-pod latency and the apiserver's own metrics:
// apiserver_admission_webhook_admission_duration_seconds and the policy's
// apiserver_validating_admission_policy_check_duration_seconds.
//
//   node tests/bench/policy.mjs [OUT_FILE]    (POLICY_BENCH_PODS, default 300;
//   POLICY_BENCH_ROUNDS, default 3; POLICY_BENCH_CONCURRENCY, default 8)
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = resolve(process.env.MESHINJECT_BIN ?? join(REPO, "build/meshinject"));
const TOOLS = join(REPO, ".tools/bin");
const N = Number(process.env.POLICY_BENCH_PODS ?? 300);
const ROUNDS = Number(process.env.POLICY_BENCH_ROUNDS ?? 3);
const CONC = Number(process.env.POLICY_BENCH_CONCURRENCY ?? 8);
const OUT = process.argv[2];
const say = (s) => { console.log(s); if (OUT) appendFileSync(OUT, `${s}\n`); };

function freePort() {
	return new Promise((res, rej) => {
		const s = net.createServer();
		s.on("error", rej);
		s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
	});
}
function run(bin, args, opts = {}) {
	const r = spawnSync(bin, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
	if (r.error || r.status !== 0)
		throw new Error(`${bin} ${args.join(" ")}: ${r.error?.message ?? `exit ${r.status}`}\n${r.stderr}`);
	return r.stdout;
}

const dir = mkdtempSync(join(tmpdir(), "meshinject-policy-bench-"));
const procs = [];
function start(name, bin, args) {
	const p = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
	let log = "";
	p.stderr.on("data", (d) => { log = (log + d).slice(-20000); });
	p.log = () => log;
	procs.push(p);
	return p;
}
function cleanup() {
	for (const p of procs)
		if (p.exitCode === null)
			p.kill("SIGKILL");
	rmSync(dir, { recursive: true, force: true });
}
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

let api;
function request(method, path, body, headers = {}) {
	return new Promise((res, rej) => {
		const req = https.request({ host: "127.0.0.1", port: api.port, method, path, ca: api.ca, agent: api.agent,
			headers: { authorization: `Bearer ${api.token}`, "content-type": "application/json", ...headers } }, (r) => {
			let text = "";
			r.setEncoding("utf8");
			r.on("data", (d) => { text += d; });
			r.on("end", () => res({ status: r.statusCode, text }));
		});
		req.on("error", rej);
		req.end(body === undefined ? undefined : JSON.stringify(body));
	});
}

// Histogram sums and counts of the apiserver's metrics, by metric and the
// label that names the webhook or policy.
async function metrics() {
	const r = await request("GET", "/metrics", undefined, { accept: "text/plain" });
	const out = {};
	for (const line of r.text.split("\n")) {
		const m = /^(apiserver_admission_webhook_admission_duration_seconds|apiserver_validating_admission_policy_check_duration_seconds|apiserver_admission_controller_admission_duration_seconds)_(sum|count)\{([^}]*)\} (\S+)$/.exec(line);
		if (!m)
			continue;
		const labels = Object.fromEntries([...m[3].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
		// The two admission plugins that enforce, each timed whole.
		if (m[1].includes("controller") && !["ValidatingAdmissionPolicy", "ValidatingAdmissionWebhook"].includes(labels.name))
			continue;
		if (m[1].includes("controller") && labels.operation !== "CREATE")
			continue;
		const key = `${m[1]}{${labels.name ?? labels.policy ?? ""}${labels.rejected ? "" : ""}${labels.enforcement_action ? `,${labels.enforcement_action}` : ""}${labels.rejected ? `,rejected=${labels.rejected}` : ""}}`;
		out[key] ??= { sum: 0, count: 0 };
		out[key][m[2]] += Number(m[4]);
	}
	return out;
}

async function createPods(ns, pod, tag, want = 201) {
	const lat = [];
	let next = 0, failed = 0, firstError = "";
	const worker = async () => {
		for (;;) {
			const i = next++;
			if (i >= N)
				return;
			const p = structuredClone(pod);
			p.metadata.name = `${tag}-${i}`;
			const t0 = process.hrtime.bigint();
			const r = await request("POST", `/api/v1/namespaces/${ns}/pods`, p);
			lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
			if (r.status !== want) {
				failed++;
				firstError ||= `${r.status} ${r.text.slice(0, 300)}`;
			}
		}
	};
	const t0 = process.hrtime.bigint();
	await Promise.all(Array.from({ length: CONC }, worker));
	const wall = Number(process.hrtime.bigint() - t0) / 1e6;
	if (failed)
		throw new Error(`${ns}: ${failed} of ${N} pods not answered ${want}: ${firstError}`);
	lat.sort((a, b) => a - b);
	return { wall, lat };
}
const pct = (a, q) => a[Math.min(a.length - 1, Math.floor(q * a.length))];

async function main() {
	for (const t of ["etcd", "kube-apiserver", "kubectl"])
		if (!existsSync(join(TOOLS, t)))
			run(join(REPO, "tests/tools/build.sh"), []);
	if (!existsSync(BIN))
		throw new Error(`${BIN} is missing: make build/meshinject`);
	const [ec, ep, ap, wp, wm] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
	const pki = join(dir, "pki");
	run("mkdir", ["-p", pki]);
	run("openssl", ["genrsa", "-out", join(pki, "sa.key"), "2048"], { stdio: "ignore" });
	run("openssl", ["rsa", "-in", join(pki, "sa.key"), "-pubout", "-out", join(pki, "sa.pub")], { stdio: "ignore" });
	// The webhook's CA and serving certificate (meshinject certs).
	run(BIN, ["certs", "--service", "localhost", "--namespace", "bench", "--out", join(dir, "wh")]);
	const token = `bench${Date.now()}`;
	writeFileSync(join(dir, "tokens.csv"), `${token},admin,admin,system:masters\n`);
	const etcd = start("etcd", join(TOOLS, "etcd"), ["--data-dir", join(dir, "etcd"), "--listen-client-urls", `http://127.0.0.1:${ec}`,
		"--advertise-client-urls", `http://127.0.0.1:${ec}`, "--listen-peer-urls", `http://127.0.0.1:${ep}`,
		"--initial-advertise-peer-urls", `http://127.0.0.1:${ep}`, "--initial-cluster", `default=http://127.0.0.1:${ep}`,
		"--quota-backend-bytes", String(4 << 30)]);
	const apiserver = start("kube-apiserver", join(TOOLS, "kube-apiserver"), ["--etcd-servers", `http://127.0.0.1:${ec}`,
		"--bind-address", "127.0.0.1", "--secure-port", String(ap), "--cert-dir", pki, "--token-auth-file", join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC", "--service-account-key-file", join(pki, "sa.pub"),
		"--service-account-signing-key-file", join(pki, "sa.key"), "--service-account-issuer", "https://kubernetes.default.svc",
		"--service-cluster-ip-range", "10.96.0.0/16", "--advertise-address", "127.0.0.1", "--endpoint-reconciler-type", "none"]);
	api = { port: ap, token, agent: new https.Agent({ keepAlive: true, maxSockets: CONC }) };
	const deadline = Date.now() + 90000;
	for (;;) {
		try {
			api.ca = readFileSync(join(pki, "apiserver.crt"));
			if ((await request("GET", "/readyz")).status === 200)
				break;
		} catch { /* starting */ }
		if (Date.now() > deadline)
			throw new Error(`kube-apiserver not ready:\n${apiserver.log()}\n${etcd.log()}`);
		await sleep(300);
	}
	const cfg = join(dir, "config.yaml");
	writeFileSync(cfg, "stages:\n  strict:\n    features: [proxy, redirect, mtls]\n    enforce: true\n");
	const webhook = start("meshinject", BIN, ["serve", "--config", cfg, "--tls-cert", join(dir, "wh/tls.crt"),
		"--tls-key", join(dir, "wh/tls.key"), "--listen", `127.0.0.1:${wp}`, "--metrics-listen", `127.0.0.1:${wm}`]);
	for (let i = 0; ; i++) {
		const ok = await new Promise((res) => { const s = net.connect(wp, "127.0.0.1", () => { s.end(); res(true); }); s.on("error", () => res(false)); });
		if (ok)
			break;
		if (i > 100)
			throw new Error(`meshinject serve did not start:\n${webhook.log()}`);
		await sleep(100);
	}
	const kubectl = (args, input) => run(join(TOOLS, "kubectl"), ["--server", `https://127.0.0.1:${ap}`, "--token", token,
		"--certificate-authority", join(pki, "apiserver.crt"), ...args], { input });

	// Three namespaces of stage strict: one the policy guards, one the
	// webhook entry guards, one neither (the floor).
	const nss = { policy: "bench-policy", webhook: "bench-webhook", none: "bench-none" };
	for (const ns of Object.values(nss)) {
		kubectl(["create", "namespace", ns]);
		kubectl(["label", "namespace", ns, `bench=${ns}`, ...(ns === nss.policy ? ["meshinject.io/stage=strict"] : [])]);
		kubectl(["create", "serviceaccount", "default", "-n", ns]);
	}
	kubectl(["create", "-f", "-"], run(BIN, ["policy", "--config", cfg]));
	const ca = readFileSync(join(dir, "wh/ca.crt")).toString("base64");
	kubectl(["create", "-f", "-"], JSON.stringify({ apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration",
		metadata: { name: "bench-enforce" }, webhooks: [{ name: "strict.enforce.meshinject.io", admissionReviewVersions: ["v1"],
			sideEffects: "None", timeoutSeconds: 5, failurePolicy: "Fail", matchPolicy: "Equivalent",
			clientConfig: { url: `https://localhost:${wp}/validate/strict`, caBundle: ca },
			rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], scope: "Namespaced" }],
			namespaceSelector: { matchLabels: { bench: nss.webhook } } }] }));
	// The pod: what the webhook injects into a plain two-container pod.
	const plain = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec:\n  containers:\n" +
	    "  - {name: web, image: nginx:1.27, ports: [{containerPort: 8080}]}\n  - {name: log, image: busybox:1.36, command: [sleep, infinity]}\n";
	const pod = JSON.parse(run(BIN, ["inject", "-f", "-", "--stage", "strict", "--config", cfg, "-o", "json"], { input: plain }));
	// Both guards must be live: a bare pod is refused by each.
	for (const [mode, ns] of [["policy", nss.policy], ["webhook", nss.webhook]]) {
		for (let i = 0; ; i++) {
			const r = await request("POST", `/api/v1/namespaces/${ns}/pods?dryRun=All`, { apiVersion: "v1", kind: "Pod",
				metadata: { name: "bare" }, spec: { containers: [{ name: "web", image: "nginx" }] } });
			if (r.status === 403 && r.text.includes("mesh-proxy"))
				break;
			if (i > 100)
				throw new Error(`${mode} guard never refused a bare pod: ${r.status} ${r.text.slice(0, 300)}`);
			await sleep(200);
		}
	}
	// Warm-up, then measured rounds.
	for (const mode of ["policy", "webhook", "none"])
		await createPods(nss[mode], pod, `warm-${mode}`);
	const before = await metrics();
	const res = { policy: [], webhook: [], none: [], "policy, refused": [], "webhook, refused": [] };
	for (let r = 0; r < ROUNDS; r++)
		for (const mode of r % 2 ? ["webhook", "policy", "none"] : ["policy", "webhook", "none"])
			res[mode].push(await createPods(nss[mode], pod, `r${r}-${mode}`));
	const admitted = await metrics();
	// Refusals: the pod without its proxy (the policy's check metrics count
	// only refusals, warnings and errors, never a plain admission).
	const bare = structuredClone(pod);
	bare.spec.containers = bare.spec.containers.filter((c) => c.name !== "mesh-proxy");
	for (let r = 0; r < ROUNDS; r++)
		for (const mode of r % 2 ? ["webhook", "policy"] : ["policy", "webhook"])
			res[`${mode}, refused`].push(await createPods(nss[mode], bare, `bare${r}-${mode}`, 403));
	const afterM = await metrics();

	say(`## policy vs webhook: ${N} injected pods x ${ROUNDS} rounds per mode, ${CONC} concurrent creates, one kube-apiserver ${run(join(TOOLS, "kube-apiserver"), ["--version"]).trim()}`);
	say("mode                pods/s   wall ms (median round)   latency ms p50 / p90 / p99");
	for (const mode of Object.keys(res)) {
		const walls = res[mode].map((x) => x.wall).sort((a, b) => a - b);
		const lat = res[mode].flatMap((x) => x.lat).sort((a, b) => a - b);
		const wall = walls[Math.floor(walls.length / 2)];
		say(`${mode.padEnd(17)} ${(N / wall * 1000).toFixed(1).padStart(7)}   ${wall.toFixed(0).padStart(10)}               ` +
		    `${pct(lat, 0.5).toFixed(2)} / ${pct(lat, 0.9).toFixed(2)} / ${pct(lat, 0.99).toFixed(2)}`);
	}
	const delta = (what, from, to) => {
		say(`apiserver metrics, ${what} (sum s / count = mean ms):`);
		for (const [k, v] of Object.entries(to).sort()) {
			const b = from[k] ?? { sum: 0, count: 0 };
			const c = v.count - b.count, s = v.sum - b.sum;
			if (c > 0)
				say(`  ${k}: ${s.toFixed(3)} / ${c} = ${(s / c * 1000).toFixed(3)} ms`);
		}
	};
	// The plugins' own timings cover every pod of the round (the policy's
	// plugin also runs for pods no binding selects); the webhook's, each call.
	delta("the admitted rounds", before, admitted);
	delta("the refused rounds", admitted, afterM);
	if (!Object.keys(afterM).some((k) => k.includes("validating_admission_policy_check")))
		say("  (the apiserver serves no apiserver_validating_admission_policy_check_duration_seconds)");
}

main().then(() => process.exit(0), (e) => { console.error(`policy bench: ${e.stack ?? e}`); process.exit(1); });
