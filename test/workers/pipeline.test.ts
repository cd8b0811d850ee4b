import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getUpload } from "../../shared/db/uploads";
import { countRoundTrips, flakyDb, probeBucket, r2Error } from "./faults";
import { bytes, captureLogs, concat, objectBytes, PART, Pipeline, sha256, shuffled, uploadParts } from "./helpers";

/** R2's id for one of our uploads: what a client never sees, and what R2 calls need. */
async function r2UploadIdOf(uploadId: string): Promise<string> {
  const row = await getUpload(env.DB, uploadId);
  if (row === null) throw new Error(`no upload ${uploadId}`);
  return row.r2_upload_id;
}

describe("auto-completion", () => {
  it("completes a fire-and-forget upload once the last part is tallied, byte for byte", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({
      key: "ff/video.bin",
      parts: 3,
      partSize: PART,
      contentType: "video/mp4",
      metadata: { camera: "7" },
    });
    const parts = await uploadParts(pipeline, upload.uploadId, [1, 2], 3, 1234, 1);
    const early = pipeline.queue.drain();
    expect(early.map((e) => e.partNumber)).toEqual([1, 2]);
    await pipeline.deliver(early);
    expect((await pipeline.status(upload.uploadId)).state).toBe("open");

    for (const [n, data] of await uploadParts(pipeline, upload.uploadId, [3], 3, 1234, 1)) parts.set(n, data);
    await pipeline.deliver(pipeline.queue.drain());

    const status = await pipeline.status(upload.uploadId);
    expect(status.state).toBe("completed");
    expect(status.object?.size).toBe(2 * PART + 1234);
    const expected = concat(parts.get(1)!, parts.get(2)!, parts.get(3)!);
    const stored = await env.BUCKET.get("ff/video.bin");
    expect(await sha256(await stored!.arrayBuffer())).toBe(await sha256(expected));
    expect(stored!.httpMetadata?.contentType).toBe("video/mp4");
    expect(stored!.customMetadata).toEqual({ camera: "7" });
  });

  it("completes exactly once when parts arrive in random order and every message twice", async () => {
    const probe = probeBucket(env.BUCKET);
    const pipeline = new Pipeline({ bucket: probe.bucket });
    const upload = await pipeline.create({ key: "dup/random.bin", parts: 4, partSize: PART });
    const parts = await uploadParts(pipeline, upload.uploadId, shuffled([1, 2, 3, 4], 7), 4, 10, 2);
    const events = pipeline.queue.drain();

    for (const event of shuffled([...events, ...events], 3)) {
      const result = await pipeline.deliver([event]);
      expect(result.retryMessages).toEqual([]);
    }
    const status = await pipeline.status(upload.uploadId);
    expect(status.state).toBe("completed");
    expect(status.receivedParts).toBe(4);
    expect(probe.completeCalls()).toBe(1);
    expect(await sha256((await objectBytes("dup/random.bin"))!)).toBe(
      await sha256(concat(...[1, 2, 3, 4].map((n) => parts.get(n)!))),
    );
  });

  it("keeps the newest bytes of a re-uploaded part even when its events arrive out of order", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "reupload/a.bin", parts: 2, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1], 2, 99, 3);
    const newer = bytes(PART, 4242);
    const second = await pipeline.putPart(upload.uploadId, 1, newer);
    expect(second.status).toBe(200);
    const last = bytes(99, 5);
    await pipeline.putPart(upload.uploadId, 2, last);
    const [oldEvent, newEvent, lastEvent] = pipeline.queue.drain();

    await pipeline.deliver([newEvent, lastEvent]);
    // The stale event for part 1 arrives after the upload could already complete.
    await pipeline.deliver([oldEvent]);

    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await sha256((await objectBytes("reupload/a.bin"))!)).toBe(await sha256(concat(newer, last)));
  });

  it("never completes with the copy of a part that R2 replaced, whichever event arrives first", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "reupload/wait.bin", parts: 1, partSize: PART });
    const replaced = bytes(50, 1);
    await pipeline.putPart(upload.uploadId, 1, replaced);
    const newer = bytes(60, 2);
    await pipeline.putPart(upload.uploadId, 1, newer);
    const [older, newest] = pipeline.queue.drain();

    // The older copy's event alone may trigger the completion, but never with the older bytes.
    const first = await pipeline.deliver([older]);
    expect(first.retryMessages).toEqual([]);
    expect(await objectBytes(upload.key)).not.toEqual(replaced);
    await pipeline.deliver([newest]);
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(newer);
  });

  it("gives one completion when concurrent batches race for the same upload", async () => {
    const probe = probeBucket(env.BUCKET);
    const pipeline = new Pipeline({ bucket: probe.bucket });
    const upload = await pipeline.create({ key: "race/batches.bin", parts: 3, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1, 2, 3], 3, 500, 6);
    const events = pipeline.queue.drain();

    const results = await Promise.all(Array.from({ length: 6 }, () => pipeline.deliver(events)));
    for (const result of results) expect(result.retryMessages).toEqual([]);
    expect(probe.completeCalls()).toBe(1);
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
  });

  it("gives one completion when an explicit complete races the automatic one", async () => {
    const probe = probeBucket(env.BUCKET);
    const pipeline = new Pipeline({ bucket: probe.bucket });
    const upload = await pipeline.create({ key: "race/explicit.bin", parts: 2, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1, 2], 2, 77, 8);
    const events = pipeline.queue.drain();
    await pipeline.deliver(events.slice(0, 1));

    const [explicit] = await Promise.all([
      pipeline.json(`/uploads/${upload.uploadId}/complete`, { method: "POST" }),
      pipeline.deliver(events.slice(1)),
    ]);
    expect([200, 202]).toContain(explicit.status);
    expect(probe.completeCalls()).toBe(1);
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
  });

  it("answers an explicit complete with 202 while parts are still missing, then the consumer finishes", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "explicit/wait.bin", parts: 2, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1], 2, 5, 9);
    await pipeline.deliver(pipeline.queue.drain());

    const early = await pipeline.json<{ state: string; missingParts: string[] }>(
      `/uploads/${upload.uploadId}/complete`,
      { method: "POST" },
    );
    expect(early.status).toBe(202);
    expect(early.body.missingParts).toEqual(["2"]);

    await uploadParts(pipeline, upload.uploadId, [2], 2, 5, 9);
    await pipeline.deliver(pipeline.queue.drain());
    const done = await pipeline.json<{ state: string }>(`/uploads/${upload.uploadId}/complete`, { method: "POST" });
    expect(done.status).toBe(200);
    expect(done.body.state).toBe("completed");
  });

  it("completes an upload created without a part count when the client names the count", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "explicit/count.bin", partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1, 2], 2, 31, 10);
    await pipeline.deliver(pipeline.queue.drain());
    expect((await pipeline.status(upload.uploadId)).state).toBe("open");

    const done = await pipeline.json<{ state: string; object: { size: number } }>(
      `/uploads/${upload.uploadId}/complete`,
      { method: "POST", body: JSON.stringify({ parts: 2 }) },
    );
    expect(done.status).toBe(200);
    expect(done.body.state).toBe("completed");
    expect(done.body.object.size).toBe(PART + 31);
  });
});

