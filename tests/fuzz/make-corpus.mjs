// make-corpus.mjs - (re)write the seed corpora of the fuzz targets:
//   tests/fuzz/corpus/review/seed-*  AdmissionReviews: the fixture, every pod
//     template of the Istio injection corpus (shared/corpus) as a CREATE
//     review, and the fixture with each annotation meshinject reads (good and
//     bad values), each feature toggle, each odd shape (no metadata, null
//     spec, wrong types), v1beta1, UPDATE, other kinds;
//   tests/fuzz/corpus/config/seed-*  configs: tests/config, the chart tests'
//     config: sections, the embedded default and the fuzz config.
// Regression cases (crash-*, found by the fuzzer) are kept as they are.
// Without ../shared beside the repository the Istio corpus is absent: one
// line says so and the rest is made.
// Run from the repository: node tests/fuzz/make-corpus.mjs
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(join(REPO, "tests/e2e/package.json"));
const YAML = require("yaml");
const OUT = join(REPO, "tests/fuzz/corpus");
const ISTIO = resolve(REPO, "../shared/corpus/istio-inject-inputs");

// Seeds made from the Istio corpus are kept when it is absent: a clone
// without ../shared rewrites the others and leaves those as committed.
const haveIstio = existsSync(ISTIO);
if (!haveIstio)
	console.log(`make-corpus: the Istio corpus (${ISTIO}) is absent: no seeds made from it; the seed-istio-* files already here are kept`);

function reset(dir) {
	mkdirSync(dir, { recursive: true });
	for (const f of readdirSync(dir))
		if (f.startsWith("seed-") && (haveIstio || !f.startsWith("seed-istio-")))
			rmSync(join(dir, f));
}

function put(dir, name, text) {
	const h = createHash("sha1").update(text).digest("hex").slice(0, 10);
	writeFileSync(join(dir, `seed-${name.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 60)}-${h}`), text);
}

// ---- reviews ----

const fixture = JSON.parse(readFileSync(join(REPO, "tests/fixtures/review-replicaset-pod.json"), "utf8"));
const clone = (v) => structuredClone(v);
// Review UIDs are numbered in two series, so that the seeds made without
// the Istio corpus are the same bytes as those made with it.
const uids = { main: 0, istio: 0 };

function review(object, opts = {}) {
	const r = clone(fixture);
	const series = opts.series ?? "main";
	r.apiVersion = opts.apiVersion ?? r.apiVersion;
	r.request.uid = `00000000-0000-4000-${series === "istio" ? "9" : "8"}000-${String(++uids[series]).padStart(12, "0")}`;
	r.request.object = object;
	if (opts.namespace !== undefined)
		r.request.namespace = opts.namespace;
	if (opts.operation)
		r.request.operation = opts.operation;
	if (opts.kind)
		r.request.kind = opts.kind;
	return r;
}

function templates(doc) {
	if (!doc || typeof doc !== "object")
		return [];
	switch (doc.kind) {
	case "List":
		return (doc.items ?? []).flatMap(templates);
	case "Pod":
		return [{ workload: doc, template: { metadata: doc.metadata, spec: doc.spec } }];
	case "Deployment": case "StatefulSet": case "DaemonSet": case "ReplicaSet":
	case "ReplicationController": case "Job": case "DeploymentConfig":
		return [{ workload: doc, template: doc.spec?.template }];
	case "CronJob":
		return [{ workload: doc, template: doc.spec?.jobTemplate?.spec?.template }];
	default:
		return [];
	}
}

function podOf({ workload, template }) {
	const meta = clone(template?.metadata ?? {}) ?? {};
	const pod = { apiVersion: "v1", kind: "Pod", metadata: meta, spec: clone(template?.spec ?? {}) };
	if (workload.kind !== "Pod") {
		delete meta.name;
		meta.generateName = `${workload.metadata?.name ?? "pod"}-`;
		meta.ownerReferences = [{ apiVersion: workload.apiVersion ?? "apps/v1", kind: workload.kind,
			name: workload.metadata?.name ?? "pod", uid: "00000000-0000-4000-8000-000000000000", controller: true }];
	}
	return pod;
}

const RD = join(OUT, "review");
reset(RD);
put(RD, "fixture", JSON.stringify(fixture));
put(RD, "fixture-pretty", JSON.stringify(fixture, null, 2));

let istio = 0;
if (haveIstio) {
	for (const f of readdirSync(ISTIO).filter((n) => /\.ya?ml$/.test(n)).sort()) {
		let docs;
		try {
			docs = YAML.parseAllDocuments(readFileSync(join(ISTIO, f), "utf8"));
		} catch {
			continue;
		}
		docs.forEach((d, i) => {
			if (d.errors.length)
				return;
			templates(d.toJS()).forEach((t, j) => {
				put(RD, `istio-${f}-${i}-${j}`, JSON.stringify(review(podOf(t), { namespace: "corpus", series: "istio" })));
				istio++;
			});
		});
	}
}

