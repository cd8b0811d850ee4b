// Dead letters, the operator's actions: a replay puts the body back on the queue once (under a
// claim, whatever races it or fails), a discard sets it aside for good; on the real local D1 and
// queue, with a recording queue wrapper where a refusal is the point.
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { deliverDead, freshPipeline, operator, webhookDelivery } from "./dead-letter-helpers";
import { captureLogs, PART, type Pipeline, uploadParts } from "./helpers";

let pipeline: Pipeline;
let desk: ReturnType<typeof operator>;
const replay = (id: string) => desk.replay(id);
const discard = (id: string) => desk.discard(id);
const stored = (messageId: string) => desk.stored(messageId);

beforeEach(async () => {
  pipeline = await freshPipeline();
  desk = operator(pipeline);
});

describe("replaying and discarding", () => {
  it("replays a dead part event once, and the upload then completes", async () => {
    const upload = await pipeline.create({ key: "dead/replayed.bin", parts: 2, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1, 2], 2, 1024, 71);
    // Both part events die: the parts are in D1, but nothing tells the consumer to look.
    const events = pipeline.queue.drain();
    expect(events).toHaveLength(2);
    captureLogs(["dead_letter", "dead_letter_replayed", "completion_completed"]);
    await deliverDead(events, { ids: ["m-part-1", "m-part-2"] });
    expect((await pipeline.status(upload.uploadId)).state).toBe("open");
    const dead = await stored("m-part-2");
    expect(dead).toMatchObject({ type: "part.uploaded", uploadId: upload.uploadId, key: "dead/replayed.bin" });
    const second = events[1];

    const replayed = await replay(dead.id);
    expect(replayed.status).toBe(200);
    expect(replayed.body).toMatchObject({ outcome: "replayed", deadLetter: { id: dead.id, state: "replayed" } });
    expect(replayed.body.deadLetter.replayedAt).toEqual(expect.any(String));
    expect(pipeline.queue.sent).toEqual([second]);

    const again = await replay(dead.id);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ outcome: "already_replayed", deadLetter: { state: "replayed" } });
    expect(pipeline.queue.sent).toHaveLength(1);

    await pipeline.settle();
    expect(await pipeline.status(upload.uploadId)).toMatchObject({ state: "completed", receivedParts: 2 });
  });

  it("sends once when two replays race", async () => {
    captureLogs(["dead_letter", "dead_letter_replayed"]);
    await deliverDead([webhookDelivery("up-race", "dead/race.bin")], { ids: ["m-race"] });
    const { id } = await stored("m-race");
    const answers = await Promise.all([replay(id), replay(id), replay(id)]);
    const outcomes = answers.map((answer) => (answer.status === 200 ? answer.body.outcome : answer.status));
    expect(outcomes.filter((outcome) => outcome === "replayed")).toHaveLength(1);
    // The others found it replayed, or still being replayed (409).
    for (const outcome of outcomes) expect(["replayed", "already_replayed", 409]).toContain(outcome);
    expect(pipeline.queue.sent).toHaveLength(1);
  });

  it("gives the claim back when the queue refuses the replay, so a later replay sends it", async () => {
    const logs = captureLogs(["dead_letter", "dead_letter_replay_failed", "dead_letter_replayed"]);
    await deliverDead([webhookDelivery("up-q", "dead/queue.bin")], { ids: ["m-queue"] });
    const { id } = await stored("m-queue");
    pipeline.queue.failing = true;
    const refused = await replay(id);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.body).toMatchObject({ error: { code: "enqueue_failed" } });
    expect(logs.named("dead_letter_replay_failed")).toMatchObject([{ level: "error", code: "enqueue_failed", id }]);
    expect((await stored("m-queue")).state).toBe("dead");

    pipeline.queue.failing = false;
    expect((await replay(id)).body.outcome).toBe("replayed");
    expect(pipeline.queue.sent).toHaveLength(1);
  });

  it("takes over a replay whose Worker died after claiming it, once the claim lapsed", async () => {
    captureLogs(["dead_letter", "dead_letter_replayed"]);
    await deliverDead([webhookDelivery("up-lapse", "dead/lapse.bin")], { ids: ["m-lapse"] });
    const { id } = await stored("m-lapse");
    await env.DB.prepare(
      "UPDATE dead_letters SET state = 'replaying', replay_claim = 'gone', replay_started_at = ?2 WHERE id = ?1",
    )
      .bind(id, Date.now() - 5_000)
      .run();
    expect((await replay(id)).status).toBe(409);
    expect((await discard(id)).status).toBe(409);
    await env.DB.prepare("UPDATE dead_letters SET replay_started_at = ?2 WHERE id = ?1")
      .bind(id, Date.now() - 61_000)
      .run();
    expect((await replay(id)).body.outcome).toBe("replayed");
    expect(pipeline.queue.sent).toHaveLength(1);
  });

  it("discards for good: again is a no-op, a replay is refused, a late delivery does not bring it back", async () => {
    captureLogs(["dead_letter"]);
    const body = webhookDelivery("up-d", "dead/discard.bin");
    await deliverDead([body], { ids: ["m-discard"] });
    const { id } = await stored("m-discard");
    const discarded = await discard(id);
    expect(discarded.status).toBe(200);
    expect(discarded.body).toMatchObject({ id, state: "discarded" });
    const again = await discard(id);
    expect(again.body).toMatchObject({ state: "discarded", discardedAt: discarded.body.discardedAt });
    const refused = await replay(id);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: { code: "dead_letter_conflict", details: { state: "discarded" } } });
    expect(pipeline.queue.sent).toEqual([]);

    await deliverDead([body], { ids: ["m-discard"] });
    expect(await stored("m-discard")).toMatchObject({ state: "discarded", attempts: 2 });
  });

  it("answers 404 for an id that names no dead letter", async () => {
    for (const answer of [await replay("no-such-letter"), await discard("no-such-letter")]) {
      expect(answer.status).toBe(404);
      expect(answer.body).toMatchObject({ error: { code: "dead_letter_not_found" } });
    }
  });
});
