// `meshinject certs` (issue 4): the files it writes checked with node's own
// X.509 code, then served by the real webhook and called over TLS verified
// against the written ca.crt under the Service's DNS name, as kube-apiserver
// does with the caBundle; no overwriting without --force; the --kubernetes
// Secret validated against the Kubernetes models.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { Secret } from "kubernetes-models/v1";
import { requireBin, withServer } from "./lib/server.mjs";
import { makePki } from "./lib/pki.mjs";
import { REPO, rsReview } from "./lib/reviews.mjs";
import { objectErrors } from "./lib/chart.mjs";

const T = { timeout: 60000 };
const SVC = "meshinject";
const NS = "meshinject-system";
const NAMES = [`${SVC}.${NS}.svc`, `${SVC}.${NS}.svc.cluster.local`, `${SVC}.${NS}`, SVC];
const DAY = 24 * 3600 * 1000;

function certs(args, opts = {}) {
	const r = spawnSync(requireBin(), ["certs", ...args], { encoding: "utf8", timeout: 30000, ...opts });
	if (r.error)
		throw r.error;
	return r;
}

function tempDir() {
	return mkdtempSync(join(tmpdir(), "meshinject-certs-"));
}

function dnsNames(x509) {
	return (x509.subjectAltName ?? "").split(", ").map((s) => s.replace(/^DNS:/, ""));
}

// Everything a TLS client and kube-apiserver rely on, for PEM texts.
function checkPair({ caPem, certPem, keyPem, days }) {
	const ca = new X509Certificate(caPem);
	const leaf = new X509Certificate(certPem);
	assert.equal(ca.ca, true, "ca.crt is a CA");
	assert.equal(leaf.ca, false, "tls.crt is not a CA");
	assert.ok(ca.verify(ca.publicKey), "the CA is self-signed");
	assert.ok(leaf.verify(ca.publicKey), "tls.crt is signed by ca.crt's key");
	assert.ok(leaf.checkIssued(ca), "tls.crt names ca.crt as its issuer");
	assert.deepEqual(dnsNames(leaf), NAMES, "SANs: the Service's DNS names");
	assert.ok(leaf.checkHost(`${SVC}.${NS}.svc`));
	assert.equal(leaf.checkHost("other.svc"), undefined);
	assert.ok(leaf.keyUsage.includes("1.3.6.1.5.5.7.3.1"), "extendedKeyUsage serverAuth");
	const key = createPrivateKey(keyPem);
	assert.ok(leaf.checkPrivateKey(key), "tls.key is tls.crt's key");
	assert.equal(key.asymmetricKeyType, "ec");
	assert.equal(key.asymmetricKeyDetails.namedCurve, "prime256v1", "ECDSA P-256");
	assert.ok(!ca.checkPrivateKey(key), "tls.key is not the CA's key");
	assert.equal(createPublicKey(key).export({ type: "spki", format: "pem" }),
		leaf.publicKey.export({ type: "spki", format: "pem" }));
	const now = Date.now();
	for (const x of [ca, leaf]) {
		assert.ok(Date.parse(x.validFrom) <= now, "valid now");
		const left = Date.parse(x.validTo) - now;
		assert.ok(left > (days - 1) * DAY && left <= (days + 1) * DAY, `valid for ${days} days: ${x.validTo}`);
	}
	return { ca, leaf };
}

function readSet(dir) {
	return {
		caPem: readFileSync(join(dir, "ca.crt"), "utf8"),
		certPem: readFileSync(join(dir, "tls.crt"), "utf8"),
		keyPem: readFileSync(join(dir, "tls.key"), "utf8"),
	};
}

