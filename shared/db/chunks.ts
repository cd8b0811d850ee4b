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
};

export function stagingKey(uploadId: string, seq: number): string {
  return `${stagingPrefix(uploadId)}${String(seq).padStart(7, "0")}`;
}

export function stagingPrefix(uploadId: string): string {
  return `${STAGING_PREFIX}${uploadId}/`;
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

/** Marks `seq` as the stream's final chunk. False when another chunk is already final. */
export async function markFinalChunk(db: D1Database, uploadId: string, seq: number): Promise<boolean> {
  const row = await db
    .prepare(
      `UPDATE uploads SET final_chunk = ?2
       WHERE upload_id = ?1 AND state = 'open' AND (final_chunk IS NULL OR final_chunk = ?2)
         AND NOT EXISTS (SELECT 1 FROM chunks WHERE upload_id = ?1 AND seq > ?2)
       RETURNING upload_id`,
    )
    .bind(uploadId, seq)
    .first();
  return row !== null;
}

/**
 * Records a staged chunk, replacing an earlier copy that is still only staged; counts as
 * activity. Returns false when the chunk was coalesced meanwhile (its bytes are in a part).
 */
export async function recordStagedChunk(
  db: D1Database,
  chunk: { uploadId: string; seq: number; size: number; md5: string; sha256: string | null },
  now: number,
): Promise<boolean> {
  const [recorded] = await db.batch([
    db
      .prepare(
        `INSERT INTO chunks (upload_id, seq, size, md5, state, staged_at, sha256)
         VALUES (?1, ?2, ?3, ?4, 'staged', ?5, ?6)
         ON CONFLICT (upload_id, seq) DO UPDATE SET size = excluded.size, md5 = excluded.md5,
           staged_at = excluded.staged_at, sha256 = excluded.sha256
         WHERE chunks.state = 'staged'
         RETURNING seq`,
      )
      .bind(chunk.uploadId, chunk.seq, chunk.size, chunk.md5, now, chunk.sha256),
    db
      .prepare(
        `UPDATE uploads SET ${activityClock("?2")}
         WHERE upload_id = ?1 AND state = 'open'`,
      )
      .bind(chunk.uploadId, now),
  ]);
  return (recorded?.results.length ?? 0) > 0;
}

/** Forgets a staged chunk whose bytes turned out bad, in D1 and in R2: it is missing again. */
export async function discardStagedChunk(db: D1Database, bucket: R2Bucket, uploadId: string, seq: number): Promise<void> {
  await db.prepare("DELETE FROM chunks WHERE upload_id = ?1 AND seq = ?2 AND state = 'staged'").bind(uploadId, seq).run();
  await bucket.delete(stagingKey(uploadId, seq));
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
  const contiguousThrough = firstReceived !== 1 ? 0 : ((gaps?.results[0] as { first: number } | undefined)?.first ?? 1) - 1;
  return {
    chunksReceived: received,
    contiguousThrough,
    missingChunks: missing,
    stagedBytes: Math.max(0, (total?.pending ?? 0) - upload.next_chunk_offset),
  };
}
