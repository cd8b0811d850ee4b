// Dead letters: what the consumer does with a batch of the dead-letter queue (store, log, ack,
// idempotent on the message id), and the API an operator uses on them (list, replay, discard),
// on the real local D1 and queue, with wrapped bindings where a fault is the point.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import consumer from "../../consumer/index";
import { storeDeadLettersStatements } from "../../shared/db/dead-letters";
import type { DeadLetter, DeadLetterList, DeadLetterReplay } from "../../shared/dead-letter-schemas";
import { notificationFor } from "../../shared/notifications";
import { countRoundTrips, flakyDb } from "./faults";
import { captureLogs, DEV_KEY, FLEET_KEY, PART, Pipeline, uploadParts } from "./helpers";

const DLQ = "ingest-events-dlq";

let pipeline: Pipeline;

beforeEach(async () => {
  await env.DB.prepare("DELETE FROM dead_letters").run();
  pipeline = new Pipeline();
});

/** Delivers bodies to the consumer as one batch of the dead-letter queue; ids default to fresh ones. */
async function deliverDead(bodies: unknown[], options: { ids?: string[]; db?: D1Database; attempts?: number } = {}) {
  const batch = createMessageBatch<unknown>(
    DLQ,
    bodies.map((body, index) => ({
      id: options.ids?.[index] ?? `dead-${crypto.randomUUID()}`,
      timestamp: new Date(Date.now() - 60_000),
      attempts: options.attempts ?? 1,
      body,
    })),
  );
  await consumer.queue(batch, { ...env, DB: options.db ?? env.DB });
  return getQueueResult(batch, createExecutionContext());
}

async function list(query = "", key = DEV_KEY) {
  return pipeline.json<DeadLetterList>(`/dead-letters${query === "" ? "" : `?${query}`}`, {
    headers: { authorization: `Bearer ${key}` },
  });
}

const replay = (id: string, key = DEV_KEY) =>
  pipeline.json<DeadLetterReplay>(`/dead-letters/${id}/replay`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
  });
const discard = (id: string, key = DEV_KEY) =>
  pipeline.json<DeadLetter>(`/dead-letters/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${key}` } });

/** The one dead letter stored for a message id. */
async function stored(messageId: string): Promise<DeadLetter> {
  const { body } = await list();
  const found = body.items.filter((item) => item.messageId === messageId);
  expect(found).toHaveLength(1);
  return found[0] as DeadLetter;
}

const webhookDelivery = (uploadId: string, key: string) => ({
  type: "webhook.deliver",
  notification: notificationFor({ upload_id: uploadId, object_key: key, outcome: "aborted", reason: "client" }, 0),
});

