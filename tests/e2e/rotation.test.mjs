// Serving certificate rotation (issue 4): the certificate and key come from
// a volume that is updated the way kubelet updates a Secret or projected
// volume (the `..data` symlink swapped in the volume's top directory, the
// parent of tls/). Under a continuous stream of reviews from several
// clients - some opening a connection per review, some keeping one alive -
// the new pair is served to new connections without a restart and without
// one failed request; a pair that does not match is refused and the one in
// force kept; the expiry metric follows what is served.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { spawn } from "node:child_process";
import { Server, httpGet, freePort, requireBin } from "./lib/server.mjs";
import { rsReview } from "./lib/reviews.mjs";
import { KubeVolume, makeCertSet, makeExpiredPair, peerCert, postReview, scrape, value, waitFor, logLines } from "./lib/ops.mjs";

const T = { timeout: 40000 };
const EXPIRY = "meshinject_tls_certificate_expiry_timestamp_seconds";
const STREAM_MS = 8000;
const CLIENTS = 4;

function files(set, config = "defaultStage: \"off\"\n") {
	return { "config.yaml": config, "tls/tls.crt": set.cert, "tls/tls.key": set.key };
}

async function finish(srv, err) {
	const r = await srv.stop();
	if (err) {
		err.message += `\n${srv.describe()}`;
		throw err;
	}
	assert.ok(r.code === 0 && !r.signal, `clean exit on SIGTERM: ${JSON.stringify({ code: r.code, signal: r.signal })}\n${srv.describe()}`);
}

