import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bytes, concat, PART, Pipeline, sha256 } from "./helpers";

type Uploaded = { partNumber: number; etag: string };

/** The seed API's part and complete calls, on uploads made by either API. */
function seed(pipeline: Pipeline, key: string, uploadId: string) {
  return {
    uploadPart: (partNumber: number, data: Uint8Array) =>
      pipeline.json<Uploaded>(`/${key}?action=mpu-uploadpart&uploadId=${uploadId}&partNumber=${partNumber}`, {
        method: "PUT",
        body: data,
        headers: { "content-length": String(data.byteLength) },
      }),
    complete: (parts: Uploaded[]) =>
      pipeline.json(`/${key}?action=mpu-complete&uploadId=${uploadId}`, {
        method: "POST",
        body: JSON.stringify({ parts }),
      }),
  };
}

const expectedPartsOf = async (uploadId: string) =>
  (
    await env.DB.prepare("SELECT expected_parts AS n FROM uploads WHERE upload_id = ?1")
      .bind(uploadId)
      .first<{ n: number | null }>()
  )?.n;

describe("the seed-compatible API keeps the native guarantees", () => {
  it("refuses to complete a native 2-part upload with only part 1, and the upload stays open for part 2", async () => {
    const pipeline = new Pipeline();
    const data = [bytes(PART, 1), bytes(100, 2)];
    const upload = await pipeline.create({
      key: "guarantee/subset.bin",
      parts: 2,
      partSize: PART,
      sha256: await sha256(concat(...data)),
    });
    const api = seed(pipeline, upload.key, upload.uploadId);
    const first = await api.uploadPart(1, data[0]!);
    expect(first.status).toBe(200);

    const refused = await api.complete([first.body]);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { code: "parts_mismatch" } });
    expect(await expectedPartsOf(upload.uploadId)).toBe(2);

    const second = await api.uploadPart(2, data[1]!);
    expect(second.status).toBe(200);
    expect((await api.complete([first.body, second.body])).status).toBe(200);
    const object = await env.BUCKET.get(upload.key);
    expect(await sha256(await object!.arrayBuffer())).toBe(await sha256(concat(...data)));
  });

  it("fails the upload and deletes the object when the declared SHA-256 does not match, whichever API completes it", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({
      key: "guarantee/digest.bin",
      parts: 1,
      partSize: PART,
      sha256: "0".repeat(64),
    });
    const api = seed(pipeline, upload.key, upload.uploadId);
    const part = await api.uploadPart(1, bytes(500, 3));
    const answer = await api.complete([part.body]);
    expect(answer.status).toBe(400);
    expect((await pipeline.status(upload.uploadId)).state).toBe("failed");
    expect(await env.BUCKET.head(upload.key)).toBeNull();
  });

  it("leaves the part count unset after a refused complete, so the consumer never completes the refused list", async () => {
    const pipeline = new Pipeline();
    const { uploadId } = (
      await pipeline.json<{ uploadId: string }>("/guarantee/open.bin?action=mpu-create", { method: "POST" })
    ).body;
    const api = seed(pipeline, "guarantee/open.bin", uploadId);
    const part = (await api.uploadPart(1, bytes(PART, 4))).body;
    const refused = await api.complete([{ partNumber: 1, etag: "not-the-etag" }]);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { code: "complete_refused" } });
    expect(await expectedPartsOf(uploadId)).toBeNull();

    await pipeline.settle();
    await pipeline.cron(Date.now());
    expect((await pipeline.status(uploadId)).state).toBe("open");
    const last = (await api.uploadPart(2, bytes(10, 5))).body;
    expect((await api.complete([part, last])).status).toBe(200);
  });

  it("applies the native part rules to seed parts of a native upload", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "guarantee/rules.bin", parts: 2, partSize: PART });
    const short = await seed(pipeline, upload.key, upload.uploadId).uploadPart(1, bytes(1000, 6));
    expect(short.status).toBe(400);
    expect(short.body).toMatchObject({ error: { code: "part_size_mismatch" } });
    expect((await pipeline.status(upload.uploadId)).receivedParts).toBe(0);
    expect(pipeline.queue.drain()).toEqual([]);
  });

  it("refuses seed parts and completes on a stream, which only takes chunks", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "guarantee/stream.bin", mode: "stream" });
    expect((await pipeline.putChunk(upload.uploadId, 1, bytes(100, 7))).status).toBe(200);
    const api = seed(pipeline, upload.key, upload.uploadId);
    const part = await api.uploadPart(1, bytes(PART, 8));
    expect(part.status).toBe(400);
    expect(part.body).toMatchObject({ error: { code: "not_parts" } });
    const complete = await api.complete([{ partNumber: 1, etag: "x" }]);
    expect(complete.status).toBe(400);
    expect(complete.body).toMatchObject({ error: { code: "not_parts" } });
    expect((await pipeline.status(upload.uploadId)).state).toBe("open");
  });
});
