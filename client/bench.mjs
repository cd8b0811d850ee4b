#!/usr/bin/env node
// Upload throughput of the ingest CLI against the documented example's approach (one
// mpu-create, parallel mpu-uploadpart, explicit mpu-complete on the seed-compatible routes),
// both against the same local producer + consumer Workers, same file, part size and concurrency.
//
//   node client/bench.mjs [--size-mib 256] [--part-mib 8] [--concurrency 4] [--rounds 3] [--out FILE]
//   (the table also goes to bench/results/client.md unless --out "" is given)
//
// Each client runs as its own Node process; its peak RSS comes from the process itself
// (process.resourceUsage().maxRSS, written to fd 3 on exit). Every upload is checked byte-exact.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes, randomFillSync } from "node:crypto";
import { createReadStream, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1024 * 1024;

if (process.argv[2] === "--baseline") {
  await baseline(...process.argv.slice(3));
  process.exit(0);
}

const { values } = parseArgs({
  options: {
    "size-mib": { type: "string", default: "256" },
    "part-mib": { type: "string", default: "8" },
    concurrency: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
    out: { type: "string", default: join(root, "bench", "results", "client.md") },
  },
});
const size = Number(values["size-mib"]) * MiB;
const partSize = Number(values["part-mib"]) * MiB;
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);

process.env.WRANGLER_SEND_METRICS ??= "false";
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
process.env.WRANGLER_LOG ??= "warn";

console.error("building the CLI (tsc -p client)...");
execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "client")], {
  stdio: "inherit",
});

const dir = await mkdtemp(join(tmpdir(), "ingest-bench-"));
const file = join(dir, "bench.bin");
await writeRandomFile(file, size);
const digest = await sha256File(file);

// Both clients authenticate with the same API key, handed to them as INGEST_TOKEN.
const apiKey = `bench-${randomBytes(16).toString("hex")}`;
const { createTestHarness } = await import("wrangler");
const server = createTestHarness({
  root,
  workers: [
    { configPath: "./wrangler.toml", secrets: { API_KEYS: JSON.stringify([{ id: "bench", key: apiKey }]) } },
    { configPath: "./consumer/wrangler.toml" },
    { configPath: "./web/wrangler.toml" },
  ],
});
const { url } = await server.listen();
await server.getWorker("ingest-producer").applyD1Migrations("DB");
const endpoint = url.href;

const cli = join(root, "client/dist/cli.js");
const self = fileURLToPath(import.meta.url);
const contenders = [
  {
    name: "documented example (compat routes)",
    args: (key) => [self, "--baseline", endpoint, file, key, String(partSize), String(concurrency)],
  },
  {
    name: "ingest CLI (fire-and-forget)",
    args: (key) => [
      cli,
      "upload",
      file,
      "--endpoint",
      endpoint,
      "--key",
      key,
      "--part-size",
      String(partSize),
      "--concurrency",
      String(concurrency),
      "--json",
    ],
  },
  {
    name: "ingest CLI --wait (until completed)",
    args: (key) => [
      cli,
      "upload",
      file,
      "--endpoint",
      endpoint,
      "--key",
      key,
      "--part-size",
      String(partSize),
      "--concurrency",
      String(concurrency),
      "--wait",
      "--json",
    ],
  },
  // Without --json the CLI reports progress, so it streams each part to count bytes going out.
  {
    name: "ingest CLI with progress lines",
    args: (key) => [
      cli,
      "upload",
      file,
      "--endpoint",
      endpoint,
      "--key",
      key,
      "--part-size",
      String(partSize),
      "--concurrency",
      String(concurrency),
    ],
  },
];

try {
  console.error(`warming up the Workers...`);
  await runClient(contenders[0].args(`bench/warmup-${Date.now()}`));
  const results = new Map(contenders.map((c) => [c.name, []]));
  for (let round = 1; round <= rounds; round++) {
    // Rotate the order each round so no client always runs first (or right after the warmup).
    const order = contenders.map((_, i) => contenders[(i + round - 1) % contenders.length]);
    for (const contender of order) {
      const key = `bench/${Date.now()}-${round}/${contender.name.replace(/\W+/g, "-")}.bin`;
      const run = await runClient(contender.args(key));
      await verify(key);
      results.get(contender.name).push(run);
      console.error(
        `round ${round}: ${contender.name}: ${run.seconds.toFixed(2)} s, peak RSS ${(run.maxRssKiB / 1024).toFixed(0)} MiB, CPU ${run.cpuSeconds.toFixed(2)} s`,
      );
    }
  }
  printTable(results);
} finally {
  await server.close();
  await rm(dir, { recursive: true, force: true });
}

