import type { ContentfulStatusCode } from "hono/utils/http-status";
import { errorMessage, r2ErrorCode } from "./r2-errors";
import type { ErrorBody } from "./schemas";

/** An error the API answers with as `{ error: { code, message } }` and the given status. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  toBody(): ErrorBody {
    const error: ErrorBody["error"] = { code: this.code, message: this.message };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

const retryLater = { "Retry-After": "1" };

/** A 503 the client should answer by sending again shortly. */
const unavailable = (code: string, message: string) => new ApiError(503, code, message, undefined, retryLater);

/** One factory per error that more than one place answers with, so the wording never drifts. */
export const errors = {
  invalidRequest: (message: string, details?: unknown) => new ApiError(400, "invalid_request", message, details),
  uploadNotFound: (uploadId: string) => new ApiError(404, "upload_not_found", `no upload with id ${uploadId}`),
  /** A pruned upload (shared/db/retention.ts): how and when it ended, from its tombstone. */
  uploadGone: (uploadId: string, state: string, endedAt: number) =>
    new ApiError(410, "upload_gone", `upload ${uploadId} ended (${state}) and its record was pruned`, {
      state,
      endedAt: new Date(endedAt).toISOString(),
    }),
  uploadNotOpen: (state: string, what: string) =>
    new ApiError(409, "upload_not_open", `the upload is ${state} and ${what}`, { state }),
  endedInFlight: () =>
    new ApiError(409, "upload_not_open", "the upload was completed or aborted while the request was in flight"),
  notParts: () => new ApiError(409, "not_parts", "this upload is a stream: send chunks to /chunks/{seq}"),
  notAStream: () =>
    new ApiError(409, "not_a_stream", 'this upload takes parts, not chunks: create it with "mode": "stream"'),
  finalConflict: (message: string) => new ApiError(409, "final_conflict", message),
  lengthRequired: () => new ApiError(411, "length_required", "a Content-Length header is required for this body"),
  bodyTooLarge: (limit: number) => new ApiError(413, "body_too_large", `JSON bodies are limited to ${limit} bytes`),
  unauthorized: (code: string, message: string) =>
    new ApiError(401, code, message, undefined, { "WWW-Authenticate": 'Bearer realm="ingest"' }),
  forbidden: (message: string) => new ApiError(403, "forbidden", message),
  storageUnavailable: (what: string) =>
    unavailable("storage_unavailable", `storage did not accept the ${what}; send it again`),
  recordFailed: (what: string) =>
    unavailable("database_unavailable", `the ${what} reached storage but could not be recorded; send it again`),
  databaseUnavailable: () => unavailable("database_unavailable", "the upload could not be registered; try again"),
  enqueueFailed: (what: string) =>
    unavailable("enqueue_failed", `the ${what} reached storage but could not be queued; send it again`),
  routeNotFound: (method: string, path: string) => new ApiError(404, "not_found", `no route for ${method} ${path}`),
  objectNotFound: (key: string) => new ApiError(404, "object_not_found", `no object with key ${key}`),
  deadLetterNotFound: (id: string) => new ApiError(404, "dead_letter_not_found", `no dead letter with id ${id}`),
  deadLetterConflict: (state: string, what: string) =>
    new ApiError(409, "dead_letter_conflict", `the dead letter is ${state} and ${what}`, { state }),
  replayFailed: () => unavailable("enqueue_failed", "the queue did not take the replayed message; try again"),
} as const;

/**
 * The code a log line carries for an error: the API's code when it is one of ours, R2's numeric
 * code when R2 gave one (r2_10001), d1_error for D1, otherwise internal_error.
 */
export function codeOf(error: unknown): string {
  if (error instanceof ApiError) return error.code;
  const r2 = r2ErrorCode(error);
  if (r2 !== undefined) return `r2_${r2}`;
  return /^D1_/.test(errorMessage(error)) ? "d1_error" : "internal_error";
}
