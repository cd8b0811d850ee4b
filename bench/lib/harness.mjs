// Starting Workers locally with wrangler's createTestHarness, and finding their processes.
//
// A harness runs two workerd processes: wrangler's proxy (it owns the URL that `listen()`
// returns and forwards every request, as under `wrangler dev`) and the runtime that runs the
// user Workers. Benchmarks send real HTTP over loopback to the proxy's URL.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { childWorkerds, pidListeningOn } from "./util.mjs";

export const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const ROOT = path.dirname(BENCH_DIR);

export const CONFIGS = {
  producer: path.join(ROOT, "wrangler.toml"),
  consumer: path.join(ROOT, "consumer", "wrangler.toml"),
  console: path.join(ROOT, "web", "wrangler.toml"),
  baseline: path.join(BENCH_DIR, "baseline", "wrangler.toml"),
  probeProducer: path.join(BENCH_DIR, "probe", "producer.wrangler.toml"),
  probeConsumer: path.join(BENCH_DIR, "probe", "consumer.wrangler.toml"),
  tally: path.join(BENCH_DIR, "tally", "wrangler.toml"),
};

/**
 * The product may require credentials (API_KEYS secret, `Authorization: Bearer <key>`). The
 * harness gets a bench-only key as a test secret, and every product request carries it; a
 * product version without access control ignores both.
 */
/**
 * A Worker's wrangler config without its [env.*] sections. The benchmarks run the development
 * top level from temporary copies that rewrite settings (main, migrations_dir,
 * max_batch_timeout) the deployed environments repeat, so the copies keep the top level only.
 */
export function topLevelConfigText(configPath) {
  const text = fs.readFileSync(configPath, "utf8");
  const start = text.search(/^\[\[?env\./m);
  return start === -1 ? text : text.slice(0, start);
}

export const BENCH_API_KEY = "bench-key-0123456789abcdef-not-a-secret";
export const PRODUCT_SECRETS = {
  API_KEYS: JSON.stringify([{ id: "bench", key: BENCH_API_KEY }]),
  TOKEN_SECRET: "bench-token-secret-0123456789abcdef0123456789",
};
export const AUTH = { authorization: `Bearer ${BENCH_API_KEY}` };

/** Harnesses not closed yet, so an interrupted run can still stop its workerd processes. */
const open = new Set();
export async function closeAll() {
  await Promise.allSettled([...open].map((harness) => harness.close()));
}

let wrangler;
async function loadWrangler() {
  // Quiet wrangler's per-request info lines ("QUEUE ingest-part-events 3/3") unless asked.
  process.env.WRANGLER_LOG ??= "warn";
  wrangler ??= await import("wrangler");
  return wrangler;
}

/**
 * Starts a fresh harness (its own runtime and temporary storage) with the given workers
 * (`{ configPath, vars?, prebuiltWorkerDir? }`). Resolves with the server, its URL, the pids
 * of its two workerd processes and the time `listen()` took.
 */
export async function startHarness(workers, { migrate = [] } = {}) {
  const { createTestHarness } = await loadWrangler();
  const before = new Set(childWorkerds());
  const started = performance.now();
  const server = createTestHarness({ root: ROOT, workers });
  const { url } = await server.listen();
  const listenMs = performance.now() - started;
  for (const name of migrate) await server.getWorker(name).applyD1Migrations("DB");
  const mine = childWorkerds().filter((pid) => !before.has(pid));
  const proxy = pidListeningOn(url.port, mine);
  const runtime = mine.find((pid) => pid !== proxy) ?? null;
  const harness = {
    server,
    url,
    base: url.href.replace(/\/$/, ""),
    pids: { runtime, proxy },
    listenMs,
    async close() {
      open.delete(harness);
      await server.close();
    },
  };
  open.add(harness);
  return harness;
}

/**
 * The console Worker, where the tree has one: the producer's CONSOLE service binding needs its
 * target in the same runtime. Older commits (a --snapshot) served the console from the producer.
 */
export const CONSOLE_WORKERS = fs.existsSync(CONFIGS.console) ? [{ configPath: CONFIGS.console }] : [];

/** The benchmarks open thousands of uploads with one key: the per-key limits would stop them. */
const UNLIMITED = { MAX_OPEN_UPLOADS_PER_KEY: "1000000", MAX_OPEN_STREAMS_PER_KEY: "1000000" };

/** Producer + consumer from their own wrangler configs, D1 migrated. */
export function startProduct({ producerVars, consumerVars, extra = [] } = {}) {
  return startHarness(
    [
      { configPath: CONFIGS.producer, secrets: PRODUCT_SECRETS, vars: { ...UNLIMITED, ...producerVars } },
      { configPath: CONFIGS.consumer, ...(consumerVars ? { vars: consumerVars } : {}) },
      ...CONSOLE_WORKERS,
      ...extra,
    ],
    { migrate: ["ingest-producer"] },
  );
}

export function startBaseline() {
  return startHarness([{ configPath: CONFIGS.baseline }]);
}
