import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Rng } from "./chaos";
import { flakyDb, probeBucket, r2Error } from "./faults";
import { bytes, captureLogs, concat, MiB, Pipeline } from "./helpers";
import {
  bodyText,
  cutOff,
  errorCode,
  lostAnswerDb,
  multipartOpen,
  served,
  stagedKeysOf,
  stalledBody,
  statesOfKey,
  Tus,
  tailBytesHeld,
  uploadChecksum,
} from "./tus-helpers";

const PART_SIZE = 5 * MiB;
const TUS_VARS = { TUS_PART_SIZE: String(PART_SIZE) };
const DAY = 24 * 60 * 60 * 1000;

/**
 * Runs one PATCH that crosses a part boundary while `fault` is on, expects a 503, then resumes
 * from the offset HEAD reports and checks the object is byte-exact: nothing lost or doubled.
 */
async function failThenResume(tus: Tus, key: string, setFault: (on: boolean) => void) {
  const data = bytes(2 * PART_SIZE + 4321, key.length);
  const { id } = await tus.open({ length: data.byteLength, metadata: { key } });
  const start = 3 * MiB;
  await tus.send(id, data.subarray(0, start));

  setFault(true);
  const failed = await tus.patch(id, start, data.subarray(start, start + 4 * MiB));
  setFault(false);
  // TUS.md: 503 "storage, the database or the queue is unavailable: HEAD, then resume".
  const body = await bodyText(failed);
  expect(failed.status, body).toBe(503);
  expect(failed.headers.get("tus-resumable")).toBe("1.0.0");

  const resumeAt = await tus.offset(id);
  expect(resumeAt).toBeGreaterThanOrEqual(start);
  expect(resumeAt).toBeLessThanOrEqual(start + 4 * MiB);
  await tus.send(id, data, { from: resumeAt, chunk: 4 * MiB });
  await tus.pipeline.settle();
  const status = await tus.pipeline.status(id);
  expect(status.state).toBe("completed");
  expect(status.object?.size).toBe(data.byteLength);
  expect(await tus.object(key)).toEqual(await served(data));
  return { id, resumeAt };
}