function printTable(results) {
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = median(results.get(contenders[0].name).map((r) => r.seconds));
  const lines = [
    "# Client benchmark: ingest CLI vs the documented example's client",
    "",
    `${new Date().toISOString()}; ${size / MiB} MiB file, ${partSize / MiB} MiB parts, concurrency ${concurrency}, ${rounds} round(s), median; ` +
      `node ${process.version}; both clients against the same local producer + consumer (wrangler createTestHarness); every upload checked by SHA-256.`,
    "",
    "| client | time (s) | MB/s | vs documented example | peak RSS (MiB) | client CPU (s) |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const [name, runs] of results) {
    const seconds = median(runs.map((r) => r.seconds));
    const rss = Math.max(...runs.map((r) => r.maxRssKiB)) / 1024;
    const cpu = median(runs.map((r) => r.cpuSeconds));
    lines.push(
      `| ${name} | ${seconds.toFixed(2)} | ${(size / 1e6 / seconds).toFixed(1)} | ${(base / seconds).toFixed(2)}x | ${rss.toFixed(0)} | ${cpu.toFixed(2)} |`,
    );
  }
  console.log(`\n${lines.join("\n")}`);
  if (values.out !== "") {
    mkdirSync(dirname(values.out), { recursive: true });
    writeFileSync(values.out, `${lines.join("\n")}\n`);
    console.error(`wrote ${values.out}`);
  }
}

/** Runs one client process; resolves with its wall time and its own peak RSS. */
function runClient(args) {
  const started = process.hrtime.bigint();
  const report =
    "import{writeSync}from'node:fs';process.on('exit',()=>writeSync(3,JSON.stringify(process.resourceUsage())))";
  const child = spawn(process.execPath, ["--import", `data:text/javascript,${encodeURIComponent(report)}`, ...args], {
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    env: { ...process.env, INGEST_TOKEN: apiKey },
  });
  let stdout = "";
  let stderr = "";
  let usage = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  child.stdio[3].on("data", (chunk) => (usage += chunk));
  return new Promise((resolve, reject) => {
    child.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`${args.join(" ")} exited ${code}: ${stderr}${stdout}`));
      const used = JSON.parse(usage);
      resolve({ seconds, maxRssKiB: used.maxRSS, cpuSeconds: (used.userCPUTime + used.systemCPUTime) / 1e6 });
    });
  });
}

async function verify(key) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const status = await fetch(new URL(`objects/${key}`, endpoint), { headers: { authorization: `Bearer ${apiKey}` } });
    if (status.status === 200) {
      const hash = createHash("sha256");
      for await (const chunk of status.body) hash.update(chunk);
      if (hash.digest("hex") !== digest) throw new Error(`${key} differs from the file`);
      return;
    }
    await status.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, 200)); // fire-and-forget: the consumer completes it shortly
  }
  throw new Error(`${key} never appeared`);
}

async function writeRandomFile(path, bytes) {
  const handle = await open(path, "w");
  const chunk = Buffer.alloc(8 * MiB);
  for (let written = 0; written < bytes; written += chunk.length) {
    randomFillSync(chunk);
    await handle.write(chunk, 0, Math.min(chunk.length, bytes - written));
  }
  await handle.close();
}

async function sha256File(path) {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * The documented example's client flow: mpu-create, the parts through mpu-uploadpart with
 * `concurrency` in flight (each read into memory first), then mpu-complete with every etag.
 */
async function baseline(base, path, key, partSizeText, concurrencyText) {
  const part = Number(partSizeText);
  const handle = await open(path, "r");
  const { size: total } = await handle.stat();
  const at = (query) => new URL(`${key}?${query}`, base);
  const headers = { authorization: `Bearer ${process.env.INGEST_TOKEN}` };
  const created = await fetch(at("action=mpu-create"), { method: "POST", headers });
  if (!created.ok) throw new Error(`mpu-create: ${created.status} ${await created.text()}`);
  const { uploadId } = await created.json();
  const count = Math.max(1, Math.ceil(total / part));
  const etags = new Array(count);
  let next = 0;
  async function worker() {
    while (next < count) {
      const index = next++;
      const length = Math.min(part, total - index * part);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, index * part);
      const query = `action=mpu-uploadpart&uploadId=${encodeURIComponent(uploadId)}&partNumber=${index + 1}`;
      const response = await fetch(at(query), { method: "PUT", body: buffer, headers });
      if (!response.ok) throw new Error(`part ${index + 1}: ${response.status} ${await response.text()}`);
      etags[index] = (await response.json()).etag;
    }
  }
  await Promise.all(Array.from({ length: Number(concurrencyText) }, worker));
  const completed = await fetch(at(`action=mpu-complete&uploadId=${encodeURIComponent(uploadId)}`), {
    method: "POST",
    headers,
    body: JSON.stringify({ parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) }),
  });
  if (!completed.ok) throw new Error(`mpu-complete: ${completed.status} ${await completed.text()}`);
  await handle.close();
}
