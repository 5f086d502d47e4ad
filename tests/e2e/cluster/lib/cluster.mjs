// cluster.mjs - a real Kubernetes control plane on loopback for the tests:
// etcd, kube-apiserver and kube-controller-manager from .tools/bin (built by
// tests/tools/build.sh), no kubelet and no kube-proxy (pods are admitted and
// stored, never run), helm to install charts/meshinject, and the real
// `meshinject serve` reached by kube-apiserver through the chart's own
// webhook entries (service reference + caBundle) via an ExternalName Service.
//
// API (stable: other suites import it; add, don't change):
//
//   ensureTools() -> { ms, bin }
//       Runs `tests/tools/build.sh kubernetes etcd helm` (a no-op when built)
//       and checks every binary. Throws with the reason when it cannot.
//   timing(label, ms)
//       Prints one line "# timing: <label>: <s> s" (the lead's layer times).
//   startCluster({ name }) -> Promise<Cluster>
//       Starts etcd, kube-apiserver (RBAC + Node authorization, admission
//       webhooks, ValidatingAdmissionPolicy, Pod Security, audit log),
//       kube-controller-manager (workload, namespace and service-account
//       controllers, per-controller service-account credentials), creates a
//       schedulable Node "node-1". Logs go to build/cluster/<name>/; the
//       temp dir (data, certs, kubeconfig) is removed by stop() and at exit.
//   Cluster
//     .name .dir .logDir .kubeconfig .server .token .caFile .caPem
//     .kubectl(args, { input, allowFail, timeoutMs }) -> Promise<{ code, stdout, stderr }>
//         Throws (command, exit code, stderr) on failure unless allowFail.
//     .kubectlJson(args, opts) -> Promise<object>       (adds -o json)
//     .apply(objs | yamlText, opts) -> Promise<result>  (kubectl apply -f -)
//     .create(objs | yamlText, opts) -> Promise<result> (kubectl create -f -)
//     .helm(args, opts) -> Promise<{ code, stdout, stderr }>
//     .createNamespace(name, labels) -> Promise<void>    waits for its SA "default"
//     .waitFor(what, fn, { timeoutMs, intervalMs }) -> value fn returned (truthy)
//     .apiserverMetrics() -> Promise<string>             GET /metrics as admin
//     .apiserverLog() -> string                          the whole log so far
//     .auditEvents() -> object[]                          parsed audit log lines
//     .webhookHealth() -> Promise<{ failOpen, failedCalls, auditConflicts }>
//         apiserver_admission_webhook_fail_open_count (sum), the apiserver
//         log lines saying "failed calling webhook", and those saying
//         "Failed to set admission audit annotation" (a reinvoked webhook
//         changing an audit annotation it had set).
//     .auditOf(pod) -> object[]   audit events of that stored pod's creation
//         (level RequestResponse for pod creates: responseObject is the pod)
//     .events(namespace, { name, reason }) -> Promise<Event[]>
//     .logTails(lines = 40) -> string                   tail of every log file
//     .guard(fn) -> fn'   wraps a test body: on failure the log tails are
//                          appended to the error message.
//     .stop() -> Promise<void>
//   metricSum(text, name, labels = {}) -> number   sum of a Prometheus series
//   installChart(cluster, { release = "meshinject", namespace = "meshinject-system", values, args }) -> Promise<Release>
//       helm install of charts/meshinject with certificates.source=helm and
//       service.port = a free port; then runs the webhook locally with the
//       Secret's tls.crt/tls.key and the ConfigMap's config
//       (POD_NAMESPACE=<namespace>) and swaps the chart's Service for an
//       ExternalName Service to localhost.
//   Release
//     .name .namespace .port .serviceName .values .secret { crt, key, ca } .config
//     .webhook (Webhook)  .swapService()  .restoreService()
//     .upgrade(values, args) -> helm upgrade result (restores the chart's
//         Service first, swaps again after, restarts the webhook with the
//         new Secret/ConfigMap)
//     .readSecret() -> { crt, key, ca }   .readConfig() -> string
//     .uninstall()
//   swapService(cluster, { namespace, name, port }) -> Promise<{ original, restore() }>
//       The ExternalName swap on its own (for objects not installed by helm).
//   startWebhook(cluster, { name, port, cert, key, config, namespace }) -> Promise<Webhook>
//   Webhook
//     .port .metricsPort .logFile .start() .stop() .running() .metrics() .log()
//     .reviews() -> the JSON review lines of its log
//     .setFiles({ cert, key, config }) -> new files for the next start()
//   makeCa(dir, { names, ips, prefix }) -> { ca, caFile, cert, key, certFile, keyFile }
//       openssl-made CA + serving certificate (ECDSA P-256).
//   freePort() -> Promise<number>
//   run(bin, args, { input, allowFail, timeoutMs, env }) -> Promise<{ code, stdout, stderr }>
//       any command, asynchronously (a test may serve HTTPS meanwhile)
//   requireMeshinject() -> MESHINJECT_BIN, or throws saying why
//   REPO, CHART, TOOLS_BIN   paths; Cluster   the class (startCluster is the
//       way in: it checks the tools and retries a start whose port was taken)
import { spawn, execFileSync } from "node:child_process";
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from "node:fs";
import https from "node:https";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import YAML from "yaml";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const TOOLS_BIN = process.env.MESHINJECT_TOOLS
	? join(process.env.MESHINJECT_TOOLS, "bin") : join(REPO, ".tools/bin");