describe("tally cost", () => {
  const fakeEvents = (uploadIds: string[], partsEach: number) =>
    uploadIds.flatMap((uploadId, u) =>
      Array.from({ length: partsEach }, (_, i) => ({
        type: "part.uploaded",
        uploadId,
        key: `cost/${u}.bin`,
        partNumber: i + 1,
        etag: `etag-${u}-${i}`,
        size: PART,
        sequence: i + 1,
        uploadedAt: Date.now(),
      })),
    );

  it("records a batch in one D1 round trip whether it holds 1 event or 100", async () => {
    const setup = new Pipeline();
    const ids: string[] = [];
    for (let u = 0; u < 10; u++)
      ids.push((await setup.create({ key: `cost/${u}.bin`, parts: 50, partSize: PART })).uploadId);

    const single = countRoundTrips(env.DB);
    await new Pipeline({ db: single.db }).deliver(fakeEvents(ids.slice(0, 1), 1));
    const hundred = countRoundTrips(env.DB);
    await new Pipeline({ db: hundred.db }).deliver(fakeEvents(ids, 10));

    expect(single.roundTrips()).toBe(1);
    expect(hundred.roundTrips()).toBe(1);
    expect((await setup.status(ids[9]!)).receivedParts).toBe(10);
  });

  it("completes several uploads from one batch in two D1 round trips", async () => {
    const probe = countRoundTrips(env.DB);
    const pipeline = new Pipeline({ db: probe.db });
    const setup = new Pipeline();
    const events = [];
    for (let u = 0; u < 3; u++) {
      const upload = await setup.create({ key: `cost/complete-${u}.bin`, parts: 1, partSize: PART });
      await uploadParts(setup, upload.uploadId, [1], 1, 10, 20 + u);
      events.push(...setup.queue.drain());
    }
    await pipeline.deliver(events);
    expect(probe.roundTrips()).toBe(2);
    const states = await env.DB.prepare("SELECT state FROM uploads WHERE object_key LIKE 'cost/complete-%'").all<{
      state: string;
    }>();
    expect(states.results.map((row) => row.state)).toEqual(["completed", "completed", "completed"]);
  });
});

