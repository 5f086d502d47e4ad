// `meshinject report` (issue 5, "Rollout report") on the fixture cluster
// dump in tests/fixtures/cluster/ (made by its generate.mjs through the real
// injection): the exact table and restart list, the JSON document, standard
// input, another config, and inputs that are not what kubectl prints.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireBin, withServer } from "./lib/server.mjs";
import { FIXTURES, rsReview } from "./lib/reviews.mjs";

const T = { timeout: 30000 };
const CLUSTER = join(FIXTURES, "cluster");
const PODS = join(CLUSTER, "pods.json");
const NSS = join(CLUSTER, "namespaces.json");
const OLD_CONFIG = join(CLUSTER, "old-config.yaml");

function report(args, input) {
	const r = spawnSync(requireBin(), ["report", ...args], { input, encoding: "utf8", timeout: 20000,
		maxBuffer: 64 << 20 });
	if (r.error)
		throw r.error;
	return r;
}

function ok(args, input) {
	const r = report(args, input);
	assert.equal(r.status, 0, `meshinject report ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
	assert.equal(r.stderr, "", "nothing on stderr when all is well");
	return r.stdout;
}

function json(args, input) {
	return JSON.parse(ok([...args, "--output", "json"], input));
}

const TABLE = `\
NAMESPACE          STAGE    PODS  NONE  OBSERVE  TRAFFIC  MTLS  BEHIND  OLD-CONFIG  REFUSED  FINISHED
catalog            observe     3     1        2        0     0       1           0        0         0
default            -           0     0        0        0     0       0           0        0         0
legacy             -           3     2        0        1     0       0           0        0         0
meshinject-system  -           2     2        0        0     0       0           0        0         0
payments           mtls       11     5        0        3     3       7           1        1         1
shop               traffic     5     0        0        5     0       0           0        0         0
`;

const RESTARTS = `\
Restart to converge:
kubectl -n catalog rollout restart deployment/images
kubectl -n payments rollout restart daemonset/node-agent
kubectl -n payments rollout restart deployment/fraud
kubectl -n payments rollout restart deployment/ledger
# payments job/db-migrate: a Job cannot be restarted: delete it and create it again from its manifest, or let it finish
# payments pod/debug: bare pod, nothing creates it again: delete it and create it again from its manifest
kubectl -n payments rollout restart statefulset/postgres
`;

// The configHash that the running webhook writes into the status annotation.
async function webhookConfigHash() {
	let hash;
	await withServer({}, async (srv) => {
		const review = rsReview();
		const res = await srv.post("/mutate/traffic", review);
		assert.equal(res.status, 200);
		const ops = JSON.parse(Buffer.from(res.json.response.patch, "base64").toString("utf8"));
		for (const op of ops) {
			if (op.path === "/metadata/annotations")
				hash = JSON.parse(op.value["meshinject.io/status"]).configHash;
			else if (op.path === "/metadata/annotations/meshinject.io~1status")
				hash = JSON.parse(op.value).configHash;
		}
	});
	assert.match(hash ?? "", /^[0-9a-f]{16}$/, "the webhook's patch carries a status annotation with a configHash");
	return hash;
}

test("the fixture's injected pods carry the running webhook's configHash, or the old config's", T, async () => {
	const hash = await webhookConfigHash();
	const rep = json(["--pods", PODS, "--namespaces", NSS]);
	assert.equal(rep.configHash, hash, "the report compares against the embedded default's hash, as the webhook writes it");
	const old = json(["--pods", PODS, "--namespaces", NSS, "--config", OLD_CONFIG]).configHash;
	assert.notEqual(old, hash);
	const seen = new Map();
	for (const pod of JSON.parse(readFileSync(PODS, "utf8")).items) {
		const st = pod.metadata.annotations?.["meshinject.io/status"];
		if (!st)
			continue;
		const h = JSON.parse(st).configHash;
		seen.set(h, (seen.get(h) ?? 0) + 1);
	}
	assert.deepEqual([...seen.keys()].sort(), [hash, old].sort());
	assert.equal(seen.get(old), 1, "one pod (payments/fraud) was injected under the old config");
});

// The committed dump must be what generate.mjs makes from today's binary:
// a change of the default config (its configHash) or of what the webhook
// injects would otherwise leave the fixture describing another webhook.
test("the fixture dump is up to date with the injection (else: regenerate it)", T, () => {
	const dir = mkdtempSync(join(tmpdir(), "meshinject-cluster-"));
	try {
		const r = spawnSync(process.execPath, [join(CLUSTER, "generate.mjs"), dir],
			{ encoding: "utf8", env: { ...process.env, MESHINJECT_BIN: requireBin() }, timeout: 60000 });
		assert.equal(r.status, 0, r.stderr);
		const statuses = (file) => Object.fromEntries(JSON.parse(readFileSync(file, "utf8")).items.map((p) =>
			[`${p.metadata.namespace}/${p.metadata.name}`, p.metadata.annotations?.["meshinject.io/status"] ?? null]));
		assert.deepEqual(statuses(PODS), statuses(join(dir, "pods.json")),
			"tests/fixtures/cluster/pods.json is stale: run `MESHINJECT_BIN=build/meshinject node tests/fixtures/cluster/generate.mjs` " +
			"and check the report numbers in this file");
		assert.deepEqual(JSON.parse(readFileSync(NSS, "utf8")), JSON.parse(readFileSync(join(dir, "namespaces.json"), "utf8")));
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

test("text: the aligned table, the summary, the restart list and the refusals", T, () => {
	const out = ok(["--pods", PODS, "--namespaces", NSS]);
	const rep = json(["--pods", PODS, "--namespaces", NSS]);
	assert.equal(out, TABLE + "\n" +
		`config ${rep.configHash}: 24 pods, 8 not at the stage they should run, 1 injected under another config, 1 would be refused\n` +
		"\n" + RESTARTS + "\n" +
		"Would be refused if created again (fix these first; not in the restart list):\n" +
		`payments pod/${rep.namespaces.find((n) => n.name === "payments").outOfDate.find((o) => o.refused).pod}` +
		" (deployment/gateway): container gateway listens on port 15001, which the mesh proxy owns\n");
	assert.doesNotMatch(out, /kube-system|kube-public|kube-node-lease/, "ignoredNamespaces are left out");
});

test("json: one document with the documented schema and the exact numbers", T, () => {
	const rep = json(["--pods", PODS, "--namespaces", NSS]);
	assert.deepEqual(Object.keys(rep), ["kind", "version", "configHash", "stages", "namespaces", "totals"]);
	assert.equal(rep.kind, "RolloutReport");
	assert.equal(rep.version, 1);
	assert.deepEqual(rep.stages, ["none", "observe", "traffic", "mtls"]);
	assert.deepEqual(rep.namespaces.map((n) => n.name), ["catalog", "default", "legacy", "meshinject-system", "payments", "shop"]);
	const counts = Object.fromEntries(rep.namespaces.map((n) => [n.name,
		{ stage: n.stage, pods: n.pods, byStage: n.byStage, behind: n.behind, staleConfig: n.staleConfig,
		  refused: n.refused, finished: n.finished }]));
	const by = (none, observe, traffic, mtls) => ({ none, observe, traffic, mtls });
	assert.deepEqual(counts, {
		catalog: { stage: "observe", pods: 3, byStage: by(1, 2, 0, 0), behind: 1, staleConfig: 0, refused: 0, finished: 0 },
		default: { stage: null, pods: 0, byStage: by(0, 0, 0, 0), behind: 0, staleConfig: 0, refused: 0, finished: 0 },
		legacy: { stage: null, pods: 3, byStage: by(2, 0, 1, 0), behind: 0, staleConfig: 0, refused: 0, finished: 0 },
		"meshinject-system": { stage: null, pods: 2, byStage: by(2, 0, 0, 0), behind: 0, staleConfig: 0, refused: 0, finished: 0 },
		payments: { stage: "mtls", pods: 11, byStage: by(5, 0, 3, 3), behind: 7, staleConfig: 1, refused: 1, finished: 1 },
		shop: { stage: "traffic", pods: 5, byStage: by(0, 0, 5, 0), behind: 0, staleConfig: 0, refused: 0, finished: 0 },
	});
	assert.deepEqual(rep.totals, { pods: 24, behind: 8, staleConfig: 1, refused: 1, finished: 1, restarts: 7 });

	const payments = rep.namespaces.find((n) => n.name === "payments");
	assert.deepEqual(payments.restarts.map((r) => [r.workload, r.pods, r.action, r.command]), [
		["daemonset/node-agent", 1, "rollout-restart", "kubectl -n payments rollout restart daemonset/node-agent"],
		["deployment/fraud", 1, "rollout-restart", "kubectl -n payments rollout restart deployment/fraud"],
		["deployment/ledger", 2, "rollout-restart", "kubectl -n payments rollout restart deployment/ledger"],
		["job/db-migrate", 1, "recreate", null],
		["pod/debug", 1, "recreate", null],
		["statefulset/postgres", 1, "rollout-restart", "kubectl -n payments rollout restart statefulset/postgres"],
	]);
	for (const r of payments.restarts)
		assert.equal(typeof (r.command ?? r.note), "string", `${r.workload}: a command or a note`);
	// Every pod that is not converged, with why.
	const ood = Object.fromEntries(payments.outOfDate.map((o) => [o.workload + (o.refused ? "!" : ""),
		[o.stage, o.want, o.behind, o.staleConfig]]));
	assert.deepEqual(ood, {
		"daemonset/node-agent": ["traffic", "mtls", true, false],
		"deployment/fraud": ["mtls", "mtls", false, true],
		"deployment/ledger": ["traffic", "mtls", true, false],
		"deployment/gateway!": ["none", "mtls", true, false],
		"job/db-migrate": ["none", "mtls", true, false],
		"pod/debug": ["none", "mtls", true, false],
		"statefulset/postgres": ["none", "mtls", true, false],
	});
	assert.equal(payments.outOfDate.length, 8, "both ledger pods are listed");
	for (const o of payments.outOfDate) {
		assert.deepEqual(Object.keys(o).filter((k) => k !== "reason"),
			["pod", "workload", "stage", "want", "configHash", "behind", "staleConfig", "refused"]);
		assert.equal("reason" in o, o.refused);
	}
	// The opted-out exporter is converged at "none", not behind.
	assert.ok(!payments.outOfDate.some((o) => o.workload === "deployment/exporter"));
	const catalog = rep.namespaces.find((n) => n.name === "catalog");
	assert.deepEqual(catalog.restarts.map((r) => r.command), ["kubectl -n catalog rollout restart deployment/images"]);
	assert.deepEqual(catalog.outOfDate.map((o) => [o.stage, o.want]), [["none", "observe"]]);
});

test("--config: pods are compared with that config's hash", T, () => {
	const rep = json(["--pods", PODS, "--namespaces", NSS, "--config", OLD_CONFIG]);
	const stale = Object.fromEntries(rep.namespaces.map((n) => [n.name, n.staleConfig]));
	assert.deepEqual(stale, { catalog: 2, default: 0, legacy: 1, "meshinject-system": 0, payments: 5, shop: 5 });
	const shop = rep.namespaces.find((n) => n.name === "shop");
	assert.deepEqual(shop.restarts.map((r) => r.workload), ["deployment/api", "deployment/web", "statefulset/redis"]);
	const payments = rep.namespaces.find((n) => n.name === "payments");
	assert.ok(!payments.outOfDate.some((o) => o.workload === "deployment/fraud"), "fraud runs this config");
});

test("standard input: either file may be -, with the same result", T, () => {
	const want = ok(["--pods", PODS, "--namespaces", NSS]);
	assert.equal(ok(["--pods", "-", "--namespaces", NSS], readFileSync(PODS)), want);
	assert.equal(ok(["--pods=" + PODS, "--namespaces=-", "-o", "text"], readFileSync(NSS)), want);
});

test("bad input exits 1 naming the file and the problem", T, () => {
	const dir = mkdtempSync(join(tmpdir(), "meshinject-report-"));
	try {
		const file = (name, text) => {
			const p = join(dir, name);
			writeFileSync(p, text);
			return p;
		};
		const cases = [
			[["--pods", file("garbage.json", "{\"kind\": \"List\", \"items\": [\n  {oops}\n]}"), "--namespaces", NSS],
				/--pods .*garbage\.json: not JSON: line 2, column/],
			[["--pods", file("one-pod.json", JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "x" } })), "--namespaces", NSS],
				/--pods .*one-pod\.json: not a List: kind is "Pod" \(expected the output of `kubectl get pods -o json`\)/],
			[["--pods", NSS, "--namespaces", PODS], /--pods .*namespaces\.json: items\[0\] is a Namespace, not a Pod/],
			[["--pods", PODS, "--namespaces", file("noitems.json", "{\"kind\":\"List\"}")],
				/--namespaces .*noitems\.json: not a List: "items" is missing/],
			[["--pods", file("empty.json", ""), "--namespaces", NSS], /--pods .*empty\.json: not JSON/],
			[["--pods", join(dir, "missing.json"), "--namespaces", NSS], /--pods .*missing\.json: .*No such file/],
			[["--pods", PODS, "--namespaces", NSS, "--config", file("bad.yaml", "defaultStage: nowhere\nbogus: 1\n")],
				/bad\.yaml:\d+: /],
		];
		for (const [args, re] of cases) {
			const r = report(args);
			assert.equal(r.status, 1, `${args.join(" ")}: exit ${r.status}, stderr ${r.stderr}`);
			assert.match(r.stderr, re);
			assert.equal(r.stdout, "", "no partial report");
		}
		const r = report(["--pods", "-", "--namespaces", NSS], "[1, 2");
		assert.equal(r.status, 1);
		assert.match(r.stderr, /--pods standard input: not JSON/);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

test("bad arguments exit 2 with a message and the usage", T, () => {
	const cases = [
		[["--pods", "-", "--namespaces", "-"], /only one of --pods and --namespaces can read standard input/],
		[["--pods", PODS], /both --pods and --namespaces are needed/],
		[["--pods", PODS, "--namespaces", NSS, "--output", "yaml"], /--output must be text or json, not "yaml"/],
		[["--pods", PODS, "--namespaces", NSS, "--frobnicate"], /unknown argument "--frobnicate"/],
		[["--pods", PODS, "--namespaces"], /--namespaces needs a value/],
	];
	for (const [args, re] of cases) {
		const r = report(args, "");
		assert.equal(r.status, 2, `${args.join(" ")}: exit ${r.status}`);
		assert.match(r.stderr, re);
		assert.match(r.stderr, /usage: meshinject report/);
	}
	const help = report(["--help"]);
	assert.equal(help.status, 0);
	assert.match(help.stdout, /kind RolloutReport, version 1/);
});
