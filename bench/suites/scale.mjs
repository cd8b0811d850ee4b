// 5. Scale: (a) one upload of 10,000 parts, (b) 1,000 concurrent uploads, (c) the stale sweep
// draining 10,000 abandoned uploads. Each next to a baseline measured in the same process.
import { createHash } from "node:crypto";
import {
  baselineAbort,
  baselineCreate,
  baselinePut,
  createUpload,
  getObject,
  putPart,
  uniqueKey,
  uploadStatus,
} from "../lib/clients.mjs";
import { CONFIGS, startBaseline, startProduct } from "../lib/harness.mjs";
import { agent, fmt, MiB, median, pool, ratio, shuffle, sleep, table } from "../lib/util.mjs";
import { queueSettings } from "./latency.mjs";

const CONCURRENCY = 16;
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Polls `probe()` every `intervalMs` and records when each named condition first held. */
async function watch(probe, conditions, { timeoutMs, intervalMs = 100 }) {
  const started = performance.now();
  const seen = {};
  let last;
  while (performance.now() - started < timeoutMs) {
    last = await probe();
    const at = performance.now() - started;
    for (const [name, test] of Object.entries(conditions)) if (seen[name] === undefined && test(last)) seen[name] = at;
    if (Object.keys(seen).length === Object.keys(conditions).length) break;
    await sleep(intervalMs);
  }
  return { seen, last };
}

// ---- (a) one upload of 10,000 parts ---------------------------------------------------------

async function manyParts(ctx) {
  const parts = ctx.quick ? 1000 : 10_000;
  const partSize = 4096;
  // MIN_PART_SIZE is lowered for this instance only, so 10,000 parts fit on this machine.
  const product = await startProduct({ producerVars: { MIN_PART_SIZE: String(partSize) } });
  const baseline = await startBaseline();
  const via = agent(CONCURRENCY);
  const baseVia = agent(CONCURRENCY);
  try {
    const db = (await product.server.getWorker("ingest-producer").getEnv()).DB;
    const body = ctx.data.subarray(0, partSize);
    const upload = await createUpload(product.base, via, { key: uniqueKey("scale-a"), parts, partSize });
    const order = shuffle(Array.from({ length: parts }, (_, i) => i + 1));
    const sendStart = performance.now();
    await pool(order, CONCURRENCY, (n) => putPart(product.base, via, upload.uploadId, n, body));
    const sendMs = performance.now() - sendStart;
    ctx.log(`  scale a: ${parts} parts sent in ${fmt(sendMs / 1000)} s`);

    const { seen, last } = await watch(
      async () => {
        const row = await db
          .prepare(
            "SELECT u.state, u.failure_reason, u.completed_at, (SELECT count(*) FROM parts p WHERE p.upload_id = u.upload_id) AS tallied FROM uploads u WHERE upload_id = ?1",
          )
          .bind(upload.uploadId)
          .first();
        return row;
      },
      {
        tallied: (row) => row.tallied >= parts,
        claimed: (row) => row.state !== "open",
        settled: (row) => row.state === "completed" || row.state === "failed" || row.state === "aborted",
      },
      { timeoutMs: 180_000 },
    );
    const statusStart = performance.now();
    await uploadStatus(product.base, via, upload.uploadId);
    const statusMs = performance.now() - statusStart;

    // Baseline: 4 KiB parts into one multipart upload through the baseline Worker (a rate, so
    // 2,000 parts are enough to measure it).
    const baseParts = order.slice(0, Math.min(parts, 2000));
    const key = uniqueKey("scale-a-baseline");
    const baseId = await baselineCreate(baseline.base, baseVia, key);
    const baseStart = performance.now();
    await pool(baseParts, CONCURRENCY, (n) => baselinePut(baseline.base, baseVia, key, baseId, n, body));
    const baseMs = performance.now() - baseStart;
    await baselineAbort(baseline.base, baseVia, key, baseId);

    const completed = last.state === "completed";
    const rows = [
      [
        "parts sent (4 KiB each, random order, 16 in flight)",
        `${fmt(sendMs / 1000)} s = ${fmt(parts / (sendMs / 1000), 0)} parts/s`,
        `${baseParts.length} parts: ${fmt(baseMs / 1000)} s = ${fmt(baseParts.length / (baseMs / 1000), 0)} parts/s`,
        ratio(parts / sendMs, baseParts.length / baseMs),
      ],
      [
        "last part 2xx -> all parts tallied in D1",
        seen.tallied === undefined ? "not reached" : `${fmt(seen.tallied / 1000, 2)} s`,
        "",
        "",
      ],
      [
        "last part 2xx -> claimed (state left `open`)",
        seen.claimed === undefined ? "not reached" : `${fmt(seen.claimed / 1000, 2)} s`,
        "",
        "",
      ],
      [
        `last part 2xx -> terminal state (\`${last.state}\`)`,
        seen.settled === undefined ? "not reached" : `${fmt(seen.settled / 1000, 2)} s`,
        "",
        "",
      ],
      [`GET /uploads/{id} of the ${parts}-part upload`, `${fmt(statusMs, 0)} ms`, "", ""],
    ];
    const markdown = [
      `**(a) One upload of ${parts.toLocaleString("en-US")} parts.** Part size ${partSize} B with \`MIN_PART_SIZE=${partSize}\` set for this harness only (harness \`vars\`). ` +
        `Outcome: **${last.state}**${last.failure_reason ? ` — ${last.failure_reason}` : ""}. ` +
        (completed
          ? "The completion itself was measured."
          : "Local R2 refuses to complete multipart uploads whose non-final parts are under 5 MiB (error 10011), and 10,000 x 5 MiB = 50 GB does not fit this machine, " +
            `so what was measured is the producer path for ${parts.toLocaleString("en-US")} parts, the consumer's tally of ${parts.toLocaleString("en-US")} events (batches of up to 100), the claim, and one R2 complete call that R2 refuses; ` +
            "**not measured: R2 assembling a real 10,000-part object.** Tally progress is read from D1 every 100 ms."),
      "",
      table(["step", "product", "baseline (PUT only)", "ratio (rate)"], rows),
    ].join("\n");
    const checks = [
      {
        name: `${parts}-part upload: every part tallied and the upload claimed`,
        ok: seen.tallied !== undefined && seen.claimed !== undefined,
        detail: `tallied ${last.tallied}/${parts}, state ${last.state}`,
      },
    ];
    return { markdown, checks };
  } finally {
    via.destroy();
    baseVia.destroy();
    await product.close();
    await baseline.close();
  }
}

