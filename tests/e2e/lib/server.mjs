// server.mjs - run the real `meshinject serve` binary over real HTTPS and
// talk to it the way kube-apiserver does: TLS verified against the test CA
// (never rejectUnauthorized:false), POST an AdmissionReview, read the answer.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { makePki } from "./pki.mjs";

export const BIN = process.env.MESHINJECT_BIN;

// A message for test skips/failures when the binary is not given.
export function requireBin() {
	if (!BIN)
		throw new Error("MESHINJECT_BIN is not set (run through `make e2e`)");
	if (!existsSync(BIN))
		throw new Error(`MESHINJECT_BIN=${BIN} does not exist (run \`make build/meshinject\`)`);
	return BIN;
}

// Is the binary built with AddressSanitizer (SANITIZER=address)? Its
// quarantine makes RSS useless for leak checks; LeakSanitizer then checks
// at exit, which Server.stop() sees as a non-zero exit.
export function binaryIsSanitized() {
	try {
		return readFileSync(requireBin()).includes("__asan_init");
	} catch {
		return false;
	}
}

// A port that was free a moment ago on 127.0.0.1, and never one this
// process was given before: the kernel may hand the port it just released
// out again (CI saw --listen and --metrics-listen get the same one). Another
// test process can still take it in between; Server.start retries for that.
const givenPorts = new Set();

export async function freePort() {
	for (let i = 0; i < 100; i++) {
		const port = await new Promise((resolve, reject) => {
			const s = net.createServer();
			s.unref();
			s.on("error", reject);
			s.listen(0, "127.0.0.1", () => {
				const { port } = s.address();
				s.close(() => resolve(port));
			});
		});
		if (!givenPorts.has(port)) {
			givenPorts.add(port);
			return port;
		}
	}
	throw new Error("freePort: the kernel kept handing out ports this process already uses");
}

// Plain-HTTP GET on the metrics listener: { status, body }.
export function httpGet(port, path, timeoutMs = 2000) {
	return new Promise((resolve, reject) => {
		const req = http.get({ host: "127.0.0.1", port, path, agent: false, timeout: timeoutMs }, (res) => {
			const chunks = [];
			res.on("data", (c) => chunks.push(c));
			res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
			res.on("error", reject);
		});
		req.on("timeout", () => req.destroy(new Error(`GET ${path}: timed out after ${timeoutMs} ms`)));
		req.on("error", reject);
	});
}

// Servers still running: killed if the test process exits without
// stopping them, so that no meshinject outlives its tests.
const live = new Set();
process.on("exit", () => {
	for (const p of live)
		try { p.kill("SIGKILL"); } catch { /* already gone */ }
});

// One running `meshinject serve`. Use Server.start(); always stop().
export class Server {
	constructor(proc, opts) {
		this.proc = proc;
		this.port = opts.port;
		this.metricsPort = opts.metricsPort;
		this.pki = opts.pki;
		this.ownPki = opts.ownPki;
		this.args = opts.args;
		this.stdout = "";
		this.stderr = "";
		this.exit = null;	// { code, signal } once it has exited
		proc.stdout.on("data", (d) => { this.stdout += d; });
		proc.stderr.on("data", (d) => { this.stderr += d; });
		live.add(proc);
		this.exited = new Promise((resolve) => {
			proc.on("exit", (code, signal) => {
				live.delete(proc);
				this.exit = { code, signal };
				resolve(this.exit);
			});
		});
	}

