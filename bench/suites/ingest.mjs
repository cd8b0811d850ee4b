// 1. Producer ingest throughput vs the baseline Worker, and
// 2. peak memory of the runtime while ingesting parts of growing size (streaming, not buffering).
import { createHash } from "node:crypto";
import {
  baselineAbort,
  baselineCreate,
  baselinePut,
  createUpload,
  putPart,
  sendParts,
  uniqueKey,
  waitSettled,
} from "../lib/clients.mjs";
import { startBaseline, startProduct } from "../lib/harness.mjs";
import { agent, cpuMsOf, fmt, MiB, median, memoryOf, ratio, sampleRss, sleep, table } from "../lib/util.mjs";

const mb = (bytes, ms) => bytes / 1e6 / (ms / 1000);

/** One producer run: create an upload of `parts` parts, send them, then wait for completion (untimed). */
async function producerRun(product, via, { parts, partSize, concurrency, data, digest = false }) {
  const upload = await createUpload(product.base, via, { key: uniqueKey("ingest"), parts, partSize });
  const body = data.subarray(0, partSize);
  // Every part has the same bytes, so one digest serves them all (computed before the clock).
  const headers = digest ? { "content-digest": `sha-256=:${createHash("sha256").update(body).digest("base64")}:` } : {};
  const cpu0 = cpuMsOf(product.pids.runtime);
  const proxyCpu0 = cpuMsOf(product.pids.proxy);
  const ms = await sendParts(parts, concurrency, (n) => putPart(product.base, via, upload.uploadId, n, body, headers));
  const cpu = cpuMsOf(product.pids.runtime) - cpu0;
  const proxyCpu = cpuMsOf(product.pids.proxy) - proxyCpu0;
  const settled = await waitSettled(product.base, via, upload.uploadId, { timeoutMs: 120_000 });
  if (settled.state !== "completed" || settled.object?.size !== parts * partSize) {
    throw new Error(
      `producer upload ended ${settled.state} (${settled.failureReason ?? ""}) size ${settled.object?.size}`,
    );
  }
  return { ms, cpu, proxyCpu };
}

async function baselineRun(baseline, via, { parts, partSize, concurrency, data, tap = false }) {
  const key = uniqueKey("ingest-baseline");
  const uploadId = await baselineCreate(baseline.base, via, key);
  const cpu0 = cpuMsOf(baseline.pids.runtime);
  const proxyCpu0 = cpuMsOf(baseline.pids.proxy);
  let chunks = 0;
  const ms = await sendParts(parts, concurrency, async (n) => {
    chunks +=
      (await baselinePut(baseline.base, via, key, uploadId, n, data.subarray(0, partSize), { tap })).chunks ?? 0;
  });
  const cpu = cpuMsOf(baseline.pids.runtime) - cpu0;
  const proxyCpu = cpuMsOf(baseline.pids.proxy) - proxyCpu0;
  await baselineAbort(baseline.base, via, key, uploadId);
  return { ms, cpu, proxyCpu, chunksPerPart: chunks / parts };
}

