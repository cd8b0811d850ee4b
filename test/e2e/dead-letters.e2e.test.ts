// A message that keeps failing goes through the queue's real retries into the real dead-letter
// queue, where the consumer stores it; an operator lists it, replays it once the cause is fixed,
// and the replayed message runs to completion. Both Workers run from their wrangler configs
// (the consumer's with max_retries = 2, so that it dies in seconds rather than hours).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { DeadLetter, DeadLetterList, DeadLetterReplay } from "../../shared/dead-letter-schemas";
import { type DeadLetterHarness, startDeadLetterHarness } from "./dead-letter-harness";

const MAX_RETRIES = 2;
const wait = { timeout: 30_000, interval: 100 };

let harness: DeadLetterHarness;

beforeAll(async () => {
  harness = await startDeadLetterHarness({ maxRetries: MAX_RETRIES });
});

afterAll(() => harness.close());

const deliveriesOf = (uploadId: string) =>
  harness.receiver.deliveries.filter(
    (delivery) => (JSON.parse(delivery.body) as { uploadId: string }).uploadId === uploadId,
  );

async function deadLetterOf(uploadId: string): Promise<DeadLetter | undefined> {
  const { body } = await harness.api<DeadLetterList>("/dead-letters");
  return body.items.find((item) => item.uploadId === uploadId);
}

describe("a webhook delivery that keeps failing", () => {
  it("lands in the dead-letter queue after its retries, is stored, and completes once replayed", async () => {
    const uploadId = await harness.abortedUpload("e2e/dead-letter.bin");

    // Every attempt the queue allows is refused, then the message is dead and stored.
    const dead = await vi.waitFor(async () => {
      const found = await deadLetterOf(uploadId);
      expect(found).toBeDefined();
      return found as DeadLetter;
    }, wait);
    expect(deliveriesOf(uploadId).map((delivery) => delivery.status)).toEqual(Array(MAX_RETRIES + 1).fill(500));
    expect(dead).toMatchObject({
      queue: "ingest-events-dlq",
      type: "webhook.deliver",
      uploadId,
      key: "e2e/dead-letter.bin",
      state: "dead",
      attempts: 1,
      body: { type: "webhook.deliver", notification: { type: "upload.aborted", uploadId } },
    });
    const logged = harness.server.getLogs().filter((log) => log.message.includes('"event":"dead_letter"'));
    expect(logged.some((log) => log.message.includes(dead.messageId))).toBe(true);

    // The receiver is fixed; the replay delivers the notification under its original webhook-id.
    harness.receiver.state.status = 204;
    const replayed = await harness.api<DeadLetterReplay>(`/dead-letters/${dead.id}/replay`, { method: "POST" });
    expect(replayed.status).toBe(200);
    expect(replayed.body).toMatchObject({ outcome: "replayed", deadLetter: { id: dead.id, state: "replayed" } });
    await vi.waitFor(() => expect(deliveriesOf(uploadId).at(-1)?.status).toBe(204), wait);
    const ids = new Set(deliveriesOf(uploadId).map((delivery) => delivery.headers["webhook-id"]));
    expect(ids).toEqual(new Set([`${uploadId}:aborted`]));

    // A second replay sends nothing: a later upload's notification arrives, this one never again.
    const again = await harness.api<DeadLetterReplay>(`/dead-letters/${dead.id}/replay`, { method: "POST" });
    expect(again.body.outcome).toBe("already_replayed");
    const later = await harness.abortedUpload("e2e/after-replay.bin");
    await vi.waitFor(() => expect(deliveriesOf(later).map((delivery) => delivery.status)).toEqual([204]), wait);
    expect(deliveriesOf(uploadId).filter((delivery) => delivery.status === 204)).toHaveLength(1);
    expect(await deadLetterOf(later)).toBeUndefined();

    // Discarded, it stays listed as such.
    const discarded = await harness.api<DeadLetter>(`/dead-letters/${dead.id}`, { method: "DELETE" });
    expect(discarded.body).toMatchObject({ state: "discarded" });
    const { body } = await harness.api<DeadLetterList>("/dead-letters?state=discarded");
    expect(body.items.map((item) => item.id)).toEqual([dead.id]);
  });
});
