// Issue 13 (4), groundwork: an operations meter. Counts, not timings: what ingesting the same bytes
// costs in billed platform operations, per chunk, per part and per GiB, for chunk streams of
// 4 KiB, 64 KiB and 1 MiB chunks, native parts of 8 MiB and tus (one 8 MiB PATCH per part).
//
// One harness runs the real producer and the real consumer from temporary copies of their
// wrangler configs in which only `main` differs (and relative paths are made absolute):
// bench/costs/producer.ts and bench/costs/consumer.ts wrap the real entries and put meters
// (bench/costs/meter.ts) in front of the real D1, R2, queue and Durable Object bindings. Each
// scenario starts from zeroed meters and ends when the upload is `completed`, its object matches
// the SHA-256 of the bytes sent, and the queue is quiet (every message sent was delivered, none is
// waiting for a retry, no consumer invocation runs, and nothing changed for over a batch window).
// The waiting and the checks use bench-only paths that read the raw bindings and are not counted.
//
// Prices are in PRICES below, each with its source; the table per GiB is marginal cost at scale
// (no free allowances, no storage, no CPU time or Durable Object duration).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createUpload, uniqueKey } from "../lib/clients.mjs";
import {
  AUTH,
  BENCH_DIR,
  CONFIGS,
  CONSOLE_WORKERS,
  PRODUCT_SECRETS,
  ROOT,
  startHarness,
  topLevelConfigText,
} from "../lib/harness.mjs";
import { agent, fmt, MiB, pool, request, sleep, table } from "../lib/util.mjs";

const KiB = 1024;
const GiB = 1024 * MiB;
const PART_SIZE = 8 * MiB;
const CONCURRENCY = 4;
/** Longer than the consumer's batch window (1 s): quiet for this long means nothing is pending. */
const QUIET_MS = 1_500;
const UNLIMITED = { MAX_OPEN_UPLOADS_PER_KEY: "1000000", MAX_OPEN_STREAMS_PER_KEY: "1000000" };

/**
 * Unit prices in USD (Workers Paid / Standard, beyond the included allowances), read on
 * 2026-11-26 through the search tool from Cloudflare's docs sources (github.com/cloudflare/
 * cloudflare-docs, which developers.cloudflare.com is built from) and, for Firehose, AWS's
 * pricing page as stored in the pages corpus (rule) plus transcriptions of its us-east-1 table
 * (figure). The report prints this table with its sources.
 */
export const PRICES = {
  r2ClassA: {
    usd: 4.5 / 1e6,
    unit: "Class A operation (Standard storage)",
    source:
      "https://developers.cloudflare.com/r2/pricing/ (cloudflare-docs src/content/docs/r2/pricing.mdx): $4.50 / million; Class A = PutObject, UploadPart, CreateMultipartUpload, CompleteMultipartUpload, ListObjects, CopyObject, ...",
  },
  r2ClassB: {
    usd: 0.36 / 1e6,
    unit: "Class B operation",
    source:
      "same page: $0.36 / million; Class B = GetObject, HeadObject, ...; free: DeleteObject, AbortMultipartUpload",
  },
  queueOp: {
    usd: 0.4 / 1e6,
    unit: "queue operation (64 KB written, read or deleted)",
    source:
      "https://developers.cloudflare.com/queues/platform/pricing/ (partial workers/queues_pricing.mdx): $0.40 / million operations; 3 per message <= 64 KB (write, read, delete); each retry one more read",
  },
  d1RowRead: {
    usd: 0.001 / 1e6,
    unit: "D1 row read",
    source:
      "https://developers.cloudflare.com/d1/platform/pricing/ (partial workers/d1-pricing.mdx): $0.001 / million rows",
  },
  d1RowWritten: {
    usd: 1.0 / 1e6,
    unit: "D1 row written",
    source: "same page: $1.00 / million rows (indexes add rows written)",
  },
  doRequest: {
    usd: 0.15 / 1e6,
    unit: "Durable Object request (each RPC method call on a stub)",
    source:
      "https://developers.cloudflare.com/durable-objects/platform/pricing/ (partial durable-objects-pricing.mdx): $0.15 / million; duration ($12.50 / million GB-s) and SQLite rows not counted here",
  },
  workersRequest: {
    usd: 0.3 / 1e6,
    unit: "Workers request (HTTP request or consumer invocation)",
    source:
      "https://developers.cloudflare.com/workers/platform/pricing/ (src/content/docs/workers/platform/pricing.mdx): Standard, $0.30 / million; CPU time ($0.02 / million CPU ms) not counted here",
  },
  firehoseGB: {
    usd: 0.029,
    unit: "GB ingested, Direct PUT, first 500 TB / month, us-east-1, each record rounded up to 5 KB",
    source:
      "https://aws.amazon.com/firehose/pricing/ (as stored in the pages corpus, ru/de copies: ingestion billed per GB in 5 KB increments, 3 KB billed as 5 KB); the $0.029 figure from transcriptions of its us-east-1 table found with the code search (not on the stored copy itself); records are at most 1,000 KiB: https://docs.aws.amazon.com/firehose/latest/APIReference/API_Record.html",
  },
};

