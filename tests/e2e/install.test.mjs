// install.test.mjs - `meshinject install` (issue 12, item 3): the stream a
// plain-manifest user pipes to `kubectl apply -f -`. Every document parses
// as kubectl reads it and is a valid object; the objects are
// manifests/meshinject.yaml plus the Secret, with every placeholder caBundle
// replaced; the caBundle verifies the Secret's certificate with openssl for
// the Service's DNS name and the key is that certificate's; the real server
// started with that Secret is trusted through the caBundle; --config is
// checked first, goes into the ConfigMap and decides the webhook entries
// (the same entries `helm template` renders from that config, when helm is
// built); each run makes new keys; --trust-ca keeps the old CA trusted for
// a renewal; the manual lines of manifests/README.md, run with a recording
// kubectl, give valid objects. Against a real apiserver:
// tests/e2e/cluster/install.test.mjs.
//
//   MESHINJECT_BIN=build/meshinject node --test tests/e2e/install.test.mjs
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate, createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { requireBin, Server } from "./lib/server.mjs";
import { REPO, canonical, find, objectErrors, one, parseManifests, render, validateObjects } from "./lib/chart.mjs";

const T = { timeout: 60000 };
const NS = "meshinject-system";
const SVC = "meshinject";
const HOST = `${SVC}.${NS}.svc`;
const MANIFESTS = join(REPO, "manifests/meshinject.yaml");
const DAY = 86400e3;

const decode = (b64) => Buffer.from(b64, "base64").toString("utf8");