export async function ingestThroughput(ctx) {
  const partSize = 8 * MiB;
  const parts = ctx.quick ? 8 : 32;
  const runs = ctx.runs ?? 3;
  const concurrencies = [1, 4, 16];
  const product = await startProduct();
  const baseline = await startBaseline();
  const productAgent = agent(16);
  const baselineAgent = agent(16);
  const rows = [];
  const checks = [];
  let tapRow = null;
  let digestRow = null;
  try {
    // Warm-up, not recorded: first requests compile code paths and create the local buckets.
    await producerRun(product, productAgent, { parts: 2, partSize, concurrency: 2, data: ctx.data });
    await baselineRun(baseline, baselineAgent, { parts: 2, partSize, concurrency: 2, data: ctx.data });
    for (const concurrency of concurrencies) {
      const samples = { producer: [], baseline: [] };
      for (let run = 0; run < runs; run++) {
        // Interleaved, alternating which goes first, so drift hits both sides alike.
        const order = run % 2 === 0 ? ["producer", "baseline"] : ["baseline", "producer"];
        for (const who of order) {
          const spec = { parts, partSize, concurrency, data: ctx.data };
          const result =
            who === "producer"
              ? await producerRun(product, productAgent, spec)
              : await baselineRun(baseline, baselineAgent, spec);
          samples[who].push(result);
          ctx.log(
            `  ingest c=${concurrency} run ${run + 1}/${runs} ${who}: ${fmt(mb(parts * partSize, result.ms))} MB/s`,
          );
        }
      }
      const rate = (list) => median(list.map((s) => mb(parts * partSize, s.ms)));
      const cpuPerPart = (list, field) => median(list.map((s) => s[field] / parts));
      const producerRate = rate(samples.producer);
      const baselineRate = rate(samples.baseline);
      rows.push([
        concurrency,
        fmt(producerRate),
        fmt(baselineRate),
        ratio(producerRate, baselineRate),
        `${fmt(Math.min(...samples.producer.map((s) => mb(parts * partSize, s.ms))))}–${fmt(Math.max(...samples.producer.map((s) => mb(parts * partSize, s.ms))))}`,
        `${fmt(Math.min(...samples.baseline.map((s) => mb(parts * partSize, s.ms))))}–${fmt(Math.max(...samples.baseline.map((s) => mb(parts * partSize, s.ms))))}`,
        `${fmt(cpuPerPart(samples.producer, "cpu"), 0)} / ${fmt(cpuPerPart(samples.baseline, "cpu"), 0)}`,
        `${fmt(cpuPerPart(samples.producer, "proxyCpu"), 0)} / ${fmt(cpuPerPart(samples.baseline, "proxyCpu"), 0)}`,
      ]);
      checks.push({
        name: `producer ingest >= 0.9x baseline at concurrency ${concurrency}`,
        ok: producerRate >= 0.9 * baselineRate,
        detail: `${fmt(producerRate)} vs ${fmt(baselineRate)} MB/s (${ratio(producerRate, baselineRate)})`,
      });
    }
    // Diagnostic: the baseline with per-chunk JavaScript on the body path (a byte-counting
    // TransformStream into a FixedLengthStream), to tell that cost from the rest of the producer.
    const diagnosticRuns = ctx.quick ? 2 : 3;
    const diagnostic = { baseline: [], tap: [], chunks: [] };
    for (let run = 0; run < diagnosticRuns; run++) {
      for (const tap of run % 2 === 0 ? [false, true] : [true, false]) {
        const result = await baselineRun(baseline, baselineAgent, {
          parts,
          partSize,
          concurrency: 4,
          data: ctx.data,
          tap,
        });
        diagnostic[tap ? "tap" : "baseline"].push(mb(parts * partSize, result.ms));
        if (tap) diagnostic.chunks.push(result.chunksPerPart);
      }
    }
    tapRow = [median(diagnostic.baseline), median(diagnostic.tap), diagnosticRuns, median(diagnostic.chunks)];
    // What integrity costs: producer parts that carry a Content-Digest (hashed in the Worker
    // while streaming) against plain producer parts, interleaved.
    const withDigest = { plain: [], digest: [] };
    for (let run = 0; run < diagnosticRuns; run++) {
      for (const digest of run % 2 === 0 ? [false, true] : [true, false]) {
        const result = await producerRun(product, productAgent, {
          parts,
          partSize,
          concurrency: 4,
          data: ctx.data,
          digest,
        });
        withDigest[digest ? "digest" : "plain"].push(mb(parts * partSize, result.ms));
      }
    }
    digestRow = [median(withDigest.plain), median(withDigest.digest)];
    ctx.log(`  digest c=4: producer ${fmt(digestRow[0])} MB/s, with Content-Digest ${fmt(digestRow[1])} MB/s`);
    ctx.log(`  diagnostic c=4: baseline ${fmt(tapRow[0])} MB/s, baseline + JS tap ${fmt(tapRow[1])} MB/s`);
  } finally {
    productAgent.destroy();
    baselineAgent.destroy();
    await product.close();
    await baseline.close();
  }
  const markdown = [
    `${parts} parts x 8 MiB per run, ${runs} runs per cell (median; min–max shown), producer and baseline runs interleaved. MB = 10^6 bytes. ` +
      "Producer runs use `POST /uploads {parts, partSize}` then `PUT /uploads/{id}/parts/{n}`; the upload completes by itself after each run (waited for, not timed). " +
      "CPU columns: ms of CPU per part used by the runtime workerd (user Workers) and by wrangler's proxy workerd, producer / baseline.",
    "",
    table(
      [
        "concurrency",
        "producer MB/s",
        "baseline MB/s",
        "ratio",
        "producer range",
        "baseline range",
        "runtime CPU ms/part (prod / base)",
        "proxy CPU ms/part (prod / base)",
      ],
      rows,
    ),
    "",
    "Diagnostic (not a target): the baseline Worker with per-chunk JavaScript on the body path — `request.body` piped through a `TransformStream` " +
      "whose JS callback counts bytes, into a `FixedLengthStream` of the declared length, then `uploadPart` (`PUT /mpu?...&tap=1`) — at concurrency 4, " +
      `${tapRow[2]} runs interleaved with the plain baseline: **${fmt(tapRow[1])} MB/s vs ${fmt(tapRow[0])} MB/s (${ratio(tapRow[1], tapRow[0])})**; the body arrived in ~${fmt(tapRow[3], 0)} chunks per 8 MiB part (~${fmt(partSize / tapRow[3] / 1024, 1)} KiB each), each one a JS callback and a promise hop.`,
    "",
    `Integrity (not a target): producer parts carrying \`Content-Digest: sha-256=:…:\`, hashed while streaming (1 MiB BYOB reads fed to a \`DigestStream\` and to R2), against plain producer parts, concurrency 4, ${tapRow[2]} runs interleaved: ` +
      `**${fmt(digestRow[1])} MB/s vs ${fmt(digestRow[0])} MB/s (${ratio(digestRow[1], digestRow[0])})**.`,
  ].join("\n");
  return { title: `1. Producer ingest throughput (${parts} x 8 MiB parts)`, markdown, checks };
}

