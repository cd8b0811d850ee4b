import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { PartEvent } from "../../shared/schemas";
import { flakyBindings, type FaultRates, Rng } from "./chaos";
import { bytes, concat, objectBytes, Pipeline, PART, sha256 } from "./helpers";

const UPLOADS = 200;
const ABANDON_RATE = 0.1;
const DUPLICATE_RATE = 0.2;
const RATES: FaultRates = {
  uploadPart: 0.1,
  complete: 0.15,
  abort: 0.2,
  d1Batch: 0.08,
  queueSend: 0.1,
  dieAfterClaim: 0.1,
};
const MINUTE = 60_000;

type Plan = {
  uploadId: string;
  key: string;
  sizes: number[];
  /** The bytes the object must hold: the last version of each part that got a 2xx. */
  latest: Map<number, Uint8Array>;
  abandoned: boolean;
};

type Pending = { body: PartEvent; attempts: number };

describe("the pipeline under injected faults", () => {
  it("ends every one of 200 uploads completed byte-exact or aborted, with nothing stuck or half-done", async () => {
    const rng = new Rng(20261125);
    const faults = flakyBindings(env.BUCKET, env.DB, rng, RATES);
    const pipeline = new Pipeline({ bucket: faults.bucket, db: faults.db });
    pipeline.queue.failWhen = () => {
      if (!rng.chance(RATES.queueSend)) return false;
      faults.injected.queueSend = (faults.injected.queueSend ?? 0) + 1;
      return true;
    };
    // A cron run can die too (an injected fault); the next run picks up where it left off.
    const cron = (at: number) => pipeline.cron(at).catch(() => undefined);
    const healthy = new Pipeline();

    // A client that retries whatever the producer says it should retry.
    const withRetries = async <T extends { status: number }>(send: () => Promise<T>): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        const response = await send();
        if (response.status < 500 || attempt === 30) return response;
      }
    };

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
      plans.push({ uploadId: created.body.uploadId, key, sizes, latest: new Map(), abandoned: rng.chance(ABANDON_RATE) });
    }

    // Parts go out in random order across all uploads; abandoned uploads stop before their last part.
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
    }

    // The queue: random batches, 20% of messages delivered twice, retried messages come back.
    const abandonedIds = new Set(plans.filter((plan) => plan.abandoned).map((plan) => plan.uploadId));
    const events = pipeline.queue.drain();
    const late = events.filter((event) => abandonedIds.has(event.uploadId) && rng.chance(0.5));
    let pending: Pending[] = events.filter((event) => !late.includes(event)).map((body) => ({ body, attempts: 1 }));
    pending.push(...pending.filter(() => rng.chance(DUPLICATE_RATE)).map((item) => ({ ...item })));
    const deadLetters: Pending[] = [];
    const drain = async () => {
      for (let round = 0; pending.length > 0 && round < 200; round++) {
        const batch = rng.shuffle(pending).slice(0, 1 + rng.int(20));
        pending = pending.filter((item) => !batch.includes(item));
        const result = await pipeline.deliver(batch.map((item) => item.body));
        const retried = new Set(result.retryMessages.map((message) => message.msgId));
        const ids = [...retried].map((id) => Number(id.split("-").at(-1)));
        for (const index of ids) {
          const item = batch[index]!;
          if (item.attempts >= 10) deadLetters.push(item);
          else pending.push({ body: item.body, attempts: item.attempts + 1 });
        }
      }
    };
    await drain();
    // Claims left by invocations that "died" are taken over once their lease runs out.
    for (let run = 1; run <= 5; run++) await cron(Date.now() + run * 5 * MINUTE);
    await drain();
    for (let run = 6; run <= 8; run++) await cron(Date.now() + run * 5 * MINUTE);

    // Later the abandoned uploads go stale; some of their events are still in flight and land after.
    for (let run = 0; run < 3; run++) await cron(Date.now() + 2 * 60 * MINUTE + run * MINUTE);
    pending = late.map((body) => ({ body, attempts: 1 }));
    await drain();
    for (let run = 3; run < 8; run++) await cron(Date.now() + 2 * 60 * MINUTE + run * MINUTE);

    expect(pending).toEqual([]);
    expect(deadLetters).toEqual([]);
    // Faults really were injected, of every kind.
    for (const [kind, count] of Object.entries(faults.injected)) expect(count, kind).toBeGreaterThan(0);

    for (const plan of plans) {
      const status = await healthy.status(plan.uploadId);
      const complete = plan.latest.size === plan.sizes.length;
      if (plan.abandoned && !complete) {
        expect(status.state, plan.key).toBe("aborted");
        expect(await objectBytes(plan.key), plan.key).toBeNull();
        const r2 = env.BUCKET.resumeMultipartUpload(plan.key, plan.uploadId);
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
  }, 180_000);
});
