import { type ChunkRow, stagedKeyOf } from "./chunks";
import { activityClock } from "./fragments";
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

/**
 * A piece of staged bytes: one chunk, or a span of contiguous chunks copied into one object.
 * `guardKey` is what the chunk's row said when read (null for a span): a commit checks it.
 */
export type Segment = {
  first: number;
  last: number;
  size: number;
  key: string;
  md5: string;
  span: boolean;
  guardKey: string | null;
};

/**
 * The segments at and after the cursor, in order, as far as they run without a gap, up to
 * `limit`. `truncated`: the run may go on beyond what was read (it did not end at a gap).
 */
export async function contiguousSegments(
  db: D1Database,
  uploadId: string,
  fromSeq: number,
  limit: number,
): Promise<{ run: Segment[]; truncated: boolean }> {
  const [chunks, spans] = await db.batch([
    db
      .prepare(
        `SELECT upload_id, seq, size, md5, staged_key FROM chunks INDEXED BY chunks_unmerged
         WHERE upload_id = ?1 AND seq >= ?2 AND merged = 0 ORDER BY seq LIMIT ?3`,
      )
      .bind(uploadId, fromSeq, limit),
    db
      .prepare(
        `SELECT first_seq, last_seq, size, md5, staged_key FROM chunk_spans
         WHERE upload_id = ?1 AND first_seq >= ?2 ORDER BY first_seq LIMIT ?3`,
      )
      .bind(uploadId, fromSeq, limit),
  ]);
  const chunkRows = (chunks?.results ?? []) as Pick<ChunkRow, "upload_id" | "seq" | "size" | "md5" | "staged_key">[];
  const spanRows = (spans?.results ?? []) as SpanRow[];
  // Each list is complete only up to its last row if it was cut by the limit.
  let horizon = Number.POSITIVE_INFINITY;
  if (chunkRows.length === limit) horizon = Math.min(horizon, chunkRows.at(-1)?.seq ?? horizon);
  if (spanRows.length === limit) horizon = Math.min(horizon, spanRows.at(-1)?.last_seq ?? horizon);
  const segments: Segment[] = [
    ...chunkRows.map((row) => ({
      first: row.seq,
      last: row.seq,
      size: row.size,
      key: stagedKeyOf(row),
      md5: row.md5,
      span: false,
      guardKey: row.staged_key,
    })),
    ...spanRows.map((row) => ({
      first: row.first_seq,
      last: row.last_seq,
      size: row.size,
      key: row.staged_key,
      md5: row.md5,
      span: true,
      guardKey: null,
    })),
  ]
    .filter((segment) => segment.last <= horizon)
    .sort((a, b) => a.first - b.first);
  const run: Segment[] = [];
  let expected = fromSeq;
  for (const segment of segments) {
    if (segment.first !== expected || run.length === limit) {
      return { run, truncated: run.length === limit };
    }
    run.push(segment);
    expected = segment.last + 1;
  }
  return { run, truncated: Number.isFinite(horizon) };
}

type SpanRow = { first_seq: number; last_seq: number; size: number; md5: string; staged_key: string };

export type StreamCursor = { nextChunk: number; offset: number; nextPart: number; committedBytes: number };

/**
 * The commit's first statement: ?1 upload, ?2 lease, ?3 commit id, ?4 the chunks read as JSON
 * `[[seq, stagedKey], ...]`. CROSS JOIN keeps the JSON list as the outer loop, so each chunk is
 * one primary-key lookup; with a plain JOIN SQLite scanned every chunk row of the upload for each
 * commit (440,000 rows read per commit of a 4,096-chunk stream, growing with the stream).
 */
export const COMMIT_GUARD_SQL = `UPDATE uploads SET lease_id = ?3 WHERE upload_id = ?1 AND lease_id = ?2
  AND (SELECT count(*) FROM json_each(?4) j CROSS JOIN chunks c ON c.upload_id = ?1
         AND c.seq = json_extract(j.value, '$[0]') AND c.merged = 0
         AND c.staged_key IS json_extract(j.value, '$[1]')) = json_array_length(?4)`;

/**
 * A commit holds only while the lease is ours and every chunk it read still has the copy it
 * read (a re-send may have switched one meanwhile). The first statement checks that once and,
 * if it holds, swaps the lease id for a commit id that the rest of the batch requires; the last
 * statement swaps it back, and its change count tells whether the commit took.
 */
function guardedCommit(
  db: D1Database,
  uploadId: string,
  leaseId: string,
  read: Segment[],
  work: (held: string, commitId: string) => D1PreparedStatement[],
  finish: (commitId: string) => D1PreparedStatement,
): D1PreparedStatement[] {
  const commitId = `${leaseId}:commit`;
  const guard = JSON.stringify(
    read.filter((segment) => !segment.span).map((segment) => [segment.first, segment.guardKey]),
  );
  return [
    db.prepare(COMMIT_GUARD_SQL).bind(uploadId, leaseId, commitId, guard),
    ...work(`EXISTS (SELECT 1 FROM uploads WHERE upload_id = ?1 AND lease_id = ?2)`, commitId),
    finish(commitId),
  ];
}

/**
 * Records one coalesced part and moves the cursor, all or nothing (see guardedCommit): a
 * coalescer that lost its lease, or read a chunk that changed since, writes nothing. The last
 * statement's change count tells whether the commit took.
 */