/** Firehose's billed bytes for records of `size` bytes: each rounded up to 5 KB (KB taken as 1,024 bytes, GB as 2^30). */
const FIREHOSE_INCREMENT = 5 * KiB;
/** Firehose's largest record (before base64): 1,000 KiB (docs.aws.amazon.com/firehose/latest/APIReference/API_Record.html). */
const FIREHOSE_MAX_RECORD = 1000 * KiB;

function scenarios(quick) {
  const total = quick ? 8 * MiB : 16 * MiB;
  // BENCH_COSTS_ONLY=chunks-4k,tus-8m runs a subset.
  const only = process.env.BENCH_COSTS_ONLY?.split(",").map((s) => s.trim());
  return {
    total,
    list: [
      { id: "chunks-4k", label: "chunks 4 KiB", kind: "stream", size: 4 * KiB },
      { id: "chunks-64k", label: "chunks 64 KiB", kind: "stream", size: 64 * KiB },
      { id: "chunks-1m", label: "chunks 1 MiB", kind: "stream", size: MiB },
      { id: "parts-8m", label: "native parts 8 MiB", kind: "parts", size: PART_SIZE },
      { id: "tus-8m", label: "tus PATCH 8 MiB", kind: "tus", size: PART_SIZE },
    ]
      .filter((s) => only === undefined || only.includes(s.id))
      .map((s) => ({ ...s, count: total / s.size })),
  };
}

// ---- configs ----------------------------------------------------------------------------------

function setLine(text, name, value, what) {
  const pattern = new RegExp(`^(\\s*${name}\\s*=\\s*).*$`, "gm");
  const found = text.match(pattern) ?? [];
  if (found.length !== 1) throw new Error(`${what}: expected one ${name} line, found ${found.length}`);
  return text.replace(pattern, `$1${value}`);
}

/** `name = "relative"` made absolute against the original config's folder, if present. */
function absolutePath(text, name, original, what) {
  const value = new RegExp(`^\\s*${name}\\s*=\\s*"([^"]+)"`, "m").exec(text)?.[1];
  if (value === undefined) return text;
  return setLine(text, name, JSON.stringify(path.resolve(path.dirname(original), value)), what);
}

/** Copies of both Workers' configs with `main` = the metering entries; every binding as it is. */
function writeConfigs(dir) {
  let producer = topLevelConfigText(CONFIGS.producer);
  producer = setLine(producer, "main", JSON.stringify(path.join(BENCH_DIR, "costs", "producer.ts")), "wrangler.toml");
  producer = absolutePath(producer, "migrations_dir", CONFIGS.producer, "wrangler.toml");
  producer = absolutePath(producer, "directory", CONFIGS.producer, "wrangler.toml");
  // A snapshot (--snapshot) has no built web app; the static assets play no part in ingest.
  const assets = /^\s*directory\s*=\s*"([^"]+)"/m.exec(producer)?.[1];
  if (assets !== undefined && !fs.existsSync(assets)) {
    fs.mkdirSync(path.join(dir, "assets"));
    producer = setLine(producer, "directory", JSON.stringify(path.join(dir, "assets")), "wrangler.toml");
  }
  let consumer = topLevelConfigText(CONFIGS.consumer);
  consumer = setLine(consumer, "main", JSON.stringify(path.join(BENCH_DIR, "costs", "consumer.ts")), "consumer");
  consumer = absolutePath(consumer, "migrations_dir", CONFIGS.consumer, "consumer/wrangler.toml");
  const producerPath = path.join(dir, "producer.costs.wrangler.toml");
  const consumerPath = path.join(dir, "consumer.costs.wrangler.toml");
  fs.writeFileSync(producerPath, producer);
  fs.writeFileSync(consumerPath, consumer);
  const window = /^\s*max_batch_timeout\s*=\s*(\S+)/m.exec(consumer)?.[1] ?? "?";
  return { producerPath, consumerPath, window };
}

