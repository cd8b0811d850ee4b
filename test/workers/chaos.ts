import { env } from "cloudflare:workers";
import { r2Error } from "./faults";
import { Pipeline } from "./helpers";

/** A small seeded PRNG, so that a failing chaos run can be replayed exactly. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  next(): number {
    // mulberry32
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  shuffle<T>(items: T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

export type FaultRates = {
  uploadPart: number;
  complete: number;
  abort: number;
  d1Batch: number;
  queueSend: number;
  /** The claim commits in D1, then the invocation dies before completing in R2. */
  dieAfterClaim: number;
  /** Plain object calls, which staged chunks use: left out, they never fail. */
  put?: number;
  get?: number;
  delete?: number;
};

export type FlakyBindings = {
  bucket: R2Bucket;
  db: D1Database;
  /** How many faults of each configured kind were injected. */
  injected: Partial<Record<keyof FaultRates, number>>;
  /** Counts a fault injected outside these bindings (the queue's). */
  count: (kind: keyof FaultRates) => void;
};

const transient = () => r2Error("We encountered an internal error. Please try again.", 10001);

/**
 * Real bindings that fail at the given rates. The queue's faults are injected by the
 * Pipeline's RecordingQueue; this returns the R2 and D1 sides plus counts of what was injected.
 */
export function flakyBindings(bucket: R2Bucket, db: D1Database, rng: Rng, rates: FaultRates): FlakyBindings {
  const injected: Partial<Record<keyof FaultRates, number>> = Object.fromEntries(
    Object.keys(rates).map((kind) => [kind, 0]),
  );
  const count = (kind: keyof FaultRates) => {
    injected[kind] = (injected[kind] ?? 0) + 1;
  };
  const maybeFail = (kind: keyof FaultRates) => {
    if (rng.chance(rates[kind] ?? 0)) {
      count(kind);
      throw transient();
    }
  };
  const objectCalls = new Set<string>(["put", "get", "delete"]);
  const wrapUpload = (upload: R2MultipartUpload): R2MultipartUpload => ({
    key: upload.key,
    uploadId: upload.uploadId,
    uploadPart: async (partNumber, value, options) => {
      maybeFail("uploadPart");
      return upload.uploadPart(partNumber, value, options);
    },
    complete: async (parts) => {
      maybeFail("complete");
      return upload.complete(parts);
    },
    abort: async () => {
      maybeFail("abort");
      return upload.abort();
    },
  });
  const flakyBucket = new Proxy(bucket, {
    get(target, prop) {
      if (prop === "resumeMultipartUpload") {
        return (key: string, uploadId: string) => wrapUpload(target.resumeMultipartUpload(key, uploadId));
      }
      if (typeof prop === "string" && objectCalls.has(prop)) {
        const call = Reflect.get(target, prop) as (...args: unknown[]) => Promise<unknown>;
        return async (...args: unknown[]) => {
          maybeFail(prop as "put" | "get" | "delete");
          return call.apply(target, args);
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const flakyDb = new Proxy(db, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          maybeFail("d1Batch");
          const results = await target.batch(statements);
          const claimed = results.some(isClaim);
          if (claimed && rng.chance(rates.dieAfterClaim)) {
            count("dieAfterClaim");
            throw new Error("injected: the invocation died after its claim committed");
          }
          return results;
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { bucket: flakyBucket, db: flakyDb, injected, count };
}

function isClaim(result: D1Result): boolean {
  // The claim's read-back returns upload rows that carry a claim id.
  return (result.results as { claim_id?: unknown }[]).some((row) => typeof row.claim_id === "string");
}

/**
 * A pipeline on flaky bindings whose queue sends fail at the `queueSend` rate, and a cron that
 * may die like any invocation (the next run picks up where it left off).
 */
export function chaosPipeline(rng: Rng, rates: FaultRates, producerVars?: Record<string, string>) {
  const faults = flakyBindings(env.BUCKET, env.DB, rng, rates);
  const pipeline = new Pipeline({ bucket: faults.bucket, db: faults.db, producerVars });
  pipeline.queue.failWhen = () => {
    if (!rng.chance(rates.queueSend)) return false;
    faults.count("queueSend");
    return true;
  };
  const cron = (at: number) => pipeline.cron(at).catch(() => undefined);
  return { faults, pipeline, cron };
}

/** A client that sends again whatever the producer answers with a 5xx, as it asks. */
export async function withRetries<T extends { status: number }>(send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const response = await send();
    if (response.status < 500 || attempt === 30) return response;
  }
}

type Delivery = { body: unknown; attempts: number };

/**
 * At-least-once delivery as the queue does it, only nastier: random batches in random order,
 * some messages twice, retried messages back in the mix, and a dead-letter list after 10 tries.
 */
export class ChaosQueue {
  pending: Delivery[] = [];
  readonly deadLetters: Delivery[] = [];
  constructor(
    private readonly pipeline: Pipeline,
    private readonly rng: Rng,
    private readonly duplicateRate: number,
  ) {}

  /** Queues messages, each one also delivered a second time at the duplicate rate. */
  add(bodies: unknown[]): void {
    const fresh = bodies.map((body) => ({ body, attempts: 1 }));
    this.pending.push(
      ...fresh,
      ...fresh.filter(() => this.rng.chance(this.duplicateRate)).map((item) => ({ ...item })),
    );
  }

  /** Delivers until nothing is pending; `sentMeanwhile` yields what the consumer queued in turn. */
  async drain(sentMeanwhile: () => unknown[] = () => []): Promise<void> {
    this.add(sentMeanwhile());
    for (let round = 0; this.pending.length > 0 && round < 500; round++) {
      const batch = this.rng.shuffle(this.pending).slice(0, 1 + this.rng.int(20));
      this.pending = this.pending.filter((item) => !batch.includes(item));
      const result = await this.pipeline.deliver(batch.map((item) => item.body));
      for (const message of result.retryMessages) {
        const item = batch[Number(message.msgId.split("-").at(-1))];
        if (item === undefined) throw new Error(`retry of an unknown message ${message.msgId}`);
        if (item.attempts >= 10) this.deadLetters.push(item);
        else this.pending.push({ body: item.body, attempts: item.attempts + 1 });
      }
      this.add(sentMeanwhile());
    }
  }
}
