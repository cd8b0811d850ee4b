import * as z from "zod/mini";
import type { UploadRow } from "./db/uploads";
import { errorMessage } from "./r2-errors";
import { STAGING_PREFIX } from "./schemas";

/** R2's ceiling for one multipart object: 10,000 parts of at most 5 GiB. */
const MAX_OBJECT_BYTES = 10_000 * 5 * 1024 ** 3;

/**
 * What downstream systems are told when an upload ends. `id` is stable for one upload and
 * outcome, so a receiver can drop the duplicates that at-least-once delivery brings.
 */
export const UploadNotification = z
  .object(
    {
      id: z.string("id must be a string"),
      type: z.enum(
        ["upload.completed", "upload.aborted", "upload.failed"],
        "type must be upload.completed, upload.aborted or upload.failed",
      ),
      uploadId: z.string("uploadId must be a string"),
      key: z.string("key must be a string"),
      object: z.nullable(
        z.object(
          {
            etag: z.string("object.etag must be a string"),
            size: z
              .int("object.size must be an integer")
              .check(
                z.minimum(0, "object.size must not be negative"),
                z.maximum(MAX_OBJECT_BYTES, `object.size must be at most ${MAX_OBJECT_BYTES} bytes`),
              ),
          },
          "object must be { etag, size } or null",
        ),
      ),
      reason: z.nullable(z.string("reason must be a string or null")),
      occurredAt: z.iso.datetime("occurredAt must be an ISO 8601 date-time"),
    },
    "a notification must be an object",
  )
  .register(z.globalRegistry, { id: "UploadNotification" });
export type UploadNotification = z.infer<typeof UploadNotification>;

type Ended = Pick<UploadRow, "upload_id" | "object_key"> & {
  outcome: "completed" | "aborted" | "failed";
  object?: { etag: string; size: number } | null;
  reason?: string | null;
};

export function notificationFor(ended: Ended, at: number): UploadNotification {
  return {
    id: `${ended.upload_id}:${ended.outcome}`,
    type: `upload.${ended.outcome}`,
    uploadId: ended.upload_id,
    key: ended.object_key,
    object: ended.object ?? null,
    reason: ended.reason ?? null,
    occurredAt: new Date(at).toISOString(),
  };
}

/**
 * Puts "upload ended" messages on the pipeline's queue, where the consumer fans them out to
 * the notification queue and the webhook. Best effort by design: an upload's completion or
 * abort never fails because its announcement could not be queued; that is logged instead.
 */
export async function announce(queue: Queue, ended: UploadNotification[]): Promise<void> {
  // Staged objects (a tus partial upload's bytes) are ours, not the user's: nothing to tell.
  const notifications = ended.filter((notification) => !notification.key.startsWith(STAGING_PREFIX));
  for (let start = 0; start < notifications.length; start += 100) {
    const batch = notifications.slice(start, start + 100);
    try {
      await queue.sendBatch(
        batch.map((notification) => ({ body: { type: "upload.ended", notification }, contentType: "json" as const })),
      );
    } catch (error) {
      console.error(
        JSON.stringify({
          event: "announce_failed",
          ids: batch.map((n) => n.id),
          uploadIds: batch.map((n) => n.uploadId),
          keys: batch.map((n) => n.key),
          code: "enqueue_failed",
          error: errorMessage(error),
        }),
      );
    }
  }
}
