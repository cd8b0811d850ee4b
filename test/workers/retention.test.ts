import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_ROUNDS, type PruneReport, prune } from "../../consumer/prune";
import { consumerConfig } from "../../shared/config";
import { claimUploads } from "../../shared/db/claims";
import { PRUNE_ROUND_SQL, pruneRoundValues } from "../../shared/db/retention";
import { confirmR2AbortsStatement } from "../../shared/db/uploads";
import type { CreatedUpload } from "../../shared/schemas";
import { countRoundTrips, flakyDb } from "./faults";
import { bytes, captureLogs, PART, Pipeline } from "./helpers";
import { Tus } from "./tus-helpers";

const DAY = 24 * 60 * 60 * 1000;
/**
 * Seeded uploads end in 2001, long before anything the other tests of this file create, so a
 * prune run "now" (a few hundred days after 2001) takes the seeded rows and nothing else.
 */
const LONG_AGO = Date.UTC(2001, 0, 1);

type Seed = {
  prefix: string;
  uploads: number;
  state: "open" | "completing" | "completed" | "aborted" | "failed";
  endedAt: number | null;
  r2AbortPending?: 0 | 1;
  parts?: number;
  chunks?: number;
  spans?: number;
};

/** Upload rows with detail rows, written straight into D1 the way the listing benchmark seeds. */
async function seed(s: Seed): Promise<void> {
  const series = (count: string) =>
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})`;
  const ids = `SELECT upload_id FROM uploads WHERE upload_id >= ?1 || '-' AND upload_id < ?1 || '.'`;
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO uploads (upload_id, r2_upload_id, object_key, api, state, stale_after_seconds, created_at,
         updated_at, last_activity_at, expires_at, mode, ended_at, r2_abort_pending, claim_id, claimed_at)
       ${series("?2")}
       SELECT ?1 || '-' || i, 'r2-' || ?1 || '-' || i, 'retention/' || ?1 || '/' || i, 'native', ?3, 86400,
         ?6, ?6, ?6, ?6 + 86400000, 'stream', ?4, ?5,
         CASE ?3 WHEN 'completing' THEN 'claim-' || i END, CASE ?3 WHEN 'completing' THEN ?6 END
       FROM n`,
    ).bind(s.prefix, s.uploads, s.state, s.endedAt, s.r2AbortPending ?? 0, LONG_AGO - DAY),
    env.DB.prepare(
      `INSERT INTO parts (upload_id, part_number, etag, size, seq, uploaded_at, recorded_at)
       ${series("?2")} SELECT u.upload_id, i, 'etag', 1, i, 0, 0 FROM (${ids}) AS u, n`,
    ).bind(s.prefix, s.parts ?? 0),
    env.DB.prepare(
      `INSERT INTO chunks (upload_id, seq, size, md5, state, staged_at, merged)
       ${series("?2")} SELECT u.upload_id, i, 1, 'md5', 'coalesced', 0, 1 FROM (${ids}) AS u, n`,
    ).bind(s.prefix, s.chunks ?? 0),
    env.DB.prepare(
      `INSERT INTO chunk_spans (upload_id, first_seq, last_seq, size, staged_key, md5)
       ${series("?2")} SELECT u.upload_id, i, i, 1, 'span-' || i, 'md5' FROM (${ids}) AS u, n`,
    ).bind(s.prefix, s.spans ?? 0),
  ]);
}

/** Rows a prefix of seeded uploads still has, per table. */
async function rowsOf(prefix: string) {
  const count = (table: string) =>
    `(SELECT count(*) FROM ${table} WHERE upload_id >= ?1 || '-' AND upload_id < ?1 || '.')`;
  return env.DB.prepare(
    `SELECT ${count("uploads")} AS uploads, ${count("parts")} AS parts, ${count("chunks")} AS chunks,
       ${count("chunk_spans")} AS spans, ${count("upload_tombstones")} AS tombstones`,
  )
    .bind(prefix)
    .first<{ uploads: number; parts: number; chunks: number; spans: number; tombstones: number }>();
}

async function uploadRow(uploadId: string) {
  return env.DB.prepare("SELECT state, ended_at, updated_at, details_pruned FROM uploads WHERE upload_id = ?1")
    .bind(uploadId)
    .first<{ state: string; ended_at: number | null; updated_at: number; details_pruned: number }>();
}

const settings = (vars: Record<string, string> = {}) => consumerConfig({ ...env, ...vars });
const deletedBy = (report: PruneReport) => report.prunedDetailRows + report.prunedUploads + report.expiredTombstones;

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

