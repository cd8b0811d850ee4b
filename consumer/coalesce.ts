import { COMPLETION_POLICY } from "../shared/completion";
import { spanKey } from "../shared/db/chunks";
import {
  commitPartStatements,
  commitSpanStatements,
  contiguousSegments,
  releaseLease,
  type Segment,
  type StreamCursor,
  takeLease,
} from "../shared/db/streams";
import { getUpload, type UploadRow } from "../shared/db/uploads";
import { type MetricsBindings, recordUpload } from "../shared/metrics";
import { copySlices, type Slice, warnStagingLeft } from "../shared/staging";

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

/** Segments read from D1 at a time; a run longer than this is merged down before it is planned. */
const SEGMENT_PAGE = 2000;

/**
 * Turns a stream's staged chunks into R2 parts of exactly the upload's part size (the last may
 * be smaller), in sequence order, as soon as a contiguous run covers a whole part. One lease
 * holder at a time; each part is streamed from the staged objects into R2, never held whole in
 * memory. A crash between writing a part and recording it just writes the same part again.
 *
 * A part may be made of more chunks than one invocation may read (a million 1-byte chunks):
 * then runs of them are first copied into spans, one staged object each, a budget's worth per
 * invocation, until the part is made of few enough pieces to be written.
 */
export async function coalesceStream(
  bindings: { DB: D1Database; BUCKET: R2Bucket } & MetricsBindings,
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
    return await coalesceHeld(db, bucket, upload, leaseId, budget, bindings);
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
  metrics: MetricsBindings,
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
  let reads = 0;
  let parts = 0;
  for (;;) {
    const { run, truncated } = await contiguousSegments(db, upload.upload_id, cursor.nextChunk, SEGMENT_PAGE);
    const available = run.reduce((sum, segment) => sum + segment.size, 0) - cursor.offset;
    const reachesFinal = upload.final_chunk !== null && run.at(-1)?.last === upload.final_chunk;
    // null: more contiguous chunks than one page, together less than a part, the end not in sight.
    const length = available >= partSize ? partSize : reachesFinal ? available : truncated ? null : 0;
    if (length === 0) {
      // Everything is in parts and only an empty final chunk is left: the stream is whole.
      return reachesFinal ? finishOnPartBoundary(db, upload, leaseId, cursor, run) : "idle";
    }
    const pieces = length === null ? run : piecesOf(run, cursor.offset, length);
    if (length !== null && pieces.length <= budget.chunkReads - reads) {
      if (parts >= budget.parts) return "more";
      const isLast = reachesFinal && length === available;
      const startedAt = Date.now();
      const next = await writeAndCommitPart(db, bucket, upload, leaseId, cursor, pieces, length, isLast);
      if (next === null) return "busy";
      // A part of a stream whose chunks D1 holds: written here, not through the producer.
      recordUpload(
        metrics,
        { uploadId: upload.upload_id, key: upload.object_key },
        { event: "part", api: "stream", bytes: length, ms: Date.now() - startedAt, partNumber: cursor.nextPart },
      );
      reads += pieces.length;
      parts++;
      cursor = next;
      if (isLast) return "ready";
      continue;
    }
    // Too many pieces for what this invocation may still read: copy a run of them into one span,
    // in a fresh invocation if this one has read already.
    if (reads > 0) return "more";
    const window = mergeWindow(pieces, budget.chunkReads);
    if (!(await mergeSpan(db, bucket, upload, leaseId, window))) return "busy";
    reads += window.length;
  }
}

/** The first segments of the run that hold the next `length` bytes after `offset`. */
function piecesOf(run: Segment[], offset: number, length: number): Segment[] {
  const pieces: Segment[] = [];
  let covered = -offset;
  for (const segment of run) {
    if (covered >= length) break;
    pieces.push(segment);
    covered += segment.size;
  }
  return pieces;
}

/**
 * Which pieces to copy into one span: up to `max` in a row, starting at the first single chunk
 * (chunks are merged into spans first, spans into bigger ones only when no chunk is left), and
 * always at least two, so that every merge leaves fewer pieces.
 */
function mergeWindow(pieces: Segment[], max: number): Segment[] {
  const firstChunk = pieces.findIndex((piece) => !piece.span);
  let start = Math.max(firstChunk, 0);
  let end = Math.min(pieces.length, start + max);
  if (end - start < 2) {
    end = pieces.length;
    start = Math.max(0, end - max);
  }
  return pieces.slice(start, end);
}

