import { Hono } from "hono";
import {
  chunkContext,
  discardStagedChunk,
  markFinalChunk,
  recordStagedChunk,
  stagingKey,
} from "../../shared/db/chunks";
import { ApiError } from "../../shared/errors";
import { errorMessage } from "../../shared/r2-errors";
import { ChunkSequence, type StreamEvent, UploadId } from "../../shared/schemas";
import { authenticate, authorizeUpload, authorizeUploadId } from "../auth/access";
import { type AppEnv, config } from "../context";
import { finalMarker } from "../final-marker";
import { declaredLength } from "../ingest";
import { declaredSha256, digestMismatch, meterBody } from "../integrity";
import { parseInput } from "../validation";

export const chunks = new Hono<AppEnv>();

/**
 * One chunk of a stream: any size, staged in R2 under the reserved prefix and recorded in D1;
 * the consumer coalesces staged chunks into parts. Re-sending a chunk is safe: the same bytes
 * are a no-op, different bytes replace a chunk that is still only staged, and a chunk whose
 * bytes are already in a part cannot change (409).
 */
chunks.put("/:uploadId/chunks/:seq", async (c) => {
  const caller = await authenticate(c);
  const uploadId = parseInput(UploadId, c.req.param("uploadId"), "upload id");
  authorizeUploadId(caller, uploadId);
  const seq = parseInput(ChunkSequence, c.req.param("seq"), "chunk sequence");
  const final = finalMarker(c.req.query("final"));
  const size = declaredLength(c.req.raw);
  const expectedSha256 = declaredSha256(c.req.raw);
  // An empty chunk can only end a stream: it lets a device that only learns at the end of its
  // data that the stream is over close it without holding back its last chunk.
  if (size === 0 && !final) throw new ApiError(400, "empty_chunk", "only the final chunk may be empty");
  const { maxPartSize } = config(c.env);
  if (size > maxPartSize) throw new ApiError(413, "chunk_too_large", `chunks are at most ${maxPartSize} bytes`);

  const { upload, chunk, highestSeq } = await chunkContext(c.env.DB, uploadId, seq);
  if (upload === null) throw new ApiError(404, "upload_not_found", `no upload with id ${uploadId}`);
  authorizeUpload(caller, upload);
  if (upload.mode !== "stream") {
    throw new ApiError(409, "not_a_stream", "this upload takes parts, not chunks: create it with \"mode\": \"stream\"");
  }
  if (upload.state !== "open") {
    throw new ApiError(409, "upload_not_open", `the upload is ${upload.state} and takes no more chunks`, {
      state: upload.state,
    });
  }
  if (upload.final_chunk !== null && seq > upload.final_chunk) {
    throw new ApiError(409, "beyond_final_chunk", `chunk ${upload.final_chunk} was marked final; ${seq} is beyond it`);
  }
  if (final && upload.final_chunk !== null && upload.final_chunk !== seq) {
    throw new ApiError(409, "final_conflict", `chunk ${upload.final_chunk} is already marked final`);
  }
  if (final && highestSeq > seq) {
    throw new ApiError(409, "final_conflict", `chunk ${highestSeq} was received, so ${seq} cannot be final`);
  }

  const body = c.req.raw.body ?? new ReadableStream<Uint8Array>();
  if (chunk?.state === "coalesced") {
    // Its bytes are in a part already: only an identical re-send is acceptable.
    const md5 = await md5Hex(body);
    if (md5 !== chunk.md5) {
      throw new ApiError(409, "chunk_committed", `chunk ${seq} is already written into the object and cannot change`);
    }
    return c.json({ sequence: seq, size: chunk.size, md5, final: upload.final_chunk === seq, duplicate: true });
  }

  if (final && !(await markFinalChunk(c.env.DB, uploadId, seq))) {
    throw new ApiError(409, "final_conflict", "another chunk was marked final, or a later chunk arrived, meanwhile");
  }
  const key = stagingKey(uploadId, seq);
  const metered = meterBody(body, size, expectedSha256 !== null);
  let staged: R2Object | null;
  let sha256: string | null;
  try {
    staged = await c.env.BUCKET.put(key, metered.stream);
    ({ sha256 } = await metered.done);
  } catch (error) {
    const lengthError = metered.lengthError(error);
    if (lengthError !== null) throw lengthError;
    console.error(JSON.stringify({ event: "stage_chunk_failed", uploadId, seq, error: errorMessage(error) }));
    throw new ApiError(503, "storage_unavailable", "storage did not accept the chunk; send it again", undefined, {
      "Retry-After": "1",
    });
  }
  // put() only answers null for failed onlyIf conditions, and this one has none.
  if (staged === null) throw new Error("R2 refused an unconditional put");
  if (expectedSha256 !== null && sha256 !== expectedSha256) {
    // The staged copy is now these bad bytes: remove it, so the chunk counts as missing.
    await discardStagedChunk(c.env.DB, c.env.BUCKET, uploadId, seq);
    throw digestMismatch("chunk");
  }
  if (!(await recordStagedChunk(c.env.DB, { uploadId, seq, size, md5: staged.etag, sha256 }, Date.now()))) {
    // Coalesced between our read and now: the staged copy we just wrote must not linger.
    await c.env.BUCKET.delete(key);
    throw new ApiError(409, "chunk_committed", `chunk ${seq} is already written into the object and cannot change`);
  }

  const event: StreamEvent = { type: "chunk.staged", uploadId };
  try {
    await c.env.UPLOAD_EVENTS.send(event, { contentType: "json" });
  } catch (error) {
    console.error(JSON.stringify({ event: "enqueue_failed", uploadId, seq, error: errorMessage(error) }));
    throw new ApiError(503, "enqueue_failed", "the chunk was stored but not queued for coalescing; send it again", undefined, {
      "Retry-After": "1",
    });
  }
  return c.json({
    sequence: seq,
    size,
    md5: staged.etag,
    final: final || upload.final_chunk === seq,
    duplicate: chunk !== null && chunk.md5 === staged.etag,
  });
});

async function md5Hex(body: ReadableStream<Uint8Array>): Promise<string> {
  const digest = new crypto.DigestStream("MD5");
  await body.pipeTo(digest);
  return [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
