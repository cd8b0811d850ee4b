import { type PartsSummary, recordedR2Part, recordIngestedPart, summarizeParts } from "../../shared/db/parts";
import { fixExpectedParts, getUpload, nextPartSequence, type UploadRow } from "../../shared/db/uploads";
import { toBase64 } from "../../shared/encoding";
import { ApiError, errors } from "../../shared/errors";
import type { PartEvent } from "../../shared/messages";
import { apiOf, recordUpload } from "../../shared/metrics";
import { errorMessage, R2Code, r2ErrorCode } from "../../shared/r2-errors";
import { digestMismatch, meterBody } from "../integrity";
import type { Bindings } from "./bindings";

export type PartBody = {
  partNumber: number;
  /** A request's body, or bytes already in hand (a chunk stream's part, read out of its object). */
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  /** The declared Content-Length: R2 needs it before it reads the stream. */
  size: number;
  /** The SHA-256 (base64) the client declared in Content-Digest, if any. */
  sha256: string | null;
  /** The client marks this as the last part. */
  final: boolean;
};

export type IngestedPart = { partNumber: number; etag: string; size: number; sha256: string | null };

/** A part R2 holds under its spare part number, verified but not yet recorded. */
export type WrittenPart = {
  upload: UploadRow;
  partNumber: number;
  r2Part: number;
  etag: string;
  size: number;
  uploadedAt: number;
  sha256: string | null;
  /** When writing it began: its data point measures from here to its event queued. */
  startedAt: number;
};

/**
 * Ingests one part, whichever API it came through: the upload's rules first (state, mode, part
 * count and sizes, the final marker), then the bytes into R2, then D1 records the part, then the
 * event goes on the queue. A 2xx therefore means R2 has the part and D1 knows it.
 */
export async function ingestPart(env: Bindings, upload: UploadRow, part: PartBody): Promise<IngestedPart> {
  return recordPart(env, await writePart(env, upload, part));
}

/**
 * The first half of ingesting a part: checks it and writes its bytes to the part number its
 * accepted copy (if any) is not in. Until `recordPart`, nothing counts it: tus holds parts here
 * while it verifies the checksum of the whole request they came in.
 */
export async function writePart(
  env: Bindings,
  upload: UploadRow,
  part: PartBody,
  /** "stream": a part a chunk stream's object assembled (streams refuse parts from clients). */
  origin: "client" | "stream" = "client",
): Promise<WrittenPart> {
  const startedAt = Date.now();
  if (upload.state !== "open") throw errors.uploadNotOpen(upload.state, "takes no more parts");
  if (upload.mode === "stream" && origin === "client") throw errors.notParts();
  const row = await applyFinalMarker(env.DB, upload, part);
  checkPartSize(part.final ? { ...row, expected_parts: part.partNumber } : row, part.partNumber, part.size);

  const r2Part = spareR2Part(row, part.partNumber, await recordedR2Part(env.DB, row.upload_id, part.partNumber));
  const multipart = env.BUCKET.resumeMultipartUpload(row.object_key, row.r2_upload_id);
  let etag: string;
  let sha256: string | null;
  if (part.body instanceof Uint8Array) {
    // Bytes in hand have their length already: nothing to meter.
    try {
      etag = (await multipart.uploadPart(r2Part, part.body)).etag;
    } catch (error) {
      throw uploadPartError(row, part.partNumber, error);
    }
    sha256 = part.sha256 === null ? null : toBase64(new Uint8Array(await crypto.subtle.digest("SHA-256", part.body)));
  } else {
    const metered = meterBody(part.body, part.size, part.sha256 !== null);
    try {
      etag = (await multipart.uploadPart(r2Part, metered.stream)).etag;
      ({ sha256 } = await metered.done);
    } catch (error) {
      throw metered.lengthError(error) ?? uploadPartError(row, part.partNumber, error);
    }
  }
  const uploadedAt = Date.now();
  if (part.sha256 !== null && sha256 !== part.sha256) {
    // The refused bytes went to the spare R2 part number: the accepted copy is untouched and D1
    // still points at it. Only an upload from before part slots has no spare, so there R2 lost
    // the accepted copy: the sequence moves, so that no completion goes ahead without it.
    if (row.part_slots < 2) await nextPartSequence(env.DB, row.upload_id, uploadedAt);
    throw digestMismatch("part");
  }
  return { upload: row, partNumber: part.partNumber, r2Part, etag, size: part.size, uploadedAt, sha256, startedAt };
}

