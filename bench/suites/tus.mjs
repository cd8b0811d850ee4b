// 8. tus 1.0 at /files/ against the native API, side by side in one runtime: raw tus requests
// (Tus-Resumable, Upload-Length, Upload-Offset, application/offset+octet-stream, the bench API
// key) over the same node:http keep-alive transport as every other benchmark, no tus client.
//   (1) 8 MiB PATCHes aligned to the 8 MiB part size vs native part PUTs of the same parts, the
//       two uploads sent in lockstep (request by request, alternating);
//   (2) the whole file in one PATCH vs the same native part PUTs, upload by upload;
//   (3) 64 KiB PATCHes vs the native chunk stream of the same 64 KiB chunks, in lockstep;
//   (4) 3 partial uploads PATCHed concurrently + the final POST (concatenation) vs one sequential
//       tus upload of the same file: time to all bytes acknowledged, and to `completed`;
//   (5) the last PATCH's 204 -> GET /objects/{key} 200 (the object readable), vs the native
//       last part's 200 -> readable.
// Every upload's object is read back and compared by SHA-256 (untimed).
import { createHash } from "node:crypto";
import { createUpload, getObject, uniqueKey, uploadStatus } from "../lib/clients.mjs";
import { AUTH, startProduct } from "../lib/harness.mjs";
import { agent, cpuMsOf, fmt, MiB, median, pool, quantile, ratio, request, sleep, table } from "../lib/util.mjs";

const KiB = 1024;
const PART = 8 * MiB;
const OCTET = "application/offset+octet-stream";
const TUS = { "tus-resumable": "1.0.0", ...AUTH };
const STATUS_POLL_MS = 15;
const OBJECT_POLL_MS = 10;

const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const range = (values, f = (v) => v, digits = 1) =>
  `${fmt(Math.min(...values.map(f)), digits)}–${fmt(Math.max(...values.map(f)), digits)}`;

function expectStatus(response, status, what) {
  if (response.status !== status) {
    throw new Error(`${what}: HTTP ${response.status} (want ${status}) ${response.text().slice(0, 300)}`);
  }
  return response;
}

// ---- tus over raw HTTP -------------------------------------------------------------------------

