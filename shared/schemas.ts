import { z } from "zod";
import { UploadNotification } from "./notifications";

/** R2's own bounds on multipart uploads. */
export const MAX_PARTS = 10_000;
const MAX_KEY_BYTES = 1024;

/** Keys under this prefix hold staged stream chunks; the object API never serves them. */
export const STAGING_PREFIX = ".ingest-staging/";


export const ObjectKey = z
  .string()
  .min(1, "key must not be empty")
  .refine((key) => new TextEncoder().encode(key).byteLength <= MAX_KEY_BYTES, {
    message: `key must be at most ${MAX_KEY_BYTES} bytes of UTF-8`,
  })
  .refine((key) => !key.startsWith("/"), { message: "key must not start with '/'" })
  .refine((key) => !key.startsWith(STAGING_PREFIX), { message: `keys under ${STAGING_PREFIX} are reserved` })
  .meta({ description: "Object key in the bucket", example: "videos/2026/cat.mp4" });

export const UploadId = z.string().min(1).max(1024).meta({ description: "R2 multipart upload id" });

export const PartNumber = z.coerce
  .number()
  .int("partNumber must be an integer")
  .min(1, "partNumber must be between 1 and 10000")
  .max(MAX_PARTS, "partNumber must be between 1 and 10000");

export const MAX_CHUNK_SEQUENCE = 1_000_000;
export const ChunkSequence = z.coerce
  .number()
  .int("chunk sequence must be an integer")
  .min(1, `chunk sequence must be between 1 and ${MAX_CHUNK_SEQUENCE}`)
  .max(MAX_CHUNK_SEQUENCE, `chunk sequence must be between 1 and ${MAX_CHUNK_SEQUENCE}`);

export const UploadState = z.enum(["open", "completing", "completed", "aborted", "failed"]);
export type UploadState = z.infer<typeof UploadState>;

export const CreateUploadRequest = z
  .strictObject({
    key: ObjectKey,
    parts: z.number().int().min(1).max(MAX_PARTS).optional().meta({
      description: "Expected part count. With it the upload completes by itself once every part arrived.",
    }),
    partSize: z.number().int().positive().optional().meta({
      description: "Size of every part but the last, in bytes. The last part may be smaller.",
    }),
    contentType: z.string().min(1).max(256).optional(),
    metadata: z.record(z.string(), z.string()).optional().meta({
      description: "Custom metadata stored on the finished object",
    }),
    staleAfterSeconds: z.number().int().positive().optional().meta({
      description: "Abort the upload after this long without activity",
    }),
    sha256: z.string().optional().meta({
      description: "SHA-256 of the whole object (hex or base64); verified after completion",
    }),
    mode: z.enum(["parts", "stream"]).optional().meta({
      description:
        "`parts` (default): the client sends R2 parts. `stream`: the client sends chunks of any size to /chunks/{seq}, which are coalesced into parts",
    }),
  })
  .meta({ id: "CreateUploadRequest" });
export type CreateUploadRequest = z.infer<typeof CreateUploadRequest>;

export const CompleteUploadRequest = z
  .strictObject({
    parts: z.number().int().min(1).max(MAX_PARTS).optional().meta({
      description: "Part count, required when the upload was created without one",
    }),
  })
  .meta({ id: "CompleteUploadRequest" });

export const PartRange = z.string().meta({ description: "A part number or an inclusive range", example: "4-7" });

