import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { probeBucket, r2Error } from "./faults";
import { bytes, captureLogs, MiB, objectBytes, PART, Pipeline, r2UploadIdOf, sha256 } from "./helpers";
import { createStream, D1_STORE, objectSha256, partSizes, sha256Of, stagedKeys } from "./stream-helpers";

// The two long tests of chunk streams (64 MiB, 2,000 random chunks) have files of their own,
// stream-volume.test.ts and stream-random.test.ts, so that they run beside these.

const HOUR = 60 * 60 * 1000;

describe("chunk streams", () => {
  it("keeps staged bytes under two part sizes while chunks arrive in order", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "stream/bounded.bin");
    let peak = 0;
    for (let seq = 1; seq <= 48; seq++) {
      expect((await pipeline.putChunk(upload.uploadId, seq, bytes(512 * 1024, seq))).status).toBe(200);
      await pipeline.settle();
      peak = Math.max(peak, (await pipeline.status(upload.uploadId)).stream!.stagedBytes);
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(2 * PART);
    const status = await pipeline.status(upload.uploadId);
    expect(status.stream).toMatchObject({ committedBytes: 4 * PART, contiguousThrough: 48, missingChunks: [] });
    // Four whole parts of 512 KiB chunks: 4 * PART / 512 KiB chunks are inside them, the rest staged.
    expect(status.stream!.committedThrough).toBe((4 * PART) / (512 * 1024));
  }, 60_000);

  it("completes whether the final marker comes first, among the chunks, or last", async () => {
    for (const [name, order] of [
      ["first", [3, 1, 2]],
      ["among", [1, 3, 2]],
      ["last", [1, 2, 3]],
    ] as const) {
      const pipeline = new Pipeline();
      const upload = await createStream(pipeline, `stream/final-${name}.bin`);
      const chunks = [bytes(100, 1), bytes(200, 2), bytes(300, 3)];
      for (const seq of order) {
        expect((await pipeline.putChunk(upload.uploadId, seq, chunks[seq - 1]!, { final: seq === 3 })).status).toBe(
          200,
        );
      }
      await pipeline.settle();
      expect((await pipeline.status(upload.uploadId)).state, name).toBe("completed");
      expect(await objectBytes(upload.key)).toEqual(new Uint8Array([...chunks[0]!, ...chunks[1]!, ...chunks[2]!]));
    }
  });

  it("ends a stream with an empty final chunk, on a part boundary or not", async () => {
    for (const [name, sizes] of [
      ["boundary", [PART, PART]],
      ["mid-part", [PART, 1234]],
      ["empty", []],
    ] as const) {
      const pipeline = new Pipeline();
      const upload = await createStream(pipeline, `stream/empty-final-${name}.bin`);
      const chunks = sizes.map((size, i) => bytes(size, 900 + i));
      for (const [i, chunk] of chunks.entries()) await pipeline.putChunk(upload.uploadId, i + 1, chunk);
      const end = await pipeline.putChunk(upload.uploadId, chunks.length + 1, new Uint8Array(0), { final: true });
      expect(end.status, name).toBe(200);
      await pipeline.settle();

      const status = await pipeline.status(upload.uploadId);
      expect(status.state, name).toBe("completed");
      expect(status.object?.size, name).toBe(sizes.reduce((sum: number, size) => sum + size, 0));
      expect(await objectSha256(upload.key), name).toBe(await sha256Of(chunks));
      expect(await stagedKeys(upload.uploadId), name).toEqual([]);
    }
  });

  it("refuses an empty chunk that is not final", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "stream/empty-middle.bin");
    const response = await pipeline.putChunk(upload.uploadId, 1, new Uint8Array(0));
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { code: "empty_chunk" } });
  });

  it("refuses a conflicting final marker and chunks beyond the final one with 409", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "stream/conflict.bin");
    expect((await pipeline.putChunk(upload.uploadId, 5, bytes(10, 5), { final: true })).status).toBe(200);
    const again = await pipeline.putChunk(upload.uploadId, 5, bytes(10, 5), { final: true });
    expect(again.status).toBe(200);
    const other = await pipeline.putChunk(upload.uploadId, 4, bytes(10, 4), { final: true });
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ error: { code: "final_conflict" } });
    const beyond = await pipeline.putChunk(upload.uploadId, 6, bytes(10, 6));
    expect(beyond.status).toBe(409);
    expect(beyond.body).toMatchObject({ error: { code: "beyond_final_chunk" } });

    const later = await createStream(pipeline, "stream/conflict-later.bin");
    await pipeline.putChunk(later.uploadId, 9, bytes(10, 9));
    const tooEarly = await pipeline.putChunk(later.uploadId, 8, bytes(10, 8), { final: true });
    expect(tooEarly.status).toBe(409);
  });

  it("treats re-sent chunks safely: same bytes are a no-op, new bytes replace a staged chunk, a coalesced one cannot change", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "stream/resend.bin");
    // Half a part: it stays staged until chunk 2 completes the part.
    const first = bytes(PART / 2, 1);
    expect((await pipeline.putChunk(upload.uploadId, 1, first)).body.duplicate).toBe(false);
    expect((await pipeline.putChunk(upload.uploadId, 1, first)).body.duplicate).toBe(true);
    const replacement = bytes(PART / 2, 2);
    expect((await pipeline.putChunk(upload.uploadId, 1, replacement)).body.duplicate).toBe(false);
    const second = bytes(PART / 2, 4);
    expect((await pipeline.putChunk(upload.uploadId, 2, second)).status).toBe(200);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).stream?.committedBytes).toBe(PART);

    const same = await pipeline.putChunk(upload.uploadId, 1, replacement);
    expect(same.status).toBe(200);
    expect(same.body.duplicate).toBe(true);
    const changed = await pipeline.putChunk(upload.uploadId, 1, first);
    expect(changed.status).toBe(409);
    expect(changed.body).toMatchObject({ error: { code: "chunk_committed" } });

    await pipeline.putChunk(upload.uploadId, 3, bytes(7, 3), { final: true });
    await pipeline.settle();
    expect(await sha256((await objectBytes(upload.key))!)).toBe(
      await sha256(new Uint8Array([...replacement, ...second, ...bytes(7, 3)])),
    );
  });

  it("reports received, missing, staged and committed chunks in the status", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "stream/status.bin");
    for (const seq of [1, 2, 3, 6, 9]) await pipeline.putChunk(upload.uploadId, seq, bytes(1000, seq));
    await pipeline.putChunk(upload.uploadId, 12, bytes(10, 12), { final: true });
    await pipeline.settle();
    const status = await pipeline.status(upload.uploadId);
    expect(status.mode).toBe("stream");
    expect(status.stream).toEqual({
      chunksReceived: 6,
      finalChunk: 12,
      contiguousThrough: 3,
      committedThrough: 0,
      missingChunks: ["4-5", "7-8", "10-11"],
      stagedBytes: 5010,
      committedBytes: 0,
    });
  });

  it("sweeps an abandoned stream: aborted in R2, no staged chunk left behind", async () => {
    const logs = captureLogs(["sweep"]);
    const pipeline = new Pipeline(D1_STORE);
    const upload = await createStream(pipeline, "stream/abandoned.bin", { staleAfterSeconds: 60 });
    for (let seq = 1; seq <= 12; seq++) await pipeline.putChunk(upload.uploadId, seq, bytes(MiB, seq));
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).stream?.committedBytes).toBe(2 * PART);
    expect((await stagedKeys(upload.uploadId)).length).toBeGreaterThan(0);

    await pipeline.cron(Date.now() + HOUR);

    expect((await pipeline.status(upload.uploadId)).state).toBe("aborted");
    expect(await stagedKeys(upload.uploadId)).toEqual([]);
    expect(logs.named("sweep")).toEqual([expect.objectContaining({ staleAborted: 1 })]);
    const r2 = env.BUCKET.resumeMultipartUpload(upload.key, await r2UploadIdOf(upload.uploadId));
    await expect(r2.uploadPart(9, bytes(10, 1))).rejects.toThrow(/does not exist/);
    expect((await pipeline.putChunk(upload.uploadId, 13, bytes(10, 13))).status).toBe(409);
  });

  it("retries a coalesce interrupted by a storage failure without losing or doubling bytes", async () => {
    const logs = captureLogs(["coalesce_failed"]);
    let failures = 0;
    const probe = probeBucket(env.BUCKET, {
      beforeUploadPart: (call) => {
        if (call === 2) {
          failures++;
          throw r2Error("We encountered an internal error. Please try again.", 10001);
        }
      },
    });
    const pipeline = new Pipeline({ bucket: probe.bucket, ...D1_STORE });
    const upload = await createStream(pipeline, "stream/interrupted.bin");
    const chunks = Array.from({ length: 11 }, (_, i) => bytes(MiB, 300 + i));
    for (const [i, chunk] of chunks.entries()) {
      await pipeline.putChunk(upload.uploadId, i + 1, chunk, { final: i === chunks.length - 1 });
    }
    await pipeline.settle();

    expect(failures).toBe(1);
    expect(logs.named("coalesce_failed")).toEqual([
      expect.objectContaining({ uploadId: upload.uploadId, error: expect.stringMatching(/internal error/) }),
    ]);
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await partSizes(upload.uploadId)).toEqual([PART, PART, MiB]);
    expect(await objectSha256(upload.key)).toBe(await sha256Of(chunks));
  });

  it("serialises coalescing of one stream across concurrent batches", async () => {
    const pipeline = new Pipeline(D1_STORE);
    const upload = await createStream(pipeline, "stream/concurrent.bin");
    const chunks = Array.from({ length: 16 }, (_, i) => bytes(MiB, 700 + i));
    for (const [i, chunk] of chunks.entries()) {
      await pipeline.putChunk(upload.uploadId, i + 1, chunk, { final: i === chunks.length - 1 });
    }
    const events = pipeline.queue.drainAll();
    const results = await Promise.all([pipeline.deliver(events), pipeline.deliver(events), pipeline.deliver(events)]);
    expect(results.some((result) => result.retryMessages.length > 0)).toBe(true);
    await pipeline.settle();
    // Whatever was retried or continued: still one copy of every byte, in order.
    await pipeline.deliver(events);
    await pipeline.settle();

    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await partSizes(upload.uploadId)).toEqual([PART, PART, PART, MiB]);
    expect(await objectSha256(upload.key)).toBe(await sha256Of(chunks));
  });

  it("does not serve staged chunks and reserves their prefix", async () => {
    const pipeline = new Pipeline(D1_STORE);
    const upload = await createStream(pipeline, "stream/hidden.bin");
    await pipeline.putChunk(upload.uploadId, 1, bytes(10, 1));
    const [key] = await stagedKeys(upload.uploadId);
    expect((await pipeline.fetch(`/objects/${key}`)).status).toBe(404);
    expect((await pipeline.fetch(`/${key}?action=get`)).status).toBe(400);
    const reserved = await pipeline.json("/uploads", { method: "POST", body: JSON.stringify({ key: `${key}x` }) });
    expect(reserved.status).toBe(400);
  });

  it("refuses chunks for part uploads and parts for streams", async () => {
    const pipeline = new Pipeline();
    const parts = await pipeline.create({ key: "stream/not-a-stream.bin", partSize: PART });
    expect((await pipeline.putChunk(parts.uploadId, 1, bytes(10, 1))).body).toMatchObject({
      error: { code: "not_a_stream" },
    });
    const stream = await createStream(pipeline, "stream/not-parts.bin");
    expect((await pipeline.putPart(stream.uploadId, 1, bytes(10, 1))).body).toMatchObject({
      error: { code: "not_parts" },
    });
  });
});

