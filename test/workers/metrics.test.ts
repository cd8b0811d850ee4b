import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { COMPLETION_POLICY, claimReady, finishClaims } from "../../shared/completion";
import { POINTS_PER_INVOCATION, recordSweep, recordUpload, withPointBudget } from "../../shared/metrics";
import { bytes, captureLogs, PART, Pipeline, uploadParts } from "./helpers";
import { createStream, D1_STORE } from "./stream-helpers";

const HOUR = 3_600_000;

/** An Analytics Engine dataset that keeps what it is given, in the order written. */
class RecordingDataset implements AnalyticsEngineDataset {
  readonly points: AnalyticsEngineDataPoint[] = [];
  writeDataPoint(point?: AnalyticsEngineDataPoint): void {
    if (point !== undefined) this.points.push(point);
  }

  /** The points of one event (blob1), e.g. "part". */
  named(event: string): AnalyticsEngineDataPoint[] {
    return this.points.filter((point) => point.blobs?.[0] === event);
  }

  /** The points about one upload. */
  of(uploadId: string): AnalyticsEngineDataPoint[] {
    return this.points.filter((point) => point.indexes?.[0] === uploadId);
  }
}

const sha256Base64 = async (data: Uint8Array) =>
  btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", data))));

describe("data points", () => {
  it("writes one point per part (bytes, ms, part number) and one per completion (size, parts, latency, age)", async () => {
    const metrics = new RecordingDataset();
    const pipeline = new Pipeline({ metrics });
    const upload = await pipeline.create({ key: "metrics/parts.bin", parts: 2, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1, 2], 2, 1000, 1);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");

    const points = metrics.of(upload.uploadId);
    expect(points.map((point) => point.blobs?.[0])).toEqual(["part", "part", "completed"]);
    const [first, second, completed] = points;
    for (const [point, partNumber, size] of [
      [first, 1, PART],
      [second, 2, 1000],
    ] as const) {
      expect(point?.indexes).toEqual([upload.uploadId]);
      expect(point?.blobs).toEqual(["part", upload.uploadId, "metrics/parts.bin", "native"]);
      expect(point?.doubles?.[0]).toBe(size);
      expect(point?.doubles?.[1]).toBeGreaterThanOrEqual(0);
      expect(point?.doubles?.[2]).toBe(partNumber);
    }
    expect(completed?.blobs).toEqual(["completed", upload.uploadId, "metrics/parts.bin", "native"]);
    const [size, latency, parts, age, attempts] = completed?.doubles ?? [];
    expect({ size, parts, attempts }).toEqual({ size: PART + 1000, parts: 2, attempts: 1 });
    const row = await env.DB.prepare("SELECT completed_at, created_at FROM uploads WHERE upload_id = ?1")
      .bind(upload.uploadId)
      .first<{ completed_at: number; created_at: number }>();
    expect(latency).toBeGreaterThanOrEqual(0);
    expect(age).toBe((row?.completed_at ?? 0) - (row?.created_at ?? 0));
    expect(age).toBeGreaterThanOrEqual(latency ?? 0);
  });

  it("counts a part sent twice twice, and the upload's completion once however often its events arrive", async () => {
    const metrics = new RecordingDataset();
    const pipeline = new Pipeline({ metrics });
    const upload = await pipeline.create({ key: "metrics/twice.bin", parts: 1, partSize: PART });
    await pipeline.putPart(upload.uploadId, 1, bytes(500, 2));
    await pipeline.putPart(upload.uploadId, 1, bytes(500, 2));
    const events = pipeline.queue.drain();
    await pipeline.deliver([...events, ...events]);
    await pipeline.deliver(events);
    expect(metrics.of(upload.uploadId).map((point) => point.blobs?.[0])).toEqual(["part", "part", "completed"]);
  });

  it("writes a point per chunk (store, seq, final, duplicate) and labels a stream's parts and completion", async () => {
    const metrics = new RecordingDataset();
    const pipeline = new Pipeline({ metrics });
    const upload = await createStream(pipeline, "metrics/stream.bin");
    await pipeline.putChunk(upload.uploadId, 1, bytes(1024, 1));
    await pipeline.putChunk(upload.uploadId, 1, bytes(1024, 1));
    await pipeline.putChunk(upload.uploadId, 2, bytes(2048, 2), { final: true });
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");

    const chunks = metrics.named("chunk").filter((point) => point.indexes?.[0] === upload.uploadId);
    expect(chunks.map((point) => point.blobs)).toEqual(
      Array(3).fill(["chunk", upload.uploadId, "metrics/stream.bin", "object"]),
    );
    // bytes, seq, final, duplicate (ms is the request's time)
    expect(chunks.map(({ doubles = [] }) => [doubles[0], doubles[2], doubles[3], doubles[4]])).toEqual([
      [1024, 1, 0, 0],
      [1024, 1, 0, 1],
      [2048, 2, 1, 0],
    ]);
    expect(metrics.of(upload.uploadId).find((point) => point.blobs?.[0] === "part")?.blobs?.[3]).toBe("stream");
    const completed = metrics.of(upload.uploadId).find((point) => point.blobs?.[0] === "completed");
    expect(completed?.blobs?.[3]).toBe("stream");
    expect(completed?.doubles?.[0]).toBe(3072);
  });

  it("counts a completion once when a claim that outlived its lease finishes after the one that took it over", async () => {
    const metrics = new RecordingDataset();
    const pipeline = new Pipeline({ metrics });
    const upload = await pipeline.create({ key: "metrics/lease.bin", parts: 1, partSize: PART });
    await pipeline.putPart(upload.uploadId, 1, bytes(300, 5));
    const bindings = { DB: env.DB, BUCKET: env.BUCKET, UPLOAD_EVENTS: pipeline.queue, METRICS: metrics };
    const now = Date.now();
    const slow = await claimReady(env.DB, [upload.uploadId], now);
    const takeover = await claimReady(env.DB, [upload.uploadId], now + COMPLETION_POLICY.leaseMs + 1);
    expect([slow.length, takeover.length]).toEqual([1, 1]);
    await finishClaims(bindings, takeover);
    // R2 completed it already: the slow claim finds the object, but its record does not take.
    expect((await finishClaims(bindings, slow)).get(upload.uploadId)?.kind).toBe("completed");
    expect(metrics.of(upload.uploadId).map((point) => point.blobs?.[0])).toEqual(["part", "completed"]);
  });

  it("labels the chunks of a stream D1 holds, and the parts the consumer writes from them", async () => {
    const metrics = new RecordingDataset();
    const pipeline = new Pipeline({ metrics, ...D1_STORE });
    const upload = await createStream(pipeline, "metrics/d1-stream.bin");
    await pipeline.putChunk(upload.uploadId, 1, bytes(4096, 1));
    await pipeline.putChunk(upload.uploadId, 2, bytes(100, 2), { final: true });
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    const points = metrics.of(upload.uploadId);
    expect(points.map((point) => [point.blobs?.[0], point.blobs?.[3], point.doubles?.[0]])).toEqual([
      ["chunk", "d1", 4096],
      ["chunk", "d1", 100],
      ["part", "stream", 4196],
      ["completed", "stream", 4196],
    ]);
  });

  it("writes a failure with its reason's code, and an abort with who aborted it", async () => {
    const metrics = new RecordingDataset();
    const pipeline = new Pipeline({ metrics });
    const bad = await pipeline.create({
      key: "metrics/bad.bin",
      parts: 1,
      partSize: PART,
      sha256: await sha256Base64(bytes(40, 9)),
    });
    await pipeline.putPart(bad.uploadId, 1, bytes(40, 1));
    const logs = captureLogs(["completion_failed"]);
    await pipeline.settle();
    const failed = metrics.of(bad.uploadId).at(-1);
    expect(failed?.blobs).toEqual(["failed", bad.uploadId, "metrics/bad.bin", "digest_mismatch"]);
    expect(failed?.doubles?.slice(0, 1)).toEqual([40]);
    expect(failed?.doubles?.[2]).toBe(1);
    expect(logs.named("completion_failed")).toEqual([
      expect.objectContaining({ uploadId: bad.uploadId, key: "metrics/bad.bin", code: "digest_mismatch" }),
    ]);

    const dropped = await pipeline.create({ key: "metrics/dropped.bin", parts: 2, partSize: PART });
    expect((await pipeline.json(`/uploads/${dropped.uploadId}`, { method: "DELETE" })).status).toBe(200);
    const aborted = metrics.of(dropped.uploadId);
    expect(aborted.map((point) => point.blobs)).toEqual([
      ["aborted", dropped.uploadId, "metrics/dropped.bin", "client"],
    ]);
    expect(aborted[0]?.doubles?.[0]).toBe(0);
    // Aborting again ends nothing: no second point.
    await pipeline.json(`/uploads/${dropped.uploadId}`, { method: "DELETE" });
    expect(metrics.of(dropped.uploadId)).toHaveLength(1);
  });

  it("writes a point per stale upload the cron aborts and one per cron run with its counts and time", async () => {
    const metrics = new RecordingDataset();
    const pipeline = new Pipeline({ metrics });
    const stale = await pipeline.create({
      key: "metrics/stale.bin",
      parts: 2,
      partSize: PART,
      staleAfterSeconds: 3600,
    });
    const logs = captureLogs(["sweep"]);
    await pipeline.cron(Date.now() + 2 * HOUR);

    const [aborted] = metrics.of(stale.uploadId);
    expect(aborted?.blobs).toEqual(["aborted", stale.uploadId, "metrics/stale.bin", "stale"]);
    // Idle since creation: last activity -> aborted and the age are the same two hours.
    expect(aborted?.doubles?.[1]).toBeGreaterThanOrEqual(2 * HOUR - 1000);
    expect(aborted?.doubles?.[3]).toBe(aborted?.doubles?.[1]);

    const [sweep] = metrics.named("sweep");
    expect(sweep?.indexes).toEqual(["sweep"]);
    expect(sweep?.blobs).toEqual(["sweep", "", "", ""]);
    const [report] = logs.named("sweep");
    const [bytesSwept, ms, ...counts] = sweep?.doubles ?? [];
    expect(bytesSwept).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(counts).toEqual([
      report?.staleAborted,
      report?.r2AbortsConfirmed,
      report?.r2AbortsPending,
      report?.completionsRetried,
      report?.streamsAdvanced,
      0,
      ["prunedDetailRows", "prunedUploads", "expiredTombstones", "prunedDeadLetters"].reduce(
        (sum, name) => sum + Number(report?.[name] ?? 0),
        0,
      ),
    ]);
    expect(counts[0]).toBeGreaterThanOrEqual(1);
  });
});

