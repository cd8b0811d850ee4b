import { confirmR2AbortsStatement, getUpload, markAborted, type UploadRow } from "./db/uploads";
import { type MetricsBindings, recordAborted } from "./metrics";
import { announce, notificationFor } from "./notifications";
import { errorMessage, R2Code, r2ErrorCode } from "./r2-errors";
import { deleteStagingQuietly } from "./staging";

/**
 * Aborts an open upload: D1 first, so no completion can start from here on, then R2. An R2
 * abort that fails stays pending in D1 and the cron retries it. Returns the upload as it ends
 * up, or null when it does not exist.
 */
export async function abortUpload(
  bindings: { DB: D1Database; BUCKET: R2Bucket; UPLOAD_EVENTS: Queue } & MetricsBindings,
  uploadId: string,
  reason: string,
  now: number,
): Promise<UploadRow | null> {
  const { DB: db, BUCKET: bucket } = bindings;
  const claimed = await markAborted(db, uploadId, reason, now);
  if (claimed === null) return getUpload(db, uploadId);
  recordAborted(bindings, claimed, reason, now);
  await announce(bindings.UPLOAD_EVENTS, [notificationFor({ ...claimed, outcome: "aborted", reason }, now)]);
  if (await abortQuietly(bucket, claimed)) {
    await confirmR2AbortsStatement(db, [uploadId]).run();
    return { ...claimed, r2_abort_pending: 0 };
  }
  return claimed;
}

/**
 * Aborts an R2 upload and deletes what a stream staged; false when R2 could not be reached (the
 * cron retries pending clean-ups). Aborting an upload R2 no longer knows counts as done.
 */
export async function abortQuietly(
  bucket: R2Bucket,
  upload: Pick<UploadRow, "object_key" | "upload_id" | "r2_upload_id" | "mode"> & { state?: UploadRow["state"] },
): Promise<boolean> {
  try {
    // A completed upload has nothing left to abort, only staged chunks to delete.
    if (upload.state !== "completed")
      await bucket.resumeMultipartUpload(upload.object_key, upload.r2_upload_id).abort();
  } catch (error) {
    if (r2ErrorCode(error) !== R2Code.noSuchUpload) {
      console.warn(
        JSON.stringify({
          event: "r2_abort_failed",
          uploadId: upload.upload_id,
          key: upload.object_key,
          code: "r2_unavailable",
          error: errorMessage(error),
        }),
      );
      return false;
    }
  }
  return upload.mode !== "stream" || deleteStagingQuietly(bucket, upload);
}