const pod = () => clone(fixture.request.object);
const withAnn = (ann) => { const p = pod(); p.metadata.annotations = { ...(p.metadata.annotations ?? {}), ...ann }; return p; };
const ANN = {
	"meshinject.io/inject": ["true", "false", "maybe"],
	"meshinject.io/stage": ["off", "observe", "traffic", "mtls", "traffic-native", "cni-mtls", "everything", "observe-all", "nope"],
	"meshinject.io/features": ["+native-sidecar,-probe-rewrite", "+cni,+hold-app,+metrics-merge", "-proxy", "+observe", "-mtls,-redirect", "+bogus", "native-sidecar", ",,+,-"],
	"meshinject.io/exclude-inbound-ports": ["8080,9090", "*", "0", "65536", "1-2", ""],
	"meshinject.io/include-inbound-ports": ["8080", "*", "", "x"],
	"meshinject.io/exclude-outbound-ports": ["443,3306", "70000"],
	"meshinject.io/include-outbound-cidrs": ["10.0.0.0/8,fd00::/8", "*", "10.0.0.0/33", "::/0"],
	"meshinject.io/exclude-outbound-cidrs": ["169.254.169.254/32", "1.2.3.4", "zz"],
	"meshinject.io/proxy-cpu": ["200m", "-1", "1e3", "abc"],
	"meshinject.io/proxy-memory": ["256Mi", "1Ei"],
	"meshinject.io/proxy-cpu-limit": ["2", "100m"],
	"meshinject.io/proxy-memory-limit": ["1Gi", "1Ki"],
	"meshinject.io/proxy-log-level": ["debug", "loud"],
	"meshinject.io/proxy-image": ["registry.example.com/envoy:v2", "bad image", ""],
	"meshinject.io/status": ['{"stage":"traffic","containers":["mesh-proxy"],"initContainers":["mesh-init"],"volumes":[]}', "{", "[]"],
	"kubernetes.io/config.mirror": ["x"],
	"prometheus.io/scrape": ["true"],
};
for (const [k, vals] of Object.entries(ANN))
	for (const v of vals)
		put(RD, `ann-${k}-${v}`, JSON.stringify(review(withAnn({ [k]: v }))));
