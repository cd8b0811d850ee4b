import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ChaosQueue, chaosPipeline, type FaultRates, Rng, withRetries } from "./chaos";
import { bytes, captureLogs, concat, objectBytes, PART, Pipeline, r2UploadIdOf, sha256 } from "./helpers";

const UPLOADS = 200;
const ABANDON_RATE = 0.1;
const DUPLICATE_RATE = 0.2;
/** Events lost after their part's 2xx (a runtime killed with its in-memory queue): the cron finds those uploads. */
const LOSS_RATE = 0.05;
/** Re-sends of an accepted part whose bytes do not match their Content-Digest: refused, and must change nothing. */
const CORRUPT_RESEND_RATE = 0.05;
const RATES: FaultRates = {
  uploadPart: 0.1,
  complete: 0.15,
  abort: 0.2,
  d1Batch: 0.08,
  queueSend: 0.1,
  dieAfterClaim: 0.1,
};
const MINUTE = 60_000;
/** What the Workers log under these faults; all of it is asserted or expected, none printed. */
const LOGGED = [
  ...["upload_part_failed", "record_part_failed", "enqueue_failed", "unhandled_error", "announce_failed"],
  ...["retrying_messages", "completion_error", "completion_retry", "r2_abort_failed"],
  ...["completion_completed", "sweep"],
];
/** The errors the fault injection throws; a logged error with any other message is a bug. */
const INJECTED = /^(We encountered an internal error\. Please try again\. \(10001\)|injected.*)$/;

type Plan = {
  uploadId: string;
  key: string;
  sizes: number[];
  /** The bytes the object must hold: the last version of each part that got a 2xx. */
  latest: Map<number, Uint8Array>;
  abandoned: boolean;
};

