import type { ResumeState } from "./types.js";

/**
 * Every failure the client reports. `code` is the server's error code when the server refused
 * (e.g. `upload_not_found`), or one of the client's own: `network_error`, `aborted`,
 * `invalid_options`, `source_mismatch`, `bad_response`, `upload_failed`, `upload_aborted`,
 * `wait_timeout`.
 */
export class IngestError extends Error {
  override readonly name = "IngestError";
  readonly code: string;
  /** HTTP status of the refusal, when there was one. */
  readonly status: number | undefined;
  /** Set once an upload exists: what `upload(source, { resume })` needs to carry on. */
  resumeState: ResumeState | undefined;

  constructor(code: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
  }
}

export const isAbort = (error: unknown): boolean => error instanceof IngestError && error.code === "aborted";

export function abortError(reason: unknown): IngestError {
  const why = reason instanceof Error && reason.name !== "AbortError" ? `: ${reason.message}` : "";
  return new IngestError("aborted", `the upload was interrupted${why}`, { cause: reason });
}
