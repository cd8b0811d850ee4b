// The fleet run's runtime: the real producer and consumer, each with its real bindings behind
// the exact meters of bench/costs/ (reused as they are: bench/costs/producer.ts and consumer.ts
// are the Workers' entries in temporary copies of their wrangler configs). Also the bench-only
// paths those entries offer, which read the raw bindings and are not counted: usage, reset, an
// upload's row. The product itself is only ever reached through its HTTP API.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  BENCH_DIR,
  CONFIGS,
  CONSOLE_WORKERS,
  PRODUCT_SECRETS,
  startHarness,
  topLevelConfigText,
} from "../lib/harness.mjs";
import { request, sleep } from "../lib/util.mjs";

/** A fleet opens thousands of streams with one key: the per-key limits would refuse them. */
const UNLIMITED = { MAX_OPEN_UPLOADS_PER_KEY: "1000000", MAX_OPEN_STREAMS_PER_KEY: "1000000" };

/** Replaces the value of the one `name = ...` line; fails unless there is exactly one. */
function replaceSetting(text, name, value, file) {
  const line = new RegExp(`^(\\s*${name}\\s*=\\s*).*$`, "gm");
  const count = (text.match(line) ?? []).length;
  if (count !== 1) throw new Error(`${file}: ${count} lines set ${name}, expected 1`);
  return text.replace(line, (_, head) => `${head}${JSON.stringify(value)}`);
}

/** A relative path setting resolved against the original config's folder (the copy lives elsewhere). */
function resolveSetting(text, name, configPath, file) {
  const current = new RegExp(`^\\s*${name}\\s*=\\s*"([^"]*)"`, "m").exec(text)?.[1];
  return current === undefined
    ? text
    : replaceSetting(text, name, path.resolve(path.dirname(configPath), current), file);
}

function meteredConfigs(dir) {
  let producer = topLevelConfigText(CONFIGS.producer);
  producer = replaceSetting(producer, "main", path.join(BENCH_DIR, "costs", "producer.ts"), "wrangler.toml");
  producer = resolveSetting(producer, "migrations_dir", CONFIGS.producer, "wrangler.toml");
  producer = resolveSetting(producer, "directory", CONFIGS.producer, "wrangler.toml");
  // Static assets play no part in ingest; a tree without a built web app gets an empty folder.
  const assets = /^\s*directory\s*=\s*"([^"]+)"/m.exec(producer)?.[1];
  if (assets !== undefined && !fs.existsSync(assets)) {
    fs.mkdirSync(path.join(dir, "assets"), { recursive: true });
    producer = replaceSetting(producer, "directory", path.join(dir, "assets"), "wrangler.toml");
  }
  let consumer = topLevelConfigText(CONFIGS.consumer);
  consumer = replaceSetting(consumer, "main", path.join(BENCH_DIR, "costs", "consumer.ts"), "consumer/wrangler.toml");
  consumer = resolveSetting(consumer, "migrations_dir", CONFIGS.consumer, "consumer/wrangler.toml");
  const files = {
    producer: path.join(dir, "producer.fleet.wrangler.toml"),
    consumer: path.join(dir, "consumer.fleet.wrangler.toml"),
  };
  fs.writeFileSync(files.producer, producer);
  fs.writeFileSync(files.consumer, consumer);
  const window = /^\s*max_batch_timeout\s*=\s*([0-9.]+)/m.exec(consumer)?.[1];
  return { ...files, batchWindowSeconds: window === undefined ? null : Number(window) };
}

