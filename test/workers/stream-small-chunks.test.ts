import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { mapWithConcurrency } from "../../shared/concurrency";
import { stagingPrefix } from "../../shared/db/chunks";
import { countRoundTrips } from "./faults";
import { bytes, concat, objectBytes, PART, Pipeline, sha256 } from "./helpers";
import { D1_STORE } from "./stream-helpers";

/** PUTs in flight at once: enough to keep the in-process producer busy, few enough to stay polite. */
const SENDERS = 16;

/**
 * The local runtime takes ~7 ms per chunk PUT whatever the concurrency (one workerd thread, local
 * R2 and D1), so 10,001 PUTs alone take over a minute here; coalescing them takes seconds.
 */
const LONG_STREAM_TIMEOUT = 300_000;

/** Sends every chunk (the last one marked final), `SENDERS` at a time, and expects a 200 for each. */
async function sendAll(pipeline: Pipeline, uploadId: string, chunks: Uint8Array[]): Promise<void> {
  const statuses = await mapWithConcurrency(
    chunks.map((_, index) => index + 1),
    SENDERS,
    async (seq) => (await pipeline.putChunk(uploadId, seq, chunks[seq - 1]!, { final: seq === chunks.length })).status,
  );
  expect(statuses.filter((status) => status !== 200)).toEqual([]);
}

async function stagedKeys(uploadId: string): Promise<string[]> {
  return (await env.BUCKET.list({ prefix: stagingPrefix(uploadId) })).objects.map((object) => object.key);
}

/**
 * A stream of `count` chunks of `size` bytes: sent in full, then only ONE of its events is
 * delivered, so whatever the coalescer cannot do in one invocation it must hand on to the next
 * (`stream.continue`) until the stream completes.
 */
async function smallChunkStream(count: number, sizes: readonly number[], seed: number) {
  const probe = countRoundTrips(env.DB);
  const pipeline = new Pipeline({ db: probe.db, ...D1_STORE });
  const upload = await pipeline.create({
    key: `stream-small/${count}x${sizes.join("-")}.bin`,
    mode: "stream",
    partSize: PART,
  });
  // Chunk i has sizes[i % sizes.length] bytes.
  const chunks = Array.from({ length: count }, (_, i) => bytes(sizes[i % sizes.length] ?? 1, seed * 100_000 + i));
  await sendAll(pipeline, upload.uploadId, chunks);
  expect((await pipeline.status(upload.uploadId)).stream).toMatchObject({
    chunksReceived: count,
    contiguousThrough: count,
    finalChunk: count,
  });

  const events = pipeline.queue.drainAll();
  expect(events.length).toBe(count);
  const before = probe.roundTrips();
  await pipeline.deliver(events.slice(0, 1));
  const continued = pipeline.queue.sent.filter((event) => event.type === "stream.continue").length;
  await pipeline.settle(5_000);
  const roundTrips = probe.roundTrips() - before;
  return { pipeline, upload, chunks, continued, roundTrips };
}

// These pin the D1 chunk path (streams opened before chunk objects): its coalescer reads
// chunks a page and a budget at a time, which is what they exercise.
describe("streams of small chunks on the D1 chunk path", () => {
  for (const [count, sizes] of [
    [2_001, [100]],
    [2_001, [1]],
    // Both sizes past 10,000 chunks in one stream: 10,001 PUTs take over a minute here already.
    [10_001, [1, 100]],
  ] as const) {
    it(
      `completes a stream of ${count.toLocaleString("en")} chunks of ${sizes.join(" and ")} byte(s) byte-exact from a single event`,
      async () => {
        const { pipeline, upload, chunks, continued, roundTrips } = await smallChunkStream(
          count,
          sizes,
          count + sizes.length,
        );
        // More chunks than one invocation may read: it went on in the next one, and so on.
        expect(continued).toBe(1);
        const total = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
        const status = await pipeline.status(upload.uploadId);
        expect(status.state, status.failureReason ?? JSON.stringify(status.stream)).toBe("completed");
        expect(status.object?.size).toBe(total);
        expect(status.stream).toMatchObject({ committedBytes: total, contiguousThrough: count });
        expect(await sha256((await objectBytes(upload.key))!)).toBe(await sha256(concat(...chunks)));
        expect(await stagedKeys(upload.uploadId)).toEqual([]);
        // Coalescing costs a few D1 round trips per few hundred chunks, not a few per chunk.
        expect(roundTrips).toBeLessThan(count / 20);
      },
      LONG_STREAM_TIMEOUT,
    );
  }

  it("completes 1,999 chunks just as before (fewer than one page of chunks)", async () => {
    const { pipeline, upload, chunks } = await smallChunkStream(1_999, [100], 7);
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(concat(...chunks));
  }, 60_000);

  it("does not stall when the message that continues a long stream is lost: the cron picks it up", async () => {
    const pipeline = new Pipeline(D1_STORE);
    const upload = await pipeline.create({ key: "stream-small/lost-continue.bin", mode: "stream", partSize: PART });
    // Enough chunks that the first invocation cannot write the part and must hand on.
    const chunks = Array.from({ length: 801 }, (_, i) => bytes(1, 40_000 + i));
    await sendAll(pipeline, upload.uploadId, chunks);
    await pipeline.deliver(pipeline.queue.drainAll().slice(0, 1));
    // The stream.continue the first invocation queued never arrives.
    expect(pipeline.queue.drainAll()).toEqual([{ type: "stream.continue", uploadId: upload.uploadId }]);
    expect((await pipeline.status(upload.uploadId)).state).toBe("open");

    await pipeline.cron(Date.now() + 60_000);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(concat(...chunks));
    expect(await stagedKeys(upload.uploadId)).toEqual([]);
  }, 60_000);
});
