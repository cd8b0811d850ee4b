import type { UploadState } from "../schemas";
import { acceptsParts, activityClock, claimable, readyToComplete } from "./fragments";
import { insertTusStatement, type NewTusUpload } from "./tus";

export type UploadRow = {
  /** Our own id (22 characters): every route, event, token and the CLI use it. */
  upload_id: string;
  /** R2's multipart upload id: only ever passed to `resumeMultipartUpload`. */
  r2_upload_id: string;
  object_key: string;
  /** How it was opened; "tus" is read from tus_uploads (the column itself holds "native"). */
  api: "native" | "compat" | "tus";
  state: UploadState;
  part_size: number | null;
  expected_parts: number | null;
  content_type: string | null;
  custom_metadata: string | null;
  stale_after_seconds: number;
  created_at: number;
  updated_at: number;
  last_activity_at: number;
  expires_at: number;
  claim_id: string | null;
  claimed_at: number | null;
  complete_attempts: number;
  completed_at: number | null;
  object_etag: string | null;
  object_size: number | null;
  failure_reason: string | null;
  abort_reason: string | null;
  r2_abort_pending: number;
  part_seq: number;
  mode: "parts" | "stream";
  final_chunk: number | null;
  next_chunk: number;
  next_chunk_offset: number;
  next_part: number;
  committed_bytes: number;
  lease_id: string | null;
  lease_until: number | null;
  sha256: string | null;
  owner: string | null;
  /** R2 part numbers per part: 2 (copies alternate between 2n-1 and 2n), or 1 for older uploads. */
  part_slots: number;
  /** Where a stream keeps its chunks until they are in a part (migration 0010); 'd1' for parts. */
  chunk_store: "d1" | "object";
  /** When it became completed, aborted or failed (a trigger stamps it, migration 0011); null while live. */
  ended_at: number | null;
  /** 1 once retention deleted its parts, chunks and spans (shared/db/retention.ts). */
  details_pruned: number;
};

export type NewUpload = {
  uploadId: string;
  r2UploadId: string;
  key: string;
  api: UploadRow["api"];
  partSize: number | null;
  expectedParts: number | null;
  contentType: string | null;
  metadata: Record<string, string> | null;
  staleAfterSeconds: number;
  mode: UploadRow["mode"];
  sha256: string | null;
  now: number;
  /** Who opened it (an API key's id, or "anonymous"); null: counts against no one. */
  owner?: string | null;
  /** Insert only while the owner has fewer open uploads of this mode than this. */
  openLimit?: number | null;
  /** A tus upload: its row in tus_uploads is written in the same transaction. */
  tus?: NewTusUpload;
  /** A stream's chunk store; parts uploads leave it out. */
  chunkStore?: UploadRow["chunk_store"];
};

/** What counts against a key's limit: its uploads that are open or being completed, of one mode. */
const openByOwner = (owner: string, mode: string) => `SELECT count(*) FROM uploads o
  WHERE o.owner = ${owner} AND o.mode = ${mode} AND o.state IN ('open', 'completing')`;

/**
 * Registers an upload. With an owner and a limit, the count and the insert are one statement,
 * so concurrent creates cannot overshoot the limit; false when the limit refused it.
 */
export async function insertUpload(db: D1Database, upload: NewUpload): Promise<boolean> {
  const insert = db
    .prepare(
      `INSERT INTO uploads (upload_id, object_key, api, state, part_size, expected_parts, content_type,
         custom_metadata, stale_after_seconds, created_at, updated_at, last_activity_at, expires_at, mode, sha256,
         r2_upload_id, owner, part_slots, chunk_store)
       SELECT ?1, ?2, ?3, 'open', ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9, ?9 + ?8 * 1000, ?10, ?11, ?12, ?13,
         CASE ?10 WHEN 'parts' THEN 2 ELSE 1 END, ?15
       WHERE ?14 IS NULL OR ?13 IS NULL OR (${openByOwner("?13", "?10")}) < ?14`,
    )
    .bind(
      upload.uploadId,
      upload.key,
      // The column's CHECK predates tus; a tus upload is told apart by its tus_uploads row.
      upload.api === "tus" ? "native" : upload.api,
      upload.partSize,
      upload.expectedParts,
      upload.contentType,
      upload.metadata === null ? null : JSON.stringify(upload.metadata),
      upload.staleAfterSeconds,
      upload.now,
      upload.mode,
      upload.sha256,
      upload.r2UploadId,
      upload.owner ?? null,
      upload.openLimit ?? null,
      upload.chunkStore ?? "d1",
    );
  if (upload.tus === undefined) return (await insert.run()).meta.changes > 0;
  // One transaction: the tus row is written only where the upload row was.
  const [inserted] = await db.batch([insert, insertTusStatement(db, upload.uploadId, upload.tus)]);
  return (inserted?.meta.changes ?? 0) > 0;
}

