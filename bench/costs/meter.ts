// Bench-only operation meters for the costs benchmark (bench/suites/costs.mjs). Each one wraps a
// real binding and counts, on the way through, the operations Cloudflare bills; every call still
// goes to the real binding (nothing is answered here).
//
// - D1: round trips (a statement run on its own, or one `batch()`), statements, and the
//   `meta.rows_read` / `meta.rows_written` of every result, which is what D1 bills. `first()`
//   returns no meta, so it is answered through `all()` on the same statement (D1 runs the whole
//   statement for `first()` too) and its first row or column is returned.
// - R2: calls by operation (and keys deleted), classed by the pricing table in the suite.
// - Queues: messages sent and the 64 KB units they occupy (body JSON + ~100 bytes of metadata).
// - Durable Objects: every method call on a stub is one RPC session, one billed request.

export type D1Usage = {
  roundTrips: number;
  batchCalls: number;
  statements: number;
  rowsRead: number;
  rowsWritten: number;
  /** Per SQL text (whitespace collapsed, cut at 90 characters): statements and rows. */
  bySql: Record<string, { statements: number; rowsRead: number; rowsWritten: number }>;
};

export type Usage = {
  d1: D1Usage;
  /** R2 binding calls by operation name; `deleteKeys` counts the keys of every `delete()`. */
  r2: Record<string, number>;
  queue: { sendCalls: number; messages: number; units64k: number; bodyBytes: number };
  durableObjects: { requests: number; byMethod: Record<string, number> };
};

export const freshUsage = (): Usage => ({
  d1: { roundTrips: 0, batchCalls: 0, statements: 0, rowsRead: 0, rowsWritten: 0, bySql: {} },
  r2: {},
  queue: { sendCalls: 0, messages: 0, units64k: 0, bodyBytes: 0 },
  durableObjects: { requests: 0, byMethod: {} },
});

/** Where the counts go; a holder so that a reset swaps the object every wrapper writes to. */
export type Meter = { usage: Usage };

// ---- D1 ----------------------------------------------------------------------------------------

type Meta = { rows_read?: number; rows_written?: number };

function sqlLabel(sql: string): string {
  const flat = sql.replace(/\s+/g, " ").trim();
  return flat.length > 90 ? `${flat.slice(0, 87)}...` : flat;
}

function addRows(meter: Meter, label: string, meta: Meta | undefined): void {
  const read = Number(meta?.rows_read ?? 0);
  const written = Number(meta?.rows_written ?? 0);
  const d1 = meter.usage.d1;
  d1.rowsRead += read;
  d1.rowsWritten += written;
  const entry = d1.bySql[label] ?? { statements: 0, rowsRead: 0, rowsWritten: 0 };
  entry.statements++;
  entry.rowsRead += read;
  entry.rowsWritten += written;
  d1.bySql[label] = entry;
}

/** The real statement behind each metered one, for `batch()`. */
const realStatements = new WeakMap<object, { real: D1PreparedStatement; label: string }>();

class MeteredStatement {
  constructor(
    private readonly meter: Meter,
    private readonly real: D1PreparedStatement,
    private readonly label: string,
  ) {
    realStatements.set(this, { real, label });
  }

  bind(...values: unknown[]): MeteredStatement {
    return new MeteredStatement(this.meter, this.real.bind(...values), this.label);
  }

  private alone(): void {
    this.meter.usage.d1.roundTrips++;
    this.meter.usage.d1.statements++;
  }

  async run<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    this.alone();
    const result = await this.real.run<T>();
    addRows(this.meter, this.label, result.meta as Meta);
    return result;
  }

  async all<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    this.alone();
    const result = await this.real.all<T>();
    addRows(this.meter, this.label, result.meta as Meta);
    return result;
  }

  async first<T = unknown>(column?: string): Promise<T | null> {
    this.alone();
    const result = await this.real.all<Record<string, unknown>>();
    addRows(this.meter, this.label, result.meta as Meta);
    const row = result.results[0];
    if (row === undefined) return null;
    if (column === undefined) return row as T;
    if (!(column in row)) throw new Error(`D1_COLUMN_NOTFOUND: Column not found (${column})`);
    return row[column] as T;
  }

  raw(): never {
    throw new Error("the costs meter does not count raw(): rows read are not reported for it");
  }
}

export function meterD1(real: D1Database, meter: Meter): D1Database {
  const db = {
    prepare: (sql: string) => new MeteredStatement(meter, real.prepare(sql), sqlLabel(sql)),
    async batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
      meter.usage.d1.roundTrips++;
      meter.usage.d1.batchCalls++;
      meter.usage.d1.statements += statements.length;
      const unwrapped = statements.map((s) => realStatements.get(s) ?? { real: s, label: "(unmetered statement)" });
      const results = await real.batch<T>(unwrapped.map((s) => s.real));
      results.forEach((result, i) => {
        addRows(meter, unwrapped[i]?.label ?? "?", result.meta as Meta);
      });
      return results;
    },
    exec(): never {
      throw new Error("the costs meter does not count exec()");
    },
    dump: () => real.dump(),
    withSession(): never {
      throw new Error("the costs meter does not count D1 sessions");
    },
  };
  return db as unknown as D1Database;
}

// ---- R2 ----------------------------------------------------------------------------------------

function countR2(meter: Meter, operation: string, n = 1): void {
  meter.usage.r2[operation] = (meter.usage.r2[operation] ?? 0) + n;
}