// ---- the bench-only paths ---------------------------------------------------------------------

async function benchCall(h, worker, pathname, method = "GET") {
  const response =
    worker === "producer"
      ? await request(`${h.base}${pathname}`, { method, agent: h.via })
      : await h.consumer.fetch(`http://consumer.local${pathname}`, { method });
  if (response.status !== 200) throw new Error(`${worker} ${pathname}: HTTP ${response.status}`);
  return typeof response.json === "function" ? response.json() : JSON.parse(await response.text());
}

async function usageOf(h) {
  const [producer, consumer] = await Promise.all([
    benchCall(h, "producer", "/__costs/usage"),
    benchCall(h, "consumer", "/__costs/usage"),
  ]);
  return { producer, consumer };
}

async function resetUsage(h) {
  await benchCall(h, "producer", "/__costs/reset", "POST");
  await benchCall(h, "consumer", "/__costs/reset", "POST");
}

/** Waits for `completed` (raw D1 read), then for the queue to be quiet; returns the final usage. */
async function settle(h, uploadId) {
  const deadline = performance.now() + 180_000;
  for (;;) {
    const row = await benchCall(h, "producer", `/__costs/state?id=${encodeURIComponent(uploadId)}`);
    if (row?.state === "completed") break;
    if (row === null || (row.state !== "open" && row.state !== "completing"))
      throw new Error(`upload ${uploadId} ended ${row?.state}: ${row?.failure_reason}`);
    if (performance.now() > deadline) throw new Error(`upload ${uploadId} did not complete within 180 s`);
    await sleep(25);
  }
  let last = "";
  let quietSince = performance.now();
  for (;;) {
    const usage = await usageOf(h);
    const sent = usage.producer.usage.queue.messages + usage.consumer.usage.queue.messages;
    const { deliveries, redeliveries, retried } = usage.consumer.invocations;
    const pending = sent - (deliveries - redeliveries) + (retried - redeliveries);
    const snapshot = JSON.stringify(usage);
    if (snapshot !== last || pending > 0 || usage.consumer.running > 0) {
      last = snapshot;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= QUIET_MS) {
      return usage;
    }
    if (performance.now() > deadline) throw new Error(`the queue did not go quiet (pending ${pending})`);
    await sleep(100);
  }
}

async function verifyObject(h, key, expected) {
  const response = await request(`${h.base}/__costs/object?key=${encodeURIComponent(key)}`, { agent: h.via });
  const actual = createHash("sha256").update(response.body).digest("hex");
  if (response.status !== 200 || actual !== expected)
    throw new Error(`object ${key}: HTTP ${response.status}, ${response.body.length} bytes, SHA-256 mismatch`);
}

// ---- the scenarios ----------------------------------------------------------------------------

async function expect200(response, statuses, what) {
  if (!statuses.includes(response.status))
    throw new Error(`${what}: HTTP ${response.status} ${response.text().slice(0, 200)}`);
  return response;
}

async function runStream(h, bytes, spec, key) {
  const upload = await createUpload(h.base, h.via, { key, mode: "stream", partSize: PART_SIZE });
  const put = (seq, final) =>
    request(`${h.base}/uploads/${encodeURIComponent(upload.uploadId)}/chunks/${seq}${final ? "?final=1" : ""}`, {
      method: "PUT",
      agent: h.via,
      headers: AUTH,
      body: bytes.subarray((seq - 1) * spec.size, seq * spec.size),
    }).then((response) => expect200(response, [200], `PUT chunk ${seq}`));
  await pool(
    Array.from({ length: spec.count - 1 }, (_, i) => i + 1),
    CONCURRENCY,
    (seq) => put(seq, false),
  );
  await put(spec.count, true);
  return upload.uploadId;
}