export const CHART = join(REPO, "charts/meshinject");
const TOOLS = ["etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm"];

// ---- processes and cleanup --------------------------------------------------

// Every child we started and every temp dir we made: killed and removed when
// the test process ends, whatever way it ends.
const children = new Set();
const tempDirs = new Set();
const watchdogs = new Set();
function cleanupSync() {
	for (const w of watchdogs) {
		try { w.kill("SIGKILL"); } catch { /* gone */ }
	}
	for (const p of children) {
		try { p.kill("SIGKILL"); } catch { /* gone */ }
	}
	children.clear();
	for (const d of tempDirs) {
		try { rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ }
	}
	tempDirs.clear();
}
process.on("exit", cleanupSync);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
	process.once(sig, () => {
		cleanupSync();
		process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 })[sig]);
	});
}

// If this process dies without running its exit handlers (SIGKILL, a test
// runner killed), a watchdog kills the cluster's processes and removes its
// temp dir: each pid listed in <dir>/pids whose command line names <dir>.
const WATCHDOG = `
while kill -0 "$1" 2>/dev/null; do sleep 1; done
for p in $(cat "$2/pids" 2>/dev/null); do
	grep -qF "$2" "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p"
done
rm -rf "$2"
`;
function startWatchdog(dir) {
	const w = spawn("sh", ["-c", WATCHDOG, "meshinject-cluster-watchdog", String(process.pid), dir],
		{ detached: true, stdio: "ignore" });
	w.unref();
	return w;
}

// The environment children get: no proxy (kube-apiserver would send its
// webhook calls through one), HOME in our temp dir (kubectl and helm caches).
function childEnv(extra = {}) {
	const env = { ...process.env };
	for (const k of Object.keys(env)) {
		if (/^(https?|all|no)_proxy$/i.test(k))
			delete env[k];
	}
	env.NO_PROXY = "127.0.0.1,localhost,::1";
	return { ...env, ...extra };
}

// Spawn a long-running process with its stdout and stderr in logFile; its
// pid goes to pidsFile for the cluster's watchdog.
function spawnLogged(bin, args, logFile, env, pidsFile) {
	const fd = openSync(logFile, "a");
	const p = spawn(bin, args, { stdio: ["ignore", fd, fd], env });
	closeSync(fd);
	if (pidsFile && p.pid)
		appendFileSync(pidsFile, `${p.pid}\n`);
	children.add(p);
	p.exitInfo = null;
	p.exited = new Promise((res) => p.on("exit", (code, signal) => {
		children.delete(p);
		p.exitInfo = { code, signal };
		res(p.exitInfo);
	}));
	p.on("error", (e) => { p.spawnError = e; });
	return p;
}

async function stopProcess(p, timeoutMs = 5000) {
	if (!p || p.exitInfo)
		return p?.exitInfo;
	p.kill("SIGTERM");
	const r = await Promise.race([p.exited, sleep(timeoutMs, null, { ref: false })]);
	if (r)
		return r;
	p.kill("SIGKILL");
	return p.exited;
}

// Run a command to completion, asynchronously (tests may serve HTTPS from
// this process while kubectl waits on the apiserver that calls them).
export function run(bin, args, opts = {}) {
	return new Promise((res, rej) => {
		const p = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? childEnv(), cwd: opts.cwd });
		let stdout = "", stderr = "";
		p.stdout.on("data", (d) => { stdout += d; });
		p.stderr.on("data", (d) => { stderr += d; });
		const timeoutMs = opts.timeoutMs ?? 60000;
		const timer = setTimeout(() => { stderr += `\n[killed after ${timeoutMs} ms]`; p.kill("SIGKILL"); }, timeoutMs);
		p.on("error", (e) => { clearTimeout(timer); rej(new Error(`${bin}: ${e.message}`)); });
		p.on("close", (code, signal) => {
			clearTimeout(timer);
			const r = { code: code ?? 128, signal, stdout, stderr };
			if (r.code !== 0 && !opts.allowFail) {
				const e = new Error(`${bin.split("/").pop()} ${args.join(" ")} exited ${code ?? signal}:\n${stderr.trim() || stdout.trim()}`);
				e.result = r;
				rej(e);
			} else {
				res(r);
			}
		});
		p.stdin.on("error", () => { /* the command may not read its input */ });
		if (opts.input !== undefined)
			p.stdin.end(opts.input);
		else
			p.stdin.end();
	});
}

