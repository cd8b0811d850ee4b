import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytes, Pipeline, storedState } from "./helpers";

const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });

function expectRefused(response: { status: number; body: unknown }, status = 400) {
  expect(response.status).toBe(status);
  expect(response.body).toEqual({
    error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
  });
}

/** Uploads one small part to a fresh 1-part upload of `key` and completes it. */
async function storeObject(pipeline: Pipeline, body: Record<string, unknown>): Promise<void> {
  const upload = await pipeline.create({ ...body, parts: 1 });
  expect((await pipeline.putPart(upload.uploadId, 1, bytes(16, 1))).status).toBe(200);
  await pipeline.settle();
  expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
}

const objectPath = (key: string) => `/objects/${key.split("/").map(encodeURIComponent).join("/")}`;

describe("input rules: no input gives a 5xx, and every accepted key can be read back", () => {
  it.each([
    ["over 1,024 bytes", "k".repeat(1025)],
    ["1,200 bytes of UTF-8 in 400 characters", "é".repeat(400) + "x".repeat(400)],
    ["a '..' segment", "a/../b"],
    ["a '.' segment", "./a"],
    ["an empty segment", "a//b"],
    ["a trailing slash", "dir/"],
    ["a NUL", "a\u0000b"],
    ["a newline", "a\nb"],
    ["a leading slash", "/a"],
  ])("refuses a key with %s, writing nothing", async (_, key) => {
    const pipeline = new Pipeline();
    const before = await storedState();
    expectRefused(await pipeline.json("/uploads", post({ key })));
    expect(await storedState()).toBe(before);
  });

  // The seed API's key is the raw path: URLs cannot carry '.', '..' or control characters there
  // (they are resolved or percent-encoded), so these are the rules a path can break.
  it.each([
    ["over 1,024 bytes", "k".repeat(1025)],
    ["1,200 bytes of UTF-8", "%C3%A9".repeat(200)],
    ["an empty segment", "a//b"],
    ["a trailing slash", "dir/"],
  ])("refuses a seed-API key with %s, writing nothing", async (_, rawKey) => {
    const pipeline = new Pipeline();
    const before = await storedState();
    expectRefused(await pipeline.json(`/${rawKey}?action=mpu-create`, { method: "POST" }));
    expect(await storedState()).toBe(before);
  });

  it("answers 404, not 500, for reads of keys no upload could have made", async () => {
    const pipeline = new Pipeline();
    for (const path of [
      `/objects/${"k".repeat(1100)}`,
      `/objects/${"k".repeat(16_000)}`,
      `/${"k".repeat(1100)}?action=get`,
    ]) {
      expect((await pipeline.fetch(path)).status).toBeGreaterThanOrEqual(400);
      expect((await pipeline.fetch(path)).status).toBeLessThan(500);
    }
  });

  it("takes metadata up to R2's 8 KiB and refuses a byte more with the limit in the message", async () => {
    const pipeline = new Pipeline();
    await storeObject(pipeline, { key: "rules/meta-max.bin", metadata: { big: "v".repeat(8192 - 3) } });
    const object = await env.BUCKET.head("rules/meta-max.bin");
    expect(object?.customMetadata?.big).toHaveLength(8189);

    const refused = await pipeline.json<{ error: { message: string } }>(
      "/uploads",
      post({ key: "rules/meta.bin", metadata: { big: "v".repeat(8190) } }),
    );
    expectRefused(refused);
    expect(refused.body.error.message).toContain("8192 bytes");
  });

  it.each([
    ["a CR LF", "text/plain\r\nX-Evil: 1"],
    ["a NUL", "text/plain\u0000"],
    ["no subtype", "text"],
  ])("refuses a contentType with %s, so no object becomes unreadable", async (_, contentType) => {
    const pipeline = new Pipeline();
    expectRefused(await pipeline.json("/uploads", post({ key: "rules/type.bin", contentType })));
  });

  it.each(["1e3", "0x10", "+4", " 5 ", "6.0", "01x", "10001", "0"])(
    "refuses part number %j: decimal digits only",
    async (n) => {
      const pipeline = new Pipeline();
      const upload = await pipeline.create({ key: "rules/number.bin" });
      expectRefused(
        await pipeline.json(`/uploads/${upload.uploadId}/parts/${encodeURIComponent(n)}`, {
          method: "PUT",
          body: "x",
          headers: { "content-length": "1" },
        }),
      );
      expect((await pipeline.status(upload.uploadId)).receivedParts).toBe(0);
    },
  );

  it("answers 416 with Content-Range bytes */size for a range wholly beyond the object", async () => {
    const pipeline = new Pipeline();
    await storeObject(pipeline, { key: "rules/range.bin" });
    const response = await pipeline.fetch("/objects/rules/range.bin", { headers: { range: "bytes=100-200" } });
    expect(response.status).toBe(416);
    expect(response.headers.get("content-range")).toBe("bytes */16");
    expect(await response.json()).toMatchObject({ error: { code: "range_not_satisfiable" } });
  });

  it("reads back every key, metadata and content type it accepts (property)", async () => {
    const pipeline = new Pipeline();
    const segment = fc.string({ unit: "binary", minLength: 1, maxLength: 12 });
    const key = fc.array(segment, { minLength: 1, maxLength: 4 }).map((segments) => `prop/${segments.join("/")}`);
    const metadata = fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ unit: "binary", maxLength: 40 }), {
      maxKeys: 3,
    });
    const contentType = fc.oneof(
      fc.constantFrom("text/plain", "application/json; charset=utf-8"),
      fc.string({ maxLength: 20 }),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(key, metadata, contentType, async (k, m, t) => {
        const created = await pipeline.json<{ uploadId: string }>(
          "/uploads",
          post({ key: `${k}-${n++}`, metadata: m, contentType: t, parts: 1 }),
        );
        expect(created.status, JSON.stringify(created.body)).toBeLessThan(500);
        if (created.status !== 201) {
          expectRefused(created);
          return;
        }
        const objectKey = `${k}-${n - 1}`;
        expect((await pipeline.putPart(created.body.uploadId, 1, bytes(8, n))).status).toBe(200);
        await pipeline.settle();
        const read = await pipeline.fetch(objectPath(objectKey));
        expect(read.status, objectKey).toBe(200);
        expect(read.headers.get("content-type")).toBe(t);
        expect(new Uint8Array(await read.arrayBuffer())).toEqual(bytes(8, n));
      }),
      { numRuns: 60, seed: 20261126 },
    );
  }, 120_000);
});
