import { touchOpenStream } from "../../shared/db/streams";
import { getUpload, type UploadRow } from "../../shared/db/uploads";
import { ApiError, errors } from "../../shared/errors";
import { recordUpload } from "../../shared/metrics";
import type { ChunkStagedResponse } from "../../shared/schemas";
import { authorizeUpload } from "../auth/authorize";
import type { Caller } from "../auth/middleware";
import { bodyTooShort, digestMismatch, meterBody, readWhole } from "../integrity";
import type { Bindings } from "../services/bindings";
import { missingUpload } from "../services/gone";
import type { ChunkStream } from "./chunk-stream";
import { flushParts } from "./flush";
import { newStreamMeta } from "./plan";
import { hashBytes } from "./read-chunk";
import type { ReadChunk, StreamMeta } from "./types";

export type ChunkStreamStub = DurableObjectStub<ChunkStream>;

/** Work that goes on after the response (the execution context's waitUntil). */
export type Background = (work: Promise<unknown>) => void;

/** The Durable Object of one chunk stream, named by the upload id. */
export function chunkStreamStub(env: Pick<Bindings, "CHUNK_STREAMS">, uploadId: string): ChunkStreamStub {
  return env.CHUNK_STREAMS.getByName(uploadId);
}

export type ObjectChunk = {
  seq: number;
  body: ReadableStream<Uint8Array> | null;
  size: number;
  sha256: string | null;
  final: boolean;
};

/**
 * Chunks up to this size are read whole and hashed here and handed to the object as bytes: for
 * a small chunk one RPC argument costs less than a stream between the two, and the hashing runs
 * in the Worker (any number of them), not on the stream's one object. Larger ones stream.
 */
const INLINE_BYTES = 256 * 1024;

/** Streams this isolate has seen registered in their object: their chunks skip the D1 read. */
const registered = new Set<string>();

/**
 * Where a stream's chunks go: its Durable Object (null), or, for a stream opened before the
 * objects existed, the D1 chunk path (the row). A stream this isolate has seen costs nothing
 * here; otherwise the object is asked and, if it has never heard of the stream, D1 decides and
 * registers it. This is the only D1 read of the object path, once per stream and isolate.
 */
export async function objectOrLegacy(env: Bindings, caller: Caller, uploadId: string): Promise<UploadRow | null> {
  if (registered.has(uploadId)) return null;
  const stub = chunkStreamStub(env, uploadId);
  if ((await stub.describe()) !== null) {
    registered.add(uploadId);
    return null;
  }
  const row = await getUpload(env.DB, uploadId);
  if (row === null) throw await missingUpload(env.DB, caller, uploadId);
  authorizeUpload(caller, row);
  if (row.mode !== "stream") throw errors.notAStream();
  if (row.chunk_store === "d1") return row;
  if (row.state !== "open") throw errors.uploadNotOpen(row.state, "takes no more chunks");
  await stub.init(metaOf(row));
  registered.add(uploadId);
  return null;
}

/**
 * One chunk through the stream's object: stored there (one durable write, no D1 statement and no
 * queue message of its own); when it completed a part's worth of contiguous bytes, the part is
 * written and recorded in the background. D1 hears of the stream's activity once per half stale
 * window; if D1 says the upload is no longer open (the sweep took it), the object forgets it.
 */
export async function ingestChunkViaObject(
  env: Bindings,
  caller: Caller,
  uploadId: string,
  chunk: ObjectChunk,
  background: Background,
): Promise<ChunkStagedResponse> {
  const startedAt = Date.now();
  const stub = chunkStreamStub(env, uploadId);
  const metered = chunk.size <= INLINE_BYTES ? null : meterBody(chunk.body, chunk.size, false);
  let body: ReadableStream<Uint8Array> | ReadChunk;
  if (metered === null) {
    // Read and hashed here, so that the object only stores it (and a bad digest never reaches it).
    body = await hashBytes(await readWhole(chunk.body, chunk.size), chunk.sha256 !== null);
    if (chunk.sha256 !== null && body.sha256 !== chunk.sha256) throw digestMismatch("chunk");
  } else {
    body = metered.stream;
  }
  const result = await stub.accept({
    caller,
    seq: chunk.seq,
    final: chunk.final,
    sha256: chunk.sha256,
    body,
    now: Date.now(),
  });
  switch (result.kind) {
    case "unknown":
      registered.delete(uploadId);
      throw await endedStream(env.DB, caller, uploadId);
    case "refused":
      throw new ApiError(result.status, result.code, result.message, result.details);
    case "body_failed": {
      // Only a streamed body can fail in the object.
      await metered?.done.catch(() => undefined);
      const length = metered?.lengthError(new Error(result.message)) ?? null;
      if (length !== null) throw length;
      // A body that ended early reaches the object as a broken stream, whatever the reason.
      if (result.received < chunk.size) throw bodyTooShort(chunk.size);
      throw errors.storageUnavailable("chunk");
    }
  }
  if (result.touchD1 !== null) {
    if (!(await touchOpenStream(env.DB, uploadId, Date.now()))) {
      await stub.close();
      registered.delete(uploadId);
      throw await endedStream(env.DB, caller, uploadId);
    }
    await stub.touched(result.touchD1);
  }
  // The chunk is stored: its answer does not wait for the part it completed, which is written
  // after the response (and, should that stop, by the object's alarm).
  if (result.part !== null) background(flushParts(env, stub, { uploadId, key: result.key }, result.part));
  recordChunk(env, { uploadId, key: result.key }, "object", chunk.size, startedAt, result.response);
  return result.response;
}

/** A chunk's data point; its ms end with the answer (a part it completed is written after). */
export function recordChunk(
  env: Pick<Bindings, "METRICS">,
  upload: { uploadId: string; key: string },
  store: "object" | "d1",
  bytes: number,
  startedAt: number,
  response: ChunkStagedResponse,
): void {
  recordUpload(env, upload, {
    event: "chunk",
    store,
    bytes,
    ms: Date.now() - startedAt,
    seq: response.sequence,
    final: response.final,
    duplicate: response.duplicate,
  });
}

/** The refusal for a stream whose object holds nothing: D1 says what became of it. */
async function endedStream(db: D1Database, caller: Caller, uploadId: string): Promise<ApiError> {
  const row = await getUpload(db, uploadId);
  if (row === null) return missingUpload(db, caller, uploadId);
  return errors.uploadNotOpen(row.state === "open" ? "completing" : row.state, "takes no more chunks");
}

function metaOf(row: UploadRow): StreamMeta {
  if (row.part_size === null) throw new Error(`stream ${row.upload_id} has no part size`);
  return newStreamMeta({
    uploadId: row.upload_id,
    key: row.object_key,
    partSize: row.part_size,
    staleAfterSeconds: row.stale_after_seconds,
    d1ExpiresAt: row.expires_at,
  });
}
