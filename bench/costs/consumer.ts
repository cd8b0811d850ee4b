// Bench-only entry of the consumer Worker for the costs benchmark: the real consumer
// (consumer/index.ts, unchanged) with its real bindings behind the meters of ./meter.ts. Its
// config is a temporary copy of consumer/wrangler.toml whose `main` is this file. Every D1, R2,
// queue and Durable Object binding is metered, whatever its name (meterEnv).
//
//   GET  /__costs/usage  -> { invocations, deliveries, redeliveries, running, usage } since the last reset
//   POST /__costs/reset  -> zeroes them
import type { Env } from "../../consumer/env";
import consumer from "../../consumer/index";
import { freshUsage, type Meter, meterEnv } from "./meter";

const meter: Meter = { usage: freshUsage() };
const freshInvocations = () => ({ queue: 0, scheduled: 0, deliveries: 0, redeliveries: 0, retried: 0 });
let invocations = freshInvocations();
let running = 0;

const meteredEnv = (env: Env): Env => meterEnv(env, meter);

/** The batch with every message's retry() counted (a retry is one more queue read later). */
function countedBatch(
  batch: MessageBatch<unknown>,
  counts: ReturnType<typeof freshInvocations>,
): MessageBatch<unknown> {
  const messages = batch.messages.map(
    (message) =>
      new Proxy(message, {
        get(target, property) {
          const value = Reflect.get(target, property, target) as unknown;
          if (typeof value !== "function") return value;
          if (property === "retry") {
            return (...args: unknown[]) => {
              counts.retried++;
              return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
            };
          }
          return (...args: unknown[]) => Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
        },
      }),
  );
  return new Proxy(batch, {
    get(target, property) {
      if (property === "messages") return messages;
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== "function") return value;
      if (property === "retryAll") {
        return (...args: unknown[]) => {
          counts.retried += messages.length;
          return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
        };
      }
      return (...args: unknown[]) => Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
    },
  });
}

export default {
  async queue(batch, env): Promise<void> {
    const counts = invocations;
    counts.queue++;
    counts.deliveries += batch.messages.length;
    counts.redeliveries += batch.messages.filter((message) => message.attempts > 1).length;
    running++;
    try {
      await consumer.queue(countedBatch(batch, counts), meteredEnv(env));
    } finally {
      running--;
    }
  },
  async scheduled(controller, env): Promise<void> {
    invocations.scheduled++;
    await consumer.scheduled(controller, meteredEnv(env));
  },
  async fetch(request): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/__costs/usage")
      return Response.json({ invocations, running, usage: meter.usage });
    if (request.method === "POST" && url.pathname === "/__costs/reset") {
      meter.usage = freshUsage();
      invocations = freshInvocations();
      return Response.json({ ok: true });
    }
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env, unknown>;
