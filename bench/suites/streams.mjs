// 7. IoT chunk streams: chunk ingest rate (chunks/s, MB/s) for 4 KiB, 64 KiB and 1 MiB chunks
// through `PUT /uploads/{id}/chunks/{seq}`, against the baseline Worker storing each chunk with
// one plain R2 `put` (the least any durable staging costs), and the time from the final chunk's
// 2xx to the object reading `completed` (the consumer coalescing what is still staged and
// completing). Every stream's object is read back and compared by SHA-256.
import { createHash } from "node:crypto";
import { createUpload, getObject, uniqueKey, uploadStatus } from "../lib/clients.mjs";
import { AUTH, startBaseline, startProduct } from "../lib/harness.mjs";
import { agent, fmt, MiB, median, pool, ratio, request, sleep, table } from "../lib/util.mjs";

const KiB = 1024;
const CONCURRENCY = 4;
const PART_SIZE = 5 * MiB;
const POLL_MS = 20;

function cases(quick) {
  return [
    { label: "4 KiB", size: 4 * KiB, count: quick ? 500 : 2_560 },
    { label: "64 KiB", size: 64 * KiB, count: quick ? 80 : 320 },
    { label: "1 MiB", size: MiB, count: quick ? 12 : 32 },
  ];
}

/** Chunk `seq` of a stream: `size` bytes from a seq-dependent offset of the random pool. */
function chunkOf(data, size, seq) {
  const offset = ((seq - 1) * 7919) % (data.length - size);
  return data.subarray(offset, offset + size);
}

async function putChunk(base, via, uploadId, seq, bytes, final) {
  const response = await request(
    `${base}/uploads/${encodeURIComponent(uploadId)}/chunks/${seq}${final ? "?final=1" : ""}`,
    {
      method: "PUT",
      agent: via,
      body: bytes,
      headers: AUTH,
    },
  );
  if (response.status !== 200)
    throw new Error(`PUT chunk ${seq}: HTTP ${response.status} ${response.text().slice(0, 200)}`);
}

async function productRun(product, via, data, { size, count }) {
  const key = uniqueKey("streams");
  const upload = await createUpload(product.base, via, { key, mode: "stream", partSize: PART_SIZE });
  const hash = createHash("sha256");
  for (let seq = 1; seq <= count; seq++) hash.update(chunkOf(data, size, seq));
  const started = performance.now();
  // Chunks 1..count-1 in sequence order with CONCURRENCY in flight; the final one after all of
  // them were acknowledged, so the completion time below starts from a known point.
  await pool(
    Array.from({ length: count - 1 }, (_, i) => i + 1),
    CONCURRENCY,
    (seq) => putChunk(product.base, via, upload.uploadId, seq, chunkOf(data, size, seq), false),
  );
  await putChunk(product.base, via, upload.uploadId, count, chunkOf(data, size, count), true);
  const ingestMs = performance.now() - started;
  const acknowledged = performance.now();
  for (;;) {
    const status = await uploadStatus(product.base, via, upload.uploadId);
    if (status.state === "completed") break;
    if (status.state !== "open" && status.state !== "completing")
      throw new Error(`stream ended ${status.state}: ${status.failureReason}`);
    if (performance.now() - acknowledged > 120_000) throw new Error("stream did not complete within 120 s");
    await sleep(POLL_MS);
  }
  const completeMs = performance.now() - acknowledged;
  const object = await getObject(product.base, via, key);
  const exact = object.status === 200 && createHash("sha256").update(object.body).digest("hex") === hash.digest("hex");
  if (!exact)
    throw new Error(`stream object ${key} is not byte-exact (HTTP ${object.status}, ${object.body.length} bytes)`);
  return { ingestMs, completeMs };
}

async function baselineRun(baseline, via, data, { size, count }) {
  const prefix = uniqueKey("streams-baseline");
  const started = performance.now();
  await pool(
    Array.from({ length: count }, (_, i) => i + 1),
    CONCURRENCY,
    async (seq) => {
      const response = await request(`${baseline.base}/obj?key=${encodeURIComponent(`${prefix}/${seq}`)}`, {
        method: "PUT",
        agent: via,
        body: chunkOf(data, size, seq),
      });
      if (response.status !== 200) throw new Error(`baseline put ${seq}: HTTP ${response.status}`);
    },
  );
  return { ingestMs: performance.now() - started };
}

