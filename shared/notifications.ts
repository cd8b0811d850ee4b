import { z } from "zod";
import type { UploadRow } from "./db/uploads";
import { errorMessage } from "./r2-errors";

/**
 * What downstream systems are told when an upload ends. `id` is stable for one upload and
 * outcome, so a receiver can drop the duplicates that at-least-once delivery brings.
 */
export const UploadNotification = z
  .object({
    id: z.string(),
    type: z.enum(["upload.completed", "upload.aborted", "upload.failed"]),
    uploadId: z.string(),
    key: z.string(),
    object: z.object({ etag: z.string(), size: z.number().int() }).nullable(),
    reason: z.string().nullable(),
    occurredAt: z.iso.datetime(),
  })
  .meta({ id: "UploadNotification" });
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
export async function announce(queue: Queue, notifications: UploadNotification[]): Promise<void> {
  for (let start = 0; start < notifications.length; start += 100) {
    const batch = notifications.slice(start, start + 100);
    try {
      await queue.sendBatch(
        batch.map((notification) => ({ body: { type: "upload.ended", notification }, contentType: "json" as const })),
      );
    } catch (error) {
      console.error(
        JSON.stringify({ event: "announce_failed", ids: batch.map((n) => n.id), error: errorMessage(error) }),
      );
    }
  }
}