describe("certificate rotation by ..data symlink swap", () => {
	test("under a stream of reviews: no failed request, new connections get the new certificate, a bad pair is refused, the expiry metric follows", T, async () => {
		const a = makeCertSet(2, "rotation A");
		const b = makeCertSet(30, "rotation B");
		const vol = new KubeVolume(files(a));
		// The caBundle during a rotation holds both CAs.
		const bundle = a.ca + b.ca;
		const pki = { cert: vol.path("tls/tls.crt"), key: vol.path("tls/tls.key"), ca: bundle, cleanup() {} };
		const srv = await Server.start({ pki, config: vol.path("config.yaml") });
		let err;
		try {
			assert.equal((await peerCert(srv.port, bundle)).fingerprint, a.fingerprint, "served at start: A");
			assert.equal(value((await scrape(srv)).samples, EXPIRY), a.notAfter, "the expiry metric at start is A's notAfter");

			// The stream: half the clients open a new connection per
			// review (each handshake picks the certificate in force),
			// half keep one connection alive across the rotation.
			const failures = [];
			const seen = new Map();	// fingerprint -> reviews answered
			let answered = 0;
			let stop = false;
			const client = async (i) => {
				const agent = i % 2 === 1 ? new https.Agent({ keepAlive: true, maxSockets: 1 }) : false;
				let n = 0;
				while (!stop) {
					const rev = rsReview();
					rev.request.uid = `rot-${i}-${n++}`;
					try {
						const r = await postReview(srv.port, bundle, "/mutate/traffic", rev, { agent });
						if (r.status !== 200 || !r.body.includes(rev.request.uid))
							failures.push(`client ${i} review ${n}: ${r.status} ${r.body.slice(0, 200)}`);
						else
							answered++;
						seen.set(r.fingerprint, (seen.get(r.fingerprint) ?? 0) + 1);
					} catch (e) {
						failures.push(`client ${i} review ${n}: ${e.message}`);
					}
				}
				if (agent)
					agent.destroy();
			};
			const started = Date.now();
			const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));

			await sleep(1500);
			vol.update(files(b));
			const swappedAt = Date.now();
			// New connections see B soon (inotify; the poll is the
			// fallback, at most its interval).
			await waitFor(async () => (await peerCert(srv.port, bundle)).fingerprint === b.fingerprint,
				"a new connection to be given certificate B", 5000);
			const tookMs = Date.now() - swappedAt;
			await waitFor(async () => value((await scrape(srv)).samples, EXPIRY) === b.notAfter,
				"the expiry metric to show B's notAfter", 3000);

			// A pair that does not match (B's certificate, A's key),
			// then a certificate that is not PEM: both refused, B kept.
			await sleep(500);
			vol.update({ "config.yaml": "defaultStage: \"off\"\n", "tls/tls.crt": b.cert, "tls/tls.key": a.key });
			await waitFor(() => logLines(srv).some((l) => l.msg?.startsWith("certificate reload failed") && /not a pair|does not match/.test(l.error ?? "")),
				"the mismatched pair to be refused in the log", 5000);
			vol.update({ "config.yaml": "defaultStage: \"off\"\n", "tls/tls.crt": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", "tls/tls.key": b.key });
			await waitFor(() => logLines(srv).filter((l) => l.msg?.startsWith("certificate reload failed")).length >= 2,
				"the broken certificate to be refused in the log", 5000);
			assert.equal((await peerCert(srv.port, bundle)).fingerprint, b.fingerprint, "after refused pairs, B is still served");
			const s = (await scrape(srv)).samples;
			assert.equal(value(s, EXPIRY), b.notAfter, "after refused pairs, the expiry metric still shows B");
			assert.equal(value(s, "meshinject_config_reloads_total", { result: "success" }), 0,
				"the config.yaml next to the certificate did not change: no config reload is counted");
			assert.equal(value(s, "meshinject_config_reloads_total", { result: "failure" }), 0);
			const ready = await httpGet(srv.metricsPort, "/readyz");
			assert.equal(ready.status, 200, `still ready after refused pairs: ${ready.body}`);

			await sleep(Math.max(0, STREAM_MS - (Date.now() - started)));
			stop = true;
			await Promise.all(clients);

			assert.deepEqual(failures, [], `${failures.length} failed requests during the rotation (of ${answered + failures.length})`);
			assert.ok(answered >= 50, `only ${answered} reviews answered in ${STREAM_MS} ms`);
			assert.ok(seen.get(a.fingerprint) > 0 && seen.get(b.fingerprint) > 0,
				`reviews were answered under both certificates: ${JSON.stringify([...seen])}`);
			assert.deepEqual([...seen.keys()].filter((f) => f !== a.fingerprint && f !== b.fingerprint), [],
				"no certificate other than A or B was ever served");
			assert.ok(tookMs < 5000, `the swap was seen after ${tookMs} ms`);
			assert.ok(srv.alive(), "meshinject kept running");
		} catch (e) {
			err = e;
		}
		const r = await srv.stop();
		vol.cleanup();
		a.cleanup();
		b.cleanup();
		if (err) {
			err.message += `\n${srv.describe()}`;
			throw err;
		}
		assert.ok(r.code === 0 && !r.signal, `clean exit on SIGTERM: ${JSON.stringify({ code: r.code, signal: r.signal })}\n${srv.describe()}`);
	});

	test("an expired certificate: refused as a rotation (the valid one kept); served at start but not ready", T, async () => {
		const a = makeCertSet(2, "expiry A");
		const x = makeExpiredPair();
		const vol = new KubeVolume(files(a));
		const pki = { cert: vol.path("tls/tls.crt"), key: vol.path("tls/tls.key"), ca: a.ca, cleanup() {} };
		const srv = await Server.start({ pki });
		let err;
		try {
			vol.update(files(x));
			await waitFor(() => logLines(srv).some((l) => l.msg?.startsWith("certificate reload failed") && /expired/.test(l.error ?? "")),
				"the expired certificate to be refused", 5000);
			assert.equal((await peerCert(srv.port, a.ca)).fingerprint, a.fingerprint, "A is still served");
			assert.equal(value((await scrape(srv)).samples, EXPIRY), a.notAfter);
			assert.equal((await httpGet(srv.metricsPort, "/readyz")).status, 200);
		} catch (e) {
			err = e;
		}
		await finish(srv, err);
		// Started with it: it serves, but is not ready, and says why.
		const port = await freePort();
		const metricsPort = await freePort();
		const args = ["serve", "--tls-cert", pki.cert, "--tls-key", pki.key, "--listen", `127.0.0.1:${port}`,
			"--metrics-listen", `127.0.0.1:${metricsPort}`];
		const srv2 = new Server(spawn(requireBin(), args, { stdio: ["ignore", "pipe", "pipe"] }),
			{ port, metricsPort, pki, ownPki: false, args });
		let err2;
		try {
			const r = await waitFor(async () => {
				const g = await httpGet(metricsPort, "/readyz", 500);
				return g.status !== 200 && g;
			}, "/readyz to answer", 5000);
			assert.equal(r.status, 503);
			assert.match(r.body, /expired/);
			assert.equal(value((await scrape(srv2)).samples, EXPIRY), x.notAfter, "the expiry metric shows the expired notAfter");
			assert.ok(logLines(srv2).some((l) => l.level === "error" && /expired/.test(l.msg ?? "")), "and an error says so");
		} catch (e) {
			err2 = e;
		}
		await finish(srv2, err2);
		vol.cleanup();
		a.cleanup();
	});

	test("SIGHUP re-reads the certificate at once and says that there is no config file to reload", T, async () => {
		const a = makeCertSet(2, "sighup A");
		const vol = new KubeVolume(files(a));
		const pki = { cert: vol.path("tls/tls.crt"), key: vol.path("tls/tls.key"), ca: a.ca, cleanup() {} };
		const srv = await Server.start({ pki, extraArgs: ["--watch-interval", "10"] });
		let err;
		try {
			srv.proc.kill("SIGHUP");
			await waitFor(() => logLines(srv).some((l) => l.msg === "SIGHUP: reloading"), "SIGHUP to be taken", 3000);
			// The same certificate: nothing to change, still A, still ready.
			assert.equal((await peerCert(srv.port, a.ca)).fingerprint, a.fingerprint);
			assert.ok(logLines(srv).some((l) => /no --config file/.test(l.msg ?? "")), "SIGHUP without --config says that there is no config file to reload");
			assert.equal((await httpGet(srv.metricsPort, "/readyz")).status, 200);
		} catch (e) {
			err = e;
		}
		const r = await srv.stop();
		vol.cleanup();
		a.cleanup();
		if (err) {
			err.message += `\n${srv.describe()}`;
			throw err;
		}
		assert.ok(r.code === 0 && !r.signal, `clean exit: ${JSON.stringify(r)}`);
	});
});
