import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { confirmR2AbortsStatement } from "../../shared/db/uploads";
import type { CreatedUpload } from "../../shared/schemas";
import { bytes, captureLogs, PART, Pipeline } from "./helpers";
import { DAY, settings, uploadRow } from "./retention-helpers";
import { Tus } from "./tus-helpers";

describe("retention settings", () => {
  it("keeps details 7 days, upload rows 90 and tombstones 365 unless told otherwise", () => {
    expect(settings()).toMatchObject({
      retentionDetailDays: 7,
      retentionUploadDays: 90,
      retentionTombstoneDays: 365,
      pruneBatchLimit: 50_000,
    });
  });

  it("refuses windows that would prune a row before what it outlives", () => {
    expect(() => settings({ RETENTION_DETAIL_DAYS: "30", RETENTION_UPLOAD_DAYS: "7" })).toThrow(
      /RETENTION_UPLOAD_DAYS must be at least RETENTION_DETAIL_DAYS/,
    );
    expect(() => settings({ RETENTION_UPLOAD_DAYS: "400" })).toThrow(
      /RETENTION_TOMBSTONE_DAYS must be at least RETENTION_UPLOAD_DAYS/,
    );
    expect(() => settings({ PRUNE_BATCH_LIMIT: "10" })).toThrow(/PRUNE_BATCH_LIMIT must be at least 100/);
  });
});

describe("when an upload ended", () => {
  it("is stamped by every path that ends an upload, and never by anything after", async () => {
    const pipeline = new Pipeline();
    const logs = captureLogs(["completion_failed"]);
    // Completion.
    const completed = await pipeline.create({ key: "ended/completed.bin", parts: 1, partSize: PART });
    await pipeline.putPart(completed.uploadId, 1, bytes(10, 1));
    await pipeline.settle();
    // Failure: the object is not the one declared.
    const failed = await pipeline.create({
      key: "ended/failed.bin",
      parts: 1,
      partSize: PART,
      sha256: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    });
    await pipeline.putPart(failed.uploadId, 1, bytes(10, 2));
    await pipeline.settle();
    // The client's abort.
    const aborted = await pipeline.create({ key: "ended/aborted.bin", parts: 2, partSize: PART });
    expect((await pipeline.fetch(`/uploads/${aborted.uploadId}`, { method: "DELETE" })).status).toBe(200);
    // tus termination.
    const tus = new Tus(pipeline);
    const terminated = await tus.open({ length: 100 });
    expect((await tus.delete(terminated.id)).status).toBe(204);
    // The sweep's abort of a stale upload, and one that stays open.
    const stale = await pipeline.create({ key: "ended/stale.bin", parts: 2, partSize: PART, staleAfterSeconds: 60 });
    const open = await pipeline.create({ key: "ended/open.bin", parts: 2, partSize: PART, staleAfterSeconds: 86400 });
    const sweptAt = Date.now() + 60 * 60 * 1000;
    await pipeline.cron(sweptAt);

    for (const [uploadId, state] of [
      [completed.uploadId, "completed"],
      [failed.uploadId, "failed"],
      [aborted.uploadId, "aborted"],
      [terminated.id, "aborted"],
      [stale.uploadId, "aborted"],
    ] as const) {
      const row = await uploadRow(uploadId);
      expect(row?.state, uploadId).toBe(state);
      expect(row?.ended_at, `${state} ${uploadId}`).toBe(row?.updated_at);
    }
    expect((await uploadRow(stale.uploadId))?.ended_at).toBe(sweptAt);
    expect((await uploadRow(open.uploadId))?.ended_at).toBeNull();
    expect(logs.count("completion_failed")).toBe(1);

    // A later update of an ended upload (its R2 abort confirmed again) leaves the stamp alone.
    const before = await uploadRow(aborted.uploadId);
    await env.DB.prepare("UPDATE uploads SET updated_at = updated_at + 1000, state = 'aborted' WHERE upload_id = ?1")
      .bind(aborted.uploadId)
      .run();
    await confirmR2AbortsStatement(env.DB, [aborted.uploadId]).run();
    expect((await uploadRow(aborted.uploadId))?.ended_at).toBe(before?.ended_at);
  });
});