async function runParts(h, bytes, spec, key) {
  const upload = await createUpload(h.base, h.via, { key, parts: spec.count, partSize: PART_SIZE });
  await pool(
    Array.from({ length: spec.count }, (_, i) => i + 1),
    CONCURRENCY,
    async (n) =>
      expect200(
        await request(`${h.base}/uploads/${encodeURIComponent(upload.uploadId)}/parts/${n}`, {
          method: "PUT",
          agent: h.via,
          headers: AUTH,
          body: bytes.subarray((n - 1) * PART_SIZE, n * PART_SIZE),
        }),
        [200],
        `PUT part ${n}`,
      ),
  );
  return upload.uploadId;
}

async function runTus(h, bytes, _spec, key) {
  const tus = { "tus-resumable": "1.0.0", ...AUTH };
  const created = await expect200(
    await request(`${h.base}/files/`, {
      method: "POST",
      agent: h.via,
      headers: {
        ...tus,
        "upload-length": String(bytes.length),
        "upload-metadata": `key ${Buffer.from(key).toString("base64")}`,
      },
    }),
    [201],
    "tus POST /files/",
  );
  const id = decodeURIComponent(
    /\/files\/([^/?#]+)\/?$/.exec(new URL(created.headers.location, h.base).pathname)?.[1] ?? "",
  );
  for (let offset = 0; offset < bytes.length; offset += PART_SIZE) {
    await expect200(
      await request(`${h.base}/files/${encodeURIComponent(id)}`, {
        method: "PATCH",
        agent: h.via,
        headers: { ...tus, "upload-offset": String(offset), "content-type": "application/offset+octet-stream" },
        body: bytes.subarray(offset, offset + PART_SIZE),
      }),
      [204],
      `tus PATCH at ${offset}`,
    );
  }
  return id;
}

const RUNNERS = { stream: runStream, parts: runParts, tus: runTus };

// ---- figures ----------------------------------------------------------------------------------

const CLASS_A = ["put", "uploadPart", "createMultipartUpload", "completeMultipartUpload", "list", "copy"];
const CLASS_B = ["get", "head"];

function sumOps(r2, names) {
  return names.reduce((sum, name) => sum + (r2[name] ?? 0), 0);
}

/** The billed quantities of one scenario, both Workers together. */
function quantities({ producer, consumer }) {
  const r2 = {};
  for (const side of [producer.usage.r2, consumer.usage.r2])
    for (const [name, n] of Object.entries(side)) r2[name] = (r2[name] ?? 0) + n;
  const d1 = (field) => producer.usage.d1[field] + consumer.usage.d1[field];
  const messages = producer.usage.queue.messages + consumer.usage.queue.messages;
  const units = producer.usage.queue.units64k + consumer.usage.queue.units64k;
  const inv = consumer.invocations;
  return {
    workersRequests: producer.requests + inv.queue + inv.scheduled,
    producerRequests: producer.requests,
    consumerInvocations: inv.queue + inv.scheduled,
    d1RoundTrips: d1("roundTrips"),
    d1Statements: d1("statements"),
    d1RowsRead: d1("rowsRead"),
    d1RowsWritten: d1("rowsWritten"),
    r2ClassA: sumOps(r2, CLASS_A),
    r2ClassB: sumOps(r2, CLASS_B),
    r2Free: (r2.delete ?? 0) + (r2.abortMultipartUpload ?? 0),
    r2,
    queueMessages: messages,
    // write + read + delete per 64 KB unit, and one more read per redelivery.
    queueOps: 3 * units + inv.redeliveries * Math.max(1, Math.round(units / Math.max(1, messages))),
    redeliveries: inv.redeliveries,
    doRequests: producer.usage.durableObjects.requests,
    doByMethod: producer.usage.durableObjects.byMethod,
  };
}

function dollarsPerGiB(q, bytes) {
  const scale = GiB / bytes;
  const parts = {
    r2ClassA: q.r2ClassA * PRICES.r2ClassA.usd,
    r2ClassB: q.r2ClassB * PRICES.r2ClassB.usd,
    queue: q.queueOps * PRICES.queueOp.usd,
    d1Read: q.d1RowsRead * PRICES.d1RowRead.usd,
    d1Written: q.d1RowsWritten * PRICES.d1RowWritten.usd,
    durableObjects: q.doRequests * PRICES.doRequest.usd,
    workers: q.workersRequests * PRICES.workersRequest.usd,
  };
  const perGiB = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v * scale]));
  perGiB.total = Object.values(perGiB).reduce((a, b) => a + b, 0);
  return perGiB;
}

