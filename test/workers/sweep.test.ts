import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { recordIngestedPart } from "../../shared/db/parts";
import { getUpload } from "../../shared/db/uploads";
import { probeBucket, r2Error } from "./faults";
import { bytes, captureLogs, objectBytes, PART, Pipeline, uploadParts } from "./helpers";

const HOUR = 60 * 60 * 1000;

/** R2's id for one of our uploads: what a client never sees, and what R2 calls need. */
async function r2UploadIdOf(uploadId: string): Promise<string> {
  const row = await getUpload(env.DB, uploadId);
  if (row === null) throw new Error(`no upload ${uploadId}`);
  return row.r2_upload_id;
}

describe("stale sweep", () => {
  it("aborts an abandoned upload and leaves an active one alone", async () => {
    const pipeline = new Pipeline();
    const abandoned = await pipeline.create({
      key: "sweep/abandoned.bin",
      parts: 3,
      partSize: PART,
      staleAfterSeconds: 3600,
    });
    const active = await pipeline.create({
      key: "sweep/active.bin",
      parts: 3,
      partSize: PART,
      staleAfterSeconds: 3 * 3600,
    });
    await uploadParts(pipeline, abandoned.uploadId, [1], 3, 10, 1);
    await pipeline.deliver(pipeline.queue.drain());

    await pipeline.cron(Date.now() + 2 * HOUR);

    const swept = await pipeline.status(abandoned.uploadId);
    expect(swept.state).toBe("aborted");
    expect(swept.abortReason).toBe("stale");
    expect((await pipeline.status(active.uploadId)).state).toBe("open");
    // R2 no longer knows the aborted upload.
    const r2 = env.BUCKET.resumeMultipartUpload(abandoned.key, await r2UploadIdOf(abandoned.uploadId));
    await expect(r2.uploadPart(2, bytes(PART, 2))).rejects.toThrow(/does not exist/);
    const pending = await env.DB.prepare("SELECT r2_abort_pending FROM uploads WHERE upload_id = ?1")
      .bind(abandoned.uploadId)
      .first<{ r2_abort_pending: number }>();
    expect(pending?.r2_abort_pending).toBe(0);
  });

  it("counts tallied parts as activity, so a slow but live upload is not swept", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "sweep/slow.bin", parts: 3, partSize: PART, staleAfterSeconds: 3600 });
    await uploadParts(pipeline, upload.uploadId, [1], 3, 10, 3);
    const [event] = pipeline.queue.drain();
    await pipeline.deliver([{ ...event, uploadedAt: Date.now() + 90 * 60 * 1000 }]);

    await pipeline.cron(Date.now() + 2 * HOUR);
    expect((await pipeline.status(upload.uploadId)).state).toBe("open");
  });

  it("never completes from a partial set when the last part races the sweep", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "sweep/late.bin", parts: 2, partSize: PART, staleAfterSeconds: 60 });
    await uploadParts(pipeline, upload.uploadId, [1], 2, 10, 4);
    await pipeline.deliver(pipeline.queue.drain());

    await pipeline.cron(Date.now() + HOUR);
    // The last part reached R2 just before the sweep and reaches D1 just after it: refused.
    const recorded = await recordIngestedPart(env.DB, {
      uploadId: upload.uploadId,
      key: upload.key,
      partNumber: 2,
      r2Part: 3,
      etag: "late-etag",
      size: 10,
      uploadedAt: Date.now(),
      sha256: null,
    });
    expect(recorded).toBeNull();
    // And an event for it that arrives after the sweep changes nothing either.
    const late = {
      type: "part.uploaded",
      uploadId: upload.uploadId,
      key: upload.key,
      partNumber: 2,
      etag: "late-etag",
      size: 10,
      sequence: 2,
      uploadedAt: Date.now(),
    };
    const result = await pipeline.deliver([late]);

    expect(result.retryMessages).toEqual([]);
    const status = await pipeline.status(upload.uploadId);
    expect(status.state).toBe("aborted");
    expect(status.receivedParts).toBe(1);
    expect(await objectBytes(upload.key)).toBeNull();
    const again = await pipeline.putPart(upload.uploadId, 2, bytes(10, 5));
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: "upload_not_open" } });
  });

  it("drains a backlog in runs bounded by the batch limit", async () => {
    const pipeline = new Pipeline({ consumerVars: { SWEEP_BATCH_LIMIT: "2" } });
    for (let i = 0; i < 5; i++) await pipeline.create({ key: `sweep/backlog-${i}.bin`, staleAfterSeconds: 60 });
    const openCount = async () =>
      (
        await env.DB.prepare(
          "SELECT count(*) AS n FROM uploads WHERE state = 'open' AND object_key LIKE 'sweep/backlog-%'",
        ).first<{ n: number }>()
      )?.n;

    const later = Date.now() + HOUR;
    const remaining: (number | undefined)[] = [];
    for (let run = 0; run < 3; run++) {
      await pipeline.cron(later);
      remaining.push(await openCount());
    }
    expect(remaining).toEqual([3, 1, 0]);
  });

  it("keeps a failed R2 abort pending and retries it on the next run", async () => {
    const logs = captureLogs(["r2_abort_failed"]);
    let failAborts = true;
    const probe = probeBucket(env.BUCKET, {
      beforeAbort: () => {
        if (failAborts) throw r2Error("We encountered an internal error. Please try again.", 10001);
      },
    });
    const pipeline = new Pipeline({ bucket: probe.bucket });
    const upload = await pipeline.create({ key: "sweep/abort-retry.bin", staleAfterSeconds: 60 });
    const pendingOf = async () =>
      (
        await env.DB.prepare("SELECT r2_abort_pending AS p FROM uploads WHERE upload_id = ?1")
          .bind(upload.uploadId)
          .first<{ p: number }>()
      )?.p;

    await pipeline.cron(Date.now() + HOUR);
    expect((await pipeline.status(upload.uploadId)).state).toBe("aborted");
    expect(await pendingOf()).toBe(1);
    expect(logs.named("r2_abort_failed")).toEqual([expect.objectContaining({ uploadId: upload.uploadId })]);

    failAborts = false;
    await pipeline.cron(Date.now() + HOUR);
    expect(await pendingOf()).toBe(0);
    expect(probe.abortCalls()).toBe(2);
  });

  it("takes over a completion whose claim outlived its lease", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "sweep/stuck.bin", parts: 1, partSize: PART });
    await uploadParts(pipeline, upload.uploadId, [1], 1, 10, 6);
    // The part is recorded at ingest; its event is lost with the invocation that claimed it.
    expect((await pipeline.status(upload.uploadId)).receivedParts).toBe(1);
    pipeline.queue.drain();
    await env.DB.prepare(
      "UPDATE uploads SET state = 'completing', claim_id = 'dead', claimed_at = ?2 WHERE upload_id = ?1",
    )
      .bind(upload.uploadId, Date.now())
      .run();

    // Within the lease nothing happens; after it the cron completes the upload.
    await pipeline.cron(Date.now());
    expect((await pipeline.status(upload.uploadId)).state).toBe("completing");
    await pipeline.cron(Date.now() + 10 * 60 * 1000);
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
  });
});
