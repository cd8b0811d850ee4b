// The unmodified tus-js-client against POST/HEAD/PATCH/DELETE /files/ of the real producer,
// with the real consumer completing the objects. Concatenation (parallelUploads) is in
// tus-concat.test.ts.
import * as tus from "tus-js-client";
import { describe, expect, it } from "vitest";
import { endpoint, fetchObject, fetchStatus, MiB, token, uniqueKey } from "./helpers.js";
import {
  baseOptions,
  expectCompletedObject,
  expectContiguous,
  lateEndingStream,
  MemoryUrlStorage,
  randomFile,
  recordingStack,
  resumeFromStorage,
  runUpload,
  serverPartSize,
  streamOf,
  tusEndpoint,
  tusFetch,
  uploadIdOf,
  uploadThenStop,
} from "./tus-helpers.js";

const KiB = 1024;

const expectGone = async (url: string) => {
  const head = await tusFetch(url, { method: "HEAD" });
  expect([404, 410]).toContain(head.status);
  const patch = await tusFetch(url, {
    method: "PATCH",
    headers: { "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(MiB) },
    body: new Uint8Array(16),
  });
  expect([404, 410]).toContain(patch.status);
};

describe("tus-js-client uploads through /files/", () => {
  it("uploads a file in one PATCH and the consumer completes it byte-exact", async () => {
    const bytes = randomFile(12 * MiB + 123);
    const key = uniqueKey("one-patch.bin");
    const wire = recordingStack();
    const { id, url } = await runUpload(bytes, {
      ...baseOptions(key, "application/x-tus-test"),
      httpStack: wire.stack,
    });

    // The default chunkSize (Infinity) sends the whole file in one PATCH, across part boundaries.
    expect(wire.patches()).toHaveLength(1);
    expectContiguous(wire.patches(), 0, bytes.length);
    expect(url).toBe(new URL(id, tusEndpoint()).href);
    await expectCompletedObject(id, key, bytes);

    // `filetype` becomes the object's Content-Type.
    const object = await fetch(new URL(`objects/${key}`, endpoint()), {
      headers: { authorization: `Bearer ${token()}` },
    });
    expect(object.headers.get("content-type")).toBe("application/x-tus-test");
    await object.body?.cancel();
  });

  it("uploads in chunks that do not line up with the server's parts", async () => {
    const bytes = randomFile(18 * MiB + 1_234);
    const key = uniqueKey("odd-chunks.bin");
    const wire = recordingStack();
    const chunkSize = 3 * MiB + 17;
    const { id } = await runUpload(bytes, { ...baseOptions(key), chunkSize, httpStack: wire.stack });

    expect(wire.patches()).toHaveLength(Math.ceil(bytes.length / chunkSize));
    expectContiguous(wire.patches(), 0, bytes.length);
    await expectCompletedObject(id, key, bytes);
  });

  it("sends the first chunk with the creating POST (creation-with-upload)", async () => {
    const bytes = randomFile(14 * MiB + 1);
    const key = uniqueKey("with-creation.bin");
    const wire = recordingStack();
    const chunkSize = 6 * MiB;
    const { id } = await runUpload(bytes, {
      ...baseOptions(key),
      chunkSize,
      uploadDataDuringCreation: true,
      httpStack: wire.stack,
    });

    // The POST carries the first chunk and answers with the offset it reached.
    expect(wire.exchanges[0]).toMatchObject({
      method: "POST",
      bytes: chunkSize,
      status: 201,
      answeredOffset: chunkSize,
    });
    expectContiguous(wire.patches(), chunkSize, bytes.length);
    await expectCompletedObject(id, key, bytes);
  });

  it("sends its chunks as POST with X-HTTP-Method-Override: PATCH (overridePatchMethod)", async () => {
    const bytes = randomFile(3 * MiB + 5);
    const key = uniqueKey("override.bin");
    const wire = recordingStack();
    const options = { ...baseOptions(key), chunkSize: 2 * MiB, overridePatchMethod: true, httpStack: wire.stack };
    const { id } = await runUpload(bytes, options);
    expect(wire.exchanges.map(({ method, offset, status }) => [method, offset, status])).toEqual([
      ["POST", null, 201],
      ["POST", 0, 204],
      ["POST", 2 * MiB, 204],
    ]);
    await expectCompletedObject(id, key, bytes);
  });

  it("uploads a stream of unknown length in small chunks and declares the length with the last PATCH", async () => {
    const bytes = randomFile(10 * MiB + 12_345);
    const key = uniqueKey("deferred.bin");
    const wire = recordingStack();
    const { id } = await runUpload(streamOf(bytes, 64 * KiB), {
      ...baseOptions(key),
      uploadLengthDeferred: true,
      chunkSize: 256 * KiB,
      httpStack: wire.stack,
    });

    const patches = wire.patches();
    expectContiguous(patches, 0, bytes.length);
    expect(patches.slice(0, -1).every((patch) => patch.length === null)).toBe(true);
    expect(patches.at(-1)?.length).toBe(String(bytes.length));
    await expectCompletedObject(id, key, bytes);
  });

  it("completes a deferred-length upload of exactly one part whose last PATCH carries no bytes", async () => {
    const partSize = await serverPartSize();
    const bytes = randomFile(partSize);
    const key = uniqueKey("deferred-exact.bin");
    const wire = recordingStack();
    const { id } = await runUpload(lateEndingStream(bytes, 64 * KiB), {
      ...baseOptions(key),
      uploadLengthDeferred: true,
      chunkSize: 256 * KiB,
      httpStack: wire.stack,
    });

    // All bytes are in when the length arrives: the part boundary and the end coincide.
    expect(wire.patches().at(-1)).toMatchObject({ offset: partSize, bytes: 0, length: String(partSize) });
    expectContiguous(wire.patches(), 0, bytes.length);
    await expectCompletedObject(id, key, bytes);
  });

  it("resumes an aborted upload from the server's offset, found through the URL storage", async () => {
    const bytes = randomFile(6 * MiB + 999);
    const key = uniqueKey("resumed.bin");
    const chunkSize = MiB;
    const options = { ...baseOptions(key), chunkSize, urlStorage: new MemoryUrlStorage() };
    const first = recordingStack();
    const url = await uploadThenStop(bytes, { ...options, httpStack: first.stack }, 3, (upload) => upload.abort());
    expect((await fetchStatus(uploadIdOf(url))).state).toBe("open");

    const second = recordingStack();
    expect(await resumeFromStorage(bytes, { ...options, httpStack: second.stack })).toBe(url);

    // The resumed run asks HEAD for the offset and carries on exactly there.
    const [head] = second.exchanges;
    expect(head).toMatchObject({ method: "HEAD", status: 200, answeredOffset: 3 * MiB });
    expectContiguous(second.patches(), 3 * MiB, bytes.length);
    const sent = [...first.patches(), ...second.patches()].reduce((sum, patch) => sum + patch.bytes, 0);
    expect(sent).toBeLessThanOrEqual(bytes.length + chunkSize);
    await expectCompletedObject(uploadIdOf(url), key, bytes);

    // Once completed, the same file "resumes" to success at once: HEAD says every byte is in.
    const third = recordingStack();
    expect(await resumeFromStorage(bytes, { ...options, httpStack: third.stack })).toBe(url);
    expect(third.exchanges).toEqual([
      expect.objectContaining({ method: "HEAD", status: 200, answeredOffset: bytes.length }),
    ]);
  });

  it("resumes after the connection dropped in the middle of a PATCH, from the offset the server kept", async () => {
    const bytes = randomFile(12 * MiB + 7);
    const key = uniqueKey("cut-off.bin");
    const chunkSize = 4 * MiB;
    const options = { ...baseOptions(key), chunkSize, urlStorage: new MemoryUrlStorage() };
    const cut = { patch: 2, after: MiB + 3 };
    const first = recordingStack(cut);
    const failure = await runUpload(bytes, { ...options, httpStack: first.stack }).catch((error: unknown) => error);
    expect(String(failure)).toMatch(`failed to upload chunk at offset ${chunkSize}`);

    // The server may still be winding up the dropped request: tus-js-client retries the 409 or
    // 423 it may get meanwhile (with a HEAD first), as it does by default.
    const second = recordingStack();
    const url = await resumeFromStorage(bytes, {
      ...options,
      retryDelays: [100, 300, 1000, 2000],
      httpStack: second.stack,
    });

    // Kept: at least what was acknowledged, at most what was received.
    const [head] = second.exchanges;
    expect(head).toMatchObject({ method: "HEAD", status: 200 });
    expect(head!.answeredOffset).toBeGreaterThanOrEqual(chunkSize);
    expect(head!.answeredOffset).toBeLessThanOrEqual(chunkSize + cut.after);
    // Every PATCH starts where the last HEAD or accepted PATCH left the server's offset.
    let offset: number | null = null;
    for (const exchange of second.exchanges) {
      if (exchange.method === "PATCH") expect(exchange.offset).toBe(offset);
      if (exchange.status === 200 || exchange.status === 204) offset = exchange.answeredOffset ?? offset;
    }
    expect(offset).toBe(bytes.length);
    await expectCompletedObject(uploadIdOf(url), key, bytes);
  });

  it("finishes an upload created elsewhere with nothing but its URL and Upload-Token", async () => {
    const bytes = randomFile(5 * MiB + 77);
    const key = uniqueKey("handed-off.bin");
    // The creating side (an app's backend, say) holds the API key...
    const created = await tusFetch(tusEndpoint(), {
      method: "POST",
      headers: { "Upload-Length": String(bytes.length), "Upload-Metadata": `key ${btoa(key)}` },
    });
    expect(created.status).toBe(201);
    const url = new URL(created.headers.get("Location") ?? "", tusEndpoint()).href;
    const uploadToken = created.headers.get("Upload-Token");
    expect(uploadToken).toBeTruthy();

    // ...the uploading side gets only the URL and the token: tus-js-client resumes it at offset 0.
    const wire = recordingStack();
    await runUpload(bytes, {
      uploadUrl: url,
      headers: { Authorization: `Bearer ${uploadToken}` },
      chunkSize: 2 * MiB,
      retryDelays: null,
      httpStack: wire.stack,
    });
    expect(wire.exchanges.map((exchange) => exchange.method)).toEqual(["HEAD", "PATCH", "PATCH", "PATCH"]);
    expectContiguous(wire.patches(), 0, bytes.length);
    await expectCompletedObject(uploadIdOf(url), key, bytes);
  });

  it("terminates an upload with abort(true): the URL is gone and no object appears", async () => {
    const bytes = randomFile(4 * MiB + 5);
    const key = uniqueKey("terminated.bin");
    const wire = recordingStack();
    const url = await uploadThenStop(
      bytes,
      { ...baseOptions(key), chunkSize: MiB, httpStack: wire.stack },
      1,
      (upload) => upload.abort(true),
    );

    expect(wire.exchanges.at(-1)).toMatchObject({ method: "DELETE", url, status: 204 });
    await expectGone(url);
    await expect(fetchObject(key)).rejects.toThrow(/: 404/);
  });

  it("terminates an upload with tus.Upload.terminate: the URL is gone and no object appears", async () => {
    const bytes = randomFile(3 * MiB);
    const key = uniqueKey("terminated-static.bin");
    const url = await uploadThenStop(bytes, { ...baseOptions(key), chunkSize: MiB }, 2, (upload) => upload.abort());

    await tus.Upload.terminate(url, { headers: baseOptions(key).headers, retryDelays: null });
    await expectGone(url);
    await expect(fetchObject(key)).rejects.toThrow(/: 404/);
  });
});
