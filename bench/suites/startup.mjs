// 6. Bundle size (wrangler deploy --dry-run) and cold start of each Worker in a fresh runtime,
// next to an empty Worker (the runtime's floor) and the bare-uploadPart baseline Worker.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { AUTH, BENCH_DIR, CONFIGS, CONSOLE_WORKERS, PRODUCT_SECRETS, ROOT, startHarness } from "../lib/harness.mjs";
import { fmt, median, ratio, request, table } from "../lib/util.mjs";

const run = promisify(execFile);

const WORKERS = [
  { id: "producer", config: CONFIGS.producer, name: "ingest-producer" },
  { id: "consumer", config: CONFIGS.consumer, name: "ingest-consumer" },
  { id: "baseline", config: CONFIGS.baseline, name: "bench-baseline" },
  // Each Worker's own config with an empty script (bench/empty/index.ts) as its main: the same
  // bindings, queues and crons for the runtime to set up, so the ratio measures the script alone.
  { id: "producer-empty", config: emptyTwin(CONFIGS.producer), name: "ingest-producer", emptyOf: "producer" },
  { id: "consumer-empty", config: emptyTwin(CONFIGS.consumer), name: "ingest-consumer", emptyOf: "consumer" },
];

/** Path of a copy of `config` beside it whose `main` is the empty Worker (written by `writeTwins`). */
function emptyTwin(config) {
  return config.replace(/\.toml$/, ".cold-start-empty.toml");
}

function writeTwins() {
  const script = path.join(BENCH_DIR, "empty", "index.ts");
  for (const worker of WORKERS.filter((w) => w.emptyOf !== undefined)) {
    const original = WORKERS.find((w) => w.id === worker.emptyOf).config;
    const main = path.relative(path.dirname(original), script);
    const text = fs.readFileSync(original, "utf8").replace(/^main = .*$/m, `main = ${JSON.stringify(main)}`);
    fs.writeFileSync(worker.config, text);
  }
}

function removeTwins() {
  for (const worker of WORKERS.filter((w) => w.emptyOf !== undefined)) fs.rmSync(worker.config, { force: true });
}

/** The budgets: each Worker <= 64 KiB gzip, time to first response <= 1.15x an empty Worker's. */
const GZIP_BUDGET_KIB = 64;
const COLD_START_BUDGET = 1.15;

async function bundle(worker, outdir) {
  const wrangler = path.join(ROOT, "node_modules", ".bin", "wrangler");
  const { stdout, stderr } = await run(wrangler, ["deploy", "--dry-run", "--outdir", outdir, "-c", worker.config], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_LOG: "log", FORCE_COLOR: "0" },
    maxBuffer: 16 * 1024 * 1024,
  });
  const text = `${stdout}\n${stderr}`;
  const match = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(text);
  if (match === null) throw new Error(`no "Total Upload" line for ${worker.id}:\n${text.slice(-1000)}`);
  return { kib: Number(match[1]), gzipKib: Number(match[2]) };
}

/**
 * The first request each Worker answers, and the same again. Cold start is about loading the
 * script, so each request is the cheapest one the Worker has: the producer's router answering an
 * unknown path (404, no storage touched), the consumer's cron on an empty D1, the empty Worker's
 * fetch and cron.
 */
async function firstRequests(worker, harness) {
  const time = async (fn) => {
    const started = performance.now();
    await fn();
    return performance.now() - started;
  };
  if (worker.emptyOf === "producer") {
    const get = async () => {
      const response = await request(`${harness.base}/`);
      if (response.status !== 200) throw new Error(`empty Worker: ${response.status}`);
    };
    return { first: await time(get), second: await time(get), what: "`GET /` (answers ok)" };
  }
  if (worker.id === "consumer" || worker.emptyOf === "consumer") {
    const handle = harness.server.getWorker(worker.name);
    const cron = async () => {
      const result = await handle.scheduled({ cron: "* * * * *", scheduledTime: new Date() });
      if (result.outcome !== "ok") throw new Error(`consumer cron: ${result.outcome}`);
    };
    return { first: await time(cron), second: await time(cron), what: "cron run (`scheduled()`) on an empty D1" };
  }
  if (worker.id === "producer") {
    // A POST: a GET the API has no route for is handed to the console Worker.
    const miss = async () => {
      const response = await request(`${harness.base}/no-such-route`, { method: "POST", headers: AUTH });
      if (response.status !== 404) throw new Error(`producer POST /no-such-route: ${response.status}`);
    };
    return {
      first: await time(miss),
      second: await time(miss),
      what: "`POST /no-such-route` (router, error body; no storage)",
    };
  }
  let n = 0;
  const create = async () => {
    const response = await request(`${harness.base}/mpu?key=bench/cold/${n++}`, { method: "POST" });
    if (response.status !== 200) throw new Error(`baseline POST /mpu: ${response.status}`);
  };
  return { first: await time(create), second: await time(create), what: "`POST /mpu` (R2 create)" };
}

