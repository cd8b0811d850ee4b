import { parseRanges } from "../../../client/src/parts";
import type { UploadStatus } from "../api";

// What the upload page shows, derived from an upload's status: the grids' cells and the
// timeline. Pure, tested in status-view.test.ts.

export type CellState = "received" | "missing" | "committed" | "staged";

/**
 * One state per part, 1..n: n is the expected count when known, else the highest part seen
 * (received parts plus the gaps below them). Completed uploads have every part.
 */
export function partCells(status: UploadStatus): CellState[] {
  const missing = new Set(parseRanges(status.missingParts));
  const total =
    status.expectedParts ?? (status.state === "completed" ? status.receivedParts : status.receivedParts + missing.size);
  return Array.from({ length: total }, (_, index) => (missing.has(index + 1) ? "missing" : "received"));
}

/** Chunks of a stream: committed (inside a written part), staged (arrived, not yet in a part), or missing. */
export function chunkCells(stream: NonNullable<UploadStatus["stream"]>): CellState[] {
  const missing = new Set(parseRanges(stream.missingChunks));
  const total = stream.finalChunk ?? stream.chunksReceived + missing.size;
  return Array.from({ length: total }, (_, index) => {
    const seq = index + 1;
    if (missing.has(seq)) return "missing";
    return seq <= stream.committedThrough ? "committed" : "staged";
  });
}

export type TimelineEvent = { label: string; time: string | null; detail?: string };

/** What happened to the upload, in order: created, last activity, and how it ended, if it has. */
export function timelineOf(status: UploadStatus): TimelineEvent[] {
  const events: TimelineEvent[] = [{ label: "Created", time: status.createdAt }];
  if (status.lastActivityAt !== status.createdAt) events.push({ label: "Last activity", time: status.lastActivityAt });
  if (status.state === "completing") events.push({ label: "Completing", time: status.updatedAt });
  if (status.state === "completed") events.push({ label: "Completed", time: status.completedAt ?? status.updatedAt });
  if (status.state === "aborted") {
    events.push({ label: "Aborted", time: status.updatedAt, detail: status.abortReason ?? undefined });
  }
  if (status.state === "failed") {
    events.push({ label: "Failed", time: status.updatedAt, detail: status.failureReason ?? undefined });
  }
  if ((status.state === "open" || status.state === "completing") && status.expiresAt !== null) {
    events.push({ label: "Expires if idle", time: status.expiresAt });
  }
  return events;
}
