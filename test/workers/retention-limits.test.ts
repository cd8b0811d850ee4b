import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_ROUNDS, type PruneReport, prune } from "../../consumer/prune";
import { claimUploads } from "../../shared/db/claims";
import { PRUNE_ROUND_SQL, pruneRoundValues } from "../../shared/db/retention";
import { confirmR2AbortsStatement } from "../../shared/db/uploads";
import { countRoundTrips, flakyDb } from "./faults";
import { bytes, PART, Pipeline } from "./helpers";
import { DAY, deletedBy, LONG_AGO, rowsOf, seed, settings, uploadRow } from "./retention-helpers";

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

describe("settled dead letters", () => {
  it("go after the upload window once replayed or discarded; a dead letter nobody acted on stays", async () => {
    const put = (id: string, state: string, settledAt: number | null) =>
      env.DB.prepare(
        `INSERT INTO dead_letters (id, message_id, queue, body, first_seen_at, last_seen_at, state, replayed_at, discarded_at)
         VALUES (?1, ?1, 'ingest-events-dlq', '{}', ?2, ?2, ?3, ?4, ?5)`,
      ).bind(id, LONG_AGO, state, state === "replayed" ? settledAt : null, state === "discarded" ? settledAt : null);
    await env.DB.batch([
      put("dl-dead", "dead", null),
      put("dl-replayed", "replayed", LONG_AGO + DAY),
      put("dl-discarded", "discarded", LONG_AGO + DAY),
      put("dl-discarded-late", "discarded", LONG_AGO + 50 * DAY),
    ]);
    const left = async () =>
      (
        await env.DB.prepare("SELECT id FROM dead_letters WHERE id LIKE 'dl-%' ORDER BY id").all<{ id: string }>()
      ).results.map((row) => row.id);
    await prune(env.DB, settings(), LONG_AGO + 90 * DAY);
    expect(await left()).toEqual(["dl-dead", "dl-discarded", "dl-discarded-late", "dl-replayed"]);
    const report = await prune(env.DB, settings(), LONG_AGO + 92 * DAY);
    expect(report.prunedDeadLetters).toBe(2);
    expect(await left()).toEqual(["dl-dead", "dl-discarded-late"]);
    await prune(env.DB, settings(), LONG_AGO + 1000 * DAY);
    expect(await left()).toEqual(["dl-dead"]);
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
        expect(detail, sql).not.toMatch(
          /^SCAN (uploads|parts|chunks|chunk_spans|upload_tombstones|dead_letters)\b(?! USING)/,
        );
    }
    const joined = plans.join("\n");
    expect(joined).toContain("uploads_details_to_prune");
    expect(joined).toContain("uploads_to_prune");
    expect(joined).toContain("upload_tombstones_by_ended");
    expect(joined).toContain("dead_letters_by_state_seen");
  });
});
