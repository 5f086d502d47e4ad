// cli.test.mjs - every subcommand's command line has one shape (issue 14):
// for each command `meshinject --help` lists, `--help` and `-h` print the
// same help on stdout and exit 0, starting with "usage: meshinject CMD", then
// the summary `meshinject --help` shows for it, an "options:" block whose
// help texts start in one column and that ends with "-h, --help  show this
// help"; an unknown flag, a flag missing its value, a value given to a flag
// that takes none and an abbreviated flag exit 2 with nothing on stdout and
// "meshinject CMD: ..." naming the flag on stderr. The options are read
// from each command's own help, so a flag added later is checked too.
//
//   MESHINJECT_BIN=build/meshinject node --test tests/e2e/cli.test.mjs
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { requireBin } from "./lib/server.mjs";

// The commands of DESIGN.md, "Command line": none may go missing.
const DESIGN_COMMANDS = ["serve", "inject", "check", "explain", "report", "redirect", "certs",
	"install", "policy", "config", "version"];

// Put before the arguments under test, so that a parse that wrongly
// succeeded changes nothing on this machine (redirect would rewrite the
// host's iptables, as root).
const SAFE = { redirect: ["--dry-run"] };

function run(args) {
	const r = spawnSync(requireBin(), args, { encoding: "utf8", timeout: 10000 });
	if (r.error)
		throw r.error;
	return { ...r, what: `meshinject ${args.join(" ")}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}` };
}

// The commands and summaries of `meshinject --help`.
function listed() {
	const r = run(["--help"]);
	assert.equal(r.status, 0, r.what);
	const lines = r.stdout.split("\n");
	const at = lines.indexOf("commands:");
	assert.ok(at > 0, "meshinject --help has a commands: section");
	const cmds = [];
	for (const line of lines.slice(at + 1)) {
		const m = /^ {2}(\S+) +(\S.*)$/.exec(line);
		if (!m)
			break;
		cmds.push({ name: m[1], summary: m[2] });
	}
	return cmds;
}

// The options block of a help text: [{ short, long, arg, line }].
function options(help) {
	const lines = help.split("\n");
	const at = lines.indexOf("options:");
	assert.ok(at > 0, "an options: line after the usage and the summary");
	const opts = [];
	const columns = new Set();
	for (const line of lines.slice(at + 1)) {
		if (line === "")
			break;
		const m = /^ {2}(?:-(\w), )?--([a-z][a-z0-9-]*)(?: (\S+))?( +)?(\S.*)?$/.exec(line);
		if (m) {
			opts.push({ short: m[1], long: m[2], arg: m[3], line });
			if (m[5] !== undefined)
				columns.add(line.length - m[5].length);
			continue;
		}
		// A line of help text, under the column of the others.
		const c = /^( +)\S/.exec(line);
		assert.ok(c && c[1].length > 2, `an option or an indented help line, not ${JSON.stringify(line)}`);
		columns.add(c[1].length);
	}
	assert.equal(columns.size, 1, `every help text starts in one column:\n${help}`);
	return opts;
}

const commands = listed();

test("meshinject --help lists every command of DESIGN.md", () => {
	assert.deepEqual([...commands.map((c) => c.name)].sort(), [...DESIGN_COMMANDS].sort());
});

test("meshinject without a command, or with an unknown one, exits 2", () => {
	for (const args of [[], ["no-such-command"]]) {
		const r = run(args);
		assert.equal(r.status, 2, r.what);
		assert.equal(r.stdout, "", r.what);
		assert.match(r.stderr, /usage: meshinject <command>/, r.what);
	}
});

for (const { name, summary } of commands) {
	describe(`meshinject ${name}`, () => {
		const safe = SAFE[name] ?? [];
		const fails = (args, flag) => {
			const r = run([name, ...safe, ...args]);
			assert.equal(r.status, 2, r.what);
			assert.equal(r.stdout, "", `nothing on stdout: ${r.what}`);
			assert.match(r.stderr, new RegExp(`^meshinject ${name}: `), r.what);
			assert.ok(r.stderr.split("\n")[0].includes(flag), `the message names ${flag}: ${r.what}`);
			assert.match(r.stderr, new RegExp(`^usage: meshinject ${name}\\b`, "m"), r.what);
		};

		test("--help: the shared shape, on stdout, exit 0; -h the same", () => {
			const r = run([name, "--help"]);
			assert.equal(r.status, 0, r.what);
			assert.equal(r.stderr, "", r.what);
			const lines = r.stdout.split("\n");
			assert.match(lines[0], new RegExp(`^usage: meshinject ${name}( |$)`));
			// The usage may go on over indented lines; then the summary.
			const after = lines.slice(1).find((l) => !l.startsWith(" "));
			assert.equal(after, summary, "the summary meshinject --help lists, under the usage");
			assert.match(r.stdout, /^ {2}-h, --help +show this help$/m);
			const opts = options(r.stdout);
			assert.deepEqual(opts.at(-1)?.long, "help", "-h, --help is the last option");
			const h = run([name, "-h"]);
			assert.equal(h.status, 0, h.what);
			assert.equal(h.stdout, r.stdout, "-h prints what --help prints");
		});

		test("an unknown flag exits 2 naming it", () => {
			fails(["--no-such-flag"], "--no-such-flag");
			fails(["--no-such-flag=1"], "--no-such-flag");
		});

		test("a value for a flag that takes none exits 2 naming it", () => {
			fails(["--help=yes"], "--help");
		});

		test("each flag missing its value exits 2 naming it; no abbreviations", () => {
			const opts = options(run([name, "--help"]).stdout);
			for (const o of opts.filter((x) => x.arg !== undefined)) {
				fails([`--${o.long}`], `--${o.long}`);
				if (o.short)
					fails([`-${o.short}`], `-${o.short}`);
			}
			for (const o of opts.filter((x) => x.long.length > 3 && x.long !== "help")) {
				// A prefix no other option starts with: getopt_long would
				// take it for the option.
				const prefix = `--${o.long.slice(0, -1)}`;
				if (opts.some((x) => x !== o && `--${x.long}`.startsWith(prefix)))
					continue;
				fails(o.arg !== undefined ? [prefix, "x"] : [prefix], prefix);
			}
		});
	});
}
