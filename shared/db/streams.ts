import type { ChunkRow } from "./chunks";
import type { UploadRow } from "./uploads";

/** Takes the stream's coalescing lease; null when someone else holds it or it is not open. */
export async function takeLease(
  db: D1Database,
  uploadId: string,
  leaseId: string,
  now: number,
  leaseMs: number,
): Promise<UploadRow | null> {
  return db
    .prepare(
      `UPDATE uploads SET lease_id = ?2, lease_until = ?3 + ?4
       WHERE upload_id = ?1 AND state = 'open' AND mode = 'stream' AND (lease_until IS NULL OR lease_until <= ?3)
       RETURNING *`,
    )
    .bind(uploadId, leaseId, now, leaseMs)
    .first<UploadRow>();
}

export async function releaseLease(db: D1Database, uploadId: string, leaseId: string): Promise<void> {
  await db
    .prepare("UPDATE uploads SET lease_id = NULL, lease_until = NULL WHERE upload_id = ?1 AND lease_id = ?2")
    .bind(uploadId, leaseId)
    .run();
}

/** The chunks at and after the cursor, in order, as far as they run without a gap. */
export async function contiguousChunks(
  db: D1Database,
  uploadId: string,
  fromSeq: number,
  limit: number,
): Promise<ChunkRow[]> {
  const { results } = await db
    .prepare("SELECT * FROM chunks WHERE upload_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3")
    .bind(uploadId, fromSeq, limit)
    .all<ChunkRow>();
  const run: ChunkRow[] = [];
  for (const chunk of results) {
    if (chunk.seq !== fromSeq + run.length) break;
    run.push(chunk);
  }
  return run;
}

export type StreamCursor = { nextChunk: number; offset: number; nextPart: number; committedBytes: number };

/**
 * Records one coalesced part and moves the cursor, all or nothing and only while the lease is
 * ours: a coalescer that lost its lease writes nothing. The last statement's change count
 * tells whether the commit took.
 */
export function commitPartStatements(
  db: D1Database,
  commit: {
    uploadId: string;
    leaseId: string;
    /** Null when the cursor only moves past empty chunks (a stream ended by an empty final chunk). */
    part: { number: number; etag: string; size: number } | null;
    touchedChunks: { from: number; through: number };
    cursor: StreamCursor;
    expectedParts: number | null;
    now: number;
  },
): D1PreparedStatement[] {
  const { uploadId, leaseId, part, touchedChunks, cursor, now } = commit;
  const leaseHeld = "EXISTS (SELECT 1 FROM uploads WHERE upload_id = ?1 AND lease_id = ?2)";
  const recordPart =
    part === null
      ? []
      : [
          db
            .prepare(
              `INSERT INTO parts (upload_id, part_number, etag, size, seq, uploaded_at, recorded_at)
               SELECT ?1, ?3, ?4, ?5, ?3, ?6, ?6 WHERE ${leaseHeld}
               ON CONFLICT (upload_id, part_number) DO UPDATE SET etag = excluded.etag, size = excluded.size,
                 uploaded_at = excluded.uploaded_at, recorded_at = excluded.recorded_at`,
            )
            .bind(uploadId, leaseId, part.number, part.etag, part.size, now),
        ];
  return [
    ...recordPart,
    // A chunk with any byte in a part can no longer be replaced: it is "coalesced".
    db
      .prepare(`UPDATE chunks SET state = 'coalesced' WHERE upload_id = ?1 AND seq BETWEEN ?3 AND ?4 AND ${leaseHeld}`)
      .bind(uploadId, leaseId, touchedChunks.from, touchedChunks.through),
    db
      .prepare(
        `UPDATE uploads SET next_chunk = ?3, next_chunk_offset = ?4, next_part = ?5, committed_bytes = ?6,
           expected_parts = coalesce(?7, expected_parts), updated_at = ?8
         WHERE upload_id = ?1 AND lease_id = ?2`,
      )
      .bind(
        uploadId,
        leaseId,
        cursor.nextChunk,
        cursor.offset,
        cursor.nextPart,
        cursor.committedBytes,
        commit.expectedParts,
        now,
      ),
  ];
}

/** Open streams with a chunk waiting at the cursor and nobody coalescing them. */
export async function listIdleStreams(db: D1Database, now: number, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT u.upload_id FROM uploads u
       WHERE u.state = 'open' AND u.mode = 'stream' AND (u.lease_until IS NULL OR u.lease_until <= ?1)
         AND EXISTS (SELECT 1 FROM chunks c WHERE c.upload_id = u.upload_id AND c.seq = u.next_chunk)
       LIMIT ?2`,
    )
    .bind(now, limit)
    .all<{ upload_id: string }>();
  return results.map((row) => row.upload_id);
}
