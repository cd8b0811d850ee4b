import { describe, expect, it } from "vitest";
import { Rng } from "./chaos";
import { bytes, Pipeline } from "./helpers";
import { createStream, objectSha256, sha256Of, stagedKeys } from "./stream-helpers";

describe("chunk streams", () => {
  it("completes a stream of 2,000 random-size chunks sent in random order, 10% twice, byte for byte", async () => {
    const rng = new Rng(4242);
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "stream/random.bin");
    const chunks = Array.from({ length: 2000 }, (_, i) => bytes(1 + rng.int(256 * 1024), 5000 + i));
    const sends = chunks.map((_, i) => i + 1);
    sends.push(...sends.filter(() => rng.chance(0.1)));
    for (const seq of rng.shuffle(sends)) {
      const response = await pipeline.putChunk(upload.uploadId, seq, chunks[seq - 1]!, {
        final: seq === chunks.length,
      });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      // Deliver as we go, the way the queue would, so coalescing runs while chunks arrive.
      if (rng.chance(0.05)) await pipeline.settle();
    }
    await pipeline.settle();

    const status = await pipeline.status(upload.uploadId);
    expect(status.state, status.failureReason ?? "").toBe("completed");
    expect(status.object?.size).toBe(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
    expect(await objectSha256(upload.key)).toBe(await sha256Of(chunks));
    expect(await stagedKeys(upload.uploadId)).toEqual([]);
  }, 240_000);
});
