import type { PartRow } from "./db/parts";
import type { UploadRow } from "./db/uploads";
import { errorMessage, R2Code, r2ErrorCode } from "./r2-errors";
import { announce, notificationFor } from "./notifications";
import { deleteStaging } from "./staging";

/** An upload this invocation owns the completion of, with the parts it will complete with. */
export type Claim = { upload: UploadRow; parts: PartRow[] };

export type CompletionOutcome =
  | { kind: "completed"; etag: string; size: number }
  | { kind: "failed"; reason: string; r2UploadGone?: boolean }
  | { kind: "retry"; reason: string };

export type CompletionPolicy = {
  maxAttempts: number;
  /** Where to announce uploads that ended (completed or failed); none: no announcement. */
  events?: Queue;
};

/**
 * Statements that atomically claim every listed upload that is ready to complete, then read back
 * what was claimed. Ready means: open (or held by a claim whose lease ran out), every expected
 * part recorded, and the event of the last part R2 accepted recorded too — otherwise a newer
 * copy of some part is still on its way and completing now would use an etag R2 replaced. Run them inside one `db.batch` so the claim and the reads are one transaction;
 * pass the last two results to `readClaims`. Exactly one claimant can win an upload, however
 * many batches, duplicate deliveries or explicit completes race for it.
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
        `UPDATE uploads SET state = 'completing', claim_id = ?2, claimed_at = ?3, updated_at = ?3,
           complete_attempts = complete_attempts + 1
         WHERE upload_id IN (SELECT value FROM json_each(?1))
           AND (state = 'open' OR (state = 'completing' AND claimed_at <= ?4))
           AND expected_parts IS NOT NULL
           AND expected_parts = (SELECT count(*) FROM parts p
                                 WHERE p.upload_id = uploads.upload_id AND p.part_number <= uploads.expected_parts)
           AND part_seq <= (SELECT coalesce(max(p.seq), 0) FROM parts p WHERE p.upload_id = uploads.upload_id)`,
      )
      .bind(JSON.stringify(uploadIds), claimId, now, leaseCutoff),
    db.prepare("SELECT * FROM uploads WHERE claim_id = ?1").bind(claimId),
    db
      .prepare(
        `SELECT p.upload_id, p.part_number, p.etag, p.size, p.uploaded_at
         FROM parts p JOIN uploads u ON u.upload_id = p.upload_id
         WHERE u.claim_id = ?1 AND p.part_number <= u.expected_parts
         ORDER BY p.upload_id, p.part_number`,
      )
      .bind(claimId),
  ];
}

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
export async function claimReady(
  db: D1Database,
  uploadIds: string[],
  now: number,
  leaseCutoff: number,
): Promise<Claim[]> {
  const results = await db.batch(claimStatements(db, uploadIds, crypto.randomUUID(), now, leaseCutoff));
  const [, uploads, parts] = results;
  if (uploads === undefined || parts === undefined) throw new Error("D1 batch returned too few results");
  return readClaims(uploads, parts);
}

/**
 * Completes claimed uploads in R2 and records every outcome in one D1 batch. A permanent
 * refusal fails the upload and aborts its R2 upload; anything else releases the claim so a
 * later attempt can try again, until the attempts run out.
 */
