// offline.test.mjs - `meshinject inject`, `check` and `explain` on files,
// run as users run them (the real binary, from the repo root):
//  - golden pairs tests/golden/NAME.yaml -> NAME.yaml.injected
//    (`inject --stage traffic`), and per stage and feature NAME.yaml ->
//    NAME.yaml.STAGE.injected (`--config tests/golden/config/features.yaml
//    --stage STAGE`, listed in STAGE_GOLDENS), each re-injected to prove idempotence, read
//    back with an independent YAML parser, every injected template validated
//    as a Pod with the strict validator of lib/k8s.mjs, and everything the
//    input held still there;
//  - every file of the Istio corpus (../shared/corpus/istio-inject-inputs,
//    when it is beside the repository; one line says when it is not):
//    exit 0 or a clear refusal, never a crash; the YAML read and written the
//    way the `yaml` package reads it (YAML 1.1 in, 1.2 readers out);
//  - check and explain: exit codes and messages; bad flags and bad YAML.
//
// Regenerate the goldens with
//     UPDATE_GOLDEN=1 make e2e     (or: UPDATE_GOLDEN=1 MESHINJECT_BIN=build/meshinject node --test tests/e2e/offline.test.mjs)
// Regenerating is a deliberate act: review the diff of tests/golden/ as you
// would review a change to what the webhook injects, because that is what it
// is. The other checks here still run on the regenerated files.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import YAML from "yaml";
import { applyPatch, decodePatch, podErrors } from "./lib/k8s.mjs";
import { makeReview } from "./lib/reviews.mjs";
import { withServer } from "./lib/server.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const GOLDEN_DIR = "tests/golden";
const CORPUS = resolve(REPO, "../shared/corpus/istio-inject-inputs");
const UPDATE = process.env.UPDATE_GOLDEN === "1";
const T = { timeout: 60000 };

function bin() {
	const b = process.env.MESHINJECT_BIN;
	if (!b)
		throw new Error("MESHINJECT_BIN is not set (run through `make e2e`)");
	if (!existsSync(b))
		throw new Error(`MESHINJECT_BIN=${b} does not exist (run \`make\`)`);
	return b;
}

// Run meshinject from the repo root; input goes to stdin.
function run(args, input) {
	const r = spawnSync(bin(), args, { cwd: REPO, input, encoding: "utf8",
		maxBuffer: 256 << 20, timeout: 30000 });
	if (r.error)
		throw r.error;
	return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr,
		what: `meshinject ${args.join(" ")}: exit ${r.status}${r.signal ? ` signal ${r.signal}` : ""}\nstderr: ${r.stderr}` };
}

// kubectl reads YAML 1.1 (sigs.k8s.io/yaml): the `yaml` package's 1.1 schema
// with merge keys, timestamps left as strings (yaml.v2 does that for
// untyped values).
const YAML11 = { version: "1.1", merge: true,
	customTags: (tags) => tags.filter((t) => t.tag !== "tag:yaml.org,2002:timestamp") };

// Every non-empty document of a YAML text, as plain JS; throws on errors.
function parseAll(text, opts = {}) {
	return YAML.parseAllDocuments(text, opts).map((d, i) => {
		if (d.errors.length)
			throw new Error(`document ${i + 1}: ${d.errors.map((e) => e.message).join("; ")}`);
		return d.toJS({ maxAliasCount: -1 });
	}).filter((d) => d !== null && d !== undefined);
}

// The JSON stream of `inject -o json`: objects one after another, each
// starting with "{" in column 0.
function parseJsonStream(text) {
	return text.split(/^(?=\{)/m).filter((s) => s.trim()).map((s) => JSON.parse(s));
}

const KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
	"ReplicationController", "Job", "DeploymentConfig"]);

// The pod templates of a document: [{ where, template }].
function templates(doc, where) {
	if (!doc || typeof doc !== "object")
		return [];
	const at = `${where} (${doc.kind}/${doc.metadata?.name})`;
	if (/List$/.test(doc.kind ?? "") && Array.isArray(doc.items))
		return doc.items.flatMap((it, i) => templates(it, `${where}, item ${i + 1}`));
	if (doc.kind === "Pod")
		return [{ where: at, template: doc }];
	if (KINDS.has(doc.kind) && doc.spec?.template)
		return [{ where: at, template: doc.spec.template }];
	if (doc.kind === "CronJob" && doc.spec?.jobTemplate?.spec?.template)
		return [{ where: at, template: doc.spec.jobTemplate.spec.template }];
	return [];
}

