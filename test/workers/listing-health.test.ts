import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { HealthReport } from "../../shared/listing-schemas";
import { captureLogs, Pipeline } from "./helpers";

/** A binding whose `method` throws, everything else passed through to the real one. */
function failing<T extends object>(real: T, method: string): T {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === method) {
        return () => {
          throw new Error("injected failure at 10.0.0.7: secret internals");
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function healthz(pipeline: Pipeline) {
  pipeline.credential = null;
  const response = await pipeline.json<HealthReport>("/healthz");
  return { ...response, cacheControl: response.headers.get("cache-control") };
}

describe("GET /healthz", () => {
  it("answers 200 with each dependency's timing, with no credential, never cached", async () => {
    const pipeline = new Pipeline();
    const { status, body, cacheControl } = await healthz(pipeline);
    expect(status).toBe(200);
    expect(cacheControl).toBe("no-store");
    expect(body).toEqual({
      status: "ok",
      checks: {
        d1: { ok: true, ms: expect.any(Number) },
        r2: { ok: true, ms: expect.any(Number) },
        queue: { ok: true, ms: expect.any(Number) },
      },
    });
  });

  it("proves the queue with a ping that the consumer acks and does not count as malformed", async () => {
    const pipeline = new Pipeline();
    await healthz(pipeline);
    const sent = pipeline.queue.drainAll();
    expect(sent).toEqual([{ type: "health.ping" }]);
    const result = await pipeline.deliver(sent);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    const malformed = await env.DB.prepare("SELECT value FROM counters WHERE name = 'malformed_messages'").first();
    expect(malformed).toBeNull();
  });

  it.each([
    ["d1", () => new Pipeline({ db: failing(env.DB, "prepare") })],
    ["r2", () => new Pipeline({ bucket: failing(env.BUCKET, "head") })],
    [
      "queue",
      () => {
        const pipeline = new Pipeline();
        pipeline.queue.failing = true;
        return pipeline;
      },
    ],
  ] as const)("answers 503 naming %s when it fails, and leaks nothing of the error", async (name, make) => {
    const logs = captureLogs(["health_check_failed"]);
    const { status, body, cacheControl } = await healthz(make());
    expect(status).toBe(503);
    expect(cacheControl).toBe("no-store");
    expect(body.status).toBe("unavailable");
    for (const [check, result] of Object.entries(body.checks)) {
      expect(result.ok, check).toBe(check !== name);
    }
    const failed = body.checks[name];
    expect(failed.error).toEqual(expect.any(String));
    expect(JSON.stringify(body)).not.toMatch(/injected|10\.0\.0\.7|secret/);
    expect(logs.named("health_check_failed")).toEqual([expect.objectContaining({ check: name })]);
  });
});
