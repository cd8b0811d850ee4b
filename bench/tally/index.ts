// Benchmark Worker for the consumer's tally: builds queue batches of part events and hands them
// to the real `tallyBatch` (consumer/tally.ts) with the real local D1 and R2 behind counting
// wrappers. Set-up (uploads, R2 parts) goes to the unwrapped bindings and is not timed.
//
//   POST /run?size=B&batches=N  -> JSON figures per mode (see RunReport), modes interleaved
//
// mode=tally:    events for parts of uploads that expect 10,000 parts, so nothing completes;
//                ten events per upload in a batch (a batch of 100 touches 10 uploads).
// mode=complete: every event is the only part of a 1-part upload, so every event completes an
//                upload in R2 inside the batch (the most expensive batch there is).
// mode=floor:    the baseline: a consumer that makes one trivial D1 round trip per batch
//                (`db.batch([SELECT 1])`) and acks; the cheapest batch that touches D1 at all.
//
//   POST /abort-floor?n=N  -> ms for R2 alone to abort N multipart uploads, 10 at a time (the
//                             floor of one cron sweep run of N uploads; set-up is not timed)

import { tallyBatch } from "../../consumer/tally";
import { consumerConfig } from "../../shared/config";
import { insertUpload, nextPartSequence } from "../../shared/db/uploads";
import type { PartEvent } from "../../shared/messages";

type NewUploadRow = Parameters<typeof insertUpload>[1];
/** An upload row for set-up. `mode` is passed for schemas that have it and ignored otherwise. */
const newUpload = (row: Record<string, unknown>): NewUploadRow =>
  ({ mode: "parts", sha256: null, r2UploadId: row.uploadId, ...row }) as unknown as NewUploadRow;

/**
 * tallyBatch(batch, bindings, settings[, webhook], now?): later versions take webhook settings
 * before `now` (a parameter without default, so it shows in `length`). No webhook here.
 */
const NO_WEBHOOK = { url: null, secret: null, retryBaseSeconds: 60 };
function callTally(
  batch: MessageBatch<unknown>,
  bindings: TallyBindings,
  settings: ReturnType<typeof consumerConfig>,
): Promise<void> {
  const tally = tallyBatch as unknown as (...args: unknown[]) => Promise<void>;
  return tally.length >= 4 ? tally(batch, bindings, settings, NO_WEBHOOK) : tally(batch, bindings, settings);
}

type TallyBenchEnv = { DB: D1Database; BUCKET: R2Bucket };
/** Whatever bindings tallyBatch wants; this Worker has DB and BUCKET (part events need no more). */
type TallyBindings = Parameters<typeof tallyBatch>[1];

const MiB = 1024 * 1024;
const EVENTS_PER_UPLOAD_IN_TALLY_MODE = 10;

/** Counts every D1 round trip: one per `batch()` call, one per statement run on its own. */
class CountingD1 {
  batchCalls = 0;
  statementsInBatches = 0;
  singleStatements = 0;
  constructor(readonly real: D1Database) {}

  get roundTrips(): number {
    return this.batchCalls + this.singleStatements;
  }

  prepare(sql: string): CountedStatement {
    return new CountedStatement(this, this.real.prepare(sql));
  }

  async batch(statements: (CountedStatement | D1PreparedStatement)[]): Promise<D1Result[]> {
    this.batchCalls++;
    this.statementsInBatches += statements.length;
    return this.real.batch(statements.map((s) => (s instanceof CountedStatement ? s.inner : s)));
  }

  exec(query: string): Promise<D1ExecResult> {
    this.singleStatements++;
    return this.real.exec(query);
  }
}

class CountedStatement {
  constructor(
    private readonly owner: CountingD1,
    readonly inner: D1PreparedStatement,
  ) {}

  bind(...values: unknown[]): CountedStatement {
    return new CountedStatement(this.owner, this.inner.bind(...values));
  }

  first(column?: string): Promise<unknown> {
    this.owner.singleStatements++;
    return column === undefined ? this.inner.first() : this.inner.first(column);
  }

  run(): Promise<D1Result> {
    this.owner.singleStatements++;
    return this.inner.run();
  }

  all(): Promise<D1Result> {
    this.owner.singleStatements++;
    return this.inner.all();
  }

  raw(options?: { columnNames?: boolean }): Promise<unknown[]> {
    this.owner.singleStatements++;
    return this.inner.raw(options as { columnNames: true });
  }
}