export async function ingestMemory(ctx) {
  const sizes = [8, 32, 64];
  const parts = ctx.quick ? 4 : 8;
  const concurrency = 4;
  const reps = ctx.runs ?? (ctx.quick ? 1 : 2);
  // "tap" is a diagnostic, not a baseline: the baseline Worker with a JS TransformStream and a
  // FixedLengthStream on the body path (see bench/baseline/index.ts).
  const variants = ["producer", "baseline", "tap"];
  const results = Object.fromEntries(sizes.map((size) => [size, { producer: [], baseline: [], tap: [] }]));
  for (let rep = 0; rep < reps; rep++) {
    for (const [index, size] of sizes.entries()) {
      const shift = (rep + index) % variants.length;
      const order = [...variants.slice(shift), ...variants.slice(0, shift)];
      for (const who of order) {
        // A fresh runtime for every measurement, so each peak belongs to this part size alone.
        const harness = who === "producer" ? await startProduct() : await startBaseline();
        const via = agent(concurrency);
        try {
          const spec = { parts: 1, partSize: 5 * MiB, concurrency: 1, data: ctx.data };
          if (who === "producer") await producerRun(harness, via, spec);
          else await baselineRun(harness, via, spec);
          await sleep(300);
          const idle = { runtime: memoryOf(harness.pids.runtime).rss, proxy: memoryOf(harness.pids.proxy).rss };
          const sampler = sampleRss(harness.pids, 10);
          const run = { parts, partSize: size * MiB, concurrency, data: ctx.data };
          if (who === "producer") await producerRun(harness, via, run);
          else await baselineRun(harness, via, { ...run, tap: who === "tap" });
          const { peaks, samples } = sampler.stop();
          const hwm = memoryOf(harness.pids.runtime).hwm;
          results[size][who].push({ idle, peaks, hwm, samples });
          ctx.log(
            `  memory ${size} MiB ${who}: runtime idle ${fmt(idle.runtime / MiB, 0)} peak ${fmt(peaks.runtime / MiB, 0)} (HWM ${fmt(hwm / MiB, 0)}) proxy peak ${fmt(peaks.proxy / MiB, 0)} MiB, ${samples} samples`,
          );
        } finally {
          via.destroy();
          await harness.close();
        }
      }
    }
  }
  const peakOf = (size, who, field) => median(results[size][who].map((r) => r.peaks[field]));
  const deltaOf = (size, who) => median(results[size][who].map((r) => r.peaks.runtime - r.idle.runtime));
  const rows = sizes.map((size) => [
    `${size} MiB`,
    fmt(peakOf(size, "producer", "runtime") / MiB, 0),
    fmt(deltaOf(size, "producer") / MiB, 0),
    fmt(peakOf(size, "baseline", "runtime") / MiB, 0),
    fmt(deltaOf(size, "baseline") / MiB, 0),
    ratio(peakOf(size, "producer", "runtime"), peakOf(size, "baseline", "runtime")),
    fmt(peakOf(size, "producer", "proxy") / MiB, 0),
    fmt(peakOf(size, "baseline", "proxy") / MiB, 0),
    fmt((concurrency * size * MiB) / MiB, 0),
    `${fmt(peakOf(size, "tap", "runtime") / MiB, 0)} / ${fmt(deltaOf(size, "tap") / MiB, 0)}`,
  ]);
  const growth = (who) => peakOf(64, who, "runtime") - peakOf(8, who, "runtime");
  const ifBuffered = concurrency * (64 - 8) * MiB;
  const producerGrowth = growth("producer");
  const baselineGrowth = growth("baseline");
  const checks = [
    {
      name: "producer runtime peak RSS does not grow with part size (8 -> 64 MiB)",
      ok: producerGrowth <= Math.max(baselineGrowth, 0) + 32 * MiB,
      detail: `grew ${fmt(producerGrowth / MiB, 0)} MiB (baseline ${fmt(baselineGrowth / MiB, 0)} MiB; buffering ${concurrency} parts in flight would add ~${fmt(ifBuffered / MiB, 0)} MiB)`,
    },
  ];
  const markdown = [
    `${parts} parts per run at concurrency ${concurrency}, a fresh runtime per cell, ${reps} rep(s) (median). RSS sampled from /proc every 10 ms. ` +
      '"runtime" is the workerd process running the Workers (producer+consumer, or the baseline); "proxy" is wrangler\'s proxy workerd in front of it ' +
      "(the same path as `wrangler dev`). Δ = peak − idle RSS just before the run. Last column: bytes in flight if every in-flight part were buffered whole.",
    "",
    table(
      [
        "part size",
        "producer runtime peak MiB",
        "producer Δ MiB",
        "baseline runtime peak MiB",
        "baseline Δ MiB",
        "peak ratio",
        "producer proxy peak MiB",
        "baseline proxy peak MiB",
        "in flight if buffered MiB",
        "diagnostic: baseline + JS tap peak / Δ MiB",
      ],
      rows,
    ),
    "",
    `Growth of the runtime's peak from 8 to 64 MiB parts: producer ${fmt(producerGrowth / MiB, 0)} MiB, baseline ${fmt(baselineGrowth / MiB, 0)} MiB; ` +
      `diagnostic (baseline with a byte-counting JS \`TransformStream\` piped into a \`FixedLengthStream\` before \`uploadPart\`) ${fmt(growth("tap") / MiB, 0)} MiB.`,
  ].join("\n");
  return { title: "2. Streaming, not buffering: peak memory by part size", markdown, checks };
}
