/**
 * Data points for Workers Analytics Engine (the optional METRICS binding of both Workers).
 *
 * One layout for every event, so that one SQL query can read any of them (docs/operations.md,
 * "Metrics", has the table and ready queries):
 * - index1: the upload id (AE samples per index, so an upload's points are kept or dropped
 *   together); "sweep" for cron runs
 * - blob1: the event; blob2: upload id; blob3: object key; blob4: api, chunk store or reason
 * - double1: bytes; double2: milliseconds; double3 onwards: per event (see `Point`)
 *
 * Metrics never decide anything: without the binding nothing is written, and a write that
 * throws (a malformed point, a limit) is dropped, never thrown into the request or the batch.
 */

export type MetricsBindings = { METRICS?: AnalyticsEngineDataset };

/** The upload a point is about. */
export type Upload = { uploadId: string; key: string };

/**
 * Each event's doubles after bytes (double1) and ms (double2), in order. For the three ways an
 * upload ends, ms is its last part (its last activity) to the end, and double4 its whole age.
 */
export type Point =
  | { event: "part"; api: string; bytes: number; ms: number; partNumber: number }
  | { event: "chunk"; store: string; bytes: number; ms: number; seq: number; final: boolean; duplicate: boolean }
  | {
      event: "completed" | "failed" | "aborted";
      /** completed: the upload's api; failed and aborted: the reason's code. */
      detail: string;
      bytes: number;
      ms: number;
      parts: number;
      ageMs: number;
      attempts: number;
    };

export type SweepPoint = {
  ms: number;
  staleAborted: number;
  r2AbortsConfirmed: number;
  r2AbortsPending: number;
  completionsRetried: number;
  streamsAdvanced: number;
  failedPhases: number;
  /** Rows retention deleted in the run: details, upload rows, tombstones, dead letters. */
  prunedRows: number;
};

/** Analytics Engine takes at most this many data points per Worker invocation. */
export const POINTS_PER_INVOCATION = 250;

/** blob4 of part and completed points: how the bytes came ("stream" for chunk streams). */
export function apiOf(upload: { api: string; mode: string }): string {
  return upload.mode === "stream" ? "stream" : upload.api;
}

export function recordUpload(bindings: MetricsBindings, upload: Upload, point: Point): void {
  const [detail, extra] = split(point);
  write(bindings.METRICS, {
    indexes: [upload.uploadId],
    blobs: [point.event, upload.uploadId, upload.key, detail],
    doubles: [point.bytes, Math.max(0, point.ms), ...extra],
  });
}

/** An aborted upload: no parts at hand, so no bytes or part count; ms is its idle time. */
export function recordAborted(
  bindings: MetricsBindings,
  row: { upload_id: string; object_key: string; last_activity_at: number; created_at: number },
  reason: string,
  now: number,
): void {
  recordUpload(
    bindings,
    { uploadId: row.upload_id, key: row.object_key },
    {
      event: "aborted",
      detail: reason,
      bytes: 0,
      ms: now - row.last_activity_at,
      parts: 0,
      ageMs: now - row.created_at,
      attempts: 0,
    },
  );
}

export function recordSweep(bindings: MetricsBindings, point: SweepPoint): void {
  write(bindings.METRICS, {
    indexes: ["sweep"],
    blobs: ["sweep", "", "", ""],
    doubles: [
      0,
      point.ms,
      point.staleAborted,
      point.r2AbortsConfirmed,
      point.r2AbortsPending,
      point.completionsRetried,
      point.streamsAdvanced,
      point.failedPhases,
      point.prunedRows,
    ],
  });
}

function split(point: Point): [string, number[]] {
  switch (point.event) {
    case "part":
      return [point.api, [point.partNumber]];
    case "chunk":
      return [point.store, [point.seq, point.final ? 1 : 0, point.duplicate ? 1 : 0]];
    default:
      return [point.detail, [point.parts, Math.max(0, point.ageMs), point.attempts]];
  }
}

function write(dataset: AnalyticsEngineDataset | undefined, point: AnalyticsEngineDataPoint): void {
  if (dataset === undefined) return;
  try {
    dataset.writeDataPoint(point);
  } catch {
    // A metric is not worth a failed request or a redelivered batch.
  }
}

/**
 * The bindings with METRICS limited to what one invocation may write, for handlers that can
 * produce more points than AE takes (a cron run that aborts and completes hundreds of uploads):
 * points beyond the limit are dropped, except the sweep's own, which the cron always writes.
 */
export function withPointBudget<T extends MetricsBindings>(bindings: T, limit = POINTS_PER_INVOCATION - 1): T {
  const dataset = bindings.METRICS;
  if (dataset === undefined) return bindings;
  let written = 0;
  const budgeted: AnalyticsEngineDataset = {
    writeDataPoint(point) {
      if (point?.blobs?.[0] !== "sweep" && written++ >= limit) return;
      dataset.writeDataPoint(point);
    },
  };
  return { ...bindings, METRICS: budgeted };
}