// ---- small helpers ------------------------------------------------------------

export function timing(label, ms) {
	console.log(`# timing: ${label}: ${(ms / 1000).toFixed(1)} s`);
}

// A port free a moment ago, never one this process was given before (the
// kernel may hand a just-released port out again).
const givenPorts = new Set();

export async function freePort() {
	for (let i = 0; i < 100; i++) {
		const port = await new Promise((res, rej) => {
			const s = net.createServer();
			s.unref();
			s.on("error", rej);
			s.listen(0, "127.0.0.1", () => {
				const { port } = s.address();
				s.close(() => res(port));
			});
		});
		if (!givenPorts.has(port)) {
			givenPorts.add(port);
			return port;
		}
	}
	throw new Error("freePort: the kernel kept handing out ports this process already uses");
}

function openssl(args, cwd) {
	try {
		return execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"], timeout: 30000 });
	} catch (e) {
		throw new Error(`openssl ${args.join(" ")} failed: ${e.stderr || e.message}`);
	}
}

// A CA and a serving certificate signed by it, in dir (ECDSA P-256).
export function makeCa(dir, { names = ["localhost"], ips = ["127.0.0.1"], prefix = "" } = {}) {
	mkdirSync(dir, { recursive: true });
	const f = (n) => `${prefix}${n}`;
	openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f("ca.key")], dir);
	openssl(["req", "-x509", "-new", "-key", f("ca.key"), "-sha256", "-days", "2",
		"-subj", `/CN=${prefix}meshinject cluster test CA`,
		"-addext", "basicConstraints=critical,CA:TRUE",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", f("ca.crt")], dir);
	openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f("tls.key")], dir);
	openssl(["req", "-new", "-key", f("tls.key"), "-subj", `/CN=${names[0] ?? ips[0]}`, "-out", f("tls.csr")], dir);
	const san = [...names.map((n) => `DNS:${n}`), ...ips.map((i) => `IP:${i}`)].join(",");
	writeFileSync(join(dir, f("ext.cnf")), ["basicConstraints=critical,CA:FALSE",
		"keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth",
		`subjectAltName=${san}`, ""].join("\n"));
	openssl(["x509", "-req", "-in", f("tls.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"),
		"-CAcreateserial", "-days", "2", "-sha256", "-extfile", f("ext.cnf"), "-out", f("tls.crt")], dir);
	return {
		caFile: join(dir, f("ca.crt")),
		certFile: join(dir, f("tls.crt")),
		keyFile: join(dir, f("tls.key")),
		ca: readFileSync(join(dir, f("ca.crt")), "utf8"),
		cert: readFileSync(join(dir, f("tls.crt")), "utf8"),
		key: readFileSync(join(dir, f("tls.key")), "utf8"),
	};
}

export function metricSum(text, name, labels = {}) {
	let sum = 0;
	for (const line of text.split("\n")) {
		if (line.startsWith("#"))
			continue;
		const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
		if (!m || m[1] !== name)
			continue;
		const have = {};
		for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
			have[k] = v;
		if (Object.entries(labels).every(([k, v]) => have[k] === v))
			sum += Number(m[3]);
	}
	return sum;
}

function tail(file, lines) {
	if (!existsSync(file))
		return `(${file}: none)`;
	const t = readFileSync(file, "utf8").split("\n");
	return t.slice(-lines - 1).join("\n");
}

function toYamlStream(objs) {
	if (typeof objs === "string")
		return objs;
	const list = Array.isArray(objs) ? objs : [objs];
	// JSON documents: a YAML 1.1 reader (kubectl, helm) cannot take "on" or
	// "yes" for a boolean there.
	return list.map((o) => JSON.stringify(o, null, 1)).join("\n---\n");
}

async function waitFor(what, fn, { timeoutMs = 30000, intervalMs = 200 } = {}) {
	const deadline = Date.now() + timeoutMs;
	let last;
	for (;;) {
		try {
			const v = await fn();
			if (v)
				return v;
			last = undefined;
		} catch (e) {
			if (e.fatal)
				throw new Error(`${what}: ${e.message}`);
			last = e;
		}
		if (Date.now() > deadline)
			throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
		await sleep(intervalMs);
	}
}

// ---- tools --------------------------------------------------------------------