const injected = (tpl) => tpl?.metadata?.annotations?.["meshinject.io/status"] !== undefined;

// A Pod as the controller would create it from the template.
function podOf(tpl) {
	const metadata = structuredClone(tpl.metadata ?? {});
	if (!metadata.name)
		metadata.generateName = "offline-";
	return { apiVersion: "v1", kind: "Pod", metadata, spec: structuredClone(tpl.spec) };
}

// Is everything of `a` still in `b`? Maps: every key, recursively; arrays:
// a's items in b in the same order (injection only inserts). Returns the
// first path where something is missing, or null.
function missingIn(a, b, path = "") {
	if (a === null || typeof a !== "object")
		return isDeepStrictEqual(a, b) ? null : `${path}: ${JSON.stringify(a)} became ${JSON.stringify(b)}`;
	if (Array.isArray(a)) {
		if (!Array.isArray(b))
			return `${path}: no longer an array`;
		let j = 0;
		for (let i = 0; i < a.length; i++) {
			while (j < b.length && missingIn(a[i], b[j]) !== null)
				j++;
			if (j === b.length)
				return `${path}/${i}: ${JSON.stringify(a[i]).slice(0, 200)} is gone`;
			j++;
		}
		return null;
	}
	if (b === null || typeof b !== "object" || Array.isArray(b))
		return `${path}: no longer a map`;
	for (const k of Object.keys(a)) {
		if (!(k in b))
			return `${path}/${k}: removed`;
		const m = missingIn(a[k], b[k], `${path}/${k}`);
		if (m)
			return m;
	}
	return null;
}

// The checks every inject output gets: it reads back (YAML 1.2 reader)
// as the same data as the JSON output; documents without an injected
// template are unchanged; injected templates are valid Pods and keep all
// that the input had.
function checkOutput(inputText, out, jsonOut, label) {
	const before = parseAll(inputText, YAML11);
	const after = parseAll(out);
	assert.deepEqual(after, parseAll(out, YAML11), `${label}: YAML 1.1 and 1.2 readers disagree on the output`);
	if (jsonOut !== undefined)
		assert.deepEqual(after, parseJsonStream(jsonOut), `${label}: -o yaml and -o json disagree`);
	assert.equal(after.length, before.length, `${label}: number of documents`);
	let count = 0;
	after.forEach((doc, i) => {
		const tpls = templates(doc, `document ${i + 1}`);
		if (!tpls.some((t) => injected(t.template))) {
			assert.deepEqual(doc, before[i], `${label}: document ${i + 1} changed without an injection`);
			return;
		}
		const miss = missingIn(before[i], doc);
		assert.equal(miss, null, `${label}: document ${i + 1} lost something: ${miss}`);
		for (const t of tpls) {
			if (!injected(t.template))
				continue;
			count++;
			const errs = podErrors(podOf(t.template));
			assert.deepEqual(errs, [], `${label}: ${t.where}: the injected template is not a valid Pod:\n  ${errs.join("\n  ")}`);
		}
	});
	return count;
}

// ---- golden pairs -----------------------------------------------------------

const goldens = existsSync(join(REPO, GOLDEN_DIR)) ?
	readdirSync(join(REPO, GOLDEN_DIR)).filter((f) => f.endsWith(".yaml")).sort() : [];

