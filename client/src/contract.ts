/**
 * The HTTP API's request and response bodies, taken from the types openapi-typescript generates
 * from the service's published document (./openapi.ts, from producer/openapi.json): no copy of
 * the contract is written by hand, and the package needs neither zod nor the server's sources.
 * test/client/contract/ fails `npm run typecheck` when these stop being exactly the server's zod
 * schemas (requests: what a schema accepts, responses: what it produces).
 */
import type { components } from "./openapi.js";

type Schemas = components["schemas"];

/** Body of POST /uploads. */
export type CreateUploadRequest = Schemas["CreateUploadRequest"];
/** Body of POST /uploads/{id}/complete. */
export type CompleteUploadRequest = Schemas["CompleteUploadRequest"];
/** GET /uploads/{id}, and the answer to abort and complete. */
export type UploadStatus = Schemas["UploadStatus"];
/** The answer to POST /uploads: the new upload's status and a token for it alone. */
export type CreatedUpload = Schemas["CreatedUpload"];
export type StreamStatus = Schemas["StreamStatus"];
export type ObjectInfo = Schemas["ObjectInfo"];
/** The answer to PUT /uploads/{id}/parts/{n}. */
export type PartUploadedResponse = Schemas["PartUploaded"];
/** The answer to PUT /uploads/{id}/chunks/{seq} (stream mode). */
export type ChunkStagedResponse = Schemas["ChunkStaged"];
/** Every 4xx and 5xx answer of the API. */
export type ErrorBody = Schemas["Error"];
export type UploadState = UploadStatus["state"];
export type UploadMode = UploadStatus["mode"];

// PROVISIONAL until the listing routes are in ./openapi.ts: written from the contract in
// plan/LISTING.md, replaced by the generated types as soon as they land.
/** How an upload came in: the native API (parts), S3-compatible, tus, or stream mode. */
export type UploadApi = "native" | "compat" | "tus" | "stream";
export type ListOrder = "newest" | "oldest" | "expiring";

/** One row of GET /uploads: an upload's compact status. */
export interface UploadListItem {
  uploadId: string;
  key: string;
  api: string;
  mode: UploadMode;
  state: UploadState;
  partSize: number | null;
  expectedParts: number | null;
  receivedParts: number;
  bytesReceived: number;
  /** The object's size once completed, else null. */
  size: number | null;
  createdAt: string;
  updatedAt: string;
  lastActivityAt: string;
  /** Null unless open. */
  expiresAt: string | null;
  completedAt: string | null;
  /** Why it was aborted or failed. */
  reason: string | null;
}

/** The answer to GET /uploads. */
export interface UploadList {
  items: UploadListItem[];
  nextCursor: string | null;
}

/** The answer to GET /uploads/summary. */
export interface UploadSummary {
  byState: Record<UploadState, number>;
  bytesInFlight: number;
  oldestOpen: { uploadId: string; key: string; createdAt: string } | null;
  expiringWithinHour: number;
  generatedAt: string;
}

/** Filters and paging of GET /uploads, as `listUploads` takes them. */
export interface ListUploadsQuery {
  /** One state, or several (any of them). */
  state?: UploadState | readonly UploadState[] | undefined;
  /** Object key prefix. */
  prefix?: string | undefined;
  api?: UploadApi | undefined;
  /** Only uploads created after this time. */
  createdAfter?: string | Date | undefined;
  /** Only open uploads that expire before this time. */
  staleBefore?: string | Date | undefined;
  /** Default "newest"; "expiring" puts the soonest expiry first. */
  order?: ListOrder | undefined;
  /** Items per page, 1 to 200 (default 50). */
  limit?: number | undefined;
  /** `nextCursor` of the previous page. */
  cursor?: string | undefined;
}