let tmp;
function temp(name, text, mode) {
	tmp ??= mkdtempSync(join(tmpdir(), "meshinject-install-"));
	const p = join(tmp, name);
	writeFileSync(p, text, mode ? { mode } : undefined);
	return p;
}
process.on("exit", () => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

function install(args = []) {
	const r = spawnSync(requireBin(), ["install", ...args], { encoding: "utf8", timeout: 30000, maxBuffer: 16 << 20 });
	if (r.error)
		throw r.error;
	return { ...r, what: `meshinject install ${args.join(" ")}: exit ${r.status}\nstderr: ${r.stderr}` };
}

// Run install, expect success, return the objects (every document parsed as
// kubectl parses it, YAML 1.1) and the text.
function installed(args = []) {
	const r = install(args);
	assert.equal(r.status, 0, r.what);
	assert.equal(r.stderr, "", "nothing on stderr when all is well");
	return { objs: parseManifests(r.stdout), text: r.stdout };
}

const webhookConfigs = (objs) => objs.filter((o) => o.kind.endsWith("WebhookConfiguration"));
const entries = (objs) => webhookConfigs(objs).flatMap((c) => c.webhooks);

// The objects without what each run makes new: the Secret and the caBundles.
function withoutCerts(objs) {
	return canonical(structuredClone(objs).filter((o) => o.kind !== "Secret").map((o) => {
		for (const w of o.webhooks ?? [])
			delete w.clientConfig.caBundle;
		return o;
	}));
}

function openssl(args, input) {
	return spawnSync("openssl", args, { encoding: "utf8", input });
}

describe("meshinject install (default config)", () => {
	const { objs, text } = installed();
	const secret = one(objs, "Secret");
	const ca = decode(secret.data["ca.crt"]);
	const crt = decode(secret.data["tls.crt"]);
	const key = decode(secret.data["tls.key"]);

	test("every document parses and is a valid object; Namespace first, then the Secret", () => {
		const docs = YAML.parseAllDocuments(text, { version: "1.1" });
		assert.equal(docs.filter((d) => d.errors.length).length, 0);
		assert.ok(objs.length >= 8, `${objs.length} objects`);
		validateObjects(objs);
		assert.equal(objs[0].kind, "Namespace");
		assert.equal(objs[0].metadata.name, NS);
		assert.equal(objs[1].kind, "Secret", "the Secret before the Deployment that mounts it");
		// A second parser (YAML 1.2 core schema) reads the same objects.
		assert.deepEqual(YAML.parseAllDocuments(text).map((d) => d.toJS()).filter((d) => d), objs);
	});

	test("the objects are manifests/meshinject.yaml plus the Secret, caBundles filled", () => {
		const committed = parseManifests(readFileSync(MANIFESTS, "utf8"));
		assert.deepEqual(withoutCerts(objs), withoutCerts(committed));
		assert.equal(objs.length, committed.length + 1);
		assert.ok(!text.includes("REPLACE_WITH_CA_BUNDLE"), "no placeholder left");
		const hooks = entries(objs);
		assert.ok(hooks.length >= 4, `${hooks.length} webhook entries`);
		for (const w of hooks)
			assert.equal(w.clientConfig.caBundle, secret.data["ca.crt"], `${w.name}: caBundle is the Secret's ca.crt`);
	});

	test("the Secret is the one the Deployment mounts, in the webhook's namespace", () => {
		assert.equal(secret.type, "kubernetes.io/tls");
		assert.deepEqual(Object.keys(secret.data).sort(), ["ca.crt", "tls.crt", "tls.key"]);
		assert.equal(secret.metadata.namespace, NS);
		const vols = one(objs, "Deployment").spec.template.spec.volumes;
		const src = vols.flatMap((v) => v.projected?.sources ?? []).find((s) => s.secret);
		assert.equal(src.secret.name, secret.metadata.name);
		for (const w of entries(objs))
			assert.deepEqual([w.clientConfig.service.name, w.clientConfig.service.namespace], [SVC, NS]);
		assert.equal(one(objs, "Service").metadata.name, SVC);
	});

	test("openssl: the caBundle verifies tls.crt for <svc>.<ns>.svc, and tls.key is its key", () => {
		const caFile = temp("ca.crt", ca);
		const crtFile = temp("tls.crt", crt);
		const keyFile = temp("tls.key", key, 0o600);
		let r = openssl(["verify", "-CAfile", caFile, "-purpose", "sslserver", "-verify_hostname", HOST, crtFile]);
		assert.equal(r.status, 0, r.stdout + r.stderr);
		assert.match(r.stdout, /: OK$/m);
		// The check can fail: another name, or another CA.
		r = openssl(["verify", "-CAfile", caFile, "-verify_hostname", `${SVC}.other.svc`, crtFile]);
		assert.notEqual(r.status, 0, "a certificate for another namespace's name must not verify");
		r = openssl(["verify", "-CAfile", crtFile, crtFile]);
		assert.notEqual(r.status, 0, "the leaf is not its own CA");
		// The key's public half is the certificate's.
		const fromKey = openssl(["pkey", "-in", keyFile, "-pubout"]);
		const fromCrt = openssl(["x509", "-in", crtFile, "-noout", "-pubkey"]);
		assert.equal(fromKey.status, 0, fromKey.stderr);
		assert.equal(fromCrt.status, 0, fromCrt.stderr);
		assert.equal(fromKey.stdout, fromCrt.stdout);
		assert.ok(new X509Certificate(crt).checkPrivateKey(createPrivateKey(key)));
		const caX = new X509Certificate(ca);
		assert.ok(caX.ca, "ca.crt is a CA");
		assert.ok(new X509Certificate(crt).checkIssued(caX));
		assert.ok(new Date(new X509Certificate(crt).validTo) > new Date(Date.now() + 364 * DAY), "a year by default");
	});

	test("the real server with the Secret and the ConfigMap is trusted through the caBundle", T, async () => {
		const cert = temp("serve.crt", crt);
		const keyFile = temp("serve.key", key, 0o600);
		const config = temp("config.yaml", one(objs, "ConfigMap").data["config.yaml"]);
		const caBundle = entries(objs)[0].clientConfig.caBundle;
		const srv = await Server.start({ pki: { cert, key: keyFile, ca: decode(caBundle), cleanup() {} }, config, env: { POD_NAMESPACE: NS } });
		try {
			const review = {
				apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
				request: { uid: "c0ffee00-0000-4000-8000-000000000012", kind: { group: "", version: "v1", kind: "Pod" },
					resource: { group: "", version: "v1", resource: "pods" }, namespace: "shop", operation: "CREATE",
					object: { apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "shop" }, spec: { containers: [{ name: "app", image: "nginx" }] } } },
			};
			const r = await srv.post("/mutate/traffic?timeout=5s", review, { servername: HOST });
			assert.equal(r.status, 200, r.body);
			assert.equal(r.json?.response?.uid, review.request.uid);
			assert.equal(r.json?.response?.patchType, "JSONPatch");
			await assert.rejects(srv.post("/mutate/traffic", review, { servername: `${SVC}.other.svc` }), /altnames|Hostname/i);
		} finally {
			await srv.stop();
		}
	});
});

