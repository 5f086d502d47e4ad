// pki.mjs - a throwaway CA and a serving certificate for 127.0.0.1/localhost,
// made at test time with the openssl CLI (ECDSA P-256), the way a
// kube-apiserver caBundle trusts a webhook's serving certificate.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function openssl(args, cwd) {
	try {
		return execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"], timeout: 20000 });
	} catch (e) {
		throw new Error(`openssl ${args.join(" ")} failed: ${e.stderr || e.message}`);
	}
}

function newKey(dir, file) {
	openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-out", file], dir);
}

// Make a CA and a leaf signed by it in a new temp dir. Returns
// { dir, caCert, caKey, cert, key, ecKey, ca (PEM text), caBundle (base64),
//   cleanup() }. `key` is PKCS#8 ("BEGIN PRIVATE KEY"), `ecKey` the same key
// in SEC1 form ("BEGIN EC PRIVATE KEY", what cert-manager writes).
// opts.names: DNS SANs (default localhost), opts.ips: IP SANs (127.0.0.1).
export function makePki(opts = {}) {
	const names = opts.names ?? ["localhost"];
	const ips = opts.ips ?? ["127.0.0.1"];
	const dir = mkdtempSync(join(tmpdir(), "meshinject-pki-"));
	newKey(dir, "ca.key");
	openssl(["req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2",
		"-subj", "/CN=meshinject e2e test CA",
		"-addext", "basicConstraints=critical,CA:TRUE",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign",
		"-out", "ca.crt"], dir);
	newKey(dir, "tls.key");
	openssl(["ec", "-in", "tls.key", "-out", "tls-ec.key"], dir);
	openssl(["req", "-new", "-key", "tls.key", "-subj", "/CN=localhost", "-out", "tls.csr"], dir);
	const san = [...names.map((n) => `DNS:${n}`), ...ips.map((i) => `IP:${i}`)].join(",");
	writeFileSync(join(dir, "ext.cnf"), [
		"basicConstraints=critical,CA:FALSE",
		"keyUsage=critical,digitalSignature",
		"extendedKeyUsage=serverAuth",
		`subjectAltName=${san}`,
		""].join("\n"));
	openssl(["x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
		"-CAcreateserial", "-days", "2", "-sha256", "-extfile", "ext.cnf",
		"-out", "tls.crt"], dir);
	const ca = readFileSync(join(dir, "ca.crt"), "utf8");
	return {
		dir,
		caCert: join(dir, "ca.crt"),
		caKey: join(dir, "ca.key"),
		cert: join(dir, "tls.crt"),
		key: join(dir, "tls.key"),
		ecKey: join(dir, "tls-ec.key"),
		ca,
		caBundle: Buffer.from(ca).toString("base64"),
		cleanup() { rmSync(dir, { recursive: true, force: true }); },
	};
}
