// make-reviews.mjs - the big reviews of make bench, written to the
// directory given (default build/bench):
//   review-env2000.json  the ReplicaSet pod with 2000 environment variables
//                        in its container (the shape that took another
//                        injector 15 s);
//   review-1400k.json    the ReplicaSet pod near the apiserver's 1.5 MiB
//                        object limit: 2000 env vars, 20 containers, and a
//                        kubectl last-applied-configuration annotation that
//                        brings the review to about 1.4 MiB.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const out = resolve(process.argv[2] ?? join(REPO, "build/bench"));
mkdirSync(out, { recursive: true });
const fixture = JSON.parse(readFileSync(join(REPO, "tests/fixtures/review-replicaset-pod.json"), "utf8"));

const env2000 = structuredClone(fixture);
const c0 = env2000.request.object.spec.containers[0];
for (let i = 0; i < 2000; i++)
	c0.env.push({ name: `SETTING_${i}`, value: `value-${i}-${"x".repeat(24)}` });
writeFileSync(join(out, "review-env2000.json"), JSON.stringify(env2000));

const big = structuredClone(env2000);
const pod = big.request.object;
for (let i = 1; i < 20; i++) {
	const c = structuredClone(pod.spec.containers[0]);
	c.name = `worker-${i}`;
	c.ports = [{ name: `p${i}`, containerPort: 9000 + i, protocol: "TCP" }];
	c.env = c.env.slice(0, 100);
	pod.spec.containers.push(c);
}
const target = 1400 * 1024;
const filler = (n) => Array.from({ length: n }, (_, i) => `k${i}=${"v".repeat(60)}`).join(",");
pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}) };
let size = JSON.stringify(big).length;
pod.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"] =
	JSON.stringify({ data: filler(Math.max(0, Math.floor((target - size) / 66))) });
size = JSON.stringify(big).length;
writeFileSync(join(out, "review-1400k.json"), JSON.stringify(big));
console.log(`review-env2000.json ${JSON.stringify(env2000).length} bytes, review-1400k.json ${size} bytes`);