describe("a tus PATCH that fails part-way can be resumed from HEAD's offset", () => {
  it("answers 503 when R2 refuses a part, and a resume from HEAD's offset completes byte-exact", async () => {
    const logs = captureLogs(["upload_part_failed"]);
    let failing = false;
    const probe = probeBucket(env.BUCKET, {
      beforeUploadPart: () => {
        if (failing) throw r2Error("We encountered an internal error. Please try again.", 10001);
      },
    });
    const tus = new Tus(new Pipeline({ bucket: probe.bucket, producerVars: TUS_VARS }));
    const { id } = await failThenResume(tus, "tus-faults/r2.bin", (on) => {
      failing = on;
    });
    expect(logs.named("upload_part_failed")).toEqual([expect.objectContaining({ uploadId: id, partNumber: 1 })]);
  });

  it("answers 503 when D1 fails to record a part, and a resume completes byte-exact", async () => {
    const logs = captureLogs(["record_part_failed"]);
    let failing = false;
    let injected = 0;
    const db = flakyDb(env.DB, () => failing && ++injected > 0);
    const tus = new Tus(new Pipeline({ db, producerVars: TUS_VARS }));
    const { id } = await failThenResume(tus, "tus-faults/d1.bin", (on) => {
      failing = on;
    });
    expect(injected).toBeGreaterThan(0);
    expect(logs.named("record_part_failed")).toEqual([expect.objectContaining({ uploadId: id, partNumber: 1 })]);
  });

  it("answers 503 when D1 commits a part but its answer is lost, and a resume completes byte-exact", async () => {
    const logs = captureLogs(["record_part_failed"]);
    let losing = false;
    const tus = new Tus(new Pipeline({ db: lostAnswerDb(env.DB, () => losing), producerVars: TUS_VARS }));
    const { id } = await failThenResume(tus, "tus-faults/d1-lost.bin", (on) => {
      losing = on;
    });
    expect(logs.named("record_part_failed")).toEqual([expect.objectContaining({ uploadId: id, partNumber: 1 })]);
  });

  it("keeps none of a checksummed PATCH when storage fails on its second part", async () => {
    const logs = captureLogs(["upload_part_failed"]);
    let calls = 0;
    const probe = probeBucket(env.BUCKET, {
      beforeUploadPart: () => {
        if (++calls === 2) throw r2Error("We encountered an internal error. Please try again.", 10001);
      },
    });
    const tus = new Tus(new Pipeline({ bucket: probe.bucket, producerVars: TUS_VARS }));
    const data = bytes(12 * MiB, 35);
    const { id } = await tus.open({ length: data.byteLength });
    const response = await tus.patch(id, 0, data, { "upload-checksum": await uploadChecksum("sha256", data) });
    expect(response.status).toBe(503);
    expect(await tus.offset(id)).toBe(0);
    expect(tus.partEvents(id)).toBe(0);
    expect(logs.count("upload_part_failed")).toBe(1);
  });

  it("answers 503 to a creation-with-upload whose bytes storage refuses, leaving no open upload", async () => {
    const logs = captureLogs(["upload_part_failed"]);
    const probe = probeBucket(env.BUCKET, {
      beforeUploadPart: () => {
        throw r2Error("We encountered an internal error. Please try again.", 10001);
      },
    });
    const tus = new Tus(new Pipeline({ bucket: probe.bucket, producerVars: TUS_VARS }));
    const key = "tus-faults/cwu-refused.bin";
    const response = await tus.create({ length: 6 * MiB, body: bytes(6 * MiB, 36), metadata: { key } });
    expect(response.status).toBe(503);
    expect(response.headers.get("location")).toBeNull();
    expect((await statesOfKey(key)).filter((state) => state === "open")).toEqual([]);
    expect(logs.count("upload_part_failed")).toBe(1);
  });

  it("answers 503 when the part event cannot be queued, and a resume completes byte-exact", async () => {
    const logs = captureLogs(["enqueue_failed"]);
    const tus = new Tus(new Pipeline({ producerVars: TUS_VARS }));
    const { id } = await failThenResume(tus, "tus-faults/queue.bin", (on) => {
      tus.pipeline.queue.failing = on;
    });
    expect(logs.named("enqueue_failed")).toEqual([expect.objectContaining({ uploadId: id, partNumber: 1 })]);
  });

  it("keeps an offset to resume from when the PATCH body is cut off mid-way", async () => {
    const tus = new Tus(new Pipeline({ producerVars: TUS_VARS }));
    const data = bytes(2 * PART_SIZE + 999, 31);
    const key = "tus-faults/cut.bin";
    const { id } = await tus.open({ length: data.byteLength, metadata: { key } });
    await tus.send(id, data.subarray(0, MiB));

    // 7 MiB declared, 6 MiB delivered (across the first part boundary), then the connection drops.
    const rest = data.subarray(MiB, 8 * MiB);
    const cut = await tus.patch(id, MiB, cutOff(rest, 6 * MiB), { "content-length": String(rest.byteLength) });
    expect(cut.status).toBe(400);
    expect(await errorCode(cut)).toBe("incomplete_body");

    const resumeAt = await tus.offset(id);
    expect(resumeAt).toBeGreaterThanOrEqual(MiB);
    expect(resumeAt).toBeLessThanOrEqual(7 * MiB);
    await tus.send(id, data, { from: resumeAt, chunk: 4 * MiB });
    await tus.pipeline.settle();
    expect((await tus.pipeline.status(id)).state).toBe("completed");
    expect(await tus.object(key)).toEqual(await served(data));
  });

  it("answers a body cut off inside a streamed part as the client's fault, and takes the next PATCH at once", async () => {
    const logs = captureLogs(["upload_part_failed"]);
    const tus = new Tus(new Pipeline({ producerVars: TUS_VARS }));
    const data = bytes(PART_SIZE + 10, 32);
    const { id } = await tus.open({ length: data.byteLength });
    // The declared length holds a whole part, so it streams into R2 as it arrives, until the cut.
    const cut = await tus.patch(id, 0, cutOff(data, 1000), { "content-length": String(data.byteLength) });
    expect(cut.status, "a dropped body is not a storage failure").toBe(400);
    expect(["incomplete_body", "length_mismatch"]).toContain(await errorCode(cut));
    expect(logs.count("upload_part_failed"), "logged as a storage failure").toBe(0);
    const resumeAt = await tus.offset(id);
    expect((await tus.patch(id, resumeAt, data.subarray(resumeAt))).status).toBe(204);
  });
});

