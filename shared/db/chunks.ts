import { missingRanges } from "../ranges";
import { STAGING_PREFIX } from "../schemas";
import { activityClock } from "./fragments";
import type { UploadRow } from "./uploads";

export type ChunkRow = {
  upload_id: string;
  seq: number;
  size: number;
  md5: string;
  state: "staged" | "coalesced";
  staged_at: number;
  sha256: string | null;
  /** Where the accepted copy lives; null for rows older than migration 0006 (see stagedKeyOf). */
  staged_key: string | null;
  /** 1 once the chunk was copied into a span: it can no longer change. */
  merged: number;
};

/** The plain staging key of a chunk; copies made since migration 0006 add a per-attempt suffix. */
export function stagingKey(uploadId: string, seq: number): string {
  return `${stagingPrefix(uploadId)}${String(seq).padStart(7, "0")}`;
}

export function stagingPrefix(uploadId: string): string {
  return `${STAGING_PREFIX}${uploadId}/`;
}

/** A fresh key for one attempt at sending a chunk: it never holds anybody else's bytes. */
export function attemptKey(uploadId: string, seq: number): string {
  return `${stagingKey(uploadId, seq)}.${randomSuffix()}`;
}

/** A fresh key for a span of chunks copied into one object. */
export function spanKey(uploadId: string, first: number, last: number): string {
  return `${stagingPrefix(uploadId)}span-${String(first).padStart(7, "0")}-${String(last).padStart(7, "0")}.${randomSuffix()}`;
}

/** Where a chunk's accepted copy lives. */
export function stagedKeyOf(chunk: Pick<ChunkRow, "upload_id" | "seq" | "staged_key">): string {
  return chunk.staged_key ?? stagingKey(chunk.upload_id, chunk.seq);
}

