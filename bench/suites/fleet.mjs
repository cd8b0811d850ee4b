// Issue 13 (3): a fleet run. D devices (1,000; --quick 100) each open a chunk stream through the
// API and send 256 KiB-1 MiB in chunks of 4-64 KiB: sequence numbers shuffled within windows of 8,
// up to 4 chunks in flight per device, 1% of chunks sent twice, the final chunk after all others
// were acknowledged, retries with backoff on 5xx and network errors (never on a 4xx: a 4xx fails
// the run). All devices share 64 HTTP connections. Everything the devices send comes from one
// seed (printed; --seed or BENCH_FLEET_SEED replays it). BENCH_FLEET_DEVICES and BENCH_FLEET_CAP_S
// change the number of devices and the cap on sending.
//
// It reports sustained chunks/s and MB/s (first chunk sent -> last chunk acknowledged), final
// chunk -> `completed` p50/p95, and per MiB ingested the exact D1 statements and rows written,
// queue messages and R2 class A operations, counted by the meters of bench/costs/ in front of the
// real bindings, from the first request until the queue is quiet. Then every device's object is
// read back through the API and its SHA-256 compared with the bytes the device meant to send (its
// chunks in sequence order, each once): lost or corrupted objects must be 0.
//
// It only uses the API (POST /uploads, PUT /uploads/{id}/chunks/{seq}, GET /uploads/{id},
// GET /objects/{key}) and the meters' bench-only paths, so it measures any implementation of the
// chunk path. Standalone: `node bench/suites/fleet.mjs [--quick] [--seed N] [--devices N]`.
import { execFileSync } from "node:child_process";
import { createCipheriv, createHash, randomInt } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FleetFailure, fleetContext, IN_FLIGHT, runDevice, Slots } from "../fleet/device.mjs";
import { quietMeters, resetMeters, startMeteredProduct, totals, uploadRow } from "../fleet/metered.mjs";
import { expectedObject, planFleet, WINDOW } from "../fleet/plan.mjs";
import { AUTH, BENCH_DIR, closeAll, ROOT } from "../lib/harness.mjs";
import { agent, fmt, pool as inPool, MiB, prng, quantile, request, sleep, table } from "../lib/util.mjs";

const KiB = 1024;
const CONNECTIONS = 64;
/** Chunks are slices of this many pseudo-random bytes made from the seed. */
const POOL_BYTES = 16 * MiB;
const PART_SIZE = 5 * MiB;
const DUPLICATE_RATE = 0.01;
const DEVICE_BYTES = { min: 256 * KiB, max: MiB };
const CHUNK_SIZE = { min: 4 * KiB, max: 64 * KiB };
/** After this long from the first chunk, devices finish the windows they started and end their streams. */
const SEND_CAP_MS = 180_000;
/** A device's object not `completed` this long after its final chunk's 2xx counts as lost. */
const COMPLETE_TIMEOUT_MS = 180_000;
/** The completion polls (bench-only, not device traffic) have connections of their own. */
const POLL_CONNECTIONS = 8;
const POLL_MAX_MS = 2_000;
/** The queue is quiet once nothing changed for this long (longer than any batch window used). */
const QUIET_MS = 1_500;

function settings(ctx) {
  const fromEnv = process.env.BENCH_FLEET_SEED;
  const seed = Number(ctx.seed ?? fromEnv ?? randomInt(2 ** 31));
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new Error(`seed: an integer 0..2^32-1, not ${seed}`);
  const devices = Number(ctx.devices ?? process.env.BENCH_FLEET_DEVICES ?? (ctx.quick ? 100 : 1_000));
  if (!Number.isInteger(devices) || devices < 1) throw new Error(`devices: a positive integer, not ${devices}`);
  const capSeconds = Number(process.env.BENCH_FLEET_CAP_S ?? SEND_CAP_MS / 1000);
  if (!(capSeconds > 0)) throw new Error(`BENCH_FLEET_CAP_S: a positive number of seconds, not ${capSeconds}`);
  return { seed, devices, quick: ctx.quick, capMs: capSeconds * 1000 };
}

