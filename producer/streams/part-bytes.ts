import type { PartPlan } from "./types";

/** What one pull of a part's bytes hands over at most. */
const PULL_BYTES = 1024 * 1024;

/**
 * Parts up to this size leave the object as one byte array (one RPC answer, well under its
 * 32 MiB limit) rather than as a stream: pumping a stream between the object and the Worker, then
 * metering it into R2, cost ~80 ms of runtime CPU per 5 MiB part locally (docs/performance.md).
 */
export const WHOLE_PART_BYTES = 16 * 1024 * 1024;

type Span = Pick<PartPlan, "firstChunk" | "firstOffset" | "size">;
/** Where the part's next byte is: chunk `seq` at `offset` (a chunk can straddle two reads). */
type Cursor = { seq: number; offset: number };

/**
 * Fills `out` from the chunk rows at the cursor, in one ordered scan (a 5 MiB part of 4 KiB
 * chunks is 1,280 rows); the overflow rows are read only for the chunks over 1 MiB that have them.
 */
function fill(sql: SqlStorage, cursor: Cursor, out: Uint8Array): void {
  if (out.byteLength === 0) return;
  let filled = 0;
  const rows = sql.exec<{ seq: number; size: number; bytes: ArrayBuffer }>(
    "SELECT seq, size, bytes FROM chunks WHERE seq >= ? ORDER BY seq",
    cursor.seq,
  );
  for (const row of rows) {
    if (row.seq !== cursor.seq) break;
    const pieces = [new Uint8Array(row.bytes)];
    if (row.size > row.bytes.byteLength) {
      for (const more of sql.exec<{ bytes: ArrayBuffer }>(
        "SELECT bytes FROM overflow WHERE seq = ? ORDER BY idx",
        row.seq,
      )) {
        pieces.push(new Uint8Array(more.bytes));
      }
    }
    let start = 0;
    for (const piece of pieces) {
      const from = cursor.offset - start;
      start += piece.byteLength;
      if (from >= piece.byteLength || filled === out.byteLength) continue;
      const take = Math.min(out.byteLength - filled, piece.byteLength - from);
      out.set(piece.subarray(from, from + take), filled);
      filled += take;
      cursor.offset += take;
    }
    if (cursor.offset >= start) {
      cursor.seq++;
      cursor.offset = 0;
    }
    if (filled === out.byteLength) return;
  }
  throw new Error(`chunk ${cursor.seq} of a leased part is missing`);
}

/** A part's bytes, all at once (parts up to WHOLE_PART_BYTES). */
export function readPartWhole(sql: SqlStorage, plan: Span): Uint8Array {
  const out = new Uint8Array(plan.size);
  fill(sql, { seq: plan.firstChunk, offset: plan.firstOffset }, out);
  return out;
}

/**
 * A part's bytes as a stream, read from storage as it is pulled. Each pull hands over up to
 * PULL_BYTES however small the chunks are: every piece crossing to the Worker is a hop of its
 * own, and a 5 MiB part of 4 KiB chunks would otherwise be 1,280 of them.
 */
export function readPart(sql: SqlStorage, plan: Span): ReadableStream<Uint8Array> {
  const cursor: Cursor = { seq: plan.firstChunk, offset: plan.firstOffset };
  let left = plan.size;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left === 0) {
        controller.close();
        return;
      }
      const out = new Uint8Array(Math.min(left, PULL_BYTES));
      fill(sql, cursor, out);
      left -= out.byteLength;
      controller.enqueue(out);
    },
  });
}
