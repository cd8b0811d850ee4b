import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { PART, Pipeline, storedState } from "./helpers";

type Probe = { method: string; path: string; headers: Record<string, string>; body: Uint8Array | null };

const encoder = new TextEncoder();

function requests(uploadIds: string[]): fc.Arbitrary<Probe> {
  const id = fc.oneof(
    fc.constantFrom(...uploadIds),
    fc.string({ maxLength: 12 }).map(encodeURIComponent),
    fc.constant("%E0%A4%A"),
  );
  const partNumber = fc.oneof(
    fc.integer({ min: -3, max: 10_003 }).map(String),
    fc.string({ maxLength: 6 }).map(encodeURIComponent),
  );
  const segment = fc.oneof(fc.webSegment(), fc.constant("%ZZ"), fc.constant("a%2Fb"), fc.constant(""));
  const path = fc.oneof(
    fc.constantFrom("/", "/uploads", "/openapi.json", "/objects/", "/uploads/"),
    id.map((i) => `/uploads/${i}`),
    fc.tuple(id, partNumber).map(([i, n]) => `/uploads/${i}/parts/${n}`),
    fc
      .tuple(id, partNumber, fc.constantFrom("", "?final=1", "?final=x"))
      .map(([i, n, f]) => `/uploads/${i}/chunks/${n}${f}`),
    id.map((i) => `/uploads/${i}/complete`),
    segment.map((s) => `/objects/${s}`),
    fc.webPath(),
  );
  const action = fc.constantFrom(
    "mpu-create",
    "mpu-uploadpart",
    "mpu-complete",
    "mpu-abort",
    "get",
    "delete",
    "nope",
    "",
  );
  const query = fc.oneof(
    fc.constant(""),
    fc.webQueryParameters().map((q) => `?${q}`),
    fc
      .record({ action, uploadId: fc.option(id), partNumber: fc.option(partNumber) })
      .map(
        ({ action: a, uploadId: u, partNumber: n }) =>
          `?action=${a}${u === null ? "" : `&uploadId=${u}`}${n === null ? "" : `&partNumber=${n}`}`,
      ),
  );
  const jsonBody = fc.oneof(
    fc.json(),
    fc
      .record({ key: fc.string(), parts: fc.integer(), partSize: fc.integer() }, { requiredKeys: [] })
      .map((v) => JSON.stringify(v)),
    fc
      .record({ parts: fc.array(fc.record({ partNumber: fc.integer(), etag: fc.string() }), { maxLength: 3 }) })
      .map((v) => JSON.stringify(v)),
  );
  const body = fc.oneof(
    fc.constant(null),
    jsonBody.map((text) => encoder.encode(text)),
    fc.uint8Array({ maxLength: 2048 }),
  );
  const headers = fc.record(
    {
      "content-type": fc.constantFrom(
        "application/json",
        "application/octet-stream",
        "text/plain",
        "multipart/form-data",
      ),
      range: fc.oneof(fc.constant("bytes=0-9"), fc.constant("bytes=-5"), fc.string({ maxLength: 10 })),
      "if-none-match": fc.oneof(fc.constant("*"), fc.string({ maxLength: 10 })),
    },
    { requiredKeys: [] },
  );
  return fc
    .record({
      method: fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"),
      path: fc.tuple(path, query).map(([p, q]) => p + q),
      headers,
      body,
      declareLength: fc.boolean(),
    })
    .map(({ method, path: p, headers: h, body: b, declareLength }) => {
      const withBody = method !== "GET" && method !== "HEAD" ? b : null;
      const all: Record<string, string> = { ...h };
      for (const [name, value] of Object.entries(all)) if (!/^[\t\x20-\x7e]*$/.test(value)) delete all[name];
      if (withBody !== null && declareLength) all["content-length"] = String(withBody.byteLength);
      return { method, path: p, headers: all, body: withBody };
    });
}

describe("the HTTP surface, probed with random requests", () => {
  let pipeline: Pipeline;
  let uploadId: string;
  let streamId: string;
  beforeAll(async () => {
    pipeline = new Pipeline();
    uploadId = (await pipeline.create({ key: "prop/target.bin", parts: 3, partSize: PART })).uploadId;
    streamId = (await pipeline.create({ key: "prop/stream.bin", mode: "stream", partSize: PART })).uploadId;
  });

  it("never answers 5xx, always uses the JSON error shape for 4xx, and changes nothing when it refuses", async () => {
    await fc.assert(
      fc.asyncProperty(requests([uploadId, streamId]), async (probe) => {
        const before = await storedState();
        const queued = pipeline.queue.sent.length;
        const response = await pipeline.fetch(probe.path, {
          method: probe.method,
          headers: probe.headers,
          body: probe.body,
        });
        const text = new TextDecoder().decode(await response.arrayBuffer());
        expect(response.status, `${probe.method} ${probe.path} -> ${text}`).toBeLessThan(500);
        if (response.status >= 400) {
          if (probe.method !== "HEAD") {
            const body: unknown = JSON.parse(text);
            expect(body).toEqual({
              error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
            });
          }
          expect(await storedState(), `${probe.method} ${probe.path} changed state`).toBe(before);
          expect(pipeline.queue.sent.length).toBe(queued);
        }
      }),
      { numRuns: 400, seed: 20261125 },
    );
  }, 120_000);
});