export function commitPartStatements(
  db: D1Database,
  commit: {
    uploadId: string;
    leaseId: string;
    /** Null when the cursor only moves past empty chunks (a stream ended by an empty final chunk). */
    part: { number: number; etag: string; size: number } | null;
    /** The segments the part was written from. */
    read: Segment[];
    touchedChunks: { from: number; through: number };
    cursor: StreamCursor;
    expectedParts: number | null;
    now: number;
  },
): D1PreparedStatement[] {
  const { uploadId, leaseId, part, touchedChunks, cursor, now } = commit;
  return guardedCommit(
    db,
    uploadId,
    leaseId,
    commit.read,
    (held, commitId) => [
      ...(part === null
        ? []
        : [
            db
              .prepare(
                `INSERT INTO parts (upload_id, part_number, etag, size, seq, uploaded_at, recorded_at)
                 SELECT ?1, ?3, ?4, ?5, ?3, ?6, ?6 WHERE ${held}
                 ON CONFLICT (upload_id, part_number) DO UPDATE SET etag = excluded.etag, size = excluded.size,
                   uploaded_at = excluded.uploaded_at, recorded_at = excluded.recorded_at`,
              )
              .bind(uploadId, commitId, part.number, part.etag, part.size, now),
          ]),
      // A chunk with any byte in a part can no longer be replaced: it is "coalesced" (merged ones already are).
      db
        .prepare(
          `UPDATE chunks SET state = 'coalesced'
           WHERE upload_id = ?1 AND seq BETWEEN ?3 AND ?4 AND merged = 0 AND state = 'staged' AND ${held}`,
        )
        .bind(uploadId, commitId, touchedChunks.from, touchedChunks.through),
      // Spans wholly in parts are done with.
      db
        .prepare(`DELETE FROM chunk_spans WHERE upload_id = ?1 AND first_seq < ?3 AND last_seq < ?3 AND ${held}`)
        .bind(uploadId, commitId, cursor.nextChunk),
    ],
    (commitId) =>
      db
        .prepare(
          `UPDATE uploads SET lease_id = ?9, next_chunk = ?3, next_chunk_offset = ?4, next_part = ?5, committed_bytes = ?6,
             expected_parts = coalesce(?7, expected_parts), updated_at = ?8
           WHERE upload_id = ?1 AND lease_id = ?2`,
        )
        .bind(
          uploadId,
          commitId,
          cursor.nextChunk,
          cursor.offset,
          cursor.nextPart,
          cursor.committedBytes,
          commit.expectedParts,
          now,
          leaseId,
        ),
  );
}

/**
 * Records a span: contiguous segments copied into one staged object, which stands in for them
 * from now on (see guardedCommit). Their chunks become unchangeable, spans inside it are
 * replaced by it. The last statement's change count tells whether the commit took.
 */
export function commitSpanStatements(
  db: D1Database,
  commit: {
    uploadId: string;
    leaseId: string;
    span: { first: number; last: number; size: number; key: string; md5: string };
    read: Segment[];
    now: number;
  },
): D1PreparedStatement[] {
  const { uploadId, leaseId, span, now } = commit;
  return guardedCommit(
    db,
    uploadId,
    leaseId,
    commit.read,
    (held, commitId) => [
      db
        .prepare(`DELETE FROM chunk_spans WHERE upload_id = ?1 AND first_seq BETWEEN ?3 AND ?4 AND ${held}`)
        .bind(uploadId, commitId, span.first, span.last),
      db
        .prepare(
          `INSERT INTO chunk_spans (upload_id, first_seq, last_seq, size, staged_key, md5)
           SELECT ?1, ?3, ?4, ?5, ?6, ?7 WHERE ${held}`,
        )
        .bind(uploadId, commitId, span.first, span.last, span.size, span.key, span.md5),
      db
        .prepare(
          `UPDATE chunks SET state = 'coalesced', merged = 1
           WHERE upload_id = ?1 AND seq BETWEEN ?3 AND ?4 AND merged = 0 AND ${held}`,
        )
        .bind(uploadId, commitId, span.first, span.last),
    ],
    (commitId) =>
      db
        .prepare("UPDATE uploads SET lease_id = ?3, updated_at = ?4 WHERE upload_id = ?1 AND lease_id = ?2")
        .bind(uploadId, commitId, leaseId, now),
  );
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

/**
 * A stream held by its Durable Object (chunk_store 'object') wrote its last part: D1 keeps what
 * the status reports of its chunks once the object has forgotten them.
 */
export async function recordStreamEnd(
  db: D1Database,
  uploadId: string,
  finalChunk: number,
  committedBytes: number,
): Promise<void> {
  await db
    .prepare(
      `UPDATE uploads SET final_chunk = ?2, next_chunk = ?2 + 1, next_chunk_offset = 0, committed_bytes = ?3
       WHERE upload_id = ?1 AND chunk_store = 'object'`,
    )
    .bind(uploadId, finalChunk, committedBytes)
    .run();
}

/**
 * Moves an open stream's activity clock (its object tells D1 once per half stale window, not per
 * chunk); false when the upload is no longer open, so the stream must take nothing more.
 */
export async function touchOpenStream(db: D1Database, uploadId: string, now: number): Promise<boolean> {
  const row = await db
    .prepare(`UPDATE uploads SET ${activityClock("?2")} WHERE upload_id = ?1 AND state = 'open' RETURNING upload_id`)
    .bind(uploadId, now)
    .first();
  return row !== null;
}
