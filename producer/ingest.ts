import { ApiError } from "../shared/errors";
import { errorMessage, R2Code, r2ErrorCode } from "../shared/r2-errors";
import type { PartEvent } from "../shared/schemas";
import { nextPartSequence, type UploadRow } from "../shared/db/uploads";
import { digestMismatch, meterBody } from "./integrity";

export type IngestedPart = { partNumber: number; etag: string; size: number; sha256: string | null };

/**
 * Streams one part into R2, then announces it on the queue. Resolves only once the event is
 * enqueued: a success means the consumer will tally the part.
 */
export async function ingestPart(
  env: Env,
  upload: Pick<UploadRow, "upload_id" | "object_key">,
  partNumber: number,
  body: ReadableStream<Uint8Array> | null,
  size: number,
  expectedSha256: string | null,
): Promise<IngestedPart> {
  const metered = meterBody(body, size, expectedSha256 !== null);
  let etag: string;
  let sha256: string | null;
  try {
    const part = await env.BUCKET.resumeMultipartUpload(upload.object_key, upload.upload_id).uploadPart(
      partNumber,
      metered.stream,
    );
    etag = part.etag;
    ({ sha256 } = await metered.done);
  } catch (error) {
    throw metered.lengthError(error) ?? uploadPartError(error);
  }

  const uploadedAt = Date.now();
  if (expectedSha256 !== null && sha256 !== expectedSha256) {
    // R2 now holds these bad bytes for the part. No event, so the part is not counted; the
    // sequence still moves, so no completion goes ahead with an older copy R2 no longer has.
    await nextPartSequence(env.DB, upload.upload_id, uploadedAt);
    throw digestMismatch("part");
  }
  const sequence = await nextPartSequence(env.DB, upload.upload_id, uploadedAt);
  if (sequence === null) {
    throw new ApiError(409, "upload_not_open", "the upload was completed or aborted while the part was in flight");
  }
  const event: PartEvent = {
    type: "part.uploaded",
    uploadId: upload.upload_id,
    key: upload.object_key,
    partNumber,
    etag,
    size,
    sequence,
    uploadedAt,
    sha256,
  };
  try {
    await env.UPLOAD_EVENTS.send(event, { contentType: "json" });
  } catch (error) {
    console.error(JSON.stringify({ event: "enqueue_failed", uploadId: upload.upload_id, partNumber, error: errorMessage(error) }));
    throw new ApiError(
      503,
      "enqueue_failed",
      "the part reached storage but could not be queued for tallying; send the part again",
      undefined,
      { "Retry-After": "1" },
    );
  }
  return { partNumber, etag, size, sha256 };
}

function uploadPartError(error: unknown): ApiError {
  const message = errorMessage(error);
  if (r2ErrorCode(error) === R2Code.noSuchUpload) {
    return new ApiError(409, "upload_not_open", "the upload was completed or aborted while the part was in flight");
  }
  if (/known length/i.test(message)) {
    return new ApiError(411, "length_required", "a Content-Length header is required for a part body");
  }
  console.error(JSON.stringify({ event: "upload_part_failed", error: message }));
  return new ApiError(503, "storage_unavailable", "storage did not accept the part; send it again", undefined, {
    "Retry-After": "1",
  });
}

/** The declared body length of a part request, which R2 needs before it reads the stream. */
export function declaredLength(request: Request): number {
  const header = request.headers.get("content-length");
  if (header === null) {
    throw new ApiError(411, "length_required", "a Content-Length header is required for a part body");
  }
  if (!/^\d+$/.test(header.trim())) {
    throw new ApiError(400, "invalid_content_length", "Content-Length must be a whole number of bytes");
  }
  return Number(header.trim());
}
