import { describe, expect, it } from "vitest";
import type { UploadStatus } from "../api";
import { chunkCells, partCells, timelineOf } from "./status-view";

const base: UploadStatus = {
  uploadId: "u1",
  key: "a/b.bin",
  api: "native",
  state: "open",
  partSize: 8,
  expectedParts: 5,
  receivedParts: 3,
  missingParts: ["2", "4"],
  bytesReceived: 24,
  contentType: null,
  metadata: {},
  staleAfterSeconds: 60,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:01:00.000Z",
  lastActivityAt: "2026-01-01T00:01:00.000Z",
  expiresAt: "2026-01-01T00:02:00.000Z",
  completedAt: null,
  object: null,
  failureReason: null,
  abortReason: null,
  mode: "parts",
  sha256: null,
  partDigests: {},
  stream: null,
};

describe("partCells", () => {
  it("marks the missing parts among the expected ones", () => {
    expect(partCells(base)).toEqual(["received", "missing", "received", "missing", "received"]);
  });

  it("counts up to the highest part seen when the part count is not known yet", () => {
    expect(partCells({ ...base, expectedParts: null, receivedParts: 2, missingParts: ["2"] })).toEqual([
      "received",
      "missing",
      "received",
    ]);
  });
});

describe("chunkCells", () => {
  it("tells committed, staged and missing chunks apart", () => {
    const stream = {
      chunksReceived: 4,
      finalChunk: 6,
      contiguousThrough: 3,
      committedThrough: 2,
      missingChunks: ["4", "6"],
      stagedBytes: 10,
      committedBytes: 20,
    };
    expect(chunkCells(stream)).toEqual(["committed", "committed", "staged", "missing", "staged", "missing"]);
  });
});

describe("timelineOf", () => {
  it("ends an aborted upload with its reason and an open one with its expiry", () => {
    const aborted = timelineOf({ ...base, state: "aborted", abortReason: "stale" });
    expect(aborted.map((event) => event.label)).toEqual(["Created", "Last activity", "Aborted"]);
    expect(aborted.at(-1)?.detail).toBe("stale");
    expect(timelineOf(base).at(-1)).toEqual({ label: "Expires if idle", time: base.expiresAt });
  });
});