describe("PATCHes that overlap", () => {
  it("lets exactly one of two racing PATCHes at the same offset in", async () => {
    const tus = new Tus(new Pipeline());
    const { id } = await tus.open({ length: 1000, metadata: { key: "tus-faults/race.bin" } });
    const a = bytes(300, 15);
    const b = bytes(400, 16);
    const [ra, rb] = await Promise.all([tus.patch(id, 0, a), tus.patch(id, 0, b)]);
    const statuses = [ra.status, rb.status];
    expect(statuses.filter((s) => s === 204)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409 || s === 423)).toHaveLength(1);
    const winner = ra.status === 204 ? a : b;
    expect(await tus.offset(id)).toBe(winner.byteLength);

    const data = concat(winner, bytes(1000 - winner.byteLength, 17));
    await tus.send(id, data, { from: winner.byteLength });
    await tus.pipeline.settle();
    expect(await tus.object("tus-faults/race.bin")).toEqual(await served(data));
  });

  it("makes a second PATCH at the same offset wait with 423, and completes itself", async () => {
    const tus = new Tus(new Pipeline({ producerVars: TUS_VARS }));
    const data = bytes(3 * MiB, 61);
    const { id } = await tus.open({ length: data.byteLength, metadata: { key: "tus-faults/423.bin" } });
    const body = stalledBody(data, MiB);
    const first = tus.patch(id, 0, body.stream, { "content-length": String(data.byteLength) });
    await body.reached;

    const second = await tus.patch(id, 0, bytes(100, 62));
    expect(second.status).toBe(423);
    body.release();
    expect((await first).status).toBe(204);
    await tus.pipeline.settle();
    expect(await tus.object("tus-faults/423.bin")).toEqual(await served(data));
  });

  it("is stopped by a DELETE: the PATCH keeps nothing, HEAD answers 410, nothing staged is left", async () => {
    const tus = new Tus(new Pipeline({ producerVars: TUS_VARS }));
    const { id } = await tus.open({ length: 12 * MiB });
    await tus.send(id, bytes(MiB, 63));
    const data = bytes(6 * MiB, 64);
    const body = stalledBody(data, 2 * MiB);
    const patch = tus.patch(id, MiB, body.stream, { "content-length": String(data.byteLength) });
    await body.reached;

    expect((await tus.delete(id)).status).toBe(204);
    body.release();
    expect((await patch).status).toBeGreaterThanOrEqual(400);
    expect(tus.partEvents(id)).toBe(0);
    await tus.pipeline.settle();
    expect((await tus.head(id)).status).toBe(410);
    expect((await tus.pipeline.status(id)).state).toBe("aborted");
    expect(await multipartOpen(id)).toBe(false);
    expect(await tailBytesHeld(id)).toBe(0);
  });

  it("keeps none of its bytes when it carries Upload-Checksum and is cut off", async () => {
    const tus = new Tus(new Pipeline({ producerVars: TUS_VARS }));
    const data = bytes(8 * MiB, 65);
    const { id } = await tus.open({ length: data.byteLength });
    const checksum = await uploadChecksum("sha256", data);
    const headers = { "content-length": String(data.byteLength), "upload-checksum": checksum };
    const cut = await tus.patch(id, 0, cutOff(data, 6 * MiB), headers);
    expect(cut.status).not.toBe(204);
    expect(await tus.offset(id)).toBe(0);
    expect(tus.partEvents(id)).toBe(0);
    expect(await tailBytesHeld(id)).toBe(0);
  });
});

describe("a tus upload's part events, delivered twice, late and out of order", () => {
  it("completes exactly once when its part events arrive twice, late and in reverse", async () => {
    const probe = probeBucket(env.BUCKET);
    const pipeline = new Pipeline({ bucket: probe.bucket, producerVars: TUS_VARS });
    const tus = new Tus(pipeline);
    const data = bytes(11 * MiB + 3, 19);
    const { id } = await tus.open({ length: data.byteLength, metadata: { key: "tus-faults/dupes.bin" } });
    await tus.send(id, data, { chunk: 4 * MiB });
    const events = pipeline.queue.drainAll();
    expect(events.filter((e) => e.type === "part.uploaded").length).toBeGreaterThanOrEqual(3);

    await pipeline.deliver([...events].reverse());
    await pipeline.deliver([...events, ...events]);
    await pipeline.settle();
    await pipeline.deliver(events);
    await pipeline.settle();
    expect((await pipeline.status(id)).state).toBe("completed");
    expect(probe.completeCalls()).toBe(1);
    expect(await tus.object("tus-faults/dupes.bin")).toEqual(await served(data));
  });
});

