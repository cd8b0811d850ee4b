import { HealthReport } from "../../shared/listing-schemas";
import type { HealthPing } from "../../shared/messages";
import { errorMessage } from "../../shared/r2-errors";
import { STAGING_PREFIX } from "../../shared/schemas";
import { defineRoute } from "../http/route";

/** A key nothing writes: R2 answering "no such object" is R2 answering. */
const PROBE_KEY = `${STAGING_PREFIX}healthz-probe`;
const TIMEOUT_MS = 5000;

type Check = HealthReport["checks"]["d1"];

/**
 * Runs one check with a time limit. What went wrong is logged; the answer says only which
 * dependency failed, in words that reveal nothing about the deployment.
 */
async function check(name: string, failure: string, probe: () => Promise<unknown>): Promise<Check> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (error) {
    console.error(
      JSON.stringify({
        event: "health_check_failed",
        check: name,
        code: `${name}_unavailable`,
        error: errorMessage(error),
      }),
    );
    return { ok: false, ms: Math.round(performance.now() - started), error: failure };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export const health = defineRoute(
  {
    method: "get",
    path: "/healthz",
    operationId: "getHealth",
    summary: "Health check",
    description: "Reaches D1, R2 and the queue; 503 names the one that failed.",
    tags: ["meta"],
    security: "none",
    responses: {
      200: { description: "All answered", json: HealthReport },
      503: { description: "One or more failed", json: HealthReport },
    },
  },
  async (c) => {
    const ping: HealthPing = { type: "health.ping" };
    const [d1, r2, queue] = await Promise.all([
      check("d1", "the database did not answer", () => c.env.DB.prepare("SELECT 1").first()),
      check("r2", "the object store did not answer", () => c.env.BUCKET.head(PROBE_KEY)),
      check("queue", "the queue did not take a message", () => c.env.UPLOAD_EVENTS.send(ping, { contentType: "json" })),
    ]);
    const ok = d1.ok && r2.ok && queue.ok;
    const report: HealthReport = { status: ok ? "ok" : "unavailable", checks: { d1, r2, queue } };
    return c.json(report, ok ? 200 : 503, { "Cache-Control": "no-store" });
  },
);
