import { claimable, readyToComplete } from "./fragments";
import type { PartRow } from "./parts";
import type { UploadRow } from "./uploads";

/** An upload this invocation owns the completion of, with the parts it will complete with. */
export type Claim = { upload: UploadRow; parts: PartRow[] };

/** Names one claim: every outcome is written only while the claim is still the one in D1. */
export type ClaimRef = { uploadId: string; claimId: string };

/**
 * Statements that atomically claim every listed upload that is ready to complete (see
 * `readyToComplete`) and nobody else holds (see `claimable`), then read back what was claimed.
 * Run them inside one `db.batch` so the claim and the reads are one transaction, and pass the
 * last two results to `readClaims`. Exactly one claimant can win an upload, however many
 * batches, duplicate deliveries or explicit completes race for it. This is the only claim.
 */
export function claimStatements(
  db: D1Database,
  uploadIds: string[],
  claimId: string,
  now: number,
  leaseCutoff: number,
): D1PreparedStatement[] {
  return [
    db
      .prepare(
        // The listed ids drive the lookup (CROSS JOIN fixes json_each as the outer loop): with
        // the state test in the UPDATE's own WHERE, SQLite's planner chose the state index and
        // read every open upload, so each claim cost rows in proportion to the uploads in flight.
        `UPDATE uploads SET state = 'completing', claim_id = ?2, claimed_at = ?3, updated_at = ?3,
           complete_attempts = complete_attempts + 1
         WHERE upload_id IN (
           SELECT u.upload_id FROM json_each(?1) j CROSS JOIN uploads u ON u.upload_id = j.value
           WHERE ${claimable("u", "?4")} AND ${readyToComplete("u")})`,
      )
      .bind(JSON.stringify(uploadIds), claimId, now, leaseCutoff),
    // A tus upload reads as "tus", as getUpload has it (uploads.api predates tus).
    db
      .prepare(
        `SELECT u.*, CASE WHEN t.upload_id IS NULL THEN u.api ELSE 'tus' END AS api
         FROM uploads u LEFT JOIN tus_uploads t ON t.upload_id = u.upload_id WHERE u.claim_id = ?1`,
      )
      .bind(claimId),
    db
      .prepare(
        `SELECT p.upload_id, p.part_number, p.etag, p.size, p.uploaded_at, p.r2_part
         FROM parts p JOIN uploads u ON u.upload_id = p.upload_id
         WHERE u.claim_id = ?1 AND p.part_number <= u.expected_parts
         ORDER BY p.upload_id, p.part_number`,
      )
      .bind(claimId),
  ];
}

/** Row mapper for the two reads of `claimStatements`: each claimed upload with its parts. */
export function readClaims(uploads: D1Result, parts: D1Result): Claim[] {
  const partsByUpload = new Map<string, PartRow[]>();
  for (const part of parts.results as PartRow[]) {
    const list = partsByUpload.get(part.upload_id) ?? [];
    list.push(part);
    partsByUpload.set(part.upload_id, list);
  }
  return (uploads.results as UploadRow[]).map((upload) => ({
    upload,
    parts: partsByUpload.get(upload.upload_id) ?? [],
  }));
}

/** Claims and reads in one round trip; for callers with nothing else to batch. */
export async function claimUploads(
  db: D1Database,
  uploadIds: string[],
  now: number,
  leaseCutoff: number,
): Promise<Claim[]> {
  const [, uploads, parts] = await db.batch(claimStatements(db, uploadIds, crypto.randomUUID(), now, leaseCutoff));
  if (uploads === undefined || parts === undefined) throw new Error("D1 batch returned too few results");
  return readClaims(uploads, parts);
}

export function claimRef(upload: Pick<UploadRow, "upload_id" | "claim_id">): ClaimRef {
  return { uploadId: upload.upload_id, claimId: upload.claim_id ?? "" };
}

/** The claimed upload is complete in R2; staging left behind is cleaned up by the cron. */
export function recordCompletedStatement(
  db: D1Database,
  { uploadId, claimId }: ClaimRef,
  object: { etag: string; size: number },
  now: number,
  cleanupPending = false,
): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE uploads SET state = 'completed', object_etag = ?3, object_size = ?4, completed_at = ?5,
         updated_at = ?5, claim_id = NULL, r2_abort_pending = ?6
       WHERE upload_id = ?1 AND claim_id = ?2`,
    )
    .bind(uploadId, claimId, object.etag, object.size, now, cleanupPending ? 1 : 0);
}

/** The claimed upload can never complete; an R2 clean-up that did not go through stays pending. */
export function recordFailedStatement(
  db: D1Database,
  { uploadId, claimId }: ClaimRef,
  reason: string,
  cleanupPending: boolean,
  now: number,
): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE uploads SET state = 'failed', failure_reason = ?3, r2_abort_pending = ?4, updated_at = ?5,
         claim_id = NULL
       WHERE upload_id = ?1 AND claim_id = ?2`,
    )
    .bind(uploadId, claimId, reason, cleanupPending ? 1 : 0, now);
}

/** Hands a claimed upload back to `open` so that a later attempt can claim it again. */
export function releaseClaimStatement(
  db: D1Database,
  { uploadId, claimId }: ClaimRef,
  now: number,
): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE uploads SET state = 'open', claim_id = NULL, claimed_at = NULL, updated_at = ?3
       WHERE upload_id = ?1 AND claim_id = ?2`,
    )
    .bind(uploadId, claimId, now);
}
