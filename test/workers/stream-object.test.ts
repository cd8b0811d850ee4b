import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashBytes } from "../../producer/streams/read-chunk";
import { countRoundTrips, probeBucket, r2Error } from "./faults";
import { bytes, captureLogs, concat, MiB, objectBytes, PART, Pipeline, sha256 } from "./helpers";
import { createStream, D1_STORE, objectSha256, partSizes, sha256Of, stagedKeys } from "./stream-helpers";

const HOUR = 3_600_000;

/** What the stream's object still holds: chunk rows (committed or not), or null once it forgot. */
async function objectHolds(uploadId: string): Promise<{ state: string } | null> {
  return env.CHUNK_STREAMS.getByName(uploadId).describe();
}

describe("chunk streams held by a Durable Object", () => {
  it("stores chunks without a D1 statement or a queue message of their own until a part is ready", async () => {
    const probe = countRoundTrips(env.DB);
    const pipeline = new Pipeline({ db: probe.db });
    const upload = await createStream(pipeline, "object/steady.bin");
    // The first chunk registers the stream (one D1 read); the ones after it touch nothing.
    await pipeline.putChunk(upload.uploadId, 1, bytes(64 * 1024, 1));
    pipeline.queue.drainAll();
    const before = probe.roundTrips();
    for (let seq = 2; seq <= 40; seq++) {
      expect((await pipeline.putChunk(upload.uploadId, seq, bytes(64 * 1024, seq))).status).toBe(200);
    }
    expect(probe.roundTrips() - before).toBe(0);
    expect(pipeline.queue.drainAll()).toEqual([]);
    expect(await stagedKeys(upload.uploadId)).toEqual([]);
    const status = await pipeline.status(upload.uploadId);
    expect(status.stream).toMatchObject({ chunksReceived: 40, stagedBytes: 40 * 64 * 1024, committedBytes: 0 });
  });

  it("writes each part as soon as its bytes are contiguous, as one part event, and completes byte-exact", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "object/parts.bin");
    const chunks = Array.from({ length: 11 }, (_, i) => bytes(MiB, 40 + i));
    for (const seq of [2, 3, 4, 5, 6, 1, 7, 8, 9, 10]) await pipeline.putChunk(upload.uploadId, seq, chunks[seq - 1]!);
    const events = pipeline.queue.drainAll();
    expect(events.map((event) => event.type)).toEqual(["part.uploaded", "part.uploaded"]);
    expect((await pipeline.status(upload.uploadId)).stream).toMatchObject({
      committedThrough: 10,
      committedBytes: 2 * PART,
      stagedBytes: 0,
    });
    await pipeline.putChunk(upload.uploadId, 11, chunks[10]!, { final: true });
    await pipeline.deliver(events);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await partSizes(upload.uploadId)).toEqual([PART, PART, MiB]);
    expect(await objectSha256(upload.key)).toBe(await sha256Of(chunks));
  });

  it("keeps a chunk whose part R2 refused and writes that part from the object's alarm", async () => {
    const logs = captureLogs(["stream_part_deferred", "upload_part_failed"]);
    const probe = probeBucket(env.BUCKET, {
      beforeUploadPart: () => {
        throw r2Error("We encountered an internal error. Please try again.", 10001);
      },
    });
    const pipeline = new Pipeline({ bucket: probe.bucket });
    const upload = await createStream(pipeline, "object/deferred.bin");
    const chunks = [bytes(PART, 1), bytes(1000, 2)];
    expect((await pipeline.putChunk(upload.uploadId, 1, chunks[0]!)).status).toBe(200);
    expect((await pipeline.putChunk(upload.uploadId, 2, chunks[1]!, { final: true })).status).toBe(200);
    // Each request that found the part ready tried it (the chunk was stored either way).
    const deferred = logs.named("stream_part_deferred");
    expect(deferred.length).toBeGreaterThan(0);
    for (const entry of deferred) {
      expect(entry).toMatchObject({
        uploadId: upload.uploadId,
        partNumber: 1,
        error: expect.stringMatching(/storage/),
      });
    }
    expect(logs.named("upload_part_failed")).toHaveLength(deferred.length);
    expect((await pipeline.status(upload.uploadId)).state).toBe("open");

    // The retry is due a moment later; run it now (the alarm uses the object's own bindings).
    expect(await runDurableObjectAlarm(env.CHUNK_STREAMS.getByName(upload.uploadId))).toBe(true);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await partSizes(upload.uploadId)).toEqual([PART, 1000]);
    expect(await objectSha256(upload.key)).toBe(await sha256Of(chunks));
  });

  it("has the object's alarm write a part whose writer stopped, once its lease ran out", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "object/stranded.bin");
    const chunks = [bytes(1000, 1), bytes(PART, 2), bytes(500, 3)];
    expect((await pipeline.putChunk(upload.uploadId, 1, chunks[0]!)).status).toBe(200);
    // What the Worker does for chunk 2, but not the part write it would start after answering.
    const stub = env.CHUNK_STREAMS.getByName(upload.uploadId);
    const accepted = await stub.accept({
      caller: { kind: "anonymous" },
      seq: 2,
      final: false,
      sha256: null,
      body: await hashBytes(chunks[1]!, false),
      now: Date.now(),
    });
    expect(accepted).toMatchObject({ kind: "accepted", part: { partNumber: 1, size: PART } });
    // The alarm is due when the lease runs out (two minutes), not at the stream's expiry a day on.
    const alarm = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm as number).toBeLessThanOrEqual(Date.now() + 121_000);

    // Two minutes later nobody has written it: the lease ran out, and the alarm writes the part.
    await runInDurableObject(stub, (instance) => {
      (instance as unknown as { lease: { until: number } }).lease.until = Date.now() - 1;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await partSizes(upload.uploadId)).toEqual([PART]);
    expect((await pipeline.status(upload.uploadId)).stream).toMatchObject({
      committedBytes: PART,
      committedThrough: 1,
    });

    expect((await pipeline.putChunk(upload.uploadId, 3, chunks[2]!, { final: true })).status).toBe(200);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectSha256(upload.key)).toBe(await sha256Of(chunks));
  });

  it("streams a part too large to hand over whole out of the object, byte for byte", async () => {
    const pipeline = new Pipeline();
    const partSize = 17 * MiB;
    const upload = await createStream(pipeline, "object/large-part.bin", { partSize });
    // Chunks over 1 MiB span several rows; the part ends inside the third one.
    const chunks = [bytes(6 * MiB + 7, 1), bytes(6 * MiB, 2), bytes(6 * MiB - 3, 3), bytes(1000, 4)];
    for (const [index, chunk] of chunks.entries()) {
      const final = index === chunks.length - 1;
      expect((await pipeline.putChunk(upload.uploadId, index + 1, chunk, { final })).status).toBe(200);
    }
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await partSizes(upload.uploadId)).toEqual([partSize, 18 * MiB + 1004 - partSize]);
    expect(await objectSha256(upload.key)).toBe(await sha256Of(chunks));
  });

  it("refuses a wrong digest and a short or long body, keeping the accepted bytes", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "object/refused.bin");
    const accepted = bytes(1000, 1);
    expect((await pipeline.putChunk(upload.uploadId, 1, accepted)).status).toBe(200);
    const digest = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", accepted))));
    const wrong = await pipeline.putChunk(upload.uploadId, 1, bytes(1000, 2), {
      headers: { "content-digest": `sha-256=:${digest}:` },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ error: { code: "digest_mismatch" } });
    for (const [label, declared] of [
      ["short", 1001],
      ["long", 999],
    ] as const) {
      const response = await pipeline.putChunk(upload.uploadId, 1, bytes(1000, 3), {
        headers: { "content-length": String(declared) },
      });
      expect(response.status, label).toBe(400);
      expect(response.body, label).toMatchObject({ error: { code: "length_mismatch" } });
    }
    await pipeline.putChunk(upload.uploadId, 2, bytes(10, 4), { final: true });
    await pipeline.settle();
    expect(await sha256((await objectBytes(upload.key))!)).toBe(await sha256(concat(accepted, bytes(10, 4))));
  });

  it("replaces a staged chunk of more than one row with a smaller one and back, byte-exact", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "object/replaced-rows.bin");
    // Over 1 MiB, a chunk's bytes take a second row; the copy that replaces it must leave none behind.
    const large = bytes(MiB + 300_000, 1);
    const small = bytes(100_000, 2);
    const largeAgain = bytes(MiB + 200_000, 3);
    for (const chunk of [large, small, largeAgain]) {
      const answer = await pipeline.putChunk(upload.uploadId, 2, chunk);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ sequence: 2, size: chunk.byteLength, duplicate: false });
    }
    // Chunk 1 arrives last: the run from the cursor then takes chunk 2 as it is now.
    await pipeline.putChunk(upload.uploadId, 1, small);
    await pipeline.putChunk(upload.uploadId, 3, bytes(10, 4), { final: true });
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectSha256(upload.key)).toBe(await sha256Of([small, largeAgain, bytes(10, 4)]));
  });

  it("answers a re-sent chunk after the last part with a duplicate, and anything new with 409", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "object/ended.bin");
    const chunk = bytes(500, 1);
    await pipeline.putChunk(upload.uploadId, 1, chunk, { final: true });
    const again = await pipeline.putChunk(upload.uploadId, 1, chunk, { final: true });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true });
    const changed = await pipeline.putChunk(upload.uploadId, 1, bytes(500, 2));
    expect(changed.status).toBe(409);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).stream).toMatchObject({ chunksReceived: 1, committedBytes: 500 });
  });

  it("forgets a stream the sweep aborted: the next chunk is refused and the object holds nothing", async () => {
    const logs = captureLogs(["sweep"]);
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "object/swept.bin", { staleAfterSeconds: 60 });
    for (let seq = 1; seq <= 3; seq++) await pipeline.putChunk(upload.uploadId, seq, bytes(MiB, seq));
    await pipeline.cron(Date.now() + HOUR);
    expect(logs.named("sweep")).toEqual([expect.objectContaining({ staleAborted: 1 })]);
    expect((await pipeline.status(upload.uploadId)).state).toBe("aborted");

    // The object learns it from D1 on its alarm (at its expiry; run it now).
    await runDurableObjectAlarm(env.CHUNK_STREAMS.getByName(upload.uploadId));
    expect(await objectHolds(upload.uploadId)).toBeNull();
    const late = await pipeline.putChunk(upload.uploadId, 4, bytes(10, 4));
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ error: { code: "upload_not_open" } });
  });

  it("drops the chunks of a stream its client aborts", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "object/aborted.bin");
    await pipeline.putChunk(upload.uploadId, 1, bytes(MiB, 1));
    expect(await objectHolds(upload.uploadId)).toEqual({ state: "open" });
    expect((await pipeline.json(`/uploads/${upload.uploadId}`, { method: "DELETE" })).status).toBe(200);
    expect(await objectHolds(upload.uploadId)).toBeNull();
    expect((await pipeline.putChunk(upload.uploadId, 2, bytes(10, 2))).status).toBe(409);
  });

  it("completes a stream of chunks sent all at once, each part written once", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "object/parallel.bin");
    const chunks = Array.from({ length: 48 }, (_, i) => bytes(256 * 1024, 900 + i));
    const answers = await Promise.all(
      chunks.map((chunk, i) => pipeline.putChunk(upload.uploadId, i + 1, chunk, { final: i === chunks.length - 1 })),
    );
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await partSizes(upload.uploadId)).toEqual([PART, PART, 2 * MiB]);
    expect(await objectSha256(upload.key)).toBe(await sha256Of(chunks));
  });

  it("keeps a stream opened on the D1 chunk path there, whatever the deployment now uses", async () => {
    const before = new Pipeline(D1_STORE);
    const upload = await createStream(before, "object/upgraded.bin");
    const pipeline = new Pipeline();
    const chunks = [bytes(1000, 1), bytes(10, 2)];
    await pipeline.putChunk(upload.uploadId, 1, chunks[0]!);
    expect((await stagedKeys(upload.uploadId)).length).toBe(1);
    expect(await objectHolds(upload.uploadId)).toBeNull();
    await pipeline.putChunk(upload.uploadId, 2, chunks[1]!, { final: true });
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectSha256(upload.key)).toBe(await sha256Of(chunks));
  });
});