describe("meshinject install: runs and options", () => {
	test("two runs make different CAs and keys", () => {
		const a = one(installed().objs, "Secret").data;
		const b = one(installed().objs, "Secret").data;
		for (const k of ["ca.crt", "tls.crt", "tls.key"])
			assert.notEqual(a[k], b[k], k);
		const pub = (pem) => createPublicKey(createPrivateKey(decode(pem))).export({ type: "spki", format: "der" }).toString("hex");
		assert.notEqual(pub(a["tls.key"]), pub(b["tls.key"]));
	});

	test("--cert-days sets both validities; bad values are refused", () => {
		const s = one(installed(["--cert-days", "30"]).objs, "Secret");
		for (const k of ["ca.crt", "tls.crt"]) {
			const days = (new Date(new X509Certificate(decode(s.data[k])).validTo) - Date.now()) / DAY;
			assert.ok(days > 29 && days <= 30, `${k}: ${days} days`);
		}
		for (const bad of ["0", "3651", "ten", "7x", ""]) {
			const r = install(["--cert-days", bad]);
			assert.equal(r.status, 2, r.what);
			assert.equal(r.stdout, "");
			assert.match(r.stderr, /--cert-days/);
		}
	});

	test("--help, unknown and extra arguments", () => {
		const h = install(["--help"]);
		assert.equal(h.status, 0, h.what);
		assert.match(h.stdout, /usage: meshinject install \[--config FILE\] \[--cert-days N\] \[--trust-ca FILE\]/);
		assert.match(h.stdout, /kubectl apply -f -/);
		for (const [args, re] of [[["--bogus"], /unknown argument "--bogus"/], [["extra"], /unexpected argument "extra"/], [["--config"], /--config needs a value/]]) {
			const r = install(args);
			assert.equal(r.status, 2, r.what);
			assert.equal(r.stdout, "", "nothing printed on a bad argument");
			assert.match(r.stderr, re);
		}
	});

	test("--config with errors: nothing printed, every error named with its line", () => {
		const bad = temp("bad.yaml", "defaultStgae: traffic\nproxy:\n  uid: -5\nstages:\n  traffic:\n    features: [proxy, sidecar]\n");
		const r = install(["--config", bad]);
		assert.equal(r.status, 1, r.what);
		assert.equal(r.stdout, "", "no objects for a bad config");
		assert.match(r.stderr, /bad\.yaml:1: defaultStgae: unknown key/);
		assert.match(r.stderr, /bad\.yaml:3: proxy\.uid: /);
		assert.match(r.stderr, /bad\.yaml:6: stages\.traffic\.features.*sidecar/);
		const missing = install(["--config", join(tmpdir(), "meshinject-no-such-config.yaml")]);
		assert.equal(missing.status, 1, missing.what);
		assert.match(missing.stderr, /meshinject-no-such-config\.yaml.*No such file or directory/);
		assert.equal(missing.stdout, "");
	});

	const cfgText = "ignoredNamespaces: [kube-system, legacy]\nstages:\n  traffic-native:\n    features: [proxy, redirect, native-sidecar]\n" +
	    "    rollout: {percent: 50, fallback: traffic}\n  mtls:\n    features: [proxy, redirect, mtls, probe-rewrite]\n    enforce: true\n";
	const registrations = (o) => withoutCerts(o.filter((x) => x.kind.endsWith("WebhookConfiguration") || x.kind.startsWith("ValidatingAdmissionPolicy")));
	const kinds = (o) => o.map((x) => `${x.kind}/${x.metadata.name}`).filter((k) => /Validating/.test(k)).sort();

	test("--config: the file goes into the ConfigMap, and its stages and ignoredNamespaces decide the webhook entries and policies", () => {
		const file = temp("custom.yaml", cfgText);
		const { objs } = installed(["--config", file]);
		validateObjects(objs);
		const data = one(objs, "ConfigMap").data["config.yaml"];
		assert.ok(data.endsWith(cfgText), `the user's file, as written:\n${data}`);
		// What the ConfigMap holds is a config the server accepts.
		const check = spawnSync(requireBin(), ["config", "--check", temp("cm.yaml", data)], { encoding: "utf8" });
		assert.equal(check.status, 0, check.stderr);
		const ann = one(objs, "Deployment").spec.template.metadata.annotations["checksum/config"];
		assert.equal(ann, createHash("sha256").update(data).digest("hex"), "a changed config rolls the pods");
		const mwc = one(objs, "MutatingWebhookConfiguration");
		assert.deepEqual(mwc.webhooks.map((w) => [w.name, w.clientConfig.service.path]), [
			["mtls.meshinject.io", "/mutate/mtls"], ["observe.meshinject.io", "/mutate/observe"],
			["traffic.meshinject.io", "/mutate/traffic"], ["traffic-native.meshinject.io", "/mutate/traffic-native"],
			["pod-label.meshinject.io", "/mutate"]]);
		const secret = one(objs, "Secret");
		for (const w of mwc.webhooks) {
			assert.equal(w.clientConfig.caBundle, secret.data["ca.crt"], w.name);
			const excl = w.namespaceSelector.matchExpressions.find((e) => e.key === "kubernetes.io/metadata.name");
			assert.deepEqual(excl, { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system", "kube-public", "kube-node-lease", "legacy", NS] }, w.name);
			const stage = w.namespaceSelector.matchExpressions.find((e) => e.key === "meshinject.io/stage");
			if (w.name !== "pod-label.meshinject.io")
				assert.deepEqual(stage.values, [w.name.split(".")[0]], w.name);
		}
		// The default enforcement: a policy per stage that enforces (Deny)
		// or observes (Warn, Audit), no validating webhook.
		assert.deepEqual(kinds(objs), ["ValidatingAdmissionPolicy/meshinject-mtls", "ValidatingAdmissionPolicy/meshinject-observe",
			"ValidatingAdmissionPolicyBinding/meshinject-mtls", "ValidatingAdmissionPolicyBinding/meshinject-observe"]);
		assert.deepEqual(one(objs, "ValidatingAdmissionPolicyBinding", "meshinject-mtls").spec.validationActions, ["Deny"]);
		assert.deepEqual(one(objs, "ValidatingAdmissionPolicyBinding", "meshinject-observe").spec.validationActions, ["Warn", "Audit"]);
		// Everything else is as without --config.
		const plain = installed().objs;
		const rest = (o) => withoutCerts(o.filter((x) => !["ConfigMap", "Deployment"].includes(x.kind) && !/Validating|WebhookConfiguration/.test(x.kind)));
		assert.deepEqual(rest(objs), rest(plain));
		const dep = structuredClone(one(objs, "Deployment"));
		dep.spec.template.metadata.annotations["checksum/config"] = one(plain, "Deployment").spec.template.metadata.annotations["checksum/config"];
		assert.deepEqual(dep, one(plain, "Deployment"));
	});

	// The chart, given the same config as values, registers the same
	// (helm merges the values over values.yaml key by key, the server a
	// stage whole: this config means the same under both).
	for (const enforcement of ["policy", "webhook", "both"]) {
		test(`--config --enforcement ${enforcement} registers what helm template renders for that config`, () => {
			const { objs } = installed(["--config", temp("custom.yaml", cfgText), "--enforcement", enforcement]);
			validateObjects(objs);
			const values = temp("custom-values.yaml", YAML.stringify({ config: YAML.parse(cfgText) }));
			const chart = render({ values: [values], set: { "certificates.source": "secret", "certificates.secretName": "meshinject-tls",
				"certificates.caBundle": "Zm9v", "webhooks.enforcement": enforcement } });
			assert.deepEqual(registrations(objs), registrations(chart), "install --config and helm template with that config");
			const vwc = find(objs, "ValidatingWebhookConfiguration");
			assert.equal(vwc.length, enforcement === "policy" ? 0 : 1);
			assert.equal(find(objs, "ValidatingAdmissionPolicy").length, enforcement === "webhook" ? 0 : 2);
			if (vwc.length) {
				assert.deepEqual(vwc[0].webhooks.map((w) => [w.name, w.clientConfig.service.path, w.failurePolicy]), [["mtls.enforce.meshinject.io", "/validate/mtls", "Fail"]]);
				assert.equal(vwc[0].webhooks[0].reinvocationPolicy, undefined);
				assert.equal(vwc[0].webhooks[0].clientConfig.caBundle, one(objs, "Secret").data["ca.crt"]);
			}
		});
	}

	test("--enforcement: anything else is refused", () => {
		const r = install(["--enforcement", "webhooks"]);
		assert.equal(r.status, 2, r.what);
		assert.equal(r.stdout, "");
		assert.match(r.stderr, /--enforcement must be policy, webhook or both, not "webhooks"/);
	});
});

describe("renewal and the manual path of manifests/README.md", () => {
	test("--trust-ca: the caBundles trust the new CA and the old one; the Secret holds the new CA alone", () => {
		const old = one(installed().objs, "Secret");
		const oldCa = temp("old-ca.crt", decode(old.data["ca.crt"]));
		const oldCrt = temp("old-tls.crt", decode(old.data["tls.crt"]));
		const { objs } = installed(["--trust-ca", oldCa]);
		validateObjects(objs);
		const secret = one(objs, "Secret");
		const bundles = new Set(entries(objs).map((w) => w.clientConfig.caBundle));
		assert.equal(bundles.size, 1, "one caBundle for every entry");
		const bundle = decode([...bundles][0]);
		assert.equal((bundle.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length, 2);
		assert.ok(bundle.startsWith(decode(secret.data["ca.crt"])), "the new CA first");
		assert.equal(new X509Certificate(bundle.slice(bundle.indexOf("-----BEGIN", 10))).fingerprint256,
		    new X509Certificate(decode(old.data["ca.crt"])).fingerprint256, "then the old one");
		assert.equal((decode(secret.data["ca.crt"]).match(/BEGIN CERTIFICATE/g) ?? []).length, 1);
		// Both the old certificate (still served until the kubelet updates the
		// volume) and the new one verify against the bundle.
		const bundleFile = temp("bundle.crt", bundle);
		for (const crt of [oldCrt, temp("new-tls.crt", decode(secret.data["tls.crt"]))]) {
			const r = openssl(["verify", "-CAfile", bundleFile, "-purpose", "sslserver", "-verify_hostname", HOST, crt]);
			assert.equal(r.status, 0, r.stdout + r.stderr);
		}
		// Only certificates: a key, an empty file, a broken block are refused.
		const key = temp("old-tls.key", decode(old.data["tls.key"]), 0o600);
		const cases = [[key, /more than certificates/], [temp("empty.crt", ""), /no PEM certificate/],
			[temp("mixed.crt", decode(old.data["ca.crt"]) + decode(old.data["tls.key"])), /more than certificates/],
			[temp("broken.crt", decode(old.data["ca.crt"]).replace(/M/, "%")), /does not/],
			[join(tmpdir(), "meshinject-no-such-ca.crt"), /No such file/]];
		for (const [file, re] of cases) {
			const r = install(["--trust-ca", file]);
			assert.equal(r.status, 1, r.what);
			assert.equal(r.stdout, "");
			assert.match(r.stderr, re);
		}
	});

	test("the README's manual lines, run with a recording kubectl, give valid objects that trust the Secret's certificate", () => {
		const readme = readFileSync(join(REPO, "manifests/README.md"), "utf8");
		const m = /<!-- manual-install[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(readme);
		assert.ok(m, "manifests/README.md has the manual-install block");
		const dir = mkdtempSync(join(tmpdir(), "meshinject-manual-"));
		try {
			const bin = join(dir, "bin");
			const rec = join(dir, "rec");
			spawnSync("mkdir", ["-p", bin, rec]);
			symlinkSync(requireBin(), join(bin, "meshinject"));
			symlinkSync(join(REPO, "manifests"), join(dir, "manifests"));
			// kubectl that records what it is asked and refuses anything else.
			writeFileSync(join(bin, "kubectl"), `#!/bin/bash
set -eu
rec=${rec}
echo "$*" >> "$rec/calls"
case "$*" in
"create namespace "*) ;;
"-n "*" create secret tls "*)
	set -- "$@"; ns=$2; name=$6; shift 6
	while [ $# -gt 0 ]; do case $1 in --cert) cp "$2" "$rec/$ns.$name.crt"; shift 2;; --key) cp "$2" "$rec/$ns.$name.key"; shift 2;; *) echo "kubectl stub: $1?" >&2; exit 1;; esac; done;;
"apply -f -") cat > "$rec/applied.yaml" ;;
*) echo "kubectl stub: not expected: $*" >&2; exit 1;;
esac
`, { mode: 0o755 });
			const r = spawnSync("bash", ["-euo", "pipefail", "-c", m[1]], { cwd: dir, encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
			assert.equal(r.status, 0, `the README's lines failed:\n${m[1]}\n${r.stdout}${r.stderr}`);
			const calls = readFileSync(join(rec, "calls"), "utf8").trim().split("\n");
			assert.deepEqual(calls.map((c) => c.split(" ").slice(0, 3).join(" ")), ["create namespace meshinject-system", "-n meshinject-system create", "apply -f -"]);
			const objs = validateObjects(parseManifests(readFileSync(join(rec, "applied.yaml"), "utf8")));
			const dep = one(objs, "Deployment");
			const secretName = dep.spec.template.spec.volumes.flatMap((v) => v.projected?.sources ?? []).find((s) => s.secret).secret.name;
			const crt = join(rec, `${NS}.${secretName}.crt`);
			assert.ok(existsSync(crt), `the Secret the Deployment mounts (${secretName}) was created in ${NS}`);
			assert.ok(new X509Certificate(readFileSync(crt)).checkPrivateKey(createPrivateKey(readFileSync(join(rec, `${NS}.${secretName}.key`)))));
			const bundle = temp("manual-bundle.crt", decode(entries(objs)[0].clientConfig.caBundle));
			for (const w of entries(objs))
				assert.equal(w.clientConfig.caBundle, entries(objs)[0].clientConfig.caBundle, w.name);
			const v = openssl(["verify", "-CAfile", bundle, "-purpose", "sslserver", "-verify_hostname", HOST, crt]);
			assert.equal(v.status, 0, v.stdout + v.stderr);
			assert.ok(!existsSync(join(dir, "meshinject-certs/tls.key")), "the key is removed from disk");
			// The file as it is, without the sed, is what the apiserver refuses.
			assert.match(objectErrors(one(parseManifests(readFileSync(MANIFESTS, "utf8")), "MutatingWebhookConfiguration")).join("\n"), /caBundle/);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});
});