describe("inject golden files", () => {
	test("there are golden pairs", () => {
		assert.ok(goldens.length >= 8, `expected golden inputs in ${GOLDEN_DIR}, found ${goldens.length}`);
	});

	for (const name of goldens) {
		test(name, T, () => {
			const file = `${GOLDEN_DIR}/${name}`;
			const expected = join(REPO, `${file}.injected`);
			const input = readFileSync(join(REPO, file), "utf8");
			const r = run(["inject", "--stage", "traffic", "-f", file]);
			assert.ok(r.code === 0 || r.code === 1, r.what);
			assert.equal(r.signal, null, r.what);
			if (UPDATE) {
				writeFileSync(expected, r.out);
			} else {
				assert.ok(existsSync(expected), `${file}.injected is missing: regenerate with UPDATE_GOLDEN=1 (see the top of this file)`);
				assert.equal(r.out, readFileSync(expected, "utf8"),
				    `${file}: output differs from ${file}.injected; if the change is intended, regenerate with UPDATE_GOLDEN=1 and review the diff`);
			}
			// Idempotent: injecting the output changes nothing.
			const again = run(["inject", "--stage", "traffic", "-f", "-"], r.out);
			assert.equal(again.code, r.code, again.what);
			assert.equal(again.out, r.out, `${file}: injecting the output again changed it`);
			const json = run(["inject", "--stage", "traffic", "-f", file, "-o", "json"]);
			checkOutput(input, r.out, json.out, file);
		});
	}

	test("the goldens cover the shapes", () => {
		const all = goldens.map((g) => readFileSync(join(REPO, GOLDEN_DIR, g), "utf8")).join("\n---\n");
		const kinds = new Set(parseAll(all, YAML11).flatMap((d) => [d.kind, ...(d.items ?? []).map((i) => i.kind)]));
		for (const k of ["Deployment", "List", "CronJob", "Job", "StatefulSet", "DaemonSet", "Pod", "Service", "DeploymentConfig"])
			assert.ok(kinds.has(k), `no golden input has a ${k}`);
		assert.ok(goldens.some((g) => /hostNetwork: true/.test(readFileSync(join(REPO, GOLDEN_DIR, g), "utf8"))), "no hostNetwork golden");
		assert.ok(goldens.some((g) => parseAll(readFileSync(join(REPO, GOLDEN_DIR, g), "utf8"), YAML11).length > 1), "no multi-document golden");
	});

	test("hostNetwork: printed unchanged, with a warning", () => {
		const r = run(["inject", "--stage", "traffic", "-f", `${GOLDEN_DIR}/host-network.yaml`]);
		assert.equal(r.code, 0, r.what);
		assert.match(r.err, /^tests\/golden\/host-network\.yaml: document 1 \(Deployment\/hello-host-network\): warning: hostNetwork/m);
		assert.deepEqual(parseAll(r.out), parseAll(readFileSync(join(REPO, GOLDEN_DIR, "host-network.yaml"), "utf8"), YAML11));
	});
});

// ---- golden pairs per stage and feature --------------------------------------

// NAME.yaml -> NAME.yaml.STAGE.injected: `inject --config FEATURE_CONFIG
// --stage STAGE`, one stage per feature (the config defines them; mtls and
// observe are the built-in stages). Listed here rather than found, so that
// `make golden` creates a new pair; a STAGE.injected file that is not listed
// fails the test. A changed output fails with `diff -u expected actual`.
const FEATURE_CONFIG = `${GOLDEN_DIR}/config/features.yaml`;
const STAGE_GOLDENS = [
	// [input, stage, the features its status must list]
	["features.yaml", "mtls", ["proxy", "redirect", "mtls", "probe-rewrite"]],
	["deployment.yaml", "mtls", ["proxy", "redirect", "mtls", "probe-rewrite"]],
	["features.yaml", "native-sidecar", ["proxy", "redirect", "native-sidecar"]],
	["job.yaml", "native-sidecar", ["proxy", "redirect", "native-sidecar"]],
	["features.yaml", "hold-app", ["proxy", "redirect", "hold-app"]],
	["features.yaml", "native-hold", ["proxy", "redirect", "native-sidecar", "hold-app"]],
	["features.yaml", "probe-rewrite", ["proxy", "redirect", "probe-rewrite"]],
	["features.yaml", "cni", ["proxy", "cni"]],
	["features.yaml", "metrics-merge", ["proxy", "redirect", "metrics-merge"]],
	["features.yaml", "observe", ["observe"]],
];

