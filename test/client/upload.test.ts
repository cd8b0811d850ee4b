import { describe, expect, it } from "vitest";
import { upload as uploadPortable } from "../../client/src/index.js";
import { upload } from "../../client/src/node/index.js";
import type { Progress } from "../../client/src/types.js";
import {
  fetchObject,
  fetchStatus,
  MiB,
  PART,
  recordingFetch,
  server,
  sha256,
  tempFile,
  token,
  uniqueKey,
} from "./helpers.js";

describe("upload of a known-size source", () => {
  it("uploads a file path in parallel parts, byte-exact, and waits for completion", async () => {
    const { path, bytes } = await tempFile(3 * PART + 123_457);
    const key = uniqueKey("a file ü.bin"); // spaces and non-ASCII survive the URL
    const recorder = recordingFetch();
    const result = await upload(path, {
      ...server(),
      key,
      partSize: PART,
      concurrency: 3,
      wait: true,
      fetch: recorder.fetch,
    });

    expect(result).toMatchObject({
      key,
      size: bytes.length,
      parts: 4,
      partsSent: 4,
      partsSkipped: 0,
      state: "completed",
    });
    expect(result.status?.object?.size).toBe(bytes.length);
    expect(recorder.partPuts()).toEqual([1, 2, 3, 4]);
    // The part count is announced up front: no complete call.
    expect(recorder.requests.some((request) => request.url.endsWith("/complete"))).toBe(false);
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
  });

  it("reports monotonic progress that ends at the file size", async () => {
    const { bytes } = await tempFile(2 * PART + 777);
    const events: Progress[] = [];
    await uploadPortable(new Blob([bytes]), {
      ...server(),
      key: uniqueKey("progress.bin"),
      partSize: PART,
      progressIntervalMs: 0,
      onProgress: (p) => events.push(p),
    });

    expect(events.length).toBeGreaterThan(3);
    for (const [previous, next] of events.slice(1).map((event, i) => [events[i] as Progress, event] as const)) {
      expect(next.bytesSent).toBeGreaterThanOrEqual(previous.bytesSent);
      expect(next.bytesAcknowledged).toBeGreaterThanOrEqual(previous.bytesAcknowledged);
      expect(next.bytesAcknowledged).toBeLessThanOrEqual(next.bytesSent);
    }
    // Bytes are counted as they stream out, not only per part.
    expect(events.some((event) => event.bytesSent % PART !== 0 && event.bytesSent < bytes.length)).toBe(true);
    expect(events.at(-1)).toMatchObject({
      phase: "done",
      totalBytes: bytes.length,
      bytesSent: bytes.length,
      bytesAcknowledged: bytes.length,
      partsAcknowledged: 3,
    });
  });

  it("is fire-and-forget without wait: the server completes the upload by itself", async () => {
    const { bytes } = await tempFile(PART + 10);
    const key = uniqueKey("fire.bin");
    const result = await uploadPortable(new Blob([bytes]), { ...server(), key, partSize: PART });
    expect(result.state).toBe("completing");
    await expect.poll(async () => (await fetchStatus(result.uploadId)).state, { timeout: 15_000 }).toBe("completed");
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
  });

  it("sends the bearer token on every request, and fails without retrying when it is refused", async () => {
    const recorder = recordingFetch();
    await uploadPortable(new Blob([new Uint8Array(1000)]), {
      ...server(),
      key: uniqueKey("token.bin"),
      wait: true,
      fetch: recorder.fetch,
    });
    expect(recorder.requests.length).toBeGreaterThanOrEqual(3);
    expect(recorder.requests.map((request) => request.headers.get("authorization"))).toEqual(
      recorder.requests.map(() => `Bearer ${token()}`),
    );

    const refused = recordingFetch();
    const failure = uploadPortable(new Blob([new Uint8Array(1000)]), {
      ...server(),
      credentials: { token: "not-a-key-of-this-server" },
      key: uniqueKey("refused.bin"),
      fetch: refused.fetch,
    });
    await expect(failure).rejects.toMatchObject({ code: "invalid_credentials", status: 401 });
    expect(refused.requests).toHaveLength(1);
  });

  it("fails at once on a refusal the client can fix, without retrying", async () => {
    const recorder = recordingFetch();
    const failure = uploadPortable(new Blob([new Uint8Array(3 * MiB)]), {
      ...server(),
      key: uniqueKey("small.bin"),
      partSize: MiB,
      fetch: recorder.fetch,
    });
    await expect(failure).rejects.toMatchObject({ code: "invalid_part_size", status: 400 });
    expect(recorder.requests).toHaveLength(1);
  });
});