function meterMultipart(real: R2MultipartUpload, meter: Meter): R2MultipartUpload {
  return {
    get key() {
      return real.key;
    },
    get uploadId() {
      return real.uploadId;
    },
    uploadPart(...args: Parameters<R2MultipartUpload["uploadPart"]>) {
      countR2(meter, "uploadPart");
      return real.uploadPart(...args);
    },
    complete(...args: Parameters<R2MultipartUpload["complete"]>) {
      countR2(meter, "completeMultipartUpload");
      return real.complete(...args);
    },
    abort() {
      countR2(meter, "abortMultipartUpload");
      return real.abort();
    },
  } as R2MultipartUpload;
}

export function meterR2(real: R2Bucket, meter: Meter): R2Bucket {
  const bucket = {
    head(...args: Parameters<R2Bucket["head"]>) {
      countR2(meter, "head");
      return real.head(...args);
    },
    get(...args: Parameters<R2Bucket["get"]>) {
      countR2(meter, "get");
      return real.get(...args);
    },
    put(...args: Parameters<R2Bucket["put"]>) {
      countR2(meter, "put");
      return real.put(...args);
    },
    list(...args: Parameters<R2Bucket["list"]>) {
      countR2(meter, "list");
      return real.list(...args);
    },
    delete(keys: string | string[]) {
      countR2(meter, "delete");
      countR2(meter, "deleteKeys", Array.isArray(keys) ? keys.length : 1);
      return real.delete(keys);
    },
    async createMultipartUpload(...args: Parameters<R2Bucket["createMultipartUpload"]>) {
      countR2(meter, "createMultipartUpload");
      return meterMultipart(await real.createMultipartUpload(...args), meter);
    },
    resumeMultipartUpload(...args: Parameters<R2Bucket["resumeMultipartUpload"]>) {
      // Local only (no request to R2): not counted.
      return meterMultipart(real.resumeMultipartUpload(...args), meter);
    },
  };
  return bucket as unknown as R2Bucket;
}

// ---- Queues ------------------------------------------------------------------------------------

/** Cloudflare: an operation per 64 KB (1 KB = 1,000 bytes) written, read or deleted; ~100 bytes of metadata each. */
const QUEUE_UNIT_BYTES = 64_000;
const QUEUE_METADATA_BYTES = 100;

function countMessage(meter: Meter, body: unknown): void {
  const bytes = typeof body === "string" ? body.length : (JSON.stringify(body)?.length ?? 0);
  const q = meter.usage.queue;
  q.messages++;
  q.bodyBytes += bytes;
  q.units64k += Math.max(1, Math.ceil((bytes + QUEUE_METADATA_BYTES) / QUEUE_UNIT_BYTES));
}

export function meterQueue<Body>(real: Queue<Body>, meter: Meter): Queue<Body> {
  const queue = {
    send(body: Body, options?: QueueSendOptions) {
      meter.usage.queue.sendCalls++;
      countMessage(meter, body);
      return real.send(body, options);
    },
    sendBatch(messages: Iterable<MessageSendRequest<Body>>, options?: QueueSendBatchOptions) {
      const list = [...messages];
      meter.usage.queue.sendCalls++;
      for (const message of list) countMessage(meter, message.body);
      return real.sendBatch(list, options);
    },
  };
  return queue as unknown as Queue<Body>;
}

// ---- Durable Objects ---------------------------------------------------------------------------

function meterStub<T extends object>(real: T, meter: Meter): T {
  return new Proxy(real, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      // Not an RPC call: properties of the stub itself, and `then` (a stub is not awaited).
      if (typeof property === "symbol" || property === "then" || property === "id" || property === "name") {
        return value;
      }
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const dos = meter.usage.durableObjects;
        dos.requests++;
        dos.byMethod[property] = (dos.byMethod[property] ?? 0) + 1;
        return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
}

// biome-ignore lint/suspicious/noExplicitAny: any Durable Object class
export function meterDurableObjects<T extends DurableObjectNamespace<any>>(real: T, meter: Meter): T {
  return new Proxy(real, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== "function") return value;
      if (property === "get" || property === "getByName") {
        return (...args: unknown[]) =>
          meterStub(Reflect.apply(value as (...a: unknown[]) => object, target, args), meter);
      }
      return (...args: unknown[]) => Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
    },
  });
}

// ---- every binding of an env ---------------------------------------------------------------------

const has = (value: object, ...methods: string[]) =>
  methods.every((method) => typeof (value as Record<string, unknown>)[method] === "function");

/**
 * The env with a meter in front of every D1 database, R2 bucket, queue producer and Durable
 * Object namespace, whatever their binding names (so bindings added later are metered too).
 * Vars, secrets and fetchers (service bindings, static assets) pass through: a fetcher is
 * recognised first, as its RPC stub answers any method name.
 */
export function meterEnv<E extends object>(env: E, meter: Meter): E {
  const out: Record<string, unknown> = {};
  for (const [name, binding] of Object.entries(env)) {
    if (binding === null || typeof binding !== "object") out[name] = binding;
    else if (has(binding, "fetch")) out[name] = binding;
    else if (has(binding, "prepare", "batch")) out[name] = meterD1(binding as D1Database, meter);
    else if (has(binding, "createMultipartUpload", "put")) out[name] = meterR2(binding as R2Bucket, meter);
    else if (has(binding, "send", "sendBatch")) out[name] = meterQueue(binding as Queue, meter);
    else if (has(binding, "idFromName", "get"))
      out[name] = meterDurableObjects(binding as DurableObjectNamespace, meter);
    else out[name] = binding;
  }
  return out as E;
}