describe("part events that arrive after a DELETE", () => {
  it("change nothing: the upload stays aborted and no object appears", async () => {
    const tus = new Tus(new Pipeline({ producerVars: TUS_VARS }));
    const key = "tus-faults/deleted-late.bin";
    const { id } = await tus.open({ length: 2 * PART_SIZE + 10, metadata: { key } });
    // Every byte is in: the events alone would complete the upload, but the DELETE comes first.
    await tus.send(id, bytes(2 * PART_SIZE + 10, 71));
    const events = tus.pipeline.queue.drainAll();
    expect((await tus.delete(id)).status).toBe(204);

    const result = await tus.pipeline.deliver([...events, ...events]);
    await tus.pipeline.settle();
    expect(result.retryMessages).toEqual([]);
    expect((await tus.pipeline.status(id)).state).toBe("aborted");
    expect(await env.BUCKET.head(key)).toBeNull();
    expect((await tus.head(id)).status).toBe(410);
  });
});

describe("an abandoned tus upload", () => {
  it("is swept by the cron: HEAD answers 410, the status is aborted, and nothing staged is left", async () => {
    const tus = new Tus(new Pipeline({ producerVars: TUS_VARS }));
    const { id } = await tus.open({ length: 3 * PART_SIZE, metadata: { key: "tus-faults/abandoned.bin" } });
    // One whole part in R2 and a tail held back for the next one.
    await tus.send(id, bytes(PART_SIZE + 1234, 41));
    await tus.pipeline.settle();
    expect(await multipartOpen(id)).toBe(true);
    expect(await tailBytesHeld(id)).toBe(1234);

    await tus.pipeline.cron(Date.now() + 30 * DAY);
    await tus.pipeline.settle();

    expect((await tus.pipeline.status(id)).state).toBe("aborted");
    expect(await multipartOpen(id)).toBe(false);
    expect(await stagedKeysOf(id)).toEqual([]);
    expect.soft((await tus.head(id)).status, "HEAD after the sweep").toBe(410);
    expect.soft((await tus.patch(id, PART_SIZE + 1234, bytes(10, 42))).status, "PATCH after the sweep").toBe(410);
    expect.soft(await tailBytesHeld(id), "tail bytes the Durable Object still holds").toBe(0);
  });
});

describe("random PATCH sizes with random dropped connections", () => {
  it("completes every upload byte-exact, resuming each time from HEAD's offset", async () => {
    const rng = new Rng(20261126);
    const tus = new Tus(new Pipeline({ producerVars: TUS_VARS }));
    const uploads = await Promise.all(
      Array.from({ length: 4 }, async (_, n) => {
        const data = bytes(PART_SIZE + rng.int(2 * PART_SIZE), 80 + n);
        const key = `tus-faults/random-${n}.bin`;
        return { data, key, id: (await tus.open({ length: data.byteLength, metadata: { key } })).id };
      }),
    );
    let dropped = 0;
    for (const { data, id } of uploads) {
      for (let offset = 0; offset < data.byteLength; offset = await tus.offset(id)) {
        const piece = data.subarray(offset, offset + 1 + rng.int(3 * MiB));
        const length = { "content-length": String(piece.byteLength) };
        if (rng.chance(0.3)) {
          dropped++;
          const cut = await tus.patch(id, offset, cutOff(piece, rng.int(piece.byteLength)), length);
          expect(cut.status).toBe(400);
        } else expect((await tus.patch(id, offset, piece)).status).toBe(204);
      }
    }
    await tus.pipeline.settle();
    expect(dropped).toBeGreaterThan(3);
    for (const { data, key, id } of uploads) {
      expect((await tus.pipeline.status(id)).state).toBe("completed");
      expect(await tus.object(key), key).toEqual(await served(data));
    }
  });
});

describe("a restarted Durable Object", () => {
  it("keeps the offset and the held-back tail, and the upload completes byte-exact", async () => {
    const tus = new Tus(new Pipeline({ producerVars: TUS_VARS }));
    const data = bytes(PART_SIZE + 3 * MiB + 77, 51);
    const key = "tus-faults/evicted.bin";
    const { id } = await tus.open({ length: data.byteLength, metadata: { key } });
    await tus.send(id, data.subarray(0, PART_SIZE + MiB));
    await evictDurableObject(env.TUS_UPLOADS.getByName(id));

    expect(await tus.offset(id)).toBe(PART_SIZE + MiB);
    expect(await tailBytesHeld(id)).toBe(MiB);
    await tus.send(id, data, { from: PART_SIZE + MiB });
    await tus.pipeline.settle();
    expect(await tus.object(key)).toEqual(await served(data));
  });
});
