// ops.mjs - what the operations tests need around a running meshinject:
// the /metrics exposition read with the reference Prometheus parser
// (python3-prometheus-client), a volume updated the way the kubelet's
// AtomicWriter updates ConfigMap and Secret volumes (a `..data` symlink
// swapped by rename), certificates with a chosen lifetime, and the peer
// certificate a fresh TLS connection sees.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import tls from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { httpGet } from "./server.mjs";

// Debian's python3 has the client library; a pyenv shim first on PATH may not.
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append({"family": fam.name, "type": fam.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
`;

// Parse an exposition with prometheus_client's parser. Throws (with the
// parser's complaint) when it does not parse. Returns [{ family, type,
// name, labels, value }].
export function parseExposition(text) {
	try {
		return JSON.parse(execFileSync(PYTHON, ["-c", PARSE], { input: text, encoding: "utf8", timeout: 20000 }));
	} catch (e) {
		throw new Error(`the exposition does not parse with prometheus_client: ${e.stderr || e.message}\n--- exposition ---\n${text}`);
	}
}

// GET /metrics and parse it.
export async function scrape(srv) {
	const r = await httpGet(srv.metricsPort, "/metrics");
	if (r.status !== 200)
		throw new Error(`GET /metrics: ${r.status} ${r.body}`);
	return { text: r.body, headers: r.headers, samples: parseExposition(r.body) };
}

// The value of the sample `name` whose labels are exactly `labels`
// (undefined when there is none).
export function value(samples, name, labels = {}) {
	const want = JSON.stringify(Object.entries(labels).sort());
	const s = samples.find((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === want);
	return s?.value;
}

// Wait until fn() returns something truthy (returned), or throw `what`.
export async function waitFor(fn, what, timeoutMs = 10000, stepMs = 50) {
	const deadline = Date.now() + timeoutMs;
	let last;
	while (Date.now() < deadline) {
		try {
			const v = await fn();
			if (v)
				return v;
		} catch (e) {
			last = e;
		}
		await sleep(stepMs);
	}
	throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

// A directory updated like a ConfigMap/Secret/projected volume: the files
// live in a timestamped directory, `..data` points at it, and each
// top-level name is a symlink through `..data`. update() writes a new
// directory, points `..data_tmp` at it and renames that over `..data` (one
// atomic step), then removes the old directory: what kubelet does.
export class KubeVolume {
	constructor(files) {
		this.dir = mkdtempSync(join(tmpdir(), "meshinject-vol-"));
		this.gen = 0;
		this.current = null;
		this.update(files);
	}

	path(rel) {
		return join(this.dir, rel);
	}

	// files: { "config.yaml": text, "tls/tls.crt": pem, ... }
	update(files) {
		const name = `..${new Date().toISOString().replace(/[-:.]/g, "_")}.${process.pid}.${++this.gen}`;
		const data = join(this.dir, name);
		for (const [rel, text] of Object.entries(files)) {
			mkdirSync(dirname(join(data, rel)), { recursive: true });
			writeFileSync(join(data, rel), text);
		}
		const tmp = join(this.dir, "..data_tmp");
		rmSync(tmp, { force: true });
		symlinkSync(name, tmp);
		renameSync(tmp, join(this.dir, "..data"));
		for (const top of new Set(Object.keys(files).map((rel) => rel.split("/")[0]))) {
			const link = join(this.dir, top);
			let exists = false;
			try { lstatSync(link); exists = true; } catch { /* new */ }
			if (!exists)
				symlinkSync(join("..data", top), link);
		}
		if (this.current)
			rmSync(join(this.dir, this.current), { recursive: true, force: true });
		this.current = name;
	}

	cleanup() {
		rmSync(this.dir, { recursive: true, force: true });
	}
}

function openssl(args, cwd) {
	try {
		return execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"], timeout: 20000 });
	} catch (e) {
		throw new Error(`openssl ${args.join(" ")} failed: ${e.stderr || e.message}`);
	}
}

// A CA and a serving certificate for 127.0.0.1/localhost valid `days`
// days, in a new temp dir: { dir, ca, cert, key (PEM text), caFile,
// certFile, keyFile, notAfter (seconds since the epoch), fingerprint,
// cleanup() }.
export function makeCertSet(days, cn = "meshinject ops test") {
	const dir = mkdtempSync(join(tmpdir(), "meshinject-ops-pki-"));
	const key = (f) => openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f], dir);
	key("ca.key");
	openssl(["req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", String(days + 1),
		"-subj", `/CN=${cn} CA`, "-addext", "basicConstraints=critical,CA:TRUE",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt"], dir);
	key("tls.key");
	openssl(["req", "-new", "-key", "tls.key", "-subj", "/CN=localhost", "-out", "tls.csr"], dir);
	writeFileSync(join(dir, "ext.cnf"), ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
		"extendedKeyUsage=serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1", ""].join("\n"));
	openssl(["x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
		"-days", String(days), "-sha256", "-extfile", "ext.cnf", "-out", "tls.crt"], dir);
	const cert = readFileSync(join(dir, "tls.crt"), "utf8");
	const x = new X509Certificate(cert);
	return {
		dir,
		ca: readFileSync(join(dir, "ca.crt"), "utf8"),
		cert,
		key: readFileSync(join(dir, "tls.key"), "utf8"),
		caFile: join(dir, "ca.crt"),
		certFile: join(dir, "tls.crt"),
		keyFile: join(dir, "tls.key"),
		notAfter: Math.floor(Date.parse(x.validTo) / 1000),
		fingerprint: x.fingerprint256,
		serial: x.serialNumber,
		cleanup() { rmSync(dir, { recursive: true, force: true }); },
	};
}

const EXPIRED = `
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
import ipaddress
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")])
now = datetime.datetime.utcnow()
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
    .public_key(key.public_key()).serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(days=3))
    .not_valid_after(now - datetime.timedelta(days=1))
    .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    .sign(key, hashes.SHA256()))
