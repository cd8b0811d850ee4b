import { describe, expect, it } from "vitest";
import { advanceCursor, expiryToRecord, lastChunkOf, newStreamMeta, nextPart } from "../../producer/streams/plan";
import type { StreamMeta } from "../../producer/streams/types";

const KiB = 1024;
const PART = 5 * KiB;

function meta(overrides: Partial<StreamMeta> = {}): StreamMeta {
  return {
    ...newStreamMeta({ uploadId: "u", key: "k", partSize: PART, staleAfterSeconds: 60, d1ExpiresAt: 0 }),
    ...overrides,
  };
}

/** Chunk sizes by sequence number, from 1. */
const sizes =
  (...list: number[]) =>
  (seq: number) =>
    list[seq - 1] ?? null;

describe("planning a stream's parts", () => {
  it("waits until a part's worth is contiguous", () => {
    expect(nextPart(meta(), { through: 3, bytes: PART - 1 })).toBeNull();
    expect(nextPart(meta(), { through: 4, bytes: PART })).toEqual({ size: PART, last: false });
  });

  it("cuts a full part even when more than a part is contiguous", () => {
    expect(nextPart(meta(), { through: 9, bytes: 3 * PART + 7 })).toEqual({ size: PART, last: false });
  });

  it("writes what is left as the last part once the final chunk is contiguous", () => {
    expect(nextPart(meta({ finalChunk: 4 }), { through: 4, bytes: 100 })).toEqual({ size: 100, last: true });
    expect(nextPart(meta({ finalChunk: 4 }), { through: 3, bytes: 100 })).toBeNull();
  });

  it("marks an exact last part of full size as last, and a full part before more bytes as not", () => {
    expect(nextPart(meta({ finalChunk: 2 }), { through: 2, bytes: PART })).toEqual({ size: PART, last: true });
    expect(nextPart(meta({ finalChunk: 2 }), { through: 2, bytes: PART + 1 })).toEqual({ size: PART, last: false });
  });
});

describe("moving the cursor past a written part", () => {
  it("ends inside a chunk that straddles two parts", () => {
    const sizeOf = sizes(3 * KiB, 3 * KiB, 3 * KiB);
    const after = advanceCursor({ nextChunk: 1, nextOffset: 0 }, { size: PART, last: false }, null, sizeOf);
    expect(after).toEqual({ nextChunk: 2, nextOffset: 2 * KiB });
    expect(advanceCursor(after, { size: 4 * KiB, last: true }, 3, sizeOf)).toEqual({ nextChunk: 4, nextOffset: 0 });
  });

  it("moves past empty chunks up to the final one with the last part", () => {
    const sizeOf = sizes(KiB, 0, 0);
    expect(advanceCursor({ nextChunk: 1, nextOffset: 0 }, { size: KiB, last: true }, 3, sizeOf)).toEqual({
      nextChunk: 4,
      nextOffset: 0,
    });
  });

  it("stops at a chunk the object does not hold", () => {
    expect(advanceCursor({ nextChunk: 1, nextOffset: 0 }, { size: PART, last: false }, null, sizes(KiB))).toEqual({
      nextChunk: 2,
      nextOffset: 0,
    });
  });
});

describe("the chunk holding a part's last byte", () => {
  it("counts the offset into the first chunk", () => {
    const sizeOf = sizes(4 * KiB, 4 * KiB, 4 * KiB);
    expect(lastChunkOf({ firstChunk: 1, firstOffset: 0, size: 4 * KiB }, sizeOf)).toBe(1);
    expect(lastChunkOf({ firstChunk: 1, firstOffset: KiB, size: 4 * KiB }, sizeOf)).toBe(2);
    expect(lastChunkOf({ firstChunk: 2, firstOffset: 0, size: 8 * KiB + 1 }, sizeOf)).toBe(3);
  });
});

describe("telling D1 of a stream's activity", () => {
  it("records a new expiry once half the stale window went by, not before", () => {
    const now = 1_000_000;
    expect(expiryToRecord(meta({ d1ExpiresAt: now + 31_000 }), now)).toBeNull();
    expect(expiryToRecord(meta({ d1ExpiresAt: now + 29_000 }), now)).toBe(now + 60_000);
  });
});