export async function bundleAndColdStart(ctx) {
  const reps = ctx.runs ?? (ctx.quick ? 3 : 5);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "ingest-bench-bundles-"));
  const sizes = {};
  const samples = Object.fromEntries(WORKERS.map((w) => [w.id, []]));
  writeTwins();
  try {
    for (const worker of WORKERS) sizes[worker.id] = await bundle(worker, path.join(scratch, worker.id));
    for (let rep = 0; rep < reps; rep++) {
      const order = [...WORKERS.slice(rep % WORKERS.length), ...WORKERS.slice(0, rep % WORKERS.length)];
      for (const worker of order) {
        // A fresh runtime from the already-built bundle, so the time is the runtime's, not esbuild's.
        const started = performance.now();
        // The producer and its empty twin take its secrets and its CONSOLE binding's target.
        const producerLike = worker.id === "producer" || worker.emptyOf === "producer";
        const harness = await startHarness([
          {
            configPath: worker.config,
            prebuiltWorkerDir: path.join(scratch, worker.id),
            ...(producerLike ? { secrets: PRODUCT_SECRETS } : {}),
          },
          ...(producerLike ? CONSOLE_WORKERS : []),
        ]);
        const listen = performance.now() - started;
        try {
          if (worker.id !== "baseline") await harness.server.getWorker(worker.name).applyD1Migrations("DB");
          const { first, second, what } = await firstRequests(worker, harness);
          samples[worker.id].push({ listen, first, second, what });
          ctx.log(
            `  cold start ${worker.id}: listen ${fmt(listen, 0)} ms, first ${fmt(first, 1)} ms, second ${fmt(second, 1)} ms`,
          );
        } finally {
          await harness.close();
        }
      }
    }
  } finally {
    removeTwins();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const m = (id, field) => median(samples[id].map((s) => s[field]));
  const reference = (w) => WORKERS.find((r) => r.emptyOf === (w.emptyOf ?? w.id))?.id ?? "producer-empty";
  const rows = WORKERS.map((w) => [
    w.id,
    fmt(sizes[w.id].kib, 2),
    fmt(sizes[w.id].gzipKib, 2),
    ratio(sizes[w.id].gzipKib, GZIP_BUDGET_KIB),
    fmt(m(w.id, "listen"), 0),
    fmt(m(w.id, "first"), 1),
    fmt(m(w.id, "second"), 1),
    fmt(m(w.id, "listen") + m(w.id, "first"), 0),
    ratio(m(w.id, "listen") + m(w.id, "first"), m(reference(w), "listen") + m(reference(w), "first")),
    samples[w.id][0].what,
  ]);
  const markdown = [
    `Bundle: \`wrangler deploy --dry-run --outdir <abs dir> -c <config>\` ("Total Upload" line). Cold start: a fresh harness per sample from the pre-built bundle ` +
      `(\`prebuiltWorkerDir\`, so esbuild is not timed), ${reps} samples each, interleaved, median. ` +
      '"runtime up" = `createTestHarness().listen()` (workerd processes start, Worker scripts load); D1 migrations are then applied (not timed); ' +
      'Each Worker is compared with its empty twin: its own config with an empty script as `main`. "first" = the first successful request, "second" = the same request again; time to first response = runtime up + first.',
    "",
    table(
      [
        "Worker",
        "bundle KiB",
        "gzip KiB",
        `gzip vs ${GZIP_BUDGET_KIB} KiB budget`,
        "runtime up ms",
        "first ms",
        "second ms",
        "time to first response ms",
        "vs its empty twin",
        "request",
      ],
      rows,
    ),
  ].join("\n");
  const coldRatio = (id) =>
    (m(id, "listen") + m(id, "first")) / (m(`${id}-empty`, "listen") + m(`${id}-empty`, "first"));
  const checks = ["producer", "consumer"].flatMap((id) => [
    {
      name: `${id} bundle <= ${GZIP_BUDGET_KIB} KiB gzip`,
      ok: sizes[id].gzipKib <= GZIP_BUDGET_KIB,
      detail: `${fmt(sizes[id].gzipKib, 2)} KiB`,
    },
    {
      name: `${id} cold start <= ${COLD_START_BUDGET}x its empty twin`,
      ok: coldRatio(id) <= COLD_START_BUDGET,
      detail: `${fmt(coldRatio(id), 2)}x`,
    },
  ]);
  return { title: "6. Bundle size and cold start", markdown, checks };
}
