/**
 * The HTTP API's request and response bodies, taken from the types openapi-typescript generates
 * from the service's published document (./openapi.ts, from producer/openapi.json): no copy of
 * the contract is written by hand, and the package needs neither zod nor the server's sources.
 * test/client/contract/ fails `npm run typecheck` when these stop being exactly the server's zod
 * schemas (requests: what a schema accepts, responses: what it produces).
 */
import type { components, operations } from "./openapi.js";

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

/** One row of GET /uploads: an upload's compact status (`size` once completed, `expiresAt` while open). */
export type UploadListItem = Schemas["UploadListItem"];
/** The answer to GET /uploads: a page, and the cursor of the next one (null after the last). */
export type UploadList = Schemas["UploadList"];
/** The answer to GET /uploads/summary. */
export type UploadSummary = Schemas["UploadSummary"];

type ListParameters = NonNullable<operations["listUploads"]["parameters"]["query"]>;
/** How an upload came in, as GET /uploads filters it (tus: through /files/; stream: mode "stream"). */
export type UploadApi = NonNullable<ListParameters["api"]>;
export type ListOrder = NonNullable<ListParameters["order"]>;

/**
 * Filters and paging of GET /uploads, as `listUploads` takes them: the query string's parameters
 * with their values typed (several states as an array, times as a Date or an ISO 8601 string).
 */
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

/** A message the pipeline's queue gave up on, as GET /dead-letters lists it. */
export type DeadLetter = Schemas["DeadLetter"];
/** dead (stored, nothing done yet), replaying, replayed, or discarded. */
export type DeadLetterState = DeadLetter["state"];
/** The answer to GET /dead-letters: a page, and the cursor of the next one (null after the last). */
export type DeadLetterList = Schemas["DeadLetterList"];
/** The answer to POST /dead-letters/{id}/replay: whether this call sent it, and the dead letter. */
export type DeadLetterReplay = Schemas["DeadLetterReplay"];

/** Filters and paging of GET /dead-letters. */
export interface ListDeadLettersQuery {
  /** One state, or several (any of them). */
  state?: DeadLetterState | readonly DeadLetterState[] | undefined;
  /** Items per page, 1 to 200 (default 50). */
  limit?: number | undefined;
  /** `nextCursor` of the previous page. */
  cursor?: string | undefined;
}