/** Counts the R2 multipart completes and aborts the tally issues; everything else passes through. */
function countingBucket(real: R2Bucket) {
  const counts = { completes: 0, aborts: 0 };
  const bucket = {
    head: (key: string) => real.head(key),
    resumeMultipartUpload(key: string, uploadId: string) {
      const upload = real.resumeMultipartUpload(key, uploadId);
      return {
        key,
        uploadId,
        uploadPart: upload.uploadPart.bind(upload),
        complete(parts: R2UploadedPart[]) {
          counts.completes++;
          return upload.complete(parts);
        },
        abort() {
          counts.aborts++;
          return upload.abort();
        },
      };
    },
  };
  return { bucket: bucket as unknown as R2Bucket, counts };
}

function messageBatch(events: PartEvent[], tally: { acks: number; retries: number }): MessageBatch<unknown> {
  const messages = events.map((event, index) => ({
    id: `bench-${index}-${crypto.randomUUID()}`,
    timestamp: new Date(),
    body: event as unknown,
    attempts: 1,
    ack() {
      tally.acks++;
    },
    retry() {
      tally.retries++;
    },
  }));
  return {
    queue: "ingest-part-events",
    messages,
    ackAll() {
      tally.acks += messages.length;
    },
    retryAll() {
      tally.retries += messages.length;
    },
  } as unknown as MessageBatch<unknown>;
}

async function tallyModeBatch(env: TallyBenchEnv, size: number, run: string, index: number): Promise<PartEvent[]> {
  const events: PartEvent[] = [];
  const now = Date.now();
  for (let first = 0; first < size; first += EVENTS_PER_UPLOAD_IN_TALLY_MODE) {
    const uploadId = `tally-${run}-${index}-${first}`;
    const key = `bench/${uploadId}`;
    await insertUpload(
      env.DB,
      newUpload({
        uploadId,
        key,
        api: "native",
        partSize: 5 * MiB,
        expectedParts: 10_000,
        contentType: null,
        metadata: null,
        staleAfterSeconds: 86_400,
        now,
      }),
    );
    for (let n = 1; n <= Math.min(EVENTS_PER_UPLOAD_IN_TALLY_MODE, size - first); n++) {
      events.push({
        type: "part.uploaded",
        uploadId,
        key,
        partNumber: n,
        etag: `etag-${n}`,
        size: 5 * MiB,
        sequence: n,
        uploadedAt: now,
      });
    }
  }
  return events;
}

async function floorModeBatch(_env: TallyBenchEnv, size: number, run: string, index: number): Promise<PartEvent[]> {
  const now = Date.now();
  return Array.from({ length: size }, (_, slot) => ({
    type: "part.uploaded",
    uploadId: `floor-${run}-${index}`,
    key: `bench/floor-${run}-${index}`,
    partNumber: slot + 1,
    etag: `etag-${slot + 1}`,
    size: 5 * MiB,
    sequence: slot + 1,
    uploadedAt: now,
  }));
}

async function completeModeBatch(env: TallyBenchEnv, size: number, run: string, index: number): Promise<PartEvent[]> {
  const body = new Uint8Array(1024);
  return Promise.all(
    Array.from({ length: size }, async (_, slot) => {
      const key = `bench/complete-${run}-${index}-${slot}`;
      const multipart = await env.BUCKET.createMultipartUpload(key);
      const part = await multipart.uploadPart(1, body);
      const now = Date.now();
      await insertUpload(
        env.DB,
        newUpload({
          uploadId: multipart.uploadId,
          key,
          api: "native",
          partSize: 5 * MiB,
          expectedParts: 1,
          contentType: null,
          metadata: null,
          staleAfterSeconds: 86_400,
          now,
        }),
      );
      const sequence = await nextPartSequence(env.DB, multipart.uploadId, now);
      if (sequence === null) throw new Error("set-up upload is not open");
      return {
        type: "part.uploaded",
        uploadId: multipart.uploadId,
        key,
        partNumber: 1,
        etag: part.etag,
        size: body.byteLength,
        sequence,
        uploadedAt: now,
      } satisfies PartEvent;
    }),
  );
}

type RunReport = {
  mode: string;
  size: number;
  batches: number;
  events: number;
  elapsedMs: number;
  roundTripsPerBatch: { min: number; max: number };
  batchCallsPerBatch: { min: number; max: number };
  statementsPerBatch: { min: number; max: number };
  r2CompletesPerBatch: { min: number; max: number };
  acks: number;
  retries: number;
  completedUploads: number | null;
};

/** The baseline consumer: one trivial D1 round trip per batch, then ack everything. */
async function floorConsumer(batch: MessageBatch<unknown>, db: D1Database): Promise<void> {
  await db.batch([db.prepare("SELECT 1")]);
  for (const message of batch.messages) message.ack();
}

