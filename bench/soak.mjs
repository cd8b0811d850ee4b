#!/usr/bin/env node
// Soak test (not part of the tests): mixed traffic for N minutes against a running
// `npm run dev`, then a check that every upload that should have completed did, with the right
// bytes.
//
//   npm run dev                               # in another terminal
//   npm run soak -- --minutes 1 [--url http://127.0.0.1:8787] [--concurrency 4] [--seed 42]
//                   [--key API_KEY]   (default: INGEST_API_KEY, else the dev key in .dev.vars)
//
// Traffic, chosen at random by each of --concurrency clients until the time is up:
//   native      POST /uploads {parts: 1-4}, parts in random order, some sent again (same or new
//               bytes, the newest wins), no complete call: the consumer completes it
//   explicit    POST /uploads without `parts`, parts, then POST /uploads/{id}/complete {parts}
//   compat      the seed-compatible routes: mpu-create, mpu-uploadpart (random order, some
//               re-sent), mpu-complete with the newest etags; sometimes mpu-abort instead
//   abandoned   a native upload with staleAfterSeconds=60 that never gets all its parts
//   aborted     a native upload aborted by the client (DELETE /uploads/{id})
// At the end: waits (bounded) for the auto-completions, fires the consumer's cron as of 2 min
// from now (sweeps the abandoned uploads), reads every finished object back and compares
// SHA-256 with what was sent. Loopback only; every loop is bounded.
import { createHash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { agent, jsonBody, MiB, prng, request, shuffle, sleep, table } from "./lib/util.mjs";

const { values: flags } = parseArgs({
  options: {
    minutes: { type: "string", default: "2" },
    url: { type: "string", default: process.env.INGEST_URL ?? "http://127.0.0.1:8787" },
    concurrency: { type: "string", default: "4" },
    seed: { type: "string" },
    "part-size": { type: "string", default: String(5 * MiB) },
    // The development key from .dev.vars; sent as `Authorization: Bearer` (ignored by versions
    // of the producer without access control).
    key: { type: "string", default: process.env.INGEST_API_KEY ?? "dev-key-0123456789abcdef" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(
    "usage: npm run soak -- [--minutes 2] [--url http://127.0.0.1:8787] [--concurrency 4] [--seed N] [--part-size BYTES] [--key API_KEY]",
  );
  process.exit(0);
}
const base = flags.url.replace(/\/$/, "");
const host = new URL(base).hostname;
if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) {
  console.error(`soak only talks to loopback; got ${host}`);
  process.exit(2);
}
const AUTH = flags.key === "" ? {} : { authorization: `Bearer ${flags.key}` };
const minutes = Number(flags.minutes);
const concurrency = Math.max(1, Math.min(32, Number(flags.concurrency)));
const partSize = Number(flags["part-size"]);
const seed = flags.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(flags.seed);
const random = prng(seed);
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const chance = (p) => random() < p;

// Part bytes are slices of one random pool, so an expected object is a list of (offset, length).
const POOL = randomBytes(64 * MiB);
const slice = () => {
  const length = partSize;
  const offset = int(0, POOL.length - length);
  return { offset, length };
};
const bytesOf = ({ offset, length }) => POOL.subarray(offset, offset + length);
const sha256 = (chunks) => {
  const hash = createHash("sha256");
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest("hex");
};

// ---- request accounting -------------------------------------------------------------------------

const via = agent(concurrency * 2);
const stats = { requests: 0, byStatus: new Map(), unexpected: [] };
async function call(op, url, options = {}, expected = [200]) {
  stats.requests++;
  let response;
  try {
    response = await request(url, {
      agent: via,
      timeoutMs: 120_000,
      ...options,
      headers: { ...options.headers, ...AUTH },
    });
  } catch (error) {
    const key = `${op} network error`;
    stats.byStatus.set(key, (stats.byStatus.get(key) ?? 0) + 1);
    stats.unexpected.push(`${op}: ${error.message}`);
    return null;
  }
  const key = `${op} ${response.status}`;
  stats.byStatus.set(key, (stats.byStatus.get(key) ?? 0) + 1);
  if (!expected.includes(response.status)) {
    stats.unexpected.push(`${op}: HTTP ${response.status} ${response.text().slice(0, 200)}`);
  }
  return response;
}

/** Every upload the soak made, and what it expects of it. */
const uploads = [];

/** Part n's bytes: every part but the last is partSize; the last is 1..partSize bytes. */
function partSlice(n, count) {
  const s = slice();
  if (n === count) s.length = int(1, partSize);
  return s;
}

/**
 * Sends the parts 1..count in random order, re-sending some (same bytes, or new bytes that then
 * win) before the last missing part goes out, so a re-send never races the completion.
 * `send(n, slice)` resolves with the etag or null. Returns the newest slice and etag per part.
 */
async function sendAll(count, send, { upTo = count } = {}) {
  const order = shuffle(
    Array.from({ length: count }, (_, i) => i + 1),
    random,
  ).slice(0, upTo);
  const newest = new Map();
  for (const [index, n] of order.entries()) {
    const s = partSlice(n, count);
    const etag = await send(n, s);
    if (etag === null) return null;
    newest.set(n, { slice: s, etag });
    const isLast = index === order.length - 1;
    if (!isLast && chance(0.25)) {
      // Re-send an already sent part: a client retry (same bytes) or a replacement (new bytes).
      const again = [...newest.keys()][int(0, newest.size - 1)];
      const replacement = chance(0.5) ? partSlice(again, count) : newest.get(again).slice;
      const etag2 = await send(again, replacement);
      if (etag2 === null) return null;
      newest.set(again, { slice: replacement, etag: etag2 });
    }
  }
  return newest;
}

// ---- scenarios -------------------------------------------------------------------------------------

let serial = 0;
const keyFor = (kind) => `soak/${seed}/${kind}/${serial++}-${int(0, 1e9).toString(36)}`;

async function nativeUpload({ explicit = false } = {}) {
  const count = chance(0.3) ? 1 : int(2, 4);
  const key = keyFor(explicit ? "explicit" : "native");
  const created = await call(
    "POST /uploads",
    `${base}/uploads`,
    { method: "POST", ...jsonBody(explicit ? { key, partSize } : { key, parts: count, partSize }) },
    [201],
  );
  if (created === null || created.status !== 201) return;
  const { uploadId } = created.json();
  const record = { kind: explicit ? "explicit" : "native", key, uploadId, count, expect: "completed", parts: null };
  uploads.push(record);
  const newest = await sendAll(count, async (n, s) => {
    const response = await call("PUT part", `${base}/uploads/${encodeURIComponent(uploadId)}/parts/${n}`, {
      method: "PUT",
      body: bytesOf(s),
    });
    return response?.status === 200 ? response.json().etag : null;
  });
  if (newest === null) {
    record.expect = "unknown";
    return;
  }
  record.parts = newest;
  if (explicit) {
    // 200 once completed, 202 while the events of the parts are still in flight (the consumer then completes it).
    await call(
      "POST complete",
      `${base}/uploads/${encodeURIComponent(uploadId)}/complete`,
      { method: "POST", ...jsonBody({ parts: count }) },
      [200, 202],
    );
  }
}

async function abandonedUpload() {
  const count = int(2, 4);
  const key = keyFor("abandoned");
  const created = await call(
    "POST /uploads",
    `${base}/uploads`,
    { method: "POST", ...jsonBody({ key, parts: count, partSize, staleAfterSeconds: 60 }) },
    [201],
  );
  if (created === null || created.status !== 201) return;
  const { uploadId } = created.json();
  uploads.push({ kind: "abandoned", key, uploadId, count, expect: "aborted" });
  await sendAll(
    count,
    async (n, s) => {
      const response = await call("PUT part", `${base}/uploads/${encodeURIComponent(uploadId)}/parts/${n}`, {
        method: "PUT",
        body: bytesOf(s),
      });
      return response?.status === 200 ? response.json().etag : null;
    },
    { upTo: int(0, count - 1) },
  );
}

async function abortedUpload() {
  const count = int(2, 4);
  const key = keyFor("aborted");
  const created = await call(
    "POST /uploads",
    `${base}/uploads`,
    { method: "POST", ...jsonBody({ key, parts: count, partSize }) },
    [201],
  );
  if (created === null || created.status !== 201) return;
  const { uploadId } = created.json();
  uploads.push({ kind: "aborted", key, uploadId, count, expect: "aborted" });
  await sendAll(
    count,
    async (n, s) => {
      const response = await call("PUT part", `${base}/uploads/${encodeURIComponent(uploadId)}/parts/${n}`, {
        method: "PUT",
        body: bytesOf(s),
      });
      return response?.status === 200 ? response.json().etag : null;
    },
    { upTo: int(1, count - 1) },
  );
  await call("DELETE /uploads", `${base}/uploads/${encodeURIComponent(uploadId)}`, { method: "DELETE" });
}

async function compatUpload() {
  const count = chance(0.3) ? 1 : int(2, 4);
  const key = keyFor("compat");
  const created = await call("compat mpu-create", `${base}/${key}?action=mpu-create`, { method: "POST" });
  if (created === null || created.status !== 200) return;
  const { uploadId } = created.json();
  const abort = chance(0.15);
  const record = {
    kind: abort ? "compat-aborted" : "compat",
    key,
    uploadId,
    count,
    expect: abort ? "aborted" : "completed",
    parts: null,
  };
  uploads.push(record);
  const query = (n) => `action=mpu-uploadpart&uploadId=${encodeURIComponent(uploadId)}&partNumber=${n}`;
  const newest = await sendAll(
    count,
    async (n, s) => {
      const response = await call("compat mpu-uploadpart", `${base}/${key}?${query(n)}`, {
        method: "PUT",
        body: bytesOf(s),
      });
      return response?.status === 200 ? response.json().etag : null;
    },
    { upTo: abort ? int(1, count) : count },
  );
  if (newest === null) {
    record.expect = "unknown";
    return;
  }
  if (abort) {
    await call(
      "compat mpu-abort",
      `${base}/${key}?action=mpu-abort&uploadId=${encodeURIComponent(uploadId)}`,
      { method: "DELETE" },
      [204],
    );
    return;
  }
  record.parts = newest;
  const parts = [...newest.entries()].map(([partNumber, { etag }]) => ({ partNumber, etag }));
  await call("compat mpu-complete", `${base}/${key}?action=mpu-complete&uploadId=${encodeURIComponent(uploadId)}`, {
    method: "POST",
    ...jsonBody({ parts }),
  });
}

const SCENARIOS = [
  [0.45, nativeUpload],
  [0.1, () => nativeUpload({ explicit: true })],
  [0.25, compatUpload],
  [0.1, abandonedUpload],
  [0.1, abortedUpload],
];
function pick() {
  let r = random();
  for (const [weight, scenario] of SCENARIOS) {
    r -= weight;
    if (r < 0) return scenario;
  }
  return SCENARIOS[0][1];
}

// ---- run -------------------------------------------------------------------------------------------

const ping = await request(`${base}/openapi.json`, { headers: AUTH }).catch((error) => ({ status: 0, error }));
if (ping.status !== 200) {
  console.error(
    `no producer at ${base} (${ping.error?.message ?? `HTTP ${ping.status}`}); start \`npm run dev\` first`,
  );
  process.exit(2);
}
console.log(`soak: ${minutes} min against ${base}, ${concurrency} clients, part size ${partSize} B, seed ${seed}`);
const started = performance.now();
const deadline = started + minutes * 60_000;
const MAX_SCENARIOS_PER_CLIENT = 100_000;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    for (let i = 0; i < MAX_SCENARIOS_PER_CLIENT && performance.now() < deadline; i++) await pick()();
  }),
);
const trafficSeconds = (performance.now() - started) / 1000;
console.log(
  `traffic done after ${trafficSeconds.toFixed(0)} s: ${stats.requests} requests, ${uploads.length} uploads; waiting for completions`,
);

