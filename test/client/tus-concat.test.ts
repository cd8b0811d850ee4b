// tus-js-client's parallelUploads: it uploads byte ranges as partial uploads (Upload-Concat:
// partial) at once, then creates the final upload from their URLs. The server assembles the
// final object and the consumer completes it after the POST, so the tests wait for it.
import { describe, expect, it } from "vitest";
import { MiB, uniqueKey } from "./helpers.js";
import {
  baseOptions,
  expectCompletedObject,
  MemoryUrlStorage,
  randomFile,
  recordingStack,
  resumeFromStorage,
  runUpload,
  serverPartSize,
  tusFetch,
  uploadIdOf,
  uploadThenStop,
} from "./tus-helpers.js";

/** Uploads `bytes` with the given parallel options and checks the final upload and object. */
async function parallelUpload(bytes: Buffer, name: string, options: Parameters<typeof runUpload>[1]) {
  const key = uniqueKey(name);
  const wire = recordingStack();
  const { id, url } = await runUpload(bytes, { ...baseOptions(key), ...options, httpStack: wire.stack });

  const posts = wire.exchanges.filter((exchange) => exchange.method === "POST");
  const partials = posts.filter((post) => post.concat === "partial");
  expect(partials).toHaveLength(options.parallelUploads ?? 0);
  expect(partials.every((post) => post.status === 201)).toBe(true);
  // The final lists the partials in byte order; tus-js-client sends it once all are complete.
  const final = posts.at(-1)!;
  expect(final).toMatchObject({ status: 201, length: null });
  expect(final.concat).toMatch(/^final;\S+( \S+)*$/);

  const head = await tusFetch(url, { method: "HEAD" });
  expect(head.status).toBe(200);
  expect(head.headers.get("Upload-Concat")).toMatch(/^final;/);
  expect(head.headers.get("Upload-Length")).toBe(String(bytes.length));
  expect(head.headers.get("Upload-Offset")).toBe(String(bytes.length));

  await expectCompletedObject(id, key, bytes);
}

describe("tus-js-client parallel uploads (concatenation)", () => {
  it("uploads three partials on part boundaries and the consumer completes the final byte-exact", async () => {
    const partSize = await serverPartSize();
    const bytes = randomFile(20 * MiB + 5);
    expect(bytes.length).toBeGreaterThan(2 * partSize);
    await parallelUpload(bytes, "parallel-aligned.bin", {
      parallelUploads: 3,
      parallelUploadBoundaries: [
        { start: 0, end: partSize },
        { start: partSize, end: 2 * partSize },
        { start: 2 * partSize, end: bytes.length },
      ],
    });
  });

  it("concatenates partials on tus-js-client's default boundaries, which ignore the part size", async () => {
    // floor(size / 3)-byte partials: TUS.md lets a final take any boundaries.
    await parallelUpload(randomFile(20 * MiB + 5), "parallel-default.bin", { parallelUploads: 3 });
  });

  it("concatenates partials that each arrive in several PATCHes of odd sizes", async () => {
    await parallelUpload(randomFile(17 * MiB + 3), "parallel-chunked.bin", {
      parallelUploads: 4,
      chunkSize: 3 * MiB + 17,
    });
  });

  it("resumes an aborted parallel upload: each partial carries on from its own offset", async () => {
    const bytes = randomFile(6 * MiB + 3);
    const key = uniqueKey("parallel-resumed.bin");
    const options = { ...baseOptions(key), parallelUploads: 2, chunkSize: MiB, urlStorage: new MemoryUrlStorage() };
    // Stopped after three accepted chunks: neither partial (four chunks each) is complete, and
    // the other partial's PATCH in flight is cut off.
    await uploadThenStop(bytes, options, 3, (upload) => upload.abort());

    // The dropped PATCH may still be winding up on the server: tus-js-client retries 409 and 423.
    const wire = recordingStack();
    const url = await resumeFromStorage(bytes, {
      ...options,
      retryDelays: [100, 300, 1000, 2000],
      httpStack: wire.stack,
    });

    // No partial was created again: the only POST is the final's; the partials resumed at HEAD.
    expect(wire.exchanges.filter((exchange) => exchange.method === "POST").map((post) => post.concat)).toEqual([
      expect.stringMatching(/^final;/),
    ]);
    const heads = wire.exchanges.filter((exchange) => exchange.method === "HEAD" && exchange.status === 200);
    const resumedAt = new Map(heads.map((head) => [head.url, head.answeredOffset ?? 0]));
    expect(resumedAt.size).toBe(2);
    expect([...resumedAt.values()].reduce((sum, offset) => sum + offset, 0)).toBeGreaterThanOrEqual(3 * MiB);
    await expectCompletedObject(uploadIdOf(url), key, bytes);
  });
});