let toolsChecked = null;
export async function ensureTools() {
	if (toolsChecked)
		return toolsChecked;
	const t0 = Date.now();
	const r = await run(join(REPO, "tests/tools/build.sh"), ["kubernetes", "etcd", "helm"],
		{ allowFail: true, timeoutMs: 60 * 60 * 1000 });
	if (r.code !== 0)
		throw new Error(`tests/tools/build.sh kubernetes etcd helm failed (exit ${r.code}); the cluster tests need the real components:\n${r.stderr.slice(-3000)}`);
	const missing = TOOLS.filter((b) => !existsSync(join(TOOLS_BIN, b)));
	if (missing.length)
		throw new Error(`missing in ${TOOLS_BIN} after tests/tools/build.sh: ${missing.join(", ")}`);
	toolsChecked = { ms: Date.now() - t0, bin: TOOLS_BIN };
	return toolsChecked;
}

function httpsGet(url, { ca, token, timeoutMs = 3000 }) {
	return new Promise((res, rej) => {
		const req = https.get(url, { ca, headers: token ? { Authorization: `Bearer ${token}` } : {}, agent: false, timeout: timeoutMs }, (r) => {
			let body = "";
			r.on("data", (d) => { body += d; });
			r.on("end", () => res({ status: r.statusCode, body }));
			r.on("error", rej);
		});
		req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
		req.on("error", rej);
	});
}

// ---- the control plane --------------------------------------------------------

const CONTROLLERS = [
	"deployment-controller", "replicaset-controller", "statefulset-controller",
	"daemonset-controller", "job-controller", "cronjob-controller",
	"replicationcontroller-controller", "namespace-controller",
	"serviceaccount-controller", "serviceaccount-token-controller",
	"garbage-collector-controller", "root-ca-certificate-publisher-controller",
	"ttl-after-finished-controller", "validatingadmissionpolicy-status-controller",
];