// The output against its golden: equal, or an assertion carrying the diff.
function assertGolden(actual, expectedPath, label) {
	const expected = readFileSync(expectedPath, "utf8");
	if (actual === expected)
		return;
	const dir = mkdtempSync(join(tmpdir(), "golden-"));
	try {
		const got = join(dir, "actual");
		writeFileSync(got, actual);
		const d = spawnSync("diff", ["-u", expectedPath, got], { encoding: "utf8", maxBuffer: 64 << 20 });
		const text = d.error ? "(diff is not installed)" : d.stdout.split("\n").slice(0, 80).join("\n");
		assert.fail(`${label}: output differs from ${expectedPath}; if the change is intended, ` +
		    `regenerate with \`make golden\` and review the diff:\n${text}`);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

describe("inject golden files per stage and feature", () => {
	test("every STAGE.injected golden is listed, every feature has one", () => {
		const listed = new Set(STAGE_GOLDENS.map(([n, s]) => `${n}.${s}.injected`));
		const found = readdirSync(join(REPO, GOLDEN_DIR)).filter((f) => /\.yaml\.[a-z0-9-]+\.injected$/.test(f));
		for (const f of found)
			assert.ok(listed.has(f), `${GOLDEN_DIR}/${f} is not in STAGE_GOLDENS (a stale golden?)`);
		const features = new Set(STAGE_GOLDENS.flatMap(([, , f]) => f));
		for (const f of ["mtls", "native-sidecar", "hold-app", "probe-rewrite", "cni", "metrics-merge"])
			assert.ok(features.has(f), `no golden pair for the feature ${f}`);
	});

	for (const [name, stage, features] of STAGE_GOLDENS) {
		test(`${name} --stage ${stage}`, T, () => {
			const file = `${GOLDEN_DIR}/${name}`;
			const expected = join(REPO, `${file}.${stage}.injected`);
			const args = ["inject", "--config", FEATURE_CONFIG, "--stage", stage];
			const r = run([...args, "-f", file]);
			assert.equal(r.code, 0, r.what);
			if (UPDATE) {
				writeFileSync(expected, r.out);
			} else {
				assert.ok(existsSync(expected), `${file}.${stage}.injected is missing: regenerate with \`make golden\``);
				assertGolden(r.out, expected, `${file} --stage ${stage}`);
			}
			// What the stage gives, as the status annotation records it.
			const tpls = parseAll(r.out).flatMap((d, i) => templates(d, `document ${i + 1}`));
			assert.ok(tpls.length > 0, `${file}: no pod template`);
			for (const t of tpls) {
				const status = JSON.parse(t.template.metadata.annotations["meshinject.io/status"]);
				assert.equal(status.stage, stage, `${t.where}: status stage`);
				assert.deepEqual(status.features, features, `${t.where}: status features`);
			}
			const again = run([...args, "-f", "-"], r.out);
			assert.equal(again.code, 0, again.what);
			assert.equal(again.out, r.out, `${file} --stage ${stage}: injecting the output again changed it`);
			const json = run([...args, "-f", file, "-o", "json"]);
			const input = readFileSync(join(REPO, file), "utf8");
			const label = `${file} --stage ${stage}`;
			if (!features.includes("probe-rewrite") && !features.includes("metrics-merge")) {
				checkOutput(input, r.out, json.out, label);
				return;
			}
			// These two replace what they take over (probes, the
			// prometheus.io annotations): the rest is checked with
			// those masked on both sides, the real templates as Pods.
			for (const t of tpls) {
				const errs = podErrors(podOf(t.template));
				assert.deepEqual(errs, [], `${label}: ${t.where}: the injected template is not a valid Pod:\n  ${errs.join("\n  ")}`);
				const ann = t.template.metadata.annotations;
				if (features.includes("metrics-merge"))
					assert.equal(ann["prometheus.io/port"], "15090", `${t.where}: metrics-merge`);
				for (const c of features.includes("probe-rewrite") ? t.template.spec.containers : [])
					for (const p of ["livenessProbe", "readinessProbe", "startupProbe"])
						if (c.name !== "mesh-proxy" && (c[p]?.httpGet || c[p]?.tcpSocket))
							assert.equal(c[p].httpGet?.port, 15021, `${t.where}: ${c.name} ${p} not through the proxy`);
			}
			const mask = (docs) => docs.map((d) => {
				for (const t of templates(d, "")) {
					if (features.includes("metrics-merge"))
						for (const k of Object.keys(t.template.metadata?.annotations ?? {}))
							if (k.startsWith("prometheus.io/"))
								delete t.template.metadata.annotations[k];
					if (features.includes("probe-rewrite"))
						for (const c of t.template.spec?.containers ?? [])
							for (const p of ["livenessProbe", "readinessProbe", "startupProbe"])
								delete c[p];
				}
				return d;
			});
			const yamlOf = (docs) => docs.map((d) => YAML.stringify(d)).join("---\n");
			checkOutput(yamlOf(mask(parseAll(input, YAML11))), yamlOf(mask(parseAll(r.out))),
			    mask(parseJsonStream(json.out)).map((d) => JSON.stringify(d)).join("\n"), `${label} (masked)`);
		});
	}
});

// ---- the corpus -------------------------------------------------------------

// The corpus lives in ../shared beside the repository and is not copied
// into it: without it there are no corpus cases, and one line says so.
const corpus = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => /\.ya?ml$/.test(f)).sort() : null;
if (corpus === null)
	console.log(`offline corpus: ${CORPUS} is absent (no ../shared beside the repository): no Istio corpus cases`);
const REFUSAL = /^\S+: document \d+(, item \d+)? \([A-Za-z]+\/[^)]*\): (refused|invalid): \S.*$/;
const WARNING = /^\S+: document \d+(, item \d+)? \([A-Za-z]+\/[^)]*\): warning: \S.*$/;