/** Writes the next part from `pieces` and records it; the cursor after it, or null if the commit did not take. */
async function writeAndCommitPart(
  db: D1Database,
  bucket: R2Bucket,
  upload: UploadRow,
  leaseId: string,
  cursor: StreamCursor,
  pieces: Segment[],
  length: number,
  isLast: boolean,
): Promise<StreamCursor | null> {
  const { slices, next } = planPart(pieces, cursor, length);
  const multipart = bucket.resumeMultipartUpload(upload.object_key, upload.r2_upload_id);
  const { readable, writable } = new FixedLengthStream(length);
  const [part] = await Promise.all([
    multipart.uploadPart(cursor.nextPart, readable),
    copySlices(bucket, slices, writable),
  ]);
  const moved = (
    await db.batch(
      commitPartStatements(db, {
        uploadId: upload.upload_id,
        leaseId,
        part: { number: cursor.nextPart, etag: part.etag, size: length },
        read: pieces,
        touchedChunks: { from: cursor.nextChunk, through: pieces.at(-1)?.last ?? cursor.nextChunk },
        cursor: next,
        expectedParts: isLast ? cursor.nextPart : null,
        now: Date.now(),
      }),
    )
  ).at(-1);
  if ((moved?.meta.changes ?? 0) === 0) return null;
  await deleteQuietly(
    bucket,
    upload,
    pieces.filter((piece) => piece.last < next.nextChunk),
  );
  return next;
}

/** Copies `window` into one new staged object and records it as a span. False if the commit did not take. */
async function mergeSpan(
  db: D1Database,
  bucket: R2Bucket,
  upload: UploadRow,
  leaseId: string,
  window: Segment[],
): Promise<boolean> {
  const first = window[0]?.first ?? 0;
  const last = window.at(-1)?.last ?? first;
  const size = window.reduce((sum, piece) => sum + piece.size, 0);
  const key = spanKey(upload.upload_id, first, last);
  const { readable, writable } = new FixedLengthStream(size);
  const slices = window.map((piece) => ({
    key: piece.key,
    md5: piece.md5,
    offset: 0,
    length: piece.size,
    whole: true,
  }));
  const [object] = await Promise.all([bucket.put(key, readable), copySlices(bucket, slices, writable)]);
  // put() only answers null for failed onlyIf conditions, and this one has none.
  if (object === null) throw new Error("R2 refused an unconditional put");
  const span = { first, last, size, key, md5: object.etag };
  const moved = (
    await db.batch(
      commitSpanStatements(db, { uploadId: upload.upload_id, leaseId, span, read: window, now: Date.now() }),
    )
  ).at(-1);
  if ((moved?.meta.changes ?? 0) === 0) {
    await deleteQuietly(bucket, upload, [{ key }]);
    return false;
  }
  await deleteQuietly(bucket, upload, window);
  return true;
}

/** Left-overs are removed with the rest of the staging area when the upload ends. */
async function deleteQuietly(bucket: R2Bucket, upload: UploadRow, objects: { key: string }[]): Promise<void> {
  if (objects.length === 0) return;
  await bucket.delete(objects.map((object) => object.key)).catch((error: unknown) => warnStagingLeft(upload, error));
}

/** Moves the cursor past the empty final chunk and fixes the part count at the parts written. */
async function finishOnPartBoundary(
  db: D1Database,
  upload: UploadRow,
  leaseId: string,
  cursor: StreamCursor,
  run: Segment[],
): Promise<CoalesceResult> {
  const final = run.at(-1)?.last ?? cursor.nextChunk;
  const moved = (
    await db.batch(
      commitPartStatements(db, {
        uploadId: upload.upload_id,
        leaseId,
        part: null,
        read: run,
        touchedChunks: { from: cursor.nextChunk, through: final },
        cursor: { ...cursor, nextChunk: final + 1, offset: 0 },
        expectedParts: cursor.nextPart - 1,
        now: Date.now(),
      }),
    )
  ).at(-1);
  return (moved?.meta.changes ?? 0) === 0 ? "busy" : "ready";
}

/** Which byte ranges of which segments make up the next part, and where the cursor ends up. */
function planPart(pieces: Segment[], cursor: StreamCursor, length: number): { slices: Slice[]; next: StreamCursor } {
  const slices: Slice[] = [];
  let needed = length;
  let offset = cursor.offset;
  let nextChunk = cursor.nextChunk;
  for (const piece of pieces) {
    if (needed === 0) break;
    const take = Math.min(piece.size - offset, needed);
    slices.push({ key: piece.key, md5: piece.md5, offset, length: take, whole: take === piece.size });
    needed -= take;
    if (offset + take === piece.size) {
      nextChunk = piece.last + 1;
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
