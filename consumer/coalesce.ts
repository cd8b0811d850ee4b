import { COMPLETION_POLICY } from "../shared/completion";
import { type ChunkRow, stagingKey } from "../shared/db/chunks";
import { commitPartStatements, contiguousChunks, releaseLease, type StreamCursor, takeLease } from "../shared/db/streams";
import { getUpload, type UploadRow } from "../shared/db/uploads";
import { errorMessage } from "../shared/r2-errors";

/**
 * - `ready`: every chunk through the final one is in parts; the upload can be completed.
 * - `more`: the budget ran out with whole parts still to write; continue in a new invocation.
 * - `idle`: nothing to do until more chunks arrive (or the upload is not an open stream).
 * - `busy`: another invocation holds the lease.
 */
export type CoalesceResult = "ready" | "more" | "idle" | "busy";

export type CoalesceBudget = { parts: number; chunkReads: number };

/** Per invocation: keeps R2 calls well under the Workers subrequest limit. */
export const DEFAULT_BUDGET: CoalesceBudget = { parts: 4, chunkReads: 400 };

const CHUNK_PAGE = 2000;

type Slice = { seq: number; md5: string; offset: number; length: number };

class ChunkChanged extends Error {}

/**
 * Turns a stream's staged chunks into R2 parts of exactly the upload's part size (the last may
 * be smaller), in sequence order, as soon as a contiguous run covers a whole part. One lease
 * holder at a time; each part is streamed from the staged objects into R2, never held whole in
 * memory. A crash between writing a part and recording it just writes the same part again.
 */
export async function coalesceStream(
  bindings: { DB: D1Database; BUCKET: R2Bucket },
  uploadId: string,
  now: number,
  budget: CoalesceBudget = DEFAULT_BUDGET,
): Promise<CoalesceResult> {
  const { DB: db, BUCKET: bucket } = bindings;
  const leaseId = crypto.randomUUID();
  // Coalescing ends in a completion, so its lease is the completion's.
  const upload = await takeLease(db, uploadId, leaseId, now, COMPLETION_POLICY.leaseMs);
  if (upload === null) {
    const row = await getUpload(db, uploadId);
    return row !== null && row.state === "open" && row.mode === "stream" ? "busy" : "idle";
  }
  try {
    return await coalesceHeld(db, bucket, upload, leaseId, budget);
  } finally {
    await releaseLease(db, uploadId, leaseId);
  }
}

async function coalesceHeld(
  db: D1Database,
  bucket: R2Bucket,
  upload: UploadRow,
  leaseId: string,
  budget: CoalesceBudget,
): Promise<CoalesceResult> {
  const partSize = upload.part_size;
  if (partSize === null) throw new Error(`stream ${upload.upload_id} has no part size`);
  if (upload.final_chunk !== null && upload.expected_parts !== null) return "ready";

  let cursor: StreamCursor = {
    nextChunk: upload.next_chunk,
    offset: upload.next_chunk_offset,
    nextPart: upload.next_part,
    committedBytes: upload.committed_bytes,
  };
  let run = await contiguousChunks(db, upload.upload_id, cursor.nextChunk, CHUNK_PAGE);
  let reads = 0;
  for (let parts = 0; ; parts++) {
    const available = run.reduce((sum, chunk) => sum + chunk.size, 0) - cursor.offset;
    const reachesFinal = upload.final_chunk !== null && run.at(-1)?.seq === upload.final_chunk;
    const length = available >= partSize ? partSize : reachesFinal ? available : 0;
    if (length === 0) {
      // Everything is in parts and only an empty final chunk is left: the stream is whole.
      return reachesFinal ? finishOnPartBoundary(db, upload, leaseId, cursor, run) : "idle";
    }
    if (parts >= budget.parts || reads >= budget.chunkReads) return "more";

    const { slices, next } = planPart(run, cursor, length);
    reads += slices.length;
    const etag = await writePart(bucket, upload, cursor.nextPart, slices, length);
    const isLast = reachesFinal && length === available;
    const moved = (
      await db.batch(
        commitPartStatements(db, {
        uploadId: upload.upload_id,
        leaseId,
        part: { number: cursor.nextPart, etag, size: length },
        touchedChunks: { from: cursor.nextChunk, through: slices.at(-1)?.seq ?? cursor.nextChunk },
        cursor: next,
          expectedParts: isLast ? cursor.nextPart : null,
          now: Date.now(),
        }),
      )
    ).at(-1);
    if ((moved?.meta.changes ?? 0) === 0) return "busy";

    const consumed = run.filter((chunk) => chunk.seq < next.nextChunk);
    await bucket.delete(consumed.map((chunk) => stagingKey(upload.upload_id, chunk.seq))).catch((error: unknown) => {
      // Left-overs are removed with the rest of the staging area when the upload ends.
      console.warn(JSON.stringify({ event: "staging_delete_failed", uploadId: upload.upload_id, error: errorMessage(error) }));
    });
    run = run.filter((chunk) => chunk.seq >= next.nextChunk);
    cursor = next;
    if (isLast) return "ready";
    if (run.length === 0) run = await contiguousChunks(db, upload.upload_id, cursor.nextChunk, CHUNK_PAGE);
  }
}

