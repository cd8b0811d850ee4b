import type { PartPlan } from "./types";

/** What one pull of a part's bytes hands over at most. */
const PULL_BYTES = 1024 * 1024;

/**
 * A part's bytes as a stream, read from the object's chunk rows (and the overflow rows of chunks
 * over 1 MiB) as it is pulled. Each pull hands over up to PULL_BYTES however small the chunks
 * are: every piece crossing to the Worker is a hop of its own, and a 5 MiB part of 4 KiB chunks
 * would otherwise be 1,280 of them.
 */
export function readPart(sql: SqlStorage, plan: Pick<PartPlan, "firstChunk" | "firstOffset" | "size">) {
  let seq = plan.firstChunk;
  // Where in chunk `seq` the part's next byte is: a chunk can straddle two pulls.
  let offset = plan.firstOffset;
  let left = plan.size;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left === 0) {
        controller.close();
        return;
      }
      const out = new Uint8Array(Math.min(left, PULL_BYTES));
      let filled = 0;
      while (filled < out.byteLength) {
        const pieces = [
          ...sql.exec<{ bytes: ArrayBuffer }>("SELECT bytes FROM chunks WHERE seq = ?", seq),
          ...sql.exec<{ bytes: ArrayBuffer }>("SELECT bytes FROM overflow WHERE seq = ? ORDER BY idx", seq),
        ].map(({ bytes }) => new Uint8Array(bytes));
        if (pieces.length === 0) throw new Error(`chunk ${seq} of a leased part is missing`);
        let start = 0;
        for (const piece of pieces) {
          const from = offset - start;
          start += piece.byteLength;
          if (from >= piece.byteLength || filled === out.byteLength) continue;
          const take = Math.min(out.byteLength - filled, piece.byteLength - from);
          out.set(piece.subarray(from, from + take), filled);
          filled += take;
          offset += take;
        }
        if (offset >= start) {
          seq++;
          offset = 0;
        }
      }
      left -= filled;
      controller.enqueue(out);
    },
  });
}