/**
 * Firehose's price per GiB of payload sent as records of `size` bytes; a payload larger than
 * Firehose's largest record is sent as several records (whole ones of 1,000 KiB, then the rest).
 */
function firehosePerGiB(size) {
  const billed = (bytes) => Math.ceil(bytes / FIREHOSE_INCREMENT) * FIREHOSE_INCREMENT;
  const whole = Math.floor(size / FIREHOSE_MAX_RECORD);
  const rest = size - whole * FIREHOSE_MAX_RECORD;
  return PRICES.firehoseGB.usd * ((whole * billed(FIREHOSE_MAX_RECORD) + (rest > 0 ? billed(rest) : 0)) / size);
}

const usd = (value) => (value >= 1 ? `$${fmt(value, 2)}` : `$${fmt(value, 4)}`);
const count = (value) => (value >= 100 ? fmt(value, 0) : value >= 1 ? fmt(value, 2) : fmt(value, 3));

/** D1 statements of a scenario, both Workers, the costliest first (rows written and read at their prices). */
function topStatements(usage, limit) {
  const rows = [];
  for (const [worker, side] of [
    ["producer", usage.producer.usage.d1.bySql],
    ["consumer", usage.consumer.usage.d1.bySql],
  ])
    for (const [sql, s] of Object.entries(side))
      rows.push({
        worker,
        sql,
        ...s,
        usd: s.rowsWritten * PRICES.d1RowWritten.usd + s.rowsRead * PRICES.d1RowRead.usd,
      });
  return rows.sort((a, b) => b.usd - a.usd || b.statements - a.statements).slice(0, limit);
}

// ---- the suite --------------------------------------------------------------------------------

