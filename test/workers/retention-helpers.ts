/** Seeding and reading the rows retention works on, for the retention tests. */
import { env } from "cloudflare:workers";
import type { PruneReport } from "../../consumer/prune";
import { consumerConfig } from "../../shared/config";

export const DAY = 24 * 60 * 60 * 1000;
/**
 * Seeded uploads end in 2001, long before anything the other tests of this file create, so a
 * prune run "now" (a few hundred days after 2001) takes the seeded rows and nothing else.
 */
export const LONG_AGO = Date.UTC(2001, 0, 1);

export type Seed = {
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
export async function seed(s: Seed): Promise<void> {
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
export async function rowsOf(prefix: string) {
  const count = (table: string) =>
    `(SELECT count(*) FROM ${table} WHERE upload_id >= ?1 || '-' AND upload_id < ?1 || '.')`;
  return env.DB.prepare(
    `SELECT ${count("uploads")} AS uploads, ${count("parts")} AS parts, ${count("chunks")} AS chunks,
       ${count("chunk_spans")} AS spans, ${count("upload_tombstones")} AS tombstones`,
  )
    .bind(prefix)
    .first<{ uploads: number; parts: number; chunks: number; spans: number; tombstones: number }>();
}

export async function uploadRow(uploadId: string) {
  return env.DB.prepare("SELECT state, ended_at, updated_at, details_pruned FROM uploads WHERE upload_id = ?1")
    .bind(uploadId)
    .first<{ state: string; ended_at: number | null; updated_at: number; details_pruned: number }>();
}

export const settings = (vars: Record<string, string> = {}) => consumerConfig({ ...env, ...vars });
export const deletedBy = (report: PruneReport) =>
  report.prunedDetailRows + report.prunedUploads + report.expiredTombstones + report.prunedDeadLetters;