async function abortFloor(env: TallyBenchEnv, n: number): Promise<{ n: number; elapsedMs: number }> {
  const uploads = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      env.BUCKET.createMultipartUpload(`bench/abort-floor/${crypto.randomUUID()}-${i}`),
    ),
  );
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < uploads.length) {
      const upload = uploads[next++];
      if (upload !== undefined) await env.BUCKET.resumeMultipartUpload(upload.key, upload.uploadId).abort();
    }
  };
  await Promise.all(Array.from({ length: 10 }, lane));
  return { n, elapsedMs: performance.now() - started };
}

const MODES = ["floor", "tally", "complete"] as const;
type Mode = (typeof MODES)[number];
const BUILDERS = { floor: floorModeBatch, tally: tallyModeBatch, complete: completeModeBatch };

/**
 * Runs `batches` batches of `size` events in each mode, interleaved batch by batch (floor,
 * tally, complete; the order rotates) so that load on the machine hits every mode alike.
 */
async function runBench(env: TallyBenchEnv, size: number, batches: number): Promise<RunReport[]> {
  const run = crypto.randomUUID().slice(0, 8);
  const prepared: Record<Mode, PartEvent[][]> = { floor: [], tally: [], complete: [] };
  for (const mode of MODES) {
    for (let index = 0; index < batches; index++) prepared[mode].push(await BUILDERS[mode](env, size, run, index));
  }

  const settings = consumerConfig({});
  const state = Object.fromEntries(
    MODES.map((mode) => [
      mode,
      {
        totals: { acks: 0, retries: 0 },
        elapsedMs: 0,
        trips: [] as number[],
        calls: [] as number[],
        statements: [] as number[],
        completes: [] as number[],
      },
    ]),
  ) as Record<
    Mode,
    {
      totals: { acks: number; retries: number };
      elapsedMs: number;
      trips: number[];
      calls: number[];
      statements: number[];
      completes: number[];
    }
  >;
  for (let index = 0; index < batches; index++) {
    for (let k = 0; k < MODES.length; k++) {
      const mode = MODES[(index + k) % MODES.length] as Mode;
      const events = prepared[mode][index] ?? [];
      const mine = state[mode];
      const db = new CountingD1(env.DB);
      const { bucket, counts } = countingBucket(env.BUCKET);
      const batch = messageBatch(events, mine.totals);
      const started = performance.now();
      if (mode === "floor") await floorConsumer(batch, db as unknown as D1Database);
      else
        await callTally(batch, { ...env, DB: db as unknown as D1Database, BUCKET: bucket } as TallyBindings, settings);
      mine.elapsedMs += performance.now() - started;
      mine.trips.push(db.roundTrips);
      mine.calls.push(db.batchCalls);
      mine.statements.push(db.statementsInBatches + db.singleStatements);
      mine.completes.push(counts.completes);
    }
  }

  const completed = await env.DB.prepare(
    "SELECT count(*) AS n FROM uploads WHERE object_key LIKE ?1 AND state = 'completed'",
  )
    .bind(`bench/complete-${run}-%`)
    .first<{ n: number }>();
  const range = (values: number[]) => ({ min: Math.min(...values), max: Math.max(...values) });
  return MODES.map((mode) => ({
    mode,
    size,
    batches,
    events: size * batches,
    elapsedMs: state[mode].elapsedMs,
    roundTripsPerBatch: range(state[mode].trips),
    batchCallsPerBatch: range(state[mode].calls),
    statementsPerBatch: range(state[mode].statements),
    r2CompletesPerBatch: range(state[mode].completes),
    acks: state[mode].totals.acks,
    retries: state[mode].totals.retries,
    completedUploads: mode === "complete" ? (completed?.n ?? 0) : null,
  }));
}

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/abort-floor") {
      const n = Number(url.searchParams.get("n") ?? "200");
      if (!(n >= 1 && n <= 1000)) return new Response("n must be 1..1000", { status: 400 });
      return Response.json(await abortFloor(env, n));
    }
    if (request.method !== "POST" || url.pathname !== "/run") return new Response("ok");
    const size = Number(url.searchParams.get("size") ?? "1");
    const batches = Number(url.searchParams.get("batches") ?? "10");
    if (!(size >= 1 && size <= 100 && batches >= 1 && batches <= 10_000)) {
      return new Response("size must be 1..100 and batches 1..10000", { status: 400 });
    }
    return Response.json(await runBench(env, size, batches));
  },
} satisfies ExportedHandler<TallyBenchEnv>;
