// 3. Auto-complete latency: from the last part's 2xx to GET /uploads/{id} reading `completed`,
// against the runtime's own floor: a bare queue send -> consumer invocation, measured the same
// way (2xx of the send -> a poll sees the consumer's mark) by a probe Worker pair that runs in
// the same runtime with the same queue settings.
import fs from "node:fs";
import { createUpload, putPart, uniqueKey, uploadStatus } from "../lib/clients.mjs";
import { CONFIGS, startProduct } from "../lib/harness.mjs";
import { agent, fmt, quantile, ratio, sleep, table } from "../lib/util.mjs";

const POLL_MS = 10;

export function queueSettings(configPath) {
  const text = fs.readFileSync(configPath, "utf8");
  const number = (name) => {
    const match = new RegExp(`^\\s*${name}\\s*=\\s*"?(\\d+)"?`, "m").exec(text);
    return match === null ? null : Number(match[1]);
  };
  return {
    maxBatchTimeout: number("max_batch_timeout"),
    maxBatchSize: number("max_batch_size"),
    sweepBatchLimit: number("SWEEP_BATCH_LIMIT"),
  };
}

async function productSample(harness, via, body) {
  const upload = await createUpload(harness.base, via, { key: uniqueKey("latency"), parts: 1 });
  await putPart(harness.base, via, upload.uploadId, 1, body);
  const acknowledged = performance.now();
  for (let polls = 0; polls < 3000; polls++) {
    const status = await uploadStatus(harness.base, via, upload.uploadId);
    if (status.state === "completed") {
      return {
        observed: performance.now() - acknowledged,
        // Inside the runtime: the part's R2 acceptance (last activity) -> completion recorded.
        inRuntime: Date.parse(status.completedAt) - Date.parse(status.lastActivityAt),
      };
    }
    if (status.state !== "open" && status.state !== "completing") {
      throw new Error(`latency upload ended ${status.state}: ${status.failureReason}`);
    }
    await sleep(POLL_MS);
  }
  throw new Error("latency upload did not complete within 30 s");
}

async function probeSample(probe, id) {
  const sent = await probe.fetch(`http://probe.local/send?id=${id}`, { method: "POST" });
  if (sent.status !== 200) throw new Error(`probe send: HTTP ${sent.status}`);
  await sent.arrayBuffer();
  const acknowledged = performance.now();
  for (let polls = 0; polls < 3000; polls++) {
    const seen = await probe.fetch(`http://probe.local/seen/${id}`);
    if (seen.status === 200) {
      const mark = await seen.json();
      return {
        observed: performance.now() - acknowledged,
        inRuntime: mark.receivedAt - mark.sentAt,
        batchSize: mark.batchSize,
      };
    }
    await seen.arrayBuffer();
    await sleep(POLL_MS);
  }
  throw new Error("probe message was not consumed within 30 s");
}

export async function completionLatency(ctx) {
  const count = ctx.quick ? 10 : 50;
  const settings = queueSettings(CONFIGS.consumer);
  const probeSettings = queueSettings(CONFIGS.probeConsumer);
  const harness = await startProduct({
    extra: [{ configPath: CONFIGS.probeProducer }, { configPath: CONFIGS.probeConsumer }],
  });
  const via = agent(4);
  const probe = harness.server.getWorker("bench-probe-producer");
  const samples = { product: [], probe: [] };
  try {
    const body = ctx.data.subarray(0, 4096);
    await productSample(harness, via, body); // warm-up
    await probeSample(probe, "warm-up");
    // The two sequences run side by side (each one message at a time), so both see the same
    // runtime and machine load; they share no queue and the consumers' CPU work is tiny.
    let done = 0;
    const progress = () => {
      done++;
      if (done % 20 === 0) ctx.log(`  latency ${done}/${2 * count}`);
    };
    await Promise.all([
      (async () => {
        for (let i = 0; i < count; i++) {
          samples.product.push(await productSample(harness, via, body));
          progress();
        }
      })(),
      (async () => {
        for (let i = 0; i < count; i++) {
          samples.probe.push(await probeSample(probe, `p${i}`));
          progress();
        }
      })(),
    ]);
    harness.server.clearLogs();
  } finally {
    via.destroy();
    await harness.close();
  }
  const stats = (list, field) => ({
    p50: quantile(
      list.map((s) => s[field]),
      0.5,
    ),
    p95: quantile(
      list.map((s) => s[field]),
      0.95,
    ),
    max: Math.max(...list.map((s) => s[field])),
  });
  const product = stats(samples.product, "observed");
  const productInRuntime = stats(samples.product, "inRuntime");
  const floor = stats(samples.probe, "observed");
  const floorInRuntime = stats(samples.probe, "inRuntime");
  ctx.shared.queueFloorP50 = floor.p50;
  const rows = [
    [
      "auto-complete: last part 2xx -> GET reads `completed`",
      fmt(product.p50, 0),
      fmt(product.p95, 0),
      fmt(product.max, 0),
    ],
    ["floor: probe send 2xx -> poll sees consumer's mark", fmt(floor.p50, 0), fmt(floor.p95, 0), fmt(floor.max, 0)],
    ["ratio (auto-complete / floor)", ratio(product.p50, floor.p50), ratio(product.p95, floor.p95), ""],
    [
      "in-runtime: part accepted by R2 -> completion recorded (`completedAt − lastActivityAt`)",
      fmt(productInRuntime.p50, 0),
      fmt(productInRuntime.p95, 0),
      fmt(productInRuntime.max, 0),
    ],
    [
      "in-runtime floor: `send()` -> queue handler starts (Date.now() in workerd)",
      fmt(floorInRuntime.p50, 0),
      fmt(floorInRuntime.p95, 0),
      fmt(floorInRuntime.max, 0),
    ],
  ];
  const markdown = [
    `${count} uploads of one 4 KiB part (\`parts: 1\`), one at a time, side by side with ${count} probe messages sent one at a time; status polled every ${POLL_MS} ms. ` +
      `Queue settings: product consumer \`max_batch_timeout = ${settings.maxBatchTimeout}\` s, \`max_batch_size = ${settings.maxBatchSize}\`; ` +
      `probe consumer \`max_batch_timeout = ${probeSettings.maxBatchTimeout}\` s, \`max_batch_size = ${probeSettings.maxBatchSize}\` (bench/probe/, same runtime as the product). ` +
      "A batch that does not fill up is delivered when max_batch_timeout expires, so a lone event waits about that long: that wait is the floor.",
    "",
    table(["latency (ms)", "p50", "p95", "max"], rows),
    "",
    `Auto-complete cost above the floor (p50): ${fmt(product.p50 - floor.p50, 0)} ms (tally batch, claim, R2 complete, outcome batch, plus the status GET).`,
  ].join("\n");
  return {
    title: "3. Auto-complete latency",
    markdown,
    checks: [],
  };
}
