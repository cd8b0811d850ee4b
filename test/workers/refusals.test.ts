import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bytes, concat, objectBytes, PART, Pipeline, r2UploadIdOf, storedState } from "./helpers";

/** A part PUT whose body is shorter than its Content-Length, as a dropped connection leaves it. */
function cutShort(pipeline: Pipeline, uploadId: string, partNumber: number, data: Uint8Array, declared: number) {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(data);
      controller.close();
    },
  });
  return pipeline.fetch(`/uploads/${uploadId}/parts/${partNumber}`, {
    method: "PUT",
    body,
    headers: { "content-length": String(declared) },
    duplex: "half",
  } as RequestInit);
}

describe("a refused or failed part changes nothing", () => {
  it("keeps the accepted copy when a re-send is cut short, and completes with it", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "refusals/short.bin", parts: 2, partSize: PART });
    const first = bytes(PART, 1);
    const last = bytes(300, 2);
    expect((await pipeline.putPart(upload.uploadId, 1, first)).status).toBe(200);
    const before = await storedState();

    const refused = await cutShort(pipeline, upload.uploadId, 1, bytes(1000, 3), PART);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: "length_mismatch" } });
    expect(await storedState()).toBe(before);

    expect((await pipeline.putPart(upload.uploadId, 2, last)).status).toBe(200);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(concat(first, last));
  });

  it("takes the newest of many copies of a part, whichever R2 part number each went to", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "refusals/copies.bin", parts: 2, partSize: PART });
    for (let copy = 0; copy < 4; copy++) {
      expect((await pipeline.putPart(upload.uploadId, 1, bytes(PART, 10 + copy))).status).toBe(200);
    }
    const r2Parts = await env.DB.prepare("SELECT r2_part FROM parts WHERE upload_id = ?1 AND part_number = 1")
      .bind(upload.uploadId)
      .first<{ r2_part: number }>();
    // Copies alternate between part 1's two R2 part numbers, 1 and 2; the fourth is in 2.
    expect(r2Parts?.r2_part).toBe(2);
    expect((await pipeline.putPart(upload.uploadId, 2, bytes(10, 20))).status).toBe(200);
    await pipeline.settle();
    expect(await objectBytes(upload.key)).toEqual(concat(bytes(PART, 13), bytes(10, 20)));
  });

  it("writes a part's first copy to R2 part number 2n-1 and leaves 2n spare", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "refusals/layout.bin", parts: 3, partSize: PART });
    for (const n of [1, 2, 3])
      expect((await pipeline.putPart(upload.uploadId, n, bytes(n === 3 ? 9 : PART, n))).status).toBe(200);
    const { results } = await env.DB.prepare(
      "SELECT part_number, r2_part FROM parts WHERE upload_id = ?1 ORDER BY part_number",
    )
      .bind(upload.uploadId)
      .all<{ part_number: number; r2_part: number }>();
    expect(results).toEqual([
      { part_number: 1, r2_part: 1 },
      { part_number: 2, r2_part: 3 },
      { part_number: 3, r2_part: 5 },
    ]);
    expect(await r2UploadIdOf(upload.uploadId)).not.toBe(upload.uploadId);
  });

  it("refuses more than 5,000 parts, as each part needs two R2 part numbers", async () => {
    const pipeline = new Pipeline();
    const refused = await pipeline.json("/uploads", {
      method: "POST",
      body: JSON.stringify({ key: "refusals/many.bin", parts: 5001 }),
    });
    expect(refused.status).toBe(400);
    const upload = await pipeline.create({ key: "refusals/edge.bin", parts: 5000, partSize: PART });
    expect(
      (
        await pipeline.json(`/uploads/${upload.uploadId}/parts/5001`, {
          method: "PUT",
          body: "x",
          headers: { "content-length": "1" },
        })
      ).status,
    ).toBe(400);
  });
});
