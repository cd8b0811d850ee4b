import { describe, expect, it } from "vitest";
import { bytes, MiB, PART, Pipeline } from "./helpers";
import { createStream, objectSha256, partSizes, sha256Of, stagedKeys } from "./stream-helpers";

describe("chunk streams", () => {
  it("coalesces a 64 MiB stream of 64 KiB chunks into parts of exactly the part size", async () => {
    const pipeline = new Pipeline();
    const upload = await createStream(pipeline, "stream/64mib.bin");
    const chunks = Array.from({ length: 1024 }, (_, i) => bytes(64 * 1024, 1000 + i));
    for (const [i, chunk] of chunks.entries()) {
      const response = await pipeline.putChunk(upload.uploadId, i + 1, chunk, { final: i === chunks.length - 1 });
      expect(response.status).toBe(200);
    }
    await pipeline.settle();

    const status = await pipeline.status(upload.uploadId);
    expect(status.state).toBe("completed");
    expect(status.object?.size).toBe(64 * MiB);
    const sizes = await partSizes(upload.uploadId);
    expect(sizes.slice(0, -1).every((size) => size === PART)).toBe(true);
    expect(sizes.at(-1)).toBe(64 * MiB - 12 * PART);
    expect(await objectSha256(upload.key)).toBe(await sha256Of(chunks));
    expect(await stagedKeys(upload.uploadId)).toEqual([]);
  }, 120_000);
});
