import * as z from "zod/mini";

/**
 * The contract: every request, response and queue message shape, written once. The producer
 * validates with these, the OpenAPI document is generated from them, the consumer validates its
 * messages with them and the client takes its types from them. zod/mini keeps each Worker's
 * bundle small; `components` names the shapes the document publishes.
 */
export const components = z.registry<{ id: string }>();

/** R2's own bound on the part numbers of a multipart upload. */
export const R2_MAX_PARTS = 10_000;
/**
 * Parts a client may send: each has two R2 part numbers (2n-1 and 2n), so that a re-sent part
 * never overwrites the accepted copy before it is verified (see docs/design.md).
 */
export const MAX_PARTS = R2_MAX_PARTS / 2;
export const MAX_KEY_BYTES = 1024;
export const MAX_CHUNK_SEQUENCE = 1_000_000;
/** The largest count of bytes any size field can hold: R2 objects stop at 5 TiB. */
export const MAX_BYTES = 5 * 1024 ** 4;
const MAX_SECONDS = 10 * 365 * 24 * 60 * 60;

/** Keys under this prefix hold staged stream chunks; the object API never serves them. */
export const STAGING_PREFIX = ".ingest-staging/";

export const count = (max: number, what: string) =>
  z.int().check(z.minimum(0, `${what} must not be negative`), z.maximum(max, `${what} must be at most ${max}`));
const positive = (max: number, what: string) =>
  z.int().check(z.minimum(1, `${what} must be at least 1`), z.maximum(max, `${what} must be at most ${max}`));
export const bytesCount = z.int().check(z.minimum(0), z.maximum(MAX_BYTES));
export const isoTime = z.iso.datetime();

/** C0 controls and DEL, which HTTP headers and most tools cannot carry (a tab only where `tabOk`). */
function hasControlCharacter(text: string, tabOk: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && !(tabOk && code === 0x09)) || code === 0x7f) return true;
  }
  return false;
}

/**
 * The key rules, so that every accepted key can be read back by every client: at most 1,024
 * bytes of UTF-8, no control characters, no leading "/", no empty, "." or ".." path segments,
 * and nothing under the staging prefix.
 */
export const ObjectKey = z.string().check(
  z.minLength(1, "key must not be empty"),
  z.maxLength(MAX_KEY_BYTES, `key must be at most ${MAX_KEY_BYTES} bytes of UTF-8`),
  z.refine((key) => new TextEncoder().encode(key).byteLength <= MAX_KEY_BYTES, {
    message: `key must be at most ${MAX_KEY_BYTES} bytes of UTF-8`,
  }),
  z.refine((key) => !hasControlCharacter(key, false), { message: "key must not contain control characters" }),
  z.refine((key) => !key.startsWith("/"), { message: "key must not start with '/'" }),
  z.refine((key) => key.split("/").every((segment) => segment !== "" && segment !== "." && segment !== ".."), {
    message: "key must not have empty, '.' or '..' path segments (no '//', no trailing '/')",
  }),
  z.refine((key) => !key.startsWith(STAGING_PREFIX), { message: `keys under ${STAGING_PREFIX} are reserved` }),
  z.meta({
    description: "Object key: 1 to 1,024 bytes of UTF-8, no control characters, no empty, '.' or '..' segments",
    examples: ["videos/2026/cat.mp4"],
  }),
);

/** R2 refuses custom metadata over 8 KiB (keys and values together). */
export const MAX_METADATA_BYTES = 8192;
const utf8Bytes = (text: string) => new TextEncoder().encode(text).byteLength;

/** A media type as HTTP carries it: visible ASCII, spaces and tabs, with a "/"; never CR, LF or NUL. */
export const ContentType = z
  .string()
  .check(
    z.minLength(1, "contentType must not be empty"),
    z.maxLength(256, "contentType is at most 256 characters"),
    z.regex(
      /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;[\t\x20-\x7e]*)?$/,
      "contentType must be a media type such as text/plain",
    ),
  );

/** Custom metadata: header-safe keys, values without control characters, 8 KiB in all. */
export const Metadata = z
  .record(
    z
      .string()
      .check(
        z.regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, "metadata keys are 1 to 128 letters, digits or !#$%&'*+.^_`|~-"),
      ),
    z
      .string()
      .check(
        z.refine((value) => !hasControlCharacter(value, true), "metadata values must not contain control characters"),
      ),
  )
  .check(
    z.refine(
      (metadata) =>
        Object.entries(metadata).reduce((sum, [key, value]) => sum + utf8Bytes(key) + utf8Bytes(value), 0) <=
        MAX_METADATA_BYTES,
      `metadata is limited to ${MAX_METADATA_BYTES} bytes of keys and values together`,
    ),
  );

