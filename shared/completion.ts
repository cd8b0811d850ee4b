import { abortQuietly } from "./abort";
import {
  type Claim,
  claimRef,
  claimUploads,
  recordCompletedStatement,
  recordFailedStatement,
  releaseClaimStatement,
} from "./db/claims";
import type { PartRow } from "./db/parts";
import { getUpload, type UploadRow } from "./db/uploads";
import { toBase64 } from "./encoding";
import { apiOf, type MetricsBindings, recordUpload } from "./metrics";
import { announce, notificationFor } from "./notifications";
import { errorMessage, R2Code, r2ErrorCode } from "./r2-errors";
import { deleteStagingQuietly } from "./staging";

export type { Claim };

/**
 * `code` names the reason for machines (log searches, the failures-by-reason metric); `reason`
 * says it for people, with R2's own message.
 */
export type CompletionOutcome =
  | { kind: "completed"; etag: string; size: number }
  | { kind: "failed"; code: FailureCode; reason: string; r2UploadGone?: boolean }
  | { kind: "retry"; code: RetryCode; reason: string };

export type FailureCode =
  | "part_too_small"
  | "part_sizes_unequal"
  | "r2_upload_gone"
  | "part_not_found"
  | "digest_mismatch";
export type RetryCode = "part_not_found" | "r2_unavailable" | "verify_failed";

/** An outcome as `finishClaims` reports it: with the object key, so that every log line has it. */
export type KeyedOutcome = CompletionOutcome & { key: string };

export type CompletionPolicy = {
  /** A claim older than this is taken to belong to an invocation that died, and is taken over. */
  leaseMs: number;
  /** Completion attempts that R2 answers "part not found" before the upload is marked failed. */
  maxAttempts: number;
};

/**
 * The one completion policy, for every path that completes: the consumer's tally, its cron,
 * stream coalescing and the producer's explicit complete. Transient errors never fail an
 * upload, whatever the attempts: they are retried by redelivery and by the cron.
 */
export const COMPLETION_POLICY: Readonly<CompletionPolicy> = { leaseMs: 120_000, maxAttempts: 5 };

/**
 * What completing touches: the bucket, the database, the queue that hears of ended uploads and,
 * if bound, the metrics dataset.
 */
export type CompletionBindings = { DB: D1Database; BUCKET: R2Bucket; UPLOAD_EVENTS: Queue } & MetricsBindings;

/** The oldest claim time still inside the lease at `now`. */
export function leaseCutoff(now: number): number {
  return now - COMPLETION_POLICY.leaseMs;
}

/** Claims whichever of the uploads are ready to complete and free to take, in one round trip. */
export function claimReady(db: D1Database, uploadIds: string[], now: number): Promise<Claim[]> {
  return claimUploads(db, uploadIds, now, leaseCutoff(now));
}

/**
 * Completes one upload now if it is ready and nobody else is completing it, and returns the
 * row afterwards: `completed` or `failed` when this call (or an earlier one) settled it, still
 * `open` or `completing` when parts are missing or another invocation holds the claim.
 */
export async function completeNow(bindings: CompletionBindings, uploadId: string, now: number): Promise<UploadRow> {
  const claims = await claimReady(bindings.DB, [uploadId], now);
  if (claims.length > 0) await finishClaims(bindings, claims);
  const row = await getUpload(bindings.DB, uploadId);
  if (row === null) throw new Error(`upload ${uploadId} does not exist`);
  return row;
}

/**
 * Completes claimed uploads in R2 and records every outcome in one D1 batch. A permanent
 * refusal fails the upload and aborts its R2 upload; anything else releases the claim so a
 * later attempt can try again, until the attempts run out.
 */
export async function finishClaims(
  bindings: CompletionBindings,
  claims: Claim[],
  now: () => number = Date.now,
): Promise<Map<string, KeyedOutcome>> {
  const { DB: db, BUCKET: bucket } = bindings;
  const outcomes = new Map<string, KeyedOutcome>();
  const settled = await Promise.all(
    claims.map(async (claim) => {
      const outcome = await verifyDeclaredDigest(bucket, claim.upload, await completeInR2(bucket, claim));
      // A finished stream's staging area goes now; what cannot be deleted is left to the cron.
      const stagingLeft =
        claim.upload.mode === "stream" &&
        outcome.kind !== "retry" &&
        !(await deleteStagingQuietly(bucket, claim.upload));
      return { claim, outcome, stagingLeft };
    }),
  );

  const statements: D1PreparedStatement[] = [];
  const recorded = settled.map((entry) => ({ ...entry, at: now() }));
  for (const { claim, outcome, stagingLeft, at } of recorded) {
    outcomes.set(claim.upload.upload_id, { ...outcome, key: claim.upload.object_key });
    statements.push(await recordOutcome(db, bucket, claim.upload, outcome, stagingLeft, at));
  }
  const results = statements.length > 0 ? await db.batch(statements) : [];
  // Counted only where this claim's outcome was the one recorded (an invocation that outlived
  // its lease records nothing), so each ended upload is counted once.
  recorded.forEach(({ claim, outcome, at }, i) => {
    if ((results[i]?.meta.changes ?? 0) > 0) recordEnding(bindings, claim, outcome, at);
  });
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
  await announce(bindings.UPLOAD_EVENTS, ended);
  return outcomes;
}