const statusOf = async (upload) => {
  const response = await call("GET status", `${base}/uploads/${encodeURIComponent(upload.uploadId)}`);
  return response?.status === 200 ? response.json() : null;
};
const settled = (state) => state === "completed" || state === "failed" || state === "aborted";

// Wait (bounded) for every upload expected to complete.
const waitDeadline = performance.now() + 90_000;
let pending = uploads.filter((u) => u.expect === "completed");
while (pending.length > 0 && performance.now() < waitDeadline) {
  const next = [];
  for (const upload of pending) {
    const status = await statusOf(upload);
    upload.status = status;
    if (status === null || !settled(status.state)) next.push(upload);
  }
  pending = next;
  if (pending.length > 0) await sleep(500);
}

// Sweep the abandoned ones: a cron run as of 2 minutes from now (their stale window is 60 s).
const cron = await call(
  "cron (explorer API)",
  `${base}/cdn-cgi/local/explorer/api/local/scheduled?worker=ingest-consumer`,
  { method: "POST", ...jsonBody({ cron: "* * * * *", scheduled_time: Date.now() + 120_000 }) },
);
const cronOk = cron !== null && cron.status === 200;
await sleep(500);

// Final states and byte checks.
const outcome = new Map();
const mismatches = [];
for (const upload of uploads) {
  const status =
    upload.expect === "completed" && upload.status && settled(upload.status.state)
      ? upload.status
      : await statusOf(upload);
  const state = status?.state ?? "unreadable";
  const key = `${upload.kind}: ${state}`;
  outcome.set(key, (outcome.get(key) ?? 0) + 1);
  if (upload.expect === "completed" && state === "completed" && upload.parts) {
    const chunks = [...upload.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, { slice: s }]) => bytesOf(s));
    const object = await call("GET object", `${base}/objects/${upload.key}`);
    const expected = sha256(chunks);
    if (object === null || object.status !== 200 || sha256([object.body]) !== expected) {
      mismatches.push(
        `${upload.kind} ${upload.key}: HTTP ${object?.status}, ${object?.body.length} bytes, expected ${chunks.reduce((n, c) => n + c.length, 0)}`,
      );
    }
  }
  upload.finalState = state;
}
via.destroy();

