import { describe, expect, it } from "vitest";
import { createTransport, send } from "../../client/src/http.js";
import { choosePartSize, formatRanges, MAX_PARTS, parseRanges } from "../../client/src/parts.js";
import { ProgressMeter } from "../../client/src/progress.js";
import { backoffDelay, DEFAULT_RETRY, isRetryableStatus, parseRetryAfter, retryDelay } from "../../client/src/retry.js";
import { splitParts } from "../../client/src/sources.js";
import type { Progress } from "../../client/src/types.js";
import { chunked, MiB } from "./helpers.js";

const policy = { retries: 5, baseDelayMs: 100, maxDelayMs: 1_000 };

describe("retry policy", () => {
  it("backs off exponentially with jitter, within the cap", () => {
    expect([0, 1, 2].map((attempt) => backoffDelay(attempt, policy, () => 0))).toEqual([50, 100, 200]);
    expect([0, 1, 2].map((attempt) => backoffDelay(attempt, policy, () => 1))).toEqual([100, 200, 400]);
    expect(backoffDelay(10, policy, () => 1)).toBe(1_000);
  });

  it("waits at least what Retry-After asks, up to the cap", () => {
    expect(retryDelay(0, policy, 700, () => 0)).toBe(700);
    expect(retryDelay(3, policy, 10, () => 1)).toBe(800);
    expect(retryDelay(0, policy, 60_000, () => 0)).toBe(1_000);
  });

  it("reads Retry-After as seconds or as a date", () => {
    expect(parseRetryAfter("2")).toBe(2_000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it("retries 429 and 5xx only", () => {
    expect([429, 500, 502, 503].every(isRetryableStatus)).toBe(true);
    expect([400, 404, 409, 411, 413].some(isRetryableStatus)).toBe(false);
  });
});

describe("send", () => {
  const scripted = (answers: Array<Response | Error>) => {
    const calls: string[] = [];
    const fake: typeof fetch = async (input) => {
      calls.push(String(input));
      const next = answers.shift();
      if (next === undefined) throw new Error("no more answers");
      if (next instanceof Error) throw next;
      return next;
    };
    return {
      calls,
      transport: createTransport(
        { endpoint: "http://api.test/base", fetch: fake, retry: { baseDelayMs: 1, maxDelayMs: 5 } },
        DEFAULT_RETRY,
      ),
    };
  };

  it("retries a network error and a 503, then returns the 2xx", async () => {
    const { calls, transport } = scripted([
      new TypeError("fetch failed"),
      new Response("", { status: 503 }),
      new Response("{}"),
    ]);
    const response = await send(transport, { method: "GET", path: "uploads/x", label: "status" });
    expect(response.status).toBe(200);
    // The endpoint's base path is kept.
    expect(calls).toEqual(Array(3).fill("http://api.test/base/uploads/x"));
  });

  it("does not retry a 4xx, and reports the server's code and message", async () => {
    const refusal = Response.json({ error: { code: "part_size_mismatch", message: "part 1 is 100" } }, { status: 400 });
    const { calls, transport } = scripted([refusal, new Response("{}")]);
    const failure = send(transport, { method: "PUT", path: "uploads/x/parts/1", label: "part 1" });
    await expect(failure).rejects.toMatchObject({
      code: "part_size_mismatch",
      status: 400,
      message: "part 1: part 1 is 100 (HTTP 400)",
    });
    expect(calls).toHaveLength(1);
  });

  it("abandons an attempt that gets no answer in time, and retries it", async () => {
    let attempts = 0;
    const silent: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        attempts++;
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    const transport = createTransport(
      { endpoint: "http://api.test/", fetch: silent, attemptTimeoutMs: 20, retry: { retries: 1, baseDelayMs: 1 } },
      DEFAULT_RETRY,
    );
    await expect(send(transport, { method: "GET", path: "x", label: "status" })).rejects.toMatchObject({
      code: "network_error",
      message: "status: no answer within 0.02 s",
    });
    expect(attempts).toBe(2);
  });

  it("gives up after the configured retries", async () => {
    const { calls, transport } = scripted(Array.from({ length: 10 }, () => new Response("", { status: 500 })));
    transport.retry.retries = 2;
    await expect(send(transport, { method: "GET", path: "x", label: "status" })).rejects.toMatchObject({ status: 500 });
    expect(calls).toHaveLength(3);
  });
});

describe("part ranges and sizes", () => {
  it("expands and folds missingParts ranges", () => {
    expect(parseRanges(["4-7", "9"])).toEqual([4, 5, 6, 7, 9]);
    expect(formatRanges([9, 4, 5, 6, 7, 1])).toEqual(["1", "4-7", "9"]);
    expect(() => parseRanges(["4-"])).toThrow(/unreadable/);
  });

  it("defaults to 8 MiB and grows for files beyond 5,000 parts", () => {
    expect(choosePartSize(100 * MiB, undefined)).toBe(8 * MiB);
    const huge = 200 * 1024 * MiB;
    const grown = choosePartSize(huge, undefined);
    expect(grown % MiB).toBe(0);
    expect(Math.ceil(huge / grown)).toBeLessThanOrEqual(MAX_PARTS);
    expect(() => choosePartSize(huge, 5 * MiB)).toThrow(/more than 5000 parts/);
  });
});

describe("splitParts", () => {
  const collect = async (bytes: Uint8Array, partSize: number) => {
    const parts = [];
    for await (const part of splitParts(chunked(bytes, [3, 7, 1, 20]), partSize))
      parts.push({ ...part, bytes: Buffer.from(part.bytes) });
    return parts;
  };

  it("cuts exact parts, marks only the last final, and loses nothing", async () => {
    const bytes = Buffer.from(Array.from({ length: 95 }, (_, i) => i));
    const parts = await collect(bytes, 10);
    expect(parts.map((part) => part.bytes.length)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 5]);
    expect(parts.map((part) => part.final)).toEqual([...Array(9).fill(false), true]);
    expect(parts.map((part) => part.partNumber)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(Buffer.concat(parts.map((part) => part.bytes))).toEqual(bytes);
  });

  it("knows a full last part is final", async () => {
    const parts = await collect(Buffer.alloc(30, 1), 10);
    expect(parts.map((part) => [part.bytes.length, part.final])).toEqual([
      [10, false],
      [10, false],
      [10, true],
    ]);
  });

  it("turns an empty stream into one empty final part", async () => {
    expect(await collect(Buffer.alloc(0), 10)).toEqual([{ partNumber: 1, bytes: Buffer.alloc(0), final: true }]);
  });
});

describe("ProgressMeter", () => {
  it("never goes backwards when a part is sent again", () => {
    let now = 0;
    const events: Progress[] = [];
    const meter = new ProgressMeter(
      (progress) => events.push(progress),
      () => now,
      0,
    );
    meter.begin("u", 30, 3);
    meter.startAttempt(1);
    meter.sent(1, 6);
    now = 1_000;
    meter.startAttempt(1); // the first attempt failed after 6 bytes
    meter.sent(1, 4);
    meter.sent(1, 6);
    meter.acknowledged(1, 10);
    meter.acknowledged(2, 10);
    meter.acknowledged(3, 10);
    const sent = events.map((event) => event.bytesSent);
    const acknowledged = events.map((event) => event.bytesAcknowledged);
    expect(sent).toEqual([0, 6, 6, 10, 10, 20, 30]);
    expect(acknowledged).toEqual([0, 0, 0, 0, 10, 20, 30]);
    // Retried bytes count as wire traffic: 16 bytes over one second.
    expect(events[3]?.bytesPerSecond).toBe(16);
    expect(events.at(-1)?.etaSeconds).toBe(0);
  });
});
