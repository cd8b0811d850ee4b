import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { UploadStatus } from "../../shared/schemas";
import { bytes, PART, Pipeline, r2UploadIdOf, storedState, uploadParts } from "./helpers";

function expectError(response: { status: number; body: unknown }, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
}

const post = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

describe("POST /uploads", () => {
  it("registers the upload in D1 at once and echoes its settings", async () => {
    const pipeline = new Pipeline();
    const created = await pipeline.json<UploadStatus & { parts: number }>(
      "/uploads",
      post({ key: "new/file.bin", parts: 4, contentType: "text/plain", staleAfterSeconds: 600 }),
    );
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/uploads/${created.body.uploadId}`);
    expect(created.body).toMatchObject({
      key: "new/file.bin",
      state: "open",
      parts: 4,
      expectedParts: 4,
      partSize: 8 * 1024 * 1024,
      staleAfterSeconds: 600,
      missingParts: ["1-4"],
    });
    expect((await pipeline.status(created.body.uploadId)).state).toBe("open");
  });

  it("gives every upload a short, URL-safe id of its own, mapped to R2's multipart id in D1", async () => {
    const pipeline = new Pipeline();
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { body } = await pipeline.json<UploadStatus>("/uploads", post({ key: `ids/${i}.bin` }));
      expect(body.uploadId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      const r2UploadId = await r2UploadIdOf(body.uploadId);
      expect(r2UploadId).not.toBe(body.uploadId);
      // R2 knows the upload by its own id, under the same key.
      await env.BUCKET.resumeMultipartUpload(`ids/${i}.bin`, r2UploadId).abort();
      ids.add(body.uploadId);
    }
    expect(ids.size).toBe(20);
  });

  it.each([
    ["a body that is not JSON", "{nope", 400, "invalid_json"],
    ["an empty body", "", 400, "invalid_json"],
    ["a missing key", { parts: 2 }, 400, "invalid_request"],
    ["an empty key", { key: "" }, 400, "invalid_request"],
    ["a key with a leading slash", { key: "/abs" }, 400, "invalid_request"],
    ["an unknown field", { key: "a", colour: "red" }, 400, "invalid_request"],
    ["a part count of 0", { key: "a", parts: 0 }, 400, "invalid_request"],
    ["a part count over 5000", { key: "a", parts: 5001 }, 400, "invalid_request"],
    ["a part size under 5 MiB", { key: "a", partSize: 1024 }, 400, "invalid_part_size"],
    ["a part size over the body limit", { key: "a", partSize: 200_000_000 }, 400, "invalid_part_size"],
    ["a stale window past 7 days", { key: "a", staleAfterSeconds: 8 * 86400 }, 400, "invalid_stale_after"],
    ["metadata that is not strings", { key: "a", metadata: { n: 1 } }, 400, "invalid_request"],
    ["a fractional part count", { key: "a", parts: 1.5 }, 400, "invalid_request"],
    ["a part size past R2's largest object", { key: "a", partSize: 2 ** 53 }, 400, "invalid_request"],
    ["a key over 1,024 bytes", { key: "k".repeat(1025) }, 400, "invalid_request"],
  ])("refuses %s and writes nothing", async (_, body, status, code) => {
    const pipeline = new Pipeline();
    const before = await storedState();
    expectError(await pipeline.json("/uploads", post(body)), status, code);
    expect(await storedState()).toBe(before);
  });
});

describe("PUT /uploads/:id/parts/:n", () => {
  let pipeline: Pipeline;
  let upload: UploadStatus;
  beforeAll(async () => {
    pipeline = new Pipeline();
    upload = await pipeline.create({ key: "bad/parts.bin", parts: 3, partSize: PART });
  });

  it.each([
    ["part number 0", 0, PART, 400, "invalid_request"],
    ["part number 10001", 10001, PART, 400, "invalid_request"],
    ["a part number that is not a number", "abc", PART, 400, "invalid_request"],
    ["a fractional part number", "1.5", PART, 400, "invalid_request"],
    ["a part beyond the expected count", 4, 10, 400, "part_out_of_range"],
    ["a non-final part of the wrong size", 1, PART - 1, 400, "part_size_mismatch"],
    ["a final part larger than the part size", 3, PART + 1, 413, "part_too_large"],
  ])("refuses %s before writing anything", async (_, partNumber, size, status, code) => {
    const before = await storedState();
    expectError(await pipeline.putPart(upload.uploadId, partNumber, bytes(size, 1)), status, code);
    expect(pipeline.queue.drain()).toEqual([]);
    expect(await storedState()).toBe(before);
  });

  it("refuses a body without Content-Length with 411", async () => {
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(bytes(10, 1));
        controller.close();
      },
    });
    const response = await pipeline.json(`/uploads/${upload.uploadId}/parts/3`, { method: "PUT", body: stream });
    expectError(response, 411, "length_required");
    expect(pipeline.queue.drain()).toEqual([]);
  });

  it("answers 404 for an unknown upload", async () => {
    expectError(await pipeline.putPart("no-such-upload", 1, bytes(10, 1)), 404, "upload_not_found");
  });

  it("answers 409 for parts of aborted and completed uploads", async () => {
    const aborted = await pipeline.create({ key: "bad/aborted.bin", parts: 1, partSize: PART });
    expect((await pipeline.json(`/uploads/${aborted.uploadId}`, { method: "DELETE" })).status).toBe(200);
    expectError(await pipeline.putPart(aborted.uploadId, 1, bytes(10, 1)), 409, "upload_not_open");

    const done = await pipeline.create({ key: "bad/done.bin", parts: 1, partSize: PART });
    await uploadParts(pipeline, done.uploadId, [1], 1, 10, 2);
    await pipeline.deliver(pipeline.queue.drain());
    const before = await storedState();
    expectError(await pipeline.putPart(done.uploadId, 1, bytes(10, 3)), 409, "upload_not_open");
    expect(await storedState()).toBe(before);
  });
});

describe("GET /uploads/:id", () => {
  it("reports received and missing parts compactly, with the bytes received", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "status/ranges.bin", parts: 9, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1, 2, 3, 8], 9, 10, 1);
    await pipeline.deliver(pipeline.queue.drain());
    const status = await pipeline.status(upload.uploadId);
    expect(status).toMatchObject({
      state: "open",
      expectedParts: 9,
      receivedParts: 4,
      missingParts: ["4-7", "9"],
      bytesReceived: 4 * PART,
      object: null,
    });
  });

  it("answers 404 with the error body for an unknown upload", async () => {
    expectError(await new Pipeline().json("/uploads/nope"), 404, "upload_not_found");
  });
});

describe("DELETE /uploads/:id", () => {
  it("aborts in R2 and D1, and is idempotent", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "abort/me.bin", parts: 2, partSize: PART });
    const first = await pipeline.json<UploadStatus>(`/uploads/${upload.uploadId}`, { method: "DELETE" });
    expect(first.status).toBe(200);
    expect(first.body.state).toBe("aborted");
    expect(first.body.abortReason).toBe("client");
    const again = await pipeline.json<UploadStatus>(`/uploads/${upload.uploadId}`, { method: "DELETE" });
    expect(again.status).toBe(200);
    expect(again.body.state).toBe("aborted");
    const r2 = env.BUCKET.resumeMultipartUpload(upload.key, await r2UploadIdOf(upload.uploadId));
    await expect(r2.uploadPart(1, bytes(PART, 1))).rejects.toThrow(/does not exist/);
  });

  it("refuses to abort a completed upload", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "abort/done.bin", parts: 1, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1], 1, 10, 4);
    await pipeline.deliver(pipeline.queue.drain());
    expectError(await pipeline.json(`/uploads/${upload.uploadId}`, { method: "DELETE" }), 409, "upload_not_open");
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
  });
});

describe("POST /uploads/:id/complete", () => {
  it("asks for a part count when the upload has none, and writes nothing", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "complete/nocount.bin", partSize: PART });
    const before = await storedState();
    expectError(await pipeline.json(`/uploads/${upload.uploadId}/complete`, { method: "POST" }), 400, "parts_required");
    expect(await storedState()).toBe(before);
  });

  it("refuses a count that contradicts the one given at creation", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "complete/conflict.bin", parts: 3, partSize: PART });
    expectError(await pipeline.json(`/uploads/${upload.uploadId}/complete`, post({ parts: 2 })), 409, "parts_mismatch");
  });

  it("refuses a count that leaves a recorded part of the wrong size in the middle", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "complete/misfit.bin", partSize: PART });
    expect((await pipeline.putPart(upload.uploadId, 1, bytes(100, 1))).status).toBe(200);
    expect((await pipeline.putPart(upload.uploadId, 2, bytes(100, 2))).status).toBe(200);
    await pipeline.deliver(pipeline.queue.drain());
    const before = await storedState();
    expectError(
      await pipeline.json(`/uploads/${upload.uploadId}/complete`, post({ parts: 2 })),
      409,
      "part_size_mismatch",
    );
    expectError(
      await pipeline.json(`/uploads/${upload.uploadId}/complete`, post({ parts: 1 })),
      409,
      "parts_beyond_count",
    );
    expect(await storedState()).toBe(before);
  });
});

describe("GET /objects/:key", () => {
  const data = bytes(1000, 9);
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = new Pipeline();
    await env.BUCKET.put("objects/read me.txt", data, { httpMetadata: { contentType: "text/plain" } });
  });

  it("serves the object with its ETag, length and type", async () => {
    const response = await pipeline.fetch("/objects/objects/read%20me.txt");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain");
    expect(response.headers.get("content-length")).toBe("1000");
    expect(response.headers.get("etag")).toMatch(/^".+"$/);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(data);
  });

  it("answers HEAD with headers and no body", async () => {
    const response = await pipeline.fetch("/objects/objects/read%20me.txt", { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toBe("1000");
    expect((await response.arrayBuffer()).byteLength).toBe(0);
  });

  it("serves byte ranges with 206 and Content-Range", async () => {
    const response = await pipeline.fetch("/objects/objects/read%20me.txt", { headers: { range: "bytes=10-19" } });
    expect(response.status).toBe(206);
    expect(response.headers.get("content-range")).toBe("bytes 10-19/1000");
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(data.slice(10, 20));

    const suffix = await pipeline.fetch("/objects/objects/read%20me.txt", { headers: { range: "bytes=-5" } });
    expect(suffix.status).toBe(206);
    expect(suffix.headers.get("content-range")).toBe("bytes 995-999/1000");
  });

  it("answers 304 when If-None-Match matches", async () => {
    const etag = (await pipeline.fetch("/objects/objects/read%20me.txt", { method: "HEAD" })).headers.get("etag")!;
    const response = await pipeline.fetch("/objects/objects/read%20me.txt", { headers: { "if-none-match": etag } });
    expect(response.status).toBe(304);
  });

  it("ignores malformed conditional and range headers, as HTTP says to", async () => {
    const response = await pipeline.fetch("/objects/objects/read%20me.txt", {
      headers: { "if-none-match": "", range: "lines=1-2", "if-modified-since": "yesterday" },
    });
    expect(response.status).toBe(200);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(data);
  });

  it("answers 404 with the error body for a missing object", async () => {
    expectError(await pipeline.json("/objects/nothing/here"), 404, "object_not_found");
  });
});

describe("routing", () => {
  it("publishes an OpenAPI document generated from the request schemas", async () => {
    const { status, body } = await new Pipeline().json<{
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
    }>("/openapi.json");
    expect(status).toBe(200);
    expect(body.openapi).toBe("3.1.0");
    expect(Object.keys(body.paths)).toContain("/uploads/{uploadId}/parts/{partNumber}");
    expect(body.components.schemas.CreateUploadRequest?.required).toEqual(["key"]);
    expect(Object.keys(body.components.schemas.CreateUploadRequest?.properties ?? {})).toEqual(
      expect.arrayContaining(["key", "parts", "partSize", "staleAfterSeconds"]),
    );
  });

  it("answers unknown routes with a JSON 404", async () => {
    expectError(await new Pipeline().json("/nowhere"), 404, "not_found");
  });
});