/** Polls the upload's row until `completed` (or a dead end, or the timeout). */
async function awaitCompletion(watch, product, sent) {
  let gap = 50;
  for (;;) {
    const deadline = sent.finalAck.perf + COMPLETE_TIMEOUT_MS;
    await watch.slots.acquire();
    let row;
    try {
      row = await uploadRow(product, watch.via, sent.uploadId);
    } finally {
      watch.slots.release();
    }
    if (row?.state === "completed") {
      return { ...sent, completedAt: row.completed_at, state: "completed" };
    }
    if (row === null || (row.state !== "open" && row.state !== "completing"))
      return { ...sent, state: row?.state ?? "missing", reason: row?.failure_reason ?? null };
    if (performance.now() > deadline) return { ...sent, state: `still ${row.state}`, reason: "timed out" };
    await sleep(gap);
    gap = Math.min(POLL_MAX_MS, gap * 1.5);
  }
}

/** Reads every device's object back through the API; counts lost and corrupted ones. */
async function verifyObjects(fleet, pool, plans, finished) {
  const problems = [];
  let verified = 0;
  await inPool(finished, CONNECTIONS / 2, async (device) => {
    const plan = plans[device.plan.index];
    const expected = expectedObject(pool, plan, device.through);
    const status = await request(`${fleet.base}/uploads/${encodeURIComponent(device.uploadId)}`, {
      agent: fleet.via,
      headers: AUTH,
    });
    const state = status.status === 200 ? status.json() : null;
    const object = await request(`${fleet.base}/objects/${device.key}`, { agent: fleet.via, headers: AUTH });
    const actual = createHash("sha256").update(object.body).digest("hex");
    if (state?.state !== "completed" || object.status !== 200) {
      problems.push({
        device: plan.index,
        kind: "lost",
        detail: `status ${state?.state ?? `HTTP ${status.status}`}, object HTTP ${object.status}`,
      });
    } else if (
      actual !== expected.sha256 ||
      object.body.length !== expected.size ||
      state.object?.size !== expected.size
    ) {
      problems.push({
        device: plan.index,
        kind: "corrupted",
        detail: `${object.body.length} bytes (status says ${state.object?.size}), expected ${expected.size}; SHA-256 ${actual.slice(0, 12)}… expected ${expected.sha256.slice(0, 12)}…`,
      });
    } else {
      verified++;
    }
  });
  return { verified, problems };
}

/** The run's random bytes, from its seed (AES-256-CTR over zeros), so a replay sends the same bytes. */
function poolOf(seed) {
  const key = createHash("sha256").update(`fleet-pool-${seed}`).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(POOL_BYTES)), cipher.final()]);
}

const objectSize = (plan, through) => plan.chunks.slice(0, through).reduce((n, c) => n + c.size, 0);

function machine() {
  const safe = (fn) => {
    try {
      return fn();
    } catch {
      return "unknown";
    }
  };
  const git = (...args) =>
    safe(() =>
      execFileSync("git", args, { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] })
        .toString()
        .trim(),
    );
  const version = (pkg) =>
    safe(() => JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", pkg, "package.json"), "utf8")).version);
  const changed = git("status", "--porcelain", "--", "producer", "consumer", "shared", "migrations", "wrangler.toml");
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    memory: `${Math.round(os.totalmem() / 1024 ** 3)} GiB`,
    node: process.version,
    wrangler: version("wrangler"),
    commit: git("rev-parse", "--short", "HEAD"),
    dirty: changed === "unknown" ? "unknown" : changed.split("\n").filter(Boolean).length,
  };
}