	// Start the binary and wait (bounded) until /readyz answers 200.
	// opts: { config: FILE, pki, extraArgs: [], key: "pkcs8"|"sec1", env: {},
	//         readyTimeoutMs }
	static async start(opts = {}) {
		for (let attempt = 1; ; attempt++) {
			try {
				return await Server.startOnce(opts);
			} catch (e) {
				// Only a lost race for a port is retried, and only twice.
				if (attempt >= 3 || !/cannot serve HTTPS? on .* \(address in use/.test(e.message))
					throw e;
			}
		}
	}

	static async startOnce(opts) {
		const bin = requireBin();
		const ownPki = !opts.pki;
		const pki = opts.pki ?? makePki();
		const port = await freePort();
		const metricsPort = await freePort();
		const args = ["serve",
			"--tls-cert", pki.cert,
			"--tls-key", opts.key === "sec1" ? pki.ecKey : pki.key,
			"--listen", `127.0.0.1:${port}`,
			"--metrics-listen", `127.0.0.1:${metricsPort}`];
		if (opts.config)
			args.push("--config", opts.config);
		args.push(...(opts.extraArgs ?? []));
		const env = { ...process.env, ...(opts.env ?? {}) };
		const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env });
		const srv = new Server(proc, { port, metricsPort, pki, ownPki, args });
		await new Promise((resolve, reject) => {
			proc.once("spawn", resolve);
			proc.once("error", reject);
		});
		const deadline = Date.now() + (opts.readyTimeoutMs ?? 10000);
		let last = "no answer";
		while (Date.now() < deadline) {
			if (srv.exit) {
				if (ownPki)
					pki.cleanup();
				throw new Error(`meshinject ${args.join(" ")} exited before it was ready ` +
				    `(code ${srv.exit.code}, signal ${srv.exit.signal}); stderr:\n${srv.stderr}`);
			}
			try {
				const r = await httpGet(metricsPort, "/readyz", 1000);
				if (r.status === 200)
					return srv;
				last = `GET /readyz: ${r.status} ${r.body.slice(0, 200)}`;
			} catch (e) {
				last = `GET /readyz: ${e.message}`;
			}
			await sleep(50);
		}
		await srv.kill();
		throw new Error(`meshinject was not ready within ${opts.readyTimeoutMs ?? 10000} ms (${last}); stderr:\n${srv.stderr}`);
	}

	// What went wrong, for assertion messages.
	describe() {
		return `meshinject ${this.args.join(" ")}\n--- stderr ---\n${this.stderr.slice(-4000)}`;
	}

	alive() {
		return this.exit === null;
	}

	async kill() {
		if (this.exit === null)
			this.proc.kill("SIGKILL");
		await this.exited;
		if (this.ownPki)
			this.pki.cleanup();
	}

	// SIGTERM, then wait (bounded) for the exit. Returns { code, signal,
	// stderr }; a clean exit is code 0 and no signal. Kills with SIGKILL
	// (and says so) when it does not exit in time.
	async stop(timeoutMs = 5000) {
		if (this.exit !== null) {
			if (this.ownPki)
				this.pki.cleanup();
			return { ...this.exit, stderr: this.stderr, alreadyExited: true };
		}
		this.proc.kill("SIGTERM");
		const t = sleep(timeoutMs).then(() => "timeout");
		const r = await Promise.race([this.exited, t]);
		if (r === "timeout") {
			this.proc.kill("SIGKILL");
			await this.exited;
			if (this.ownPki)
				this.pki.cleanup();
			return { code: null, signal: "SIGKILL", stderr: this.stderr, timedOut: true };
		}
		if (this.ownPki)
			this.pki.cleanup();
		return { ...r, stderr: this.stderr };
	}

	// Raw HTTPS request. opts: { method, headers, body (string|Buffer),
	// servername, timeoutMs, tls: extra tls options }.
	// Returns { status, headers, body (string), json (parsed or undefined) }.
	request(path, opts = {}) {
		const body = opts.body === undefined ? undefined :
		    Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
		const headers = { ...(opts.headers ?? {}) };
		if (body !== undefined && headers["Content-Length"] === undefined &&
		    headers["content-length"] === undefined)
			headers["Content-Length"] = body.length;
		const timeoutMs = opts.timeoutMs ?? 10000;
		return new Promise((resolve, reject) => {
			const req = https.request({
				host: "127.0.0.1",
				port: this.port,
				method: opts.method ?? "POST",
				path,
				headers,
				ca: this.pki.ca,
				servername: opts.servername,	// undefined: the IP SAN is checked
				agent: false,
				timeout: timeoutMs,
				...(opts.tls ?? {}),
			}, (res) => {
				const chunks = [];
				res.on("data", (c) => chunks.push(c));
				res.on("end", () => {
					const text = Buffer.concat(chunks).toString("utf8");
					let json;
					try { json = JSON.parse(text); } catch { json = undefined; }
					resolve({ status: res.statusCode, headers: res.headers, body: text, json });
				});
				res.on("error", reject);
			});
			req.on("timeout", () => req.destroy(new Error(`${opts.method ?? "POST"} ${path}: no answer within ${timeoutMs} ms`)));
			req.on("error", reject);
			if (body !== undefined)
				req.write(body);
			req.end();
		});
	}

	// POST an AdmissionReview (object or string) as kube-apiserver does.
	post(path, review, opts = {}) {
		const body = typeof review === "string" || Buffer.isBuffer(review) ? review : JSON.stringify(review);
		return this.request(path, {
			...opts,
			method: "POST",
			headers: { "Content-Type": "application/json", Accept: "application/json, */*", ...(opts.headers ?? {}) },
			body,
		});
	}
}

// Run fn(server) against a fresh server; always stop it, and fail when it
// did not exit cleanly on SIGTERM.
export async function withServer(opts, fn) {
	const srv = await Server.start(opts);
	let err;
	try {
		await fn(srv);
	} catch (e) {
		err = e;
	}
	const r = await srv.stop();
	if (err) {
		err.message += `\n${srv.describe()}`;
		throw err;
	}
	if (r.code !== 0 || r.signal)
		throw new Error(`meshinject did not exit cleanly on SIGTERM: ${JSON.stringify({ code: r.code, signal: r.signal, timedOut: r.timedOut })}\n${srv.describe()}`);
}