/** Moves the cursor past the empty final chunk and fixes the part count at the parts written. */
async function finishOnPartBoundary(
  db: D1Database,
  upload: UploadRow,
  leaseId: string,
  cursor: StreamCursor,
  run: ChunkRow[],
): Promise<CoalesceResult> {
  const final = run.at(-1)?.seq ?? cursor.nextChunk;
  const moved = (
    await db.batch(
      commitPartStatements(db, {
        uploadId: upload.upload_id,
        leaseId,
        part: null,
        touchedChunks: { from: cursor.nextChunk, through: final },
        cursor: { ...cursor, nextChunk: final + 1, offset: 0 },
        expectedParts: cursor.nextPart - 1,
        now: Date.now(),
      }),
    )
  ).at(-1);
  return (moved?.meta.changes ?? 0) === 0 ? "busy" : "ready";
}

/** Which byte ranges of which chunks make up the next part, and where the cursor ends up. */
function planPart(run: ChunkRow[], cursor: StreamCursor, length: number): { slices: Slice[]; next: StreamCursor } {
  const slices: Slice[] = [];
  let needed = length;
  let offset = cursor.offset;
  let nextChunk = cursor.nextChunk;
  for (const chunk of run) {
    if (needed === 0) break;
    const take = Math.min(chunk.size - offset, needed);
    slices.push({ seq: chunk.seq, md5: chunk.md5, offset, length: take });
    needed -= take;
    if (offset + take === chunk.size) {
      nextChunk = chunk.seq + 1;
      offset = 0;
    } else {
      offset += take;
    }
  }
  return {
    slices,
    next: {
      nextChunk,
      offset,
      nextPart: cursor.nextPart + 1,
      committedBytes: cursor.committedBytes + length,
    },
  };
}

/** Streams the slices, in order, into one R2 part of exactly `length` bytes. */
async function writePart(
  bucket: R2Bucket,
  upload: UploadRow,
  partNumber: number,
  slices: Slice[],
  length: number,
): Promise<string> {
  const { readable, writable } = new FixedLengthStream(length);
  const feed = async () => {
    try {
      for (const slice of slices) {
        if (slice.length === 0) continue;
        const object = await bucket.get(stagingKey(upload.upload_id, slice.seq), {
          range: { offset: slice.offset, length: slice.length },
          // A chunk re-sent with new bytes since we read D1: do not mix copies.
          onlyIf: { etagMatches: slice.md5 },
        });
        if (object === null || !("body" in object)) throw new ChunkChanged(`chunk ${slice.seq} changed or vanished`);
        await object.body.pipeTo(writable, { preventClose: true });
      }
      await writable.close();
    } catch (error) {
      await writable.abort(error).catch(() => undefined);
      throw error;
    }
  };
  const multipart = bucket.resumeMultipartUpload(upload.object_key, upload.r2_upload_id);
  const [part] = await Promise.all([multipart.uploadPart(partNumber, readable), feed()]);
  return part.etag;
}