if (corpus !== null) describe("inject over the Istio corpus", () => {
	test("the corpus is there", () => {
		assert.ok(corpus.length >= 90, `expected the corpus at ${CORPUS} (shared/ beside the repo), found ${corpus.length} files`);
	});

	const summary = { injected: 0, refused: [], files: 0 };
	for (const name of corpus) {
		test(name, T, () => {
			const path = join(CORPUS, name);
			const input = readFileSync(path, "utf8");
			for (const stage of ["traffic", "mtls", "observe"]) {
				const r = run(["inject", "--stage", stage, "-f", path]);
				assert.equal(r.signal, null, r.what);
				assert.ok(r.code === 0 || r.code === 1, r.what);
				const lines = r.err.split("\n").filter(Boolean);
				for (const l of lines)
					assert.ok(REFUSAL.test(l) || WARNING.test(l), `${name} --stage ${stage}: unclear message: ${l}`);
				if (r.code === 1) {
					assert.ok(lines.some((l) => REFUSAL.test(l)), `${name} --stage ${stage}: exit 1 without a refusal\n${r.err}`);
					if (stage === "traffic")
						summary.refused.push(name);
				}
				if (stage !== "traffic")
					continue;
				summary.files++;
				summary.injected += checkOutput(input, r.out, undefined, `${name} --stage ${stage}`);
				const again = run(["inject", "--stage", stage, "-f", "-"], r.out);
				assert.equal(again.out, r.out, `${name}: injecting the output again changed it`);
				// check agrees with inject about refusals.
				const c = run(["check", "--stage", stage, "-f", path]);
				assert.equal(c.code, r.code, `check and inject disagree:\n${c.what}\n${c.out}\n${r.what}`);
			}
			// Nothing to inject (bare /mutate, defaultStage off): the
			// documents come out as the `yaml` package reads them.
			const off = run(["inject", "--no-stage", "-f", path]);
			assert.equal(off.code, 0, off.what);
			assert.deepEqual(parseAll(off.out), parseAll(input, YAML11), `${name}: read or written differently from the yaml package`);
		});
	}

	test("summary", () => {
		console.log(`# offline corpus: ${summary.files} files, ${summary.injected} templates injected and validated; refused: ${summary.refused.join(", ") || "none"}`);
	});
});

// ---- check, explain, arguments, errors -------------------------------------