/** The data point of a completion or failure: bytes, last part to now, parts, age, attempts. */
function recordEnding(bindings: MetricsBindings, { upload, parts }: Claim, outcome: CompletionOutcome, now: number) {
  if (outcome.kind === "retry") return;
  const lastPart = parts.reduce((latest, part) => Math.max(latest, part.uploaded_at), upload.last_activity_at);
  recordUpload(
    bindings,
    { uploadId: upload.upload_id, key: upload.object_key },
    {
      event: outcome.kind,
      detail: outcome.kind === "completed" ? apiOf(upload) : outcome.code,
      bytes: outcome.kind === "completed" ? outcome.size : parts.reduce((sum, part) => sum + part.size, 0),
      ms: now - lastPart,
      parts: parts.length,
      ageMs: now - upload.created_at,
      attempts: upload.complete_attempts,
    },
  );
}

async function completeInR2(bucket: R2Bucket, { upload, parts }: Claim) {
  const sorted = [...parts].sort((a, b) => a.part_number - b.part_number);
  try {
    const object = await bucket
      .resumeMultipartUpload(upload.object_key, upload.r2_upload_id)
      .complete(sorted.map((part) => ({ partNumber: part.r2_part ?? part.part_number, etag: part.etag })));
    return { kind: "completed", etag: object.etag, size: object.size } satisfies CompletionOutcome;
  } catch (error) {
    return classifyFailure(bucket, upload, sorted, error);
  }
}

async function classifyFailure(
  bucket: R2Bucket,
  upload: UploadRow,
  parts: PartRow[],
  error: unknown,
): Promise<CompletionOutcome> {
  const code = r2ErrorCode(error);
  const message = errorMessage(error);
  switch (code) {
    case R2Code.entityTooSmall:
      return {
        kind: "failed",
        code: "part_too_small",
        reason: `R2 refused the parts: a part other than the last is under 5 MiB (${message})`,
      };
    case R2Code.invalidMultipart:
      return {
        kind: "failed",
        code: "part_sizes_unequal",
        reason: `R2 refused the parts: parts other than the last must all have one size and the last may not be larger (${message})`,
      };
    case R2Code.noSuchUpload:
      return (
        (await finishedEarlier(bucket, upload, parts)) ?? {
          kind: "failed",
          code: "r2_upload_gone",
          reason: `the R2 multipart upload no longer exists (${message})`,
          r2UploadGone: true,
        }
      );
    case R2Code.invalidPart: {
      // R2 does not have the etag D1 recorded for some part. A copy of a part that R2 accepted
      // while this completion was being claimed produces this, and its event makes the next
      // attempt succeed; if it keeps happening, the recorded etag will never be R2's.
      const reason = `R2 does not hold one of the recorded parts after ${upload.complete_attempts} attempts (${message})`;
      return upload.complete_attempts >= COMPLETION_POLICY.maxAttempts
        ? { kind: "failed", code: "part_not_found", reason }
        : { kind: "retry", code: "part_not_found", reason };
    }
    default:
      // Anything else is R2 or the network having a bad moment: never a reason to fail the upload.
      return {
        kind: "retry",
        code: "r2_unavailable",
        reason: `completion attempt ${upload.complete_attempts} failed: ${message}`,
      };
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
    if (object === null || !("body" in object))
      return { kind: "retry", code: "verify_failed", reason: "the object changed while being verified" };
    const digest = new crypto.DigestStream("SHA-256");
    await object.body.pipeTo(digest);
    actual = toBase64(await digest.digest);
  } catch (error) {
    return {
      kind: "retry",
      code: "verify_failed",
      reason: `could not read the object to verify it: ${errorMessage(error)}`,
    };
  }
  if (actual === upload.sha256) return outcome;
  await bucket.delete(upload.object_key);
  return {
    kind: "failed",
    code: "digest_mismatch",
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
  const claim = claimRef(upload);
  switch (outcome.kind) {
    case "completed":
      return recordCompletedStatement(db, claim, outcome, now, stagingLeft);
    case "failed": {
      const aborted = !stagingLeft && (outcome.r2UploadGone === true || (await abortQuietly(bucket, upload)));
      return recordFailedStatement(db, claim, outcome.reason, !aborted, now);
    }
    case "retry":
      return releaseClaimStatement(db, claim, now);
  }
}