export const UploadStatus = z
  .object({
    uploadId: UploadId,
    key: z.string(),
    api: z.enum(["native", "compat"]),
    state: UploadState,
    partSize: z.number().int().nullable(),
    expectedParts: z.number().int().nullable(),
    receivedParts: z.number().int(),
    missingParts: z.array(PartRange),
    bytesReceived: z.number().int(),
    contentType: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
    staleAfterSeconds: z.number().int(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    lastActivityAt: z.iso.datetime(),
    expiresAt: z.iso.datetime().nullable(),
    completedAt: z.iso.datetime().nullable(),
    object: z.object({ etag: z.string(), size: z.number().int() }).nullable(),
    failureReason: z.string().nullable(),
    abortReason: z.string().nullable(),
    mode: z.enum(["parts", "stream"]),
    sha256: z.string().nullable().meta({ description: "Declared SHA-256 of the whole object (base64)" }),
    partDigests: z.record(z.string(), z.string()).meta({
      description: "Verified SHA-256 (base64) of each part sent with a Content-Digest, by part number",
    }),
    stream: z
      .object({
        chunksReceived: z.number().int(),
        finalChunk: z.number().int().nullable(),
        contiguousThrough: z.number().int().meta({ description: "Highest n such that chunks 1..n are all in" }),
        missingChunks: z.array(PartRange),
        stagedBytes: z.number().int().meta({ description: "Bytes received but not yet in a part" }),
        committedBytes: z.number().int().meta({ description: "Bytes written to R2 parts" }),
      })
      .nullable(),
  })
  .meta({ id: "UploadStatus" });
export type UploadStatus = z.infer<typeof UploadStatus>;

export const ChunkStagedResponse = z
  .object({
    sequence: z.number().int(),
    size: z.number().int(),
    md5: z.string(),
    final: z.boolean(),
    duplicate: z.boolean().meta({ description: "The same bytes had already been received" }),
  })
  .meta({ id: "ChunkStaged" });

export const PartUploadedResponse = z
  .object({
    partNumber: z.number().int(),
    etag: z.string(),
    size: z.number().int(),
    sha256: z.string().nullable().meta({ description: "The verified SHA-256 (base64) when Content-Digest was sent" }),
  })
  .meta({ id: "PartUploaded" });

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: "Error" });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** The message the producer sends once R2 has a part. Validated again by the consumer. */
export const PartEvent = z
  .object({
    type: z.literal("part.uploaded"),
    uploadId: UploadId,
    key: z.string().min(1),
    partNumber: z.number().int().min(1).max(MAX_PARTS),
    etag: z.string().min(1),
    size: z.number().int().nonnegative(),
    sequence: z.number().int().positive().meta({
      description: "Order in which R2 accepted this upload's parts; the highest one of a part number is R2's copy",
    }),
    uploadedAt: z.number().int().nonnegative().meta({ description: "Epoch ms when R2 accepted the part" }),
    sha256: z.string().nullable().optional().meta({ description: "SHA-256 (base64) the producer verified, if declared" }),
  })
  .meta({ id: "PartEvent" });
export type PartEvent = z.infer<typeof PartEvent>;

/** Tells the consumer that a stream has new chunks (or more to coalesce): it coalesces them. */
export const StreamEvent = z
  .object({
    type: z.enum(["chunk.staged", "stream.continue"]),
    uploadId: UploadId,
  })
  .meta({ id: "StreamEvent" });
export type StreamEvent = z.infer<typeof StreamEvent>;

/** An upload ended: fan it out (upload.ended), or deliver it to the webhook (webhook.deliver). */
export const NotificationEvent = z.object({
  type: z.enum(["upload.ended", "webhook.deliver"]),
  notification: UploadNotification,
});
export type NotificationEvent = z.infer<typeof NotificationEvent>;

export const QueueMessage = z.discriminatedUnion("type", [PartEvent, StreamEvent, NotificationEvent]);
export type QueueMessage = z.infer<typeof QueueMessage>;

// Shapes of the seed-compatible API (Cloudflare's multipart Worker example).
export const CompatCreated = z.object({ key: z.string(), uploadId: z.string() }).meta({ id: "CompatCreated" });
export const CompatUploadedPart = z.object({ partNumber: z.number().int(), etag: z.string() });
export const CompatCompleteRequest = z.object({
  parts: z.array(z.object({ partNumber: z.number().int().min(1).max(MAX_PARTS), etag: z.string().min(1) })),
});
