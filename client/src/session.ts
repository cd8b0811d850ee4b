import { createUpload, getStatus } from "./api.js";
import type { CreateUploadRequest, UploadStatus } from "./contract.js";
import { IngestError } from "./errors.js";
import type { Transport } from "./http.js";
import { formatRanges, parseRanges, partCount } from "./parts.js";
import type { ResumeState } from "./types.js";

/** What the client knows about the upload it is feeding. */
export interface Session {
  uploadId: string;
  key: string;
  partSize: number;
  expectedParts: number | null;
  /** Parts that need not be sent: tallied by the server, or answered 2xx to this client. */
  acknowledged: Set<number>;
  status: UploadStatus;
  resumed: boolean;
}

/** What POST /uploads gets: the part layout the client chose plus the caller's own fields. */
export type CreateSpec = Omit<CreateUploadRequest, "parts" | "mode"> & { partSize: number; parts: number | null };

export async function createSession(transport: Transport, spec: CreateSpec): Promise<Session> {
  const { parts, ...rest } = spec;
  // Fields left undefined are dropped: JSON.stringify omits them.
  const status = await createUpload(transport, parts === null ? rest : { ...rest, parts });
  return {
    uploadId: status.uploadId,
    key: status.key,
    partSize: status.partSize ?? spec.partSize,
    expectedParts: status.expectedParts,
    acknowledged: new Set(),
    status,
    resumed: false,
  };
}

/**
 * Picks an interrupted upload back up. The parts to skip are those the server has tallied plus
 * those the saved state says got a 2xx. The second set matters: the tally trails the 2xx by
 * about a second, so right after an interruption the status still lists some finished parts
 * as missing. Re-sending them would be safe (the newest copy wins and the tally dedups) but
 * wasteful. With only an id there is no such record, and those few parts are sent again: a
 * bounded cost (the parts acknowledged in the last second or so) that we accept rather than
 * wait an arbitrary time for the tally to settle.
 */
export async function resumeSession(
  transport: Transport,
  resume: string | ResumeState,
  wanted: { key: string | undefined; partSize: number | undefined },
): Promise<Session> {
  const saved = typeof resume === "string" ? undefined : resume;
  const status = await getStatus(transport, saved?.uploadId ?? (resume as string));
  if (wanted.key !== undefined && wanted.key !== status.key) {
    throw new IngestError(
      "source_mismatch",
      `upload ${status.uploadId} is for key "${status.key}", not "${wanted.key}"`,
    );
  }
  const partSize = status.partSize ?? saved?.partSize;
  if (partSize === undefined) {
    throw new IngestError(
      "source_mismatch",
      `upload ${status.uploadId} has no part size (was it made with the compatible API?)`,
    );
  }
  if (wanted.partSize !== undefined && wanted.partSize !== partSize) {
    throw new IngestError(
      "source_mismatch",
      `upload ${status.uploadId} uses parts of ${partSize} bytes, not ${wanted.partSize}`,
    );
  }
  if (status.state === "aborted") {
    throw new IngestError(
      "upload_aborted",
      `upload ${status.uploadId} was aborted (${status.abortReason ?? "no reason given"}); start a new one`,
    );
  }
  if (status.state === "failed") {
    throw new IngestError(
      "upload_failed",
      `upload ${status.uploadId} failed: ${status.failureReason ?? "no reason given"}`,
    );
  }
  const acknowledged = tallied(status);
  for (const n of parseRanges(saved?.acknowledged ?? [])) acknowledged.add(n);
  return {
    uploadId: status.uploadId,
    key: status.key,
    partSize,
    expectedParts: status.expectedParts,
    acknowledged,
    status,
    resumed: true,
  };
}

/**
 * Parts the server has tallied. `missingParts` only covers 1..expectedParts, or, for an upload
 * without a count, 1..the highest part seen, which is receivedParts + the number missing.
 */
export function tallied(status: UploadStatus): Set<number> {
  const missing = new Set(parseRanges(status.missingParts));
  const upTo = status.expectedParts ?? status.receivedParts + missing.size;
  const have = new Set<number>();
  for (let n = 1; n <= upTo; n++) if (!missing.has(n)) have.add(n);
  return have;
}

/** Fails early when a resumed source cannot be the one the upload was started with. */
export function checkKnownSize(session: Session, saved: ResumeState | undefined, size: number): void {
  if (saved?.size != null && saved.size !== size) {
    throw new IngestError(
      "source_mismatch",
      `the source is ${size} bytes but the interrupted upload was of ${saved.size}`,
    );
  }
  const count = partCount(size, session.partSize);
  if (session.expectedParts !== null && session.expectedParts !== count) {
    throw new IngestError(
      "source_mismatch",
      `the source makes ${count} parts of ${session.partSize} bytes but upload ${session.uploadId} expects ${session.expectedParts}`,
    );
  }
}

export function resumeState(session: Session, size: number | null): ResumeState {
  return {
    version: 1,
    uploadId: session.uploadId,
    key: session.key,
    partSize: session.partSize,
    size,
    parts: session.expectedParts,
    acknowledged: formatRanges(session.acknowledged),
  };
}
