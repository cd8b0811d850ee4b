import type { PartPlan, StreamMeta } from "./types";

/** Chunks cursor..through are all in the object; `bytes` of them are not in a part yet. */
export type Run = { through: number; bytes: number };

/** Where the next part starts: the first chunk not wholly written, and how much of it is. */
export type Cursor = { nextChunk: number; nextOffset: number };

/** A chunk's size, or null when the object does not hold that chunk. */
export type SizeOf = (seq: number) => number | null;

/** What a stream's object knows of it when it is registered: nothing received, nothing written. */
export function newStreamMeta(
  stream: Pick<StreamMeta, "uploadId" | "key" | "partSize" | "staleAfterSeconds" | "d1ExpiresAt">,
): StreamMeta {
  return {
    ...stream,
    finalChunk: null,
    nextChunk: 1,
    nextOffset: 0,
    nextPart: 1,
    committedBytes: 0,
    state: "open",
  };
}

/**
 * The size of the next part to write, or null while none is ready. Parts are the stream's part
 * size, except the last, which takes what is left once the final chunk is contiguous (R2 wants
 * every part but the last the same size).
 */
export function nextPart(meta: StreamMeta, run: Run): { size: number; last: boolean } | null {
  const finalReached = meta.finalChunk !== null && run.through >= meta.finalChunk;
  if (run.bytes >= meta.partSize) return { size: meta.partSize, last: finalReached && run.bytes === meta.partSize };
  if (finalReached) return { size: run.bytes, last: true };
  return null;
}

/**
 * The cursor after a part of `plan.size` bytes from `cursor` is written. The last part also
 * takes the empty chunks up to the final one, so the cursor ends past the stream.
 */
export function advanceCursor(
  cursor: Cursor,
  plan: Pick<PartPlan, "size" | "last">,
  finalChunk: number | null,
  sizeOf: SizeOf,
): Cursor {
  let { nextChunk, nextOffset } = cursor;
  let left = plan.size;
  while (left > 0 || (plan.last && nextChunk <= (finalChunk ?? 0))) {
    const size = sizeOf(nextChunk);
    if (size === null) break;
    const take = Math.min(left, size - nextOffset);
    left -= take;
    if (nextOffset + take < size) return { nextChunk, nextOffset: nextOffset + take };
    nextChunk++;
    nextOffset = 0;
  }
  return { nextChunk, nextOffset };
}

/** The chunk that holds a part's last byte (a part's chunks cannot change once it is planned). */
export function lastChunkOf(plan: Pick<PartPlan, "firstChunk" | "firstOffset" | "size">, sizeOf: SizeOf): number {
  let seq = plan.firstChunk;
  let left = plan.size + plan.firstOffset;
  for (let size = sizeOf(seq); size !== null; size = sizeOf(++seq)) {
    left -= size;
    if (left <= 0) return seq;
  }
  return seq - 1;
}

/**
 * D1 keeps each stream's expiry for the sweep. It hears of activity once half a stale window
 * went by since it last did, not on every chunk: returns the new expiry to record, or null.
 */
export function expiryToRecord(meta: StreamMeta, now: number): number | null {
  const staleMs = meta.staleAfterSeconds * 1000;
  return meta.d1ExpiresAt - now < staleMs / 2 ? now + staleMs : null;
}
