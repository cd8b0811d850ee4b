import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { IngestError, type Progress, parseRanges, type ResumeState, upload } from "../../client/src/index.js";
import { chunked, fetchObject, MiB, PART, recordingFetch, server, sha256, uniqueKey } from "./helpers.js";

const postsTo = (recorder: ReturnType<typeof recordingFetch>, suffix: string) =>
  recorder.requests.filter((request) => request.method === "POST" && new URL(request.url).pathname.endsWith(suffix));

describe("sources of unknown length", () => {
  it("uploads an async iterable part by part and completes it explicitly", async () => {
    const bytes = randomBytes(2 * PART + 333_333);
    const key = uniqueKey("stdin-like.bin");
    const recorder = recordingFetch();
    const events: Progress[] = [];
    const result = await upload(chunked(bytes), {
      ...server(),
      key,
      partSize: PART,
      wait: true,
      fetch: recorder.fetch,
      onProgress: (p) => events.push(p),
    });

    expect(result).toMatchObject({ size: bytes.length, parts: 3, partsSent: 3, state: "completed" });
    expect(recorder.partPuts()).toEqual([1, 2, 3]);
    const [create] = postsTo(recorder, "/uploads");
    // Created without a part count, closed with one.
    expect(create).toBeDefined();
    expect(postsTo(recorder, "/complete")).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ totalBytes: bytes.length, bytesAcknowledged: bytes.length });
    expect(events.find((event) => event.phase === "uploading")?.totalBytes).toBeNull();
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
  });

  it("can close the upload with a final-part marker instead of a complete call", async () => {
    const bytes = randomBytes(2 * PART + 5);
    const key = uniqueKey("final-marker.bin");
    const recorder = recordingFetch();
    const result = await upload(chunked(bytes), {
      ...server(),
      key,
      partSize: PART,
      finish: "final-marker",
      wait: true,
      fetch: recorder.fetch,
    });

    expect(result).toMatchObject({ size: bytes.length, parts: 3, state: "completed" });
    expect(postsTo(recorder, "/complete")).toHaveLength(0);
    const marked = recorder.requests
      .filter((request) => request.method === "PUT")
      .map((request) => new URL(request.url).search);
    expect(marked.sort()).toEqual(["", "", "?final=1"]);
    expect(recorder.requests.find((request) => request.url.endsWith("?final=1"))?.url).toMatch(/\/parts\/3\?final=1$/);
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
  });

  it("uploads a ReadableStream whose length is an exact multiple of the part size", async () => {
    const bytes = randomBytes(2 * PART);
    const key = uniqueKey("exact.bin");
    const stream = new Blob([bytes]).stream();
    const result = await upload(stream, { ...server(), key, partSize: PART, wait: true });
    expect(result).toMatchObject({ size: bytes.length, parts: 2, state: "completed" });
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
  });

  it("sends a stream that fits in one part as a counted upload, with no complete call", async () => {
    const key = uniqueKey("tiny.bin");
    const recorder = recordingFetch();
    const result = await upload(chunked(Buffer.from("hello")), { ...server(), key, wait: true, fetch: recorder.fetch });
    expect(result).toMatchObject({ size: 5, parts: 1, state: "completed" });
    expect(postsTo(recorder, "/complete")).toHaveLength(0);
    expect(Buffer.from(await fetchObject(key)).toString()).toBe("hello");

    const empty = await upload(chunked(new Uint8Array(0)), { ...server(), key: uniqueKey("empty.bin"), wait: true });
    expect(empty).toMatchObject({ size: 0, parts: 1, state: "completed" });
  });

  it("never holds more than concurrency parts of a stream", async () => {
    let read = 0;
    let maxAhead = 0;
    const bytes = randomBytes(4 * PART + 5);
    const recorder = recordingFetch();
    let done = 0;
    // The source records how far reading ran ahead of the parts the server acknowledged.
    async function* source() {
      for await (const chunk of chunked(bytes, [MiB])) {
        read += chunk.byteLength;
        maxAhead = Math.max(maxAhead, read - done * PART);
        yield chunk;
      }
    }
    await upload(source(), {
      ...server(),
      key: uniqueKey("bounded.bin"),
      partSize: PART,
      concurrency: 2,
      fetch: recorder.fetch,
      onProgress: (p) => {
        done = p.partsAcknowledged;
      },
    });
    // Two parts in flight, plus the one chunk read past a full part to learn whether it is the last.
    expect(maxAhead).toBeLessThanOrEqual(2 * PART + MiB);
    expect(recorder.partPuts()).toEqual([1, 2, 3, 4, 5]);
  });

  it("resumes a stream: the same bytes again, only the missing parts go out", async () => {
    const bytes = randomBytes(3 * PART + 1_234);
    const key = uniqueKey("stream-resume.bin");
    const controller = new AbortController();
    const failure = await upload(chunked(bytes), {
      ...server(),
      key,
      partSize: PART,
      concurrency: 1,
      signal: controller.signal,
      onProgress: (p) => p.partsAcknowledged >= 2 && controller.abort(),
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(IngestError);
    const state = (failure as IngestError).resumeState as ResumeState;
    expect(state).toMatchObject({ size: null, parts: null, acknowledged: ["1-2"] });

    const recorder = recordingFetch();
    const result = await upload(chunked(bytes), { ...server(), resume: state, wait: true, fetch: recorder.fetch });
    expect(recorder.partPuts()).toEqual([3, 4]);
    expect(result).toMatchObject({ parts: 4, partsSkipped: 2, state: "completed" });
    expect(parseRanges(state.acknowledged)).toEqual([1, 2]);
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
  });
});