function alive(pid) {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

// build/cluster/<name>/, emptied; build/cluster/<name>-<pid>/ when another
// live test process (another `make cluster` in the same tree) holds it.
function logDirFor(name) {
	let dir = join(REPO, "build/cluster", name);
	const owner = Number(existsSync(join(dir, ".owner")) ? readFileSync(join(dir, ".owner"), "utf8") : 0);
	if (owner && owner !== process.pid && alive(owner))
		dir = `${dir}-${process.pid}`;
	rmSync(dir, { recursive: true, force: true });
	mkdirSync(dir, { recursive: true });
	writeFileSync(join(dir, ".owner"), String(process.pid));
	return dir;
}

export class Cluster {
	constructor(name) {
		this.name = name;
		this.dir = mkdtempSync(join(tmpdir(), `meshinject-cluster-${name}-`));
		tempDirs.add(this.dir);
		this.logDir = logDirFor(name);
		this.procs = {};
		this.webhooks = new Set();
		this.token = randomBytes(24).toString("hex");
		this.kcmToken = randomBytes(24).toString("hex");
		this.home = join(this.dir, "home");
		mkdirSync(this.home);
		this.env = childEnv({
			HOME: this.home, KUBECONFIG: join(this.dir, "admin.kubeconfig"),
			HELM_CACHE_HOME: join(this.home, "helm-cache"), HELM_CONFIG_HOME: join(this.home, "helm-config"),
			HELM_DATA_HOME: join(this.home, "helm-data"),
		});
		this.stopped = false;
		this.pidsFile = join(this.dir, "pids");
		writeFileSync(this.pidsFile, "");
		this.watchdog = startWatchdog(this.dir);
		watchdogs.add(this.watchdog);
	}

	log(file) {
		return join(this.logDir, file);
	}

	kubeconfigFor(token, file) {
		writeFileSync(file, YAML.stringify({
			apiVersion: "v1", kind: "Config",
			clusters: [{ name: this.name, cluster: { server: this.server, "certificate-authority": this.caFile } }],
			users: [{ name: "user", user: { token } }],
			contexts: [{ name: this.name, context: { cluster: this.name, user: "user", namespace: "default" } }],
			"current-context": this.name,
		}), { mode: 0o600 });
		return file;
	}

	async start() {
		const bin = (b) => join(TOOLS_BIN, b);
		const d = this.dir;
		// PKI: a CA for the apiserver's serving certificate, a service-account
		// signing key.
		const pki = makeCa(join(d, "pki"), {
			names: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"],
			ips: ["127.0.0.1", "10.96.0.1"],
		});
		this.caFile = pki.caFile;
		this.caPem = pki.ca;
		const saKey = join(d, "pki/sa.key");
		const saPub = join(d, "pki/sa.pub");
		openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", saKey], d);
		openssl(["ec", "-in", saKey, "-pubout", "-out", saPub], d);
		writeFileSync(join(d, "tokens.csv"), [
			`${this.token},meshinject-e2e-admin,uid-admin,"system:masters"`,
			`${this.kcmToken},system:kube-controller-manager,uid-kcm`,
			""].join("\n"), { mode: 0o600 });
		writeFileSync(join(d, "audit-policy.yaml"), YAML.stringify({
			apiVersion: "audit.k8s.io/v1", kind: "Policy", omitStages: ["RequestReceived"],
			rules: [
				// RequestResponse: the stored pod (with the name a controller's
				// generateName got) and the webhooks' audit annotations.
				{ level: "RequestResponse", verbs: ["create"], resources: [{ group: "", resources: ["pods"] }] },
				{ level: "None" },
			],
		}));

		// etcd
		const etcdPort = await freePort();
		const peerPort = await freePort();
		this.procs.etcd = spawnLogged(bin("etcd"), [
			"--name", "e2e", "--data-dir", join(d, "etcd"),
			"--listen-client-urls", `http://127.0.0.1:${etcdPort}`,
			"--advertise-client-urls", `http://127.0.0.1:${etcdPort}`,
			"--listen-peer-urls", `http://127.0.0.1:${peerPort}`,
			"--initial-advertise-peer-urls", `http://127.0.0.1:${peerPort}`,
			"--initial-cluster", `e2e=http://127.0.0.1:${peerPort}`,
			"--unsafe-no-fsync", "--log-level", "warn",
		], this.log("etcd.log"), this.env, this.pidsFile);
		await waitFor("etcd /health", async () => {
			this.checkAlive("etcd");
			const r = await new Promise((res, rej) => {
				http.get(`http://127.0.0.1:${etcdPort}/health`, { timeout: 1000 }, (x) => {
					let b = ""; x.on("data", (c) => { b += c; }); x.on("end", () => res(b));
				}).on("error", rej);
			});
			return r.includes("true");
		}, { timeoutMs: 20000, intervalMs: 100 });

		// kube-apiserver
		const apiPort = await freePort();
		this.server = `https://127.0.0.1:${apiPort}`;
		this.procs.apiserver = spawnLogged(bin("kube-apiserver"), [
			`--etcd-servers=http://127.0.0.1:${etcdPort}`,
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", `--secure-port=${apiPort}`,
			`--tls-cert-file=${pki.certFile}`, `--tls-private-key-file=${pki.keyFile}`,
			`--token-auth-file=${join(d, "tokens.csv")}`,
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,PodSecurity,Priority,ResourceQuota,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,NodeRestriction",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			`--service-account-key-file=${saPub}`, `--service-account-signing-key-file=${saKey}`,
			"--api-audiences=https://kubernetes.default.svc.cluster.local",
			"--service-cluster-ip-range=10.96.0.0/16",
			"--endpoint-reconciler-type=none",
			"--allow-privileged=true",
			`--audit-policy-file=${join(d, "audit-policy.yaml")}`,
			`--audit-log-path=${this.log("audit.log")}`, "--audit-log-mode=blocking",
			"--profiling=false",
		], this.log("kube-apiserver.log"), this.env, this.pidsFile);
		await waitFor("kube-apiserver /readyz", async () => {
			this.checkAlive("apiserver");
			const r = await httpsGet(`${this.server}/readyz`, { ca: this.caPem, token: this.token });
			return r.status === 200;
		}, { timeoutMs: 60000, intervalMs: 200 });

		this.kubeconfig = this.kubeconfigFor(this.token, join(d, "admin.kubeconfig"));
		const kcmKubeconfig = this.kubeconfigFor(this.kcmToken, join(d, "kcm.kubeconfig"));

		// kube-controller-manager: each controller with its own service
		// account (as kubeadm runs it), so RBAC is exercised as in a cluster.
		this.procs.kcm = spawnLogged(bin("kube-controller-manager"), [
			`--kubeconfig=${kcmKubeconfig}`,
			"--leader-elect=false", "--secure-port=0",
			`--controllers=${CONTROLLERS.join(",")}`,
			"--use-service-account-credentials=true",
			`--root-ca-file=${this.caFile}`, `--service-account-private-key-file=${saKey}`,
			"--cluster-name=meshinject-e2e",
			"--kube-api-qps=200", "--kube-api-burst=400",
			"--concurrent-deployment-syncs=5", "--concurrent-replicaset-syncs=5",
		], this.log("kube-controller-manager.log"), this.env, this.pidsFile);
		// The service-account controller makes "default" in every namespace:
		// pods can only be created after that.
		await this.waitFor("the service-account controller (serviceaccount default/default)", async () => {
			this.checkAlive("kcm");
			const r = await this.kubectl(["get", "serviceaccount", "default", "-n", "default", "-o", "name"], { allowFail: true });
			return r.code === 0;
		}, { timeoutMs: 60000, intervalMs: 250 });

		// A Node, so the DaemonSet controller makes pods. Admission
		// (TaintNodesByCondition) taints a new node not-ready until its kubelet
		// reports; there is no kubelet, so the taint is taken off by hand (and
		// no node-lifecycle controller puts it back).
		await this.create({
			apiVersion: "v1", kind: "Node",
			metadata: { name: "node-1", labels: { "kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64" } },
		});
		await this.kubectl(["patch", "node", "node-1", "--type=json", "-p", '[{"op":"remove","path":"/spec/taints"}]'], { allowFail: true });
		return this;
	}

	checkAlive(which) {
		const p = this.procs[which];
		if (p?.spawnError)
			throw Object.assign(new Error(`${which} could not start: ${p.spawnError.message}`), { fatal: true });
		if (p?.exitInfo) {
			const e = new Error(`${which} exited (${JSON.stringify(p.exitInfo)}); see ${this.logDir}`);
			e.fatal = true;
			throw e;
		}
	}

	waitFor(what, fn, opts) {
		return waitFor(what, fn, opts);
	}

	kubectl(args, opts = {}) {
		return run(join(TOOLS_BIN, "kubectl"), ["--kubeconfig", this.kubeconfig ?? join(this.dir, "admin.kubeconfig"), ...args],
			{ ...opts, env: this.env });
	}

	async kubectlJson(args, opts = {}) {
		const r = await this.kubectl([...args, "-o", "json"], opts);
		return JSON.parse(r.stdout);
	}

	apply(objs, opts = {}) {
		return this.kubectl(["apply", ...(opts.args ?? []), "-f", "-"], { ...opts, input: toYamlStream(objs) });
	}

	create(objs, opts = {}) {
		return this.kubectl(["create", ...(opts.args ?? []), "-f", "-"], { ...opts, input: toYamlStream(objs) });
	}

	helm(args, opts = {}) {
		return run(join(TOOLS_BIN, "helm"), ["--kubeconfig", this.kubeconfig, ...args],
			{ timeoutMs: 120000, ...opts, env: this.env });
	}

	async createNamespace(name, labels = {}) {
		await this.create({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
		await this.waitFor(`serviceaccount ${name}/default`, async () =>
			(await this.kubectl(["get", "serviceaccount", "default", "-n", name, "-o", "name"], { allowFail: true })).code === 0,
		{ timeoutMs: 30000, intervalMs: 150 });
	}

	async apiserverMetrics() {
		const r = await httpsGet(`${this.server}/metrics`, { ca: this.caPem, token: this.token, timeoutMs: 10000 });
		if (r.status !== 200)
			throw new Error(`GET /metrics: ${r.status} ${r.body.slice(0, 300)}`);
		return r.body;
	}

	apiserverLog() {
		return readFileSync(this.log("kube-apiserver.log"), "utf8");
	}

	auditEvents() {
		const f = this.log("audit.log");
		if (!existsSync(f))
			return [];
		return readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
	}

	auditOf(pod) {
		return this.auditEvents().filter((e) => e.verb === "create" && e.objectRef?.resource === "pods" &&
		    e.responseObject?.metadata?.uid === pod.metadata.uid);
	}

	async webhookHealth() {
		const failOpen = metricSum(await this.apiserverMetrics(), "apiserver_admission_webhook_fail_open_count");
		const log = this.apiserverLog().split("\n");
		const failedCalls = log.filter((l) => /failed calling webhook/i.test(l));
		// A webhook that answers a reinvocation with another value for an
		// audit annotation it set before: the apiserver keeps the first and
		// warns on every pod.
		const auditConflicts = log.filter((l) => /Failed to set admission audit annotation/i.test(l));
		return { failOpen, failedCalls, auditConflicts };
	}

	async events(namespace, { name, reason } = {}) {
		const sel = [name && `involvedObject.name=${name}`, reason && `reason=${reason}`].filter(Boolean).join(",");
		const j = await this.kubectlJson(["get", "events", "-n", namespace, ...(sel ? ["--field-selector", sel] : [])]);
		return j.items;
	}

	logTails(lines = 40) {
		let out = "";
		for (const f of readdirSync(this.logDir).sort()) {
			const p = join(this.logDir, f);
			if (f === "audit.log" || f.startsWith(".") || !statSync(p).isFile())
				continue;
			out += `\n--- ${p} (last ${lines} lines) ---\n${tail(p, lines)}`;
		}
		return out;
	}

	guard(fn) {
		return async (...args) => {
			try {
				return await fn(...args);
			} catch (e) {
				e.message += `\n${this.logTails()}`;
				throw e;
			}
		};
	}

	async stop() {
		if (this.stopped)
			return;
		this.stopped = true;
		for (const w of this.webhooks)
			await w.stop();
		await stopProcess(this.procs.kcm);
		await stopProcess(this.procs.apiserver);
		await stopProcess(this.procs.etcd);
		rmSync(this.dir, { recursive: true, force: true });
		tempDirs.delete(this.dir);
		try { this.watchdog.kill("SIGKILL"); } catch { /* gone */ }
		watchdogs.delete(this.watchdog);
	}
}

export async function startCluster({ name }) {
	if (!/^[a-z0-9-]+$/.test(name))
		throw new Error(`startCluster: name ${JSON.stringify(name)} must be lowercase letters, digits and -`);
	await ensureTools();
	// Ports are picked free a moment before the processes bind them; another
	// test on the machine may take one in between. One more try then.
	for (let attempt = 1; ; attempt++) {
		const c = new Cluster(name);
		try {
			await c.start();
			return c;
		} catch (e) {
			const tails = c.logTails(60);
			await c.stop();
			if (attempt === 1 && /address already in use/.test(tails)) {
				console.log(`# cluster ${name}: a port was taken meanwhile, starting again`);
				continue;
			}
			e.message = `control plane ${name} did not start: ${e.message}${tails}`;
			throw e;
		}
	}
}

// ---- the webhook process ------------------------------------------------------

export function requireMeshinject() {
	const b = process.env.MESHINJECT_BIN;
	if (!b)
		throw new Error("MESHINJECT_BIN is not set (run through `make cluster`)");
	if (!existsSync(b))
		throw new Error(`MESHINJECT_BIN=${b} does not exist (run \`make all\`)`);
	return b;
}

class Webhook {
	constructor(cluster, opts) {
		this.cluster = cluster;
		this.name = opts.name ?? "meshinject";
		this.port = opts.port;
		this.namespace = opts.namespace ?? "meshinject-system";
		this.dir = join(cluster.dir, `webhook-${this.name}`);
		mkdirSync(this.dir, { recursive: true });
		this.logFile = cluster.log(`${this.name}.log`);
		this.setFiles(opts);
		this.proc = null;
	}

	setFiles({ cert, key, config }) {
		writeFileSync(join(this.dir, "tls.crt"), cert);
		writeFileSync(join(this.dir, "tls.key"), key, { mode: 0o600 });
		if (config !== undefined)
			writeFileSync(join(this.dir, "config.yaml"), config);
		this.hasConfig = existsSync(join(this.dir, "config.yaml"));
	}

	running() {
		return !!this.proc && !this.proc.exitInfo;
	}

	async start() {
		if (this.running())
			return this;
		this.metricsPort = await freePort();
		const args = ["serve", "--tls-cert", join(this.dir, "tls.crt"), "--tls-key", join(this.dir, "tls.key"),
			"--listen", `127.0.0.1:${this.port}`, "--metrics-listen", `127.0.0.1:${this.metricsPort}`];
		if (this.hasConfig)
			args.push("--config", join(this.dir, "config.yaml"));
		this.proc = spawnLogged(requireMeshinject(), args, this.logFile, childEnv({ POD_NAMESPACE: this.namespace }), this.cluster.pidsFile);
		await waitFor(`meshinject serve on 127.0.0.1:${this.port} ready`, async () => {
			if (this.proc.exitInfo || this.proc.spawnError)
				throw Object.assign(new Error(`meshinject exited: ${JSON.stringify(this.proc.exitInfo)}\n${tail(this.logFile, 20)}`), { fatal: true });
			const r = await this.httpGet("/readyz");
			return r.status === 200;
		}, { timeoutMs: 15000, intervalMs: 50 });
		return this;
	}

	async stop() {
		if (!this.proc)
			return;
		const r = await stopProcess(this.proc, 20000);
		this.proc = null;
		return r;
	}

	httpGet(path) {
		return new Promise((res, rej) => {
			http.get({ host: "127.0.0.1", port: this.metricsPort, path, timeout: 2000, agent: false }, (r) => {
				let b = ""; r.on("data", (c) => { b += c; }); r.on("end", () => res({ status: r.statusCode, body: b }));
			}).on("error", rej);
		});
	}

	async metrics() {
		return (await this.httpGet("/metrics")).body;
	}

	log() {
		return existsSync(this.logFile) ? readFileSync(this.logFile, "utf8") : "";
	}

	// The JSON review lines of the log.
	reviews() {
		return this.log().split("\n").filter((l) => l.startsWith("{")).map((l) => {
			try { return JSON.parse(l); } catch { return null; }
		}).filter((x) => x && x.uid);
	}
}

export async function startWebhook(cluster, opts) {
	const w = new Webhook(cluster, opts);
	cluster.webhooks.add(w);
	return w.start();
}

// ---- the chart ----------------------------------------------------------------

class Release {
	constructor(cluster, { release, namespace, port, values }) {
		this.cluster = cluster;
		this.name = release;
		this.namespace = namespace;
		this.port = port;
		this.values = values;
		// The chart's fullname: the release name when it contains "meshinject".
		this.serviceName = release.includes("meshinject") ? release : `${release}-meshinject`;
		this.swapped = null;
	}

	valuesFile(values) {
		const f = join(this.cluster.dir, `values-${this.name}-${Date.now()}.yaml`);
		writeFileSync(f, JSON.stringify(values, null, 1));
		return f;
	}

	async readSecret() {
		const s = await this.cluster.kubectlJson(["get", "secret", `${this.serviceName}-tls`, "-n", this.namespace]);
		const dec = (k) => Buffer.from(s.data?.[k] ?? "", "base64").toString("utf8");
		return { crt: dec("tls.crt"), key: dec("tls.key"), ca: dec("ca.crt") };
	}

	async readConfig() {
		const cm = await this.cluster.kubectlJson(["get", "configmap", this.serviceName, "-n", this.namespace]);
		return cm.data["config.yaml"];
	}

	// Replace the chart's Service with an ExternalName Service of the same
	// name pointing at localhost: kube-apiserver then dials
	// localhost:<entry's port> and still verifies <svc>.<ns>.svc.
	async swapService() {
		if (this.swapped)
			return;
		this.swapped = await swapService(this.cluster, { namespace: this.namespace, name: this.serviceName, port: this.port });
	}

	// Put the chart's own Service back (before a helm upgrade).
	async restoreService() {
		if (!this.swapped)
			return;
		await this.swapped.restore();
		this.swapped = null;
	}

	async startWebhook() {
		const secret = await this.readSecret();
		this.secret = secret;
		this.config = await this.readConfig();
		if (this.webhook) {
			this.webhook.setFiles({ cert: secret.crt, key: secret.key, config: this.config });
			await this.webhook.stop();
			await this.webhook.start();
		} else {
			this.webhook = await startWebhook(this.cluster, {
				name: `meshinject-${this.name}`, port: this.port, namespace: this.namespace,
				cert: secret.crt, key: secret.key, config: this.config,
			});
		}
	}

	async upgrade(values, args = []) {
		await this.restoreService();
		const v = values ?? this.values;
		const r = await this.cluster.helm(["upgrade", this.name, CHART, "-n", this.namespace,
			"-f", this.valuesFile(v), "--set", "certificates.source=helm", "--set", `service.port=${this.port}`, ...args]);
		this.values = v;
		await this.swapService();
		await this.startWebhook();
		return r;
	}

	async uninstall() {
		await this.restoreService();
		if (this.webhook)
			await this.webhook.stop();
		return this.cluster.helm(["uninstall", this.name, "-n", this.namespace]);
	}
}

// Replace Service <namespace>/<name> with an ExternalName Service of the same
// name (labels and annotations kept) pointing at localhost, so kube-apiserver
// dials localhost:<port of the webhook entry> and verifies the certificate
// as <name>.<namespace>.svc. Returns { original, restore() }; restore() puts
// the original back (without its cluster IP), e.g. before a helm upgrade or
// a kubectl apply of the same objects.
export async function swapService(cluster, { namespace, name, port }) {
	const svc = await cluster.kubectlJson(["get", "service", name, "-n", namespace]);
	if (svc.spec.type === "ExternalName")
		throw new Error(`swapService: ${namespace}/${name} is already an ExternalName Service`);
	const meta = { name, namespace, labels: svc.metadata.labels, annotations: svc.metadata.annotations };
	await cluster.kubectl(["delete", "service", name, "-n", namespace, "--wait=true"]);
	await cluster.create({
		apiVersion: "v1", kind: "Service", metadata: meta,
		spec: { type: "ExternalName", externalName: "localhost", ports: [{ name: "https", port, protocol: "TCP" }] },
	});
	return {
		original: svc,
		async restore() {
			await cluster.kubectl(["delete", "service", name, "-n", namespace, "--wait=true"]);
			const spec = { ...svc.spec };
			delete spec.clusterIP;
			delete spec.clusterIPs;
			await cluster.create({ apiVersion: "v1", kind: "Service", metadata: meta, spec });
		},
	};
}

// helm install the chart (certificates.source=helm, service.port = a free
// port), run the webhook locally with the Secret and ConfigMap it made, and
// swap the Service. Returns the Release with .install (helm's output).
export async function installChart(cluster, { release = "meshinject", namespace = "meshinject-system", values = {}, args = [] } = {}) {
	const port = await freePort();
	const rel = new Release(cluster, { release, namespace, port, values });
	rel.install = await cluster.helm(["install", release, CHART, "-n", namespace, "--create-namespace",
		"-f", rel.valuesFile(values), "--set", "certificates.source=helm", "--set", `service.port=${port}`, ...args]);
	await rel.startWebhook();
	await rel.swapService();
	return rel;
}