test("--out writes ca.crt, tls.crt and tls.key that node's X.509 code accepts; the key is 0600, a new directory 0700", T, () => {
	const base = tempDir();
	try {
		const out = join(base, "new", "certs");
		const r = certs(["--service", SVC, "--namespace", NS, "--out", out, "--days", "30"]);
		assert.equal(r.status, 0, r.stderr);
		assert.match(r.stdout, /wrote .*ca\.crt, .*tls\.crt and .*tls\.key/);
		assert.deepEqual(readdirSync(out).sort(), ["ca.crt", "tls.crt", "tls.key"], "the three files and nothing else (no CA key, no temporaries)");
		assert.equal(statSync(join(out, "tls.key")).mode & 0o777, 0o600);
		assert.equal(statSync(join(out, "tls.crt")).mode & 0o777, 0o644);
		assert.equal(statSync(join(out, "ca.crt")).mode & 0o777, 0o644);
		assert.equal(statSync(out).mode & 0o777, 0o700);
		assert.equal(statSync(join(base, "new")).mode & 0o777, 0o700, "missing parents too");
		checkPair({ ...readSet(out), days: 30 });
		// An existing directory keeps its mode.
		const shared = join(base, "shared");
		mkdirSync(shared, { mode: 0o755 });
		chmodSync(shared, 0o755);
		const r2 = certs(["--service", SVC, "--namespace", NS, "--out", shared]);
		assert.equal(r2.status, 0, r2.stderr);
		assert.equal(statSync(shared).mode & 0o777, 0o755);
		assert.equal(statSync(join(shared, "tls.key")).mode & 0o777, 0o600);
		checkPair({ ...readSet(shared), days: 365 });
	} finally {
		rmSync(base, { recursive: true, force: true });
	}
});

