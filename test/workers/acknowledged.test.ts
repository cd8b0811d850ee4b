import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bytes, captureLogs, concat, PART, Pipeline, sha256, uploadParts } from "./helpers";

describe("an acknowledged part is never lost, even when its event is", () => {
  it("completes by cron an upload whose part events were all lost after their 2xx", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "acked/lost-events.bin", parts: 3, partSize: PART });
    const parts = await uploadParts(pipeline, upload.uploadId, [1, 2, 3], 3, 777, 40);
    // The queue loses every event (as an in-memory local queue does when its runtime is killed).
    expect(pipeline.queue.drain()).toHaveLength(3);

    // The 2xx already meant D1 has every part: the status shows them, and the cron completes it.
    expect((await pipeline.status(upload.uploadId)).receivedParts).toBe(3);
    await pipeline.cron(Date.now());
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    const stored = await env.BUCKET.get(upload.key);
    const expected = concat(parts.get(1)!, parts.get(2)!, parts.get(3)!);
    expect(await sha256(await stored!.arrayBuffer())).toBe(await sha256(expected));
  });

  it("completes when only the last event is lost, and ignores the lost event arriving late", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "acked/late.bin", parts: 2, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1], 2, 10, 41);
    await pipeline.deliver(pipeline.queue.drain());
    await uploadParts(pipeline, upload.uploadId, [2], 2, 10, 41);
    const lost = pipeline.queue.drain();
    await pipeline.cron(Date.now());
    await pipeline.settle();
    const done = await pipeline.status(upload.uploadId);
    expect(done.state).toBe("completed");

    const late = await pipeline.deliver(lost);
    expect(late.retryMessages).toEqual([]);
    expect(await pipeline.status(upload.uploadId)).toEqual(done);
  });

  it("counts a part whose 2xx was sent while its event failed to enqueue, once the client sends it again", async () => {
    const logs = captureLogs(["enqueue_failed"]);
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "acked/retry.bin", parts: 1, partSize: PART });
    pipeline.queue.failing = true;
    expect((await pipeline.putPart(upload.uploadId, 1, bytes(100, 42))).status).toBe(503);
    expect(logs.named("enqueue_failed")).toEqual([
      expect.objectContaining({ uploadId: upload.uploadId, partNumber: 1 }),
    ]);
    pipeline.queue.failing = false;
    expect((await pipeline.putPart(upload.uploadId, 1, bytes(100, 42))).status).toBe(200);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
  });
});
