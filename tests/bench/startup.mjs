// startup.mjs - start-up to ready for make bench: spawns `meshinject serve`
// RUNS times and measures, from the spawn to the first 200 from /readyz
// (polled every millisecond on the metrics port), how long each took.
// usage: node startup.mjs BIN CERT KEY PORT METRICS_PORT RUNS
// prints: "startup_ms median=... min=... max=... runs=..."
import { spawn } from "node:child_process";
import http from "node:http";

const [bin, cert, key, port, mport, runs = "20"] = process.argv.slice(2);

function ready() {
	return new Promise((resolve) => {
		const req = http.get({ host: "127.0.0.1", port: Number(mport), path: "/readyz", agent: false, timeout: 200 }, (res) => {
			res.resume();
			res.on("end", () => resolve(res.statusCode === 200));
		});
		req.on("error", () => resolve(false));
		req.on("timeout", () => { req.destroy(); resolve(false); });
	});
}

const times = [];
for (let i = 0; i < Number(runs); i++) {
	const t0 = process.hrtime.bigint();
	const p = spawn(bin, ["serve", "--tls-cert", cert, "--tls-key", key,
		"--listen", `127.0.0.1:${port}`, "--metrics-listen", `127.0.0.1:${mport}`],
	{ stdio: ["ignore", "ignore", "ignore"] });
	let ok = false;
	while (!ok && Number(process.hrtime.bigint() - t0) < 10e9) {
		ok = await ready();
		if (!ok)
			await new Promise((r) => setTimeout(r, 1));
	}
	const ms = Number(process.hrtime.bigint() - t0) / 1e6;
	const exited = new Promise((r) => p.on("exit", r));
	p.kill("SIGTERM");
	await exited;
	if (!ok) {
		console.error(`startup.mjs: run ${i}: not ready within 10 s`);
		process.exit(1);
	}
	times.push(ms);
}
times.sort((a, b) => a - b);
console.log(`startup_ms median=${times[Math.floor(times.length / 2)].toFixed(1)} min=${times[0].toFixed(1)} max=${times[times.length - 1].toFixed(1)} runs=${times.length}`);
