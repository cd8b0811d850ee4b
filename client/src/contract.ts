/**
 * The HTTP API's request and response bodies, as the server's contract (shared/schemas.ts)
 * defines them. Written out as plain types so the published package needs neither zod nor the
 * server's sources; test/client/contract.test-d.ts fails `npm run typecheck` as soon as one of
 * them stops being exactly the server's type (requests: the schema's input, responses: its
 * output), so they cannot drift.
 */

export type UploadState = "open" | "completing" | "completed" | "aborted" | "failed";
export type UploadMode = "parts" | "stream";

/** Body of POST /uploads. */
export interface CreateUploadRequest {
  /** Object key, at most 1,024 bytes of UTF-8. */
  key: string;
  /** Part count. With it the server completes the upload by itself once every part is in. */
  parts?: number;
  /** Bytes in every part but the last (the server's bounds apply, at least 5 MiB). */
  partSize?: number;
  contentType?: string;
  /** Custom metadata stored on the finished object. */
  metadata?: Record<string, string>;
  /** Abort the upload after this long without activity. */
  staleAfterSeconds?: number;
  /** SHA-256 of the whole object (hex or base64), verified after completion. */
  sha256?: string;
  /** "parts" (default): R2 parts. "stream": chunks of any size, coalesced into parts by the server. */
  mode?: UploadMode;
}

/** Body of POST /uploads/{id}/complete. */
export interface CompleteUploadRequest {
  /** Part count; required when the upload was created without one. */
  parts?: number;
}

export interface StreamStatus {
  chunksReceived: number;
  finalChunk: number | null;
  /** Highest n such that chunks 1..n are all in. */
  contiguousThrough: number;
  missingChunks: string[];
  /** Bytes received but not yet in a part. */
  stagedBytes: number;
  /** Bytes written to R2 parts. */
  committedBytes: number;
}

export interface ObjectInfo {
  etag: string;
  size: number;
}

/** GET /uploads/{id}, and the answer to abort and complete. */
export interface UploadStatus {
  /** 22 URL-safe characters. */
  uploadId: string;
  key: string;
  /** "compat" for uploads made through the seed-compatible API. */
  api: "native" | "compat";
  state: UploadState;
  partSize: number | null;
  expectedParts: number | null;
  /** Parts the server has tallied. */
  receivedParts: number;
  /** Part numbers and inclusive ranges not tallied yet, e.g. ["4-7", "9"]. */
  missingParts: string[];
  bytesReceived: number;
  contentType: string | null;
  metadata: Record<string, string>;
  staleAfterSeconds: number;
  /** ISO 8601 times. */
  createdAt: string;
  updatedAt: string;
  lastActivityAt: string;
  /** When an open upload is aborted for inactivity; null once it is not open. */
  expiresAt: string | null;
  completedAt: string | null;
  /** The stored object, once completed. */
  object: ObjectInfo | null;
  failureReason: string | null;
  abortReason: string | null;
  mode: UploadMode;
  /** Declared SHA-256 of the whole object (base64). */
  sha256: string | null;
  /** Verified SHA-256 (base64) of each part sent with a Content-Digest, by part number. */
  partDigests: Record<string, string>;
  stream: StreamStatus | null;
}

/** The answer to POST /uploads: the new upload's status and a token for it alone. */
export interface CreatedUpload extends UploadStatus {
  parts: number | null;
  /** An HS256 JWT granting access to this upload only; null when the server issues none. */
  uploadToken: string | null;
  uploadTokenExpiresAt: string | null;
}

/** The answer to PUT /uploads/{id}/parts/{n}. */
export interface PartUploadedResponse {
  partNumber: number;
  etag: string;
  size: number;
  /** The verified SHA-256 (base64) when a Content-Digest was sent. */
  sha256: string | null;
}

/** The answer to PUT /uploads/{id}/chunks/{seq} (stream mode). */
export interface ChunkStagedResponse {
  sequence: number;
  size: number;
  md5: string;
  final: boolean;
  /** The same bytes had already been received. */
  duplicate: boolean;
}

/** Every 4xx and 5xx answer of the API. */
export interface ErrorBody {
  error: {
    /** Stable, machine-readable, e.g. "upload_not_found". */
    code: string;
    message: string;
    details?: unknown;
  };
}