export async function operationCosts(ctx) {
  const { total, list } = scenarios(ctx.quick);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ingest-costs-"));
  const { producerPath, consumerPath, window } = writeConfigs(dir);
  const harness = await startHarness(
    [
      { configPath: producerPath, secrets: PRODUCT_SECRETS, vars: UNLIMITED },
      { configPath: consumerPath },
      ...CONSOLE_WORKERS,
    ],
    { migrate: ["ingest-producer"] },
  );
  const h = {
    base: harness.base,
    via: agent(CONCURRENCY + 2),
    consumer: harness.server.getWorker("ingest-consumer"),
  };
  const bytes = ctx.data.subarray(0, total);
  const digest = createHash("sha256").update(bytes).digest("hex");
  const results = [];
  try {
    // Warm-up (not counted): a small stream and a small parts upload, so every scenario meets a
    // started runtime with the same cached state.
    for (const kind of ["stream", "parts"]) {
      const small = { size: kind === "stream" ? 64 * KiB : 256 * KiB, count: 4 };
      const warmBytes = ctx.data.subarray(0, small.size * small.count);
      const id = await (kind === "stream"
        ? runStream(h, warmBytes, small, uniqueKey("costs-warm"))
        : runParts(h, warmBytes, { ...small, count: 1 }, uniqueKey("costs-warm")));
      await settle(h, id);
    }
    for (const spec of list) {
      await resetUsage(h);
      const key = uniqueKey(`costs/${spec.id}`);
      const started = performance.now();
      const uploadId = await RUNNERS[spec.kind](h, bytes, spec, key);
      const usage = await settle(h, uploadId);
      await verifyObject(h, key, digest);
      const q = quantities(usage);
      results.push({ spec, usage, q, money: dollarsPerGiB(q, total) });
      ctx.log(
        `  costs ${spec.label}: ${spec.count} requests, D1 ${q.d1Statements} statements / ${q.d1RowsWritten} rows written, R2 A ${q.r2ClassA} B ${q.r2ClassB}, queue ${q.queueMessages} messages, DO ${q.doRequests} (${Math.round((performance.now() - started) / 1000)} s)`,
      );
    }
  } finally {
    h.via.destroy();
    await harness.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const markdown = report({ total, window, results, quick: ctx.quick });
  writeResultsFile(markdown, ctx);
  return {
    title: "11. Operations cost per GiB ingested (issue 13, counts of billed operations)",
    markdown,
    checks: [],
  };
}

/** The R2 calls the cost table shows, in its column order (aborts are a column of their own). */
const R2_COLUMNS = [
  "put",
  "uploadPart",
  "createMultipartUpload",
  "completeMultipartUpload",
  "list",
  "get",
  "head",
  "delete",
  "deleteKeys",
];

function report({ total, window, results, quick }) {
  const parts = total / PART_SIZE;
  const perGiB = GiB / total;
  const countsHeader = [
    "scenario",
    "per",
    "Workers requests",
    "D1 round trips",
    "D1 statements",
    "D1 rows read",
    "D1 rows written",
    "R2 class A",
    "R2 class B",
    "R2 free (delete, abort)",
    "queue messages",
    "queue ops",
    "DO requests",
  ];
  const countsRows = [];
  for (const { spec, q } of results) {
    const row = (per, divisor) => [
      spec.label,
      per,
      count(q.workersRequests / divisor),
      count(q.d1RoundTrips / divisor),
      count(q.d1Statements / divisor),
      count(q.d1RowsRead / divisor),
      count(q.d1RowsWritten / divisor),
      count(q.r2ClassA / divisor),
      count(q.r2ClassB / divisor),
      count(q.r2Free / divisor),
      count(q.queueMessages / divisor),
      count(q.queueOps / divisor),
      count(q.doRequests / divisor),
    ];
    const unit = spec.kind === "stream" ? "chunk" : spec.kind === "tus" ? "PATCH" : "part request";
    countsRows.push(row(`${unit} (${spec.count})`, spec.count));
    if (spec.kind === "stream") countsRows.push(row(`8 MiB part (${parts})`, parts));
    countsRows.push(row("GiB", 1 / perGiB));
  }
  const costRows = results.map(({ spec, money }) => {
    const firehose = firehosePerGiB(spec.size);
    return [
      spec.label,
      usd(money.r2ClassA),
      usd(money.r2ClassB),
      usd(money.queue),
      usd(money.d1Read),
      usd(money.d1Written),
      usd(money.durableObjects),
      usd(money.workers),
      `**${usd(money.total)}**`,
      spec.size > FIREHOSE_MAX_RECORD ? `${usd(firehose)} (as 1,000 KiB records)` : usd(firehose),
      `${fmt(money.total / firehose, 2)}x`,
    ];
  });
  const r2Rows = results.map(({ spec, q }) => [
    spec.label,
    ...R2_COLUMNS.map((name) => q.r2[name] ?? 0),
    q.r2.abortMultipartUpload ?? 0,
  ]);
  const requestRows = results.map(({ spec, q, usage }) => [
    spec.label,
    Object.entries(usage.producer.byRoute)
      .map(([route, n]) => `${route} ×${n}`)
      .join(", "),
    q.consumerInvocations,
    usage.consumer.invocations.deliveries,
    q.redeliveries,
    Object.entries(q.doByMethod)
      .map(([m, n]) => `${m} ×${n}`)
      .join(", ") || "-",
  ]);
  const small = results.find((r) => r.spec.id === "chunks-4k");
  const sqlRows =
    small === undefined
      ? []
      : topStatements(small.usage, 10).map((st) => [
          st.worker,
          `\`${st.sql.replaceAll("`", "'")}\``,
          st.statements,
          count(st.statements / small.spec.count),
          fmt(st.rowsRead, 0),
          count(st.rowsRead / Math.max(1, st.statements)),
          fmt(st.rowsWritten, 0),
          count(st.rowsWritten / small.spec.count),
          usd((st.usd * GiB) / total),
        ]);
  const priceRows = Object.values(PRICES).map((p) => [
    p.unit,
    p.usd >= 0.01 ? `$${p.usd}` : `$${fmt(p.usd * 1e6, 3)} / million`,
    p.source,
  ]);
  return [
    `Each scenario ingests the same ${fmt(total / MiB, 0)} MiB${quick ? " (--quick)" : ""} into one object of ${parts} parts of 8 MiB ` +
      `and waits for \`completed\`; every object matched the SHA-256 of the bytes sent. Chunk streams: \`POST /uploads {mode: "stream", partSize: 8 MiB}\`, ` +
      `chunks in sequence order with ${CONCURRENCY} in flight, the last with \`?final=1\` after all others were acknowledged. Native: \`POST /uploads {parts: ${parts}, partSize: 8 MiB}\` ` +
      `and ${parts} part PUTs. tus: \`POST /files/\` and one 8 MiB PATCH per part. The consumer's batch window is ${window} s (its real config). ` +
      "The counts are exact (meters in front of the real bindings: bench/costs/), both Workers together, from the first request until the queue is quiet, " +
      "so the consumer's completion, clean-up and `upload.ended` notification are in. Per GiB = the scenario's count x (1 GiB / bytes ingested).",
    "",
    "**Counts** (per request of the scenario's kind, per 8 MiB part of the object, per GiB ingested):",
    "",
    table(countsHeader, countsRows),
    "",
    "The producer's share is fixed per request; the consumer's depends on how the chunk events fall into queue batches (it takes the stream's lease and coalesces once per batch), so its columns move a little from run to run. " +
      "Rows read and written are the `meta` D1 returns for each statement (here local D1, which is SQLite too: Cloudflare's docs point to the same `meta` for tracking billed rows). " +
      "Not counted: Durable Object duration and SQLite rows, Workers CPU time, R2 storage.",
    "",
    "**Cost per GiB ingested** (marginal: unit prices below, no free allowances; storage, CPU time and Durable Object duration left out). " +
      "Firehose = Amazon Data Firehose Direct PUT ingestion of the same payload sent as records of the same size, each billed in 5 KB steps (a 4 KiB record as 5 KB; KB taken as 1,024 bytes, GB as 2^30); " +
      "a record holds at most 1,000 KiB, so 1 MiB chunks and 8 MiB parts are priced as 1,000 KiB records plus the rest. Firehose's price includes delivery to S3 but not S3 itself; the Cloudflare columns include R2's operations but not R2 storage either.",
    "",
    table(
      [
        "scenario",
        "R2 class A",
        "R2 class B",
        "queue",
        "D1 rows read",
        "D1 rows written",
        "DO requests",
        "Workers requests",
        "total",
        "Firehose (anchor)",
        "total / Firehose",
      ],
      costRows,
    ),
    "",
    "**R2 calls** (both Workers; `resumeMultipartUpload` makes no request and is not counted; `deleteKeys` = keys in those deletes):",
    "",
    table(
      ["scenario", ...R2_COLUMNS.map((name) => (name === "delete" ? "delete calls" : name)), "abortMultipartUpload"],
      r2Rows,
    ),
    "",
    "**Requests and invocations:**",
    "",
    table(
      [
        "scenario",
        "producer requests by route",
        "consumer invocations",
        "messages delivered",
        "redeliveries",
        "Durable Object calls",
      ],
      requestRows,
    ),
    "",
    ...(sqlRows.length === 0
      ? []
      : [
          `**D1 statements of the 4 KiB chunk stream** (the 10 costliest; ${small.spec.count} chunks; $ per GiB of 4 KiB chunks):`,
          "",
          table(
            [
              "Worker",
              "statement",
              "runs",
              "runs per chunk",
              "rows read",
              "rows read per run",
              "rows written",
              "rows written per chunk",
              "$ per GiB",
            ],
            sqlRows,
          ),
          "",
        ]),
    "**Prices used** (USD, read 2026-11-26; Workers Paid / Standard rates beyond the included usage):",
    "",
    table(["unit", "price", "source"], priceRows),
  ].join("\n");
}

function git(args) {
  try {
    return execFileSync("git", args, { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

/** What was measured: run.mjs's --label (a snapshot), else the working tree and its product changes. */
function productCode() {
  const at = process.argv.indexOf("--label");
  if (at !== -1 && process.argv[at + 1] !== undefined) return process.argv[at + 1];
  const commit = git(["rev-parse", "--short", "HEAD"]) ?? "unknown";
  const changed = (
    git(["status", "--porcelain", "--", "producer", "consumer", "shared", "migrations", "wrangler.toml"]) ?? ""
  )
    .split("\n")
    .filter(Boolean)
    .map((line) => line.slice(3));
  return `working tree at commit ${commit}${changed.length === 0 ? "" : ` plus uncommitted changes to ${changed.join(", ")}`}`;
}

function writeResultsFile(markdown, ctx) {
  const file = process.env.BENCH_COSTS_OUT ?? path.join(BENCH_DIR, "results", "costs.md");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    [
      "# Operations cost per GiB ingested (issue 13)",
      "",
      `- date: ${new Date().toISOString()}; mode: ${ctx.quick ? "--quick" : "full"}; product code: ${productCode()}`,
      "- produced by `npm run bench -- --only costs` (bench/suites/costs.mjs); counts, not timings: the same on any machine for the same code (the consumer's columns up to how events fall into batches)",
      "",
      markdown,
      "",
    ].join("\n"),
  );
}
