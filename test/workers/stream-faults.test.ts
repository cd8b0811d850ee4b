import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { stagingPrefix } from "../../shared/db/chunks";
import { ChaosQueue, chaosPipeline, type FaultRates, Rng, withRetries } from "./chaos";
import { bytes, captureLogs, concat, MiB, objectBytes, PART, Pipeline, sha256 } from "./helpers";
import { D1_STORE } from "./stream-helpers";

const STREAMS = 24;
const LONG_STREAMS = 4;
const ABANDON_RATE = 0.2;
const DUPLICATE_RATE = 0.2;
const RESEND_RATE = 0.1;
const RATES: FaultRates = {
  uploadPart: 0.1,
  complete: 0.15,
  abort: 0.5,
  d1Batch: 0.05,
  queueSend: 0.08,
  dieAfterClaim: 0.1,
  put: 0.08,
  get: 0.08,
  delete: 0.15,
};
const MINUTE = 60_000;
/** What the Workers log under these faults; all of it is asserted or expected, none printed. */
const LOGGED = [
  ...["stage_chunk_failed", "enqueue_failed", "unhandled_error", "announce_failed", "coalesce_failed"],
  ...["retrying_messages", "completion_error", "completion_retry", "r2_abort_failed", "staging_delete_failed"],
  ...["completion_completed", "sweep"],
];
/** The errors the fault injection throws; a logged error with any other message is a bug. */
const INJECTED = /^(We encountered an internal error\. Please try again\. \(10001\)|injected.*)$/;

type StreamPlan = {
  uploadId: string;
  key: string;
  chunks: Uint8Array[];
  abandoned: boolean;
};

/** Chunk sizes that add up to `total`, each between 1 byte and `largest`. */
function chunkSizes(rng: Rng, total: number, largest: number): number[] {
  const sizes: number[] = [];
  for (let left = total; left > 0; ) {
    const size = Math.min(left, 1 + rng.int(largest));
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

// The D1 chunk path (streams opened before chunk objects) under faults; stream-object.test.ts
// covers the objects' own failure handling.
describe("chunk streams on the D1 chunk path under injected faults", () => {
  it("completes every stream byte-exact or sweeps it, with no staged chunk left behind", async () => {
    const logs = captureLogs(LOGGED);
    const rng = new Rng(20261126);
    const { faults, pipeline, cron } = chaosPipeline(rng, RATES, D1_STORE.producerVars);
    const healthy = new Pipeline(D1_STORE);

    const plans: StreamPlan[] = [];
    for (let i = 0; i < STREAMS; i++) {
      // A few streams span several parts (coalesced while they arrive); most stay under one.
      const long = i < LONG_STREAMS;
      const total = long ? PART + 1 + rng.int(PART) : 1 + rng.int(600 * 1024);
      const sizes = chunkSizes(rng, total, long ? MiB : 64 * 1024);
      const key = `stream-chaos/${i}.bin`;
      const created = await withRetries(() =>
        pipeline.json<{ uploadId: string }>("/uploads", {
          method: "POST",
          body: JSON.stringify({ key, mode: "stream", partSize: PART, staleAfterSeconds: 3600 }),
        }),
      );
      expect(created.status).toBe(201);
      plans.push({
        uploadId: created.body.uploadId,
        key,
        chunks: sizes.map((size) => bytes(size, rng.int(2 ** 30))),
        abandoned: rng.chance(ABANDON_RATE),
      });
    }

    // Chunks of all streams in random order; an abandoned stream never sends its final chunk.
    const sends = plans.flatMap((plan) => {
      const count = plan.abandoned ? plan.chunks.length - 1 : plan.chunks.length;
      return Array.from({ length: count }, (_, index) => ({ plan, seq: index + 1 }));
    });
    for (const { plan, seq } of rng.shuffle(sends)) {
      const final = seq === plan.chunks.length;
      const copies = rng.chance(RESEND_RATE) ? 2 : 1;
      for (let copy = 0; copy < copies; copy++) {
        const response = await withRetries(() =>
          pipeline.putChunk(plan.uploadId, seq, plan.chunks[seq - 1]!, { final }),
        );
        expect(response.status, `${plan.key} chunk ${seq}: ${JSON.stringify(response.body)}`).toBe(200);
      }
    }

    // The queue: random batches, duplicates, retried messages come back, and whatever the
    // consumer queues for itself (a stream continuing in a new invocation) joins them.
    const queue = new ChaosQueue(pipeline, rng, DUPLICATE_RATE);
    const drain = () => queue.drain(() => pipeline.queue.drainAll());
    await drain();
    // Leases and claims of invocations that "died" run out; the cron advances those streams.
    for (let run = 1; run <= 8; run++) {
      await cron(Date.now() + run * 5 * MINUTE);
      await drain();
    }
    // Much later the abandoned streams go stale and are swept, staged chunks and all.
    for (let run = 0; run < 8; run++) {
      await cron(Date.now() + 2 * 60 * MINUTE + run * MINUTE);
      await drain();
    }

    // The mix really has both outcomes, and streams that span several parts among the completed.
    expect(plans.filter((plan) => plan.abandoned).length).toBeGreaterThan(0);
    expect(plans.filter((plan) => !plan.abandoned && concat(...plan.chunks).byteLength > PART).length).toBeGreaterThan(
      0,
    );
    expect(queue.pending).toEqual([]);
    expect(queue.deadLetters).toEqual([]);

    for (const plan of plans) {
      const status = await healthy.status(plan.uploadId);
      if (plan.abandoned) {
        expect(status.state, plan.key).toBe("aborted");
        expect(await objectBytes(plan.key), plan.key).toBeNull();
      } else {
        expect(status.state, `${plan.key}: ${status.failureReason}`).toBe("completed");
        expect(await sha256((await objectBytes(plan.key))!), plan.key).toBe(await sha256(concat(...plan.chunks)));
      }
      const staged = await env.BUCKET.list({ prefix: stagingPrefix(plan.uploadId) });
      expect(
        staged.objects.map((object) => object.key),
        `${plan.key} (${status.state})`,
      ).toEqual([]);
    }
    // Faults really were injected, of every kind.
    for (const [kind, count] of Object.entries(faults.injected)) expect(count, kind).toBeGreaterThan(0);
    const unsettled = await env.DB.prepare(
      "SELECT count(*) AS n FROM uploads WHERE object_key LIKE 'stream-chaos/%' AND (state NOT IN ('completed', 'aborted') OR r2_abort_pending = 1 OR claim_id IS NOT NULL)",
    ).first<{ n: number }>();
    expect(unsettled?.n).toBe(0);

    // Staging and coalescing failures were logged as such, and every error logged was injected.
    expect(logs.count("stage_chunk_failed"), JSON.stringify(logs.counts())).toBeGreaterThan(0);
    expect(logs.count("coalesce_failed"), JSON.stringify(logs.counts())).toBeGreaterThan(0);
    for (const entry of logs.events.filter((event) => "error" in event)) {
      expect(entry.error, JSON.stringify(entry)).toMatch(INJECTED);
    }
  }, 180_000);
});
