import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  listDurableObjectIds,
  type QueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import consumer from "../../consumer/index";
import producer from "../../producer/index";
import { type ConsumerConfig, consumerConfig } from "../../shared/config";
import type { PartEvent, QueueMessage } from "../../shared/messages";
import type { UploadNotification } from "../../shared/notifications";
import type { UploadStatus } from "../../shared/schemas";

export const MiB = 1024 * 1024;

/** The development keys from .dev.vars, which the test runtime loads. */
export const DEV_KEY = "dev-key-0123456789abcdef";
export const FLEET_KEY = "dev-fleet-key-0123456789abcdef";
export const PART = 5 * MiB;

export type TestEnv = typeof env;
/** The env a Worker takes in a test: the test runtime's, where METRICS and CONSOLE may be left unbound. */
type WorkerEnv = Omit<TestEnv, "METRICS" | "CONSOLE"> & { METRICS?: AnalyticsEngineDataset; CONSOLE?: Fetcher };

/** Deterministic pseudo-random bytes, so every part of every test has distinct content. */
export function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

export function concat(...chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export async function sha256(data: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A queue binding wrapper that records every message sent and can be told to fail. */
export class RecordingQueue<Body = QueueMessage> implements Queue<Body> {
  readonly sent: Body[] = [];
  failing = false;
  /** Decides per send whether it fails; for fault injection at a rate. */
  failWhen: () => boolean = () => this.failing;
  constructor(private readonly real: Queue) {}

  metrics(): Promise<QueueMetrics> {
    return this.real.metrics();
  }

  async send(body: Body, options?: QueueSendOptions): Promise<QueueSendResponse> {
    if (this.failWhen()) throw new Error("injected queue failure");
    const response = await this.real.send(body, options);
    this.sent.push(body);
    return response;
  }

  async sendBatch(
    messages: Iterable<MessageSendRequest<Body>>,
    options?: QueueSendBatchOptions,
  ): Promise<QueueSendBatchResponse> {
    if (this.failWhen()) throw new Error("injected queue failure");
    const list = [...messages];
    const response = await this.real.sendBatch(list, options);
    this.sent.push(...list.map((message) => message.body));
    return response;
  }

  /** Takes every message recorded so far. */
  drainAll(): Body[] {
    return this.sent.splice(0, this.sent.length);
  }
}

/** The pipeline's own queue: part events can be taken apart from the rest. */
export class EventQueue extends RecordingQueue<QueueMessage> {
  /** Takes the part events recorded so far, leaving none (stream events stay for drainAll). */
  drain(): PartEvent[] {
    const parts = this.sent.filter((message): message is PartEvent => message.type === "part.uploaded");
    const rest = this.sent.filter((message) => message.type !== "part.uploaded");
    this.sent.splice(0, this.sent.length, ...rest);
    return parts;
  }
}

/**
 * A test's view of the pipeline: the producer Worker's fetch handler with a recording queue,
 * and the consumer's queue and cron handlers, all on the real local bindings (optionally
 * wrapped to inject faults).
 */
export class Pipeline {
  readonly queue: EventQueue;
  /** The downstream notification queue (a recording wrapper around the real queue). */
  readonly notifications: RecordingQueue<UploadNotification>;
  private readonly producerEnv: WorkerEnv;
  private readonly consumerEnv: WorkerEnv & { NOTIFICATIONS: Queue };
  readonly settings: ConsumerConfig;

  /** Sent as `Authorization: Bearer …` unless a request sets its own; null sends none. */
  credential: string | null = DEV_KEY;

  constructor(
    overrides: {
      bucket?: R2Bucket;
      db?: D1Database;
      consumerVars?: Record<string, string>;
      producerVars?: Record<string, string>;
      /** The Analytics Engine dataset both Workers write to; undefined: as if it were not bound. */
      metrics?: AnalyticsEngineDataset;
      /** The console Worker the producer forwards to; undefined: as if it were not bound. */
      webConsole?: Fetcher;
    } = {},
  ) {
    this.queue = new EventQueue(env.UPLOAD_EVENTS);
    this.notifications = new RecordingQueue<UploadNotification>(env.UPLOAD_EVENTS);
    const bucket = overrides.bucket ?? env.BUCKET;
    const db = overrides.db ?? env.DB;
    const metrics = "metrics" in overrides ? { METRICS: overrides.metrics } : {};
    this.producerEnv = {
      ...env,
      BUCKET: bucket,
      DB: db,
      UPLOAD_EVENTS: this.queue,
      ...metrics,
      ...("webConsole" in overrides ? { CONSOLE: overrides.webConsole } : {}),
      ...overrides.producerVars,
    };
    this.consumerEnv = {
      ...env,
      BUCKET: bucket,
      DB: db,
      UPLOAD_EVENTS: this.queue,
      NOTIFICATIONS: this.notifications,
      ...metrics,
      ...overrides.consumerVars,
    };
    this.settings = consumerConfig(this.consumerEnv);
  }

  async fetch(path: string, init?: RequestInit): Promise<Response> {
    // Concatenated, not resolved: a path like "//x" must stay a path, not become a host.
    const request = new Request(`http://ingest.test${path.startsWith("/") ? "" : "/"}${path}`, init);
    if (this.credential !== null && !request.headers.has("authorization")) {
      request.headers.set("authorization", `Bearer ${this.credential}`);
    }
    const context = createExecutionContext();
    const response = await producer.fetch(request, this.producerEnv, context);
    // What a request leaves running after its answer (a part a chunk completed) is done before a
    // test looks at the state.
    await waitOnExecutionContext(context);
    return response;
  }

  async json<T = unknown>(path: string, init?: RequestInit): Promise<{ status: number; body: T; headers: Headers }> {
    const response = await this.fetch(path, init);
    const text = new TextDecoder().decode(await response.arrayBuffer());
    return { status: response.status, body: (text === "" ? null : JSON.parse(text)) as T, headers: response.headers };
  }

  async create(body: Record<string, unknown>): Promise<UploadStatus> {
    const { status, body: created } = await this.json<UploadStatus>("/uploads", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(status).toBe(201);
    return created;
  }

  putPart(uploadId: string, partNumber: number | string, data: Uint8Array, init: RequestInit = {}) {
    return this.json<{ partNumber: number; etag: string; size: number }>(`/uploads/${uploadId}/parts/${partNumber}`, {
      method: "PUT",
      body: data,
      ...init,
      headers: { "content-length": String(data.byteLength), ...init.headers },
    });
  }

  async status(uploadId: string): Promise<UploadStatus> {
    const { status, body } = await this.json<UploadStatus>(`/uploads/${uploadId}`);
    expect(status).toBe(200);
    return body;
  }

  /** Delivers events to the consumer as one batch, the way the queue would. */
  async deliver(events: unknown[], attempts = 1): Promise<QueueResult> {
    const batch = createMessageBatch<unknown>(
      "ingest-events",
      events.map((body, index) => ({ id: `m-${crypto.randomUUID()}-${index}`, timestamp: Date.now(), attempts, body })),
    );
    await consumer.queue(batch, this.consumerEnv);
    return getQueueResult(batch, createExecutionContext());
  }

  putChunk(
    uploadId: string,
    seq: number | string,
    data: Uint8Array,
    options: { final?: boolean; headers?: Record<string, string> } = {},
  ) {
    return this.json<{ sequence: number; size: number; md5: string; final: boolean; duplicate: boolean }>(
      `/uploads/${uploadId}/chunks/${seq}${options.final === true ? "?final=1" : ""}`,
      { method: "PUT", body: data, headers: { "content-length": String(data.byteLength), ...options.headers } },
    );
  }

  /**
   * Delivers everything queued, and whatever that queues in turn (a stream continuing in a new
   * invocation) or asks to retry, until the queue is empty; then runs the alarms of chunk
   * streams' objects that are due (parts a request's budget left), until neither has work.
   * Returns the number of batches.
   */
  async settle(maxBatches = 200): Promise<number> {
    let batches = 0;
    for (;;) {
      for (let pending = this.queue.drainAll(); pending.length > 0; pending.push(...this.queue.drainAll())) {
        if (++batches > maxBatches) throw new Error("the queue did not settle");
        const batch = pending.splice(0, 100);
        const result = await this.deliver(batch);
        const retried = new Set(result.retryMessages.map((message) => Number(message.msgId.split("-").at(-1))));
        pending.push(...batch.filter((_, index) => retried.has(index)));
      }
      if (!(await runDueStreamAlarms())) return batches;
    }
  }

  /** Runs the consumer's cron at the given time. */
  async cron(scheduledTime: number): Promise<void> {
    await consumer.scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), this.consumerEnv);
  }
}

/** Uploads `count` parts of an upload, all `PART` bytes but the last, and returns the bytes. */
export async function uploadParts(
  pipeline: Pipeline,
  uploadId: string,
  partNumbers: number[],
  total: number,
  lastSize: number,
  seed: number,
): Promise<Map<number, Uint8Array>> {
  const parts = new Map<number, Uint8Array>();
  for (const n of partNumbers) {
    const data = bytes(n === total ? lastSize : PART, seed * 100 + n);
    const response = await pipeline.putPart(uploadId, n, data);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    parts.set(n, data);
  }
  return parts;
}

export async function objectBytes(key: string): Promise<Uint8Array | null> {
  const object = await env.BUCKET.get(key);
  return object === null ? null : new Uint8Array(await object.arrayBuffer());
}

export function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Everything the pipeline has stored: a refused request must leave this unchanged. */
export async function storedState(): Promise<string> {
  const uploads = await env.DB.prepare("SELECT * FROM uploads ORDER BY upload_id").all();
  const parts = await env.DB.prepare("SELECT * FROM parts ORDER BY upload_id, part_number").all();
  const objects = await env.BUCKET.list();
  return JSON.stringify([uploads.results, parts.results, objects.objects.map((o) => [o.key, o.etag])]);
}

/**
 * The R2 multipart id behind one of our upload ids, for tests that talk to R2 directly. Before
 * migration 0004 the two were the same string; without its column, the upload id is the R2 id.
 */
export async function r2UploadIdOf(uploadId: string): Promise<string> {
  let row: { r2_upload_id: string } | null;
  try {
    row = await env.DB.prepare("SELECT r2_upload_id FROM uploads WHERE upload_id = ?1")
      .bind(uploadId)
      .first<{ r2_upload_id: string }>();
  } catch (error) {
    if (/no such column: r2_upload_id/.test(String(error))) return uploadId;
    throw error;
  }
  if (row === null) throw new Error(`no upload ${uploadId} in D1`);
  return row.r2_upload_id;
}

export { type CapturedLogs, captureLogs, type LoggedEvent } from "./logs";

/** Runs every chunk stream object's alarm that is due now; whether any ran. */
export async function runDueStreamAlarms(): Promise<boolean> {
  let ran = false;
  for (const id of await listDurableObjectIds(env.CHUNK_STREAMS)) {
    const stub = env.CHUNK_STREAMS.get(id);
    const at = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    if (at !== null && at <= Date.now()) ran = (await runDurableObjectAlarm(stub)) || ran;
  }
  return ran;
}