export async function finishClaims(
  db: D1Database,
  bucket: R2Bucket,
  claims: Claim[],
  policy: CompletionPolicy,
  now: () => number = Date.now,
): Promise<Map<string, CompletionOutcome>> {
  const outcomes = new Map<string, CompletionOutcome>();
  const settled = await Promise.all(
    claims.map(async (claim) => {
      const outcome = await verifyDeclaredDigest(bucket, claim.upload, await completeInR2(bucket, claim, policy));
      // A finished stream's staging area goes now; what cannot be deleted is left to the cron.
      const stagingLeft =
        claim.upload.mode === "stream" && outcome.kind !== "retry" && !(await deleteStagingQuietly(bucket, claim.upload));
      return { claim, outcome, stagingLeft };
    }),
  );

  const statements: D1PreparedStatement[] = [];
  for (const { claim, outcome, stagingLeft } of settled) {
    outcomes.set(claim.upload.upload_id, outcome);
    statements.push(await recordOutcome(db, bucket, claim.upload, outcome, stagingLeft, now()));
  }
  if (statements.length > 0) await db.batch(statements);
  if (policy.events !== undefined) {
    const ended = settled.flatMap(({ claim, outcome }) =>
      outcome.kind === "retry"
        ? []
        : [
            notificationFor(
              {
                ...claim.upload,
                outcome: outcome.kind,
                object: outcome.kind === "completed" ? { etag: outcome.etag, size: outcome.size } : null,
                reason: outcome.kind === "failed" ? outcome.reason : null,
              },
              now(),
            ),
          ],
    );
    await announce(policy.events, ended);
  }
  return outcomes;
}

async function completeInR2(bucket: R2Bucket, { upload, parts }: Claim, policy: CompletionPolicy) {
  const sorted = [...parts].sort((a, b) => a.part_number - b.part_number);
  try {
    const object = await bucket
      .resumeMultipartUpload(upload.object_key, upload.upload_id)
      .complete(sorted.map((part) => ({ partNumber: part.part_number, etag: part.etag })));
    return { kind: "completed", etag: object.etag, size: object.size } satisfies CompletionOutcome;
  } catch (error) {
    return classifyFailure(bucket, upload, sorted, error, policy);
  }
}

async function classifyFailure(
  bucket: R2Bucket,
  upload: UploadRow,
  parts: PartRow[],
  error: unknown,
  policy: CompletionPolicy,
): Promise<CompletionOutcome> {
  const code = r2ErrorCode(error);
  const message = errorMessage(error);
  switch (code) {
    case R2Code.entityTooSmall:
      return { kind: "failed", reason: `R2 refused the parts: a part other than the last is under 5 MiB (${message})` };
    case R2Code.invalidMultipart:
      return {
        kind: "failed",
        reason: `R2 refused the parts: parts other than the last must all have one size and the last may not be larger (${message})`,
      };
    case R2Code.noSuchUpload:
      return (await finishedEarlier(bucket, upload, parts)) ?? {
        kind: "failed",
        reason: `the R2 multipart upload no longer exists (${message})`,
        r2UploadGone: true,
      };
    case R2Code.invalidPart: {
      // R2 does not have the etag D1 recorded for some part. A copy of a part that R2 accepted
      // while this completion was being claimed produces this, and its event makes the next
      // attempt succeed; if it keeps happening, the recorded etag will never be R2's.
      const reason = `R2 does not hold one of the recorded parts after ${upload.complete_attempts} attempts (${message})`;
      return upload.complete_attempts >= policy.maxAttempts ? { kind: "failed", reason } : { kind: "retry", reason };
    }
    default:
      // Anything else is R2 or the network having a bad moment: never a reason to fail the upload.
      return { kind: "retry", reason: `completion attempt ${upload.complete_attempts} failed: ${message}` };
  }
}

/**
 * For an upload that declared the object's SHA-256, reads the finished object once and checks
 * it. A mismatch fails the upload and deletes the object, so nothing is left looking valid; a
 * read that fails is retried (the next attempt finds the object and checks again).
 */
async function verifyDeclaredDigest(
  bucket: R2Bucket,
  upload: UploadRow,
  outcome: CompletionOutcome,
): Promise<CompletionOutcome> {
  if (outcome.kind !== "completed" || upload.sha256 === null) return outcome;
  let actual: string;
  try {
    const object = await bucket.get(upload.object_key, { onlyIf: { etagMatches: outcome.etag } });
    if (object === null || !("body" in object)) return { kind: "retry", reason: "the object changed while being verified" };
    const digest = new crypto.DigestStream("SHA-256");
    await object.body.pipeTo(digest);
    actual = btoa(String.fromCharCode(...new Uint8Array(await digest.digest)));
  } catch (error) {
    return { kind: "retry", reason: `could not read the object to verify it: ${errorMessage(error)}` };
  }
  if (actual === upload.sha256) return outcome;
  await bucket.delete(upload.object_key);
  return {
    kind: "failed",
    reason: `the object's SHA-256 is ${actual}, not the declared ${upload.sha256}; the object was deleted`,
    r2UploadGone: true,
  };
}