export async function fleetRun(ctx) {
  const { seed, devices, quick, capMs } = settings(ctx);
  const log = ctx.log ?? console.log;
  const pool = poolOf(seed);
  const plans = planFleet({
    seed,
    devices,
    poolSize: pool.length,
    bytes: DEVICE_BYTES,
    chunkSize: CHUNK_SIZE,
    duplicateRate: DUPLICATE_RATE,
  });
  const planned = {
    chunks: plans.reduce((n, p) => n + p.chunks.length, 0),
    duplicates: plans.reduce((n, p) => n + p.sends.filter((s) => s.duplicate).length, 0),
    bytes: plans.reduce((n, p) => n + p.bytes, 0),
  };
  log(
    `  fleet: seed ${seed}, ${devices} devices, ${planned.chunks} chunks planned (${fmt(planned.bytes / MiB, 1)} MiB), ${planned.duplicates} to be sent twice; ${CONNECTIONS} connections`,
  );
  const loadAtStart = os.loadavg()[0];
  const startedAt = new Date().toISOString();
  const runId = `${Date.now().toString(36)}-${seed.toString(36)}`;
  const product = await startMeteredProduct();
  const via = agent(CONNECTIONS);
  const fleet = fleetContext({
    base: product.base,
    via,
    slots: new Slots(CONNECTIONS),
    pool,
    jitter: prng(seed ^ 0x5eed),
  });
  const watch = { via: agent(POLL_CONNECTIONS), slots: new Slots(POLL_CONNECTIONS) };
  let results;
  try {
    await resetMeters(product, via);
    const started = performance.now();
    const cutAt = started + capMs;
    const finished = [];
    let completed = 0;
    const progress = setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      const retries = Object.values(fleet.retries).reduce((a, b) => a + b, 0);
      log(
        `  fleet ${fmt(seconds, 0)} s: ${fleet.chunksAcked} chunks acknowledged (${fmt(fleet.chunksAcked / seconds, 0)}/s), ${finished.length}/${devices} devices done sending, ${completed} completed, ${retries} retries`,
      );
    }, 10_000);
    const outcomes = await Promise.allSettled(
      plans.map(async (plan) => {
        const key = `fleet/${runId}/device-${String(plan.index).padStart(5, "0")}/stream.bin`;
        try {
          const sent = await runDevice(fleet, plan, { key, partSize: PART_SIZE, cutAt });
          finished.push(sent);
          const outcome = await awaitCompletion(watch, product, sent);
          if (outcome.state === "completed") completed++;
          return outcome;
        } catch (error) {
          if (fleet.failure === null) fleet.failure = error;
          throw error;
        }
      }),
    );
    clearInterval(progress);
    if (fleet.failure !== null) throw fleet.failure;
    const ended = outcomes.map((o) => o.value);
    const meters = await quietMeters(product, via, { quietMs: QUIET_MS, timeoutMs: 300_000 });
    const quietAt = performance.now();
    const lastFinal = Math.max(...ended.map((d) => d.finalAck.perf));
    // Counted up to here; reading the objects back below is not part of the ingest.
    const integrity = await verifyObjects(fleet, pool, plans, ended);
    results = {
      ended,
      meters: totals(meters),
      integrity,
      finalToQuietMs: quietAt - lastFinal,
      wallMs: quietAt - started,
    };
  } finally {
    via.destroy();
    watch.via.destroy();
    await product.close();
  }

  const { ended, integrity } = results;
  const q = results.meters;
  const ingestedBytes = ended.reduce((n, d) => n + objectSize(plans[d.plan.index], d.through), 0);
  const uniqueChunks = ended.reduce((n, d) => n + d.through, 0);
  const cutShort = ended.filter((d) => d.cut).length;
  const sendSeconds = (fleet.lastChunkAckAt - fleet.firstChunkAt) / 1000;
  const chunkRequests = fleet.chunksAcked;
  const done = ended.filter((d) => d.state === "completed");
  const latencies = done.map((d) => d.completedAt - d.finalAck.wall);
  const fromSent = done.map((d) => d.completedAt - d.finalSent.wall);
  const finalRequestMs = ended.map((d) => d.finalAck.perf - d.finalSent.perf);
  const lost = integrity.problems.filter((p) => p.kind === "lost").length + (devices - ended.length);
  const corrupted = integrity.problems.filter((p) => p.kind === "corrupted").length;
  const mib = ingestedBytes / MiB;
  const retries = Object.entries(fleet.retries).sort((a, b) => b[1] - a[1]);
  const retryTotal = retries.reduce((n, [, count]) => n + count, 0);
  const env = machine();
  const loadAtEnd = os.loadavg()[0];

  const runRows = [
    ["devices", fmt(devices, 0)],
    ["chunks in the objects (each once)", fmt(uniqueChunks, 0)],
    ["chunk requests acknowledged (second sends and empty final chunks included, retries not)", fmt(chunkRequests, 0)],
    [
      "chunks sent twice",
      `${fmt(fleet.duplicatesSent, 0)} (${fmt((100 * fleet.duplicatesSent) / uniqueChunks, 2)}%), ${fmt(fleet.duplicatesAnswered, 0)} answers (to either send, or to a retry) said \`duplicate: true\``,
    ],
    ["MiB ingested (objects' bytes)", fmt(mib, 1)],
    ["devices cut short by the time cap", fmt(cutShort, 0)],
    ["first chunk sent -> last chunk acknowledged", `${fmt(sendSeconds, 1)} s`],
    ["**sustained chunks/s** (chunk requests acknowledged / that time)", `**${fmt(chunkRequests / sendSeconds, 0)}**`],
    [
      "**sustained MB/s** (unique bytes / that time, MB = 10^6 bytes)",
      `**${fmt(ingestedBytes / 1e6 / sendSeconds, 2)}**`,
    ],
    ["HTTP requests (all, retries included)", fmt(fleet.requests, 0)],
    ["retries (5xx and network errors)", fmt(retryTotal, 0)],
    [
      `last final chunk's 2xx -> queue quiet (nothing pending or running, meters unchanged for ${QUIET_MS / 1000} s)`,
      `${fmt(results.finalToQuietMs / 1000, 1)} s`,
    ],
    ["whole run (first request -> queue quiet)", `${fmt(results.wallMs / 1000, 1)} s`],
  ];
  const quantiles = (label, values) => [
    label,
    fmt(quantile(values, 0.5), 0),
    fmt(quantile(values, 0.95), 0),
    fmt(Math.max(...values), 0),
    fmt(Math.min(...values), 0),
  ];
  const latencyRows = [
    quantiles("**final chunk's 2xx -> `completedAt`**", latencies),
    quantiles("final chunk's request sent -> `completedAt`", fromSent),
    quantiles("final chunk's request sent -> its 2xx", finalRequestMs),
    quantiles("any chunk's request sent -> its 2xx (all chunk requests)", fleet.chunkRequestMs),
  ];
  const per = (value) => [fmt(value, 0), fmt(value / mib, 1), fmt(value / uniqueChunks, 2)];
  const costRows = [
    ["D1 statements", ...per(q.d1Statements)],
    ["D1 round trips", ...per(q.d1RoundTrips)],
    ["D1 rows written", ...per(q.d1RowsWritten)],
    ["D1 rows read", ...per(q.d1RowsRead)],
    ["queue messages (producer + consumer)", ...per(q.queueMessages)],
    ["R2 class A operations", ...per(q.r2ClassA)],
    ["R2 class B operations", ...per(q.r2ClassB)],
    ["Durable Object requests", ...per(q.doRequests)],
    ["producer HTTP requests", ...per(q.producerRequests)],
    ["consumer invocations", ...per(q.consumerInvocations)],
  ];
  const r2Names = ["put", "uploadPart", "createMultipartUpload", "completeMultipartUpload", "list", "get", "head"];
  const r2Line = [...r2Names, "delete", "deleteKeys", "abortMultipartUpload"]
    .map((name) => `${name} ${fmt(q.r2[name] ?? 0, 0)}`)
    .join(", ");
  const statementRow = (st) => [
    st.worker,
    `\`${st.sql.replaceAll("`", "'")}\``,
    fmt(st.statements, 0),
    fmt(st.rowsRead, 0),
    fmt(st.rowsRead / Math.max(1, st.statements), 1),
    fmt(st.rowsWritten, 0),
  ];
  const byRowsRead = [...q.statements].sort((a, b) => b.rowsRead - a.rowsRead).slice(0, 5);
  const byRowsWritten = [...q.statements].sort((a, b) => b.rowsWritten - a.rowsWritten).slice(0, 5);
  const integrityRows = [
    ["devices", fmt(devices, 0)],
    ["objects read back through `GET /objects/{key}`, SHA-256 and size as sent", fmt(integrity.verified, 0)],
    ["**lost** (not completed, or no object)", `**${lost}**`],
    ["**corrupted** (bytes differ from the chunks in sequence order, each once)", `**${corrupted}**`],
  ];
  const retryRows = retries.length === 0 ? [["none", "0"]] : retries.map(([cause, n]) => [cause, fmt(n, 0)]);
  const markdown = [
    `Seed **${seed}** (replay: \`npm run bench -- --only fleet${quick ? " --quick" : ""} --seed ${seed}\`, or \`node bench/suites/fleet.mjs${quick ? " --quick" : ""} --seed ${seed}\`; the same chunks, order and second sends, not the same timing). ` +
      `${devices} devices, each \`POST /uploads {mode: "stream", partSize: 5 MiB}\` under its own key prefix, then ${fmt(DEVICE_BYTES.min / KiB, 0)} KiB-${fmt(DEVICE_BYTES.max / MiB, 0)} MiB in chunks of ${CHUNK_SIZE.min / KiB}-${CHUNK_SIZE.max / KiB} KiB (uniform) ` +
      `through \`PUT /uploads/{id}/chunks/{seq}\`: sequence numbers shuffled within windows of ${WINDOW}, up to ${IN_FLIGHT} chunks in flight per device, ${DUPLICATE_RATE * 100}% of chunks sent a second time 1-${WINDOW} sends later (same bytes), ` +
      `the final chunk (\`?final=1\`) after every other one was acknowledged; a 5xx or network error is retried with backoff (200 ms doubling to 5 s, jittered, 8 attempts), a 4xx fails the run. ` +
      `All devices start at once and share ${CONNECTIONS} keep-alive connections (first come, first served). Sending is capped at ${capMs / 1000} s (\`BENCH_FLEET_CAP_S\`): past it a device finishes the windows it started and ends its stream with an empty final chunk. ` +
      `Consumer batch window: ${product.batchWindowSeconds ?? "?"} s (its real config).`,
    "",
    table(["run", "value"], runRows),
    "",
    `**Final chunk -> \`completed\`** (${done.length} streams; ms). \`completedAt\` is the consumer's clock (workerd, same machine as the devices' clock; it is read at the runtime's last I/O, so early by at most that I/O). ` +
      "The product answers a chunk after it sent the chunk's queue message, and under load the answer takes its time to reach the device (last row), so the consumer may complete a stream before its device has the final chunk's 2xx: such streams count negative. " +
      `The devices wait for \`completed\` by polling (bench-only path, raw D1, ${POLL_CONNECTIONS} connections of their own, 50 ms after the 2xx then backing off 1.5x to ${POLL_MAX_MS / 1000} s); the times come from \`completedAt\`, not from when a poll saw it.`,
    "",
    table(["measured as", "p50", "p95", "max", "min"], latencyRows),
    "",
    `**Operations per MiB ingested** (exact: the meters of bench/costs/ in front of the real D1, R2, queue and Durable Object bindings of both Workers; from the first request until the queue was quiet, so creates, chunks, coalescing, completions and \`upload.ended\` notifications are in; the devices' completion polls read the raw D1 through a bench-only path and are not counted; per chunk = per chunk in the objects):`,
    "",
    table(["operation", "total", "per MiB", "per chunk"], costRows),
    "",
    `R2 calls: ${r2Line}. Consumer: ${fmt(q.deliveries, 0)} messages delivered, ${fmt(q.redeliveries, 0)} redelivered, ${fmt(q.retried, 0)} retried by the consumer. Producer requests by route: ${Object.entries(
      q.byRoute,
    )
      .map(([route, n]) => `${route} ×${fmt(n, 0)}`)
      .join(", ")}.`,
    "",
    "D1 statements that read and wrote the most rows (SQL as the meter labels it, cut at 90 characters):",
    "",
    table(
      ["Worker", "statement", "runs", "rows read", "rows read per run", "rows written"],
      [...byRowsRead, ...byRowsWritten.filter((st) => !byRowsRead.includes(st))].map(statementRow),
    ),
    "",
    "**Integrity**:",
    "",
    table(["objects", "count"], integrityRows),
    ...(integrity.problems.length === 0
      ? []
      : [
          "",
          table(
            ["device", "problem", "detail"],
            integrity.problems.slice(0, 20).map((p) => [p.device, p.kind, p.detail]),
          ),
        ]),
    "",
    "**Retries by cause** (requests sent again):",
    "",
    table(["cause", "retries"], retryRows),
  ].join("\n");

  const header = [
    "# Fleet run (issue 13, part 3)",
    "",
    `- date: ${startedAt}; mode: ${quick ? "--quick" : "full"}; seed: ${seed}`,
    `- machine: nproc ${env.nproc}, ${env.cpu}, ${env.memory} RAM; load average (1 min) ${loadAtStart.toFixed(2)} at start, ${loadAtEnd.toFixed(2)} at end (shared with other work)`,
    `- node ${env.node}, wrangler ${env.wrangler}`,
    `- product code: ${ctx.label ?? `working tree at commit ${env.commit}${env.dirty === 0 ? "" : ` plus ${env.dirty} uncommitted change(s) in producer/ consumer/ shared/ migrations/ wrangler.toml`}`}`,
    "- produced by `npm run bench -- --only fleet` (bench/suites/fleet.mjs); wrangler `createTestHarness`, real HTTP on loopback through wrangler's proxy workerd, as in bench/README.md",
    "",
  ].join("\n");
  const out = process.env.BENCH_FLEET_OUT ?? path.join(BENCH_DIR, "results", "fleet.md");
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${header}\n${markdown}\n`);
  log(`  wrote ${path.relative(process.cwd(), out)}`);

  const checks = [
    {
      name: "fleet: lost or corrupted objects = 0",
      ok: lost === 0 && corrupted === 0,
      detail: `${integrity.verified}/${devices} verified by SHA-256, ${lost} lost, ${corrupted} corrupted (seed ${seed})`,
    },
  ];
  if (lost > 0 || corrupted > 0)
    throw new FleetFailure(`fleet run (seed ${seed}): ${lost} lost, ${corrupted} corrupted objects; see ${out}`);
  return { title: `Fleet run: ${devices} devices streaming chunks (issue 13)`, markdown, checks };
}

// ---- standalone --------------------------------------------------------------------------------

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      seed: { type: "string" },
      devices: { type: "string" },
    },
  });
  process.env.WRANGLER_SEND_METRICS ??= "false";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
  for (const signal of ["SIGINT", "SIGTERM"])
    process.once(signal, async () => {
      await closeAll();
      process.exit(130);
    });
  try {
    const result = await fleetRun({
      quick: values.quick,
      seed: values.seed,
      devices: values.devices,
      log: (line) => console.log(line),
    });
    console.log(`\n## ${result.title}\n\n${result.markdown}`);
    process.exit(0);
  } catch (error) {
    console.error(error);
    await closeAll();
    process.exit(1);
  }
}