describe("what pruning never touches", () => {
  it("leaves uploads that are open, completing or pending an R2 abort, however old", async () => {
    const details = { parts: 3, chunks: 4, spans: 1 };
    await seed({ prefix: "keep-open", uploads: 3, state: "open", endedAt: null, ...details });
    await seed({ prefix: "keep-completing", uploads: 3, state: "completing", endedAt: null, ...details });
    await seed({
      prefix: "keep-pending",
      uploads: 3,
      state: "aborted",
      endedAt: LONG_AGO,
      r2AbortPending: 1,
      ...details,
    });
    await seed({ prefix: "take-done", uploads: 3, state: "completed", endedAt: LONG_AGO, ...details });
    const now = LONG_AGO + 200 * DAY;

    const report = await prune(env.DB, settings(), now);
    expect(report).toMatchObject({ prunedDetailRows: 3 * 8, prunedUploads: 3 });
    for (const prefix of ["keep-open", "keep-completing", "keep-pending"]) {
      expect(await rowsOf(prefix), prefix).toEqual({ uploads: 3, parts: 9, chunks: 12, spans: 3, tombstones: 0 });
    }
    expect(await rowsOf("take-done")).toEqual({ uploads: 0, parts: 0, chunks: 0, spans: 0, tombstones: 3 });

    // Once R2 confirms the abort, the next run takes it.
    await confirmR2AbortsStatement(env.DB, ["keep-pending-1", "keep-pending-2", "keep-pending-3"]).run();
    await prune(env.DB, settings(), now);
    expect(await rowsOf("keep-pending")).toEqual({ uploads: 0, parts: 0, chunks: 0, spans: 0, tombstones: 3 });
  });

  it("leaves an upload a completion has claimed until the claim settles", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "never/claimed.bin", parts: 1, partSize: PART });
    await pipeline.putPart(upload.uploadId, 1, bytes(10, 31));
    pipeline.queue.drain();
    const [claim] = await claimUploads(env.DB, [upload.uploadId], Date.now(), Date.now() - 60_000);
    expect(claim?.upload.state).toBe("completing");

    await prune(env.DB, settings(), Date.now() + 400 * DAY);
    expect(await uploadRow(upload.uploadId)).toMatchObject({ state: "completing", ended_at: null, details_pruned: 0 });
    expect((await pipeline.status(upload.uploadId)).receivedParts).toBe(1);
  });
});

describe("a backlog", () => {
  it("drains over bounded runs, each within its row budget, one batch per round", async () => {
    // 40 ended uploads of 5 parts, 10 chunks and 2 spans: 680 detail rows and 40 upload rows.
    await seed({
      prefix: "backlog",
      uploads: 40,
      state: "completed",
      endedAt: LONG_AGO,
      parts: 5,
      chunks: 10,
      spans: 2,
    });
    const limited = settings({ PRUNE_BATCH_LIMIT: "100" });
    const now = LONG_AGO + 100 * DAY;
    const runs: PruneReport[] = [];
    for (let run = 0; run < 50; run++) {
      const probe = countRoundTrips(env.DB);
      const report = await prune(probe.db, limited, now);
      expect(probe.roundTrips(), "one D1 round trip (batch) per round").toBe(report.pruneRounds);
      runs.push(report);
      if (deletedBy(report) === 0) break;
    }
    for (const report of runs) {
      expect(deletedBy(report)).toBeLessThanOrEqual(100);
      expect(report.pruneRounds).toBeLessThanOrEqual(MAX_ROUNDS);
      expect(report.pruneStatements).toBe(report.pruneRounds * PRUNE_ROUND_SQL.length);
    }
    const total = runs.reduce((sum, report) => sum + deletedBy(report), 0);
    expect(total).toBe(680 + 40);
    // At most 100 rows a run: at least 8 runs with work, then one that finds nothing.
    expect(runs.length).toBeGreaterThanOrEqual(9);
    expect(await rowsOf("backlog")).toEqual({ uploads: 0, parts: 0, chunks: 0, spans: 0, tombstones: 40 });
  });

  it("loses nothing when a run fails midway: each round is one transaction, the next run goes on", async () => {
    await seed({ prefix: "flaky", uploads: 20, state: "failed", endedAt: LONG_AGO, parts: 10 });
    const limited = settings({ PRUNE_BATCH_LIMIT: "100" });
    const now = LONG_AGO + 100 * DAY;
    const failing = flakyDb(env.DB, (call) => call === 2);
    await expect(prune(failing, limited, now)).rejects.toThrow(/injected failure/);
    const after = await rowsOf("flaky");
    // Whatever went, went whole: every deleted upload left a tombstone, no upload lost part of a round.
    expect(after?.tombstones).toBe(20 - (after?.uploads ?? 0));
    for (let run = 0; run < 20 && (await rowsOf("flaky"))?.uploads !== 0; run++) await prune(env.DB, limited, now);
    expect(await rowsOf("flaky")).toEqual({ uploads: 0, parts: 0, chunks: 0, spans: 0, tombstones: 20 });
  });

  it("expires tombstones after their own window", async () => {
    await seed({ prefix: "tomb", uploads: 5, state: "aborted", endedAt: LONG_AGO });
    await prune(env.DB, settings(), LONG_AGO + 100 * DAY);
    expect((await rowsOf("tomb"))?.tombstones).toBe(5);
    await prune(env.DB, settings(), LONG_AGO + 364 * DAY);
    expect((await rowsOf("tomb"))?.tombstones).toBe(5);
    const report = await prune(env.DB, settings(), LONG_AGO + 366 * DAY);
    expect(report.expiredTombstones).toBeGreaterThanOrEqual(5);
    expect((await rowsOf("tomb"))?.tombstones).toBe(0);
  });
});

describe("query plans", () => {
  it("reaches every row through an index: no statement scans a table", async () => {
    const cutoffs = { details: LONG_AGO, uploads: LONG_AGO, tombstones: LONG_AGO };
    const plans: string[] = [];
    for (const sql of PRUNE_ROUND_SQL) {
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...pruneRoundValues(sql, cutoffs, 1000, LONG_AGO))
        .all<{ detail: string }>();
      const details = results.map((row) => row.detail);
      plans.push(details.join(" | "));
      for (const detail of details)
        expect(detail, sql).not.toMatch(/^SCAN (uploads|parts|chunks|chunk_spans|upload_tombstones)\b(?! USING)/);
    }
    const joined = plans.join("\n");
    expect(joined).toContain("uploads_details_to_prune");
    expect(joined).toContain("uploads_to_prune");
    expect(joined).toContain("upload_tombstones_by_ended");
  });
});