describe("without Analytics Engine, or with one that fails", () => {
  it("ingests and completes as before when METRICS is not bound", async () => {
    const pipeline = new Pipeline({ metrics: undefined });
    const upload = await pipeline.create({ key: "metrics/unbound.bin", parts: 1, partSize: PART });
    expect((await pipeline.putPart(upload.uploadId, 1, bytes(100, 3))).status).toBe(200);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
  });

  it("never lets a failing write fail a request or a batch", async () => {
    let attempts = 0;
    const broken: AnalyticsEngineDataset = {
      writeDataPoint() {
        attempts++;
        throw new Error("Analytics Engine is having a bad day");
      },
    };
    const pipeline = new Pipeline({ metrics: broken });
    const upload = await pipeline.create({ key: "metrics/broken.bin", parts: 1, partSize: PART });
    expect((await pipeline.putPart(upload.uploadId, 1, bytes(100, 4))).status).toBe(200);
    const result = await pipeline.deliver(pipeline.queue.drain());
    expect(result.retryMessages).toEqual([]);
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(attempts).toBe(2);
  });

  it("keeps a consumer invocation within Analytics Engine's 250 points, the cron's own point included", () => {
    const metrics = new RecordingDataset();
    const budgeted = withPointBudget({ METRICS: metrics });
    const upload = { uploadId: "u", key: "k" };
    for (let i = 0; i < 400; i++)
      recordUpload(budgeted, upload, { event: "part", api: "native", bytes: 1, ms: 1, partNumber: i });
    recordSweep(budgeted, {
      ms: 1,
      staleAborted: 0,
      r2AbortsConfirmed: 0,
      r2AbortsPending: 0,
      completionsRetried: 0,
      streamsAdvanced: 0,
      failedPhases: 0,
      prunedRows: 0,
    });
    expect(metrics.points).toHaveLength(POINTS_PER_INVOCATION);
    expect(metrics.points.at(-1)?.blobs?.[0]).toBe("sweep");
    expect(withPointBudget({})).toEqual({});
  });
});