sys.stdout.write(cert.public_bytes(serialization.Encoding.PEM).decode())
sys.stdout.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())
`;

// A self-signed certificate for 127.0.0.1 that expired a day ago, and its
// key: { cert, key, notAfter } (openssl's CLI cannot backdate; Debian's
// python3-cryptography can).
export function makeExpiredPair() {
	const out = execFileSync(PYTHON, ["-c", EXPIRED], { encoding: "utf8", timeout: 20000 });
	const cert = out.slice(0, out.indexOf("-----END CERTIFICATE-----") + 26);
	const key = out.slice(out.indexOf("-----BEGIN PRIVATE KEY-----"));
	return { cert, key, notAfter: Math.floor(Date.parse(new X509Certificate(cert).validTo) / 1000) };
}

// The certificate a fresh TLS connection to 127.0.0.1:port is given,
// verified against `ca`: { fingerprint, serial }.
export function peerCert(port, ca, timeoutMs = 3000) {
	return new Promise((resolve, reject) => {
		const sock = tls.connect({ host: "127.0.0.1", port, ca, timeout: timeoutMs });
		sock.on("secureConnect", () => {
			const c = sock.getPeerCertificate();
			sock.end();
			resolve({ fingerprint: c.fingerprint256, serial: c.serialNumber });
		});
		sock.on("timeout", () => sock.destroy(new Error("TLS handshake timed out")));
		sock.on("error", reject);
	});
}

// POST a review over HTTPS verified against `ca`; `agent` false for a new
// connection each time, or a keep-alive https.Agent. Resolves { status,
// body, fingerprint (of the peer certificate) }.
export function postReview(port, ca, path, review, { agent = false, timeoutMs = 5000 } = {}) {
	const body = Buffer.from(JSON.stringify(review));
	return new Promise((resolve, reject) => {
		const req = https.request({
			host: "127.0.0.1", port, method: "POST", path, ca, agent, timeout: timeoutMs,
			headers: { "Content-Type": "application/json", "Content-Length": body.length },
		}, (res) => {
			const fp = res.socket?.getPeerCertificate?.()?.fingerprint256;
			const chunks = [];
			res.on("data", (c) => chunks.push(c));
			res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8"), fingerprint: fp }));
			res.on("error", reject);
		});
		req.on("timeout", () => req.destroy(new Error(`POST ${path}: no answer within ${timeoutMs} ms`)));
		req.on("error", reject);
		req.end(body);
	});
}

// The log lines (JSON) of a server's stderr so far.
export function logLines(srv) {
	return srv.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => {
		try { return JSON.parse(l); } catch { return { unparsed: l }; }
	});
}
