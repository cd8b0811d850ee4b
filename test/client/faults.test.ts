import { afterEach, describe, expect, it } from "vitest";
import type { RetryEvent } from "../../client/src/index.js";
import { upload } from "../../client/src/node/index.js";
import { type Fault, type FaultProxy, partOf, startFaultProxy } from "./fault-proxy.js";
import { endpoint, fetchObject, fetchStatus, PART, server, sha256, tempFile, uniqueKey } from "./helpers.js";

let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

/** Applies `faults[name]` to the first request of each kind, then lets everything through. */
function firstTimeFaults(faults: Record<string, Fault>) {
  const used = new Set<string>();
  return (method: string, path: string): Fault => {
    const part = partOf(method, path);
    const name = part !== undefined ? `part ${part}` : method === "POST" && path === "/uploads" ? "create" : "other";
    const fault = faults[name];
    if (fault === undefined || used.has(name)) return { kind: "pass" };
    used.add(name);
    return fault;
  };
}

const putsByPart = (p: FaultProxy) =>
  p.seen.reduce<Record<number, number>>((counts, { method, path }) => {
    const part = partOf(method, path);
    if (part !== undefined) counts[part] = (counts[part] ?? 0) + 1;
    return counts;
  }, {});

describe("retries through an unreliable network", () => {
  it("retries 503s and dropped connections and still stores the file byte-exact", async () => {
    proxy = await startFaultProxy(
      endpoint(),
      firstTimeFaults({
        create: { kind: "status", status: 503 },
        "part 1": { kind: "status", status: 503, retryAfter: "1" },
        "part 2": { kind: "drop-before" },
        "part 3": { kind: "drop-after" },
      }),
    );
    const { path, bytes } = await tempFile(2 * PART + 99_999);
    const key = uniqueKey("faulty.bin");
    const retries: RetryEvent[] = [];
    const result = await upload(path, {
      ...server(),
      endpoint: proxy.url,
      key,
      partSize: PART,
      concurrency: 3,
      wait: true,
      onRetry: (event) => retries.push(event),
    });

    expect(result.state).toBe("completed");
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
    expect(putsByPart(proxy)).toEqual({ 1: 2, 2: 2, 3: 2 });
    expect(retries.map((event) => event.request).sort()).toEqual(["create", "part 1", "part 2", "part 3"]);
    expect(retries.find((event) => event.request === "part 1")).toMatchObject({ reason: "HTTP 503" });
    // The server asked for one second: the client waited at least that.
    expect(retries.find((event) => event.request === "part 1")?.delayMs).toBeGreaterThanOrEqual(1_000);
    expect(retries.find((event) => event.request === "part 2")?.reason).toMatch(/fetch failed|socket|closed|reset/i);
  });

  it("treats a lost 2xx on the last part as done once the server completed the upload", async () => {
    let dropped = false;
    proxy = await startFaultProxy(endpoint(), (method, path) => {
      if (partOf(method, path) !== 2) return { kind: "pass" };
      if (!dropped) {
        dropped = true;
        return { kind: "drop-after" };
      }
      // The retry reaches the server only after the consumer completed the upload.
      const uploadId = decodeURIComponent(path.split("/")[2] ?? "");
      const completed = expect
        .poll(async () => (await fetchStatus(uploadId)).state, { timeout: 15_000 })
        .toBe("completed");
      // Forward even if the poll times out, so that the test fails on its assertions, not by hanging.
      return {
        kind: "hold",
        until: Promise.resolve(completed).then(
          () => undefined,
          () => undefined,
        ),
      };
    });
    const { path, bytes } = await tempFile(PART + 1_000);
    const key = uniqueKey("lost-answer.bin");
    const result = await upload(path, {
      ...server(),
      endpoint: proxy.url,
      key,
      partSize: PART,
      concurrency: 1,
      retry: { baseDelayMs: 10 },
    });

    expect(result.state).toBe("completed");
    // Part 2's only 2xx was lost: the run learnt from the status that the server had it.
    expect(result.partsSent).toBe(1);
    expect(result.status?.object?.size).toBe(bytes.length);
    expect(putsByPart(proxy)).toEqual({ 1: 1, 2: 2 });
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
  });

  it("gives up after the configured retries and says what failed", async () => {
    proxy = await startFaultProxy(endpoint(), (method, path) =>
      partOf(method, path) === undefined ? { kind: "pass" } : { kind: "status", status: 500 },
    );
    const { path } = await tempFile(1_000);
    const failure = upload(path, {
      ...server(),
      endpoint: proxy.url,
      key: uniqueKey("doomed.bin"),
      retry: { retries: 2, baseDelayMs: 1 },
    });
    await expect(failure).rejects.toMatchObject({
      code: "injected",
      status: 500,
      message: expect.stringContaining("part 1"),
    });
    expect(putsByPart(proxy)).toEqual({ 1: 3 });
  });
});
