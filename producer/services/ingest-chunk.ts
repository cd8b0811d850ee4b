import { acceptChunk, attemptKey, chunkContext, stagedKeyOf } from "../../shared/db/chunks";
import type { UploadRow } from "../../shared/db/uploads";
import { toHex } from "../../shared/encoding";
import { ApiError, errors } from "../../shared/errors";
import type { StreamEvent } from "../../shared/messages";
import { errorMessage } from "../../shared/r2-errors";
import type { ChunkStagedResponse } from "../../shared/schemas";
import { warnStagingLeft } from "../../shared/staging";
import { authorizeUpload } from "../auth/authorize";
import type { Caller } from "../auth/middleware";
import { digestMismatch, type MeteredBody, meterBody } from "../integrity";
import { type Background, ingestChunkViaObject, objectOrLegacy, recordChunk } from "../streams/ingest";
import type { Bindings } from "./bindings";

export type ChunkBody = {
  seq: number;
  body: ReadableStream<Uint8Array> | null;
  size: number;
  sha256: string | null;
  final: boolean;
  maxChunkSize: number;
};

const committed = (seq: number) =>
  new ApiError(409, "chunk_committed", `chunk ${seq} is already written into the object and cannot change`);

/** Reads of the chunk's row to retry when it changed between our read and our write. */
const ACCEPT_ATTEMPTS = 3;

/**
 * One chunk of a stream, any size. A stream's Durable Object holds its chunks and writes the
 * parts (producer/streams/); streams opened before that keep the D1 path below. Either way,
 * re-sending a chunk is safe: the same bytes
 * are a no-op, different bytes replace a chunk that is still only staged, and a chunk whose
 * bytes are already in a part cannot change (409).
 *
 * Every attempt writes its bytes to a key of its own and becomes the chunk's copy only once
 * they are verified (length, digest) and recorded in D1, so a refused or failed request leaves
 * the accepted copy, the row and the final marker as they were.
 */
export async function ingestChunk(
  env: Bindings,
  caller: Caller,
  uploadId: string,
  chunk: ChunkBody,
  background: Background,
): Promise<ChunkStagedResponse> {
  // An empty chunk can only end a stream: it lets a device that only learns at the end of its
  // data that the stream is over close it without holding back its last chunk.
  if (chunk.size === 0 && !chunk.final) throw new ApiError(400, "empty_chunk", "only the final chunk may be empty");
  if (chunk.size > chunk.maxChunkSize)
    throw new ApiError(413, "chunk_too_large", `chunks are at most ${chunk.maxChunkSize} bytes`);
  const startedAt = Date.now();
  const legacy = await objectOrLegacy(env, caller, uploadId);
  if (legacy === null) return ingestChunkViaObject(env, caller, uploadId, chunk, background);
  const response = await ingestChunkViaD1(env, caller, uploadId, chunk);
  recordChunk(env, { uploadId, key: legacy.object_key }, "d1", chunk.size, startedAt, response);
  return response;
}

/**
 * A chunk of a stream opened before streams had objects (chunk_store 'd1'): staged in R2 under
 * the reserved prefix and recorded in D1; the consumer coalesces staged chunks into parts.
 */
async function ingestChunkViaD1(
  env: Bindings,
  caller: Caller,
  uploadId: string,
  chunk: ChunkBody,
): Promise<ChunkStagedResponse> {
  const { seq, size, final } = chunk;
  const context = await chunkContext(env.DB, uploadId, seq);
  const upload = checkChunk(caller, uploadId, seq, final, context);
  let earlier = context.chunk;
  const body = chunk.body ?? new ReadableStream<Uint8Array>();
  const metered = meterBody(body, size, chunk.sha256 !== null);
  if (earlier?.state === "coalesced") {
    // Its bytes are in a part already: only an identical re-send is acceptable.
    const md5 = await verifiedMd5(metered, chunk.sha256);
    if (md5 !== earlier.md5) throw committed(seq);
    return { sequence: seq, size: earlier.size, md5, final: upload.final_chunk === seq, duplicate: true };
  }

  const key = attemptKey(uploadId, seq);
  const staged = await stage(env, upload, key, seq, metered, chunk.sha256);
  let keep = false;
  try {
    for (let attempt = 1; ; attempt++) {
      // The same bytes again keep the accepted copy; new bytes switch to this attempt's copy.
      const same = earlier !== null && earlier.md5 === staged.etag && earlier.size === size;
      const recordedKey = same ? (earlier?.staged_key ?? null) : key;
      let accepted: boolean;
      try {
        accepted = await acceptChunk(
          env.DB,
          { uploadId, seq, size, md5: staged.etag, sha256: staged.sha256, key: recordedKey },
          earlier,
          final,
          Date.now(),
        );
      } catch (error) {
        // D1 may have recorded it before failing to answer: unless it surely did not, the copy
        // stays (until the upload ends and its staging area goes).
        keep = !same && (await recordedAs(env.DB, uploadId, seq, key));
        throw error;
      }
      if (accepted) {
        keep = !same;
        // The superseded copy goes only now that the new one is recorded.
        if (keep && earlier !== null) await deleteQuietly(env.BUCKET, upload, stagedKeyOf(earlier));
        break;
      }
      // Something changed since we read: decide again on what is there now.
      const now = await chunkContext(env.DB, uploadId, seq);
      checkChunk(caller, uploadId, seq, final, now);
      if (now.chunk?.state === "coalesced") {
        if (now.chunk.md5 !== staged.etag) throw committed(seq);
        return { sequence: seq, size, md5: staged.etag, final: now.upload?.final_chunk === seq, duplicate: true };
      }
      if (attempt >= ACCEPT_ATTEMPTS) throw errors.storageUnavailable("chunk");
      earlier = now.chunk;
    }
  } finally {
    if (!keep) await deleteQuietly(env.BUCKET, upload, key);
  }

  const event: StreamEvent = { type: "chunk.staged", uploadId };
  try {
    await env.UPLOAD_EVENTS.send(event, { contentType: "json" });
  } catch (error) {
    console.error(
      JSON.stringify({
        event: "enqueue_failed",
        uploadId,
        key: upload.object_key,
        seq,
        code: "enqueue_failed",
        error: errorMessage(error),
      }),
    );
    throw errors.enqueueFailed("chunk");
  }
  return {
    sequence: seq,
    size,
    md5: staged.etag,
    final: final || upload.final_chunk === seq,
    duplicate: earlier !== null && earlier.md5 === staged.etag,
  };
}