export const UploadId = z
  .string()
  .check(
    z.minLength(1, "upload id must not be empty"),
    z.maxLength(1024, "upload id is too long"),
    z.meta({ description: "Upload id: 22 URL-safe characters", examples: ["q3Zk0pX9-c1vT7wYbLm2Aw"] }),
  );

/** Decimal digits only: `1e3`, `0x10`, `+4` and `6.0` are not part numbers. */
const decimalInRange = (max: number, what: string) =>
  z.pipe(
    z.string().check(
      z.regex(/^[0-9]{1,7}$/, `${what} must be a whole number from 1 to ${max}`),
      z.refine((text) => Number(text) >= 1 && Number(text) <= max, `${what} must be between 1 and ${max}`),
    ),
    z.transform((text) => Number(text)),
  );
export const PartNumber = decimalInRange(MAX_PARTS, "partNumber");
export const ChunkSequence = decimalInRange(MAX_CHUNK_SEQUENCE, "chunk sequence");

export const UploadState = z.enum(["open", "completing", "completed", "aborted", "failed"]);
export type UploadState = z.infer<typeof UploadState>;
export const UploadMode = z.enum(["parts", "stream"]);
export const UploadApi = z.enum(["native", "compat", "tus"]);

export const CreateUploadRequest = z
  .strictObject({
    key: ObjectKey,
    parts: z.optional(
      positive(MAX_PARTS, "parts").check(
        z.meta({ description: "Expected part count. With it the upload completes by itself once every part arrived." }),
      ),
    ),
    partSize: z.optional(
      positive(MAX_BYTES, "partSize").check(
        z.meta({ description: "Size of every part but the last, in bytes (the deployment's bounds apply)" }),
      ),
    ),
    contentType: z.optional(ContentType),
    metadata: z.optional(Metadata.check(z.meta({ description: "Custom metadata stored on the finished object" }))),
    staleAfterSeconds: z.optional(
      positive(MAX_SECONDS, "staleAfterSeconds").check(
        z.meta({ description: "Abort the upload after this long without activity (the deployment's maximum applies)" }),
      ),
    ),
    sha256: z.optional(
      z
        .string()
        .check(
          z.maxLength(64),
          z.meta({ description: "SHA-256 of the whole object (hex or base64); verified after completion" }),
        ),
    ),
    mode: z.optional(
      UploadMode.check(
        z.meta({
          description:
            "`parts` (default): the client sends R2 parts. `stream`: the client sends chunks of any size, which are coalesced into parts",
        }),
      ),
    ),
  })
  .register(components, { id: "CreateUploadRequest" });
export type CreateUploadRequest = z.infer<typeof CreateUploadRequest>;

export const CompleteUploadRequest = z
  .strictObject({
    parts: z.optional(
      positive(MAX_PARTS, "parts").check(
        z.meta({ description: "Part count, required when the upload was created without one" }),
      ),
    ),
  })
  .register(components, { id: "CompleteUploadRequest" });
export type CompleteUploadRequest = z.infer<typeof CompleteUploadRequest>;

const PartRange = z.string().check(z.meta({ description: "A part number or an inclusive range", examples: ["4-7"] }));

export const StreamStatus = z
  .object({
    chunksReceived: count(MAX_CHUNK_SEQUENCE, "chunksReceived"),
    finalChunk: z.nullable(count(MAX_CHUNK_SEQUENCE, "finalChunk")),
    contiguousThrough: count(MAX_CHUNK_SEQUENCE, "contiguousThrough").check(
      z.meta({ description: "Highest n such that chunks 1..n are all in" }),
    ),
    committedThrough: count(MAX_CHUNK_SEQUENCE, "committedThrough").check(
      z.meta({ description: "Highest n such that chunks 1..n are all written into R2 parts; later ones are staged" }),
    ),
    missingChunks: z.array(PartRange),
    stagedBytes: bytesCount.check(z.meta({ description: "Bytes received but not yet in a part" })),
    committedBytes: bytesCount.check(z.meta({ description: "Bytes written to R2 parts" })),
  })
  .register(components, { id: "StreamStatus" });