describe("consumer faults", () => {
  it("acks, logs and counts a malformed message instead of retrying it", async () => {
    const logs = captureLogs(["malformed_message"]);
    const pipeline = new Pipeline();
    const result = await pipeline.deliver([{ type: "part.uploaded", uploadId: 42 }, "garbage", null]);
    expect(result.explicitAcks).toHaveLength(3);
    expect(result.retryMessages).toEqual([]);
    const counter = await env.DB.prepare("SELECT value FROM counters WHERE name = 'malformed_messages'").first<{
      value: number;
    }>();
    expect(counter?.value).toBe(3);
    expect(logs.count("malformed_message")).toBe(3);
  });

  it("retries every message of a batch whose D1 write failed, and tallies them on redelivery", async () => {
    const logs = captureLogs(["retrying_messages"]);
    const failing = new Pipeline({ db: flakyDb(env.DB, () => true) });
    const healthy = new Pipeline();
    const upload = await healthy.create({ key: "d1/flaky.bin", parts: 1, partSize: PART });
    await uploadParts(healthy, upload.uploadId, [1], 1, 10, 11);
    const events = healthy.queue.drain();

    const failed = await failing.deliver(events);
    expect(failed.retryMessages).toHaveLength(1);
    expect(logs.count("retrying_messages")).toBeGreaterThan(0);
    expect((await healthy.status(upload.uploadId)).state).toBe("open");

    const retried = await healthy.deliver(events, 2);
    expect(retried.retryMessages).toEqual([]);
    expect((await healthy.status(upload.uploadId)).state).toBe("completed");
  });

  it("retries a transient R2 failure at completion and completes on the next delivery", async () => {
    const logs = captureLogs(["retrying_messages", "completion_retry"]);
    const probe = probeBucket(env.BUCKET, {
      beforeComplete: (call) => {
        if (call === 1) throw r2Error("We encountered an internal error. Please try again.", 10001);
      },
    });
    const pipeline = new Pipeline({ bucket: probe.bucket });
    const upload = await pipeline.create({ key: "r2/transient.bin", parts: 1, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1], 1, 64, 12);
    const events = pipeline.queue.drain();

    const first = await pipeline.deliver(events);
    expect(first.retryMessages).toHaveLength(1);
    expect((await pipeline.status(upload.uploadId)).state).toBe("open");

    const second = await pipeline.deliver(events, 2);
    expect(second.retryMessages).toEqual([]);
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(probe.completeCalls()).toBe(2);
    expect(logs.events.length).toBeGreaterThan(0);
  });

  it("fails the upload with a readable reason and aborts it in R2 when R2 refuses the parts", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "r2/refused.bin", parts: 2, partSize: PART });
    // Parts that bypass the producer's size checks: a 1 KiB first part R2 will refuse.
    const multipart = env.BUCKET.resumeMultipartUpload(upload.key, await r2UploadIdOf(upload.uploadId));
    const small = await multipart.uploadPart(1, bytes(1024, 1));
    const last = await multipart.uploadPart(2, bytes(10, 2));
    const now = Date.now();
    const events = [small, last].map((part) => ({
      type: "part.uploaded",
      uploadId: upload.uploadId,
      key: upload.key,
      partNumber: part.partNumber,
      etag: part.etag,
      size: part.partNumber === 1 ? 1024 : 10,
      sequence: part.partNumber,
      uploadedAt: now,
    }));

    const result = await pipeline.deliver(events);
    expect(result.retryMessages).toEqual([]);
    const status = await pipeline.status(upload.uploadId);
    expect(status.state).toBe("failed");
    expect(status.failureReason).toMatch(/under 5 MiB/);
    await expect(multipart.uploadPart(3, bytes(10, 3))).rejects.toThrow(/does not exist/);
    expect(await objectBytes(upload.key)).toBeNull();
  });

  it("recovers a completion whose invocation died after R2 completed but before D1 recorded it", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "crash/after-complete.bin", parts: 1, partSize: PART });
    const parts = await uploadParts(pipeline, upload.uploadId, [1], 1, 100, 13);
    const [event] = pipeline.queue.drain();
    // Simulate the dead invocation: its claim is in D1 (the part was recorded at ingest) and R2
    // holds the finished object.
    const claimedAt = Date.now() - 10 * 60 * 1000;
    await env.DB.prepare(
      "UPDATE uploads SET state = 'completing', claim_id = 'dead', claimed_at = ?2 WHERE upload_id = ?1",
    )
      .bind(upload.uploadId, claimedAt)
      .run();
    await env.BUCKET.resumeMultipartUpload(upload.key, await r2UploadIdOf(upload.uploadId)).complete([
      { partNumber: 1, etag: event!.etag },
    ]);

    await pipeline.cron(Date.now());

    const status = await pipeline.status(upload.uploadId);
    expect(status.state).toBe("completed");
    expect(status.object?.size).toBe(100);
    expect(await sha256((await objectBytes(upload.key))!)).toBe(await sha256(parts.get(1)!));
  });
});

describe("producer faults", () => {
  it("answers 503 when the part cannot be queued, so the client sends it again", async () => {
    const logs = captureLogs(["enqueue_failed"]);
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "queue/down.bin", parts: 1, partSize: PART });
    pipeline.queue.failing = true;
    const refused = await pipeline.putPart(upload.uploadId, 1, bytes(10, 1));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.body).toMatchObject({ error: { code: "enqueue_failed" } });
    expect(logs.named("enqueue_failed")).toEqual([expect.objectContaining({ uploadId: upload.uploadId })]);

    pipeline.queue.failing = false;
    const retried = await pipeline.putPart(upload.uploadId, 1, bytes(10, 1));
    expect(retried.status).toBe(200);
    await pipeline.deliver(pipeline.queue.drain());
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
  });
});