export async function streamIngest(ctx) {
  const runs = ctx.runs ?? (ctx.quick ? 1 : 3);
  const product = await startProduct();
  const baseline = await startBaseline();
  const productAgent = agent(CONCURRENCY);
  const baselineAgent = agent(CONCURRENCY);
  const rows = [];
  const completionRows = [];
  const checks = [];
  try {
    await productRun(product, productAgent, ctx.data, { size: 64 * KiB, count: 8 }); // warm-up
    await baselineRun(baseline, baselineAgent, ctx.data, { size: 64 * KiB, count: 8 });
    for (const spec of cases(ctx.quick)) {
      const samples = { product: [], baseline: [] };
      for (let run = 0; run < runs; run++) {
        const order = run % 2 === 0 ? ["product", "baseline"] : ["baseline", "product"];
        for (const who of order) {
          const result =
            who === "product"
              ? await productRun(product, productAgent, ctx.data, spec)
              : await baselineRun(baseline, baselineAgent, ctx.data, spec);
          samples[who].push(result);
          ctx.log(
            `  streams ${spec.label} run ${run + 1}/${runs} ${who}: ${fmt(spec.count / (result.ingestMs / 1000), 0)} chunks/s`,
          );
        }
      }
      const rate = (s) => spec.count / (s.ingestMs / 1000);
      const productRate = median(samples.product.map(rate));
      const baselineRate = median(samples.baseline.map(rate));
      // Each run's product and baseline ran back to back under the same load: their ratio moves
      // far less with the machine than either rate does.
      const pairs = samples.product.map((s, i) => rate(s) / rate(samples.baseline[i]));
      if (spec.size <= 64 * KiB) {
        checks.push({
          name: `streams: ${spec.label} chunk ingest >= 0.9x of a bare R2 put (median of paired ratios)`,
          ok: median(pairs) >= 0.9,
          detail: `${fmt(median(pairs), 2)}x; pairs ${pairs.map((r) => fmt(r, 2)).join(", ")}`,
        });
      }
      const totalBytes = spec.count * spec.size;
      rows.push([
        spec.label,
        spec.count,
        fmt(totalBytes / MiB, 1),
        fmt(productRate, 0),
        fmt((productRate * spec.size) / 1e6, 2),
        fmt(baselineRate, 0),
        fmt((baselineRate * spec.size) / 1e6, 2),
        ratio(productRate, baselineRate),
        `${fmt(median(pairs), 2)}x (${fmt(Math.min(...pairs), 2)}-${fmt(Math.max(...pairs), 2)})`,
      ]);
      const completes = samples.product.map((s) => s.completeMs);
      checks.push({
        name: `streams: ${spec.label} final chunk -> completed <= 1 s (the slowest run)`,
        ok: Math.max(...completes) <= 1_000,
        detail: `max ${fmt(Math.max(...completes), 0)} ms`,
      });
      completionRows.push([
        spec.label,
        fmt(median(completes), 0),
        fmt(Math.max(...completes), 0),
        Math.ceil(totalBytes / PART_SIZE),
      ]);
    }
  } finally {
    productAgent.destroy();
    baselineAgent.destroy();
    await product.close();
    await baseline.close();
  }
  const markdown = [
    `One stream per run (\`mode: "stream"\`, \`partSize\` 5 MiB), chunks sent in sequence order with ${CONCURRENCY} in flight, the final chunk (\`?final=1\`) after all others were acknowledged; ` +
      `${runs} run(s) per cell (median), product and baseline interleaved; each run's product/baseline pair ran back to back, and the last column is the median of those pairs' ratios (the figure the target uses). Baseline: the baseline Worker storing each chunk with one R2 \`put\` (no D1, no queue). ` +
      "Every stream's object was read back and matched the SHA-256 of the chunks sent. MB = 10^6 bytes.",
    "",
    table(
      [
        "chunk size",
        "chunks",
        "MiB per stream",
        "product chunks/s",
        "product MB/s",
        "baseline chunks/s",
        "baseline MB/s",
        "ratio of medians",
        "median of paired ratios (range)",
      ],
      rows,
    ),
    "",
    `Final chunk's 2xx -> \`GET /uploads/{id}\` reads \`completed\` (polled every ${POLL_MS} ms): the consumer coalesces the chunks still staged into the last part(s), then completes. Coalescing runs while the stream is still arriving, so this is what is left at the end, not the whole stream.`,
    "",
    table(["chunk size", "p50 ms", "max ms", "parts in the object"], completionRows),
  ].join("\n");
  return { title: "7. IoT chunk streams: ingest rate and final chunk -> completed", markdown, checks };
}