/**
 * R2 forgets a multipart upload once it is completed. If an earlier attempt completed it and
 * died before recording that, the object is there: recognise it by its size and age.
 */
async function finishedEarlier(
  bucket: R2Bucket,
  upload: UploadRow,
  parts: PartRow[],
): Promise<CompletionOutcome | null> {
  const object = await bucket.head(upload.object_key);
  if (object === null) return null;
  const expectedSize = parts.reduce((sum, part) => sum + part.size, 0);
  const clockSkewMs = 5 * 60 * 1000;
  if (object.size !== expectedSize || object.uploaded.getTime() < upload.created_at - clockSkewMs) return null;
  return { kind: "completed", etag: object.etag, size: object.size };
}

async function recordOutcome(
  db: D1Database,
  bucket: R2Bucket,
  upload: UploadRow,
  outcome: CompletionOutcome,
  stagingLeft: boolean,
  now: number,
): Promise<D1PreparedStatement> {
  const claim = { uploadId: upload.upload_id, claimId: upload.claim_id ?? "" };
  switch (outcome.kind) {
    case "completed":
      return recordCompletedStatement(db, claim, outcome, now, stagingLeft);
    case "failed": {
      const aborted = !stagingLeft && (outcome.r2UploadGone === true || (await abortQuietly(bucket, upload)));
      return db
        .prepare(
          `UPDATE uploads SET state = 'failed', failure_reason = ?3, r2_abort_pending = ?4, updated_at = ?5,
             claim_id = NULL
           WHERE upload_id = ?1 AND claim_id = ?2`,
        )
        .bind(claim.uploadId, claim.claimId, outcome.reason, aborted ? 0 : 1, now);
    }
    case "retry":
      return releaseClaimStatement(db, claim, now);
  }
}

type ClaimRef = { uploadId: string; claimId: string };

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

/** Hands a claimed upload back to `open` so that a later attempt can claim it again. */
export function releaseClaimStatement(db: D1Database, { uploadId, claimId }: ClaimRef, now: number): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE uploads SET state = 'open', claim_id = NULL, claimed_at = NULL, updated_at = ?3
       WHERE upload_id = ?1 AND claim_id = ?2`,
    )
    .bind(uploadId, claimId, now);
}

/**
 * Aborts an R2 upload and deletes what a stream staged; false when R2 could not be reached (the
 * cron retries pending clean-ups). Aborting an upload R2 no longer knows counts as done.
 */
export async function abortQuietly(
  bucket: R2Bucket,
  upload: Pick<UploadRow, "object_key" | "upload_id" | "mode"> & { state?: UploadRow["state"] },
): Promise<boolean> {
  try {
    // A completed upload has nothing left to abort, only staged chunks to delete.
    if (upload.state !== "completed") await bucket.resumeMultipartUpload(upload.object_key, upload.upload_id).abort();
  } catch (error) {
    if (r2ErrorCode(error) !== R2Code.noSuchUpload) {
      console.warn(JSON.stringify({ event: "r2_abort_failed", uploadId: upload.upload_id, error: errorMessage(error) }));
      return false;
    }
  }
  return upload.mode !== "stream" || deleteStagingQuietly(bucket, upload);
}

async function deleteStagingQuietly(bucket: R2Bucket, upload: Pick<UploadRow, "upload_id">): Promise<boolean> {
  try {
    return await deleteStaging(bucket, upload.upload_id);
  } catch (error) {
    console.warn(JSON.stringify({ event: "staging_delete_failed", uploadId: upload.upload_id, error: errorMessage(error) }));
    return false;
  }
}
