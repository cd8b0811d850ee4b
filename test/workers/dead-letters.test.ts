// Dead letters: what the consumer does with a batch of the dead-letter queue (store, log, ack,
// idempotent on the message id, one D1 round trip), and how an operator lists them, on the real
// local D1 and queue, with wrapped bindings where a fault is the point.
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { storeDeadLettersStatements } from "../../shared/db/dead-letters";
import { DLQ, deliverDead, freshPipeline, operator, webhookDelivery } from "./dead-letter-helpers";
import { countRoundTrips, flakyDb } from "./faults";
import { captureLogs, FLEET_KEY, type Pipeline } from "./helpers";

let pipeline: Pipeline;
let desk: ReturnType<typeof operator>;
const list = (...args: Parameters<typeof desk.list>) => desk.list(...args);
const replay = (...args: Parameters<typeof desk.replay>) => desk.replay(...args);
const discard = (...args: Parameters<typeof desk.discard>) => desk.discard(...args);
const stored = (messageId: string) => desk.stored(messageId);

beforeEach(async () => {
  pipeline = await freshPipeline();
  desk = operator(pipeline);
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
