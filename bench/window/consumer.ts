// Bench-only entry of the consumer Worker for the batch-window benchmark: the product's consumer
// (consumer/index.ts, unchanged) with its real D1 binding behind a counter. Nothing is mocked:
// every statement still runs against the same local D1; the wrapper only counts on the way.
//
//   GET  /counters  -> totals since the last reset (see Totals), per kind of invocation
//   POST /reset     -> zeroes them
//
// A D1 round trip is one `db.batch()` call (any number of statements, one transaction) or one
// statement run on its own (`first`, `run`, `all`, `raw`) or one `exec()`. The counters live in
// the consumer's isolate, which serves both its queue and its fetch handler locally.
import type { Env } from "../../consumer/env";
import consumer from "../../consumer/index";

type Usage = { roundTrips: number; batchCalls: number; statements: number };

type Totals = {
  /** Invocations that carried at least one part event, and what they did. */
  partInvocations: number;
  partEvents: number;
  messagesInPartInvocations: number;
  roundTrips: number;
  batchCalls: number;
  statements: number;
  handlerMs: number;
  /** Part events per invocation: how many invocations had 1, 2, ... part events. */
  partBatchSizes: Record<string, number>;
  /** Invocations without part events (upload.ended notifications and the like). */
  otherInvocations: number;
  otherMessages: number;
  otherRoundTrips: number;
  /** The most invocations running at once. */
  maxConcurrent: number;
};

const fresh = (): Totals => ({
  partInvocations: 0,
  partEvents: 0,
  messagesInPartInvocations: 0,
  roundTrips: 0,
  batchCalls: 0,
  statements: 0,
  handlerMs: 0,
  partBatchSizes: {},
  otherInvocations: 0,
  otherMessages: 0,
  otherRoundTrips: 0,
  maxConcurrent: 0,
});

let totals = fresh();
let running = 0;

/** The real statements behind the counted ones, for `db.batch()`. */
const realOf = new WeakMap<D1PreparedStatement, D1PreparedStatement>();
const RUNS_ALONE = new Set<PropertyKey>(["first", "run", "all", "raw"]);

function countedStatement(real: D1PreparedStatement, usage: Usage): D1PreparedStatement {
  const counted = new Proxy(real, {
    get(target, property) {
      if (property === "bind") {
        return (...values: unknown[]) => countedStatement(target.bind(...values), usage);
      }
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (RUNS_ALONE.has(property)) {
        return (...args: unknown[]) => {
          usage.roundTrips++;
          usage.statements++;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  realOf.set(counted, real);
  return counted;
}

function countedDatabase(real: D1Database, usage: Usage): D1Database {
  const db = {
    prepare: (query: string) => countedStatement(real.prepare(query), usage),
    batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
      usage.roundTrips++;
      usage.batchCalls++;
      usage.statements += statements.length;
      return real.batch<T>(statements.map((statement) => realOf.get(statement) ?? statement));
    },
    exec(query: string): Promise<D1ExecResult> {
      usage.roundTrips++;
      usage.statements++;
      return real.exec(query);
    },
    dump: () => real.dump(),
    withSession: () => {
      throw new Error("the batch-window benchmark does not count D1 sessions");
    },
  };
  return db as unknown as D1Database;
}

const isPartEvent = (body: unknown): boolean =>
  typeof body === "object" && body !== null && (body as { type?: unknown }).type === "part.uploaded";

export default {
  async queue(batch, env): Promise<void> {
    const usage: Usage = { roundTrips: 0, batchCalls: 0, statements: 0 };
    const parts = batch.messages.filter((message) => isPartEvent(message.body)).length;
    running++;
    totals.maxConcurrent = Math.max(totals.maxConcurrent, running);
    const started = Date.now();
    const counting = totals;
    try {
      await consumer.queue(batch, { ...env, DB: countedDatabase(env.DB, usage) });
    } finally {
      running--;
      // A reset while this invocation ran starts a new count; the invocation belongs to the old one.
      if (counting === totals) {
        if (parts > 0) {
          totals.partInvocations++;
          totals.partEvents += parts;
          totals.messagesInPartInvocations += batch.messages.length;
          totals.roundTrips += usage.roundTrips;
          totals.batchCalls += usage.batchCalls;
          totals.statements += usage.statements;
          totals.handlerMs += Date.now() - started;
          totals.partBatchSizes[parts] = (totals.partBatchSizes[parts] ?? 0) + 1;
        } else {
          totals.otherInvocations++;
          totals.otherMessages += batch.messages.length;
          totals.otherRoundTrips += usage.roundTrips;
        }
      }
    }
  },
  scheduled: consumer.scheduled,
  async fetch(request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/counters") return Response.json({ ...totals, running });
    if (request.method === "POST" && url.pathname === "/reset") {
      totals = fresh();
      return Response.json({ ok: true });
    }
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env, unknown>;