/** The second half: D1 records the written part, then its event goes on the queue. */
export async function recordPart(env: Bindings, written: WrittenPart): Promise<IngestedPart> {
  const row = written.upload;
  const recorded = {
    uploadId: row.upload_id,
    key: row.object_key,
    partNumber: written.partNumber,
    r2Part: written.r2Part,
    etag: written.etag,
    size: written.size,
    uploadedAt: written.uploadedAt,
    sha256: written.sha256,
  };
  let sequence: number | null;
  try {
    sequence = await recordIngestedPart(env.DB, recorded);
  } catch (error) {
    console.error(
      JSON.stringify({
        event: "record_part_failed",
        uploadId: row.upload_id,
        key: row.object_key,
        partNumber: written.partNumber,
        code: "database_unavailable",
        error: errorMessage(error),
      }),
    );
    throw errors.recordFailed("part");
  }
  if (sequence === null) throw errors.endedInFlight();
  const event: PartEvent = { type: "part.uploaded", ...recorded, sequence };
  try {
    // The event triggers the tally and completion; the part itself is already recorded above.
    await env.UPLOAD_EVENTS.send(event, { contentType: "json" });
  } catch (error) {
    console.error(
      JSON.stringify({
        event: "enqueue_failed",
        uploadId: row.upload_id,
        key: row.object_key,
        partNumber: written.partNumber,
        code: "enqueue_failed",
        error: errorMessage(error),
      }),
    );
    throw errors.enqueueFailed("part");
  }
  recordUpload(
    env,
    { uploadId: row.upload_id, key: row.object_key },
    {
      event: "part",
      api: apiOf(row),
      bytes: written.size,
      ms: Date.now() - written.startedAt,
      partNumber: written.partNumber,
    },
  );
  return { partNumber: written.partNumber, etag: written.etag, size: written.size, sha256: written.sha256 };
}

/**
 * Where a copy of part n goes in R2: of its two part numbers (2n-1, 2n), the one its accepted
 * copy is not in, so that the accepted copy survives until the new one is verified and recorded.
 */
function spareR2Part(upload: UploadRow, partNumber: number, recorded: number | null): number {
  if (upload.part_slots < 2) return partNumber;
  const first = 2 * partNumber - 1;
  return recorded === first ? first + 1 : first;
}

/** The final marker fixes the part count before any byte is written, so a conflicting marker is refused. */
async function applyFinalMarker(db: D1Database, upload: UploadRow, part: PartBody): Promise<UploadRow> {
  if (!part.final) return upload;
  if (upload.expected_parts !== null) {
    if (upload.expected_parts !== part.partNumber) {
      throw errors.finalConflict(`part ${upload.expected_parts} is already the final part`);
    }
    return upload;
  }
  checkNoneBeyond(await summarizeParts(db, upload.upload_id), part.partNumber, "final_conflict");
  const fixed = await fixExpectedParts(db, upload.upload_id, part.partNumber, Date.now());
  if (fixed !== null) return fixed;
  const now = await getUpload(db, upload.upload_id);
  if (now === null) throw errors.uploadNotFound(upload.upload_id);
  if (now.expected_parts !== part.partNumber) {
    throw errors.finalConflict(`part ${now.expected_parts} is already the final part`);
  }
  return now;
}

/** Parts already recorded beyond a part count are a conflict with it. */
export function checkNoneBeyond(
  parts: PartsSummary,
  count: number,
  code: "final_conflict" | "parts_beyond_count",
): void {
  const beyond = parts.numbers.filter((n) => n > count);
  if (beyond.length === 0) return;
  throw code === "final_conflict"
    ? errors.finalConflict(`parts ${beyond.join(", ")} were received, so ${count} cannot be final`)
    : new ApiError(409, "parts_beyond_count", `parts ${beyond.join(", ")} are beyond a count of ${count}`);
}

/** R2 only completes uploads whose parts but the last share one size: refuse misfits up front. */
function checkPartSize(upload: UploadRow, partNumber: number, size: number): void {
  const partSize = upload.part_size;
  const expected = upload.expected_parts;
  if (expected !== null && partNumber > expected) {
    throw new ApiError(400, "part_out_of_range", `this upload has ${expected} parts; part ${partNumber} is beyond it`);
  }
  if (partSize === null) return;
  if (size > partSize) {
    throw new ApiError(413, "part_too_large", `parts are at most ${partSize} bytes; this one is ${size}`);
  }
  const isFinal = expected !== null && partNumber === expected;
  if (expected !== null && !isFinal && size !== partSize) {
    throw new ApiError(
      400,
      "part_size_mismatch",
      `every part but the last must be exactly ${partSize} bytes; part ${partNumber} is ${size}`,
    );
  }
  if (size === 0 && !(isFinal && partNumber === 1)) {
    throw new ApiError(400, "empty_part", "a part must not be empty");
  }
}

function uploadPartError(upload: UploadRow, partNumber: number, error: unknown): ApiError {
  const message = errorMessage(error);
  if (r2ErrorCode(error) === R2Code.noSuchUpload) return errors.endedInFlight();
  if (/known length/i.test(message)) return errors.lengthRequired();
  console.error(
    JSON.stringify({
      event: "upload_part_failed",
      uploadId: upload.upload_id,
      key: upload.object_key,
      partNumber,
      code: "storage_unavailable",
      error: message,
    }),
  );
  return errors.storageUnavailable("part");
}