describe("the pipeline under injected faults", () => {
  it("ends every one of 200 uploads completed byte-exact or aborted, with nothing stuck or half-done", async () => {
    const logs = captureLogs(LOGGED);
    const rng = new Rng(20261125);
    const { faults, pipeline, cron } = chaosPipeline(rng, RATES);
    const healthy = new Pipeline();

    const plans: Plan[] = [];
    for (let i = 0; i < UPLOADS; i++) {
      const multipart = rng.chance(0.1);
      const sizes = multipart ? [PART, 1 + rng.int(1000)] : [1 + rng.int(256 * 1024)];
      const key = `chaos/${i}.bin`;
      const created = await withRetries(() =>
        pipeline.json<{ uploadId: string }>("/uploads", {
          method: "POST",
          body: JSON.stringify({ key, parts: sizes.length, partSize: PART, staleAfterSeconds: 3600 }),
        }),
      );
      expect(created.status).toBe(201);
      plans.push({
        uploadId: created.body.uploadId,
        key,
        sizes,
        latest: new Map(),
        abandoned: rng.chance(ABANDON_RATE),
      });
    }

    // Parts go out in random order across all uploads; abandoned uploads stop before their last part.
    let corruptResends = 0;
    const sends = plans.flatMap((plan) => {
      const numbers = plan.sizes.map((_, index) => index + 1);
      return (plan.abandoned ? numbers.slice(0, rng.int(numbers.length)) : numbers).map((n) => ({ plan, n }));
    });
    for (const { plan, n } of rng.shuffle(sends)) {
      const versions = rng.chance(0.05) ? 2 : 1;
      for (let version = 0; version < versions; version++) {
        const data = bytes(plan.sizes[n - 1]!, rng.int(2 ** 30));
        const response = await withRetries(() => pipeline.putPart(plan.uploadId, n, data));
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        plan.latest.set(n, data);
      }
      if (rng.chance(CORRUPT_RESEND_RATE)) {
        const accepted = plan.latest.get(n)!;
        const digest = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", accepted))));
        const corrupt = bytes(accepted.byteLength, rng.int(2 ** 30));
        const refused = await withRetries(() =>
          pipeline.putPart(plan.uploadId, n, corrupt, { headers: { "content-digest": `sha-256=:${digest}:` } }),
        );
        expect(refused.status, JSON.stringify(refused.body)).toBe(400);
        corruptResends++;
      }
    }

    // The queue: random batches, 20% of messages delivered twice, retried messages come back.
    const abandonedIds = new Set(plans.filter((plan) => plan.abandoned).map((plan) => plan.uploadId));
    const events = pipeline.queue.drain();
    const late = events.filter((event) => abandonedIds.has(event.uploadId) && rng.chance(0.5));
    const lost = events.filter((event) => !late.includes(event) && rng.chance(LOSS_RATE));
    const queue = new ChaosQueue(pipeline, rng, DUPLICATE_RATE);
    queue.add(events.filter((event) => !late.includes(event) && !lost.includes(event)));
    await queue.drain();
    // Claims left by invocations that "died" are taken over once their lease runs out.
    for (let run = 1; run <= 5; run++) await cron(Date.now() + run * 5 * MINUTE);
    await queue.drain();
    for (let run = 6; run <= 8; run++) await cron(Date.now() + run * 5 * MINUTE);

    // Later the abandoned uploads go stale; some of their events are still in flight and land after.
    for (let run = 0; run < 3; run++) await cron(Date.now() + 2 * 60 * MINUTE + run * MINUTE);
    queue.add(late);
    await queue.drain();
    for (let run = 3; run < 8; run++) await cron(Date.now() + 2 * 60 * MINUTE + run * MINUTE);

    expect(queue.pending).toEqual([]);
    expect(queue.deadLetters).toEqual([]);
    // Faults really were injected, of every kind, and so were lost events and refused re-sends.
    expect(lost.length).toBeGreaterThan(0);
    expect(corruptResends).toBeGreaterThan(0);
    for (const [kind, count] of Object.entries(faults.injected)) expect(count, kind).toBeGreaterThan(0);

    for (const plan of plans) {
      const status = await healthy.status(plan.uploadId);
      const complete = plan.latest.size === plan.sizes.length;
      if (plan.abandoned && !complete) {
        expect(status.state, plan.key).toBe("aborted");
        expect(await objectBytes(plan.key), plan.key).toBeNull();
        const r2 = env.BUCKET.resumeMultipartUpload(plan.key, await r2UploadIdOf(plan.uploadId));
        await expect(r2.uploadPart(1, bytes(10, 1)), plan.key).rejects.toThrow(/does not exist/);
      } else {
        expect(status.state, `${plan.key}: ${status.failureReason}`).toBe("completed");
        const expected = concat(...plan.sizes.map((_, index) => plan.latest.get(index + 1)!));
        expect(await sha256((await objectBytes(plan.key))!), plan.key).toBe(await sha256(expected));
      }
    }
    const unsettled = await env.DB.prepare(
      "SELECT count(*) AS n FROM uploads WHERE object_key LIKE 'chaos/%' AND (state NOT IN ('completed', 'aborted') OR r2_abort_pending = 1 OR claim_id IS NOT NULL)",
    ).first<{ n: number }>();
    expect(unsettled?.n).toBe(0);

    // Each storage failure of a part was logged as one, and every error logged was injected.
    expect(logs.count("upload_part_failed"), JSON.stringify(logs.counts())).toBe(faults.injected.uploadPart);
    for (const entry of logs.events.filter((event) => "error" in event)) {
      expect(entry.error, JSON.stringify(entry)).toMatch(INJECTED);
    }
    // Only uploads that did complete were logged as completed (the cron's retries log counts).
    const completed = plans.filter((plan) => plan.latest.size === plan.sizes.length).map((plan) => plan.uploadId);
    const loggedCompleted = new Set(logs.named("completion_completed").map((entry) => entry.uploadId));
    expect(loggedCompleted.size).toBeGreaterThan(0);
    expect(completed).toEqual(expect.arrayContaining([...loggedCompleted]));
  }, 180_000);
});
