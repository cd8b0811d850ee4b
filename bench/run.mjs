#!/usr/bin/env node
// Benchmarks of the ingest pipeline: runs the real Workers locally (wrangler's
// createTestHarness, real HTTP over loopback) next to baseline Workers from bench/, prints a
// markdown table per benchmark and writes them all to bench/results/latest.md.
//
//   npm run bench                      # full run (about 10 minutes on 2 cores)
//   npm run bench -- --quick           # small sizes (1-2 minutes)
//   npm run bench -- --only ingest,latency --runs 3 --out /tmp/x.md
//   npm run bench -- --snapshot        # measure the committed code (git archive of --ref, default
//                                      # HEAD) instead of the working tree, e.g. while others edit it
//
// See bench/README.md for what each benchmark measures and the method's caveats.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { BENCH_DIR, closeAll, ROOT } from "./lib/harness.mjs";
import { MiB } from "./lib/util.mjs";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(`bench needs Node >= 22.12 (wrangler); this is ${process.version}. Use \`npm run bench\`.`);
  process.exit(2);
}
process.env.WRANGLER_SEND_METRICS ??= "false";
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";

const SUITES = [
  { id: "ingest", load: async () => (await import("./suites/ingest.mjs")).ingestThroughput },
  { id: "memory", load: async () => (await import("./suites/ingest.mjs")).ingestMemory },
  { id: "latency", load: async () => (await import("./suites/latency.mjs")).completionLatency },
  { id: "tally", load: async () => (await import("./suites/tally.mjs")).tallyCost },
  { id: "scale", load: async () => (await import("./suites/scale.mjs")).scale },
  { id: "streams", load: async () => (await import("./suites/streams.mjs")).streamIngest },
  { id: "startup", load: async () => (await import("./suites/startup.mjs")).bundleAndColdStart },
  { id: "tus", load: async () => (await import("./suites/tus.mjs")).tusVsNative },
  { id: "listing", load: async () => (await import("./suites/listing.mjs")).listingAtScale },
  { id: "batch-window", load: async () => (await import("./suites/batch-window.mjs")).batchWindow },
  { id: "costs", load: async () => (await import("./suites/costs.mjs")).operationCosts },
  { id: "fleet", load: async () => (await import("./suites/fleet.mjs")).fleetRun },
  { id: "retention", load: async () => (await import("./suites/retention.mjs")).retention },
];

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    runs: { type: "string" },
    out: { type: "string" },
    snapshot: { type: "boolean", default: false },
    ref: { type: "string", default: "HEAD" },
    label: { type: "string" },
    seed: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(
    `usage: npm run bench -- [--quick] [--only ${SUITES.map((s) => s.id).join(",")}] [--runs N] [--out FILE] [--snapshot [--ref REF]] [--seed N]`,
  );
  process.exit(0);
}
const only = flags.only === undefined ? null : new Set(flags.only.split(",").map((s) => s.trim()));
if (only !== null) {
  const unknown = [...only].filter((id) => !SUITES.some((s) => s.id === id));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(", ")}`);
    process.exit(2);
  }
}
const outFile = path.resolve(flags.out ?? path.join(BENCH_DIR, "results", "latest.md"));

if (flags.snapshot) process.exit(await runOnSnapshot(flags.ref));

// Interrupted: stop the harnesses' workerd processes before leaving.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    console.error(`\n${signal}: closing the local runtimes`);
    await closeAll();
    process.exit(130);
  });
}

/**
 * Exports `ref` with git archive into a temporary directory, adds this bench/ and a link to
 * node_modules, runs the benchmarks there (results still go to `outFile`), then removes it.
 */
async function runOnSnapshot(ref) {
  const commit = execFileSync("git", ["rev-parse", "--short", ref], { cwd: ROOT }).toString().trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ingest-bench-snapshot-"));
  try {
    const archive = execFileSync("git", ["archive", "--format=tar", ref], { cwd: ROOT, maxBuffer: 1024 ** 3 });
    const untar = spawnSync("tar", ["-x", "-C", dir], { input: archive });
    if (untar.status !== 0) throw new Error(`tar failed: ${untar.stderr}`);
    fs.rmSync(path.join(dir, "bench"), { recursive: true, force: true });
    fs.cpSync(BENCH_DIR, path.join(dir, "bench"), {
      recursive: true,
      filter: (source) => !["results", "scratch", ".wrangler"].includes(path.basename(source)),
    });
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    // The producer's config serves web/dist as static assets; the archive has no build output.
    const vite = path.join(ROOT, "node_modules", "vite", "bin", "vite.js");
    const built = spawnSync(process.execPath, [vite, "build", "web", "--logLevel", "warn"], { cwd: dir });
    if (built.status !== 0) throw new Error(`building web/ failed: ${built.stderr}`);
    // Everything but the snapshot's own flags; --out is passed explicitly (resolved here).
    const args = [];
    const own = new Set(["--snapshot", "--ref", "--out", "--label"]);
    for (let i = 2; i < process.argv.length; i++) {
      const arg = process.argv[i];
      const name = arg.split("=")[0];
      if (!own.has(name)) args.push(arg);
      else if (!arg.includes("=") && name !== "--snapshot") i++; // skip its value
    }
    console.log(`running on a snapshot of ${ref} (${commit}) in ${dir}`);
    const child = spawn(
      process.execPath,
      [
        path.join(dir, "bench", "run.mjs"),
        ...args,
        "--out",
        outFile,
        "--label",
        `snapshot of ${ref} = commit ${commit} (git archive; working-tree changes not included)`,
      ],
      { cwd: dir, stdio: "inherit" },
    );
    const forward = (signal) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    return await new Promise((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function safe(fn, fallback = "unknown") {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function environment() {
  const wrangler = safe(
    () => JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", "wrangler", "package.json"), "utf8")).version,
  );
  // wrangler may carry its own workerd (node_modules/wrangler/node_modules/workerd).
  const workerd = safe(
    () =>
      JSON.parse(
        fs.readFileSync(path.join(ROOT, "node_modules", "wrangler", "node_modules", "workerd", "package.json"), "utf8"),
      ).version,
    safe(() => JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", "workerd", "package.json"), "utf8")).version),
  );
  const commit = safe(() =>
    execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim(),
  );
  const dirty = safe(
    () =>
      execFileSync(
        "git",
        ["status", "--porcelain", "--", "producer", "consumer", "shared", "migrations", "wrangler.toml"],
        { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] },
      )
        .toString()
        .trim()
        .split("\n")
        .filter(Boolean).length,
    "?",
  );
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    memory: `${Math.round(os.totalmem() / 1024 ** 3)} GiB`,
    node: process.version,
    wrangler,
    workerd,
    commit,
    dirty,
  };
}

const env = environment();
const started = performance.now();
const loadStart = os.loadavg()[0];
const data = randomBytes(64 * MiB);
const ctx = {
  quick: flags.quick,
  runs: flags.runs === undefined ? undefined : Number(flags.runs),
  data,
  // The fleet run's seed (it prints the one it drew; --seed replays it).
  seed: flags.seed,
  label: flags.label,
  log: (line) => console.log(line),
  shared: {},
};

const sections = [];
const allChecks = [];

function header(finished) {
  const lines = [
    "# Benchmark results",
    "",
    `- date: ${env.date}${finished ? `, took ${Math.round((performance.now() - started) / 1000)} s` : " (in progress)"}`,
    `- mode: ${flags.quick ? "--quick" : "full"}${only ? `, only ${[...only].join(",")}` : ""}${ctx.runs ? `, --runs ${ctx.runs}` : ""}`,
    `- machine: nproc ${env.nproc}, ${env.cpu}, ${env.memory} RAM; load average (1 min) ${loadStart.toFixed(2)} at start${finished ? `, ${os.loadavg()[0].toFixed(2)} at end` : ""}`,
    `- node ${env.node}, wrangler ${env.wrangler}, workerd ${env.workerd}`,
    `- product code: ${flags.label ?? `working tree at commit ${env.commit}${env.dirty === 0 ? "" : ` plus ${env.dirty} uncommitted change(s) in producer/ consumer/ shared/ migrations/ wrangler.toml`}`}`,
    "- method: wrangler `createTestHarness` with the real `wrangler.toml`, `consumer/wrangler.toml` and (where the tree has it) `web/wrangler.toml`, requests over real HTTP on loopback to the harness URL (wrangler's proxy workerd, then the runtime workerd, as with `wrangler dev`). See bench/README.md.",
    "",
  ];
  return lines.join("\n");
}

function summary() {
  if (allChecks.length === 0) return "";
  const lines = ["## Targets", "", "| target | met | detail |", "| --- | --- | --- |"];
  for (const check of allChecks) lines.push(`| ${check.name} | ${check.ok ? "yes" : "**no**"} | ${check.detail} |`);
  return `${lines.join("\n")}\n`;
}

function write(finished) {
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const body = [header(finished), summary(), ...sections].join("\n");
  fs.writeFileSync(`${outFile}.tmp`, body);
  fs.renameSync(`${outFile}.tmp`, outFile);
}

for (const suite of SUITES) {
  if (only !== null && !only.has(suite.id)) continue;
  const suiteStart = performance.now();
  console.log(`\n== ${suite.id} ==`);
  let section;
  try {
    const run = await suite.load();
    const result = await run(ctx);
    const seconds = Math.round((performance.now() - suiteStart) / 1000);
    section = `## ${result.title}\n\n${result.markdown}\n\n_(${seconds} s)_\n`;
    allChecks.push(...(result.checks ?? []));
  } catch (error) {
    console.error(error);
    section = `## ${suite.id}: FAILED\n\n\`\`\`\n${String(error?.stack ?? error).slice(0, 2000)}\n\`\`\`\n`;
    allChecks.push({
      name: `${suite.id} benchmark ran`,
      ok: false,
      detail: String(error?.message ?? error).slice(0, 200),
    });
  }
  console.log(`\n${section}`);
  sections.push(section);
  write(false);
}

write(true);
console.log(summary());
console.log(`wrote ${path.relative(process.cwd(), outFile)} in ${Math.round((performance.now() - started) / 1000)} s`);
// Missed targets are results, not errors; only a benchmark that could not run fails the command.
// (The harnesses are closed; exit so that no stray keep-alive socket holds the process open.)
process.exit(sections.some((section) => section.includes(": FAILED")) ? 1 : 0);