const REFUSED = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata:
      annotations:
        meshinject.io/exclude-inbound-ports: "abc"
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports: [{containerPort: 15021}]
---
kind: Service
apiVersion: v1
metadata: {name: web}
spec: {ports: [{port: 80}]}
`;

describe("check and explain", () => {
	test("check: every problem, with document and workload; exit 1", () => {
		const r = run(["check", "-f", "-"], REFUSED);
		assert.equal(r.code, 1, r.what);
		const lines = r.out.trim().split("\n");
		const problems = lines.filter((l) => l.startsWith("<stdin>: document 1 (Deployment/web): refused: "));
		assert.ok(problems.some((l) => /exclude-inbound-ports/.test(l) && /"abc"/.test(l)), r.out);
		assert.ok(problems.some((l) => /15021/.test(l)), r.out);
		assert.match(lines.at(-1), /^<stdin>: 1 pod template checked: 1 would be refused, 0 with warnings$/);
	});

	test("check: observe turns refusals into warnings; exit 0", () => {
		const r = run(["check", "--stage", "observe", "-f", "-"], REFUSED);
		assert.equal(r.code, 0, `${r.what}\n${r.out}`);
		assert.match(r.out, /^<stdin>: document 1 \(Deployment\/web\): warning: /m);
		assert.doesNotMatch(r.out, /refused: /);
	});

	test("check: a clean file", () => {
		const r = run(["check", "-f", `${GOLDEN_DIR}/list.yaml`]);
		assert.equal(r.code, 0, r.what);
		assert.equal(r.out, `${GOLDEN_DIR}/list.yaml: 2 pod templates checked: 0 would be refused, 0 with warnings\n`);
	});

	test("inject: a refused template is printed unchanged; exit 1", () => {
		const r = run(["inject", "-f", "-"], REFUSED);
		assert.equal(r.code, 1, r.what);
		assert.match(r.err, /^<stdin>: document 1 \(Deployment\/web\): refused: .*exclude-inbound-ports/m);
		assert.deepEqual(parseAll(r.out), parseAll(REFUSED, YAML11));
	});

	test("explain: stage, features, workload and steps", () => {
		const r = run(["explain", "--stage", "mtls", "-f", `${GOLDEN_DIR}/multi-document.yaml`]);
		assert.equal(r.code, 0, r.what);
		assert.match(r.out, /document 1 \(Deployment\/hello-v1\) spec\.template, namespace default:/);
		assert.match(r.out, /document 2 \(Deployment\/hello-v2\)/);
		assert.doesNotMatch(r.out, /document 3/);
		assert.match(r.out, /^ {2}pod stage: mtls/m);
		assert.match(r.out, /^ {2}features: proxy, redirect, mtls, probe-rewrite$/m);
		assert.match(r.out, /^ {2}workload: Deployment\/hello-v1/m);
		assert.match(r.out, /^ {2}decision: injected/m);
	});

	test("explain: CronJob pods count as their CronJob", () => {
		const r = run(["explain", "--stage", "traffic", "-f", `${GOLDEN_DIR}/cronjob.yaml`]);
		assert.equal(r.code, 0, r.what);
		assert.match(r.out, /\(CronJob\/hellocron\) spec\.jobTemplate\.spec\.template/);
		assert.match(r.out, /^ {2}workload: CronJob\/hellocron/m);
	});

	test("explain: skips say why", () => {
		const r = run(["explain", "-f", `${GOLDEN_DIR}/host-network.yaml`]);
		assert.equal(r.code, 0, r.what);
		assert.match(r.out, /decision: skipped \(skipped: hostNetwork/);
	});
});

describe("arguments and input errors", () => {
	for (const cmd of ["inject", "check", "explain"]) {
		test(`${cmd} --help`, () => {
			const r = run([cmd, "--help"]);
			assert.equal(r.code, 0, r.what);
			assert.match(r.out, new RegExp(`^usage: meshinject ${cmd} -f FILE`));
			assert.match(r.out, /--stage S/);
		});
		test(`${cmd}: bad flags exit 2`, () => {
			for (const args of [[], ["-f"], ["-f", "x.yaml", "--frobnicate"], ["-f", "x.yaml", "--stage", "nope"],
				["-f", "x.yaml", "--stage", "mtls", "--no-stage"]]) {
				const r = run([cmd, ...args]);
				assert.equal(r.code, 2, r.what);
				assert.match(r.err, new RegExp(`^meshinject ${cmd}: `), r.what);
			}
		});
		test(`${cmd}: YAML errors exit 1 with file:line:column`, () => {
			const r = run([cmd, "-f", "-"], "kind: Pod\nmetadata:\n  name: a\n  name: b\n");
			assert.equal(r.code, 1, r.what);
			assert.equal(r.err, "<stdin>:4:3: duplicate key \"name\"\n");
			assert.equal(r.out, "");
		});
	}

	test("a missing file", () => {
		const r = run(["inject", "-f", "no/such/file.yaml"]);
		assert.equal(r.code, 1, r.what);
		assert.match(r.err, /no\/such\/file\.yaml: No such file or directory/);
	});

	test("an alias bomb is refused, quickly", () => {
		let y = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
		for (let i = 1; i <= 9; i++)
			y += `a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(", ")}]\n`;
		const t0 = Date.now();
		const r = run(["inject", "-f", "-"], y);
		assert.equal(r.code, 1, r.what);
		assert.match(r.err, /^<stdin>:\d+:\d+: aliases expand to more than 1000000 nodes \(an alias bomb\?\)$/m);
		assert.ok(Date.now() - t0 < 10000, "took too long");
	});

	test("-o json prints one object per document", () => {
		const r = run(["inject", "-o", "json", "-f", `${GOLDEN_DIR}/multi-document.yaml`]);
		assert.equal(r.code, 0, r.what);
		const docs = parseJsonStream(r.out);
		assert.deepEqual(docs.map((d) => d.metadata.name), ["hello-v1", "hello-v2"]);
	});
});

// ---- inject is the webhook ----------------------------------------------

// The same config for `serve` and `inject`: what inject writes into a
// template must be what the webhook patches into the pods that the
// template's controller creates, including the rollout's choice, which
// hashes the workload (a Deployment's pods come from ReplicaSets with a hash
// that inject cannot know; a CronJob's from Jobs named by schedule time).
describe("inject gives what the webhook gives", () => {
	test("Deployments and CronJobs under a 50 % rollout", T, async () => {
		const dir = mkdtempSync(join(tmpdir(), "offline-e2e-"));
		try {
			const cfg = join(dir, "config.yaml");
			writeFileSync(cfg, "stages:\n  mtls:\n    features: [proxy, redirect, mtls]\n" +
			    "    rollout: {percent: 50, fallback: traffic}\n");
			const docs = [];
			for (let i = 0; i < 16; i++) {
				const tpl = { metadata: { labels: { app: `app-${i}` } },
					spec: { containers: [{ name: "app", image: "nginx:1.27", ports: [{ containerPort: 8080 }] }] } };
				docs.push({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: `app-${i}`, namespace: "shop" },
					spec: { selector: { matchLabels: { app: `app-${i}` } }, template: tpl } });
				if (i % 4 === 0)
					docs.push({ apiVersion: "batch/v1", kind: "CronJob", metadata: { name: `cron-${i}`, namespace: "shop" },
						spec: { schedule: "@hourly", jobTemplate: { spec: { template: {
							spec: { restartPolicy: "OnFailure", containers: [{ name: "job", image: "busybox:1.36" }] } } } } } });
			}
			const file = join(dir, "workloads.yaml");
			writeFileSync(file, docs.map((d) => YAML.stringify(d)).join("---\n"));
			const r = run(["inject", "--stage", "mtls", "--config", cfg, "-o", "json", "-f", file]);
			assert.equal(r.code, 0, r.what);
			const out = parseJsonStream(r.out);
			const stages = new Set();
			await withServer({ config: cfg }, async (srv) => {
				for (const [i, doc] of docs.entries()) {
					const cron = doc.kind === "CronJob";
					const tpl = cron ? doc.spec.jobTemplate.spec.template : doc.spec.template;
					const owner = cron ? `${doc.metadata.name}-29384520` : `${doc.metadata.name}-6d4cf56db6`;
					const pod = { apiVersion: "v1", kind: "Pod", metadata: {
						...structuredClone(tpl.metadata ?? {}), generateName: `${owner}-`,
						ownerReferences: [{ apiVersion: cron ? "batch/v1" : "apps/v1", kind: cron ? "Job" : "ReplicaSet",
							name: owner, uid: "5a1c7b0e-2f4d-4e8a-9c3b-1d2e3f4a5b6c", controller: true, blockOwnerDeletion: true }] },
					spec: structuredClone(tpl.spec) };
					if (!cron)
						pod.metadata.labels["pod-template-hash"] = "6d4cf56db6";
					const res = await srv.post("/mutate/mtls", makeReview(pod, { namespace: "shop" }));
					assert.equal(res.status, 200, res.body);
					assert.equal(res.json.response.allowed, true, res.body);
					const patched = applyPatch(pod, decodePatch(res.json.response.patch));
					const got = cron ? out[i].spec.jobTemplate.spec.template : out[i].spec.template;
					const what = `${doc.kind}/${doc.metadata.name}`;
					assert.deepEqual(got.spec, patched.spec, `${what}: inject's spec differs from the webhook's`);
					assert.deepEqual(got.metadata.annotations, patched.metadata.annotations, `${what}: annotations differ`);
					stages.add(JSON.parse(got.metadata.annotations["meshinject.io/status"]).stage);
				}
			});
			// 20 workloads at 50 %: both sides of the rollout are exercised.
			assert.deepEqual([...stages].sort(), ["mtls", "traffic"]);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});
});