/** How many uploads of this mode the owner has open or being completed. */
export async function countOpenUploads(db: D1Database, owner: string, mode: UploadRow["mode"]): Promise<number> {
  const row = await db
    .prepare(`SELECT (${openByOwner("?1", "?2")}) AS n`)
    .bind(owner, mode)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

export async function getUpload(db: D1Database, uploadId: string): Promise<UploadRow | null> {
  // A tus upload reports "tus" as its API: uploads.api predates tus and its CHECK cannot change.
  return db
    .prepare(
      `SELECT u.*, CASE WHEN t.upload_id IS NULL THEN u.api ELSE 'tus' END AS api
       FROM uploads u LEFT JOIN tus_uploads t ON t.upload_id = u.upload_id WHERE u.upload_id = ?1`,
    )
    .bind(uploadId)
    .first<UploadRow>();
}

/**
 * Moves the upload's part sequence without recording a part: for bytes R2 accepted that must
 * not be counted (a part whose digest did not match). R2 now holds them in place of any older
 * copy of that part number, so the upload is not ready again until the part is sent anew. A
 * part that is recorded gets its sequence from `recordIngestedPart` (shared/db/parts.ts).
 * Null when the upload ended while the part was in flight.
 */
export async function nextPartSequence(db: D1Database, uploadId: string, now: number): Promise<number | null> {
  const row = await db
    .prepare(
      `UPDATE uploads SET part_seq = part_seq + 1, ${activityClock("?2")}
       WHERE upload_id = ?1 AND ${acceptsParts("uploads")} RETURNING part_seq`,
    )
    .bind(uploadId, now)
    .first<{ part_seq: number }>();
  return row?.part_seq ?? null;
}

/** Fixes the part count of an upload created without one. Returns the row as it now is. */
export async function fixExpectedParts(
  db: D1Database,
  uploadId: string,
  parts: number,
  now: number,
): Promise<UploadRow | null> {
  return db
    .prepare(
      `UPDATE uploads SET expected_parts = ?2, updated_at = ?3
       WHERE upload_id = ?1 AND expected_parts IS NULL RETURNING *`,
    )
    .bind(uploadId, parts, now)
    .first<UploadRow>();
}

/** Moves an open upload to `aborted`, leaving the R2 abort pending. Null when it was not open. */
export async function markAborted(
  db: D1Database,
  uploadId: string,
  reason: string,
  now: number,
): Promise<UploadRow | null> {
  return db
    .prepare(
      `UPDATE uploads SET state = 'aborted', abort_reason = ?2, r2_abort_pending = 1, updated_at = ?3
       WHERE upload_id = ?1 AND state = 'open' RETURNING *`,
    )
    .bind(uploadId, reason, now)
    .first<UploadRow>();
}

export function confirmR2AbortsStatement(db: D1Database, uploadIds: string[]): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE uploads SET r2_abort_pending = 0
       WHERE upload_id IN (SELECT value FROM json_each(?1))`,
    )
    .bind(JSON.stringify(uploadIds));
}

export type StaleUpload = Pick<UploadRow, "upload_id" | "object_key" | "last_activity_at" | "created_at">;

/** Claims up to `limit` open uploads whose stale window has passed, marking them aborted. */
export async function claimStaleUploads(db: D1Database, now: number, limit: number): Promise<StaleUpload[]> {
  const { results } = await db
    .prepare(
      `UPDATE uploads SET state = 'aborted', abort_reason = 'stale', r2_abort_pending = 1, updated_at = ?1
       WHERE upload_id IN (
         SELECT upload_id FROM uploads WHERE state = 'open' AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2
       ) AND state = 'open'
       RETURNING upload_id, object_key, last_activity_at, created_at`,
    )
    .bind(now, limit)
    .all<StaleUpload>();
  return results;
}

/** Uploads whose R2 side still needs cleaning up: an abort that failed, or staged chunks left. */
export async function listPendingR2Aborts(
  db: D1Database,
  limit: number,
): Promise<Pick<UploadRow, "upload_id" | "r2_upload_id" | "object_key" | "mode" | "state">[]> {
  const { results } = await db
    .prepare(
      `SELECT upload_id, r2_upload_id, object_key, mode, state FROM uploads
       WHERE r2_abort_pending = 1 ORDER BY updated_at LIMIT ?1`,
    )
    .bind(limit)
    .all<Pick<UploadRow, "upload_id" | "r2_upload_id" | "object_key" | "mode" | "state">>();
  return results;
}

/**
 * Uploads that should be completed but are not being: ready ones that the claim would take,
 * either open (their trigger was lost) or held by a claim whose lease ran out (its invocation
 * died). The same two rules as the claim itself, so everything listed can be claimed.
 */
export async function listStalledCompletions(db: D1Database, leaseCutoff: number, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare(`SELECT upload_id FROM uploads u WHERE ${claimable("u", "?1")} AND ${readyToComplete("u")} LIMIT ?2`)
    .bind(leaseCutoff, limit)
    .all<{ upload_id: string }>();
  return results.map((row) => row.upload_id);
}

/**
 * Counts `now` as activity on an open upload: for bytes that reached the upload without
 * becoming a part yet (a tus tail), so the sweep does not take an upload that is being written.
 */
export async function touchUpload(db: D1Database, uploadId: string, now: number): Promise<void> {
  await db
    .prepare(`UPDATE uploads SET ${activityClock("?2")} WHERE upload_id = ?1 AND state = 'open'`)
    .bind(uploadId, now)
    .run();
}

/** An upload's object key for a log line on an error path: null when it cannot be read either. */
export async function objectKeyOf(db: D1Database, uploadId: string): Promise<string | null> {
  try {
    const row = await db
      .prepare("SELECT object_key FROM uploads WHERE upload_id = ?1")
      .bind(uploadId)
      .first<{ object_key: string }>();
    return row?.object_key ?? null;
  } catch {
    return null;
  }
}