// ---- (b) many concurrent uploads --------------------------------------------------------------

async function manyUploads(ctx) {
  const count = ctx.quick ? 200 : 1000;
  const shapedCount = ctx.quick ? 10 : 100;
  const product = await startProduct();
  const baseline = await startBaseline();
  const via = agent(CONCURRENCY);
  const baseVia = agent(CONCURRENCY);
  const rows = [];
  const checks = [];
  const notes = [];
  try {
    const db = (await product.server.getWorker("ingest-producer").getEnv()).DB;
    const run = Date.now().toString(36);
    const states = async (prefix) => {
      const { results } = await db
        .prepare("SELECT state, count(*) AS n FROM uploads WHERE object_key LIKE ?1 GROUP BY state")
        .bind(`${prefix}%`)
        .all();
      return Object.fromEntries(results.map((r) => [r.state, r.n]));
    };
    const settledAll = (total) => (s) => (s.completed ?? 0) + (s.failed ?? 0) + (s.aborted ?? 0) >= total;

    // 1-part uploads: each body is a different 4 KiB slice, so a mix-up would show in the hashes.
    const prefix = `bench/scale-b/${run}/`;
    const bodyOf = (i) =>
      ctx.data.subarray((i * 4096) % (ctx.data.length - 4096), ((i * 4096) % (ctx.data.length - 4096)) + 4096);
    const createStart = performance.now();
    const uploads = await pool(
      Array.from({ length: count }, (_, i) => i),
      CONCURRENCY,
      (i) => createUpload(product.base, via, { key: `${prefix}${i}`, parts: 1 }),
    );
    const createMs = performance.now() - createStart;
    const sendStart = performance.now();
    await pool(shuffle(uploads.map((u, i) => [u, i])), CONCURRENCY, ([u, i]) =>
      putPart(product.base, via, u.uploadId, 1, bodyOf(i)),
    );
    const sendMs = performance.now() - sendStart;
    const { seen, last } = await watch(
      () => states(prefix),
      { settled: settledAll(count) },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    const sample = shuffle(Array.from({ length: count }, (_, i) => i)).slice(0, 20);
    let mismatches = 0;
    for (const i of sample) {
      const object = await getObject(product.base, via, `${prefix}${i}`);
      if (object.status !== 200 || sha256(object.body) !== sha256(bodyOf(i))) mismatches++;
    }

    // Baseline: the same creates and part PUTs through the baseline Worker (no completion).
    const baseKeys = Array.from({ length: count }, (_, i) => `${prefix}baseline-${i}`);
    const baseCreateStart = performance.now();
    const baseIds = await pool(baseKeys, CONCURRENCY, (key) => baselineCreate(baseline.base, baseVia, key));
    const baseCreateMs = performance.now() - baseCreateStart;
    const baseSendStart = performance.now();
    await pool(shuffle(baseKeys.map((key, i) => [key, i])), CONCURRENCY, ([key, i]) =>
      baselinePut(baseline.base, baseVia, key, baseIds[i], 1, bodyOf(i)),
    );
    const baseSendMs = performance.now() - baseSendStart;

    rows.push(
      [
        `create ${count} uploads (\`parts: 1\`)`,
        `${fmt(createMs / 1000, 2)} s (${fmt(count / (createMs / 1000), 0)}/s)`,
        `${fmt(baseCreateMs / 1000, 2)} s (${fmt(count / (baseCreateMs / 1000), 0)}/s)`,
        ratio(baseCreateMs, createMs),
      ],
      [
        `send ${count} parts of 4 KiB (random order)`,
        `${fmt(sendMs / 1000, 2)} s (${fmt(count / (sendMs / 1000), 0)}/s)`,
        `${fmt(baseSendMs / 1000, 2)} s (${fmt(count / (baseSendMs / 1000), 0)}/s)`,
        ratio(baseSendMs, sendMs),
      ],
      [
        "last part 2xx -> all settled",
        seen.settled === undefined ? "not reached" : `${fmt(seen.settled / 1000, 2)} s`,
        ctx.shared.queueFloorP50 ? `queue floor p50 ${fmt(ctx.shared.queueFloorP50 / 1000, 2)} s (benchmark 3)` : "",
        "",
      ],
      ["final states", JSON.stringify(last), "", ""],
      ["objects checked by SHA-256 (random 20)", `${sample.length - mismatches}/${sample.length} match`, "", ""],
    );
    checks.push({
      name: `${count} concurrent 1-part uploads all complete`,
      ok: (last.completed ?? 0) === count && mismatches === 0,
      detail: `${JSON.stringify(last)}, ${mismatches} hash mismatches in ${sample.length}`,
    });
    for (let i = 0; i < count; i++)
      await baselineAbort(baseline.base, baseVia, baseKeys[i], baseIds[i]).catch(() => undefined);

    // 3-part uploads of the real shape: 5 MiB, 5 MiB, 4 KiB.
    const shapedPrefix = `bench/scale-b3/${run}/`;
    const partSize = 5 * MiB;
    const shaped = await pool(
      Array.from({ length: shapedCount }, (_, i) => i),
      CONCURRENCY,
      (i) => createUpload(product.base, via, { key: `${shapedPrefix}${i}`, parts: 3, partSize }),
    );
    const partBody = (i, n) => (n < 3 ? ctx.data.subarray((i % 8) * MiB, (i % 8) * MiB + partSize) : bodyOf(i));
    const jobs = shuffle(shaped.flatMap((u, i) => [1, 2, 3].map((n) => [u, i, n])));
    const shapedStart = performance.now();
    await pool(jobs, CONCURRENCY, ([u, i, n]) => putPart(product.base, via, u.uploadId, n, partBody(i, n)));
    const shapedSendMs = performance.now() - shapedStart;
    const shapedWatch = await watch(
      () => states(shapedPrefix),
      { settled: settledAll(shapedCount) },
      { timeoutMs: 180_000, intervalMs: 100 },
    );
    let shapedMismatches = 0;
    for (const i of shuffle(Array.from({ length: shapedCount }, (_, i) => i)).slice(0, 5)) {
      const object = await getObject(product.base, via, `${shapedPrefix}${i}`);
      const expected = Buffer.concat([partBody(i, 1), partBody(i, 2), partBody(i, 3)]);
      if (object.status !== 200 || sha256(object.body) !== sha256(expected)) shapedMismatches++;
    }
    rows.push(
      [
        `send ${shapedCount} x 3 parts (5 MiB, 5 MiB, 4 KiB), shuffled`,
        `${fmt(shapedSendMs / 1000, 2)} s (${fmt((shapedCount * (2 * partSize + 4096)) / 1e6 / (shapedSendMs / 1000), 1)} MB/s)`,
        "",
        "",
      ],
      [
        "last part 2xx -> all settled",
        shapedWatch.seen.settled === undefined ? "not reached" : `${fmt(shapedWatch.seen.settled / 1000, 2)} s`,
        "",
        "",
      ],
      ["final states", JSON.stringify(shapedWatch.last), "", ""],
      ["objects checked by SHA-256 (random 5)", `${5 - shapedMismatches}/5 match`, "", ""],
    );
    checks.push({
      name: `${shapedCount} concurrent 3-part uploads (5 MiB, 5 MiB, 4 KiB) all complete`,
      ok: (shapedWatch.last.completed ?? 0) === shapedCount && shapedMismatches === 0,
      detail: JSON.stringify(shapedWatch.last),
    });
    notes.push(
      `**(b) ${count.toLocaleString("en-US")} concurrent uploads.** 1,000 uploads of 3 parts with two 5 MiB parts each would be 10 GB through one core at ~60 MB/s (~3 min of transfer alone, ` +
        `plus 10 GB of disk): instead, all ${count} uploads are created first (all open at once) and their parts sent ${CONCURRENCY} at a time as \`parts: 1\` uploads of 4 KiB, ` +
        `and the real 3-part shape is checked on ${shapedCount} uploads (${fmt((shapedCount * (2 * partSize + 4096)) / 1e9, 2)} GB). ` +
        `Completion is watched in D1 every 100 ms (not through ${count.toLocaleString("en-US")} status GETs). Ratio = product rate / baseline rate.`,
    );
  } finally {
    via.destroy();
    baseVia.destroy();
    await product.close();
    await baseline.close();
  }
  return {
    markdown: [notes.join("\n"), "", table(["step", "product", "baseline", "ratio (rate)"], rows)].join("\n"),
    checks,
  };
}

// ---- (c) stale sweep ---------------------------------------------------------------------------

async function staleSweep(ctx) {
  const count = ctx.quick ? 1000 : 10_000;
  const { sweepBatchLimit } = queueSettings(CONFIGS.consumer);
  const product = await startProduct({ extra: [{ configPath: CONFIGS.tally }] });
  const via = agent(CONCURRENCY);
  try {
    const db = (await product.server.getWorker("ingest-producer").getEnv()).DB;
    const consumer = product.server.getWorker("ingest-consumer");
    const prefix = `bench/scale-c/${Date.now().toString(36)}/`;
    const createStart = performance.now();
    await pool(
      Array.from({ length: count }, (_, i) => i),
      CONCURRENCY,
      (i) => createUpload(product.base, via, { key: `${prefix}${i}`, parts: 2, staleAfterSeconds: 60 }),
    );
    const createMs = performance.now() - createStart;
    ctx.log(`  scale c: ${count} uploads created in ${fmt(createMs / 1000)} s`);
    const counts = async () =>
      db
        .prepare(
          "SELECT sum(state = 'open') AS open, sum(state = 'aborted') AS aborted, sum(r2_abort_pending = 1) AS pending FROM uploads WHERE object_key LIKE ?1",
        )
        .bind(`${prefix}%`)
        .first();
    const runs = [];
    const scheduledTime = new Date(Date.now() + 2 * 3600_000);
    for (let i = 0; i < 10 * Math.ceil(count / sweepBatchLimit) + 5; i++) {
      const started = performance.now();
      const result = await consumer.scheduled({ cron: "* * * * *", scheduledTime });
      const ms = performance.now() - started;
      const after = await counts();
      runs.push({ ms, outcome: result.outcome, ...after });
      if (after.open === 0 && after.pending === 0) break;
    }
    product.server.clearLogs();
    const final = runs.at(-1);
    const runTimes = runs.map((r) => r.ms);
    // Floor: R2 alone aborting SWEEP_BATCH_LIMIT uploads 10 at a time, in the same runtime.
    const floors = [];
    for (let i = 0; i < 3; i++) {
      const response = await product.server
        .getWorker("bench-tally")
        .fetch(`http://tally.local/abort-floor?n=${sweepBatchLimit}`, { method: "POST" });
      floors.push((await response.json()).elapsedMs);
    }
    const floor = median(floors);
    const outcomes = [...new Set(runs.map((r) => r.outcome))].join(", ");
    const rows = [
      [
        `create ${count.toLocaleString("en-US")} uploads (HTTP, ${CONCURRENCY} in flight)`,
        `${fmt(createMs / 1000, 1)} s (${fmt(count / (createMs / 1000), 0)}/s)`,
        "",
      ],
      [
        "cron runs until none open and no R2 abort pending",
        `${runs.length} (outcomes: ${outcomes})`,
        `${Math.ceil(count / sweepBatchLimit)} = ceil(${count}/${sweepBatchLimit})`,
      ],
      [
        "time per run: median / max",
        `${fmt(median(runTimes), 0)} / ${fmt(Math.max(...runTimes), 0)} ms`,
        `R2 floor for ${sweepBatchLimit} aborts: ${fmt(floor, 0)} ms (ratio ${ratio(median(runTimes), floor)})`,
      ],
      ["total sweep time", `${fmt(runTimes.reduce((a, b) => a + b, 0) / 1000, 1)} s`, ""],
      ["final", `open ${final.open}, aborted ${final.aborted}, R2 abort pending ${final.pending}`, ""],
    ];
    const markdown = [
      `**(c) Stale sweep of ${count.toLocaleString("en-US")} abandoned uploads.** Created through \`POST /uploads {parts: 2, staleAfterSeconds: 60}\`, no parts sent; ` +
        `then the consumer's cron fired through the harness (\`getWorker("ingest-consumer").scheduled()\`) with \`scheduledTime\` 2 h ahead, run after run, ` +
        `\`SWEEP_BATCH_LIMIT = ${sweepBatchLimit}\` (consumer/wrangler.toml). The floor is bench/tally's \`/abort-floor\`: R2 aborting ${sweepBatchLimit} multipart uploads 10 at a time, in the same runtime.`,
      "",
      table(["step", "product", "expected / floor"], rows),
    ].join("\n");
    const checks = [
      {
        name: `stale sweep drains ${count} uploads`,
        ok: final.open === 0 && final.pending === 0 && final.aborted === count,
        detail: `${runs.length} runs of ~${fmt(median(runTimes), 0)} ms; open ${final.open}, aborted ${final.aborted}, pending ${final.pending}`,
      },
    ];
    return { markdown, checks };
  } finally {
    via.destroy();
    await product.close();
  }
}

export async function scale(ctx) {
  const parts = [];
  const checks = [];
  for (const [name, fn] of [
    ["a", manyParts],
    ["b", manyUploads],
    ["c", staleSweep],
  ]) {
    try {
      const result = await fn(ctx);
      parts.push(result.markdown);
      checks.push(...result.checks);
    } catch (error) {
      console.error(error);
      parts.push(`**(${name}) FAILED:** \`${String(error?.message ?? error).slice(0, 500)}\``);
      checks.push({ name: `scale (${name}) ran`, ok: false, detail: String(error?.message ?? error).slice(0, 200) });
    }
  }
  return { title: "5. Scale", markdown: parts.join("\n\n"), checks };
}