/** The checks that need the upload and what was received; returns the upload. */
function checkChunk(
  caller: Caller,
  uploadId: string,
  seq: number,
  final: boolean,
  { upload, highestSeq }: { upload: UploadRow | null; highestSeq: number },
): UploadRow {
  if (upload === null) throw errors.uploadNotFound(uploadId);
  authorizeUpload(caller, upload);
  if (upload.mode !== "stream") throw errors.notAStream();
  if (upload.state !== "open") throw errors.uploadNotOpen(upload.state, "takes no more chunks");
  if (upload.final_chunk !== null && seq > upload.final_chunk) {
    throw new ApiError(409, "beyond_final_chunk", `chunk ${upload.final_chunk} was marked final; ${seq} is beyond it`);
  }
  if (final && upload.final_chunk !== null && upload.final_chunk !== seq) {
    throw errors.finalConflict(`chunk ${upload.final_chunk} is already marked final`);
  }
  if (final && highestSeq > seq)
    throw errors.finalConflict(`chunk ${highestSeq} was received, so ${seq} cannot be final`);
  return upload;
}

/**
 * Writes this attempt's copy and checks its length and digest. Whatever goes wrong, the copy is
 * removed again (it was never anybody's accepted copy) and the request is refused.
 */
async function stage(
  env: Bindings,
  upload: UploadRow,
  key: string,
  seq: number,
  metered: MeteredBody,
  declared: string | null,
): Promise<{ etag: string; sha256: string | null }> {
  let staged: R2Object | null;
  let sha256: string | null;
  try {
    staged = await env.BUCKET.put(key, metered.stream);
    ({ sha256 } = await metered.done);
  } catch (error) {
    await deleteQuietly(env.BUCKET, upload, key);
    const lengthError = metered.lengthError(error);
    if (lengthError !== null) throw lengthError;
    console.error(
      JSON.stringify({
        event: "stage_chunk_failed",
        uploadId: upload.upload_id,
        key: upload.object_key,
        seq,
        code: "storage_unavailable",
        error: errorMessage(error),
      }),
    );
    throw errors.storageUnavailable("chunk");
  }
  // put() only answers null for failed onlyIf conditions, and this one has none.
  if (staged === null) throw new Error("R2 refused an unconditional put");
  if (declared !== null && sha256 !== declared) {
    await deleteQuietly(env.BUCKET, upload, key);
    throw digestMismatch("chunk");
  }
  return { etag: staged.etag, sha256 };
}

/** The MD5 of a body that is not stored, after the same length and digest checks as a stored one. */
async function verifiedMd5(metered: MeteredBody, declared: string | null): Promise<string> {
  const digest = new crypto.DigestStream("MD5");
  let sha256: string | null;
  try {
    await metered.stream.pipeTo(digest);
    ({ sha256 } = await metered.done);
  } catch (error) {
    throw metered.lengthError(error) ?? error;
  }
  if (declared !== null && sha256 !== declared) throw digestMismatch("chunk");
  return toHex(await digest.digest);
}

/** Whether the chunk's row names `key`; true when D1 cannot tell. */
async function recordedAs(db: D1Database, uploadId: string, seq: number, key: string): Promise<boolean> {
  try {
    const { chunk } = await chunkContext(db, uploadId, seq);
    return chunk?.staged_key === key;
  } catch {
    return true;
  }
}

/** A copy nobody needs any more; if it cannot go now, it goes with the staging area at the end. */
async function deleteQuietly(bucket: R2Bucket, upload: UploadRow, stagedKey: string): Promise<void> {
  await bucket.delete(stagedKey).catch((error: unknown) => warnStagingLeft(upload, error, stagedKey));
}
