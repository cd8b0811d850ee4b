import { chunkContext, discardStagedChunk, markFinalChunk, recordStagedChunk, stagingKey } from "../../shared/db/chunks";
import { ApiError, errors } from "../../shared/errors";
import { errorMessage } from "../../shared/r2-errors";
import type { ChunkStagedResponse, StreamEvent } from "../../shared/schemas";
import type { Caller } from "../auth/middleware";
import { authorizeUpload } from "../auth/authorize";
import { digestMismatch, meterBody } from "../integrity";
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

/**
 * One chunk of a stream: any size, staged in R2 under the reserved prefix and recorded in D1;
 * the consumer coalesces staged chunks into parts. Re-sending a chunk is safe: the same bytes
 * are a no-op, different bytes replace a chunk that is still only staged, and a chunk whose
 * bytes are already in a part cannot change (409).
 */
export async function ingestChunk(env: Bindings, caller: Caller, uploadId: string, chunk: ChunkBody): Promise<ChunkStagedResponse> {
  const { seq, size, final } = chunk;
  // An empty chunk can only end a stream: it lets a device that only learns at the end of its
  // data that the stream is over close it without holding back its last chunk.
  if (size === 0 && !final) throw new ApiError(400, "empty_chunk", "only the final chunk may be empty");
  if (size > chunk.maxChunkSize) throw new ApiError(413, "chunk_too_large", `chunks are at most ${chunk.maxChunkSize} bytes`);

  const { upload, chunk: earlier, highestSeq } = await chunkContext(env.DB, uploadId, seq);
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
  if (final && highestSeq > seq) throw errors.finalConflict(`chunk ${highestSeq} was received, so ${seq} cannot be final`);

  const body = chunk.body ?? new ReadableStream<Uint8Array>();
  if (earlier?.state === "coalesced") {
    // Its bytes are in a part already: only an identical re-send is acceptable.
    const md5 = await md5Hex(body);
    if (md5 !== earlier.md5) throw committed(seq);
    return { sequence: seq, size: earlier.size, md5, final: upload.final_chunk === seq, duplicate: true };
  }

  if (final && !(await markFinalChunk(env.DB, uploadId, seq))) {
    throw errors.finalConflict("another chunk was marked final, or a later chunk arrived, meanwhile");
  }
  const key = stagingKey(uploadId, seq);
  const metered = meterBody(body, size, chunk.sha256 !== null);
  let staged: R2Object | null;
  let sha256: string | null;
  try {
    staged = await env.BUCKET.put(key, metered.stream);
    ({ sha256 } = await metered.done);
  } catch (error) {
    const lengthError = metered.lengthError(error);
    if (lengthError !== null) throw lengthError;
    console.error(JSON.stringify({ event: "stage_chunk_failed", uploadId, key: upload.object_key, seq, error: errorMessage(error) }));
    throw errors.storageUnavailable("chunk");
  }
  // put() only answers null for failed onlyIf conditions, and this one has none.
  if (staged === null) throw new Error("R2 refused an unconditional put");
  if (chunk.sha256 !== null && sha256 !== chunk.sha256) {
    // The staged copy is now these bad bytes: remove it, so the chunk counts as missing.
    await discardStagedChunk(env.DB, env.BUCKET, uploadId, seq);
    throw digestMismatch("chunk");
  }
  if (!(await recordStagedChunk(env.DB, { uploadId, seq, size, md5: staged.etag, sha256 }, Date.now()))) {
    // Coalesced between our read and now: the staged copy we just wrote must not linger.
    await env.BUCKET.delete(key);
    throw committed(seq);
  }

  const event: StreamEvent = { type: "chunk.staged", uploadId };
  try {
    await env.UPLOAD_EVENTS.send(event, { contentType: "json" });
  } catch (error) {
    console.error(JSON.stringify({ event: "enqueue_failed", uploadId, key: upload.object_key, seq, error: errorMessage(error) }));
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

async function md5Hex(body: ReadableStream<Uint8Array>): Promise<string> {
  const digest = new crypto.DigestStream("MD5");
  await body.pipeTo(digest);
  return [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