describe("the dead-letter consumer", () => {
  it("stores every dead message with what it says about its upload, logs it as an error and acks it", async () => {
    const stream = await pipeline.create({ key: "dead/stream.bin", mode: "stream" });
    const logs = captureLogs(["dead_letter"]);
    const bodies = [
      webhookDelivery("up-1", "dead/hook.bin"),
      { type: "stream.continue", uploadId: stream.uploadId },
      "not even an object",
    ];
    const result = await deliverDead(bodies, { ids: ["m-hook", "m-stream", "m-text"] });
    expect(result.explicitAcks.sort()).toEqual(["m-hook", "m-stream", "m-text"]);
    expect(result.retryMessages).toEqual([]);

    expect(await stored("m-hook")).toMatchObject({
      queue: DLQ,
      type: "webhook.deliver",
      uploadId: "up-1",
      key: "dead/hook.bin",
      body: bodies[0],
      attempts: 1,
      state: "dead",
      replayedAt: null,
      discardedAt: null,
    });
    // A stream event names only the upload: its key comes from D1.
    expect(await stored("m-stream")).toMatchObject({
      type: "stream.continue",
      uploadId: stream.uploadId,
      key: "dead/stream.bin",
    });
    expect(await stored("m-text")).toMatchObject({ type: null, uploadId: null, key: null, body: "not even an object" });
    const hook = await stored("m-hook");
    expect(Date.parse(hook.sentAt ?? "")).toBeLessThan(Date.parse(hook.firstSeenAt));

    expect(logs.named("dead_letter").map(({ level, messageId, code }) => ({ level, messageId, code }))).toEqual([
      { level: "error", messageId: "m-hook", code: "dead_letter" },
      { level: "error", messageId: "m-stream", code: "dead_letter" },
      { level: "error", messageId: "m-text", code: "dead_letter" },
    ]);
    expect(logs.named("dead_letter")[0]).toMatchObject({ uploadId: "up-1", key: "dead/hook.bin", queue: DLQ });
  });

  it("keeps one dead letter per message however often the dead-letter queue delivers it", async () => {
    captureLogs(["dead_letter"]);
    const body = webhookDelivery("up-2", "dead/twice.bin");
    await deliverDead([body, body], { ids: ["m-twice", "m-twice"] });
    const first = await stored("m-twice");
    expect(first.attempts).toBe(2);
    await deliverDead([body], { ids: ["m-twice"], attempts: 2 });
    const again = await stored("m-twice");
    expect(again).toMatchObject({ id: first.id, attempts: 3, firstSeenAt: first.firstSeenAt, state: "dead" });
    expect(Date.parse(again.lastSeenAt)).toBeGreaterThanOrEqual(Date.parse(first.lastSeenAt));
  });

  it("stores a full batch of 100 in one D1 round trip, 2 MB of bodies included", async () => {
    captureLogs(["dead_letter"]);
    const probe = countRoundTrips(env.DB);
    // 20 KB each: more than one statement's worth of JSON, so the batch holds several statements.
    const bodies = Array.from({ length: 100 }, (_, n) => ({ type: "upload.ended", n, padding: "x".repeat(20_000) }));
    const asStored = bodies.map((body, n) => ({
      ...{ id: `d${n}`, messageId: `m${n}`, queue: DLQ, type: null, uploadId: null, key: null, sentAt: null },
      body: JSON.stringify(body),
    }));
    expect(storeDeadLettersStatements(env.DB, asStored, 0)).toHaveLength(2);
    const result = await deliverDead(bodies, { db: probe.db });
    expect(result.explicitAcks).toHaveLength(100);
    expect(probe.roundTrips()).toBe(1);
    const { body } = await list("limit=200");
    expect(body.items).toHaveLength(100);
    expect(new Set(body.items.map((item) => (item.body as { n: number }).n)).size).toBe(100);
  });

  it("retries the whole batch, storing nothing, when D1 refuses it", async () => {
    const logs = captureLogs(["dead_letter_store_failed", "dead_letter"]);
    const failing = flakyDb(env.DB, () => true);
    const result = await deliverDead([webhookDelivery("up-3", "dead/d1.bin")], { db: failing });
    expect(result.retryBatch.retry).toBe(true);
    expect(result.explicitAcks).toEqual([]);
    expect(logs.named("dead_letter_store_failed")).toMatchObject([{ level: "error", code: "database_unavailable" }]);
    expect(logs.count("dead_letter")).toBe(0);
    expect((await list()).body.items).toEqual([]);
  });

  it("tallies batches of the main queue as before: only the dead-letter queue's are stored", async () => {
    const result = await pipeline.deliver([{ type: "health.ping" }]);
    expect(result.explicitAcks).toHaveLength(1);
    expect((await list()).body.items).toEqual([]);
  });
});

describe("GET /dead-letters", () => {
  it("pages newest first by cursor, and filters by state", async () => {
    captureLogs(["dead_letter"]);
    for (let n = 0; n < 5; n++) await deliverDead([webhookDelivery(`up-p${n}`, `dead/p${n}`)], { ids: [`m-p${n}`] });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `limit=2${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page = await list(query);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((item) => item.messageId));
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(["m-p4", "m-p3", "m-p2", "m-p1", "m-p0"]);

    await discard((await stored("m-p1")).id);
    expect((await list("state=discarded")).body.items.map((item) => item.messageId)).toEqual(["m-p1"]);
    expect((await list("state=dead&state=discarded")).body.items).toHaveLength(5);
    expect((await list("state=dead,replayed")).body.items).toHaveLength(4);
  });

  it("shows a prefix-limited key only the dead letters of its keys, and refuses it the others", async () => {
    captureLogs(["dead_letter"]);
    await deliverDead([webhookDelivery("up-f", "devices/f.bin"), webhookDelivery("up-o", "other/o.bin"), 7], {
      ids: ["m-fleet", "m-other", "m-number"],
    });
    expect((await list("", FLEET_KEY)).body.items.map((item) => item.messageId)).toEqual(["m-fleet"]);
    expect((await list()).body.items).toHaveLength(3);
    for (const id of [(await stored("m-other")).id, (await stored("m-number")).id]) {
      expect((await replay(id, FLEET_KEY)).status).toBe(403);
      expect((await discard(id, FLEET_KEY)).status).toBe(403);
    }
    expect((await stored("m-other")).state).toBe("dead");
  });

  it.each([
    ["state=bogus", "state"],
    ["limit=0", "limit"],
    ["limit=201", "limit"],
    ["cursor=bm90LWEtY3Vyc29y", "cursor"],
  ])("refuses %s with 400 naming %s", async (query, field) => {
    const { status, body } = await list(query);
    expect(status).toBe(400);
    expect(body).toMatchObject({ error: { code: "invalid_request", details: [{ path: field }] } });
  });

  it("wants an API key: no credential is 401, an upload token 403", async () => {
    const created = await pipeline.json<{ uploadToken: string }>("/uploads", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: "dead/token.bin" }),
    });
    expect((await list("", "")).status).toBe(401);
    const withToken = await pipeline.json("/dead-letters", {
      headers: { authorization: `Bearer ${created.body.uploadToken}` },
    });
    expect(withToken.status).toBe(403);
  });
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
