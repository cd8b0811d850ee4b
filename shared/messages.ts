import * as z from "zod/mini";
import { UploadNotification } from "./notifications";
import { MAX_BYTES, R2_MAX_PARTS, UploadId } from "./schemas";

/**
 * The queue's messages: what the producer and the consumer send to the consumer. The consumer
 * validates every body against QueueMessage at runtime, and acks and counts what does not fit.
 */

const whole = (min: number, max: number, what: string) =>
  z.int().check(z.minimum(min, `${what} must be at least ${min}`), z.maximum(max, `${what} must be at most ${max}`));

/** The message the producer sends once R2 has a part (and D1 has recorded it). */
export const PartEvent = z.object({
  type: z.literal("part.uploaded"),
  uploadId: UploadId,
  key: z.string().check(z.minLength(1)),
  partNumber: whole(1, R2_MAX_PARTS, "partNumber"),
  /** The R2 part number the copy went to (2n-1 or 2n); absent: the part's own number. */
  r2Part: z.optional(whole(1, R2_MAX_PARTS, "r2Part")),
  etag: z.string().check(z.minLength(1)),
  size: whole(0, MAX_BYTES, "size"),
  /** Order in which R2 accepted this upload's parts; the highest one of a part number is R2's copy. */
  sequence: whole(1, Number.MAX_SAFE_INTEGER, "sequence"),
  /** Epoch ms when R2 accepted the part. */
  uploadedAt: whole(0, Number.MAX_SAFE_INTEGER, "uploadedAt"),
  /** SHA-256 (base64) the producer verified, if declared. */
  sha256: z.optional(z.nullable(z.string())),
});
export type PartEvent = z.infer<typeof PartEvent>;

/** Tells the consumer that a stream has new chunks (or more to coalesce): it coalesces them. */
export const StreamEvent = z.object({
  type: z.enum(["chunk.staged", "stream.continue"]),
  uploadId: UploadId,
});
export type StreamEvent = z.infer<typeof StreamEvent>;

/** An upload ended: fan it out (upload.ended), or deliver it to the webhook (webhook.deliver). */
export const NotificationEvent = z.object({
  type: z.enum(["upload.ended", "webhook.deliver"]),
  notification: UploadNotification,
});
export type NotificationEvent = z.infer<typeof NotificationEvent>;

/** GET /healthz proves the queue takes messages with this one; the consumer acks it and does nothing. */
export const HealthPing = z.object({ type: z.literal("health.ping") });
export type HealthPing = z.infer<typeof HealthPing>;

export const QueueMessage = z.discriminatedUnion("type", [PartEvent, StreamEvent, NotificationEvent, HealthPing]);
export type QueueMessage = z.infer<typeof QueueMessage>;