put(RD, "ann-metrics", JSON.stringify(review(withAnn({ "prometheus.io/scrape": "true", "prometheus.io/port": "9102", "prometheus.io/path": "/m", "meshinject.io/features": "+metrics-merge" }))));
put(RD, "ann-all-traffic", JSON.stringify(review(withAnn({ "meshinject.io/exclude-inbound-ports": "8080", "meshinject.io/include-outbound-cidrs": "10.0.0.0/8", "meshinject.io/exclude-outbound-cidrs": "10.1.0.0/16,fd00::/8", "meshinject.io/exclude-outbound-ports": "5432", "meshinject.io/proxy-cpu": "300m", "meshinject.io/proxy-memory-limit": "1Gi", "meshinject.io/proxy-log-level": "trace", "meshinject.io/proxy-image": "x/y:z" }))));
{
	const p = pod();
	p.metadata.labels = { ...(p.metadata.labels ?? {}), "meshinject.io/stage": "mtls" };
	put(RD, "label-stage", JSON.stringify(review(p)));
}
{
	const p = pod();
	const c = p.spec.containers[0];
	c.livenessProbe = { httpGet: { path: "/live", port: 8080, httpHeaders: [{ name: "X", value: "y" }] } };
	c.readinessProbe = { tcpSocket: { port: "http" } };
	c.startupProbe = { grpc: { port: 9000 } };
	c.ports = [{ name: "http", containerPort: 8080 }, { containerPort: 15090 }];
	c.securityContext = { runAsUser: 1337, capabilities: { add: ["NET_ADMIN", "NET_RAW"] } };
	p.spec.initContainers = [{ name: "setup", image: "busybox" }];
	p.spec.volumes = [{ name: "data", emptyDir: {} }];
	put(RD, "probes-ports-caps", JSON.stringify(review(p)));
}
{
	const p = pod();
	p.spec.hostNetwork = true;
	put(RD, "hostnetwork", JSON.stringify(review(p)));
}
{
	const p = pod();
	for (let i = 0; i < 200; i++)
		p.spec.containers[0].env = [...(p.spec.containers[0].env ?? []), { name: `V${i}`, value: "x" }];
	put(RD, "env200", JSON.stringify(review(p)));
}
const odd = {
	"object-empty": {},
	"no-metadata": { apiVersion: "v1", kind: "Pod", spec: pod().spec },
	"metadata-null": { ...pod(), metadata: null },
	"spec-null": { ...pod(), spec: null },
	"containers-null": (() => { const p = pod(); p.spec.containers = null; return p; })(),
	"containers-string": (() => { const p = pod(); p.spec.containers = "web"; return p; })(),
	"containers-null-item": (() => { const p = pod(); p.spec.containers = [null]; return p; })(),
	"container-name-number": (() => { const p = pod(); p.spec.containers[0].name = 5; return p; })(),
	"initcontainers-object": (() => { const p = pod(); p.spec.initContainers = {}; return p; })(),
	"volumes-string": (() => { const p = pod(); p.spec.volumes = "x"; return p; })(),
	"annotations-list": (() => { const p = pod(); p.metadata.annotations = ["a"]; return p; })(),
	"labels-list": (() => { const p = pod(); p.metadata.labels = ["a"]; return p; })(),
	"annotation-number": (() => { const p = pod(); p.metadata.annotations = { "meshinject.io/inject": 5 }; return p; })(),
	"ports-string": (() => { const p = pod(); p.spec.containers[0].ports = "80"; return p; })(),
	"port-string": (() => { const p = pod(); p.spec.containers[0].ports = [{ containerPort: "15090" }]; return p; })(),
	"runasuser-huge": (() => { const p = pod(); p.spec.securityContext = { runAsUser: 1e300 }; return p; })(),
	"runasuser-neg": (() => { const p = pod(); p.spec.securityContext = { runAsUser: -1337 }; return p; })(),
	"owner-odd": (() => { const p = pod(); p.metadata.ownerReferences = [{ kind: 5 }, null, { kind: "ReplicaSet", name: "" }]; return p; })(),
	"name-utf8": (() => { const p = pod(); p.metadata.generateName = "é\u00ff\u2028😀-"; return p; })(),
};
for (const [n, o] of Object.entries(odd))
	put(RD, `odd-${n}`, JSON.stringify(review(o)));
{
	// Long non-ASCII text wherever a string is copied into a message, a
	// name or an annotation, cut at fixed sizes (found two 500s).
	const u = (n) => "é😀".repeat(n);
	const r = review(withAnn({ "meshinject.io/features": u(100), "meshinject.io/stage": u(100), "meshinject.io/proxy-image": u(300), "meshinject.io/exclude-outbound-cidrs": u(200) }), { namespace: u(150) });
	r.request.object.metadata.generateName = u(200);
	r.request.object.metadata.ownerReferences[0].name = u(200);
	r.request.object.spec.containers[0].name = u(200);
	put(RD, "utf8-everywhere", JSON.stringify(r));
	const k = review(pod());
	k.request.kind.kind = u(200);
	put(RD, "utf8-kind", JSON.stringify(k));
}
put(RD, "v1beta1", JSON.stringify(review(pod(), { apiVersion: "admission.k8s.io/v1beta1" })));
put(RD, "update", JSON.stringify(review(pod(), { operation: "UPDATE" })));
put(RD, "ns-ignored", JSON.stringify(review(pod(), { namespace: "ignored-ns" })));
put(RD, "ns-self", JSON.stringify(review(pod(), { namespace: "meshinject-system" })));
put(RD, "kind-configmap", JSON.stringify(review({ apiVersion: "v1", kind: "ConfigMap", data: {} }, { kind: { group: "", version: "v1", kind: "ConfigMap" } })));
put(RD, "kind-pod-other-group", JSON.stringify(review(pod(), { kind: { group: "x.io", version: "v1", kind: "Pod" } })));
put(RD, "not-json", "{\"apiVersion\": ");
put(RD, "not-object", "[1,2,3]");
put(RD, "bad-uid", JSON.stringify({ ...review(pod()), request: { ...review(pod()).request, uid: 5 } }));

// ---- configs ----

const CD = join(OUT, "config");
reset(CD);
for (const f of readdirSync(join(REPO, "tests/config")).filter((n) => n.endsWith(".yaml")))
	put(CD, `config-${f}`, readFileSync(join(REPO, "tests/config", f), "utf8"));
for (const f of readdirSync(join(REPO, "tests/chart")).filter((n) => n.endsWith(".yaml"))) {
	const v = YAML.parse(readFileSync(join(REPO, "tests/chart", f), "utf8"));
	if (v?.config)
		put(CD, `chart-${f}`, YAML.stringify(v.config));
}
put(CD, "default", readFileSync(join(REPO, "webhook/default-config.yaml"), "utf8"));
put(CD, "fuzz-config", readFileSync(join(REPO, "tests/fuzz/fuzz-config.yaml"), "utf8"));
put(CD, "empty", "");
put(CD, "flow", "{defaultStage: mtls, stages: {a: {features: [proxy], rollout: {percent: 10, fallback: b}}, b: {features: [observe], rollout: {percent: 10, fallback: a}}}}\n");
put(CD, "anchors", "proxy: &p {image: x}\nstages:\n  s: {features: [proxy], proxy: *p}\n");

console.log(`review seeds: ${readdirSync(RD).length} (${istio} from the Istio corpus); config seeds: ${readdirSync(CD).length}`);