describe("pruning through the cron", () => {
  it("drops a finished upload's parts after the detail window, its row after the upload window, answering 410", async () => {
    const pipeline = new Pipeline();
    const logs = captureLogs(["sweep"]);
    const upload = await pipeline.create({ key: "pruned/object.bin", parts: 2, partSize: PART });
    await pipeline.putPart(upload.uploadId, 1, bytes(PART, 11));
    await pipeline.putPart(upload.uploadId, 2, bytes(10, 12));
    const events = pipeline.queue.drain();
    await pipeline.deliver(events);
    const endedAt = (await uploadRow(upload.uploadId))?.ended_at ?? 0;
    expect((await pipeline.status(upload.uploadId)).receivedParts).toBe(2);

    await pipeline.cron(endedAt + 6 * DAY);
    expect((await pipeline.status(upload.uploadId)).receivedParts).toBe(2);

    // Past the detail window: the parts are gone, the upload and its object are not.
    await pipeline.cron(endedAt + 8 * DAY);
    const kept = await pipeline.status(upload.uploadId);
    expect(kept).toMatchObject({ state: "completed", receivedParts: 0, object: { size: PART + 10 } });
    expect((await uploadRow(upload.uploadId))?.details_pruned).toBe(1);
    expect(await env.BUCKET.head(upload.key)).not.toBeNull();

    // Past the upload window: only a tombstone is left, and the status says how and when it ended.
    await pipeline.cron(endedAt + 91 * DAY);
    expect(await uploadRow(upload.uploadId)).toBeNull();
    const gone = await pipeline.json(`/uploads/${upload.uploadId}`);
    expect(gone.status).toBe(410);
    expect(gone.body).toEqual({
      error: {
        code: "upload_gone",
        message: `upload ${upload.uploadId} ended (completed) and its record was pruned`,
        details: { state: "completed", endedAt: new Date(endedAt).toISOString() },
      },
    });
    // Every route that names the upload answers the same, but the seed-compatible API knows no 410 ...
    expect((await pipeline.fetch(`/uploads/${upload.uploadId}`, { method: "DELETE" })).status).toBe(410);
    const part = await pipeline.putPart(upload.uploadId, 1, bytes(10, 13));
    expect(part.status, JSON.stringify(part.body)).toBe(410);
    const compat = await pipeline.fetch(`/${upload.key}?action=mpu-abort&uploadId=${upload.uploadId}`, {
      method: "DELETE",
    });
    // ... it answers as for an upload id it never knew.
    const unknown = await pipeline.fetch(`/${upload.key}?action=mpu-abort&uploadId=${"A".repeat(22)}`, {
      method: "DELETE",
    });
    expect(compat.status).toBe(unknown.status);
    expect(await compat.json()).toMatchObject({ error: { code: "upload_not_found" } });

    // A late duplicate of its part events is acked and brings nothing back.
    const late = await pipeline.deliver(events, 2);
    expect(late.retryMessages).toEqual([]);
    expect(await uploadRow(upload.uploadId)).toBeNull();
    const parts = await env.DB.prepare("SELECT count(*) AS n FROM parts WHERE upload_id = ?1")
      .bind(upload.uploadId)
      .first<{ n: number }>();
    expect(parts?.n).toBe(0);

    // Past the tombstone window it is as if it had never been.
    await pipeline.cron(endedAt + 366 * DAY);
    expect((await pipeline.json(`/uploads/${upload.uploadId}`)).status).toBe(404);

    // Each cron run says what it pruned.
    const runs = logs.named("sweep");
    expect(runs).toHaveLength(4);
    expect(runs.slice(0, 2).map((run) => run.prunedUploads)).toEqual([0, 0]);
    expect(runs[2]?.prunedUploads).toBeGreaterThanOrEqual(1);
    expect(runs[1]?.prunedDetailRows).toBeGreaterThanOrEqual(2);
    expect(runs[3]?.expiredTombstones).toBeGreaterThanOrEqual(1);
  });

  it("answers a chunk for a pruned stream on the D1 chunk path with 410 too", async () => {
    const pipeline = new Pipeline({ producerVars: { CHUNK_STORE: "d1" } });
    const stream = await pipeline.create({ key: "pruned/stream.bin", mode: "stream" });
    expect((await pipeline.putChunk(stream.uploadId, 1, bytes(100, 41), { final: true })).status).toBe(200);
    await pipeline.settle();
    const ended = await uploadRow(stream.uploadId);
    expect(ended?.state).toBe("completed");
    await pipeline.cron((ended?.ended_at ?? 0) + 91 * DAY);
    const late = await pipeline.putChunk(stream.uploadId, 2, bytes(100, 42));
    expect(late.status, JSON.stringify(late.body)).toBe(410);
    expect(late.body).toMatchObject({ error: { code: "upload_gone", details: { state: "completed" } } });
  });

  it("answers 410 only to a caller the upload itself would have been shown to", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "pruned/private.bin", parts: 1, partSize: PART });
    await pipeline.putPart(upload.uploadId, 1, bytes(10, 21));
    await pipeline.settle();
    const endedAt = (await uploadRow(upload.uploadId))?.ended_at ?? 0;
    await pipeline.cron(endedAt + 91 * DAY);
    // The upload's own token still learns how it ended; a token for another upload does not.
    pipeline.credential = (upload as CreatedUpload).uploadToken ?? "";
    expect((await pipeline.json(`/uploads/${upload.uploadId}`)).status).toBe(410);
    const other = await new Pipeline().create({ key: "pruned/other.bin", parts: 1, partSize: PART });
    pipeline.credential = (other as CreatedUpload).uploadToken ?? "";
    expect((await pipeline.json(`/uploads/${upload.uploadId}`)).status).toBe(403);
  });
});