/** Starts the metered product; `close()` also removes the temporary configs. */
export async function startMeteredProduct() {
  for (const entry of ["producer.ts", "consumer.ts", "meter.ts"])
    if (!fs.existsSync(path.join(BENCH_DIR, "costs", entry)))
      throw new Error(`the fleet run needs the meters of bench/costs/ (missing ${entry})`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ingest-fleet-"));
  try {
    const configs = meteredConfigs(dir);
    const harness = await startHarness(
      [
        { configPath: configs.producer, secrets: PRODUCT_SECRETS, vars: UNLIMITED },
        { configPath: configs.consumer },
        ...CONSOLE_WORKERS,
      ],
      { migrate: ["ingest-producer"] },
    );
    const consumer = harness.server.getWorker("ingest-consumer");
    return {
      harness,
      base: harness.base,
      batchWindowSeconds: configs.batchWindowSeconds,
      consumer,
      async close() {
        try {
          await harness.close();
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

// ---- the bench-only paths of bench/costs/ (raw bindings, not metered) ---------------------------

async function producerPath(product, via, pathname, method = "GET") {
  const response = await request(`${product.base}${pathname}`, { method, agent: via });
  if (response.status !== 200) throw new Error(`producer ${pathname}: HTTP ${response.status}`);
  return response.json();
}

async function consumerPath(product, pathname, method = "GET") {
  const response = await product.consumer.fetch(`http://consumer.local${pathname}`, { method });
  if (response.status !== 200) throw new Error(`consumer ${pathname}: HTTP ${response.status}`);
  return response.json();
}

export async function resetMeters(product, via) {
  await producerPath(product, via, "/__costs/reset", "POST");
  await consumerPath(product, "/__costs/reset", "POST");
}

export async function readMeters(product, via) {
  const [producer, consumer] = await Promise.all([
    producerPath(product, via, "/__costs/usage"),
    consumerPath(product, "/__costs/usage"),
  ]);
  return { producer, consumer };
}

/** The upload's row (`state`, `completed_at`, `object_size`, `failure_reason`), read with the raw D1. */
export function uploadRow(product, via, uploadId) {
  return producerPath(product, via, `/__costs/state?id=${encodeURIComponent(uploadId)}`);
}

/** Queue messages sent and not yet handled for good (waiting, in a batch, or waiting for a retry). */
function pendingMessages({ producer, consumer }) {
  const sent = producer.usage.queue.messages + consumer.usage.queue.messages;
  const { deliveries, redeliveries, retried } = consumer.invocations;
  return sent - (deliveries - redeliveries) + (retried - redeliveries);
}

/**
 * Waits until the queue is quiet: nothing pending, no consumer invocation running, and the meters
 * unchanged for `quietMs`. Resolves with the meters then.
 */
export async function quietMeters(product, via, { quietMs, timeoutMs }) {
  const deadline = performance.now() + timeoutMs;
  let last = "";
  let since = performance.now();
  for (;;) {
    const meters = await readMeters(product, via);
    const snapshot = JSON.stringify(meters);
    if (snapshot !== last || pendingMessages(meters) > 0 || meters.consumer.running > 0) {
      last = snapshot;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) {
      return meters;
    }
    if (performance.now() > deadline)
      throw new Error(`the queue was not quiet within ${timeoutMs} ms (${pendingMessages(meters)} pending)`);
    await sleep(100);
  }
}

const CLASS_A = ["put", "uploadPart", "createMultipartUpload", "completeMultipartUpload", "list", "copy"];
const CLASS_B = ["get", "head"];

/** The billed quantities of both Workers together. */
export function totals({ producer, consumer }) {
  const r2 = {};
  for (const side of [producer.usage.r2, consumer.usage.r2])
    for (const [name, n] of Object.entries(side)) r2[name] = (r2[name] ?? 0) + n;
  const d1 = (field) => producer.usage.d1[field] + consumer.usage.d1[field];
  const sum = (names) => names.reduce((total, name) => total + (r2[name] ?? 0), 0);
  return {
    producerRequests: producer.requests,
    byRoute: producer.byRoute,
    consumerInvocations: consumer.invocations.queue + consumer.invocations.scheduled,
    deliveries: consumer.invocations.deliveries,
    redeliveries: consumer.invocations.redeliveries,
    retried: consumer.invocations.retried,
    d1RoundTrips: d1("roundTrips"),
    d1Statements: d1("statements"),
    d1RowsRead: d1("rowsRead"),
    d1RowsWritten: d1("rowsWritten"),
    queueMessages: producer.usage.queue.messages + consumer.usage.queue.messages,
    queueMessagesProducer: producer.usage.queue.messages,
    queueMessagesConsumer: consumer.usage.queue.messages,
    r2ClassA: sum(CLASS_A),
    r2ClassB: sum(CLASS_B),
    r2,
    doRequests: producer.usage.durableObjects.requests + consumer.usage.durableObjects.requests,
    statements: [
      ...Object.entries(producer.usage.d1.bySql).map(([sql, n]) => ({ worker: "producer", sql, ...n })),
      ...Object.entries(consumer.usage.d1.bySql).map(([sql, n]) => ({ worker: "consumer", sql, ...n })),
    ],
  };
}