const unmet = uploads.filter((u) => u.expect !== "unknown" && u.finalState !== u.expect);
const rows = [...stats.byStatus.entries()].sort().map(([key, n]) => [key, n]);
console.log(`\n## Soak: ${minutes} min, ${concurrency} clients, seed ${seed}\n`);
console.log(table(["request and status", "count"], rows));
console.log();
console.log(
  table(
    ["upload kind: final state", "count"],
    [...outcome.entries()].sort().map(([k, n]) => [k, n]),
  ),
);
console.log();
console.log(
  table(
    ["figure", "value"],
    [
      ["requests", stats.requests],
      ["requests with an unexpected status", stats.unexpected.length],
      ["uploads", uploads.length],
      ["uploads completed", uploads.filter((u) => u.finalState === "completed").length],
      ["uploads not in their expected state", unmet.length],
      ["completed objects whose SHA-256 does not match", mismatches.length],
      ["cron fired to sweep abandoned uploads", cronOk ? "yes" : `no (${cron?.status})`],
      ["traffic duration", `${trafficSeconds.toFixed(0)} s`],
    ],
  ),
);
for (const line of stats.unexpected.slice(0, 20)) console.log(`unexpected: ${line}`);
for (const upload of unmet.slice(0, 20))
  console.log(`not ${upload.expect}: ${upload.kind} ${upload.uploadId.slice(0, 16)}… is ${upload.finalState}`);
for (const line of mismatches.slice(0, 20)) console.log(`mismatch: ${line}`);
process.exit(unmet.length > 0 || mismatches.length > 0 || stats.unexpected.length > 0 ? 1 : 0);