test("the real server serves the pair; a client verifying against ca.crt as NAME.NS.svc gets its review answered", T, async () => {
	const dir = tempDir();
	try {
		const r = certs(["--service", SVC, "--namespace", NS, "--out", dir]);
		assert.equal(r.status, 0, r.stderr);
		const ca = readFileSync(join(dir, "ca.crt"), "utf8");
		const pki = { dir, caCert: join(dir, "ca.crt"), cert: join(dir, "tls.crt"), key: join(dir, "tls.key"),
			ca, caBundle: Buffer.from(ca).toString("base64"), cleanup() {} };
		await withServer({ pki }, async (srv) => {
			for (const name of [`${SVC}.${NS}.svc`, `${SVC}.${NS}.svc.cluster.local`]) {
				const review = rsReview();
				const res = await srv.post("/mutate/traffic", review, { servername: name });
				assert.equal(res.status, 200, `as ${name}: ${res.body}`);
				assert.equal(res.json.response.uid, review.request.uid);
				assert.equal(res.json.response.allowed, true);
				assert.equal(res.json.response.patchType, "JSONPatch");
			}
			// The certificate is for the Service only ...
			await assert.rejects(srv.post("/mutate/traffic", rsReview(), { servername: "other.default.svc" }),
				(e) => e.code === "ERR_TLS_CERT_ALTNAME_INVALID");
			// ... and trusted only through its own CA.
			const other = makePki();
			try {
				await assert.rejects(srv.post("/mutate/traffic", rsReview(), { servername: NAMES[0], tls: { ca: other.ca } }),
					(e) => /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify|self.signed|certificate/i.test(`${e.code} ${e.message}`));
			} finally {
				other.cleanup();
			}
		});
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

test("existing files are never replaced without --force, and each one is named", T, () => {
	const dir = tempDir();
	try {
		const args = ["--service", SVC, "--namespace", NS, "--out", dir];
		assert.equal(certs(args).status, 0);
		const before = readSet(dir);
		const r = certs(args);
		assert.equal(r.status, 1);
		for (const f of ["ca.crt", "tls.crt", "tls.key"])
			assert.match(r.stderr, new RegExp(`${join(dir, f).replace(/[.]/g, "\\.")} exists: not replaced \\(use --force to replace it\\)`));
		assert.deepEqual(readSet(dir), before, "nothing changed");

		// One file left: it alone is named, and no other file is written.
		unlinkSync(join(dir, "ca.crt"));
		unlinkSync(join(dir, "tls.crt"));
		const r2 = certs(args);
		assert.equal(r2.status, 1);
		assert.match(r2.stderr, /tls\.key exists/);
		assert.doesNotMatch(r2.stderr, /tls\.crt exists|ca\.crt exists/);
		assert.ok(!existsSync(join(dir, "ca.crt")) && !existsSync(join(dir, "tls.crt")), "a refusal writes nothing");
		assert.equal(readFileSync(join(dir, "tls.key"), "utf8"), before.keyPem);

		const r3 = certs([...args, "--force", "--days", "7"]);
		assert.equal(r3.status, 0, r3.stderr);
		const after = readSet(dir);
		assert.notEqual(after.keyPem, before.keyPem, "--force replaced the key");
		assert.equal(statSync(join(dir, "tls.key")).mode & 0o777, 0o600);
		checkPair({ ...after, days: 7 });
		assert.deepEqual(readdirSync(dir).sort(), ["ca.crt", "tls.crt", "tls.key"]);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

test("--kubernetes prints a valid kubernetes.io/tls Secret and the caBundle, and writes no files", T, () => {
	const cwd = tempDir();
	try {
		for (const [extra, name] of [[[], `${SVC}-tls`], [["--secret-name", "webhook-serving.v2"], "webhook-serving.v2"]]) {
			const r = certs(["--service", SVC, "--namespace", NS, "--kubernetes", "--days", "90", ...extra], { cwd });
			assert.equal(r.status, 0, r.stderr);
			assert.deepEqual(readdirSync(cwd), [], "no files");
			const docs = YAML.parseAllDocuments(r.stdout);
			for (const d of docs)
				assert.deepEqual(d.errors, [], "parses as YAML");
			const objs = docs.map((d) => d.toJS());
			// kubectl apply skips the comments-only document.
			assert.equal(objs.length, 2);
			assert.equal(objs[1], null, "the caBundle document holds comments only");
			const secret = objs[0];
			new Secret(structuredClone(secret)).validate();
			assert.deepEqual(objectErrors(secret), [], "strictly valid (no unknown fields, valid name and labels)");
			assert.equal(secret.apiVersion, "v1");
			assert.equal(secret.kind, "Secret");
			assert.equal(secret.type, "kubernetes.io/tls");
			assert.equal(secret.metadata.name, name);
			assert.equal(secret.metadata.namespace, NS);
			assert.deepEqual(Object.keys(secret.data).sort(), ["ca.crt", "tls.crt", "tls.key"]);
			for (const v of Object.values(secret.data))
				assert.match(v, /^[A-Za-z0-9+/]+=*$/, "base64, one line");
			const pem = (k) => Buffer.from(secret.data[k], "base64").toString("utf8");
			checkPair({ caPem: pem("ca.crt"), certPem: pem("tls.crt"), keyPem: pem("tls.key"), days: 90 });
			// The caBundle: base64 of ca.crt, after `---` and on stderr.
			const cab = secret.data["ca.crt"];
			const after = r.stdout.split("\n---\n")[1] ?? "";
			const m = after.match(/^# caBundle: (\S+)$/m);
			assert.ok(m, `a "# caBundle:" line after ---:\n${after}`);
			assert.equal(m[1], cab);
			assert.ok(r.stderr.split("\n").includes(cab), "the caBundle alone on a line of stderr");
			assert.match(r.stderr, new RegExp(`kubectl -n ${NS} get secret ${name.replace(/[.]/g, "\\.")} -o jsonpath`));
		}
	} finally {
		rmSync(cwd, { recursive: true, force: true });
	}
});

test("bad arguments exit 2 with a clear message", T, () => {
	const dir = tempDir();
	try {
		const out = join(dir, "x");
		const base = ["--service", SVC, "--namespace", NS];
		const cases = [
			[[...base, "--out", out, "--days", "0"], /--days must be a whole number of days from 1 to 3650, not "0"/],
			[[...base, "--out", out, "--days", "3651"], /--days must be .* not "3651"/],
			[[...base, "--out", out, "--days", "30d"], /--days must be .* not "30d"/],
			[[...base, "--out", out, "--days", "99999999999999999999"], /--days must be/],
			[[...base, "--out", out, "--days"], /--days needs a value/],
			[["--namespace", NS, "--out", out], /--service and --namespace are needed/],
			[["--service", "Web_Hook", "--namespace", NS, "--out", out], /service name "Web_Hook" is not a DNS label/],
			[["--service", SVC, "--namespace", "a.b", "--out", out], /namespace "a\.b" is not a DNS label/],
			[[...base], /give either --out DIR .* or --kubernetes/],
			[[...base, "--out", out, "--kubernetes"], /give either --out DIR .* or --kubernetes/],
			[[...base, "--kubernetes", "--force"], /--force applies to --out only/],
			[[...base, "--out", out, "--secret-name", "x"], /--secret-name applies to --kubernetes only/],
			[[...base, "--kubernetes", "--secret-name", "Bad_Name"], /--secret-name "Bad_Name" is not a valid Secret name/],
			[[...base, "--out", out, "--rsa"], /unknown argument "--rsa"/],
			[[...base, "--out", ""], /--out needs a value/],
		];
		for (const [args, re] of cases) {
			const r = certs(args);
			assert.equal(r.status, 2, `${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
			assert.match(r.stderr, re);
			assert.equal(r.stdout, "");
			assert.ok(!existsSync(out), "nothing written");
		}
		const help = certs(["--help"]);
		assert.equal(help.status, 0);
		assert.match(help.stdout, /kubectl apply -f -/);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

// The plain manifests' certificate story (manifests/README.md): the Secret
// that `--kubernetes` prints for the manifests' Service is the one their
// Deployment mounts, and with its caBundle in place of the placeholder every
// webhook entry reaches the server serving that Secret's pair, verified as
// kube-apiserver would (the entry's Service DNS name, the entry's caBundle).
test("plain manifests: the --kubernetes Secret and caBundle are what manifests/meshinject.yaml needs", T, async () => {
	const text = readFileSync(join(REPO, "manifests/meshinject.yaml"), "utf8");
	const objs = YAML.parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean);
	const svc = objs.find((o) => o.kind === "Service");
	const deploy = objs.find((o) => o.kind === "Deployment");
	assert.ok(svc && deploy, "the manifests hold a Service and a Deployment");
	const r = certs(["--service", svc.metadata.name, "--namespace", svc.metadata.namespace, "--kubernetes"]);
	assert.equal(r.status, 0, r.stderr);
	const [secret] = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS());
	const cab = r.stderr.split("\n").find((l) => /^[A-Za-z0-9+/]+=*$/.test(l) && l.length > 100);
	assert.equal(cab, secret.data["ca.crt"]);

	const mounted = JSON.stringify(deploy.spec.template.spec.volumes ?? []);
	assert.ok(mounted.includes(`"name":"${secret.metadata.name}"`),
		`the Deployment mounts the Secret ${secret.metadata.name}: ${mounted}`);
	assert.equal(secret.metadata.namespace, deploy.metadata.namespace);

	const filled = YAML.parseAllDocuments(text.replaceAll("REPLACE_WITH_CA_BUNDLE", cab)).map((d) => d.toJS()).filter(Boolean);
	const entries = filled.filter((o) => o.kind?.endsWith("WebhookConfiguration")).flatMap((o) => o.webhooks);
	assert.ok(entries.length > 0);
	const dir = tempDir();
	try {
		for (const f of ["tls.crt", "tls.key", "ca.crt"])
			writeFileSync(join(dir, f), Buffer.from(secret.data[f], "base64"), { mode: 0o600 });
		const pki = { dir, cert: join(dir, "tls.crt"), key: join(dir, "tls.key"), ca: readFileSync(join(dir, "ca.crt"), "utf8"), cleanup() {} };
		await withServer({ pki }, async (srv) => {
			for (const e of entries) {
				const { name, namespace, path } = e.clientConfig.service;
				assert.equal(name, svc.metadata.name);
				const ca = Buffer.from(e.clientConfig.caBundle, "base64").toString("utf8");
				const res = await srv.post(path, rsReview(), { servername: `${name}.${namespace}.svc`, tls: { ca } });
				assert.equal(res.status, 200, `${e.name} ${path}: ${res.body}`);
				assert.equal(res.json.response.allowed, true);
			}
		});
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});