function randomSuffix(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The upload and, if it was sent before, the chunk: what a chunk PUT needs to decide. */
export async function chunkContext(
  db: D1Database,
  uploadId: string,
  seq: number,
): Promise<{ upload: UploadRow | null; chunk: ChunkRow | null; highestSeq: number }> {
  const [upload, chunk, highest] = await db.batch([
    db.prepare("SELECT * FROM uploads WHERE upload_id = ?1").bind(uploadId),
    db.prepare("SELECT * FROM chunks WHERE upload_id = ?1 AND seq = ?2").bind(uploadId, seq),
    db.prepare("SELECT coalesce(max(seq), 0) AS highest FROM chunks WHERE upload_id = ?1").bind(uploadId),
  ]);
  return {
    upload: (upload?.results[0] as UploadRow | undefined) ?? null,
    chunk: (chunk?.results[0] as ChunkRow | undefined) ?? null,
    highestSeq: (highest?.results[0] as { highest: number } | undefined)?.highest ?? 0,
  };
}

/**
 * Makes a verified copy the chunk's accepted one, in one transaction: records (or switches) the
 * row, marks the chunk final if asked, and moves the activity clock. It only switches from the
 * row the caller read (`expected`, null when there was none) and only while that row is still
 * staged, the upload open and, for a final chunk, the marker free: false when any of that
 * changed meanwhile, and then nothing was written. `key` may be the expected row's own key (the
 * same bytes sent again), which changes nothing but the marker and the clock.
 */
export async function acceptChunk(
  db: D1Database,
  chunk: { uploadId: string; seq: number; size: number; md5: string; sha256: string | null; key: string | null },
  expected: ChunkRow | null,
  final: boolean,
  now: number,
): Promise<boolean> {
  const { uploadId, seq } = chunk;
  // ?1 upload, ?2 seq: the conditions under which this chunk may be recorded (and marked final).
  const acceptable = `EXISTS (SELECT 1 FROM uploads WHERE upload_id = ?1 AND state = 'open'
      AND (?9 = 0 OR ((final_chunk IS NULL OR final_chunk = ?2)
        AND NOT EXISTS (SELECT 1 FROM chunks WHERE upload_id = ?1 AND seq > ?2))))`;
  const record =
    expected === null
      ? db.prepare(
          `INSERT INTO chunks (upload_id, seq, size, md5, state, staged_at, sha256, staged_key)
           SELECT ?1, ?2, ?3, ?4, 'staged', ?5, ?6, ?7 WHERE ${acceptable} AND ?8 IS NULL
           ON CONFLICT (upload_id, seq) DO NOTHING
           RETURNING seq`,
        )
      : db.prepare(
          `UPDATE chunks SET size = ?3, md5 = ?4, staged_at = ?5, sha256 = coalesce(?6, sha256), staged_key = ?7
           WHERE upload_id = ?1 AND seq = ?2 AND state = 'staged' AND merged = 0 AND staged_key IS ?8 AND ${acceptable}
           RETURNING seq`,
        );
  const recorded = `EXISTS (SELECT 1 FROM chunks WHERE upload_id = ?1 AND seq = ?2 AND staged_key IS ?3 AND md5 = ?4)`;
  const [result] = await db.batch([
    record.bind(
      uploadId,
      seq,
      chunk.size,
      chunk.md5,
      now,
      chunk.sha256,
      chunk.key,
      expected?.staged_key ?? null,
      final ? 1 : 0,
    ),
    // The marker only once the chunk is in: a refused or failed final chunk marks nothing.
    db
      .prepare(
        `UPDATE uploads SET final_chunk = ?2 WHERE upload_id = ?1 AND state = 'open' AND ?5 = 1 AND ${recorded}
           AND (final_chunk IS NULL OR final_chunk = ?2) AND NOT EXISTS (SELECT 1 FROM chunks WHERE upload_id = ?1 AND seq > ?2)`,
      )
      .bind(uploadId, seq, chunk.key, chunk.md5, final ? 1 : 0),
    db
      .prepare(`UPDATE uploads SET ${activityClock("?5")} WHERE upload_id = ?1 AND state = 'open' AND ${recorded}`)
      .bind(uploadId, seq, chunk.key, chunk.md5, now),
  ]);
  return (result?.results.length ?? 0) > 0;
}

export type StreamSummary = {
  chunksReceived: number;
  contiguousThrough: number;
  missingChunks: string[];
  stagedBytes: number;
};

const MAX_GAPS_SHOWN = 100;

/** What a stream has received, computed in SQL so a stream of a million chunks stays cheap. */
export async function summarizeStream(db: D1Database, upload: UploadRow): Promise<StreamSummary> {
  const [totals, gaps] = await db.batch([
    db
      .prepare(
        `SELECT count(*) AS received, min(seq) AS lowest, coalesce(max(seq), 0) AS highest,
           coalesce(sum(CASE WHEN seq >= ?2 THEN size ELSE 0 END), 0) AS pending
         FROM chunks WHERE upload_id = ?1`,
      )
      .bind(upload.upload_id, upload.next_chunk),
    // Each received chunk whose successor is missing starts a gap, up to the next received one.
    db
      .prepare(
        `SELECT c.seq + 1 AS first,
           (SELECT min(n.seq) FROM chunks n WHERE n.upload_id = c.upload_id AND n.seq > c.seq) - 1 AS last
         FROM chunks c
         WHERE c.upload_id = ?1
           AND NOT EXISTS (SELECT 1 FROM chunks n WHERE n.upload_id = c.upload_id AND n.seq = c.seq + 1)
         ORDER BY c.seq LIMIT ?2`,
      )
      .bind(upload.upload_id, MAX_GAPS_SHOWN),
  ]);
  const total = totals?.results[0] as
    | { received: number; lowest: number | null; highest: number; pending: number }
    | undefined;
  const received = total?.received ?? 0;
  const highest = total?.highest ?? 0;
  const upTo = Math.max(highest, upload.final_chunk ?? 0);

  const missing: string[] = [];
  const firstReceived = total?.lowest ?? null;
  if (firstReceived === null) {
    missing.push(...missingRanges([], upTo));
  } else if (firstReceived > 1) {
    missing.push(firstReceived === 2 ? "1" : `1-${firstReceived - 1}`);
  }
  for (const gap of (gaps?.results ?? []) as { first: number; last: number | null }[]) {
    const last = gap.last ?? upTo;
    if (gap.first <= last) missing.push(gap.first === last ? String(last) : `${gap.first}-${last}`);
  }
  const contiguousThrough =
    firstReceived !== 1 ? 0 : ((gaps?.results[0] as { first: number } | undefined)?.first ?? 1) - 1;
  return {
    chunksReceived: received,
    contiguousThrough,
    missingChunks: missing,
    stagedBytes: Math.max(0, (total?.pending ?? 0) - upload.next_chunk_offset),
  };
}
