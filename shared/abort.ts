import { abortQuietly } from "./completion";
import { confirmR2AbortsStatement, getUpload, markAborted, type UploadRow } from "./db/uploads";
import { type MetricsBindings, recordAborted } from "./metrics";
import { announce, notificationFor } from "./notifications";

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