const metadata = (fields) =>
  Object.entries(fields)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString("base64")}`)
    .join(",");

/** POST /files/: returns { id, url } (url as Location gave it). */
async function tusCreate(base, via, { length, key, concat }) {
  const headers = { ...TUS };
  if (length !== undefined) headers["upload-length"] = String(length);
  if (key !== undefined) headers["upload-metadata"] = metadata({ key });
  if (concat !== undefined) headers["upload-concat"] = concat;
  const response = expectStatus(
    await request(`${base}/files/`, { method: "POST", agent: via, headers }),
    201,
    "tus POST /files/",
  );
  const url = response.headers.location;
  const id = /\/files\/([^/?#]+)\/?$/.exec(new URL(url, base).pathname)?.[1];
  if (id === undefined) throw new Error(`tus POST /files/: Location ${url} names no upload`);
  return { id: decodeURIComponent(id), url };
}

/** One PATCH at `offset`; checks the 204 and that Upload-Offset moved past the bytes. */
async function tusPatch(base, via, id, offset, bytes) {
  const response = expectStatus(
    await request(`${base}/files/${encodeURIComponent(id)}`, {
      method: "PATCH",
      agent: via,
      body: bytes,
      headers: { ...TUS, "upload-offset": String(offset), "content-type": OCTET },
    }),
    204,
    `tus PATCH at ${offset}`,
  );
  const next = Number(response.headers["upload-offset"]);
  if (next !== offset + bytes.byteLength) {
    throw new Error(`tus PATCH at ${offset}: Upload-Offset ${next}, want ${offset + bytes.byteLength}`);
  }
  return next;
}

/** PATCHes `bytes` in order, `chunk` bytes per request. */
async function tusSend(base, via, id, bytes, chunk) {
  for (let offset = 0; offset < bytes.byteLength; offset += chunk) {
    await tusPatch(base, via, id, offset, bytes.subarray(offset, Math.min(offset + chunk, bytes.byteLength)));
  }
}

// ---- the native API ----------------------------------------------------------------------------

async function nativePut(base, via, path, bytes, final, what) {
  expectStatus(
    await request(`${base}${path}${final ? "?final=1" : ""}`, {
      method: "PUT",
      agent: via,
      body: bytes,
      headers: AUTH,
    }),
    200,
    what,
  );
}

/** Parts of `partSize` in order, one in flight, `?final=1` on the last. */
async function nativeParts(base, via, uploadId, bytes, partSize) {
  const count = Math.ceil(bytes.byteLength / partSize);
  for (let n = 1; n <= count; n++) {
    const body = bytes.subarray((n - 1) * partSize, Math.min(n * partSize, bytes.byteLength));
    await nativePut(
      base,
      via,
      `/uploads/${encodeURIComponent(uploadId)}/parts/${n}`,
      body,
      n === count,
      `PUT part ${n}`,
    );
  }
}

// ---- completion and verification ---------------------------------------------------------------

/** Polls GET /uploads/{id} until `completed`; resolves with the ms waited and the status. */
async function waitCompleted(base, via, uploadId, { pollMs = STATUS_POLL_MS, timeoutMs = 120_000 } = {}) {
  const started = performance.now();
  for (;;) {
    const status = await uploadStatus(base, via, uploadId);
    if (status.state === "completed") return { ms: performance.now() - started, status };
    if (status.state !== "open" && status.state !== "completing") {
      throw new Error(`upload ${uploadId} ended ${status.state}: ${status.failureReason ?? ""}`);
    }
    if (performance.now() - started > timeoutMs) throw new Error(`upload ${uploadId} not completed in ${timeoutMs} ms`);
    await sleep(pollMs);
  }
}

/**
 * How objects are read: `GET /objects/{key}`, or, if that route is missing in the code under test
 * (6cedbca answers every GET /objects/... with 404 "no route", see /work/plan/tus-bugs-bench.md),
 * the seed-compatible `GET /{key}?action=get`, which serves the object with the same readObject.
 */
let readVia = "objects";
async function chooseReadRoute(base, via) {
  const probe = await getObject(base, via, `bench/tus-probe/${Date.now()}-missing`);
  readVia = probe.status === 404 && /no route for/.test(probe.text()) ? "compat" : "objects";
  return readVia;
}
const readObject = (base, via, key) =>
  readVia === "objects"
    ? getObject(base, via, key)
    : request(`${base}/${key}?action=get`, { agent: via, headers: AUTH });

/** The object under `key` must be exactly `expected` (SHA-256 compared). */
async function verifyObject(base, via, key, expectedHex, what) {
  const object = await readObject(base, via, key);
  if (object.status !== 200 || sha256(object.body) !== expectedHex) {
    throw new Error(`${what}: object ${key} is not byte-exact (HTTP ${object.status}, ${object.body.length} bytes)`);
  }
}

// ---- (2): 64 MiB in one PATCH vs native parts, upload by upload ----------------------------------

async function bulkRun(product, via, file, fileHash, variant) {
  const key = uniqueKey(`tus-bulk-${variant}`);
  let uploadId;
  let send;
  if (variant === "native") {
    ({ uploadId } = await createUpload(product.base, via, { key, partSize: PART }));
    send = () => nativeParts(product.base, via, uploadId, file, PART);
  } else {
    ({ id: uploadId } = await tusCreate(product.base, via, { length: file.byteLength, key }));
    send = () => tusSend(product.base, via, uploadId, file, variant === "tus-8" ? PART : file.byteLength);
  }
  const cpu0 = cpuMsOf(product.pids.runtime);
  const started = performance.now();
  await send();
  const ms = performance.now() - started;
  const cpu = cpuMsOf(product.pids.runtime) - cpu0;
  const done = await waitCompleted(product.base, via, uploadId);
  if (done.status.object?.size !== file.byteLength) throw new Error(`${variant}: size ${done.status.object?.size}`);
  await verifyObject(product.base, via, key, fileHash, variant);
  return { ms, cpu, completeMs: done.ms };
}

// ---- (1) and (3) in lockstep ------------------------------------------------------------------------

/**
 * Sends two uploads step by step, alternating between them (the order flips every step and every
 * round): each step is one request per upload of `side` (tus or native), timed on its own, with
 * the runtime's CPU counted around it. Background load that comes and goes (other people's test
 * runs on this machine) then falls on both sides within a second of each other, instead of on
 * whole uploads. Returns the summed request time and CPU per side.
 */
async function lockstep(product, steps, round, send) {
  const sum = { tus: { ms: 0, cpu: 0 }, native: { ms: 0, cpu: 0 } };
  for (let step = 1; step <= steps; step++) {
    for (const side of (step + round) % 2 === 0 ? ["tus", "native"] : ["native", "tus"]) {
      const cpu0 = cpuMsOf(product.pids.runtime);
      const started = performance.now();
      await send[side](step);
      sum[side].ms += performance.now() - started;
      sum[side].cpu += cpuMsOf(product.pids.runtime) - cpu0;
    }
  }
  return sum;
}

/** (1): a tus upload in 8 MiB PATCHes and a native upload in 8 MiB parts, part by part in lockstep. */
async function alignedRound(product, via, file, fileHash, round) {
  const count = file.byteLength / PART;
  const tusKey = uniqueKey("tus-aligned-tus");
  const nativeKey = uniqueKey("tus-aligned-native");
  const { id } = await tusCreate(product.base, via, { length: file.byteLength, key: tusKey });
  const { uploadId } = await createUpload(product.base, via, { key: nativeKey, partSize: PART });
  const part = (n) => file.subarray((n - 1) * PART, n * PART);
  const sum = await lockstep(product, count, round, {
    tus: (n) => tusPatch(product.base, via, id, (n - 1) * PART, part(n)),
    native: (n) =>
      nativePut(
        product.base,
        via,
        `/uploads/${encodeURIComponent(uploadId)}/parts/${n}`,
        part(n),
        n === count,
        `PUT part ${n}`,
      ),
  });
  for (const [upload, key] of [
    [id, tusKey],
    [uploadId, nativeKey],
  ]) {
    await waitCompleted(product.base, via, upload);
    await verifyObject(product.base, via, key, fileHash, "aligned");
  }
  return sum;
}

/**
 * (3): `uploads` tus uploads and as many native streams, chunk by chunk in lockstep: each step
 * sends the next 64 KiB chunk of every tus upload at once, then of every stream (or the other way
 * round), the final marker on the streams' last chunk.
 */
async function smallRound(product, via, data, round, { uploads, chunks, size }) {
  const perUpload = chunks * size;
  const files = Array.from({ length: uploads }, (_, u) => data.subarray(u * perUpload, (u + 1) * perUpload));
  const tus = await Promise.all(
    files.map(async () => {
      const key = uniqueKey("tus-small-tus");
      return { key, id: (await tusCreate(product.base, via, { length: perUpload, key })).id };
    }),
  );
  const native = await Promise.all(
    files.map(async () => {
      const key = uniqueKey("tus-small-native");
      const upload = await createUpload(product.base, via, { key, mode: "stream", partSize: 5 * MiB });
      return { key, id: upload.uploadId };
    }),
  );
  const chunk = (u, seq) => files[u].subarray((seq - 1) * size, seq * size);
  const sum = await lockstep(product, chunks, round, {
    tus: (seq) => Promise.all(tus.map((t, u) => tusPatch(product.base, via, t.id, (seq - 1) * size, chunk(u, seq)))),
    native: (seq) =>
      Promise.all(
        native.map((n, u) =>
          nativePut(
            product.base,
            via,
            `/uploads/${encodeURIComponent(n.id)}/chunks/${seq}`,
            chunk(u, seq),
            seq === chunks,
            `PUT chunk ${seq}`,
          ),
        ),
      ),
  });
  await pool([...tus.map((t, u) => [t, u]), ...native.map((n, u) => [n, u])], uploads, async ([upload, u]) => {
    await waitCompleted(product.base, via, upload.id);
    await verifyObject(product.base, via, upload.key, sha256(files[u]), "small");
  });
  return sum;
}

// ---- (4): 3 partials in parallel + final vs one sequential tus upload ------------------------------

/** Partial boundaries on multiples of the part size: [16, 16, 8] MiB of a 40 MiB file. */
function splitOnParts(length, pieces) {
  const parts = Math.ceil(length / PART);
  const bounds = [];
  let at = 0;
  for (let i = 0; i < pieces; i++) {
    const take = Math.ceil((parts - at / PART) / (pieces - i)) * PART;
    const end = Math.min(length, at + take);
    bounds.push([at, end]);
    at = end;
  }
  return bounds;
}

async function concatRun(product, via, file, fileHash, variant) {
  const key = uniqueKey(`tus-concat-${variant}`);
  const started = performance.now();
  let uploadId;
  let ackMs;
  let finalMs = null;
  let partials = [];
  if (variant === "sequential") {
    ({ id: uploadId } = await tusCreate(product.base, via, { length: file.byteLength, key }));
    await tusSend(product.base, via, uploadId, file, PART);
    ackMs = performance.now() - started;
  } else {
    const bounds = splitOnParts(file.byteLength, 3);
    partials = await Promise.all(
      bounds.map(async ([from, to]) => {
        const partial = await tusCreate(product.base, via, { length: to - from, concat: "partial" });
        await tusSend(product.base, via, partial.id, file.subarray(from, to), PART);
        return partial;
      }),
    );
    ackMs = performance.now() - started;
    ({ id: uploadId } = await tusCreate(product.base, via, {
      key,
      concat: `final;${partials.map((p) => p.url).join(" ")}`,
    }));
    finalMs = performance.now() - started;
  }
  const done = await waitCompleted(product.base, via, uploadId);
  const completedMs = performance.now() - started;
  if (done.status.object?.size !== file.byteLength) throw new Error(`${variant}: size ${done.status.object?.size}`);
  await verifyObject(product.base, via, key, fileHash, `concat ${variant}`);
  // In-runtime timestamps (no polling error), from the final upload's creation (parallel) or
  // its last part (sequential): partials completed by the consumer, last assembled part
  // recorded (the final's last activity), final completed.
  const at = (iso) => Date.parse(iso);
  const phases = { completed: at(done.status.completedAt) - at(done.status.lastActivityAt) };
  if (variant === "parallel") {
    const created = at(done.status.createdAt);
    const partialStates = await Promise.all(partials.map((p) => uploadStatus(product.base, via, p.id)));
    phases.partialsCompleted = Math.max(...partialStates.map((st) => at(st.completedAt))) - created;
    phases.assembled = at(done.status.lastActivityAt) - created;
    phases.completed = at(done.status.completedAt) - created;
  }
  return { ackMs, finalMs, completedMs, phases };
}

// ---- (5): last PATCH 204 -> object readable --------------------------------------------------------

async function readableSample(product, via, file, fileHash, variant) {
  const key = uniqueKey(`tus-readable-${variant}`);
  if (variant === "native") {
    const { uploadId } = await createUpload(product.base, via, { key, partSize: PART });
    await nativePut(product.base, via, `/uploads/${encodeURIComponent(uploadId)}/parts/1`, file, true, "PUT part 1");
  } else {
    const { id } = await tusCreate(product.base, via, { length: file.byteLength, key });
    await tusSend(product.base, via, id, file, file.byteLength / 2);
  }
  const acknowledged = performance.now();
  for (;;) {
    const object = await readObject(product.base, via, key);
    if (object.status === 200) {
      const ms = performance.now() - acknowledged;
      if (sha256(object.body) !== fileHash) throw new Error(`readable ${variant}: object ${key} is not byte-exact`);
      return ms;
    }
    if (object.status !== 404) throw new Error(`readable ${variant}: GET /objects: HTTP ${object.status}`);
    if (performance.now() - acknowledged > 60_000) throw new Error(`readable ${variant}: not readable in 60 s`);
    await sleep(OBJECT_POLL_MS);
  }
}

// ---- the benchmark -----------------------------------------------------------------------------

/** Per-round ratios f(a[i]) / f(b[i]) (a round pairs the variants measured back to back). */
const pairedRatios = (a, b, f) => a.map((s, i) => f(s) / f(b[i]));
const roundsNote = (a, b, f) => {
  const list = pairedRatios(a, b, f);
  return `per round ${list.map((r) => fmt(r, 2)).join(", ")} (median ${fmt(median(list), 2)}x)`;
};

/** Runs `variants` `runs` times each, rotating which goes first, so drift hits all alike. */
async function interleaved(runs, variants, ctx, label, fn) {
  const samples = Object.fromEntries(variants.map((v) => [v, []]));
  for (let run = 0; run < runs; run++) {
    const shift = run % variants.length;
    for (const variant of [...variants.slice(shift), ...variants.slice(0, shift)]) {
      const result = await fn(variant);
      samples[variant].push(result);
      ctx.log(
        `  tus ${label} run ${run + 1}/${runs} ${variant}: ${JSON.stringify(result, (_, v) => (typeof v === "number" ? Math.round(v) : v))}`,
      );
    }
  }
  return samples;
}

export async function tusVsNative(ctx) {
  const runs = ctx.runs ?? (ctx.quick ? 1 : 3);
  const data = ctx.data;
  const bulkFile = data.subarray(0, ctx.quick ? 16 * MiB : 64 * MiB);
  const concatFile = data.subarray(0, ctx.quick ? 24 * MiB : 40 * MiB);
  const small = { uploads: 4, chunks: ctx.quick ? 16 : 64, size: 64 * KiB };
  const readableFile = data.subarray(0, MiB);
  const readableCount = ctx.quick ? 4 : 10;
  const product = await startProduct();
  const via = agent(8);
  const checks = [];
  const aligned = [];
  const whole = { "tus-1": [], native: [] };
  const smalls = [];
  let concat;
  const readable = { tus: [], native: [] };
  let readRoute;
  try {
    readRoute = await chooseReadRoute(product.base, via);
    ctx.log(
      `  tus: objects read through ${readRoute === "objects" ? "GET /objects/{key}" : "GET /{key}?action=get (GET /objects/{key} has no route)"}`,
    );
    // Warm-up, not recorded: compiles both paths, creates the bucket and the Durable Object class.
    const warm = data.subarray(0, 2 * PART);
    await alignedRound(product, via, warm, sha256(warm), 0);
    await bulkRun(product, via, warm, sha256(warm), "tus-1");
    await smallRound(product, via, data, 0, { ...small, uploads: 1, chunks: 4 });

    const bulkHash = sha256(bulkFile);
    const round = (sum) => JSON.stringify(sum, (_, v) => (typeof v === "number" ? Math.round(v) : v));
    for (let run = 0; run < runs; run++) {
      const sum = await alignedRound(product, via, bulkFile, bulkHash, run);
      aligned.push(sum);
      ctx.log(`  tus aligned run ${run + 1}/${runs} (lockstep): ${round(sum)}`);
      for (const variant of run % 2 === 0 ? ["tus-1", "native"] : ["native", "tus-1"]) {
        const result = await bulkRun(product, via, bulkFile, bulkHash, variant);
        whole[variant].push(result);
        ctx.log(`  tus whole run ${run + 1}/${runs} ${variant}: ${round(result)}`);
      }
    }
    for (let run = 0; run < runs; run++) {
      const sum = await smallRound(product, via, data, run, small);
      smalls.push(sum);
      ctx.log(`  tus 64KiB run ${run + 1}/${runs} (lockstep): ${round(sum)}`);
    }
    const concatHash = sha256(concatFile);
    concat = await interleaved(runs, ["parallel", "sequential"], ctx, "concat", (variant) =>
      concatRun(product, via, concatFile, concatHash, variant),
    );
    const readableHash = sha256(readableFile);
    for (let i = 0; i < readableCount; i++) {
      for (const variant of i % 2 === 0 ? ["tus", "native"] : ["native", "tus"]) {
        readable[variant].push(await readableSample(product, via, readableFile, readableHash, variant));
      }
    }
    ctx.log(
      `  tus readable: tus ${readable.tus.map((v) => Math.round(v)).join(",")}; native ${readable.native.map((v) => Math.round(v)).join(",")}`,
    );
  } finally {
    via.destroy();
    await product.close();
  }

  // ---- report ----
  const bulkBytes = bulkFile.byteLength;
  const parts = bulkBytes / PART;
  const rate = (list) => median(list.map((s) => mbps(bulkBytes, s.ms)));
  const cpuPerPart = (list) => median(list.map((s) => s.cpu / parts));
  const alignedTus = aligned.map((s) => s.tus);
  const alignedNative = aligned.map((s) => s.native);
  const tus8 = rate(alignedTus);
  const native8 = rate(alignedNative);
  const tus1 = rate(whole["tus-1"]);
  const native = rate(whole.native);
  const smallBytes = small.chunks * small.size * small.uploads;
  const smallChunks = small.chunks * small.uploads;
  const chunkRate = (list) => median(list.map((s) => smallChunks / (s.ms / 1000)));
  const smallTus = smalls.map((s) => s.tus);
  const smallNative = smalls.map((s) => s.native);
  const tusChunks = chunkRate(smallTus);
  const nativeChunks = chunkRate(smallNative);
  const ack = (list) => median(list.map((s) => s.ackMs));
  const completed = (list) => median(list.map((s) => s.completedMs));
  const p = (list, q) => quantile(list, q);
  const phase = (list, name) => median(list.map((s) => s.phases[name]));
  const bulkMiB = bulkBytes / MiB;
  const concatMiB = concatFile.byteLength / MiB;
  const bounds = splitOnParts(concatFile.byteLength, 3).map(([a, b]) => (b - a) / MiB);

  const rows = [
    [
      "1",
      `${bulkMiB} MiB as ${parts} PATCHes of 8 MiB (aligned to Upload-Part-Size) vs ${parts} native part PUTs of 8 MiB, in lockstep (sum of request times)`,
      `${fmt(tus8)} MB/s`,
      `${fmt(native8)} MB/s`,
      ratio(tus8, native8),
      `tus ${range(alignedTus, (s) => mbps(bulkBytes, s.ms))}, native ${range(alignedNative, (s) => mbps(bulkBytes, s.ms))}; ${roundsNote(alignedTus, alignedNative, (s) => 1 / s.ms)}; runtime CPU ${fmt(cpuPerPart(alignedTus), 0)} vs ${fmt(cpuPerPart(alignedNative), 0)} ms per 8 MiB part (${ratio(cpuPerPart(alignedNative), cpuPerPart(alignedTus))})`,
    ],
    [
      "2",
      `${bulkMiB} MiB in one PATCH vs ${parts} native part PUTs of 8 MiB, upload by upload (whole-upload times)`,
      `${fmt(tus1)} MB/s`,
      `${fmt(native)} MB/s`,
      ratio(tus1, native),
      `tus ${range(whole["tus-1"], (s) => mbps(bulkBytes, s.ms))}, native ${range(whole.native, (s) => mbps(bulkBytes, s.ms))}; ${roundsNote(whole["tus-1"], whole.native, (s) => 1 / s.ms)}; runtime CPU ${fmt(cpuPerPart(whole["tus-1"]), 0)} vs ${fmt(cpuPerPart(whole.native), 0)} ms per 8 MiB (${ratio(cpuPerPart(whole.native), cpuPerPart(whole["tus-1"]))})`,
    ],
    [
      "3",
      `${small.uploads} uploads at once, each ${small.chunks} PATCHes of 64 KiB (${fmt((small.chunks * small.size) / MiB, 0)} MiB) vs ${small.uploads} native streams of the same ${small.chunks} chunks, in lockstep (sum of step times)`,
      `${fmt(tusChunks, 0)} chunks/s (${fmt((tusChunks * small.size) / 1e6, 2)} MB/s)`,
      `${fmt(nativeChunks, 0)} chunks/s (${fmt((nativeChunks * small.size) / 1e6, 2)} MB/s)`,
      ratio(tusChunks, nativeChunks),
      `tus ${range(smallTus, (s) => smallChunks / (s.ms / 1000), 0)}, native ${range(smallNative, (s) => smallChunks / (s.ms / 1000), 0)} chunks/s; ${roundsNote(smallTus, smallNative, (s) => 1 / s.ms)}; runtime CPU ${fmt(median(smallTus.map((s) => s.cpu / smallChunks)), 1)} vs ${fmt(median(smallNative.map((s) => s.cpu / smallChunks)), 1)} ms per chunk; ${fmt(smallBytes / MiB, 0)} MiB per side per run`,
    ],
    [
      "4a",
      `${concatMiB} MiB: 3 partials (${bounds.join(" + ")} MiB) PATCHed at once vs one sequential tus upload; first POST -> every byte acknowledged (last PATCH 204)`,
      `${fmt(ack(concat.parallel), 0)} ms`,
      `${fmt(ack(concat.sequential), 0)} ms`,
      ratio(ack(concat.parallel), ack(concat.sequential)),
      `time ratio (< 1 = parallel faster); parallel ${range(concat.parallel, (s) => s.ackMs, 0)}, sequential ${range(concat.sequential, (s) => s.ackMs, 0)} ms; final POST 201 at ${fmt(median(concat.parallel.map((s) => s.finalMs)), 0)} ms`,
    ],
    [
      "4b",
      "the same: first POST -> `GET /uploads/{id}` of the (final) upload reads `completed`",
      `${fmt(completed(concat.parallel), 0)} ms`,
      `${fmt(completed(concat.sequential), 0)} ms`,
      ratio(completed(concat.parallel), completed(concat.sequential)),
      `time ratio; parallel ${range(concat.parallel, (s) => s.completedMs, 0)}, sequential ${range(concat.sequential, (s) => s.completedMs, 0)} ms; after the last byte: ${fmt(median(concat.parallel.map((s) => s.completedMs - s.ackMs)), 0)} vs ${fmt(median(concat.sequential.map((s) => s.completedMs - s.ackMs)), 0)} ms. ` +
        `In the runtime, from the final POST: partials completed +${fmt(phase(concat.parallel, "partialsCompleted"), 0)} ms, last assembled part recorded +${fmt(phase(concat.parallel, "assembled"), 0)} ms, final completed +${fmt(phase(concat.parallel, "completed"), 0)} ms; ` +
        `sequential: last part -> completed ${fmt(phase(concat.sequential, "completed"), 0)} ms`,
    ],
    [
      "5",
      `1 MiB upload: last PATCH 204 -> ${readRoute === "objects" ? "`GET /objects/{key}`" : "`GET /{key}?action=get`"} 200 (p50 / p95 of ${readableCount}) vs native last part 200 -> readable`,
      `${fmt(p(readable.tus, 0.5), 0)} / ${fmt(p(readable.tus, 0.95), 0)} ms`,
      `${fmt(p(readable.native, 0.5), 0)} / ${fmt(p(readable.native, 0.95), 0)} ms`,
      ratio(p(readable.tus, 0.5), p(readable.native, 0.5)),
      `time ratio of the p50s; max ${fmt(Math.max(...readable.tus), 0)} vs ${fmt(Math.max(...readable.native), 0)} ms; polled every ${OBJECT_POLL_MS} ms`,
    ],
  ];
  checks.push({
    name: "tus 8 MiB PATCHes >= 0.9x native part PUTs",
    ok: tus8 >= 0.9 * native8,
    detail: `${fmt(tus8)} vs ${fmt(native8)} MB/s (${ratio(tus8, native8)}), in lockstep; runtime CPU per part ${fmt(cpuPerPart(alignedTus), 0)} vs ${fmt(cpuPerPart(alignedNative), 0)} ms`,
  });
  const completeAfter = (list) => median(list.map((s) => s.completeMs));
  const markdown = [
    `One product harness; every row's tus side and its baseline measured in the same process run, ${runs} round(s), medians (min–max and the per-round ratios in the detail). ` +
      "tus requests are raw HTTP (node:http keep-alive, Content-Length bodies, the same transport as the native side) with `Tus-Resumable: 1.0.0`, `Upload-Length`, `Upload-Offset`, " +
      "`Content-Type: application/offset+octet-stream` and the bench API key as `Authorization: Bearer`; no tus client library. One request in flight per upload on both sides (tus must be sequential within an upload). " +
      "**Rows 1 and 3 run in lockstep**: a tus upload and a native one are open at once and sent step by step, alternating (one 8 MiB request each, or one 64 KiB chunk of each of the 4 uploads at once), the order flipping every step; each step is timed on its own and the throughput is bytes / summed request time, so the background load of this shared machine falls on both sides within a second. " +
      "Rows 2, 4 and 5 alternate whole uploads (order flipping every round), timed from the first byte request (row 4: the first POST) to the last 2xx; creation is not timed in rows 1–3. " +
      "Runtime CPU: the runtime workerd's user+system time (10 ms ticks) around the timed requests, consumer and Durable Object included. " +
      "Every upload of every row was waited for until `completed` (untimed) and its object read back and matched by SHA-256. MB = 10^6 bytes.",
    "",
    table(["#", "what", "tus", "native / sequential (same run)", "ratio", "detail"], rows),
    "",
    `Row 2, untimed: last 2xx -> \`completed\` (status polled every ${STATUS_POLL_MS} ms) was ${fmt(completeAfter(whole["tus-1"]), 0)} ms (tus, one PATCH) and ${fmt(completeAfter(whole.native), 0)} ms (native). ` +
      (readRoute === "objects"
        ? ""
        : "Objects were read through the seed-compatible `GET /{key}?action=get` (the same `readObject` service): in this code `GET /objects/{key}` answers 404 `no route` for every key (see /work/plan/tus-bugs-bench.md). ") +
      `Row 4: status polled every ${STATUS_POLL_MS} ms; both sides start the clock before their first POST /files/; the partials' creations, PATCHes (8 MiB each) and the final POST are all inside the parallel side's time. ` +
      "Row 5: the tus upload is 2 PATCHes of 512 KiB (the second writes the part from the stored tail), the native one `POST /uploads` + one part with `?final=1`, alternating.",
  ].join("\n");
  return { title: "8. tus 1.0 (/files/) against the native API", markdown, checks };
}