describe("final-part marker", () => {
  it("completes an upload of unknown length once the part marked final and all before it are in", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "final/unknown.bin", partSize: PART });
    const last = bytes(99, 3);
    expect((await pipeline.status(upload.uploadId)).expectedParts).toBeNull();
    // The marker may come before the other parts.
    const marked = await pipeline.json(`/uploads/${upload.uploadId}/parts/3?final=1`, {
      method: "PUT",
      body: last,
      headers: { "content-length": String(last.byteLength) },
    });
    expect(marked.status).toBe(200);
    expect((await pipeline.status(upload.uploadId)).expectedParts).toBe(3);
    const first = bytes(PART, 1);
    const second = bytes(PART, 2);
    await pipeline.putPart(upload.uploadId, 1, first);
    await pipeline.putPart(upload.uploadId, 2, second);
    await pipeline.deliver(pipeline.queue.drain());

    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await sha256((await objectBytes(upload.key))!)).toBe(
      await sha256(new Uint8Array([...first, ...second, ...last])),
    );
  });

  it("refuses a second, conflicting final marker with 409 and writes nothing", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "final/conflict.bin", partSize: PART });
    const mark = (n: number) =>
      pipeline.json(`/uploads/${upload.uploadId}/parts/${n}?final=1`, {
        method: "PUT",
        body: bytes(10, n),
        headers: { "content-length": "10" },
      });
    expect((await mark(4)).status).toBe(200);
    expect((await mark(4)).status).toBe(200);
    const conflicting = await mark(3);
    expect(conflicting.status).toBe(409);
    expect(conflicting.body).toMatchObject({ error: { code: "final_conflict" } });
    expect(pipeline.queue.drain().map((event) => event.partNumber)).toEqual([4, 4]);
  });
});