export const ObjectInfo = z.object({ etag: z.string(), size: bytesCount }).register(components, { id: "ObjectInfo" });

export const UploadStatus = z
  .object({
    uploadId: UploadId,
    key: z.string(),
    api: UploadApi,
    state: UploadState,
    partSize: z.nullable(bytesCount),
    expectedParts: z.nullable(count(R2_MAX_PARTS, "expectedParts")),
    receivedParts: count(R2_MAX_PARTS, "receivedParts"),
    missingParts: z.array(PartRange),
    bytesReceived: bytesCount,
    contentType: z.nullable(z.string()),
    metadata: z.record(z.string(), z.string()),
    staleAfterSeconds: count(MAX_SECONDS, "staleAfterSeconds"),
    createdAt: isoTime,
    updatedAt: isoTime,
    lastActivityAt: isoTime,
    expiresAt: z.nullable(isoTime),
    completedAt: z.nullable(isoTime),
    object: z.nullable(ObjectInfo),
    failureReason: z.nullable(z.string()),
    abortReason: z.nullable(z.string()),
    mode: UploadMode,
    sha256: z.nullable(z.string().check(z.meta({ description: "Declared SHA-256 of the whole object (base64)" }))),
    partDigests: z
      .record(z.string(), z.string())
      .check(
        z.meta({ description: "Verified SHA-256 (base64) of each part sent with a Content-Digest, by part number" }),
      ),
    stream: z.nullable(StreamStatus),
  })
  .register(components, { id: "UploadStatus" });
export type UploadStatus = z.infer<typeof UploadStatus>;

export const CreatedUpload = z
  .extend(UploadStatus, {
    parts: z.nullable(count(R2_MAX_PARTS, "parts")),
    uploadToken: z.nullable(
      z
        .string()
        .check(z.meta({ description: "HS256 JWT granting access to this upload only; null when tokens are off" })),
    ),
    uploadTokenExpiresAt: z.nullable(isoTime),
  })
  .register(components, { id: "CreatedUpload" });
export type CreatedUpload = z.infer<typeof CreatedUpload>;

export const ChunkStagedResponse = z
  .object({
    sequence: positive(MAX_CHUNK_SEQUENCE, "sequence"),
    size: bytesCount,
    md5: z.string(),
    final: z.boolean(),
    duplicate: z.boolean().check(z.meta({ description: "The same bytes had already been received" })),
  })
  .register(components, { id: "ChunkStaged" });
export type ChunkStagedResponse = z.infer<typeof ChunkStagedResponse>;

export const PartUploadedResponse = z
  .object({
    partNumber: positive(MAX_PARTS, "partNumber"),
    etag: z.string(),
    size: bytesCount,
    sha256: z.nullable(
      z.string().check(z.meta({ description: "The verified SHA-256 (base64) when Content-Digest was sent" })),
    ),
  })
  .register(components, { id: "PartUploaded" });
export type PartUploadedResponse = z.infer<typeof PartUploadedResponse>;

export const ErrorBody = z
  .object({
    error: z.object({
      code: z
        .string()
        .check(z.meta({ description: "Stable, machine-readable error code", examples: ["upload_not_found"] })),
      message: z.string(),
      details: z.optional(z.unknown()),
    }),
  })
  .register(components, { id: "Error" });
export type ErrorBody = z.infer<typeof ErrorBody>;

// Shapes of the seed-compatible API (Cloudflare's multipart Worker example).
export const CompatCreated = z
  .object({
    key: z.string(),
    uploadId: UploadId,
    uploadToken: z.nullable(z.string()),
  })
  .register(components, { id: "CompatCreated" });
export const CompatUploadedPart = z
  .object({ partNumber: positive(MAX_PARTS, "partNumber"), etag: z.string() })
  .register(components, { id: "CompatUploadedPart" });
export const CompatCompleteRequest = z
  .object({
    parts: z
      .array(
        z.object({
          partNumber: positive(MAX_PARTS, "partNumber"),
          etag: z.string().check(z.minLength(1, "etag must not be empty"), z.maxLength(1024, "etag is too long")),
        }),
      )
      .check(z.maxLength(MAX_PARTS, `at most ${MAX_PARTS} parts`)),
  })
  .register(components, { id: "CompatCompleteRequest" });
export type CompatCompleteRequest = z.infer<typeof CompatCompleteRequest>;
