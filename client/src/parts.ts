import { IngestError } from "./errors.js";

export const MiB = 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * MiB;
/** Parts an upload may have: the server gives each two R2 part numbers, of R2's 10,000. */
export const MAX_PARTS = 5_000;

export function partCount(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize));
}

/** Byte offsets [start, end) of part `partNumber` (1-based). */
export function partBounds(partNumber: number, size: number, partSize: number): { start: number; end: number } {
  const start = (partNumber - 1) * partSize;
  return { start, end: Math.min(size, start + partSize) };
}

/**
 * The part size to use: the caller's, checked against the 10,000-part limit, or the default
 * grown in whole MiB until the source fits (so a 200 GB file still uploads without options).
 */
export function choosePartSize(size: number | null, requested: number | undefined): number {
  if (requested !== undefined) {
    if (!Number.isSafeInteger(requested) || requested <= 0) {
      throw new IngestError("invalid_options", `partSize must be a positive whole number of bytes, not ${requested}`);
    }
    if (size !== null && partCount(size, requested) > MAX_PARTS) {
      throw new IngestError(
        "invalid_options",
        `${size} bytes in parts of ${requested} would take more than ${MAX_PARTS} parts; use a larger part size`,
      );
    }
    return requested;
  }
  if (size === null || partCount(size, DEFAULT_PART_SIZE) <= MAX_PARTS) return DEFAULT_PART_SIZE;
  return Math.ceil(size / MAX_PARTS / MiB) * MiB;
}

/** Expands the status' `missingParts` ("4-7", "9") into part numbers. */
export function parseRanges(ranges: readonly string[]): number[] {
  const numbers: number[] = [];
  for (const range of ranges) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(range.trim());
    if (match === null) throw new IngestError("bad_response", `unreadable part range "${range}"`);
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    for (let n = first; n <= last; n++) numbers.push(n);
  }
  return numbers;
}

/** The inverse of parseRanges, to keep resume state small for uploads of thousands of parts. */
export function formatRanges(numbers: Iterable<number>): string[] {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    const first = sorted[i] as number;
    let last = first;
    while (sorted[i + 1] === last + 1) last = sorted[++i] as number;
    ranges.push(first === last ? String(first) : `${first}-${last}`);
    i++;
  }
  return ranges;
}
